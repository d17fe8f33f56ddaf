"""The demo merchants of config/payglot.yaml that the clients sign as, and per-run values.

The bundled config routes AlpPay merchants to the Cryptomus sandbox, Cryptomus merchants to the
Apollo sandbox and Apollo merchants to the AlpPay sandbox."""

import uuid

ALPPAY_KEY = "ak_test_payglot_alppay"
ALPPAY_SECRET = "sk_test_payglot_alppay"
CRYPTOMUS_MERCHANT = "c0ffee00-0000-4000-8000-000000000001"
CRYPTOMUS_KEY = "cm_test_payglot_key"
APOLLO_PUBLIC = "pk_test_payglot_apollo"
APOLLO_PRIVATE = "sk_test_payglot_apollo"

# Unique per run, so that idempotent order ids never collide with an earlier run's.
RUN = uuid.uuid4().hex[:12]
NON_ASCII = "Заказ №7 — café ✓ / 注文"


def cryptomus_entries(proxy):
    """Where a Cryptomus-dialect client can enter payglot, by name: the Cryptomus layout
    (`/v1/...`) and the NearPayments one (`/cryptomus/v1/...`). Each value is the base a client
    appends `v1/payment` to. Both reach the demo route cryptomus-to-apollo."""
    return {"cryptomus": proxy + "/", "nearpayments": proxy + "/cryptomus/"}


_REFERENCE = {}


def reference_invoice(proxy):
    """The uuid of one invoice created through payglot with a minimal, plainly signed request
    (dialects.md §2a), for the lookups of libraries whose own create fails today: their lookup
    call is still exercised. Made once per run."""
    if "uuid" not in _REFERENCE:
        import base64
        import hashlib
        import json
        import urllib.request

        body = json.dumps({"amount": "10", "currency": "USDT", "network": "tron", "order_id": f"ref-{RUN}"})
        sign = hashlib.md5(base64.b64encode(body.encode()) + CRYPTOMUS_KEY.encode()).hexdigest()
        request = urllib.request.Request(
            proxy + "/v1/payment",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "merchant": CRYPTOMUS_MERCHANT, "sign": sign},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            _REFERENCE["uuid"] = json.loads(response.read())["result"]["uuid"]
    return _REFERENCE["uuid"]
