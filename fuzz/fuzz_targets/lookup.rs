//! A merchant's lookup or list call: the first byte picks the dialect, the second the
//! operation; the rest is the path id, the query and the body, separated by NUL bytes (an
//! empty path id or query is "none"). A lookup that parses is planned towards every provider.
//! None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use payglot::dialect::{Call, Dialect, Lookup, Operation};
use payglot::secret::Credentials;
use payglot_fuzz::{dialect, fields};

const OPERATIONS: [Operation; 4] = [
    Operation::LookupPayment,
    Operation::ListPayments,
    Operation::CreatePayment,
    Operation::ListBalances,
];

fuzz_target!(|data: &[u8]| {
    let [selector, operation, rest @ ..] = data else {
        return;
    };
    let parts = fields(rest, 3);
    let call = Call {
        operation: OPERATIONS[usize::from(*operation) % OPERATIONS.len()],
        path_id: text(parts[0]),
        query: text(parts[1]),
        body: parts[2].unwrap_or_default(),
    };
    let codec = dialect(*selector).codec();
    let Ok(Lookup::One { key, .. }) = codec.parse_lookup(&call) else {
        return;
    };
    let credentials = Credentials::new("fuzz-key", "fuzz-secret");
    for provider in Dialect::ALL {
        let _ = provider.codec().plan_lookup(&key, &credentials, 1);
    }
});

/// A path id or query: none when empty or not UTF-8 (the glue never hands those over).
fn text(part: Option<&[u8]>) -> Option<&str> {
    part.filter(|p| !p.is_empty())
        .and_then(|p| std::str::from_utf8(p).ok())
}
