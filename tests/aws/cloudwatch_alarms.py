"""What moto lacks for Route 53 CLOUDWATCH_METRIC checks, on a fast test clock.

Imported by moto_server.py (after route53_fixes), which calls `start()` once the
server runs and `reset()` on its reset command. Three parts:

1. Route 53 CLOUDWATCH_METRIC checks: moto drops `AlarmIdentifier` and
   `InsufficientDataHealthStatus`; they are stored (create and update) and
   returned in `HealthCheckConfig`, without the HTTP fields AWS leaves out.
2. Alarm evaluation: moto never evaluates alarms. Every TICK seconds (one
   compressed alarm period), each metric alarm in the namespaces below is judged
   on its metric's latest datapoint: no datapoint, or one older than STALE
   seconds, is missing data (INSUFFICIENT_DATA); a datapoint that breaches the
   threshold extends the alarm's breaching streak, any other ends it. The alarm
   is ALARM once the streak reaches `DatapointsToAlarm` (else
   `EvaluationPeriods`), else OK, as CloudWatch's M-of-N rule gives for N of N.
3. The check's status follows its alarm (GetHealthCheckStatus and the
   `AWS/Route53 HealthCheckStatus` metric, through moto_server's CHECK_STATUS):
   OK healthy, ALARM unhealthy, INSUFFICIENT_DATA (or no such alarm) as the
   check's InsufficientDataHealthStatus says (`LastKnownStatus`: the status it
   had, healthy at first).

Control (moto_server's `alarms` command): `{"cmd":"alarms"}` replies
`{"<region>/<alarm name>": "OK"|"ALARM"|"INSUFFICIENT_DATA"}`; `"stale": S` and
`"tick": T` (seconds) change the clock.
"""

import threading
import time

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow
from moto.route53.models import HealthCheck
from moto.route53.responses import Route53

NAMESPACES = ("FailoverAgent",)
CLOCK = {"tick": 1.0, "stale": 90.0}
STREAKS: dict = {}  # (account, region, alarm name) -> breaching evaluations in a row
LAST_KNOWN: dict = {}  # health check id -> healthy (bool), for LastKnownStatus
_PENDING = threading.local()  # the CreateHealthCheck config being made, for HealthCheck.__init__

# ---- part 1: CLOUDWATCH_METRIC checks keep their alarm
_moto_init = HealthCheck.__init__
_moto_create = Route53.create_health_check
_update = Route53.update_health_check  # route53_fixes' (version check and bump)


def _init(self, health_check_id, caller_reference, health_check_args):
    _moto_init(self, health_check_id, caller_reference, health_check_args)
    cfg = getattr(_PENDING, "config", None) or {}
    self.alarm_identifier = cfg.get("AlarmIdentifier")
    self.insufficient_data_health_status = cfg.get("InsufficientDataHealthStatus")


def _create(self):
    _PENDING.config = self._get_param("HealthCheckConfig") or {}
    try:
        return _moto_create(self)
    finally:
        _PENDING.config = None


def _update_health_check(self):
    check = self.backend.get_health_check(self._get_param("HealthCheckId"))
    result = _update(self)
    if alarm := self._get_param("AlarmIdentifier"):
        check.alarm_identifier = alarm
    if status := self._get_param("InsufficientDataHealthStatus"):
        check.insufficient_data_health_status = status
    return result


_moto_config = HealthCheck.health_check_config


def _config(self):
    if self.type_ != "CLOUDWATCH_METRIC":
        return _moto_config.fget(self)
    return {"Type": self.type_, "Inverted": self.inverted, "Disabled": self.disabled,
            "AlarmIdentifier": self.alarm_identifier,
            "InsufficientDataHealthStatus": self.insufficient_data_health_status}


HealthCheck.__init__ = _init
HealthCheck.health_check_config = property(_config)
Route53.create_health_check = _create
Route53.update_health_check = _update_health_check


# ---- part 2: alarm evaluation
def _breaches(alarm, value):
    t = float(alarm.threshold)
    return {"LessThanThreshold": value < t, "LessThanOrEqualToThreshold": value <= t,
            "GreaterThanThreshold": value > t,
            "GreaterThanOrEqualToThreshold": value >= t}.get(alarm.comparison_operator, False)


def _latest(cw, alarm):
    want = {(d.name, d.value) for d in alarm.dimensions}
    points = [m for m in cw.metric_data if m.namespace == alarm.namespace
              and m.name == alarm.metric_name and {(d.name, d.value) for d in m.dimensions} == want]
    return max(points, key=lambda m: m.timestamp, default=None)


def evaluate(account, region, cw):
    """Judges every alarm of `cw` in NAMESPACES on its metric's latest datapoint."""
    now = utcnow()
    for alarm in list(cw.alarms.values()):
        if alarm.namespace not in NAMESPACES:
            continue
        key = (account, region, alarm.name)
        point = _latest(cw, alarm)
        if point is None or (now - point.timestamp.replace(tzinfo=None)).total_seconds() > CLOCK["stale"]:
            STREAKS.pop(key, None)
            state = "INSUFFICIENT_DATA"
        else:
            STREAKS[key] = STREAKS.get(key, 0) + 1 if _breaches(alarm, point.value) else 0
            need = int(alarm.datapoints_to_alarm or alarm.evaluation_periods or 1)
            state = "ALARM" if STREAKS[key] >= need else "OK"
        if alarm.state_value != state:
            alarm.update_state(f"failover-agent test clock: {state}", "{}", state)


# ---- part 3: the check follows its alarm
def check_healthy(check, account):
    """The status of a CLOUDWATCH_METRIC check from its alarm's state."""
    ident = check.alarm_identifier or {}
    cw = cloudwatch_backends[account].get(ident.get("Region", ""))
    alarm = cw.alarms.get(ident.get("Name")) if cw else None
    state = alarm.state_value if alarm else "INSUFFICIENT_DATA"
    if state in ("OK", "ALARM"):
        healthy = state == "OK"
    else:
        healthy = {"Healthy": True, "Unhealthy": False}.get(
            check.insufficient_data_health_status, LAST_KNOWN.get(check.id, True))
    LAST_KNOWN[check.id] = healthy
    return healthy


def tick(check_status, checkers, r53_backends):
    """One compressed period: evaluate the alarms, then set each metric check's status."""
    for account, regions in list(cloudwatch_backends.items()):
        for region, cw in list(regions.items()):
            evaluate(account, region, cw)
    for (account, _part), r53 in r53_backends():
        for check in list(r53.health_checks.values()):
            if check.type_ == "CLOUDWATCH_METRIC":
                check_status[check.id] = 0 if check_healthy(check, account) else checkers


def alarm_states():
    return {f"{region}/{name}": a.state_value
            for _account, regions in cloudwatch_backends.items()
            for region, cw in regions.items() for name, a in cw.alarms.items()}


def command(c):
    """moto_server's `alarms` command: set the clock, reply with every alarm's state."""
    for k in ("tick", "stale"):
        if k in c:
            if float(c[k]) <= 0:
                raise ValueError(f"{k} must be positive")
            CLOCK[k] = float(c[k])
    return alarm_states()


def reset():
    STREAKS.clear()
    LAST_KNOWN.clear()
    CLOCK.update(tick=1.0, stale=90.0)


def start(lock, check_status, checkers, r53_backends):
    """Runs `tick` every CLOCK["tick"] seconds under `lock`, as a daemon thread."""
    def loop():
        while True:
            time.sleep(CLOCK["tick"])
            with lock:
                try:
                    tick(check_status, checkers, r53_backends)
                except Exception as e:  # noqa: BLE001 - keep the clock running; show why
                    print(f"cloudwatch_alarms: tick failed: {type(e).__name__}: {e}", flush=True)
    threading.Thread(target=loop, name="alarm-clock", daemon=True).start()
