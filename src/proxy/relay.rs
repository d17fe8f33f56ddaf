//! The webhook relay's inbound half, on the proxy listener: a provider's notification is
//! verified in the provider's own form, read into the canonical payment, re-written in the
//! merchant's dialect and signed with the merchant's credentials, queued in the outbox and
//! attempted at once. The provider is answered 2xx only once the merchant answered 2xx.
//!
//! - `POST /webhooks/<relay token>`: the per-payment callback payglot registered upstream.
//! - `POST /webhooks/<provider>/<upstream id>`: the account-level webhook URL of a provider
//!   that has one (AlpPay: `/webhooks/alppay/<upstream id>`); the payment is found by its id.
//!
//! Forged or unverifiable → 401, unknown token or payment → 404; nothing reaches the merchant.

use pingora::protocols::http::ServerSession;
use time::OffsetDateTime;

use super::index::{recorded_request, unavailable};
use super::{Outcome, Proxy, RequestCtx, read_body, request_from};
use crate::config::{LoadedConfig, Merchant, Upstream};
use crate::dialect::{Dialect, LookupKey, WebhookAuth};
use crate::error::{ApiError, ErrorKind};
use crate::metrics::METRICS;
use crate::model::{Payment, PaymentStatus};
use crate::store::{EventState, OutboxEvent, PaymentRecord, event_id};
use crate::translate;
use crate::webhooks::{self, RelayPath};

/// Why a provider webhook was not relayed: the status the provider gets, and the reason label.
struct Refusal {
    status: u16,
    reason: &'static str,
    message: String,
}

fn refuse(status: u16, reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason,
        message: message.into(),
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        refuse(
            error.kind.default_status().max(500),
            "unavailable",
            error.message,
        )
    }
}

impl Proxy {
    pub(super) async fn relay(
        &self,
        session: &mut ServerSession,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        path: RelayPath<'_>,
    ) -> (u16, Vec<u8>) {
        if session.req_header().method != http::Method::POST {
            session.set_keepalive(None);
            ctx.allow = Some("POST".to_owned());
            ctx.outcome = Outcome::Failed(ErrorKind::MethodNotAllowed);
            return (405, br#"{"error":"only POST is served here"}"#.to_vec());
        }
        let limits = &config.server;
        let body = match tokio::time::timeout(
            limits.body_timeout,
            read_body(session, limits.max_body_bytes),
        )
        .await
        {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => {
                ctx.outcome = Outcome::Failed(error.kind);
                return (error.kind.default_status(), error_body(&error.message));
            }
            Err(_) => {
                session.set_keepalive(None);
                ctx.outcome = Outcome::Failed(ErrorKind::RequestTimeout);
                return (408, error_body("the body did not arrive in time"));
            }
        };
        let headers = session.req_header().headers.clone();
        match self
            .relay_verified(ctx, config, path, &headers, &body)
            .await
        {
            Ok(answer) => answer,
            Err(refusal) => {
                let provider = ctx.dialect.map_or("unknown", Dialect::name);
                ctx.outcome = Outcome::Failed(match refusal.status {
                    401 => ErrorKind::Unauthenticated,
                    404 => ErrorKind::NotFound,
                    400..=499 => ErrorKind::MalformedBody,
                    _ => ErrorKind::UpstreamUnavailable,
                });
                if refusal.status < 500 {
                    METRICS
                        .webhooks_refused
                        .with_label_values(&[provider, refusal.reason])
                        .inc();
                    tracing::info!(request_id = %ctx.request_id, provider, reason = refusal.reason, message = %refusal.message, "provider webhook refused");
                } else {
                    tracing::warn!(request_id = %ctx.request_id, provider, reason = refusal.reason, message = %refusal.message, "provider webhook not relayed yet");
                }
                (refusal.status, error_body(&refusal.message))
            }
        }
    }

    async fn relay_verified(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        path: RelayPath<'_>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), Refusal> {
        let store = self.index.store().await?;
        // Who sent it and which payment it is about.
        let (upstream, record, auth) = match path {
            RelayPath::Token(token) => {
                let record = store
                    .get_by_relay_token(token)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        refuse(404, "unknown_payment", "no payment has this relay URL")
                    })?;
                let upstream = config.upstream(&record.upstream_id).ok_or_else(|| {
                    refuse(
                        404,
                        "unknown_payment",
                        "the payment's provider is no longer configured",
                    )
                })?;
                ctx.dialect = Some(upstream.dialect);
                count_received(upstream);
                let merchant = merchant_of(config, &record)?;
                let auth = upstream.dialect.webhooks().verify_webhook(
                    headers,
                    body,
                    merchant.credentials_for(upstream),
                );
                (upstream, Some(record), auth)
            }
            RelayPath::Account { provider, upstream } => {
                let upstream = config
                    .upstream(upstream)
                    .filter(|u| {
                        u.dialect.name() == provider
                            && u.dialect.webhooks().account_level_webhooks()
                    })
                    .ok_or_else(|| {
                        refuse(
                            404,
                            "unknown_payment",
                            format!(
                                "no {provider} upstream with account-level webhooks has this id"
                            ),
                        )
                    })?;
                ctx.dialect = Some(upstream.dialect);
                count_received(upstream);
                // The account's own keys, or a merchant's own account at this upstream.
                let hooks = upstream.dialect.webhooks();
                let verified = std::iter::once(&upstream.credentials)
                    .chain(
                        config
                            .merchants()
                            .iter()
                            .filter_map(|m| m.upstream_credentials.get(&upstream.id)),
                    )
                    .any(|c| hooks.verify_webhook(headers, body, c) == WebhookAuth::Verified);
                let auth = if verified {
                    WebhookAuth::Verified
                } else {
                    WebhookAuth::Forged
                };
                (upstream, None, auth)
            }
        };
        if auth == WebhookAuth::Forged {
            return Err(refuse(
                401,
                "forged",
                "the webhook's signature does not verify",
            ));
        }
        let hooks = upstream.dialect.webhooks();
        let sent = hooks
            .parse_webhook(body, &config.networks)
            .map_err(|e| refuse(400, "unreadable", e.message))?;
        let record = match record {
            Some(record) => record,
            None => store
                .get_by_upstream(&upstream.id, &sent.provider_id)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    refuse(
                        404,
                        "unknown_payment",
                        "payglot did not create this payment",
                    )
                })?,
        };
        // A genuine notification about another payment, replayed to this one's URL.
        if sent.provider_id != record.upstream_payment_id {
            return Err(refuse(
                401,
                "forged",
                "the webhook is about another payment",
            ));
        }
        let merchant = merchant_of(config, &record)?;
        ctx.merchant = Some(merchant.id.clone());
        ctx.route = Some(record.route_id.clone());
        ctx.upstream = Some(upstream.id.clone());
        let payment = self
            .establish(ctx, config, merchant, upstream, auth, sent)
            .await?;
        METRICS
            .webhooks_verified
            .with_label_values(&[upstream.dialect.name()])
            .inc();
        if payment.status == PaymentStatus::Unknown {
            METRICS
                .unknown_statuses
                .with_label_values(&[upstream.dialect.name()])
                .inc();
            // Never relayed as "not paid yet"; the provider retries until payglot knows it.
            return Err(refuse(
                500,
                "unknown_status",
                format!("unknown provider status \"{}\"", payment.provider_status),
            ));
        }
        let now = OffsetDateTime::now_utc();
        if payment.status.label() != record.status
            && let Err(e) = store
                .update_status(
                    &upstream.id,
                    &payment.provider_id,
                    payment.status.label(),
                    now,
                )
                .await
        {
            tracing::warn!(request_id = %ctx.request_id, error = %e, "status not recorded");
        }
        let Some(target) = merchant_target(merchant, &record, payment.status) else {
            // The merchant asked for no notifications.
            ctx.outcome = Outcome::Ok;
            return Ok((200, br#"{"ok":true,"relayed":false}"#.to_vec()));
        };
        let request = match recorded_request(&record) {
            Some(request) => request,
            None => request_from(
                &payment,
                &LookupKey::ProviderId(payment.provider_id.clone()),
            )
            .map_err(|e| refuse(500, "unreadable", e.message))?,
        };
        let context = translate::render_context(
            &config.networks,
            &merchant.profile,
            merchant.dialect,
            &ctx.request_id,
            now,
        );
        let webhook = merchant.dialect.webhooks().render_webhook(
            &payment,
            &request,
            &merchant.credentials,
            &context,
        );
        let id = event_id(&upstream.id, &payment.provider_id, payment.status.label());
        let event = OutboxEvent::new(
            id.clone(),
            merchant.id.clone(),
            target,
            webhook.headers,
            webhook.body,
            now,
        );
        // Durable first: whatever happens next, the outbox worker delivers it.
        store.enqueue_event(event).await.map_err(unavailable)?;
        let claimed = store
            .claim_event(&id, now, webhooks::lease(&config.webhooks))
            .await
            .map_err(unavailable)?;
        let answer = match claimed {
            Some((event, true)) => {
                let outcome =
                    webhooks::attempt(store, &self.webhook_connector, config, &event).await;
                if outcome.accepted() {
                    (200, br#"{"ok":true}"#.to_vec())
                } else {
                    (
                        502,
                        error_body("the merchant did not accept the webhook yet"),
                    )
                }
            }
            Some((event, false)) if event.state == EventState::Delivered => {
                (200, br#"{"ok":true}"#.to_vec())
            }
            Some(_) => (503, error_body("the webhook is being delivered right now")),
            None => (500, error_body("the webhook was not queued")),
        };
        ctx.outcome = if answer.0 == 200 {
            Outcome::Ok
        } else {
            Outcome::Failed(ErrorKind::UpstreamUnavailable)
        };
        Ok(answer)
    }

    /// The payment to act on. A provider whose webhook cannot be trusted on its own (unsigned,
    /// or a scheme the provider does not document) is asked for the payment by its id; a
    /// verified webhook is used as sent when the provider offers no lookup.
    async fn establish(
        &self,
        ctx: &mut RequestCtx,
        config: &LoadedConfig,
        merchant: &Merchant,
        upstream: &Upstream,
        auth: WebhookAuth,
        sent: Payment,
    ) -> Result<Payment, Refusal> {
        let hooks = upstream.dialect.webhooks();
        if auth == WebhookAuth::Verified && !hooks.webhook_fetch_back() {
            return Ok(sent);
        }
        let key = LookupKey::ProviderId(sent.provider_id.clone());
        let can_look_up = upstream
            .dialect
            .codec()
            .plan_lookup(&key, merchant.credentials_for(upstream), 1)
            .is_some();
        if !can_look_up {
            return match auth {
                WebhookAuth::Verified => Ok(sent),
                _ => Err(refuse(
                    401,
                    "unverifiable",
                    "the webhook is unsigned and the payment cannot be fetched back",
                )),
            };
        }
        let fetched = self
            .lookup_at(ctx, config, merchant, upstream, &key)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => {
                    refuse(401, "forged", "the provider does not know this payment")
                }
                _ => refuse(
                    503,
                    "unavailable",
                    format!("the payment could not be fetched back: {}", e.message),
                ),
            })?;
        if fetched.provider_id != sent.provider_id {
            return Err(refuse(
                401,
                "forged",
                "the provider answered about another payment",
            ));
        }
        Ok(fetched)
    }
}

fn count_received(upstream: &Upstream) {
    METRICS
        .webhooks_received
        .with_label_values(&[upstream.dialect.name()])
        .inc();
}

fn merchant_of<'c>(
    config: &'c LoadedConfig,
    record: &PaymentRecord,
) -> Result<&'c Merchant, Refusal> {
    config.merchant_by_id(&record.merchant_id).ok_or_else(|| {
        refuse(
            404,
            "unknown_payment",
            "the payment's merchant is no longer configured",
        )
    })
}

/// Where the merchant wants this status: its success URL for progress and payment, its
/// failure URL (else the success one) for the rest; a dialect without per-payment URLs uses the
/// merchant's configured `webhook_url`.
fn merchant_target(
    merchant: &Merchant,
    record: &PaymentRecord,
    status: PaymentStatus,
) -> Option<String> {
    let success = record.callback_success_url.clone();
    let failure = record.callback_failure_url.clone();
    let per_payment =
        if status.accepts_payment() || !matches!(status.funds(), crate::model::Funds::Nothing) {
            success.or(failure)
        } else {
            failure.or(success)
        };
    per_payment.or_else(|| merchant.webhook_url.clone())
}

fn error_body(message: &str) -> Vec<u8> {
    serde_json::json!({ "error": message })
        .to_string()
        .into_bytes()
}
