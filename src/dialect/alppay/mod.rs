//! AlpPay (`https://api.alppay.io/v2`): `API-KEY` + `X-HMAC` (hex HMAC-SHA256 of the raw body),
//! bare JSON objects, `OPEN`/`COMPLETED`/`EXPIRED` statuses. Dialect reference §1.
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
use time::Duration;

use crate::error::{ApiError, ErrorKind, RefusalReason};
use crate::field::{Field, FieldTable};
use crate::model::{CreatePayment, Customer, Payment, Transaction};
use crate::money::{Amount, Quantity};
use crate::network::NetworkTable;
use crate::secret::Credentials;

use super::common::Arrived;
use super::encoding::{self, parse_json, text_field};
use super::{
    Call, Capabilities, Codec, Dialect, Found, Inbound, ListPage, Lookup, LookupKey, Note,
    NoteAction, Operation, ProviderInfo, RenderContext, Rendered, common,
};
use crate::translate::UpstreamRequest;
use status::{status_from_wire, status_to_wire};
use wire::{
    AssetFull, AssetOut, CreateIn, CreateOut, CustomerEcho, CustomerOut, ErrorIn, ErrorOut,
    MerchantEcho, PaymentGetExtras, PaymentIn, PaymentOut, TransactionGetExtras, TransactionOut,
    Wrapped,
};

pub struct AlpPay;

pub const KEY_HEADER: &str = "API-KEY";
pub const SIGNATURE_HEADER: &str = "X-HMAC";

/// Canonical field ↔ AlpPay field, for the fields it names differently.
pub const FIELDS: FieldTable = &[
    (Field::OrderRef, "invoice"),
    (Field::Currency, "asset.short"),
    (Field::Network, "asset.network"),
    (Field::SuccessUrl, "checkoutUrl"),
    (Field::ClientId, "clientId"),
];


/// AlpPay as data: names, paths, chain and field names, headers, capabilities.
pub const INFO: ProviderInfo = ProviderInfo {
    name: "alppay",
    title: "AlpPay",
    aliases: &[],
    // The create call, with and without the API's `/v2` base.
    inbound: &[
        Inbound {
            method: "POST",
            path: "/v2/payment",
            operation: Operation::CreatePayment,
        },
        Inbound {
            method: "POST",
            path: "/payment",
            operation: Operation::CreatePayment,
        },
        Inbound {
            method: "GET",
            path: "/v2/payment/{id}",
            operation: Operation::LookupPayment,
        },
        Inbound {
            method: "GET",
            path: "/v2/payment",
            operation: Operation::ListPayments,
        },
    ],
    path_prefixes: &["/v2", "/payment"],
    networks: facts::NETWORKS,
    fields: FIELDS,
    key_header: KEY_HEADER,
    create_path: "/payment",
    capabilities: Capabilities {
        converts_fiat: false,
        body_nonce: false,
        // AlpPay picks the invoice timeout itself: there is no lifetime input [docs].
        lifetime_bounds: |_| None,
        lookup_by_reference: true,
    },
};

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
    let note = Note::new(
        Field::CustomerId,
        NoteAction::Derived,
        format!("AlpPay needs an integer customer id; derived {id} from \"{seed}\""),
    );
    (id, Some(note))
}

impl Codec for AlpPay {
    fn dialect(&self) -> Dialect {
        Dialect::AlpPay
    }

    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    /// AlpPay may re-marshal a body to check its field order (§1a): rendered in the documented
    /// order instead of edited in place. Every AlpPay request field is in the canonical model.
    fn with_reference(
        &self,
        _raw_body: &[u8],
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        self.render_create(request, context).map(|r| r.body)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
        common::verify_signature_header(
            headers,
            SIGNATURE_HEADER,
            "the body and the HMAC secret",
            |claimed| sign::verify(secret, body, claimed),
        )
    }

    fn sign(&self, body: &[u8], credentials: &Credentials) -> Vec<(&'static str, String)> {
        let signature = sign::sign(credentials.secret.expose().as_bytes(), body);
        common::auth_headers(KEY_HEADER, credentials, SIGNATURE_HEADER, signature)
    }

    fn parse_create(
        &self,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<CreatePayment, ApiError> {
        let wire: CreateIn = parse_json(body, self)?;
        let amount = Amount::parse(&wire.amount.0)
            .map_err(|e| ApiError::field(Field::Amount, "validation.decimal", format!("amount {e}")))?;
        text_field(self, Field::Currency, &wire.asset.short, 32)?;
        let network = networks
            .to_canonical(Dialect::AlpPay, &wire.asset.network)
            .ok_or_else(|| {
                ApiError::field(
                    Field::Network,
                    "validation.in",
                    format!(
                        "asset.network \"{}\" is not a known network",
                        wire.asset.network
                    ),
                )
            })?;
        for (field, value) in [
            (Field::CustomerId, Some(&wire.customer.id.0)),
            (Field::CustomerName, Some(&wire.customer.name)),
            (Field::CustomerEmail, Some(&wire.customer.email)),
            (Field::OrderRef, wire.invoice.as_ref()),
            (Field::SuccessUrl, wire.checkout_url.as_ref()),
            (Field::ClientId, wire.client_id.as_ref()),
        ] {
            if let Some(v) = value {
                text_field(self, field, v, crate::facts::MAX_TEXT_FIELD)?;
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
            return_url: None,
            // Where the customer lands after paying (seed 000), not "back to the shop".
            success_url: wire.checkout_url,
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
        let mut notes = common::common_refusals(request, Dialect::AlpPay)?;
        // AlpPay has no partial-payment switch (an OPEN payment takes several transactions)
        // and no tolerance.
        common::refuse_money_settings(request, Dialect::AlpPay, false, None)?;
        let network = common::target_network(request, Dialect::AlpPay, context, &mut notes)?;
        let (customer_id, id_note) = customer_id_for_alppay(request, context.request_id);
        notes.extend(id_note);
        let name = fill_customer(
            request.customer.name.as_deref(),
            context.merchant.default_customer_name.as_deref(),
            Field::CustomerName,
            &mut notes,
        )?;
        let email = fill_customer(
            request.customer.email.as_deref(),
            context.merchant.default_customer_email.as_deref(),
            Field::CustomerEmail,
            &mut notes,
        )?;
        for (present, field, why) in [
            (
                request.lifetime_secs.is_some(),
                Field::Lifetime,
                "AlpPay chooses the invoice timeout itself",
            ),
            (
                !request.callbacks.is_empty(),
                Field::Callback,
                "AlpPay sends webhooks to an account-level URL, not one per payment",
            ),
            (
                request.return_url.is_some(),
                Field::ReturnUrl,
                "AlpPay has only checkoutUrl, where the payer lands after paying",
            ),
            (
                request.description.is_some(),
                Field::Description,
                "AlpPay has no description field",
            ),
        ] {
            if present {
                notes.push(Note::new(field, NoteAction::Dropped, why));
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
            checkout_url: request.success_url.as_deref(),
        };
        Ok(Rendered {
            body: encoding::to_compact_json(&out).into_bytes(),
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
        // The create answer is a bare object; the get answer wraps it in `{"data": …}`, and on
        // it `checkoutUrl` and `paymentRedirectUrl` swap roles (dialect reference §1b).
        let (wire, shape) = match encoding::from_json_bytes::<PaymentIn>(body) {
            Ok(payment) => (payment, Shape::Create),
            Err(bare_error) => encoding::from_json_bytes::<Wrapped>(body)
                .ok()
                .and_then(|w| serde_json::from_str::<PaymentIn>(w.data.get()).ok())
                .map(|payment| (payment, Shape::Get))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::UpstreamInvalid,
                        format!("AlpPay answered with an unexpected payment object: {bare_error}"),
                    )
                })?,
        };
        Ok(payment_from_wire(wire, shape, networks))
    }

    fn render_create_response(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        encoding::to_compact_json(&payment_out(payment, request, context, Shape::Create))
            .into_bytes()
    }

    fn render_error(&self, error: &ApiError, request_id: &str) -> (u16, Vec<u8>) {
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
            code: error.kind.label(),
            message: &error.message,
            errors,
            request_id,
        };
        (status, encoding::to_compact_json(&body).into_bytes())
    }

    /// Lookups are `GET`s with `API-KEY` only: there is no body to sign `[docs]`
    /// D-alp:getPayment, D-alp:listPayments.
    fn verify_call(
        &self,
        call: &Call<'_>,
        headers: &HeaderMap,
        secret: &[u8],
    ) -> Result<(), ApiError> {
        match call.operation {
            Operation::LookupPayment | Operation::ListPayments => Ok(()),
            _ => self.verify(headers, call.body, secret),
        }
    }

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

    fn render_lookup_answer(&self, found: &Found, context: &RenderContext<'_>) -> Vec<u8> {
        lookup::render_lookup_answer(found, context)
    }

    fn render_list_answer(
        &self,
        found: &[Found],
        _page: &ListPage,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        lookup::render_list_answer(found, context)
    }
}

/// Fills a customer field AlpPay requires from the request, else the merchant profile.
fn fill_customer<'a>(
    from_request: Option<&'a str>,
    from_profile: Option<&'a str>,
    field: Field,
    notes: &mut Vec<Note>,
) -> Result<&'a str, ApiError> {
    if let Some(v) = from_request {
        return Ok(v);
    }
    match from_profile {
        Some(v) => {
            notes.push(Note::new(
                field,
                NoteAction::Filled,
                "from the merchant profile's default customer",
            ));
            Ok(v)
        }
        None => Err(ApiError::untranslatable(
            RefusalReason::CustomerRequired,
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
    common::upstream_status_error(Dialect::AlpPay, status, text, Vec::new())
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Which of AlpPay's two payment shapes: create and webhook, or get and list. They differ in
/// which URL field is the hosted payment page (dialect reference §1b) and in the get shape's
/// fee and risk fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Create,
    Get,
}

/// An AlpPay payment object in canonical terms.
fn payment_from_wire(wire: PaymentIn, shape: Shape, networks: &NetworkTable) -> Payment {
    let created_at = wire.created_at.as_deref().and_then(encoding::parse_time);
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
    let transactions: Vec<Transaction> = wire
        .transactions
        .unwrap_or_default()
        .into_iter()
        .map(|t| Transaction {
            tx_hash: t.txn_id,
            amount: encoding::quantity(t.received_amount),
            currency: t.asset.as_ref().and_then(|a| a.short.clone()),
            network: networks.canonical_owned(
                Dialect::AlpPay,
                t.asset.as_ref().and_then(|a| a.network.as_deref()),
            ),
            from: t.address_from,
            to: t.address_to,
            confirmations: None,
            at: t.date.as_deref().and_then(encoding::parse_time),
        })
        .collect();
    let amount = encoding::quantity(wire.amount);
    let total_received = encoding::quantity(wire.total_received_amount);
    let arrived = Arrived::of(amount.as_ref(), total_received.as_ref(), transactions.len());
    let status = status_from_wire(&wire.status, wire.display_status.as_deref(), arrived);
    // The payer's link, never the shop's URL.
    let payment_url = match shape {
        Shape::Get => wire.checkout_url,
        Shape::Create => wire.payment_redirect_url,
    };
    Payment {
        provider_id: wire.id.0,
        order_ref: wire.invoice,
        status,
        is_final: status.is_final(),
        provider_status: wire.status,
        amount,
        received: common::received_for(status, total_received),
        currency,
        pay_amount: None,
        pay_currency: None,
        network,
        address: wire.address_to,
        address_tag: wire.dest_tag.map(|t| t.0),
        payment_url,
        expires_at,
        created_at,
        updated_at: wire.updated_at.as_deref().and_then(encoding::parse_time),
        transactions,
    }
}

/// The payment object a merchant of AlpPay reads, in `shape`. It echoes what the merchant sent
/// (`request`) where the provider does not carry it.
fn payment_out<'a>(
    payment: &'a Payment,
    request: &'a CreatePayment,
    context: &'a RenderContext<'a>,
    shape: Shape,
) -> PaymentOut<'a> {
    // An unknown status never reaches a writer (`translate::answer` refuses it); the
    // provider's own word is the fallback, never "open".
    let (status, display_status) = status_to_wire(payment.status)
        .unwrap_or((payment.provider_status.as_str(), payment.provider_status.as_str()));
    // One pair: the amount the received total is counted against, in its currency.
    let (due, due_currency) = payment.due();
    let currency = due_currency.unwrap_or(&request.currency);
    let chain = payment.network.as_deref().or(request.network.as_deref());
    let network = chain.and_then(|c| context.networks.from_canonical(Dialect::AlpPay, c));
    let asset = || AssetFull {
        short: currency,
        name: facts::asset_display_name(currency),
        logo_url: "",
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
    let get_shape = shape == Shape::Get;
    // The get shape swaps the URL fields: `checkoutUrl` is the hosted payment page there and
    // `paymentRedirectUrl` the shop's URL (dialect reference §1b).
    let (checkout_url, payment_redirect_url) = match shape {
        Shape::Create => (request.success_url.as_deref(), payment.payment_url.as_deref()),
        Shape::Get => (payment.payment_url.as_deref(), request.success_url.as_deref()),
    };
    PaymentOut {
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
                date: t.at.map(encoding::format_seconds_z),
                get_extras: get_shape.then(|| TransactionGetExtras {
                    fixed_fee: facts::UNKNOWN_FEE,
                    percent_fee: facts::UNKNOWN_FEE,
                    risk_score: None,
                    is_danger: false,
                    created_at: t.at.map(encoding::format_seconds_z),
                }),
            })
            .collect(),
        amount: due.map(Quantity::as_str).unwrap_or(request.amount.as_str()),
        total_received_amount: payment
            .received
            .as_ref()
            .map(Quantity::as_str)
            .unwrap_or("0"),
        asset: asset(),
        address_to: payment.address.as_deref(),
        dest_tag: payment.address_tag.as_deref(),
        confirms_needed: facts::CONFIRMS_NEEDED,
        timeout,
        checkout_url,
        status,
        display_status,
        customer: CustomerEcho {
            id: customer_id,
            name: request.customer.name.as_deref(),
            email: request.customer.email.as_deref(),
        },
        merchant: MerchantEcho {
            id: "",
            name: context.merchant.name.as_deref(),
            site_url: context.merchant.site_url.as_deref(),
            logo_url: context.merchant.logo_url.as_deref().unwrap_or(""),
            email: context.merchant.email.as_deref(),
        },
        invoice: request.order_ref.as_deref(),
        payment_redirect_url,
        created_at: payment.created_at.map(encoding::format_seconds_z),
        updated_at: payment
            .updated_at
            .or(payment.created_at)
            .map(encoding::format_seconds_z),
        get_extras: get_shape.then_some(PaymentGetExtras {
            fixed_fee: facts::UNKNOWN_FEE,
        }),
    }
}
