//! The durable payment index, idempotent-create claims, the replay guard and the webhook
//! outbox, behind one async API with two backends:
//!
//! - [`embedded`]: a redb file, for a single instance (the default);
//! - [`postgres`]: PostgreSQL, for several instances behind a load balancer.
//!
//! [`Store`] is the handle the rest of payglot uses: cheap to clone, `Send + Sync`, and it counts
//! every operation in the metrics. Both backends behave the same; `tests/store.rs` runs one
//! suite against each.
//!
//! Times are kept to the microsecond (PostgreSQL's precision), so a value read back equals the
//! value written truncated to whole microseconds.

pub mod embedded;
mod journal;
mod key_filter;
mod overlay;
pub mod postgres;
mod record;
mod types;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::config::store::{StoreBackendConfig, StoreConfig};
use crate::metrics::METRICS;

pub use types::{
    Claim, Enqueued, EventFilter, EventState, FailedAttempt, OutboxEvent, PaymentRecord, event_id,
    new_relay_token, truncate_to_micros,
};

/// What went wrong in the store, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or is overloaded (PostgreSQL down, pool exhausted, the
    /// writer stopped). Transient: the proxy answers 503 and the next call may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The write contradicts what is stored (e.g. a relay token already used by another
    /// payment): a bug in the caller.
    #[error("store conflict: {0}")]
    Conflict(String),
    /// Anything else: corrupt data, a failed migration, a query error. A bug, not a blip.
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether the caller should answer 503 and let the client retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// The metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Conflict(_) => "conflict",
            StoreError::Internal(_) => "internal",
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What each backend implements. Callers use [`Store`], which wraps one of these.
#[async_trait]
pub trait StoreBackend: Send + Sync {
    /// `embedded` or `postgres`: the metric label.
    fn name(&self) -> &'static str;

    /// See [`Store::claim_create`].
    async fn claim_create(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
        now: OffsetDateTime,
        stale_after: Duration,
    ) -> StoreResult<Claim>;
    /// See [`Store::complete_create`].
    async fn complete_create(&self, record: PaymentRecord) -> StoreResult<PaymentRecord>;
    /// See [`Store::abandon_create`].
    async fn abandon_create(&self, merchant_id: &str, merchant_ref: &str) -> StoreResult<()>;
    async fn get_by_provider_id(
        &self,
        merchant_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>>;
    async fn get_by_ref(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
    ) -> StoreResult<Option<PaymentRecord>>;
    async fn get_by_relay_token(&self, token: &str) -> StoreResult<Option<PaymentRecord>>;
    async fn get_by_upstream(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>>;
    async fn list_by_merchant(
        &self,
        merchant_id: &str,
        limit: usize,
        offset: usize,
    ) -> StoreResult<Vec<PaymentRecord>>;
    async fn update_status(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
        status: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn first_use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> StoreResult<bool>;
    async fn enqueue_event(&self, event: OutboxEvent) -> StoreResult<Enqueued>;
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// See [`Store::claim_event`].
    async fn claim_event(
        &self,
        id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Option<(OutboxEvent, bool)>>;
    async fn mark_delivered(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool>;
    async fn mark_failed(
        &self,
        id: &str,
        now: OffsetDateTime,
        attempt: FailedAttempt,
    ) -> StoreResult<bool>;
    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>>;
    async fn replay(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool>;
    async fn outbox_depth(&self) -> StoreResult<u64>;
}

/// The store handle: one backend, shared. Clone it freely.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn StoreBackend>,
    /// How long a nonce is remembered by [`Store::first_use_nonce_in_window`].
    replay_window: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .field("replay_window", &self.replay_window)
            .finish()
    }
}

impl Store {
    /// Opens the configured backend: creates or opens the redb file, or connects to
    /// PostgreSQL and migrates its schema (PostgreSQL must be reachable at startup).
    pub async fn open(config: &StoreConfig) -> StoreResult<Store> {
        let backend: Arc<dyn StoreBackend> = match &config.backend {
            StoreBackendConfig::Embedded { path, cache_mib } => {
                let path = path.clone();
                let cache_bytes = usize::try_from(*cache_mib)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1024 * 1024);
                let store = tokio::task::spawn_blocking(move || {
                    embedded::EmbeddedStore::open_with_cache(&path, cache_bytes)
                })
                .await
                .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))??;
                Arc::new(store)
            }
            StoreBackendConfig::Postgres(pg) => {
                Arc::new(postgres::PostgresStore::connect(pg).await?)
            }
        };
        Ok(Store::from_backend(backend, config.replay_window))
    }

    /// Wraps a backend (tests and tools build one directly).
    pub fn from_backend(backend: Arc<dyn StoreBackend>, replay_window: Duration) -> Store {
        METRICS.prime_store(backend.name());
        Store {
            backend,
            replay_window,
        }
    }

    /// `embedded` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Claims the right to create the payment `merchant_ref` for `merchant_id`. Exactly one of
    /// any number of concurrent claimers (across processes, with PostgreSQL) gets
    /// [`Claim::New`]; it must create the payment upstream, then call
    /// [`Store::complete_create`] or, on failure, [`Store::abandon_create`]. A claim older than
    /// `stale_after` that was never completed is taken over (its holder crashed).
    pub async fn claim_create(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
        now: OffsetDateTime,
        stale_after: Duration,
    ) -> StoreResult<Claim> {
        self.observe(
            "claim_create",
            self.backend
                .claim_create(merchant_id, merchant_ref, now, stale_after),
        )
        .await
    }

    /// Records a created payment and releases its claim; durable (fsync'd) before it returns.
    /// When the payment (same upstream and upstream id), or another payment with the same
    /// merchant reference, is already recorded, nothing is written and the stored record is
    /// returned. A relay token already used by another payment is a [`StoreError::Conflict`].
    pub async fn complete_create(&self, record: PaymentRecord) -> StoreResult<PaymentRecord> {
        self.observe("complete_create", self.backend.complete_create(record))
            .await
    }

    /// Releases a claim whose create failed, so that a retry can claim again at once.
    pub async fn abandon_create(&self, merchant_id: &str, merchant_ref: &str) -> StoreResult<()> {
        self.observe(
            "abandon_create",
            self.backend.abandon_create(merchant_id, merchant_ref),
        )
        .await
    }

    /// The merchant's payment with this provider payment id (the newest, should two
    /// upstreams have used the same id).
    pub async fn get_by_provider_id(
        &self,
        merchant_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.observe(
            "get_by_provider_id",
            self.backend
                .get_by_provider_id(merchant_id, upstream_payment_id),
        )
        .await
    }

    /// The merchant's payment with this reference.
    pub async fn get_by_ref(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.observe(
            "get_by_ref",
            self.backend.get_by_ref(merchant_id, merchant_ref),
        )
        .await
    }

    /// The payment whose webhook relay URL carries `token`.
    pub async fn get_by_relay_token(&self, token: &str) -> StoreResult<Option<PaymentRecord>> {
        self.observe("get_by_relay_token", self.backend.get_by_relay_token(token))
            .await
    }

    /// The payment an upstream knows by `upstream_payment_id` (for its webhooks).
    pub async fn get_by_upstream(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.observe(
            "get_by_upstream",
            self.backend
                .get_by_upstream(upstream_id, upstream_payment_id),
        )
        .await
    }

    /// The merchant's payments, newest first.
    pub async fn list_by_merchant(
        &self,
        merchant_id: &str,
        limit: usize,
        offset: usize,
    ) -> StoreResult<Vec<PaymentRecord>> {
        self.observe(
            "list_by_merchant",
            self.backend.list_by_merchant(merchant_id, limit, offset),
        )
        .await
    }

    /// Sets the last known canonical status; `false` when no such payment is recorded.
    pub async fn update_status(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
        status: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.observe(
            "update_status",
            self.backend
                .update_status(upstream_id, upstream_payment_id, status, now),
        )
        .await
    }

    /// `true` the first time `nonce` is seen for `key_id` within `window`; `false` for a
    /// replay. Entries older than the window are forgotten, so the guard stays bounded.
    pub async fn first_use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> StoreResult<bool> {
        self.observe(
            "first_use_nonce",
            self.backend.first_use_nonce(key_id, nonce, now, window),
        )
        .await
    }

    /// [`Store::first_use_nonce`] with the configured `store.replay_window_secs`.
    pub async fn first_use_nonce_in_window(
        &self,
        key_id: &str,
        nonce: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.first_use_nonce(key_id, nonce, now, self.replay_window)
            .await
    }

    /// Queues a webhook for delivery; a second event with the same id is not queued again.
    pub async fn enqueue_event(&self, event: OutboxEvent) -> StoreResult<Enqueued> {
        self.observe("enqueue_event", self.backend.enqueue_event(event))
            .await
    }

    /// Up to `limit` due events (pending or failed, `next_attempt_at <= now`, not leased),
    /// oldest due first, each leased until `now + lease` so that no other claimer gets it
    /// meanwhile. A lease that runs out (the deliverer died) makes the event due again.
    pub async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Vec<OutboxEvent>> {
        self.observe("claim_due", self.backend.claim_due(now, limit, lease))
            .await
    }

    /// Leases one event for an immediate attempt (a provider redelivering the notification it
    /// is about), whether or not it is due yet and even when out of retries (the provider's
    /// retry revives it): the event as stored and `true` when the caller now holds its lease;
    /// `false` when it is delivered or leased by someone else. `None` when there is no such
    /// event.
    pub async fn claim_event(
        &self,
        id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Option<(OutboxEvent, bool)>> {
        self.observe("claim_event", self.backend.claim_event(id, now, lease))
            .await
    }

    /// The merchant accepted the event; `false` when there is no such event.
    pub async fn mark_delivered(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        self.observe("mark_delivered", self.backend.mark_delivered(id, now))
            .await
    }

    /// A delivery attempt failed: schedule the next one, or give up (`dead`).
    pub async fn mark_failed(
        &self,
        id: &str,
        now: OffsetDateTime,
        attempt: FailedAttempt,
    ) -> StoreResult<bool> {
        self.observe("mark_failed", self.backend.mark_failed(id, now, attempt))
            .await
    }

    /// Events matching `filter`, newest first.
    pub async fn list_events(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        self.observe("list_events", self.backend.list_events(filter, limit))
            .await
    }

    /// Makes an event due now whatever its state (`payglot webhooks replay`); `false` when
    /// there is no such event.
    pub async fn replay(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        self.observe("replay", self.backend.replay(id, now)).await
    }

    /// Events still to deliver (pending or failed, leased or not).
    pub async fn outbox_depth(&self) -> StoreResult<u64> {
        self.observe("outbox_depth", self.backend.outbox_depth())
            .await
    }

    async fn observe<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let started = Instant::now();
        let result = call.await;
        let backend = self.backend.name();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        METRICS
            .store_operations
            .with_label_values(&[op, backend, outcome])
            .inc();
        METRICS
            .store_latency
            .with_label_values(&[op, backend])
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            METRICS
                .store_errors
                .with_label_values(&[backend, e.kind()])
                .inc();
            tracing::warn!(op, backend, error = %e, "store operation failed");
        }
        result
    }
}
