//! Moving sandbox payments through their statuses: the provider-neutral half of
//! `POST /_sandbox/pay` and `POST /_sandbox/expire`.
//!
//! Each emulator keeps its own status words (`alppay.rs`, `cryptomus.rs`, `apollo.rs`); this
//! module holds what they share: the command, how much of a payment has arrived, the rules for
//! what a pay or expire may do, and the answer and webhook a change produces.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Provider;
use super::fields;
use super::wire::Outcome;

/// What the control endpoint asks of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Command {
    /// One incoming transaction of this amount; `None` pays what is still due.
    Pay(Option<Decimal>),
    /// The payment's lifetime ends now.
    Expire,
}

impl Command {
    /// Reads a control request: `{"id":"…","amount":"12.50"}` (amount optional, pay only).
    pub(super) fn parse(expire: bool, body: &[u8]) -> Result<(String, Command), String> {
        let object: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err("the body must be a JSON object".into()),
            Err(error) => return Err(format!("the body is not valid JSON: {error}")),
        };
        let id = match fields::present(&object, "id") {
            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_string(),
            Some(_) => return Err("id must be a non-empty string".into()),
            None => return Err("id is required".into()),
        };
        if expire {
            return Ok((id, Command::Expire));
        }
        let amount = match fields::present(&object, "amount") {
            None => None,
            Some(value) => {
                let parsed = fields::decimal_text(value)
                    .as_deref()
                    .and_then(fields::decimal)
                    .filter(|amount| *amount > Decimal::ZERO);
                match parsed {
                    Some(amount) => Some(amount),
                    None => return Err("amount must be a positive decimal string".into()),
                }
            }
        };
        Ok((id, Command::Pay(amount)))
    }
}

/// How much of a payment has arrived, whatever the provider calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    Unpaid,
    Partial,
    Full,
    Over,
}

impl Progress {
    pub(super) fn of(received: Decimal, amount: Decimal) -> Progress {
        if received <= Decimal::ZERO {
            Progress::Unpaid
        } else if received < amount {
            Progress::Partial
        } else if received == amount {
            Progress::Full
        } else {
            Progress::Over
        }
    }

    pub(super) fn is_paid(self) -> bool {
        matches!(self, Progress::Full | Progress::Over)
    }
}

/// Why a command cannot apply to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conflict {
    /// Paying a payment that has expired.
    Expired,
    /// Expiring a payment that is fully paid.
    AlreadyPaid,
    /// Paying "what is due" when nothing is.
    NothingDue,
    /// The received total would not fit an exact decimal.
    TooLarge,
}

impl Conflict {
    pub(super) fn status(self) -> u16 {
        match self {
            Conflict::TooLarge => 400,
            Conflict::Expired | Conflict::AlreadyPaid | Conflict::NothingDue => 409,
        }
    }

    pub(super) fn message(self) -> &'static str {
        match self {
            Conflict::Expired => "the payment has expired and takes no more transactions",
            Conflict::AlreadyPaid => "the payment is paid and can no longer expire",
            Conflict::NothingDue => "nothing is due; give an amount to over-pay",
            Conflict::TooLarge => "the amount is too large",
        }
    }
}

/// The new received total after a pay command, checked against the payment's state.
pub(super) fn received_after_pay(
    closed: bool,
    amount: Decimal,
    received: Decimal,
    paying: Option<Decimal>,
) -> Result<Decimal, Conflict> {
    if closed {
        return Err(Conflict::Expired);
    }
    let paying = match paying {
        Some(paying) => paying,
        None => amount
            .checked_sub(received)
            .filter(|due| *due > Decimal::ZERO)
            .ok_or(Conflict::NothingDue)?,
    };
    received.checked_add(paying).ok_or(Conflict::TooLarge)
}

/// Whether an expire command changes the payment: not when it has already expired (nothing
/// happens, no webhook), refused when it is paid.
pub(super) fn expire_changes(closed: bool, progress: Progress) -> Result<bool, Conflict> {
    if closed {
        Ok(false)
    } else if progress.is_paid() {
        Err(Conflict::AlreadyPaid)
    } else {
        Ok(true)
    }
}

/// A provider webhook to deliver: where, with which headers, and the exact body bytes.
#[derive(Debug, Clone)]
pub(super) struct Notification {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A payment's state after a command, and the webhook the change sends (if any).
pub(super) struct Change {
    pub provider: Provider,
    pub id: String,
    /// The provider's own status word.
    pub status: &'static str,
    /// AlpPay's second status, `displayStatus`.
    pub display_status: Option<&'static str>,
    pub amount: String,
    pub received: String,
    /// `None` when nothing changed, or the payment has nowhere to send webhooks.
    pub notification: Option<Notification>,
}

/// The control endpoint's answer.
#[derive(Serialize)]
struct Answer<'a> {
    id: &'a str,
    provider: &'static str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_status: Option<&'a str>,
    amount: &'a str,
    received: &'a str,
    /// Where the webhook for this change goes, if one is sent.
    webhook: Option<&'a str>,
}

impl Change {
    pub(super) fn answer(&self) -> Outcome {
        Outcome::json(
            200,
            &Answer {
                id: &self.id,
                provider: self.provider.name(),
                status: self.status,
                display_status: self.display_status,
                amount: &self.amount,
                received: &self.received,
                webhook: self.notification.as_ref().map(|n| n.url.as_str()),
            },
        )
    }
}

/// A refusal of the control endpoint: `{"error":"…"}`.
pub(super) fn control_error(status: u16, message: &str) -> Outcome {
    Outcome::json(status, &serde_json::json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        fields::decimal(text).unwrap_or_default()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            Command::parse(false, br#"{"id":"a","amount":"1.50"}"#),
            Ok(("a".into(), Command::Pay(Some(dec("1.50")))))
        );
        assert_eq!(
            Command::parse(false, br#"{"id":"a"}"#),
            Ok(("a".into(), Command::Pay(None)))
        );
        assert_eq!(
            Command::parse(true, br#"{"id":"a","amount":"5"}"#),
            Ok(("a".into(), Command::Expire))
        );
        for bad in [
            &br#"{"id":"a","amount":"-1"}"#[..],
            br#"{"id":"a","amount":"0"}"#,
            br#"{"id":"a","amount":"1e3"}"#,
            br#"{"id":"a","amount":true}"#,
            br#"{"id":""}"#,
            br#"{"amount":"1"}"#,
            br#"["a"]"#,
            b"{",
        ] {
            assert!(Command::parse(false, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn progress_and_rules() {
        let amount = dec("10.00");
        assert_eq!(Progress::of(dec("0"), amount), Progress::Unpaid);
        assert_eq!(Progress::of(dec("9.99"), amount), Progress::Partial);
        assert_eq!(Progress::of(dec("10"), amount), Progress::Full);
        assert_eq!(Progress::of(dec("10.01"), amount), Progress::Over);

        assert_eq!(
            received_after_pay(false, amount, dec("4"), None),
            Ok(dec("10"))
        );
        assert_eq!(
            received_after_pay(false, amount, dec("4"), Some(dec("0.10"))),
            Ok(dec("4.10"))
        );
        assert_eq!(
            received_after_pay(false, amount, dec("10"), None),
            Err(Conflict::NothingDue)
        );
        assert_eq!(
            received_after_pay(true, amount, dec("0"), Some(dec("1"))),
            Err(Conflict::Expired)
        );
        assert_eq!(
            received_after_pay(false, amount, Decimal::MAX, Some(Decimal::MAX)),
            Err(Conflict::TooLarge)
        );
        assert_eq!(expire_changes(false, Progress::Partial), Ok(true));
        assert_eq!(expire_changes(true, Progress::Partial), Ok(false));
        assert_eq!(
            expire_changes(false, Progress::Full),
            Err(Conflict::AlreadyPaid)
        );
    }
}
