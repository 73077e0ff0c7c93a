//! Idempotent producers (KIP-98): per producer id, its epoch and the sequence numbers of its
//! last five batches, so that a retried batch is acknowledged with its original offsets instead
//! of being written twice, and a gap in the sequence is refused. The state is rebuilt from the
//! batch headers of the log when a partition is opened.

use std::collections::{HashMap, VecDeque};

use strikemq_codec::batch::RecordBatch;

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
        let mut pos = 0;
        while pos < bytes.len() {
            let Ok(b) = RecordBatch::parse_unchecked(&bytes[pos..]) else {
                break;
            };
            self.record(&b, b.base_offset());
            pos += b.size();
        }
    }
}
