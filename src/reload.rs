//! Live reload: on SIGHUP and when the config file changes, the new file is validated whole;
//! a good one replaces the running config atomically, a bad one is logged with every error and
//! counted, and the running config stays.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, LoadedConfig};
use crate::metrics::METRICS;

/// How often the file is checked for changes.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

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

    /// The file's identity for change detection: modification time and length.
    fn fingerprint(&self) -> Option<(std::time::SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
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
        let mut last_seen = self.fingerprint();
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
                    last_seen = self.fingerprint();
                    self.reload(true);
                }
                _ = ticker.tick() => {
                    let now = self.fingerprint();
                    if now.is_some() && now != last_seen {
                        last_seen = now;
                        self.reload(false);
                    }
                }
            }
        }
    }
}
