//! The PostgreSQL backend, for several payglot instances sharing one database.
//!
//! Idempotency comes from unique constraints and `ON CONFLICT DO NOTHING`; instances share
//! the outbox through `FOR UPDATE SKIP LOCKED`. payglot creates and migrates its own schema
//! at startup, under an advisory lock so that instances starting together do not race.
//! Connections come from a small pool (deadpool-postgres) that drops closed connections, so
//! after an outage the next call connects afresh; while PostgreSQL is unreachable every call
//! fails fast with [`StoreError::Unavailable`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use time::OffsetDateTime;
use tokio_postgres::{NoTls, Row};

use super::types::{minus, plus, to_micros};
use super::{
    Claim, Enqueued, EventFilter, EventState, FailedAttempt, OutboxEvent, PaymentRecord,
    StoreBackend, StoreError, StoreResult,
};
use crate::config::store::PostgresConfig;

/// `pg_advisory_xact_lock` key held while migrating ("payglot" in ASCII).
const MIGRATION_LOCK: i64 = 0x0070_6179_676c_6f74;

/// Schema migrations, applied in order once each; append, never edit.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE payments (
    id BIGSERIAL PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    inbound_dialect TEXT NOT NULL,
    merchant_ref TEXT,
    route_id TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    upstream_dialect TEXT NOT NULL,
    upstream_payment_id TEXT NOT NULL,
    upstream_ref TEXT NOT NULL,
    echo BYTEA NOT NULL,
    callback_success_url TEXT,
    callback_failure_url TEXT,
    relay_token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (upstream_id, upstream_payment_id)
);
CREATE UNIQUE INDEX payments_merchant_ref ON payments (merchant_id, merchant_ref)
    WHERE merchant_ref IS NOT NULL;
CREATE INDEX payments_merchant_provider ON payments (merchant_id, upstream_payment_id);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, id DESC);

CREATE TABLE create_claims (
    merchant_id TEXT NOT NULL,
    merchant_ref TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    done BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (merchant_id, merchant_ref)
);

CREATE TABLE replay_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX replay_nonces_seen_at ON replay_nonces (seen_at);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    target_url TEXT NOT NULL,
    headers JSONB NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    last_status INTEGER,
    leased_until TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'failed');
CREATE INDEX outbox_created ON outbox (created_at DESC, id DESC);
"#];

const PAYMENT_COLUMNS: &str = "merchant_id, inbound_dialect, merchant_ref, route_id, \
    upstream_id, upstream_dialect, upstream_payment_id, upstream_ref, echo, \
    callback_success_url, callback_failure_url, relay_token, created_at, updated_at, status";

const EVENT_COLUMNS: &str = "id, merchant_id, target_url, headers::text, body, created_at, \
    next_attempt_at, attempts, state, last_error, last_status, leased_until";

/// Expired nonces are deleted at most this often per instance: each delete scans an index.
const NONCE_PRUNE_EVERY_MICROS: i64 = 1_000_000;

pub struct PostgresStore {
    pool: Pool,
    /// When expired nonces were last deleted, µs; throttles the delete.
    last_nonce_prune: AtomicI64,
}

impl PostgresStore {
    /// Builds the pool and migrates the schema; PostgreSQL must be reachable.
    pub async fn connect(config: &PostgresConfig) -> StoreResult<PostgresStore> {
        let mut pg: tokio_postgres::Config =
            config.url.expose().parse().map_err(|e| {
                StoreError::Internal(format!("not a PostgreSQL connection URL: {e}"))
            })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(config.connect_timeout);
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            // A call waits this long for a free connection, then reports the store busy.
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        let store = PostgresStore {
            pool,
            last_nonce_prune: AtomicI64::new(i64::MIN),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => classify(e),
            PoolError::Timeout(kind) => {
                StoreError::Unavailable(format!("PostgreSQL connection timed out ({kind:?})"))
            }
            other => StoreError::Unavailable(format!("PostgreSQL pool: {other}")),
        })
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(classify)?;
        tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(classify)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(classify)?;
        let current: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await
            .map_err(classify)?
            .try_get(0)
            .map_err(classify)?;
        let current = usize::try_from(current).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(StoreError::Internal(format!(
                "the database schema is version {current}, newer than this payglot knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.batch_execute(sql).await.map_err(classify)?;
            let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn payment_where(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Option<PaymentRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {condition} ORDER BY id DESC LIMIT 1"
        );
        let statement = client.prepare_cached(&sql).await.map_err(classify)?;
        let row = client
            .query_opt(&statement, params)
            .await
            .map_err(classify)?;
        row.map(|r| payment_from_row(&r)).transpose()
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(classify)?;
        client.execute(&statement, params).await.map_err(classify)
    }
}

/// Connection trouble and overload are [`StoreError::Unavailable`] (the caller answers 503);
/// anything else PostgreSQL refuses is a bug.
fn classify(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 08: connection exception; 53: insufficient resources; 57P: operator intervention
        // (shutdown, crash recovery); 40001/40P01: serialization failure, deadlock.
        let transient = code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "40001"
            || code == "40P01";
        return if transient {
            StoreError::Unavailable(format!("PostgreSQL: {e}"))
        } else {
            StoreError::Internal(format!("PostgreSQL: {e}"))
        };
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || e.to_string().contains("timed out") {
        StoreError::Unavailable(format!("PostgreSQL: {e}"))
    } else {
        StoreError::Internal(format!("PostgreSQL: {e}"))
    }
}

fn column<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i)
        .map_err(|e| StoreError::Internal(format!("PostgreSQL column {i}: {e}")))
}

fn payment_from_row(row: &Row) -> StoreResult<PaymentRecord> {
    Ok(PaymentRecord {
        merchant_id: column(row, 0)?,
        inbound_dialect: column(row, 1)?,
        merchant_ref: column(row, 2)?,
        route_id: column(row, 3)?,
        upstream_id: column(row, 4)?,
        upstream_dialect: column(row, 5)?,
        upstream_payment_id: column(row, 6)?,
        upstream_ref: column(row, 7)?,
        echo: column(row, 8)?,
        callback_success_url: column(row, 9)?,
        callback_failure_url: column(row, 10)?,
        relay_token: column(row, 11)?,
        created_at: column(row, 12)?,
        updated_at: column(row, 13)?,
        status: column(row, 14)?,
    })
}

fn event_from_row(row: &Row) -> StoreResult<OutboxEvent> {
    let headers: String = column(row, 3)?;
    let headers: Vec<(String, String)> = serde_json::from_str(&headers)
        .map_err(|e| StoreError::Internal(format!("corrupt outbox headers: {e}")))?;
    let state: String = column(row, 8)?;
    let state = EventState::from_name(&state)
        .ok_or_else(|| StoreError::Internal(format!("unknown outbox state {state:?}")))?;
    let attempts: i32 = column(row, 7)?;
    let last_status: Option<i32> = column(row, 10)?;
    Ok(OutboxEvent {
        id: column(row, 0)?,
        merchant_id: column(row, 1)?,
        target_url: column(row, 2)?,
        headers,
        body: column(row, 4)?,
        created_at: column(row, 5)?,
        next_attempt_at: column(row, 6)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        state,
        last_error: column(row, 9)?,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        leased_until: column(row, 11)?,
    })
}

fn clamp_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl StoreBackend for PostgresStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn claim_create(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
        now: OffsetDateTime,
        stale_after: Duration,
    ) -> StoreResult<Claim> {
        let cutoff = minus(now, stale_after);
        // Each round either decides or observed a change made by another claimer in between
        // (a claim abandoned or taken over); a few rounds settle any realistic race.
        for _ in 0..4 {
            let inserted = self
                .execute(
                    "INSERT INTO create_claims (merchant_id, merchant_ref, claimed_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&merchant_id, &merchant_ref, &now],
                )
                .await?;
            if inserted == 1 {
                return Ok(Claim::New);
            }
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT claimed_at, done FROM create_claims \
                     WHERE merchant_id = $1 AND merchant_ref = $2",
                )
                .await
                .map_err(classify)?;
            let Some(row) = client
                .query_opt(&statement, &[&merchant_id, &merchant_ref])
                .await
                .map_err(classify)?
            else {
                continue;
            };
            drop(client);
            let claimed_at: OffsetDateTime = column(&row, 0)?;
            let done: bool = column(&row, 1)?;
            if done {
                return match self.get_by_ref(merchant_id, merchant_ref).await? {
                    Some(record) => Ok(Claim::Done(Box::new(record))),
                    None => Err(StoreError::Internal(
                        "a create claim is done but its payment is missing".to_owned(),
                    )),
                };
            }
            if claimed_at > cutoff {
                return Ok(Claim::InProgress);
            }
            // Stale: take it over, unless another claimer did so first.
            let taken = self
                .execute(
                    "UPDATE create_claims SET claimed_at = $3 \
                     WHERE merchant_id = $1 AND merchant_ref = $2 \
                     AND claimed_at = $4 AND NOT done",
                    &[&merchant_id, &merchant_ref, &now, &claimed_at],
                )
                .await?;
            if taken == 1 {
                return Ok(Claim::New);
            }
        }
        Ok(Claim::InProgress)
    }

    async fn complete_create(&self, record: PaymentRecord) -> StoreResult<PaymentRecord> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(classify)?;
        let insert = format!(
            "INSERT INTO payments ({PAYMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT DO NOTHING RETURNING {PAYMENT_COLUMNS}"
        );
        let r = &record;
        let inserted = tx
            .query_opt(
                &insert,
                &[
                    &r.merchant_id,
                    &r.inbound_dialect,
                    &r.merchant_ref,
                    &r.route_id,
                    &r.upstream_id,
                    &r.upstream_dialect,
                    &r.upstream_payment_id,
                    &r.upstream_ref,
                    &r.echo,
                    &r.callback_success_url,
                    &r.callback_failure_url,
                    &r.relay_token,
                    &r.created_at,
                    &r.updated_at,
                    &r.status,
                ],
            )
            .await
            .map_err(classify)?;
        let stored = match inserted {
            Some(row) => payment_from_row(&row)?,
            None => {
                // Already recorded: the same payment, or another one under this reference.
                let select = format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments \
                     WHERE (upstream_id = $1 AND upstream_payment_id = $2) \
                     OR (merchant_id = $3 AND merchant_ref = $4) \
                     ORDER BY (upstream_id = $1 AND upstream_payment_id = $2) DESC LIMIT 1"
                );
                let existing = tx
                    .query_opt(
                        &select,
                        &[
                            &r.upstream_id,
                            &r.upstream_payment_id,
                            &r.merchant_id,
                            &r.merchant_ref,
                        ],
                    )
                    .await
                    .map_err(classify)?;
                match existing {
                    Some(row) => payment_from_row(&row)?,
                    None => {
                        return Err(StoreError::Conflict(
                            "relay token already belongs to another payment".to_owned(),
                        ));
                    }
                }
            }
        };
        if let Some(merchant_ref) = &r.merchant_ref {
            tx.execute(
                "INSERT INTO create_claims (merchant_id, merchant_ref, claimed_at, done) \
                 VALUES ($1, $2, $3, true) \
                 ON CONFLICT (merchant_id, merchant_ref) DO UPDATE SET done = true",
                &[&r.merchant_id, merchant_ref, &r.updated_at],
            )
            .await
            .map_err(classify)?;
        }
        // synchronous_commit (on by default) makes this durable when it returns.
        tx.commit().await.map_err(classify)?;
        Ok(stored)
    }

    async fn abandon_create(&self, merchant_id: &str, merchant_ref: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM create_claims WHERE merchant_id = $1 AND merchant_ref = $2 AND NOT done",
            &[&merchant_id, &merchant_ref],
        )
        .await
        .map(drop)
    }

    async fn get_by_provider_id(
        &self,
        merchant_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.payment_where(
            "merchant_id = $1 AND upstream_payment_id = $2",
            &[&merchant_id, &upstream_payment_id],
        )
        .await
    }

    async fn get_by_ref(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.payment_where(
            "merchant_id = $1 AND merchant_ref = $2",
            &[&merchant_id, &merchant_ref],
        )
        .await
    }

    async fn get_by_relay_token(&self, token: &str) -> StoreResult<Option<PaymentRecord>> {
        self.payment_where("relay_token = $1", &[&token]).await
    }

    async fn get_by_upstream(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.payment_where(
            "upstream_id = $1 AND upstream_payment_id = $2",
            &[&upstream_id, &upstream_payment_id],
        )
        .await
    }

    async fn list_by_merchant(
        &self,
        merchant_id: &str,
        limit: usize,
        offset: usize,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE merchant_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let statement = client.prepare_cached(&sql).await.map_err(classify)?;
        client
            .query(
                &statement,
                &[&merchant_id, &clamp_i64(limit), &clamp_i64(offset)],
            )
            .await
            .map_err(classify)?
            .iter()
            .map(payment_from_row)
            .collect()
    }

    async fn update_status(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
        status: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.execute(
            "UPDATE payments SET status = $3, updated_at = $4 \
             WHERE upstream_id = $1 AND upstream_payment_id = $2",
            &[&upstream_id, &upstream_payment_id, &status, &now],
        )
        .await
        .map(|n| n == 1)
    }

    async fn first_use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> StoreResult<bool> {
        let cutoff = minus(now, window);
        let now_us = to_micros(now);
        let last = self.last_nonce_prune.load(Ordering::Relaxed);
        if now_us.saturating_sub(last) >= NONCE_PRUNE_EVERY_MICROS
            && self
                .last_nonce_prune
                .compare_exchange(last, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.execute("DELETE FROM replay_nonces WHERE seen_at < $1", &[&cutoff])
                .await?;
        }
        // A nonce still stored but older than the window counts as new (not yet pruned).
        self.execute(
            "INSERT INTO replay_nonces (key_id, nonce, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at \
             WHERE replay_nonces.seen_at < $4",
            &[&key_id, &nonce, &now, &cutoff],
        )
        .await
        .map(|n| n == 1)
    }

    async fn enqueue_event(&self, event: OutboxEvent) -> StoreResult<Enqueued> {
        let headers = serde_json::to_string(&event.headers)
            .map_err(|e| StoreError::Internal(format!("cannot encode headers: {e}")))?;
        let attempts = i32::try_from(event.attempts).unwrap_or(i32::MAX);
        let last_status = event.last_status.map(i32::from);
        let inserted = self
            .execute(
                "INSERT INTO outbox (id, merchant_id, target_url, headers, body, created_at, \
                 next_attempt_at, attempts, state, last_error, last_status, leased_until) \
                 VALUES ($1, $2, $3, CAST($4::text AS jsonb), $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &event.id,
                    &event.merchant_id,
                    &event.target_url,
                    &headers,
                    &event.body,
                    &event.created_at,
                    &event.next_attempt_at,
                    &attempts,
                    &event.state.name(),
                    &event.last_error,
                    &last_status,
                    &event.leased_until,
                ],
            )
            .await?;
        Ok(if inserted == 1 {
            Enqueued::New
        } else {
            Enqueued::AlreadyQueued
        })
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let client = self.client().await?;
        // SKIP LOCKED: rows another instance is leasing right now are left to it.
        let sql = format!(
            "WITH due AS ( \
                SELECT id FROM outbox \
                WHERE state IN ('pending', 'failed') AND next_attempt_at <= $1 \
                AND (leased_until IS NULL OR leased_until <= $1) \
                ORDER BY next_attempt_at, id LIMIT $2 \
                FOR UPDATE SKIP LOCKED) \
             UPDATE outbox SET leased_until = $3 FROM due WHERE outbox.id = due.id \
             RETURNING {}",
            EVENT_COLUMNS
                .split(", ")
                .map(|c| format!("outbox.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let statement = client.prepare_cached(&sql).await.map_err(classify)?;
        let rows = client
            .query(&statement, &[&now, &clamp_i64(limit), &plus(now, lease)])
            .await
            .map_err(classify)?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        events.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(events)
    }

    async fn claim_event(
        &self,
        id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Option<(OutboxEvent, bool)>> {
        let client = self.client().await?;
        // One statement: of concurrent claimers on any instance, one updates the row.
        let sql = format!(
            "UPDATE outbox SET leased_until = $3 WHERE id = $1 \
             AND state <> 'delivered' \
             AND (leased_until IS NULL OR leased_until <= $2) RETURNING {EVENT_COLUMNS}"
        );
        let statement = client.prepare_cached(&sql).await.map_err(classify)?;
        if let Some(row) = client
            .query_opt(&statement, &[&id, &now, &plus(now, lease)])
            .await
            .map_err(classify)?
        {
            return Ok(Some((event_from_row(&row)?, true)));
        }
        let sql = format!("SELECT {EVENT_COLUMNS} FROM outbox WHERE id = $1");
        let statement = client.prepare_cached(&sql).await.map_err(classify)?;
        client
            .query_opt(&statement, &[&id])
            .await
            .map_err(classify)?
            .map(|row| event_from_row(&row).map(|event| (event, false)))
            .transpose()
    }

    async fn mark_delivered(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        self.execute(
            "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, \
             next_attempt_at = $2, leased_until = NULL, last_error = NULL WHERE id = $1",
            &[&id, &now],
        )
        .await
        .map(|n| n == 1)
    }

    async fn mark_failed(
        &self,
        id: &str,
        now: OffsetDateTime,
        attempt: FailedAttempt,
    ) -> StoreResult<bool> {
        let (state, next) = match attempt.next_attempt_at {
            Some(next) => (EventState::Failed, next),
            None => (EventState::Dead, now),
        };
        let status = attempt.status.map(i32::from);
        self.execute(
            "UPDATE outbox SET state = $2, attempts = attempts + 1, next_attempt_at = $3, \
             leased_until = NULL, last_error = $4, last_status = $5 WHERE id = $1",
            &[&id, &state.name(), &next, &attempt.error, &status],
        )
        .await
        .map(|n| n == 1)
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM outbox \
             WHERE ($1::text IS NULL OR merchant_id = $1) AND ($2::text IS NULL OR state = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let statement = client.prepare_cached(&sql).await.map_err(classify)?;
        let state = filter.state.map(EventState::name);
        client
            .query(
                &statement,
                &[&filter.merchant_id, &state, &clamp_i64(limit)],
            )
            .await
            .map_err(classify)?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn replay(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        self.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, leased_until = NULL \
             WHERE id = $1",
            &[&id, &now],
        )
        .await
        .map(|n| n == 1)
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let count: i64 = client
            .query_one(
                "SELECT count(*) FROM outbox WHERE state IN ('pending', 'failed')",
                &[],
            )
            .await
            .map_err(classify)?
            .try_get(0)
            .map_err(classify)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
