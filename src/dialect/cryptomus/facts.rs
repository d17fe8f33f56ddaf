//! Cryptomus (and NearPayments) facts that are not certain, in one place so they can change
//! without hunting. Each carries its confidence tag from the dialect reference.

use crate::dialect::NetworkNames;

/// Cryptomus's network codes (dialect reference §2f, §5.6) `[code]` `[docs]`; its services
/// endpoint shows them in uppercase, so they are compared case-insensitively.
pub const NETWORKS: &[NetworkNames] = &[
    ("tron", &["tron"]),
    ("ethereum", &["eth"]),
    ("bsc", &["bsc"]),
    ("bitcoin", &["btc"]),
    ("litecoin", &["ltc"]),
    ("bitcoincash", &["bch"]),
    ("ton", &["ton"]),
    ("solana", &["sol"]),
    ("polygon", &["polygon"]),
    ("arbitrum", &["arbitrum"]),
    ("avalanche", &["avalanche"]),
    ("dogecoin", &["doge"]),
    ("dash", &["dash"]),
    ("monero", &["xmr"]),
];

/// `lifetime` bounds in seconds `[docs]`.
pub const LIFETIME: (u64, u64) = (300, 43_200);

/// The `lifetime` an invoice gets when the merchant sends none `[docs]`.
pub const DEFAULT_LIFETIME: u64 = 3_600;

/// `order_id`: 1–128 chars of `[A-Za-z0-9_-]` `[docs]` (older docs said 100).
pub const ORDER_ID_MAX: usize = 128;

/// The shortest `url_*` value Cryptomus accepts `[docs]` (6–255 characters).
pub const URL_MIN: usize = 6;

/// The `discount` and `commission` payglot writes in answers it translates from another
/// provider, whose fees it does not know: what Cryptomus itself writes on an invoice with
/// nothing paid `[docs]` (typed client libraries require both fields). `merchant_amount`, which
/// depends on that provider's fee, is written as `null` `[inferred]`.
pub const ZERO_FEE: &str = "0.00000000";

/// Payments per `payment/list` page. Cryptomus's page size is not documented `[unknown]`; 15
/// is a choice. A cursor is payglot's own: the
/// decimal offset of the page's first payment, opaque to clients as Cryptomus's are.
pub const LIST_PER_PAGE: u32 = 15;

/// The message Cryptomus answers for an unknown `uuid`/`order_id` `[docs]` D-cm:resend-webhook.
pub const PAYMENT_NOT_FOUND: &str = "Payment not found";
