//! The signature verifiers: the first byte picks the dialect; the rest is the secret, the
//! signature header's value and the body, separated by NUL bytes. The claimed value is checked
//! as sent (must not panic), then the dialect's own signature over the same body and secret
//! must verify (a verifier that refuses its own signer's output is a bug too).
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use payglot::dialect::{Call, Operation};
use payglot::secret::Credentials;
use payglot_fuzz::{dialect, fields};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let parts = fields(rest, 3);
    let secret = String::from_utf8_lossy(parts[0].unwrap_or_default()).into_owned();
    let claimed = parts[1].unwrap_or_default();
    let body = parts[2].unwrap_or_default();
    let codec = dialect(selector).codec();

    let credentials = Credentials::new("fuzz-key", secret.clone());
    let signed = codec.sign(body, &credentials);
    let mut own = HeaderMap::new();
    for (name, value) in &signed {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            own.insert(name, value);
        }
    }
    // The signature header is the one that is not the key header.
    let Some(signature_header) = signed
        .iter()
        .map(|(name, _)| *name)
        .find(|name| !name.eq_ignore_ascii_case(codec.key_header()))
    else {
        return;
    };

    let mut sent = own.clone();
    match HeaderValue::from_bytes(claimed) {
        Ok(value) => {
            sent.insert(signature_header, value);
        }
        Err(_) => {
            sent.remove(signature_header);
        }
    }
    let _ = codec.verify(&sent, body, secret.as_bytes());
    let call = Call {
        operation: Operation::CreatePayment,
        path_id: None,
        query: None,
        body,
    };
    let _ = codec.verify_call(&call, &sent, secret.as_bytes());

    if let Err(error) = codec.verify(&own, body, secret.as_bytes()) {
        panic!("{} refuses its own signature: {error:?}", codec.name());
    }
});
