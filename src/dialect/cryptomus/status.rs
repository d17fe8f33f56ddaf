//! Cryptomus's status words ↔ canonical statuses, as data with their confidence.

use crate::model::PaymentStatus;

/// Cryptomus `status` → canonical: `[docs]` words, `[inferred]` grouping (§2d, §5.5). Words
/// not listed (and `check`/`process`) read as awaiting payment; comparison ignores case.
pub const STATUS_IN: &[(&str, PaymentStatus)] = &[
    ("check", PaymentStatus::AwaitingPayment),
    ("process", PaymentStatus::AwaitingPayment),
    ("confirm_check", PaymentStatus::Confirming),
    ("wrong_amount_waiting", PaymentStatus::UnderpaidOpen),
    ("paid", PaymentStatus::Paid),
    ("paid_over", PaymentStatus::Overpaid),
    ("wrong_amount", PaymentStatus::UnderpaidClosed),
    ("cancel", PaymentStatus::Expired),
    ("fail", PaymentStatus::Failed),
    ("system_fail", PaymentStatus::Failed),
    ("locked", PaymentStatus::AmlHold),
    ("refund_process", PaymentStatus::RefundPending),
    ("refund_paid", PaymentStatus::Refunded),
    ("refund_fail", PaymentStatus::RefundFailed),
];

/// Canonical → the Cryptomus word payglot writes in both `status` and `payment_status`.
pub const STATUS_OUT: &[(PaymentStatus, &str)] = &[
    (PaymentStatus::AwaitingPayment, "check"),
    (PaymentStatus::Confirming, "confirm_check"),
    (PaymentStatus::UnderpaidOpen, "wrong_amount_waiting"),
    (PaymentStatus::Paid, "paid"),
    (PaymentStatus::Overpaid, "paid_over"),
    (PaymentStatus::UnderpaidClosed, "wrong_amount"),
    (PaymentStatus::Expired, "cancel"),
    (PaymentStatus::Failed, "fail"),
    (PaymentStatus::AmlHold, "locked"),
    (PaymentStatus::RefundPending, "refund_process"),
    (PaymentStatus::Refunded, "refund_paid"),
    (PaymentStatus::RefundFailed, "refund_fail"),
];

pub fn status_from_wire(status: &str) -> PaymentStatus {
    STATUS_IN
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(status))
        .map_or(PaymentStatus::AwaitingPayment, |(_, canonical)| *canonical)
}

pub fn status_to_wire(status: PaymentStatus) -> &'static str {
    STATUS_OUT
        .iter()
        .find(|(canonical, _)| *canonical == status)
        .map_or("check", |(_, word)| *word)
}
