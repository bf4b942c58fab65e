#!/usr/bin/env python3
"""A Kubernetes API emulator for failover-agent's integration tests.

Built on kmock's `KubernetesEmulator` (PyPI `kmock`, version 0.8): kmock provides the HTTP
server, request parsing, discovery documents and the in-memory object store with its version
history; this file adds what a kube-rs client needs from a real API server (resourceVersion,
uid, list/watch semantics, PUT, patch types, status subresource, selectors). See README.md.

    python3 tests/k8s/emulator.py --port 0 --ready-file /tmp/x.port

prints `READY <port>` on stdout once it serves on 127.0.0.1:<port>, and runs until SIGTERM,
SIGINT, or (with --exit-on-stdin-eof) until its stdin closes.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import copy
import dataclasses
import datetime
import json
import os
import pathlib
import random
import re
import signal
import string
import subprocess
import sys
import threading
import uuid
from typing import Any, Callable, Iterable


@dataclasses.dataclass(frozen=True)
class Res:
    """One served resource. `group=""` is the core group (/api/v1)."""
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has a /status subresource (status is then ignored on create and main-resource writes)
    crd: bool = False  # custom-resource rules: metadata.generation, PUT must carry metadata.resourceVersion
    shortnames: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


# Built-in resources the agent reads or writes.
RESOURCES: list[Res] = [
    Res("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Res("coordination.k8s.io", "v1", "leases", "Lease"),
    Res("", "v1", "events", "Event", shortnames=("ev",)),
    Res("events.k8s.io", "v1", "events", "Event", shortnames=("ev",)),
    Res("", "v1", "services", "Service", status=True, shortnames=("svc",)),
    Res("", "v1", "configmaps", "ConfigMap", shortnames=("cm",)),
    Res("networking.k8s.io", "v1", "ingresses", "Ingress", status=True, shortnames=("ing",)),
    # The agent's own DaemonSet, whose env the workstation commands read (--cluster).
    Res("apps", "v1", "daemonsets", "DaemonSet", status=True, shortnames=("ds",)),
]

# Custom resources. Add a line here (or pass --resource at run time) to serve another one.
CUSTOM_RESOURCES: list[Res] = [
    Res("failover-agent.io", "v1alpha1", "apphealths", "AppHealth", status=True, crd=True, shortnames=("ah",)),
    Res("failover-agent.io", "v1alpha1", "probereports", "ProbeReport", crd=True),
    Res("failover-agent.io", "v1alpha1", "probeassignments", "ProbeAssignment", crd=True),
    # The AWS Load Balancer Controller's binding of a Service to a target group.
    Res("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding", crd=True),
]

HERE = pathlib.Path(__file__).resolve().parent
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}


def _bootstrap_kmock() -> None:
    """Re-exec under a Python that has kmock if this one has not (so plain `python3` works)."""
    modules = ("kmock", "aiohttp", "jsonpatch", "jsonpointer")  # what build_emulator_class() imports
    imports = "import " + ", ".join(modules)
    try:
        for module in modules:
            __import__(module)
        return
    except ImportError as e:
        missing = e.name or str(e)
    if not os.environ.get("K8S_EMULATOR_REEXEC"):
        for candidate in (os.environ.get("KMOCK_PYTHON"), str(HERE.parent.parent / ".venv/bin/python3"),
                          str(HERE / ".venv/bin/python3"), "/tmp/kvenv/bin/python3"):
            if candidate and os.access(candidate, os.X_OK) and subprocess.run(
                    [candidate, "-c", imports], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                os.environ["K8S_EMULATOR_REEXEC"] = "1"
                os.execv(candidate, [candidate, str(pathlib.Path(__file__).resolve()), *sys.argv[1:]])
    # One line, for the Rust fixture (tests/it/cluster.rs) to show; exit 3 as --check documents.
    sys.stderr.write(
        f"tests/k8s/emulator.py: python3 cannot import {missing}: run scripts/test "
        "(or .venv/bin/pip install -r .ci/requirements.txt and put .venv/bin first on PATH, "
        "or point KMOCK_PYTHON at a Python that has kmock)\n"
    )
    sys.exit(3)


# ---------------------------------------------------------------------------------------------
# Small pure helpers.

def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also used, approximately, for strategic-merge and apply)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def obj_key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _split_top_level(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_LKEY = r"[A-Za-z0-9_./-]+"


def parse_label_selector(s: str) -> Callable[[dict], bool]:
    reqs: list[Callable[[dict], bool]] = []
    for part in _split_top_level(s or ""):
        if m := re.fullmatch(rf"({_LKEY})\s+(in|notin)\s*\(([^)]*)\)", part):
            key, op, vals = m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}
            if op == "in":
                reqs.append(lambda l, k=key, vs=vals: k in l and l[k] in vs)
            else:
                reqs.append(lambda l, k=key, vs=vals: k not in l or l[k] not in vs)
        elif m := re.fullmatch(rf"!\s*({_LKEY})", part):
            reqs.append(lambda l, k=m[1]: k not in l)
        elif m := re.fullmatch(rf"({_LKEY})\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)", part):
            key, op, val = m[1], m[2], m[3]
            if op == "!=":
                reqs.append(lambda l, k=key, v=val: l.get(k) != v)
            else:
                reqs.append(lambda l, k=key, v=val: l.get(k) == v)
        elif m := re.fullmatch(rf"({_LKEY})", part):
            reqs.append(lambda l, k=m[1]: k in l)
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r} in labelSelector {s!r}")
    return lambda obj: all(r((obj.get("metadata") or {}).get("labels") or {}) for r in reqs)


def _field_value(obj: dict, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def parse_field_selector(s: str) -> Callable[[dict], bool]:
    reqs: list[Callable[[dict], bool]] = []
    for part in _split_top_level(s or ""):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        path, op, val = m[1], m[2], m[3].strip()
        if op == "!=":
            reqs.append(lambda o, p=path, v=val: _field_value(o, p) != v)
        else:
            reqs.append(lambda o, p=path, v=val: _field_value(o, p) == v)
    return lambda obj: all(r(obj) for r in reqs)


class ApiError(Exception):
    """Rendered as a Kubernetes `Status` with the given HTTP code and reason."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def parse_resource_spec(spec: str) -> Res:
    """`group/version/plural=Kind[,cluster][,status][,crd|,nocrd]`; core: `v1/plural=Kind`.

    Groups with a dot that are not *.k8s.io count as custom resources unless `nocrd` is given.
    """
    path, _, rest = spec.partition("=")
    flags = rest.split(",")
    kind, flags = flags[0], set(flags[1:])
    parts = path.strip("/").split("/")
    if len(parts) == 2:
        group, version, plural = "", parts[0], parts[1]
    elif len(parts) == 3:
        group, version, plural = parts
    else:
        raise SystemExit(f"--resource {spec!r}: expected group/version/plural=Kind[,cluster][,status][,crd]")
    if not kind:
        raise SystemExit(f"--resource {spec!r}: missing =Kind")
    builtin = group == "" or "." not in group or group.endswith(".k8s.io")
    return Res(group, version, plural, kind, namespaced="cluster" not in flags, status="status" in flags,
               crd="crd" in flags or (not builtin and "nocrd" not in flags))


# ---------------------------------------------------------------------------------------------
# The emulator: kmock.KubernetesEmulator + the semantics kube-rs relies on.

def header(request, name: str) -> str:
    """A request header, case-insensitively (kmock's `Request.headers` is a plain dict)."""
    raw = request._raw_request
    return (raw.headers.get(name) if raw is not None else None) or ""


def build_emulator_class():  # defined lazily: kmock is only importable after _bootstrap_kmock()
    import aiohttp.web
    import jsonpatch
    import jsonpointer
    import kmock

    class Emulator(kmock.KubernetesEmulator):
        """kmock's emulator, with kmock's stateful write/read handlers replaced for resource URLs.

        Discovery (/, /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>, /version), the HTTP server,
        request parsing and the object store (`self.objects`, with per-object history) are kmock's.
        """

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self.specs: dict[tuple[str, str, str], Res] = {}
            self.by_kind: dict[tuple[str, str], Res] = {}
            self.rv = 0  # the global resourceVersion counter; every write takes the next value
            self.log: list[tuple] = []  # (rv, Res, namespace, type, object, previous object)
            self.log_rvs: list[int] = []
            self.compacted_rv = 0  # events with rv <= this are gone: older watches get 410 Expired
            self.history_limit = 100_000
            self.bookmark_interval = 5.0
            self.changed = asyncio.Event()
            self.epoch = 0  # bumped to end all open watches
            self.stopping = False
            self.watches: dict[int, dict] = {}
            self.verbose = False
            self.writes: list[dict] = []  # every write request to a resource, in the order handled
            self.write_seq = 0
            self.watch_log: list[dict] = []  # every watch opened, with what it sent: /_emulator/watch-log
            self.watch_seq = 0
            # Plain non-Kubernetes endpoints via kmock's own DSL.
            for path in ("/healthz", "/livez", "/readyz"):
                self[f"get {path}"] << b"ok"

        def register(self, res: Res) -> None:
            self.specs[(res.group, res.version, res.plural)] = res
            self.by_kind[(res.api_version, res.kind)] = res
            self.resources[kmock.resource(res.group, res.version, res.plural)] = kmock.ResourceInfo(
                kind=res.kind, singular=res.kind.lower(), namespaced=res.namespaced, verbs=VERBS,
                shortnames=res.shortnames, subresources={"status"} if res.status else set())

        # kmock's /api lacks serverAddressByClientCIDRs, which k8s-openapi's APIVersions requires.
        async def _serve_api(self, request):
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.host + ":" + str(request.url.port)}]}

        # kmock's APIResourceList says groupVersion "/v1" for the core group and gives
        # subresources the verbs of their parent resource.
        async def _serve_version(self, request):
            doc = await super()._serve_version(request)
            doc["groupVersion"] = doc["groupVersion"].lstrip("/")
            for entry in doc["resources"]:
                if "/" in entry["name"]:
                    entry["verbs"] = ["get", "patch", "update"]
            doc["resources"].sort(key=lambda entry: entry["name"])
            return doc

        # ----- request entry point ------------------------------------------------------------

        async def _handle(self, request):
            if len(self._requests) > 2000:  # kmock records every request; keep memory bounded
                del self._requests[:1000]
            try:
                if request.url.path.startswith("/_emulator/"):
                    response = await self.control(request)
                elif request.resource is None or request.resource.plural is None:
                    response = await kmock.RawHandler._handle(self, request)  # discovery & DSL routes
                else:
                    response = await self.serve_resource(request)
            except ApiError as e:
                response = aiohttp.web.json_response(e.status(), status=e.code)
            method = request.method.value
            if method not in ("GET", "HEAD") and not request.url.path.startswith("/_emulator/"):
                self.record_write(request, method, response.status)
            if self.verbose:
                sys.stderr.write(f"k8s-emulator: {request.method.value} {request.url.path_qs} -> {response.status}\n")
                sys.stderr.flush()
            return response

        def record_write(self, request, method: str, status: int) -> None:
            """Keeps who asked for a write and what came of it: `/_emulator/writes`."""
            raw = request._raw_request
            self.write_seq += 1
            self.writes.append({"seq": self.write_seq, "rv": str(self.rv), "method": method,
                                "path": request.url.path, "status": status,
                                "peer": raw.remote if raw is not None else None})
            if len(self.writes) > 20000:
                del self.writes[:10000]

        async def serve_resource(self, request):
            r = request.resource
            res = self.specs.get((r.group, r.version, r.plural))
            if res is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if not res.namespaced and request.namespace is not None:
                raise ApiError(404, "NotFound", f"{res.plural} is cluster-scoped")
            if res.namespaced and request.name is not None and request.namespace is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if request.subresource not in (None, "status") or (request.subresource == "status" and not res.status):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            method, params, name = request.method.value, request.params, request.name
            if method == "GET" and params.get("watch") in ("true", "1"):
                return await self.watch(request, res)
            if method == "GET":
                if name is None:
                    return self.reply(request, self.list(request, res))
                return self.reply(request, self.get_current(res, request.namespace, name, required=True))
            if method == "POST" and name is None:
                return self.reply(request, self.create(request, res), 201)
            if method == "PUT" and name is not None:
                return self.reply(request, self.replace(request, res))
            if method == "PATCH" and name is not None:
                obj, created = self.patch(request, res)
                return self.reply(request, obj, 201 if created else 200)
            if method == "DELETE":
                if name is None:
                    return self.reply(request, self.delete_collection(request, res))
                return self.reply(request, self.delete(request, res))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {request.url.path}")

        def reply(self, request, body: dict, status: int = 200):
            return aiohttp.web.json_response(self.shape(request, body), status=status)

        @staticmethod
        def shape(request, body: dict) -> dict:
            """Honour `Accept: ...;as=PartialObjectMetadata[List]` (kube-rs metadata_watcher & co)."""
            if "as=PartialObjectMetadata" not in header(request, "Accept") or body.get("kind") == "Status":
                return body
            def partial(o: dict) -> dict:
                return {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o.get("metadata", {})}
            if "items" in body:
                return {**body, "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                        "items": [partial(o) for o in body["items"]]}
            return partial(body)

        # ----- the store (kmock's ObjectsArray) ------------------------------------------------

        def key(self, res: Res, namespace: str | None, name: str):
            return (kmock.resource(res.group, res.version, res.plural), namespace if res.namespaced else None, name)

        def get_current(self, res: Res, namespace: str | None, name: str, required: bool = False) -> dict | None:
            k = self.key(res, namespace, name)
            if k in self.objects and not self.objects[k].deleted:
                return self.objects[k].raw
            if required:
                raise ApiError(404, "NotFound", f'{res.plural}.{res.group or "core"} "{name}" not found',
                               {"name": name, "group": res.group, "kind": res.plural})
            return None

        def current_objects(self, res: Res, namespace: str | None) -> list[dict]:
            kres = kmock.resource(res.group, res.version, res.plural)
            out = [o.raw for (r, ns, _), o in self.objects.items()
                   if r == kres and not o.deleted and (namespace is None or ns == namespace)]
            return sorted(out, key=obj_key)

        def commit(self, res: Res, typ: str, obj: dict, prev: dict | None) -> dict:
            """Stamp the next resourceVersion, store (or drop) the object, log the watch event."""
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
            meta = obj["metadata"]
            k = self.key(res, meta.get("namespace"), meta["name"])
            if k not in self.objects:
                self.objects[k] = obj
            elif typ == "DELETED":
                self.objects[k].delete()
            else:
                self.objects[k].history.append(obj)
            history = self.objects[k].history
            if len(history) > 64:
                del history[:-32]
            self.log.append((self.rv, res, meta.get("namespace"), typ, obj, prev))
            self.log_rvs.append(self.rv)
            if len(self.log) > self.history_limit:
                self.compact(len(self.log) // 2)
            self.notify()
            return obj

        def compact(self, n: int | None = None) -> None:
            """Forget the oldest `n` watch events (all of them, and expire every issued RV, if None)."""
            if n is None:
                self.rv += 1  # a tick with no event: lists now say rv+1, anything older gets 410
                self.compacted_rv = self.rv
                self.log.clear(), self.log_rvs.clear()
            elif n:
                self.compacted_rv = self.log_rvs[n - 1]
                del self.log[:n], self.log_rvs[:n]

        def notify(self) -> None:
            changed, self.changed = self.changed, asyncio.Event()
            changed.set()

        # ----- reads ---------------------------------------------------------------------------

        @staticmethod
        def selector(params) -> Callable[[dict], bool]:
            labels = parse_label_selector(params.get("labelSelector", ""))
            fields = parse_field_selector(params.get("fieldSelector", ""))
            return lambda o: labels(o) and fields(o)

        def list(self, request, res: Res) -> dict:
            params = request.params
            match = self.selector(params)
            items = [o for o in self.current_objects(res, request.namespace) if match(o)]
            list_rv = self.rv
            if params.get("continue"):
                try:
                    token = json.loads(base64.urlsafe_b64decode(params["continue"].encode()))
                    list_rv, after = token["rv"], tuple(token["after"])
                except Exception:
                    raise ApiError(400, "BadRequest", "invalid continue token")
                items = [o for o in items if obj_key(o) > after]
            meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
            limit = int(params.get("limit") or 0)
            if limit > 0 and len(items) > limit:
                token = {"rv": list_rv, "after": list(obj_key(items[limit - 1]))}
                meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            return {"apiVersion": res.api_version, "kind": f"{res.kind}List", "metadata": meta, "items": items}

        def bookmark(self, res: Res, rv: int, initial_end: bool = False) -> dict:
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"type": "BOOKMARK", "object": {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta}}

        def events_after(self, after: int, res: Res, namespace: str | None, match) -> list[dict] | None:
            """Watch events with rv > `after` as this watcher sees them; None if compacted away."""
            if after < self.compacted_rv:
                return None
            out = []
            for rv, r, ns, typ, obj, prev in self.log[bisect.bisect_right(self.log_rvs, after):]:
                if r is not res or (namespace is not None and ns != namespace):
                    continue
                now_in = match(obj)
                was_in = prev is not None and match(prev)
                if typ == "MODIFIED" and now_in != was_in:  # moved into / out of the selector
                    typ = "ADDED" if now_in else "DELETED"
                    now_in = True
                elif typ == "DELETED":
                    now_in = was_in or now_in
                if now_in:
                    out.append({"type": typ, "object": obj})
            return out

        async def watch(self, request, res: Res):
            params = request.params
            match = self.selector(params)
            rv_param = params.get("resourceVersion", "")
            send_initial = params.get("sendInitialEvents") == "true"
            bookmarks = params.get("allowWatchBookmarks") == "true"
            timeout = params.get("timeoutSeconds")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + float(timeout) if timeout else None
            initial: list[dict] = []
            if rv_param in ("", "0") or send_initial:
                last_rv = self.rv
                initial = [{"type": "ADDED", "object": o}
                           for o in self.current_objects(res, request.namespace) if match(o)]
            else:
                try:
                    last_rv = int(rv_param)
                except ValueError:
                    raise ApiError(400, "BadRequest", f"invalid resourceVersion {rv_param!r}")
            changed = self.changed
            response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request._raw_request)
            wid = id(response)
            self.watches[wid] = {"resource": f"{res.api_version}/{res.plural}", "namespace": request.namespace,
                                 "labelSelector": params.get("labelSelector"), "fieldSelector": params.get("fieldSelector"),
                                 "resourceVersion": rv_param, "since": now_rfc3339()}
            raw = request._raw_request
            self.watch_seq += 1
            logged = {"seq": self.watch_seq, **self.watches[wid], "peer": raw.remote if raw is not None else None,
                      "events": 0, "open": True}
            self.watch_log.append(logged)
            if len(self.watch_log) > 20000:
                del self.watch_log[:10000]
            epoch = self.epoch

            async def send(events: list[dict]) -> None:
                lines = []
                logged["events"] += sum(1 for e in events if e["type"] in ("ADDED", "MODIFIED", "DELETED"))
                for e in events:
                    obj = e["object"] if e["type"] in ("BOOKMARK", "ERROR") else self.shape(request, e["object"])
                    lines.append(json.dumps({"type": e["type"], "object": obj}, separators=(",", ":")) + "\n")
                if lines:
                    await response.write("".join(lines).encode())

            try:
                await send(initial)
                if send_initial:
                    await send([self.bookmark(res, last_rv, initial_end=True)])
                next_bookmark = loop.time() + self.bookmark_interval
                while True:
                    events = self.events_after(last_rv, res, request.namespace, match)
                    if events is None:
                        gone = ApiError(410, "Expired", f"too old resource version: {last_rv} ({self.compacted_rv + 1})")
                        await send([{"type": "ERROR", "object": gone.status()}])
                        break
                    changed, last_rv = self.changed, self.rv  # taken in the same tick as the scan
                    await send(events)
                    if self.stopping or epoch != self.epoch:
                        break
                    now = loop.time()
                    if deadline is not None and now >= deadline:
                        break
                    if bookmarks and self.bookmark_interval > 0 and now >= next_bookmark:
                        await send([self.bookmark(res, last_rv)])
                        next_bookmark = now + self.bookmark_interval
                    wait = [t - now for t in (deadline, next_bookmark if bookmarks and self.bookmark_interval > 0 else None) if t is not None]
                    try:
                        await asyncio.wait_for(changed.wait(), timeout=max(0.0, min(wait)) if wait else None)
                    except asyncio.TimeoutError:
                        pass
                await response.write_eof()
            except ConnectionError:
                pass  # the client went away
            finally:
                self.watches.pop(wid, None)
                logged["open"] = False
            return response

        # ----- writes --------------------------------------------------------------------------

        @staticmethod
        def body(request, kind: str = "object") -> Any:
            data = request.data
            if kind == "object" and not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "the request body must be a JSON object")
            return data

        @staticmethod
        def dry_run(request) -> bool:
            return request.params.get("dryRun") == "All"

        def new_object(self, res: Res, body: dict, namespace: str | None, keep_status: bool = False) -> dict:
            obj = copy.deepcopy(body)
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            meta = obj.setdefault("metadata", {})
            if not isinstance(meta, dict):
                raise ApiError(400, "BadRequest", "metadata must be an object")
            if res.namespaced:
                if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                    raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
                meta["namespace"] = namespace or meta.get("namespace")
                if not meta["namespace"]:
                    raise ApiError(400, "BadRequest", "a namespace is required for namespaced resources")
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required")
                meta["name"] = meta["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            for server_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"):
                meta.pop(server_field, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if res.crd:
                meta["generation"] = 1
            if res.status and not keep_status:
                obj.pop("status", None)
            return obj

        def create(self, request, res: Res) -> dict:
            body = self.body(request)
            ns = request.namespace
            obj = self.new_object(res, body, ns)
            meta = obj["metadata"]
            if self.get_current(res, meta.get("namespace"), meta["name"]) is not None:
                raise ApiError(409, "AlreadyExists", f'{res.plural}.{res.group or "core"} "{meta["name"]}" already exists',
                               {"name": meta["name"], "group": res.group, "kind": res.plural})
            if self.dry_run(request):
                return obj
            return self.commit(res, "ADDED", obj, None)

        def updated(self, res: Res, old: dict, new: dict, subresource: str | None, keep_status: bool = False) -> dict | None:
            """Apply the server-side rules to a client-proposed full object; None if nothing changed."""
            if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
                raise ApiError(422, "Invalid", "the patched object is not a valid object")
            if subresource == "status":  # only .status changes; everything else is kept
                result = copy.deepcopy(old)
                if "status" in new:
                    result["status"] = copy.deepcopy(new["status"])
                else:
                    result.pop("status", None)
            else:
                result = copy.deepcopy(new)
                if res.status and not keep_status:  # main-resource writes do not touch .status
                    if "status" in old:
                        result["status"] = copy.deepcopy(old["status"])
                    else:
                        result.pop("status", None)
            meta, om = result.setdefault("metadata", {}), old["metadata"]
            for f in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "resourceVersion"):
                if f in om:
                    meta[f] = om[f]
                else:
                    meta.pop(f, None)
            result["apiVersion"], result["kind"] = res.api_version, res.kind
            if result == old:
                return None  # a no-op write: no new resourceVersion, no watch event (as kube-apiserver)
            if res.crd:
                strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status", "apiVersion", "kind")}
                if strip(result) != strip(old):
                    meta["generation"] = int(om.get("generation") or 1) + 1
            return result

        def check_preconditions(self, res: Res, old: dict, rv: Any, uid: Any = None) -> None:
            if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {res.plural}.{res.group or "core"} "{old["metadata"]["name"]}": '
                               "the object has been modified; please apply your changes to the latest version and try again",
                               {"name": old["metadata"]["name"], "group": res.group, "kind": res.plural})
            if uid not in (None, "") and uid != old["metadata"].get("uid"):
                raise ApiError(409, "Conflict", f'Precondition failed: UID in precondition: {uid}, UID in object meta: {old["metadata"].get("uid")}')

        def write(self, request, res: Res, old: dict, new: dict | None) -> dict:
            """Commit an update (unless dry-run/no-op); finish a deletion whose finalizers are gone."""
            if new is None or self.dry_run(request):
                return new or old
            obj = self.commit(res, "MODIFIED", new, old)
            meta = obj["metadata"]
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self.commit(res, "DELETED", obj, obj)
            return obj

        def replace(self, request, res: Res) -> dict:
            body = self.body(request)
            old = self.get_current(res, request.namespace, request.name, required=True)
            meta = body.get("metadata") or {}
            if meta.get("name") not in (None, request.name):
                raise ApiError(400, "BadRequest", f'the name of the object ({meta["name"]}) does not match the name on the URL ({request.name})')
            if res.namespaced and meta.get("namespace") not in (None, "", request.namespace):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
            if meta.get("resourceVersion") in (None, "") and res.crd:
                raise ApiError(422, "Invalid", f'{res.kind}.{res.group} "{request.name}" is invalid: '
                               "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
            self.check_preconditions(res, old, meta.get("resourceVersion"), meta.get("uid"))
            return self.write(request, res, old, self.updated(res, old, body, request.subresource))

        def patch(self, request, res: Res) -> tuple[dict, bool]:
            ctype = header(request, "Content-Type").split(";")[0].strip().lower()
            ptype = PATCH_TYPES.get(ctype)
            if ptype is None:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}")
            data = request.data
            old = self.get_current(res, request.namespace, request.name)
            if ptype == "apply":
                if not request.params.get("fieldManager"):
                    raise ApiError(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
                body = self.body(request)
                if body.get("apiVersion") != res.api_version or body.get("kind") != res.kind:
                    raise ApiError(400, "BadRequest", f"apply patches must set apiVersion: {res.api_version} and kind: {res.kind}")
                if (body.get("metadata") or {}).get("name") not in (None, request.name):
                    raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
                if old is None:
                    if request.subresource == "status":
                        self.get_current(res, request.namespace, request.name, required=True)
                    obj = self.new_object(res, merge_patch(body, {"metadata": {"name": request.name}}), request.namespace)
                    return (obj if self.dry_run(request) else self.commit(res, "ADDED", obj, None)), True
            if old is None:
                self.get_current(res, request.namespace, request.name, required=True)  # raises 404
            if ptype == "json":
                if not isinstance(data, list):
                    raise ApiError(400, "BadRequest", "a JSON patch must be a JSON array of operations")
                ops = [op for op in data if not (  # like Go's json-patch: `test` for null passes on a missing path
                    isinstance(op, dict) and op.get("op") == "test" and op.get("value") is None
                    and jsonpointer.resolve_pointer(old, op.get("path", ""), None) is None)]
                try:
                    new = jsonpatch.apply_patch(old, ops, in_place=False)
                except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, TypeError, ValueError) as e:
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}")
            else:
                new = merge_patch(old, self.body(request))
            self.check_preconditions(res, old, (new.get("metadata") or {}).get("resourceVersion") if isinstance(new, dict) else None)
            return self.write(request, res, old, self.updated(res, old, new, request.subresource)), False

        def delete(self, request, res: Res) -> dict:
            old = self.get_current(res, request.namespace, request.name, required=True)
            options = request.data if isinstance(request.data, dict) else {}
            pre = options.get("preconditions") or {}
            self.check_preconditions(res, old, pre.get("resourceVersion"), pre.get("uid"))
            return self.delete_one(request, res, old)

        def delete_one(self, request, res: Res, old: dict) -> dict:
            meta = old["metadata"]
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp") or self.dry_run(request):
                    return old
                new = merge_patch(old, {"metadata": {"deletionTimestamp": now_rfc3339(), "deletionGracePeriodSeconds": 0}})
                return self.commit(res, "MODIFIED", new, old)
            if not self.dry_run(request):
                self.commit(res, "DELETED", old, old)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": meta["name"], "group": res.group, "kind": res.plural, "uid": meta.get("uid")}}

        def delete_collection(self, request, res: Res) -> dict:
            match = self.selector(request.params)
            victims = [o for o in self.current_objects(res, request.namespace) if match(o)]
            for o in victims:
                self.delete_one(request, res, o)
            return {"apiVersion": res.api_version, "kind": f"{res.kind}List",
                    "metadata": {"resourceVersion": str(self.rv)}, "items": victims}

        # ----- test control API (/_emulator/...) -----------------------------------------------

        def upsert(self, body: dict) -> dict:
            """Create or overwrite an object as given, status included, no preconditions."""
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "objects must be JSON objects")
            res = self.by_kind.get((body.get("apiVersion"), body.get("kind")))
            if res is None:
                raise ApiError(404, "NotFound", f"no served resource for apiVersion={body.get('apiVersion')!r} kind={body.get('kind')!r}")
            meta = body.get("metadata") or {}
            ns = (meta.get("namespace") or "default") if res.namespaced else None
            old = self.get_current(res, ns, meta.get("name") or "")
            if old is None:
                return self.commit(res, "ADDED", self.new_object(res, body, ns, keep_status=True), None)
            new = self.updated(res, old, body, None, keep_status=True)
            return old if new is None else self.commit(res, "MODIFIED", new, old)

        async def control(self, request):
            path, method = request.url.path, request.method.value
            if path == "/_emulator/objects" and method == "POST":
                data = request.data
                items = data.get("items") if isinstance(data, dict) and "items" in data else data if isinstance(data, list) else [data]
                out = [self.upsert(o) for o in items]
                return aiohttp.web.json_response({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": str(self.rv)}, "items": out})
            if path == "/_emulator/close-watches" and method == "POST":
                self.epoch += 1
                self.notify()
                return aiohttp.web.json_response({"closed": len(self.watches)})
            if path == "/_emulator/compact" and method == "POST":
                self.compact()
                self.epoch += 1  # open watches end too; resuming from an old resourceVersion then gets 410
                self.notify()
                return aiohttp.web.json_response({"compactedResourceVersion": str(self.compacted_rv)})
            if path == "/_emulator/writes" and method == "GET":
                return aiohttp.web.json_response({"items": self.writes})
            if path == "/_emulator/watch-log" and method == "GET":
                return aiohttp.web.json_response({"items": self.watch_log})
            if path == "/_emulator/state" and method == "GET":
                return aiohttp.web.json_response({
                    "resourceVersion": str(self.rv), "compactedResourceVersion": str(self.compacted_rv),
                    "watches": list(self.watches.values()),
                    "resources": [dataclasses.asdict(r) for r in self.specs.values()]})
            raise ApiError(404, "NotFound", f"unknown control endpoint {method} {path}")

    return Emulator


# ---------------------------------------------------------------------------------------------

def load_seed(path: str) -> list[dict]:
    data = json.loads(pathlib.Path(path).read_text())
    if isinstance(data, dict) and "items" in data:
        return data["items"]
    return data if isinstance(data, list) else [data]


async def serve(args: argparse.Namespace, extra: Iterable[Res]) -> None:
    import kmock

    Emulator = build_emulator_class()
    emulator = Emulator()
    emulator.verbose = args.verbose
    emulator.bookmark_interval = args.bookmark_interval
    emulator.history_limit = args.history
    for res in [*RESOURCES, *CUSTOM_RESOURCES, *extra]:
        emulator.register(res)
    for path in args.seed or []:
        for obj in load_seed(path):
            emulator.upsert(obj)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_on_stdin_eof:
        def wait_stdin() -> None:
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            finally:
                loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=wait_stdin, daemon=True).start()

    async with emulator, kmock.Server(emulator, host=args.host, port=args.port or None) as server:
        port = server.port
        if args.ready_file:
            tmp = pathlib.Path(args.ready_file + ".tmp")
            tmp.write_text(f"{port}\n")
            os.replace(tmp, args.ready_file)
        sys.stdout.write(f"READY {port}\n")
        sys.stdout.flush()
        await stop.wait()
        emulator.stopping = True  # open watches end their streams cleanly
        emulator.notify()
        await asyncio.sleep(0.1)
        # Leave without waiting for lingering client connections (aiohttp would wait up to 60 s).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Kubernetes API emulator (kmock) for failover-agent tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ready-file", help="write the bound port here (atomically) once serving")
    parser.add_argument("--resource", action="append", default=[], metavar="G/V/PLURAL=Kind[,cluster][,status][,crd]",
                        help="serve one more resource, e.g. failover-agent.io/v1alpha1/nodereports=NodeReport,status")
    parser.add_argument("--seed", action="append", metavar="FILE.json",
                        help="objects (a JSON object, array, or List) to create before serving")
    parser.add_argument("--bookmark-interval", type=float, default=5.0,
                        help="seconds between BOOKMARK events on watches with allowWatchBookmarks=true (0: never)")
    parser.add_argument("--history", type=int, default=100_000,
                        help="watch events kept for resuming; older resourceVersions get 410 Expired")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent gone)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--check", action="store_true", help="exit 0 if kmock is usable (3 if not), without serving")
    args = parser.parse_args()
    extra = [parse_resource_spec(s) for s in args.resource]
    _bootstrap_kmock()
    if args.check:
        import kmock
        print(f"ok python={sys.executable} kmock={kmock.__version__}")
        return
    asyncio.run(serve(args, extra))


if __name__ == "__main__":
    main()
