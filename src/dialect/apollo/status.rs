//! Apollo's order `status` ↔ canonical statuses, as data with their confidence (dialect
//! reference §3d, §5.5). `pending` alone does not say how much arrived, so its rules also look
//! at `received` and the transactions. Apollo calls none of its statuses final: a late payment
//! can still arrive after `processed`, `overpaid`, `partial` or `expired` `[docs]`, so payments
//! read from Apollo are never final ([`crate::model::Payment::is_final`]).

use crate::dialect::common::Arrived;
use crate::model::{Confidence, PaymentStatus};

/// The documented order statuses.
pub const DOCUMENTED: &[&str] = &[
    "init",
    "pending",
    "processed",
    "partial",
    "overpaid",
    "expired",
    "error",
];

/// One reading rule: `arrived: None` matches anything. The first match wins; words compare
/// ignoring case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    pub status: &'static str,
    pub arrived: Option<Arrived>,
    pub canonical: PaymentStatus,
    pub confidence: Confidence,
}

const fn rule(
    status: &'static str,
    arrived: Option<Arrived>,
    canonical: PaymentStatus,
    confidence: Confidence,
) -> StatusRule {
    StatusRule {
        status,
        arrived,
        canonical,
        confidence,
    }
}

use Confidence::{Docs, Inferred};
use PaymentStatus as S;

/// Order `status` (+ what arrived) → canonical. A fresh order may already say `pending`
/// (the create answer does), so `pending` means funds only once some show. Words not listed are
/// [`PaymentStatus::Unknown`].
pub const STATUS_IN: &[StatusRule] = &[
    rule("init", None, S::AwaitingPayment, Docs),
    rule("pending", Some(Arrived::Part), S::UnderpaidOpen, Inferred),
    rule("pending", Some(Arrived::All), S::Confirming, Inferred),
    rule("pending", Some(Arrived::Seen), S::Confirming, Inferred),
    rule("pending", Some(Arrived::Nothing), S::AwaitingPayment, Docs),
    rule("processed", None, S::Paid, Docs),
    rule("overpaid", None, S::Overpaid, Docs),
    rule("partial", None, S::UnderpaidClosed, Docs),
    rule("expired", None, S::Expired, Docs),
    rule("error", None, S::Failed, Docs),
];

/// Canonical → Apollo. An unpaid order reads `pending`, as Apollo's own create answer does.
/// Apollo has no AML or refund states: an AML hold reads as pending (not paid, not closed); a
/// refund, pending or done, is not the merchant's money and reads as `error`; a failed refund
/// left the money with the merchant, `processed` `[inferred]`.
pub const STATUS_OUT: &[(PaymentStatus, &str)] = &[
    (S::AwaitingPayment, "pending"),
    (S::Confirming, "pending"),
    (S::UnderpaidOpen, "pending"),
    (S::AmlHold, "pending"),
    (S::Paid, "processed"),
    (S::Overpaid, "overpaid"),
    (S::UnderpaidClosed, "partial"),
    (S::Expired, "expired"),
    (S::Failed, "error"),
    (S::RefundPending, "error"),
    (S::Refunded, "error"),
    (S::RefundFailed, "processed"),
];

/// Canonical statuses whose meaning Apollo cannot express beyond its finality, which it never
/// states: an AML hold reads as awaiting payment (it takes no payment), a refund under way as
/// closed.
pub const INEXPRESSIBLE: &[PaymentStatus] = &[S::AmlHold, S::RefundPending];

pub fn status_from_wire(status: &str, arrived: Arrived) -> PaymentStatus {
    STATUS_IN
        .iter()
        .find(|r| r.status.eq_ignore_ascii_case(status) && r.arrived.is_none_or(|a| a == arrived))
        .map_or(S::Unknown, |r| r.canonical)
}

pub fn status_to_wire(status: PaymentStatus) -> Option<&'static str> {
    STATUS_OUT
        .iter()
        .find(|(canonical, _)| *canonical == status)
        .map(|(_, word)| *word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_word_is_read() {
        for word in DOCUMENTED {
            for arrived in [Arrived::Nothing, Arrived::Seen, Arrived::Part, Arrived::All] {
                assert_ne!(status_from_wire(word, arrived), S::Unknown, "{word}");
            }
        }
        assert_eq!(status_from_wire("refunding", Arrived::Nothing), S::Unknown);
    }

    #[test]
    fn written_statuses_keep_their_meaning_when_read_back() {
        for status in PaymentStatus::ALL {
            let Some(word) = status_to_wire(status) else {
                assert_eq!(status, S::Unknown);
                continue;
            };
            let arrived = match status.funds() {
                crate::model::Funds::Partial => Arrived::Part,
                crate::model::Funds::Nothing => Arrived::Nothing,
                _ => Arrived::All,
            };
            let back = status_from_wire(word, arrived);
            if INEXPRESSIBLE.contains(&status) {
                continue;
            }
            assert_eq!(back.accepts_payment(), status.accepts_payment(), "{status} → {word}");
            assert_eq!(back.funds() == crate::model::Funds::Nothing, status.funds() == crate::model::Funds::Nothing || status.funds() == crate::model::Funds::Returned, "{status} → {word}");
        }
    }
}
