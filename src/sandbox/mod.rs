//! An offline emulator of the three payment providers, for tests and demos.
//!
//! One pingora HTTP service answers for all three, each under its own path prefix (a trailing
//! slash on any path is accepted):
//!
//! | provider | endpoints |
//! |---|---|
//! | AlpPay | `POST /alppay/v2/payment`, `GET /alppay/v2/payment/{id}` |
//! | Cryptomus | `POST /cryptomus/v1/payment`, `POST /cryptomus/v1/payment/info` |
//! | Apollo | `POST /apollo/api-gateway/make-order`, `…/order`, `…/advanced-balances`, `…/test-signature` |
//!
//! Point a client at `http://HOST:PORT/alppay/v2`, `…/cryptomus/v1` or `…/apollo/api-gateway`
//! as it would at the provider's base URL.
//!
//! Each emulator checks signatures over the raw received bytes as the provider does (with its
//! own code, independent of payglot's signing), validates fields with the provider's documented
//! constraints, answers in the provider's documented shapes and envelopes, and keeps payments in
//! memory so lookups work. The supported currency/network pairs are tables at the top of
//! `alppay.rs`, `cryptomus.rs` and `apollo.rs`. The demo credentials accepted by default are in
//! [`demo`]; magic amounts that make a provider fail or stall are in [`fault`].
//!
//! Every request under a provider prefix is recorded in a journal ([`Sandbox::journal`]) so tests
//! can see exactly what the proxy sent. Requests outside the three prefixes get a plain 404 and are
//! not recorded.

mod alppay;
mod apollo;
mod cryptomus;
pub mod demo;
mod fake;
pub mod fault;
mod fields;
mod store;
mod verify;
mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::ServiceWithDependents;
use pingora::services::listening::Service;

use self::store::lock;
use self::wire::{Incoming, Outcome};

/// The emulated providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    AlpPay,
    Cryptomus,
    Apollo,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::AlpPay, Provider::Cryptomus, Provider::Apollo];

    /// Where the provider's API base lives in the sandbox.
    pub fn path_prefix(self) -> &'static str {
        match self {
            Provider::AlpPay => "/alppay/v2",
            Provider::Cryptomus => "/cryptomus/v1",
            Provider::Apollo => "/apollo/api-gateway",
        }
    }
}

/// One request the sandbox received, and how it answered.
#[derive(Debug, Clone)]
pub struct Observed {
    pub provider: Provider,
    pub method: String,
    /// Path and query as received, prefix included.
    pub path: String,
    /// Header names in lowercase; values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The raw body bytes.
    pub body: Vec<u8>,
    /// The credentials were known and the signature, where one is required, matched. Says
    /// nothing about the nonce or the fields. For Apollo `test-signature` it is the check result.
    pub signature_valid: bool,
    /// The HTTP status the sandbox answered with.
    pub status: u16,
}

impl Observed {
    /// A header's value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One set of credentials a provider accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxAccount {
    /// AlpPay `API-KEY`, Cryptomus `merchant` UUID, Apollo public key.
    pub key_id: String,
    /// AlpPay HMAC secret, Cryptomus payment key, Apollo private key.
    pub secret: String,
    /// The merchant's display name (AlpPay shows it in `merchant.name`).
    pub name: String,
}

impl SandboxAccount {
    pub fn new(
        key_id: impl Into<String>,
        secret: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        SandboxAccount {
            key_id: key_id.into(),
            secret: secret.into(),
            name: name.into(),
        }
    }
}

/// The secret stays out of logs and panic messages.
impl fmt::Debug for SandboxAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxAccount")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .finish()
    }
}

/// The accounts each emulated provider accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    pub alppay: Vec<SandboxAccount>,
    pub cryptomus: Vec<SandboxAccount>,
    pub apollo: Vec<SandboxAccount>,
}

/// The demo credentials of [`demo`], one account per provider.
impl Default for SandboxSettings {
    fn default() -> Self {
        const NAME: &str = "Payglot Demo Shop";
        SandboxSettings {
            alppay: vec![SandboxAccount::new(
                demo::ALPPAY_API_KEY,
                demo::ALPPAY_HMAC_SECRET,
                NAME,
            )],
            cryptomus: vec![SandboxAccount::new(
                demo::CRYPTOMUS_MERCHANT,
                demo::CRYPTOMUS_PAYMENT_KEY,
                NAME,
            )],
            apollo: vec![SandboxAccount::new(
                demo::APOLLO_PUBLIC_KEY,
                demo::APOLLO_PRIVATE_KEY,
                NAME,
            )],
        }
    }
}

/// Journal entries kept; the oldest are dropped first.
const JOURNAL_CAPACITY: usize = 10_000;
/// Larger bodies are refused with 413 in the provider's envelope.
const MAX_BODY_BYTES: usize = 1 << 20;
/// A client that stalls mid-body is dropped after this long.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The three emulated providers and the journal of what they received.
pub struct Sandbox {
    alppay: alppay::AlpPay,
    cryptomus: cryptomus::Cryptomus,
    apollo: apollo::Apollo,
    journal: Mutex<VecDeque<Observed>>,
}

impl Sandbox {
    pub fn new(settings: SandboxSettings) -> Arc<Sandbox> {
        Arc::new(Sandbox {
            alppay: alppay::AlpPay::new(settings.alppay),
            cryptomus: cryptomus::Cryptomus::new(settings.cryptomus),
            apollo: apollo::Apollo::new(settings.apollo),
            journal: Mutex::new(VecDeque::new()),
        })
    }

    /// Everything received so far, oldest first (the newest 10 000 requests).
    pub fn journal(&self) -> Vec<Observed> {
        lock(&self.journal).iter().cloned().collect()
    }

    /// Forgets the journal (stored payments stay).
    pub fn clear_journal(&self) {
        lock(&self.journal).clear();
    }

    /// A pingora service answering as the three providers on `listen` (e.g. `127.0.0.1:8081`).
    pub fn service(self: &Arc<Self>, listen: &str) -> impl ServiceWithDependents + use<> {
        let app = HttpServer::new_app(SandboxApp(Arc::clone(self)));
        let mut service = Service::new("payglot sandbox".to_string(), app);
        service.add_tcp(listen);
        service
    }

    /// The same service over TLS (rustls), for trying `https` upstreams offline.
    pub fn tls_service(
        self: &Arc<Self>,
        listen: &str,
        cert_path: &str,
        key_path: &str,
    ) -> Result<impl ServiceWithDependents + use<>, String> {
        let app = HttpServer::new_app(SandboxApp(Arc::clone(self)));
        let mut service = Service::new("payglot sandbox (tls)".to_string(), app);
        service
            .add_tls(listen, cert_path, key_path)
            .map_err(|e| format!("cannot serve TLS on {listen}: {e}"))?;
        Ok(service)
    }

    async fn respond(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let request = session.req_header();
        let method = request.method.clone();
        let path = request.uri.path().to_string();
        let path_and_query = request
            .uri
            .path_and_query()
            .map_or_else(|| path.clone(), |full| full.as_str().to_string());
        let headers = request.headers.clone();

        let Some((provider, route)) = split_route(&path) else {
            let body = br#"{"error":"not found: the sandbox serves /alppay/v2, /cryptomus/v1 and /apollo/api-gateway"}"#;
            return http_response(404, body.to_vec());
        };
        let outcome = match read_body(session, &headers).await {
            Ok(body) => {
                let incoming = Incoming {
                    method: &method,
                    route,
                    headers: &headers,
                    body: &body,
                };
                let outcome = self.dispatch(provider, &incoming);
                self.record(provider, &method, path_and_query, &headers, body, &outcome);
                outcome
            }
            Err(problem) => {
                // The rest of the body was not read, so the connection cannot be reused.
                session.set_keepalive(None);
                let outcome = match problem {
                    BodyProblem::TooLarge => body_error(provider, 413, "request body too large"),
                    BodyProblem::Unreadable => {
                        body_error(provider, 400, "request body could not be read")
                    }
                };
                self.record(
                    provider,
                    &method,
                    path_and_query,
                    &headers,
                    Vec::new(),
                    &outcome,
                );
                outcome
            }
        };
        if let Some(delay) = outcome.delay {
            tokio::time::sleep(delay).await;
        }
        http_response(outcome.status, outcome.body)
    }

    fn dispatch(&self, provider: Provider, request: &Incoming) -> Outcome {
        match provider {
            Provider::AlpPay => self.alppay.handle(request),
            Provider::Cryptomus => self.cryptomus.handle(request),
            Provider::Apollo => self.apollo.handle(request),
        }
    }

    fn record(
        &self,
        provider: Provider,
        method: &http::Method,
        path: String,
        headers: &HeaderMap,
        body: Vec<u8>,
        outcome: &Outcome,
    ) {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let observed = Observed {
            provider,
            method: method.as_str().to_string(),
            path,
            headers,
            body,
            signature_valid: outcome.signature_valid,
            status: outcome.status,
        };
        let mut journal = lock(&self.journal);
        if journal.len() >= JOURNAL_CAPACITY {
            journal.pop_front();
        }
        journal.push_back(observed);
    }
}

/// The pingora app: a thin shell around the shared [`Sandbox`].
struct SandboxApp(Arc<Sandbox>);

#[async_trait]
impl ServeHttp for SandboxApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        self.0.respond(session).await
    }
}

/// The provider a path belongs to and the route below its prefix, trailing slashes removed.
fn split_route(path: &str) -> Option<(Provider, &str)> {
    Provider::ALL.into_iter().find_map(|provider| {
        let rest = path.strip_prefix(provider.path_prefix())?;
        (rest.is_empty() || rest.starts_with('/')).then(|| (provider, rest.trim_end_matches('/')))
    })
}

/// The account whose key is `key` (compared in constant time).
fn find_account<'a>(
    accounts: &'a [SandboxAccount],
    key: Option<&str>,
) -> Option<&'a SandboxAccount> {
    let key = key?;
    accounts
        .iter()
        .find(|account| verify::same_key(&account.key_id, key))
}

enum BodyProblem {
    TooLarge,
    Unreadable,
}

async fn read_body(
    session: &mut ServerSession,
    headers: &HeaderMap,
) -> Result<Vec<u8>, BodyProblem> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(BodyProblem::TooLarge);
    }
    // pingora does not answer `Expect: 100-continue` by itself, and curl waits for it.
    let expects_continue = headers
        .get(EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue && session.write_continue_response().await.is_err() {
        return Err(BodyProblem::Unreadable);
    }
    session.set_read_timeout(Some(BODY_READ_TIMEOUT));
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(BodyProblem::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => return Err(BodyProblem::Unreadable),
        }
    }
}

/// A refusal for a body that could not be taken, in the provider's own envelope.
fn body_error(provider: Provider, status: u16, message: &str) -> Outcome {
    let too_large = status == 413;
    match provider {
        Provider::AlpPay => {
            let code = if too_large {
                "payload_too_large"
            } else {
                "bad_request"
            };
            alppay::error(status, code, message)
        }
        Provider::Cryptomus => cryptomus::error(status, message),
        Provider::Apollo => {
            let name = if too_large {
                "PAYLOAD_TOO_LARGE"
            } else {
                "INVALID_BODY"
            };
            apollo::error(status, name, message)
        }
    }
}

fn http_response(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    let length = body.len();
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_by_prefix() {
        assert_eq!(
            split_route("/alppay/v2/payment/"),
            Some((Provider::AlpPay, "/payment"))
        );
        assert_eq!(
            split_route("/cryptomus/v1/payment/info"),
            Some((Provider::Cryptomus, "/payment/info"))
        );
        assert_eq!(
            split_route("/apollo/api-gateway/make-order/"),
            Some((Provider::Apollo, "/make-order"))
        );
        assert_eq!(
            split_route("/apollo/api-gateway"),
            Some((Provider::Apollo, ""))
        );
        assert_eq!(split_route("/alppay/v22/payment"), None);
        assert_eq!(split_route("/payment"), None);
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let settings = format!("{:?}", SandboxSettings::default());
        assert!(settings.contains(demo::ALPPAY_API_KEY));
        assert!(!settings.contains(demo::ALPPAY_HMAC_SECRET));
        assert!(!settings.contains(demo::APOLLO_PRIVATE_KEY));
        assert!(!settings.contains(demo::CRYPTOMUS_PAYMENT_KEY));
    }
}
