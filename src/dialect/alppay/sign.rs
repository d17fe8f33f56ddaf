//! AlpPay's signature: `X-HMAC` = lowercase hex HMAC-SHA256(HMAC secret, raw body), for
//! requests and webhooks alike (dialect reference §1a, §1c).

/// `sign(secret, body)` and `verify(secret, body, claimed)`: the shared HMAC-SHA256 hex
/// primitives, constant-time, either hex case.
pub use crate::signature::{hmac_sha256_hex as sign, verify_hmac_sha256_hex as verify};

#[cfg(test)]
mod tests {
    //! The vectors of the dialect reference, section 4.
    use super::*;

    const ALP_KEY: &[u8] = b"sk_live_abcdef1234567890";

    #[test]
    fn alppay_vectors() {
        let cases: [(&str, &str); 3] = [
            (
                r#"{"amount":"250.00","asset":{"short":"USDT","network":"tron"}}"#,
                "e4f4735e8e4f1d0a2014cecc4113bf99667e54dcee7b10b4669386f11e11aff0",
            ),
            (
                r#"{"amount":"1000.00","asset":{"short":"USDT","network":"tron"},"customer":{"id":12312312,"name":"John","email":"john@example.com"},"invoice":"INV-001","checkoutUrl":"https://your-shop.com/orders/40113049"}"#,
                "7a69fb1ce3186d88bbf0dd0f6b55cdf65ea042e69abae1def64ee5b637a559fb",
            ),
            (
                r#"{"id":"285d8dce-7663-4580-ba7f-8afb2f2d3292","amount":"1000.00","totalReceivedAmount":"20.00","status":"OPEN","invoice":"INV-001"}"#,
                "d31522a427afaa40131e6765bcd86f1a80cbc773d26718a61d17729b5b76a131",
            ),
        ];
        for (body, sig) in cases {
            assert_eq!(sign(ALP_KEY, body.as_bytes()), sig);
            assert!(verify(ALP_KEY, body.as_bytes(), sig));
            assert!(verify(
                ALP_KEY,
                body.as_bytes(),
                &sig.to_uppercase()
            ));
            assert!(!verify(b"other", body.as_bytes(), sig));
            let mut spaced = body.replace("\":", "\": ");
            spaced.push(' ');
            assert!(!verify(ALP_KEY, spaced.as_bytes(), sig));
        }
        assert!(!verify(ALP_KEY, b"{}", "zz"));
        assert!(!verify(ALP_KEY, b"{}", ""));
    }
}
