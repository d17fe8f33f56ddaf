//! Provider facts that are not certain, in one place so they can change without hunting.
//! Each item carries its confidence tag from the dialect reference: `[docs]`, `[code]`,
//! `[inferred]` (reasoned from evidence) or `[unknown]` (a choice we made in its absence).

/// The built-in network naming table (dialect reference §5.6): canonical chain name, then the
/// name each dialect uses (`None` = never seen in any source `[unknown]`; config can add it).
/// Lookups are case-insensitive. The first dialect name is what payglot sends.
pub struct NetworkRow {
    pub chain: &'static str,
    pub alppay: &'static [&'static str],
    pub cryptomus: &'static [&'static str],
    pub apollo: &'static [&'static str],
}

pub const NETWORKS: &[NetworkRow] = &[
    // AlpPay docs also show `TRC20` for tron `[docs]`; accepted on input, never sent.
    NetworkRow {
        chain: "tron",
        alppay: &["tron", "trc20"],
        cryptomus: &["tron"],
        apollo: &["tron"],
    },
    NetworkRow {
        chain: "ethereum",
        alppay: &["ethereum"],
        cryptomus: &["eth"],
        apollo: &["ethereum"],
    },
    NetworkRow {
        chain: "bsc",
        alppay: &[],
        cryptomus: &["bsc"],
        apollo: &["bsc"],
    },
    NetworkRow {
        chain: "bitcoin",
        alppay: &[],
        cryptomus: &["btc"],
        apollo: &["bitcoin"],
    },
    NetworkRow {
        chain: "litecoin",
        alppay: &[],
        cryptomus: &["ltc"],
        apollo: &["litecoin"],
    },
    NetworkRow {
        chain: "bitcoincash",
        alppay: &[],
        cryptomus: &["bch"],
        apollo: &["bitcoincash"],
    },
    NetworkRow {
        chain: "ton",
        alppay: &["ton"],
        cryptomus: &["ton"],
        apollo: &["ton"],
    },
    NetworkRow {
        chain: "solana",
        alppay: &["solana"],
        cryptomus: &["sol"],
        apollo: &[],
    },
    NetworkRow {
        chain: "polygon",
        alppay: &[],
        cryptomus: &["polygon"],
        apollo: &[],
    },
    NetworkRow {
        chain: "arbitrum",
        alppay: &[],
        cryptomus: &["arbitrum"],
        apollo: &[],
    },
    NetworkRow {
        chain: "avalanche",
        alppay: &[],
        cryptomus: &["avalanche"],
        apollo: &[],
    },
    NetworkRow {
        chain: "dogecoin",
        alppay: &[],
        cryptomus: &["doge"],
        apollo: &[],
    },
    NetworkRow {
        chain: "dash",
        alppay: &[],
        cryptomus: &["dash"],
        apollo: &[],
    },
    NetworkRow {
        chain: "monero",
        alppay: &[],
        cryptomus: &["xmr"],
        apollo: &[],
    },
    NetworkRow {
        chain: "ripple",
        alppay: &[],
        cryptomus: &[],
        apollo: &["ripple"],
    },
    NetworkRow {
        chain: "fantom",
        alppay: &[],
        cryptomus: &[],
        apollo: &["fantom"],
    },
];

/// Cryptomus `lifetime` bounds in seconds `[docs]`.
pub const CRYPTOMUS_LIFETIME: (u64, u64) = (300, 43_200);

/// Apollo `lifetime` bounds: up to 43200 s; the minimum depends on the chain `[docs]`.
pub fn apollo_lifetime_bounds(chain: Option<&str>) -> (u64, u64) {
    let min = match chain {
        Some("bitcoin" | "bitcoincash") => 7_200,
        Some("litecoin") => 3_600,
        _ => 1_800,
    };
    (min, 43_200)
}

/// Codes that are fiat money, not coins. A Cryptomus invoice priced in one of these has no
/// counterpart at providers that only take crypto amounts `[inferred]`: Cryptomus accepts fiat
/// in `currency` but publishes no list, so this is the set of codes it is seen to price in.
pub const FIAT_CURRENCIES: &[&str] = &[
    "USD", "EUR", "GBP", "RUB", "UAH", "KZT", "TRY", "CNY", "JPY", "INR", "BRL", "CAD", "AUD",
    "CHF", "PLN", "CZK", "SEK", "NOK", "DKK", "AED", "IDR", "VND", "THB", "PHP", "MXN", "ARS",
    "NGN", "KRW", "BYN", "UZS", "GEL", "AZN", "AMD", "KGS", "TJS", "MDL", "HKD", "SGD", "ZAR",
];

pub fn is_fiat(code: &str) -> bool {
    FIAT_CURRENCIES.iter().any(|f| f.eq_ignore_ascii_case(code))
}

/// AlpPay asset display names for `asset.name` in answers, which other providers do not carry
/// `[inferred]`: the ticker's common name, or the ticker itself when unknown.
pub fn asset_display_name(ticker: &str) -> &str {
    match ticker.to_ascii_uppercase().as_str() {
        "USDT" => "Tether",
        "USDC" => "USD Coin",
        "BTC" => "Bitcoin",
        "ETH" => "Ethereum",
        "TRX" => "TRON",
        "TON" => "Toncoin",
        "SOL" => "Solana",
        "LTC" => "Litecoin",
        "BNB" => "BNB",
        "DOGE" => "Dogecoin",
        "BCH" => "Bitcoin Cash",
        "XRP" => "XRP",
        _ => ticker,
    }
}

// Two error-envelope facts live in code rather than here, because they are shapes, not values:
// - AlpPay's error body is not documented `[unknown]`. payglot answers AlpPay callers with
//   `{"code": <kind>, "message": …, "errors": {<field>: [<rule>]}, "requestId": …}` (`errors`
//   only when a field is named): `ErrorOut` in `dialect/alppay.rs`. Change it there if AlpPay's
//   real format turns up.
// - Apollo's HTTP statuses for errors are not documented `[unknown]`; its SDKs read the body.
//   payglot uses the same statuses as for the other dialects and repeats the status in
//   `error.code`: `render_error` in `dialect/apollo.rs`.

/// Cryptomus order_id: 1–128 chars of `[A-Za-z0-9_-]` `[docs]` (older docs said 100).
pub const CRYPTOMUS_ORDER_ID_MAX: usize = 128;

/// Longest string payglot accepts in any free-text field of a request. Providers document
/// 255 for URLs and metadata; references and names are kept under the same cap `[inferred]`.
pub const MAX_TEXT_FIELD: usize = 255;
