//! Cryptomus payment webhooks (dialect reference §2c): `sign` inside the JSON body,
//! md5(base64(PHP `json_encode` of the body without `sign`) ‖ payment key).
//!
//! Received: every form a sender is known to use is accepted — the PHP re-encoding (`/` as
//! `\/`, member order kept), the raw body with its `,"sign":"…"` member cut out, and the plain
//! compact re-encoding NearPayments documents. Sent: the PHP encoding with `sign` appended as
//! the last member, which both re-encoding and raw-strip verifiers accept.

use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

use super::sign::{cryptomus_sign, php_json_escape};
use super::status::status_to_wire;
use crate::dialect::{Codec, Dialect, OutgoingWebhook, RenderContext, WebhookAuth, encoding};
use crate::error::{ApiError, ErrorKind};
use crate::model::{CreatePayment, Payment};
use crate::money::Quantity;
use crate::network::NetworkTable;
use crate::secret::Credentials;

/// Checks `sign` in a Cryptomus webhook body against the payment key.
pub fn verify(body: &[u8], key: &[u8]) -> WebhookAuth {
    let Ok(text) = std::str::from_utf8(body) else {
        return WebhookAuth::Forged;
    };
    let Ok(members) = serde_json::from_str::<Members>(text) else {
        return WebhookAuth::Forged;
    };
    let Some(claimed) = members.sign() else {
        return WebhookAuth::Forged;
    };
    let claimed = claimed.to_ascii_lowercase();
    let matches = |signed: &[u8]| {
        bool::from(
            cryptomus_sign(key, signed)
                .as_bytes()
                .ct_eq(claimed.as_bytes()),
        )
    };
    let compact = members.compact_without_sign();
    let candidates = [
        // Cryptomus (PHP `json_encode`): `/` escaped.
        Some(php_json_escape(&compact)),
        // The raw text without its `sign` member, for senders whose bytes are already PHP's.
        strip_sign(text, &claimed),
        // NearPayments' documented `JSON.stringify(body)`: no `/` escaping.
        Some(compact),
    ];
    if candidates.iter().flatten().any(|c| matches(c.as_bytes())) {
        WebhookAuth::Verified
    } else {
        WebhookAuth::Forged
    }
}

/// The raw body with its `,"sign":"<sign>"` member removed (either hex case as sent).
fn strip_sign(text: &str, claimed_lower: &str) -> Option<String> {
    let at = text.to_ascii_lowercase().find(&format!(
        ",\"sign\":\"{claimed_lower}\""
    ))?;
    let member_len = ",\"sign\":\"\"".len() + claimed_lower.len();
    Some(format!("{}{}", &text[..at], &text[at + member_len..]))
}

/// A JSON object's members in the order sent, each value's exact text kept.
struct Members(Vec<(String, Box<RawValue>)>);

impl Members {
    fn sign(&self) -> Option<String> {
        self.0
            .iter()
            .find(|(name, _)| name == "sign")
            .and_then(|(_, value)| serde_json::from_str::<String>(value.get()).ok())
    }

    /// Compact JSON of every member but `sign`, in order, numbers as sent.
    fn compact_without_sign(&self) -> String {
        let members: Vec<String> = self
            .0
            .iter()
            .filter(|(name, _)| name != "sign")
            .map(|(name, value)| format!("{}:{}", json_string(name), compact(value.get())))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Compact JSON for a value's text: objects and arrays re-encoded member by member (order
/// kept), strings re-encoded as serde_json writes them, numbers and literals as sent.
fn compact(value: &str) -> String {
    let trimmed = value.trim();
    match trimmed.as_bytes().first() {
        Some(b'{') => serde_json::from_str::<Members>(trimmed)
            .map(|m| {
                let members: Vec<String> =
                    m.0.iter()
                        .map(|(name, value)| {
                            format!("{}:{}", json_string(name), compact(value.get()))
                        })
                        .collect();
                format!("{{{}}}", members.join(","))
            })
            .unwrap_or_else(|_| trimmed.to_owned()),
        Some(b'[') => serde_json::from_str::<Vec<Box<RawValue>>>(trimmed)
            .map(|items| {
                let items: Vec<String> = items.iter().map(|v| compact(v.get())).collect();
                format!("[{}]", items.join(","))
            })
            .unwrap_or_else(|_| trimmed.to_owned()),
        Some(b'"') => serde_json::from_str::<String>(trimmed)
            .map(|s| json_string(&s))
            .unwrap_or_else(|_| trimmed.to_owned()),
        _ => trimmed.to_owned(),
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Members, A::Error> {
                Err(serde::de::Error::custom("expected an object"))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// Reads a Cryptomus payment webhook: the flat invoice snapshot, read as the invoice answer.
pub fn parse(body: &[u8], networks: &NetworkTable) -> Result<Payment, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8"))?;
    let members = serde_json::from_str::<Members>(text).map_err(|e| invalid(&e.to_string()))?;
    let kind = members
        .0
        .iter()
        .find(|(name, _)| name == "type")
        .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok());
    if kind.as_deref().is_some_and(|k| k != "payment") {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!("Cryptomus {} webhooks are not relayed", kind.unwrap_or_default()),
        ));
    }
    let envelope = format!("{{\"state\":0,\"result\":{text}}}");
    super::Cryptomus.parse_create_response(200, envelope.as_bytes(), networks)
}

fn invalid(why: &str) -> ApiError {
    ApiError::new(
        ErrorKind::MalformedBody,
        format!("not a Cryptomus webhook: {why}"),
    )
}

/// The payment webhook body without `sign`, members in Cryptomus's documented order.
#[derive(Serialize)]
struct PaymentWebhook<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    uuid: &'a str,
    order_id: Option<&'a str>,
    amount: &'a str,
    payment_amount: Option<&'a str>,
    payment_amount_usd: Option<&'a str>,
    merchant_amount: Option<&'a str>,
    commission: Option<&'a str>,
    is_final: bool,
    status: &'a str,
    from: Option<&'a str>,
    wallet_address_uuid: Option<&'a str>,
    network: Option<&'a str>,
    currency: &'a str,
    payer_currency: Option<&'a str>,
    payer_amount: Option<&'a str>,
    payer_amount_exchange_rate: Option<&'a str>,
    transfer_id: Option<&'a str>,
    additional_data: Option<&'a str>,
    txid: Option<&'a str>,
}

/// The webhook a Cryptomus merchant expects: PHP-encoded, `sign` (with its payment key) last.
pub fn render(
    payment: &Payment,
    request: &CreatePayment,
    credentials: &Credentials,
    context: &RenderContext<'_>,
) -> OutgoingWebhook {
    let status = status_to_wire(payment.status).unwrap_or(&payment.provider_status);
    let chain = payment.network.as_deref().or(request.network.as_deref());
    let network = chain.map(|c| {
        context
            .networks
            .from_canonical(Dialect::Cryptomus, c)
            .unwrap_or(c)
    });
    let last_tx = payment.transactions.last();
    let payload = PaymentWebhook {
        kind: "payment",
        uuid: &payment.provider_id,
        order_id: request.order_ref.as_deref(),
        amount: request.amount.as_str(),
        payment_amount: payment.received.as_ref().map(Quantity::as_str),
        // Neither a USD value nor fees are known across providers: absent as Cryptomus writes
        // unknowns, never invented.
        payment_amount_usd: None,
        merchant_amount: None,
        commission: None,
        is_final: payment.is_final,
        status,
        from: last_tx.and_then(|t| t.from.as_deref()),
        wallet_address_uuid: None,
        network,
        currency: &request.currency,
        payer_currency: payment
            .pay_currency
            .as_deref()
            .or(payment.currency.as_deref()),
        payer_amount: payment
            .pay_amount
            .as_ref()
            .or(payment.amount.as_ref())
            .map(Quantity::as_str),
        payer_amount_exchange_rate: None,
        transfer_id: None,
        additional_data: request.description.as_deref(),
        txid: last_tx.and_then(|t| t.tx_hash.as_deref()),
    };
    let encoded = php_json_escape(&encoding::to_compact_json(&payload));
    let sign = cryptomus_sign(credentials.secret.expose().as_bytes(), encoded.as_bytes());
    let body = match encoded.strip_suffix('}') {
        Some(members) if members != "{" => format!("{members},\"sign\":\"{sign}\"}}"),
        _ => format!("{{\"sign\":\"{sign}\"}}"),
    };
    OutgoingWebhook {
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.into_bytes(),
    }
}

impl crate::dialect::Webhooks for super::Cryptomus {
    fn verify_webhook(
        &self,
        _headers: &http::HeaderMap,
        body: &[u8],
        credentials: &Credentials,
    ) -> WebhookAuth {
        verify(body, credentials.secret.expose().as_bytes())
    }

    fn webhook_fetch_back(&self) -> bool {
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test_payment_key_123";

    /// The dialect reference's §4 webhook, as signed (PHP encoding).
    const SIGNED: &str = r#"{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"97a75bf8eda5cca41ba9d2e104840fcd","amount":"3.00000000","payment_amount":"3.00000000","payment_amount_usd":"0.23","merchant_amount":"2.94000000","commission":"0.06000000","is_final":true,"status":"paid","from":"THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH","wallet_address_uuid":null,"network":"tron","currency":"TRX","payer_currency":"TRX","additional_data":"Тест \/ x","convert":{"to_currency":"USDT","commission":null,"rate":"0.07700000","amount":"0.22638000"},"txid":"6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b"}"#;

    fn with_sign(json: &str, sign: &str) -> String {
        format!(
            "{},\"sign\":\"{sign}\"}}",
            json.strip_suffix('}').unwrap_or(json)
        )
    }

    #[test]
    fn the_documented_vector_verifies_in_every_received_form() {
        let wire = with_sign(SIGNED, "daa9f937f2e778bd98b4e91afb0cced2");
        assert_eq!(verify(wire.as_bytes(), KEY), WebhookAuth::Verified);
        // Unescaped slashes and spaces (a re-serialising sender): the PHP re-encoding matches.
        let relaxed = wire.replace("\\/", "/").replace(",\"", ", \"");
        assert_eq!(verify(relaxed.as_bytes(), KEY), WebhookAuth::Verified);
        // `sign` first rather than last: the re-encoding still matches.
        let first = format!(
            "{{\"sign\":\"daa9f937f2e778bd98b4e91afb0cced2\",{}",
            &SIGNED[1..]
        );
        assert_eq!(verify(first.as_bytes(), KEY), WebhookAuth::Verified);
        // NearPayments' documented form: md5 over the compact body without `\/`.
        let plain = SIGNED.replace("\\/", "/");
        let near = with_sign(&plain, &cryptomus_sign(KEY, plain.as_bytes()));
        assert_eq!(verify(near.as_bytes(), KEY), WebhookAuth::Verified);
    }

    #[test]
    fn forged_altered_and_unsigned_bodies_are_refused() {
        let wire = with_sign(SIGNED, "daa9f937f2e778bd98b4e91afb0cced2");
        assert_eq!(verify(wire.as_bytes(), b"other key"), WebhookAuth::Forged);
        let altered = wire.replace("\"paid\"", "\"paid_over\"");
        assert_eq!(verify(altered.as_bytes(), KEY), WebhookAuth::Forged);
        assert_eq!(verify(SIGNED.as_bytes(), KEY), WebhookAuth::Forged);
        // §4's naive `JSON.stringify` sign is NearPayments' documented form (accepted); the
        // ASCII-escaped one matches no sender's form.
        let naive = with_sign(SIGNED, "cb1db0d06d964050fb6af7e700d30a9a");
        assert_eq!(verify(naive.as_bytes(), KEY), WebhookAuth::Verified);
        let ascii = with_sign(SIGNED, "aa11debec13bf031118653cceab45b16");
        assert_eq!(verify(ascii.as_bytes(), KEY), WebhookAuth::Forged);
        assert_eq!(verify(b"not json", KEY), WebhookAuth::Forged);
        assert_eq!(verify(b"[]", KEY), WebhookAuth::Forged);
    }
}
