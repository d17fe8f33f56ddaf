//! The webhook relay's outbound half: delivering merchant webhooks from the durable outbox.
//!
//! A provider's notification is verified and translated by the proxy (`proxy::relay`), queued
//! in the outbox under the idempotent id (payment, status), and attempted at once; the provider
//! is answered 2xx only once the merchant answered 2xx, so its own retries redeliver otherwise.
//! [`Worker`], a background service, retries due events on `webhooks.retry_schedule_secs`.
//! Every attempt holds a lease on its event in the store, so instances sharing a PostgreSQL
//! outbox never send one event twice at once. Delivery is at least once: a merchant that
//! accepts but whose answer is lost gets the event again, and must deduplicate (by the
//! `X-Payglot-Event-Id` header, or the payment and status).

pub mod cli;
pub mod deliver;
pub mod listen;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::connectors::http::Connector;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use time::OffsetDateTime;

use crate::config::{LoadedConfig, WebhookSettings};
use crate::metrics::METRICS;
use crate::proxy::index::Index;
use crate::store::{FailedAttempt, OutboxEvent, Store};

pub use deliver::Attempt;

/// How often the worker looks for due events.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Events one poll takes at most.
const BATCH: usize = 32;

/// The relay paths on the proxy listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayPath<'p> {
    /// `/webhooks/<relay token>`: one payment's per-payment callback.
    Token(&'p str),
    /// `/webhooks/<provider>/<upstream id>`: the account-level webhook URL of a provider that
    /// has one (AlpPay).
    Account {
        provider: &'p str,
        upstream: &'p str,
    },
}

impl<'p> RelayPath<'p> {
    pub fn parse(path: &'p str) -> Option<RelayPath<'p>> {
        let rest = path.strip_prefix("/webhooks/")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        match rest.split_once('/') {
            Some((provider, upstream))
                if !provider.is_empty() && !upstream.is_empty() && !upstream.contains('/') =>
            {
                Some(RelayPath::Account { provider, upstream })
            }
            Some(_) => None,
            None => (!rest.is_empty()).then_some(RelayPath::Token(rest)),
        }
    }
}

/// How long an attempt holds its event: the delivery timeout plus a margin for the store.
pub fn lease(settings: &WebhookSettings) -> Duration {
    settings.delivery_timeout + Duration::from_secs(5)
}

/// The provider (upstream id) and payment an event id names (see [`crate::store::event_id`]).
fn upstream_of(event_id: &str) -> &str {
    event_id.split(':').next().unwrap_or_default()
}

/// Metric labels for an event: its provider's dialect and its merchant's.
fn labels(config: &LoadedConfig, event: &OutboxEvent) -> (&'static str, &'static str) {
    let provider = config
        .upstream(upstream_of(&event.id))
        .map_or("unknown", |u| u.dialect.name());
    let merchant = config
        .merchant_by_id(&event.merchant_id)
        .map_or("unknown", |m| m.dialect.name());
    (provider, merchant)
}

/// One attempt at an event whose lease the caller holds: sends it, then records the outcome
/// (delivered; or failed, with the next attempt from the schedule, or dead past its end).
pub async fn attempt(
    store: &Store,
    connector: &Connector,
    config: &LoadedConfig,
    event: &OutboxEvent,
) -> Attempt {
    let settings = &config.webhooks;
    let (outcome, took) = deliver::deliver(connector, event, settings.delivery_timeout).await;
    let (provider, merchant_dialect) = labels(config, event);
    METRICS
        .webhook_delivery_latency
        .with_label_values(&[provider, merchant_dialect])
        .observe(took.as_secs_f64());
    let now = OffsetDateTime::now_utc();
    let recorded = if outcome.accepted() {
        METRICS
            .webhook_deliveries
            .with_label_values(&[provider, merchant_dialect, "delivered"])
            .inc();
        tracing::info!(event = %event.id, merchant = %event.merchant_id, attempt = event.attempts + 1, "webhook delivered");
        store.mark_delivered(&event.id, now).await
    } else {
        METRICS
            .webhook_deliveries
            .with_label_values(&[provider, merchant_dialect, "failed"])
            .inc();
        let (status, error) = match &outcome {
            Attempt::Answered(status) => (Some(*status), format!("the merchant answered {status}")),
            Attempt::Failed(error) => (None, error.clone()),
        };
        let next = settings
            .retry_schedule
            .get(event.attempts as usize)
            .map(|wait| now + *wait);
        tracing::warn!(event = %event.id, merchant = %event.merchant_id, attempt = event.attempts + 1, error = %error, gives_up = next.is_none(), "webhook not accepted");
        store
            .mark_failed(
                &event.id,
                now,
                FailedAttempt {
                    next_attempt_at: next,
                    status,
                    error,
                },
            )
            .await
    };
    if let Err(e) = recorded {
        // The lease runs out and the event is attempted again: at least once, never lost.
        tracing::warn!(event = %event.id, error = %e, "webhook outcome not recorded");
    }
    outcome
}

/// The background service that retries due events.
pub struct Worker {
    config: Arc<ArcSwap<LoadedConfig>>,
    index: Arc<Index>,
    connector: Arc<Connector>,
}

impl Worker {
    pub fn new(config: Arc<ArcSwap<LoadedConfig>>, index: Arc<Index>) -> Worker {
        Worker {
            config,
            index,
            connector: Arc::new(Connector::new(None)),
        }
    }

    /// One poll: every due event claimed is attempted in its own task, so a merchant that
    /// hangs holds only its own events.
    async fn poll(&self) {
        // No store yet (PostgreSQL down): the next poll tries again.
        let Ok(store) = self.index.store().await else {
            return;
        };
        let config = self.config.load_full();
        let now = OffsetDateTime::now_utc();
        match store.outbox_depth().await {
            Ok(depth) => METRICS
                .webhook_outbox_depth
                .set(i64::try_from(depth).unwrap_or(i64::MAX)),
            Err(e) => tracing::debug!(error = %e, "outbox depth unknown"),
        }
        let due = match store.claim_due(now, BATCH, lease(&config.webhooks)).await {
            Ok(due) => due,
            Err(_) => return,
        };
        for event in due {
            let store = store.clone();
            let connector = self.connector.clone();
            let config = config.clone();
            tokio::spawn(async move {
                attempt(&store, &connector, &config, &event).await;
            });
        }
    }
}

#[async_trait]
impl BackgroundService for Worker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticker.tick() => self.poll().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_paths() {
        assert_eq!(
            RelayPath::parse("/webhooks/abc123"),
            Some(RelayPath::Token("abc123"))
        );
        assert_eq!(
            RelayPath::parse("/webhooks/alppay/alppay-main/"),
            Some(RelayPath::Account {
                provider: "alppay",
                upstream: "alppay-main"
            })
        );
        assert_eq!(RelayPath::parse("/webhooks/"), None);
        assert_eq!(RelayPath::parse("/webhooks/a/b/c"), None);
        assert_eq!(RelayPath::parse("/webhooks//b"), None);
        assert_eq!(RelayPath::parse("/v1/payment"), None);
    }
}
