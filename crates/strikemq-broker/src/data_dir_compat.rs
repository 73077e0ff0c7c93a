//! On-disk compatibility: a data directory written by an earlier release, committed under
//! `tests/data-dirs/<version>/`, must open and read back identically in every later version, as
//! redb tests its files against a pinned old release. A format change that breaks users' data
//! fails here, not on their machines.
//!
//! The fixture holds what a broker writes: topic metadata with configs, segments, indexes and
//! producer snapshots of a clean stop, committed offsets and group membership, dynamic broker
//! configs, the producer-id block and the cluster id. It is written by
//! `STRIKEMQ_WRITE_FIXTURE=1 cargo test -p strikemq-broker write_the_data_dir_fixture -- --ignored`
//! (only when a format changes on purpose: then the new version gets a directory of its own and
//! the old ones stay).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use strikemq_codec::batch::{BatchBuilder, NewRecord};
use strikemq_codec::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use strikemq_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use strikemq_codec::messages::join_group_request::JoinGroupRequestProtocol;
use strikemq_codec::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::sync_group_request::SyncGroupRequestAssignment;
use strikemq_codec::messages::*;
use strikemq_codec::StrBytes;
use strikemq_storage::{Store, StoreConfig};

use crate::testutil::{call, response};
use crate::{Broker, BrokerConfig};

/// The release whose formats this code writes: the fixture directory the writer below fills.
/// Every directory under `tests/data-dirs/` is read back.
const FIXTURE_VERSION: &str = "0.2.0";
const T0: i64 = 1_672_531_200_000; // 2023-01-01
const ORDERS: &str = "orders";
const COMPACTED: &str = "compacted";
const GROUP: &str = "billing";
const STABLE_GROUP: &str = "members";
/// The producer id the fixture's idempotent producer got: the first of a fresh data directory.
const FIXTURE_PRODUCER_ID: i64 = 0;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data-dirs")
}

fn fixture_dir() -> PathBuf {
    fixtures().join(FIXTURE_VERSION)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Record `i` of a partition: key, value, a header, a timestamp.
fn record(partition: i32, i: usize) -> NewRecord {
    NewRecord {
        timestamp: T0 + i as i64 * 1000,
        key: Some(Bytes::from(format!("key-{}", i % 4))),
        value: Some(Bytes::from(format!("p{partition}-value-{i}"))),
        headers: vec![("trace".into(), Some(Bytes::from(format!("t{i}"))))],
    }
}

/// The batches written to a partition: sizes 1, 2, 3... records, in order.
fn batches(partition: i32, producer: Option<i64>) -> Vec<Bytes> {
    let mut i = 0;
    (1..=4)
        .map(|n| {
            let mut b = BatchBuilder::new();
            if let Some(pid) = producer {
                b = b.producer(pid, 0, i as i32);
            }
            for _ in 0..n {
                b = b.record(record(partition, i));
                i += 1;
            }
            b.build()
        })
        .collect()
}

fn produce(b: &Broker, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let ResponseKind::Produce(r) = response(call(b, ApiKey::Produce, 9, &req)) else {
        panic!()
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn producer_id(b: &Broker) -> i64 {
    let ResponseKind::InitProducerId(r) = response(call(
        b,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default().with_transactional_id(None),
    )) else {
        panic!()
    };
    r.producer_id.0
}

fn join_and_sync(b: &Broker) {
    let join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(STABLE_GROUP)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(s(member))
            .with_group_instance_id(Some(s("instance-a")))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription"))])
    };
    let ResponseKind::JoinGroup(j) = response(call(b, ApiKey::JoinGroup, 9, &join(""))) else {
        panic!()
    };
    assert_eq!(j.error_code, 0);
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(STABLE_GROUP)))
        .with_generation_id(j.generation_id)
        .with_member_id(j.member_id.clone())
        .with_group_instance_id(Some(s("instance-a")))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(j.member_id)
            .with_assignment(Bytes::from_static(b"assignment"))]);
    let ResponseKind::SyncGroup(r) = response(call(b, ApiKey::SyncGroup, 5, &sync)) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
}

/// What the fixture holds, written through the broker as clients would.
fn write_scenario(b: &Broker) -> i64 {
    let topic = |name: &str, partitions: i32, configs: &[(&str, &str)]| {
        CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            )
    };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(1000)
        .with_topics(vec![
            topic(ORDERS, 2, &[("retention.ms", "-1")]),
            topic(
                COMPACTED,
                1,
                &[("cleanup.policy", "compact"), ("retention.ms", "-1")],
            ),
        ]);
    let ResponseKind::CreateTopics(r) = response(call(b, ApiKey::CreateTopics, 7, &req)) else {
        panic!()
    };
    assert!(r.topics.iter().all(|t| t.error_code == 0), "{r:?}");
    let pid = producer_id(b);
    assert_eq!(pid, FIXTURE_PRODUCER_ID);
    for p in 0..2 {
        for batch in batches(p, (p == 0).then_some(pid)) {
            assert_eq!(produce(b, ORDERS, p, batch).0, 0);
        }
    }
    for batch in batches(0, None) {
        assert_eq!(produce(b, COMPACTED, 0, batch).0, 0);
    }
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(ORDERS)))
            .with_partitions(
                [(0, 7), (1, 3)]
                    .into_iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(o)
                            .with_committed_metadata(Some(s("meta")))
                    })
                    .collect(),
            )]);
    let ResponseKind::OffsetCommit(_) = response(call(b, ApiKey::OffsetCommit, 8, &commit)) else {
        panic!()
    };
    join_and_sync(b);
    let dynamic = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s(""))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("log.retention.bytes"))
                    .with_config_operation(0)
                    .with_value(Some(s("123456789"))),
            ]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) =
        response(call(b, ApiKey::IncrementalAlterConfigs, 1, &dynamic))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0);
    pid
}

/// Writes `tests/data-dirs/<FIXTURE_VERSION>/` (run by hand; see the module docs).
#[test]
#[ignore]
fn write_the_data_dir_fixture() {
    if std::env::var_os("STRIKEMQ_WRITE_FIXTURE").is_none() {
        return;
    }
    let dir = fixture_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, StoreConfig::default()).unwrap();
    let b = Broker::new(BrokerConfig::default(), store).unwrap();
    write_scenario(&b);
    b.close().unwrap();
    drop(b);
    std::fs::remove_file(dir.join(".lock")).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn fetch_all(b: &Broker, topic: &str, partition: i32) -> Vec<(i64, NewRecord)> {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(r) = response(call(b, ApiKey::Fetch, 12, &req)) else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{topic}-{partition}");
    let records = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    for batch in strikemq_codec::batch::batches(&records) {
        for r in strikemq_codec::batch::decode_records(&batch.unwrap()).unwrap() {
            out.push((
                r.offset,
                NewRecord {
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                },
            ));
        }
    }
    out
}

/// The data directory written by each release (0.1.0 without format versions, 0.2.0 with them)
/// opens, and everything in it reads back as written, after its clean stop and as after a crash
/// (the clean-stop marker removed: the logs are recovered from their recovery points and
/// scanned).
#[test]
fn the_data_directory_of_every_release_reads_back() {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    let names: Vec<_> = versions
        .iter()
        .map(|v| v.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"0.1.0".to_owned()), "{names:?}");
    assert!(names.contains(&FIXTURE_VERSION.to_owned()), "{names:?}");
    for version in &versions {
        read_back(version, false);
        read_back(version, true);
    }
}

fn read_back(fixture: &Path, as_after_a_crash: bool) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(fixture, tmp.path());
    if as_after_a_crash {
        std::fs::remove_file(tmp.path().join("meta/clean_shutdown")).unwrap();
    }
    let cluster_id = std::fs::read_to_string(tmp.path().join("meta/cluster_id")).unwrap();
    let store = Store::open(tmp.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.cluster_id(), cluster_id.trim());
    let b = Broker::new(BrokerConfig::default(), store).unwrap();
    // Topics, partitions and configs.
    let orders = b.store().topic(ORDERS).unwrap();
    assert_eq!(orders.partition_count(), 2);
    assert_eq!(
        orders.configs().get("retention.ms").map(String::as_str),
        Some("-1")
    );
    let compacted = b.store().topic(COMPACTED).unwrap();
    assert_eq!(
        compacted
            .configs()
            .get("cleanup.policy")
            .map(String::as_str),
        Some("compact")
    );
    // Every record, in order, with its offset.
    for (topic, partition) in [(ORDERS, 0), (ORDERS, 1), (COMPACTED, 0)] {
        let got = fetch_all(&b, topic, partition);
        let want: Vec<(i64, NewRecord)> =
            (0..10).map(|i| (i as i64, record(partition, i))).collect();
        assert_eq!(got, want, "{topic}-{partition}");
    }
    // The idempotent producer's state: a retry of its last batch is recognised as a duplicate.
    let last = batches(0, Some(FIXTURE_PRODUCER_ID)).pop().unwrap();
    assert_eq!(produce(&b, ORDERS, 0, last), (0, 6));
    // Producer ids continue after the reserved block.
    assert!(producer_id(&b) >= 1000);
    // Committed offsets.
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_topics(None);
    let ResponseKind::OffsetFetch(r) = response(call(&b, ApiKey::OffsetFetch, 7, &req)) else {
        panic!()
    };
    let mut committed: Vec<(i32, i64, String)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.metadata.as_deref().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    committed.sort();
    assert_eq!(committed, [(0, 7, "meta".into()), (1, 3, "meta".into())]);
    // Group membership: the Stable group is back with its static member.
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(STABLE_GROUP))]);
    let ResponseKind::DescribeGroups(r) = response(call(&b, ApiKey::DescribeGroups, 5, &req))
    else {
        panic!()
    };
    let g = &r.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.members.len(), 1);
    assert_eq!(
        g.members[0].group_instance_id.as_deref(),
        Some("instance-a")
    );
    assert_eq!(&g.members[0].member_assignment[..], b"assignment");
    // Dynamic broker configs reach the topics.
    assert_eq!(
        crate::configs::effective(&b, orders.configs(), "retention.bytes").as_deref(),
        Some("123456789")
    );
    b.close().unwrap();
}
