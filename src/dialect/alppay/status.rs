//! AlpPay's `status` + `displayStatus` ↔ canonical statuses, as data with their confidence
//! (dialect reference §1d, §5.5). `OPEN` alone does not say whether anything arrived, so its
//! rules also look at what the payment shows as received.

use crate::dialect::common::Arrived;
use crate::model::{Confidence, PaymentStatus};

/// The documented `status` words (the last two from an older list doc).
pub const STATUS_WORDS: &[&str] = &["OPEN", "EXPIRED", "COMPLETED", "CANCELLED", "AML_CHECK_FAILED"];

/// The documented `displayStatus` words.
pub const DISPLAY_WORDS: &[&str] = &[
    "NEW",
    "OPEN",
    "COMPLETED",
    "EXPIRED",
    "OVERPAID",
    "UNDERPAID",
    "AML_CHECK_DANGER",
];

/// One reading rule: `None` matches anything. Rules are tried in order and the first match
/// wins; words compare ignoring case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    pub status: Option<&'static str>,
    pub display_status: Option<&'static str>,
    pub arrived: Option<Arrived>,
    pub canonical: PaymentStatus,
    pub confidence: Confidence,
}

const fn rule(
    status: Option<&'static str>,
    display_status: Option<&'static str>,
    arrived: Option<Arrived>,
    canonical: PaymentStatus,
    confidence: Confidence,
) -> StatusRule {
    StatusRule {
        status,
        display_status,
        arrived,
        canonical,
        confidence,
    }
}

use Confidence::{Docs, Inferred};
use PaymentStatus as S;

/// `status` + `displayStatus` (+ what arrived) → canonical. A `status` word not in
/// [`STATUS_WORDS`] is [`PaymentStatus::Unknown`], never "awaiting".
pub const STATUS_IN: &[StatusRule] = &[
    rule(None, Some("AML_CHECK_DANGER"), None, S::AmlHold, Inferred),
    rule(Some("AML_CHECK_FAILED"), None, None, S::Failed, Inferred),
    rule(Some("CANCELLED"), None, None, S::Failed, Inferred),
    rule(Some("COMPLETED"), Some("OVERPAID"), None, S::Overpaid, Docs),
    rule(Some("COMPLETED"), Some("UNDERPAID"), None, S::UnderpaidClosed, Inferred),
    rule(Some("COMPLETED"), None, None, S::Paid, Docs),
    rule(Some("EXPIRED"), Some("UNDERPAID"), None, S::UnderpaidClosed, Inferred),
    rule(Some("EXPIRED"), None, Some(Arrived::Part), S::UnderpaidClosed, Inferred),
    rule(Some("EXPIRED"), None, None, S::Expired, Docs),
    rule(Some("OPEN"), Some("UNDERPAID"), None, S::UnderpaidOpen, Docs),
    // The reference's own example: OPEN with a transaction of 20.00 towards 1000.00.
    rule(Some("OPEN"), None, Some(Arrived::Part), S::UnderpaidOpen, Inferred),
    rule(Some("OPEN"), None, Some(Arrived::All), S::Confirming, Inferred),
    rule(Some("OPEN"), None, Some(Arrived::Seen), S::Confirming, Inferred),
    rule(Some("OPEN"), None, None, S::AwaitingPayment, Docs),
];

/// Canonical → `status` and `displayStatus`. AlpPay has no refund state: a refund, pending or
/// done, is not the merchant's money and reads as the closed `CANCELLED`; a failed refund left
/// the money with the merchant `[inferred]`. The one meaning lost: a refund still under way
/// reads as final ([`INEXPRESSIBLE`]).
pub const STATUS_OUT: &[(PaymentStatus, &str, &str)] = &[
    (S::AwaitingPayment, "OPEN", "OPEN"),
    (S::Confirming, "OPEN", "OPEN"),
    (S::UnderpaidOpen, "OPEN", "UNDERPAID"),
    (S::AmlHold, "OPEN", "AML_CHECK_DANGER"),
    (S::Paid, "COMPLETED", "COMPLETED"),
    (S::Overpaid, "COMPLETED", "OVERPAID"),
    (S::UnderpaidClosed, "EXPIRED", "UNDERPAID"),
    (S::Expired, "EXPIRED", "EXPIRED"),
    (S::Failed, "CANCELLED", "EXPIRED"),
    (S::RefundPending, "CANCELLED", "EXPIRED"),
    (S::Refunded, "CANCELLED", "EXPIRED"),
    (S::RefundFailed, "COMPLETED", "COMPLETED"),
];

/// Canonical statuses whose finality AlpPay cannot express.
pub const INEXPRESSIBLE: &[PaymentStatus] = &[S::RefundPending];

pub fn status_from_wire(status: &str, display: Option<&str>, arrived: Arrived) -> PaymentStatus {
    if !STATUS_WORDS.iter().any(|w| w.eq_ignore_ascii_case(status)) {
        return S::Unknown;
    }
    // An undocumented display word says nothing payglot can read; the status alone decides.
    let display = display.filter(|d| DISPLAY_WORDS.iter().any(|w| w.eq_ignore_ascii_case(d)));
    let matches = |want: Option<&str>, got: Option<&str>| {
        want.is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
    };
    STATUS_IN
        .iter()
        .find(|r| {
            matches(r.status, Some(status))
                && matches(r.display_status, display)
                && r.arrived.is_none_or(|a| a == arrived)
        })
        .map_or(S::Unknown, |r| r.canonical)
}

pub fn status_to_wire(status: PaymentStatus) -> Option<(&'static str, &'static str)> {
    STATUS_OUT
        .iter()
        .find(|(canonical, _, _)| *canonical == status)
        .map(|(_, s, d)| (*s, *d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_word_is_read() {
        for status in STATUS_WORDS {
            assert_ne!(status_from_wire(status, None, Arrived::Nothing), S::Unknown, "{status}");
        }
        for display in DISPLAY_WORDS {
            for status in STATUS_WORDS {
                assert_ne!(
                    status_from_wire(status, Some(display), Arrived::Nothing),
                    S::Unknown,
                    "{status}/{display}"
                );
            }
        }
        assert_eq!(status_from_wire("PENDING_REVIEW", None, Arrived::Nothing), S::Unknown);
    }

    #[test]
    fn open_reads_what_arrived() {
        assert_eq!(status_from_wire("OPEN", None, Arrived::Nothing), S::AwaitingPayment);
        assert_eq!(status_from_wire("OPEN", None, Arrived::Part), S::UnderpaidOpen);
        assert_eq!(status_from_wire("OPEN", None, Arrived::All), S::Confirming);
    }

    #[test]
    fn written_statuses_keep_their_meaning_when_read_back() {
        for status in PaymentStatus::ALL {
            let Some((word, display)) = status_to_wire(status) else {
                assert_eq!(status, S::Unknown);
                continue;
            };
            let arrived = match status.funds() {
                crate::model::Funds::Partial => Arrived::Part,
                crate::model::Funds::Nothing => Arrived::Nothing,
                _ => Arrived::All,
            };
            let back = status_from_wire(word, Some(display), arrived);
            if INEXPRESSIBLE.contains(&status) {
                continue;
            }
            assert_eq!(back.is_final(), status.is_final(), "{status} → {word}/{display}");
            assert_eq!(back.accepts_payment(), status.accepts_payment(), "{status}");
        }
    }
}
