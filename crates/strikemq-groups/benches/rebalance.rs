//! One rebalance step of the group coordinator: every member of a stable group rejoins, the
//! join phase completes, the leader syncs the assignment and every member gets its share.

use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use strikemq_groups::{
    Completion, GroupConfig, GroupCoordinator, GroupState, JoinRequest, Reply, SyncRequest,
};

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

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("group rebalance");
    for n in [3usize, 30, 300] {
        g.bench_function(format!("{n} members rejoin and sync"), |b| {
            b.iter_batched_ref(|| Group::stable(n), Group::rebalance, BatchSize::SmallInput)
        });
    }
    g.finish();
}

criterion_group!(groups, benches);
criterion_main!(groups);
