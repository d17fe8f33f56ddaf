//! `payglot webhooks list|replay|listen`: the operator's view of the outbox, and a receiver to
//! try the relay with.

use std::net::SocketAddr;

use time::OffsetDateTime;

use crate::config::LoadedConfig;
use crate::dialect::Dialect;
use crate::secret::Credentials;
use crate::store::{EventFilter, EventState, Store};

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

async fn open(config: &LoadedConfig) -> Result<Store, String> {
    Store::open(&config.store)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))
}

/// Prints the newest outbox events, one line each, optionally only one merchant's or state's.
pub fn list(
    config: &LoadedConfig,
    merchant: Option<String>,
    state: Option<&str>,
    limit: usize,
) -> Result<String, String> {
    let state = state
        .map(|s| {
            EventState::from_name(s)
                .ok_or_else(|| format!("unknown state {s} (pending, failed, delivered or dead)"))
        })
        .transpose()?;
    let filter = EventFilter {
        merchant_id: merchant,
        state,
    };
    runtime()?.block_on(async {
        let store = open(config).await?;
        let events = store
            .list_events(&filter, limit)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = String::new();
        for e in events {
            out.push_str(&format!(
                "{id}  {state:<9}  merchant={merchant}  attempts={attempts}  next={next}  url={url}{last}\n",
                id = e.id,
                state = e.state.name(),
                merchant = e.merchant_id,
                attempts = e.attempts,
                next = e.next_attempt_at,
                url = e.target_url,
                last = match (e.last_status, &e.last_error) {
                    (_, Some(error)) => format!("  last_error={error}"),
                    (Some(status), None) => format!("  last_status={status}"),
                    _ => String::new(),
                },
            ));
        }
        Ok(out)
    })
}

/// Makes one event due now, whatever its state; the running payglot's worker sends it.
pub fn replay(config: &LoadedConfig, id: &str) -> Result<String, String> {
    runtime()?.block_on(async {
        let store = open(config).await?;
        match store.replay(id, OffsetDateTime::now_utc()).await {
            Ok(true) => Ok(format!("{id}: queued for delivery now\n")),
            Ok(false) => Err(format!("no event {id}")),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// Receives webhooks on `port` (loopback) as a `dialect` merchant with `credentials`, printing
/// each, until `count` arrived (forever without).
pub fn listen(
    port: u16,
    dialect: Dialect,
    credentials: Credentials,
    count: Option<usize>,
) -> Result<(), String> {
    runtime()?.block_on(async {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on http://{bound}/ as a {dialect} merchant");
        super::listen::serve(listener, dialect, credentials, count, |received| {
            print!("{}", received.report(dialect));
        })
        .await
        .map_err(|e| e.to_string())
    })
}
