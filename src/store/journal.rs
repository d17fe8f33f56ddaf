//! The embedded store's write-ahead journal: what makes a create durable before it is answered
//! without an fsync of the index's B-tree pages for every batch.
//!
//! The journal writer appends a batch's redo entries here and flushes them with one
//! `fdatasync` of a sequential write, and only then answers. A checkpoint later applies an
//! epoch's entries to the index file in one durable commit that names the next epoch, so the
//! old entries no longer count. There are two files ([`paths_for`]): while one epoch's entries
//! are being checkpointed from one, the next epoch's are written to the other. After a crash,
//! the entries of the epoch the index file names, then of the epoch after it, are applied
//! again, in order, on top of the last checkpoint.
//!
//! Layout (little-endian):
//! - header at offset 0: magic `PGLWAL01`, epoch `u64`, CRC-32 of those 16 bytes (`u32`);
//! - then entries: length `u32`, sequence `u64` (0, 1, 2, … within an epoch), CRC-32 (`u32`)
//!   over epoch, sequence, length and payload; then the payload.
//!
//! Reading stops at the first entry whose length, sequence or CRC is wrong: a torn write at the
//! end, or an entry of an earlier epoch left behind (the file is rewritten from the start each
//! epoch rather than truncated, so that a flush writes data only, no file-size metadata).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PGLWAL01";
const HEADER_LEN: u64 = 20;
const ENTRY_HEAD_LEN: usize = 16;
/// Written as zeros when the file is created, so that the first epochs' flushes also write
/// data only.
pub const PREALLOCATE_BYTES: u64 = 16 * 1024 * 1024;
/// The largest entry accepted when reading; a longer "length" is garbage.
const MAX_ENTRY_BYTES: u32 = 64 * 1024 * 1024;

/// The journal file, open for appending in one epoch.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    epoch: u64,
    next_seq: u64,
    /// Where the next entry goes.
    end: u64,
}

/// The two journal files next to an index file, `<path>-wal` and `<path>-wal2`: one takes
/// the current epoch's entries while the previous epoch's are being checkpointed.
pub fn paths_for(index: &Path) -> [PathBuf; 2] {
    ["-wal", "-wal2"].map(|suffix| {
        let mut name = index.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

impl Journal {
    /// The epoch a journal file's header names, without changing the file; `None` when there
    /// is no file or no valid header.
    pub fn epoch_of(path: &Path) -> io::Result<Option<u64>> {
        match File::open(path) {
            Ok(file) => read_header(&mut io::BufReader::new(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens (or creates) the journal and returns it with the payloads of `epoch`'s entries,
    /// in order. Entries of another epoch are stale: the index already holds them.
    pub fn open(path: &Path, epoch: u64) -> io::Result<(Journal, Vec<Vec<u8>>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let size = file.metadata()?.len();
        // Streamed: the file is mostly zeros or stale entries, never worth holding in memory.
        let mut reader = io::BufReader::new(&file);
        let header_ok = read_header(&mut reader)? == Some(epoch);
        let entries = if header_ok {
            read_entries(&mut reader, epoch)?
        } else {
            Vec::new()
        };
        let end = HEADER_LEN
            + entries
                .iter()
                .map(|e| (ENTRY_HEAD_LEN + e.len()) as u64)
                .sum::<u64>();
        if size < PREALLOCATE_BYTES {
            let zeros = vec![0; 1 << 20];
            let mut at = size;
            while at < PREALLOCATE_BYTES {
                let n = (PREALLOCATE_BYTES - at).min(zeros.len() as u64);
                file.write_all_at(&zeros[..n as usize], at)?;
                at += n;
            }
            file.sync_all()?;
        }
        let mut journal = Journal {
            file,
            path: path.to_owned(),
            epoch,
            next_seq: entries.len() as u64,
            end,
        };
        if !header_ok {
            journal.restart(epoch)?;
        }
        Ok((journal, entries))
    }

    /// Appends entries and flushes them to disk: once this returns `Ok`, they survive a crash.
    /// On an error, none of them counts.
    pub fn append<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        let start = self.end;
        let mut seq = self.next_seq;
        let mut buf = Vec::new();
        for payload in payloads {
            let len = u32::try_from(payload.len())
                .ok()
                .filter(|&l| l <= MAX_ENTRY_BYTES)
                .ok_or_else(|| io::Error::other("journal entry too large"))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&seq.to_le_bytes());
            buf.extend_from_slice(&entry_crc(self.epoch, seq, payload).to_le_bytes());
            buf.extend_from_slice(payload);
            seq += 1;
        }
        if buf.is_empty() {
            return Ok(());
        }
        let written = match faults::injected(&self.path) {
            Some(e) => Err(e),
            None => self
                .file
                .write_all_at(&buf, start)
                .and_then(|()| self.file.sync_data()),
        };
        match written {
            Ok(()) => {
                self.end = start + buf.len() as u64;
                self.next_seq = seq;
                Ok(())
            }
            Err(e) => {
                // Part of it may be on disk; make sure no reader takes it.
                let _ = self.invalidate_from(start);
                Err(e)
            }
        }
    }

    /// Starts `epoch` with no entries: after a checkpoint made everything before it durable.
    pub fn restart(&mut self, epoch: u64) -> io::Result<()> {
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&epoch.to_le_bytes());
        header.extend_from_slice(&crc32fast::hash(&header).to_le_bytes());
        self.file.write_all_at(&header, 0)?;
        self.file.sync_data()?;
        self.epoch = epoch;
        self.next_seq = 0;
        self.end = HEADER_LEN;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Failed appends on demand, for the store's tests of what happens when the disk refuses a
/// journal write (nothing to inject outside tests).
pub(super) mod faults {
    use std::io;
    use std::path::Path;

    #[cfg(test)]
    static FAILING: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

    /// Makes every append to `path` fail (`true`) or work again (`false`).
    #[cfg(test)]
    pub fn fail_appends(path: &Path, fail: bool) {
        let mut failing = FAILING.lock().unwrap_or_else(|p| p.into_inner());
        failing.retain(|p| p != path);
        if fail {
            failing.push(path.to_owned());
        }
    }

    #[cfg(test)]
    pub(super) fn injected(path: &Path) -> Option<io::Error> {
        let failing = FAILING.lock().unwrap_or_else(|p| p.into_inner());
        failing
            .iter()
            .any(|p| p == path)
            .then(|| io::Error::other("injected journal write failure"))
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(super) fn injected(_: &Path) -> Option<io::Error> {
        None
    }
}

impl Journal {
    /// Zeroes the entry head at `offset` (a zero length ends reading there) and flushes.
    fn invalidate_from(&mut self, offset: u64) -> io::Result<()> {
        self.file.write_all_at(&[0; ENTRY_HEAD_LEN], offset)?;
        self.file.sync_data()
    }
}

/// The epoch a valid header names; `None` for a short or damaged one.
fn read_header(reader: &mut impl Read) -> io::Result<Option<u64>> {
    let mut header = [0; HEADER_LEN as usize];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let (fields, crc) = header.split_at(16);
    let valid = fields.starts_with(MAGIC) && crc == crc32fast::hash(fields).to_le_bytes();
    Ok(valid.then(|| u64::from_le_bytes(fields[8..16].try_into().unwrap_or_default())))
}

/// Fills `buf`; `false` when the reader ends first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn entry_crc(epoch: u64, seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&epoch.to_le_bytes());
    hasher.update(&seq.to_le_bytes());
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The payloads of `epoch`'s valid entries after the header, in order.
fn read_entries(reader: &mut impl Read, epoch: u64) -> io::Result<Vec<Vec<u8>>> {
    let mut entries = Vec::new();
    let mut head = [0; ENTRY_HEAD_LEN];
    while read_full(reader, &mut head)? {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let seq = u64::from_le_bytes(head[4..12].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        if len == 0 || len > MAX_ENTRY_BYTES || seq != entries.len() as u64 {
            break;
        }
        let mut payload = vec![0; len as usize];
        if !read_full(reader, &mut payload)? || entry_crc(epoch, seq, &payload) != crc {
            break;
        }
        entries.push(payload);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path, epoch: u64) -> (Journal, Vec<Vec<u8>>) {
        Journal::open(path, epoch).expect("open journal")
    }

    #[test]
    fn appended_entries_are_read_back_in_order_for_their_epoch_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("index.redb-wal");
        let (mut j, found) = open(&path, 7);
        assert!(found.is_empty());
        j.append([b"one".as_slice(), b"two".as_slice()])
            .expect("append");
        j.append([b"three".as_slice()]).expect("append");
        drop(j);
        let (_, found) = open(&path, 7);
        assert_eq!(
            found,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        // Another epoch: the checkpoint that named it already holds these.
        let (_, found) = open(&path, 8);
        assert!(found.is_empty());
    }

    #[test]
    fn a_restarted_epoch_does_not_read_the_older_entries_left_in_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        let (mut j, _) = open(&path, 1);
        j.append([
            b"old-a".as_slice(),
            b"old-b".as_slice(),
            b"old-c".as_slice(),
        ])
        .expect("append");
        j.restart(2).expect("restart");
        j.append([b"new".as_slice()]).expect("append");
        drop(j);
        let (_, found) = open(&path, 2);
        assert_eq!(found, vec![b"new".to_vec()]);
        let (_, found) = open(&path, 1);
        assert!(found.is_empty(), "the header names epoch 2 now");
    }

    #[test]
    fn a_torn_or_corrupt_tail_ends_the_entries_before_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        let (mut j, _) = open(&path, 3);
        j.append([b"kept".as_slice(), b"torn".as_slice()])
            .expect("append");
        let second = HEADER_LEN + (ENTRY_HEAD_LEN + 4) as u64;
        drop(j);
        let file = OpenOptions::new().write(true).open(&path).expect("file");
        // One flipped payload byte in the second entry.
        file.write_all_at(b"T", second + ENTRY_HEAD_LEN as u64)
            .expect("write");
        let (mut j, found) = open(&path, 3);
        assert_eq!(found, vec![b"kept".to_vec()]);
        // Appending continues after what was valid, with the next sequence number.
        j.append([b"next".as_slice()]).expect("append");
        drop(j);
        let (_, found) = open(&path, 3);
        assert_eq!(found, vec![b"kept".to_vec(), b"next".to_vec()]);
    }

    #[test]
    fn epoch_of_reads_the_header_and_leaves_the_file_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        assert_eq!(Journal::epoch_of(&path).expect("no file"), None);
        let (mut j, _) = open(&path, 7);
        j.append([b"kept".as_slice()]).expect("append");
        drop(j);
        assert_eq!(Journal::epoch_of(&path).expect("read"), Some(7));
        // Reading the header did not restart the file: the entry is still there.
        assert_eq!(open(&path, 7).1, vec![b"kept".to_vec()]);
        std::fs::write(&path, b"not a journal").expect("write");
        assert_eq!(Journal::epoch_of(&path).expect("read"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever a crash or a bad disk does to the file (cut it anywhere, change any bytes),
        /// reading it never panics and yields only entries that were written, in order, from the
        /// first: a prefix.
        #[test]
        fn a_damaged_journal_reads_as_a_prefix_of_what_was_written(
            entries in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..300), 0..12),
            cut in proptest::option::of(0usize..5000),
            flips in proptest::collection::vec((0usize..5000, 1u8..=255), 0..4),
        ) {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("j");
            let (mut j, _) = open(&path, 5);
            j.append(entries.iter().map(Vec::as_slice)).expect("append");
            let written = HEADER_LEN as usize
                + entries.iter().map(|e| ENTRY_HEAD_LEN + e.len()).sum::<usize>();
            drop(j);
            let mut bytes = std::fs::read(&path).expect("read");
            bytes.truncate(written);
            for (at, xor) in &flips {
                if let Some(b) = bytes.get_mut(*at) {
                    *b ^= xor;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            let mut reader = bytes.as_slice();
            let found = match read_header(&mut reader).expect("read") {
                Some(5) => read_entries(&mut reader, 5).expect("read"),
                _ => Vec::new(),
            };
            proptest::prop_assert!(found.len() <= entries.len());
            proptest::prop_assert_eq!(&found[..], &entries[..found.len()]);
            if cut.is_none() && flips.is_empty() {
                proptest::prop_assert_eq!(found.len(), entries.len());
            }
        }
    }

    #[test]
    fn garbage_of_any_shape_reads_as_no_entries() {
        for len in [0usize, 5, 19, 20, 36, 100, 4096] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut reader = bytes.as_slice();
            let epoch = read_header(&mut reader).expect("read");
            assert_eq!(epoch, None, "len {len}");
            let mut reader = bytes.as_slice();
            assert!(
                read_entries(&mut reader, 0).expect("read").is_empty(),
                "len {len}"
            );
        }
    }
}
