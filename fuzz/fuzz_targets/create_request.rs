//! A merchant's create request in any dialect: the first byte picks the dialect, the rest is
//! the body. A request that parses is then rendered towards every dialect and the rendering
//! parsed back by that dialect: none of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use payglot::dialect::Dialect;
use payglot::network::NetworkTable;
use payglot_fuzz::{context, dialect, merchant};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let networks = NetworkTable::builtin();
    let codec = dialect(selector).codec();
    let _ = codec.request_nonce(body);
    let Ok(request) = codec.parse_create(body, &networks) else {
        return;
    };
    let merchant = merchant();
    let context = context(&networks, &merchant);
    for target in Dialect::ALL {
        let target = target.codec();
        if let Ok(rendered) = target.render_create(&request, &context) {
            let _ = target.parse_create(&rendered.body, &networks);
            let _ = target.request_nonce(&rendered.body);
        }
    }
});
