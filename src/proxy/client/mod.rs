//! The upstream client: one entry point, [`UpstreamClient::send`], that tries a route's upstreams
//! in order — resolving hosts, taking pooled connections, skipping upstreams whose circuit is
//! open — and fails over to the next one only while that is safe for a payment-creating POST:
//! when the upstream cannot have received the whole request. Everything it learns about an
//! upstream's health is counted here.

mod breaker;
mod exchange;
mod resolve;

use std::time::Instant;

use pingora::connectors::{ConnectorOptions, TransportConnector};

use crate::config::{LoadedConfig, Upstream};
use crate::error::{ApiError, ErrorKind};
use crate::metrics::METRICS;
use crate::routing::Selection;
use crate::translate::UpstreamRequest;

pub use breaker::{Attempt, BreakerSettings, Breakers, Permit};
pub use exchange::{CallError, Reply};
use resolve::Resolver;

/// Idle upstream connections kept for reuse, as pingora's default.
const DEFAULT_KEEPALIVE_POOL: usize = 128;

pub struct UpstreamClient {
    connector: TransportConnector,
    resolver: Resolver,
    breakers: Breakers,
}

/// The exchange that happened: which upstream answered, what was planned for it, its answer.
pub struct Sent<'c, T> {
    pub upstream: &'c Upstream,
    pub planned: T,
    pub reply: Reply,
}

impl UpstreamClient {
    /// `ca_file`: extra roots for TLS upstreams (applies on restart).
    pub fn new(ca_file: Option<String>) -> Self {
        let options = ca_file.map(|ca_file| ConnectorOptions {
            ca_file: Some(ca_file),
            ..ConnectorOptions::new(DEFAULT_KEEPALIVE_POOL)
        });
        UpstreamClient {
            connector: TransportConnector::new(options),
            resolver: Resolver::default(),
            breakers: Breakers::default(),
        }
    }

    /// Tries the selection's upstreams in order. `plan` writes the request for an upstream
    /// (called once per upstream actually tried; its error ends the attempt, as a translation
    /// that cannot be made is not the upstream's fault). Only a failure to connect, or to write
    /// the whole request, moves on to the next upstream; once the request has left whole, the
    /// error is final. Every failure counts towards the upstream's circuit breaker.
    pub async fn send<'c, T>(
        &self,
        config: &'c LoadedConfig,
        selection: &Selection,
        request_id: &str,
        mut plan: impl FnMut(&'c Upstream) -> Result<(UpstreamRequest, T), ApiError>,
    ) -> Result<Sent<'c, T>, ApiError> {
        let mut last_error = None;
        for (position, upstream_id) in selection.upstreams.iter().enumerate() {
            let Some(upstream) = config.upstream(upstream_id) else {
                continue;
            };
            let Some(attempt) = self.breakers.admit(&upstream.id, Instant::now()) else {
                last_error = Some(ApiError::new(
                    ErrorKind::UpstreamUnavailable,
                    "the payment provider is unavailable (cooling down after repeated failures)",
                ));
                continue;
            };
            // A planning error drops `attempt` unreported: not the upstream's fault.
            let (request, planned) = plan(upstream)?;
            let max_answer = config.server.max_answer_bytes;
            let call = exchange::call(
                &self.connector,
                &self.resolver,
                upstream,
                &request,
                request_id,
                max_answer,
            );
            // The per-read timeouts alone let a provider that drips its answer hold the
            // request for as long as it likes; this bounds the whole exchange.
            let result = tokio::time::timeout(upstream.total_timeout, call)
                .await
                .unwrap_or_else(|_| {
                    Err(CallError::Timeout(format!(
                        "no whole answer within {} ms",
                        upstream.total_timeout.as_millis()
                    )))
                });
            let error = match result {
                Ok(reply) => {
                    if attempt.success() {
                        METRICS
                            .breaker_open
                            .with_label_values(&[&upstream.id])
                            .set(0);
                        tracing::info!(request_id, upstream = %upstream.id, "circuit closed: the upstream answered again");
                    }
                    METRICS
                        .upstream_latency
                        .with_label_values(&[&upstream.id])
                        .observe(reply.elapsed.as_secs_f64());
                    return Ok(Sent {
                        upstream,
                        planned,
                        reply,
                    });
                }
                Err(error) => error,
            };
            if attempt.failure(upstream.circuit_breaker, Instant::now()) {
                METRICS
                    .breaker_open
                    .with_label_values(&[&upstream.id])
                    .set(1);
                tracing::warn!(request_id, upstream = %upstream.id, "circuit opened after repeated failures");
            }
            METRICS
                .upstream_failures
                .with_label_values(&[&upstream.id, error.label()])
                .inc();
            match error {
                CallError::Connect(detail) => {
                    if position + 1 < selection.upstreams.len() {
                        METRICS
                            .failovers
                            .with_label_values(&[&selection.route, &upstream.id])
                            .inc();
                    }
                    tracing::warn!(request_id, upstream = %upstream.id, error = %detail, "upstream connect failed");
                    last_error = Some(ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "the payment provider could not be reached",
                    ));
                }
                // Once the whole request has left, another upstream could create a second payment.
                CallError::Timeout(detail) => {
                    tracing::warn!(request_id, upstream = %upstream.id, error = %detail, "upstream timed out");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamTimeout,
                        "the payment provider did not answer in time",
                    ));
                }
                CallError::Broken(detail) => {
                    tracing::warn!(request_id, upstream = %upstream.id, error = %detail, "upstream exchange broke");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "the exchange with the payment provider broke",
                    ));
                }
                CallError::TooLarge => {
                    tracing::warn!(request_id, upstream = %upstream.id, limit = max_answer, "upstream answer too large");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamInvalid,
                        "the payment provider's answer was too large",
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
}
