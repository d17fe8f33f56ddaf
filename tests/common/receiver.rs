//! A merchant's webhook receiver for the tests: a loopback HTTP/1.1 listener that records every
//! request and answers scripted statuses.
#![allow(dead_code)]

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

#[derive(Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status this receiver answered.
    pub answered: u16,
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered {} {:?} {}",
            self.path,
            self.answered,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("webhook bodies are UTF-8")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook bodies are JSON")
    }
}

type Inbox = Arc<(Mutex<Vec<Received>>, Condvar)>;

/// In a [`Receiver`] script: read the request, record it, and never answer it.
pub const HOLD: u16 = 0;

/// A loopback HTTP/1.1 listener that records every request and answers the scripted statuses
/// in turn ([`HOLD`]: not at all), then 200.
pub struct Receiver {
    addr: SocketAddr,
    /// How long a wait for requests, and each read or write of one, may take.
    deadline: Duration,
    inbox: Inbox,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts answering `script`; waits end with a failure after `deadline`.
    pub fn start(script: Vec<u16>, deadline: Duration) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let inbox: Inbox = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let inbox = Arc::clone(&inbox);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut answers = script.into_iter();
                // Held connections stay open until the receiver stops.
                let mut held = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let status = answers.next().unwrap_or(200);
                    if let Some((received, stream)) = serve_one(stream, status, deadline) {
                        if status == HOLD {
                            held.push(stream);
                        }
                        let (requests, arrived) = &*inbox;
                        requests.lock().expect("inbox").push(received);
                        arrived.notify_all();
                    }
                }
            })
        };
        Receiver {
            addr,
            deadline,
            inbox,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until `done` holds for the requests received so far, and returns them.
    pub fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let (requests, arrived) = &*self.inbox;
        let guard = requests.lock().expect("inbox");
        let (guard, timeout) = arrived
            .wait_timeout_while(guard, self.deadline, |requests| !done(requests))
            .expect("inbox");
        assert!(!timeout.timed_out(), "{what} never arrived: {:#?}", *guard);
        guard.clone()
    }

    /// The first `count` requests, waiting for them until the deadline.
    pub fn wait_for(&self, count: usize) -> Vec<Received> {
        let (requests, arrived) = &*self.inbox;
        let guard = requests.lock().expect("inbox");
        let (guard, timeout) = arrived
            .wait_timeout_while(guard, self.deadline, |requests| requests.len() < count)
            .expect("inbox");
        assert!(
            !timeout.timed_out(),
            "only {} of {count} webhooks arrived: {:#?}",
            guard.len(),
            *guard
        );
        guard.iter().take(count).cloned().collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.0.lock().expect("inbox").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_one(
    mut stream: TcpStream,
    status: u16,
    deadline: Duration,
) -> Option<(Received, TcpStream)> {
    stream.set_read_timeout(Some(deadline)).ok()?;
    stream.set_write_timeout(Some(deadline)).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    if status != HOLD {
        let answer =
            format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream.write_all(answer.as_bytes()).ok()?;
    }
    let received = Received {
        path,
        headers,
        body,
        answered: status,
    };
    Some((received, stream))
}
