#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/) from the golden fixtures, the negative
tables and the bundled config, in the input layouts the targets read (see fuzz/src/lib.rs).
Files are named by their SHA-1 like libFuzzer's, so re-running adds nothing twice. The
committed corpora are these seeds plus the minimized finds of longer runs (docs/fuzzing.md).

    python3 fuzz/seed_corpus.py
"""
import base64
import copy
import hashlib
import hmac
import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT / "fuzz" / "corpus"
# Registry order of payglot::dialect::Dialect::ALL: a dialect's selector byte is its index.
DIALECTS = ["alppay", "cryptomus", "apollo"]
SEPARATOR = b"\x00"
# Seeds above this are left out: the fuzzer grows inputs itself, and the repo stays small.
MAX_SEED_BYTES = 8192
# payglot's account at the provider in the webhook target (fuzz/src/lib.rs WEBHOOK_*).
WEBHOOK_KEY_ID = b"fuzz-webhook-key"
WEBHOOK_SECRET = b"fuzz-webhook-secret"


def selector(dialect):
    return bytes([DIALECTS.index(dialect)])


def write(target, data):
    if len(data) > MAX_SEED_BYTES:
        return
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def load_yaml(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def pair_dirs():
    for pair in sorted(FIXTURES.iterdir()):
        if pair.is_dir() and "-to-" in pair.name:
            source, target = pair.name.split("-to-")
            for case in sorted(pair.iterdir()):
                if case.is_dir():
                    yield source, target, case


def upstream_body(answer):
    if "body_raw" in answer:
        return answer["body_raw"].encode()
    return compact(answer.get("body"))


# --- the negative tables' bodies, as their own tests build them ---------------------------

def walk(body, dotted):
    *parents, last = dotted.split(".")
    for key in parents:
        body = body.setdefault(key, {})
    return body, last


def case_body(base, case):
    if "body" in case:
        return case["body"].encode()
    body = copy.deepcopy(base)
    for dotted in case.get("remove", []):
        parent, key = walk(body, dotted)
        parent.pop(key, None)
    for dotted, value in (case.get("set") or {}).items():
        parent, key = walk(body, dotted)
        parent[key] = value
    for dotted, spec in (case.get("long") or {}).items():
        parent, key = walk(body, dotted)
        if isinstance(spec, dict):
            parent[key] = spec.get("prefix", "") + "a" * (spec["length"] - len(spec.get("prefix", "")))
        else:
            parent[key] = "a" * spec
    return compact(body)


def field_tables():
    """(dialect, body) for every base, refused and accepted case of fields-<dialect>.yaml."""
    for dialect in DIALECTS:
        table = load_yaml(FIXTURES / "negative" / f"fields-{dialect}.yaml")
        base = table["base"]
        yield dialect, compact(base)
        for case in table.get("refused", []) + table.get("accepted", []):
            yield dialect, case_body(base, case)


def create_request():
    for source, _, case in pair_dirs():
        request = case / "request.json"
        if request.exists():
            write("create_request", selector(source) + request.read_bytes())
    for dialect, body in field_tables():
        write("create_request", selector(dialect) + body)
    for case in load_yaml(FIXTURES / "negative" / "malformed.yaml")["cases"]:
        body = bytes.fromhex(case["body_hex"]) if "body_hex" in case else case["body"].encode()
        for dialect in DIALECTS:
            write("create_request", selector(dialect) + body)
    untranslatable = load_yaml(FIXTURES / "negative" / "untranslatable.yaml")
    for case in untranslatable.get("refused", []) + untranslatable.get("accepted", []):
        if "body" in case:
            write("create_request", selector(case["from"]) + case["body"].encode())


def provider_answer():
    for _, target, case in pair_dirs():
        answer = case / "upstream_response.json"
        if answer.exists():
            parsed = json.loads(answer.read_text(encoding="utf-8"))
            status = int(parsed.get("status", 200)).to_bytes(2, "big")
            write("provider_answer", selector(target) + status + upstream_body(parsed))
    for case in load_yaml(FIXTURES / "negative" / "provider-answers.yaml")["cases"]:
        status = int(case["status"]).to_bytes(2, "big")
        write("provider_answer", selector(case["provider"]) + status + case["body"].encode())


def signature():
    for case in json.loads((FIXTURES / "signatures.json").read_text(encoding="utf-8")):
        if case["dialect"] in DIALECTS:
            parts = [case["secret"], case["signature"], case["body"]]
            write("signature", selector(case["dialect"]) + SEPARATOR.join(p.encode() for p in parts))
    table = load_yaml(FIXTURES / "negative" / "signatures.yaml")
    bodies = table["bodies"]
    for case in table.get("refused", []) + table.get("accepted", []):
        body = bodies.get(case.get("body"), case.get("body", ""))
        parts = [str(case["secret"]), str(case.get("signature", "")), body]
        write("signature", selector(case["dialect"]) + SEPARATOR.join(p.encode() for p in parts))


def webhook_input(provider, key, signature, body):
    return selector(provider) + SEPARATOR.join([key, signature, body])


def hmac_hex(body):
    return hmac.new(WEBHOOK_SECRET, body, hashlib.sha256).hexdigest().encode()


def php_json(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")


def cryptomus_signed(payload):
    """The payload as Cryptomus sends it: PHP-encoded, `sign` appended as the last member."""
    encoded = php_json(payload).encode()
    sign = hashlib.md5(base64.b64encode(encoded) + WEBHOOK_SECRET).hexdigest()
    return encoded[:-1] + b',"sign":"' + sign.encode() + b'"}'


def webhook():
    # The provider answers of the golden fixtures, in each provider's webhook form: AlpPay's
    # payment object (X-HMAC), Cryptomus' invoice with `type` and `sign` in the body, Apollo's
    # order (x-api-public-key, x-api-signature); each signed, unsigned and with a wrong signature.
    for _, target, case in pair_dirs():
        answer = case / "upstream_response.json"
        if not answer.exists():
            continue
        parsed = json.loads(answer.read_text(encoding="utf-8"))
        body = parsed.get("body")
        if not isinstance(body, dict) or not 200 <= int(parsed.get("status", 200)) < 300:
            continue
        if target == "alppay":
            raw = compact(body)
            signed = hmac_hex(raw)
        elif target == "cryptomus" and isinstance(body.get("result"), dict):
            payload = {"type": "payment", **body["result"]}
            raw = cryptomus_signed(payload)
            signed = b""
            write("webhook", webhook_input(target, b"", b"", compact(payload)))
        elif target == "apollo" and isinstance(body.get("response"), dict):
            raw = compact(body["response"])
            signed = hmac_hex(raw)
        else:
            continue
        write("webhook", webhook_input(target, WEBHOOK_KEY_ID, signed, raw))
        write("webhook", webhook_input(target, b"", b"", raw))
        write("webhook", webhook_input(target, WEBHOOK_KEY_ID, b"0" * 64, raw))
    # The providers' documented vectors (signed with their own keys: they reach the parse).
    alppay = b'{"id":"285d8dce-7663-4580-ba7f-8afb2f2d3292","amount":"1000.00","totalReceivedAmount":"20.00","status":"OPEN","invoice":"INV-001"}'
    write("webhook", webhook_input("alppay", b"ak", b"d31522a427afaa40131e6765bcd86f1a80cbc773d26718a61d17729b5b76a131", alppay))
    cryptomus = (
        '{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"97a75bf8eda5cca41ba9d2e104840fcd",'
        '"amount":"3.00000000","payment_amount":"3.00000000","payment_amount_usd":"0.23","merchant_amount":"2.94000000",'
        '"commission":"0.06000000","is_final":true,"status":"paid","from":"THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH",'
        '"wallet_address_uuid":null,"network":"tron","currency":"TRX","payer_currency":"TRX","additional_data":"\u0422\u0435\u0441\u0442 \\/ x",'
        '"convert":{"to_currency":"USDT","commission":null,"rate":"0.07700000","amount":"0.22638000"},'
        '"txid":"6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b","sign":"daa9f937f2e778bd98b4e91afb0cced2"}'
    )
    write("webhook", webhook_input("cryptomus", b"", b"", cryptomus.encode()))
    payout = {"type": "payout", "uuid": "u-1", "order_id": "o-1", "amount": "1", "status": "paid"}
    write("webhook", webhook_input("cryptomus", b"", b"", cryptomus_signed(payout)))
    for provider in DIALECTS:
        write("webhook", webhook_input(provider, WEBHOOK_KEY_ID, b"", b'{"id":"x","status":"COMPLETED"}'))


def lookup():
    # Operation selector bytes: 0 lookup, 1 list (see fuzz_targets/lookup.rs).
    shapes = [
        (0, b"pay-1", b"", b""),
        (0, b"", b"invoice=INV-1", b""),
        (0, b"", b"", b'{"order":"o-1","nonce":1}'),
        (0, b"", b"", b'{"uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d"}'),
        (0, b"", b"", b'{"order_id":"ord-1"}'),
        (1, b"", b"limit=10&offset=20", b""),
        (1, b"", b"", b'{"limit":10,"offset":0,"nonce":2}'),
        (1, b"", b"", b'{"cursor":"abc"}'),
    ]
    for dialect in DIALECTS:
        for operation, path_id, query, body in shapes:
            write("lookup", selector(dialect) + bytes([operation]) + SEPARATOR.join([path_id, query, body]))


def config():
    write("config", (ROOT / "config" / "payglot.yaml").read_bytes())
    # The examples in the config reference.
    for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "config.md").read_text(encoding="utf-8"), re.S):
        write("config", block.encode())
    write("config", b"server:\n  listen: \"127.0.0.1:0\"\nmerchants: []\nupstreams: []\nroutes: []\n")
    write("config", b"defaults: &d {timeout_ms: 100}\nupstreams:\n  - <<: *d\n    id: \"${UP}\"\n")


def money():
    amounts = {"10", "10.5", "1000.00", "0", "0.000", "007", "1e3", "-1", ".5", "5.", "1,000",
               "79228162514264337593543950335", "0.0000000000000000000000000001", " 1", ""}
    for table in ["fields-alppay", "fields-cryptomus", "fields-apollo"]:
        base = load_yaml(FIXTURES / "negative" / f"{table}.yaml")["base"]
        amounts.add(str(base["amount"]))
    for amount in sorted(amounts):
        write("money", amount.encode())


if __name__ == "__main__":
    for make in [create_request, provider_answer, signature, webhook, lookup, config, money]:
        make()
    for directory in sorted(CORPUS.iterdir()):
        print(f"{directory.name}: {len(list(directory.iterdir()))} files")
