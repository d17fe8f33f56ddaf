//! Magic amounts that make an emulated provider misbehave on purpose, so tests can exercise how
//! the proxy handles upstream failures. They apply to the create call of every provider
//! (AlpPay `POST /payment`, Cryptomus `POST /payment`, Apollo `POST make-order`), after the
//! signature and field checks pass, and compare by value (`13.130` counts as `13.13`).

use std::time::Duration;

use rust_decimal::Decimal;

/// This amount makes the provider answer HTTP 500 in its own error envelope (nothing is stored).
pub const SERVER_ERROR_AMOUNT: &str = "13.13";

/// This amount makes the provider answer normally, but only after [`SLOW_ANSWER_DELAY`].
pub const SLOW_AMOUNT: &str = "13.14";

/// How long the [`SLOW_AMOUNT`] answer is held back.
pub const SLOW_ANSWER_DELAY: Duration = Duration::from_secs(5);

/// A fault asked for by a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    ServerError,
    Slow,
}

/// The fault, if any, that `amount` asks for.
pub(super) fn for_amount(amount: Decimal) -> Option<Fault> {
    let is = |magic: &str| super::fields::decimal(magic) == Some(amount);
    if is(SERVER_ERROR_AMOUNT) {
        Some(Fault::ServerError)
    } else if is(SLOW_AMOUNT) {
        Some(Fault::Slow)
    } else {
        None
    }
}

/// The delay to apply to an otherwise normal answer.
pub(super) fn delay(fault: Option<Fault>) -> Option<Duration> {
    (fault == Some(Fault::Slow)).then_some(SLOW_ANSWER_DELAY)
}
