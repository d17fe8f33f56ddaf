//! AlpPay payment webhooks (dialect reference §1c): the payment object, as the create answer
//! shows it, with `X-HMAC` = hex HMAC-SHA256(HMAC secret, raw body). AlpPay has one webhook URL
//! per account, so payglot's relay finds the payment by its id.

use http::HeaderMap;

use super::sign;
use crate::dialect::{Codec, OutgoingWebhook, RenderContext, WebhookAuth};
use crate::error::ApiError;
use crate::model::{CreatePayment, Payment};
use crate::network::NetworkTable;
use crate::secret::Credentials;

pub const SIGNATURE_HEADER: &str = "X-HMAC";

/// AlpPay always signs: a missing or wrong `X-HMAC` is a forgery.
pub fn verify(headers: &HeaderMap, body: &[u8], credentials: &Credentials) -> WebhookAuth {
    let claimed = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match claimed {
        Some(claimed) if sign::verify(credentials.secret.expose().as_bytes(), body, claimed) => {
            WebhookAuth::Verified
        }
        _ => WebhookAuth::Forged,
    }
}

/// The webhook body is the payment object, read like the create answer.
pub fn parse(body: &[u8], networks: &NetworkTable) -> Result<Payment, ApiError> {
    super::AlpPay.parse_create_response(200, body, networks)
}

/// The payment object an AlpPay merchant expects, signed with its HMAC secret.
pub fn render(
    payment: &Payment,
    request: &CreatePayment,
    credentials: &Credentials,
    context: &RenderContext<'_>,
) -> OutgoingWebhook {
    let body = super::AlpPay.render_create_response(payment, request, context);
    let signature = sign::sign(credentials.secret.expose().as_bytes(), &body);
    OutgoingWebhook {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (SIGNATURE_HEADER.into(), signature),
        ],
        body,
    }
}

impl crate::dialect::Webhooks for super::AlpPay {
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        credentials: &Credentials,
    ) -> WebhookAuth {
        verify(headers, body, credentials)
    }

    fn webhook_fetch_back(&self) -> bool {
        false
    }

    /// One webhook URL per account, set through AlpPay support.
    fn account_level_webhooks(&self) -> bool {
        true
    }

    fn parse_webhook(&self, body: &[u8], networks: &NetworkTable) -> Result<Payment, ApiError> {
        parse(body, networks)
    }

    fn render_webhook(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        credentials: &Credentials,
        context: &RenderContext<'_>,
    ) -> OutgoingWebhook {
        render(payment, request, credentials, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn the_documented_webhook_vector_verifies_and_a_change_does_not() {
        let credentials = Credentials {
            key_id: "ak".into(),
            secret: Secret::new("sk_live_abcdef1234567890"),
        };
        let body = br#"{"id":"285d8dce-7663-4580-ba7f-8afb2f2d3292","amount":"1000.00","totalReceivedAmount":"20.00","status":"OPEN","invoice":"INV-001"}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            "d31522a427afaa40131e6765bcd86f1a80cbc773d26718a61d17729b5b76a131"
                .parse()
                .unwrap(),
        );
        assert_eq!(verify(&headers, body, &credentials), WebhookAuth::Verified);
        let altered = String::from_utf8_lossy(body).replace("20.00", "1000.00");
        assert_eq!(
            verify(&headers, altered.as_bytes(), &credentials),
            WebhookAuth::Forged
        );
        assert_eq!(
            verify(&HeaderMap::new(), body, &credentials),
            WebhookAuth::Forged
        );
    }
}
