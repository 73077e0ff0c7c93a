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
//!
//! Membership changes ([`crate::GroupCoordinator::take_membership_changes`]) go in the same log:
//!
//! ```text
//! key    JSON {"group": group}
//! value  JSON {"generation", "protocol_type", "protocol", "leader", "members": [{"id",
//!        "instance", "client", "host", "session_ms", "rebalance_ms", "metadata", "assignment"}]}
//!        (metadata and assignment in hex), or null: the group has no members
//! ```
//! KIP-848 consumer groups ([`crate::GroupCoordinator::take_consumer_group_changes`]) too, one
//! record for the group and one per member:
//!
//! ```text
//! key    JSON {"cg": group}               value JSON {"group_epoch", "assignment_epoch",
//!                                          "subscribed"}, or null: the group is gone
//! key    JSON {"cg": group, "m": member}  value JSON of the member (subscription, epochs,
//!                                          assigned, pending revocation and target
//!                                          partitions), or null: it left
//! ```
//! Share-partitions (KIP-932, [`crate::GroupCoordinator::take_share_changes`]), one record each:
//!
//! ```text
//! key    JSON {"sg": group, "t": topic id, "p": partition}
//! value  JSON {"start", "end", "records": [[offset, delivery count], ...]}, or null: gone
//! ```
//! The kinds of key do not parse as each other, so each decoder skips the others' records.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strikemq_codec::batch::{BatchBuilder, NewRecord, Record};

use crate::consumer::ConsumerGroupChange;
pub use crate::coordinator::OffsetChange;
use crate::coordinator::{GroupMetadata, MemberMetadata, MembershipChange, TopicPartition};
use crate::group::CommittedOffset;
use crate::share::{ShareChange, SharePartitionState};

/// Adds a record with a JSON key and an already encoded value (`None`: a tombstone).
fn with_json_record(
    b: BatchBuilder,
    key: &impl Serialize,
    value: Option<Vec<u8>>,
    now_ms: i64,
) -> Option<BatchBuilder> {
    Some(b.record(NewRecord {
        timestamp: now_ms,
        key: Some(Bytes::from(serde_json::to_vec(key).ok()?)),
        value: value.map(Bytes::from),
        headers: Vec::new(),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareKeyJson {
    sg: String,
    t: String,
    p: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct ShareValue {
    start: i64,
    end: i64,
    records: Vec<(i64, i16)>,
}

/// Encodes share-partition states as one record batch; `None` when there is nothing to write.
pub fn encode_share_partitions(changes: &[ShareChange], now_ms: i64) -> Option<Bytes> {
    if changes.is_empty() {
        return None;
    }
    let mut b = BatchBuilder::new();
    for c in changes {
        let key = ShareKeyJson {
            sg: c.group.clone(),
            t: c.key.0.to_string(),
            p: c.key.1,
        };
        let value = match &c.state {
            Some(st) => Some(
                serde_json::to_vec(&ShareValue {
                    start: st.start,
                    end: st.end,
                    records: st.records.clone(),
                })
                .ok()?,
            ),
            None => None,
        };
        b = with_json_record(b, &key, value, now_ms)?;
    }
    Some(b.build())
}

/// Decodes one share-partition record; `None` for records of another kind.
pub fn decode_share_partition(record: &Record) -> Option<ShareChange> {
    let key: ShareKeyJson = serde_json::from_slice(record.key.as_ref()?).ok()?;
    let topic = uuid::Uuid::parse_str(&key.t).ok()?;
    let state = match &record.value {
        Some(v) => {
            let v: ShareValue = serde_json::from_slice(v).ok()?;
            Some(SharePartitionState {
                start: v.start,
                end: v.end,
                records: v.records,
            })
        }
        None => None,
    };
    Some(ShareChange {
        group: key.sg,
        key: (topic, key.p),
        state,
    })
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerKey {
    cg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
}

/// Encodes consumer group changes as one record batch; `None` when there is nothing to write.
pub fn encode_consumer_groups(changes: &[ConsumerGroupChange], now_ms: i64) -> Option<Bytes> {
    if changes.is_empty() {
        return None;
    }
    let mut b = BatchBuilder::new();
    for change in changes {
        let (key, value) = match change {
            ConsumerGroupChange::Group { group, record } => (
                ConsumerKey {
                    cg: group.clone(),
                    m: None,
                },
                match record {
                    Some(r) => Some(serde_json::to_vec(r).ok()?),
                    None => None,
                },
            ),
            ConsumerGroupChange::Member {
                group,
                member,
                record,
            } => (
                ConsumerKey {
                    cg: group.clone(),
                    m: Some(member.clone()),
                },
                match record {
                    Some(r) => Some(serde_json::to_vec(r).ok()?),
                    None => None,
                },
            ),
        };
        b = with_json_record(b, &key, value, now_ms)?;
    }
    Some(b.build())
}

/// Decodes one consumer group record; `None` for records of another kind or that do not parse.
pub fn decode_consumer_group(record: &Record) -> Option<ConsumerGroupChange> {
    let key: ConsumerKey = serde_json::from_slice(record.key.as_ref()?).ok()?;
    Some(match key.m {
        None => ConsumerGroupChange::Group {
            group: key.cg,
            record: match &record.value {
                Some(v) => Some(serde_json::from_slice(v).ok()?),
                None => None,
            },
        },
        Some(member) => ConsumerGroupChange::Member {
            group: key.cg,
            member,
            record: match &record.value {
                Some(v) => Some(Box::new(serde_json::from_slice(v).ok()?)),
                None => None,
            },
        },
    })
}

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

/// Encodes changes as one record batch; `None` when there is nothing to write.
pub fn encode(changes: &[OffsetChange], now_ms: i64) -> Option<Bytes> {
    if changes.is_empty() {
        return None;
    }
    let mut b = BatchBuilder::new();
    for change in changes {
        let key = Key {
            g: change.group.clone(),
            t: change.partition.topic.clone(),
            p: change.partition.partition,
        };
        let value = change.offset.as_ref().map(|v| Value {
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
    Some(OffsetChange {
        group: key.g,
        partition: TopicPartition::new(key.t, key.p),
        offset: value,
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct MembershipKey {
    group: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct MembershipValue {
    generation: i32,
    protocol_type: String,
    protocol: String,
    leader: String,
    members: Vec<MemberValue>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberValue {
    id: String,
    instance: Option<String>,
    client: String,
    host: String,
    session_ms: i32,
    rebalance_ms: i32,
    metadata: String,
    assignment: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Bytes> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

/// Encodes membership changes as one record batch; `None` when there is nothing to write.
pub fn encode_membership(changes: &[MembershipChange], now_ms: i64) -> Option<Bytes> {
    if changes.is_empty() {
        return None;
    }
    let mut b = BatchBuilder::new();
    for change in changes {
        let key = MembershipKey {
            group: change.group.clone(),
        };
        let value = change.metadata.as_ref().map(|m| MembershipValue {
            generation: m.generation_id,
            protocol_type: m.protocol_type.clone(),
            protocol: m.protocol_name.clone(),
            leader: m.leader.clone(),
            members: m
                .members
                .iter()
                .map(|m| MemberValue {
                    id: m.member_id.clone(),
                    instance: m.group_instance_id.clone(),
                    client: m.client_id.clone(),
                    host: m.client_host.clone(),
                    session_ms: m.session_timeout_ms,
                    rebalance_ms: m.rebalance_timeout_ms,
                    metadata: hex(&m.metadata),
                    assignment: hex(&m.assignment),
                })
                .collect(),
        });
        b = b.record(NewRecord {
            timestamp: now_ms,
            key: Some(Bytes::from(serde_json::to_vec(&key).ok()?)),
            value: match value {
                Some(v) => Some(Bytes::from(serde_json::to_vec(&v).ok()?)),
                None => None,
            },
            headers: Vec::new(),
        });
    }
    Some(b.build())
}

/// Decodes one membership record; `None` for records of another kind or that do not parse.
pub fn decode_membership(record: &Record) -> Option<MembershipChange> {
    let key: MembershipKey = serde_json::from_slice(record.key.as_ref()?).ok()?;
    let Some(value) = &record.value else {
        return Some(MembershipChange {
            group: key.group,
            metadata: None,
        });
    };
    let v: MembershipValue = serde_json::from_slice(value).ok()?;
    let members = v
        .members
        .into_iter()
        .map(|m| {
            Some(MemberMetadata {
                member_id: m.id,
                group_instance_id: m.instance,
                client_id: m.client,
                client_host: m.host,
                session_timeout_ms: m.session_ms,
                rebalance_timeout_ms: m.rebalance_ms,
                metadata: unhex(&m.metadata)?,
                assignment: unhex(&m.assignment)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(MembershipChange {
        group: key.group,
        metadata: Some(GroupMetadata {
            generation_id: v.generation,
            protocol_type: v.protocol_type,
            protocol_name: v.protocol,
            leader: v.leader,
            members,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strikemq_codec::batch::{decode_records, RecordBatch};

    /// Membership records round-trip, and neither decoder takes the other kind's records.
    #[test]
    fn membership_round_trips_and_keeps_apart_from_offsets() {
        let member = |id: &str, instance: Option<&str>| MemberMetadata {
            member_id: id.into(),
            group_instance_id: instance.map(Into::into),
            client_id: "app".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            metadata: Bytes::from_static(&[0, 3, 0, 0, 0, 1, 0xff]),
            assignment: Bytes::new(),
        };
        let changes = vec![
            MembershipChange {
                group: "g".to_owned(),
                metadata: Some(GroupMetadata {
                    generation_id: 7,
                    protocol_type: "consumer".into(),
                    protocol_name: "range".into(),
                    leader: "a".into(),
                    members: vec![member("a", None), member("b", Some("i-1"))],
                }),
            },
            MembershipChange {
                group: "h".to_owned(),
                metadata: None,
            },
        ];
        let bytes = encode_membership(&changes, 5).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        let records = decode_records(&batch).unwrap();
        let back: Vec<_> = records
            .iter()
            .map(|r| decode_membership(r).unwrap())
            .collect();
        assert_eq!(back, changes);
        assert!(records.iter().all(|r| decode(r).is_none()));
        let deleted = OffsetChange {
            group: "g".to_owned(),
            partition: TopicPartition::new("t", 0),
            offset: None,
        };
        let offsets = encode(&[deleted], 5).unwrap();
        let batch = RecordBatch::parse(&offsets).unwrap();
        assert!(decode_records(&batch)
            .unwrap()
            .iter()
            .all(|r| decode_membership(r).is_none()));
        assert_eq!(unhex("0g"), None);
        assert!(encode_membership(&[], 0).is_none());
    }

    /// Consumer group records round-trip and no other decoder takes them.
    #[test]
    fn consumer_group_records_round_trip() {
        use crate::consumer::{ConsumerGroupRecord, ConsumerMemberRecord, MemberState};
        let t = uuid::Uuid::from_u128(7);
        let member = ConsumerMemberRecord {
            id: "m1".into(),
            instance_id: Some("i".into()),
            rack_id: None,
            client_id: "app".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            subscribed_names: vec!["t".into()],
            subscribed_regex: Some("t.*".into()),
            server_assignor: Some("range".into()),
            epoch: 3,
            previous_epoch: 2,
            state: MemberState::UnrevokedPartitions,
            assigned: [(t, [0, 1].into())].into(),
            pending_revocation: [(t, [2].into())].into(),
            target: [(t, [0, 1].into())].into(),
        };
        let changes = vec![
            ConsumerGroupChange::Group {
                group: "g".into(),
                record: Some(ConsumerGroupRecord {
                    group_epoch: 3,
                    assignment_epoch: 3,
                    subscribed: [("t".to_string(), (t, 3))].into(),
                }),
            },
            ConsumerGroupChange::Member {
                group: "g".into(),
                member: "m1".into(),
                record: Some(Box::new(member)),
            },
            ConsumerGroupChange::Member {
                group: "g".into(),
                member: "m2".into(),
                record: None,
            },
            ConsumerGroupChange::Group {
                group: "h".into(),
                record: None,
            },
        ];
        let bytes = encode_consumer_groups(&changes, 1).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        let records = decode_records(&batch).unwrap();
        let back: Vec<_> = records
            .iter()
            .map(|r| decode_consumer_group(r).unwrap())
            .collect();
        assert_eq!(back, changes);
        assert!(records
            .iter()
            .all(|r| decode(r).is_none() && decode_membership(r).is_none()));
    }

    #[test]
    fn share_partition_records_round_trip_and_keep_apart() {
        let changes = vec![
            ShareChange {
                group: "sg".into(),
                key: (uuid::Uuid::from_u128(3), 1),
                state: Some(SharePartitionState {
                    start: 4,
                    end: 9,
                    records: vec![(4, 2), (7, 1)],
                }),
            },
            ShareChange {
                group: "sg".into(),
                key: (uuid::Uuid::from_u128(3), 2),
                state: None,
            },
        ];
        let bytes = encode_share_partitions(&changes, 1).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        let records = decode_records(&batch).unwrap();
        let back: Vec<_> = records
            .iter()
            .map(|r| decode_share_partition(r).unwrap())
            .collect();
        assert_eq!(back, changes);
        assert!(records.iter().all(|r| decode(r).is_none()
            && decode_membership(r).is_none()
            && decode_consumer_group(r).is_none()));
    }

    #[test]
    fn changes_round_trip_through_a_batch() {
        let changes = vec![
            OffsetChange {
                group: "g".to_owned(),
                partition: TopicPartition::new("t", 3),
                offset: Some(CommittedOffset {
                    offset: 42,
                    leader_epoch: 0,
                    metadata: Some("meta".into()),
                    commit_ms: 7,
                }),
            },
            OffsetChange {
                group: "g".to_owned(),
                partition: TopicPartition::new("u", 0),
                offset: None,
            },
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
