//! `payglot explain`: what the proxy would do with a request — which merchant, which rule,
//! which upstream, and the exact upstream request — without sending anything.

use std::fmt::Write as _;

use http::HeaderMap;
use time::OffsetDateTime;

use crate::config::{LoadedConfig, Merchant};
use crate::dialect::Dialect;
use crate::translate;

/// Explains a request in `dialect` with `headers` and `body`. The merchant is the one whose key
/// the headers carry, or the only merchant of that dialect when they carry none.
pub fn explain(
    config: &LoadedConfig,
    dialect: Dialect,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, String> {
    let merchant = pick_merchant(config, dialect, headers)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "merchant:  {} ({dialect}, key {})",
        merchant.id, merchant.credentials.key_id
    );
    let secret = merchant.credentials.secret.expose().as_bytes();
    // The proxy refuses a bad signature; explain reports it and goes on, so the rest of the
    // path can still be shown.
    let signature = dialect.codec().verify(headers, body, secret);
    let request = dialect
        .codec()
        .parse_create(body, &config.networks)
        .map_err(|e| format!("{out}refused:   {e}"))?;
    let _ = writeln!(
        out,
        "signature: {}",
        match signature {
            Ok(()) => "valid".to_owned(),
            Err(e) => format!(
                "not checked or invalid ({}); the proxy would refuse the request",
                e.message
            ),
        }
    );
    let request_id = uuid::Uuid::new_v4().to_string();
    let admitted = translate::Admitted {
        dialect,
        merchant,
        raw_body: body,
        request,
    };
    let Ok(selection) = admitted.route(config, headers, &request_id) else {
        let _ = writeln!(
            out,
            "rule:      none matches; the proxy would refuse the request"
        );
        return Ok(out);
    };
    let _ = writeln!(out, "rule:      {}", selection.route);
    let _ = writeln!(
        out,
        "upstreams: {} (first is used; the rest only if it cannot be connected to)",
        selection.upstreams.join(", ")
    );
    let Some(upstream) = selection
        .upstreams
        .first()
        .and_then(|id| config.upstream(id))
    else {
        return Err(format!("{out}the rule names no configured upstream"));
    };
    let relay = translate::relay_callback(
        &config.webhooks,
        admitted.merchant,
        &admitted.request,
        upstream,
        "<relay-token>",
    );
    let (plan, _) = admitted
        .plan_for(
            upstream,
            &config.networks,
            &request_id,
            OffsetDateTime::now_utc(),
            crate::proxy::index::shares_account(config, merchant, upstream),
            relay.as_deref(),
        )
        .map_err(|e| format!("{out}refused:   {e}"))?;
    for note in &plan.notes {
        let _ = writeln!(
            out,
            "note:      {} {}: {}",
            note.action.label(),
            note.field,
            note.detail
        );
    }
    let base = &upstream.base_url;
    let _ = writeln!(
        out,
        "request:   {} {}://{}{}",
        plan.upstream.method,
        base.scheme,
        base.host_header(),
        base.path(&plan.upstream.path)
    );
    for (name, value) in &plan.upstream.headers {
        let _ = writeln!(out, "           {name}: {value}");
    }
    let _ = writeln!(
        out,
        "body:      {}",
        String::from_utf8_lossy(&plan.upstream.body)
    );
    Ok(out)
}

fn pick_merchant<'c>(
    config: &'c LoadedConfig,
    dialect: Dialect,
    headers: &HeaderMap,
) -> Result<&'c Merchant, String> {
    if let Ok(key_id) = translate::caller_key_id(dialect, headers) {
        return translate::authenticate(config, dialect, headers)
            .map_err(|_| format!("no {dialect} merchant has the key {key_id}"));
    }
    let mut candidates = config.merchants().iter().filter(|m| m.dialect == dialect);
    match (candidates.next(), candidates.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(format!("no merchant speaks {dialect}")),
        (Some(_), Some(_)) => Err(format!(
            "several merchants speak {dialect}; name one with --header '{}: <key>'",
            dialect.codec().key_header()
        )),
    }
}
