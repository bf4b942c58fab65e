"""Route 53's health-check quota, which moto 5.2.5 does not model.

- GetAccountLimit (GET /2013-04-01/accountlimit/<Type>) is not served by moto:
  `account_limit` answers MAX_HEALTH_CHECKS_BY_OWNER with Limit.Value (what the
  `health_check_limit` command set) and Count (every health check in the account,
  as AWS counts them). The launcher's default is 10,000, not AWS's 200, so that
  tests and benchmarks with hundreds of checks run as before; a test of the
  quota sets it.
- moto creates any number of health checks; AWS refuses a new one once the
  account holds its limit, with TooManyHealthChecks (HTTP 400). The patch below
  does that; a repeated CallerReference (AWS returns the existing check) is
  never refused.

Imported for its side effects by moto_server.py, after route53_fixes (it wraps
the fixed CreateHealthCheck).
"""

import uuid

from moto.route53.exceptions import Route53ClientError
from moto.route53.models import Route53Backend, route53_backends

DEFAULT_LIMIT = 10_000  # AWS's default is 200: see the module docs
LIMIT = {"value": DEFAULT_LIMIT}
NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def set_limit(value):
    """The health_check_limit command: the account's MAX_HEALTH_CHECKS_BY_OWNER."""
    value = int(value)
    if value < 0:
        raise ValueError("the limit must be >= 0")
    LIMIT["value"] = value


def reset():
    LIMIT["value"] = DEFAULT_LIMIT


def count():
    """Every health check in the account (all of moto's Route 53 backends)."""
    return sum(len(b.health_checks) for parts in route53_backends.values() for b in parts.values())


def account_limit(environ, start_response):
    """GetAccountLimit's answer (only MAX_HEALTH_CHECKS_BY_OWNER is modelled)."""
    kind = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    rid = str(uuid.uuid4())
    if kind != "MAX_HEALTH_CHECKS_BY_OWNER":
        body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type>'
                f"<Code>InvalidInput</Code><Message>limit type {kind} is not modelled</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        status = "400 Bad Request"
    else:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<GetAccountLimitResponse xmlns="{NS}">'
                f"<Limit><Type>{kind}</Type><Value>{LIMIT['value']}</Value></Limit>"
                f"<Count>{count()}</Count></GetAccountLimitResponse>").encode()
        status = "200 OK"
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                            ("x-amzn-RequestId", rid)])
    return [body]


TOO_MANY = ("This health check can't be created because the current account has reached "
            "the limit on the number of active health checks.")


_create_health_check = Route53Backend.create_health_check


def _create_within_limit(self, caller_reference, health_check_args):
    known = any(h.caller_reference == caller_reference for h in self.health_checks.values())
    if not known and count() >= LIMIT["value"]:
        raise Route53ClientError("TooManyHealthChecks", TOO_MANY)
    return _create_health_check(self, caller_reference, health_check_args)


Route53Backend.create_health_check = _create_within_limit
