//! AlpPay facts that are not certain, in one place so they can change without hunting. Each
//! carries its confidence tag from the dialect reference: `[docs]`, `[code]`, `[inferred]` or
//! `[unknown]` (a choice payglot made in its absence).

use crate::dialect::NetworkNames;

/// AlpPay's chain names (dialect reference §1f, §5.6). Its docs also show `TRC20` for tron
/// `[docs]`: accepted on input, never sent. The list of chains AlpPay supports for payments is
/// `[unknown]`; config's `networks` adds more.
pub const NETWORKS: &[NetworkNames] = &[
    ("tron", &["tron", "trc20"]),
    ("ethereum", &["ethereum"]),
    ("ton", &["ton"]),
    ("solana", &["solana"]),
];

/// Display names for `asset.name` in answers, which other providers do not carry `[inferred]`:
/// the ticker's common name, or the ticker itself when unknown.
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

// AlpPay's error body is not documented `[unknown]`. payglot answers AlpPay callers with
// `{"code": <kind>, "message": …, "errors": {<field>: [<rule>]}, "requestId": …}` (`errors` only
// when a field is named): `ErrorOut` in `wire.rs`. Change it there if AlpPay's real format turns up.

/// `confirmsNeeded` in answers payglot translates from another provider, which does not say how
/// many confirmations it waits for: AlpPay documents an integer; 1 is a choice `[unknown]`.
pub const CONFIRMS_NEEDED: u64 = 1;

// `merchant.id` and `asset.logoUrl` in translated answers: AlpPay documents strings; payglot has
// no AlpPay account id or logo to echo and writes empty strings rather than `null` `[unknown]`.

/// `fixedFee` and `percentFee` in a get answer payglot translates from another provider, whose
/// fees it does not know: AlpPay documents decimal strings; "0" is a choice `[unknown]`.
/// `riskScore` is written `null` and `isDanger` `false` for the same reason.
pub const UNKNOWN_FEE: &str = "0";
