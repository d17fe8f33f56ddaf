//! Which upstream serves a request: an ordered list of rules, first match wins, no silent
//! default. Pure: no I/O, no clock, no randomness. Built and validated by [`crate::config`];
//! the proxy calls [`Router::select`] once per request with the facts it has parsed.
//!
//! A weighted split is sticky: the bucket is a SHA-256 of the merchant id and the order
//! reference, so a retried create for the same order always goes to the same provider (where
//! Cryptomus' idempotency on `order_id` can do its job), on every build and every node.

use http::HeaderMap;
use http::header::HeaderName;
use sha2::{Digest, Sha256};

use crate::dialect::Dialect;
use crate::money::Amount;

/// The ordered routing rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Router {
    routes: Vec<Route>,
}

/// One rule: when its conditions hold, send the request to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// The conditions; all given must hold.
    pub matcher: Match,
    /// Where a matching request goes.
    pub target: Target,
    /// Upstream ids tried in order when the chosen one could not be connected to.
    pub failover: Vec<String>,
}

/// A rule's conditions. `None` means "any"; a list matches when the request's value is in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// Merchant ids.
    pub merchants: Option<Vec<String>>,
    /// Inbound dialects.
    pub dialects: Option<Vec<Dialect>>,
    /// Currency tickers, uppercase (compared case-insensitively).
    pub currencies: Option<Vec<String>>,
    /// Canonical chain names, lowercase (compared case-insensitively). A request that leaves
    /// the network open never matches a rule that names networks.
    pub networks: Option<Vec<String>>,
    /// Bounds on the amount.
    pub amount: Option<AmountRange>,
    /// A request header that must carry an exact value.
    pub header: Option<HeaderMatch>,
}

/// An interval of amounts; a missing bound is unbounded on that side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmountRange {
    /// `gt` (exclusive) or `gte` (inclusive).
    pub lower: Option<Bound>,
    /// `lt` (exclusive) or `lte` (inclusive).
    pub upper: Option<Bound>,
}

/// One end of an [`AmountRange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub amount: Amount,
    pub inclusive: bool,
}

/// A header condition: the name is matched case-insensitively (as HTTP does), the value exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: HeaderName,
    pub value: String,
}

/// Where a matching request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Always this upstream.
    Single(String),
    /// One of these, by weight, sticky per (merchant, order reference).
    Split(Vec<Weighted>),
}

/// One arm of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted {
    pub upstream: String,
    /// Relative weight, at least 1.
    pub weight: u32,
}

/// What the proxy knows about a request when it picks an upstream.
#[derive(Clone, Copy)]
pub struct RouteFacts<'a> {
    /// The authenticated merchant's id.
    pub merchant_id: &'a str,
    /// The dialect the merchant spoke.
    pub dialect: Dialect,
    pub currency: &'a str,
    /// Canonical chain name; `None` when the request leaves it open.
    pub network: Option<&'a str>,
    pub amount: &'a Amount,
    /// The merchant's order reference, the key for sticky splits.
    pub order_ref: Option<&'a str>,
    /// The inbound request headers.
    pub headers: &'a HeaderMap,
    /// payglot's id for this request; the split key when there is no order reference.
    pub request_id: &'a str,
}

/// The outcome of routing: the rule that matched and the upstreams to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The matching rule's name.
    pub route: String,
    /// The chosen upstream first, then the rule's failover list in order, without duplicates.
    pub upstreams: Vec<String>,
}

impl Router {
    /// Rules in priority order. Validation (shadowing, references) is the config's job.
    pub fn new(routes: Vec<Route>) -> Self {
        Router { routes }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first rule that matches, with the upstreams to try; `None` when no rule matches
    /// (the request must then be refused).
    pub fn select(&self, facts: &RouteFacts<'_>) -> Option<Selection> {
        let route = self.routes.iter().find(|r| r.matcher.matches(facts))?;
        let chosen = match &route.target {
            Target::Single(id) => id.as_str(),
            Target::Split(arms) => pick_weighted(arms, &split_key(facts))?,
        };
        let mut upstreams = vec![chosen.to_owned()];
        for id in &route.failover {
            if !upstreams.iter().any(|u| u == id) {
                upstreams.push(id.clone());
            }
        }
        Some(Selection {
            route: route.name.clone(),
            upstreams,
        })
    }
}

impl Match {
    pub fn matches(&self, facts: &RouteFacts<'_>) -> bool {
        let merchant = self
            .merchants
            .as_ref()
            .is_none_or(|set| set.iter().any(|m| m == facts.merchant_id));
        let dialect = self
            .dialects
            .as_ref()
            .is_none_or(|set| set.contains(&facts.dialect));
        let currency = self
            .currencies
            .as_ref()
            .is_none_or(|set| set.iter().any(|c| c.eq_ignore_ascii_case(facts.currency)));
        let network = self.networks.as_ref().is_none_or(|set| {
            facts
                .network
                .is_some_and(|n| set.iter().any(|s| s.eq_ignore_ascii_case(n)))
        });
        let amount = self
            .amount
            .as_ref()
            .is_none_or(|range| range.contains(facts.amount));
        let header = self.header.as_ref().is_none_or(|h| {
            facts
                .headers
                .get_all(&h.name)
                .iter()
                .any(|v| v.as_bytes() == h.value.as_bytes())
        });
        merchant && dialect && currency && network && amount && header
    }

    /// Whether every request `later` could match is already matched by `self`, judged per
    /// condition (conservative: a `true` is always right, a `false` may miss a cross-condition
    /// implication such as a merchant that only speaks one dialect).
    pub fn covers(&self, later: &Match) -> bool {
        fn superset<T: PartialEq>(earlier: &Option<Vec<T>>, later: &Option<Vec<T>>) -> bool {
            match (earlier, later) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(e), Some(l)) => l.iter().all(|x| e.contains(x)),
            }
        }
        let amount = match (&self.amount, &later.amount) {
            (None, _) => true,
            (Some(e), None) => e.is_unbounded(),
            (Some(e), Some(l)) => e.covers(l),
        };
        let header = match (&self.header, &later.header) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(e), Some(l)) => e == l,
        };
        superset(&self.merchants, &later.merchants)
            && superset(&self.dialects, &later.dialects)
            && superset(&self.currencies, &later.currencies)
            && superset(&self.networks, &later.networks)
            && amount
            && header
    }
}

impl AmountRange {
    pub fn contains(&self, amount: &Amount) -> bool {
        let above = self
            .lower
            .as_ref()
            .is_none_or(|b| match amount.cmp(&b.amount) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => b.inclusive,
                std::cmp::Ordering::Less => false,
            });
        let below = self
            .upper
            .as_ref()
            .is_none_or(|b| match amount.cmp(&b.amount) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => b.inclusive,
                std::cmp::Ordering::Greater => false,
            });
        above && below
    }

    /// Whether no amount at all falls in the range.
    pub fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Some(lo), Some(hi)) => match lo.amount.cmp(&hi.amount) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => !(lo.inclusive && hi.inclusive),
                std::cmp::Ordering::Less => false,
            },
            _ => false,
        }
    }

    fn is_unbounded(&self) -> bool {
        self.lower.is_none() && self.upper.is_none()
    }

    /// Whether `self` contains every amount of `inner`.
    pub fn covers(&self, inner: &AmountRange) -> bool {
        if inner.is_empty() {
            return true;
        }
        let lower = match (&self.lower, &inner.lower) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(o), Some(i)) => match o.amount.cmp(&i.amount) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => o.inclusive || !i.inclusive,
                std::cmp::Ordering::Greater => false,
            },
        };
        let upper = match (&self.upper, &inner.upper) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(o), Some(i)) => match o.amount.cmp(&i.amount) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => o.inclusive || !i.inclusive,
                std::cmp::Ordering::Less => false,
            },
        };
        lower && upper
    }
}

/// The bytes a split hashes: merchant and order reference, so retries of one order stick; the
/// request id when there is no reference (nothing to stick to).
fn split_key(facts: &RouteFacts<'_>) -> Vec<u8> {
    match facts.order_ref {
        Some(order) => [facts.merchant_id.as_bytes(), b"\0", order.as_bytes()].concat(),
        None => facts.request_id.as_bytes().to_vec(),
    }
}

/// The bucket of `key` in `[0, total)`: the first 8 bytes of its SHA-256, scaled (not `%`, which
/// would bias low buckets when `total` does not divide 2^64).
pub fn split_bucket(key: &[u8], total: u64) -> u64 {
    let digest = Sha256::digest(key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let h = u64::from_be_bytes(first);
    ((u128::from(h) * u128::from(total)) >> 64) as u64
}

fn pick_weighted<'r>(arms: &'r [Weighted], key: &[u8]) -> Option<&'r str> {
    let total: u64 = arms.iter().map(|a| u64::from(a.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut bucket = split_bucket(key, total);
    for arm in arms {
        let w = u64::from(arm.weight);
        if bucket < w {
            return Some(&arm.upstream);
        }
        bucket -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    fn bound(s: &str, inclusive: bool) -> Option<Bound> {
        Some(Bound {
            amount: amount(s),
            inclusive,
        })
    }

    #[test]
    fn range_bounds_and_emptiness() {
        let r = AmountRange {
            lower: bound("10", true),
            upper: bound("100", false),
        };
        assert!(r.contains(&amount("10.00")));
        assert!(!r.contains(&amount("9.99")));
        assert!(r.contains(&amount("99.999")));
        assert!(!r.contains(&amount("100")));
        assert!(!r.is_empty());
        let point = AmountRange {
            lower: bound("5", true),
            upper: bound("5", true),
        };
        assert!(!point.is_empty());
        let open_point = AmountRange {
            lower: bound("5", false),
            upper: bound("5", true),
        };
        assert!(open_point.is_empty());
        assert!(r.covers(&AmountRange {
            lower: bound("10", false),
            upper: bound("100", false),
        }));
        assert!(!r.covers(&AmountRange {
            lower: bound("10", true),
            upper: bound("100", true),
        }));
        assert!(!r.covers(&AmountRange::default()));
    }

    #[test]
    fn split_with_zero_weights_selects_nothing() {
        let arms = [Weighted {
            upstream: "a".into(),
            weight: 0,
        }];
        assert_eq!(pick_weighted(&arms, b"k"), None);
        assert_eq!(pick_weighted(&[], b"k"), None);
    }

    #[test]
    fn bucket_is_stable_across_builds() {
        // Pinned so a change of hash or key layout (which would move live traffic) is noticed.
        assert_eq!(
            split_bucket(b"m\0order-1", 100),
            split_bucket(b"m\0order-1", 100)
        );
        let digest = Sha256::digest(b"abc");
        assert_eq!(
            hex::encode(&digest[..8]),
            "ba7816bf8f01cfea",
            "SHA-256 test vector"
        );
        let h = 0xba7816bf8f01cfeau64;
        assert_eq!(
            split_bucket(b"abc", 100),
            ((u128::from(h) * 100) >> 64) as u64
        );
    }
}
