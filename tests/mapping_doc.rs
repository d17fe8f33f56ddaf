//! Keeps `docs/mapping.md` from drifting from the code.
//!
//! * The doc's generated blocks (field names, status tables, network table), delimited by
//!   `<!-- generated:NAME begin -->` / `<!-- generated:NAME end -->`, must equal what this test
//!   generates from `Dialect::field_table()`, each dialect's `STATUS_IN`/`STATUS_OUT` and
//!   each provider's `facts::NETWORKS`. Run with `UPDATE_MAPPING_DOC=1` to rewrite them after a deliberate change.
//! * Every canonical and wire field name of the codecs' field tables appears in the hand-written
//!   part of the doc too, so a renamed or added field cannot go unexplained.
//! * The status tables are complete (every canonical status can be written in every dialect), and
//!   the codecs really behave as the tables say: each row is pushed through
//!   `parse_create_response` or `render_create_response`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use payglot::dialect::Codec as _;
use payglot::dialect::common::Arrived;
use payglot::dialect::{Dialect, RenderContext, alppay, apollo, cryptomus};
use payglot::field::Field;
use payglot::model::{CreatePayment, MerchantProfile, Payment, PaymentStatus};
use payglot::network::NetworkTable;
use serde_json::{Value, json};
use time::macros::datetime;

const ALL_STATUSES: [PaymentStatus; 13] = PaymentStatus::ALL;

fn arrived_label(arrived: Option<Arrived>) -> &'static str {
    match arrived {
        None => "*any*",
        Some(Arrived::Nothing) => "nothing",
        Some(Arrived::Seen) => "a transaction, no amount",
        Some(Arrived::Part) => "less than the amount",
        Some(Arrived::All) => "the amount or more",
    }
}

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/mapping.md")
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

fn any_or(value: Option<&str>) -> String {
    value.map_or_else(|| "*any*".to_owned(), code)
}

fn final_mark(status: PaymentStatus) -> &'static str {
    if status.is_final() { "yes" } else { "no" }
}

/// The generated blocks, by name.
fn generated() -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();

    for dialect in Dialect::ALL {
        let mut t = String::from("| canonical | wire |\n|---|---|\n");
        for (canonical, wire) in dialect.codec().fields() {
            let _ = writeln!(t, "| {} | {} |", code(canonical.label()), code(wire));
        }
        blocks.insert(format!("fields-{}", dialect.name()), t);
    }

    let mut t =
        String::from("| canonical status | final | takes payment | funds |\n|---|---|---|---|\n");
    for s in ALL_STATUSES {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:?} |",
            code(s.label()),
            final_mark(s),
            if s.accepts_payment() { "yes" } else { "no" },
            s.funds()
        );
    }
    blocks.insert(String::from("statuses"), t);

    let mut t = String::from(
        "| rule | `status` | `displayStatus` | arrived | canonical | source |\n|---|---|---|---|---|---|\n",
    );
    for (i, r) in alppay::status::STATUS_IN.iter().enumerate() {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            any_or(r.status),
            any_or(r.display_status),
            arrived_label(r.arrived),
            code(r.canonical.label()),
            r.confidence.tag()
        );
    }
    blocks.insert(String::from("status-alppay-in"), t);

    let mut t = String::from("| canonical | `status` | `displayStatus` |\n|---|---|---|\n");
    for (s, status, display) in alppay::status::STATUS_OUT {
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            code(s.label()),
            code(status),
            code(display)
        );
    }
    blocks.insert(String::from("status-alppay-out"), t);

    let mut t =
        String::from("| `status` / `payment_status` | canonical | source |\n|---|---|---|\n");
    for w in cryptomus::status::STATUS_IN {
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            code(w.word),
            code(w.canonical.label()),
            w.confidence.tag()
        );
    }
    blocks.insert(String::from("status-cryptomus-in"), t);

    let mut t = String::from("| canonical | `status` = `payment_status` |\n|---|---|\n");
    for (s, word) in cryptomus::status::STATUS_OUT {
        let _ = writeln!(t, "| {} | {} |", code(s.label()), code(word));
    }
    blocks.insert(String::from("status-cryptomus-out"), t);

    let mut t =
        String::from("| rule | `status` | arrived | canonical | source |\n|---|---|---|---|---|\n");
    for (i, r) in apollo::status::STATUS_IN.iter().enumerate() {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            i + 1,
            code(r.status),
            arrived_label(r.arrived),
            code(r.canonical.label()),
            r.confidence.tag()
        );
    }
    blocks.insert(String::from("status-apollo-in"), t);

    let mut t = String::from("| canonical | `status` |\n|---|---|\n");
    for (s, word) in apollo::status::STATUS_OUT {
        let _ = writeln!(t, "| {} | {} |", code(s.label()), code(word));
    }
    blocks.insert(String::from("status-apollo-out"), t);

    let names = |list: &[&str]| match list {
        [] => "—".to_owned(),
        [sent] => code(sent),
        [sent, rest @ ..] => format!(
            "{} (also accepted: {})",
            code(sent),
            rest.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut t = String::from("| canonical chain |");
    for dialect in Dialect::ALL {
        let codec = dialect.codec();
        let _ = write!(
            t,
            " {} {} |",
            codec.title(),
            code(codec.field_name(Field::Network))
        );
    }
    t.push_str("\n|---|");
    for _ in Dialect::ALL {
        t.push_str("---|");
    }
    t.push('\n');
    let table = NetworkTable::builtin();
    for chain in table.chains() {
        let _ = write!(t, "| {} |", code(&chain.chain));
        for dialect in Dialect::ALL {
            let list: Vec<&str> = chain
                .names
                .get(&dialect)
                .map(|l| l.iter().map(String::as_str).collect())
                .unwrap_or_default();
            let _ = write!(t, " {} |", names(&list));
        }
        t.push('\n');
    }
    blocks.insert(String::from("networks"), t);

    blocks
}

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- generated:{name} begin -->\n"),
        format!("<!-- generated:{name} end -->"),
    )
}

/// Splits the doc into the contents of each generated block and the hand-written rest.
fn blocks_of(doc: &str) -> Result<(BTreeMap<String, String>, String), String> {
    let mut found = BTreeMap::new();
    let mut rest = String::new();
    let mut cursor = 0;
    while let Some(start) = doc[cursor..].find("<!-- generated:") {
        let start = cursor + start;
        rest.push_str(&doc[cursor..start]);
        let name_end = doc[start..]
            .find(" begin -->")
            .ok_or("unterminated begin marker")?
            + start;
        let name = doc[start + "<!-- generated:".len()..name_end].to_owned();
        let (begin, end) = markers(&name);
        let body_start = start + begin.len();
        let end_at = doc[body_start..]
            .find(&end)
            .ok_or_else(|| format!("no end marker for {name}"))?
            + body_start;
        if found
            .insert(name.clone(), doc[body_start..end_at].to_owned())
            .is_some()
        {
            return Err(format!("block {name} appears twice"));
        }
        cursor = end_at + end.len();
    }
    rest.push_str(&doc[cursor..]);
    Ok((found, rest))
}

#[test]
fn generated_blocks_match_the_code() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/mapping.md exists");
    let expected = generated();
    let (found, _) = blocks_of(&doc).expect("well-formed markers");

    if std::env::var_os("UPDATE_MAPPING_DOC").is_some() {
        let mut updated = doc.clone();
        for (name, body) in &expected {
            let (begin, end) = markers(name);
            let Some(s) = updated.find(&begin) else {
                panic!("docs/mapping.md has no block {name}; add its markers where it belongs");
            };
            let body_start = s + begin.len();
            let e = updated[body_start..].find(&end).expect("end marker") + body_start;
            updated.replace_range(body_start..e, body);
        }
        std::fs::write(&path, updated).expect("write docs/mapping.md");
        return;
    }

    let mut problems = Vec::new();
    for (name, body) in &expected {
        match found.get(name) {
            None => problems.push(format!("missing generated block {name}")),
            Some(actual) if actual != body => problems.push(format!(
                "block {name} is stale; expected:\n{body}\nfound:\n{actual}"
            )),
            Some(_) => {}
        }
    }
    for name in found.keys() {
        if !expected.contains_key(name.as_str()) {
            problems.push(format!("block {name} is not generated by this test"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/mapping.md drifted from the code (rerun with UPDATE_MAPPING_DOC=1 after checking \
         the prose around the tables):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_field_name_is_explained_in_prose() {
    let doc = std::fs::read_to_string(doc_path()).expect("docs/mapping.md exists");
    let (_, prose) = blocks_of(&doc).expect("well-formed markers");
    let mut missing = Vec::new();
    for dialect in Dialect::ALL {
        for (canonical, wire) in dialect.codec().fields() {
            for name in [canonical.label(), wire] {
                if !prose.contains(&code(name)) {
                    missing.push(format!("{dialect}: {name}"));
                }
            }
        }
    }
    // The canonical names the codecs report in errors without a table entry (named alike).
    for name in [
        "amount",
        "currency",
        "network",
        "lifetime",
        "nonce",
        "customer.id",
        "customer.name",
        "customer.email",
        "subtract",
        "discount_percent",
        "description",
    ] {
        if !prose.contains(&code(name)) {
            missing.push(format!("canonical {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not explained in docs/mapping.md: {missing:?}"
    );
}

/// Every documented status word, pushed through the codec's real parser, reads as a known
/// status; an undocumented word reads as unknown, never as awaiting payment.
#[test]
fn codecs_read_every_documented_word() {
    let networks = NetworkTable::builtin();
    for status in alppay::status::STATUS_WORDS {
        for display in alppay::status::DISPLAY_WORDS {
            let p = read_alppay(status, display);
            assert_ne!(p, PaymentStatus::Unknown, "alppay {status}/{display}");
            assert_eq!(read_alppay(&status.to_lowercase(), display), p, "case");
        }
    }
    assert_eq!(read_alppay("ON_HOLD", "OPEN"), PaymentStatus::Unknown);
    for word in cryptomus::status::DOCUMENTED {
        let body = json!({"state": 0, "result": {"uuid": "u", "status": word}}).to_string();
        let p = cryptomus::Cryptomus
            .parse_create_response(200, body.as_bytes(), &networks)
            .expect("reads");
        assert_ne!(p.status, PaymentStatus::Unknown, "cryptomus {word}");
    }
    let unknown = json!({"state": 0, "result": {"uuid": "u", "status": "brand_new"}}).to_string();
    assert_eq!(
        cryptomus::Cryptomus
            .parse_create_response(200, unknown.as_bytes(), &networks)
            .expect("reads")
            .status,
        PaymentStatus::Unknown
    );
    for word in apollo::status::DOCUMENTED {
        for received in [None, Some("1.5"), Some("100")] {
            let mut order = json!({"orderId": "o", "status": word, "amount": "100"});
            if let Some(r) = received {
                order["received"] = json!(r);
            }
            let body = json!({"success": true, "response": order}).to_string();
            let p = apollo::Apollo
                .parse_create_response(200, body.as_bytes(), &networks)
                .expect("reads");
            assert_ne!(p.status, PaymentStatus::Unknown, "apollo {word}");
            assert!(!p.is_final, "Apollo calls no status final: {word}");
        }
    }
}

fn read_alppay(status: &str, display: &str) -> PaymentStatus {
    let body = json!({"id": "p", "status": status, "displayStatus": display}).to_string();
    alppay::AlpPay
        .parse_create_response(200, body.as_bytes(), &NetworkTable::builtin())
        .expect("a minimal payment reads")
        .status
}

/// Each writing row, pushed through the codec's real answer writer.
#[test]
fn codecs_write_statuses_as_the_tables_say() {
    let networks = NetworkTable::builtin();
    let merchant = MerchantProfile::default();
    let context = RenderContext {
        networks: &networks,
        merchant: &merchant,
        nonce: 1,
        request_id: "req",
        now: datetime!(2025-06-09 13:18:29 UTC),
        relay_callback: None,
    };
    let request = payglot::translate::read_request(
        Dialect::Cryptomus,
        &{
            let body = br#"{"amount":"1","currency":"USDT","order_id":"o-1"}"#;
            let mut h = http::HeaderMap::new();
            h.insert(
                "sign",
                http::HeaderValue::from_str(&payglot::dialect::cryptomus::sign::cryptomus_sign(
                    b"k", body,
                ))
                .expect("hex"),
            );
            h
        },
        br#"{"amount":"1","currency":"USDT","order_id":"o-1"}"#,
        b"k",
        &networks,
    )
    .expect("a minimal request reads");
    let answer = |dialect: Dialect, status: PaymentStatus, request: &CreatePayment| -> Value {
        let payment = Payment {
            provider_id: "p".into(),
            order_ref: None,
            status,
            is_final: status.is_final(),
            provider_status: "x".into(),
            amount: None,
            received: None,
            currency: None,
            pay_amount: None,
            pay_currency: None,
            network: None,
            address: None,
            address_tag: None,
            payment_url: None,
            expires_at: None,
            created_at: None,
            updated_at: None,
            transactions: Vec::new(),
        };
        let body = dialect
            .codec()
            .render_create_response(&payment, request, &context);
        serde_json::from_slice(&body).expect("JSON answer")
    };
    for (s, status, display) in alppay::status::STATUS_OUT {
        let v = answer(Dialect::AlpPay, *s, &request);
        assert_eq!(
            (v["status"].as_str(), v["displayStatus"].as_str()),
            (Some(*status), Some(*display)),
            "{s}"
        );
    }
    for (s, word) in cryptomus::status::STATUS_OUT {
        let v = answer(Dialect::Cryptomus, *s, &request);
        assert_eq!(v["result"]["status"], *word, "{s}");
        assert_eq!(v["result"]["payment_status"], *word, "{s}");
        assert_eq!(v["result"]["is_final"], s.is_final(), "{s}");
    }
    for (s, word) in apollo::status::STATUS_OUT {
        let v = answer(Dialect::Apollo, *s, &request);
        assert_eq!(v["response"]["status"], *word, "{s}");
    }
}

/// The network table in the doc is the one the code uses, including the name payglot sends.
#[test]
fn network_table_is_what_the_code_uses() {
    let table = NetworkTable::builtin();
    for dialect in Dialect::ALL {
        for (chain, names) in dialect.codec().networks() {
            assert_eq!(table.from_canonical(dialect, chain), names.first().copied());
            for name in *names {
                assert_eq!(table.to_canonical(dialect, name), Some(*chain));
                assert_eq!(
                    table.to_canonical(dialect, &name.to_uppercase()),
                    Some(*chain)
                );
            }
        }
    }
}
