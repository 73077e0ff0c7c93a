//! Helpers for the broker's unit tests.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use strikemq_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::{
    ApiKey, FetchRequest, ProduceRequest, RequestHeader, ResponseKind, TopicName,
};
use strikemq_codec::request::decode_request;
use strikemq_codec::response::ResponseBody;
use strikemq_codec::{Encodable, StrBytes};
use strikemq_storage::{Store, StoreConfig};

use crate::{Broker, BrokerConfig, Outcome};

pub(crate) struct TestBroker {
    pub(crate) broker: Broker,
    _dir: tempfile::TempDir,
}

pub(crate) fn broker() -> TestBroker {
    broker_with(StoreConfig::default())
}

pub(crate) fn broker_with(config: StoreConfig) -> TestBroker {
    broker_configured(config, BrokerConfig::default())
}

pub(crate) fn broker_configured(store_config: StoreConfig, config: BrokerConfig) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), store_config).unwrap();
    TestBroker {
        broker: Broker::new(config, store).unwrap(),
        _dir: dir,
    }
}

/// Encodes `body` as a request frame the way a client would, and decodes it as the reactor does.
pub(crate) fn call(b: &Broker, key: ApiKey, version: i16, body: &impl Encodable) -> Outcome {
    call_at(b, key, version, body, Instant::now())
}

pub(crate) fn call_at(
    b: &Broker,
    key: ApiKey,
    version: i16,
    body: &impl Encodable,
    now: Instant,
) -> Outcome {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("unit")))
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    b.handle(decode_request(buf.freeze()).unwrap(), now)
}

pub(crate) fn response(outcome: Outcome) -> ResponseKind {
    match outcome {
        Outcome::Respond(r) => match r.body {
            ResponseBody::Kafka(k) => k,
            other => panic!("unexpected raw body {other:?}"),
        },
        other => panic!("expected a response, got {other:?}"),
    }
}

pub(crate) fn batch(values: &[&str], ts0: i64) -> Bytes {
    let mut b = strikemq_codec::batch::BatchBuilder::new();
    for (i, v) in values.iter().enumerate() {
        b = b.record(strikemq_codec::batch::NewRecord {
            timestamp: ts0 + i as i64,
            key: None,
            value: Some(Bytes::from(v.to_string())),
            headers: vec![],
        });
    }
    b.build()
}

/// The name of a topic, as requests carry it.
pub(crate) fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

pub(crate) fn produce_req(
    topic: &str,
    partition: i32,
    records: bytes::Bytes,
    acks: i16,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

pub(crate) fn fetch_req(
    topic: &str,
    partition: i32,
    offset: i64,
    min_bytes: i32,
    wait_ms: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

pub(crate) fn produce_code(
    t: &TestBroker,
    topic: &str,
    records: bytes::Bytes,
    acks: i16,
) -> (i16, i64) {
    let ResponseKind::Produce(r) = response(call(
        &t.broker,
        ApiKey::Produce,
        9,
        &produce_req(topic, 0, records, acks),
    )) else {
        panic!()
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub(crate) fn create(t: &TestBroker, topic: &str, partitions: i32) {
    t.broker
        .store()
        .create_topic(topic, partitions, Default::default())
        .unwrap();
}

/// Fetch v12 of partition 0 from `offset` without waiting: the partition's answer.
pub(crate) fn fetch_partition(
    b: &Broker,
    topic: &str,
    offset: i64,
) -> strikemq_codec::messages::fetch_response::PartitionData {
    let ResponseKind::Fetch(r) = response(call(
        b,
        ApiKey::Fetch,
        12,
        &fetch_req(topic, 0, offset, 1, 0),
    )) else {
        panic!("not a Fetch response")
    };
    r.responses[0].partitions[0].clone()
}

/// A disk that fills up: writes fail with ENOSPC (after writing part of their bytes) while `full`.
#[derive(Debug, Default)]
pub(crate) struct FullDisk {
    pub(crate) full: std::sync::atomic::AtomicBool,
}

impl strikemq_storage::FileOps for FullDisk {
    fn write_at(
        &self,
        file: &std::fs::File,
        path: &std::path::Path,
        buf: &[u8],
        pos: u64,
    ) -> std::io::Result<()> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = strikemq_storage::RealFiles.write_at(file, path, &buf[..buf.len() / 3], pos);
            return Err(std::io::Error::from_raw_os_error(28));
        }
        strikemq_storage::RealFiles.write_at(file, path, buf, pos)
    }
    fn append(
        &self,
        file: &mut std::fs::File,
        path: &std::path::Path,
        buf: &[u8],
    ) -> std::io::Result<()> {
        strikemq_storage::RealFiles.append(file, path, buf)
    }
    fn set_len(
        &self,
        file: &std::fs::File,
        path: &std::path::Path,
        len: u64,
    ) -> std::io::Result<()> {
        strikemq_storage::RealFiles.set_len(file, path, len)
    }
    fn sync(&self, file: &std::fs::File, path: &std::path::Path) -> std::io::Result<()> {
        strikemq_storage::RealFiles.sync(file, path)
    }
}
