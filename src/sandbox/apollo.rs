//! Apollo Payment `/api-gateway` (dialects.md §3): `make-order`, `order`, `orders`,
//! `advanced-balances` and `test-signature`, all `POST`, with or without a trailing slash; plus
//! the order webhook to `successWebhook`/`errorWebhook` (§3c).
//!
//! Authentication: `x-api-public-key` plus `x-api-signature` = hex HMAC-SHA256(private key, raw
//! body); the body must be a JSON object with a `nonce` (number or string) this public key has not
//! used before. Errors use Apollo's envelope
//! `{"success":false,"error":{"code","name","message"},"requestId"}`. Apollo's error-code list is
//! not public (dialects.md §3e), so the `code` is the HTTP status and the names are the sandbox's.
//!
//! Statuses as payments arrive (§3d): `init` → `pending` (part paid, `received` < `amount`) →
//! `processed` or `overpaid`; an expiry gives `expired` (nothing paid) or `partial` (part paid).
//! Webhooks carry `x-api-public-key` and `x-api-signature` = hex HMAC-SHA256(private key, raw
//! body), the request algorithm (`[inferred]` that it runs over the raw webhook body).

use std::collections::HashMap;
use std::sync::Mutex;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::fake::{self, AddressStyle};
use super::fault::{self, Fault};
use super::fields::{self, NotAnObject};
use super::lifecycle::{self, Change, Command, Conflict, Notification, Progress};
use super::store::{BoundedMap, NonceWindow, lock};
use super::verify;
use super::wire::{Incoming, Outcome};
use super::{Provider, SandboxAccount, find_account};

/// Orders kept for lookups; the oldest are forgotten first.
const STORED_ORDERS: usize = 50_000;

/// Nonces remembered per public key.
const REMEMBERED_NONCES: usize = 100_000;

/// The longest order lifetime on every network (seconds).
const MAX_LIFETIME: i64 = 43_200;

/// `orders` page size when none is asked for, and its largest.
const DEFAULT_LIST_LIMIT: u64 = 100;
const MAX_LIST_LIMIT: u64 = 100;

/// Coins whose amounts are their own USD value (for a transaction's `amountUSD`).
const USD_VALUED: &[&str] = &["USDT", "USDC"];

/// A chain Apollo takes orders on.
struct Network {
    name: &'static str,
    address: AddressStyle,
    /// The shortest lifetime allowed, also the default (dialects.md §3f).
    min_lifetime: i64,
    /// Deposits need a destination tag (XRP).
    needs_tag: bool,
    coins: &'static [&'static str],
}

/// Supported order pairs, with Apollo's own network slugs (dialects.md §3f, §5.6).
const NETWORKS: &[Network] = &[
    Network {
        name: "tron",
        address: AddressStyle::Tron,
        min_lifetime: 1800,
        needs_tag: false,
        coins: &["USDT", "TRX"],
    },
    Network {
        name: "ethereum",
        address: AddressStyle::Evm,
        min_lifetime: 1800,
        needs_tag: false,
        coins: &["USDT", "USDC", "ETH"],
    },
    Network {
        name: "bsc",
        address: AddressStyle::Evm,
        min_lifetime: 1800,
        needs_tag: false,
        coins: &["USDT", "USDC", "BNB"],
    },
    Network {
        name: "bitcoin",
        address: AddressStyle::Bitcoin,
        min_lifetime: 7200,
        needs_tag: false,
        coins: &["BTC"],
    },
    Network {
        name: "bitcoincash",
        address: AddressStyle::BitcoinCash,
        min_lifetime: 7200,
        needs_tag: false,
        coins: &["BCH"],
    },
    Network {
        name: "litecoin",
        address: AddressStyle::Litecoin,
        min_lifetime: 3600,
        needs_tag: false,
        coins: &["LTC"],
    },
    Network {
        name: "ton",
        address: AddressStyle::Ton,
        min_lifetime: 1800,
        needs_tag: false,
        coins: &["USDT", "TON"],
    },
    Network {
        name: "fantom",
        address: AddressStyle::Evm,
        min_lifetime: 1800,
        needs_tag: false,
        coins: &["FTM"],
    },
    Network {
        name: "ripple",
        address: AddressStyle::Ripple,
        min_lifetime: 1800,
        needs_tag: true,
        coins: &["XRP"],
    },
];

fn network_named(name: &str) -> Option<&'static Network> {
    NETWORKS
        .iter()
        .find(|network| network.name.eq_ignore_ascii_case(name))
}

/// Every coin some network accepts, once each, in table order.
fn deposit_currencies() -> Vec<&'static str> {
    let mut coins: Vec<&'static str> = Vec::new();
    for coin in NETWORKS
        .iter()
        .flat_map(|network| network.coins.iter().copied())
    {
        if !coins.contains(&coin) {
            coins.push(coin);
        }
    }
    coins
}

/// The emulated Apollo account(s), their orders and used nonces.
pub(super) struct Apollo {
    accounts: Vec<SandboxAccount>,
    orders: Mutex<BoundedMap<String, Order>>,
    nonces: Mutex<HashMap<String, NonceWindow>>,
}

/// One incoming transaction of an order (dialects.md §3b "Get").
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    id: String,
    status: &'static str,
    currency: String,
    network: &'static str,
    amount: String,
    tx: String,
    confirmations: u32,
    sender: String,
    #[serde(rename = "priceUSD")]
    price_usd: Option<&'static str>,
    #[serde(rename = "amountUSD")]
    amount_usd: Option<String>,
}

/// A stored order.
struct Order {
    public_key: String,
    amount_value: Decimal,
    /// What has arrived so far.
    received: Decimal,
    transactions: Vec<Transaction>,
    chain_style: AddressStyle,
    id: String,
    advanced_balance_id: String,
    currency: String,
    network: &'static str,
    amount: String,
    order: String,
    description: Option<String>,
    address: String,
    address_id: String,
    tag: Option<String>,
    payment_tolerance_percent: Option<String>,
    success_webhook: Option<String>,
    error_webhook: Option<String>,
    return_url: Option<String>,
    external_user_id: Option<String>,
    payer_email: Option<String>,
    link: String,
    status: &'static str,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl Order {
    /// An order past `expiresAt` that is not paid closes, as [`Order::expire`] does.
    fn expire_if_due(&mut self, now: OffsetDateTime) {
        if !self.is_closed() && !self.progress().is_paid() && now >= self.expires_at {
            self.expire(self.expires_at);
        }
    }

    /// Expired (`expired` or `partial`): the sandbox takes no more payments.
    fn is_closed(&self) -> bool {
        matches!(self.status, "expired" | "partial")
    }

    fn progress(&self) -> Progress {
        Progress::of(self.received, self.amount_value)
    }

    /// `expired` when nothing arrived, `partial` when part did.
    fn expire(&mut self, at: OffsetDateTime) {
        self.status = match self.progress() {
            Progress::Unpaid => "expired",
            _ => "partial",
        };
        self.updated_at = at;
    }

    /// One incoming transaction bringing the total received to `received`.
    fn pay(&mut self, received: Decimal, at: OffsetDateTime) {
        let amount = received.checked_sub(self.received).unwrap_or(received);
        self.received = received;
        let usd_valued = USD_VALUED.contains(&self.currency.as_str());
        self.transactions.push(Transaction {
            id: fake::new_id(),
            status: "processed",
            currency: self.currency.clone(),
            network: self.network,
            amount: fields::format_amount(amount, 0),
            tx: fake::transaction_hash(self.chain_style),
            confirmations: 1,
            sender: fake::deposit_address(self.chain_style),
            price_usd: usd_valued.then_some("1"),
            amount_usd: usd_valued.then(|| fields::format_amount(amount, 0)),
        });
        self.status = match self.progress() {
            Progress::Unpaid | Progress::Partial => "pending",
            Progress::Full => "processed",
            Progress::Over => "overpaid",
        };
        self.updated_at = at;
    }

    fn received_text(&self) -> String {
        fields::format_amount(self.received, 0)
    }

    /// The order webhook (§3c), to `successWebhook` when paid or a transaction arrived and to
    /// `errorWebhook` when expired (each falling back to the other), signed with the account's
    /// keys.
    fn webhook(&self, account: &SandboxAccount) -> Option<Notification> {
        let success = matches!(self.status, "processed" | "overpaid" | "pending");
        let (first, second) = if success {
            (&self.success_webhook, &self.error_webhook)
        } else {
            (&self.error_webhook, &self.success_webhook)
        };
        let url = first.clone().or_else(|| second.clone())?;
        let received = self.received_text();
        let payload = OrderWebhook {
            id: &self.id,
            advanced_balance_id: &self.advanced_balance_id,
            currency: &self.currency,
            network: self.network,
            status: self.status,
            order: &self.order,
            description: self.description.as_deref(),
            address: &self.address,
            tag: self.tag.as_deref(),
            amount: &self.amount,
            received: &received,
            transactions: &self.transactions,
            orphan_deposits: Vec::new(),
        };
        let body = serde_json::to_vec(&payload).ok()?;
        let signature = verify::hmac_sha256_hex(account.secret.as_bytes(), &body);
        Some(Notification {
            url,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("x-api-public-key".into(), account.key_id.clone()),
                ("x-api-signature".into(), signature),
            ],
            body,
        })
    }
}

/// The order webhook body (dialects.md §3c): note `order` is the merchant's reference here.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderWebhook<'a> {
    id: &'a str,
    advanced_balance_id: &'a str,
    currency: &'a str,
    network: &'a str,
    status: &'a str,
    order: &'a str,
    description: Option<&'a str>,
    address: &'a str,
    tag: Option<&'a str>,
    amount: &'a str,
    received: &'a str,
    transactions: &'a [Transaction],
    orphan_deposits: Vec<Value>,
}

/// The `make-order` response (dialects.md §3b "Create").
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedOrder<'a> {
    status: &'a str,
    link: &'a str,
    amount: &'a str,
    payment_tolerance_percent: Option<&'a str>,
    advanced_balance_id: &'a str,
    currency: &'a str,
    network: &'a str,
    address: &'a str,
    address_id: &'a str,
    tag: Option<&'a str>,
    order_id: &'a str,
    client_order_id: &'a str,
    external_user_id: Option<&'a str>,
    payer_email: Option<&'a str>,
    description: Option<&'a str>,
    success_webhook: Option<&'a str>,
    error_webhook: Option<&'a str>,
    return_url: Option<&'a str>,
    expires_at: String,
    created_at: String,
}

impl<'a> From<&'a Order> for CreatedOrder<'a> {
    fn from(order: &'a Order) -> Self {
        CreatedOrder {
            status: order.status,
            link: &order.link,
            amount: &order.amount,
            payment_tolerance_percent: order.payment_tolerance_percent.as_deref(),
            advanced_balance_id: &order.advanced_balance_id,
            currency: &order.currency,
            network: order.network,
            address: &order.address,
            address_id: &order.address_id,
            tag: order.tag.as_deref(),
            order_id: &order.id,
            client_order_id: &order.order,
            external_user_id: order.external_user_id.as_deref(),
            payer_email: order.payer_email.as_deref(),
            description: order.description.as_deref(),
            success_webhook: order.success_webhook.as_deref(),
            error_webhook: order.error_webhook.as_deref(),
            return_url: order.return_url.as_deref(),
            expires_at: fake::iso_millis_z(order.expires_at),
            created_at: fake::iso_millis_z(order.created_at),
        }
    }
}

/// The `order` response (dialects.md §3b "Get"). Note the renaming: `id` is Apollo's id and
/// `orderId` the merchant's reference here.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderDetails<'a> {
    id: &'a str,
    advanced_balance_id: &'a str,
    currency: &'a str,
    network: &'a str,
    status: &'a str,
    order_id: &'a str,
    description: Option<&'a str>,
    address: &'a str,
    address_id: &'a str,
    tag: Option<&'a str>,
    amount: &'a str,
    received: String,
    payment_tolerance_percent: Option<&'a str>,
    success_webhook: Option<&'a str>,
    error_webhook: Option<&'a str>,
    return_url: Option<&'a str>,
    link: &'a str,
    expires_at: String,
    created_at: String,
    updated_at: String,
    transactions: &'a [Transaction],
    orphan_deposits: Vec<Value>,
}

impl<'a> From<&'a Order> for OrderDetails<'a> {
    fn from(order: &'a Order) -> Self {
        OrderDetails {
            id: &order.id,
            advanced_balance_id: &order.advanced_balance_id,
            currency: &order.currency,
            network: order.network,
            status: order.status,
            order_id: &order.order,
            description: order.description.as_deref(),
            address: &order.address,
            address_id: &order.address_id,
            tag: order.tag.as_deref(),
            amount: &order.amount,
            received: order.received_text(),
            payment_tolerance_percent: order.payment_tolerance_percent.as_deref(),
            success_webhook: order.success_webhook.as_deref(),
            error_webhook: order.error_webhook.as_deref(),
            return_url: order.return_url.as_deref(),
            link: &order.link,
            expires_at: fake::iso_millis_z(order.expires_at),
            created_at: fake::iso_millis_z(order.created_at),
            updated_at: fake::iso_millis_z(order.updated_at),
            transactions: &order.transactions,
            orphan_deposits: Vec::new(),
        }
    }
}

/// The `orders` answer.
#[derive(Serialize)]
struct OrderList<'a> {
    orders: Vec<OrderDetails<'a>>,
    total: usize,
}

/// Apollo's success envelope.
#[derive(Serialize)]
struct Success<T> {
    success: bool,
    response: T,
}

/// Apollo's error envelope.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure<'a> {
    success: bool,
    error: ErrorDetails<'a>,
    request_id: String,
}

#[derive(Serialize)]
struct ErrorDetails<'a> {
    code: u16,
    name: &'a str,
    message: &'a str,
}

/// The `advanced-balances` entry; `blocked` is a boolean, as the SDKs type it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdvancedBalance {
    advanced_balance_id: String,
    currency: &'static str,
    blocked: bool,
    block_reason: Option<String>,
    balance: &'static str,
    available_currencies_for_deposit: Vec<&'static str>,
    tariffs: Vec<Value>,
}

/// The `test-signature` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignatureCheck<'a> {
    errors: Vec<&'static str>,
    check_signature_result: bool,
    signature: String,
    received_body: std::borrow::Cow<'a, str>,
}

/// An Apollo error answer.
fn error(status: u16, name: &str, message: &str) -> Outcome {
    let body = Failure {
        success: false,
        error: ErrorDetails {
            code: status,
            name,
            message,
        },
        request_id: fake::new_id(),
    };
    Outcome::json(status, &body)
}

fn success<T: Serialize>(response: T) -> Outcome {
    Outcome::json(
        200,
        &Success {
            success: true,
            response,
        },
    )
}

/// The endpoints that need a valid signature and an unused nonce.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    MakeOrder,
    GetOrder,
    ListOrders,
    AdvancedBalances,
}

impl Apollo {
    pub(super) fn new(accounts: Vec<SandboxAccount>) -> Apollo {
        Apollo {
            accounts,
            orders: Mutex::new(BoundedMap::new(STORED_ORDERS)),
            nonces: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn handle(&self, request: &Incoming) -> Outcome {
        // `None` is test-signature, which reports on the signature instead of requiring it.
        let endpoint = match request.route {
            "/make-order" => Some(Endpoint::MakeOrder),
            "/order" => Some(Endpoint::GetOrder),
            "/orders" => Some(Endpoint::ListOrders),
            "/advanced-balances" => Some(Endpoint::AdvancedBalances),
            "/test-signature" => None,
            _ => return error(404, "NOT_FOUND", "no such endpoint in the sandbox"),
        };
        if request.method != http::Method::POST {
            return error(405, "METHOD_NOT_ALLOWED", "only POST is supported");
        }
        let Some(account) = find_account(&self.accounts, request.header("x-api-public-key")) else {
            return error(
                401,
                "INVALID_API_KEY",
                "missing or unknown x-api-public-key",
            );
        };
        let signed = request.header("x-api-signature").is_some_and(|signature| {
            verify::hmac_sha256_matches(account.secret.as_bytes(), request.body, signature)
        });
        let Some(endpoint) = endpoint else {
            return test_signature(account, request.body, signed).authenticated(signed);
        };
        if !signed {
            return error(
                401,
                "INVALID_SIGNATURE",
                "x-api-signature does not match the request body",
            );
        }
        let outcome = match fields::json_object(request.body, false) {
            Ok(body) => self.after_nonce(account, endpoint, &body),
            Err(NotAnObject::Malformed) => error(400, "INVALID_JSON", "the body is not valid JSON"),
            Err(NotAnObject::WrongShape) => {
                error(400, "INVALID_JSON", "the body must be a JSON object")
            }
        };
        outcome.authenticated(true)
    }

    /// Checks the nonce, then runs the endpoint. A nonce is spent as soon as a correctly signed
    /// request carries it, whatever happens to the request afterwards.
    fn after_nonce(
        &self,
        account: &SandboxAccount,
        endpoint: Endpoint,
        body: &Map<String, Value>,
    ) -> Outcome {
        let Some(nonce) = nonce_of(body) else {
            return error(
                400,
                "NONCE_REQUIRED",
                "nonce is required (a number or a string)",
            );
        };
        let first_use = lock(&self.nonces)
            .entry(account.key_id.clone())
            .or_insert_with(|| NonceWindow::new(REMEMBERED_NONCES))
            .first_use(&nonce);
        if !first_use {
            return error(
                400,
                "NONCE_ALREADY_USED",
                "this nonce was already used with this key",
            );
        }
        match endpoint {
            Endpoint::MakeOrder => self.make_order(account, body),
            Endpoint::GetOrder => self.get_order(account, body),
            Endpoint::ListOrders => self.list_orders(account, body),
            Endpoint::AdvancedBalances => success([AdvancedBalance {
                advanced_balance_id: advanced_balance_id(account),
                currency: "USD",
                blocked: false,
                block_reason: None,
                balance: "0",
                available_currencies_for_deposit: deposit_currencies(),
                tariffs: Vec::new(),
            }]),
        }
    }

    fn make_order(&self, account: &SandboxAccount, body: &Map<String, Value>) -> Outcome {
        let request = match CreateOrder::parse(body) {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let fault = fault::for_amount(request.amount_value);
        if fault == Some(Fault::ServerError) {
            return error(500, "INTERNAL_ERROR", "internal server error");
        }
        let order = request.into_order(account, fake::now());
        let outcome = success(CreatedOrder::from(&order)).delayed(fault::delay(fault));
        lock(&self.orders).insert(order.id.clone(), order);
        outcome
    }

    fn get_order(&self, account: &SandboxAccount, body: &Map<String, Value>) -> Outcome {
        let order_id = match fields::present(body, "orderId") {
            Some(Value::String(id)) if !id.is_empty() => id,
            Some(_) => return error(422, "VALIDATION_ERROR", "orderId: must be a string"),
            None => return error(422, "VALIDATION_ERROR", "orderId: is required"),
        };
        let mut orders = lock(&self.orders);
        let order = orders
            .get_mut(order_id)
            .filter(|order| verify::same_key(&order.public_key, &account.key_id));
        match order {
            Some(order) => {
                order.expire_if_due(fake::now());
                success(OrderDetails::from(&*order))
            }
            None => error(404, "ORDER_NOT_FOUND", "order not found"),
        }
    }
}

impl Apollo {
    /// A refusal for a request body that could not be read.
    pub(super) fn body_error(status: u16, message: &str) -> Outcome {
        let name = if status == 413 {
            "PAYLOAD_TOO_LARGE"
        } else {
            "INVALID_BODY"
        };
        error(status, name, message)
    }

    /// Pays or expires the order `id`; `None` when this emulator does not hold it.
    pub(super) fn apply(&self, id: &str, command: Command) -> Option<Result<Change, Conflict>> {
        let mut orders = lock(&self.orders);
        let order = orders.get_mut(&id.to_string())?;
        let now = fake::now();
        order.expire_if_due(now);
        let changed = match command {
            Command::Pay(paying) => lifecycle::received_after_pay(
                order.is_closed(),
                order.amount_value,
                order.received,
                paying,
            )
            .map(|received| order.pay(received, now))
            .map(|()| true),
            Command::Expire => lifecycle::expire_changes(order.is_closed(), order.progress())
                .inspect(|changed| {
                    if *changed {
                        order.expire(now);
                    }
                }),
        };
        let changed = match changed {
            Ok(changed) => changed,
            Err(refusal) => return Some(Err(refusal)),
        };
        let account = self
            .accounts
            .iter()
            .find(|account| verify::same_key(&account.key_id, &order.public_key));
        let notification = account
            .filter(|_| changed)
            .and_then(|account| order.webhook(account));
        Some(Ok(Change {
            provider: Provider::Apollo,
            id: order.id.clone(),
            status: order.status,
            display_status: None,
            amount: order.amount.clone(),
            received: order.received_text(),
            notification,
        }))
    }

    /// `orders`: this key's orders, newest first, filtered by `status[]`, paged by `limit`
    /// (1–100, default 100) and `offset`; `total` counts every match.
    fn list_orders(&self, account: &SandboxAccount, body: &Map<String, Value>) -> Outcome {
        let statuses: Vec<&str> = match fields::present(body, "status") {
            None => Vec::new(),
            Some(Value::Array(items)) => match items.iter().map(Value::as_str).collect() {
                Some(statuses) => statuses,
                None => {
                    return error(
                        422,
                        "VALIDATION_ERROR",
                        "status: must be an array of strings",
                    );
                }
            },
            Some(_) => {
                return error(
                    422,
                    "VALIDATION_ERROR",
                    "status: must be an array of strings",
                );
            }
        };
        let limit = match fields::present(body, "limit").map(fields::integer) {
            None => DEFAULT_LIST_LIMIT,
            Some(Some(limit)) if (1..=MAX_LIST_LIMIT as i64).contains(&limit) => limit as u64,
            Some(_) => {
                return error(
                    422,
                    "VALIDATION_ERROR",
                    &format!("limit: must be an integer from 1 to {MAX_LIST_LIMIT}"),
                );
            }
        };
        let offset = match fields::present(body, "offset").map(fields::integer) {
            None => 0,
            Some(Some(offset)) if offset >= 0 => offset as u64,
            Some(_) => {
                return error(422, "VALIDATION_ERROR", "offset: must be an integer from 0");
            }
        };
        let now = fake::now();
        let mut orders = lock(&self.orders);
        for order in orders.values_mut() {
            order.expire_if_due(now);
        }
        let matching: Vec<&Order> = orders
            .newest_first()
            .filter(|order| verify::same_key(&order.public_key, &account.key_id))
            .filter(|order| statuses.is_empty() || statuses.contains(&order.status))
            .collect();
        let page = matching
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|order| OrderDetails::from(*order))
            .collect();
        success(OrderList {
            orders: page,
            total: matching.len(),
        })
    }
}

/// `test-signature` reports instead of refusing: the signature the sandbox computed over the
/// received bytes, whether it matches, and what else is wrong with the body. It does not spend
/// the nonce.
fn test_signature(account: &SandboxAccount, body: &[u8], signed: bool) -> Outcome {
    let mut errors = Vec::new();
    match fields::json_object(body, false) {
        Ok(object) if nonce_of(&object).is_none() => errors.push("nonce is required"),
        Ok(_) => {}
        Err(_) => errors.push("the body must be a JSON object"),
    }
    success(SignatureCheck {
        errors,
        check_signature_result: signed,
        signature: verify::hmac_sha256_hex(account.secret.as_bytes(), body),
        received_body: String::from_utf8_lossy(body),
    })
}

/// The nonce as text (`1` and `"1"` are the same nonce); `None` if missing or unusable.
fn nonce_of(body: &Map<String, Value>) -> Option<String> {
    match fields::present(body, "nonce")? {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

fn advanced_balance_id(account: &SandboxAccount) -> String {
    fake::stable_id(&format!("apollo advanced balance {}", account.key_id))
}

/// A `make-order` request that passed validation.
struct CreateOrder {
    currency: String,
    network: &'static Network,
    amount: String,
    amount_value: Decimal,
    order: String,
    lifetime: i64,
    payment_tolerance_percent: Option<String>,
    error_webhook: Option<String>,
    success_webhook: Option<String>,
    return_url: Option<String>,
    description: Option<String>,
    external_user_id: Option<String>,
    payer_email: Option<String>,
}

impl CreateOrder {
    /// All field problems are reported together (422 `VALIDATION_ERROR`); `null` optionals count
    /// as absent and unknown members (`advancedBalanceId`, `nonce`, …) are ignored.
    fn parse(body: &Map<String, Value>) -> Result<CreateOrder, Outcome> {
        let mut problems = Vec::new();
        let currency = text(body, "currency", true, &mut problems);
        let network_name = text(body, "network", true, &mut problems);
        let amount = text(body, "amount", true, &mut problems);
        let order = text(body, "order", true, &mut problems);
        let tolerance = text(body, "paymentTolerancePercent", false, &mut problems);
        let error_webhook = text(body, "errorWebhook", false, &mut problems);
        let success_webhook = text(body, "successWebhook", false, &mut problems);
        let return_url = text(body, "returnUrl", false, &mut problems);
        let description = text(body, "description", false, &mut problems);
        let external_user_id = text(body, "externalUserId", false, &mut problems);
        let payer_email = text(body, "payerEmail", false, &mut problems);

        let amount_value = amount.and_then(fields::decimal);
        if amount.is_some() && amount_value.is_none_or(|value| value <= Decimal::ZERO) {
            problems.push("amount: must be a positive decimal string".to_string());
        }
        if order.is_some_and(|order| order.chars().count() > 255) {
            problems.push("order: must be at most 255 characters".into());
        }
        let tolerance_ok = |text: &str| {
            fields::decimal(text)
                .is_some_and(|value| value >= Decimal::ZERO && value <= Decimal::ONE_HUNDRED)
        };
        if tolerance.is_some_and(|text| !tolerance_ok(text)) {
            problems.push("paymentTolerancePercent: must be a decimal string from 0 to 100".into());
        }
        for (field, url) in [
            ("errorWebhook", error_webhook),
            ("successWebhook", success_webhook),
            ("returnUrl", return_url),
        ] {
            if url.is_some_and(|url| !fields::is_http_url(url)) {
                problems.push(format!("{field}: must be an http(s) URL"));
            }
        }
        if payer_email.is_some_and(|email| !fields::looks_like_email(email)) {
            problems.push("payerEmail: must be an e-mail address".into());
        }
        if fields::present(body, "checkRisks").is_some_and(|value| !value.is_boolean()) {
            problems.push("checkRisks: must be a boolean".into());
        }
        let known_network = network_name.and_then(network_named);
        let min_lifetime = known_network.map_or(1800, |network| network.min_lifetime);
        let lifetime = match fields::present(body, "lifetime") {
            None => None,
            Some(value) => match value.as_i64() {
                Some(seconds) if (min_lifetime..=MAX_LIFETIME).contains(&seconds) => Some(seconds),
                Some(_) => {
                    let network = network_name.unwrap_or("this network");
                    problems.push(format!(
                        "lifetime: must be from {min_lifetime} to {MAX_LIFETIME} seconds for {network}"
                    ));
                    None
                }
                None => {
                    problems.push("lifetime: must be an integer".into());
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(error(422, "VALIDATION_ERROR", &problems.join("; ")));
        }

        let (Some(currency), Some(network_name), Some(amount), Some(amount_value), Some(order)) =
            (currency, network_name, amount, amount_value, order)
        else {
            return Err(error(422, "VALIDATION_ERROR", "incomplete request"));
        };
        let currency = currency.to_ascii_uppercase();
        let Some(network) =
            known_network.filter(|network| network.coins.contains(&currency.as_str()))
        else {
            return Err(error(
                422,
                "CURRENCY_NOT_SUPPORTED",
                &format!("{currency} on network {network_name} is not available for orders"),
            ));
        };
        let owned = |text: Option<&str>| text.map(str::to_string);
        Ok(CreateOrder {
            currency,
            network,
            amount: amount.to_string(),
            amount_value,
            order: order.to_string(),
            lifetime: lifetime.unwrap_or(network.min_lifetime),
            payment_tolerance_percent: owned(tolerance),
            error_webhook: owned(error_webhook),
            success_webhook: owned(success_webhook),
            return_url: owned(return_url),
            description: owned(description),
            external_user_id: owned(external_user_id),
            payer_email: owned(payer_email),
        })
    }

    fn into_order(self, account: &SandboxAccount, now: OffsetDateTime) -> Order {
        let id = fake::new_id();
        Order {
            public_key: account.key_id.clone(),
            amount_value: self.amount_value,
            received: Decimal::ZERO,
            transactions: Vec::new(),
            chain_style: self.network.address,
            link: format!("https://pay.apollo.sandbox.invalid/{id}"),
            id,
            advanced_balance_id: advanced_balance_id(account),
            currency: self.currency,
            network: self.network.name,
            amount: self.amount,
            order: self.order,
            description: self.description,
            address: fake::deposit_address(self.network.address),
            address_id: fake::new_id(),
            tag: self.network.needs_tag.then(fake::destination_tag),
            payment_tolerance_percent: self.payment_tolerance_percent,
            success_webhook: self.success_webhook,
            error_webhook: self.error_webhook,
            return_url: self.return_url,
            external_user_id: self.external_user_id,
            payer_email: self.payer_email,
            status: "init",
            created_at: now,
            expires_at: now + Duration::seconds(self.lifetime),
            updated_at: now,
        }
    }
}

/// A string member; notes a problem when required and missing (or empty), or of another type.
fn text<'a>(
    body: &'a Map<String, Value>,
    key: &str,
    required: bool,
    problems: &mut Vec<String>,
) -> Option<&'a str> {
    match fields::present(body, key) {
        Some(Value::String(text)) if !(required && text.trim().is_empty()) => Some(text),
        Some(Value::String(_)) | None if required => {
            problems.push(format!("{key}: is required"));
            None
        }
        None | Some(Value::String(_)) => None,
        Some(_) => {
            problems.push(format!("{key}: must be a string"));
            None
        }
    }
}
