//! A payment record as the embedded store keeps it, in its index file and in its journal.
//!
//! Two encodings, told apart by their first byte:
//! - **packed**, written now: the byte [`PACKED`], then a MessagePack array of [`Packed`]'s
//!   fields in order (strings as UTF-8, the echo as bytes, times in µs). About half the size
//!   of the JSON form, and read without copying a string: a checkpoint takes a create's index
//!   keys straight out of its entry;
//! - **JSON**, written by earlier versions and still read: an object (first byte `{`), the
//!   echo in base64.
//!
//! An earlier payglot cannot read a packed record. A field added later goes at the end, with
//! `#[serde(default)]`, so that older packed records still read.

use std::borrow::Cow;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::types::{from_micros, to_micros};
use super::{PaymentRecord, StoreError, StoreResult};

/// The first byte of a packed record (a JSON one starts with `{`).
const PACKED: u8 = 1;

// MessagePack strings need no unescaping, so every string is read in place.
#[derive(Serialize, Deserialize)]
struct Packed<'a> {
    merchant_id: &'a str,
    inbound_dialect: &'a str,
    merchant_ref: Option<&'a str>,
    route_id: &'a str,
    upstream_id: &'a str,
    upstream_dialect: &'a str,
    upstream_payment_id: &'a str,
    upstream_ref: &'a str,
    #[serde(borrow)]
    echo: Echo<'a>,
    callback_success_url: Option<&'a str>,
    callback_failure_url: Option<&'a str>,
    relay_token: &'a str,
    created_at_us: i64,
    updated_at_us: i64,
    status: &'a str,
}

/// The echo as MessagePack bytes (serde would write a `[u8]` as an array of numbers).
struct Echo<'a>(Cow<'a, [u8]>);

impl Serialize for Echo<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Echo<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Echo<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Echo(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Echo(Cow::Owned(v.to_vec())))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(Echo(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// The JSON form of earlier versions.
#[derive(Deserialize)]
struct Json {
    merchant_id: String,
    inbound_dialect: String,
    merchant_ref: Option<String>,
    route_id: String,
    upstream_id: String,
    upstream_dialect: String,
    upstream_payment_id: String,
    upstream_ref: String,
    echo_b64: String,
    callback_success_url: Option<String>,
    callback_failure_url: Option<String>,
    relay_token: String,
    created_at_us: i64,
    updated_at_us: i64,
    status: String,
}

/// What a checkpoint needs of a stored create to index it, borrowed from the stored bytes
/// where it can be.
#[derive(Deserialize)]
pub(super) struct IndexKeys<'a> {
    #[serde(borrow)]
    pub merchant_id: Cow<'a, str>,
    #[serde(borrow)]
    pub merchant_ref: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub upstream_id: Cow<'a, str>,
    #[serde(borrow)]
    pub upstream_payment_id: Cow<'a, str>,
    #[serde(borrow)]
    pub relay_token: Cow<'a, str>,
    pub created_at_us: i64,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt payment record: {e}"))
}

/// `r`, packed.
pub(super) fn encode(r: &PaymentRecord) -> StoreResult<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint(r));
    write(r, &mut out)?;
    Ok(out)
}

/// About what `r` takes packed, so that packing it grows its buffer once at most.
pub(super) fn size_hint(r: &PaymentRecord) -> usize {
    let strings = [
        &r.merchant_id,
        &r.inbound_dialect,
        &r.route_id,
        &r.upstream_id,
        &r.upstream_dialect,
        &r.upstream_payment_id,
        &r.upstream_ref,
        &r.relay_token,
        &r.status,
    ];
    let optional = [
        &r.merchant_ref,
        &r.callback_success_url,
        &r.callback_failure_url,
    ];
    let text: usize = strings.iter().map(|s| s.len()).sum::<usize>()
        + optional
            .iter()
            .filter_map(|s| s.as_ref())
            .map(String::len)
            .sum::<usize>();
    // A length prefix of up to 5 bytes per field, two times of up to 9.
    1 + text + r.echo.len() + 15 * 5 + 2 * 9
}

/// Appends `r`, packed, to `out`.
pub(super) fn write(r: &PaymentRecord, out: &mut Vec<u8>) -> StoreResult<()> {
    let packed = Packed {
        merchant_id: &r.merchant_id,
        inbound_dialect: &r.inbound_dialect,
        merchant_ref: r.merchant_ref.as_deref(),
        route_id: &r.route_id,
        upstream_id: &r.upstream_id,
        upstream_dialect: &r.upstream_dialect,
        upstream_payment_id: &r.upstream_payment_id,
        upstream_ref: &r.upstream_ref,
        echo: Echo(Cow::Borrowed(&r.echo)),
        callback_success_url: r.callback_success_url.as_deref(),
        callback_failure_url: r.callback_failure_url.as_deref(),
        relay_token: &r.relay_token,
        created_at_us: to_micros(r.created_at),
        updated_at_us: to_micros(r.updated_at),
        status: &r.status,
    };
    out.push(PACKED);
    rmp_serde::encode::write(out, &packed).map_err(|e| StoreError::Internal(e.to_string()))
}

/// `record` as [`decode`] gives it back after [`encode`]: every field keeps its value, and
/// the times keep whole microseconds (in UTC).
pub(super) fn as_stored(mut record: PaymentRecord) -> PaymentRecord {
    record.created_at = from_micros(to_micros(record.created_at));
    record.updated_at = from_micros(to_micros(record.updated_at));
    record
}

/// A stored record, in either encoding.
pub(super) fn decode(bytes: &[u8]) -> StoreResult<PaymentRecord> {
    match bytes.split_first() {
        Some((&PACKED, packed)) => {
            let p: Packed = rmp_serde::from_slice(packed).map_err(corrupt)?;
            Ok(PaymentRecord {
                merchant_id: p.merchant_id.to_owned(),
                inbound_dialect: p.inbound_dialect.to_owned(),
                merchant_ref: p.merchant_ref.map(str::to_owned),
                route_id: p.route_id.to_owned(),
                upstream_id: p.upstream_id.to_owned(),
                upstream_dialect: p.upstream_dialect.to_owned(),
                upstream_payment_id: p.upstream_payment_id.to_owned(),
                upstream_ref: p.upstream_ref.to_owned(),
                echo: p.echo.0.into_owned(),
                callback_success_url: p.callback_success_url.map(str::to_owned),
                callback_failure_url: p.callback_failure_url.map(str::to_owned),
                relay_token: p.relay_token.to_owned(),
                created_at: from_micros(p.created_at_us),
                updated_at: from_micros(p.updated_at_us),
                status: p.status.to_owned(),
            })
        }
        Some((b'{', _)) => {
            let j: Json = serde_json::from_slice(bytes).map_err(corrupt)?;
            let echo = base64::engine::general_purpose::STANDARD
                .decode(&j.echo_b64)
                .map_err(|e| StoreError::Internal(format!("corrupt payment echo: {e}")))?;
            Ok(PaymentRecord {
                merchant_id: j.merchant_id,
                inbound_dialect: j.inbound_dialect,
                merchant_ref: j.merchant_ref,
                route_id: j.route_id,
                upstream_id: j.upstream_id,
                upstream_dialect: j.upstream_dialect,
                upstream_payment_id: j.upstream_payment_id,
                upstream_ref: j.upstream_ref,
                echo,
                callback_success_url: j.callback_success_url,
                callback_failure_url: j.callback_failure_url,
                relay_token: j.relay_token,
                created_at: from_micros(j.created_at_us),
                updated_at: from_micros(j.updated_at_us),
                status: j.status,
            })
        }
        _ => Err(corrupt("neither packed nor JSON")),
    }
}

/// A stored record's index keys, in either encoding, without the rest of it.
pub(super) fn index_keys(bytes: &[u8]) -> StoreResult<IndexKeys<'_>> {
    match bytes.split_first() {
        Some((&PACKED, packed)) => {
            let p: Packed = rmp_serde::from_slice(packed).map_err(corrupt)?;
            Ok(IndexKeys {
                merchant_id: Cow::Borrowed(p.merchant_id),
                merchant_ref: p.merchant_ref.map(Cow::Borrowed),
                upstream_id: Cow::Borrowed(p.upstream_id),
                upstream_payment_id: Cow::Borrowed(p.upstream_payment_id),
                relay_token: Cow::Borrowed(p.relay_token),
                created_at_us: p.created_at_us,
            })
        }
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(corrupt),
        _ => Err(corrupt("neither packed nor JSON")),
    }
}

/// The JSON form earlier versions wrote, written here as they did (for tests of old files).
#[cfg(test)]
pub(super) fn encode_json(r: &PaymentRecord) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "merchant_id": r.merchant_id,
        "inbound_dialect": r.inbound_dialect,
        "merchant_ref": r.merchant_ref,
        "route_id": r.route_id,
        "upstream_id": r.upstream_id,
        "upstream_dialect": r.upstream_dialect,
        "upstream_payment_id": r.upstream_payment_id,
        "upstream_ref": r.upstream_ref,
        "echo_b64": base64::engine::general_purpose::STANDARD.encode(&r.echo),
        "callback_success_url": r.callback_success_url,
        "callback_failure_url": r.callback_failure_url,
        "relay_token": r.relay_token,
        "created_at_us": to_micros(r.created_at),
        "updated_at_us": to_micros(r.updated_at),
        "status": r.status,
    }))
    .expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::new_relay_token;
    use time::macros::datetime;

    /// A record with what encodings get wrong: strings JSON escapes, non-ASCII, an empty
    /// option and a set one, an echo that is not UTF-8, times finer than a microsecond away
    /// from UTC.
    fn awkward() -> PaymentRecord {
        PaymentRecord {
            merchant_id: "m \"quoted\" \\ back".to_owned(),
            inbound_dialect: "alppay".to_owned(),
            merchant_ref: Some("ref\u{1}\ttab é 😀".to_owned()),
            route_id: "r".to_owned(),
            upstream_id: "u".to_owned(),
            upstream_dialect: "cryptomus".to_owned(),
            upstream_payment_id: "pay/7\n".to_owned(),
            upstream_ref: "up-7".to_owned(),
            echo: vec![0xff, 0x00, b'{', 0xc3],
            callback_success_url: Some("https://shop.example/paid?a=1&b=2".to_owned()),
            callback_failure_url: None,
            relay_token: new_relay_token(),
            created_at: datetime!(2026-12-02 10:11:12.123456789 +03:00),
            updated_at: datetime!(2026-12-02 10:11:13.000000999 -05:30),
            status: "pending".to_owned(),
        }
    }

    fn assert_keys_of(keys: &IndexKeys<'_>, r: &PaymentRecord) {
        assert_eq!(keys.merchant_id, r.merchant_id);
        assert_eq!(keys.merchant_ref.as_deref(), r.merchant_ref.as_deref());
        assert_eq!(keys.upstream_id, r.upstream_id);
        assert_eq!(keys.upstream_payment_id, r.upstream_payment_id);
        assert_eq!(keys.relay_token, r.relay_token);
        assert_eq!(keys.created_at_us, to_micros(r.created_at));
    }

    /// A create is answered with `as_stored(record)` and indexed from `index_keys`, neither
    /// of which decodes what was encoded: both must agree with what a decode gives.
    #[test]
    fn a_packed_record_reads_back_as_stored_and_gives_its_keys_without_copies() {
        let r = awkward();
        let packed = encode(&r).expect("encode");
        assert_eq!(packed[0], PACKED);
        assert!(packed.len() <= size_hint(&r), "the hint is enough");
        let decoded = decode(&packed).expect("decode");
        let stored = as_stored(r.clone());
        assert_eq!(stored, decoded);
        // 2026-12-02 07:11:12 UTC is 1796195472 s after the epoch.
        assert_eq!(to_micros(stored.created_at), 1_796_195_472_123_456);
        assert_eq!(stored.updated_at.nanosecond(), 0);
        assert_ne!(stored, r, "the times lost their nanoseconds");

        let keys = index_keys(&packed).expect("keys");
        assert_keys_of(&keys, &decoded);
        assert!(matches!(keys.merchant_id, Cow::Borrowed(_)));
        assert!(matches!(keys.merchant_ref, Some(Cow::Borrowed(_))));
        assert!(matches!(keys.relay_token, Cow::Borrowed(_)));
    }

    /// Index files and journals written by earlier versions hold JSON records.
    #[test]
    fn a_json_record_of_an_earlier_version_still_reads() {
        let r = awkward();
        let json = encode_json(&r);
        assert_eq!(json[0], b'{');
        let decoded = decode(&json).expect("decode");
        assert_eq!(decoded, as_stored(r));
        assert_keys_of(&index_keys(&json).expect("keys"), &decoded);
        // Re-encoding (a status change) packs it.
        assert_eq!(decode(&encode(&decoded).expect("encode")), Ok(decoded));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let packed = encode(&awkward()).expect("encode");
        let json = encode_json(&awkward());
        for bytes in [
            &[][..],
            &[0x7f][..],
            &packed[..1],
            &packed[..packed.len() / 2],
            &packed[..packed.len() - 1],
            &json[..json.len() / 2],
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
            assert!(index_keys(bytes).is_err(), "{bytes:?}");
        }
        let mut flipped = packed.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0xa5;
            let _ = decode(&flipped);
            let _ = index_keys(&flipped);
            flipped[i] ^= 0xa5;
        }
    }
}
