//! The config loader on arbitrary text: `${VAR}` resolves for names of even length and is
//! missing otherwise, so both paths are reached. It must answer with a config or a list of
//! errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name.len() % 2 == 0).then(|| format!("value-of-{name}"));
    let _ = payglot::config::parse_str(text, &env);
    if let Err(errors) = payglot::config::load_str(text, &env) {
        // Every refusal names at least one problem.
        assert!(!errors.is_empty(), "a refused config with no error");
    }
});
