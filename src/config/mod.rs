//! The config file: parsing, `${VAR}` substitution, validation and the loaded form the proxy
//! reads per request.
//!
//! Loading runs in stages, each reporting every problem it finds with its path:
//! 1. YAML syntax (one error, with line and column), anchors and `<<` merge keys;
//! 2. `${VAR}` substitution on the parsed tree ([`env`]);
//! 3. typing into [`schema::ConfigFile`] (unknown keys, wrong types), checked per section and
//!    per list item so that each bad item is reported;
//! 4. [`validate`]: values, cross-references, shadowed routes; builds the [`LoadedConfig`].
//!
//! A [`LoadedConfig`] is immutable; a reload builds a new one and swaps it in whole.
//! The reference for users is `docs/config.md`.

mod env;
pub mod schema;
pub mod store;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml::Value;
use sha2::{Digest, Sha256};

use crate::dialect::Dialect;
use crate::model::MerchantProfile;
use crate::network::NetworkTable;
use crate::routing::Router;
use crate::secret::Credentials;

pub use schema::ConfigFile;

/// One problem in the config, with the path of the value it is about
/// (e.g. `routes[2].to`; empty for the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, in file order within each stage. Displays one line per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// `server:`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Proxy listener. Restart needed.
    pub listen: SocketAddr,
    /// Metrics and health listener. Restart needed.
    pub metrics_listen: SocketAddr,
    /// 1..=65536.
    pub max_body_bytes: usize,
    /// Downstream read/write timeout, per read or write.
    pub client_timeout: Duration,
    /// A request header must arrive whole within this (from the connection's start, or from
    /// the previous answer on a kept-alive one).
    pub header_timeout: Duration,
    /// The whole request body must arrive within this once the header is in.
    pub body_timeout: Duration,
    /// Everything after the header, body to last byte of the answer.
    pub request_timeout: Duration,
    /// Client connections served at once; more are refused. Restart needed.
    pub max_connections: usize,
    /// Largest upstream answer payglot reads.
    pub max_answer_bytes: usize,
    /// For pingora's `ServerConf::grace_period_seconds`. Restart needed.
    pub grace_period_secs: u64,
    /// For pingora's `ServerConf::graceful_shutdown_timeout_seconds`. Restart needed.
    pub graceful_shutdown_timeout_secs: u64,
    /// Worker threads, at least 1. Restart needed.
    pub threads: usize,
    /// CA bundle for `https` upstreams instead of the system's. Restart needed.
    pub upstream_ca_file: Option<String>,
}

/// `sandbox:`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub listen: SocketAddr,
    /// Waits before each webhook retry, in seconds.
    pub webhook_retry_secs: Vec<u64>,
    /// The sandbox AlpPay account's webhook URL.
    pub alppay_webhook_url: Option<String>,
}

/// `webhooks:`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// payglot's public URL without a trailing slash; `None` turns the cross-dialect relay off.
    pub public_base_url: Option<String>,
    /// The waits before each retry of a merchant delivery.
    pub retry_schedule: Vec<Duration>,
    pub delivery_timeout: Duration,
}

/// Modelled on Svix: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_RETRY_SCHEDULE_SECS: [u64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            public_base_url: None,
            retry_schedule: DEFAULT_RETRY_SCHEDULE_SECS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            delivery_timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// The callback payglot registers upstream for the payment with this relay token.
    pub fn relay_url(&self, token: &str) -> Option<String> {
        self.public_base_url
            .as_ref()
            .map(|base| format!("{base}/webhooks/{token}"))
    }

    /// The account-level webhook URL of an upstream whose provider has one (AlpPay).
    pub fn account_url(&self, upstream: &Upstream) -> Option<String> {
        self.public_base_url
            .as_ref()
            .map(|base| format!("{base}/webhooks/{}/{}", upstream.dialect, upstream.id))
    }
}

/// A merchant allowed to call payglot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub id: String,
    /// The dialect it speaks to payglot.
    pub dialect: Dialect,
    /// What it signs with (payglot verifies requests and signs answers with it).
    pub credentials: Credentials,
    pub profile: MerchantProfile,
    /// Its own accounts at upstreams, by upstream id.
    pub upstream_credentials: HashMap<String, Credentials>,
    /// Where its webhooks go when its dialect has no per-payment callback URL.
    pub webhook_url: Option<String>,
}

impl Merchant {
    /// The credentials to sign with towards `upstream`: the merchant's own account there when
    /// configured, else the upstream's default.
    pub fn credentials_for<'a>(&'a self, upstream: &'a Upstream) -> &'a Credentials {
        self.upstream_credentials
            .get(&upstream.id)
            .unwrap_or(&upstream.credentials)
    }
}

/// A provider payglot forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub id: String,
    /// The dialect it speaks.
    pub dialect: Dialect,
    pub base_url: BaseUrl,
    /// Default account, used unless the merchant has its own.
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// The whole exchange, from the DNS lookup to the answer's last byte.
    pub total_timeout: Duration,
    pub circuit_breaker: CircuitBreaker,
}

/// An upstream's API base, taken apart for pingora's `HttpPeer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// Explicit port, or 80/443 by scheme.
    pub port: u16,
    /// Whether to speak TLS (https).
    pub tls: bool,
    /// The TLS server name; the host.
    pub sni: String,
    /// The URL's path without a trailing `/` (empty for the root); the create path is appended.
    pub path_prefix: String,
    /// Whether the port was written explicitly and differs from the scheme's default.
    pub explicit_port: bool,
}

impl BaseUrl {
    /// `host:port` to connect to (IPv6 in brackets).
    pub fn address(&self) -> String {
        format!("{}:{}", self.bracketed_host(), self.port)
    }

    /// The `Host` header value: the port only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        if self.explicit_port {
            self.address()
        } else {
            self.bracketed_host()
        }
    }

    /// The request path for an API call, e.g. `/cryptomus/v1` + `/payment`.
    pub fn path(&self, api_path: &str) -> String {
        format!("{}{}", self.path_prefix, api_path)
    }

    fn bracketed_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// When to stop sending to a failing upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// How long it stays open before a trial request.
    pub cooldown: Duration,
}

/// A validated config, as the proxy uses it per request. Immutable; built only by
/// [`load_file`] or [`load_str`].
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub server: ServerSettings,
    pub sandbox: Option<SandboxConfig>,
    /// Built-in names plus the config's `networks`.
    pub networks: NetworkTable,
    pub routes: Router,
    /// Where the payment index lives. Restart needed.
    pub store: store::StoreConfig,
    /// The webhook relay's settings; applied live.
    pub webhooks: WebhookSettings,
    /// The first 12 hex digits of the SHA-256 of the file bytes: a label for metrics and logs
    /// that tells which config generation served a request.
    pub generation_hash: String,
    merchants: Vec<Merchant>,
    merchant_by_key: HashMap<Dialect, HashMap<String, usize>>,
    merchant_by_id: HashMap<String, usize>,
    upstreams: Vec<Upstream>,
    upstream_by_id: HashMap<String, usize>,
}

impl LoadedConfig {
    /// The merchant that signs as `key_id` in `dialect`.
    pub fn merchant(&self, dialect: Dialect, key_id: &str) -> Option<&Merchant> {
        let i = *self.merchant_by_key.get(&dialect)?.get(key_id)?;
        self.merchants.get(i)
    }

    pub fn merchant_by_id(&self, id: &str) -> Option<&Merchant> {
        self.merchant_by_id
            .get(id)
            .and_then(|&i| self.merchants.get(i))
    }

    pub fn upstream(&self, id: &str) -> Option<&Upstream> {
        self.upstream_by_id
            .get(id)
            .and_then(|&i| self.upstreams.get(i))
    }

    /// Merchants in file order.
    pub fn merchants(&self) -> &[Merchant] {
        &self.merchants
    }

    /// Upstreams in file order.
    pub fn upstreams(&self) -> &[Upstream] {
        &self.upstreams
    }

    /// Problems `payglot check` refuses but a running payglot only warns about, as they bite
    /// at shutdown rather than per request: a grace period (plus shutdown timeout) shorter than
    /// the longest upstream exchange cuts in-flight payments off mid-exchange on SIGTERM.
    pub fn shutdown_problems(&self) -> Vec<ConfigError> {
        let server = &self.server;
        let shutdown_secs = server
            .grace_period_secs
            .saturating_add(server.graceful_shutdown_timeout_secs);
        let longest = self
            .upstreams
            .iter()
            .max_by_key(|u| u.total_timeout)
            .map(|u| (u, u.total_timeout.as_secs_f64().ceil() as u64));
        match longest {
            Some((upstream, needed)) if needed > shutdown_secs => vec![ConfigError::new(
                "server.grace_period_secs",
                format!(
                    "grace_period_secs + graceful_shutdown_timeout_secs ({shutdown_secs} s) is \
                     shorter than upstream \"{}\"'s total_timeout_ms ({needed} s): a stop would \
                     cut payments off mid-exchange",
                    upstream.id
                ),
            )],
            _ => Vec::new(),
        }
    }

    /// The settings that differ in `new` but only take effect on restart, one line each
    /// (`server.listen: 127.0.0.1:8080 -> 127.0.0.1:8081`). Empty when a reload applies fully.
    pub fn restart_needed_changes(&self, new: &LoadedConfig) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |key: &str, old: String, new: String| {
            if old != new {
                out.push(format!("{key}: {old} -> {new}"));
            }
        };
        let (a, b) = (&self.server, &new.server);
        check("server.listen", a.listen.to_string(), b.listen.to_string());
        check(
            "server.metrics_listen",
            a.metrics_listen.to_string(),
            b.metrics_listen.to_string(),
        );
        check(
            "server.threads",
            a.threads.to_string(),
            b.threads.to_string(),
        );
        check(
            "server.grace_period_secs",
            a.grace_period_secs.to_string(),
            b.grace_period_secs.to_string(),
        );
        check(
            "server.graceful_shutdown_timeout_secs",
            a.graceful_shutdown_timeout_secs.to_string(),
            b.graceful_shutdown_timeout_secs.to_string(),
        );
        check(
            "server.max_connections",
            a.max_connections.to_string(),
            b.max_connections.to_string(),
        );
        check(
            "server.upstream_ca_file",
            format!("{:?}", a.upstream_ca_file),
            format!("{:?}", b.upstream_ca_file),
        );
        let sandbox = |s: &Option<SandboxConfig>| match s {
            Some(s) => format!("listen {}", s.listen),
            None => "off".to_owned(),
        };
        check("sandbox", sandbox(&self.sandbox), sandbox(&new.sandbox));
        if let (Some(a), Some(b)) = (&self.sandbox, &new.sandbox) {
            check(
                "sandbox.webhook_retry_secs",
                format!("{:?}", a.webhook_retry_secs),
                format!("{:?}", b.webhook_retry_secs),
            );
            check(
                "sandbox.alppay_webhook_url",
                format!("{:?}", a.alppay_webhook_url),
                format!("{:?}", b.alppay_webhook_url),
            );
        }
        check("store", self.store.describe(), new.store.describe());
        out
    }
}

/// Reads and loads a config file; `${VAR}` comes from the process environment.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::new("", format!("{} is not UTF-8", path.display())))?;
    load_str(&text, &|name| std::env::var(name).ok())
}

/// Loads a config from text; `env` resolves `${VAR}` (tests inject their own).
pub fn load_str(
    yaml: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let generation_hash = hex::encode(Sha256::digest(yaml.as_bytes()))[..12].to_owned();
    let mut value = parse_value(yaml, env)?;
    let sections = section_order(&value);
    // An unknown section is reported, and the rest of the file is still checked in full: a
    // typo in one section name must not hide the mistakes below it.
    let mut errors = take_unknown_sections(&mut value);
    match type_file(&value) {
        Ok(file) => match validate::build(&file, generation_hash) {
            Ok(loaded) if errors.is_empty() => return Ok(loaded),
            Ok(_) => {}
            Err(found) => errors.extend(found),
        },
        Err(found) => {
            // Both are type-stage problems: report them in file order.
            errors.extend(found.0);
            errors.sort_by_key(|e| {
                let section = e.path.split(['.', '[']).next().unwrap_or_default();
                sections.iter().position(|s| s == section)
            });
        }
    }
    Err(ConfigErrors(errors))
}

/// The top-level keys in file order.
fn section_order(value: &Value) -> Vec<String> {
    value
        .as_mapping()
        .map(|map| {
            map.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the top-level keys that are not sections, returning one error for each.
fn take_unknown_sections(value: &mut Value) -> Vec<ConfigError> {
    let Some(map) = value.as_mapping_mut() else {
        return Vec::new();
    };
    let unknown: Vec<Value> = map
        .keys()
        .filter(|k| {
            k.as_str()
                .is_none_or(|k| !schema::TOP_LEVEL_KEYS.contains(&k))
        })
        .cloned()
        .collect();
    let mut errors = Vec::new();
    for key in unknown {
        map.remove(&key);
        errors.push(match key.as_str() {
            Some(name) => unknown_section(name),
            None => ConfigError::new("", "section names must be strings"),
        });
    }
    errors
}

fn unknown_section(name: &str) -> ConfigError {
    ConfigError::new(
        name,
        format!(
            "unknown section, expected one of {}",
            schema::TOP_LEVEL_KEYS.join(", ")
        ),
    )
}

/// Stages 1–3 only: the typed file, not yet validated.
pub fn parse_str(
    yaml: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConfigFile, ConfigErrors> {
    type_file(&parse_value(yaml, env)?)
}

/// Stages 1 and 2: the YAML tree, merge keys applied and `${VAR}` substituted.
fn parse_value(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, ConfigErrors> {
    let mut value: Value = serde_yaml::from_str(yaml)
        .map_err(|e| ConfigError::new("", format!("invalid YAML: {e}")))?;
    if value.is_null() {
        return Err(ConfigError::new("", "the config is empty").into());
    }
    // `<<: *defaults` is not applied by the parser itself; without this it would be an
    // unknown key.
    value
        .apply_merge()
        .map_err(|e| ConfigError::new("", format!("invalid YAML merge key: {e}")))?;
    let mut errors = Vec::new();
    env::substitute(&mut value, env, &mut errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(value)
}

/// Stage 3: the typed file, with every section's and list item's type errors.
fn type_file(value: &Value) -> Result<ConfigFile, ConfigErrors> {
    match typed::<ConfigFile>(value, "") {
        Ok(file) => Ok(file),
        Err(first) => {
            let all = type_errors(value);
            Err(ConfigErrors(if all.is_empty() { vec![first] } else { all }))
        }
    }
}

/// Deserializes `value` as `T`, the error carrying `prefix` + the path inside `value`.
fn typed<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = prefix.to_owned();
        for segment in e.path() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Segment::Unknown => path.push_str(".?"),
            }
        }
        ConfigError::new(path, e.inner().to_string())
    })
}

/// The type errors of every section and list item: serde stops at the first, which would make
/// users fix a file one mistake per run.
fn type_errors(value: &Value) -> Vec<ConfigError> {
    let Some(map) = value.as_mapping() else {
        return vec![ConfigError::new(
            "",
            "the config must be a mapping of sections (server, merchants, upstreams, routes, ...)",
        )];
    };
    let mut errors = Vec::new();
    for (key, section) in map {
        let Some(key) = key.as_str() else {
            errors.push(ConfigError::new("", "section names must be strings"));
            continue;
        };
        let result = match key {
            "server" => typed::<schema::ServerSection>(section, key).map(drop),
            "sandbox" => typed::<Option<schema::SandboxSection>>(section, key).map(drop),
            "networks" => each::<schema::NetworkEntry>(section, key, &mut errors),
            "merchants" => each::<schema::MerchantEntry>(section, key, &mut errors),
            "upstreams" => each::<schema::UpstreamEntry>(section, key, &mut errors),
            "routes" => each::<schema::RouteEntry>(section, key, &mut errors),
            "store" => typed::<Option<store::StoreSection>>(section, key).map(drop),
            "webhooks" => typed::<Option<schema::WebhooksSection>>(section, key).map(drop),
            other => Err(unknown_section(other)),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    errors
}

/// Types each item of a list section on its own, pushing one error per bad item.
fn each<T: DeserializeOwned>(
    section: &Value,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Result<(), ConfigError> {
    let Some(items) = section.as_sequence() else {
        return typed::<Vec<T>>(section, key).map(drop);
    };
    for (i, item) in items.iter().enumerate() {
        if let Err(e) = typed::<T>(item, &format!("{key}[{i}]")) {
            errors.push(e);
        }
    }
    Ok(())
}
