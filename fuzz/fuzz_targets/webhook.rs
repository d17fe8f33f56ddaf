//! A provider's payment webhook, as the relay receives it: the first byte picks the provider;
//! the rest is the key header's value, the signature header's value and the body, separated by
//! NUL bytes (an empty header value is "not sent"). The relay's two calls run on it —
//! `verify_webhook` with payglot's account at the provider ([`WEBHOOK_SECRET`]), then
//! `parse_webhook` whatever the verdict. A payment that parses is re-written for a merchant of
//! every dialect (`render_webhook`), and that merchant's own check of what payglot sends must
//! verify. None of it may panic.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use payglot::dialect::{Codec, Dialect, WebhookAuth};
use payglot::model::Payment;
use payglot::network::NetworkTable;
use payglot::secret::Credentials;
use payglot_fuzz::{
    WEBHOOK_KEY_ID, WEBHOOK_SECRET, base_request, context, dialect, fields, merchant,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let parts = fields(rest, 3);
    let provider = dialect(selector);
    let body = parts[2].unwrap_or_default();
    let headers = sent_headers(provider.codec(), parts[0], parts[1]);
    let credentials = Credentials::new(WEBHOOK_KEY_ID, WEBHOOK_SECRET);
    let hooks = provider.webhooks();
    let _ = hooks.verify_webhook(&headers, body, &credentials);
    let networks = NetworkTable::builtin();
    if let Ok(payment) = hooks.parse_webhook(body, &networks) {
        relay_everywhere(&payment, &networks);
    }
});

/// The headers a provider's notification carries: the key header and the signature header
/// (named as the dialect's own signer names them), each only when its value is non-empty.
fn sent_headers(codec: &dyn Codec, key: Option<&[u8]>, signature: Option<&[u8]>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let signed = codec.sign(b"", &Credentials::new(WEBHOOK_KEY_ID, WEBHOOK_SECRET));
    let signature_header = signed
        .iter()
        .map(|(name, _)| *name)
        .find(|name| !name.eq_ignore_ascii_case(codec.key_header()));
    let named = [
        (Some(codec.key_header()), key),
        (signature_header, signature),
    ];
    for (name, value) in named {
        let (Some(name), Some(value)) = (name, value.filter(|v| !v.is_empty())) else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}

/// Writes the payment as every dialect's merchant webhook; each must verify with that
/// dialect's own check (what `payglot webhooks listen` and the merchants' SDKs do), and reading
/// it back must not panic.
fn relay_everywhere(payment: &Payment, networks: &NetworkTable) {
    let profile = merchant();
    let context = context(networks, &profile);
    let merchant_credentials = Credentials::new("fuzz-merchant", "fuzz-merchant-secret");
    for to in Dialect::ALL {
        let Some(request) = base_request(to, networks) else {
            continue;
        };
        let hooks = to.webhooks();
        let webhook = hooks.render_webhook(payment, &request, &merchant_credentials, &context);
        let mut headers = HeaderMap::new();
        for (name, value) in &webhook.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let auth = hooks.verify_webhook(&headers, &webhook.body, &merchant_credentials);
        assert_eq!(
            auth,
            WebhookAuth::Verified,
            "a {} merchant refuses the webhook payglot signed for it",
            to.name()
        );
        let _ = hooks.parse_webhook(&webhook.body, networks);
    }
}
