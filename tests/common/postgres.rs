//! A throwaway PostgreSQL cluster a test starts, stops and resumes itself (through
//! `scripts/test-postgres.sh`), for outages no test may cause on a shared database.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A cluster this test started, stopped and deleted when dropped.
pub struct OwnCluster {
    dir: tempfile::TempDir,
    pub url: String,
}

impl OwnCluster {
    pub fn script(&self, action: &str) {
        let status = Command::new("bash")
            .arg(script_path())
            .arg(action)
            .arg(self.dir.path().join("cluster"))
            .status()
            .expect("run scripts/test-postgres.sh");
        assert!(status.success(), "test-postgres.sh {action} failed");
    }

    pub fn start() -> OwnCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        // As root the cluster runs as `postgres`, which must reach the directory.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let out = Command::new("bash")
            .arg(script_path())
            .arg("start")
            .arg(dir.path().join("cluster"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/test-postgres.sh");
        assert!(
            out.status.success(),
            "could not start a PostgreSQL cluster (is PostgreSQL installable?)"
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        OwnCluster { dir, url }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script_path())
            .arg("stop")
            .arg(self.dir.path().join("cluster"))
            .status();
    }
}

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-postgres.sh")
}
