//! A small HTTP/1.1 load generator for payglot's load benchmark (scripts/bench-load.sh): one
//! thread, N keep-alive connections, the same POST over and over, or (`--requests FILE`) the
//! requests of a file in turn: one per line, `Name: value` headers then the body, tab-separated
//! (bench/make-requests.py writes them; `--method GET` sends no body).
//!
//! With `--rate R` it sends at a constant R requests/s and measures each latency from the
//! *intended* send time, as wrk2 does, so a stall that delays the requests queued behind it is
//! counted against all of them (no coordinated omission). Sends are scheduled up to 1 ms early
//! (the timer's resolution); a request sent early is timed from when it was really sent.
//! With `--rate 0` every connection sends its next request as soon as the last one is answered
//! (closed loop, maximum throughput).
//!
//! With `--unique`, every `{seq}` in the body becomes a number no other request of the run
//! carries (a fresh order reference, an Apollo nonce), and `--sign-config FILE --merchant ID`
//! signs each body as that merchant of that payglot config (payglot's own signer, as
//! `payglot sign`): the soak (scripts/soak.sh) creates a new payment with every request.
//!
//! Prints one line of `key=value` pairs (latencies in microseconds), e.g.
//! `LOADGEN requests=50000 errors=0 non2xx=0 missed=0 duration_s=10.000 rps=5000.0 p50_us=180 …
//! statuses=200:50000`; `--non2xx-log FILE` appends each non-2xx answer's status and body.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use payglot::dialect::Dialect;
use payglot::secret::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};

#[derive(Parser, Clone)]
#[command(about = "Constant-rate or closed-loop HTTP/1.1 POST load, one thread")]
struct Args {
    /// `http://host:port/path`
    #[arg(long)]
    url: String,
    /// The request body, sent as it is.
    #[arg(long, required_unless_present = "requests")]
    body: Option<PathBuf>,
    /// Requests sent in turn instead of one body: a line each, headers and body tab-separated.
    #[arg(long, conflicts_with_all = ["body", "unique", "sign_config"])]
    requests: Option<PathBuf>,
    /// `POST` or `GET` (no body).
    #[arg(long, default_value = "POST")]
    method: String,
    /// A file of `Name: value` lines to send as headers (e.g. from `payglot sign`).
    #[arg(long)]
    headers: Option<PathBuf>,
    /// An extra header, `Name: value` (repeatable).
    #[arg(long = "header")]
    header: Vec<String>,
    /// Open connections.
    #[arg(long, default_value_t = 32)]
    connections: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Requests per second over all connections; 0 sends as fast as the server answers.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Replace every `{seq}` in the body with a number unique to each request of the run.
    #[arg(long)]
    unique: bool,
    /// Sign each body as `--merchant` of this payglot config would.
    #[arg(long, requires = "merchant")]
    sign_config: Option<PathBuf>,
    /// The merchant id in `--sign-config`.
    #[arg(long, requires = "sign_config")]
    merchant: Option<String>,
    /// Append one line per non-2xx answer: its status, a tab, its body (newlines escaped).
    #[arg(long)]
    non2xx_log: Option<PathBuf>,
}

/// How early a scheduled send may go: tokio's timer has a 1 ms resolution.
const SLACK: Duration = Duration::from_millis(1);
/// A request not answered within this counts as an error and its connection is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest part of a non-2xx body logged.
const LOGGED_BODY_BYTES: usize = 512;

#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
    non_2xx: u64,
    statuses: BTreeMap<u16, u64>,
}

/// What is sent: the same bytes every time, the requests of a file in turn (the benchmark), or
/// a body made and signed afresh for each request.
enum Requests {
    Fixed(Vec<u8>),
    InTurn(Vec<Vec<u8>>),
    Varying {
        /// Request line and headers, without `Content-Length`, signature headers and the blank
        /// line.
        head: String,
        body: String,
        /// The first `{seq}` value; request `n` gets `first + n`.
        first: u64,
        signer: Option<(Dialect, Credentials)>,
    },
}

impl Requests {
    /// The bytes of the run's request number `n`.
    fn build(&self, n: u64) -> Cow<'_, [u8]> {
        let (head, body, first, signer) = match self {
            Requests::Fixed(request) => return Cow::Borrowed(request),
            Requests::InTurn(list) => return Cow::Borrowed(&list[(n as usize) % list.len()]),
            Requests::Varying {
                head,
                body,
                first,
                signer,
            } => (head, body, first, signer),
        };
        let body = body.replace("{seq}", &(first + n).to_string());
        let mut request = head.clone();
        if let Some((dialect, credentials)) = signer {
            for (name, value) in dialect.codec().sign(body.as_bytes(), credentials) {
                request.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        Cow::Owned(request.into_bytes())
    }
}

struct Plan {
    addr: String,
    requests: Requests,
    non_2xx_log: Option<Mutex<std::fs::File>>,
    start: Instant,
    end: Instant,
    /// Requests per second; `None` for closed loop.
    rate: Option<f64>,
    next: AtomicU64,
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(line) => println!("{line}"),
        Err(message) => {
            eprintln!("loadgen: {message}");
            std::process::exit(1);
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let (addr, host, path) = split_url(&args.url)?;
    let mut headers: Vec<String> = Vec::new();
    if let Some(file) = &args.headers {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        headers.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    headers.extend(args.header.iter().cloned());
    let with_body = args.method != "GET";
    // Request line and headers, without `Content-Length` and the blank line.
    let head_with = |line_headers: &[&str]| {
        let mut head = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", args.method);
        let mut typed = false;
        for h in headers
            .iter()
            .map(String::as_str)
            .chain(line_headers.iter().copied())
        {
            typed |= h.to_ascii_lowercase().starts_with("content-type:");
            head.push_str(h);
            head.push_str("\r\n");
        }
        if with_body && !typed {
            head.push_str("Content-Type: application/json\r\n");
        }
        head
    };
    let finish = |mut head: String, body: &[u8]| {
        if with_body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        if with_body {
            request.extend_from_slice(body);
        }
        request
    };
    let requests = if let Some(file) = &args.requests {
        let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let list: Vec<Vec<u8>> = text
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let mut fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
                let body = fields.pop().unwrap_or_default();
                let line_headers: Vec<&str> = fields
                    .iter()
                    .filter_map(|h| std::str::from_utf8(h).ok())
                    .collect();
                finish(head_with(&line_headers), body)
            })
            .collect();
        if list.is_empty() {
            return Err(format!("{}: no requests to send", file.display()));
        }
        Requests::InTurn(list)
    } else {
        let file = args.body.as_ref().ok_or("give --body or --requests")?;
        let body = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let signer = match (&args.sign_config, &args.merchant) {
            (Some(config), Some(id)) => {
                let loaded = payglot::config::load_file(config)
                    .map_err(|e| format!("{}: {e}", config.display()))?;
                let merchant = loaded
                    .merchant_by_id(id)
                    .ok_or_else(|| format!("{}: no merchant {id}", config.display()))?;
                Some((merchant.dialect, merchant.credentials.clone()))
            }
            _ => None,
        };
        if args.unique || signer.is_some() {
            let body = String::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
            // Unique across runs too: microseconds since the epoch at the start.
            let first = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_micros() as u64;
            Requests::Varying {
                head: head_with(&[]),
                body,
                first,
                signer,
            }
        } else {
            Requests::Fixed(finish(head_with(&[]), &body))
        }
    };
    let non_2xx_log = match &args.non2xx_log {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let duration = Duration::from_secs_f64(args.duration);
    let rate = (args.rate > 0.0).then_some(args.rate);
    let tally = runtime.block_on(async {
        let start = Instant::now() + Duration::from_millis(50);
        let plan = Arc::new(Plan {
            addr,
            requests,
            non_2xx_log,
            start,
            end: start + duration,
            rate,
            next: AtomicU64::new(0),
        });
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(connection(plan.clone())))
            .collect();
        let mut total = Tally::default();
        for task in tasks {
            if let Ok(t) = task.await {
                total.latencies_ns.extend(t.latencies_ns);
                total.errors += t.errors;
                total.non_2xx += t.non_2xx;
                for (status, count) in t.statuses {
                    *total.statuses.entry(status).or_default() += count;
                }
            }
        }
        total
    });
    Ok(report(args, duration, tally))
}

/// One keep-alive connection sending the plan's requests until its end.
async fn connection(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    let mut stream: Option<TcpStream> = None;
    let mut buffer = Vec::with_capacity(8192);
    sleep_until(plan.start).await;
    loop {
        let now = Instant::now();
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        let intended = match plan.rate {
            Some(rate) => {
                let at = plan.start + Duration::from_secs_f64(i as f64 / rate);
                if at >= plan.end || now >= plan.end {
                    break;
                }
                if at > now + SLACK {
                    sleep_until(at - SLACK).await;
                }
                at
            }
            None if now >= plan.end => break,
            None => now,
        };
        if stream.is_none() {
            stream = connect(&plan.addr).await;
            if stream.is_none() {
                tally.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let Some(s) = stream.as_mut() else { continue };
        let request = plan.requests.build(i);
        let sent = Instant::now();
        match timeout(REQUEST_TIMEOUT, exchange(s, &request, &mut buffer)).await {
            Ok(Ok((status, keep_alive, body_start))) => {
                let done = Instant::now();
                tally
                    .latencies_ns
                    .push((done - intended.min(sent)).as_nanos() as u64);
                *tally.statuses.entry(status).or_default() += 1;
                if !(200..300).contains(&status) {
                    tally.non_2xx += 1;
                    if let Some(log) = &plan.non_2xx_log {
                        log_answer(log, status, &buffer[body_start..]);
                    }
                }
                if !keep_alive {
                    stream = None;
                }
            }
            _ => {
                tally.errors += 1;
                stream = None;
            }
        }
    }
    tally
}

async fn connect(addr: &str) -> Option<TcpStream> {
    let stream = timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    stream.set_nodelay(true).ok()?;
    Some(stream)
}

/// One line for a non-2xx answer: status, tab, body (at most [`LOGGED_BODY_BYTES`]).
fn log_answer(log: &Mutex<std::fs::File>, status: u16, body: &[u8]) {
    let shown = &body[..body.len().min(LOGGED_BODY_BYTES)];
    let text = String::from_utf8_lossy(shown)
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    if let Ok(mut file) = log.lock() {
        let _ = writeln!(file, "{status}\t{text}");
    }
}

/// Sends one request and reads one whole response; returns its status, whether the
/// connection may be reused, and where in `buffer` its body starts.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<(u16, bool, usize)> {
    stream.write_all(request).await?;
    buffer.clear();
    loop {
        if let Some(parsed) = parse_response(buffer)? {
            return Ok(parsed);
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed mid-response",
            ));
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// A complete response in `buf`: `Some((status, keep_alive, body_start))`; `None` when more
/// bytes are needed.
fn parse_response(buf: &[u8]) -> std::io::Result<Option<(u16, bool, usize)>> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = true;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| invalid("bad content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let body = &buf[head_end + 4..];
    let complete = if chunked {
        chunked_complete(body)?
    } else {
        body.len() >= length.unwrap_or(0)
    };
    Ok(complete.then_some((status, keep_alive, head_end + 4)))
}

/// Whether a chunked body is complete (last chunk and the empty trailer line seen).
fn chunked_complete(mut body: &[u8]) -> std::io::Result<bool> {
    loop {
        let Some(line_end) = find(body, b"\r\n") else {
            return Ok(false);
        };
        let size_text =
            std::str::from_utf8(&body[..line_end]).map_err(|_| invalid("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        let rest = &body[line_end + 2..];
        if size == 0 {
            // No trailers are expected: the body ends with the empty line after the last chunk.
            return Ok(find(rest, b"\r\n").is_some());
        }
        if rest.len() < size + 2 {
            return Ok(false);
        }
        body = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `http://host:port/path` → (`host:port` to connect to, Host header, path).
fn split_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_owned(), path.to_owned()))
}

fn report(args: &Args, duration: Duration, mut tally: Tally) -> String {
    tally.latencies_ns.sort_unstable();
    let n = tally.latencies_ns.len();
    let pct = |p: f64| -> u64 {
        if n == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        tally.latencies_ns[rank.clamp(1, n) - 1] / 1_000
    };
    let secs = duration.as_secs_f64();
    let scheduled = if args.rate > 0.0 {
        (args.rate * secs).floor() as u64
    } else {
        n as u64
    };
    let missed = scheduled.saturating_sub(n as u64 + tally.errors);
    let statuses: Vec<String> = tally
        .statuses
        .iter()
        .map(|(status, count)| format!("{status}:{count}"))
        .collect();
    format!(
        "LOADGEN requests={n} errors={} non2xx={} missed={missed} duration_s={secs:.3} rps={:.1} \
         target_rps={:.1} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} statuses={}",
        tally.errors,
        tally.non_2xx,
        n as f64 / secs,
        args.rate,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        tally.latencies_ns.last().copied().unwrap_or(0) / 1_000,
        statuses.join(","),
    )
}

// cargo build --release --example loadgen
// target/release/examples/loadgen --url http://127.0.0.1:8080/v2/payment \
//     --body bench/bodies/alppay-request.json --headers /tmp/alppay.headers --rate 5000 --duration 10
