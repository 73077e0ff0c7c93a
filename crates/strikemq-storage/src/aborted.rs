//! The aborted transactions of a partition (Kafka's transaction index): for each transaction an
//! abort marker closed, the producer, the offsets of its first record and of the marker, and the
//! last stable offset after it. A read_committed Fetch returns the entries that overlap what it
//! returns, and the client drops those producers' records between the two offsets.
//!
//! On disk: `aborted.txnindex` in the partition directory, entries of 34 bytes as Kafka's
//! `.txnindex` files hold them (version i16 = 0, producer id i64, first offset i64, last offset
//! i64, last stable offset i64, big-endian), appended as aborts happen and synced with the log,
//! so an abort covered by a sync (or a recovery point) is in the file. Recovery re-derives the
//! entries of the markers it replays and drops entries past the recovered log end; retention and
//! DeleteRecords drop the entries wholly below the new log start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::error::{IoContext, StorageError};
use crate::producers::CompletedTxn;

/// The file's name in the partition directory.
pub(crate) const ABORTED_FILE: &str = "aborted.txnindex";
const ENTRY_LEN: usize = 34;
const ENTRY_VERSION: i16 = 0;

/// An aborted transaction, as Fetch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose records to drop.
    pub producer_id: i64,
    /// Its first record in this partition.
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
    /// The last stable offset once the marker was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&ENTRY_VERSION.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }

    fn decode(b: &[u8; ENTRY_LEN]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        (i16::from_be_bytes([b[0], b[1]]) == ENTRY_VERSION).then(|| AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

/// One partition's aborted transactions, in marker order.
#[derive(Debug)]
pub(crate) struct AbortedIndex {
    path: PathBuf,
    entries: RwLock<Vec<AbortedTxn>>,
    file: Mutex<Option<std::fs::File>>,
    unsynced: AtomicBool,
}

impl AbortedIndex {
    /// Opens the index of a log whose end is `log_end` and start `log_start`, adding the aborts
    /// among `replayed` (the markers recovery read from the log) that the file lacks.
    pub(crate) fn open(
        dir: &Path,
        log_start: i64,
        log_end: i64,
        replayed: &[CompletedTxn],
        lso_after: impl Fn(i64) -> i64,
    ) -> Result<AbortedIndex, StorageError> {
        let path = dir.join(ABORTED_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).ctx("read", &path),
        };
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        let mut damaged = bytes.len() % ENTRY_LEN != 0;
        for chunk in bytes.chunks_exact(ENTRY_LEN) {
            let chunk: &[u8; ENTRY_LEN] = chunk.try_into().unwrap_or(&[0xff; ENTRY_LEN]);
            match AbortedTxn::decode(chunk) {
                // Entries past the log end describe markers recovery cut off.
                Some(t) if t.last_offset < log_end && t.last_offset >= log_start => entries.push(t),
                Some(_) => damaged = true,
                None => {
                    damaged = true;
                    break;
                }
            }
        }
        for t in replayed.iter().filter(|t| t.aborted) {
            if !entries.iter().any(|e| e.last_offset == t.last_offset) {
                entries.push(AbortedTxn {
                    producer_id: t.producer_id,
                    first_offset: t.first_offset,
                    last_offset: t.last_offset,
                    last_stable_offset: lso_after(t.last_offset),
                });
                damaged = true;
            }
        }
        entries.sort_by_key(|e| e.last_offset);
        let index = AbortedIndex {
            path,
            entries: RwLock::new(entries),
            file: Mutex::new(None),
            unsynced: AtomicBool::new(false),
        };
        if damaged {
            index.rewrite()?;
        }
        Ok(index)
    }

    /// Records an abort (under the log's append lock, before the log end moves past its marker).
    pub(crate) fn push(&self, t: AbortedTxn) -> Result<(), StorageError> {
        let mut buf = Vec::with_capacity(ENTRY_LEN);
        t.encode(&mut buf);
        let mut file = self.file.lock();
        if file.is_none() {
            *file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .ctx("open", &self.path)?,
            );
        }
        if let Some(f) = file.as_mut() {
            f.write_all(&buf).ctx("write", &self.path)?;
        }
        self.unsynced.store(true, Ordering::Release);
        self.entries.write().push(t);
        Ok(())
    }

    /// Forces the entries written so far to disk.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let file = self.file.lock();
        if let Some(f) = file.as_ref() {
            if let Err(e) = f.sync_data() {
                self.unsynced.store(true, Ordering::Release);
                return Err(e).ctx("sync", &self.path);
            }
        }
        Ok(())
    }

    /// The aborted transactions that overlap the offsets `[from, upper)`.
    pub(crate) fn overlapping(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let entries = self.entries.read();
        if entries.is_empty() {
            return Vec::new();
        }
        let first = entries.partition_point(|e| e.last_offset < from);
        entries[first..]
            .iter()
            .filter(|e| e.first_offset < upper)
            .copied()
            .collect()
    }

    /// Whether any abort marker lies at or after `from` (no allocation).
    pub(crate) fn any_from(&self, from: i64) -> bool {
        self.entries
            .read()
            .last()
            .is_some_and(|e| e.last_offset >= from)
    }

    /// Drops the entries whose markers are below `log_start` (their records are gone).
    pub(crate) fn trim_below(&self, log_start: i64) -> Result<(), StorageError> {
        {
            let mut entries = self.entries.write();
            let keep = entries.partition_point(|e| e.last_offset < log_start);
            if keep == 0 {
                return Ok(());
            }
            entries.drain(..keep);
        }
        self.rewrite()
    }

    /// Replaces the file with the entries in memory.
    fn rewrite(&self) -> Result<(), StorageError> {
        let mut file = self.file.lock();
        *file = None;
        let entries = self.entries.read();
        if entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).ctx("remove", &self.path)
                }
                _ => Ok(()),
            };
        }
        let mut buf = Vec::with_capacity(entries.len() * ENTRY_LEN);
        for e in entries.iter() {
            e.encode(&mut buf);
        }
        crate::store::write_atomically(&self.path, &buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entries_are_kafkas_34_bytes_and_overlap_queries_follow_fetch() {
        let mut buf = Vec::new();
        txn(7, 10, 20).encode(&mut buf);
        assert_eq!(buf.len(), ENTRY_LEN);
        assert_eq!(&buf[..2], &[0, 0], "version 0");
        let dir = tempfile::tempdir().unwrap();
        let index = AbortedIndex::open(dir.path(), 0, 100, &[], |o| o + 1).unwrap();
        index.push(txn(7, 10, 20)).unwrap();
        index.push(txn(8, 15, 30)).unwrap();
        index.push(txn(9, 40, 50)).unwrap();
        let pids = |from, upper| -> Vec<i64> {
            index
                .overlapping(from, upper)
                .iter()
                .map(|t| t.producer_id)
                .collect()
        };
        assert_eq!(pids(0, 10), Vec::<i64>::new(), "before any");
        assert_eq!(pids(0, 11), [7]);
        assert_eq!(pids(21, 41), [8, 9]);
        assert_eq!(pids(31, 100), [9]);
        assert_eq!(pids(51, 100), Vec::<i64>::new(), "after all");
        index.sync().unwrap();
        // Read back; entries past a shorter log end (recovery cut the tail) are dropped.
        drop(index);
        let index = AbortedIndex::open(dir.path(), 0, 45, &[], |o| o + 1).unwrap();
        assert_eq!(index.overlapping(0, 100), [txn(7, 10, 20), txn(8, 15, 30)]);
        // Retention: entries wholly below the new start go, in the file too.
        index.trim_below(25).unwrap();
        drop(index);
        let index = AbortedIndex::open(dir.path(), 25, 45, &[], |o| o + 1).unwrap();
        assert_eq!(index.overlapping(0, 100), [txn(8, 15, 30)]);
    }

    #[test]
    fn recovery_adds_the_aborts_it_replayed_once() {
        let dir = tempfile::tempdir().unwrap();
        let index = AbortedIndex::open(dir.path(), 0, 100, &[], |o| o + 1).unwrap();
        index.push(txn(7, 10, 20)).unwrap();
        drop(index);
        let replayed = [
            CompletedTxn {
                producer_id: 7,
                first_offset: 10,
                last_offset: 20,
                aborted: true,
            },
            CompletedTxn {
                producer_id: 8,
                first_offset: 21,
                last_offset: 25,
                aborted: false,
            },
            CompletedTxn {
                producer_id: 9,
                first_offset: 22,
                last_offset: 26,
                aborted: true,
            },
        ];
        let index = AbortedIndex::open(dir.path(), 0, 100, &replayed, |o| o + 1).unwrap();
        assert_eq!(index.overlapping(0, 100), [txn(7, 10, 20), txn(9, 22, 26)]);
        drop(index);
        // Written back: a plain reopen has both.
        let index = AbortedIndex::open(dir.path(), 0, 100, &[], |o| o + 1).unwrap();
        assert_eq!(index.overlapping(0, 100).len(), 2);
    }
}
