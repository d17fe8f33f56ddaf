//! The canonical payment model: the one place that says what a payment *is*. Every dialect
//! converts its wire format to and from these types (hub and spoke), so N dialects need 2N
//! conversions and never N² pairwise code.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::money::{Amount, Quantity};

/// A create-payment request, as the merchant meant it. Kept in the payment index (as JSON) so
/// later answers about the payment read as the merchant's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePayment {
    /// The merchant's own order reference (AlpPay `invoice`, Cryptomus `order_id`, Apollo
    /// `order`). AlpPay makes it optional; the others require it.
    pub order_ref: Option<String>,
    pub amount: Amount,
    /// The unit of `amount`: a crypto ticker, or a fiat code when `pay_currency` converts.
    pub currency: String,
    /// Cryptomus `to_currency`: the coin the payer pays when `amount` is priced in `currency`.
    pub pay_currency: Option<String>,
    /// Canonical chain name (see [`crate::network`]); `None` lets the payer choose (Cryptomus).
    pub network: Option<String>,
    /// Invoice lifetime in seconds, as asked.
    pub lifetime_secs: Option<u64>,
    /// Where the merchant wants payment notifications; see [`crate::translate::upstream_callbacks`]
    /// for what is sent upstream.
    pub callbacks: Callbacks,
    /// Where the payer goes back to the shop without paying (Cryptomus `url_return`).
    pub return_url: Option<String>,
    /// Where the payer lands after paying (AlpPay `checkoutUrl`, Cryptomus `url_success`,
    /// Apollo `returnUrl`).
    pub success_url: Option<String>,
    pub customer: Customer,
    /// A stable payer identity for a persistent deposit address (AlpPay `clientId`, Apollo
    /// `externalUserId`).
    pub client_id: Option<String>,
    /// Free text shown to or kept for the merchant (Apollo `description`, Cryptomus
    /// `additional_data`).
    pub description: Option<String>,
    /// Accepted underpayment, percent, as a decimal string.
    pub tolerance_percent: Option<String>,
    /// Whether several partial payments may settle the invoice: `Some(false)` only when the
    /// merchant turned them off (the documented default, on, is no request).
    pub allow_partial: Option<bool>,
    /// The request's replay token (Apollo `nonce`). Used for replay protection, never forwarded.
    #[serde(skip)]
    pub nonce: Option<String>,
    /// Fields of the source dialect that no other dialect can express.
    #[serde(skip)]
    pub unportable: Vec<Unportable>,
}

/// The merchant's notification targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callbacks {
    /// Notified on success; Cryptomus `url_callback` (one URL for everything) lands here.
    pub success: Option<String>,
    /// Notified on failure or expiry; `None` means "same as `success`".
    pub failure: Option<String>,
}

impl Callbacks {
    pub fn is_empty(&self) -> bool {
        self.success.is_none() && self.failure.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// As sent: AlpPay wants an integer, Apollo a string.
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A source-dialect field with no counterpart elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unportable {
    /// The field's name in its own dialect.
    pub field: &'static str,
    /// Whether dropping it would change what the payer pays or the merchant receives: such a
    /// field makes a cross-dialect translation refuse instead of drop.
    pub affects_money: bool,
    pub why: &'static str,
}

/// Where a payment stands, across providers (dialect reference §5.5). What each status means
/// for the money is stated by its properties — [`is_final`](Self::is_final),
/// [`accepts_payment`](Self::accepts_payment), [`funds`](Self::funds) — which the dialects'
/// status tables and the meaning tests are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaymentStatus {
    AwaitingPayment,
    Confirming,
    UnderpaidOpen,
    Paid,
    Overpaid,
    UnderpaidClosed,
    Expired,
    Failed,
    AmlHold,
    RefundPending,
    Refunded,
    RefundFailed,
    /// The provider said a word payglot does not know. Never read as "not paid yet": it is
    /// answered as an upstream error where the merchant's dialect cannot say "unknown".
    Unknown,
}

/// What a status says about the money received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Funds {
    /// Nothing has arrived.
    Nothing,
    /// Funds were seen and are being confirmed.
    Unconfirmed,
    /// Less than the amount arrived.
    Partial,
    /// The amount arrived.
    Full,
    /// More than the amount arrived.
    Over,
    /// Funds arrived and are held for a compliance check.
    Held,
    /// Funds arrived and are being, or were, sent back to the payer: not the merchant's.
    Returned,
    /// The status does not say.
    Unknown,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 13] = [
        Self::AwaitingPayment,
        Self::Confirming,
        Self::UnderpaidOpen,
        Self::Paid,
        Self::Overpaid,
        Self::UnderpaidClosed,
        Self::Expired,
        Self::Failed,
        Self::AmlHold,
        Self::RefundPending,
        Self::Refunded,
        Self::RefundFailed,
        Self::Unknown,
    ];

    /// Whether the status is terminal: nothing more will arrive or change without a refund.
    /// A provider may say less (Apollo calls none of its statuses final): see
    /// [`Payment::is_final`].
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Paid
                | Self::Overpaid
                | Self::UnderpaidClosed
                | Self::Expired
                | Self::Failed
                | Self::Refunded
                | Self::RefundFailed
        )
    }

    /// Whether the invoice still takes payment (the customer may pay, or pay the rest).
    pub fn accepts_payment(self) -> bool {
        matches!(
            self,
            Self::AwaitingPayment | Self::Confirming | Self::UnderpaidOpen
        )
    }

    /// What the status says about the money received so far.
    pub fn funds(self) -> Funds {
        match self {
            Self::AwaitingPayment | Self::Expired | Self::Failed => Funds::Nothing,
            Self::Confirming => Funds::Unconfirmed,
            Self::UnderpaidOpen | Self::UnderpaidClosed => Funds::Partial,
            Self::Paid | Self::RefundFailed => Funds::Full,
            Self::Overpaid => Funds::Over,
            Self::AmlHold => Funds::Held,
            Self::RefundPending | Self::Refunded => Funds::Returned,
            Self::Unknown => Funds::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Confirming => "confirming",
            Self::UnderpaidOpen => "underpaid_open",
            Self::Paid => "paid",
            Self::Overpaid => "overpaid",
            Self::UnderpaidClosed => "underpaid_closed",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::AmlHold => "aml_hold",
            Self::RefundPending => "refund_pending",
            Self::Refunded => "refunded",
            Self::RefundFailed => "refund_failed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How sure a status mapping is, as in the dialect reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// Stated in the provider's docs.
    Docs,
    /// Read in an SDK's source.
    Code,
    /// Reasoned from the evidence; the provider does not say.
    Inferred,
}

impl Confidence {
    pub fn tag(self) -> &'static str {
        match self {
            Confidence::Docs => "[docs]",
            Confidence::Code => "[code]",
            Confidence::Inferred => "[inferred]",
        }
    }
}

/// A payment as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The provider's own id (AlpPay `id`, Cryptomus `uuid`, Apollo `orderId`/`id`).
    pub provider_id: String,
    /// The order reference as the provider echoed it (possibly a derived form of the merchant's).
    pub order_ref: Option<String>,
    pub status: PaymentStatus,
    /// Whether the provider says nothing more can change. Usually the status's own finality;
    /// Apollo says none of its statuses is final (a late payment can still arrive).
    pub is_final: bool,
    /// The provider's own status word, kept for logs and for same-vocabulary echoes.
    pub provider_status: String,
    /// The amount asked, in `currency` (which may be fiat where the provider converts).
    pub amount: Option<Quantity>,
    /// What has arrived, in `pay_currency` (else `currency`); `None` while the status says
    /// nothing has arrived, whatever the provider put in its field.
    pub received: Option<Quantity>,
    pub currency: Option<String>,
    /// What the payer pays, where the provider prices in one currency and takes another.
    pub pay_amount: Option<Quantity>,
    pub pay_currency: Option<String>,
    /// Canonical chain name, when the provider's name is known.
    pub network: Option<String>,
    pub address: Option<String>,
    pub address_tag: Option<String>,
    pub payment_url: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
    pub transactions: Vec<Transaction>,
}

impl Payment {
    /// The amount `received` is counted against, with its currency: the payer pair where the
    /// provider has one (Cryptomus counts `payment_amount` against `payer_amount`), else the
    /// amount pair. A dialect with one amount field writes this pair, never one of each.
    pub fn due(&self) -> (Option<&Quantity>, Option<&str>) {
        match &self.pay_amount {
            Some(pay) => (
                Some(pay),
                self.pay_currency.as_deref().or(self.currency.as_deref()),
            ),
            None => (self.amount.as_ref(), self.currency.as_deref()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transaction {
    pub tx_hash: Option<String>,
    pub amount: Option<Quantity>,
    pub currency: Option<String>,
    pub network: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub confirmations: Option<u64>,
    pub at: Option<OffsetDateTime>,
}

/// What payglot knows about a merchant beyond its credentials: used to fill fields a target
/// dialect requires but the merchant's dialect does not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MerchantProfile {
    pub name: Option<String>,
    pub site_url: Option<String>,
    pub email: Option<String>,
    pub logo_url: Option<String>,
    /// Used when the target requires a customer (AlpPay) and the request names none.
    pub default_customer_name: Option<String>,
    pub default_customer_email: Option<String>,
    /// Chain to use per currency when the request leaves the network open (Cryptomus) and the
    /// target requires one. Keys are uppercase tickers, values canonical chain names.
    pub default_networks: BTreeMap<String, String>,
}
