//! Running pingora services, in the background or in the foreground.
//!
//! [`spawn`] runs a pingora [`Server`] on its own thread and hands back a [`Running`] handle
//! whose [`Running::stop`] (or `Drop`) shuts it down gracefully and joins the thread, waiting no
//! longer than the configured grace period plus a margin. Tests, `payglot run` and
//! `payglot sandbox` all start their services through here.
//!
//! [`run_until_signal`] is the foreground variant for the CLI: it blocks with pingora's own Unix
//! signal handling (SIGTERM graceful, SIGINT fast, SIGQUIT graceful upgrade).
//!
//! Both build the server with `Server::new_with_opt_and_conf(None, conf)`, never from the process
//! arguments, which belong to the CLI (or to the test runner).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::ServiceWithDependents;
use tokio::sync::watch;

/// Services to run, as pingora takes them.
pub type Services = Vec<Box<dyn ServiceWithDependents>>;

/// How long [`Running::stop`] waits on top of the configured shutdown periods before giving up on
/// the server thread (it is then left detached rather than blocking the caller forever).
const STOP_MARGIN: Duration = Duration::from_secs(3);

/// A server configuration for background use: one worker thread, no grace period and a one-second
/// runtime shutdown, so that [`Running::stop`] returns within about a second.
pub fn quick_stop_conf() -> ServerConf {
    ServerConf {
        threads: 1,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    }
}

/// A pingora server running on its own thread. Stopping it, explicitly or by dropping the
/// handle, triggers a graceful shutdown and joins the thread (bounded in time).
pub struct Running {
    name: String,
    stop_requested: watch::Sender<bool>,
    /// `None` once stopped, or if the thread could not be started.
    thread: Option<JoinHandle<()>>,
    failed_to_start: bool,
    stop_timeout: Duration,
}

impl Running {
    /// The name given to [`spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the server thread has already returned (e.g. it failed to start).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Shuts the server down gracefully and waits for its thread, at most the configured grace
    /// period plus shutdown timeout plus a small margin. Returns `true` if the thread ended in
    /// time and without panicking.
    pub fn stop(mut self) -> bool {
        self.shutdown()
    }

    fn shutdown(&mut self) -> bool {
        let Some(thread) = self.thread.take() else {
            return !self.failed_to_start;
        };
        // The receiver may already be gone if the server thread ended on its own.
        let _ = self.stop_requested.send(true);
        let deadline = Instant::now() + self.stop_timeout;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                tracing::warn!(server = %self.name, "server thread did not stop in time; detaching it");
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        thread.join().is_ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Turns our stop request into pingora's graceful-terminate signal.
struct StopRequest(watch::Receiver<bool>);

#[async_trait]
impl ShutdownSignalWatch for StopRequest {
    async fn recv(&self) -> ShutdownSignal {
        let mut requested = self.0.clone();
        // An error means the `Running` handle is gone, which is a stop request too.
        let _ = requested.wait_for(|stop| *stop).await;
        ShutdownSignal::GracefulTerminate
    }
}

/// Starts `services` on a pingora server running on a new thread named `name`.
///
/// `conf` is used as is (see [`quick_stop_conf`] for a background-friendly one); its
/// `grace_period_seconds` and `graceful_shutdown_timeout_seconds` bound how long
/// [`Running::stop`] takes. Listening sockets are bound asynchronously: use
/// [`wait_until_listening`] before connecting. A failed bind does not end the thread (pingora
/// logs it inside the service's task), so that wait is also how a caller notices it.
pub fn spawn(name: &str, conf: ServerConf, services: Services) -> Running {
    let stop_timeout = Duration::from_secs(
        conf.grace_period_seconds.unwrap_or(0)
            + conf.graceful_shutdown_timeout_seconds.unwrap_or(5),
    ) + STOP_MARGIN;
    let (stop_requested, stop_watch) = watch::channel(false);
    let server = build_server(conf, services);
    let thread = thread::Builder::new()
        .name(format!("pingora-{name}"))
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(StopRequest(stop_watch)),
            })
        });
    let thread = match thread {
        Ok(thread) => Some(thread),
        Err(error) => {
            tracing::error!(server = name, %error, "cannot start the server thread");
            None
        }
    };
    Running {
        name: name.to_string(),
        stop_requested,
        failed_to_start: thread.is_none(),
        thread,
        stop_timeout,
    }
}

/// Runs `services` in the foreground until a Unix signal stops the server: SIGTERM waits
/// `conf.grace_period_seconds`, SIGINT stops at once.
pub fn run_until_signal(conf: ServerConf, services: Services) {
    build_server(conf, services).run(RunArgs::default());
}

fn build_server(conf: ServerConf, services: Services) -> Server {
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    server.add_services(services);
    server
}

/// A loopback port that was free a moment ago (bind port 0, read it, release it).
/// Returns 0 if no port could be bound at all.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(0)
}

/// Polls `addr` until a TCP connection succeeds or `timeout` passes.
pub fn wait_until_listening(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.min(Duration::from_millis(200));
        if !attempt.is_zero() && TcpStream::connect_timeout(&addr, attempt).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
