//! Apollo Payment (`https://app.apollopayment.io/api-gateway`; OnChainPay is the same
//! platform): `x-api-public-key` + `x-api-signature` = hex HMAC-SHA256(private key, raw body),
//! a `nonce` in every body, `{"success":…,"response"|"error":…}` envelopes. Reference §3.
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
use serde::Deserialize;

use crate::error::{ApiError, ErrorKind, FieldError};
use crate::field::{Field, FieldTable, NoteField};
use crate::model::{CreatePayment, Customer, Payment, Transaction, Unportable};
use crate::money::{Amount, Quantity};
use crate::network::NetworkTable;
use crate::secret::Credentials;

use super::common::Arrived;
use super::encoding::{self, LooseU64, ScalarText, parse_json, text_field};
use super::{
    Call, Capabilities, Codec, Dialect, Found, Inbound, ListPage, Lookup, LookupKey, Note,
    NoteAction, Operation, ProviderInfo, RenderContext, Rendered, common,
};
use crate::translate::UpstreamRequest;
use status::{status_from_wire, status_to_wire};
use wire::{
    Answer, CreateIn, CreateOut, Envelope, ErrorBody, ErrorOut, OrderIn, OrderOut,
    ValidationErrors,
};

pub struct Apollo;

pub const KEY_HEADER: &str = "x-api-public-key";
pub const SIGNATURE_HEADER: &str = "x-api-signature";

/// Canonical field ↔ Apollo field, for the fields it names differently.
pub const FIELDS: FieldTable = &[
    (Field::OrderRef, "order"),
    (Field::Callback, "successWebhook"),
    (Field::FailureCallback, "errorWebhook"),
    (Field::SuccessUrl, "returnUrl"),
    (Field::ClientId, "externalUserId"),
    (Field::CustomerEmail, "payerEmail"),
    (Field::TolerancePercent, "paymentTolerancePercent"),
];


/// Apollo as data: names, paths, chain and field names, headers, capabilities.
pub const INFO: ProviderInfo = ProviderInfo {
    name: "apollo",
    title: "Apollo",
    aliases: &["apollopayment"],
    // The create call, and the balance list its SDKs call on start (answered by payglot). The PHP
    // SDK posts with a trailing slash, which every path accepts.
    inbound: &[
        Inbound {
            method: "POST",
            path: "/api-gateway/make-order",
            operation: Operation::CreatePayment,
        },
        Inbound {
            method: "POST",
            path: "/api-gateway/advanced-balances",
            operation: Operation::ListBalances,
        },
        Inbound {
            method: "POST",
            path: "/api-gateway/order",
            operation: Operation::LookupPayment,
        },
        Inbound {
            method: "POST",
            path: "/api-gateway/orders",
            operation: Operation::ListPayments,
        },
    ],
    path_prefixes: &["/api-gateway"],
    networks: facts::NETWORKS,
    fields: FIELDS,
    key_header: KEY_HEADER,
    create_path: "/make-order",
    capabilities: Capabilities {
        converts_fiat: false,
        // Every signed body carries a unique nonce [code].
        body_nonce: true,
        lifetime_bounds: |chain| Some(facts::lifetime_bounds(chain)),
        // `order` looks up by Apollo's id only [docs].
        lookup_by_reference: false,
    },
};

/// Any signed Apollo body: only its nonce is read.
#[derive(Deserialize)]
struct NonceOnly {
    nonce: Option<ScalarText>,
}

impl Codec for Apollo {
    fn dialect(&self) -> Dialect {
        Dialect::Apollo
    }

    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn request_nonce(&self, body: &[u8]) -> Result<Option<String>, ApiError> {
        let wire: NonceOnly = parse_json(body, self)?;
        match wire.nonce {
            Some(nonce) => {
                text_field(self, Field::Nonce, &nonce.0, crate::facts::MAX_TEXT_FIELD)?;
                Ok(Some(nonce.0))
            }
            None => Err(nonce_required()),
        }
    }

    /// Apollo SDKs list balances when constructed and give up when that fails. payglot holds
    /// no balance, so it lists one empty USD balance named after the merchant.
    fn answer_locally(&self, operation: Operation, merchant_id: &str) -> Option<Vec<u8>> {
        (operation == Operation::ListBalances).then(|| {
            serde_json::json!({
                "success": true,
                "response": [{
                    "advancedBalanceId": format!("payglot-{merchant_id}"),
                    "currency": "USD",
                    "blocked": "0",
                    "balance": "0",
                    "availableCurrenciesForDeposit": [],
                    "tariffs": [],
                }]
            })
            .to_string()
            .into_bytes()
        })
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
        common::verify_signature_header(
            headers,
            SIGNATURE_HEADER,
            "the body and the private key",
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
        let Some(nonce) = wire.nonce else {
            return Err(nonce_required());
        };
        let amount = Amount::parse(&wire.amount.0)
            .map_err(|e| ApiError::field(Field::Amount, "validation.decimal", format!("amount {e}")))?;
        text_field(self, Field::Currency, &wire.currency, 32)?;
        text_field(self, Field::OrderRef, &wire.order, crate::facts::MAX_TEXT_FIELD)?;
        let chain = networks
            .to_canonical(Dialect::Apollo, &wire.network)
            .ok_or_else(|| {
                ApiError::field(
                    Field::Network,
                    "validation.in",
                    format!("network \"{}\" is not a known network", wire.network),
                )
            })?
            .to_owned();
        let lifetime = match wire.lifetime {
            Some(LooseU64(l)) => {
                let (min, max) = facts::lifetime_bounds(Some(&chain));
                if !(min..=max).contains(&l) {
                    return Err(ApiError::field(
                        Field::Lifetime,
                        "validation.between",
                        format!(
                            "lifetime must be between {min} and {max} seconds on {}",
                            wire.network
                        ),
                    ));
                }
                Some(l)
            }
            // The merchant expects Apollo's own default when it sends none: carried to other
            // providers (clamped there), so the invoice lives as long as it would at Apollo.
            None => Some(facts::default_lifetime(Some(&chain))),
        };
        for (field, value) in [
            (Field::Callback, &wire.success_webhook),
            (Field::FailureCallback, &wire.error_webhook),
            (Field::SuccessUrl, &wire.return_url),
            (Field::Description, &wire.description),
            (Field::CustomerEmail, &wire.payer_email),
        ] {
            if let Some(v) = value {
                text_field(self, field, v, crate::facts::MAX_TEXT_FIELD)?;
            }
        }
        let tolerance = match &wire.payment_tolerance_percent {
            Some(t) => match t.0.parse::<rust_decimal::Decimal>() {
                // 0 is no tolerance: no request for anything.
                Ok(d) if d.is_zero() => None,
                Ok(d) if d > 0.into() && d <= 100.into() => Some(t.0.clone()),
                _ => {
                    return Err(ApiError::field(
                        Field::TolerancePercent,
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
            text_field(self, Field::ClientId, id, crate::facts::MAX_TEXT_FIELD)?;
        }
        text_field(self, Field::Nonce, &nonce.0, crate::facts::MAX_TEXT_FIELD)?;
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
            return_url: None,
            success_url: wire.return_url,
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
        let mut notes = common::common_refusals(request, Dialect::Apollo)?;
        // Every Apollo order takes several transactions; its tolerance goes to 100%.
        common::refuse_money_settings(request, Dialect::Apollo, false, Some(100))?;
        let network = common::target_network(request, Dialect::Apollo, context, &mut notes)?;
        let chain = context.networks.to_canonical(Dialect::Apollo, network);
        let order =
            common::required_order_ref(request, context, NoteField::Named("order"), &mut notes);
        let lifetime = request.lifetime_secs.map(|l| {
            common::clamp_lifetime(
                l,
                facts::lifetime_bounds(chain),
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
                Field::CustomerId,
                "Apollo's only user id, externalUserId, reserves a personal address; it carries clientId only",
            ),
            (
                request.return_url.is_some(),
                Field::ReturnUrl,
                "Apollo has only returnUrl, where the payer lands after paying",
            ),
            (
                request.customer.name.is_some(),
                Field::CustomerName,
                "Apollo orders carry no payer name",
            ),
        ] {
            if present {
                notes.push(Note::new(field, NoteAction::Dropped, why));
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
            return_url: request.success_url.as_deref(),
            description: request.description.as_deref(),
            external_user_id: client_id,
            payer_email: request.customer.email.as_deref(),
            nonce: context.nonce,
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
        let envelope: Envelope = match encoding::from_json_bytes(body) {
            Ok(e) => e,
            Err(e) if (200..300).contains(&status) => {
                return Err(ApiError::new(
                    ErrorKind::UpstreamInvalid,
                    format!("Apollo answered with something other than its envelope: {e}"),
                ));
            }
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(common::upstream_status_error(
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
                return Err(common::upstream_status_error(
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
        let received = encoding::quantity(order.received);
        let transactions: Vec<Transaction> = order
            .transactions
            .unwrap_or_default()
            .into_iter()
            .map(|t| Transaction {
                tx_hash: t.tx,
                amount: encoding::quantity(t.amount),
                currency: t.currency,
                network: networks.canonical_owned(Dialect::Apollo, t.network.as_deref()),
                from: t.sender,
                to: None,
                confirmations: t.confirmations,
                at: None,
            })
            .collect();
        let amount = encoding::quantity(order.amount);
        let arrived = Arrived::of(amount.as_ref(), received.as_ref(), transactions.len());
        let status_word = order.status.unwrap_or_default();
        let status = status_from_wire(&status_word, arrived);
        Ok(Payment {
            provider_id,
            order_ref,
            status,
            // Apollo: "processed, expired, partial, overpaid are not final" [docs].
            is_final: false,
            provider_status: status_word,
            received: common::received_for(status, received),
            amount,
            currency: order.currency,
            pay_amount: None,
            pay_currency: None,
            network: networks.canonical_owned(Dialect::Apollo, order.network.as_deref()),
            address: order.address,
            address_tag: order.tag.map(|t| t.0),
            payment_url: order.link,
            expires_at: order.expires_at.as_deref().and_then(encoding::parse_time),
            created_at: order.created_at.as_deref().and_then(encoding::parse_time),
            updated_at: order.updated_at.as_deref().and_then(encoding::parse_time),
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
                // An unknown status never reaches a writer (`translate::answer` refuses it).
                status: status_to_wire(payment.status).unwrap_or(&payment.provider_status),
                link: payment.payment_url.as_deref(),
                // One pair: the amount `received` is counted against, in its currency.
                amount: payment
                    .due()
                    .0
                    .map(Quantity::as_str)
                    .unwrap_or(request.amount.as_str()),
                payment_tolerance_percent: request.tolerance_percent.as_deref(),
                advanced_balance_id: None,
                currency: payment.due().1.unwrap_or(&request.currency),
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
                return_url: request.success_url.as_deref(),
                expires_at: payment.expires_at.map(encoding::format_millis_z),
                created_at: payment.created_at.map(encoding::format_millis_z),
            },
        };
        encoding::to_compact_json(&out).into_bytes()
    }

    fn render_error(&self, error: &ApiError, request_id: &str) -> (u16, Vec<u8>) {
        let status = common::caller_status(error);
        let mut message = error.message.clone();
        if !error.fields.is_empty() {
            let listed: Vec<String> = error
                .fields
                .iter()
                .map(|f| format!("{}: {}", self.name_of(&f.field), f.rule))
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
        (status, encoding::to_compact_json(&body).into_bytes())
    }

    // `order` and `orders` are signed like a create: the default `verify_call`.

    fn parse_lookup(&self, call: &Call<'_>) -> Result<Lookup, ApiError> {
        lookup::parse_lookup(call)
    }

    fn plan_lookup(
        &self,
        key: &LookupKey,
        credentials: &Credentials,
        nonce: u64,
    ) -> Option<UpstreamRequest> {
        lookup::plan_lookup(key, credentials, nonce)
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
        page: &ListPage,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        lookup::render_list_answer(found, page, context)
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
                    field: self.canonical_field(field),
                    rule: rule.to_owned(),
                })
            })
            .collect()
    }
}

fn nonce_required() -> ApiError {
    ApiError::field(
        Field::Nonce,
        "validation.required",
        "nonce is required in every signed body",
    )
}
