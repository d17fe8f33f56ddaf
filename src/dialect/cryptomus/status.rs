//! Cryptomus's status words ↔ canonical statuses, as data with their confidence (dialect
//! reference §2d, §5.5). NearPayments serves the dialect and puts its own words into
//! `payment_status`; they are read too.

use crate::model::{Confidence, PaymentStatus};

/// Every status word the dialect's providers document: Cryptomus's `status` list, then
/// NearPayments' own `payment_status` words. Each must be read by [`STATUS_IN`] (tested).
pub const DOCUMENTED: &[&str] = &[
    "paid",
    "paid_over",
    "wrong_amount",
    "process",
    "confirm_check",
    "wrong_amount_waiting",
    "check",
    "fail",
    "cancel",
    "system_fail",
    "refund_process",
    "refund_fail",
    "refund_paid",
    "locked",
    "waiting",
    "confirming",
    "confirmed",
    "sending",
    "partially_paid",
    "finished",
    "failed",
    "refunded",
    "expired",
];

/// One word and what it means; comparison ignores case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusWord {
    pub word: &'static str,
    pub canonical: PaymentStatus,
    pub confidence: Confidence,
}

const fn word(word: &'static str, canonical: PaymentStatus, confidence: Confidence) -> StatusWord {
    StatusWord {
        word,
        canonical,
        confidence,
    }
}

use Confidence::{Docs, Inferred};
use PaymentStatus as S;

/// Status words → canonical. Cryptomus's words `[docs]` with the reference's grouping; the
/// NearPayments words through NearPayments' own table to Cryptomus words `[docs]`, except
/// `sending` (NearPayments maps it to `process`, but it follows confirmation, so it reads as
/// funds seen, not as nothing paid) `[inferred]`.
pub const STATUS_IN: &[StatusWord] = &[
    word("check", S::AwaitingPayment, Docs),
    word("process", S::AwaitingPayment, Docs),
    word("confirm_check", S::Confirming, Docs),
    word("wrong_amount_waiting", S::UnderpaidOpen, Docs),
    word("paid", S::Paid, Docs),
    word("paid_over", S::Overpaid, Docs),
    word("wrong_amount", S::UnderpaidClosed, Docs),
    word("cancel", S::Expired, Docs),
    word("fail", S::Failed, Docs),
    word("system_fail", S::Failed, Docs),
    word("locked", S::AmlHold, Inferred),
    word("refund_process", S::RefundPending, Docs),
    word("refund_paid", S::Refunded, Docs),
    word("refund_fail", S::RefundFailed, Docs),
    word("waiting", S::AwaitingPayment, Docs),
    word("confirming", S::Confirming, Docs),
    word("confirmed", S::Confirming, Docs),
    word("sending", S::Confirming, Inferred),
    word("partially_paid", S::UnderpaidClosed, Docs),
    word("finished", S::Paid, Docs),
    word("failed", S::Failed, Docs),
    word("refunded", S::Refunded, Docs),
    word("expired", S::Expired, Docs),
];

/// Canonical → the Cryptomus word payglot writes in both `status` and `payment_status`. An
/// unknown status has no word: it is answered as an upstream error.
pub const STATUS_OUT: &[(PaymentStatus, &str)] = &[
    (S::AwaitingPayment, "check"),
    (S::Confirming, "confirm_check"),
    (S::UnderpaidOpen, "wrong_amount_waiting"),
    (S::Paid, "paid"),
    (S::Overpaid, "paid_over"),
    (S::UnderpaidClosed, "wrong_amount"),
    (S::Expired, "cancel"),
    (S::Failed, "fail"),
    (S::AmlHold, "locked"),
    (S::RefundPending, "refund_process"),
    (S::Refunded, "refund_paid"),
    (S::RefundFailed, "refund_fail"),
];

fn lookup(word: &str) -> Option<PaymentStatus> {
    STATUS_IN
        .iter()
        .find(|w| w.word.eq_ignore_ascii_case(word))
        .map(|w| w.canonical)
}

/// The canonical status of an invoice from its `status` and `payment_status`: `status` when
/// it is a known word, else `payment_status`, else [`PaymentStatus::Unknown`]. Returns the word
/// it went by.
pub fn status_from_wire(status: Option<&str>, payment_status: Option<&str>) -> (PaymentStatus, String) {
    for candidate in [status, payment_status].into_iter().flatten() {
        if let Some(canonical) = lookup(candidate) {
            return (canonical, candidate.to_owned());
        }
    }
    let word = status.or(payment_status).unwrap_or_default();
    (S::Unknown, word.to_owned())
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
            assert_ne!(status_from_wire(Some(word), None).0, S::Unknown, "{word}");
        }
        assert_eq!(STATUS_IN.len(), DOCUMENTED.len());
    }

    #[test]
    fn every_known_status_is_written_and_reads_back() {
        for status in PaymentStatus::ALL {
            match status_to_wire(status) {
                Some(word) => assert_eq!(status_from_wire(Some(word), None).0, status),
                None => assert_eq!(status, S::Unknown),
            }
        }
    }

    #[test]
    fn unknown_words_are_unknown_and_payment_status_is_a_fallback() {
        assert_eq!(status_from_wire(Some("mystery"), None).0, S::Unknown);
        assert_eq!(status_from_wire(None, Some("finished")).0, S::Paid);
        assert_eq!(status_from_wire(Some("mystery"), Some("paid")).0, S::Paid);
        assert_eq!(status_from_wire(Some("PAID"), None).0, S::Paid);
    }
}
