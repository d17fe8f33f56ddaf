//! Circuit breaking per upstream: after `failures` consecutive connect failures an upstream is
//! skipped for `cooldown`, then one request probes it; success closes the circuit, failure
//! opens it for another cool-down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub use crate::config::CircuitBreaker as BreakerSettings;

#[derive(Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

#[derive(Default)]
pub struct Breakers {
    states: Mutex<HashMap<String, State>>,
}

/// What the breaker says about sending to an upstream now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Closed,
    /// The cool-down is over: this request is the probe.
    Probe,
    Open,
}

impl Breakers {
    pub fn permit(&self, upstream: &str, now: Instant) -> Permit {
        let mut states = self.lock();
        let state = states.entry(upstream.to_owned()).or_default();
        match state.open_until {
            None => Permit::Closed,
            Some(until) if now < until => Permit::Open,
            Some(_) if state.probing => Permit::Open,
            Some(_) => {
                state.probing = true;
                Permit::Probe
            }
        }
    }

    /// Records a connect failure; returns true when this opened the circuit.
    pub fn failure(&self, upstream: &str, settings: BreakerSettings, now: Instant) -> bool {
        let mut states = self.lock();
        let state = states.entry(upstream.to_owned()).or_default();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let opens = state.probing || state.consecutive_failures >= settings.failures.max(1);
        if opens {
            state.open_until = Some(now + settings.cooldown);
            state.probing = false;
        }
        opens
    }

    /// Records a successful exchange; returns true when this closed an open circuit.
    pub fn success(&self, upstream: &str) -> bool {
        let mut states = self.lock();
        let state = states.entry(upstream.to_owned()).or_default();
        let was_open = state.open_until.is_some();
        *state = State::default();
        was_open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn opens_after_repeated_failures_then_probes() {
        let b = Breakers::default();
        let s = BreakerSettings {
            failures: 2,
            cooldown: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        assert_eq!(b.permit("u", t0), Permit::Closed);
        assert!(!b.failure("u", s, t0));
        assert!(b.failure("u", s, t0));
        assert_eq!(b.permit("u", t0 + Duration::from_secs(5)), Permit::Open);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.permit("u", later), Permit::Probe);
        // Only one probe at a time.
        assert_eq!(b.permit("u", later), Permit::Open);
        // A failed probe opens it again at once.
        assert!(b.failure("u", s, later));
        assert_eq!(b.permit("u", later + Duration::from_secs(1)), Permit::Open);
        assert_eq!(
            b.permit("u", later + Duration::from_secs(11)),
            Permit::Probe
        );
        assert!(b.success("u"));
        assert_eq!(
            b.permit("u", later + Duration::from_secs(12)),
            Permit::Closed
        );
    }
}
