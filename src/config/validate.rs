//! Stage 4: checks every value and cross-reference of a typed [`ConfigFile`] in one pass,
//! collecting every problem with its path, and builds the [`LoadedConfig`] when there is none.
//! Checks never stop at the first problem in a section; a value that failed its own check is
//! still counted as declared (an upstream with a bad URL is still a known id) so one mistake
//! does not cascade into "unknown upstream" reports elsewhere.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use url::{Host, Url};

use super::schema::{
    AmountBoundsEntry, AmountText, ConfigFile, CredentialsEntry, MatchEntry, MerchantEntry,
    NetworkEntry, OneOrMany, ProfileEntry, RouteEntry, SandboxSection, ServerSection,
    UpstreamEntry, WebhooksSection,
};
use super::{
    BaseUrl, CircuitBreaker, ConfigError, LoadedConfig, Merchant, SandboxConfig, ServerSettings,
    Upstream, WebhookSettings,
};
use crate::dialect::Dialect;
use crate::model::MerchantProfile;
use crate::money::Amount;
use crate::network::NetworkTable;
use crate::routing::{AmountRange, Bound, HeaderMatch, Match, Route, Router, Target, Weighted};
use crate::secret::Credentials;

/// Worker threads above this are a typo, not a plan (and would exhaust the process).
const MAX_THREADS: u64 = 1024;
/// pingora forwards a rewritten body only up to 64 KiB.
const MAX_BODY_BYTES: u64 = 65_536;
/// Upper bound for every millisecond setting (one day): larger values are typos and only
/// risk overflowing timer arithmetic downstream.
const MAX_MS: u64 = 86_400_000;
/// Upper bound for the shutdown timings (one hour).
const MAX_SHUTDOWN_SECS: u64 = 3_600;
/// Provider answers are a few KiB; 16 MiB is a typo's bound, not a plan.
const MAX_ANSWER_BYTES: u64 = 16 << 20;
/// Far above what one process serves; larger values are typos.
const MAX_CONNECTIONS: u64 = 1_000_000;

#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(path, message));
    }
}

pub(crate) fn build(
    file: &ConfigFile,
    generation_hash: String,
) -> Result<LoadedConfig, Vec<ConfigError>> {
    let mut e = Errors::default();
    let server = server(&file.server, &mut e);
    // Parsed again on their own so that the conflict checks below still run when some other
    // server setting is wrong (its error is already recorded).
    let listeners = Listeners {
        listen: file.server.listen.parse().ok(),
        metrics_listen: file.server.metrics_listen.parse().ok(),
    };
    let sandbox = file
        .sandbox
        .as_ref()
        .and_then(|s| sandbox(s, &listeners, &mut e));
    let networks = networks(&file.networks, &mut e);
    let upstream_ids: Vec<&str> = file.upstreams.iter().map(|u| u.id.as_str()).collect();
    let merchants = merchants(&file.merchants, &upstream_ids, &networks, &mut e);
    let upstreams = upstreams(&file.upstreams, &listeners, &mut e);
    request_outlasts_upstreams(file, &mut e);
    let routes = routes(
        &file.routes,
        &file.merchants,
        &upstream_ids,
        &networks,
        &mut e,
    );
    let store = super::store::build(file.store.as_ref(), &mut e.0);
    let webhooks = webhooks(file.webhooks.as_ref(), &mut e);

    if !e.0.is_empty() {
        return Err(e.0);
    }
    // Every builder returns `None` only after recording an error, so these hold here.
    let (Some(server), Some(upstreams), Some(routes), Some(store)) = (
        server,
        upstreams.into_iter().collect::<Option<Vec<_>>>(),
        routes,
        store,
    ) else {
        return Err(vec![ConfigError::new(
            "",
            "internal error: a section failed to build without reporting why",
        )]);
    };

    let mut merchant_by_key: HashMap<Dialect, HashMap<String, usize>> = HashMap::new();
    let mut merchant_by_id = HashMap::new();
    for (i, m) in merchants.iter().enumerate() {
        merchant_by_key
            .entry(m.dialect)
            .or_default()
            .insert(m.credentials.key_id.clone(), i);
        merchant_by_id.insert(m.id.clone(), i);
    }
    let upstream_by_id = upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    Ok(LoadedConfig {
        server,
        sandbox,
        networks,
        routes,
        store,
        webhooks,
        generation_hash,
        merchants,
        merchant_by_key,
        merchant_by_id,
        upstreams,
        upstream_by_id,
    })
}

fn webhooks(section: Option<&WebhooksSection>, e: &mut Errors) -> WebhookSettings {
    let mut settings = WebhookSettings::default();
    let Some(section) = section else {
        return settings;
    };
    if let Some(base) = &section.public_base_url
        && http_url(base, "webhooks.public_base_url", e).is_some()
    {
        settings.public_base_url = Some(base.trim_end_matches('/').to_owned());
    }
    if let Some(schedule) = &section.retry_schedule_secs {
        if schedule.iter().any(|s| *s > MAX_RETRY_WAIT_SECS) {
            e.push(
                "webhooks.retry_schedule_secs",
                format!("each wait must be at most {MAX_RETRY_WAIT_SECS} seconds (a week)"),
            );
        }
        settings.retry_schedule = schedule.iter().map(|s| Duration::from_secs(*s)).collect();
    }
    if let Some(ms) = section.delivery_timeout_ms {
        if !(1..=300_000).contains(&ms) {
            e.push(
                "webhooks.delivery_timeout_ms",
                "must be between 1 and 300000",
            );
        }
        settings.delivery_timeout = Duration::from_millis(ms);
    }
    settings
}

/// The longest wait between two deliveries of one webhook.
const MAX_RETRY_WAIT_SECS: u64 = 7 * 24 * 3600;

fn server(s: &ServerSection, e: &mut Errors) -> Option<ServerSettings> {
    let listen = socket_addr(&s.listen, "server.listen", e);
    let metrics_listen = socket_addr(&s.metrics_listen, "server.metrics_listen", e);
    if let (Some(a), Some(b)) = (listen, metrics_listen)
        && same_listener(a, b)
    {
        e.push(
            "server.metrics_listen",
            format!("{b} is the same address as server.listen"),
        );
    }
    if !(1..=MAX_BODY_BYTES).contains(&s.max_body_bytes) {
        e.push(
            "server.max_body_bytes",
            format!(
                "must be between 1 and {MAX_BODY_BYTES} (pingora forwards a rewritten body \
                 only up to 64 KiB), not {}",
                s.max_body_bytes
            ),
        );
    }
    for (key, ms) in [
        ("server.client_timeout_ms", s.client_timeout_ms),
        ("server.header_timeout_ms", s.header_timeout_ms),
        ("server.body_timeout_ms", s.body_timeout_ms),
        ("server.request_timeout_ms", s.request_timeout_ms),
    ] {
        millis(ms, key, e);
    }
    if !(1..=MAX_ANSWER_BYTES).contains(&s.max_answer_bytes) {
        e.push(
            "server.max_answer_bytes",
            format!(
                "must be between 1 and {MAX_ANSWER_BYTES}, not {}",
                s.max_answer_bytes
            ),
        );
    }
    if !(1..=MAX_CONNECTIONS).contains(&s.max_connections) {
        e.push(
            "server.max_connections",
            format!(
                "must be between 1 and {MAX_CONNECTIONS}, not {}",
                s.max_connections
            ),
        );
    }
    for (key, secs) in [
        ("server.grace_period_secs", s.grace_period_secs),
        (
            "server.graceful_shutdown_timeout_secs",
            s.graceful_shutdown_timeout_secs,
        ),
    ] {
        if secs > MAX_SHUTDOWN_SECS {
            e.push(
                key,
                format!("must be at most {MAX_SHUTDOWN_SECS}, not {secs}"),
            );
        }
    }
    if !(1..=MAX_THREADS).contains(&s.threads) {
        e.push(
            "server.threads",
            format!("must be between 1 and {MAX_THREADS}, not {}", s.threads),
        );
    }
    if let Some(path) = &s.upstream_ca_file
        && let Err(error) = std::fs::metadata(path)
    {
        e.push(
            "server.upstream_ca_file",
            format!("cannot read {path}: {error}"),
        );
    }
    Some(ServerSettings {
        upstream_ca_file: s.upstream_ca_file.clone(),
        listen: listen?,
        metrics_listen: metrics_listen?,
        max_body_bytes: usize::try_from(s.max_body_bytes).ok()?,
        max_answer_bytes: usize::try_from(s.max_answer_bytes).ok()?,
        client_timeout: Duration::from_millis(s.client_timeout_ms),
        header_timeout: Duration::from_millis(s.header_timeout_ms),
        body_timeout: Duration::from_millis(s.body_timeout_ms),
        request_timeout: Duration::from_millis(s.request_timeout_ms),
        max_connections: usize::try_from(s.max_connections).ok()?,
        grace_period_secs: s.grace_period_secs,
        graceful_shutdown_timeout_secs: s.graceful_shutdown_timeout_secs,
        threads: usize::try_from(s.threads).ok()?,
    })
}

/// payglot's own listeners, for conflict and loop checks.
struct Listeners {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
}

impl Listeners {
    fn named(&self) -> impl Iterator<Item = (&'static str, SocketAddr)> {
        [
            ("server.listen", self.listen),
            ("server.metrics_listen", self.metrics_listen),
        ]
        .into_iter()
        .filter_map(|(key, addr)| Some((key, addr?)))
    }
}

fn sandbox(s: &SandboxSection, listeners: &Listeners, e: &mut Errors) -> Option<SandboxConfig> {
    let listen = socket_addr(&s.listen, "sandbox.listen", e)?;
    for (key, other) in listeners.named() {
        if same_listener(listen, other) {
            e.push(
                "sandbox.listen",
                format!("{listen} is the same address as {key}"),
            );
        }
    }
    let webhook_retry_secs = match &s.webhook_retry_secs {
        None => crate::sandbox::DEFAULT_WEBHOOK_RETRY_SECS.to_vec(),
        Some(waits) => {
            if waits.len() > MAX_SANDBOX_RETRIES {
                e.push(
                    "sandbox.webhook_retry_secs",
                    format!("at most {MAX_SANDBOX_RETRIES} retries, not {}", waits.len()),
                );
            }
            for (index, wait) in waits.iter().enumerate() {
                if *wait > MAX_SANDBOX_RETRY_WAIT_SECS {
                    e.push(
                        format!("sandbox.webhook_retry_secs[{index}]"),
                        format!("must be at most {MAX_SANDBOX_RETRY_WAIT_SECS}, not {wait}"),
                    );
                }
            }
            waits.clone()
        }
    };
    let alppay_webhook_url = s.alppay_webhook_url.clone();
    if let Some(url) = &alppay_webhook_url {
        let plain_http = url::Url::parse(url)
            .is_ok_and(|parsed| parsed.scheme() == "http" && parsed.host_str().is_some());
        if !plain_http {
            e.push(
                "sandbox.alppay_webhook_url",
                format!("{url:?} must be an http:// URL (the sandbox delivers over plain HTTP)"),
            );
        }
    }
    Some(SandboxConfig {
        listen,
        webhook_retry_secs,
        alppay_webhook_url,
    })
}

/// Bounds on the sandbox's webhook retry schedule: it is for tests and demos.
const MAX_SANDBOX_RETRIES: usize = 20;
const MAX_SANDBOX_RETRY_WAIT_SECS: u64 = 3600;

/// A millisecond setting: 1..=one day.
fn millis(ms: u64, path: &str, e: &mut Errors) {
    if ms == 0 {
        e.push(path, "must be greater than 0");
    } else if ms > MAX_MS {
        e.push(
            path,
            format!("must be at most {MAX_MS} (one day), not {ms}"),
        );
    }
}

fn socket_addr(text: &str, path: &str, e: &mut Errors) -> Option<SocketAddr> {
    match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            e.push(
                path,
                format!("\"{text}\" is not an ip:port address (e.g. \"127.0.0.1:8080\")"),
            );
            None
        }
    }
}

/// Whether two listeners would collide. Port 0 (an OS-chosen port) never collides.
fn same_listener(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn networks(entries: &[NetworkEntry], e: &mut Errors) -> NetworkTable {
    let mut table = NetworkTable::builtin();
    let mut set_by: HashMap<(String, Dialect), usize> = HashMap::new();
    for (i, n) in entries.iter().enumerate() {
        let path = format!("networks[{i}]");
        let chain = n.chain.to_ascii_lowercase();
        if !is_token(&chain) {
            e.push(
                format!("{path}.chain"),
                format!("\"{}\" must be a non-empty name of [a-z0-9_.-]", n.chain),
            );
            continue;
        }
        if n.names.is_empty() {
            let dialects: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
            e.push(
                &path,
                format!("give at least one of {}", dialects.join(", ")),
            );
        }
        for (&dialect, name) in &n.names {
            let p = format!("{path}.{dialect}");
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                e.push(
                    p,
                    format!("\"{name}\" must be a non-empty name without spaces"),
                );
                continue;
            }
            if let Some(owner) = table.to_canonical(dialect, name)
                && owner != chain
            {
                e.push(
                    p,
                    format!("{dialect} name \"{name}\" already belongs to chain \"{owner}\""),
                );
                continue;
            }
            if let Some(j) = set_by.insert((chain.clone(), dialect), i) {
                e.push(
                    p,
                    format!(
                        "the {dialect} name of chain \"{chain}\" is already set by networks[{j}]"
                    ),
                );
                continue;
            }
            table.set_name(&chain, dialect, name);
        }
    }
    table
}

fn upstreams(
    entries: &[UpstreamEntry],
    listeners: &Listeners,
    e: &mut Errors,
) -> Vec<Option<Upstream>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for (i, u) in entries.iter().enumerate() {
        let path = format!("upstreams[{i}]");
        id(&u.id, &format!("{path}.id"), "upstreams", i, &mut seen, e);
        let base_url = base_url(&u.base_url, &format!("{path}.base_url"), e);
        if let Some(url) = &base_url
            && let Ok(ip) = url.host.parse::<IpAddr>()
        {
            for (key, own) in listeners.named() {
                if same_listener(own, SocketAddr::new(ip, url.port)) {
                    e.push(
                        format!("{path}.base_url"),
                        format!("points at payglot's own listener {key} ({own}), a loop"),
                    );
                }
            }
        }
        let credentials = check_credentials(&u.credentials, &format!("{path}.credentials"), e);
        for (key, ms) in [
            ("connect_timeout_ms", u.connect_timeout_ms),
            ("read_timeout_ms", u.read_timeout_ms),
            ("write_timeout_ms", u.write_timeout_ms),
            ("idle_timeout_ms", u.idle_timeout_ms),
            ("total_timeout_ms", u.total_timeout_ms),
        ] {
            millis(ms, &format!("{path}.{key}"), e);
        }
        let breaker = u.circuit_breaker.clone().unwrap_or_default();
        if breaker.failures == 0 {
            e.push(
                format!("{path}.circuit_breaker.failures"),
                "must be at least 1",
            );
        }
        millis(
            breaker.cooldown_ms,
            &format!("{path}.circuit_breaker.cooldown_ms"),
            e,
        );
        out.push(base_url.map(|base_url| Upstream {
            id: u.id.clone(),
            dialect: u.dialect,
            base_url,
            credentials,
            connect_timeout: Duration::from_millis(u.connect_timeout_ms),
            read_timeout: Duration::from_millis(u.read_timeout_ms),
            write_timeout: Duration::from_millis(u.write_timeout_ms),
            idle_timeout: Duration::from_millis(u.idle_timeout_ms),
            total_timeout: Duration::from_millis(u.total_timeout_ms),
            circuit_breaker: CircuitBreaker {
                failures: breaker.failures,
                cooldown: Duration::from_millis(breaker.cooldown_ms),
            },
        }));
    }
    out
}

/// An upstream deadline longer than the request's own would never be reached: the request
/// would end first, as a timeout the upstream's settings do not explain.
fn request_outlasts_upstreams(file: &ConfigFile, e: &mut Errors) {
    let request_ms = file.server.request_timeout_ms;
    for (i, u) in file.upstreams.iter().enumerate() {
        if u.total_timeout_ms > request_ms {
            e.push(
                format!("upstreams[{i}].total_timeout_ms"),
                format!(
                    "{} is longer than server.request_timeout_ms ({request_ms}), which would cut \
                     every slow exchange short first",
                    u.total_timeout_ms
                ),
            );
        }
    }
}

fn base_url(text: &str, path: &str, e: &mut Errors) -> Option<BaseUrl> {
    let url = http_url(text, path, e)?;
    if url.query().is_some() || url.fragment().is_some() {
        e.push(path, "must not have a query or fragment");
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        // They would end up in logs; credentials belong in `credentials`.
        e.push(path, "must not contain user:password@");
        return None;
    }
    let host = match url.host()? {
        Host::Domain(d) => d.to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    let port = url.port_or_known_default()?;
    Some(BaseUrl {
        scheme: url.scheme().to_owned(),
        tls: url.scheme() == "https",
        sni: host.clone(),
        host,
        port,
        path_prefix: url.path().trim_end_matches('/').to_owned(),
        explicit_port: url.port().is_some(),
    })
}

/// An absolute http(s) URL with a host.
fn http_url(text: &str, path: &str, e: &mut Errors) -> Option<Url> {
    let url = match Url::parse(text) {
        Ok(u) => u,
        Err(err) => {
            e.push(path, format!("\"{text}\" is not a URL: {err}"));
            return None;
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        e.push(
            path,
            format!("scheme must be http or https, not \"{}\"", url.scheme()),
        );
        return None;
    }
    if url.host_str().is_none_or(str::is_empty) {
        e.push(path, "has no host");
        return None;
    }
    Some(url)
}

fn check_credentials(c: &CredentialsEntry, path: &str, e: &mut Errors) -> Credentials {
    // A key id travels in a header: a control character would fail only at send time, as a
    // connect error that trips the circuit breaker. Its value is not echoed (a pasted secret).
    let trimmed = c.key_id.trim() == c.key_id;
    if trimmed && c.key_id.chars().any(char::is_control) {
        e.push(
            format!("{path}.key_id"),
            "contains a control character (tab, newline, ...); key ids travel in a header",
        );
    } else if trimmed && !c.key_id.is_empty() && HeaderValue::from_str(&c.key_id).is_err() {
        e.push(
            format!("{path}.key_id"),
            "is not a valid header value (visible ASCII only)",
        );
    }
    for (key, value) in [("key_id", c.key_id.as_str()), ("secret", c.secret.expose())] {
        if value.is_empty() {
            e.push(format!("{path}.{key}"), "must not be empty");
        } else if value.trim() != value {
            // Usually a newline from a secrets file or a paste; it would break every signature.
            e.push(
                format!("{path}.{key}"),
                "has leading or trailing whitespace",
            );
        }
    }
    Credentials {
        key_id: c.key_id.clone(),
        secret: c.secret.clone(),
    }
}

/// Checks an id's form and uniqueness within its list.
fn id<'a>(
    value: &'a str,
    path: &str,
    list: &str,
    index: usize,
    seen: &mut HashMap<&'a str, usize>,
    e: &mut Errors,
) {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        e.push(path, format!("\"{value}\" must match [a-z0-9_-]+"));
    }
    if let Some(first) = seen.insert(value, index) {
        e.push(
            path,
            format!("duplicate id \"{value}\" (first at {list}[{first}])"),
        );
        seen.insert(value, first);
    }
}

fn merchants(
    entries: &[MerchantEntry],
    upstream_ids: &[&str],
    table: &NetworkTable,
    e: &mut Errors,
) -> Vec<Merchant> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut keys: HashMap<(Dialect, &str), usize> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for (i, m) in entries.iter().enumerate() {
        let path = format!("merchants[{i}]");
        id(&m.id, &format!("{path}.id"), "merchants", i, &mut seen, e);
        let credentials = check_credentials(&m.credentials, &format!("{path}.credentials"), e);
        if !m.credentials.key_id.is_empty() {
            if let Some(&first) = keys.get(&(m.dialect, m.credentials.key_id.as_str())) {
                e.push(
                    format!("{path}.credentials.key_id"),
                    format!(
                        "{} key id \"{}\" is already used by merchant \"{}\" (merchants[{first}])",
                        m.dialect, m.credentials.key_id, entries[first].id
                    ),
                );
            } else {
                keys.insert((m.dialect, m.credentials.key_id.as_str()), i);
            }
        }
        let profile = profile(&m.profile, &format!("{path}.profile"), table, e);
        let mut upstream_credentials = HashMap::new();
        for (upstream, c) in &m.upstream_credentials {
            let p = format!("{path}.upstream_credentials.{upstream}");
            if !upstream_ids.contains(&upstream.as_str()) {
                e.push(&p, unknown("upstream", upstream, upstream_ids));
            }
            upstream_credentials.insert(upstream.clone(), check_credentials(c, &p, e));
        }
        if let Some(url) = &m.webhook_url {
            http_url(url, &format!("{path}.webhook_url"), e);
        }
        out.push(Merchant {
            webhook_url: m.webhook_url.clone(),
            id: m.id.clone(),
            dialect: m.dialect,
            credentials,
            profile,
            upstream_credentials,
        });
    }
    out
}

fn profile(p: &ProfileEntry, path: &str, table: &NetworkTable, e: &mut Errors) -> MerchantProfile {
    for (key, url) in [("site_url", &p.site_url), ("logo_url", &p.logo_url)] {
        if let Some(url) = url {
            http_url(url, &format!("{path}.{key}"), e);
        }
    }
    if let Some(email) = &p.email {
        check_email(email, &format!("{path}.email"), e);
    }
    let customer = p.default_customer.clone().unwrap_or_default();
    if let Some(email) = &customer.email {
        check_email(email, &format!("{path}.default_customer.email"), e);
    }
    if customer
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        e.push(
            format!("{path}.default_customer.name"),
            "must not be blank (leave it out instead)",
        );
    }
    let mut default_networks = std::collections::BTreeMap::new();
    for (currency, chain) in &p.default_networks {
        let p = format!("{path}.default_networks.{currency}");
        let ticker = currency.to_ascii_uppercase();
        if !is_token(&ticker) {
            e.push(&p, format!("\"{currency}\" is not a currency ticker"));
        }
        let chain = chain.to_ascii_lowercase();
        if !known_chain(table, &chain) {
            e.push(&p, unknown_chain(&chain, table));
        }
        if default_networks.insert(ticker.clone(), chain).is_some() {
            e.push(
                &p,
                format!("currency {ticker} is listed twice (tickers are case-insensitive)"),
            );
        }
    }
    MerchantProfile {
        name: p.name.clone(),
        site_url: p.site_url.clone(),
        email: p.email.clone(),
        logo_url: p.logo_url.clone(),
        default_customer_name: customer.name,
        default_customer_email: customer.email,
        default_networks,
    }
}

/// A cheap shape check: one `@` with something on each side, no spaces.
fn check_email(email: &str, path: &str, e: &mut Errors) {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        e.push(path, format!("\"{email}\" is not an e-mail address"));
    }
}

fn routes(
    entries: &[RouteEntry],
    merchants: &[MerchantEntry],
    upstream_ids: &[&str],
    table: &NetworkTable,
    e: &mut Errors,
) -> Option<Router> {
    let merchant_ids: Vec<&str> = merchants.iter().map(|m| m.id.as_str()).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut built = Vec::with_capacity(entries.len());
    // Valid matchers by index, for the shadowing check.
    let mut matchers: Vec<Option<Match>> = Vec::with_capacity(entries.len());
    for (i, r) in entries.iter().enumerate() {
        let path = format!("routes[{i}]");
        if r.name.trim().is_empty() {
            e.push(format!("{path}.name"), "must not be empty");
        } else if let Some(first) = seen.insert(&r.name, i) {
            e.push(
                format!("{path}.name"),
                format!(
                    "duplicate route name \"{}\" (first at routes[{first}])",
                    r.name
                ),
            );
            seen.insert(&r.name, first);
        }
        let matcher = matcher(
            &r.matcher,
            &format!("{path}.match"),
            merchants,
            &merchant_ids,
            table,
            e,
        );
        let target = target(r, &path, upstream_ids, e);
        failover(r, &path, upstream_ids, e);
        if let Some(later) = &matcher {
            let shadow = matchers
                .iter()
                .enumerate()
                .find(|(_, earlier)| earlier.as_ref().is_some_and(|m| m.covers(later)));
            if let Some((k, _)) = shadow {
                e.push(
                    &path,
                    format!(
                        "never matches: route \"{}\" (routes[{k}]) above it matches every \
                         request it would",
                        entries[k].name
                    ),
                );
            }
        }
        matchers.push(matcher.clone());
        if let (Some(matcher), Some(target)) = (matcher, target) {
            built.push(Route {
                name: r.name.clone(),
                matcher,
                target,
                failover: r.failover.clone(),
            });
        }
    }
    (built.len() == entries.len()).then(|| Router::new(built))
}

fn matcher(
    m: &MatchEntry,
    path: &str,
    merchants: &[MerchantEntry],
    merchant_ids: &[&str],
    table: &NetworkTable,
    e: &mut Errors,
) -> Option<Match> {
    let mut ok = true;
    let mut list = |field: &str,
                    items: Option<&OneOrMany<String>>,
                    e: &mut Errors,
                    check: &dyn Fn(&str) -> Result<String, String>|
     -> Option<Vec<String>> {
        let items = items?;
        let base = format!("{path}.{field}");
        if items.as_slice().is_empty() {
            e.push(
                &base,
                "an empty list never matches; leave the key out to match any",
            );
            ok = false;
        }
        let mut out = Vec::new();
        for (i, item) in items.as_slice().iter().enumerate() {
            match check(item) {
                Ok(v) => out.push(v),
                Err(msg) => {
                    e.push(items.item_path(&base, i), msg);
                    ok = false;
                }
            }
        }
        Some(out)
    };
    let merchants_set = list("merchant", m.merchant.as_ref(), e, &|id| {
        if merchant_ids.contains(&id) {
            Ok(id.to_owned())
        } else {
            Err(unknown("merchant", id, merchant_ids))
        }
    });
    let currencies = list("currency", m.currency.as_ref(), e, &|c| {
        let c = c.to_ascii_uppercase();
        if is_token(&c) {
            Ok(c)
        } else {
            Err(format!("\"{c}\" is not a currency ticker"))
        }
    });
    let networks = list("network", m.network.as_ref(), e, &|n| {
        let n = n.to_ascii_lowercase();
        if known_chain(table, &n) {
            Ok(n)
        } else {
            Err(unknown_chain(&n, table))
        }
    });
    let dialects = m.dialect.as_ref().map(|d| d.as_slice().to_vec());
    if dialects.as_ref().is_some_and(Vec::is_empty) {
        e.push(
            format!("{path}.dialect"),
            "an empty list never matches; leave the key out to match any",
        );
        ok = false;
    }
    // A merchant speaks one dialect, so naming merchants and dialects that never meet is a
    // rule that cannot match.
    if let (Some(ids), Some(dialects)) = (&merchants_set, &dialects)
        && !ids.is_empty()
        && !merchants
            .iter()
            .any(|me| ids.contains(&me.id) && dialects.contains(&me.dialect))
    {
        e.push(
            path,
            "never matches: none of its merchants speaks one of its dialects",
        );
        ok = false;
    }
    let amount = match &m.amount {
        Some(b) => {
            let r = amount_range(b, &format!("{path}.amount"), e);
            ok &= r.is_some();
            r
        }
        None => None,
    };
    let header = match &m.header {
        Some(h) => {
            let name = HeaderName::from_bytes(h.name.as_bytes());
            if name.is_err() {
                e.push(
                    format!("{path}.header.name"),
                    format!("\"{}\" is not a valid header name", h.name),
                );
            }
            if HeaderValue::from_str(&h.value).is_err() {
                e.push(
                    format!("{path}.header.value"),
                    "is not a valid header value (visible ASCII only), so it would never match",
                );
                ok = false;
            }
            match name {
                Ok(name) => Some(HeaderMatch {
                    name,
                    value: h.value.clone(),
                }),
                Err(_) => {
                    ok = false;
                    None
                }
            }
        }
        None => None,
    };
    ok.then_some(Match {
        merchants: merchants_set,
        dialects,
        currencies,
        networks,
        amount,
        header,
    })
}

fn amount_range(b: &AmountBoundsEntry, path: &str, e: &mut Errors) -> Option<AmountRange> {
    let mut ok = true;
    let mut bound = |key: &str, text: &Option<AmountText>, inclusive: bool, e: &mut Errors| {
        let text = text.as_ref()?;
        match Amount::parse(&text.0) {
            Ok(amount) => Some(Bound { amount, inclusive }),
            Err(err) => {
                e.push(format!("{path}.{key}"), format!("\"{}\" {err}", text.0));
                ok = false;
                None
            }
        }
    };
    let gt = bound("gt", &b.gt, false, e);
    let gte = bound("gte", &b.gte, true, e);
    let lt = bound("lt", &b.lt, false, e);
    let lte = bound("lte", &b.lte, true, e);
    if b.gt.is_some() && b.gte.is_some() {
        e.push(path, "give at most one of gt and gte");
        ok = false;
    }
    if b.lt.is_some() && b.lte.is_some() {
        e.push(path, "give at most one of lt and lte");
        ok = false;
    }
    if [&b.gt, &b.gte, &b.lt, &b.lte].iter().all(|x| x.is_none()) {
        e.push(
            path,
            "give at least one of gt, gte, lt, lte (or leave amount out)",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let range = AmountRange {
        lower: gt.or(gte),
        upper: lt.or(lte),
    };
    if range.is_empty() {
        let side = |b: &Option<Bound>, strict: &str, loose: &str| match b {
            Some(b) => format!("{} {}", if b.inclusive { loose } else { strict }, b.amount),
            None => String::new(),
        };
        e.push(
            path,
            format!(
                "empty range: no amount is {} and {}",
                side(&range.lower, ">", ">="),
                side(&range.upper, "<", "<=")
            ),
        );
        return None;
    }
    Some(range)
}

fn target(r: &RouteEntry, path: &str, upstream_ids: &[&str], e: &mut Errors) -> Option<Target> {
    match (&r.to, &r.split) {
        (Some(_), Some(_)) => {
            e.push(path, "give exactly one of to and split, not both");
            None
        }
        (None, None) => {
            e.push(
                path,
                "give one of to (an upstream id) or split (weighted upstreams)",
            );
            None
        }
        (Some(to), None) => {
            if upstream_ids.contains(&to.as_str()) {
                Some(Target::Single(to.clone()))
            } else {
                e.push(format!("{path}.to"), unknown("upstream", to, upstream_ids));
                None
            }
        }
        (None, Some(split)) => {
            let mut ok = true;
            if split.is_empty() {
                e.push(format!("{path}.split"), "must list at least one upstream");
                ok = false;
            }
            for (k, arm) in split.iter().enumerate() {
                let p = format!("{path}.split[{k}]");
                if !upstream_ids.contains(&arm.upstream.as_str()) {
                    e.push(
                        format!("{p}.upstream"),
                        unknown("upstream", &arm.upstream, upstream_ids),
                    );
                    ok = false;
                } else if let Some(first) =
                    split[..k].iter().position(|a| a.upstream == arm.upstream)
                {
                    e.push(
                        format!("{p}.upstream"),
                        format!(
                            "\"{}\" is already in split[{first}]; add the weights",
                            arm.upstream
                        ),
                    );
                    ok = false;
                }
                if arm.weight == 0 {
                    e.push(
                        format!("{p}.weight"),
                        "must be at least 1 (remove the entry instead)",
                    );
                    ok = false;
                }
            }
            ok.then(|| {
                Target::Split(
                    split
                        .iter()
                        .map(|a| Weighted {
                            upstream: a.upstream.clone(),
                            weight: a.weight,
                        })
                        .collect(),
                )
            })
        }
    }
}

fn failover(r: &RouteEntry, path: &str, upstream_ids: &[&str], e: &mut Errors) {
    for (k, id) in r.failover.iter().enumerate() {
        let p = format!("{path}.failover[{k}]");
        if !upstream_ids.contains(&id.as_str()) {
            e.push(p, unknown("upstream", id, upstream_ids));
        } else if r.to.as_ref() == Some(id) {
            e.push(p, format!("\"{id}\" is already the route's `to`"));
        } else if let Some(first) = r.failover[..k].iter().position(|f| f == id) {
            e.push(
                p,
                format!("\"{id}\" is already listed at failover[{first}]"),
            );
        }
    }
}

fn known_chain(table: &NetworkTable, chain: &str) -> bool {
    table.chains().any(|c| c.chain.eq_ignore_ascii_case(chain))
}

fn unknown_chain(chain: &str, table: &NetworkTable) -> String {
    let chains: Vec<&str> = table.chains().map(|c| c.chain.as_str()).collect();
    let mut msg = format!("unknown network \"{chain}\"");
    match closest(chain, &chains) {
        Some(best) => msg.push_str(&format!("; did you mean \"{best}\"?")),
        None => msg.push_str(" (add it under `networks`)"),
    }
    msg
}

/// `unknown <kind> "<id>"`, with the closest known id or, failing that, the short list of ids.
fn unknown(kind: &str, id: &str, known: &[&str]) -> String {
    let mut msg = format!("unknown {kind} \"{id}\"");
    if let Some(best) = closest(id, known) {
        msg.push_str(&format!("; did you mean \"{best}\"?"));
    } else if known.is_empty() {
        msg.push_str(&format!(" (no {kind}s are configured)"));
    } else if known.len() <= 8 {
        msg.push_str(&format!(" (known: {})", known.join(", ")));
    }
    msg
}

/// The known id nearest to `word` by edit distance, if near enough to be a typo; a known id
/// that starts with `word` (`apollo` for `apollo-sandbox`) also counts.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| {
            let d = if k.starts_with(word) && !word.is_empty() {
                1
            } else {
                levenshtein(word, k)
            };
            (d, *k)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A non-empty name of lowercase or uppercase ASCII letters, digits, `_`, `.` and `-`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_ids_only() {
        let known = ["alppay-sandbox", "apollo-sandbox", "cryptomus-sandbox"];
        assert_eq!(closest("apollo-sandbx", &known), Some("apollo-sandbox"));
        assert_eq!(closest("apollo", &known), Some("apollo-sandbox"));
        assert_eq!(closest("stripe", &known), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert!(unknown("upstream", "stripe", &known).contains("(known: alppay-sandbox"));
    }

    #[test]
    fn sandbox_webhook_settings() {
        let listeners = Listeners {
            listen: None,
            metrics_listen: None,
        };
        let section = |retry: Option<Vec<u64>>, url: Option<&str>| SandboxSection {
            listen: "127.0.0.1:8090".into(),
            webhook_retry_secs: retry,
            alppay_webhook_url: url.map(str::to_string),
        };
        let mut e = Errors::default();
        let defaults = sandbox(&section(None, None), &listeners, &mut e);
        assert_eq!(
            defaults.map(|s| (s.webhook_retry_secs, s.alppay_webhook_url)),
            Some((vec![1, 2, 5], None))
        );
        let set = sandbox(
            &section(Some(vec![0, 30]), Some("http://127.0.0.1:8080/wh")),
            &listeners,
            &mut e,
        );
        assert_eq!(set.map(|s| s.webhook_retry_secs), Some(vec![0, 30]));
        assert!(e.0.is_empty());

        let too_many = vec![1; MAX_SANDBOX_RETRIES + 1];
        sandbox(&section(Some(too_many), None), &listeners, &mut e);
        sandbox(&section(Some(vec![1, 3601]), None), &listeners, &mut e);
        sandbox(
            &section(None, Some("https://shop.example/wh")),
            &listeners,
            &mut e,
        );
        let paths: Vec<&str> = e.0.iter().map(|error| error.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sandbox.webhook_retry_secs",
                "sandbox.webhook_retry_secs[1]",
                "sandbox.alppay_webhook_url"
            ]
        );
    }
}
