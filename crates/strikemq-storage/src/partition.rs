//! A partition's log: an ordered list of segments, the last one taking appends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use strikemq_batch::{self as batch, decode_records, RecordBatch};

use crate::error::{IoContext, StorageError};
use crate::files::FileOps;
use crate::producers::{CompletedTxn, ProducerStates, Verdict};
use crate::segment::{RecoveryPoint, Segment, SegmentSlice, SegmentWriter};

/// Settings of one partition log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll to a new segment once the active one would grow past this many bytes.
    pub segment_bytes: u64,
    /// How segment and index files are written, resized and synced ([`crate::RealFiles`] unless
    /// a test injects faults).
    pub files: Arc<dyn FileOps>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            files: crate::files::real(),
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Number of batches written.
    pub batches: usize,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// A new segment was started for this append (retention may have work to do).
    pub rolled: bool,
    /// Whether the batch was written, or recognised as a retry of one already in the log.
    pub written: Written,
}

/// What an append did with its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Appended.
    New,
    /// A retry of a batch already in the log (an idempotent producer's duplicate): nothing was
    /// written, and the offsets are the original ones.
    Duplicate {
        /// The original batch's max timestamp (Kafka reports it as the append time).
        max_timestamp: i64,
    },
}

impl AppendInfo {
    /// Whether the batch was a retry of one already in the log.
    pub fn duplicate(&self) -> bool {
        matches!(self.written, Written::Duplicate { .. })
    }
}

/// What a read returned.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole record batches, a zero-copy slice of the log; empty at the end of the log. The first
    /// batch may start before the requested offset (clients skip the records they did not ask for).
    pub records: Bytes,
    /// The log end offset after the read (the high watermark: every appended record is committed
    /// on a single broker).
    pub high_watermark: i64,
    /// The last stable offset at the read: below it, no transaction is open.
    pub last_stable_offset: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// What the read counts against a Fetch's `max_bytes`: the bytes Kafka's log read would
    /// have returned, the last batch cut short at the limit. A plain read: the records' length.
    pub fetch_size: usize,
}

/// Which records a Fetch read may return (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything up to the high watermark, open transactions included.
    ReadUncommitted,
    /// Only what lies below the last stable offset.
    ReadCommitted,
}

/// Whether a Fetch read may return a first batch larger than its limit (KIP-74).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchBound {
    /// The first batch comes whole even when it is larger than the limit: the first partition
    /// with data in a Fetch response, so that a consumer always makes progress.
    AtLeastOneBatch,
    /// Nothing beyond the limit: empty when the first batch is larger.
    Strict,
}

/// One partition's log on disk.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    files: Arc<dyn FileOps>,
    /// Segment size for the next roll; a topic's `segment.bytes` may change it.
    segment_bytes: AtomicU64,
    /// Roll the active segment once it is this old (ms) and an append comes; i64::MAX: never.
    segment_ms: AtomicI64,
    writer: Mutex<Appender>,
    /// Readers clone this snapshot and never touch the append lock.
    segments: RwLock<Arc<Vec<Arc<Segment>>>>,
    log_end: AtomicI64,
    log_start: AtomicI64,
    /// The first offset of the earliest open transaction (i64::MAX: none), published before the
    /// log end moves past it: the last stable offset is the lower of the two.
    first_unstable: AtomicI64,
    /// The transactions abort markers closed.
    aborted: crate::aborted::AbortedIndex,
    /// Appended data not yet synced to disk.
    unsynced: std::sync::atomic::AtomicBool,
    /// Held during a sync: a caller that finds nothing unsynced knows a sync that started after
    /// its write has finished. Holds the recovery point last written.
    sync_lock: Mutex<Option<RecoveryPoint>>,
    /// Compaction: the closed segments below this offset hold no superseded records.
    pub(crate) cleaned_up_to: AtomicI64,
    /// Compaction: when the oldest tombstone it kept may be removed (ms), or i64::MAX.
    pub(crate) tombstone_deadline: AtomicI64,
}

#[derive(Debug)]
struct Appender {
    active: Arc<Segment>,
    writer: SegmentWriter,
    /// Reused for each append: the batches with their offsets assigned.
    scratch: BytesMut,
    index: Vec<(u32, u32, i64)>,
    producers: ProducerStates,
    /// When the active segment was created or opened (for `segment.ms`).
    active_since: std::time::Instant,
}

impl PartitionLog {
    /// Opens the log in `dir`, creating the directory and a first segment if needed, and recovers
    /// the last segment (a torn tail is cut off).
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig) -> Result<PartitionLog, StorageError> {
        Self::open_after(dir.into(), config, false)
    }

    /// Opens the log; after a clean shutdown (`clean`) the last segment is trusted up to its
    /// size instead of being validated batch by batch.
    pub(crate) fn open_after(
        dir: PathBuf,
        config: LogConfig,
        clean: bool,
    ) -> Result<PartitionLog, StorageError> {
        std::fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(&dir).ctx("list", &dir)? {
            let entry = entry.ctx("list", &dir)?;
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.ends_with(crate::compaction::CLEANED_SUFFIX))
            {
                // A compaction that did not finish: the original is still in place.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
                continue;
            };
            if let Ok(base) = stem.parse::<i64>() {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len().max(1));
        // The producer state at the recovery point, when recovery used the point.
        let mut at_point = None;
        let (active, writer) = match bases.split_last() {
            None => Segment::create(&dir, 0, config.segment_bytes, &config.files)?,
            Some((&last, closed)) => {
                for &base in closed {
                    segments.push(Segment::open_closed(&dir, base, &config.files, clean)?);
                }
                let fast = if clean {
                    Segment::open_clean_active(&dir, last, config.segment_bytes, &config.files)?
                } else {
                    None
                };
                match fast {
                    Some(opened) => opened,
                    None => {
                        let checkpoint = read_recovery_point(&dir);
                        let (seg, writer, used) = Segment::recover_active(
                            &dir,
                            last,
                            config.segment_bytes,
                            &config.files,
                            checkpoint.as_ref().map(|c| c.point),
                        )?;
                        let trusted = checkpoint
                            .as_ref()
                            .filter(|_| used)
                            .map_or(0, |c| c.point.position);
                        if seg.size() > 0 {
                            tracing::info!(
                                dir = %dir.display(),
                                trusted_bytes = trusted,
                                validated_bytes = seg.size() - trusted,
                                "recovered the last segment after an unclean stop"
                            );
                        }
                        if used {
                            at_point = checkpoint.and_then(|c| c.producers);
                        }
                        (seg, writer)
                    }
                }
            }
        };
        segments.push(active.clone());
        let log_end = active.next_offset();
        let (producers, replayed) = load_producers(&dir, &segments, log_end, at_point);
        let first_unstable = producers.first_unstable_offset().unwrap_or(i64::MAX);
        // DeleteRecords may have moved the start past the first segment's base.
        let log_start = read_log_start(&dir)?
            .unwrap_or(i64::MIN)
            .max(segments[0].base_offset)
            .min(log_end);
        // The last stable offset after a replayed abort is not known any more; after the
        // marker is as far as a read_committed reader could have read then.
        let aborted =
            crate::aborted::AbortedIndex::open(&dir, log_start, log_end, &replayed, |marker| {
                (marker + 1).min(first_unstable)
            })?;
        Ok(PartitionLog {
            dir,
            files: config.files.clone(),
            segment_bytes: AtomicU64::new(config.segment_bytes),
            segment_ms: AtomicI64::new(i64::MAX),
            writer: Mutex::new(Appender {
                active,
                writer,
                scratch: BytesMut::new(),
                index: Vec::new(),
                producers,
                active_since: std::time::Instant::now(),
            }),
            segments: RwLock::new(Arc::new(segments)),
            log_end: AtomicI64::new(log_end),
            log_start: AtomicI64::new(log_start),
            first_unstable: AtomicI64::new(first_unstable),
            aborted,
            unsynced: std::sync::atomic::AtomicBool::new(false),
            sync_lock: Mutex::new(None),
            cleaned_up_to: AtomicI64::new(0),
            tombstone_deadline: AtomicI64::new(0),
        })
    }

    /// The directory holding this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }

    /// The last stable offset (KIP-98): the log end, or the first offset of the earliest open
    /// transaction if that is lower. read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        // The end first: the open transactions published with it are visible after it.
        let end = self.log_end.load(Ordering::Acquire);
        end.min(self.first_unstable.load(Ordering::Acquire))
    }

    /// The aborted transactions that overlap the offsets `[from, upper)`: what a read_committed
    /// Fetch returning those offsets reports, for the client to drop their records.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<crate::aborted::AbortedTxn> {
        self.aborted.overlapping(from, upper)
    }

    /// Whether an abort marker lies at or after `from`: when not, a read_committed read from
    /// there has no aborted transactions to report (a cheap check before collecting them).
    pub fn has_aborts_from(&self, from: i64) -> bool {
        self.aborted.any_from(from)
    }

    /// Whether `producer_id` has a transaction open in this partition (records after its last
    /// marker).
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.writer.lock().producers.is_open(producer_id)
    }

    /// The first offset still kept.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.read().iter().map(|s| s.size()).sum()
    }

    /// Validates every batch in `records` (length, magic, CRC32C), assigns offsets from the log
    /// end and appends them, all or nothing.
    pub fn append(&self, records: &[u8]) -> Result<AppendInfo, StorageError> {
        // Validate before taking the lock: a bad batch costs no one else anything.
        let mut count = 0usize;
        for b in batch::batches(records) {
            b?;
            count += 1;
        }
        if count == 0 {
            return Err(StorageError::EmptyAppend);
        }
        let mut app = self.writer.lock();
        let Appender {
            active,
            writer,
            scratch,
            index,
            producers,
            active_since,
        } = &mut *app;
        // Idempotence is checked under the append lock: it orders a producer's batches. The
        // batches were validated above; their CRCs are not computed a second time.
        let mut rest = records;
        while !rest.is_empty() {
            let b = RecordBatch::parse_unchecked(rest)?;
            rest = &rest[b.size()..];
            if let Verdict::Duplicate {
                base_offset,
                last_offset,
                max_timestamp,
            } = producers.check(&b)?
            {
                if count > 1 {
                    // A retry is the same request again, never part of a larger one.
                    return Err(StorageError::OutOfOrderSequence {
                        producer_id: b.producer_id(),
                        expected: -1,
                        got: b.base_sequence(),
                    });
                }
                return Ok(AppendInfo {
                    base_offset,
                    last_offset,
                    batches: 0,
                    log_start_offset: self.log_start_offset(),
                    rolled: false,
                    written: Written::Duplicate { max_timestamp },
                });
            }
        }
        let base_offset = self.log_end.load(Ordering::Acquire);
        let need = records.len() as u64;
        let segment_bytes = self.segment_bytes.load(Ordering::Relaxed);
        // Roll by the configured size (which may have changed since the active segment was
        // created), or when the pre-sized file has no room left.
        let segment_ms = self.segment_ms.load(Ordering::Relaxed);
        let too_old = u64::try_from(segment_ms)
            .is_ok_and(|ms| active_since.elapsed() >= std::time::Duration::from_millis(ms));
        let rolled = active.size() > 0
            && (active.size() + need > segment_bytes || active.remaining() < need || too_old);
        if rolled {
            // The state of every producer up to here, so that opening the log after a crash
            // replays only the new segment's headers (as Kafka snapshots at a roll). The aborts
            // it covers must not be lost while it survives: they are synced first.
            self.aborted.sync()?;
            save_producers(&self.dir, producers, base_offset);
            *active_since = std::time::Instant::now();
            let capacity = segment_bytes.max(need);
            active.seal(writer)?;
            let (seg, w) = Segment::create(&self.dir, base_offset, capacity, &self.files)?;
            *active = seg.clone();
            *writer = w;
            let mut list = Vec::clone(&self.segments.read());
            list.push(seg);
            *self.segments.write() = Arc::new(list);
        } else if active.remaining() < need {
            // An empty active segment too small for one huge batch: replace it.
            let (seg, w) = Segment::create(&self.dir, base_offset, need, &self.files)?;
            *active = seg.clone();
            *writer = w;
            let mut list = Vec::clone(&self.segments.read());
            list.pop();
            list.push(seg);
            *self.segments.write() = Arc::new(list);
        }
        scratch.clear();
        scratch.extend_from_slice(records);
        index.clear();
        let mut next = base_offset;
        let mut pos = 0usize;
        while pos < scratch.len() {
            let (size, delta, max_ts) = {
                let b = RecordBatch::parse_unchecked(&scratch[pos..])?;
                (b.size(), b.last_offset_delta(), b.max_timestamp())
            };
            batch::set_base_offset(&mut scratch[pos..], next);
            batch::set_partition_leader_epoch(&mut scratch[pos..], 0);
            index.push(((next - active.base_offset) as u32, pos as u32, max_ts));
            next += i64::from(delta) + 1;
            pos += size;
        }
        active.append(writer, scratch, index, next)?;
        let closed = producers.replay(scratch);
        let first_unstable = producers.first_unstable_offset().unwrap_or(i64::MAX);
        for t in closed.iter().filter(|t| t.aborted) {
            self.aborted.push(crate::aborted::AbortedTxn {
                producer_id: t.producer_id,
                first_offset: t.first_offset,
                last_offset: t.last_offset,
                last_stable_offset: first_unstable.min(next),
            })?;
        }
        // Before the log end: a reader that sees the new end sees the transaction it opened
        // and the aborts it wrote.
        self.first_unstable.store(first_unstable, Ordering::Release);
        self.unsynced.store(true, Ordering::Release);
        self.log_end.store(next, Ordering::Release);
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            batches: count,
            log_start_offset: self.log_start_offset(),
            rolled,
            written: Written::New,
        })
    }

    /// Reads whole batches starting with the one holding `offset`, up to `max_bytes` (at least one
    /// batch is returned even if it is larger), from a single segment.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        self.read_slice(offset, max_bytes, None, Isolation::ReadUncommitted)
    }

    /// Reads for a Fetch by Kafka's rule (KIP-74): whole batches from the one holding `offset`,
    /// within one segment, the high watermark and `max_bytes`. Whether the first batch may
    /// exceed `max_bytes` is `bound`'s to say: Kafka lets only the first partition with data in
    /// a response do so, so that a consumer always makes progress; a later partition whose first
    /// batch does not fit gets nothing.
    ///
    /// Kafka sends `max_bytes` of the file as it is, the last batch cut short, and clients drop
    /// that incomplete batch and fetch it again; stopping at the last whole batch sends the same
    /// usable records without the bytes every client throws away (they cost 8-10 % of consume
    /// throughput in `strikemq-bench consume`). [`ReadResult::fetch_size`] still counts what
    /// Kafka's read would have taken, so that the partitions after it get what they would get
    /// from Kafka.
    ///
    /// With [`Isolation::ReadCommitted`] the read stops at the last stable offset (KIP-98):
    /// nothing of a transaction still open is returned.
    pub fn read_for_fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        bound: FetchBound,
        isolation: Isolation,
    ) -> Result<ReadResult, StorageError> {
        self.read_slice(offset, max_bytes, Some(bound), isolation)
    }

    /// `bound`: `None` for a plain read, at least one batch.
    fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        bound: Option<FetchBound>,
        isolation: Isolation,
    ) -> Result<ReadResult, StorageError> {
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        // Loaded after the end, and capped by it (see last_stable_offset).
        let stable = self.first_unstable.load(Ordering::Acquire).min(log_end);
        let upper = match isolation {
            Isolation::ReadUncommitted => log_end,
            Isolation::ReadCommitted => stable,
        };
        if offset < log_start || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        let segments = self.segments.read().clone();
        // The last segment whose base is at or below the offset; later ones if it has nothing.
        let first = segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        let mut records = Bytes::new();
        let mut fetch_size = 0;
        for seg in &segments[first..] {
            let Some(start) = seg.position_of(offset) else {
                continue;
            };
            let bytes = seg.published();
            // The size of the whole batch at `pos`, if it is served: complete, and below the
            // log end. An append publishes its bytes a moment before it moves the log end:
            // batches at or past the log end read above are not served yet, or a client would
            // see offsets beyond the high watermark and fetch from there before the log end
            // caught up, and get OFFSET_OUT_OF_RANGE (a consumer then resets its position).
            let served = |pos: usize| -> Option<usize> {
                let size = batch::batch_size(&bytes[pos..]).ok()?;
                let base = i64::from_be_bytes(bytes.get(pos..pos + 8)?.try_into().ok()?);
                (pos + size <= bytes.len() && base < upper).then_some(size)
            };
            let Some(first_size) = served(start) else {
                break;
            };
            // How far the read may go: the first batch may exceed `max_bytes` unless the
            // fetch's bound says otherwise.
            let limit = match bound {
                None | Some(FetchBound::AtLeastOneBatch) => max_bytes.max(first_size),
                Some(FetchBound::Strict) => max_bytes,
            };
            let mut end = start;
            while end < bytes.len() {
                match served(end) {
                    Some(size) if end + size - start <= limit => end += size,
                    _ => break,
                }
            }
            // Kafka's read would have gone on to the limit into the next served batch, cut
            // short; a read with nothing whole is empty on Kafka too.
            fetch_size = if end > start && end < bytes.len() && served(end).is_some() {
                limit
            } else {
                end - start
            };
            records = SegmentSlice {
                segment: seg.clone(),
                start,
                end,
            }
            .into_bytes();
            break;
        }
        Ok(ReadResult {
            records,
            high_watermark: log_end,
            last_stable_offset: stable,
            log_start_offset: self.log_start_offset(),
            fetch_size,
        })
    }

    /// The first record with a timestamp at or after `timestamp`: its offset and timestamp.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampedOffset>, StorageError> {
        let segments = self.segments.read().clone();
        let log_start = self.log_start_offset();
        for seg in segments.iter() {
            if seg.max_timestamp() < timestamp {
                continue;
            }
            let bytes = seg.published();
            let mut pos = seg.position_for_timestamp(timestamp);
            while pos < bytes.len() {
                let b = RecordBatch::parse_unchecked(&bytes[pos..])?;
                pos += b.size();
                if b.max_timestamp() < timestamp || b.last_offset() < log_start {
                    continue;
                }
                for r in decode_records(&b)? {
                    if r.timestamp >= timestamp && r.offset >= log_start {
                        return Ok(Some(TimestampedOffset {
                            offset: r.offset,
                            timestamp: r.timestamp,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the first record carrying it.
    pub fn max_timestamp(&self) -> Result<Option<TimestampedOffset>, StorageError> {
        let segments = self.segments.read().clone();
        let Some(max) = segments.iter().map(|s| s.max_timestamp()).max() else {
            return Ok(None);
        };
        if max < 0 {
            return Ok(None);
        }
        self.offset_for_timestamp(max)
    }

    /// Writes everything appended so far to disk: the segments sealed since the last sync and
    /// the active one, with their indexes. Then records how far that reached in the partition's
    /// `recovery-point` file, with a producer snapshot at the same offset, so that opening the
    /// log after a crash validates only what follows (at most 1 MiB before the last sync, plus
    /// what came after it).
    ///
    /// Does nothing when nothing was appended since the last sync. Appends go on meanwhile: the
    /// fsyncs run outside the append lock.
    pub fn sync(&self) -> Result<(), StorageError> {
        let mut written = self.sync_lock.lock();
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.sync_all(&mut written)
            .inspect_err(|_| self.unsynced.store(true, Ordering::Release))
    }

    fn sync_all(&self, written: &mut Option<RecoveryPoint>) -> Result<(), StorageError> {
        // The aborts first: a marker made durable below has its entry on disk.
        self.aborted.sync()?;
        let (active, point, producers) = {
            let app = self.writer.lock();
            let point = app.active.recovery_point(&app.writer);
            // The point is written again once it moved RECOVERY_POINT_STEP bytes (or to a new
            // segment): writing it costs a few syscalls, a sync under `--flush always` can come
            // with every Produce, and recovery reads those bytes in about a millisecond.
            let due = written.is_none_or(|last| {
                last.base_offset != point.base_offset
                    || point.position >= last.position + RECOVERY_POINT_STEP
            });
            let producers = due.then(|| app.producers.encode_snapshot(point.next_offset));
            (app.active.clone(), point, producers)
        };
        // Sealed segments, newest first: each sync covers them all, so the first one found
        // synced means the older ones are too, and a sync costs the same with a thousand
        // segments as with two.
        let segments = self.segments.read().clone();
        for seg in segments.iter().rev() {
            if Arc::ptr_eq(seg, &active) {
                continue;
            }
            let sealed = seg.sealed_point();
            if !seg.needs_sync(&sealed) {
                break;
            }
            seg.sync_to(&sealed)?;
        }
        active.sync_to(&point)?;
        if let Some(producers) = producers {
            write_recovery_point(&self.dir, &point, &producers);
            *written = Some(point);
        }
        Ok(())
    }

    /// Trims the active segment to its written size and snapshots the producer state (clean
    /// shutdown).
    pub fn close(&self) -> Result<(), StorageError> {
        let mut app = self.writer.lock();
        let Appender {
            active,
            writer,
            producers,
            ..
        } = &mut *app;
        active.seal(writer)?;
        self.aborted.sync()?;
        save_producers(&self.dir, producers, self.log_end_offset());
        Ok(())
    }

    /// Makes `offset` the first offset of the log (Kafka's DeleteRecords): records before it are
    /// no longer served, and whole segments before it are deleted. The start never moves back.
    /// Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        let _app = self.writer.lock();
        let log_end = self.log_end_offset();
        if offset < 0 || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset(),
                log_end,
            });
        }
        let start = self.log_start_offset().max(offset);
        write_log_start(&self.dir, start)?;
        self.log_start.store(start, Ordering::Release);
        self.aborted.trim_below(start)?;
        // Drop closed segments that hold nothing at or after the new start; readers holding one
        // keep their mapping until they are done.
        let mut list = Vec::clone(&self.segments.read());
        let active = list.len() - 1;
        let keep_from = list[..active]
            .iter()
            .position(|s| s.next_offset() > start)
            .unwrap_or(active);
        let removed: Vec<Arc<Segment>> = list.drain(..keep_from).collect();
        *self.segments.write() = Arc::new(list);
        for seg in removed {
            for path in seg.paths() {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a deleted segment file");
                }
            }
        }
        Ok(start)
    }

    pub(crate) fn segment_snapshot(&self) -> Arc<Vec<Arc<Segment>>> {
        self.segments.read().clone()
    }

    pub(crate) fn lock_appends(&self) -> parking_lot::MutexGuard<'_, impl Sized> {
        self.writer.lock()
    }

    /// Replaces a closed segment by its compacted copy.
    pub(crate) fn swap_segment(&self, old: &Arc<Segment>, fresh: Arc<Segment>) {
        let mut list = Vec::clone(&self.segments.read());
        if let Some(slot) = list.iter_mut().find(|s| Arc::ptr_eq(s, old)) {
            *slot = fresh;
        }
        *self.segments.write() = Arc::new(list);
    }

    /// Rolls the active segment at the next append once it is `ms` old (`segment.ms`).
    pub fn set_segment_ms(&self, ms: i64) {
        self.segment_ms
            .store(if ms < 0 { i64::MAX } else { ms }, Ordering::Relaxed);
    }

    /// The idempotent producers with batches in this partition.
    pub fn producers(&self) -> Vec<crate::producers::ProducerSnapshot> {
        self.writer.lock().producers.snapshot()
    }

    /// Changes the size of segments started from now on.
    pub fn set_segment_bytes(&self, bytes: u64) {
        self.segment_bytes.store(bytes.max(1024), Ordering::Relaxed);
    }

    /// Deletes segments that retention no longer keeps: those whose newest record is older than
    /// `retention_ms` before `now_ms` (-1: no time limit), and the oldest closed ones while the
    /// log is larger than `retention_bytes` by at least a segment (-1: no size limit). As in
    /// Kafka, an active segment whose every record has expired is rolled first, so expired data
    /// goes even when no new record arrives; the log end offset stays. Returns how many segments
    /// went and, when time retention is on, the time (ms) at which the oldest remaining segment
    /// expires.
    pub fn enforce_retention(
        &self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<(usize, Option<i64>), StorageError> {
        let mut app = self.writer.lock();
        let expired_at = now_ms.saturating_sub(retention_ms);
        if retention_ms >= 0 && app.active.size() > 0 && app.active.max_timestamp() < expired_at {
            let Appender {
                active,
                writer,
                active_since,
                ..
            } = &mut *app;
            let base_offset = self.log_end.load(Ordering::Acquire);
            active.seal(writer)?;
            let capacity = self.segment_bytes.load(Ordering::Relaxed);
            let (seg, w) = Segment::create(&self.dir, base_offset, capacity, &self.files)?;
            *active = seg.clone();
            *writer = w;
            *active_since = std::time::Instant::now();
            let mut list = Vec::clone(&self.segments.read());
            list.push(seg);
            *self.segments.write() = Arc::new(list);
        }
        let list = self.segments.read().clone();
        let closed = list.len().saturating_sub(1);
        let mut total: i64 = list.iter().map(|s| s.size() as i64).sum();
        let mut drop = 0;
        while drop < closed {
            let seg = &list[drop];
            let expired =
                retention_ms >= 0 && seg.max_timestamp() < now_ms.saturating_sub(retention_ms);
            let too_big = retention_bytes >= 0 && total - seg.size() as i64 >= retention_bytes;
            if !(expired || too_big) {
                break;
            }
            total -= seg.size() as i64;
            drop += 1;
        }
        // The first segment kept, the active one included once it holds records.
        let next_expiry = if retention_ms >= 0 && drop < list.len() && list[drop].size() > 0 {
            Some(
                list[drop]
                    .max_timestamp()
                    .saturating_add(retention_ms)
                    .saturating_add(1),
            )
        } else {
            None
        };
        if drop == 0 {
            return Ok((0, next_expiry));
        }
        let start = list[drop].base_offset.max(self.log_start_offset());
        write_log_start(&self.dir, start)?;
        self.log_start.store(start, Ordering::Release);
        self.aborted.trim_below(start)?;
        *self.segments.write() = Arc::new(list[drop..].to_vec());
        for seg in &list[..drop] {
            for path in seg.paths() {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an expired segment file");
                }
            }
        }
        tracing::debug!(dir = %self.dir.display(), segments = drop, log_start = start, "retention deleted segments");
        Ok((drop, next_expiry))
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }
}

/// A record found by its timestamp: its offset and its own timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampedOffset {
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
}

/// `log-start-offset` in the partition directory: the log start moved by DeleteRecords, a
/// versioned number file (see the meta module), written atomically.
const LOG_START_FILE: &str = "log-start-offset";

fn read_log_start(dir: &Path) -> Result<Option<i64>, StorageError> {
    crate::meta::read_number_file(&dir.join(LOG_START_FILE))
}

fn write_log_start(dir: &Path, offset: i64) -> Result<(), StorageError> {
    crate::meta::write_number_file(&dir.join(LOG_START_FILE), offset)
}

const PRODUCERS_FILE: &str = "producers.snapshot";

/// The producer state of a log being opened: its snapshot, plus the batch headers at and after
/// the snapshot's offset. Without a snapshot, or with one that is damaged or describes offsets
/// the log no longer has (recovery cut the tail it described), from every header; such a
/// snapshot is deleted, so that it cannot be taken for a later log that grew past it again.
/// `at_point` is the state kept with a recovery point that recovery used; the later of the two
/// snapshots is taken.
fn load_producers(
    dir: &Path,
    segments: &[Arc<Segment>],
    log_end: i64,
    at_point: Option<(i64, ProducerStates)>,
) -> (ProducerStates, Vec<CompletedTxn>) {
    let path = dir.join(PRODUCERS_FILE);
    let snapshot = match std::fs::read(&path) {
        Ok(bytes) => {
            let decoded = ProducerStates::decode_snapshot(&bytes);
            match decoded {
                Some((offset, states)) if offset <= log_end => Some((offset, states)),
                _ => {
                    tracing::warn!(path = %path.display(), "producer snapshot unusable; rebuilding the producer state from the whole log");
                    let _ = std::fs::remove_file(&path);
                    None
                }
            }
        }
        Err(_) => None,
    };
    let snapshot = match (snapshot, at_point) {
        (Some(file), Some(point)) => Some(if point.0 > file.0 { point } else { file }),
        (file, point) => file.or(point),
    };
    let (from, mut states) = snapshot.unwrap_or((i64::MIN, ProducerStates::default()));
    let mut replayed = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        // A segment holds the offsets up to the next one's base.
        if segments
            .get(i + 1)
            .is_some_and(|next| next.base_offset <= from)
        {
            continue;
        }
        let bytes = seg.published();
        let start = if from > seg.base_offset {
            seg.position_of(from).unwrap_or(bytes.len())
        } else {
            0
        };
        replayed.extend(states.replay_from(&bytes[start..], from));
    }
    (states, replayed)
}

/// Writes the producer snapshot for the batches below `offset`. Best effort and not synced:
/// a lost or torn snapshot (its CRC fails) or a stale one only means replaying more headers on
/// the next open.
fn save_producers(dir: &Path, states: &ProducerStates, offset: i64) {
    let path = dir.join(PRODUCERS_FILE);
    let tmp = path.with_extension("tmp");
    let written = std::fs::write(&tmp, states.encode_snapshot(offset))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the producer snapshot");
    }
}

/// `recovery-point`: what the last sync of the log made durable, and the producer state there.
///
/// ```text
///  0    4  "SMRP"
///  4    1  format version (1)
///  5   40  the RecoveryPoint (segment base, position, next offset, max timestamp, index counts)
/// 45    4  n: length of the producer snapshot, u32 BE
/// 49    n  the producer snapshot at the point's next offset (the producers.snapshot format)
/// 49+n  4  CRC32C of bytes 0..49+n, u32 BE
/// ```
///
/// Release 0.1.0 wrote the same without the first five bytes (format version 0); such a file
/// starts with the segment base offset, whose first byte is 0, and is read as well.
///
/// A sync overwrites it in place once the point moved [`RECOVERY_POINT_STEP`] bytes or to a
/// new segment, and does not sync it. Under `--flush always` a sync comes with every acks=-1
/// Produce: writing this file and the producer snapshot by rename at every sync took that
/// latency from 160–190 µs to 480–540 µs (a journal commit per fsync), in place at every sync
/// still cost 15–28 µs. Bytes after the CRC are left from a longer earlier version. A torn or
/// lost write only means validating more of the last segment at the next open.
const RECOVERY_POINT_FILE: &str = "recovery-point";

/// Bytes of synced log between two writes of the recovery point.
const RECOVERY_POINT_STEP: u64 = 1 << 20;

#[derive(Debug)]
struct Checkpoint {
    point: RecoveryPoint,
    producers: Option<(i64, ProducerStates)>,
}

/// The first bytes of a versioned recovery point.
const RECOVERY_POINT_MAGIC: &[u8; 4] = b"SMRP";
/// Its format version.
const RECOVERY_POINT_VERSION: u8 = 1;

fn write_recovery_point(dir: &Path, point: &RecoveryPoint, producers: &[u8]) {
    use std::os::unix::fs::FileExt;
    let mut buf = Vec::with_capacity(5 + RecoveryPoint::LEN + 8 + producers.len());
    buf.extend_from_slice(RECOVERY_POINT_MAGIC);
    buf.push(RECOVERY_POINT_VERSION);
    point.encode(&mut buf);
    buf.extend_from_slice(&(producers.len() as u32).to_be_bytes());
    buf.extend_from_slice(producers);
    let crc = crc32c::crc32c(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    let path = dir.join(RECOVERY_POINT_FILE);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .and_then(|f| f.write_all_at(&buf, 0));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the recovery point");
    }
}

fn read_recovery_point(dir: &Path) -> Option<Checkpoint> {
    let path = dir.join(RECOVERY_POINT_FILE);
    let bytes = std::fs::read(&path).ok()?;
    let decoded = decode_recovery_point(&bytes);
    if decoded.is_none() {
        tracing::warn!(path = %path.display(), "recovery point unreadable; validating the whole last segment");
    }
    decoded
}

fn decode_recovery_point(bytes: &[u8]) -> Option<Checkpoint> {
    // Version 1 starts with the magic and its version; version 0 (0.1.0) with the point itself.
    let start = match bytes.get(..5) {
        Some([m0, m1, m2, m3, version]) if [*m0, *m1, *m2, *m3] == *RECOVERY_POINT_MAGIC => {
            if *version != RECOVERY_POINT_VERSION {
                // A newer release's point: not ours to interpret, and only an optimisation.
                return None;
            }
            5
        }
        _ => 0,
    };
    let head: &[u8; RecoveryPoint::LEN] = bytes
        .get(start..start + RecoveryPoint::LEN)?
        .try_into()
        .ok()?;
    let n_at = start + RecoveryPoint::LEN;
    let n = u32::from_be_bytes(bytes.get(n_at..n_at + 4)?.try_into().ok()?) as usize;
    let end = (n_at + 4).checked_add(n)?;
    let crc = u32::from_be_bytes(bytes.get(end..end.checked_add(4)?)?.try_into().ok()?);
    if crc32c::crc32c(&bytes[..end]) != crc {
        return None;
    }
    let point = RecoveryPoint::decode(head);
    let producers = ProducerStates::decode_snapshot(&bytes[n_at + 4..end])
        .filter(|(offset, _)| *offset == point.next_offset);
    Some(Checkpoint { point, producers })
}

#[cfg(test)]
mod tests {
    /// A look-up's (offset, timestamp), for comparisons.
    fn pair(found: Option<TimestampedOffset>) -> Option<(i64, i64)> {
        found.map(|f| (f.offset, f.timestamp))
    }

    use super::*;
    use crate::testutil::{batch, values};
    use std::io::Write;

    fn small() -> LogConfig {
        sized(1024)
    }

    fn sized(segment_bytes: u64) -> LogConfig {
        LogConfig {
            segment_bytes,
            ..Default::default()
        }
    }

    /// The last stable offset stops at the earliest open transaction, follows it as markers
    /// close transactions, and is the same after a crash recovery and after a clean reopen.
    #[test]
    fn the_last_stable_offset_stops_at_the_earliest_open_transaction() {
        use crate::aborted::AbortedTxn;
        use strikemq_batch::{control_batch, BatchBuilder, ControlType, NewRecord};
        let txn = |pid, seq| {
            BatchBuilder::new()
                .producer(pid, 0, seq)
                .transactional()
                .record(NewRecord {
                    timestamp: 1,
                    value: Some(bytes::Bytes::from_static(b"t")),
                    ..Default::default()
                })
                .build()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let log = PartitionLog::open(&path, small()).unwrap();
        log.append(&batch("plain", 2, 0)).unwrap(); // 0, 1
        assert_eq!(log.last_stable_offset(), 2);
        log.append(&txn(5, 0)).unwrap(); // 2: producer 5 opens
        log.append(&batch("plain", 1, 0)).unwrap(); // 3
        log.append(&txn(6, 0)).unwrap(); // 4: producer 6 opens
        log.append(&txn(5, 1)).unwrap(); // 5
        assert_eq!((log.last_stable_offset(), log.log_end_offset()), (2, 6));
        let read = |isolation| {
            let r = log
                .read_for_fetch(0, 1 << 20, FetchBound::Strict, isolation)
                .unwrap();
            let last = batch::batches(&r.records)
                .last()
                .map(|b| b.unwrap().last_offset());
            (last, r.last_stable_offset, r.high_watermark)
        };
        assert_eq!(read(Isolation::ReadUncommitted), (Some(5), 2, 6));
        assert_eq!(
            read(Isolation::ReadCommitted),
            (Some(1), 2, 6),
            "stops at the LSO"
        );
        // From the LSO itself (not out of range): nothing yet.
        let at_lso = log
            .read_for_fetch(2, 1 << 20, FetchBound::Strict, Isolation::ReadCommitted)
            .unwrap();
        assert!(at_lso.records.is_empty());
        log.append(&control_batch(5, 0, ControlType::Commit, 0, 2))
            .unwrap(); // 6
        assert_eq!(log.last_stable_offset(), 4, "6's transaction is still open");
        let states = log.producers();
        let six = states.iter().find(|p| p.producer_id == 6).unwrap();
        assert_eq!(six.current_txn_start_offset, 4);
        // After a crash (no clean close), recovery finds the same open transaction.
        drop(log);
        let log = PartitionLog::open(&path, small()).unwrap();
        assert_eq!((log.last_stable_offset(), log.log_end_offset()), (4, 7));
        log.append(&control_batch(6, 0, ControlType::Abort, 0, 3))
            .unwrap(); // 7
        assert_eq!(log.last_stable_offset(), 8);
        let aborted = AbortedTxn {
            producer_id: 6,
            first_offset: 4,
            last_offset: 7,
            last_stable_offset: 8,
        };
        assert_eq!(log.aborted_transactions(0, 8), [aborted]);
        assert_eq!(
            log.aborted_transactions(0, 4),
            [],
            "a fetch that stops before it"
        );
        assert_eq!(
            log.aborted_transactions(8, 9),
            [],
            "a fetch that starts after it"
        );
        // A crash that lost the index file: recovery replays the marker and writes it again.
        drop(log);
        std::fs::remove_file(path.join(crate::aborted::ABORTED_FILE)).unwrap();
        let log = PartitionLog::open(&path, small()).unwrap();
        assert_eq!(log.aborted_transactions(0, 8), [aborted]);
        assert!(path.join(crate::aborted::ABORTED_FILE).exists());
        // And after a clean close, from the producer snapshot.
        log.append(&txn(5, 2)).unwrap(); // 8: producer 5 opens again
        log.sync().unwrap();
        log.close().unwrap();
        drop(log);
        let log = PartitionLog::open_after(path.clone(), small(), true).unwrap();
        assert_eq!((log.last_stable_offset(), log.log_end_offset()), (8, 9));
        assert_eq!(log.aborted_transactions(0, 9), [aborted]);
        // DeleteRecords past the marker drops the entry.
        log.delete_records_before(8).unwrap();
        assert_eq!(log.aborted_transactions(0, 9), []);
    }

    /// KIP-74: a fetch read is the whole batches within `max_bytes`; the first batch may exceed
    /// the limit only when the caller says so, and otherwise the read is empty when it does not
    /// fit.
    #[test]
    fn a_fetch_read_is_cut_at_the_limit_and_only_the_first_batch_may_exceed_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), sized(1 << 20)).unwrap();
        let sizes: Vec<usize> = (0..3)
            .map(|i| {
                let b = batch("v", 10 + i, 0);
                log.append(&b).unwrap();
                b.len()
            })
            .collect();
        let whole = log.read(0, 1 << 20).unwrap().records;
        assert_eq!(whole.len(), sizes.iter().sum::<usize>());
        let fetch = |offset, max, bound| {
            log.read_for_fetch(offset, max, bound, Isolation::ReadUncommitted)
                .unwrap()
                .records
        };
        for bound in [FetchBound::AtLeastOneBatch, FetchBound::Strict] {
            // Everything fits: the same bytes as a whole-batch read.
            assert_eq!(fetch(0, 1 << 20, bound), whole);
            // A limit inside the second batch: the first batch only, never a partial one.
            let cut = sizes[0] + 7;
            assert_eq!(fetch(0, cut, bound), whole.slice(..sizes[0]));
            // ... counted as Kafka's read would count it, cut at the limit.
            assert_eq!(
                log.read_for_fetch(0, cut, bound, Isolation::ReadUncommitted)
                    .unwrap()
                    .fetch_size,
                cut
            );
            // From an offset inside the second batch: from that batch's start, whole batches.
            assert_eq!(
                fetch(12, sizes[1] + sizes[2] - 1, bound),
                whole.slice(sizes[0]..sizes[0] + sizes[1])
            );
        }
        // The first batch larger than the limit: whole when allowed, nothing otherwise.
        assert_eq!(
            fetch(0, 10, FetchBound::AtLeastOneBatch),
            whole.slice(..sizes[0])
        );
        assert_eq!(
            fetch(0, 0, FetchBound::AtLeastOneBatch),
            whole.slice(..sizes[0])
        );
        assert!(fetch(0, 10, FetchBound::Strict).is_empty());
        assert_eq!(
            log.read_for_fetch(0, 10, FetchBound::Strict, Isolation::ReadUncommitted)
                .unwrap()
                .fetch_size,
            0
        );
        // The end of the log: what there is.
        let tail = log
            .read_for_fetch(12, 1 << 20, FetchBound::Strict, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(tail.fetch_size, sizes[1] + sizes[2]);
        assert!(fetch(0, 0, FetchBound::Strict).is_empty());
        // At the log end: nothing, whatever the bound.
        assert!(fetch(log.log_end_offset(), 1 << 20, FetchBound::AtLeastOneBatch).is_empty());
        // The whole-batch read never cuts a batch.
        assert_eq!(
            log.read(0, sizes[0] + 7).unwrap().records,
            whole.slice(..sizes[0])
        );
    }

    /// A reader following the log end while another thread appends (as a consumer follows a
    /// producer) never gets records at or past the high watermark it is told, and so never asks
    /// for an offset past the log end. An append publishes its bytes a moment before it moves the
    /// log end; serving them in that moment made a consumer's next fetch OFFSET_OUT_OF_RANGE.
    #[test]
    fn a_reader_following_appends_never_sees_past_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(PartitionLog::open(dir.path().join("p"), small()).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let b = batch("x", 1, 0);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 2_000_000 {
                    log.append(&b).unwrap();
                    n += 1;
                }
            })
        };
        let started = std::time::Instant::now();
        let mut next = 0;
        let mut reads = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(1500) {
            let r = log.read(next, 1 << 20).unwrap();
            reads += 1;
            for b in batch::batches(&r.records) {
                let b = b.unwrap();
                assert!(
                    b.last_offset() < r.high_watermark,
                    "offset {} served with high watermark {}",
                    b.last_offset(),
                    r.high_watermark
                );
                next = next.max(b.last_offset() + 1);
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(reads > 1000 && next > 1000, "{reads} reads, {next} records");
    }

    mod faults {
        use super::*;
        use crate::files::faults::Faulty;
        use std::sync::atomic::Ordering::SeqCst;

        fn faulty(segment_bytes: u64) -> (Arc<Faulty>, LogConfig) {
            let f = Arc::new(Faulty::default());
            let config = LogConfig {
                segment_bytes,
                files: f.clone(),
            };
            (f, config)
        }

        #[test]
        fn a_full_disk_fails_appends_and_serves_nothing_half_written() {
            let dir = tempfile::tempdir().unwrap();
            let (f, config) = faulty(16 * 1024);
            let log = PartitionLog::open(dir.path().join("t-0"), config.clone()).unwrap();
            // Enough data for index entries (every 4 KiB) and a roll or two.
            let mut expected = Vec::new();
            for i in 0..40 {
                let b = batch(&format!("{i:0>500}"), 2, i);
                log.append(&b).unwrap();
            }
            expected.extend(all_values(&log));
            assert_eq!(expected.len(), 80);
            f.full.store(true, SeqCst);
            for i in 0..5 {
                let err = log
                    .append(&batch(&format!("lost{i:0>600}"), 3, 0))
                    .unwrap_err();
                let StorageError::Io { source, .. } = &err else {
                    panic!("{err}")
                };
                assert_eq!(source.raw_os_error(), Some(28), "{err}");
                assert_eq!(log.log_end_offset(), 80);
                assert_eq!(all_values(&log), expected);
            }
            // Space again: offsets go on where they stopped, with nothing between.
            f.full.store(false, SeqCst);
            for i in 0..10 {
                let info = log
                    .append(&batch(&format!("after{i:0>400}"), 2, 1000 + i))
                    .unwrap();
                assert_eq!(info.base_offset, 80 + 2 * i);
            }
            let now = all_values(&log);
            assert_eq!(now.len(), 100);
            assert_eq!(now[..80], expected[..]);
            assert!(now[80..].iter().all(|(_, v)| v.starts_with("after")));
            // Lookups by offset and by time still land on the right batches.
            assert_eq!(values(&log.read(85, 1).unwrap().records)[0].0, 84);
            // After a crash (no clean close) the same records come back, and after a clean one.
            drop(log);
            let log = PartitionLog::open(dir.path().join("t-0"), config.clone()).unwrap();
            assert_eq!(all_values(&log), now);
            log.close().unwrap();
            drop(log);
            let log = PartitionLog::open_after(dir.path().join("t-0"), config, true).unwrap();
            assert_eq!(all_values(&log), now);
        }

        #[test]
        fn a_failing_sync_is_an_error_and_the_next_one_retries() {
            let dir = tempfile::tempdir().unwrap();
            let (f, config) = faulty(1 << 20);
            let log = PartitionLog::open(dir.path().join("t-0"), config).unwrap();
            log.append(&batch("a", 1, 0)).unwrap();
            f.failing_sync.store(true, SeqCst);
            assert!(matches!(log.sync(), Err(StorageError::Io { .. })));
            f.failing_sync.store(false, SeqCst);
            log.sync().unwrap();
            assert_eq!(f.syncs.load(SeqCst), 1);
        }

        /// `--flush interval`: appends, a roll, more appends, then one sync. The sync covers the
        /// segment sealed at the roll too, not only the active one.
        #[test]
        fn a_sync_after_a_roll_makes_the_sealed_segment_durable_too() {
            let dir = tempfile::tempdir().unwrap();
            let (f, config) = faulty(4 * 1024);
            let path = dir.path().join("t-0");
            let log = PartitionLog::open(&path, config).unwrap();
            let mut written = Vec::new();
            for i in 0..12 {
                let value = format!("{i}-{:0>900}", "");
                log.append(&batch(&value, 1, i)).unwrap();
                written.push((i, format!("{value}-0")));
            }
            assert!(log.segment_count() > 2);
            log.sync().unwrap();
            drop(log);
            f.power_cut(&path, 0.0);
            let log = PartitionLog::open(&path, LogConfig::default()).unwrap();
            let got = all_values(&log);
            let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
            assert_eq!(offsets, (0..12).collect::<Vec<i64>>());
            assert_eq!(got, written);
        }

        /// A power cut at every point of a run that syncs after each append (`--flush always`):
        /// what was acknowledged (synced) is all there, in order, at its offsets; what was not
        /// may be there in part, as whole batches only.
        #[test]
        fn a_power_cut_after_any_sync_keeps_every_synced_record() {
            for cut_after in 1..=12u64 {
                // (fraction of the unsynced bytes that reach the disk, records that survive)
                for (keep, survivors) in [(0.0, Some(0)), (0.37, None), (1.0, Some(3))] {
                    let dir = tempfile::tempdir().unwrap();
                    let (f, config) = faulty(8 * 1024);
                    let path = dir.path().join("t-0");
                    let log = PartitionLog::open(&path, config).unwrap();
                    let mut acked = Vec::new();
                    let mut i = 0;
                    while f.syncs.load(SeqCst) < cut_after {
                        let b = batch(&format!("{cut_after}-{i:0>300}"), 2, i);
                        let info = log.append(&b).unwrap();
                        log.sync().unwrap();
                        acked.push(info.base_offset);
                        i += 1;
                    }
                    // Written but never synced: may survive in part.
                    log.append(&batch("unsynced", 3, 99)).unwrap();
                    let segments: Vec<PathBuf> = log
                        .segment_snapshot()
                        .iter()
                        .map(|s| s.paths()[0].to_owned())
                        .collect();
                    drop(log);
                    f.power_cut(&path, keep);
                    let log = PartitionLog::open(&path, LogConfig::default()).unwrap();
                    let got = all_values(&log);
                    assert!(
                        got.len() >= 2 * acked.len(),
                        "cut {cut_after} keep {keep}: {} of {} acknowledged records ({segments:?})",
                        got.len(),
                        2 * acked.len()
                    );
                    for (n, (offset, value)) in got.iter().enumerate() {
                        assert_eq!(*offset, n as i64);
                        if n < 2 * acked.len() {
                            assert!(value.starts_with(&format!("{cut_after}-")), "{value}");
                        }
                    }
                    // Nothing unsynced survives a cut that keeps none of it; all of it, one that
                    // keeps everything; a torn part of a batch never.
                    let unsynced = got.len() - 2 * acked.len();
                    match survivors {
                        Some(n) => assert_eq!(unsynced, n),
                        None => assert!(unsynced == 0 || unsynced == 3, "{unsynced}"),
                    }
                    // The log takes appends again right after the last whole batch.
                    let next = log.append(&batch("again", 1, 0)).unwrap().base_offset;
                    assert_eq!(next, got.len() as i64);
                }
            }
        }
    }

    #[test]
    fn assigns_offsets_and_reads_back_record_by_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
        assert_eq!(log.append(&batch("a", 3, 100)).unwrap().base_offset, 0);
        let info = log.append(&batch("b", 2, 200)).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (3, 4));
        let read = log.read(0, 1 << 20).unwrap();
        assert_eq!(read.high_watermark, 5);
        let got = values(&read.records);
        assert_eq!(
            got,
            vec![
                (0, "a-0".into()),
                (1, "a-1".into()),
                (2, "a-2".into()),
                (3, "b-0".into()),
                (4, "b-1".into())
            ]
        );
        // From the middle: the batch holding offset 4 starts at 3.
        let read = log.read(4, 1 << 20).unwrap();
        assert_eq!(values(&read.records)[0].0, 3);
        // At the end: nothing, but no error.
        assert!(log.read(5, 1 << 20).unwrap().records.is_empty());
        assert!(matches!(
            log.read(6, 1 << 20),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn rejects_corrupt_batches_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
        let mut bad = batch("a", 2, 0).to_vec();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        assert!(matches!(
            log.append(&bad),
            Err(StorageError::InvalidBatch(_))
        ));
        assert_eq!(log.log_end_offset(), 0);
        assert!(matches!(log.append(&[]), Err(StorageError::EmptyAppend)));
    }

    #[test]
    fn rolls_segments_and_reads_across_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), small()).unwrap();
        for i in 0..50 {
            log.append(&batch(&format!("m{i}"), 2, i * 10)).unwrap();
        }
        assert!(log.segment_count() > 3);
        let mut offset = 0;
        let mut seen = Vec::new();
        while offset < log.log_end_offset() {
            let read = log.read(offset, 300).unwrap();
            let vals = values(&read.records);
            for (o, v) in vals {
                if o >= offset {
                    seen.push(v);
                }
            }
            offset = seen.len() as i64;
        }
        assert_eq!(seen.len(), 100);
        assert_eq!(seen[99], "m49-1");
    }

    #[test]
    fn reopen_recovers_everything_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        {
            let log = PartitionLog::open(&path, small()).unwrap();
            for i in 0..20 {
                log.append(&batch(&format!("m{i}"), 3, i * 10)).unwrap();
            }
            // No clean close: the active segment keeps its pre-sized zero tail.
        }
        // Tear the last batch of the active segment: write garbage after the valid bytes.
        let last_log = {
            let mut logs: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect();
            logs.sort();
            logs.pop().unwrap()
        };
        let log = PartitionLog::open(&path, small()).unwrap();
        assert_eq!(log.log_end_offset(), 60);
        let active_size = log.segments.read().last().unwrap().size();
        drop(log);
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&last_log)
                .unwrap();
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(active_size)).unwrap();
            // A batch header claiming 500 bytes, followed by too little.
            let mut torn = batch("torn", 5, 0).to_vec();
            torn.truncate(torn.len() - 7);
            f.write_all(&torn).unwrap();
        }
        let log = PartitionLog::open(&path, small()).unwrap();
        assert_eq!(log.log_end_offset(), 60);
        let info = log.append(&batch("after", 1, 1000)).unwrap();
        assert_eq!(info.base_offset, 60);
        let all: Vec<_> = (0..=60)
            .step_by(3)
            .flat_map(|o| values(&log.read(o, 1 << 20).unwrap().records))
            .collect();
        assert!(all.contains(&(60, "after-0".into())));
        assert!(all.contains(&(59, "m19-2".into())));
    }

    /// Appends of every size, small and large and larger than the index interval many times
    /// over, across a roll, a crash and a clean close: every record reads back, and a clean
    /// close trims the pre-sized active segment to its data.
    #[test]
    fn mixed_appends_survive_a_roll_a_crash_and_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let config = || sized(1 << 20);
        // Records per batch: small ones between large ones, two of well over 128 KiB, and
        // enough to roll a segment.
        let sizes = [300, 1, 2, 300, 8000, 1, 400, 300, 3, 20_000, 300, 1];
        let mut expected = Vec::new();
        {
            let log = PartitionLog::open(&path, config()).unwrap();
            for round in 0..3 {
                for (i, &n) in sizes.iter().enumerate() {
                    let tag = format!("r{round}b{i}");
                    let b = batch(&tag, n, 0);
                    let base = log.append(&b).unwrap().base_offset;
                    expected.extend((0..n).map(|j| (base + j as i64, format!("{tag}-{j}"))));
                }
            }
            assert!(
                log.segments.read().len() > 1,
                "the test must roll a segment"
            );
            assert_eq!(all_values(&log), expected);
            // No clean close: a crash.
        }
        let log = PartitionLog::open(&path, config()).unwrap();
        assert_eq!(all_values(&log), expected);
        let b = batch("after", 300, 0);
        let base = log.append(&b).unwrap().base_offset;
        assert_eq!(base, expected.len() as i64);
        expected.extend((0..300).map(|j| (base + j, format!("after-{j}"))));
        assert_eq!(all_values(&log), expected);
        let (active_path, active_size) = {
            let segments = log.segments.read();
            let active = segments.last().unwrap();
            (active.paths()[0].to_owned(), active.size())
        };
        log.close().unwrap();
        assert_eq!(
            std::fs::metadata(&active_path).unwrap().len(),
            active_size,
            "a clean close trims the segment to its data"
        );
        drop(log);
        let log = PartitionLog::open(&path, config()).unwrap();
        assert_eq!(all_values(&log), expected);
    }

    /// Index entries reach their files in batches and at a seal or clean close; lookups never
    /// depend on it, before or after a restart or a crash.
    #[test]
    fn index_entries_are_written_in_batches_and_at_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let config = || sized(64 << 20);
        let entries_on_disk = |log: &PartitionLog| {
            let segments = log.segments.read();
            let [_, index, _] = segments.last().unwrap().paths();
            std::fs::metadata(index).unwrap().len() / 8
        };
        // Batches of 300 records (about 5 KiB): one index entry each.
        let big = |i: i64| batch(&format!("b{i}"), 300, i * 1000);
        let check = |log: &PartitionLog, batches: i64| {
            for i in (0..batches).step_by(7) {
                let got = values(&log.read(i * 300 + 5, 1).unwrap().records);
                assert_eq!(got[0], (i * 300, format!("b{i}-0")));
                let (offset, _) = pair(log.offset_for_timestamp(i * 1000 + 150).unwrap()).unwrap();
                assert_eq!(offset, i * 300 + 150);
            }
        };
        {
            let log = PartitionLog::open(&path, config()).unwrap();
            for i in 0..300 {
                log.append(&big(i)).unwrap();
            }
            assert_eq!(
                entries_on_disk(&log),
                256,
                "one write of 256 entries so far"
            );
            check(&log, 300);
            log.close().unwrap();
            assert_eq!(entries_on_disk(&log), 300, "the rest at the close");
        }
        {
            let log = PartitionLog::open(&path, config()).unwrap();
            check(&log, 300);
            for i in 300..400 {
                log.append(&big(i)).unwrap();
            }
            // A crash: the last entries never reach the file.
        }
        let log = PartitionLog::open(&path, config()).unwrap();
        check(&log, 400);
    }

    /// After a crash, the batches below the last sync's recovery point are trusted and only
    /// those after it are validated. Both logs below have a damaged batch before the point and
    /// one after it: with the point, recovery cuts at the later one; without it (the file gone
    /// or damaged), at the first.
    #[test]
    fn crash_recovery_validates_only_what_follows_the_recovery_point() {
        const BEFORE: usize = 100; // below the recovery point
        const SYNCED: usize = 600;
        const AFTER: usize = 610; // appended after the last sync
        const TOTAL: usize = 620;
        let value = |i: usize| format!("{i:04}-{:0>5000}", "");
        let one = batch(&value(0), 1, 0).len();
        let root = tempfile::tempdir().unwrap();
        let dir_of = |name: &str| root.path().join(name);
        let crashed = |name: &str| {
            let path = dir_of(name);
            let log = PartitionLog::open(&path, sized(64 << 20)).unwrap();
            for i in 0..TOTAL {
                log.append(&batch(&value(i), 1, 1_000 * i as i64)).unwrap();
                if i + 1 == SYNCED {
                    log.sync().unwrap();
                    // With the producer state there: opening replays only what follows.
                    let file = std::fs::read(path.join(RECOVERY_POINT_FILE)).unwrap();
                    let checkpoint = decode_recovery_point(&file).unwrap();
                    assert_eq!(checkpoint.point.next_offset, SYNCED as i64);
                    assert_eq!(checkpoint.producers.unwrap().0, SYNCED as i64);
                }
            }
            drop(log); // no close: a crash
            let seg = path.join(format!("{}.log", crate::segment::file_stem(0)));
            let mut bytes = std::fs::read(&seg).unwrap();
            for i in [BEFORE, AFTER] {
                bytes[i * one + one - 10] ^= 0x20; // a byte of the record's value
            }
            std::fs::write(&seg, bytes).unwrap();
            path
        };

        let log = PartitionLog::open(crashed("with-point"), LogConfig::default()).unwrap();
        assert_eq!(log.log_end_offset(), AFTER as i64);
        // The trusted part was not read: the damaged batch is still there.
        let damaged = log.read(BEFORE as i64, 1).unwrap().records;
        assert!(batch::batches(&damaged).next().unwrap().is_err());
        // Indexes hold for the trusted part and for what was validated after it.
        for at in [0, 299, SYNCED - 1, SYNCED + 5] {
            let got = values(&log.read(at as i64, 1).unwrap().records);
            assert_eq!(got, vec![(at as i64, format!("{}-0", value(at)))]);
            let ts = 1_000 * at as i64;
            assert_eq!(
                pair(log.offset_for_timestamp(ts).unwrap()),
                Some((at as i64, ts))
            );
        }
        assert_eq!(
            log.append(&batch("next", 1, 0)).unwrap().base_offset,
            AFTER as i64
        );

        let without = crashed("without-point");
        std::fs::remove_file(without.join(RECOVERY_POINT_FILE)).unwrap();
        let log = PartitionLog::open(&without, LogConfig::default()).unwrap();
        assert_eq!(log.log_end_offset(), BEFORE as i64);

        let damaged_point = crashed("damaged-point");
        let rp = damaged_point.join(RECOVERY_POINT_FILE);
        let mut bytes = std::fs::read(&rp).unwrap();
        bytes[9] ^= 1;
        std::fs::write(&rp, bytes).unwrap();
        let log = PartitionLog::open(&damaged_point, LogConfig::default()).unwrap();
        assert_eq!(log.log_end_offset(), BEFORE as i64);
    }

    /// The recovery point is overwritten in place: a shorter version after a longer one reads
    /// back as itself, and any damaged byte makes it unusable.
    #[test]
    fn the_recovery_point_file_survives_shorter_overwrites_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let point = |next_offset| RecoveryPoint {
            base_offset: 0,
            position: 4096,
            next_offset,
            max_timestamp: 17,
            index_entries: 3,
            time_entries: 2,
        };
        let mut many = ProducerStates::default();
        for pid in 0..20 {
            let b = idem(pid, 0, 0, 1);
            many.replay_from(&b, i64::MIN);
        }
        write_recovery_point(dir.path(), &point(20), &many.encode_snapshot(20));
        let long = std::fs::read(dir.path().join(RECOVERY_POINT_FILE)).unwrap();
        let empty = ProducerStates::default().encode_snapshot(30);
        write_recovery_point(dir.path(), &point(30), &empty);
        let file = std::fs::read(dir.path().join(RECOVERY_POINT_FILE)).unwrap();
        assert_eq!(
            file.len(),
            long.len(),
            "overwritten in place, not truncated"
        );
        let read = read_recovery_point(dir.path()).unwrap();
        assert_eq!(read.point, point(30));
        let (at, states) = read.producers.unwrap();
        assert_eq!((at, states.snapshot().len()), (30, 0));
        let used = 5 + RecoveryPoint::LEN + 4 + empty.len() + 4;
        for i in 0..used {
            let mut damaged = file.clone();
            damaged[i] ^= 0x10;
            assert!(decode_recovery_point(&damaged).is_none(), "byte {i}");
        }
        assert!(decode_recovery_point(&file[..used - 1]).is_none());
    }

    /// Release 0.1.0 wrote recovery points without the magic and version: they are still read.
    #[test]
    fn a_recovery_point_of_release_0_1_0_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let point = RecoveryPoint {
            base_offset: 0,
            position: 4096,
            next_offset: 9,
            max_timestamp: 17,
            index_entries: 3,
            time_entries: 2,
        };
        write_recovery_point(
            dir.path(),
            &point,
            &ProducerStates::default().encode_snapshot(9),
        );
        let v1 = std::fs::read(dir.path().join(RECOVERY_POINT_FILE)).unwrap();
        assert_eq!(&v1[..5], b"SMRP\x01");
        // The same point as 0.1.0 wrote it: no header, the CRC over what remains.
        let mut v0 = v1[5..v1.len() - 4].to_vec();
        let crc = crc32c::crc32c(&v0);
        v0.extend_from_slice(&crc.to_be_bytes());
        let read = decode_recovery_point(&v0).expect("a 0.1.0 point");
        assert_eq!(read.point, point);
        assert_eq!(read.producers.unwrap().0, 9);
        // A newer release's format is left alone (the log is validated instead).
        let mut v2 = v1.clone();
        v2[4] = 2;
        assert!(decode_recovery_point(&v2).is_none());
    }

    /// An idempotent producer's retry is still recognised after a crash whose recovery started
    /// at the recovery point (the producer state comes from the point).
    #[test]
    fn producer_state_survives_a_crash_through_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        {
            let log = PartitionLog::open(&path, sized(64 << 20)).unwrap();
            for seq in 0..10 {
                log.append(&idem(7, 0, seq * 2, 2)).unwrap();
            }
            log.sync().unwrap();
            log.append(&idem(7, 0, 20, 2)).unwrap(); // after the point
        }
        assert!(
            !path.join(PRODUCERS_FILE).exists(),
            "no roll, no clean close"
        );
        let log = PartitionLog::open(&path, sized(64 << 20)).unwrap();
        let retry = log.append(&idem(7, 0, 20, 2)).unwrap();
        assert!(retry.duplicate());
        assert_eq!(retry.base_offset, 20);
        let older = log.append(&idem(7, 0, 18, 2)).unwrap();
        assert!(older.duplicate());
        assert_eq!(older.base_offset, 18);
        assert_eq!(log.append(&idem(7, 0, 22, 2)).unwrap().base_offset, 22);
    }

    /// A recovery point the index files do not back (they lost entries it counts on) is not
    /// used: recovery validates the whole segment and rebuilds the indexes.
    #[test]
    fn a_recovery_point_without_its_index_entries_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let value = |i: usize| format!("{i:04}-{:0>5000}", "");
        {
            let log = PartitionLog::open(&path, sized(64 << 20)).unwrap();
            for i in 0..300 {
                log.append(&batch(&value(i), 1, i as i64)).unwrap();
            }
            log.sync().unwrap();
        }
        let index = path.join(format!("{}.index", crate::segment::file_stem(0)));
        let time = path.join(format!("{}.timeindex", crate::segment::file_stem(0)));
        for (file, entry) in [(&index, 8), (&time, 12)] {
            let len = std::fs::metadata(file).unwrap().len();
            assert_eq!(len, 256 * entry, "the sync covered 256 entries");
            let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
            f.set_len(len - entry).unwrap();
        }
        let log = PartitionLog::open(&path, LogConfig::default()).unwrap();
        assert_eq!(log.log_end_offset(), 300);
        for at in [0, 255, 299] {
            let got = values(&log.read(at as i64, 1).unwrap().records);
            assert_eq!(got, vec![(at as i64, format!("{}-0", value(at)))]);
        }
        // The file was rewritten whole: 300 entries, positions increasing.
        let raw = std::fs::read(&index).unwrap();
        let positions: Vec<u32> = raw
            .chunks_exact(8)
            .map(|e| u32::from_be_bytes(e[4..8].try_into().unwrap()))
            .collect();
        assert_eq!(positions.len(), 300);
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }

    fn all_values(log: &PartitionLog) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let mut at = log.log_start_offset();
        while at < log.log_end_offset() {
            let read = log.read(at, 1 << 20).unwrap();
            let before = out.len();
            for (o, v) in values(&read.records) {
                if o >= at {
                    out.push((o, v));
                }
            }
            if out.len() == before {
                break; // nothing readable at `at`: the caller's comparison shows what is missing
            }
            at = out.last().map_or(at, |(o, _)| o + 1);
        }
        out
    }

    #[test]
    fn clean_close_then_reopen_keeps_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        {
            let log = PartitionLog::open(&path, small()).unwrap();
            for i in 0..30 {
                log.append(&batch(&format!("m{i}"), 1, i)).unwrap();
            }
            log.close().unwrap();
        }
        let log = PartitionLog::open(&path, small()).unwrap();
        assert_eq!(log.log_end_offset(), 30);
        assert_eq!(
            values(&log.read(29, 1 << 20).unwrap().records),
            vec![(29, "m29-0".into())]
        );
        assert_eq!(log.append(&batch("x", 1, 99)).unwrap().base_offset, 30);
    }

    #[test]
    fn finds_offsets_by_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), small()).unwrap();
        for i in 0..40 {
            // timestamps 1000 + 10*i .. +4
            log.append(&batch("m", 5, 1000 + 10 * i)).unwrap();
        }
        assert_eq!(pair(log.offset_for_timestamp(0).unwrap()), Some((0, 1000)));
        assert_eq!(
            pair(log.offset_for_timestamp(1012).unwrap()),
            Some((7, 1012))
        );
        // 1015..1019 are not used: the next record is 1020 at offset 10.
        assert_eq!(
            pair(log.offset_for_timestamp(1015).unwrap()),
            Some((10, 1020))
        );
        assert_eq!(
            pair(log.offset_for_timestamp(1394).unwrap()),
            Some((199, 1394))
        );
        assert_eq!(pair(log.offset_for_timestamp(1395).unwrap()), None);
        assert_eq!(pair(log.max_timestamp().unwrap()), Some((199, 1394)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// The sparse time index (one entry per 4 KiB of log at most) finds what a scan of every
        /// record finds, with timestamps out of order, across segments, and after a reopen that
        /// rebuilds or trusts the indexes.
        #[test]
        fn offsets_by_timestamp_match_a_full_scan(
            timestamps in proptest::collection::vec(0i64..5_000, 1..400),
            probes in proptest::collection::vec(-10i64..5_100, 1..30),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t-0");
            let config = LogConfig { segment_bytes: 16 * 1024, ..Default::default() };
            let log = PartitionLog::open(&path, config.clone()).unwrap();
            for (i, ts) in timestamps.iter().enumerate() {
                log.append(&batch(&format!("r{i}"), 1, *ts)).unwrap();
            }
            let expect = |t: i64| {
                timestamps.iter().position(|&ts| ts >= t).map(|o| (o as i64, timestamps[o]))
            };
            let max = *timestamps.iter().max().unwrap();
            let first_max = timestamps.iter().position(|&ts| ts == max).unwrap() as i64;
            for &t in &probes {
                proptest::prop_assert_eq!(pair(log.offset_for_timestamp(t).unwrap()), expect(t));
            }
            proptest::prop_assert_eq!(pair(log.max_timestamp().unwrap()), Some((first_max, max)));
            drop(log);
            let log = PartitionLog::open(&path, config).unwrap();
            for &t in &probes {
                proptest::prop_assert_eq!(pair(log.offset_for_timestamp(t).unwrap()), expect(t));
            }
            proptest::prop_assert_eq!(pair(log.max_timestamp().unwrap()), Some((first_max, max)));
        }
    }

    #[test]
    fn delete_records_moves_the_start_and_drops_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let log = PartitionLog::open(&path, small()).unwrap();
        for i in 0..40 {
            log.append(&batch(&format!("m{i}"), 2, i)).unwrap();
        }
        let segments = log.segment_count();
        assert_eq!(log.delete_records_before(33).unwrap(), 33);
        assert!(log.segment_count() < segments);
        assert!(matches!(
            log.read(32, 1 << 20),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        // The batch holding 33 starts at 32; clients skip what they did not ask for.
        let vals = values(&log.read(33, 1 << 20).unwrap().records);
        assert!(vals.iter().any(|(o, _)| *o == 33));
        // Never backwards; beyond the end is an error.
        assert_eq!(log.delete_records_before(10).unwrap(), 33);
        assert!(log.delete_records_before(81).is_err());
        drop(log);
        let log = PartitionLog::open(&path, small()).unwrap();
        assert_eq!(log.log_start_offset(), 33);
        assert_eq!(log.log_end_offset(), 80);
        assert_eq!(
            pair(log.offset_for_timestamp(0).unwrap()).map(|(o, _)| o),
            Some(33)
        );
        assert_eq!(log.delete_records_before(80).unwrap(), 80);
        assert!(log.read(80, 100).unwrap().records.is_empty());
    }

    fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> bytes::Bytes {
        let mut b = strikemq_batch::BatchBuilder::new().producer(pid, epoch, seq);
        for i in 0..n {
            b = b.record(strikemq_batch::NewRecord {
                timestamp: i as i64,
                value: Some(bytes::Bytes::from(format!("s{}", seq as usize + i))),
                ..Default::default()
            });
        }
        b.build()
    }

    #[test]
    fn idempotent_producers_are_deduplicated_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        {
            let log = PartitionLog::open(&path, small()).unwrap();
            assert_eq!(log.append(&idem(7, 0, 0, 3)).unwrap().base_offset, 0);
            assert_eq!(log.append(&idem(7, 0, 3, 2)).unwrap().base_offset, 3);
            // A retry of the first batch: acknowledged with its offsets, not written again.
            let again = log.append(&idem(7, 0, 0, 3)).unwrap();
            assert!(again.duplicate());
            assert_eq!((again.base_offset, again.last_offset), (0, 2));
            assert_eq!(log.log_end_offset(), 5);
            // A gap.
            assert!(matches!(
                log.append(&idem(7, 0, 9, 1)),
                Err(StorageError::OutOfOrderSequence {
                    expected: 5,
                    got: 9,
                    ..
                })
            ));
            // Other producers, and non-idempotent batches, are independent.
            assert_eq!(log.append(&idem(8, 0, 42, 1)).unwrap().base_offset, 5);
            assert_eq!(log.append(&batch("plain", 1, 0)).unwrap().base_offset, 6);
        }
        // Rebuilt from the log after a restart.
        let log = PartitionLog::open(&path, small()).unwrap();
        assert!(log.append(&idem(7, 0, 3, 2)).unwrap().duplicate());
        assert_eq!(log.append(&idem(7, 0, 5, 1)).unwrap().base_offset, 7);
        // A new epoch starts at sequence 0; the old epoch is fenced.
        assert!(matches!(
            log.append(&idem(7, 1, 4, 1)),
            Err(StorageError::OutOfOrderSequence { .. })
        ));
        assert_eq!(log.append(&idem(7, 1, 0, 1)).unwrap().base_offset, 8);
        assert!(matches!(
            log.append(&idem(7, 0, 6, 1)),
            Err(StorageError::InvalidProducerEpoch {
                epoch: 0,
                current: 1,
                ..
            })
        ));
    }

    /// Opening a log takes the producer state from the snapshot written at the last roll or
    /// clean close and replays only the headers after it: a producer whose batches are all
    /// deleted is still known (as on Kafka), a crash replays the tail, and a snapshot that
    /// describes offsets the log no longer has is thrown away.
    #[test]
    fn producer_state_comes_from_the_snapshot_and_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let snapshot = path.join(PRODUCERS_FILE);
        {
            let log = PartitionLog::open(&path, small()).unwrap();
            assert_eq!(log.append(&idem(9, 0, 0, 2)).unwrap().base_offset, 0);
            for k in 0..60 {
                log.append(&idem(7, 0, k * 2, 2)).unwrap();
            }
            assert!(
                log.segment_count() > 3 && snapshot.exists(),
                "rolls write snapshots"
            );
            // Producer 9's only batch goes with its segment.
            log.delete_records_before(40).unwrap();
            assert!(log.segments.read()[0].base_offset > 1);
            log.close().unwrap();
        }
        {
            let log = PartitionLog::open(&path, small()).unwrap();
            let retry = log.append(&idem(9, 0, 0, 2)).unwrap();
            assert!(retry.duplicate(), "producer 9 is known from the snapshot");
            assert_eq!((retry.base_offset, retry.last_offset), (0, 1));
            assert!(log.append(&idem(7, 0, 118, 2)).unwrap().duplicate());
            assert_eq!(log.append(&idem(7, 0, 120, 2)).unwrap().base_offset, 122);
            // Past the last snapshot (taken at a roll or the close): found in the tail.
            for k in 61..70 {
                log.append(&idem(7, 0, k * 2, 2)).unwrap();
            }
            // A crash: no close.
        }
        let log = PartitionLog::open(&path, small()).unwrap();
        assert!(log.append(&idem(7, 0, 138, 2)).unwrap().duplicate());
        assert!(log.append(&idem(9, 0, 0, 2)).unwrap().duplicate());
        assert!(matches!(
            log.append(&idem(7, 0, 150, 1)),
            Err(StorageError::OutOfOrderSequence { expected: 140, .. })
        ));
        drop(log);

        // A snapshot from a longer log (as one left behind by a tail that recovery cut) is not
        // used: the state comes from the log itself, and the file goes.
        let other = dir.path().join("u-0");
        {
            let log = PartitionLog::open(&other, small()).unwrap();
            log.append(&idem(5, 0, 0, 1)).unwrap();
        }
        std::fs::copy(&snapshot, other.join(PRODUCERS_FILE)).unwrap();
        let log = PartitionLog::open(&other, small()).unwrap();
        assert!(!other.join(PRODUCERS_FILE).exists());
        assert!(log.append(&idem(5, 0, 0, 1)).unwrap().duplicate());
        assert!(!log.append(&idem(9, 0, 0, 2)).unwrap().duplicate());
    }

    #[test]
    fn retention_by_time_and_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), small()).unwrap();
        // Timestamps 1000.. in ms; about 8 segments of 1 KiB.
        for i in 0..40 {
            log.append(&batch(&format!("m{i}"), 2, 1000 + i * 100))
                .unwrap();
        }
        let segments = log.segment_count();
        // Nothing has expired yet.
        let (gone, next) = log.enforce_retention(1000 + 40 * 100, 100_000, -1).unwrap();
        assert_eq!(gone, 0);
        assert!(next.unwrap() > 1000);
        // Everything older than 1 second before t=5000 goes; the active segment has newer records.
        let (gone, _) = log.enforce_retention(5000, 1000, -1).unwrap();
        assert!(gone > 0 && log.segment_count() == segments - gone);
        let start = log.log_start_offset();
        assert!(start > 0);
        assert!(log.read(start - 1, 100).is_err());
        assert!(!log.read(start, 100).unwrap().records.is_empty());
        // Size: keep at most ~2 KiB.
        log.enforce_retention(5000, -1, 2048).unwrap();
        assert!(log.size_bytes() < 2048 + 1100);
        // Once every record has expired, the active segment is rolled and goes too (as in
        // Kafka): the log is empty, its end offset unchanged, and appends continue from there.
        let end = log.log_end_offset();
        let (gone, next) = log.enforce_retention(i64::MAX / 2, 1, -1).unwrap();
        assert!(log.segment_count() == 1 && next.is_none() && gone > 0);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
        assert!(log.read(end, 100).unwrap().records.is_empty());
        assert_eq!(
            log.append(&batch("after", 1, 9000)).unwrap().base_offset,
            end
        );
        drop(log);
        let log = PartitionLog::open(dir.path().join("t-0"), small()).unwrap();
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (end, end + 1)
        );
    }

    #[test]
    fn segment_ms_rolls_an_old_active_segment_on_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
        log.append(&batch("a", 1, 0)).unwrap();
        log.set_segment_ms(0);
        assert!(log.append(&batch("b", 1, 0)).unwrap().rolled);
        log.set_segment_ms(-1);
        assert!(!log.append(&batch("c", 1, 0)).unwrap().rolled);
        assert_eq!(log.segment_count(), 2);
    }

    #[test]
    fn a_batch_larger_than_a_segment_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("t-0"), small()).unwrap();
        let big = batch(&"x".repeat(3000), 1, 0);
        assert_eq!(log.append(&big).unwrap().base_offset, 0);
        assert_eq!(log.append(&batch("s", 1, 1)).unwrap().base_offset, 1);
        assert_eq!(values(&log.read(0, 10).unwrap().records).len(), 1);
        assert_eq!(
            values(&log.read(1, 10).unwrap().records),
            vec![(1, "s-0".into())]
        );
    }
}
