"""Smithy RPC v2 CBOR in front of moto's JSON protocol (CloudWatch).

The Rust SDK speaks CloudWatch's newest protocol, Smithy RPC v2 CBOR
(`POST /service/<target>/operation/<Op>`, header `smithy-protocol: rpc-v2-cbor`,
CBOR bodies). AWS also serves the older JSON protocol, which is the one moto
implements; this module translates a request to it and the answer back, using
botocore's model of the service to type the answer's timestamps (CBOR tag 1).
The translation is the only thing added: moto's CloudWatch does the work.
"""

import base64
import datetime
import io
import json
import re

import botocore.session
import cbor2

# Smithy service name -> (botocore service, JSON protocol content type)
SERVICES = {"GraniteServiceVersion20100801": ("cloudwatch", "application/x-amz-json-1.0")}
PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)")
_MODELS = {}


def is_cbor(environ):
    return environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor"


def operation(environ):
    """(Smithy service name, operation name) of an RPC v2 request, or None."""
    m = PATH.fullmatch(environ.get("PATH_INFO", ""))
    return (m.group(1), m.group(2)) if m else None


def _model(service):
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


def _to_json(v):
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_to_json(x) for x in v]
    return v


def _to_cbor(v, shape):
    """`v` (decoded JSON) typed by botocore `shape`: timestamps become datetimes."""
    if shape is None or v is None:
        return v
    kind = shape.type_name
    if kind == "structure" and isinstance(v, dict):
        return {k: _to_cbor(x, shape.members.get(k)) for k, x in v.items()}
    if kind == "list" and isinstance(v, list):
        return [_to_cbor(x, shape.member) for x in v]
    if kind == "map" and isinstance(v, dict):
        return {k: _to_cbor(x, shape.value) for k, x in v.items()}
    if kind == "timestamp":
        if isinstance(v, str):
            v = datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        return datetime.datetime.fromtimestamp(float(v), tz=datetime.timezone.utc)
    if kind in ("double", "float") and isinstance(v, int):
        return float(v)
    if kind == "blob" and isinstance(v, str):
        return base64.b64decode(v)
    return v


def error_body(code, message):
    """An RPC v2 CBOR error body: the error's shape name in `__type`."""
    return cbor2.dumps({"__type": code, "message": message})


def respond(start_response, status, body):
    start_response(status, [("Content-Type", "application/cbor"),
                            ("smithy-protocol", "rpc-v2-cbor"),
                            ("Content-Length", str(len(body)))])
    return [body]


def bridge(app, environ, start_response):
    """Serves one RPC v2 CBOR request with `app` (moto), over the JSON protocol."""
    target, op = operation(environ) or ("", "")
    if target not in SERVICES:
        return respond(start_response, "404 Not Found",
                       error_body("UnknownOperationException", f"no CBOR bridge for {target}"))
    service, content_type = SERVICES[target]
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    params = cbor2.loads(raw) if raw else {}
    body = json.dumps(_to_json(params)).encode()
    inner = dict(environ, PATH_INFO="/", CONTENT_TYPE=content_type, CONTENT_LENGTH=str(len(body)),
                 HTTP_X_AMZ_TARGET=f"{target}.{op}")
    inner["wsgi.input"] = io.BytesIO(body)
    inner.pop("HTTP_SMITHY_PROTOCOL", None)
    seen = {}

    def capture(status, headers, exc_info=None):
        seen["status"] = status
        return lambda _data: None

    out = b"".join(app(inner, capture))
    status = seen.get("status", "500 Internal Server Error")
    data = json.loads(out) if out.strip() else {}
    if int(status.split()[0]) >= 400:
        code = str(data.get("__type", "InternalFailure")).split("#")[-1]
        return respond(start_response, status,
                       error_body(code, data.get("message") or data.get("Message") or ""))
    shape = _model(service).operation_model(op).output_shape
    return respond(start_response, status,
                   cbor2.dumps(_to_cbor(data, shape), datetime_as_timestamp=True))
