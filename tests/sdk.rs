//! Every usable real client library of the Cryptomus and Apollo dialects published on PyPI and npm
//! (listed, with those that cannot be used and why, in `tests/sdk/README.md`), plus the AlpPay
//! docs' stdlib-hmac client, against `payglot run`: each pointed at the proxy the way its code
//! allows and driven by `tests/sdk/check_sdks.py` (the npm ones through
//! `tests/sdk/check_node_sdks.cjs`). Checks expected to fail today (known payglot gaps, lookups
//! not served yet) are listed in `tests/sdk/expectations.py`; any other failure, or a listed
//! check that passes, fails this test.
//!
//! Needs the venv at `target/sdk-venv` and `tests/sdk/node_modules`, made by
//! `bash scripts/sdk-env.sh` (which `scripts/test.sh` runs first). Without them this test fails,
//! naming that script.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::binary::{run_bundled, temp_dir};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The whole client run is bounded; it takes a few seconds.
const SDK_TIMEOUT: Duration = Duration::from_secs(60);

/// The status line of a plain `GET path` on loopback, if anything answers.
fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child` up to `limit`; kills it (by PID) and returns `None` on time-out.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_real_client_libraries_work_against_payglot() {
    let python = Path::new(ROOT).join("target/sdk-venv/bin/python");
    assert!(
        python.is_file(),
        "no SDK venv at {}: run `bash scripts/sdk-env.sh` first (scripts/test.sh does) to install \
         the provider SDKs pinned in tests/sdk/requirements.txt",
        python.display()
    );
    let node_modules = Path::new(ROOT).join("tests/sdk/node_modules");
    assert!(
        node_modules.is_dir(),
        "no {}: run `bash scripts/sdk-env.sh` first (scripts/test.sh does) to install the npm \
         client libraries locked in tests/sdk/package-lock.json",
        node_modules.display()
    );

    let dir = temp_dir("sdk");
    let proxy_log = dir.join("payglot.log");
    let running = run_bundled(&dir, || {
        let log = std::fs::File::create(&proxy_log).expect("log file");
        (log.try_clone().expect("log").into(), log.into())
    });
    let (proxy, metrics) = (running.ports.proxy, running.ports.metrics);
    let mut payglot = running.child;
    let ready_deadline = Instant::now() + Duration::from_secs(10);
    while get_status(metrics, "/readyz") != Some(200) {
        assert!(
            Instant::now() < ready_deadline,
            "payglot never became ready"
        );
        assert!(
            payglot.0.try_wait().expect("wait").is_none(),
            "payglot exited: {}",
            std::fs::read_to_string(&proxy_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The clients use requests/aiohttp/urllib/axios, which honour proxy variables: keep them on
    // loopback.
    let out_path = dir.join("sdk.out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut sdk = Command::new(&python)
        .arg(Path::new(ROOT).join("tests/sdk/check_sdks.py"))
        .args(["--proxy", &format!("http://{proxy}")])
        .current_dir(ROOT)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output"))
        .stderr(out)
        .spawn()
        .expect("start the SDK client");
    let status = wait_bounded(&mut sdk, SDK_TIMEOUT);
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    print!("{output}");

    // Stop the proxy (kill by PID) before judging, so it never outlives the test.
    drop(payglot);
    let proxy_output = std::fs::read_to_string(&proxy_log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);

    let status = status.unwrap_or_else(|| {
        panic!(
            "check_sdks.py did not finish within {SDK_TIMEOUT:?}:\n{output}\npayglot log:\n{proxy_output}"
        )
    });
    assert!(
        status.success(),
        "check_sdks.py failed ({status}):\n{output}\npayglot log:\n{proxy_output}"
    );
    assert!(
        output
            .lines()
            .any(|l| l.ends_with(" passed, 0 failed") && !l.starts_with("0 passed")),
        "no passing summary line:\n{output}"
    );
}
