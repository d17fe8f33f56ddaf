//! Network (chain) naming across dialects: one table, built in (see [`crate::facts::NETWORKS`])
//! and extendable by config, mapping each dialect's names to a canonical chain name.

use std::collections::BTreeMap;

use crate::dialect::Dialect;
use crate::facts;

/// One chain's names. The first name of each dialect is the one payglot sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNames {
    pub chain: String,
    pub names: BTreeMap<Dialect, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkTable {
    chains: Vec<ChainNames>,
}

impl Default for NetworkTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl NetworkTable {
    pub fn builtin() -> Self {
        let chains = facts::NETWORKS
            .iter()
            .map(|row| {
                let mut names = BTreeMap::new();
                for (dialect, list) in [
                    (Dialect::AlpPay, row.alppay),
                    (Dialect::Cryptomus, row.cryptomus),
                    (Dialect::Apollo, row.apollo),
                ] {
                    if !list.is_empty() {
                        names.insert(dialect, list.iter().map(|s| s.to_string()).collect());
                    }
                }
                ChainNames {
                    chain: row.chain.to_owned(),
                    names,
                }
            })
            .collect();
        NetworkTable { chains }
    }

    /// Adds or overrides a dialect's name for a chain; a new chain is created when unknown.
    /// The given name becomes the one payglot sends; earlier names stay accepted on input.
    pub fn set_name(&mut self, chain: &str, dialect: Dialect, name: &str) {
        let chain = chain.to_ascii_lowercase();
        let entry = match self.chains.iter_mut().position(|c| c.chain == chain) {
            Some(i) => &mut self.chains[i],
            None => {
                self.chains.push(ChainNames {
                    chain: chain.clone(),
                    names: BTreeMap::new(),
                });
                let last = self.chains.len() - 1;
                &mut self.chains[last]
            }
        };
        let list = entry.names.entry(dialect).or_default();
        list.retain(|n| !n.eq_ignore_ascii_case(name));
        list.insert(0, name.to_owned());
    }

    /// The canonical chain for a dialect's network name, case-insensitively.
    pub fn to_canonical(&self, dialect: Dialect, name: &str) -> Option<&str> {
        self.chains
            .iter()
            .find(|c| {
                c.names
                    .get(&dialect)
                    .is_some_and(|list| list.iter().any(|n| n.eq_ignore_ascii_case(name)))
            })
            .map(|c| c.chain.as_str())
    }

    /// [`Self::to_canonical`] for an optional name, owned: how answers carry the chain.
    pub fn canonical_owned(&self, dialect: Dialect, name: Option<&str>) -> Option<String> {
        name.and_then(|n| self.to_canonical(dialect, n))
            .map(str::to_owned)
    }

    /// The name a dialect uses for a canonical chain.
    pub fn from_canonical(&self, dialect: Dialect, chain: &str) -> Option<&str> {
        self.chains
            .iter()
            .find(|c| c.chain.eq_ignore_ascii_case(chain))
            .and_then(|c| c.names.get(&dialect))
            .and_then(|list| list.first())
            .map(String::as_str)
    }

    pub fn chains(&self) -> impl Iterator<Item = &ChainNames> {
        self.chains.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_names_both_ways() {
        let t = NetworkTable::builtin();
        assert_eq!(t.to_canonical(Dialect::Cryptomus, "ETH"), Some("ethereum"));
        assert_eq!(
            t.from_canonical(Dialect::Apollo, "ethereum"),
            Some("ethereum")
        );
        assert_eq!(t.to_canonical(Dialect::AlpPay, "TRC20"), Some("tron"));
        assert_eq!(t.from_canonical(Dialect::AlpPay, "tron"), Some("tron"));
        assert_eq!(t.from_canonical(Dialect::AlpPay, "bsc"), None);
        assert_eq!(
            t.from_canonical(Dialect::Cryptomus, "Ethereum"),
            Some("eth")
        );
        assert_eq!(t.to_canonical(Dialect::Apollo, "eth"), None);
    }

    #[test]
    fn config_extends_and_overrides() {
        let mut t = NetworkTable::builtin();
        t.set_name("bsc", Dialect::AlpPay, "bsc");
        t.set_name("base", Dialect::Cryptomus, "base");
        assert_eq!(t.from_canonical(Dialect::AlpPay, "bsc"), Some("bsc"));
        assert_eq!(t.to_canonical(Dialect::Cryptomus, "BASE"), Some("base"));
        t.set_name("tron", Dialect::AlpPay, "TRC20");
        assert_eq!(t.from_canonical(Dialect::AlpPay, "tron"), Some("TRC20"));
        assert_eq!(t.to_canonical(Dialect::AlpPay, "tron"), Some("tron"));
    }
}
