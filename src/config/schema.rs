//! The config file as written: typed serde structs, unknown keys refused everywhere. Values are
//! kept close to their text here (addresses, URLs and amounts as strings) so that
//! [`super::validate`] can report every bad one with its path instead of stopping at the first.
//! See `docs/config.md` for the user-facing reference.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, SeqAccess, Visitor};

use crate::dialect::Dialect;
use crate::secret::Secret;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Listener and process settings.
    #[serde(default)]
    pub server: ServerSection,
    /// Runs the offline provider sandbox in-process when present (demo and tests only).
    #[serde(default)]
    pub sandbox: Option<SandboxSection>,
    /// Additions and overrides to the built-in network naming table.
    #[serde(default)]
    pub networks: Vec<NetworkEntry>,
    /// The merchants allowed to call payglot, each with the credentials it signs with.
    #[serde(default)]
    pub merchants: Vec<MerchantEntry>,
    /// The providers payglot forwards to.
    #[serde(default)]
    pub upstreams: Vec<UpstreamEntry>,
    /// Which upstream serves which request; first match wins, no match is refused.
    #[serde(default)]
    pub routes: Vec<RouteEntry>,
    /// Where the payment index and webhook outbox live; the embedded default when absent.
    #[serde(default)]
    pub store: Option<super::store::StoreSection>,
    /// The webhook relay: where providers notify payglot, and how it retries merchants.
    #[serde(default)]
    pub webhooks: Option<WebhooksSection>,
}

/// `webhooks:`. Every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// The URL providers reach payglot's listener at (e.g. `https://pay.example.com`). The
    /// callback sent upstream across dialects is `<public_base_url>/webhooks/<token>`; AlpPay's
    /// account webhook URL must be set to `<public_base_url>/webhooks/alppay/<upstream id>`.
    /// Without it, cross-dialect callbacks are withheld (no relay).
    pub public_base_url: Option<String>,
    /// Seconds to wait before each retry of a merchant delivery that got no 2xx answer; the
    /// list's length is the number of retries. Default `[5, 300, 1800, 7200, 18000, 36000,
    /// 36000]`.
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// How long one delivery to a merchant may take. Default 10000.
    pub delivery_timeout_ms: Option<u64>,
}

/// The top-level keys, for the per-section pass that reports every type error.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "server",
    "sandbox",
    "networks",
    "merchants",
    "upstreams",
    "routes",
    "store",
    "webhooks",
];

/// `server:`. Every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Proxy listener, `ip:port`. Restart needed to change.
    pub listen: String,
    /// Listener for `/metrics`, `/healthz` and `/readyz`, `ip:port`. Restart needed to change.
    pub metrics_listen: String,
    /// Largest request body payglot reads, in bytes: 1..=65536, because pingora forwards a
    /// rewritten body only up to 64 KiB.
    pub max_body_bytes: u64,
    /// Largest upstream answer payglot reads, in bytes: 1..=16777216.
    pub max_answer_bytes: u64,
    /// Downstream (client) timeout for each read and write, milliseconds.
    pub client_timeout_ms: u64,
    /// Time for a client to send a whole request header, milliseconds.
    pub header_timeout_ms: u64,
    /// Time for a client to send the whole request body, milliseconds.
    pub body_timeout_ms: u64,
    /// Time from a request's header to the last byte of its answer, milliseconds; at least
    /// every upstream's `total_timeout_ms`.
    pub request_timeout_ms: u64,
    /// Client connections served at once; further ones get a 503 and are closed. Restart
    /// needed to change.
    pub max_connections: u64,
    /// Seconds to keep serving in-flight requests after SIGTERM (pingora's 300 is too long).
    pub grace_period_secs: u64,
    /// Seconds allowed for the runtime to shut down after the grace period.
    pub graceful_shutdown_timeout_secs: u64,
    /// Worker threads. Restart needed to change.
    pub threads: u64,
    /// PEM file of the certificate authorities trusted for `https` upstreams, instead of the
    /// system's (for providers behind a private CA, and for tests). Restart needed to change.
    pub upstream_ca_file: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8080".to_owned(),
            metrics_listen: "127.0.0.1:9464".to_owned(),
            max_body_bytes: 65_536,
            max_answer_bytes: 1 << 20,
            client_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_connections: 4_096,
            grace_period_secs: 10,
            graceful_shutdown_timeout_secs: 5,
            threads: 1,
            upstream_ca_file: None,
        }
    }
}

/// `sandbox:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// Where the sandbox listens, `ip:port`. Restart needed to change.
    pub listen: String,
    /// Seconds to wait before each retry of a sandbox webhook that got no 2xx answer; the
    /// list's length is the number of retries. Default `[1, 2, 5]`. Restart needed.
    #[serde(default)]
    pub webhook_retry_secs: Option<Vec<u64>>,
    /// Where the sandbox's AlpPay sends payment webhooks (AlpPay has one URL per account, not
    /// per payment); `http://` only. None when absent. Restart needed.
    #[serde(default)]
    pub alppay_webhook_url: Option<String>,
}

/// `networks[]`: one chain's name in one or more dialects: `chain`, then one key per dialect
/// (its registry name), whose value becomes the name payglot sends to that dialect's providers.
#[derive(Debug, Clone)]
pub struct NetworkEntry {
    /// Canonical chain name (lowercased); a new chain is added when unknown.
    pub chain: String,
    /// The name each dialect uses, by dialect; `null` counts as absent.
    pub names: BTreeMap<Dialect, String>,
}

/// The keys a `networks[]` entry takes: `chain` and every registered dialect's name.
fn network_entry_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        std::iter::once("chain")
            .chain(Dialect::ALL.iter().map(|d| d.name()))
            .collect()
    })
}

impl<'de> Deserialize<'de> for NetworkEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        // Ordered as written, so errors name the first offending key.
        let entries: Vec<(String, Option<String>)> = serde_yaml::Mapping::deserialize(d)?
            .into_iter()
            .map(|(key, value)| {
                let key = key
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| D::Error::custom("keys must be strings"))?;
                let value = match value {
                    serde_yaml::Value::Null => None,
                    serde_yaml::Value::String(text) => Some(text),
                    other => {
                        return Err(D::Error::custom(format!(
                            "{key}: invalid type: expected a string, found {}",
                            yaml_kind(&other)
                        )));
                    }
                };
                Ok((key, value))
            })
            .collect::<Result<_, _>>()?;
        let mut chain = None;
        let mut names = BTreeMap::new();
        for (key, value) in entries {
            if key == "chain" {
                chain = value;
                continue;
            }
            let Some(dialect) = Dialect::ALL.into_iter().find(|d| d.name() == key) else {
                return Err(D::Error::unknown_field(&key, network_entry_keys()));
            };
            if let Some(name) = value {
                names.insert(dialect, name);
            }
        }
        let chain = chain.ok_or_else(|| D::Error::missing_field("chain"))?;
        Ok(NetworkEntry { chain, names })
    }
}

fn yaml_kind(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::Sequence(_) => "a sequence",
        serde_yaml::Value::Mapping(_) => "a map",
        _ => "another value",
    }
}

/// A key id and the secret that goes with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsEntry {
    /// The public part: AlpPay `API-KEY`, Cryptomus `merchant` uuid, Apollo public key.
    pub key_id: String,
    /// The signing secret: AlpPay HMAC secret, Cryptomus payment key, Apollo private key.
    /// Write it as `${ENV_VAR}`; it is never printed.
    pub secret: Secret,
}

/// `merchants[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantEntry {
    /// Unique id, `[a-z0-9_-]+`; used in routes, logs and metrics.
    pub id: String,
    /// The dialect this merchant speaks to payglot.
    pub dialect: Dialect,
    /// What the merchant signs its requests with; payglot verifies with it and signs the
    /// answers and webhooks it sends back.
    pub credentials: CredentialsEntry,
    /// Facts used to fill fields a target dialect requires but the merchant's does not carry.
    #[serde(default)]
    pub profile: ProfileEntry,
    /// Per-upstream credentials for the merchant's own account there, by upstream id;
    /// upstreams not listed use their own `credentials`.
    #[serde(default)]
    pub upstream_credentials: BTreeMap<String, CredentialsEntry>,
    /// Where payglot delivers this merchant's payment webhooks when its dialect has no
    /// per-payment callback URL (AlpPay speakers; for others, the URL in each create wins).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// `merchants[].profile`; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// Shop name.
    #[serde(default)]
    pub name: Option<String>,
    /// Shop URL, http(s).
    #[serde(default)]
    pub site_url: Option<String>,
    /// Merchant contact e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Shop logo URL, http(s).
    #[serde(default)]
    pub logo_url: Option<String>,
    /// The customer to send when the target requires one (AlpPay) and the request has none.
    #[serde(default)]
    pub default_customer: Option<CustomerEntry>,
    /// Chain per currency ticker for requests that leave the network open (Cryptomus) when
    /// the target requires one, e.g. `{USDT: tron}`.
    #[serde(default)]
    pub default_networks: BTreeMap<String, String>,
}

/// `merchants[].profile.default_customer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerEntry {
    /// Customer name.
    #[serde(default)]
    pub name: Option<String>,
    /// Customer e-mail.
    #[serde(default)]
    pub email: Option<String>,
}

/// `upstreams[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamEntry {
    /// Unique id, `[a-z0-9_-]+`; used in routes, logs and metrics.
    pub id: String,
    /// The dialect this provider speaks.
    pub dialect: Dialect,
    /// The provider's API base, `http` or `https`; its path is kept as a prefix and the create
    /// path (e.g. `/payment`) is appended.
    pub base_url: String,
    /// payglot's account at this provider, used unless the merchant has its own
    /// (`merchants[].upstream_credentials`).
    pub credentials: CredentialsEntry,
    /// TCP (and TLS) connect timeout, milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Timeout for each read from the provider, milliseconds.
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// Timeout for each write to the provider, milliseconds.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// How long an idle keep-alive connection is kept for reuse, milliseconds.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// The whole exchange with the provider, from the DNS lookup to the last byte of its
    /// answer, milliseconds (the per-read timeout alone lets a dripping answer run on).
    #[serde(default = "default_total_timeout_ms")]
    pub total_timeout_ms: u64,
    /// Stops sending to a provider that keeps failing; defaults apply when absent.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreakerEntry>,
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}
fn default_read_timeout_ms() -> u64 {
    15_000
}
fn default_write_timeout_ms() -> u64 {
    5_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_total_timeout_ms() -> u64 {
    // Fits the default shutdown (grace 10 s + 5 s), which `payglot check` requires.
    15_000
}

/// `upstreams[].circuit_breaker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerEntry {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long the breaker stays open before one trial request, milliseconds.
    pub cooldown_ms: u64,
}

impl Default for CircuitBreakerEntry {
    fn default() -> Self {
        CircuitBreakerEntry {
            failures: 5,
            cooldown_ms: 30_000,
        }
    }
}

/// `routes[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// Conditions; all given must hold. Absent or empty: matches every request.
    #[serde(default, rename = "match")]
    pub matcher: MatchEntry,
    /// The upstream id that serves matching requests. Exactly one of `to` and `split`.
    #[serde(default)]
    pub to: Option<String>,
    /// Weighted upstreams, sticky per (merchant id, order reference). Exactly one of `to`
    /// and `split`.
    #[serde(default)]
    pub split: Option<Vec<SplitEntry>>,
    /// Upstream ids tried in order, only when the chosen upstream could not be connected to.
    #[serde(default)]
    pub failover: Vec<String>,
}

/// `routes[].match`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchEntry {
    /// Merchant ids (one string or a list).
    #[serde(default)]
    pub merchant: Option<OneOrMany<String>>,
    /// Inbound dialects (one or a list).
    #[serde(default)]
    pub dialect: Option<OneOrMany<Dialect>>,
    /// Currency tickers, case-insensitive (one or a list).
    #[serde(default)]
    pub currency: Option<OneOrMany<String>>,
    /// Canonical chain names, case-insensitive (one or a list).
    #[serde(default)]
    pub network: Option<OneOrMany<String>>,
    /// Bounds on the amount.
    #[serde(default)]
    pub amount: Option<AmountBoundsEntry>,
    /// A request header that must carry an exact value.
    #[serde(default)]
    pub header: Option<HeaderEntry>,
}

/// `routes[].match.amount`: any of the four bounds, at most one per side.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountBoundsEntry {
    /// Amount must be greater than this.
    #[serde(default)]
    pub gt: Option<AmountText>,
    /// Amount must be greater than or equal to this.
    #[serde(default)]
    pub gte: Option<AmountText>,
    /// Amount must be less than this.
    #[serde(default)]
    pub lt: Option<AmountText>,
    /// Amount must be less than or equal to this.
    #[serde(default)]
    pub lte: Option<AmountText>,
}

/// `routes[].match.header`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEntry {
    /// Header name, case-insensitive.
    pub name: String,
    /// The exact value it must have.
    pub value: String,
}

/// `routes[].split[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitEntry {
    /// Upstream id.
    pub upstream: String,
    /// Relative weight, at least 1.
    pub weight: u32,
}

/// An amount as written: a quoted decimal string, or a YAML integer (exact either way).
/// A YAML float such as `10.5` is refused, because it has already lost exactness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountText(pub String);

impl<'de> Deserialize<'de> for AmountText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AmountText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount as a string, e.g. \"10.50\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AmountText, E> {
                Ok(AmountText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AmountText, E> {
                Ok(AmountText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AmountText, E> {
                Ok(AmountText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AmountText, E> {
                Err(E::custom(format!(
                    "amount {v} is a YAML float; quote it (\"{v}\") so it stays exact"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of them; `merchant: a` is `merchant: [a]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }

    /// The path of item `i` under `base`: `base` for the single form, `base[i]` for a list.
    pub(crate) fn item_path(&self, base: &str, i: usize) -> String {
        match self {
            OneOrMany::One(_) => base.to_owned(),
            OneOrMany::Many(_) => format!("{base}[{i}]"),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
