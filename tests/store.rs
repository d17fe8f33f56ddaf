//! The payment store: one suite run against both backends (embedded redb in a temp dir, and
//! PostgreSQL from `PAYGLOT_TEST_POSTGRES_URL`, a fresh schema per test), plus what only one
//! backend can show: two stores sharing one PostgreSQL database, a PostgreSQL outage and
//! recovery (on a cluster this test starts itself), and the embedded store surviving `kill -9`.
//!
//! `scripts/test.sh` starts a throwaway PostgreSQL cluster and sets the URL; without it the
//! PostgreSQL tests fail, saying so.

mod common;

use common::postgres::OwnCluster;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use payglot::config::store::{PostgresConfig, StoreBackendConfig, StoreConfig};
use payglot::secret::Secret;
use payglot::store::{
    Claim, Enqueued, EventFilter, EventState, FailedAttempt, OutboxEvent, PaymentRecord, Store,
    StoreError, event_id, new_relay_token, truncate_to_micros,
};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2025-06-01 12:00:00.123456 UTC);
/// Bounds every single store call in these tests.
const CALL_LIMIT: Duration = Duration::from_secs(20);

fn at(secs: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(secs)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn record(
    merchant: &str,
    merchant_ref: Option<&str>,
    payment_id: &str,
    created: i64,
) -> PaymentRecord {
    PaymentRecord {
        merchant_id: merchant.to_owned(),
        inbound_dialect: "cryptomus".to_owned(),
        merchant_ref: merchant_ref.map(str::to_owned),
        route_id: "cryptomus-to-apollo".to_owned(),
        upstream_id: "apollo-sandbox".to_owned(),
        upstream_dialect: "apollo".to_owned(),
        upstream_payment_id: payment_id.to_owned(),
        upstream_ref: format!("up-{payment_id}"),
        echo: br#"{"order":"Two mugs \u00e9","customer":{"email":"c@shop.example"}}"#.to_vec(),
        callback_success_url: Some("https://shop.example/paid".to_owned()),
        callback_failure_url: None,
        relay_token: new_relay_token(),
        created_at: at(created),
        updated_at: at(created),
        status: "pending".to_owned(),
    }
}

/// A call that must finish in bounded time.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(v) => v,
        Err(_) => panic!("store call took longer than {CALL_LIMIT:?}"),
    }
}

fn ok<T>(result: Result<T, StoreError>) -> T {
    result.unwrap_or_else(|e| panic!("store call failed: {e}"))
}

// ---- opening each backend ----------------------------------------------------------------

async fn open_embedded(path: &Path) -> Store {
    let config = StoreConfig {
        backend: StoreBackendConfig::Embedded {
            path: path.to_owned(),
            cache_mib: payglot::config::store::DEFAULT_CACHE_MIB,
        },
        replay_window: Duration::from_secs(60),
    };
    ok(bounded(Store::open(&config)).await)
}

fn postgres_url() -> String {
    std::env::var("PAYGLOT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "PAYGLOT_TEST_POSTGRES_URL is not set: run `bash scripts/test.sh`, which starts a \
             throwaway PostgreSQL cluster, or point it at a database the tests may write to"
        )
    })
}

/// A store on a schema of its own in `url`'s database, so tests running together do not see
/// each other's outbox.
async fn open_postgres_schema(url: &str, schema: &str) -> Store {
    let (client, connection) = ok(tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string())));
    let connection = tokio::spawn(connection);
    ok(client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
        .map_err(|e| StoreError::Internal(e.to_string())));
    drop(client);
    let _ = connection.await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let config = StoreConfig {
        backend: StoreBackendConfig::Postgres(PostgresConfig {
            url: Secret::new(url),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
        }),
        replay_window: Duration::from_secs(60),
    };
    ok(bounded(Store::open(&config)).await)
}

async fn open_postgres() -> Store {
    open_postgres_schema(&postgres_url(), &unique("t").replace('-', "_")).await
}

/// Runs each suite function against both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = super::open_embedded(&dir.path().join("index.redb")).await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::open_postgres().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    records_are_found_by_every_key,
    lookups_never_cross_merchants,
    concurrent_claims_yield_exactly_one_new,
    a_stale_claim_is_taken_over,
    the_replay_guard_refuses_within_the_window_only,
    enqueue_is_idempotent_and_counted,
    concurrent_claimers_never_get_the_same_event,
    failures_are_scheduled_then_dead_then_replayed,
);

// ---- the suite -------------------------------------------------------------------------------

async fn records_are_found_by_every_key(store: Store) {
    let merchant = unique("m");
    let first = record(&merchant, Some("order-1"), &unique("pay"), 0);
    let second = record(&merchant, Some("order-2"), &unique("pay"), 10);
    let no_ref = record(&merchant, None, &unique("pay"), 20);
    for r in [&first, &second, &no_ref] {
        let stored = ok(bounded(store.complete_create(r.clone())).await);
        assert_eq!(stored.created_at, truncate_to_micros(r.created_at));
        assert_eq!(stored.upstream_payment_id, r.upstream_payment_id);
    }
    let expected = |r: &PaymentRecord| Some(r.clone());

    let by_id = ok(bounded(store.get_by_provider_id(&merchant, &first.upstream_payment_id)).await);
    assert_eq!(by_id, expected(&first));
    assert_eq!(by_id.map(|r| r.echo), Some(first.echo.clone()));
    let by_ref = ok(bounded(store.get_by_ref(&merchant, "order-2")).await);
    assert_eq!(by_ref, expected(&second));
    let by_token = ok(bounded(store.get_by_relay_token(&no_ref.relay_token)).await);
    assert_eq!(by_token, expected(&no_ref));
    let by_upstream =
        ok(bounded(store.get_by_upstream("apollo-sandbox", &second.upstream_payment_id)).await);
    assert_eq!(by_upstream, expected(&second));
    assert_eq!(
        ok(bounded(store.get_by_ref(&merchant, "order-3")).await),
        None
    );
    assert_eq!(
        ok(bounded(store.get_by_relay_token("no-such-token")).await),
        None
    );
    assert_eq!(
        ok(bounded(store.get_by_upstream("cryptomus-sandbox", &first.upstream_payment_id)).await),
        None,
        "the upstream is part of the key"
    );

    // Newest first, with paging.
    let ids = |list: Vec<PaymentRecord>| -> Vec<String> {
        list.into_iter().map(|r| r.upstream_payment_id).collect()
    };
    let all = ok(bounded(store.list_by_merchant(&merchant, 10, 0)).await);
    assert_eq!(
        ids(all),
        [&no_ref, &second, &first].map(|r| r.upstream_payment_id.clone())
    );
    let page = ok(bounded(store.list_by_merchant(&merchant, 1, 1)).await);
    assert_eq!(ids(page), vec![second.upstream_payment_id.clone()]);

    // The status changes; nothing else does.
    assert!(ok(bounded(store.update_status(
        "apollo-sandbox",
        &first.upstream_payment_id,
        "paid",
        at(30)
    ))
    .await));
    assert!(!ok(bounded(store.update_status(
        "apollo-sandbox",
        "unknown",
        "paid",
        at(30)
    ))
    .await));
    let updated = ok(bounded(store.get_by_ref(&merchant, "order-1")).await);
    let mut want = first.clone();
    want.status = "paid".to_owned();
    want.updated_at = at(30);
    assert_eq!(updated, Some(want.clone()));

    // Recording the same payment again changes nothing and answers what is stored; so does
    // another payment under a reference already used.
    let mut again = first.clone();
    again.relay_token = new_relay_token();
    assert_eq!(ok(bounded(store.complete_create(again)).await), want);
    let mut same_ref = record(&merchant, Some("order-1"), &unique("pay"), 40);
    same_ref.status = "other".to_owned();
    assert_eq!(
        ok(bounded(store.complete_create(same_ref.clone())).await),
        want
    );
    assert_eq!(
        ok(bounded(store.get_by_provider_id(&merchant, &same_ref.upstream_payment_id)).await),
        None
    );
    // A relay token belongs to one payment.
    let mut stolen = record(&merchant, Some("order-9"), &unique("pay"), 50);
    stolen.relay_token = first.relay_token.clone();
    match bounded(store.complete_create(stolen)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a reused relay token must conflict, got {other:?}"),
    }
    assert_eq!(
        ok(bounded(store.get_by_ref(&merchant, "order-9")).await),
        None
    );
}

async fn lookups_never_cross_merchants(store: Store) {
    let (owner, other) = (unique("owner"), unique("other"));
    let payment = record(&owner, Some("shared-ref"), &unique("pay"), 0);
    ok(bounded(store.complete_create(payment.clone())).await);
    assert_eq!(
        ok(bounded(store.get_by_provider_id(&other, &payment.upstream_payment_id)).await),
        None
    );
    assert_eq!(
        ok(bounded(store.get_by_ref(&other, "shared-ref")).await),
        None
    );
    assert!(ok(bounded(store.list_by_merchant(&other, 10, 0)).await).is_empty());
    // The other merchant's own create under the same reference is its own, new payment.
    assert_eq!(
        ok(bounded(store.claim_create(&other, "shared-ref", at(1), Duration::from_secs(30))).await),
        Claim::New
    );
    // The owner still sees its payment.
    assert_eq!(
        ok(bounded(store.get_by_ref(&owner, "shared-ref")).await).map(|r| r.upstream_payment_id),
        Some(payment.upstream_payment_id)
    );
}

async fn concurrent_claims_yield_exactly_one_new(store: Store) {
    let merchant = unique("m");
    let stale = Duration::from_secs(30);
    let claims = futures_join(64, |_| {
        let (store, merchant) = (store.clone(), merchant.clone());
        async move {
            store
                .claim_create(&merchant, "dup-order", at(0), stale)
                .await
        }
    })
    .await;
    let claims: Vec<Claim> = claims.into_iter().map(ok).collect();
    let new = claims.iter().filter(|c| **c == Claim::New).count();
    let in_progress = claims.iter().filter(|c| **c == Claim::InProgress).count();
    assert_eq!((new, in_progress), (1, 63), "{claims:?}");

    let payment = record(&merchant, Some("dup-order"), &unique("pay"), 1);
    let stored = ok(bounded(store.complete_create(payment)).await);
    let after = ok(bounded(store.claim_create(&merchant, "dup-order", at(2), stale)).await);
    assert_eq!(after, Claim::Done(Box::new(stored)));

    // An abandoned claim can be claimed again at once.
    assert_eq!(
        ok(bounded(store.claim_create(&merchant, "failed-order", at(0), stale)).await),
        Claim::New
    );
    ok(bounded(store.abandon_create(&merchant, "failed-order")).await);
    assert_eq!(
        ok(bounded(store.claim_create(&merchant, "failed-order", at(1), stale)).await),
        Claim::New
    );
}

async fn a_stale_claim_is_taken_over(store: Store) {
    let merchant = unique("m");
    let stale = Duration::from_secs(30);
    let claim = |secs| {
        let (store, merchant) = (store.clone(), merchant.clone());
        async move { ok(bounded(store.claim_create(&merchant, "crashed", at(secs), stale)).await) }
    };
    assert_eq!(claim(0).await, Claim::New);
    assert_eq!(claim(29).await, Claim::InProgress);
    // The holder never completed: taken over once, by one claimer.
    let takeovers = futures_join(16, |_| claim(31)).await;
    assert_eq!(
        takeovers.iter().filter(|c| **c == Claim::New).count(),
        1,
        "{takeovers:?}"
    );
    assert_eq!(claim(40).await, Claim::InProgress);
}

async fn the_replay_guard_refuses_within_the_window_only(store: Store) {
    let key = unique("pk");
    let window = Duration::from_secs(60);
    let first_use = |key: String, nonce: &'static str, secs| {
        let store = store.clone();
        async move { ok(bounded(store.first_use_nonce(&key, nonce, at(secs), window)).await) }
    };
    assert!(first_use(key.clone(), "n1", 0).await);
    assert!(
        !first_use(key.clone(), "n1", 1).await,
        "a replay is refused"
    );
    assert!(
        !first_use(key.clone(), "n1", 59).await,
        "still inside the window"
    );
    assert!(first_use(unique("pk"), "n1", 1).await, "nonces are per key");
    assert!(first_use(key.clone(), "n2", 2).await);
    assert!(
        first_use(key.clone(), "n1", 61).await,
        "forgotten after the window"
    );
    assert!(
        !first_use(key.clone(), "n1", 62).await,
        "and remembered again from then"
    );
    // Concurrent uses of one nonce: exactly one is first.
    let results = futures_join(16, |_| first_use(key.clone(), "n3", 100)).await;
    assert_eq!(results.iter().filter(|first| **first).count(), 1);
    // The configured window applies by default.
    assert!(ok(bounded(store.first_use_nonce_in_window(
        &key,
        "n4",
        at(0)
    ))
    .await));
    assert!(!ok(bounded(store.first_use_nonce_in_window(
        &key,
        "n4",
        at(59)
    ))
    .await));
    assert!(ok(bounded(store.first_use_nonce_in_window(
        &key,
        "n4",
        at(61)
    ))
    .await));
}

fn event(merchant: &str, n: usize, created: i64) -> OutboxEvent {
    OutboxEvent::new(
        event_id("apollo-sandbox", &format!("pay-{n}"), "paid"),
        merchant,
        "https://shop.example/webhook",
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("sign".to_owned(), format!("s{n}")),
        ],
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        at(created),
    )
}

async fn enqueue_is_idempotent_and_counted(store: Store) {
    let merchant = unique("m");
    assert_eq!(ok(bounded(store.outbox_depth()).await), 0);
    let e = event(&merchant, 1, 0);
    assert_eq!(
        ok(bounded(store.enqueue_event(e.clone())).await),
        Enqueued::New
    );
    let mut changed = e.clone();
    changed.body = b"other".to_vec();
    assert_eq!(
        ok(bounded(store.enqueue_event(changed)).await),
        Enqueued::AlreadyQueued
    );
    assert_eq!(
        ok(bounded(store.enqueue_event(event(&merchant, 2, 1))).await),
        Enqueued::New
    );
    assert_eq!(ok(bounded(store.outbox_depth()).await), 2);
    let listed = ok(bounded(store.list_events(&EventFilter::default(), 10)).await);
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[1], e,
        "newest first, stored as given (the duplicate changed nothing)"
    );
}

async fn concurrent_claimers_never_get_the_same_event(store: Store) {
    let merchant = unique("m");
    let total = 60;
    for n in 0..total {
        ok(bounded(store.enqueue_event(event(&merchant, n, 0))).await);
    }
    let lease = Duration::from_secs(60);
    let batches = futures_join(4, |_| {
        let store = store.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due(at(1), 7, lease).await?;
                if got.is_empty() {
                    return Ok::<_, StoreError>(mine);
                }
                mine.extend(got.into_iter().map(|e| e.id));
            }
        }
    })
    .await;
    let mut seen = HashSet::new();
    for batch in batches {
        for id in ok(batch) {
            assert!(seen.insert(id.clone()), "{id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), total);
    // Leased events stay with their claimer until the lease runs out.
    assert!(ok(bounded(store.claim_due(at(30), 100, lease)).await).is_empty());
    assert_eq!(
        ok(bounded(store.outbox_depth()).await),
        total as u64,
        "leased is not delivered"
    );
    let expired = ok(bounded(store.claim_due(at(62), 100, lease)).await);
    assert_eq!(
        expired.len(),
        total,
        "a lapsed lease makes the event due again"
    );
    assert!(expired.iter().all(|e| e.leased_until == Some(at(122))));
}

async fn failures_are_scheduled_then_dead_then_replayed(store: Store) {
    let (merchant, other) = (unique("m"), unique("m"));
    let e = event(&merchant, 1, 0);
    ok(bounded(store.enqueue_event(e.clone())).await);
    ok(bounded(store.enqueue_event(event(&other, 2, 0))).await);
    let lease = Duration::from_secs(60);
    let mine = |events: Vec<OutboxEvent>| -> Vec<OutboxEvent> {
        events.into_iter().filter(|x| x.id == e.id).collect()
    };
    assert_eq!(
        mine(ok(bounded(store.claim_due(at(0), 10, lease)).await)).len(),
        1
    );

    let failed = FailedAttempt {
        next_attempt_at: Some(at(5)),
        status: Some(500),
        error: "merchant answered 500".to_owned(),
    };
    assert!(ok(bounded(store.mark_failed(&e.id, at(1), failed)).await));
    let by_merchant = EventFilter {
        merchant_id: Some(merchant.clone()),
        state: None,
    };
    let listed = ok(bounded(store.list_events(&by_merchant, 10)).await);
    assert_eq!(listed.len(), 1, "only this merchant's event");
    let stored = &listed[0];
    assert_eq!(
        (
            stored.state,
            stored.attempts,
            stored.last_status,
            stored.leased_until
        ),
        (EventState::Failed, 1, Some(500), None)
    );
    assert_eq!(stored.last_error.as_deref(), Some("merchant answered 500"));
    assert_eq!(stored.next_attempt_at, at(5));
    assert!(
        mine(ok(bounded(store.claim_due(at(4), 10, lease)).await)).is_empty(),
        "not yet due"
    );
    assert_eq!(
        mine(ok(bounded(store.claim_due(at(5), 10, lease)).await)).len(),
        1
    );

    let give_up = FailedAttempt {
        next_attempt_at: None,
        status: None,
        error: "connection refused".to_owned(),
    };
    assert!(ok(bounded(store.mark_failed(&e.id, at(6), give_up)).await));
    assert_eq!(
        ok(bounded(store.outbox_depth()).await),
        1,
        "only the other merchant's is left"
    );
    let dead = EventFilter {
        merchant_id: None,
        state: Some(EventState::Dead),
    };
    let listed = ok(bounded(store.list_events(&dead, 10)).await);
    assert_eq!(
        listed
            .iter()
            .map(|x| (&x.id, x.attempts, x.last_status))
            .collect::<Vec<_>>(),
        [(&e.id, 2, None)]
    );
    assert!(
        mine(ok(bounded(store.claim_due(at(1000), 10, lease)).await)).is_empty(),
        "dead is never due"
    );

    assert!(ok(bounded(store.replay(&e.id, at(2000))).await));
    assert!(!ok(bounded(store.replay("no-such-event", at(2000))).await));
    assert_eq!(ok(bounded(store.outbox_depth()).await), 2);
    let again = mine(ok(bounded(store.claim_due(at(2000), 10, lease)).await));
    assert_eq!(
        again.iter().map(|x| x.state).collect::<Vec<_>>(),
        [EventState::Pending]
    );
    assert!(ok(bounded(store.mark_delivered(&e.id, at(2001))).await));
    assert!(!ok(bounded(
        store.mark_delivered("no-such-event", at(2001))
    )
    .await));
    let delivered = EventFilter {
        merchant_id: Some(merchant),
        state: Some(EventState::Delivered),
    };
    let listed = ok(bounded(store.list_events(&delivered, 10)).await);
    assert_eq!(listed.iter().map(|x| x.attempts).collect::<Vec<_>>(), [3]);
    assert_eq!(ok(bounded(store.outbox_depth()).await), 1);
}

/// Runs `n` copies of a task at once and collects their results (each bounded).
async fn futures_join<T, F>(n: usize, make: impl Fn(usize) -> F) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, task) = (Arc::clone(&barrier), make(i));
            tokio::spawn(async move {
                // Start together, so the calls really overlap.
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(bounded(task).await.expect("task panicked"));
    }
    out
}

// ---- PostgreSQL only ---------------------------------------------------------------------------

/// Two stores with their own connection pools on one database, as two payglot instances
/// would be: one create claim wins, and no outbox event is leased to both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_postgres_database() {
    let url = postgres_url();
    let schema = unique("shared").replace('-', "_");
    let (a, b) = (
        open_postgres_schema(&url, &schema).await,
        open_postgres_schema(&url, &schema).await,
    );
    let merchant = unique("m");
    let stale = Duration::from_secs(30);
    let claims = futures_join(32, |i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let merchant = merchant.clone();
        async move {
            store
                .claim_create(&merchant, "fleet-order", at(0), stale)
                .await
        }
    })
    .await;
    let claims: Vec<Claim> = claims.into_iter().map(ok).collect();
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::New).count(),
        1,
        "{claims:?}"
    );
    let stored =
        ok(bounded(a.complete_create(record(&merchant, Some("fleet-order"), "fleet-1", 1))).await);
    assert_eq!(
        ok(bounded(b.claim_create(&merchant, "fleet-order", at(2), stale)).await),
        Claim::Done(Box::new(stored))
    );
    assert!(ok(bounded(b.first_use_nonce(
        "pk",
        "fleet-nonce",
        at(0),
        stale
    ))
    .await));
    assert!(
        !ok(bounded(a.first_use_nonce("pk", "fleet-nonce", at(1), stale)).await),
        "a nonce replayed to the other instance is refused"
    );

    let total = 50;
    for n in 0..total {
        ok(bounded(a.enqueue_event(event(&merchant, n, 0))).await);
    }
    let batches = futures_join(4, |i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due(at(1), 3, Duration::from_secs(60)).await?;
                if got.is_empty() {
                    return Ok::<_, StoreError>(mine);
                }
                mine.extend(got.into_iter().map(|e| e.id));
            }
        }
    })
    .await;
    let mut seen = HashSet::new();
    for id in batches.into_iter().flat_map(ok) {
        assert!(seen.insert(id.clone()), "{id} was leased to two claimers");
    }
    assert_eq!(seen.len(), total);
}

/// PostgreSQL stopped mid-run: every call says "unavailable" (no panic, no hang); started
/// again: the very next call works, without reopening the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_unavailable_then_recovers_by_itself() {
    let cluster = OwnCluster::start();
    let store = open_postgres_schema(&cluster.url, "outage").await;
    let merchant = unique("m");
    ok(bounded(store.complete_create(record(&merchant, Some("before"), "outage-1", 0))).await);

    cluster.script("halt");
    let lookup = bounded(store.get_by_ref(&merchant, "before")).await;
    assert!(
        matches!(lookup, Err(StoreError::Unavailable(_))),
        "{lookup:?}"
    );
    let write =
        bounded(store.complete_create(record(&merchant, Some("during"), "outage-2", 1))).await;
    assert!(
        matches!(write, Err(StoreError::Unavailable(_))),
        "{write:?}"
    );
    let claim =
        bounded(store.claim_create(&merchant, "during", at(1), Duration::from_secs(30))).await;
    assert!(
        matches!(claim, Err(StoreError::Unavailable(_))),
        "{claim:?}"
    );
    assert!(matches!(
        bounded(store.outbox_depth()).await,
        Err(StoreError::Unavailable(_))
    ));

    cluster.script("resume");
    let found = ok(bounded(store.get_by_ref(&merchant, "before")).await);
    assert_eq!(
        found.map(|r| r.upstream_payment_id).as_deref(),
        Some("outage-1")
    );
    ok(bounded(store.complete_create(record(&merchant, Some("after"), "outage-3", 2))).await);
    assert!(ok(bounded(store.get_by_ref(&merchant, "after")).await).is_some());
}

// ---- embedded only -----------------------------------------------------------------------------

const CRASH_PATH_VAR: &str = "PAYGLOT_STORE_CRASH_CHILD_PATH";
/// The child stops by itself after this many writes should nobody kill it.
const CRASH_CHILD_MAX_WRITES: usize = 20_000;

/// The child of [`kill_9_loses_no_completed_create`]: writes payments from many tasks and
/// prints each id only after `complete_create` returned. Does nothing unless run by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run as a child process by kill_9_loses_no_completed_create"]
async fn crash_child_writer() {
    let Ok(path) = std::env::var(CRASH_PATH_VAR) else {
        return;
    };
    let store = open_embedded(Path::new(&path)).await;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (store, next) = (store.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= CRASH_CHILD_MAX_WRITES {
                        return;
                    }
                    let id = format!("crash-{n}");
                    let r = record("crash-merchant", Some(&id), &id, 0);
                    if store.complete_create(r).await.is_ok() {
                        println!("committed {id}");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        let _ = w.await;
    }
}

/// A process killed with SIGKILL in the middle of a stream of concurrent creates loses none
/// whose `complete_create` had returned.
#[test]
fn kill_9_loses_no_completed_create() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index.redb");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_PATH_VAR, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("child stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("committed ") {
                let _ = lines_tx.send(id.to_owned());
            }
        }
    });
    // Kill it once it is well into the stream, or after a bounded wait whatever it did.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut answered = Vec::new();
    while answered.len() < 300 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(id) => answered.push(id),
            Err(_) => break,
        }
    }
    child.kill().expect("kill -9 the child");
    let _ = child.wait();
    // Everything it printed before dying is still in the pipe.
    reader.join().expect("reader thread");
    answered.extend(lines.try_iter());
    assert!(
        answered.len() >= 300,
        "the child answered only {} creates",
        answered.len()
    );
    assert!(
        answered.len() < CRASH_CHILD_MAX_WRITES,
        "the child finished before it was killed"
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = open_embedded(&path).await;
        for id in &answered {
            let found = ok(bounded(store.get_by_ref("crash-merchant", id)).await);
            assert_eq!(
                found.map(|r| r.upstream_payment_id).as_deref(),
                Some(id.as_str()),
                "{id} was lost"
            );
        }
    });
}

/// The embedded file keeps everything across a clean reopen too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_reopens_with_its_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/dir/index.redb");
    let payment = record("m", Some("kept"), "kept-1", 0);
    {
        let store = open_embedded(&path).await;
        ok(bounded(store.complete_create(payment.clone())).await);
        ok(bounded(store.enqueue_event(event("m", 1, 0))).await);
    }
    // Dropping the last handle closes the file.
    let store = open_embedded(&path).await;
    assert_eq!(
        ok(bounded(store.get_by_ref("m", "kept")).await),
        Some(payment.clone())
    );
    assert_eq!(ok(bounded(store.outbox_depth()).await), 1);
    // Every unique key is known from the file alone (nothing of it is in memory now): lookups
    // by each, and the writes that must find the first payment.
    let found = ok(bounded(store.get_by_upstream("apollo-sandbox", "kept-1")).await);
    assert_eq!(found.as_ref(), Some(&payment));
    let found = ok(bounded(store.get_by_relay_token(&payment.relay_token)).await);
    assert_eq!(found.as_ref(), Some(&payment));
    assert_eq!(
        ok(bounded(store.claim_create("m", "kept", at(5), Duration::from_secs(60))).await),
        Claim::Done(Box::new(payment.clone()))
    );
    let mut same_payment = payment.clone();
    same_payment.merchant_ref = Some("other".to_owned());
    same_payment.relay_token = new_relay_token();
    assert_eq!(
        ok(bounded(store.complete_create(same_payment)).await),
        payment
    );
    let mut same_ref = record("m", Some("kept"), "kept-2", 5);
    same_ref.status = "other".to_owned();
    assert_eq!(ok(bounded(store.complete_create(same_ref)).await), payment);
    let mut same_token = record("m", Some("new"), "kept-3", 5);
    same_token.relay_token = payment.relay_token.clone();
    match bounded(store.complete_create(same_token)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a relay token in the file must conflict, got {other:?}"),
    }
}
