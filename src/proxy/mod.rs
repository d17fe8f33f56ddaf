//! The pingora glue: read the body, run the core, call the upstream, run the core, answer. It
//! knows no provider's field names; those live in `dialect`.
//!
//! payglot is a pingora server app ([`ServerApp`]) running its own HTTP/1.1 keep-alive loop on
//! pingora's sessions, not a `ProxyHttp`: it makes the upstream call itself through pingora's
//! pooled connector, so it sees the whole upstream answer before choosing the caller's status,
//! and knows whether a failed exchange sent anything (failover safety). A connection carries
//! none of pingora's proxy state machine, and between requests only its stream.

pub mod client;
pub mod endpoint;
pub mod index;
pub mod listener;
mod relay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpPersistentSettings, ServerApp};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Shutdown, Stream};
use pingora::server::ShutdownWatch;
use time::OffsetDateTime;

use crate::config::{LoadedConfig, Merchant, Upstream};
use crate::dialect::{Call, Dialect, Found, ListPage, Lookup, LookupKey, Operation};
use crate::error::{ApiError, ErrorKind};
use crate::metrics::METRICS;
use crate::model::{CreatePayment, Payment};
use crate::routing::Selection;
use crate::store::{Claim, PaymentRecord, Store, new_relay_token};
use crate::translate;

use client::UpstreamClient;
use endpoint::{Endpoint, allowed_methods, dialect_hint, endpoint_for};
use index::{Index, NewRecord, exclusive_upstreams, recorded_request, unavailable};

pub struct Proxy {
    config: Arc<ArcSwap<LoadedConfig>>,
    client: UpstreamClient,
    /// The payment index: lookups, idempotent creates, the replay guard, the webhook outbox
    /// (shared with the webhook worker).
    index: Arc<Index>,
    /// Delivers relayed webhooks to merchants.
    webhook_connector: pingora::connectors::http::Connector,
}

/// How a request ended, for the request metric and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not decided yet: the client went away before an answer was written.
    Unknown,
    Ok,
    Failed(ErrorKind),
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Unknown => "unknown",
            Outcome::Ok => "ok",
            Outcome::Failed(kind) => kind.label(),
        }
    }
}

/// Per-request state, for the log line and the metrics at the end.
pub struct RequestCtx {
    request_id: String,
    started: Instant,
    dialect: Option<Dialect>,
    merchant: Option<String>,
    route: Option<String>,
    upstream: Option<String>,
    outcome: Outcome,
    status: u16,
    upstream_time: Duration,
    /// The methods served at the path, for the `Allow` header of a 405 answer.
    allow: Option<String>,
}

impl Proxy {
    /// `index`: the payment index, shared with the webhook worker.
    pub fn new(config: Arc<ArcSwap<LoadedConfig>>, index: Arc<Index>) -> Self {
        let ca_file = config.load().server.upstream_ca_file.clone();
        Proxy {
            index,
            config,
            client: UpstreamClient::new(ca_file),
            webhook_connector: pingora::connectors::http::Connector::new(None),
        }
    }

    async fn handle(
        &self,
        session: &mut ServerSession,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
    ) -> (u16, Vec<u8>) {
        let path = session.req_header().uri.path().to_owned();
        let method = session.req_header().method.as_str().to_owned();
        if let Some(relay_path) = crate::webhooks::RelayPath::parse(&path) {
            // Boxed: a webhook relayed inline holds a delivery's future, which every other
            // request's future would otherwise carry.
            return Box::pin(self.relay(session, ctx, config, relay_path)).await;
        }
        let Some(endpoint) = endpoint_for(&method, &path) else {
            let error = ApiError::new(
                ErrorKind::NotFound,
                format!("payglot serves nothing at {path}"),
            );
            // The body is left unread, so the connection cannot carry another request.
            session.set_keepalive(None);
            return match dialect_hint(&path, &session.req_header().headers) {
                Some(dialect) => self.fail(ctx, dialect, error),
                None => {
                    ctx.outcome = Outcome::Failed(error.kind);
                    (404, br#"{"message":"not found"}"#.to_vec())
                }
            };
        };
        let dialect = endpoint.dialect;
        ctx.dialect = Some(dialect);
        if !method.eq_ignore_ascii_case(endpoint.method) {
            let allowed = allowed_methods(&path).join(", ");
            let error = ApiError::new(
                ErrorKind::MethodNotAllowed,
                format!("only {allowed} is served here"),
            );
            ctx.allow = Some(allowed);
            session.set_keepalive(None);
            return self.fail(ctx, dialect, error);
        }
        // An unknown or missing key is refused before its body is read: a stranger's bytes
        // cost nothing more than the header.
        if let Err(error) = self.merchant(ctx, config, dialect, &session.req_header().headers) {
            session.set_keepalive(None);
            return self.fail(ctx, dialect, error);
        }
        let limits = &config.server;
        let body = match tokio::time::timeout(
            limits.body_timeout,
            read_body(session, limits.max_body_bytes),
        )
        .await
        {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => return self.fail(ctx, dialect, error),
            Err(_) => {
                // A body that trickles in (a byte every few seconds passes the per-read
                // timeout) must not hold the connection and its buffer.
                session.set_keepalive(None);
                METRICS.client_timeouts.with_label_values(&["body"]).inc();
                let error = ApiError::new(
                    ErrorKind::RequestTimeout,
                    format!(
                        "the request body did not arrive within {} ms",
                        limits.body_timeout.as_millis()
                    ),
                );
                return self.fail(ctx, dialect, error);
            }
        };
        let headers = &session.req_header().headers;
        let query = session.req_header().uri.query();
        let call = Call {
            operation: endpoint.operation,
            path_id: endpoint.path_id,
            query,
            body: &body,
        };
        let answer = match endpoint.operation {
            Operation::CreatePayment => self.create(ctx, config, endpoint, headers, &body).await,
            Operation::LookupPayment | Operation::ListPayments => {
                self.lookup(ctx, config, endpoint.dialect, headers, &call)
                    .await
            }
            operation => {
                self.answer_locally(ctx, config, endpoint, headers, &body, operation)
                    .await
            }
        };
        match answer {
            Ok(answer) => answer,
            Err(error) => self.fail(ctx, dialect, error),
        }
    }

    /// Steps 1 and 2: the caller's merchant, its signature over `body` checked, its request.
    fn admit<'c>(
        &self,
        ctx: &mut RequestCtx,
        config: &'c LoadedConfig,
        dialect: Dialect,
        headers: &http::HeaderMap,
        body: &'c [u8],
    ) -> Result<translate::Admitted<'c>, ApiError> {
        let merchant = self.merchant(ctx, config, dialect, headers)?;
        let secret = merchant.credentials.secret.expose().as_bytes();
        let request = translate::read_request(dialect, headers, body, secret, &config.networks)
            .map_err(refuse_unauthenticated(dialect, &ctx.request_id))?;
        Ok(translate::Admitted {
            dialect,
            merchant,
            raw_body: body,
            request,
        })
    }

    fn merchant<'c>(
        &self,
        ctx: &mut RequestCtx,
        config: &'c LoadedConfig,
        dialect: Dialect,
        headers: &http::HeaderMap,
    ) -> Result<&'c Merchant, ApiError> {
        // A missing key header may say so; an unknown key reads like a bad signature, so key
        // ids cannot be probed.
        translate::caller_key_id(dialect, headers).inspect_err(count_signature(dialect))?;
        let merchant = translate::authenticate(config, dialect, headers)
            .map_err(refuse_unauthenticated(dialect, &ctx.request_id))?;
        ctx.merchant = Some(merchant.id.clone());
        Ok(merchant)
    }

    /// Refuses a (key, nonce) pair seen before within the store's replay window; shared by
    /// every instance on one PostgreSQL.
    async fn check_replay(&self, key_id: &str, nonce: Option<&str>) -> Result<(), ApiError> {
        let Some(nonce) = nonce else {
            return Ok(());
        };
        let store = self.index.store().await?;
        let first = store
            .first_use_nonce_in_window(key_id, nonce, OffsetDateTime::now_utc())
            .await
            .map_err(unavailable)?;
        if first {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorKind::Replayed,
                format!("nonce {nonce} was already used"),
            ))
        }
    }

    async fn create(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        endpoint: Endpoint<'_>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let dialect = endpoint.dialect;
        let admitted = self.admit(ctx, config, dialect, headers, body)?;
        self.check_replay(
            &admitted.merchant.credentials.key_id,
            admitted.request.nonce.as_deref(),
        )
        .await?;
        let store = self.index.store().await?;
        // A repeated create (same merchant, same reference) answers the payment already made;
        // concurrent duplicates make one upstream call. No reference (AlpPay allows that): no
        // deduplication.
        let Some(reference) = admitted.request.order_ref.clone() else {
            return self
                .create_upstream(ctx, config, &admitted, headers)
                .await
                .map(Created::answer);
        };
        let merchant_id = admitted.merchant.id.clone();
        if let Some(record) = self.claim(store, &merchant_id, &reference).await? {
            return self.answer_existing(ctx, config, &admitted, &record).await;
        }
        let result = self.create_upstream(ctx, config, &admitted, headers).await;
        if !result.as_ref().is_ok_and(|created| created.recorded) {
            // Nothing was recorded (a refusal, or an answer that is no payment): release the
            // claim so a retry goes ahead at once and the claim is not held until it goes stale.
            if let Err(e) = store.abandon_create(&merchant_id, &reference).await {
                tracing::warn!(request_id = %ctx.request_id, error = %e, "claim not released");
            }
        }
        result.map(Created::answer)
    }

    /// Claims `reference` for a create: `None` when this request is to create the payment,
    /// the recorded payment when it exists (or once a concurrent create of it finishes).
    async fn claim(
        &self,
        store: &Store,
        merchant_id: &str,
        reference: &str,
    ) -> Result<Option<PaymentRecord>, ApiError> {
        let mut pause = Duration::from_millis(10);
        let started = Instant::now();
        loop {
            let claim = store
                .claim_create(
                    merchant_id,
                    reference,
                    OffsetDateTime::now_utc(),
                    index::CLAIM_STALE_AFTER,
                )
                .await
                .map_err(unavailable)?;
            match claim {
                Claim::New => return Ok(None),
                Claim::Done(record) => return Ok(Some(*record)),
                Claim::InProgress => {
                    if let Some(record) = store
                        .get_by_ref(merchant_id, reference)
                        .await
                        .map_err(unavailable)?
                    {
                        return Ok(Some(record));
                    }
                    if started.elapsed() > CONCURRENT_CREATE_WAIT {
                        return Err(ApiError::new(
                            ErrorKind::InProgress,
                            format!("a payment for {reference} is being created; retry shortly"),
                        ));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    /// A repeated create: the recorded payment, refreshed from its provider, in the create
    /// answer of the merchant's dialect.
    async fn answer_existing(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        admitted: &translate::Admitted<'_>,
        record: &PaymentRecord,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let payment = self.fetch(ctx, config, admitted.merchant, record).await?;
        let request = recorded_request(record).unwrap_or_else(|| admitted.request.clone());
        let context = translate::render_context(
            &config.networks,
            &admitted.merchant.profile,
            admitted.dialect,
            &ctx.request_id,
            OffsetDateTime::now_utc(),
        );
        let body = admitted
            .dialect
            .codec()
            .render_create_response(&payment, &request, &context);
        ctx.outcome = Outcome::Ok;
        Ok((200, body))
    }

    /// Sends the create upstream, answers it, and records the payment in the index before the
    /// answer leaves (durably: a crash after this answer loses nothing).
    async fn create_upstream(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        admitted: &translate::Admitted<'_>,
        headers: &http::HeaderMap,
    ) -> Result<Created, ApiError> {
        let dialect = admitted.dialect;
        let selection = admitted.route(config, headers, &ctx.request_id)?;
        ctx.route = Some(selection.route.clone());
        let request_id = ctx.request_id.as_str();
        // The relay token is drawn before planning: the callback sent upstream carries it.
        let relay_token = new_relay_token();
        let relays: Vec<(&str, Option<String>)> = selection
            .upstreams
            .iter()
            .filter_map(|id| config.upstream(id))
            .map(|upstream| {
                let relay = translate::relay_callback(
                    &config.webhooks,
                    admitted.merchant,
                    &admitted.request,
                    upstream,
                    &relay_token,
                );
                (upstream.id.as_str(), relay)
            })
            .collect();
        let tried = &mut ctx.upstream;
        let sent = self
            .client
            .send(config, &selection, request_id, |upstream| {
                *tried = Some(upstream.id.clone());
                let relay = relays
                    .iter()
                    .find(|(id, _)| *id == upstream.id)
                    .and_then(|(_, relay)| relay.as_deref());
                let (plan, context) = admitted
                    .plan_for(
                        upstream,
                        &config.networks,
                        request_id,
                        OffsetDateTime::now_utc(),
                        index::shares_account(config, admitted.merchant, upstream),
                        relay,
                    )
                    .inspect_err(|e| count_refusal(e, dialect, upstream.dialect))?;
                count_notes(&plan.notes, dialect, upstream.dialect, request_id);
                Ok((plan.upstream, (context, plan.sent_reference)))
            })
            .await?;
        ctx.upstream_time = sent.reply.elapsed;
        if sent.upstream.dialect == dialect && !is_json(&sent.reply.body) {
            // A same-dialect route passes the answer through as JSON; an HTML error page from
            // a proxy in front of the provider is not one.
            return Err(ApiError::new(
                ErrorKind::UpstreamInvalid,
                format!(
                    "the payment provider answered HTTP {} with a body that is not JSON",
                    sent.reply.status
                ),
            ));
        }
        let (context, sent_reference) = &sent.planned;
        let mut answer = translate::answer(
            dialect,
            sent.upstream.dialect,
            sent.reply.status,
            &sent.reply.body,
            &admitted.request,
            context,
        );
        if let (Some(sent_ref), Some(original)) = (sent_reference, &admitted.request.order_ref)
            && sent.upstream.dialect == dialect
        {
            answer.body = translate::restore_reference(&answer.body, sent_ref, original);
        }
        if let Some(relay) = context.relay_callback
            && sent.upstream.dialect == dialect
        {
            answer.body =
                translate::restore_callbacks(dialect, &answer.body, relay, &admitted.request);
        }
        ctx.outcome = match &answer.outcome {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Failed(e.kind),
        };
        if let Err(e) = &answer.outcome
            && e.kind == ErrorKind::UpstreamUnknownStatus
        {
            METRICS
                .unknown_statuses
                .with_label_values(&[sent.upstream.dialect.name()])
                .inc();
            tracing::warn!(request_id = %ctx.request_id, upstream = %sent.upstream.id, message = %e.message, "unknown provider status");
        }
        // The payment to record: read already across dialects; a same-dialect answer passes
        // through, so it is read here for its id.
        let payment = match answer.outcome {
            Ok(Some(payment)) => Some(payment),
            Ok(None) => sent
                .upstream
                .dialect
                .codec()
                .parse_create_response(sent.reply.status, &sent.reply.body, &config.networks)
                .ok(),
            Err(_) => None,
        };
        let recorded = payment.is_some();
        if let Some(payment) = payment {
            let record = NewRecord {
                merchant: admitted.merchant,
                dialect,
                request: &admitted.request,
                route: &selection.route,
                upstream: sent.upstream,
                payment: &payment,
                relay_token: relay_token.clone(),
            }
            .into_record(OffsetDateTime::now_utc());
            let store = self.index.store().await?;
            store.complete_create(record).await.map_err(|e| {
                ctx.outcome = Outcome::Failed(ErrorKind::StoreUnavailable);
                tracing::error!(request_id = %ctx.request_id, upstream = %sent.upstream.id, payment = %payment.provider_id, error = %e, "created upstream but not recorded");
                unavailable(e)
            })?;
        }
        Ok(Created {
            status: answer.status,
            body: answer.body,
            recorded,
        })
    }

    /// The payment as its provider reports it now, by the id the index recorded.
    async fn fetch(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        merchant: &Merchant,
        record: &PaymentRecord,
    ) -> Result<Payment, ApiError> {
        let upstream = config.upstream(&record.upstream_id).ok_or_else(|| {
            ApiError::new(
                ErrorKind::UpstreamUnavailable,
                "the payment's provider is no longer configured",
            )
        })?;
        let key = LookupKey::ProviderId(record.upstream_payment_id.clone());
        let payment = self
            .lookup_at(ctx, config, merchant, upstream, &key)
            .await?;
        let store = self.index.store().await?;
        if payment.status.label() != record.status
            && let Err(e) = store
                .update_status(
                    &upstream.id,
                    &payment.provider_id,
                    payment.status.label(),
                    OffsetDateTime::now_utc(),
                )
                .await
        {
            tracing::warn!(request_id = %ctx.request_id, error = %e, "status not recorded");
        }
        Ok(payment)
    }

    /// One lookup at one upstream, in its own form.
    async fn lookup_at(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        merchant: &Merchant,
        upstream: &Upstream,
        key: &LookupKey,
    ) -> Result<Payment, ApiError> {
        let codec = upstream.dialect.codec();
        let request = codec
            .plan_lookup(
                key,
                merchant.credentials_for(upstream),
                translate::fresh_nonce(),
            )
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotFound,
                    format!("{} cannot look a payment up by that key", upstream.dialect),
                )
            })?;
        let selection = Selection {
            route: ctx.route.clone().unwrap_or_default(),
            upstreams: vec![upstream.id.clone()],
        };
        ctx.upstream = Some(upstream.id.clone());
        let sent = self
            .client
            .send(config, &selection, &ctx.request_id, |_| {
                Ok((request.clone(), ()))
            })
            .await?;
        ctx.upstream_time += sent.reply.elapsed;
        codec.parse_lookup_response(sent.reply.status, &sent.reply.body, &config.networks)
    }

    /// A lookup or list call, counted by dialect, upstream and outcome.
    async fn lookup(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        dialect: Dialect,
        headers: &http::HeaderMap,
        call: &Call<'_>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let answer = self
            .answer_lookup(ctx, config, dialect, headers, call)
            .await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(e) => e.kind.label(),
        };
        METRICS
            .lookups
            .with_label_values(&[
                dialect.name(),
                ctx.upstream.as_deref().unwrap_or(""),
                outcome,
            ])
            .inc();
        answer
    }

    /// A lookup or list call: answered from the index and the payment's provider, in the
    /// caller's dialect, whichever provider holds the payment.
    async fn answer_lookup(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        dialect: Dialect,
        headers: &http::HeaderMap,
        call: &Call<'_>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let codec = dialect.codec();
        let merchant = self.merchant(ctx, config, dialect, headers)?;
        codec
            .verify_call(
                call,
                headers,
                merchant.credentials.secret.expose().as_bytes(),
            )
            .map_err(refuse_unauthenticated(dialect, &ctx.request_id))?;
        let lookup = codec.parse_lookup(call)?;
        let request_id = ctx.request_id.clone();
        let context = translate::render_context(
            &config.networks,
            &merchant.profile,
            dialect,
            &request_id,
            OffsetDateTime::now_utc(),
        );
        let store = self.index.store().await?;
        let answer = match lookup {
            Lookup::One { key, nonce } => {
                self.check_replay(&merchant.credentials.key_id, nonce.as_deref())
                    .await?;
                let found = self
                    .find_one(ctx, config, store, merchant, dialect, &key)
                    .await;
                if call.operation == Operation::ListPayments {
                    // A list call naming one payment (AlpPay `?invoices=`) answers a list: of
                    // that payment, or empty.
                    let found = match found {
                        Ok(one) => vec![one],
                        Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
                        Err(e) => return Err(e),
                    };
                    let page = ListPage {
                        limit: 1,
                        offset: 0,
                        total: found.len() as u64,
                    };
                    codec.render_list_answer(&found, &page, &context)
                } else {
                    codec.render_lookup_answer(&found?, &context)
                }
            }
            Lookup::List {
                limit,
                offset,
                nonce,
            } => {
                self.check_replay(&merchant.credentials.key_id, nonce.as_deref())
                    .await?;
                let records = store
                    .list_by_merchant(&merchant.id, limit as usize, offset as usize)
                    .await
                    .map_err(unavailable)?;
                let mut found = Vec::with_capacity(records.len());
                for record in &records {
                    match self.found(ctx, config, merchant, record, None).await {
                        Ok(one) => found.push(one),
                        // One provider down does not hide the merchant's other payments.
                        Err(e) => {
                            tracing::warn!(request_id = %ctx.request_id, payment = %record.upstream_payment_id, error = %e.message, "listed payment not refreshed")
                        }
                    }
                }
                // The index does not count; a full page says there may be more.
                let seen = u64::from(offset) + found.len() as u64;
                let total = if records.len() == limit as usize {
                    seen + 1
                } else {
                    seen
                };
                let page = ListPage {
                    limit,
                    offset,
                    total,
                };
                codec.render_list_answer(&found, &page, &context)
            }
        };
        ctx.outcome = Outcome::Ok;
        Ok((200, answer))
    }

    /// One payment of the merchant's, by id or reference: from the index and its provider, or
    /// recovered when the index does not know it.
    async fn find_one(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        store: &Store,
        merchant: &Merchant,
        dialect: Dialect,
        key: &LookupKey,
    ) -> Result<Found, ApiError> {
        let recorded = match key {
            LookupKey::ProviderId(id) => store.get_by_provider_id(&merchant.id, id).await,
            LookupKey::Reference(r) => store.get_by_ref(&merchant.id, r).await,
        }
        .map_err(unavailable)?;
        match recorded {
            Some(record) => {
                ctx.route = Some(record.route_id.clone());
                self.found(ctx, config, merchant, &record, Some(key)).await
            }
            None => {
                self.recover(ctx, config, store, merchant, dialect, key)
                    .await
            }
        }
    }

    /// A recorded payment, refreshed from its provider, with the merchant's request.
    async fn found(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        merchant: &Merchant,
        record: &PaymentRecord,
        key: Option<&LookupKey>,
    ) -> Result<Found, ApiError> {
        let payment = self.fetch(ctx, config, merchant, record).await?;
        let request = match recorded_request(record) {
            Some(request) => request,
            None => {
                let by_id = LookupKey::ProviderId(payment.provider_id.clone());
                request_from(&payment, key.unwrap_or(&by_id))?
            }
        };
        Ok(Found { payment, request })
    }

    /// A payment the index does not know (an entry lost, or made before the index): looked for
    /// at the merchant's own upstreams, first hit wins, and recorded.
    async fn recover(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        store: &Store,
        merchant: &Merchant,
        dialect: Dialect,
        key: &LookupKey,
    ) -> Result<Found, ApiError> {
        for upstream in exclusive_upstreams(config, merchant) {
            let payment = match self.lookup_at(ctx, config, merchant, upstream, key).await {
                Ok(payment) => payment,
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(request_id = %ctx.request_id, upstream = %upstream.id, error = %e.message, "recovery lookup failed");
                    continue;
                }
            };
            let request = request_from(&payment, key)?;
            let record = NewRecord {
                merchant,
                dialect,
                request: &request,
                route: "recovered",
                upstream,
                payment: &payment,
                relay_token: new_relay_token(),
            }
            .into_record(OffsetDateTime::now_utc());
            if let Err(e) = store.complete_create(record).await {
                tracing::warn!(request_id = %ctx.request_id, error = %e, "recovered payment not recorded");
            }
            tracing::info!(request_id = %ctx.request_id, upstream = %upstream.id, payment = %payment.provider_id, "payment recovered into the index");
            return Ok(Found { payment, request });
        }
        Err(ApiError::new(ErrorKind::NotFound, "Payment not found"))
    }

    /// An operation payglot answers itself, after the same key, signature and nonce checks as
    /// any call.
    async fn answer_locally(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        endpoint: Endpoint<'_>,
        headers: &http::HeaderMap,
        body: &[u8],
        operation: Operation,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let codec = endpoint.dialect.codec();
        let merchant = self.merchant(ctx, config, endpoint.dialect, headers)?;
        codec
            .verify(
                headers,
                body,
                merchant.credentials.secret.expose().as_bytes(),
            )
            .map_err(refuse_unauthenticated(endpoint.dialect, &ctx.request_id))?;
        let nonce = codec.request_nonce(body)?;
        self.check_replay(&merchant.credentials.key_id, nonce.as_deref())
            .await?;
        let answer = codec
            .answer_locally(operation, &merchant.id)
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "no local answer for this call"))?;
        ctx.outcome = Outcome::Ok;
        Ok((200, answer))
    }

    /// The answer when `server.request_timeout_ms` passed before the request was answered.
    fn deadline_passed(
        &self,
        session: &mut ServerSession,
        ctx: &mut RequestCtx,
        deadline: Duration,
    ) -> (u16, Vec<u8>) {
        session.set_keepalive(None);
        METRICS
            .client_timeouts
            .with_label_values(&["request"])
            .inc();
        let message = format!(
            "payglot could not answer within {} ms",
            deadline.as_millis()
        );
        // Once an upstream was tried, the caller may meet this payment again: say so as a
        // gateway timeout, like an upstream's own.
        let kind = if ctx.upstream.is_some() {
            ErrorKind::UpstreamTimeout
        } else {
            ErrorKind::RequestTimeout
        };
        let error = ApiError::new(kind, message);
        match ctx.dialect {
            Some(dialect) => self.fail(ctx, dialect, error),
            None => {
                ctx.outcome = Outcome::Failed(kind);
                tracing::warn!(request_id = %ctx.request_id, kind = kind.label(), "request deadline passed");
                (kind.default_status(), br#"{"message":"timeout"}"#.to_vec())
            }
        }
    }

    fn fail(&self, ctx: &mut RequestCtx, dialect: Dialect, error: ApiError) -> (u16, Vec<u8>) {
        ctx.outcome = Outcome::Failed(error.kind);
        if error.kind.is_client_error() {
            tracing::info!(request_id = %ctx.request_id, kind = error.kind.label(), message = %error.message, "request refused");
        } else {
            tracing::warn!(request_id = %ctx.request_id, kind = error.kind.label(), message = %error.message, "request failed");
        }
        translate::error_answer(dialect, &error, &ctx.request_id)
    }
}

/// How long a create waits for a concurrent create of the same reference to finish.
const CONCURRENT_CREATE_WAIT: Duration = Duration::from_secs(10);

/// The merchant's view of a payment it did not create through payglot (or whose record was
/// lost): what the provider says, under the reference it was looked up by.
/// A create's answer, and whether its payment is now in the index.
struct Created {
    status: u16,
    body: Vec<u8>,
    recorded: bool,
}

impl Created {
    fn answer(self) -> (u16, Vec<u8>) {
        (self.status, self.body)
    }
}

fn request_from(payment: &Payment, key: &LookupKey) -> Result<CreatePayment, ApiError> {
    let reference = match key {
        LookupKey::Reference(r) => Some(r.clone()),
        LookupKey::ProviderId(_) => payment.order_ref.clone(),
    };
    let amount = payment
        .amount
        .as_ref()
        .and_then(|a| crate::money::Amount::parse(a.as_str()).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::UpstreamInvalid,
                "the payment provider reported the payment without its amount",
            )
        })?;
    Ok(CreatePayment {
        order_ref: reference,
        amount,
        currency: payment.currency.clone().unwrap_or_default(),
        pay_currency: None,
        network: payment.network.clone(),
        lifetime_secs: None,
        callbacks: Default::default(),
        return_url: None,
        success_url: None,
        customer: Default::default(),
        client_id: None,
        description: None,
        tolerance_percent: None,
        allow_partial: None,
        nonce: None,
        unportable: Vec::new(),
    })
}

/// Counts a refused key or signature of a `dialect` caller in the signature-failure metric.
fn count_signature(dialect: Dialect) -> impl Fn(&ApiError) {
    move |error| {
        if error.kind == ErrorKind::Unauthenticated {
            METRICS
                .signature_failures
                .with_label_values(&[dialect.name()])
                .inc();
        }
    }
}

/// The one text every key or signature refusal gets once the key header is present, so the
/// answer does not tell a known key from an unknown one; the precise reason is logged (debug).
const UNAUTHENTICATED: &str = "invalid key or signature";

/// Counts a refused key or signature and replaces its text with [`UNAUTHENTICATED`].
fn refuse_unauthenticated(dialect: Dialect, request_id: &str) -> impl Fn(ApiError) -> ApiError {
    move |error| {
        if error.kind != ErrorKind::Unauthenticated {
            return error;
        }
        count_signature(dialect)(&error);
        tracing::debug!(request_id, reason = %error.message, "caller not authenticated");
        ApiError::new(ErrorKind::Unauthenticated, UNAUTHENTICATED)
    }
}

fn count_refusal(error: &ApiError, from: Dialect, to: Dialect) {
    if let Some(reason) = error.reason {
        METRICS
            .translation_refusals
            .with_label_values(&[from.name(), to.name(), reason.label()])
            .inc();
    }
}

fn count_notes(notes: &[crate::dialect::Note], from: Dialect, to: Dialect, request_id: &str) {
    for note in notes {
        METRICS
            .translation_notes
            .with_label_values(&[
                from.name(),
                to.name(),
                note.action.label(),
                note.field.label(),
            ])
            .inc();
        tracing::debug!(request_id, field = %note.field, action = note.action.label(), detail = %note.detail, "translation note");
    }
}
/// Reads the whole request body up to `limit` bytes. A declared length over the limit is
/// refused before reading; the connection is then closed, as the rest is never read.
async fn read_body(session: &mut ServerSession, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        session.set_keepalive(None);
        return Err(too_large());
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        session.write_continue_response().await.map_err(|e| {
            ApiError::new(
                ErrorKind::MalformedBody,
                format!("could not answer Expect: {e}"),
            )
        })?;
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    session.set_keepalive(None);
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                session.set_keepalive(None);
                return Err(ApiError::new(
                    ErrorKind::MalformedBody,
                    format!("the request body could not be read: {e}"),
                ));
            }
        }
    }
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// The caller's request id when it sent a sane one, else a fresh one.
fn request_id(session: &ServerSession) -> String {
    session
        .req_header()
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

struct InFlight;

impl InFlight {
    fn enter() -> Self {
        METRICS.in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight.dec();
    }
}

impl RequestCtx {
    fn new() -> Self {
        RequestCtx {
            request_id: String::new(),
            started: Instant::now(),
            dialect: None,
            merchant: None,
            route: None,
            upstream: None,
            outcome: Outcome::Unknown,
            status: 0,
            upstream_time: Duration::ZERO,
            allow: None,
        }
    }
}

impl Proxy {
    /// One request on a session whose header has been read: answered, counted, logged, and the
    /// connection handed back when it can carry another request.
    async fn exchange(&self, mut session: ServerSession) -> Option<KeptAlive> {
        let mut ctx = RequestCtx::new();
        let written = self.respond(&mut session, &mut ctx).await;
        self.log(&ctx, written.as_ref().err().map(|e| &**e));
        // An answer that did not leave whole leaves the connection in an unknown state.
        written.ok()?;
        let mut settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(reusable) => reusable.map(|s| {
                let (stream, pipelined) = s.into_parts();
                let next_request_read = pipelined.as_ref().is_some_and(|p| !p.is_empty());
                if let Some(prefix) = pipelined {
                    settings.set_pipelined_prefix(prefix);
                }
                KeptAlive {
                    stream,
                    settings,
                    next_request_read,
                }
            }),
            Err(e) => {
                tracing::debug!(request_id = %ctx.request_id, error = %e, "connection not reusable");
                None
            }
        }
    }

    /// Handles the request and writes its whole answer.
    async fn respond(
        &self,
        session: &mut ServerSession,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let _in_flight = InFlight::enter();
        ctx.started = Instant::now();
        ctx.request_id = request_id(session);
        // One config snapshot per request, kept to its end, whatever reloads meanwhile.
        let config = self.config.load_full();
        session.set_read_timeout(Some(config.server.client_timeout));
        session.set_write_timeout(Some(config.server.client_timeout));
        // One deadline for the whole request after its header: the body's own deadline and the
        // upstream's fall within it.
        let deadline = config.server.request_timeout;
        let (status, body) =
            match tokio::time::timeout(deadline, self.handle(session, ctx, &config)).await {
                Ok(answer) => answer,
                Err(_) => self.deadline_passed(session, ctx, deadline),
            };
        ctx.status = status;
        let mut header = ResponseHeader::build(status, Some(5))?;
        header.insert_header("Content-Type", "application/json")?;
        header.insert_header("Content-Length", body.len().to_string())?;
        header.insert_header("X-Request-Id", ctx.request_id.as_str())?;
        if let Some(allow) = ctx.allow.as_deref().filter(|_| status == 405) {
            header.insert_header("Allow", allow)?;
        }
        session.write_response_header(Box::new(header)).await?;
        session.write_response_body(Bytes::from(body), true).await?;
        Ok(())
    }

    /// The request metric, the latency histogram and the info log line.
    fn log(&self, ctx: &RequestCtx, error: Option<&pingora::Error>) {
        let dialect = ctx.dialect.map(Dialect::name).unwrap_or("unknown");
        let merchant = ctx.merchant.as_deref().unwrap_or("");
        let route = ctx.route.as_deref().unwrap_or("");
        let upstream = ctx.upstream.as_deref().unwrap_or("");
        let total = ctx.started.elapsed();
        let own = total.saturating_sub(ctx.upstream_time);
        METRICS
            .requests
            .with_label_values(&[dialect, merchant, route, upstream, ctx.outcome.label()])
            .inc();
        METRICS
            .proxy_latency
            .with_label_values(&[dialect])
            .observe(own.as_secs_f64());
        tracing::info!(
            request_id = %ctx.request_id,
            dialect,
            merchant,
            route,
            upstream,
            status = ctx.status,
            outcome = ctx.outcome.label(),
            total_ms = total.as_secs_f64() * 1000.0,
            upstream_ms = ctx.upstream_time.as_secs_f64() * 1000.0,
            error = error.map(|e| e.to_string()),
            "request"
        );
    }
}

/// A connection between two requests, with what carries over to the next.
struct KeptAlive {
    stream: Stream,
    settings: HttpPersistentSettings,
    /// Bytes of the next request were read with the last one (a pipelining client).
    next_request_read: bool,
}

/// pingora's keep-alive timeout for each read of a kept-alive connection's request, seconds (its
/// default). The wait for a request's first byte is bounded by the header deadline
/// ([`listener::HeaderDeadline`]) instead.
const KEEPALIVE_SECONDS: u64 = 60;

/// payglot's keep-alive loop over pingora's HTTP/1.1 sessions, one request at a time.
///
/// Between requests a connection holds its stream and this loop's state only: a session (and
/// the 4 KiB header buffer it takes as it starts reading) is made once the next request's first
/// byte has come, and each request's handling is boxed for its duration. pingora's own loop for
/// HTTP apps also carried an HTTP/2 handshake's state and a session through every idle wait
/// (BENCHMARKS.md: memory per idle connection).
#[async_trait]
impl ServerApp for Proxy {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // What the last request's session leaves to the next one; nothing before the first.
        let mut carried: Option<HttpPersistentSettings> = None;
        let mut next_request_read = false;
        loop {
            if !next_request_read && !next_request_begins(&mut stream, shutdown).await {
                return None;
            }
            let mut session = ServerSession::new_http1(stream);
            match carried.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => session.set_keepalive(Some(KEEPALIVE_SECONDS)),
            }
            let kept = Box::pin(self.serve(session, shutdown)).await?;
            stream = kept.stream;
            carried = Some(kept.settings);
            next_request_read = kept.next_request_read;
        }
    }
}

impl Proxy {
    /// Reads a request's header and serves it; the connection when it can carry another.
    async fn serve(
        &self,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<KeptAlive> {
        // Requests a client sends before reading the answers are served in order.
        session.set_pipelining_enabled(true);
        let mut stopping = shutdown.clone();
        let read = tokio::select! {
            biased;
            read = session.read_request() => read,
            // A connection whose request has not come whole is closed at shutdown.
            _ = stopping.wait_for(|stop| *stop) => return None,
        };
        match read {
            Ok(true) => {}
            // Closed, or silent past pingora's keep-alive timeout, before a whole header.
            Ok(false) => return None,
            Err(e) => {
                if e.etype() == &pingora::ErrorType::InvalidHTTPHeader {
                    let _ = session.respond_error(400).await;
                } else {
                    tracing::debug!(error = %e, "request header not read");
                }
                session.shutdown().await;
                return None;
            }
        }
        if *shutdown.borrow() {
            // No more requests on this connection once the server is stopping.
            session.set_keepalive(None);
        }
        self.exchange(session).await
    }
}

/// Waits for the first byte of a connection's next request, leaving it to be read; false when
/// the connection is to end instead: the client closed it, the header deadline passed, or the
/// server is stopping.
async fn next_request_begins(stream: &mut Stream, shutdown: &ShutdownWatch) -> bool {
    let mut stopping = shutdown.clone();
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        biased;
        peeked = stream.try_peek(&mut first) => Some(peeked),
        _ = stopping.wait_for(|stop| *stop) => None,
    };
    match peeked {
        // `Ok(false)`: a stream that cannot peek; the session's read will wait instead.
        Some(Ok(_)) => true,
        Some(Err(e)) => {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                tracing::debug!(error = %e, "no next request on a kept-alive connection");
            }
            Shutdown::shutdown(&mut **stream).await;
            false
        }
        None => false,
    }
}
