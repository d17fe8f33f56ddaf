//! Refuses a replayed Apollo nonce: each (public key, nonce) pair is accepted once within a
//! bounded memory of recent nonces. Older pairs than the memory holds are forgotten, which is
//! the price of bounded memory; a replay also needs the original signature, which TLS keeps
//! private in transit.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

pub struct ReplayGuard {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    set: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records the pair; `false` when it was already seen.
    pub fn first_use(&self, key_id: &str, nonce: &str) -> bool {
        let pair = (key_id.to_owned(), nonce.to_owned());
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.set.contains(&pair) {
            return false;
        }
        if seen.order.len() >= self.capacity
            && let Some(oldest) = seen.order.pop_front()
        {
            seen.set.remove(&oldest);
        }
        seen.set.insert(pair.clone());
        seen.order.push_back(pair);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_key() {
        let guard = ReplayGuard::new(2);
        assert!(guard.first_use("pk", "1"));
        assert!(!guard.first_use("pk", "1"));
        assert!(guard.first_use("other", "1"));
        // Capacity 2: the oldest pair is forgotten.
        assert!(guard.first_use("pk", "2"));
        assert!(guard.first_use("pk", "1"));
    }
}
