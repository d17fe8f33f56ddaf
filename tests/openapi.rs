//! `docs/openapi/payglot.yaml` against the code: every inbound endpoint of every registered
//! provider is described and nothing else is (bar the webhook relay and the admin endpoints,
//! checked against their own parsers); each operation asks for the headers the dialect's own
//! signer writes; real errors rendered by each dialect validate against the envelope the
//! document gives for their status; and so do the golden fixtures' answers across dialects
//! (created payments and refusals as the code writes them).
//!
//! The last test runs schemathesis with the document against `payglot run` on the bundled
//! config (its sandbox in-process): a bounded run, every request signed as a demo merchant by
//! `tests/schemathesis/hooks.py`, checking that no answer is a 5xx other than the documented
//! upstream ones and that every answer is in its dialect's envelope. It needs schemathesis in
//! `target/sdk-venv`: `bash scripts/schemathesis.sh --install-only` (`scripts/test.sh` runs it).
//!
//! The validator covers only the JSON Schema subset the document uses for answers (types,
//! `nullable`, `required`, `properties`, `additionalProperties`, `items`, `enum`, `minimum`,
//! `maxItems`, `allOf`/`anyOf`/`oneOf`, local `$ref`): a schema crate would be a heavy
//! dependency for that.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http::HeaderMap;
use payglot::dialect::{Call, Dialect, Inbound};
use payglot::error::{ApiError, ErrorKind, RefusalReason};
use payglot::field::{Field, FieldRef};
use payglot::network::NetworkTable;
use payglot::secret::Credentials;
use payglot::webhooks::RelayPath;
use serde_json::Value;

mod common;

use common::binary::{run_bundled, temp_dir};

const DOC: &str = include_str!("../docs/openapi/payglot.yaml");
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_yaml::from_str(DOC).expect("docs/openapi/payglot.yaml is YAML")
}

/// Every (METHOD, path) the document describes.
fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> &'d Value {
    &doc["paths"][path][method.to_ascii_lowercase()]
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'d>(doc: &'d Value, mut value: &'d Value) -> &'d Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').expect("local $ref");
        value = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    value
}

/// The registry's inbound endpoints, with their dialect.
fn inbound() -> Vec<(Dialect, &'static Inbound)> {
    Dialect::ALL
        .into_iter()
        .flat_map(|d| d.codec().inbound().iter().map(move |i| (d, i)))
        .collect()
}

/// A concrete path for a templated one (`{x}` → `x-1`).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.strip_prefix('{') {
            Some(name) => format!("{}-1", name.trim_end_matches('}')),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_inbound_endpoint_is_described_under_its_dialect() {
    let doc = doc();
    let described = described(&doc);
    for (dialect, endpoint) in inbound() {
        let key = (endpoint.method.to_owned(), endpoint.path.to_owned());
        assert!(
            described.contains(&key),
            "{} {} ({dialect}) is served but not in docs/openapi/payglot.yaml",
            key.0,
            key.1
        );
        let tags = &operation(&doc, endpoint.method, endpoint.path)["tags"];
        assert_eq!(
            tags,
            &serde_json::json!([dialect.codec().title()]),
            "{} {} is tagged with its dialect's title",
            key.0,
            key.1
        );
    }
}

#[test]
fn the_document_describes_nothing_payglot_does_not_serve() {
    let doc = doc();
    let served: BTreeSet<(String, String)> = inbound()
        .into_iter()
        .map(|(_, i)| (i.method.to_owned(), i.path.to_owned()))
        .collect();
    for (method, path) in described(&doc) {
        if served.contains(&(method.clone(), path.clone())) {
            continue;
        }
        let tags = &operation(&doc, &method, &path)["tags"];
        if tags == &serde_json::json!(["Webhook relay"]) {
            assert_eq!(method, "POST", "{path}: the relay takes POSTs only");
            let sample = concrete(&path);
            let parsed = RelayPath::parse(&sample);
            let expected_variant = match path.matches('{').count() {
                1 => matches!(parsed, Some(RelayPath::Token(_))),
                2 => matches!(parsed, Some(RelayPath::Account { .. })),
                _ => false,
            };
            assert!(expected_variant, "{path} is not a relay path: {parsed:?}");
            // Only providers whose webhooks go to one URL per account have the second form.
            if let Some(providers) =
                operation(&doc, &method, &path)["parameters"][0]["schema"]["enum"].as_array()
            {
                let expected: Vec<Value> = Dialect::ALL
                    .into_iter()
                    .filter(|d| d.webhooks().account_level_webhooks())
                    .map(|d| Value::from(d.name()))
                    .collect();
                assert_eq!(providers, &expected, "{path}: its providers");
            }
        } else if tags == &serde_json::json!(["Admin"]) {
            assert_eq!(method, "GET", "{path}");
            assert!(
                payglot::admin::PATHS.contains(&path.as_str()),
                "{path} is not served on the metrics listener"
            );
            let server = doc["paths"][&path]["servers"][0]["url"].as_str();
            assert_eq!(
                server,
                Some("http://127.0.0.1:9464"),
                "{path} names the metrics listener"
            );
        } else {
            panic!("{method} {path} is in docs/openapi/payglot.yaml but payglot does not serve it");
        }
    }
    for path in payglot::admin::PATHS {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is missing from the document"
        );
    }
}

/// The header names of an operation's security requirement, lowercased.
fn security_headers(doc: &Value, op: &Value) -> BTreeSet<String> {
    let requirements = op["security"].as_array().expect("security");
    assert_eq!(requirements.len(), 1, "one way to authenticate");
    requirements[0]
        .as_object()
        .expect("requirement")
        .keys()
        .map(|scheme| {
            let scheme = &doc["components"]["securitySchemes"][scheme];
            assert_eq!(scheme["type"], "apiKey");
            assert_eq!(scheme["in"], "header");
            scheme["name"]
                .as_str()
                .expect("header name")
                .to_ascii_lowercase()
        })
        .collect()
}

#[test]
fn each_operation_asks_for_the_headers_its_dialect_checks() {
    let doc = doc();
    let credentials = Credentials::new("key-id", "secret");
    for (dialect, endpoint) in inbound() {
        let codec = dialect.codec();
        let op = operation(&doc, endpoint.method, endpoint.path);
        // The headers the dialect's own signer writes; a call whose check passes without any
        // header (AlpPay's GET lookups) takes the key id alone.
        let signed: BTreeSet<String> = codec
            .sign(b"{}", &credentials)
            .into_iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect();
        let call = Call {
            operation: endpoint.operation,
            path_id: Some("id-1"),
            query: None,
            body: b"{}",
        };
        let needs_signature = codec
            .verify_call(&call, &HeaderMap::new(), b"secret")
            .is_err();
        let expected: BTreeSet<String> = if needs_signature {
            signed
        } else {
            BTreeSet::from([codec.key_header().to_ascii_lowercase()])
        };
        assert!(expected.contains(&codec.key_header().to_ascii_lowercase()));
        assert_eq!(
            security_headers(&doc, op),
            expected,
            "{} {}",
            endpoint.method,
            endpoint.path
        );
    }
}

#[test]
fn documented_networks_are_read_by_their_dialect() {
    let doc = doc();
    let networks = NetworkTable::builtin();
    let schemas = &doc["components"]["schemas"];
    for (dialect, enum_at) in [
        (
            Dialect::AlpPay,
            &schemas["AlpPayCreate"]["properties"]["asset"]["properties"]["network"],
        ),
        (
            Dialect::Cryptomus,
            &schemas["CryptomusCreate"]["properties"]["network"],
        ),
        (
            Dialect::Apollo,
            &schemas["ApolloMakeOrder"]["properties"]["network"],
        ),
    ] {
        let names = enum_at["enum"].as_array().expect("network enum");
        for name in names {
            let name = name.as_str().expect("a name");
            assert!(
                networks.to_canonical(dialect, name).is_some(),
                "{dialect} does not read network {name:?}"
            );
        }
        // Every chain the dialect names, by the name payglot sends.
        for (_, wire) in dialect.codec().networks() {
            assert!(
                names.contains(&Value::from(wire[0])),
                "{dialect}'s network {} is not documented",
                wire[0]
            );
        }
    }
    let statuses = schemas["AlpPayPayment"]["properties"]["status"]["enum"]
        .as_array()
        .expect("status enum");
    for (_, status, _) in payglot::dialect::alppay::status::STATUS_OUT {
        assert!(
            statuses.contains(&Value::from(*status)),
            "AlpPay status {status} is not documented"
        );
    }
}

/// Errors of every kind a caller can meet, as the request path makes them.
fn sample_errors() -> Vec<ApiError> {
    let mut errors: Vec<ApiError> = [
        ErrorKind::Unauthenticated,
        ErrorKind::MalformedBody,
        ErrorKind::Replayed,
        ErrorKind::PayloadTooLarge,
        ErrorKind::RequestTimeout,
        ErrorKind::NoRoute,
        ErrorKind::NotFound,
        ErrorKind::UpstreamUnreachable,
        ErrorKind::UpstreamTimeout,
        ErrorKind::UpstreamAuth,
        ErrorKind::UpstreamInvalid,
        ErrorKind::UpstreamUnknownStatus,
        ErrorKind::UpstreamUnavailable,
        ErrorKind::StoreUnavailable,
        ErrorKind::InProgress,
    ]
    .into_iter()
    .map(|kind| ApiError::new(kind, format!("a {} error", kind.label())))
    .collect();
    errors.push(ApiError::field(
        Field::Amount,
        "validation.decimal",
        "amount must be a plain positive decimal",
    ));
    errors.push(ApiError::field(
        FieldRef::Wire("cursor".to_owned()),
        "validation.invalid",
        "cursor is not one payglot gave out",
    ));
    errors.push(ApiError::untranslatable(
        RefusalReason::FiatCurrency,
        "currency EUR is fiat",
    ));
    for status in [400, 404, 429, 500, 503] {
        errors.push(ApiError {
            upstream_status: Some(status),
            ..ApiError::new(ErrorKind::UpstreamRejected, "the provider refused")
        });
    }
    errors
}

#[test]
fn every_dialects_errors_validate_against_its_documented_envelope() {
    let doc = doc();
    for (dialect, endpoint) in inbound() {
        let op = operation(&doc, endpoint.method, endpoint.path);
        for error in sample_errors() {
            let (status, body) = dialect.codec().render_error(&error, "req-1");
            let label = format!(
                "{dialect} {} {}: {} answered {status}",
                endpoint.method,
                endpoint.path,
                error.kind.label()
            );
            let response = op["responses"]
                .get(status.to_string())
                .unwrap_or_else(|| panic!("{label}, a status the document does not list"));
            let response = resolve(&doc, response);
            let schema = &response["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{label}: no JSON schema");
            let body: Value =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
            if let Err(problem) = validate(&doc, schema, &body, "$") {
                panic!("{label}: {problem}\nbody: {body}");
            }
        }
    }
}

/// Every answer of the golden fixtures across dialects (what `tests/golden.rs` proves the code
/// writes: created payments, translated provider errors, refusals) against the document's
/// schema for the merchant dialect's create call and that status. Same-dialect routes pass the
/// provider's own answer through, so their fixtures are not payglot's shapes.
#[test]
fn golden_answers_validate_against_the_documented_create_answers() {
    let doc = doc();
    let root = Path::new(ROOT).join("tests/fixtures");
    let mut checked = 0;
    for pair in std::fs::read_dir(&root).expect("fixtures") {
        let pair = pair.expect("entry").path();
        let name = pair
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some((from, to)) = name.split_once("-to-") else {
            continue;
        };
        if from == to {
            continue;
        }
        let dialect: Dialect = from.parse().expect("a dialect");
        let create = dialect
            .codec()
            .inbound()
            .iter()
            .find(|i| i.operation == payglot::dialect::Operation::CreatePayment)
            .expect("a create path");
        let op = operation(&doc, create.method, create.path);
        for case in std::fs::read_dir(&pair).expect("cases") {
            let case = case.expect("entry").path();
            for file in ["answer.json", "read_error.json", "plan_error.json"] {
                let Ok(text) = std::fs::read_to_string(case.join(file)) else {
                    continue;
                };
                let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
                let status = fixture["status"].as_u64().expect("status");
                let body = match (&fixture["body"], fixture["body_raw"].as_str()) {
                    (Value::Null, Some(raw)) => serde_json::from_str(raw).expect("JSON body_raw"),
                    (body, _) => body.clone(),
                };
                let label = format!("{}/{file}: {status}", case.display());
                let response = op["responses"]
                    .get(status.to_string())
                    .unwrap_or_else(|| panic!("{label}, a status the document does not list"));
                let schema = &resolve(&doc, response)["content"]["application/json"]["schema"];
                if let Err(problem) = validate(&doc, schema, &body, "$") {
                    panic!("{label}: {problem}\nbody: {body}");
                }
                checked += 1;
            }
        }
    }
    // Six cross-dialect pairs, several cases each.
    assert!(checked >= 24, "only {checked} golden answers found");
}

/// The validator must refuse what the envelopes forbid, or the test above proves nothing.
#[test]
fn the_validator_refuses_bodies_outside_the_envelopes() {
    let doc = doc();
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    for (name, body) in [
        (
            "AlpPayError",
            serde_json::json!({"code": "x", "message": "m"}),
        ),
        (
            "AlpPayError",
            serde_json::json!({"code": 1, "message": "m", "requestId": "r"}),
        ),
        ("CryptomusError", serde_json::json!({"state": 1})),
        (
            "CryptomusError",
            serde_json::json!({"state": 0, "message": "m"}),
        ),
        (
            "CryptomusError",
            serde_json::json!({"state": 1, "errors": {"amount": "not a list"}}),
        ),
        (
            "ApolloError",
            serde_json::json!({"success": false, "error": {"code": 401, "name": "N"}, "requestId": "r"}),
        ),
        (
            "ApolloError",
            serde_json::json!({"success": true, "error": {"code": 401, "name": "N", "message": "m"}, "requestId": "r"}),
        ),
        (
            "ApolloOrder",
            serde_json::json!({"id": "1", "currency": "USDT", "status": "paid", "amount": "1", "received": "0", "transactions": [], "orphanDeposits": [1]}),
        ),
        ("AlpPayPaymentGet", serde_json::json!({"data": {}})),
    ] {
        assert!(
            validate(&doc, &schema(name), &body, "$").is_err(),
            "{name} accepted {body}"
        );
    }
    assert_eq!(
        validate(
            &doc,
            &schema("CryptomusError"),
            &serde_json::json!({"state": 1, "errors": {"amount": ["validation.numeric"]}}),
            "$"
        ),
        Ok(())
    );
}

/// Checks `value` against `schema` (the subset listed in the module comment).
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if value.is_null() && schema["nullable"] == Value::Bool(true) {
        return Ok(());
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            validate(doc, s, value, at)?;
        }
    }
    if let Some(any) = schema["anyOf"].as_array()
        && !any.iter().any(|s| validate(doc, s, value, at).is_ok())
    {
        return Err(format!("{at}: matches none of anyOf"));
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let matching = one
            .iter()
            .filter(|s| validate(doc, s, value, at).is_ok())
            .count();
        if matching != 1 {
            return Err(format!("{at}: matches {matching} of oneOf, not one"));
        }
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => return Err(format!("{at}: type {other} is outside the subset")),
    };
    if !type_ok {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64())
        && n < min
    {
        return Err(format!("{at}: {n} is below {min}"));
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                return Err(format!("{at}: {key} is required"));
            }
        }
        for (key, item) in object {
            let path = format!("{at}.{key}");
            match schema["properties"].get(key) {
                Some(property) => validate(doc, property, item, &path)?,
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => return Err(format!("{path} is not allowed")),
                    extra @ Value::Object(_) => validate(doc, extra, item, &path)?,
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(max) = schema["maxItems"].as_u64()
            && items.len() as u64 > max
        {
            return Err(format!("{at}: more than {max} items"));
        }
        if schema.get("items").is_some() {
            for (i, item) in items.iter().enumerate() {
                validate(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- the live run

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A setting of the live run from the environment (`scripts/schemathesis.sh` passes them).
fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Waits for `child` up to `limit`; kills it (by PID) and returns `None` on time-out.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn schemathesis_finds_every_answer_in_its_envelope_and_no_undocumented_5xx() {
    let schemathesis = Path::new(ROOT).join("target/sdk-venv/bin/schemathesis");
    assert!(
        schemathesis.is_file(),
        "no schemathesis at {}: run `bash scripts/schemathesis.sh --install-only` first \
         (scripts/test.sh does)",
        schemathesis.display()
    );
    // Small by default (about 20 s on two cores); scripts/schemathesis.sh runs longer ones.
    let examples = setting("PAYGLOT_SCHEMATHESIS_EXAMPLES", 20);
    let seed = setting("PAYGLOT_SCHEMATHESIS_SEED", 1);
    let limit = Duration::from_secs(setting("PAYGLOT_SCHEMATHESIS_SECONDS", 180));

    let dir = temp_dir("schemathesis");
    let proxy_log = dir.join("payglot.log");
    let running = run_bundled(&dir, || {
        let log = std::fs::File::create(&proxy_log).expect("log file");
        (log.try_clone().expect("log").into(), log.into())
    });
    let (proxy, metrics) = (running.ports.proxy, running.ports.metrics);
    let payglot = running.child;

    // The admin section, live: each path answers on the metrics listener, as text.
    for path in payglot::admin::PATHS {
        let answer = common::http::get(metrics, path, &[]);
        assert_eq!(answer.status, 200, "GET {path} on the metrics listener");
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "GET {path}: {:?}",
            answer.header("content-type")
        );
    }

    let out_path = dir.join("schemathesis.out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut run = Command::new(&schemathesis)
        .arg("run")
        .arg(Path::new(ROOT).join("docs/openapi/payglot.yaml"))
        .args(["--url", &format!("http://{proxy}")])
        // The admin endpoints are on the other listener (checked above).
        .args(["--exclude-tag", "Admin"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &seed.to_string()])
        // One worker: two raced CPython's compiler inside hypothesis once ("AST constructor
        // recursion depth mismatch"), a tooling failure that would make the test flaky.
        .args(["--workers", "1", "--request-timeout", "20"])
        .args([
            "--checks",
            "payglot_server_errors,payglot_reached,status_code_conformance,\
             content_type_conformance,response_schema_conformance,unsupported_method",
        ])
        // Hypothesis' health checks time the data generation itself, which a loaded machine
        // slows; they say nothing of payglot.
        .args(["--suppress-health-check", "all"])
        .args(["--generation-database", "none", "--no-color"])
        .current_dir(&dir)
        .env("PYTHONPATH", Path::new(ROOT).join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output"))
        .stderr(out)
        .spawn()
        .expect("start schemathesis");
    let status = wait_bounded(&mut run, limit);
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    print!("{output}");

    // Stop the proxy (kill by PID) before judging, so it never outlives the test.
    drop(payglot);
    let proxy_output = std::fs::read_to_string(&proxy_log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);

    let status = status.unwrap_or_else(|| {
        panic!(
            "schemathesis did not finish within {limit:?}:\n{output}\npayglot log:\n{proxy_output}"
        )
    });
    assert!(
        status.success(),
        "schemathesis found failures ({status}):\n{output}\npayglot log:\n{proxy_output}"
    );
    // "Test cases:" is followed by "  1698 generated, 1698 passed".
    let generated = output
        .lines()
        .skip_while(|line| line.trim() != "Test cases:")
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        generated.is_some_and(|n| n > 0),
        "schemathesis ran no test case:\n{output}"
    );
}
