#!/usr/bin/env python3
"""Signed create requests for the load benchmark (scripts/bench-load.sh), one per line.

Each line is the request's headers and then its body, separated by tabs (compact JSON holds no
raw tab): `API-KEY: ...<TAB>X-HMAC: ...<TAB>{"amount":...}`. bench/wrk.lua and
examples/loadgen.rs send the lines in turn.

Every request carries its own order reference (`<reference>-<tag>-<n>`): payglot records each
payment in its index and answers a repeated reference with the payment already made, so a
benchmark of creates needs a new reference per request. `--pad BYTES` grows the body to that
size with a field the proxies do not read (`"note"`, placed last), for the scaling runs;
`--sign-as` signs in another dialect's scheme (the same bytes to a pass-through).

    python3 bench/make-requests.py --dialect alppay --body bench/bodies/alppay-request.json \\
        --count 1000 --tag r1 > requests.tsv
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys

# The benchmark configs' demo credentials (bench/payglot-*.yaml, bench/nginx-njs.conf.template).
ALPPAY = ("ak_test_payglot_alppay", "sk_test_payglot_alppay")
CRYPTOMUS = ("c0ffee00-0000-4000-8000-000000000001", "cm_test_payglot_key")
REFERENCE_FIELD = {"alppay": "invoice", "cryptomus": "order_id"}


def signed_headers(dialect, body):
    if dialect == "alppay":
        key_id, secret = ALPPAY
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return [f"API-KEY: {key_id}", f"X-HMAC: {signature}"]
    key_id, secret = CRYPTOMUS
    signature = hashlib.md5(base64.b64encode(body) + secret.encode()).hexdigest()
    return [f"merchant: {key_id}", f"sign: {signature}"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=sorted(REFERENCE_FIELD), required=True)
    parser.add_argument("--body", required=True, help="the template create body (JSON)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--tag", default="b", help="makes references unique across runs")
    parser.add_argument("--pad", type=int, default=0, help="body size in bytes, at least")
    parser.add_argument(
        "--sign-as",
        choices=sorted(REFERENCE_FIELD),
        help="sign in another dialect's scheme (a pass-through sent the same bytes)",
    )
    args = parser.parse_args()

    with open(args.body, "rb") as f:
        template = json.loads(f.read())
    field = REFERENCE_FIELD[args.dialect]
    reference = template[field]
    out = sys.stdout.buffer
    for n in range(args.count):
        template[field] = f"{reference}-{args.tag}-{n}"
        body = json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode()
        if args.pad > len(body):
            # `,"note":"` + filler + `"` replaces the closing brace and adds 10 bytes.
            filler = b"x" * (args.pad - len(body) - 10)
            body = body[:-1] + b',"note":"' + filler + b'"}'
        headers = signed_headers(args.sign_as or args.dialect, body)
        out.write("\t".join(headers).encode() + b"\t" + body + b"\n")


if __name__ == "__main__":
    main()
