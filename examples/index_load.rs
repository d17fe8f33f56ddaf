//! The embedded payment index alone under load: no network, no translation. Concurrent tasks
//! record creates (as payglot does after each upstream create) and the time each one waits
//! for its answer, the durable write included, is measured.
//!
//!     cargo run --release --example index_load -- --path target/index-load.redb --rate 4000
//!
//! With `--rate R`, creates start at a constant R per second, each timed from its intended
//! start when the index held it back (a stall delays every create queued behind it, and
//! counts against each), else from when the generator's millisecond timer started it; with
//! `--rate 0`, every task starts its next create when the last one is answered (maximum
//! throughput). Prints one line of `key=value` pairs (latencies in microseconds), plus the
//! process's CPU time per create and its peak memory. BENCHMARKS.md gives its figures (index on disk and on a
//! memory filesystem, same run).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use payglot::store::embedded::{EmbeddedStore, store_files};
use payglot::store::{PaymentRecord, StoreBackend, new_relay_token};
use time::OffsetDateTime;

// The proxy's allocator, so that the figures are the proxy's.
payglot::use_allocator!();

/// How late tokio's millisecond timer may wake the generator (its lateness, not the index's).
const TIMER_LAG: Duration = Duration::from_millis(2);

#[derive(Parser)]
#[command(about = "Creates recorded in the embedded payment index, timed")]
struct Args {
    /// The index file (its journal files go beside it); removed first.
    #[arg(long)]
    path: PathBuf,
    /// Creates per second over all tasks; 0 for as fast as the index answers.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Creates in flight at most (the proxy's concurrent requests).
    #[arg(long, default_value_t = 32)]
    tasks: usize,
    /// The index's page cache, MiB (the store's default when absent).
    #[arg(long)]
    cache_mib: Option<usize>,
}

fn record(n: u64) -> PaymentRecord {
    let now = OffsetDateTime::now_utc();
    PaymentRecord {
        merchant_id: format!("merchant-{}", n % 16),
        inbound_dialect: "alppay".to_owned(),
        merchant_ref: Some(format!("order-{n}-{}", now.unix_timestamp_nanos())),
        route_id: "default".to_owned(),
        upstream_id: "cryptomus".to_owned(),
        upstream_dialect: "cryptomus".to_owned(),
        // Random, as a provider's id is: its index key lands anywhere.
        upstream_payment_id: uuid::Uuid::new_v4().to_string(),
        upstream_ref: format!("pg-{n}"),
        echo: br#"{"customer":"c-1","invoice":"order","order":"a free-text order line"}"#.to_vec(),
        callback_success_url: Some("https://shop.example/paid".to_owned()),
        callback_failure_url: None,
        relay_token: new_relay_token(),
        created_at: now,
        updated_at: now,
        status: "pending".to_owned(),
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// The process's peak resident memory (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    for file in store_files(&args.path) {
        let _ = std::fs::remove_file(file);
    }
    let store = Arc::new(match args.cache_mib {
        Some(mib) => EmbeddedStore::open_with_cache(&args.path, mib * 1024 * 1024)?,
        None => EmbeddedStore::open(&args.path)?,
    });
    let run = Duration::from_secs(args.duration);
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let permits = Arc::new(tokio::sync::Semaphore::new(args.tasks));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, bool)>();
    let mut n: u64 = 0;
    let mut missed = 0u64;
    loop {
        let intended = match interval {
            Some(every) => started + every.mul_f64(n as f64),
            None => Instant::now(),
        };
        if intended.duration_since(started) >= run {
            break;
        }
        if interval.is_some() {
            tokio::time::sleep_until(intended.into()).await;
        }
        // tokio's timer wakes on whole milliseconds, up to 1 ms after `intended`: that delay is
        // this generator's, not the index's, so a create that finds a free task is timed from
        // when it really starts. One that has to wait for a task (the index is behind), or
        // whose start a wait for an earlier one pushed back, is timed from when it was due.
        let woke = Instant::now();
        let timer_only = woke <= intended + TIMER_LAG;
        let (permit, start) = match Arc::clone(&permits).try_acquire_owned() {
            Ok(p) if timer_only => (p, woke.max(intended)),
            Ok(p) => (p, intended),
            Err(_) if interval.is_some() => {
                // All tasks busy: this create is late, and counted from when it was due.
                missed += 1;
                (Arc::clone(&permits).acquire_owned().await?, intended)
            }
            Err(_) => (Arc::clone(&permits).acquire_owned().await?, Instant::now()),
        };
        let store = Arc::clone(&store);
        let done = done_tx.clone();
        let r = record(n);
        tokio::spawn(async move {
            let ok = store.complete_create(r).await.is_ok();
            let waited = start.elapsed().as_micros() as u64;
            let _ = done.send((waited, ok));
            drop(permit);
        });
        n += 1;
    }
    drop(done_tx);
    let mut latencies = Vec::with_capacity(n as usize);
    let mut errors = 0u64;
    while let Some((waited, ok)) = done_rx.recv().await {
        latencies.push(waited);
        errors += u64::from(!ok);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    latencies.sort_unstable();
    println!(
        "INDEXLOAD creates={} errors={errors} late={missed} rps={:.0} p50_us={} p99_us={} p999_us={} max_us={} cpu_us_per_create={:.1} peak_rss_mib={:.1}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().copied().unwrap_or(0),
        cpu * 1e6 / latencies.len().max(1) as f64,
        peak_rss_mib(),
    );
    Ok(())
}
