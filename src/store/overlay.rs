//! The embedded store's in-memory layer: the journaled writes that the index file does not
//! hold yet.
//!
//! A write on the request path (a create, a status change, an Apollo nonce) is made durable
//! by the journal and recorded here; the B-tree work happens later, when a checkpoint applies a
//! whole generation of writes to redb in one transaction, off the request path. Until that
//! commit is visible, readers find the write here. A lookup asks the generations newest first
//! (the writer's batch, the active generation, the one being checkpointed), then the file.

use std::collections::BTreeMap;
use std::sync::Arc;

// foldhash (randomly seeded per process) rather than SipHash: these maps take several inserts
// and lookups per create on the journal writer's thread.
use hashbrown::{Equivalent, HashMap};

use super::PaymentRecord;

/// Two strings as one map key: (upstream id, upstream payment id), (merchant, reference), ...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Pair(pub String, pub String);

/// A [`Pair`] borrowed, to look one up without copying its strings. It must hash exactly as
/// `Pair` does: both derive `Hash` over the same two strings, in the same order.
#[derive(Hash)]
pub(super) struct PairRef<'a>(pub &'a str, pub &'a str);

impl Equivalent<Pair> for PairRef<'_> {
    fn equivalent(&self, key: &Pair) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl Equivalent<Arc<Pair>> for PairRef<'_> {
    fn equivalent(&self, key: &Arc<Pair>) -> bool {
        self.equivalent(&**key)
    }
}

/// (upstream id, upstream payment id): what identifies a payment everywhere. Shared by every
/// map entry that points at the payment, so a create copies these strings once.
pub(super) type UpstreamKey = Arc<Pair>;

pub(super) fn upstream_key(record: &PaymentRecord) -> UpstreamKey {
    Arc::new(Pair(
        record.upstream_id.clone(),
        record.upstream_payment_id.clone(),
    ))
}

/// A journaled write's change, with its redo entry.
pub(super) enum Change {
    Create {
        record: PaymentRecord,
        entry: Vec<u8>,
    },
    /// A payment's new version (its status changed).
    Version {
        record: PaymentRecord,
        entry: Vec<u8>,
    },
    Nonce {
        key_id: String,
        nonce: String,
        at_us: i64,
        entry: Vec<u8>,
    },
}

/// The writes of one journal epoch, as readers need them and as the checkpoint applies them.
#[derive(Default)]
pub(super) struct Generation {
    /// Redo entries in the order they were journaled: what the checkpoint applies.
    entries: Vec<Vec<u8>>,
    entry_bytes: u64,
    /// The newest version of every payment created or changed in this generation.
    payments: HashMap<UpstreamKey, PaymentRecord>,
    /// (merchant, merchant reference) -> payment.
    by_ref: HashMap<Pair, UpstreamKey>,
    by_token: HashMap<String, UpstreamKey>,
    /// (merchant, upstream payment id) -> payment.
    by_provider: HashMap<Pair, UpstreamKey>,
    /// (merchant, created µs, write sequence) -> payment: the creates, for listing.
    by_merchant_time: BTreeMap<(String, i64, u64), UpstreamKey>,
    /// (key id, nonce) -> when used (µs).
    nonces: HashMap<Pair, i64>,
}

impl Generation {
    pub fn entries(&self) -> &[Vec<u8>] {
        &self.entries
    }

    pub fn entry_bytes(&self) -> u64 {
        self.entry_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records a change; `sequence` orders creates with the same timestamp as the file will.
    pub fn record(&mut self, change: Change, sequence: u64) {
        match change {
            Change::Create { record, entry } => {
                self.add_create(record, sequence);
                self.push_entry(entry);
            }
            Change::Version { record, entry } => {
                self.payments.insert(upstream_key(&record), record);
                self.push_entry(entry);
            }
            Change::Nonce {
                key_id,
                nonce,
                at_us,
                entry,
            } => {
                self.nonces.insert(Pair(key_id, nonce), at_us);
                self.push_entry(entry);
            }
        }
    }

    fn add_create(&mut self, record: PaymentRecord, sequence: u64) {
        let key = upstream_key(&record);
        if let Some(r) = &record.merchant_ref {
            self.by_ref
                .insert(Pair(record.merchant_id.clone(), r.clone()), key.clone());
        }
        self.by_token
            .insert(record.relay_token.clone(), key.clone());
        self.by_provider.insert(
            Pair(
                record.merchant_id.clone(),
                record.upstream_payment_id.clone(),
            ),
            key.clone(),
        );
        self.by_merchant_time.insert(
            (
                record.merchant_id.clone(),
                super::types::to_micros(record.created_at),
                sequence,
            ),
            key.clone(),
        );
        self.payments.insert(key, record);
    }

    /// Takes in a newer generation's writes (the writer's batch, once journaled). `newer` is
    /// left empty with its room kept: the writer stages every batch in the same one, instead
    /// of growing fresh maps for each.
    pub fn absorb(&mut self, newer: &mut Generation) {
        self.entries.append(&mut newer.entries);
        self.entry_bytes += std::mem::take(&mut newer.entry_bytes);
        self.payments.extend(newer.payments.drain());
        self.by_ref.extend(newer.by_ref.drain());
        self.by_token.extend(newer.by_token.drain());
        self.by_provider.extend(newer.by_provider.drain());
        // Not `append`: that rebuilds the whole tree, for a batch of a few entries.
        self.by_merchant_time
            .extend(std::mem::take(&mut newer.by_merchant_time));
        self.nonces.extend(newer.nonces.drain());
    }

    /// An empty generation with room for as many writes as `like` holds. Under steady load the
    /// next epoch takes about as many as the last, so its maps need not grow step by step,
    /// moving every entry at each step, while the writer holds the readers' lock.
    pub fn sized_like(like: &Generation) -> Generation {
        Generation {
            entries: Vec::with_capacity(like.entries.len()),
            entry_bytes: 0,
            payments: HashMap::with_capacity(like.payments.len()),
            by_ref: HashMap::with_capacity(like.by_ref.len()),
            by_token: HashMap::with_capacity(like.by_token.len()),
            by_provider: HashMap::with_capacity(like.by_provider.len()),
            by_merchant_time: BTreeMap::new(),
            nonces: HashMap::with_capacity(like.nonces.len()),
        }
    }

    fn push_entry(&mut self, entry: Vec<u8>) {
        self.entry_bytes += entry.len() as u64;
        self.entries.push(entry);
    }
}

/// Generations to consult, newest first.
pub(super) struct Layers<'a> {
    newest_first: Vec<&'a Generation>,
}

/// A create held in memory, with what orders it in a merchant's list.
pub(super) struct ListedCreate<'a> {
    pub created_us: i64,
    pub sequence: u64,
    pub record: &'a PaymentRecord,
}

impl<'a> Layers<'a> {
    pub fn new(newest_first: impl IntoIterator<Item = &'a Generation>) -> Layers<'a> {
        Layers {
            newest_first: newest_first.into_iter().collect(),
        }
    }

    /// The newest version of a payment held in memory.
    pub fn payment(
        &self,
        upstream_id: &str,
        upstream_payment_id: &str,
    ) -> Option<&'a PaymentRecord> {
        let key = PairRef(upstream_id, upstream_payment_id);
        self.newest_first.iter().find_map(|g| g.payments.get(&key))
    }

    pub fn by_ref(&self, merchant_id: &str, merchant_ref: &str) -> Option<&'a PaymentRecord> {
        let key = PairRef(merchant_id, merchant_ref);
        self.via(|g| g.by_ref.get(&key))
    }

    pub fn by_token(&self, token: &str) -> Option<&'a PaymentRecord> {
        self.via(|g| g.by_token.get(token))
    }

    pub fn by_provider(
        &self,
        merchant_id: &str,
        upstream_payment_id: &str,
    ) -> Option<&'a PaymentRecord> {
        let key = PairRef(merchant_id, upstream_payment_id);
        self.via(|g| g.by_provider.get(&key))
    }

    pub fn nonce(&self, key_id: &str, nonce: &str) -> Option<i64> {
        let key = PairRef(key_id, nonce);
        self.newest_first
            .iter()
            .find_map(|g| g.nonces.get(&key).copied())
    }

    /// A merchant's creates held in memory, newest first.
    pub fn creates_of(&self, merchant_id: &str) -> Vec<ListedCreate<'a>> {
        let m = merchant_id.to_owned();
        let mut out: Vec<ListedCreate<'a>> = Vec::new();
        for g in &self.newest_first {
            let range = (m.clone(), i64::MIN, 0)..=(m.clone(), i64::MAX, u64::MAX);
            for ((_, created_us, sequence), key) in g.by_merchant_time.range(range) {
                if let Some(record) = self.payment(&key.0, &key.1) {
                    out.push(ListedCreate {
                        created_us: *created_us,
                        sequence: *sequence,
                        record,
                    });
                }
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse((c.created_us, c.sequence)));
        out
    }

    /// Follows an index of one generation to the payment's newest version.
    fn via(
        &self,
        index: impl Fn(&'a Generation) -> Option<&'a UpstreamKey>,
    ) -> Option<&'a PaymentRecord> {
        let key = self.newest_first.iter().find_map(|g| index(g))?;
        self.payment(&key.0, &key.1)
    }
}
