//! Circuit breaking per upstream: after `failures` consecutive failures (no connection, no
//! answer in time, a broken exchange, an answer too large to read) an upstream is skipped for
//! `cooldown`, then one request probes it; success closes the circuit, failure opens it for
//! another cool-down, and a probe that ends any other way frees the slot for the next one.

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
    /// Asks to send to `upstream` now: `None` while its circuit is open, else an attempt whose
    /// result must be reported. An attempt dropped unreported (a planning error, a client that
    /// went away, a panic) releases its probe slot, so no outcome can leave the circuit stuck.
    pub fn admit<'b>(&'b self, upstream: &str, now: Instant) -> Option<Attempt<'b>> {
        let probe = match self.permit(upstream, now) {
            Permit::Open => return None,
            Permit::Closed => false,
            Permit::Probe => true,
        };
        Some(Attempt {
            breakers: self,
            upstream: upstream.to_owned(),
            probe,
            reported: false,
        })
    }

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

    /// Records a failure; returns true when this opened the circuit.
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

    /// Whether a probe is out for `upstream` (for tests and diagnostics).
    pub fn is_probing(&self, upstream: &str) -> bool {
        self.lock().get(upstream).is_some_and(|s| s.probing)
    }

    fn release_probe(&self, upstream: &str) {
        if let Some(state) = self.lock().get_mut(upstream) {
            state.probing = false;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One admitted send to an upstream. Report it with [`Attempt::success`] or
/// [`Attempt::failure`]; dropping it unreported only frees the probe slot (the next request
/// after the cool-down probes again), as nothing was learnt about the upstream.
pub struct Attempt<'b> {
    breakers: &'b Breakers,
    upstream: String,
    probe: bool,
    reported: bool,
}

impl Attempt<'_> {
    /// Whether this attempt is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Returns true when this closed an open circuit.
    pub fn success(mut self) -> bool {
        self.reported = true;
        self.breakers.success(&self.upstream)
    }

    /// Returns true when this opened the circuit.
    pub fn failure(mut self, settings: BreakerSettings, now: Instant) -> bool {
        self.reported = true;
        self.breakers.failure(&self.upstream, settings, now)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.breakers.release_probe(&self.upstream);
        }
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

    #[test]
    fn a_probe_that_ends_unreported_frees_the_slot() {
        let b = Breakers::default();
        let s = BreakerSettings {
            failures: 1,
            cooldown: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        assert!(b.admit("u", t0).is_some_and(|a| a.failure(s, t0)));
        let later = t0 + Duration::from_secs(11);
        let probe = b.admit("u", later).expect("the cool-down is over");
        assert!(probe.is_probe());
        assert!(b.admit("u", later).is_none(), "one probe at a time");
        // The probe's future is dropped (timeout, planning error, client gone).
        drop(probe);
        assert!(!b.is_probing("u"));
        let next = b.admit("u", later).expect("the next request probes");
        assert!(next.is_probe());
        assert!(next.success());
        assert!(b.admit("u", later).is_some_and(|a| !a.is_probe()));
    }
}
