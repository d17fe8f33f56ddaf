//! The payment index as the proxy uses it. The store is opened on first use, not at start: a
//! PostgreSQL that is down when payglot starts, or goes away mid-run, makes requests that need
//! it answer 503 in the caller's dialect, and service resumes by itself when it returns.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::config::store::StoreConfig;
use crate::config::{LoadedConfig, Merchant, Upstream};
use crate::dialect::Dialect;
use crate::error::{ApiError, ErrorKind};
use crate::model::{CreatePayment, Payment};
use crate::routing::Target;
use crate::store::{PaymentRecord, Store, StoreError};

pub struct Index {
    config: StoreConfig,
    store: OnceCell<Store>,
}

/// How long a create may hold its claim on a reference before a retry may take it over (its
/// holder crashed or hung): longer than any create can take.
pub const CLAIM_STALE_AFTER: Duration = Duration::from_secs(120);

impl Index {
    /// `config` is read once: the store needs a restart to change.
    pub fn new(config: StoreConfig) -> Self {
        Index {
            config,
            store: OnceCell::new(),
        }
    }

    /// An index on a store already open (tools and benchmarks that bring their own backend);
    /// `config` is only described, never opened.
    pub fn with_store(config: StoreConfig, store: Store) -> Self {
        Index {
            config,
            store: OnceCell::new_with(Some(store)),
        }
    }

    /// The store, opened on first use; `StoreUnavailable` while it cannot be reached.
    pub async fn store(&self) -> Result<&Store, ApiError> {
        self.store
            .get_or_try_init(|| Store::open(&self.config))
            .await
            .map_err(unavailable)
    }
}

/// A store failure as the caller sees it: 503 when the store is unreachable (retry later),
/// 500 for anything else.
pub fn unavailable(error: StoreError) -> ApiError {
    if error.is_unavailable() {
        ApiError::new(
            ErrorKind::StoreUnavailable,
            "the payment index is unavailable; retry later",
        )
    } else {
        tracing::error!(error = %error, "payment index error");
        ApiError::new(ErrorKind::Internal, "the payment index failed")
    }
}

/// What the index keeps of a payment created through payglot.
pub struct NewRecord<'a> {
    pub merchant: &'a Merchant,
    pub dialect: Dialect,
    pub request: &'a CreatePayment,
    pub route: &'a str,
    pub upstream: &'a Upstream,
    pub payment: &'a Payment,
    /// The token in the payment's webhook relay URL (drawn before the create went upstream).
    pub relay_token: String,
}

impl NewRecord<'_> {
    pub fn into_record(self, now: OffsetDateTime) -> PaymentRecord {
        let merchant_ref = self.request.order_ref.clone();
        PaymentRecord {
            merchant_id: self.merchant.id.clone(),
            inbound_dialect: self.dialect.name().to_owned(),
            upstream_ref: self
                .payment
                .order_ref
                .clone()
                .or_else(|| merchant_ref.clone())
                .unwrap_or_default(),
            merchant_ref,
            route_id: self.route.to_owned(),
            upstream_id: self.upstream.id.clone(),
            upstream_dialect: self.upstream.dialect.name().to_owned(),
            upstream_payment_id: self.payment.provider_id.clone(),
            // The merchant's request as it meant it, to answer later lookups in its terms.
            echo: serde_json::to_vec(self.request).unwrap_or_default(),
            callback_success_url: self.request.callbacks.success.clone(),
            callback_failure_url: self.request.callbacks.failure.clone(),
            relay_token: self.relay_token,
            created_at: now,
            updated_at: now,
            status: self.payment.status.label().to_owned(),
        }
    }
}

/// The merchant's request as recorded at create.
pub fn recorded_request(record: &PaymentRecord) -> Option<CreatePayment> {
    serde_json::from_slice(&record.echo).ok()
}

/// Whether another merchant can reach `upstream` with the same account there as `merchant`:
/// then references, unique per account at the provider, must be made unique per merchant.
pub fn shares_account(config: &LoadedConfig, merchant: &Merchant, upstream: &Upstream) -> bool {
    let account = &merchant.credentials_for(upstream).key_id;
    config
        .merchants()
        .iter()
        .filter(|other| other.id != merchant.id)
        .any(|other| {
            other.credentials_for(upstream).key_id == *account && reaches(config, other, upstream)
        })
}

fn reaches(config: &LoadedConfig, merchant: &Merchant, upstream: &Upstream) -> bool {
    config.routes.routes().iter().any(|route| {
        let for_merchant = route
            .matcher
            .merchants
            .as_ref()
            .is_none_or(|list| list.contains(&merchant.id));
        let dialect = route
            .matcher
            .dialects
            .as_ref()
            .is_none_or(|list| list.contains(&merchant.dialect));
        let targets = match &route.target {
            Target::Single(id) => *id == upstream.id,
            Target::Split(arms) => arms.iter().any(|a| a.upstream == upstream.id),
        } || route.failover.contains(&upstream.id);
        for_merchant && dialect && targets
    })
}

/// The upstreams whose account only `merchant` can reach: its own credentials there, or no
/// routing rule that lets another merchant reach it. Only there can a payment missing from the
/// index be looked for without finding another merchant's.
pub fn exclusive_upstreams<'c>(config: &'c LoadedConfig, merchant: &Merchant) -> Vec<&'c Upstream> {
    config
        .upstreams()
        .iter()
        .filter(|upstream| reaches(config, merchant, upstream))
        .filter(|upstream| !shares_account(config, merchant, upstream))
        .collect()
}
