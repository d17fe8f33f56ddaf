//! Assembles a running payglot from a loaded config: the proxy listener, the operator's
//! endpoint, the reloader and, when the config asks for it, the provider sandbox beside them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use pingora::apps::http_app::ServeHttp;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::Admin;
use crate::config::{LoadedConfig, SandboxConfig};
use crate::metrics::METRICS;
use crate::proxy::Proxy;
use crate::proxy::index::Index;
use crate::proxy::listener::Guarded;
use crate::reload::Reloader;
use crate::sandbox::{Sandbox, SandboxSettings};
use crate::serve::Services;
use crate::webhooks::Worker;

/// Everything `payglot run` starts, ready for [`crate::serve`].
pub struct Assembly {
    pub server_conf: ServerConf,
    pub services: Services,
    /// The live config the proxy reads; tests swap it to exercise reloads.
    pub config: Arc<ArcSwap<LoadedConfig>>,
    /// The in-process sandbox, when the config runs one.
    pub sandbox: Option<Arc<Sandbox>>,
}

/// Builds the services for `config`, loaded from `path` (watched for reloads when given).
pub fn assemble(config: LoadedConfig, path: Option<&Path>) -> Assembly {
    // One index for the proxy and the webhook worker: the embedded store is one open file.
    let index = Arc::new(Index::new(config.store.clone()));
    assemble_with_index(config, path, index)
}

/// [`assemble`] on a given payment index.
pub fn assemble_with_index(
    config: LoadedConfig,
    path: Option<&Path>,
    index: Arc<Index>,
) -> Assembly {
    METRICS.config_loaded(&config.generation_hash);
    let upstream_ids: Vec<&str> = config.upstreams().iter().map(|u| u.id.as_str()).collect();
    METRICS.prime(&upstream_ids);
    let conf = server_conf(&config);
    let bound = config.server.listen;
    let listen = bound.to_string();
    let max_connections = config.server.max_connections;
    let metrics_listen = config.server.metrics_listen.to_string();
    let sandbox_setup = config
        .sandbox
        .as_ref()
        .map(|s| (s.listen.to_string(), sandbox_settings(s)));
    let shared = Arc::new(ArcSwap::from_pointee(config));

    let mut services: Services = Vec::new();
    let guarded = Guarded::new(
        Proxy::new(shared.clone(), index.clone()),
        max_connections,
        shared.clone(),
    );
    let mut proxy = Service::new("payglot proxy".to_owned(), guarded);
    // No read buffer in front of the socket: pingora's default is 64 KiB per connection, most
    // of an idle connection's memory; the HTTP session reads into its own header buffer.
    proxy.add_listener(ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings::default().read(0)));
    services.push(Box::new(proxy));

    let mut admin = Service::new(
        "payglot admin".to_owned(),
        Admin::new(shared.clone(), bound).into_app(),
    );
    admin.add_tcp(&metrics_listen);
    services.push(Box::new(admin));

    services.push(Box::new(background_service(
        "payglot webhooks",
        Worker::new(shared.clone(), index),
    )));

    if let Some(path) = path {
        let reloader = Reloader::new(path.to_path_buf(), shared.clone());
        services.push(Box::new(background_service("payglot reload", reloader)));
    }

    let sandbox = sandbox_setup.map(|(listen, settings)| {
        let sandbox = Sandbox::new(settings);
        services.push(Box::new(sandbox.service(&listen)));
        sandbox
    });

    Assembly {
        server_conf: conf,
        services,
        config: shared,
        sandbox,
    }
}

/// The demo accounts, with the config's webhook settings.
fn sandbox_settings(config: &SandboxConfig) -> SandboxSettings {
    let mut settings = SandboxSettings {
        webhook_retry: config
            .webhook_retry_secs
            .iter()
            .map(|secs| Duration::from_secs(*secs))
            .collect(),
        ..SandboxSettings::default()
    };
    if let Some(url) = &config.alppay_webhook_url {
        settings = settings.with_alppay_webhook_url(url);
    }
    settings
}

fn server_conf(config: &LoadedConfig) -> ServerConf {
    ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.grace_period_secs),
        graceful_shutdown_timeout_seconds: Some(config.server.graceful_shutdown_timeout_secs),
        // Measured on 2 cores: stealing work between threads cost more than it balanced.
        work_stealing: false,
        ..ServerConf::default()
    }
}

/// `ServeHttp` types become a pingora app through `HttpServer`.
trait IntoApp: ServeHttp + Sized + Send + Sync + 'static {
    fn into_app(self) -> pingora::apps::http_app::HttpServer<Self> {
        pingora::apps::http_app::HttpServer::new_app(self)
    }
}

impl<T: ServeHttp + Send + Sync + 'static> IntoApp for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_settings_follow_the_config() {
        let config = SandboxConfig {
            listen: "127.0.0.1:8090".parse().expect("an address"),
            webhook_retry_secs: vec![0, 3],
            alppay_webhook_url: Some("http://127.0.0.1:9000/wh".into()),
        };
        let settings = sandbox_settings(&config);
        assert_eq!(
            settings.webhook_retry,
            [Duration::ZERO, Duration::from_secs(3)]
        );
        assert!(
            settings
                .alppay
                .iter()
                .all(|account| account.webhook_url.as_deref() == Some("http://127.0.0.1:9000/wh"))
        );
        assert_eq!(settings.cryptomus, SandboxSettings::default().cryptomus);
    }
}
