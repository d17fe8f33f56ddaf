//! AlpPay's wire types: the create request as merchants send it and as payglot writes it, the
//! payment object (create answer, get answer, webhook), and the error body (dialect reference §1b).

use serde::{Deserialize, Serialize};

use crate::dialect::encoding::{DecimalText, LooseId};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateIn {
    pub(super) amount: DecimalText,
    pub(super) asset: AssetIn,
    pub(super) customer: CustomerIn,
    pub(super) client_id: Option<String>,
    pub(super) invoice: Option<String>,
    pub(super) checkout_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AssetIn {
    pub(super) short: String,
    pub(super) network: String,
}

#[derive(Deserialize)]
pub(super) struct CustomerIn {
    pub(super) id: LooseId,
    pub(super) name: String,
    pub(super) email: String,
}

/// The documented field order; AlpPay may re-marshal before checking the signature.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOut<'a> {
    pub(super) amount: &'a str,
    pub(super) asset: AssetOut<'a>,
    pub(super) customer: CustomerOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) invoice: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) checkout_url: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct AssetOut<'a> {
    pub(super) short: &'a str,
    pub(super) network: &'a str,
}

#[derive(Serialize)]
pub(super) struct CustomerOut<'a> {
    pub(super) id: u64,
    pub(super) name: &'a str,
    pub(super) email: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentIn {
    pub(super) id: LooseId,
    #[serde(default)]
    pub(super) transactions: Option<Vec<TransactionIn>>,
    pub(super) amount: Option<DecimalText>,
    pub(super) total_received_amount: Option<DecimalText>,
    pub(super) asset: Option<AssetEcho>,
    pub(super) address_to: Option<String>,
    pub(super) dest_tag: Option<LooseId>,
    pub(super) timeout: Option<u64>,
    pub(super) status: String,
    pub(super) display_status: Option<String>,
    pub(super) invoice: Option<String>,
    pub(super) payment_redirect_url: Option<String>,
    pub(super) checkout_url: Option<String>,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AssetEcho {
    pub(super) short: Option<String>,
    pub(super) network: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionIn {
    pub(super) txn_id: Option<String>,
    pub(super) received_amount: Option<DecimalText>,
    pub(super) asset: Option<AssetEcho>,
    pub(super) address_from: Option<String>,
    pub(super) address_to: Option<String>,
    pub(super) date: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Wrapped {
    pub(super) data: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
pub(super) struct ErrorIn {
    pub(super) message: Option<String>,
    pub(super) error: Option<serde_json::Value>,
    pub(super) code: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentOut<'a> {
    pub(super) id: &'a str,
    pub(super) transactions: Vec<TransactionOut<'a>>,
    pub(super) amount: &'a str,
    pub(super) total_received_amount: &'a str,
    pub(super) asset: AssetFull<'a>,
    pub(super) address_to: Option<&'a str>,
    pub(super) dest_tag: Option<&'a str>,
    pub(super) confirms_needed: u64,
    pub(super) timeout: Option<i64>,
    pub(super) checkout_url: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) display_status: &'a str,
    pub(super) customer: CustomerEcho<'a>,
    pub(super) merchant: MerchantEcho<'a>,
    pub(super) invoice: Option<&'a str>,
    pub(super) payment_redirect_url: Option<&'a str>,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
    /// What only the get shape carries (`GET /payment/{id}`, list items); absent on create.
    #[serde(flatten)]
    pub(super) get_extras: Option<PaymentGetExtras<'a>>,
}

/// The fields the get shape adds to the payment object `[docs]` D-alp:getPayment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentGetExtras<'a> {
    pub(super) fixed_fee: &'a str,
}

/// The fields the get shape adds to each transaction `[docs]` D-alp:getPayment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionGetExtras<'a> {
    pub(super) fixed_fee: &'a str,
    pub(super) percent_fee: &'a str,
    pub(super) risk_score: Option<u32>,
    pub(super) is_danger: bool,
    pub(super) created_at: Option<String>,
}

/// The get answer: `{"data": <payment>}`.
#[derive(Serialize)]
pub(super) struct GetAnswer<'a> {
    pub(super) data: PaymentOut<'a>,
}

/// The list answer: `{"results": [<payment>…]}` (newer docs; an older version said `data`).
#[derive(Serialize)]
pub(super) struct ListAnswer<'a> {
    pub(super) results: Vec<PaymentOut<'a>>,
}

/// Any AlpPay payment answer, read loosely: the bare create object has neither key, the get
/// answer `data` as an object, the list answer `results` (or, older, `data`) as an array.
#[derive(Deserialize)]
pub(super) struct LookupAnswerIn {
    pub(super) data: Option<Box<serde_json::value::RawValue>>,
    pub(super) results: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssetFull<'a> {
    pub(super) short: &'a str,
    pub(super) name: &'a str,
    pub(super) logo_url: &'a str,
    pub(super) network: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionOut<'a> {
    pub(super) payment_id: &'a str,
    pub(super) txn_id: Option<&'a str>,
    pub(super) received_amount: Option<&'a str>,
    pub(super) asset: AssetFull<'a>,
    pub(super) dest_tag: Option<&'a str>,
    pub(super) address_from: Option<&'a str>,
    pub(super) address_to: Option<&'a str>,
    pub(super) date: Option<String>,
    #[serde(flatten)]
    pub(super) get_extras: Option<TransactionGetExtras<'a>>,
}

#[derive(Serialize)]
pub(super) struct CustomerEcho<'a> {
    pub(super) id: serde_json::Value,
    pub(super) name: Option<&'a str>,
    pub(super) email: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MerchantEcho<'a> {
    pub(super) id: &'a str,
    pub(super) name: Option<&'a str>,
    pub(super) site_url: Option<&'a str>,
    pub(super) logo_url: &'a str,
    pub(super) email: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct ErrorOut<'a> {
    pub(super) code: &'a str,
    pub(super) message: &'a str,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub(super) errors: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "requestId")]
    pub(super) request_id: &'a str,
}
