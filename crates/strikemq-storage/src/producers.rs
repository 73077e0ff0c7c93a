//! Idempotent producers (KIP-98): per producer id, its epoch and the sequence numbers of its
//! last five batches, so that a retried batch is acknowledged with its original offsets instead
//! of being written twice, and a gap in the sequence is refused. When a partition is opened, the
//! state comes from its last snapshot (written when a segment rolls and at a clean close, as
//! Kafka's `.snapshot` files are) plus the batch headers written after it; without a usable
//! snapshot, from the headers of the whole log.

use std::collections::{HashMap, VecDeque};

use strikemq_batch::RecordBatch;

use crate::error::StorageError;

/// Kafka keeps the last five batches per producer: the most a producer has in flight.
const RETAINED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
}

/// One producer's state, as DescribeProducers shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSnapshot {
    /// Producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// Sequence of its last record.
    pub last_sequence: i32,
    /// Timestamp of its last batch.
    pub last_timestamp: i64,
}

#[derive(Debug)]
struct Entry {
    epoch: i16,
    batches: VecDeque<Written>,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it.
    Append,
    /// Already written at these offsets: acknowledge, do not write.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
    },
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    map: HashMap<i64, Entry>,
}

/// Sequence numbers wrap from i32::MAX to 0.
fn last_seq(first: i32, delta: i32) -> i32 {
    ((i64::from(first) + i64::from(delta)) % (i64::from(i32::MAX) + 1)) as i32
}

fn next_seq(last: i32) -> i32 {
    if last == i32::MAX {
        0
    } else {
        last + 1
    }
}

impl ProducerStates {
    /// Checks a batch about to be appended.
    pub(crate) fn check(&self, b: &RecordBatch<'_>) -> Result<Verdict, StorageError> {
        let (pid, epoch, first) = (b.producer_id(), b.producer_epoch(), b.base_sequence());
        if pid < 0 || first < 0 {
            return Ok(Verdict::Append);
        }
        let Some(entry) = self.map.get(&pid) else {
            // Unknown producers (new, or whose batches are all gone) start where they say.
            return Ok(Verdict::Append);
        };
        if epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id: pid,
                epoch,
                current: entry.epoch,
            });
        }
        if epoch > entry.epoch {
            return if first == 0 {
                Ok(Verdict::Append)
            } else {
                Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    got: first,
                })
            };
        }
        let last = last_seq(first, b.last_offset_delta());
        if let Some(w) = entry
            .batches
            .iter()
            .find(|w| w.first_seq == first && w.last_seq == last)
        {
            return Ok(Verdict::Duplicate {
                base_offset: w.base_offset,
                last_offset: w.last_offset,
                max_timestamp: w.max_timestamp,
            });
        }
        let expected = entry.batches.back().map_or(first, |w| next_seq(w.last_seq));
        if first != expected {
            return Err(StorageError::OutOfOrderSequence {
                producer_id: pid,
                expected,
                got: first,
            });
        }
        Ok(Verdict::Append)
    }

    /// Records a batch written at `base_offset` (its header read from the log or the request).
    pub(crate) fn record(&mut self, b: &RecordBatch<'_>, base_offset: i64) {
        let (pid, epoch, first) = (b.producer_id(), b.producer_epoch(), b.base_sequence());
        if pid < 0 || first < 0 {
            return;
        }
        let entry = self.map.entry(pid).or_insert(Entry {
            epoch,
            batches: VecDeque::new(),
        });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == RETAINED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(Written {
            first_seq: first,
            last_seq: last_seq(first, b.last_offset_delta()),
            base_offset,
            last_offset: base_offset + i64::from(b.last_offset_delta()),
            max_timestamp: b.max_timestamp(),
        });
    }

    /// Every producer with batches in the log.
    pub(crate) fn snapshot(&self) -> Vec<ProducerSnapshot> {
        let mut out: Vec<ProducerSnapshot> = self
            .map
            .iter()
            .filter_map(|(&pid, e)| {
                e.batches.back().map(|w| ProducerSnapshot {
                    producer_id: pid,
                    epoch: e.epoch,
                    last_sequence: w.last_seq,
                    last_timestamp: w.max_timestamp,
                })
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Replays the batch headers of a log segment.
    pub(crate) fn replay(&mut self, bytes: &[u8]) {
        self.replay_from(bytes, i64::MIN);
    }

    /// Replays the batch headers of a log segment, skipping batches below offset `from` (those a
    /// snapshot already holds).
    pub(crate) fn replay_from(&mut self, bytes: &[u8], from: i64) {
        let mut pos = 0;
        while pos < bytes.len() {
            let Ok(b) = RecordBatch::parse_unchecked(&bytes[pos..]) else {
                break;
            };
            if b.base_offset() >= from {
                self.record(&b, b.base_offset());
            }
            pos += b.size();
        }
    }

    /// The state as a snapshot file's bytes, describing the batches below `offset`:
    ///
    /// ```text
    /// "SMPS" version:u8 offset:i64 producers:u32
    ///   { producer_id:i64 epoch:i16 batches:u8
    ///     { first_seq:i32 last_seq:i32 base_offset:i64 last_offset:i64 max_timestamp:i64 } }
    /// crc32c of everything before:u32                                  (all big-endian)
    /// ```
    pub(crate) fn encode_snapshot(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + self.map.len() * (11 + RETAINED * 32));
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&(self.map.len() as u32).to_be_bytes());
        let mut pids: Vec<&i64> = self.map.keys().collect();
        pids.sort_unstable();
        for pid in pids {
            let e = &self.map[pid];
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.push(e.batches.len() as u8);
            for w in &e.batches {
                out.extend_from_slice(&w.first_seq.to_be_bytes());
                out.extend_from_slice(&w.last_seq.to_be_bytes());
                out.extend_from_slice(&w.base_offset.to_be_bytes());
                out.extend_from_slice(&w.last_offset.to_be_bytes());
                out.extend_from_slice(&w.max_timestamp.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot written by [`ProducerStates::encode_snapshot`]: the offset it describes
    /// the log below, and the state. `None` for anything damaged, truncated or unknown.
    pub(crate) fn decode_snapshot(bytes: &[u8]) -> Option<(i64, ProducerStates)> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        if r.take(4)? != SNAPSHOT_MAGIC || r.take(1)?[0] != SNAPSHOT_VERSION {
            return None;
        }
        let offset = r.i64()?;
        let count = r.u32()?;
        let mut map = HashMap::new();
        for _ in 0..count {
            let pid = r.i64()?;
            let epoch = i16::from_be_bytes(r.take(2)?.try_into().ok()?);
            let n = usize::from(r.take(1)?[0]);
            if n > RETAINED {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(Written {
                    first_seq: r.u32()? as i32,
                    last_seq: r.u32()? as i32,
                    base_offset: r.i64()?,
                    last_offset: r.i64()?,
                    max_timestamp: r.i64()?,
                });
            }
            map.insert(pid, Entry { epoch, batches });
        }
        r.0.is_empty().then_some((offset, ProducerStates { map }))
    }
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"SMPS";
const SNAPSHOT_VERSION: u8 = 1;

/// Big-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strikemq_batch::{BatchBuilder, NewRecord};

    fn idempotent(pid: i64, epoch: i16, first_seq: i32, records: usize) -> Bytes {
        let mut b = BatchBuilder::new().producer(pid, epoch, first_seq);
        for i in 0..records {
            b = b.record(NewRecord {
                timestamp: 1000 + i as i64,
                value: Some(Bytes::from_static(b"v")),
                ..NewRecord::default()
            });
        }
        b.build()
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_state_and_refuses_any_damage() {
        let mut states = ProducerStates::default();
        let mut offset = 0;
        for (pid, epoch, batches) in [(7, 0, 7), (9, 3, 2), (11, 1, 1)] {
            for k in 0..batches {
                let b = idempotent(pid, epoch, k * 2, 2);
                states.record(&RecordBatch::parse(&b).unwrap(), offset);
                offset += 2;
            }
        }
        let bytes = states.encode_snapshot(offset);
        let (at, back) = ProducerStates::decode_snapshot(&bytes).unwrap();
        assert_eq!(at, offset);
        assert_eq!(back.snapshot(), states.snapshot());
        for (pid, e) in &states.map {
            assert_eq!(back.map[pid].epoch, e.epoch);
            assert_eq!(back.map[pid].batches, e.batches, "producer {pid}");
        }
        // A duplicate of a retained batch is recognised from the decoded state.
        let retry = idempotent(7, 0, 12, 2);
        assert!(matches!(
            back.check(&RecordBatch::parse(&retry).unwrap()).unwrap(),
            Verdict::Duplicate { .. }
        ));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(ProducerStates::decode_snapshot(&bad).is_none(), "byte {i}");
        }
        for len in 0..bytes.len() {
            assert!(
                ProducerStates::decode_snapshot(&bytes[..len]).is_none(),
                "{len} bytes"
            );
        }
    }
}
