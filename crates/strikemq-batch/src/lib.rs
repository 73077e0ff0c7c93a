//! # strikemq-batch
//!
//! Zero-copy views of Kafka record batches (message format v2, magic 2).
//!
//! Layout of one batch, all integers big-endian (Kafka protocol guide, "Record Batch"):
//!
//! ```text
//! offset  size  field
//! 0       8     baseOffset            i64  (assigned by the broker)
//! 8       4     batchLength           i32  (bytes after this field)
//! 12      4     partitionLeaderEpoch  i32
//! 16      1     magic                 i8   (2)
//! 17      4     crc                   u32  (CRC32C of bytes 21..end)
//! 21      2     attributes            i16  (bits 0-2 compression, 3 timestamp type,
//!                                           4 transactional, 5 control, 6 delete horizon)
//! 23      4     lastOffsetDelta       i32
//! 27      8     baseTimestamp         i64
//! 35      8     maxTimestamp          i64
//! 43      8     producerId            i64
//! 51      2     producerEpoch         i16
//! 53      4     baseSequence          i32
//! 57      4     recordsCount          i32
//! 61      ...   records (compressed as a whole when attributes say so)
//! ```
//!
//! The CRC does not cover the base offset, the length or the leader epoch, so a broker can assign
//! offsets by rewriting the first eight bytes and keep the client's checksum intact.

#![deny(missing_docs)]

use bytes::Bytes;

/// A record batch that fails validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than a batch header, or a length field pointing past the end.
    #[error("record batch is truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the header claims.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// `batchLength` is smaller than a v2 header.
    #[error("record batch length {0} is smaller than the v2 header")]
    BadLength(i32),
    /// Magic byte other than 2 (message format v0/v1 were removed in Kafka 4.0).
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// CRC32C over attributes..end does not match the stored checksum.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A record count that is zero, negative or disagrees with `lastOffsetDelta`.
    #[error(
        "record batch has an invalid record count {count} (last offset delta {last_offset_delta})"
    )]
    BadRecordCount {
        /// `recordsCount` field.
        count: i32,
        /// `lastOffsetDelta` field.
        last_offset_delta: i32,
    },
    /// The compression codec in the attributes is not one Kafka defines.
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// A record inside the batch does not parse.
    #[error("malformed record: {0}")]
    MalformedRecord(String),
}

/// Offset of `baseOffset`.
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Offset of `batchLength`.
pub const LENGTH_OFFSET: usize = BASE_OFFSET_OFFSET + 8;
/// Offset of `partitionLeaderEpoch`.
pub const LEADER_EPOCH_OFFSET: usize = LENGTH_OFFSET + 4;
/// Offset of `magic`.
pub const MAGIC_OFFSET: usize = LEADER_EPOCH_OFFSET + 4;
/// Offset of `crc`.
pub const CRC_OFFSET: usize = MAGIC_OFFSET + 1;
/// Offset of `attributes`, where the CRC-covered part begins.
pub const ATTRIBUTES_OFFSET: usize = CRC_OFFSET + 4;
/// Offset of `lastOffsetDelta`.
pub const LAST_OFFSET_DELTA_OFFSET: usize = ATTRIBUTES_OFFSET + 2;
/// Offset of `baseTimestamp`.
pub const BASE_TIMESTAMP_OFFSET: usize = LAST_OFFSET_DELTA_OFFSET + 4;
/// Offset of `maxTimestamp`.
pub const MAX_TIMESTAMP_OFFSET: usize = BASE_TIMESTAMP_OFFSET + 8;
/// Offset of `producerId`.
pub const PRODUCER_ID_OFFSET: usize = MAX_TIMESTAMP_OFFSET + 8;
/// Offset of `producerEpoch`.
pub const PRODUCER_EPOCH_OFFSET: usize = PRODUCER_ID_OFFSET + 8;
/// Offset of `baseSequence`.
pub const BASE_SEQUENCE_OFFSET: usize = PRODUCER_EPOCH_OFFSET + 2;
/// Offset of `recordsCount`.
pub const RECORDS_COUNT_OFFSET: usize = BASE_SEQUENCE_OFFSET + 4;
/// Size of the v2 batch header; records start here.
pub const HEADER_SIZE: usize = RECORDS_COUNT_OFFSET + 4;
/// Bytes before the part that `batchLength` counts.
pub const LOG_OVERHEAD: usize = LEADER_EPOCH_OFFSET;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Records stored as they are.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing as the Java client writes it, or raw).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn from_bits(bits: u8) -> Result<Self, BatchError> {
        Ok(match bits {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(BatchError::UnknownCompression(other)),
        })
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// The total size of the batch starting at `buf[0]`, read from its `batchLength`, once the first 12
/// bytes are present. Does not validate anything else.
pub fn batch_size(buf: &[u8]) -> Result<usize, BatchError> {
    if buf.len() < LOG_OVERHEAD {
        return Err(BatchError::Truncated {
            needed: LOG_OVERHEAD,
            available: buf.len(),
        });
    }
    let len = be_i32(buf, LENGTH_OFFSET);
    if len < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength(len));
    }
    Ok(LOG_OVERHEAD + len as usize)
}

/// A validated view of one record batch: the header fields are read straight from the bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// Views the batch at the start of `buf`, checking the length, magic, record count and CRC32C.
    /// Bytes after the batch are ignored; [`RecordBatch::size`] tells where the next one starts.
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        let batch = Self::parse_unchecked(buf)?;
        let stored = batch.crc();
        let computed = crc32c::crc32c(&batch.bytes[ATTRIBUTES_OFFSET..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        Ok(batch)
    }

    /// Like [`RecordBatch::parse`] without the CRC check, for batches read back from a log whose
    /// integrity is already established.
    pub fn parse_unchecked(buf: &'a [u8]) -> Result<Self, BatchError> {
        let size = batch_size(buf)?;
        if buf.len() < size {
            return Err(BatchError::Truncated {
                needed: size,
                available: buf.len(),
            });
        }
        let bytes = &buf[..size];
        let magic = bytes[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let batch = RecordBatch { bytes };
        let count = batch.records_count();
        let last_offset_delta = batch.last_offset_delta();
        // Compaction may leave fewer records than the offset span, never more, and never none
        // in a batch a producer sends.
        if count <= 0 || last_offset_delta < 0 || last_offset_delta < count - 1 {
            return Err(BatchError::BadRecordCount {
                count,
                last_offset_delta,
            });
        }
        Compression::from_bits((batch.attributes() & COMPRESSION_MASK) as u8)?;
        Ok(batch)
    }

    /// All bytes of the batch.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Total size in bytes, header included.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    /// `baseOffset`.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, BASE_OFFSET_OFFSET)
    }
    /// Offset of the last record: `baseOffset + lastOffsetDelta`, wrapping as Kafka's Java
    /// arithmetic does (a batch from the network may carry any base offset).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }
    /// `partitionLeaderEpoch`.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, LEADER_EPOCH_OFFSET)
    }
    /// `crc`.
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC_OFFSET) as u32
    }
    /// `attributes`.
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, ATTRIBUTES_OFFSET)
    }
    /// Compression codec of the records.
    pub fn compression(&self) -> Compression {
        // parse() checked the bits already.
        Compression::from_bits((self.attributes() & COMPRESSION_MASK) as u8)
            .unwrap_or(Compression::None)
    }
    /// Whether timestamps are LogAppendTime (else CreateTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }
    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    /// Whether the batch is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    /// `lastOffsetDelta`.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA_OFFSET)
    }
    /// `baseTimestamp`.
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP_OFFSET)
    }
    /// `maxTimestamp`.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP_OFFSET)
    }
    /// `producerId` (-1 when the producer is not idempotent).
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID_OFFSET)
    }
    /// `producerEpoch`.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH_OFFSET)
    }
    /// `baseSequence`.
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE_OFFSET)
    }
    /// `recordsCount`.
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT_OFFSET)
    }
    /// The (possibly compressed) records section.
    pub fn records_section(&self) -> &'a [u8] {
        &self.bytes[HEADER_SIZE..]
    }
}

/// Rewrites the `baseOffset` of the batch at the start of `buf`. The CRC stays valid: it does not
/// cover this field.
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the `partitionLeaderEpoch` of the batch at the start of `buf` (not CRC-covered).
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) {
    buf[LEADER_EPOCH_OFFSET..LEADER_EPOCH_OFFSET + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Stamps the batch at the start of `buf` with the broker's time (a topic with
/// `message.timestamp.type=LogAppendTime`): sets the timestamp-type attribute and the max
/// timestamp, then recomputes the CRC, which covers both.
pub fn set_log_append_time(buf: &mut [u8], now_ms: i64) {
    let attributes = be_i16(buf, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    buf[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    buf[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over the batches in a record set (the `records` field of a Produce partition or a Fetch
/// response), validating each one.
pub fn batches(buf: &[u8]) -> Batches<'_> {
    Batches { rest: buf }
}

/// Iterator returned by [`batches`].
#[derive(Debug)]
pub struct Batches<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>, BatchError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RecordBatch::parse(self.rest) {
            Ok(batch) => {
                self.rest = &self.rest[batch.size()..];
                Some(Ok(batch))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// One decoded record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset.
    pub offset: i64,
    /// Absolute timestamp (the batch's max timestamp under LogAppendTime).
    pub timestamp: i64,
    /// Key, `None` for a null key.
    pub key: Option<Bytes>,
    /// Value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in the order sent; keys may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Decodes (and decompresses) every record of a batch. Used off the hot path: REST peek,
/// timestamp look-ups, compaction.
pub fn decode_records(batch: &RecordBatch<'_>) -> Result<Vec<Record>, BatchError> {
    let section = Bytes::copy_from_slice(batch.records_section());
    let plain = decompress(batch.compression(), section)?;
    let mut cur = Cursor {
        buf: &plain,
        pos: 0,
        owner: &plain,
    };
    let base_offset = batch.base_offset();
    let base_ts = batch.base_timestamp();
    let count = batch.records_count();
    let mut out = Vec::with_capacity(count.clamp(0, 4096) as usize);
    for _ in 0..count {
        let len = cur.varint()?;
        let start = cur.pos;
        let _attributes = cur.byte()?;
        let ts_delta = cur.varlong()?;
        let offset_delta = cur.varint()?;
        let key = cur.nullable_bytes()?;
        let value = cur.nullable_bytes()?;
        let header_count = cur.varint()?;
        let mut headers = Vec::with_capacity(header_count.clamp(0, 64) as usize);
        for _ in 0..header_count.max(0) {
            let k = cur
                .nullable_bytes()?
                .ok_or_else(|| BatchError::MalformedRecord("null header key".into()))?;
            let k = String::from_utf8(k.to_vec())
                .map_err(|_| BatchError::MalformedRecord("header key is not UTF-8".into()))?;
            headers.push((k, cur.nullable_bytes()?));
        }
        if cur.pos - start != len as usize {
            return Err(BatchError::MalformedRecord(format!(
                "record length {len} disagrees with its fields ({})",
                cur.pos - start
            )));
        }
        let timestamp = if batch.is_log_append_time() {
            batch.max_timestamp()
        } else {
            base_ts.wrapping_add(ts_delta)
        };
        out.push(Record {
            offset: base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            key,
            value,
            headers,
        });
    }
    Ok(out)
}

/// The most a batch's records may take once decompressed. Producers send batches of a few MiB at
/// most; a small batch that claims more is a decompression bomb, refused before it is expanded.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

fn decompress(codec: Compression, section: Bytes) -> Result<Bytes, BatchError> {
    decompress_bounded(codec, section, MAX_DECOMPRESSED_BYTES)
}

fn decompress_bounded(
    codec: Compression,
    section: Bytes,
    limit: usize,
) -> Result<Bytes, BatchError> {
    use std::io::Read;
    let fail = |e: &dyn std::fmt::Display| {
        BatchError::MalformedRecord(format!("cannot decompress {codec:?}: {e}"))
    };
    let read_all = |mut r: Box<dyn Read + '_>| -> Result<Bytes, BatchError> {
        let mut out = Vec::new();
        (&mut r)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| fail(&e))?;
        if out.len() > limit {
            return Err(fail(&format!("more than {limit} bytes")));
        }
        Ok(Bytes::from(out))
    };
    match codec {
        Compression::None => Ok(section),
        Compression::Gzip => read_all(Box::new(flate2::read::GzDecoder::new(&section[..]))),
        Compression::Lz4 => read_all(Box::new(
            lz4::Decoder::new(&section[..]).map_err(|e| fail(&e))?,
        )),
        Compression::Zstd => read_all(Box::new(
            zstd::stream::read::Decoder::new(&section[..]).map_err(|e| fail(&e))?,
        )),
        Compression::Snappy => snappy(&section, limit).map_err(|e| fail(&e)),
    }
}

/// Snappy as Kafka clients write it: xerial's framing (a 16-byte header, then blocks each
/// prefixed with its big-endian length), or one raw block. Every block states its decompressed
/// length up front, so the bound is checked before anything is expanded.
fn snappy(section: &[u8], limit: usize) -> Result<Bytes, String> {
    const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
    const XERIAL_HEADER: usize = 16;
    let mut decoder = snap::raw::Decoder::new();
    let mut out = Vec::new();
    let mut expand = |block: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
        let n = snap::raw::decompress_len(block).map_err(|e| e.to_string())?;
        if out.len() + n > limit {
            return Err(format!("more than {limit} bytes"));
        }
        let at = out.len();
        out.resize(at + n, 0);
        decoder
            .decompress(block, &mut out[at..])
            .map_err(|e| e.to_string())?;
        Ok(())
    };
    if !section.starts_with(XERIAL_MAGIC) {
        expand(section, &mut out)?;
        return Ok(Bytes::from(out));
    }
    let mut rest = section
        .get(XERIAL_HEADER..)
        .ok_or("truncated snappy header")?;
    while !rest.is_empty() {
        let len = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or("truncated snappy block length")?;
        let block = rest.get(4..4 + len).ok_or("truncated snappy block")?;
        expand(block, &mut out)?;
        rest = &rest[4 + len..];
    }
    Ok(Bytes::from(out))
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    owner: &'a Bytes,
}

impl Cursor<'_> {
    fn truncated() -> BatchError {
        BatchError::MalformedRecord("record is truncated".into())
    }
    fn byte(&mut self) -> Result<u8, BatchError> {
        let b = *self.buf.get(self.pos).ok_or_else(Self::truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn varlong(&mut self) -> Result<i64, BatchError> {
        let mut raw: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                // zig-zag
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(BatchError::MalformedRecord("varint is too long".into()))
    }
    fn varint(&mut self) -> Result<i32, BatchError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| BatchError::MalformedRecord("varint overflows i32".into()))
    }
    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, BatchError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let end = self
            .pos
            .checked_add(len as usize)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(Self::truncated)?;
        let b = self.owner.slice(self.pos..end);
        self.pos = end;
        Ok(Some(b))
    }
}

/// Builds an uncompressed magic-v2 batch, the way a producer does. Used by the REST produce path and
/// by tests; the broker itself never re-encodes what clients send.
#[derive(Debug, Clone, Default)]
pub struct BatchBuilder {
    records: Vec<NewRecord>,
    producer_id: Option<(i64, i16, i32)>,
    transactional: bool,
}

/// A record to put into a [`BatchBuilder`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Create time in milliseconds.
    pub timestamp: i64,
    /// Key, `None` for a null key.
    pub key: Option<Bytes>,
    /// Value, `None` for a tombstone.
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl BatchBuilder {
    /// An empty builder for a non-idempotent producer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Marks the batch as sent by an idempotent producer.
    pub fn producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = Some((producer_id, epoch, base_sequence));
        self
    }
    /// Marks the batch as part of its producer's open transaction.
    pub fn transactional(mut self) -> Self {
        self.transactional = true;
        self
    }
    /// Appends a record.
    pub fn record(mut self, record: NewRecord) -> Self {
        self.records.push(record);
        self
    }
    /// Number of records added so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// Encodes the batch with base offset 0. Panics if no record was added.
    pub fn build(&self) -> Bytes {
        assert!(!self.records.is_empty(), "a record batch needs a record");
        let base_ts = self.records.iter().map(|r| r.timestamp).min().unwrap_or(0);
        let max_ts = self.records.iter().map(|r| r.timestamp).max().unwrap_or(0);
        let body = encode_records(self.records.iter().enumerate().map(|(i, r)| {
            (
                r.timestamp - base_ts,
                i as i64,
                &r.key,
                &r.value,
                &r.headers[..],
            )
        }));
        encode_batch(
            &RebuiltHeader {
                base_offset: 0,
                last_offset_delta: self.records.len() as i32 - 1,
                max_timestamp: max_ts,
                producer: self.producer_id.unwrap_or((-1, -1, -1)),
                log_append_time: false,
                transactional: self.transactional,
                control: false,
            },
            base_ts,
            self.records.len(),
            &body,
        )
    }
}

/// What a transaction marker says: the transaction's records are committed or aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// The records are discarded by read_committed consumers.
    Abort,
    /// The records become visible to read_committed consumers.
    Commit,
}

impl ControlType {
    /// The type's number in the control record's key.
    pub fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }
}

/// A control batch holding one transaction marker, as Kafka's coordinator writes it: the
/// transactional and control bits set, the producer's id and epoch, no sequence, one record
/// whose key is (version 0, type) and whose value is (version 0, coordinator epoch), all i16/i32
/// big-endian.
pub fn control_batch(
    producer_id: i64,
    epoch: i16,
    marker: ControlType,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&marker.code().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let key = Some(Bytes::from(key));
    let value = Some(Bytes::from(value));
    let body = encode_records(std::iter::once((0, 0, &key, &value, &[][..])));
    encode_batch(
        &RebuiltHeader {
            base_offset: 0,
            last_offset_delta: 0,
            max_timestamp: timestamp,
            producer: (producer_id, epoch, -1),
            log_append_time: false,
            transactional: true,
            control: true,
        },
        timestamp,
        1,
        &body,
    )
}

/// The marker of a control batch: `None` for a data batch, or a control record this version
/// does not know (Kafka skips those too).
pub fn control_type(batch: &RecordBatch<'_>) -> Option<ControlType> {
    if !batch.is_control() {
        return None;
    }
    let records = decode_records(batch).ok()?;
    let key = records.first()?.key.as_ref()?;
    if key.len() < 4 || key[..2] != [0, 0] {
        return None;
    }
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    }
}

/// The records section of an uncompressed batch: (timestamp delta, offset delta, key, value,
/// headers) per record.
#[allow(clippy::type_complexity)]
fn encode_records<'a>(
    records: impl Iterator<
        Item = (
            i64,
            i64,
            &'a Option<Bytes>,
            &'a Option<Bytes>,
            &'a [(String, Option<Bytes>)],
        ),
    >,
) -> bytes::BytesMut {
    use bytes::BufMut;
    let mut body = bytes::BytesMut::new();
    let mut rec = bytes::BytesMut::new();
    for (ts_delta, offset_delta, key, value, headers) in records {
        rec.clear();
        rec.put_u8(0);
        put_varlong(&mut rec, ts_delta);
        put_varlong(&mut rec, offset_delta);
        put_nullable(&mut rec, key.as_deref());
        put_nullable(&mut rec, value.as_deref());
        put_varlong(&mut rec, headers.len() as i64);
        for (k, v) in headers {
            put_nullable(&mut rec, Some(k.as_bytes()));
            put_nullable(&mut rec, v.as_deref());
        }
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    body
}

/// A whole uncompressed batch around an encoded records section, CRC included.
fn encode_batch(header: &RebuiltHeader, base_ts: i64, count: usize, body: &[u8]) -> Bytes {
    use bytes::BufMut;
    let (pid, epoch, seq) = header.producer;
    let bit = |on: bool, bit: i16| if on { bit } else { 0 };
    let attributes: i16 = bit(header.log_append_time, TIMESTAMP_TYPE_BIT)
        | bit(header.transactional, TRANSACTIONAL_BIT)
        | bit(header.control, CONTROL_BIT);
    let mut out = bytes::BytesMut::with_capacity(HEADER_SIZE + body.len());
    out.put_i64(header.base_offset);
    out.put_i32((HEADER_SIZE - LOG_OVERHEAD + body.len()) as i32);
    out.put_i32(0);
    out.put_i8(2);
    out.put_u32(0); // CRC, filled below
    out.put_i16(attributes);
    out.put_i32(header.last_offset_delta);
    out.put_i64(base_ts);
    out.put_i64(header.max_timestamp);
    out.put_i64(pid);
    out.put_i16(epoch);
    out.put_i32(seq);
    out.put_i32(count as i32);
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

/// What [`rebuild_batch`] keeps of the batch it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuiltHeader {
    /// The original base offset.
    pub base_offset: i64,
    /// The original last offset delta: the batch keeps covering the same offsets.
    pub last_offset_delta: i32,
    /// The original max timestamp.
    pub max_timestamp: i64,
    /// Producer id, epoch and base sequence of the original.
    pub producer: (i64, i16, i32),
    /// Whether timestamps are LogAppendTime.
    pub log_append_time: bool,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
    /// Whether it is a control batch (a transaction marker).
    pub control: bool,
}

impl RebuiltHeader {
    /// The header of an existing batch.
    pub fn of(b: &RecordBatch<'_>) -> RebuiltHeader {
        RebuiltHeader {
            base_offset: b.base_offset(),
            last_offset_delta: b.last_offset_delta(),
            max_timestamp: b.max_timestamp(),
            producer: (b.producer_id(), b.producer_epoch(), b.base_sequence()),
            log_append_time: b.is_log_append_time(),
            transactional: b.is_transactional(),
            control: b.is_control(),
        }
    }
}

/// Encodes some of a batch's records again, uncompressed, at their original offsets: what a
/// log cleaner writes after dropping superseded records. Offsets may have gaps; the CRC is new.
pub fn rebuild_batch(header: &RebuiltHeader, records: &[Record]) -> Bytes {
    let base_ts = records
        .iter()
        .map(|r| r.timestamp)
        .min()
        .unwrap_or(header.max_timestamp);
    let body = encode_records(records.iter().map(|r| {
        (
            r.timestamp - base_ts,
            r.offset - header.base_offset,
            &r.key,
            &r.value,
            &r.headers[..],
        )
    }));
    encode_batch(header, base_ts, records.len(), &body)
}

fn put_varlong(buf: &mut bytes::BytesMut, v: i64) {
    use bytes::BufMut;
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn put_nullable(buf: &mut bytes::BytesMut, v: Option<&[u8]>) {
    match v {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression as KCompression, Record as KRecord, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };
    use proptest::prelude::*;

    /// Offsets and timestamps near the ends of i64 (any client may send them) wrap as in Kafka's
    /// Java arithmetic instead of overflowing (which panics in a debug build).
    #[test]
    fn offsets_and_timestamps_at_the_edge_of_i64_wrap() {
        let mut b = BatchBuilder::new();
        for i in 0..3 {
            b = b.record(NewRecord {
                timestamp: i64::MAX - 2 + i,
                value: Some(Bytes::from("v")),
                ..Default::default()
            });
        }
        let mut bytes = b.build().to_vec();
        set_base_offset(&mut bytes, i64::MAX - 1);
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.last_offset(), i64::MIN);
        let offsets: Vec<i64> = decode_records(&batch)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, vec![i64::MAX - 1, i64::MAX, i64::MIN]);
    }

    #[test]
    fn decompression_is_bounded_for_every_codec() {
        use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
        // 2 MiB that compress to almost nothing, and some that do not.
        let mut plain = vec![0u8; 2 << 20];
        for (i, b) in plain.iter_mut().enumerate().step_by(4096) {
            *b = (i / 4096) as u8;
        }
        let fill = |b: &mut bytes::BytesMut| -> anyhow::Result<()> {
            b.extend_from_slice(&plain);
            Ok(())
        };
        let mut cases = Vec::new();
        let mut out = bytes::BytesMut::new();
        Gzip::compress(&mut out, fill).unwrap();
        cases.push((Compression::Gzip, out.split().freeze()));
        Lz4::compress(&mut out, fill).unwrap();
        cases.push((Compression::Lz4, out.split().freeze()));
        Zstd::compress(&mut out, fill).unwrap();
        cases.push((Compression::Zstd, out.split().freeze()));
        Snappy::compress(&mut out, fill).unwrap();
        cases.push((Compression::Snappy, out.split().freeze()));
        cases.push((
            Compression::Snappy,
            Bytes::from(snap::raw::Encoder::new().compress_vec(&plain).unwrap()),
        ));
        for (codec, section) in cases {
            assert!(
                section.len() < plain.len() / 8,
                "{codec:?} did not compress"
            );
            let got = decompress_bounded(codec, section.clone(), 4 << 20).unwrap();
            assert_eq!(&got[..], &plain[..], "{codec:?}");
            let err = decompress_bounded(codec, section.clone(), 1 << 20).unwrap_err();
            assert!(err.to_string().contains("more than"), "{codec:?}: {err}");
            // Cut input is an error, or (lz4 frames end quietly) less than was compressed; never
            // a panic and never more.
            let cut = section.slice(..section.len() / 2);
            if let Ok(partial) = decompress_bounded(codec, cut, 4 << 20) {
                assert!(partial.len() < plain.len(), "{codec:?}");
            }
        }
    }

    /// A commit and an abort marker, byte for byte as kafka-protocol's encoder writes the same
    /// control record, and read back.
    #[test]
    fn control_batches_are_what_kafka_writes_and_read_back() {
        for (marker, code) in [(ControlType::Abort, 0i16), (ControlType::Commit, 1)] {
            let ours = control_batch(4000, 3, marker, 7, 1_700_000_000_123);
            let mut key = 0i16.to_be_bytes().to_vec();
            key.extend_from_slice(&code.to_be_bytes());
            let mut value = 0i16.to_be_bytes().to_vec();
            value.extend_from_slice(&7i32.to_be_bytes());
            let theirs = KRecord {
                transactional: true,
                control: true,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 4000,
                producer_epoch: 3,
                timestamp_type: TimestampType::Creation,
                offset: 0,
                sequence: -1,
                timestamp: 1_700_000_000_123,
                key: Some(Bytes::from(key)),
                value: Some(Bytes::from(value)),
                headers: Default::default(),
            };
            let mut buf = bytes::BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &[theirs],
                &RecordEncodeOptions {
                    version: 2,
                    compression: KCompression::None,
                },
            )
            .unwrap();
            assert_eq!(&ours[..], &buf[..], "{marker:?}");
            let batch = RecordBatch::parse(&ours).unwrap();
            assert!(batch.is_control() && batch.is_transactional());
            assert_eq!((batch.producer_id(), batch.producer_epoch()), (4000, 3));
            assert_eq!(control_type(&batch), Some(marker));
        }
        let data = BatchBuilder::new()
            .producer(1, 0, 0)
            .transactional()
            .record(NewRecord::default())
            .build();
        let data = RecordBatch::parse(&data).unwrap();
        assert!(data.is_transactional() && !data.is_control());
        assert_eq!(control_type(&data), None);
    }

    fn kafka_protocol_batch(records: &[NewRecord], compression: KCompression) -> Bytes {
        let recs: Vec<KRecord> = records
            .iter()
            .enumerate()
            .map(|(i, r)| KRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone().into(), v.clone()))
                    .collect(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &recs,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    fn arb_record() -> impl Strategy<Value = NewRecord> {
        (
            0i64..2_000_000_000_000,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..256)),
            proptest::collection::btree_map(
                "[a-z]{1,8}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
                0..3,
            ),
        )
            .prop_map(|(timestamp, key, value, headers)| NewRecord {
                timestamp,
                key: key.map(Bytes::from),
                value: value.map(Bytes::from),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k, v.map(Bytes::from)))
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn builder_round_trips(records in proptest::collection::vec(arb_record(), 1..20), base in 0i64..1_000_000) {
            let mut bytes = BatchBuilder { records: records.clone(), producer_id: None, transactional: false }.build().to_vec();
            set_base_offset(&mut bytes, base);
            let batch = RecordBatch::parse(&bytes).unwrap();
            prop_assert_eq!(batch.base_offset(), base);
            prop_assert_eq!(batch.records_count() as usize, records.len());
            let decoded = decode_records(&batch).unwrap();
            for (i, (d, r)) in decoded.iter().zip(&records).enumerate() {
                prop_assert_eq!(d.offset, base + i as i64);
                prop_assert_eq!(d.timestamp, r.timestamp);
                prop_assert_eq!(&d.key, &r.key);
                prop_assert_eq!(&d.value, &r.value);
                prop_assert_eq!(&d.headers, &r.headers);
            }
        }

        #[test]
        fn reads_what_kafka_protocol_writes(records in proptest::collection::vec(arb_record(), 1..10), codec in 0usize..5) {
            let compression = [KCompression::None, KCompression::Gzip, KCompression::Snappy, KCompression::Lz4, KCompression::Zstd][codec];
            let bytes = kafka_protocol_batch(&records, compression);
            // kafka-protocol may split the records over several batches.
            let mut decoded = Vec::new();
            for batch in batches(&bytes) {
                decoded.extend(decode_records(&batch.unwrap()).unwrap());
            }
            prop_assert_eq!(decoded.len(), records.len());
            for (d, r) in decoded.iter().zip(&records) {
                prop_assert_eq!(&d.value, &r.value);
                prop_assert_eq!(d.timestamp, r.timestamp);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for batch in batches(&bytes).flatten() {
                let _ = decode_records(&batch);
            }
        }
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let rec = NewRecord {
            timestamp: 1,
            value: Some(Bytes::from_static(b"v")),
            ..Default::default()
        };
        let mut bytes = BatchBuilder::new().record(rec).build().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            RecordBatch::parse(&bytes),
            Err(BatchError::CrcMismatch { .. })
        ));
        // The base offset is outside the CRC.
        bytes[last] ^= 1;
        set_base_offset(&mut bytes, 77);
        assert_eq!(RecordBatch::parse(&bytes).unwrap().base_offset(), 77);
    }

    #[test]
    fn log_append_time_restamps_and_keeps_the_crc_valid() {
        let rec = NewRecord {
            timestamp: 5,
            value: Some(Bytes::from_static(b"v")),
            ..Default::default()
        };
        let mut bytes = BatchBuilder::new().record(rec).build().to_vec();
        set_log_append_time(&mut bytes, 1234);
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert!(batch.is_log_append_time());
        assert_eq!(batch.max_timestamp(), 1234);
        assert_eq!(decode_records(&batch).unwrap()[0].timestamp, 1234);
    }

    #[test]
    fn rebuilt_batches_keep_offsets_and_header() {
        let mut b = BatchBuilder::new().producer(9, 1, 100);
        for i in 0..5 {
            b = b.record(NewRecord {
                timestamp: 10 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from("v")),
                headers: vec![],
            });
        }
        let mut bytes = b.build().to_vec();
        set_base_offset(&mut bytes, 40);
        let batch = RecordBatch::parse(&bytes).unwrap();
        let keep: Vec<Record> = decode_records(&batch)
            .unwrap()
            .into_iter()
            .filter(|r| r.offset % 2 == 1)
            .collect();
        let rebuilt = rebuild_batch(&RebuiltHeader::of(&batch), &keep);
        let again = RecordBatch::parse(&rebuilt).unwrap();
        assert_eq!((again.base_offset(), again.last_offset()), (40, 44));
        assert_eq!(
            (
                again.producer_id(),
                again.producer_epoch(),
                again.base_sequence()
            ),
            (9, 1, 100)
        );
        assert_eq!(again.records_count(), 2);
        let offsets: Vec<i64> = decode_records(&again)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, vec![41, 43]);
    }

    #[test]
    fn old_magic_is_refused() {
        let rec = NewRecord {
            timestamp: 1,
            ..Default::default()
        };
        let mut bytes = BatchBuilder::new().record(rec).build().to_vec();
        bytes[MAGIC_OFFSET] = 1;
        assert_eq!(
            RecordBatch::parse(&bytes).unwrap_err(),
            BatchError::UnsupportedMagic(1)
        );
    }
}
