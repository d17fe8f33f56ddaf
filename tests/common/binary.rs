//! Running the `payglot` binary in tests: `payglot run` on the bundled config moved to ports
//! the kernel picked, and a handle that stops the process (by its PID) however the test ends.
//!
//! A child process cannot be handed a listening socket (payglot binds its own), so its ports
//! are chosen by binding port 0 and releasing them just before the start. Another socket can
//! take such a port in that moment; so the start is checked, not assumed: it counts only once
//! `/proc` shows each listening socket held by the child itself, and if another socket holds
//! one of the ports the child is stopped and started again on fresh ports.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::sockets;

pub const BIN: &str = env!("CARGO_BIN_EXE_payglot");

/// Attempts before giving up on finding three ports the child could take.
const START_ATTEMPTS: usize = 5;
/// How long one start may take before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("payglot-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The addresses of one `payglot run` on the bundled config.
#[derive(Debug, Clone, Copy)]
pub struct BundledPorts {
    pub proxy: SocketAddr,
    pub metrics: SocketAddr,
    pub sandbox: SocketAddr,
}

/// The bundled config with its fixed addresses moved to `ports` and its payment index into
/// `dir` (the test's own directory, removed with it). Panics if the bundled file no longer has
/// them exactly where expected, rather than leaving a fixed port in place.
pub fn bundled_config_on(ports: BundledPorts, dir: &Path) -> String {
    let mut text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/payglot.yaml"))
            .expect("bundled config");
    // (literal, how often the bundled file has it, replacement)
    let replacements = [
        (
            r#"listen: "127.0.0.1:8080""#,
            1,
            format!(r#"listen: "{}""#, ports.proxy),
        ),
        // The webhook relay's public URL and the sandbox AlpPay account's webhook URL.
        (
            "http://127.0.0.1:8080",
            2,
            format!("http://{}", ports.proxy),
        ),
        (
            r#"metrics_listen: "127.0.0.1:9464""#,
            1,
            format!(r#"metrics_listen: "{}""#, ports.metrics),
        ),
        // The sandbox's listen and the three upstreams' base URLs.
        ("127.0.0.1:8090", 4, ports.sandbox.to_string()),
        // One index file per running child: two processes cannot open one embedded store.
        (
            "path: target/payglot-index.redb",
            1,
            format!(
                "path: {}",
                dir.join(format!("index-{}.redb", ports.proxy.port()))
                    .display()
            ),
        ),
    ];
    for (literal, count, replacement) in &replacements {
        assert_eq!(
            text.matches(literal).count(),
            *count,
            "config/payglot.yaml should have {literal:?} {count} time(s); update {}",
            file!()
        );
        text = text.replace(literal, replacement);
    }
    for fixed in ["127.0.0.1:8080", "127.0.0.1:9464", "127.0.0.1:8090"] {
        assert!(
            !text.contains(fixed),
            "{fixed} is left in the test config; update {}",
            file!()
        );
    }
    text
}

/// The bundled config written into `dir` on fresh loopback ports, for a child the test starts
/// itself (`run_bundled` retries when another socket took a port; such a test cannot).
pub fn bundled_config_file(dir: &Path) -> (PathBuf, BundledPorts) {
    let config = dir.join("payglot.yaml");
    let ports = pick_ports();
    std::fs::write(&config, bundled_config_on(ports, dir)).expect("write config");
    (config, ports)
}

/// `payglot run` on the bundled config in `dir`, as a child process.
pub struct RunningBinary {
    pub child: Stopper,
    /// The config file it runs on (tests rewrite it to exercise reloads).
    pub config: PathBuf,
    pub ports: BundledPorts,
}

/// Starts `payglot run` on the bundled config, written into `dir` with fresh loopback ports,
/// and returns once the child itself listens on all three (see the module comment). `stdio`
/// gives the child's stdout and stderr for each attempt.
pub fn run_bundled(dir: &Path, stdio: impl Fn() -> (Stdio, Stdio)) -> RunningBinary {
    let config = dir.join("payglot.yaml");
    let mut refusals = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let ports = pick_ports();
        std::fs::write(&config, bundled_config_on(ports, dir)).expect("write config");
        let loaded = payglot::config::load_file(&config)
            .unwrap_or_else(|errors| panic!("the test config does not load:\n{errors}"));
        assert_eq!(loaded.server.listen, ports.proxy);
        assert_eq!(loaded.server.metrics_listen, ports.metrics);
        assert_eq!(loaded.sandbox.map(|s| s.listen), Some(ports.sandbox));

        let (stdout, stderr) = stdio();
        let child = Command::new(BIN)
            .args(["run", "--config", config.to_str().expect("utf-8 path")])
            .env("PAYGLOT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start payglot run");
        let mut child = Stopper(child);
        match wait_for_own_listeners(&mut child.0, ports) {
            Ok(()) => {
                return RunningBinary {
                    child,
                    config,
                    ports,
                };
            }
            Err(why) => refusals.push(why),
        }
    }
    panic!(
        "payglot run never listened on its own ports:\n{}",
        refusals.join("\n")
    );
}

/// Three loopback ports that were free a moment ago.
fn pick_ports() -> BundledPorts {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"))
        .collect();
    let addr = |i: usize| listeners[i].local_addr().expect("bound address");
    BundledPorts {
        proxy: addr(0),
        metrics: addr(1),
        sandbox: addr(2),
    }
}

/// Waits until `child` listens on every address in `ports`; an error (and `child` stopped) if
/// another socket holds one of them or the time is up. Panics if the child exits.
fn wait_for_own_listeners(child: &mut Child, ports: BundledPorts) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let pid = child.id();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("payglot run exited while starting: {status}");
        }
        let mut all_ours = true;
        for addr in [ports.proxy, ports.metrics, ports.sandbox] {
            let holders = sockets::inodes_on_port(addr);
            if let Some(foreign) = holders
                .iter()
                .find(|inode| !sockets::process_holds_socket(pid, **inode))
            {
                stop(child);
                return Err(format!(
                    "{addr} is held by another socket (inode {foreign})"
                ));
            }
            let listening = sockets::listening_inodes(addr);
            all_ours &= !listening.is_empty()
                && listening
                    .iter()
                    .all(|inode| sockets::process_holds_socket(pid, *inode));
        }
        if all_ours {
            return Ok(());
        }
        if Instant::now() >= deadline {
            stop(child);
            return Err(format!(
                "not listening on {ports:?} after {START_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills (by its PID) and reaps the child when dropped, also when an assertion fails.
pub struct Stopper(pub Child);

impl Drop for Stopper {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}
