#!/usr/bin/env python3
"""moto-backed fake AWS (Route 53, ELBv2, CloudWatch) for failover-agent integration tests.

Spawned by the Rust tests as `.venv/bin/python tests/aws/moto_server.py`.
Prints `READY <port>` once listening, then answers JSON control commands read
from stdin (one per line) with `OK`, `OK <json>` or `ERR <message>`.
Exits when stdin reaches EOF. See README.md for the protocol and the patches;
route53_fixes.py (imported below) fixes moto's Route 53 write paths.
"""

import copy
import datetime
import http
import io
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from urllib.parse import parse_qs

try:
    import boto3
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.elbv2.models import FakeTargetGroup
    from moto.moto_api._internal import moto_api_backend
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
    from moto.route53.models import route53_backends
    from moto.route53.responses import Route53
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    import cbor_bridge  # CloudWatch's RPC v2 CBOR protocol (the Rust SDK's) over moto's JSON
    import route53_fixes  # noqa: F401 - patches moto's Route 53 to behave like AWS
    import quota  # GetAccountLimit and TooManyHealthChecks (after route53_fixes: wraps it)
    import cloudwatch_alarms  # CLOUDWATCH_METRIC checks and alarm evaluation (after route53_fixes)
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends
except ImportError as e:  # one line for the Rust fixture (tests/it/moto.rs) to show
    # A missing package, or one at another version than .ci/requirements.txt pins.
    what = e.name if isinstance(e, ModuleNotFoundError) else str(e).split(" (")[0].removeprefix("cannot import ")
    sys.exit(f"tests/aws/moto_server.py: python3 cannot import {what}: run scripts/test "
             "(or .venv/bin/pip install -r .ci/requirements.txt and put .venv/bin first on PATH)")

LOCK = threading.Lock()  # guards the state below (the server is threaded)
TARGET_HEALTH: dict = {}  # target group arn -> {target id -> state}
CHECK_STATUS: dict = {}  # health check id -> number of failing checkers
THROTTLE: dict = {}  # operation -> [remaining, error code]
OUTAGE = False
STATS: Counter = Counter()  # operation -> requests seen, plus "throttled"
CALLS: dict = {}  # operation -> monotonic times of its requests since stats_reset
BUCKETS: dict = {}  # operation -> AccountBucket (aws_bucket command)
# fail_nth: the Route 53 requests since the last fail_nth command, and which of them fail
FAULT: dict = {}  # n, times, code, status, message, seen, ops, failed (see fault_reset)
R53_SNAPSHOT: dict = {}  # (account, partition) -> Route 53 backend state (r53_snapshot)
R53_STATE = ("zones", "health_checks", "resource_tags", "query_logging_configs", "delegation_sets")
CONTROL_HEADER = "X-Moto-Control"  # marks create_alb's own calls: not counted/failed

# ---- patch 1: ELBv2 target health. moto reports every registered IP target
# "healthy"; apply the overrides set by the target_health command on top.
REASONS = {
    "healthy": (None, None),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotRegistered", "Target is not registered to the target group"),
    "unavailable": ("Target.HealthCheckDisabled", "Health checks are disabled"),
}
_moto_health_for = FakeTargetGroup.health_for


def _health_for(self, target, ec2_backend):
    status = _moto_health_for(self, target, ec2_backend)
    state = TARGET_HEALTH.get(self.arn, {}).get(target["Id"])
    if state:
        status.status = state
        status.reason, status.description = REASONS[state]
    return status


FakeTargetGroup.health_for = _health_for

# ---- patch 2: GetHealthCheckStatus. moto returns one hard-coded passing
# observation; AWS returns one per checker (here 8 regions x 2 checkers).
CHECKERS = [(region, f"15.177.{i * 8 + j}.{10 + j}") for i, region in enumerate(
    ["us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1",
     "ap-southeast-2", "ap-northeast-1", "sa-east-1"]) for j in range(2)]
OK_REPORT = "Success: HTTP Status Code 200, OK"
FAIL_REPORT = "Failure: HTTP Status Code 503, Service Unavailable. Resolved IP: {ip}"


def _get_health_check_status(self):
    check_id = self._get_param("HealthCheckId")
    self.backend.get_health_check(check_id)  # NoSuchHealthCheck if unknown
    failing, now = CHECK_STATUS.get(check_id, 0), utcnow()
    return ActionResult({"HealthCheckObservations": [
        {"Region": region, "IPAddress": ip, "StatusReport": {
            "Status": FAIL_REPORT.format(ip=ip) if n < failing else OK_REPORT,
            "CheckedTime": now}} for n, (region, ip) in enumerate(CHECKERS)]})


Route53.get_health_check_status = _get_health_check_status


# ---- patch 3: Route 53 publishes every check's status to CloudWatch (us-east-1) as
# AWS/Route53 HealthCheckStatus: 1 when more than 18% of its checkers report
# success, else 0. Before CloudWatch answers a read, the launcher writes each
# check's current status as that metric's one datapoint, at the start of the last
# complete minute (Route 53's latest one-minute value): never after the end time a
# reader computed a moment before, even across a minute boundary.
def check_healthy(check_id):
    ok = len(CHECKERS) - min(CHECK_STATUS.get(check_id, 0), len(CHECKERS))
    return ok / len(CHECKERS) > 0.18


def publish_check_metrics():
    for (account, _part), r53 in r53_backends():
        cw = cloudwatch_backends[account]["us-east-1"]
        cw.metric_data = [m for m in cw.metric_data
                          if not (m.namespace == "AWS/Route53" and m.name == "HealthCheckStatus")]
        minute = utcnow().replace(second=0, microsecond=0) - datetime.timedelta(minutes=1)
        for check_id in r53.health_checks:
            cw.metric_data.append(MetricDatum(
                "AWS/Route53", "HealthCheckStatus", 1.0 if check_healthy(check_id) else 0.0,
                [{"Name": "HealthCheckId", "Value": check_id}], minute, None))


# ---- middleware: operation names, stats, throttling, account buckets, outage
R53_OPS = [(m, re.compile(rx), op) for m, rx, op in [  # paths after /2013-04-01
    ("POST", r"/hostedzone", "CreateHostedZone"),
    ("GET", r"/hostedzone", "ListHostedZones"),
    ("GET", r"/hostedzone/[^/]+", "GetHostedZone"),
    ("POST", r"/hostedzone/[^/]+", "UpdateHostedZoneComment"),
    ("DELETE", r"/hostedzone/[^/]+", "DeleteHostedZone"),
    ("POST", r"/hostedzone/[^/]+/rrset/?", "ChangeResourceRecordSets"),
    ("GET", r"/hostedzone/[^/]+/rrset/?", "ListResourceRecordSets"),
    ("GET", r"/hostedzonesbyname", "ListHostedZonesByName"),
    ("GET", r"/hostedzonecount", "GetHostedZoneCount"),
    ("POST", r"/healthcheck", "CreateHealthCheck"),
    ("GET", r"/healthcheck", "ListHealthChecks"),
    ("GET", r"/healthcheckcount", "GetHealthCheckCount"),
    ("GET", r"/healthcheck/[^/]+", "GetHealthCheck"),
    ("POST", r"/healthcheck/[^/]+", "UpdateHealthCheck"),
    ("DELETE", r"/healthcheck/[^/]+", "DeleteHealthCheck"),
    ("GET", r"/healthcheck/[^/]+/status", "GetHealthCheckStatus"),
    ("POST", r"/tags/(healthcheck|hostedzone)", "ListTagsForResources"),
    ("POST", r"/tags/(healthcheck|hostedzone)/[^/]+", "ChangeTagsForResource"),
    ("GET", r"/tags/(healthcheck|hostedzone)/[^/]+", "ListTagsForResource"),
    ("GET", r"/change/[^/]+", "GetChange"),
    ("GET", r"/accountlimit/[^/]+", "GetAccountLimit"),
]]
MESSAGES = {
    "Throttling": "Rate exceeded",
    "PriorRequestNotComplete": "The request was rejected because Route 53 was "
                               "still processing a prior request.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
    "InternalFailure": "The request processing has failed because of an unknown error, "
                       "exception or failure.",
}
NAMESPACES = {
    "route53": "https://route53.amazonaws.com/doc/2013-04-01/",
    "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
}


def classify(environ):
    """(signing service, AWS operation name) of a request."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    if cbor_bridge.is_cbor(environ):  # CloudWatch: POST /service/<target>/operation/<Op>
        return "monitoring", (cbor_bridge.operation(environ) or ("", f"{method} {path}"))[1]
    if path.startswith("/2013-04-01/"):  # Route 53, REST-XML
        rest = path[len("/2013-04-01"):]
        return "route53", next((op for m, rx, op in R53_OPS
                                if m == method and rx.fullmatch(rest)), f"{method} {path}")
    # Query protocol (ELBv2, ...): the service is in the SigV4 credential scope,
    # the operation in the Action parameter of the form body or query string.
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/",
                      environ.get("HTTP_AUTHORIZATION", ""))
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)  # for moto to read again
        params.update(parse_qs(body.decode()))
    return (scope.group(1) if scope else "unknown",
            params.get("Action", [f"{method} {path}"])[0])


def error_response(start_response, service, status, code, err_type, message=None):
    """An AWS error in the service's wire format (REST-XML / query: same shape; CloudWatch:
    RPC v2 CBOR)."""
    if service == "monitoring":
        return cbor_bridge.respond(start_response, f"{status} {http.HTTPStatus(status).phrase}",
                                   cbor_bridge.error_body(code, message or MESSAGES.get(code, code)))
    rid = str(uuid.uuid4())
    ns = f' xmlns="{NAMESPACES[service]}"' if service in NAMESPACES else ""
    decl = '<?xml version="1.0"?>\n' if service == "route53" else ""
    message = message or MESSAGES.get(code, code)
    body = (f"{decl}<ErrorResponse{ns}><Error><Type>{err_type}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
    start_response(f"{status} {http.HTTPStatus(status).phrase}", [
        ("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", rid)])
    return [body]


class AccountBucket:
    """AWS's account-wide token bucket for one operation: `burst` tokens, refilled
    at `rate`/s, while the rest of the account takes `others`/s continuously."""

    def __init__(self, burst, rate, others):
        self.burst, self.rate, self.others = float(burst), float(rate), float(others)
        if not (self.burst >= 1 and self.rate > 0 and self.others >= 0):
            raise ValueError("need burst >= 1, rate > 0, others >= 0")
        self.tokens, self.at = self.burst, time.monotonic()  # starts full

    def take(self):
        """Takes a token for one request; False if there is none (throttled)."""
        now = time.monotonic()
        net = (now - self.at) * (self.rate - self.others)
        self.tokens, self.at = min(self.burst, max(0.0, self.tokens + net)), now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def rate_of(times):
    """The rate command's reply for sorted request times."""
    def most_within(window):  # max requests in any `window` seconds
        best = first = 0
        for last, t in enumerate(times):
            while t - times[first] >= window:
                first += 1
            best = max(best, last - first + 1)
        return best
    span = times[-1] - times[0] if times else 0.0
    return {"calls": len(times), "seconds": round(span, 3),
            "per_second": round(len(times) / span, 3) if span else 0.0,
            "max_in_any_1s": most_within(1.0), "max_in_any_10s": most_within(10.0)}


def fault_reset(n=0, times=1, code="InternalFailure", status=None, message=None):
    """Arms fail_nth (n 0: disarmed) and restarts its count; returns the last window."""
    n, times = int(n), int(times)
    if n < 0 or times < 1:
        raise ValueError("need n >= 0 (0 disarms) and times >= 1")
    if status is None:  # AWS's status for the usual codes; any other code is the caller's fault
        status = {"InternalFailure": 500, "ServiceUnavailable": 503}.get(code, 400)
    status = int(status)
    if not 400 <= status <= 599:
        raise ValueError("status must be 400-599")
    last = {k: FAULT.get(k, d) for k, d in (("seen", 0), ("ops", []), ("failed", []))}
    FAULT.clear()
    FAULT.update(n=n, times=times, code=code, status=status, message=message,
                 seen=0, ops=[], failed=[])
    return last


fault_reset()


def injected_fault(service, op):
    """Counts a Route 53 request for fail_nth; (status, code, message) if it must fail."""
    if service != "route53":
        return None
    FAULT["seen"] += 1
    i = FAULT["seen"]
    FAULT["ops"].append(op)
    if not FAULT["n"] or not FAULT["n"] <= i < FAULT["n"] + FAULT["times"]:
        return None
    FAULT["failed"].append([i, op])
    STATS["injected"] += 1
    return (FAULT["status"], FAULT["code"],
            FAULT["message"] or f"Injected failure of Route 53 request #{i} ({op})")


def middleware(app):
    """Count every AWS request; fail it if fail_nth, an outage, a throttle or an
    empty account bucket says so."""
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api") or \
                environ.get("HTTP_" + CONTROL_HEADER.upper().replace("-", "_")):
            return app(environ, start_response)
        service, op = classify(environ)
        with LOCK:
            STATS[op] += 1
            CALLS.setdefault(op, []).append(time.monotonic())
            pending, bucket = THROTTLE.get(op), BUCKETS.get(op)
            if fault := injected_fault(service, op):
                status, code, message = fault
                return error_response(start_response, service, status, code,
                                      "Receiver" if status >= 500 else "Sender", message)
            if OUTAGE:
                return error_response(start_response, service, 503, "ServiceUnavailable", "Receiver")
            if pending and pending[0] > 0:
                pending[0] -= 1
                STATS["throttled"] += 1
                return error_response(start_response, service, 400, pending[1], "Sender")
            if bucket and not bucket.take():
                STATS["throttled"] += 1
                return error_response(start_response, service, 400, "Throttling", "Sender")
            if service == "monitoring" and op == "GetMetricData":
                publish_check_metrics()
        if op == "GetAccountLimit":  # moto serves no GetAccountLimit
            return quota.account_limit(environ, start_response)
        if cbor_bridge.is_cbor(environ):
            return cbor_bridge.bridge(app, environ, start_response)
        return app(environ, start_response)
    return wrapped


class Server(ThreadedMotoServer):
    def _server_entry(self):  # moto's own, plus the middleware around the app
        app = middleware(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True,
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


# ---- control commands
def r53_backends():
    return [((account, part), b) for account, parts in route53_backends.items()
            for part, b in parts.items()]


def r53_snapshot():
    """Copies every Route 53 backend's state (zones and their records, health checks
    with their IDs and versions, tags) for r53_restore."""
    R53_SNAPSHOT.clear()
    for key, b in r53_backends():
        R53_SNAPSHOT[key] = copy.deepcopy({a: getattr(b, a) for a in R53_STATE})
    return {"zones": sum(len(s["zones"]) for s in R53_SNAPSHOT.values()),
            "health_checks": sum(len(s["health_checks"]) for s in R53_SNAPSHOT.values())}


def r53_restore():
    if not R53_SNAPSHOT:
        raise ValueError("no r53_snapshot to restore")
    for key, b in r53_backends():
        if key in R53_SNAPSHOT:
            for a, v in copy.deepcopy(R53_SNAPSHOT[key]).items():
                setattr(b, a, v)
        else:  # made after the snapshot: empty then
            b.__init__(b.region_name, b.account_id)


def create_alb(endpoint, c):
    """VPC, 2 subnets, internet-facing ALB (ipv4, or `ip_address_type`), N ip target groups, public zone."""
    region = c.get("region", "eu-west-1")
    ec2, elb, r53 = (boto3.client(s, endpoint_url=endpoint, region_name=region,
                                  aws_access_key_id="test", aws_secret_access_key="test")
                     for s in ("ec2", "elbv2", "route53"))
    for client in (ec2, elb, r53):
        client.meta.events.register(
            "before-sign", lambda request, **_: request.headers.__setitem__(CONTROL_HEADER, "1"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{100 + i}.0/24",
                                 AvailabilityZone=region + az)["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    alb = elb.create_load_balancer(Name=c.get("name", "test-alb"), Subnets=subnets,
                                   Scheme="internet-facing", Type="application",
                                   IpAddressType=c.get("ip_address_type", "ipv4"))["LoadBalancers"][0]
    tg_arns = []
    for i in range(int(c.get("tg_count", 1))):
        tg_arns.append(elb.create_target_group(
            Name=f"tg-{i}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
            HealthCheckPath="/healthz")["TargetGroups"][0]["TargetGroupArn"])
        if c.get("targets"):
            elb.register_targets(TargetGroupArn=tg_arns[-1],
                                 Targets=[{"Id": t, "Port": 80} for t in c["targets"]])
    elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arns[0]}])
    zone = r53.create_hosted_zone(Name=c.get("zone", "example.com"),
                                  CallerReference=str(uuid.uuid4()))["HostedZone"]
    return {"tg_arn": tg_arns[0], "tg_arns": tg_arns, "alb_arn": alb["LoadBalancerArn"],
            "alb_dns": alb["DNSName"], "alb_zone_id": alb["CanonicalHostedZoneId"],
            "zone_id": zone["Id"].split("/")[-1], "vpc_id": vpc, "subnet_ids": subnets}


def handle(c, endpoint):
    """Run one control command; returns the reply's JSON payload or None."""
    global OUTAGE
    cmd = c["cmd"]
    if cmd == "create_alb":  # not under LOCK: its requests go through the server
        return create_alb(endpoint, c)
    with LOCK:
        if cmd == "target_health":  # merges; {} clears the arn's overrides
            if bad := [s for s in c["targets"].values() if s not in REASONS]:
                raise ValueError(f"unknown target state(s) {bad}")
            if c["targets"]:
                TARGET_HEALTH.setdefault(c["arn"], {}).update(c["targets"])
            else:
                TARGET_HEALTH.pop(c["arn"], None)
        elif cmd == "check_status":
            if c["status"] not in ("Success", "Failure"):
                raise ValueError("status must be Success or Failure")
            failing = c.get("failing", len(CHECKERS)) if c["status"] == "Failure" else 0
            CHECK_STATUS[c["id"]] = int(failing)
        elif cmd == "throttle":
            THROTTLE[c["action"]] = [int(c.get("count", 1)), c.get("code", "Throttling")]
        elif cmd == "aws_bucket":
            if c.get("off"):
                BUCKETS.pop(c["action"], None)
            else:
                BUCKETS[c["action"]] = AccountBucket(
                    c.get("burst", 40), c.get("rate", 10), c.get("others", 0))
        elif cmd == "rate":
            return rate_of(CALLS.get(c["action"], []))
        elif cmd == "outage":
            OUTAGE = bool(c["on"])
        elif cmd == "fail_nth":
            return fault_reset(c["n"], c.get("times", 1), c.get("code", "InternalFailure"),
                               c.get("status"), c.get("message"))
        elif cmd == "health_check_limit":
            quota.set_limit(c["value"])
        elif cmd == "alarms":
            return cloudwatch_alarms.command(c)
        elif cmd == "r53_snapshot":
            return r53_snapshot()
        elif cmd == "r53_restore":
            r53_restore()
        elif cmd == "stats":
            return dict(STATS, throttled=STATS["throttled"], injected=STATS["injected"])
        elif cmd == "stats_reset":
            STATS.clear()
            CALLS.clear()
        elif cmd == "reset":
            moto_api_backend.reset()
            for state in (TARGET_HEALTH, CHECK_STATUS, THROTTLE, STATS, CALLS, BUCKETS):
                state.clear()
            fault_reset()
            quota.reset()
            R53_SNAPSHOT.clear()
            cloudwatch_alarms.reset()
            OUTAGE = False
        else:
            raise ValueError(f"unknown cmd {cmd!r}")
    return None


def main():
    # stdout is the protocol channel: keep a private handle to it and send fd 1
    # to stderr, so moto's stray print()s can't corrupt the protocol.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request log

    def reply(line):
        proto.write(line + "\n")
        proto.flush()

    server = Server(ip_address="127.0.0.1", port=0, verbose=False)  # OS picks a port
    server.start()  # returns once the socket is listening
    port = server.get_host_and_port()[1]
    cloudwatch_alarms.start(LOCK, CHECK_STATUS, len(CHECKERS), r53_backends)
    reply(f"READY {port}")
    while line := sys.stdin.readline():  # "" is EOF: the parent test is gone
        if line.strip():
            try:
                result = handle(json.loads(line), f"http://127.0.0.1:{port}")
                reply("OK" if result is None else "OK " + json.dumps(result))
            except Exception as e:  # noqa: BLE001 - any failure goes to the test
                reply("ERR " + f"{type(e).__name__}: {e}".replace("\n", " "))
    server.stop()


if __name__ == "__main__":
    main()
