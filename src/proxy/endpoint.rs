//! Which inbound endpoint a request is for, from its method and path. One listener serves every
//! dialect; the paths each provider declares ([`crate::dialect::Codec::inbound`]) tell them apart.

use http::HeaderMap;

use crate::dialect::{Dialect, Operation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'p> {
    pub dialect: Dialect,
    pub operation: Operation,
    /// The method the endpoint is served with.
    pub method: &'static str,
    /// The id segment of a `/{id}` path.
    pub path_id: Option<&'p str>,
}

/// The endpoint for a method and path (query string ignored; a trailing slash allowed, as the
/// Apollo PHP SDK sends one). When the path is served only with another method, that endpoint
/// is returned, so the wrong method can be refused in its dialect.
pub fn endpoint_for<'p>(method: &str, path: &'p str) -> Option<Endpoint<'p>> {
    let mut matching = served_at(path);
    let first = matching.next()?;
    if first.method.eq_ignore_ascii_case(method) {
        return Some(first);
    }
    Some(
        matching
            .find(|e| e.method.eq_ignore_ascii_case(method))
            .unwrap_or(first),
    )
}

/// The methods served at a path, for the `Allow` header of a 405 (RFC 9110 requires one).
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = served_at(path).map(|e| e.method).collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// Every endpoint served at a path, whatever its method, in registry order.
fn served_at(path: &str) -> impl Iterator<Item = Endpoint<'_>> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    Dialect::ALL.into_iter().flat_map(move |dialect| {
        dialect.codec().inbound().iter().filter_map(move |inbound| {
            let path_id = match inbound.path.strip_suffix("/{id}") {
                Some(prefix) => {
                    let id = path.strip_prefix(prefix)?.strip_prefix('/')?;
                    (!id.is_empty() && !id.contains('/')).then_some(Some(id))?
                }
                None => (inbound.path == path).then_some(None)?,
            };
            Some(Endpoint {
                dialect,
                operation: inbound.operation,
                method: inbound.method,
                path_id,
            })
        })
    })
}

/// The dialect to answer an unknown path in: by the caller's key header, else by path prefix.
pub fn dialect_hint(path: &str, headers: &HeaderMap) -> Option<Dialect> {
    Dialect::ALL
        .into_iter()
        .find(|d| headers.contains_key(d.codec().key_header()))
        .or_else(|| {
            Dialect::ALL.into_iter().find(|d| {
                d.codec()
                    .path_prefixes()
                    .iter()
                    .any(|prefix| path.starts_with(prefix))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(path: &str) -> Option<(Dialect, Operation, Option<&str>)> {
        let method = if path.starts_with("/v2/payment/") {
            "GET"
        } else {
            "POST"
        };
        endpoint_for(method, path).map(|e| (e.dialect, e.operation, e.path_id))
    }

    #[test]
    fn paths_pick_their_dialect() {
        use Operation::*;
        assert_eq!(
            op("/v2/payment"),
            Some((Dialect::AlpPay, CreatePayment, None))
        );
        assert_eq!(op("/payment"), Some((Dialect::AlpPay, CreatePayment, None)));
        assert_eq!(
            op("/v1/payment"),
            Some((Dialect::Cryptomus, CreatePayment, None))
        );
        assert_eq!(
            op("/cryptomus/v1/payment?x=1"),
            Some((Dialect::Cryptomus, CreatePayment, None))
        );
        assert_eq!(
            op("/api-gateway/make-order/"),
            Some((Dialect::Apollo, CreatePayment, None))
        );
        assert_eq!(
            op("/v1/payment/info"),
            Some((Dialect::Cryptomus, LookupPayment, None))
        );
        assert_eq!(
            op("/v2/payment/8f3c2a1e"),
            Some((Dialect::AlpPay, LookupPayment, Some("8f3c2a1e")))
        );
        assert_eq!(op("/v2/payment/a/b"), None);
        assert_eq!(
            endpoint_for("GET", "/v2/payment?invoices=INV-1").map(|e| e.operation),
            Some(ListPayments)
        );
        assert_eq!(op("/"), None);
    }

    #[test]
    fn allowed_methods_name_every_method_served_at_a_path() {
        assert_eq!(allowed_methods("/v2/payment"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/v2/payment/?x=1"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/v2/payment/8f3c2a1e"), ["GET"]);
        assert_eq!(allowed_methods("/api-gateway/order/"), ["POST"]);
        assert!(allowed_methods("/nowhere").is_empty());
    }

    #[test]
    fn every_declared_path_is_served() {
        for dialect in Dialect::ALL {
            for inbound in dialect.codec().inbound() {
                let path = inbound.path.replace("{id}", "some-id");
                let endpoint = endpoint_for(inbound.method, &path).expect("served");
                assert_eq!(
                    (endpoint.dialect, endpoint.operation),
                    (dialect, inbound.operation),
                    "{path}"
                );
                assert_eq!(
                    dialect_hint(&path, &HeaderMap::new()),
                    Some(dialect),
                    "{path} is under none of {dialect}'s prefixes"
                );
            }
        }
    }
}
