//! Negative tests: what payglot must refuse, and how it says so.
//!
//! * Wrong signatures (the wrong variants of dialects.md §4, spaced vs compact bodies with each
//!   other's signature, wrong keys, missing headers) are `Unauthenticated`; uppercase hex is not
//!   a wrong signature.
//! * Malformed bodies (not UTF-8, not JSON, truncated, an array, trailing bytes) are
//!   `MalformedBody` and name no field.
//! * Field problems (missing, wrong type, > 255 characters, duplicate keys, `"1e3"` and negative
//!   amounts, illegal Cryptomus `order_id`, lifetime out of range, …) are `InvalidField`, name the
//!   field in canonical terms in `ApiError.fields` and in the caller's own terms in the rendered
//!   error body.
//! * Requests that read fine but cannot be said at the target are `Untranslatable`.
//!
//! Every expectation here is written from the dialect reference and docs/mapping.md.

use http::{HeaderMap, HeaderName, HeaderValue};
use payglot::dialect::{Dialect, RenderContext};
use payglot::error::{ApiError, ErrorKind};
use payglot::model::{CreatePayment, MerchantProfile};
use payglot::network::NetworkTable;
use payglot::secret::Credentials;
use payglot::translate;
use serde_json::Value;
use time::macros::datetime;

const REQUEST_ID: &str = "req-negative-0001";

fn demo(dialect: Dialect) -> Credentials {
    match dialect {
        Dialect::AlpPay => Credentials::new("ak_test_payglot_alppay", "sk_test_payglot_alppay"),
        Dialect::Cryptomus => Credentials::new(
            "c0ffee00-0000-4000-8000-000000000001",
            "cm_test_payglot_key",
        ),
        Dialect::Apollo => Credentials::new("pk_test_payglot_apollo", "sk_test_payglot_apollo"),
    }
}

fn header_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::AlpPay => "x-hmac",
        Dialect::Cryptomus => "sign",
        Dialect::Apollo => "x-api-signature",
    }
}

fn headers_with(dialect: Dialect, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(header_name(dialect)),
        HeaderValue::from_str(signature).expect("ascii"),
    );
    headers
}

/// Headers signed correctly with the demo credentials (signing is tested elsewhere; here only
/// the body is under test).
fn signed(dialect: Dialect, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in dialect.codec().sign(body, &demo(dialect)) {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    headers
}

fn read(dialect: Dialect, body: &[u8]) -> Result<CreatePayment, ApiError> {
    let networks = NetworkTable::builtin();
    translate::read_request(
        dialect,
        &signed(dialect, body),
        body,
        demo(dialect).secret.expose().as_bytes(),
        &networks,
    )
}

/// Renders an error for a caller of `dialect` and returns (status, parsed body, raw text).
fn rendered(dialect: Dialect, error: &ApiError) -> (u16, Value, String) {
    let (status, body) = translate::error_answer(dialect, error, REQUEST_ID);
    let text = String::from_utf8(body.clone()).expect("utf-8 error body");
    let value = serde_json::from_slice(&body).expect("error bodies are JSON");
    (status, value, text)
}

// ------------------------------------------------------------------------------- signatures

#[test]
fn wrong_signatures_are_unauthenticated() {
    // (dialect, secret, body, signature, why) — every one must be refused.
    let cm_key = "test_payment_key_123";
    let wh_php = r#"{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"97a75bf8eda5cca41ba9d2e104840fcd","amount":"3.00000000","payment_amount":"3.00000000","payment_amount_usd":"0.23","merchant_amount":"2.94000000","commission":"0.06000000","is_final":true,"status":"paid","from":"THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH","wallet_address_uuid":null,"network":"tron","currency":"TRX","payer_currency":"TRX","additional_data":"Тест \/ x","convert":{"to_currency":"USDT","commission":null,"rate":"0.07700000","amount":"0.22638000"},"txid":"6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b"}"#;
    let wh_naive = wh_php.replace("\\/", "/");
    let cm_php = r#"{"amount":"15","currency":"USDT","order_id":"test-1","network":"tron","url_callback":"https:\/\/example.com\/cb"}"#;
    let cm_plain = cm_php.replace("\\/", "/");
    let cm_spaced = r#"{"amount": "15", "currency": "USDT", "order_id": "test-1", "network": "tron", "url_callback": "https://example.com/cb"}"#;
    let alp_key = "sk_live_abcdef1234567890";
    let alp_compact = r#"{"amount":"1000.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":12312312,"name":"John","email":"john@example.com"},"invoice":"INV-001","checkoutUrl":"https://your-shop.com/orders/40113049"}"#;
    let alp_sig = "7a69fb1ce3186d88bbf0dd0f6b55cdf65ea042e69abae1def64ee5b637a559fb";
    let alp_spaced = alp_compact.replace("\":", "\": ").replace(",\"", ", \"");
    let ap_key = "test_private_key";
    let ap_js = r#"{"currency":"USDT","network":"tron","amount":"100","order":"order-1","lifetime":1800,"successWebhook":"https://merchant.example/wh","nonce":1700000000001}"#;
    let ap_py = r#"{"currency": "USDT", "network": "tron", "amount": "100", "order": "order-1", "lifetime": 1800, "successWebhook": "https://merchant.example/wh", "nonce": 1700000000001}"#;
    let ap_js_sig = "750b3ef578cfb14f2b440359496720181bbaefc45124239ef294e463d901122e";
    let ap_py_sig = "67fda48f5989c3c5ae6e511daa4483d7631bf68bfeee2ffc75efbd9183ceb6e0";

    let cases: Vec<(Dialect, &str, String, &str, &str)> = vec![
        // Cryptomus webhook-style wrong variants (§4): the naive and the ASCII-escaped sign over
        // the PHP bytes, and the PHP sign over the naive bytes.
        (
            Dialect::Cryptomus,
            cm_key,
            wh_php.to_owned(),
            "cb1db0d06d964050fb6af7e700d30a9a",
            "naive JSON.stringify variant",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            wh_php.to_owned(),
            "aa11debec13bf031118653cceab45b16",
            "ASCII-escaped variant",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            wh_naive.clone(),
            "daa9f937f2e778bd98b4e91afb0cced2",
            "PHP sign over unescaped bytes",
        ),
        // Spaced vs compact, each with the other's signature.
        (
            Dialect::Cryptomus,
            cm_key,
            cm_spaced.to_owned(),
            "9cbff636373a497d250e2b47e0819f4c",
            "spaced body, compact sign",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            cm_plain.clone(),
            "cafdd01ee733154d8ce9ebd54dcd8b31",
            "compact body, spaced sign",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            cm_plain.clone(),
            "8da0d89a363f69cf6d91bc063dd7b973",
            "unescaped body, PHP sign",
        ),
        (
            Dialect::AlpPay,
            alp_key,
            alp_spaced.clone(),
            alp_sig,
            "spaced body, compact X-HMAC",
        ),
        (
            Dialect::Apollo,
            ap_key,
            ap_py.to_owned(),
            ap_js_sig,
            "spaced body, compact signature",
        ),
        (
            Dialect::Apollo,
            ap_key,
            ap_js.to_owned(),
            ap_py_sig,
            "compact body, spaced signature",
        ),
        // Wrong keys.
        (
            Dialect::Cryptomus,
            "test_payout_key_123",
            cm_php.to_owned(),
            "8da0d89a363f69cf6d91bc063dd7b973",
            "payout key instead of payment key",
        ),
        (
            Dialect::AlpPay,
            "ak_live_1234567890abcdef",
            alp_compact.to_owned(),
            alp_sig,
            "API key instead of HMAC secret",
        ),
        (
            Dialect::Apollo,
            "test_public_key",
            ap_js.to_owned(),
            ap_js_sig,
            "public key instead of private key",
        ),
        // md5(key) stands for the empty parameter set only.
        (
            Dialect::Cryptomus,
            cm_key,
            cm_php.to_owned(),
            "ec797338eec49b72bdbad52ada494126",
            "md5(key) on a non-empty body",
        ),
        // Malformed signatures.
        (
            Dialect::AlpPay,
            alp_key,
            alp_compact.to_owned(),
            &alp_sig[..63],
            "63 hex digits",
        ),
        (
            Dialect::AlpPay,
            alp_key,
            alp_compact.to_owned(),
            "zz69fb1ce3186d88bbf0dd0f6b55cdf65ea042e69abae1def64ee5b637a559fb",
            "not hex",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            cm_php.to_owned(),
            "",
            "empty sign",
        ),
        (
            Dialect::Apollo,
            ap_key,
            ap_js.to_owned(),
            "sha256=750b3ef578cfb14f2b440359496720181bbaefc45124239ef294e463d901122e",
            "prefixed signature",
        ),
    ];
    let networks = NetworkTable::builtin();
    let mut failures = Vec::new();
    for (dialect, secret, body, signature, why) in &cases {
        let headers = headers_with(*dialect, signature);
        let direct = dialect
            .codec()
            .verify(&headers, body.as_bytes(), secret.as_bytes());
        let through = translate::read_request(
            *dialect,
            &headers,
            body.as_bytes(),
            secret.as_bytes(),
            &networks,
        );
        match (&direct, &through) {
            (Err(a), Err(b))
                if a.kind == ErrorKind::Unauthenticated && b.kind == ErrorKind::Unauthenticated =>
            {
                let (status, _, _) = rendered(*dialect, b);
                if status != 401 {
                    failures.push(format!("{dialect} {why}: rendered status {status}"));
                }
            }
            _ => failures.push(format!(
                "{dialect} {why}: verify {direct:?}, read_request {through:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The same bodies with their own signatures pass verification (so the refusals above are
    // about the signature, not the body), uppercase hex included.
    for (dialect, secret, body, signature) in [
        (
            Dialect::Cryptomus,
            cm_key,
            wh_php,
            "daa9f937f2e778bd98b4e91afb0cced2",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            wh_naive.as_str(),
            "cb1db0d06d964050fb6af7e700d30a9a",
        ),
        (
            Dialect::Cryptomus,
            cm_key,
            cm_spaced,
            "CAFDD01EE733154D8CE9EBD54DCD8B31",
        ),
        (
            Dialect::AlpPay,
            alp_key,
            alp_compact,
            &alp_sig.to_uppercase(),
        ),
        (Dialect::Apollo, ap_key, ap_py, &ap_py_sig.to_uppercase()),
    ] {
        let headers = headers_with(dialect, signature);
        assert!(
            dialect
                .codec()
                .verify(&headers, body.as_bytes(), secret.as_bytes())
                .is_ok(),
            "{dialect}: {signature} should verify"
        );
    }
}

#[test]
fn missing_signature_header_is_unauthenticated() {
    let networks = NetworkTable::builtin();
    for dialect in Dialect::ALL {
        let mut headers = HeaderMap::new();
        let key = HeaderName::from_bytes(dialect.codec().key_header().as_bytes()).expect("name");
        headers.insert(key, HeaderValue::from_static("some-key"));
        let error = translate::read_request(dialect, &headers, b"{}", b"secret", &networks)
            .expect_err("no signature");
        assert_eq!(error.kind, ErrorKind::Unauthenticated, "{dialect}");
        assert!(
            translate::caller_key_id(dialect, &HeaderMap::new())
                .is_err_and(|e| e.kind == ErrorKind::Unauthenticated),
            "{dialect}: missing key header"
        );
    }
}

// ------------------------------------------------------------------------- malformed bodies

#[test]
fn malformed_bodies_name_no_field() {
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid UTF-8 inside a string",
            b"{\"amount\":\"1\xff0\"}".to_vec(),
        ),
        (
            "invalid UTF-8 lead byte",
            b"\xfe{\"amount\":\"10\"}".to_vec(),
        ),
        (
            "invalid UTF-8 in an unknown field",
            b"{\"amount\":\"10\",\"zz\":\"\xc3\x28\"}".to_vec(),
        ),
        (
            "a UTF-8 byte-order mark",
            b"\xef\xbb\xbf{\"amount\":\"10\"}".to_vec(),
        ),
        ("not JSON", b"amount=10&currency=USDT".to_vec()),
        (
            "truncated JSON",
            br#"{"amount":"10","currency":"US"#.to_vec(),
        ),
        ("truncated after a comma", br#"{"amount":"10","#.to_vec()),
        ("empty body", Vec::new()),
        ("whitespace only", b"  \n ".to_vec()),
        ("a JSON array", br#"["10","USDT","ord-1"]"#.to_vec()),
        ("an empty JSON array", b"[]".to_vec()),
        ("a JSON string", br#""amount""#.to_vec()),
        ("a JSON number", b"10".to_vec()),
        ("null", b"null".to_vec()),
        ("trailing bytes", br#"{"amount":"10"}x"#.to_vec()),
        ("two objects", br#"{"amount":"10"}{"amount":"11"}"#.to_vec()),
    ];
    // Complete, valid requests followed by something: still malformed.
    let valid = [alppay_body(&[]), cryptomus_body(&[]), apollo_body(&[])];
    let mut bodies = bodies;
    for v in &valid {
        bodies.push((
            "a valid request, then garbage",
            format!("{v}x").into_bytes(),
        ));
        bodies.push((
            "a valid request, then another",
            format!("{v}{v}").into_bytes(),
        ));
        bodies.push((
            "a valid request, truncated",
            v.as_bytes()[..v.len() - 1].to_vec(),
        ));
    }
    // An array with one element per field of the Cryptomus and Apollo wire structs: serde's
    // derived structs would read it positionally, as a valid request, if arrays were let in.
    let mut positional = vec![
        (
            "a positional Cryptomus array",
            format!(r#"["15","USDT","ord-1"{}]"#, ",null".repeat(16)).into_bytes(),
        ),
        (
            "a positional Apollo array",
            format!(r#"["USDT","tron","15","ord-1"{},1]"#, ",null".repeat(9)).into_bytes(),
        ),
    ];
    let mut all = bodies;
    all.append(&mut positional);
    let mut failures = Vec::new();
    for dialect in Dialect::ALL {
        for (why, body) in &all {
            match read(dialect, body) {
                Err(e) if e.kind == ErrorKind::MalformedBody && e.fields.is_empty() => {
                    let (status, value, _) = rendered(dialect, &e);
                    if status != 400 {
                        failures.push(format!("{dialect} {why}: status {status}"));
                    }
                    let envelope_ok = match dialect {
                        Dialect::AlpPay => value["code"] == "malformed_body",
                        Dialect::Cryptomus => value["state"] == 1,
                        Dialect::Apollo => {
                            value["success"] == false && value["error"]["name"] == "MALFORMED_BODY"
                        }
                    };
                    if !envelope_ok {
                        failures.push(format!("{dialect} {why}: envelope {value}"));
                    }
                }
                other => failures.push(format!("{dialect} {why}: {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --------------------------------------------------------------------------- field problems

/// One field problem: the body, and the field named canonically, by rule, and in the wire.
struct FieldCase {
    why: &'static str,
    body: String,
    canonical: &'static str,
    rule: &'static str,
    wire: &'static str,
}

fn field_case(
    why: &'static str,
    body: impl Into<String>,
    canonical: &'static str,
    rule: &'static str,
    wire: &'static str,
) -> FieldCase {
    FieldCase {
        why,
        body: body.into(),
        canonical,
        rule,
        wire,
    }
}

/// Checks each case is refused as `InvalidField` with exactly that field, and that the error a
/// caller of `dialect` gets names the field its own way.
fn check_field_cases(dialect: Dialect, cases: &[FieldCase]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let error = match read(dialect, case.body.as_bytes()) {
            Ok(request) => {
                failures.push(format!("{dialect} {}: accepted {request:?}", case.why));
                continue;
            }
            Err(e) => e,
        };
        let fields: Vec<(&str, &str)> = error
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.rule.as_str()))
            .collect();
        if error.kind != ErrorKind::InvalidField || fields != [(case.canonical, case.rule)] {
            failures.push(format!(
                "{dialect} {}: expected invalid_field {}/{}, got {:?} {fields:?} ({})",
                case.why, case.canonical, case.rule, error.kind, error.message
            ));
            continue;
        }
        let (status, value, text) = rendered(dialect, &error);
        let named = match dialect {
            Dialect::AlpPay | Dialect::Cryptomus => value["errors"][case.wire]
                .as_array()
                .is_some_and(|rules| rules.iter().any(|r| r == case.rule)),
            Dialect::Apollo => value["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("{}: {}", case.wire, case.rule))),
        };
        // A canonical name that differs from the caller's own must not leak into its answer.
        let leaks = case.canonical != case.wire
            && case.canonical.contains('_')
            && text.contains(case.canonical);
        if status != 422 || !named || leaks || !text.contains(case.wire) {
            failures.push(format!(
                "{dialect} {}: rendered {status} {text} (wanted {} named, no {})",
                case.why, case.wire, case.canonical
            ));
        }
    }
    failures
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

fn alppay_body(patch: &[(&str, Value)]) -> String {
    let mut v = serde_json::json!({
        "amount": "10",
        "asset": {"short": "USDT", "network": "tron"},
        "customer": {"id": 1, "name": "Ann", "email": "ann@example.com"},
        "clientId": "c-1",
        "invoice": "INV-1",
        "checkoutUrl": "https://shop.example/back"
    });
    apply(&mut v, patch);
    v.to_string()
}

fn cryptomus_body(patch: &[(&str, Value)]) -> String {
    let mut v = serde_json::json!({
        "amount": "10", "currency": "USDT", "order_id": "ord-1", "network": "tron"
    });
    apply(&mut v, patch);
    v.to_string()
}

fn apollo_body(patch: &[(&str, Value)]) -> String {
    let mut v = serde_json::json!({
        "currency": "USDT", "network": "tron", "amount": "10", "order": "o-1", "nonce": 1
    });
    apply(&mut v, patch);
    v.to_string()
}

/// Sets (or, with `Value::Null` under a `-` prefix, removes) dotted paths.
fn apply(v: &mut Value, patch: &[(&str, Value)]) {
    for (path, value) in patch {
        let (remove, path) = match path.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, *path),
        };
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().expect("path");
        let mut target = &mut *v;
        for p in parts {
            target = &mut target[p];
        }
        let object = target.as_object_mut().expect("object");
        if remove {
            object.remove(last);
        } else {
            object.insert(last.to_owned(), value.clone());
        }
    }
}

#[test]
fn alppay_field_problems() {
    use serde_json::json;
    let b = alppay_body;
    let cases = vec![
        field_case(
            "missing amount",
            b(&[("-amount", Value::Null)]),
            "amount",
            "validation.required",
            "amount",
        ),
        field_case(
            "missing asset.short",
            b(&[("-asset.short", Value::Null)]),
            "currency",
            "validation.required",
            "asset.short",
        ),
        field_case(
            "missing asset.network",
            b(&[("-asset.network", Value::Null)]),
            "network",
            "validation.required",
            "asset.network",
        ),
        field_case(
            "missing customer",
            b(&[("-customer", Value::Null)]),
            "customer",
            "validation.required",
            "customer",
        ),
        field_case(
            "missing customer.email",
            b(&[("-customer.email", Value::Null)]),
            "customer.email",
            "validation.required",
            "customer.email",
        ),
        field_case(
            "amount is a boolean",
            b(&[("amount", json!(true))]),
            "amount",
            "validation.invalid",
            "amount",
        ),
        field_case(
            "invoice is a number",
            b(&[("invoice", json!(5))]),
            "order_ref",
            "validation.invalid",
            "invoice",
        ),
        field_case(
            "customer.id is fractional",
            b(&[("customer.id", json!(1.5))]),
            "customer.id",
            "validation.invalid",
            "customer.id",
        ),
        field_case(
            "customer.id is null",
            b(&[("customer.id", Value::Null)]),
            "customer.id",
            "validation.invalid",
            "customer.id",
        ),
        field_case(
            "clientId is an object",
            b(&[("clientId", json!({}))]),
            "client_id",
            "validation.invalid",
            "clientId",
        ),
        field_case(
            "asset.network unknown",
            b(&[("asset.network", json!("bsc"))]),
            "network",
            "validation.in",
            "asset.network",
        ),
        field_case(
            "asset.short too long",
            b(&[("asset.short", json!(long(33)))]),
            "currency",
            "validation.max.string",
            "asset.short",
        ),
        field_case(
            "asset.short blank",
            b(&[("asset.short", json!("  "))]),
            "currency",
            "validation.required",
            "asset.short",
        ),
        field_case(
            "invoice > 255",
            b(&[("invoice", json!(long(256)))]),
            "order_ref",
            "validation.max.string",
            "invoice",
        ),
        field_case(
            "checkoutUrl > 255",
            b(&[("checkoutUrl", json!(long(256)))]),
            "return_url",
            "validation.max.string",
            "checkoutUrl",
        ),
        field_case(
            "clientId > 255",
            b(&[("clientId", json!(long(256)))]),
            "client_id",
            "validation.max.string",
            "clientId",
        ),
        field_case(
            "customer.name > 255",
            b(&[("customer.name", json!(long(256)))]),
            "customer.name",
            "validation.max.string",
            "customer.name",
        ),
        field_case(
            "customer.email > 255",
            b(&[("customer.email", json!(long(256)))]),
            "customer.email",
            "validation.max.string",
            "customer.email",
        ),
        field_case(
            "customer.id > 255",
            b(&[("customer.id", json!(long(256)))]),
            "customer.id",
            "validation.max.string",
            "customer.id",
        ),
        field_case(
            "amount \"1e3\"",
            b(&[("amount", json!("1e3"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount 1e3 as a number",
            b(&[]).replace("\"amount\":\"10\"", "\"amount\":1e3"),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount \"-5\"",
            b(&[("amount", json!("-5"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount -5 as a number",
            b(&[("amount", json!(-5))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount zero",
            b(&[("amount", json!("0.00"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount with separators",
            b(&[("amount", json!("1,000"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount with leading zeros",
            b(&[("amount", json!("007"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "duplicate amount",
            r#"{"amount":"10","amount":"10000","asset":{"short":"USDT","network":"tron"},"customer":{"id":1,"name":"A","email":"a@x"}}"#,
            "amount",
            "validation.duplicate",
            "amount",
        ),
        field_case(
            "duplicate asset.network",
            r#"{"amount":"10","asset":{"short":"USDT","network":"tron","network":"ethereum"},"customer":{"id":1,"name":"A","email":"a@x"}}"#,
            "network",
            "validation.duplicate",
            "asset.network",
        ),
    ];
    let failures = check_field_cases(Dialect::AlpPay, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Boundaries that must pass.
    for ok in [
        b(&[("invoice", json!(long(255)))]),
        b(&[("customer.id", json!("cust-7"))]),
        b(&[("asset.network", json!("TRC20"))]),
        b(&[("amount", json!(10.5))]),
    ] {
        assert!(read(Dialect::AlpPay, ok.as_bytes()).is_ok(), "{ok}");
    }
}

#[test]
fn cryptomus_field_problems() {
    use serde_json::json;
    let b = cryptomus_body;
    let cases = vec![
        field_case(
            "missing order_id",
            b(&[("-order_id", Value::Null)]),
            "order_ref",
            "validation.required",
            "order_id",
        ),
        field_case(
            "missing currency",
            b(&[("-currency", Value::Null)]),
            "currency",
            "validation.required",
            "currency",
        ),
        field_case(
            "missing amount",
            b(&[("-amount", Value::Null)]),
            "amount",
            "validation.required",
            "amount",
        ),
        field_case(
            "order_id with a space",
            b(&[("order_id", json!("ord 1"))]),
            "order_ref",
            "validation.alpha_dash",
            "order_id",
        ),
        field_case(
            "order_id with #",
            b(&[("order_id", json!("Order #1"))]),
            "order_ref",
            "validation.alpha_dash",
            "order_id",
        ),
        field_case(
            "order_id non-ASCII",
            b(&[("order_id", json!("заказ-1"))]),
            "order_ref",
            "validation.alpha_dash",
            "order_id",
        ),
        field_case(
            "order_id empty",
            b(&[("order_id", json!(""))]),
            "order_ref",
            "validation.alpha_dash",
            "order_id",
        ),
        field_case(
            "order_id 129 chars",
            b(&[("order_id", json!(long(129)))]),
            "order_ref",
            "validation.alpha_dash",
            "order_id",
        ),
        field_case(
            "order_id a number",
            b(&[("order_id", json!(42))]),
            "order_ref",
            "validation.invalid",
            "order_id",
        ),
        field_case(
            "lifetime 299",
            b(&[("lifetime", json!(299))]),
            "lifetime",
            "validation.between.numeric",
            "lifetime",
        ),
        field_case(
            "lifetime 43201",
            b(&[("lifetime", json!(43201))]),
            "lifetime",
            "validation.between.numeric",
            "lifetime",
        ),
        field_case(
            "lifetime negative",
            b(&[("lifetime", json!(-1))]),
            "lifetime",
            "validation.invalid",
            "lifetime",
        ),
        field_case(
            "lifetime text",
            b(&[("lifetime", json!("an hour"))]),
            "lifetime",
            "validation.invalid",
            "lifetime",
        ),
        field_case(
            "url_callback > 255",
            b(&[("url_callback", json!(format!("https://{}", long(248))))]),
            "callback",
            "validation.max.string",
            "url_callback",
        ),
        field_case(
            "url_callback < 6",
            b(&[("url_callback", json!("http:"))]),
            "callback",
            "validation.min.string",
            "url_callback",
        ),
        field_case(
            "url_return > 255",
            b(&[("url_return", json!(long(256)))]),
            "return_url",
            "validation.max.string",
            "url_return",
        ),
        field_case(
            "url_success > 255",
            b(&[("url_success", json!(long(256)))]),
            "success_url",
            "validation.max.string",
            "url_success",
        ),
        field_case(
            "additional_data > 255",
            b(&[("additional_data", json!(long(256)))]),
            "description",
            "validation.max.string",
            "additional_data",
        ),
        field_case(
            "to_currency > 32",
            b(&[("to_currency", json!(long(33)))]),
            "pay_currency",
            "validation.max.string",
            "to_currency",
        ),
        field_case(
            "to_currency empty",
            b(&[("to_currency", json!(""))]),
            "pay_currency",
            "validation.required",
            "to_currency",
        ),
        field_case(
            "accuracy_payment_percent 6",
            b(&[("accuracy_payment_percent", json!("6"))]),
            "tolerance_percent",
            "validation.between.numeric",
            "accuracy_payment_percent",
        ),
        field_case(
            "accuracy_payment_percent negative",
            b(&[("accuracy_payment_percent", json!(-1))]),
            "tolerance_percent",
            "validation.between.numeric",
            "accuracy_payment_percent",
        ),
        field_case(
            "subtract 101",
            b(&[("subtract", json!(101))]),
            "subtract",
            "validation.between.numeric",
            "subtract",
        ),
        field_case(
            "discount_percent 91",
            b(&[("discount_percent", json!(91))]),
            "discount_percent",
            "validation.between.numeric",
            "discount_percent",
        ),
        field_case(
            "discount_percent -100",
            b(&[("discount_percent", json!(-100))]),
            "discount_percent",
            "validation.between.numeric",
            "discount_percent",
        ),
        field_case(
            "is_payment_multiple \"yes\"",
            b(&[("is_payment_multiple", json!("yes"))]),
            "allow_partial",
            "validation.invalid",
            "is_payment_multiple",
        ),
        field_case(
            "network unknown",
            b(&[("network", json!("solana"))]),
            "network",
            "validation.in",
            "network",
        ),
        field_case(
            "amount \"1e3\"",
            b(&[("amount", json!("1e3"))]),
            "amount",
            "validation.numeric",
            "amount",
        ),
        field_case(
            "amount 1E3 as a number",
            b(&[]).replace("\"amount\":\"10\"", "\"amount\":1E3"),
            "amount",
            "validation.numeric",
            "amount",
        ),
        field_case(
            "amount \"-5\"",
            b(&[("amount", json!("-5"))]),
            "amount",
            "validation.numeric",
            "amount",
        ),
        field_case(
            "amount -5 as a number",
            b(&[("amount", json!(-5))]),
            "amount",
            "validation.numeric",
            "amount",
        ),
        field_case(
            "amount with a comma",
            b(&[("amount", json!("10,5"))]),
            "amount",
            "validation.numeric",
            "amount",
        ),
        field_case(
            "duplicate order_id",
            r#"{"amount":"10","currency":"USDT","order_id":"a-1","order_id":"b-2"}"#,
            "order_ref",
            "validation.duplicate",
            "order_id",
        ),
    ];
    let failures = check_field_cases(Dialect::Cryptomus, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for ok in [
        b(&[("order_id", json!(long(128)))]),
        b(&[("lifetime", json!(300))]),
        b(&[("lifetime", json!("43200"))]),
        b(&[("-network", Value::Null)]),
        b(&[("network", json!("TRON"))]),
        b(&[("amount", json!(15))]),
        b(&[("is_payment_multiple", json!("false"))]),
        b(&[("url_callback", json!(format!("https://{}", long(247))))]),
    ] {
        assert!(read(Dialect::Cryptomus, ok.as_bytes()).is_ok(), "{ok}");
    }
}

#[test]
fn apollo_field_problems() {
    use serde_json::json;
    let b = apollo_body;
    let cases = vec![
        field_case(
            "missing nonce",
            b(&[("-nonce", Value::Null)]),
            "nonce",
            "validation.required",
            "nonce",
        ),
        field_case(
            "null nonce",
            b(&[("nonce", Value::Null)]),
            "nonce",
            "validation.required",
            "nonce",
        ),
        field_case(
            "nonce > 255",
            b(&[("nonce", json!(long(256)))]),
            "nonce",
            "validation.max.string",
            "nonce",
        ),
        field_case(
            "missing order",
            b(&[("-order", Value::Null)]),
            "order_ref",
            "validation.required",
            "order",
        ),
        field_case(
            "missing network",
            b(&[("-network", Value::Null)]),
            "network",
            "validation.required",
            "network",
        ),
        field_case(
            "order blank",
            b(&[("order", json!(" "))]),
            "order_ref",
            "validation.required",
            "order",
        ),
        field_case(
            "order > 255",
            b(&[("order", json!(long(256)))]),
            "order_ref",
            "validation.max.string",
            "order",
        ),
        field_case(
            "order a number",
            b(&[("order", json!(7))]),
            "order_ref",
            "validation.invalid",
            "order",
        ),
        field_case(
            "lifetime 1 (the make-order example)",
            b(&[("lifetime", json!(1))]),
            "lifetime",
            "validation.between",
            "lifetime",
        ),
        field_case(
            "lifetime 1799 on tron",
            b(&[("lifetime", json!(1799))]),
            "lifetime",
            "validation.between",
            "lifetime",
        ),
        field_case(
            "lifetime 7199 on bitcoin",
            b(&[
                ("lifetime", json!(7199)),
                ("network", json!("bitcoin")),
                ("currency", json!("BTC")),
            ]),
            "lifetime",
            "validation.between",
            "lifetime",
        ),
        field_case(
            "lifetime 3599 on litecoin",
            b(&[
                ("lifetime", json!(3599)),
                ("network", json!("litecoin")),
                ("currency", json!("LTC")),
            ]),
            "lifetime",
            "validation.between",
            "lifetime",
        ),
        field_case(
            "lifetime 43201",
            b(&[("lifetime", json!(43201))]),
            "lifetime",
            "validation.between",
            "lifetime",
        ),
        field_case(
            "successWebhook > 255",
            b(&[("successWebhook", json!(long(256)))]),
            "callback",
            "validation.max.string",
            "successWebhook",
        ),
        field_case(
            "errorWebhook > 255",
            b(&[("errorWebhook", json!(long(256)))]),
            "failure_callback",
            "validation.max.string",
            "errorWebhook",
        ),
        field_case(
            "returnUrl > 255",
            b(&[("returnUrl", json!(long(256)))]),
            "return_url",
            "validation.max.string",
            "returnUrl",
        ),
        field_case(
            "description > 255",
            b(&[("description", json!(long(256)))]),
            "description",
            "validation.max.string",
            "description",
        ),
        field_case(
            "payerEmail > 255",
            b(&[("payerEmail", json!(long(256)))]),
            "customer.email",
            "validation.max.string",
            "payerEmail",
        ),
        field_case(
            "externalUserId > 255",
            b(&[("externalUserId", json!(long(256)))]),
            "client_id",
            "validation.max.string",
            "externalUserId",
        ),
        field_case(
            "externalUserId a boolean",
            b(&[("externalUserId", json!(true))]),
            "client_id",
            "validation.invalid",
            "externalUserId",
        ),
        field_case(
            "paymentTolerancePercent 101",
            b(&[("paymentTolerancePercent", json!("101"))]),
            "tolerance_percent",
            "validation.between",
            "paymentTolerancePercent",
        ),
        field_case(
            "paymentTolerancePercent text",
            b(&[("paymentTolerancePercent", json!("some"))]),
            "tolerance_percent",
            "validation.between",
            "paymentTolerancePercent",
        ),
        field_case(
            "checkRisks \"maybe\"",
            b(&[("checkRisks", json!("maybe"))]),
            "checkRisks",
            "validation.invalid",
            "checkRisks",
        ),
        field_case(
            "network is a Cryptomus name",
            b(&[("network", json!("eth"))]),
            "network",
            "validation.in",
            "network",
        ),
        field_case(
            "amount \"1e3\"",
            b(&[("amount", json!("1e3"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount \"-5\"",
            b(&[("amount", json!("-5"))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "amount -5 as a number",
            b(&[("amount", json!(-5))]),
            "amount",
            "validation.decimal",
            "amount",
        ),
        field_case(
            "duplicate network",
            r#"{"currency":"USDT","network":"tron","network":"ethereum","amount":"10","order":"o-1","nonce":1}"#,
            "network",
            "validation.duplicate",
            "network",
        ),
    ];
    let failures = check_field_cases(Dialect::Apollo, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for ok in [
        b(&[("lifetime", json!(1800))]),
        b(&[("lifetime", json!(7200)), ("network", json!("bitcoin"))]),
        b(&[("nonce", json!("e46c3fb5-9f53-4c8b-a4b6-7b5dbd2f3c11"))]),
        b(&[
            ("lifetime", Value::Null),
            ("payerEmail", Value::Null),
            ("checkRisks", Value::Null),
        ]),
        b(&[("advancedBalanceId", json!("ab-1"))]),
        b(&[("order", json!("Order #123456"))]),
    ] {
        assert!(read(Dialect::Apollo, ok.as_bytes()).is_ok(), "{ok}");
    }
}

// ---------------------------------------------------------------------------- untranslatable

fn plan(
    from: Dialect,
    to: Dialect,
    body: &str,
    merchant: &MerchantProfile,
) -> Result<translate::Plan, ApiError> {
    let networks = NetworkTable::builtin();
    let request = read(from, body.as_bytes()).expect("the request itself is valid");
    let context = RenderContext {
        networks: &networks,
        merchant,
        nonce: 1,
        request_id: REQUEST_ID,
        now: datetime!(2025-06-09 13:18:29 UTC),
    };
    translate::plan_upstream(from, to, body.as_bytes(), &request, &demo(to), &context)
}

fn full_profile() -> MerchantProfile {
    MerchantProfile {
        default_customer_name: Some("Demo Customer".into()),
        default_customer_email: Some("customer@shop.example".into()),
        default_networks: [("USDT".to_owned(), "tron".to_owned())].into(),
        ..MerchantProfile::default()
    }
}

#[test]
fn untranslatable_requests_are_refused_in_the_callers_dialect() {
    let with_defaults = full_profile();
    let without_network_default = MerchantProfile {
        default_networks: [("BTC".to_owned(), "bitcoin".to_owned())].into(),
        ..full_profile()
    };
    let without_customer = MerchantProfile {
        default_customer_name: None,
        ..full_profile()
    };
    // (from, to, body, profile, a word the message must carry, why)
    let cases: Vec<(Dialect, Dialect, &str, &MerchantProfile, &str, &str)> = vec![
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"100","currency":"USD","to_currency":"USDT","order_id":"f-1","network":"tron"}"#,
            &with_defaults,
            "USD",
            "fiat priced, paid in a coin",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"100","currency":"USD","to_currency":"USDT","order_id":"f-1","network":"tron"}"#,
            &with_defaults,
            "USD",
            "fiat priced, paid in a coin",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"100","currency":"EUR","order_id":"f-2"}"#,
            &with_defaults,
            "EUR",
            "fiat, payer picks the coin",
        ),
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"100","currency":"USDT","to_currency":"BTC","order_id":"c-1","network":"tron"}"#,
            &with_defaults,
            "BTC",
            "priced in one coin, paid in another",
        ),
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"10","currency":"USDT","order_id":"s-1","network":"tron","subtract":"50"}"#,
            &with_defaults,
            "subtract",
            "subtract moves the fee",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"10","currency":"USDT","order_id":"s-1","network":"tron","subtract":"50"}"#,
            &with_defaults,
            "subtract",
            "subtract moves the fee",
        ),
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"10","currency":"USDT","order_id":"d-1","network":"tron","discount_percent":"5"}"#,
            &with_defaults,
            "discount_percent",
            "discount changes the price",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"10","currency":"USDT","order_id":"d-1","network":"tron","discount_percent":-5}"#,
            &with_defaults,
            "discount_percent",
            "a surcharge changes the price",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"10","currency":"USDT","order_id":"n-1"}"#,
            &without_network_default,
            "network",
            "no network, no default for USDT",
        ),
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"10","currency":"USDT","order_id":"n-1"}"#,
            &without_network_default,
            "network",
            "no network, no default for USDT",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"100","currency":"DOGE","order_id":"g-1","network":"doge"}"#,
            &with_defaults,
            "dogecoin",
            "doge has no Apollo name",
        ),
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"100","currency":"DOGE","order_id":"g-1","network":"doge"}"#,
            &with_defaults,
            "dogecoin",
            "doge has no AlpPay name",
        ),
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"1","currency":"SOL","order_id":"g-2","network":"sol"}"#,
            &with_defaults,
            "solana",
            "solana has no Apollo name",
        ),
        (
            Dialect::AlpPay,
            Dialect::Apollo,
            r#"{"amount":"1","asset":{"short":"SOL","network":"solana"},"customer":{"id":1,"name":"A","email":"a@x"}}"#,
            &with_defaults,
            "solana",
            "solana has no Apollo name",
        ),
        (
            Dialect::Apollo,
            Dialect::AlpPay,
            r#"{"currency":"BNB","network":"bsc","amount":"1","order":"o-1","nonce":1}"#,
            &with_defaults,
            "bsc",
            "bsc has no AlpPay name",
        ),
        (
            Dialect::Apollo,
            Dialect::Cryptomus,
            r#"{"currency":"XRP","network":"ripple","amount":"1","order":"o-1","nonce":1}"#,
            &with_defaults,
            "ripple",
            "ripple has no Cryptomus name",
        ),
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"10","currency":"USDT","order_id":"p-1","network":"tron"}"#,
            &without_customer,
            "customer.name",
            "AlpPay needs a customer name and there is no default",
        ),
    ];
    let mut failures = Vec::new();
    for (from, to, body, merchant, word, why) in &cases {
        match plan(*from, *to, body, merchant) {
            Err(e) if e.kind == ErrorKind::Untranslatable && e.message.contains(word) => {
                let (status, value, _) = rendered(*from, &e);
                let envelope_ok = match from {
                    Dialect::AlpPay => value["code"] == "untranslatable",
                    Dialect::Cryptomus => {
                        value["state"] == 1 && value["message"] == e.message.as_str()
                    }
                    Dialect::Apollo => {
                        value["success"] == false && value["error"]["name"] == "UNTRANSLATABLE"
                    }
                };
                if status != 422 || !envelope_ok {
                    failures.push(format!("{from}->{to} {why}: rendered {status} {value}"));
                }
            }
            other => failures.push(format!(
                "{from}->{to} {why}: {:?}",
                other.map(|p| String::from_utf8_lossy(&p.upstream.body).into_owned())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Controls: the same kinds of request that are fine.
    for (from, to, body) in [
        // A coin priced and paid in itself is no conversion.
        (
            Dialect::Cryptomus,
            Dialect::AlpPay,
            r#"{"amount":"10","currency":"USDT","to_currency":"usdt","order_id":"ok-1","network":"tron"}"#,
        ),
        // Fiat and fee fields stay within Cryptomus.
        (
            Dialect::Cryptomus,
            Dialect::Cryptomus,
            r#"{"amount":"10","currency":"USD","to_currency":"USDT","order_id":"ok-2","subtract":"50","discount_percent":"5"}"#,
        ),
        // No network, but a default for the coin.
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"10","currency":"USDT","order_id":"ok-3"}"#,
        ),
        // Cryptomus-only fields that do not touch the money are dropped, not refused.
        (
            Dialect::Cryptomus,
            Dialect::Apollo,
            r#"{"amount":"10","currency":"USDT","order_id":"ok-4","network":"tron","course_source":"Binance","is_refresh":"true","currencies":[{"currency":"USDT","network":"tron"}]}"#,
        ),
    ] {
        assert!(
            plan(from, to, body, &with_defaults).is_ok(),
            "{from}->{to} {body}"
        );
    }
}

// ------------------------------------------------------------------ provider answers gone wrong

#[test]
fn provider_answers_that_are_not_their_format_are_upstream_invalid() {
    let networks = NetworkTable::builtin();
    let merchant = full_profile();
    let context = RenderContext {
        networks: &networks,
        merchant: &merchant,
        nonce: 1,
        request_id: REQUEST_ID,
        now: datetime!(2025-06-09 13:18:29 UTC),
    };
    // The caller's request, read in each dialect (its content does not matter here).
    let requests = [
        (Dialect::AlpPay, alppay_body(&[])),
        (Dialect::Cryptomus, cryptomus_body(&[])),
        (Dialect::Apollo, apollo_body(&[])),
    ];
    // (provider, status, body, expected kind, expected caller status)
    let cases: Vec<(Dialect, u16, &str, ErrorKind, u16)> = vec![
        (
            Dialect::Cryptomus,
            200,
            r#"{"state":0}"#,
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Cryptomus,
            200,
            r#"{"state":0,"result":null}"#,
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Cryptomus,
            200,
            r#"{"state":0,"result":{"order_id":"x"}}"#,
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Cryptomus,
            200,
            "OK",
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Cryptomus,
            200,
            r#"{"state":1,"message":"Too much resend"}"#,
            ErrorKind::UpstreamRejected,
            422,
        ),
        (
            Dialect::Cryptomus,
            429,
            r#"{"state":1,"message":"Too many requests"}"#,
            ErrorKind::UpstreamRejected,
            429,
        ),
        (
            Dialect::Apollo,
            200,
            r#"{"success":true}"#,
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Apollo,
            200,
            r#"{"success":true,"response":{"status":"init"}}"#,
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Apollo,
            200,
            "<html></html>",
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (
            Dialect::Apollo,
            403,
            r#"{"success":false,"error":{"code":403,"name":"FORBIDDEN","message":"bad key"}}"#,
            ErrorKind::UpstreamAuth,
            502,
        ),
        (
            Dialect::AlpPay,
            200,
            r#"{"foo":1}"#,
            ErrorKind::UpstreamInvalid,
            502,
        ),
        (Dialect::AlpPay, 200, "", ErrorKind::UpstreamInvalid, 502),
        (Dialect::AlpPay, 302, "", ErrorKind::UpstreamInvalid, 502),
        (
            Dialect::AlpPay,
            503,
            "maintenance",
            ErrorKind::UpstreamRejected,
            502,
        ),
    ];
    let mut failures = Vec::new();
    for (provider, status, body, kind, caller_status) in &cases {
        for (caller, request_body) in &requests {
            if caller == provider {
                continue;
            }
            let request = read(*caller, request_body.as_bytes()).expect("valid request");
            let answer = translate::answer(
                *caller,
                *provider,
                *status,
                body.as_bytes(),
                &request,
                &context,
            );
            let got = answer.outcome.as_ref().err().map(|e| e.kind);
            if got != Some(*kind) || answer.status != *caller_status {
                failures.push(format!(
                    "{provider} {status} {body} -> {caller}: {:?} {} {}",
                    answer.outcome.as_ref().err(),
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
