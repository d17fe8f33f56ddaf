//! Network (chain) naming across dialects: one table, built from every provider's own names
//! (`dialect/<provider>/facts.rs`) and extendable by config, mapping each dialect's names to a
//! canonical chain name.

use std::collections::BTreeMap;

use super::Dialect;

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
    /// The names every registered provider declares, chains in the order first seen.
    pub fn builtin() -> Self {
        let mut table = NetworkTable { chains: Vec::new() };
        for dialect in Dialect::ALL {
            for (chain, names) in dialect.codec().networks() {
                let entry = table.entry(chain);
                entry
                    .names
                    .insert(dialect, names.iter().map(|name| name.to_string()).collect());
            }
        }
        table
    }

    fn entry(&mut self, chain: &str) -> &mut ChainNames {
        let chain = chain.to_ascii_lowercase();
        let index = match self.chains.iter().position(|c| c.chain == chain) {
            Some(i) => i,
            None => {
                self.chains.push(ChainNames {
                    chain,
                    names: BTreeMap::new(),
                });
                self.chains.len() - 1
            }
        };
        &mut self.chains[index]
    }

    /// Adds or overrides a dialect's name for a chain; a new chain is created when unknown.
    /// The given name becomes the one payglot sends; earlier names stay accepted on input.
    pub fn set_name(&mut self, chain: &str, dialect: Dialect, name: &str) {
        let list = self.entry(chain).names.entry(dialect).or_default();
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
