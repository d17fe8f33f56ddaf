//! Cryptomus `/v1` (dialects.md §2): `POST /payment`, `POST /payment/info` and
//! `POST /payment/list`, plus the payment webhook to `url_callback` (§2c).
//!
//! Authentication: `merchant` (the merchant UUID) and `sign` = hex md5(base64(raw body) + payment
//! key). Errors use Cryptomus' envelopes: `{"state":1,"message":…}`, and for field validation
//! HTTP 422 `{"state":1,"errors":{"field":["validation.rule",…]}}` with Laravel rule names.
//!
//! Statuses as payments arrive (§2d): `check` → `wrong_amount_waiting` (part paid) → `paid` or
//! `paid_over`; an expiry gives `cancel` (nothing paid) or `wrong_amount` (part paid).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::fake::{self, AddressStyle};
use super::fault::{self, Fault};
use super::fields::{self, NotAnObject};
use super::lifecycle::{self, Change, Command, Conflict, Notification, Progress};
use super::store::{BoundedMap, lock};
use super::verify;
use super::wire::{Incoming, Outcome};
use super::{Provider, SandboxAccount, find_account};

/// Invoices kept for lookups; the oldest are forgotten first.
const STORED_INVOICES: usize = 50_000;

/// Lifetime when the request gives none, and its bounds (seconds).
const DEFAULT_LIFETIME: i64 = 3600;
const LIFETIME_RANGE: (i64, i64) = (300, 43_200);

/// The platform's cut, used to compute `merchant_amount`.
const COMMISSION_PERCENT: Decimal = Decimal::ONE;

/// Invoices per `payment/list` page.
const LIST_PAGE_SIZE: usize = 15;

/// Currencies whose amounts are their own USD value (for `payment_amount_usd`).
const USD_VALUED: &[&str] = &["USD", "USDT", "USDC"];

/// A chain Cryptomus takes payments on, with the coins it accepts there.
struct Network {
    name: &'static str,
    address: AddressStyle,
    coins: &'static [&'static str],
}

/// Supported payment pairs, with Cryptomus' own network codes (dialects.md §2f, §5.6).
const NETWORKS: &[Network] = &[
    Network {
        name: "tron",
        address: AddressStyle::Tron,
        coins: &["USDT", "TRX"],
    },
    Network {
        name: "eth",
        address: AddressStyle::Evm,
        coins: &["USDT", "USDC", "ETH"],
    },
    Network {
        name: "bsc",
        address: AddressStyle::Evm,
        coins: &["USDT", "USDC", "BNB"],
    },
    Network {
        name: "btc",
        address: AddressStyle::Bitcoin,
        coins: &["BTC"],
    },
    Network {
        name: "ltc",
        address: AddressStyle::Litecoin,
        coins: &["LTC"],
    },
    Network {
        name: "bch",
        address: AddressStyle::BitcoinCash,
        coins: &["BCH"],
    },
    Network {
        name: "ton",
        address: AddressStyle::Ton,
        coins: &["USDT", "TON"],
    },
    Network {
        name: "sol",
        address: AddressStyle::Solana,
        coins: &["USDT", "USDC", "SOL"],
    },
    Network {
        name: "polygon",
        address: AddressStyle::Evm,
        coins: &["USDT", "USDC", "POL"],
    },
    Network {
        name: "arbitrum",
        address: AddressStyle::Evm,
        coins: &["USDT", "USDC", "ETH"],
    },
    Network {
        name: "avalanche",
        address: AddressStyle::Evm,
        coins: &["USDT", "USDC", "AVAX"],
    },
    Network {
        name: "doge",
        address: AddressStyle::Doge,
        coins: &["DOGE"],
    },
    Network {
        name: "dash",
        address: AddressStyle::Dash,
        coins: &["DASH"],
    },
    Network {
        name: "xmr",
        address: AddressStyle::Monero,
        coins: &["XMR"],
    },
];

/// Fiat currencies an invoice may be priced in (the payer then picks a coin on the hosted page,
/// unless `to_currency` fixes it).
const FIAT: &[&str] = &["USD", "EUR"];

/// Endpoints Cryptomus has that the sandbox does not emulate: answered 501 as NearPayments does.
const NOT_EMULATED: &[&str] = &[
    "/payment/services",
    "/payment/refund",
    "/payment/resend",
    "/payment/qr",
    "/payment/mark-as-paid",
    "/test-webhook/payment",
    "/wallet",
    "/balance",
];

fn network_named(name: &str) -> Option<&'static Network> {
    NETWORKS
        .iter()
        .find(|network| network.name.eq_ignore_ascii_case(name))
}

fn is_coin(ticker: &str) -> bool {
    NETWORKS
        .iter()
        .any(|network| network.coins.contains(&ticker))
}

enum Route {
    Create,
    Info,
    List,
}

/// The `payment/list` result.
#[derive(Serialize)]
struct InvoicePage<'a> {
    items: Vec<&'a Invoice>,
    paginate: Paginate,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Paginate {
    count: usize,
    has_pages: bool,
    next_cursor: Option<String>,
    previous_cursor: Option<String>,
    per_page: usize,
}

/// Cursors are opaque to clients: base64 of the offset.
fn offset_cursor(offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("offset:{offset}"))
}

fn cursor_offset(cursor: &str) -> Option<usize> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&decoded)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

/// A `payment/list` date, `YYYY-MM-DD H:mm:ss` (the hour with or without a leading zero), UTC.
fn list_date(text: &str, field: &'static str, errors: &mut FieldErrors) -> Option<OffsetDateTime> {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day] [hour padding:none]:[minute]:[second]"
    );
    match time::PrimitiveDateTime::parse(text, FORMAT) {
        Ok(at) => Some(at.assume_utc()),
        Err(_) => bad(errors, field, "validation.date_format"),
    }
}

/// The emulated Cryptomus merchant(s) and their invoices.
pub(super) struct Cryptomus {
    accounts: Vec<SandboxAccount>,
    ledger: Mutex<Ledger>,
}

struct Ledger {
    invoices: BoundedMap<String, Invoice>,
    /// (merchant, order_id) → invoice uuid: `order_id` is unique per merchant.
    by_order: HashMap<(String, String), String>,
}

impl Ledger {
    fn insert(&mut self, invoice: Invoice) {
        let order_key = (invoice.merchant.clone(), invoice.order_id.clone());
        self.by_order.insert(order_key, invoice.uuid.clone());
        if let Some((_, evicted)) = self.invoices.insert(invoice.uuid.clone(), invoice) {
            self.by_order.remove(&(evicted.merchant, evicted.order_id));
        }
    }

    fn by_order_id(&mut self, merchant: &str, order_id: &str) -> Option<&mut Invoice> {
        let uuid = self
            .by_order
            .get(&(merchant.to_string(), order_id.to_string()))?;
        self.invoices.get_mut(uuid)
    }

    fn by_uuid(&mut self, merchant: &str, uuid: &str) -> Option<&mut Invoice> {
        self.invoices
            .get_mut(&uuid.to_string())
            .filter(|invoice| verify::same_key(&invoice.merchant, merchant))
    }
}

/// A stored invoice, serialised exactly as the create/info `result` (dialects.md §2b).
#[derive(Serialize, Clone)]
struct Invoice {
    #[serde(skip)]
    merchant: String,
    /// Where webhooks go (`url_callback` at creation).
    #[serde(skip)]
    url_callback: Option<String>,
    #[serde(skip)]
    amount_value: Decimal,
    /// What has arrived so far, in the invoice's currency.
    #[serde(skip)]
    received: Decimal,
    /// How payer addresses and transaction hashes look on the invoice's chain.
    #[serde(skip)]
    chain_style: AddressStyle,
    uuid: String,
    order_id: String,
    amount: String,
    payment_amount: String,
    payer_amount: Option<String>,
    discount_percent: i64,
    discount: String,
    payer_currency: Option<String>,
    currency: String,
    comments: Option<String>,
    merchant_amount: Option<String>,
    network: Option<String>,
    address: Option<String>,
    from: Option<String>,
    txid: Option<String>,
    payment_status: &'static str,
    url: String,
    expired_at: i64,
    status: &'static str,
    is_final: bool,
    additional_data: Option<String>,
    #[serde(serialize_with = "iso_seconds_offset")]
    created_at: OffsetDateTime,
    #[serde(serialize_with = "iso_seconds_offset")]
    updated_at: OffsetDateTime,
}

fn iso_seconds_offset<S: serde::Serializer>(
    at: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&fake::iso_seconds_offset(*at))
}

impl Invoice {
    /// An invoice past `expired_at` that is not paid closes, as [`Invoice::expire`] does.
    fn expire_if_due(&mut self, now: OffsetDateTime) {
        if !self.is_closed()
            && !self.progress().is_paid()
            && now.unix_timestamp() >= self.expired_at
        {
            let at = OffsetDateTime::from_unix_timestamp(self.expired_at).unwrap_or(now);
            self.expire(at);
        }
    }

    /// Expired: no more payments are taken.
    fn is_closed(&self) -> bool {
        matches!(self.status, "cancel" | "wrong_amount")
    }

    fn progress(&self) -> Progress {
        Progress::of(self.received, self.amount_value)
    }

    fn set_status(&mut self, status: &'static str, is_final: bool, at: OffsetDateTime) {
        self.status = status;
        self.payment_status = status;
        self.is_final = is_final;
        self.updated_at = at;
    }

    /// Closes the invoice: `cancel` when nothing arrived, `wrong_amount` when part did.
    fn expire(&mut self, at: OffsetDateTime) {
        let status = match self.progress() {
            Progress::Unpaid => "cancel",
            _ => "wrong_amount",
        };
        self.set_status(status, true, at);
    }

    /// One incoming transaction bringing the total received to `received`.
    fn pay(&mut self, received: Decimal, at: OffsetDateTime) {
        self.received = received;
        self.payment_amount = fields::format_amount(received, 2);
        if self.from.is_none() {
            self.from = Some(fake::deposit_address(self.chain_style));
        }
        self.txid = Some(fake::transaction_hash(self.chain_style));
        let (status, is_final) = match self.progress() {
            Progress::Unpaid | Progress::Partial => ("wrong_amount_waiting", false),
            Progress::Full => ("paid", true),
            Progress::Over => ("paid_over", true),
        };
        self.set_status(status, is_final, at);
    }

    /// The payment webhook (§2c): the flat invoice snapshot with `type:"payment"`, PHP-encoded,
    /// `sign` appended as the last member.
    fn webhook(&self, payment_key: &str) -> Option<Notification> {
        let url = self.url_callback.clone()?;
        let commission = self
            .received
            .checked_mul(COMMISSION_PERCENT)
            .and_then(|scaled| scaled.checked_div(Decimal::ONE_HUNDRED))
            .map_or(Decimal::ZERO, |commission| commission.round_dp(8));
        let merchant_amount = self
            .received
            .checked_sub(commission)
            .unwrap_or(self.received);
        let same_coin = self.payer_currency.as_deref() == Some(self.currency.as_str());
        let payload = PaymentWebhook {
            kind: "payment",
            uuid: &self.uuid,
            order_id: &self.order_id,
            amount: &self.amount,
            payment_amount: &self.payment_amount,
            payment_amount_usd: USD_VALUED
                .contains(&self.currency.as_str())
                .then(|| self.payment_amount.clone()),
            merchant_amount: fields::format_amount(merchant_amount, 2),
            commission: fields::format_amount(commission, 2),
            is_final: self.is_final,
            status: self.status,
            from: self.from.as_deref(),
            wallet_address_uuid: None,
            network: self.network.as_deref(),
            currency: &self.currency,
            payer_currency: self.payer_currency.as_deref(),
            payer_amount: self.payer_amount.as_deref(),
            payer_amount_exchange_rate: same_coin.then_some("1"),
            transfer_id: None,
            additional_data: self.additional_data.as_deref(),
            txid: self.txid.as_deref(),
        };
        Some(Notification {
            url,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: signed_webhook_body(&payload, payment_key.as_bytes()).into_bytes(),
        })
    }

    fn answer(&self) -> Outcome {
        Outcome::json(
            200,
            &Envelope {
                state: 0,
                result: Some(self),
                message: None,
                errors: None,
            },
        )
    }
}

/// The payment webhook body without `sign`, members in Cryptomus' documented order.
#[derive(Serialize)]
struct PaymentWebhook<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    uuid: &'a str,
    order_id: &'a str,
    amount: &'a str,
    payment_amount: &'a str,
    payment_amount_usd: Option<String>,
    merchant_amount: String,
    commission: String,
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

/// JSON as PHP's `json_encode($data, JSON_UNESCAPED_UNICODE)` writes it: compact, members in
/// order, non-ASCII raw, `/` as `\/`, U+2028/U+2029 escaped. serde_json already matches on the
/// rest; these three characters only occur inside strings, so replacing them is safe.
fn php_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".to_string())
        .replace('/', "\\/")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The webhook as Cryptomus sends it: the PHP encoding of the body, with
/// `,"sign":"<md5(base64(that encoding) + payment key)>"` added as the last member, so both
/// re-encoding verifiers and raw-strip verifiers accept it.
fn signed_webhook_body<T: Serialize>(payload: &T, payment_key: &[u8]) -> String {
    let encoded = php_json(payload);
    let sign = verify::cryptomus_sign(payment_key, encoded.as_bytes());
    match encoded.strip_suffix('}') {
        Some(members) if members != "{" => format!("{members},\"sign\":\"{sign}\"}}"),
        _ => format!("{{\"sign\":\"{sign}\"}}"),
    }
}

/// Cryptomus' envelope: `{"state":0,"result":…}` on success, `{"state":1,"message":…}` or
/// `{"state":1,"errors":{…}}` on failure.
#[derive(Serialize)]
struct Envelope<'a, T> {
    state: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a BTreeMap<&'static str, Vec<&'static str>>>,
}

/// A `{"state":1,"message":…}` answer.
fn error(status: u16, message: &str) -> Outcome {
    let body: Envelope<'_, ()> = Envelope {
        state: 1,
        result: None,
        message: Some(message),
        errors: None,
    };
    Outcome::json(status, &body)
}

/// Field errors, by field, as Laravel names them.
#[derive(Default)]
struct FieldErrors(BTreeMap<&'static str, Vec<&'static str>>);

impl FieldErrors {
    fn add(&mut self, field: &'static str, rule: &'static str) {
        self.0.entry(field).or_default().push(rule);
    }

    fn into_result(self) -> Result<(), Outcome> {
        if self.0.is_empty() {
            Ok(())
        } else {
            let body: Envelope<'_, ()> = Envelope {
                state: 1,
                result: None,
                message: None,
                errors: Some(&self.0),
            };
            Err(Outcome::json(422, &body))
        }
    }
}

impl Cryptomus {
    pub(super) fn new(accounts: Vec<SandboxAccount>) -> Cryptomus {
        Cryptomus {
            accounts,
            ledger: Mutex::new(Ledger {
                invoices: BoundedMap::new(STORED_INVOICES),
                by_order: HashMap::new(),
            }),
        }
    }

    pub(super) fn handle(&self, request: &Incoming) -> Outcome {
        let route = match request.route {
            "/payment" => Route::Create,
            "/payment/info" => Route::Info,
            "/payment/list" => Route::List,
            route if NOT_EMULATED.contains(&route) => {
                return error(501, "This method is not supported by the sandbox");
            }
            _ => return error(404, "Not found"),
        };
        if request.method != http::Method::POST {
            return error(405, "Method not allowed");
        }
        let Some(account) = find_account(&self.accounts, request.header("merchant")) else {
            return error(401, "Merchant not found");
        };
        let signed = request.header("sign").is_some_and(|sign| {
            verify::cryptomus_sign_matches(account.secret.as_bytes(), request.body, sign)
        });
        if !signed {
            return error(401, "Invalid Sign");
        }
        let body = match fields::json_object(request.body, true) {
            Ok(body) => body,
            Err(NotAnObject::Malformed) => return error(400, "Invalid JSON").authenticated(true),
            Err(NotAnObject::WrongShape) => {
                return error(400, "The request body must be a JSON object").authenticated(true);
            }
        };
        let outcome = match route {
            Route::Create => self.create(account, &body),
            Route::Info => self.info(account, &body),
            // The cursor comes as a query parameter (the docs) or in the body (the SDKs).
            Route::List => self.list(account, &body, request.query_value("cursor")),
        };
        outcome.authenticated(true)
    }

    /// A refusal for a request body that could not be read.
    pub(super) fn body_error(status: u16, message: &str) -> Outcome {
        error(status, message)
    }

    /// Pays or expires the invoice `uuid`; `None` when this emulator does not hold it.
    pub(super) fn apply(&self, uuid: &str, command: Command) -> Option<Result<Change, Conflict>> {
        let mut ledger = lock(&self.ledger);
        let invoice = ledger.invoices.get_mut(&uuid.to_string())?;
        let now = fake::now();
        invoice.expire_if_due(now);
        let changed = match command {
            Command::Pay(paying) => lifecycle::received_after_pay(
                invoice.is_closed(),
                invoice.amount_value,
                invoice.received,
                paying,
            )
            .map(|received| invoice.pay(received, now))
            .map(|()| true),
            Command::Expire => lifecycle::expire_changes(invoice.is_closed(), invoice.progress())
                .inspect(|changed| {
                    if *changed {
                        invoice.expire(now);
                    }
                }),
        };
        let changed = match changed {
            Ok(changed) => changed,
            Err(refusal) => return Some(Err(refusal)),
        };
        let payment_key = self
            .accounts
            .iter()
            .find(|account| verify::same_key(&account.key_id, &invoice.merchant))
            .map(|account| account.secret.as_str());
        let notification = payment_key
            .filter(|_| changed)
            .and_then(|key| invoice.webhook(key));
        Some(Ok(Change {
            provider: Provider::Cryptomus,
            id: invoice.uuid.clone(),
            status: invoice.status,
            display_status: None,
            amount: invoice.amount.clone(),
            received: invoice.payment_amount.clone(),
            notification,
        }))
    }

    /// `payment/list`: the merchant's invoices, newest first, optionally within
    /// `date_from`/`date_to` (`YYYY-MM-DD H:mm:ss`, UTC), 15 a page behind an opaque cursor.
    fn list(
        &self,
        account: &SandboxAccount,
        body: &Map<String, Value>,
        query_cursor: Option<String>,
    ) -> Outcome {
        let mut errors = FieldErrors::default();
        let date_from = optional_string(body, "date_from", &mut errors);
        let date_to = optional_string(body, "date_to", &mut errors);
        let body_cursor = optional_string(body, "cursor", &mut errors);
        let date_from = date_from.and_then(|text| list_date(text, "date_from", &mut errors));
        let date_to = date_to.and_then(|text| list_date(text, "date_to", &mut errors));
        let cursor = query_cursor.or(body_cursor.map(str::to_string));
        let offset = match cursor.as_deref() {
            None | Some("") => Some(0),
            Some(cursor) => cursor_offset(cursor),
        };
        if offset.is_none() {
            errors.add("cursor", "validation.invalid");
        }
        if let Err(refusal) = errors.into_result() {
            return refusal;
        }
        let offset = offset.unwrap_or(0);
        let now = fake::now();
        let mut ledger = lock(&self.ledger);
        for invoice in ledger.invoices.values_mut() {
            invoice.expire_if_due(now);
        }
        let matching: Vec<&Invoice> = ledger
            .invoices
            .newest_first()
            .filter(|invoice| verify::same_key(&invoice.merchant, &account.key_id))
            .filter(|invoice| date_from.is_none_or(|from| invoice.created_at >= from))
            .filter(|invoice| date_to.is_none_or(|to| invoice.created_at <= to))
            .collect();
        let items: Vec<&Invoice> = matching
            .iter()
            .skip(offset)
            .take(LIST_PAGE_SIZE)
            .copied()
            .collect();
        let next = offset + LIST_PAGE_SIZE;
        let page = InvoicePage {
            items,
            paginate: Paginate {
                count: matching.len().saturating_sub(offset).min(LIST_PAGE_SIZE),
                has_pages: matching.len() > LIST_PAGE_SIZE,
                next_cursor: (next < matching.len()).then(|| offset_cursor(next)),
                previous_cursor: (offset > 0)
                    .then(|| offset_cursor(offset.saturating_sub(LIST_PAGE_SIZE))),
                per_page: LIST_PAGE_SIZE,
            },
        };
        Outcome::json(
            200,
            &Envelope {
                state: 0,
                result: Some(&page),
                message: None,
                errors: None,
            },
        )
    }

    fn create(&self, account: &SandboxAccount, body: &Map<String, Value>) -> Outcome {
        let order = match CreateInvoice::parse(body) {
            Ok(order) => order,
            Err(refusal) => return refusal,
        };
        let mut ledger = lock(&self.ledger);
        let now = fake::now();
        // Idempotent on order_id: the existing invoice comes back unchanged.
        if let Some(existing) = ledger.by_order_id(&account.key_id, &order.order_id) {
            existing.expire_if_due(now);
            return existing.answer();
        }
        let fault = fault::for_amount(order.amount);
        if fault == Some(Fault::ServerError) {
            return error(500, "Server error");
        }
        let invoice = order.into_invoice(account, now);
        let outcome = invoice.answer().delayed(fault::delay(fault));
        ledger.insert(invoice);
        outcome
    }

    fn info(&self, account: &SandboxAccount, body: &Map<String, Value>) -> Outcome {
        let mut errors = FieldErrors::default();
        let uuid = optional_string(body, "uuid", &mut errors);
        let order_id = optional_string(body, "order_id", &mut errors);
        if uuid.is_none() && order_id.is_none() && errors.0.is_empty() {
            errors.add("uuid", "validation.required_without");
            errors.add("order_id", "validation.required_without");
        }
        if let Err(refusal) = errors.into_result() {
            return refusal;
        }
        let mut ledger = lock(&self.ledger);
        // When both are given, order_id wins.
        let invoice = match (order_id, uuid) {
            (Some(order_id), _) => ledger.by_order_id(&account.key_id, order_id),
            (None, Some(uuid)) => ledger.by_uuid(&account.key_id, uuid),
            (None, None) => None,
        };
        match invoice {
            Some(invoice) => {
                invoice.expire_if_due(fake::now());
                invoice.answer()
            }
            None => error(404, "Payment not found"),
        }
    }
}

/// A create-invoice request that passed validation.
struct CreateInvoice {
    amount: Decimal,
    currency: String,
    /// The coin the payer pays in, when known (the currency itself, or `to_currency`).
    coin: Option<String>,
    order_id: String,
    network: Option<&'static Network>,
    lifetime: i64,
    discount_percent: i64,
    additional_data: Option<String>,
    url_callback: Option<String>,
}

impl CreateInvoice {
    fn parse(body: &Map<String, Value>) -> Result<CreateInvoice, Outcome> {
        let mut errors = FieldErrors::default();

        let amount = match fields::present(body, "amount") {
            None => required(&mut errors, "amount"),
            Some(value) => match fields::decimal_text(value)
                .as_deref()
                .and_then(fields::decimal)
            {
                None => bad(&mut errors, "amount", "validation.numeric"),
                Some(amount) if amount <= Decimal::ZERO => {
                    bad(&mut errors, "amount", "validation.min.numeric")
                }
                Some(amount) => Some(amount),
            },
        };
        let currency = required_string(body, "currency", &mut errors);
        let order_id = required_string(body, "order_id", &mut errors);
        if let Some(order_id) = order_id {
            if order_id.chars().count() > 128 {
                errors.add("order_id", "validation.max.string");
            }
            if !order_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                errors.add("order_id", "validation.alpha_dash");
            }
        }
        let network = optional_string(body, "network", &mut errors);
        let to_currency = optional_string(body, "to_currency", &mut errors);
        for key in ["course_source", "from_referral_code"] {
            optional_string(body, key, &mut errors);
        }
        let mut url_callback = None;
        for key in ["url_return", "url_success", "url_callback"] {
            if let Some(url) = optional_string(body, key, &mut errors) {
                if key == "url_callback" {
                    url_callback = Some(url.to_string());
                }
                let length = url.chars().count();
                if length < 6 {
                    errors.add(key, "validation.min.string");
                } else if length > 255 {
                    errors.add(key, "validation.max.string");
                } else if !fields::is_http_url(url) {
                    errors.add(key, "validation.url");
                }
            }
        }
        for key in ["is_payment_multiple", "is_refresh"] {
            let is_boolean = |value: &Value| {
                matches!(value, Value::Bool(_)) || matches!(value.as_str(), Some("true" | "false"))
            };
            if fields::present(body, key).is_some_and(|value| !is_boolean(value)) {
                errors.add(key, "validation.boolean");
            }
        }
        let lifetime =
            integer_in(body, "lifetime", LIFETIME_RANGE, &mut errors).unwrap_or(DEFAULT_LIFETIME);
        let discount_percent =
            integer_in(body, "discount_percent", (-99, 90), &mut errors).unwrap_or(0);
        numeric_in(body, "subtract", (0, 100), &mut errors);
        numeric_in(body, "accuracy_payment_percent", (0, 5), &mut errors);
        let additional_data = optional_string(body, "additional_data", &mut errors);
        if additional_data.is_some_and(|text| text.chars().count() > 255) {
            errors.add("additional_data", "validation.max.string");
        }
        for key in ["currencies", "except_currencies"] {
            if fields::present(body, key).is_some_and(|value| !value.is_array()) {
                errors.add(key, "validation.array");
            }
        }
        errors.into_result()?;

        let (Some(amount), Some(currency), Some(order_id)) = (amount, currency, order_id) else {
            return Err(error(422, "Invalid request"));
        };
        let currency = currency.to_ascii_uppercase();
        let to_currency = to_currency.map(str::to_ascii_uppercase);
        let fiat = FIAT.contains(&currency.as_str());
        if !fiat && !is_coin(&currency) {
            return Err(error(
                422,
                &format!("The currency {currency} is not supported"),
            ));
        }
        if let Some(to) = to_currency.as_deref().filter(|to| !is_coin(to)) {
            return Err(error(422, &format!("The currency {to} is not supported")));
        }
        let coin = to_currency.or((!fiat).then(|| currency.clone()));
        let network = match network {
            None => None,
            Some(name) => {
                let supported = network_named(name).filter(|network| {
                    coin.as_deref()
                        .is_some_and(|coin| network.coins.contains(&coin))
                });
                let shown = coin.as_deref().unwrap_or(&currency);
                match supported {
                    Some(network) => Some(network),
                    None => {
                        return Err(error(
                            422,
                            &format!("The currency {shown} is not available on network {name}"),
                        ));
                    }
                }
            }
        };
        Ok(CreateInvoice {
            amount,
            currency,
            coin,
            order_id: order_id.to_string(),
            network,
            lifetime,
            discount_percent,
            additional_data: additional_data.map(str::to_string),
            url_callback,
        })
    }

    fn into_invoice(self, account: &SandboxAccount, now: OffsetDateTime) -> Invoice {
        let uuid = fake::new_id();
        // Amounts in the invoice's own currency; a conversion only happens once the payer pays.
        let same_coin = self.coin.as_deref() == Some(self.currency.as_str());
        let payer_amount =
            same_coin.then(|| percent_off(self.amount, Decimal::from(self.discount_percent)));
        let discount = payer_amount
            .and_then(|payer| self.amount.checked_sub(payer))
            .unwrap_or(Decimal::ZERO);
        let merchant_amount = payer_amount.map(|payer| percent_off(payer, COMMISSION_PERCENT));
        let address = self
            .network
            .map(|network| fake::deposit_address(network.address));
        Invoice {
            merchant: account.key_id.clone(),
            url_callback: self.url_callback,
            amount_value: self.amount,
            received: Decimal::ZERO,
            chain_style: self
                .network
                .map_or(AddressStyle::Tron, |network| network.address),
            url: format!("https://pay.cryptomus.sandbox.invalid/pay/{uuid}"),
            uuid,
            order_id: self.order_id,
            amount: fields::format_amount(self.amount, 2),
            payment_amount: "0.00".to_string(),
            payer_amount: payer_amount.map(|amount| fields::format_amount(amount, 2)),
            discount_percent: self.discount_percent,
            discount: fields::format_amount(discount, 2),
            payer_currency: self.coin,
            currency: self.currency,
            comments: None,
            merchant_amount: merchant_amount.map(|amount| fields::format_amount(amount, 2)),
            network: self.network.map(|network| network.name.to_string()),
            address,
            from: None,
            txid: None,
            payment_status: "check",
            expired_at: now.unix_timestamp() + self.lifetime,
            status: "check",
            is_final: false,
            additional_data: self.additional_data,
            created_at: now,
            updated_at: now,
        }
    }
}

/// `amount` less `percent` %, to 8 decimals; the amount itself if the arithmetic overflows.
fn percent_off(amount: Decimal, percent: Decimal) -> Decimal {
    Decimal::ONE_HUNDRED
        .checked_sub(percent)
        .and_then(|kept| amount.checked_mul(kept))
        .and_then(|scaled| scaled.checked_div(Decimal::ONE_HUNDRED))
        .map_or(amount, |result| result.round_dp(8))
}

fn required<T>(errors: &mut FieldErrors, field: &'static str) -> Option<T> {
    errors.add(field, "validation.required");
    None
}

fn bad<T>(errors: &mut FieldErrors, field: &'static str, rule: &'static str) -> Option<T> {
    errors.add(field, rule);
    None
}

/// A required string; an empty one counts as missing, as in Laravel.
fn required_string<'a>(
    body: &'a Map<String, Value>,
    key: &'static str,
    errors: &mut FieldErrors,
) -> Option<&'a str> {
    match fields::present(body, key) {
        None => required(errors, key),
        Some(Value::String(text)) if text.is_empty() => required(errors, key),
        Some(Value::String(text)) => Some(text),
        Some(_) => bad(errors, key, "validation.string"),
    }
}

/// An optional (nullable) string.
fn optional_string<'a>(
    body: &'a Map<String, Value>,
    key: &'static str,
    errors: &mut FieldErrors,
) -> Option<&'a str> {
    match fields::present(body, key) {
        None => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => bad(errors, key, "validation.string"),
    }
}

/// An optional integer within `range` (inclusive).
fn integer_in(
    body: &Map<String, Value>,
    key: &'static str,
    range: (i64, i64),
    errors: &mut FieldErrors,
) -> Option<i64> {
    let value = fields::present(body, key)?;
    match fields::integer(value) {
        None => bad(errors, key, "validation.integer"),
        Some(number) if number < range.0 => bad(errors, key, "validation.min.numeric"),
        Some(number) if number > range.1 => bad(errors, key, "validation.max.numeric"),
        Some(number) => Some(number),
    }
}

/// An optional number (string or JSON number) within `range` (inclusive).
fn numeric_in(
    body: &Map<String, Value>,
    key: &'static str,
    range: (i64, i64),
    errors: &mut FieldErrors,
) {
    let Some(value) = fields::present(body, key) else {
        return;
    };
    match fields::decimal_text(value)
        .as_deref()
        .and_then(fields::decimal)
    {
        None => errors.add(key, "validation.numeric"),
        Some(number) if number < Decimal::from(range.0) => {
            errors.add(key, "validation.min.numeric")
        }
        Some(number) if number > Decimal::from(range.1) => {
            errors.add(key, "validation.max.numeric")
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The webhook of dialects.md §4, in its members' order, as a typed body.
    #[derive(Serialize)]
    struct VectorWebhook {
        #[serde(rename = "type")]
        kind: &'static str,
        uuid: &'static str,
        order_id: &'static str,
        amount: &'static str,
        payment_amount: &'static str,
        payment_amount_usd: &'static str,
        merchant_amount: &'static str,
        commission: &'static str,
        is_final: bool,
        status: &'static str,
        from: &'static str,
        wallet_address_uuid: Option<&'static str>,
        network: &'static str,
        currency: &'static str,
        payer_currency: &'static str,
        additional_data: &'static str,
        convert: VectorConvert,
        txid: &'static str,
    }

    #[derive(Serialize)]
    struct VectorConvert {
        to_currency: &'static str,
        commission: Option<&'static str>,
        rate: &'static str,
        amount: &'static str,
    }

    const VECTOR_PHP: &str = r#"{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"97a75bf8eda5cca41ba9d2e104840fcd","amount":"3.00000000","payment_amount":"3.00000000","payment_amount_usd":"0.23","merchant_amount":"2.94000000","commission":"0.06000000","is_final":true,"status":"paid","from":"THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH","wallet_address_uuid":null,"network":"tron","currency":"TRX","payer_currency":"TRX","additional_data":"Тест \/ x","convert":{"to_currency":"USDT","commission":null,"rate":"0.07700000","amount":"0.22638000"},"txid":"6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b"}"#;

    fn vector() -> VectorWebhook {
        VectorWebhook {
            kind: "payment",
            uuid: "62f88b36-a9d5-4fa6-aa26-e040c3dbf26d",
            order_id: "97a75bf8eda5cca41ba9d2e104840fcd",
            amount: "3.00000000",
            payment_amount: "3.00000000",
            payment_amount_usd: "0.23",
            merchant_amount: "2.94000000",
            commission: "0.06000000",
            is_final: true,
            status: "paid",
            from: "THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH",
            wallet_address_uuid: None,
            network: "tron",
            currency: "TRX",
            payer_currency: "TRX",
            additional_data: "Тест / x",
            convert: VectorConvert {
                to_currency: "USDT",
                commission: None,
                rate: "0.07700000",
                amount: "0.22638000",
            },
            txid: "6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b",
        }
    }

    #[test]
    fn webhook_encoding_and_sign_reproduce_the_documented_vector() {
        assert_eq!(php_json(&vector()), VECTOR_PHP);
        let signed = signed_webhook_body(&vector(), b"test_payment_key_123");
        let expected = format!(
            "{},\"sign\":\"daa9f937f2e778bd98b4e91afb0cced2\"}}",
            &VECTOR_PHP[..VECTOR_PHP.len() - 1]
        );
        assert_eq!(signed, expected);
    }

    #[test]
    fn php_json_escapes_like_php() {
        let text = "a/b \u{2028}\u{2029} é \"q\" \n";
        assert_eq!(
            php_json(&text),
            r#""a\/b \u2028\u2029 é \"q\" \n""#,
            "slash and line separators escaped, non-ASCII raw"
        );
    }

    #[test]
    fn list_dates_and_cursors() {
        let mut errors = FieldErrors::default();
        let at = list_date("2025-05-20 9:05:00", "date_from", &mut errors);
        assert_eq!(
            at.map(fake::iso_seconds_offset).as_deref(),
            Some("2025-05-20T09:05:00+00:00")
        );
        assert!(list_date("2025-05-20 09:05:00", "date_from", &mut errors).is_some());
        assert!(errors.0.is_empty());
        assert!(list_date("20-05-2025", "date_to", &mut errors).is_none());
        assert_eq!(
            errors.0.get("date_to"),
            Some(&vec!["validation.date_format"])
        );
        assert_eq!(cursor_offset(&offset_cursor(30)), Some(30));
        assert_eq!(cursor_offset("not a cursor"), None);
    }
}
