//! Facts that hold across providers and are not certain. Each provider's own facts are in its
//! folder (`dialect/<provider>/facts.rs`). Each item carries its confidence tag from the dialect
//! reference: `[docs]`, `[code]`, `[inferred]` (reasoned from evidence) or `[unknown]` (a choice
//! we made in its absence).

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

/// Longest string payglot accepts in any free-text field of a request. Providers document
/// 255 for URLs and metadata; references and names are kept under the same cap `[inferred]`.
pub const MAX_TEXT_FIELD: usize = 255;
