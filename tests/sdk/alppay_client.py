"""AlpPay has no client library (dialects.md §6): this is the docs' snippet, hmac over compact
JSON (D-alp:hmac), through the demo route alppay-to-cryptomus."""

import hashlib
import hmac
import json
import urllib.error
import urllib.request

from demo import ALPPAY_KEY, ALPPAY_SECRET, RUN
from harness import check, expect

def alppay_post(proxy, path, body, secret=ALPPAY_SECRET, ensure_ascii=True):
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        proxy + path,
        data=raw,
        method="POST",
        headers={"Content-Type": "application/json", "API-KEY": ALPPAY_KEY, "X-HMAC": sig},
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text.decode(errors="replace")


def run_alppay(proxy):
    @check("alppay: create payment (stdlib hmac client)")
    def _():
        invoice = f"ALP-{RUN}"
        status, body = alppay_post(
            proxy,
            "/v2/payment",
            {
                "amount": "25.50",
                "asset": {"short": "USDT", "network": "tron"},
                "customer": {"id": 7, "name": "Ann", "email": "ann@example.com"},
                "invoice": invoice,
                "checkoutUrl": "https://shop.example/orders/7",
            },
        )
        expect(status == 200, "HTTP 200", (status, body))
        expect(isinstance(body, dict), "a JSON object", body)
        expect(isinstance(body.get("id"), str) and body["id"], "an id", body)
        expect(body.get("invoice") == invoice, "invoice echoed", body.get("invoice"))
        expect(body.get("status") == "OPEN", "status OPEN", body.get("status"))
        expect(body.get("amount") in ("25.50", "25.5"), "amount echoed", body.get("amount"))
        expect((body.get("asset") or {}).get("short") == "USDT", "asset.short USDT", body.get("asset"))
        expect(isinstance(body.get("addressTo"), str) and body["addressTo"], "an addressTo", body)
        return f"id={body['id']} status={body['status']}"

    @check("alppay: raw UTF-8 body (ensure_ascii=False) verifies over the raw bytes")
    def _():
        invoice = f"ALP-UTF8-{RUN}"
        status, body = alppay_post(
            proxy,
            "/v2/payment",
            {
                "amount": "10.00",
                "asset": {"short": "USDT", "network": "tron"},
                "customer": {"id": 8, "name": "Zoë Ångström", "email": "zoe@example.com"},
                "invoice": invoice,
            },
            ensure_ascii=False,
        )
        expect(status == 200, "HTTP 200", (status, body))
        expect(body.get("invoice") == invoice, "invoice echoed", body.get("invoice"))
        return f"id={body['id']}"

    @check("alppay: wrong HMAC secret is refused with 401")
    def _():
        status, body = alppay_post(
            proxy,
            "/v2/payment",
            {
                "amount": "1.00",
                "asset": {"short": "USDT", "network": "tron"},
                "customer": {"id": 7, "name": "Ann", "email": "ann@example.com"},
                "invoice": f"ALP-BAD-{RUN}",
            },
            secret="sk_wrong",
        )
        expect(status == 401, "HTTP 401", (status, body))
        return f"status={status}"


SUITES = (run_alppay,)
