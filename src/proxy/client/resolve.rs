//! Upstream host names to addresses, asynchronously and cached for a short while, so that a
//! request never blocks a worker on a DNS lookup and a provider's DNS changes are still seen.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up address is reused.
const TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Resolver {
    /// The address to connect to for `host:port`; IP literals need no lookup. A lookup that
    /// takes longer than `timeout` fails (the system resolver may retry for many seconds).
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<SocketAddr, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_owned(), port);
        if let Some((addr, at)) = self.lock().get(&key)
            && at.elapsed() < TTL
        {
            return Ok(*addr);
        }
        let addr = lookup_within(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))?;
        self.lock().insert(key, (addr, Instant::now()));
        Ok(addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), (SocketAddr, Instant)>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs a lookup under a deadline.
async fn lookup_within<T>(
    timeout: Duration,
    lookup: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(timeout, lookup)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} ms", timeout.as_millis()),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lookup_that_hangs_times_out() {
        let hanging = std::future::pending::<std::io::Result<()>>();
        let error = lookup_within(Duration::from_millis(20), hanging)
            .await
            .expect_err("a lookup that never answers must time out");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    }

    const T: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn literals_and_names() {
        let r = Resolver::default();
        assert_eq!(
            r.resolve("127.0.0.1", 80, T).await,
            Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        let local = r
            .resolve("localhost", 8080, T)
            .await
            .expect("localhost resolves");
        assert!(local.ip().is_loopback());
        assert_eq!(local.port(), 8080);
        assert!(r.resolve("no-such-host.invalid", 80, T).await.is_err());
    }
}
