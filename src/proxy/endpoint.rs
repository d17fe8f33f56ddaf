//! Which inbound endpoint a request is for, from its path. One listener serves every dialect;
//! the paths each provider declares ([`crate::dialect::Codec::inbound`]) tell them apart.

use http::HeaderMap;

use crate::dialect::{Dialect, Operation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub dialect: Dialect,
    pub operation: Operation,
}

/// The endpoint for a path (query string ignored; a trailing slash allowed, as the Apollo PHP
/// SDK sends one).
pub fn endpoint_for(path: &str) -> Option<Endpoint> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    Dialect::ALL.into_iter().find_map(|dialect| {
        dialect
            .codec()
            .inbound()
            .iter()
            .find(|inbound| inbound.path == path)
            .map(|inbound| Endpoint {
                dialect,
                operation: inbound.operation,
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

    fn create(dialect: Dialect) -> Option<Endpoint> {
        Some(Endpoint {
            dialect,
            operation: Operation::CreatePayment,
        })
    }

    #[test]
    fn paths_pick_their_dialect() {
        assert_eq!(endpoint_for("/v2/payment"), create(Dialect::AlpPay));
        assert_eq!(endpoint_for("/payment"), create(Dialect::AlpPay));
        assert_eq!(endpoint_for("/v1/payment"), create(Dialect::Cryptomus));
        assert_eq!(
            endpoint_for("/cryptomus/v1/payment?x=1"),
            create(Dialect::Cryptomus)
        );
        assert_eq!(
            endpoint_for("/api-gateway/make-order/"),
            create(Dialect::Apollo)
        );
        assert_eq!(endpoint_for("/v1/payment/info"), None);
        assert_eq!(endpoint_for("/"), None);
    }

    #[test]
    fn every_declared_path_is_served() {
        for dialect in Dialect::ALL {
            for inbound in dialect.codec().inbound() {
                assert_eq!(
                    endpoint_for(inbound.path),
                    Some(Endpoint {
                        dialect,
                        operation: inbound.operation
                    })
                );
                assert_eq!(
                    dialect_hint(inbound.path, &HeaderMap::new()),
                    Some(dialect),
                    "{} is under none of {dialect}'s prefixes",
                    inbound.path
                );
            }
        }
    }
}
