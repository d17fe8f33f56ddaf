//! The values the store keeps: payment records, claims and outbox events.

use time::OffsetDateTime;

/// One created payment, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Who created it; every merchant-facing lookup is keyed by it.
    pub merchant_id: String,
    /// The dialect the merchant spoke (`alppay`, `cryptomus`, `apollo`).
    pub inbound_dialect: String,
    /// The merchant's own order reference as sent; `None` when its dialect allows none
    /// (AlpPay without `invoice`), and then the create is not deduplicated.
    pub merchant_ref: Option<String>,
    pub route_id: String,
    pub upstream_id: String,
    pub upstream_dialect: String,
    /// The provider's payment id: the id the merchant sees too.
    pub upstream_payment_id: String,
    /// The order reference payglot sent upstream.
    pub upstream_ref: String,
    /// Opaque JSON the pipeline stores to restore the merchant's view later (free-text order,
    /// customer, ...). The store never looks inside.
    pub echo: Vec<u8>,
    /// The merchant's own callback URLs, kept here while the provider calls payglot's relay.
    pub callback_success_url: Option<String>,
    pub callback_failure_url: Option<String>,
    /// The unguessable token in this payment's webhook relay URL; unique.
    pub relay_token: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The last known canonical status name.
    pub status: String,
}

/// The answer to [`super::Store::claim_create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim: create upstream, then complete or abandon.
    New,
    /// Already created: answer with this payment.
    Done(Box<PaymentRecord>),
    /// Someone else is creating it right now: poll [`super::Store::get_by_ref`].
    InProgress,
}

/// The answer to [`super::Store::enqueue_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New,
    /// An event with this id exists (in whatever state); nothing was changed.
    AlreadyQueued,
}

/// Where an outbox event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventState {
    /// Not yet attempted, or replayed.
    Pending,
    /// The last attempt failed; the next is scheduled at `next_attempt_at`.
    Failed,
    /// The merchant answered 2xx.
    Delivered,
    /// Out of retries.
    Dead,
}

impl EventState {
    pub const ALL: [EventState; 4] = [
        EventState::Pending,
        EventState::Failed,
        EventState::Delivered,
        EventState::Dead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Failed => "failed",
            EventState::Delivered => "delivered",
            EventState::Dead => "dead",
        }
    }

    pub fn from_name(name: &str) -> Option<EventState> {
        EventState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the event still waits for a delivery.
    pub fn is_due_state(self) -> bool {
        matches!(self, EventState::Pending | EventState::Failed)
    }
}

/// One webhook to deliver to a merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Idempotency key, e.g. from [`event_id`].
    pub id: String,
    pub merchant_id: String,
    pub target_url: String,
    /// Request headers, in order (signature headers included).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub next_attempt_at: OffsetDateTime,
    /// Attempts made so far.
    pub attempts: u32,
    pub state: EventState,
    pub last_error: Option<String>,
    /// The merchant's HTTP status on the last attempt, when it answered at all.
    pub last_status: Option<u16>,
    /// Set by [`super::Store::claim_due`]: nobody else gets the event before this.
    pub leased_until: Option<OffsetDateTime>,
}

impl OutboxEvent {
    /// A pending event, due at once.
    pub fn new(
        id: impl Into<String>,
        merchant_id: impl Into<String>,
        target_url: impl Into<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        now: OffsetDateTime,
    ) -> OutboxEvent {
        OutboxEvent {
            id: id.into(),
            merchant_id: merchant_id.into(),
            target_url: target_url.into(),
            headers,
            body,
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
            state: EventState::Pending,
            last_error: None,
            last_status: None,
            leased_until: None,
        }
    }
}

/// The outcome of a failed delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt {
    /// When to try again; `None` gives up (the event becomes `dead`).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The merchant's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: String,
}

/// Which events [`super::Store::list_events`] returns; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub merchant_id: Option<String>,
    pub state: Option<EventState>,
}

impl EventFilter {
    pub fn matches(&self, event: &OutboxEvent) -> bool {
        self.merchant_id
            .as_deref()
            .is_none_or(|m| m == event.merchant_id)
            && self.state.is_none_or(|s| s == event.state)
    }
}

/// The idempotent id of "this payment reached this status": one webhook per status change,
/// however often the provider notifies it.
pub fn event_id(upstream_id: &str, upstream_payment_id: &str, status: &str) -> String {
    format!("{upstream_id}:{upstream_payment_id}:{status}")
}

/// A fresh webhook relay token, 64 hex digits: the creation time in milliseconds (12 digits),
/// then 52 digits from two v4 UUIDs (over 190 random bits, so unguessable). The time first
/// makes tokens sort in the order they are made, so the index adds each one at the end of its
/// B-tree instead of rewriting a page anywhere in it.
pub fn new_relay_token() -> String {
    let millis = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let millis = u64::try_from(millis).unwrap_or(0) & 0xffff_ffff_ffff;
    let random = uuid::Uuid::new_v4().as_u128();
    let more = uuid::Uuid::new_v4().as_u128() >> 48;
    // Hex of the bytes, big-endian: the same digits as formatting each number, without the
    // formatting machinery (a create makes one of these on the request path).
    let mut bytes = [0u8; 32];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..22].copy_from_slice(&random.to_be_bytes());
    bytes[22..].copy_from_slice(&more.to_be_bytes()[6..]);
    let mut digits = [0u8; 64];
    // Cannot fail: 64 digits for 32 bytes.
    let _ = hex::encode_to_slice(bytes, &mut digits);
    std::str::from_utf8(&digits).unwrap_or_default().to_owned()
}

/// `t` without its sub-microsecond part: what the store gives back.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Microseconds since the Unix epoch, saturating far outside any real date.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(if t.year() < 1970 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `now + d`, saturating.
pub(crate) fn plus(now: OffsetDateTime, d: std::time::Duration) -> OffsetDateTime {
    now.checked_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
}

/// `now - d`, saturating.
pub(crate) fn minus(now: OffsetDateTime, d: std::time::Duration) -> OffsetDateTime {
    now.checked_sub(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index relies on tokens made later sorting later (they are appended to its B-tree);
    /// the relay relies on them being unguessable.
    #[test]
    fn relay_tokens_sort_by_creation_time_and_differ_in_their_random_part() {
        let first = new_relay_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later: Vec<String> = (0..100).map(|_| new_relay_token()).collect();
        for token in std::iter::once(&first).chain(&later) {
            assert_eq!(token.len(), 64, "{token}");
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{token}"
            );
        }
        assert!(later.iter().all(|t| *t > first), "{first} {later:?}");
        let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let stamped = i128::from_str_radix(&first[..12], 16).unwrap_or(0);
        assert!(
            (now_ms - 1_000..=now_ms).contains(&stamped),
            "{stamped} vs {now_ms}"
        );
        // Tokens of the same millisecond share their first 12 digits; the other 52 differ.
        let random_parts: std::collections::HashSet<&str> =
            later.iter().map(|t| &t[12..]).collect();
        assert_eq!(random_parts.len(), later.len());
    }
}
