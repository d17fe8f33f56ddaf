//! Apollo's wire types: the make-order request as merchants send it and as payglot writes it,
//! the order answers (create and get name the same ids differently), and the envelopes
//! (dialect reference §3b, §3e).

use serde::{Deserialize, Serialize};

use crate::dialect::encoding::{DecimalText, LooseBool, LooseId, LooseU64, ScalarText};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateIn {
    pub(super) currency: String,
    pub(super) network: String,
    pub(super) amount: DecimalText,
    pub(super) order: String,
    pub(super) lifetime: Option<LooseU64>,
    pub(super) payment_tolerance_percent: Option<DecimalText>,
    pub(super) error_webhook: Option<String>,
    pub(super) success_webhook: Option<String>,
    pub(super) return_url: Option<String>,
    pub(super) description: Option<String>,
    pub(super) check_risks: Option<LooseBool>,
    pub(super) external_user_id: Option<LooseId>,
    pub(super) payer_email: Option<String>,
    pub(super) nonce: Option<ScalarText>,
}

/// The order the JS SDK sends, with the nonce last.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOut<'a> {
    pub(super) currency: &'a str,
    pub(super) network: &'a str,
    pub(super) amount: &'a str,
    pub(super) order: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lifetime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) payment_tolerance_percent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error_webhook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) success_webhook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) return_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) external_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) payer_email: Option<&'a str>,
    pub(super) nonce: u64,
}

#[derive(Deserialize)]
pub(super) struct Envelope {
    pub(super) success: Option<bool>,
    pub(super) response: Option<Box<serde_json::value::RawValue>>,
    pub(super) error: Option<ErrorIn>,
}

#[derive(Deserialize)]
pub(super) struct ErrorIn {
    pub(super) code: Option<serde_json::Value>,
    pub(super) name: Option<String>,
    pub(super) message: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ValidationErrors {
    pub(super) errors: Option<Vec<serde_json::Value>>,
}

/// Create (`orderId` = Apollo id, `clientOrderId` = merchant ref) and get (`id` = Apollo id,
/// `orderId` = merchant ref) name the same things differently; both are read here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderIn {
    pub(super) id: Option<String>,
    pub(super) order_id: Option<String>,
    pub(super) client_order_id: Option<String>,
    pub(super) status: Option<String>,
    pub(super) link: Option<String>,
    pub(super) amount: Option<DecimalText>,
    pub(super) received: Option<DecimalText>,
    pub(super) currency: Option<String>,
    pub(super) network: Option<String>,
    pub(super) address: Option<String>,
    pub(super) tag: Option<LooseId>,
    pub(super) expires_at: Option<String>,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
    #[serde(default)]
    pub(super) transactions: Option<Vec<TransactionIn>>,
}

#[derive(Deserialize)]
pub(super) struct TransactionIn {
    pub(super) currency: Option<String>,
    pub(super) network: Option<String>,
    pub(super) amount: Option<DecimalText>,
    pub(super) tx: Option<String>,
    pub(super) confirmations: Option<u64>,
    pub(super) sender: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Answer<'a> {
    pub(super) success: bool,
    pub(super) response: OrderOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderOut<'a> {
    pub(super) status: &'a str,
    pub(super) link: Option<&'a str>,
    pub(super) amount: &'a str,
    pub(super) payment_tolerance_percent: Option<&'a str>,
    pub(super) advanced_balance_id: Option<&'a str>,
    pub(super) currency: &'a str,
    pub(super) network: Option<&'a str>,
    pub(super) address: Option<&'a str>,
    pub(super) address_id: Option<&'a str>,
    pub(super) tag: Option<&'a str>,
    pub(super) order_id: &'a str,
    pub(super) client_order_id: Option<&'a str>,
    pub(super) external_user_id: Option<&'a str>,
    pub(super) payer_email: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) success_webhook: Option<&'a str>,
    pub(super) error_webhook: Option<&'a str>,
    pub(super) return_url: Option<&'a str>,
    pub(super) expires_at: Option<String>,
    pub(super) created_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorOut<'a> {
    pub(super) success: bool,
    pub(super) error: ErrorBody<'a>,
    pub(super) request_id: &'a str,
}

#[derive(Serialize)]
pub(super) struct ErrorBody<'a> {
    pub(super) code: u16,
    pub(super) name: String,
    pub(super) message: &'a str,
}

/// `order`: Apollo's own order id (never the merchant's `order`) and the nonce `[docs]`
/// D-ap:post_order.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderLookupIn {
    pub(super) order_id: Option<String>,
    pub(super) nonce: Option<ScalarText>,
}

/// `orders`: `status[]`, `limit`, `offset` and the nonce `[docs]` D-ap:post_orders.
#[derive(Deserialize)]
pub(super) struct OrdersIn {
    pub(super) status: Option<Vec<String>>,
    pub(super) limit: Option<LooseU64>,
    pub(super) offset: Option<LooseU64>,
    pub(super) nonce: Option<ScalarText>,
}

/// The `order` request payglot sends, nonce last as the JS SDK writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderLookupOut<'a> {
    pub(super) order_id: &'a str,
    pub(super) nonce: u64,
}

#[derive(Serialize)]
pub(super) struct GetAnswer<'a> {
    pub(super) success: bool,
    pub(super) response: GetOrderOut<'a>,
}

#[derive(Serialize)]
pub(super) struct ListAnswer<'a> {
    pub(super) success: bool,
    pub(super) response: OrdersOut<'a>,
}

#[derive(Serialize)]
pub(super) struct OrdersOut<'a> {
    pub(super) orders: Vec<GetOrderOut<'a>>,
    pub(super) total: u64,
}

/// The get shape: `id` is Apollo's id and `orderId` the merchant's order, unlike the create
/// answer (dialect reference §3b).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetOrderOut<'a> {
    pub(super) id: &'a str,
    pub(super) advanced_balance_id: Option<&'a str>,
    pub(super) currency: &'a str,
    pub(super) network: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) order_id: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) address: Option<&'a str>,
    pub(super) address_id: Option<&'a str>,
    pub(super) tag: Option<&'a str>,
    pub(super) amount: &'a str,
    pub(super) received: &'a str,
    pub(super) payment_tolerance_percent: Option<&'a str>,
    pub(super) success_webhook: Option<&'a str>,
    pub(super) error_webhook: Option<&'a str>,
    pub(super) return_url: Option<&'a str>,
    pub(super) link: Option<&'a str>,
    pub(super) expires_at: Option<String>,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
    pub(super) transactions: Vec<GetTransactionOut<'a>>,
    /// Deposits to the order's address that no order claims: payglot sees none.
    pub(super) orphan_deposits: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetTransactionOut<'a> {
    pub(super) id: String,
    pub(super) status: &'a str,
    pub(super) currency: Option<&'a str>,
    pub(super) network: Option<&'a str>,
    pub(super) amount: Option<&'a str>,
    pub(super) tx: Option<&'a str>,
    pub(super) confirmations: Option<u64>,
    pub(super) sender: Option<&'a str>,
    #[serde(rename = "priceUSD")]
    pub(super) price_usd: Option<&'a str>,
    #[serde(rename = "amountUSD")]
    pub(super) amount_usd: Option<&'a str>,
}
