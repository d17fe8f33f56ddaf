//! A plain pingora pass-through proxy: every request goes unchanged to one upstream, over pooled
//! keep-alive connections, with the same explicit timeouts payglot sets on its upstreams. It is
//! the baseline payglot's load benchmark compares against (scripts/bench-load.sh).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        // HttpPeer has no read timeout by default: set every one, as payglot does.
        let options = &mut peer.options;
        options.connection_timeout = Some(Duration::from_secs(2));
        options.total_connection_timeout = Some(Duration::from_secs(4));
        options.read_timeout = Some(Duration::from_secs(15));
        options.write_timeout = Some(Duration::from_secs(5));
        options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(upstream), listen, threads) = (args.next(), args.next(), args.next()) else {
        eprintln!(
            "usage: passthrough UPSTREAM_ADDR [LISTEN_ADDR] [THREADS]   e.g. 127.0.0.1:8000 127.0.0.1:6188 1"
        );
        std::process::exit(2);
    };
    let Ok(threads) = threads.as_deref().unwrap_or("1").parse::<usize>() else {
        eprintln!("THREADS: expected a number");
        std::process::exit(2);
    };
    let listen = listen.unwrap_or_else(|| "127.0.0.1:6188".to_owned());
    let Ok(upstream) = upstream.parse::<SocketAddr>() else {
        eprintln!("{upstream}: expected ip:port");
        std::process::exit(2);
    };
    // One worker thread by default and a quick stop: the load benchmark compares
    // single-threaded proxies (the scaling runs also try two).
    let conf = ServerConf {
        threads,
        work_stealing: false,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Passthrough { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    eprintln!("pass-through proxy on {listen} -> {upstream}");
    server.run_forever();
}

// cargo run --release --example static_upstream -- 127.0.0.1:8000
// cargo run --release --example passthrough -- 127.0.0.1:8000 127.0.0.1:6188
// curl -s 127.0.0.1:6188/cryptomus/v1/payment -H 'Content-Type: application/json' -d '{}'
