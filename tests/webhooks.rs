//! The webhook relay end to end, over loopback: merchants create through payglot, the sandbox
//! pays, the provider's webhook reaches payglot's relay (or, on a same-dialect route on the
//! merchant's own account, the merchant directly), and a merchant receiver written here gets
//! one webhook in its own dialect. Signatures are checked with the tests' own code
//! (`common::sign`: hmac/md-5 directly, an order-keeping JSON re-encoder and a raw-strip
//! verifier for Cryptomus), never payglot's.
//! Waits are on the event itself, with a deadline.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use payglot::sandbox::webhook::DeliveryAttempt;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use common::http::{self, Response};
use common::receiver::{HOLD, Received, Receiver};
use common::sign::{self, cryptomus_reencoded_sign_matches, cryptomus_stripped_sign_matches};
use common::stack::{self, APOLLO_PAYGLOT, CRYPTOMUS_PAYGLOT, Stack};

const DEADLINE: Duration = Duration::from_secs(15);
const DIALECTS: [&str; 3] = ["alppay", "cryptomus", "apollo"];

/// A listener that accepts connections and never answers, holding them until dropped.
struct Hanging {
    addr: SocketAddr,
    held: Arc<(Mutex<Vec<TcpStream>>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hanging {
    fn start() -> Hanging {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let addr = listener.local_addr().expect("address");
        let held: Arc<(Mutex<Vec<TcpStream>>, Condvar)> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let held = Arc::clone(&held);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        held.0.lock().expect("held").push(stream);
                        held.1.notify_all();
                    }
                }
            })
        };
        Hanging {
            addr,
            held,
            stop,
            thread: Some(thread),
        }
    }

    fn wait_for_connection(&self) {
        let guard = self.held.0.lock().expect("held");
        let (_guard, timeout) = self
            .held
            .1
            .wait_timeout_while(guard, DEADLINE, |held| held.is_empty())
            .expect("held");
        assert!(!timeout.timed_out(), "nothing connected to the hanging URL");
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The stack: payglot with its relay on, the sandbox, the merchants' URLs

/// `base_config` with the relay on (public base URL = the proxy), the AlpPay merchant's
/// `webhook_url`, and the outbox's own retries far off so the provider's retries drive them.
fn relay_config(alppay_webhook_url: &str, extra: &str) -> String {
    stack::base_config("", "").replacen(
        "  - id: shop-alppay\n    dialect: alppay\n",
        &format!(
            "  - id: shop-alppay\n    dialect: alppay\n    webhook_url: \"{alppay_webhook_url}\"\n"
        ),
        1,
    ) + &format!(
        "webhooks:\n  public_base_url: \"http://{{PROXY}}\"\n  retry_schedule_secs: [3600]\n{extra}"
    )
}

fn start(receiver: &Receiver, extra: &str) -> Stack {
    let alppay_url = receiver.url("/alppay");
    stack::start_tuned(&relay_config(&alppay_url, extra), |settings, ports| {
        let mut settings = settings.with_alppay_webhook_url(&format!(
            "http://{}/webhooks/alppay/alppay-sandbox",
            ports.proxy
        ));
        settings.webhook_retry = vec![Duration::from_millis(50); 6];
        settings
    })
}

static NEXT: AtomicU64 = AtomicU64::new(1);

fn reference(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn nonce() -> u64 {
    1_700_000_000_000 + NEXT.fetch_add(1, Ordering::Relaxed) * 7919
}

/// A create with the merchant's callback URLs (`base` + `/cryptomus`, `/apollo-ok`,
/// `/apollo-err`; AlpPay has none in its request).
fn create_body(dialect: &str, reference: &str, amount: &str, base: &str) -> Vec<u8> {
    match dialect {
        "alppay" => json!({"amount": amount, "asset": {"short": "USDT", "network": "tron"},
            "customer": {"id": 7, "name": "Ann", "email": "ann@example.com"}, "invoice": reference}),
        "cryptomus" => json!({"amount": amount, "currency": "USDT", "order_id": reference,
            "network": "tron", "url_callback": format!("{base}/cryptomus")}),
        _ => json!({"currency": "USDT", "network": "tron", "amount": amount,
            "order": reference, "successWebhook": format!("{base}/apollo-ok"),
            "errorWebhook": format!("{base}/apollo-err"), "nonce": nonce()}),
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

/// Creates through payglot; returns the provider id the merchant was given.
fn create(stack: &Stack, from: &str, to: &str, reference: &str, base: &str) -> String {
    id_of(from, &create_answer(stack.proxy, from, to, reference, base))
}

/// Creates through the proxy at `proxy`; returns the merchant's answer.
fn create_answer(proxy: SocketAddr, from: &str, to: &str, reference: &str, base: &str) -> Value {
    create_with(
        proxy,
        from,
        to,
        &create_body(from, reference, "25.00", base),
    )
}

/// Sends the create `body` through the proxy at `proxy`; returns the merchant's answer.
fn create_with(proxy: SocketAddr, from: &str, to: &str, body: &[u8]) -> Value {
    let mut headers = sign::headers(from, body);
    headers.push(("X-Test-Target".into(), to.into()));
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let answer = http::post(proxy, create_path(from), &h, body);
    assert_eq!(answer.status, 200, "{from}->{to} create: {}", answer.text());
    answer.json()
}

/// The provider id in a create answer of the merchant's dialect.
fn id_of(from: &str, answer: &Value) -> String {
    let id = match from {
        "alppay" => &answer["id"],
        "cryptomus" => &answer["result"]["uuid"],
        _ => &answer["response"]["orderId"],
    };
    id.as_str()
        .unwrap_or_else(|| panic!("no id in {answer}"))
        .to_owned()
}

fn pay(stack: &Stack, id: &str) -> Response {
    let reply = http::post(
        stack.sandbox_addr,
        "/_sandbox/pay",
        &[("Content-Type", "application/json")],
        json!({ "id": id }).to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "sandbox pay: {}", reply.text());
    reply
}

/// The id a merchant webhook is about, in its dialect.
fn id_in(dialect: &str, body: &Value) -> Option<String> {
    let id = match dialect {
        "alppay" | "apollo" => &body["id"],
        _ => &body["uuid"],
    };
    id.as_str().map(str::to_owned)
}

/// The paid webhook of one payment at a merchant.
fn paid_webhook<'r>(dialect: &str, id: &str, received: &'r [Received]) -> Vec<&'r Received> {
    received
        .iter()
        .filter(|r| id_in(dialect, &r.json()).as_deref() == Some(id))
        .filter(|r| {
            let status = r.json()["status"].as_str().unwrap_or_default().to_owned();
            matches!(status.as_str(), "COMPLETED" | "paid" | "processed")
        })
        .collect()
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a decimal string"))
        .parse()
        .unwrap_or_else(|e| panic!("{value}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Independent signature checks

fn hmac_matches(key: &str, body: &[u8], claimed: Option<&str>) -> bool {
    claimed == Some(sign::hmac_hex(key, body).as_str())
}

/// The key a merchant's webhook is signed with: always the merchant's own. On a same-dialect
/// route the provider signs with payglot's account there, which the merchant does not hold, so
/// the relay re-signs it.
fn signing_key(from: &str) -> &'static str {
    match from {
        "alppay" => sign::ALPPAY.1,
        "cryptomus" => sign::CRYPTOMUS.1,
        _ => sign::APOLLO.1,
    }
}

fn assert_signed(from: &str, to: &str, webhook: &Received) {
    let key = signing_key(from);
    match from {
        "alppay" => assert!(
            hmac_matches(key, &webhook.body, webhook.header("X-HMAC")),
            "{from}<-{to}: X-HMAC does not verify: {webhook:?}"
        ),
        "apollo" => assert!(
            hmac_matches(key, &webhook.body, webhook.header("x-api-signature")),
            "{from}<-{to}: x-api-signature does not verify: {webhook:?}"
        ),
        _ => {
            assert!(
                cryptomus_reencoded_sign_matches(&webhook.body, key),
                "{from}<-{to}: re-encoded sign fails: {}",
                webhook.text()
            );
            assert!(
                cryptomus_stripped_sign_matches(webhook.text(), key),
                "{from}<-{to}: raw-strip sign fails: {}",
                webhook.text()
            );
        }
    }
}

/// Status and exact amounts, in the merchant's dialect.
fn assert_paid(from: &str, to: &str, body: &Value, reference: &str) {
    let pair = format!("{from}<-{to}");
    let twenty_five = Decimal::new(25, 0);
    match from {
        "alppay" => {
            assert_eq!(body["status"], "COMPLETED", "{pair}: {body}");
            assert_eq!(decimal(&body["amount"]), twenty_five, "{pair}: {body}");
            assert_eq!(
                decimal(&body["totalReceivedAmount"]),
                twenty_five,
                "{pair}: {body}"
            );
            assert_eq!(body["invoice"], reference, "{pair}: {body}");
        }
        "cryptomus" => {
            assert_eq!(body["status"], "paid", "{pair}: {body}");
            // Apollo calls none of its statuses final (a late payment can still arrive).
            assert_eq!(body["is_final"], to != "apollo", "{pair}: {body}");
            assert_eq!(decimal(&body["amount"]), twenty_five, "{pair}: {body}");
            assert_eq!(
                decimal(&body["payment_amount"]),
                twenty_five,
                "{pair}: {body}"
            );
            assert_eq!(body["order_id"], reference, "{pair}: {body}");
        }
        _ => {
            assert_eq!(body["status"], "processed", "{pair}: {body}");
            assert_eq!(decimal(&body["amount"]), twenty_five, "{pair}: {body}");
            assert_eq!(decimal(&body["received"]), twenty_five, "{pair}: {body}");
        }
    }
}

fn merchant_path(from: &str) -> &'static str {
    match from {
        "alppay" => "/alppay",
        "cryptomus" => "/cryptomus",
        _ => "/apollo-ok",
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn every_pair_delivers_one_webhook_in_the_merchants_dialect() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let stack = start(&receiver, "");
    let base = receiver.url("");
    for from in DIALECTS {
        for to in DIALECTS {
            let reference = reference(&format!("{from}-{to}"));
            let id = create(&stack, from, to, &reference, &base);
            pay(&stack, &id);
            let received = receiver.wait_until(&format!("{from}<-{to} paid webhook"), |r| {
                !paid_webhook(from, &id, r).is_empty()
            });
            let paid = paid_webhook(from, &id, &received);
            assert_eq!(paid.len(), 1, "{from}<-{to}: {paid:#?}");
            let webhook = paid[0];
            assert_eq!(webhook.path, merchant_path(from), "{from}<-{to}");
            assert_signed(from, to, webhook);
            let body = webhook.json();
            // An Apollo merchant's webhook names its reference as `order` when relayed.
            if from == "apollo" && to != "apollo" {
                assert_eq!(body["order"], reference.as_str(), "{body}");
            }
            assert_paid(from, to, &body, &reference);
        }
    }
}

/// payglot's own account at the provider of `dialect`: what a same-dialect route signs with
/// upstream, and what that provider signs its notifications with.
fn payglot_key(dialect: &str) -> &'static str {
    match dialect {
        "alppay" => stack::ALPPAY_PAYGLOT.1,
        "cryptomus" => CRYPTOMUS_PAYGLOT.1,
        _ => APOLLO_PAYGLOT.1,
    }
}

/// A same-dialect route on payglot's account (the merchant's credentials differ from the
/// upstream's): the provider notifies the relay, and the merchant gets the notification
/// re-signed with its own key, which its verifier holds, not with payglot's. A provider that
/// echoes the callbacks in the create answer shows the merchant its own URLs.
#[test]
fn same_dialect_webhooks_are_relayed_and_signed_with_the_merchants_key() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let stack = start(&receiver, "");
    let base = receiver.url("");
    for dialect in DIALECTS {
        let reference = reference(&format!("same-{dialect}"));
        let sent = create_body(dialect, &reference, "25.00", &base);
        let answer = create_with(stack.proxy, dialect, dialect, &sent);
        if dialect == "apollo" {
            assert_eq!(
                answer["response"]["successWebhook"],
                format!("{base}/apollo-ok"),
                "{answer}"
            );
            assert_eq!(
                answer["response"]["errorWebhook"],
                format!("{base}/apollo-err"),
                "{answer}"
            );
        }
        let id = id_of(dialect, &answer);
        pay(&stack, &id);
        let attempts = wait_for_attempts(&stack, &id, |a| a.iter().any(DeliveryAttempt::delivered));
        let relay = format!("http://{}/webhooks/", stack.proxy);
        assert!(
            attempts.iter().all(|a| a.url.starts_with(&relay)),
            "{dialect}: the provider notified the merchant directly: {attempts:#?}"
        );
        // Upstream went the merchant's body with only its callback URLs changed, members in
        // the order sent (AlpPay has none in its body: unchanged).
        let upstream = stack
            .sandbox
            .journal()
            .into_iter()
            .find(|seen| String::from_utf8_lossy(&seen.body).contains(&reference))
            .expect("the create reached the sandbox");
        let merchant_urls = [
            format!("{base}/cryptomus"),
            format!("{base}/apollo-ok"),
            format!("{base}/apollo-err"),
        ];
        let expected = merchant_urls
            .iter()
            .fold(String::from_utf8(sent).expect("UTF-8"), |body, url| {
                body.replace(&format!("\"{url}\""), &format!("\"{}\"", attempts[0].url))
            });
        assert_eq!(
            String::from_utf8_lossy(&upstream.body),
            expected,
            "{dialect}"
        );
        let received = receiver.wait_until(&format!("{dialect}<-{dialect} paid webhook"), |r| {
            !paid_webhook(dialect, &id, r).is_empty()
        });
        let paid = paid_webhook(dialect, &id, &received);
        assert_eq!(paid.len(), 1, "{dialect}: {paid:#?}");
        let webhook = paid[0];
        assert_eq!(webhook.path, merchant_path(dialect));
        assert_signed(dialect, dialect, webhook);
        let provider_signed = match dialect {
            "cryptomus" => cryptomus_reencoded_sign_matches(&webhook.body, payglot_key(dialect)),
            "alppay" => hmac_matches(
                payglot_key(dialect),
                &webhook.body,
                webhook.header("X-HMAC"),
            ),
            _ => hmac_matches(
                payglot_key(dialect),
                &webhook.body,
                webhook.header("x-api-signature"),
            ),
        };
        assert!(!provider_signed, "{dialect}: signed with payglot's key");
        assert_paid(dialect, dialect, &webhook.json(), &reference);
    }
}

/// A same-dialect route on the merchant's own account (`upstream_credentials` naming the
/// merchant's own key id and secret): the provider's notification already verifies for the
/// merchant, so the merchant's callback URL goes upstream as sent and the provider notifies the
/// merchant directly. (AlpPay has one account-level URL, always the relay's.)
#[test]
fn same_dialect_on_the_merchants_own_account_passes_the_callback_through() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let own_account = |dialect: &str, key: (&str, &str), first_other: &str| {
        (
            format!("      {first_other}"),
            format!(
                "      {dialect}-sandbox: {{ key_id: \"{}\", secret: {} }}\n      {first_other}",
                key.0, key.1
            ),
        )
    };
    let mut config = relay_config(&receiver.url("/alppay"), "");
    for (from, to) in [
        own_account(
            "cryptomus",
            sign::CRYPTOMUS,
            "alppay-sandbox: { key_id: \"ak_shop_cryptomus\"",
        ),
        own_account(
            "apollo",
            sign::APOLLO,
            "alppay-sandbox: { key_id: \"ak_shop_apollo\"",
        ),
    ] {
        assert_eq!(config.matches(&from).count(), 1, "{from}");
        config = config.replace(&from, &to);
    }
    let stack = stack::start_tuned(&config, |mut settings, _| {
        let name = "the merchant's own account";
        settings
            .cryptomus
            .push(payglot::sandbox::SandboxAccount::new(
                sign::CRYPTOMUS.0,
                sign::CRYPTOMUS.1,
                name,
            ));
        settings.apollo.push(payglot::sandbox::SandboxAccount::new(
            sign::APOLLO.0,
            sign::APOLLO.1,
            name,
        ));
        settings
    });
    let base = receiver.url("");
    for dialect in ["cryptomus", "apollo"] {
        let reference = reference(&format!("own-{dialect}"));
        let id = create(&stack, dialect, dialect, &reference, &base);
        pay(&stack, &id);
        let attempts = wait_for_attempts(&stack, &id, |a| a.iter().any(DeliveryAttempt::delivered));
        let delivered: Vec<&DeliveryAttempt> = attempts.iter().filter(|a| a.delivered()).collect();
        assert_eq!(
            delivered[0].url,
            receiver.url(merchant_path(dialect)),
            "{dialect}: {attempts:#?}"
        );
        let received = receiver.wait_until(&format!("{dialect} direct webhook"), |r| {
            !paid_webhook(dialect, &id, r).is_empty()
        });
        let webhook = paid_webhook(dialect, &id, &received)[0];
        // What the provider sent is what arrived, and it verifies with the merchant's key.
        assert_eq!(webhook.body, delivered[0].body, "{dialect}");
        assert_signed(dialect, dialect, webhook);
    }
}

/// `is_final` in a Cryptomus merchant's webhook follows the lookup rule: what the provider says,
/// so a payment held at Apollo (which calls none of its statuses final) is never final, even
/// expired; the same payment's `payment/info` says the same. Elsewhere an expired invoice is
/// final.
#[test]
fn is_final_in_webhooks_follows_the_lookup_rule() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let stack = start(&receiver, "");
    let base = receiver.url("");
    for to in DIALECTS {
        let id = create(
            &stack,
            "cryptomus",
            to,
            &reference(&format!("final-{to}")),
            &base,
        );
        let expired = http::post(
            stack.sandbox_addr,
            "/_sandbox/expire",
            &[("Content-Type", "application/json")],
            json!({ "id": id }).to_string().as_bytes(),
        );
        assert_eq!(expired.status, 200, "sandbox expire: {}", expired.text());
        let received = receiver.wait_until(&format!("cryptomus<-{to} expired webhook"), |r| {
            r.iter()
                .any(|w| id_in("cryptomus", &w.json()).as_deref() == Some(id.as_str()))
        });
        let webhook = received
            .iter()
            .find(|w| id_in("cryptomus", &w.json()).as_deref() == Some(id.as_str()))
            .expect("the webhook");
        assert_signed("cryptomus", to, webhook);
        let body = webhook.json();
        let info_body = json!({ "uuid": id }).to_string().into_bytes();
        let headers = sign::headers("cryptomus", &info_body);
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let info = http::post(stack.proxy, "/v1/payment/info", &h, &info_body);
        assert_eq!(info.status, 200, "cryptomus<-{to} info: {}", info.text());
        let info = info.json();
        assert_eq!(
            body["status"], info["result"]["status"],
            "cryptomus<-{to}: {body} / {info}"
        );
        assert_eq!(body["is_final"], to != "apollo", "cryptomus<-{to}: {body}");
        assert_eq!(
            info["result"]["is_final"], body["is_final"],
            "cryptomus<-{to}: {info}"
        );
    }
}

#[test]
fn a_refusing_merchant_gets_the_event_until_it_accepts_it_once() {
    // 500 three times, then 200.
    let receiver = Receiver::start(vec![500, 500, 500], DEADLINE);
    let stack = start(&receiver, "");
    let reference = reference("retry");
    let id = create(&stack, "cryptomus", "apollo", &reference, &receiver.url(""));
    pay(&stack, &id);
    let received = receiver.wait_until("an accepted delivery", |r| {
        r.iter().any(|w| w.answered == 200)
    });
    assert_eq!(received.len(), 4, "{received:#?}");
    let accepted: Vec<&Received> = received.iter().filter(|r| r.answered == 200).collect();
    assert_eq!(accepted.len(), 1);
    // The same event each time: same body, same event id.
    for r in &received {
        assert_eq!(r.body, received[0].body);
        assert_eq!(
            r.header("X-Payglot-Event-Id"),
            received[0].header("X-Payglot-Event-Id")
        );
    }
    assert_signed("cryptomus", "apollo", accepted[0]);
    // The provider saw 5xx until the merchant accepted, then 2xx.
    let attempts = wait_for_attempts(&stack, &id, |a| a.iter().any(DeliveryAttempt::delivered));
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [Some(502), Some(502), Some(502), Some(200)],
        "{attempts:#?}"
    );
}

fn wait_for_attempts(
    stack: &Stack,
    payment: &str,
    done: impl Fn(&[DeliveryAttempt]) -> bool,
) -> Vec<DeliveryAttempt> {
    let started = Instant::now();
    loop {
        let attempts: Vec<DeliveryAttempt> = stack
            .sandbox
            .deliveries()
            .into_iter()
            .filter(|a| a.payment_id == payment)
            .collect();
        if done(&attempts) {
            return attempts;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the sandbox's deliveries for {payment} never got there: {attempts:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn forged_altered_replayed_and_unknown_webhooks_are_refused() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let stack = start(&receiver, "");
    let base = receiver.url("");
    // Two genuine payments from an Apollo merchant at Cryptomus, the first paid.
    let first = create(&stack, "apollo", "cryptomus", &reference("first"), &base);
    let second = create(&stack, "apollo", "cryptomus", &reference("second"), &base);
    pay(&stack, &first);
    let attempts = wait_for_attempts(&stack, &first, |a| a.iter().any(DeliveryAttempt::delivered));
    let genuine = attempts.last().expect("an attempt").clone();
    receiver.wait_until("the genuine webhook", |r| !r.is_empty());
    let delivered = receiver.received().len();
    let relay_path = |url: &str| {
        url.split_once("/webhooks/")
            .map(|(_, token)| format!("/webhooks/{token}"))
            .expect("a relay URL")
    };
    let first_path = relay_path(&genuine.url);
    let body = String::from_utf8(genuine.body.clone()).expect("UTF-8");
    let post = |path: &str, body: &[u8], headers: &[(&str, &str)]| {
        http::post(stack.proxy, path, headers, body).status
    };
    let json = [("Content-Type", "application/json")];

    // The genuine one again: already delivered, answered 2xx, not sent twice.
    assert_eq!(post(&first_path, body.as_bytes(), &json), 200);
    // Forged: signed with another key.
    let unsigned = body
        .rsplit_once(",\"sign\":")
        .map(|(members, _)| format!("{members}}}"))
        .expect("a signed body");
    let forged = format!(
        "{},\"sign\":\"{}\"}}",
        &unsigned[..unsigned.len() - 1],
        sign::cryptomus_sign("not the key", unsigned.replace('/', "\\/").as_bytes())
    );
    assert_eq!(post(&first_path, forged.as_bytes(), &json), 401);
    // Body altered after signing.
    let altered = body.replacen("\"payment_amount\":\"", "\"payment_amount\":\"9", 1);
    assert_ne!(altered, body);
    assert_eq!(post(&first_path, altered.as_bytes(), &json), 401);
    // Unknown token.
    assert_eq!(
        post("/webhooks/0123456789abcdef", body.as_bytes(), &json),
        404
    );
    // AlpPay account URL: unknown upstream, and a wrong X-HMAC.
    assert_eq!(post("/webhooks/alppay/nope", b"{}", &json), 404);
    assert_eq!(
        post(
            "/webhooks/alppay/alppay-sandbox",
            br#"{"id":"x","status":"COMPLETED"}"#,
            &[("X-HMAC", "00")]
        ),
        401
    );
    // Not JSON, and the wrong method.
    assert_eq!(post(&first_path, b"not json", &json), 401);
    let answer = http::get(stack.proxy, &first_path, &[]);
    assert_eq!(answer.status, 405, "GET on a relay URL");
    assert_eq!(
        answer.header("allow"),
        Some("POST"),
        "RFC 9110: a 405 names what is served"
    );
    assert_eq!(
        receiver.received().len(),
        delivered,
        "nothing more reached the merchant"
    );

    // Replayed after a change: the first payment's genuine webhook at the second's URL.
    pay(&stack, &second);
    let second_attempts = wait_for_attempts(&stack, &second, |a| {
        a.iter().any(DeliveryAttempt::delivered)
    });
    let second_path = relay_path(&second_attempts[0].url);
    assert_ne!(second_path, first_path);
    let after_second = receiver
        .wait_until("the second webhook", |r| r.len() > delivered)
        .len();
    assert_eq!(post(&second_path, body.as_bytes(), &json), 401);
    assert_eq!(receiver.received().len(), after_second);
}

#[test]
fn a_hanging_merchant_does_not_hold_up_other_deliveries() {
    let hanging = Hanging::start();
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let stack = start(&receiver, "  delivery_timeout_ms: 60000\n");
    let hung = create(
        &stack,
        "cryptomus",
        "apollo",
        &reference("hung"),
        &format!("http://{}", hanging.addr),
    );
    pay(&stack, &hung);
    hanging.wait_for_connection();
    // While that delivery hangs, another merchant's webhook goes through.
    let id = create(
        &stack,
        "apollo",
        "alppay",
        &reference("free"),
        &receiver.url(""),
    );
    pay(&stack, &id);
    let received = receiver.wait_until("the other merchant's webhook", |r| {
        !paid_webhook("apollo", &id, r).is_empty()
    });
    assert_signed(
        "apollo",
        "alppay",
        paid_webhook("apollo", &id, &received)[0],
    );
    // The hanging delivery is still open: nothing answered it.
    assert!(
        !wait_for_attempts(&stack, &hung, |_| true)
            .iter()
            .any(DeliveryAttempt::delivered)
    );
}

/// pyCryptomusAPI's own `process_payment_webhook` (the re-encode-and-compare verifier, in
/// `target/sdk-venv`, made by `scripts/sdk-env.sh`) accepts what the relay sends a Cryptomus
/// merchant, and refuses it altered.
#[test]
fn py_cryptomus_api_accepts_the_relayed_cryptomus_webhook() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/sdk-venv/bin/python");
    assert!(
        python.is_file(),
        "no SDK venv at {}: run `bash scripts/sdk-env.sh` first (scripts/test.sh does)",
        python.display()
    );
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let stack = start(&receiver, "");
    let id = create(
        &stack,
        "cryptomus",
        "alppay",
        &reference("sdk"),
        &receiver.url(""),
    );
    pay(&stack, &id);
    let received = receiver.wait_until("the Cryptomus webhook", |r| {
        !paid_webhook("cryptomus", &id, r).is_empty()
    });
    let webhook = paid_webhook("cryptomus", &id, &received)[0].clone();
    let dir = std::env::temp_dir().join(format!("payglot-webhook-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let genuine = dir.join("genuine.json");
    let altered = dir.join("altered.json");
    std::fs::write(&genuine, &webhook.body).expect("write");
    std::fs::write(
        &altered,
        webhook
            .text()
            .replacen("\"status\":\"paid\"", "\"status\":\"paid_over\"", 1),
    )
    .expect("write");
    const SCRIPT: &str = r#"
import sys
from pyCryptomusAPI import process_payment_webhook, WebhookVerificationError
try:
    w = process_payment_webhook(open(sys.argv[1], 'rb').read(), sys.argv[2])
    print('verified', w.status, w.payment_amount)
except WebhookVerificationError as e:
    print('refused', e)
"#;
    let run = |file: &Path| -> String {
        let mut child = Command::new(&python)
            .args(["-c", SCRIPT])
            .arg(file)
            .arg(sign::CRYPTOMUS.1)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python");
        let started = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("python did not finish");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let verdict = run(&genuine);
    let tampered = run(&altered);
    let _ = std::fs::remove_dir_all(&dir);
    // The library reads amounts as floats: "25.0".
    let words: Vec<&str> = verdict.split_whitespace().collect();
    assert_eq!(
        words[..2],
        ["verified", "paid"],
        "{verdict}: {}",
        webhook.text()
    );
    assert_eq!(
        words[2].parse::<Decimal>().ok(),
        Some(Decimal::new(25, 0)),
        "{verdict}"
    );
    assert!(tampered.starts_with("refused"), "{tampered}");
}

/// `payglot webhooks listen` (README "Try it"): prints what arrives, answers 200 to a webhook
/// that verifies as the dialect's merchant's and 401 to one that does not, and stops after
/// `--count` webhooks.
#[test]
fn webhooks_listen_verifies_what_it_receives() {
    let mut child = Command::new(common::binary::BIN)
        .args([
            "webhooks",
            "listen",
            "--port",
            "0",
            "--dialect",
            "cryptomus",
            "--count",
            "2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start payglot webhooks listen");
    let stdout = child.stdout.take().expect("stdout");
    let _stopper = common::binary::Stopper(child);
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the listening line");
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().trim_end_matches('/').split('/').next())
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let unsigned = r#"{"type":"payment","uuid":"u-1","order_id":"o-1","amount":"25.00","status":"paid","url":"https:\/\/shop.example\/x"}"#;
    let sign = sign::cryptomus_sign(sign::CRYPTOMUS.1, unsigned.as_bytes());
    let signed = format!("{},\"sign\":\"{sign}\"}}", &unsigned[..unsigned.len() - 1]);
    let json = [("Content-Type", "application/json")];
    assert_eq!(
        http::post(addr, "/cb", &json, signed.as_bytes()).status,
        200
    );
    let forged = signed.replace("\"paid\"", "\"paid_over\"");
    assert_eq!(
        http::post(addr, "/cb", &json, forged.as_bytes()).status,
        401
    );
    // The rest of the output, read until the receiver exits after its two webhooks (bounded).
    let (sender, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut printed = String::new();
        let _ = stdout.read_to_string(&mut printed);
        let _ = sender.send(printed);
    });
    let printed = output
        .recv_timeout(DEADLINE)
        .expect("webhooks listen stops after --count webhooks");
    assert!(
        printed.contains("POST /cb — signature OK (cryptomus)"),
        "{printed}"
    );
    assert!(
        printed.contains("POST /cb — signature INVALID (cryptomus)"),
        "{printed}"
    );
    assert!(printed.contains("\"order_id\":\"o-1\""), "{printed}");
}

/// An event the merchant refused is kept in the store: payglot stopped and started again on
/// the same store delivers it on the schedule, with no provider retry to prompt it.
#[test]
fn an_undelivered_event_survives_a_restart() {
    let receiver = Receiver::start(vec![500], DEADLINE);
    let dir = std::env::temp_dir().join(format!("payglot-webhook-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = dir.join("index.redb");
    // A stop before the failure is recorded leaves the event leased for the delivery timeout
    // plus a margin: short, so the restarted payglot takes it within the deadline.
    let template = relay_config(&receiver.url("/alppay"), "  delivery_timeout_ms: 1000\n")
        .replace("{STORE}", &store.display().to_string())
        .replace("retry_schedule_secs: [3600]", "retry_schedule_secs: [2]");
    let no_provider_retries =
        |settings: payglot::sandbox::SandboxSettings, _| payglot::sandbox::SandboxSettings {
            webhook_retry: Vec::new(),
            ..settings
        };
    let first = stack::start_tuned(&template, no_provider_retries);
    let id = create(
        &first,
        "cryptomus",
        "apollo",
        &reference("restart"),
        &receiver.url(""),
    );
    pay(&first, &id);
    receiver.wait_until("the refused first attempt", |r| !r.is_empty());
    drop(first);

    let second = stack::start_tuned(&template, no_provider_retries);
    let received = receiver.wait_until("the delivery after the restart", |r| {
        r.iter().any(|w| w.answered == 200)
    });
    assert_eq!(received.len(), 2, "{received:#?}");
    assert_eq!(received[0].body, received[1].body);
    assert_signed("cryptomus", "apollo", &received[1]);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real binary killed with SIGKILL while it delivers a webhook (the merchant holds the
/// delivery open), then started again on the same store: the event is delivered and accepted
/// once. The provider does not retry here (the sandbox runs in this process with no retries), so
/// only payglot's durable outbox can bring it.
#[test]
fn payglot_killed_mid_delivery_still_delivers_after_a_restart() {
    let receiver = Receiver::start(vec![HOLD], DEADLINE);
    let mut settings = stack::sandbox_settings();
    settings.webhook_retry = Vec::new();
    let sandbox = payglot::sandbox::Sandbox::new(settings);
    let sandbox_listener = payglot::serve::bind_loopback().expect("bind");
    let sandbox_addr = sandbox_listener.local_addr().expect("addr");
    let running = payglot::serve::spawn_on(
        "kill-mid-delivery-sandbox",
        payglot::serve::quick_stop_conf(),
        vec![Box::new(sandbox.service(&sandbox_addr.to_string()))],
        vec![sandbox_listener],
    )
    .expect("sandbox");

    let dir = common::binary::temp_dir("kill-mid-delivery");
    // The child binds these itself; they were free a moment ago.
    let free = || {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
    };
    let (proxy, metrics) = (free(), free());
    let config = dir.join("payglot.yaml");
    // A short delivery timeout: the killed attempt's lease (timeout + 5 s) is what the restarted
    // payglot waits out before taking the event again.
    let yaml = relay_config(&receiver.url("/alppay"), "  delivery_timeout_ms: 2000\n")
        .replace(
            "retry_schedule_secs: [3600]",
            "retry_schedule_secs: [1, 1, 1]",
        )
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
            .stdin(Stdio::null())
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
    let answer = create_answer(
        proxy,
        "cryptomus",
        "apollo",
        &reference("killed"),
        &receiver.url(""),
    );
    let id = id_of("cryptomus", &answer);
    let paid = http::post(
        sandbox_addr,
        "/_sandbox/pay",
        &[("Content-Type", "application/json")],
        json!({ "id": id }).to_string().as_bytes(),
    );
    assert_eq!(paid.status, 200, "sandbox pay: {}", paid.text());
    // The merchant has the whole request and is not answering: the delivery is in flight.
    receiver.wait_until("the held first delivery", |r| !r.is_empty());
    let killed = Command::new("kill")
        .args(["-9", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    drop(child);
    let before = receiver.received();
    assert_eq!(before.len(), 1, "{before:#?}");
    assert_eq!(before[0].answered, HOLD);

    let restarted = start();
    let received = receiver.wait_until("the delivery after the restart", |r| {
        r.iter().any(|w| w.answered == 200)
    });
    // Stopped only once the outcome is in the store: a stop between the merchant's 2xx and its
    // record would send the event again (at least once), which is not what is shown here.
    let started = Instant::now();
    while !delivered_recorded(metrics) {
        assert!(
            started.elapsed() < DEADLINE,
            "the delivery was never recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(restarted);
    let accepted: Vec<&Received> = received.iter().filter(|r| r.answered == 200).collect();
    assert_eq!(accepted.len(), 1, "{received:#?}");
    // The same event: same body, same event id.
    assert_eq!(accepted[0].body, received[0].body);
    assert_eq!(
        accepted[0].header("X-Payglot-Event-Id"),
        received[0].header("X-Payglot-Event-Id")
    );
    assert!(
        !paid_webhook("cryptomus", &id, &received).is_empty(),
        "{received:#?}"
    );
    assert_signed("cryptomus", "apollo", accepted[0]);
    // The store holds it as delivered, so nobody sends it again.
    let listed = Command::new(common::binary::BIN)
        .args(["webhooks", "list", "--config"])
        .arg(&config)
        .output()
        .expect("payglot webhooks list");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let event = accepted[0]
        .header("X-Payglot-Event-Id")
        .expect("an event id");
    let line = listed
        .lines()
        .find(|line| line.starts_with(event))
        .unwrap_or_else(|| panic!("{event} not listed: {listed}"));
    assert!(line.contains(" delivered "), "{line}");
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the payglot whose metrics listen on `metrics` has recorded a delivered event.
fn delivered_recorded(metrics: SocketAddr) -> bool {
    let Ok(reply) = http::request(metrics, "GET", "/metrics", &[], b"") else {
        return false;
    };
    reply.text().lines().any(|line| {
        line.starts_with("payglot_store_operations_total{")
            && line.contains("op=\"mark_delivered\"")
            && line.contains("outcome=\"ok\"")
            && !line.ends_with(" 0")
    })
}
