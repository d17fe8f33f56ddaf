//! Operating the proxy over real sockets: live reload under traffic, refused reloads, metrics
//! and health endpoints, failover only when no whole request reached the upstream, circuit
//! breaking, weighted split.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::http::{self, Response};
use common::sign;
use common::sockets;
use common::stack::{self, Stack};
use payglot::sandbox::Provider;

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

fn next() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed) + std::process::id() as u64 * 1_000_000
}

fn cryptomus_body(n: u64) -> Vec<u8> {
    format!(r#"{{"amount":"12.5","currency":"USDT","order_id":"ops-{n}","network":"tron"}}"#)
        .into_bytes()
}

fn send_cryptomus(stack: &Stack, body: &[u8], extra: &[(&str, &str)]) -> Response {
    let signed = sign::headers("cryptomus", body);
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.extend_from_slice(extra);
    http::post(stack.proxy, "/v1/payment", &headers, body)
}

/// The value of a Prometheus series whose name and labels all appear in `wanted`.
fn metric(stack: &Stack, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = http::get(stack.metrics, "/metrics", &[]).text();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            let series = l.split(' ').next().unwrap_or("");
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Replaces `file` with `text` in one step (a new file renamed over it), so the watcher never
/// reads a half-written one.
fn write_whole(file: &std::path::Path, text: &str) {
    let staged = file.with_extension("staged");
    std::fs::write(&staged, text).expect("write the new config");
    std::fs::rename(&staged, file).expect("move the new config in place");
}

/// A config whose only route sends the Cryptomus merchant to `upstream`, named `route`.
fn single_route(route: &str, upstream: &str) -> String {
    let routes = format!(
        "  - name: {route}\n    match: {{ merchant: shop-cryptomus }}\n    to: {upstream}\n"
    );
    stack::base_config("", &routes)
}

#[test]
fn reload_under_traffic_keeps_every_request_whole() {
    let dir = std::env::temp_dir().join(format!("payglot-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("payglot.yaml");
    let generation_a = single_route("gen-a", "alppay-sandbox");
    let generation_b = single_route("gen-b", "apollo-sandbox");
    let (stack, ports) = stack::start_watching(&generation_a, &file);
    let stack = Arc::new(stack);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stack = stack.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                // Bounded in requests and time, and stopped as soon as the flips are done.
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::Relaxed)
                    && answers.len() < 20_000
                    && Instant::now() < deadline
                {
                    let answer = send_cryptomus(&stack, &cryptomus_body(next()), &[]);
                    answers.push(answer);
                }
                answers
            })
        })
        .collect();
    // Flip the file between the two generations while the clients run. Each flip is waited
    // for, not timed: first the live config's generation changes (the reload happened), then a
    // request is served on the new generation's route.
    for flip in 0..4 {
        let (route, text) = if flip % 2 == 0 {
            ("gen-b", &generation_b)
        } else {
            ("gen-a", &generation_a)
        };
        let generation = stack.config.load().generation_hash.clone();
        let served = metric(&stack, "payglot_requests_total", &[("route", route)]);
        write_whole(&file, &ports.fill(text));
        let deadline = Instant::now() + Duration::from_secs(30);
        while stack.config.load().generation_hash == generation {
            assert!(
                Instant::now() < deadline,
                "flip {flip}: the file change was never applied"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        while metric(&stack, "payglot_requests_total", &[("route", route)]) <= served {
            assert!(
                Instant::now() < deadline,
                "flip {flip}: no request served on {route}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<Response> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();

    assert!(
        answers.len() >= 20,
        "too little traffic to show anything: {}",
        answers.len()
    );
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["state"], 0);
    }
    // Each request was served whole by one generation: route gen-a always reached AlpPay and
    // gen-b always Apollo; never a route of one generation with the upstream of the other.
    let a_alppay = metric(
        &stack,
        "payglot_requests_total",
        &[("route", "gen-a"), ("upstream", "alppay-sandbox")],
    );
    let b_apollo = metric(
        &stack,
        "payglot_requests_total",
        &[("route", "gen-b"), ("upstream", "apollo-sandbox")],
    );
    let mixed = metric(
        &stack,
        "payglot_requests_total",
        &[("route", "gen-a"), ("upstream", "apollo-sandbox")],
    ) + metric(
        &stack,
        "payglot_requests_total",
        &[("route", "gen-b"), ("upstream", "alppay-sandbox")],
    );
    assert_eq!(mixed, 0.0);
    assert!(
        a_alppay > 0.0 && b_apollo > 0.0,
        "both generations served: a={a_alppay} b={b_apollo}"
    );
    let providers: BTreeSet<&str> = stack
        .sandbox
        .journal()
        .iter()
        .map(|o| match o.provider {
            Provider::AlpPay => "alppay",
            Provider::Cryptomus => "cryptomus",
            Provider::Apollo => "apollo",
        })
        .collect();
    assert_eq!(providers, BTreeSet::from(["alppay", "apollo"]));
    assert!(
        metric(
            &stack,
            "payglot_config_reloads_total",
            &[("result", "applied")]
        ) >= 2.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_is_refused_and_the_running_one_stays() {
    let dir = std::env::temp_dir().join(format!("payglot-badreload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("payglot.yaml");
    let good = single_route("only", "apollo-sandbox");
    let (stack, ports) = stack::start_watching(&good, &file);
    let before = metric(
        &stack,
        "payglot_config_reloads_total",
        &[("result", "refused")],
    );
    let broken = ports
        .fill(&good)
        .replace("to: apollo-sandbox", "to: apolo-sandbox");
    std::fs::write(&file, broken).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(
        &stack,
        "payglot_config_reloads_total",
        &[("result", "refused")],
    ) <= before
    {
        assert!(
            Instant::now() < deadline,
            "the broken file was never looked at"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let answer = send_cryptomus(&stack, &cryptomus_body(next()), &[]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        stack.sandbox.journal().last().map(|o| o.provider),
        Some(Provider::Apollo)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn health_readiness_and_metrics_are_served() {
    let stack = stack::start(&stack::base_config("", ""));
    assert_eq!(http::get(stack.metrics, "/healthz", &[]).status, 200);
    let ready = http::get(stack.metrics, "/readyz", &[]);
    assert_eq!(ready.status, 200, "{}", ready.text());
    let hash = stack.config.load().generation_hash.clone();
    assert!(ready.text().contains(&hash));

    // Traffic of each kind, then every metric payglot documents is exported.
    let ok = send_cryptomus(
        &stack,
        &cryptomus_body(next()),
        &[("X-Test-Target", "apollo")],
    );
    assert_eq!(ok.status, 200);
    let mut bad = sign::headers("cryptomus", b"{}");
    bad[1].1 = "0".repeat(32);
    let refs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        http::post(stack.proxy, "/v1/payment", &refs, b"{}").status,
        401
    );
    let text = http::get(stack.metrics, "/metrics", &[]).text();
    for name in [
        "payglot_requests_total",
        "payglot_signature_failures_total",
        "payglot_upstream_latency_seconds",
        "payglot_proxy_latency_seconds",
        "payglot_config_generation",
        "payglot_config_info",
        "payglot_in_flight_requests",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(
        metric(
            &stack,
            "payglot_requests_total",
            &[
                ("merchant", "shop-cryptomus"),
                ("upstream", "apollo-sandbox"),
                ("outcome", "ok")
            ]
        ) >= 1.0
    );
    assert!(
        metric(
            &stack,
            "payglot_signature_failures_total",
            &[("dialect", "cryptomus")]
        ) >= 1.0
    );
}

/// Every metric the Grafana dashboard queries is one payglot exports.
#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../dashboards/payglot.json"))
            .expect("dashboard is JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("payglot_") {
                    let base = word
                        .trim_end_matches("_bucket")
                        .trim_end_matches("_sum")
                        .trim_end_matches("_count");
                    queried.insert(base.to_owned());
                }
            }
        }
    }
    assert!(
        queried.len() >= 8,
        "the dashboard shows too little: {queried:?}"
    );
    for name in &queried {
        assert!(
            payglot::metrics::METRIC_NAMES.contains(&name.as_str()),
            "dashboard queries unknown metric {name}"
        );
    }
    // And they all really appear on /metrics once the proxy has met each kind of event: a
    // translation with notes, a refusal, and a failover from an unreachable upstream.
    // Held (bound, never listening) until the test ends, so no other test can listen there.
    let (_held, closed) = sockets::refusing_addr();
    let upstreams = format!(
        "  - id: dash-closed\n    dialect: alppay\n    base_url: \"http://{closed}/v2\"\n    credentials: {{ key_id: k, secret: s }}\n"
    );
    let routes = "  - name: dash-failover\n    match: { header: { name: X-Test-Target, value: dash } }\n    to: dash-closed\n    failover: [alppay-sandbox]\n";
    let stack = stack::start(&stack::base_config(&upstreams, routes));
    let n = next();
    let with_callback = format!(
        r#"{{"amount":"3","currency":"USDT","order_id":"dash-{n}","network":"tron","url_callback":"https://shop.example/cb"}}"#
    );
    let answer = send_cryptomus(
        &stack,
        with_callback.as_bytes(),
        &[("X-Test-Target", "dash")],
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let fiat =
        format!(r#"{{"amount":"3","currency":"EUR","to_currency":"USDT","order_id":"dash-f{n}"}}"#);
    let answer = send_cryptomus(&stack, fiat.as_bytes(), &[("X-Test-Target", "apollo")]);
    assert_eq!(answer.status, 422, "{}", answer.text());
    let refusals = [
        ("from", "cryptomus"),
        ("to", "apollo"),
        ("reason", "fiat_pricing"),
    ];
    assert!(metric(&stack, "payglot_translation_refusals_total", &refusals) >= 1.0);
    let notes = [("action", "dropped"), ("field", "callback")];
    assert!(metric(&stack, "payglot_translation_notes_total", &notes) >= 1.0);
    let text = http::get(stack.metrics, "/metrics", &[]).text();
    let exported: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for name in payglot::metrics::METRIC_NAMES {
        assert!(exported.contains(name), "{name} is not exported");
    }
    // Each documented metric's labels are the ones its series carry.
    let shown = exported_labels(&text);
    for (name, labels) in documented_metrics() {
        let seen = shown
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no series on /metrics"));
        assert_eq!(
            seen, &labels,
            "docs/metrics.md gives {name} other labels than /metrics shows"
        );
    }
}

/// The table in `docs/metrics.md`: each metric's name and label names.
fn documented_metrics() -> BTreeMap<String, BTreeSet<String>> {
    let doc = include_str!("../docs/metrics.md");
    let mut metrics = BTreeMap::new();
    for row in doc.lines().filter(|l| l.starts_with("| `payglot_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let labels: BTreeSet<String> = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`'))
            .filter(|l| !l.is_empty() && *l != "—")
            .map(str::to_owned)
            .collect();
        assert!(
            metrics.insert(name.clone(), labels).is_none(),
            "{name} is documented twice"
        );
    }
    metrics
}

/// The label names of each metric's series in a `/metrics` text (a histogram's `le` aside).
fn exported_labels(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("payglot_")) {
        let series = line.split(' ').next().unwrap_or_default();
        let (name, names) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                rest.trim_end_matches('}')
                    .split("\",")
                    .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_owned()))
                    .filter(|k| k != "le")
                    .collect(),
            ),
            None => (series, BTreeSet::new()),
        };
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
            .unwrap_or(name);
        labels.entry(base.to_owned()).or_insert(names);
    }
    labels
}

/// Issue 10's metrics move with what happens: a lookup served from Apollo counts under the
/// caller's dialect, the upstream and `ok`; one of an unknown id under `not_found`; the index
/// operations behind them are counted and timed, and so is the checkpoint after the create. Counters are shared by every stack in this
/// process, so each is read before and after.
#[test]
fn lookups_and_index_operations_are_counted() {
    let stack = stack::start(&stack::base_config("", ""));
    let idle = [("reason", "idle")];
    let checkpoints_before = metric(&stack, "payglot_store_checkpoint_seconds_count", &idle);
    let n = next();
    let answer = send_cryptomus(&stack, &cryptomus_body(n), &[("X-Test-Target", "apollo")]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let uuid = answer.json()["result"]["uuid"]
        .as_str()
        .expect("a uuid")
        .to_owned();
    let info = |body: String| {
        let body = body.into_bytes();
        let signed = sign::headers("cryptomus", &body);
        let headers: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http::post(stack.proxy, "/v1/payment/info", &headers, &body).status
    };
    let found = [
        ("dialect", "cryptomus"),
        ("upstream", "apollo-sandbox"),
        ("outcome", "ok"),
    ];
    let missing = [("dialect", "cryptomus"), ("outcome", "not_found")];
    let by_id = [("op", "get_by_provider_id"), ("backend", "embedded")];
    let before = (
        metric(&stack, "payglot_lookups_total", &found),
        metric(&stack, "payglot_lookups_total", &missing),
        metric(&stack, "payglot_store_operations_total", &by_id),
        metric(&stack, "payglot_store_operation_seconds_count", &by_id),
    );
    assert_eq!(info(format!(r#"{{"uuid":"{uuid}"}}"#)), 200);
    assert_eq!(
        info(r#"{"uuid":"00000000-0000-4000-8000-00000000dead"}"#.to_owned()),
        404
    );
    let after = (
        metric(&stack, "payglot_lookups_total", &found),
        metric(&stack, "payglot_lookups_total", &missing),
        metric(&stack, "payglot_store_operations_total", &by_id),
        metric(&stack, "payglot_store_operation_seconds_count", &by_id),
    );
    assert!(
        after.0 > before.0,
        "found lookup not counted: {before:?} {after:?}"
    );
    assert!(
        after.1 > before.1,
        "missing lookup not counted: {before:?} {after:?}"
    );
    assert!(
        after.2 >= before.2 + 2.0,
        "index reads not counted: {before:?} {after:?}"
    );
    assert!(
        after.3 >= before.3 + 2.0,
        "index reads not timed: {before:?} {after:?}"
    );
    // The create above went to the journal; the writer, idle since, makes it durable in the
    // index file with a checkpoint, which is timed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&stack, "payglot_store_checkpoint_seconds_count", &idle) <= checkpoints_before {
        assert!(
            Instant::now() < deadline,
            "no idle checkpoint was timed after a create"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every metric payglot exports is in the table of `docs/metrics.md`, and the table names no
/// other.
#[test]
fn every_metric_is_documented() {
    let documented: BTreeSet<String> = documented_metrics().into_keys().collect();
    let exported: BTreeSet<String> = payglot::metrics::METRIC_NAMES
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    assert_eq!(
        exported.len(),
        payglot::metrics::METRIC_NAMES.len(),
        "METRIC_NAMES lists a metric twice"
    );
    assert_eq!(
        documented, exported,
        "docs/metrics.md and METRIC_NAMES differ"
    );
}

#[test]
fn failover_happens_only_when_nothing_was_sent() {
    // Held (bound, never listening) until the test ends, so no other test can listen there.
    let (_held, closed) = sockets::refusing_addr();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let upstreams = format!(
        r#"  - id: closed
    dialect: apollo
    base_url: "http://{closed}/api-gateway"
    credentials: {{ key_id: k, secret: s }}
    connect_timeout_ms: 500
    circuit_breaker: {{ failures: 2, cooldown_ms: 60000 }}
  - id: silent
    dialect: apollo
    base_url: "http://{silent_addr}/api-gateway"
    credentials: {{ key_id: k, secret: s }}
    read_timeout_ms: 300
"#
    );
    let routes = r#"  - name: try-closed
    match: { header: { name: X-Test-Target, value: closed-first } }
    to: closed
    failover: [apollo-sandbox]
  - name: try-silent
    match: { header: { name: X-Test-Target, value: silent-first } }
    to: silent
    failover: [apollo-sandbox]
"#;
    let stack = stack::start(&stack::base_config(&upstreams, routes));

    // Connect refused: nothing was sent, so the next upstream serves the payment.
    for _ in 0..3 {
        let answer = send_cryptomus(
            &stack,
            &cryptomus_body(next()),
            &[("X-Test-Target", "closed-first")],
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(
            stack.sandbox.journal().last().map(|o| o.provider),
            Some(Provider::Apollo)
        );
    }
    assert!(
        metric(
            &stack,
            "payglot_failovers_total",
            &[("route", "try-closed"), ("from_upstream", "closed")]
        ) >= 2.0
    );
    // Two failures opened the circuit: the closed upstream is now skipped, not retried.
    assert_eq!(
        metric(
            &stack,
            "payglot_circuit_breaker_open",
            &[("upstream", "closed")]
        ),
        1.0
    );

    // The request reached an upstream that then went silent: never sent elsewhere.
    let before = stack.sandbox.journal().len();
    let answer = send_cryptomus(
        &stack,
        &cryptomus_body(next()),
        &[("X-Test-Target", "silent-first")],
    );
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert_eq!(answer.json()["state"], 1);
    assert_eq!(
        stack.sandbox.journal().len(),
        before,
        "a sent payment must not be retried elsewhere"
    );
    drop(silent);
}

/// A loopback listener whose connections take only a few dozen KiB before they stop: a small
/// receive buffer and a small segment size (which also keeps the sender's buffer small), and
/// nothing ever reads. A request of 60 KiB cannot be written to it whole (about 40 KiB goes in).
fn listener_that_takes_little() -> (std::net::TcpListener, std::net::SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    // Both before listening, so that accepted connections inherit them.
    socket.set_recv_buffer_size(1024).expect("SO_RCVBUF");
    socket.set_tcp_mss(536).expect("TCP_MAXSEG");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind a loopback port");
    socket.listen(8).expect("listen");
    let listener: std::net::TcpListener = socket.into();
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// The connection waiting on `listener`, or a panic after `limit`: a test never waits forever
/// for a connection that does not come.
fn accept_within(listener: &std::net::TcpListener, limit: Duration) -> std::net::TcpStream {
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((connection, _)) => return connection,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no connection within {limit:?}: {e}"),
        }
    }
}

/// A Cryptomus create of `size` bytes: a member Cryptomus does not know, which a same-dialect
/// route forwards as the merchant sent it, makes up the size; so the upstream request is as
/// large.
fn padded_cryptomus_body(n: u64, size: usize) -> Vec<u8> {
    let body = cryptomus_body(n);
    let mut padded = body[..body.len() - 1].to_vec();
    padded.extend_from_slice(br#","padding":""#);
    padded.resize(size - 2, b'x');
    padded.extend_from_slice(br#""}"#);
    padded
}

#[test]
fn a_request_the_upstream_could_not_take_whole_fails_over() {
    let (stalling, stalling_addr) = listener_that_takes_little();
    let (resetting, resetting_addr) = listener_that_takes_little();
    let upstreams = format!(
        r#"  - id: stalling
    dialect: cryptomus
    base_url: "http://{stalling_addr}/cryptomus/v1"
    credentials: {{ key_id: k, secret: s }}
    write_timeout_ms: 500
    read_timeout_ms: 500
  - id: resetting
    dialect: cryptomus
    base_url: "http://{resetting_addr}/cryptomus/v1"
    credentials: {{ key_id: k, secret: s }}
    read_timeout_ms: 500
"#
    );
    let routes = r#"  - name: try-stalling
    match: { header: { name: X-Test-Target, value: stalling-first } }
    to: stalling
    failover: [cryptomus-sandbox]
  - name: try-resetting
    match: { header: { name: X-Test-Target, value: resetting-first } }
    to: resetting
    failover: [cryptomus-sandbox]
"#;
    let stack = stack::start(&stack::base_config(&upstreams, routes));

    // The upstream took part of the request and then nothing more, until the write timeout:
    // it cannot have acted on a body cut short, so the next upstream serves the payment.
    let before = stack.sandbox.journal().len();
    let body = padded_cryptomus_body(next(), 60 * 1024);
    let answer = send_cryptomus(&stack, &body, &[("X-Test-Target", "stalling-first")]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(stack.sandbox.journal().len(), before + 1);
    // payglot did connect there first (the connection waits in the listener's queue).
    drop(accept_within(&stalling, Duration::ZERO));
    assert_eq!(
        metric(
            &stack,
            "payglot_failovers_total",
            &[("route", "try-stalling"), ("from_upstream", "stalling")]
        ),
        1.0
    );

    // The upstream reset the connection partway through the request: the same.
    let resetter = std::thread::spawn(move || {
        let connection = accept_within(&resetting, Duration::from_secs(5));
        // Let the first part of the request arrive, then reset rather than close.
        connection
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        let mut first = [0u8; 256];
        let _ = std::io::Read::read(&mut &connection, &mut first);
        let connection = socket2::Socket::from(connection);
        connection
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(connection);
    });
    let before = stack.sandbox.journal().len();
    let body = padded_cryptomus_body(next(), 60 * 1024);
    let answer = send_cryptomus(&stack, &body, &[("X-Test-Target", "resetting-first")]);
    resetter.join().expect("the resetting upstream");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(stack.sandbox.journal().len(), before + 1);
    assert_eq!(
        metric(
            &stack,
            "payglot_failovers_total",
            &[("route", "try-resetting"), ("from_upstream", "resetting")]
        ),
        1.0
    );
}

#[test]
fn weighted_split_is_sticky_by_order_reference() {
    let routes = r#"  - name: split
    match: { merchant: shop-cryptomus, header: { name: X-Test-Target, value: split } }
    split:
      - { upstream: alppay-sandbox, weight: 50 }
      - { upstream: apollo-sandbox, weight: 50 }
"#;
    let stack = stack::start(&stack::base_config("", routes));
    let mut first_choice = BTreeMap::new();
    for round in 0..2 {
        for i in 0..40 {
            let body = format!(
                r#"{{"amount":"2","currency":"USDT","order_id":"split-{i}","network":"tron"}}"#
            );
            let answer = send_cryptomus(&stack, body.as_bytes(), &[("X-Test-Target", "split")]);
            assert_eq!(answer.status, 200, "{}", answer.text());
            let provider = stack
                .sandbox
                .journal()
                .last()
                .map(|o| o.provider)
                .expect("forwarded");
            if round == 0 {
                first_choice.insert(i, provider);
            } else {
                assert_eq!(
                    first_choice.get(&i),
                    Some(&provider),
                    "order split-{i} moved"
                );
            }
        }
    }
    let to_alppay = first_choice
        .values()
        .filter(|p| **p == Provider::AlpPay)
        .count();
    // 40 orders on a 50/50 split: both sides get some (the chance of 0 or 40 is 2 in 10^12).
    assert!(
        to_alppay > 0 && to_alppay < 40,
        "{to_alppay} of 40 went to AlpPay"
    );
}
