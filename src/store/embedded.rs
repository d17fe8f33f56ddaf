//! The embedded backend: one redb file, for a single payglot instance.
//!
//! redb allows one write transaction at a time. So that many concurrent creates do not queue
//! for one commit each, every write goes through one writer thread that drains all the writes
//! waiting in its channel, applies them in one transaction, commits once and only then answers
//! each caller (group commit). Reads run against their own snapshot and never wait for the
//! writer.
//!
//! The writes on the request path (a create's record, a status change, an Apollo nonce) are
//! made durable by the write-ahead journal ([`super::journal`], the file `<path>-wal`): the
//! batch is committed to redb without an fsync and its redo entries are appended to the
//! journal with one `fdatasync` of a sequential write, before anyone is answered. A durable
//! redb commit (a checkpoint) every [`CHECKPOINT_INTERVAL`] under load, when the journal holds
//! [`CHECKPOINT_BYTES`], when the writer is idle, and for every other write (the webhook
//! outbox's), persists everything before it and starts a new journal epoch. Opening the file
//! after a crash applies the journal's entries again on top of the last checkpoint, so an
//! answered create is never lost. A flush of B-tree pages spread over the file costs the disk
//! several times what one sequential append does (BENCHMARKS.md). When writes come in
//! together, the writer waits [`GATHER`] before it commits, so that more of them share it.
//!
//! Create claims live in memory: only this process can open the file, and a claim lost in a
//! crash is exactly a stale claim, so persisting them would cost an fsync for nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::journal::{self, Journal};
use super::types::{from_micros, minus, plus, to_micros};
use super::{
    Claim, Enqueued, EventFilter, EventState, FailedAttempt, OutboxEvent, PaymentRecord,
    StoreBackend, StoreError, StoreResult,
};
use crate::metrics::METRICS;

/// Payment id (insertion sequence) -> the record as JSON.
const PAYMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("payments");
/// (upstream id, upstream payment id) -> payment id. Unique.
const BY_UPSTREAM: TableDefinition<(&str, &str), u64> = TableDefinition::new("by_upstream");
/// (merchant id, upstream payment id, payment id) -> ().
const BY_MERCHANT_PROVIDER: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("by_merchant_provider");
/// (merchant id, merchant reference) -> payment id. Unique.
const BY_REF: TableDefinition<(&str, &str), u64> = TableDefinition::new("by_ref");
/// Relay token -> payment id. Unique.
const BY_TOKEN: TableDefinition<&str, u64> = TableDefinition::new("by_token");
/// (merchant id, created_at µs, payment id) -> (), for newest-first listing.
const BY_MERCHANT_TIME: TableDefinition<(&str, i64, u64), ()> =
    TableDefinition::new("by_merchant_time");
/// (key id, nonce) -> first seen, µs.
const NONCES: TableDefinition<(&str, &str), i64> = TableDefinition::new("nonces");
/// (first seen µs, key id, nonce) -> (), for pruning by age.
const NONCE_TIMES: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("nonce_times");
/// Event id -> the event as JSON.
const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("events");
/// (due µs, event id) -> () for pending and failed events only; due is the later of
/// `next_attempt_at` and the lease's end.
const EVENTS_DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("events_due");
/// (created_at µs, event id) -> (), for newest-first listing.
const EVENTS_TIME: TableDefinition<(i64, &str), ()> = TableDefinition::new("events_time");
/// Bookkeeping: [`JOURNAL_EPOCH`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The journal epoch whose entries come after the last durable commit.
const JOURNAL_EPOCH: &str = "journal_epoch";

/// Memory redb may hold as its page cache (read cache and write buffer together). redb's
/// default, 1 GiB, grows the process with the index (about 3 KB per payment) until it is
/// full: the soak (docs/soak.md) saw +120 MiB in four minutes. Older pages are read from the
/// file, through the OS page cache.
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The most writes committed together; bounds one transaction's size and latency.
const MAX_BATCH: usize = 512;
/// The most expired nonces removed per write, so pruning never makes one write slow.
const MAX_NONCE_PRUNE: usize = 256;
/// A checkpoint at least this often while writes come in: bounds what a restart replays and
/// how long one checkpoint holds the writer (it flushes every page changed since the last
/// one). Longer ones lowered the p99 on tmpfs in quick load runs but lengthened the stalls on
/// disk (p99.9 78–90 ms at 3 s against 36–46 ms at 250 ms, BENCHMARKS.md).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// A checkpoint once the journal holds this much, so it stays within its preallocated size.
const CHECKPOINT_BYTES: u64 = journal::PREALLOCATE_BYTES / 2;
/// How long the writer waits for more writes to join a commit when the last one had company.
/// Part of a commit's cost is per commit, not per write: in the load benchmark batches grow
/// from about 5 writes to about 12 and the writer's CPU per create drops by about a tenth, for
/// at most this much latency. A lone write (the last commit had no company) never waits.
const GATHER: Duration = Duration::from_micros(150);
/// A checkpoint after this long without a write, so that a quiet store has an empty journal.
const IDLE_CHECKPOINT: Duration = Duration::from_millis(50);

pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    /// (merchant id, reference) -> when claimed.
    claims: Mutex<HashMap<(String, String), OffsetDateTime>>,
    /// Joined on drop, so that the file is closed when the last handle goes.
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedStore {
    /// Creates or opens the file (recovering it after a crash: redb's last durable commit,
    /// then the journal's entries after it) and starts the writer thread, which ends when the
    /// store is dropped.
    pub fn open(path: &Path) -> StoreResult<EmbeddedStore> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    fn open_with_cache(path: &Path, cache_bytes: usize) -> StoreResult<EmbeddedStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        // Read transactions need every table to exist.
        let txn = db.begin_write().map_err(internal)?;
        txn.open_table(PAYMENTS).map_err(internal)?;
        txn.open_table(BY_UPSTREAM).map_err(internal)?;
        txn.open_table(BY_MERCHANT_PROVIDER).map_err(internal)?;
        txn.open_table(BY_REF).map_err(internal)?;
        txn.open_table(BY_TOKEN).map_err(internal)?;
        txn.open_table(BY_MERCHANT_TIME).map_err(internal)?;
        txn.open_table(NONCES).map_err(internal)?;
        txn.open_table(NONCE_TIMES).map_err(internal)?;
        txn.open_table(EVENTS).map_err(internal)?;
        txn.open_table(EVENTS_DUE).map_err(internal)?;
        txn.open_table(EVENTS_TIME).map_err(internal)?;
        let epoch = {
            let meta = txn.open_table(META).map_err(internal)?;
            meta.get(JOURNAL_EPOCH)
                .map_err(internal)?
                .map_or(0, |g| g.value())
        };
        txn.commit().map_err(internal)?;

        let db = Arc::new(db);
        let journal_path = journal::path_for(path);
        let (journal, entries) = Journal::open(&journal_path, epoch).map_err(|e| {
            StoreError::Unavailable(format!("cannot open {}: {e}", journal_path.display()))
        })?;
        let mut writer = Writer {
            db: Arc::clone(&db),
            journal: Some(journal),
            journal_path: journal_path.clone(),
            epoch,
            last_checkpoint: Instant::now(),
        };
        if !entries.is_empty() {
            writer.recover(&entries)?;
            tracing::info!(
                entries = entries.len(),
                journal = %journal_path.display(),
                "payment index: journaled writes applied again after an unclean stop"
            );
        }

        let (sender, jobs) = mpsc::channel();
        let writer_thread = std::thread::Builder::new()
            .name("payglot-store-writer".to_owned())
            .spawn(move || writer.run(jobs))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(EmbeddedStore {
            db,
            writer: sender,
            claims: Mutex::new(HashMap::new()),
            writer_thread: Some(writer_thread),
        })
    }

    /// Runs `apply` in the next group commit and answers once that commit is durable.
    /// `redo`, when given, is the journal entry that applies the same write again after a
    /// crash (`redo_create`, `redo_json`); a write without one is made durable by a checkpoint.
    async fn write<R: Send + 'static>(
        &self,
        redo: Option<Vec<u8>>,
        apply: impl FnOnce(&WriteTransaction) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            apply: Some(apply),
            redo,
            result: None,
            reply,
        };
        self.writer
            .send(Box::new(job))
            .map_err(|_| StoreError::Unavailable("the store writer has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the store writer stopped before answering".to_owned())
        })?
    }

    /// Runs `read` on a fresh snapshot, off the async worker (a cache miss reads the disk).
    async fn read<R: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(internal)?;
            read(&txn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store read task failed: {e}")))?
    }

    fn lock_claims(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), OffsetDateTime>> {
        // A panic while holding the lock cannot leave the map half-changed (each use is one
        // insert or remove), so a poisoned lock is still sound to use.
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has answered what it holds and made it
        // durable (nobody is left to send more: this was the last handle).
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.writer, closed));
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

/// One write waiting for the next group commit.
trait WriteJob: Send {
    /// Applies the write. An `Err` aborts the whole batch: the transaction may be half
    /// changed. Answers that must not abort the batch (a conflict) are kept as the result.
    fn apply(&mut self, txn: &WriteTransaction) -> StoreResult<()>;
    /// The journal entry that applies this write again, if it has one.
    fn redo(&self) -> Option<&[u8]>;
    /// Answers the caller with its result once the commit's outcome is known.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
}

struct Job<R, F> {
    apply: Option<F>,
    redo: Option<Vec<u8>>,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<R: Send, F: FnOnce(&WriteTransaction) -> StoreResult<R> + Send> WriteJob for Job<R, F> {
    fn apply(&mut self, txn: &WriteTransaction) -> StoreResult<()> {
        let Some(apply) = self.apply.take() else {
            return Ok(());
        };
        match apply(txn) {
            Err(e) if !matches!(e, StoreError::Conflict(_)) => Err(e),
            result => {
                self.result = Some(result);
                Ok(())
            }
        }
    }

    fn redo(&self) -> Option<&[u8]> {
        self.redo.as_deref()
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        let answer = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Internal("a write was not applied".to_owned())),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(answer);
    }
}

/// The writer thread's state: the database, and the journal that makes its non-durable
/// commits durable.
struct Writer {
    db: Arc<Database>,
    /// `None` after the journal failed: every commit is then a durable one until a
    /// checkpoint manages to restart it.
    journal: Option<Journal>,
    journal_path: std::path::PathBuf,
    /// The epoch the last durable commit recorded; the journal's entries belong to it.
    epoch: u64,
    last_checkpoint: Instant,
}

impl Writer {
    fn run(mut self, jobs: mpsc::Receiver<Box<dyn WriteJob>>) {
        let mut gather = false;
        loop {
            let first = if self.journal_holds_entries() {
                match jobs.recv_timeout(IDLE_CHECKPOINT) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.checkpoint_now("idle");
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            if gather {
                // Others are writing too: let more of them join this commit.
                std::thread::sleep(GATHER);
            }
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            gather = batch.len() > 1;
            let outcome = self.commit_batch(&mut batch);
            for job in batch {
                job.finish(outcome.clone());
            }
        }
        // Closed: leave nothing for the next open to replay.
        if self.journal_holds_entries() {
            self.checkpoint_now("close");
        }
    }

    fn journal_holds_entries(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.entry_bytes() > 0)
    }

    /// Why the next commit must be a checkpoint, if it must.
    fn checkpoint_due(&self) -> Option<&'static str> {
        let journal = match &self.journal {
            None => return Some("fallback"),
            Some(j) => j,
        };
        if journal.entry_bytes() >= CHECKPOINT_BYTES {
            Some("size")
        } else if journal.entry_bytes() > 0 && self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
        {
            Some("interval")
        } else {
            None
        }
    }

    fn commit_batch(&mut self, batch: &mut [Box<dyn WriteJob>]) -> StoreResult<()> {
        let checkpoint = self
            .checkpoint_due()
            .or_else(|| (!batch.iter().all(|job| job.redo().is_some())).then_some("write"));
        let mut txn = self.db.begin_write().map_err(internal)?;
        if checkpoint.is_none() {
            txn.set_durability(Durability::None).map_err(internal)?;
        }
        for job in batch.iter_mut() {
            if let Err(e) = job.apply(&txn) {
                // Dropping an uncommitted transaction rolls it back.
                drop(txn.abort());
                return Err(e);
            }
        }
        if let Some(reason) = checkpoint {
            return self.commit_checkpoint(txn, reason);
        }
        let Some(journal) = self.journal.as_mut() else {
            return self.commit_checkpoint(txn, "fallback");
        };
        let from = journal.end();
        if let Err(e) = journal.append(batch.iter().filter_map(|job| job.redo())) {
            tracing::error!(error = %e, journal = %journal.path().display(),
                "payment index journal write failed; committing durably instead");
            self.journal_failed();
            txn.set_durability(Durability::Immediate)
                .map_err(internal)?;
            return self.commit_checkpoint(txn, "fallback");
        }
        if let Err(e) = txn.commit() {
            if let Err(undo) = journal.take_back(batch.len() as u64, from) {
                tracing::error!(error = %undo, "payment index journal: cannot take back a failed commit's entries");
                self.journal_failed();
            }
            return Err(internal(e));
        }
        Ok(())
    }

    /// Stops journaling: every commit is durable until a checkpoint restarts the journal.
    fn journal_failed(&mut self) {
        self.journal = None;
        METRICS
            .store_errors
            .with_label_values(&["embedded", "journal"])
            .inc();
    }

    /// Commits `txn` durably, recording the next epoch in it: everything journaled so far is
    /// then in the file, and the journal starts over.
    fn commit_checkpoint(&mut self, txn: WriteTransaction, reason: &str) -> StoreResult<()> {
        let started = Instant::now();
        let next = self.epoch + 1;
        txn.open_table(META)
            .map_err(internal)?
            .insert(JOURNAL_EPOCH, next)
            .map_err(internal)?;
        // Durability::Immediate (the default): fsync'd when this returns.
        txn.commit().map_err(internal)?;
        self.epoch = next;
        self.last_checkpoint = Instant::now();
        self.restart_journal();
        METRICS
            .store_checkpoints
            .with_label_values(&[reason])
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Starts the journal's next epoch, or opens it again after it failed.
    fn restart_journal(&mut self) {
        let restarted = match self.journal.as_mut() {
            Some(journal) => journal.restart(self.epoch),
            None => Journal::open(&self.journal_path, self.epoch).map(|(journal, _)| {
                tracing::info!("payment index journal writable again");
                self.journal = Some(journal);
            }),
        };
        if let Err(e) = restarted {
            tracing::error!(error = %e, "payment index journal cannot start a new epoch; committing durably instead");
            self.journal_failed();
        }
    }

    /// A checkpoint on its own (the writer is idle, or closing).
    fn checkpoint_now(&mut self, reason: &str) {
        let done = self
            .db
            .begin_write()
            .map_err(internal)
            .and_then(|txn| self.commit_checkpoint(txn, reason));
        if let Err(e) = done {
            // The journal still holds the writes; the next checkpoint tries again.
            tracing::error!(error = %e, "payment index checkpoint failed");
        }
    }

    /// Applies the journal's entries again, in order, on top of the last durable commit, and
    /// makes the result durable.
    fn recover(&mut self, entries: &[Vec<u8>]) -> StoreResult<()> {
        let txn = self.db.begin_write().map_err(internal)?;
        for (n, entry) in entries.iter().enumerate() {
            match apply_redo(&txn, entry) {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => {
                    drop(txn.abort());
                    return Err(StoreError::Internal(format!(
                        "journal entry {n} of epoch {} cannot be applied again: {e}",
                        self.epoch
                    )));
                }
            }
        }
        self.commit_checkpoint(txn, "recovery")
    }
}

/// Records a created payment, or finds the one already recorded under its upstream key or
/// merchant reference (`Some`, and nothing changes); `encoded` is `record` as stored.
fn insert_payment(
    txn: &WriteTransaction,
    record: &PaymentRecord,
    encoded: &[u8],
) -> StoreResult<Option<PaymentRecord>> {
    let mut payments = txn.open_table(PAYMENTS).map_err(internal)?;
    let mut by_upstream = txn.open_table(BY_UPSTREAM).map_err(internal)?;
    let mut by_ref = txn.open_table(BY_REF).map_err(internal)?;
    let mut by_token = txn.open_table(BY_TOKEN).map_err(internal)?;
    // All checks before any change: a refused write must leave nothing behind.
    let upstream_key = (
        record.upstream_id.as_str(),
        record.upstream_payment_id.as_str(),
    );
    if let Some(id) = by_upstream.get(upstream_key).map_err(internal)? {
        return payment_by_id(&payments, id.value())?
            .map(Some)
            .ok_or_else(|| StoreError::Internal("vanished payment".to_owned()));
    }
    if let Some(r) = &record.merchant_ref
        && let Some(id) = by_ref
            .get((record.merchant_id.as_str(), r.as_str()))
            .map_err(internal)?
    {
        return payment_by_id(&payments, id.value())?
            .map(Some)
            .ok_or_else(|| StoreError::Internal("vanished payment".to_owned()));
    }
    if by_token
        .get(record.relay_token.as_str())
        .map_err(internal)?
        .is_some()
    {
        return Err(StoreError::Conflict(
            "relay token already belongs to another payment".to_owned(),
        ));
    }
    let id = match payments.last().map_err(internal)? {
        Some((last, _)) => last.value() + 1,
        None => 1,
    };
    payments.insert(id, encoded).map_err(internal)?;
    by_upstream.insert(upstream_key, id).map_err(internal)?;
    if let Some(r) = &record.merchant_ref {
        by_ref
            .insert((record.merchant_id.as_str(), r.as_str()), id)
            .map_err(internal)?;
    }
    by_token
        .insert(record.relay_token.as_str(), id)
        .map_err(internal)?;
    txn.open_table(BY_MERCHANT_PROVIDER)
        .map_err(internal)?
        .insert(
            (
                record.merchant_id.as_str(),
                record.upstream_payment_id.as_str(),
                id,
            ),
            (),
        )
        .map_err(internal)?;
    txn.open_table(BY_MERCHANT_TIME)
        .map_err(internal)?
        .insert(
            (
                record.merchant_id.as_str(),
                to_micros(record.created_at),
                id,
            ),
            (),
        )
        .map_err(internal)?;
    // Recorded now; `None` for "this record".
    Ok(None)
}

/// A payment's new status, as the journal holds it.
#[derive(Serialize, Deserialize)]
struct StatusChange {
    upstream_id: String,
    upstream_payment_id: String,
    status: String,
    at_us: i64,
}

/// Sets a recorded payment's status; `false` when no payment has that upstream key.
fn set_status(txn: &WriteTransaction, change: &StatusChange) -> StoreResult<bool> {
    let by_upstream = txn.open_table(BY_UPSTREAM).map_err(internal)?;
    let Some(id) = by_upstream
        .get((
            change.upstream_id.as_str(),
            change.upstream_payment_id.as_str(),
        ))
        .map_err(internal)?
        .map(|g| g.value())
    else {
        return Ok(false);
    };
    let mut payments = txn.open_table(PAYMENTS).map_err(internal)?;
    let Some(mut record) = payment_by_id(&payments, id)? else {
        return Ok(false);
    };
    record.status.clone_from(&change.status);
    record.updated_at = from_micros(change.at_us);
    payments
        .insert(id, encode_payment(&record)?.as_slice())
        .map_err(internal)?;
    Ok(true)
}

/// A nonce's use, as the journal holds it: the window's start is fixed when it is used, so
/// that applying it again decides the same.
#[derive(Serialize, Deserialize)]
struct NonceUse {
    key_id: String,
    nonce: String,
    at_us: i64,
    cutoff_us: i64,
}

/// Records a nonce's use; `false` when it was already used within the window. Forgets, a
/// bounded number per call, the nonces that have left the window.
fn use_nonce(txn: &WriteTransaction, used: &NonceUse) -> StoreResult<bool> {
    let cutoff = used.cutoff_us;
    let (key_id, nonce) = (used.key_id.as_str(), used.nonce.as_str());
    let mut nonces = txn.open_table(NONCES).map_err(internal)?;
    let mut times = txn.open_table(NONCE_TIMES).map_err(internal)?;
    // Forget what has left the window, a bounded number per write.
    let expired: Vec<(i64, String, String)> = times
        .range((i64::MIN, "", "")..(cutoff, "", ""))
        .map_err(internal)?
        .take(MAX_NONCE_PRUNE)
        .map(|entry| {
            entry.map(|(k, _)| {
                let (t, key, n) = k.value();
                (t, key.to_owned(), n.to_owned())
            })
        })
        .collect::<Result<_, _>>()
        .map_err(internal)?;
    for (t, key, n) in &expired {
        times
            .remove((*t, key.as_str(), n.as_str()))
            .map_err(internal)?;
        let current = nonces
            .get((key.as_str(), n.as_str()))
            .map_err(internal)?
            .map(|g| g.value());
        if current == Some(*t) {
            nonces
                .remove((key.as_str(), n.as_str()))
                .map_err(internal)?;
        }
    }
    let seen = nonces
        .get((key_id, nonce))
        .map_err(internal)?
        .map(|g| g.value());
    if let Some(seen) = seen {
        if seen >= cutoff {
            return Ok(false);
        }
        times.remove((seen, key_id, nonce)).map_err(internal)?;
    }
    let at = used.at_us;
    nonces.insert((key_id, nonce), at).map_err(internal)?;
    times.insert((at, key_id, nonce), ()).map_err(internal)?;
    Ok(true)
}

// Journal entries: a kind byte, then what the write needs to be applied again. Applying is
// deterministic (times and keys are in the entry), so replaying the entries in order on top of
// the checkpoint they follow rebuilds exactly what was committed.
const REDO_CREATE: u8 = 1;
const REDO_STATUS: u8 = 2;
const REDO_NONCE: u8 = 3;

/// A create's entry: the record as stored.
fn redo_create(encoded_payment: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(1 + encoded_payment.len());
    entry.push(REDO_CREATE);
    entry.extend_from_slice(encoded_payment);
    entry
}

fn redo_json(kind: u8, write: &impl Serialize) -> StoreResult<Vec<u8>> {
    let mut entry = vec![kind];
    serde_json::to_writer(&mut entry, write).map_err(internal)?;
    Ok(entry)
}

fn apply_redo(txn: &WriteTransaction, entry: &[u8]) -> StoreResult<()> {
    let (&kind, body) = entry
        .split_first()
        .ok_or_else(|| StoreError::Internal("empty journal entry".to_owned()))?;
    match kind {
        REDO_CREATE => insert_payment(txn, &decode_payment(body)?, body).map(drop),
        REDO_STATUS => set_status(txn, &serde_json::from_slice(body).map_err(internal)?).map(drop),
        REDO_NONCE => use_nonce(txn, &serde_json::from_slice(body).map_err(internal)?).map(drop),
        other => Err(StoreError::Internal(format!(
            "unknown journal entry kind {other}"
        ))),
    }
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// A record as stored: times in µs, the echo in base64 (JSON has no bytes).
#[derive(Serialize, Deserialize)]
struct StoredPayment {
    merchant_id: String,
    inbound_dialect: String,
    merchant_ref: Option<String>,
    route_id: String,
    upstream_id: String,
    upstream_dialect: String,
    upstream_payment_id: String,
    upstream_ref: String,
    echo_b64: String,
    callback_success_url: Option<String>,
    callback_failure_url: Option<String>,
    relay_token: String,
    created_at_us: i64,
    updated_at_us: i64,
    status: String,
}

fn encode_payment(r: &PaymentRecord) -> StoreResult<Vec<u8>> {
    use base64::Engine;
    let stored = StoredPayment {
        merchant_id: r.merchant_id.clone(),
        inbound_dialect: r.inbound_dialect.clone(),
        merchant_ref: r.merchant_ref.clone(),
        route_id: r.route_id.clone(),
        upstream_id: r.upstream_id.clone(),
        upstream_dialect: r.upstream_dialect.clone(),
        upstream_payment_id: r.upstream_payment_id.clone(),
        upstream_ref: r.upstream_ref.clone(),
        echo_b64: base64::engine::general_purpose::STANDARD.encode(&r.echo),
        callback_success_url: r.callback_success_url.clone(),
        callback_failure_url: r.callback_failure_url.clone(),
        relay_token: r.relay_token.clone(),
        created_at_us: to_micros(r.created_at),
        updated_at_us: to_micros(r.updated_at),
        status: r.status.clone(),
    };
    serde_json::to_vec(&stored).map_err(internal)
}

fn decode_payment(bytes: &[u8]) -> StoreResult<PaymentRecord> {
    use base64::Engine;
    let s: StoredPayment = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Internal(format!("corrupt payment record: {e}")))?;
    let echo = base64::engine::general_purpose::STANDARD
        .decode(&s.echo_b64)
        .map_err(|e| StoreError::Internal(format!("corrupt payment echo: {e}")))?;
    Ok(PaymentRecord {
        merchant_id: s.merchant_id,
        inbound_dialect: s.inbound_dialect,
        merchant_ref: s.merchant_ref,
        route_id: s.route_id,
        upstream_id: s.upstream_id,
        upstream_dialect: s.upstream_dialect,
        upstream_payment_id: s.upstream_payment_id,
        upstream_ref: s.upstream_ref,
        echo,
        callback_success_url: s.callback_success_url,
        callback_failure_url: s.callback_failure_url,
        relay_token: s.relay_token,
        created_at: from_micros(s.created_at_us),
        updated_at: from_micros(s.updated_at_us),
        status: s.status,
    })
}

#[derive(Serialize, Deserialize)]
struct StoredEvent {
    id: String,
    merchant_id: String,
    target_url: String,
    headers: Vec<(String, String)>,
    body_b64: String,
    created_at_us: i64,
    next_attempt_at_us: i64,
    attempts: u32,
    state: String,
    last_error: Option<String>,
    last_status: Option<u16>,
    leased_until_us: Option<i64>,
}

fn encode_event(e: &OutboxEvent) -> StoreResult<Vec<u8>> {
    use base64::Engine;
    let stored = StoredEvent {
        id: e.id.clone(),
        merchant_id: e.merchant_id.clone(),
        target_url: e.target_url.clone(),
        headers: e.headers.clone(),
        body_b64: base64::engine::general_purpose::STANDARD.encode(&e.body),
        created_at_us: to_micros(e.created_at),
        next_attempt_at_us: to_micros(e.next_attempt_at),
        attempts: e.attempts,
        state: e.state.name().to_owned(),
        last_error: e.last_error.clone(),
        last_status: e.last_status,
        leased_until_us: e.leased_until.map(to_micros),
    };
    serde_json::to_vec(&stored).map_err(internal)
}

fn decode_event(bytes: &[u8]) -> StoreResult<OutboxEvent> {
    use base64::Engine;
    let s: StoredEvent = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Internal(format!("corrupt outbox event: {e}")))?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(&s.body_b64)
        .map_err(|e| StoreError::Internal(format!("corrupt outbox body: {e}")))?;
    let state = EventState::from_name(&s.state)
        .ok_or_else(|| StoreError::Internal(format!("unknown outbox state {:?}", s.state)))?;
    Ok(OutboxEvent {
        id: s.id,
        merchant_id: s.merchant_id,
        target_url: s.target_url,
        headers: s.headers,
        body,
        created_at: from_micros(s.created_at_us),
        next_attempt_at: from_micros(s.next_attempt_at_us),
        attempts: s.attempts,
        state,
        last_error: s.last_error,
        last_status: s.last_status,
        leased_until: s.leased_until_us.map(from_micros),
    })
}

/// The key under which a due event waits in [`EVENTS_DUE`].
fn due_micros(e: &OutboxEvent) -> i64 {
    let next = to_micros(e.next_attempt_at);
    e.leased_until.map_or(next, |l| next.max(to_micros(l)))
}

fn payment_by_id(
    payments: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
) -> StoreResult<Option<PaymentRecord>> {
    match payments.get(id).map_err(internal)? {
        Some(bytes) => decode_payment(bytes.value()).map(Some),
        None => Err(StoreError::Internal(format!(
            "index points at missing payment {id}"
        ))),
    }
}

fn read_payment_via<K: redb::Key + 'static>(
    txn: &ReadTransaction,
    index: TableDefinition<K, u64>,
    key: K::SelfType<'_>,
) -> StoreResult<Option<PaymentRecord>> {
    let index = txn.open_table(index).map_err(internal)?;
    let Some(id) = index.get(key).map_err(internal)?.map(|g| g.value()) else {
        return Ok(None);
    };
    let payments = txn.open_table(PAYMENTS).map_err(internal)?;
    payment_by_id(&payments, id)
}

/// Replaces a stored event, keeping the due index in step with its state and due time.
fn store_event(
    txn: &WriteTransaction,
    old: Option<&OutboxEvent>,
    new: &OutboxEvent,
) -> StoreResult<()> {
    let mut due = txn.open_table(EVENTS_DUE).map_err(internal)?;
    if let Some(old) = old.filter(|o| o.state.is_due_state()) {
        due.remove((due_micros(old), old.id.as_str()))
            .map_err(internal)?;
    }
    if new.state.is_due_state() {
        due.insert((due_micros(new), new.id.as_str()), ())
            .map_err(internal)?;
    }
    let mut events = txn.open_table(EVENTS).map_err(internal)?;
    events
        .insert(new.id.as_str(), encode_event(new)?.as_slice())
        .map_err(internal)?;
    Ok(())
}

fn load_event(txn: &WriteTransaction, id: &str) -> StoreResult<Option<OutboxEvent>> {
    let events = txn.open_table(EVENTS).map_err(internal)?;
    let found = events.get(id).map_err(internal)?;
    found.map(|g| decode_event(g.value())).transpose()
}

/// Changes one event in the writer; `false` when it does not exist.
async fn update_event(
    store: &EmbeddedStore,
    id: &str,
    change: impl FnOnce(&mut OutboxEvent) + Send + 'static,
) -> StoreResult<bool> {
    let id = id.to_owned();
    store
        .write(None, move |txn| {
            let Some(old) = load_event(txn, &id)? else {
                return Ok(false);
            };
            let mut new = old.clone();
            change(&mut new);
            store_event(txn, Some(&old), &new)?;
            Ok(true)
        })
        .await
}

#[async_trait]
impl StoreBackend for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn claim_create(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
        now: OffsetDateTime,
        stale_after: Duration,
    ) -> StoreResult<Claim> {
        let key = (merchant_id.to_owned(), merchant_ref.to_owned());
        // Checked under the claims lock: a completing holder commits first and releases its
        // claim after, so a claimer sees either the claim or the committed payment.
        let mut claims = self.lock_claims();
        if let Some(&claimed_at) = claims.get(&key)
            && claimed_at > minus(now, stale_after)
        {
            return Ok(Claim::InProgress);
        }
        let txn = self.db.begin_read().map_err(internal)?;
        if let Some(record) = read_payment_via(&txn, BY_REF, (merchant_id, merchant_ref))? {
            return Ok(Claim::Done(Box::new(record)));
        }
        claims.insert(key, now);
        Ok(Claim::New)
    }

    async fn complete_create(&self, record: PaymentRecord) -> StoreResult<PaymentRecord> {
        let claim_key = record
            .merchant_ref
            .clone()
            .map(|r| (record.merchant_id.clone(), r));
        // Encoded, and read back as a reader will get it (times to the microsecond), before the
        // writer's serial section: it only inserts.
        let encoded = encode_payment(&record)?;
        let as_stored = decode_payment(&encoded)?;
        let redo = redo_create(&encoded);
        let stored = self
            .write(Some(redo), move |txn| {
                insert_payment(txn, &record, &encoded)
            })
            .await
            .map(|existing| existing.unwrap_or(as_stored));
        if stored.is_ok()
            && let Some(key) = claim_key
        {
            self.lock_claims().remove(&key);
        }
        stored
    }

    async fn abandon_create(&self, merchant_id: &str, merchant_ref: &str) -> StoreResult<()> {
        self.lock_claims()
            .remove(&(merchant_id.to_owned(), merchant_ref.to_owned()));
        Ok(())
    }

    async fn get_by_provider_id(
        &self,
        merchant_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        let (merchant_id, upstream_payment_id) =
            (merchant_id.to_owned(), upstream_payment_id.to_owned());
        self.read(move |txn| {
            let index = txn.open_table(BY_MERCHANT_PROVIDER).map_err(internal)?;
            let (m, p) = (merchant_id.as_str(), upstream_payment_id.as_str());
            let newest = index
                .range((m, p, 0)..=(m, p, u64::MAX))
                .map_err(internal)?
                .next_back()
                .transpose()
                .map_err(internal)?;
            let Some((key, _)) = newest else {
                return Ok(None);
            };
            let payments = txn.open_table(PAYMENTS).map_err(internal)?;
            payment_by_id(&payments, key.value().2)
        })
        .await
    }

    async fn get_by_ref(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        let (m, r) = (merchant_id.to_owned(), merchant_ref.to_owned());
        self.read(move |txn| read_payment_via(txn, BY_REF, (m.as_str(), r.as_str())))
            .await
    }

    async fn get_by_relay_token(&self, token: &str) -> StoreResult<Option<PaymentRecord>> {
        let token = token.to_owned();
        self.read(move |txn| read_payment_via(txn, BY_TOKEN, token.as_str()))
            .await
    }

    async fn get_by_upstream(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        let (u, p) = (upstream_id.to_owned(), upstream_payment_id.to_owned());
        self.read(move |txn| read_payment_via(txn, BY_UPSTREAM, (u.as_str(), p.as_str())))
            .await
    }

    async fn list_by_merchant(
        &self,
        merchant_id: &str,
        limit: usize,
        offset: usize,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let merchant_id = merchant_id.to_owned();
        self.read(move |txn| {
            let index = txn.open_table(BY_MERCHANT_TIME).map_err(internal)?;
            let payments = txn.open_table(PAYMENTS).map_err(internal)?;
            let m = merchant_id.as_str();
            let mut out = Vec::new();
            for entry in index
                .range((m, i64::MIN, 0)..=(m, i64::MAX, u64::MAX))
                .map_err(internal)?
                .rev()
                .skip(offset)
                .take(limit)
            {
                let (key, _) = entry.map_err(internal)?;
                if let Some(record) = payment_by_id(&payments, key.value().2)? {
                    out.push(record);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn update_status(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
        status: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let change = StatusChange {
            upstream_id: upstream_id.to_owned(),
            upstream_payment_id: upstream_payment_id.to_owned(),
            status: status.to_owned(),
            at_us: to_micros(now),
        };
        let redo = redo_json(REDO_STATUS, &change)?;
        self.write(Some(redo), move |txn| set_status(txn, &change))
            .await
    }

    async fn first_use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> StoreResult<bool> {
        let used = NonceUse {
            key_id: key_id.to_owned(),
            nonce: nonce.to_owned(),
            at_us: to_micros(now),
            cutoff_us: to_micros(minus(now, window)),
        };
        let redo = redo_json(REDO_NONCE, &used)?;
        self.write(Some(redo), move |txn| use_nonce(txn, &used))
            .await
    }

    async fn enqueue_event(&self, event: OutboxEvent) -> StoreResult<Enqueued> {
        self.write(None, move |txn| {
            if load_event(txn, &event.id)?.is_some() {
                return Ok(Enqueued::AlreadyQueued);
            }
            store_event(txn, None, &event)?;
            txn.open_table(EVENTS_TIME)
                .map_err(internal)?
                .insert((to_micros(event.created_at), event.id.as_str()), ())
                .map_err(internal)?;
            Ok(Enqueued::New)
        })
        .await
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Vec<OutboxEvent>> {
        // The dispatcher polls often; a poll that finds nothing must not cost a durable
        // commit (it would force a checkpoint every poll).
        let until = to_micros(now);
        let anything_due = self
            .read(move |txn| {
                let due = txn.open_table(EVENTS_DUE).map_err(internal)?;
                let mut first = due
                    .range((i64::MIN, "")..=(until, "\u{10FFFF}"))
                    .map_err(internal)?;
                Ok(first.next().is_some())
            })
            .await?;
        if !anything_due {
            return Ok(Vec::new());
        }
        self.write(None, move |txn| {
            let due_ids: Vec<String> = {
                let due = txn.open_table(EVENTS_DUE).map_err(internal)?;
                due.range((i64::MIN, "")..=(to_micros(now), "\u{10FFFF}"))
                    .map_err(internal)?
                    .take(limit)
                    .map(|entry| entry.map(|(k, _)| k.value().1.to_owned()))
                    .collect::<Result<_, _>>()
                    .map_err(internal)?
            };
            let leased_until = plus(now, lease);
            let mut out = Vec::with_capacity(due_ids.len());
            for id in due_ids {
                let Some(old) = load_event(txn, &id)? else {
                    continue;
                };
                let mut new = old.clone();
                new.leased_until = Some(leased_until);
                store_event(txn, Some(&old), &new)?;
                out.push(decode_event(&encode_event(&new)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn claim_event(
        &self,
        id: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Option<(OutboxEvent, bool)>> {
        let id = id.to_owned();
        self.write(None, move |txn| {
            let Some(old) = load_event(txn, &id)? else {
                return Ok(None);
            };
            let free =
                old.state != EventState::Delivered && old.leased_until.is_none_or(|t| t <= now);
            if !free {
                return Ok(Some((old, false)));
            }
            let mut new = old.clone();
            new.leased_until = Some(plus(now, lease));
            store_event(txn, Some(&old), &new)?;
            Ok(Some((decode_event(&encode_event(&new)?)?, true)))
        })
        .await
    }

    async fn mark_delivered(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        update_event(self, id, move |e| {
            e.state = EventState::Delivered;
            e.attempts = e.attempts.saturating_add(1);
            e.next_attempt_at = now;
            e.leased_until = None;
            e.last_error = None;
        })
        .await
    }

    async fn mark_failed(
        &self,
        id: &str,
        now: OffsetDateTime,
        attempt: FailedAttempt,
    ) -> StoreResult<bool> {
        update_event(self, id, move |e| {
            e.attempts = e.attempts.saturating_add(1);
            e.leased_until = None;
            e.last_error = Some(attempt.error);
            e.last_status = attempt.status;
            match attempt.next_attempt_at {
                Some(next) => {
                    e.state = EventState::Failed;
                    e.next_attempt_at = next;
                }
                None => {
                    e.state = EventState::Dead;
                    e.next_attempt_at = now;
                }
            }
        })
        .await
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let filter = filter.clone();
        self.read(move |txn| {
            let by_time = txn.open_table(EVENTS_TIME).map_err(internal)?;
            let events = txn.open_table(EVENTS).map_err(internal)?;
            let mut out = Vec::new();
            for entry in by_time.iter().map_err(internal)?.rev() {
                if out.len() >= limit {
                    break;
                }
                let (key, _) = entry.map_err(internal)?;
                let Some(bytes) = events.get(key.value().1).map_err(internal)? else {
                    continue;
                };
                let event = decode_event(bytes.value())?;
                if filter.matches(&event) {
                    out.push(event);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn replay(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        update_event(self, id, move |e| {
            e.state = EventState::Pending;
            e.next_attempt_at = now;
            e.leased_until = None;
        })
        .await
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        self.read(|txn| {
            txn.open_table(EVENTS_DUE)
                .map_err(internal)?
                .len()
                .map_err(internal)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::new_relay_token;

    fn record(n: usize) -> PaymentRecord {
        let created = OffsetDateTime::from_unix_timestamp(1_750_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        PaymentRecord {
            merchant_id: "m".to_owned(),
            inbound_dialect: "cryptomus".to_owned(),
            merchant_ref: Some(format!("ref-{n}")),
            route_id: "r".to_owned(),
            upstream_id: "u".to_owned(),
            upstream_dialect: "apollo".to_owned(),
            upstream_payment_id: format!("pay-{n}"),
            upstream_ref: format!("up-{n}"),
            echo: format!(r#"{{"order":"{}"}}"#, "x".repeat(1000)).into_bytes(),
            callback_success_url: Some("https://shop.example/paid".to_owned()),
            callback_failure_url: None,
            relay_token: new_relay_token(),
            created_at: created,
            updated_at: created,
            status: "pending".to_owned(),
        }
    }

    fn journal_epoch(path: &Path) -> u64 {
        let db = Database::open(path).expect("open the file");
        let txn = db.begin_read().expect("read");
        let meta = txn.open_table(META).expect("meta table");
        meta.get(JOURNAL_EPOCH)
            .expect("get")
            .map_or(0, |g| g.value())
    }

    /// What a crash leaves: writes in the journal that the file's last durable commit lacks.
    /// Reopening applies them again, once, in order; a write the file already has (redb may
    /// have persisted it on close) changes nothing the second time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopening_applies_the_journal_written_after_the_last_checkpoint() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.redb");
        let stored = record(1);
        {
            let store = EmbeddedStore::open(&path).expect("open");
            store.complete_create(stored.clone()).await.expect("create");
        }
        let epoch = journal_epoch(&path);
        let lost = record(2);
        let at = OffsetDateTime::from_unix_timestamp(1_750_000_100).expect("time");
        let entries = [
            redo_create(&encode_payment(&stored).expect("encode")),
            redo_create(&encode_payment(&lost).expect("encode")),
            redo_json(
                REDO_STATUS,
                &StatusChange {
                    upstream_id: "u".to_owned(),
                    upstream_payment_id: "pay-2".to_owned(),
                    status: "paid".to_owned(),
                    at_us: to_micros(at),
                },
            )
            .expect("encode"),
            redo_json(
                REDO_NONCE,
                &NonceUse {
                    key_id: "k".to_owned(),
                    nonce: "n-1".to_owned(),
                    at_us: to_micros(at),
                    cutoff_us: to_micros(at) - 600_000_000,
                },
            )
            .expect("encode"),
        ];
        {
            let (mut journal, found) =
                Journal::open(&journal::path_for(&path), epoch).expect("journal");
            assert!(found.is_empty(), "a clean close leaves the journal empty");
            journal
                .append(entries.iter().map(Vec::as_slice))
                .expect("append");
        }

        let store = EmbeddedStore::open(&path).expect("reopen");
        assert_eq!(
            store.get_by_ref("m", "ref-1").await.expect("read"),
            Some(stored)
        );
        let recovered = store.get_by_ref("m", "ref-2").await.expect("read");
        let recovered = recovered.expect("the journaled create is back");
        assert_eq!(recovered.status, "paid");
        assert_eq!(recovered.updated_at, at);
        assert_eq!(
            store
                .list_by_merchant("m", 10, 0)
                .await
                .expect("list")
                .len(),
            2
        );
        assert!(
            !store
                .first_use_nonce("k", "n-1", at, Duration::from_secs(600))
                .await
                .expect("nonce"),
            "the journaled nonce is still refused"
        );
        drop(store);
        // Applied and checkpointed: a second reopen finds nothing more to apply.
        assert!(journal_epoch(&path) > epoch);
        let store = EmbeddedStore::open(&path).expect("reopen again");
        assert_eq!(
            store
                .list_by_merchant("m", 10, 0)
                .await
                .expect("list")
                .len(),
            2
        );
    }

    /// The cache is a bound, not a size the index may grow to: with an index several times
    /// larger than it, every payment still reads back (from the file). That the bound keeps
    /// the process's memory flat is measured by the soak (docs/soak.md); redb counts
    /// evictions only in a build with its `cache_metrics` feature.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_index_larger_than_its_cache_still_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = 256 * 1024;
        let store =
            EmbeddedStore::open_with_cache(&dir.path().join("index.redb"), cache).expect("open");
        let records: Vec<PaymentRecord> = (0..1000).map(record).collect();
        // Concurrent, so they share commits (one fsync per batch).
        let mut writes = tokio::task::JoinSet::new();
        let store = Arc::new(store);
        for r in records.iter().cloned() {
            let store = Arc::clone(&store);
            writes.spawn(async move { store.complete_create(r).await });
        }
        while let Some(written) = writes.join_next().await {
            written.expect("task").expect("written");
        }
        let size = std::fs::metadata(dir.path().join("index.redb"))
            .expect("file")
            .len();
        assert!(
            size > 4 * cache as u64,
            "the index ({size} B) must outgrow the cache"
        );
        for r in &records {
            let read = store.get_by_ref("m", r.merchant_ref.as_deref().unwrap_or_default());
            assert_eq!(read.await.expect("read").as_ref(), Some(r));
        }
    }
}
