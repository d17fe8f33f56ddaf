//! Cryptomus's lookups (dialect reference §2b, §5.3): `payment/info` by `uuid` or `order_id`
//! and `payment/list` with a cursor, both signed like a create (the empty body of a list is
//! signed over the empty string by some SDKs, which `verify` accepts); and `payment/info` made
//! by payglot towards Cryptomus or NearPayments.

use crate::error::{ApiError, ErrorKind, FieldError};
use crate::field::{Field, FieldRef};
use crate::model::Payment;
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::translate::UpstreamRequest;

use super::wire::{
    Envelope, InfoByOrderId, InfoByUuid, InfoIn, ListAnswer, ListIn, ListResult, Paginate,
};
use super::{Cryptomus, derive_order_id, facts, invoice_out, is_legal_order_id, sign};
use crate::dialect::encoding::{self, parse_json};
use crate::dialect::{
    Call, Codec, Dialect, Found, ListPage, Lookup, LookupKey, Operation, RenderContext, common,
};

/// The path of `payment/info` below the API base.
pub const INFO_PATH: &str = "/payment/info";

/// Reads `payment/info` or `payment/list`.
pub fn parse_lookup(call: &Call<'_>) -> Result<Lookup, ApiError> {
    match call.operation {
        Operation::LookupPayment => parse_info(call.body),
        Operation::ListPayments => parse_list(call.query.unwrap_or_default(), call.body),
        other => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("Cryptomus serves no {other:?} lookup"),
        )),
    }
}

/// Whether a body carries no parameters: empty (signed over `""`), PHP's `[]` or `{}`.
fn is_empty_parameter_set(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii();
    trimmed.is_empty() || trimmed == b"[]"
}

fn parse_info(body: &[u8]) -> Result<Lookup, ApiError> {
    let wire: InfoIn = if is_empty_parameter_set(body) {
        InfoIn::default()
    } else {
        parse_json(body, &Cryptomus)?
    };
    let present = |v: Option<encoding::LooseId>| v.map(|v| v.0).filter(|v| !v.is_empty());
    let (uuid, order_id) = (present(wire.uuid), present(wire.order_id));
    // `order_id` wins when both are given [docs].
    let key = match (order_id, uuid) {
        (Some(order_id), _) => {
            if !is_legal_order_id(&order_id) {
                return Err(ApiError::field(
                    Field::OrderRef,
                    "validation.alpha_dash",
                    "order_id must be 1–128 letters, digits, '_' or '-'",
                ));
            }
            LookupKey::Reference(order_id)
        }
        (None, Some(uuid)) => {
            common::check_lookup_id(FieldRef::Wire("uuid".to_owned()), "uuid", &uuid)?;
            LookupKey::ProviderId(uuid)
        }
        (None, None) => return Err(uuid_or_order_id_required()),
    };
    Ok(Lookup::One { key, nonce: None })
}

/// Cryptomus's own answer for neither key: both fields, rule `required_without` `[docs]`.
fn uuid_or_order_id_required() -> ApiError {
    let rule = "validation.required_without";
    ApiError {
        fields: vec![
            FieldError {
                field: FieldRef::Wire("uuid".to_owned()),
                rule: rule.to_owned(),
            },
            FieldError {
                field: Field::OrderRef.into(),
                rule: rule.to_owned(),
            },
        ],
        ..ApiError::new(
            ErrorKind::InvalidField,
            "uuid is required when order_id is not present",
        )
    }
}

fn parse_list(query: &str, body: &[u8]) -> Result<Lookup, ApiError> {
    let wire: ListIn = if is_empty_parameter_set(body) {
        ListIn::default()
    } else {
        parse_json(body, &Cryptomus)?
    };
    for (name, value) in [("date_from", &wire.date_from), ("date_to", &wire.date_to)] {
        if value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::field(
                FieldRef::Wire(name.to_owned()),
                "validation.prohibited",
                format!("payglot does not filter payments by {name}; page through them instead"),
            ));
        }
    }
    // The documented place is the query; the official SDKs send it in the body.
    let from_query = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "cursor")
        .map(|(_, value)| value.into_owned());
    let present = |c: &String| !c.is_empty();
    let cursor = from_query
        .filter(present)
        .or(wire.cursor.map(|c| c.0).filter(present));
    let offset = match cursor {
        Some(cursor) => cursor.parse::<u32>().map_err(|_| {
            ApiError::field(
                FieldRef::Wire("cursor".to_owned()),
                "validation.invalid",
                "cursor is not one payglot gave out",
            )
        })?,
        None => 0,
    };
    Ok(Lookup::List {
        limit: facts::LIST_PER_PAGE,
        offset,
        nonce: None,
    })
}

/// `POST /payment/info` with `{"uuid":…}` or `{"order_id":…}`, PHP-encoded and signed like a
/// create. A reference passes through [`derive_order_id`], as it did at create.
pub fn plan_lookup(key: &LookupKey, credentials: &Credentials) -> UpstreamRequest {
    let json = match key {
        LookupKey::ProviderId(uuid) => encoding::to_compact_json(&InfoByUuid { uuid }),
        LookupKey::Reference(reference) => encoding::to_compact_json(&InfoByOrderId {
            order_id: &derive_order_id(reference),
        }),
    };
    let body = sign::php_json_escape(&json).into_bytes();
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    headers.extend(Cryptomus.sign(&body, credentials));
    UpstreamRequest {
        method: "POST",
        path: INFO_PATH.to_owned(),
        headers,
        body,
    }
}

/// Reads Cryptomus's answer to `payment/info`: the invoice as a create's, and its not-found
/// answer (`{"state":1,"message":"Payment not found"}`, under any HTTP status) as not found.
pub fn parse_lookup_response(
    status: u16,
    body: &[u8],
    networks: &NetworkTable,
) -> Result<Payment, ApiError> {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body)
        && envelope.state != Some(0)
        && let Some(message) = envelope.message.as_deref()
        && common::says_not_found(message)
    {
        return Err(common::upstream_not_found(Dialect::Cryptomus, status, message));
    }
    Cryptomus.parse_create_response(status, body, networks)
}

/// `{"state":0,"result":{"items":[…],"paginate":{…}}}`, cursors being offsets.
pub fn render_list_answer(found: &[Found], page: &ListPage, context: &RenderContext<'_>) -> Vec<u8> {
    let offset = u64::from(page.offset);
    let after = offset + found.len() as u64;
    let next_cursor = (after < page.total).then(|| after.to_string());
    let previous_cursor =
        (page.offset > 0).then(|| page.offset.saturating_sub(page.limit).to_string());
    let answer = ListAnswer {
        state: 0,
        result: ListResult {
            items: found
                .iter()
                .map(|f| invoice_out(&f.payment, &f.request, context))
                .collect(),
            paginate: Paginate {
                count: found.len(),
                has_pages: next_cursor.is_some() || previous_cursor.is_some(),
                next_cursor,
                previous_cursor,
                per_page: page.limit,
            },
        },
    };
    sign::php_json_escape(&encoding::to_compact_json(&answer)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreatePayment, MerchantProfile, PaymentStatus, Transaction};
    use crate::money::{Amount, Quantity};
    use base64::Engine as _;
    use http::{HeaderMap, HeaderValue};
    use md5::{Digest as _, Md5};
    use serde_json::{Value, json};

    const KEY: &str = "test_payment_key_123";

    /// md5(base64(body) ‖ key), computed here without the codec's signer.
    fn independent_sign(body: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        hex::encode(Md5::digest(format!("{b64}{KEY}").as_bytes()))
    }

    fn info(body: &str) -> Result<Lookup, ApiError> {
        Cryptomus.parse_lookup(&Call {
            operation: Operation::LookupPayment,
            path_id: None,
            query: None,
            body: body.as_bytes(),
        })
    }

    fn list(query: Option<&str>, body: &str) -> Result<Lookup, ApiError> {
        Cryptomus.parse_lookup(&Call {
            operation: Operation::ListPayments,
            path_id: None,
            query,
            body: body.as_bytes(),
        })
    }

    fn one(key: LookupKey) -> Lookup {
        Lookup::One { key, nonce: None }
    }

    fn reference(r: &str) -> Lookup {
        one(LookupKey::Reference(r.into()))
    }

    fn uuid(u: &str) -> Lookup {
        one(LookupKey::ProviderId(u.into()))
    }

    #[test]
    fn info_in_every_sdk_encoding() {
        let id = "8b03432e-385b-4670-8d06-064591096795";
        // PHP compact, Python `json.dumps` with spaces and nulls, `order_id` winning.
        assert_eq!(info(&format!(r#"{{"uuid":"{id}"}}"#)).unwrap(), uuid(id));
        assert_eq!(
            info(&format!(r#"{{"uuid": "{id}", "order_id": null}}"#)).unwrap(),
            uuid(id)
        );
        assert_eq!(
            info(&format!(r#"{{"uuid": "{id}", "order_id": "order-7"}}"#)).unwrap(),
            reference("order-7")
        );
        assert_eq!(
            info(r#"{"order_id":"order-7","uuid":"x"}"#).unwrap(),
            reference("order-7")
        );
        // Empty strings are absent; loosely typed clients send numbers.
        assert_eq!(info(r#"{"uuid":"","order_id":"o-1"}"#).unwrap(), reference("o-1"));
        assert_eq!(info(&format!(r#"{{"uuid":"{id}","order_id":""}}"#)).unwrap(), uuid(id));
        assert_eq!(info(r#"{"order_id":12345}"#).unwrap(), reference("12345"));
        // PHP's `\/` and unknown fields change nothing.
        assert_eq!(
            info(r#"{"order_id":"o-1","url_callback":"https:\/\/shop.example\/cb"}"#).unwrap(),
            reference("o-1")
        );
    }

    #[test]
    fn info_without_a_key_answers_like_cryptomus() {
        for body in ["", " ", "{}", "[]", r#"{"uuid":null}"#, r#"{"uuid": "", "order_id": ""}"#] {
            let error = info(body).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidField, "{body:?}");
            let (status, rendered) = Cryptomus.render_error(&error, "req-1");
            assert_eq!(status, 422);
            let rendered: Value = serde_json::from_slice(&rendered).unwrap();
            assert_eq!(
                rendered,
                json!({"state": 1, "errors": {
                    "uuid": ["validation.required_without"],
                    "order_id": ["validation.required_without"],
                }}),
                "{body:?}"
            );
        }
    }

    #[test]
    fn malformed_info_bodies() {
        let field_of = |body: &str| {
            let error = info(body).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidField, "{body}");
            Cryptomus.name_of(&error.fields[0].field)
        };
        assert_eq!(field_of(r#"{"order_id":"a b"}"#), "order_id");
        assert_eq!(field_of(r#"{"order_id":"Заказ"}"#), "order_id");
        assert_eq!(field_of(r#"{"uuid":"a b"}"#), "uuid");
        assert_eq!(field_of(r#"{"uuid":"a\u0000b"}"#), "uuid");
        assert_eq!(field_of(&format!(r#"{{"uuid":"{}"}}"#, "u".repeat(129))), "uuid");
        assert_eq!(field_of(r#"{"uuid":true}"#), "uuid");
        for body in [r#"{"uuid":"#, "not json", r#"{"uuid":"a"} {}"#] {
            assert_eq!(info(body).unwrap_err().kind, ErrorKind::MalformedBody, "{body}");
        }
    }

    #[test]
    fn list_cursors_from_query_or_body() {
        let page = |offset| Lookup::List {
            limit: facts::LIST_PER_PAGE,
            offset,
            nonce: None,
        };
        // S-pycm sends an empty body, PHP `[]`, S-cmpy `{}`.
        for body in ["", "[]", "{}"] {
            assert_eq!(list(None, body).unwrap(), page(0), "{body:?}");
        }
        assert_eq!(list(None, r#"{"cursor":"30"}"#).unwrap(), page(30));
        assert_eq!(list(None, r#"{"cursor": 30}"#).unwrap(), page(30));
        assert_eq!(list(None, r#"{"cursor":null}"#).unwrap(), page(0));
        assert_eq!(list(Some("cursor=45"), "").unwrap(), page(45));
        assert_eq!(list(Some("cursor=45"), r#"{"cursor":"30"}"#).unwrap(), page(45));
        assert_eq!(list(Some("cursor="), r#"{"cursor":"30"}"#).unwrap(), page(30));
        for (query, body) in [(None, r#"{"cursor":"eyJpZCI6MX0"}"#), (Some("cursor=-1"), "")] {
            let error = list(query, body).unwrap_err();
            assert_eq!(error.fields[0].field.as_str(), "cursor");
        }
        let dated = list(None, r#"{"date_from":"2025-01-01 00:00:00"}"#).unwrap_err();
        assert_eq!(dated.fields[0].field.as_str(), "date_from");
        assert_eq!(
            list(None, r#"{"date_from":"","date_to":null}"#).unwrap(),
            page(0)
        );
    }

    #[test]
    fn lookups_are_verified_over_the_body_as_sent() {
        let verify = |body: &str, sign: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("sign", HeaderValue::from_str(sign).unwrap());
            let call = Call {
                operation: Operation::ListPayments,
                path_id: None,
                query: None,
                body: body.as_bytes(),
            };
            Cryptomus.verify_call(&call, &headers, KEY.as_bytes())
        };
        // An empty list body signed over the empty string: md5(key).
        let md5_key = hex::encode(Md5::digest(KEY.as_bytes()));
        assert!(verify("", &md5_key).is_ok());
        assert!(verify("[]", &md5_key).is_ok());
        let spaced = r#"{"uuid": "8b03432e", "order_id": null}"#;
        assert!(verify(spaced, &independent_sign(spaced.as_bytes())).is_ok());
        assert!(verify(spaced, &md5_key).is_err());
    }

    #[test]
    fn outbound_info_is_php_encoded_and_signed() {
        let credentials = Credentials::new("merchant-uuid", KEY);
        let by_id = Cryptomus
            .plan_lookup(&LookupKey::ProviderId("a/b".into()), &credentials, 9)
            .unwrap();
        assert_eq!(by_id.method, "POST");
        assert_eq!(by_id.path, "/payment/info");
        assert_eq!(by_id.body, br#"{"uuid":"a\/b"}"#);
        assert_eq!(
            by_id.headers,
            vec![
                ("Content-Type", "application/json".to_owned()),
                ("merchant", "merchant-uuid".to_owned()),
                ("sign", independent_sign(br#"{"uuid":"a\/b"}"#)),
            ]
        );
        // A reference goes as the order_id create sent for it.
        let by_ref = Cryptomus
            .plan_lookup(&LookupKey::Reference("Order #123".into()), &credentials, 9)
            .unwrap();
        let expected = format!(r#"{{"order_id":"{}"}}"#, derive_order_id("Order #123"));
        assert!(expected.starts_with(r#"{"order_id":"Order-123-"#), "{expected}");
        assert_eq!(by_ref.body, expected.as_bytes());
        assert_eq!(by_ref.headers[2], ("sign", independent_sign(expected.as_bytes())));
        let legal = Cryptomus
            .plan_lookup(&LookupKey::Reference("order-7".into()), &credentials, 9)
            .unwrap();
        assert_eq!(legal.body, br#"{"order_id":"order-7"}"#);
    }

    /// The payment-information example's shape (dialect reference §2b).
    const INFO_ANSWER: &str = r#"{"state":0,"result":{"uuid":"70b8db5c-b952-406d-af5e-db1fd2b7a1b4","order_id":"order-7","amount":"15.00","payment_amount":"15.00","payer_amount":"15.00","discount_percent":0,"discount":"0.00000000","payer_currency":"USDT","currency":"USDT","comments":null,"merchant_amount":"14.70000000","network":"tron","address":"TXhfYSWt2oKRrHAJVJeYRuit6ZzKuoEKXj","from":"TFrom","txid":"0xfeed","payment_status":"paid","url":"https:\/\/pay.cryptomus.com\/pay\/70b8db5c","expired_at":1689098133,"status":"paid","is_final":true,"additional_data":null,"created_at":"2023-07-11T20:23:52+03:00","updated_at":"2023-07-11T21:24:17+03:00"}}"#;

    #[test]
    fn info_answers_are_read_as_create_answers() {
        let networks = NetworkTable::builtin();
        let payment = Cryptomus
            .parse_lookup_response(200, INFO_ANSWER.as_bytes(), &networks)
            .unwrap();
        assert_eq!(payment.provider_id, "70b8db5c-b952-406d-af5e-db1fd2b7a1b4");
        assert_eq!(payment.order_ref.as_deref(), Some("order-7"));
        assert_eq!(payment.status, PaymentStatus::Paid);
        assert_eq!(payment.received.as_ref().map(Quantity::as_str), Some("15.00"));
        assert_eq!(payment.payment_url.as_deref(), Some("https://pay.cryptomus.com/pay/70b8db5c"));
        assert_eq!(payment.transactions[0].tx_hash.as_deref(), Some("0xfeed"));
    }

    #[test]
    fn payment_not_found_under_any_status_is_not_found() {
        let networks = NetworkTable::builtin();
        let body = format!(r#"{{"state":1,"message":"{}"}}"#, facts::PAYMENT_NOT_FOUND);
        for status in [200, 404, 422, 500] {
            let error = Cryptomus
                .parse_lookup_response(status, body.as_bytes(), &networks)
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::NotFound, "HTTP {status}");
        }
        let other = Cryptomus
            .parse_lookup_response(422, br#"{"state":1,"message":"Too much resend"}"#, &networks)
            .unwrap_err();
        assert_eq!(other.kind, ErrorKind::UpstreamRejected);
        let auth = Cryptomus
            .parse_lookup_response(401, br#"{"state":1,"message":"Unauthorized"}"#, &networks)
            .unwrap_err();
        assert_eq!(auth.kind, ErrorKind::UpstreamAuth);
        // A not-found page that is not Cryptomus's envelope is not a payment's absence.
        let page = Cryptomus
            .parse_lookup_response(404, b"<html>Not Found</html>", &networks)
            .unwrap_err();
        assert_eq!(page.kind, ErrorKind::UpstreamRejected);
    }

    fn found(n: u32) -> Found {
        let at = |s: &str| encoding::parse_time(s).unwrap();
        let payment = Payment {
            provider_id: format!("p-{n}"),
            order_ref: Some(format!("Order #{n}")),
            status: PaymentStatus::Confirming,
            is_final: false,
            provider_status: "pending".into(),
            amount: Some(Quantity::parse("10").unwrap()),
            received: Some(Quantity::parse("10").unwrap()),
            currency: Some("USDT".into()),
            pay_amount: None,
            pay_currency: None,
            network: Some("ethereum".into()),
            address: Some("0xaddr".into()),
            address_tag: None,
            payment_url: Some(format!("https://app.example/pay/{n}")),
            expires_at: Some(at("2025-05-20T13:00:00Z")),
            created_at: Some(at("2025-05-20T12:00:00Z")),
            updated_at: None,
            transactions: vec![Transaction {
                tx_hash: Some("0xtx".into()),
                from: Some("0xpayer".into()),
                ..Default::default()
            }],
        };
        let request = CreatePayment {
            order_ref: Some(format!("order-{n}")),
            amount: Amount::parse("10").unwrap(),
            currency: "USDT".into(),
            pay_currency: None,
            network: Some("ethereum".into()),
            lifetime_secs: Some(3600),
            callbacks: Default::default(),
            return_url: None,
            success_url: None,
            customer: Default::default(),
            client_id: None,
            description: Some("a/b".into()),
            tolerance_percent: None,
            allow_partial: None,
            nonce: None,
            unportable: Vec::new(),
        };
        Found { payment, request }
    }

    fn render_list(found: &[Found], page: ListPage) -> (Vec<u8>, Value) {
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
        let body = Cryptomus.render_list_answer(found, &page, &context);
        let value = serde_json::from_slice(&body).unwrap();
        (body, value)
    }

    #[test]
    fn list_answers_page_with_cursors() {
        let middle: Vec<Found> = (15..30).map(found).collect();
        let (body, answer) = render_list(
            &middle,
            ListPage {
                limit: 15,
                offset: 15,
                total: 40,
            },
        );
        assert_eq!(answer["state"], 0);
        let items = answer["result"]["items"].as_array().unwrap();
        assert_eq!(items.len(), 15);
        assert_eq!(items[0]["uuid"], "p-15");
        assert_eq!(items[0]["order_id"], "order-15");
        assert_eq!(items[0]["network"], "eth");
        assert_eq!(items[0]["status"], "confirm_check");
        assert_eq!(items[0]["payment_status"], "confirm_check");
        assert_eq!(
            answer["result"]["paginate"],
            json!({"count": 15, "hasPages": true, "nextCursor": "30", "previousCursor": "0", "perPage": 15})
        );
        // PHP-encoded, as Cryptomus writes.
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(r#""url":"https:\/\/app.example\/pay\/15""#), "{text}");
        // The next cursor reads back as the next page.
        assert_eq!(
            list(Some("cursor=30"), "").unwrap(),
            Lookup::List {
                limit: 15,
                offset: 30,
                nonce: None
            }
        );
        let (_, last) = render_list(
            &[found(1), found(2)],
            ListPage {
                limit: 15,
                offset: 0,
                total: 2,
            },
        );
        assert_eq!(
            last["result"]["paginate"],
            json!({"count": 2, "hasPages": false, "nextCursor": null, "previousCursor": null, "perPage": 15})
        );
        let (empty, _) = render_list(
            &[],
            ListPage {
                limit: 15,
                offset: 0,
                total: 0,
            },
        );
        assert_eq!(
            empty,
            br#"{"state":0,"result":{"items":[],"paginate":{"count":0,"hasPages":false,"nextCursor":null,"previousCursor":null,"perPage":15}}}"#
        );
    }
}
