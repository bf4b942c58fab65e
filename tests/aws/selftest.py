#!/usr/bin/env python3
"""Self-test of moto_server.py: spawn it exactly as the Rust tests do, drive
every control command over stdin/stdout and check the AWS side with boto3.

Run: .venv/bin/python tests/aws/selftest.py   (from the repository root)
"""

import json
import subprocess
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


class Launcher:
    def __init__(self):
        start = time.monotonic()
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "tests/aws/moto_server.py"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.ready_secs = time.monotonic() - start
        assert line.startswith("READY "), repr(line)
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def send(self, raw):
        self.proc.stdin.write(raw + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().rstrip("\n")

    def ok(self, **cmd):
        """Send a command that must succeed; returns its JSON payload (or None)."""
        reply = self.send(json.dumps(cmd))
        assert reply == "OK" or reply.startswith("OK "), f"{cmd} -> {reply}"
        return json.loads(reply[3:]) if reply != "OK" else None

    def client(self, service):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"total_max_attempts": 1}))  # no retries


def error_of(call, *args, **kwargs):
    """(code, http status, type) of the error a call must fail with."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        err = e.response["Error"]
        return err["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Type")
    raise AssertionError(f"{call.__name__} did not fail")


def main():
    m = Launcher()
    elb, r53 = m.client("elbv2"), m.client("route53")

    # -- create_alb; its own calls are not counted
    info = m.ok(cmd="create_alb", targets=["10.0.1.10", "10.0.1.11"], zone="example.com",
                tg_count=2)
    assert set(info) >= {"tg_arn", "tg_arns", "alb_dns", "alb_zone_id", "zone_id"}, info
    assert len(info["tg_arns"]) == 2 and info["tg_arn"] == info["tg_arns"][0]
    assert "/" not in info["zone_id"]
    tg0, tg1 = info["tg_arns"]
    tgs = elb.describe_target_groups(TargetGroupArns=[tg0, tg1])["TargetGroups"]
    assert [t["TargetGroupName"] for t in tgs] == ["tg-0", "tg-1"]
    assert all(t["TargetType"] == "ip" and t["Port"] == 80 for t in tgs)
    lb = elb.describe_load_balancers()["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing" and lb["DNSName"] == info["alb_dns"]
    assert r53.get_hosted_zone(Id=info["zone_id"])["HostedZone"]["Name"] == "example.com."
    m.ok(cmd="stats_reset")

    # -- target_health
    def health(tg):
        descs = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return {d["Target"]["Id"]: d["TargetHealth"] for d in descs}

    assert {t: h["State"] for t, h in health(tg0).items()} == \
        {"10.0.1.10": "healthy", "10.0.1.11": "healthy"}
    m.ok(cmd="target_health", arn=tg0, targets={"10.0.1.10": "unhealthy"})
    h = health(tg0)
    assert h["10.0.1.10"] == {"State": "unhealthy", "Reason": "Target.FailedHealthChecks",
                              "Description": "Health checks failed"}, h
    assert h["10.0.1.11"]["State"] == "healthy" and "Reason" not in h["10.0.1.11"]
    assert all(v["State"] == "healthy" for v in health(tg1).values())
    for state in ("initial", "draining", "unused", "unavailable", "healthy"):
        m.ok(cmd="target_health", arn=tg0, targets={"10.0.1.11": state})
        assert health(tg0)["10.0.1.11"]["State"] == state
        assert health(tg0)["10.0.1.10"]["State"] == "unhealthy"  # overrides merge
    m.ok(cmd="target_health", arn=tg0, targets={})
    assert all(v["State"] == "healthy" for v in health(tg0).values())
    assert m.send('{"cmd":"target_health","arn":"x","targets":{"a":"sick"}}').startswith("ERR ")

    # -- health checks: create (CallerReference idempotency), tags, update
    config = {"Type": "HTTPS", "FullyQualifiedDomainName": "eu.example.com", "Port": 443,
              "ResourcePath": "/healthz", "RequestInterval": 10, "FailureThreshold": 2,
              "Regions": ["us-east-1", "eu-west-1", "ap-southeast-1"]}
    hc = r53.create_health_check(CallerReference="ref-1", HealthCheckConfig=config)["HealthCheck"]
    again = r53.create_health_check(CallerReference="ref-1", HealthCheckConfig=config)
    assert again["HealthCheck"]["Id"] == hc["Id"]
    assert error_of(r53.create_health_check, CallerReference="ref-1",
                    HealthCheckConfig=dict(config, Port=8443))[:2] == \
        ("HealthCheckAlreadyExists", 409)
    r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=hc["Id"],
                                 AddTags=[{"Key": "owner", "Value": "failover-agent"}])
    assert r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=hc["Id"])[
        "ResourceTagSet"]["Tags"] == [{"Key": "owner", "Value": "failover-agent"}]
    others = [r53.create_health_check(CallerReference=f"ref-{i}", HealthCheckConfig=config)[
        "HealthCheck"]["Id"] for i in range(2, 5)]
    sets = r53.list_tags_for_resources(ResourceType="healthcheck",
                                       ResourceIds=[hc["Id"], others[0]])["ResourceTagSets"]
    assert [len(s["Tags"]) for s in sets] == [1, 0]
    pages = list(r53.get_paginator("list_health_checks").paginate(
        PaginationConfig={"PageSize": 3}))
    assert [len(p["HealthChecks"]) for p in pages] == [3, 1]
    assert {c["Id"] for p in pages for c in p["HealthChecks"]} == {hc["Id"], *others}
    upd = r53.update_health_check(HealthCheckId=hc["Id"], HealthCheckVersion=1,
                                  Port=8443, FailureThreshold=3)["HealthCheck"]
    assert upd["Id"] == hc["Id"] and upd["HealthCheckVersion"] == 2
    assert upd["HealthCheckConfig"]["Port"] == 8443
    assert upd["HealthCheckConfig"]["Regions"] == config["Regions"]  # kept
    assert error_of(r53.update_health_check, HealthCheckId=hc["Id"], HealthCheckVersion=1,
                    Port=80)[:2] == ("HealthCheckVersionMismatch", 409)

    # -- check_status
    def reports():
        obs = r53.get_health_check_status(HealthCheckId=hc["Id"])["HealthCheckObservations"]
        assert len(obs) == 16 and len({o["IPAddress"] for o in obs}) == 16
        assert all(o["Region"] and o["StatusReport"]["CheckedTime"] for o in obs)
        return [o["StatusReport"]["Status"].split(":")[0] for o in obs]

    assert reports() == ["Success"] * 16
    m.ok(cmd="check_status", id=hc["Id"], status="Failure")
    assert reports() == ["Failure"] * 16
    m.ok(cmd="check_status", id=hc["Id"], status="Failure", failing=4)
    assert sorted(reports()) == ["Failure"] * 4 + ["Success"] * 12
    m.ok(cmd="check_status", id=hc["Id"], status="Success")
    assert reports() == ["Success"] * 16

    # -- records: latency alias A/AAAA with health checks, failover, weighted
    zone = info["zone_id"]

    def alias(name, set_id, typ="A", dns=None, **extra):
        return dict({"Name": name, "Type": typ, "SetIdentifier": set_id, "HealthCheckId": hc["Id"],
                     "AliasTarget": {"HostedZoneId": info["alb_zone_id"],
                                     "DNSName": dns or f"dualstack.{info['alb_dns']}",
                                     "EvaluateTargetHealth": True}}, **extra)

    def change(*changes):
        return r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
            "Changes": [{"Action": a, "ResourceRecordSet": rs} for a, rs in changes]})

    def records():
        return {(r["Name"], r["Type"], r.get("SetIdentifier")): r for r in
                r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]}

    eu = alias("api.example.com", "eu-west-1", Region="eu-west-1")
    change(("CREATE", eu), ("CREATE", alias("api.example.com", "us-east-1", Region="us-east-1")),
           ("CREATE", alias("api.example.com", "eu-west-1", "AAAA", Region="eu-west-1")),
           ("UPSERT", alias("fo.example.com.", "primary", Failover="PRIMARY")),
           ("UPSERT", {"Name": "w.example.com", "Type": "A", "SetIdentifier": "w1", "Weight": 10,
                       "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}))
    rec = records()
    got = rec[("api.example.com.", "A", "eu-west-1")]
    assert got["Region"] == "eu-west-1" and got["HealthCheckId"] == hc["Id"]
    assert got["AliasTarget"]["DNSName"] == f"dualstack.{info['alb_dns']}"  # as sent
    assert rec[("fo.example.com.", "A", "primary")]["Failover"] == "PRIMARY"
    assert rec[("w.example.com.", "A", "w1")]["Weight"] == 10
    try:
        change(("CREATE", eu), ("DELETE", alias("nope.example.com", "eu-west-1")))
        raise AssertionError("CREATE of an existing record succeeded")
    except ClientError as e:  # AWS's format: every failed change, in brackets
        assert e.response["Error"]["Code"] == "InvalidChangeBatch"
        assert e.response["Error"]["Message"] == (
            "[Tried to create resource record set [name='api.example.com.', type='A', "
            "set-identifier='eu-west-1'] but it already exists, Tried to delete resource "
            "record set [name='nope.example.com.', type='A', set-identifier='eu-west-1'] "
            "but it was not found]"), e.response["Error"]["Message"]
    assert error_of(change, ("DELETE", dict(eu, HealthCheckId=others[0])))[0] == \
        "InvalidChangeBatch"
    assert error_of(change, ("DELETE", alias("nope.example.com", "eu-west-1")))[0] == \
        "InvalidChangeBatch"
    # a failing batch changes nothing
    assert error_of(change, ("DELETE", eu), ("CREATE", eu), ("CREATE", eu))[0] == \
        "InvalidChangeBatch"
    assert records() == rec
    # DELETE matches alias DNS names case- and trailing-dot-insensitively, and
    # removes only that (name, type, SetIdentifier)
    change(("DELETE", alias("api.example.com", "eu-west-1", Region="eu-west-1",
                            dns=f"DUALSTACK.{info['alb_dns'].upper()}.")))
    assert set(rec) - set(records()) == {("api.example.com.", "A", "eu-west-1")}
    change(("UPSERT", eu), ("UPSERT", dict(eu, AliasTarget=dict(eu["AliasTarget"],
                                                                EvaluateTargetHealth=False))))
    assert records()[("api.example.com.", "A", "eu-west-1")]["AliasTarget"][
        "EvaluateTargetHealth"] is False

    # -- throttle: AWS error codes as botocore parses them, then recovery
    m.ok(cmd="throttle", action="DescribeTargetHealth", count=2)
    for _ in range(2):
        assert error_of(elb.describe_target_health, TargetGroupArn=tg0) == \
            ("Throttling", 400, "Sender")
    health(tg0)
    m.ok(cmd="throttle", action="ListHealthChecks", count=1)
    assert error_of(r53.list_health_checks) == ("Throttling", 400, "Sender")
    r53.list_health_checks()
    m.ok(cmd="throttle", action="ChangeResourceRecordSets", count=1,
         code="PriorRequestNotComplete")
    assert error_of(change, ("UPSERT", eu)) == ("PriorRequestNotComplete", 400, "Sender")
    change(("UPSERT", eu))
    for op, call in [("GetHealthCheckStatus", lambda: r53.get_health_check_status(
            HealthCheckId=hc["Id"])), ("UpdateHealthCheck", lambda: r53.update_health_check(
            HealthCheckId=hc["Id"], Port=443)), ("ListTagsForResources",
            lambda: r53.list_tags_for_resources(ResourceType="healthcheck",
                                                ResourceIds=[hc["Id"]]))]:
        m.ok(cmd="throttle", action=op, count=1)
        assert error_of(call)[0] == "Throttling", op
        call()

    # -- outage: 503 ServiceUnavailable everywhere, control still works
    m.ok(cmd="outage", on=True)
    assert error_of(r53.list_health_checks)[:2] == ("ServiceUnavailable", 503)
    assert error_of(elb.describe_target_health, TargetGroupArn=tg0)[:2] == \
        ("ServiceUnavailable", 503)
    m.ok(cmd="stats")
    m.ok(cmd="outage", on=False)
    r53.list_health_checks()

    # -- aws_bucket (refill 1/s, all of it taken by the rest of the account: 2
    # tokens, then Throttling for good) and rate, over the calls since stats_reset
    m.ok(cmd="stats_reset")
    m.ok(cmd="aws_bucket", action="DescribeTargetHealth", burst=2, rate=1, others=1)
    health(tg0), health(tg0)
    for _ in range(2):
        assert error_of(elb.describe_target_health, TargetGroupArn=tg0) == \
            ("Throttling", 400, "Sender")
    m.ok(cmd="aws_bucket", action="DescribeTargetHealth", off=True)
    health(tg0)
    assert m.ok(cmd="stats") == {"DescribeTargetHealth": 5, "throttled": 2, "injected": 0}
    got = m.ok(cmd="rate", action="DescribeTargetHealth")
    assert got["calls"] == 5 and got["max_in_any_10s"] == 5 and got["seconds"] < 10, got
    assert 1 <= got["max_in_any_1s"] <= 5 and got["per_second"] > 0.5, got
    assert m.ok(cmd="rate", action="ListHealthChecks")["calls"] == 0
    assert m.send('{"cmd":"aws_bucket","action":"X","rate":0}').startswith("ERR ")

    # -- stats: every AWS request, throttled and outage ones included
    m.ok(cmd="stats_reset")
    assert m.ok(cmd="stats") == {"throttled": 0, "injected": 0}
    m.ok(cmd="throttle", action="GetHealthCheck", count=1)
    error_of(r53.get_health_check, HealthCheckId=hc["Id"])
    r53.get_health_check(HealthCheckId=hc["Id"])
    for _ in range(3):
        health(tg0)
    m.ok(cmd="outage", on=True)
    error_of(r53.list_health_checks)
    m.ok(cmd="outage", on=False)
    r53.delete_health_check(HealthCheckId=others[2])
    r53.list_resource_record_sets(HostedZoneId=zone)
    assert m.ok(cmd="stats") == {"GetHealthCheck": 2, "DescribeTargetHealth": 3,
                                 "ListHealthChecks": 1, "DeleteHealthCheck": 1,
                                 "ListResourceRecordSets": 1, "throttled": 1, "injected": 0}
    assert error_of(r53.get_health_check, HealthCheckId=others[2])[:2] == \
        ("NoSuchHealthCheck", 404)

    # -- fail_nth: the K-th Route 53 request counted from the command (any operation,
    # ELBv2 not counted) fails, `times` in a row; the reply describes the last window
    m.ok(cmd="stats_reset")
    first = m.ok(cmd="fail_nth", n=2, code="InvalidInput", status=400)
    assert set(first) == {"seen", "ops", "failed"} and first["failed"] == [], first
    r53.list_health_checks()
    health(tg0)  # not Route 53: not counted
    try:
        r53.get_health_check(HealthCheckId=hc["Id"])
        raise AssertionError("the 2nd Route 53 request did not fail")
    except ClientError as e:
        assert (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["Error"]["Type"]) == ("InvalidInput", 400, "Sender")
        assert e.response["Error"]["Message"] == \
            "Injected failure of Route 53 request #2 (GetHealthCheck)", e.response["Error"]
        assert e.response["ResponseMetadata"]["RequestId"]
    r53.get_health_check(HealthCheckId=hc["Id"])  # once only
    assert m.ok(cmd="fail_nth", n=1, times=2) == {
        "seen": 3, "ops": ["ListHealthChecks", "GetHealthCheck", "GetHealthCheck"],
        "failed": [[2, "GetHealthCheck"]]}
    # default InternalFailure (500, retryable): twice in a row, whatever the operation
    assert error_of(r53.list_tags_for_resources, ResourceType="healthcheck",
                    ResourceIds=[hc["Id"]]) == ("InternalFailure", 500, "Receiver")
    assert error_of(change, ("UPSERT", eu)) == ("InternalFailure", 500, "Receiver")
    change(("UPSERT", eu))
    assert m.ok(cmd="fail_nth", n=0) == {  # disarms
        "seen": 3, "ops": ["ListTagsForResources", "ChangeResourceRecordSets",
                           "ChangeResourceRecordSets"],
        "failed": [[1, "ListTagsForResources"], [2, "ChangeResourceRecordSets"]]}
    r53.list_health_checks()
    assert m.ok(cmd="stats")["injected"] == 3
    for bad in ('{"cmd":"fail_nth","n":-1}', '{"cmd":"fail_nth","n":1,"times":0}',
                '{"cmd":"fail_nth","n":1,"status":200}', '{"cmd":"fail_nth"}'):
        assert m.send(bad).startswith("ERR "), bad

    # -- r53_snapshot / r53_restore: the Route 53 state back as it was (same IDs,
    # versions, records and tags), as often as needed
    checks_before = r53.list_health_checks()["HealthChecks"]
    assert m.ok(cmd="r53_snapshot") == {"zones": 1, "health_checks": len(checks_before)}

    def tags():
        return r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=hc["Id"])[
            "ResourceTagSet"]

    records_before, tags_before = records(), tags()
    w1 = records_before[("w.example.com.", "A", "w1")]
    for _ in range(2):
        r53.create_health_check(CallerReference="after-snapshot", HealthCheckConfig=config)
        r53.delete_health_check(HealthCheckId=others[0])
        r53.update_health_check(HealthCheckId=hc["Id"], FailureThreshold=5)
        r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=hc["Id"],
                                     AddTags=[{"Key": "k", "Value": "v"}])
        change(("UPSERT", dict(w1, Weight=20)), ("DELETE", eu))
        assert records() != records_before and tags() != tags_before
        m.ok(cmd="r53_restore")
        assert r53.list_health_checks()["HealthChecks"] == checks_before
        assert records() == records_before and tags() == tags_before
    assert health(tg0)  # ELBv2 untouched

    # -- alarms: CLOUDWATCH_METRIC checks follow an alarm evaluated on the test clock
    cw = m.client("cloudwatch")
    dims = [{"Name": "Cluster", "Value": "c"}, {"Name": "App", "Value": "static/app1"}]
    cw.put_metric_alarm(AlarmName="failover-agent-x", Namespace="FailoverAgent", MetricName="AppHealthy",
                        Dimensions=dims, Statistic="Maximum", Period=60, EvaluationPeriods=2,
                        Threshold=1.0, ComparisonOperator="LessThanThreshold", TreatMissingData="missing")
    metric_cfg = {"Type": "CLOUDWATCH_METRIC", "InsufficientDataHealthStatus": "LastKnownStatus",
                  "AlarmIdentifier": {"Region": REGION, "Name": "failover-agent-x"}}
    mid = r53.create_health_check(CallerReference="metric-1", HealthCheckConfig=metric_cfg)["HealthCheck"]["Id"]
    got = r53.get_health_check(HealthCheckId=mid)["HealthCheck"]["HealthCheckConfig"]
    assert got["AlarmIdentifier"] == metric_cfg["AlarmIdentifier"] and "Port" not in got, got

    def passing():  # checkers reporting success, once the clock ticked
        time.sleep(1.5)
        obs = r53.get_health_check_status(HealthCheckId=mid)["HealthCheckObservations"]
        return sum(o["StatusReport"]["Status"].startswith("Success") for o in obs)
    assert passing() == 16 and m.ok(cmd="alarms") == {f"{REGION}/failover-agent-x": "INSUFFICIENT_DATA"}
    cw.put_metric_data(Namespace="FailoverAgent", MetricData=[{"MetricName": "AppHealthy", "Dimensions": dims, "Value": 0.0}])
    time.sleep(1.5)  # two breaching periods
    assert passing() == 0 and m.ok(cmd="alarms")[f"{REGION}/failover-agent-x"] == "ALARM"
    m.ok(cmd="alarms", stale=1)  # the agent goes silent: last known status (unhealthy) holds
    assert passing() == 0 and m.ok(cmd="alarms")[f"{REGION}/failover-agent-x"] == "INSUFFICIENT_DATA"
    r53.update_health_check(HealthCheckId=mid, HealthCheckVersion=1, InsufficientDataHealthStatus="Healthy")
    assert passing() == 16
    # -- health_check_limit: GetAccountLimit and TooManyHealthChecks (quota.py)
    count = len(r53.list_health_checks()["HealthChecks"])
    got = r53.get_account_limit(Type="MAX_HEALTH_CHECKS_BY_OWNER")
    assert got["Limit"] == {"Type": "MAX_HEALTH_CHECKS_BY_OWNER", "Value": 10_000}, got
    assert got["Count"] == count, got
    m.ok(cmd="health_check_limit", value=count)
    assert error_of(r53.create_health_check, CallerReference="over-quota",
                    HealthCheckConfig=config)[0] == "TooManyHealthChecks"
    m.ok(cmd="health_check_limit", value=count + 1)
    r53.create_health_check(CallerReference="within-quota", HealthCheckConfig=config)
    # A repeated CallerReference returns the existing check, even at the limit.
    r53.create_health_check(CallerReference="within-quota", HealthCheckConfig=config)
    got = r53.get_account_limit(Type="MAX_HEALTH_CHECKS_BY_OWNER")
    assert (got["Limit"]["Value"], got["Count"]) == (count + 1, count + 1), got
    assert m.send('{"cmd":"health_check_limit","value":-1}').startswith("ERR ")

    # -- reset: moto state, overrides, throttles, fail_nth, snapshot and stats
    m.ok(cmd="target_health", arn=tg0, targets={"10.0.1.10": "unhealthy"})
    m.ok(cmd="throttle", action="ListHealthChecks", count=5)
    m.ok(cmd="fail_nth", n=1, code="InvalidInput")
    m.ok(cmd="reset")
    assert r53.list_health_checks()["HealthChecks"] == []
    assert r53.list_hosted_zones()["HostedZones"] == []
    assert r53.get_account_limit(Type="MAX_HEALTH_CHECKS_BY_OWNER")["Limit"]["Value"] == 10_000
    assert error_of(elb.describe_target_health, TargetGroupArn=tg0)[0] == "TargetGroupNotFound"
    assert m.ok(cmd="stats") == {"ListHealthChecks": 1, "ListHostedZones": 1, "GetAccountLimit": 1,
                                 "DescribeTargetHealth": 1, "throttled": 0, "injected": 0}
    assert m.send('{"cmd":"r53_restore"}').startswith("ERR ")
    info = m.ok(cmd="create_alb", targets=["10.0.1.10"])  # works again after reset
    assert health(info["tg_arn"])["10.0.1.10"]["State"] == "healthy"

    # -- malformed commands, then EOF ends the launcher
    assert m.send("not json").startswith("ERR ")
    assert m.send('{"cmd":"nope"}').startswith("ERR ")
    m.proc.stdin.close()
    assert m.proc.wait(timeout=10) == 0
    print(f"selftest OK (spawn to READY: {m.ready_secs:.2f}s)")


if __name__ == "__main__":
    main()
