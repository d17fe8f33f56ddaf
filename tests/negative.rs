//! Negative tests: what payglot must refuse, and how it says so.
//!
//! The cases are data, in `tests/fixtures/negative/` (one YAML file per table, each
//! commented), read by [`negative_tables`]:
//!
//! * Wrong signatures (the wrong variants of dialects.md §4, spaced vs compact bodies with each
//!   other's signature, wrong keys, malformed signatures) are `Unauthenticated`; uppercase hex is
//!   not a wrong signature (`signatures.yaml`).
//! * Malformed bodies (not UTF-8, not JSON, truncated, an array, trailing bytes) are
//!   `MalformedBody` and name no field (`malformed.yaml`).
//! * Field problems (missing, wrong type, > 255 characters, duplicate keys, `"1e3"` and negative
//!   amounts, illegal Cryptomus `order_id`, lifetime out of range, …) are `InvalidField`, name the
//!   field in canonical terms in `ApiError.fields` and in the caller's own terms in the rendered
//!   error body (`fields-<dialect>.yaml`).
//! * Requests that read fine but cannot be said at the target are `Untranslatable`
//!   (`untranslatable.yaml`).
//! * Provider answers that are not their format are `UpstreamInvalid` (`provider-answers.yaml`).
//!
//! Every expectation is written from the dialect reference and docs/mapping.md. The library is
//! called only through `translate` and `Dialect::codec()` (sign, verify, key header).

use std::collections::{BTreeMap, BTreeSet};

use http::{HeaderMap, HeaderName, HeaderValue};
use payglot::dialect::{Dialect, RenderContext};
use payglot::error::{ApiError, ErrorKind};
use payglot::model::{CreatePayment, MerchantProfile};
use payglot::network::NetworkTable;
use payglot::secret::Credentials;
use payglot::translate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::macros::datetime;

const REQUEST_ID: &str = "req-negative-0001";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/negative");

/// Every table file, with the number of cases it held when the tables moved out of code: a
/// loader that reads fewer (or none) fails instead of passing vacuously.
const TABLES: [(&str, usize); 7] = [
    ("signatures.yaml", 22),
    ("malformed.yaml", 27),
    ("fields-alppay.yaml", 32),
    ("fields-cryptomus.yaml", 41),
    ("fields-apollo.yaml", 34),
    ("untranslatable.yaml", 21),
    ("provider-answers.yaml", 14),
];

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

// ------------------------------------------------------------------------------ the tables

#[test]
fn negative_tables() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(FIXTURES)
        .expect("the negative fixtures folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let listed: BTreeSet<String> = TABLES.iter().map(|(file, _)| file.to_string()).collect();
    assert_eq!(on_disk, listed, "every table file is listed in TABLES");

    let fields: Vec<FieldTable> = ["alppay", "cryptomus", "apollo"]
        .iter()
        .map(|dialect| load(&format!("fields-{dialect}.yaml")))
        .collect();
    let bases: BTreeMap<DialectName, &Value> =
        fields.iter().map(|t| (t.dialect, &t.base)).collect();

    let mut report = Report::default();
    check_signatures(&load("signatures.yaml"), &mut report);
    check_malformed(&load("malformed.yaml"), &mut report);
    for table in &fields {
        check_fields(table, &mut report);
    }
    check_untranslatable(&load("untranslatable.yaml"), &mut report);
    check_provider_answers(&load("provider-answers.yaml"), &bases, &mut report);

    for (file, minimum) in TABLES {
        let loaded = report.loaded.get(file).copied().unwrap_or(0);
        assert!(
            loaded >= minimum,
            "{file}: {loaded} cases loaded, expected at least {minimum}"
        );
    }
    assert!(report.failures.is_empty(), "{}", report.failures.join("\n"));
}

/// What the tables found: failures (each naming its file and case) and cases per file.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
    loaded: BTreeMap<&'static str, usize>,
}

impl Report {
    /// Counts `names` as the cases of `file`; a repeated name is a failure, since a name is
    /// how a failure says which case.
    fn cases<'a>(&mut self, file: &'static str, names: impl IntoIterator<Item = &'a str>) {
        let mut seen = BTreeSet::new();
        for name in names {
            if !seen.insert(name) {
                self.failures
                    .push(format!("{file}: the name {name:?} is used twice"));
            }
            *self.loaded.entry(file).or_default() += 1;
        }
    }

    fn fail(&mut self, file: &str, name: &str, what: String) {
        self.failures.push(format!("{file} / {name}: {what}"));
    }
}

fn load<T: DeserializeOwned>(file: &str) -> T {
    let path = format!("{FIXTURES}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A dialect as the tables name it; mapped onto the library's own enum by hand so the tables
/// depend on nothing but its variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DialectName {
    AlpPay,
    Cryptomus,
    Apollo,
}

impl DialectName {
    fn dialect(self) -> Dialect {
        match self {
            DialectName::AlpPay => Dialect::AlpPay,
            DialectName::Cryptomus => Dialect::Cryptomus,
            DialectName::Apollo => Dialect::Apollo,
        }
    }
}

// ------------------------------------------------------------------------------- signatures

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureTable {
    bodies: BTreeMap<String, String>,
    refused: Vec<SignatureCase>,
    accepted: Vec<SignatureCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureCase {
    name: String,
    dialect: DialectName,
    secret: String,
    /// A key of `bodies`.
    body: String,
    signature: String,
}

fn check_signatures(table: &SignatureTable, report: &mut Report) {
    const FILE: &str = "signatures.yaml";
    let all = table.refused.iter().chain(&table.accepted);
    report.cases(FILE, all.map(|case| case.name.as_str()));
    let networks = NetworkTable::builtin();
    for case in &table.refused {
        let Some(body) = table.bodies.get(&case.body) else {
            report.fail(FILE, &case.name, format!("no body named {}", case.body));
            continue;
        };
        let dialect = case.dialect.dialect();
        let headers = headers_with(dialect, &case.signature);
        let direct = dialect
            .codec()
            .verify(&headers, body.as_bytes(), case.secret.as_bytes());
        let through = translate::read_request(
            dialect,
            &headers,
            body.as_bytes(),
            case.secret.as_bytes(),
            &networks,
        );
        match (&direct, &through) {
            (Err(a), Err(b))
                if a.kind == ErrorKind::Unauthenticated && b.kind == ErrorKind::Unauthenticated =>
            {
                let (status, _, _) = rendered(dialect, b);
                if status != 401 {
                    report.fail(FILE, &case.name, format!("rendered status {status}"));
                }
            }
            _ => report.fail(
                FILE,
                &case.name,
                format!("verify {direct:?}, read_request {through:?}"),
            ),
        }
    }
    for case in &table.accepted {
        let Some(body) = table.bodies.get(&case.body) else {
            report.fail(FILE, &case.name, format!("no body named {}", case.body));
            continue;
        };
        let dialect = case.dialect.dialect();
        let headers = headers_with(dialect, &case.signature);
        if let Err(error) =
            dialect
                .codec()
                .verify(&headers, body.as_bytes(), case.secret.as_bytes())
        {
            report.fail(FILE, &case.name, format!("should verify: {error:?}"));
        }
    }
}

// ------------------------------------------------------------------------- malformed bodies

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MalformedTable {
    cases: Vec<MalformedCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MalformedCase {
    name: String,
    body: Option<String>,
    /// For bytes that are not text.
    body_hex: Option<String>,
}

impl MalformedCase {
    fn bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.body, &self.body_hex) {
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, Some(hex_text)) => hex::decode(hex_text).map_err(|e| format!("body_hex: {e}")),
            _ => Err("exactly one of body and body_hex".to_owned()),
        }
    }
}

fn check_malformed(table: &MalformedTable, report: &mut Report) {
    const FILE: &str = "malformed.yaml";
    report.cases(FILE, table.cases.iter().map(|case| case.name.as_str()));
    for case in &table.cases {
        let body = match case.bytes() {
            Ok(body) => body,
            Err(why) => {
                report.fail(FILE, &case.name, why);
                continue;
            }
        };
        for dialect in Dialect::ALL {
            match read(dialect, &body) {
                Err(e) if e.kind == ErrorKind::MalformedBody && e.fields.is_empty() => {
                    let (status, value, _) = rendered(dialect, &e);
                    if status != 400 {
                        report.fail(FILE, &case.name, format!("{dialect}: status {status}"));
                    }
                    let envelope_ok = match dialect {
                        Dialect::AlpPay => value["code"] == "malformed_body",
                        Dialect::Cryptomus => value["state"] == 1,
                        Dialect::Apollo => {
                            value["success"] == false && value["error"]["name"] == "MALFORMED_BODY"
                        }
                    };
                    if !envelope_ok {
                        report.fail(FILE, &case.name, format!("{dialect}: envelope {value}"));
                    }
                }
                other => report.fail(FILE, &case.name, format!("{dialect}: {other:?}")),
            }
        }
    }
}

// --------------------------------------------------------------------------- field problems

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldTable {
    dialect: DialectName,
    /// A valid request, which each case changes.
    base: Value,
    refused: Vec<FieldCase>,
    accepted: Vec<FieldCase>,
}

/// One request: a literal `body`, or `base` changed by `remove`, `set` and `long` (dotted
/// paths). A refused case names the `field` it must be refused for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldCase {
    name: String,
    body: Option<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    long: BTreeMap<String, Long>,
    field: Option<NamedField>,
}

/// A field as the error names it: canonically with its rule, and in the caller's own terms.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedField {
    canonical: String,
    rule: String,
    wire: String,
}

/// A long string value: that many `a`s, or a prefix padded with `a`s to `length` characters.
#[derive(Deserialize)]
#[serde(untagged)]
enum Long {
    Length(usize),
    Prefixed { prefix: String, length: usize },
}

impl Long {
    fn text(&self) -> String {
        match self {
            Long::Length(length) => "a".repeat(*length),
            Long::Prefixed { prefix, length } => {
                format!(
                    "{prefix}{}",
                    "a".repeat(length.saturating_sub(prefix.len()))
                )
            }
        }
    }
}

impl FieldCase {
    fn body(&self, base: &Value) -> Result<String, String> {
        let patched = !self.remove.is_empty() || !self.set.is_empty() || !self.long.is_empty();
        match &self.body {
            Some(_) if patched => Err("a literal body and changes to base".to_owned()),
            Some(body) => Ok(body.clone()),
            None => {
                let mut value = base.clone();
                for path in &self.remove {
                    parent(&mut value, path)?.0.remove(parent_key(path));
                }
                let long = self.long.iter().map(|(k, v)| (k, Value::from(v.text())));
                for (path, new) in self.set.iter().map(|(k, v)| (k, v.clone())).chain(long) {
                    let (object, key) = parent(&mut value, path)?;
                    object.insert(key.to_owned(), new);
                }
                Ok(value.to_string())
            }
        }
    }
}

fn parent_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The object holding the last segment of a dotted `path`, and that segment.
fn parent<'a, 'p>(
    value: &'a mut Value,
    path: &'p str,
) -> Result<(&'a mut Map<String, Value>, &'p str), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut target = value;
    for part in parts {
        target = target
            .get_mut(part)
            .ok_or_else(|| format!("{path}: no {part} in base"))?;
    }
    let object = target
        .as_object_mut()
        .ok_or_else(|| format!("{path}: not inside an object"))?;
    Ok((object, last))
}

/// Checks each refused case is `InvalidField` with exactly its field, and that the error a
/// caller of the dialect gets names the field its own way; each accepted case reads.
fn check_fields(table: &FieldTable, report: &mut Report) {
    let file: &'static str = match table.dialect {
        DialectName::AlpPay => "fields-alppay.yaml",
        DialectName::Cryptomus => "fields-cryptomus.yaml",
        DialectName::Apollo => "fields-apollo.yaml",
    };
    let dialect = table.dialect.dialect();
    let all = table.refused.iter().chain(&table.accepted);
    report.cases(file, all.map(|case| case.name.as_str()));
    for case in &table.accepted {
        match (&case.field, case.body(&table.base)) {
            (Some(_), _) => report.fail(file, &case.name, "accepted, but names a field".into()),
            (None, Err(why)) => report.fail(file, &case.name, why),
            (None, Ok(body)) => {
                if let Err(error) = read(dialect, body.as_bytes()) {
                    report.fail(file, &case.name, format!("refused {body}: {error:?}"));
                }
            }
        }
    }
    for case in &table.refused {
        let (field, body) = match (&case.field, case.body(&table.base)) {
            (None, _) => {
                report.fail(file, &case.name, "refused, but names no field".into());
                continue;
            }
            (Some(_), Err(why)) => {
                report.fail(file, &case.name, why);
                continue;
            }
            (Some(field), Ok(body)) => (field, body),
        };
        let error = match read(dialect, body.as_bytes()) {
            Ok(request) => {
                report.fail(file, &case.name, format!("accepted {request:?}"));
                continue;
            }
            Err(e) => e,
        };
        let fields: Vec<(&str, &str)> = error
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.rule.as_str()))
            .collect();
        let expected = [(field.canonical.as_str(), field.rule.as_str())];
        if error.kind != ErrorKind::InvalidField || fields != expected {
            report.fail(
                file,
                &case.name,
                format!(
                    "expected invalid_field {}/{}, got {:?} {fields:?} ({})",
                    field.canonical, field.rule, error.kind, error.message
                ),
            );
            continue;
        }
        let (status, value, text) = rendered(dialect, &error);
        let named = match dialect {
            Dialect::AlpPay | Dialect::Cryptomus => value["errors"][&field.wire]
                .as_array()
                .is_some_and(|rules| rules.iter().any(|r| r == field.rule.as_str())),
            Dialect::Apollo => value["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("{}: {}", field.wire, field.rule))),
        };
        // A canonical name that differs from the caller's own must not leak into its answer.
        let leaks = field.canonical != field.wire
            && field.canonical.contains('_')
            && text.contains(&field.canonical);
        if status != 422 || !named || leaks || !text.contains(&field.wire) {
            report.fail(
                file,
                &case.name,
                format!(
                    "rendered {status} {text} (wanted {} named, no {})",
                    field.wire, field.canonical
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------- untranslatable

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UntranslatableTable {
    profiles: BTreeMap<String, Profile>,
    refused: Vec<UntranslatableCase>,
    accepted: Vec<UntranslatableCase>,
}

/// The parts of a merchant profile that translation reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    default_customer_name: Option<String>,
    default_customer_email: Option<String>,
    #[serde(default)]
    default_networks: BTreeMap<String, String>,
}

impl Profile {
    fn merchant(&self) -> MerchantProfile {
        MerchantProfile {
            default_customer_name: self.default_customer_name.clone(),
            default_customer_email: self.default_customer_email.clone(),
            default_networks: self.default_networks.clone(),
            ..MerchantProfile::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UntranslatableCase {
    name: String,
    from: DialectName,
    to: DialectName,
    /// A key of `profiles`.
    profile: String,
    body: String,
    /// Only for refused cases: a word the refusal's message must carry.
    message_contains: Option<String>,
}

fn plan(
    from: Dialect,
    to: Dialect,
    body: &str,
    merchant: &MerchantProfile,
) -> Result<Result<translate::Plan, ApiError>, String> {
    let networks = NetworkTable::builtin();
    let request =
        read(from, body.as_bytes()).map_err(|e| format!("the request itself is refused: {e:?}"))?;
    let context = RenderContext {
        networks: &networks,
        merchant,
        nonce: 1,
        request_id: REQUEST_ID,
        now: datetime!(2025-06-09 13:18:29 UTC),
        relay_callback: None,
    };
    Ok(translate::plan_upstream(
        from,
        to,
        body.as_bytes(),
        &request,
        &demo(to),
        &context,
    ))
}

fn check_untranslatable(table: &UntranslatableTable, report: &mut Report) {
    const FILE: &str = "untranslatable.yaml";
    let all = table.refused.iter().chain(&table.accepted);
    report.cases(FILE, all.map(|case| case.name.as_str()));
    let run = |case: &UntranslatableCase| -> Result<Result<translate::Plan, ApiError>, String> {
        let profile = table
            .profiles
            .get(&case.profile)
            .ok_or_else(|| format!("no profile named {}", case.profile))?;
        let (from, to) = (case.from.dialect(), case.to.dialect());
        plan(from, to, &case.body, &profile.merchant())
    };
    for case in &table.refused {
        let (from, to) = (case.from.dialect(), case.to.dialect());
        let Some(word) = &case.message_contains else {
            report.fail(FILE, &case.name, "refused, but no message_contains".into());
            continue;
        };
        match run(case) {
            Err(why) => report.fail(FILE, &case.name, why),
            Ok(Err(e)) if e.kind == ErrorKind::Untranslatable && e.message.contains(word) => {
                let (status, value, _) = rendered(from, &e);
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
                    report.fail(
                        FILE,
                        &case.name,
                        format!("{from}->{to}: rendered {status} {value}"),
                    );
                }
            }
            Ok(other) => report.fail(
                FILE,
                &case.name,
                format!(
                    "{from}->{to}: {:?}",
                    other.map(|p| String::from_utf8_lossy(&p.upstream.body).into_owned())
                ),
            ),
        }
    }
    for case in &table.accepted {
        if case.message_contains.is_some() {
            report.fail(
                FILE,
                &case.name,
                "accepted, but has message_contains".into(),
            );
        }
        match run(case) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => report.fail(FILE, &case.name, format!("refused: {e:?}")),
            Err(why) => report.fail(FILE, &case.name, why),
        }
    }
}

// ------------------------------------------------------------------ provider answers gone wrong

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderAnswerTable {
    cases: Vec<ProviderAnswerCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderAnswerCase {
    name: String,
    provider: DialectName,
    status: u16,
    body: String,
    kind: AnswerKind,
    caller_status: u16,
}

/// The error kinds a provider's answer can end in, as the table names them.
#[derive(Debug, Clone, Copy, Deserialize)]
enum AnswerKind {
    #[serde(rename = "upstream_invalid")]
    Invalid,
    #[serde(rename = "upstream_rejected")]
    Rejected,
    #[serde(rename = "upstream_auth")]
    Auth,
}

impl AnswerKind {
    fn error_kind(self) -> ErrorKind {
        match self {
            AnswerKind::Invalid => ErrorKind::UpstreamInvalid,
            AnswerKind::Rejected => ErrorKind::UpstreamRejected,
            AnswerKind::Auth => ErrorKind::UpstreamAuth,
        }
    }
}

/// Each answer, given to every caller dialect other than the provider's, with that caller's
/// `base` request (from its fields table).
fn check_provider_answers(
    table: &ProviderAnswerTable,
    bases: &BTreeMap<DialectName, &Value>,
    report: &mut Report,
) {
    const FILE: &str = "provider-answers.yaml";
    report.cases(FILE, table.cases.iter().map(|case| case.name.as_str()));
    let networks = NetworkTable::builtin();
    let merchant = MerchantProfile {
        default_customer_name: Some("Demo Customer".into()),
        default_customer_email: Some("customer@shop.example".into()),
        default_networks: [("USDT".to_owned(), "tron".to_owned())].into(),
        ..MerchantProfile::default()
    };
    let context = RenderContext {
        networks: &networks,
        merchant: &merchant,
        nonce: 1,
        request_id: REQUEST_ID,
        now: datetime!(2025-06-09 13:18:29 UTC),
        relay_callback: None,
    };
    for case in &table.cases {
        for (caller_name, base) in bases {
            if *caller_name == case.provider {
                continue;
            }
            let (caller, provider) = (caller_name.dialect(), case.provider.dialect());
            let request = match read(caller, base.to_string().as_bytes()) {
                Ok(request) => request,
                Err(e) => {
                    report.fail(FILE, &case.name, format!("{caller} base refused: {e:?}"));
                    continue;
                }
            };
            let answer = translate::answer(
                caller,
                provider,
                case.status,
                case.body.as_bytes(),
                &request,
                &context,
            );
            let got = answer.outcome.as_ref().err().map(|e| e.kind);
            if got != Some(case.kind.error_kind()) || answer.status != case.caller_status {
                report.fail(
                    FILE,
                    &case.name,
                    format!(
                        "to {caller}: {:?} {} {}",
                        answer.outcome.as_ref().err(),
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    ),
                );
            }
        }
    }
}
