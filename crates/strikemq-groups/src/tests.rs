//! Whole rebalances driven with a fake clock.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::*;

struct Harness {
    c: GroupCoordinator,
    now: Instant,
    next_waiter: Waiter,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            c: GroupCoordinator::new(GroupConfig::default()),
            now: Instant::now(),
            next_waiter: 1,
        }
    }

    fn advance(&mut self, d: Duration) -> Vec<Completion> {
        self.now += d;
        self.c.tick(self.now);
        self.c.take_completions()
    }

    fn join_req(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        protocols: &[&str],
    ) -> JoinRequest {
        let w = self.next_waiter;
        self.next_waiter += 1;
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            group_instance_id: instance.map(Into::into),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            require_known_member_id: true,
            supports_skip_assignment: true,
            waiter: w,
        }
    }

    /// KIP-394 first join: returns the member id handed out.
    fn new_member_id(&mut self) -> String {
        let req = self.join_req("", None, &["range"]);
        let Reply::Now(r) = self.c.join(req, self.now) else {
            panic!("first join parks")
        };
        assert_eq!(r.error, Some(ResponseError::MemberIdRequired));
        r.member_id
    }

    fn join(&mut self, member_id: &str) -> (Waiter, Reply<JoinResponse>) {
        let req = self.join_req(member_id, None, &["range"]);
        let w = req.waiter;
        (w, self.c.join(req, self.now))
    }

    fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: &[(&str, &str)],
    ) -> (Waiter, Reply<SyncResponse>) {
        let w = self.next_waiter;
        self.next_waiter += 1;
        let req = SyncRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member_id.into(),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
            waiter: w,
            ..SyncRequest::default()
        };
        (w, self.c.sync(req, self.now))
    }

    fn hb(&mut self, member_id: &str, generation: i32) -> Option<ResponseError> {
        self.c.heartbeat("g", member_id, None, generation, self.now)
    }

    /// One member alone: join and sync to Stable. Returns its id.
    fn stable_single(&mut self) -> String {
        let a = self.new_member_id();
        let (w, r) = self.join(&a);
        assert_eq!(r, Reply::Wait);
        let done = self.c.take_completions();
        let Completion::Join(got, resp) = &done[0] else {
            panic!()
        };
        assert_eq!(*got, w);
        assert_eq!((resp.generation_id, resp.leader.as_str()), (1, a.as_str()));
        assert_eq!(resp.members.len(), 1);
        let (_, r) = self.sync(&a, 1, &[(&a, "all")]);
        assert!(matches!(r, Reply::Now(SyncResponse { error: None, .. })));
        assert_eq!(self.c.state("g"), Some(GroupState::Stable));
        a
    }
}

fn joined(done: &[Completion], waiter: Waiter) -> JoinResponse {
    done.iter()
        .find_map(|c| match c {
            Completion::Join(w, r) if *w == waiter => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join completion for {waiter} in {done:?}"))
}

fn synced(done: &[Completion], waiter: Waiter) -> SyncResponse {
    done.iter()
        .find_map(|c| match c {
            Completion::Sync(w, r) if *w == waiter => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync completion for {waiter} in {done:?}"))
}

#[test]
fn two_members_rebalance_and_share_assignments() {
    let mut h = Harness::new();
    let a = h.stable_single();
    let b = h.new_member_id();
    let (wb, r) = h.join(&b);
    assert_eq!(r, Reply::Wait);
    assert_eq!(h.c.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(h.hb(&a, 1), Some(ResponseError::RebalanceInProgress));
    let (wa, r) = h.join(&a);
    assert_eq!(r, Reply::Wait);
    let done = h.c.take_completions();
    let ra = joined(&done, wa);
    let rb = joined(&done, wb);
    assert_eq!(ra.generation_id, 2);
    assert_eq!(ra.leader, a);
    assert_eq!(ra.members.len(), 2);
    assert!(rb.members.is_empty());
    assert_eq!(rb.protocol_name.as_deref(), Some("range"));
    // The follower waits for the leader's assignment.
    let (wsb, r) = h.sync(&b, 2, &[]);
    assert_eq!(r, Reply::Wait);
    assert_eq!(h.hb(&b, 2), None);
    let (_, r) = h.sync(&a, 2, &[(&a, "p0,p1"), (&b, "p2")]);
    let Reply::Now(sa) = r else { panic!() };
    assert_eq!(sa.assignment, Bytes::from("p0,p1"));
    let done = h.c.take_completions();
    assert_eq!(synced(&done, wsb).assignment, Bytes::from("p2"));
    assert_eq!(h.c.state("g"), Some(GroupState::Stable));
    let d = h.c.describe("g").unwrap();
    assert_eq!(d.members.len(), 2);
    assert_eq!(d.protocol_name, "range");
}

#[test]
fn a_silent_member_is_expired_and_the_rest_rebalance() {
    let mut h = Harness::new();
    let a = h.stable_single();
    let b = h.new_member_id();
    let (wb, _) = h.join(&b);
    let (wa, _) = h.join(&a);
    let done = h.c.take_completions();
    let generation = joined(&done, wa).generation_id;
    let _ = joined(&done, wb);
    h.sync(&b, generation, &[]);
    h.sync(&a, generation, &[(&a, "x"), (&b, "y")]);
    h.c.take_completions();
    // a keeps heartbeating, b goes silent.
    for _ in 0..2 {
        h.advance(Duration::from_secs(4));
        assert_eq!(h.hb(&a, generation), None);
    }
    // b's session (10 s) ends.
    h.advance(Duration::from_secs(3));
    assert_eq!(h.c.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        h.hb(&a, generation),
        Some(ResponseError::RebalanceInProgress)
    );
    assert_eq!(h.hb(&b, generation), Some(ResponseError::UnknownMemberId));
    let (wa, r) = h.join(&a);
    assert_eq!(r, Reply::Wait);
    let done = h.c.take_completions();
    let ra = joined(&done, wa);
    assert_eq!(ra.generation_id, generation + 1);
    assert_eq!(ra.members.len(), 1);
}

#[test]
fn members_that_do_not_rejoin_are_removed_at_the_rebalance_timeout() {
    let mut h = Harness::new();
    let a = h.stable_single();
    let b = h.new_member_id();
    let (wb, _) = h.join(&b);
    // a keeps heartbeating but never rejoins.
    let mut done = Vec::new();
    for _ in 0..8 {
        done.extend(h.advance(Duration::from_secs(4)));
        h.hb(&a, 1);
    }
    let rb = joined(&done, wb);
    assert_eq!(rb.error, None);
    assert_eq!(rb.leader, b);
    assert_eq!(rb.members.len(), 1);
    assert_eq!(h.hb(&a, 1), Some(ResponseError::UnknownMemberId));
}

#[test]
fn leaving_triggers_a_rebalance_and_the_last_leaves_an_empty_group() {
    let mut h = Harness::new();
    let a = h.stable_single();
    assert_eq!(h.c.leave("g", &[(a.clone(), None)], h.now), vec![None]);
    assert_eq!(h.c.state("g"), Some(GroupState::Empty));
    assert_eq!(
        h.c.leave("g", &[(a.clone(), None)], h.now),
        vec![Some(ResponseError::UnknownMemberId)]
    );
    assert_eq!(
        h.c.leave("nope", &[("x".into(), None)], h.now),
        vec![Some(ResponseError::UnknownMemberId)]
    );
    // An empty group without offsets stays listed as Empty, as on Kafka, until the periodic
    // clean-up (offsets.retention.check.interval.ms) removes it.
    h.advance(Duration::from_millis(1));
    assert_eq!(h.c.state("g"), Some(GroupState::Empty));
    assert_eq!(h.c.describe("g").unwrap().protocol_type, "consumer");
    h.advance(GroupConfig::default().empty_group_retention);
    assert_eq!(h.c.state("g"), None);
}

#[test]
fn errors_for_stale_and_unknown_members() {
    let mut h = Harness::new();
    let a = h.stable_single();
    assert_eq!(h.hb(&a, 7), Some(ResponseError::IllegalGeneration));
    assert_eq!(h.hb("ghost", 1), Some(ResponseError::UnknownMemberId));
    let (_, r) = h.sync(&a, 9, &[]);
    assert_eq!(
        r,
        Reply::Now(SyncResponse::error(ResponseError::IllegalGeneration))
    );
    let (_, r) = h.join("ghost");
    let Reply::Now(r) = r else { panic!() };
    assert_eq!(r.error, Some(ResponseError::UnknownMemberId));
    let mut req = h.join_req("", None, &["roundrobin"]);
    req.protocol_type = "consumer".into();
    let Reply::Now(r) = h.c.join(req, h.now) else {
        panic!()
    };
    assert_eq!(r.error, Some(ResponseError::InconsistentGroupProtocol));
    let mut req = h.join_req("", None, &["range"]);
    req.session_timeout_ms = 10;
    let Reply::Now(r) = h.c.join(req, h.now) else {
        panic!()
    };
    assert_eq!(r.error, Some(ResponseError::InvalidSessionTimeout));
}

#[test]
fn static_member_restart_keeps_its_place_without_a_rebalance() {
    let mut h = Harness::new();
    let req = h.join_req("", Some("instance-1"), &["range"]);
    let w = req.waiter;
    assert_eq!(h.c.join(req, h.now), Reply::Wait);
    let done = h.c.take_completions();
    let first = joined(&done, w);
    let old_id = first.member_id.clone();
    h.sync(&old_id, 1, &[(&old_id, "mine")]);
    assert_eq!(h.c.state("g"), Some(GroupState::Stable));
    // The process restarts: same instance id, no member id.
    let req = h.join_req("", Some("instance-1"), &["range"]);
    let Reply::Now(again) = h.c.join(req, h.now) else {
        panic!("a static rejoin answers at once")
    };
    assert_eq!(again.error, None);
    assert_eq!(again.generation_id, 1);
    assert_ne!(again.member_id, old_id);
    assert_eq!(h.c.state("g"), Some(GroupState::Stable));
    let (_, r) = h.sync(&again.member_id, 1, &[]);
    let Reply::Now(s) = r else { panic!() };
    assert_eq!(s.assignment, Bytes::from("mine"));
    // The old incarnation is fenced.
    assert_eq!(h.hb(&old_id, 1), Some(ResponseError::UnknownMemberId));
}

#[test]
fn protocol_vote_picks_what_all_support() {
    let mut h = Harness::new();
    let r1 = h.join_req("", Some("i1"), &["cooperative-sticky", "range"]);
    let r2 = h.join_req("", Some("i2"), &["range", "cooperative-sticky"]);
    let r3 = h.join_req("", Some("i3"), &["cooperative-sticky"]);
    let (w1, w2, w3) = (r1.waiter, r2.waiter, r3.waiter);
    h.c.join(r1, h.now);
    let done = h.c.take_completions();
    let m1 = joined(&done, w1).member_id;
    h.sync(&m1, 1, &[]);
    h.c.join(r2, h.now);
    h.c.join(r3, h.now);
    let rejoin = h.join_req(&m1, Some("i1"), &["cooperative-sticky", "range"]);
    let w1b = rejoin.waiter;
    h.c.join(rejoin, h.now);
    let done = h.c.take_completions();
    for w in [w1b, w2, w3] {
        assert_eq!(
            joined(&done, w).protocol_name.as_deref(),
            Some("cooperative-sticky")
        );
    }
}

#[test]
fn offsets_commit_rules_and_lifecycle() {
    let mut h = Harness::new();
    let now = h.now;
    // Simple consumers (generation -1) may commit to a group nobody joined.
    assert_eq!(h.c.validate_commit("simple", -1, "", None, 8, now), Ok(()));
    assert_eq!(
        h.c.validate_commit("simple", 3, "", None, 8, now),
        Err(ResponseError::IllegalGeneration)
    );
    let off = |o| CommittedOffset {
        offset: o,
        leader_epoch: -1,
        metadata: None,
        commit_ms: 0,
    };
    h.c.apply_offsets("simple", [(TopicPartition::new("t", 0), Some(off(5)))], now);
    assert_eq!(h.c.committed("simple", "t", 0).unwrap().offset, 5);
    assert_eq!(h.c.state("simple"), Some(GroupState::Empty));
    // Members of a live group must be known and current.
    let a = h.stable_single();
    assert_eq!(h.c.validate_commit("g", 1, &a, None, 8, now), Ok(()));
    assert_eq!(
        h.c.validate_commit("g", 2, &a, None, 8, now),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        h.c.validate_commit("g", 1, "x", None, 8, now),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.c.validate_commit("g", -1, "", None, 8, now),
        Err(ResponseError::UnknownMemberId)
    );
    h.c.apply_offsets(
        "g",
        [
            (TopicPartition::new("t", 1), Some(off(9))),
            (TopicPartition::new("u", 0), Some(off(1))),
        ],
        now,
    );
    assert_eq!(h.c.delete("g"), Err(ResponseError::NonEmptyGroup));
    assert_eq!(h.c.delete("zz"), Err(ResponseError::GroupIdNotFound));
    assert_eq!(
        h.c.remove_topic("u"),
        vec![OffsetChange {
            group: "g".to_owned(),
            partition: TopicPartition::new("u", 0),
            offset: None
        }]
    );
    h.c.leave("g", &[(a, None)], now);
    assert_eq!(h.c.delete("g"), Ok(vec![TopicPartition::new("t", 1)]));
    // Offsets of an empty group expire after the retention time.
    let retention = h.c.config().offsets_retention;
    h.advance(retention + Duration::from_secs(1));
    assert!(h.c.committed("simple", "t", 0).is_none());
    assert_eq!(h.c.state("simple"), None);
}

/// Replays membership changes into a fresh coordinator, as a restarted broker does.
fn restored(changes: &[MembershipChange], now: Instant) -> GroupCoordinator {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    for change in changes {
        c.restore_membership(&change.group, change.metadata.clone(), now);
    }
    c
}

/// A Stable group is written when it becomes Stable and when it empties; a coordinator built
/// from those records takes the members' heartbeats and syncs at the same generation, with the
/// same assignments, without a rebalance, and still expires members that stay silent.
#[test]
fn membership_written_when_stable_brings_the_group_back_after_a_restart() {
    let mut h = Harness::new();
    let a = h.stable_single();
    let b = h.new_member_id();
    let (wb, _) = h.join(&b);
    assert!(
        h.c.take_membership_changes()
            .iter()
            .all(|c| c.metadata.as_ref().is_some_and(|m| m.generation_id == 1)),
        "only the first Stable generation so far: a rebalance in progress is not written"
    );
    let (wa, _) = h.join(&a);
    let done = h.c.take_completions();
    let ra = joined(&done, wa);
    assert_eq!(joined(&done, wb).generation_id, ra.generation_id);
    h.sync(&b, ra.generation_id, &[]);
    h.sync(&a, ra.generation_id, &[(&a, "p0"), (&b, "p1")]);
    let changes = h.c.take_membership_changes();
    assert_eq!(changes.len(), 1);
    let meta = changes[0].metadata.clone().unwrap();
    assert_eq!((meta.generation_id, meta.leader.as_str()), (2, a.as_str()));
    assert_eq!(meta.members.len(), 2);
    assert_eq!(h.c.membership_snapshot(), changes);

    // The broker restarts.
    let later = h.now + Duration::from_secs(1);
    let mut c = restored(&changes, later);
    assert_eq!(c.state("g"), Some(GroupState::Stable));
    assert_eq!(c.heartbeat("g", &a, None, 2, later), None);
    assert_eq!(c.heartbeat("g", &b, None, 2, later), None);
    assert_eq!(
        c.heartbeat("g", &b, None, 1, later),
        Some(ResponseError::IllegalGeneration)
    );
    let sync = SyncRequest {
        group_id: "g".into(),
        generation_id: 2,
        member_id: b.clone(),
        ..SyncRequest::default()
    };
    let Reply::Now(s) = c.sync(sync, later) else {
        panic!("a Stable group answers a sync at once")
    };
    assert_eq!(s.assignment, Bytes::from("p1"));
    let d = c.describe("g").unwrap();
    assert_eq!((d.generation_id, d.members.len()), (2, 2));
    assert_eq!(d.members[0].metadata, Bytes::from("meta-range"));
    assert!(
        c.take_membership_changes().is_empty(),
        "restoring writes nothing"
    );
    // Restored members get a full session from the restart: b keeps heartbeating, a does not.
    let mut now = later;
    for _ in 0..3 {
        now += Duration::from_secs(4);
        assert_eq!(c.heartbeat("g", &b, None, 2, now), None);
        c.tick(now);
    }
    assert_eq!(
        c.heartbeat("g", &b, None, 2, now),
        Some(ResponseError::RebalanceInProgress)
    );
    assert_eq!(c.describe("g").unwrap().members.len(), 1);

    // The last member leaves: the group's record says it has no members.
    h.c.leave("g", &[(a.clone(), None), (b.clone(), None)], h.now);
    let gone = h.c.take_membership_changes();
    assert_eq!(
        gone,
        vec![MembershipChange {
            group: "g".to_owned(),
            metadata: None
        }]
    );
    let all: Vec<MembershipChange> = changes.into_iter().chain(gone).collect();
    let mut c = restored(&all, later);
    assert_eq!(
        c.state("g"),
        None,
        "an empty group without offsets is not listed"
    );
    assert!(c.membership_snapshot().is_empty());
    // With committed offsets it stays, Empty.
    let offset = CommittedOffset {
        offset: 3,
        leader_epoch: -1,
        metadata: None,
        commit_ms: 0,
    };
    c.apply_offsets("g", [(TopicPartition::new("t", 0), Some(offset))], later);
    c.restore_membership("g", all[0].metadata.clone(), later);
    c.restore_membership("g", None, later);
    assert_eq!(c.state("g"), Some(GroupState::Empty));
    assert_eq!(c.committed("g", "t", 0).map(|o| o.offset), Some(3));
}

/// A static member that takes its old place in a Stable group changes the member id to
/// persist; a deleted group is written as gone.
#[test]
fn static_replacement_and_deletion_are_written() {
    let mut h = Harness::new();
    let req = h.join_req("", Some("instance-1"), &["range"]);
    let w = req.waiter;
    h.c.join(req, h.now);
    let first = joined(&h.c.take_completions(), w);
    h.sync(&first.member_id, 1, &[(&first.member_id, "mine")]);
    h.c.take_membership_changes();
    let req = h.join_req("", Some("instance-1"), &["range"]);
    let Reply::Now(again) = h.c.join(req, h.now) else {
        panic!()
    };
    let changes = h.c.take_membership_changes();
    let meta = changes[0].metadata.clone().unwrap();
    assert_eq!(meta.members[0].member_id, again.member_id);
    assert_eq!(
        meta.members[0].group_instance_id.as_deref(),
        Some("instance-1")
    );
    assert_eq!(meta.members[0].assignment, Bytes::from("mine"));
    let mut c = restored(&changes, h.now);
    // The restored static member is known by its instance id.
    assert_eq!(
        c.leave("g", &[(String::new(), Some("instance-1".into()))], h.now),
        vec![None]
    );
    h.c.leave("g", &[(again.member_id.clone(), None)], h.now);
    h.c.take_membership_changes();
    h.c.delete("g").unwrap();
    assert_eq!(
        h.c.take_membership_changes(),
        vec![MembershipChange {
            group: "g".to_owned(),
            metadata: None
        }]
    );
}

/// A static member started again while its old process still runs: the old process's
/// requests carry its old member id and the same instance id, and every group API answers them
/// FENCED_INSTANCE_ID (checked before whether the member id is known, as Kafka does), so the
/// old process stops instead of rejoining and taking the membership back.
#[test]
fn a_replaced_static_member_is_fenced_by_every_group_api() {
    let mut h = Harness::new();
    let inst = Some("instance-1");
    let req = h.join_req("", inst, &["range"]);
    let w = req.waiter;
    assert_eq!(h.c.join(req, h.now), Reply::Wait);
    let old = joined(&h.c.take_completions(), w).member_id;
    h.sync(&old, 1, &[(&old, "mine")]);
    let req = h.join_req("", inst, &["range"]);
    let Reply::Now(new) = h.c.join(req, h.now) else {
        panic!("a static rejoin answers at once")
    };
    assert_ne!(new.member_id, old);
    let fenced = Some(ResponseError::FencedInstanceId);
    assert_eq!(h.c.heartbeat("g", &old, inst, 1, h.now), fenced);
    // A stale generation too: fencing comes first.
    assert_eq!(h.c.heartbeat("g", &old, inst, 7, h.now), fenced);
    let sync = SyncRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: old.clone(),
        group_instance_id: inst.map(Into::into),
        waiter: 99,
        ..SyncRequest::default()
    };
    let Reply::Now(s) = h.c.sync(sync, h.now) else {
        panic!()
    };
    assert_eq!(s.error, fenced);
    assert_eq!(
        h.c.validate_commit("g", 1, &old, inst, 8, h.now),
        Err(ResponseError::FencedInstanceId)
    );
    let req = h.join_req(&old, inst, &["range"]);
    let Reply::Now(j) = h.c.join(req, h.now) else {
        panic!()
    };
    assert_eq!(j.error, fenced);
    assert_eq!(
        h.c.leave("g", &[(old.clone(), inst.map(Into::into))], h.now),
        vec![fenced]
    );
    // The new incarnation is untouched and the group did not rebalance.
    assert_eq!(h.c.heartbeat("g", &new.member_id, inst, 1, h.now), None);
    assert_eq!(h.c.state("g"), Some(GroupState::Stable));
    // An instance id the group does not know: UNKNOWN_MEMBER_ID, not fenced.
    let unknown = Some("instance-2");
    assert_eq!(
        h.c.heartbeat("g", &new.member_id, unknown, 1, h.now),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.c.validate_commit("g", 1, &new.member_id, unknown, 8, h.now),
        Err(ResponseError::UnknownMemberId)
    );
}
