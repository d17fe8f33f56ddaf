//! AlpPay `/v2` (dialects.md §1): `POST /payment`, `GET /payment/{id}` and
//! `GET /payment?ids=&invoices=&statuses=&txnIds=&page=&limit=`, plus the payment webhook to the
//! account's webhook URL (§1c).
//!
//! Authentication: `API-KEY` on every call, plus `X-HMAC` = hex HMAC-SHA256(secret, raw body) on
//! POSTs. Status codes as documented: 400 malformed body or wrong types, 401 credentials, 422
//! business validation.
//!
//! Statuses as payments arrive (§1d, `status`/`displayStatus`): `OPEN`/`NEW` → `OPEN`/`UNDERPAID`
//! (part paid) → `COMPLETED`/`COMPLETED` or `COMPLETED`/`OVERPAID`; an expiry gives
//! `EXPIRED`/`EXPIRED` (nothing paid) or `EXPIRED`/`UNDERPAID` (part paid).

use std::sync::Mutex;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Number, Value};
use time::{Duration, OffsetDateTime};

use super::fake::{self, AddressStyle};
use super::fault::{self, Fault};
use super::fields;
use super::lifecycle::{self, Change, Command, Conflict, Notification, Progress};
use super::store::{BoundedMap, lock};
use super::verify;
use super::wire::{Incoming, Outcome};
use super::{Provider, SandboxAccount, find_account};

/// AlpPay's error body is undocumented (dialects.md §1e, §7). This is the sandbox's guess, and the
/// only place that decides it: a JSON object with a snake_case reason under the first name and a
/// human-readable text under the second, e.g. `{"code":"unauthorized","message":"…"}`.
const ERROR_BODY_FIELDS: (&str, &str) = ("code", "message");

/// The server-chosen payment lifetime in seconds (`timeout`); AlpPay takes no lifetime input.
const PAYMENT_TIMEOUT_SECONDS: i64 = 3600;

/// Payments kept for lookups; the oldest are forgotten first.
const STORED_PAYMENTS: usize = 50_000;

/// The list endpoint's page size when none is asked for, and its largest.
const DEFAULT_LIST_LIMIT: usize = 20;
const MAX_LIST_LIMIT: usize = 100;

/// A chain AlpPay takes payments on, with the assets it accepts there.
struct Network {
    name: &'static str,
    /// Other spellings seen in AlpPay's docs (compared case-insensitively).
    aliases: &'static [&'static str],
    address: AddressStyle,
    confirmations: u32,
    assets: &'static [&'static str],
}

/// Supported payment pairs. AlpPay does not publish its list (dialects.md §1f); these are the
/// chains its docs name, with the tickers they show.
const NETWORKS: &[Network] = &[
    Network {
        name: "tron",
        aliases: &["trc20"],
        address: AddressStyle::Tron,
        confirmations: 19,
        assets: &["USDT", "USDC", "TRX"],
    },
    Network {
        name: "ethereum",
        aliases: &["erc20"],
        address: AddressStyle::Evm,
        confirmations: 12,
        assets: &["USDT", "USDC", "ETH"],
    },
    Network {
        name: "ton",
        aliases: &[],
        address: AddressStyle::Ton,
        confirmations: 1,
        assets: &["USDT", "TON"],
    },
    Network {
        name: "solana",
        aliases: &[],
        address: AddressStyle::Solana,
        confirmations: 32,
        assets: &["USDT", "USDC", "SOL"],
    },
];

/// Display names of the assets, for `asset.name`.
const ASSET_NAMES: &[(&str, &str)] = &[
    ("USDT", "Tether"),
    ("USDC", "USD Coin"),
    ("TRX", "TRON"),
    ("ETH", "Ethereum"),
    ("TON", "Toncoin"),
    ("SOL", "Solana"),
];

fn network_named(name: &str) -> Option<&'static Network> {
    NETWORKS.iter().find(|network| {
        network.name.eq_ignore_ascii_case(name)
            || network
                .aliases
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(name))
    })
}

/// The emulated AlpPay account(s) and their payments.
pub(super) struct AlpPay {
    accounts: Vec<SandboxAccount>,
    ledger: Mutex<Ledger>,
}

struct Ledger {
    payments: BoundedMap<String, Payment>,
    /// The current deposit address and open payment of each `clientId` (per API key and chain).
    clients: BoundedMap<(String, String, &'static str), StickyClient>,
}

struct StickyClient {
    address: String,
    open_payment: String,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Asset {
    short: String,
    name: String,
    logo_url: String,
    network: String,
}

#[derive(Serialize, Clone)]
struct Customer {
    id: Number,
    name: String,
    email: String,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Merchant {
    id: String,
    name: String,
    site_url: String,
    logo_url: String,
    email: String,
}

/// One incoming transaction, in the create-shape members (dialects.md §1b); get-payment adds
/// [`TransactionDetails`].
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    payment_id: String,
    txn_id: String,
    received_amount: String,
    asset: Asset,
    dest_tag: Option<String>,
    address_from: String,
    address_to: String,
    #[serde(serialize_with = "iso_seconds_z")]
    date: OffsetDateTime,
    #[serde(flatten)]
    details: Option<TransactionDetails>,
}

/// The transaction members only get-payment (and the list) shows.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct TransactionDetails {
    fixed_fee: &'static str,
    percent_fee: String,
    risk_score: u8,
    is_danger: bool,
    #[serde(serialize_with = "iso_seconds_z")]
    created_at: OffsetDateTime,
}

/// A stored payment, serialised exactly as the create response (dialects.md §1b).
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Payment {
    #[serde(skip)]
    api_key: String,
    #[serde(skip)]
    amount_value: Decimal,
    /// What has arrived so far.
    #[serde(skip)]
    received: Decimal,
    #[serde(skip)]
    chain_style: AddressStyle,
    id: String,
    transactions: Vec<Transaction>,
    amount: String,
    total_received_amount: String,
    asset: Asset,
    address_to: String,
    confirms_needed: u32,
    timeout: i64,
    checkout_url: Option<String>,
    status: &'static str,
    /// Documented on get-payment; the provider's create example shows it too.
    display_status: &'static str,
    customer: Customer,
    merchant: Merchant,
    invoice: Option<String>,
    payment_redirect_url: String,
    #[serde(serialize_with = "iso_seconds_z")]
    created_at: OffsetDateTime,
    #[serde(serialize_with = "iso_seconds_z")]
    updated_at: OffsetDateTime,
}

/// The get-payment body: the payment plus the fields only that call shows, wrapped in `data`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentDetails<'a> {
    #[serde(flatten)]
    payment: &'a Payment,
    dest_tag: Option<String>,
    fixed_fee: &'static str,
}

/// get-payment wraps the payment: `{"data":{…}}`.
#[derive(Serialize)]
struct Wrapped<T> {
    data: T,
}

fn iso_seconds_z<S: serde::Serializer>(
    at: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&fake::iso_seconds_z(*at))
}

impl Payment {
    /// Closes the payment once its timeout has passed, unless it is paid.
    fn expire_if_due(&mut self, now: OffsetDateTime) {
        let due = self.created_at + Duration::seconds(self.timeout);
        if self.status == "OPEN" && now >= due {
            self.expire(due);
        }
    }

    /// Expired: no more payments are taken.
    fn is_closed(&self) -> bool {
        self.status == "EXPIRED"
    }

    fn progress(&self) -> Progress {
        Progress::of(self.received, self.amount_value)
    }

    /// `EXPIRED`, shown as `EXPIRED` when nothing arrived and `UNDERPAID` when part did.
    fn expire(&mut self, at: OffsetDateTime) {
        self.status = "EXPIRED";
        self.display_status = match self.progress() {
            Progress::Unpaid => "EXPIRED",
            _ => "UNDERPAID",
        };
        self.updated_at = at;
    }

    /// One incoming transaction bringing the total received to `received`.
    fn pay(&mut self, received: Decimal, at: OffsetDateTime) {
        let amount = received.checked_sub(self.received).unwrap_or(received);
        self.received = received;
        self.total_received_amount = fields::format_amount(received, 2);
        self.transactions.push(Transaction {
            payment_id: self.id.clone(),
            txn_id: fake::transaction_hash(self.chain_style),
            received_amount: fields::format_amount(amount, 2),
            asset: self.asset.clone(),
            dest_tag: None,
            address_from: fake::deposit_address(self.chain_style),
            address_to: self.address_to.clone(),
            date: at,
            details: None,
        });
        (self.status, self.display_status) = match self.progress() {
            Progress::Unpaid | Progress::Partial => ("OPEN", "UNDERPAID"),
            Progress::Full => ("COMPLETED", "COMPLETED"),
            Progress::Over => ("COMPLETED", "OVERPAID"),
        };
        self.updated_at = at;
    }

    /// The get-payment view: every transaction with its fee and risk members.
    fn detailed(&self) -> Payment {
        let mut payment = self.clone();
        for transaction in &mut payment.transactions {
            transaction.details = Some(TransactionDetails {
                fixed_fee: "0.00",
                percent_fee: "0.00".to_string(),
                risk_score: 0,
                is_danger: false,
                created_at: transaction.date,
            });
        }
        payment
    }

    /// The payment webhook (§1c): the payment object as create returns it, `X-HMAC` over the
    /// exact body bytes.
    fn webhook(&self, account: &SandboxAccount) -> Option<Notification> {
        let url = account.webhook_url.clone()?;
        let body = serde_json::to_vec(self).ok()?;
        let signature = verify::hmac_sha256_hex(account.secret.as_bytes(), &body);
        Some(Notification {
            url,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-HMAC".into(), signature),
            ],
            body,
        })
    }
}

enum Route<'a> {
    Create,
    Get(&'a str),
    List,
}

/// The list endpoint's answer.
#[derive(Serialize)]
struct Listed<'a> {
    results: Vec<PaymentDetails<'a>>,
}

/// A refused request: status, reason code, text.
struct Refusal(u16, &'static str, String);

impl Refusal {
    fn bad_request(message: String) -> Refusal {
        Refusal(400, "bad_request", message)
    }
}

impl From<Refusal> for Outcome {
    fn from(Refusal(status, code, message): Refusal) -> Outcome {
        error(status, code, &message)
    }
}

/// An AlpPay error answer (see [`ERROR_BODY_FIELDS`]).
fn error(status: u16, code: &str, message: &str) -> Outcome {
    let (code_field, message_field) = ERROR_BODY_FIELDS;
    let mut body = Map::new();
    body.insert(code_field.to_string(), Value::from(code));
    body.insert(message_field.to_string(), Value::from(message));
    Outcome::json(status, &body)
}

impl AlpPay {
    pub(super) fn new(accounts: Vec<SandboxAccount>) -> AlpPay {
        AlpPay {
            accounts,
            ledger: Mutex::new(Ledger {
                payments: BoundedMap::new(STORED_PAYMENTS),
                clients: BoundedMap::new(STORED_PAYMENTS),
            }),
        }
    }

    pub(super) fn handle(&self, request: &Incoming) -> Outcome {
        let route = match (request.method.as_str(), request.route) {
            ("POST", "/payment") => Route::Create,
            ("GET", "/payment") => Route::List,
            ("GET", route) => match route.strip_prefix("/payment/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Route::Get(id),
                _ => return error(404, "not_found", "no such endpoint in the sandbox"),
            },
            (_, "/payment") => return error(405, "method_not_allowed", "method not allowed"),
            _ => return error(404, "not_found", "no such endpoint in the sandbox"),
        };
        let Some(account) = find_account(&self.accounts, request.header("api-key")) else {
            return error(401, "unauthorized", "missing or invalid API-KEY");
        };
        match route {
            Route::Create => {
                let signed = request.header("x-hmac").is_some_and(|signature| {
                    verify::hmac_sha256_matches(account.secret.as_bytes(), request.body, signature)
                });
                if !signed {
                    return error(401, "unauthorized", "missing or invalid X-HMAC signature");
                }
                self.create(account, request.body).authenticated(true)
            }
            Route::Get(id) => self.get(account, id).authenticated(true),
            Route::List => self.list(account, request).authenticated(true),
        }
    }

    /// A refusal for a request body that could not be read.
    pub(super) fn body_error(status: u16, message: &str) -> Outcome {
        let code = if status == 413 {
            "payload_too_large"
        } else {
            "bad_request"
        };
        error(status, code, message)
    }

    /// Pays or expires the payment `id`; `None` when this emulator does not hold it.
    pub(super) fn apply(&self, id: &str, command: Command) -> Option<Result<Change, Conflict>> {
        let mut ledger = lock(&self.ledger);
        let payment = ledger.payments.get_mut(&id.to_string())?;
        let now = fake::now();
        payment.expire_if_due(now);
        let changed = match command {
            Command::Pay(paying) => lifecycle::received_after_pay(
                payment.is_closed(),
                payment.amount_value,
                payment.received,
                paying,
            )
            .map(|received| payment.pay(received, now))
            .map(|()| true),
            Command::Expire => lifecycle::expire_changes(payment.is_closed(), payment.progress())
                .inspect(|changed| {
                    if *changed {
                        payment.expire(now);
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
            .find(|account| verify::same_key(&account.key_id, &payment.api_key));
        let notification = account
            .filter(|_| changed)
            .and_then(|account| payment.webhook(account));
        Some(Ok(Change {
            provider: Provider::AlpPay,
            id: payment.id.clone(),
            status: payment.status,
            display_status: Some(payment.display_status),
            amount: payment.amount.clone(),
            received: payment.total_received_amount.clone(),
            notification,
        }))
    }

    fn create(&self, account: &SandboxAccount, body: &[u8]) -> Outcome {
        let order = match CreatePayment::parse(body) {
            Ok(order) => order,
            Err(refusal) => return refusal.into(),
        };
        let fault = fault::for_amount(order.amount_value);
        if fault == Some(Fault::ServerError) {
            return error(500, "internal_error", "internal server error");
        }
        let now = fake::now();
        let id = fake::new_id();
        let mut ledger = lock(&self.ledger);
        let address = match &order.client_id {
            Some(client) => ledger.sticky_address(account, client, order.network, &id, now),
            None => fake::deposit_address(order.network.address),
        };
        let payment = Payment {
            api_key: account.key_id.clone(),
            amount_value: order.amount_value,
            received: Decimal::ZERO,
            chain_style: order.network.address,
            id: id.clone(),
            transactions: Vec::new(),
            amount: order.amount,
            total_received_amount: "0.00".to_string(),
            asset: Asset {
                name: asset_name(&order.asset).to_string(),
                logo_url: format!(
                    "https://static.alppay.sandbox.invalid/assets/{}.svg",
                    order.asset.to_ascii_lowercase()
                ),
                short: order.asset,
                network: order.network.name.to_string(),
            },
            address_to: address,
            confirms_needed: order.network.confirmations,
            timeout: PAYMENT_TIMEOUT_SECONDS,
            checkout_url: order.checkout_url,
            status: "OPEN",
            display_status: "NEW",
            customer: order.customer,
            merchant: merchant_of(account),
            invoice: order.invoice,
            payment_redirect_url: format!("https://pay.alppay.sandbox.invalid/en/invoice?id={id}"),
            created_at: now,
            updated_at: now,
        };
        let outcome = Outcome::json(200, &payment).delayed(fault::delay(fault));
        ledger.payments.insert(id, payment);
        outcome
    }

    fn get(&self, account: &SandboxAccount, id: &str) -> Outcome {
        let mut ledger = lock(&self.ledger);
        let payment = ledger
            .payments
            .get_mut(&id.to_string())
            .filter(|payment| verify::same_key(&payment.api_key, &account.key_id));
        let Some(payment) = payment else {
            return error(404, "not_found", "payment not found");
        };
        payment.expire_if_due(fake::now());
        let detailed = payment.detailed();
        let details = PaymentDetails {
            payment: &detailed,
            dest_tag: None,
            fixed_fee: "0.00",
        };
        Outcome::json(200, &Wrapped { data: details })
    }

    /// `GET /payment?…`: the account's payments, newest first, filtered by `ids`, `invoices`,
    /// `txnIds` and `statuses` (either status word; lists comma-separated or repeated), paged by
    /// `page` (from 1) and `limit` (1–100, default 20). Answers `{"results":[…]}` in the
    /// get-payment member set.
    fn list(&self, account: &SandboxAccount, request: &Incoming) -> Outcome {
        let ids = request.query_values("ids");
        let invoices = request.query_values("invoices");
        let txn_ids = request.query_values("txnIds");
        let statuses = request.query_values("statuses");
        let page = match request
            .query_value("page")
            .map(|page| page.parse::<usize>())
        {
            None => 1,
            Some(Ok(page)) if page >= 1 => page,
            Some(_) => return error(400, "bad_request", "page must be an integer from 1"),
        };
        let limit = match request
            .query_value("limit")
            .map(|limit| limit.parse::<usize>())
        {
            None => DEFAULT_LIST_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIST_LIMIT).contains(&limit) => limit,
            Some(_) => {
                return error(
                    400,
                    "bad_request",
                    &format!("limit must be an integer from 1 to {MAX_LIST_LIMIT}"),
                );
            }
        };
        let now = fake::now();
        let mut ledger = lock(&self.ledger);
        for payment in ledger.payments.values_mut() {
            payment.expire_if_due(now);
        }
        let wanted =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|w| w == value);
        let results = ledger
            .payments
            .newest_first()
            .filter(|payment| verify::same_key(&payment.api_key, &account.key_id))
            .filter(|payment| wanted(&ids, &payment.id))
            .filter(|payment| {
                invoices.is_empty()
                    || payment
                        .invoice
                        .as_ref()
                        .is_some_and(|i| wanted(&invoices, i))
            })
            .filter(|payment| {
                txn_ids.is_empty()
                    || payment
                        .transactions
                        .iter()
                        .any(|transaction| wanted(&txn_ids, &transaction.txn_id))
            })
            .filter(|payment| {
                statuses.is_empty()
                    || statuses.iter().any(|status| {
                        status.eq_ignore_ascii_case(payment.status)
                            || status.eq_ignore_ascii_case(payment.display_status)
                    })
            })
            .skip((page - 1).saturating_mul(limit))
            .take(limit)
            .map(Payment::detailed)
            .collect::<Vec<_>>();
        drop(ledger);
        let results = results
            .iter()
            .map(|payment| PaymentDetails {
                payment,
                dest_tag: None,
                fixed_fee: "0.00",
            })
            .collect();
        Outcome::json(200, &Listed { results })
    }
}

impl Ledger {
    /// A `clientId` keeps its address per chain; a new payment expires the client's previous open
    /// one (dialects.md §1b).
    fn sticky_address(
        &mut self,
        account: &SandboxAccount,
        client: &str,
        network: &'static Network,
        new_payment: &str,
        now: OffsetDateTime,
    ) -> String {
        let key = (account.key_id.clone(), client.to_string(), network.name);
        let (address, previous) = match self.clients.get(&key) {
            Some(sticky) => (sticky.address.clone(), Some(sticky.open_payment.clone())),
            None => (fake::deposit_address(network.address), None),
        };
        if let Some(previous) = previous.and_then(|id| self.payments.get_mut(&id))
            && previous.status == "OPEN"
        {
            previous.expire(now);
        }
        let sticky = StickyClient {
            address: address.clone(),
            open_payment: new_payment.to_string(),
        };
        self.clients.insert(key, sticky);
        address
    }
}

fn asset_name(short: &str) -> &'static str {
    ASSET_NAMES
        .iter()
        .find(|(ticker, _)| *ticker == short)
        .map_or("Unknown", |(_, name)| name)
}

fn merchant_of(account: &SandboxAccount) -> Merchant {
    let slug = fake::slug(&account.name);
    Merchant {
        id: fake::stable_id(&format!("alppay merchant {}", account.key_id)),
        name: account.name.clone(),
        site_url: format!("https://{slug}.sandbox.invalid"),
        logo_url: format!("https://{slug}.sandbox.invalid/logo.svg"),
        email: format!("billing@{slug}.sandbox.invalid"),
    }
}

/// A create-payment request that passed validation.
struct CreatePayment {
    amount: String,
    amount_value: Decimal,
    asset: String,
    network: &'static Network,
    customer: Customer,
    client_id: Option<String>,
    invoice: Option<String>,
    checkout_url: Option<String>,
}

/// Longest free-text field accepted.
const MAX_TEXT: usize = 255;
/// Most decimals an amount may carry.
const MAX_DECIMALS: u32 = 8;

impl CreatePayment {
    /// Wrong JSON or wrong types are refused with 400 at the first problem (the body does not
    /// decode); missing fields and bad values with 422, all problems listed.
    fn parse(body: &[u8]) -> Result<CreatePayment, Refusal> {
        let object = fields::json_object(body, false).map_err(|_| {
            Refusal::bad_request("malformed JSON: the body must be a JSON object".into())
        })?;
        let mut problems = Vec::new();

        let amount = string(&object, "amount", "amount")?;
        let asset = object_member(&object, "asset", "asset")?;
        let customer = object_member(&object, "customer", "customer")?;
        let short = asset
            .map(|asset| string(asset, "short", "asset.short"))
            .transpose()?
            .flatten();
        let network = asset
            .map(|asset| string(asset, "network", "asset.network"))
            .transpose()?
            .flatten();
        let customer_id = customer
            .map(|c| integer(c, "id", "customer.id"))
            .transpose()?
            .flatten();
        let name = customer
            .map(|c| string(c, "name", "customer.name"))
            .transpose()?
            .flatten();
        let email = customer
            .map(|c| string(c, "email", "customer.email"))
            .transpose()?
            .flatten();
        let client_id = string(&object, "clientId", "clientId")?;
        let invoice = string(&object, "invoice", "invoice")?;
        let checkout_url = string(&object, "checkoutUrl", "checkoutUrl")?;

        let amount_value = amount.and_then(fields::decimal);
        match (amount, amount_value) {
            (None, _) => required(&mut problems, "amount"),
            (Some(_), None) => problems.push("amount must be a decimal string".into()),
            (Some(_), Some(value)) if value <= Decimal::ZERO => {
                problems.push("amount must be positive".into())
            }
            (Some(_), Some(value)) if value.scale() > MAX_DECIMALS => {
                problems.push(format!("amount has more than {MAX_DECIMALS} decimals"))
            }
            (Some(_), Some(_)) => {}
        }

        if asset.is_none() {
            required(&mut problems, "asset");
        } else {
            non_empty(&mut problems, short, "asset.short");
            non_empty(&mut problems, network, "asset.network");
        }
        if customer.is_none() {
            required(&mut problems, "customer");
        } else {
            if customer_id.is_none() {
                required(&mut problems, "customer.id");
            }
            non_empty(&mut problems, name, "customer.name");
            match email {
                Some(email) if !fields::looks_like_email(email) => {
                    problems.push("customer.email must be an e-mail address".into())
                }
                Some(_) => {}
                None => required(&mut problems, "customer.email"),
            }
        }
        for (field, value) in [
            ("clientId", client_id),
            ("invoice", invoice),
            ("customer.name", name),
        ] {
            if value.is_some_and(|text| text.chars().count() > MAX_TEXT) {
                problems.push(format!("{field} is longer than {MAX_TEXT} characters"));
            }
        }
        if checkout_url.is_some_and(|url| !fields::is_http_url(url) || url.len() > 2048) {
            problems.push("checkoutUrl must be an http(s) URL".into());
        }
        if !problems.is_empty() {
            return Err(Refusal(422, "validation_failed", problems.join("; ")));
        }

        let (
            Some(amount),
            Some(amount_value),
            Some(short),
            Some(network),
            Some(id),
            Some(name),
            Some(email),
        ) = (
            amount,
            amount_value,
            short,
            network,
            customer_id,
            name,
            email,
        )
        else {
            return Err(Refusal(
                422,
                "validation_failed",
                "incomplete request".into(),
            ));
        };
        let short = short.to_ascii_uppercase();
        let network = network_named(network)
            .filter(|known| known.assets.contains(&short.as_str()))
            .ok_or_else(|| {
                Refusal(
                    422,
                    "unsupported_asset",
                    format!("asset {short} on network {network} is not supported"),
                )
            })?;
        Ok(CreatePayment {
            amount: amount.to_string(),
            amount_value,
            asset: short,
            network,
            customer: Customer {
                id,
                name: name.to_string(),
                email: email.to_string(),
            },
            client_id: client_id.map(str::to_string),
            invoice: invoice.map(str::to_string),
            checkout_url: checkout_url.map(str::to_string),
        })
    }
}

fn required(problems: &mut Vec<String>, field: &str) {
    problems.push(format!("{field} is required"));
}

fn non_empty(problems: &mut Vec<String>, value: Option<&str>, field: &str) {
    if value.is_none_or(|text| text.trim().is_empty()) {
        required(problems, field);
    }
}

/// A string member: `None` when absent or null, 400 when of another type.
fn string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, Refusal> {
    match fields::present(object, key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Refusal::bad_request(format!("{path} must be a string"))),
    }
}

/// An object member: `None` when absent or null, 400 when of another type.
fn object_member<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, Refusal> {
    match fields::present(object, key) {
        None => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(Refusal::bad_request(format!("{path} must be an object"))),
    }
}

/// An integer member (`customer.id`): `None` when absent or null, 400 when not an integer.
fn integer(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<Number>, Refusal> {
    match fields::present(object, key) {
        None => Ok(None),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => {
            Ok(Some(number.clone()))
        }
        Some(_) => Err(Refusal::bad_request(format!("{path} must be an integer"))),
    }
}
