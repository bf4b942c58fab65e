#!/usr/bin/env python3
"""Deploy checks for the Helm chart and the plain manifests.

Run from the repository root with the venv (helm-python-sdk and kubernetes-validate
come from .ci/requirements.txt):

    .venv/bin/python deploy/check.py           # check; exit 1 naming every failure
    .venv/bin/python deploy/check.py --write   # refresh the chart's copies and the
                                               # rendered manifest, then check

No helm binary and no cluster: helm-python-sdk renders and lints the chart with Helm's
own Go code (libhelm_c, bundled in the wheel), and kubernetes-validate holds the
Kubernetes OpenAPI schemas. The checks:

  lint       helm lint --strict of the chart, with every value set below
  render     each value set renders; a bad one (only one of the two Route 53 values)
             must fail to render
  schema     every rendered object validated in strict mode (unknown fields are errors)
             against Kubernetes 1.33 and the newest version the package bundles;
             the CustomResourceDefinitions too (apiextensions.k8s.io/v1 is bundled).
             monitoring.coreos.com kinds (ServiceMonitor, PrometheusRule) have no
             bundled schema: they are checked against MONITORING_SCHEMAS below, a
             hand-written subset of the Prometheus Operator's CRDs (the fields the
             chart can emit, unknown fields rejected), and the PrometheusRule's groups
             are parsed by `promtool check rules` when promtool is installed (CI has it).
             Any other kind without a schema fails the check: nothing is skipped.
  copies     the chart's crds/crds.yaml equals deploy/crd/crds.yaml, and its
             files/alerts.yaml equals deploy/prometheus/alerts.yaml (when that exists)
  manifest   deploy/manifests/failover-agent.yaml equals a fresh default render
  security   the DaemonSet of every value set: non-root, read-only root filesystem,
             no privilege escalation, capabilities drop ALL, seccomp RuntimeDefault,
             the five downward-API env vars, probes on /healthz and /readyz, args
  rbac       the ClusterRole and Role rules equal the least-privilege set below
  values     what each value set is for shows in its objects (NLB annotations, one
             Ingress rule for /health/, IRSA annotation, Route 53 env, monitoring, the
             settings ConfigMap with its Route 53 policy, mounted read-only, passed
             with --settings, and its checksum on the Pod so a change rolls the agents)
  ports      the check port and protocol the agent is given (PUBLIC_PORT,
             PUBLIC_PROTOCOL) are the load balancer's: a Service port (with its TLS
             listener for HTTPS) or the Ingress's listen-ports; the Ingress has a host
             (publicHostname by default) and joins HTTPS when TLS is on; checks match
             the verdict string with the Ingress option
  rollout    the preStop sleep outlasts the target groups' deregistration delay, the
             grace period outlasts the sleep plus the agent's drain (read from
             src/publish/http/mod.rs), maxUnavailable keeps most replicas in service, and the
             readiness-gate namespace label is in the manifest and in the documented
             Helm steps (README.md, docs/walkthrough.md)
"""

from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

try:
    import helm_python as helm
    import jsonschema
    import kubernetes_validate.utils as kv
    import yaml
except ImportError as e:  # pragma: no cover - environment problem
    # A missing package, or one at another version than .ci/requirements.txt pins.
    what = e.name if isinstance(e, ModuleNotFoundError) else str(e).split(" (")[0].removeprefix("cannot import ")
    sys.exit(
        f"deploy/check.py: python3 cannot import {what}: run scripts/test "
        "(or .venv/bin/pip install -r .ci/requirements.txt and put .venv/bin first on PATH)"
    )

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy/helm/failover-agent"
CRDS_SRC = ROOT / "deploy/crd/crds.yaml"
CRDS_COPY = CHART / "crds/crds.yaml"
ALERTS_SRC = ROOT / "deploy/prometheus/alerts.yaml"
ALERTS_COPY = CHART / "files/alerts.yaml"
MANIFEST = ROOT / "deploy/manifests/failover-agent.yaml"
RELEASE = "failover-agent"
NAMESPACE = "failover-agent"
# Kubernetes versions to validate against: a recent floor (EKS standard support) and
# the newest schemas kubernetes-validate bundles.
KUBE_VERSIONS = sorted({"1.33.0", kv.latest_version()}, key=lambda v: tuple(map(int, v.split("."))))

# The value sets rendered, linted and validated. Each maps to a check of its effect.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "nlb": {
        "service": {
            "type": "LoadBalancer",
            # Route 53's checkers (by default) and an office range for curl and preflight.
            "sourceRanges": {"extra": ["203.0.113.0/24"]},
        },
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
    },
    # The NLB with PROXY protocol v2 instead of client IP preservation.
    "nlb-proxy": {
        "service": {"type": "LoadBalancer", "clientIp": "proxyProtocol"},
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
    },
    # The NLB open to every address (a first test).
    "nlb-open": {"service": {"type": "LoadBalancer", "sourceRanges": {"any": True}}},
    "nlb-tls": {
        "service": {"type": "LoadBalancer", "tls": {"certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c"}},
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
    },
    # The walkthrough's Ingress option: the shared ALB's HTTPS listener, host from publicHostname.
    "ingress": {
        "ingress": {
            "enabled": True,
            "groupName": "shared-alb",
            "tls": [{"hosts": ["health.eu-west-1.example.com"]}],
        },
        "publicListener": {"trustedProxies": ["10.0.0.0/16"]},
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
    },
    "ingress-http": {
        "ingress": {"enabled": True, "groupName": "plain-alb", "protocol": "HTTP", "host": "health.eu-west-1.example.com", "sourceRanges": {"any": True}},
        "publicListener": {"trustedProxies": ["10.0.0.0/16"]},
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com", "matchVerdict": False},
    },
    "monitoring": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    },
    # Who may reach the admin port: only Prometheus's Pods in "monitoring".
    "netpol": {
        "networkPolicy": {
            "adminFrom": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ]
        }
    },
    "netpol-off": {"networkPolicy": {"enabled": False}},
    "irsa": {
        "serviceAccount": {
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/failover-agent"}
        }
    },
    "route53": {
        "aws": {"region": "eu-west-1"},
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
    },
    # The operator's settings file: a Route 53 policy (one zone per team, and a shared
    # zone with a subdomain per team), pacing, probe concurrency, probe targets and
    # per-namespace limits.
    "policy": {
        "aws": {"region": "eu-west-1"},
        "route53": {"clusterId": "prod-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
        "settings": {
            "route53Policy": {
                "zones": [
                    {"id": "Z0123456789EXAMPLE", "names": ["*.example.com", "api.example.com"], "namespaces": ["payments", "shop-*"]},
                    {"id": "/hostedzone/Z0SHAREDZONE0000", "names": ["*.payments.example.org"], "namespaces": ["payments"]},
                ]
            },
            "aws": {"reconcileIntervalSeconds": 120},
            "probeConcurrency": 256,
            "probeTargets": {"allowLoopback": False},
            "limits": {"appsPerNamespace": 500, "endpointsPerNamespace": 5000, "probesInFlightPerApp": 8},
        },
        # CA certificates for AppHealths with probe.tls.verify, mounted from a ConfigMap.
        "probeCA": {"configMap": "payments-probe-ca"},
    },
}
# Value sets that must fail to render, with a substring of the expected error.
BAD_VALUE_SETS: dict[str, tuple[dict[str, Any], str]] = {
    "route53-half": ({"route53": {"clusterId": "prod-eu-west-1"}}, "set both or neither"),
    "ingress-any-host": ({"ingress": {"enabled": True}, "publicListener": {"trustedProxies": ["10.0.0.0/16"]}}, "ingress.host is empty"),
    "ingress-and-nlb": (
        {"ingress": {"enabled": True, "host": "h.example.com"}, "service": {"type": "LoadBalancer"}, "publicListener": {"trustedProxies": ["10.0.0.0/16"]}},
        "choose one way",
    ),
    "ingress-listen-ports": (
        {
            "ingress": {"enabled": True, "host": "h.example.com", "annotations": {"alb.ingress.kubernetes.io/listen-ports": '[{"HTTP":80}]'}},
            "publicListener": {"trustedProxies": ["10.0.0.0/16"]},
        },
        "set ingress.protocol",
    ),
    "ingress-no-proxies": ({"ingress": {"enabled": True, "host": "h.example.com"}}, "ingress.enabled needs publicListener.trustedProxies"),
    "old-source-ranges": ({"service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["1.2.3.0/24"]}}, "replaced by service.sourceRanges"),
    "client-ip-typo": ({"service": {"clientIp": "proxy"}}, "service.clientIp must be preserve or proxyProtocol"),
    "no-sources": ({"service": {"type": "LoadBalancer", "sourceRanges": {"route53": False}}}, "no one could reach the agents"),
    "tls-without-nlb": ({"service": {"tls": {"certificateArn": "arn:aws:acm:eu-west-1:1:certificate/x"}}}, "needs service.type=LoadBalancer"),
    "prestop-short": ({"preStopSleepSeconds": 20}, "must be more than deregistrationDelaySeconds"),
    "grace-short": ({"terminationGracePeriodSeconds": 44}, "must be more than preStopSleepSeconds + 5"),
    "match-verdict-typo": ({"route53": {"matchVerdict": "yes"}}, "route53.matchVerdict must be auto, true or false"),
    "settings-listener": ({"settings": {"healthListen": "0.0.0.0:1"}}, "settings.healthListen: the chart's settings take"),
}

# The least-privilege RBAC (formerly deploy/rbac.yaml; README "RBAC"). Changing the
# chart's rules means changing this set too, on purpose.
CLUSTER_ROLE_RULES = [
    {"apiGroups": ["failover-agent.io"], "resources": ["apphealths"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["failover-agent.io"], "resources": ["apphealths/status"], "verbs": ["patch"]},
    {"apiGroups": ["failover-agent.io"], "resources": ["apphealths"], "verbs": ["patch"]},
    {"apiGroups": ["elbv2.k8s.aws"], "resources": ["targetgroupbindings"], "verbs": ["list"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["list"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
ROLE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    {
        "apiGroups": ["failover-agent.io"],
        "resources": ["probereports"],
        "verbs": ["get", "list", "watch", "create", "update"],
    },
    {
        "apiGroups": ["failover-agent.io"],
        "resources": ["probeassignments"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
]

DOWNWARD_ENV = {
    "NODE_NAME": "spec.nodeName",
    "POD_NAME": "metadata.name",
    "POD_NAMESPACE": "metadata.namespace",
    "POD_UID": "metadata.uid",
    "POD_IP": "status.podIP",
}

# Helm's install order (pkg/release/util/kind_sorter.go), which `helm template` prints
# in; kinds not listed come last, alphabetically.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]

# The Prometheus Operator's kinds are not in kubernetes-validate's schemas. These are
# hand-written subsets of their CRDs (monitoring.coreos.com/v1): the required structure,
# the types, the duration pattern, and no unknown fields in the parts the chart emits.
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"}, "labels": _STR_MAP, "annotations": _STR_MAP},
    "additionalProperties": False,
}
_RELABEL = {"type": "array", "items": {"type": "object"}}
MONITORING_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "jobLabel": {"type": "string"},
                    "namespaceSelector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
                    },
                    "selector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"matchLabels": _STR_MAP, "matchExpressions": {"type": "array"}},
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string", "minLength": 1},
                                "path": {"type": "string"},
                                "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                                "honorLabels": {"type": "boolean"},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                                "relabelings": _RELABEL,
                                "metricRelabelings": _RELABEL,
                            },
                        },
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "interval": _DURATION,
                                "query_offset": _DURATION,
                                "limit": {"type": "integer"},
                                "labels": _STR_MAP,
                                "partial_response_strategy": {"type": "string"},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": {"type": "string", "minLength": 1},
                                            "record": {"type": "string", "minLength": 1},
                                            "expr": {"type": ["string", "integer"]},
                                            "for": _DURATION,
                                            "keep_firing_for": _DURATION,
                                            "labels": _STR_MAP,
                                            "annotations": _STR_MAP,
                                        },
                                        # Exactly one of alert and record.
                                        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}

# The values of the plain manifest: the walkthrough's eu-west-1 cluster behind an NLB,
# with Route 53 management and IRSA. Every site-specific value is one of three
# placeholders (account 111122223333, Region eu-west-1, domain example.com), so one sed
# line makes it yours (see MANIFEST_HEADER).
MANIFEST_VALUES: dict[str, Any] = {
    "image": {"repository": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/failover-agent"},
    "aws": {"region": "eu-west-1"},
    "route53": {"clusterId": "apps-eu-west-1", "publicHostname": "health.eu-west-1.example.com"},
    "service": {"type": "LoadBalancer"},
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/failover-agent-eu-west-1"}},
    # The walkthrough's apps live in namespaces app1 and app2 of the zone Z0123456789EXAMPLE.
    "settings": {
        "route53Policy": {"zones": [{"id": "Z0123456789EXAMPLE", "names": ["*.example.com"], "namespaces": ["app1", "app2"]}]}
    },
}

MANIFEST_HEADER = """\
# failover-agent for clusters without Helm: the chart deploy/helm/failover-agent
# rendered for the walkthrough's eu-west-1 cluster (an NLB, Route 53 management, IRSA),
# plus the Namespace (Pod Security "restricted", and the AWS Load Balancer Controller's
# pod readiness gate, so a rollout waits for each new agent to be healthy in the NLB).
# GENERATED by deploy/check.py from MANIFEST_VALUES: do not edit. Regenerate with
#   .venv/bin/python deploy/check.py --write
#
# Every site-specific value is one of four placeholders: the account 111122223333, the
# Region eu-west-1, the domain example.com and its hosted zone Z0123456789EXAMPLE (image,
# AWS_REGION, CLUSTER_ID apps-eu-west-1, PUBLIC_HOSTNAME health.eu-west-1.example.com,
# the IRSA role failover-agent-eu-west-1, and the settings' route53Policy, which allows
# namespaces app1 and app2 to write *.example.com records in that zone: edit it for your
# teams). Make them yours and apply:
#   sed -e "s/111122223333/$ACCOUNT/g" -e "s/eu-west-1/$REGION/g" -e "s/example\\.com/$DOMAIN/g" \\
#     -e "s/Z0123456789EXAMPLE/$ZONE/g" deploy/manifests/failover-agent.yaml | kubectl apply -f -
# Other choices (the Ingress option, TLS, monitoring) need the chart: render it with
# your values (helm template) instead.
"""

NAMESPACE_DOC = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    elbv2.k8s.aws/pod-readiness-gate-inject: enabled
"""

READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"


class Failed(Exception):
    """One check failed; the message says what and where."""


# ---------------------------------------------------------------- rendering


def render(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Renders the chart's templates like `helm template`: (source path, document) in
    Helm's install order, NOTES.txt and partials left out, empty documents dropped."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[tuple[str, str, int]] = []
    for path in sorted(files):
        base = path.rsplit("/", 1)[-1]
        if base == "NOTES.txt" or base.startswith("_"):
            continue
        for i, doc in enumerate(split_docs(files[path])):
            docs.append((path, doc, i))
    order = {k: i for i, k in enumerate(INSTALL_ORDER)}

    def key(entry: tuple[str, str, int]) -> tuple[int, str]:
        kind = (yaml.safe_load(entry[1]) or {}).get("kind", "")
        return (order.get(kind, len(order)), "" if kind in order else kind)

    docs.sort(key=key)  # stable: same kind keeps file and document order
    return [(path, doc) for path, doc, _ in docs]


def split_docs(text: str) -> list[str]:
    """Splits a multi-document YAML text on '---' lines; drops empty documents."""
    out, cur = [], []
    for line in text.splitlines():
        if line.rstrip() == "---":
            out.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    out.append("\n".join(cur))
    return [d.strip() for d in out if yaml.safe_load(d) is not None]


def crd_sources() -> list[tuple[str, str]]:
    with helm.Chart.load(CHART) as chart:
        return [(c["filename"], c["data"]) for c in chart.crds]


def manifest_text() -> str:
    """The plain manifest: header, Namespace, CRDs, then the default render."""
    parts = [MANIFEST_HEADER, f"---\n{NAMESPACE_DOC}"]
    for src, data in crd_sources():
        parts.append(f"---\n# Source: {src}\n{data.strip()}\n")
    for src, doc in render(MANIFEST_VALUES):
        parts.append(f"---\n# Source: {src}\n{doc}\n")
    return "".join(parts)


def objects(docs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [yaml.safe_load(doc) for _, doc in docs]


def crd_objects() -> list[dict[str, Any]]:
    return [o for _, data in crd_sources() for o in yaml.safe_load_all(data) if o]


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise Failed(f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
    return found[0]


# ---------------------------------------------------------------- checks


def check_lint() -> str:
    for set_name, values in VALUE_SETS.items():
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
        # Severity: 1 info, 2 warning, 3 error. --strict makes warnings errors.
        bad = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
        if bad:
            raise Failed(f"helm lint --strict ({set_name}): " + "; ".join(f"{m.get('path', '')}: {m['error']}" for m in bad))
    infos = {m["error"] for m in report["messages"] if m["severity"] < 2}
    return f"{len(VALUE_SETS)} value sets, strict, no warnings" + (f" (info: {'; '.join(sorted(infos))})" if infos else "")


def check_render(rendered: dict[str, list[dict[str, Any]]]) -> str:
    for set_name, objs in rendered.items():
        seen = set()
        for o in objs:
            ident = (o.get("kind"), o.get("metadata", {}).get("namespace"), o.get("metadata", {}).get("name"))
            if ident in seen:
                raise Failed(f"{set_name}: duplicate object {ident}")
            seen.add(ident)
            labels = o.get("metadata", {}).get("labels", {})
            for label in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"):
                if label not in labels:
                    raise Failed(f"{set_name}: {o['kind']}/{o['metadata']['name']} has no label {label}")
    for set_name, (values, expect) in BAD_VALUE_SETS.items():
        try:
            render(values)
        except helm.HelmError as e:
            if expect not in str(e):
                raise Failed(f"{set_name}: render failed, but not with {expect!r}: {e}")
        else:
            raise Failed(f"{set_name}: render must fail ({expect!r}) and did not")
    counts = ", ".join(f"{k} {len(v)}" for k, v in rendered.items())
    return f"objects per value set: {counts}; {len(BAD_VALUE_SETS)} bad value set(s) refused"


_validated: dict[str, str] = {}


def validate_object(obj: dict[str, Any], where: str) -> str:
    """Validates one object; returns how ("kubernetes 1.33+1.37" or "hand schema")."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
    if digest in _validated:
        return _validated[digest]
    kind, api = obj.get("kind"), obj.get("apiVersion", "")
    name = f"{kind}/{obj.get('metadata', {}).get('name')}"
    if api.startswith("monitoring.coreos.com/"):
        schema = MONITORING_SCHEMAS.get(kind)
        if schema is None:
            raise Failed(f"{where}: {name}: no schema for {api} {kind}; add one to MONITORING_SCHEMAS")
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            raise Failed(f"{where}: {name}: {'.'.join(map(str, e.path))}: {e.message}")
        how = "hand schema"
    else:
        for version in KUBE_VERSIONS:
            try:
                kv.validate(obj, version, strict=True)
            except kv.ValidationError as e:
                raise Failed(f"{where}: {name} invalid for Kubernetes {version}: {'.'.join(map(str, e.path))}: {e.message}")
            except kv.SchemaNotFoundError as e:
                raise Failed(f"{where}: {name}: {e.message} (no silent skips: handle this kind in deploy/check.py)")
        how = "kubernetes " + "+".join(v.rsplit(".", 1)[0] for v in KUBE_VERSIONS)
    _validated[digest] = how
    return how


def check_schema(rendered: dict[str, list[dict[str, Any]]]) -> str:
    by_how: dict[str, set[str]] = {}
    for set_name, objs in rendered.items():
        for o in objs:
            how = validate_object(o, set_name)
            by_how.setdefault(how, set()).add(o["kind"])
    for o in crd_objects():
        by_how.setdefault(validate_object(o, "crds/"), set()).add(o["kind"])
    return "; ".join(f"{how}: {', '.join(sorted(kinds))}" for how, kinds in sorted(by_how.items())) + " (strict)"


def check_promtool(rendered: dict[str, list[dict[str, Any]]]) -> str:
    rule = one(rendered["monitoring"], "PrometheusRule")
    groups = rule["spec"]["groups"]
    if ALERTS_SRC.exists():
        want = (yaml.safe_load(ALERTS_SRC.read_text()) or {}).get("groups") or []
        if groups != want:
            raise Failed("the PrometheusRule's groups differ from deploy/prometheus/alerts.yaml's after rendering")
    promtool = shutil.which("promtool")
    if promtool is None:
        return f"{len(groups)} group(s) embedded; promtool not installed, expressions NOT parsed (structure checked only)"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump({"groups": groups}, f)
        f.flush()
        run = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    if run.returncode != 0:
        raise Failed(f"promtool check rules on the rendered PrometheusRule: {run.stdout}{run.stderr}".strip())
    n = sum(len(g.get("rules", [])) for g in groups)
    return f"PrometheusRule: {len(groups)} group(s), {n} rule(s), promtool check rules passed"


def diff(want: str, have: str, want_name: str, have_name: str) -> str:
    lines = list(difflib.unified_diff(want.splitlines(), have.splitlines(), want_name, have_name, lineterm="", n=1))
    return "\n".join(lines[:40]) + ("\n..." if len(lines) > 40 else "")


def check_copies() -> str:
    problems, done = [], []
    pairs = [(CRDS_SRC, CRDS_COPY)] + ([(ALERTS_SRC, ALERTS_COPY)] if ALERTS_SRC.exists() else [])
    for src, dst in pairs:
        s, d = src.relative_to(ROOT), dst.relative_to(ROOT)
        if not dst.exists() or dst.read_text() != src.read_text():
            have = dst.read_text() if dst.exists() else ""
            problems.append(f"{d} differs from {s} (run deploy/check.py --write):\n{diff(src.read_text(), have, str(s), str(d))}")
        else:
            done.append(f"{d.relative_to(CHART.relative_to(ROOT))} == {s}")
    if problems:
        raise Failed("\n".join(problems))
    if not ALERTS_SRC.exists():
        done.append(f"{ALERTS_SRC.relative_to(ROOT)} does not exist yet: files/alerts.yaml not compared")
    return "; ".join(done)


def check_manifest(fresh: str) -> str:
    rel = MANIFEST.relative_to(ROOT)
    if not MANIFEST.exists():
        raise Failed(f"{rel} is missing (run deploy/check.py --write)")
    have = MANIFEST.read_text()
    if have != fresh:
        raise Failed(f"{rel} is out of date (run deploy/check.py --write):\n{diff(fresh, have, 'fresh render', str(rel))}")
    objs = [o for o in yaml.safe_load_all(have) if o]
    for o in objs:
        validate_object(o, str(rel))
    ns = one(objs, "Namespace")
    if ns["metadata"].get("labels", {}).get(READINESS_GATE_LABEL) != "enabled":
        raise Failed(f"{rel}: the Namespace lacks {READINESS_GATE_LABEL}=enabled")
    return f"{rel} is the MANIFEST_VALUES render ({len(objs)} objects: {', '.join(o['kind'] for o in objs)})"


def effective(container: dict[str, Any], pod: dict[str, Any], key: str) -> Any:
    """A security setting as the kubelet applies it: the container's, else the Pod's."""
    csc, psc = container.get("securityContext") or {}, pod.get("securityContext") or {}
    return csc[key] if key in csc else psc.get(key)


def check_security(rendered: dict[str, list[dict[str, Any]]]) -> str:
    for set_name, objs in rendered.items():
        ds = one(objs, "DaemonSet")
        pod = ds["spec"]["template"]["spec"]
        where = f"{set_name}: DaemonSet"
        for k in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(k):
                raise Failed(f"{where}: {k} is set")
        if len(pod["containers"]) != 1 or pod.get("initContainers"):
            raise Failed(f"{where}: expected exactly one container")
        c = pod["containers"][0]
        csc = c.get("securityContext") or {}
        problems = []
        if effective(c, pod, "runAsNonRoot") is not True:
            problems.append("runAsNonRoot is not true")
        if effective(c, pod, "runAsUser") != 65532:
            problems.append("runAsUser is not 65532")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append("readOnlyRootFilesystem is not true")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append("allowPrivilegeEscalation is not false")
        if csc.get("privileged"):
            problems.append("privileged")
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
            problems.append("capabilities do not drop ALL (or add some)")
        if (effective(c, pod, "seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append("seccompProfile is not RuntimeDefault")
        env = {e["name"]: e for e in c.get("env", [])}
        for name, path in DOWNWARD_ENV.items():
            got = env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if got != path:
                problems.append(f"env {name} is not the downward API's {path} (got {got})")
        if c.get("args", [])[:3] != ["run", "--log-format", "json"]:
            problems.append(f"args {c.get('args')} do not start with run --log-format json")
        if "--config" in c.get("args", []):
            problems.append("--config in args: in-cluster mode takes none")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports != {"health": 8080, "admin": 9090}:
            problems.append(f"ports {ports} are not health 8080 and admin 9090")
        # Liveness on the admin port, so a flood of the public port never restarts the
        # agent; readiness on the public port, so only agents that answer there get checks.
        for probe, path, port in (("livenessProbe", "/healthz", ("admin", 9090)), ("readinessProbe", "/readyz", ("health", 8080))):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or get.get("port") not in port:
                problems.append(f"{probe} is not GET {path} on the {port[0]} port (got {get})")
        res = c.get("resources") or {}
        if not res.get("limits", {}).get("memory") or not res.get("requests", {}).get("memory"):
            problems.append("no memory request and limit")
        if pod.get("serviceAccountName") != one(objs, "ServiceAccount")["metadata"]["name"]:
            problems.append("serviceAccountName is not the chart's ServiceAccount")
        if problems:
            raise Failed(f"{where}: " + "; ".join(problems))
    return (
        f"{len(rendered)} DaemonSets: uid 65532 non-root, read-only root, no escalation, drop ALL, "
        "seccomp RuntimeDefault, 5 downward-API env vars, /healthz on admin and /readyz on health"
    )


def check_rbac(rendered: dict[str, list[dict[str, Any]]]) -> str:
    objs = rendered["default"]
    for kind, want in (("ClusterRole", CLUSTER_ROLE_RULES), ("Role", ROLE_RULES)):
        have = one(objs, kind)["rules"]
        if have != want:
            raise Failed(f"{kind} rules differ from the least-privilege set in deploy/check.py:\n{diff(yaml.safe_dump(want), yaml.safe_dump(have), 'expected', 'rendered')}")
    sa = one(objs, "ServiceAccount")["metadata"]
    for kind, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        b = one(objs, kind)
        if b["roleRef"] != {"apiGroup": "rbac.authorization.k8s.io", "kind": role, "name": one(objs, role)["metadata"]["name"]}:
            raise Failed(f"{kind} does not bind the chart's {role}")
        if b["subjects"] != [{"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}]:
            raise Failed(f"{kind} subjects are not exactly the chart's ServiceAccount")
    return f"ClusterRole {len(CLUSTER_ROLE_RULES)} rules, Role {len(ROLE_RULES)} rules: exactly the least-privilege set"


def check_values(rendered: dict[str, list[dict[str, Any]]]) -> str:
    health = lambda objs: one(objs, "Service", RELEASE)  # noqa: E731
    # default: ClusterIP services, no Ingress, no monitoring objects, no Route 53 env.
    d = rendered["default"]
    if health(d)["spec"]["type"] != "ClusterIP" or any(o["kind"] in ("Ingress", "ServiceMonitor", "PrometheusRule") for o in d):
        raise Failed("default: expected a ClusterIP health Service and no Ingress, ServiceMonitor or PrometheusRule")
    env = {e["name"] for e in one(d, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["env"]}
    if env & {"CLUSTER_ID", "PUBLIC_HOSTNAME", "AWS_REGION"}:
        raise Failed("default: Route 53 and region env must be unset")
    metrics = one(d, "Service", f"{RELEASE}-metrics")
    if metrics["spec"]["type"] != "ClusterIP" or [(p["name"], p["port"], p["targetPort"]) for p in metrics["spec"]["ports"]] != [("metrics", 9090, "admin")]:
        raise Failed("default: the metrics Service is not ClusterIP metrics:9090 -> admin")
    if [(p["name"], p["port"], p["targetPort"]) for p in health(d)["spec"]["ports"]] != [("health", 80, "health")]:
        raise Failed("default: the health Service is not health:80 -> health (the agent's 8080)")
    # NetworkPolicy: the admin port only from adminFrom, the health port from anyone.
    check_network_policy(d, "default", [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}])
    check_network_policy(rendered["netpol"], "netpol", VALUE_SETS["netpol"]["networkPolicy"]["adminFrom"])
    if any(o["kind"] == "NetworkPolicy" for o in rendered["netpol-off"]):
        raise Failed("netpol-off: networkPolicy.enabled=false still renders a NetworkPolicy")
    # nlb: LoadBalancer with the AWS Load Balancer Controller's NLB annotations.
    svc = health(rendered["nlb"])
    ann = svc["metadata"].get("annotations", {})
    want = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    }
    if svc["spec"]["type"] != "LoadBalancer" or any(ann.get(k) != v for k, v in want.items()):
        raise Failed(f"nlb: expected a LoadBalancer Service with {want}, got {svc['spec']['type']} {ann}")
    checkers = chart_values()["route53HealthCheckers"]["ipv4"]
    if svc["spec"].get("loadBalancerSourceRanges") != checkers + ["203.0.113.0/24"]:
        raise Failed(f"nlb: loadBalancerSourceRanges should be Route 53's checkers and the extra range, got {svc['spec'].get('loadBalancerSourceRanges')}")
    if "loadBalancerSourceRanges" in health(rendered["nlb-open"])["spec"]:
        raise Failed("nlb-open: sourceRanges.any should render no loadBalancerSourceRanges")
    # The per-client cap must see clients, not the NLB: client IP preservation by
    # default, PROXY protocol v2 (and the agent told to read it) on request.
    tg = ann.get("service.beta.kubernetes.io/aws-load-balancer-target-group-attributes", "")
    if "preserve_client_ip.enabled=true" not in tg.split(","):
        raise Failed(f"nlb: the target group must preserve client IPs, got {tg!r}")
    proxy = health(rendered["nlb-proxy"])["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"]
    if "proxy_protocol_v2.enabled=true" not in proxy.split(","):
        raise Failed(f"nlb-proxy: expected proxy_protocol_v2.enabled=true, got {proxy!r}")
    if settings_of(rendered["nlb-proxy"])["publicListener"].get("proxyProtocol") is not True:
        raise Failed("nlb-proxy: the agent is not told to read PROXY headers (publicListener.proxyProtocol)")
    if settings_of(rendered["nlb"])["publicListener"].get("proxyProtocol"):
        raise Failed("nlb: publicListener.proxyProtocol must be off when the NLB sends no header")
    # Ingress: the agent believes X-Forwarded-For from the ALB's subnets and answers
    # only Route 53's checkers (the ALB cannot hold the list in a rule).
    lst = settings_of(rendered["ingress"])["publicListener"]
    if lst.get("trustedProxies") != ["10.0.0.0/16"] or lst.get("allowFrom") != checkers:
        raise Failed(f"ingress: publicListener should trust the VPC and allow Route 53's checkers, got {lst}")
    if "allowFrom" in settings_of(rendered["ingress-http"])["publicListener"]:
        raise Failed("ingress-http: ingress.sourceRanges.any should render no allowFrom")
    # The NLB's target health check stays on the public port (the traffic port), so
    # the load balancer drops an agent whose public listener does not answer.
    if ann.get("service.beta.kubernetes.io/aws-load-balancer-healthcheck-port", "traffic-port") != "traffic-port":
        raise Failed("nlb: the target health check must use the public (traffic) port")
    # ingress: exactly one rule, prefix /health/, to the health Service, on the shared ALB.
    ing = one(rendered["ingress"], "Ingress")
    ann = ing["metadata"]["annotations"]
    paths = [p for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
    if (
        ing["spec"].get("ingressClassName") != "alb"
        or ann.get("alb.ingress.kubernetes.io/group.name") != "shared-alb"
        or ann.get("alb.ingress.kubernetes.io/target-type") != "ip"
        or ann.get("alb.ingress.kubernetes.io/healthcheck-path") != "/healthz"
        or len(ing["spec"]["rules"]) != 1
        or paths != [{"path": "/health/", "pathType": "Prefix", "backend": {"service": {"name": RELEASE, "port": {"name": "health"}}}}]
    ):
        raise Failed(f"ingress: expected one alb rule /health/ (Prefix) -> {RELEASE}:health in group shared-alb, got {ing['spec']} {ann}")
    # monitoring: the ServiceMonitor selects exactly the metrics Service and its port.
    m = rendered["monitoring"]
    sm = one(m, "ServiceMonitor")
    sel = sm["spec"]["selector"]["matchLabels"]
    matching = [s["metadata"]["name"] for s in m if s["kind"] == "Service" and sel.items() <= s["metadata"]["labels"].items()]
    if matching != [f"{RELEASE}-metrics"] or sm["spec"]["endpoints"][0]["port"] != "metrics":
        raise Failed(f"monitoring: the ServiceMonitor selects {matching}, expected only {RELEASE}-metrics on port metrics")
    if sm["spec"]["endpoints"][0].get("honorLabels") is not True or sm["spec"].get("jobLabel") != "app.kubernetes.io/name":
        raise Failed("monitoring: the ServiceMonitor must honour the series' namespace label and set job from app.kubernetes.io/name (the alerts need both)")
    if sm["metadata"]["labels"].get("release") != "kube-prometheus-stack":
        raise Failed("monitoring: serviceMonitor.labels not rendered")
    # irsa: the role ARN on the ServiceAccount.
    if one(rendered["irsa"], "ServiceAccount")["metadata"].get("annotations") != VALUE_SETS["irsa"]["serviceAccount"]["annotations"]:
        raise Failed("irsa: the ServiceAccount lacks the eks.amazonaws.com/role-arn annotation")
    # route53: the three variables.
    env = {e["name"]: e.get("value") for e in one(rendered["route53"], "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["env"]}
    want_env = {
        "AWS_REGION": "eu-west-1",
        "CLUSTER_ID": "prod-eu-west-1",
        "PUBLIC_HOSTNAME": "health.eu-west-1.example.com",
        "PUBLIC_PROTOCOL": "HTTP",
        "PUBLIC_PORT": "80",
        "MATCH_VERDICT": "false",
    }
    if any(env.get(k) != v for k, v in want_env.items()):
        raise Failed(f"route53: expected env {want_env}")
    # settings: the ConfigMap's settings.yaml is the values' `settings`, mounted and passed.
    listener = {"publicListener": {"maxConnectionsPerClient": 64, "maxConnections": 4096}}
    default_settings = check_settings(
        d,
        "default",
        {
            "route53Policy": {"zones": []},
            "probeConcurrency": 512,
            "probeTargets": {"allowLoopback": False},
            "limits": {"appsPerNamespace": 200, "endpointsPerNamespace": 2000, "probesInFlightPerApp": 8},
            **listener,
        },
    )
    policy_settings = check_settings(rendered["policy"], "policy", {**VALUE_SETS["policy"]["settings"], **listener})
    if default_settings == policy_settings:
        raise Failed("policy: the checksum/settings annotation does not change with the settings, so a change would not roll the agents")
    return (
        "default, netpol (admin port from adminFrom only, health port open), nlb, ingress (1 rule, /health/), "
        "monitoring, irsa, route53, policy (settings file): each shows its effect"
    )


def check_network_policy(objs: list[dict[str, Any]], set_name: str, admin_from: list[dict[str, Any]]) -> None:
    """The admin port (9090) is reachable only from `admin_from`; the health port (8080) from anyone."""
    np = one(objs, "NetworkPolicy")
    spec = np["spec"]
    where = f"{set_name}: NetworkPolicy"
    pod_labels = one(objs, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
    if not spec["podSelector"].get("matchLabels") or not spec["podSelector"]["matchLabels"].items() <= pod_labels.items():
        raise Failed(f"{where} does not select the agent Pods")
    if spec.get("policyTypes") != ["Ingress"]:
        raise Failed(f"{where}: policyTypes must be [Ingress], got {spec.get('policyTypes')}")
    # Per port, who may reach it: None means anyone (a rule without `from`).
    allowed: dict[int, list[Any]] = {}
    for rule in spec.get("ingress", []):
        ports = rule.get("ports")
        if not ports:
            raise Failed(f"{where}: a rule without ports opens every port: {rule}")
        for p in ports:
            if p.get("protocol", "TCP") != "TCP" or not isinstance(p.get("port"), int) or "endPort" in p:
                raise Failed(f"{where}: unexpected port {p}")
            allowed.setdefault(p["port"], []).append(rule.get("from"))
    if set(allowed) != {8080, 9090}:
        raise Failed(f"{where}: expected rules for ports 8080 and 9090, got {sorted(allowed)}")
    if None not in allowed[8080]:
        raise Failed(f"{where}: the health port 8080 must stay open to all (the load balancer and Route 53 come from outside)")
    if None in allowed[9090] or [] in allowed[9090] or allowed[9090] != [admin_from]:
        raise Failed(f"{where}: the admin port 9090 must be limited to networkPolicy.adminFrom {admin_from}, got {allowed[9090]}")


SETTINGS_DIR = "/etc/failover-agent"


def check_settings(objs: list[dict[str, Any]], set_name: str, want: dict[str, Any]) -> str:
    """The settings ConfigMap holds `want` as settings.yaml, the DaemonSet mounts it
    read-only and passes it with --settings; returns the pod's checksum/settings."""
    cm = one(objs, "ConfigMap", f"{RELEASE}-settings")
    text = (cm.get("data") or {}).get("settings.yaml")
    if text is None:
        raise Failed(f"{set_name}: ConfigMap {RELEASE}-settings has no settings.yaml")
    have = yaml.safe_load(text)
    if have != want:
        raise Failed(f"{set_name}: settings.yaml is {have}, expected {want}")
    if set_name == "policy" and [z["id"] for z in have["route53Policy"]["zones"]] != ["Z0123456789EXAMPLE", "/hostedzone/Z0SHAREDZONE0000"]:
        raise Failed(f"{set_name}: settings.yaml does not hold the policy's zones")
    pod = one(objs, "DaemonSet")["spec"]["template"]
    c = pod["spec"]["containers"][0]
    args = c.get("args", [])
    path = f"{SETTINGS_DIR}/settings.yaml"
    if "--settings" not in args or args[args.index("--settings") + 1 : args.index("--settings") + 2] != [path]:
        raise Failed(f"{set_name}: args {args} do not pass --settings {path}")
    mounts = [m for m in c.get("volumeMounts", []) if m.get("mountPath") == SETTINGS_DIR]
    if len(mounts) != 1 or mounts[0].get("readOnly") is not True:
        raise Failed(f"{set_name}: {SETTINGS_DIR} is not mounted read-only once (got {mounts})")
    vols = [v for v in pod["spec"].get("volumes", []) if v["name"] == mounts[0]["name"]]
    if len(vols) != 1 or (vols[0].get("configMap") or {}).get("name") != cm["metadata"]["name"]:
        raise Failed(f"{set_name}: the volume {mounts[0]['name']} is not the ConfigMap {cm['metadata']['name']} (got {vols})")
    checksum = (pod["metadata"].get("annotations") or {}).get("checksum/settings")
    if not checksum or checksum != hashlib.sha256(text.rstrip("\n").encode()).hexdigest():
        raise Failed(f"{set_name}: the pod's checksum/settings annotation {checksum} is not the sha256 of settings.yaml")
    return checksum


def settings_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return yaml.safe_load(one(objs, "ConfigMap", f"{RELEASE}-settings")["data"]["settings.yaml"])


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def check_sources() -> str:
    """Route 53's checker ranges in values.yaml: what scripts/route53-ranges makes of
    the fixture, valid and sorted, and few enough for the NLB's security group."""
    import ipaddress

    script = ROOT / "scripts/route53-ranges"
    fixture = ROOT / "scripts/testdata/ip-ranges.json"
    r = subprocess.run([sys.executable, str(script), "--from", str(fixture), "--check"], capture_output=True, text=True)
    if r.returncode != 0:
        raise Failed(f"scripts/route53-ranges --check: {r.stdout}{r.stderr}")
    ranges = chart_values()["route53HealthCheckers"]
    nets = [ipaddress.ip_network(c) for c in ranges["ipv4"]]
    if nets != sorted(nets) or any(n.version != 4 for n in nets):
        raise Failed("route53HealthCheckers.ipv4 is not a sorted list of IPv4 networks")
    # The script on a document it must filter: other services out, IPv6 kept.
    with tempfile.TemporaryDirectory() as tmp:
        doc = {
            "syncToken": "1",
            "prefixes": [
                {"ip_prefix": "15.177.0.0/18", "service": "ROUTE53_HEALTHCHECKS"},
                {"ip_prefix": "3.5.140.0/22", "service": "AMAZON"},
            ],
            "ipv6_prefixes": [{"ipv6_prefix": "2600:1f14:fff:f800::/56", "service": "ROUTE53_HEALTHCHECKS"}],
        }
        src, vals = Path(tmp, "r.json"), Path(tmp, "values.yaml")
        src.write_text(json.dumps(doc))
        shutil.copy(CHART / "values.yaml", vals)
        subprocess.run([sys.executable, str(script), "--from", str(src), "--values", str(vals)], check=True, capture_output=True)
        got = yaml.safe_load(vals.read_text())["route53HealthCheckers"]
        if got["ipv4"] != ["15.177.0.0/18"] or got["ipv6"] != ["2600:1f14:fff:f800::/56"]:
            raise Failed(f"scripts/route53-ranges kept the wrong prefixes: {got}")
        src.write_text(json.dumps({"prefixes": []}))
        if subprocess.run([sys.executable, str(script), "--from", str(src), "--values", str(vals)], capture_output=True).returncode == 0:
            raise Failed("scripts/route53-ranges wrote an empty list (that would close the port to every checker)")
    # One security group rule per range and listener port (80 and 443 with TLS),
    # plus the extra ranges: stay under the default quota of 60 inbound rules.
    if len(nets) * 2 > 50:
        raise Failed(f"{len(nets)} ranges need {len(nets) * 2} security group rules with TLS: over the quota of 60 with extras")
    return f"{len(nets)} IPv4 ranges, as scripts/route53-ranges makes them; {len(nets) * 2} NLB security group rules with TLS"


def agent_env(objs: list[dict[str, Any]]) -> dict[str, str | None]:
    c = one(objs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def check_ports(rendered: dict[str, list[dict[str, Any]]]) -> str:
    """The check the agent will make reaches the load balancer's real listener."""
    done = []
    for set_name, objs in rendered.items():
        env = agent_env(objs)
        if "CLUSTER_ID" not in env:
            continue
        proto, port, match = env.get("PUBLIC_PROTOCOL"), env.get("PUBLIC_PORT"), env.get("MATCH_VERDICT")
        where = f"{set_name}: checks {proto}:{port}"
        if proto not in ("HTTP", "HTTPS") or not (port or "").isdigit() or match not in ("true", "false"):
            raise Failed(f"{where}: PUBLIC_PROTOCOL, PUBLIC_PORT and MATCH_VERDICT must be set with CLUSTER_ID (got {proto}, {port}, {match})")
        ingresses = [o for o in objs if o["kind"] == "Ingress"]
        svc = one(objs, "Service", RELEASE)
        if ingresses:
            ing = ingresses[0]
            ann = ing["metadata"]["annotations"]
            listen = json.loads(ann.get("alb.ingress.kubernetes.io/listen-ports", "null"))
            if listen != [{proto: int(port)}]:
                raise Failed(f"{where}, but the Ingress joins {listen}")
            hosts = [r.get("host") for r in ing["spec"]["rules"]]
            if hosts != [env["PUBLIC_HOSTNAME"]] and not all(hosts):
                raise Failed(f"{where}: the Ingress rule has no host ({hosts}); it would match every host on the shared ALB")
            if ing["spec"].get("tls") and proto != "HTTPS":
                raise Failed(f"{where}: the Ingress has TLS but joins no HTTPS listener")
            if match != "true" and set_name == "ingress":
                raise Failed(f"{where}: the Ingress option must match the verdict string by default (a redirect or a foreign 200 would pass)")
            done.append(f"{set_name} {proto}:{port} = ALB listener, host {hosts[0]}, match {match}")
        elif svc["spec"]["type"] == "LoadBalancer":
            ann = svc["metadata"].get("annotations", {})
            ports = {p["port"]: p["name"] for p in svc["spec"]["ports"]}
            if int(port) not in ports:
                raise Failed(f"{where}, but the Service listens on {sorted(ports)}")
            ssl_ports = (ann.get("service.beta.kubernetes.io/aws-load-balancer-ssl-ports") or "").split(",")
            tls = ports[int(port)] in ssl_ports or str(port) in ssl_ports
            if (proto == "HTTPS") != tls or (tls and not ann.get("service.beta.kubernetes.io/aws-load-balancer-ssl-cert")):
                raise Failed(f"{where}, but the NLB listener on {port} is {'TLS' if tls else 'plain TCP'}")
            if match != "false":
                raise Failed(f"{where}: the NLB option leaves string matching off by default (a listener of its own; it costs extra)")
            done.append(f"{set_name} {proto}:{port} = NLB listener, match {match}")
    return "; ".join(done)


def drain_seconds() -> int:
    """The agent's drain after SIGTERM, from the code (`drain: Duration::from_secs(N)`)."""
    src = (ROOT / "src/publish/http/mod.rs").read_text()
    m = re.search(r"drain: Duration::from_secs\((\d+)\)", src)
    if not m:
        raise Failed("cannot find the agent's drain period (drain: Duration::from_secs(N)) in src/publish/http/mod.rs")
    return int(m.group(1))


def check_rollout(rendered: dict[str, list[dict[str, Any]]]) -> str:
    drain = drain_seconds()
    for set_name, objs in rendered.items():
        ds = one(objs, "DaemonSet")
        pod = ds["spec"]["template"]["spec"]
        sleep = (((pod["containers"][0].get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds")
        grace = pod.get("terminationGracePeriodSeconds")
        if not isinstance(sleep, int) or not isinstance(grace, int):
            raise Failed(f"{set_name}: the DaemonSet needs a preStop sleep and a termination grace period (got {sleep}, {grace})")
        if grace <= sleep + drain:
            raise Failed(f"{set_name}: terminationGracePeriodSeconds {grace} <= preStop sleep {sleep} + the agent's {drain} s drain")
        for o in objs:
            for key in ("service.beta.kubernetes.io/aws-load-balancer-target-group-attributes", "alb.ingress.kubernetes.io/target-group-attributes"):
                attrs = dict(a.split("=", 1) for a in (o["metadata"].get("annotations") or {}).get(key, "").split(",") if "=" in a)
                delay = attrs.get("deregistration_delay.timeout_seconds")
                if key in (o["metadata"].get("annotations") or {}) and (delay is None or int(delay) >= sleep):
                    raise Failed(f"{set_name}: {o['kind']} deregistration delay {delay} is not shorter than the preStop sleep {sleep}")
            if o["kind"] == "Service" and o["spec"]["type"] == "LoadBalancer" and "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes" not in o["metadata"].get("annotations", {}):
                raise Failed(f"{set_name}: the NLB Service does not set its deregistration delay (default 300 s)")
            if o["kind"] == "Ingress" and "alb.ingress.kubernetes.io/target-group-attributes" not in o["metadata"]["annotations"]:
                raise Failed(f"{set_name}: the Ingress does not set its deregistration delay (default 300 s)")
        mu = str(((ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", ""))
        if not mu.endswith("%") or int(mu[:-1]) > 25:
            raise Failed(f"{set_name}: maxUnavailable {mu!r}: use a percentage of at most 25% so most replicas stay in service")
    docs = {p: (ROOT / p).read_text() for p in ("README.md", "docs/walkthrough.md", "deploy/helm/failover-agent/README.md")}
    step = f"{READINESS_GATE_LABEL}=enabled"
    missing = [p for p, text in docs.items() if step not in text]
    if missing:
        raise Failed(f"the readiness-gate step `kubectl label namespace ... {step}` is not documented in {', '.join(missing)}")
    return f"preStop sleep > deregistration delay; grace > sleep + {drain} s drain; maxUnavailable <= 25%; readiness-gate label in the manifest and documented in {len(docs)} files"


# ---------------------------------------------------------------- main


def write() -> None:
    CRDS_COPY.write_text(CRDS_SRC.read_text())
    print(f"wrote {CRDS_COPY.relative_to(ROOT)}")
    if ALERTS_SRC.exists():
        ALERTS_COPY.write_text(ALERTS_SRC.read_text())
        print(f"wrote {ALERTS_COPY.relative_to(ROOT)}")
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(manifest_text())
    print(f"wrote {MANIFEST.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="refresh the chart's copies and the rendered manifest first")
    args = ap.parse_args()
    started = time.monotonic()
    if args.write:
        write()

    failures = 0
    state: dict[str, Any] = {}

    def run(name: str, fn: Callable[[], str]) -> None:
        nonlocal failures
        try:
            print(f"ok   {name:9} {fn()}")
        except Failed as e:
            failures += 1
            print(f"FAIL {name:9} {e}")
        except helm.HelmError as e:
            failures += 1
            print(f"FAIL {name:9} helm: {e}")

    def do_render() -> str:
        state["rendered"] = {k: objects(render(v)) for k, v in VALUE_SETS.items()}
        return check_render(state["rendered"])

    run("lint", check_lint)
    run("render", do_render)
    if "rendered" in state:
        r = state["rendered"]
        run("schema", lambda: check_schema(r))
        run("alerts", lambda: check_promtool(r))
        run("security", lambda: check_security(r))
        run("rbac", lambda: check_rbac(r))
        run("values", lambda: check_values(r))
        run("ports", lambda: check_ports(r))
        run("rollout", lambda: check_rollout(r))
    run("sources", check_sources)
    run("copies", check_copies)
    run("manifest", lambda: check_manifest(manifest_text()))

    took = time.monotonic() - started
    if failures:
        print(f"deploy/check.py: {failures} check(s) failed ({took:.1f}s)")
        return 1
    print(f"deploy/check.py: all checks passed ({took:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
