//! The one error type of the request path. It says what went wrong and for whom; each dialect
//! renders it in its own envelope at the edge. The kind decides the HTTP status, the metric
//! label and whether failing over to another upstream is safe.

use std::fmt;

use crate::field::FieldRef;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Missing or unknown key, or a signature that does not verify.
    Unauthenticated,
    /// The body is not JSON, not UTF-8, or truncated.
    MalformedBody,
    /// A field is missing, of the wrong type, or out of its range.
    InvalidField,
    /// A replayed nonce (Apollo).
    Replayed,
    /// The body exceeds the configured limit.
    PayloadTooLarge,
    /// The client did not send its request in time.
    RequestTimeout,
    /// The request is valid but cannot be expressed in the target dialect.
    Untranslatable,
    /// No routing rule matches the request.
    NoRoute,
    /// Nothing is served at that path.
    NotFound,
    MethodNotAllowed,
    /// The upstream could not be reached (connection refused, reset before sending).
    UpstreamUnreachable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream answered with an error of its own; translated for the caller.
    UpstreamRejected,
    /// The upstream refused payglot's own credentials: a configuration problem, not the caller's.
    UpstreamAuth,
    /// The upstream answered something that is not its documented format.
    UpstreamInvalid,
    /// The upstream reported a payment status payglot does not know; never read as unpaid.
    UpstreamUnknownStatus,
    /// Every upstream of the route is in cool-down after repeated failures.
    UpstreamUnavailable,
    /// The payment index cannot be reached (PostgreSQL down); retry later.
    StoreUnavailable,
    /// A create with the same reference is being made right now; retry shortly.
    InProgress,
    Internal,
}

impl ErrorKind {
    /// A stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::MalformedBody => "malformed_body",
            Self::InvalidField => "invalid_field",
            Self::Replayed => "replayed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Untranslatable => "untranslatable",
            Self::NoRoute => "no_route",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamRejected => "upstream_rejected",
            Self::UpstreamAuth => "upstream_auth",
            Self::UpstreamInvalid => "upstream_invalid",
            Self::UpstreamUnknownStatus => "upstream_unknown_status",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::StoreUnavailable => "store_unavailable",
            Self::InProgress => "in_progress",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status most dialects use for this kind; dialects may adjust.
    pub fn default_status(self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::MalformedBody | Self::Replayed => 400,
            Self::InvalidField | Self::Untranslatable | Self::NoRoute => 422,
            Self::PayloadTooLarge => 413,
            Self::RequestTimeout => 408,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::UpstreamUnreachable
            | Self::UpstreamAuth
            | Self::UpstreamInvalid
            | Self::UpstreamUnknownStatus => 502,
            Self::UpstreamTimeout => 504,
            Self::UpstreamUnavailable | Self::StoreUnavailable => 503,
            Self::InProgress => 409,
            Self::UpstreamRejected => 502,
            Self::Internal => 500,
        }
    }

    /// Whether the caller (rather than payglot or the upstream) is at fault.
    pub fn is_client_error(self) -> bool {
        self.default_status() < 500
    }
}

/// Why a valid request cannot be expressed at its target: a stable code, the label of the
/// translation-refusal metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// Priced in one currency and paid in another, at a target that does not convert.
    FiatPricing,
    /// Priced in fiat at a target that only takes coins.
    FiatCurrency,
    /// A source-only field that changes what is paid.
    UnportableMoneyField,
    /// The target requires a network and the request leaves it open.
    NetworkRequired,
    /// The request's network has no name at the target.
    NetworkUnknown,
    /// The target requires a customer the request and the merchant profile lack.
    CustomerRequired,
    /// A setting that changes what counts as paid (partial payments off, a tolerance) that the
    /// target cannot honour.
    MoneySetting,
}

impl RefusalReason {
    pub fn label(self) -> &'static str {
        match self {
            Self::FiatPricing => "fiat_pricing",
            Self::FiatCurrency => "fiat_currency",
            Self::UnportableMoneyField => "unportable_money_field",
            Self::NetworkRequired => "network_required",
            Self::NetworkUnknown => "network_unknown",
            Self::CustomerRequired => "customer_required",
            Self::MoneySetting => "money_setting",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl PartialEq<&str> for RefusalReason {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}

/// A field-level problem, named in canonical terms where payglot knows the field, so the
/// caller's dialect can name it its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: FieldRef,
    /// A short rule name in the style of `validation.required`.
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub fields: Vec<FieldError>,
    /// For [`ErrorKind::UpstreamRejected`]: the status the upstream answered with, which the
    /// caller's dialect may reuse.
    pub upstream_status: Option<u16>,
    /// For [`ErrorKind::Untranslatable`]: a stable reason code for metrics.
    pub reason: Option<RefusalReason>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            fields: Vec::new(),
            upstream_status: None,
            reason: None,
        }
    }

    /// An invalid field, named in canonical terms.
    pub fn field(field: impl Into<FieldRef>, rule: &str, message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorKind::InvalidField,
            message: message.into(),
            fields: vec![FieldError {
                field: field.into(),
                rule: rule.to_owned(),
            }],
            upstream_status: None,
            reason: None,
        }
    }

    /// A valid request the target dialect cannot express; `reason` is a stable code.
    pub fn untranslatable(reason: RefusalReason, message: impl Into<String>) -> Self {
        ApiError {
            reason: Some(reason),
            ..Self::new(ErrorKind::Untranslatable, message)
        }
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

impl std::error::Error for ApiError {}
