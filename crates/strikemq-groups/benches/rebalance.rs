//! One rebalance step of the group coordinator: every member of a stable group rejoins, the
//! join phase completes, the leader syncs the assignment and every member gets its share; and
//! the KIP-848 equivalent: a member joins a stable consumer group, the broker computes the target
//! assignment, the others revoke what moves and every member heartbeats until the group is
//! Stable again.

use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use strikemq_groups::{
    Completion, ConsumerHeartbeat, GroupConfig, GroupCoordinator, GroupState, JoinRequest, Reply,
    SyncRequest, TopicView,
};
use uuid::Uuid;

struct Group {
    c: GroupCoordinator,
    members: Vec<String>,
    generation: i32,
    now: Instant,
    waiter: u64,
}

impl Group {
    fn join_req(&mut self, member: &str) -> JoinRequest {
        self.waiter += 1;
        JoinRequest {
            group_id: "g".into(),
            member_id: member.into(),
            group_instance_id: None,
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 60_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"subscription"))],
            client_id: "bench".into(),
            client_host: "/127.0.0.1".into(),
            require_known_member_id: true,
            supports_skip_assignment: false,
            waiter: self.waiter,
        }
    }

    /// `n` members, joined and synced once.
    fn stable(n: usize) -> Group {
        let mut g = Group {
            c: GroupCoordinator::new(GroupConfig::default()),
            members: Vec::new(),
            generation: 0,
            now: Instant::now(),
            waiter: 0,
        };
        for _ in 0..n {
            let req = g.join_req("");
            let Reply::Now(r) = g.c.join(req, g.now) else {
                panic!("a first join is answered at once")
            };
            g.members.push(r.member_id);
        }
        g.rebalance();
        g
    }

    /// Every member rejoins (the leader first, which starts the rebalance), then syncs.
    fn rebalance(&mut self) {
        let members = self.members.clone();
        for m in &members {
            let req = self.join_req(m);
            let _ = self.c.join(req, self.now);
        }
        let joined = self.c.take_completions();
        let (leader, generation) = joined
            .iter()
            .find_map(|c| match c {
                Completion::Join(_, r) if r.error.is_none() => {
                    Some((r.leader.clone(), r.generation_id))
                }
                _ => None,
            })
            .expect("the join phase completed");
        self.generation = generation;
        let assignments: Vec<(String, Bytes)> = members
            .iter()
            .map(|m| (m.clone(), Bytes::from_static(b"assignment")))
            .collect();
        for m in std::iter::once(&leader).chain(members.iter().filter(|m| **m != leader)) {
            self.waiter += 1;
            let req = SyncRequest {
                group_id: "g".into(),
                generation_id: generation,
                member_id: m.clone(),
                assignments: if *m == leader {
                    assignments.clone()
                } else {
                    Vec::new()
                },
                waiter: self.waiter,
                ..SyncRequest::default()
            };
            let _ = self.c.sync(req, self.now);
        }
        let _ = self.c.take_completions();
        assert_eq!(self.c.state("g"), Some(GroupState::Stable));
    }
}

/// One topic of `partitions` partitions.
struct OneTopic(i32);

const TOPIC: Uuid = Uuid::from_u128(1);

impl TopicView for OneTopic {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        (name == "t").then_some((TOPIC, self.0))
    }
    fn name_of(&self, id: Uuid) -> Option<String> {
        (id == TOPIC).then(|| "t".to_owned())
    }
    fn names(&self) -> Vec<String> {
        vec!["t".to_owned()]
    }
}

/// A KIP-848 group: each member's epoch and the partitions it owns.
struct ConsumerGroup {
    c: GroupCoordinator,
    topics: OneTopic,
    members: Vec<(String, i32, Vec<i32>)>,
    now: Instant,
}

impl ConsumerGroup {
    fn heartbeat(&mut self, i: usize) {
        let (id, epoch, owned) = self.members[i].clone();
        let req = ConsumerHeartbeat {
            version: 1,
            group_id: "g".into(),
            member_id: id,
            member_epoch: epoch,
            rebalance_timeout_ms: if epoch == 0 { 60_000 } else { -1 },
            subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_owned()]),
            owned: Some(vec![(TOPIC, owned)])
                .filter(|_| epoch != 0)
                .or(Some(Vec::new())),
            client_id: "bench".into(),
            client_host: "/127.0.0.1".into(),
            ..ConsumerHeartbeat::default()
        };
        let r = self.c.consumer_heartbeat(req, &self.topics, self.now);
        assert!(r.error.is_none(), "{r:?}");
        let m = &mut self.members[i];
        m.1 = r.member_epoch;
        if let Some(a) = r.assignment {
            m.2 = a.into_iter().flat_map(|(_, ps)| ps).collect();
        }
    }

    /// Every member heartbeats, round after round, until the group is Stable.
    fn settle(&mut self) {
        for _ in 0..10 {
            for i in 0..self.members.len() {
                self.heartbeat(i);
            }
            if self.c.consumer_describe("g", &self.topics).map(|d| d.state) == Ok("Stable") {
                return;
            }
        }
        panic!("the group does not settle");
    }

    /// `n` members on a topic of `2n` partitions, Stable.
    fn stable(n: usize) -> ConsumerGroup {
        let mut g = ConsumerGroup {
            c: GroupCoordinator::new(GroupConfig::default()),
            topics: OneTopic(2 * n as i32),
            members: Vec::new(),
            now: Instant::now(),
        };
        for i in 0..n {
            g.members.push((format!("member-{i}"), 0, Vec::new()));
            g.heartbeat(i);
        }
        g.settle();
        g
    }

    /// A member joins; every member heartbeats until the group is Stable again.
    fn join_one(&mut self) {
        self.members.push(("newcomer".to_owned(), 0, Vec::new()));
        let last = self.members.len() - 1;
        self.heartbeat(last);
        self.settle();
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("group rebalance");
    for n in [3usize, 30, 300] {
        g.bench_function(format!("{n} members rejoin and sync"), |b| {
            b.iter_batched_ref(|| Group::stable(n), Group::rebalance, BatchSize::SmallInput)
        });
    }
    g.finish();
    let mut g = c.benchmark_group("KIP-848 rebalance");
    for n in [3usize, 30, 300] {
        g.bench_function(
            format!("{n} members, one joins, all heartbeat until Stable"),
            |b| {
                b.iter_batched_ref(
                    || ConsumerGroup::stable(n),
                    ConsumerGroup::join_one,
                    BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(groups, benches);
criterion_main!(groups);
