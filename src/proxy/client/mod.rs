//! The upstream client: one entry point, [`UpstreamClient::send`], that tries a route's upstreams
//! in order — resolving hosts, taking pooled connections, skipping upstreams whose circuit is
//! open — and fails over to the next one only while that is safe for a payment-creating POST:
//! when nothing was sent. Everything it learns about an upstream's health is counted here.

mod breaker;
mod exchange;
mod resolve;

use std::time::Instant;

use pingora::connectors::ConnectorOptions;
use pingora::connectors::http::Connector;

use crate::config::{LoadedConfig, Upstream};
use crate::error::{ApiError, ErrorKind};
use crate::metrics::METRICS;
use crate::routing::Selection;
use crate::translate::UpstreamRequest;

pub use breaker::{BreakerSettings, Breakers, Permit};
pub use exchange::{CallError, Reply};
use resolve::Resolver;

/// Idle upstream connections kept for reuse, as pingora's default.
const DEFAULT_KEEPALIVE_POOL: usize = 128;

pub struct UpstreamClient {
    connector: Connector,
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
            connector: Connector::new(options),
            resolver: Resolver::default(),
            breakers: Breakers::default(),
        }
    }

    /// Tries the selection's upstreams in order. `plan` writes the request for an upstream
    /// (called once per upstream actually tried; its error ends the attempt, as a translation
    /// that cannot be made is not the upstream's fault). Only a failure to connect moves on to
    /// the next upstream; once bytes may have left, the error is final.
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
            if self.breakers.permit(&upstream.id, Instant::now()) == Permit::Open {
                last_error = Some(ApiError::new(
                    ErrorKind::UpstreamUnavailable,
                    "the payment provider is unavailable (cooling down after repeated connect \
                     failures)",
                ));
                continue;
            }
            let (request, planned) = plan(upstream)?;
            match exchange::call(
                &self.connector,
                &self.resolver,
                upstream,
                &request,
                request_id,
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
                    tracing::warn!(request_id, upstream = %upstream.id, error = %detail, "upstream connect failed");
                    last_error = Some(ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "the payment provider could not be reached",
                    ));
                }
                Err(CallError::Timeout(detail)) => {
                    tracing::warn!(request_id, upstream = %upstream.id, error = %detail, "upstream timed out");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamTimeout,
                        "the payment provider did not answer in time",
                    ));
                }
                Err(CallError::Broken(detail)) => {
                    tracing::warn!(request_id, upstream = %upstream.id, error = %detail, "upstream exchange broke");
                    return Err(ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "the exchange with the payment provider broke",
                    ));
                }
                Err(CallError::TooLarge) => {
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
