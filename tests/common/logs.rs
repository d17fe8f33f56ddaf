//! Waiting for a warning that pingora logs (through the `log` crate) on another thread, as
//! the event a test is about, instead of sleeping and hoping it happened.
#![allow(dead_code)]

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

static MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ARRIVED: Condvar = Condvar::new();
static INSTALLED: OnceLock<bool> = OnceLock::new();

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let mut messages = MESSAGES.lock().unwrap_or_else(|p| p.into_inner());
            messages.push(record.args().to_string());
            ARRIVED.notify_all();
        }
    }

    fn flush(&self) {}
}

/// Starts recording this process's `log` warnings and errors. Panics if another logger was
/// installed first (the wait below would then wait for nothing).
pub fn record() {
    let installed = *INSTALLED.get_or_init(|| {
        let ok = log::set_logger(&Recorder).is_ok();
        if ok {
            log::set_max_level(log::LevelFilter::Warn);
        }
        ok
    });
    assert!(installed, "another `log` logger is installed");
}

/// Waits up to `timeout` for a recorded message that contains every one of `fragments`.
pub fn wait_for(fragments: &[&str], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let found = |messages: &Vec<String>| {
        messages
            .iter()
            .any(|m| fragments.iter().all(|fragment| m.contains(fragment)))
    };
    let mut messages = MESSAGES.lock().unwrap_or_else(|p| p.into_inner());
    while !found(&messages) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        messages = ARRIVED
            .wait_timeout(messages, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    true
}
