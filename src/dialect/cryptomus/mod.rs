//! Cryptomus (`https://api.cryptomus.com/v1`; NearPayments serves the same dialect under
//! `/cryptomus/v1`): `merchant` + `sign` = md5(base64(raw body) ‖ payment key),
//! `{"state":0,"result":…}` envelopes. Dialect reference §2.
//!
//! `wire` holds the wire types, `status` the status table, `sign` the signature scheme, `facts`
//! what is uncertain; this file is the codec: conversions to and from the canonical model.

pub mod facts;
mod lookup;
pub mod sign;
pub mod status;
pub mod webhook;
mod wire;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{ApiError, ErrorKind, FieldError};
use crate::field::{Field, FieldRef, FieldTable, NoteField};
use crate::model::{CreatePayment, Customer, Payment, Transaction, Unportable};
use crate::money::{Amount, Quantity};
use crate::network::NetworkTable;
use crate::secret::Credentials;

use super::encoding::{self, DecimalText, LooseU64, parse_json, text_field};
use super::{
    Call, Capabilities, Codec, Dialect, Found, Inbound, ListPage, Lookup, LookupKey, Note,
    NoteAction, Operation, ProviderInfo, RenderContext, Rendered, common,
};
use crate::translate::UpstreamRequest;
use status::{status_from_wire, status_to_wire};
use wire::{Answer, CreateIn, CreateOut, Envelope, ErrorOut, InvoiceIn, InvoiceOut};

pub struct Cryptomus;

pub const KEY_HEADER: &str = "merchant";
pub const SIGNATURE_HEADER: &str = "sign";

/// Canonical field ↔ Cryptomus field, for the fields it names differently.
pub const FIELDS: FieldTable = &[
    (Field::OrderRef, "order_id"),
    (Field::PayCurrency, "to_currency"),
    (Field::Callback, "url_callback"),
    (Field::ReturnUrl, "url_return"),
    (Field::SuccessUrl, "url_success"),
    (Field::Description, "additional_data"),
    (Field::TolerancePercent, "accuracy_payment_percent"),
    (Field::AllowPartial, "is_payment_multiple"),
];


/// Cryptomus as data: names, paths, chain and field names, headers, capabilities.
pub const INFO: ProviderInfo = ProviderInfo {
    name: "cryptomus",
    title: "Cryptomus",
    // NearPayments serves the Cryptomus dialect.
    aliases: &["nearpayments"],
    // The create call, at Cryptomus's own path and at NearPayments' `/cryptomus` prefix.
    inbound: &[
        Inbound {
            method: "POST",
            path: "/v1/payment",
            operation: Operation::CreatePayment,
        },
        Inbound {
            method: "POST",
            path: "/cryptomus/v1/payment",
            operation: Operation::CreatePayment,
        },
        Inbound {
            method: "POST",
            path: "/v1/payment/info",
            operation: Operation::LookupPayment,
        },
        Inbound {
            method: "POST",
            path: "/cryptomus/v1/payment/info",
            operation: Operation::LookupPayment,
        },
        Inbound {
            method: "POST",
            path: "/v1/payment/list",
            operation: Operation::ListPayments,
        },
        Inbound {
            method: "POST",
            path: "/cryptomus/v1/payment/list",
            operation: Operation::ListPayments,
        },
    ],
    path_prefixes: &["/v1", "/cryptomus"],
    networks: facts::NETWORKS,
    fields: FIELDS,
    key_header: KEY_HEADER,
    create_path: "/payment",
    capabilities: Capabilities {
        // `currency` may be fiat, converted into `to_currency` [docs].
        converts_fiat: true,
        body_nonce: false,
        lifetime_bounds: |_| Some(facts::LIFETIME),
        lookup_by_reference: true,
    },
};

/// Whether a reference is a legal Cryptomus `order_id`: 1–128 of `[A-Za-z0-9_-]`.
pub fn is_legal_order_id(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= facts::ORDER_ID_MAX
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
    let digest = crate::signature::lower_hex(&Sha256::digest(reference.as_bytes())[..8]);
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

fn is_zero(value: &str) -> bool {
    value
        .parse::<rust_decimal::Decimal>()
        .is_ok_and(|d| d.is_zero())
}

fn check_range(
    field: impl Into<FieldRef>,
    value: &DecimalText,
    min: i64,
    max: i64,
) -> Result<String, ApiError> {
    let field = field.into();
    let parsed: Option<rust_decimal::Decimal> = value.0.parse().ok();
    let name = Cryptomus.name_of(&field);
    match parsed {
        Some(d) if d >= min.into() && d <= max.into() => Ok(value.0.clone()),
        _ => Err(ApiError::field(
            field,
            "validation.between.numeric",
            format!("{name} must be a number between {min} and {max}"),
        )),
    }
}

impl Codec for Cryptomus {
    fn dialect(&self) -> Dialect {
        Dialect::Cryptomus
    }

    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn upstream_reference(&self, reference: &str) -> String {
        derive_order_id(reference)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
        common::verify_signature_header(
            headers,
            SIGNATURE_HEADER,
            "the body and the payment key",
            |claimed| sign::verify_cryptomus_sign(secret, body, claimed),
        )
    }

    fn sign(&self, body: &[u8], credentials: &Credentials) -> Vec<(&'static str, String)> {
        let signature = sign::cryptomus_sign(credentials.secret.expose().as_bytes(), body);
        common::auth_headers(KEY_HEADER, credentials, SIGNATURE_HEADER, signature)
    }

    fn parse_create(
        &self,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<CreatePayment, ApiError> {
        let wire: CreateIn = parse_json(body, self)?;
        let amount = Amount::parse(&wire.amount.0)
            .map_err(|e| ApiError::field(Field::Amount, "validation.numeric", format!("amount {e}")))?;
        text_field(self, Field::Currency, &wire.currency, 32)?;
        if let Some(to) = &wire.to_currency {
            text_field(self, Field::PayCurrency, to, 32)?;
        }
        if !is_legal_order_id(&wire.order_id) {
            return Err(ApiError::field(
                Field::OrderRef,
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
                            Field::Network,
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
                let (min, max) = facts::LIFETIME;
                if !(min..=max).contains(&l) {
                    return Err(ApiError::field(
                        Field::Lifetime,
                        "validation.between.numeric",
                        format!("lifetime must be between {min} and {max} seconds"),
                    ));
                }
                Some(l)
            }
            // The merchant expects Cryptomus's default when it sends none: carried to other
            // providers (clamped there), so the invoice lives as long as it would here.
            None => Some(facts::DEFAULT_LIFETIME),
        };
        for (field, value) in [
            (Field::Callback, &wire.url_callback),
            (Field::ReturnUrl, &wire.url_return),
            (Field::SuccessUrl, &wire.url_success),
        ] {
            if let Some(url) = value {
                if encoding::shorter_than(url, facts::URL_MIN) {
                    return Err(ApiError::field(
                        field,
                        "validation.min.string",
                        format!(
                            "{} must be at least {} characters",
                            self.field_name(field),
                            facts::URL_MIN
                        ),
                    ));
                }
                text_field(self, field, url, crate::facts::MAX_TEXT_FIELD)?;
            }
        }
        if let Some(data) = &wire.additional_data {
            text_field(self, Field::Description, data, crate::facts::MAX_TEXT_FIELD)?;
        }
        // A value equal to Cryptomus's documented default asks for nothing, so it is read as
        // absent: SDKs send every optional field with its default (issue: defaults refused).
        let tolerance = wire
            .accuracy_payment_percent
            .as_ref()
            .map(|v| check_range(Field::TolerancePercent, v, 0, 5))
            .transpose()?
            .filter(|t| !is_zero(t));
        let mut unportable_fields = Vec::new();
        if let Some(v) = &wire.subtract
            && !is_zero(&check_range("subtract", v, 0, 100)?)
        {
            unportable_fields.push(unportable(
                "subtract",
                true,
                "it moves the provider fee between payer and merchant",
            ));
        }
        if let Some(v) = &wire.discount_percent
            && !is_zero(&check_range("discount_percent", v, -99, 90)?)
        {
            unportable_fields.push(unportable(
                "discount_percent",
                true,
                "it changes the amount the payer pays",
            ));
        }
        let listed = |list: &Option<Vec<_>>| list.as_ref().is_some_and(|l| !l.is_empty());
        if listed(&wire.currencies) || listed(&wire.except_currencies) {
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
                wire.is_refresh.is_some_and(|r| r.0),
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
            // Partial payments are on by default; only turning them off is a request.
            allow_partial: wire.is_payment_multiple.filter(|b| !b.0).map(|b| b.0),
            nonce: None,
            unportable: unportable_fields,
        })
    }

    fn render_create<'a>(
        &self,
        request: &'a CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Rendered, ApiError> {
        let mut notes = common::common_refusals(request, Dialect::Cryptomus)?;
        // Cryptomus lets the payer pick the network when none is given.
        let network = match &request.network {
            Some(_) => Some(common::target_network(
                request,
                Dialect::Cryptomus,
                context,
                &mut notes,
            )?),
            None => None,
        };
        let reference = common::required_order_ref(
            request,
            context,
            NoteField::Named("order_id"),
            &mut notes,
        );
        let order_id = derive_order_id(&reference);
        if order_id != reference {
            notes.push(Note::new(
                NoteField::Named("order_id"),
                NoteAction::Derived,
                format!("\"{reference}\" is not a legal Cryptomus order_id; sent \"{order_id}\""),
            ));
        }
        let lifetime = request.lifetime_secs.map(|l| {
            common::clamp_lifetime(l, facts::LIFETIME, Dialect::Cryptomus, &mut notes)
        });
        // A tolerance above Cryptomus's 5% would change what counts as paid: refused, not
        // clamped.
        common::refuse_money_settings(request, Dialect::Cryptomus, true, Some(5))?;
        let tolerance = request.tolerance_percent.as_deref();
        let callback = request
            .callbacks
            .success
            .as_deref()
            .or(request.callbacks.failure.as_deref());
        if request.callbacks.failure.is_some()
            && request.callbacks.failure != request.callbacks.success
            && request.callbacks.success.is_some()
        {
            notes.push(Note::new(
                Field::FailureCallback,
                NoteAction::Dropped,
                "Cryptomus has one url_callback for every status",
            ));
        }
        for (present, field, why) in [
            (
                request.client_id.is_some(),
                Field::ClientId,
                "Cryptomus invoices have no payer identity (static wallets are a separate API)",
            ),
            (
                request.customer != Customer::default(),
                Field::Customer,
                "Cryptomus invoices carry no customer",
            ),
        ] {
            if present {
                notes.push(Note::new(field, NoteAction::Dropped, why));
            }
        }
        // Cryptomus refuses URLs under 6 characters (as payglot does when it reads them); other
        // dialects take any text, so such a value is left out rather than sent to be refused.
        let mut url = |value: Option<&'a str>, field: &'static str| match value {
            Some(v) if encoding::shorter_than(v, facts::URL_MIN) => {
                notes.push(Note::new(
                    NoteField::Named(field),
                    NoteAction::Dropped,
                    format!(
                        "\"{v}\" is shorter than Cryptomus's {}-character minimum for URLs",
                        facts::URL_MIN
                    ),
                ));
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
        let body = sign::php_json_escape(&encoding::to_compact_json(&out));
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
        let envelope: Envelope = match encoding::from_json_bytes(body) {
            Ok(e) => e,
            Err(e) if (200..300).contains(&status) => {
                return Err(ApiError::new(
                    ErrorKind::UpstreamInvalid,
                    format!("Cryptomus answered with something other than its envelope: {e}"),
                ));
            }
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(common::upstream_status_error(
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
                        .map(|f| format!("{}: {}", self.name_of(&f.field), f.rule))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                // Cryptomus reports business errors with state 1, sometimes under HTTP 200.
                let status = if (200..300).contains(&status) {
                    422
                } else {
                    status
                };
                return Err(common::upstream_status_error(
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
        let (status, status_word) = status_from_wire(
            invoice.status.as_deref(),
            invoice.payment_status.as_deref(),
        );
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
            status,
            is_final: invoice.is_final.map_or(status.is_final(), |f| f.0),
            provider_status: status_word,
            // `payment_amount` is what the payer paid at Cryptomus, but the amount due at
            // NearPayments: it counts only while the status says something arrived.
            received: common::received_for(status, encoding::quantity(invoice.payment_amount)),
            // (amount, currency) and (payer_amount, payer_currency) are pairs; never mixed.
            amount: encoding::quantity(invoice.amount),
            currency: invoice.currency,
            pay_amount: encoding::quantity(invoice.payer_amount),
            pay_currency: invoice.payer_currency,
            network,
            address: invoice.address,
            address_tag: None,
            payment_url: invoice.url,
            expires_at: invoice
                .expired_at
                .and_then(|t| t.0.parse::<i64>().ok())
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
            created_at: invoice.created_at.as_deref().and_then(encoding::parse_time),
            updated_at: invoice.updated_at.as_deref().and_then(encoding::parse_time),
            transactions: transaction.into_iter().collect(),
        })
    }

    fn render_create_response(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        let out = Answer {
            state: 0,
            result: invoice_out(payment, request, context),
        };
        sign::php_json_escape(&encoding::to_compact_json(&out)).into_bytes()
    }

    fn render_error(&self, error: &ApiError, _request_id: &str) -> (u16, Vec<u8>) {
        let status = common::caller_status(error);
        let mut errors = serde_json::Map::new();
        for f in &error.fields {
            let entry = errors
                .entry(self.name_of(&f.field))
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
            sign::php_json_escape(&encoding::to_compact_json(&body)).into_bytes(),
        )
    }

    // `payment/info` and `payment/list` are signed like a create: the default `verify_call`.

    fn parse_lookup(&self, call: &Call<'_>) -> Result<Lookup, ApiError> {
        lookup::parse_lookup(call)
    }

    fn plan_lookup(
        &self,
        key: &LookupKey,
        credentials: &Credentials,
        _nonce: u64,
    ) -> Option<UpstreamRequest> {
        Some(lookup::plan_lookup(key, credentials))
    }

    fn parse_lookup_response(
        &self,
        status: u16,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<Payment, ApiError> {
        lookup::parse_lookup_response(status, body, networks)
    }

    // `render_lookup_answer`: the default, the create answer, is `payment/info`'s answer too.

    fn render_list_answer(
        &self,
        found: &[Found],
        page: &ListPage,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        lookup::render_list_answer(found, page, context)
    }

}

/// The invoice object a merchant of Cryptomus reads (create, info and list items alike). It
/// echoes what the merchant sent (`request`) where the provider does not carry it.
fn invoice_out<'a>(
    payment: &'a Payment,
    request: &'a CreatePayment,
    context: &'a RenderContext<'a>,
) -> InvoiceOut<'a> {
    // An unknown status never reaches a writer (`translate::answer` refuses it); the
    // provider's own word is the fallback, never "awaiting".
    let status = status_to_wire(payment.status).unwrap_or(&payment.provider_status);
    let chain = payment.network.as_deref().or(request.network.as_deref());
    let network = chain.map(|c| {
        context
            .networks
            .from_canonical(Dialect::Cryptomus, c)
            .unwrap_or(c)
    });
    let last_tx = payment.transactions.last();
    InvoiceOut {
        uuid: &payment.provider_id,
        order_id: request.order_ref.as_deref(),
        amount: request.amount.as_str(),
        payment_amount: payment.received.as_ref().map(Quantity::as_str),
        payer_amount: payment
            .pay_amount
            .as_ref()
            .or(payment.amount.as_ref())
            .map(Quantity::as_str),
        discount_percent: 0,
        discount: facts::ZERO_FEE,
        payer_currency: payment
            .pay_currency
            .as_deref()
            .or(payment.currency.as_deref()),
        currency: &request.currency,
        comments: None,
        merchant_amount: None,
        commission: facts::ZERO_FEE,
        payment_amount_usd: None,
        payer_amount_exchange_rate: None,
        network,
        address: payment.address.as_deref(),
        from: last_tx.and_then(|t| t.from.as_deref()),
        txid: last_tx.and_then(|t| t.tx_hash.as_deref()),
        payment_status: status,
        url: payment.payment_url.as_deref(),
        expired_at: payment.expires_at.map(OffsetDateTime::unix_timestamp),
        status,
        is_final: payment.is_final,
        additional_data: request.description.as_deref(),
        created_at: payment.created_at.map(encoding::format_offset),
        updated_at: payment
            .updated_at
            .or(payment.created_at)
            .map(encoding::format_offset),
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
            let canonical = self.canonical_field(name);
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
