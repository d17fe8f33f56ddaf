//! A client for the sandbox's control endpoints, for `payglot sandbox pay|expire`: one blocking
//! HTTP/1.1 `POST` over `std::net::TcpStream`, every step bounded in time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Bound on connecting and on each read or write.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest answer accepted.
const MAX_ANSWER: u64 = 1 << 20;

/// The sandbox's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `POST /_sandbox/pay`: one transaction of `amount` (what is still due when `None`) to the
/// payment `id`, at the sandbox whose base URL is `sandbox` (`http://127.0.0.1:8090`).
pub fn pay(sandbox: &str, id: &str, amount: Option<&str>) -> Result<Answer, String> {
    let mut body = serde_json::json!({ "id": id });
    if let Some(amount) = amount {
        body["amount"] = serde_json::Value::from(amount);
    }
    post(sandbox, "/_sandbox/pay", &body)
}

/// `POST /_sandbox/expire`: the payment `id`'s lifetime ends now.
pub fn expire(sandbox: &str, id: &str) -> Result<Answer, String> {
    post(
        sandbox,
        "/_sandbox/expire",
        &serde_json::json!({ "id": id }),
    )
}

fn post(sandbox: &str, path: &str, body: &serde_json::Value) -> Result<Answer, String> {
    let base = url::Url::parse(sandbox).map_err(|error| format!("{sandbox}: {error}"))?;
    if base.scheme() != "http" {
        return Err(format!("{sandbox}: the sandbox is reached over http://"));
    }
    let host = base
        .host_str()
        .ok_or_else(|| format!("{sandbox}: no host"))?;
    let port = base.port().unwrap_or(80);
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let address = (connect_host, port)
        .to_socket_addrs()
        .map_err(|error| format!("{sandbox}: {error}"))?
        .next()
        .ok_or_else(|| format!("{sandbox}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|error| format!("cannot connect to {sandbox}: {error}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|error| error.to_string())?;

    let target = format!("{}{path}", base.path().trim_end_matches('/'));
    let body = body.to_string();
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("cannot send to {sandbox}: {error}"))?;
    read_answer(stream).map_err(|error| format!("no valid answer from {sandbox}: {error}"))
}

fn read_answer(stream: TcpStream) -> Result<Answer, String> {
    let mut reader = BufReader::new(stream.take(MAX_ANSWER));
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|error| error.to_string())?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP status line: {:?}", line.trim_end()))?;
    let mut content_length = None;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|error| error.to_string())?;
        let header = line.trim_end();
        if read == 0 || header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse::<u64>().ok();
        }
    }
    let mut body = Vec::new();
    match content_length {
        Some(length) => reader.take(length).read_to_end(&mut body),
        None => reader.read_to_end(&mut body),
    }
    .map_err(|error| error.to_string())?;
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
