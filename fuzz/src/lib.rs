//! What the fuzz targets share: how an input's leading bytes pick a dialect, status or mode,
//! how the rest splits into fields, and the fixed context rendering needs.
//!
//! Input layouts are plain bytes (not `arbitrary`), so the corpora can be seeded from the
//! golden fixtures as they are: a selector byte or two, then the body. Fields of multi-part
//! inputs are separated by [`SEPARATOR`]; a body with NUL bytes is not JSON anyway.

use std::collections::BTreeMap;

use payglot::dialect::{Dialect, RenderContext};
use payglot::model::{CreatePayment, MerchantProfile};
use payglot::network::NetworkTable;
use time::OffsetDateTime;
use time::macros::datetime;

/// Separates the fields of a multi-part input.
pub const SEPARATOR: u8 = 0;

/// The dialect a selector byte names (any byte names one).
pub fn dialect(selector: u8) -> Dialect {
    Dialect::ALL[usize::from(selector) % Dialect::ALL.len()]
}

/// The selector byte that names `dialect`, for seeding.
pub fn selector(dialect: Dialect) -> u8 {
    Dialect::ALL
        .iter()
        .position(|d| *d == dialect)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

/// Splits `data` at [`SEPARATOR`] into at most `n` fields; the last takes the rest, separators
/// included. Missing fields are `None`.
pub fn fields(data: &[u8], n: usize) -> Vec<Option<&[u8]>> {
    let mut parts: Vec<Option<&[u8]>> = data.splitn(n, |b| *b == SEPARATOR).map(Some).collect();
    parts.resize(n, None);
    parts
}

/// A merchant profile with every default filled, so renderings get past "the target needs a
/// customer/network" and reach the rest of the code.
pub fn merchant() -> MerchantProfile {
    MerchantProfile {
        name: Some("Fuzz Shop".to_owned()),
        site_url: Some("https://shop.example".to_owned()),
        email: Some("shop@example.com".to_owned()),
        logo_url: None,
        default_customer_name: Some("Ann".to_owned()),
        default_customer_email: Some("ann@example.com".to_owned()),
        default_networks: BTreeMap::from([
            ("USDT".to_owned(), "tron".to_owned()),
            ("BTC".to_owned(), "bitcoin".to_owned()),
        ]),
    }
}

/// payglot's account at the provider in the `webhook` target; `fuzz/seed_corpus.py` signs the
/// seeds with it, so they reach the verified path.
pub const WEBHOOK_KEY_ID: &str = "fuzz-webhook-key";
pub const WEBHOOK_SECRET: &str = "fuzz-webhook-secret";

/// A fixed clock: the fuzzer must see the same behaviour for the same input.
pub const NOW: OffsetDateTime = datetime!(2025-06-09 13:18:29 UTC);

pub fn context<'a>(networks: &'a NetworkTable, merchant: &'a MerchantProfile) -> RenderContext<'a> {
    RenderContext {
        networks,
        merchant,
        nonce: 1_700_000_000_001,
        request_id: "fuzz-request",
        now: NOW,
        relay_callback: None,
    }
}

/// A minimal valid create request per dialect (the `base` of its negative-fixture table).
pub fn base_request_body(dialect: Dialect) -> &'static [u8] {
    match dialect {
        Dialect::AlpPay => {
            br#"{"amount":"10","asset":{"short":"USDT","network":"tron"},"customer":{"id":1,"name":"Ann","email":"ann@example.com"},"clientId":"c-1","invoice":"INV-1","checkoutUrl":"https://shop.example/back"}"#
        }
        Dialect::Cryptomus => {
            br#"{"amount":"10","currency":"USDT","order_id":"ord-1","network":"tron"}"#
        }
        Dialect::Apollo => {
            br#"{"currency":"USDT","network":"tron","amount":"10","order":"o-1","nonce":1}"#
        }
    }
}

/// The merchant's request an answer is rendered for, in the caller's dialect; `None` only if
/// the base body stopped parsing (then the render half of a target is skipped, not failed).
pub fn base_request(dialect: Dialect, networks: &NetworkTable) -> Option<CreatePayment> {
    dialect
        .codec()
        .parse_create(base_request_body(dialect), networks)
        .ok()
}
