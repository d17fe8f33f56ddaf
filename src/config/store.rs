//! `store:`: where the payment index, the replay guard and the webhook outbox live. The
//! section as written ([`StoreSection`]), its checks, and the validated form ([`StoreConfig`]).
//! Every store setting needs a restart.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::secret::Secret;

/// The embedded file used when the config has no `store:` section.
pub const DEFAULT_EMBEDDED_PATH: &str = "payglot-index.redb";
const DEFAULT_REPLAY_WINDOW_SECS: u64 = 600;
const MAX_REPLAY_WINDOW_SECS: u64 = 86_400;
const DEFAULT_POOL_SIZE: u32 = 16;
const MAX_POOL_SIZE: u32 = 1_024;
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// The embedded index's page cache. Most of its B-trees grow at their end (ids, times, relay
/// tokens), so a small cache holds what creates touch; 32 MiB measured no faster.
pub const DEFAULT_CACHE_MIB: u64 = 16;
const MAX_CACHE_MIB: u64 = 65_536;
const MAX_CONNECT_TIMEOUT_MS: u64 = 600_000;

/// `store:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `embedded` (one redb file; one instance) or `postgres` (shared by several instances).
    pub kind: StoreKind,
    /// `embedded` only: the file, created when missing with its directory.
    #[serde(default)]
    pub path: Option<String>,
    /// `embedded` only: how much of the file to keep in memory, MiB.
    #[serde(default)]
    pub cache_mib: Option<u64>,
    /// `postgres` only: the connection URL, `postgres://user:password@host:port/db`. Write it
    /// as `${VAR}`: it usually carries a password, and it is never printed.
    #[serde(default)]
    pub url: Option<Secret>,
    /// `postgres` only: most connections held open per instance.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// `postgres` only: how long one connection attempt may take, milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long an Apollo nonce is remembered, seconds: a replay within it is refused.
    #[serde(default = "default_replay_window_secs")]
    pub replay_window_secs: u64,
}

fn default_pool_size() -> u32 {
    DEFAULT_POOL_SIZE
}
fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}
fn default_replay_window_secs() -> u64 {
    DEFAULT_REPLAY_WINDOW_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Embedded,
    Postgres,
}

/// `store:`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub backend: StoreBackendConfig,
    pub replay_window: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackendConfig::Embedded {
                path: PathBuf::from(DEFAULT_EMBEDDED_PATH),
                cache_mib: DEFAULT_CACHE_MIB,
            },
            replay_window: Duration::from_secs(DEFAULT_REPLAY_WINDOW_SECS),
        }
    }
}

impl StoreConfig {
    /// A one-line description without secrets, for logs and the restart-needed report.
    pub fn describe(&self) -> String {
        let backend = match &self.backend {
            StoreBackendConfig::Embedded { path, cache_mib } => {
                format!("embedded {} (cache {cache_mib} MiB)", path.display())
            }
            StoreBackendConfig::Postgres(pg) => format!(
                "postgres {} (pool {}, connect timeout {:?})",
                pg.target(),
                pg.pool_size,
                pg.connect_timeout
            ),
        };
        format!("{backend}, replay window {}s", self.replay_window.as_secs())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackendConfig {
    Embedded { path: PathBuf, cache_mib: u64 },
    Postgres(PostgresConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Parsed once at load time, so a bad URL is a config error, not a startup surprise.
    pub url: Secret,
    pub pool_size: usize,
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    /// Hosts, ports and database of the URL: what it points at, without user or password.
    pub fn target(&self) -> String {
        let Ok(parsed) = self.url.expose().parse::<tokio_postgres::Config>() else {
            return "(unparsable URL)".to_owned();
        };
        let hosts: Vec<String> = parsed
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(dir) => dir.display().to_string(),
            })
            .collect();
        let ports: Vec<String> = parsed.get_ports().iter().map(u16::to_string).collect();
        format!(
            "{} port {} database {}",
            hosts.join(","),
            ports.join(","),
            parsed.get_dbname().unwrap_or("(default)")
        )
    }
}

/// Checks `store:` (absent: the embedded default), pushing every problem found.
pub(crate) fn build(
    section: Option<&StoreSection>,
    errors: &mut Vec<ConfigError>,
) -> Option<StoreConfig> {
    let Some(s) = section else {
        return Some(StoreConfig::default());
    };
    let before = errors.len();
    let mut push = |key: &str, message: String| {
        errors.push(ConfigError::new(format!("store.{key}"), message));
    };
    if !(1..=MAX_REPLAY_WINDOW_SECS).contains(&s.replay_window_secs) {
        push(
            "replay_window_secs",
            format!(
                "must be between 1 and {MAX_REPLAY_WINDOW_SECS}, not {}",
                s.replay_window_secs
            ),
        );
    }
    let backend = match s.kind {
        StoreKind::Embedded => {
            if s.url.is_some() {
                push("url", "only for kind: postgres".to_owned());
            }
            let path = s.path.as_deref().unwrap_or(DEFAULT_EMBEDDED_PATH);
            if path.trim().is_empty() {
                push("path", "must not be empty".to_owned());
            }
            let cache_mib = s.cache_mib.unwrap_or(DEFAULT_CACHE_MIB);
            if !(1..=MAX_CACHE_MIB).contains(&cache_mib) {
                push(
                    "cache_mib",
                    format!("must be between 1 and {MAX_CACHE_MIB}, not {cache_mib}"),
                );
            }
            StoreBackendConfig::Embedded {
                path: PathBuf::from(path),
                cache_mib,
            }
        }
        StoreKind::Postgres => {
            if s.path.is_some() {
                push("path", "only for kind: embedded".to_owned());
            }
            if s.cache_mib.is_some() {
                push("cache_mib", "only for kind: embedded".to_owned());
            }
            if !(1..=MAX_POOL_SIZE).contains(&s.pool_size) {
                push(
                    "pool_size",
                    format!("must be between 1 and {MAX_POOL_SIZE}, not {}", s.pool_size),
                );
            }
            if !(1..=MAX_CONNECT_TIMEOUT_MS).contains(&s.connect_timeout_ms) {
                push(
                    "connect_timeout_ms",
                    format!(
                        "must be between 1 and {MAX_CONNECT_TIMEOUT_MS}, not {}",
                        s.connect_timeout_ms
                    ),
                );
            }
            let url = match &s.url {
                None => {
                    push(
                        "url",
                        "required for kind: postgres, e.g. \"${PAYGLOT_POSTGRES_URL}\"".to_owned(),
                    );
                    Secret::new("")
                }
                Some(url) => {
                    // The parser's message never quotes the URL, so the password stays out.
                    if let Err(e) = url.expose().parse::<tokio_postgres::Config>() {
                        push("url", format!("not a PostgreSQL connection URL: {e}"));
                    }
                    url.clone()
                }
            };
            StoreBackendConfig::Postgres(PostgresConfig {
                url,
                pool_size: s.pool_size as usize,
                connect_timeout: Duration::from_millis(s.connect_timeout_ms),
            })
        }
    };
    (errors.len() == before).then(|| StoreConfig {
        backend,
        replay_window: Duration::from_secs(s.replay_window_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<StoreConfig, Vec<String>> {
        let section: StoreSection = serde_yaml::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        build(Some(&section), &mut errors)
            .ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn absent_section_is_the_embedded_default() {
        let mut errors = Vec::new();
        let config = build(None, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(
            config.map(|c| c.backend),
            Some(StoreBackendConfig::Embedded {
                path: PathBuf::from(DEFAULT_EMBEDDED_PATH),
                cache_mib: DEFAULT_CACHE_MIB,
            })
        );
    }

    #[test]
    fn postgres_section_is_parsed_with_defaults() {
        let config = check("{kind: postgres, url: 'postgres://u:p@127.0.0.1:5432/db'}");
        let Ok(StoreConfig {
            backend: StoreBackendConfig::Postgres(pg),
            replay_window,
        }) = config
        else {
            panic!("not a postgres config: {config:?}");
        };
        assert_eq!(pg.pool_size, 16);
        assert_eq!(pg.connect_timeout, Duration::from_secs(5));
        assert_eq!(replay_window, Duration::from_secs(600));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let errors = check(
            "{kind: postgres, path: x.redb, pool_size: 0, connect_timeout_ms: 0, \
             replay_window_secs: 0, cache_mib: 8}",
        )
        .err()
        .unwrap_or_default();
        for key in [
            "store.replay_window_secs:",
            "store.path: only for kind: embedded",
            "store.cache_mib: only for kind: embedded",
            "store.pool_size:",
            "store.connect_timeout_ms:",
            "store.url: required",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(key)),
                "{key} missing from {errors:?}"
            );
        }
        let errors = check("{kind: embedded, url: 'postgres://x', path: '', cache_mib: 0}")
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("store.cache_mib: must be between")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let errors = check("{kind: postgres, url: 'postgres://u:hunter2@host:notaport/db'}")
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("store.url: not a PostgreSQL"));
        assert!(!errors[0].contains("hunter2"), "{errors:?}");
    }
}
