//! Bounded in-memory state: payments per provider and used Apollo nonces.
//!
//! Everything is capped so a long-running `payglot sandbox` cannot grow without limit; the oldest
//! entries go first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, carrying on with the data if an earlier holder panicked: a sandbox that keeps
/// answering is more useful than one that fails every later request.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A map that forgets its oldest entries beyond `capacity`.
pub(super) struct BoundedMap<K, V> {
    entries: HashMap<K, V>,
    oldest_first: VecDeque<K>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> BoundedMap<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        BoundedMap {
            entries: HashMap::new(),
            oldest_first: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Inserts (or replaces) `key`; returns what was evicted to make room, if anything.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        if self.entries.insert(key.clone(), value).is_some() {
            return None;
        }
        self.oldest_first.push_back(key);
        if self.entries.len() <= self.capacity {
            return None;
        }
        let oldest = self.oldest_first.pop_front()?;
        let value = self.entries.remove(&oldest)?;
        Some((oldest, value))
    }

    /// Inserts `key`, handing back the value it replaces, if any.
    pub(super) fn replace(&mut self, key: K, value: V) -> Option<V> {
        if let Some(existing) = self.entries.get_mut(&key) {
            return Some(std::mem::replace(existing, value));
        }
        self.insert(key, value);
        None
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key)
    }

    /// The values, newest first (what list endpoints show).
    pub(super) fn newest_first(&self) -> impl Iterator<Item = &V> {
        self.oldest_first
            .iter()
            .rev()
            .filter_map(|key| self.entries.get(key))
    }

    /// Every value, in no particular order, mutably (to bring lazily-expiring entries up to date).
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.values_mut()
    }
}

/// The nonces one Apollo public key has used, the newest `capacity` of them.
pub(super) struct NonceWindow {
    seen: HashSet<String>,
    oldest_first: VecDeque<String>,
    capacity: usize,
}

impl NonceWindow {
    pub(super) fn new(capacity: usize) -> Self {
        NonceWindow {
            seen: HashSet::new(),
            oldest_first: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `nonce`; `false` if it was already used.
    pub(super) fn first_use(&mut self, nonce: &str) -> bool {
        if !self.seen.insert(nonce.to_string()) {
            return false;
        }
        self.oldest_first.push_back(nonce.to_string());
        if self.oldest_first.len() > self.capacity
            && let Some(oldest) = self.oldest_first.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_map_evicts_oldest() {
        let mut map = BoundedMap::new(2);
        assert!(map.insert("a", 1).is_none());
        assert!(map.insert("b", 2).is_none());
        assert!(map.insert("a", 10).is_none(), "replacing is not growing");
        assert_eq!(map.insert("c", 3), Some(("a", 10)));
        assert!(map.get(&"a").is_none());
        assert_eq!(map.get(&"c"), Some(&3));
        let listed: Vec<_> = map.newest_first().copied().collect();
        assert_eq!(listed, [3, 2]);
        assert_eq!(map.replace("b", 20), Some(2));
        assert_eq!(map.replace("d", 4), None);
        assert!(map.get(&"b").is_none(), "d pushed the oldest out");
    }

    #[test]
    fn nonce_window_refuses_reuse_and_stays_bounded() {
        let mut window = NonceWindow::new(2);
        assert!(window.first_use("1"));
        assert!(!window.first_use("1"));
        assert!(window.first_use("2"));
        assert!(window.first_use("3"));
        assert!(!window.first_use("3"));
        assert!(window.first_use("1"), "forgotten once out of the window");
        assert!(window.seen.len() <= 2);
    }
}
