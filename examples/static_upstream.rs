//! A fast stand-in for the three providers, on pingora's `ServeHttp`: each create path answers
//! a fixed, realistic provider answer (the files under `bench/bodies/`). The request body is read
//! and discarded; only the presence of the provider's key and signature headers is checked, so a
//! proxy that forgot to sign is caught without spending the upstream's time on hashing. It is
//! the upstream of payglot's load benchmark (scripts/bench-load.sh).
//!
//! | path                             | answer                          |
//! |----------------------------------|---------------------------------|
//! | `/alppay/v2/payment`             | `bench/bodies/alppay-response.json`    |
//! | `/cryptomus/v1/payment`          | `bench/bodies/cryptomus-response.json`, a new `uuid` each |
//! | `/cryptomus/v1/payment/info`     | the same answer, with the `uuid` asked for |
//! | `/apollo/api-gateway/make-order` | `bench/bodies/apollo-response.json`    |
//!
//! Every Cryptomus create gets its own invoice id, as at the provider: payglot records each
//! payment in its index by that id, so one id for every create would measure one payment
//! recorded once and then found, not creates.

use std::sync::atomic::{AtomicU64, Ordering};

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

const ENDPOINTS: [Endpoint; 4] = [
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
        path: "/cryptomus/v1/payment/info",
        required_headers: ["merchant", "sign"],
        answer: include_bytes!("../bench/bodies/cryptomus-response.json"),
    },
    Endpoint {
        path: "/apollo/api-gateway/make-order",
        required_headers: ["x-api-public-key", "x-api-signature"],
        answer: include_bytes!("../bench/bodies/apollo-response.json"),
    },
];

/// The invoice id in `bench/bodies/cryptomus-response.json`, replaced in each answer.
const CRYPTOMUS_UUID: &str = "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

#[derive(Default)]
struct StaticUpstream {
    /// Cryptomus creates answered so far: the next invoice id.
    invoices: AtomicU64,
}

impl StaticUpstream {
    /// The answer of `endpoint` to `body`: Cryptomus invoices get a fresh id on create and the
    /// id asked for on info (the uuid, or a fixed one when asked by order_id).
    fn answer(&self, endpoint: &Endpoint, body: &[u8]) -> Vec<u8> {
        let uuid = match endpoint.path {
            "/cryptomus/v1/payment" => {
                let n = self.invoices.fetch_add(1, Ordering::Relaxed);
                format!("a1b2c3d4-5e6f-4a7b-8c9d-{n:012x}")
            }
            "/cryptomus/v1/payment/info" => match json_text(body, "uuid") {
                Some(uuid) => uuid.to_owned(),
                None => return endpoint.answer.to_vec(),
            },
            _ => return endpoint.answer.to_vec(),
        };
        String::from_utf8_lossy(endpoint.answer)
            .replace(CRYPTOMUS_UUID, &uuid)
            .into_bytes()
    }
}

/// The text of `"key":"..."` in a compact JSON body, when it is a plain uuid-like string.
fn json_text<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = text[start..].find('"')?;
    let value = &text[start..start + len];
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        .then_some(value)
}

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
        // Read the whole body: the connection is then free for the next request, and an
        // info call names its invoice in it.
        let mut body = Vec::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    continue;
                }
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
        reply(200, self.answer(endpoint, &body))
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
        HttpServer::new_app(StaticUpstream::default()),
    );
    service.add_tcp(&listen);
    server.add_service(service);
    eprintln!(
        "static upstream on {listen}: /alppay/v2/payment, /cryptomus/v1/payment[/info], /apollo/api-gateway/make-order"
    );
    server.run_forever();
}

// cargo run --release --example static_upstream -- 127.0.0.1:8000
// curl -s 127.0.0.1:8000/cryptomus/v1/payment -H 'merchant: m' -H 'sign: s' -d '{}'
