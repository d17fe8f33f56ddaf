//! Apollo Payment (`https://app.apollopayment.io/api-gateway`; OnChainPay is the same
//! platform): `x-api-public-key` + `x-api-signature` = hex HMAC-SHA256(private key, raw body),
//! a `nonce` in every body, `{"success":…,"response"|"error":…}` envelopes. Reference §3.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorKind, FieldError};
use crate::facts;
use crate::model::{CreatePayment, Customer, Payment, PaymentStatus, Transaction, Unportable};
use crate::money::{Amount, Quantity};
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::signature;

use super::wire::{
    self, DecimalText, LooseBool, LooseId, LooseU64, ScalarText, parse_json, text_field,
};
use super::{Codec, Dialect, Note, NoteAction, RenderContext, Rendered};

pub struct Apollo;

pub const KEY_HEADER: &str = "x-api-public-key";
pub const SIGNATURE_HEADER: &str = "x-api-signature";

/// Canonical field name ↔ Apollo field name.
pub const FIELDS: &[(&str, &str)] = &[
    ("order_ref", "order"),
    ("callback", "successWebhook"),
    ("failure_callback", "errorWebhook"),
    ("return_url", "returnUrl"),
    ("client_id", "externalUserId"),
    ("customer.email", "payerEmail"),
    ("tolerance_percent", "paymentTolerancePercent"),
];

/// One reading rule of Apollo's status table. `funds_received`: `None` matches either way.
/// Rules are tried in order and the first match wins; comparison ignores case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    pub status: &'static str,
    /// Whether the order shows funds (a transaction, or a non-zero `received`).
    pub funds_received: Option<bool>,
    pub canonical: PaymentStatus,
}

const fn rule(
    status: &'static str,
    funds_received: Option<bool>,
    canonical: PaymentStatus,
) -> StatusRule {
    StatusRule {
        status,
        funds_received,
        canonical,
    }
}

/// Apollo order `status` → canonical: `[docs]` words, `[inferred]` grouping (§3d, §5.5). A fresh
/// order may already say `pending`, so `pending` counts as confirming only once funds arrived.
/// Words not listed read as awaiting payment.
pub const STATUS_IN: &[StatusRule] = &[
    rule("init", None, PaymentStatus::AwaitingPayment),
    rule("pending", Some(true), PaymentStatus::Confirming),
    rule("pending", Some(false), PaymentStatus::AwaitingPayment),
    rule("processed", None, PaymentStatus::Paid),
    rule("overpaid", None, PaymentStatus::Overpaid),
    rule("partial", None, PaymentStatus::UnderpaidClosed),
    rule("expired", None, PaymentStatus::Expired),
    rule("error", None, PaymentStatus::Failed),
];

/// Canonical → Apollo. Apollo has no AML or refund states: an AML hold reads as pending,
/// refunds as processed `[inferred]`.
pub const STATUS_OUT: &[(PaymentStatus, &str)] = &[
    (PaymentStatus::AwaitingPayment, "init"),
    (PaymentStatus::Confirming, "pending"),
    (PaymentStatus::UnderpaidOpen, "pending"),
    (PaymentStatus::AmlHold, "pending"),
    (PaymentStatus::Paid, "processed"),
    (PaymentStatus::RefundPending, "processed"),
    (PaymentStatus::Refunded, "processed"),
    (PaymentStatus::RefundFailed, "processed"),
    (PaymentStatus::Overpaid, "overpaid"),
    (PaymentStatus::UnderpaidClosed, "partial"),
    (PaymentStatus::Expired, "expired"),
    (PaymentStatus::Failed, "error"),
];

fn status_from_wire(status: &str, received_something: bool) -> PaymentStatus {
    STATUS_IN
        .iter()
        .find(|r| {
            r.status.eq_ignore_ascii_case(status)
                && r.funds_received.is_none_or(|f| f == received_something)
        })
        .map_or(PaymentStatus::AwaitingPayment, |r| r.canonical)
}

fn status_to_wire(status: PaymentStatus) -> &'static str {
    STATUS_OUT
        .iter()
        .find(|(canonical, _)| *canonical == status)
        .map_or("init", |(_, word)| *word)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    currency: String,
    network: String,
    amount: DecimalText,
    order: String,
    lifetime: Option<LooseU64>,
    payment_tolerance_percent: Option<DecimalText>,
    error_webhook: Option<String>,
    success_webhook: Option<String>,
    return_url: Option<String>,
    description: Option<String>,
    check_risks: Option<LooseBool>,
    external_user_id: Option<LooseId>,
    payer_email: Option<String>,
    nonce: Option<ScalarText>,
}

/// The order the JS SDK sends, with the nonce last.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateOut<'a> {
    currency: &'a str,
    network: &'a str,
    amount: &'a str,
    order: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_tolerance_percent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_webhook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_webhook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer_email: Option<&'a str>,
    nonce: u64,
}

#[derive(Deserialize)]
struct Envelope {
    success: Option<bool>,
    response: Option<Box<serde_json::value::RawValue>>,
    error: Option<ErrorIn>,
}

#[derive(Deserialize)]
struct ErrorIn {
    code: Option<serde_json::Value>,
    name: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct ValidationErrors {
    errors: Option<Vec<serde_json::Value>>,
}

/// Create (`orderId` = Apollo id, `clientOrderId` = merchant ref) and get (`id` = Apollo id,
/// `orderId` = merchant ref) name the same things differently; both are read here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderIn {
    id: Option<String>,
    order_id: Option<String>,
    client_order_id: Option<String>,
    status: Option<String>,
    link: Option<String>,
    amount: Option<DecimalText>,
    received: Option<DecimalText>,
    currency: Option<String>,
    network: Option<String>,
    address: Option<String>,
    tag: Option<LooseId>,
    expires_at: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    transactions: Option<Vec<TransactionIn>>,
}

#[derive(Deserialize)]
struct TransactionIn {
    currency: Option<String>,
    network: Option<String>,
    amount: Option<DecimalText>,
    tx: Option<String>,
    confirmations: Option<u64>,
    sender: Option<String>,
}

#[derive(Serialize)]
struct Answer<'a> {
    success: bool,
    response: OrderOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderOut<'a> {
    status: &'static str,
    link: Option<&'a str>,
    amount: &'a str,
    payment_tolerance_percent: Option<&'a str>,
    advanced_balance_id: Option<&'a str>,
    currency: &'a str,
    network: Option<&'a str>,
    address: Option<&'a str>,
    address_id: Option<&'a str>,
    tag: Option<&'a str>,
    order_id: &'a str,
    client_order_id: Option<&'a str>,
    external_user_id: Option<&'a str>,
    payer_email: Option<&'a str>,
    description: Option<&'a str>,
    success_webhook: Option<&'a str>,
    error_webhook: Option<&'a str>,
    return_url: Option<&'a str>,
    expires_at: Option<String>,
    created_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorOut<'a> {
    success: bool,
    error: ErrorBody<'a>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u16,
    name: String,
    message: &'a str,
}

impl Codec for Apollo {
    fn dialect(&self) -> Dialect {
        Dialect::Apollo
    }

    fn key_header(&self) -> &'static str {
        KEY_HEADER
    }

    fn create_path(&self) -> &'static str {
        "/make-order"
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
        super::verify_signature_header(
            headers,
            SIGNATURE_HEADER,
            "the body and the private key",
            |claimed| signature::verify_hmac_sha256_hex(secret, body, claimed),
        )
    }

    fn sign(&self, body: &[u8], credentials: &Credentials) -> Vec<(&'static str, String)> {
        let signature = signature::hmac_sha256_hex(credentials.secret.expose().as_bytes(), body);
        super::auth_headers(KEY_HEADER, credentials, SIGNATURE_HEADER, signature)
    }

    fn parse_create(
        &self,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<CreatePayment, ApiError> {
        let wire: CreateIn = parse_json(body, self)?;
        let Some(nonce) = wire.nonce else {
            return Err(ApiError::field(
                "nonce",
                "validation.required",
                "nonce is required in every signed body",
            ));
        };
        let amount = Amount::parse(&wire.amount.0)
            .map_err(|e| ApiError::field("amount", "validation.decimal", format!("amount {e}")))?;
        text_field(self, "currency", &wire.currency, 32)?;
        text_field(self, "order_ref", &wire.order, facts::MAX_TEXT_FIELD)?;
        let chain = networks
            .to_canonical(Dialect::Apollo, &wire.network)
            .ok_or_else(|| {
                ApiError::field(
                    "network",
                    "validation.in",
                    format!("network \"{}\" is not a known network", wire.network),
                )
            })?
            .to_owned();
        let lifetime = match wire.lifetime {
            Some(LooseU64(l)) => {
                let (min, max) = facts::apollo_lifetime_bounds(Some(&chain));
                if !(min..=max).contains(&l) {
                    return Err(ApiError::field(
                        "lifetime",
                        "validation.between",
                        format!(
                            "lifetime must be between {min} and {max} seconds on {}",
                            wire.network
                        ),
                    ));
                }
                Some(l)
            }
            None => None,
        };
        for (field, value) in [
            ("callback", &wire.success_webhook),
            ("failure_callback", &wire.error_webhook),
            ("return_url", &wire.return_url),
            ("description", &wire.description),
            ("customer.email", &wire.payer_email),
        ] {
            if let Some(v) = value {
                text_field(self, field, v, facts::MAX_TEXT_FIELD)?;
            }
        }
        let tolerance = match &wire.payment_tolerance_percent {
            Some(t) => match t.0.parse::<rust_decimal::Decimal>() {
                Ok(d) if d >= 0.into() && d <= 100.into() => Some(t.0.clone()),
                _ => {
                    return Err(ApiError::field(
                        "tolerance_percent",
                        "validation.between",
                        "paymentTolerancePercent must be a percentage between 0 and 100",
                    ));
                }
            },
            None => None,
        };
        let mut unportable = Vec::new();
        if wire.check_risks.is_some_and(|b| b.0) {
            unportable.push(Unportable {
                field: "checkRisks",
                affects_money: false,
                why: "risk checks on incoming transactions are Apollo's own",
            });
        }
        let client_id = wire.external_user_id.map(|id| id.0);
        if let Some(id) = &client_id {
            text_field(self, "client_id", id, facts::MAX_TEXT_FIELD)?;
        }
        text_field(self, "nonce", &nonce.0, facts::MAX_TEXT_FIELD)?;
        Ok(CreatePayment {
            order_ref: Some(wire.order),
            amount,
            currency: wire.currency.to_ascii_uppercase(),
            pay_currency: None,
            network: Some(chain),
            lifetime_secs: lifetime,
            callbacks: crate::model::Callbacks {
                success: wire.success_webhook,
                failure: wire.error_webhook,
            },
            return_url: wire.return_url,
            success_url: None,
            customer: Customer {
                id: client_id.clone(),
                name: None,
                email: wire.payer_email,
            },
            client_id,
            description: wire.description,
            tolerance_percent: tolerance,
            allow_partial: None,
            nonce: Some(nonce.0),
            unportable,
        })
    }

    fn render_create(
        &self,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Rendered, ApiError> {
        let mut notes = super::common_refusals(request, Dialect::Apollo)?;
        let network = super::target_network(request, Dialect::Apollo, context, &mut notes)?;
        let chain = context.networks.to_canonical(Dialect::Apollo, network);
        let order = super::required_order_ref(request, context, "order", &mut notes);
        let lifetime = request.lifetime_secs.map(|l| {
            super::clamp_lifetime(
                l,
                facts::apollo_lifetime_bounds(chain),
                Dialect::Apollo,
                &mut notes,
            )
        });
        // Only a requested sticky identity becomes `externalUserId`: at Apollo it reserves a
        // personal address for that user, which a bare customer id (AlpPay) does not ask for.
        let client_id = request.client_id.as_deref();
        let customer_id_dropped = request
            .customer
            .id
            .as_deref()
            .is_some_and(|id| Some(id) != client_id);
        for (present, field, why) in [
            (
                customer_id_dropped,
                "customer.id",
                "Apollo's only user id, externalUserId, reserves a personal address; it carries clientId only",
            ),
            (
                request.success_url.is_some(),
                "success_url",
                "Apollo has only returnUrl",
            ),
            (
                request.allow_partial.is_some(),
                "allow_partial",
                "Apollo always accepts several transactions per order",
            ),
            (
                request.customer.name.is_some(),
                "customer.name",
                "Apollo orders carry no payer name",
            ),
        ] {
            if present {
                notes.push(Note {
                    field: field.into(),
                    action: NoteAction::Dropped,
                    detail: why.into(),
                });
            }
        }
        let out = CreateOut {
            currency: &request.currency,
            network,
            amount: request.amount.as_str(),
            order: &order,
            lifetime,
            payment_tolerance_percent: request.tolerance_percent.as_deref(),
            error_webhook: request
                .callbacks
                .failure
                .as_deref()
                .or(request.callbacks.success.as_deref()),
            success_webhook: request.callbacks.success.as_deref(),
            return_url: request.return_url.as_deref(),
            description: request.description.as_deref(),
            external_user_id: client_id,
            payer_email: request.customer.email.as_deref(),
            nonce: context.nonce,
        };
        Ok(Rendered {
            body: wire::to_compact_json(&out).into_bytes(),
            notes,
        })
    }

    fn parse_create_response(
        &self,
        status: u16,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<Payment, ApiError> {
        let envelope: Envelope = match serde_json::from_slice(body) {
            Ok(e) => e,
            Err(e) if (200..300).contains(&status) => {
                return Err(ApiError::new(
                    ErrorKind::UpstreamInvalid,
                    format!("Apollo answered with something other than its envelope: {e}"),
                ));
            }
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(super::upstream_status_error(
                    Dialect::Apollo,
                    status,
                    text,
                    Vec::new(),
                ));
            }
        };
        let ok = (200..300).contains(&status) && envelope.success == Some(true);
        let response = match (ok, envelope.response) {
            (true, Some(r)) => r,
            // A success without the order is not Apollo's format, not a refusal.
            (true, None) => {
                return Err(ApiError::new(
                    ErrorKind::UpstreamInvalid,
                    "Apollo answered success:true without a response",
                ));
            }
            (false, response) => {
                let fields = response
                    .and_then(|r| serde_json::from_str::<ValidationErrors>(r.get()).ok())
                    .and_then(|v| v.errors)
                    .map(|errors| self.upstream_fields(&errors))
                    .unwrap_or_default();
                let (code, text) = match envelope.error {
                    Some(e) => {
                        let code = e.code.as_ref().and_then(serde_json::Value::as_u64);
                        let text = match (e.name, e.message) {
                            (Some(n), Some(m)) => format!("{n}: {m}"),
                            (n, m) => n.or(m).unwrap_or_default(),
                        };
                        (code, text)
                    }
                    None => (None, String::new()),
                };
                // Apollo's HTTP statuses are undocumented; a 2xx with success:false is an error
                // too, classified by error.code when that is an HTTP-like status.
                let status = match (status, code) {
                    (200..=299, Some(c @ 400..=599)) => c as u16,
                    (200..=299, _) => 422,
                    (s, _) => s,
                };
                return Err(super::upstream_status_error(
                    Dialect::Apollo,
                    status,
                    text,
                    fields,
                ));
            }
        };
        let order: OrderIn = serde_json::from_str(response.get()).map_err(|e| {
            ApiError::new(
                ErrorKind::UpstreamInvalid,
                format!("Apollo answered with an unexpected order: {e}"),
            )
        })?;
        let (provider_id, order_ref) = match (order.id, order.client_order_id) {
            (Some(id), _) => (Some(id), order.order_id),
            (None, client) => (order.order_id, client),
        };
        let Some(provider_id) = provider_id else {
            return Err(ApiError::new(
                ErrorKind::UpstreamInvalid,
                "Apollo answered with an order that has no id",
            ));
        };
        let received = wire::quantity(order.received);
        let transactions: Vec<Transaction> = order
            .transactions
            .unwrap_or_default()
            .into_iter()
            .map(|t| Transaction {
                tx_hash: t.tx,
                amount: wire::quantity(t.amount),
                currency: t.currency,
                network: networks.canonical_owned(Dialect::Apollo, t.network.as_deref()),
                from: t.sender,
                to: None,
                confirmations: t.confirmations,
                at: None,
            })
            .collect();
        let received_something = !transactions.is_empty()
            || received
                .as_ref()
                .is_some_and(|r| r.as_str().bytes().any(|b| (b'1'..=b'9').contains(&b)));
        let status_word = order.status.unwrap_or_else(|| "init".to_owned());
        Ok(Payment {
            provider_id,
            order_ref,
            status: status_from_wire(&status_word, received_something),
            provider_status: status_word,
            amount: wire::quantity(order.amount),
            received,
            currency: order.currency,
            network: networks.canonical_owned(Dialect::Apollo, order.network.as_deref()),
            address: order.address,
            address_tag: order.tag.map(|t| t.0),
            payment_url: order.link,
            expires_at: order.expires_at.as_deref().and_then(wire::parse_time),
            created_at: order.created_at.as_deref().and_then(wire::parse_time),
            updated_at: order.updated_at.as_deref().and_then(wire::parse_time),
            transactions,
        })
    }

    fn render_create_response(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        let chain = payment.network.as_deref().or(request.network.as_deref());
        let network = chain.map(|c| {
            context
                .networks
                .from_canonical(Dialect::Apollo, c)
                .unwrap_or(c)
        });
        let out = Answer {
            success: true,
            response: OrderOut {
                status: status_to_wire(payment.status),
                link: payment.payment_url.as_deref(),
                amount: payment
                    .amount
                    .as_ref()
                    .map(Quantity::as_str)
                    .unwrap_or(request.amount.as_str()),
                payment_tolerance_percent: request.tolerance_percent.as_deref(),
                advanced_balance_id: None,
                currency: payment.currency.as_deref().unwrap_or(&request.currency),
                network,
                address: payment.address.as_deref(),
                address_id: None,
                tag: payment.address_tag.as_deref(),
                order_id: &payment.provider_id,
                client_order_id: request.order_ref.as_deref(),
                external_user_id: request.client_id.as_deref(),
                payer_email: request.customer.email.as_deref(),
                description: request.description.as_deref(),
                success_webhook: request.callbacks.success.as_deref(),
                error_webhook: request.callbacks.failure.as_deref(),
                return_url: request.return_url.as_deref(),
                expires_at: payment.expires_at.map(wire::format_millis_z),
                created_at: payment.created_at.map(wire::format_millis_z),
            },
        };
        wire::to_compact_json(&out).into_bytes()
    }

    fn render_error(&self, error: &ApiError, request_id: &str) -> (u16, Vec<u8>) {
        let status = super::caller_status(error);
        let mut message = error.message.clone();
        if !error.fields.is_empty() {
            let listed: Vec<String> = error
                .fields
                .iter()
                .map(|f| format!("{}: {}", self.field_name(&f.field), f.rule))
                .collect();
            if !message.contains(&listed[0]) {
                message = format!("{message} ({})", listed.join(", "));
            }
        }
        let body = ErrorOut {
            success: false,
            error: ErrorBody {
                code: status,
                name: error.kind.label().to_ascii_uppercase(),
                message: &message,
            },
            request_id,
        };
        (status, wire::to_compact_json(&body).into_bytes())
    }

    fn field_name<'f>(&self, canonical: &'f str) -> &'f str {
        super::lookup_field(FIELDS, canonical, true)
    }

    fn canonical_field<'f>(&self, field: &'f str) -> &'f str {
        super::lookup_field(FIELDS, field, false)
    }
}

impl Apollo {
    /// Reads `response.errors[]` (strings or `{field,message}` objects) into field errors.
    fn upstream_fields(&self, errors: &[serde_json::Value]) -> Vec<FieldError> {
        errors
            .iter()
            .filter_map(|e| {
                let field = e.get("field").and_then(|f| f.as_str())?;
                let rule = e
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("invalid");
                Some(FieldError {
                    field: self.canonical_field(field).to_owned(),
                    rule: rule.to_owned(),
                })
            })
            .collect()
    }
}
