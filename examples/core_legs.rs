//! Runs one leg of the translation core a given number of times, for instruction counts under
//! callgrind (repeatable where wall-clock timing is not). Same bodies and pairs as
//! `benches/translate.rs`; the cost of one leg is the difference between two counts:
//!
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/core_legs request cryptomus cryptomus 0
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/core_legs request cryptomus cryptomus 1000
//!
//! Legs: `request`, `response`, `bare-request` and `bare-response` (a `serde_json::Value` parse
//! plus serialize of the `from` dialect's body; `to` is ignored).

use std::hint::black_box;

use http::{HeaderMap, HeaderName, HeaderValue};
use time::macros::datetime;

use payglot::dialect::{Dialect, RenderContext};
use payglot::network::NetworkTable;
use payglot::sandbox::demo;
use payglot::translate;

// The proxy's allocator, so that the counts are the proxy's.
payglot::use_allocator!();

fn request_body(dialect: Dialect) -> &'static [u8] {
    match dialect {
        Dialect::AlpPay => include_bytes!("../bench/bodies/alppay-request.json"),
        Dialect::Cryptomus => include_bytes!("../bench/bodies/cryptomus-request.json"),
        Dialect::Apollo => include_bytes!("../bench/bodies/apollo-request.json"),
    }
}

fn response_body(dialect: Dialect) -> &'static [u8] {
    match dialect {
        Dialect::AlpPay => include_bytes!("../bench/bodies/alppay-response.json"),
        Dialect::Cryptomus => include_bytes!("../bench/bodies/cryptomus-response.json"),
        Dialect::Apollo => include_bytes!("../bench/bodies/apollo-response.json"),
    }
}

fn signed_headers(dialect: Dialect, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in dialect.codec().sign(body, &demo::credentials(dialect)) {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            panic!("{name}: not a header");
        };
        headers.insert(name, value);
    }
    headers
}

fn dialect(name: &str) -> Dialect {
    Dialect::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .unwrap_or_else(|| panic!("unknown dialect {name}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [leg, from, to, count] = args.as_slice() else {
        panic!("usage: core_legs LEG FROM TO COUNT");
    };
    let (from, to) = (dialect(from), dialect(to));
    let count: u64 = count.parse().unwrap_or_else(|e| panic!("{count}: {e}"));
    let networks = NetworkTable::builtin();
    let profile = demo::merchant_profile();
    let context = RenderContext {
        networks: &networks,
        merchant: &profile,
        nonce: 1_749_474_509_425,
        request_id: "3f1c2b9e-8d4a-4c7b-9e1f-0a2b3c4d5e6f",
        now: datetime!(2025-06-09 13:18:29 UTC),
        relay_callback: None,
    };
    let body = request_body(from);
    let headers = signed_headers(from, body);
    let secret = demo::credentials(from).secret.expose().as_bytes().to_vec();
    let upstream_credentials = demo::credentials(to);
    let request = translate::read_request(from, &headers, body, &secret, &networks)
        .unwrap_or_else(|e| panic!("{from} request refused: {e:?}"));
    let answer_body = response_body(to);
    for _ in 0..count {
        match leg.as_str() {
            "request" => {
                let planned = translate::read_request(
                    from,
                    black_box(&headers),
                    black_box(body),
                    &secret,
                    &networks,
                )
                .and_then(|request| {
                    translate::plan_upstream(
                        from,
                        to,
                        body,
                        &request,
                        &upstream_credentials,
                        &context,
                    )
                });
                assert!(planned.is_ok());
                black_box(planned).ok();
            }
            "response" => {
                let answer =
                    translate::answer(from, to, 200, black_box(answer_body), &request, &context);
                assert_eq!(answer.status, 200);
                black_box(answer);
            }
            "bare-request" | "bare-response" => {
                let bytes = if leg == "bare-request" {
                    request_body(from)
                } else {
                    response_body(from)
                };
                let out = serde_json::from_slice::<serde_json::Value>(black_box(bytes))
                    .and_then(|value| serde_json::to_vec(&value));
                black_box(out).ok();
            }
            other => panic!("unknown leg {other}"),
        }
    }
}
