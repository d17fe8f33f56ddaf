//! Which inbound endpoint a request is for, from its method and path. One listener serves all
//! three dialects; the paths tell them apart.

use http::HeaderMap;

use crate::dialect::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Create a payment in this dialect.
    CreatePayment(Dialect),
    /// Apollo's balance list, which its SDKs call on construction and fail without.
    ApolloAdvancedBalances,
}

/// The endpoint for a path (query string ignored; a trailing slash allowed, as the Apollo PHP
/// SDK sends one).
pub fn endpoint_for(path: &str) -> Option<Endpoint> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    match path {
        "/v2/payment" | "/payment" => Some(Endpoint::CreatePayment(Dialect::AlpPay)),
        // NearPayments serves the Cryptomus dialect under a `/cryptomus` prefix.
        "/v1/payment" | "/cryptomus/v1/payment" => {
            Some(Endpoint::CreatePayment(Dialect::Cryptomus))
        }
        "/api-gateway/make-order" => Some(Endpoint::CreatePayment(Dialect::Apollo)),
        "/api-gateway/advanced-balances" => Some(Endpoint::ApolloAdvancedBalances),
        _ => None,
    }
}

impl Endpoint {
    pub fn dialect(self) -> Dialect {
        match self {
            Endpoint::CreatePayment(d) => d,
            Endpoint::ApolloAdvancedBalances => Dialect::Apollo,
        }
    }
}

/// The dialect to answer an unknown path in: by the caller's key header, else by path prefix.
pub fn dialect_hint(path: &str, headers: &HeaderMap) -> Option<Dialect> {
    Dialect::ALL
        .into_iter()
        .find(|d| headers.contains_key(d.codec().key_header()))
        .or_else(|| {
            if path.starts_with("/api-gateway") {
                Some(Dialect::Apollo)
            } else if path.starts_with("/v1") || path.starts_with("/cryptomus") {
                Some(Dialect::Cryptomus)
            } else if path.starts_with("/v2") {
                Some(Dialect::AlpPay)
            } else {
                None
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_their_dialect() {
        assert_eq!(
            endpoint_for("/v2/payment"),
            Some(Endpoint::CreatePayment(Dialect::AlpPay))
        );
        assert_eq!(
            endpoint_for("/payment"),
            Some(Endpoint::CreatePayment(Dialect::AlpPay))
        );
        assert_eq!(
            endpoint_for("/v1/payment"),
            Some(Endpoint::CreatePayment(Dialect::Cryptomus))
        );
        assert_eq!(
            endpoint_for("/cryptomus/v1/payment?x=1"),
            Some(Endpoint::CreatePayment(Dialect::Cryptomus))
        );
        assert_eq!(
            endpoint_for("/api-gateway/make-order/"),
            Some(Endpoint::CreatePayment(Dialect::Apollo))
        );
        assert_eq!(endpoint_for("/v1/payment/info"), None);
        assert_eq!(endpoint_for("/"), None);
    }
}
