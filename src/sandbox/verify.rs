//! Request signatures as the providers check them, over the raw received bytes.
//!
//! Written independently of payglot's own signing code on purpose: the sandbox is a second
//! opinion on what the proxy sends. Every comparison runs in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA256 of `body` keyed with `secret`.
fn hmac_sha256(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps it panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex HMAC-SHA256, as Apollo's `test-signature` reports it.
pub(super) fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, body))
}

/// Whether `provided` is the hex (either case) HMAC-SHA256 of `body` under `secret`.
/// AlpPay's `X-HMAC` and Apollo's `x-api-signature` are both this.
pub(super) fn hmac_sha256_matches(secret: &[u8], body: &[u8], provided: &str) -> bool {
    hex_matches(&hmac_sha256(secret, body), provided)
}

/// A Cryptomus `sign`: lowercase hex md5(base64(`signed`) + payment key). Requests sign the raw
/// body; webhooks sign the PHP-style encoding of the body without `sign`.
pub(super) fn cryptomus_sign(payment_key: &[u8], signed: &[u8]) -> String {
    let mut input = BASE64.encode(signed).into_bytes();
    input.extend_from_slice(payment_key);
    hex::encode(Md5::digest(&input))
}

/// Whether `provided` is a valid Cryptomus `sign` for `body`:
/// hex md5(base64(raw body) + payment key). For an empty parameter set (body empty, `{}` or
/// `[]`) the docs sign the empty string instead, i.e. md5(key), so that is accepted too.
pub(super) fn cryptomus_sign_matches(payment_key: &[u8], body: &[u8], provided: &str) -> bool {
    let mut signed = BASE64.encode(body).into_bytes();
    signed.extend_from_slice(payment_key);
    let over_body = hex_matches(&Md5::digest(&signed), provided);
    let empty_params = matches!(body, b"" | b"{}" | b"[]");
    let over_nothing = empty_params && hex_matches(&Md5::digest(payment_key), provided);
    // Both checks always run, so timing does not tell which one matched.
    over_body | over_nothing
}

/// Constant-time comparison of a digest with a hex string of either case.
fn hex_matches(expected: &[u8], provided: &str) -> bool {
    match hex::decode(provided) {
        Ok(bytes) => bool::from(expected.ct_eq(&bytes)),
        Err(_) => false,
    }
}

/// Constant-time equality of two key identifiers (for looking up an account by its key).
pub(super) fn same_key(known: &str, provided: &str) -> bool {
    bool::from(known.as_bytes().ct_eq(provided.as_bytes()))
}

#[cfg(test)]
mod tests {
    //! The worked vectors of dialects.md §4, each correct one accepted and each wrong variant
    //! refused.
    use super::*;

    const ALPPAY_KEY: &[u8] = b"sk_live_abcdef1234567890";
    const CRYPTOMUS_KEY: &[u8] = b"test_payment_key_123";
    const APOLLO_KEY: &[u8] = b"test_private_key";

    const ALPPAY_SHORT: &str = r#"{"amount":"250.00","asset":{"short":"USDT","network":"tron"}}"#;
    const ALPPAY_FULL: &str = r#"{"amount":"1000.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":12312312,"name":"John","email":"john@example.com"},"invoice":"INV-001","checkoutUrl":"https://your-shop.com/orders/40113049"}"#;
    const ALPPAY_WEBHOOK: &str = r#"{"id":"285d8dce-7663-4580-ba7f-8afb2f2d3292","amount":"1000.00","totalReceivedAmount":"20.00","status":"OPEN","invoice":"INV-001"}"#;

    #[test]
    fn alppay_vectors_match() {
        let vectors = [
            (
                ALPPAY_SHORT,
                "e4f4735e8e4f1d0a2014cecc4113bf99667e54dcee7b10b4669386f11e11aff0",
            ),
            (
                ALPPAY_FULL,
                "7a69fb1ce3186d88bbf0dd0f6b55cdf65ea042e69abae1def64ee5b637a559fb",
            ),
            (
                ALPPAY_WEBHOOK,
                "d31522a427afaa40131e6765bcd86f1a80cbc773d26718a61d17729b5b76a131",
            ),
        ];
        assert_eq!(ALPPAY_SHORT.len(), 61, "the doc example is 61 bytes");
        for (body, signature) in vectors {
            assert!(
                hmac_sha256_matches(ALPPAY_KEY, body.as_bytes(), signature),
                "{body}"
            );
            let upper = signature.to_uppercase();
            assert!(
                hmac_sha256_matches(ALPPAY_KEY, body.as_bytes(), &upper),
                "uppercase hex"
            );
            assert_eq!(hmac_sha256_hex(ALPPAY_KEY, body.as_bytes()), signature);
        }
    }

    #[test]
    fn alppay_wrong_variants_refused() {
        let good = "e4f4735e8e4f1d0a2014cecc4113bf99667e54dcee7b10b4669386f11e11aff0";
        let body = ALPPAY_SHORT.as_bytes();
        // Another body's signature, a body with a trailing newline, pretty-printed JSON.
        let other = "7a69fb1ce3186d88bbf0dd0f6b55cdf65ea042e69abae1def64ee5b637a559fb";
        assert!(!hmac_sha256_matches(ALPPAY_KEY, body, other));
        assert!(!hmac_sha256_matches(
            ALPPAY_KEY,
            format!("{ALPPAY_SHORT}\n").as_bytes(),
            good
        ));
        let spaced = r#"{"amount": "250.00", "asset": {"short": "USDT", "network": "tron"}}"#;
        assert!(!hmac_sha256_matches(ALPPAY_KEY, spaced.as_bytes(), good));
        // Wrong key, truncated, non-hex, empty.
        assert!(!hmac_sha256_matches(
            b"sk_live_abcdef1234567891",
            body,
            good
        ));
        assert!(!hmac_sha256_matches(ALPPAY_KEY, body, &good[..62]));
        assert!(!hmac_sha256_matches(ALPPAY_KEY, body, &good[..32]));
        assert!(!hmac_sha256_matches(
            ALPPAY_KEY,
            body,
            &format!("{}zz", &good[..62])
        ));
        assert!(!hmac_sha256_matches(ALPPAY_KEY, body, ""));
        // The signature in base64 instead of hex.
        let digest = hex::decode(good).unwrap_or_default();
        assert!(!hmac_sha256_matches(
            ALPPAY_KEY,
            body,
            &BASE64.encode(digest)
        ));
    }

    const CM_PHP: &str = r#"{"amount":"15","currency":"USDT","order_id":"test-1","network":"tron","url_callback":"https:\/\/example.com\/cb"}"#;
    const CM_PY: &str = r#"{"amount":"15","currency":"USDT","order_id":"test-1","network":"tron","url_callback":"https://example.com/cb"}"#;
    const CM_PYCM: &str = r#"{"amount": "15", "currency": "USDT", "order_id": "test-1", "network": "tron", "url_callback": "https://example.com/cb"}"#;
    const CM_PHP_SIGN: &str = "8da0d89a363f69cf6d91bc063dd7b973";
    const CM_PY_SIGN: &str = "9cbff636373a497d250e2b47e0819f4c";
    const CM_PYCM_SIGN: &str = "cafdd01ee733154d8ce9ebd54dcd8b31";
    const CM_EMPTY_SIGN: &str = "ec797338eec49b72bdbad52ada494126";
    const CM_OBJECT_SIGN: &str = "f5f6447d8544222293bfaeb79aee49d4";
    const CM_ARRAY_SIGN: &str = "9eea2f211549fe3d2c33e9345c429d15";

    #[test]
    fn cryptomus_request_vectors_match() {
        assert_eq!(
            BASE64.encode(CM_PHP),
            "eyJhbW91bnQiOiIxNSIsImN1cnJlbmN5IjoiVVNEVCIsIm9yZGVyX2lkIjoidGVzdC0xIiwibmV0d29yayI6InRyb24iLCJ1cmxfY2FsbGJhY2siOiJodHRwczpcL1wvZXhhbXBsZS5jb21cL2NiIn0="
        );
        let vectors = [
            (CM_PHP, CM_PHP_SIGN),
            (CM_PY, CM_PY_SIGN),
            (CM_PYCM, CM_PYCM_SIGN),
            ("", CM_EMPTY_SIGN),
            ("{}", CM_OBJECT_SIGN),
            ("[]", CM_ARRAY_SIGN),
        ];
        for (body, sign) in vectors {
            assert!(
                cryptomus_sign_matches(CRYPTOMUS_KEY, body.as_bytes(), sign),
                "{body:?}"
            );
            let upper = sign.to_uppercase();
            assert!(
                cryptomus_sign_matches(CRYPTOMUS_KEY, body.as_bytes(), &upper),
                "{body:?}"
            );
        }
    }

    #[test]
    fn cryptomus_request_wrong_variants_refused() {
        // Each encoding's signature is wrong for the other encodings' bytes.
        let bodies = [
            (CM_PHP, CM_PHP_SIGN),
            (CM_PY, CM_PY_SIGN),
            (CM_PYCM, CM_PYCM_SIGN),
        ];
        for (body, _) in bodies {
            for (other, sign) in bodies {
                if other != body {
                    assert!(!cryptomus_sign_matches(
                        CRYPTOMUS_KEY,
                        body.as_bytes(),
                        sign
                    ));
                }
            }
            // md5(key) is only an answer for an empty parameter set.
            assert!(!cryptomus_sign_matches(
                CRYPTOMUS_KEY,
                body.as_bytes(),
                CM_EMPTY_SIGN
            ));
        }
        // `{}` and `[]` also take md5(key), but not each other's signature.
        assert!(cryptomus_sign_matches(CRYPTOMUS_KEY, b"{}", CM_EMPTY_SIGN));
        assert!(cryptomus_sign_matches(CRYPTOMUS_KEY, b"[]", CM_EMPTY_SIGN));
        assert!(!cryptomus_sign_matches(CRYPTOMUS_KEY, b"{}", CM_ARRAY_SIGN));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            b"[]",
            CM_OBJECT_SIGN
        ));
        assert!(!cryptomus_sign_matches(CRYPTOMUS_KEY, b"", CM_OBJECT_SIGN));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            b"{ }",
            CM_EMPTY_SIGN
        ));
        // Wrong key, truncated, non-hex, empty.
        assert!(!cryptomus_sign_matches(
            b"test_payment_key_124",
            CM_PHP.as_bytes(),
            CM_PHP_SIGN
        ));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            CM_PHP.as_bytes(),
            &CM_PHP_SIGN[..30]
        ));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            CM_PHP.as_bytes(),
            "not-hex"
        ));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            CM_PHP.as_bytes(),
            ""
        ));
        // md5 over the body without base64, and md5 with the key in front.
        let unencoded = format!("{CM_PHP}{}", "test_payment_key_123");
        let unencoded = hex::encode(Md5::digest(unencoded.as_bytes()));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            CM_PHP.as_bytes(),
            &unencoded
        ));
        let key_first = format!("test_payment_key_123{}", BASE64.encode(CM_PHP));
        let key_first = hex::encode(Md5::digest(key_first.as_bytes()));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            CM_PHP.as_bytes(),
            &key_first
        ));
    }

    /// The webhook vector is signed the same way (over the PHP encoding without `sign`); the two
    /// wrong variants of §4 are the signatures of the other two encodings of the same data.
    #[test]
    fn cryptomus_webhook_vector_and_wrong_variants() {
        const PHP: &str = r#"{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"97a75bf8eda5cca41ba9d2e104840fcd","amount":"3.00000000","payment_amount":"3.00000000","payment_amount_usd":"0.23","merchant_amount":"2.94000000","commission":"0.06000000","is_final":true,"status":"paid","from":"THgEWubVc8tPKXLJ4VZ5zbiiAK7AgqSeGH","wallet_address_uuid":null,"network":"tron","currency":"TRX","payer_currency":"TRX","additional_data":"Тест \/ x","convert":{"to_currency":"USDT","commission":null,"rate":"0.07700000","amount":"0.22638000"},"txid":"6f0d9c8374db57cac0d806251473de754f361c83a03cd805f74aa9da3193486b"}"#;
        const GOOD: &str = "daa9f937f2e778bd98b4e91afb0cced2";
        const NAIVE: &str = "cb1db0d06d964050fb6af7e700d30a9a";
        const ASCII: &str = "aa11debec13bf031118653cceab45b16";
        let naive_body = PHP.replace(r"\/", "/");
        let ascii_body = PHP.replace("Тест", r"\u0422\u0435\u0441\u0442");

        assert!(cryptomus_sign_matches(CRYPTOMUS_KEY, PHP.as_bytes(), GOOD));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            PHP.as_bytes(),
            NAIVE
        ));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            PHP.as_bytes(),
            ASCII
        ));
        // The wrong variants really are those encodings, so they fail for the right reason.
        assert!(cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            naive_body.as_bytes(),
            NAIVE
        ));
        assert!(cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            ascii_body.as_bytes(),
            ASCII
        ));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            naive_body.as_bytes(),
            GOOD
        ));
        assert!(!cryptomus_sign_matches(
            CRYPTOMUS_KEY,
            ascii_body.as_bytes(),
            GOOD
        ));
    }

    const AP_JS: &str = r#"{"currency":"USDT","network":"tron","amount":"100","order":"order-1","lifetime":1800,"successWebhook":"https://merchant.example/wh","nonce":1700000000001}"#;
    const AP_PY: &str = r#"{"currency": "USDT", "network": "tron", "amount": "100", "order": "order-1", "lifetime": 1800, "successWebhook": "https://merchant.example/wh", "nonce": 1700000000001}"#;
    const AP_PHP: &str = r#"{"currency":"USDT","network":"tron","amount":"100","order":"order-1","lifetime":1800,"successWebhook":"https:\/\/merchant.example\/wh","nonce":1700000000001}"#;
    const AP_MINIMAL: &str = r#"{"nonce":1700000000002}"#;
    const AP_JS_SIG: &str = "750b3ef578cfb14f2b440359496720181bbaefc45124239ef294e463d901122e";
    const AP_PY_SIG: &str = "67fda48f5989c3c5ae6e511daa4483d7631bf68bfeee2ffc75efbd9183ceb6e0";
    const AP_PHP_SIG: &str = "7ddbc1c59dd71be617e102732732e364967ec04bf70eba720295b16ddbd621fc";
    const AP_MINIMAL_SIG: &str = "b7a1bbe68f58171f38091bab796e4a7ede04ffa6f9ff23fa2d79ad904ddddedb";

    #[test]
    fn apollo_vectors_match() {
        let vectors = [
            (AP_JS, AP_JS_SIG),
            (AP_PY, AP_PY_SIG),
            (AP_PHP, AP_PHP_SIG),
            (AP_MINIMAL, AP_MINIMAL_SIG),
        ];
        for (body, signature) in vectors {
            assert!(
                hmac_sha256_matches(APOLLO_KEY, body.as_bytes(), signature),
                "{body}"
            );
            let upper = signature.to_uppercase();
            assert!(hmac_sha256_matches(APOLLO_KEY, body.as_bytes(), &upper));
            assert_eq!(hmac_sha256_hex(APOLLO_KEY, body.as_bytes()), signature);
        }
    }

    #[test]
    fn apollo_wrong_variants_refused() {
        let bodies = [(AP_JS, AP_JS_SIG), (AP_PY, AP_PY_SIG), (AP_PHP, AP_PHP_SIG)];
        for (body, _) in bodies {
            for (other, signature) in bodies {
                if other != body {
                    assert!(!hmac_sha256_matches(APOLLO_KEY, body.as_bytes(), signature));
                }
            }
            // Signed with the public key instead of the private one.
            let with_public = hmac_sha256_hex(b"test_public_key", body.as_bytes());
            assert!(!hmac_sha256_matches(
                APOLLO_KEY,
                body.as_bytes(),
                &with_public
            ));
        }
        assert!(!hmac_sha256_matches(
            APOLLO_KEY,
            AP_MINIMAL.as_bytes(),
            AP_JS_SIG
        ));
        let other_nonce = r#"{"nonce":1700000000003}"#;
        assert!(!hmac_sha256_matches(
            APOLLO_KEY,
            other_nonce.as_bytes(),
            AP_MINIMAL_SIG
        ));
        assert!(!hmac_sha256_matches(
            APOLLO_KEY,
            AP_MINIMAL.as_bytes(),
            &AP_MINIMAL_SIG[1..]
        ));
        assert!(!hmac_sha256_matches(APOLLO_KEY, AP_MINIMAL.as_bytes(), ""));
    }

    #[test]
    fn key_comparison() {
        assert!(same_key("pk_test", "pk_test"));
        assert!(!same_key("pk_test", "pk_tesT"));
        assert!(!same_key("pk_test", "pk_test2"));
        assert!(!same_key("pk_test", ""));
    }
}
