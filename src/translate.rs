//! The pipeline, in one place, as plain functions: who is calling (key), is it them
//! (signature), what do they ask (parse), where does it go (route), what goes upstream (render,
//! sign), what the merchant gets back (read, answer). The proxy runs the steps in this order
//! around its I/O; `explain` and `translate` run the same steps without sending anything.

use http::HeaderMap;
use time::OffsetDateTime;

use crate::config::{LoadedConfig, Merchant, Upstream, WebhookSettings};
use crate::dialect::{Dialect, Note, NoteAction, RenderContext};
use crate::error::{ApiError, ErrorKind};
use crate::field::Field;
use crate::model::{Callbacks, CreatePayment, MerchantProfile, Payment, PaymentStatus};
use crate::network::NetworkTable;
use crate::routing::{RouteFacts, Selection};
use crate::secret::Credentials;

/// A request ready to go upstream: `body` is exactly the bytes the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    /// The path below the upstream's base URL, with any query (e.g. `/payment`,
    /// `/payment/<id>`).
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The upstream request plus every place it differs from a field-for-field copy.
#[derive(Debug, Clone)]
pub struct Plan {
    pub upstream: UpstreamRequest,
    pub notes: Vec<Note>,
    /// The reference sent in place of the merchant's on a shared account, to be put back in a
    /// same-dialect answer ([`restore_reference`]).
    pub sent_reference: Option<String>,
}

/// The answer for the merchant, in its dialect.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// What the upstream said, in canonical terms; for same-dialect routes only the status is
    /// read, so this is `Ok(None)` on success there.
    pub outcome: Result<Option<Payment>, ApiError>,
}

/// The key id the caller presents in its dialect's key header.
pub fn caller_key_id(dialect: Dialect, headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = dialect.codec().key_header();
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unauthenticated,
                format!("missing {header} header"),
            )
        })
}

/// Step 1: the merchant whose key the caller presents.
pub fn authenticate<'c>(
    config: &'c LoadedConfig,
    dialect: Dialect,
    headers: &HeaderMap,
) -> Result<&'c Merchant, ApiError> {
    let key_id = caller_key_id(dialect, headers)?;
    config.merchant(dialect, key_id).ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unauthenticated,
            "unknown key: no merchant is configured with it",
        )
    })
}

/// Step 2: verifies the caller's signature and reads its request.
pub fn read_request(
    dialect: Dialect,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
    networks: &NetworkTable,
) -> Result<CreatePayment, ApiError> {
    let codec = dialect.codec();
    codec.verify(headers, body, secret)?;
    codec.parse_create(body, networks)
}

/// A request that passed steps 1 and 2: who sent it, its raw bytes and what it asks.
pub struct Admitted<'a> {
    pub dialect: Dialect,
    pub merchant: &'a Merchant,
    pub raw_body: &'a [u8],
    pub request: CreatePayment,
}

impl<'a> Admitted<'a> {
    /// Step 3: the rule and the upstreams to try, in order.
    pub fn route(
        &self,
        config: &LoadedConfig,
        headers: &HeaderMap,
        request_id: &str,
    ) -> Result<Selection, ApiError> {
        let request = &self.request;
        let facts = RouteFacts {
            merchant_id: &self.merchant.id,
            dialect: self.dialect,
            currency: &request.currency,
            network: request.network.as_deref(),
            amount: &request.amount,
            order_ref: request.order_ref.as_deref(),
            headers,
            request_id,
        };
        config.routes.select(&facts).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NoRoute,
                format!(
                    "no routing rule matches this request from merchant {}",
                    self.merchant.id
                ),
            )
        })
    }

    /// Steps 4 and 5 towards one upstream: its render context, then the signed request. The
    /// context is returned for step 6. `shared_account`: other merchants use the same account
    /// at this upstream, so the reference sent is made the merchant's own (see
    /// [`reference_upstream`]); answers show the merchant its reference as it sent it.
    /// `relay_callback`: where payglot's webhook relay takes this payment's notifications (see
    /// [`upstream_callbacks`]).
    pub fn plan_for<'c>(
        &self,
        upstream: &Upstream,
        networks: &'c NetworkTable,
        request_id: &'c str,
        now: OffsetDateTime,
        shared_account: bool,
        relay_callback: Option<&'c str>,
    ) -> Result<(Plan, RenderContext<'c>), ApiError>
    where
        'a: 'c,
    {
        let context = relayed_context(
            networks,
            &self.merchant.profile,
            upstream.dialect,
            request_id,
            now,
            relay_callback,
        );
        let sent_reference = self
            .request
            .order_ref
            .as_deref()
            .filter(|_| shared_account)
            .map(|reference| {
                upstream
                    .dialect
                    .codec()
                    .upstream_reference(&reference_upstream(&self.merchant.id, reference))
            });
        let Some(sent) = sent_reference else {
            let plan = plan_upstream(
                self.dialect,
                upstream.dialect,
                self.raw_body,
                &self.request,
                self.merchant.credentials_for(upstream),
                &context,
            )?;
            return Ok((plan, context));
        };
        let tagged = CreatePayment {
            order_ref: Some(sent.clone()),
            ..self.request.clone()
        };
        let body = if self.dialect == upstream.dialect {
            self.dialect
                .codec()
                .with_reference(self.raw_body, &tagged, &context)?
        } else {
            Vec::new()
        };
        let mut plan = plan_upstream(
            self.dialect,
            upstream.dialect,
            &body,
            &tagged,
            self.merchant.credentials_for(upstream),
            &context,
        )?;
        plan.sent_reference = Some(sent.clone());
        plan.notes.push(Note::new(
            Field::OrderRef,
            NoteAction::Derived,
            format!(
                "other merchants share this upstream account, whose references are unique per \
                 account: sent \"{sent}\""
            ),
        ));
        Ok((plan, context))
    }
}

/// The reference sent upstream for a merchant on an account other merchants share: its own
/// reference behind a short, stable tag of the merchant, so two merchants' "order-1" are two
/// payments (Cryptomus returns the existing invoice for a repeated `order_id`). Deterministic,
/// so a retried create maps to the same upstream payment.
pub fn reference_upstream(merchant_id: &str, reference: &str) -> String {
    use sha2::{Digest, Sha256};
    let tag = hex::encode(&Sha256::digest(merchant_id.as_bytes())[..4]);
    format!("m{tag}-{reference}")
}

/// A same-dialect answer passes through: where the reference sent upstream was the merchant's
/// tagged one, the merchant's own is put back wherever the answer echoes it (as a JSON string,
/// PHP-escaped or not).
pub fn restore_reference(body: &[u8], sent: &str, original: &str) -> Vec<u8> {
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    let php = |s: &str| quoted(s).replace('/', "\\/");
    let mut text = String::from_utf8_lossy(body).into_owned();
    for (from, to) in [(quoted(sent), quoted(original)), (php(sent), php(original))] {
        text = text.replace(&from, &to);
    }
    text.into_bytes()
}

/// Step 4: what rendering towards a `target` provider needs besides the request; a nonce is
/// drawn only for a provider that signs one into the body.
pub fn render_context<'c>(
    networks: &'c NetworkTable,
    merchant: &'c MerchantProfile,
    target: Dialect,
    request_id: &'c str,
    now: OffsetDateTime,
) -> RenderContext<'c> {
    relayed_context(networks, merchant, target, request_id, now, None)
}

/// [`render_context`] for a create whose provider notifications go to payglot's relay at
/// `relay_callback`.
pub fn relayed_context<'c>(
    networks: &'c NetworkTable,
    merchant: &'c MerchantProfile,
    target: Dialect,
    request_id: &'c str,
    now: OffsetDateTime,
    relay_callback: Option<&'c str>,
) -> RenderContext<'c> {
    RenderContext {
        networks,
        merchant,
        nonce: if target.codec().capabilities().body_nonce {
            fresh_nonce()
        } else {
            0
        },
        request_id,
        now,
        relay_callback,
    }
}

/// A fresh request nonce: random below 2^53 (exact in JavaScript), so instances sharing an
/// account do not collide the way clock-based nonces would.
pub fn fresh_nonce() -> u64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    (random & ((1 << 53) - 1)).max(1)
}

/// What callback URLs go upstream: the one place that decides it.
///
/// With the relay (`relay`, the payment's relay URL) the provider notifies payglot, which
/// re-signs each notification in the merchant's dialect with the merchant's credentials.
/// Across dialects both success and failure go there. On a same-dialect route only the
/// callbacks the merchant sent are pointed there (its one callback when it sent none and relies
/// on `webhook_url`), so the provider is asked for the same notifications. Without the relay a
/// same-dialect route keeps the merchant's URLs (its credentials are the account's: see
/// [`relay_callback`]); across dialects they are withheld and noted, as the provider would
/// notify in a dialect the merchant cannot verify.
pub fn upstream_callbacks(
    request: &CreatePayment,
    from: Dialect,
    to: Dialect,
    relay: Option<&str>,
) -> (Callbacks, Option<Note>) {
    if let Some(relay) = relay {
        let sent = &request.callbacks;
        let relayed = if from == to {
            Callbacks {
                success: (sent.success.is_some() || sent.is_empty()).then(|| relay.to_owned()),
                failure: sent.failure.as_ref().map(|_| relay.to_owned()),
            }
        } else {
            Callbacks {
                success: Some(relay.to_owned()),
                failure: Some(relay.to_owned()),
            }
        };
        return (relayed, None);
    }
    if from == to {
        return (request.callbacks.clone(), None);
    }
    if request.callbacks.is_empty() {
        return (Callbacks::default(), None);
    }
    let note = Note::new(
        Field::Callback,
        NoteAction::Dropped,
        format!(
            "{to} would send its notifications in its own dialect, which a {from} merchant cannot \
             verify; they are withheld (payglot's webhook relay is off: no \
             webhooks.public_base_url)"
        ),
    );
    (Callbacks::default(), Some(note))
}

/// The relay URL to register at `upstream` for a create, or `None` when the relay does not
/// apply: the relay off, the merchant with nowhere to be notified (no callback in its request,
/// no `webhook_url`), or a same-dialect route on the merchant's own account there (same key id
/// and secret), whose provider notifications already verify with the merchant's credentials.
/// Any other same-dialect route is relayed: its provider signs with an account the merchant
/// does not hold.
pub fn relay_callback(
    settings: &WebhookSettings,
    merchant: &Merchant,
    request: &CreatePayment,
    upstream: &Upstream,
    relay_token: &str,
) -> Option<String> {
    let notified = !request.callbacks.is_empty() || merchant.webhook_url.is_some();
    let verifies_as_sent = merchant.dialect == upstream.dialect
        && merchant.credentials == *merchant.credentials_for(upstream);
    if verifies_as_sent || !notified {
        return None;
    }
    settings.relay_url(relay_token)
}

/// A same-dialect answer passes through; where the provider echoes the callbacks, the relay URL
/// sent in place of the merchant's is put back to the merchant's own (`null` where it sent
/// none).
pub fn restore_callbacks(
    dialect: Dialect,
    body: &[u8],
    relay: &str,
    request: &CreatePayment,
) -> Vec<u8> {
    let fields = dialect.codec().callback_fields(&request.callbacks);
    crate::dialect::encoding::replace_string_members(body, relay, &fields)
        .unwrap_or_else(|| body.to_vec())
}

/// Step 5: writes the upstream request. Same dialect: the merchant's raw body goes as it is and only
/// the signature changes (and, when relayed, its callback URLs); otherwise it is rendered from
/// the canonical request.
pub fn plan_upstream(
    from: Dialect,
    to: Dialect,
    raw_body: &[u8],
    request: &CreatePayment,
    upstream_credentials: &Credentials,
    context: &RenderContext<'_>,
) -> Result<Plan, ApiError> {
    let target = to.codec();
    let (body, notes) = if from == to {
        let body = match context.relay_callback {
            Some(relay) => {
                let (callbacks, _) = upstream_callbacks(request, from, to, Some(relay));
                target.with_callbacks(raw_body, &callbacks)?
            }
            None => raw_body.to_vec(),
        };
        (body, Vec::new())
    } else {
        let (callbacks, callback_note) =
            upstream_callbacks(request, from, to, context.relay_callback);
        let outbound;
        let request = if callbacks == request.callbacks {
            request
        } else {
            outbound = CreatePayment {
                callbacks,
                ..request.clone()
            };
            &outbound
        };
        let rendered = target.render_create(request, context)?;
        let mut notes = rendered.notes;
        notes.extend(callback_note);
        (rendered.body, notes)
    };
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    headers.extend(target.sign(&body, upstream_credentials));
    Ok(Plan {
        upstream: UpstreamRequest {
            method: "POST",
            path: target.create_path().to_owned(),
            headers,
            body,
        },
        notes,
        sent_reference: None,
    })
}

/// Step 6: writes the merchant's answer from the upstream's. Same dialect: status and body pass
/// untouched. Otherwise the answer is read, translated, and errors re-enveloped.
pub fn answer(
    from: Dialect,
    to: Dialect,
    upstream_status: u16,
    upstream_body: &[u8],
    request: &CreatePayment,
    context: &RenderContext<'_>,
) -> Answer {
    if from == to {
        let outcome = if (200..300).contains(&upstream_status) {
            Ok(None)
        } else {
            Err(ApiError {
                upstream_status: Some(upstream_status),
                ..ApiError::new(ErrorKind::UpstreamRejected, "passed through")
            })
        };
        return Answer {
            status: upstream_status,
            body: upstream_body.to_vec(),
            outcome,
        };
    }
    let caller = from.codec();
    match to
        .codec()
        .parse_create_response(upstream_status, upstream_body, context.networks)
    {
        Ok(payment) if payment.status == PaymentStatus::Unknown => {
            // An unknown word must never read as "not paid yet": the merchant's dialect has no
            // "unknown", so the answer is an upstream error (the glue counts and logs it).
            let error = ApiError::new(
                ErrorKind::UpstreamUnknownStatus,
                format!(
                    "the payment provider reported a status payglot does not know (\"{}\")",
                    payment.provider_status
                ),
            );
            let (status, body) = caller.render_error(&error, context.request_id);
            Answer {
                status,
                body,
                outcome: Err(error),
            }
        }
        Ok(payment) => {
            // Echo the merchant's own callbacks when they will be notified (directly or through
            // the relay), none when they were withheld: the merchant is not told of
            // notifications that will never come.
            let sent = match context.relay_callback {
                Some(_) => request.callbacks.clone(),
                None => upstream_callbacks(request, from, to, None).0,
            };
            let echoed = CreatePayment {
                callbacks: sent,
                ..request.clone()
            };
            Answer {
                status: 200,
                body: caller.render_create_response(&payment, &echoed, context),
                outcome: Ok(Some(payment)),
            }
        }
        Err(error) => {
            let (status, body) = caller.render_error(&error, context.request_id);
            Answer {
                status,
                body,
                outcome: Err(error),
            }
        }
    }
}

/// Renders an error in the caller's dialect.
pub fn error_answer(dialect: Dialect, error: &ApiError, request_id: &str) -> (u16, Vec<u8>) {
    dialect.codec().render_error(error, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    /// One Cryptomus merchant, a Cryptomus upstream on payglot's account, and one on the
    /// merchant's own account (its key id and secret), relay on.
    const CONFIG: &str = r#"
server: { listen: "127.0.0.1:1", metrics_listen: "127.0.0.1:2" }
merchants:
  - id: shop
    dialect: cryptomus
    credentials: { key_id: "0b1e7000-0000-4000-8000-000000000001", secret: shop_key }
    upstream_credentials:
      own: { key_id: "0b1e7000-0000-4000-8000-000000000001", secret: shop_key }
upstreams:
  - id: shared
    dialect: cryptomus
    base_url: "http://127.0.0.1:3/v1"
    credentials: { key_id: "0b1e7000-0000-4000-8000-0000000000aa", secret: payglot_key }
  - id: own
    dialect: cryptomus
    base_url: "http://127.0.0.1:3/v1"
    credentials: { key_id: "0b1e7000-0000-4000-8000-0000000000aa", secret: payglot_key }
  - id: apollo
    dialect: apollo
    base_url: "http://127.0.0.1:3/api-gateway"
    credentials: { key_id: pk, secret: sk }
routes:
  - name: all
    to: shared
webhooks: { public_base_url: "https://pay.example" }
"#;

    fn request(callback: Option<&str>) -> CreatePayment {
        let body = match callback {
            Some(url) => format!(
                r#"{{"amount":"1","currency":"USDT","order_id":"o-1","url_callback":"{url}"}}"#
            ),
            None => r#"{"amount":"1","currency":"USDT","order_id":"o-1"}"#.to_owned(),
        };
        Dialect::Cryptomus
            .codec()
            .parse_create(body.as_bytes(), &NetworkTable::default())
            .expect("a valid request")
    }

    #[test]
    fn the_relay_applies_unless_the_merchant_holds_the_same_dialect_account() {
        let config = load_str(CONFIG, &|_| None).expect("valid config");
        let merchant = config.merchant_by_id("shop").expect("merchant");
        let upstream = |id| config.upstream(id).expect("upstream");
        let with_callback = request(Some("https://shop.example/cb"));
        let relay = |id, request: &CreatePayment| {
            relay_callback(&config.webhooks, merchant, request, upstream(id), "t")
        };
        let relayed = Some("https://pay.example/webhooks/t".to_owned());
        assert_eq!(relay("shared", &with_callback), relayed);
        assert_eq!(relay("apollo", &with_callback), relayed);
        assert_eq!(relay("own", &with_callback), None);
        // Nowhere to notify the merchant: nothing to relay.
        assert_eq!(relay("shared", &request(None)), None);
    }

    #[test]
    fn same_dialect_bodies_change_only_their_callbacks() {
        let networks = NetworkTable::default();
        let profile = MerchantProfile::default();
        let raw = br#"{"order_id":"o-1","url_callback":"https:\/\/shop.example\/cb","amount":"1.50","currency":"USDT","x":[1,{"b":2,"a":1}]}"#;
        let request = request(Some("https://shop.example/cb"));
        let credentials = Credentials::new("k", "s");
        let plan = |relay| {
            let context = relayed_context(
                &networks,
                &profile,
                Dialect::Cryptomus,
                "r",
                OffsetDateTime::UNIX_EPOCH,
                relay,
            );
            plan_upstream(
                Dialect::Cryptomus,
                Dialect::Cryptomus,
                raw,
                &request,
                &credentials,
                &context,
            )
            .expect("a plan")
            .upstream
            .body
        };
        assert_eq!(
            String::from_utf8(plan(Some("https://pay.example/webhooks/t"))).unwrap(),
            r#"{"order_id":"o-1","url_callback":"https://pay.example/webhooks/t","amount":"1.50","currency":"USDT","x":[1,{"b":2,"a":1}]}"#
        );
        assert_eq!(plan(None), raw.to_vec());
    }

    #[test]
    fn a_shared_account_reference_changes_only_the_reference() {
        let networks = NetworkTable::default();
        let profile = MerchantProfile::default();
        let context = render_context(
            &networks,
            &profile,
            Dialect::Cryptomus,
            "r",
            OffsetDateTime::UNIX_EPOCH,
        );
        let raw = br#"{"order_id":"o-1","amount":1.50,"currency":"USDT"}"#;
        let tagged = CreatePayment {
            order_ref: Some("m1234-o-1".to_owned()),
            ..request(None)
        };
        let body = Dialect::Cryptomus
            .codec()
            .with_reference(raw, &tagged, &context)
            .expect("a body");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"order_id":"m1234-o-1","amount":1.50,"currency":"USDT"}"#
        );
    }

    #[test]
    fn same_dialect_relays_only_the_callbacks_the_merchant_sent() {
        let mut request = request(None);
        let relay = Some("R");
        let (callbacks, _) = upstream_callbacks(&request, Dialect::Apollo, Dialect::Apollo, relay);
        // None sent (the merchant relies on webhook_url): its one callback.
        assert_eq!(callbacks.success.as_deref(), Some("R"));
        assert_eq!(callbacks.failure, None);
        request.callbacks.failure = Some("https://shop.example/err".to_owned());
        let (callbacks, _) = upstream_callbacks(&request, Dialect::Apollo, Dialect::Apollo, relay);
        assert_eq!(
            (callbacks.success, callbacks.failure.as_deref()),
            (None, Some("R"))
        );
        let (callbacks, _) =
            upstream_callbacks(&request, Dialect::Apollo, Dialect::Cryptomus, relay);
        assert_eq!(
            (callbacks.success.as_deref(), callbacks.failure.as_deref()),
            (Some("R"), Some("R"))
        );
    }
}
