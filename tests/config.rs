//! The config file: the bundled demo loads, every mistake is reported with its path in one run,
//! `${VAR}` substitution, and routing over each kind of condition.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use payglot::config::{ConfigErrors, LoadedConfig, load_file, load_str};
use payglot::dialect::Dialect;
use payglot::money::Amount;
use payglot::routing::{RouteFacts, Selection};

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(yaml: &str) -> Result<LoadedConfig, ConfigErrors> {
    load_str(yaml, &no_env)
}

fn loaded(yaml: &str) -> LoadedConfig {
    load(yaml).unwrap_or_else(|e| panic!("config should load, got:\n{e}"))
}

fn errors(yaml: &str) -> Vec<String> {
    match load(yaml) {
        Ok(_) => panic!("config should be refused"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// Three merchants, three upstreams; tests append their own `routes:`.
const BASE: &str = r#"
server: { listen: "127.0.0.1:18080", metrics_listen: "127.0.0.1:19464" }
merchants:
  - id: m-alp
    dialect: alppay
    credentials: { key_id: ak1, secret: sk1 }
  - id: m-cm
    dialect: nearpayments
    credentials: { key_id: cm1, secret: ck1 }
    upstream_credentials:
      u-apollo: { key_id: own-pk, secret: own-sk }
  - id: m-ap
    dialect: apollo
    credentials: { key_id: pk1, secret: psk1 }
upstreams:
  - { id: u-alp, dialect: alppay, base_url: "http://127.0.0.1:9001/alppay/v2", credentials: { key_id: a, secret: b } }
  - { id: u-cm, dialect: cryptomus, base_url: "https://api.cryptomus.example/v1/", credentials: { key_id: c, secret: d } }
  - { id: u-apollo, dialect: apollo, base_url: "http://[::1]:9003/api-gateway", credentials: { key_id: e, secret: f } }
"#;

fn with_routes(routes: &str) -> String {
    format!("{BASE}routes:\n{routes}")
}

/// A request's routing facts, with defaults that individual tests override.
struct Req<'a> {
    merchant: &'a str,
    dialect: Dialect,
    currency: &'a str,
    network: Option<&'a str>,
    amount: &'a str,
    order_ref: Option<&'a str>,
    request_id: &'a str,
    headers: HeaderMap,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            merchant: "m-alp",
            dialect: Dialect::AlpPay,
            currency: "USDT",
            network: Some("tron"),
            amount: "50",
            order_ref: Some("order-1"),
            request_id: "req-1",
            headers: HeaderMap::new(),
        }
    }
}

fn select(cfg: &LoadedConfig, req: &Req<'_>) -> Option<Selection> {
    let amount = Amount::parse(req.amount).unwrap();
    cfg.routes.select(&RouteFacts {
        merchant_id: req.merchant,
        dialect: req.dialect,
        currency: req.currency,
        network: req.network,
        amount: &amount,
        order_ref: req.order_ref,
        headers: &req.headers,
        request_id: req.request_id,
    })
}

fn rule(cfg: &LoadedConfig, req: Req<'_>) -> Option<String> {
    select(cfg, &req).map(|s| s.route)
}

#[test]
fn bundled_config_loads_and_routes_in_a_ring() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/payglot.yaml");
    let cfg = load_file(&path).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(cfg.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.server.metrics_listen.to_string(), "127.0.0.1:9464");
    assert_eq!(cfg.server.max_body_bytes, 65_536);
    assert_eq!(cfg.server.grace_period_secs, 10);
    assert_eq!(cfg.server.threads, 1);
    assert_eq!(
        cfg.sandbox
            .as_ref()
            .map(|s| s.listen.to_string())
            .as_deref(),
        Some("127.0.0.1:8090")
    );
    assert_eq!(cfg.generation_hash.len(), 12);
    assert!(cfg.generation_hash.bytes().all(|b| b.is_ascii_hexdigit()));

    let alp = cfg
        .merchant(Dialect::AlpPay, "ak_test_payglot_alppay")
        .unwrap();
    assert_eq!(alp.id, "demo-alppay");
    assert_eq!(alp.credentials.secret.expose(), "sk_test_payglot_alppay");
    let cm = cfg
        .merchant(Dialect::Cryptomus, "c0ffee00-0000-4000-8000-000000000001")
        .unwrap();
    assert_eq!(cm.credentials.secret.expose(), "cm_test_payglot_key");
    let ap = cfg
        .merchant(Dialect::Apollo, "pk_test_payglot_apollo")
        .unwrap();
    assert_eq!(ap.credentials.secret.expose(), "sk_test_payglot_apollo");
    for m in cfg.merchants() {
        assert_eq!(
            m.profile.default_networks.get("USDT").map(String::as_str),
            Some("tron")
        );
        assert!(m.profile.default_customer_name.is_some());
        assert!(m.profile.default_customer_email.is_some());
    }

    let up = cfg.upstream("cryptomus-sandbox").unwrap();
    assert_eq!(up.base_url.address(), "127.0.0.1:8090");
    assert_eq!(up.base_url.path("/payment"), "/cryptomus/v1/payment");
    assert!(!up.base_url.tls);
    assert_eq!(
        alp.credentials_for(up).key_id,
        "c0ffee00-0000-4000-8000-000000000001"
    );
    assert_eq!(
        cfg.upstream("apollo-sandbox").unwrap().base_url.path_prefix,
        "/apollo/api-gateway"
    );
    assert_eq!(
        cfg.upstream("alppay-sandbox").unwrap().base_url.path_prefix,
        "/alppay/v2"
    );

    let ring = [
        ("demo-alppay", Dialect::AlpPay, "cryptomus-sandbox"),
        ("demo-cryptomus", Dialect::Cryptomus, "apollo-sandbox"),
        ("demo-apollo", Dialect::Apollo, "alppay-sandbox"),
    ];
    for (merchant, dialect, upstream) in ring {
        let s = select(
            &cfg,
            &Req {
                merchant,
                dialect,
                ..Req::default()
            },
        )
        .unwrap();
        assert_eq!(s.upstreams, vec![upstream.to_owned()], "{merchant}");
    }
    assert_eq!(
        rule(
            &cfg,
            Req {
                merchant: "someone-else",
                ..Req::default()
            }
        ),
        None
    );
}

#[test]
fn every_mistake_is_reported_with_its_path_in_one_run() {
    let yaml = r#"
server:
  listen: "localhost:8080"
  max_body_bytes: 100000
  client_timeout_ms: 0
  threads: 0
sandbox:
  listen: "127.0.0.1:9464"
networks:
  - chain: bnb
    cryptomus: bsc
  - chain: "Bad Chain"
    alppay: x
  - chain: base
merchants:
  - id: Shop_A
    dialect: alppay
    credentials: { key_id: "", secret: "s" }
    profile:
      site_url: "ftp://shop.example"
      email: "nobody"
      default_networks: { usdt: tronn }
    upstream_credentials:
      cryptomus-sandbx: { key_id: k, secret: s }
  - id: shop-b
    dialect: cryptomus
    credentials: { key_id: "k1", secret: "s " }
  - id: shop-b
    dialect: nearpayments
    credentials: { key_id: "k1", secret: "s2" }
upstreams:
  - id: cryptomus-sandbox
    dialect: cryptomus
    base_url: "ftp://x/"
    credentials: { key_id: k, secret: s }
    connect_timeout_ms: 0
  - id: apollo-sandbox
    dialect: apollo
    base_url: "https://user:pw@apollo.example/x"
    credentials: { key_id: k, secret: "" }
    circuit_breaker: { failures: 0 }
  - id: looper
    dialect: alppay
    base_url: "http://127.0.0.1:9464/x"
    credentials: { key_id: k, secret: s }
routes:
  - name: first
    match: { merchant: [shop-b, shop-x], currency: [], amount: { gte: "abc", lt: "10", lte: "20" } }
    to: apolo
  - name: first
    match: { amount: { gte: "100", lt: "10" }, network: [tron, solanna] }
    to: cryptomus-sandbox
    split: [{ upstream: apollo-sandbox, weight: 1 }]
  - name: splitty
    match: { dialect: alppay, merchant: shop-b }
    split:
      - { upstream: cryptomus-sandbox, weight: 0 }
      - { upstream: cryptomus-sandbox, weight: 1 }
    failover: [apollo-sandbox, apollo-sandbox, nope]
  - name: catch-all
    to: apollo-sandbox
  - name: after
    match: { currency: USDT }
    to: cryptomus-sandbox
    failover: [cryptomus-sandbox]
  - name: neither
    match: { header: { name: "bad header", value: "x" } }
"#;
    let expected = [
        r#"server.listen: "localhost:8080" is not an ip:port address (e.g. "127.0.0.1:8080")"#,
        "server.max_body_bytes: must be between 1 and 65536 (pingora forwards a rewritten body only up to 64 KiB), not 100000",
        "server.client_timeout_ms: must be greater than 0",
        "server.threads: must be between 1 and 1024, not 0",
        "sandbox.listen: 127.0.0.1:9464 is the same address as server.metrics_listen",
        r#"networks[0].cryptomus: cryptomus name "bsc" already belongs to chain "bsc""#,
        r#"networks[1].chain: "Bad Chain" must be a non-empty name of [a-z0-9_.-]"#,
        "networks[2]: give at least one of alppay, cryptomus, apollo",
        r#"merchants[0].id: "Shop_A" must match [a-z0-9_-]+"#,
        "merchants[0].credentials.key_id: must not be empty",
        r#"merchants[0].profile.site_url: scheme must be http or https, not "ftp""#,
        r#"merchants[0].profile.email: "nobody" is not an e-mail address"#,
        r#"merchants[0].profile.default_networks.usdt: unknown network "tronn"; did you mean "tron"?"#,
        r#"merchants[0].upstream_credentials.cryptomus-sandbx: unknown upstream "cryptomus-sandbx"; did you mean "cryptomus-sandbox"?"#,
        "merchants[1].credentials.secret: has leading or trailing whitespace",
        r#"merchants[2].id: duplicate id "shop-b" (first at merchants[1])"#,
        r#"merchants[2].credentials.key_id: cryptomus key id "k1" is already used by merchant "shop-b" (merchants[1])"#,
        r#"upstreams[0].base_url: scheme must be http or https, not "ftp""#,
        "upstreams[0].connect_timeout_ms: must be greater than 0",
        "upstreams[1].base_url: must not contain user:password@",
        "upstreams[1].credentials.secret: must not be empty",
        "upstreams[1].circuit_breaker.failures: must be at least 1",
        "upstreams[2].base_url: points at payglot's own listener server.metrics_listen (127.0.0.1:9464), a loop",
        r#"routes[0].match.merchant[1]: unknown merchant "shop-x"; did you mean "shop-b"?"#,
        "routes[0].match.currency: an empty list never matches; leave the key out to match any",
        r#"routes[0].match.amount.gte: "abc" must be a plain positive decimal such as "100.50" (no sign, spaces or separators)"#,
        "routes[0].match.amount: give at most one of lt and lte",
        r#"routes[0].to: unknown upstream "apolo" (known: cryptomus-sandbox, apollo-sandbox, looper)"#,
        r#"routes[1].name: duplicate route name "first" (first at routes[0])"#,
        r#"routes[1].match.network[1]: unknown network "solanna"; did you mean "solana"?"#,
        "routes[1].match.amount: empty range: no amount is >= 100 and < 10",
        "routes[1]: give exactly one of to and split, not both",
        "routes[2].match: never matches: none of its merchants speaks one of its dialects",
        "routes[2].split[0].weight: must be at least 1 (remove the entry instead)",
        r#"routes[2].split[1].upstream: "cryptomus-sandbox" is already in split[0]; add the weights"#,
        r#"routes[2].failover[1]: "apollo-sandbox" is already listed at failover[0]"#,
        r#"routes[2].failover[2]: unknown upstream "nope" (known: cryptomus-sandbox, apollo-sandbox, looper)"#,
        r#"routes[4].failover[0]: "cryptomus-sandbox" is already the route's `to`"#,
        r#"routes[4]: never matches: route "catch-all" (routes[3]) above it matches every request it would"#,
        r#"routes[5].match.header.name: "bad header" is not a valid header name"#,
        "routes[5]: give one of to (an upstream id) or split (weighted upstreams)",
    ];
    let got = errors(yaml);
    for (i, line) in expected.iter().enumerate() {
        assert!(
            got.iter().any(|g| g == line),
            "missing line {i}: {line}\n---\n{}",
            got.join("\n")
        );
    }
    assert_eq!(got, expected, "exact list, in order");

    // `Display` is one line per problem.
    let shown = load(yaml).err().unwrap().to_string();
    assert_eq!(shown.lines().count(), expected.len());
}

#[test]
fn type_errors_and_unknown_keys_are_reported_per_item() {
    let yaml = r#"
server:
  threads: many
merchants:
  - id: a
    dialect: alpay
    credentials: { key_id: k, secret: s }
  - id: b
    dialect: apollo
    credentials: { key_id: k, secret: s, extra: 1 }
  - id: c
    dialect: apollo
    credentials: { key_id: k, secret: s }
    profile: { nme: x }
upstreams:
  - id: u
    dialect: apollo
    base_url: "http://a.example"
    credentials: { key_id: k, secret: s }
    circuit_breaker: { failures: 3, cooldown: 10 }
routes:
  - name: r
    match: { merchant: [a], amount: { gte: 10.5 } }
    to: u
  - name: r2
    match: { merchant: 5 }
    to: u
  - name: r3
    mtach: { merchant: a }
    to: u
extra_section: 1
"#;
    assert_eq!(
        errors(yaml),
        [
            r#"server.threads: invalid type: string "many", expected u64"#,
            r#"merchants[0].dialect: unknown dialect "alpay" (expected alppay, cryptomus or apollo)"#,
            "merchants[1].credentials.extra: unknown field `extra`, expected `key_id` or `secret`",
            "merchants[2].profile.nme: unknown field `nme`, expected one of `name`, `site_url`, `email`, `logo_url`, `default_customer`, `default_networks`",
            "upstreams[0].circuit_breaker.cooldown: unknown field `cooldown`, expected `failures` or `cooldown_ms`",
            r#"routes[0].match.amount.gte: amount 10.5 is a YAML float; quote it ("10.5") so it stays exact"#,
            "routes[1].match.merchant: invalid type: integer `5`, expected a string or a list of strings",
            "routes[2].mtach: unknown field `mtach`, expected one of `name`, `match`, `to`, `split`, `failover`",
            "extra_section: unknown section, expected one of server, sandbox, networks, merchants, upstreams, routes, store, webhooks",
        ]
    );
}

#[test]
fn yaml_syntax_errors_and_empty_files_are_refused() {
    let got = errors("server:\n  listen: [unclosed\n");
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("invalid YAML: "), "{}", got[0]);
    assert!(got[0].contains("line"), "{}", got[0]);
    assert_eq!(errors(""), ["the config is empty"]);
    assert_eq!(
        errors("- just\n- a list\n"),
        ["the config must be a mapping of sections (server, merchants, upstreams, routes, ...)"]
    );
}

#[test]
fn environment_variables_are_substituted_after_parsing() {
    let yaml = r#"
merchants:
  - id: m
    dialect: alppay
    credentials: { key_id: "${KEY_ID}", secret: "${SECRET}" }
    profile: { name: "Price: $${NOT_A_VAR} and $5" }
upstreams:
  - id: u
    dialect: cryptomus
    base_url: "http://${UPSTREAM_HOST}/v1"
    credentials: { key_id: k, secret: "pre-${SECRET}" }
routes:
  - { name: r, to: u }
"#;
    let vars: HashMap<&str, &str> = [
        ("KEY_ID", "ak_live"),
        // Characters that would change the document if substituted into the text.
        ("SECRET", "s3:cr#t\n- x"),
        ("UPSTREAM_HOST", "10.0.0.5:8443"),
    ]
    .into();
    let env = |name: &str| vars.get(name).map(|v| v.to_string());
    let cfg = load_str(yaml, &env).unwrap_or_else(|e| panic!("{e}"));
    let m = cfg.merchant(Dialect::AlpPay, "ak_live").unwrap();
    assert_eq!(m.credentials.secret.expose(), "s3:cr#t\n- x");
    assert_eq!(
        m.profile.name.as_deref(),
        Some("Price: ${NOT_A_VAR} and $5")
    );
    let u = cfg.upstream("u").unwrap();
    assert_eq!(u.base_url.address(), "10.0.0.5:8443");
    assert_eq!(u.credentials.secret.expose(), "pre-s3:cr#t\n- x");
    // The secret never reaches Debug output.
    assert!(!format!("{cfg:?}").contains("s3:cr#t"));

    // Every missing variable is reported with its path.
    let only_key = |name: &str| (name == "KEY_ID").then(|| "ak".to_owned());
    let err = load_str(yaml, &only_key).err().unwrap();
    let lines: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "merchants[0].credentials.secret: environment variable SECRET is not set",
            "upstreams[0].base_url: environment variable UPSTREAM_HOST is not set",
            "upstreams[0].credentials.secret: environment variable SECRET is not set",
        ]
    );

    let bad = errors("server: { listen: \"${1X}\" }\n");
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0]
            .starts_with("server.listen: \"${1X}\" is not a valid environment variable reference")
    );
}

#[test]
fn defaults_apply_and_urls_are_taken_apart() {
    let cfg = loaded(&with_routes("  - { name: all, to: u-alp }\n"));
    assert_eq!(cfg.server.max_body_bytes, 65_536);
    assert_eq!(cfg.server.client_timeout, Duration::from_millis(10_000));
    assert_eq!(cfg.server.grace_period_secs, 10);
    assert_eq!(cfg.server.graceful_shutdown_timeout_secs, 5);
    assert_eq!(cfg.server.threads, 1);
    assert!(cfg.sandbox.is_none());

    let alp = cfg.upstream("u-alp").unwrap();
    assert_eq!(alp.connect_timeout, Duration::from_millis(2_000));
    assert_eq!(alp.read_timeout, Duration::from_millis(15_000));
    assert_eq!(alp.write_timeout, Duration::from_millis(5_000));
    assert_eq!(alp.idle_timeout, Duration::from_millis(60_000));
    assert_eq!(alp.circuit_breaker.failures, 5);
    assert_eq!(alp.circuit_breaker.cooldown, Duration::from_millis(30_000));
    assert_eq!(alp.base_url.host_header(), "127.0.0.1:9001");

    let cm = &cfg.upstream("u-cm").unwrap().base_url;
    assert_eq!(cm.scheme, "https");
    assert!(cm.tls);
    assert_eq!(cm.sni, "api.cryptomus.example");
    assert_eq!(cm.port, 443);
    assert_eq!(cm.address(), "api.cryptomus.example:443");
    assert_eq!(cm.host_header(), "api.cryptomus.example");
    assert_eq!(cm.path("/payment"), "/v1/payment", "trailing slash dropped");

    let ap = &cfg.upstream("u-apollo").unwrap().base_url;
    assert_eq!(ap.host, "::1");
    assert_eq!(ap.address(), "[::1]:9003");
    assert_eq!(ap.path("/make-order"), "/api-gateway/make-order");
}

#[test]
fn merchants_are_found_by_dialect_and_key_and_sign_upstream_with_their_own_account() {
    let cfg = loaded(&with_routes("  - { name: all, to: u-alp }\n"));
    assert!(
        cfg.merchant(Dialect::AlpPay, "cm1").is_none(),
        "key ids are per dialect"
    );
    let cm = cfg.merchant(Dialect::Cryptomus, "cm1").unwrap();
    assert_eq!(cm.id, "m-cm");
    assert_eq!(
        cfg.merchant_by_id("m-cm").map(|m| m.dialect),
        Some(Dialect::Cryptomus)
    );
    let apollo = cfg.upstream("u-apollo").unwrap();
    let alp = cfg.upstream("u-alp").unwrap();
    assert_eq!(cm.credentials_for(apollo).key_id, "own-pk");
    assert_eq!(cm.credentials_for(apollo).secret.expose(), "own-sk");
    assert_eq!(cm.credentials_for(alp).key_id, "a");
}

#[test]
fn routes_match_on_each_condition() {
    let cfg = loaded(&with_routes(
        r#"
  - name: by-header
    match: { header: { name: X-Payglot-Route, value: test } }
    to: u-apollo
  - name: by-merchant
    match: { merchant: m-ap }
    to: u-alp
  - name: by-dialect
    match: { dialect: [nearpayments] }
    to: u-apollo
  - name: by-network
    match: { network: [ETHEREUM, ton] }
    to: u-cm
  - name: by-currency
    match: { currency: [btc] }
    to: u-apollo
  - name: by-amount
    match: { amount: { gt: "100", lte: "1000" } }
    to: u-cm
"#,
    ));
    let mut headers = HeaderMap::new();
    headers.insert("x-payglot-route", HeaderValue::from_static("test"));
    assert_eq!(
        rule(
            &cfg,
            Req {
                headers,
                ..Req::default()
            }
        )
        .as_deref(),
        Some("by-header")
    );
    let mut headers = HeaderMap::new();
    headers.insert("x-payglot-route", HeaderValue::from_static("Test"));
    assert_eq!(
        rule(
            &cfg,
            Req {
                headers,
                ..Req::default()
            }
        ),
        None,
        "value is exact"
    );

    assert_eq!(
        rule(
            &cfg,
            Req {
                merchant: "m-ap",
                dialect: Dialect::Apollo,
                ..Req::default()
            }
        )
        .as_deref(),
        Some("by-merchant")
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                merchant: "m-cm",
                dialect: Dialect::Cryptomus,
                ..Req::default()
            }
        )
        .as_deref(),
        Some("by-dialect")
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                network: Some("Ethereum"),
                ..Req::default()
            }
        )
        .as_deref(),
        Some("by-network"),
        "chains compare case-insensitively"
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                network: None,
                currency: "BTC",
                ..Req::default()
            }
        )
        .as_deref(),
        Some("by-currency"),
        "an open network skips network rules"
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                currency: "Btc",
                ..Req::default()
            }
        )
        .as_deref(),
        Some("by-currency")
    );

    // Amount bounds exactly at the boundary: gt is exclusive, lte inclusive.
    let at = |amount: &str| {
        rule(
            &cfg,
            Req {
                amount,
                ..Req::default()
            },
        )
    };
    assert_eq!(at("100"), None);
    assert_eq!(at("100.00"), None);
    assert_eq!(at("100.000000001").as_deref(), Some("by-amount"));
    assert_eq!(at("1000.00").as_deref(), Some("by-amount"));
    assert_eq!(at("1000.01"), None);
    // No rule matches: refused, never a silent default.
    assert_eq!(at("50"), None);
}

#[test]
fn amount_bounds_gte_and_lt_at_the_boundary() {
    let cfg = loaded(&with_routes(
        "  - { name: band, match: { amount: { gte: 10, lt: \"20.5\" } }, to: u-cm }\n",
    ));
    let at = |amount: &str| {
        rule(
            &cfg,
            Req {
                amount,
                ..Req::default()
            },
        )
    };
    assert_eq!(at("9.99999"), None);
    assert_eq!(at("10").as_deref(), Some("band"));
    assert_eq!(at("10.0").as_deref(), Some("band"));
    assert_eq!(at("20.49").as_deref(), Some("band"));
    assert_eq!(at("20.50"), None);
}

#[test]
fn first_match_wins_and_conditions_combine() {
    let cfg = loaded(&with_routes(
        r#"
  - name: usdt-tron-small
    match: { merchant: [m-alp, m-cm], currency: USDT, network: tron, amount: { lt: "100" } }
    to: u-apollo
  - name: usdt
    match: { currency: USDT }
    to: u-cm
  - name: everything-else
    to: u-alp
"#,
    ));
    assert_eq!(
        rule(&cfg, Req::default()).as_deref(),
        Some("usdt-tron-small")
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                amount: "100",
                ..Req::default()
            }
        )
        .as_deref(),
        Some("usdt")
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                merchant: "m-ap",
                dialect: Dialect::Apollo,
                ..Req::default()
            }
        )
        .as_deref(),
        Some("usdt")
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                currency: "BTC",
                ..Req::default()
            }
        )
        .as_deref(),
        Some("everything-else")
    );
}

#[test]
fn shadowed_rules_are_refused_and_narrower_first_is_fine() {
    let shadowed = |routes: &str| {
        let got = errors(&with_routes(routes));
        assert_eq!(got.len(), 1, "{got:?}");
        got.into_iter().next().unwrap()
    };
    assert_eq!(
        shadowed(
            "  - { name: all, to: u-cm }\n  - { name: usdt, match: { currency: USDT }, to: u-alp }\n"
        ),
        r#"routes[1]: never matches: route "all" (routes[0]) above it matches every request it would"#
    );
    // A superset list, case-insensitively.
    assert!(shadowed(
        "  - { name: a, match: { currency: [usdt, BTC] }, to: u-cm }\n  - { name: b, match: { currency: USDT, network: tron }, to: u-alp }\n"
    )
    .starts_with("routes[1]: never matches: route \"a\""));
    // Amount containment, inclusive covers exclusive at the same bound.
    assert!(shadowed(
        "  - { name: a, match: { amount: { gte: \"10\" } }, to: u-cm }\n  - { name: b, match: { amount: { gt: \"10\", lt: \"20\" } }, to: u-alp }\n"
    )
    .starts_with("routes[1]"));
    // Equal header condition (name case-insensitive); the third rule is shadowed by the first.
    assert!(shadowed(
        "  - { name: a, match: { header: { name: X-Route, value: v } }, to: u-cm }\n  - { name: b, match: { header: { name: X-Route, value: w } }, to: u-alp }\n  - { name: c, match: { header: { name: x-route, value: v }, merchant: m-alp }, to: u-alp }\n"
    )
    .starts_with("routes[2]: never matches: route \"a\" (routes[0])"));

    // Not shadowed: narrower first, exclusive bound does not cover inclusive, different header.
    loaded(&with_routes(
        "  - { name: usdt, match: { currency: USDT }, to: u-alp }\n  - { name: all, to: u-cm }\n",
    ));
    loaded(&with_routes(
        "  - { name: a, match: { amount: { gt: \"10\" } }, to: u-cm }\n  - { name: b, match: { amount: { gte: \"10\" } }, to: u-alp }\n",
    ));
    loaded(&with_routes(
        "  - { name: a, match: { header: { name: X-Route, value: v } }, to: u-cm }\n  - { name: b, to: u-alp }\n",
    ));
}

#[test]
fn split_is_weighted_within_tolerance_and_sticky() {
    let cfg = loaded(&with_routes(
        r#"
  - name: canary
    split:
      - { upstream: u-cm, weight: 90 }
      - { upstream: u-apollo, weight: 10 }
"#,
    ));
    let n = 20_000u32;
    let mut minority = 0u32;
    let mut first_pick = Vec::with_capacity(n as usize);
    for i in 0..n {
        let order = format!("order-{i}");
        let amount = Amount::parse("50").unwrap();
        let headers = HeaderMap::new();
        let pick = |request_id: &str| {
            cfg.routes
                .select(&RouteFacts {
                    merchant_id: "m-alp",
                    dialect: Dialect::AlpPay,
                    currency: "USDT",
                    network: Some("tron"),
                    amount: &amount,
                    order_ref: Some(&order),
                    headers: &headers,
                    request_id,
                })
                .unwrap()
                .upstreams[0]
                .clone()
        };
        let chosen = pick("req-a");
        // Sticky: a retry of the same order (new request id) goes to the same upstream.
        assert_eq!(pick("req-b"), chosen, "{order}");
        if chosen == "u-apollo" {
            minority += 1;
        }
        first_pick.push(chosen);
    }
    // Binomial(n, 0.1): mean 2000, standard deviation ~42.4; allow 4 of them.
    let mean = f64::from(n) * 0.1;
    let sd = (f64::from(n) * 0.1 * 0.9).sqrt();
    let off = (f64::from(minority) - mean).abs();
    assert!(off <= 4.0 * sd, "{minority} of {n} on the 10% arm");

    // Without an order reference the request id decides, and is itself stable.
    let none = |request_id: &str| {
        select(
            &cfg,
            &Req {
                order_ref: None,
                request_id,
                ..Req::default()
            },
        )
        .unwrap()
        .upstreams[0]
            .clone()
    };
    assert_eq!(none("r-1"), none("r-1"));
    let varied: std::collections::HashSet<String> =
        (0..200).map(|i| none(&format!("r-{i}"))).collect();
    assert_eq!(varied.len(), 2);
}

#[test]
fn failover_follows_the_chosen_upstream_in_order_without_duplicates() {
    let cfg = loaded(&with_routes(
        r#"
  - name: single
    match: { currency: USDT }
    to: u-cm
    failover: [u-apollo, u-alp]
  - name: split
    split:
      - { upstream: u-cm, weight: 1 }
      - { upstream: u-apollo, weight: 1 }
    failover: [u-apollo, u-alp]
"#,
    ));
    let s = select(&cfg, &Req::default()).unwrap();
    assert_eq!(s.route, "single");
    assert_eq!(s.upstreams, ["u-cm", "u-apollo", "u-alp"]);

    let mut seen = std::collections::HashSet::new();
    for i in 0..64 {
        let order = format!("o-{i}");
        let s = select(
            &cfg,
            &Req {
                currency: "BTC",
                order_ref: Some(&order),
                ..Req::default()
            },
        )
        .unwrap();
        assert_eq!(s.route, "split");
        match s.upstreams[0].as_str() {
            "u-cm" => assert_eq!(s.upstreams, ["u-cm", "u-apollo", "u-alp"]),
            "u-apollo" => assert_eq!(s.upstreams, ["u-apollo", "u-alp"]),
            other => panic!("unexpected {other}"),
        }
        seen.insert(s.upstreams[0].clone());
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn config_networks_extend_the_table_and_routes() {
    let yaml = format!(
        "{BASE}networks:\n  - {{ chain: bsc, alppay: bsc }}\n  - {{ chain: base, cryptomus: base }}\nroutes:\n  - {{ name: base, match: {{ network: BASE }}, to: u-cm }}\n"
    );
    let cfg = loaded(&yaml);
    assert_eq!(
        cfg.networks.from_canonical(Dialect::AlpPay, "bsc"),
        Some("bsc")
    );
    assert_eq!(
        cfg.networks.to_canonical(Dialect::Cryptomus, "base"),
        Some("base")
    );
    assert_eq!(
        rule(
            &cfg,
            Req {
                network: Some("base"),
                ..Req::default()
            }
        )
        .as_deref(),
        Some("base")
    );
}

#[test]
fn reload_lists_changes_that_need_a_restart() {
    let a = loaded(&with_routes("  - { name: all, to: u-alp }\n"));
    let same_listeners = loaded(&with_routes("  - { name: all, to: u-cm }\n"));
    assert!(a.restart_needed_changes(&same_listeners).is_empty());
    assert_ne!(a.generation_hash, same_listeners.generation_hash);

    let moved = loaded(&format!(
        "{}sandbox: {{ listen: \"127.0.0.1:18090\" }}\nroutes:\n  - {{ name: all, to: u-alp }}\n",
        BASE.replace("127.0.0.1:18080\"", "127.0.0.1:18081\", threads: 2")
    ));
    assert_eq!(
        a.restart_needed_changes(&moved),
        [
            "server.listen: 127.0.0.1:18080 -> 127.0.0.1:18081",
            "server.threads: 1 -> 2",
            "sandbox: off -> listen 127.0.0.1:18090",
        ]
    );
}

#[test]
fn numeric_limits_are_enforced() {
    let yaml = format!(
        "{}routes:\n  - {{ name: all, to: u-alp }}\n",
        BASE.replace(
            "metrics_listen: \"127.0.0.1:19464\"",
            "metrics_listen: \"127.0.0.1:19464\", grace_period_secs: 86400, max_body_bytes: 0",
        )
        .replace(
            "base_url: \"http://127.0.0.1:9001/alppay/v2\",",
            "base_url: \"http://127.0.0.1:9001/alppay/v2\", read_timeout_ms: 99999999999, circuit_breaker: { cooldown_ms: 0 },",
        )
    );
    assert_eq!(
        errors(&yaml),
        [
            "server.max_body_bytes: must be between 1 and 65536 (pingora forwards a rewritten body only up to 64 KiB), not 0",
            "server.grace_period_secs: must be at most 3600, not 86400",
            "upstreams[0].read_timeout_ms: must be at most 86400000 (one day), not 99999999999",
            "upstreams[0].circuit_breaker.cooldown_ms: must be greater than 0",
        ]
    );
}

#[test]
fn the_documented_full_example_loads() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
        .unwrap();
    let example = doc.split("## Full example").nth(1).unwrap();
    let yaml = example
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let cfg = load_str(yaml, &|name: &str| Some(format!("value-of-{name}")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.routes.routes().len(), 2);
    assert_eq!(
        cfg.upstream("apollo").unwrap().credentials.key_id,
        "value-of-APOLLO_PUBLIC_KEY"
    );
}

#[test]
fn yaml_anchors_and_merge_keys_share_settings() {
    let yaml = r#"
x-timeouts: &timeouts { connect_timeout_ms: 500, read_timeout_ms: 700 }
upstreams:
  - <<: *timeouts
    id: u
    dialect: apollo
    base_url: "https://apollo.example/api-gateway"
    credentials: { key_id: k, secret: s }
routes:
  - { name: all, to: u }
"#;
    // Top-level helper keys are still unknown sections: anchors live inside known ones.
    assert_eq!(
        errors(yaml),
        [
            "x-timeouts: unknown section, expected one of server, sandbox, networks, merchants, upstreams, routes, store, webhooks"
        ]
    );
    let yaml = r#"
upstreams:
  - &first
    id: u
    dialect: apollo
    base_url: "https://apollo.example/api-gateway"
    credentials: { key_id: k, secret: s }
    connect_timeout_ms: 500
  - <<: *first
    id: v
routes:
  - { name: all, to: u }
"#;
    let cfg = loaded(yaml);
    let v = cfg.upstream("v").unwrap();
    assert_eq!(v.connect_timeout, Duration::from_millis(500));
    assert_eq!(v.base_url.sni, "apollo.example");
}

#[test]
fn the_store_section_defaults_to_embedded_and_takes_a_postgres_url_from_the_environment() {
    use payglot::config::store::{StoreBackendConfig, StoreConfig};
    let routes = "  - { name: all, to: u-alp }\n";
    let plain = loaded(&with_routes(routes));
    assert_eq!(plain.store, StoreConfig::default());

    let pg = format!(
        "{}store:\n  kind: postgres\n  url: \"${{PAYGLOT_POSTGRES_URL}}\"\n  replay_window_secs: 120\n",
        with_routes(routes)
    );
    let env = |name: &str| {
        (name == "PAYGLOT_POSTGRES_URL")
            .then(|| "postgres://u:secret-pw@db.internal/pay".to_owned())
    };
    let cfg = load_str(&pg, &env).unwrap_or_else(|e| panic!("{e}"));
    let StoreBackendConfig::Postgres(backend) = &cfg.store.backend else {
        panic!("not postgres: {:?}", cfg.store);
    };
    assert_eq!(
        backend.url.expose(),
        "postgres://u:secret-pw@db.internal/pay"
    );
    assert_eq!(cfg.store.replay_window, Duration::from_secs(120));
    // The password never shows, not even in the restart-needed report.
    let changes = plain.restart_needed_changes(&cfg);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes,
        [
            "store: embedded payglot-index.redb (cache 16 MiB), replay window 600s -> postgres db.internal \
             port 5432 database pay (pool 16, connect timeout 5s), replay window 120s"
        ]
    );
    assert!(!format!("{changes:?}{:?}", cfg.store).contains("secret-pw"));
}

#[test]
fn store_mistakes_are_reported_with_the_rest() {
    let routes = "  - { name: all, to: u-nope }\n";
    assert_eq!(
        errors(&format!(
            "{}store: {{ kind: sqlite }}\n",
            with_routes(routes)
        )),
        ["store.kind: unknown variant `sqlite`, expected `embedded` or `postgres`"]
    );
    assert_eq!(
        errors(&format!(
            "{}store: {{ kind: postgres, replay_window_secs: 0 }}\n",
            with_routes(routes)
        )),
        [
            "routes[0].to: unknown upstream \"u-nope\" (known: u-alp, u-cm, u-apollo)",
            "store.replay_window_secs: must be between 1 and 86400, not 0",
            "store.url: required for kind: postgres, e.g. \"${PAYGLOT_POSTGRES_URL}\"",
        ]
    );
}
