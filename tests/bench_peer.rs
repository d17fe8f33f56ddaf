//! The load benchmark's translating peer (nginx + njs, `bench/njs/alppay_to_cryptomus.js`) does
//! what payglot does for the benchmark body, so comparing them is like for like: both sit in
//! front of one recording upstream, get `bench/bodies/alppay-request.json` signed as an AlpPay
//! merchant signs it, and must send the provider byte-identical bodies with equal `merchant` and
//! `sign` headers, and give the merchant equal answers. A wrong `X-HMAC` is refused by both.
//!
//! Needs Debian's `nginx` and `libnginx-mod-http-js` (the test command's setup installs them);
//! without them the test says so and passes without checking anything.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::{self, Response};
use common::{binary, sign, stack};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MODULE: &str = "ngx_http_js_module.so";
const MODULE_DIRS: [&str; 3] = [
    "/usr/lib/nginx/modules",
    "/usr/lib64/nginx/modules",
    "/usr/share/nginx/modules",
];
/// The upstream credentials of bench/payglot-translate.yaml, which the peer is given too.
const UPSTREAM_KEY: (&str, &str) = (
    "c0ffee00-0000-4000-8000-000000000001",
    "cm_test_payglot_key",
);

/// What the recording upstream received.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    /// Lowercased names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A Cryptomus stand-in on loopback that records each request and answers every one with
/// `bench/bodies/cryptomus-response.json`. Stops (and joins its thread) when dropped.
struct RecordingUpstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RecordingUpstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let addr = listener.local_addr().expect("upstream address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answer = std::fs::read(Path::new(ROOT).join("bench/bodies/cryptomus-response.json"))
            .expect("the benchmark's upstream answer");
        let (seen_by_thread, stop_seen) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_seen.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (seen, answer) = (Arc::clone(&seen_by_thread), answer.clone());
                // Each connection on its own thread: both proxies keep theirs open.
                std::thread::spawn(move || serve_connection(stream, &seen, &answer));
            }
        });
        RecordingUpstream {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.seen.lock().expect("recording lock"))
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads requests off one kept-alive connection until it closes or goes quiet.
fn serve_connection(stream: TcpStream, seen: &Mutex<Vec<Recorded>>, answer: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().expect("recording lock").push(Recorded {
            path,
            headers,
            body,
        });
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(answer).is_err() {
            return;
        }
    }
}

/// nginx and its JavaScript module, or why they are not there.
fn nginx_with_njs() -> Result<(PathBuf, PathBuf), String> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("nginx is not installed")?;
    let modules = MODULE_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join(MODULE).exists())
        .ok_or("nginx's JavaScript module (libnginx-mod-http-js) is not installed")?;
    Ok((nginx, modules))
}

/// nginx + njs (a master and one worker, as the benchmark runs it), listening on a socket this
/// test bound and handed over: nginx takes inherited listeners named in its `NGINX` environment
/// variable, as in a binary upgrade. (A single-process nginx, `master_process off`, crashes on
/// an inherited listener.) Stopped by the master's PID, its worker by PID too if it lingers.
struct Peer {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Peer {
    fn start(nginx: &Path, modules: &Path, upstream: SocketAddr) -> Peer {
        let dir = binary::temp_dir("bench-peer-nginx");
        let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a TCP socket");
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind the peer's port");
        listener.listen(128).expect("listen");
        // The child inherits it: exec must not close it.
        listener
            .set_cloexec(false)
            .expect("keep the socket open across exec");
        let addr = listener
            .local_addr()
            .expect("bound address")
            .as_socket()
            .expect("an IP address");
        let template =
            std::fs::read_to_string(Path::new(ROOT).join("bench/nginx-njs.conf.template"))
                .expect("the peer's nginx config");
        let conf = template
            .replace("@MODULES@", &modules.display().to_string())
            .replace("@PREFIX@", &dir.display().to_string())
            .replace("@LISTEN@", &addr.to_string())
            .replace("@UPSTREAM@", &upstream.to_string())
            .replace(
                "@NJS@",
                &Path::new(ROOT).join("bench/njs").display().to_string(),
            );
        assert!(!conf.contains('@'), "a placeholder is left:\n{conf}");
        let conf_file = dir.join("nginx.conf");
        std::fs::write(&conf_file, conf).expect("write the nginx config");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_file)
            .arg("-e")
            .arg(dir.join("error.log"))
            .env_clear()
            .env("NGINX", format!("{};", listener.as_raw_fd()))
            .env("PEER_ALPPAY_KEY_ID", sign::ALPPAY.0)
            .env("PEER_ALPPAY_SECRET", sign::ALPPAY.1)
            .env("PEER_CRYPTOMUS_MERCHANT", UPSTREAM_KEY.0)
            .env("PEER_CRYPTOMUS_KEY", UPSTREAM_KEY.1)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        // The child holds the socket now; connections wait in its backlog until nginx accepts.
        drop(listener);
        let mut peer = Peer { child, addr, dir };
        peer.wait_ready();
        peer
    }

    /// Until nginx answers on the socket (any HTTP answer), or it exits.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited at start ({status}): {stderr}\n{log}");
            }
            if http::request(self.addr, "GET", "/ready", &[], b"").is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "nginx did not answer in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The direct children of `pid` (nginx's worker), from `/proc`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Peer {
    fn drop(&mut self) {
        let master = self.child.id();
        let workers = children(master);
        // TERM: nginx's fast stop, the master stops its worker and exits.
        signal(master, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(self.child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for worker in workers {
            if Path::new(&format!("/proc/{worker}")).exists() {
                signal(worker, "KILL");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// bench/payglot-translate.yaml with its addresses filled in for the stack, and the upstream
/// pointed at `upstream`.
fn payglot_bench_config(upstream: SocketAddr) -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join("bench/payglot-translate.yaml"))
        .expect("the benchmark's payglot config");
    let mut filled = text.clone();
    for (variable, value) in [
        ("${BENCH_LISTEN}", "{PROXY}".to_owned()),
        ("${BENCH_METRICS_LISTEN}", "{METRICS}".to_owned()),
        ("${BENCH_UPSTREAM}", upstream.to_string()),
        ("${BENCH_STORE}", "{STORE}".to_owned()),
    ] {
        assert_eq!(
            text.matches(variable).count(),
            1,
            "{variable} in the bench config"
        );
        filled = filled.replace(variable, &value);
    }
    assert!(!filled.contains("${"), "an unfilled variable:\n{filled}");
    filled
}

fn create(addr: SocketAddr, body: &[u8], hmac: &str) -> Response {
    http::post(
        addr,
        "/v2/payment",
        &[("API-KEY", sign::ALPPAY.0), ("X-HMAC", hmac)],
        body,
    )
}

#[test]
fn nginx_njs_peer_translates_the_benchmark_body_as_payglot_does() {
    let (nginx, modules) = match nginx_with_njs() {
        Ok(found) => found,
        Err(why) => {
            eprintln!("SKIPPED: {why} (the test command's setup installs it)");
            return;
        }
    };
    let upstream = RecordingUpstream::start();
    let payglot = stack::start(&payglot_bench_config(upstream.addr));
    let peer = Peer::start(&nginx, &modules, upstream.addr);
    let body = std::fs::read(Path::new(ROOT).join("bench/bodies/alppay-request.json"))
        .expect("the benchmark body");
    let hmac = sign::hmac_hex(sign::ALPPAY.1, &body);

    let from_payglot = create(payglot.proxy, &body, &hmac);
    let sent_by_payglot = upstream.take();
    let from_peer = create(peer.addr, &body, &hmac);
    let sent_by_peer = upstream.take();

    assert_eq!(from_payglot.status, 200, "payglot: {}", from_payglot.text());
    assert_eq!(from_peer.status, 200, "peer: {}", from_peer.text());
    let [by_payglot] = sent_by_payglot.as_slice() else {
        panic!("payglot made {} upstream calls", sent_by_payglot.len());
    };
    let [by_peer] = sent_by_peer.as_slice() else {
        panic!("the peer made {} upstream calls", sent_by_peer.len());
    };
    assert_eq!(by_payglot.path, "/cryptomus/v1/payment");
    assert_eq!(by_peer.path, by_payglot.path);
    assert_eq!(
        String::from_utf8_lossy(&by_peer.body),
        String::from_utf8_lossy(&by_payglot.body),
        "the upstream bodies differ"
    );
    for header in ["merchant", "sign", "content-type"] {
        assert_eq!(
            by_peer.headers.get(header),
            by_payglot.headers.get(header),
            "upstream header {header}"
        );
    }
    // Signed as Cryptomus checks it (computed here, not read from either proxy).
    assert_eq!(
        by_payglot.headers.get("sign").map(String::as_str),
        Some(sign::cryptomus_sign(UPSTREAM_KEY.1, &by_payglot.body).as_str())
    );
    assert_eq!(
        by_payglot.headers.get("merchant").map(String::as_str),
        Some(UPSTREAM_KEY.0)
    );
    // The merchant's answers: no field may differ (the create answer carries no request id).
    assert_eq!(from_peer.json(), from_payglot.json(), "the answers differ");

    // A wrong signature is refused by both, before anything goes upstream.
    let forged = sign::hmac_hex("not-the-secret", &body);
    assert_eq!(create(payglot.proxy, &body, &forged).status, 401);
    assert_eq!(create(peer.addr, &body, &forged).status, 401);
    assert!(upstream.take().is_empty(), "a refused create went upstream");

    drop(peer);
    drop(payglot);
}
