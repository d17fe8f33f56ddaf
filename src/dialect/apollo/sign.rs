//! Apollo's signature: `x-api-signature` = lowercase hex HMAC-SHA256(private key, raw body); the
//! body carries a `nonce` (dialect reference §3a).

/// `sign(secret, body)` and `verify(secret, body, claimed)`: the shared HMAC-SHA256 hex
/// primitives, constant-time, either hex case.
pub use crate::signature::{hmac_sha256_hex as sign, verify_hmac_sha256_hex as verify};

#[cfg(test)]
mod tests {
    //! The vectors of the dialect reference, section 4.
    use super::*;

    const APOLLO_KEY: &[u8] = b"test_private_key";

    #[test]
    fn apollo_vectors() {
        let js = r#"{"currency":"USDT","network":"tron","amount":"100","order":"order-1","lifetime":1800,"successWebhook":"https://merchant.example/wh","nonce":1700000000001}"#;
        let py = r#"{"currency": "USDT", "network": "tron", "amount": "100", "order": "order-1", "lifetime": 1800, "successWebhook": "https://merchant.example/wh", "nonce": 1700000000001}"#;
        let php = js.replace('/', "\\/");
        let cases = [
            (
                js.to_owned(),
                "750b3ef578cfb14f2b440359496720181bbaefc45124239ef294e463d901122e",
            ),
            (
                py.to_owned(),
                "67fda48f5989c3c5ae6e511daa4483d7631bf68bfeee2ffc75efbd9183ceb6e0",
            ),
            (
                php,
                "7ddbc1c59dd71be617e102732732e364967ec04bf70eba720295b16ddbd621fc",
            ),
            (
                r#"{"nonce":1700000000002}"#.to_owned(),
                "b7a1bbe68f58171f38091bab796e4a7ede04ffa6f9ff23fa2d79ad904ddddedb",
            ),
        ];
        for (body, sig) in &cases {
            assert_eq!(sign(APOLLO_KEY, body.as_bytes()), *sig);
            assert!(verify(APOLLO_KEY, body.as_bytes(), sig));
        }
        // A signature made for one encoding does not verify another.
        assert!(!verify(
            APOLLO_KEY,
            cases[1].0.as_bytes(),
            cases[0].1
        ));
        assert!(!verify(
            b"test_public_key",
            cases[0].0.as_bytes(),
            cases[0].1
        ));
    }
}
