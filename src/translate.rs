//! The translation pipeline for a create-payment call, as plain functions: verify and parse the
//! merchant's request, write the upstream request, read the upstream answer, write the
//! merchant's answer. The proxy, the CLI and the benchmarks all go through here.

use http::HeaderMap;

use crate::dialect::{Dialect, Note, NoteAction, RenderContext};
use crate::error::{ApiError, ErrorKind};
use crate::model::{Callbacks, CreatePayment, Payment};
use crate::network::NetworkTable;
use crate::secret::Credentials;

/// A request ready to go upstream: `body` is exactly the bytes the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    /// The path below the upstream's base URL (e.g. `/payment`).
    pub path: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The upstream request plus every place it differs from a field-for-field copy.
#[derive(Debug, Clone)]
pub struct Plan {
    pub upstream: UpstreamRequest,
    pub notes: Vec<Note>,
}

/// The answer for the merchant, in its dialect.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// What the upstream said, in canonical terms; for same-dialect routes only the status is
    /// read, so this is `Ok(None)` on success there.
    pub outcome: Result<Option<Payment>, ApiError>,
}

/// The key id the caller presents in its dialect's key header.
pub fn caller_key_id(dialect: Dialect, headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = dialect.codec().key_header();
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unauthenticated,
                format!("missing {header} header"),
            )
        })
}

/// Verifies the caller's signature and reads its request.
pub fn read_request(
    dialect: Dialect,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
    networks: &NetworkTable,
) -> Result<CreatePayment, ApiError> {
    let codec = dialect.codec();
    codec.verify(headers, body, secret)?;
    codec.parse_create(body, networks)
}

/// What callback URLs go upstream: the one place that decides it.
///
/// Same dialect: the body passes untouched, so the merchant's URLs go as they are and the
/// provider's notifications reach the merchant in its own dialect. Across dialects the
/// provider would notify in a dialect the merchant cannot verify, so the URLs are withheld
/// (and noted) until payglot's webhook relay can receive and re-sign those notifications.
pub fn upstream_callbacks(
    request: &CreatePayment,
    from: Dialect,
    to: Dialect,
) -> (Callbacks, Option<Note>) {
    if from == to || request.callbacks.is_empty() {
        return (request.callbacks.clone(), None);
    }
    let note = Note {
        field: "callback".into(),
        action: NoteAction::Dropped,
        detail: format!(
            "{to} would send its notifications in its own dialect, which a {from} merchant cannot \
             verify; they are withheld until payglot relays webhooks"
        ),
    };
    (Callbacks::default(), Some(note))
}

/// Writes the upstream request. Same dialect: the merchant's raw body goes as it is and only
/// the signature changes; otherwise it is rendered from the canonical request.
pub fn plan_upstream(
    from: Dialect,
    to: Dialect,
    raw_body: &[u8],
    request: &CreatePayment,
    upstream_credentials: &Credentials,
    context: &RenderContext<'_>,
) -> Result<Plan, ApiError> {
    let target = to.codec();
    let (body, notes) = if from == to {
        (raw_body.to_vec(), Vec::new())
    } else {
        let (callbacks, callback_note) = upstream_callbacks(request, from, to);
        let outbound;
        let request = if callbacks == request.callbacks {
            request
        } else {
            outbound = CreatePayment {
                callbacks,
                ..request.clone()
            };
            &outbound
        };
        let rendered = target.render_create(request, context)?;
        let mut notes = rendered.notes;
        notes.extend(callback_note);
        (rendered.body, notes)
    };
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    headers.extend(target.sign(&body, upstream_credentials));
    Ok(Plan {
        upstream: UpstreamRequest {
            method: "POST",
            path: target.create_path(),
            headers,
            body,
        },
        notes,
    })
}

/// Writes the merchant's answer from the upstream's. Same dialect: status and body pass
/// untouched. Otherwise the answer is read, translated, and errors re-enveloped.
pub fn answer(
    from: Dialect,
    to: Dialect,
    upstream_status: u16,
    upstream_body: &[u8],
    request: &CreatePayment,
    context: &RenderContext<'_>,
) -> Answer {
    if from == to {
        let outcome = if (200..300).contains(&upstream_status) {
            Ok(None)
        } else {
            Err(ApiError {
                upstream_status: Some(upstream_status),
                ..ApiError::new(ErrorKind::UpstreamRejected, "passed through")
            })
        };
        return Answer {
            status: upstream_status,
            body: upstream_body.to_vec(),
            outcome,
        };
    }
    let caller = from.codec();
    match to
        .codec()
        .parse_create_response(upstream_status, upstream_body, context.networks)
    {
        Ok(payment) => {
            // Echo only the callbacks that were really registered upstream, so the merchant is
            // not told of notifications that will never come.
            let (sent, _) = upstream_callbacks(request, from, to);
            let echoed = CreatePayment {
                callbacks: sent,
                ..request.clone()
            };
            Answer {
                status: 200,
                body: caller.render_create_response(&payment, &echoed, context),
                outcome: Ok(Some(payment)),
            }
        }
        Err(error) => {
            let (status, body) = caller.render_error(&error, context.request_id);
            Answer {
                status,
                body,
                outcome: Err(error),
            }
        }
    }
}

/// Renders an error in the caller's dialect.
pub fn error_answer(dialect: Dialect, error: &ApiError, request_id: &str) -> (u16, Vec<u8>) {
    dialect.codec().render_error(error, request_id)
}
