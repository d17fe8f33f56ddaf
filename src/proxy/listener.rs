//! What pingora 0.9 does not bound on the downstream side, bounded around its HTTP app:
//!
//! - **connections**: at most `server.max_connections` at once; one more gets a fixed JSON
//!   `503` (with `Retry-After`) and is closed without its request being read. The answer is not
//!   in the caller's dialect, because telling the dialect needs the request, and reading
//!   requests is the work the limit exists to refuse.
//! - **the request header**: pingora times out each *read* of it (60 s), so a client that sends
//!   a byte every few seconds holds the connection indefinitely. [`HeaderDeadline`] gives the
//!   whole header `server.header_timeout_ms`, from the connection's start or, on a kept-alive
//!   connection, from the previous answer.
//!
//! The body and the rest of the request have their own deadlines in the request path.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use crate::config::LoadedConfig;
use crate::metrics::METRICS;

/// The answer to a connection over the limit.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\n\
Content-Length: 66\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
\r\n\
{\"message\":\"payglot is at its connection limit; retry in a moment\"}";

/// How long a refused connection may take to receive its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// A pingora app behind a connection limit, with a deadline on each request header.
pub struct Guarded<A> {
    inner: Arc<A>,
    slots: Arc<Semaphore>,
    config: Arc<ArcSwap<LoadedConfig>>,
}

impl<A> Guarded<A> {
    /// `max_connections` applies for the life of the listener; the header deadline is read
    /// from the live config for each new connection.
    pub fn new(inner: A, max_connections: usize, config: Arc<ArcSwap<LoadedConfig>>) -> Self {
        Guarded {
            inner: Arc::new(inner),
            slots: Arc::new(Semaphore::new(max_connections)),
            config,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            METRICS.connections_refused.inc();
            tracing::warn!(
                peer = %peer(&stream),
                "connection refused: server.max_connections reached"
            );
            let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
                let _ = stream.write_all(REFUSAL).await;
                let _ = stream.flush().await;
            })
            .await;
            Shutdown::shutdown(&mut *stream).await;
            return None;
        };
        let _open = OpenConnection::enter();
        let header_timeout = self.config.load().server.header_timeout;
        let stream: Stream = Box::new(HeaderDeadline::new(stream, header_timeout));
        // HTTP apps keep the connection to themselves until it ends; nothing comes back.
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Counts an open connection in its gauge until dropped, however the connection ends.
struct OpenConnection;

impl OpenConnection {
    fn enter() -> Self {
        METRICS.open_connections.inc();
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        METRICS.open_connections.dec();
    }
}

fn peer(stream: &Stream) -> String {
    stream
        .get_socket_digest()
        .and_then(|d| d.peer_addr().map(ToString::to_string))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A client stream whose request header must arrive whole before a deadline. The clock starts
/// when the connection is made and again after each answer; it stops at the header's blank
/// line. A read past the deadline fails with `TimedOut`, which pingora turns into closing the
/// connection (quietly if not a byte of the header had come).
pub struct HeaderDeadline {
    inner: Stream,
    timeout: Duration,
    /// `Some` while a header is awaited.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    matched: usize,
    /// Header bytes read since the clock started; an idle connection has none.
    header_bytes: usize,
}

impl HeaderDeadline {
    pub fn new(inner: Stream, timeout: Duration) -> Self {
        HeaderDeadline {
            inner,
            timeout,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            matched: 0,
            header_bytes: 0,
        }
    }

    fn rearm(&mut self) {
        let at = Instant::now() + self.timeout;
        match &mut self.deadline {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.matched = 0;
        self.header_bytes = 0;
    }

    /// Follows `bytes` through the header; true once its blank line has been read.
    fn header_ends_in(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8; 4] = b"\r\n\r\n";
        for &b in bytes {
            self.matched = if b == END[self.matched] {
                self.matched + 1
            } else if b == END[0] {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                return true;
            }
        }
        false
    }
}

impl fmt::Debug for HeaderDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderDeadline")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .field("awaiting_header", &self.deadline.is_some())
            .finish()
    }
}

/// What a read or a peek of a header past its deadline fails with.
fn header_timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the request header did not arrive in time",
    )
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.deadline = None;
            if this.header_bytes > 0 {
                METRICS.client_timeouts.with_label_values(&["header"]).inc();
                tracing::info!(
                    received = this.header_bytes,
                    timeout_ms = this.timeout.as_millis() as u64,
                    "client cut off: its request header did not arrive in time"
                );
            }
            return Poll::Ready(Err(header_timed_out()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.deadline.is_some()
            && let Poll::Ready(Ok(())) = &polled
        {
            let new = &buf.filled()[before..];
            this.header_bytes += new.len();
            if this.header_ends_in(new) {
                this.deadline = None;
            }
        }
        polled
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // An answer starts the clock for the next request on this connection; an interim
        // `100 Continue` is not an answer.
        if !buf.starts_with(b"HTTP/1.1 1") && !buf.starts_with(b"HTTP/1.0 1") && !buf.is_empty() {
            this.rearm();
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let first = bufs.iter().find(|b| !b.is_empty());
        if first.is_some_and(|b| !b.starts_with(b"HTTP/1.1 1") && !b.starts_with(b"HTTP/1.0 1")) {
            this.rearm();
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for HeaderDeadline {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.inner).await;
    }
}

impl UniqueID for HeaderDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderDeadline {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeaderDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeaderDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for HeaderDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for HeaderDeadline {
    /// Waits for the next request's first bytes (payglot's keep-alive loop does, before it
    /// makes a session) under the same deadline as reading them.
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let HeaderDeadline {
            inner, deadline, ..
        } = self;
        let Some(at) = deadline else {
            return inner.try_peek(buf).await;
        };
        tokio::select! {
            biased;
            () = at.as_mut() => {
                *deadline = None;
                Err(header_timed_out())
            }
            peeked = inner.try_peek(buf) => peeked,
        }
    }
}
