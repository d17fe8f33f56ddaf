//! Where log lines go: appended to a memory buffer that a background thread writes to stderr
//! every [`FLUSH_EVERY`]. A request thread never waits on stderr and never wakes another thread
//! per line (a channel per line cost more than the line itself under load). If stderr stalls and
//! the buffer reaches [`MAX_BUFFERED`], further lines are dropped and their count is reported.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

const FLUSH_EVERY: Duration = Duration::from_millis(50);
const MAX_BUFFERED: usize = 4 << 20;

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    fn append(&self, line: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.len() + line.len() > MAX_BUFFERED {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            buffer.extend_from_slice(line);
        }
    }

    /// Writes out what is buffered; the lock is held only for the swap.
    fn flush_to(&self, out: &mut impl Write, spare: &mut Vec<u8>) {
        {
            let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut *buffer, spare);
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            spare.extend_from_slice(
                format!("{dropped} log lines dropped: stderr did not keep up\n").as_bytes(),
            );
        }
        if !spare.is_empty() {
            // Nowhere to report a failing stderr; the lines are lost either way.
            let _ = out.write_all(spare);
            let _ = out.flush();
            spare.clear();
        }
    }
}

/// The `tracing` writer. Keep the [`FlushOnDrop`] alive for as long as logs should reach stderr.
pub struct BufferedStderr {
    shared: Arc<Shared>,
}

/// Stops the background writer and writes out the last lines when dropped.
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the background writer.
pub fn buffered_stderr() -> (BufferedStderr, FlushOnDrop) {
    let shared = Arc::new(Shared::default());
    let background = shared.clone();
    let thread = thread::Builder::new()
        .name("payglot-log".to_owned())
        .spawn(move || {
            let mut spare = Vec::new();
            let mut stderr = io::stderr();
            while !background.stopping.load(Ordering::Relaxed) {
                thread::park_timeout(FLUSH_EVERY);
                background.flush_to(&mut stderr, &mut spare);
            }
            background.flush_to(&mut stderr, &mut spare);
        })
        .ok();
    (
        BufferedStderr {
            shared: shared.clone(),
        },
        FlushOnDrop { shared, thread },
    )
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        } else {
            // No background thread could be started: write synchronously at the end.
            self.shared.flush_to(&mut io::stderr(), &mut Vec::new());
        }
    }
}

/// One formatted log line on its way into the buffer.
pub struct LineSink<'a>(&'a Shared);

impl Write for LineSink<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.0.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineSink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_lines_and_reports_drops() {
        let shared = Shared::default();
        shared.append(b"one\n");
        shared.append(b"two\n");
        let mut out = Vec::new();
        let mut spare = Vec::new();
        shared.flush_to(&mut out, &mut spare);
        assert_eq!(out, b"one\ntwo\n");
        let huge = vec![b'x'; MAX_BUFFERED];
        shared.append(&huge);
        shared.append(b"three\n");
        let mut out = Vec::new();
        shared.flush_to(&mut out, &mut spare);
        assert!(out.starts_with(&huge));
        assert!(out.ends_with(b"1 log lines dropped: stderr did not keep up\n"));
    }
}
