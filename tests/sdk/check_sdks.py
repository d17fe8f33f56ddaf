#!/usr/bin/env python3
"""Drive payglot with the real provider SDKs, each pointed at the proxy as dialects.md §6 says.

    target/sdk-venv/bin/python tests/sdk/check_sdks.py --proxy http://127.0.0.1:8080

Needs the venv made by scripts/sdk-env.sh (cryptomus 1.1, pyCryptomusAPI 1.2.0,
apollopayment-api 0.0.8). Uses the demo credentials of config/payglot.yaml, whose ring routes
AlpPay merchants to the Cryptomus sandbox, Cryptomus merchants to the Apollo sandbox and Apollo
merchants to the AlpPay sandbox. Prints one line per check and a final "N passed, N failed"
line; exits non-zero when any check fails.
"""

import argparse
import hashlib
import hmac
import json
import sys
import traceback
import urllib.error
import urllib.request
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

RESULTS = []


class CheckFailed(AssertionError):
    pass


def expect(cond, what, got=None):
    if not cond:
        raise CheckFailed(what if got is None else f"{what}; got {got!r}")


def check(name):
    """Runs the decorated function at once as one named check and records its outcome."""

    def run(fn):
        try:
            detail = fn()
        except CheckFailed as e:
            RESULTS.append((name, False, str(e)))
        except Exception as e:  # an SDK raising where it should not is a failure, not a crash
            tb = traceback.format_exc(limit=3).strip().splitlines()
            RESULTS.append((name, False, f"{type(e).__name__}: {e} [{tb[-3] if len(tb) > 2 else ''}]"))
        else:
            RESULTS.append((name, True, detail or ""))
        ok, text = RESULTS[-1][1], RESULTS[-1][2]
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + text if text else ''}", flush=True)
        return fn

    return run


# ---------------------------------------------------------------------------------------------
# AlpPay: no SDK exists; this is the docs' snippet (hmac over compact JSON, D-alp:hmac).


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


# ---------------------------------------------------------------------------------------------
# Cryptomus: the official SDK (PyPI cryptomus 1.1).


def run_cryptomus(proxy):
    from cryptomus import Client
    from cryptomus.request_exceptions import RequestExceptionsBuilder

    def payment(key):
        p = Client.payment(key, CRYPTOMUS_MERCHANT)
        p.requestBuilder.api_url = proxy + "/"
        return p

    @check("cryptomus 1.1: create invoice (url_callback, '/', non-ASCII additional_data)")
    def _():
        order_id = f"cm-{RUN}"
        result = payment(CRYPTOMUS_KEY).create(
            {
                "amount": "15.75",
                "currency": "USDT",
                "network": "tron",
                "order_id": order_id,
                "url_callback": "https://merchant.example/hooks/cryptomus",
                "url_return": "https://merchant.example/orders/7",
                "lifetime": 3600,
                "additional_data": NON_ASCII,
            }
        )
        expect(isinstance(result, dict), "the SDK returns the result object", result)
        expect(isinstance(result.get("uuid"), str) and result["uuid"], "a uuid", result)
        expect(result.get("order_id") == order_id, "order_id echoed", result.get("order_id"))
        expect(result.get("status") == "check", "status check", result.get("status"))
        expect(result.get("amount") in ("15.75", "15.75000000"), "amount echoed", result.get("amount"))
        expect(result.get("currency") == "USDT", "currency echoed", result.get("currency"))
        expect(result.get("is_final") is False, "is_final false", result.get("is_final"))
        expect(result.get("additional_data") == NON_ASCII, "additional_data echoed", result.get("additional_data"))
        expect(isinstance(result.get("address"), str) and result["address"], "an address", result)
        expect(isinstance(result.get("url"), str) and result["url"].startswith("http"), "a url", result)
        expect(isinstance(result.get("expired_at"), int), "expired_at in unix seconds", result.get("expired_at"))
        return f"uuid={result['uuid']} status={result['status']}"

    @check("cryptomus 1.1: order_id with a space -> RequestExceptionsBuilder with errors")
    def _():
        try:
            got = payment(CRYPTOMUS_KEY).create(
                {"amount": "1", "currency": "USDT", "network": "tron", "order_id": "bad order"}
            )
        except RequestExceptionsBuilder as e:
            errors = e.get_errors()
            expect(e.args[1] == 422, "HTTP 422", e.args)
            expect(isinstance(errors, dict) and "order_id" in errors, "errors naming order_id", errors)
            return f"{e.args[1]} {e.args[0]!r} {errors}"
        raise CheckFailed(f"no exception; the SDK returned {got!r}")

    @check("cryptomus 1.1: bad payment key -> RequestExceptionsBuilder with message")
    def _():
        try:
            got = payment("not-the-key").create(
                {"amount": "1", "currency": "USDT", "network": "tron", "order_id": f"cm-bad-{RUN}"}
            )
        except RequestExceptionsBuilder as e:
            message, code = e.args[0], e.args[1]
            expect(isinstance(message, str) and message, "an error message", e.args)
            expect(code == 401, "HTTP 401", e.args)
            return f"{code} {message!r}"
        raise CheckFailed(f"no exception; the SDK returned {got!r}")


# ---------------------------------------------------------------------------------------------
# Cryptomus: pyCryptomusAPI 1.2.0 (json.dumps with spaces).


def run_pycryptomus(proxy):
    from pyCryptomusAPI import pyCryptomusAPI, pyCryptomusAPIException
    from pyCryptomusAPI.cryto_types import Invoice

    api = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key=CRYPTOMUS_KEY, api_url=proxy + "/")

    @check("pyCryptomusAPI 1.2.0: create_invoice -> Invoice")
    def _():
        order_id = f"pycm-{RUN}"
        inv = api.create_invoice(
            amount=12.5,
            currency="USDT",
            order_id=order_id,
            network="tron",
            url_callback="https://merchant.example/hooks/cryptomus",
            url_success="https://merchant.example/thanks",
            lifetime=1800,
            is_payment_multiple=False,
            additional_data=NON_ASCII,
        )
        expect(isinstance(inv, Invoice), "an Invoice", type(inv))
        expect(isinstance(inv.uuid, str) and inv.uuid, "a uuid", inv.uuid)
        expect(inv.order_id == order_id, "order_id echoed", inv.order_id)
        expect(inv.amount == 12.5, "amount parsed as 12.5", inv.amount)
        expect(getattr(inv, "status", None) == "check", "status check", getattr(inv, "status", None))
        expect(inv.is_final is False, "is_final false", inv.is_final)
        expect(inv.additional_data == NON_ASCII, "additional_data echoed", inv.additional_data)
        expect(isinstance(inv.address, str) and inv.address, "an address", inv.address)
        return f"uuid={inv.uuid} status={inv.status}"

    @check("pyCryptomusAPI 1.2.0: order_id with a space -> pyCryptomusAPIException with errors")
    def _():
        try:
            got = api.create_invoice(amount="1", currency="USDT", order_id="bad order", network="tron")
        except pyCryptomusAPIException as e:
            # e.code is -5, not 422: the SDK reads the status as `base_resp.status_code if
            # base_resp else -5`, and a 4xx requests.Response is falsy. An SDK quirk.
            expect(isinstance(e.message, dict) and "order_id" in e.message, "errors naming order_id", e.message)
            return f"{e.code} {e.message}"
        raise CheckFailed(f"no exception; got {got}")

    @check("pyCryptomusAPI 1.2.0: NearPayments base (api_url .../cryptomus/), no network")
    def _():
        near = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key=CRYPTOMUS_KEY, api_url=proxy + "/cryptomus/")
        order_id = f"near-{RUN}"
        inv = near.create_invoice(amount="7", currency="USDT", order_id=order_id)
        expect(isinstance(inv, Invoice) and inv.uuid, "an Invoice with a uuid", inv)
        expect(inv.order_id == order_id, "order_id echoed", inv.order_id)
        expect(inv.network, "a network filled in from the merchant's default", inv.network)
        return f"uuid={inv.uuid} network={inv.network}"

    @check("pyCryptomusAPI 1.2.0: bad key -> pyCryptomusAPIException")
    def _():
        bad = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key="not-the-key", api_url=proxy + "/")
        try:
            got = bad.create_invoice(amount="1", currency="USDT", order_id=f"pycm-bad-{RUN}", network="tron")
        except pyCryptomusAPIException as e:
            # -5 = an answer whose JSON had state != 0 (a 4xx Response is falsy, see above);
            # -2/-3 would mean no usable answer at all.
            expect(e.code in (401, -5), "an error answer from the server", (e.code, e.message))
            expect(isinstance(e.message, str) and "sign" in e.message.lower(), "a message about the sign", e.message)
            return f"{e.code} {e.message!r}"
        raise CheckFailed(f"no exception; got {got}")


# ---------------------------------------------------------------------------------------------
# Apollo: apollopayment-api 0.0.8.


def run_apollo(proxy):
    from apollopayment_api import Client

    base = proxy + "/api-gateway"

    class ProxiedClient(Client):
        # §6: the constructor POSTs /advanced-balances at once and caches domain objects that
        # hold the base URL, so the URL must be set before that first call.
        def _set_advanced_balance_id(self):
            self._base_url = base
            super()._set_advanced_balance_id()

    holder = {}

    @check("apollopayment-api 0.0.8: constructor (/advanced-balances)")
    def _():
        client = ProxiedClient(public_key=APOLLO_PUBLIC, private_key=APOLLO_PRIVATE)
        expect(client._advancedBalanceId, "an advancedBalanceId", client._advancedBalanceId)
        holder["client"] = client
        return f"advancedBalanceId={client._advancedBalanceId}"

    @check("apollopayment-api 0.0.8: orders.create_order -> response")
    def _():
        client = holder.get("client")
        expect(client is not None, "a constructed client")
        order = f"Order #{RUN} / apollo"
        resp = client.orders.create_order(
            "USDT",
            "tron",
            "42.10",
            order,
            1800,
            successWebhook="https://merchant.example/hooks/apollo/ok",
            description=NON_ASCII,
        )
        expect(isinstance(resp, dict), "a JSON object", resp)
        expect(resp.get("success") is True, "success true", resp)
        r = resp.get("response") or {}
        expect(isinstance(r.get("orderId"), str) and r["orderId"], "an orderId", r)
        expect(r.get("clientOrderId") == order, "clientOrderId echoed", r.get("clientOrderId"))
        expect(r.get("status") in ("init", "pending"), "status init/pending", r.get("status"))
        expect(r.get("amount") in ("42.10", "42.1"), "amount echoed", r.get("amount"))
        expect(r.get("currency") == "USDT" and r.get("network") == "tron", "currency/network", r)
        expect(isinstance(r.get("address"), str) and r["address"], "an address", r)
        expect(r.get("description") == NON_ASCII, "description echoed", r.get("description"))
        expect(isinstance(r.get("link"), str) and r["link"].startswith("http"), "a link", r)
        return f"orderId={r['orderId']} status={r['status']}"

    @check("apollopayment-api 0.0.8: optionals left null (no webhooks, no description)")
    def _():
        client = holder.get("client")
        expect(client is not None, "a constructed client")
        resp = client.orders.create_order("USDT", "tron", "5", f"apollo-min-{RUN}", None)
        expect(isinstance(resp, dict) and resp.get("success") is True, "success true", resp)
        return f"orderId={resp['response'].get('orderId')}"

    @check("apollopayment-api 0.0.8: wrong private key -> success false with error")
    def _():
        client = holder.get("client")
        expect(client is not None, "a constructed client")
        client._private_key = "sk_wrong"
        try:
            resp = client.orders.create_order("USDT", "tron", "5", f"apollo-bad-{RUN}", 1800)
        finally:
            client._private_key = APOLLO_PRIVATE
        expect(isinstance(resp, dict) and resp.get("success") is False, "success false", resp)
        err = resp.get("error") or {}
        expect(err.get("code") == 401 and err.get("message"), "an error with code 401 and a message", resp)
        return f"{err.get('code')} {err.get('message')!r}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", required=True, help="payglot's listen URL, e.g. http://127.0.0.1:8080")
    proxy = ap.parse_args().proxy.rstrip("/")

    for suite in (run_alppay, run_cryptomus, run_pycryptomus, run_apollo):
        try:
            suite(proxy)
        except Exception as e:  # e.g. an SDK that fails to import
            RESULTS.append((suite.__name__, False, f"{type(e).__name__}: {e}"))
            print(f"FAIL {suite.__name__}: {type(e).__name__}: {e}", flush=True)

    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
