//! The embedded backend: one redb file, for a single payglot instance.
//!
//! Two threads write, so that the request path never waits for redb's B-tree work:
//!
//! - **The journal writer** takes the writes on the request path (a create's record, a status
//!   change, an Apollo nonce). It drains every write waiting in its channel, decides each one
//!   against what is stored (a repeated create finds the first), appends the batch's redo
//!   entries to the write-ahead journal ([`super::journal`]) with one `fdatasync` of a
//!   sequential write, records them in the active generation in memory ([`super::overlay`]),
//!   and only then answers each caller (group commit). When writes come in together and an
//!   append costs a disk flush, it waits [`GATHER`] first, so that more of them share the
//!   next one.
//! - **The committer** is the only thread that writes to the file. A checkpoint applies a
//!   frozen generation to redb in one durable commit, which also names the next journal epoch;
//!   the generation then leaves memory. The journal writer freezes the active generation every
//!   [`CHECKPOINT_INTERVAL`] under load, at [`CHECKPOINT_BYTES`] of entries, when idle and on
//!   close, and goes on writing the next epoch in the other journal file meanwhile. The
//!   committer also makes the writes that have no journal entry (the webhook outbox's)
//!   durable, each batch in one commit.
//!
//! Readers take a snapshot of the file and the generations in memory under one lock, so a
//! write is always found in one or the other. Opening the file after a crash applies the
//! journal's entries again on top of the last checkpoint, so an answered create is never lost.
//! A flush of B-tree pages spread over the file costs the disk several times what one
//! sequential append does, and applying a generation's writes together touches each page once
//! (BENCHMARKS.md).
//!
//! Create claims live in memory: only this process can open the file, and a claim lost in a
//! crash is exactly a stale claim, so persisting them would cost an fsync for nothing.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, Table, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::journal::{self, Journal};
use super::key_filter::{IndexKey, KeyFilter};
use super::overlay::{Change, Generation, Layers, UpstreamKey, upstream_key};
use super::record::{self, IndexKeys};
use super::types::{from_micros, minus, plus, to_micros};
use super::{
    Claim, Enqueued, EventFilter, EventState, FailedAttempt, OutboxEvent, PaymentRecord,
    StoreBackend, StoreError, StoreResult,
};
use crate::metrics::METRICS;

/// Payment id (insertion sequence) -> the record as JSON.
const PAYMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("payments");
/// (upstream payment id, upstream id) -> payment id. Unique. Serves both the upstream's key and
/// a merchant's lookup by the provider's id (a prefix scan; the merchant is in the record).
const BY_PROVIDER_ID: TableDefinition<(&str, &str), u64> = TableDefinition::new("by_provider_id");

/// A payment's key in [`BY_PROVIDER_ID`]: the provider's id first, so that one merchant lookup
/// by that id is a prefix scan.
fn provider_key<'a>(upstream_id: &'a str, upstream_payment_id: &'a str) -> (&'a str, &'a str) {
    (upstream_payment_id, upstream_id)
}
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
/// Which table layout the file has; see [`migrate_layout`].
const LAYOUT: &str = "layout";
const CURRENT_LAYOUT: u64 = 2;
/// Layout 1 (the first version's files): two indexes over the provider's payment id,
/// (upstream id, upstream payment id) -> payment id and (merchant id, upstream payment id,
/// payment id) -> (). Random keys in two B-trees per create; [`BY_PROVIDER_ID`] replaces both.
const LAYOUT1_BY_UPSTREAM: TableDefinition<(&str, &str), u64> = TableDefinition::new("by_upstream");
const LAYOUT1_BY_MERCHANT_PROVIDER: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("by_merchant_provider");

/// Memory redb may hold as its page cache (read cache and write buffer together) unless the
/// config says otherwise (`store.cache_mib`). redb's default, 1 GiB, grows the process with
/// the index until it is full: the soak (docs/soak.md) saw +120 MiB in four minutes. Older
/// pages are read from the file, through the OS page cache.
pub const CACHE_BYTES: usize = crate::config::store::DEFAULT_CACHE_MIB as usize * 1024 * 1024;

/// The most writes committed together; bounds one transaction's size and latency.
const MAX_BATCH: usize = 512;
/// The most expired nonces removed per write, so pruning never makes one write slow.
const MAX_NONCE_PRUNE: usize = 256;
/// A checkpoint at least this often while writes come in: bounds what a restart applies again
/// and what memory holds. No request waits for a checkpoint; the committer applies it.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// A checkpoint once a generation holds this much journal; and the most the writer lets the
/// active generation hold while the last one is still being checkpointed, so that memory stays
/// bounded when writes come faster than the committer applies them. Applying a generation
/// holds in memory every index page it changes (random keys: several per create), so the
/// bound is kept small: about 3,000 creates.
const CHECKPOINT_BYTES: u64 = 2 * 1024 * 1024;
/// How long the writer waits for more writes to join an append when the last one had company
/// and took at least [`GATHER_MIN_APPEND`]. Part of an append's cost is per append (an
/// `fdatasync`), not per write: on disk, in the load benchmark, batches grow from about 5
/// writes to about 12, for at most this much latency. A lone write (the last append had no
/// company) never waits.
const GATHER: Duration = Duration::from_micros(150);
/// Appends faster than this flush nothing worth sharing (a journal on a memory filesystem
/// takes a few µs): gathering for them only delays every create. A disk flush takes longer.
const GATHER_MIN_APPEND: Duration = Duration::from_micros(50);

/// Whether an append that took this long flushed a disk, so that gathering writes for the
/// next one is worth its wait.
fn flushed_a_disk(append_took: Duration) -> bool {
    append_took >= GATHER_MIN_APPEND
}

/// A checkpoint after this long without a write, so that a quiet store has an empty journal.
const IDLE_CHECKPOINT: Duration = Duration::from_millis(50);
/// How long after a failed checkpoint the next try waits.
const CHECKPOINT_RETRY: Duration = Duration::from_secs(1);

/// Every file an embedded store at `path` keeps: the index file and the two journal files
/// beside it. Whoever moves, copies or removes a store moves all of them.
pub fn store_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    files.extend(journal::paths_for(path));
    files
}

pub struct EmbeddedStore {
    db: Arc<Database>,
    shared: Arc<Shared>,
    /// To the journal writer: creates, status changes, nonces. `None` once dropping.
    journaled: Option<mpsc::Sender<JournaledWrite>>,
    /// To the committer: the writes that are not journaled (the webhook outbox's).
    durable: Option<mpsc::Sender<ToCommitter>>,
    /// (merchant id, reference) -> when claimed.
    claims: Mutex<HashMap<(String, String), OffsetDateTime>>,
    /// Tells the thread filling the key filter from the file to give up (the store closes).
    stop_filling: Arc<AtomicBool>,
    /// Joined on drop (journal writer first), so that the file is closed when the last handle
    /// goes.
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the threads and the readers share: the journaled writes not yet in the file, and
/// which unique keys the file may hold.
struct Shared {
    generations: RwLock<Generations>,
    keys: KeyFilter,
}

#[derive(Default)]
struct Generations {
    /// Written to the current journal file; frozen at the next checkpoint.
    active: Generation,
    /// Being applied to the file (or waiting to be again, after a failed checkpoint).
    frozen: Option<Arc<Generation>>,
}

impl Generations {
    /// The generations to read, newest first: `batch` (the writer's, not yet journaled), the
    /// active one, the frozen one.
    fn layers<'a>(&'a self, batch: Option<&'a Generation>) -> Layers<'a> {
        Layers::new(
            batch
                .into_iter()
                .chain(std::iter::once(&self.active))
                .chain(self.frozen.as_deref()),
        )
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, Generations> {
        // Only an allocation failure could panic under the lock; the maps stay sound to read
        // even then.
        self.generations.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Generations> {
        self.generations.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl EmbeddedStore {
    /// Creates or opens the file (recovering it after a crash: redb's last durable commit,
    /// then the journal's entries after it) and starts the journal writer and the committer,
    /// which end when the store is dropped.
    pub fn open(path: &Path) -> StoreResult<EmbeddedStore> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    /// [`EmbeddedStore::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> StoreResult<EmbeddedStore> {
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
        migrate_layout(&txn)?;
        txn.open_table(BY_PROVIDER_ID).map_err(internal)?;
        txn.open_table(BY_REF).map_err(internal)?;
        txn.open_table(BY_TOKEN).map_err(internal)?;
        txn.open_table(BY_MERCHANT_TIME).map_err(internal)?;
        txn.open_table(NONCES).map_err(internal)?;
        txn.open_table(NONCE_TIMES).map_err(internal)?;
        txn.open_table(EVENTS).map_err(internal)?;
        txn.open_table(EVENTS_DUE).map_err(internal)?;
        txn.open_table(EVENTS_TIME).map_err(internal)?;
        let mut epoch = {
            let meta = txn.open_table(META).map_err(internal)?;
            meta.get(JOURNAL_EPOCH)
                .map_err(internal)?
                .map_or(0, |g| g.value())
        };
        txn.commit().map_err(internal)?;
        let db = Arc::new(db);

        let paths = journal::paths_for(path);
        let cannot = |p: &Path, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot open {}: {e}", p.display()))
        };
        // After a crash: the entries of the epoch the file names, then those of the next one
        // (written while that epoch's checkpoint was under way).
        let mut headers = [None; 2];
        for (header, p) in headers.iter_mut().zip(&paths) {
            *header = Journal::epoch_of(p).map_err(|e| cannot(p, e))?;
        }
        let mut entries = Vec::new();
        for wanted in [epoch, epoch + 1] {
            for (header, p) in headers.iter().zip(&paths) {
                if *header == Some(wanted) {
                    entries.extend(Journal::open(p, wanted).map_err(|e| cannot(p, e))?.1);
                }
            }
        }
        if !entries.is_empty() {
            let started = Instant::now();
            apply_checkpoint(&db, &entries, epoch + 2).map_err(|e| {
                StoreError::Internal(format!("the journal cannot be applied again: {e}"))
            })?;
            epoch += 2;
            METRICS
                .store_checkpoints
                .with_label_values(&["recovery"])
                .observe(started.elapsed().as_secs_f64());
            tracing::info!(
                entries = entries.len(),
                journal = %paths[0].display(),
                "payment index: journaled writes applied again after an unclean stop"
            );
        }
        // The current file is one that already names this epoch, if one does; the spare one's
        // entries are in the file either way.
        let current = usize::from(headers[1] == Some(epoch));
        let mut files: [Option<Journal>; 2] = [None, None];
        for (i, e) in [(current, epoch), (1 - current, epoch.wrapping_sub(1))] {
            let (journal, _) = Journal::open(&paths[i], e).map_err(|err| cannot(&paths[i], err))?;
            files[i] = Some(journal);
        }

        // The file as the key filter is filled from it; every later key goes through the writer.
        let snapshot = db.begin_read().map_err(internal)?;
        let shared = Arc::new(Shared {
            generations: RwLock::new(Generations::default()),
            keys: key_filter_for(&snapshot)?,
        });
        let (to_committer, committer_inbox) = mpsc::channel();
        let (done, checkpoints_done) = mpsc::channel();
        let committer = Committer {
            db: Arc::clone(&db),
            shared: Arc::clone(&shared),
            done,
        };
        let writer = JournalWriter {
            db: Arc::clone(&db),
            shared: Arc::clone(&shared),
            files,
            paths,
            current,
            epoch,
            committer: to_committer.clone(),
            checkpoints_done,
            in_flight: false,
            retry_at: None,
            last_freeze: Instant::now(),
            last_append_flushed: true,
            sequence: 0,
            staged: Generation::default(),
        };
        let (journaled, writes) = mpsc::channel();
        let spawn = |name: &str, run: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(run)
                .map_err(|e| StoreError::Internal(format!("cannot start {name}: {e}")))
        };
        let committer_thread = spawn(
            "payglot-store-commit",
            Box::new(move || committer.run(committer_inbox)),
        )?;
        let writer_thread = spawn("payglot-store-writer", Box::new(move || writer.run(writes)))?;
        let stop_filling = Arc::new(AtomicBool::new(false));
        let filler_thread = spawn("payglot-store-keys", {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop_filling));
            Box::new(move || {
                if let Err(e) = fill_key_filter(&snapshot, &shared.keys, &stop) {
                    // Lookups go on reading the file for every key, as without a filter.
                    tracing::error!(error = %e, "payment index: cannot read its keys into the filter");
                }
            })
        })?;
        Ok(EmbeddedStore {
            db,
            shared,
            journaled: Some(journaled),
            durable: Some(to_committer),
            claims: Mutex::new(HashMap::new()),
            stop_filling,
            threads: vec![writer_thread, committer_thread, filler_thread],
        })
    }

    /// Hands a journaled write to the journal writer and waits for its answer, which comes
    /// once the write is durable.
    async fn journaled<R>(
        &self,
        write: impl FnOnce(oneshot::Sender<StoreResult<R>>) -> JournaledWrite,
    ) -> StoreResult<R> {
        let (reply, answer) = oneshot::channel();
        self.journaled
            .as_ref()
            .and_then(|w| w.send(write(reply)).ok())
            .ok_or_else(|| StoreError::Unavailable("the store writer has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the store writer stopped before answering".to_owned())
        })?
    }

    /// Runs `apply` in the committer's next durable commit (a group commit with the others
    /// waiting) and answers once it is durable.
    async fn write<R: Send + 'static>(
        &self,
        apply: impl FnOnce(&WriteTransaction) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            apply: Some(apply),
            result: None,
            reply,
        };
        self.durable
            .as_ref()
            .and_then(|c| c.send(ToCommitter::Durable(Box::new(job))).ok())
            .ok_or_else(|| StoreError::Unavailable("the store writer has stopped".to_owned()))?;
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

    /// A point lookup (one payment by one key), with the journaled writes not yet in the
    /// file, on the calling thread (a create's claim is one). It reads a few pages, nearly
    /// always from memory; handing it to the blocking pool and back cost a lookup more CPU
    /// than the read itself (two thread wake-ups).
    fn look_up<R>(
        &self,
        read: impl FnOnce(&Layers<'_>, &FileTables<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        read_with_layers(&self.db, &self.shared, read)
    }

    /// Like [`Self::read`], with the journaled writes not yet in the file: for reads of many
    /// payments (a merchant's list).
    async fn read_payments<R: Send + 'static>(
        &self,
        read: impl FnOnce(&Layers<'_>, &FileTables<'_>) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (db, shared) = (Arc::clone(&self.db), Arc::clone(&self.shared));
        tokio::task::spawn_blocking(move || read_with_layers(&db, &shared, read))
            .await
            .map_err(|e| StoreError::Internal(format!("store read task failed: {e}")))?
    }

    fn lock_claims(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), OffsetDateTime>> {
        // A panic while holding the lock cannot leave the map half-changed (each use is one
        // insert or remove), so a poisoned lock is still sound to use.
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `read` on the generations in memory and a snapshot of the file taken under the same
/// lock (held throughout): a generation leaves memory only after its checkpoint is visible,
/// so every write is found in one or the other (or both, briefly).
fn read_with_layers<R>(
    db: &Database,
    shared: &Shared,
    read: impl FnOnce(&Layers<'_>, &FileTables<'_>) -> StoreResult<R>,
) -> StoreResult<R> {
    let generations = shared.read();
    read(
        &generations.layers(None),
        &FileTables::new(db, &shared.keys),
    )
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channels ends the threads once they have answered what they hold and
        // made it durable (nobody is left to send more: this was the last handle). The journal
        // writer goes first: its last checkpoint needs the committer.
        self.stop_filling.store(true, Ordering::Relaxed);
        drop(self.journaled.take());
        drop(self.durable.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A write on the request path: made durable by the journal, recorded in memory, and applied
/// to the file by a later checkpoint.
enum JournaledWrite {
    /// `record` as stored (times to the microsecond); `entry`, its redo entry (taken by the
    /// change that records it).
    Create {
        record: Box<PaymentRecord>,
        entry: Vec<u8>,
        reply: oneshot::Sender<StoreResult<PaymentRecord>>,
    },
    Status {
        change: StatusChange,
        reply: oneshot::Sender<StoreResult<bool>>,
    },
    Nonce {
        used: NonceUse,
        reply: oneshot::Sender<StoreResult<bool>>,
    },
}

/// What a journaled write answers, before it is durable.
enum Answer {
    Payment(Box<PaymentRecord>),
    /// The create's own record: it is new.
    Created,
    Flag(bool),
}

impl JournaledWrite {
    fn answer(self, result: StoreResult<Answer>) {
        // The caller may have given up waiting; nothing to do then.
        let wrong = || StoreError::Internal("a write got another kind's answer".to_owned());
        match self {
            JournaledWrite::Create { reply, record, .. } => {
                let _ = reply.send(result.and_then(|a| match a {
                    Answer::Payment(p) => Ok(*p),
                    Answer::Created => Ok(*record),
                    Answer::Flag(_) => Err(wrong()),
                }));
            }
            JournaledWrite::Status { reply, .. } | JournaledWrite::Nonce { reply, .. } => {
                let _ = reply.send(result.and_then(|a| match a {
                    Answer::Flag(f) => Ok(f),
                    Answer::Payment(_) | Answer::Created => Err(wrong()),
                }));
            }
        }
    }

    /// Decides the write against what is stored (`layers` over `file`): its answer, and the
    /// change it makes, if it makes one (a create's change takes its redo entry).
    fn decide(
        &mut self,
        layers: &Layers<'_>,
        file: &FileTables<'_>,
    ) -> StoreResult<(Answer, Option<Change>)> {
        match self {
            JournaledWrite::Create { record, entry, .. } => {
                if let Some(existing) = find_by_upstream(
                    layers,
                    file,
                    &record.upstream_id,
                    &record.upstream_payment_id,
                )? {
                    return Ok((Answer::Payment(Box::new(existing)), None));
                }
                if let Some(r) = &record.merchant_ref
                    && let Some(existing) = find_by_ref(layers, file, &record.merchant_id, r)?
                {
                    return Ok((Answer::Payment(Box::new(existing)), None));
                }
                if find_by_token(layers, file, &record.relay_token)?.is_some() {
                    return Err(StoreError::Conflict(
                        "relay token already belongs to another payment".to_owned(),
                    ));
                }
                let change = Change::Create {
                    record: (**record).clone(),
                    entry: std::mem::take(entry),
                };
                Ok((Answer::Created, Some(change)))
            }
            JournaledWrite::Status { change, .. } => {
                let found = find_by_upstream(
                    layers,
                    file,
                    &change.upstream_id,
                    &change.upstream_payment_id,
                )?;
                let Some(mut record) = found else {
                    return Ok((Answer::Flag(false), None));
                };
                record.status.clone_from(&change.status);
                record.updated_at = from_micros(change.at_us);
                let entry = redo_json(REDO_STATUS, change)?;
                Ok((Answer::Flag(true), Some(Change::Version { record, entry })))
            }
            JournaledWrite::Nonce { used, .. } => {
                let seen = match layers.nonce(&used.key_id, &used.nonce) {
                    Some(at) => Some(at),
                    None => file
                        .txn()?
                        .open_table(NONCES)
                        .map_err(internal)?
                        .get((used.key_id.as_str(), used.nonce.as_str()))
                        .map_err(internal)?
                        .map(|g| g.value()),
                };
                if seen.is_some_and(|at| at >= used.cutoff_us) {
                    return Ok((Answer::Flag(false), None));
                }
                let change = Change::Nonce {
                    key_id: used.key_id.clone(),
                    nonce: used.nonce.clone(),
                    at_us: used.at_us,
                    entry: redo_json(REDO_NONCE, used)?,
                };
                Ok((Answer::Flag(true), Some(change)))
            }
        }
    }
}

/// The newest version of a payment read from the file: a status change may still be in
/// memory.
fn newest(layers: &Layers<'_>, record: PaymentRecord) -> PaymentRecord {
    layers
        .payment(&record.upstream_id, &record.upstream_payment_id)
        .cloned()
        .unwrap_or(record)
}

/// A snapshot of the file, taken on first use, and the tables that lookups read, each opened
/// on first use and then kept: the journal writer decides a whole batch of writes on one set.
/// A lookup of a key the file cannot hold ([`KeyFilter`]) takes no snapshot at all.
struct FileTables<'t> {
    db: &'t Database,
    keys: &'t KeyFilter,
    txn: OnceCell<ReadTransaction>,
    payments: OnceCell<ReadOnlyTable<u64, &'static [u8]>>,
    by_provider_id: OnceCell<ReadOnlyTable<(&'static str, &'static str), u64>>,
    by_ref: OnceCell<ReadOnlyTable<(&'static str, &'static str), u64>>,
    by_token: OnceCell<ReadOnlyTable<&'static str, u64>>,
}

impl<'t> FileTables<'t> {
    fn new(db: &'t Database, keys: &'t KeyFilter) -> Self {
        FileTables {
            db,
            keys,
            txn: OnceCell::new(),
            payments: OnceCell::new(),
            by_provider_id: OnceCell::new(),
            by_ref: OnceCell::new(),
            by_token: OnceCell::new(),
        }
    }

    /// The snapshot. Taken while the caller holds the generations' lock, like the layers.
    fn txn(&self) -> StoreResult<&ReadTransaction> {
        if let Some(txn) = self.txn.get() {
            return Ok(txn);
        }
        let txn = self.db.begin_read().map_err(internal)?;
        Ok(self.txn.get_or_init(|| txn))
    }

    fn opened<'c, K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        cell: &'c OnceCell<ReadOnlyTable<K, V>>,
        table: TableDefinition<K, V>,
    ) -> StoreResult<&'c ReadOnlyTable<K, V>> {
        if let Some(opened) = cell.get() {
            return Ok(opened);
        }
        let opened = self.txn()?.open_table(table).map_err(internal)?;
        Ok(cell.get_or_init(|| opened))
    }

    /// The payment a unique index (`table`, kept in `cell`) maps `key` to. Nothing is read
    /// when the key filter says that the file cannot hold `unique` (the same key).
    fn payment_via<K: redb::Key + 'static>(
        &self,
        unique: &IndexKey<'_>,
        cell: &OnceCell<ReadOnlyTable<K, u64>>,
        table: TableDefinition<K, u64>,
        key: K::SelfType<'_>,
    ) -> StoreResult<Option<PaymentRecord>> {
        if !self.keys.may_hold(unique) {
            return Ok(None);
        }
        let index = self.opened(cell, table)?;
        let Some(id) = index.get(key).map_err(internal)?.map(|g| g.value()) else {
            return Ok(None);
        };
        payment_by_id(self.opened(&self.payments, PAYMENTS)?, id)
    }
}

/// An empty, incomplete filter sized for the unique keys the file holds.
fn key_filter_for(txn: &ReadTransaction) -> StoreResult<KeyFilter> {
    let mut held = 0u64;
    held += txn
        .open_table(BY_PROVIDER_ID)
        .map_err(internal)?
        .len()
        .map_err(internal)?;
    held += txn
        .open_table(BY_REF)
        .map_err(internal)?
        .len()
        .map_err(internal)?;
    held += txn
        .open_table(BY_TOKEN)
        .map_err(internal)?
        .len()
        .map_err(internal)?;
    Ok(KeyFilter::with_room_for(
        usize::try_from(held).unwrap_or(usize::MAX),
    ))
}

/// Reads the unique keys of the file as of `txn` into the filter, then marks it complete.
/// Keys checkpointed after `txn` were recorded by the journal writer, which put them in the
/// filter itself. Gives up (leaving the filter incomplete) when `stop` is set or on an error.
fn fill_key_filter(txn: &ReadTransaction, keys: &KeyFilter, stop: &AtomicBool) -> StoreResult<()> {
    let started = Instant::now();
    let mut read = 0u64;
    let mut insert = |key: IndexKey<'_>| {
        keys.insert(&key);
        read += 1;
        !(read.is_multiple_of(4096) && stop.load(Ordering::Relaxed))
    };
    let complete = each_key(txn, BY_PROVIDER_ID, |(upstream_payment_id, upstream_id)| {
        insert(IndexKey::Provider(upstream_id, upstream_payment_id))
    })? && each_key(txn, BY_REF, |(merchant_id, merchant_ref)| {
        insert(IndexKey::Ref(merchant_id, merchant_ref))
    })? && each_key(txn, BY_TOKEN, |token| insert(IndexKey::Token(token)))?;
    if !complete {
        return Ok(());
    }
    keys.mark_complete();
    tracing::info!(
        keys = read,
        seconds = started.elapsed().as_secs_f64(),
        "payment index: the filter of its keys is ready"
    );
    Ok(())
}

/// Calls `visit` with each key of `table` in order while it answers `true`; `false` when it
/// stopped early.
fn each_key<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    table: TableDefinition<K, V>,
    mut visit: impl FnMut(K::SelfType<'_>) -> bool,
) -> StoreResult<bool> {
    for entry in txn
        .open_table(table)
        .map_err(internal)?
        .iter()
        .map_err(internal)?
    {
        let (key, _) = entry.map_err(internal)?;
        if !visit(key.value()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Adds a new payment's unique keys to the filter.
fn insert_keys(keys: &KeyFilter, record: &PaymentRecord) {
    keys.insert(&IndexKey::Provider(
        &record.upstream_id,
        &record.upstream_payment_id,
    ));
    if let Some(r) = &record.merchant_ref {
        keys.insert(&IndexKey::Ref(&record.merchant_id, r));
    }
    keys.insert(&IndexKey::Token(&record.relay_token));
}

/// What memory holds, else what the file has (in its newest version).
fn in_memory_or_file(
    layers: &Layers<'_>,
    in_memory: Option<&PaymentRecord>,
    in_file: impl FnOnce() -> StoreResult<Option<PaymentRecord>>,
) -> StoreResult<Option<PaymentRecord>> {
    if let Some(found) = in_memory {
        return Ok(Some(found.clone()));
    }
    Ok(in_file()?.map(|r| newest(layers, r)))
}

fn find_by_upstream(
    layers: &Layers<'_>,
    file: &FileTables<'_>,
    upstream_id: &str,
    upstream_payment_id: &str,
) -> StoreResult<Option<PaymentRecord>> {
    let in_memory = layers.payment(upstream_id, upstream_payment_id);
    in_memory_or_file(layers, in_memory, || {
        file.payment_via(
            &IndexKey::Provider(upstream_id, upstream_payment_id),
            &file.by_provider_id,
            BY_PROVIDER_ID,
            provider_key(upstream_id, upstream_payment_id),
        )
    })
}

fn find_by_ref(
    layers: &Layers<'_>,
    file: &FileTables<'_>,
    merchant_id: &str,
    merchant_ref: &str,
) -> StoreResult<Option<PaymentRecord>> {
    let in_memory = layers.by_ref(merchant_id, merchant_ref);
    in_memory_or_file(layers, in_memory, || {
        file.payment_via(
            &IndexKey::Ref(merchant_id, merchant_ref),
            &file.by_ref,
            BY_REF,
            (merchant_id, merchant_ref),
        )
    })
}

fn find_by_token(
    layers: &Layers<'_>,
    file: &FileTables<'_>,
    token: &str,
) -> StoreResult<Option<PaymentRecord>> {
    in_memory_or_file(layers, layers.by_token(token), || {
        file.payment_via(&IndexKey::Token(token), &file.by_token, BY_TOKEN, token)
    })
}

/// The journal writer: decides each journaled write, makes a batch of them durable with one
/// journal append, records them in the active generation, answers, and hands generations to
/// the committer.
struct JournalWriter {
    db: Arc<Database>,
    shared: Arc<Shared>,
    /// The two journal files: the current epoch's, and the previous one's (whose entries
    /// are, or are being, checkpointed). `None` after a file failed.
    files: [Option<Journal>; 2],
    paths: [PathBuf; 2],
    current: usize,
    /// The active generation's epoch.
    epoch: u64,
    committer: mpsc::Sender<ToCommitter>,
    checkpoints_done: mpsc::Receiver<StoreResult<()>>,
    /// A checkpoint was sent and has not answered.
    in_flight: bool,
    /// After a failed checkpoint: when to try it again.
    retry_at: Option<Instant>,
    last_freeze: Instant,
    /// The last journal append took long enough to have flushed a disk ([`flushed_a_disk`]).
    last_append_flushed: bool,
    /// Orders creates the way the file's ids will.
    sequence: u64,
    /// Where a batch's writes wait for the journal; empty between batches.
    staged: Generation,
}

impl JournalWriter {
    fn run(mut self, writes: mpsc::Receiver<JournaledWrite>) {
        let mut gather = false;
        loop {
            let waiting = !self.shared.read().active.is_empty() || self.has_frozen();
            let first = if waiting {
                match writes.recv_timeout(IDLE_CHECKPOINT) {
                    Ok(write) => write,
                    Err(RecvTimeoutError::Timeout) => {
                        self.checkpoint_if_due(true);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match writes.recv() {
                    Ok(write) => write,
                    Err(_) => break,
                }
            };
            if gather && self.last_append_flushed {
                // Others are writing too: let more of them join this append.
                std::thread::sleep(GATHER);
            }
            if self.in_flight && self.shared.read().active.entry_bytes() >= CHECKPOINT_BYTES {
                // The committer is behind: wait for it rather than hold ever more in memory.
                self.wait_for_checkpoint();
                self.checkpoint_if_due(false);
            }
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match writes.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
            gather = batch.len() > 1;
            self.write_batch(batch);
            self.checkpoint_if_due(false);
        }
        // Closed: leave nothing for the next open to apply again.
        self.wait_for_checkpoint();
        if self.has_frozen() {
            self.resend_frozen();
            self.wait_for_checkpoint();
        }
        if !self.shared.read().active.is_empty() && !self.has_frozen() {
            self.freeze("close");
            self.wait_for_checkpoint();
        }
    }

    /// A generation is being checkpointed, or waits to be again.
    fn has_frozen(&self) -> bool {
        self.shared.read().frozen.is_some()
    }

    fn write_batch(&mut self, mut batch: Vec<JournaledWrite>) {
        // Empty: the last batch's writes went into the active generation.
        let mut staged = std::mem::take(&mut self.staged);
        let mut answers = Vec::with_capacity(batch.len());
        {
            let generations = self.shared.read();
            let file = FileTables::new(&self.db, &self.shared.keys);
            for write in &mut batch {
                let decided = write.decide(&generations.layers(Some(&staged)), &file);
                answers.push(decided.map(|(answer, change)| {
                    if let Some(change) = change {
                        if let Change::Create { record, .. } = &change {
                            // Before any reader can find it in memory, so before its checkpoint.
                            insert_keys(&self.shared.keys, record);
                        }
                        self.sequence += 1;
                        staged.record(change, self.sequence);
                    }
                    answer
                }));
            }
        }
        let durable = if staged.is_empty() {
            Ok(())
        } else {
            self.make_durable(&mut staged)
        };
        self.staged = staged;
        for (write, answer) in batch.into_iter().zip(answers) {
            write.answer(durable.clone().and(answer));
        }
    }

    /// Journals the batch's entries and records them in the active generation; when the
    /// journal cannot take them, a checkpoint that includes them makes them durable instead.
    fn make_durable(&mut self, staged: &mut Generation) -> StoreResult<()> {
        let started = Instant::now();
        let appended = match self.files[self.current].as_mut() {
            Some(journal) => journal
                .append(staged.entries().iter().map(Vec::as_slice))
                .map_err(|e| {
                    tracing::error!(error = %e, journal = %journal.path().display(),
                        "payment index journal write failed; checkpointing instead");
                }),
            None => Err(()),
        };
        self.last_append_flushed = flushed_a_disk(started.elapsed());
        if appended.is_err() && self.files[self.current].take().is_some() {
            journal_failed();
        }
        // Visible to readers only now that it is durable (or about to be made so below).
        self.shared.write().active.absorb(staged);
        if appended.is_ok() {
            return Ok(());
        }
        // Fallback: the previous checkpoint must finish first, then this one carries the batch.
        self.wait_for_checkpoint();
        if self.has_frozen() {
            self.resend_frozen();
            self.wait_for_checkpoint();
            if self.has_frozen() {
                return Err(StoreError::Unavailable(
                    "the payment index cannot be made durable".to_owned(),
                ));
            }
        }
        self.freeze("fallback");
        match self.wait_for_checkpoint() {
            Some(done) => done,
            None => Err(StoreError::Unavailable(
                "the store committer has stopped".to_owned(),
            )),
        }
    }

    /// Freezes the active generation and hands it to the committer when a checkpoint is due:
    /// `idle`, or 250 ms or 2 MiB of writes; or sends a failed one again.
    fn checkpoint_if_due(&mut self, idle: bool) {
        while let Ok(done) = self.checkpoints_done.try_recv() {
            self.checkpoint_answered(done);
        }
        if self.in_flight {
            return;
        }
        if self.has_frozen() {
            if self.retry_at.is_none_or(|at| Instant::now() >= at) {
                self.resend_frozen();
            }
            return;
        }
        let bytes = self.shared.read().active.entry_bytes();
        let reason = if bytes == 0 {
            return;
        } else if bytes >= CHECKPOINT_BYTES {
            "size"
        } else if self.last_freeze.elapsed() >= CHECKPOINT_INTERVAL {
            "interval"
        } else if idle {
            "idle"
        } else {
            return;
        };
        self.freeze(reason);
    }

    /// Starts the next epoch in the other journal file and hands the active generation to
    /// the committer. Only when no checkpoint is pending: the other file's entries must be in
    /// the index file before they are overwritten.
    fn freeze(&mut self, reason: &'static str) {
        let generation = {
            let mut generations = self.shared.write();
            let next = Generation::sized_like(&generations.active);
            let generation = Arc::new(std::mem::replace(&mut generations.active, next));
            generations.frozen = Some(Arc::clone(&generation));
            generation
        };
        self.epoch += 1;
        self.current = 1 - self.current;
        let restarted = match self.files[self.current].as_mut() {
            Some(journal) => journal.restart(self.epoch),
            None => Journal::open(&self.paths[self.current], self.epoch).map(|(journal, _)| {
                tracing::info!("payment index journal writable again");
                self.files[self.current] = Some(journal);
            }),
        };
        if let Err(e) = restarted {
            tracing::error!(error = %e, "payment index journal cannot start a new epoch; checkpointing every write instead");
            if self.files[self.current].take().is_some() {
                journal_failed();
            }
        }
        self.last_freeze = Instant::now();
        self.send_checkpoint(generation, reason);
    }

    fn resend_frozen(&mut self) {
        let frozen = self.shared.read().frozen.clone();
        if let Some(generation) = frozen {
            self.send_checkpoint(generation, "retry");
        }
    }

    fn send_checkpoint(&mut self, generation: Arc<Generation>, reason: &'static str) {
        let checkpoint = Checkpoint {
            generation,
            epoch_after: self.epoch,
            reason,
        };
        self.in_flight = self
            .committer
            .send(ToCommitter::Checkpoint(checkpoint))
            .is_ok();
    }

    /// Waits for the checkpoint in flight, if there is one, and returns its outcome.
    fn wait_for_checkpoint(&mut self) -> Option<StoreResult<()>> {
        if !self.in_flight {
            return None;
        }
        let done = self.checkpoints_done.recv().unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the store committer has stopped".to_owned(),
            ))
        });
        self.checkpoint_answered(done.clone());
        Some(done)
    }

    fn checkpoint_answered(&mut self, done: StoreResult<()>) {
        self.in_flight = false;
        self.retry_at = done.is_err().then(|| Instant::now() + CHECKPOINT_RETRY);
    }
}

fn journal_failed() {
    METRICS
        .store_errors
        .with_label_values(&["embedded", "journal"])
        .inc();
}

/// A generation to apply to the file, and the epoch the file then names.
struct Checkpoint {
    generation: Arc<Generation>,
    epoch_after: u64,
    reason: &'static str,
}

enum ToCommitter {
    Durable(Box<dyn WriteJob>),
    Checkpoint(Checkpoint),
}

/// The committer: the only thread that writes to the file. It applies generations
/// (checkpoints) and the writes that have no journal entry, each batch in one durable commit.
struct Committer {
    db: Arc<Database>,
    shared: Arc<Shared>,
    done: mpsc::Sender<StoreResult<()>>,
}

impl Committer {
    fn run(self, inbox: mpsc::Receiver<ToCommitter>) {
        while let Ok(first) = inbox.recv() {
            let mut jobs = Vec::new();
            let mut checkpoints = Vec::new();
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    ToCommitter::Durable(job) => jobs.push(job),
                    ToCommitter::Checkpoint(c) => checkpoints.push(c),
                }
                if jobs.len() < MAX_BATCH {
                    next = inbox.try_recv().ok();
                }
            }
            if !jobs.is_empty() {
                let outcome = self.commit_jobs(&mut jobs);
                for job in jobs {
                    job.finish(outcome.clone());
                }
            }
            for checkpoint in checkpoints {
                self.checkpoint(checkpoint);
            }
        }
    }

    fn commit_jobs(&self, jobs: &mut [Box<dyn WriteJob>]) -> StoreResult<()> {
        // Durability::Immediate (the default): fsync'd when the commit returns.
        let txn = self.db.begin_write().map_err(internal)?;
        for job in jobs.iter_mut() {
            if let Err(e) = job.apply(&txn) {
                // Dropping an uncommitted transaction rolls it back.
                drop(txn.abort());
                return Err(e);
            }
        }
        txn.commit().map_err(internal)
    }

    fn checkpoint(&self, checkpoint: Checkpoint) {
        let started = Instant::now();
        let generation = &checkpoint.generation;
        let outcome = apply_checkpoint(&self.db, generation.entries(), checkpoint.epoch_after);
        match &outcome {
            Ok(()) => {
                let mut generations = self.shared.write();
                let applied = generations.frozen.take_if(|f| Arc::ptr_eq(f, generation));
                drop(generations);
                // Freed outside the lock: thousands of records take a while, and readers wait
                // for the lock.
                drop(applied);
                METRICS
                    .store_checkpoints
                    .with_label_values(&[checkpoint.reason])
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(e) => {
                // The journal still holds the writes, and memory serves them; tried again.
                tracing::error!(error = %e, "payment index checkpoint failed");
                METRICS
                    .store_errors
                    .with_label_values(&["embedded", "checkpoint"])
                    .inc();
            }
        }
        let _ = self.done.send(outcome);
    }
}

/// Brings a file of an older layout to [`CURRENT_LAYOUT`] inside `txn` (the caller commits).
/// A new file starts at the current layout.
fn migrate_layout(txn: &WriteTransaction) -> StoreResult<()> {
    let mut meta = txn.open_table(META).map_err(internal)?;
    let layout = meta.get(LAYOUT).map_err(internal)?.map(|g| g.value());
    if layout.is_some_and(|l| l >= CURRENT_LAYOUT) {
        return Ok(());
    }
    // Layout 1, or a new file (whose layout-1 tables are then created empty and dropped).
    let mut moved = 0u64;
    {
        let old = txn.open_table(LAYOUT1_BY_UPSTREAM).map_err(internal)?;
        let mut new = txn.open_table(BY_PROVIDER_ID).map_err(internal)?;
        for entry in old.iter().map_err(internal)? {
            let (key, id) = entry.map_err(internal)?;
            let (upstream_id, upstream_payment_id) = key.value();
            new.insert(provider_key(upstream_id, upstream_payment_id), id.value())
                .map_err(internal)?;
            moved += 1;
        }
    }
    txn.delete_table(LAYOUT1_BY_UPSTREAM).map_err(internal)?;
    txn.delete_table(LAYOUT1_BY_MERCHANT_PROVIDER)
        .map_err(internal)?;
    meta.insert(LAYOUT, CURRENT_LAYOUT).map_err(internal)?;
    if moved > 0 {
        tracing::info!(
            payments = moved,
            "payment index: provider-id indexes merged into one (layout {CURRENT_LAYOUT})"
        );
    }
    Ok(())
}

/// Applies journal entries, in order, in one durable commit that records `epoch_after`: the
/// file then holds everything journaled before that epoch.
fn apply_checkpoint(db: &Database, entries: &[Vec<u8>], epoch_after: u64) -> StoreResult<()> {
    let txn = db.begin_write().map_err(internal)?;
    let applied = IndexTables::open(&txn).and_then(|mut tables| {
        for (n, entry) in entries.iter().enumerate() {
            match tables.apply_redo(entry) {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => {
                    return Err(StoreError::Internal(format!(
                        "journal entry {n} cannot be applied: {e}"
                    )));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = applied {
        drop(txn.abort());
        return Err(e);
    }
    txn.open_table(META)
        .map_err(internal)?
        .insert(JOURNAL_EPOCH, epoch_after)
        .map_err(internal)?;
    txn.commit().map_err(internal)
}

/// One durable write waiting for the committer's next commit.
trait WriteJob: Send {
    /// Applies the write. An `Err` aborts the whole batch: the transaction may be half
    /// changed. Answers that must not abort the batch (a conflict) are kept as the result.
    fn apply(&mut self, txn: &WriteTransaction) -> StoreResult<()>;
    /// Answers the caller with its result once the commit's outcome is known.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
}

struct Job<R, F> {
    apply: Option<F>,
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

/// The tables a journaled write changes, opened once per checkpoint: opening and closing
/// five tables for every create cost about a twentieth of the index's CPU per create.
struct IndexTables<'txn> {
    payments: Table<'txn, u64, &'static [u8]>,
    by_provider_id: Table<'txn, (&'static str, &'static str), u64>,
    by_ref: Table<'txn, (&'static str, &'static str), u64>,
    by_token: Table<'txn, &'static str, u64>,
    by_merchant_time: Table<'txn, (&'static str, i64, u64), ()>,
    nonces: Table<'txn, (&'static str, &'static str), i64>,
    nonce_times: Table<'txn, (i64, &'static str, &'static str), ()>,
    /// See [`IndexTables::next_payment_id`].
    next_payment_id: Option<u64>,
}

impl<'txn> IndexTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> StoreResult<IndexTables<'txn>> {
        Ok(IndexTables {
            payments: txn.open_table(PAYMENTS).map_err(internal)?,
            by_provider_id: txn.open_table(BY_PROVIDER_ID).map_err(internal)?,
            by_ref: txn.open_table(BY_REF).map_err(internal)?,
            by_token: txn.open_table(BY_TOKEN).map_err(internal)?,
            by_merchant_time: txn.open_table(BY_MERCHANT_TIME).map_err(internal)?,
            nonces: txn.open_table(NONCES).map_err(internal)?,
            nonce_times: txn.open_table(NONCE_TIMES).map_err(internal)?,
            next_payment_id: None,
        })
    }

    /// Applies one journal entry.
    fn apply_redo(&mut self, entry: &[u8]) -> StoreResult<()> {
        let (&kind, body) = entry
            .split_first()
            .ok_or_else(|| StoreError::Internal("empty journal entry".to_owned()))?;
        match kind {
            REDO_CREATE => self.insert_payment(&record::index_keys(body)?, body),
            REDO_STATUS => self
                .set_status(&serde_json::from_slice(body).map_err(internal)?)
                .map(drop),
            REDO_NONCE => self
                .use_nonce(&serde_json::from_slice(body).map_err(internal)?)
                .map(drop),
            other => Err(StoreError::Internal(format!(
                "unknown journal entry kind {other}"
            ))),
        }
    }

    /// Records a created payment (`encoded`, as stored; `keys`, read from it), unless one is
    /// already recorded under its upstream key or merchant reference: then nothing changes.
    ///
    /// Each unique key is inserted straight away and put back in the rare case that it was
    /// taken (an entry applied again after a crash, or a duplicate): a lookup before every
    /// insert walked each B-tree twice. A refused write leaves nothing behind.
    fn insert_payment(&mut self, keys: &IndexKeys<'_>, encoded: &[u8]) -> StoreResult<()> {
        let id = self.next_payment_id()?;
        let provider_key = provider_key(&keys.upstream_id, &keys.upstream_payment_id);
        let recorded = self
            .by_provider_id
            .insert(provider_key, id)
            .map_err(internal)?
            .map(|g| g.value());
        if let Some(recorded) = recorded {
            self.by_provider_id
                .insert(provider_key, recorded)
                .map_err(internal)?;
            return Ok(());
        }
        let merchant_ref = keys
            .merchant_ref
            .as_deref()
            .map(|r| (keys.merchant_id.as_ref(), r));
        let recorded = match merchant_ref {
            Some(key) => self
                .by_ref
                .insert(key, id)
                .map_err(internal)?
                .map(|g| g.value()),
            None => None,
        };
        if let (Some(key), Some(recorded)) = (merchant_ref, recorded) {
            self.by_ref.insert(key, recorded).map_err(internal)?;
            self.by_provider_id.remove(provider_key).map_err(internal)?;
            return Ok(());
        }
        let token = keys.relay_token.as_ref();
        let owner = self
            .by_token
            .insert(token, id)
            .map_err(internal)?
            .map(|g| g.value());
        if let Some(owner) = owner {
            self.by_token.insert(token, owner).map_err(internal)?;
            if let Some(key) = merchant_ref {
                self.by_ref.remove(key).map_err(internal)?;
            }
            self.by_provider_id.remove(provider_key).map_err(internal)?;
            return Err(StoreError::Conflict(
                "relay token already belongs to another payment".to_owned(),
            ));
        }
        self.payments.insert(id, encoded).map_err(internal)?;
        self.by_merchant_time
            .insert((keys.merchant_id.as_ref(), keys.created_at_us, id), ())
            .map_err(internal)?;
        self.next_payment_id = Some(id + 1);
        Ok(())
    }

    /// The id the next payment gets: one more than the last, read once per transaction.
    fn next_payment_id(&mut self) -> StoreResult<u64> {
        if let Some(next) = self.next_payment_id {
            return Ok(next);
        }
        let next = match self.payments.last().map_err(internal)? {
            Some((last, _)) => last.value() + 1,
            None => 1,
        };
        self.next_payment_id = Some(next);
        Ok(next)
    }

    /// Sets a recorded payment's status; `false` when no payment has that upstream key.
    fn set_status(&mut self, change: &StatusChange) -> StoreResult<bool> {
        let Some(id) = self
            .by_provider_id
            .get(provider_key(
                &change.upstream_id,
                &change.upstream_payment_id,
            ))
            .map_err(internal)?
            .map(|g| g.value())
        else {
            return Ok(false);
        };
        let Some(mut record) = payment_by_id(&self.payments, id)? else {
            return Ok(false);
        };
        record.status.clone_from(&change.status);
        record.updated_at = from_micros(change.at_us);
        self.payments
            .insert(id, record::encode(&record)?.as_slice())
            .map_err(internal)?;
        Ok(true)
    }

    /// Records a nonce's use; `false` when it was already used within the window. Forgets, a
    /// bounded number per call, the nonces that have left the window.
    fn use_nonce(&mut self, used: &NonceUse) -> StoreResult<bool> {
        let cutoff = used.cutoff_us;
        let (key_id, nonce) = (used.key_id.as_str(), used.nonce.as_str());
        let (nonces, times) = (&mut self.nonces, &mut self.nonce_times);
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
}

/// A payment's new status, as the journal holds it.
#[derive(Serialize, Deserialize)]
struct StatusChange {
    upstream_id: String,
    upstream_payment_id: String,
    status: String,
    at_us: i64,
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

// Journal entries: a kind byte, then what the write needs to be applied again. Applying is
// deterministic (times and keys are in the entry), so replaying the entries in order on top of
// the checkpoint they follow rebuilds exactly what was committed.
const REDO_CREATE: u8 = 1;
const REDO_STATUS: u8 = 2;
const REDO_NONCE: u8 = 3;

/// A create's entry: the record as stored.
fn redo_create(payment: &PaymentRecord) -> StoreResult<Vec<u8>> {
    let mut entry = Vec::with_capacity(1 + record::size_hint(payment));
    entry.push(REDO_CREATE);
    record::write(payment, &mut entry)?;
    Ok(entry)
}

fn redo_json(kind: u8, write: &impl Serialize) -> StoreResult<Vec<u8>> {
    let mut entry = vec![kind];
    serde_json::to_writer(&mut entry, write).map_err(internal)?;
    Ok(entry)
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
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
        Some(bytes) => record::decode(bytes.value()).map(Some),
        None => Err(StoreError::Internal(format!(
            "index points at missing payment {id}"
        ))),
    }
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
        .write(move |txn| {
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
        let done =
            self.look_up(|layers, file| find_by_ref(layers, file, merchant_id, merchant_ref))?;
        if let Some(record) = done {
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
        // Encoded, and as a reader will get it back (times to the microsecond), before the
        // writer's serial section.
        let entry = redo_create(&record)?;
        let as_stored = Box::new(record::as_stored(record));
        let stored = self
            .journaled(|reply| JournaledWrite::Create {
                record: as_stored,
                entry,
                reply,
            })
            .await;
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
        self.look_up(|layers, file| {
            let (m, p) = (merchant_id, upstream_payment_id);
            if let Some(found) = layers.by_provider(m, p) {
                return Ok(Some(found.clone()));
            }
            // Every upstream's payment under this id (nearly always one); the merchant's
            // newest.
            let index = file.opened(&file.by_provider_id, BY_PROVIDER_ID)?;
            let payments = file.opened(&file.payments, PAYMENTS)?;
            let mut found: Option<(u64, PaymentRecord)> = None;
            for entry in index.range((p, "")..).map_err(internal)? {
                let (key, id) = entry.map_err(internal)?;
                if key.value().0 != p {
                    break;
                }
                let id = id.value();
                if let Some(record) = payment_by_id(payments, id)?
                    && record.merchant_id == m
                    && found.as_ref().is_none_or(|(newest_id, _)| id > *newest_id)
                {
                    found = Some((id, record));
                }
            }
            Ok(found.map(|(_, r)| newest(layers, r)))
        })
    }

    async fn get_by_ref(
        &self,
        merchant_id: &str,
        merchant_ref: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.look_up(|layers, file| find_by_ref(layers, file, merchant_id, merchant_ref))
    }

    async fn get_by_relay_token(&self, token: &str) -> StoreResult<Option<PaymentRecord>> {
        self.look_up(|layers, file| find_by_token(layers, file, token))
    }

    async fn get_by_upstream(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
    ) -> StoreResult<Option<PaymentRecord>> {
        self.look_up(|layers, file| {
            find_by_upstream(layers, file, upstream_id, upstream_payment_id)
        })
    }

    async fn list_by_merchant(
        &self,
        merchant_id: &str,
        limit: usize,
        offset: usize,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let merchant_id = merchant_id.to_owned();
        self.read_payments(move |layers, file| {
            let txn = file.txn()?;
            let m = merchant_id.as_str();
            let in_memory = layers.creates_of(m);
            // A checkpoint just made visible may be in both; memory's copy is the one kept.
            let held: HashSet<UpstreamKey> =
                in_memory.iter().map(|c| upstream_key(c.record)).collect();
            let wanted = offset.saturating_add(limit);
            let index = txn.open_table(BY_MERCHANT_TIME).map_err(internal)?;
            let payments = txn.open_table(PAYMENTS).map_err(internal)?;
            let mut in_file = Vec::new();
            for entry in index
                .range((m, i64::MIN, 0)..=(m, i64::MAX, u64::MAX))
                .map_err(internal)?
                .rev()
            {
                if in_file.len() >= wanted {
                    break;
                }
                let (key, _) = entry.map_err(internal)?;
                let (_, created_us, id) = key.value();
                if let Some(record) = payment_by_id(&payments, id)?
                    && !held.contains(&upstream_key(&record))
                {
                    in_file.push((created_us, newest(layers, record)));
                }
            }
            // Newest first; at the same time, memory's creates are the newer (their ids will
            // be higher).
            let mut out = Vec::new();
            let mut memory = in_memory.into_iter().peekable();
            let mut file = in_file.into_iter().peekable();
            while out.len() < wanted {
                let from_memory = match (memory.peek(), file.peek()) {
                    (Some(a), Some((b, _))) => a.created_us >= *b,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                let next = if from_memory {
                    memory.next().map(|c| c.record.clone())
                } else {
                    file.next().map(|(_, r)| r)
                };
                out.extend(next);
            }
            Ok(out.into_iter().skip(offset).collect())
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
        self.journaled(|reply| JournaledWrite::Status { change, reply })
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
        self.journaled(|reply| JournaledWrite::Nonce { used, reply })
            .await
    }

    async fn enqueue_event(&self, event: OutboxEvent) -> StoreResult<Enqueued> {
        self.write(move |txn| {
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
        self.write(move |txn| {
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
        self.write(move |txn| {
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
    use redb::TableHandle;

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

    #[test]
    fn writes_are_gathered_only_for_appends_that_flush_a_disk() {
        // A memory filesystem's append: nothing to share, no wait.
        assert!(!flushed_a_disk(Duration::from_micros(4)));
        assert!(!flushed_a_disk(GATHER_MIN_APPEND - Duration::from_nanos(1)));
        // A disk flush: wait for company.
        assert!(flushed_a_disk(GATHER_MIN_APPEND));
        assert!(flushed_a_disk(Duration::from_millis(8)));
    }

    /// After an open, the key filter is filled from the file in the background; once it is
    /// complete, every key of the file is still found through it (by lookups and by the
    /// writes that must find the first payment), and a key never recorded is not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_key_filter_filled_from_the_file_finds_every_key_in_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.redb");
        let kept: Vec<PaymentRecord> = (0..50).map(record).collect();
        {
            let store = EmbeddedStore::open(&path).expect("open");
            for r in &kept {
                store.complete_create(r.clone()).await.expect("create");
            }
        }
        let store = EmbeddedStore::open(&path).expect("reopen");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !store.shared.keys.is_complete() {
            assert!(Instant::now() < deadline, "the filter was never filled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            store.shared.read().active.is_empty(),
            "all of it is in the file"
        );
        let stored = |r: &PaymentRecord| Some(record::as_stored(r.clone()));
        for r in &kept {
            let by_ref = store.get_by_ref("m", r.merchant_ref.as_deref().unwrap_or_default());
            assert_eq!(by_ref.await.expect("by ref"), stored(r));
            let by_upstream = store.get_by_upstream("u", &r.upstream_payment_id);
            assert_eq!(by_upstream.await.expect("by upstream"), stored(r));
            let by_token = store.get_by_relay_token(&r.relay_token);
            assert_eq!(by_token.await.expect("by token"), stored(r));
        }
        let first = &kept[0];
        let claim = store.claim_create(
            "m",
            first.merchant_ref.as_deref().unwrap_or_default(),
            OffsetDateTime::now_utc(),
            Duration::from_secs(60),
        );
        assert_eq!(
            claim.await.expect("claim"),
            Claim::Done(Box::new(record::as_stored(first.clone())))
        );
        let same_payment = PaymentRecord {
            merchant_ref: Some("another".to_owned()),
            relay_token: new_relay_token(),
            ..first.clone()
        };
        let answer = store.complete_create(same_payment).await.expect("repeat");
        assert_eq!(answer, record::as_stored(first.clone()));
        let same_ref = PaymentRecord {
            merchant_ref: kept[1].merchant_ref.clone(),
            ..record(100)
        };
        let answer = store
            .complete_create(same_ref)
            .await
            .expect("same reference");
        assert_eq!(answer, record::as_stored(kept[1].clone()));
        let same_token = PaymentRecord {
            relay_token: kept[2].relay_token.clone(),
            ..record(101)
        };
        assert!(matches!(
            store.complete_create(same_token).await,
            Err(StoreError::Conflict(_))
        ));
        // New keys are new.
        assert_eq!(
            store.get_by_ref("m", "ref-100").await.expect("by ref"),
            None
        );
        let fresh = record(102);
        assert_eq!(
            store.complete_create(fresh.clone()).await.expect("create"),
            record::as_stored(fresh)
        );
    }

    /// A checkpoint inserts each unique key without looking first, and puts it back when it
    /// was taken: an entry applied again changes nothing, a payment under a recorded reference
    /// leaves nothing behind, a reused relay token is refused with nothing left of its
    /// payment, and the next payment still gets the next id.
    #[test]
    fn a_checkpoint_keeps_the_first_payment_of_every_key() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Database::create(dir.path().join("index.redb")).expect("create");
        let first = record(1);
        let same_ref = PaymentRecord {
            merchant_ref: first.merchant_ref.clone(),
            ..record(2)
        };
        let same_token = PaymentRecord {
            relay_token: first.relay_token.clone(),
            ..record(3)
        };
        let next = record(4);
        let txn = db.begin_write().expect("write");
        {
            let mut tables = IndexTables::open(&txn).expect("tables");
            let mut apply = |r: &PaymentRecord| tables.apply_redo(&redo_create(r).expect("entry"));
            assert!(apply(&first).is_ok());
            assert!(apply(&first).is_ok(), "applied again");
            assert!(
                apply(&same_ref).is_ok(),
                "the first under its reference is kept"
            );
            assert!(matches!(apply(&same_token), Err(StoreError::Conflict(_))));
            assert!(apply(&next).is_ok());
        }
        txn.commit().expect("commit");

        let txn = db.begin_read().expect("read");
        let ids = |table: TableDefinition<(&str, &str), u64>, key: (&str, &str)| {
            txn.open_table(table)
                .expect("table")
                .get(key)
                .expect("get")
                .map(|g| g.value())
        };
        let by_provider = |r: &PaymentRecord| {
            ids(
                BY_PROVIDER_ID,
                provider_key(&r.upstream_id, &r.upstream_payment_id),
            )
        };
        let by_ref = |r: &PaymentRecord| {
            ids(
                BY_REF,
                (
                    r.merchant_id.as_str(),
                    r.merchant_ref.as_deref().unwrap_or(""),
                ),
            )
        };
        assert_eq!(by_provider(&first), Some(1));
        assert_eq!(by_ref(&first), Some(1));
        assert_eq!(by_provider(&same_ref), None);
        assert_eq!(by_provider(&same_token), None);
        assert_eq!(by_ref(&same_token), None);
        assert_eq!(by_provider(&next), Some(2));
        assert_eq!(by_ref(&next), Some(2));
        let tokens = txn.open_table(BY_TOKEN).expect("tokens");
        assert_eq!(
            tokens
                .get(first.relay_token.as_str())
                .expect("get")
                .map(|g| g.value()),
            Some(1)
        );
        assert_eq!(tokens.len().expect("len"), 2);
        assert_eq!(
            txn.open_table(PAYMENTS)
                .expect("payments")
                .len()
                .expect("len"),
            2
        );
        let listed = txn.open_table(BY_MERCHANT_TIME).expect("listing");
        assert_eq!(listed.len().expect("len"), 2);
        let stored = txn.open_table(PAYMENTS).expect("payments");
        let second = payment_by_id(&stored, 2).expect("read").expect("payment 2");
        assert_eq!(second.upstream_payment_id, next.upstream_payment_id);
    }

    /// A file written by the previous layout (two indexes over the provider's payment id) is
    /// migrated when opened, and every lookup finds its payments afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_layout_1_file_is_migrated_and_its_payments_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.redb");
        let first = record(1);
        let mut other_merchant = record(2);
        other_merchant.merchant_id = "m2".to_owned();
        {
            // What layout 1 wrote for two payments, table by table.
            let db = Database::create(&path).expect("create");
            let txn = db.begin_write().expect("write");
            {
                let mut payments = txn.open_table(PAYMENTS).expect("payments");
                let mut by_upstream = txn.open_table(LAYOUT1_BY_UPSTREAM).expect("by_upstream");
                let mut by_mp = txn
                    .open_table(LAYOUT1_BY_MERCHANT_PROVIDER)
                    .expect("by_merchant_provider");
                let mut by_ref = txn.open_table(BY_REF).expect("by_ref");
                let mut by_token = txn.open_table(BY_TOKEN).expect("by_token");
                let mut by_time = txn.open_table(BY_MERCHANT_TIME).expect("by_time");
                for (id, r) in [(1u64, &first), (2, &other_merchant)] {
                    // Layout-1 files hold JSON records.
                    let encoded = record::encode_json(r);
                    payments.insert(id, encoded.as_slice()).expect("insert");
                    let (u, p) = (r.upstream_id.as_str(), r.upstream_payment_id.as_str());
                    by_upstream.insert((u, p), id).expect("insert");
                    by_mp
                        .insert((r.merchant_id.as_str(), p, id), ())
                        .expect("insert");
                    let reference = r.merchant_ref.as_deref().expect("a reference");
                    by_ref
                        .insert((r.merchant_id.as_str(), reference), id)
                        .expect("insert");
                    by_token.insert(r.relay_token.as_str(), id).expect("insert");
                    by_time
                        .insert((r.merchant_id.as_str(), to_micros(r.created_at), id), ())
                        .expect("insert");
                }
                let mut meta = txn.open_table(META).expect("meta");
                meta.insert(JOURNAL_EPOCH, 4).expect("insert");
            }
            txn.commit().expect("commit");
        }

        let store = EmbeddedStore::open(&path).expect("open and migrate");
        let by_provider = store.get_by_provider_id("m", "pay-1").await.expect("read");
        assert_eq!(by_provider.as_ref(), Some(&first));
        assert_eq!(
            store.get_by_provider_id("m", "pay-2").await.expect("read"),
            None
        );
        assert_eq!(
            store.get_by_provider_id("m2", "pay-2").await.expect("read"),
            Some(other_merchant.clone())
        );
        assert_eq!(
            store.get_by_upstream("u", "pay-2").await.expect("read"),
            Some(other_merchant.clone())
        );
        // A repeated create finds the migrated payment instead of recording a second one.
        let mut again = record(1);
        again.merchant_ref = Some("another-ref".to_owned());
        assert_eq!(store.complete_create(again).await.expect("create"), first);
        // A status change reaches the migrated payment through the new index.
        assert!(
            store
                .update_status("u", "pay-1", "paid", OffsetDateTime::now_utc())
                .await
                .expect("update")
        );
        drop(store);

        let db = Database::open(&path).expect("open the file");
        let txn = db.begin_read().expect("read");
        let tables: Vec<String> = txn
            .list_tables()
            .expect("tables")
            .map(|t| t.name().to_owned())
            .collect();
        assert!(tables.contains(&"by_provider_id".to_owned()), "{tables:?}");
        assert!(!tables.contains(&"by_upstream".to_owned()), "{tables:?}");
        assert!(
            !tables.contains(&"by_merchant_provider".to_owned()),
            "{tables:?}"
        );
        let meta = txn.open_table(META).expect("meta");
        assert_eq!(meta.get(LAYOUT).expect("get").map(|g| g.value()), Some(2));
        let payments = txn.open_table(PAYMENTS).expect("payments");
        let stored = payment_by_id(&payments, 1)
            .expect("read")
            .expect("payment 1");
        assert_eq!(stored.status, "paid");
        assert_eq!(payments.len().expect("len"), 2);
    }

    /// When the journal cannot take a batch, the batch is made durable by a checkpoint of the
    /// index file before it is answered, and the store goes on: every write answered is in
    /// the index file itself, and the journal is used again once it works.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_journal_is_replaced_by_checkpoints_and_taken_back_when_it_works() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.redb");
        let journals = journal::paths_for(&path);
        let failures = || {
            METRICS
                .store_errors
                .with_label_values(&["embedded", "journal"])
                .get()
        };
        let fallback_checkpoints = || {
            METRICS
                .store_checkpoints
                .with_label_values(&["fallback"])
                .get_sample_count()
        };
        let store = EmbeddedStore::open(&path).expect("open");
        store.complete_create(record(1)).await.expect("create 1");

        let (failures_before, fallbacks_before) = (failures(), fallback_checkpoints());
        for journal in &journals {
            journal::faults::fail_appends(journal, true);
        }
        for n in 2..=4 {
            let created = store.complete_create(record(n)).await;
            assert_eq!(
                created
                    .expect("answered while the journal fails")
                    .upstream_payment_id,
                format!("pay-{n}")
            );
        }
        assert!(failures() > failures_before, "the failure is counted");
        assert_eq!(
            fallback_checkpoints() - fallbacks_before,
            3,
            "each create was made durable by a checkpoint of its own"
        );

        // The index file alone, copied while nothing is being written (the last answer came
        // after its checkpoint), already holds every payment answered: what a crash now keeps.
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&path, &copy).expect("copy the index file");
        {
            let copied = EmbeddedStore::open(&copy).expect("open the copy");
            for n in 1..=4 {
                let found = copied
                    .get_by_ref("m", &format!("ref-{n}"))
                    .await
                    .expect("read the copy");
                assert!(found.is_some(), "payment {n} is in the index file");
            }
        }

        for journal in &journals {
            journal::faults::fail_appends(journal, false);
        }
        let (failures_after, fallbacks_after) = (failures(), fallback_checkpoints());
        for n in 5..=7 {
            store.complete_create(record(n)).await.expect("create");
        }
        assert_eq!(failures(), failures_after);
        assert_eq!(
            fallback_checkpoints(),
            fallbacks_after,
            "the journal makes the creates durable again"
        );
        drop(store);
        let reopened = EmbeddedStore::open(&path).expect("reopen");
        for n in 1..=7 {
            let found = reopened
                .get_by_ref("m", &format!("ref-{n}"))
                .await
                .expect("read");
            assert_eq!(
                found.map(|r| r.upstream_payment_id),
                Some(format!("pay-{n}"))
            );
        }
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
            redo_create(&stored).expect("encode"),
            // As the version before packed records journaled it: a crash, then an upgrade.
            [&[REDO_CREATE][..], &record::encode_json(&lost)].concat(),
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
        // The crash came while epoch `epoch`'s checkpoint was under way: its creates are in
        // one file, and the status change and nonce written meanwhile in the other.
        let paths = journal::paths_for(&path);
        let holding = paths
            .iter()
            .position(|p| Journal::epoch_of(p).expect("header") == Some(epoch))
            .expect("a clean close leaves a file naming the file's epoch");
        let (mut journal, found) = Journal::open(&paths[holding], epoch).expect("journal");
        assert!(found.is_empty(), "a clean close leaves the journal empty");
        journal
            .append(entries[..2].iter().map(Vec::as_slice))
            .expect("append");
        let (mut next, _) = Journal::open(&paths[1 - holding], epoch + 1).expect("journal");
        next.append(entries[2..].iter().map(Vec::as_slice))
            .expect("append");
        drop((journal, next));

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

    /// Reads join what the file holds with what is still in memory: a list pages across both
    /// in one order (newest first, later creates first at the same time), and a status change
    /// not yet checkpointed shows through every way of finding the payment.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_join_the_file_and_the_writes_not_yet_in_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.redb");
        let base = OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("time");
        // Pairs of creates share a timestamp, so that ties are ordered too.
        let at = |n: usize| base + time::Duration::seconds((n / 2) as i64);
        let records: Vec<PaymentRecord> = (0..10)
            .map(|n| PaymentRecord {
                created_at: at(n),
                updated_at: at(n),
                ..record(n)
            })
            .collect();
        {
            let store = EmbeddedStore::open(&path).expect("open");
            for r in &records[..5] {
                store.complete_create(r.clone()).await.expect("create");
            }
        }
        // The first five are in the file now; the next five and a status change to one of
        // the first are written just before the reads.
        let store = EmbeddedStore::open(&path).expect("reopen");
        for r in &records[5..] {
            store.complete_create(r.clone()).await.expect("create");
        }
        let later = base + time::Duration::seconds(60);
        assert!(
            store
                .update_status("u", "pay-1", "paid", later)
                .await
                .expect("status")
        );
        let mut expected: Vec<PaymentRecord> = records.iter().rev().cloned().collect();
        for r in &mut expected {
            if r.upstream_payment_id == "pay-1" {
                r.status = "paid".to_owned();
                r.updated_at = later;
            }
        }
        for offset in 0..=10 {
            for limit in [1, 3, 10] {
                let page = store
                    .list_by_merchant("m", limit, offset)
                    .await
                    .expect("list");
                let want: Vec<_> = expected.iter().skip(offset).take(limit).cloned().collect();
                assert_eq!(page, want, "offset {offset}, limit {limit}");
            }
        }
        let paid = &expected[8];
        assert_eq!(paid.upstream_payment_id, "pay-1");
        let found = [
            store.get_by_ref("m", "ref-1").await.expect("by ref"),
            store
                .get_by_relay_token(&paid.relay_token)
                .await
                .expect("by token"),
            store
                .get_by_provider_id("m", "pay-1")
                .await
                .expect("by provider id"),
            store
                .get_by_upstream("u", "pay-1")
                .await
                .expect("by upstream"),
        ];
        for f in found {
            assert_eq!(f.as_ref(), Some(paid));
        }
        // A create repeated while the first is only in memory finds it.
        let again = store
            .complete_create(PaymentRecord {
                upstream_payment_id: "pay-other".to_owned(),
                relay_token: new_relay_token(),
                ..records[9].clone()
            })
            .await
            .expect("repeat");
        assert_eq!(again, records[9]);
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
        // Concurrent, so they share journal appends (one fsync per batch).
        let mut writes = tokio::task::JoinSet::new();
        let store = Arc::new(store);
        for r in records.iter().cloned() {
            let store = Arc::clone(&store);
            writes.spawn(async move { store.complete_create(r).await });
        }
        while let Some(written) = writes.join_next().await {
            written.expect("task").expect("written");
        }
        // Closed, so that the last writes are in the file, not in memory; then read back.
        drop(Arc::into_inner(store).expect("the last handle"));
        let store =
            EmbeddedStore::open_with_cache(&dir.path().join("index.redb"), cache).expect("reopen");
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
