//! Idempotent producers (KIP-98): per producer id, its epoch and the sequence numbers of its
//! last five batches, so that a retried batch is acknowledged with its original offsets instead
//! of being written twice, and a gap in the sequence is refused. When a partition is opened, the
//! state comes from its last snapshot (written when a segment rolls and at a clean close, as
//! Kafka's `.snapshot` files are) plus the batch headers written after it; without a usable
//! snapshot, from the headers of the whole log.
//!
//! Transactions (KIP-98): a producer's first transactional batch opens its transaction at that
//! batch's offset; a control batch (commit or abort marker) closes it. The earliest offset of an
//! open transaction is where the last stable offset stops.

use std::collections::{BTreeMap, HashMap, VecDeque};

use strikemq_batch::{control_type, ControlType, RecordBatch};

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
    /// The first offset of its open transaction, -1 without one.
    pub current_txn_start_offset: i64,
}

/// A transaction that a marker closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    /// The producer.
    pub(crate) producer_id: i64,
    /// The offset of its first record in this partition.
    pub(crate) first_offset: i64,
    /// The marker's offset.
    pub(crate) last_offset: i64,
    /// Aborted (else committed).
    pub(crate) aborted: bool,
}

#[derive(Debug, Default)]
struct Entry {
    epoch: i16,
    batches: VecDeque<Written>,
    /// The first offset of the open transaction.
    txn_first_offset: Option<i64>,
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
    /// Open transactions: first offset -> producer id.
    open: BTreeMap<i64, i64>,
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
        if b.is_control() {
            // A marker carries no sequence; it may come with a newer epoch (the coordinator
            // bumps it to fence a zombie), never an older one.
            return match self.map.get(&pid) {
                Some(entry) if epoch < entry.epoch => Err(StorageError::InvalidProducerEpoch {
                    producer_id: pid,
                    epoch,
                    current: entry.epoch,
                }),
                _ => Ok(Verdict::Append),
            };
        }
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

    /// Records a batch written at `base_offset` (its header read from the log or the request);
    /// returns the transaction it closed, if it is a marker.
    pub(crate) fn record(&mut self, b: &RecordBatch<'_>, base_offset: i64) -> Option<CompletedTxn> {
        let (pid, epoch, first) = (b.producer_id(), b.producer_epoch(), b.base_sequence());
        if b.is_control() {
            return self.close_transaction(b, base_offset);
        }
        if pid < 0 || first < 0 {
            return None;
        }
        let entry = self.map.entry(pid).or_insert(Entry {
            epoch,
            ..Entry::default()
        });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if b.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(base_offset);
            self.open.insert(base_offset, pid);
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
        None
    }

    /// A marker written at `offset`: the producer's open transaction (if any) ends.
    fn close_transaction(&mut self, b: &RecordBatch<'_>, offset: i64) -> Option<CompletedTxn> {
        let pid = b.producer_id();
        let marker = control_type(b)?;
        let entry = self.map.entry(pid).or_insert(Entry {
            epoch: b.producer_epoch(),
            ..Entry::default()
        });
        if b.producer_epoch() != entry.epoch {
            entry.epoch = b.producer_epoch();
            entry.batches.clear();
        }
        // A marker for a producer without an open transaction here (Kafka writes markers to
        // every partition of the transaction, some may have got no records) closes nothing.
        let first_offset = entry.txn_first_offset.take()?;
        self.open.remove(&first_offset);
        Some(CompletedTxn {
            producer_id: pid,
            first_offset,
            last_offset: offset,
            aborted: marker == ControlType::Abort,
        })
    }

    /// Whether the producer has an open transaction.
    pub(crate) fn is_open(&self, producer_id: i64) -> bool {
        self.map
            .get(&producer_id)
            .is_some_and(|e| e.txn_first_offset.is_some())
    }

    /// The first offset of the earliest open transaction: where the last stable offset stops.
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.open.keys().next().copied()
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
                    current_txn_start_offset: e.txn_first_offset.unwrap_or(-1),
                })
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Replays the batch headers of a log segment; returns the transactions its markers closed.
    pub(crate) fn replay(&mut self, bytes: &[u8]) -> Vec<CompletedTxn> {
        self.replay_from(bytes, i64::MIN)
    }

    /// Replays the batch headers of a log segment, skipping batches below offset `from` (those a
    /// snapshot already holds); returns the transactions its markers closed.
    pub(crate) fn replay_from(&mut self, bytes: &[u8], from: i64) -> Vec<CompletedTxn> {
        let mut closed = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let Ok(b) = RecordBatch::parse_unchecked(&bytes[pos..]) else {
                break;
            };
            if b.base_offset() >= from {
                closed.extend(self.record(&b, b.base_offset()));
            }
            pos += b.size();
        }
        closed
    }

    /// The state as a snapshot file's bytes, describing the batches below `offset`:
    ///
    /// ```text
    /// "SMPS" version:u8 offset:i64 producers:u32
    ///   { producer_id:i64 epoch:i16 txn_first_offset:i64 (version 2; -1 none) batches:u8
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
            out.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
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
        if r.take(4)? != SNAPSHOT_MAGIC {
            return None;
        }
        // Version 1 (release 0.1.0) has no transactions.
        let version = r.take(1)?[0];
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return None;
        }
        let offset = r.i64()?;
        let count = r.u32()?;
        let mut map = HashMap::new();
        let mut open = BTreeMap::new();
        for _ in 0..count {
            let pid = r.i64()?;
            let epoch = i16::from_be_bytes(r.take(2)?.try_into().ok()?);
            let txn_first_offset = if version >= 2 {
                Some(r.i64()?).filter(|o| *o >= 0)
            } else {
                None
            };
            if let Some(first) = txn_first_offset {
                open.insert(first, pid);
            }
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
            map.insert(
                pid,
                Entry {
                    epoch,
                    batches,
                    txn_first_offset,
                },
            );
        }
        r.0.is_empty()
            .then_some((offset, ProducerStates { map, open }))
    }
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"SMPS";
const SNAPSHOT_VERSION: u8 = 2;

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
        producer_batch(BatchBuilder::new().producer(pid, epoch, first_seq), records)
    }

    fn producer_batch(mut b: BatchBuilder, records: usize) -> Bytes {
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

    fn transactional(pid: i64, epoch: i16, first_seq: i32, records: usize) -> Bytes {
        let b = BatchBuilder::new().producer(pid, epoch, first_seq);
        producer_batch(b.transactional(), records)
    }

    fn marker(pid: i64, epoch: i16, commit: bool) -> Bytes {
        let t = if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        strikemq_batch::control_batch(pid, epoch, t, 0, 2000)
    }

    fn record(states: &mut ProducerStates, batch: &Bytes, at: i64) -> Option<CompletedTxn> {
        let b = RecordBatch::parse(batch).unwrap();
        assert_eq!(states.check(&b).unwrap(), Verdict::Append);
        states.record(&b, at)
    }

    #[test]
    fn transactions_open_at_their_first_batch_and_close_at_their_marker() {
        let mut s = ProducerStates::default();
        assert_eq!(s.first_unstable_offset(), None);
        // Producer 7 opens at 10, producer 8 at 13; more batches keep the first offset.
        assert_eq!(record(&mut s, &transactional(7, 0, 0, 3), 10), None);
        assert_eq!(record(&mut s, &transactional(8, 0, 0, 1), 13), None);
        assert_eq!(record(&mut s, &transactional(7, 0, 3, 1), 14), None);
        assert_eq!(s.first_unstable_offset(), Some(10));
        assert_eq!(s.snapshot()[0].current_txn_start_offset, 10);
        // Non-transactional producers do not hold the LSO back.
        assert_eq!(record(&mut s, &idempotent(9, 0, 0, 1), 15), None);
        // 7 aborts: 8's transaction is now the earliest open one.
        let closed = record(&mut s, &marker(7, 0, false), 16).unwrap();
        assert_eq!(
            closed,
            CompletedTxn {
                producer_id: 7,
                first_offset: 10,
                last_offset: 16,
                aborted: true
            }
        );
        assert_eq!(s.first_unstable_offset(), Some(13));
        // 8 commits with a bumped epoch (the coordinator fenced a zombie): its next batch
        // starts at sequence 0 of that epoch.
        let closed = record(&mut s, &marker(8, 1, true), 17).unwrap();
        assert!(!closed.aborted);
        assert_eq!(s.first_unstable_offset(), None);
        assert_eq!(record(&mut s, &transactional(8, 1, 0, 1), 18), None);
        assert_eq!(s.first_unstable_offset(), Some(18));
        // A marker with an older epoch is refused; one for a producer without an open
        // transaction here closes nothing.
        let stale = strikemq_batch::control_batch(8, 0, ControlType::Commit, 0, 0);
        assert!(s.check(&RecordBatch::parse(&stale).unwrap()).is_err());
        assert_eq!(record(&mut s, &marker(9, 0, true), 19), None);
    }

    #[test]
    fn open_transactions_survive_a_snapshot_and_old_snapshots_still_read() {
        let mut s = ProducerStates::default();
        record(&mut s, &transactional(7, 2, 0, 2), 40);
        record(&mut s, &idempotent(9, 0, 0, 1), 42);
        let bytes = s.encode_snapshot(43);
        assert_eq!(bytes[4], 2, "format version 2");
        let (at, back) = ProducerStates::decode_snapshot(&bytes).unwrap();
        assert_eq!(at, 43);
        assert_eq!(back.first_unstable_offset(), Some(40));
        assert_eq!(back.snapshot(), s.snapshot());
        // Version 1 (0.1.0): the same without the transaction field.
        let mut v1 = Vec::new();
        v1.extend_from_slice(SNAPSHOT_MAGIC);
        v1.push(1);
        v1.extend_from_slice(&43i64.to_be_bytes());
        v1.extend_from_slice(&1u32.to_be_bytes());
        v1.extend_from_slice(&9i64.to_be_bytes());
        v1.extend_from_slice(&0i16.to_be_bytes());
        v1.push(1);
        for n in [0i32, 0] {
            v1.extend_from_slice(&n.to_be_bytes());
        }
        for n in [42i64, 42, 1000] {
            v1.extend_from_slice(&n.to_be_bytes());
        }
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        let (_, old) = ProducerStates::decode_snapshot(&v1).expect("a 0.1.0 snapshot");
        assert_eq!(old.first_unstable_offset(), None);
        assert_eq!(old.snapshot()[0].producer_id, 9);
        // A newer format is not guessed at.
        let mut v3 = bytes[..bytes.len() - 4].to_vec();
        v3[4] = 3;
        let crc = crc32c::crc32c(&v3);
        v3.extend_from_slice(&crc.to_be_bytes());
        assert!(ProducerStates::decode_snapshot(&v3).is_none());
    }
}
