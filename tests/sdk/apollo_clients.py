"""Every usable Apollo-dialect client library on PyPI: apollopayment-api and onchainpay-api (the
same platform and code base, another default host), each through the demo route
apollo-to-alppay, creating an order and looking it up (pending until payglot serves lookups)."""

import importlib

from demo import APOLLO_PRIVATE, APOLLO_PUBLIC, NON_ASCII, RUN
from harness import check, expect


def run_apollo_style(proxy, label, package):
    Client = importlib.import_module(package).Client
    base = proxy + "/api-gateway"

    class ProxiedClient(Client):
        # §6: the constructor POSTs /advanced-balances at once and caches domain objects that
        # hold the base URL, so the URL must be set before that first call.
        def _set_advanced_balance_id(self):
            self._base_url = base
            super()._set_advanced_balance_id()

    holder = {}

    @check(f"{label}: constructor (/advanced-balances)")
    def _():
        client = ProxiedClient(public_key=APOLLO_PUBLIC, private_key=APOLLO_PRIVATE)
        expect(client._advancedBalanceId, "an advancedBalanceId", client._advancedBalanceId)
        holder["client"] = client
        return f"advancedBalanceId={client._advancedBalanceId}"

    @check(f"{label}: orders.create_order -> response")
    def _():
        client = holder.get("client")
        expect(client is not None, "a constructed client")
        order = f"Order #{RUN} / {package}"
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
        holder["orderId"] = r["orderId"]
        return f"orderId={r['orderId']} status={r['status']}"

    @check(f"{label}: optionals left null (no webhooks, no description, lifetime null)")
    def _():
        client = holder.get("client")
        expect(client is not None, "a constructed client")
        resp = client.orders.create_order("USDT", "tron", "5", f"{package[:6]}-min-{RUN}", None)
        expect(isinstance(resp, dict) and resp.get("success") is True, "success true", resp)
        return f"orderId={resp['response'].get('orderId')}"

    @check(f"{label}: wrong private key -> success false with error")
    def _():
        client = holder.get("client")
        expect(client is not None, "a constructed client")
        client._private_key = "sk_wrong"
        try:
            resp = client.orders.create_order("USDT", "tron", "5", f"{package[:6]}-bad-{RUN}", 1800)
        finally:
            client._private_key = APOLLO_PRIVATE
        expect(isinstance(resp, dict) and resp.get("success") is False, "success false", resp)
        err = resp.get("error") or {}
        expect(err.get("code") == 401 and err.get("message"), "an error with code 401 and a message", resp)
        return f"{err.get('code')} {err.get('message')!r}"

    @check(f"{label}: orders.get_order_by_id (lookup)")
    def _():
        client = holder.get("client")
        expect(client is not None and "orderId" in holder, "an order created above")
        resp = client.orders.get_order_by_id(holder["orderId"])
        expect(isinstance(resp, dict) and resp.get("success") is True, "success true", resp)
        r = resp.get("response") or {}
        # Apollo's get shape names its own id `id` and the merchant's order `orderId` (§3b).
        expect(r.get("id") == holder["orderId"], "the same order", r)
        return f"status={r.get('status')}"


def run_apollopayment(proxy):
    run_apollo_style(proxy, "apollopayment-api 0.0.8", "apollopayment_api")


def run_onchainpay(proxy):
    run_apollo_style(proxy, "onchainpay-api 0.0.8", "onchainpay_api")


SUITES = (run_apollopayment, run_onchainpay)
