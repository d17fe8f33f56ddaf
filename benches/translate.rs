//! The translation core, per pair and per leg, against a bare `serde_json` parse + serialize of
//! the same bytes (see BENCHMARKS.md).
//!
//! - `request_leg/<from>_to_<to>`: what the proxy does before calling the upstream:
//!   `read_request` (verify the merchant's signature, parse) then `plan_upstream` (map, render,
//!   sign for the upstream).
//! - `response_leg/<from>_to_<to>`: `answer` on the upstream's create answer (parse the
//!   provider's JSON, render the merchant's).
//! - `request_steps/...`: the request leg's parts, one pair each, to see where its time goes.
//! - `bare_json/request/<dialect>` and `bare_json/response/<dialect>`:
//!   `from_slice::<serde_json::Value>` then `to_vec` of the very bodies the legs read;
//!   `bare_json/validate_only/<dialect>`: a syntax-only pass (`IgnoredAny`) over a request body.
//!
//! Bodies are the files under `bench/bodies/` (the load benchmark sends the same ones).
//!
//!     cargo bench --bench translate -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use time::macros::datetime;

use payglot::dialect::{Dialect, RenderContext};
use payglot::model::CreatePayment;
use payglot::network::NetworkTable;
use payglot::sandbox::demo;
use payglot::secret::Credentials;
use payglot::translate;

// The proxy's allocator, so that the figures are the proxy's (the core allocates per request).
payglot::use_allocator!();

/// A merchant's create request in its own dialect.
fn request_body(dialect: Dialect) -> &'static [u8] {
    match dialect {
        Dialect::AlpPay => include_bytes!("../bench/bodies/alppay-request.json"),
        Dialect::Cryptomus => include_bytes!("../bench/bodies/cryptomus-request.json"),
        Dialect::Apollo => include_bytes!("../bench/bodies/apollo-request.json"),
    }
}

/// A provider's answer to a create call.
fn response_body(dialect: Dialect) -> &'static [u8] {
    match dialect {
        Dialect::AlpPay => include_bytes!("../bench/bodies/alppay-response.json"),
        Dialect::Cryptomus => include_bytes!("../bench/bodies/cryptomus-response.json"),
        Dialect::Apollo => include_bytes!("../bench/bodies/apollo-response.json"),
    }
}

/// The headers a merchant of `dialect` sends with `body`, signed as the merchant would.
fn signed_headers(dialect: Dialect, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in dialect.codec().sign(body, &demo::credentials(dialect)) {
        let name =
            HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let value = HeaderValue::from_str(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
        headers.insert(name, value);
    }
    headers
}

/// Everything one pair needs, checked once before anything is timed.
struct Pair {
    from: Dialect,
    to: Dialect,
    body: &'static [u8],
    headers: HeaderMap,
    secret: Vec<u8>,
    upstream_credentials: Credentials,
    request: CreatePayment,
    upstream_answer: &'static [u8],
}

impl Pair {
    fn new(
        from: Dialect,
        to: Dialect,
        networks: &NetworkTable,
        context: &RenderContext<'_>,
    ) -> Pair {
        let body = request_body(from);
        let headers = signed_headers(from, body);
        let secret = demo::credentials(from).secret.expose().as_bytes().to_vec();
        let upstream_credentials = demo::credentials(to);
        let request = translate::read_request(from, &headers, body, &secret, networks)
            .unwrap_or_else(|e| panic!("{from} request refused: {e:?}"));
        let plan =
            translate::plan_upstream(from, to, body, &request, &upstream_credentials, context)
                .unwrap_or_else(|e| panic!("{from} -> {to}: not translated: {e:?}"));
        assert!(!plan.upstream.body.is_empty());
        let upstream_answer = response_body(to);
        let answer = translate::answer(from, to, 200, upstream_answer, &request, context);
        if let Err(e) = &answer.outcome {
            panic!("{from} -> {to}: the {to} answer was not read: {e:?}");
        }
        assert_eq!(answer.status, 200, "{from} -> {to}");
        Pair {
            from,
            to,
            body,
            headers,
            secret,
            upstream_credentials,
            request,
            upstream_answer,
        }
    }

    fn id(&self) -> String {
        format!("{}_to_{}", self.from.name(), self.to.name())
    }
}

fn benches(c: &mut Criterion) {
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
    let pairs: Vec<Pair> = Dialect::ALL
        .into_iter()
        .flat_map(|from| Dialect::ALL.into_iter().map(move |to| (from, to)))
        .map(|(from, to)| Pair::new(from, to, &networks, &context))
        .collect();

    let mut group = c.benchmark_group("request_leg");
    for pair in &pairs {
        group.throughput(Throughput::Bytes(pair.body.len() as u64));
        group.bench_function(pair.id(), |b| {
            b.iter(|| {
                let request = translate::read_request(
                    pair.from,
                    black_box(&pair.headers),
                    black_box(pair.body),
                    &pair.secret,
                    &networks,
                );
                request.and_then(|request| {
                    translate::plan_upstream(
                        pair.from,
                        pair.to,
                        pair.body,
                        &request,
                        &pair.upstream_credentials,
                        &context,
                    )
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("response_leg");
    for pair in &pairs {
        group.throughput(Throughput::Bytes(pair.upstream_answer.len() as u64));
        group.bench_function(pair.id(), |b| {
            b.iter(|| {
                translate::answer(
                    pair.from,
                    pair.to,
                    200,
                    black_box(pair.upstream_answer),
                    &pair.request,
                    &context,
                )
            })
        });
    }
    group.finish();

    // The request leg's steps, for the cross-dialect pair the load benchmark drives
    // (AlpPay merchant -> Cryptomus upstream), plus each dialect's verify and parse alone.
    let mut group = c.benchmark_group("request_steps");
    for dialect in Dialect::ALL {
        let body = request_body(dialect);
        let headers = signed_headers(dialect, body);
        let creds = demo::credentials(dialect);
        let secret = creds.secret.expose().as_bytes();
        let codec = dialect.codec();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("verify/{}", dialect.name()), |b| {
            b.iter(|| codec.verify(black_box(&headers), black_box(body), secret))
        });
        group.bench_function(format!("parse/{}", dialect.name()), |b| {
            b.iter(|| codec.parse_create(black_box(body), &networks))
        });
    }
    let Some(alp_to_cm) = pairs
        .iter()
        .find(|p| p.from == Dialect::AlpPay && p.to == Dialect::Cryptomus)
    else {
        unreachable!("every pair is built above")
    };
    let cryptomus = Dialect::Cryptomus.codec();
    group.bench_function("render/alppay_to_cryptomus", |b| {
        b.iter(|| cryptomus.render_create(black_box(&alp_to_cm.request), &context))
    });
    let rendered = cryptomus
        .render_create(&alp_to_cm.request, &context)
        .unwrap_or_else(|e| panic!("render: {e:?}"));
    group.bench_function("sign/cryptomus", |b| {
        b.iter(|| cryptomus.sign(black_box(&rendered.body), &alp_to_cm.upstream_credentials))
    });
    group.finish();

    let mut group = c.benchmark_group("bare_json");
    for (leg, body_of) in [
        ("request", request_body as fn(Dialect) -> &'static [u8]),
        ("response", response_body),
    ] {
        for dialect in Dialect::ALL {
            let body = body_of(dialect);
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_function(format!("{leg}/{}", dialect.name()), |b| {
                b.iter(|| {
                    serde_json::from_slice::<serde_json::Value>(black_box(body))
                        .and_then(|value| serde_json::to_vec(&value))
                })
            });
        }
    }
    // The syntax-only pass `parse_json` makes before the typed parse: what it adds to each
    // request leg.
    for dialect in Dialect::ALL {
        let body = request_body(dialect);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("validate_only/{}", dialect.name()), |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)))
        });
    }
    group.finish();
}

criterion_group!(translate_benches, benches);
criterion_main!(translate_benches);
