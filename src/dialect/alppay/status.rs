//! AlpPay's `status` + `displayStatus` ↔ canonical statuses, as data with their confidence.

use crate::model::PaymentStatus;

/// One reading rule of AlpPay's status table: `None` matches any value. Rules are tried in
/// order and the first match wins; comparison ignores case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    pub status: Option<&'static str>,
    pub display_status: Option<&'static str>,
    pub canonical: PaymentStatus,
}

const fn rule(
    status: Option<&'static str>,
    display_status: Option<&'static str>,
    canonical: PaymentStatus,
) -> StatusRule {
    StatusRule {
        status,
        display_status,
        canonical,
    }
}

/// AlpPay `status` + `displayStatus` → canonical: `[docs]` values, `[inferred]` mapping (§5.5).
/// The last rule catches everything else (`NEW`, `OPEN`, unknown words) as awaiting payment.
pub const STATUS_IN: &[StatusRule] = &[
    rule(None, Some("AML_CHECK_DANGER"), PaymentStatus::AmlHold),
    rule(Some("AML_CHECK_FAILED"), None, PaymentStatus::Failed),
    rule(Some("CANCELLED"), None, PaymentStatus::Failed),
    rule(Some("COMPLETED"), Some("OVERPAID"), PaymentStatus::Overpaid),
    rule(Some("COMPLETED"), None, PaymentStatus::Paid),
    rule(
        Some("EXPIRED"),
        Some("UNDERPAID"),
        PaymentStatus::UnderpaidClosed,
    ),
    rule(Some("EXPIRED"), None, PaymentStatus::Expired),
    rule(None, Some("UNDERPAID"), PaymentStatus::UnderpaidOpen),
    rule(None, None, PaymentStatus::AwaitingPayment),
];

/// Canonical → AlpPay `status` and `displayStatus`. AlpPay has no failed or refunded state;
/// a failed payment reads as the old `CANCELLED`, refunds as completed `[inferred]`.
pub const STATUS_OUT: &[(PaymentStatus, &str, &str)] = &[
    (PaymentStatus::AwaitingPayment, "OPEN", "OPEN"),
    (PaymentStatus::Confirming, "OPEN", "OPEN"),
    (PaymentStatus::UnderpaidOpen, "OPEN", "UNDERPAID"),
    (PaymentStatus::AmlHold, "OPEN", "AML_CHECK_DANGER"),
    (PaymentStatus::Paid, "COMPLETED", "COMPLETED"),
    (PaymentStatus::RefundPending, "COMPLETED", "COMPLETED"),
    (PaymentStatus::Refunded, "COMPLETED", "COMPLETED"),
    (PaymentStatus::RefundFailed, "COMPLETED", "COMPLETED"),
    (PaymentStatus::Overpaid, "COMPLETED", "OVERPAID"),
    (PaymentStatus::UnderpaidClosed, "EXPIRED", "UNDERPAID"),
    (PaymentStatus::Expired, "EXPIRED", "EXPIRED"),
    (PaymentStatus::Failed, "CANCELLED", "EXPIRED"),
];

pub fn status_from_wire(status: &str, display: Option<&str>) -> PaymentStatus {
    let matches = |want: Option<&str>, got: Option<&str>| {
        want.is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
    };
    STATUS_IN
        .iter()
        .find(|r| matches(r.status, Some(status)) && matches(r.display_status, display))
        .map_or(PaymentStatus::AwaitingPayment, |r| r.canonical)
}

pub fn status_to_wire(status: PaymentStatus) -> (&'static str, &'static str) {
    STATUS_OUT
        .iter()
        .find(|(canonical, _, _)| *canonical == status)
        .map_or(("OPEN", "OPEN"), |(_, s, d)| (*s, *d))
}
