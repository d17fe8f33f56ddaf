//! Facts that hold across providers and are not certain. Each provider's own facts are in its
//! folder (`dialect/<provider>/facts.rs`). Each item carries its confidence tag from the dialect
//! reference: `[docs]`, `[code]`, `[inferred]` (reasoned from evidence) or `[unknown]` (a choice
//! we made in its absence).

/// Codes that are fiat money, not coins: the active ISO 4217 currency codes. A Cryptomus
/// invoice priced in one of these has no counterpart at providers that only take crypto amounts
/// `[inferred]`: Cryptomus accepts fiat in `currency` but publishes no list, so payglot treats
/// every ISO 4217 currency as fiat (none of them is also a coin ticker payglot routes).
pub const FIAT_CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWL",
];

pub fn is_fiat(code: &str) -> bool {
    FIAT_CURRENCIES.iter().any(|f| f.eq_ignore_ascii_case(code))
}

/// Longest string payglot accepts in any free-text field of a request. Providers document
/// 255 for URLs and metadata; references and names are kept under the same cap `[inferred]`.
pub const MAX_TEXT_FIELD: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiat_codes_are_iso_4217_shaped_and_include_the_ones_once_missing() {
        for code in FIAT_CURRENCIES {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
        }
        for code in ["NZD", "ILS", "HUF", "MYR", "usd"] {
            assert!(is_fiat(code), "{code}");
        }
        for coin in ["USDT", "BTC", "ETH", "TRX", "TON", "SOL", "LTC", "USDC"] {
            assert!(!is_fiat(coin), "{coin}");
        }
    }
}
