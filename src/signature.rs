//! The signature primitives more than one provider uses (HMAC-SHA256 in hex); a scheme only one
//! provider uses lives in its folder (`dialect/<provider>/sign.rs`). Everything works over raw bytes: we never
//! re-serialise a body to check it, and what we send is signed over exactly the bytes we send.
//! Comparisons are constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex of HMAC-SHA256(key, message): AlpPay `X-HMAC` and Apollo `x-api-signature`.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    lower_hex(&mac.finalize().into_bytes())
}

/// Lowercase hex of a digest. `hex::encode` goes through a char iterator and a growing
/// `String`; a signature is made on every request.
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    let mut digits = vec![0; bytes.len() * 2];
    // Cannot fail: the buffer holds two digits per byte.
    let _ = hex::encode_to_slice(bytes, &mut digits);
    String::from_utf8(digits).unwrap_or_default()
}

/// Checks a hex HMAC-SHA256 (either case) in constant time.
pub fn verify_hmac_sha256_hex(key: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Some(claimed) = decode_hex(signature_hex, 32) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.verify_slice(&claimed).is_ok()
}

/// Decodes hex of an exact byte length, accepting upper or lower case.
pub(crate) fn decode_hex(text: &str, len: usize) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() != len * 2 {
        return None;
    }
    hex::decode(text).ok()
}
