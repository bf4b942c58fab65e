"""Monkeypatches making moto's Route 53 behave like AWS where moto 5.2.5 differs
in ways that matter to failover-agent (write paths and pagination).

Imported for its side effects by moto_server.py. Each fix says what moto does.
"""

import copy

from moto.core.responses import ActionResult
from moto.route53.exceptions import (
    DnsNameInvalidForZone, InvalidActionValue, Route53ClientError)
from moto.route53.models import RecordSet, Route53Backend
from moto.route53.responses import Route53
from moto.route53.utils import validate_domain_name


# ---- fix 1: ChangeResourceRecordSets. moto ignores SetIdentifier on CREATE
# (duplicates pile up), and a DELETE removes *every* record with that
# SetIdentifier, whatever its name or type. As in AWS: the batch is atomic, a
# record is identified by (name, type, SetIdentifier), CREATE of an existing
# one and DELETE of a missing or different one fail with InvalidChangeBatch.
def _rr_key(r):
    return r.name.rstrip(".").lower(), r.type, r.set_identifier


def _rr_values(r):  # what a DELETE must match; alias DNS names compare like DNS
    d = dict(vars(r), name=None)
    if d["alias_target"]:
        dns = d["alias_target"]["DNSName"].rstrip(".").lower()
        d["alias_target"] = dict(d["alias_target"], DNSName=dns)
    return d


def _change_resource_record_sets(self, zoneid, change_list):
    zone = self.get_hosted_zone(zoneid)
    rrsets, errors = list(zone.rrsets), []  # work on a copy: all changes or none
    for change in change_list:
        action, rs = change["Action"], copy.deepcopy(change["ResourceRecordSet"])
        if action not in ("CREATE", "UPSERT", "DELETE"):
            raise InvalidActionValue(action)
        validate_domain_name(rs["Name"], code="InvalidChangeBatch")
        if not rs["Name"].rstrip(".").endswith(zone.name.rstrip(".")):
            raise DnsNameInvalidForZone(name=rs["Name"], zone_name=zone.name)
        rs["Name"] = rs["Name"].rstrip(".") + "."
        if "ResourceRecords" in rs:  # moto stores bare values
            rs["ResourceRecords"] = [x["Value"] for x in rs["ResourceRecords"]]
        new = RecordSet(rs)
        i = next((i for i, r in enumerate(rrsets) if _rr_key(r) == _rr_key(new)), None)
        fail = None
        if action == "CREATE" and i is not None:
            fail = "but it already exists"
        elif action == "DELETE" and i is None:
            fail = "but it was not found"
        elif action == "DELETE" and _rr_values(rrsets[i]) != _rr_values(new):
            fail = "but the values provided do not match the current values"
        if fail:
            ident = f", set-identifier='{new.set_identifier}'" if new.set_identifier else ""
            errors.append(f"Tried to {action.lower()} resource record set "
                          f"[name='{new.name}', type='{new.type}'{ident}] {fail}")
        elif action == "DELETE":
            del rrsets[i]
        elif i is None:
            rrsets.append(new)
        else:
            rrsets[i] = new
    if errors:  # AWS lists every failed change: "[msg1, msg2]"
        raise Route53ClientError("InvalidChangeBatch", f"[{', '.join(errors)}]")
    zone.rrsets = rrsets


Route53Backend.change_resource_record_sets = _change_resource_record_sets

# ---- fix 2: CreateHealthCheck. moto makes a new check for a repeated
# CallerReference; AWS returns the existing one if the config is the same,
# else fails with HealthCheckAlreadyExists.
_moto_create_health_check = Route53Backend.create_health_check


def _create_health_check(self, caller_reference, health_check_args):
    new = _moto_create_health_check(self, caller_reference, health_check_args)
    old = next((h for h in self.health_checks.values()
                if h.caller_reference == caller_reference and h is not new), None)
    if old is None:
        return new
    del self.health_checks[new.id]
    if old.health_check_config != new.health_check_config:
        raise Route53ClientError("HealthCheckAlreadyExists",
                                 "A health check with this CallerReference already exists.")
    return old


Route53Backend.create_health_check = _create_health_check

# ---- fix 3: UpdateHealthCheck. moto ignores HealthCheckVersion (always 1)
# and clears Regions/ChildHealthChecks a request omits. Check and bump the
# version like AWS (HealthCheckVersionMismatch), keep omitted lists.
_moto_update_health_check = Route53.update_health_check


def _update_health_check(self):
    check = self.backend.get_health_check(self._get_param("HealthCheckId"))
    version = self._get_param("HealthCheckVersion")
    if version is not None and int(version) != check.health_check_version:
        raise Route53ClientError("HealthCheckVersionMismatch",
                                 "HealthCheckVersion does not match the health check.")
    regions, children = check.regions, check.children
    result = _moto_update_health_check(self)
    check.regions = check.regions if self._get_param("Regions") else regions
    check.children = check.children if self._get_param("ChildHealthChecks") else children
    check.health_check_version += 1
    return result


Route53.update_health_check = _update_health_check


# ---- fix 4: ListHealthChecks. moto ignores Marker/MaxItems and omits
# IsTruncated/MaxItems; paginate like AWS (page size 100 by default, 1000 max).
def _list_health_checks(self):
    checks = self.backend.list_health_checks()
    marker = self._get_param("Marker")
    max_items = min(int(self._get_param("MaxItems") or 100), 1000)  # AWS caps at 1000
    start = next((i for i, h in enumerate(checks) if h.id == marker), 0) if marker else 0
    end = start + max_items
    result = {"HealthChecks": checks[start:end], "Marker": marker or "",
              "MaxItems": str(max_items), "IsTruncated": end < len(checks)}
    if end < len(checks):
        result["NextMarker"] = checks[end].id
    return ActionResult(result)


Route53.list_health_checks = _list_health_checks
