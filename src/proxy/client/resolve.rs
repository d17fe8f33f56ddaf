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
    /// The address to connect to for `host:port`; IP literals need no lookup.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_owned(), port);
        if let Some((addr, at)) = self.lock().get(&key)
            && at.elapsed() < TTL
        {
            return Ok(*addr);
        }
        let addr = tokio::net::lookup_host((host, port))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_names() {
        let r = Resolver::default();
        assert_eq!(
            r.resolve("127.0.0.1", 80).await,
            Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        let local = r
            .resolve("localhost", 8080)
            .await
            .expect("localhost resolves");
        assert!(local.ip().is_loopback());
        assert_eq!(local.port(), 8080);
        assert!(r.resolve("no-such-host.invalid", 80).await.is_err());
    }
}
