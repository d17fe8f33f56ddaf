//! One delivery attempt of an outbox event to a merchant: `POST` the stored body with its
//! stored headers, through pingora's connector (so `https` merchant URLs work as upstreams do),
//! the whole exchange bounded by the delivery timeout.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

use crate::store::OutboxEvent;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The merchant answered with this status (2xx accepts the event).
    Answered(u16),
    /// No answer: unreachable, timed out, or the URL is unusable.
    Failed(String),
}

impl Attempt {
    pub fn accepted(&self) -> bool {
        matches!(self, Attempt::Answered(200..=299))
    }
}

/// The merchant answer's body is not read beyond this.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends `event` once. Returns the outcome and how long it took.
pub async fn deliver(
    connector: &Connector,
    event: &OutboxEvent,
    timeout: Duration,
) -> (Attempt, Duration) {
    let started = Instant::now();
    let attempt = match tokio::time::timeout(timeout, post(connector, event, timeout)).await {
        Ok(Ok(status)) => Attempt::Answered(status),
        Ok(Err(error)) => Attempt::Failed(error),
        Err(_) => Attempt::Failed(format!("no answer within {} ms", timeout.as_millis())),
    };
    (attempt, started.elapsed())
}

async fn post(
    connector: &Connector,
    event: &OutboxEvent,
    timeout: Duration,
) -> Result<u16, String> {
    let url = url::Url::parse(&event.target_url).map_err(|e| format!("bad URL: {e}"))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("unsupported URL scheme {other}")),
    };
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let address = tokio::net::lookup_host((bare_host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut peer = HttpPeer::new(address, tls, bare_host);
    peer.options.connection_timeout = Some(timeout);
    peer.options.read_timeout = Some(timeout);
    peer.options.write_timeout = Some(timeout);
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let header = request_header(&url, &target, event).map_err(|e| e.to_string())?;
    let (mut session, _) = connector
        .get_http_session(&peer)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    session.set_read_timeout(Some(timeout));
    session.set_write_timeout(Some(timeout));
    let broken = |e: Box<pingora::Error>| format!("exchange failed: {e}");
    session
        .write_request_header(Box::new(header))
        .await
        .map_err(broken)?;
    session
        .write_request_body(Bytes::copy_from_slice(&event.body), true)
        .await
        .map_err(broken)?;
    session.finish_request_body().await.map_err(broken)?;
    // Interim (1xx) answers come before the real one.
    let mut status = 0;
    for _ in 0..8 {
        session.read_response_header().await.map_err(broken)?;
        status = session
            .response_header()
            .map(|h| h.status.as_u16())
            .unwrap_or(0);
        if !(100..200).contains(&status) {
            break;
        }
    }
    if (100..200).contains(&status) {
        return Err("too many interim answers".to_owned());
    }
    // Drain a bounded answer so the merchant's server sees the exchange complete.
    let mut read = 0;
    while let Ok(Some(chunk)) = session.read_response_body().await {
        read += chunk.len();
        if read > MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(status)
}

fn request_header(
    url: &url::Url,
    target: &str,
    event: &OutboxEvent,
) -> pingora::Result<RequestHeader> {
    let mut header =
        RequestHeader::build("POST", target.as_bytes(), Some(event.headers.len() + 4))?;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    header.insert_header("Host", authority)?;
    for (name, value) in &event.headers {
        header.insert_header(name.clone(), value.as_str())?;
    }
    header.insert_header("Content-Length", event.body.len().to_string())?;
    header.insert_header("User-Agent", concat!("payglot/", env!("CARGO_PKG_VERSION")))?;
    // The event id stays the same across retries, so merchants can deduplicate.
    header.insert_header("X-Payglot-Event-Id", event.id.as_str())?;
    Ok(header)
}
