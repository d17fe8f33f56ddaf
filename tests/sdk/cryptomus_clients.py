"""Every usable Cryptomus-dialect client library on PyPI (Cryptomus, its Heleket clone), each
pointed at payglot the way its code allows, creating a payment through every entry of the demo
route cryptomus-to-apollo and looking it up (pending until payglot serves lookups)."""

import asyncio
import json

from demo import CRYPTOMUS_KEY, CRYPTOMUS_MERCHANT, NON_ASCII, RUN, cryptomus_entries, reference_invoice
from harness import CheckFailed, check, expect

# Every optional create field at the value Cryptomus documents as its default, as the typed SDKs
# send them (dialects.md §2b); nulls for the rest. None of it asks for anything.
DOCUMENTED_DEFAULTS = {
    "is_payment_multiple": True,
    "lifetime": 3600,
    "subtract": 0,
    "accuracy_payment_percent": 0,
    "is_refresh": False,
}


def expect_invoice(inv, order_id, amounts=("10", "10.00000000", 10.0)):
    """The fields every Cryptomus create answer carries, read off a dict or a typed object."""
    get = (lambda k: inv.get(k)) if isinstance(inv, dict) else (lambda k: getattr(inv, k, None))
    expect(isinstance(get("uuid"), str) and get("uuid"), "a uuid", inv)
    expect(get("order_id") == order_id, "order_id echoed", get("order_id"))
    expect(get("amount") in amounts, f"amount one of {amounts}", get("amount"))
    status = get("status")
    status = getattr(status, "value", status)
    expect(status == "check", "status check", status)
    expect(get("is_final") is False, "is_final false", get("is_final"))
    expect(isinstance(get("address"), str) and get("address"), "an address", get("address"))
    return get("uuid")


# ---------------------------------------------------------------------------------------------
# cryptomus 1.1, the official SDK, and Heleket 0.1.0, its clone for Heleket: a RequestBuilder
# whose `api_url` attribute is the base (`api_url + "v1/payment"`).


def run_official_style(proxy, label, module_name):
    module = __import__(module_name)
    exceptions = __import__(f"{module_name}.request_exceptions", fromlist=["RequestExceptionsBuilder"])
    RequestExceptionsBuilder = exceptions.RequestExceptionsBuilder

    def payment(base, key=CRYPTOMUS_KEY):
        p = module.Client.payment(key, CRYPTOMUS_MERCHANT)
        p.requestBuilder.api_url = base
        return p

    created = {}
    for entry, base in cryptomus_entries(proxy).items():

        @check(f"{label}: create invoice via {entry} entry")
        def _():
            order_id = f"{module_name[:4]}-{entry[:4]}-{RUN}"
            result = payment(base).create(
                {
                    "amount": "10",
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
            uuid = expect_invoice(result, order_id)
            expect(result.get("additional_data") == NON_ASCII, "additional_data echoed", result.get("additional_data"))
            expect(isinstance(result.get("url"), str) and result["url"].startswith("http"), "a url", result)
            expect(isinstance(result.get("expired_at"), int), "expired_at in unix seconds", result.get("expired_at"))
            created.setdefault("uuid", uuid)
            return f"uuid={uuid}"

    @check(f"{label}: create invoice with every optional field at its documented default")
    def _():
        order_id = f"{module_name[:4]}-dflt-{RUN}"
        result = payment(proxy + "/").create(
            {"amount": "10", "currency": "USDT", "network": "tron", "order_id": order_id, **DOCUMENTED_DEFAULTS}
        )
        return f"uuid={expect_invoice(result, order_id)}"

    @check(f"{label}: order_id with a space -> RequestExceptionsBuilder with errors")
    def _():
        try:
            got = payment(proxy + "/").create(
                {"amount": "1", "currency": "USDT", "network": "tron", "order_id": "bad order"}
            )
        except RequestExceptionsBuilder as e:
            errors = e.get_errors()
            expect(e.args[1] == 422, "HTTP 422", e.args)
            expect(isinstance(errors, dict) and "order_id" in errors, "errors naming order_id", errors)
            return f"{e.args[1]} {e.args[0]!r} {errors}"
        raise CheckFailed(f"no exception; the SDK returned {got!r}")

    @check(f"{label}: bad payment key -> RequestExceptionsBuilder with message")
    def _():
        try:
            got = payment(proxy + "/", key="not-the-key").create(
                {"amount": "1", "currency": "USDT", "network": "tron", "order_id": f"bad-{RUN}"}
            )
        except RequestExceptionsBuilder as e:
            message, code = e.args[0], e.args[1]
            expect(isinstance(message, str) and message, "an error message", e.args)
            expect(code == 401, "HTTP 401", e.args)
            return f"{code} {message!r}"
        raise CheckFailed(f"no exception; the SDK returned {got!r}")

    @check(f"{label}: payment info (lookup)")
    def _():
        created.setdefault("uuid", reference_invoice(proxy))
        try:
            result = payment(proxy + "/").info({"uuid": created["uuid"]})
        except RequestExceptionsBuilder as e:
            raise CheckFailed(f"{e.args[1]} {e.args[0]!r}") from e
        expect(isinstance(result, dict) and result.get("uuid") == created["uuid"], "the same invoice", result)
        return f"status={result.get('status')}"


def run_cryptomus(proxy):
    run_official_style(proxy, "cryptomus 1.1", "cryptomus")


def run_heleket(proxy):
    run_official_style(proxy, "Heleket 0.1.0", "heleket")


# ---------------------------------------------------------------------------------------------
# pyCryptomusAPI 1.2.0: `api_url` is a constructor argument; json.dumps with spaces.


def run_pycryptomus(proxy):
    from pyCryptomusAPI import pyCryptomusAPI, pyCryptomusAPIException
    from pyCryptomusAPI.cryto_types import Invoice

    created = {}
    for entry, base in cryptomus_entries(proxy).items():

        @check(f"pyCryptomusAPI 1.2.0: create_invoice -> Invoice via {entry} entry")
        def _():
            api = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key=CRYPTOMUS_KEY, api_url=base)
            order_id = f"pycm-{entry[:4]}-{RUN}"
            inv = api.create_invoice(
                amount=12.5,
                currency="USDT",
                order_id=order_id,
                network="tron",
                url_callback="https://merchant.example/hooks/cryptomus",
                url_success="https://merchant.example/thanks",
                lifetime=1800,
                additional_data=NON_ASCII,
            )
            expect(isinstance(inv, Invoice), "an Invoice", type(inv))
            expect_invoice(inv, order_id, amounts=(12.5,))
            expect(inv.additional_data == NON_ASCII, "additional_data echoed", inv.additional_data)
            created.setdefault("uuid", inv.uuid)
            return f"uuid={inv.uuid} status={inv.status}"

    api = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key=CRYPTOMUS_KEY, api_url=proxy + "/")

    @check("pyCryptomusAPI 1.2.0: create_invoice with is_payment_multiple=False")
    def _():
        # Cryptomus: the invoice finalises at the first payment. Apollo has no such setting, so
        # payglot carries it or refuses in Cryptomus's envelope; never drops it (issue 9 item 9).
        order_id = f"pycm-single-{RUN}"
        try:
            inv = api.create_invoice(
                amount="5", currency="USDT", order_id=order_id, network="tron", is_payment_multiple=False
            )
        except pyCryptomusAPIException as e:
            expect(isinstance(e.message, (str, dict)) and e.message, "a reason", e.message)
            return f"refused: {e.message}"
        expect(isinstance(inv, Invoice), "an Invoice", type(inv))
        expect_invoice(inv, order_id, amounts=(5.0,))
        return f"carried: uuid={inv.uuid}"

    @check("pyCryptomusAPI 1.2.0: NearPayments entry without network (merchant default)")
    def _():
        near = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key=CRYPTOMUS_KEY, api_url=proxy + "/cryptomus/")
        order_id = f"near-{RUN}"
        inv = near.create_invoice(amount="7", currency="USDT", order_id=order_id)
        expect(isinstance(inv, Invoice) and inv.uuid, "an Invoice with a uuid", inv)
        expect(inv.order_id == order_id, "order_id echoed", inv.order_id)
        expect(inv.network, "a network filled in from the merchant's default", inv.network)
        return f"uuid={inv.uuid} network={inv.network}"

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

    @check("pyCryptomusAPI 1.2.0: bad key -> pyCryptomusAPIException")
    def _():
        bad = pyCryptomusAPI(CRYPTOMUS_MERCHANT, payment_api_key="not-the-key", api_url=proxy + "/")
        try:
            got = bad.create_invoice(amount="1", currency="USDT", order_id=f"pycm-bad-{RUN}", network="tron")
        except pyCryptomusAPIException as e:
            # -5 = an answer whose JSON had state != 0 (a 4xx Response is falsy, see above).
            expect(e.code in (401, -5), "an error answer from the server", (e.code, e.message))
            expect(isinstance(e.message, str) and "sign" in e.message.lower(), "a message about the sign", e.message)
            return f"{e.code} {e.message!r}"
        raise CheckFailed(f"no exception; got {got}")

    @check("pyCryptomusAPI 1.2.0: payment_information (lookup)")
    def _():
        created.setdefault("uuid", reference_invoice(proxy))
        try:
            inv = api.payment_information(invoice_uuid=created["uuid"])
        except pyCryptomusAPIException as e:
            raise CheckFailed(f"{e.code} {e.message!r}") from e
        expect(getattr(inv, "uuid", None) == created["uuid"], "the same invoice", inv)
        return f"status={inv.status}"


# ---------------------------------------------------------------------------------------------
# CryptomusAPI 1.0.2 and HeleketAPI 0.0.5.dev0 (one code base): async (aiohttp), every optional
# field sent with its default or null, answers parsed into a strict dataclass
# (`cls(**result)`: a missing required field or an unknown one raises TypeError). The URL is the
# module global API_BASE_URL of the aiohttp session module, formatted with "v1/payment".


def run_fsoky_style(proxy, label, package, client_name):
    session_module = __import__(f"{package}.client.session._aiohttp", fromlist=["API_BASE_URL"])
    client_class = getattr(__import__(package), client_name)
    methods = __import__(f"{package}.methods", fromlist=["CreateInvoice"])
    errors = __import__(f"{package}.exceptions", fromlist=["*"])
    sdk_error = getattr(errors, "CryptomusError", None) or getattr(errors, "HeleketError", Exception)

    class CreateInvoiceNonDefaults(methods.CreateInvoice):
        """The SDK's own CreateInvoice without the fields left at their default or null: the
        library's session signs, sends and parses it, so only the body is not the library's."""

        def to_json(self):
            body = super().to_json()
            return {
                k: v
                for k, v in body.items()
                if v is not None and not (k in DOCUMENTED_DEFAULTS and DOCUMENTED_DEFAULTS[k] == v)
            }

    async def call(base, make):
        session_module.API_BASE_URL = base + "{}"
        client = client_class(CRYPTOMUS_MERCHANT, CRYPTOMUS_KEY)
        try:
            return await make(client)
        finally:
            await client.session.close()

    def run(base, make):
        try:
            return asyncio.run(call(base, make))
        except sdk_error as e:
            raise CheckFailed(f"{type(e).__name__}: {e}") from e

    created = {}
    for entry, base in cryptomus_entries(proxy).items():

        @check(f"{label}: create_invoice as the library sends it (every default, nulls) via {entry} entry")
        def _():
            order_id = f"{package[:4]}-{entry[:4]}-{RUN}"
            inv = run(base, lambda c: c.create_invoice("10", "USDT", order_id, network="tron", lifetime=3600))
            uuid = expect_invoice(inv, order_id, amounts=("10", 10.0))
            created.setdefault("uuid", uuid)
            return f"uuid={uuid}"

    @check(f"{label}: its strict PaymentInfoResponse parses payglot's create answer")
    def _():
        order_id = f"{package[:4]}-parse-{RUN}"
        inv = run(
            proxy + "/",
            lambda c: c.session(
                CreateInvoiceNonDefaults(amount="10", currency="USDT", order_id=order_id, lifetime=1800, network="tron")
            ),
        )
        uuid = expect_invoice(inv, order_id, amounts=("10", 10.0))
        created.setdefault("uuid", uuid)
        return f"uuid={uuid}"

    @check(f"{label}: get_payment_info (lookup)")
    def _():
        created.setdefault("uuid", reference_invoice(proxy))
        inv = run(proxy + "/", lambda c: c.get_payment_info(created["uuid"]))
        expect(inv.uuid == created["uuid"], "the same invoice", inv)
        return f"status={inv.status}"


def run_cryptomusapi(proxy):
    run_fsoky_style(proxy, "CryptomusAPI 1.0.2", "CryptomusAPI", "CryptomusClient")


def run_heleketapi(proxy):
    run_fsoky_style(proxy, "HeleketAPI 0.0.5.dev0", "HeleketAPI", "HeleketClient")


# ---------------------------------------------------------------------------------------------
# aioheleket 1.4.0: async (aiohttp), pydantic models; every optional field sent with its default
# or null (`model_dump(exclude_none=False)`). The URL is RequestBuilder._api_url, set in its
# constructor: a subclass sets it after.


def run_aioheleket(proxy):
    import aioheleket
    import aioheleket.types.client as client_module
    from aioheleket.exceptions import AioheleketError
    from aioheleket.request_builder import RequestBuilder
    from aioheleket.validation.schemas import Payment, RequestConfig

    target = {}

    class ProxiedRequestBuilder(RequestBuilder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._api_url = target["base"] + "v1/"

    client_module.RequestBuilder = ProxiedRequestBuilder

    async def call(base, make):
        target["base"] = base
        config = RequestConfig(max_retries=0)
        async with aioheleket.HeleketClient(CRYPTOMUS_MERCHANT, payment_api_key=CRYPTOMUS_KEY, config=config) as c:
            return await make(await c.payment_service())

    def run(base, make):
        try:
            return asyncio.run(call(base, make))
        except AioheleketError as e:
            raise CheckFailed(f"{type(e).__name__}: {e} {getattr(e, 'json_response', '')}") from e

    created = {}
    for entry, base in cryptomus_entries(proxy).items():

        @check(f"aioheleket 1.4.0: create_invoice as the library sends it (every default, nulls) via {entry} entry")
        def _():
            order_id = f"aioh-{entry[:4]}-{RUN}"
            inv = run(base, lambda s: s.create_invoice(amount="10", currency="USDT", order_id=order_id, network="tron"))
            uuid = expect_invoice(inv, order_id, amounts=(inv.amount,))
            created.setdefault("uuid", uuid)
            return f"uuid={uuid}"

    @check("aioheleket 1.4.0: its Payment model parses payglot's create answer")
    def _():
        order_id = f"aioh-parse-{RUN}"

        async def create(service):
            # The library's own request builder and parser, with a body of non-default fields.
            body = {"amount": "10", "currency": "USDT", "order_id": order_id, "network": "tron"}
            return Payment.model_validate(await service._get_result_data("POST", "/payment", body))

        inv = run(proxy + "/", create)
        uuid = expect_invoice(inv, order_id, amounts=(inv.amount,))
        expect(str(inv.amount) in ("10", "10.00000000"), "amount 10", inv.amount)
        created.setdefault("uuid", uuid)
        return f"uuid={uuid}"

    @check("aioheleket 1.4.0: payment_info (lookup)")
    def _():
        created.setdefault("uuid", reference_invoice(proxy))
        inv = run(proxy + "/", lambda s: s.payment_info(uuid=created["uuid"]))
        expect(inv.uuid == created["uuid"], "the same invoice", inv)
        return f"status={inv.status}"


# ---------------------------------------------------------------------------------------------
# heleket-sdk 0.3.0: ClientOptions(base_url=...), pydantic request and answer models; sends only
# the fields set.


def run_heleket_sdk(proxy):
    from heleket_sdk import ClientOptions, HeleketPayment
    from heleket_sdk._errors import ApiError
    from heleket_sdk.types import CreateInvoiceRequest, InfoOptions

    def client(base):
        return HeleketPayment(
            merchant_id=CRYPTOMUS_MERCHANT,
            api_key=CRYPTOMUS_KEY,
            options=ClientOptions(base_url=base, timeout=20),
        )

    created = {}
    for entry, base in cryptomus_entries(proxy).items():

        @check(f"heleket-sdk 0.3.0: create_invoice -> Invoice via {entry} entry")
        def _():
            order_id = f"hsdk-{entry[:4]}-{RUN}"
            inv = client(base).create_invoice(
                CreateInvoiceRequest(
                    amount="10",
                    currency="USDT",
                    order_id=order_id,
                    network="tron",
                    url_callback="https://merchant.example/hooks/heleket",
                    additional_data=NON_ASCII,
                )
            )
            uuid = expect_invoice(inv, order_id)
            expect(inv.additional_data == NON_ASCII, "additional_data echoed", inv.additional_data)
            created.setdefault("uuid", uuid)
            return f"uuid={uuid}"

    @check("heleket-sdk 0.3.0: create_invoice with every optional field at its documented default")
    def _():
        order_id = f"hsdk-dflt-{RUN}"
        defaults = dict(DOCUMENTED_DEFAULTS, accuracy_payment_percent="0")  # a string in this SDK
        try:
            inv = client(proxy + "/").create_invoice(
                CreateInvoiceRequest(amount="10", currency="USDT", order_id=order_id, network="tron", **defaults)
            )
        except ApiError as e:  # its message drops the server's; the raw answer says why
            raise CheckFailed(f"{type(e).__name__} {e.http_status}: {e.raw_body}") from e
        return f"uuid={expect_invoice(inv, order_id)}"

    @check("heleket-sdk 0.3.0: get_info (lookup)")
    def _():
        created.setdefault("uuid", reference_invoice(proxy))
        try:
            inv = client(proxy + "/").get_info(InfoOptions(uuid=created["uuid"]))
        except ApiError as e:
            raise CheckFailed(f"{type(e).__name__} {e.http_status}: {e.raw_body}") from e
        expect(inv.uuid == created["uuid"], "the same invoice", inv)
        return f"status={inv.status}"


# ---------------------------------------------------------------------------------------------
# milkpay-cryptomus 1.3.0: a Stollen client whose `base_url` is fixed in __init__; the attribute
# is overridden after construction. Sends only the fields set; pydantic answer models.


def run_milkpay(proxy):
    from milkpay.cryptomus.business import Cryptomus

    async def call(base, make):
        client = Cryptomus(merchant=CRYPTOMUS_MERCHANT, api_key=CRYPTOMUS_KEY)
        client.base_url = base.rstrip("/")
        try:
            return await make(client)
        finally:
            await client.session.close()

    def run(base, make):
        return asyncio.run(call(base, make))

    created = {}
    for entry, base in cryptomus_entries(proxy).items():

        @check(f"milkpay-cryptomus 1.3.0: create_invoice -> PaymentInfo via {entry} entry")
        def _():
            order_id = f"milk-{entry[:4]}-{RUN}"
            inv = run(
                base,
                lambda c: c.create_invoice(
                    amount=10, currency="USDT", order_id=order_id, network="tron", additional_data=NON_ASCII
                ),
            )
            uuid = expect_invoice(inv, order_id, amounts=(10.0,))
            created.setdefault("uuid", uuid)
            return f"uuid={uuid}"

    @check("milkpay-cryptomus 1.3.0: create_invoice with every optional field at its documented default")
    def _():
        order_id = f"milk-dflt-{RUN}"
        inv = run(
            proxy + "/",
            lambda c: c.create_invoice(amount=10, currency="USDT", order_id=order_id, network="tron", **DOCUMENTED_DEFAULTS),
        )
        return f"uuid={expect_invoice(inv, order_id, amounts=(10.0,))}"

    @check("milkpay-cryptomus 1.3.0: get_payment_info (lookup)")
    def _():
        created.setdefault("uuid", reference_invoice(proxy))
        inv = run(proxy + "/", lambda c: c.get_payment_info(uuid=created["uuid"]))
        expect(inv.uuid == created["uuid"], "the same invoice", inv)
        return f"status={inv.status}"


# ---------------------------------------------------------------------------------------------
# py-cryptomus 0.1.1: create only, URL hard-coded in charge(); its module's `requests.post` is
# replaced by one that sends to payglot instead. Returns the raw requests.Response.


def run_py_cryptomus(proxy):
    import py_cryptomus.main as main
    import requests

    for entry, base in cryptomus_entries(proxy).items():

        @check(f"py-cryptomus 0.1.1: charge via {entry} entry")
        def _():
            prefix = "https://api.cryptomus.com/"

            class RedirectingRequests:
                @staticmethod
                def post(url, **kwargs):
                    expect(url.startswith(prefix), f"a URL under {prefix}", url)
                    return requests.post(base + url[len(prefix):], timeout=20, **kwargs)

            main.requests = RedirectingRequests
            try:
                order_id = f"pyc-{entry[:4]}-{RUN}"
                res = main.Cryptomus(CRYPTOMUS_KEY, CRYPTOMUS_MERCHANT).charge(
                    {"amount": "10", "currency": "USDT", "network": "tron", "order_id": order_id}
                )
            finally:
                main.requests = requests
            expect(res.status_code == 200, "HTTP 200", (res.status_code, res.text))
            body = res.json()
            expect(body.get("state") == 0, "state 0", body)
            return f"uuid={expect_invoice(body.get('result') or {}, order_id)}"


SUITES = (
    run_cryptomus,
    run_heleket,
    run_pycryptomus,
    run_cryptomusapi,
    run_heleketapi,
    run_aioheleket,
    run_heleket_sdk,
    run_milkpay,
    run_py_cryptomus,
)
