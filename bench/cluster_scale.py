#!/usr/bin/env python3
"""Scale benchmark of in-cluster mode against the Kubernetes API emulator, with synthetic data.

    python3 bench/cluster_scale.py [--apps 1000] [--endpoints-per-app 10] [--samples 50]

It seeds the emulator (tests/k8s/emulator.py) with N AppHealth objects (app0..app<N-1> in
namespaces team0..team9, `policy: {minHealthyPercent: 100}`) and one EndpointSlice per app
(10 ready endpoints each, on 500 fake nodes that run no agent), starts ONE agent from
target/release/failover-agent as node `bench-node` (which owns no endpoint, so nothing is
probed: every verdict is driven by EndpointSlice readiness alone), which becomes the leader,
then (with --followers 1, the default) a second replica as node `bench-follower`, which also
owns no endpoint, and prints:

  * each replica's RSS, its /metrics series and bytes per scrape;
  * what each replica receives from the API server per endpoint change elsewhere (bytes on
    its connections to the emulator, the kernel's tcp_info read with `ss`, over the samples,
    divided by the number of slice changes), beside the size of one EndpointSlice and one
    AppHealth watch event;
  * whether the follower serves the same verdicts as the leader;

  * the agent's RSS once its caches have synced, every app has a verdict and it has settled,
    and again after the latency samples;
  * how long the first fold of every app took (from agent start until every AppHealth has
    status.verdict == healthy, as seen on a watch of the emulator);
  * end to end: EndpointSlice merge-PATCH (one endpoint ready: false) -> 503 at
    /health/<app>, and back (ready: true -> 200), p50/p95/p99/max over --samples. This path is
    emulator watch delivery -> agent leader fold -> status PATCH to the emulator -> watch back
    to the agent -> served; the script splits it into stages with its own watches and
    measures the emulator's bare PATCH round trip, so the agent's share can be estimated.

Nothing here asserts: the budgets are printed beside the figures. Standard library only
(Python >= 3.11). Logs and the generated seed go to bench/out/ (git-ignored). The script
does not build the agent; it refuses to run a binary older than the sources.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import os
import pathlib
import random
import select
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
AH_GROUP = "/apis/failover-agent.io/v1alpha1"
ES_GROUP = "/apis/discovery.k8s.io/v1"
SERVICE_LABEL = "kubernetes.io/service-name"
# Slices as the EndpointSlice controller writes them: the agent probes (and the leader
# assigns) only endpoints of such slices whose targetRef is a Pod of the app's namespace.
MANAGED_BY = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
MERGE = "application/merge-patch+json"
MIB = 1024 * 1024
# The in-cluster path waits on purpose: the leader sleeps FOLD_COALESCE (10 ms,
# src/cluster/leader/status.rs) after a change before folding, and every replica sleeps 5 ms
# (src/run/cluster.rs) before re-syncing its served apps.
FOLD_COALESCE_MS, SYNC_COALESCE_MS = 10, 5
DESIGNED_WAITS = (FOLD_COALESCE_MS + SYNC_COALESCE_MS) / 1000


class BenchError(Exception):
    """A failure with a message fit for the user (no traceback)."""


def log(msg: str) -> None:
    sys.stderr.write(f"[cluster_scale {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# ----------------------------------------------------------------------------------------------
# Synthetic objects


def ns_of(i: int, namespaces: int) -> str:
    return f"team{i % namespaces}"


def endpoints(i: int, per_app: int, nodes: int, namespaces: int, not_ready: int | None = None) -> list[dict]:
    out = []
    for j in range(per_app):
        k = i * per_app + j + 1  # global endpoint number: distinct address 10.a.b.c
        out.append({
            "addresses": [f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"],
            "conditions": {"ready": j != not_ready},
            "nodeName": f"node-{k % nodes}",
            "targetRef": {"kind": "Pod", "namespace": ns_of(i, namespaces), "name": f"app{i}-{j}"},
        })
    return out


def slice_name(i: int) -> str:
    return f"app{i}-bench"


def objects(apps: int, per_app: int, namespaces: int, nodes: int) -> list[dict]:
    objs = []
    for i in range(apps):
        ns, app = ns_of(i, namespaces), f"app{i}"
        objs.append({
            "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"services": [app], "policy": {"minHealthyPercent": 100}},
        })
        objs.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name(i), "namespace": ns, "labels": {SERVICE_LABEL: app, **MANAGED_BY}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints(i, per_app, nodes, namespaces),
        })
    return objs


# ----------------------------------------------------------------------------------------------
# HTTP


class Conn:
    """One keep-alive HTTP/1.1 connection that reconnects after errors."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port, self.timeout, self.c = port, timeout, None

    def request(self, method: str, path: str, body=None, ctype: str = "application/json") -> tuple[int, bytes]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Content-Type": ctype} if data is not None else {}
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                out = r.read()
                if r.will_close:
                    self.close()
                return r.status, out
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 1 or method == "POST":  # GET and merge-PATCH are idempotent
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body=None, ctype: str = "application/json") -> tuple[int, dict]:
        code, out = self.request(method, path, body, ctype)
        try:
            return code, json.loads(out) if out else {}
        except ValueError:
            return code, {"raw": out[:300].decode(errors="replace")}

    def close(self) -> None:
        if self.c is not None:
            self.c.close()
            self.c = None


def fold_stats(metrics: bytes) -> dict[str, float]:
    """The leader's fold counters from a /metrics body (0 where absent), per pass kind."""
    want = {f'failover_agent_fold_pass_duration_seconds_{what}{{kind="{kind}"}}': f"{kind}_{what}"
            for kind in ("full", "changes") for what in ("sum", "count")}
    want |= {'failover_agent_fold_apps_total{result="recomputed"}': "recomputed",
            'failover_agent_fold_apps_total{result="unchanged"}': "unchanged"}
    out = dict.fromkeys(want.values(), 0.0)
    for line in metrics.decode(errors="replace").splitlines():
        name, _, value = line.rpartition(" ")
        if name in want:
            out[want[name]] = float(value)
    out["sum"] = out["full_sum"] + out["changes_sum"]
    out["passes"] = out["full_count"] + out["changes_count"]
    return out


def wait_for_200(proc, conn: "Conn", path: str, limit: float, died, late, pause: float) -> None:
    """Polls GET `path` until it answers 200. If `proc` exits, raises `died()`; if
    `limit` seconds pass, raises `late()` (both build their error when it happens)."""
    t_end = time.perf_counter() + limit
    while True:
        if proc.poll() is not None:
            raise died()
        try:
            if conn.request("GET", path)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        if time.perf_counter() > t_end:
            raise late()
        time.sleep(pause)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Watch(threading.Thread):
    """A watch stream on the emulator in a daemon thread; calls on_event(event, t) per line."""

    def __init__(self, port: int, path: str, on_event):
        super().__init__(daemon=True)
        self.port, self.path, self.on_event = port, path, on_event
        self.error: str | None = None
        self.sock = None

    def run(self) -> None:
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=None)
            c.request("GET", self.path)
            r = c.getresponse()
            self.sock = c.sock
            if r.status != 200:
                self.error = f"watch {self.path}: HTTP {r.status}"
                return
            while True:
                line = r.readline()
                if not line:
                    self.error = f"watch {self.path} ended"
                    return
                t = time.perf_counter()
                self.on_event(json.loads(line), t)
        except Exception as e:  # noqa: BLE001 - reported by the main thread if it matters
            self.error = f"watch {self.path}: {e!r}"

    def stop(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Verdicts:
    """AppHealth verdicts from a watch: current value and the time each change was seen."""

    def __init__(self):
        self.lock = threading.Condition()
        self.current: dict[tuple[str, str], str | None] = {}
        self.changes: dict[tuple[str, str], list[tuple[float, str | None]]] = {}
        self.healthy = 0
        self.sizes: list[int] = []

    def on_event(self, ev: dict, t: float) -> None:
        if ev.get("type") not in ("ADDED", "MODIFIED"):
            return
        if ev.get("type") == "MODIFIED":
            self.sizes.append(len(json.dumps(ev)))
        o = ev["object"]
        key = (o["metadata"].get("namespace"), o["metadata"]["name"])
        v = (o.get("status") or {}).get("verdict")
        with self.lock:
            old = self.current.get(key)
            if key in self.current and old == v:
                return
            self.healthy += (v == "healthy") - (old == "healthy")
            self.current[key] = v
            self.changes.setdefault(key, []).append((t, v))
            self.lock.notify_all()

    def first_change(self, key, verdict: str, after: float, timeout: float) -> float | None:
        end = time.perf_counter() + timeout
        with self.lock:
            while True:
                for t, v in self.changes.get(key, []):
                    if t >= after and v == verdict:
                        return t
                left = end - time.perf_counter()
                if left <= 0:
                    return None
                self.lock.wait(left)


class SliceEvents:
    """When a watch saw each EndpointSlice resourceVersion."""

    def __init__(self):
        self.lock = threading.Condition()
        self.seen: dict[str, float] = {}
        self.sizes: list[int] = []

    def on_event(self, ev: dict, t: float) -> None:
        rv = (ev.get("object") or {}).get("metadata", {}).get("resourceVersion")
        if ev.get("type") == "MODIFIED" and rv:
            self.sizes.append(len(json.dumps(ev)))
            with self.lock:
                self.seen[rv] = t
                self.lock.notify_all()

    def wait(self, rv: str, timeout: float) -> float | None:
        end = time.perf_counter() + timeout
        with self.lock:
            while rv not in self.seen:
                left = end - time.perf_counter()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.seen[rv]


# ----------------------------------------------------------------------------------------------
# Processes


def tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(text[-lines:]) if text else f"({path} is empty)"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM and its anonymous and file-backed parts (RssAnon/RssFile) in KiB from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


def dump_resident(pid: int, binary: pathlib.Path, out: pathlib.Path) -> None:
    """Writes the file offsets of `binary`'s pages resident in process `pid`, one hex offset a line
    (from /proc/<pid>/pagemap, bit 63 = present; needs root). Used to see which code a replica keeps."""
    import struct
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and os.path.realpath(parts[5]) == os.path.realpath(binary):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                maps.append((lo, hi, int(parts[2], 16), parts[1]))
    with open(f"/proc/{pid}/pagemap", "rb") as pm, open(out, "w") as w:
        for lo, hi, off, perms in maps:
            pm.seek(lo // 4096 * 8)
            raw = pm.read((hi - lo) // 4096 * 8)
            for i in range(len(raw) // 8):
                (e,) = struct.unpack_from("<Q", raw, i * 8)
                if e >> 63:
                    w.write(f"{off + i * 4096:x} {perms}\n")


def received(pid: int, port: int) -> int:
    """Bytes process `pid` has received on its open TCP connections to 127.0.0.1:`port`
    (the kernel's tcp_info bytes_received, read with `ss`; watches are long-lived)."""
    out = subprocess.run(["ss", "-tinpH", "state", "established", "dst", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, check=False).stdout
    total, mine = 0, False
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            mine = f"pid={pid}," in line
            continue
        if mine:
            for field in line.split():
                if field.startswith("bytes_received:"):
                    total += int(field.split(":")[1])
    return total


def metrics_stats(text: bytes) -> tuple[int, int, int]:
    """(series, of which per-app series, bytes) of a /metrics answer."""
    lines = [l for l in text.decode(errors="replace").splitlines() if l and not l.startswith("#")]
    per_app = sum(1 for l in lines if 'app="' in l)
    return len(lines), per_app, len(text)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def stale_binary(binary: pathlib.Path) -> list[str]:
    built = binary.stat().st_mtime
    newer = []
    for p in [ROOT / "Cargo.toml", ROOT / "Cargo.lock", ROOT / "build.rs", *(ROOT / "src").rglob("*")]:
        if p.is_file() and p.stat().st_mtime > built:
            newer.append(str(p.relative_to(ROOT)))
    return newer


class TlsRelay:
    """Serves TLS on a loopback port and relays each connection, in plain HTTP, to the emulator
    (`--tls`): the agents then talk to their API server over TLS through rustls, as on a real
    cluster. A throwaway CA and a certificate for 127.0.0.1 are made with the openssl CLI."""

    def __init__(self, upstream: int, workdir: pathlib.Path):
        workdir.mkdir(parents=True, exist_ok=True)
        ca, key, cert, leaf_key = (workdir / n for n in ("ca.crt", "ca.key", "tls.crt", "tls.key"))
        ext = workdir / "leaf.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n")
        for cmd in (
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=bench-ca", "-keyout", str(key), "-out", str(ca)],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(leaf_key), "-out", str(workdir / "tls.csr")],
            ["x509", "-req", "-in", str(workdir / "tls.csr"), "-CA", str(ca), "-CAkey", str(key), "-CAcreateserial",
             "-days", "1", "-extfile", str(ext), "-out", str(cert)],
        ):
            r = subprocess.run(["openssl", *cmd], capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError(f"openssl {cmd[0]} failed: {r.stderr.strip()}")
        self.ca_data = base64.b64encode(ca.read_bytes()).decode()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, leaf_key)
        self.upstream = upstream
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
            up = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            raw.close()
            return
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def pump(src, dst) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(up, tls), daemon=True).start()
        pump(tls, up)

    def close(self) -> None:
        self.sock.close()


def start_emulator(seed: pathlib.Path, errlog: pathlib.Path, timeout: float) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, str(ROOT / "tests/k8s/emulator.py"), "--port", "0", "--exit-on-stdin-eof",
           "--seed", str(seed)]
    err = open(errlog, "wb")
    p = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    err.close()
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            p.kill()
            raise BenchError(f"the emulator printed no READY line within {timeout:.0f} s\n"
                             f"--- {errlog} (tail) ---\n{tail(errlog)}")
        ready, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
        if ready:
            line = p.stdout.readline().decode(errors="replace").strip()
            if line.startswith("READY "):
                return p, int(line.split()[1])
            rc = p.wait(timeout=5) if not line else None
            hint = ("\nexit status 3: no Python with kmock; see tests/k8s/README.md "
                    "(python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install -r tests/k8s/requirements.txt)"
                    if rc == 3 else "")
            raise BenchError(f"the emulator did not start (first stdout line {line!r}, exit status {rc}){hint}\n"
                             f"--- {errlog} (tail) ---\n{tail(errlog)}")
        if p.poll() is not None:
            rc = p.returncode
            hint = "\nexit status 3: no Python with kmock; see tests/k8s/README.md" if rc == 3 else ""
            raise BenchError(f"the emulator exited with status {rc} before READY{hint}\n"
                             f"--- {errlog} (tail) ---\n{tail(errlog)}")


def stop_process(p: subprocess.Popen | None, name: str) -> None:
    if p is None or p.poll() is not None:
        return
    try:
        if p.stdin:
            p.stdin.close()
    except OSError:
        pass
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log(f"{name} ignored SIGTERM for 5 s; killing it")
        p.kill()
        p.wait(timeout=5)


# ----------------------------------------------------------------------------------------------
# Statistics and output


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(x: float) -> str:
    return f"{x * 1000:.1f}" if x < 10 else f"{x * 1000:.0f}"


def dist(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    return f"p50 {ms(pct(xs, 50))} / p95 {ms(pct(xs, 95))} / p99 {ms(pct(xs, 99))} / max {ms(max(xs))} ms"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


# ----------------------------------------------------------------------------------------------
# The benchmark


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--endpoints-per-app", type=int, default=10)
    ap.add_argument("--samples", type=int, default=50, help="not-ready -> 503 samples (each followed by a recovery sample)")
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=500, help="fake node names the endpoints are spread over")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to settle before reading RSS")
    ap.add_argument("--sync-timeout", type=float, default=600.0, help="limit for every app to get a verdict")
    ap.add_argument("--sample-timeout", type=float, default=10.0, help="limit for one verdict change")
    ap.add_argument("--poll-sleep-ms", type=float, default=0.0, help="sleep between /health polls (0: tight loop)")
    ap.add_argument("--rtt-samples", type=int, default=50, help="bare emulator PATCH / agent GET round trips to time")
    ap.add_argument("--binary", default=str(ROOT / "target/release/failover-agent"))
    ap.add_argument("--tls", action="store_true",
                    help="agents reach the emulator over TLS, through a relay in this script (as on a real cluster)")
    ap.add_argument("--seed", type=int, default=1, help="random seed for the sampled apps")
    ap.add_argument("--followers", type=int, default=1, choices=(0, 1), help="start a follower replica too")
    args = ap.parse_args()
    if args.apps < 1 or args.endpoints_per_app < 1 or args.samples < 1 or args.namespaces < 1:
        ap.error("--apps, --endpoints-per-app, --samples and --namespaces must be ≥ 1")

    binary = pathlib.Path(args.binary)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise BenchError(f"{binary} is missing: build it first (cargo build --release --bin failover-agent)")
    newer = stale_binary(binary)
    if newer:
        raise BenchError(f"{binary} is stale: {len(newer)} source file(s) are newer, e.g. {', '.join(newer[:5])}; "
                         "rebuild it first (cargo build --release --bin failover-agent)")

    OUT.mkdir(parents=True, exist_ok=True)
    seed_file = OUT / "cluster_scale.seed.json"
    emu_log = OUT / "cluster_scale.emulator.log"
    agent_log = OUT / "cluster_scale.agent.log"
    kubeconfig = OUT / "cluster_scale.kubeconfig"
    n, epa, nss = args.apps, args.endpoints_per_app, args.namespaces
    total_eps = n * epa
    rng = random.Random(args.seed)
    load_before = os.getloadavg()

    objs = objects(n, epa, nss, args.nodes)
    seed_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    log(f"seed: {n} AppHealth + {n} EndpointSlices ({total_eps} endpoints) -> {seed_file.relative_to(ROOT)}")

    emu = agent = follower = None
    watches: list[Watch] = []
    conns: list[Conn] = []

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        t = time.perf_counter()
        emu, port = start_emulator(seed_file, emu_log, timeout=180)
        emu_start = time.perf_counter() - t
        log(f"emulator READY on port {port} after {emu_start:.1f} s (seeding included); stderr -> {emu_log.relative_to(ROOT)}")
        em = Conn(port)
        conns.append(em)

        # Our own watches, opened before the agent starts: verdicts (initial fold and stage 2)
        # and EndpointSlice events (stage 1).
        verdicts, slices_seen = Verdicts(), SliceEvents()
        watches += [Watch(port, f"{AH_GROUP}/apphealths?watch=true", verdicts.on_event),
                    Watch(port, f"{ES_GROUP}/endpointslices?watch=true&labelSelector={SERVICE_LABEL}", slices_seen.on_event)]
        for w in watches:
            w.start()
        t_end = time.perf_counter() + 30
        while len(verdicts.current) < n:
            if time.perf_counter() > t_end or watches[0].error:
                raise BenchError(f"our own AppHealth watch saw {len(verdicts.current)}/{n} objects: {watches[0].error}")
            time.sleep(0.05)

        api_port, cluster = port, f'{{server: "http://127.0.0.1:{port}"}}'
        if args.tls:
            relay = TlsRelay(port, OUT / "tls")
            api_port = relay.port
            cluster = f'{{server: "https://127.0.0.1:{relay.port}", certificate-authority-data: "{relay.ca_data}"}}'
            log(f"agents reach the emulator over TLS through a relay on port {relay.port}")
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f'clusters: [{{name: e, cluster: {cluster}}}]\n'
            "users: [{name: u, user: {}}]\n"
            "contexts: [{name: c, context: {cluster: e, user: u, namespace: default}}]\n"
            "current-context: c\n")
        health_port, admin_port = free_port(), free_port()
        # The operator's per-namespace limits, raised to fit the seed, so every app is served.
        per_ns = math.ceil(n / nss)
        settings = kubeconfig.with_name("bench-settings.yaml")
        settings.write_text(f"limits: {{ appsPerNamespace: {max(per_ns, 1)}, endpointsPerNamespace: {max(per_ns * epa, 1)} }}\n")
        # As the container image sets it (Dockerfile), unless the caller chose otherwise.
        malloc = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
        env = dict(os.environ, **{k: os.environ.get(k, v) for k, v in malloc.items()})
        env = dict(env, KUBECONFIG=str(kubeconfig), NODE_NAME="bench-node", POD_NAME="bench-agent",
                   POD_NAMESPACE="failover-agent", RUST_LOG="warn", FAILOVER_AGENT_SETTINGS=str(settings))
        err = open(agent_log, "wb")
        t_agent = time.perf_counter()
        agent = subprocess.Popen(
            [str(binary), "run", "--log-format", "json", "--health-listen", f"127.0.0.1:{health_port}",
             "--admin-listen", f"127.0.0.1:{admin_port}"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        err.close()
        log(f"agent pid {agent.pid}: health 127.0.0.1:{health_port}, admin 127.0.0.1:{admin_port}; "
            f"log -> {agent_log.relative_to(ROOT)}")
        pub, adm = Conn(health_port, timeout=5), Conn(admin_port, timeout=30)
        conns += [pub, adm]

        def agent_died(what: str) -> BenchError:
            return BenchError(f"the agent exited with status {agent.returncode} {what}\n"
                              f"--- {agent_log} (tail) ---\n{tail(agent_log)}")

        # 3. /readyz, then every app's first verdict.
        wait_for_200(agent, pub, "/readyz", t_agent + 120 - time.perf_counter(),
                     lambda: agent_died("before /readyz answered 200"),
                     lambda: BenchError(f"/readyz was not 200 within 120 s\n--- {agent_log} (tail) ---\n{tail(agent_log)}"),
                     0.02)
        t_ready = time.perf_counter() - t_agent
        log(f"/readyz 200 after {t_ready:.2f} s; waiting for all {n} verdicts")
        cpu0 = (cpu_seconds(agent.pid), cpu_seconds(emu.pid))
        t_end = t_agent + args.sync_timeout
        next_note = time.perf_counter() + 10
        with verdicts.lock:
            while verdicts.healthy < n:
                if agent.poll() is not None:
                    raise agent_died(f"while {verdicts.healthy}/{n} apps had a verdict")
                now = time.perf_counter()
                if now > t_end:
                    raise BenchError(f"only {verdicts.healthy}/{n} apps were healthy after {args.sync_timeout:.0f} s\n"
                                     f"--- {agent_log} (tail) ---\n{tail(agent_log)}")
                if now > next_note:
                    log(f"  {verdicts.healthy}/{n} apps have a healthy verdict after {now - t_agent:.1f} s")
                    next_note = now + 10
                verdicts.lock.wait(0.5)
            last = max(ch[-1][0] for ch in verdicts.changes.values())
        t_fold = last - t_agent
        fold_cpu = (cpu_seconds(agent.pid) - cpu0[0], cpu_seconds(emu.pid) - cpu0[1])
        log(f"all {n} apps healthy {t_fold:.2f} s after agent start; waiting for the ProbeAssignments")
        # The leader hands every node with endpoints its ProbeAssignment; count them.
        want_nodes = min(args.nodes, total_eps)
        t_end = time.perf_counter() + 60
        while True:
            code, lst = em.json("GET", f"{AH_GROUP}/namespaces/failover-agent/probeassignments")
            assigned = lst.get("items", []) if code == 200 else []
            if len(assigned) >= want_nodes or time.perf_counter() > t_end:
                break
            time.sleep(0.2)
        assigned_eps = sum(len(app.get("endpoints", [])) for a in assigned
                           for app in (a.get("spec") or {}).get("apps", {}).values())
        assign_bytes = sum(len(json.dumps(a)) for a in assigned)
        t_assigned = time.perf_counter() - t_agent
        log(f"{len(assigned)}/{want_nodes} ProbeAssignments after {t_assigned:.1f} s; settling {args.settle:.0f} s")
        time.sleep(args.settle)
        rss_settled = proc_status(agent.pid)
        emu_rss = proc_status(emu.pid)["VmRSS"]
        code, body = pub.request("GET", "/health/app0")
        if code != 200:
            raise BenchError(f"/health/app0 answered {code} {body[:200]!r} after the initial fold")

        # A follower: another node's replica, owning no endpoint; the leader keeps the Lease.
        fpub = fadm = None
        if args.followers:
            f_health, f_admin = free_port(), free_port()
            f_log = OUT / "cluster_scale.follower.log"
            ferr = open(f_log, "wb")
            fenv = dict(env, NODE_NAME="bench-follower", POD_NAME="bench-follower")
            follower = subprocess.Popen(
                [str(binary), "run", "--log-format", "json", "--health-listen", f"127.0.0.1:{f_health}",
                 "--admin-listen", f"127.0.0.1:{f_admin}"],
                cwd=ROOT, env=fenv, stdin=subprocess.DEVNULL, stdout=ferr, stderr=ferr)
            ferr.close()
            fpub, fadm = Conn(f_health, timeout=5), Conn(f_admin, timeout=30)
            conns += [fpub, fadm]
            wait_for_200(follower, fpub, f"/health/app{n - 1}", 120,
                         lambda: BenchError(f"the follower exited with {follower.returncode}\n{tail(f_log)}"),
                         lambda: BenchError(f"the follower never served app{n - 1}\n{tail(f_log)}"), 0.05)
            log(f"follower pid {follower.pid} serves every app; settling {args.settle:.0f} s")
            time.sleep(args.settle)
            f_rss_settled = proc_status(follower.pid)
            if os.environ.get("BENCH_SMAPS"):
                shutil.copy(f"/proc/{follower.pid}/smaps", OUT / "cluster_scale.follower.smaps")
                dump_resident(follower.pid, binary, OUT / "cluster_scale.follower.pages")

        # Comparison: the emulator's bare PATCH round trip (a ConfigMap no one watches) and one
        # GET /health round trip to the agent (the poll loop's granularity).
        cm = "/api/v1/namespaces/default/configmaps"
        code, _ = em.json("POST", cm, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench-rtt"}, "data": {}})
        if code not in (200, 201):
            raise BenchError(f"creating a ConfigMap on the emulator answered {code}")
        patch_rtt, get_rtt = [], []
        for i in range(args.rtt_samples):
            t = time.perf_counter()
            code, _ = em.request("PATCH", f"{cm}/bench-rtt", {"data": {"i": str(i)}}, MERGE)
            patch_rtt.append(time.perf_counter() - t)
            t = time.perf_counter()
            pub.request("GET", "/health/app0")
            get_rtt.append(time.perf_counter() - t)

        # 5. Samples.
        sleep = args.poll_sleep_ms / 1000
        down, up, patch_ms, polls = [], [], [], []
        staged: list[tuple[float, float, float, float]] = []  # (end to end, stage 1, stage 2, stage 3)
        misses, first_body = 0, None
        cpu1 = (cpu_seconds(agent.pid), cpu_seconds(emu.pid))
        rss_unscraped = proc_status(agent.pid)
        fold0 = fold_stats(adm.request("GET", "/metrics")[1])
        rss_scraped = proc_status(agent.pid)
        read0 = {"leader": received(agent.pid, api_port), **({"follower": received(follower.pid, api_port)} if follower else {})}
        t_samples = time.perf_counter()

        def poll(path: str, want: int, limit: float) -> tuple[float | None, bytes, int]:
            end, k = time.perf_counter() + limit, 0
            while True:
                k += 1
                code, body = pub.request("GET", path)
                t = time.perf_counter()
                if code == want:
                    return t, body, k
                if t > end:
                    return None, body, k
                if sleep:
                    time.sleep(sleep)

        for s in range(args.samples):
            i = rng.randrange(n)
            ns, app = ns_of(i, nss), f"app{i}"
            path = f"{ES_GROUP}/namespaces/{ns}/endpointslices/{slice_name(i)}"
            for phase, ready_off, want in (("down", rng.randrange(epa), 503), ("up", None, 200)):
                body = json.dumps({"endpoints": endpoints(i, epa, args.nodes, nss, not_ready=ready_off)}).encode()
                t0 = time.perf_counter()
                code, resp = em.request("PATCH", path, body, MERGE)
                t_patch = time.perf_counter()
                if code != 200:
                    raise BenchError(f"PATCH {path} answered {code}: {resp[:300]!r}")
                t1, got, k = poll(f"/health/{app}", want, args.sample_timeout)
                if t1 is None:
                    misses += 1
                    log(f"sample {s} ({app}, {phase}): no {want} within {args.sample_timeout:.0f} s; last answer {got[:120]!r}")
                    if agent.poll() is not None:
                        raise agent_died("during the samples")
                    continue
                polls.append((t1 - t0) / k)
                (down if phase == "down" else up).append(t1 - t0)
                patch_ms.append(t_patch - t0)
                if phase == "down":
                    first_body = first_body or got.decode(errors="replace").strip()
                    rv = json.loads(resp)["metadata"]["resourceVersion"]
                    t_slice = slices_seen.wait(rv, 2.0)
                    t_status = verdicts.first_change((ns, app), "unhealthy", t0, 2.0)
                    if t_slice is not None and t_status is not None:
                        staged.append((t1 - t0, t_slice - t0, t_status - t_slice, t1 - t_status))
                time.sleep(rng.uniform(0.05, 0.15))  # do not phase-lock with the agent's loops
            if (s + 1) % 10 == 0:
                log(f"  {s + 1}/{args.samples} samples; not-ready -> 503 so far: {dist(down)}")
        sample_wall = time.perf_counter() - t_samples
        read1 = {"leader": received(agent.pid, api_port), **({"follower": received(follower.pid, api_port)} if follower else {})}
        slice_changes = len(down) + len(up)
        sample_cpu = (cpu_seconds(agent.pid) - cpu1[0], cpu_seconds(emu.pid) - cpu1[1])
        rss_after = proc_status(agent.pid)

        code, metrics = adm.request("GET", "/metrics")
        fold1 = fold_stats(metrics)
        passes = fold1["passes"] - fold0["passes"]
        per_pass = (fold1["sum"] - fold0["sum"]) / passes if passes else 0.0
        per_pass_apps = (fold1["recomputed"] - fold0["recomputed"]) / passes if passes else 0.0
        by_kind = {}
        for kind in ("changes", "full"):
            k = fold1[f"{kind}_count"] - fold0[f"{kind}_count"]
            by_kind[kind] = (k, (fold1[f"{kind}_sum"] - fold0[f"{kind}_sum"]) / k if k else 0.0)
        series = sum(1 for line in metrics.decode(errors="replace").splitlines()
                     if line.startswith("failover_agent_app_healthy{"))
        replicas = {"leader": (agent, rss_after, metrics_stats(metrics))}
        disagree = 0
        if follower:
            _, fmetrics = fadm.request("GET", "/metrics")
            replicas["follower"] = (follower, proc_status(follower.pid), metrics_stats(fmetrics))
            for i in rng.sample(range(n), min(n, 200)):
                if pub.request("GET", f"/health/app{i}")[0] != fpub.request("GET", f"/health/app{i}")[0]:
                    disagree += 1
        warn_lines = sum(1 for line in agent_log.read_text(errors="replace").splitlines() if line.strip())
        load_after = os.getloadavg()

        # The agent's share, estimated per sample: end to end minus the emulator's part of the
        # path (the slice PATCH and its watch delivery = stage 1, counted twice because the
        # status event travels back the same way, plus one bare PATCH round trip for the
        # leader's status write).
        bare = statistics.median(patch_rtt)
        stage1, stage2, stage3 = ([x[k] for x in staged] for k in (1, 2, 3))
        share = [max(0.0, d - 2 * a - bare) for d, a, _, _ in staged]
        work = [max(0.0, x - DESIGNED_WAITS) for x in share]

        # 6. Report.
        print()
        print(f"## failover-agent in-cluster scale: {n} apps, {total_eps} endpoints "
              f"({epa}/app, {nss} namespaces, {args.nodes} fake nodes), 1 replica")
        print()
        print(f"- machine: {os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
              f"agent, emulator (Python, kmock) and this script share them; poll loop "
              f"{'tight (no sleep)' if not sleep else f'{args.poll_sleep_ms:g} ms sleep'}")
        print(f"- binary: {binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary} "
              f"(built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(binary.stat().st_mtime))}); "
              f"RUST_LOG=warn, {', '.join(f'{k}={env[k]}' for k in malloc)}, "
              f"NODE_NAME=bench-node (owns no endpoint: nothing probed, all endpoints unprobed); "
              f"API server reached over {'TLS (relay in this script)' if args.tls else 'plain HTTP'}")
        hot = subprocess.run([sys.executable, str(ROOT / "bench" / "hot_symbols.py"), "--check", "--binary", str(binary)],
                             capture_output=True, text=True)
        if hot.returncode == 0:
            print(f"- code layout (link/hot-symbols.txt): {hot.stdout.strip().partition(': ')[2]}")
        print(f"- samples: {len(down)} not-ready -> 503 and {len(up)} ready -> 200"
              f"{f', {misses} timed out' if misses else ''}; percentiles are nearest-rank"
              f"{' (with < 100 samples, p99 is the maximum)' if len(down) < 100 else ''}")
        print()
        print("| figure | value | budget |")
        print("| --- | --- | --- |")
        print(f"| agent RSS, caches synced + all verdicts + {args.settle:.0f} s settle | **{mib(rss_settled['VmRSS'])}** "
              f"(peak VmHWM {mib(rss_settled['VmHWM'])}) | ≤ 64 MiB at 10k pods / 1k apps |")
        print(f"| agent RSS before / after its first /metrics scrape (just before the samples) | "
              f"{mib(rss_unscraped['VmRSS'])} / **{mib(rss_scraped['VmRSS'])}** | – |")
        print(f"| agent RSS after the {len(down) + len(up)} samples | **{mib(rss_after['VmRSS'])}** "
              f"(peak VmHWM {mib(rss_after['VmHWM'])}) | ≤ 64 MiB |")
        print(f"| agent start -> /readyz 200 (caches listed) | {t_ready:.2f} s | – |")
        print(f"| agent start -> every app has a verdict (initial fold; {n} status PATCHes + {n} Events) | "
              f"{t_fold:.2f} s (CPU: agent {fold_cpu[0]:.2f} s, emulator {fold_cpu[1]:.2f} s) | – |")
        print(f"| **EndpointSlice PATCH (1 endpoint not ready) -> 503 at `/health/<app>`**, end to end | "
              f"**{dist(down)}** | every replica within ~1 s: max {'✔' if down and max(down) <= 1 else '✘'} |")
        print(f"| EndpointSlice PATCH (ready again) -> 200 (recovery), end to end | {dist(up)} | every replica within ~1 s: "
              f"max {'✔' if up and max(up) <= 1 else '✘'} |")
        print(f"| · stage 1: PATCH sent -> slice event on a watch (emulator: PATCH + watch fan-out) | {dist(stage1)} | – |")
        print(f"| · stage 2: slice event -> verdict event on a watch (agent leader: {FOLD_COALESCE_MS} ms coalesce + fold + status PATCH) "
              f"| {dist(stage2)} | – |")
        print(f"| · stage 3: verdict event -> 503 served (watch to agent + {SYNC_COALESCE_MS} ms coalesce + sync) | {dist(stage3)} | – |")
        print(f"| estimated agent share (end to end − 2 × stage 1 − bare PATCH RTT) | {dist(share)} | "
              f"p99 ≤ 50 ms inside the agent: {'✔' if share and pct(share, 99) <= 0.05 else '✘'} |")
        print(f"| estimated agent share minus the {DESIGNED_WAITS * 1000:.0f} ms of designed-in coalescing waits "
              f"| {dist(work)} | – |")
        kinds = ", ".join(f"{k:.0f} {kind} (mean {m * 1000:.1f} ms)" for kind, (k, m) in by_kind.items())
        print(f"| leader fold passes during the samples (`failover_agent_fold_*`) | {passes:.0f} passes: {kinds}; mean "
              f"{per_pass * 1000:.1f} ms each (status writes included), {per_pass_apps:.1f} of {n} apps recomputed per pass | – |")
        print(f"| bare emulator PATCH round trip (unwatched ConfigMap, {len(patch_rtt)}×, idle) | {dist(patch_rtt)} | – |")
        print(f"| emulator PATCH round trip of the sampled slices | {dist(patch_ms)} | – |")
        print(f"| GET `/health/<app>` round trip (poll granularity, idle) | {dist(get_rtt)}; "
              f"mean poll interval in samples {statistics.mean(polls) * 1e6:.0f} µs | – |")
        print(f"| CPU during the samples ({sample_wall:.1f} s wall) | agent {sample_cpu[0]:.2f} s, emulator {sample_cpu[1]:.2f} s | – |")
        print(f"| emulator RSS (Python) | {mib(emu_rss)} | – |")
        print(f"| `failover_agent_app_healthy` series in the leader's /metrics | {series} | = {n} |")
        print(f"| ProbeAssignments the leader wrote (one per node with endpoints) | {len(assigned)} of {want_nodes}, "
              f"{assigned_eps} endpoints, {assign_bytes / MIB:.1f} MiB of JSON in all | = {want_nodes}, {total_eps} endpoints |")
        budgets = {"leader": "≤ 48 MiB (≤ 128 MiB at 5k apps)", "follower": "≤ 16 MiB, ≤ 300 series"}
        for role, (proc, st, (all_series, per_app, size)) in replicas.items():
            settled = rss_settled if role == "leader" else f_rss_settled
            print(f"| **{role}** RSS settled / after the samples; /metrics | **{mib(settled['VmRSS'])}** "
                  f"(anon {mib(settled.get('RssAnon', 0))}, file {mib(settled.get('RssFile', 0))}) / "
                  f"{mib(st['VmRSS'])}; **{all_series} series** ({per_app} per-app), {size / 1024:.0f} KiB per scrape "
                  f"| {budgets[role]} |")
        ev_slice = statistics.median(slices_seen.sizes) if slices_seen.sizes else 0
        ev_ah = statistics.median(verdicts.sizes) if verdicts.sizes else 0
        for role in read1:
            per = (read1[role] - read0[role]) / max(slice_changes, 1)
            print(f"| bytes the {role} received from the API server per EndpointSlice change "
                  f"(each also changes one AppHealth's status) | {per:,.0f} B | follower: AppHealth events only |")
        print(f"| one watch event, median size: EndpointSlice / AppHealth | {ev_slice:,.0f} B / {ev_ah:,.0f} B | – |")
        if follower:
            print(f"| follower answers that differ from the leader's (200 apps, after the samples) | {disagree} | 0 |")
        print(f"| agent log lines at RUST_LOG=warn | {warn_lines} | – |")
        print()
        print(f"First 503 body: `{first_body}`")
        print(f"Design floor of the end-to-end path: the leader waits FOLD_COALESCE = {FOLD_COALESCE_MS} ms after a change "
              f"before folding, and every replica waits {SYNC_COALESCE_MS} ms before re-syncing its served apps, so "
              f"≥ {DESIGNED_WAITS * 1000:.0f} ms is built in before any emulator or CPU time. Stages are timed by "
              f"this script's own watches on the emulator, so their boundaries are approximate.")
        return 0 if not misses else 1
    finally:
        for w in watches:
            w.stop()
        for c in conns:
            c.close()
        stop_process(agent, "the agent")
        stop_process(follower, "the follower")
        stop_process(emu, "the emulator")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        sys.stderr.write(f"cluster_scale: error: {e}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("cluster_scale: interrupted\n")
        sys.exit(130)
