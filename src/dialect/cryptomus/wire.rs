//! Cryptomus's wire types: the create request as merchants send it and as payglot writes it,
//! the invoice answer, and the `{"state":…}` envelopes (dialect reference §2b, §2e).

use serde::{Deserialize, Serialize};

use crate::dialect::encoding::{DecimalText, LooseBool, LooseId, LooseU64, ScalarText};

#[derive(Deserialize)]
pub(super) struct CreateIn {
    pub(super) amount: DecimalText,
    pub(super) currency: String,
    pub(super) order_id: String,
    pub(super) network: Option<String>,
    pub(super) url_return: Option<String>,
    pub(super) url_success: Option<String>,
    pub(super) url_callback: Option<String>,
    pub(super) is_payment_multiple: Option<LooseBool>,
    pub(super) lifetime: Option<LooseU64>,
    pub(super) to_currency: Option<String>,
    pub(super) subtract: Option<DecimalText>,
    pub(super) accuracy_payment_percent: Option<DecimalText>,
    pub(super) additional_data: Option<String>,
    pub(super) currencies: Option<Vec<CurrencyChoice>>,
    pub(super) except_currencies: Option<Vec<CurrencyChoice>>,
    pub(super) course_source: Option<String>,
    pub(super) from_referral_code: Option<String>,
    pub(super) discount_percent: Option<DecimalText>,
    pub(super) is_refresh: Option<LooseBool>,
}

#[derive(Deserialize)]
pub(super) struct CurrencyChoice {
    #[serde(rename = "currency")]
    pub(super) _currency: String,
    #[serde(rename = "network")]
    pub(super) _network: Option<String>,
}

/// The documented field order, PHP-encoded on the way out.
#[derive(Serialize)]
pub(super) struct CreateOut<'a> {
    pub(super) amount: &'a str,
    pub(super) currency: &'a str,
    pub(super) order_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) network: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url_return: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url_success: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url_callback: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) is_payment_multiple: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lifetime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) to_currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) accuracy_payment_percent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_data: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct Envelope {
    pub(super) state: Option<i64>,
    pub(super) result: Option<Box<serde_json::value::RawValue>>,
    pub(super) message: Option<String>,
    pub(super) errors: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct InvoiceIn {
    pub(super) uuid: String,
    pub(super) order_id: Option<String>,
    pub(super) amount: Option<DecimalText>,
    pub(super) payment_amount: Option<DecimalText>,
    pub(super) payer_amount: Option<DecimalText>,
    pub(super) payer_currency: Option<String>,
    pub(super) currency: Option<String>,
    pub(super) network: Option<String>,
    pub(super) address: Option<String>,
    pub(super) from: Option<String>,
    pub(super) txid: Option<String>,
    pub(super) url: Option<String>,
    pub(super) expired_at: Option<LooseId>,
    pub(super) status: Option<String>,
    pub(super) payment_status: Option<String>,
    pub(super) is_final: Option<LooseBool>,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Answer<'a> {
    pub(super) state: u8,
    pub(super) result: InvoiceOut<'a>,
}

#[derive(Serialize)]
pub(super) struct InvoiceOut<'a> {
    pub(super) uuid: &'a str,
    pub(super) order_id: Option<&'a str>,
    pub(super) amount: &'a str,
    pub(super) payment_amount: Option<&'a str>,
    pub(super) payer_amount: Option<&'a str>,
    pub(super) discount_percent: u8,
    pub(super) discount: &'a str,
    pub(super) payer_currency: Option<&'a str>,
    pub(super) currency: &'a str,
    pub(super) comments: Option<&'a str>,
    pub(super) merchant_amount: Option<&'a str>,
    pub(super) commission: &'a str,
    /// Fields Cryptomus's answer carries and strict client types require; `null` where payglot
    /// cannot know the value (a USD amount or rate). Not Heleket's `address_qr_code`: typed
    /// Cryptomus clients refuse keys Cryptomus does not send.
    pub(super) payment_amount_usd: Option<&'a str>,
    pub(super) payer_amount_exchange_rate: Option<&'a str>,
    pub(super) network: Option<&'a str>,
    pub(super) address: Option<&'a str>,
    pub(super) from: Option<&'a str>,
    pub(super) txid: Option<&'a str>,
    pub(super) payment_status: &'a str,
    pub(super) url: Option<&'a str>,
    pub(super) expired_at: Option<i64>,
    pub(super) status: &'a str,
    pub(super) is_final: bool,
    pub(super) additional_data: Option<&'a str>,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
}

/// Cryptomus's error envelope (dialects.md §2e): `{"state":1,"message":…}` or, for
/// validation errors, `{"state":1,"errors":{field:[rule…]}}` — never both: the SDKs (S-cmpy,
/// S-cmphp, S-pycm) read `message` first and surface `errors` only when there is no `message`.
#[derive(Serialize)]
pub(super) struct ErrorOut<'a> {
    pub(super) state: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<&'a str>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub(super) errors: serde_json::Map<String, serde_json::Value>,
}

/// `payment/info`: `uuid` or `order_id` (`order_id` wins when both are given) `[docs]`
/// D-cm:payment-information. Either may come as a number from loosely typed clients; `null`
/// and `""` read as absent, as Laravel's `required_without` reads them.
#[derive(Deserialize, Default)]
pub(super) struct InfoIn {
    pub(super) uuid: Option<LooseId>,
    pub(super) order_id: Option<LooseId>,
}

/// `payment/list`: the cursor (SDKs put it in the body; the docs in the query) and the date
/// filters `[docs]` D-cm:payment-history.
#[derive(Deserialize, Default)]
pub(super) struct ListIn {
    pub(super) cursor: Option<ScalarText>,
    pub(super) date_from: Option<String>,
    pub(super) date_to: Option<String>,
}

/// The `payment/info` request payglot sends: one key, PHP-encoded.
#[derive(Serialize)]
pub(super) struct InfoByUuid<'a> {
    pub(super) uuid: &'a str,
}

#[derive(Serialize)]
pub(super) struct InfoByOrderId<'a> {
    pub(super) order_id: &'a str,
}

/// `{"state":0,"result":{"items":[…],"paginate":{…}}}`.
#[derive(Serialize)]
pub(super) struct ListAnswer<'a> {
    pub(super) state: u8,
    pub(super) result: ListResult<'a>,
}

#[derive(Serialize)]
pub(super) struct ListResult<'a> {
    pub(super) items: Vec<InvoiceOut<'a>>,
    pub(super) paginate: Paginate,
}

/// Laravel's cursor paginator, as Cryptomus answers it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Paginate {
    /// The items on this page.
    pub(super) count: usize,
    /// Whether there is a page before or after this one.
    pub(super) has_pages: bool,
    pub(super) next_cursor: Option<String>,
    pub(super) previous_cursor: Option<String>,
    pub(super) per_page: u32,
}
