//! Cryptomus (`https://api.cryptomus.com/v1`; NearPayments serves the same dialect under
//! `/cryptomus/v1`): `merchant` + `sign` = md5(base64(raw body) ‖ payment key),
//! `{"state":0,"result":…}` envelopes. Dialect reference §2.

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{ApiError, ErrorKind, FieldError};
use crate::facts;
use crate::model::{CreatePayment, Customer, Payment, PaymentStatus, Transaction, Unportable};
use crate::money::{Amount, Quantity};
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::signature;

use super::wire::{self, DecimalText, LooseBool, LooseId, LooseU64, parse_json, text_field};
use super::{Codec, Dialect, Note, NoteAction, RenderContext, Rendered};

pub struct Cryptomus;

pub const KEY_HEADER: &str = "merchant";
pub const SIGNATURE_HEADER: &str = "sign";

/// Canonical field name ↔ Cryptomus field name.
pub const FIELDS: &[(&str, &str)] = &[
    ("order_ref", "order_id"),
    ("pay_currency", "to_currency"),
    ("callback", "url_callback"),
    ("return_url", "url_return"),
    ("success_url", "url_success"),
    ("description", "additional_data"),
    ("tolerance_percent", "accuracy_payment_percent"),
    ("allow_partial", "is_payment_multiple"),
];

/// Cryptomus `status` → canonical: `[docs]` words, `[inferred]` grouping (§2d, §5.5). Words
/// not listed (and `check`/`process`) read as awaiting payment; comparison ignores case.
pub const STATUS_IN: &[(&str, PaymentStatus)] = &[
    ("check", PaymentStatus::AwaitingPayment),
    ("process", PaymentStatus::AwaitingPayment),
    ("confirm_check", PaymentStatus::Confirming),
    ("wrong_amount_waiting", PaymentStatus::UnderpaidOpen),
    ("paid", PaymentStatus::Paid),
    ("paid_over", PaymentStatus::Overpaid),
    ("wrong_amount", PaymentStatus::UnderpaidClosed),
    ("cancel", PaymentStatus::Expired),
    ("fail", PaymentStatus::Failed),
    ("system_fail", PaymentStatus::Failed),
    ("locked", PaymentStatus::AmlHold),
    ("refund_process", PaymentStatus::RefundPending),
    ("refund_paid", PaymentStatus::Refunded),
    ("refund_fail", PaymentStatus::RefundFailed),
];

/// Canonical → the Cryptomus word payglot writes in both `status` and `payment_status`.
pub const STATUS_OUT: &[(PaymentStatus, &str)] = &[
    (PaymentStatus::AwaitingPayment, "check"),
    (PaymentStatus::Confirming, "confirm_check"),
    (PaymentStatus::UnderpaidOpen, "wrong_amount_waiting"),
    (PaymentStatus::Paid, "paid"),
    (PaymentStatus::Overpaid, "paid_over"),
    (PaymentStatus::UnderpaidClosed, "wrong_amount"),
    (PaymentStatus::Expired, "cancel"),
    (PaymentStatus::Failed, "fail"),
    (PaymentStatus::AmlHold, "locked"),
    (PaymentStatus::RefundPending, "refund_process"),
    (PaymentStatus::Refunded, "refund_paid"),
    (PaymentStatus::RefundFailed, "refund_fail"),
];

fn status_from_wire(status: &str) -> PaymentStatus {
    STATUS_IN
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(status))
        .map_or(PaymentStatus::AwaitingPayment, |(_, canonical)| *canonical)
}

fn status_to_wire(status: PaymentStatus) -> &'static str {
    STATUS_OUT
        .iter()
        .find(|(canonical, _)| *canonical == status)
        .map_or("check", |(_, word)| *word)
}

#[derive(Deserialize)]
struct CreateIn {
    amount: DecimalText,
    currency: String,
    order_id: String,
    network: Option<String>,
    url_return: Option<String>,
    url_success: Option<String>,
    url_callback: Option<String>,
    is_payment_multiple: Option<LooseBool>,
    lifetime: Option<LooseU64>,
    to_currency: Option<String>,
    subtract: Option<DecimalText>,
    accuracy_payment_percent: Option<DecimalText>,
    additional_data: Option<String>,
    currencies: Option<Vec<CurrencyChoice>>,
    except_currencies: Option<Vec<CurrencyChoice>>,
    course_source: Option<String>,
    from_referral_code: Option<String>,
    discount_percent: Option<DecimalText>,
    is_refresh: Option<LooseBool>,
}

#[derive(Deserialize)]
struct CurrencyChoice {
    #[serde(rename = "currency")]
    _currency: String,
    #[serde(rename = "network")]
    _network: Option<String>,
}

/// The documented field order, PHP-encoded on the way out.
#[derive(Serialize)]
struct CreateOut<'a> {
    amount: &'a str,
    currency: &'a str,
    order_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url_return: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url_success: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url_callback: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_payment_multiple: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy_payment_percent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_data: Option<&'a str>,
}

#[derive(Deserialize)]
struct Envelope {
    state: Option<i64>,
    result: Option<Box<serde_json::value::RawValue>>,
    message: Option<String>,
    errors: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct InvoiceIn {
    uuid: String,
    order_id: Option<String>,
    amount: Option<DecimalText>,
    payment_amount: Option<DecimalText>,
    payer_currency: Option<String>,
    currency: Option<String>,
    network: Option<String>,
    address: Option<String>,
    from: Option<String>,
    txid: Option<String>,
    url: Option<String>,
    expired_at: Option<LooseId>,
    status: Option<String>,
    payment_status: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Serialize)]
struct Answer<'a> {
    state: u8,
    result: InvoiceOut<'a>,
}

#[derive(Serialize)]
struct InvoiceOut<'a> {
    uuid: &'a str,
    order_id: Option<&'a str>,
    amount: &'a str,
    payment_amount: Option<&'a str>,
    payer_amount: Option<&'a str>,
    discount_percent: Option<u8>,
    discount: Option<&'a str>,
    payer_currency: Option<&'a str>,
    currency: &'a str,
    comments: Option<&'a str>,
    merchant_amount: Option<&'a str>,
    network: Option<&'a str>,
    address: Option<&'a str>,
    from: Option<&'a str>,
    txid: Option<&'a str>,
    payment_status: &'static str,
    url: Option<&'a str>,
    expired_at: Option<i64>,
    status: &'static str,
    is_final: bool,
    additional_data: Option<&'a str>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

/// Cryptomus's error envelope (dialects.md §2e): `{"state":1,"message":…}` or, for
/// validation errors, `{"state":1,"errors":{field:[rule…]}}` — never both: the SDKs (S-cmpy,
/// S-cmphp, S-pycm) read `message` first and surface `errors` only when there is no `message`.
#[derive(Serialize)]
struct ErrorOut<'a> {
    state: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    errors: serde_json::Map<String, serde_json::Value>,
}

/// The shortest `url_*` value Cryptomus accepts `[docs]` (6–255 characters).
const CRYPTOMUS_URL_MIN: usize = 6;

/// Whether a reference is a legal Cryptomus `order_id`: 1–128 of `[A-Za-z0-9_-]`.
pub fn is_legal_order_id(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= facts::CRYPTOMUS_ORDER_ID_MAX
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A legal `order_id` for any merchant reference, deterministic so a retried create maps to the
/// same invoice (Cryptomus is idempotent on it): a legal reference is kept; any other becomes its
/// legal characters (others as `-`, at most 100) plus `-` and 16 hex of its SHA-256, so two
/// references that sanitise alike still differ.
pub fn derive_order_id(reference: &str) -> String {
    if is_legal_order_id(reference) {
        return reference.to_owned();
    }
    let mut sanitised = String::with_capacity(reference.len().min(100));
    for c in reference.chars() {
        if sanitised.len() >= 100 {
            break;
        }
        let legal = c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let next = if legal { c } else { '-' };
        // Collapse runs of replaced characters so "Order #1" reads as "Order-1".
        if next == '-' && sanitised.ends_with('-') {
            continue;
        }
        sanitised.push(next);
    }
    let trimmed = sanitised.trim_matches('-');
    let digest = hex::encode(&Sha256::digest(reference.as_bytes())[..8]);
    if trimmed.is_empty() {
        format!("ref-{digest}")
    } else {
        format!("{trimmed}-{digest}")
    }
}

fn unportable(field: &'static str, affects_money: bool, why: &'static str) -> Unportable {
    Unportable {
        field,
        affects_money,
        why,
    }
}

fn check_range(
    canonical: &str,
    value: &DecimalText,
    min: i64,
    max: i64,
) -> Result<String, ApiError> {
    let parsed: Option<rust_decimal::Decimal> = value.0.parse().ok();
    let name = Cryptomus.field_name(canonical);
    match parsed {
        Some(d) if d >= min.into() && d <= max.into() => Ok(value.0.clone()),
        _ => Err(ApiError::field(
            canonical,
            "validation.between.numeric",
            format!("{name} must be a number between {min} and {max}"),
        )),
    }
}

impl Codec for Cryptomus {
    fn dialect(&self) -> Dialect {
        Dialect::Cryptomus
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
            "the body and the payment key",
            |claimed| signature::verify_cryptomus_sign(secret, body, claimed),
        )
    }

    fn sign(&self, body: &[u8], credentials: &Credentials) -> Vec<(&'static str, String)> {
        let signature = signature::cryptomus_sign(credentials.secret.expose().as_bytes(), body);
        super::auth_headers(KEY_HEADER, credentials, SIGNATURE_HEADER, signature)
    }

    fn parse_create(
        &self,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<CreatePayment, ApiError> {
        let wire: CreateIn = parse_json(body, self)?;
        let amount = Amount::parse(&wire.amount.0)
            .map_err(|e| ApiError::field("amount", "validation.numeric", format!("amount {e}")))?;
        text_field(self, "currency", &wire.currency, 32)?;
        if let Some(to) = &wire.to_currency {
            text_field(self, "pay_currency", to, 32)?;
        }
        if !is_legal_order_id(&wire.order_id) {
            return Err(ApiError::field(
                "order_ref",
                "validation.alpha_dash",
                "order_id must be 1–128 letters, digits, '_' or '-'",
            ));
        }
        let network = match &wire.network {
            Some(name) => Some(
                networks
                    .to_canonical(Dialect::Cryptomus, name)
                    .ok_or_else(|| {
                        ApiError::field(
                            "network",
                            "validation.in",
                            format!("network \"{name}\" is not a known network"),
                        )
                    })?
                    .to_owned(),
            ),
            None => None,
        };
        let lifetime = match wire.lifetime {
            Some(LooseU64(l)) => {
                let (min, max) = facts::CRYPTOMUS_LIFETIME;
                if !(min..=max).contains(&l) {
                    return Err(ApiError::field(
                        "lifetime",
                        "validation.between.numeric",
                        format!("lifetime must be between {min} and {max} seconds"),
                    ));
                }
                Some(l)
            }
            None => None,
        };
        for (field, value) in [
            ("callback", &wire.url_callback),
            ("return_url", &wire.url_return),
            ("success_url", &wire.url_success),
        ] {
            if let Some(url) = value {
                if url.chars().count() < CRYPTOMUS_URL_MIN {
                    return Err(ApiError::field(
                        field,
                        "validation.min.string",
                        format!(
                            "{} must be at least {CRYPTOMUS_URL_MIN} characters",
                            self.field_name(field)
                        ),
                    ));
                }
                text_field(self, field, url, facts::MAX_TEXT_FIELD)?;
            }
        }
        if let Some(data) = &wire.additional_data {
            text_field(self, "description", data, facts::MAX_TEXT_FIELD)?;
        }
        let tolerance = wire
            .accuracy_payment_percent
            .as_ref()
            .map(|v| check_range("tolerance_percent", v, 0, 5))
            .transpose()?;
        let mut unportable_fields = Vec::new();
        if let Some(v) = &wire.subtract {
            check_range("subtract", v, 0, 100)?;
            unportable_fields.push(unportable(
                "subtract",
                true,
                "it moves the provider fee between payer and merchant",
            ));
        }
        if let Some(v) = &wire.discount_percent {
            check_range("discount_percent", v, -99, 90)?;
            unportable_fields.push(unportable(
                "discount_percent",
                true,
                "it changes the amount the payer pays",
            ));
        }
        if wire.currencies.is_some() || wire.except_currencies.is_some() {
            unportable_fields.push(unportable(
                "currencies",
                false,
                "the target invoices one coin on one network, so there is no list to restrict",
            ));
        }
        for (present, field, why) in [
            (
                wire.course_source.is_some(),
                "course_source",
                "exchange-rate source applies only to Cryptomus conversions",
            ),
            (
                wire.from_referral_code.is_some(),
                "from_referral_code",
                "Cryptomus referral programme only",
            ),
            (
                wire.is_refresh.is_some(),
                "is_refresh",
                "Cryptomus invoice refresh only",
            ),
        ] {
            if present {
                unportable_fields.push(unportable(field, false, why));
            }
        }
        let currency = wire.currency.to_ascii_uppercase();
        Ok(CreatePayment {
            order_ref: Some(wire.order_id),
            amount,
            pay_currency: wire.to_currency.map(|c| c.to_ascii_uppercase()),
            currency,
            network,
            lifetime_secs: lifetime,
            callbacks: crate::model::Callbacks {
                success: wire.url_callback,
                failure: None,
            },
            return_url: wire.url_return,
            success_url: wire.url_success,
            customer: Customer::default(),
            client_id: None,
            description: wire.additional_data,
            tolerance_percent: tolerance,
            allow_partial: wire.is_payment_multiple.map(|b| b.0),
            nonce: None,
            unportable: unportable_fields,
        })
    }

    fn render_create<'a>(
        &self,
        request: &'a CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Rendered, ApiError> {
        let mut notes = super::common_refusals(request, Dialect::Cryptomus)?;
        // Cryptomus lets the payer pick the network when none is given.
        let network = match &request.network {
            Some(_) => Some(super::target_network(
                request,
                Dialect::Cryptomus,
                context,
                &mut notes,
            )?),
            None => None,
        };
        let reference = super::required_order_ref(request, context, "order_id", &mut notes);
        let order_id = derive_order_id(&reference);
        if order_id != reference {
            notes.push(Note {
                field: "order_id".into(),
                action: NoteAction::Derived,
                detail: format!(
                    "\"{reference}\" is not a legal Cryptomus order_id; sent \"{order_id}\""
                ),
            });
        }
        let lifetime = request.lifetime_secs.map(|l| {
            super::clamp_lifetime(l, facts::CRYPTOMUS_LIFETIME, Dialect::Cryptomus, &mut notes)
        });
        let tolerance = request.tolerance_percent.as_deref().map(|t| {
            let within = t
                .parse::<rust_decimal::Decimal>()
                .is_ok_and(|d| d <= 5.into());
            if within {
                t
            } else {
                notes.push(Note {
                    field: "accuracy_payment_percent".into(),
                    action: NoteAction::Clamped,
                    detail: format!("tolerance {t}% is above Cryptomus's 5%; sent 5"),
                });
                "5"
            }
        });
        let callback = request
            .callbacks
            .success
            .as_deref()
            .or(request.callbacks.failure.as_deref());
        if request.callbacks.failure.is_some()
            && request.callbacks.failure != request.callbacks.success
            && request.callbacks.success.is_some()
        {
            notes.push(Note {
                field: "errorWebhook".into(),
                action: NoteAction::Dropped,
                detail: "Cryptomus has one url_callback for every status".into(),
            });
        }
        for (present, field, why) in [
            (
                request.client_id.is_some(),
                "client_id",
                "Cryptomus invoices have no payer identity (static wallets are a separate API)",
            ),
            (
                request.customer != Customer::default(),
                "customer",
                "Cryptomus invoices carry no customer",
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
        // Cryptomus refuses URLs under 6 characters (as payglot does when it reads them); other
        // dialects take any text, so such a value is left out rather than sent to be refused.
        let mut url = |value: Option<&'a str>, field: &str| match value {
            Some(v) if v.chars().count() < CRYPTOMUS_URL_MIN => {
                notes.push(Note {
                    field: field.into(),
                    action: NoteAction::Dropped,
                    detail: format!("\"{v}\" is shorter than Cryptomus's {CRYPTOMUS_URL_MIN}-character minimum for URLs"),
                });
                None
            }
            other => other,
        };
        let url_return = url(request.return_url.as_deref(), "url_return");
        let url_success = url(request.success_url.as_deref(), "url_success");
        let url_callback = url(callback, "url_callback");
        let out = CreateOut {
            amount: request.amount.as_str(),
            currency: &request.currency,
            order_id: &order_id,
            network,
            url_return,
            url_success,
            url_callback,
            is_payment_multiple: request.allow_partial,
            lifetime,
            to_currency: request.pay_currency.as_deref(),
            accuracy_payment_percent: tolerance,
            additional_data: request.description.as_deref(),
        };
        let body = signature::php_json_escape(&wire::to_compact_json(&out));
        Ok(Rendered {
            body: body.into_bytes(),
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
                    format!("Cryptomus answered with something other than its envelope: {e}"),
                ));
            }
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(super::upstream_status_error(
                    Dialect::Cryptomus,
                    status,
                    text,
                    Vec::new(),
                ));
            }
        };
        let ok = (200..300).contains(&status) && envelope.state == Some(0);
        let result = match (ok, envelope.result) {
            (true, Some(result)) => result,
            // A success without the invoice is not Cryptomus's format, not a refusal.
            (true, None) => {
                return Err(ApiError::new(
                    ErrorKind::UpstreamInvalid,
                    "Cryptomus answered state 0 without a result",
                ));
            }
            (false, _) => {
                let fields = self.upstream_fields(envelope.errors.as_ref());
                let text = envelope.message.unwrap_or_else(|| {
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", self.field_name(&f.field), f.rule))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                // Cryptomus reports business errors with state 1, sometimes under HTTP 200.
                let status = if (200..300).contains(&status) {
                    422
                } else {
                    status
                };
                return Err(super::upstream_status_error(
                    Dialect::Cryptomus,
                    status,
                    text,
                    fields,
                ));
            }
        };
        let invoice: InvoiceIn = serde_json::from_str(result.get()).map_err(|e| {
            ApiError::new(
                ErrorKind::UpstreamInvalid,
                format!("Cryptomus answered with an unexpected invoice: {e}"),
            )
        })?;
        let status_word = invoice
            .status
            .or(invoice.payment_status)
            .unwrap_or_else(|| "check".to_owned());
        let network = networks.canonical_owned(Dialect::Cryptomus, invoice.network.as_deref());
        let transaction = (invoice.txid.is_some() || invoice.from.is_some()).then(|| Transaction {
            tx_hash: invoice.txid.clone(),
            amount: None,
            currency: invoice.payer_currency.clone(),
            network: network.clone(),
            from: invoice.from.clone(),
            to: invoice.address.clone(),
            confirmations: None,
            at: None,
        });
        Ok(Payment {
            provider_id: invoice.uuid,
            order_ref: invoice.order_id,
            status: status_from_wire(&status_word),
            provider_status: status_word,
            amount: wire::quantity(invoice.amount),
            received: wire::quantity(invoice.payment_amount),
            currency: invoice.payer_currency.or(invoice.currency),
            network,
            address: invoice.address,
            address_tag: None,
            payment_url: invoice.url,
            expires_at: invoice
                .expired_at
                .and_then(|t| t.0.parse::<i64>().ok())
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
            created_at: invoice.created_at.as_deref().and_then(wire::parse_time),
            updated_at: invoice.updated_at.as_deref().and_then(wire::parse_time),
            transactions: transaction.into_iter().collect(),
        })
    }

    fn render_create_response(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        let status = status_to_wire(payment.status);
        let chain = payment.network.as_deref().or(request.network.as_deref());
        let network = chain.map(|c| {
            context
                .networks
                .from_canonical(Dialect::Cryptomus, c)
                .unwrap_or(c)
        });
        let last_tx = payment.transactions.last();
        let amount = payment.amount.as_ref().map(Quantity::as_str);
        let out = Answer {
            state: 0,
            result: InvoiceOut {
                uuid: &payment.provider_id,
                order_id: request.order_ref.as_deref(),
                amount: request.amount.as_str(),
                payment_amount: payment.received.as_ref().map(Quantity::as_str),
                payer_amount: amount,
                discount_percent: None,
                discount: None,
                payer_currency: payment.currency.as_deref(),
                currency: &request.currency,
                comments: None,
                merchant_amount: None,
                network,
                address: payment.address.as_deref(),
                from: last_tx.and_then(|t| t.from.as_deref()),
                txid: last_tx.and_then(|t| t.tx_hash.as_deref()),
                payment_status: status,
                url: payment.payment_url.as_deref(),
                expired_at: payment.expires_at.map(OffsetDateTime::unix_timestamp),
                status,
                is_final: payment.status.is_final(),
                additional_data: request.description.as_deref(),
                created_at: payment.created_at.map(wire::format_offset),
                updated_at: payment
                    .updated_at
                    .or(payment.created_at)
                    .map(wire::format_offset),
            },
        };
        signature::php_json_escape(&wire::to_compact_json(&out)).into_bytes()
    }

    fn render_error(&self, error: &ApiError, _request_id: &str) -> (u16, Vec<u8>) {
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
            state: 1,
            message: errors.is_empty().then_some(error.message.as_str()),
            errors,
        };
        (
            status,
            signature::php_json_escape(&wire::to_compact_json(&body)).into_bytes(),
        )
    }

    fn field_name<'f>(&self, canonical: &'f str) -> &'f str {
        super::lookup_field(FIELDS, canonical, true)
    }

    fn canonical_field<'f>(&self, field: &'f str) -> &'f str {
        super::lookup_field(FIELDS, field, false)
    }
}

impl Cryptomus {
    /// Reads `{"errors":{"field":["rule",…]}}` into canonical field errors.
    fn upstream_fields(&self, errors: Option<&serde_json::Value>) -> Vec<FieldError> {
        let Some(serde_json::Value::Object(map)) = errors else {
            return Vec::new();
        };
        let mut fields = Vec::new();
        for (name, rules) in map {
            let canonical = self.canonical_field(name).to_owned();
            let rules: Vec<String> = match rules {
                serde_json::Value::Array(list) => list
                    .iter()
                    .map(|r| {
                        r.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| r.to_string())
                    })
                    .collect(),
                other => vec![
                    other
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| other.to_string()),
                ],
            };
            for rule in rules {
                fields.push(FieldError {
                    field: canonical.clone(),
                    rule,
                });
            }
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_derived_deterministically_and_legally() {
        assert_eq!(derive_order_id("order-42"), "order-42");
        let a = derive_order_id("Order #123456");
        assert!(a.starts_with("Order-123456-"), "{a}");
        assert!(is_legal_order_id(&a));
        assert_eq!(a, derive_order_id("Order #123456"));
        assert_ne!(a, derive_order_id("Order  123456"));
        let long = "x".repeat(300);
        assert!(is_legal_order_id(&derive_order_id(&long)));
        assert!(is_legal_order_id(&derive_order_id("###")));
        assert!(is_legal_order_id(&derive_order_id("Заказ №5")));
    }
}
