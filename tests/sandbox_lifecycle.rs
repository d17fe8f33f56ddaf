//! Sandbox payments moving through their statuses (`/_sandbox/pay`, `/_sandbox/expire`), the
//! lookups that show it, and the provider webhooks each change sends, over real loopback
//! sockets.
//!
//! Each test starts its own sandbox and, where webhooks matter, a tiny HTTP receiver on a port
//! the OS picked. Signatures are checked with the tests' own code (`common::sign`: hmac/md-5
//! directly; an order-keeping JSON re-encoder for Cryptomus), never with the sandbox's own. Waits are on the
//! event itself (a request reaching the receiver, an attempt in the journal), with a deadline.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use payglot::sandbox::webhook::DeliveryAttempt;
use payglot::sandbox::{Provider, Sandbox, SandboxSettings, demo};
use payglot::serve::{self, Running};
use serde_json::{Value, json};

use common::http::{self, Response};
use common::receiver::{Received, Receiver};
use common::sign::{
    cryptomus_reencoded_sign_matches, cryptomus_sign, cryptomus_stripped_sign_matches, hmac_hex,
};

/// How long any awaited event may take.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A sandbox on loopback

struct Harness {
    sandbox: Arc<Sandbox>,
    addr: SocketAddr,
    running: Option<Running>,
}

impl Harness {
    fn start(settings: SandboxSettings) -> Harness {
        let sandbox = Sandbox::new(settings);
        let listener = serve::bind_loopback().expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let service = sandbox.service(&addr.to_string());
        let running = serve::spawn_on(
            "sandbox-lifecycle",
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

    fn pay(&self, id: &str, amount: Option<&str>) -> Response {
        let mut body = json!({ "id": id });
        if let Some(amount) = amount {
            body["amount"] = json!(amount);
        }
        http::post(self.addr, "/_sandbox/pay", &[], &to_bytes(&body))
    }

    fn expire(&self, id: &str) -> Response {
        let body = json!({ "id": id });
        http::post(self.addr, "/_sandbox/expire", &[], &to_bytes(&body))
    }

    /// Pays and checks the answer: `(status, received)` in the provider's words.
    fn pay_ok(&self, id: &str, amount: Option<&str>) -> Value {
        let answer = self.pay(id, amount);
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }

    fn expire_ok(&self, id: &str) -> Value {
        let answer = self.expire(id);
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }

    fn alppay_create(&self, body: &Value) -> Value {
        let body = to_bytes(body);
        let signature = hmac_hex(demo::ALPPAY_HMAC_SECRET, &body);
        let headers = [
            ("API-KEY", demo::ALPPAY_API_KEY),
            ("X-HMAC", signature.as_str()),
        ];
        let answer = http::post(self.addr, "/alppay/v2/payment", &headers, &body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }

    fn alppay_get(&self, path: &str) -> Value {
        let answer = http::get(
            self.addr,
            &format!("/alppay/v2/{path}"),
            &[("API-KEY", demo::ALPPAY_API_KEY)],
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }

    fn cryptomus(&self, endpoint: &str, body: &Value) -> Value {
        let body = to_bytes(body);
        let sign = cryptomus_sign(demo::CRYPTOMUS_PAYMENT_KEY, &body);
        let headers = [
            ("merchant", demo::CRYPTOMUS_MERCHANT),
            ("sign", sign.as_str()),
        ];
        let answer = http::post(
            self.addr,
            &format!("/cryptomus/v1/{endpoint}"),
            &headers,
            &body,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let answer = answer.json();
        assert_eq!(answer["state"], 0, "{answer}");
        answer["result"].clone()
    }

    fn apollo(&self, endpoint: &str, mut body: Value) -> Value {
        body["nonce"] = json!(next_nonce());
        let body = to_bytes(&body);
        let signature = hmac_hex(demo::APOLLO_PRIVATE_KEY, &body);
        let headers = [
            ("x-api-public-key", demo::APOLLO_PUBLIC_KEY),
            ("x-api-signature", signature.as_str()),
        ];
        let answer = http::post(
            self.addr,
            &format!("/apollo/api-gateway/{endpoint}"),
            &headers,
            &body,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let answer = answer.json();
        assert_eq!(answer["success"], true, "{answer}");
        answer["response"].clone()
    }

    /// The journal's attempts for one payment, once `done` says they are complete.
    fn attempts_until(
        &self,
        payment: &str,
        done: impl Fn(&[DeliveryAttempt]) -> bool,
    ) -> Vec<DeliveryAttempt> {
        let started = Instant::now();
        loop {
            let attempts: Vec<DeliveryAttempt> = self
                .sandbox
                .deliveries()
                .into_iter()
                .filter(|attempt| attempt.payment_id == payment)
                .collect();
            if done(&attempts) {
                return attempts;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "delivery journal for {payment} never got there: {attempts:#?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn settings_with_receiver(receiver: &Receiver) -> SandboxSettings {
    SandboxSettings {
        webhook_retry: vec![Duration::from_millis(20); 3],
        ..SandboxSettings::default()
    }
    .with_alppay_webhook_url(&receiver.url("/alppay"))
}

// ---------------------------------------------------------------------------------------------
// Independent signature checks

fn assert_cryptomus_signed(webhook: &Received) {
    assert!(
        cryptomus_reencoded_sign_matches(&webhook.body, demo::CRYPTOMUS_PAYMENT_KEY),
        "re-encoded sign fails: {}",
        webhook.text()
    );
    assert!(
        cryptomus_stripped_sign_matches(webhook.text(), demo::CRYPTOMUS_PAYMENT_KEY),
        "stripped sign fails: {}",
        webhook.text()
    );
    // Tampering is noticed by both.
    let tampered = webhook
        .text()
        .replacen("\"amount\":\"", "\"amount\":\"1", 1);
    assert!(!cryptomus_reencoded_sign_matches(
        tampered.as_bytes(),
        demo::CRYPTOMUS_PAYMENT_KEY
    ));
    assert!(!cryptomus_stripped_sign_matches(
        &tampered,
        demo::CRYPTOMUS_PAYMENT_KEY
    ));
}

fn next_nonce() -> u64 {
    static NONCE: AtomicU64 = AtomicU64::new(1_700_000_900_000);
    NONCE.fetch_add(1, Ordering::Relaxed)
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialisable")
}

fn str_of(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
        .to_string()
}

/// Webhooks grouped by payment, each payment's in arrival order: the sandbox orders one
/// payment's webhooks, not different payments' (a stable sort keeps the former).
fn per_payment<T: Clone>(items: impl IntoIterator<Item = (String, T)>) -> Vec<(String, T)> {
    let mut items: Vec<(String, T)> = items.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

/// `(status, received)` of a control answer.
fn status_received(answer: &Value) -> (String, String) {
    (str_of(answer, "status"), str_of(answer, "received"))
}

// ---------------------------------------------------------------------------------------------
// The checks of the §4 vector our verifiers rest on

#[test]
fn our_cryptomus_verifiers_accept_the_documented_webhook_vector() {
    const PHP: &str = r#"{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"97a75bf8eda5cca41ba9d2e104840fcd","amount":"3.00000000","payment_amount":"3.00000000","payment_amount_usd":"0.23","merchant_amount":"2.94000000","commission":"0.06000000","is_final":true,"status":"paid","from":"THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH","wallet_address_uuid":null,"network":"tron","currency":"TRX","payer_currency":"TRX","additional_data":"Тест \/ x","convert":{"to_currency":"USDT","commission":null,"rate":"0.07700000","amount":"0.22638000"},"txid":"6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b"}"#;
    let wire = format!(
        "{},\"sign\":\"daa9f937f2e778bd98b4e91afb0cced2\"}}",
        &PHP[..PHP.len() - 1]
    );
    assert!(cryptomus_reencoded_sign_matches(
        wire.as_bytes(),
        "test_payment_key_123"
    ));
    assert!(cryptomus_stripped_sign_matches(
        &wire,
        "test_payment_key_123"
    ));
    let naive = wire.replace(
        "daa9f937f2e778bd98b4e91afb0cced2",
        "cb1db0d06d964050fb6af7e700d30a9a",
    );
    assert!(!cryptomus_reencoded_sign_matches(
        naive.as_bytes(),
        "test_payment_key_123"
    ));
    assert!(!cryptomus_stripped_sign_matches(
        &naive,
        "test_payment_key_123"
    ));
}

// ---------------------------------------------------------------------------------------------
// Cryptomus

#[test]
fn cryptomus_invoice_moves_through_its_statuses_and_sends_signed_webhooks() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));
    let created = harness.cryptomus(
        "payment",
        &json!({
            "amount": "10.00", "currency": "USDT", "network": "tron", "order_id": "life-1",
            "url_callback": receiver.url("/cryptomus/cb?shop=1"),
            "additional_data": "Тест / x",
        }),
    );
    let uuid = str_of(&created, "uuid");

    let partial = harness.pay_ok(&uuid, Some("4.5"));
    assert_eq!(partial["provider"], "cryptomus");
    assert_eq!(
        status_received(&partial),
        ("wrong_amount_waiting".into(), "4.50".into())
    );
    let info = harness.cryptomus("payment/info", &json!({"uuid": uuid}));
    assert_eq!(info["status"], "wrong_amount_waiting");
    assert_eq!(info["payment_status"], "wrong_amount_waiting");
    assert_eq!(info["is_final"], false);
    assert_eq!(info["payment_amount"], "4.50");
    assert!(
        info["txid"].is_string() && info["from"].is_string(),
        "{info}"
    );

    // No amount: what is still due.
    let full = harness.pay_ok(&uuid, None);
    assert_eq!(status_received(&full), ("paid".into(), "10.00".into()));
    let info = harness.cryptomus("payment/info", &json!({"order_id": "life-1"}));
    assert_eq!(
        (&info["status"], &info["is_final"], &info["payment_amount"]),
        (&json!("paid"), &json!(true), &json!("10.00"))
    );

    let over = harness.pay_ok(&uuid, Some("0.01"));
    assert_eq!(status_received(&over), ("paid_over".into(), "10.01".into()));

    let webhooks = receiver.wait_for(3);
    let expected = [
        ("wrong_amount_waiting", "4.50", false),
        ("paid", "10.00", true),
        ("paid_over", "10.01", true),
    ];
    for (webhook, (status, received, is_final)) in webhooks.iter().zip(expected) {
        assert_eq!(webhook.path, "/cryptomus/cb?shop=1");
        assert_cryptomus_signed(webhook);
        let body = webhook.json();
        assert_eq!(body["type"], "payment");
        assert_eq!(body["uuid"], uuid.as_str());
        assert_eq!(body["order_id"], "life-1");
        assert_eq!(body["amount"], "10.00");
        assert_eq!(body["status"], status);
        assert_eq!(body["payment_amount"], received);
        assert_eq!(body["is_final"], is_final);
        // PHP style on the wire: `/` escaped, non-ASCII raw, `sign` the last member.
        assert!(webhook.text().contains(r#""additional_data":"Тест \/ x""#));
        assert!(webhook.text().ends_with("\"}"));
        let last_member = webhook.text().rfind(",\"sign\":\"").expect("sign");
        assert_eq!(
            webhook.text().len() - last_member,
            ",\"sign\":\"".len() + 32 + 2
        );
    }
    harness.stop();
}

#[test]
fn cryptomus_expiry_cancels_or_closes_underpaid_and_lists_show_it() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));
    let create = |order_id: &str, callback: bool| {
        let mut body =
            json!({"amount": "20", "currency": "USDT", "network": "tron", "order_id": order_id});
        if callback {
            body["url_callback"] = json!(receiver.url("/cm"));
        }
        str_of(&harness.cryptomus("payment", &body), "uuid")
    };
    let unpaid = create("exp-unpaid", true);
    let underpaid = create("exp-under", true);
    let quiet = create("exp-quiet", false);

    assert_eq!(
        status_received(&harness.expire_ok(&unpaid)),
        ("cancel".into(), "0.00".into())
    );
    harness.pay_ok(&underpaid, Some("7.25"));
    assert_eq!(
        status_received(&harness.expire_ok(&underpaid)),
        ("wrong_amount".into(), "7.25".into())
    );
    let answer = harness.expire_ok(&quiet);
    assert_eq!(
        answer["webhook"],
        Value::Null,
        "no url_callback, no webhook"
    );

    let info = harness.cryptomus("payment/info", &json!({"uuid": underpaid}));
    assert_eq!(
        (&info["status"], &info["is_final"], &info["payment_amount"]),
        (&json!("wrong_amount"), &json!(true), &json!("7.25"))
    );
    // order_id wins over uuid.
    let info = harness.cryptomus(
        "payment/info",
        &json!({"uuid": underpaid, "order_id": "exp-unpaid"}),
    );
    assert_eq!(
        (&info["uuid"], &info["status"]),
        (&json!(unpaid), &json!("cancel"))
    );

    let list = harness.cryptomus("payment/list", &json!({}));
    let statuses: Vec<(String, String)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| (str_of(item, "order_id"), str_of(item, "status")))
        .collect();
    assert_eq!(
        statuses,
        [
            ("exp-quiet".to_string(), "cancel".to_string()),
            ("exp-under".into(), "wrong_amount".into()),
            ("exp-unpaid".into(), "cancel".into()),
        ],
        "newest first"
    );
    assert_eq!(list["paginate"]["perPage"], 15);
    assert_eq!(list["paginate"]["nextCursor"], Value::Null);

    let webhooks = receiver.wait_for(3);
    let seen = per_payment(webhooks.iter().map(|webhook| {
        assert_cryptomus_signed(webhook);
        let body = webhook.json();
        (str_of(&body, "uuid"), str_of(&body, "status"))
    }));
    let expected = per_payment([
        (unpaid, "cancel".to_string()),
        (underpaid.clone(), "wrong_amount_waiting".into()),
        (underpaid, "wrong_amount".into()),
    ]);
    assert_eq!(seen, expected);
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// Apollo

#[test]
fn apollo_order_moves_through_its_statuses_and_sends_signed_webhooks() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));
    let create = |order: &str, webhooks: bool| {
        let mut body =
            json!({"currency": "USDT", "network": "tron", "amount": "100", "order": order});
        if webhooks {
            body["successWebhook"] = json!(receiver.url("/apollo/success"));
            body["errorWebhook"] = json!(receiver.url("/apollo/error"));
        }
        str_of(&harness.apollo("make-order", body), "orderId")
    };
    let paid = create("Order #1", true);

    let partial = harness.pay_ok(&paid, Some("40"));
    assert_eq!(partial["provider"], "apollo");
    assert_eq!(status_received(&partial), ("pending".into(), "40".into()));
    let order = harness.apollo("order", json!({"orderId": paid}));
    assert_eq!(order["id"], paid.as_str());
    assert_eq!(order["orderId"], "Order #1");
    assert_eq!(
        (&order["status"], &order["received"]),
        (&json!("pending"), &json!("40"))
    );
    assert_eq!(order["amount"], "100");
    let transactions = order["transactions"].as_array().expect("transactions");
    assert_eq!(transactions.len(), 1);
    assert_eq!(transactions[0]["amount"], "40");
    assert_eq!(transactions[0]["currency"], "USDT");
    assert!(transactions[0]["tx"].is_string() && transactions[0]["sender"].is_string());

    assert_eq!(
        status_received(&harness.pay_ok(&paid, None)),
        ("processed".into(), "100".into())
    );
    assert_eq!(
        status_received(&harness.pay_ok(&paid, Some("0.5"))),
        ("overpaid".into(), "100.5".into())
    );
    let order = harness.apollo("order", json!({"orderId": paid}));
    assert_eq!(
        (&order["status"], &order["received"]),
        (&json!("overpaid"), &json!("100.5"))
    );
    let amounts: Vec<&Value> = order["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|transaction| &transaction["amount"])
        .collect();
    assert_eq!(amounts, [&json!("40"), &json!("60"), &json!("0.5")]);

    let partly = create("Order #2", true);
    harness.pay_ok(&partly, Some("10"));
    assert_eq!(
        status_received(&harness.expire_ok(&partly)),
        ("partial".into(), "10".into())
    );
    let unpaid = create("Order #3", false);
    assert_eq!(
        status_received(&harness.expire_ok(&unpaid)),
        ("expired".into(), "0".into())
    );

    let webhooks = receiver.wait_for(5);
    let seen = per_payment(webhooks.iter().map(|webhook| {
        assert_eq!(
            webhook.header("x-api-public-key"),
            Some(demo::APOLLO_PUBLIC_KEY)
        );
        assert_eq!(
            webhook.header("x-api-signature"),
            Some(hmac_hex(demo::APOLLO_PRIVATE_KEY, &webhook.body).as_str()),
            "{}",
            webhook.text()
        );
        let body = webhook.json();
        assert_eq!(body["amount"], "100");
        assert_eq!(body["currency"], "USDT");
        assert_eq!(body["network"], "tron");
        assert!(body["transactions"].is_array() && body["address"].is_string());
        (
            str_of(&body, "order"),
            (
                webhook.path.clone(),
                str_of(&body, "status"),
                str_of(&body, "received"),
                str_of(&body, "id"),
            ),
        )
    }));
    let row = |order: &str, path: &str, status: &str, received: &str, id: &str| {
        (
            order.to_string(),
            (
                path.to_string(),
                status.to_string(),
                received.to_string(),
                id.to_string(),
            ),
        )
    };
    assert_eq!(
        seen,
        [
            row("Order #1", "/apollo/success", "pending", "40", &paid),
            row("Order #1", "/apollo/success", "processed", "100", &paid),
            row("Order #1", "/apollo/success", "overpaid", "100.5", &paid),
            row("Order #2", "/apollo/success", "pending", "10", &partly),
            row("Order #2", "/apollo/error", "partial", "10", &partly),
        ]
    );

    // orders: filtered by status, paged, total counting every match.
    let listed = harness.apollo("orders", json!({"status": ["partial", "expired"]}));
    let ids: Vec<&Value> = listed["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|order| &order["id"])
        .collect();
    assert_eq!(ids, [&json!(unpaid), &json!(partly)]);
    assert_eq!(listed["total"], 2);
    let page = harness.apollo("orders", json!({"limit": 1, "offset": 2}));
    assert_eq!(page["total"], 3);
    assert_eq!(page["orders"][0]["id"], paid.as_str());
    assert_eq!(page["orders"][0]["received"], "100.5");
    assert_eq!(page["orders"].as_array().map(Vec::len), Some(1));
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// AlpPay

fn alppay_body(invoice: &str) -> Value {
    json!({
        "amount": "1000.00",
        "asset": {"short": "USDT", "network": "tron"},
        "customer": {"id": 7, "name": "Ann", "email": "ann@example.com"},
        "invoice": invoice,
    })
}

#[test]
fn alppay_payment_moves_through_its_statuses_and_sends_signed_webhooks() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));
    let id = str_of(&harness.alppay_create(&alppay_body("INV-L1")), "id");

    let partial = harness.pay_ok(&id, Some("250"));
    assert_eq!(partial["provider"], "alppay");
    assert_eq!(status_received(&partial), ("OPEN".into(), "250.00".into()));
    assert_eq!(partial["display_status"], "UNDERPAID");
    let got = harness.alppay_get(&format!("payment/{id}"))["data"].clone();
    assert_eq!(
        (
            &got["status"],
            &got["displayStatus"],
            &got["totalReceivedAmount"]
        ),
        (&json!("OPEN"), &json!("UNDERPAID"), &json!("250.00"))
    );
    let transaction = &got["transactions"][0];
    assert_eq!(transaction["paymentId"], id.as_str());
    assert_eq!(transaction["receivedAmount"], "250.00");
    assert_eq!(transaction["addressTo"], got["addressTo"]);
    for member in [
        "txnId",
        "addressFrom",
        "date",
        "createdAt",
        "fixedFee",
        "percentFee",
    ] {
        assert!(transaction[member].is_string(), "{member} in {transaction}");
    }
    assert_eq!(transaction["isDanger"], false);

    let full = harness.pay_ok(&id, None);
    assert_eq!(
        status_received(&full),
        ("COMPLETED".into(), "1000.00".into())
    );
    assert_eq!(full["display_status"], "COMPLETED");
    let over = harness.pay_ok(&id, Some("0.5"));
    assert_eq!(
        status_received(&over),
        ("COMPLETED".into(), "1000.50".into())
    );
    assert_eq!(over["display_status"], "OVERPAID");

    // The list by invoice and by id.
    let listed = harness.alppay_get("payment?invoices=INV-L1");
    let results = listed["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!(
        (
            &results[0]["id"],
            &results[0]["status"],
            &results[0]["displayStatus"]
        ),
        (&json!(id), &json!("COMPLETED"), &json!("OVERPAID"))
    );
    assert_eq!(results[0]["totalReceivedAmount"], "1000.50");
    assert_eq!(results[0]["transactions"].as_array().map(Vec::len), Some(3));

    let underpaid = str_of(&harness.alppay_create(&alppay_body("INV-L2")), "id");
    harness.pay_ok(&underpaid, Some("999.99"));
    let expired = harness.expire_ok(&underpaid);
    assert_eq!(
        status_received(&expired),
        ("EXPIRED".into(), "999.99".into())
    );
    assert_eq!(expired["display_status"], "UNDERPAID");
    let unpaid = str_of(&harness.alppay_create(&alppay_body("INV-L3")), "id");
    let expired = harness.expire_ok(&unpaid);
    assert_eq!(status_received(&expired), ("EXPIRED".into(), "0.00".into()));
    assert_eq!(expired["display_status"], "EXPIRED");

    let listed = harness.alppay_get(&format!(
        "payment?ids={unpaid},{underpaid}&statuses=EXPIRED"
    ));
    let shown: Vec<(String, String)> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|payment| (str_of(payment, "invoice"), str_of(payment, "displayStatus")))
        .collect();
    assert_eq!(
        shown,
        [
            ("INV-L3".to_string(), "EXPIRED".to_string()),
            ("INV-L2".into(), "UNDERPAID".into())
        ]
    );
    let listed = harness.alppay_get("payment?statuses=OVERPAID&limit=5&page=1");
    assert_eq!(listed["results"].as_array().map(Vec::len), Some(1));

    let webhooks = receiver.wait_for(6);
    let seen = per_payment(webhooks.iter().map(|webhook| {
        assert_eq!(webhook.path, "/alppay");
        assert_eq!(
            webhook.header("X-HMAC"),
            Some(hmac_hex(demo::ALPPAY_HMAC_SECRET, &webhook.body).as_str()),
            "{}",
            webhook.text()
        );
        let body = webhook.json();
        // The create shape: no get-only members on the transactions.
        for transaction in body["transactions"].as_array().expect("transactions") {
            assert!(transaction.get("fixedFee").is_none(), "{transaction}");
            assert!(transaction["txnId"].is_string());
        }
        (
            str_of(&body, "invoice"),
            (
                str_of(&body, "status"),
                str_of(&body, "displayStatus"),
                str_of(&body, "totalReceivedAmount"),
            ),
        )
    }));
    let row = |invoice: &str, status: &str, display: &str, received: &str| {
        (
            invoice.to_string(),
            (
                status.to_string(),
                display.to_string(),
                received.to_string(),
            ),
        )
    };
    assert_eq!(
        seen,
        [
            row("INV-L1", "OPEN", "UNDERPAID", "250.00"),
            row("INV-L1", "COMPLETED", "COMPLETED", "1000.00"),
            row("INV-L1", "COMPLETED", "OVERPAID", "1000.50"),
            row("INV-L2", "OPEN", "UNDERPAID", "999.99"),
            row("INV-L2", "EXPIRED", "UNDERPAID", "999.99"),
            row("INV-L3", "EXPIRED", "EXPIRED", "0.00"),
        ]
    );
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// Delivery: retries and the journal

#[test]
fn a_webhook_answered_500_twice_is_retried_until_200() {
    let receiver = Receiver::start(vec![500, 500], DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));
    let order = harness.apollo(
        "make-order",
        json!({"currency": "USDT", "network": "tron", "amount": "5", "order": "retry-1",
               "successWebhook": receiver.url("/ok")}),
    );
    let id = str_of(&order, "orderId");
    harness.pay_ok(&id, None);

    let attempts = harness.attempts_until(&id, |attempts| {
        attempts.iter().any(DeliveryAttempt::delivered)
    });
    let statuses: Vec<(u32, Option<u16>)> = attempts
        .iter()
        .map(|attempt| (attempt.attempt, attempt.status))
        .collect();
    assert_eq!(statuses, [(1, Some(500)), (2, Some(500)), (3, Some(200))]);
    let delivered = receiver.wait_for(3);
    assert_eq!(receiver.received().len(), 3);
    for (attempt, received) in attempts.iter().zip(&delivered) {
        assert_eq!(attempt.provider, Provider::Apollo);
        assert_eq!(attempt.url, receiver.url("/ok"));
        assert_eq!(attempt.body, delivered[0].body, "the same body every time");
        assert_eq!(received.body, attempt.body);
        assert_eq!(
            attempt.header("x-api-signature"),
            received.header("x-api-signature")
        );
    }
    harness.stop();
}

#[test]
fn a_webhook_that_keeps_failing_is_given_up_after_the_schedule() {
    // Always 500 (the script is longer than anything sent).
    let receiver = Receiver::start(vec![500; 20], DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));
    let body = json!({"amount": "3", "currency": "USDT", "network": "tron", "order_id": "give-up",
                      "url_callback": receiver.url("/fail")});
    let uuid = str_of(&harness.cryptomus("payment", &body), "uuid");
    harness.pay_ok(&uuid, Some("1"));
    // A payment's webhooks go out one after the other, so once the second change's first
    // attempt shows, the first change's webhook is finished with.
    harness.pay_ok(&uuid, Some("1"));
    let attempts = harness.attempts_until(&uuid, |attempts| attempts.len() >= 5);
    let first: Vec<(u32, Option<u16>)> = attempts
        .iter()
        .filter(|attempt| attempt.body == attempts[0].body)
        .map(|attempt| (attempt.attempt, attempt.status))
        .collect();
    assert_eq!(
        first,
        [
            (1, Some(500)),
            (2, Some(500)),
            (3, Some(500)),
            (4, Some(500))
        ],
        "the first try and three retries, then given up"
    );
    assert_eq!(
        attempts[4].attempt, 1,
        "then the next webhook: {attempts:#?}"
    );
    harness.stop();
}

#[test]
fn an_unreachable_receiver_is_recorded_as_failed_attempts() {
    // A port that was free a moment ago and is closed now: the connection is refused.
    let closed = {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        listener.local_addr().expect("address")
    };
    let settings = SandboxSettings {
        webhook_retry: vec![Duration::from_millis(10)],
        ..SandboxSettings::default()
    };
    let harness = Harness::start(settings);
    let body = json!({"amount": "3", "currency": "USDT", "network": "tron", "order_id": "nobody",
                      "url_callback": format!("http://{closed}/cb")});
    let uuid = str_of(&harness.cryptomus("payment", &body), "uuid");
    harness.pay_ok(&uuid, None);
    let attempts = harness.attempts_until(&uuid, |attempts| attempts.len() >= 2);
    for attempt in &attempts {
        assert_eq!(attempt.status, None);
        assert!(attempt.error.is_some(), "{attempt:?}");
        assert!(!attempt.delivered());
    }
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn control_endpoints_refuse_what_cannot_apply() {
    let receiver = Receiver::start(Vec::new(), DEADLINE);
    let harness = Harness::start(settings_with_receiver(&receiver));

    let unknown = harness.pay("00000000-0000-4000-8000-000000000000", Some("1"));
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].is_string(), "{}", unknown.text());
    assert_eq!(harness.expire("nope").status, 404);

    let id = str_of(&harness.alppay_create(&alppay_body("INV-R1")), "id");
    for body in [
        &b"{"[..],
        b"[]",
        br#"{"amount":"1"}"#,
        br#"{"id":""}"#,
        br#"{"id":7}"#,
    ] {
        let answer = http::post(harness.addr, "/_sandbox/pay", &[], body);
        assert_eq!(answer.status, 400, "{body:?}: {}", answer.text());
        assert!(answer.json()["error"].is_string());
    }
    for amount in ["abc", "-1", "0", "1e3", "1,5", ""] {
        let answer = harness.pay(&id, Some(amount));
        assert_eq!(answer.status, 400, "{amount:?}: {}", answer.text());
    }
    let as_number = http::post(
        harness.addr,
        "/_sandbox/pay",
        &[],
        &to_bytes(&json!({"id": id, "amount": 1.5})),
    );
    assert_eq!(as_number.status, 200, "{}", as_number.text());
    let answer = http::get(harness.addr, "/_sandbox/pay", &[]);
    assert_eq!(answer.status, 405);
    let answer = http::post(
        harness.addr,
        "/_sandbox/refund",
        &[],
        &to_bytes(&json!({"id": id})),
    );
    assert_eq!(answer.status, 404);

    // Expiring twice changes nothing the second time and sends no second webhook.
    assert_eq!(harness.expire_ok(&id)["status"], "EXPIRED");
    let again = harness.expire_ok(&id);
    assert_eq!(
        (&again["status"], &again["webhook"]),
        (&json!("EXPIRED"), &Value::Null)
    );
    let paying_expired = harness.pay(&id, Some("1"));
    assert_eq!(paying_expired.status, 409, "{}", paying_expired.text());

    let paid = str_of(&harness.alppay_create(&alppay_body("INV-R2")), "id");
    harness.pay_ok(&paid, None);
    assert_eq!(harness.expire(&paid).status, 409);
    assert_eq!(harness.pay(&paid, None).status, 409, "nothing is due");

    let webhooks = receiver.wait_for(3);
    let seen = per_payment(webhooks.iter().map(|webhook| {
        let body = webhook.json();
        (str_of(&body, "invoice"), str_of(&body, "displayStatus"))
    }));
    let expected = [
        ("INV-R1".to_string(), "UNDERPAID".to_string()),
        ("INV-R1".into(), "UNDERPAID".into()),
        ("INV-R2".into(), "COMPLETED".into()),
    ];
    assert_eq!(seen, expected);
    harness.stop();
}

// ---------------------------------------------------------------------------------------------
// The CLI

#[test]
fn payglot_sandbox_pay_and_expire_call_the_control_endpoints() {
    let harness = Harness::start(SandboxSettings::default());
    let order = harness.apollo(
        "make-order",
        json!({"currency": "USDT", "network": "tron", "amount": "12.5", "order": "cli-1"}),
    );
    let id = str_of(&order, "orderId");
    let base = format!("http://{}", harness.addr);
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_payglot"))
            .args(args)
            .output()
            .expect("run payglot");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), stdout)
    };
    let (ok, stdout) = run(&[
        "sandbox",
        "pay",
        "--sandbox",
        &base,
        "--id",
        &id,
        "--amount",
        "2.5",
    ]);
    assert!(ok, "{stdout}");
    let answer: Value = serde_json::from_str(stdout.trim()).expect("JSON answer");
    assert_eq!(status_received(&answer), ("pending".into(), "2.5".into()));
    let (ok, stdout) = run(&["sandbox", "expire", "--sandbox", &base, "--id", &id]);
    assert!(ok, "{stdout}");
    let answer: Value = serde_json::from_str(stdout.trim()).expect("JSON answer");
    assert_eq!(status_received(&answer), ("partial".into(), "2.5".into()));
    let looked_up = harness.apollo("order", json!({"orderId": id}));
    assert_eq!(looked_up["status"], "partial");

    let (ok, stdout) = run(&["sandbox", "pay", "--sandbox", &base, "--id", "no-such-id"]);
    assert!(!ok, "an unknown id fails: {stdout}");
    assert!(stdout.contains("error"), "{stdout}");
    harness.stop();
}
