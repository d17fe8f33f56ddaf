//! Holds many keep-alive client connections open to one server, for payglot's memory-per-idle-
//! connection benchmark (scripts/bench-idle.sh): opens `--connections` TCP connections and,
//! with `--body`, sends one whole POST on each and reads its answer; then prints one line
//!
//! `IDLE open=10000 answered=10000 non2xx=0 errors=0 seconds=1.234`
//!
//! and holds every connection, sending nothing more, until its standard input closes (or a
//! line arrives) or `--hold` seconds pass. Then it drops them all and exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout};

#[derive(Parser)]
#[command(about = "Open N keep-alive connections, optionally one request each, and hold them")]
struct Args {
    /// `http://host:port/path`
    #[arg(long)]
    url: String,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Send one POST with this body on each connection before holding it; none when absent.
    #[arg(long)]
    body: Option<PathBuf>,
    /// A file of `Name: value` lines to send as headers (e.g. from `payglot sign`).
    #[arg(long)]
    headers: Option<PathBuf>,
    /// Connections being opened (or answered) at once.
    #[arg(long, default_value_t = 256)]
    parallel: usize,
    /// Longest time to hold the connections, seconds, if standard input never closes.
    #[arg(long, default_value_t = 300)]
    hold: u64,
}

/// How long one connect or one exchange may take before it counts as an error.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("idle_clients: runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(&args));
    if let Err(message) = result {
        eprintln!("idle_clients: {message}");
        std::process::exit(1);
    }
}

/// What happened to one connection.
enum Opened {
    Held(TcpStream, Option<u16>),
    Failed,
}

async fn run(args: &Args) -> Result<(), String> {
    let (addr, host, path) = split_url(&args.url)?;
    let request = match &args.body {
        Some(body) => Some(build_request(&host, &path, body, args.headers.as_ref())?),
        None => None,
    };
    let request = Arc::new(request);
    let gate = Arc::new(Semaphore::new(args.parallel.max(1)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let (addr, request, gate) = (addr.clone(), request.clone(), gate.clone());
            tokio::spawn(async move {
                let Ok(_permit) = gate.acquire_owned().await else {
                    return Opened::Failed;
                };
                open(&addr, request.as_ref().as_ref()).await
            })
        })
        .collect();
    let mut held = Vec::with_capacity(args.connections);
    let (mut answered, mut non_2xx, mut errors) = (0usize, 0usize, 0usize);
    for task in tasks {
        match task.await {
            Ok(Opened::Held(stream, status)) => {
                if let Some(status) = status {
                    answered += 1;
                    if !(200..300).contains(&status) {
                        non_2xx += 1;
                    }
                }
                held.push(stream);
            }
            _ => errors += 1,
        }
    }
    println!(
        "IDLE open={} answered={answered} non2xx={non_2xx} errors={errors} seconds={:.3}",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    // Hold until told to stop: a line or end of input, bounded so it always ends.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_line(&mut String::new());
        let _ = stop.send(());
    });
    let _ = timeout(Duration::from_secs(args.hold), stopped).await;
    drop(held);
    Ok(())
}

/// Connects and, with a request, sends it and reads the whole answer; the connection is kept.
async fn open(addr: &str, request: Option<&Vec<u8>>) -> Opened {
    let Ok(Ok(mut stream)) = timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await else {
        return Opened::Failed;
    };
    let Some(request) = request else {
        return Opened::Held(stream, None);
    };
    match timeout(STEP_TIMEOUT, exchange(&mut stream, request)).await {
        Ok(Ok(status)) => Opened::Held(stream, Some(status)),
        _ => Opened::Failed,
    }
}

/// Sends `request`, reads one answer framed by Content-Length; returns its status.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    let mut buffer = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(status) = complete_answer(&buffer)? {
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("closed mid-answer"));
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// The status of a complete answer in `buf`, `None` while more bytes are needed. Every server
/// measured answers with a Content-Length; anything else is an error here.
fn complete_answer(buf: &[u8]) -> std::io::Result<Option<u16>> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .ok_or_else(|| invalid("no Content-Length"))?;
    Ok((buf.len() - head_end - 4 >= length).then_some(status))
}

fn build_request(
    host: &str,
    path: &str,
    body: &PathBuf,
    headers: Option<&PathBuf>,
) -> Result<Vec<u8>, String> {
    let body = std::fs::read(body).map_err(|e| format!("{}: {e}", body.display()))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(file) = headers {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    Ok(request)
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
    if !authority.contains(':') {
        return Err(format!("{url}: give the port"));
    }
    Ok((authority.to_owned(), authority.to_owned(), path.to_owned()))
}

// cargo build --release --example idle_clients
// target/release/examples/idle_clients --url http://127.0.0.1:8080/v2/payment --connections 1000
