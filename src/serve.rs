//! Running pingora services, in the background or in the foreground.
//!
//! [`spawn`] runs a pingora [`Server`] on its own thread and hands back a [`Running`] handle
//! whose [`Running::stop`] (or `Drop`) shuts it down gracefully and joins the thread, waiting no
//! longer than the configured grace period plus a margin. Tests, `payglot run` and
//! `payglot sandbox` all start their services through here.
//!
//! [`spawn_on`] does the same with listening sockets the caller has already bound (port 0, so
//! the kernel picks a port nobody holds): a service whose listen address is such a socket's
//! address takes that socket instead of binding its own, so nothing can take the port between
//! choosing and binding it. Tests start every in-process server this way.
//!
//! [`run_until_signal`] is the foreground variant for the CLI: it blocks with pingora's own Unix
//! signal handling (SIGTERM graceful, SIGINT fast, SIGQUIT graceful upgrade).
//!
//! Both build the server with `Server::new_with_opt_and_conf(None, conf)`, never from the process
//! arguments, which belong to the CLI (or to the test runner).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{
    ListenFds, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch,
};
use pingora::services::{ServiceReadyNotifier, ServiceWithDependents};
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

/// Like [`spawn`], with `listeners` already bound by the caller (e.g. with [`bind_loopback`]).
/// Each listener goes to the service whose listen address is its local address (written as
/// `ip:port`, e.g. `127.0.0.1:40123`); that service then accepts on it instead of binding.
/// A listener no service listens on is an error (and is closed), so a typo in an address
/// cannot silently leave a service binding a port of its own.
pub fn spawn_on(
    name: &str,
    conf: ServerConf,
    services: Services,
    listeners: Vec<TcpListener>,
) -> io::Result<Running> {
    let mut unclaimed = Vec::new();
    for listener in listeners {
        // tokio takes the socket over as is and needs it non-blocking.
        listener.set_nonblocking(true)?;
        unclaimed.push((listener.local_addr()?.to_string(), OwnedFd::from(listener)));
    }
    let services: Services = services
        .into_iter()
        .map(|service| {
            let addresses = service.listen_addresses().unwrap_or_default();
            let (own, rest): (Vec<_>, Vec<_>) = unclaimed
                .drain(..)
                .partition(|(address, _)| addresses.contains(address));
            unclaimed = rest;
            if own.is_empty() {
                service
            } else {
                Box::new(PreBound {
                    inner: service,
                    listeners: own,
                }) as Box<dyn ServiceWithDependents>
            }
        })
        .collect();
    if let Some((address, _)) = unclaimed.first() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no service listens on {address}, the address of a listener handed to it"),
        ));
    }
    Ok(spawn(name, conf, services))
}

/// A loopback listener on a port the kernel chose, for [`spawn_on`] (or for a test's own
/// fake upstream). The port stays taken for as long as the listener lives.
pub fn bind_loopback() -> io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0))
}

/// A service that accepts on sockets bound before it started.
///
/// pingora looks each listen address up in its table of inherited listening sockets (the one
/// its graceful upgrade fills) before binding; this puts the caller's sockets into that table
/// just before the inner service builds its listeners. The table then holds only their
/// numbers: the listener pingora builds from each owns the socket and closes it on shutdown.
struct PreBound {
    inner: Box<dyn ServiceWithDependents>,
    listeners: Vec<(String, OwnedFd)>,
}

#[async_trait]
impl ServiceWithDependents for PreBound {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
        ready_notifier: ServiceReadyNotifier,
    ) {
        match &fds {
            Some(table) => {
                let mut table = table.lock();
                for (address, socket) in self.listeners.drain(..) {
                    table.add(address, socket.into_raw_fd());
                }
            }
            // pingora passes its table on every Unix system; without one the sockets are
            // closed here and the service binds the addresses itself.
            None => {
                tracing::warn!(
                    service = self.inner.name(),
                    "no listening-socket table; binding anew"
                );
                self.listeners.clear();
            }
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd, ready_notifier)
            .await;
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn runtime_opts_override(
        &self,
        global: &pingora::server::RuntimeOpts,
    ) -> Option<pingora::server::RuntimeOpts> {
        self.inner.runtime_opts_override(global)
    }

    fn on_startup_delay(&self, time_waited: Duration) {
        self.inner.on_startup_delay(time_waited);
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
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
