//! An offline emulator of the three payment providers, for tests and demos.
//!
//! One pingora HTTP service answers for all three, each under its own path prefix (a trailing
//! slash on any path is accepted):
//!
//! | provider | endpoints |
//! |---|---|
//! | AlpPay | `POST /alppay/v2/payment`, `GET /alppay/v2/payment/{id}`, `GET /alppay/v2/payment?invoices=…` |
//! | Cryptomus | `POST /cryptomus/v1/payment`, `…/payment/info`, `…/payment/list` |
//! | Apollo | `POST /apollo/api-gateway/make-order`, `…/order`, `…/orders`, `…/advanced-balances`, `…/test-signature` |
//!
//! Point a client at `http://HOST:PORT/alppay/v2`, `…/cryptomus/v1` or `…/apollo/api-gateway`
//! as it would at the provider's base URL.
//!
//! Payments move through their provider's statuses by the control endpoints (unsigned; the
//! sandbox is for tests and demos):
//!
//! - `POST /_sandbox/pay` `{"id":"<provider payment id>","amount":"<decimal>"}`: one incoming
//!   transaction; without `amount` it pays what is still due. Amounts add up exactly.
//! - `POST /_sandbox/expire` `{"id":…}`: the payment's lifetime ends now.
//!
//! Each answers `{"id","provider","status","received",…}` in the provider's own words (unknown
//! id 404, bad JSON or amount 400, paying an expired or expiring a paid payment 409), and each
//! change sends the provider's webhook, signed as the provider signs it, in the background
//! (see [`webhook`]): Cryptomus to `url_callback`, Apollo to `successWebhook`/`errorWebhook`,
//! AlpPay to the account's [`SandboxAccount::webhook_url`]. Non-2xx answers are retried on
//! [`SandboxSettings::webhook_retry`]; every attempt is in [`Sandbox::deliveries`]. A payment
//! whose lifetime runs out by itself is closed the same way when it is next looked up, but sends
//! no webhook: only the control endpoints do.
//!
//! Each emulator checks signatures over the raw received bytes as the provider does (with its
//! own code, independent of payglot's signing), validates fields with the provider's documented
//! constraints, answers in the provider's documented shapes and envelopes, and keeps payments in
//! memory so lookups work. The supported currency/network pairs are tables at the top of
//! `alppay.rs`, `cryptomus.rs` and `apollo.rs`. The demo credentials accepted by default are in
//! [`demo`]; magic amounts that make a provider fail or stall are in [`fault`].
//!
//! Every request under a provider prefix is recorded in a journal ([`Sandbox::journal`]) so tests
//! can see exactly what the proxy sent. Control requests are not recorded there; requests outside
//! the three prefixes and `/_sandbox` get a plain 404 and are not recorded either.

mod alppay;
mod apollo;
pub mod control;
mod cryptomus;
pub mod demo;
mod fake;
pub mod fault;
mod fields;
mod lifecycle;
mod store;
mod verify;
pub mod webhook;
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

use self::lifecycle::Command;
use self::store::lock;
use self::webhook::{Courier, DeliveryAttempt};
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

    /// The provider's name as the control endpoints print it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::AlpPay => "alppay",
            Provider::Cryptomus => "cryptomus",
            Provider::Apollo => "apollo",
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
    /// AlpPay only: the account-level URL payment webhooks go to (AlpPay has no per-payment
    /// callback; its support sets one per account). No webhooks when `None`.
    pub webhook_url: Option<String>,
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
            webhook_url: None,
        }
    }

    /// The same account, sending its webhooks to `url` (AlpPay).
    pub fn with_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }
}

/// The secret stays out of logs and panic messages.
impl fmt::Debug for SandboxAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxAccount")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("webhook_url", &self.webhook_url)
            .finish()
    }
}

/// The accounts each emulated provider accepts, and how webhooks are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    pub alppay: Vec<SandboxAccount>,
    pub cryptomus: Vec<SandboxAccount>,
    pub apollo: Vec<SandboxAccount>,
    /// The waits before each webhook retry after a non-2xx answer or a failed attempt; its
    /// length is the number of retries. Default [`DEFAULT_WEBHOOK_RETRY_SECS`].
    pub webhook_retry: Vec<Duration>,
    /// How long one delivery attempt may take, connect to answer. Default 5 s.
    pub webhook_timeout: Duration,
}

/// The sandbox's webhook retry schedule unless configured: short, for tests and demos.
pub const DEFAULT_WEBHOOK_RETRY_SECS: [u64; 3] = [1, 2, 5];

impl SandboxSettings {
    /// Sends the AlpPay webhooks of every AlpPay account that has no URL of its own to `url`.
    pub fn with_alppay_webhook_url(mut self, url: &str) -> Self {
        for account in &mut self.alppay {
            if account.webhook_url.is_none() {
                account.webhook_url = Some(url.to_string());
            }
        }
        self
    }
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
            webhook_retry: DEFAULT_WEBHOOK_RETRY_SECS
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            webhook_timeout: Duration::from_secs(5),
        }
    }
}

/// Journal entries kept; the oldest are dropped first.
const JOURNAL_CAPACITY: usize = 10_000;
/// Larger bodies are refused with 413 in the provider's envelope.
const MAX_BODY_BYTES: usize = 1 << 20;
/// A client that stalls mid-body is dropped after this long.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the control endpoints live; outside every provider prefix.
const CONTROL_PREFIX: &str = "/_sandbox";

/// The three emulated providers and the journal of what they received.
pub struct Sandbox {
    alppay: alppay::AlpPay,
    cryptomus: cryptomus::Cryptomus,
    apollo: apollo::Apollo,
    journal: Mutex<VecDeque<Observed>>,
    courier: Arc<Courier>,
    /// Held from a status change until its webhook is queued, so webhooks queue in the order
    /// the changes happened.
    changes: Mutex<()>,
}

impl Sandbox {
    pub fn new(settings: SandboxSettings) -> Arc<Sandbox> {
        Arc::new(Sandbox {
            alppay: alppay::AlpPay::new(settings.alppay),
            cryptomus: cryptomus::Cryptomus::new(settings.cryptomus),
            apollo: apollo::Apollo::new(settings.apollo),
            journal: Mutex::new(VecDeque::new()),
            courier: Courier::new(settings.webhook_retry, settings.webhook_timeout),
            changes: Mutex::new(()),
        })
    }

    /// Every webhook delivery attempt so far, oldest first (the newest 10 000).
    pub fn deliveries(&self) -> Vec<DeliveryAttempt> {
        self.courier.journal()
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
        let query = request.uri.query().map(str::to_string);

        if let Some(action) = control_route(&path) {
            let outcome = match (method == http::Method::POST, action) {
                (false, _) => lifecycle::control_error(405, "use POST"),
                (true, None) => lifecycle::control_error(
                    404,
                    "not found: the control endpoints are /_sandbox/pay and /_sandbox/expire",
                ),
                (true, Some(expire)) => match read_body(session, &headers).await {
                    Ok(body) => self.control(expire, &body),
                    Err(problem) => {
                        session.set_keepalive(None);
                        lifecycle::control_error(problem.status(), problem.message())
                    }
                },
            };
            return http_response(outcome.status, outcome.body);
        }
        let Some((provider, route)) = split_route(&path) else {
            let body = br#"{"error":"not found: the sandbox serves /alppay/v2, /cryptomus/v1, /apollo/api-gateway and /_sandbox"}"#;
            return http_response(404, body.to_vec());
        };
        let outcome = match read_body(session, &headers).await {
            Ok(body) => {
                let incoming = Incoming {
                    method: &method,
                    route,
                    query: query.as_deref(),
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
                let outcome = body_error(provider, problem.status(), problem.message());
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

    /// `/_sandbox/pay` or (`expire`) `/_sandbox/expire`: applies the command in whichever
    /// emulator holds the id, and queues the webhook the change sends.
    fn control(&self, expire: bool, body: &[u8]) -> Outcome {
        let (id, command) = match Command::parse(expire, body) {
            Ok(parsed) => parsed,
            Err(message) => return lifecycle::control_error(400, &message),
        };
        let _in_order = lock(&self.changes);
        let applied = self
            .alppay
            .apply(&id, command)
            .or_else(|| self.cryptomus.apply(&id, command))
            .or_else(|| self.apollo.apply(&id, command));
        match applied {
            None => lifecycle::control_error(404, &format!("no sandbox payment has the id {id}")),
            Some(Err(refusal)) => lifecycle::control_error(refusal.status(), refusal.message()),
            Some(Ok(change)) => {
                let answer = change.answer();
                if let Some(notification) = change.notification {
                    self.courier.send(change.provider, &change.id, notification);
                }
                answer
            }
        }
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

/// For a path under `/_sandbox`: `Some(false)` for pay, `Some(true)` for expire, `None` for
/// anything else there. `None` outside (the outer option).
fn control_route(path: &str) -> Option<Option<bool>> {
    let rest = path.strip_prefix(CONTROL_PREFIX)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(match rest.trim_end_matches('/') {
        "/pay" => Some(false),
        "/expire" => Some(true),
        _ => None,
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

impl BodyProblem {
    fn status(&self) -> u16 {
        match self {
            BodyProblem::TooLarge => 413,
            BodyProblem::Unreadable => 400,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            BodyProblem::TooLarge => "request body too large",
            BodyProblem::Unreadable => "request body could not be read",
        }
    }
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
    match provider {
        Provider::AlpPay => alppay::AlpPay::body_error(status, message),
        Provider::Cryptomus => cryptomus::Cryptomus::body_error(status, message),
        Provider::Apollo => apollo::Apollo::body_error(status, message),
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
    fn control_routes() {
        assert_eq!(control_route("/_sandbox/pay"), Some(Some(false)));
        assert_eq!(control_route("/_sandbox/expire/"), Some(Some(true)));
        assert_eq!(control_route("/_sandbox/refund"), Some(None));
        assert_eq!(control_route("/_sandbox"), Some(None));
        assert_eq!(control_route("/_sandboxes/pay"), None);
        assert_eq!(control_route("/alppay/v2/payment"), None);
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
