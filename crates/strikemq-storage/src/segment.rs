//! One log segment: a `.log` file of record batches plus its offset and time indexes.
//!
//! ```text
//! <base>.log        record batches back to back, byte for byte as produced (base offset assigned).
//!                   The active segment is pre-sized to its capacity (sparse) so that one read-only
//!                   mapping covers everything it will hold; bytes past the published size are zero
//!                   or a torn tail, and recovery cuts them off.
//! <base>.index      8-byte entries, about one per INDEX_INTERVAL bytes of log:
//!                     0  4  relative offset  u32 BE  (batch base offset - segment base offset)
//!                     4  4  position         u32 BE  (byte position of that batch in .log)
//! <base>.timeindex  12-byte entries, added with an offset index entry when the segment's max
//!                   timestamp grew since the last time entry:
//!                     0  8  max timestamp    i64 BE  (largest timestamp up to and including the batch)
//!                     8  4  relative offset  u32 BE  (base offset of that batch, relative)
//! ```
//! `<base>` is the segment's base offset as 20 decimal digits, as in Kafka.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use strikemq_batch::{batch_size, RecordBatch, LAST_OFFSET_DELTA_OFFSET};

use crate::error::{IoContext, StorageError};
use crate::files::FileOps;

/// Bytes of log between two offset index entries.
pub(crate) const INDEX_INTERVAL: u64 = 4096;
/// Index entries are written to their files this many at a time (one `write` per 256 appends of
/// 16 KiB batches instead of one per append).
const INDEX_WRITE_BATCH: usize = 256;
const INDEX_ENTRY: usize = 8;
const TIME_ENTRY: usize = 12;
const REL_OFFSET_AT: usize = 0;
const POSITION_AT: usize = 4;
const TIME_AT: usize = 0;
const TIME_REL_OFFSET_AT: usize = 8;

/// Offset index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) rel_offset: u32,
    pub(crate) position: u32,
}

/// Time index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub(crate) max_timestamp: i64,
    pub(crate) rel_offset: u32,
}

pub(crate) fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

mod map {
    //! The one place that reads memory-mapped segment bytes.
    #![allow(unsafe_code)]

    use memmap2::Mmap;
    use std::fs::File;

    /// A read-only mapping of a log file that is only read below a published size.
    #[derive(Debug)]
    pub(crate) struct LogMap {
        map: Option<Mmap>,
    }

    impl LogMap {
        pub(crate) fn new(file: &File, len: u64) -> std::io::Result<Self> {
            if len == 0 {
                return Ok(LogMap { map: None });
            }
            // SAFETY: no other process writes the file: `Store::open` holds the data
            // directory's exclusive lock while the store is open. The file may become shorter
            // than the mapping (`seal()` trims it to the published size), but bytes are read
            // through `prefix()` only, below the published size, which never exceeds the file's
            // length (appends write before they publish, and trimming keeps every published
            // byte), so no read touches a page past the end of the file. Published bytes are
            // never modified afterwards.
            let map = unsafe { memmap2::MmapOptions::new().len(len as usize).map(file)? };
            Ok(LogMap { map: Some(map) })
        }

        /// The first `len` bytes. Callers pass a published size, so every byte is written and
        /// immutable.
        pub(crate) fn prefix(&self, len: usize) -> &[u8] {
            match &self.map {
                Some(m) => {
                    let len = len.min(m.len());
                    // SAFETY: `len` is within the mapping, and bytes below a published size are
                    // never written again, so a shared slice of them is sound even while the
                    // appender writes further on in the same file.
                    unsafe { std::slice::from_raw_parts(m.as_ptr(), len) }
                }
                None => &[],
            }
        }
    }
}

/// A segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    log_path: PathBuf,
    index_path: PathBuf,
    time_path: PathBuf,
    file: File,
    pub(crate) files: Arc<dyn FileOps>,
    map: map::LogMap,
    capacity: u64,
    /// Bytes published to readers.
    size: AtomicU64,
    /// The offset after the last published batch.
    next_offset: AtomicI64,
    max_timestamp: AtomicI64,
    index: RwLock<Vec<IndexEntry>>,
    time_index: RwLock<Vec<TimeEntry>>,
    /// Bytes of the log known to be on disk (fsynced by this process, or found after a clean
    /// stop); entries of each index likewise.
    synced: AtomicU64,
    index_synced: AtomicUsize,
    time_synced: AtomicUsize,
}

/// What an fsync of the active segment made durable: after a crash, the bytes below `position`
/// are trusted with the first `index_entries` and `time_entries` of the indexes, and only what
/// follows is validated (Kafka's recovery point). Encoded as 40 bytes:
///
/// ```text
///  0  8  base offset of the segment   i64 BE
///  8  8  position (bytes synced)      u64 BE
/// 16  8  next offset at that position i64 BE
/// 24  8  max timestamp up to there    i64 BE
/// 32  4  offset index entries synced  u32 BE
/// 36  4  time index entries synced    u32 BE
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecoveryPoint {
    pub(crate) base_offset: i64,
    pub(crate) position: u64,
    pub(crate) next_offset: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) index_entries: u32,
    pub(crate) time_entries: u32,
}

impl RecoveryPoint {
    pub(crate) const LEN: usize = 40;

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        out.extend_from_slice(&self.next_offset.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.index_entries.to_be_bytes());
        out.extend_from_slice(&self.time_entries.to_be_bytes());
    }

    pub(crate) fn decode(bytes: &[u8; Self::LEN]) -> RecoveryPoint {
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        RecoveryPoint {
            base_offset: u64_at(0) as i64,
            position: u64_at(8),
            next_offset: u64_at(16) as i64,
            max_timestamp: u64_at(24) as i64,
            index_entries: u32_at(32),
            time_entries: u32_at(36),
        }
    }
}

/// Appender-side state of the active segment, guarded by the partition's append lock. The index
/// files are opened on the first append that indexes something, so that a partition nobody
/// writes to holds one file descriptor (its log), not three: thousands of idle partitions must
/// fit in a process's descriptor limit.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    index_file: Option<File>,
    time_file: Option<File>,
    bytes_since_index: u64,
    /// Entries of each index already in its file. The rest are held back and written
    /// [`INDEX_WRITE_BATCH`] at a time, and when the segment is sealed: a crash loses nothing by
    /// it, since recovery rebuilds the last segment's indexes from the log.
    index_on_disk: usize,
    time_on_disk: usize,
}

fn open_for_append<'a>(
    slot: &'a mut Option<File>,
    path: &Path,
) -> Result<&'a mut File, StorageError> {
    if slot.is_none() {
        *slot = Some(
            OpenOptions::new()
                .append(true)
                .open(path)
                .ctx("open", path)?,
        );
    }
    Ok(slot.as_mut().unwrap_or_else(|| unreachable!("just opened")))
}

impl Segment {
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        base_offset: i64,
        (log_path, index_path, time_path): (PathBuf, PathBuf, PathBuf),
        (file, files): (File, Arc<dyn FileOps>),
        map: map::LogMap,
        capacity: u64,
        size: u64,
        next_offset: i64,
        max_timestamp: i64,
        index: Vec<IndexEntry>,
        time_index: Vec<TimeEntry>,
    ) -> Segment {
        Segment {
            base_offset,
            log_path,
            index_path,
            time_path,
            file,
            files,
            map,
            capacity,
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(next_offset),
            max_timestamp: AtomicI64::new(max_timestamp),
            index: RwLock::new(index),
            time_index: RwLock::new(time_index),
            synced: AtomicU64::new(0),
            index_synced: AtomicUsize::new(0),
            time_synced: AtomicUsize::new(0),
        }
    }

    /// Counts everything in the segment as on disk (it was found after a clean stop).
    fn mark_synced(&self) {
        self.synced.store(self.size(), Ordering::Release);
        self.index_synced
            .store(self.index.read().len(), Ordering::Release);
        self.time_synced
            .store(self.time_index.read().len(), Ordering::Release);
    }

    /// Creates an empty segment with room for `capacity` bytes.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        capacity: u64,
        files: &Arc<dyn FileOps>,
    ) -> Result<(Arc<Segment>, SegmentWriter), StorageError> {
        let (log_path, index_path, time_path) = paths(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .ctx("create", &log_path)?;
        files
            .set_len(&file, &log_path, capacity)
            .ctx("size", &log_path)?;
        let map = map::LogMap::new(&file, capacity).ctx("map", &log_path)?;
        create_truncated(&index_path)?;
        create_truncated(&time_path)?;
        let seg = Segment::assemble(
            base_offset,
            (log_path, index_path, time_path),
            (file, files.clone()),
            map,
            capacity,
            0,
            base_offset,
            -1,
            Vec::new(),
            Vec::new(),
        );
        Ok((
            Arc::new(seg),
            SegmentWriter {
                index_file: None,
                time_file: None,
                bytes_since_index: 0,
                index_on_disk: 0,
                time_on_disk: 0,
            },
        ))
    }

    /// Opens a closed segment, trusting its size; indexes are rebuilt if they look damaged.
    /// After a clean stop (`clean`) its files count as synced; otherwise the next sync of the log
    /// syncs them again, in case the process that wrote them died before it did.
    pub(crate) fn open_closed(
        dir: &Path,
        base_offset: i64,
        files: &Arc<dyn FileOps>,
        clean: bool,
    ) -> Result<Arc<Segment>, StorageError> {
        let (seg, len, valid) = Segment::open_trimmed(dir, base_offset, None, files)?;
        if valid != len {
            tracing::warn!(path = %seg.log_path.display(), valid, len, "closed segment has a torn tail; it will be ignored past the last whole batch");
            seg.size.store(valid, Ordering::Release);
        }
        if clean {
            seg.mark_synced();
        }
        Ok(Arc::new(seg))
    }

    /// Opens the last segment after a clean shutdown, which trimmed it to its written size:
    /// trusts the indexes and reads only the batches after the last index entry, so start-up does
    /// not grow with the data. `None` when the tail does not end on a whole batch; the caller then
    /// recovers the segment the slow way.
    pub(crate) fn open_clean_active(
        dir: &Path,
        base_offset: i64,
        capacity: u64,
        files: &Arc<dyn FileOps>,
    ) -> Result<Option<(Arc<Segment>, SegmentWriter)>, StorageError> {
        let (seg, len, valid) = Segment::open_trimmed(dir, base_offset, Some(capacity), files)?;
        if valid != len {
            return Ok(None);
        }
        let since_index = match seg.index.read().last() {
            Some(e) => len - u64::from(e.position),
            None if len == 0 => 0,
            None => INDEX_INTERVAL,
        };
        let (index_on_disk, time_on_disk) = (seg.index.read().len(), seg.time_index.read().len());
        seg.mark_synced();
        Ok(Some((
            Arc::new(seg),
            SegmentWriter {
                index_file: None,
                time_file: None,
                bytes_since_index: since_index,
                index_on_disk,
                time_on_disk,
            },
        )))
    }

    /// Opens a segment whose file is exactly its batches (sealed, or trimmed by a clean stop),
    /// trusting its indexes; with `grow_to`, re-sizes the file for appends. Returns the segment,
    /// the file's length and how much of it ends on a whole batch (read from the last index entry).
    fn open_trimmed(
        dir: &Path,
        base_offset: i64,
        grow_to: Option<u64>,
        files: &Arc<dyn FileOps>,
    ) -> Result<(Segment, u64, u64), StorageError> {
        let (log_path, index_path, time_path) = paths(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .ctx("open", &log_path)?;
        let len = file.metadata().ctx("stat", &log_path)?.len();
        let index = read_index(&index_path)?;
        let time_index = read_time_index(&time_path)?;
        let capacity = grow_to.map_or(len, |c| c.max(len));
        if capacity != len {
            files
                .set_len(&file, &log_path, capacity)
                .ctx("size", &log_path)?;
        }
        let map = map::LogMap::new(&file, capacity).ctx("map", &log_path)?;
        let seg = Segment::assemble(
            base_offset,
            (log_path, index_path, time_path),
            (file, files.clone()),
            map,
            capacity,
            len,
            base_offset,
            -1,
            index,
            time_index,
        );
        seg.index.write().retain(|e| u64::from(e.position) < len);
        // The last batch gives the next offset and the scan checks the index points at batches.
        let (next, max_ts, valid) = seg.scan_tail();
        seg.next_offset.store(next, Ordering::Release);
        seg.max_timestamp.store(max_ts, Ordering::Release);
        Ok((seg, len, valid))
    }

    /// Opens the last segment after a stop: validates every batch (length, CRC, increasing
    /// offsets), truncates at the first bad one, rebuilds both indexes and re-sizes the file to
    /// `capacity` for further appends. With a recovery point for this segment, the bytes below
    /// it are trusted with the index entries it names, and only the batches after it are
    /// validated; a point that does not match the files is ignored. The flag says whether the
    /// point was used.
    pub(crate) fn recover_active(
        dir: &Path,
        base_offset: i64,
        capacity: u64,
        files: &Arc<dyn FileOps>,
        point: Option<RecoveryPoint>,
    ) -> Result<(Arc<Segment>, SegmentWriter, bool), StorageError> {
        let (log_path, index_path, time_path) = paths(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .ctx("open", &log_path)?;
        let len = file.metadata().ctx("stat", &log_path)?.len();
        let mut state = Recovered::empty(base_offset);
        let mut kept_on_disk = None;
        {
            let probe = map::LogMap::new(&file, len).ctx("map", &log_path)?;
            let bytes = probe.prefix(len as usize);
            if let Some(point) = point.filter(|p| p.base_offset == base_offset) {
                match Recovered::trusted(bytes, &point, &index_path, &time_path)? {
                    Some(trusted) => {
                        kept_on_disk = Some((point.index_entries, point.time_entries));
                        state = trusted;
                    }
                    None => {
                        tracing::warn!(path = %log_path.display(), ?point, "the recovery point does not match the segment; validating all of it");
                    }
                }
            }
            while (state.pos as usize) < bytes.len() {
                let Ok(batch) = RecordBatch::parse(&bytes[state.pos as usize..]) else {
                    break;
                };
                if batch.base_offset() < state.next {
                    break;
                }
                state.add(&batch);
            }
        }
        let Recovered {
            pos,
            next,
            max_ts,
            since_index,
            index,
            time_index,
            ..
        } = state;
        if pos < len {
            // A torn batch leaves a header behind; a pre-sized segment has only zeros after its
            // data. Look at one header's worth of bytes, not at the whole (sparse) capacity.
            let nonzero = {
                let probe = map::LogMap::new(&file, len).ctx("map", &log_path)?;
                let rest = &probe.prefix(len as usize)[pos as usize..];
                rest.iter().take(LAST_OFFSET_DELTA_OFFSET).any(|&b| b != 0)
            };
            if nonzero {
                tracing::warn!(path = %log_path.display(), valid = pos, len, "truncating torn tail of segment");
            }
        }
        let capacity = capacity.max(pos);
        // Cut the tail, then grow back (sparse, zero-filled) to the capacity for appends.
        files
            .set_len(&file, &log_path, pos)
            .ctx("truncate", &log_path)?;
        files
            .set_len(&file, &log_path, capacity)
            .ctx("size", &log_path)?;
        let map = map::LogMap::new(&file, capacity).ctx("map", &log_path)?;
        // Index entries the recovery point vouches for stay in their files (they are on disk
        // already); the rest are written again.
        let (keep_index, keep_time) =
            kept_on_disk.map_or((0, 0), |(i, t)| (i as usize, t as usize));
        let mut index_file = open_cut(
            files.as_ref(),
            &index_path,
            (keep_index * INDEX_ENTRY) as u64,
        )?;
        let mut time_file = open_cut(files.as_ref(), &time_path, (keep_time * TIME_ENTRY) as u64)?;
        write_entries(
            files.as_ref(),
            &mut index_file,
            &index_path,
            &index[keep_index..],
            encode_index,
        )?;
        write_entries(
            files.as_ref(),
            &mut time_file,
            &time_path,
            &time_index[keep_time..],
            encode_time,
        )?;
        let (index_on_disk, time_on_disk) = (index.len(), time_index.len());
        let seg = Segment::assemble(
            base_offset,
            (log_path, index_path, time_path),
            (file, files.clone()),
            map,
            capacity,
            pos,
            next,
            max_ts,
            index,
            time_index,
        );
        if let Some(point) = point.filter(|_| kept_on_disk.is_some()) {
            seg.synced.store(point.position, Ordering::Release);
            seg.index_synced.store(keep_index, Ordering::Release);
            seg.time_synced.store(keep_time, Ordering::Release);
        }
        Ok((
            Arc::new(seg),
            SegmentWriter {
                index_file: None,
                time_file: None,
                bytes_since_index: since_index,
                index_on_disk,
                time_on_disk,
            },
            kept_on_disk.is_some(),
        ))
    }

    /// What an fsync of this segment covers if it starts now: the published bytes, and the
    /// index entries already in their files.
    pub(crate) fn recovery_point(&self, writer: &SegmentWriter) -> RecoveryPoint {
        self.point_with(writer.index_on_disk, writer.time_on_disk)
    }

    /// The published bytes, with this many entries of each index.
    fn point_with(&self, index_entries: usize, time_entries: usize) -> RecoveryPoint {
        RecoveryPoint {
            base_offset: self.base_offset,
            position: self.size(),
            next_offset: self.next_offset(),
            max_timestamp: self.max_timestamp(),
            index_entries: index_entries as u32,
            time_entries: time_entries as u32,
        }
    }

    /// Makes `point` durable: the log up to its position and the index entries it names, each
    /// file synced only if it holds something not synced yet. A closed segment passes
    /// [`Segment::sealed_point`].
    pub(crate) fn sync_to(&self, point: &RecoveryPoint) -> Result<(), StorageError> {
        if self.synced.load(Ordering::Acquire) < point.position {
            self.files
                .sync(&self.file, &self.log_path)
                .ctx("sync", &self.log_path)?;
        }
        for (path, entries, synced) in [
            (&self.index_path, point.index_entries, &self.index_synced),
            (&self.time_path, point.time_entries, &self.time_synced),
        ] {
            if synced.load(Ordering::Acquire) < entries as usize {
                let file = File::open(path).ctx("open", path)?;
                self.files.sync(&file, path).ctx("sync", path)?;
                synced.fetch_max(entries as usize, Ordering::AcqRel);
            }
        }
        self.synced.fetch_max(point.position, Ordering::AcqRel);
        Ok(())
    }

    /// The point covering all of a sealed segment (its indexes were written out when sealed).
    pub(crate) fn sealed_point(&self) -> RecoveryPoint {
        self.point_with(self.index.read().len(), self.time_index.read().len())
    }

    /// Whether [`Segment::sync_to`] with `point` has anything to do.
    pub(crate) fn needs_sync(&self, point: &RecoveryPoint) -> bool {
        self.synced.load(Ordering::Acquire) < point.position
            || self.index_synced.load(Ordering::Acquire) < point.index_entries as usize
            || self.time_synced.load(Ordering::Acquire) < point.time_entries as usize
    }

    /// Walks the batches from the last index entry to find the next offset and max timestamp of a
    /// closed segment; returns the byte length of whole batches too.
    fn scan_tail(&self) -> (i64, i64, u64) {
        let bytes = self.published();
        let start = self
            .index
            .read()
            .last()
            .map(|e| e.position as usize)
            .filter(|&p| p < bytes.len())
            .unwrap_or(0);
        let mut pos = start;
        let mut next = self.base_offset;
        let mut max_ts = self
            .time_index
            .read()
            .last()
            .map(|t| t.max_timestamp)
            .unwrap_or(-1);
        while pos < bytes.len() {
            let Ok(batch) = RecordBatch::parse_unchecked(&bytes[pos..]) else {
                break;
            };
            next = batch.last_offset().saturating_add(1);
            max_ts = max_ts.max(batch.max_timestamp());
            pos += batch.size();
        }
        (next, max_ts, pos as u64)
    }

    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }
    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }
    pub(crate) fn remaining(&self) -> u64 {
        self.capacity.saturating_sub(self.size())
    }

    /// Every published byte.
    pub(crate) fn published(&self) -> &[u8] {
        self.map.prefix(self.size() as usize)
    }

    /// Appends `batches` (already validated, offsets assigned) at the end of the segment and
    /// publishes them. `batch_index` holds, per batch, its offset relative to the segment base, its
    /// position within `batches` and its max timestamp. Only the partition's appender calls this,
    /// with its lock held.
    pub(crate) fn append(
        &self,
        writer: &mut SegmentWriter,
        batches: &[u8],
        batch_index: &[(u32, u32, i64)],
        next_offset: i64,
    ) -> Result<(), StorageError> {
        let pos = self.size();
        // Nothing is published, in memory or to readers, until every write has succeeded: a
        // failed append (a full disk) leaves the segment as it was, and bytes written past its
        // size are overwritten by the next append or cut at the next open.
        self.files
            .write_at(&self.file, &self.log_path, batches, pos)
            .ctx("write", &self.log_path)?;
        // Index entries: (relative offset, position within `batches`, max timestamp) per batch.
        let mut new_index = Vec::new();
        let mut new_time = Vec::new();
        let mut max_ts = self.max_timestamp();
        let mut indexed_ts = self
            .time_index
            .read()
            .last()
            .map_or(-1, |t| t.max_timestamp);
        let mut prev_pos = 0u32;
        let mut since_index = writer.bytes_since_index;
        for &(rel, at, ts) in batch_index {
            since_index += u64::from(at - prev_pos);
            prev_pos = at;
            max_ts = max_ts.max(ts);
            if since_index >= INDEX_INTERVAL || (pos == 0 && at == 0) {
                new_index.push(IndexEntry {
                    rel_offset: rel,
                    position: (pos + u64::from(at)) as u32,
                });
                since_index = 0;
                // The time index is as sparse as the offset index: an entry where the offset
                // index has one, when the largest timestamp so far grew since the last entry.
                if max_ts > indexed_ts {
                    indexed_ts = max_ts;
                    new_time.push(TimeEntry {
                        max_timestamp: max_ts,
                        rel_offset: rel,
                    });
                }
            }
        }
        since_index += batches.len() as u64 - u64::from(prev_pos);
        let backlog = self.index.read().len() + new_index.len() - writer.index_on_disk;
        if backlog >= INDEX_WRITE_BATCH {
            self.write_index_backlog(writer, &new_index, &new_time)?;
        }
        self.index.write().extend_from_slice(&new_index);
        self.time_index.write().extend_from_slice(&new_time);
        writer.bytes_since_index = since_index;
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
        self.size
            .store(pos + batches.len() as u64, Ordering::Release);
        Ok(())
    }

    /// Writes the index entries the files do not have yet: those in memory past what the writer
    /// wrote, then `new_index` and `new_time` (about to be added). All or nothing: a failed write
    /// cuts both files back, so a torn entry never shifts the later ones.
    fn write_index_backlog(
        &self,
        writer: &mut SegmentWriter,
        new_index: &[IndexEntry],
        new_time: &[TimeEntry],
    ) -> Result<(), StorageError> {
        let index: Vec<IndexEntry> = self.index.read()[writer.index_on_disk..]
            .iter()
            .chain(new_index)
            .copied()
            .collect();
        let time: Vec<TimeEntry> = self.time_index.read()[writer.time_on_disk..]
            .iter()
            .chain(new_time)
            .copied()
            .collect();
        let index_len = (writer.index_on_disk * INDEX_ENTRY) as u64;
        let time_len = (writer.time_on_disk * TIME_ENTRY) as u64;
        if !index.is_empty() {
            let file = open_for_append(&mut writer.index_file, &self.index_path)?;
            if let Err(e) = write_entries(
                self.files.as_ref(),
                file,
                &self.index_path,
                &index,
                encode_index,
            ) {
                let _ = self.files.set_len(file, &self.index_path, index_len);
                return Err(e);
            }
        }
        if !time.is_empty() {
            let written =
                open_for_append(&mut writer.time_file, &self.time_path).and_then(|file| {
                    write_entries(
                        self.files.as_ref(),
                        file,
                        &self.time_path,
                        &time,
                        encode_time,
                    )
                    .inspect_err(|_| {
                        let _ = self.files.set_len(file, &self.time_path, time_len);
                    })
                });
            if let Err(e) = written {
                if let Some(file) = writer.index_file.as_ref() {
                    let _ = self.files.set_len(file, &self.index_path, index_len);
                }
                return Err(e);
            }
        }
        writer.index_on_disk += index.len();
        writer.time_on_disk += time.len();
        Ok(())
    }

    /// Byte position of the batch containing `offset`, or of the first batch after it; `None`
    /// when the segment holds nothing at or after `offset`.
    pub(crate) fn position_of(&self, offset: i64) -> Option<usize> {
        let bytes = self.published();
        let rel = offset
            .saturating_sub(self.base_offset)
            .clamp(0, u32::MAX as i64) as u32;
        let start = {
            let index = self.index.read();
            let i = index.partition_point(|e| e.rel_offset <= rel);
            if i == 0 {
                0
            } else {
                index[i - 1].position as usize
            }
        };
        let mut pos = start;
        while pos + LAST_OFFSET_DELTA_OFFSET + 4 <= bytes.len() {
            let b = &bytes[pos..];
            let size = batch_size(b).ok()?;
            let base = i64::from_be_bytes(b[0..8].try_into().ok()?);
            let delta = i32::from_be_bytes(
                b[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
                    .try_into()
                    .ok()?,
            );
            if base + i64::from(delta) >= offset {
                return Some(pos);
            }
            pos += size;
        }
        None
    }

    /// Byte position from which to scan for the first record with a timestamp at or after `ts`.
    pub(crate) fn position_for_timestamp(&self, ts: i64) -> usize {
        let rel = {
            let t = self.time_index.read();
            let i = t.partition_point(|e| e.max_timestamp < ts);
            if i == 0 {
                return 0;
            }
            t[i - 1].rel_offset
        };
        self.position_of(self.base_offset + i64::from(rel))
            .unwrap_or(0)
    }

    /// Writes out the index entries still held back and trims the file to the bytes written, for
    /// a segment that will take no more appends (a roll, or a clean stop).
    pub(crate) fn seal(&self, writer: &mut SegmentWriter) -> Result<(), StorageError> {
        self.write_index_backlog(writer, &[], &[])?;
        // The mapping may be longer than the file afterwards; nothing is read past `size`.
        self.files
            .set_len(&self.file, &self.log_path, self.size())
            .ctx("truncate", &self.log_path)
    }

    pub(crate) fn paths(&self) -> [&Path; 3] {
        [&self.log_path, &self.index_path, &self.time_path]
    }
}

/// A zero-copy slice of a segment that keeps the segment alive.
#[derive(Debug)]
pub(crate) struct SegmentSlice {
    pub(crate) segment: Arc<Segment>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl AsRef<[u8]> for SegmentSlice {
    fn as_ref(&self) -> &[u8] {
        &self.segment.published()[self.start..self.end]
    }
}

impl SegmentSlice {
    pub(crate) fn into_bytes(self) -> Bytes {
        if self.start == self.end {
            return Bytes::new();
        }
        Bytes::from_owner(self)
    }
}

/// The state of a recovery scan: where it is, and the indexes rebuilt so far.
struct Recovered {
    base_offset: i64,
    pos: u64,
    next: i64,
    max_ts: i64,
    since_index: u64,
    index: Vec<IndexEntry>,
    time_index: Vec<TimeEntry>,
}

impl Recovered {
    fn empty(base_offset: i64) -> Recovered {
        Recovered {
            base_offset,
            pos: 0,
            next: base_offset,
            max_ts: -1,
            since_index: INDEX_INTERVAL, // index the first batch
            index: Vec::new(),
            time_index: Vec::new(),
        }
    }

    /// Takes in the batch at `pos`, indexing it as an append would have.
    fn add(&mut self, batch: &RecordBatch<'_>) {
        let rel = (batch.base_offset() - self.base_offset) as u32;
        let indexed_ts = self.time_index.last().map_or(-1, |t| t.max_timestamp);
        self.max_ts = self.max_ts.max(batch.max_timestamp());
        if self.since_index >= INDEX_INTERVAL {
            self.index.push(IndexEntry {
                rel_offset: rel,
                position: self.pos as u32,
            });
            self.since_index = 0;
            if self.max_ts > indexed_ts {
                self.time_index.push(TimeEntry {
                    max_timestamp: self.max_ts,
                    rel_offset: rel,
                });
            }
        }
        self.since_index += batch.size() as u64;
        self.next = batch.last_offset().saturating_add(1);
        self.pos += batch.size() as u64;
    }

    /// The state at a recovery point: the synced index entries from the files, then the batch
    /// headers from the last of them up to the point (CRCs not checked: those bytes were
    /// synced). `None` when the files do not agree with the point.
    fn trusted(
        bytes: &[u8],
        point: &RecoveryPoint,
        index_path: &Path,
        time_path: &Path,
    ) -> Result<Option<Recovered>, StorageError> {
        if point.position > bytes.len() as u64 {
            return Ok(None);
        }
        let mut index = read_index(index_path)?;
        let mut time_index = read_time_index(time_path)?;
        let (n_index, n_time) = (point.index_entries as usize, point.time_entries as usize);
        if index.len() < n_index || time_index.len() < n_time {
            return Ok(None);
        }
        index.truncate(n_index);
        time_index.truncate(n_time);
        let mut state = Recovered::empty(point.base_offset);
        if let Some(last) = index.last().copied() {
            if u64::from(last.position) >= point.position
                || time_index
                    .last()
                    .is_some_and(|t| t.rel_offset > last.rel_offset)
            {
                return Ok(None);
            }
            // Resume at the last entry's batch, which is indexed already.
            state.pos = u64::from(last.position);
            state.next = point.base_offset + i64::from(last.rel_offset);
            state.since_index = 0;
            state.max_ts = time_index.last().map_or(-1, |t| t.max_timestamp);
        } else if !time_index.is_empty() {
            return Ok(None);
        }
        state.index = index;
        state.time_index = time_index;
        while state.pos < point.position {
            let Ok(batch) = RecordBatch::parse_unchecked(&bytes[state.pos as usize..]) else {
                return Ok(None);
            };
            if batch.base_offset() < state.next || state.pos + batch.size() as u64 > point.position
            {
                return Ok(None);
            }
            state.add(&batch);
        }
        if state.next != point.next_offset {
            return Ok(None);
        }
        state.max_ts = state.max_ts.max(point.max_timestamp);
        Ok(Some(state))
    }
}

fn paths(dir: &Path, base_offset: i64) -> (PathBuf, PathBuf, PathBuf) {
    let stem = file_stem(base_offset);
    (
        dir.join(format!("{stem}.log")),
        dir.join(format!("{stem}.index")),
        dir.join(format!("{stem}.timeindex")),
    )
}

/// Opens an index file for appending after cutting it to `len` bytes (creating it if needed).
fn open_cut(files: &dyn FileOps, path: &Path, len: u64) -> Result<File, StorageError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ctx("open", path)?;
    files.set_len(&file, path, len).ctx("truncate", path)?;
    Ok(file)
}

fn create_truncated(path: &Path) -> Result<File, StorageError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .ctx("create", path)
}

fn encode_index(e: &IndexEntry, out: &mut Vec<u8>) {
    out.extend_from_slice(&e.rel_offset.to_be_bytes());
    out.extend_from_slice(&e.position.to_be_bytes());
}

fn encode_time(e: &TimeEntry, out: &mut Vec<u8>) {
    out.extend_from_slice(&e.max_timestamp.to_be_bytes());
    out.extend_from_slice(&e.rel_offset.to_be_bytes());
}

fn write_entries<T>(
    files: &dyn FileOps,
    file: &mut File,
    path: &Path,
    entries: &[T],
    encode: fn(&T, &mut Vec<u8>),
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut buf = Vec::with_capacity(entries.len() * TIME_ENTRY);
    for e in entries {
        encode(e, &mut buf);
    }
    files.append(file, path, &buf).ctx("write", path)
}

fn read_file_or_empty(path: &Path) -> Result<Vec<u8>, StorageError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).ctx("read", path),
    }
}

fn read_index(path: &Path) -> Result<Vec<IndexEntry>, StorageError> {
    let raw = read_file_or_empty(path)?;
    let mut out: Vec<IndexEntry> = raw
        .chunks_exact(INDEX_ENTRY)
        .map(|c| IndexEntry {
            rel_offset: u32::from_be_bytes(
                c[REL_OFFSET_AT..REL_OFFSET_AT + 4]
                    .try_into()
                    .unwrap_or_default(),
            ),
            position: u32::from_be_bytes(
                c[POSITION_AT..POSITION_AT + 4]
                    .try_into()
                    .unwrap_or_default(),
            ),
        })
        .collect();
    // An index that is not increasing is damaged: drop it, lookups then scan from the start.
    if out
        .windows(2)
        .any(|w| w[0].rel_offset >= w[1].rel_offset || w[0].position >= w[1].position)
    {
        tracing::warn!(path = %path.display(), "offset index is damaged; ignoring it");
        out.clear();
    }
    Ok(out)
}

fn read_time_index(path: &Path) -> Result<Vec<TimeEntry>, StorageError> {
    let raw = read_file_or_empty(path)?;
    let mut out: Vec<TimeEntry> = raw
        .chunks_exact(TIME_ENTRY)
        .map(|c| TimeEntry {
            max_timestamp: i64::from_be_bytes(
                c[TIME_AT..TIME_AT + 8].try_into().unwrap_or_default(),
            ),
            rel_offset: u32::from_be_bytes(
                c[TIME_REL_OFFSET_AT..TIME_REL_OFFSET_AT + 4]
                    .try_into()
                    .unwrap_or_default(),
            ),
        })
        .collect();
    if out
        .windows(2)
        .any(|w| w[0].max_timestamp >= w[1].max_timestamp)
    {
        tracing::warn!(path = %path.display(), "time index is damaged; ignoring it");
        out.clear();
    }
    Ok(out)
}
