//! Delivering the emulated providers' webhooks: in the background, one attempt at a time per
//! payment (so a payment's webhooks arrive in the order its status changed), each attempt
//! bounded in time, non-2xx answers and failures retried on the sandbox's schedule, and every
//! attempt recorded for tests to read.
//!
//! The HTTP client is a minimal HTTP/1.1 `POST` over a tokio `TcpStream`: the sandbox only
//! delivers to plain `http://` URLs (a local receiver, or payglot's relay), and a full client
//! crate would be a heavy dependency for that.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::Provider;
use super::lifecycle::Notification;
use super::store::{BoundedMap, lock};

/// Attempts kept in the delivery journal; the oldest are dropped first.
const JOURNAL_CAPACITY: usize = 10_000;
/// Payments whose delivery order is tracked; older ones lose only their ordering.
const ORDERED_PAYMENTS: usize = 10_000;
/// Longest answer head read from a receiver.
const MAX_ANSWER_HEAD: u64 = 64 * 1024;

/// One delivery attempt of a provider webhook, and how the receiver answered.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub provider: Provider,
    /// The provider's payment id the webhook is about.
    pub payment_id: String,
    pub url: String,
    /// The headers the sandbox added (signature headers, `Content-Type`).
    pub headers: Vec<(String, String)>,
    /// The exact body bytes sent.
    pub body: Vec<u8>,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why no answer came (connect error, timeout, unsupported URL).
    pub error: Option<String>,
}

impl DeliveryAttempt {
    /// The receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }

    /// A header's value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends webhooks and keeps the journal of attempts.
pub(super) struct Courier {
    /// The waits before each retry; its length is the number of retries.
    retry_schedule: Vec<Duration>,
    attempt_timeout: Duration,
    journal: Mutex<VecDeque<DeliveryAttempt>>,
    /// Per payment: the signal that its latest queued delivery has finished.
    last_delivery: Mutex<BoundedMap<String, oneshot::Receiver<()>>>,
}

impl Courier {
    pub(super) fn new(retry_schedule: Vec<Duration>, attempt_timeout: Duration) -> Arc<Courier> {
        Arc::new(Courier {
            retry_schedule,
            attempt_timeout,
            journal: Mutex::new(VecDeque::new()),
            last_delivery: Mutex::new(BoundedMap::new(ORDERED_PAYMENTS)),
        })
    }

    pub(super) fn journal(&self) -> Vec<DeliveryAttempt> {
        lock(&self.journal).iter().cloned().collect()
    }

    /// Queues `notification` behind the payment's earlier webhooks and returns at once.
    pub(super) fn send(
        self: &Arc<Self>,
        provider: Provider,
        payment_id: &str,
        notification: Notification,
    ) {
        let job = Job {
            provider,
            payment_id: payment_id.to_string(),
            notification,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.record(
                &job,
                1,
                None,
                Some("no async runtime to deliver from".into()),
            );
            return;
        };
        let (done, finished) = oneshot::channel();
        let previous = lock(&self.last_delivery).replace(payment_id.to_string(), finished);
        let courier = Arc::clone(self);
        runtime.spawn(async move {
            // An error means the earlier delivery's task is gone: nothing left to wait for.
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            courier.deliver(&job).await;
            let _ = done.send(());
        });
    }

    /// The first attempt, then one retry per entry of the schedule until a 2xx answer.
    async fn deliver(&self, job: &Job) {
        let mut waits = self.retry_schedule.iter();
        let mut attempt = 1;
        loop {
            let outcome = tokio::time::timeout(self.attempt_timeout, post(&job.notification)).await;
            let (status, error) = match outcome {
                Ok(Ok(status)) => (Some(status), None),
                Ok(Err(error)) => (None, Some(error)),
                Err(_) => (
                    None,
                    Some(format!("no answer within {:?}", self.attempt_timeout)),
                ),
            };
            let delivered = status.is_some_and(|status| (200..300).contains(&status));
            let retryable = !error.as_deref().is_some_and(is_unsupported);
            self.record(job, attempt, status, error);
            let Some(wait) = waits.next().filter(|_| !delivered && retryable) else {
                return;
            };
            tokio::time::sleep(*wait).await;
            attempt += 1;
        }
    }

    fn record(&self, job: &Job, attempt: u32, status: Option<u16>, error: Option<String>) {
        let entry = DeliveryAttempt {
            provider: job.provider,
            payment_id: job.payment_id.clone(),
            url: job.notification.url.clone(),
            headers: job.notification.headers.clone(),
            body: job.notification.body.clone(),
            attempt,
            status,
            error,
        };
        let mut journal = lock(&self.journal);
        if journal.len() >= JOURNAL_CAPACITY {
            journal.pop_front();
        }
        journal.push_back(entry);
    }
}

struct Job {
    provider: Provider,
    payment_id: String,
    notification: Notification,
}

const UNSUPPORTED: &str = "unsupported callback URL";

/// A URL the sandbox cannot deliver to is not retried.
fn is_unsupported(error: &str) -> bool {
    error.starts_with(UNSUPPORTED)
}

/// `POST`s the notification and returns the receiver's status code.
async fn post(notification: &Notification) -> Result<u16, String> {
    let url =
        url::Url::parse(&notification.url).map_err(|error| format!("{UNSUPPORTED}: {error}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "{UNSUPPORTED}: the sandbox delivers to http:// URLs only"
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(format!("{UNSUPPORTED}: no host"));
    };
    let port = url.port().unwrap_or(80);
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    // IPv6 literals come bracketed from the URL; connecting wants them bare.
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let mut stream = TcpStream::connect((connect_host, port))
        .await
        .map_err(|error| format!("cannot connect to {authority}: {error}"))?;

    let mut request = format!(
        "POST {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: payglot-sandbox\r\n",
        notification.body.len()
    );
    for (name, value) in &notification.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&notification.body);
    stream
        .write_all(&bytes)
        .await
        .map_err(|error| format!("cannot send to {authority}: {error}"))?;
    read_status(stream)
        .await
        .map_err(|error| format!("no valid answer from {authority}: {error}"))
}

/// The final status code of the answer, skipping `1xx` interim answers.
async fn read_status(stream: TcpStream) -> Result<u16, String> {
    let mut reader = BufReader::new(stream.take(MAX_ANSWER_HEAD));
    loop {
        let status_line = read_line(&mut reader).await?;
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|code| (100..600).contains(code))
            .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
        // Skip the headers; only the status matters here.
        while !read_line(&mut reader).await?.is_empty() {}
        if !(100..200).contains(&status) {
            return Ok(status);
        }
    }
}

async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<String, String> {
    let mut line = String::new();
    let read = reader
        .read_line(&mut line)
        .await
        .map_err(|error| error.to_string())?;
    if read == 0 {
        return Err("the connection closed early".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
