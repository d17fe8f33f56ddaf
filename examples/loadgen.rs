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
//! Prints one line of `key=value` pairs (latencies in microseconds), e.g.
//! `LOADGEN requests=50000 errors=0 non2xx=0 missed=0 duration_s=10.000 rps=5000.0 p50_us=180 …`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
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
    #[arg(long, conflicts_with = "body")]
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
}

/// How early a scheduled send may go: tokio's timer has a 1 ms resolution.
const SLACK: Duration = Duration::from_millis(1);
/// A request not answered within this counts as an error and its connection is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
    non_2xx: u64,
}

struct Plan {
    addr: String,
    /// Sent in turn, wrapping at the end.
    requests: Vec<Vec<u8>>,
    sent: AtomicU64,
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
    let format = |line_headers: &[&str], body: &[u8]| {
        let mut request = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", args.method);
        let all = headers
            .iter()
            .map(String::as_str)
            .chain(line_headers.iter().copied());
        let mut typed = false;
        for h in all {
            typed |= h.to_ascii_lowercase().starts_with("content-type:");
            request.push_str(h);
            request.push_str("\r\n");
        }
        if with_body {
            if !typed {
                request.push_str("Content-Type: application/json\r\n");
            }
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut request = request.into_bytes();
        if with_body {
            request.extend_from_slice(body);
        }
        request
    };
    let requests: Vec<Vec<u8>> = match (&args.requests, &args.body) {
        (Some(file), _) => {
            let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            text.split(|&b| b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| {
                    let mut fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
                    let body = fields.pop().unwrap_or_default();
                    let line_headers: Vec<&str> = fields
                        .iter()
                        .filter_map(|h| std::str::from_utf8(h).ok())
                        .collect();
                    format(&line_headers, body)
                })
                .collect()
        }
        (None, Some(file)) => {
            let body = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            vec![format(&[], &body)]
        }
        (None, None) => return Err("give --body or --requests".to_owned()),
    };
    if requests.is_empty() {
        return Err("no requests to send".to_owned());
    }

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
            sent: AtomicU64::new(0),
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
        let intended = match plan.rate {
            Some(rate) => {
                let i = plan.next.fetch_add(1, Ordering::Relaxed);
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
        let turn = plan.sent.fetch_add(1, Ordering::Relaxed) as usize;
        let request = &plan.requests[turn % plan.requests.len()];
        let sent = Instant::now();
        match timeout(REQUEST_TIMEOUT, exchange(s, request, &mut buffer)).await {
            Ok(Ok((status, keep_alive))) => {
                let done = Instant::now();
                tally
                    .latencies_ns
                    .push((done - intended.min(sent)).as_nanos() as u64);
                if !(200..300).contains(&status) {
                    tally.non_2xx += 1;
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

/// Sends one request and reads one whole response; returns its status and whether the
/// connection may be reused.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
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

/// A complete response in `buf`: `Some((status, keep_alive))`; `None` when more bytes are needed.
fn parse_response(buf: &[u8]) -> std::io::Result<Option<(u16, bool)>> {
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
    Ok(complete.then_some((status, keep_alive)))
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
    format!(
        "LOADGEN requests={n} errors={} non2xx={} missed={missed} duration_s={secs:.3} rps={:.1} \
         target_rps={:.1} p50_us={} p90_us={} p99_us={} p999_us={} max_us={}",
        tally.errors,
        tally.non_2xx,
        n as f64 / secs,
        args.rate,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        tally.latencies_ns.last().copied().unwrap_or(0) / 1_000,
    )
}

// cargo build --release --example loadgen
// target/release/examples/loadgen --url http://127.0.0.1:8080/v2/payment \
//     --body bench/bodies/alppay-request.json --headers /tmp/alppay.headers --rate 5000 --duration 10
