//! AlpPay (`https://api.alppay.io/v2`): `API-KEY` + `X-HMAC` (hex HMAC-SHA256 of the raw body),
//! bare JSON objects, `OPEN`/`COMPLETED`/`EXPIRED` statuses. Dialect reference §1.

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Duration;

use crate::error::{ApiError, ErrorKind};
use crate::facts;
use crate::model::{CreatePayment, Customer, Payment, PaymentStatus, Transaction};
use crate::money::{Amount, Quantity};
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::signature;

use super::wire::{self, DecimalText, LooseId, parse_json, text_field};
use super::{Codec, Dialect, Note, NoteAction, RenderContext, Rendered};

pub struct AlpPay;

pub const KEY_HEADER: &str = "API-KEY";
pub const SIGNATURE_HEADER: &str = "X-HMAC";

/// Canonical field name ↔ AlpPay field name.
pub const FIELDS: &[(&str, &str)] = &[
    ("order_ref", "invoice"),
    ("currency", "asset.short"),
    ("network", "asset.network"),
    ("return_url", "checkoutUrl"),
    ("client_id", "clientId"),
];

/// One reading rule of AlpPay's status table: `None` matches any value. Rules are tried in
/// order and the first match wins; comparison ignores case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    pub status: Option<&'static str>,
    pub display_status: Option<&'static str>,
    pub canonical: PaymentStatus,
}

const fn rule(
    status: Option<&'static str>,
    display_status: Option<&'static str>,
    canonical: PaymentStatus,
) -> StatusRule {
    StatusRule {
        status,
        display_status,
        canonical,
    }
}

/// AlpPay `status` + `displayStatus` → canonical: `[docs]` values, `[inferred]` mapping (§5.5).
/// The last rule catches everything else (`NEW`, `OPEN`, unknown words) as awaiting payment.
pub const STATUS_IN: &[StatusRule] = &[
    rule(None, Some("AML_CHECK_DANGER"), PaymentStatus::AmlHold),
    rule(Some("AML_CHECK_FAILED"), None, PaymentStatus::Failed),
    rule(Some("CANCELLED"), None, PaymentStatus::Failed),
    rule(Some("COMPLETED"), Some("OVERPAID"), PaymentStatus::Overpaid),
    rule(Some("COMPLETED"), None, PaymentStatus::Paid),
    rule(
        Some("EXPIRED"),
        Some("UNDERPAID"),
        PaymentStatus::UnderpaidClosed,
    ),
    rule(Some("EXPIRED"), None, PaymentStatus::Expired),
    rule(None, Some("UNDERPAID"), PaymentStatus::UnderpaidOpen),
    rule(None, None, PaymentStatus::AwaitingPayment),
];

/// Canonical → AlpPay `status` and `displayStatus`. AlpPay has no failed or refunded state;
/// a failed payment reads as the old `CANCELLED`, refunds as completed `[inferred]`.
pub const STATUS_OUT: &[(PaymentStatus, &str, &str)] = &[
    (PaymentStatus::AwaitingPayment, "OPEN", "OPEN"),
    (PaymentStatus::Confirming, "OPEN", "OPEN"),
    (PaymentStatus::UnderpaidOpen, "OPEN", "UNDERPAID"),
    (PaymentStatus::AmlHold, "OPEN", "AML_CHECK_DANGER"),
    (PaymentStatus::Paid, "COMPLETED", "COMPLETED"),
    (PaymentStatus::RefundPending, "COMPLETED", "COMPLETED"),
    (PaymentStatus::Refunded, "COMPLETED", "COMPLETED"),
    (PaymentStatus::RefundFailed, "COMPLETED", "COMPLETED"),
    (PaymentStatus::Overpaid, "COMPLETED", "OVERPAID"),
    (PaymentStatus::UnderpaidClosed, "EXPIRED", "UNDERPAID"),
    (PaymentStatus::Expired, "EXPIRED", "EXPIRED"),
    (PaymentStatus::Failed, "CANCELLED", "EXPIRED"),
];

fn status_from_wire(status: &str, display: Option<&str>) -> PaymentStatus {
    let matches = |want: Option<&str>, got: Option<&str>| {
        want.is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
    };
    STATUS_IN
        .iter()
        .find(|r| matches(r.status, Some(status)) && matches(r.display_status, display))
        .map_or(PaymentStatus::AwaitingPayment, |r| r.canonical)
}

fn status_to_wire(status: PaymentStatus) -> (&'static str, &'static str) {
    STATUS_OUT
        .iter()
        .find(|(canonical, _, _)| *canonical == status)
        .map_or(("OPEN", "OPEN"), |(_, s, d)| (*s, *d))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    amount: DecimalText,
    asset: AssetIn,
    customer: CustomerIn,
    client_id: Option<String>,
    invoice: Option<String>,
    checkout_url: Option<String>,
}

#[derive(Deserialize)]
struct AssetIn {
    short: String,
    network: String,
}

#[derive(Deserialize)]
struct CustomerIn {
    id: LooseId,
    name: String,
    email: String,
}

/// The documented field order; AlpPay may re-marshal before checking the signature.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateOut<'a> {
    amount: &'a str,
    asset: AssetOut<'a>,
    customer: CustomerOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout_url: Option<&'a str>,
}

#[derive(Serialize)]
struct AssetOut<'a> {
    short: &'a str,
    network: &'a str,
}

#[derive(Serialize)]
struct CustomerOut<'a> {
    id: u64,
    name: &'a str,
    email: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentIn {
    id: LooseId,
    #[serde(default)]
    transactions: Option<Vec<TransactionIn>>,
    amount: Option<DecimalText>,
    total_received_amount: Option<DecimalText>,
    asset: Option<AssetEcho>,
    address_to: Option<String>,
    dest_tag: Option<LooseId>,
    timeout: Option<u64>,
    status: String,
    display_status: Option<String>,
    invoice: Option<String>,
    payment_redirect_url: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct AssetEcho {
    short: Option<String>,
    network: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionIn {
    txn_id: Option<String>,
    received_amount: Option<DecimalText>,
    asset: Option<AssetEcho>,
    address_from: Option<String>,
    address_to: Option<String>,
    date: Option<String>,
}

#[derive(Deserialize)]
struct Wrapped {
    data: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct ErrorIn {
    message: Option<String>,
    error: Option<serde_json::Value>,
    code: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentOut<'a> {
    id: &'a str,
    transactions: Vec<TransactionOut<'a>>,
    amount: &'a str,
    total_received_amount: &'a str,
    asset: AssetFull<'a>,
    address_to: Option<&'a str>,
    dest_tag: Option<&'a str>,
    confirms_needed: Option<u64>,
    timeout: Option<i64>,
    checkout_url: Option<&'a str>,
    status: &'static str,
    display_status: &'static str,
    customer: CustomerEcho<'a>,
    merchant: MerchantEcho<'a>,
    invoice: Option<&'a str>,
    payment_redirect_url: Option<&'a str>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssetFull<'a> {
    short: &'a str,
    name: &'a str,
    logo_url: Option<&'a str>,
    network: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransactionOut<'a> {
    payment_id: &'a str,
    txn_id: Option<&'a str>,
    received_amount: Option<&'a str>,
    asset: AssetFull<'a>,
    dest_tag: Option<&'a str>,
    address_from: Option<&'a str>,
    address_to: Option<&'a str>,
    date: Option<String>,
}

#[derive(Serialize)]
struct CustomerEcho<'a> {
    id: serde_json::Value,
    name: Option<&'a str>,
    email: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MerchantEcho<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    site_url: Option<&'a str>,
    logo_url: Option<&'a str>,
    email: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    errors: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

/// AlpPay wants an integer customer id; a non-numeric one (or none) is replaced by a stable
/// 53-bit number derived from it (or from the order reference), so retries map to the same id.
fn customer_id_for_alppay(request: &CreatePayment, request_id: &str) -> (u64, Option<Note>) {
    const JS_SAFE: u64 = (1 << 53) - 1;
    if let Some(n) = request
        .customer
        .id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok())
        && n <= JS_SAFE
    {
        return (n, None);
    }
    let seed = request
        .customer
        .id
        .as_deref()
        .or(request.client_id.as_deref())
        .or(request.order_ref.as_deref())
        .unwrap_or(request_id);
    let digest = Sha256::digest(seed.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let id = (u64::from_be_bytes(first) & JS_SAFE).max(1);
    let note = Note {
        field: "customer.id".into(),
        action: NoteAction::Derived,
        detail: format!("AlpPay needs an integer customer id; derived {id} from \"{seed}\""),
    };
    (id, Some(note))
}

impl Codec for AlpPay {
    fn dialect(&self) -> Dialect {
        Dialect::AlpPay
    }

    fn key_header(&self) -> &'static str {
        KEY_HEADER
    }

    fn create_path(&self) -> &'static str {
        "/payment"
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
        super::verify_signature_header(
            headers,
            SIGNATURE_HEADER,
            "the body and the HMAC secret",
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
        let amount = Amount::parse(&wire.amount.0)
            .map_err(|e| ApiError::field("amount", "validation.decimal", format!("amount {e}")))?;
        text_field(self, "currency", &wire.asset.short, 32)?;
        let network = networks
            .to_canonical(Dialect::AlpPay, &wire.asset.network)
            .ok_or_else(|| {
                ApiError::field(
                    "network",
                    "validation.in",
                    format!(
                        "asset.network \"{}\" is not a known network",
                        wire.asset.network
                    ),
                )
            })?;
        for (field, value) in [
            ("customer.id", Some(&wire.customer.id.0)),
            ("customer.name", Some(&wire.customer.name)),
            ("customer.email", Some(&wire.customer.email)),
            ("order_ref", wire.invoice.as_ref()),
            ("return_url", wire.checkout_url.as_ref()),
            ("client_id", wire.client_id.as_ref()),
        ] {
            if let Some(v) = value {
                text_field(self, field, v, facts::MAX_TEXT_FIELD)?;
            }
        }
        Ok(CreatePayment {
            order_ref: wire.invoice,
            amount,
            currency: wire.asset.short.to_ascii_uppercase(),
            pay_currency: None,
            network: Some(network.to_owned()),
            lifetime_secs: None,
            callbacks: Default::default(),
            return_url: wire.checkout_url,
            success_url: None,
            customer: Customer {
                id: Some(wire.customer.id.0),
                name: Some(wire.customer.name),
                email: Some(wire.customer.email),
            },
            client_id: wire.client_id,
            description: None,
            tolerance_percent: None,
            allow_partial: None,
            nonce: None,
            unportable: Vec::new(),
        })
    }

    fn render_create(
        &self,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Rendered, ApiError> {
        let mut notes = super::common_refusals(request, Dialect::AlpPay)?;
        let network = super::target_network(request, Dialect::AlpPay, context, &mut notes)?;
        let (customer_id, id_note) = customer_id_for_alppay(request, context.request_id);
        notes.extend(id_note);
        let name = fill_customer(
            request.customer.name.as_deref(),
            context.merchant.default_customer_name.as_deref(),
            "customer.name",
            &mut notes,
        )?;
        let email = fill_customer(
            request.customer.email.as_deref(),
            context.merchant.default_customer_email.as_deref(),
            "customer.email",
            &mut notes,
        )?;
        for (present, field, why) in [
            (
                request.lifetime_secs.is_some(),
                "lifetime",
                "AlpPay chooses the invoice timeout itself",
            ),
            (
                !request.callbacks.is_empty(),
                "callback",
                "AlpPay sends webhooks to an account-level URL, not one per payment",
            ),
            (
                request.success_url.is_some(),
                "success_url",
                "AlpPay has no success URL besides checkoutUrl",
            ),
            (
                request.description.is_some(),
                "description",
                "AlpPay has no description field",
            ),
            (
                request.tolerance_percent.is_some(),
                "tolerance_percent",
                "AlpPay has no underpayment tolerance",
            ),
            (
                request.allow_partial.is_some(),
                "allow_partial",
                "AlpPay has no partial-payment switch",
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
            amount: request.amount.as_str(),
            asset: AssetOut {
                short: &request.currency,
                network,
            },
            customer: CustomerOut {
                id: customer_id,
                name,
                email,
            },
            client_id: request.client_id.as_deref(),
            invoice: request.order_ref.as_deref(),
            checkout_url: request.return_url.as_deref(),
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
        if !(200..300).contains(&status) {
            return Err(upstream_error(status, body));
        }
        // The create answer is a bare object; the get answer wraps it in `{"data": …}`.
        let wire: PaymentIn = match serde_json::from_slice::<PaymentIn>(body) {
            Ok(payment) => payment,
            Err(bare_error) => serde_json::from_slice::<Wrapped>(body)
                .ok()
                .and_then(|w| serde_json::from_str::<PaymentIn>(w.data.get()).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::UpstreamInvalid,
                        format!("AlpPay answered with an unexpected payment object: {bare_error}"),
                    )
                })?,
        };
        let created_at = wire.created_at.as_deref().and_then(wire::parse_time);
        // An absurd timeout (past the calendar's end) leaves the expiry unknown, not a panic.
        let expires_at = match (created_at, wire.timeout) {
            (Some(c), Some(t)) => i64::try_from(t)
                .ok()
                .and_then(|t| c.checked_add(Duration::seconds(t))),
            _ => None,
        };
        let (currency, network) = match &wire.asset {
            Some(a) => (
                a.short.clone(),
                networks.canonical_owned(Dialect::AlpPay, a.network.as_deref()),
            ),
            None => (None, None),
        };
        let transactions = wire
            .transactions
            .unwrap_or_default()
            .into_iter()
            .map(|t| Transaction {
                tx_hash: t.txn_id,
                amount: wire::quantity(t.received_amount),
                currency: t.asset.as_ref().and_then(|a| a.short.clone()),
                network: networks.canonical_owned(
                    Dialect::AlpPay,
                    t.asset.as_ref().and_then(|a| a.network.as_deref()),
                ),
                from: t.address_from,
                to: t.address_to,
                confirmations: None,
                at: t.date.as_deref().and_then(wire::parse_time),
            })
            .collect();
        Ok(Payment {
            provider_id: wire.id.0,
            order_ref: wire.invoice,
            status: status_from_wire(&wire.status, wire.display_status.as_deref()),
            provider_status: wire.status,
            amount: wire::quantity(wire.amount),
            received: wire::quantity(wire.total_received_amount),
            currency,
            network,
            address: wire.address_to,
            address_tag: wire.dest_tag.map(|t| t.0),
            payment_url: wire.payment_redirect_url,
            expires_at,
            created_at,
            updated_at: wire.updated_at.as_deref().and_then(wire::parse_time),
            transactions,
        })
    }

    fn render_create_response(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        let (status, display_status) = status_to_wire(payment.status);
        let currency = payment.currency.as_deref().unwrap_or(&request.currency);
        let chain = payment.network.as_deref().or(request.network.as_deref());
        let network = chain.and_then(|c| context.networks.from_canonical(Dialect::AlpPay, c));
        let asset = || AssetFull {
            short: currency,
            name: facts::asset_display_name(currency),
            logo_url: None,
            network: network.or(chain),
        };
        // An expiry before creation (inconsistent upstream data) reads as already timed out.
        let timeout = match (payment.created_at, payment.expires_at) {
            (Some(c), Some(e)) => Some((e - c).whole_seconds().max(0)),
            _ => None,
        };
        let customer_id = match request.customer.id.as_deref() {
            Some(id) => id
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::from(id)),
            None => serde_json::Value::Null,
        };
        let out = PaymentOut {
            id: &payment.provider_id,
            transactions: payment
                .transactions
                .iter()
                .map(|t| TransactionOut {
                    payment_id: &payment.provider_id,
                    txn_id: t.tx_hash.as_deref(),
                    received_amount: t.amount.as_ref().map(Quantity::as_str),
                    asset: asset(),
                    dest_tag: payment.address_tag.as_deref(),
                    address_from: t.from.as_deref(),
                    address_to: t.to.as_deref().or(payment.address.as_deref()),
                    date: t.at.map(wire::format_seconds_z),
                })
                .collect(),
            amount: payment
                .amount
                .as_ref()
                .map(Quantity::as_str)
                .unwrap_or(request.amount.as_str()),
            total_received_amount: payment
                .received
                .as_ref()
                .map(Quantity::as_str)
                .unwrap_or("0"),
            asset: asset(),
            address_to: payment.address.as_deref(),
            dest_tag: payment.address_tag.as_deref(),
            confirms_needed: None,
            timeout,
            checkout_url: request.return_url.as_deref(),
            status,
            display_status,
            customer: CustomerEcho {
                id: customer_id,
                name: request.customer.name.as_deref(),
                email: request.customer.email.as_deref(),
            },
            merchant: MerchantEcho {
                id: None,
                name: context.merchant.name.as_deref(),
                site_url: context.merchant.site_url.as_deref(),
                logo_url: context.merchant.logo_url.as_deref(),
                email: context.merchant.email.as_deref(),
            },
            invoice: request.order_ref.as_deref(),
            payment_redirect_url: payment.payment_url.as_deref(),
            created_at: payment.created_at.map(wire::format_seconds_z),
            updated_at: payment
                .updated_at
                .or(payment.created_at)
                .map(wire::format_seconds_z),
        };
        wire::to_compact_json(&out).into_bytes()
    }

    fn render_error(&self, error: &ApiError, request_id: &str) -> (u16, Vec<u8>) {
        let status = super::caller_status(error);
        let mut errors = serde_json::Map::new();
        for f in &error.fields {
            let entry = errors
                .entry(self.field_name(&f.field).to_owned())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(list) = entry {
                list.push(serde_json::Value::from(f.rule.clone()));
            }
        }
        let body = ErrorOut {
            code: error.kind.label(),
            message: &error.message,
            errors,
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

/// Fills a customer field AlpPay requires from the request, else the merchant profile.
fn fill_customer<'a>(
    from_request: Option<&'a str>,
    from_profile: Option<&'a str>,
    field: &str,
    notes: &mut Vec<Note>,
) -> Result<&'a str, ApiError> {
    if let Some(v) = from_request {
        return Ok(v);
    }
    match from_profile {
        Some(v) => {
            notes.push(Note {
                field: field.into(),
                action: NoteAction::Filled,
                detail: "from the merchant profile's default customer".into(),
            });
            Ok(v)
        }
        None => Err(ApiError::untranslatable(
            "customer_required",
            format!(
                "AlpPay requires {field}, which this request does not carry and the merchant profile \
             has no default for (set profile.default_customer)"
            ),
        )),
    }
}

/// Reads an AlpPay error answer. Its error body is undocumented `[unknown]`, so `message`,
/// `error` and `code` are tried in turn and the raw text is the last resort.
fn upstream_error(status: u16, body: &[u8]) -> ApiError {
    let text = match serde_json::from_slice::<ErrorIn>(body) {
        Ok(e) => e
            .message
            .or_else(|| e.error.map(|v| value_text(&v)))
            .or_else(|| e.code.map(|v| value_text(&v)))
            .unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    super::upstream_status_error(Dialect::AlpPay, status, text, Vec::new())
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
