#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/) from the golden fixtures, the negative
tables and the bundled config, in the input layouts the targets read (see fuzz/src/lib.rs).
Files are named by their SHA-1 like libFuzzer's, so re-running adds nothing twice. The
committed corpora are these seeds plus the minimized finds of longer runs (docs/fuzzing.md).

    python3 fuzz/seed_corpus.py
"""
import copy
import hashlib
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
    for make in [create_request, provider_answer, signature, lookup, config, money]:
        make()
    for directory in sorted(CORPUS.iterdir()):
        print(f"{directory.name}: {len(list(directory.iterdir()))} files")
