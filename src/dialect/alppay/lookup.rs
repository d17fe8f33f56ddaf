//! AlpPay's lookups (dialect reference §1b, §5.3): `GET /v2/payment/{id}` answered with the
//! wrapped get shape, `GET /v2/payment?…` answered with the list shape, both unsigned (`API-KEY`
//! only); and the same two calls made by payglot towards AlpPay.
//!
//! `GET /v2/payment?invoices=<ref>` (or `?ids=<id>`) names one payment, so it parses to
//! [`Lookup::One`]; it is still a list call, answered with the list shape (`{"results":[…]}`,
//! empty when nothing matches), because the endpoint's operation decides the answer's shape
//! (see [`crate::dialect::Codec::parse_lookup`]).

use crate::error::{ApiError, ErrorKind};
use crate::field::FieldRef;
use crate::model::Payment;
use crate::network::NetworkTable;
use crate::secret::Credentials;
use crate::translate::UpstreamRequest;

use super::wire::{GetAnswer, ListAnswer, LookupAnswerIn, PaymentIn};
use super::{KEY_HEADER, Shape, payment_from_wire, payment_out, upstream_error};
use crate::dialect::encoding;
use crate::dialect::{Call, Dialect, Found, Lookup, LookupKey, Operation, RenderContext, common};

/// `limit` on the list call: 1–100, 20 when absent `[docs]` D-alp:listPayments.
pub const LIST_LIMIT: (u32, u32) = (1, 100);
pub const LIST_DEFAULT_LIMIT: u32 = 20;

/// List filters payglot cannot apply to its payment index: a list call carrying one is refused
/// rather than answered with payments the filter would have left out.
const UNSUPPORTED_FILTERS: &[&str] = &["statuses", "method", "search", "txnIds"];

/// Reads `GET /v2/payment/{id}` or `GET /v2/payment?…`.
pub fn parse_lookup(call: &Call<'_>) -> Result<Lookup, ApiError> {
    match call.operation {
        Operation::LookupPayment => {
            let id = call.path_id.unwrap_or_default();
            common::check_lookup_id(FieldRef::Wire("id".to_owned()), "id", id)?;
            Ok(Lookup::One {
                key: LookupKey::ProviderId(id.to_owned()),
                nonce: None,
            })
        }
        Operation::ListPayments => parse_list_query(call.query.unwrap_or_default()),
        other => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("AlpPay serves no {other:?} lookup"),
        )),
    }
}

fn parse_list_query(query: &str) -> Result<Lookup, ApiError> {
    let mut page: Option<String> = None;
    let mut limit: Option<String> = None;
    let mut ids: Vec<String> = Vec::new();
    let mut invoices: Vec<String> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        // Query builders send unset filters as empty parameters: they filter nothing.
        if value.is_empty() {
            continue;
        }
        match name.as_ref() {
            "page" => page = Some(value.into_owned()),
            "limit" => limit = Some(value.into_owned()),
            // Filters take comma-separated lists, and may repeat.
            "ids" => ids.extend(value.split(',').map(str::to_owned)),
            "invoices" => invoices.extend(value.split(',').map(str::to_owned)),
            filter if UNSUPPORTED_FILTERS.contains(&filter) => {
                return Err(ApiError::field(
                    FieldRef::Wire(filter.to_owned()),
                    "validation.prohibited",
                    format!(
                        "payglot does not filter payments by {filter}; ask by ids or invoices"
                    ),
                ));
            }
            // `sortField`/`sortOrder` and anything undocumented: payglot lists newest first.
            _ => {}
        }
    }
    let one = match (ids.as_slice(), invoices.as_slice()) {
        ([], []) => None,
        ([id], []) => Some(("ids", LookupKey::ProviderId(id.clone()))),
        ([], [reference]) => Some(("invoices", LookupKey::Reference(reference.clone()))),
        ([], _) => return Err(one_value_only("invoices")),
        (_, []) => return Err(one_value_only("ids")),
        _ => {
            return Err(ApiError::field(
                FieldRef::Wire("invoices".to_owned()),
                "validation.prohibited_with",
                "give ids or invoices, not both",
            ));
        }
    };
    if let Some((name, key)) = one {
        let field = FieldRef::Wire(name.to_owned());
        match &key {
            LookupKey::ProviderId(id) => common::check_lookup_id(field, name, id)?,
            LookupKey::Reference(r) => common::check_lookup_reference(field, name, r)?,
        }
        return Ok(Lookup::One { key, nonce: None });
    }
    let limit = match limit {
        Some(text) => whole_number("limit", &text, LIST_LIMIT)?,
        None => LIST_DEFAULT_LIMIT,
    };
    let page = match page {
        Some(text) => whole_number("page", &text, (1, u32::MAX))?,
        None => 1,
    };
    let offset = (page - 1).checked_mul(limit).ok_or_else(|| {
        ApiError::field(
            FieldRef::Wire("page".to_owned()),
            "validation.max.numeric",
            "page is past the last payment",
        )
    })?;
    Ok(Lookup::List {
        limit,
        offset,
        nonce: None,
    })
}

fn one_value_only(name: &str) -> ApiError {
    ApiError::field(
        FieldRef::Wire(name.to_owned()),
        "validation.max.array",
        format!("payglot looks up one payment at a time: give one value in {name}"),
    )
}

/// A query parameter that must be a whole number within `min..=max`.
fn whole_number(name: &str, text: &str, (min, max): (u32, u32)) -> Result<u32, ApiError> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            let range = if max == u32::MAX {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            ApiError::field(
                FieldRef::Wire(name.to_owned()),
                "validation.between.numeric",
                format!("{name} must be a whole number {range}"),
            )
        })
}

/// `GET /payment/{id}` or `GET /payment?invoices=<ref>` at AlpPay: `API-KEY` only, no body.
pub fn plan_lookup(key: &LookupKey, credentials: &Credentials) -> UpstreamRequest {
    let path = match key {
        LookupKey::ProviderId(id) => format!("/payment/{}", encode_component(id)),
        LookupKey::Reference(reference) => {
            format!("/payment?invoices={}", encode_component(reference))
        }
    };
    UpstreamRequest {
        method: "GET",
        path,
        headers: vec![(KEY_HEADER, credentials.key_id.clone())],
        body: Vec::new(),
    }
}

/// Percent-encodes a path segment or query value: everything but `A–Z a–z 0–9 * - . _`.
/// The form encoder writes a space as `+`, which a path reads literally; a `+` in its output
/// can only be a space (a real `+` comes out as `%2B`), so it becomes `%20`.
fn encode_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Reads AlpPay's answer to a lookup: the wrapped get shape, or a list (its first item).
pub fn parse_lookup_response(
    status: u16,
    body: &[u8],
    networks: &NetworkTable,
) -> Result<Payment, ApiError> {
    if status == 404 {
        let text = upstream_error(status, body).message;
        return Err(common::upstream_not_found(Dialect::AlpPay, status, &text));
    }
    if !(200..300).contains(&status) {
        return Err(upstream_error(status, body));
    }
    let invalid = |what: &str| {
        ApiError::new(
            ErrorKind::UpstreamInvalid,
            format!("AlpPay answered a lookup with {what}"),
        )
    };
    let answer: LookupAnswerIn = serde_json::from_slice(body)
        .map_err(|e| invalid(&format!("something other than JSON: {e}")))?;
    let inner = match (answer.results, answer.data) {
        (Some(list), _) => list,
        (None, Some(data)) => data,
        // A bare payment object, as the create answer is.
        (None, None) => {
            let wire: PaymentIn = serde_json::from_slice(body)
                .map_err(|e| invalid(&format!("an unexpected payment object: {e}")))?;
            return Ok(payment_from_wire(wire, Shape::Create, networks));
        }
    };
    let text = inner.get();
    let wire: PaymentIn = if text.trim_start().starts_with('[') {
        let items: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(text)
            .map_err(|e| invalid(&format!("an unexpected list: {e}")))?;
        let Some(first) = items.first() else {
            return Err(common::upstream_not_found(
                Dialect::AlpPay,
                status,
                "the list is empty",
            ));
        };
        serde_json::from_str(first.get())
            .map_err(|e| invalid(&format!("an unexpected payment in its list: {e}")))?
    } else {
        serde_json::from_str(text)
            .map_err(|e| invalid(&format!("an unexpected payment object: {e}")))?
    };
    Ok(payment_from_wire(wire, Shape::Get, networks))
}

/// `{"data": <payment in the get shape>}`.
pub fn render_lookup_answer(found: &Found, context: &RenderContext<'_>) -> Vec<u8> {
    let answer = GetAnswer {
        data: payment_out(&found.payment, &found.request, context, Shape::Get),
    };
    encoding::to_compact_json(&answer).into_bytes()
}

/// `{"results": [<payment in the get shape>…]}`.
pub fn render_list_answer(found: &[Found], context: &RenderContext<'_>) -> Vec<u8> {
    let answer = ListAnswer {
        results: found
            .iter()
            .map(|f| payment_out(&f.payment, &f.request, context, Shape::Get))
            .collect(),
    };
    encoding::to_compact_json(&answer).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::{Codec, ListPage};
    use crate::model::{CreatePayment, MerchantProfile, PaymentStatus, Transaction};
    use crate::money::{Amount, Quantity};
    use http::HeaderMap;
    use serde_json::{Value, json};

    use super::super::AlpPay;

    fn call<'a>(operation: Operation, path_id: Option<&'a str>, query: Option<&'a str>) -> Call<'a> {
        Call {
            operation,
            path_id,
            query,
            body: b"",
        }
    }

    fn list(query: &str) -> Result<Lookup, ApiError> {
        AlpPay.parse_lookup(&call(Operation::ListPayments, None, Some(query)))
    }

    fn invalid_field(result: Result<Lookup, ApiError>) -> String {
        let error = result.expect_err("a validation error");
        assert_eq!(error.kind, ErrorKind::InvalidField, "{error}");
        error.fields[0].field.as_str().to_owned()
    }

    #[test]
    fn lookups_are_unsigned_and_creates_are_not() {
        let headers = HeaderMap::new();
        let lookup = call(Operation::LookupPayment, Some("p-1"), None);
        assert!(AlpPay.verify_call(&lookup, &headers, b"secret").is_ok());
        let listing = call(Operation::ListPayments, None, Some("page=1"));
        assert!(AlpPay.verify_call(&listing, &headers, b"secret").is_ok());
        let create = Call {
            operation: Operation::CreatePayment,
            path_id: None,
            query: None,
            body: br#"{"amount":"1"}"#,
        };
        let error = AlpPay.verify_call(&create, &headers, b"secret").unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unauthenticated);
    }

    #[test]
    fn get_by_id_reads_the_path_segment() {
        let parsed = AlpPay
            .parse_lookup(&call(
                Operation::LookupPayment,
                Some("285d8dce-7663-4580-ba7f-8afb2f2d3292"),
                None,
            ))
            .unwrap();
        assert_eq!(
            parsed,
            Lookup::One {
                key: LookupKey::ProviderId("285d8dce-7663-4580-ba7f-8afb2f2d3292".into()),
                nonce: None
            }
        );
    }

    #[test]
    fn malformed_ids_are_validation_errors_named_id() {
        let long = "a".repeat(129);
        for id in ["", "a b", "a\u{1}b", "tab\there", long.as_str()] {
            let result = AlpPay.parse_lookup(&call(Operation::LookupPayment, Some(id), None));
            assert_eq!(invalid_field(result), "id", "{id:?}");
        }
        let missing = AlpPay.parse_lookup(&call(Operation::LookupPayment, None, None));
        assert_eq!(invalid_field(missing), "id");
        // The caller reads it in AlpPay's envelope, naming the field.
        let error = AlpPay
            .parse_lookup(&call(Operation::LookupPayment, Some("a b"), None))
            .unwrap_err();
        let (status, body) = AlpPay.render_error(&error, "req-1");
        assert_eq!(status, 422);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"]["id"], json!(["validation.invalid"]));
        assert_eq!(body["requestId"], "req-1");
    }

    #[test]
    fn list_queries_page_and_limit() {
        let page = |limit, offset| Lookup::List {
            limit,
            offset,
            nonce: None,
        };
        assert_eq!(list("").unwrap(), page(20, 0));
        assert_eq!(list("page=1").unwrap(), page(20, 0));
        assert_eq!(list("page=3&limit=50").unwrap(), page(50, 100));
        assert_eq!(list("limit=100&page=2").unwrap(), page(100, 100));
        // Empty filters filter nothing; sorting is payglot's own (newest first).
        assert_eq!(
            list("statuses=&method=&sortField=createdAt&sortOrder=desc&page=2").unwrap(),
            page(20, 20)
        );
        assert_eq!(invalid_field(list("page=0")), "page");
        assert_eq!(invalid_field(list("page=-1")), "page");
        assert_eq!(invalid_field(list("page=1.5")), "page");
        assert_eq!(invalid_field(list("limit=0")), "limit");
        assert_eq!(invalid_field(list("limit=101")), "limit");
        assert_eq!(invalid_field(list("limit=ten")), "limit");
        // (page − 1) · limit past u32 is refused, not wrapped.
        assert_eq!(invalid_field(list("page=4294967295&limit=100")), "page");
    }

    #[test]
    fn list_queries_naming_one_payment_are_lookups() {
        let one = |key| Lookup::One { key, nonce: None };
        assert_eq!(
            list("invoices=INV-001").unwrap(),
            one(LookupKey::Reference("INV-001".into()))
        );
        // Percent- and plus-encoded references decode; a free-text reference keeps its spaces.
        assert_eq!(
            list("invoices=Order%20%23123&page=1").unwrap(),
            one(LookupKey::Reference("Order #123".into()))
        );
        assert_eq!(
            list("invoices=Order+%23123").unwrap(),
            one(LookupKey::Reference("Order #123".into()))
        );
        assert_eq!(
            list("ids=285d8dce-7663-4580-ba7f-8afb2f2d3292").unwrap(),
            one(LookupKey::ProviderId("285d8dce-7663-4580-ba7f-8afb2f2d3292".into()))
        );
        assert_eq!(invalid_field(list("invoices=A,B")), "invoices");
        assert_eq!(invalid_field(list("invoices=A&invoices=B")), "invoices");
        assert_eq!(invalid_field(list("ids=a,b")), "ids");
        assert_eq!(invalid_field(list("ids=a&invoices=b")), "invoices");
        assert_eq!(invalid_field(list("ids=a%20b")), "ids");
        assert_eq!(invalid_field(list("invoices=a%00b")), "invoices");
        // Filters payglot cannot apply are refused, never ignored.
        for filter in ["statuses=COMPLETED", "method=USDT_tron", "search=x", "txnIds=0xabc"] {
            let name = filter.split('=').next().unwrap();
            assert_eq!(invalid_field(list(filter)), name);
        }
    }

    #[test]
    fn outbound_lookups_are_unsigned_gets_below_the_base() {
        let credentials = Credentials::new("ak_live_1", "sk_live_1");
        let by_id = AlpPay
            .plan_lookup(&LookupKey::ProviderId("p-1".into()), &credentials, 7)
            .unwrap();
        assert_eq!(by_id.method, "GET");
        assert_eq!(by_id.path, "/payment/p-1");
        assert_eq!(by_id.headers, vec![("API-KEY", "ak_live_1".to_owned())]);
        assert!(by_id.body.is_empty());
        // Ids and references are encoded, so neither can add a path segment or a parameter.
        let odd = AlpPay
            .plan_lookup(&LookupKey::ProviderId("a/b c+d?e".into()), &credentials, 7)
            .unwrap();
        assert_eq!(odd.path, "/payment/a%2Fb%20c%2Bd%3Fe");
        let by_ref = AlpPay
            .plan_lookup(&LookupKey::Reference("Order #1&x=Ж".into()), &credentials, 7)
            .unwrap();
        assert_eq!(by_ref.method, "GET");
        assert_eq!(by_ref.path, "/payment?invoices=Order%20%231%26x%3D%D0%96");
        assert_eq!(by_ref.headers, vec![("API-KEY", "ak_live_1".to_owned())]);
    }

    /// The get-payment example's shape (dialect reference §1b): wrapped, with `displayStatus`,
    /// the fee fields, and `checkoutUrl` as the hosted page.
    const GET_ANSWER: &str = r#"{"data":{"id":"285d8dce-7663-4580-ba7f-8afb2f2d3292","transactions":[{"paymentId":"285d8dce-7663-4580-ba7f-8afb2f2d3292","txnId":"0xfeed","receivedAmount":"1010.00","asset":{"short":"USDT","name":"Tether","logoUrl":"","network":"TRC20"},"destTag":null,"addressFrom":"TFrom","addressTo":"TTo","date":"2025-05-20T12:40:00Z","fixedFee":"1","percentFee":"0.5","riskScore":3,"isDanger":false,"createdAt":"2025-05-20T12:40:00Z"}],"amount":"1000.00","totalReceivedAmount":"1010.00","asset":{"short":"USDT","name":"Tether","logoUrl":"","network":"TRC20"},"addressTo":"TTo","destTag":null,"fixedFee":"1","confirmsNeeded":20,"timeout":9000,"checkoutUrl":"https://pay.alppay.io/checkout/285d8dce","status":"COMPLETED","displayStatus":"OVERPAID","customer":{"id":12312312,"name":"John","email":"john@example.com"},"merchant":{"id":7,"name":"Shop","siteUrl":null,"logoUrl":"","email":null},"invoice":"INV-001","paymentRedirectUrl":"https://your-shop.com/orders/40113049","createdAt":"2025-05-20T12:34:56Z","updatedAt":"2025-05-20T12:41:00.123456789Z"}}"#;

    fn networks() -> NetworkTable {
        NetworkTable::builtin()
    }

    #[test]
    fn the_wrapped_get_shape_is_read_with_its_url_swap() {
        let payment = AlpPay
            .parse_lookup_response(200, GET_ANSWER.as_bytes(), &networks())
            .unwrap();
        assert_eq!(payment.provider_id, "285d8dce-7663-4580-ba7f-8afb2f2d3292");
        assert_eq!(payment.order_ref.as_deref(), Some("INV-001"));
        assert_eq!(payment.status, PaymentStatus::Overpaid);
        assert_eq!(payment.received.as_ref().map(Quantity::as_str), Some("1010.00"));
        assert_eq!(
            payment.payment_url.as_deref(),
            Some("https://pay.alppay.io/checkout/285d8dce")
        );
        assert_eq!(payment.network.as_deref(), Some("tron"));
        assert_eq!(payment.transactions.len(), 1);
        assert_eq!(payment.transactions[0].tx_hash.as_deref(), Some("0xfeed"));
    }

    #[test]
    fn list_answers_give_their_first_payment() {
        let data: Value = serde_json::from_str(GET_ANSWER).unwrap();
        let item = data["data"].clone();
        for body in [json!({"results": [item]}), json!({"data": [item]})] {
            let payment = AlpPay
                .parse_lookup_response(200, body.to_string().as_bytes(), &networks())
                .unwrap();
            assert_eq!(payment.provider_id, "285d8dce-7663-4580-ba7f-8afb2f2d3292");
            // List items are in the get shape: checkoutUrl is the hosted page.
            assert_eq!(
                payment.payment_url.as_deref(),
                Some("https://pay.alppay.io/checkout/285d8dce")
            );
        }
        for empty in [r#"{"results":[]}"#, r#"{"data":[]}"#] {
            let error = AlpPay
                .parse_lookup_response(200, empty.as_bytes(), &networks())
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::NotFound, "{empty}");
        }
    }

    #[test]
    fn upstream_errors_of_a_lookup() {
        let not_found = AlpPay
            .parse_lookup_response(404, br#"{"message":"payment not found"}"#, &networks())
            .unwrap_err();
        assert_eq!(not_found.kind, ErrorKind::NotFound);
        assert!(not_found.message.contains("payment not found"), "{not_found}");
        let empty_404 = AlpPay
            .parse_lookup_response(404, b"", &networks())
            .unwrap_err();
        assert_eq!(empty_404.kind, ErrorKind::NotFound);
        let auth = AlpPay
            .parse_lookup_response(401, br#"{"message":"bad key"}"#, &networks())
            .unwrap_err();
        assert_eq!(auth.kind, ErrorKind::UpstreamAuth);
        for garbage in ["<html>", r#"{"data":{"nope":1}}"#, r#"{"results":{"id":"x"}}"#, "[]"] {
            let error = AlpPay
                .parse_lookup_response(200, garbage.as_bytes(), &networks())
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::UpstreamInvalid, "{garbage}");
        }
    }

    fn found() -> Found {
        let quantity = |s: &str| Quantity::parse(s).unwrap();
        let at = |s: &str| encoding::parse_time(s).unwrap();
        let payment = Payment {
            provider_id: "c1a0e2b4-5f6d-4e7a-8b9c-0d1e2f3a4b5c".into(),
            order_ref: Some("order-42".into()),
            status: PaymentStatus::UnderpaidOpen,
            is_final: false,
            provider_status: "wrong_amount_waiting".into(),
            amount: Some(quantity("100")),
            received: Some(quantity("40.5")),
            currency: Some("USDT".into()),
            pay_amount: None,
            pay_currency: None,
            network: Some("tron".into()),
            address: Some("TAddr".into()),
            address_tag: None,
            payment_url: Some("https://pay.cryptomus.com/pay/c1a0e2b4".into()),
            expires_at: Some(at("2025-05-20T13:34:56Z")),
            created_at: Some(at("2025-05-20T12:34:56Z")),
            updated_at: Some(at("2025-05-20T12:50:00Z")),
            transactions: vec![Transaction {
                tx_hash: Some("0xabc".into()),
                amount: Some(quantity("40.5")),
                currency: Some("USDT".into()),
                network: Some("tron".into()),
                from: Some("TPayer".into()),
                to: None,
                confirmations: Some(3),
                at: Some(at("2025-05-20T12:45:00Z")),
            }],
        };
        let request = CreatePayment {
            order_ref: Some("order-42".into()),
            amount: Amount::parse("100").unwrap(),
            currency: "USDT".into(),
            pay_currency: None,
            network: Some("tron".into()),
            lifetime_secs: None,
            callbacks: Default::default(),
            return_url: None,
            success_url: Some("https://shop.example/thanks".into()),
            customer: crate::model::Customer {
                id: Some("77".into()),
                name: Some("Ann".into()),
                email: Some("ann@example.com".into()),
            },
            client_id: None,
            description: None,
            tolerance_percent: None,
            allow_partial: None,
            nonce: None,
            unportable: Vec::new(),
        };
        Found { payment, request }
    }

    fn with_context<T>(f: impl FnOnce(&RenderContext<'_>) -> T) -> T {
        let networks = networks();
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
    fn the_get_answer_is_wrapped_with_the_documented_swap() {
        let body = with_context(|c| AlpPay.render_lookup_answer(&found(), c));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        let data = &answer["data"];
        assert_eq!(data["id"], "c1a0e2b4-5f6d-4e7a-8b9c-0d1e2f3a4b5c");
        assert_eq!(data["status"], "OPEN");
        assert_eq!(data["displayStatus"], "UNDERPAID");
        assert_eq!(data["totalReceivedAmount"], "40.5");
        assert_eq!(data["invoice"], "order-42");
        assert_eq!(data["checkoutUrl"], "https://pay.cryptomus.com/pay/c1a0e2b4");
        assert_eq!(data["paymentRedirectUrl"], "https://shop.example/thanks");
        assert_eq!(data["customer"], json!({"id": 77, "name": "Ann", "email": "ann@example.com"}));
        assert_eq!(data["fixedFee"], "0");
        assert_eq!(data["asset"]["network"], "tron");
        let tx = &data["transactions"][0];
        assert_eq!(tx["txnId"], "0xabc");
        assert_eq!(tx["receivedAmount"], "40.5");
        assert_eq!(tx["percentFee"], "0");
        assert_eq!(tx["isDanger"], false);
        assert_eq!(tx["riskScore"], Value::Null);
        assert_eq!(tx["createdAt"], "2025-05-20T12:45:00Z");
        // An AlpPay client reading it back finds the payer's link, not the shop's.
        let back = AlpPay
            .parse_lookup_response(200, &body, &networks())
            .unwrap();
        assert_eq!(back.payment_url.as_deref(), Some("https://pay.cryptomus.com/pay/c1a0e2b4"));
        assert_eq!(back.status, PaymentStatus::UnderpaidOpen);
    }

    #[test]
    fn the_create_answer_keeps_its_own_url_roles_and_no_get_fields() {
        let f = found();
        let body = with_context(|c| AlpPay.render_create_response(&f.payment, &f.request, c));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["checkoutUrl"], "https://shop.example/thanks");
        assert_eq!(answer["paymentRedirectUrl"], "https://pay.cryptomus.com/pay/c1a0e2b4");
        assert!(answer.get("fixedFee").is_none());
        assert!(answer["transactions"][0].get("percentFee").is_none());
    }

    #[test]
    fn the_list_answer_holds_get_shaped_payments() {
        let page = ListPage {
            limit: 20,
            offset: 0,
            total: 2,
        };
        let body = with_context(|c| AlpPay.render_list_answer(&[found(), found()], &page, c));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["checkoutUrl"], "https://pay.cryptomus.com/pay/c1a0e2b4");
        assert_eq!(results[0]["displayStatus"], "UNDERPAID");
        assert!(results[0].get("data").is_none());
        let empty = with_context(|c| AlpPay.render_list_answer(&[], &page, c));
        assert_eq!(empty, br#"{"results":[]}"#);
        // A client reading the list back gets the first payment.
        let back = AlpPay.parse_lookup_response(200, &body, &networks()).unwrap();
        assert_eq!(back.provider_id, "c1a0e2b4-5f6d-4e7a-8b9c-0d1e2f3a4b5c");
    }
}
