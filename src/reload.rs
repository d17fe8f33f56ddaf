//! Live reload: on SIGHUP and when the config file changes, the new file is validated whole;
//! a good one replaces the running config atomically, a bad one is logged with every error and
//! counted, and the running config stays.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use sha2::{Digest, Sha256};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, LoadedConfig};
use crate::metrics::METRICS;

/// How often the file is checked for changes.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a changed file must stay unchanged before it is applied: longer than the gap
/// between the writes of one save, short enough that a deploy is applied within half a second.
const SETTLE: Duration = Duration::from_millis(300);

pub struct Reloader {
    path: PathBuf,
    config: Arc<ArcSwap<LoadedConfig>>,
}

/// What a reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadResult {
    Applied { hash: String },
    Unchanged,
    Refused { errors: Vec<String> },
}

impl Reloader {
    pub fn new(path: PathBuf, config: Arc<ArcSwap<LoadedConfig>>) -> Self {
        Reloader { path, config }
    }

    /// Loads the file and swaps it in if it is valid. Unless `force`d (SIGHUP), a file with
    /// the same bytes is left alone; a forced reload also picks up `${VAR}` secrets that
    /// changed only in the environment.
    pub fn reload(&self, force: bool) -> ReloadResult {
        let current = self.config.load_full();
        match config::load_file(&self.path) {
            Ok(new) if !force && new.generation_hash == current.generation_hash => {
                ReloadResult::Unchanged
            }
            Ok(new) => {
                for change in current.restart_needed_changes(&new) {
                    tracing::warn!(%change, "this setting changed in the file but applies only after a restart");
                }
                let hash = new.generation_hash.clone();
                self.config.store(Arc::new(new));
                METRICS.config_reloads.with_label_values(&["applied"]).inc();
                METRICS.config_loaded(&hash);
                tracing::info!(path = %self.path.display(), config = %hash, "config reloaded");
                ReloadResult::Applied { hash }
            }
            Err(errors) => {
                let errors: Vec<String> = errors.to_string().lines().map(str::to_owned).collect();
                METRICS.config_reloads.with_label_values(&["refused"]).inc();
                for error in &errors {
                    tracing::error!(path = %self.path.display(), %error, "config reload refused; keeping the running config");
                }
                ReloadResult::Refused { errors }
            }
        }
    }

    /// The file's content hash, or `None` when it cannot be read.
    fn content_hash(&self) -> Option<[u8; 32]> {
        std::fs::read(&self.path)
            .ok()
            .map(|b| Sha256::digest(&b).into())
    }
}

/// Decides when a changed file is applied: only once its content has stayed the same for
/// [`SETTLE`], so a file written in steps (an editor, a truncate-then-write deploy) is not
/// applied half-way even when the half is valid YAML. Content hashes, not modification times,
/// tell a change: a write within the clock's granularity, or one that keeps the length, is
/// still seen.
#[derive(Debug)]
pub struct ChangeWatch {
    /// The content last applied or refused (what the running state reflects).
    settled: Option<[u8; 32]>,
    /// A different content and when it was first seen.
    pending: Option<([u8; 32], Instant)>,
}

impl ChangeWatch {
    pub fn new(current: Option<[u8; 32]>) -> Self {
        ChangeWatch {
            settled: current,
            pending: None,
        }
    }

    /// Observes the file's content hash at `now`; true when it should be loaded now.
    pub fn observe(&mut self, hash: Option<[u8; 32]>, now: Instant) -> bool {
        let Some(hash) = hash else {
            // Unreadable (e.g. replaced by rename right now): wait for it to come back.
            self.pending = None;
            return false;
        };
        if Some(hash) == self.settled {
            self.pending = None;
            return false;
        }
        match self.pending {
            Some((seen, since)) if seen == hash => {
                if now.duration_since(since) >= SETTLE {
                    self.settled = Some(hash);
                    self.pending = None;
                    true
                } else {
                    false
                }
            }
            _ => {
                self.pending = Some((hash, now));
                false
            }
        }
    }

    /// Records a content applied by other means (SIGHUP).
    pub fn settle(&mut self, hash: Option<[u8; 32]>) {
        self.settled = hash;
        self.pending = None;
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP; reload on file change only");
                None
            }
        };
        // No baseline: the file may have changed between the config's load and this start, so
        // its first content is loaded once it settles (the same config reads as unchanged).
        let mut watch = ChangeWatch::new(None);
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = hup => {
                    tracing::info!("SIGHUP: reloading the config");
                    watch.settle(self.content_hash());
                    self.reload(true);
                }
                _ = ticker.tick() => {
                    if watch.observe(self.content_hash(), Instant::now()) {
                        self.reload(false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str) -> Option<[u8; 32]> {
        Some(Sha256::digest(text.as_bytes()).into())
    }

    #[test]
    fn a_file_written_in_two_steps_is_applied_once_whole() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut watch = ChangeWatch::new(hash("old"));
        assert!(!watch.observe(hash("old"), at(0)));
        // The first half lands (valid YAML on its own), the rest 300 ms later.
        assert!(!watch.observe(hash("half"), at(250)));
        assert!(!watch.observe(hash("half+rest"), at(550)));
        assert!(!watch.observe(hash("half+rest"), at(800)));
        assert!(watch.observe(hash("half+rest"), at(1050)));
        assert!(!watch.observe(hash("half+rest"), at(1300)), "applied once");
        // A file that disappears for a moment is not a change.
        assert!(!watch.observe(None, at(1550)));
        assert!(!watch.observe(hash("half+rest"), at(1800)));
    }

    #[test]
    fn a_same_length_rewrite_is_seen() {
        let t0 = Instant::now();
        let mut watch = ChangeWatch::new(hash("threads: 1"));
        assert!(!watch.observe(hash("threads: 2"), t0));
        assert!(watch.observe(hash("threads: 2"), t0 + SETTLE));
    }
}
