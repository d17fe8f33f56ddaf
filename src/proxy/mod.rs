//! The pingora glue: read the body, run the core, call the upstream, run the core, answer. It
//! knows no provider's field names; those live in `dialect`.
//!
//! Every request is answered from `request_filter`: payglot makes the upstream call itself
//! through pingora's pooled connector, so it sees the whole upstream answer before choosing
//! the caller's status, and knows whether a failed exchange sent anything (failover safety).

pub mod breaker;
pub mod endpoint;
pub mod replay;
pub mod resolve;
pub mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::connectors::ConnectorOptions;
use pingora::connectors::http::Connector;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use time::OffsetDateTime;

use crate::config::{LoadedConfig, Merchant};
use crate::dialect::{Dialect, RenderContext};
use crate::error::{ApiError, ErrorKind};
use crate::metrics::METRICS;
use crate::routing::RouteFacts;
use crate::translate;

use breaker::{Breakers, Permit};
use endpoint::{Endpoint, dialect_hint, endpoint_for};
use replay::ReplayGuard;
use upstream::CallError;

/// Idle upstream connections kept for reuse, as pingora's default.
const DEFAULT_KEEPALIVE_POOL: usize = 128;

/// How many recent Apollo nonces are remembered for replay protection.
const REPLAY_MEMORY: usize = 1_000_000;

pub struct Proxy {
    config: Arc<ArcSwap<LoadedConfig>>,
    connector: Connector,
    replay: ReplayGuard,
    breakers: Breakers,
    resolver: resolve::Resolver,
}

/// Per-request state, for the log line and the metrics at the end.
pub struct RequestCtx {
    request_id: String,
    started: Instant,
    dialect: Option<Dialect>,
    merchant: Option<String>,
    route: Option<String>,
    upstream: Option<String>,
    outcome: &'static str,
    status: u16,
    upstream_time: Duration,
}

impl Proxy {
    pub fn new(config: Arc<ArcSwap<LoadedConfig>>) -> Self {
        let ca_file = config.load().server.upstream_ca_file.clone();
        let options = ca_file.map(|ca_file| ConnectorOptions {
            ca_file: Some(ca_file),
            ..ConnectorOptions::new(DEFAULT_KEEPALIVE_POOL)
        });
        Proxy {
            config,
            connector: Connector::new(options),
            replay: ReplayGuard::new(REPLAY_MEMORY),
            breakers: Breakers::default(),
            resolver: resolve::Resolver::default(),
        }
    }

    async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
    ) -> (u16, Vec<u8>) {
        let path = session.req_header().uri.path().to_owned();
        let Some(endpoint) = endpoint_for(&path) else {
            let error = ApiError::new(
                ErrorKind::NotFound,
                format!("payglot serves nothing at {path}"),
            );
            // The body is left unread, so the connection cannot carry another request.
            session.set_keepalive(None);
            return match dialect_hint(&path, &session.req_header().headers) {
                Some(dialect) => self.fail(ctx, dialect, error),
                None => {
                    ctx.outcome = error.kind.label();
                    (404, br#"{"message":"not found"}"#.to_vec())
                }
            };
        };
        let dialect = endpoint.dialect();
        ctx.dialect = Some(dialect);
        if session.req_header().method != http::Method::POST {
            let error = ApiError::new(ErrorKind::MethodNotAllowed, "only POST is served here");
            session.set_keepalive(None);
            return self.fail(ctx, dialect, error);
        }
        let body = match read_body(session, config.server.max_body_bytes).await {
            Ok(body) => body,
            Err(error) => return self.fail(ctx, dialect, error),
        };
        match self.create(session, ctx, config, endpoint, &body).await {
            Ok(answer) => answer,
            Err(error) => self.fail(ctx, dialect, error),
        }
    }

    async fn create(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        endpoint: Endpoint,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let dialect = endpoint.dialect();
        let headers = &session.req_header().headers;
        let key_id = translate::caller_key_id(dialect, headers)
            .inspect_err(|_| signature_failed(dialect))?;
        let merchant = config.merchant(dialect, key_id).ok_or_else(|| {
            signature_failed(dialect);
            ApiError::new(
                ErrorKind::Unauthenticated,
                "unknown key: no merchant is configured with it",
            )
        })?;
        ctx.merchant = Some(merchant.id.clone());
        let secret = merchant.credentials.secret.expose().as_bytes();
        if endpoint == Endpoint::ApolloAdvancedBalances {
            return self.advanced_balances(merchant, headers, body, secret);
        }
        let request = translate::read_request(dialect, headers, body, secret, &config.networks)
            .inspect_err(|e| {
                if e.kind == ErrorKind::Unauthenticated {
                    signature_failed(dialect);
                }
            })?;
        if let Some(nonce) = &request.nonce
            && !self.replay.first_use(key_id, nonce)
        {
            return Err(ApiError::new(
                ErrorKind::Replayed,
                format!("nonce {nonce} was already used"),
            ));
        }
        let facts = RouteFacts {
            merchant_id: &merchant.id,
            dialect,
            currency: &request.currency,
            network: request.network.as_deref(),
            amount: &request.amount,
            order_ref: request.order_ref.as_deref(),
            headers,
            request_id: &ctx.request_id,
        };
        let selection = config.routes.select(&facts).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NoRoute,
                format!(
                    "no routing rule matches this request from merchant {}",
                    merchant.id
                ),
            )
        })?;
        ctx.route = Some(selection.route.clone());

        let mut last_error = None;
        for (position, upstream_id) in selection.upstreams.iter().enumerate() {
            let Some(upstream) = config.upstream(upstream_id) else {
                continue;
            };
            if self.breakers.permit(&upstream.id, Instant::now()) == Permit::Open {
                last_error = Some(ApiError::new(
                    ErrorKind::UpstreamUnavailable,
                    "the payment provider is unavailable (cooling down after repeated connect \
                     failures)",
                ));
                continue;
            }
            let context = RenderContext {
                networks: &config.networks,
                merchant: &merchant.profile,
                // Only Apollo bodies carry a nonce; skip the random draw for the others.
                nonce: if upstream.dialect == Dialect::Apollo {
                    fresh_nonce()
                } else {
                    0
                },
                request_id: &ctx.request_id,
                now: OffsetDateTime::now_utc(),
            };
            let plan = translate::plan_upstream(
                dialect,
                upstream.dialect,
                body,
                &request,
                merchant.credentials_for(upstream),
                &context,
            )
            .inspect_err(|e| {
                if e.kind == ErrorKind::Untranslatable {
                    METRICS
                        .translation_refusals
                        .with_label_values(&[
                            dialect.name(),
                            upstream.dialect.name(),
                            e.reason.unwrap_or("other"),
                        ])
                        .inc();
                }
            })?;
            for note in &plan.notes {
                METRICS
                    .translation_notes
                    .with_label_values(&[
                        dialect.name(),
                        upstream.dialect.name(),
                        note.action.label(),
                        &note.field,
                    ])
                    .inc();
                tracing::debug!(request_id = %ctx.request_id, field = %note.field, action = note.action.label(), detail = %note.detail, "translation note");
            }
            ctx.upstream = Some(upstream.id.clone());
            match upstream::call(
                &self.connector,
                &self.resolver,
                upstream,
                &plan.upstream,
                &ctx.request_id,
            )
            .await
            {
                Ok(reply) => {
                    if self.breakers.success(&upstream.id) {
                        METRICS
                            .breaker_open
                            .with_label_values(&[&upstream.id])
                            .set(0);
                    }
                    ctx.upstream_time = reply.elapsed;
                    METRICS
                        .upstream_latency
                        .with_label_values(&[&upstream.id])
                        .observe(reply.elapsed.as_secs_f64());
                    let answer = translate::answer(
                        dialect,
                        upstream.dialect,
                        reply.status,
                        &reply.body,
                        &request,
                        &context,
                    );
                    ctx.outcome = match &answer.outcome {
                        Ok(_) => "ok",
                        Err(e) => e.kind.label(),
                    };
                    return Ok((answer.status, answer.body));
                }
                Err(CallError::Connect(detail)) => {
                    if self
                        .breakers
                        .failure(&upstream.id, upstream.circuit_breaker, Instant::now())
                    {
                        METRICS
                            .breaker_open
                            .with_label_values(&[&upstream.id])
                            .set(1);
                        tracing::warn!(upstream = %upstream.id, "circuit opened after repeated connect failures");
                    }
                    if position + 1 < selection.upstreams.len() {
                        METRICS
                            .failovers
                            .with_label_values(&[&selection.route, &upstream.id])
                            .inc();
                    }
                    tracing::warn!(request_id = %ctx.request_id, upstream = %upstream.id, error = %detail, "upstream connect failed");
                    last_error = Some(ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "the payment provider could not be reached".to_owned(),
                    ));
                }
                Err(CallError::Timeout(detail)) => {
                    tracing::warn!(request_id = %ctx.request_id, upstream = %upstream.id, error = %detail, "upstream timed out");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamTimeout,
                        "the payment provider did not answer in time".to_owned(),
                    ));
                }
                Err(CallError::Broken(detail)) => {
                    tracing::warn!(request_id = %ctx.request_id, upstream = %upstream.id, error = %detail, "upstream exchange broke");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "the exchange with the payment provider broke".to_owned(),
                    ));
                }
                Err(CallError::TooLarge) => {
                    return Err(ApiError::new(
                        ErrorKind::UpstreamInvalid,
                        "the payment provider's answer was too large".to_owned(),
                    ));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            ApiError::new(
                ErrorKind::Internal,
                format!("route {} names no usable upstream", selection.route),
            )
        }))
    }

    /// Apollo SDKs list balances when constructed and give up when that fails. payglot answers
    /// for its merchants itself, after the same signature and nonce checks as any call: there is
    /// no balance at payglot, so one empty USD balance named after the merchant is listed.
    fn advanced_balances(
        &self,
        merchant: &Merchant,
        headers: &http::HeaderMap,
        body: &[u8],
        secret: &[u8],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        Dialect::Apollo
            .codec()
            .verify(headers, body, secret)
            .inspect_err(|_| signature_failed(Dialect::Apollo))?;
        let answer = serde_json::json!({
            "success": true,
            "response": [{
                "advancedBalanceId": format!("payglot-{}", merchant.id),
                "currency": "USD",
                "blocked": "0",
                "balance": "0",
                "availableCurrenciesForDeposit": [],
                "tariffs": [],
            }]
        });
        Ok((200, answer.to_string().into_bytes()))
    }

    fn fail(&self, ctx: &mut RequestCtx, dialect: Dialect, error: ApiError) -> (u16, Vec<u8>) {
        ctx.outcome = error.kind.label();
        if error.kind.is_client_error() {
            tracing::info!(request_id = %ctx.request_id, kind = error.kind.label(), message = %error.message, "request refused");
        } else {
            tracing::warn!(request_id = %ctx.request_id, kind = error.kind.label(), message = %error.message, "request failed");
        }
        translate::error_answer(dialect, &error, &ctx.request_id)
    }
}

fn signature_failed(dialect: Dialect) {
    METRICS
        .signature_failures
        .with_label_values(&[dialect.name()])
        .inc();
}

/// A fresh nonce for an Apollo upstream request: random below 2^53 (exact in JavaScript), so
/// instances sharing an account do not collide the way clock-based nonces would. `explain` and
/// `translate` use it too, so their preview shows what the proxy sends.
pub fn fresh_nonce() -> u64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    (random & ((1 << 53) - 1)).max(1)
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
            outcome: "unknown",
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
        let (status, body) = self.handle(session, ctx, &config).await;
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
            .with_label_values(&[dialect, merchant, route, upstream, ctx.outcome])
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
            outcome = ctx.outcome,
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
