//! Starts payglot and the provider sandbox in-process on loopback ports the kernel picked, for
//! end-to-end tests. The listening sockets are bound here (port 0) and handed to the services,
//! so no other test can take a port in between. Everything stops when the [`Stack`] is dropped.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use arc_swap::ArcSwap;
use payglot::config::{self, LoadedConfig};
use payglot::sandbox::{Sandbox, SandboxAccount, SandboxSettings};
use payglot::serve::{self, Running};

/// The second account per provider: payglot's own account at the sandbox, so a same-dialect
/// route visibly re-signs with other credentials than the merchant's.
pub const ALPPAY_PAYGLOT: (&str, &str) = ("ak_payglot_upstream", "sk_payglot_upstream");
pub const CRYPTOMUS_PAYGLOT: (&str, &str) = (
    "0b1e7000-0000-4000-8000-0000000000aa",
    "cm_payglot_upstream",
);
pub const APOLLO_PAYGLOT: (&str, &str) = ("pk_payglot_upstream", "sk_apollo_payglot_upstream");

/// Each merchant's own account at the providers of the other two dialects (`merchants[].
/// upstream_credentials`), so no two merchants share an account and references go upstream as
/// sent; a merchant's own dialect's provider is reached with payglot's account above.
/// (merchant dialect, provider dialect, key id, secret)
pub const MERCHANT_ACCOUNTS: [(&str, &str, &str, &str); 6] = [
    (
        "alppay",
        "cryptomus",
        "0b1e7000-0000-4000-8000-0000000000a1",
        "cm_shop_alppay",
    ),
    (
        "alppay",
        "apollo",
        "pk_shop_alppay",
        "sk_shop_alppay_at_apollo",
    ),
    (
        "cryptomus",
        "alppay",
        "ak_shop_cryptomus",
        "sk_shop_cryptomus_at_alppay",
    ),
    (
        "cryptomus",
        "apollo",
        "pk_shop_cryptomus",
        "sk_shop_cryptomus_at_apollo",
    ),
    (
        "apollo",
        "alppay",
        "ak_shop_apollo",
        "sk_shop_apollo_at_alppay",
    ),
    (
        "apollo",
        "cryptomus",
        "0b1e7000-0000-4000-8000-0000000000a3",
        "cm_shop_apollo",
    ),
];

/// The key id a merchant of `from` presents at the provider of `to`.
pub fn upstream_key(from: &str, to: &str) -> &'static str {
    if from == to {
        return match to {
            "alppay" => ALPPAY_PAYGLOT.0,
            "cryptomus" => CRYPTOMUS_PAYGLOT.0,
            _ => APOLLO_PAYGLOT.0,
        };
    }
    MERCHANT_ACCOUNTS
        .iter()
        .find(|(m, p, _, _)| *m == from && *p == to)
        .map(|(_, _, key, _)| *key)
        .expect("an account for every cross-dialect pair")
}

/// The `upstream_credentials` block of the merchant of `dialect`.
fn own_accounts(dialect: &str) -> String {
    let mut out = String::from("    upstream_credentials:\n");
    for (merchant, provider, key, secret) in MERCHANT_ACCOUNTS {
        if merchant == dialect {
            out.push_str(&format!(
                "      {provider}-sandbox: {{ key_id: \"{key}\", secret: {secret} }}\n"
            ));
        }
    }
    out
}

pub struct Stack {
    pub proxy: SocketAddr,
    pub metrics: SocketAddr,
    pub sandbox_addr: SocketAddr,
    pub sandbox: Arc<Sandbox>,
    pub config: Arc<ArcSwap<LoadedConfig>>,
    running: Option<Running>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
        for file in payglot::store::embedded::store_files(&store_path(self.proxy)) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// The config every end-to-end test starts from: the three demo merchants, one upstream per
/// sandbox provider with payglot's own accounts, and a route per target chosen by the
/// `X-Test-Target` header, so a test can reach all nine dialect pairs. `{SANDBOX}` is the
/// sandbox's address; `extra_upstreams` and `extra_routes` are YAML list items spliced in
/// (extra routes come first).
pub fn base_config(extra_upstreams: &str, extra_routes: &str) -> String {
    format!(
        r#"
server:
  listen: "{{PROXY}}"
  metrics_listen: "{{METRICS}}"
  grace_period_secs: 0
  graceful_shutdown_timeout_secs: 1
store:
  kind: embedded
  path: "{{STORE}}"
merchants:
  - id: shop-alppay
    dialect: alppay
    credentials: {{ key_id: ak_test_payglot_alppay, secret: sk_test_payglot_alppay }}
    profile:
      name: Demo Shop
      site_url: https://shop.example
      email: billing@shop.example
      default_customer: {{ name: Demo Customer, email: customer@shop.example }}
      default_networks: {{ USDT: tron }}
{own_alppay}  - id: shop-cryptomus
    dialect: cryptomus
    credentials: {{ key_id: c0ffee00-0000-4000-8000-000000000001, secret: cm_test_payglot_key }}
    profile:
      default_customer: {{ name: Demo Customer, email: customer@shop.example }}
      default_networks: {{ USDT: tron }}
{own_cryptomus}  - id: shop-apollo
    dialect: apollo
    credentials: {{ key_id: pk_test_payglot_apollo, secret: sk_test_payglot_apollo }}
    profile:
      default_customer: {{ name: Demo Customer, email: customer@shop.example }}
{own_apollo}upstreams:
  - id: alppay-sandbox
    dialect: alppay
    base_url: "http://{{SANDBOX}}/alppay/v2"
    credentials: {{ key_id: {ak}, secret: {sk} }}
  - id: cryptomus-sandbox
    dialect: cryptomus
    base_url: "http://{{SANDBOX}}/cryptomus/v1"
    credentials: {{ key_id: {cm}, secret: {ck} }}
  - id: apollo-sandbox
    dialect: apollo
    base_url: "http://{{SANDBOX}}/apollo/api-gateway"
    credentials: {{ key_id: {pk}, secret: {pv} }}
{extra_upstreams}
routes:
{extra_routes}
  - name: to-alppay
    match: {{ header: {{ name: X-Test-Target, value: alppay }} }}
    to: alppay-sandbox
  - name: to-cryptomus
    match: {{ header: {{ name: X-Test-Target, value: cryptomus }} }}
    to: cryptomus-sandbox
  - name: to-apollo
    match: {{ header: {{ name: X-Test-Target, value: apollo }} }}
    to: apollo-sandbox
"#,
        ak = ALPPAY_PAYGLOT.0,
        sk = ALPPAY_PAYGLOT.1,
        cm = CRYPTOMUS_PAYGLOT.0,
        ck = CRYPTOMUS_PAYGLOT.1,
        pk = APOLLO_PAYGLOT.0,
        pv = APOLLO_PAYGLOT.1,
        own_alppay = own_accounts("alppay"),
        own_cryptomus = own_accounts("cryptomus"),
        own_apollo = own_accounts("apollo"),
    )
}

/// Fills the `{PROXY}`, `{METRICS}`, `{SANDBOX}` and `{STORE}` placeholders. The store file is
/// named after the process and the proxy's port, which no other live stack holds.
pub fn fill(template: &str, proxy: SocketAddr, metrics: SocketAddr, sandbox: SocketAddr) -> String {
    template
        .replace("{PROXY}", &proxy.to_string())
        .replace("{METRICS}", &metrics.to_string())
        .replace("{SANDBOX}", &sandbox.to_string())
        .replace("{STORE}", &store_path(proxy).display().to_string())
}

/// The embedded index file of the stack whose proxy listens on `proxy`.
pub fn store_path(proxy: SocketAddr) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "payglot-test-index-{}-{}.redb",
        std::process::id(),
        proxy.port()
    ))
}

pub fn sandbox_settings() -> SandboxSettings {
    let mut settings = SandboxSettings::default();
    let name = "payglot upstream account";
    settings.alppay.push(SandboxAccount::new(
        ALPPAY_PAYGLOT.0,
        ALPPAY_PAYGLOT.1,
        name,
    ));
    settings.cryptomus.push(SandboxAccount::new(
        CRYPTOMUS_PAYGLOT.0,
        CRYPTOMUS_PAYGLOT.1,
        name,
    ));
    settings.apollo.push(SandboxAccount::new(
        APOLLO_PAYGLOT.0,
        APOLLO_PAYGLOT.1,
        name,
    ));
    for (merchant, provider, key, secret) in MERCHANT_ACCOUNTS {
        let account = SandboxAccount::new(key, secret, format!("shop-{merchant}"));
        match provider {
            "alppay" => settings.alppay.push(account),
            "cryptomus" => settings.cryptomus.push(account),
            _ => settings.apollo.push(account),
        }
    }
    settings
}

/// Starts the proxy on the config `template` (see [`base_config`]) and the sandbox beside it.
pub fn start(template: &str) -> Stack {
    start_inner(template, None)
}

/// Like [`start`], with the config written to `file` and watched for reloads. The filled
/// template's placeholders are returned too, for writing later versions of the file.
pub fn start_watching(template: &str, file: &std::path::Path) -> (Stack, Ports) {
    let listeners = Listeners::bind();
    let ports = listeners.ports();
    let stack = start_with(template, Some(file), listeners);
    (stack, ports)
}

/// The three addresses of a stack, for filling later versions of its config.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub proxy: SocketAddr,
    pub metrics: SocketAddr,
    pub sandbox: SocketAddr,
}

impl Ports {
    pub fn fill(&self, template: &str) -> String {
        fill(template, self.proxy, self.metrics, self.sandbox)
    }
}

/// The stack's listening sockets, bound before anything is configured.
struct Listeners {
    proxy: TcpListener,
    metrics: TcpListener,
    sandbox: TcpListener,
}

impl Listeners {
    fn bind() -> Self {
        let bind = || serve::bind_loopback().expect("bind a loopback port");
        Listeners {
            proxy: bind(),
            metrics: bind(),
            sandbox: bind(),
        }
    }

    fn ports(&self) -> Ports {
        let addr = |l: &TcpListener| l.local_addr().expect("bound address");
        Ports {
            proxy: addr(&self.proxy),
            metrics: addr(&self.metrics),
            sandbox: addr(&self.sandbox),
        }
    }
}

fn start_inner(template: &str, file: Option<&std::path::Path>) -> Stack {
    start_with(template, file, Listeners::bind())
}

/// Like [`start`], with the sandbox's settings adjusted by `tune`, which sees the stack's
/// addresses (e.g. to point AlpPay's account webhook URL at the proxy).
pub fn start_tuned(
    template: &str,
    tune: impl FnOnce(SandboxSettings, Ports) -> SandboxSettings,
) -> Stack {
    let listeners = Listeners::bind();
    let settings = tune(sandbox_settings(), listeners.ports());
    start_full(template, None, listeners, settings)
}

fn start_with(template: &str, file: Option<&std::path::Path>, listeners: Listeners) -> Stack {
    start_full(template, file, listeners, sandbox_settings())
}

fn start_full(
    template: &str,
    file: Option<&std::path::Path>,
    listeners: Listeners,
    settings: SandboxSettings,
) -> Stack {
    let ports = listeners.ports();
    let (proxy, metrics, sandbox_addr) = (ports.proxy, ports.metrics, ports.sandbox);
    let yaml = fill(template, proxy, metrics, sandbox_addr);
    let loaded = match file {
        Some(path) => {
            std::fs::write(path, &yaml).expect("write the test config");
            config::load_file(path)
        }
        None => config::load_str(&yaml, &|_| None),
    }
    .unwrap_or_else(|errors| panic!("test config is invalid:\n{errors}\n{yaml}"));
    let sandbox = Sandbox::new(settings);
    let mut assembly = payglot::app::assemble(loaded, file);
    assembly
        .services
        .push(Box::new(sandbox.service(&sandbox_addr.to_string())));
    // Already listening: connections wait in the backlog until the services accept them.
    let running = serve::spawn_on(
        "e2e",
        serve::quick_stop_conf(),
        assembly.services,
        vec![listeners.proxy, listeners.metrics, listeners.sandbox],
    )
    .expect("every listener belongs to a service");
    Stack {
        proxy,
        metrics,
        sandbox_addr,
        sandbox,
        config: assembly.config,
        running: Some(running),
    }
}
