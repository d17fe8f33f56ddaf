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

/// The demo key pair of a dialect: it serves a demo merchant speaking that dialect and
/// payglot's demo account at that provider's sandbox alike.
pub fn credentials(dialect: crate::dialect::Dialect) -> crate::secret::Credentials {
    use crate::dialect::Dialect;
    use crate::secret::Credentials;
    match dialect {
        Dialect::AlpPay => Credentials::new(ALPPAY_API_KEY, ALPPAY_HMAC_SECRET),
        Dialect::Cryptomus => Credentials::new(CRYPTOMUS_MERCHANT, CRYPTOMUS_PAYMENT_KEY),
        Dialect::Apollo => Credentials::new(APOLLO_PUBLIC_KEY, APOLLO_PRIVATE_KEY),
    }
}

/// The demo merchant's profile, used where no config names one (`payglot translate`).
pub fn merchant_profile() -> crate::model::MerchantProfile {
    crate::model::MerchantProfile {
        name: Some("payglot demo shop".into()),
        site_url: Some("https://shop.example".into()),
        email: Some("billing@shop.example".into()),
        logo_url: None,
        default_customer_name: Some("Demo Customer".into()),
        default_customer_email: Some("customer@shop.example".into()),
        default_networks: [("USDT".to_owned(), "tron".to_owned())]
            .into_iter()
            .collect(),
    }
}
