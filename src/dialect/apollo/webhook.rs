//! Apollo order webhooks (dialect reference §3c). Apollo publishes no webhook signature scheme
//! of its own beyond "made with the same algorithm" as requests (`x-api-public-key` +
//! `x-api-signature` = hex HMAC-SHA256(private key, raw body), `[inferred]`), so payglot checks
//! that signature when one is sent, refuses a wrong one, and in every case trusts only the ids:
//! the relay fetches the order back from Apollo before acting whenever it can.

use http::HeaderMap;
use serde::Serialize;

use super::status::status_to_wire;
use super::{KEY_HEADER, SIGNATURE_HEADER};
use crate::dialect::{Codec, Dialect, OutgoingWebhook, RenderContext, WebhookAuth, encoding};
use crate::error::ApiError;
use crate::model::{CreatePayment, Payment};
use crate::money::Quantity;
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::signature::{hmac_sha256_hex, verify_hmac_sha256_hex};

/// A present signature must match; an absent one leaves the webhook unsigned.
pub fn verify(headers: &HeaderMap, body: &[u8], credentials: &Credentials) -> WebhookAuth {
    let Some(claimed) = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    else {
        return WebhookAuth::Unsigned;
    };
    let key_matches = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|key| key.trim() == credentials.key_id);
    if key_matches
        && verify_hmac_sha256_hex(credentials.secret.expose().as_bytes(), body, claimed)
    {
        WebhookAuth::Verified
    } else {
        WebhookAuth::Forged
    }
}

/// The webhook body is the order, read like the `order` answer's `response`.
pub fn parse(body: &[u8], networks: &NetworkTable) -> Result<Payment, ApiError> {
    let text = String::from_utf8_lossy(body);
    let envelope = format!("{{\"success\":true,\"response\":{text}}}");
    super::Apollo.parse_create_response(200, envelope.as_bytes(), networks)
}

/// The order webhook body (§3c): `id` is Apollo's id, `order` the merchant's reference.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderWebhook<'a> {
    id: &'a str,
    advanced_balance_id: Option<&'a str>,
    currency: &'a str,
    network: Option<&'a str>,
    status: &'a str,
    order: Option<&'a str>,
    description: Option<&'a str>,
    address: Option<&'a str>,
    tag: Option<&'a str>,
    amount: &'a str,
    received: &'a str,
    transactions: Vec<TransactionOut<'a>>,
    orphan_deposits: [(); 0],
}

#[derive(Serialize)]
struct TransactionOut<'a> {
    status: &'static str,
    currency: Option<&'a str>,
    network: Option<&'a str>,
    amount: Option<&'a str>,
    tx: Option<&'a str>,
    confirmations: Option<u64>,
    sender: Option<&'a str>,
}

/// The order webhook an Apollo merchant expects, signed with its keys.
pub fn render(
    payment: &Payment,
    request: &CreatePayment,
    credentials: &Credentials,
    context: &RenderContext<'_>,
) -> OutgoingWebhook {
    let apollo_network = |chain: &'_ str| -> String {
        context
            .networks
            .from_canonical(Dialect::Apollo, chain)
            .unwrap_or(chain)
            .to_owned()
    };
    let chain = payment.network.as_deref().or(request.network.as_deref());
    let network = chain.map(apollo_network);
    let tx_networks: Vec<Option<String>> = payment
        .transactions
        .iter()
        .map(|t| t.network.as_deref().map(apollo_network))
        .collect();
    let transactions = payment
        .transactions
        .iter()
        .zip(&tx_networks)
        .map(|(t, network)| TransactionOut {
            status: "processed",
            currency: t.currency.as_deref(),
            network: network.as_deref(),
            amount: t.amount.as_ref().map(Quantity::as_str),
            tx: t.tx_hash.as_deref(),
            confirmations: t.confirmations,
            sender: t.from.as_deref(),
        })
        .collect();
    let payload = OrderWebhook {
        id: &payment.provider_id,
        advanced_balance_id: None,
        currency: payment.currency.as_deref().unwrap_or(&request.currency),
        network: network.as_deref(),
        status: status_to_wire(payment.status).unwrap_or(&payment.provider_status),
        order: request.order_ref.as_deref(),
        description: request.description.as_deref(),
        address: payment.address.as_deref(),
        tag: payment.address_tag.as_deref(),
        amount: request.amount.as_str(),
        received: payment.received.as_ref().map_or("0", Quantity::as_str),
        transactions,
        orphan_deposits: [],
    };
    let body = encoding::to_compact_json(&payload).into_bytes();
    let signature = hmac_sha256_hex(credentials.secret.expose().as_bytes(), &body);
    OutgoingWebhook {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (KEY_HEADER.into(), credentials.key_id.clone()),
            (SIGNATURE_HEADER.into(), signature),
        ],
        body,
    }
}
impl crate::dialect::Webhooks for super::Apollo {
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        credentials: &Credentials,
    ) -> WebhookAuth {
        verify(headers, body, credentials)
    }

    /// The signature scheme is inferred, not documented: the order is fetched back.
    fn webhook_fetch_back(&self) -> bool {
        true
    }

    fn account_level_webhooks(&self) -> bool {
        false
    }

    fn parse_webhook(&self, body: &[u8], networks: &NetworkTable) -> Result<Payment, ApiError> {
        parse(body, networks)
    }

    fn render_webhook(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        credentials: &Credentials,
        context: &RenderContext<'_>,
    ) -> OutgoingWebhook {
        render(payment, request, credentials, context)
    }
}

