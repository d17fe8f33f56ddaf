//! The provider sandbox over real loopback sockets: each test starts its own server with
//! `serve::spawn_on` on a listener it bound (port 0) and stops it at the end (or on drop, if an
//! assertion fails).
//!
//! Signatures here are computed with the hmac/md-5 crates directly, and checked against the
//! worked vectors of dialects.md §4, so the sandbox is never checked against itself.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use payglot::sandbox::{Provider, Sandbox, SandboxAccount, SandboxSettings, demo, fault};
use payglot::serve::{self, Running};
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use common::http::{self, Response};
use common::{logs, sockets};

/// A sandbox listening on a loopback port the kernel picked.
struct Harness {
    sandbox: Arc<Sandbox>,
    addr: SocketAddr,
    running: Option<Running>,
}

impl Harness {
    fn start() -> Harness {
        Harness::with_settings(SandboxSettings::default())
    }

    fn with_settings(settings: SandboxSettings) -> Harness {
        let sandbox = Sandbox::new(settings);
        let listener = serve::bind_loopback().expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let service = sandbox.service(&addr.to_string());
        let running = serve::spawn_on(
            "sandbox-test",
            serve::quick_stop_conf(),
            vec![Box::new(service)],
            vec![listener],
        )
        .expect("the sandbox takes its listener");
        Harness {
            sandbox,
            addr,
            running: Some(running),
        }
    }

    fn stop(mut self) {
        if let Some(running) = self.running.take() {
            assert!(running.stop(), "sandbox did not stop cleanly");
        }
    }

    fn alppay_create(&self, body: &[u8]) -> Response {
        let signature = hmac_hex(demo::ALPPAY_HMAC_SECRET, body);
        let headers = [
            ("API-KEY", demo::ALPPAY_API_KEY),
            ("X-HMAC", signature.as_str()),
        ];
        http::post(self.addr, "/alppay/v2/payment", &headers, body)
    }

    fn cryptomus(&self, path: &str, body: &[u8]) -> Response {
        let sign = cryptomus_sign(demo::CRYPTOMUS_PAYMENT_KEY, body);
        let headers = [
            ("merchant", demo::CRYPTOMUS_MERCHANT),
            ("sign", sign.as_str()),
        ];
        http::post(self.addr, &format!("/cryptomus/v1/{path}"), &headers, body)
    }

    fn apollo(&self, endpoint: &str, body: &[u8]) -> Response {
        let signature = hmac_hex(demo::APOLLO_PRIVATE_KEY, body);
        let headers = [
            ("x-api-public-key", demo::APOLLO_PUBLIC_KEY),
            ("x-api-signature", signature.as_str()),
        ];
        http::post(
            self.addr,
            &format!("/apollo/api-gateway/{endpoint}"),
            &headers,
            body,
        )
    }

    /// Signs `fields` plus a fresh nonce and posts it to `endpoint`.
    fn apollo_json(&self, endpoint: &str, mut fields: Value) -> Response {
        fields["nonce"] = json!(next_nonce());
        self.apollo(endpoint, &to_bytes(&fields))
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn cryptomus_sign(key: &str, body: &[u8]) -> String {
    hex::encode(Md5::digest(
        format!("{}{key}", BASE64.encode(body)).as_bytes(),
    ))
}

fn next_nonce() -> u64 {
    static NONCE: AtomicU64 = AtomicU64::new(1_700_000_100_000);
    NONCE.fetch_add(1, Ordering::Relaxed)
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialisable")
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

fn assert_uuid_v4(text: &str) {
    let id = uuid::Uuid::parse_str(text).unwrap_or_else(|_| panic!("not a UUID: {text}"));
    assert_eq!(id.get_version_num(), 4, "{text}");
}

fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|_| panic!("not an RFC 3339 time: {text}"))
}

fn assert_recent(at: OffsetDateTime) {
    let age = OffsetDateTime::now_utc() - at;
    assert!(age.whole_seconds().abs() < 60, "{at} is not now");
}

/// The worked vectors of dialects.md §4 that our test signers must reproduce.
#[test]
fn test_signers_reproduce_the_documented_vectors() {
    let alppay = br#"{"amount":"250.00","asset":{"short":"USDT","network":"tron"}}"#;
    assert_eq!(
        hmac_hex("sk_live_abcdef1234567890", alppay),
        "e4f4735e8e4f1d0a2014cecc4113bf99667e54dcee7b10b4669386f11e11aff0"
    );
    assert_eq!(
        cryptomus_sign("test_payment_key_123", CM_PHP),
        "8da0d89a363f69cf6d91bc063dd7b973"
    );
    assert_eq!(
        cryptomus_sign("test_payment_key_123", b"{}"),
        "f5f6447d8544222293bfaeb79aee49d4"
    );
    assert_eq!(
        hmac_hex("test_private_key", br#"{"nonce":1700000000002}"#),
        "b7a1bbe68f58171f38091bab796e4a7ede04ffa6f9ff23fa2d79ad904ddddedb"
    );
}

// ---------------------------------------------------------------------------------------------
// AlpPay

const ALPPAY_DOC_BODY: &[u8] = br#"{"amount":"1000.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":12312312,"name":"John","email":"john@example.com"},"invoice":"INV-001","checkoutUrl":"https://your-shop.com/orders/40113049"}"#;

#[test]
fn alppay_accepts_the_documented_vector_and_answers_in_its_shapes() {
    let account = SandboxAccount::new(
        "ak_live_1234567890abcdef",
        "sk_live_abcdef1234567890",
        "Your Company",
    );
    let harness = Harness::with_settings(SandboxSettings {
        alppay: vec![account],
        ..SandboxSettings::default()
    });
    // Body and X-HMAC exactly as in dialects.md §4.
    let headers = [
        ("API-KEY", "ak_live_1234567890abcdef"),
        (
            "X-HMAC",
            "7a69fb1ce3186d88bbf0dd0f6b55cdf65ea042e69abae1def64ee5b637a559fb",
        ),
    ];
    let created = http::post(
        harness.addr,
        "/alppay/v2/payment",
        &headers,
        ALPPAY_DOC_BODY,
    );
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(created.header("content-type"), Some("application/json"));
    let payment = created.json();
    let id = str_of(&payment, "id");
    assert_uuid_v4(id);
    assert_eq!(payment["transactions"], json!([]));
    assert_eq!(payment["amount"], "1000.00");
    assert_eq!(payment["status"], "OPEN");
    assert_eq!(payment["asset"]["short"], "USDT");
    assert_eq!(payment["asset"]["network"], "tron");
    assert!(payment["asset"]["name"].is_string() && payment["asset"]["logoUrl"].is_string());
    let address = str_of(&payment, "addressTo");
    assert!(address.starts_with('T') && address.len() == 34, "{address}");
    assert!(payment["confirmsNeeded"].as_u64().is_some_and(|n| n > 0));
    assert!(payment["timeout"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(
        payment["checkoutUrl"],
        "https://your-shop.com/orders/40113049"
    );
    assert_eq!(
        payment["customer"],
        json!({"id": 12312312, "name": "John", "email": "john@example.com"})
    );
    assert_eq!(payment["invoice"], "INV-001");
    assert_eq!(payment["merchant"]["name"], "Your Company");
    for field in ["id", "siteUrl", "logoUrl", "email"] {
        assert!(payment["merchant"][field].is_string(), "merchant.{field}");
    }
    let redirect = str_of(&payment, "paymentRedirectUrl");
    assert!(
        redirect.starts_with("https://") && redirect.contains(".invalid") && redirect.contains(id)
    );
    let created_at = str_of(&payment, "createdAt");
    assert!(
        created_at.ends_with('Z') && created_at.len() == 20,
        "whole seconds, Z: {created_at}"
    );
    assert_recent(parse_time(created_at));
    assert_eq!(payment["updatedAt"], payment["createdAt"]);
    assert_eq!(payment["totalReceivedAmount"], "0.00");

    // The lookup needs API-KEY only, is wrapped in `data` and adds displayStatus.
    let key = [("API-KEY", "ak_live_1234567890abcdef")];
    for path in [
        format!("/alppay/v2/payment/{id}"),
        format!("/alppay/v2/payment/{id}/"),
    ] {
        let fetched = http::get(harness.addr, &path, &key);
        assert_eq!(fetched.status, 200, "{}", fetched.text());
        let data = &fetched.json()["data"];
        assert_eq!(data["id"], payment["id"]);
        assert_eq!(data["addressTo"], payment["addressTo"]);
        assert_eq!(data["status"], "OPEN");
        assert_eq!(data["displayStatus"], "NEW");
        assert!(data.get("destTag").is_some() && data["fixedFee"].is_string());
    }
    let missing = http::get(
        harness.addr,
        "/alppay/v2/payment/00000000-0000-4000-8000-000000000000",
        &key,
    );
    assert_eq!(missing.status, 404);

    let journal = harness.sandbox.journal();
    assert_eq!(journal.len(), 4);
    assert!(
        journal
            .iter()
            .all(|seen| seen.provider == Provider::AlpPay && seen.signature_valid)
    );
    assert_eq!(journal[0].method, "POST");
    assert_eq!(journal[0].path, "/alppay/v2/payment");
    assert_eq!(journal[0].body, ALPPAY_DOC_BODY);
    assert_eq!(journal[0].header("x-hmac"), Some(headers[1].1));
    assert_eq!(journal[0].status, 200);
    assert_eq!(
        (journal[1].method.as_str(), journal[3].status),
        ("GET", 404)
    );
    harness.stop();
}

#[test]
fn alppay_refuses_bad_credentials_with_401() {
    let harness = Harness::start();
    let body = br#"{"amount":"10.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":1,"name":"A","email":"a@example.com"}}"#;
    let good = hmac_hex(demo::ALPPAY_HMAC_SECRET, body);
    let wrong_key = hmac_hex("sk_test_someone_else", body);
    let cases: [&[(&str, &str)]; 4] = [
        &[("API-KEY", demo::ALPPAY_API_KEY), ("X-HMAC", &wrong_key)],
        &[("API-KEY", demo::ALPPAY_API_KEY)],
        &[("API-KEY", "ak_test_unknown"), ("X-HMAC", &good)],
        &[("X-HMAC", &good)],
    ];
    for headers in cases {
        let answer = http::post(harness.addr, "/alppay/v2/payment", headers, body);
        assert_eq!(answer.status, 401, "{headers:?}: {}", answer.text());
        let error = answer.json();
        assert_eq!(error["code"], "unauthorized");
        assert!(error["message"].is_string());
    }
    // A signature over other bytes (one more space) is refused too.
    let spaced = br#"{"amount": "10.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":1,"name":"A","email":"a@example.com"}}"#;
    let headers = [("API-KEY", demo::ALPPAY_API_KEY), ("X-HMAC", good.as_str())];
    assert_eq!(
        http::post(harness.addr, "/alppay/v2/payment", &headers, spaced).status,
        401
    );
    // Uppercase hex is the same signature.
    let upper = good.to_uppercase();
    let headers = [
        ("API-KEY", demo::ALPPAY_API_KEY),
        ("X-HMAC", upper.as_str()),
    ];
    assert_eq!(
        http::post(harness.addr, "/alppay/v2/payment", &headers, body).status,
        200
    );
    // GETs need a known API-KEY.
    let answer = http::get(harness.addr, "/alppay/v2/payment/x", &[("API-KEY", "nope")]);
    assert_eq!(
        (answer.status, answer.json()["code"].clone()),
        (401, json!("unauthorized"))
    );

    let journal = harness.sandbox.journal();
    let valid: Vec<bool> = journal.iter().map(|seen| seen.signature_valid).collect();
    assert_eq!(valid, [false, false, false, false, false, true, false]);
    harness.stop();
}

#[test]
fn alppay_validates_fields() {
    let harness = Harness::start();
    let valid = json!({
        "amount": "25.50",
        "asset": {"short": "USDC", "network": "ethereum"},
        "customer": {"id": 7, "name": "Ann", "email": "ann@example.com"},
        "clientId": "client-7",
        "invoice": "INV-7",
    });
    let created = harness.alppay_create(&to_bytes(&valid));
    assert_eq!(created.status, 200, "{}", created.text());
    let address = created.json()["addressTo"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        address.starts_with("0x")
            && address.len() == 42
            && address[2..].bytes().all(|b| b.is_ascii_hexdigit())
    );

    // Wrong types: the body does not decode, 400.
    for (pointer, value) in [
        ("/customer/id", json!("7")),
        ("/customer/id", json!(7.5)),
        ("/amount", json!(25.5)),
        ("/asset", json!("USDC")),
        ("/invoice", json!(12)),
    ] {
        let mut body = valid.clone();
        *body.pointer_mut(pointer).expect("field exists") = value;
        let answer = harness.alppay_create(&to_bytes(&body));
        assert_eq!(answer.status, 400, "{pointer}: {}", answer.text());
        assert_eq!(answer.json()["code"], "bad_request");
    }
    // Business validation: 422.
    let mut missing_customer = valid.clone();
    if let Some(body) = missing_customer.as_object_mut() {
        body.remove("customer");
    }
    let mut cases = vec![missing_customer];
    for (pointer, value) in [
        ("/amount", json!("abc")),
        ("/amount", json!("-5")),
        ("/amount", json!("1e3")),
        ("/amount", json!("0.000000001")),
        ("/customer/email", json!("not-an-email")),
        ("/asset/network", json!("bitcoin")),
        ("/asset/short", json!("DOGE")),
    ] {
        let mut body = valid.clone();
        *body.pointer_mut(pointer).expect("field exists") = value;
        cases.push(body);
    }
    for body in cases {
        let answer = harness.alppay_create(&to_bytes(&body));
        assert_eq!(answer.status, 422, "{body}: {}", answer.text());
        assert!(answer.json()["message"].is_string());
    }
    let unsupported = json!({"amount": "1", "asset": {"short": "USDT", "network": "bitcoin"},
        "customer": {"id": 1, "name": "A", "email": "a@example.com"}});
    assert_eq!(
        harness.alppay_create(&to_bytes(&unsupported)).json()["code"],
        "unsupported_asset"
    );
    // Not JSON, truncated JSON, invalid UTF-8.
    for body in [
        &b"amount=1"[..],
        br#"{"amount":"1","asset":{"#,
        b"{\"amount\":\"\xff\"}",
    ] {
        let answer = harness.alppay_create(body);
        assert_eq!(answer.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(answer.json()["code"], "bad_request");
    }
    harness.stop();
}

#[test]
fn alppay_client_id_keeps_its_address_and_expires_the_previous_payment() {
    let harness = Harness::start();
    let body = |amount: &str| {
        to_bytes(
            &json!({"amount": amount, "asset": {"short": "USDT", "network": "TRC20"},
            "customer": {"id": 3, "name": "Cy", "email": "cy@example.com"}, "clientId": "cy"}),
        )
    };
    let first = harness.alppay_create(&body("5")).json();
    let second = harness.alppay_create(&body("6")).json();
    assert_eq!(first["addressTo"], second["addressTo"]);
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["asset"]["network"], "tron");
    let key = [("API-KEY", demo::ALPPAY_API_KEY)];
    let previous = http::get(
        harness.addr,
        &format!("/alppay/v2/payment/{}", str_of(&first, "id")),
        &key,
    );
    assert_eq!(previous.json()["data"]["status"], "EXPIRED");
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// Cryptomus

const CM_PHP: &[u8] = br#"{"amount":"15","currency":"USDT","order_id":"test-1","network":"tron","url_callback":"https:\/\/example.com\/cb"}"#;
const CM_PY: &[u8] = br#"{"amount":"15","currency":"USDT","order_id":"test-1","network":"tron","url_callback":"https://example.com/cb"}"#;
const CM_PYCM: &[u8] = br#"{"amount": "15", "currency": "USDT", "order_id": "test-1", "network": "tron", "url_callback": "https://example.com/cb"}"#;

#[test]
fn cryptomus_accepts_the_documented_vectors_and_is_idempotent_on_order_id() {
    let merchant = "8b03432e-385b-4670-8d06-064591096795";
    let harness = Harness::with_settings(SandboxSettings {
        cryptomus: vec![SandboxAccount::new(
            merchant,
            "test_payment_key_123",
            "Test",
        )],
        ..SandboxSettings::default()
    });
    // The three encodings of one order, each with its §4 signature: one invoice.
    let vectors = [
        (CM_PHP, "8da0d89a363f69cf6d91bc063dd7b973"),
        (CM_PY, "9cbff636373a497d250e2b47e0819f4c"),
        (CM_PYCM, "cafdd01ee733154d8ce9ebd54dcd8b31"),
    ];
    let mut uuids = Vec::new();
    for (body, sign) in vectors {
        let headers = [("merchant", merchant), ("sign", sign)];
        let answer = http::post(harness.addr, "/cryptomus/v1/payment", &headers, body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        let answer = answer.json();
        assert_eq!(answer["state"], 0);
        uuids.push(answer["result"]["uuid"].clone());
    }
    assert!(uuids.iter().all(|uuid| *uuid == uuids[0]), "{uuids:?}");

    let headers = [
        ("merchant", merchant),
        ("sign", "8da0d89a363f69cf6d91bc063dd7b973"),
    ];
    let invoice =
        http::post(harness.addr, "/cryptomus/v1/payment", &headers, CM_PHP).json()["result"]
            .clone();
    assert_uuid_v4(str_of(&invoice, "uuid"));
    assert_eq!(invoice["order_id"], "test-1");
    assert_eq!(invoice["amount"], "15.00");
    assert_eq!(invoice["currency"], "USDT");
    assert_eq!(invoice["payer_currency"], "USDT");
    assert_eq!(invoice["network"], "tron");
    assert_eq!(invoice["status"], "check");
    assert_eq!(invoice["payment_status"], invoice["status"]);
    assert_eq!(invoice["is_final"], false);
    let address = str_of(&invoice, "address");
    assert!(address.starts_with('T') && address.len() == 34, "{address}");
    let url = str_of(&invoice, "url");
    assert!(
        url.starts_with("https://")
            && url.contains(".invalid")
            && url.ends_with(str_of(&invoice, "uuid"))
    );
    let created_at = str_of(&invoice, "created_at");
    assert!(
        created_at.ends_with("+00:00") && created_at.len() == 25,
        "{created_at}"
    );
    let created = parse_time(created_at);
    assert_recent(created);
    let expired_at = invoice["expired_at"].as_i64().expect("unix seconds");
    assert_eq!(
        expired_at - created.unix_timestamp(),
        3600,
        "default lifetime"
    );
    for field in [
        "payment_amount",
        "payer_amount",
        "discount_percent",
        "discount",
        "comments",
        "merchant_amount",
        "from",
        "txid",
        "additional_data",
        "updated_at",
    ] {
        assert!(invoice.get(field).is_some(), "result.{field} missing");
    }

    let journal = harness.sandbox.journal();
    assert_eq!(journal.len(), 4);
    assert!(
        journal
            .iter()
            .all(|seen| seen.provider == Provider::Cryptomus && seen.signature_valid)
    );
    assert_eq!(journal[2].body, CM_PYCM, "raw bytes recorded");
    harness.stop();
}

#[test]
fn cryptomus_info_finds_invoices_and_order_id_wins() {
    let harness = Harness::start();
    let create = |order_id: &str, amount: &str| {
        let body = json!({"amount": amount, "currency": "BTC", "network": "btc", "order_id": order_id, "lifetime": 900});
        let answer = harness.cryptomus("payment", &to_bytes(&body));
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()["result"].clone()
    };
    let first = create("order_A", "0.001");
    let repeat = create("order_A", "0.5");
    assert_eq!(repeat["uuid"], first["uuid"]);
    assert_eq!(
        repeat["amount"], "0.001",
        "the existing invoice comes back unchanged"
    );
    let second = create("order_B", "0.002");
    assert_ne!(second["uuid"], first["uuid"]);
    assert!(str_of(&first, "address").starts_with("bc1q"));
    let created = parse_time(str_of(&first, "created_at")).unix_timestamp();
    assert_eq!(
        first["expired_at"].as_i64().map(|at| at - created),
        Some(900)
    );

    let info = |body: Value| harness.cryptomus("payment/info", &to_bytes(&body));
    let by_uuid = info(json!({"uuid": first["uuid"]}));
    assert_eq!(by_uuid.status, 200);
    assert_eq!(by_uuid.json()["result"], first);
    assert_eq!(
        info(json!({"order_id": "order_B"})).json()["result"]["uuid"],
        second["uuid"]
    );
    let both = info(json!({"uuid": first["uuid"], "order_id": "order_B"}));
    assert_eq!(
        both.json()["result"]["uuid"],
        second["uuid"],
        "order_id wins over uuid"
    );

    let unknown = info(json!({"order_id": "nope"}));
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json(),
        json!({"state": 1, "message": "Payment not found"})
    );
    let neither = info(json!({}));
    assert_eq!(neither.status, 422);
    assert_eq!(
        neither.json()["errors"]["uuid"],
        json!(["validation.required_without"])
    );
    harness.stop();
}

#[test]
fn cryptomus_refuses_bad_credentials_with_401() {
    let harness = Harness::start();
    let body = br#"{"amount":"5","currency":"USDT","order_id":"auth-1","network":"tron"}"#;
    let good = cryptomus_sign(demo::CRYPTOMUS_PAYMENT_KEY, body);
    let other_key = cryptomus_sign("cm_other_key", body);
    let over_nothing = hex::encode(Md5::digest(demo::CRYPTOMUS_PAYMENT_KEY.as_bytes()));
    let cases: [&[(&str, &str)]; 5] = [
        &[("merchant", demo::CRYPTOMUS_MERCHANT), ("sign", &other_key)],
        &[
            ("merchant", demo::CRYPTOMUS_MERCHANT),
            ("sign", &over_nothing),
        ],
        &[("merchant", demo::CRYPTOMUS_MERCHANT)],
        &[
            ("merchant", "c0ffee00-0000-4000-8000-000000000002"),
            ("sign", &good),
        ],
        &[("sign", &good)],
    ];
    for headers in cases {
        let answer = http::post(harness.addr, "/cryptomus/v1/payment", headers, body);
        assert_eq!(answer.status, 401, "{headers:?}");
        let error = answer.json();
        assert_eq!(error["state"], 1);
        assert!(error["message"].is_string());
    }
    // Nothing was created by the refused calls.
    let lookup = harness.cryptomus("payment/info", br#"{"order_id":"auth-1"}"#);
    assert_eq!(lookup.status, 404);
    // An empty parameter set may be signed as md5(key): it reaches validation (422), not 401.
    let headers = [
        ("merchant", demo::CRYPTOMUS_MERCHANT),
        ("sign", over_nothing.as_str()),
    ];
    for empty in [&b""[..], b"{}", b"[]"] {
        let answer = http::post(harness.addr, "/cryptomus/v1/payment/info", &headers, empty);
        assert_eq!(
            answer.status,
            422,
            "{:?}: {}",
            String::from_utf8_lossy(empty),
            answer.text()
        );
    }
    let valid: Vec<bool> = harness
        .sandbox
        .journal()
        .iter()
        .map(|seen| seen.signature_valid)
        .collect();
    assert_eq!(
        valid,
        [false, false, false, false, false, true, true, true, true]
    );
    harness.stop();
}

#[test]
fn cryptomus_validates_fields_with_laravel_rules() {
    let harness = Harness::start();
    let base = json!({"amount": "10", "currency": "USDT", "order_id": "v-1", "network": "tron"});
    let cases = [
        ("order_id", json!("has space!"), "validation.alpha_dash"),
        ("order_id", json!("x".repeat(129)), "validation.max.string"),
        ("order_id", json!(""), "validation.required"),
        ("amount", json!("ten"), "validation.numeric"),
        ("amount", json!(null), "validation.required"),
        ("currency", json!(5), "validation.string"),
        ("lifetime", json!(299), "validation.min.numeric"),
        ("lifetime", json!(43201), "validation.max.numeric"),
        ("url_callback", json!("http:"), "validation.min.string"),
        (
            "url_callback",
            json!(format!("https://example.com/{}", "a".repeat(240))),
            "validation.max.string",
        ),
        ("url_return", json!("not a url at all"), "validation.url"),
        (
            "additional_data",
            json!("d".repeat(256)),
            "validation.max.string",
        ),
        (
            "accuracy_payment_percent",
            json!(6),
            "validation.max.numeric",
        ),
        ("subtract", json!(-1), "validation.min.numeric"),
        ("discount_percent", json!(91), "validation.max.numeric"),
        ("discount_percent", json!(-100), "validation.min.numeric"),
        ("is_payment_multiple", json!("yes"), "validation.boolean"),
        ("is_refresh", json!(1), "validation.boolean"),
    ];
    for (field, value, rule) in cases {
        let mut body = base.clone();
        body[field] = value;
        let answer = harness.cryptomus("payment", &to_bytes(&body));
        assert_eq!(answer.status, 422, "{field}: {}", answer.text());
        let answer = answer.json();
        assert_eq!(answer["state"], 1);
        let rules = answer["errors"][field]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            rules.contains(&json!(rule)),
            "{field}: expected {rule}, got {answer}"
        );
    }
    // Allowed forms: number amounts, "true"/"false" strings, bounds themselves, null optionals.
    let edge = json!({"amount": 10.5, "currency": "usdt", "order_id": "v_2-ok", "network": "TRON",
        "lifetime": 300, "is_payment_multiple": "false", "is_refresh": true, "discount_percent": -99,
        "accuracy_payment_percent": "5", "url_success": null});
    let answer = harness.cryptomus("payment", &to_bytes(&edge));
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["result"]["amount"], "10.50");
    assert_eq!(answer.json()["result"]["network"], "tron");
    // Unsupported pairs are a business error.
    let unsupported =
        json!({"amount": "1", "currency": "USDT", "order_id": "v-3", "network": "btc"});
    let answer = harness.cryptomus("payment", &to_bytes(&unsupported));
    assert_eq!(answer.status, 422);
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|text| text.contains("btc"))
    );
    // Not JSON, truncated JSON, invalid UTF-8: 400 in the state envelope.
    for body in [
        &b"order_id=1"[..],
        br#"{"amount":"1","#,
        b"{\"order_id\":\"\xc3\x28\"}",
    ] {
        let answer = harness.cryptomus("payment", body);
        assert_eq!(answer.status, 400);
        assert_eq!(answer.json()["state"], 1);
    }
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// Apollo

const AP_JS: &[u8] = br#"{"currency":"USDT","network":"tron","amount":"100","order":"order-1","lifetime":1800,"successWebhook":"https://merchant.example/wh","nonce":1700000000001}"#;
const AP_PY: &[u8] = br#"{"currency": "USDT", "network": "tron", "amount": "100", "order": "order-1", "lifetime": 1800, "successWebhook": "https://merchant.example/wh", "nonce": 1700000000001}"#;

#[test]
fn apollo_accepts_the_documented_vectors_and_refuses_nonce_reuse() {
    let harness = Harness::with_settings(SandboxSettings {
        apollo: vec![SandboxAccount::new(
            "test_public_key",
            "test_private_key",
            "Test",
        )],
        ..SandboxSettings::default()
    });
    let post = |path: &str, body: &[u8], signature: &str| {
        let headers = [
            ("x-api-public-key", "test_public_key"),
            ("x-api-signature", signature),
        ];
        http::post(harness.addr, path, &headers, body)
    };
    let js_signature = "750b3ef578cfb14f2b440359496720181bbaefc45124239ef294e463d901122e";
    let created = post("/apollo/api-gateway/make-order", AP_JS, js_signature);
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.json();
    assert_eq!(created["success"], true);
    let order = &created["response"];
    assert_uuid_v4(str_of(order, "orderId"));
    assert_eq!(order["clientOrderId"], "order-1");
    assert_eq!(order["status"], "init");
    assert_eq!(
        (order["currency"].clone(), order["network"].clone()),
        (json!("USDT"), json!("tron"))
    );
    assert_eq!(order["amount"], "100");
    assert_eq!(order["successWebhook"], "https://merchant.example/wh");
    assert!(str_of(order, "address").starts_with('T'));
    assert_uuid_v4(str_of(order, "addressId"));
    assert!(
        order["link"]
            .as_str()
            .is_some_and(|link| link.contains(".invalid"))
    );
    let created_at = str_of(order, "createdAt");
    let expires_at = str_of(order, "expiresAt");
    assert!(
        created_at.len() == 24 && created_at.ends_with('Z') && &created_at[19..20] == ".",
        "{created_at}"
    );
    assert_eq!(
        (parse_time(expires_at) - parse_time(created_at)).whole_seconds(),
        1800
    );
    for field in [
        "paymentTolerancePercent",
        "advancedBalanceId",
        "tag",
        "externalUserId",
        "payerEmail",
        "description",
        "errorWebhook",
        "returnUrl",
    ] {
        assert!(order.get(field).is_some(), "response.{field} missing");
    }

    // The same nonce again, replayed or re-encoded (Python SDK style, §4 signature): refused.
    let py_signature = "67fda48f5989c3c5ae6e511daa4483d7631bf68bfeee2ffc75efbd9183ceb6e0";
    for (body, signature) in [(AP_JS, js_signature), (AP_PY, py_signature)] {
        let replay = post("/apollo/api-gateway/make-order/", body, signature);
        assert_eq!(replay.status, 400, "{}", replay.text());
        let replay = replay.json();
        assert_eq!(replay["success"], false);
        assert_eq!(replay["error"]["name"], "NONCE_ALREADY_USED");
        assert!(replay["error"]["code"].is_i64() && replay["error"]["message"].is_string());
        assert!(replay["requestId"].is_string());
    }

    // test-signature reports on the §4 minimal body without spending anything.
    let minimal = br#"{"nonce":1700000000002}"#;
    let minimal_signature = "b7a1bbe68f58171f38091bab796e4a7ede04ffa6f9ff23fa2d79ad904ddddedb";
    for _ in 0..2 {
        let checked = post(
            "/apollo/api-gateway/test-signature",
            minimal,
            minimal_signature,
        )
        .json();
        assert_eq!(checked["success"], true);
        assert_eq!(
            checked["response"],
            json!({"errors": [], "checkSignatureResult": true, "signature": minimal_signature,
                "receivedBody": "{\"nonce\":1700000000002}"})
        );
    }
    let wrong = post("/apollo/api-gateway/test-signature", minimal, js_signature).json();
    assert_eq!(wrong["response"]["checkSignatureResult"], false);
    assert_eq!(wrong["response"]["signature"], minimal_signature);

    // The get-order shape, under its own names.
    let lookup = json!({"orderId": order["orderId"], "nonce": 1700000000003_u64});
    let lookup = to_bytes(&lookup);
    let fetched = post(
        "/apollo/api-gateway/order",
        &lookup,
        &hmac_hex("test_private_key", &lookup),
    );
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    let details = &fetched.json()["response"];
    assert_eq!(details["id"], order["orderId"]);
    assert_eq!(details["orderId"], "order-1");
    assert_eq!(details["address"], order["address"]);
    assert_eq!(details["expiresAt"], order["expiresAt"]);
    assert_eq!(
        (
            details["transactions"].clone(),
            details["orphanDeposits"].clone()
        ),
        (json!([]), json!([]))
    );
    assert!(details["received"].is_string() && details["updatedAt"].is_string());

    let journal = harness.sandbox.journal();
    let seen: Vec<(u16, bool)> = journal
        .iter()
        .map(|seen| (seen.status, seen.signature_valid))
        .collect();
    assert_eq!(
        seen,
        [
            (200, true),
            (400, true),
            (400, true),
            (200, true),
            (200, true),
            (200, false),
            (200, true)
        ]
    );
    assert_eq!(journal[1].path, "/apollo/api-gateway/make-order/");
    harness.stop();
}

#[test]
fn apollo_refuses_bad_credentials_with_401() {
    let harness = Harness::start();
    let body = to_bytes(
        &json!({"currency": "USDT", "network": "tron", "amount": "5", "order": "a-1", "nonce": next_nonce()}),
    );
    let good = hmac_hex(demo::APOLLO_PRIVATE_KEY, &body);
    let with_public = hmac_hex(demo::APOLLO_PUBLIC_KEY, &body);
    let cases: [&[(&str, &str)]; 4] = [
        &[
            ("x-api-public-key", demo::APOLLO_PUBLIC_KEY),
            ("x-api-signature", &with_public),
        ],
        &[("x-api-public-key", demo::APOLLO_PUBLIC_KEY)],
        &[
            ("x-api-public-key", "pk_unknown"),
            ("x-api-signature", &good),
        ],
        &[("x-api-signature", &good)],
    ];
    for headers in cases {
        let answer = http::post(
            harness.addr,
            "/apollo/api-gateway/make-order",
            headers,
            &body,
        );
        assert_eq!(answer.status, 401, "{headers:?}");
        let answer = answer.json();
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["code"], 401);
        assert!(answer["error"]["name"].is_string() && answer["error"]["message"].is_string());
        assert!(answer["requestId"].is_string());
    }
    // The refused requests did not spend the nonce: the genuine one still goes through.
    assert_eq!(harness.apollo("make-order", &body).status, 200);
    harness.stop();
}

#[test]
fn apollo_validates_fields() {
    let harness = Harness::start();
    let base =
        json!({"currency": "BTC", "network": "bitcoin", "amount": "0.01", "order": "Order #42"});
    // null optionals are absent, unknown fields (advancedBalanceId) ignored, nonce as a string.
    let mut lenient = base.clone();
    lenient["lifetime"] = json!(7200);
    lenient["description"] = json!(null);
    lenient["returnUrl"] = json!(null);
    lenient["advancedBalanceId"] = json!("00000000-0000-4000-8000-000000000000");
    lenient["nonce"] = json!(format!("n-{}", next_nonce()));
    let answer = harness.apollo("make-order", &to_bytes(&lenient));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let order = answer.json()["response"].clone();
    assert!(str_of(&order, "address").starts_with("bc1q"));
    let lifetime =
        parse_time(str_of(&order, "expiresAt")) - parse_time(str_of(&order, "createdAt"));
    assert_eq!(lifetime.whole_seconds(), 7200);
    // Without a lifetime, the network's minimum applies.
    let answer = harness.apollo_json(
        "make-order",
        json!({"currency": "LTC", "network": "litecoin", "amount": "1", "order": "o"}),
    );
    let order = answer.json()["response"].clone();
    let lifetime =
        parse_time(str_of(&order, "expiresAt")) - parse_time(str_of(&order, "createdAt"));
    assert_eq!(lifetime.whole_seconds(), 3600);

    let cases = [
        ("lifetime", json!(1800), "lifetime"), // bitcoin needs 7200
        ("lifetime", json!(43201), "lifetime"),
        ("lifetime", json!("7200"), "lifetime"),
        ("amount", json!(0.01), "amount"),
        ("amount", json!("0"), "amount"),
        ("amount", json!(null), "amount"),
        ("order", json!(""), "order"),
        ("currency", json!(null), "currency"),
        (
            "paymentTolerancePercent",
            json!(1.5),
            "paymentTolerancePercent",
        ),
        (
            "successWebhook",
            json!("mailto:x@example.com"),
            "successWebhook",
        ),
        ("payerEmail", json!("nobody"), "payerEmail"),
        ("checkRisks", json!("yes"), "checkRisks"),
    ];
    for (field, value, mentioned) in cases {
        let mut body = base.clone();
        body[field] = value;
        let answer = harness.apollo_json("make-order", body);
        assert_eq!(answer.status, 422, "{field}: {}", answer.text());
        let answer = answer.json();
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["name"], "VALIDATION_ERROR");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|text| text.contains(mentioned)),
            "{answer}"
        );
    }
    let unsupported = harness.apollo_json(
        "make-order",
        json!({"currency": "BTC", "network": "tron", "amount": "1", "order": "o"}),
    );
    assert_eq!(unsupported.status, 422);
    assert_eq!(
        unsupported.json()["error"]["name"],
        "CURRENCY_NOT_SUPPORTED"
    );

    // A signed body without a nonce, and bodies that are not JSON objects.
    let no_nonce = to_bytes(&base);
    let answer = harness.apollo("make-order", &no_nonce);
    assert_eq!(
        (answer.status, answer.json()["error"]["name"].clone()),
        (400, json!("NONCE_REQUIRED"))
    );
    for body in [
        &b"nonce=1"[..],
        br#"{"nonce":17,"amount":"#,
        b"{\"nonce\":\"\xff\"}",
        b"[1,2]",
    ] {
        let answer = harness.apollo("make-order", body);
        assert_eq!(answer.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(answer.json()["success"], false);
    }
    let missing = harness.apollo_json(
        "order",
        json!({"orderId": "00000000-0000-4000-8000-000000000000"}),
    );
    assert_eq!(
        (missing.status, missing.json()["error"]["name"].clone()),
        (404, json!("ORDER_NOT_FOUND"))
    );
    harness.stop();
}

#[test]
fn apollo_advanced_balances_answers_what_the_sdks_expect() {
    let harness = Harness::start();
    let answer = harness.apollo_json("advanced-balances/", json!({}));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(answer["success"], true);
    let balance = &answer["response"][0];
    assert_uuid_v4(str_of(balance, "advancedBalanceId"));
    assert_eq!(balance["currency"], "USD");
    assert_eq!(balance["balance"], "0");
    assert_eq!(balance["blocked"], false, "the SDKs type it as a boolean");
    assert_eq!(balance["tariffs"], json!([]));
    let currencies = balance["availableCurrenciesForDeposit"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(currencies.contains(&json!("USDT")) && currencies.contains(&json!("BTC")));
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// Faults, robustness, lifecycle

#[test]
fn magic_amount_makes_each_provider_fail_in_its_envelope() {
    let harness = Harness::start();
    let amount = fault::SERVER_ERROR_AMOUNT;
    let alppay = harness.alppay_create(&to_bytes(
        &json!({"amount": amount, "asset": {"short": "USDT", "network": "tron"},
        "customer": {"id": 1, "name": "A", "email": "a@example.com"}}),
    ));
    assert_eq!(alppay.status, 500);
    assert!(alppay.json()["code"].is_string());
    let cryptomus = harness.cryptomus(
        "payment",
        &to_bytes(&json!({"amount": amount, "currency": "USDT", "order_id": "f-1"})),
    );
    assert_eq!(
        (cryptomus.status, cryptomus.json()["state"].clone()),
        (500, json!(1))
    );
    // Nothing was stored: the same order_id can still be created.
    let retry = harness.cryptomus(
        "payment",
        &to_bytes(&json!({"amount": "1", "currency": "USDT", "order_id": "f-1"})),
    );
    assert_eq!(
        (retry.status, retry.json()["result"]["amount"].clone()),
        (200, json!("1.00"))
    );
    let apollo = harness.apollo_json(
        "make-order",
        json!({"currency": "USDT", "network": "tron", "amount": "13.130", "order": "f"}),
    );
    assert_eq!(
        (apollo.status, apollo.json()["success"].clone()),
        (500, json!(false))
    );
    harness.stop();
}

#[test]
fn malformed_requests_do_not_break_the_sandbox() {
    let harness = Harness::start();
    let raw_requests: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"POST /cryptomus/v1/payment HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n\xff\xfe\x00\x01\x02",
        b"POST /apollo/api-gateway/make-order HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{\"a\r\n0\r\n\r\n",
        b"GET /alppay/v2/payment/%00%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ];
    for raw in raw_requests {
        // Any answer, or a closed connection, is fine; a hang or a crash is not.
        if let Ok(answer) = http::send_raw(harness.addr, raw) {
            assert!(
                (400..500).contains(&answer.status),
                "{}: {}",
                String::from_utf8_lossy(raw),
                answer.status
            );
        }
    }
    let unsigned = http::post(
        harness.addr,
        "/cryptomus/v1/payment",
        &[],
        b"\xff\xfe\x00\x01\x02",
    );
    assert_eq!(
        (unsigned.status, unsigned.json()["state"].clone()),
        (401, json!(1))
    );
    let elsewhere = http::post(harness.addr, "/stripe/v1/charges", &[], b"{}");
    assert_eq!(elsewhere.status, 404);
    assert!(
        harness
            .sandbox
            .journal()
            .iter()
            .all(|seen| !seen.path.starts_with("/stripe")),
        "requests outside the providers are not journaled"
    );
    let wrong_method = http::get(harness.addr, "/cryptomus/v1/payment", &[]);
    assert_eq!(
        (wrong_method.status, wrong_method.json()["state"].clone()),
        (405, json!(1))
    );
    // Refused on the declared length, before any of the (here absent) body is read.
    let too_big = b"POST /apollo/api-gateway/make-order HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n";
    let answer = http::send_raw(harness.addr, too_big).expect("an answer");
    assert_eq!(
        (answer.status, answer.json()["success"].clone()),
        (413, json!(false))
    );

    // Still healthy.
    let answer = harness.apollo_json("test-signature", json!({}));
    assert_eq!(answer.json()["response"]["checkSignatureResult"], true);
    harness.stop();
}

#[test]
fn the_server_stops_promptly_and_frees_its_port() {
    let harness = Harness::start();
    let addr = harness.addr;
    // Our listener, by its socket inode: a later socket on the same port is not it.
    let ours = sockets::listening_inodes(addr);
    assert_eq!(ours.len(), 1, "one listener on {addr}: {ours:?}");
    // A kept-alive idle connection must not hold the shutdown up: `stop` (asserted inside)
    // is true only if the server thread ended within its bound (no grace period, a one-second
    // shutdown timeout, a small margin).
    let mut idle = std::net::TcpStream::connect(addr).expect("connect");
    harness.stop();
    assert!(
        sockets::listening_inodes(addr)
            .iter()
            .all(|inode| !ours.contains(inode)),
        "still listening after stop"
    );
    // And the idle connection was closed, not left open.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buffer = [0u8; 64];
    match std::io::Read::read(&mut idle, &mut buffer) {
        Ok(0) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the idle connection is still open after stop: {other:?}"),
    }
}

#[test]
fn slow_magic_amount_holds_the_answer_back() {
    let harness = Harness::start();
    let started = Instant::now();
    let body = json!({"amount": fault::SLOW_AMOUNT, "currency": "USDT", "order_id": "slow-1"});
    let answer = harness.cryptomus("payment", &to_bytes(&body));
    let waited = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.text());
    // Only the lower bound: how much later a loaded machine answers says nothing about the
    // sandbox (the client's own timeout bounds the wait).
    assert!(
        waited >= fault::SLOW_ANSWER_DELAY,
        "answered after {waited:?}"
    );
    harness.stop();
}

#[test]
fn a_service_that_cannot_bind_still_stops() {
    let taken = serve::bind_loopback().expect("bind");
    let addr = taken.local_addr().expect("address");
    let sandbox = Sandbox::new(SandboxSettings::default());
    let service = sandbox.service(&addr.to_string());
    logs::record();
    let running = serve::spawn(
        "sandbox-clash",
        serve::quick_stop_conf(),
        vec![Box::new(service)],
    );
    // pingora's bind fails inside the service's task, which then retries for half a minute...
    assert!(
        logs::wait_for(
            &[&addr.to_string(), "is in use, will try again"],
            Duration::from_secs(20)
        ),
        "the service never tried (and failed) to bind {addr}"
    );
    // ...while the server thread waits for a stop, and then stops within its bound.
    assert!(
        !running.is_finished(),
        "the server waits for its stop signal"
    );
    assert!(running.stop());
    drop(taken);
}
