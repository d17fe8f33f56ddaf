//! Faults on the wire, over real loopback sockets: providers that send interim answers, drip,
//! hang, answer HTML or too much; clients that drip, stall mid-header or hold connections. Each
//! test failed before the fix it covers (issue 12).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::http::{self, Response};
use common::sign;
use common::stack;

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

fn next() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed) + u64::from(std::process::id()) * 1_000_000
}

/// How long any wait in these tests may last before it is a failure.
const BOUND: Duration = Duration::from_secs(10);

fn cryptomus_body(n: u64) -> Vec<u8> {
    format!(
        r#"{{"amount":"25","currency":"USDT","order_id":"hard-{n}","network":"tron","url_return":"https://shop.example/back"}}"#
    )
    .into_bytes()
}

fn alppay_body(n: u64) -> Vec<u8> {
    format!(
        r#"{{"amount":"5","asset":{{"short":"USDT","network":"tron"}},"customer":{{"id":42,"name":"Ann","email":"ann@example.com"}},"invoice":"INV-{n}"}}"#
    )
    .into_bytes()
}

fn post_cryptomus(proxy: SocketAddr, body: &[u8], target: &str) -> Response {
    let signed = sign::headers("cryptomus", body);
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("X-Test-Target", target));
    http::post(proxy, "/v1/payment", &headers, body)
}

fn post_alppay(proxy: SocketAddr, body: &[u8], target: &str) -> Response {
    let signed = sign::headers("alppay", body);
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("X-Test-Target", target));
    http::post(proxy, "/v2/payment", &headers, body)
}

/// An AlpPay payment answer (the golden fixture's), with `createdAt` set to `created`.
fn alppay_answer(created: &str) -> Vec<u8> {
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cryptomus-to-alppay/nearpayments-seed/upstream_response.json"
    ))
    .expect("fixture");
    let mut json: serde_json::Value = serde_json::from_slice(&fixture).expect("fixture JSON");
    let mut body = json["body"].take();
    body["createdAt"] = created.into();
    body["transactions"][0]["date"] = created.into();
    body.to_string().into_bytes()
}

fn ok_response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// What the fake provider does with the n-th connection (0-based), after reading its request.
#[derive(Clone)]
enum Act {
    /// Writes these bytes, then closes.
    Answer(Vec<u8>),
    /// Writes `head` at once, then `body` one byte per `every`.
    Drip {
        head: Vec<u8>,
        body: Vec<u8>,
        every: Duration,
    },
    /// Holds the connection without answering until the peer closes it (bounded).
    Hang,
}

/// A fake provider on a bound loopback listener: serves `plan(n)` to the n-th connection, for
/// at most `connections` connections and [`BOUND`] × 3 in all, then stops by itself.
struct FakeProvider {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProvider {
    fn start(connections: usize, plan: impl Fn(usize) -> Act + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let counter = served.clone();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + BOUND * 3;
            let mut workers = Vec::new();
            let mut n = 0;
            while n < connections && Instant::now() < until && !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let act = plan(n);
                        n += 1;
                        counter.fetch_add(1, Ordering::SeqCst);
                        workers.push(std::thread::spawn(move || serve(stream, act)));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        FakeProvider {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        // The accept loop sees the flag within milliseconds; each worker ends when its peer
        // closes or its own bound passes.
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, act: Act) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(BOUND));
    let _ = stream.set_write_timeout(Some(BOUND));
    if read_request(&mut stream).is_none() {
        return;
    }
    match act {
        Act::Answer(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Act::Drip { head, body, every } => {
            if stream.write_all(&head).is_err() {
                return;
            }
            for byte in body {
                std::thread::sleep(every);
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
            }
        }
        Act::Hang => {
            // Returns when payglot closes the connection or the bound passes.
            let mut sink = [0u8; 256];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// Reads one request (header and `Content-Length` body); `None` if the peer went away.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(data);
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// The base test config plus one upstream `fake` at `addr` speaking `dialect` (with `extra`
/// YAML lines), reached with `X-Test-Target: fake`; `server` lines are added to `server:`.
fn config_with_fake(addr: SocketAddr, dialect: &str, extra: &str, server: &str) -> String {
    let path = match dialect {
        "alppay" => "/v2",
        "cryptomus" => "/v1",
        _ => "/api-gateway",
    };
    let upstream = format!(
        "  - id: fake\n    dialect: {dialect}\n    base_url: \"http://{addr}{path}\"\n    credentials: {{ key_id: k, secret: s }}\n{extra}"
    );
    let route = "  - name: to-fake\n    match: { header: { name: X-Test-Target, value: fake } }\n    to: fake\n";
    let base = stack::base_config(&upstream, route);
    base.replacen(
        "  graceful_shutdown_timeout_secs: 1\n",
        &format!("  graceful_shutdown_timeout_secs: 1\n{server}"),
        1,
    )
}

fn metric(stack: &stack::Stack, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = http::get(stack.metrics, "/metrics", &[]).text();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---- item 1: panics reachable from a provider's answer ----

#[test]
fn interim_answers_and_calendar_edge_times_are_read_not_a_panic() {
    let answer = alppay_answer("9999-12-31T23:59:59-01:00");
    let mut bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".to_vec();
    bytes.extend_from_slice(&ok_response(&answer));
    let fake = FakeProvider::start(1, move |_| Act::Answer(bytes.clone()));
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", "", ""));
    let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["state"], 0, "{json}");
    assert_eq!(
        json["result"]["uuid"],
        "285d8dce-7663-4580-ba7f-8afb2f2d3292"
    );
    // A time whose UTC form is past the calendar is left out, not turned into a panic.
    assert!(json["result"]["created_at"].is_null(), "{json}");
}

// ---- item 2: the circuit breaker ----

#[test]
fn hanging_providers_open_the_breaker_and_a_timed_out_probe_does_not_stick() {
    // Connections 0, 1 and 2 hang; the rest answer.
    let answer = ok_response(&alppay_answer("2025-06-09T13:18:29Z"));
    let fake = FakeProvider::start(8, move |n| {
        if n < 3 {
            Act::Hang
        } else {
            Act::Answer(answer.clone())
        }
    });
    let extra =
        "    read_timeout_ms: 300\n    circuit_breaker: { failures: 2, cooldown_ms: 200 }\n";
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", extra, ""));
    for _ in 0..2 {
        let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
        assert_eq!(reply.status, 504, "{}", reply.text());
    }
    // Two timeouts opened the circuit: the next request is not sent at all.
    let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(fake.served(), 2);
    // After the cool-down the probe (connection 2) times out too: the circuit opens again
    // rather than staying half-open forever; later probes reach the recovered provider.
    let until = Instant::now() + BOUND;
    let mut statuses = Vec::new();
    while Instant::now() < until {
        let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
        statuses.push(reply.status);
        if reply.status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(statuses.contains(&504), "the probe timed out: {statuses:?}");
    assert!(
        metric(
            &stack,
            "payglot_upstream_failures_total",
            &[("upstream", "fake"), ("reason", "timeout")]
        ) >= 3.0
    );
}

// ---- item 3: slow providers ----

#[test]
fn a_provider_that_drips_its_answer_is_cut_off_by_the_total_deadline() {
    let answer = alppay_answer("2025-06-09T13:18:29Z");
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        answer.len()
    )
    .into_bytes();
    // Every read comes well within the read timeout; the whole answer would take minutes.
    let fake = FakeProvider::start(1, move |_| Act::Drip {
        head: head.clone(),
        body: answer.clone(),
        every: Duration::from_millis(100),
    });
    let extra = "    read_timeout_ms: 2000\n    total_timeout_ms: 700\n";
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", extra, ""));
    let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert_eq!(reply.json()["state"], 1);
}

#[test]
fn an_answer_over_max_answer_bytes_is_refused() {
    let padding = "x".repeat(4096);
    let mut answer: serde_json::Value =
        serde_json::from_slice(&alppay_answer("2025-06-09T13:18:29Z")).expect("json");
    answer["merchant"]["name"] = padding.into();
    let bytes = ok_response(answer.to_string().as_bytes());
    let fake = FakeProvider::start(1, move |_| Act::Answer(bytes.clone()));
    let server = "  max_answer_bytes: 2048\n";
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", "", server));
    let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.text().contains("too large"), "{}", reply.text());
}

// ---- item 3: slow clients ----

/// Writes `head` a byte at a time, one per `every`, until payglot closes the connection;
/// returns whether it did so within [`BOUND`].
fn closed_while_dripping(proxy: SocketAddr, head: &[u8], every: Duration) -> bool {
    let mut stream = TcpStream::connect(proxy).expect("connect");
    stream.set_read_timeout(Some(every)).expect("timeout");
    let until = Instant::now() + BOUND;
    let mut bytes = head.iter().cycle();
    let mut sink = [0u8; 1024];
    while Instant::now() < until {
        if let Some(byte) = bytes.next()
            && stream.write_all(&[*byte]).is_err()
        {
            return true;
        }
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a_client_that_drips_or_stalls_its_header_is_cut_off() {
    let stack = stack::start(&stack::base_config("", "").replacen(
        "  graceful_shutdown_timeout_secs: 1\n",
        "  graceful_shutdown_timeout_secs: 1\n  header_timeout_ms: 500\n",
        1,
    ));
    let before = metric(
        &stack,
        "payglot_client_timeouts_total",
        &[("phase", "header")],
    );
    // A byte every 50 ms: each read is quick, the header never ends.
    let head =
        b"POST /v2/payment HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert!(closed_while_dripping(
        stack.proxy,
        head,
        Duration::from_millis(50)
    ));
    // Half a header, then nothing.
    let mut stalled = TcpStream::connect(stack.proxy).expect("connect");
    stalled
        .write_all(b"POST /v2/payment HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    stalled.set_read_timeout(Some(BOUND)).expect("timeout");
    let mut sink = [0u8; 64];
    match stalled.read(&mut sink) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the stalled connection was not closed: {other:?}"),
    }
    let after = metric(
        &stack,
        "payglot_client_timeouts_total",
        &[("phase", "header")],
    );
    assert!(after >= before + 2.0, "{before} -> {after}");
    // The proxy still serves whole requests.
    let reply = post_alppay(stack.proxy, &alppay_body(next()), "alppay");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Reads until the proxy closes the connection; false if it is still open after [`BOUND`].
fn closed_by_proxy(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(BOUND)).expect("timeout");
    let mut sink = [0u8; 256];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn an_idle_connection_is_closed_quietly_at_the_header_deadline_before_and_between_requests() {
    let stack = stack::start(&stack::base_config("", "").replacen(
        "  graceful_shutdown_timeout_secs: 1\n",
        "  graceful_shutdown_timeout_secs: 1\n  header_timeout_ms: 500\n",
        1,
    ));
    let cut_off = || {
        metric(
            &stack,
            "payglot_client_timeouts_total",
            &[("phase", "header")],
        )
    };
    let before = cut_off();
    let raw_request = || {
        let body = alppay_body(next());
        let mut raw = b"POST /v2/payment HTTP/1.1\r\nHost: x\r\nX-Test-Target: alppay\r\n".to_vec();
        for (name, value) in sign::headers("alppay", &body) {
            raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        raw.extend_from_slice(&body);
        raw
    };

    // Opened, and not a byte sent.
    let mut fresh = TcpStream::connect(stack.proxy).expect("connect");
    assert!(
        closed_by_proxy(&mut fresh),
        "a silent connection stayed open"
    );

    // One request answered, then nothing.
    let mut kept = TcpStream::connect(stack.proxy).expect("connect");
    kept.set_read_timeout(Some(BOUND)).expect("timeout");
    kept.write_all(&raw_request()).expect("write");
    let mut reader = std::io::BufReader::new(kept.try_clone().expect("clone"));
    let answer = http::read_one(&mut reader).expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        closed_by_proxy(&mut kept),
        "an idle kept-alive connection stayed open"
    );

    // Idle connections are not clients cut off mid-header.
    assert_eq!(cut_off(), before);

    // A request whose first byte comes a moment after the connection opened is served, and so
    // is the next one on the same connection.
    let mut late = TcpStream::connect(stack.proxy).expect("connect");
    late.set_read_timeout(Some(BOUND)).expect("timeout");
    std::thread::sleep(Duration::from_millis(100));
    let mut reader = std::io::BufReader::new(late.try_clone().expect("clone"));
    for _ in 0..2 {
        late.write_all(&raw_request()).expect("write");
        let answer = http::read_one(&mut reader).expect("an answer");
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
}

#[test]
fn a_client_that_drips_its_body_gets_408() {
    let stack = stack::start(&stack::base_config("", "").replacen(
        "  graceful_shutdown_timeout_secs: 1\n",
        "  graceful_shutdown_timeout_secs: 1\n  body_timeout_ms: 500\n",
        1,
    ));
    let body = alppay_body(next());
    let head = format!(
        "POST /v2/payment HTTP/1.1\r\nHost: x\r\nAPI-KEY: {}\r\nX-HMAC: {}\r\nX-Test-Target: alppay\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        sign::ALPPAY.0,
        sign::hmac_hex(sign::ALPPAY.1, &body),
        body.len()
    );
    let mut stream = TcpStream::connect(stack.proxy).expect("connect");
    stream.write_all(head.as_bytes()).expect("head");
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let until = Instant::now() + BOUND;
    let mut answer = Vec::new();
    let mut sink = [0u8; 4096];
    let mut unsent = body.iter();
    while Instant::now() < until {
        if let Some(byte) = unsent.next() {
            let _ = stream.write_all(&[*byte]);
        }
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&sink[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        unsent.next().is_some(),
        "the whole body went through: {text}"
    );
}

#[test]
fn an_unknown_key_is_refused_before_the_body_is_read() {
    let stack = stack::start(&stack::base_config("", ""));
    // The body is announced and never sent: the answer cannot wait for it.
    let head = "POST /v2/payment HTTP/1.1\r\nHost: x\r\nAPI-KEY: nobody\r\nX-HMAC: 00\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n";
    let mut stream = TcpStream::connect(stack.proxy).expect("connect");
    stream.write_all(head.as_bytes()).expect("head");
    // Shorter than the 10 s client timeout, after which a body read would fail anyway.
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("invalid key or signature"), "{text}");
}

#[test]
fn a_client_that_disconnects_mid_request_costs_nothing_more() {
    let stack = stack::start(&stack::base_config("", ""));
    let before = stack.sandbox.journal().len();
    let body = alppay_body(next());
    let head = format!(
        "POST /v2/payment HTTP/1.1\r\nHost: x\r\nAPI-KEY: {}\r\nX-HMAC: {}\r\nX-Test-Target: alppay\r\nContent-Length: {}\r\n\r\n",
        sign::ALPPAY.0,
        sign::hmac_hex(sign::ALPPAY.1, &body),
        body.len()
    );
    for _ in 0..5 {
        let mut stream = TcpStream::connect(stack.proxy).expect("connect");
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(&body[..body.len() / 2]).expect("half");
        drop(stream);
    }
    let reply = post_alppay(stack.proxy, &alppay_body(next()), "alppay");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        stack.sandbox.journal().len(),
        before + 1,
        "only the whole request reached the provider"
    );
}

#[test]
fn connections_over_the_limit_get_503_and_are_closed() {
    let stack = stack::start(&stack::base_config("", "").replacen(
        "  graceful_shutdown_timeout_secs: 1\n",
        "  graceful_shutdown_timeout_secs: 1\n  max_connections: 2\n",
        1,
    ));
    // Three idle connections for two slots: whichever came last is refused.
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            let s = TcpStream::connect(stack.proxy).expect("connect");
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            s
        })
        .collect();
    let until = Instant::now() + BOUND;
    let mut refused = None;
    while refused.is_none() && Instant::now() < until {
        for (i, s) in idle.iter_mut().enumerate() {
            let mut buf = [0u8; 512];
            if let Ok(n) = s.read(&mut buf)
                && n > 0
            {
                refused = Some((i, String::from_utf8_lossy(&buf[..n]).into_owned()));
            }
        }
    }
    let (index, text) = refused.expect("one connection was refused");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("Retry-After: 1"), "{text}");
    assert!(text.contains("connection limit"), "{text}");
    idle.remove(index);
    // The two held slots are freed when their clients go; then requests are served again.
    drop(idle);
    let until = Instant::now() + BOUND;
    loop {
        let reply = http::request(
            stack.proxy,
            "POST",
            "/v2/payment",
            &sign::headers("alppay", &alppay_body(0))
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("X-Test-Target", "alppay")])
                .collect::<Vec<_>>(),
            &alppay_body(0),
        );
        match reply {
            Ok(r) if r.status != 503 => {
                assert_eq!(r.status, 200, "{}", r.text());
                break;
            }
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("no slot came free: {other:?}"),
        }
    }
    assert!(metric(&stack, "payglot_connections_refused_total", &[]) >= 1.0);
}

// ---- item 5: the smaller ones ----

#[test]
fn provider_error_text_is_capped() {
    let message = "E".repeat(5000);
    let error = serde_json::json!({ "message": message }).to_string();
    let bytes = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{error}",
        error.len()
    )
    .into_bytes();
    let fake = FakeProvider::start(1, move |_| Act::Answer(bytes.clone()));
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", "", ""));
    let reply = post_cryptomus(stack.proxy, &cryptomus_body(next()), "fake");
    assert_eq!(reply.status, 422, "{}", reply.text());
    let shown = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(shown.contains("EEEE"), "{shown}");
    assert!(
        shown.chars().filter(|c| *c == 'E').count() <= 200,
        "{shown}"
    );
}

#[test]
fn an_html_error_page_on_a_same_dialect_route_is_wrapped_in_the_callers_envelope() {
    let page = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    let bytes = [
        format!(
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            page.len()
        )
        .as_bytes(),
        page,
    ]
    .concat();
    let fake = FakeProvider::start(1, move |_| Act::Answer(bytes.clone()));
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", "", ""));
    let reply = post_alppay(stack.proxy, &alppay_body(next()), "fake");
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json();
    assert_eq!(json["code"], "upstream_invalid", "{json}");
    assert!(!reply.text().contains("<html>"));
}

/// A same-dialect 2xx answer that is no payment records nothing; the create's claim on its
/// reference must be released, or a retry waits and is refused as "in progress" until the
/// claim goes stale (and the claim stays in memory).
#[test]
fn a_same_dialect_answer_that_is_no_payment_releases_its_reference() {
    let bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}".to_vec();
    let fake = FakeProvider::start(2, move |_| Act::Answer(bytes.clone()));
    let stack = stack::start(&config_with_fake(fake.addr, "alppay", "", ""));
    let body = alppay_body(next());
    for attempt in 1..=2 {
        let reply = post_alppay(stack.proxy, &body, "fake");
        assert_eq!(reply.status, 200, "attempt {attempt}: {}", reply.text());
        assert_eq!(reply.text(), r#"{"ok":true}"#, "attempt {attempt}");
    }
    assert_eq!(fake.served(), 2, "the retry reached the provider");
}

#[test]
fn readyz_probes_the_bound_listener_not_a_reloaded_address() {
    let stack = stack::start(&stack::base_config("", ""));
    let ready = http::get(stack.metrics, "/readyz", &[]);
    assert_eq!(ready.status, 200, "{}", ready.text());
    // A reload that changes `listen` (which applies only on restart).
    let nowhere = TcpListener::bind("127.0.0.1:0").expect("bind");
    let moved = stack::fill(
        &stack::base_config("", ""),
        nowhere.local_addr().expect("addr"),
        stack.metrics,
        stack.sandbox_addr,
    );
    drop(nowhere);
    let loaded = payglot::config::load_str(&moved, &|_| None).expect("valid config");
    stack.config.store(Arc::new(loaded));
    let ready = http::get(stack.metrics, "/readyz", &[]);
    assert_eq!(ready.status, 200, "{}", ready.text());
}

fn config_errors(yaml: &str) -> Vec<String> {
    match payglot::config::load_str(yaml, &|_| None) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const ONE_UPSTREAM: &str = r#"
merchants:
  - id: m
    dialect: alppay
    credentials: { key_id: KEY, secret: SECRET }
upstreams:
  - id: u
    dialect: apollo
    base_url: "http://127.0.0.1:1/api-gateway"
    credentials: { key_id: k, secret: s }
routes:
  - name: r
    to: UPSTREAM
"#;

#[test]
fn config_refuses_control_characters_in_key_ids_and_never_prints_a_secret() {
    let yaml = ONE_UPSTREAM
        .replace("KEY", "\"ak\\tlive\"")
        .replace("SECRET", "sk")
        .replace("UPSTREAM", "u");
    let errors = config_errors(&yaml);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("merchants[0].credentials.key_id:") && e.contains("control")),
        "{errors:?}"
    );
    // A secret written as a number (a typo away from a quoted one).
    let yaml = ONE_UPSTREAM
        .replace("KEY", "ak")
        .replace("SECRET", "9876543210123")
        .replace("UPSTREAM", "u");
    let errors = config_errors(&yaml);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("merchants[0].credentials.secret:")),
        "{errors:?}"
    );
    assert!(
        errors.iter().all(|e| !e.contains("9876543210123")),
        "{errors:?}"
    );
}

#[test]
fn an_unknown_section_is_reported_with_the_errors_below_it() {
    let yaml = format!(
        "{}\nrouts: []\n",
        ONE_UPSTREAM
            .replace("KEY", "ak")
            .replace("SECRET", "sk")
            .replace("UPSTREAM", "apolo")
    );
    let errors = config_errors(&yaml);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("routs: unknown section")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("routes[0].to: unknown upstream \"apolo\"")),
        "{errors:?}"
    );
}

// ---- process-level: signals and `payglot check` ----

#[test]
fn a_sighup_during_start_up_does_not_kill_the_process() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = common::binary::temp_dir("early-hup");
    let (config, ports) = common::binary::bundled_config_file(&dir);
    let proxy = ports.proxy;
    let child = Command::new(common::binary::BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("PAYGLOT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start payglot");
    let mut child = common::binary::Stopper(child);
    let pid = child.0.id().to_string();
    let stderr = child.0.stderr.take().expect("stderr");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // "payglot starting" is logged after the config loaded, before the server (and its
    // reloader) runs: the window in which a hang-up used to be fatal.
    let until = Instant::now() + BOUND;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = seen.recv_timeout(left).expect("payglot logs its start");
        if line.contains("payglot starting") {
            break;
        }
    }
    let sent = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    assert!(
        payglot::serve::wait_until_listening(proxy, BOUND),
        "payglot did not come up after an early SIGHUP"
    );
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "payglot exited: {:?}",
        child.0.try_wait()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_a_shutdown_shorter_than_the_slowest_upstream() {
    let dir = common::binary::temp_dir("check-grace");
    let (config, _) = common::binary::bundled_config_file(&dir);
    let check = |path: &std::path::Path| {
        std::process::Command::new(common::binary::BIN)
            .args(["check", "--config"])
            .arg(path)
            .output()
            .expect("run payglot check")
    };
    let ok = check(&config);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(
        text.contains("grace_period_secs: 10"),
        "the bundled config changed"
    );
    let short = dir.join("short.yaml");
    std::fs::write(
        &short,
        text.replace("grace_period_secs: 10", "grace_period_secs: 1"),
    )
    .expect("write");
    let refused = check(&short);
    assert!(!refused.status.success());
    let errors = String::from_utf8_lossy(&refused.stderr);
    assert!(
        errors.contains("server.grace_period_secs") && errors.contains("total_timeout_ms"),
        "{errors}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
