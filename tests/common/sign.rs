//! Merchant-side signing for tests, written independently of payglot's own signing code with
//! the hash crates directly, so a test does not check payglot against itself.
#![allow(dead_code)]

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
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

/// JSON that keeps object members in the order received, at every depth (serde_json's own
/// map sorts them in this build).
pub enum Ordered {
    Scalar(Value),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    /// Compact JSON as PHP's `json_encode(…, JSON_UNESCAPED_UNICODE)` writes it, before its
    /// `/` escaping: serde_json's compact form of each scalar, members in order.
    pub fn compact(&self) -> String {
        match self {
            Ordered::Scalar(value) => value.to_string(),
            Ordered::Array(items) => {
                let items: Vec<String> = items.iter().map(Ordered::compact).collect();
                format!("[{}]", items.join(","))
            }
            Ordered::Object(members) => {
                let members: Vec<String> = members
                    .iter()
                    .map(|(name, value)| format!("{}:{}", json!(name), value.compact()))
                    .collect();
                format!("{{{}}}", members.join(","))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, value: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(json!(value)))
            }
            fn visit_i64<E>(self, value: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(json!(value)))
            }
            fn visit_u64<E>(self, value: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(json!(value)))
            }
            fn visit_f64<E>(self, value: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(json!(value)))
            }
            fn visit_str<E>(self, value: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(json!(value)))
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Ordered::Object(members))
            }
        }
        deserializer.deserialize_any(Any)
    }
}

/// The Cryptomus webhook verifier of the PHP SDK and pyCryptomusAPI (re-encode and compare):
/// parse keeping member order, drop `sign`, encode compact with raw non-ASCII and `/` as `\/`,
/// md5 with the payment key.
pub fn cryptomus_reencoded_sign_matches(raw: &[u8], key: &str) -> bool {
    let Ok(Ordered::Object(mut members)) = serde_json::from_slice(raw) else {
        return false;
    };
    let Some(position) = members.iter().position(|(name, _)| name == "sign") else {
        return false;
    };
    let (_, sign) = members.remove(position);
    let Ordered::Scalar(Value::String(sign)) = sign else {
        return false;
    };
    let php = Ordered::Object(members).compact().replace('/', "\\/");
    cryptomus_sign(key, php.as_bytes()) == sign
}

/// The Cryptomus webhook verifier of some typed SDKs (raw strip): cut `,"sign":"…"` out of the
/// raw text, md5 the rest.
pub fn cryptomus_stripped_sign_matches(raw: &str, key: &str) -> bool {
    let Some(start) = raw.rfind(",\"sign\":\"") else {
        return false;
    };
    let sign_start = start + ",\"sign\":\"".len();
    let Some(sign_len) = raw[sign_start..].find('"') else {
        return false;
    };
    let sign = &raw[sign_start..sign_start + sign_len];
    let rest = format!("{}{}", &raw[..start], &raw[sign_start + sign_len + 1..]);
    cryptomus_sign(key, rest.as_bytes()) == sign
}
