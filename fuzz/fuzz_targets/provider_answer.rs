//! A provider's answer to a create or lookup call: the first byte picks the provider, the next
//! two are the HTTP status (big-endian), the rest is the body. An answer that parses is
//! rendered to every caller dialect as a create answer, a lookup answer and a list; an error is
//! rendered in every caller's envelope. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use payglot::dialect::{Dialect, Found};
use payglot::error::ApiError;
use payglot::model::Payment;
use payglot::network::NetworkTable;
use payglot_fuzz::{base_request, context, dialect, merchant};

fuzz_target!(|data: &[u8]| {
    let [selector, high, low, body @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*high, *low]);
    let networks = NetworkTable::builtin();
    let provider = dialect(*selector).codec();
    let created = provider.parse_create_response(status, body, &networks);
    let looked_up = provider.parse_lookup_response(status, body, &networks);
    for outcome in [created, looked_up] {
        render_everywhere(outcome, &networks);
    }
});

fn render_everywhere(outcome: Result<Payment, ApiError>, networks: &NetworkTable) {
    let merchant = merchant();
    let context = context(networks, &merchant);
    for caller in Dialect::ALL {
        let codec = caller.codec();
        match &outcome {
            Ok(payment) => {
                let Some(request) = base_request(caller, networks) else {
                    continue;
                };
                let _ = codec.render_create_response(payment, &request, &context);
                let found = Found {
                    payment: payment.clone(),
                    request,
                };
                let _ = codec.render_lookup_answer(&found, &context);
                let page = payglot::dialect::ListPage {
                    limit: 1,
                    offset: 0,
                    total: 1,
                };
                let _ = codec.render_list_answer(std::slice::from_ref(&found), &page, &context);
            }
            Err(error) => {
                let _ = codec.render_error(error, context.request_id);
            }
        }
    }
}
