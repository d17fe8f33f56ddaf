//! What the providers' conversions share: refusals that apply whatever the target, the
//! network, lifetime and reference rules, how a provider's error status is classified, and the
//! signature-header check and auth headers every dialect uses. Nothing here names a provider;
//! what differs is asked of the target's [`Codec`].

use http::HeaderMap;

use crate::error::{ApiError, ErrorKind, FieldError, RefusalReason};
use crate::model::{CreatePayment, Funds, PaymentStatus};
use crate::money::Quantity;
use crate::secret::Credentials;

use super::{Dialect, Note, NoteAction, RenderContext, encoding};
use crate::field::{Field, FieldRef, NoteField};

/// Refusals and drops that apply whatever the target, for a request crossing dialects:
/// fiat pricing at a target that does not convert, and source-only fields.
pub fn common_refusals(request: &CreatePayment, target: Dialect) -> Result<Vec<Note>, ApiError> {
    if !target.codec().capabilities().converts_fiat {
        if let Some(pay) = &request.pay_currency
            && !pay.eq_ignore_ascii_case(&request.currency)
        {
            return Err(ApiError::untranslatable(
                RefusalReason::FiatPricing,
                format!(
                    "the amount is priced in {} and paid in {pay}; {target} only takes amounts in \
                 the coin that is paid, so this invoice cannot be converted",
                    request.currency
                ),
            ));
        }
        if crate::facts::is_fiat(&request.currency) {
            return Err(ApiError::untranslatable(
                RefusalReason::FiatCurrency,
                format!(
                    "currency {} is fiat; {target} only takes amounts in a coin",
                    request.currency
                ),
            ));
        }
    }
    let mut notes = Vec::new();
    for field in &request.unportable {
        if field.affects_money {
            return Err(ApiError::untranslatable(
                RefusalReason::UnportableMoneyField,
                format!(
                    "{} has no counterpart at {target} and changes what is paid: {}",
                    field.field, field.why
                ),
            ));
        }
        notes.push(Note::new(
            NoteField::Named(field.field),
            NoteAction::Dropped,
            field.why,
        ));
    }
    Ok(notes)
}

/// Refuses settings that change what counts as paid when the target cannot honour them:
/// partial payments turned off where every order takes several transactions, and a tolerance
/// above what the target takes (`None`: it takes none). Values equal to a dialect's default
/// never get here (the parsers read them as absent).
pub fn refuse_money_settings(
    request: &CreatePayment,
    target: Dialect,
    honours_single_payment: bool,
    max_tolerance_percent: Option<u32>,
) -> Result<(), ApiError> {
    if request.allow_partial == Some(false) && !honours_single_payment {
        return Err(ApiError::untranslatable(
            RefusalReason::MoneySetting,
            format!(
                "the invoice must be paid in one transaction, and {target} accepts several \
                 transactions per payment; routed there it would count partial payments"
            ),
        ));
    }
    if let Some(tolerance) = &request.tolerance_percent {
        let value = tolerance
            .parse::<rust_decimal::Decimal>()
            .unwrap_or_default();
        let within = max_tolerance_percent.is_some_and(|max| value <= max.into());
        if !within {
            return Err(ApiError::untranslatable(
                RefusalReason::MoneySetting,
                match max_tolerance_percent {
                    Some(max) => format!(
                        "an underpayment tolerance of {tolerance}% is above {target}'s {max}%; \
                         it changes what counts as paid"
                    ),
                    None => format!(
                        "{target} has no underpayment tolerance, and {tolerance}% changes what \
                         counts as paid"
                    ),
                },
            ));
        }
    }
    Ok(())
}

/// The target's name for the request's chain. A request without one (Cryptomus lets the payer
/// choose) takes the merchant profile's default for the currency, or is refused.
pub fn target_network<'c>(
    request: &CreatePayment,
    target: Dialect,
    context: &RenderContext<'c>,
    notes: &mut Vec<Note>,
) -> Result<&'c str, ApiError> {
    let chain = match &request.network {
        Some(chain) => chain.as_str(),
        None => {
            let default = context
                .merchant
                .default_networks
                .get(&request.currency.to_ascii_uppercase())
                .ok_or_else(|| {
                    ApiError::untranslatable(
                        RefusalReason::NetworkRequired,
                        format!(
                            "{target} requires a network and the request leaves it to the \
                             payer; set one, or a default network for {} in the merchant profile",
                            request.currency
                        ),
                    )
                })?;
            notes.push(Note::new(
                Field::Network,
                NoteAction::Filled,
                format!(
                    "from the merchant profile's default network for {}",
                    request.currency
                ),
            ));
            default.as_str()
        }
    };
    context
        .networks
        .from_canonical(target, chain)
        .ok_or_else(|| {
            ApiError::untranslatable(
                RefusalReason::NetworkUnknown,
                format!(
                    "network {chain} has no known name at {target}; add one under `networks` \
                     in the config"
                ),
            )
        })
}

/// Clamps a lifetime into a target's range, noting it when it changed.
pub fn clamp_lifetime(
    lifetime: u64,
    (min, max): (u64, u64),
    target: Dialect,
    notes: &mut Vec<Note>,
) -> u64 {
    let clamped = lifetime.clamp(min, max);
    if clamped != lifetime {
        notes.push(Note::new(
            Field::Lifetime,
            NoteAction::Clamped,
            format!("{lifetime} s is outside {target}'s {min}–{max} s; sent {clamped} s"),
        ));
    }
    clamped
}

/// The order reference sent to a target that requires one: the merchant's, or, when its
/// dialect made it optional (AlpPay) and it is absent, one made from payglot's request id.
pub fn required_order_ref(
    request: &CreatePayment,
    context: &RenderContext<'_>,
    field: NoteField,
    notes: &mut Vec<Note>,
) -> String {
    match &request.order_ref {
        Some(r) => r.clone(),
        None => {
            let made = format!("pg-{}", context.request_id);
            notes.push(Note::new(
                field,
                NoteAction::Derived,
                format!("the request has no order reference; sent \"{made}\""),
            ));
            made
        }
    }
}

/// The HTTP status a caller gets for an error.
pub fn caller_status(error: &ApiError) -> u16 {
    match (error.kind, error.upstream_status) {
        (crate::error::ErrorKind::UpstreamRejected, Some(429)) => 429,
        (crate::error::ErrorKind::UpstreamRejected, Some(s)) if (400..500).contains(&s) => 422,
        (kind, _) => kind.default_status(),
    }
}

/// The most of a provider's error text passed on to the caller, in characters: enough to
/// explain, too little to carry a whole error page or a provider's internals.
pub const MAX_PROVIDER_TEXT_CHARS: usize = 200;

/// `text` cut to [`MAX_PROVIDER_TEXT_CHARS`] characters, marked when cut.
pub fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_PROVIDER_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Classifies a provider's error answer by its HTTP status.
pub fn upstream_status_error(
    provider: Dialect,
    status: u16,
    text: String,
    fields: Vec<FieldError>,
) -> ApiError {
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {}", capped(&text))
    };
    let (kind, message) = match status {
        401 | 403 => (
            ErrorKind::UpstreamAuth,
            format!(
                "the {provider} provider refused payglot's credentials (HTTP {status}){detail}"
            ),
        ),
        400..=499 => (
            ErrorKind::UpstreamRejected,
            format!("the {provider} provider refused the payment (HTTP {status}){detail}"),
        ),
        500..=599 => (
            ErrorKind::UpstreamRejected,
            format!("the {provider} provider failed (HTTP {status}){detail}"),
        ),
        _ => (
            ErrorKind::UpstreamInvalid,
            format!("the {provider} provider answered HTTP {status}{detail}"),
        ),
    };
    ApiError {
        kind,
        message,
        fields,
        upstream_status: Some(status),
        reason: None,
    }
}

/// Checks the signature carried in header `name` with `check` (over the raw body, in constant
/// time, by the caller's scheme); `covers` says what it is made from, for the error message.
pub fn verify_signature_header(
    headers: &HeaderMap,
    name: &str,
    covers: &str,
    check: impl FnOnce(&str) -> bool,
) -> Result<(), ApiError> {
    let Some(claimed) = headers.get(name).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(
            ErrorKind::Unauthenticated,
            format!("missing {name} header"),
        ));
    };
    if check(claimed) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Unauthenticated,
            format!("invalid signature: {name} does not match {covers}"),
        ))
    }
}

/// The two authentication headers every dialect sends: the key id and the signature.
pub fn auth_headers(
    key_header: &'static str,
    credentials: &Credentials,
    signature_header: &'static str,
    signature: String,
) -> Vec<(&'static str, String)> {
    vec![
        (key_header, credentials.key_id.clone()),
        (signature_header, signature),
    ]
}

/// How much of the amount an answer shows as arrived, for status words whose meaning depends on
/// it (AlpPay `OPEN`, Apollo `pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrived {
    /// No funds and no transaction.
    Nothing,
    /// A transaction, but no amount counted yet.
    Seen,
    /// Less than the amount.
    Part,
    /// The amount or more.
    All,
}

impl Arrived {
    pub fn of(amount: Option<&Quantity>, received: Option<&Quantity>, transactions: usize) -> Self {
        let received = received.map(Quantity::value).filter(|r| !r.is_zero());
        match (received, amount.map(Quantity::value)) {
            (Some(r), Some(a)) if r >= a => Arrived::All,
            (Some(_), _) => Arrived::Part,
            (None, _) if transactions > 0 => Arrived::Seen,
            (None, _) => Arrived::Nothing,
        }
    }
}

/// What a provider's answer says has arrived, held to its status: while the status says
/// nothing has arrived, nothing has, whatever the amount field holds (NearPayments fills
/// `payment_amount` with the amount due on an unpaid invoice).
pub fn received_for(status: PaymentStatus, received: Option<Quantity>) -> Option<Quantity> {
    match status.funds() {
        Funds::Nothing => None,
        _ => received,
    }
}

/// The longest payment id a lookup takes: the longest any provider documents (Cryptomus
/// `order_id`, 128).
pub const MAX_LOOKUP_ID: usize = 128;

/// Checks a payment id a merchant looks a payment up by: not empty, at most
/// [`MAX_LOOKUP_ID`] characters, no whitespace or control characters (no provider's ids have
/// them, and they would corrupt the upstream path or a log line). `name` is the field as the
/// caller's dialect spells it, for the message.
pub fn check_lookup_id(field: FieldRef, name: &str, value: &str) -> Result<(), ApiError> {
    check_lookup_text(
        field,
        name,
        value,
        MAX_LOOKUP_ID,
        "spaces or control characters",
        |c| c.is_whitespace() || c.is_control(),
    )
}

/// Checks a merchant's order reference a lookup asks by: as a create takes it (free text at
/// AlpPay and Apollo, so spaces are fine), not empty, no control characters.
pub fn check_lookup_reference(field: FieldRef, name: &str, value: &str) -> Result<(), ApiError> {
    check_lookup_text(
        field,
        name,
        value,
        crate::facts::MAX_TEXT_FIELD,
        "control characters",
        char::is_control,
    )
}

fn check_lookup_text(
    field: FieldRef,
    name: &str,
    value: &str,
    max: usize,
    refused_text: &str,
    refused: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    let problem = if value.trim().is_empty() {
        Some(("validation.required", format!("{name} must not be empty")))
    } else if encoding::longer_than(value, max) {
        Some((
            "validation.max.string",
            format!("{name} must not be longer than {max} characters"),
        ))
    } else if value.chars().any(refused) {
        Some((
            "validation.invalid",
            format!("{name} must not contain {refused_text}"),
        ))
    } else {
        None
    };
    match problem {
        Some((rule, message)) => Err(ApiError::field(field, rule, message)),
        None => Ok(()),
    }
}

/// Whether a provider's error text says the payment does not exist ("Payment not found",
/// "ORDER_NOT_FOUND: …").
pub fn says_not_found(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("not found") || lower.contains("not_found") || lower.contains("notfound")
}

/// The not-found error of a lookup answered by `provider`.
pub fn upstream_not_found(provider: Dialect, status: u16, text: &str) -> ApiError {
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {}", capped(text))
    };
    ApiError {
        upstream_status: Some(status),
        ..ApiError::new(
            ErrorKind::NotFound,
            format!("the {provider} provider has no such payment{detail}"),
        )
    }
}
