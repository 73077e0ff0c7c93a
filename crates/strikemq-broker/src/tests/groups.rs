//! Consumer group requests through the broker: parking, completions, offsets on disk.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strikemq_codec::messages::join_group_request::JoinGroupRequestProtocol;
use strikemq_codec::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use strikemq_codec::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use strikemq_codec::messages::sync_group_request::SyncGroupRequestAssignment;
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;

use crate::testutil::*;
use crate::{Broker, Outcome};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn join_req(member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"sub"))])
}

fn join_now(b: &Broker, member: &str) -> JoinGroupResponse {
    let ResponseKind::JoinGroup(r) = response(call(b, ApiKey::JoinGroup, 9, &join_req(member)))
    else {
        panic!()
    };
    r
}

fn commit(b: &Broker, group: &str, generation: i32, member: &str, topic: &str, offset: i64) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("m")))])]);
    let ResponseKind::OffsetCommit(r) = response(call(b, ApiKey::OffsetCommit, 8, &req)) else {
        panic!()
    };
    r.topics[0].partitions[0].error_code
}

fn fetch_offset(b: &Broker, group: &str, topic: &str, version: i16) -> i64 {
    let req = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![0])]))])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![0])]))
    };
    let ResponseKind::OffsetFetch(r) = response(call(b, ApiKey::OffsetFetch, version, &req)) else {
        panic!()
    };
    if version >= 8 {
        r.groups[0].topics[0].partitions[0].committed_offset
    } else {
        r.topics[0].partitions[0].committed_offset
    }
}

#[test]
fn join_sync_heartbeat_through_the_broker() {
    let t = broker();
    let b = &t.broker;
    let first = join_now(b, "");
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let member = first.member_id.as_str().to_owned();
    // Alone in the group: the join completes within the call.
    let joined = join_now(b, &member);
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    assert_eq!(joined.leader.as_str(), member);
    assert_eq!(joined.members.len(), 1);
    let r = sync_all_to(b, &member);
    assert_eq!((r.error_code, r.assignment.as_ref()), (0, &b"all"[..]));
    assert_eq!(heartbeat(b, 1, &member), 0);

    // A second member parks until the first rejoins.
    let second = join_now(b, "").member_id.as_str().to_owned();
    let Outcome::Park(parked) = call(b, ApiKey::JoinGroup, 9, &join_req(&second)) else {
        panic!("the second member waits")
    };
    assert_eq!(
        heartbeat(b, 1, &member),
        ResponseError::RebalanceInProgress.code()
    );
    let Outcome::Park(parked) = b.resume(parked, Instant::now()) else {
        panic!("still waiting")
    };
    let leader = join_now(b, &member);
    assert_eq!((leader.generation_id, leader.members.len()), (2, 2));
    let ResponseKind::JoinGroup(follower) = response(b.resume(parked, Instant::now())) else {
        panic!()
    };
    assert_eq!(follower.generation_id, 2);
    assert!(follower.members.is_empty());

    // ListGroups and DescribeGroups see it.
    let ResponseKind::ListGroups(r) = response(call(
        b,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default(),
    )) else {
        panic!()
    };
    assert_eq!(r.groups[0].group_state.as_str(), "CompletingRebalance");
    let ResponseKind::DescribeGroups(r) = response(call(
        b,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")), GroupId(s("none"))]),
    )) else {
        panic!()
    };
    assert_eq!(r.groups[0].members.len(), 2);
    assert_eq!(r.groups[0].members[0].client_id.as_str(), "unit");
    assert_eq!(r.groups[1].group_state.as_str(), "Dead");
}

#[test]
fn a_parked_join_is_answered_by_the_timer_when_others_do_not_rejoin() {
    let t = broker();
    let b = &t.broker;
    let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = woken.clone();
    b.set_waker(move || {
        w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let a = join_now(b, "").member_id.as_str().to_owned();
    join_now(b, &a);
    let c = join_now(b, "").member_id.as_str().to_owned();
    let Outcome::Park(parked) = call(b, ApiKey::JoinGroup, 9, &join_req(&c)) else {
        panic!()
    };
    let later = Instant::now() + Duration::from_secs(31);
    let before = woken.load(std::sync::atomic::Ordering::SeqCst);
    b.tick_coordinators(later);
    assert!(woken.load(std::sync::atomic::Ordering::SeqCst) > before);
    let ResponseKind::JoinGroup(r) = response(b.resume(parked, later)) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(r.leader.as_str(), c);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn committed_offsets_survive_a_restart_and_follow_topic_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        Broker::new(crate::BrokerConfig::default(), store).unwrap()
    };
    {
        let b = open();
        b.store().create_topic("t", 1, Default::default()).unwrap();
        b.store().create_topic("u", 1, Default::default()).unwrap();
        assert_eq!(commit(&b, "simple", -1, "", "t", 5), 0);
        assert_eq!(commit(&b, "simple", -1, "", "t", 7), 0);
        assert_eq!(commit(&b, "simple", -1, "", "u", 3), 0);
        assert_eq!(
            commit(&b, "simple", -1, "", "missing", 1),
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            commit(&b, "live", 3, "nobody", "t", 1),
            ResponseError::IllegalGeneration.code()
        );
        b.close().unwrap();
    }
    let b = open();
    assert_eq!(fetch_offset(&b, "simple", "t", 7), 7);
    assert_eq!(fetch_offset(&b, "simple", "t", 9), 7);
    assert_eq!(fetch_offset(&b, "simple", "u", 9), 3);
    assert_eq!(fetch_offset(&b, "other", "t", 9), -1);
    let req = DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("u"))]);
    response(call(&b, ApiKey::DeleteTopics, 4, &req));
    b.close().unwrap();
    drop(b);
    let b = open();
    assert_eq!(fetch_offset(&b, "simple", "u", 9), -1);
    // An empty group can be deleted, with its offsets.
    let req = DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(s("simple")), GroupId(s("nope"))]);
    let ResponseKind::DeleteGroups(r) = response(call(&b, ApiKey::DeleteGroups, 2, &req)) else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(
        r.results[1].error_code,
        ResponseError::GroupIdNotFound.code()
    );
    b.close().unwrap();
    drop(b);
    let b = open();
    assert_eq!(fetch_offset(&b, "simple", "t", 9), -1);
}

fn heartbeat(b: &Broker, generation: i32, member: &str) -> i16 {
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member));
    let ResponseKind::Heartbeat(r) = response(call(b, ApiKey::Heartbeat, 4, &hb)) else {
        panic!()
    };
    r.error_code
}

/// SyncGroup of generation 1 in group "g" by `member`, giving itself everything.
fn sync_all_to(b: &Broker, member: &str) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(s(member))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(member))
            .with_assignment(Bytes::from_static(b"all"))]);
    let ResponseKind::SyncGroup(r) = response(call(b, ApiKey::SyncGroup, 5, &req)) else {
        panic!()
    };
    r
}

/// A member alone in group "g", joined and synced: its id.
fn stable_member(b: &Broker) -> String {
    let member = join_now(b, "").member_id.as_str().to_owned();
    assert_eq!(join_now(b, &member).generation_id, 1);
    assert_eq!(sync_all_to(b, &member).error_code, 0);
    member
}

#[test]
fn the_offsets_log_is_compacted_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        Broker::new(crate::BrokerConfig::default(), store).unwrap()
    };
    let member = {
        let b = open();
        b.store().create_topic("t", 1, Default::default()).unwrap();
        let member = stable_member(&b);
        for i in 0..3000 {
            assert_eq!(commit(&b, "g", 1, &member, "t", i), 0);
        }
        b.close().unwrap();
        member
    };
    let size_of = || {
        std::fs::read_dir(dir.path().join("meta/consumer_offsets"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    let before = size_of();
    let b = open();
    assert_eq!(fetch_offset(&b, "g", "t", 9), 2999);
    assert_eq!(
        heartbeat(&b, 1, &member),
        0,
        "the member is known after a restart"
    );
    b.close().unwrap();
    assert!(size_of() < before / 10, "{} then {}", before, size_of());
    drop(b);
    // The compacted log kept the membership as well as the offsets.
    let b = open();
    assert_eq!(fetch_offset(&b, "g", "t", 9), 2999);
    assert_eq!(heartbeat(&b, 1, &member), 0);
    assert_eq!(
        heartbeat(&b, 1, "stranger"),
        ResponseError::UnknownMemberId.code()
    );
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

fn consumer_heartbeat(
    b: &Broker,
    member: &str,
    epoch: i32,
    join: bool,
) -> ConsumerGroupHeartbeatResponse {
    let mut req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1);
    if join {
        req = req
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("t"))]))
            .with_topic_partitions(Some(Vec::new()));
    }
    let ResponseKind::ConsumerGroupHeartbeat(r) =
        response(call(b, ApiKey::ConsumerGroupHeartbeat, 1, &req))
    else {
        panic!()
    };
    r
}

/// A KIP-848 group's members, epochs and assignments survive a restart: the members go on
/// heartbeating at their epochs, and the group is described as it was.
#[test]
fn consumer_groups_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        Broker::new(crate::BrokerConfig::default(), store).unwrap()
    };
    let describe = |b: &Broker| {
        let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("cg"))]);
        let ResponseKind::ConsumerGroupDescribe(r) =
            response(call(b, ApiKey::ConsumerGroupDescribe, 1, &req))
        else {
            panic!()
        };
        r.groups.into_iter().next().unwrap()
    };
    let before = {
        let b = open();
        b.store().create_topic("t", 4, Default::default()).unwrap();
        let a = consumer_heartbeat(&b, "a", 0, true);
        assert_eq!(a.error_code, 0);
        assert_eq!(
            a.assignment.unwrap().topic_partitions[0].partitions.len(),
            4
        );
        let joined = consumer_heartbeat(&b, "b", 0, true);
        assert_eq!(joined.error_code, 0);
        let d = describe(&b);
        assert_eq!(d.group_state.as_str(), "Reconciling");
        b.close().unwrap();
        d
    };
    let b = open();
    let after = describe(&b);
    assert_eq!(after, before);
    // Both members are known at their epochs; a is still asked to give up two partitions.
    let a = consumer_heartbeat(&b, "a", before.members[0].member_epoch, false);
    assert_eq!(a.error_code, 0);
    let b_epoch = before.members[1].member_epoch;
    assert_eq!(consumer_heartbeat(&b, "b", b_epoch, false).error_code, 0);
    let ghost = consumer_heartbeat(&b, "c", b_epoch, false);
    assert_eq!(ghost.error_code, ResponseError::UnknownMemberId.code());
    // ListGroups shows it as a consumer group.
    let req = ListGroupsRequest::default().with_types_filter(vec![s("consumer")]);
    let ResponseKind::ListGroups(l) = response(call(&b, ApiKey::ListGroups, 5, &req)) else {
        panic!()
    };
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_type.as_str(), "consumer");
    b.close().unwrap();
}
