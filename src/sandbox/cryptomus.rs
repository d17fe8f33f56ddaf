//! Cryptomus `/v1` (dialects.md §2): `POST /payment` and `POST /payment/info`.
//!
//! Authentication: `merchant` (the merchant UUID) and `sign` = hex md5(base64(raw body) + payment
//! key). Errors use Cryptomus' envelopes: `{"state":1,"message":…}`, and for field validation
//! HTTP 422 `{"state":1,"errors":{"field":["validation.rule",…]}}` with Laravel rule names.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::fake::{self, AddressStyle};
use super::fault::{self, Fault};
use super::fields::{self, NotAnObject};
use super::store::{BoundedMap, lock};
use super::verify;
use super::wire::{Incoming, Outcome};
use super::{SandboxAccount, find_account};

/// Invoices kept for lookups; the oldest are forgotten first.
const STORED_INVOICES: usize = 50_000;

/// Lifetime when the request gives none, and its bounds (seconds).
const DEFAULT_LIFETIME: i64 = 3600;
const LIFETIME_RANGE: (i64, i64) = (300, 43_200);

/// The platform's cut, used to compute `merchant_amount`.
const COMMISSION_PERCENT: Decimal = Decimal::ONE;

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
    "/payment/list",
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
    /// An unpaid invoice past `expired_at` is cancelled.
    fn expire_if_due(&mut self, now: OffsetDateTime) {
        if self.status == "check" && now.unix_timestamp() >= self.expired_at {
            self.status = "cancel";
            self.payment_status = "cancel";
            self.is_final = true;
            self.updated_at = OffsetDateTime::from_unix_timestamp(self.expired_at).unwrap_or(now);
        }
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
pub(super) fn error(status: u16, message: &str) -> Outcome {
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
        let is_info = match request.route {
            "/payment" => false,
            "/payment/info" => true,
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
        let outcome = if is_info {
            self.info(account, &body)
        } else {
            self.create(account, &body)
        };
        outcome.authenticated(true)
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
        for key in ["url_return", "url_success", "url_callback"] {
            if let Some(url) = optional_string(body, key, &mut errors) {
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
