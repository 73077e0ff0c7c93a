//! Log compaction (Kafka's log cleaner, simplified): keep the latest record of each key in the
//! closed segments below the last stable offset, drop tombstones once they are old enough and the
//! records of aborted transactions, drop a transaction's marker once none of its records is left
//! and `delete.retention.ms` has passed, and keep every offset where it was.
//!
//! A cleaned segment is written beside the old one as `<base>.log.cleaned`, synced, and swapped in
//! by rename after the old segment's indexes are removed, so a crash leaves either the old or the
//! new log, never a mix, and never an index that points into the wrong file (a segment without
//! indexes is scanned, and its indexes are rebuilt). Readers holding the old segment keep reading
//! it until they are done.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use strikemq_batch::{decode_records, rebuild_batch, RebuiltHeader, RecordBatch};

use crate::error::{IoContext, StorageError};
use crate::partition::PartitionLog;
use crate::segment::{file_stem, Segment};

/// Suffix of a cleaned segment before it replaces the original.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";

/// When records may be compacted.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// `min.compaction.lag.ms`: a segment is cleaned only once its newest record is this old.
    pub min_lag_ms: i64,
    /// `delete.retention.ms`: how long a tombstone stays after it could have been removed.
    pub delete_retention_ms: i64,
}

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionResult {
    /// Segments rewritten.
    pub segments: usize,
    /// Records dropped.
    pub records_removed: usize,
    /// When another pass would have work, in ms since the epoch (a segment becomes old enough,
    /// a tombstone expires).
    pub next_due_ms: Option<i64>,
}

fn earliest(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl PartitionLog {
    /// Compacts the closed segments that `policy` allows.
    pub fn compact(
        &self,
        now_ms: i64,
        policy: CompactionPolicy,
    ) -> Result<CompactionResult, StorageError> {
        let list = self.segment_snapshot();
        let closed = &list[..list.len().saturating_sub(1)];
        let mut result = CompactionResult::default();
        let lag_limit = now_ms.saturating_sub(policy.min_lag_ms.max(0));
        // Never past the last stable offset (Kafka's first uncleanable offset): a record of an
        // open transaction must not replace a committed value it may yet be aborted over.
        let stable = self.last_stable_offset();
        let cleanable: Vec<&Arc<Segment>> = closed
            .iter()
            .take_while(|s| s.max_timestamp() <= lag_limit && s.next_offset() <= stable)
            .collect();
        if let Some(next) = closed.get(cleanable.len()) {
            result.next_due_ms = Some(
                next.max_timestamp()
                    .saturating_add(policy.min_lag_ms.max(0))
                    + 1,
            );
        }
        let Some(last) = cleanable.last() else {
            return Ok(result);
        };
        let dirty_end = last.next_offset();
        let pending_tombstones = self.tombstone_deadline.load(Ordering::Acquire);
        if self.cleaned_up_to.load(Ordering::Acquire) >= dirty_end && pending_tombstones > now_ms {
            if pending_tombstones != i64::MAX {
                result.next_due_ms = earliest(result.next_due_ms, pending_tombstones);
            }
            return Ok(result);
        }
        // Records of aborted transactions count for nothing: they are removed, and the value a
        // key had before them stays.
        let aborts = self.aborted_transactions(cleanable[0].base_offset, dirty_end);
        let aborted = |b: &RecordBatch<'_>| {
            b.is_transactional()
                && !b.is_control()
                && aborts.iter().any(|a| {
                    a.producer_id == b.producer_id()
                        && (a.first_offset..=a.last_offset).contains(&b.base_offset())
                })
        };
        // The offset of the latest record of every key in the cleanable segments.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for seg in &cleanable {
            for_each_batch(seg.published(), |b| {
                if !b.is_control() && !aborted(&b) {
                    for r in decode_records(&b)? {
                        if let Some(k) = r.key {
                            latest.insert(k, r.offset);
                        }
                    }
                }
                Ok(())
            })?;
        }
        let tombstone_limit = now_ms.saturating_sub(policy.delete_retention_ms.max(0));
        let mut next_tombstone = i64::MAX;
        // Per producer: whether a record of its transaction since its last marker is kept.
        let mut txn_kept: HashMap<i64, bool> = HashMap::new();
        for seg in &cleanable {
            let mut out: Vec<u8> = Vec::with_capacity(seg.size() as usize);
            let mut removed = 0usize;
            for_each_batch(seg.published(), |b| {
                if b.is_control() {
                    // A marker stays while a record of its transaction does, and for
                    // delete.retention.ms after (as a tombstone), so that a reader who saw the
                    // records also sees where their transaction ended.
                    let kept = txn_kept.remove(&b.producer_id()).unwrap_or(false);
                    if !kept && b.max_timestamp() < tombstone_limit {
                        removed += 1;
                    } else {
                        if !kept {
                            next_tombstone = next_tombstone.min(
                                b.max_timestamp()
                                    .saturating_add(policy.delete_retention_ms.max(0))
                                    + 1,
                            );
                        }
                        out.extend_from_slice(b.as_bytes());
                    }
                    return Ok(());
                }
                if aborted(&b) {
                    removed += b.records_count().max(0) as usize;
                    return Ok(());
                }
                let records = decode_records(&b)?;
                let total = records.len();
                let keep: Vec<_> = records
                    .into_iter()
                    .filter(|r| {
                        let current = r
                            .key
                            .as_ref()
                            .is_none_or(|k| latest.get(k) == Some(&r.offset));
                        let tombstone = r.value.is_none() && r.key.is_some();
                        if current && tombstone && r.timestamp >= tombstone_limit {
                            next_tombstone = next_tombstone.min(
                                r.timestamp
                                    .saturating_add(policy.delete_retention_ms.max(0))
                                    + 1,
                            );
                        }
                        current && !(tombstone && r.timestamp < tombstone_limit)
                    })
                    .collect();
                removed += total - keep.len();
                if b.is_transactional() && !keep.is_empty() {
                    txn_kept.insert(b.producer_id(), true);
                }
                if keep.len() == total {
                    out.extend_from_slice(b.as_bytes());
                } else if !keep.is_empty() {
                    out.extend_from_slice(&rebuild_batch(&RebuiltHeader::of(&b), &keep));
                }
                Ok(())
            })?;
            if removed == 0 {
                continue;
            }
            if self.replace_segment(seg, &out)? {
                result.segments += 1;
                result.records_removed += removed;
            }
        }
        self.cleaned_up_to.store(dirty_end, Ordering::Release);
        self.tombstone_deadline
            .store(next_tombstone, Ordering::Release);
        if next_tombstone != i64::MAX {
            result.next_due_ms = earliest(result.next_due_ms, next_tombstone);
        }
        if result.segments > 0 {
            tracing::debug!(dir = %self.dir().display(), segments = result.segments, removed = result.records_removed, "compacted");
        }
        Ok(result)
    }

    /// Swaps a closed segment for `bytes`; false if the segment went away meanwhile (retention,
    /// DeleteRecords).
    fn replace_segment(&self, old: &Arc<Segment>, bytes: &[u8]) -> Result<bool, StorageError> {
        let dir = self.dir();
        let stem = file_stem(old.base_offset);
        let log = dir.join(format!("{stem}.log"));
        let cleaned = dir.join(format!("{stem}.log{CLEANED_SUFFIX}"));
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&cleaned)
                .ctx("create", &cleaned)?;
            // Through the seam like every log write: a full disk fails the pass, not the log.
            old.files
                .append(&mut f, &cleaned, bytes)
                .ctx("write", &cleaned)?;
            old.files.sync(&f, &cleaned).ctx("sync", &cleaned)?;
        }
        let _app = self.lock_appends();
        if !self.segment_snapshot().iter().any(|s| Arc::ptr_eq(s, old)) {
            let _ = std::fs::remove_file(&cleaned);
            return Ok(false);
        }
        // Indexes first: a crash after this leaves a log without indexes, which is scanned.
        for ext in ["index", "timeindex"] {
            let p = dir.join(format!("{stem}.{ext}"));
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(e).ctx("remove", &p);
                }
            }
        }
        std::fs::rename(&cleaned, &log).ctx("rename", &cleaned)?;
        // Validates the new file and writes its indexes; the file is exactly its batches.
        let (fresh, _, _) = Segment::recover_active(dir, old.base_offset, 0, &old.files, None)?;
        self.swap_segment(old, fresh);
        Ok(true)
    }
}

fn for_each_batch(
    bytes: &[u8],
    mut f: impl FnMut(RecordBatch<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut pos = 0;
    while pos < bytes.len() {
        let b = RecordBatch::parse_unchecked(&bytes[pos..])?;
        pos += b.size();
        f(b)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::LogConfig;
    use strikemq_batch::{batches, BatchBuilder, NewRecord};

    fn keyed(pairs: &[(&str, Option<&str>)], ts: i64) -> Bytes {
        let mut b = BatchBuilder::new();
        for (k, v) in pairs {
            b = b.record(NewRecord {
                timestamp: ts,
                key: Some(Bytes::from(k.to_string())),
                value: v.map(|v| Bytes::from(v.to_string())),
                headers: vec![],
            });
        }
        b.build()
    }

    fn contents(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let read = log.read(offset, 1 << 20).unwrap();
            for b in batches(&read.records) {
                let b = b.unwrap();
                for r in decode_records(&b).unwrap() {
                    if r.offset >= offset {
                        out.push((
                            r.offset,
                            String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                            r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                        ));
                    }
                }
                offset = offset.max(b.last_offset() + 1);
            }
        }
        out
    }

    #[test]
    fn a_full_disk_fails_a_cleaning_pass_and_leaves_the_log_as_it_was() {
        use std::sync::atomic::Ordering::SeqCst;
        let faulty = Arc::new(crate::files::faults::Faulty::default());
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(
            dir.path().join("c-0"),
            LogConfig {
                segment_bytes: 1024,
                files: faulty.clone(),
            },
        )
        .unwrap();
        for round in 0..30 {
            let v = format!("v{round}");
            log.append(&keyed(&[("a", Some(&v)), ("b", Some(&v))], 100))
                .unwrap();
        }
        let policy = CompactionPolicy {
            min_lag_ms: 0,
            delete_retention_ms: 1000,
        };
        let before = contents(&log);
        faulty.full.store(true, SeqCst);
        assert!(log.compact(200, policy).is_err());
        assert_eq!(contents(&log), before);
        faulty.full.store(false, SeqCst);
        assert!(log.compact(200, policy).unwrap().records_removed > 0);
        let after = contents(&log);
        assert!(after.len() < before.len() && after.last() == before.last());
    }

    /// A transactional batch of one keyed record.
    fn txn_keyed(pid: i64, seq: i32, key: &str, value: &str, ts: i64) -> Bytes {
        BatchBuilder::new()
            .producer(pid, 0, seq)
            .transactional()
            .record(NewRecord {
                timestamp: ts,
                key: Some(Bytes::from(key.to_string())),
                value: Some(Bytes::from(value.to_string())),
                headers: vec![],
            })
            .build()
    }

    #[test]
    fn aborted_records_are_removed_and_never_replace_a_committed_value() {
        use strikemq_batch::{control_batch, ControlType};
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(
            dir.path().join("c-0"),
            LogConfig {
                segment_bytes: 1024,
                ..Default::default()
            },
        )
        .unwrap();
        let policy = CompactionPolicy {
            min_lag_ms: 0,
            delete_retention_ms: 1000,
        };
        let pad = |from: usize| {
            for i in from..from + 40 {
                log.append(&keyed(&[(&format!("x{i}"), Some("pad"))], 100))
                    .unwrap();
            }
        };
        log.append(&keyed(&[("k", Some("committed"))], 100))
            .unwrap(); // offset 0
        log.append(&txn_keyed(7, 0, "k", "aborted", 100)).unwrap(); // 1
        log.append(&control_batch(7, 0, ControlType::Abort, 0, 100))
            .unwrap(); // 2
        pad(0); // closed segments
        let open_at = log.log_end_offset();
        log.append(&txn_keyed(8, 0, "k", "open", 100)).unwrap(); // stays open
        pad(100);
        assert_eq!(log.last_stable_offset(), open_at);
        let keyed_k = |log: &PartitionLog| -> Vec<(i64, String, Option<String>)> {
            contents(log)
                .into_iter()
                .filter(|(_, k, _)| k == "k")
                .collect()
        };
        log.compact(200, policy).unwrap();
        // The aborted record is gone and the committed value it did not replace stays; nothing
        // from the open transaction on was cleaned.
        assert_eq!(
            keyed_k(&log),
            [
                (0, "k".into(), Some("committed".into())),
                (open_at, "k".into(), Some("open".into()))
            ]
        );
        let markers = {
            let read = log.read(2, 1 << 20).unwrap();
            batches(&read.records)
                .filter(|b| b.as_ref().unwrap().is_control())
                .count()
        };
        assert_eq!(markers, 1, "the abort marker stays for delete.retention.ms");
        // Once delete.retention.ms has passed, the abort marker (none of its records left) goes;
        // the commit of the open transaction below keeps its marker, its record being kept.
        // Once the open transaction commits, its value replaces the old one at the next pass.
        log.append(&control_batch(8, 0, ControlType::Commit, 0, 100))
            .unwrap();
        pad(200);
        log.compact(300, policy).unwrap();
        assert_eq!(keyed_k(&log), [(open_at, "k".into(), Some("open".into()))]);
        let markers = |log: &PartitionLog| {
            let mut out = Vec::new();
            let mut offset = log.log_start_offset();
            while offset < log.log_end_offset() {
                let read = log.read(offset, 1 << 20).unwrap();
                for b in batches(&read.records) {
                    let b = b.unwrap();
                    if b.is_control() {
                        out.push(b.base_offset());
                    }
                    offset = offset.max(b.last_offset() + 1);
                }
            }
            out
        };
        assert_eq!(markers(&log), [2, open_at + 41]);
        log.compact(1200, policy).unwrap();
        assert_eq!(markers(&log), [open_at + 41], "the abort marker is gone");
    }

    #[test]
    fn keeps_the_latest_value_per_key_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-0");
        let log = PartitionLog::open(
            &path,
            LogConfig {
                segment_bytes: 1024,
                ..Default::default()
            },
        )
        .unwrap();
        let policy = CompactionPolicy {
            min_lag_ms: 0,
            delete_retention_ms: 1000,
        };
        for round in 0..20 {
            let v = format!("v{round}");
            log.append(&keyed(&[("a", Some(&v)), ("b", Some(&v))], 100))
                .unwrap();
        }
        log.append(&keyed(&[("c", Some("only")), ("b", None)], 100))
            .unwrap();
        // Fill the active segment so that everything above is in closed segments.
        for _ in 0..20 {
            log.append(&keyed(&[("z", Some(&"x".repeat(100)))], 100))
                .unwrap();
        }
        let end = log.log_end_offset();
        let first = log.compact(200, policy).unwrap();
        assert!(
            first.segments > 0 && first.records_removed > 30,
            "{first:?}"
        );
        let kept = contents(&log);
        let find = |k: &str| {
            kept.iter()
                .filter(|(_, key, _)| key == k)
                .collect::<Vec<_>>()
        };
        assert_eq!(find("a").len(), 1);
        assert_eq!(find("a")[0].2.as_deref(), Some("v19"));
        assert_eq!(find("a")[0].0, 38);
        assert_eq!(find("c")[0].2.as_deref(), Some("only"));
        // b's tombstone is newer than delete.retention.ms: kept for now.
        assert_eq!(find("b").len(), 1);
        assert_eq!(find("b")[0].2, None);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(first.next_due_ms, Some(100 + 1000 + 1));
        // Later the tombstone goes too.
        let second = log.compact(5000, policy).unwrap();
        assert_eq!(second.records_removed, 1);
        assert!(contents(&log).iter().all(|(_, k, _)| k != "b"));
        // Offsets stay increasing and the log reopens cleanly with rebuilt indexes.
        drop(log);
        let log = PartitionLog::open(
            &path,
            LogConfig {
                segment_bytes: 1024,
                ..Default::default()
            },
        )
        .unwrap();
        let reopened = contents(&log);
        assert!(reopened.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(reopened.iter().filter(|(_, k, _)| k == "a").count(), 1);
        assert_eq!(
            log.append(&keyed(&[("a", Some("new"))], 300))
                .unwrap()
                .base_offset,
            end
        );
    }

    #[test]
    fn young_segments_wait_for_the_compaction_lag() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(
            dir.path().join("c-0"),
            LogConfig {
                segment_bytes: 1024,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..40 {
            log.append(&keyed(&[("k", Some(&"v".repeat(50)))], 1000))
                .unwrap();
        }
        let policy = CompactionPolicy {
            min_lag_ms: 500,
            delete_retention_ms: 0,
        };
        let r = log.compact(1200, policy).unwrap();
        assert_eq!(r.segments, 0);
        assert_eq!(r.next_due_ms, Some(1501));
        assert!(log.compact(1600, policy).unwrap().segments > 0);
    }
}
