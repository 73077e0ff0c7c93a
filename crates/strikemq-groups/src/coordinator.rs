//! The group coordinator: Kafka's classic rebalance protocol, driven with an explicit `now`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strikemq_codec::ResponseError;

use crate::consumer::{
    self, ConsumerGroup, ConsumerGroupChange, ConsumerGroupDescription, ConsumerHeartbeat,
    ConsumerHeartbeatResponse, ConsumerSettings, TopicView,
};
use crate::group::{CommittedOffset, Group, GroupState, Member};
use crate::share::{
    self, AckBatch, AcquiredRange, ShareChange, ShareGroup, ShareGroupDescription, ShareHeartbeat,
    ShareHeartbeatResponse, ShareKey, SharePartitionState, ShareSessionView, ShareSettings,
};

/// Identifies a parked JoinGroup or SyncGroup; chosen by the caller.
pub type Waiter = u64;

/// Coordinator settings (Kafka's `group.*` and `offsets.*` broker configs).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members.
    pub initial_rebalance_delay: Duration,
    /// `offsets.retention.minutes`: how long an empty group keeps its committed offsets.
    pub offsets_retention: Duration,
    /// `offset.metadata.max.bytes`.
    pub max_metadata_bytes: usize,
    /// `offsets.retention.check.interval.ms`: an empty group without committed offsets stays
    /// listed (state Empty) this long before it is removed, as Kafka's periodic clean-up does.
    pub empty_group_retention: Duration,
    /// `group.consumer.session.timeout.ms`: how long a KIP-848 member may go without a
    /// heartbeat.
    pub consumer_session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members are told to heartbeat.
    pub consumer_heartbeat_interval: Duration,
    /// `group.share.*`: share group defaults, which a group's `share.*` configs override.
    pub share: ShareSettings,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(30 * 60),
            initial_rebalance_delay: Duration::ZERO,
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            max_metadata_bytes: 4096,
            empty_group_retention: Duration::from_secs(600),
            consumer_session_timeout: Duration::from_secs(45),
            consumer_heartbeat_interval: Duration::from_secs(5),
            share: ShareSettings::default(),
        }
    }
}

/// An answer now, or later under the caller's waiter id.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    /// The answer.
    Now(T),
    /// Parked: the answer will come out of [`GroupCoordinator::take_completions`].
    Wait,
}

/// A JoinGroup request, version differences resolved by the caller.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id, empty on a first join.
    pub member_id: String,
    /// group.instance.id of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (the session timeout for JoinGroup v0).
    pub rebalance_timeout_ms: i32,
    /// "consumer" for consumers, "connect" for Connect workers, ...
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// The client's id.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// JoinGroup v4+: hand out a member id with MEMBER_ID_REQUIRED first (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+: the client understands `skip_assignment` (KIP-814).
    pub supports_skip_assignment: bool,
    /// Where a parked answer goes.
    pub waiter: Waiter,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinResponse {
    /// `None` on success.
    pub error: Option<ResponseError>,
    /// Generation.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: String,
    /// The leader should not run the assignor: assignments are unchanged (KIP-814).
    pub skip_assignment: bool,
    /// The member's id.
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinMember>,
}

impl JoinResponse {
    fn error(e: ResponseError, member_id: &str) -> JoinResponse {
        JoinResponse {
            error: Some(e),
            generation_id: -1,
            member_id: member_id.to_owned(),
            ..JoinResponse::default()
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Group id.
    pub group_id: String,
    /// Generation the member believes in.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// v5+: must match the group's.
    pub protocol_type: Option<String>,
    /// v5+: must match the group's.
    pub protocol_name: Option<String>,
    /// The leader's assignment, per member id.
    pub assignments: Vec<(String, Bytes)>,
    /// Where a parked answer goes.
    pub waiter: Waiter,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    /// `None` on success.
    pub error: Option<ResponseError>,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Protocol name.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResponse {
    pub(crate) fn error(e: ResponseError) -> SyncResponse {
        SyncResponse {
            error: Some(e),
            ..SyncResponse::default()
        }
    }
}

/// The answer of a parked request.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// A JoinGroup.
    Join(Waiter, JoinResponse),
    /// A SyncGroup.
    Sync(Waiter, SyncResponse),
}

/// A group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("" when unknown).
    pub protocol_type: String,
    /// State (classic groups).
    pub state: GroupState,
    /// The state's name as ListGroups reports it (a consumer group's: Empty, Assigning,
    /// Reconciling or Stable).
    pub state_name: &'static str,
    /// "classic", "consumer" or "share".
    pub group_type: &'static str,
}

/// A member in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
    /// Assignment.
    pub assignment: Bytes,
}

/// A group in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// State.
    pub state: GroupState,
    /// Protocol type.
    pub protocol_type: String,
    /// Chosen protocol (empty unless Stable or CompletingRebalance).
    pub protocol_name: String,
    /// Members.
    pub members: Vec<MemberDescription>,
    /// Generation.
    pub generation_id: i32,
}

/// A Stable group's membership, as persisted so that a restarted broker knows the group's
/// members and their assignments and they go on heartbeating without a rebalance (Kafka keeps
/// the same in `__consumer_offsets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// Generation.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: String,
    /// Chosen protocol.
    pub protocol_name: String,
    /// Leader's member id.
    pub leader: String,
    /// Members, in join order.
    pub members: Vec<MemberMetadata>,
}

/// One member of a [`GroupMetadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
    /// Its assignment.
    pub assignment: Bytes,
}

/// A membership change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    /// The group.
    pub group: String,
    /// Its metadata once it is Stable; `None` once it has no members (or was deleted).
    pub metadata: Option<GroupMetadata>,
}

/// A topic's partition: what a committed offset is kept for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// A change of one committed offset, as the offsets log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetChange {
    /// The group.
    pub group: String,
    /// The partition.
    pub partition: TopicPartition,
    /// The new committed offset; `None`: deleted.
    pub offset: Option<CommittedOffset>,
}

/// Every group of the broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    completions: Vec<Completion>,
    membership: Vec<MembershipChange>,
    consumer_changes: Vec<ConsumerGroupChange>,
    /// Share-partition states to persist.
    share_changes: Vec<ShareChange>,
    /// Groups' own share settings (group configs), whether or not the group exists yet.
    share_overrides: HashMap<String, ShareSettings>,
    /// Groups' own consumer session timeout and heartbeat interval (group configs).
    consumer_overrides: HashMap<String, (Option<Duration>, Option<Duration>)>,
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl GroupCoordinator {
    /// An empty coordinator.
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            groups: HashMap::new(),
            completions: Vec::new(),
            membership: Vec::new(),
            consumer_changes: Vec::new(),
            share_changes: Vec::new(),
            share_overrides: HashMap::new(),
            consumer_overrides: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Answers of parked requests that became ready since the last call.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    /// Membership changes to persist since the last call, in order: a group that became Stable
    /// (or whose static member was replaced while Stable) with its metadata, a group left
    /// without members or deleted with `None`. Groups in the middle of a rebalance are not
    /// written, as in Kafka: a restart brings back the last Stable generation.
    pub fn take_membership_changes(&mut self) -> Vec<MembershipChange> {
        std::mem::take(&mut self.membership)
    }

    /// The metadata of every Stable group, to rewrite a log of membership changes.
    pub fn membership_snapshot(&self) -> Vec<MembershipChange> {
        let mut out: Vec<MembershipChange> = self
            .groups
            .values()
            .filter_map(|g| {
                Some(MembershipChange {
                    group: g.id.clone(),
                    metadata: Some(metadata_of(g)?),
                })
            })
            .collect();
        out.sort_by(|a, b| a.group.cmp(&b.group));
        out
    }

    /// Brings back a group's membership read from a log of [`MembershipChange`]s (replayed in
    /// order): a Stable group with these members, each given a full session from `now` to send
    /// its next heartbeat. `None` (or no members) empties the group, and forgets it unless it
    /// has committed offsets, as a restarted Kafka does not list an empty group without offsets.
    pub fn restore_membership(
        &mut self,
        group_id: &str,
        metadata: Option<GroupMetadata>,
        now: Instant,
    ) {
        let Some(meta) = metadata.filter(|m| !m.members.is_empty()) else {
            if self
                .groups
                .get(group_id)
                .is_some_and(|g| g.offsets.is_empty())
            {
                self.groups.remove(group_id);
            } else if let Some(group) = self.groups.get_mut(group_id) {
                group.retain_members(|_| false);
                group.static_members.clear();
                group.state = GroupState::Empty;
                group.protocol_name = None;
                group.leader = None;
                group.empty_since = Some(now);
            }
            return;
        };
        let group = self
            .groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(group_id, now));
        group.retain_members(|_| false);
        group.static_members.clear();
        group.pending.clear();
        group.rebalance_deadline = None;
        group.join_not_before = None;
        group.state = GroupState::Stable;
        group.generation = meta.generation_id;
        group.protocol_type = Some(meta.protocol_type.clone());
        group.protocol_name = Some(meta.protocol_name.clone());
        group.leader = Some(meta.leader);
        group.empty_since = None;
        for m in meta.members {
            let session = ms(m.session_timeout_ms);
            if let Some(inst) = &m.group_instance_id {
                group
                    .static_members
                    .insert(inst.clone(), m.member_id.clone());
            }
            group.add_member(Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: session,
                rebalance_timeout: ms(m.rebalance_timeout_ms),
                protocol_type: meta.protocol_type.clone(),
                protocols: vec![(meta.protocol_name.clone(), m.metadata)],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                heartbeat_deadline: now + session,
            });
        }
    }

    /// Records the group's membership for [`GroupCoordinator::take_membership_changes`] if it
    /// changed.
    fn note_membership(&mut self, group_id: &str) {
        if let Some(g) = self.groups.get_mut(group_id) {
            if std::mem::take(&mut g.membership_changed) {
                self.membership.push(MembershipChange {
                    group: g.id.clone(),
                    metadata: metadata_of(g),
                });
            }
        }
    }

    /// JoinGroup.
    pub fn join(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResponse> {
        let group_id = req.group_id.clone();
        let fail = |e| Reply::Now(JoinResponse::error(e, &req.member_id));
        if req.group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId);
        }
        let session = ms(req.session_timeout_ms);
        if session < self.config.min_session_timeout || session > self.config.max_session_timeout {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        if !self.groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() {
                return fail(ResponseError::UnknownMemberId);
            }
            self.groups
                .insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return fail(ResponseError::CoordinatorNotAvailable);
        };
        if group.share.is_some() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if let Some(c) = &group.consumer {
            if !c.members.is_empty() {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
            // An empty consumer group becomes a classic group again (offsets kept).
            group.consumer = None;
            self.consumer_changes.push(ConsumerGroupChange::Group {
                group: group.id.clone(),
                record: None,
            });
        }
        let is_pending = group.pending.contains_key(&req.member_id);
        let is_member = group.member(&req.member_id).is_some();
        // A rejoining member may change protocols only if the others still share one.
        let protocols_ok = if is_member && group.members.len() == 1 {
            !req.protocol_type.is_empty() && !req.protocols.is_empty()
        } else {
            group.supports(&req.protocol_type, &req.protocols)
        };
        if !protocols_ok {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let mut sink = Vec::new();
        let reply = if req.member_id.is_empty() {
            join_new(group, &self.config, req, now, &mut sink)
        } else if is_pending {
            group.pending.remove(&req.member_id);
            let member = new_member(&req, req.member_id.clone(), now);
            add_member_and_rebalance(group, &self.config, member, req.waiter, now, &mut sink);
            Reply::Wait
        } else if let Err(e) =
            validate_member(group, &req.member_id, req.group_instance_id.as_deref())
        {
            fail(e)
        } else {
            join_existing(group, &self.config, req, now, &mut sink)
        };
        self.completions.extend(sink);
        self.note_membership(&group_id);
        reply
    }

    /// SyncGroup.
    pub fn sync(&mut self, req: SyncRequest, now: Instant) -> Reply<SyncResponse> {
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return Reply::Now(SyncResponse::error(ResponseError::UnknownMemberId));
        };
        if let Err(e) = validate_member(group, &req.member_id, req.group_instance_id.as_deref()) {
            return Reply::Now(SyncResponse::error(e));
        }
        let Some(member) = group.member(&req.member_id) else {
            return Reply::Now(SyncResponse::error(ResponseError::UnknownMemberId));
        };
        if req.generation_id != group.generation {
            return Reply::Now(SyncResponse::error(ResponseError::IllegalGeneration));
        }
        if req.protocol_type.is_some() && req.protocol_type != group.protocol_type
            || req.protocol_name.is_some() && req.protocol_name != group.protocol_name
        {
            return Reply::Now(SyncResponse::error(
                ResponseError::InconsistentGroupProtocol,
            ));
        }
        let session = member.session_timeout;
        match group.state {
            GroupState::Empty | GroupState::Dead => {
                Reply::Now(SyncResponse::error(ResponseError::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                Reply::Now(SyncResponse::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => {
                let resp = sync_ok(group, member.assignment.clone());
                if let Some(m) = group.member_mut(&req.member_id) {
                    m.heartbeat_deadline = now + session;
                }
                Reply::Now(resp)
            }
            GroupState::CompletingRebalance => {
                let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
                if let Some(m) = group.member_mut(&req.member_id) {
                    m.heartbeat_deadline = now + session;
                    if !is_leader {
                        m.sync_waiter = Some(req.waiter);
                    }
                }
                if !is_leader {
                    return Reply::Wait;
                }
                let assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                for m in &mut group.members {
                    m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                }
                group.state = GroupState::Stable;
                group.membership_changed = true;
                let mut own = None;
                for m in &mut group.members {
                    let resp = SyncResponse {
                        error: None,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        assignment: m.assignment.clone(),
                    };
                    if m.id == req.member_id {
                        own = Some(resp);
                    } else if let Some(w) = m.sync_waiter.take() {
                        self.completions.push(Completion::Sync(w, resp));
                    }
                }
                tracing::debug!(group = %group.id, generation = group.generation, "group is stable");
                self.note_membership(&req.group_id);
                Reply::Now(own.unwrap_or_default())
            }
        }
    }

    /// Heartbeat; `None` is success.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Option<ResponseError> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if let Err(e) = validate_member(group, member_id, instance_id) {
            return Some(e);
        }
        let state = group.state;
        let generation = group.generation;
        let Some(member) = group.member_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if generation_id != generation {
            return Some(ResponseError::IllegalGeneration);
        }
        member.heartbeat_deadline = now + member.session_timeout;
        match state {
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    /// LeaveGroup for some members, each (member id, instance id); one result per member.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: Instant,
    ) -> Vec<Option<ResponseError>> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return vec![Some(ResponseError::UnknownMemberId); members.len()];
        };
        let mut sink = Vec::new();
        let results = members
            .iter()
            .map(|(member_id, instance)| {
                let id = match instance {
                    Some(inst) => match group.static_members.get(inst) {
                        None => return Some(ResponseError::UnknownMemberId),
                        Some(current) if !member_id.is_empty() && current != member_id => {
                            return Some(ResponseError::FencedInstanceId)
                        }
                        Some(current) => current.clone(),
                    },
                    None => member_id.clone(),
                };
                if group.pending.remove(&id).is_some() {
                    return None;
                }
                if group.member(&id).is_none() {
                    return Some(ResponseError::UnknownMemberId);
                }
                tracing::debug!(group = %group.id, member = %id, "member left");
                remove_member(group, &self.config, &id, now, &mut sink);
                None
            })
            .collect();
        self.completions.extend(sink);
        self.note_membership(group_id);
        results
    }

    /// Applies the timeouts that are due (expired sessions, ended join phases, unused member
    /// ids, expired offsets) and returns when the next one falls due.
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        let mut sink = Vec::new();
        let retention = self.config.offsets_retention;
        for group in self.groups.values_mut() {
            if let Some(c) = &mut group.consumer {
                if c.expire(&group.id, now) && c.members.is_empty() {
                    group.empty_since = Some(now);
                }
                self.consumer_changes.extend(c.take_changes(&group.id));
            }
            if let Some(sg) = &mut group.share {
                let settings = self
                    .share_overrides
                    .get(&group.id)
                    .copied()
                    .unwrap_or(self.config.share);
                sg.expire(&settings, now);
                take_share_changes(&group.id, sg, &mut self.share_changes);
            }
            group.pending.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|m| {
                    m.join_waiter.is_none()
                        && m.sync_waiter.is_none()
                        && m.heartbeat_deadline <= now
                })
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                tracing::info!(group = %group.id, member = %id, "session timed out; removing member");
                remove_member(group, &self.config, &id, now, &mut sink);
            }
            maybe_complete_join(group, now, &mut sink);
            if std::mem::take(&mut group.membership_changed) {
                self.membership.push(MembershipChange {
                    group: group.id.clone(),
                    metadata: metadata_of(group),
                });
            }
            if group.state == GroupState::Empty
                && group.empty_since.is_some_and(|t| t + retention <= now)
                && !group.offsets.is_empty()
            {
                tracing::info!(group = %group.id, "committed offsets expired");
                group.offsets.clear();
            }
        }
        let linger = self.config.empty_group_retention;
        let consumer_changes = &mut self.consumer_changes;
        self.groups.retain(|_, g| {
            let live_consumer = g.consumer.as_ref().is_some_and(|c| !c.members.is_empty());
            let drop = !live_consumer
                && g.share.is_none()
                && g.state == GroupState::Empty
                && g.offsets.is_empty()
                && g.pending.is_empty()
                && g.empty_since.is_none_or(|t| t + linger <= now);
            if drop && g.consumer.is_some() {
                consumer_changes.push(ConsumerGroupChange::Group {
                    group: g.id.clone(),
                    record: None,
                });
            }
            !drop
        });
        self.completions.extend(sink);
        self.next_deadline()
    }

    /// When [`GroupCoordinator::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let retention = self.config.offsets_retention;
        self.groups
            .values()
            .flat_map(|g| {
                let members = g
                    .members
                    .iter()
                    .filter(|m| m.join_waiter.is_none() && m.sync_waiter.is_none())
                    .map(|m| m.heartbeat_deadline);
                let join = if g.state == GroupState::PreparingRebalance {
                    let end = g.rebalance_deadline;
                    let start = g.join_not_before.filter(|_| g.all_joined());
                    [end, start].into_iter().flatten().min()
                } else {
                    None
                };
                let consumer = g
                    .consumer
                    .as_ref()
                    .and_then(ConsumerGroup::next_deadline)
                    .into_iter()
                    .chain(g.share.as_ref().and_then(ShareGroup::next_deadline));
                let live_consumer = g.consumer.as_ref().is_some_and(|c| !c.members.is_empty());
                let offsets = if g.state != GroupState::Empty || live_consumer {
                    None
                } else if g.offsets.is_empty() {
                    g.empty_since.map(|t| t + self.config.empty_group_retention)
                } else {
                    g.empty_since.map(|t| t + retention)
                };
                members
                    .chain(g.pending.values().copied())
                    .chain(join)
                    .chain(offsets)
                    .chain(consumer)
                    .collect::<Vec<_>>()
            })
            .min()
    }

    /// Checks that this member may commit offsets now. `generation_id` is a consumer group
    /// member's epoch; `api_version` the OffsetCommit version (`i16::MAX` for a transactional
    /// commit, which any version may make).
    pub fn validate_commit(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        api_version: i16,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            // A group that does not rely on Kafka for membership (assign() users) may commit.
            return if generation_id < 0 {
                Ok(())
            } else {
                Err(ResponseError::IllegalGeneration)
            };
        };
        if let Some(c) = &group.consumer {
            if generation_id < 0 && c.members.is_empty() {
                return Ok(());
            }
            if !c.members.contains_key(member_id) {
                return Err(ResponseError::UnknownMemberId);
            }
            // KIP-848 members commit with OffsetCommit v9+, which carries their epoch.
            if api_version < 9 {
                return Err(ResponseError::UnsupportedVersion);
            }
            return c.check_member_epoch(member_id, generation_id);
        }
        if generation_id < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        validate_member(group, member_id, instance_id)?;
        let generation = group.generation;
        let state = group.state;
        let Some(member) = group.member_mut(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if generation_id != generation {
            return Err(ResponseError::IllegalGeneration);
        }
        if state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        member.heartbeat_deadline = now + member.session_timeout;
        Ok(())
    }

    /// Stores committed offsets (validated, and made durable, by the caller). `None` deletes.
    /// A group that ends up empty and without offsets is forgotten.
    pub fn apply_offsets(
        &mut self,
        group_id: &str,
        offsets: impl IntoIterator<Item = (TopicPartition, Option<CommittedOffset>)>,
        now: Instant,
    ) {
        for (key, value) in offsets {
            match value {
                Some(v) => {
                    self.groups
                        .entry(group_id.to_owned())
                        .or_insert_with(|| Group::new(group_id, now))
                        .offsets
                        .insert(key, v);
                }
                None => {
                    if let Some(g) = self.groups.get_mut(group_id) {
                        g.offsets.remove(&key);
                    }
                }
            }
        }
        // An empty group whose offsets are all gone lingers until `tick` removes it.
        if let Some(g) = self.groups.get_mut(group_id) {
            if g.state == GroupState::Empty && g.offsets.is_empty() && g.empty_since.is_none() {
                g.empty_since = Some(now);
            }
        }
    }

    /// The committed offset of one partition.
    pub fn committed(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&CommittedOffset> {
        self.groups
            .get(group_id)?
            .offsets
            .get(&TopicPartition::new(topic, partition))
    }

    /// Every committed offset of a group, sorted by topic and partition.
    pub fn all_committed(&self, group_id: &str) -> Vec<(TopicPartition, CommittedOffset)> {
        self.groups
            .get(group_id)
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every group id with at least one committed offset, and every group with members.
    pub fn list(&self) -> Vec<GroupListing> {
        let mut out: Vec<GroupListing> = self
            .groups
            .values()
            .map(|g| match &g.consumer {
                _ if g.share.is_some() => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: "share".to_owned(),
                    state: g.state,
                    state_name: g.share.as_ref().map_or("Empty", ShareGroup::state_name),
                    group_type: "share",
                },
                Some(c) => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: "consumer".to_owned(),
                    state: g.state,
                    state_name: c.state_name(),
                    group_type: "consumer",
                },
                None => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.state,
                    state_name: g.state.as_str(),
                    group_type: "classic",
                },
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups for one group; `None` when it does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let show_protocol = matches!(
            g.state,
            GroupState::Stable | GroupState::CompletingRebalance
        );
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if show_protocol {
                protocol.clone()
            } else {
                String::new()
            },
            generation_id: g.generation,
            members: g
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if show_protocol {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if g.state == GroupState::Stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// Deletes an empty group and its offsets; returns the offsets it held.
    pub fn delete(&mut self, group_id: &str) -> Result<Vec<TopicPartition>, ResponseError> {
        let Some(group) = self.groups.get(group_id) else {
            return Err(ResponseError::GroupIdNotFound);
        };
        if group.state != GroupState::Empty
            || group
                .consumer
                .as_ref()
                .is_some_and(|c| !c.members.is_empty())
            || group.share.as_ref().is_some_and(|s| !s.members.is_empty())
        {
            return Err(ResponseError::NonEmptyGroup);
        }
        if let Some(sg) = &group.share {
            for key in sg.partitions.keys() {
                self.share_changes.push(ShareChange {
                    group: group_id.to_owned(),
                    key: *key,
                    state: None,
                });
            }
        }
        if group.consumer.is_some() {
            self.consumer_changes.push(ConsumerGroupChange::Group {
                group: group_id.to_owned(),
                record: None,
            });
        }
        let group = self
            .groups
            .remove(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        self.membership.push(MembershipChange {
            group: group.id.clone(),
            metadata: None,
        });
        Ok(group.offsets.into_keys().collect())
    }

    /// Topics the members of a group subscribe to, for OffsetDelete; `None` if the group is
    /// unknown. Only "consumer" groups have subscriptions the broker can read.
    pub fn subscribed_topics(&self, group_id: &str) -> Option<Vec<String>> {
        use strikemq_codec::messages::ConsumerProtocolSubscription;
        use strikemq_codec::Decodable;
        let g = self.groups.get(group_id)?;
        let mut topics = Vec::new();
        if g.protocol_type.as_deref() != Some("consumer") {
            return Some(topics);
        }
        let protocol = g.protocol_name.clone().unwrap_or_default();
        for m in &g.members {
            let mut meta = m.metadata_for(&protocol);
            if meta.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([meta[0], meta[1]]);
            let _ = bytes::Buf::get_i16(&mut meta);
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut meta, version.clamp(0, 3)) {
                topics.extend(sub.topics.iter().map(|t| t.to_string()));
            }
        }
        topics.sort();
        topics.dedup();
        Some(topics)
    }

    /// The state of a group, if it exists.
    pub fn state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// Drops every committed offset of `topic` (the topic was deleted); returns the deletions,
    /// for the offsets log.
    pub fn remove_topic(&mut self, topic: &str) -> Vec<OffsetChange> {
        let mut removed = Vec::new();
        for g in self.groups.values_mut() {
            let keys: Vec<TopicPartition> = g
                .offsets
                .keys()
                .filter(|k| k.topic == topic)
                .cloned()
                .collect();
            for k in keys {
                g.offsets.remove(&k);
                removed.push(OffsetChange {
                    group: g.id.clone(),
                    partition: k,
                    offset: None,
                });
            }
        }
        removed
    }

    /// Every committed offset, for snapshots of the offsets log.
    pub fn snapshot(&self) -> Vec<OffsetChange> {
        let mut out = Vec::new();
        for g in self.groups.values() {
            for (k, v) in &g.offsets {
                out.push(OffsetChange {
                    group: g.id.clone(),
                    partition: k.clone(),
                    offset: Some(v.clone()),
                });
            }
        }
        out
    }
}

/// KIP-848 consumer groups.
impl GroupCoordinator {
    fn consumer_settings(&self, group_id: &str) -> ConsumerSettings {
        let (session, heartbeat) = self
            .consumer_overrides
            .get(group_id)
            .copied()
            .unwrap_or((None, None));
        ConsumerSettings {
            session_timeout: session.unwrap_or(self.config.consumer_session_timeout),
            heartbeat_interval: heartbeat.unwrap_or(self.config.consumer_heartbeat_interval),
        }
    }

    /// Sets (or with `None`s clears) a group's own `consumer.session.timeout.ms` and
    /// `consumer.heartbeat.interval.ms` (group configs); the group need not exist.
    pub fn set_consumer_settings(
        &mut self,
        group_id: &str,
        session_timeout: Option<Duration>,
        heartbeat_interval: Option<Duration>,
    ) {
        if session_timeout.is_none() && heartbeat_interval.is_none() {
            self.consumer_overrides.remove(group_id);
        } else {
            self.consumer_overrides
                .insert(group_id.to_owned(), (session_timeout, heartbeat_interval));
        }
    }

    /// ConsumerGroupHeartbeat: joins, heartbeats, leaves; answers with the member's epoch and,
    /// when it changed, its assignment.
    pub fn consumer_heartbeat(
        &mut self,
        req: ConsumerHeartbeat,
        topics: &dyn TopicView,
        now: Instant,
    ) -> ConsumerHeartbeatResponse {
        let settings = self.consumer_settings(&req.group_id);
        let out = self.consumer_heartbeat_inner(&req, settings, topics, now);
        if let Some(g) = self.groups.get_mut(&req.group_id) {
            if let Some(c) = &mut g.consumer {
                if c.members.is_empty() {
                    g.empty_since.get_or_insert(now);
                } else {
                    g.empty_since = None;
                }
                self.consumer_changes.extend(c.take_changes(&g.id));
            }
        }
        out.unwrap_or_else(|(e, m)| ConsumerHeartbeatResponse::error_of(e, m))
    }

    fn consumer_heartbeat_inner(
        &mut self,
        req: &ConsumerHeartbeat,
        settings: ConsumerSettings,
        topics: &dyn TopicView,
        now: Instant,
    ) -> Result<ConsumerHeartbeatResponse, (ResponseError, Option<String>)> {
        consumer::validate(req)?;
        let leaving = req.member_epoch < 0;
        match self.groups.get_mut(&req.group_id) {
            None if req.member_epoch != 0 => {
                let message = if leaving {
                    format!("Group {} not found.", req.group_id)
                } else {
                    format!("Consumer group {} not found.", req.group_id)
                };
                return Err((ResponseError::GroupIdNotFound, Some(message)));
            }
            None => {
                let mut g = Group::new(&req.group_id, now);
                g.protocol_type = Some("consumer".to_owned());
                g.consumer = Some(ConsumerGroup::new());
                self.groups.insert(req.group_id.clone(), g);
            }
            Some(g) if g.share.is_some() => {
                return Err((
                    ResponseError::GroupIdNotFound,
                    Some(format!("Group {} is not a consumer group.", req.group_id)),
                ));
            }
            Some(g) if g.consumer.is_none() => {
                let empty = g.members.is_empty() && g.pending.is_empty();
                if !empty || req.member_epoch != 0 {
                    return Err((
                        ResponseError::GroupIdNotFound,
                        Some(format!("Group {} is not a consumer group.", req.group_id)),
                    ));
                }
                // An empty classic group becomes a consumer group, keeping its offsets.
                g.consumer = Some(ConsumerGroup::new());
                g.protocol_type = Some("consumer".to_owned());
                g.protocol_name = None;
                g.state = GroupState::Empty;
            }
            Some(_) => {}
        }
        let group = self
            .groups
            .get_mut(&req.group_id)
            .and_then(|g| g.consumer.as_mut())
            .ok_or((ResponseError::CoordinatorNotAvailable, None))?;
        if leaving {
            group.leave(req, topics)
        } else {
            group.heartbeat(req, settings, topics, now)
        }
    }

    /// ConsumerGroupDescribe for one group.
    pub fn consumer_describe(
        &self,
        group_id: &str,
        topics: &dyn TopicView,
    ) -> Result<ConsumerGroupDescription, (ResponseError, String)> {
        match self.groups.get(group_id) {
            None => Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} not found."),
            )),
            Some(g) => match &g.consumer {
                Some(c) => Ok(c.describe(topics)),
                None => Err((
                    ResponseError::GroupIdNotFound,
                    format!("Group {group_id} is not a consumer group."),
                )),
            },
        }
    }

    /// After [`GroupCoordinator::validate_commit`] answered STALE_MEMBER_EPOCH for an epoch
    /// older than the member's: whether this partition may be committed all the same, because
    /// the member has held it since that epoch (as Kafka 4.4 accepts).
    pub fn may_commit_at_older_epoch(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        topic: uuid::Uuid,
        partition: i32,
    ) -> bool {
        self.groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .is_some_and(|c| c.may_commit_at(member_id, epoch, topic, partition))
    }

    /// Whether `group_id` is a KIP-848 consumer group.
    pub fn is_consumer_group(&self, group_id: &str) -> bool {
        self.groups
            .get(group_id)
            .is_some_and(|g| g.consumer.is_some())
    }

    /// OffsetFetch v9+ from a member of a consumer group: it must be one, at its epoch. A
    /// request without a member id (the admin client, or a consumer not in the group) passes.
    pub fn validate_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ResponseError> {
        let Some(member_id) = member_id.filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        match self.groups.get(group_id).and_then(|g| g.consumer.as_ref()) {
            Some(c) if member_epoch >= 0 => c.check_member_epoch(member_id, member_epoch),
            _ => Ok(()),
        }
    }

    /// Consumer group changes to persist since the last call, in order.
    pub fn take_consumer_group_changes(&mut self) -> Vec<ConsumerGroupChange> {
        std::mem::take(&mut self.consumer_changes)
    }

    /// Every consumer group's records, to rewrite the log.
    pub fn consumer_group_snapshot(&self) -> Vec<ConsumerGroupChange> {
        let mut groups: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| g.consumer.is_some())
            .collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        groups
            .into_iter()
            .flat_map(|g| {
                g.consumer
                    .as_ref()
                    .map(|c| c.snapshot(&g.id))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Applies one persisted consumer group record (replayed in order).
    pub fn restore_consumer_group(&mut self, change: ConsumerGroupChange, now: Instant) {
        let (group_id, gone) = match &change {
            ConsumerGroupChange::Group { group, record } => (group.clone(), record.is_none()),
            ConsumerGroupChange::Member { group, .. } => (group.clone(), false),
        };
        let settings = self.consumer_settings(&group_id);
        if gone {
            if let Some(g) = self.groups.get_mut(&group_id) {
                g.consumer = None;
                if g.offsets.is_empty() {
                    self.groups.remove(&group_id);
                }
            }
            return;
        }
        let g = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id, now));
        g.protocol_type = Some("consumer".to_owned());
        let c = g.consumer.get_or_insert_with(ConsumerGroup::new);
        c.restore(change, settings, now);
        g.empty_since = if c.members.is_empty() {
            Some(now)
        } else {
            None
        };
    }
}

/// What a group's membership persists as: its metadata while Stable, nothing otherwise.
fn metadata_of(g: &Group) -> Option<GroupMetadata> {
    if g.state != GroupState::Stable {
        return None;
    }
    let protocol = g.protocol_name.clone().unwrap_or_default();
    Some(GroupMetadata {
        generation_id: g.generation,
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_name: protocol.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        members: g
            .members
            .iter()
            .map(|m| MemberMetadata {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout.as_millis().min(i32::MAX as u128) as i32,
                rebalance_timeout_ms: m.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32,
                metadata: m.metadata_for(&protocol),
                assignment: m.assignment.clone(),
            })
            .collect(),
    })
}

fn new_member(req: &JoinRequest, id: String, now: Instant) -> Member {
    let session = ms(req.session_timeout_ms);
    Member {
        id,
        instance_id: req.group_instance_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        session_timeout: session,
        rebalance_timeout: ms(req.rebalance_timeout_ms).max(session),
        protocol_type: req.protocol_type.clone(),
        protocols: req.protocols.clone(),
        assignment: Bytes::new(),
        join_waiter: None,
        sync_waiter: None,
        heartbeat_deadline: now + session,
    }
}

fn join_new(
    group: &mut Group,
    config: &GroupConfig,
    req: JoinRequest,
    now: Instant,
    sink: &mut Vec<Completion>,
) -> Reply<JoinResponse> {
    if let Some(instance) = req.group_instance_id.clone() {
        if let Some(old_id) = group.static_members.get(&instance).cloned() {
            return rejoin_static(group, config, req, &old_id, now, sink);
        }
        let id = new_member_id(&instance);
        group.static_members.insert(instance, id.clone());
        let member = new_member(&req, id, now);
        add_member_and_rebalance(group, config, member, req.waiter, now, sink);
        return Reply::Wait;
    }
    let id = new_member_id(if req.client_id.is_empty() {
        "member"
    } else {
        &req.client_id
    });
    if req.require_known_member_id {
        // KIP-394: the member must come back with this id; until then it only holds a place.
        group
            .pending
            .insert(id.clone(), now + ms(req.session_timeout_ms));
        return Reply::Now(JoinResponse::error(ResponseError::MemberIdRequired, &id));
    }
    let member = new_member(&req, id, now);
    add_member_and_rebalance(group, config, member, req.waiter, now, sink);
    Reply::Wait
}

/// KIP-345: a static member restarted with a new member id takes the old one's place.
fn rejoin_static(
    group: &mut Group,
    config: &GroupConfig,
    req: JoinRequest,
    old_id: &str,
    now: Instant,
    sink: &mut Vec<Completion>,
) -> Reply<JoinResponse> {
    let instance = req.group_instance_id.clone().unwrap_or_default();
    let new_id = new_member_id(&instance);
    let Some(old) = group.member_mut(old_id) else {
        group.static_members.remove(&instance);
        return join_new(group, config, req, now, sink);
    };
    // The old incarnation's parked requests are fenced.
    if let Some(w) = old.join_waiter.take() {
        sink.push(Completion::Join(
            w,
            JoinResponse::error(ResponseError::FencedInstanceId, old_id),
        ));
    }
    if let Some(w) = old.sync_waiter.take() {
        sink.push(Completion::Sync(
            w,
            SyncResponse::error(ResponseError::FencedInstanceId),
        ));
    }
    let assignment = old.assignment.clone();
    let mut member = new_member(&req, new_id.clone(), now);
    member.assignment = assignment;
    group.replace_member(old_id, member);
    group.static_members.insert(instance, new_id.clone());
    let was_leader = group.leader.as_deref() == Some(old_id);
    if was_leader {
        group.leader = Some(new_id.clone());
    }
    // Kafka keeps a Stable group as it is unless the restarted member's protocols would change
    // the group's choice; metadata bytes may differ (owned partitions) without a rebalance.
    let same_choice = group.select_protocol() == group.protocol_name;
    if group.state == GroupState::Stable && same_choice {
        group.membership_changed = true;
        return Reply::Now(JoinResponse {
            error: None,
            generation_id: group.generation,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: group.leader.clone().unwrap_or_default(),
            // KIP-814: the leader must not reassign; older clients that reassign anyway get the
            // stored assignment from SyncGroup, which ignores assignments in a Stable group.
            skip_assignment: was_leader,
            members: if was_leader {
                leader_members(group)
            } else {
                Vec::new()
            },
            member_id: new_id,
        });
    }
    if let Some(m) = group.member_mut(&new_id) {
        m.join_waiter = Some(req.waiter);
    }
    if group.state == GroupState::PreparingRebalance {
        maybe_complete_join(group, now, sink);
    } else {
        prepare_rebalance(group, config, now, sink);
    }
    Reply::Wait
}

/// Whether `member_id` (with `instance_id`, for a static member) is a member of `group`, as
/// Kafka's classic group checks it before every other check of JoinGroup, SyncGroup, Heartbeat
/// and OffsetCommit: a static member is known by its instance id, and a request from an instance
/// that has since been taken over by another member id (the same `group.instance.id` started
/// again) is FENCED_INSTANCE_ID, which clients treat as fatal (KIP-345).
fn validate_member(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), ResponseError> {
    match instance_id {
        Some(instance) => match group.static_members.get(instance) {
            None => Err(ResponseError::UnknownMemberId),
            Some(current) if current != member_id => Err(ResponseError::FencedInstanceId),
            Some(_) => Ok(()),
        },
        None if group.member(member_id).is_some() => Ok(()),
        None => Err(ResponseError::UnknownMemberId),
    }
}

fn join_existing(
    group: &mut Group,
    config: &GroupConfig,
    req: JoinRequest,
    now: Instant,
    sink: &mut Vec<Completion>,
) -> Reply<JoinResponse> {
    let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
    let state = group.state;
    let Some(member) = group.member_mut(&req.member_id) else {
        return Reply::Now(JoinResponse::error(
            ResponseError::UnknownMemberId,
            &req.member_id,
        ));
    };
    let same_protocols = member.protocols == req.protocols;
    member.protocol_type = req.protocol_type.clone();
    member.session_timeout = ms(req.session_timeout_ms);
    member.rebalance_timeout = ms(req.rebalance_timeout_ms).max(member.session_timeout);
    member.client_id = req.client_id.clone();
    member.client_host = req.client_host.clone();
    member.heartbeat_deadline = now + member.session_timeout;
    group.set_protocols(&req.member_id, req.protocols.clone());
    let wait_for_join = |group: &mut Group| {
        if let Some(m) = group.member_mut(&req.member_id) {
            m.join_waiter = Some(req.waiter);
        }
    };
    match state {
        GroupState::PreparingRebalance => {
            wait_for_join(group);
            maybe_complete_join(group, now, sink);
            Reply::Wait
        }
        GroupState::CompletingRebalance | GroupState::Stable
            if same_protocols && !(state == GroupState::Stable && is_leader) =>
        {
            // Nothing changed: the member lost the response or just checks in.
            Reply::Now(current_join_response(group, &req.member_id))
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            wait_for_join(group);
            prepare_rebalance(group, config, now, sink);
            Reply::Wait
        }
        GroupState::Empty | GroupState::Dead => Reply::Now(JoinResponse::error(
            ResponseError::UnknownMemberId,
            &req.member_id,
        )),
    }
}

fn leader_members(group: &Group) -> Vec<JoinMember> {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    group
        .members
        .iter()
        .map(|m| JoinMember {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            metadata: m.metadata_for(&protocol),
        })
        .collect()
}

fn current_join_response(group: &Group, member_id: &str) -> JoinResponse {
    let is_leader = group.leader.as_deref() == Some(member_id);
    JoinResponse {
        error: None,
        generation_id: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        skip_assignment: false,
        member_id: member_id.to_owned(),
        members: if is_leader {
            leader_members(group)
        } else {
            Vec::new()
        },
    }
}

fn sync_ok(group: &Group, assignment: Bytes) -> SyncResponse {
    SyncResponse {
        error: None,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        assignment,
    }
}

fn add_member_and_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    mut member: Member,
    waiter: Waiter,
    now: Instant,
    sink: &mut Vec<Completion>,
) {
    member.join_waiter = Some(waiter);
    if group.members.is_empty() {
        group.protocol_type = Some(member.protocol_type.clone());
    }
    tracing::debug!(group = %group.id, member = %member.id, "member joining");
    group.add_member(member);
    if group.state == GroupState::PreparingRebalance {
        extend_rebalance_deadline(group, now);
        maybe_complete_join(group, now, sink);
    } else {
        prepare_rebalance(group, config, now, sink);
    }
}

fn extend_rebalance_deadline(group: &mut Group, now: Instant) {
    let timeout = group
        .members
        .iter()
        .map(|m| m.rebalance_timeout)
        .max()
        .unwrap_or_default();
    // Fixed when the join phase starts, from the largest rebalance timeout of the members then.
    if group.rebalance_deadline.is_none() {
        group.rebalance_deadline = Some(now + timeout);
    }
}

fn prepare_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    now: Instant,
    sink: &mut Vec<Completion>,
) {
    if group.state == GroupState::CompletingRebalance {
        for m in &mut group.members {
            if let Some(w) = m.sync_waiter.take() {
                sink.push(Completion::Sync(
                    w,
                    SyncResponse::error(ResponseError::RebalanceInProgress),
                ));
            }
        }
    }
    group.join_not_before =
        if group.state == GroupState::Empty && !config.initial_rebalance_delay.is_zero() {
            Some(now + config.initial_rebalance_delay)
        } else {
            None
        };
    group.state = GroupState::PreparingRebalance;
    group.empty_since = None;
    group.rebalance_deadline = None;
    extend_rebalance_deadline(group, now);
    tracing::debug!(group = %group.id, "preparing rebalance");
    maybe_complete_join(group, now, sink);
}

fn maybe_complete_join(group: &mut Group, now: Instant, sink: &mut Vec<Completion>) {
    if group.state != GroupState::PreparingRebalance {
        return;
    }
    let delay_over = group.join_not_before.is_none_or(|t| t <= now);
    let timed_out = group.rebalance_deadline.is_some_and(|d| d <= now);
    if (group.all_joined() && delay_over) || timed_out {
        complete_join(group, now, sink);
    }
}

fn complete_join(group: &mut Group, now: Instant, sink: &mut Vec<Completion>) {
    // Members that did not rejoin in time are out.
    let gone: Vec<(String, Option<String>)> = group
        .members
        .iter()
        .filter(|m| m.join_waiter.is_none())
        .map(|m| (m.id.clone(), m.instance_id.clone()))
        .collect();
    if !gone.is_empty() {
        group.retain_members(|m| m.join_waiter.is_some());
    }
    for (id, instance) in gone {
        tracing::info!(group = %group.id, member = %id, "member did not rejoin in time; removing it");
        if let Some(inst) = instance {
            group.static_members.remove(&inst);
        }
    }
    group.generation += 1;
    group.rebalance_deadline = None;
    group.join_not_before = None;
    if group.members.is_empty() {
        group.state = GroupState::Empty;
        group.protocol_name = None;
        group.leader = None;
        group.empty_since = Some(now);
        group.membership_changed = true;
        return;
    }
    group.protocol_name = group.select_protocol();
    group.state = GroupState::CompletingRebalance;
    if !group
        .leader
        .as_ref()
        .is_some_and(|l| group.members.iter().any(|m| &m.id == l))
    {
        group.leader = group.members.first().map(|m| m.id.clone());
    }
    let leader = group.leader.clone().unwrap_or_default();
    let members = leader_members(group);
    tracing::debug!(group = %group.id, generation = group.generation, members = group.members.len(), "join phase complete");
    for m in &mut group.members {
        m.heartbeat_deadline = now + m.session_timeout;
        if let Some(w) = m.join_waiter.take() {
            sink.push(Completion::Join(
                w,
                JoinResponse {
                    error: None,
                    generation_id: group.generation,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        members.clone()
                    } else {
                        Vec::new()
                    },
                },
            ));
        }
    }
}

fn remove_member(
    group: &mut Group,
    config: &GroupConfig,
    id: &str,
    now: Instant,
    sink: &mut Vec<Completion>,
) {
    let Some(pos) = group.members.iter().position(|m| m.id == id) else {
        return;
    };
    let m = group.members[pos].clone();
    group.retain_members(|m| m.id != id);
    if let Some(inst) = &m.instance_id {
        if group.static_members.get(inst).map(String::as_str) == Some(id) {
            group.static_members.remove(inst);
        }
    }
    if let Some(w) = m.join_waiter {
        sink.push(Completion::Join(
            w,
            JoinResponse::error(ResponseError::UnknownMemberId, id),
        ));
    }
    if let Some(w) = m.sync_waiter {
        sink.push(Completion::Sync(
            w,
            SyncResponse::error(ResponseError::UnknownMemberId),
        ));
    }
    if group.leader.as_deref() == Some(id) {
        group.leader = None;
    }
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            prepare_rebalance(group, config, now, sink)
        }
        GroupState::PreparingRebalance => maybe_complete_join(group, now, sink),
        GroupState::Empty | GroupState::Dead => {}
    }
}

fn take_share_changes(group: &str, sg: &mut ShareGroup, out: &mut Vec<ShareChange>) {
    out.extend(sg.take_dirty().into_iter().map(|(key, state)| ShareChange {
        group: group.to_owned(),
        key,
        state: Some(state),
    }));
}

/// KIP-932 share groups.
impl GroupCoordinator {
    /// ShareGroupHeartbeat: join (epoch 0), heartbeat, or leave (epoch -1).
    pub fn share_heartbeat(
        &mut self,
        req: ShareHeartbeat,
        topics: &dyn TopicView,
        now: Instant,
    ) -> ShareHeartbeatResponse {
        let out = self.share_heartbeat_inner(&req, topics, now);
        if let Some(g) = self.groups.get_mut(&req.group_id) {
            if let Some(sg) = &mut g.share {
                if sg.members.is_empty() {
                    g.empty_since.get_or_insert(now);
                } else {
                    g.empty_since = None;
                }
                take_share_changes(&g.id, sg, &mut self.share_changes);
            }
        }
        out.unwrap_or_else(|(e, m)| ShareHeartbeatResponse {
            error: Some(e),
            message: m,
            ..ShareHeartbeatResponse::default()
        })
    }

    fn share_heartbeat_inner(
        &mut self,
        req: &ShareHeartbeat,
        topics: &dyn TopicView,
        now: Instant,
    ) -> Result<ShareHeartbeatResponse, (ResponseError, Option<String>)> {
        share::validate(req)?;
        let not_share = || {
            (
                ResponseError::GroupIdNotFound,
                Some(format!("Group {} is not a share group.", req.group_id)),
            )
        };
        match self.groups.get_mut(&req.group_id) {
            None if req.member_epoch != 0 => {
                return Err((
                    ResponseError::GroupIdNotFound,
                    Some(format!("Share group {} not found.", req.group_id)),
                ));
            }
            None => {
                let mut g = Group::new(&req.group_id, now);
                g.protocol_type = Some("share".to_owned());
                g.share = Some(ShareGroup::default());
                self.groups.insert(req.group_id.clone(), g);
            }
            Some(g) if g.share.is_none() => {
                let empty = g.members.is_empty()
                    && g.pending.is_empty()
                    && g.offsets.is_empty()
                    && g.consumer.as_ref().is_none_or(|c| c.members.is_empty());
                if !empty || req.member_epoch != 0 || g.consumer.is_some() {
                    return Err(not_share());
                }
                g.share = Some(ShareGroup::default());
                g.protocol_type = Some("share".to_owned());
            }
            Some(_) => {}
        }
        let defaults = self.share_settings(&req.group_id);
        let g = self
            .groups
            .get_mut(&req.group_id)
            .and_then(|g| g.share.as_mut())
            .ok_or_else(not_share)?;
        g.heartbeat(req, &defaults, topics, now)
    }

    /// ShareGroupDescribe for one group.
    pub fn share_describe(
        &self,
        group_id: &str,
    ) -> Result<ShareGroupDescription, (ResponseError, String)> {
        match self.groups.get(group_id) {
            None => Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} not found."),
            )),
            Some(g) => match &g.share {
                Some(s) => Ok(s.describe()),
                None => Err((
                    ResponseError::GroupIdNotFound,
                    format!("Group {group_id} is not a share group."),
                )),
            },
        }
    }

    /// Whether `group_id` is a share group.
    pub fn is_share_group(&self, group_id: &str) -> bool {
        self.groups.get(group_id).is_some_and(|g| g.share.is_some())
    }

    fn share_group(&mut self, group_id: &str) -> Result<&mut ShareGroup, ResponseError> {
        self.groups
            .get_mut(group_id)
            .and_then(|g| g.share.as_mut())
            .ok_or(ResponseError::GroupIdNotFound)
    }

    /// The settings in force for a share group (its configs over the broker's defaults).
    pub fn share_settings(&self, group_id: &str) -> ShareSettings {
        self.share_overrides
            .get(group_id)
            .copied()
            .unwrap_or(self.config.share)
    }

    /// The broker's share group defaults.
    pub fn share_defaults(&self) -> ShareSettings {
        self.config.share
    }

    /// Sets (or with `None` clears) a group's own share settings; the group need not exist.
    pub fn set_share_settings(&mut self, group_id: &str, settings: Option<ShareSettings>) {
        match settings {
            Some(s) => self.share_overrides.insert(group_id.to_owned(), s),
            None => self.share_overrides.remove(group_id),
        };
    }

    /// Opens, moves on or closes a member's share session (ShareFetch with `fetching`, else
    /// ShareAcknowledge).
    pub fn share_session(
        &mut self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        add: &[ShareKey],
        forget: &[ShareKey],
        fetching: bool,
    ) -> Result<ShareSessionView, ResponseError> {
        let g = self
            .share_group(group_id)
            .map_err(|_| ResponseError::UnknownMemberId)?;
        g.session(member_id, epoch, add, forget, fetching)
    }

    /// Where a fetch for `key` should read from (the share-partition starts at the log's end, or
    /// its start with `share.auto.offset.reset=earliest`); `None` when it has nothing to give.
    pub fn share_next_read(
        &mut self,
        group_id: &str,
        key: ShareKey,
        log_start: i64,
        log_end: i64,
        now: Instant,
    ) -> Option<i64> {
        let defaults = self.share_settings(group_id);
        let g = self.share_group(group_id).ok()?;
        let out = g.next_read(key, log_start, log_end, &defaults, now);
        self.note_share(group_id);
        out
    }

    /// Acquires records for a member among the batches read (base offset, last offset, control).
    pub fn share_acquire(
        &mut self,
        group_id: &str,
        member_id: &str,
        key: ShareKey,
        batches: &[(i64, i64, bool)],
        max_records: usize,
        now: Instant,
    ) -> Vec<AcquiredRange> {
        let defaults = self.share_settings(group_id);
        let Ok(g) = self.share_group(group_id) else {
            return Vec::new();
        };
        let out = g.acquire(key, member_id, batches, max_records, &defaults, now);
        self.note_share(group_id);
        out
    }

    /// Applies a member's acknowledgements for one partition; an error comes with Kafka's
    /// message where it has one.
    pub fn share_acknowledge(
        &mut self,
        group_id: &str,
        member_id: &str,
        key: ShareKey,
        batches: &[AckBatch],
    ) -> Result<(), (ResponseError, Option<&'static str>)> {
        let defaults = self.share_settings(group_id);
        let g = self.share_group(group_id).map_err(|e| (e, None))?;
        let out = g.acknowledge(key, member_id, batches, &defaults);
        self.note_share(group_id);
        out
    }

    /// Releases what a member holds in these partitions (its share session closed).
    pub fn share_release(&mut self, group_id: &str, member_id: &str, keys: &[ShareKey]) {
        let defaults = self.share_settings(group_id);
        if let Ok(g) = self.share_group(group_id) {
            g.release(member_id, keys, &defaults);
        }
        self.note_share(group_id);
    }

    /// A share-partition's start offset, end offset and in-flight records, for the offsets admin
    /// APIs; `None` when it was never read.
    pub fn share_partition_state(
        &self,
        group_id: &str,
        key: ShareKey,
    ) -> Option<SharePartitionState> {
        self.groups
            .get(group_id)
            .and_then(|g| g.share.as_ref())
            .and_then(|s| s.partitions.get(&key))
            .map(|p| p.state())
    }

    /// The share-partitions a share group has state for, with their start offsets; `Err` when
    /// the group is unknown or not a share group.
    pub fn share_offsets(&self, group_id: &str) -> Result<Vec<(ShareKey, i64)>, ResponseError> {
        let g = self
            .groups
            .get(group_id)
            .and_then(|g| g.share.as_ref())
            .ok_or(ResponseError::GroupIdNotFound)?;
        let mut out: Vec<(ShareKey, i64)> =
            g.partitions.iter().map(|(k, p)| (*k, p.start())).collect();
        out.sort();
        Ok(out)
    }

    /// Checks that a share group may have its offsets altered or deleted: it exists, is a share
    /// group and has no members.
    pub fn share_group_is_empty(&self, group_id: &str) -> Result<(), ResponseError> {
        match self.groups.get(group_id) {
            None => Err(ResponseError::GroupIdNotFound),
            Some(g) => match &g.share {
                None => Err(ResponseError::GroupIdNotFound),
                Some(s) if !s.members.is_empty() => Err(ResponseError::NonEmptyGroup),
                Some(_) => Ok(()),
            },
        }
    }

    /// AlterShareGroupOffsets of one partition (the group is empty).
    pub fn share_reset_offset(&mut self, group_id: &str, key: ShareKey, offset: i64) {
        if let Ok(g) = self.share_group(group_id) {
            g.reset_partition(key, offset);
        }
        self.note_share(group_id);
    }

    /// DeleteShareGroupOffsets of one topic (the group is empty).
    pub fn share_delete_offsets(&mut self, group_id: &str, topic: uuid::Uuid) {
        if let Ok(g) = self.share_group(group_id) {
            for key in g.forget_topic(topic) {
                self.share_changes.push(ShareChange {
                    group: group_id.to_owned(),
                    key,
                    state: None,
                });
            }
        }
    }

    fn note_share(&mut self, group_id: &str) {
        if let Some(g) = self.groups.get_mut(group_id) {
            if let Some(sg) = &mut g.share {
                take_share_changes(&g.id, sg, &mut self.share_changes);
            }
        }
    }

    /// Share-partition states to persist since the last call, in order.
    pub fn take_share_changes(&mut self) -> Vec<ShareChange> {
        std::mem::take(&mut self.share_changes)
    }

    /// Every share-partition's state, to rewrite the log.
    pub fn share_snapshot(&self) -> Vec<ShareChange> {
        let mut out = Vec::new();
        for g in self.groups.values() {
            if let Some(sg) = &g.share {
                for (key, p) in &sg.partitions {
                    out.push(ShareChange {
                        group: g.id.clone(),
                        key: *key,
                        state: Some(p.state()),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.group, a.key).cmp(&(&b.group, b.key)));
        out
    }

    /// Applies one persisted share-partition state (replayed in order).
    pub fn restore_share_partition(&mut self, change: &ShareChange, now: Instant) {
        if change.state.is_none() && !self.groups.contains_key(&change.group) {
            return;
        }
        let g = self
            .groups
            .entry(change.group.clone())
            .or_insert_with(|| Group::new(&change.group, now));
        g.protocol_type = Some("share".to_owned());
        g.share
            .get_or_insert_with(ShareGroup::default)
            .restore_partition(change.key, change.state.as_ref(), now);
    }
}
