//! The canonical payment model: the one place that says what a payment *is*. Every dialect
//! converts its wire format to and from these types (hub and spoke), so N dialects need 2N
//! conversions and never N² pairwise code.

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;

use crate::money::{Amount, Quantity};

/// A create-payment request, as the merchant meant it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Where the payer returns to the shop.
    pub return_url: Option<String>,
    /// Cryptomus `url_success`: where the payer goes after a successful payment.
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
    /// Whether several partial payments may settle the invoice.
    pub allow_partial: Option<bool>,
    /// The request's replay token (Apollo `nonce`). Used for replay protection, never forwarded.
    pub nonce: Option<String>,
    /// Fields of the source dialect that no other dialect can express.
    pub unportable: Vec<Unportable>,
}

/// The merchant's notification targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Where a payment stands, across providers (dialect reference §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

impl PaymentStatus {
    /// Whether the payment can still receive funds or change without a refund.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            Self::AwaitingPayment
                | Self::Confirming
                | Self::UnderpaidOpen
                | Self::AmlHold
                | Self::RefundPending
        )
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
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
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
    /// The provider's own status word, kept for logs and for same-vocabulary echoes.
    pub provider_status: String,
    pub amount: Option<Quantity>,
    pub received: Option<Quantity>,
    pub currency: Option<String>,
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
