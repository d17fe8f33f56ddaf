//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, for tests.
//!
//! One request per connection (`Connection: close`), every socket operation bounded by
//! [`TIMEOUT`]. Reads `Content-Length`, chunked and close-delimited bodies and skips `1xx`
//! answers. [`send_raw`] writes arbitrary bytes, for malformed-input tests.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Bound on connecting, and on each read or write.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Longest status line or header line accepted, and most header lines.
const MAX_LINE: usize = 64 * 1024;
const MAX_HEADERS: usize = 200;

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names as sent; look them up with [`Response::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value by case-insensitive name (the first one, if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON; panics with the body text if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("response body is not JSON ({error}): {}", self.text()))
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `POST path` with `body`; panics on I/O errors (a test failure).
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    must(request(addr, "POST", path, headers, body), "POST", path)
}

/// `GET path`; panics on I/O errors (a test failure).
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    must(request(addr, "GET", path, headers, b""), "GET", path)
}

fn must(result: io::Result<Response>, method: &str, path: &str) -> Response {
    result.unwrap_or_else(|error| panic!("{method} {path} failed: {error}"))
}

/// Any method. Adds `Host`, `Connection: close`, `Content-Length` (unless a bodiless GET/HEAD)
/// and, for a non-empty body, `Content-Type: application/json` unless `headers` set one.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let has = |name: &str| {
        headers
            .iter()
            .any(|(key, _)| key.eq_ignore_ascii_case(name))
    };
    if !body.is_empty() && !has("content-type") {
        head.push_str("Content-Type: application/json\r\n");
    }
    let bodiless = matches!(method, "GET" | "HEAD") && body.is_empty();
    if !bodiless && !has("content-length") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    exchange(addr, &raw, method == "HEAD")
}

/// Writes `raw` as is (it should be a whole request) and reads one response.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> io::Result<Response> {
    exchange(addr, raw, false)
}

/// Reads one whole response from a connection the caller keeps (keep-alive, pipelining).
pub fn read_one(reader: &mut impl BufRead) -> io::Result<Response> {
    read_response(reader, false)
}

fn exchange(addr: SocketAddr, raw: &[u8], head_request: bool) -> io::Result<Response> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    (&stream).write_all(raw)?;
    (&stream).flush()?;
    read_response(&mut BufReader::new(stream), head_request)
}

fn read_response(reader: &mut impl BufRead, head_request: bool) -> io::Result<Response> {
    loop {
        let status = parse_status(&read_line(reader)?)?;
        let headers = read_headers(reader)?;
        // 100 Continue and other interim answers come before the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let response = |body| Response {
            status,
            headers: headers.clone(),
            body,
        };
        if head_request || status == 204 || status == 304 {
            return Ok(response(Vec::new()));
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.trim().to_string())
        };
        let chunked = header("transfer-encoding")
            .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            read_chunked(reader)?
        } else if let Some(length) = header("content-length") {
            let length: usize = length.parse().map_err(|_| invalid("bad Content-Length"))?;
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        };
        return Ok(response(body));
    }
}

fn parse_status(line: &str) -> io::Result<u16> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code
            .parse()
            .map_err(|_| invalid(&format!("bad status line: {line:?}"))),
        _ => Err(invalid(&format!("bad status line: {line:?}"))),
    }
}

fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() >= MAX_HEADERS {
            return Err(invalid("too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(&format!("bad header: {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(&format!("bad chunk size: {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// One line without its CRLF; an error at end of stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if line.last() != Some(&b'\n') {
        return Err(invalid("line too long or truncated"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("non-UTF-8 header line"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_sized_bodies_and_skips_continue() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab\r\n\r\n3;x=y\r\ncde\r\n0\r\n\r\n";
        let response = read_response(&mut &raw[..], false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"ab\r\ncde");

        let raw = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}trailing";
        let response = read_response(&mut &raw[..], false).unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (401, &b"{}"[..])
        );
        assert_eq!(response.header("Content-Length"), Some("2"));

        let raw = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert_eq!(
            read_response(&mut &raw[..], false).unwrap().body,
            b"until close"
        );
        assert!(
            read_response(
                &mut &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"[..],
                false
            )
            .is_err()
        );
        assert!(read_response(&mut &b"garbage\r\n\r\n"[..], false).is_err());
    }
}
