//! The `payglot` binary as users run it: `run` on the bundled config (the README's way, with
//! the sandbox beside it), `sign`, `translate`, `check` and `explain`.

mod common;

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::binary::{BIN, RunningBinary, run_bundled, temp_dir};
use common::http;
use common::sign;

fn payglot(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("PAYGLOT_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start payglot");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("payglot finishes")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn run_on_the_bundled_config_serves_a_signed_request_reloads_and_stops_on_sigterm() {
    let dir = temp_dir("cli-run");
    let RunningBinary {
        mut child,
        config,
        ports,
    } = run_bundled(&dir, || (Stdio::null(), Stdio::null()));
    let (proxy, metrics) = (ports.proxy, ports.metrics);
    let ready_deadline = Instant::now() + Duration::from_secs(10);
    while http::get(metrics, "/readyz", &[]).status != 200 {
        assert!(Instant::now() < ready_deadline, "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }

    // As the README shows: sign the body with `payglot sign`, then POST it (curl-style).
    let body = br#"{"amount":"25.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":7,"name":"Ann","email":"ann@example.com"},"invoice":"README-1"}"#;
    let signed = payglot(&["sign", "--dialect", "alppay"], Some(body));
    assert!(signed.status.success());
    let header_lines = String::from_utf8(signed.stdout).expect("utf-8");
    let headers: Vec<(String, String)> = header_lines
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // The helper's signature is the one an independent HMAC gives.
    assert!(
        headers.contains(&("X-HMAC".to_owned(), sign::hmac_hex(sign::ALPPAY.1, body))),
        "{header_lines}"
    );
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let answer = http::post(proxy, "/v2/payment", &refs, body);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["invoice"], "README-1");
    assert_eq!(json["status"], "OPEN");
    // The bundled ring sends AlpPay merchants to the Cryptomus sandbox, whose hosted page it is.
    assert!(
        json["paymentRedirectUrl"]
            .as_str()
            .is_some_and(|u| u.contains("cryptomus")),
        "{json}"
    );

    // SIGHUP reloads (here a file whose route ring changed) without dropping the listener.
    let text = std::fs::read_to_string(&config).expect("config");
    let changed = text.replacen("to: cryptomus-sandbox", "to: apollo-sandbox", 1);
    assert_ne!(
        text, changed,
        "the bundled config routes AlpPay merchants to cryptomus-sandbox"
    );
    std::fs::write(&config, changed).expect("rewrite");
    signal(&child.0, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 2.. {
        // A new invoice each time: a repeated one is answered from the index, wherever the
        // routes now point.
        let body = format!(
            r#"{{"amount":"25.00","asset":{{"short":"USDT","network":"tron"}},"customer":{{"id":7,"name":"Ann","email":"ann@example.com"}},"invoice":"README-{attempt}"}}"#
        );
        let signature = sign::hmac_hex(sign::ALPPAY.1, body.as_bytes());
        let again = http::post(
            proxy,
            "/v2/payment",
            &[("API-KEY", sign::ALPPAY.0), ("X-HMAC", signature.as_str())],
            body.as_bytes(),
        );
        assert_eq!(again.status, 200, "{}", again.text());
        if again.json()["paymentRedirectUrl"]
            .as_str()
            .is_some_and(|u| u.contains("apollo"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the reload never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }

    signal(&child.0, "TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            assert!(status.success() || status.code().is_none(), "{status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGTERM did not stop payglot within its grace period"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn translate_prints_the_exact_signed_upstream_request() {
    let body = br#"{"currency":"USDT","network":"tron","amount":"123.12","order":"Order #123456","lifetime":1800,"returnUrl":"https://merchant.domain/","nonce":1}"#;
    let out = payglot(
        &[
            "translate",
            "--from",
            "apollo",
            "--to",
            "cryptomus",
            "--json",
        ],
        Some(body),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(printed["method"], "POST");
    assert_eq!(printed["path"], "/payment");
    let sent = printed["body"].as_str().expect("body");
    // Signed over exactly the printed bytes, with the demo payment key.
    assert_eq!(
        printed["headers"]["sign"],
        sign::cryptomus_sign(sign::CRYPTOMUS.1, sent.as_bytes())
    );
    assert_eq!(printed["headers"]["merchant"], sign::CRYPTOMUS.0);
    let parsed: serde_json::Value = serde_json::from_str(sent).expect("body is JSON");
    assert_eq!(parsed["amount"], "123.12");
    assert!(
        parsed["order_id"]
            .as_str()
            .is_some_and(|o| o.starts_with("Order-123456-")),
        "{parsed}"
    );
    assert!(
        sent.contains(r"https:\/\/merchant.domain\/"),
        "PHP-style escaping: {sent}"
    );

    let refused = payglot(
        &["translate", "--from", "cryptomus", "--to", "alppay"],
        Some(br#"{"amount":"5","currency":"EUR","to_currency":"USDT","order_id":"x"}"#),
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("EUR"));
}

#[test]
fn check_lists_every_problem_and_explain_shows_the_route() {
    let ok = payglot(
        &[
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/payglot.yaml"),
        ],
        None,
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = temp_dir("cli-check");
    let bad = dir.join("bad.yaml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/payglot.yaml"))
        .expect("config");
    let text = text
        .replacen("to: cryptomus-sandbox", "to: cryptomus-sandbx", 1)
        .replacen("max_body_bytes: 65536", "max_body_bytes: 100000", 1);
    std::fs::write(&bad, text).expect("write");
    let out = payglot(&["check", "--config", bad.to_str().expect("utf-8")], None);
    assert!(!out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("cryptomus-sandbx"), "{errors}");
    assert!(errors.contains("server.max_body_bytes"), "{errors}");

    let body = dir.join("body.json");
    std::fs::write(
        &body,
        br#"{"amount":"9","currency":"USDT","order_id":"explain-1","network":"tron"}"#,
    )
    .expect("write");
    let out = payglot(
        &[
            "explain",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/payglot.yaml"),
            "--dialect",
            "cryptomus",
            body.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("demo-cryptomus"), "{text}");
    assert!(text.contains("apollo-sandbox"), "{text}");
    assert!(text.contains("/apollo/api-gateway/make-order"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
