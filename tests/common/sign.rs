//! Merchant-side signing for tests, written independently of payglot's own signing code with
//! the hash crates directly, so a test does not check payglot against itself.
#![allow(dead_code)]

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

pub const ALPPAY: (&str, &str) = ("ak_test_payglot_alppay", "sk_test_payglot_alppay");
pub const CRYPTOMUS: (&str, &str) = (
    "c0ffee00-0000-4000-8000-000000000001",
    "cm_test_payglot_key",
);
pub const APOLLO: (&str, &str) = ("pk_test_payglot_apollo", "sk_test_payglot_apollo");

pub fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn cryptomus_sign(key: &str, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    hex::encode(Md5::digest(format!("{b64}{key}").as_bytes()))
}

/// The merchant-side auth headers of a dialect ("alppay", "cryptomus", "apollo") for `body`,
/// with the demo credentials.
pub fn headers(dialect: &str, body: &[u8]) -> Vec<(String, String)> {
    match dialect {
        "alppay" => vec![
            ("API-KEY".into(), ALPPAY.0.into()),
            ("X-HMAC".into(), hmac_hex(ALPPAY.1, body)),
        ],
        "cryptomus" => vec![
            ("merchant".into(), CRYPTOMUS.0.into()),
            ("sign".into(), cryptomus_sign(CRYPTOMUS.1, body)),
        ],
        "apollo" => vec![
            ("x-api-public-key".into(), APOLLO.0.into()),
            ("x-api-signature".into(), hmac_hex(APOLLO.1, body)),
        ],
        other => panic!("unknown dialect {other}"),
    }
}
