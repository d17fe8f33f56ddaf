//! After create: lookups in every dialect from whichever provider holds the payment, the
//! payment index behind them, and idempotent creates — end to end over loopback, payglot and the
//! provider sandbox in-process. The same suite runs on the embedded index and on PostgreSQL
//! (`PAYGLOT_TEST_POSTGRES_URL`, started by `scripts/test.sh`).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use common::http::{self, Response};
use common::{sign, stack};
use serde_json::{Value, json};

const DIALECTS: [&str; 3] = ["alppay", "cryptomus", "apollo"];

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A reference no other test (or earlier run against a shared database) has used.
fn reference(tag: &str) -> String {
    format!(
        "{tag}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_007
    )
}

/// Unique across runs too: a reused database (`PAYGLOT_TEST_POSTGRES_URL`) remembers the nonces
/// of earlier runs for the replay window.
fn nonce() -> u64 {
    let micros = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as u64;
    micros * 1_000 + NEXT.fetch_add(1, Ordering::Relaxed) % 1_000
}

fn create_body(dialect: &str, reference: &str, amount: &str) -> Vec<u8> {
    match dialect {
        "alppay" => json!({"amount": amount, "asset": {"short": "USDT", "network": "tron"},
            "customer": {"id": 7, "name": "Ann", "email": "ann@example.com"}, "invoice": reference}),
        "cryptomus" => json!({"amount": amount, "currency": "USDT", "order_id": reference,
            "network": "tron"}),
        _ => json!({"currency": "USDT", "network": "tron", "amount": amount,
            "order": reference, "nonce": nonce()}),
    }
    .to_string()
    .into_bytes()
}

fn create_path(dialect: &str) -> &'static str {
    match dialect {
        "alppay" => "/v2/payment",
        "cryptomus" => "/v1/payment",
        _ => "/api-gateway/make-order",
    }
}

fn signed(dialect: &str, body: &[u8], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = sign::headers(dialect, body);
    headers.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    headers
}

fn post(addr: SocketAddr, path: &str, headers: &[(String, String)], body: &[u8]) -> Response {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http::post(addr, path, &h, body)
}

fn create(proxy: SocketAddr, dialect: &str, target: &str, reference: &str) -> Response {
    let body = create_body(dialect, reference, "25.00");
    post(
        proxy,
        create_path(dialect),
        &signed(dialect, &body, &[("X-Test-Target", target)]),
        &body,
    )
}

/// The provider id a create answer gives the merchant, in each dialect's field.
fn id_of(dialect: &str, answer: &Value) -> String {
    let id = match dialect {
        "alppay" => &answer["id"],
        "cryptomus" => &answer["result"]["uuid"],
        _ => &answer["response"]["orderId"],
    };
    id.as_str()
        .unwrap_or_else(|| panic!("no id in {answer}"))
        .to_owned()
}

enum Key<'a> {
    Id(&'a str),
    Reference(&'a str),
}

fn lookup(proxy: SocketAddr, dialect: &str, key: Key<'_>) -> Response {
    match (dialect, key) {
        ("alppay", Key::Id(id)) => http::get(
            proxy,
            &format!("/v2/payment/{id}"),
            &[("API-KEY", "ak_test_payglot_alppay")],
        ),
        ("alppay", Key::Reference(r)) => http::get(
            proxy,
            &format!("/v2/payment?invoices={r}"),
            &[("API-KEY", "ak_test_payglot_alppay")],
        ),
        ("cryptomus", key) => {
            let body = match key {
                Key::Id(id) => json!({"uuid": id}),
                Key::Reference(r) => json!({"order_id": r}),
            }
            .to_string()
            .into_bytes();
            post(
                proxy,
                "/v1/payment/info",
                &signed("cryptomus", &body, &[]),
                &body,
            )
        }
        (_, Key::Id(id)) => {
            let body = json!({"orderId": id, "nonce": nonce()})
                .to_string()
                .into_bytes();
            post(
                proxy,
                "/api-gateway/order",
                &signed("apollo", &body, &[]),
                &body,
            )
        }
        (_, Key::Reference(_)) => unreachable!("Apollo looks up by its id only"),
    }
}

/// What a merchant reads in a lookup answer: (status word, received amount, the payment's id).
fn view(dialect: &str, answer: &Value) -> (String, Option<String>, String) {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    match dialect {
        "alppay" => {
            let p = if answer["data"].is_object() {
                &answer["data"]
            } else if answer["results"].is_array() {
                &answer["results"][0]
            } else {
                answer
            };
            (
                text(&p["status"]).unwrap_or_default(),
                text(&p["totalReceivedAmount"]),
                text(&p["id"]).unwrap_or_default(),
            )
        }
        "cryptomus" => {
            let r = &answer["result"];
            (
                text(&r["status"]).unwrap_or_default(),
                text(&r["payment_amount"]),
                text(&r["uuid"]).unwrap_or_default(),
            )
        }
        _ => {
            let r = &answer["response"];
            let id = text(&r["id"]).or_else(|| text(&r["orderId"]));
            (
                text(&r["status"]).unwrap_or_default(),
                text(&r["received"]),
                id.unwrap_or_default(),
            )
        }
    }
}

/// Moves a sandbox payment: pays `amount` of it (all that is due when `None`).
fn pay(sandbox: SocketAddr, id: &str, amount: Option<&str>) {
    let mut body = json!({"id": id});
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    let reply = http::post(
        sandbox,
        "/_sandbox/pay",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "sandbox pay: {}", reply.text());
}

fn creates_at_sandbox(stack: &stack::Stack, reference: &str) -> usize {
    stack
        .sandbox
        .journal()
        .iter()
        .filter(|o| {
            let path = o.path.split('?').next().unwrap_or(&o.path);
            (path.ends_with("/payment") || path.ends_with("/make-order"))
                && o.method == "POST"
                && String::from_utf8_lossy(&o.body).contains(reference)
        })
        .count()
}

/// The store section for the backend under test.
fn with_store(template: String, backend: Backend) -> String {
    match backend {
        Backend::Embedded => template,
        Backend::Postgres => {
            let url = std::env::var("PAYGLOT_TEST_POSTGRES_URL").expect(
                "PAYGLOT_TEST_POSTGRES_URL is not set: run `bash scripts/test.sh`, which starts \
                 a throwaway PostgreSQL",
            );
            template.replace(
                "store:\n  kind: embedded\n  path: \"{STORE}\"",
                &format!("store:\n  kind: postgres\n  url: \"{url}\""),
            )
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Postgres,
}

fn start(backend: Backend) -> stack::Stack {
    stack::start(&with_store(stack::base_config("", ""), backend))
}

/// Every merchant dialect looks its payment up — by the id it was given and, where its dialect
/// can, by its own reference — wherever the payment is held, before and after it is paid; the
/// id is the provider's own.
fn lookups_in_every_dialect_from_every_provider(backend: Backend) {
    let stack = start(backend);
    for dialect in DIALECTS {
        for target in DIALECTS {
            let r = reference(&format!("lk-{dialect}-{target}"));
            let created = create(stack.proxy, dialect, target, &r);
            assert_eq!(
                created.status,
                200,
                "{dialect}->{target}: {}",
                created.text()
            );
            let id = id_of(dialect, &created.json());
            // The id is the provider's: the sandbox holds a payment under it.
            let held = stack.sandbox.journal().iter().any(|o| {
                o.provider.path_prefix().contains(target)
                    && String::from_utf8_lossy(&o.body).contains(&r)
            });
            assert!(
                held,
                "{dialect}->{target}: the sandbox saw no create for {r}"
            );

            let before = lookup(stack.proxy, dialect, Key::Id(&id));
            assert_eq!(before.status, 200, "{dialect}->{target}: {}", before.text());
            let (status, received, seen_id) = view(dialect, &before.json());
            assert_eq!(seen_id, id, "{dialect}->{target}");
            let awaiting = match dialect {
                "alppay" => "OPEN",
                "cryptomus" => "check",
                _ => "pending",
            };
            assert_eq!(status, awaiting, "{dialect}->{target}: {}", before.text());
            assert!(
                received
                    .as_deref()
                    .is_none_or(|r| r.parse::<f64>() == Ok(0.0)),
                "nothing received yet: {}",
                before.text()
            );

            pay(stack.sandbox_addr, &id, None);
            let after = lookup(stack.proxy, dialect, Key::Id(&id));
            assert_eq!(after.status, 200, "{dialect}->{target}: {}", after.text());
            let (status, received, _) = view(dialect, &after.json());
            let paid = match dialect {
                "alppay" => "COMPLETED",
                "cryptomus" => "paid",
                _ => "processed",
            };
            assert_eq!(status, paid, "{dialect}->{target}: {}", after.text());
            let received: rust_decimal::Decimal = received
                .unwrap_or_else(|| panic!("received amount missing: {}", after.text()))
                .parse()
                .expect("a decimal");
            assert_eq!(
                received,
                "25".parse().expect("decimal"),
                "{dialect}->{target}"
            );

            if dialect != "apollo" {
                let by_ref = lookup(stack.proxy, dialect, Key::Reference(&r));
                assert_eq!(by_ref.status, 200, "{dialect}->{target}: {}", by_ref.text());
                assert_eq!(view(dialect, &by_ref.json()).2, id, "{dialect}->{target}");
            }
        }
    }
}

/// A repeated create answers the payment already made (no second one upstream); concurrent
/// duplicates make one.
fn creates_are_idempotent(backend: Backend) {
    let stack = start(backend);
    for dialect in DIALECTS {
        let target = match dialect {
            "alppay" => "apollo",
            "cryptomus" => "alppay",
            _ => "cryptomus",
        };
        let r = reference(&format!("idem-{dialect}"));
        let first = create(stack.proxy, dialect, target, &r);
        assert_eq!(first.status, 200, "{}", first.text());
        let again = create(stack.proxy, dialect, target, &r);
        assert_eq!(again.status, 200, "{}", again.text());
        assert_eq!(
            id_of(dialect, &first.json()),
            id_of(dialect, &again.json()),
            "{dialect}"
        );
        assert_eq!(
            creates_at_sandbox(&stack, &r),
            1,
            "{dialect}: one upstream create"
        );

        let r = reference(&format!("race-{dialect}"));
        let proxy = stack.proxy;
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let r = r.clone();
                    scope.spawn(move || {
                        let reply = create(proxy, dialect, target, &r);
                        assert_eq!(reply.status, 200, "{}", reply.text());
                        id_of(dialect, &reply.json())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a create thread"))
                .collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{dialect}: {ids:?}");
        assert_eq!(
            creates_at_sandbox(&stack, &r),
            1,
            "{dialect}: six concurrent duplicates, one upstream create"
        );
    }
}

/// Another merchant's payment, an unknown id and a malformed lookup are answered in the
/// caller's dialect: not found, not found, a validation error.
fn lookups_refuse_in_the_callers_envelope(backend: Backend) {
    let stack = start(backend);
    // A Cryptomus merchant's payment, looked up by the AlpPay and Apollo merchants.
    let r = reference("owner");
    let created = create(stack.proxy, "cryptomus", "apollo", &r);
    assert_eq!(created.status, 200, "{}", created.text());
    let id = id_of("cryptomus", &created.json());
    let alppay = lookup(stack.proxy, "alppay", Key::Id(&id));
    assert_eq!(alppay.status, 404, "{}", alppay.text());
    let apollo = lookup(stack.proxy, "apollo", Key::Id(&id));
    assert_eq!(apollo.status, 404, "{}", apollo.text());
    assert_eq!(apollo.json()["success"], false, "{}", apollo.text());

    let unknown = lookup(stack.proxy, "cryptomus", Key::Id("no-such-payment"));
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(unknown.json()["state"], 1, "{}", unknown.text());
    let unknown_ref = lookup(stack.proxy, "cryptomus", Key::Reference("never-created"));
    assert_eq!(unknown_ref.status, 404, "{}", unknown_ref.text());

    let malformed = b"{}".to_vec();
    let reply = post(
        stack.proxy,
        "/v1/payment/info",
        &signed("cryptomus", &malformed, &[]),
        &malformed,
    );
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(reply.json()["state"], 1, "{}", reply.text());
    let unsigned = http::post(
        stack.proxy,
        "/v1/payment/info",
        &[
            ("merchant", "c0ffee00-0000-4000-8000-000000000001"),
            ("sign", "0"),
        ],
        format!(r#"{{"uuid":"{id}"}}"#).as_bytes(),
    );
    assert_eq!(unsigned.status, 401, "{}", unsigned.text());
}

macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(#[test] fn $name() { super::$name(super::Backend::Embedded) })+
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Backend::Postgres) })+
        }
    };
}

on_both_stores!(
    lookups_in_every_dialect_from_every_provider,
    creates_are_idempotent,
    lookups_refuse_in_the_callers_envelope,
);

/// Two payglot instances on one PostgreSQL: duplicates sent to both create one payment, and
/// each finds the payment the other created.
#[test]
fn two_instances_share_one_postgres_index() {
    let a = start(Backend::Postgres);
    // Both instances send to the first one's sandbox, as a fleet shares its providers.
    let b = stack::start(
        &with_store(stack::base_config("", ""), Backend::Postgres)
            .replace("{SANDBOX}", &a.sandbox_addr.to_string()),
    );
    let r = reference("fleet");
    let (one, two) = std::thread::scope(|scope| {
        let x = scope.spawn(|| create(a.proxy, "cryptomus", "apollo", &r));
        let y = scope.spawn(|| create(b.proxy, "cryptomus", "apollo", &r));
        (x.join().expect("a"), y.join().expect("b"))
    });
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(two.status, 200, "{}", two.text());
    let id = id_of("cryptomus", &one.json());
    assert_eq!(id, id_of("cryptomus", &two.json()));
    let upstream_creates = creates_at_sandbox(&a, &r);
    assert_eq!(upstream_creates, 1, "one payment across the fleet");
    let seen = lookup(b.proxy, "cryptomus", Key::Id(&id));
    assert_eq!(seen.status, 200, "{}", seen.text());
    // The replay guard is shared too: a nonce used at one instance is refused at the other.
    let body = create_body("apollo", &reference("nonce"), "3");
    let headers = signed("apollo", &body, &[("X-Test-Target", "cryptomus")]);
    let first = post(a.proxy, create_path("apollo"), &headers, &body);
    assert_eq!(first.status, 200, "{}", first.text());
    let replayed = post(b.proxy, create_path("apollo"), &headers, &body);
    assert_eq!(replayed.status, 400, "{}", replayed.text());
}

/// `kill -9` during a load of creates loses no payment whose create was answered: the index
/// entry is durable before the answer leaves. The sandbox runs in this test process, so it
/// outlives the killed payglot and still holds the payments.
#[test]
fn kill_9_during_creates_loses_no_answered_payment() {
    use std::process::{Command, Stdio};
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    let sandbox = payglot::sandbox::Sandbox::new(stack::sandbox_settings());
    let sandbox_listener = payglot::serve::bind_loopback().expect("bind");
    let sandbox_addr = sandbox_listener.local_addr().expect("addr");
    let running = payglot::serve::spawn_on(
        "kill9-sandbox",
        payglot::serve::quick_stop_conf(),
        vec![Box::new(sandbox.service(&sandbox_addr.to_string()))],
        vec![sandbox_listener],
    )
    .expect("sandbox");

    let dir = common::binary::temp_dir("kill9");
    // The child binds these itself; they were free a moment ago.
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
    };
    let (proxy, metrics) = (free(), free());
    let config = dir.join("payglot.yaml");
    let yaml = stack::base_config("", "")
        .replace("{PROXY}", &proxy.to_string())
        .replace("{METRICS}", &metrics.to_string())
        .replace("{SANDBOX}", &sandbox_addr.to_string())
        .replace("{STORE}", &dir.join("index.redb").display().to_string());
    std::fs::write(&config, yaml).expect("config");
    let start = || {
        let child = Command::new(common::binary::BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env("PAYGLOT_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start payglot");
        assert!(
            payglot::serve::wait_until_listening(proxy, Duration::from_secs(30)),
            "payglot did not listen on {proxy}"
        );
        common::binary::Stopper(child)
    };

    let child = start();
    let answered: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (answered, stop) = (&answered, &stop);
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    n += 1;
                    let r = format!("k9-{}-{worker}-{n}", std::process::id());
                    let body = create_body("cryptomus", &r, "1.5");
                    let headers = signed("cryptomus", &body, &[("X-Test-Target", "apollo")]);
                    let h: Vec<(&str, &str)> = headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    // A connection refused or cut by the kill ends this worker.
                    let Ok(reply) = http::request(proxy, "POST", "/v1/payment", &h, &body) else {
                        return;
                    };
                    if reply.status == 200 {
                        let id = id_of("cryptomus", &reply.json());
                        answered.lock().expect("lock").push((r, id));
                    }
                }
            });
        }
        // Kill mid-load, once enough creates were answered.
        while answered.lock().expect("lock").len() < 40 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = child.0.id().to_string();
        let killed = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        stop.store(true, Ordering::Relaxed);
    });
    drop(child);
    let answered = answered.into_inner().expect("lock");
    assert!(
        answered.len() >= 40,
        "only {} creates answered",
        answered.len()
    );

    let restarted = start();
    for (r, id) in &answered {
        let by_id = lookup(proxy, "cryptomus", Key::Id(id));
        assert_eq!(by_id.status, 200, "{r} ({id}) lost: {}", by_id.text());
        let by_ref = lookup(proxy, "cryptomus", Key::Reference(r));
        assert_eq!(view("cryptomus", &by_ref.json()).2, *id, "{r}");
    }
    drop(restarted);
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// PostgreSQL stopped mid-run: creates and lookups answer 503 in the caller's envelope, no
/// panic; started again, service resumes by itself.
#[test]
fn a_store_outage_answers_503_then_service_resumes() {
    let cluster = common::postgres::OwnCluster::start();
    let stack = stack::start(&stack::base_config("", "").replace(
        "store:\n  kind: embedded\n  path: \"{STORE}\"",
        &format!(
            "store:\n  kind: postgres\n  url: \"{}\"\n  connect_timeout_ms: 1000",
            cluster.url
        ),
    ));
    let r = reference("outage");
    let before = create(stack.proxy, "cryptomus", "alppay", &r);
    assert_eq!(before.status, 200, "{}", before.text());
    let id = id_of("cryptomus", &before.json());

    cluster.script("halt");
    let during = create(
        stack.proxy,
        "cryptomus",
        "alppay",
        &reference("outage-during"),
    );
    assert_eq!(during.status, 503, "{}", during.text());
    assert_eq!(
        during.json()["state"],
        1,
        "Cryptomus envelope: {}",
        during.text()
    );
    let apollo = create(stack.proxy, "apollo", "alppay", &reference("outage-apollo"));
    assert_eq!(apollo.status, 503, "{}", apollo.text());
    assert_eq!(
        apollo.json()["success"],
        false,
        "Apollo envelope: {}",
        apollo.text()
    );
    let lookup_during = lookup(stack.proxy, "cryptomus", Key::Id(&id));
    assert_eq!(lookup_during.status, 503, "{}", lookup_during.text());

    cluster.script("resume");
    let after = lookup(stack.proxy, "cryptomus", Key::Id(&id));
    assert_eq!(after.status, 200, "{}", after.text());
    let again = create(
        stack.proxy,
        "cryptomus",
        "alppay",
        &reference("outage-after"),
    );
    assert_eq!(again.status, 200, "{}", again.text());
}

/// Two merchants on one upstream account send the same order reference: two payments, each
/// answered with its own merchant's reference — across dialects and on a same-dialect route,
/// where the provider (Cryptomus) would otherwise return the first merchant's invoice.
#[test]
fn merchants_sharing_an_account_never_get_each_others_payment() {
    const SECOND: (&str, &str) = ("c0ffee00-0000-4000-8000-000000000002", "cm_second_shop_key");
    // A second Cryptomus merchant on the first one's accounts everywhere.
    let second = format!(
        r#"  - id: shop-cryptomus-2
    dialect: cryptomus
    credentials: {{ key_id: {}, secret: {} }}
    profile:
      default_networks: {{ USDT: tron }}
    upstream_credentials:
      apollo-sandbox: {{ key_id: "{}", secret: {} }}
"#,
        SECOND.0,
        SECOND.1,
        stack::upstream_key("cryptomus", "apollo"),
        "sk_shop_cryptomus_at_apollo",
    );
    let template =
        stack::base_config("", "").replacen("upstreams:", &format!("{second}upstreams:"), 1);
    let stack = stack::start(&template);
    for target in ["apollo", "cryptomus"] {
        let r = reference(&format!("shared-{target}"));
        let body = create_body("cryptomus", &r, "5");
        let first = create(stack.proxy, "cryptomus", target, &r);
        assert_eq!(first.status, 200, "{}", first.text());
        let second_headers = vec![
            ("merchant".to_owned(), SECOND.0.to_owned()),
            ("sign".to_owned(), sign::cryptomus_sign(SECOND.1, &body)),
            ("X-Test-Target".to_owned(), target.to_owned()),
        ];
        let other = post(stack.proxy, "/v1/payment", &second_headers, &body);
        assert_eq!(other.status, 200, "{}", other.text());
        let (a, b) = (first.json(), other.json());
        assert_ne!(
            id_of("cryptomus", &a),
            id_of("cryptomus", &b),
            "{target}: the second merchant got the first one's payment"
        );
        assert_eq!(a["result"]["order_id"], r.as_str(), "{target}: {a}");
        assert_eq!(b["result"]["order_id"], r.as_str(), "{target}: {b}");
    }
}

/// An index that lost a payment (here: a second instance with an empty index, on the same
/// providers) finds it again by reference or id at the merchant's own upstreams, records it, and
/// answers in the merchant's dialect.
#[test]
fn a_lost_index_entry_is_recovered_from_the_merchants_upstreams() {
    let first = start(Backend::Embedded);
    let r = reference("lost");
    let created = create(first.proxy, "cryptomus", "alppay", &r);
    assert_eq!(created.status, 200, "{}", created.text());
    let id = id_of("cryptomus", &created.json());

    let empty = stack::start(
        &stack::base_config("", "").replace("{SANDBOX}", &first.sandbox_addr.to_string()),
    );
    let by_ref = lookup(empty.proxy, "cryptomus", Key::Reference(&r));
    assert_eq!(by_ref.status, 200, "{}", by_ref.text());
    assert_eq!(view("cryptomus", &by_ref.json()).2, id);
    assert_eq!(
        by_ref.json()["result"]["order_id"],
        r.as_str(),
        "{}",
        by_ref.text()
    );
    // Recorded now: found by id without another search.
    let by_id = lookup(empty.proxy, "cryptomus", Key::Id(&id));
    assert_eq!(by_id.status, 200, "{}", by_id.text());
    assert_eq!(view("cryptomus", &by_id.json()).2, id);
    // Another merchant cannot recover it: its accounts at the providers are its own.
    let other = lookup(empty.proxy, "alppay", Key::Id(&id));
    assert_eq!(other.status, 404, "{}", other.text());
}
