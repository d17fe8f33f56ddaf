"""schemathesis hooks for payglot (SCHEMATHESIS_HOOKS=hooks, with this folder on PYTHONPATH).

- Signs every generated request as a demo merchant of its dialect would, over the exact bytes
  sent (the demo credentials of the bundled config), so fuzzed bodies pass the signature check
  and reach parsing, routing and translation. A usable Apollo nonce is made fresh.
- `payglot_server_errors`: no 5xx but the documented upstream ones (502, 503, 504), each in
  the caller's dialect envelope (response_schema_conformance checks the envelope's shape).
- `payglot_reached`, after the run: every create operation was answered 2xx at least once, so
  the run did reach the providers through translation rather than stopping at the checks.
"""

import base64
import hashlib
import hmac
import itertools
import json
import time

import schemathesis
from schemathesis.transport.serialization import Binary

# The demo credentials of config/payglot.yaml (test values, also in the README).
ALPPAY = ("ak_test_payglot_alppay", b"sk_test_payglot_alppay")
CRYPTOMUS = ("c0ffee00-0000-4000-8000-000000000001", b"cm_test_payglot_key")
APOLLO = ("pk_test_payglot_apollo", b"sk_test_payglot_apollo")

# Unique across runs against one store (its replay window outlives a run).
_NONCES = itertools.count(time.time_ns() // 1000)

DOCUMENTED_SERVER_ERRORS = {502, 503, 504}


def dialect_of(path):
    if path.startswith(("/v2/", "/payment")) or path == "/v2/payment":
        return "alppay"
    if path.startswith(("/v1/", "/cryptomus/")):
        return "cryptomus"
    if path.startswith("/api-gateway/"):
        return "apollo"
    return None


def usable_nonce(value):
    """A nonce payglot takes: replaced by a fresh one of its type, so no request is a replay.
    Any other (null, empty, an object…) is sent as generated, to reach the nonce checks."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip() != "" and len(value) <= 255


def body_bytes(case, dialect):
    """The bytes to send for the case's body, or None when schemathesis should serialize it."""
    body = case.body
    if type(body).__name__ == "NotSet":
        return b""
    # Raw bytes (malformed JSON on purpose) are signed as they are, to reach the parser.
    if isinstance(body, bytes):
        return body
    if isinstance(body, Binary):
        return body.data
    if dialect == "apollo" and isinstance(body, dict) and usable_nonce(body.get("nonce")):
        fresh = next(_NONCES)
        body = dict(body, nonce=fresh if isinstance(body["nonce"], int) else str(fresh))
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form; escaped, it is still JSON to sign.
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def signature_headers(dialect, body, method):
    if dialect == "alppay":
        key, secret = ALPPAY
        if method == "GET":
            return {"API-KEY": key}
        return {"API-KEY": key, "X-HMAC": hmac.new(secret, body, hashlib.sha256).hexdigest()}
    if dialect == "cryptomus":
        key, secret = CRYPTOMUS
        sign = hashlib.md5(base64.b64encode(body) + secret).hexdigest()
        return {"merchant": key, "sign": sign}
    key, secret = APOLLO
    return {
        "x-api-public-key": key,
        "x-api-signature": hmac.new(secret, body, hashlib.sha256).hexdigest(),
    }


@schemathesis.hook
def before_call(ctx, case, kwargs):
    dialect = dialect_of(case.operation.path)
    if dialect is None:
        return
    body = body_bytes(case, dialect)
    if body is None:
        return
    if body:
        kwargs["data"] = body
    headers = dict(case.headers or {})
    # Generated values for the security headers are replaced, whatever their case.
    wanted = signature_headers(dialect, body, case.method.upper())
    lowered = {name.lower() for name in wanted}
    headers = {k: v for k, v in headers.items() if k.lower() not in lowered}
    headers.update(wanted)
    case.headers = headers


@schemathesis.check
def payglot_server_errors(ctx, response, case):
    status = response.status_code
    if status >= 500 and status not in DOCUMENTED_SERVER_ERRORS:
        raise AssertionError(f"undocumented server error {status}: {response.text[:300]}")


@schemathesis.check
class payglot_reached:
    """Every create operation answered 2xx at least once."""

    def __init__(self):
        self.tested = set()
        self.reached = set()

    def after_response(self, ctx, response, case):
        operation = case.operation
        creates = ("/v2/payment", "/payment", "/v1/payment", "/cryptomus/v1/payment")
        if operation.method.upper() != "POST" or not (
            operation.path in creates or operation.path == "/api-gateway/make-order"
        ):
            return
        self.tested.add(operation.label)
        if 200 <= response.status_code < 300:
            self.reached.add(operation.label)

    def after_run(self, ctx):
        missing = sorted(self.tested - self.reached)
        if missing:
            raise AssertionError(f"never answered 2xx: {', '.join(missing)}")
