//! The operator's endpoint on the metrics address: `/metrics` (Prometheus text), `/healthz`
//! (the process answers) and `/readyz` (a config is loaded and the proxy listener accepts).

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::config::LoadedConfig;

/// Prometheus text.
pub const METRICS_PATH: &str = "/metrics";
/// The process answers.
pub const HEALTH_PATH: &str = "/healthz";
/// A config is loaded and the proxy listener accepts.
pub const READY_PATH: &str = "/readyz";
/// Every path the metrics listener serves (`GET`).
pub const PATHS: [&str; 3] = [METRICS_PATH, HEALTH_PATH, READY_PATH];

pub struct Admin {
    config: Arc<ArcSwap<LoadedConfig>>,
    /// The proxy listener's address as bound at start. A reload may change `server.listen`
    /// in the live config, but that applies only on restart, so it is not what to probe.
    proxy_listen: SocketAddr,
}

impl Admin {
    pub fn new(config: Arc<ArcSwap<LoadedConfig>>, proxy_listen: SocketAddr) -> Self {
        Admin {
            config,
            proxy_listen,
        }
    }

    fn proxy_listening(proxy_listen: SocketAddr) -> bool {
        TcpStream::connect_timeout(&proxy_listen, Duration::from_millis(250)).is_ok()
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .header("Content-Length", body.len())
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        match path.as_str() {
            METRICS_PATH => reply(200, "text/plain; version=0.0.4", crate::metrics::render()),
            HEALTH_PATH => reply(200, "text/plain", b"ok\n".to_vec()),
            READY_PATH => {
                // The connect check blocks briefly; keep it off the async workers.
                let listen = self.proxy_listen;
                let ready = tokio::task::spawn_blocking(move || Self::proxy_listening(listen))
                    .await
                    .unwrap_or(false);
                if ready {
                    let hash = self.config.load().generation_hash.clone();
                    reply(
                        200,
                        "text/plain",
                        format!("ready config={hash}\n").into_bytes(),
                    )
                } else {
                    reply(
                        503,
                        "text/plain",
                        b"not ready: the proxy listener does not accept yet\n".to_vec(),
                    )
                }
            }
            _ => reply(404, "text/plain", b"not found\n".to_vec()),
        }
    }
}
