//! payglot's proxy, unchanged, on a payment index that keeps nothing: the baseline against
//! which scripts/bench-load.sh measures what the durable index costs a create (issue 10's
//! "create rate with the index ≥ 0.8× the rate without one").
//!
//! Not a way to run payglot: without the index a switched merchant cannot look a payment up,
//! no webhook finds its merchant, and a retried create is not recognised. Every create here is
//! claimed and "recorded" at once, and every lookup finds nothing.
//!
//! ```sh
//! cargo run --release --example no_index -- --config bench/payglot-translate.yaml
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clap::Parser;
use payglot::proxy::index::Index;
use payglot::store::{
    Claim, Enqueued, EventFilter, FailedAttempt, OutboxEvent, PaymentRecord, Store, StoreBackend,
    StoreResult,
};
use payglot::{app, config, serve};
use time::OffsetDateTime;

// The proxy's allocator, so that the comparison is with the proxy as it runs.
payglot::use_allocator!();

#[derive(Parser)]
#[command(about = "payglot's proxy on a payment index that keeps nothing (a benchmark baseline)")]
struct Args {
    /// The config, as for `payglot run`; its `store` section is ignored.
    #[arg(long)]
    config: PathBuf,
}

/// Keeps nothing and finds nothing.
struct NoIndex;

#[async_trait]
impl StoreBackend for NoIndex {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn claim_create(
        &self,
        _merchant_id: &str,
        _merchant_ref: &str,
        _now: OffsetDateTime,
        _stale_after: Duration,
    ) -> StoreResult<Claim> {
        Ok(Claim::New)
    }

    async fn complete_create(&self, record: PaymentRecord) -> StoreResult<PaymentRecord> {
        Ok(record)
    }

    async fn abandon_create(&self, _merchant_id: &str, _merchant_ref: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn get_by_provider_id(
        &self,
        _merchant_id: &str,
        _upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        Ok(None)
    }

    async fn get_by_ref(
        &self,
        _merchant_id: &str,
        _merchant_ref: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        Ok(None)
    }

    async fn get_by_relay_token(&self, _token: &str) -> StoreResult<Option<PaymentRecord>> {
        Ok(None)
    }

    async fn get_by_upstream(
        &self,
        _upstream_id: &str,
        _upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        Ok(None)
    }

    async fn list_by_merchant(
        &self,
        _merchant_id: &str,
        _limit: usize,
        _offset: usize,
    ) -> StoreResult<Vec<PaymentRecord>> {
        Ok(Vec::new())
    }

    async fn update_status(
        &self,
        _upstream_id: &str,
        _upstream_payment_id: &str,
        _status: &str,
        _now: OffsetDateTime,
    ) -> StoreResult<bool> {
        Ok(false)
    }

    async fn first_use_nonce(
        &self,
        _key_id: &str,
        _nonce: &str,
        _now: OffsetDateTime,
        _window: Duration,
    ) -> StoreResult<bool> {
        Ok(true)
    }

    async fn enqueue_event(&self, _event: OutboxEvent) -> StoreResult<Enqueued> {
        Ok(Enqueued::New)
    }

    async fn claim_due(
        &self,
        _now: OffsetDateTime,
        _limit: usize,
        _lease: Duration,
    ) -> StoreResult<Vec<OutboxEvent>> {
        Ok(Vec::new())
    }

    async fn claim_event(
        &self,
        _id: &str,
        _now: OffsetDateTime,
        _lease: Duration,
    ) -> StoreResult<Option<(OutboxEvent, bool)>> {
        Ok(None)
    }

    async fn mark_delivered(&self, _id: &str, _now: OffsetDateTime) -> StoreResult<bool> {
        Ok(false)
    }

    async fn mark_failed(
        &self,
        _id: &str,
        _now: OffsetDateTime,
        _attempt: FailedAttempt,
    ) -> StoreResult<bool> {
        Ok(false)
    }

    async fn list_events(
        &self,
        _filter: &EventFilter,
        _limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        Ok(Vec::new())
    }

    async fn replay(&self, _id: &str, _now: OffsetDateTime) -> StoreResult<bool> {
        Ok(false)
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        Ok(0)
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    // As `payglot run` logs: PAYGLOT_LOG's level, through the buffered stderr writer.
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYGLOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, _flush) = payglot::logwriter::buffered_stderr();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_writer(writer)
        .init();
    let loaded = config::load_file(&args.config).map_err(|errors| {
        format!(
            "{}: the config has errors:\n{errors}",
            args.config.display()
        )
    })?;
    let store = Store::from_backend(Arc::new(NoIndex), loaded.store.replay_window);
    let index = Arc::new(Index::with_store(loaded.store.clone(), store));
    let assembly = app::assemble_with_index(loaded, None, index);
    serve::run_until_signal(assembly.server_conf, assembly.services);
    Ok(())
}
