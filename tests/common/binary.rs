//! Running the `payglot` binary in tests: the bundled config on free ports, and a handle that
//! stops the process (by its PID) however the test ends.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;

use payglot::serve;

pub const BIN: &str = env!("CARGO_BIN_EXE_payglot");

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("payglot-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The bundled config written into `dir` with its three fixed ports replaced by free ones;
/// returns the file and the proxy and metrics addresses.
pub fn bundled_config_on_free_ports(dir: &Path) -> (PathBuf, SocketAddr, SocketAddr) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/payglot.yaml"))
        .expect("bundled config");
    let port = || SocketAddr::from(([127, 0, 0, 1], serve::free_loopback_port()));
    let (proxy, metrics, sandbox) = (port(), port(), port());
    let text = text
        .replace("127.0.0.1:8080", &proxy.to_string())
        .replace("127.0.0.1:9464", &metrics.to_string())
        .replace("127.0.0.1:8090", &sandbox.to_string());
    let path = dir.join("payglot.yaml");
    std::fs::write(&path, text).expect("write config");
    (path, proxy, metrics)
}

/// Kills (by its PID) and reaps the child when dropped, also when an assertion fails.
pub struct Stopper(pub Child);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
