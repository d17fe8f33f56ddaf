//! Everything that should list every provider does: each test walks the registry
//! (`Dialect::ALL`) and fails naming the provider a table, a doc or a fixture set lacks. This is
//! what makes `docs/adding-a-provider.md` checkable: a new registry line without the rest fails
//! here.

use std::path::PathBuf;

use payglot::dialect::{Dialect, Operation};
use payglot::network::NetworkTable;
use payglot::sandbox::Provider;

fn read(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The README's inbound-endpoint table names every path each provider serves, on that
/// provider's row.
#[test]
fn readme_lists_every_inbound_path() {
    let readme = read("README.md");
    let table = readme
        .split("Inbound endpoints")
        .nth(1)
        .expect("README has the inbound endpoints table");
    for dialect in Dialect::ALL {
        let codec = dialect.codec();
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("| {} ", codec.title())))
            .unwrap_or_else(|| panic!("README has no endpoint row for {}", codec.title()));
        for inbound in codec.inbound() {
            assert!(
                row.contains(&format!("`{} {}`", inbound.method, inbound.path)),
                "README's {} row lacks {} {}",
                codec.title(),
                inbound.method,
                inbound.path
            );
        }
    }
}

/// docs/config.md documents each dialect's key in `networks` entries, and `dialect` values.
#[test]
fn config_reference_names_every_dialect() {
    let doc = read("docs/config.md");
    let networks = doc
        .split("## `networks`")
        .nth(1)
        .expect("docs/config.md has a networks section");
    for dialect in Dialect::ALL {
        assert!(
            networks.contains(&format!("| `{}` |", dialect.name())),
            "docs/config.md's networks table lacks the `{}` key",
            dialect.name()
        );
    }
}

/// Every provider has at least one create endpoint, names for some chains, and a key header
/// no other provider uses (the key header tells dialects apart on unknown paths).
#[test]
fn every_provider_is_complete() {
    let table = NetworkTable::builtin();
    for dialect in Dialect::ALL {
        let codec = dialect.codec();
        assert!(
            codec
                .inbound()
                .iter()
                .any(|i| i.operation == Operation::CreatePayment),
            "{dialect} serves no create endpoint"
        );
        assert!(
            table.chains().any(|c| c.names.contains_key(&dialect)),
            "{dialect} names no chain"
        );
        assert!(!codec.path_prefixes().is_empty(), "{dialect} has no prefix");
        for other in Dialect::ALL.into_iter().filter(|d| *d != dialect) {
            assert!(
                !codec
                    .key_header()
                    .eq_ignore_ascii_case(other.codec().key_header()),
                "{dialect} and {other} share a key header"
            );
        }
    }
}

/// Each ordered pair of providers has its golden cases (at least two; `tests/golden.rs` runs
/// them), so a new provider is translated to and from every other one.
#[test]
fn every_pair_has_golden_fixtures() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for from in Dialect::ALL {
        for to in Dialect::ALL {
            let dir = fixtures.join(format!("{from}-to-{to}"));
            let cases = std::fs::read_dir(&dir)
                .map(|entries| entries.filter_map(Result::ok).count())
                .unwrap_or(0);
            assert!(cases >= 2, "{} has {cases} golden cases", dir.display());
        }
    }
}

/// The sandbox emulates every provider (it is independent of the proxy's code, so it has its
/// own list; this keeps the two in step).
#[test]
fn the_sandbox_emulates_every_provider() {
    assert_eq!(Provider::ALL.len(), Dialect::ALL.len());
    for dialect in Dialect::ALL {
        assert!(
            Provider::ALL.iter().any(|p| p
                .path_prefix()
                .starts_with(&format!("/{}/", dialect.name()))),
            "the sandbox has no emulator under /{}/",
            dialect.name()
        );
    }
}

/// No code outside a provider's folder names it (the sandbox excepted: it is the independent
/// emulator of each provider). Unit tests at the end of a file may name any.
#[test]
fn no_provider_is_named_outside_its_folder() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "found only {} source files", files.len());
    for dialect in Dialect::ALL {
        let variant = format!("Dialect::{dialect:?}");
        let own = src.join("dialect").join(dialect.name());
        for file in &files {
            let relative = file.strip_prefix(&src).expect("under src");
            if file.starts_with(&own)
                || relative.starts_with("sandbox")
                || relative == std::path::Path::new("dialect/mod.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(file).expect("readable");
            let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
            assert!(
                !code.contains(&variant),
                "{} names {variant} outside src/dialect/{}/",
                relative.display(),
                dialect.name()
            );
        }
    }
}
