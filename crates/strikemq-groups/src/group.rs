//! One group's state: members, generation, chosen protocol and committed offsets.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::coordinator::Waiter;

/// The states of Kafka's classic group coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed.
    Dead,
}

impl GroupState {
    /// The name Kafka reports in DescribeGroups and ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a state name as ListGroups filters give it (case-insensitive).
    pub fn parse(s: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|g| g.as_str().eq_ignore_ascii_case(s))
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Free-form metadata from the client.
    pub metadata: Option<String>,
    /// When it was committed (milliseconds since the epoch).
    pub commit_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    pub(crate) join_waiter: Option<Waiter>,
    pub(crate) sync_waiter: Option<Waiter>,
    pub(crate) heartbeat_deadline: Instant,
}

/// Adds (or takes away) one member's protocols to the counts, each name once however often the
/// member lists it.
fn count_protocols(support: &mut HashMap<String, usize>, protocols: &[(String, Bytes)], add: bool) {
    for (i, (name, _)) in protocols.iter().enumerate() {
        if protocols[..i].iter().any(|(n, _)| n == name) {
            continue;
        }
        if add {
            *support.entry(name.clone()).or_default() += 1;
        } else if let Some(c) = support.get_mut(name) {
            *c -= 1;
            if *c == 0 {
                support.remove(name);
            }
        }
    }
}

impl Member {
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: Option<String>,
    /// In join order: the first is the default leader. Change it only through
    /// [`Group::add_member`], [`Group::retain_members`] and [`Group::replace_member`], which keep
    /// `index` and `support` in step.
    pub(crate) members: Vec<Member>,
    /// Member id -> position in `members`: a rebalance of n members costs O(n), not O(n²).
    index: HashMap<String, usize>,
    /// Protocol name -> how many members list it; a protocol every member lists is a candidate.
    support: HashMap<String, usize>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used, with their expiry.
    pub(crate) pending: HashMap<String, Instant>,
    /// group.instance.id -> member id.
    pub(crate) static_members: HashMap<String, String>,
    pub(crate) rebalance_deadline: Option<Instant>,
    /// The initial rebalance delay: a join phase of an empty group waits at least until then.
    pub(crate) join_not_before: Option<Instant>,
    pub(crate) empty_since: Option<Instant>,
    pub(crate) offsets: BTreeMap<crate::TopicPartition, CommittedOffset>,
    /// The membership to persist changed: the group became Stable or Empty, or a static member
    /// took another's place in a Stable group.
    pub(crate) membership_changed: bool,
    /// Set while the group is a KIP-848 consumer group (its classic fields then stay empty).
    pub(crate) consumer: Option<crate::consumer::ConsumerGroup>,
    /// Set while the group is a KIP-932 share group (its classic fields then stay empty).
    pub(crate) share: Option<crate::share::ShareGroup>,
}

impl Group {
    pub(crate) fn new(id: &str, now: Instant) -> Group {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            index: HashMap::new(),
            support: HashMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            join_not_before: None,
            empty_since: Some(now),
            offsets: BTreeMap::new(),
            membership_changed: false,
            consumer: None,
            share: None,
        }
    }

    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.index.get(id).map(|&i| &self.members[i])
    }

    pub(crate) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.index.get(id).map(|&i| &mut self.members[i])
    }

    /// Appends a member (ids are unique: the coordinator hands them out).
    pub(crate) fn add_member(&mut self, member: Member) {
        self.index.insert(member.id.clone(), self.members.len());
        count_protocols(&mut self.support, &member.protocols, true);
        self.members.push(member);
    }

    /// Keeps the members `keep` accepts, in order.
    pub(crate) fn retain_members(&mut self, keep: impl FnMut(&Member) -> bool) {
        self.members.retain(keep);
        self.reindex();
    }

    /// Puts `member` at the place of the member `id` (a static member's new incarnation) and
    /// returns the old one.
    pub(crate) fn replace_member(&mut self, id: &str, member: Member) -> Option<Member> {
        let &i = self.index.get(id)?;
        let old = std::mem::replace(&mut self.members[i], member);
        self.reindex();
        Some(old)
    }

    /// Sets a member's protocols.
    pub(crate) fn set_protocols(&mut self, id: &str, protocols: Vec<(String, Bytes)>) {
        let Some(&i) = self.index.get(id) else {
            return;
        };
        if self.members[i].protocols != protocols {
            count_protocols(&mut self.support, &self.members[i].protocols, false);
            count_protocols(&mut self.support, &protocols, true);
            self.members[i].protocols = protocols;
        }
    }

    fn reindex(&mut self) {
        self.index.clear();
        self.support.clear();
        for (i, m) in self.members.iter().enumerate() {
            self.index.insert(m.id.clone(), i);
            count_protocols(&mut self.support, &m.protocols, true);
        }
    }

    /// Protocol names every member supports, in the first member's order of preference.
    pub(crate) fn candidates(&self) -> Vec<String> {
        let Some(first) = self.members.first() else {
            return Vec::new();
        };
        let n = self.members.len();
        let mut out: Vec<String> = Vec::new();
        for (name, _) in &first.protocols {
            if self.support.get(name) == Some(&n) && !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// Whether a member with this protocol type and these protocols could join.
    pub(crate) fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidates()
                .iter()
                .any(|c| protocols.iter().any(|(p, _)| p == c))
    }

    /// Kafka's vote: each member votes for its most preferred candidate; most votes wins, ties
    /// go to the candidate listed first by the first member.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in &self.members {
            if let Some((name, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(p)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| c == name) {
                    v.1 += 1;
                }
            }
        }
        let max = votes.iter().map(|(_, n)| *n).max()?;
        votes.into_iter().find(|(_, n)| *n == max).map(|(c, _)| c)
    }

    pub(crate) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        let now = Instant::now();
        Member {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from_static(b"m")))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            heartbeat_deadline: now,
        }
    }

    /// The index and the protocol counts say what a scan of the members says.
    fn assert_consistent(g: &Group) {
        for (i, m) in g.members.iter().enumerate() {
            assert!(std::ptr::eq(g.member(&m.id).unwrap(), &g.members[i]));
        }
        assert_eq!(g.index.len(), g.members.len());
        let scanned: Vec<String> = g.members.first().map_or(Vec::new(), |first| {
            let mut out: Vec<String> = Vec::new();
            for (n, _) in &first.protocols {
                let all = g
                    .members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n));
                if all && !out.contains(n) {
                    out.push(n.clone());
                }
            }
            out
        });
        assert_eq!(g.candidates(), scanned);
    }

    #[test]
    fn member_index_and_protocol_counts_follow_every_change() {
        let mut g = Group::new("g", Instant::now());
        assert!(g.candidates().is_empty());
        g.add_member(member("a", &["range", "roundrobin", "range"]));
        g.add_member(member("b", &["roundrobin", "range"]));
        g.add_member(member("c", &["range"]));
        assert_consistent(&g);
        assert_eq!(g.candidates(), ["range"]);

        g.set_protocols("c", member("c", &["sticky", "roundrobin"]).protocols);
        assert_consistent(&g);
        assert_eq!(g.candidates(), ["roundrobin"]);

        let old = g
            .replace_member("b", member("b2", &["roundrobin"]))
            .unwrap();
        assert_eq!(old.id, "b");
        assert!(g.member("b").is_none());
        assert_eq!(g.member("b2").unwrap().id, "b2");
        assert_consistent(&g);

        g.retain_members(|m| m.id != "a");
        assert_consistent(&g);
        assert_eq!(g.members[0].id, "b2");
        assert_eq!(g.candidates(), ["roundrobin"]);

        g.retain_members(|_| false);
        assert_consistent(&g);
        assert!(g.candidates().is_empty() && g.support.is_empty());
        assert!(g.replace_member("b2", member("x", &[])).is_none());
    }
}
