//! Share groups (KIP-932) through the broker: membership, acquisition, acknowledgement, lock
//! expiry, sessions, group configs and the share-partition state across a restart.

use std::time::{Duration, Instant};

use strikemq_codec::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use strikemq_codec::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatchReq,
};
use strikemq_codec::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic,
};
use strikemq_codec::messages::*;
use strikemq_codec::{ResponseError, StrBytes};
use uuid::Uuid;

use crate::testutil::*;
use crate::Broker;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

const GROUP: &str = "sg";

fn heartbeat(b: &Broker, member: &str, epoch: i32) -> ShareGroupHeartbeatResponse {
    let mut req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s(member))
        .with_member_epoch(epoch);
    if epoch == 0 {
        req = req.with_subscribed_topic_names(Some(vec![name("t")]));
    }
    let ResponseKind::ShareGroupHeartbeat(r) =
        response(call(b, ApiKey::ShareGroupHeartbeat, 1, &req))
    else {
        panic!()
    };
    r
}

fn earliest(b: &Broker) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(s(GROUP))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s("share.auto.offset.reset"))
                .with_config_operation(0)
                .with_value(Some(s("earliest")))]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) =
        response(call(b, ApiKey::IncrementalAlterConfigs, 1, &req))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0, "{r:?}");
}

/// One ShareFetch of partition 0 of `topic`, with acknowledgements; answered at once.
fn share_fetch(
    b: &Broker,
    member: &str,
    epoch: i32,
    topic: Uuid,
    acks: Vec<(i64, i64, i8)>,
    now: Instant,
) -> ShareFetchResponse {
    let req = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s(GROUP))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_max_records(100)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![FetchPartition::default()
                .with_partition_index(0)
                .with_partition_max_bytes(1 << 20)
                .with_acknowledgement_batches(
                    acks.into_iter()
                        .map(|(f, l, t)| {
                            AcknowledgementBatch::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(vec![t])
                        })
                        .collect(),
                )])]);
    let ResponseKind::ShareFetch(r) = response(call_at(b, ApiKey::ShareFetch, 1, &req, now)) else {
        panic!()
    };
    r
}

fn acknowledge(
    b: &Broker,
    member: &str,
    epoch: i32,
    topic: Uuid,
    acks: Vec<(i64, i64, i8)>,
) -> ShareAcknowledgeResponse {
    let req = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(s(GROUP))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(
                    acks.into_iter()
                        .map(|(f, l, t)| {
                            AckBatchReq::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(vec![t])
                        })
                        .collect(),
                )])]);
    let ResponseKind::ShareAcknowledge(r) = response(call(b, ApiKey::ShareAcknowledge, 1, &req))
    else {
        panic!()
    };
    r
}

/// (first, last, delivery count) of each acquired range.
fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.acquired_records)
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect()
}

fn setup(b: &Broker) -> Uuid {
    b.store().create_topic("t", 1, Default::default()).unwrap();
    earliest(b);
    let values: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let ResponseKind::Produce(p) = response(call(
        b,
        ApiKey::Produce,
        9,
        &produce_req("t", 0, batch(&refs, 0), 1),
    )) else {
        panic!()
    };
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    b.store().topic("t").unwrap().id()
}

#[test]
fn members_share_a_partition_and_records_are_acquired_acknowledged_and_redelivered() {
    let t = broker();
    let b = &t.broker;
    let topic = setup(b);
    let a = heartbeat(b, "a", 0);
    assert_eq!(a.error_code, 0, "{a:?}");
    let parts = a.assignment.unwrap().topic_partitions;
    assert_eq!(
        (parts[0].topic_id, parts[0].partitions.clone()),
        (topic, vec![0])
    );
    let joined = heartbeat(b, "b", 0);
    assert_eq!(
        joined.assignment.unwrap().topic_partitions[0].partitions,
        vec![0]
    );
    // a is told of the new epoch; its assignment is unchanged (both share partition 0).
    let a2 = heartbeat(b, "a", a.member_epoch);
    assert_eq!(a2.member_epoch, joined.member_epoch);

    let now = Instant::now();
    let first = share_fetch(b, "a", 0, topic, vec![], now);
    assert_eq!(first.error_code, 0);
    assert_eq!(acquired(&first), vec![(0, 4, 1)]);
    assert_eq!(first.acquisition_lock_timeout_ms, 30_000);
    // b finds nothing: every record is locked to a.
    assert_eq!(
        acquired(&share_fetch(b, "b", 0, topic, vec![], now)),
        vec![]
    );

    // a accepts 0-1, releases 2, rejects 3 and keeps 4.
    let acks = vec![(0, 1, 1), (2, 2, 2), (3, 3, 3)];
    let r = acknowledge(b, "a", 1, topic, acks);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    // b gets the released record, delivered a second time.
    assert_eq!(
        acquired(&share_fetch(b, "b", 1, topic, vec![], now)),
        vec![(2, 2, 2)]
    );
    // a may not acknowledge what b holds now, nor 3 again.
    let r = acknowledge(b, "a", 2, topic, vec![(2, 2, 1)]);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::InvalidRecordState.code()
    );
    // Past a's lock on 4, b gets it.
    let later = now + Duration::from_secs(31);
    let r = share_fetch(b, "b", 2, topic, vec![(2, 2, 1)], later);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.acknowledge_error_code, 0);
    assert_eq!(acquired(&r), vec![(4, 4, 2)]);

    // Sessions: a wrong epoch, and an unknown member.
    assert_eq!(
        share_fetch(b, "b", 7, topic, vec![], later).error_code,
        ResponseError::InvalidShareSessionEpoch.code()
    );
    assert_eq!(
        share_fetch(b, "nobody", 0, topic, vec![], later).error_code,
        ResponseError::UnknownMemberId.code()
    );
    // b leaves: what it holds (4) is available again.
    let leave = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("b"))
        .with_member_epoch(-1);
    let ResponseKind::ShareGroupHeartbeat(r) =
        response(call(b, ApiKey::ShareGroupHeartbeat, 1, &leave))
    else {
        panic!()
    };
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    assert_eq!(
        acquired(&share_fetch(b, "a", 0, topic, vec![], later)),
        vec![(4, 4, 3)]
    );

    // ShareGroupDescribe and ListGroups see one share group with one member.
    let req = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(GROUP))]);
    let ResponseKind::ShareGroupDescribe(d) =
        response(call(b, ApiKey::ShareGroupDescribe, 1, &req))
    else {
        panic!()
    };
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str()), (0, "Stable"));
    assert_eq!(g.assignor_name.as_str(), "simple");
    assert_eq!(g.members.len(), 1);
    assert_eq!(
        g.members[0].assignment.topic_partitions[0]
            .topic_name
            .0
            .as_str(),
        "t"
    );
    let req = ListGroupsRequest::default().with_types_filter(vec![s("share")]);
    let ResponseKind::ListGroups(l) = response(call(b, ApiKey::ListGroups, 5, &req)) else {
        panic!()
    };
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_type.as_str(), "share");
}

#[test]
fn heartbeats_are_validated_and_groups_of_other_types_refused() {
    let t = broker();
    let b = &t.broker;
    b.store().create_topic("t", 1, Default::default()).unwrap();
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("m"))
        .with_member_epoch(0);
    let ResponseKind::ShareGroupHeartbeat(r) =
        response(call(b, ApiKey::ShareGroupHeartbeat, 1, &req))
    else {
        panic!()
    };
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("SubscribedTopicNames must be set in first request.")
    );
    let r = heartbeat(b, "ghost", 3);
    assert_eq!(r.error_code, ResponseError::GroupIdNotFound.code());
    let joined = heartbeat(b, "m", 0);
    let r = heartbeat(b, "m", joined.member_epoch + 1);
    assert_eq!(r.error_code, ResponseError::FencedMemberEpoch.code());
    let r = heartbeat(b, "other", 2);
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    // A KIP-848 heartbeat to the share group is refused.
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("c"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name("t")]))
        .with_topic_partitions(Some(Vec::new()));
    let ResponseKind::ConsumerGroupHeartbeat(r) =
        response(call(b, ApiKey::ConsumerGroupHeartbeat, 1, &req))
    else {
        panic!()
    };
    assert_eq!(r.error_code, ResponseError::GroupIdNotFound.code());
}

#[test]
fn share_partition_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        Broker::new(crate::BrokerConfig::default(), store).unwrap()
    };
    let topic = {
        let b = open();
        let topic = setup(&b);
        heartbeat(&b, "a", 0);
        let now = Instant::now();
        assert_eq!(
            acquired(&share_fetch(&b, "a", 0, topic, vec![], now)),
            vec![(0, 4, 1)]
        );
        // Accept 0-2; 3 and 4 are still held when the broker stops.
        let r = acknowledge(&b, "a", 1, topic, vec![(0, 2, 1)]);
        assert_eq!(r.responses[0].partitions[0].error_code, 0);
        b.close().unwrap();
        topic
    };
    let b = open();
    // The group config survived too (else a new share-partition would start at the end).
    heartbeat(&b, "z", 0);
    let r = share_fetch(&b, "z", 0, topic, vec![], Instant::now());
    assert_eq!(
        acquired(&r),
        vec![(3, 4, 2)],
        "3 and 4 come back, delivered a second time"
    );
    b.close().unwrap();
}

/// AlterShareGroupOffsets moves an empty share group's start; DeleteShareGroupOffsets forgets
/// it (the next member starts where `share.auto.offset.reset` says); a group with members is
/// refused.
#[test]
fn share_group_offsets_are_described_altered_and_deleted() {
    use strikemq_codec::messages::alter_share_group_offsets_request::{
        AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
    };
    use strikemq_codec::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
    use strikemq_codec::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
    let t = broker();
    let b = &t.broker;
    let topic = setup(b);
    heartbeat(b, "a", 0);
    let alter = AlterShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
            .with_topic_name(name("t"))
            .with_partitions(vec![
                AlterShareGroupOffsetsRequestPartition::default()
                    .with_partition_index(0)
                    .with_start_offset(3),
            ])]);
    let alter_code = |b: &Broker| {
        let ResponseKind::AlterShareGroupOffsets(r) =
            response(call(b, ApiKey::AlterShareGroupOffsets, 0, &alter))
        else {
            panic!()
        };
        r.error_code
    };
    assert_eq!(alter_code(b), ResponseError::NonEmptyGroup.code());
    let leave = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("a"))
        .with_member_epoch(-1);
    response(call(b, ApiKey::ShareGroupHeartbeat, 1, &leave));
    assert_eq!(alter_code(b), 0);
    let describe = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(None),
    ]);
    let ResponseKind::DescribeShareGroupOffsets(d) =
        response(call(b, ApiKey::DescribeShareGroupOffsets, 0, &describe))
    else {
        panic!()
    };
    assert_eq!(d.groups[0].topics[0].partitions[0].start_offset, 3, "{d:?}");
    heartbeat(b, "z", 0);
    let now = Instant::now();
    assert_eq!(
        acquired(&share_fetch(b, "z", 0, topic, vec![], now)),
        vec![(3, 4, 1)]
    );
    let r = share_fetch(b, "z", -1, topic, vec![], now);
    assert_eq!(r.error_code, 0);
    response(call(
        b,
        ApiKey::ShareGroupHeartbeat,
        1,
        &leave.clone().with_member_id(s("z")),
    ));
    let delete = DeleteShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_topics(vec![
            DeleteShareGroupOffsetsRequestTopic::default().with_topic_name(name("t"))
        ]);
    let ResponseKind::DeleteShareGroupOffsets(r) =
        response(call(b, ApiKey::DeleteShareGroupOffsets, 0, &delete))
    else {
        panic!()
    };
    assert_eq!((r.error_code, r.responses[0].error_code), (0, 0));
    // Forgotten: the next member starts again from the earliest offset (the group config).
    heartbeat(b, "y", 0);
    assert_eq!(
        acquired(&share_fetch(b, "y", 0, topic, vec![], now)),
        vec![(0, 4, 1)]
    );
}
