//! Which unique keys the embedded index may hold: a Bloom filter over every payment's provider
//! key, merchant reference and relay token.
//!
//! A create is decided against the file before it is journaled (a repeated create finds the
//! first; a taken relay token is refused), and its claim looks its reference up first. Nearly
//! every create's keys are new, and proving that from the file costs a B-tree walk per key:
//! 43 % of the journal writer's instructions with random provider ids (callgrind, BENCHMARKS.md).
//! The filter proves it in memory; only a key the filter may hold (a real repeat, or about 1 %
//! of new keys) is looked up in the file.
//!
//! The filter may hold more than the file (keys are added when a create is recorded in memory,
//! before its checkpoint), never less: a key in the file was in memory first. The file's keys
//! are read into it in the background after an open (the 5.7 million keys of 1.9 million
//! payments: about 5 s on the benchmark machine with the file in the page cache, over 20 s
//! when it must be read from disk); until that is done, it says that it may hold every key,
//! and lookups read the file as they would without it.
//!
//! It grows by adding segments, each twice as large as the last with half its false-positive
//! rate, so that all of them together stay under [`FALSE_POSITIVES`]. Memory: about 1.4 bytes
//! per key after an open, up to about 2.3 as it grows; three keys a payment, so about 4 to 7
//! bytes per payment (40 to 70 MiB for ten million).

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use fastbloom::AtomicBloomFilter;

/// The false-positive rate of all segments together, at most.
const FALSE_POSITIVES: f64 = 0.01;
/// The keys the first segment is sized for, at least.
const FIRST_CAPACITY: usize = 1 << 16;

/// One of a payment's unique keys in the index.
#[derive(Hash)]
pub(super) enum IndexKey<'a> {
    /// The upstream's payment: (upstream id, its payment id).
    Provider(&'a str, &'a str),
    /// The merchant's reference: (merchant id, reference).
    Ref(&'a str, &'a str),
    /// The webhook relay token.
    Token(&'a str),
}

pub(super) struct KeyFilter {
    hasher: hashbrown::DefaultHashBuilder,
    /// Oldest first; keys go into the last one.
    segments: RwLock<Vec<Segment>>,
    /// Every key of the file has been inserted: until then, a key not found may still be held.
    complete: AtomicBool,
}

struct Segment {
    bloom: AtomicBloomFilter,
    capacity: usize,
    keys: AtomicUsize,
}

impl Segment {
    fn new(capacity: usize, false_positives: f64) -> Segment {
        Segment {
            bloom: AtomicBloomFilter::with_false_pos(false_positives).expected_items(capacity),
            capacity,
            keys: AtomicUsize::new(0),
        }
    }
}

impl KeyFilter {
    /// An incomplete filter whose first segment has room for `keys` (what the file has) and
    /// a quarter more.
    pub fn with_room_for(keys: usize) -> KeyFilter {
        let capacity = keys.saturating_add(keys / 4).max(FIRST_CAPACITY);
        KeyFilter {
            hasher: hashbrown::DefaultHashBuilder::default(),
            segments: RwLock::new(vec![Segment::new(capacity, FALSE_POSITIVES / 2.0)]),
            complete: AtomicBool::new(false),
        }
    }

    /// Every key of the file is in: from now on a key not found is not in the file.
    pub fn mark_complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    pub fn insert(&self, key: &IndexKey<'_>) {
        let hash = self.hasher.hash_one(key);
        let full = {
            let segments = self.read();
            let Some(last) = segments.last() else {
                return;
            };
            last.bloom.insert_hash(hash);
            last.keys.fetch_add(1, Ordering::Relaxed) + 1 >= last.capacity
        };
        if full {
            self.grow();
        }
    }

    /// `false` when the file cannot hold the key; `true` when it may.
    pub fn may_hold(&self, key: &IndexKey<'_>) -> bool {
        if !self.complete.load(Ordering::Acquire) {
            return true;
        }
        let hash = self.hasher.hash_one(key);
        self.read().iter().any(|s| s.bloom.contains_hash(hash))
    }

    /// Whether [`Self::mark_complete`] was called.
    #[cfg(test)]
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// How many segments the filter has grown to.
    #[cfg(test)]
    fn segments(&self) -> usize {
        self.read().len()
    }

    fn grow(&self) {
        let mut segments = self.segments.write().unwrap_or_else(|p| p.into_inner());
        let Some(last) = segments.last() else {
            return;
        };
        if last.keys.load(Ordering::Relaxed) < last.capacity {
            return;
        }
        let false_positives = FALSE_POSITIVES / f64::from(2u32 << segments.len().min(30));
        let next = Segment::new(last.capacity.saturating_mul(2), false_positives);
        segments.push(next);
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<Segment>> {
        // Segments are only ever pushed whole; a poisoned lock still guards sound data.
        self.segments.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_key_is_held_across_growth_and_kinds_do_not_mix() {
        let filter = KeyFilter::with_room_for(0);
        let n = FIRST_CAPACITY * 2 + 7;
        let ids: Vec<String> = (0..n).map(|i| format!("id-{i}")).collect();
        for id in &ids {
            filter.insert(&IndexKey::Token(id));
        }
        // Until it is complete, it holds anything.
        assert!(filter.may_hold(&IndexKey::Token("never inserted")));
        filter.mark_complete();
        assert!(!filter.may_hold(&IndexKey::Token("never inserted")));
        assert_eq!(
            filter.segments(),
            2,
            "room for 64k keys, then for 128k more"
        );
        assert!(ids.iter().all(|id| filter.may_hold(&IndexKey::Token(id))));
        // The same strings as another kind of key, and keys never inserted: nearly all absent.
        let held = ids
            .iter()
            .filter(|id| filter.may_hold(&IndexKey::Ref("m", id)))
            .count();
        assert!(held < n / 50, "{held} of {n} false positives");
        let held = (0..n)
            .filter(|i| filter.may_hold(&IndexKey::Provider("up", &format!("id-{i}"))))
            .count();
        assert!(held < n / 50, "{held} of {n} false positives");
    }
}
