//! Committed offsets as records of an internal log, so that they survive restarts.
//!
//! Each commit becomes one record batch (built with the codec's [`BatchBuilder`]); each record:
//!
//! ```text
//! key    JSON {"g": group, "t": topic, "p": partition}
//! value  JSON {"o": offset, "e": leader epoch, "m": metadata, "ts": commit time in ms}
//!        or null: the offset was deleted (tombstone)
//! ```
//! Replaying the log in order and keeping the last value per key gives the committed offsets.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strikemq_codec::batch::{BatchBuilder, NewRecord, Record};

use crate::group::CommittedOffset;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Hash, Clone)]
struct Key {
    g: String,
    t: String,
    p: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Value {
    o: i64,
    e: i32,
    m: Option<String>,
    ts: i64,
}

/// One change: (group, (topic, partition), the new offset or `None` to delete it).
pub type OffsetChange = (String, (String, i32), Option<CommittedOffset>);

/// Encodes changes as one record batch; `None` when there is nothing to write.
pub fn encode(changes: &[OffsetChange], now_ms: i64) -> Option<Bytes> {
    if changes.is_empty() {
        return None;
    }
    let mut b = BatchBuilder::new();
    for (group, (topic, partition), value) in changes {
        let key = Key {
            g: group.clone(),
            t: topic.clone(),
            p: *partition,
        };
        let value = value.as_ref().map(|v| Value {
            o: v.offset,
            e: v.leader_epoch,
            m: v.metadata.clone(),
            ts: v.commit_ms,
        });
        b = b.record(NewRecord {
            timestamp: now_ms,
            key: Some(Bytes::from(serde_json::to_vec(&key).ok()?)),
            value: value
                .and_then(|v| serde_json::to_vec(&v).ok())
                .map(Bytes::from),
            headers: Vec::new(),
        });
    }
    Some(b.build())
}

/// Decodes one record of the log; `None` for records this version does not understand.
pub fn decode(record: &Record) -> Option<OffsetChange> {
    let key: Key = serde_json::from_slice(record.key.as_ref()?).ok()?;
    let value = match &record.value {
        None => None,
        Some(v) => {
            let v: Value = serde_json::from_slice(v).ok()?;
            Some(CommittedOffset {
                offset: v.o,
                leader_epoch: v.e,
                metadata: v.m,
                commit_ms: v.ts,
            })
        }
    };
    Some((key.g, (key.t, key.p), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strikemq_codec::batch::{decode_records, RecordBatch};

    #[test]
    fn changes_round_trip_through_a_batch() {
        let changes = vec![
            (
                "g".to_owned(),
                ("t".to_owned(), 3),
                Some(CommittedOffset {
                    offset: 42,
                    leader_epoch: 0,
                    metadata: Some("meta".into()),
                    commit_ms: 7,
                }),
            ),
            ("g".to_owned(), ("u".to_owned(), 0), None),
        ];
        let bytes = encode(&changes, 99).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        let back: Vec<_> = decode_records(&batch)
            .unwrap()
            .iter()
            .map(|r| decode(r).unwrap())
            .collect();
        assert_eq!(back, changes);
        assert!(encode(&[], 0).is_none());
    }
}
