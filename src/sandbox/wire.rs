//! What a provider emulator sees of a request and what it answers.

use std::time::Duration;

use http::{HeaderMap, Method};
use serde::Serialize;

/// One request, as handed to a provider emulator.
pub(super) struct Incoming<'a> {
    pub method: &'a Method,
    /// The path below the provider's prefix, without trailing slashes: `/payment/{id}`.
    pub route: &'a str,
    /// The query string without `?`, if any: `invoices=INV-1&limit=5`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The raw body bytes, exactly as received.
    pub body: &'a [u8],
}

impl Incoming<'_> {
    /// A header's value, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Every value of a query parameter, percent-decoded, in order; comma-separated lists
    /// (`ids=a,b`) and repeated keys (`ids=a&ids=b`) both count.
    pub fn query_values(&self, name: &str) -> Vec<String> {
        let Some(query) = self.query else {
            return Vec::new();
        };
        url::form_urlencoded::parse(query.as_bytes())
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The last value of a query parameter, percent-decoded.
    pub fn query_value(&self, name: &str) -> Option<String> {
        let query = self.query?;
        url::form_urlencoded::parse(query.as_bytes())
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .last()
    }
}

/// A provider emulator's answer.
pub(super) struct Outcome {
    pub status: u16,
    pub body: Vec<u8>,
    /// Whether the credentials (and the signature, where one is required) checked out.
    pub signature_valid: bool,
    /// Wait this long before answering (the slow-answer fault).
    pub delay: Option<Duration>,
}

impl Outcome {
    /// A JSON answer; not yet marked as authenticated.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Outcome {
        let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        Outcome {
            status,
            body,
            signature_valid: false,
            delay: None,
        }
    }

    /// Marks whether the request's credentials checked out.
    pub fn authenticated(mut self, valid: bool) -> Outcome {
        self.signature_valid = valid;
        self
    }

    pub fn delayed(mut self, delay: Option<Duration>) -> Outcome {
        self.delay = delay;
        self
    }
}
