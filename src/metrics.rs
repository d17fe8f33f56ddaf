//! Prometheus metrics. Registered once, in the `prometheus` default registry that pingora's own
//! exporter also uses, so nothing is split across registries. Every name is listed in
//! [`METRIC_NAMES`], which the tests check against `/metrics`, the Grafana panels and the table
//! in `docs/metrics.md`.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric payglot exports.
pub const METRIC_NAMES: &[&str] = &[
    "payglot_requests_total",
    "payglot_signature_failures_total",
    "payglot_translation_refusals_total",
    "payglot_translation_notes_total",
    "payglot_upstream_latency_seconds",
    "payglot_proxy_latency_seconds",
    "payglot_failovers_total",
    "payglot_circuit_breaker_open",
    "payglot_config_reloads_total",
    "payglot_config_generation",
    "payglot_config_info",
    "payglot_in_flight_requests",
    "payglot_unknown_statuses_total",
    "payglot_upstream_failures_total",
    "payglot_client_timeouts_total",
    "payglot_connections_refused_total",
    "payglot_open_connections",
    "payglot_webhooks_received_total",
    "payglot_webhooks_verified_total",
    "payglot_webhooks_refused_total",
    "payglot_webhook_deliveries_total",
    "payglot_webhook_outbox_depth",
    "payglot_webhook_delivery_seconds",
    "payglot_lookups_total",
    // The payment store's: their series exist once the store is opened
    // ([`Metrics::prime_store`]).
    "payglot_store_operations_total",
    "payglot_store_operation_seconds",
    "payglot_store_errors_total",
    "payglot_store_checkpoint_seconds",
];

/// Why the embedded store made a checkpoint (the `reason` label): its journal had been written
/// for `interval` or had reached its `size`, the writer was `idle` or closing (`close`),
/// `recovery` after a crash, `fallback` while the journal cannot be written, or a `retry` of a
/// failed one.
pub const CHECKPOINT_REASONS: &[&str] = &[
    "interval", "size", "idle", "close", "recovery", "fallback", "retry",
];

/// Why the relay refuses a provider webhook (the `reason` label).
pub const WEBHOOK_REFUSALS: &[&str] = &["forged", "unknown_payment", "unreadable", "unverifiable"];

/// Every store operation, for priming their series.
const STORE_OPS: &[&str] = &[
    "claim_create",
    "complete_create",
    "abandon_create",
    "get_by_provider_id",
    "get_by_ref",
    "get_by_relay_token",
    "get_by_upstream",
    "list_by_merchant",
    "update_status",
    "first_use_nonce",
    "enqueue_event",
    "claim_due",
    "claim_event",
    "mark_delivered",
    "mark_failed",
    "list_events",
    "replay",
    "outbox_depth",
];

pub struct Metrics {
    /// Every request, by inbound dialect, merchant, route, upstream and outcome.
    pub requests: IntCounterVec,
    pub signature_failures: IntCounterVec,
    /// Requests refused because they cannot be expressed at the target, by reason.
    pub translation_refusals: IntCounterVec,
    /// Fields dropped, filled, derived or clamped while translating.
    pub translation_notes: IntCounterVec,
    /// Time spent waiting on the upstream (connect to last byte of its answer).
    pub upstream_latency: HistogramVec,
    /// payglot's own time: the whole request minus the upstream's share.
    pub proxy_latency: HistogramVec,
    pub failovers: IntCounterVec,
    pub breaker_open: IntGaugeVec,
    pub config_reloads: IntCounterVec,
    pub config_generation: IntGauge,
    pub config_info: IntGaugeVec,
    pub in_flight: IntGauge,
    /// Provider answers with a status word payglot does not know, by provider dialect.
    pub unknown_statuses: IntCounterVec,
    /// Lookup and list calls, by the caller's dialect, the upstream last asked and outcome.
    pub lookups: IntCounterVec,
    /// Payment store operations by op, backend (`embedded`, `postgres`) and outcome (`ok`,
    /// `unavailable`, `conflict`, `internal`).
    pub store_operations: IntCounterVec,
    /// Time per store operation, including the wait for a group commit.
    pub store_latency: HistogramVec,
    /// Failed store operations by backend and kind (`journal`: the embedded store's journal
    /// could not be written, and its writes went to durable commits instead).
    pub store_errors: IntCounterVec,
    /// Time each embedded-store checkpoint took, by [`CHECKPOINT_REASONS`].
    pub store_checkpoints: HistogramVec,
    /// Failed upstream exchanges, by upstream and how they failed.
    pub upstream_failures: IntCounterVec,
    /// Clients cut off for being too slow, by phase (header, body, request).
    pub client_timeouts: IntCounterVec,
    /// Connections refused at `server.max_connections`.
    pub connections_refused: IntCounter,
    pub open_connections: IntGauge,
    /// Provider webhooks reaching the relay, by provider dialect.
    pub webhooks_received: IntCounterVec,
    /// Provider webhooks whose origin was established (signature or fetch-back), by provider.
    pub webhooks_verified: IntCounterVec,
    /// Provider webhooks refused, by provider and reason.
    pub webhooks_refused: IntCounterVec,
    /// Delivery attempts to merchants, by provider, merchant dialect and outcome.
    pub webhook_deliveries: IntCounterVec,
    /// Events still to deliver.
    pub webhook_outbox_depth: IntGauge,
    /// Time per delivery attempt, by provider and merchant dialect.
    pub webhook_delivery_latency: HistogramVec,
}

/// Latency buckets from 50 µs (translation work) up to 30 s (slow providers).
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
];

pub static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| Metrics::register(prometheus::default_registry()));

impl Metrics {
    fn register(registry: &Registry) -> Metrics {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
            // A second registration (several proxies in one test process) keeps the first.
            let _ = registry.register(Box::new(c.clone()));
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
            let _ = registry.register(Box::new(h.clone()));
            h
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
            let _ = registry.register(Box::new(g.clone()));
            g
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help)
                .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
            let _ = registry.register(Box::new(g.clone()));
            g
        };
        Metrics {
            requests: counter(
                "payglot_requests_total",
                "Requests by inbound dialect, merchant, route, upstream and outcome",
                &["dialect", "merchant", "route", "upstream", "outcome"],
            ),
            signature_failures: counter(
                "payglot_signature_failures_total",
                "Requests whose signature or key did not verify",
                &["dialect"],
            ),
            translation_refusals: counter(
                "payglot_translation_refusals_total",
                "Requests that cannot be expressed in the target dialect, by reason",
                &["from", "to", "reason"],
            ),
            translation_notes: counter(
                "payglot_translation_notes_total",
                "Fields dropped, filled, derived or clamped while translating",
                &["from", "to", "action", "field"],
            ),
            upstream_latency: histogram(
                "payglot_upstream_latency_seconds",
                "Time waiting on the upstream, from connect to the end of its answer",
                &["upstream"],
            ),
            proxy_latency: histogram(
                "payglot_proxy_latency_seconds",
                "payglot's own time per request, the upstream's share excluded",
                &["dialect"],
            ),
            failovers: counter(
                "payglot_failovers_total",
                "Requests moved to the next upstream after a connect failure, or when the request could not be sent to it whole",
                &["route", "from_upstream"],
            ),
            breaker_open: gauge_vec(
                "payglot_circuit_breaker_open",
                "1 while an upstream is skipped after repeated connect failures",
                &["upstream"],
            ),
            unknown_statuses: counter(
                "payglot_unknown_statuses_total",
                "Provider answers whose status word payglot does not know (answered as an upstream error)",
                &["provider"],
            ),
            lookups: counter(
                "payglot_lookups_total",
                "Lookup and list calls by the caller's dialect, the upstream asked last (empty when \
                 none was) and outcome",
                &["dialect", "upstream", "outcome"],
            ),
            config_reloads: counter(
                "payglot_config_reloads_total",
                "Config reloads by result",
                &["result"],
            ),
            config_generation: gauge(
                "payglot_config_generation",
                "How many configs were loaded since start (1 = the first)",
            ),
            config_info: gauge_vec(
                "payglot_config_info",
                "1 for the loaded config, labelled by its hash",
                &["hash"],
            ),
            in_flight: gauge("payglot_in_flight_requests", "Requests being handled"),
            store_operations: counter(
                "payglot_store_operations_total",
                "Payment store operations by op, backend and outcome",
                &["op", "backend", "outcome"],
            ),
            store_latency: histogram(
                "payglot_store_operation_seconds",
                "Time per payment store operation, including the wait for its commit",
                &["op", "backend"],
            ),
            store_errors: counter(
                "payglot_store_errors_total",
                "Failed payment store operations by backend and kind",
                &["backend", "kind"],
            ),
            store_checkpoints: histogram(
                "payglot_store_checkpoint_seconds",
                "Time each embedded-store checkpoint (a background durable commit) took, by reason",
                &["reason"],
            ),
            upstream_failures: counter(
                "payglot_upstream_failures_total",
                "Failed upstream exchanges, by upstream and reason (connect, timeout, broken, \
                 too_large)",
                &["upstream", "reason"],
            ),
            client_timeouts: counter(
                "payglot_client_timeouts_total",
                "Clients cut off for sending too slowly, by phase (header, body, request)",
                &["phase"],
            ),
            connections_refused: {
                let name = "payglot_connections_refused_total";
                let c = IntCounter::new(name, "Connections refused at server.max_connections")
                    .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
                let _ = registry.register(Box::new(c.clone()));
                c
            },
            open_connections: gauge(
                "payglot_open_connections",
                "Client connections open on the proxy listener",
            ),
            webhooks_received: counter(
                "payglot_webhooks_received_total",
                "Provider webhooks reaching the relay, by provider dialect",
                &["provider"],
            ),
            webhooks_verified: counter(
                "payglot_webhooks_verified_total",
                "Provider webhooks whose origin was established, by provider dialect",
                &["provider"],
            ),
            webhooks_refused: counter(
                "payglot_webhooks_refused_total",
                "Provider webhooks refused (forged, unknown payment, unreadable), by provider and reason",
                &["provider", "reason"],
            ),
            webhook_deliveries: counter(
                "payglot_webhook_deliveries_total",
                "Webhook delivery attempts to merchants, by provider, merchant dialect and outcome",
                &["provider", "merchant_dialect", "outcome"],
            ),
            webhook_outbox_depth: gauge(
                "payglot_webhook_outbox_depth",
                "Merchant webhooks still to deliver",
            ),
            webhook_delivery_latency: histogram(
                "payglot_webhook_delivery_seconds",
                "Time per webhook delivery attempt, by provider and merchant dialect",
                &["provider", "merchant_dialect"],
            ),
        }
    }

    /// Creates the series a dashboard expects from the start (zero until something happens),
    /// since labelled series otherwise appear only on first use.
    pub fn prime(&self, upstreams: &[&str]) {
        for result in ["applied", "refused"] {
            self.config_reloads.with_label_values(&[result]);
        }
        for dialect in crate::dialect::Dialect::ALL {
            self.signature_failures.with_label_values(&[dialect.name()]);
            self.unknown_statuses.with_label_values(&[dialect.name()]);
            self.webhooks_received.with_label_values(&[dialect.name()]);
            self.webhooks_verified.with_label_values(&[dialect.name()]);
            for reason in WEBHOOK_REFUSALS {
                self.webhooks_refused
                    .with_label_values(&[dialect.name(), reason]);
            }
            for merchant in crate::dialect::Dialect::ALL {
                let labels = [dialect.name(), merchant.name()];
                self.webhook_delivery_latency.with_label_values(&labels);
                for outcome in ["delivered", "failed"] {
                    self.webhook_deliveries.with_label_values(&[
                        dialect.name(),
                        merchant.name(),
                        outcome,
                    ]);
                }
            }
        }
        for upstream in upstreams {
            for dialect in crate::dialect::Dialect::ALL {
                for outcome in ["ok", "not_found"] {
                    self.lookups
                        .with_label_values(&[dialect.name(), upstream, outcome]);
                }
            }
            self.breaker_open.with_label_values(&[upstream]);
            for reason in ["connect", "timeout", "broken", "too_large"] {
                self.upstream_failures
                    .with_label_values(&[upstream, reason]);
            }
        }
        for phase in ["header", "body", "request"] {
            self.client_timeouts.with_label_values(&[phase]);
        }
    }

    /// Creates the store's series for `backend`, so that dashboards see zeros from the start.
    pub fn prime_store(&self, backend: &str) {
        for op in STORE_OPS {
            self.store_operations
                .with_label_values(&[op, backend, "ok"]);
            self.store_latency.with_label_values(&[op, backend]);
        }
        for kind in ["unavailable", "conflict", "internal"] {
            self.store_errors.with_label_values(&[backend, kind]);
        }
        if backend == "embedded" {
            for kind in ["journal", "checkpoint"] {
                self.store_errors.with_label_values(&[backend, kind]);
            }
            for reason in CHECKPOINT_REASONS {
                self.store_checkpoints.with_label_values(&[reason]);
            }
        }
    }

    /// Marks `hash` as the loaded config and counts the generation.
    pub fn config_loaded(&self, hash: &str) {
        self.config_info.reset();
        self.config_info.with_label_values(&[hash]).set(1);
        self.config_generation.inc();
    }
}

/// The text exposition of the default registry.
pub fn render() -> Vec<u8> {
    LazyLock::force(&METRICS);
    let mut out = Vec::new();
    // Encoding into a Vec only fails on malformed metric families, which registration rules out.
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    out
}
