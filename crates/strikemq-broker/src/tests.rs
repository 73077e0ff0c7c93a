//! Request-level tests of the broker, with requests encoded as clients encode them.

use std::time::{Duration, Instant};

use strikemq_codec::messages::create_topics_request::CreatableTopic;
use strikemq_codec::messages::delete_topics_request::DeleteTopicState;
use strikemq_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use strikemq_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use strikemq_codec::messages::metadata_request::MetadataRequestTopic;
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;

use crate::testutil::*;
use crate::{BrokerConfig, Outcome};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn produce_req(topic: &str, partition: i32, records: bytes::Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn fetch_req(
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

fn produce_code(t: &TestBroker, topic: &str, records: bytes::Bytes, acks: i16) -> (i16, i64) {
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

fn create(t: &TestBroker, topic: &str, partitions: i32) {
    t.broker
        .store()
        .create_topic(topic, partitions, Default::default())
        .unwrap();
}

#[test]
fn api_versions_advertises_the_table() {
    let t = broker();
    for v in 0..=4 {
        let ResponseKind::ApiVersions(r) = response(call(
            &t.broker,
            ApiKey::ApiVersions,
            v,
            &ApiVersionsRequest::default(),
        )) else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!(produce.min_version, 0);
        assert!(r
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::JoinGroup as i16));
        // KIP-848's heartbeat stays unadvertised until it works: franz-go switches to it.
        for absent in [ApiKey::ConsumerGroupHeartbeat, ApiKey::AddPartitionsToTxn] {
            assert!(r.api_keys.iter().all(|k| k.api_key != absent as i16));
        }
    }
}

#[test]
fn newer_api_versions_gets_v0_unsupported_version() {
    let t = broker();
    let frame = bytes::Bytes::from_static(&[0, 18, 0, 42, 0, 0, 0, 3, 0, 0]);
    let req = strikemq_codec::request::decode_request(frame).unwrap();
    let Outcome::Respond(r) = t.broker.handle(req, Instant::now()) else {
        panic!()
    };
    assert_eq!(r.api_version, 0);
    let strikemq_codec::response::ResponseBody::Kafka(ResponseKind::ApiVersions(body)) = r.body
    else {
        panic!()
    };
    assert_eq!(body.error_code, ResponseError::UnsupportedVersion.code());
    assert!(!body.api_keys.is_empty());
}

#[test]
fn metadata_auto_creates_and_reports_errors() {
    let t = broker();
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("fresh"))),
            MetadataRequestTopic::default().with_name(Some(name("bad name"))),
        ]));
    let ResponseKind::Metadata(r) = response(call(&t.broker, ApiKey::Metadata, 12, &req)) else {
        panic!()
    };
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port, 9092);
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].partitions.len(), 1);
    assert!(!r.topics[0].topic_id.is_nil());
    assert_eq!(
        r.topics[1].error_code,
        ResponseError::InvalidTopicException.code()
    );
    // Not allowed to create: unknown.
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("nope")))
        ]));
    let ResponseKind::Metadata(r) = response(call(&t.broker, ApiKey::Metadata, 12, &req)) else {
        panic!()
    };
    assert_eq!(
        r.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    // Null topics: all of them.
    let req = MetadataRequest::default().with_topics(None);
    let ResponseKind::Metadata(r) = response(call(&t.broker, ApiKey::Metadata, 9, &req)) else {
        panic!()
    };
    assert_eq!(r.topics.len(), 1);
}

#[test]
fn produce_then_fetch_record_by_record() {
    let t = broker();
    create(&t, "t", 1);
    assert_eq!(produce_code(&t, "t", batch(&["a", "b"], 10), 1), (0, 0));
    assert_eq!(produce_code(&t, "t", batch(&["c"], 20), -1), (0, 2));
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 1, 1, 0),
    )) else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(
        (p.error_code, p.high_watermark, p.log_start_offset),
        (0, 3, 0)
    );
    let mut values = Vec::new();
    for b in strikemq_codec::batch::batches(p.records.as_ref().unwrap()) {
        for rec in strikemq_codec::batch::decode_records(&b.unwrap()).unwrap() {
            values.push((rec.offset, rec.value.unwrap()));
        }
    }
    assert_eq!(
        values,
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
}

#[test]
fn produce_errors_per_partition() {
    let t = broker();
    create(&t, "t", 1);
    let unknown = produce_code(&t, "missing", batch(&["a"], 0), 1);
    assert_eq!(unknown, (ResponseError::UnknownTopicOrPartition.code(), -1));
    let mut corrupt = batch(&["a"], 0).to_vec();
    let n = corrupt.len();
    corrupt[n - 1] ^= 1;
    assert_eq!(
        produce_code(&t, "t", corrupt.into(), 1).0,
        ResponseError::CorruptMessage.code()
    );
    let mut two = batch(&["a"], 0).to_vec();
    two.extend_from_slice(&batch(&["b"], 0));
    assert_eq!(
        produce_code(&t, "t", two.into(), 1).0,
        ResponseError::InvalidRecord.code()
    );
    let big = "x".repeat(2 << 20);
    assert_eq!(
        produce_code(&t, "t", batch(&[&big], 0), 1).0,
        ResponseError::MessageTooLarge.code()
    );
    assert_eq!(
        produce_code(&t, "t", batch(&["a"], 0), 2).0,
        ResponseError::InvalidRequiredAcks.code()
    );
    // Nothing of the above was written.
    assert_eq!(
        t.broker
            .store()
            .topic("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .log_end_offset(),
        0
    );
    let outcome = call(
        &t.broker,
        ApiKey::Produce,
        9,
        &produce_req("t", 0, batch(&["z"], 0), 0),
    );
    assert!(matches!(outcome, Outcome::NoResponse));
    assert_eq!(
        t.broker
            .store()
            .topic("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .log_end_offset(),
        1
    );
}

#[test]
fn fetch_parks_until_data_or_deadline() {
    let t = broker();
    create(&t, "t", 1);
    let now = Instant::now();
    let outcome = call_at(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 0, 1, 500),
        now,
    );
    let Outcome::Park(parked) = outcome else {
        panic!("expected park")
    };
    assert_eq!(parked.deadline(), now + Duration::from_millis(500));
    // Still nothing: parks again.
    let Outcome::Park(parked) = t.broker.resume(parked, now + Duration::from_millis(10)) else {
        panic!()
    };
    produce_code(&t, "t", batch(&["late"], 0), 1);
    let ResponseKind::Fetch(r) = response(t.broker.resume(parked, now + Duration::from_millis(20)))
    else {
        panic!()
    };
    assert!(!r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
    // Deadline passes without data: an empty answer.
    let outcome = call_at(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 1, 1, 100),
        now,
    );
    let Outcome::Park(parked) = outcome else {
        panic!()
    };
    let ResponseKind::Fetch(r) =
        response(t.broker.resume(parked, now + Duration::from_millis(100)))
    else {
        panic!()
    };
    assert!(r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
}

#[test]
fn fetch_errors() {
    let t = broker();
    create(&t, "t", 1);
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 5, 1, 500),
    )) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 3, 0, 1, 500),
    )) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

#[test]
fn fetch_by_topic_id_at_v13() {
    let t = broker();
    create(&t, "t", 1);
    produce_code(&t, "t", batch(&["a"], 0), 1);
    let id = t.broker.store().topic("t").unwrap().id();
    let mut req = fetch_req("", 0, 0, 1, 0);
    req.topics[0].topic_id = id;
    let ResponseKind::Fetch(r) = response(call(&t.broker, ApiKey::Fetch, 16, &req)) else {
        panic!()
    };
    assert_eq!(r.responses[0].topic_id, id);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 1);
    req.topics[0].topic_id = strikemq_storage::Uuid::from_u128(7);
    let ResponseKind::Fetch(r) = response(call(&t.broker, ApiKey::Fetch, 16, &req)) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::UnknownTopicId.code()
    );
}

#[test]
fn list_offsets_by_kind_and_timestamp() {
    let t = broker();
    create(&t, "t", 1);
    produce_code(&t, "t", batch(&["a", "b", "c"], 1000), 1);
    produce_code(&t, "t", batch(&["d", "e"], 2000), 1);
    let ask = |ts: i64| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    ListOffsetsPartition::default().with_timestamp(ts)
                ])]);
        let ResponseKind::ListOffsets(r) = response(call(&t.broker, ApiKey::ListOffsets, 7, &req))
        else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(ask(-2), (0, 0, -1));
    assert_eq!(ask(-1), (0, 5, -1));
    assert_eq!(ask(-3), (0, 4, 2001));
    assert_eq!(ask(1001), (0, 1, 1001));
    assert_eq!(ask(1500), (0, 3, 2000));
    assert_eq!(ask(9999), (0, -1, -1));
}

#[test]
fn create_and_delete_topics() {
    let t = broker();
    let topic = |n: &str, p: i32, rf: i16| {
        CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(p)
            .with_replication_factor(rf)
    };
    let req = CreateTopicsRequest::default().with_topics(vec![
        topic("a", 3, 1),
        topic("b", -1, -1),
        topic("c", 1, 3),
        topic("d", 0, 1),
        topic("bad/name", 1, 1),
    ]);
    let ResponseKind::CreateTopics(r) = response(call(&t.broker, ApiKey::CreateTopics, 7, &req))
    else {
        panic!()
    };
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![
            0,
            0,
            ResponseError::InvalidReplicationFactor.code(),
            ResponseError::InvalidPartitions.code(),
            ResponseError::InvalidTopicException.code()
        ]
    );
    assert_eq!(r.topics[0].num_partitions, 3);
    assert_eq!(t.broker.store().topic("a").unwrap().partition_count(), 3);
    assert_eq!(t.broker.store().topic("b").unwrap().partition_count(), 1);
    // Again: exists. Validate-only: nothing created.
    let req = CreateTopicsRequest::default().with_topics(vec![topic("a", 1, 1)]);
    let ResponseKind::CreateTopics(r) = response(call(&t.broker, ApiKey::CreateTopics, 4, &req))
    else {
        panic!()
    };
    assert_eq!(
        r.topics[0].error_code,
        ResponseError::TopicAlreadyExists.code()
    );
    let req = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![topic("v", 2, 1)]);
    let ResponseKind::CreateTopics(r) = response(call(&t.broker, ApiKey::CreateTopics, 5, &req))
    else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
    assert!(t.broker.store().topic("v").is_none());

    // Kafka's 10,000-records-per-request limit: the whole request is refused, nothing created.
    for (partitions, message) in [
        (
            9_999,
            "Unable to perform excessively large batch operation.",
        ),
        (
            10_001,
            "Excessively large number of partitions per request.",
        ),
        (
            i32::MAX,
            "Excessively large number of partitions per request.",
        ),
    ] {
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic("huge", partitions, 1), topic("small", 1, 1)]);
        let ResponseKind::CreateTopics(r) =
            response(call(&t.broker, ApiKey::CreateTopics, 7, &req))
        else {
            panic!()
        };
        for res in &r.topics {
            assert_eq!(res.error_code, ResponseError::PolicyViolation.code());
            assert_eq!(res.error_message.as_deref(), Some(message));
        }
        assert!(
            t.broker.store().topic("huge").is_none() && t.broker.store().topic("small").is_none()
        );
    }

    // Delete by name (v4) and by id (v6); unknown ones get errors.
    let req = DeleteTopicsRequest::default().with_topic_names(vec![name("a"), name("zz")]);
    let ResponseKind::DeleteTopics(r) = response(call(&t.broker, ApiKey::DeleteTopics, 4, &req))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        r.responses[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    let id = t.broker.store().topic("b").unwrap().id();
    let req = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let ResponseKind::DeleteTopics(r) = response(call(&t.broker, ApiKey::DeleteTopics, 6, &req))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "b");
    assert!(t.broker.store().topics().is_empty());
}

#[test]
fn producer_ids_are_unique_and_never_reused() {
    let t = broker();
    let init = |req: InitProducerIdRequest| {
        let ResponseKind::InitProducerId(r) =
            response(call(&t.broker, ApiKey::InitProducerId, 4, &req))
        else {
            panic!()
        };
        (r.error_code, r.producer_id.0, r.producer_epoch)
    };
    let fresh = || {
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_timeout_ms(60000)
    };
    let a = init(fresh());
    let b = init(fresh());
    assert_eq!(a.0, 0);
    assert_ne!(a.1, b.1);
    // As from Kafka, an idempotent producer naming the id it had gets a new one at epoch 0.
    let again = init(
        fresh()
            .with_producer_id(ProducerId(a.1))
            .with_producer_epoch(0),
    );
    assert_eq!(again.0, 0);
    assert!(
        again.1 != a.1 && again.1 != b.1 && again.2 == 0,
        "{again:?}"
    );
    // An empty (not null) transactional id is refused, as by Kafka.
    let empty = init(fresh().with_transactional_id(Some(Default::default())));
    assert_eq!(empty, (ResponseError::InvalidRequest.code(), -1, -1));
    // An idempotent producer's transaction timeout is not looked at.
    assert_eq!(init(fresh().with_transaction_timeout_ms(900_001)).0, 0);
    // A transactional producer: the timeout first (0 < timeout <= 15 min), then a fatal
    // refusal while transactions are not served, so that init_transactions() fails at once.
    let txn = |timeout| {
        init(
            fresh()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t"))))
                .with_transaction_timeout_ms(timeout),
        )
    };
    let invalid = (ResponseError::InvalidTransactionTimeout.code(), -1, -1);
    assert_eq!(txn(900_001), invalid);
    assert_eq!(txn(0), invalid);
    let refused = (
        ResponseError::TransactionalIdAuthorizationFailed.code(),
        -1,
        -1,
    );
    assert_eq!(txn(900_000), refused);
    assert_eq!(txn(60_000), refused);
}

#[test]
fn find_coordinator_points_at_this_broker() {
    let t = broker();
    let req = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
    let ResponseKind::FindCoordinator(r) =
        response(call(&t.broker, ApiKey::FindCoordinator, 3, &req))
    else {
        panic!()
    };
    assert_eq!((r.error_code, r.node_id.0, r.port), (0, 0, 9092));
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![
            StrBytes::from_static_str("a"),
            StrBytes::from_static_str("b"),
        ]);
    let ResponseKind::FindCoordinator(r) =
        response(call(&t.broker, ApiKey::FindCoordinator, 6, &req))
    else {
        panic!()
    };
    assert_eq!(r.coordinators.len(), 2);
    assert!(r
        .coordinators
        .iter()
        .all(|c| c.error_code == 0 && c.host.as_str() == "127.0.0.1"));
    let req = FindCoordinatorRequest::default()
        .with_key_type(9)
        .with_coordinator_keys(vec![StrBytes::from_static_str("a")]);
    let ResponseKind::FindCoordinator(r) =
        response(call(&t.broker, ApiKey::FindCoordinator, 4, &req))
    else {
        panic!()
    };
    assert_eq!(
        r.coordinators[0].error_code,
        ResponseError::InvalidRequest.code()
    );
}

/// A damaged producer-id file stops the broker at start instead of restarting ids at 0, where a
/// new producer could take the id of one whose sequence numbers the logs still hold.
#[test]
fn a_damaged_producer_id_file_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        let b = crate::Broker::new(crate::BrokerConfig::default(), store).unwrap();
        call(
            &b,
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        );
    }
    std::fs::write(dir.path().join("meta/producer_ids"), "12x").unwrap();
    let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
    match crate::Broker::new(crate::BrokerConfig::default(), store) {
        Err(strikemq_storage::StorageError::CorruptMetadata { path, .. }) => {
            assert!(path.ends_with("meta/producer_ids"), "{path:?}")
        }
        other => panic!("a damaged producer id file was accepted: {other:?}"),
    }
}

#[test]
fn producer_ids_never_repeat_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        let b = crate::Broker::new(crate::BrokerConfig::default(), store).unwrap();
        let ResponseKind::InitProducerId(r) = response(call(
            &b,
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )) else {
            panic!()
        };
        r.producer_id.0
    };
    let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
    let b = crate::Broker::new(crate::BrokerConfig::default(), store).unwrap();
    let ResponseKind::InitProducerId(r) = response(call(
        &b,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )) else {
        panic!()
    };
    assert!(r.producer_id.0 > first, "{} after {first}", r.producer_id.0);
}

#[test]
fn create_partitions_delete_records_cluster_and_epochs() {
    use strikemq_codec::messages::create_partitions_request::CreatePartitionsTopic;
    use strikemq_codec::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use strikemq_codec::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let t = broker();
    create(&t, "t", 1);
    for i in 0..5 {
        produce_code(&t, "t", batch(&[&format!("v{i}")], i), 1);
    }
    let grow = |count: i32, validate_only: bool| {
        let req = CreatePartitionsRequest::default()
            .with_validate_only(validate_only)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name("t"))
                .with_count(count)
                .with_assignments(None)]);
        let ResponseKind::CreatePartitions(r) =
            response(call(&t.broker, ApiKey::CreatePartitions, 3, &req))
        else {
            panic!()
        };
        r.results[0].error_code
    };
    assert_eq!(grow(1, false), ResponseError::InvalidPartitions.code());
    // More than 10,000 new partitions at once: Kafka 4.1's code, and nothing is created.
    assert_eq!(
        grow(10_002, false),
        ResponseError::UnknownServerError.code()
    );
    assert_eq!(t.broker.store().topic("t").unwrap().partition_count(), 1);
    assert_eq!(grow(4, true), 0);
    assert_eq!(t.broker.store().topic("t").unwrap().partition_count(), 1);
    assert_eq!(grow(4, false), 0);
    assert_eq!(t.broker.store().topic("t").unwrap().partition_count(), 4);

    let delete = |partition: i32, offset: i64| {
        let req = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(partition)
                .with_offset(offset)])]);
        let ResponseKind::DeleteRecords(r) =
            response(call(&t.broker, ApiKey::DeleteRecords, 2, &req))
        else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    assert_eq!(delete(0, 3), (0, 3));
    assert_eq!(delete(0, 9), (ResponseError::OffsetOutOfRange.code(), -1));
    assert_eq!(
        delete(7, 1),
        (ResponseError::UnknownTopicOrPartition.code(), -1)
    );
    assert_eq!(delete(0, -1), (0, 5));
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 2, 1, 0),
    )) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    // As Kafka: a partition that failed reports no offsets (the client asks ListOffsets).
    assert_eq!(r.responses[0].partitions[0].log_start_offset, -1);

    let ResponseKind::DescribeCluster(r) = response(call(
        &t.broker,
        ApiKey::DescribeCluster,
        1,
        &DescribeClusterRequest::default().with_endpoint_type(1),
    )) else {
        panic!()
    };
    assert_eq!(
        (r.error_code, r.brokers.len(), r.controller_id.0),
        (0, 1, 0)
    );
    assert_eq!(r.cluster_id.as_str(), t.broker.store().cluster_id());

    let epochs = |current: i32, epoch: i32| {
        let req = OffsetForLeaderEpochRequest::default().with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name("t"))
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(current)
                    .with_leader_epoch(epoch)]),
        ]);
        let ResponseKind::OffsetForLeaderEpoch(r) =
            response(call(&t.broker, ApiKey::OffsetForLeaderEpoch, 4, &req))
        else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.leader_epoch, p.end_offset)
    };
    assert_eq!(epochs(0, 0), (0, 0, 5));
    assert_eq!(epochs(-1, 0), (0, 0, 5));
    assert_eq!(epochs(3, 0).0, ResponseError::UnknownLeaderEpoch.code());
}

#[test]
fn log_dirs_and_producers_are_described() {
    use strikemq_codec::messages::describe_producers_request::TopicRequest;
    let t = broker();
    create(&t, "t", 2);
    let idem = strikemq_codec::batch::BatchBuilder::new()
        .producer(42, 3, 0)
        .record(strikemq_codec::batch::NewRecord {
            timestamp: 777,
            value: Some(bytes::Bytes::from_static(b"x")),
            ..Default::default()
        })
        .build();
    assert_eq!(produce_code(&t, "t", idem, 1).0, 0);
    let ResponseKind::DescribeLogDirs(r) = response(call(
        &t.broker,
        ApiKey::DescribeLogDirs,
        4,
        &DescribeLogDirsRequest::default().with_topics(None),
    )) else {
        panic!()
    };
    assert_eq!(r.results.len(), 1);
    let topic = &r.results[0].topics[0];
    assert_eq!(topic.partitions.len(), 2);
    assert!(topic.partitions[0].partition_size > 0);
    assert_eq!(topic.partitions[1].partition_size, 0);
    let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(name("t"))
        .with_partition_indexes(vec![0, 1, 9])]);
    let ResponseKind::DescribeProducers(r) =
        response(call(&t.broker, ApiKey::DescribeProducers, 0, &req))
    else {
        panic!()
    };
    let parts = &r.topics[0].partitions;
    let p0 = &parts[0].active_producers;
    assert_eq!(p0.len(), 1);
    assert_eq!(
        (
            p0[0].producer_id.0,
            p0[0].producer_epoch,
            p0[0].last_sequence,
            p0[0].last_timestamp
        ),
        (42, 3, 0, 777)
    );
    assert!(parts[1].active_producers.is_empty());
    assert_eq!(
        parts[2].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

/// A disk that fills up: writes fail with ENOSPC (after writing part of their bytes) while `full`.
#[derive(Debug, Default)]
struct FullDisk {
    full: std::sync::atomic::AtomicBool,
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

#[test]
fn a_full_disk_answers_kafka_storage_error_and_loses_nothing() {
    let disk = std::sync::Arc::new(FullDisk::default());
    let t = crate::testutil::broker_with(strikemq_storage::StoreConfig {
        log: strikemq_storage::LogConfig {
            files: disk.clone(),
            ..Default::default()
        },
    });
    create(&t, "t", 1);
    assert_eq!(produce_code(&t, "t", batch(&["a", "b"], 0), 1), (0, 0));
    disk.full.store(true, std::sync::atomic::Ordering::SeqCst);
    for acks in [1, -1] {
        let (code, _) = produce_code(&t, "t", batch(&["lost"], 0), acks);
        assert_eq!(code, ResponseError::KafkaStorageError.code());
    }
    disk.full.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(produce_code(&t, "t", batch(&["c"], 0), 1), (0, 2));
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 0, 1, 0),
    )) else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 3));
    let records = p.records.clone().unwrap();
    let got: Vec<String> = strikemq_codec::batch::batches(&records)
        .flat_map(|b| strikemq_codec::batch::decode_records(&b.unwrap()).unwrap())
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(got, ["a", "b", "c"]);
}

/// A batch of one record whose value is `size` bytes.
fn big_batch(size: usize) -> bytes::Bytes {
    batch(&[&"x".repeat(size)], 0)
}

/// Fetch of partitions `(partition, partition_max_bytes)` of `topic` from offset 0, in the
/// order given, within `max_bytes`; returns the record bytes of each partition, in that order.
fn fetch_sizes(
    t: &TestBroker,
    topic: &str,
    partitions: &[(i32, i32)],
    max_bytes: i32,
    min_bytes: i32,
    now: Instant,
) -> Outcome {
    let req = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, max)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(max)
                    })
                    .collect(),
            )]);
    call_at(&t.broker, ApiKey::Fetch, 12, &req, now)
}

fn record_lengths(outcome: Outcome) -> Vec<usize> {
    let ResponseKind::Fetch(r) = response(outcome) else {
        panic!()
    };
    r.responses[0]
        .partitions
        .iter()
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .collect()
}

/// KIP-74, as Kafka applies it: only the first partition with data may exceed max_bytes (and
/// its partition_max_bytes), by its first batch; every later partition gets data only within
/// what is left, cut at the limit, and nothing when its first batch does not fit. A consumer
/// with fetch.max.bytes=1000000 reading partitions of 900 KiB records used to get two whole
/// batches (1.8 MB) and refuse every answer.
#[test]
fn fetch_stays_within_max_bytes_except_for_the_first_batch() {
    let t = broker();
    create(&t, "big", 3);
    let big = big_batch(900 * 1024);
    let n = big.len();
    for p in 0..3 {
        for _ in 0..2 {
            let r = call(
                &t.broker,
                ApiKey::Produce,
                9,
                &produce_req("big", p, big.clone(), 1),
            );
            let ResponseKind::Produce(r) = response(r) else {
                panic!()
            };
            assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        }
    }
    let now = Instant::now();
    let all = |max| vec![(0, max), (1, max), (2, max)];
    // The first partition takes its first batch (the second does not fit in max_bytes);
    // the others' first batches do not fit in what is left.
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(1 << 21), 1_000_000, 1, now)),
        [n, 0, 0]
    );
    // max_bytes under one batch: the first batch alone, whole.
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(1 << 21), 1000, 1, now)),
        [n, 0, 0]
    );
    // partition_max_bytes under one batch: the first partition's first batch, then nothing.
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(1000), 1 << 24, 1, now)),
        [n, 0, 0]
    );
    // Room for two batches and a half: the third partition's first batch does not fit in
    // what is left, so it gets nothing (not a partial batch).
    let limit = n as i32 * 5 / 2;
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(n as i32), limit, 1, now)),
        [n, n, 0]
    );
    // A later partition whose first batch fits gets the whole batches that fit in what is
    // left (Kafka would add the next batch cut short, which clients drop).
    create(&t, "small", 2);
    let small = big_batch(10_000);
    let m = small.len();
    for (p, count) in [(0, 2), (1, 4)] {
        for _ in 0..count {
            let r = call(
                &t.broker,
                ApiKey::Produce,
                9,
                &produce_req("small", p, small.clone(), 1),
            );
            let ResponseKind::Produce(_) = response(r) else {
                panic!()
            };
        }
    }
    let both = [(0, 1 << 20), (1, 1 << 20)];
    assert_eq!(
        record_lengths(fetch_sizes(&t, "small", &both, (m * 7 / 2) as i32, 1, now)),
        [2 * m, m]
    );
    // ... and within its own partition_max_bytes too.
    let capped = [(0, 1 << 20), (1, (2 * m - 5) as i32)];
    assert_eq!(
        record_lengths(fetch_sizes(&t, "small", &capped, 1 << 20, 1, now)),
        [2 * m, m]
    );
    // The request's order, not the partitions' numbers, decides which one comes first.
    assert_eq!(
        record_lengths(fetch_sizes(
            &t,
            "big",
            &[(2, 1 << 21), (0, 1 << 21)],
            1_000_000,
            1,
            now
        )),
        [n, 0]
    );
    // A partition with no data does not use up the first batch's exception.
    create(&t, "mixed", 2);
    let r = call(
        &t.broker,
        ApiKey::Produce,
        9,
        &produce_req("mixed", 1, big.clone(), 1),
    );
    let ResponseKind::Produce(_) = response(r) else {
        panic!()
    };
    assert_eq!(
        record_lengths(fetch_sizes(
            &t,
            "mixed",
            &[(0, 1000), (1, 1000)],
            1000,
            1,
            now
        )),
        [0, n]
    );
    // A parked fetch follows the same rule when new data wakes it.
    create(&t, "late", 2);
    let Outcome::Park(parked) =
        fetch_sizes(&t, "late", &[(0, 1 << 21), (1, 1 << 21)], 1_000_000, 1, now)
    else {
        panic!("expected the fetch to wait")
    };
    for p in 0..2 {
        let r = call(
            &t.broker,
            ApiKey::Produce,
            9,
            &produce_req("late", p, big.clone(), 1),
        );
        let ResponseKind::Produce(_) = response(r) else {
            panic!()
        };
    }
    assert_eq!(
        record_lengths(t.broker.resume(parked, now + Duration::from_millis(10))),
        [n, 0]
    );
}

/// A request the broker would decode for every advertised API at every version, with every
/// field at its default.
fn default_request(key: ApiKey) -> Option<RequestKind> {
    macro_rules! kinds {
        ($($api:ident),* $(,)?) => {
            match key {
                $(ApiKey::$api => Some(RequestKind::$api(Default::default())),)*
                _ => None,
            }
        };
    }
    kinds!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        DescribeConfigs,
        AlterConfigs,
        DescribeLogDirs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        OffsetDelete,
        DescribeCluster,
        DescribeProducers,
        DescribeTopicPartitions,
    )
}

/// Every (API, version) in the versions table reaches a handler: none falls through to the
/// fallback that closes the connection (it used to answer nothing, leaving clients waiting).
#[test]
fn every_advertised_api_and_version_reaches_a_handler() {
    let t = broker();
    let mut asked = 0;
    for range in strikemq_codec::versions::supported_apis() {
        for version in range.min..=range.max {
            if !strikemq_codec::versions::is_decodable(range.key, version) {
                continue; // Produce v0-2: advertised, refused by the codec as Kafka 4 does.
            }
            let body = default_request(range.key)
                .unwrap_or_else(|| panic!("{:?} is advertised: add it here", range.key));
            let req = strikemq_codec::request::Request {
                api_key: range.key,
                api_version: version,
                correlation_id: 7,
                client_id: None,
                body: strikemq_codec::request::RequestBody::Kafka(body),
            };
            let outcome = t.broker.handle(req, Instant::now());
            assert!(
                !matches!(outcome, Outcome::Close(_)),
                "{:?} v{version}: {outcome:?}",
                range.key
            );
            asked += 1;
        }
    }
    assert!(asked > 150, "{asked}");
}

/// The fallback itself: a request body no handler serves closes the connection.
#[test]
fn a_request_without_a_handler_closes_the_connection() {
    let t = broker();
    let req = strikemq_codec::request::Request {
        api_key: ApiKey::EndTxn,
        api_version: 0,
        correlation_id: 7,
        client_id: None,
        body: strikemq_codec::request::RequestBody::Kafka(RequestKind::EndTxn(Default::default())),
    };
    assert!(matches!(
        t.broker.handle(req, Instant::now()),
        Outcome::Close(_)
    ));
}

fn topic_config(t: &TestBroker, topic: &str, key: &str) -> (String, i8) {
    use strikemq_codec::messages::describe_configs_request::DescribeConfigsResource;
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configuration_keys(Some(vec![StrBytes::from_string(
                key.to_owned(),
            )]))]);
    let ResponseKind::DescribeConfigs(r) =
        response(call(&t.broker, ApiKey::DescribeConfigs, 4, &req))
    else {
        panic!()
    };
    let c = &r.results[0].configs[0];
    (
        c.value.as_deref().unwrap_or_default().to_owned(),
        c.config_source,
    )
}

/// Every broker-level setting Kafka lets a topic inherit reaches the topics without their own
/// value, described as STATIC_BROKER_CONFIG when it differs from Kafka's default; the
/// retention flags used to feed only DescribeConfigs of the broker.
#[test]
fn broker_level_settings_reach_topics_without_their_own() {
    const STATIC: i8 = 4;
    const DEFAULT: i8 = 5;
    let cases = [
        (
            BrokerConfig {
                retention_ms: 2000,
                ..BrokerConfig::default()
            },
            "retention.ms",
            "2000",
        ),
        (
            BrokerConfig {
                retention_bytes: 5000,
                ..BrokerConfig::default()
            },
            "retention.bytes",
            "5000",
        ),
        (
            BrokerConfig {
                segment_bytes: 2 << 20,
                ..BrokerConfig::default()
            },
            "segment.bytes",
            "2097152",
        ),
        (
            BrokerConfig {
                max_message_bytes: 3000,
                ..BrokerConfig::default()
            },
            "max.message.bytes",
            "3000",
        ),
    ];
    for (config, key, value) in cases {
        let t = broker_configured(Default::default(), config);
        create(&t, "t", 1);
        assert_eq!(
            topic_config(&t, "t", key),
            (value.to_owned(), STATIC),
            "{key}"
        );
        // The default broker describes Kafka's default.
        let plain = broker();
        create(&plain, "t", 1);
        assert_eq!(topic_config(&plain, "t", key).1, DEFAULT, "{key}");
    }
    // They act: message.max.bytes refuses a larger batch on a topic without its own limit...
    let t = broker_configured(
        Default::default(),
        BrokerConfig {
            max_message_bytes: 3000,
            ..BrokerConfig::default()
        },
    );
    create(&t, "t", 1);
    let (code, _) = produce_code(&t, "t", batch(&[&"x".repeat(5000)], 0), 1);
    assert_eq!(code, ResponseError::MessageTooLarge.code());
    // ...and log.retention.ms deletes expired records at the next retention check.
    let t = broker_configured(
        Default::default(),
        BrokerConfig {
            retention_ms: 2000,
            retention_check_interval: Duration::from_millis(1),
            ..BrokerConfig::default()
        },
    );
    create(&t, "t", 1);
    assert_eq!(
        produce_code(&t, "t", batch(&["old", "older"], 1_600_000_000_000), 1).0,
        0
    );
    t.broker.clean_logs(Instant::now() + Duration::from_secs(1));
    let log = t.broker.store().topic("t").unwrap();
    let log = log.partition(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
}
