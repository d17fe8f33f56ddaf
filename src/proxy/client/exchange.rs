//! One exchange with an upstream provider through pingora's pooled connector. The result says
//! precisely how far a failed exchange got, because that decides whether failing over to
//! another upstream is safe for a payment-creating POST: only when the upstream cannot have
//! received the whole request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pingora::connectors::TransportConnector;
use pingora::http::RequestHeader;
use pingora::protocols::Stream;
use pingora::protocols::http::v1::client::{HttpSession, http_req_header_to_wire};
use pingora::upstreams::peer::{HttpPeer, Peer};
use pingora::{ErrorType, prelude::*};
use tokio::io::AsyncWriteExt;

use super::resolve::Resolver;
use crate::config::Upstream;
use crate::translate::UpstreamRequest;

/// Interim (1xx) answers skipped before the real one; more is a misbehaving provider.
const MAX_INTERIM_ANSWERS: usize = 8;

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub enum CallError {
    /// No connection could be made, or the request could not be written whole: the upstream
    /// cannot have acted on it, failing over is safe.
    Connect(String),
    /// The upstream did not answer within the read timeout, after the whole request was sent.
    Timeout(String),
    /// The exchange broke after the whole request had left.
    Broken(String),
    /// The answer is larger than payglot reads.
    TooLarge,
}

fn peer(upstream: &Upstream, address: SocketAddr) -> HttpPeer {
    let base = &upstream.base_url;
    let mut peer = HttpPeer::new(address, base.tls, base.sni.clone());
    let options = &mut peer.options;
    options.connection_timeout = Some(upstream.connect_timeout);
    options.total_connection_timeout = Some(upstream.connect_timeout * 2);
    options.read_timeout = Some(upstream.read_timeout);
    options.write_timeout = Some(upstream.write_timeout);
    options.idle_timeout = Some(upstream.idle_timeout);
    peer
}

/// Sends `request` and reads the whole answer. A pooled connection that turns out to be dead
/// before the request could be written is replaced once by a fresh one: no whole request
/// reached the upstream on it.
pub async fn call(
    connector: &TransportConnector,
    resolver: &Resolver,
    upstream: &Upstream,
    request: &UpstreamRequest,
    request_id: &str,
    max_answer_bytes: usize,
) -> Result<Reply, CallError> {
    let started = Instant::now();
    let base = &upstream.base_url;
    let address = resolver
        .resolve(&base.host, base.port, upstream.connect_timeout)
        .await
        .map_err(CallError::Connect)?;
    let peer = peer(upstream, address);
    let wire = request_bytes(upstream, request, request_id)?;
    let mut attempt = 0;
    let stream = loop {
        attempt += 1;
        let (mut stream, reused) = take_stream(connector, &peer)
            .await
            .map_err(|e| CallError::Connect(e.to_string()))?;
        match send(&mut stream, &wire, upstream.write_timeout).await {
            Ok(()) => break stream,
            Err(_) if reused && attempt == 1 => continue,
            Err(e) => return Err(CallError::Connect(e)),
        }
    };
    // The session does not know the request: pingora would use it only to read a HEAD
    // answer (no body) and to honour `Connection: close`, and payglot sends a provider neither.
    let mut session = HttpSession::new_with_options(stream, &peer);
    session.read_timeout = Some(upstream.read_timeout);
    session.write_timeout = Some(upstream.write_timeout);
    read_answer_header(&mut session).await?;
    let status = session.get_status().map_or(0, |s| s.as_u16());
    let mut body = Vec::new();
    loop {
        match session.read_body_ref().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_answer_bytes {
                    return Err(CallError::TooLarge);
                }
                body.extend_from_slice(chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(after_send(e)),
        }
    }
    if session.is_body_done() {
        session.respect_keepalive();
        if let Some(stream) = session.reuse().await {
            connector.release_stream(stream, peer.reuse_hash(), Some(upstream.idle_timeout));
        }
    }
    Ok(Reply {
        status,
        body,
        elapsed: started.elapsed(),
    })
}

/// A pooled connection to the peer, else a new one, and whether it was pooled. Opening a
/// connection (a TLS handshake's state included) is a future of about 8 KB that every
/// request's future would otherwise hold, and copy into its box, though most requests find a
/// pooled connection: it is boxed, and made only when none is.
async fn take_stream(
    connector: &TransportConnector,
    peer: &HttpPeer,
) -> pingora::Result<(Stream, bool)> {
    if let Some(stream) = connector.reused_stream(peer).await {
        return Ok((stream, true));
    }
    Box::pin(connector.new_stream(peer))
        .await
        .map(|stream| (stream, false))
}

/// The request line, headers and body, to go out in one write: one segment on the wire and one
/// wake-up of the provider for a request that fits, where pingora's client flushes the header
/// and the body separately.
fn request_bytes(
    upstream: &Upstream,
    request: &UpstreamRequest,
    request_id: &str,
) -> Result<Vec<u8>, CallError> {
    let header = request_header(upstream, request, request_id)
        .map_err(|e| CallError::Connect(e.to_string()))?;
    let head = http_req_header_to_wire(&header).ok_or_else(|| {
        CallError::Connect("the request line holds a byte HTTP/1.1 forbids".to_owned())
    })?;
    let mut wire = Vec::with_capacity(head.len() + request.body.len());
    wire.extend_from_slice(&head);
    wire.extend_from_slice(&request.body);
    Ok(wire)
}

/// Writes the whole request. An error means the upstream did not get all of it, so it cannot
/// have acted on it: a request whose body is cut short is never a request.
async fn send(stream: &mut Stream, wire: &[u8], limit: Duration) -> Result<(), String> {
    let written = async {
        stream.write_all(wire).await?;
        stream.flush().await
    };
    match tokio::time::timeout(limit, written).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("writing the request: {e}")),
        Err(_) => Err(format!(
            "writing the request: not written within {} ms",
            limit.as_millis()
        )),
    }
}

/// Reads the answer's header, past interim (1xx) answers.
async fn read_answer_header(session: &mut HttpSession) -> Result<(), CallError> {
    // Interim answers (`100 Continue`, `103 Early Hints`) come before the real one; pingora
    // sets up no body reader for them, so reading a body after one would panic.
    for _ in 0..MAX_INTERIM_ANSWERS {
        session.read_response().await.map_err(after_send)?;
        match session.get_status().map(|s| s.as_u16()) {
            Some(101) => {
                return Err(CallError::Broken(
                    "the provider switched protocols (101)".to_owned(),
                ));
            }
            Some(100..=199) => continue,
            _ => return Ok(()),
        }
    }
    Err(CallError::Broken(format!(
        "the provider sent more than {MAX_INTERIM_ANSWERS} interim (1xx) answers"
    )))
}

impl CallError {
    /// A stable label for the upstream-failure metric.
    pub fn label(&self) -> &'static str {
        match self {
            CallError::Connect(_) => "connect",
            CallError::Timeout(_) => "timeout",
            CallError::Broken(_) => "broken",
            CallError::TooLarge => "too_large",
        }
    }
}

fn after_send(e: Box<pingora::Error>) -> CallError {
    match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => CallError::Timeout(e.to_string()),
        _ => CallError::Broken(e.to_string()),
    }
}

fn request_header(
    upstream: &Upstream,
    request: &UpstreamRequest,
    request_id: &str,
) -> pingora::Result<RequestHeader> {
    let path = upstream.base_url.path(&request.path);
    let mut header = RequestHeader::build(
        request.method,
        path.as_bytes(),
        Some(request.headers.len() + 5),
    )?;
    header.insert_header("Host", upstream.base_url.host_header())?;
    for (name, value) in &request.headers {
        header.insert_header(*name, value.as_str())?;
    }
    header.insert_header("Content-Length", request.body.len().to_string())?;
    header.insert_header("Accept", "application/json")?;
    header.insert_header("User-Agent", concat!("payglot/", env!("CARGO_PKG_VERSION")))?;
    header.insert_header("X-Request-Id", request_id)?;
    Ok(header)
}
