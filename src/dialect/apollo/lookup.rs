//! Apollo's lookups (dialect reference §3b, §5.3): `order` by Apollo's own id and `orders`
//! (offset/limit), both signed with a nonce like a create, answered in the get shape (`id` =
//! Apollo's id, `orderId` = the merchant's order); and `order` made by payglot towards Apollo,
//! which cannot look up by the merchant's order.

use crate::error::{ApiError, ErrorKind};
use crate::field::{Field, FieldRef};
use crate::model::Payment;
use crate::money::Quantity;
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::translate::UpstreamRequest;

use super::status::status_to_wire;
use super::wire::{
    Envelope, GetAnswer, GetOrderOut, GetTransactionOut, ListAnswer, OrderLookupIn,
    OrderLookupOut, OrdersIn, OrdersOut,
};
use super::{Apollo, facts, nonce_required};
use crate::dialect::encoding::{self, ScalarText, parse_json, text_field};
use crate::dialect::{
    Call, Codec, Dialect, Found, ListPage, Lookup, LookupKey, Operation, RenderContext, common,
};

/// The path of `order` below the API base.
pub const ORDER_PATH: &str = "/order";

/// Reads `order` or `orders`.
pub fn parse_lookup(call: &Call<'_>) -> Result<Lookup, ApiError> {
    match call.operation {
        Operation::LookupPayment => {
            let wire: OrderLookupIn = parse_json(call.body, &Apollo)?;
            let nonce = required_nonce(wire.nonce)?;
            let field = || FieldRef::Wire("orderId".to_owned());
            let Some(id) = wire.order_id else {
                return Err(ApiError::field(
                    field(),
                    "validation.required",
                    "orderId is required: the id Apollo gave the order",
                ));
            };
            common::check_lookup_id(field(), "orderId", &id)?;
            Ok(Lookup::One {
                key: LookupKey::ProviderId(id),
                nonce: Some(nonce),
            })
        }
        Operation::ListPayments => {
            let wire: OrdersIn = parse_json(call.body, &Apollo)?;
            let nonce = required_nonce(wire.nonce)?;
            if wire.status.is_some_and(|s| !s.is_empty()) {
                return Err(ApiError::field(
                    FieldRef::Wire("status".to_owned()),
                    "validation.prohibited",
                    "payglot does not filter orders by status; page through them instead",
                ));
            }
            let limit = match wire.limit {
                None => facts::LIST_MAX_LIMIT,
                Some(l) => u32::try_from(l.0)
                    .ok()
                    .filter(|l| (1..=facts::LIST_MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        ApiError::field(
                            FieldRef::Wire("limit".to_owned()),
                            "validation.between",
                            format!("limit must be between 1 and {}", facts::LIST_MAX_LIMIT),
                        )
                    })?,
            };
            let offset = match wire.offset {
                None => 0,
                Some(o) => u32::try_from(o.0).map_err(|_| {
                    ApiError::field(
                        FieldRef::Wire("offset".to_owned()),
                        "validation.max",
                        "offset is past the last order",
                    )
                })?,
            };
            Ok(Lookup::List {
                limit,
                offset,
                nonce: Some(nonce),
            })
        }
        other => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("Apollo serves no {other:?} lookup"),
        )),
    }
}

/// Every signed Apollo body carries a nonce, lookups too [code].
fn required_nonce(nonce: Option<ScalarText>) -> Result<String, ApiError> {
    let nonce = nonce.ok_or_else(nonce_required)?;
    text_field(&Apollo, Field::Nonce, &nonce.0, crate::facts::MAX_TEXT_FIELD)?;
    Ok(nonce.0)
}

/// `POST /order` with `{"orderId":…,"nonce":…}`, signed. Apollo has no lookup by the
/// merchant's `order` [docs]: `None` for a reference.
pub fn plan_lookup(
    key: &LookupKey,
    credentials: &Credentials,
    nonce: u64,
) -> Option<UpstreamRequest> {
    let LookupKey::ProviderId(order_id) = key else {
        return None;
    };
    let body = encoding::to_compact_json(&OrderLookupOut { order_id, nonce }).into_bytes();
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    headers.extend(Apollo.sign(&body, credentials));
    Some(UpstreamRequest {
        method: "POST",
        path: ORDER_PATH.to_owned(),
        headers,
        body,
    })
}

/// Reads Apollo's answer to `order`: the get shape (read by the create reader, which knows
/// both namings), and a 404 or an error saying "not found" as not found.
pub fn parse_lookup_response(
    status: u16,
    body: &[u8],
    networks: &NetworkTable,
) -> Result<Payment, ApiError> {
    let error_text = serde_json::from_slice::<Envelope>(body)
        .ok()
        .filter(|e| e.success != Some(true))
        .and_then(|e| e.error)
        .map(|e| {
            [e.name, e.message]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ")
        });
    let not_found = match &error_text {
        Some(text) => status == 404 || common::says_not_found(text),
        // A bare 404 without Apollo's envelope: its API answers unknown orders this way too.
        None => status == 404 && serde_json::from_slice::<Envelope>(body).is_err(),
    };
    if not_found {
        let text = error_text.unwrap_or_default();
        return Err(common::upstream_not_found(Dialect::Apollo, status, &text));
    }
    Apollo.parse_create_response(status, body, networks)
}

/// `{"success":true,"response":<order in the get shape>}`.
pub fn render_lookup_answer(found: &Found, context: &RenderContext<'_>) -> Vec<u8> {
    let answer = GetAnswer {
        success: true,
        response: get_order_out(found, context),
    };
    encoding::to_compact_json(&answer).into_bytes()
}

/// `{"success":true,"response":{"orders":[…],"total":N}}`.
pub fn render_list_answer(found: &[Found], page: &ListPage, context: &RenderContext<'_>) -> Vec<u8> {
    let answer = ListAnswer {
        success: true,
        response: OrdersOut {
            orders: found.iter().map(|f| get_order_out(f, context)).collect(),
            total: page.total,
        },
    };
    encoding::to_compact_json(&answer).into_bytes()
}

/// One order in the get shape. What Apollo echoes from the create (the merchant's `order`,
/// webhooks, tolerance, description) comes from the merchant's request as recorded.
fn get_order_out<'a>(found: &'a Found, context: &'a RenderContext<'a>) -> GetOrderOut<'a> {
    let (payment, request) = (&found.payment, &found.request);
    let chain = payment.network.as_deref().or(request.network.as_deref());
    let network_name = |c: &'a str| {
        context
            .networks
            .from_canonical(Dialect::Apollo, c)
            .unwrap_or(c)
    };
    // An unknown status never reaches a writer (the lookup refuses it like a create).
    let status = status_to_wire(payment.status).unwrap_or(&payment.provider_status);
    let transaction_status = facts::transaction_status(payment.status);
    GetOrderOut {
        id: &payment.provider_id,
        advanced_balance_id: None,
        currency: payment.currency.as_deref().unwrap_or(&request.currency),
        network: chain.map(network_name),
        status,
        order_id: request.order_ref.as_deref(),
        description: request.description.as_deref(),
        address: payment.address.as_deref(),
        address_id: None,
        tag: payment.address_tag.as_deref(),
        amount: payment
            .amount
            .as_ref()
            .map(Quantity::as_str)
            .unwrap_or(request.amount.as_str()),
        received: payment
            .received
            .as_ref()
            .map(Quantity::as_str)
            .unwrap_or("0"),
        payment_tolerance_percent: request.tolerance_percent.as_deref(),
        success_webhook: request.callbacks.success.as_deref(),
        error_webhook: request.callbacks.failure.as_deref(),
        return_url: request.success_url.as_deref(),
        link: payment.payment_url.as_deref(),
        expires_at: payment.expires_at.map(encoding::format_millis_z),
        created_at: payment.created_at.map(encoding::format_millis_z),
        updated_at: payment
            .updated_at
            .or(payment.created_at)
            .map(encoding::format_millis_z),
        transactions: payment
            .transactions
            .iter()
            .enumerate()
            .map(|(i, t)| GetTransactionOut {
                // Apollo's own transaction id is not carried across providers: the hash, or
                // the payment id and position when there is none.
                id: t
                    .tx_hash
                    .clone()
                    .unwrap_or_else(|| format!("{}-{i}", payment.provider_id)),
                status: transaction_status,
                currency: t.currency.as_deref().or(payment.currency.as_deref()),
                network: t.network.as_deref().or(chain).map(network_name),
                amount: t.amount.as_ref().map(Quantity::as_str),
                tx: t.tx_hash.as_deref(),
                confirmations: t.confirmations,
                sender: t.from.as_deref(),
                price_usd: None,
                amount_usd: None,
            })
            .collect(),
        orphan_deposits: [],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreatePayment, MerchantProfile, PaymentStatus, Transaction};
    use crate::money::Amount;
    use hmac::{Hmac, Mac};
    use http::{HeaderMap, HeaderValue};
    use serde_json::{Value, json};
    use sha2::Sha256;

    const KEY: &str = "test_private_key";
    const ID: &str = "6e9bfb7c-3bb1-4d25-a1a9-4b1d3e1b5a10";

    /// hex HMAC-SHA256(private key, body), computed here without the codec's signer.
    fn independent_sign(body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn parse(operation: Operation, body: &str) -> Result<Lookup, ApiError> {
        Apollo.parse_lookup(&Call {
            operation,
            path_id: None,
            query: None,
            body: body.as_bytes(),
        })
    }

    fn field_of(operation: Operation, body: &str) -> String {
        let error = parse(operation, body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidField, "{body}: {error}");
        Apollo.name_of(&error.fields[0].field)
    }

    #[test]
    fn order_in_every_sdk_encoding() {
        let expect = |nonce: &str| Lookup::One {
            key: LookupKey::ProviderId(ID.into()),
            nonce: Some(nonce.into()),
        };
        // JS (nonce last), Python (spaces), Go (sorted keys, string nonce), PHP (`\/`).
        let cases = [
            (format!(r#"{{"orderId":"{ID}","nonce":1700000000001}}"#), "1700000000001"),
            (format!(r#"{{"orderId": "{ID}", "nonce": 123456789}}"#), "123456789"),
            (
                format!(r#"{{"advancedBalanceId":"b-1","nonce":"e46c3fb5","orderId":"{ID}"}}"#),
                "e46c3fb5",
            ),
            (
                format!(r#"{{"nonce":1700000000002,"orderId":"{ID}","returnUrl":"https:\/\/x.example"}}"#),
                "1700000000002",
            ),
        ];
        for (body, nonce) in &cases {
            assert_eq!(parse(Operation::LookupPayment, body).unwrap(), expect(nonce), "{body}");
        }
    }

    #[test]
    fn malformed_order_lookups() {
        let lookup = Operation::LookupPayment;
        assert_eq!(field_of(lookup, &format!(r#"{{"orderId":"{ID}"}}"#)), "nonce");
        assert_eq!(field_of(lookup, r#"{"nonce":1}"#), "orderId");
        assert_eq!(field_of(lookup, r#"{"orderId":null,"nonce":1}"#), "orderId");
        assert_eq!(field_of(lookup, r#"{"orderId":"","nonce":1}"#), "orderId");
        assert_eq!(field_of(lookup, r#"{"orderId":"Order #1","nonce":1}"#), "orderId");
        assert_eq!(field_of(lookup, r#"{"orderId":42,"nonce":1}"#), "orderId");
        let long = format!(r#"{{"orderId":"{}","nonce":1}}"#, "a".repeat(129));
        assert_eq!(field_of(lookup, &long), "orderId");
        for body in ["", "{", "[]", r#"{"orderId":"a","nonce":1}x"#] {
            assert_eq!(
                parse(lookup, body).unwrap_err().kind,
                ErrorKind::MalformedBody,
                "{body:?}"
            );
        }
        // In Apollo's envelope, naming the field.
        let error = parse(lookup, r#"{"nonce":1}"#).unwrap_err();
        let (status, body) = Apollo.render_error(&error, "req-9");
        assert_eq!(status, 422);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["success"], false);
        assert!(body["error"]["message"].as_str().unwrap().contains("orderId"), "{body}");
        assert_eq!(body["requestId"], "req-9");
    }

    #[test]
    fn orders_page_by_limit_and_offset() {
        let list = Operation::ListPayments;
        let page = |limit, offset| Lookup::List {
            limit,
            offset,
            nonce: Some("7".into()),
        };
        assert_eq!(parse(list, r#"{"nonce":7}"#).unwrap(), page(100, 0));
        assert_eq!(
            parse(list, r#"{"limit": 10, "offset": 20, "nonce": 7}"#).unwrap(),
            page(10, 20)
        );
        assert_eq!(
            parse(list, r#"{"status":[],"limit":"100","offset":null,"nonce":"7"}"#).unwrap(),
            page(100, 0)
        );
        assert_eq!(field_of(list, r#"{"limit":0,"nonce":7}"#), "limit");
        assert_eq!(field_of(list, r#"{"limit":101,"nonce":7}"#), "limit");
        assert_eq!(field_of(list, r#"{"offset":-1,"nonce":7}"#), "offset");
        assert_eq!(field_of(list, r#"{"offset":4294967296,"nonce":7}"#), "offset");
        assert_eq!(field_of(list, r#"{"status":["processed"],"nonce":7}"#), "status");
        assert_eq!(field_of(list, r#"{"limit":10}"#), "nonce");
    }

    #[test]
    fn lookups_are_verified_like_creates() {
        let body = format!(r#"{{"orderId":"{ID}","nonce":1}}"#);
        let call = Call {
            operation: Operation::LookupPayment,
            path_id: None,
            query: None,
            body: body.as_bytes(),
        };
        let mut headers = HeaderMap::new();
        assert_eq!(
            Apollo.verify_call(&call, &headers, KEY.as_bytes()).unwrap_err().kind,
            ErrorKind::Unauthenticated
        );
        let good = independent_sign(body.as_bytes());
        headers.insert("x-api-signature", HeaderValue::from_str(&good).unwrap());
        assert!(Apollo.verify_call(&call, &headers, KEY.as_bytes()).is_ok());
    }

    #[test]
    fn outbound_order_lookups_are_signed_by_id_only() {
        let credentials = Credentials::new("public-key", KEY);
        let plan = Apollo
            .plan_lookup(&LookupKey::ProviderId(ID.into()), &credentials, 1700000000005)
            .unwrap();
        let body = format!(r#"{{"orderId":"{ID}","nonce":1700000000005}}"#);
        assert_eq!(plan.method, "POST");
        assert_eq!(plan.path, "/order");
        assert_eq!(plan.body, body.as_bytes());
        assert_eq!(
            plan.headers,
            vec![
                ("Content-Type", "application/json".to_owned()),
                ("x-api-public-key", "public-key".to_owned()),
                ("x-api-signature", independent_sign(body.as_bytes())),
            ]
        );
        assert!(
            Apollo
                .plan_lookup(&LookupKey::Reference("Order #1".into()), &credentials, 1)
                .is_none()
        );
    }

    /// The get-order example's shape (dialect reference §3b).
    const GET_ANSWER: &str = r#"{"success":true,"response":{"id":"6e9bfb7c-3bb1-4d25-a1a9-4b1d3e1b5a10","advancedBalanceId":"b-1","currency":"USDT","network":"tron","status":"pending","orderId":"Order #123456","description":"Two mugs","address":"TAddr","addressId":"a-1","tag":null,"amount":"100","received":"40","paymentTolerancePercent":"1.5","successWebhook":"https://shop.example/ok","errorWebhook":"https://shop.example/err","returnUrl":"https://shop.example/back","link":"https://pay.apollopayment.io/order/6e9bfb7c","expiresAt":"2024-10-15T17:11:27.596Z","createdAt":"2024-10-15T16:41:27.596Z","updatedAt":"2024-10-15T16:50:00.000Z","transactions":[{"id":"t-1","status":"processed","currency":"USDT","network":"tron","amount":"40","tx":"0xfeed","confirmations":20,"sender":"TPayer","priceUSD":"1","amountUSD":"40"}],"orphanDeposits":[]}}"#;

    #[test]
    fn the_get_shape_is_read() {
        let networks = NetworkTable::builtin();
        let payment = Apollo
            .parse_lookup_response(200, GET_ANSWER.as_bytes(), &networks)
            .unwrap();
        assert_eq!(payment.provider_id, ID);
        assert_eq!(payment.order_ref.as_deref(), Some("Order #123456"));
        assert_eq!(payment.status, PaymentStatus::UnderpaidOpen);
        assert_eq!(payment.received.as_ref().map(Quantity::as_str), Some("40"));
        assert_eq!(payment.transactions.len(), 1);
        assert_eq!(payment.transactions[0].tx_hash.as_deref(), Some("0xfeed"));
        assert_eq!(payment.transactions[0].confirmations, Some(20));
        assert_eq!(payment.payment_url.as_deref(), Some("https://pay.apollopayment.io/order/6e9bfb7c"));
    }

    #[test]
    fn not_found_answers() {
        let networks = NetworkTable::builtin();
        let kind = |status, body: &str| {
            Apollo
                .parse_lookup_response(status, body.as_bytes(), &networks)
                .unwrap_err()
                .kind
        };
        let named = r#"{"success":false,"error":{"code":404,"name":"NOT_FOUND","message":"Order not found"},"requestId":"r"}"#;
        assert_eq!(kind(200, named), ErrorKind::NotFound);
        assert_eq!(kind(400, named), ErrorKind::NotFound);
        let worded = r#"{"success":false,"error":{"code":400,"name":"BAD_REQUEST","message":"order not found"}}"#;
        assert_eq!(kind(200, worded), ErrorKind::NotFound);
        let coded = r#"{"success":false,"error":{"code":1,"name":"ERROR","message":"gone"}}"#;
        assert_eq!(kind(404, coded), ErrorKind::NotFound);
        assert_eq!(kind(404, "Not Found"), ErrorKind::NotFound);
        let other = r#"{"success":false,"error":{"code":400,"name":"VALIDATION","message":"orderId must be a UUID"}}"#;
        assert_eq!(kind(200, other), ErrorKind::UpstreamRejected);
        assert_eq!(kind(200, r#"{"success":true}"#), ErrorKind::UpstreamInvalid);
        assert_eq!(kind(500, "oops"), ErrorKind::UpstreamRejected);
    }

    fn found() -> Found {
        let at = |s: &str| encoding::parse_time(s).unwrap();
        let payment = Payment {
            provider_id: "8b03432e-385b-4670-8d06-064591096795".into(),
            order_ref: Some("order-7".into()),
            status: PaymentStatus::Confirming,
            is_final: false,
            provider_status: "confirm_check".into(),
            amount: Some(Quantity::parse("15").unwrap()),
            received: Some(Quantity::parse("15").unwrap()),
            currency: Some("USDT".into()),
            pay_amount: None,
            pay_currency: None,
            network: Some("ethereum".into()),
            address: Some("0xaddr".into()),
            address_tag: None,
            payment_url: Some("https://pay.cryptomus.com/pay/8b03432e".into()),
            expires_at: Some(at("2025-05-20T13:00:00Z")),
            created_at: Some(at("2025-05-20T12:00:00Z")),
            updated_at: Some(at("2025-05-20T12:10:00.5Z")),
            transactions: vec![Transaction {
                tx_hash: Some("0xtx".into()),
                amount: None,
                from: Some("0xpayer".into()),
                ..Default::default()
            }],
        };
        let request = CreatePayment {
            order_ref: Some("Order #7".into()),
            amount: Amount::parse("15").unwrap(),
            currency: "USDT".into(),
            pay_currency: None,
            network: Some("ethereum".into()),
            lifetime_secs: Some(1800),
            callbacks: crate::model::Callbacks {
                success: Some("https://shop.example/ok".into()),
                failure: Some("https://shop.example/err".into()),
            },
            return_url: None,
            success_url: Some("https://shop.example/back".into()),
            customer: Default::default(),
            client_id: None,
            description: Some("Two mugs".into()),
            tolerance_percent: Some("1.5".into()),
            allow_partial: None,
            nonce: Some("1".into()),
            unportable: Vec::new(),
        };
        Found { payment, request }
    }

    fn with_context<T>(f: impl FnOnce(&RenderContext<'_>) -> T) -> T {
        let networks = NetworkTable::builtin();
        let merchant = MerchantProfile::default();
        let context = RenderContext {
            networks: &networks,
            merchant: &merchant,
            nonce: 1,
            request_id: "req-1",
            now: time::OffsetDateTime::UNIX_EPOCH,
            relay_callback: None,
        };
        f(&context)
    }

    #[test]
    fn the_get_answer_names_ids_the_get_way() {
        let body = with_context(|c| Apollo.render_lookup_answer(&found(), c));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            answer,
            json!({"success": true, "response": {
                "id": "8b03432e-385b-4670-8d06-064591096795",
                "advancedBalanceId": null,
                "currency": "USDT",
                "network": "ethereum",
                "status": "pending",
                "orderId": "Order #7",
                "description": "Two mugs",
                "address": "0xaddr",
                "addressId": null,
                "tag": null,
                "amount": "15",
                "received": "15",
                "paymentTolerancePercent": "1.5",
                "successWebhook": "https://shop.example/ok",
                "errorWebhook": "https://shop.example/err",
                "returnUrl": "https://shop.example/back",
                "link": "https://pay.cryptomus.com/pay/8b03432e",
                "expiresAt": "2025-05-20T13:00:00.000Z",
                "createdAt": "2025-05-20T12:00:00.000Z",
                "updatedAt": "2025-05-20T12:10:00.500Z",
                "transactions": [{
                    "id": "0xtx", "status": "pending", "currency": "USDT",
                    "network": "ethereum", "amount": null, "tx": "0xtx",
                    "confirmations": null, "sender": "0xpayer",
                    "priceUSD": null, "amountUSD": null,
                }],
                "orphanDeposits": [],
            }})
        );
        // An Apollo client reading it back finds Apollo-side ids where it expects them.
        let back = Apollo
            .parse_lookup_response(200, &body, &NetworkTable::builtin())
            .unwrap();
        assert_eq!(back.provider_id, "8b03432e-385b-4670-8d06-064591096795");
        assert_eq!(back.order_ref.as_deref(), Some("Order #7"));
    }

    #[test]
    fn the_list_answer_carries_orders_and_total() {
        let page = ListPage {
            limit: 2,
            offset: 4,
            total: 9,
        };
        let body = with_context(|c| Apollo.render_list_answer(&[found(), found()], &page, c));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["success"], true);
        assert_eq!(answer["response"]["total"], 9);
        let orders = answer["response"]["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[1]["id"], "8b03432e-385b-4670-8d06-064591096795");
        assert_eq!(orders[1]["orderId"], "Order #7");
        let empty = with_context(|c| Apollo.render_list_answer(&[], &page, c));
        assert_eq!(empty, br#"{"success":true,"response":{"orders":[],"total":9}}"#);
    }
}
