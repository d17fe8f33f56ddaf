//! A fast stand-in for the three providers, on pingora's `ServeHttp`: each create path answers
//! a fixed, realistic provider answer (the files under `bench/bodies/`). The request body is read
//! and discarded; only the presence of the provider's key and signature headers is checked, so a
//! proxy that forgot to sign is caught without spending the upstream's time on hashing. It is
//! the upstream of payglot's load benchmark (scripts/bench-load.sh).
//!
//! | path                             | answer                          |
//! |----------------------------------|---------------------------------|
//! | `/alppay/v2/payment`             | `bench/bodies/alppay-response.json`    |
//! | `/cryptomus/v1/payment`          | `bench/bodies/cryptomus-response.json` |
//! | `/apollo/api-gateway/make-order` | `bench/bodies/apollo-response.json`    |

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

/// One provider's create endpoint: its path, the headers it requires, its answer.
struct Endpoint {
    path: &'static str,
    required_headers: [&'static str; 2],
    answer: &'static [u8],
}

const ENDPOINTS: [Endpoint; 3] = [
    Endpoint {
        path: "/alppay/v2/payment",
        required_headers: ["api-key", "x-hmac"],
        answer: include_bytes!("../bench/bodies/alppay-response.json"),
    },
    Endpoint {
        path: "/cryptomus/v1/payment",
        required_headers: ["merchant", "sign"],
        answer: include_bytes!("../bench/bodies/cryptomus-response.json"),
    },
    Endpoint {
        path: "/apollo/api-gateway/make-order",
        required_headers: ["x-api-public-key", "x-api-signature"],
        answer: include_bytes!("../bench/bodies/apollo-response.json"),
    },
];

struct StaticUpstream;

fn reply(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Content-Length", body.len())
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

#[async_trait]
impl ServeHttp for StaticUpstream {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        // Drain the body so the connection can be reused for the next request.
        loop {
            match session.read_request_body().await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => {
                    session.set_keepalive(None);
                    return reply(400, br#"{"message":"unreadable body"}"#.to_vec());
                }
            }
        }
        let header = session.req_header();
        let Some(endpoint) = ENDPOINTS.iter().find(|e| e.path == header.uri.path()) else {
            return reply(404, br#"{"message":"not found"}"#.to_vec());
        };
        if header.method != http::Method::POST {
            return reply(405, br#"{"message":"method not allowed"}"#.to_vec());
        }
        if let Some(missing) = endpoint
            .required_headers
            .iter()
            .find(|name| header.headers.get(**name).is_none_or(|v| v.is_empty()))
        {
            return reply(
                401,
                format!(r#"{{"message":"missing {missing} header"}}"#).into_bytes(),
            );
        }
        reply(200, endpoint.answer.to_vec())
    }
}

fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = Service::new(
        "static upstream".to_owned(),
        HttpServer::new_app(StaticUpstream),
    );
    service.add_tcp(&listen);
    server.add_service(service);
    eprintln!(
        "static upstream on {listen}: /alppay/v2/payment, /cryptomus/v1/payment, /apollo/api-gateway/make-order"
    );
    server.run_forever();
}

// cargo run --release --example static_upstream -- 127.0.0.1:8000
// curl -s 127.0.0.1:8000/cryptomus/v1/payment -H 'merchant: m' -H 'sign: s' -d '{}'
