//! The three provider dialects. Each module holds that provider's wire types, its conversions to
//! and from the canonical model, its status table and its signing; this file holds what they
//! share and the one registry that names them. Adding a provider touches its own folder, the
//! [`Dialect`] enum and [`Dialect::codec`].

pub mod alppay;
pub mod apollo;
pub mod cryptomus;
mod wire;

use std::fmt;
use std::str::FromStr;

use http::HeaderMap;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::model::{CreatePayment, MerchantProfile, Payment};
use crate::network::NetworkTable;
use crate::secret::Credentials;

pub use wire::{parse_json, text_field};

/// A provider API dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    AlpPay,
    Cryptomus,
    Apollo,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::AlpPay, Dialect::Cryptomus, Dialect::Apollo];

    /// The lowercase name used in config, CLI and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::AlpPay => "alppay",
            Dialect::Cryptomus => "cryptomus",
            Dialect::Apollo => "apollo",
        }
    }

    /// This dialect's canonical ↔ wire field names, for the names that differ; every other
    /// field is named alike on both sides.
    pub fn field_table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::AlpPay => alppay::FIELDS,
            Dialect::Cryptomus => cryptomus::FIELDS,
            Dialect::Apollo => apollo::FIELDS,
        }
    }

    /// The codec that speaks this dialect.
    pub fn codec(self) -> &'static dyn Codec {
        match self {
            Dialect::AlpPay => &alppay::AlpPay,
            Dialect::Cryptomus => &cryptomus::Cryptomus,
            Dialect::Apollo => &apollo::Apollo,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "alppay" => Ok(Dialect::AlpPay),
            // NearPayments serves the Cryptomus dialect.
            "cryptomus" | "nearpayments" => Ok(Dialect::Cryptomus),
            "apollo" | "apollopayment" => Ok(Dialect::Apollo),
            other => Err(format!(
                "unknown dialect \"{other}\" (expected alppay, cryptomus or apollo)"
            )),
        }
    }
}

impl serde::Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Dialect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Everything a codec needs besides the request itself to write an upstream request or an
/// answer. Pure data: the glue fills it in.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    pub networks: &'a NetworkTable,
    /// The merchant the request came from.
    pub merchant: &'a MerchantProfile,
    /// A fresh, unique request nonce for dialects that need one (Apollo).
    pub nonce: u64,
    /// The request id payglot gave this request; used for references it must synthesise.
    pub request_id: &'a str,
    pub now: OffsetDateTime,
}

/// A translation step that dropped, filled, derived or clamped something: the record of every
/// place where the upstream request is not a field-for-field copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The field in the source or target dialect the note is about.
    pub field: String,
    pub action: NoteAction,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAction {
    Dropped,
    Filled,
    Derived,
    Clamped,
}

impl NoteAction {
    pub fn label(self) -> &'static str {
        match self {
            NoteAction::Dropped => "dropped",
            NoteAction::Filled => "filled",
            NoteAction::Derived => "derived",
            NoteAction::Clamped => "clamped",
        }
    }
}

/// A rendered request body plus the notes made while rendering it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Vec<u8>,
    pub notes: Vec<Note>,
}

/// One provider dialect, in both roles: as the server a merchant talks to (verify, parse, answer)
/// and as the client payglot uses towards that provider (render, sign, read its answer).
pub trait Codec: Send + Sync {
    fn dialect(&self) -> Dialect;

    /// The header carrying the caller's key id (`API-KEY`, `merchant`, `x-api-public-key`).
    fn key_header(&self) -> &'static str;

    /// The path of the create call below the provider's API base (e.g. `/payment`).
    fn create_path(&self) -> &'static str;

    /// Checks the request signature over the raw body with the caller's secret.
    fn verify(&self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError>;

    /// The authentication headers for a request whose body is exactly `body`.
    fn sign(&self, body: &[u8], credentials: &Credentials) -> Vec<(&'static str, String)>;

    /// Reads a create-payment request in this dialect.
    fn parse_create(&self, body: &[u8], networks: &NetworkTable)
    -> Result<CreatePayment, ApiError>;

    /// Writes a create-payment request in this dialect, compact, in the documented field order.
    fn render_create(
        &self,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Rendered, ApiError>;

    /// Reads this provider's answer to a create call: the payment, or the provider's error
    /// translated into canonical terms (`Err` of the inner result).
    fn parse_create_response(
        &self,
        status: u16,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<Payment, ApiError>;

    /// Writes the answer a merchant of this dialect expects for its create call. `request` is
    /// what the merchant sent, for the fields it expects echoed back.
    fn render_create_response(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Vec<u8>;

    /// Writes an error in this dialect's envelope; returns the HTTP status and body.
    fn render_error(&self, error: &ApiError, request_id: &str) -> (u16, Vec<u8>);

    /// This dialect's name for a canonical field, for error messages.
    fn field_name<'f>(&self, canonical: &'f str) -> &'f str;

    /// The canonical name of one of this dialect's request fields.
    fn canonical_field<'f>(&self, field: &'f str) -> &'f str;
}

/// Refusals and drops that apply whatever the target, for a request crossing dialects:
/// fiat pricing only Cryptomus converts, and source-only fields.
fn common_refusals(request: &CreatePayment, target: Dialect) -> Result<Vec<Note>, ApiError> {
    let converts_fiat = target == Dialect::Cryptomus;
    if !converts_fiat {
        if let Some(pay) = &request.pay_currency
            && !pay.eq_ignore_ascii_case(&request.currency)
        {
            return Err(ApiError::untranslatable(
                "fiat_pricing",
                format!(
                    "the amount is priced in {} and paid in {pay}; {target} only takes amounts in \
                 the coin that is paid, so this invoice cannot be converted",
                    request.currency
                ),
            ));
        }
        if crate::facts::is_fiat(&request.currency) {
            return Err(ApiError::untranslatable(
                "fiat_currency",
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
                "unportable_money_field",
                format!(
                    "{} has no counterpart at {target} and changes what is paid: {}",
                    field.field, field.why
                ),
            ));
        }
        notes.push(Note {
            field: field.field.into(),
            action: NoteAction::Dropped,
            detail: field.why.into(),
        });
    }
    Ok(notes)
}

/// The target's name for the request's chain. A request without one (Cryptomus lets the payer
/// choose) takes the merchant profile's default for the currency, or is refused.
fn target_network<'c>(
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
                        "network_required",
                        format!(
                            "{target} requires a network and the request leaves it to the \
                             payer; set one, or a default network for {} in the merchant profile",
                            request.currency
                        ),
                    )
                })?;
            notes.push(Note {
                field: "network".into(),
                action: NoteAction::Filled,
                detail: format!(
                    "from the merchant profile's default network for {}",
                    request.currency
                ),
            });
            default.as_str()
        }
    };
    context
        .networks
        .from_canonical(target, chain)
        .ok_or_else(|| {
            ApiError::untranslatable(
                "network_unknown",
                format!(
                    "network {chain} has no known name at {target}; add one under `networks` \
                     in the config"
                ),
            )
        })
}

/// Clamps a lifetime into a target's range, noting it when it changed.
fn clamp_lifetime(
    lifetime: u64,
    (min, max): (u64, u64),
    target: Dialect,
    notes: &mut Vec<Note>,
) -> u64 {
    let clamped = lifetime.clamp(min, max);
    if clamped != lifetime {
        notes.push(Note {
            field: "lifetime".into(),
            action: NoteAction::Clamped,
            detail: format!("{lifetime} s is outside {target}'s {min}–{max} s; sent {clamped} s"),
        });
    }
    clamped
}

/// The order reference sent to a target that requires one: the merchant's, or, when its
/// dialect made it optional (AlpPay) and it is absent, one made from payglot's request id.
fn required_order_ref(
    request: &CreatePayment,
    context: &RenderContext<'_>,
    field: &str,
    notes: &mut Vec<Note>,
) -> String {
    match &request.order_ref {
        Some(r) => r.clone(),
        None => {
            let made = format!("pg-{}", context.request_id);
            notes.push(Note {
                field: field.into(),
                action: NoteAction::Derived,
                detail: format!("the request has no order reference; sent \"{made}\""),
            });
            made
        }
    }
}

/// The HTTP status a caller gets for an error.
fn caller_status(error: &ApiError) -> u16 {
    match (error.kind, error.upstream_status) {
        (crate::error::ErrorKind::UpstreamRejected, Some(429)) => 429,
        (crate::error::ErrorKind::UpstreamRejected, Some(s)) if (400..500).contains(&s) => 422,
        (kind, _) => kind.default_status(),
    }
}

/// Looks a field up in a dialect's canonical ↔ wire table; unknown names pass unchanged.
fn lookup_field<'f>(
    table: &[(&'static str, &'static str)],
    name: &'f str,
    to_wire: bool,
) -> &'f str {
    table
        .iter()
        .find(|(canonical, wire)| {
            if to_wire {
                *canonical == name
            } else {
                *wire == name
            }
        })
        .map(|(canonical, wire)| if to_wire { *wire } else { *canonical })
        .unwrap_or(name)
}

/// Classifies a provider's error answer by its HTTP status.
fn upstream_status_error(
    provider: Dialect,
    status: u16,
    text: String,
    fields: Vec<crate::error::FieldError>,
) -> ApiError {
    use crate::error::ErrorKind;
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
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
fn verify_signature_header(
    headers: &HeaderMap,
    name: &str,
    covers: &str,
    check: impl FnOnce(&str) -> bool,
) -> Result<(), ApiError> {
    use crate::error::ErrorKind;
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
fn auth_headers(
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
