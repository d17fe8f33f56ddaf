//! Apollo's order `status` ↔ canonical statuses, as data with their confidence.

use crate::model::PaymentStatus;

/// One reading rule of Apollo's status table. `funds_received`: `None` matches either way.
/// Rules are tried in order and the first match wins; comparison ignores case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    pub status: &'static str,
    /// Whether the order shows funds (a transaction, or a non-zero `received`).
    pub funds_received: Option<bool>,
    pub canonical: PaymentStatus,
}

const fn rule(
    status: &'static str,
    funds_received: Option<bool>,
    canonical: PaymentStatus,
) -> StatusRule {
    StatusRule {
        status,
        funds_received,
        canonical,
    }
}

/// Apollo order `status` → canonical: `[docs]` words, `[inferred]` grouping (§3d, §5.5). A fresh
/// order may already say `pending`, so `pending` counts as confirming only once funds arrived.
/// Words not listed read as awaiting payment.
pub const STATUS_IN: &[StatusRule] = &[
    rule("init", None, PaymentStatus::AwaitingPayment),
    rule("pending", Some(true), PaymentStatus::Confirming),
    rule("pending", Some(false), PaymentStatus::AwaitingPayment),
    rule("processed", None, PaymentStatus::Paid),
    rule("overpaid", None, PaymentStatus::Overpaid),
    rule("partial", None, PaymentStatus::UnderpaidClosed),
    rule("expired", None, PaymentStatus::Expired),
    rule("error", None, PaymentStatus::Failed),
];

/// Canonical → Apollo. Apollo has no AML or refund states: an AML hold reads as pending,
/// refunds as processed `[inferred]`.
pub const STATUS_OUT: &[(PaymentStatus, &str)] = &[
    (PaymentStatus::AwaitingPayment, "init"),
    (PaymentStatus::Confirming, "pending"),
    (PaymentStatus::UnderpaidOpen, "pending"),
    (PaymentStatus::AmlHold, "pending"),
    (PaymentStatus::Paid, "processed"),
    (PaymentStatus::RefundPending, "processed"),
    (PaymentStatus::Refunded, "processed"),
    (PaymentStatus::RefundFailed, "processed"),
    (PaymentStatus::Overpaid, "overpaid"),
    (PaymentStatus::UnderpaidClosed, "partial"),
    (PaymentStatus::Expired, "expired"),
    (PaymentStatus::Failed, "error"),
];

pub fn status_from_wire(status: &str, received_something: bool) -> PaymentStatus {
    STATUS_IN
        .iter()
        .find(|r| {
            r.status.eq_ignore_ascii_case(status)
                && r.funds_received.is_none_or(|f| f == received_something)
        })
        .map_or(PaymentStatus::AwaitingPayment, |r| r.canonical)
}

pub fn status_to_wire(status: PaymentStatus) -> &'static str {
    STATUS_OUT
        .iter()
        .find(|(canonical, _)| *canonical == status)
        .map_or("init", |(_, word)| *word)
}
