//! Apollo Payment facts that are not certain, in one place so they can change without hunting.
//! Each carries its confidence tag from the dialect reference.

use crate::dialect::NetworkNames;

/// Apollo's network slugs (dialect reference §3f, §5.6) `[docs]` `[code]`; whether `solana`,
/// `polygon`, `arbitrum` and the like exist is `[unknown]` (config's `networks` adds them).
pub const NETWORKS: &[NetworkNames] = &[
    ("tron", &["tron"]),
    ("ethereum", &["ethereum"]),
    ("bsc", &["bsc"]),
    ("bitcoin", &["bitcoin"]),
    ("litecoin", &["litecoin"]),
    ("bitcoincash", &["bitcoincash"]),
    ("ton", &["ton"]),
    ("ripple", &["ripple"]),
    ("fantom", &["fantom"]),
];

/// `lifetime` bounds: up to 43200 s; the minimum depends on the chain `[docs]`.
pub fn lifetime_bounds(chain: Option<&str>) -> (u64, u64) {
    let min = match chain {
        Some("bitcoin" | "bitcoincash") => 7_200,
        Some("litecoin") => 3_600,
        _ => 1_800,
    };
    (min, 43_200)
}

/// The lifetime an order gets when the merchant sends none: the SDKs' defaults, which are the
/// chain minimums (1800 s; 3600 litecoin; 7200 bitcoin and bitcoincash) `[code]`.
pub fn default_lifetime(chain: Option<&str>) -> u64 {
    lifetime_bounds(chain).0
}

// Apollo's HTTP statuses for errors are not documented `[unknown]`; its SDKs read the body.
// payglot uses the same statuses as for the other dialects and repeats the status in
// `error.code`: `render_error` in `mod.rs`.

/// A transaction's `status` in an order answer payglot translates from another provider, which
/// reports the payment's status, not each transaction's: `pending` while the payment says its
/// funds are unconfirmed, else `processed` `[inferred]`. The documented words are `processed`,
/// `error`, `rejected` and `pending` `[code]` S-apgo.
pub fn transaction_status(payment: crate::model::PaymentStatus) -> &'static str {
    match payment.funds() {
        crate::model::Funds::Unconfirmed => "pending",
        _ => "processed",
    }
}

/// `limit` on `orders`: 100 when absent, and at most 100 `[docs]` D-ap:post_orders.
pub const LIST_MAX_LIMIT: u32 = 100;
