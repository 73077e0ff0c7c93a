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
    assert_eq!(h.c.validate_commit("simple", -1, "", None, now), Ok(()));
    assert_eq!(
        h.c.validate_commit("simple", 3, "", None, now),
        Err(ResponseError::IllegalGeneration)
    );
    let off = |o| CommittedOffset {
        offset: o,
        leader_epoch: -1,
        metadata: None,
        commit_ms: 0,
    };
    h.c.apply_offsets("simple", [(("t".into(), 0), Some(off(5)))], now);
    assert_eq!(h.c.committed("simple", "t", 0).unwrap().offset, 5);
    assert_eq!(h.c.state("simple"), Some(GroupState::Empty));
    // Members of a live group must be known and current.
    let a = h.stable_single();
    assert_eq!(h.c.validate_commit("g", 1, &a, None, now), Ok(()));
    assert_eq!(
        h.c.validate_commit("g", 2, &a, None, now),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        h.c.validate_commit("g", 1, "x", None, now),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.c.validate_commit("g", -1, "", None, now),
        Err(ResponseError::UnknownMemberId)
    );
    h.c.apply_offsets(
        "g",
        [
            (("t".into(), 1), Some(off(9))),
            (("u".into(), 0), Some(off(1))),
        ],
        now,
    );
    assert_eq!(h.c.delete("g"), Err(ResponseError::NonEmptyGroup));
    assert_eq!(h.c.delete("zz"), Err(ResponseError::GroupIdNotFound));
    assert_eq!(
        h.c.remove_topic("u"),
        vec![("g".to_owned(), ("u".to_owned(), 0))]
    );
    h.c.leave("g", &[(a, None)], now);
    assert_eq!(h.c.delete("g"), Ok(vec![("t".to_owned(), 1)]));
    // Offsets of an empty group expire after the retention time.
    let retention = h.c.config().offsets_retention;
    h.advance(retention + Duration::from_secs(1));
    assert!(h.c.committed("simple", "t", 0).is_none());
    assert_eq!(h.c.state("simple"), None);
}
