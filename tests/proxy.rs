//! End to end over real loopback sockets: a merchant's signed request through the proxy to the
//! provider sandbox and back, for all nine dialect pairs, and every error path with the input
//! that triggers it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::http::{self, Response};
use common::sign;
use common::stack::{self, CRYPTOMUS_PAYGLOT};
use payglot::sandbox::Provider;
use serde_json::Value;

const DIALECTS: [&str; 3] = ["alppay", "cryptomus", "apollo"];

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// A unique number per request in this test process (order references, nonces).
fn next() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed) + std::process::id() as u64 * 1_000_000
}

fn path_of(dialect: &str) -> &'static str {
    match dialect {
        "alppay" => "/v2/payment",
        "cryptomus" => "/v1/payment",
        _ => "/api-gateway/make-order",
    }
}

/// A valid create request in `dialect` with merchant reference number `n`.
fn create_body(dialect: &str, n: u64, amount: &str) -> Vec<u8> {
    match dialect {
        "alppay" => format!(
            r#"{{"amount":"{amount}","asset":{{"short":"USDT","network":"tron"}},"customer":{{"id":42,"name":"Ann","email":"ann@example.com"}},"invoice":"INV-{n}","checkoutUrl":"https://shop.example/back"}}"#
        ),
        "cryptomus" => format!(
            r#"{{"amount":"{amount}","currency":"USDT","order_id":"order-{n}","network":"tron","url_return":"https://shop.example/back","lifetime":3600}}"#
        ),
        _ => format!(
            r#"{{"currency":"USDT","network":"tron","amount":"{amount}","order":"Order #{n}","lifetime":1800,"returnUrl":"https://shop.example/back","nonce":{n}}}"#
        ),
    }
    .into_bytes()
}

fn send(proxy: SocketAddr, dialect: &str, body: &[u8], extra: &[(&str, &str)]) -> Response {
    let signed = sign::headers(dialect, body);
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("Content-Type", "application/json"));
    headers.extend_from_slice(extra);
    http::post(proxy, path_of(dialect), &headers, body)
}

fn provider(dialect: &str) -> Provider {
    match dialect {
        "alppay" => Provider::AlpPay,
        "cryptomus" => Provider::Cryptomus,
        _ => Provider::Apollo,
    }
}

/// Checks the answer has the caller's success shape, echoes its reference, and describes a
/// USDT-on-Tron invoice for `amount`; returns the provider's payment id.
fn assert_success(dialect: &str, n: u64, amount: &str, answer: &Response) -> String {
    assert_eq!(answer.status, 200, "{dialect}: {}", answer.text());
    let json = answer.json();
    let same_amount = |v: &Value| {
        let text = v.as_str().unwrap_or_default();
        text.parse::<rust_decimal::Decimal>().ok() == amount.parse().ok()
    };
    match dialect {
        "alppay" => {
            assert_eq!(json["invoice"], format!("INV-{n}"));
            assert_eq!(json["status"], "OPEN");
            assert_eq!(json["asset"]["short"], "USDT");
            assert_eq!(json["asset"]["network"], "tron");
            assert!(same_amount(&json["amount"]), "{json}");
            assert!(
                json["addressTo"]
                    .as_str()
                    .is_some_and(|a| a.starts_with('T')),
                "{json}"
            );
            json["id"].as_str().map(str::to_owned).unwrap_or_default()
        }
        "cryptomus" => {
            assert_eq!(json["state"], 0, "{json}");
            let result = &json["result"];
            assert_eq!(result["order_id"], format!("order-{n}"));
            assert_eq!(result["status"], "check");
            assert_eq!(result["network"], "tron");
            assert_eq!(result["is_final"], false);
            assert!(same_amount(&result["amount"]), "{json}");
            assert!(
                result["address"]
                    .as_str()
                    .is_some_and(|a| a.starts_with('T')),
                "{json}"
            );
            result["uuid"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default()
        }
        _ => {
            assert_eq!(json["success"], true, "{json}");
            let response = &json["response"];
            assert_eq!(response["clientOrderId"], format!("Order #{n}"));
            assert_eq!(response["network"], "tron");
            assert!(
                matches!(response["status"].as_str(), Some("init" | "pending")),
                "{json}"
            );
            assert!(same_amount(&response["amount"]), "{json}");
            assert!(
                response["address"]
                    .as_str()
                    .is_some_and(|a| a.starts_with('T')),
                "{json}"
            );
            response["orderId"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default()
        }
    }
}

#[test]
fn all_nine_pairs_translate_both_ways() {
    let stack = stack::start(&stack::base_config("", ""));
    for from in DIALECTS {
        for to in DIALECTS {
            let n = next();
            let body = create_body(from, n, "100.50");
            let answer = send(stack.proxy, from, &body, &[("X-Test-Target", to)]);
            let id = assert_success(from, n, "100.50", &answer);
            assert!(
                !id.is_empty(),
                "{from}->{to}: no payment id in {}",
                answer.text()
            );

            let journal = stack.sandbox.journal();
            let seen = journal
                .last()
                .unwrap_or_else(|| panic!("{from}->{to}: the sandbox saw nothing"));
            assert_eq!(seen.provider, provider(to), "{from}->{to}");
            assert!(
                seen.signature_valid,
                "{from}->{to}: the sandbox refused payglot's signature"
            );
            assert_eq!(
                seen.status,
                200,
                "{from}->{to}: {}",
                String::from_utf8_lossy(&seen.body)
            );
            let key_header = match to {
                "alppay" => "API-KEY",
                "cryptomus" => "merchant",
                _ => "x-api-public-key",
            };
            assert_eq!(
                seen.header(key_header),
                Some(stack::upstream_key(from, to)),
                "{from}->{to}"
            );
            assert_eq!(
                seen.header("x-request-id"),
                answer.header("x-request-id"),
                "{from}->{to}"
            );
            if from == to {
                assert_eq!(
                    seen.body, body,
                    "{from}->{to}: a same-dialect body must pass untouched"
                );
            } else {
                let sent: Value =
                    serde_json::from_slice(&seen.body).expect("upstream body is JSON");
                assert_eq!(sent["amount"], "100.50", "{from}->{to}: {sent}");
            }
        }
    }
}

#[test]
fn cross_dialect_references_are_derived_and_echoed_back() {
    let stack = stack::start(&stack::base_config("", ""));
    let n = next();
    let body = create_body("apollo", n, "7.25");
    let answer = send(
        stack.proxy,
        "apollo",
        &body,
        &[("X-Test-Target", "cryptomus")],
    );
    assert_success("apollo", n, "7.25", &answer);
    let seen = stack.sandbox.journal().pop().expect("forwarded");
    let sent: Value = serde_json::from_slice(&seen.body).expect("JSON");
    let order_id = sent["order_id"].as_str().expect("order_id sent");
    assert!(order_id.starts_with(&format!("Order-{n}-")), "{order_id}");
    assert!(
        order_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    // The nonce is Apollo's own and never reaches another dialect.
    assert!(sent.get("nonce").is_none(), "{sent}");

    // A retried create with the same reference maps to the same Cryptomus invoice.
    let retry = create_body("apollo", n, "7.25");
    let mut retry: Value = serde_json::from_slice(&retry).expect("JSON");
    retry["nonce"] = Value::from(next());
    let retry = serde_json::to_vec(&retry).expect("JSON");
    let again = send(
        stack.proxy,
        "apollo",
        &retry,
        &[("X-Test-Target", "cryptomus")],
    );
    assert_eq!(
        again.json()["response"]["orderId"],
        answer.json()["response"]["orderId"]
    );
}

fn assert_error_envelope(dialect: &str, answer: &Response, status: u16, kind: &str) -> String {
    assert_eq!(answer.status, status, "{dialect}: {}", answer.text());
    let json = answer.json();
    match dialect {
        "alppay" => {
            assert_eq!(json["code"], kind, "{json}");
            json["message"].as_str().unwrap_or_default().to_owned()
        }
        "cryptomus" => {
            assert_eq!(json["state"], 1, "{json}");
            json["message"].as_str().unwrap_or_default().to_owned()
        }
        _ => {
            assert_eq!(json["success"], false, "{json}");
            assert_eq!(json["error"]["name"], kind.to_ascii_uppercase(), "{json}");
            assert_eq!(json["error"]["code"], status, "{json}");
            json["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    }
}

#[test]
fn bad_signatures_and_unknown_keys_are_refused_in_the_callers_dialect() {
    let stack = stack::start(&stack::base_config("", ""));
    for dialect in DIALECTS {
        let before = stack.sandbox.journal().len();
        let body = create_body(dialect, next(), "10");
        let mut headers = sign::headers(dialect, &body);
        // Tamper with the signature.
        headers[1].1 = headers[1].1.chars().rev().collect();
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = http::post(stack.proxy, path_of(dialect), &refs, &body);
        let bad_signature = assert_error_envelope(dialect, &answer, 401, "unauthenticated");
        assert!(bad_signature.contains("signature"), "{bad_signature}");

        // A key no merchant has.
        let mut headers = sign::headers(dialect, &body);
        headers[0].1 = "nobody".into();
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = http::post(stack.proxy, path_of(dialect), &refs, &body);
        let unknown_key = assert_error_envelope(dialect, &answer, 401, "unauthenticated");
        // The same text as a bad signature: key ids cannot be probed.
        assert_eq!(unknown_key, bad_signature);

        // No key at all.
        let answer = http::post(stack.proxy, path_of(dialect), &[], &body);
        assert_error_envelope(dialect, &answer, 401, "unauthenticated");
        assert_eq!(
            stack.sandbox.journal().len(),
            before,
            "{dialect}: nothing may be forwarded"
        );
    }
}

#[test]
fn malformed_bodies_are_refused_naming_the_problem() {
    let stack = stack::start(&stack::base_config("", ""));
    for dialect in DIALECTS {
        let body = create_body(dialect, next(), "10");
        let truncated = &body[..body.len() / 2];
        let answer = send(
            stack.proxy,
            dialect,
            truncated,
            &[("X-Test-Target", dialect)],
        );
        let message = assert_error_envelope(dialect, &answer, 400, "malformed_body");
        assert!(message.contains("JSON"), "{message}");
    }
    // A missing required field is named, in the caller's own field names.
    let body = br#"{"currency":"USDT","order_id":"o-1","network":"tron"}"#;
    let answer = send(
        stack.proxy,
        "cryptomus",
        body,
        &[("X-Test-Target", "apollo")],
    );
    assert_eq!(answer.status, 422, "{}", answer.text());
    assert_eq!(answer.json()["errors"]["amount"][0], "validation.required");
    let body =
        br#"{"amount":"1","asset":{"short":"USDT"},"customer":{"id":1,"name":"a","email":"b"}}"#;
    let answer = send(
        stack.proxy,
        "alppay",
        body,
        &[("X-Test-Target", "cryptomus")],
    );
    assert_eq!(answer.status, 422, "{}", answer.text());
    assert!(
        answer.json()["errors"].get("asset.network").is_some(),
        "{}",
        answer.text()
    );
    // Exponent notation is refused rather than guessed at.
    let body = create_body("apollo", next(), "1e3");
    let answer = send(stack.proxy, "apollo", &body, &[("X-Test-Target", "alppay")]);
    let message = assert_error_envelope("apollo", &answer, 422, "invalid_field");
    assert!(message.contains("exponent"), "{message}");
}

#[test]
fn oversized_bodies_get_413() {
    let stack = stack::start(&stack::base_config("", ""));
    let padding = "x".repeat(70 * 1024);
    for dialect in DIALECTS {
        let body = format!(r#"{{"padding":"{padding}"}}"#).into_bytes();
        let answer = send(stack.proxy, dialect, &body, &[("X-Test-Target", dialect)]);
        assert_error_envelope(dialect, &answer, 413, "payload_too_large");
    }
    // Without a Content-Length (chunked), the limit is enforced while reading.
    let body = format!(r#"{{"padding":"{padding}"}}"#);
    let mut raw = format!(
        "POST /v1/payment HTTP/1.1\r\nHost: x\r\nmerchant: {}\r\nsign: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        sign::CRYPTOMUS.0,
        sign::cryptomus_sign(sign::CRYPTOMUS.1, body.as_bytes())
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(8 * 1024) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let answer = http::send_raw(stack.proxy, &raw).expect("an answer");
    assert_error_envelope("cryptomus", &answer, 413, "payload_too_large");
}

#[test]
fn expect_100_continue_is_answered() {
    let stack = stack::start(&stack::base_config("", ""));
    let n = next();
    let body = create_body("alppay", n, "5");
    let mut stream = TcpStream::connect(stack.proxy).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /v2/payment HTTP/1.1\r\nHost: x\r\nAPI-KEY: {}\r\nX-HMAC: {}\r\nX-Test-Target: apollo\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        sign::ALPPAY.0,
        sign::hmac_hex(sign::ALPPAY.1, &body),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    let mut interim = [0u8; 25];
    stream
        .read_exact(&mut interim)
        .expect("an interim answer before the body is sent");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&body).expect("write body");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("\"invoice\":\"INV-{n}\"")), "{text}");
}

#[test]
fn kept_alive_and_pipelined_requests_are_answered_in_order() {
    let stack = stack::start(&stack::base_config("", ""));
    let request = |n: u64| {
        let body = create_body("alppay", n, "5");
        let mut raw = format!(
            "POST /v2/payment HTTP/1.1\r\nHost: x\r\nAPI-KEY: {}\r\nX-HMAC: {}\r\nX-Test-Target: apollo\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            sign::ALPPAY.0,
            sign::hmac_hex(sign::ALPPAY.1, &body),
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        raw
    };
    let stream = TcpStream::connect(stack.proxy).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut expect_answer = |n: u64| {
        let answer = http::read_one(&mut reader).expect("an answer on the same connection");
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(
            answer.text().contains(&format!("\"invoice\":\"INV-{n}\"")),
            "{}",
            answer.text()
        );
    };
    // One after another on one connection.
    for _ in 0..2 {
        let n = next();
        writer.write_all(&request(n)).expect("write");
        expect_answer(n);
    }
    // Three sent at once, before any answer is read: three answers, in order.
    let numbers = [next(), next(), next()];
    let burst: Vec<u8> = numbers.iter().flat_map(|n| request(*n)).collect();
    writer.write_all(&burst).expect("write");
    for n in numbers {
        expect_answer(n);
    }
}

#[test]
fn unreachable_and_silent_upstreams_answer_502_and_504() {
    // A port nothing listens on, and a listener that accepts but never answers.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    // The kernel completes connections to a bound socket nobody accepts on, so requests to it
    // are sent and then never answered.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let upstreams = format!(
        r#"  - id: closed
    dialect: cryptomus
    base_url: "http://{closed}/v1"
    credentials: {{ key_id: k, secret: s }}
    connect_timeout_ms: 500
  - id: silent
    dialect: apollo
    base_url: "http://{silent_addr}/api-gateway"
    credentials: {{ key_id: k, secret: s }}
    read_timeout_ms: 400
"#
    );
    let routes = r#"  - name: to-closed
    match: { header: { name: X-Test-Target, value: closed } }
    to: closed
  - name: to-silent
    match: { header: { name: X-Test-Target, value: silent } }
    to: silent
"#;
    let stack = stack::start(&stack::base_config(&upstreams, routes));
    for dialect in DIALECTS {
        let body = create_body(dialect, next(), "10");
        let answer = send(stack.proxy, dialect, &body, &[("X-Test-Target", "closed")]);
        assert_error_envelope(dialect, &answer, 502, "upstream_unreachable");
    }
    let body = create_body("cryptomus", next(), "10");
    let answer = send(
        stack.proxy,
        "cryptomus",
        &body,
        &[("X-Test-Target", "silent")],
    );
    let message = assert_error_envelope("cryptomus", &answer, 504, "upstream_timeout");
    assert!(message.contains("in time"), "{message}");
    drop(stack);
    drop(silent);
}

#[test]
fn upstream_errors_are_translated_into_the_callers_envelope() {
    let stack = stack::start(&stack::base_config("", ""));
    // The sandbox answers amount 13.13 with an HTTP 500 in its own envelope.
    let body = create_body("cryptomus", next(), "13.13");
    let answer = send(
        stack.proxy,
        "cryptomus",
        &body,
        &[("X-Test-Target", "apollo")],
    );
    assert_error_envelope("cryptomus", &answer, 502, "upstream_rejected");
    // A coin the provider does not take: its business error reaches the caller as a 422.
    let n = next();
    let body =
        format!(r#"{{"amount":"10","currency":"ZZZ","order_id":"zzz-{n}","network":"tron"}}"#);
    let answer = send(
        stack.proxy,
        "cryptomus",
        body.as_bytes(),
        &[("X-Test-Target", "apollo")],
    );
    let message = assert_error_envelope("cryptomus", &answer, 422, "upstream_rejected");
    assert!(message.contains("apollo provider refused"), "{message}");
}

#[test]
fn untranslatable_and_unrouted_requests_are_refused() {
    let stack = stack::start(&stack::base_config("", ""));
    let n = next();
    let fiat = format!(
        r#"{{"amount":"10","currency":"USD","to_currency":"USDT","order_id":"fiat-{n}","network":"tron"}}"#
    );
    let answer = send(
        stack.proxy,
        "cryptomus",
        fiat.as_bytes(),
        &[("X-Test-Target", "alppay")],
    );
    let message = assert_error_envelope("cryptomus", &answer, 422, "untranslatable");
    assert!(message.contains("USD"), "{message}");

    let body = create_body("apollo", next(), "10");
    let answer = send(stack.proxy, "apollo", &body, &[]);
    let message = assert_error_envelope("apollo", &answer, 422, "no_route");
    assert!(message.contains("shop-apollo"), "{message}");
}

#[test]
fn apollo_nonces_cannot_be_replayed() {
    let stack = stack::start(&stack::base_config("", ""));
    let body = create_body("apollo", next(), "3");
    let first = send(stack.proxy, "apollo", &body, &[("X-Test-Target", "alppay")]);
    assert_eq!(first.status, 200, "{}", first.text());
    let replay = send(stack.proxy, "apollo", &body, &[("X-Test-Target", "alppay")]);
    assert_error_envelope("apollo", &replay, 400, "replayed");
}

#[test]
fn wrong_method_and_unknown_paths() {
    let stack = stack::start(&stack::base_config("", ""));
    let answer = http::get(stack.proxy, "/v1/payment", &[]);
    assert_error_envelope("cryptomus", &answer, 405, "method_not_allowed");
    // RFC 9110: a 405 names the methods that are served there.
    assert_eq!(answer.header("allow"), Some("POST"));
    let answer = http::request(stack.proxy, "DELETE", "/v2/payment/", &[], b"").expect("DELETE");
    assert_error_envelope("alppay", &answer, 405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("GET, POST"));
    let answer = http::post(stack.proxy, "/v2/payment/some-id", &[], b"{}");
    assert_error_envelope("alppay", &answer, 405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("GET"));
    let answer = http::post(stack.proxy, "/api-gateway/no-such-thing", &[], b"{}");
    assert_error_envelope("apollo", &answer, 404, "not_found");
    let answer = http::get(stack.proxy, "/", &[]);
    assert_eq!(answer.status, 404);
}

/// Makes a CA and a certificate for `localhost` signed by it, with the openssl command.
fn test_certificates(dir: &std::path::Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (ca_key, ca, key, csr, cert, ext) = (
        path("ca.key"),
        path("ca.pem"),
        path("server.key"),
        path("server.csr"),
        path("server.pem"),
        path("ext.cnf"),
    );
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        "/CN=payglot test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write ext");
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    (ca, cert, key)
}

#[test]
fn https_upstreams_are_reached_over_tls_with_the_configured_ca() {
    let dir = std::env::temp_dir().join(format!("payglot-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (ca, cert, key) = test_certificates(&dir);
    let tls_sandbox = payglot::sandbox::Sandbox::new(stack::sandbox_settings());
    let listener = payglot::serve::bind_loopback().expect("bind a loopback port");
    let tls_addr = listener.local_addr().expect("bound address");
    let port = tls_addr.port();
    let service = tls_sandbox
        .tls_service(&tls_addr.to_string(), &cert, &key)
        .expect("TLS listener");
    let running = payglot::serve::spawn_on(
        "tls-sandbox",
        payglot::serve::quick_stop_conf(),
        vec![Box::new(service)],
        vec![listener],
    )
    .expect("the TLS sandbox takes its listener");

    let upstreams = format!(
        "  - id: tls-cryptomus\n    dialect: cryptomus\n    base_url: \"https://localhost:{port}/cryptomus/v1\"\n    credentials: {{ key_id: {}, secret: {} }}\n",
        CRYPTOMUS_PAYGLOT.0, CRYPTOMUS_PAYGLOT.1
    );
    let routes = "  - name: to-tls\n    match: { header: { name: X-Test-Target, value: tls } }\n    to: tls-cryptomus\n";
    let template = stack::base_config(&upstreams, routes).replace(
        "  grace_period_secs: 0\n",
        &format!("  grace_period_secs: 0\n  upstream_ca_file: \"{ca}\"\n"),
    );
    let stack = stack::start(&template);
    let n = next();
    let answer = send(
        stack.proxy,
        "apollo",
        &create_body("apollo", n, "4.20"),
        &[("X-Test-Target", "tls")],
    );
    assert_success("apollo", n, "4.20", &answer);
    let seen = tls_sandbox
        .journal()
        .pop()
        .expect("the TLS sandbox was reached");
    assert!(seen.signature_valid);
    assert_eq!(seen.provider, Provider::Cryptomus);
    assert!(
        stack.sandbox.journal().is_empty(),
        "the plain sandbox must not have been used"
    );
    drop(stack);
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
