//! The provider dialects. Each provider is one folder (`alppay/`, `cryptomus/`, `apollo/`)
//! holding everything true of it: wire types, conversions to and from the canonical model, status
//! table, signing, inbound paths, network names, facts and capabilities. This file holds what
//! they share — the [`Codec`] trait they implement and the types it speaks — and **the
//! registry**, the one list that names them. Everything else (endpoint table, network table,
//! config validation, metrics, docs tables, the golden-fixture matrix) iterates over it.
//!
//! Adding a provider: its folder, plus one line in [`providers!`] below. See
//! `docs/adding-a-provider.md`.

pub mod common;
pub mod encoding;
pub mod network;

use std::fmt;
use std::str::FromStr;

use http::HeaderMap;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::model::{CreatePayment, MerchantProfile, Payment};
use crate::secret::Credentials;
use network::NetworkTable;

pub use crate::field::{Field, FieldRef, FieldTable, NoteField};
pub use encoding::{parse_json, text_field};

/// Declares the providers: each line is `Variant => folder::CodecType`. It makes the folder a
/// module, the [`Dialect`] variant, [`Dialect::ALL`] and [`Dialect::codec`].
macro_rules! providers {
    ($($variant:ident => $module:ident :: $codec:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// A provider API dialect: one per registered provider.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Dialect {
            $($variant),+
        }

        impl Dialect {
            /// Every registered dialect, in registry order.
            pub const ALL: [Dialect; [$(stringify!($variant)),+].len()] = [$(Dialect::$variant),+];

            /// Everything payglot knows of this dialect's provider.
            pub fn codec(self) -> &'static dyn Codec {
                match self {
                    $(Dialect::$variant => &$module::$codec),+
                }
            }

            /// This dialect's payment webhooks (its folder's `webhook.rs`).
            pub fn webhooks(self) -> &'static dyn Webhooks {
                match self {
                    $(Dialect::$variant => &$module::$codec),+
                }
            }
        }
    };
}

// The registry: one line per provider.
providers! {
    AlpPay => alppay::AlpPay,
    Cryptomus => cryptomus::Cryptomus,
    Apollo => apollo::Apollo,
}

impl Dialect {
    /// The lowercase name used in config, CLI and metrics.
    pub fn name(self) -> &'static str {
        self.codec().name()
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
        let wanted = s.to_ascii_lowercase();
        Dialect::ALL
            .into_iter()
            .find(|d| d.name() == wanted || d.codec().aliases().contains(&wanted.as_str()))
            .ok_or_else(|| format!("unknown dialect \"{wanted}\" (expected {})", name_list()))
    }
}

/// "a, b or c" over the registry.
fn name_list() -> String {
    let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
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
    /// A fresh, unique request nonce for dialects that sign one ([`Capabilities::body_nonce`]).
    pub nonce: u64,
    /// The request id payglot gave this request; used for references it must synthesise.
    pub request_id: &'a str,
    pub now: OffsetDateTime,
    /// Where payglot's webhook relay takes this payment's provider notifications, when the
    /// relay is on and the merchant has somewhere to be notified: the callback sent upstream
    /// across dialects (see [`crate::translate::upstream_callbacks`]).
    pub relay_callback: Option<&'a str>,
}

/// A translation step that dropped, filled, derived or clamped something: the record of every
/// place where the upstream request is not a field-for-field copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The field the note is about.
    pub field: NoteField,
    pub action: NoteAction,
    pub detail: String,
}

impl Note {
    pub fn new(field: impl Into<NoteField>, action: NoteAction, detail: impl Into<String>) -> Self {
        Note {
            field: field.into(),
            action,
            detail: detail.into(),
        }
    }
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

/// What a caller can ask of payglot at an inbound path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Create a payment: verified, translated, forwarded.
    CreatePayment,
    /// One payment's status, by the provider's id or the merchant's reference.
    LookupPayment,
    /// The merchant's payments, newest first.
    ListPayments,
    /// List the account's balances: answered by payglot itself (Apollo SDKs call it on start
    /// and give up without it).
    ListBalances,
}

/// One inbound path a dialect serves, below the listener's root (a trailing slash is accepted).
/// A path ending in `/{id}` takes one more segment: the payment id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    pub method: &'static str,
    pub path: &'static str,
    pub operation: Operation,
}

/// A call as it reached payglot, for the parts of the pipeline that read more than the body
/// (AlpPay's lookups are `GET`s keyed by path and query).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub operation: Operation,
    /// The id segment of a `/{id}` path.
    pub path_id: Option<&'a str>,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// What a lookup asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// The provider's payment id: the id the merchant was given.
    ProviderId(String),
    /// The merchant's own order reference.
    Reference(String),
}

/// A parsed lookup: one payment, or a page of the merchant's payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    One {
        key: LookupKey,
        /// The body's replay token (Apollo), checked like a create's.
        nonce: Option<String>,
    },
    List {
        limit: u32,
        offset: u32,
        nonce: Option<String>,
    },
}

/// Where a page of a list answer sits among all of the merchant's payments: what the list call
/// asked for ([`Lookup::List`]) and how many there are, so a dialect can write its paging
/// (Cryptomus cursors, Apollo `total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPage {
    pub limit: u32,
    pub offset: u32,
    pub total: u64,
}

/// A payment for a lookup answer: what the provider says, and the merchant's own request (its
/// reference, customer, URLs…) as recorded at create, so the answer reads as the merchant's.
#[derive(Debug, Clone)]
pub struct Found {
    pub payment: Payment,
    pub request: CreatePayment,
}

/// One chain's names in a dialect: the canonical chain, then the provider's names for it (the
/// first is what payglot sends; all are accepted on input, case-insensitively).
pub type NetworkNames = (&'static str, &'static [&'static str]);

/// What a provider can and cannot express, asked by the shared translation rules.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// Takes an amount priced in fiat and converts it into the coin the payer pays.
    pub converts_fiat: bool,
    /// Signs a fresh nonce inside every request body: payglot draws one per upstream request.
    pub body_nonce: bool,
    /// The invoice lifetime range (seconds) it takes on a canonical chain, or `None` when the
    /// provider takes no lifetime (it picks one itself).
    pub lifetime_bounds: fn(Option<&str>) -> Option<(u64, u64)>,
    /// Whether a payment can be looked up by the merchant's reference (not only by its id).
    pub lookup_by_reference: bool,
}

/// What is fixed about a provider, as data: its names, the paths it serves, its names for
/// chains and fields, its headers and what it can express.
#[derive(Debug)]
pub struct ProviderInfo {
    /// The lowercase name used in config, CLI and metrics.
    pub name: &'static str,
    /// The provider's own spelling, for docs and messages.
    pub title: &'static str,
    /// Other names config and CLI accept for it (e.g. a white-label of the same API).
    pub aliases: &'static [&'static str],
    /// The paths it serves inbound, one listener for every dialect.
    pub inbound: &'static [Inbound],
    /// Path prefixes that say a request is meant for this dialect even when nothing is served
    /// there, so a wrong path is answered in its envelope.
    pub path_prefixes: &'static [&'static str],
    /// Its names for the canonical chains.
    pub networks: &'static [NetworkNames],
    /// Its names for the canonical fields it names differently.
    pub fields: FieldTable,
    /// The header carrying the caller's key id (`API-KEY`, `merchant`, `x-api-public-key`).
    pub key_header: &'static str,
    /// The path of the create call below the provider's API base (e.g. `/payment`).
    pub create_path: &'static str,
    pub capabilities: Capabilities,
}

/// One provider dialect, in both roles: as the server a merchant talks to (verify, parse, answer)
/// and as the client payglot uses towards that provider (render, sign, read its answer).
pub trait Codec: Send + Sync {
    fn dialect(&self) -> Dialect;

    fn info(&self) -> &'static ProviderInfo;

    fn name(&self) -> &'static str {
        self.info().name
    }

    fn title(&self) -> &'static str {
        self.info().title
    }

    fn aliases(&self) -> &'static [&'static str] {
        self.info().aliases
    }

    fn inbound(&self) -> &'static [Inbound] {
        self.info().inbound
    }

    fn path_prefixes(&self) -> &'static [&'static str] {
        self.info().path_prefixes
    }

    fn networks(&self) -> &'static [NetworkNames] {
        self.info().networks
    }

    fn capabilities(&self) -> Capabilities {
        self.info().capabilities
    }

    fn fields(&self) -> FieldTable {
        self.info().fields
    }

    fn key_header(&self) -> &'static str {
        self.info().key_header
    }

    fn create_path(&self) -> &'static str {
        self.info().create_path
    }

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
    /// translated into canonical terms.
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

    /// Checks the caller's signature for one operation: by default the body's, as for a create
    /// (a dialect whose lookups are unsigned `GET`s overrides it).
    fn verify_call(
        &self,
        call: &Call<'_>,
        headers: &HeaderMap,
        secret: &[u8],
    ) -> Result<(), ApiError> {
        self.verify(headers, call.body, secret)
    }

    /// Reads a lookup or list call in this dialect.
    ///
    /// The answer's shape follows the call's [`Operation`], not the parsed [`Lookup`]: a
    /// `ListPayments` call is always answered with [`Codec::render_list_answer`], even when it
    /// names one payment (AlpPay `GET /v2/payment?invoices=<ref>` parses to `Lookup::One`), and
    /// a payment not found there is an empty list, not a not-found error.
    fn parse_lookup(&self, call: &Call<'_>) -> Result<Lookup, ApiError> {
        let _ = call;
        Err(ApiError::new(
            crate::error::ErrorKind::NotFound,
            format!("{} lookups are not served", self.name()),
        ))
    }

    /// The upstream request that looks a payment up at this provider, signed; `None` when the
    /// provider cannot look up by that key (Apollo by reference).
    fn plan_lookup(
        &self,
        key: &LookupKey,
        credentials: &Credentials,
        nonce: u64,
    ) -> Option<crate::translate::UpstreamRequest> {
        let _ = (key, credentials, nonce);
        None
    }

    /// Reads this provider's answer to a lookup: the payment, or its error in canonical terms
    /// (a not-found answer as [`crate::error::ErrorKind::NotFound`]).
    fn parse_lookup_response(
        &self,
        status: u16,
        body: &[u8],
        networks: &NetworkTable,
    ) -> Result<Payment, ApiError> {
        self.parse_create_response(status, body, networks)
    }

    /// Writes the answer a merchant of this dialect expects for a lookup of one payment (the
    /// dialect's get shape; by default the create shape).
    fn render_lookup_answer(&self, found: &Found, context: &RenderContext<'_>) -> Vec<u8> {
        self.render_create_response(&found.payment, &found.request, context)
    }

    /// Writes the answer for a list call: `found` is the page `page` describes.
    fn render_list_answer(
        &self,
        found: &[Found],
        page: &ListPage,
        context: &RenderContext<'_>,
    ) -> Vec<u8> {
        let _ = page;
        let items: Vec<serde_json::Value> = found
            .iter()
            .filter_map(|f| serde_json::from_slice(&self.render_lookup_answer(f, context)).ok())
            .collect();
        serde_json::Value::Array(items).to_string().into_bytes()
    }

    /// The form a reference takes when sent to this provider (Cryptomus: a legal `order_id`).
    fn upstream_reference(&self, reference: &str) -> String {
        reference.to_owned()
    }

    /// The merchant's own body with its order reference replaced by `request`'s (for a
    /// same-dialect route to an account other merchants share). By default only that one
    /// top-level field changes, every other member kept in place and as sent (numbers too); a
    /// dialect whose provider checks field order re-renders.
    fn with_reference(
        &self,
        raw_body: &[u8],
        request: &CreatePayment,
        context: &RenderContext<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        let _ = context;
        let Some(reference) = &request.order_ref else {
            return Ok(raw_body.to_vec());
        };
        encoding::set_string_members(raw_body, &[(self.field_name(Field::OrderRef), reference)])
            .map_err(|e| {
                ApiError::new(
                    crate::error::ErrorKind::MalformedBody,
                    format!("the body is not a JSON object: {e}"),
                )
            })
    }

    /// The merchant's own body with its callback URLs set to `callbacks`' (the relay's, for a
    /// same-dialect route), every other member kept in place and as sent. A dialect without
    /// per-payment callback fields (AlpPay: one URL per account) keeps the body as it is.
    fn with_callbacks(
        &self,
        raw_body: &[u8],
        callbacks: &crate::model::Callbacks,
    ) -> Result<Vec<u8>, ApiError> {
        let set: Vec<(&str, &str)> = self
            .callback_fields(callbacks)
            .into_iter()
            .filter_map(|(name, url)| Some((name, url?)))
            .collect();
        if set.is_empty() {
            return Ok(raw_body.to_vec());
        }
        encoding::set_string_members(raw_body, &set).map_err(|e| {
            ApiError::new(
                crate::error::ErrorKind::MalformedBody,
                format!("the body is not a JSON object: {e}"),
            )
        })
    }

    /// This dialect's per-payment callback fields, each with its URL in `callbacks`.
    fn callback_fields<'c>(
        &self,
        callbacks: &'c crate::model::Callbacks,
    ) -> Vec<(&'static str, Option<&'c str>)> {
        [
            (Field::Callback, &callbacks.success),
            (Field::FailureCallback, &callbacks.failure),
        ]
        .into_iter()
        .filter_map(|(field, url)| {
            self.fields()
                .iter()
                .find(|(canonical, _)| *canonical == field)
                .map(|(_, wire)| (*wire, url.as_deref()))
        })
        .collect()
    }

    /// The request's replay token, for dialects that sign one into the body; `Ok(None)` for
    /// dialects without one.
    fn request_nonce(&self, _body: &[u8]) -> Result<Option<String>, ApiError> {
        Ok(None)
    }

    /// The answer to an operation payglot serves itself rather than forwarding, for a merchant.
    fn answer_locally(&self, _operation: Operation, _merchant_id: &str) -> Option<Vec<u8>> {
        None
    }

    /// This dialect's name for a canonical field.
    fn field_name(&self, field: Field) -> &'static str {
        self.fields()
            .iter()
            .find(|(canonical, _)| *canonical == field)
            .map_or(field.label(), |(_, wire)| wire)
    }

    /// How a field this dialect names `name` is known canonically: by its table, else by a
    /// canonical label it shares, else as the dialect's own name.
    fn canonical_field(&self, name: &str) -> FieldRef {
        self.fields()
            .iter()
            .find(|(_, wire)| *wire == name)
            .map(|(canonical, _)| *canonical)
            .or_else(|| Field::from_label(name))
            .map_or_else(|| FieldRef::Wire(name.to_owned()), FieldRef::Canonical)
    }

    /// How a field named in an error reads in this dialect.
    fn name_of(&self, field: &FieldRef) -> String {
        match field {
            FieldRef::Canonical(f) => self.field_name(*f).to_owned(),
            FieldRef::Wire(name) => name.clone(),
        }
    }
}

/// A provider's payment webhooks, in both roles: as payglot's relay receives them from the
/// provider, and as a merchant of this dialect expects them. Each provider implements it in its
/// folder's `webhook.rs`.
pub trait Webhooks: Send + Sync {
    /// Checks a payment webhook the provider sent, with payglot's `credentials` there.
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        credentials: &Credentials,
    ) -> WebhookAuth;

    /// Whether the relay fetches the payment back from the provider before acting, even on a
    /// webhook whose signature verified (its scheme is not documented by the provider).
    fn webhook_fetch_back(&self) -> bool;

    /// Whether the provider sends every payment's webhooks to one URL per account (set at the
    /// provider) rather than to a URL given with each payment: the relay then takes them at
    /// `/webhooks/<provider>/<upstream id>` and finds the payment by its id.
    fn account_level_webhooks(&self) -> bool;

    /// Reads a payment webhook into the canonical payment.
    fn parse_webhook(&self, body: &[u8], networks: &NetworkTable) -> Result<Payment, ApiError>;

    /// Writes the webhook a merchant of this dialect expects for `payment`, signed with the
    /// merchant's `credentials`. `request` is the merchant's own create request.
    fn render_webhook(
        &self,
        payment: &Payment,
        request: &CreatePayment,
        credentials: &Credentials,
        context: &RenderContext<'_>,
    ) -> OutgoingWebhook;
}

/// What a provider webhook's signature says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAuth {
    /// Signed, and the signature matches.
    Verified,
    /// Nothing verifiable: only the ids may be trusted, the payment must be fetched back.
    Unsigned,
    /// A signature that does not match, or a missing one where the provider always signs.
    Forged,
}

/// A webhook to send a merchant: the exact body and the headers that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingWebhook {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_through_the_registry() {
        for dialect in Dialect::ALL {
            assert_eq!(dialect.codec().dialect(), dialect);
            assert_eq!(dialect.name().parse::<Dialect>(), Ok(dialect));
            for alias in dialect.codec().aliases() {
                assert_eq!(alias.parse::<Dialect>(), Ok(dialect));
            }
        }
        assert!("nope".parse::<Dialect>().is_err());
    }

    #[test]
    fn inbound_paths_are_unique_across_dialects() {
        let mut paths: Vec<(&str, &str)> = Dialect::ALL
            .iter()
            .flat_map(|d| d.codec().inbound().iter().map(|i| (i.method, i.path)))
            .collect();
        let total = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(
            paths.len(),
            total,
            "two endpoints claim one method and path"
        );
    }
}
