//! KIP-848 consumer groups through the coordinator's public calls.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strikemq_codec::ResponseError;
use uuid::Uuid;

use crate::{
    ConsumerHeartbeat, ConsumerHeartbeatResponse, GroupConfig, GroupCoordinator, TopicView,
};

#[derive(Default)]
struct Topics(RefCell<BTreeMap<String, (Uuid, i32)>>);

impl Topics {
    fn with(topics: &[(&str, i32)]) -> Topics {
        let t = Topics::default();
        for (i, (name, n)) in topics.iter().enumerate() {
            t.0.borrow_mut()
                .insert(name.to_string(), (Uuid::from_u128(i as u128 + 1), *n));
        }
        t
    }
    fn id(&self, name: &str) -> Uuid {
        self.0.borrow()[name].0
    }
}

impl TopicView for Topics {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        self.0.borrow().get(name).copied()
    }
    fn name_of(&self, id: Uuid) -> Option<String> {
        self.0
            .borrow()
            .iter()
            .find(|(_, (i, _))| *i == id)
            .map(|(n, _)| n.clone())
    }
    fn names(&self) -> Vec<String> {
        self.0.borrow().keys().cloned().collect()
    }
}

struct H {
    c: GroupCoordinator,
    topics: Topics,
    now: Instant,
}

fn join(member: &str, topics: &[&str]) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        version: 1,
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
        owned: Some(Vec::new()),
        client_id: "app".into(),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

fn beat(member: &str, epoch: i32, owned: Option<Vec<(Uuid, Vec<i32>)>>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        version: 1,
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned,
        client_id: "app".into(),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

impl H {
    fn new(topics: &[(&str, i32)]) -> H {
        H {
            c: GroupCoordinator::new(GroupConfig::default()),
            topics: Topics::with(topics),
            now: Instant::now(),
        }
    }
    fn send(&mut self, req: ConsumerHeartbeat) -> ConsumerHeartbeatResponse {
        self.c.consumer_heartbeat(req, &self.topics, self.now)
    }
    fn parts(r: &ConsumerHeartbeatResponse) -> Vec<i32> {
        r.assignment
            .as_ref()
            .map(|a| a.iter().flat_map(|(_, ps)| ps.iter().copied()).collect())
            .unwrap_or_default()
    }
}

#[test]
fn a_lone_member_gets_every_partition_at_the_first_epoch() {
    let mut h = H::new(&[("t", 3)]);
    let r = h.send(join("a", &["t"]));
    assert_eq!(r.error, None);
    assert_eq!(r.member_epoch, 2);
    assert_eq!(r.member_id.as_deref(), Some("a"));
    assert_eq!(r.heartbeat_interval_ms, 5000);
    assert_eq!(H::parts(&r), vec![0, 1, 2]);
    let d = h.c.consumer_describe("g", &h.topics).unwrap();
    assert_eq!(
        (d.state, d.group_epoch, d.assignment_epoch),
        ("Stable", 2, 2)
    );
    assert_eq!(d.assignor, "uniform");
    // A heartbeat that changes nothing carries no assignment.
    let t = h.topics.id("t");
    let r = h.send(beat("a", 2, None));
    assert_eq!((r.member_epoch, r.assignment.clone()), (2, None));
    let listed = h.c.list();
    assert_eq!(
        (listed[0].group_type, listed[0].state_name),
        ("consumer", "Stable")
    );
    // A full heartbeat (after an error, say) gets the assignment again.
    let mut full = beat("a", 2, Some(vec![(t, vec![0, 1, 2])]));
    full.rebalance_timeout_ms = 30_000;
    full.subscribed_topic_names = Some(vec!["t".into()]);
    assert_eq!(H::parts(&h.send(full)), vec![0, 1, 2]);
}

#[test]
fn partitions_are_revoked_before_they_move_to_a_new_member() {
    let mut h = H::new(&[("t", 4)]);
    let t = h.topics.id("t");
    assert_eq!(H::parts(&h.send(join("a", &["t"]))), vec![0, 1, 2, 3]);
    // b joins: epoch 3 (the first join took two: the member and its topics); it gets nothing yet, a still holds its partitions.
    let b = h.send(join("b", &["t"]));
    assert_eq!(b.member_epoch, 3);
    assert_eq!(H::parts(&b), Vec::<i32>::new());
    assert_eq!(
        h.c.consumer_describe("g", &h.topics).unwrap().state,
        "Reconciling"
    );
    // a is told to keep half: it stays at epoch 2 until it revokes the rest.
    let a = h.send(beat("a", 2, Some(vec![(t, vec![0, 1, 2, 3])])));
    assert_eq!(a.member_epoch, 2);
    let kept = H::parts(&a);
    assert_eq!(kept.len(), 2);
    // Still owned: nothing moves.
    let a = h.send(beat("a", 2, Some(vec![(t, vec![0, 1, 2, 3])])));
    assert_eq!((a.member_epoch, a.assignment), (2, None));
    assert_eq!(
        H::parts(&h.send(beat("b", 3, Some(vec![])))),
        Vec::<i32>::new()
    );
    // a revokes: it reaches epoch 3, and b then gets the other half.
    let a = h.send(beat("a", 2, Some(vec![(t, kept.clone())])));
    assert_eq!(a.member_epoch, 3);
    let got = H::parts(&h.send(beat("b", 3, Some(vec![]))));
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|p| !kept.contains(p)));
    assert_eq!(
        h.c.consumer_describe("g", &h.topics).unwrap().state,
        "Stable"
    );
}

#[test]
fn epochs_are_fenced_and_unknown_members_told_so() {
    let mut h = H::new(&[("t", 2)]);
    let t = h.topics.id("t");
    h.send(join("a", &["t"]));
    let r = h.send(beat("a", 6, None));
    assert_eq!(r.error.map(|e| e.0), Some(ResponseError::FencedMemberEpoch));
    let r = h.send(beat("nobody", 2, None));
    assert_eq!(r.error.map(|e| e.0), Some(ResponseError::UnknownMemberId));
    // The previous epoch with a subset of the assignment is accepted (a lost answer).
    h.send(join("b", &["t"]));
    let a = h.send(beat("a", 2, Some(vec![(t, vec![0, 1])])));
    let kept = H::parts(&a);
    let a = h.send(beat("a", 2, Some(vec![(t, kept.clone())])));
    assert_eq!(a.member_epoch, 3);
    let again = h.send(beat("a", 2, Some(vec![(t, kept)])));
    assert_eq!(again.error, None);
    assert_eq!(again.member_epoch, 3);
    let stale = h.send(beat("a", 2, Some(vec![(t, vec![0, 1])])));
    assert_eq!(
        stale.error.map(|e| e.0),
        Some(ResponseError::FencedMemberEpoch)
    );
    // Unknown group.
    let mut r = beat("a", 2, None);
    r.group_id = "other".into();
    assert_eq!(
        h.send(r).error.map(|e| e.0),
        Some(ResponseError::GroupIdNotFound)
    );
}

#[test]
fn requests_are_validated_as_kafka_does() {
    let mut h = H::new(&[("t", 1)]);
    let mut r = join("a", &["t"]);
    r.rebalance_timeout_ms = -1;
    assert_eq!(
        h.send(r).error,
        Some((
            ResponseError::InvalidRequest,
            Some("RebalanceTimeoutMs must be provided in first request.".into())
        ))
    );
    let mut r = join("a", &["t"]);
    r.server_assignor = Some("sticky".into());
    assert_eq!(
        h.send(r).error.map(|e| e.0),
        Some(ResponseError::UnsupportedAssignor)
    );
    let mut r = join("a", &[]);
    r.subscribed_topic_names = None;
    r.subscribed_topic_regex = Some("(".into());
    assert_eq!(
        h.send(r).error.map(|e| e.0),
        Some(ResponseError::InvalidRegularExpression)
    );
    let r = join("", &["t"]);
    assert_eq!(
        h.send(r).error.map(|e| e.0),
        Some(ResponseError::InvalidRequest)
    );
    let mut r = join("a", &["t"]);
    r.member_epoch = -3;
    assert_eq!(
        h.send(r).error.map(|e| e.0),
        Some(ResponseError::InvalidRequest)
    );
    // v0 may leave the member id to the coordinator.
    let mut r = join("", &["t"]);
    r.version = 0;
    let got = h.send(r);
    assert_eq!(got.error, None);
    assert!(!got.member_id.unwrap_or_default().is_empty());
}

#[test]
fn leaving_and_timing_out_give_the_partitions_to_the_others() {
    let mut h = H::new(&[("t", 2)]);
    let t = h.topics.id("t");
    h.send(join("a", &["t"]));
    h.send(join("b", &["t"]));
    let a = h.send(beat("a", 2, Some(vec![(t, vec![0, 1])])));
    let kept = H::parts(&a);
    h.send(beat("a", 2, Some(vec![(t, kept)])));
    let r = h.send(beat("b", 3, Some(vec![])));
    assert_eq!(H::parts(&r).len(), 1);
    // a leaves: b gets both at the next epoch.
    let left = h.send(beat("a", -1, None));
    assert_eq!((left.error, left.member_epoch), (None, -1));
    let r = h.send(beat("b", 3, None));
    assert_eq!((r.member_epoch, H::parts(&r)), (4, vec![0, 1]));
    // c joins and then stops heartbeating: after the session it is fenced.
    h.send(join("c", &["t"]));
    h.now += Duration::from_secs(30);
    assert_eq!(h.send(beat("b", 4, None)).error, None);
    h.now += Duration::from_secs(20);
    h.c.tick(h.now);
    let gone = h.send(beat("c", 5, None));
    assert_eq!(
        gone.error.map(|e| e.0),
        Some(ResponseError::UnknownMemberId)
    );
    let d = h.c.consumer_describe("g", &h.topics).unwrap();
    assert_eq!(d.members.len(), 1);
    // The last member leaves: the group stays, empty, with its offsets' place.
    h.send(beat("b", d.members[0].member.epoch, None));
    let r = h.send(ConsumerHeartbeat {
        member_epoch: -1,
        ..beat("b", -1, None)
    });
    assert_eq!(r.error, None);
    assert_eq!(
        h.c.consumer_describe("g", &h.topics).unwrap().state,
        "Empty"
    );
    assert_eq!(h.c.delete("g"), Ok(vec![]));
}

#[test]
fn a_static_member_comes_back_to_its_partitions() {
    let mut h = H::new(&[("t", 2)]);
    let mut r = join("a1", &["t"]);
    r.instance_id = Some("i".into());
    assert_eq!(H::parts(&h.send(r.clone())), vec![0, 1]);
    // The instance id is in use: another member may not take it.
    let mut other = r.clone();
    other.member_id = "a2".into();
    assert_eq!(
        h.send(other.clone()).error.map(|e| e.0),
        Some(ResponseError::UnreleasedInstanceId)
    );
    // It leaves meaning to come back (-2); its partitions wait for it.
    let mut leave = beat("a1", -2, None);
    leave.instance_id = Some("i".into());
    assert_eq!(h.send(leave).member_epoch, -2);
    let back = h.send(other);
    assert_eq!(back.error, None);
    assert_eq!(back.member_epoch, 2);
    assert_eq!(H::parts(&back), vec![0, 1]);
}

#[test]
fn regex_subscriptions_and_new_partitions_are_picked_up() {
    let mut h = H::new(&[("orders-1", 1), ("payments", 1)]);
    let mut r = join("a", &[]);
    r.subscribed_topic_names = None;
    r.subscribed_topic_regex = Some("orders-.*".into());
    let got = h.send(r);
    assert_eq!(got.assignment.as_ref().map(Vec::len), Some(1));
    // A matching topic is created and the first grows: the group epoch moves on.
    h.topics
        .0
        .borrow_mut()
        .insert("orders-2".into(), (Uuid::from_u128(9), 2));
    h.topics.0.borrow_mut().get_mut("orders-1").unwrap().1 = 3;
    let r = h.send(beat("a", 2, None));
    assert_eq!(r.member_epoch, 3);
    let n: usize = r.assignment.unwrap().iter().map(|(_, ps)| ps.len()).sum();
    assert_eq!(n, 5);
}

#[test]
fn offsets_are_checked_against_the_member_epoch() {
    let mut h = H::new(&[("t", 1)]);
    h.send(join("a", &["t"]));
    assert_eq!(h.c.validate_commit("g", 2, "a", None, 9, h.now), Ok(()));
    assert_eq!(
        h.c.validate_commit("g", 3, "a", None, 9, h.now),
        Err(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(
        h.c.validate_commit("g", 2, "x", None, 9, h.now),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.c.validate_commit("g", 2, "a", None, 8, h.now),
        Err(ResponseError::UnsupportedVersion)
    );
    assert_eq!(h.c.validate_fetch("g", Some("a"), 2), Ok(()));
    assert_eq!(
        h.c.validate_fetch("g", Some("a"), 1),
        Err(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(h.c.validate_fetch("g", None, -1), Ok(()));
}

#[test]
fn the_group_is_rebuilt_from_its_records() {
    let mut h = H::new(&[("t", 2)]);
    h.send(join("a", &["t"]));
    h.send(join("b", &["t"]));
    let records = h.c.take_consumer_group_changes();
    assert!(!records.is_empty());
    let mut back = GroupCoordinator::new(GroupConfig::default());
    for r in records {
        back.restore_consumer_group(r, h.now);
    }
    assert_eq!(
        back.consumer_describe("g", &h.topics),
        h.c.consumer_describe("g", &h.topics)
    );
    assert_eq!(
        back.consumer_group_snapshot(),
        h.c.consumer_group_snapshot()
    );
    // The restored members go on heartbeating at their epochs.
    let r = back.consumer_heartbeat(beat("b", 3, None), &h.topics, h.now);
    assert_eq!((r.error, r.member_epoch), (None, 3));
}

#[test]
fn classic_and_consumer_groups_keep_to_their_protocols() {
    let mut h = H::new(&[("t", 1)]);
    h.send(join("a", &["t"]));
    assert!(h.c.is_consumer_group("g"));
    assert_eq!(h.c.delete("g"), Err(ResponseError::NonEmptyGroup));
    // A classic join of a live consumer group is refused.
    let classic = crate::JoinRequest {
        group_id: "g".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), bytes::Bytes::new())],
        ..Default::default()
    };
    assert!(matches!(
        h.c.join(classic.clone(), h.now),
        crate::Reply::Now(r) if r.error == Some(ResponseError::InconsistentGroupProtocol)
    ));
    // Once empty it becomes a classic group again.
    h.send(beat("a", -1, None));
    assert!(!matches!(
        h.c.join(classic, h.now),
        crate::Reply::Now(r) if r.error.is_some()
    ));
    assert!(!h.c.is_consumer_group("g"));
}
