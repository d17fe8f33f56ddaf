//! The pingora glue: read the body, run the core, call the upstream, run the core, answer. It
//! knows no provider's field names; those live in `dialect`.
//!
//! Every request is answered from `request_filter`: payglot makes the upstream call itself
//! through pingora's pooled connector, so it sees the whole upstream answer before choosing
//! the caller's status, and knows whether a failed exchange sent anything (failover safety).

pub mod client;
pub mod endpoint;
pub mod listener;
pub mod replay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use time::OffsetDateTime;

use crate::config::{LoadedConfig, Merchant};
use crate::dialect::{Dialect, Operation};
use crate::error::{ApiError, ErrorKind};
use crate::metrics::METRICS;
use crate::translate;

use client::UpstreamClient;
use endpoint::{Endpoint, dialect_hint, endpoint_for};
use replay::ReplayGuard;

/// How many recent request nonces are remembered for replay protection.
const REPLAY_MEMORY: usize = 1_000_000;

pub struct Proxy {
    config: Arc<ArcSwap<LoadedConfig>>,
    client: UpstreamClient,
    replay: ReplayGuard,
}

/// How a request ended, for the request metric and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not decided yet: the client went away before an answer was written.
    Unknown,
    Ok,
    Failed(ErrorKind),
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Unknown => "unknown",
            Outcome::Ok => "ok",
            Outcome::Failed(kind) => kind.label(),
        }
    }
}

/// Per-request state, for the log line and the metrics at the end.
pub struct RequestCtx {
    request_id: String,
    started: Instant,
    dialect: Option<Dialect>,
    merchant: Option<String>,
    route: Option<String>,
    upstream: Option<String>,
    outcome: Outcome,
    status: u16,
    upstream_time: Duration,
}

impl Proxy {
    pub fn new(config: Arc<ArcSwap<LoadedConfig>>) -> Self {
        let ca_file = config.load().server.upstream_ca_file.clone();
        Proxy {
            config,
            client: UpstreamClient::new(ca_file),
            replay: ReplayGuard::new(REPLAY_MEMORY),
        }
    }

    async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
    ) -> (u16, Vec<u8>) {
        let path = session.req_header().uri.path().to_owned();
        let method = session.req_header().method.as_str().to_owned();
        let Some(endpoint) = endpoint_for(&method, &path) else {
            let error = ApiError::new(
                ErrorKind::NotFound,
                format!("payglot serves nothing at {path}"),
            );
            // The body is left unread, so the connection cannot carry another request.
            session.set_keepalive(None);
            return match dialect_hint(&path, &session.req_header().headers) {
                Some(dialect) => self.fail(ctx, dialect, error),
                None => {
                    ctx.outcome = Outcome::Failed(error.kind);
                    (404, br#"{"message":"not found"}"#.to_vec())
                }
            };
        };
        let dialect = endpoint.dialect;
        ctx.dialect = Some(dialect);
        if !method.eq_ignore_ascii_case(endpoint.method) {
            let error = ApiError::new(
                ErrorKind::MethodNotAllowed,
                format!("only {} is served here", endpoint.method),
            );
            session.set_keepalive(None);
            return self.fail(ctx, dialect, error);
        }
        // An unknown or missing key is refused before its body is read: a stranger's bytes
        // cost nothing more than the header.
        if let Err(error) = self.merchant(ctx, config, dialect, &session.req_header().headers) {
            session.set_keepalive(None);
            return self.fail(ctx, dialect, error);
        }
        let limits = &config.server;
        let body = match tokio::time::timeout(
            limits.body_timeout,
            read_body(session, limits.max_body_bytes),
        )
        .await
        {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => return self.fail(ctx, dialect, error),
            Err(_) => {
                // A body that trickles in (a byte every few seconds passes the per-read
                // timeout) must not hold the connection and its buffer.
                session.set_keepalive(None);
                METRICS.client_timeouts.with_label_values(&["body"]).inc();
                let error = ApiError::new(
                    ErrorKind::RequestTimeout,
                    format!(
                        "the request body did not arrive within {} ms",
                        limits.body_timeout.as_millis()
                    ),
                );
                return self.fail(ctx, dialect, error);
            }
        };
        let headers = &session.req_header().headers;
        let answer = match endpoint.operation {
            Operation::CreatePayment => self.create(ctx, config, endpoint, headers, &body).await,
            operation => self.answer_locally(ctx, config, endpoint, headers, &body, operation),
        };
        match answer {
            Ok(answer) => answer,
            Err(error) => self.fail(ctx, dialect, error),
        }
    }

    /// Steps 1 and 2: the caller's merchant, its signature over `body` checked, its request.
    fn admit<'c>(
        &self,
        ctx: &mut RequestCtx,
        config: &'c LoadedConfig,
        dialect: Dialect,
        headers: &http::HeaderMap,
        body: &'c [u8],
    ) -> Result<translate::Admitted<'c>, ApiError> {
        let merchant = self.merchant(ctx, config, dialect, headers)?;
        let secret = merchant.credentials.secret.expose().as_bytes();
        let request = translate::read_request(dialect, headers, body, secret, &config.networks)
            .map_err(refuse_unauthenticated(dialect, &ctx.request_id))?;
        Ok(translate::Admitted {
            dialect,
            merchant,
            raw_body: body,
            request,
        })
    }

    fn merchant<'c>(
        &self,
        ctx: &mut RequestCtx,
        config: &'c LoadedConfig,
        dialect: Dialect,
        headers: &http::HeaderMap,
    ) -> Result<&'c Merchant, ApiError> {
        // A missing key header may say so; an unknown key reads like a bad signature, so key
        // ids cannot be probed.
        translate::caller_key_id(dialect, headers).inspect_err(count_signature(dialect))?;
        let merchant = translate::authenticate(config, dialect, headers)
            .map_err(refuse_unauthenticated(dialect, &ctx.request_id))?;
        ctx.merchant = Some(merchant.id.clone());
        Ok(merchant)
    }

    /// Refuses a (key, nonce) pair seen before.
    fn check_replay(&self, key_id: &str, nonce: Option<&str>) -> Result<(), ApiError> {
        match nonce {
            Some(nonce) if !self.replay.first_use(key_id, nonce) => Err(ApiError::new(
                ErrorKind::Replayed,
                format!("nonce {nonce} was already used"),
            )),
            _ => Ok(()),
        }
    }

    async fn create(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        endpoint: Endpoint<'_>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let dialect = endpoint.dialect;
        let admitted = self.admit(ctx, config, dialect, headers, body)?;
        self.check_replay(
            &admitted.merchant.credentials.key_id,
            admitted.request.nonce.as_deref(),
        )?;
        let selection = admitted.route(config, headers, &ctx.request_id)?;
        ctx.route = Some(selection.route.clone());
        let request_id = ctx.request_id.as_str();
        let tried = &mut ctx.upstream;
        let sent = self
            .client
            .send(config, &selection, request_id, |upstream| {
                *tried = Some(upstream.id.clone());
                let (plan, context) = admitted
                    .plan_for(
                        upstream,
                        &config.networks,
                        request_id,
                        OffsetDateTime::now_utc(),
                    )
                    .inspect_err(|e| count_refusal(e, dialect, upstream.dialect))?;
                count_notes(&plan.notes, dialect, upstream.dialect, request_id);
                Ok((plan.upstream, context))
            })
            .await?;
        ctx.upstream_time = sent.reply.elapsed;
        if sent.upstream.dialect == dialect && !is_json(&sent.reply.body) {
            // A same-dialect route passes the answer through as JSON; an HTML error page from
            // a proxy in front of the provider is not one.
            return Err(ApiError::new(
                ErrorKind::UpstreamInvalid,
                format!(
                    "the payment provider answered HTTP {} with a body that is not JSON",
                    sent.reply.status
                ),
            ));
        }
        let answer = translate::answer(
            dialect,
            sent.upstream.dialect,
            sent.reply.status,
            &sent.reply.body,
            &admitted.request,
            &sent.planned,
        );
        ctx.outcome = match &answer.outcome {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Failed(e.kind),
        };
        if let Err(e) = &answer.outcome
            && e.kind == ErrorKind::UpstreamUnknownStatus
        {
            METRICS
                .unknown_statuses
                .with_label_values(&[sent.upstream.dialect.name()])
                .inc();
            tracing::warn!(request_id = %ctx.request_id, upstream = %sent.upstream.id, message = %e.message, "unknown provider status");
        }
        Ok((answer.status, answer.body))
    }

    /// An operation payglot answers itself, after the same key, signature and nonce checks as
    /// any call.
    fn answer_locally(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        endpoint: Endpoint<'_>,
        headers: &http::HeaderMap,
        body: &[u8],
        operation: Operation,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let codec = endpoint.dialect.codec();
        let merchant = self.merchant(ctx, config, endpoint.dialect, headers)?;
        codec
            .verify(
                headers,
                body,
                merchant.credentials.secret.expose().as_bytes(),
            )
            .map_err(refuse_unauthenticated(endpoint.dialect, &ctx.request_id))?;
        let nonce = codec.request_nonce(body)?;
        self.check_replay(&merchant.credentials.key_id, nonce.as_deref())?;
        let answer = codec
            .answer_locally(operation, &merchant.id)
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "no local answer for this call"))?;
        ctx.outcome = Outcome::Ok;
        Ok((200, answer))
    }

    /// The answer when `server.request_timeout_ms` passed before the request was answered.
    fn deadline_passed(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        deadline: Duration,
    ) -> (u16, Vec<u8>) {
        session.set_keepalive(None);
        METRICS
            .client_timeouts
            .with_label_values(&["request"])
            .inc();
        let message = format!(
            "payglot could not answer within {} ms",
            deadline.as_millis()
        );
        // Once an upstream was tried, the caller may meet this payment again: say so as a
        // gateway timeout, like an upstream's own.
        let kind = if ctx.upstream.is_some() {
            ErrorKind::UpstreamTimeout
        } else {
            ErrorKind::RequestTimeout
        };
        let error = ApiError::new(kind, message);
        match ctx.dialect {
            Some(dialect) => self.fail(ctx, dialect, error),
            None => {
                ctx.outcome = Outcome::Failed(kind);
                tracing::warn!(request_id = %ctx.request_id, kind = kind.label(), "request deadline passed");
                (kind.default_status(), br#"{"message":"timeout"}"#.to_vec())
            }
        }
    }

    fn fail(&self, ctx: &mut RequestCtx, dialect: Dialect, error: ApiError) -> (u16, Vec<u8>) {
        ctx.outcome = Outcome::Failed(error.kind);
        if error.kind.is_client_error() {
            tracing::info!(request_id = %ctx.request_id, kind = error.kind.label(), message = %error.message, "request refused");
        } else {
            tracing::warn!(request_id = %ctx.request_id, kind = error.kind.label(), message = %error.message, "request failed");
        }
        translate::error_answer(dialect, &error, &ctx.request_id)
    }
}

/// Counts a refused key or signature of a `dialect` caller in the signature-failure metric.
fn count_signature(dialect: Dialect) -> impl Fn(&ApiError) {
    move |error| {
        if error.kind == ErrorKind::Unauthenticated {
            METRICS
                .signature_failures
                .with_label_values(&[dialect.name()])
                .inc();
        }
    }
}

/// The one text every key or signature refusal gets once the key header is present, so the
/// answer does not tell a known key from an unknown one; the precise reason is logged (debug).
const UNAUTHENTICATED: &str = "invalid key or signature";

/// Counts a refused key or signature and replaces its text with [`UNAUTHENTICATED`].
fn refuse_unauthenticated(dialect: Dialect, request_id: &str) -> impl Fn(ApiError) -> ApiError {
    move |error| {
        if error.kind != ErrorKind::Unauthenticated {
            return error;
        }
        count_signature(dialect)(&error);
        tracing::debug!(request_id, reason = %error.message, "caller not authenticated");
        ApiError::new(ErrorKind::Unauthenticated, UNAUTHENTICATED)
    }
}

fn count_refusal(error: &ApiError, from: Dialect, to: Dialect) {
    if let Some(reason) = error.reason {
        METRICS
            .translation_refusals
            .with_label_values(&[from.name(), to.name(), reason.label()])
            .inc();
    }
}

fn count_notes(notes: &[crate::dialect::Note], from: Dialect, to: Dialect, request_id: &str) {
    for note in notes {
        METRICS
            .translation_notes
            .with_label_values(&[
                from.name(),
                to.name(),
                note.action.label(),
                note.field.label(),
            ])
            .inc();
        tracing::debug!(request_id, field = %note.field, action = note.action.label(), detail = %note.detail, "translation note");
    }
}
/// Reads the whole request body up to `limit` bytes. A declared length over the limit is
/// refused before reading; the connection is then closed, as the rest is never read.
async fn read_body(session: &mut Session, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        session.set_keepalive(None);
        return Err(too_large());
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        session
            .as_mut()
            .write_continue_response()
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorKind::MalformedBody,
                    format!("could not answer Expect: {e}"),
                )
            })?;
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    session.set_keepalive(None);
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                session.set_keepalive(None);
                return Err(ApiError::new(
                    ErrorKind::MalformedBody,
                    format!("the request body could not be read: {e}"),
                ));
            }
        }
    }
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// The caller's request id when it sent a sane one, else a fresh one.
fn request_id(session: &Session) -> String {
    session
        .req_header()
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

struct InFlight;

impl InFlight {
    fn enter() -> Self {
        METRICS.in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight.dec();
    }
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            request_id: String::new(),
            started: Instant::now(),
            dialect: None,
            merchant: None,
            route: None,
            upstream: None,
            outcome: Outcome::Unknown,
            status: 0,
            upstream_time: Duration::ZERO,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let _in_flight = InFlight::enter();
        ctx.started = Instant::now();
        ctx.request_id = request_id(session);
        // One config snapshot per request, kept to its end, whatever reloads meanwhile.
        let config = self.config.load_full();
        session.set_read_timeout(Some(config.server.client_timeout));
        session.set_write_timeout(Some(config.server.client_timeout));
        // One deadline for the whole request after its header: the body's own deadline and the
        // upstream's fall within it.
        let deadline = config.server.request_timeout;
        let (status, body) =
            match tokio::time::timeout(deadline, self.handle(session, ctx, &config)).await {
                Ok(answer) => answer,
                Err(_) => self.deadline_passed(session, ctx, deadline),
            };
        ctx.status = status;
        let mut header = ResponseHeader::build(status, Some(4))?;
        header.insert_header("Content-Type", "application/json")?;
        header.insert_header("Content-Length", body.len().to_string())?;
        header.insert_header("X-Request-Id", ctx.request_id.as_str())?;
        session
            .write_response_header(Box::new(header), false)
            .await?;
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        // Never reached: request_filter answers every request.
        Err(Error::explain(
            ErrorType::InternalError,
            "payglot answers from request_filter",
        ))
    }

    async fn logging(
        &self,
        _session: &mut Session,
        error: Option<&pingora::Error>,
        ctx: &mut RequestCtx,
    ) {
        let dialect = ctx.dialect.map(Dialect::name).unwrap_or("unknown");
        let merchant = ctx.merchant.as_deref().unwrap_or("");
        let route = ctx.route.as_deref().unwrap_or("");
        let upstream = ctx.upstream.as_deref().unwrap_or("");
        let total = ctx.started.elapsed();
        let own = total.saturating_sub(ctx.upstream_time);
        METRICS
            .requests
            .with_label_values(&[dialect, merchant, route, upstream, ctx.outcome.label()])
            .inc();
        METRICS
            .proxy_latency
            .with_label_values(&[dialect])
            .observe(own.as_secs_f64());
        tracing::info!(
            request_id = %ctx.request_id,
            dialect,
            merchant,
            route,
            upstream,
            status = ctx.status,
            outcome = ctx.outcome.label(),
            total_ms = total.as_secs_f64() * 1000.0,
            upstream_ms = ctx.upstream_time.as_secs_f64() * 1000.0,
            error = error.map(|e| e.to_string()),
            "request"
        );
    }

    fn suppress_error_log(
        &self,
        _session: &Session,
        _ctx: &RequestCtx,
        _error: &pingora::Error,
    ) -> bool {
        // Client disconnects are logged once in `logging`; pingora's own line would repeat it.
        true
    }
}
