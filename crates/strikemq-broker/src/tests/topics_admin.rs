//! Topic administration: create, delete, partitions, records, log dirs, producers.

use strikemq_codec::messages::create_topics_request::CreatableTopic;
use strikemq_codec::messages::delete_topics_request::DeleteTopicState;
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;

use crate::testutil::*;

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
