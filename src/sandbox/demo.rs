//! The demo credentials: the keys [`SandboxSettings::default`](super::SandboxSettings) accepts.
//!
//! They are part of payglot's interface (docs, examples, `payglot sandbox`), so other modules
//! reuse these constants instead of repeating the strings. They are not secrets.

/// AlpPay `API-KEY` header value.
pub const ALPPAY_API_KEY: &str = "ak_test_payglot_alppay";
/// AlpPay HMAC secret, the key of `X-HMAC`.
pub const ALPPAY_HMAC_SECRET: &str = "sk_test_payglot_alppay";

/// Cryptomus `merchant` header value (the merchant UUID).
pub const CRYPTOMUS_MERCHANT: &str = "c0ffee00-0000-4000-8000-000000000001";
/// Cryptomus payment API key, the key appended in `sign`.
pub const CRYPTOMUS_PAYMENT_KEY: &str = "cm_test_payglot_key";

/// Apollo `x-api-public-key` header value.
pub const APOLLO_PUBLIC_KEY: &str = "pk_test_payglot_apollo";
/// Apollo private key, the key of `x-api-signature`.
pub const APOLLO_PRIVATE_KEY: &str = "sk_test_payglot_apollo";
