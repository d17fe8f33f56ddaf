//! Plausible-looking but fake data: ids, deposit addresses, timestamps, merchant profiles.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;
use uuid::Uuid;

/// How a chain's deposit addresses look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressStyle {
    /// `T` + 33 base58 characters.
    Tron,
    /// `0x` + 40 hex digits (Ethereum, BSC, Polygon, Arbitrum, Avalanche C-chain, Fantom).
    Evm,
    /// Native segwit `bc1q…`, 42 characters.
    Bitcoin,
    /// Native segwit `ltc1q…`, 43 characters.
    Litecoin,
    /// CashAddr `bitcoincash:q…`.
    BitcoinCash,
    /// User-friendly non-bounceable `UQ…`, 48 base64url characters.
    Ton,
    /// 44 base58 characters.
    Solana,
    /// `D` + 33 base58 characters.
    Doge,
    /// `X` + 33 base58 characters.
    Dash,
    /// `4` + 94 base58 characters.
    Monero,
    /// `r` + 33 base58 characters (these need a destination tag).
    Ripple,
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";

/// A fresh deposit address of the given style.
pub(super) fn deposit_address(style: AddressStyle) -> String {
    match style {
        AddressStyle::Tron => format!("T{}", random_text(BASE58, 33)),
        AddressStyle::Evm => format!("0x{}", random_text(HEX, 40)),
        AddressStyle::Bitcoin => format!("bc1q{}", random_text(BECH32, 38)),
        AddressStyle::Litecoin => format!("ltc1q{}", random_text(BECH32, 38)),
        AddressStyle::BitcoinCash => format!("bitcoincash:q{}", random_text(BECH32, 41)),
        AddressStyle::Ton => format!("UQ{}", random_text(BASE64URL, 46)),
        AddressStyle::Solana => random_text(BASE58, 44),
        AddressStyle::Doge => format!("D{}", random_text(BASE58, 33)),
        AddressStyle::Dash => format!("X{}", random_text(BASE58, 33)),
        AddressStyle::Monero => format!("4{}", random_text(BASE58, 94)),
        AddressStyle::Ripple => format!("r{}", random_text(BASE58, 33)),
    }
}

/// A transaction hash as the chain prints it.
pub(super) fn transaction_hash(style: AddressStyle) -> String {
    match style {
        AddressStyle::Evm => format!("0x{}", random_text(HEX, 64)),
        AddressStyle::Solana => random_text(BASE58, 88),
        _ => random_text(HEX, 64),
    }
}

/// A destination tag for chains that need one (XRP), as a decimal string.
pub(super) fn destination_tag() -> String {
    let bytes = random_bytes(4);
    let tag = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 4_000_000_000;
    (tag + 1).to_string()
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    random_bytes(len)
        .into_iter()
        .map(|byte| char::from(alphabet[usize::from(byte) % alphabet.len()]))
        .collect()
}

/// Random bytes from the OS (through uuid's v4 generator), whitened with SHA-256 so the fixed
/// version bits of a UUID do not show.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 32);
    while bytes.len() < len {
        bytes.extend_from_slice(&Sha256::digest(Uuid::new_v4().as_bytes()));
    }
    bytes.truncate(len);
    bytes
}

/// A fresh random id.
pub(super) fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// A UUID that is always the same for `seed` (merchant and balance ids of an account).
pub(super) fn stable_id(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A DNS-label version of a display name, for fake URLs and e-mail domains.
pub(super) fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "merchant".to_string()
    } else {
        slug.chars().take(40).collect()
    }
}

/// The current time, truncated to milliseconds so every printed form agrees.
pub(super) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_millisecond(now.millisecond()).unwrap_or(now)
}

const SECONDS_Z: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const SECONDS_OFFSET: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
const MILLIS_Z: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `2025-05-20T12:34:56Z` (AlpPay).
pub(super) fn iso_seconds_z(at: OffsetDateTime) -> String {
    at.format(SECONDS_Z).unwrap_or_default()
}

/// `2025-05-20T12:34:56+00:00` (Cryptomus).
pub(super) fn iso_seconds_offset(at: OffsetDateTime) -> String {
    at.format(SECONDS_OFFSET).unwrap_or_default()
}

/// `2025-05-20T12:34:56.789Z` (Apollo).
pub(super) fn iso_millis_z(at: OffsetDateTime) -> String {
    at.format(MILLIS_Z).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_have_their_chain_shape() {
        let tron = deposit_address(AddressStyle::Tron);
        assert!(tron.starts_with('T') && tron.len() == 34);
        assert!(tron.bytes().all(|b| BASE58.contains(&b)));
        let evm = deposit_address(AddressStyle::Evm);
        assert!(evm.starts_with("0x") && evm.len() == 42);
        assert!(evm[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        let btc = deposit_address(AddressStyle::Bitcoin);
        assert!(btc.starts_with("bc1q") && btc.len() == 42);
        assert_eq!(deposit_address(AddressStyle::Ton).len(), 48);
        assert_eq!(deposit_address(AddressStyle::Monero).len(), 95);
        assert_ne!(
            deposit_address(AddressStyle::Evm),
            deposit_address(AddressStyle::Evm)
        );
    }

    #[test]
    fn transaction_hashes_have_their_chain_shape() {
        let evm = transaction_hash(AddressStyle::Evm);
        assert!(evm.starts_with("0x") && evm.len() == 66);
        let tron = transaction_hash(AddressStyle::Tron);
        assert!(tron.len() == 64 && tron.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(transaction_hash(AddressStyle::Solana).len(), 88);
    }

    #[test]
    fn stable_ids_are_stable_uuids() {
        assert_eq!(stable_id("a"), stable_id("a"));
        assert_ne!(stable_id("a"), stable_id("b"));
        assert!(Uuid::parse_str(&stable_id("a")).is_ok());
    }

    #[test]
    fn timestamps() {
        let at = time::macros::datetime!(2025-05-20 12:34:56.789 UTC);
        assert_eq!(iso_seconds_z(at), "2025-05-20T12:34:56Z");
        assert_eq!(iso_seconds_offset(at), "2025-05-20T12:34:56+00:00");
        assert_eq!(iso_millis_z(at), "2025-05-20T12:34:56.789Z");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Payglot Demo Shop"), "payglot-demo-shop");
        assert_eq!(slug("!!!"), "merchant");
    }
}
