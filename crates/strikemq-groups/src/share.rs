//! KIP-932 share groups ("queues for Kafka").
//!
//! Membership: members heartbeat (ShareGroupHeartbeat) with the topics they subscribe to and the
//! coordinator assigns partitions with the `simple` assignor, where one partition may go to
//! several members. A member's epoch follows the group's assignment epoch at once: there is
//! nothing to revoke, since members may share a partition.
//!
//! Records: each share-partition keeps the window of in-flight records from its start offset
//! (Kafka's SPSO) to its end offset (SPEO, the first offset never acquired). ShareFetch acquires
//! available records for a member under a time-limited lock and counts the delivery;
//! acknowledgements (in ShareFetch or ShareAcknowledge) accept, release or reject them. A released
//! record, or one whose lock expired or whose member left, is available again until its delivery
//! count reaches the limit; then it is archived. Offsets outside the map but inside the window are
//! done (acknowledged, archived, or no record at all), so the map holds only live records and the
//! start offset is its first key.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strikemq_codec::ResponseError;
use uuid::Uuid;

use crate::consumer::{Assignment, TopicView};

/// A partition of a topic, by topic id.
pub type ShareKey = (Uuid, i32);

/// The only assignor share groups have.
pub const SHARE_ASSIGNOR: &str = "simple";

/// Acknowledgement types (ShareFetch and ShareAcknowledge).
pub mod ack {
    /// An offset with no record (compacted away, a transaction marker).
    pub const GAP: i8 = 0;
    /// Processed: never delivered again.
    pub const ACCEPT: i8 = 1;
    /// Not processed: deliver it again (to any member).
    pub const RELEASE: i8 = 2;
    /// Unprocessable: never delivered again.
    pub const REJECT: i8 = 3;
}

/// A ShareGroupHeartbeat request.
#[derive(Debug, Clone, Default)]
pub struct ShareHeartbeat {
    /// Group id.
    pub group_id: String,
    /// The member's id (chosen by the client).
    pub member_id: String,
    /// 0 to join, -1 to leave, else the epoch the member has.
    pub member_epoch: i32,
    /// Rack.
    pub rack_id: Option<String>,
    /// Subscribed topics; `None` when unchanged.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// The client's id.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
}

/// A ShareGroupHeartbeat answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareHeartbeatResponse {
    /// `None` on success.
    pub error: Option<ResponseError>,
    /// The error's message.
    pub message: Option<String>,
    /// The member's id.
    pub member_id: Option<String>,
    /// The member's epoch.
    pub member_epoch: i32,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: i32,
    /// The member's partitions, when they changed (or on joining).
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

/// A share group member as ShareGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareMemberDescription {
    /// Member id.
    pub member_id: String,
    /// Rack.
    pub rack_id: Option<String>,
    /// Epoch.
    pub member_epoch: i32,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Subscribed topic names.
    pub subscribed_topic_names: Vec<String>,
    /// Assigned partitions.
    pub assignment: Vec<(Uuid, Vec<i32>)>,
}

/// A share group as ShareGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareGroupDescription {
    /// "Empty" or "Stable".
    pub state: &'static str,
    /// The group epoch.
    pub group_epoch: i32,
    /// The epoch of the current assignment.
    pub assignment_epoch: i32,
    /// Members, by id.
    pub members: Vec<ShareMemberDescription>,
}

/// Per-group settings of share groups (Kafka's `group.share.*` broker configs, which the group
/// configs `share.*` override).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareSettings {
    /// `share.session.timeout.ms`.
    pub session_timeout: Duration,
    /// `share.heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `share.record.lock.duration.ms`.
    pub record_lock_duration: Duration,
    /// `share.delivery.count.limit`.
    pub delivery_count_limit: i16,
    /// `share.partition.max.record.locks`: in-flight records per share-partition.
    pub max_record_locks: usize,
    /// `share.auto.offset.reset`: start a new share-partition at the log's start.
    pub earliest: bool,
}

impl Default for ShareSettings {
    fn default() -> Self {
        ShareSettings {
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(5),
            record_lock_duration: Duration::from_secs(30),
            delivery_count_limit: 5,
            max_record_locks: 2000,
            earliest: false,
        }
    }
}

/// A range of acquired records with one delivery count (ShareFetch's AcquiredRecords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquiredRange {
    /// First offset.
    pub first: i64,
    /// Last offset (inclusive).
    pub last: i64,
    /// How many times these records have been delivered, this time included.
    pub delivery_count: i16,
}

/// One acknowledgement batch: a range and one type for all of it or one per offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBatch {
    /// First offset.
    pub first: i64,
    /// Last offset (inclusive).
    pub last: i64,
    /// One type, or one per offset from `first` to `last`.
    pub types: Vec<i8>,
}

impl AckBatch {
    fn type_at(&self, offset: i64) -> i8 {
        if self.types.len() == 1 {
            self.types[0]
        } else {
            self.types[(offset - self.first) as usize]
        }
    }

    /// INVALID_REQUEST for batches a client may not send.
    pub(crate) fn check(batches: &[AckBatch]) -> Result<(), ResponseError> {
        let mut prev_last = i64::MIN;
        for b in batches {
            let span = b.last.checked_sub(b.first).and_then(|d| d.checked_add(1));
            let ok = b.first >= 0
                && span.is_some_and(|n| n > 0)
                && (b.types.len() == 1 || span == Some(b.types.len() as i64))
                && b.types.iter().all(|t| (ack::GAP..=ack::REJECT).contains(t))
                && b.first > prev_last;
            if !ok {
                return Err(ResponseError::InvalidRequest);
            }
            prev_last = b.last;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordState {
    Available,
    Acquired,
}

#[derive(Debug, Clone)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
    member: Option<Arc<str>>,
    lock_deadline: Instant,
}

/// The in-flight records of one share-partition.
#[derive(Debug, Clone)]
pub(crate) struct SharePartition {
    /// The first offset never acquired (SPEO).
    end: i64,
    /// Live records (available or acquired) in the window; all else below `end` is done.
    records: BTreeMap<i64, InFlight>,
    /// The state to persist changed.
    pub(crate) dirty: bool,
}

/// A share-partition's state to persist (`None`: the share-partition is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareChange {
    /// Group id.
    pub group: String,
    /// The partition.
    pub key: ShareKey,
    /// Its state.
    pub state: Option<SharePartitionState>,
}

/// A share-partition's persisted state: its window and each live record's delivery count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SharePartitionState {
    /// The start offset (SPSO).
    pub start: i64,
    /// The end offset (SPEO).
    pub end: i64,
    /// (offset, delivery count) of each record not yet done; acquired ones come back available.
    pub records: Vec<(i64, i16)>,
}

impl SharePartition {
    fn new(start: i64) -> SharePartition {
        SharePartition {
            end: start,
            records: BTreeMap::new(),
            dirty: true,
        }
    }

    /// The start offset (SPSO).
    pub(crate) fn start(&self) -> i64 {
        self.records.keys().next().copied().unwrap_or(self.end)
    }

    /// Records the log no longer has (retention, DeleteRecords) leave the window.
    fn trim_to(&mut self, log_start: i64) {
        if log_start > self.start() {
            self.records = self.records.split_off(&log_start);
            self.end = self.end.max(log_start);
            self.dirty = true;
        }
    }

    /// Where a read for this partition should begin: its first available record, or the end of
    /// the window when none is available (and the window may take more).
    fn next_read(&self, settings: &ShareSettings) -> Option<i64> {
        let available = self
            .records
            .iter()
            .find(|(_, r)| r.state == RecordState::Available)
            .map(|(o, _)| *o);
        available.or_else(|| (self.records.len() < settings.max_record_locks).then_some(self.end))
    }

    /// Acquires up to `max_records` available records among `batches` (base offset, last offset,
    /// control batch) for `member`.
    fn acquire(
        &mut self,
        member: &Arc<str>,
        batches: &[(i64, i64, bool)],
        max_records: usize,
        settings: &ShareSettings,
        now: Instant,
    ) -> Vec<AcquiredRange> {
        let mut out: Vec<AcquiredRange> = Vec::new();
        let mut push = |o: i64, count: i16| match out.last_mut() {
            Some(r) if r.last + 1 == o && r.delivery_count == count => r.last = o,
            _ => out.push(AcquiredRange {
                first: o,
                last: o,
                delivery_count: count,
            }),
        };
        let deadline = now + settings.record_lock_duration;
        let mut taken = 0usize;
        'batches: for &(base, last, control) in batches {
            for o in base..=last {
                if taken >= max_records {
                    break 'batches;
                }
                if o < self.end {
                    if let Some(r) = self.records.get_mut(&o) {
                        if r.state == RecordState::Available {
                            r.state = RecordState::Acquired;
                            r.delivery_count = r.delivery_count.saturating_add(1);
                            r.member = Some(member.clone());
                            r.lock_deadline = deadline;
                            push(o, r.delivery_count);
                            taken += 1;
                        }
                    }
                    continue;
                }
                if control {
                    // A transaction marker is no record to deliver: it is done at once.
                    self.end = o + 1;
                    continue;
                }
                if self.records.len() >= settings.max_record_locks {
                    break 'batches;
                }
                self.records.insert(
                    o,
                    InFlight {
                        state: RecordState::Acquired,
                        delivery_count: 1,
                        member: Some(member.clone()),
                        lock_deadline: deadline,
                    },
                );
                self.end = o + 1;
                push(o, 1);
                taken += 1;
            }
        }
        if !out.is_empty() {
            self.dirty = true;
        }
        out
    }

    /// Applies acknowledgements from `member`: every offset but a gap must be acquired by it,
    /// or nothing is applied (INVALID_RECORD_STATE, with Kafka's message).
    fn acknowledge(
        &mut self,
        member: &str,
        batches: &[AckBatch],
        settings: &ShareSettings,
    ) -> Result<(), (ResponseError, &'static str)> {
        for b in batches {
            for o in b.first..=b.last {
                let t = b.type_at(o);
                match self.records.get(&o) {
                    Some(r)
                        if r.state == RecordState::Acquired
                            && r.member.as_deref() == Some(member) => {}
                    Some(_) if t == ack::GAP => {}
                    Some(_) => {
                        return Err((
                            ResponseError::InvalidRecordState,
                            "Member is not the owner of offset",
                        ))
                    }
                    None if t == ack::GAP && o < self.end => {}
                    None => {
                        return Err((
                            ResponseError::InvalidRecordState,
                            "Batch record not found. The request batch offsets are not found in the cache.",
                        ))
                    }
                }
            }
        }
        for b in batches {
            for o in b.first..=b.last {
                match b.type_at(o) {
                    ack::RELEASE => self.make_available(o, settings),
                    _ => {
                        self.records.remove(&o);
                    }
                }
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// Back to available, or archived when it was delivered as often as the limit allows.
    fn make_available(&mut self, offset: i64, settings: &ShareSettings) {
        let Some(r) = self.records.get_mut(&offset) else {
            return;
        };
        if r.delivery_count >= settings.delivery_count_limit {
            self.records.remove(&offset);
        } else {
            r.state = RecordState::Available;
            r.member = None;
        }
        self.dirty = true;
    }

    /// Releases what `member` holds (it left, or closed its share session).
    fn release_member(&mut self, member: &str, settings: &ShareSettings) {
        let held: Vec<i64> = self
            .records
            .iter()
            .filter(|(_, r)| r.member.as_deref() == Some(member))
            .map(|(o, _)| *o)
            .collect();
        for o in held {
            self.make_available(o, settings);
        }
    }

    /// Releases records whose lock ran out.
    fn expire(&mut self, now: Instant, settings: &ShareSettings) {
        let expired: Vec<i64> = self
            .records
            .iter()
            .filter(|(_, r)| r.state == RecordState::Acquired && r.lock_deadline <= now)
            .map(|(o, _)| *o)
            .collect();
        for o in expired {
            self.make_available(o, settings);
        }
    }

    fn next_lock_deadline(&self) -> Option<Instant> {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .map(|r| r.lock_deadline)
            .min()
    }

    pub(crate) fn state(&self) -> SharePartitionState {
        SharePartitionState {
            start: self.start(),
            end: self.end,
            records: self
                .records
                .iter()
                .map(|(o, r)| (*o, r.delivery_count))
                .collect(),
        }
    }

    /// AlterShareGroupOffsets: the window starts afresh at `offset`.
    fn reset_to(&mut self, offset: i64) {
        self.records.clear();
        self.end = offset;
        self.dirty = true;
    }

    fn restore(s: &SharePartitionState, now: Instant) -> SharePartition {
        SharePartition {
            end: s.end,
            records: s
                .records
                .iter()
                .map(|&(o, count)| {
                    (
                        o,
                        InFlight {
                            state: RecordState::Available,
                            delivery_count: count,
                            member: None,
                            lock_deadline: now,
                        },
                    )
                })
                .collect(),
            dirty: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ShareMember {
    pub(crate) epoch: i32,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    subscribed: Vec<String>,
    assigned: Assignment,
    /// The assignment last sent to the member.
    sent: Option<Assignment>,
    session_deadline: Instant,
}

/// A member's share session (ShareFetch's incremental fetch state).
#[derive(Debug, Clone, Default)]
struct ShareSession {
    /// The epoch the next request must carry.
    next_epoch: i32,
    partitions: BTreeSet<ShareKey>,
}

/// What a share session asks of this ShareFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSessionView {
    /// The partitions to fetch from.
    pub partitions: Vec<ShareKey>,
    /// A new session: every partition is answered, data or not.
    pub full: bool,
    /// The session was closed (epoch -1): acknowledge, release and fetch nothing.
    pub closed: bool,
}

/// A share group: members, assignment, share-partitions and sessions.
#[derive(Debug, Default)]
pub(crate) struct ShareGroup {
    pub(crate) group_epoch: i32,
    pub(crate) assignment_epoch: i32,
    pub(crate) members: BTreeMap<String, ShareMember>,
    subscribed: BTreeMap<String, (Uuid, i32)>,
    pub(crate) partitions: HashMap<ShareKey, SharePartition>,
    sessions: HashMap<String, ShareSession>,
}

fn to_list(a: &Assignment) -> Vec<(Uuid, Vec<i32>)> {
    a.iter()
        .map(|(t, ps)| (*t, ps.iter().copied().collect()))
        .collect()
}

/// `simple`: per topic, with no more members than partitions each partition goes to one member
/// (round robin); with more members, each member gets one partition and partitions are shared.
pub(crate) fn simple(
    subs: &BTreeMap<String, BTreeSet<Uuid>>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (t, &n) in partitions {
        if n <= 0 {
            continue;
        }
        let members: Vec<&String> = subs
            .iter()
            .filter(|(_, s)| s.contains(t))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        if members.len() <= n as usize {
            for p in 0..n {
                let m = members[p as usize % members.len()];
                out.entry(m.clone())
                    .or_default()
                    .entry(*t)
                    .or_default()
                    .insert(p);
            }
        } else {
            for (i, m) in members.iter().enumerate() {
                out.entry((*m).clone())
                    .or_default()
                    .entry(*t)
                    .or_default()
                    .insert(i as i32 % n);
            }
        }
    }
    out
}

/// Checks a ShareGroupHeartbeat the way Kafka does before it looks at the group.
pub(crate) fn validate(req: &ShareHeartbeat) -> Result<(), (ResponseError, Option<String>)> {
    let invalid = |m: &str| Err((ResponseError::InvalidRequest, Some(m.to_owned())));
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    if req.member_id.is_empty() {
        // Kafka answers this one without a message.
        return Err((ResponseError::InvalidRequest, None));
    }
    match req.member_epoch {
        0 => {
            if req
                .subscribed_topic_names
                .as_ref()
                .is_none_or(|n| n.is_empty())
            {
                return invalid("SubscribedTopicNames must be set in first request.");
            }
        }
        e if e > 0 || e == crate::consumer::LEAVE_EPOCH => {}
        _ => return invalid("MemberEpoch is invalid."),
    }
    Ok(())
}

impl ShareGroup {
    pub(crate) fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    /// The settings in force: the caller resolves the group's configs over the broker's.
    pub(crate) fn settings(&self, settings: &ShareSettings) -> ShareSettings {
        *settings
    }

    fn bump(&mut self) {
        self.group_epoch += 1;
    }

    fn resolve(&self, topics: &dyn TopicView) -> BTreeMap<String, (Uuid, i32)> {
        let mut out = BTreeMap::new();
        for m in self.members.values() {
            for n in &m.subscribed {
                if let Some(meta) = topics.by_name(n) {
                    out.insert(n.clone(), meta);
                }
            }
        }
        out
    }

    fn assign(&mut self) {
        let subs: BTreeMap<String, BTreeSet<Uuid>> = self
            .members
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    m.subscribed
                        .iter()
                        .filter_map(|n| self.subscribed.get(n).map(|(t, _)| *t))
                        .collect(),
                )
            })
            .collect();
        let partitions: BTreeMap<Uuid, i32> = self.subscribed.values().copied().collect();
        let mut targets = simple(&subs, &partitions);
        for (id, m) in self.members.iter_mut() {
            m.assigned = targets.remove(id).unwrap_or_default();
        }
        self.assignment_epoch = self.group_epoch;
    }

    fn remove_member(&mut self, id: &str, defaults: &ShareSettings) {
        if self.members.remove(id).is_some() {
            self.sessions.remove(id);
            let settings = self.settings(defaults);
            for p in self.partitions.values_mut() {
                p.release_member(id, &settings);
            }
            self.bump();
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        req: &ShareHeartbeat,
        defaults: &ShareSettings,
        topics: &dyn TopicView,
        now: Instant,
    ) -> Result<ShareHeartbeatResponse, (ResponseError, Option<String>)> {
        let settings = self.settings(defaults);
        let unknown = || {
            (
                ResponseError::UnknownMemberId,
                Some(format!(
                    "Member {} is not a member of group {}.",
                    req.member_id, req.group_id
                )),
            )
        };
        if req.member_epoch == crate::consumer::LEAVE_EPOCH {
            if !self.members.contains_key(&req.member_id) {
                return Err(unknown());
            }
            self.remove_member(&req.member_id, defaults);
            self.subscribed = self.resolve(topics);
            self.assign();
            return Ok(ShareHeartbeatResponse {
                member_id: Some(req.member_id.clone()),
                member_epoch: crate::consumer::LEAVE_EPOCH,
                ..Default::default()
            });
        }
        let joined = req.member_epoch == 0;
        if joined {
            if !self.members.contains_key(&req.member_id) {
                self.members.insert(
                    req.member_id.clone(),
                    ShareMember {
                        epoch: 0,
                        rack_id: None,
                        client_id: String::new(),
                        client_host: String::new(),
                        subscribed: Vec::new(),
                        assigned: Assignment::new(),
                        sent: None,
                        session_deadline: now,
                    },
                );
                self.bump();
            }
        } else {
            let Some(m) = self.members.get(&req.member_id) else {
                return Err(unknown());
            };
            // A smaller epoch is no harm (there is nothing to revoke): the member is told the
            // current one.
            if req.member_epoch > m.epoch {
                return Err((
                    ResponseError::FencedMemberEpoch,
                    Some(format!(
                        "The share group member has a greater member epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                        req.member_epoch, m.epoch
                    )),
                ));
            }
        }
        let m = self.members.get_mut(&req.member_id).expect("present");
        let mut changed = false;
        if let Some(names) = &req.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            if names != m.subscribed {
                m.subscribed = names;
                changed = true;
            }
        }
        if req.rack_id.is_some() {
            m.rack_id.clone_from(&req.rack_id);
        }
        m.client_id.clone_from(&req.client_id);
        m.client_host.clone_from(&req.client_host);
        m.session_deadline = now + settings.session_timeout;
        if changed && !joined {
            self.bump();
        }
        let subscribed = self.resolve(topics);
        if subscribed != self.subscribed {
            // Partitions the group never had are initialized (their share-partition state
            // created) before they are assigned: in Kafka that is an epoch of its own.
            let grown = subscribed
                .iter()
                .any(|(n, (t, count))| match self.subscribed.get(n) {
                    Some((old_t, old)) => old_t != t || count > old,
                    None => *count > 0,
                });
            self.subscribed = subscribed;
            self.bump();
            if grown {
                self.bump();
            }
        }
        if self.group_epoch > self.assignment_epoch {
            self.assign();
        }
        let epoch = self.assignment_epoch;
        let m = self.members.get_mut(&req.member_id).expect("present");
        let send = joined || m.sent.as_ref() != Some(&m.assigned);
        if send {
            m.sent = Some(m.assigned.clone());
        }
        m.epoch = epoch;
        Ok(ShareHeartbeatResponse {
            error: None,
            message: None,
            member_id: Some(req.member_id.clone()),
            member_epoch: epoch,
            heartbeat_interval_ms: settings.heartbeat_interval.as_millis() as i32,
            assignment: send.then(|| to_list(&m.assigned)),
        })
    }

    pub(crate) fn describe(&self) -> ShareGroupDescription {
        ShareGroupDescription {
            state: self.state_name(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            members: self
                .members
                .iter()
                .map(|(id, m)| ShareMemberDescription {
                    member_id: id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.clone(),
                    assignment: to_list(&m.assigned),
                })
                .collect(),
        }
    }

    /// Members whose session ran out leave; records whose lock ran out are released.
    pub(crate) fn expire(&mut self, defaults: &ShareSettings, now: Instant) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.session_deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        if !gone.is_empty() {
            for id in &gone {
                tracing::info!(member = %id, "share group member's session timed out");
                self.remove_member(id, defaults);
            }
            self.assignment_epoch = self.assignment_epoch.min(self.group_epoch);
            self.assign();
        }
        let settings = self.settings(defaults);
        for p in self.partitions.values_mut() {
            p.expire(now, &settings);
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.values().map(|m| m.session_deadline);
        let locks = self
            .partitions
            .values()
            .filter_map(SharePartition::next_lock_deadline);
        members.chain(locks).min()
    }

    /// Opens, moves on or closes `member`'s share session.
    pub(crate) fn session(
        &mut self,
        member: &str,
        epoch: i32,
        add: &[ShareKey],
        forget: &[ShareKey],
        fetching: bool,
    ) -> Result<ShareSessionView, ResponseError> {
        if !self.members.contains_key(member) {
            return Err(ResponseError::UnknownMemberId);
        }
        match epoch {
            0 if fetching => {
                let mut s = ShareSession {
                    next_epoch: 1,
                    partitions: add.iter().copied().collect(),
                };
                for k in forget {
                    s.partitions.remove(k);
                }
                let partitions = s.partitions.iter().copied().collect();
                self.sessions.insert(member.to_owned(), s);
                Ok(ShareSessionView {
                    partitions,
                    full: true,
                    closed: false,
                })
            }
            0 => Err(ResponseError::InvalidShareSessionEpoch),
            -1 => {
                let s = self
                    .sessions
                    .remove(member)
                    .ok_or(ResponseError::ShareSessionNotFound)?;
                Ok(ShareSessionView {
                    partitions: s.partitions.into_iter().collect(),
                    full: false,
                    closed: true,
                })
            }
            e => {
                let s = self
                    .sessions
                    .get_mut(member)
                    .ok_or(ResponseError::ShareSessionNotFound)?;
                if e != s.next_epoch {
                    return Err(ResponseError::InvalidShareSessionEpoch);
                }
                s.next_epoch = if s.next_epoch == i32::MAX {
                    1
                } else {
                    s.next_epoch + 1
                };
                if fetching {
                    s.partitions.extend(add.iter().copied());
                    for k in forget {
                        s.partitions.remove(k);
                    }
                }
                Ok(ShareSessionView {
                    partitions: s.partitions.iter().copied().collect(),
                    full: false,
                    closed: false,
                })
            }
        }
    }

    fn partition(
        &mut self,
        key: ShareKey,
        log_start: i64,
        log_end: i64,
        settings: &ShareSettings,
    ) -> &mut SharePartition {
        let p = self.partitions.entry(key).or_insert_with(|| {
            SharePartition::new(if settings.earliest {
                log_start
            } else {
                log_end
            })
        });
        p.trim_to(log_start);
        p
    }

    /// Where to read `key` from for a fetch, after releasing expired locks; `None` when the
    /// partition has nothing to give now.
    pub(crate) fn next_read(
        &mut self,
        key: ShareKey,
        log_start: i64,
        log_end: i64,
        defaults: &ShareSettings,
        now: Instant,
    ) -> Option<i64> {
        let settings = self.settings(defaults);
        let p = self.partition(key, log_start, log_end, &settings);
        p.expire(now, &settings);
        p.next_read(&settings).filter(|&o| o < log_end)
    }

    /// Acquires records for `member` among the batches read for `key`.
    pub(crate) fn acquire(
        &mut self,
        key: ShareKey,
        member: &str,
        batches: &[(i64, i64, bool)],
        max_records: usize,
        defaults: &ShareSettings,
        now: Instant,
    ) -> Vec<AcquiredRange> {
        let settings = self.settings(defaults);
        let member: Arc<str> = Arc::from(member);
        match self.partitions.get_mut(&key) {
            Some(p) => p.acquire(&member, batches, max_records, &settings, now),
            None => Vec::new(),
        }
    }

    pub(crate) fn acknowledge(
        &mut self,
        key: ShareKey,
        member: &str,
        batches: &[AckBatch],
        defaults: &ShareSettings,
    ) -> Result<(), (ResponseError, Option<&'static str>)> {
        AckBatch::check(batches).map_err(|e| (e, None))?;
        let settings = self.settings(defaults);
        match self.partitions.get_mut(&key) {
            Some(p) => p
                .acknowledge(member, batches, &settings)
                .map_err(|(e, m)| (e, Some(m))),
            None => Err((
                ResponseError::InvalidRecordState,
                Some(
                    "Batch record not found. The request batch offsets are not found in the cache.",
                ),
            )),
        }
    }

    /// Releases what `member` holds in these partitions (its session closed).
    pub(crate) fn release(&mut self, member: &str, keys: &[ShareKey], defaults: &ShareSettings) {
        let settings = self.settings(defaults);
        for k in keys {
            if let Some(p) = self.partitions.get_mut(k) {
                p.release_member(member, &settings);
            }
        }
    }

    /// AlterShareGroupOffsets of one partition: its state starts at `offset`.
    pub(crate) fn reset_partition(&mut self, key: ShareKey, offset: i64) {
        self.partitions
            .entry(key)
            .or_insert_with(|| SharePartition::new(offset))
            .reset_to(offset);
    }

    /// DeleteShareGroupOffsets of one topic: its share-partitions are forgotten; returns them.
    pub(crate) fn forget_topic(&mut self, topic: Uuid) -> Vec<ShareKey> {
        let keys: Vec<ShareKey> = self
            .partitions
            .keys()
            .filter(|k| k.0 == topic)
            .copied()
            .collect();
        for k in &keys {
            self.partitions.remove(k);
        }
        keys
    }

    /// The share-partitions whose state changed since the last call.
    pub(crate) fn take_dirty(&mut self) -> Vec<(ShareKey, SharePartitionState)> {
        self.partitions
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .map(|(k, p)| {
                p.dirty = false;
                (*k, p.state())
            })
            .collect()
    }

    pub(crate) fn restore_partition(
        &mut self,
        key: ShareKey,
        state: Option<&SharePartitionState>,
        now: Instant,
    ) {
        match state {
            Some(s) => {
                self.partitions.insert(key, SharePartition::restore(s, now));
            }
            None => {
                self.partitions.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic() -> Uuid {
        Uuid::from_u128(7)
    }

    fn settings(limit: i16) -> ShareSettings {
        ShareSettings {
            delivery_count_limit: limit,
            ..ShareSettings::default()
        }
    }

    #[test]
    fn simple_assignor_shares_partitions_only_when_members_outnumber_them() {
        let t = topic();
        let subs = |n: usize| -> BTreeMap<String, BTreeSet<Uuid>> {
            (0..n).map(|i| (format!("m{i}"), [t].into())).collect()
        };
        let parts: BTreeMap<Uuid, i32> = [(t, 4)].into();
        let two = simple(&subs(2), &parts);
        assert_eq!(two["m0"][&t], [0, 2].into());
        assert_eq!(two["m1"][&t], [1, 3].into());
        let six = simple(&subs(6), &parts);
        let counts: Vec<usize> = six.values().map(|a| a[&t].len()).collect();
        assert_eq!(counts, vec![1; 6]);
        assert_eq!(six["m4"][&t], [0].into());
    }

    #[test]
    fn records_are_acquired_released_and_archived_at_the_limit() {
        let s = settings(2);
        let now = Instant::now();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let mut p = SharePartition::new(10);
        let batches = [(10, 12, false), (13, 13, true), (14, 15, false)];
        let got = p.acquire(&a, &batches, 100, &s, now);
        assert_eq!(
            got,
            vec![
                AcquiredRange {
                    first: 10,
                    last: 12,
                    delivery_count: 1
                },
                AcquiredRange {
                    first: 14,
                    last: 15,
                    delivery_count: 1
                },
            ]
        );
        assert_eq!(p.end, 16);
        // Nothing left for b.
        assert!(p.acquire(&b, &batches, 100, &s, now).is_empty());
        // b may not acknowledge a's records; a releases 11 and accepts the rest.
        let release = AckBatch {
            first: 11,
            last: 11,
            types: vec![ack::RELEASE],
        };
        assert!(p
            .acknowledge("b", std::slice::from_ref(&release), &s)
            .is_err());
        p.acknowledge("a", &[release], &s).unwrap();
        let rest = AckBatch {
            first: 14,
            last: 15,
            types: vec![ack::ACCEPT],
        };
        p.acknowledge("a", &[rest], &s).unwrap();
        let accept10 = AckBatch {
            first: 10,
            last: 10,
            types: vec![ack::ACCEPT],
        };
        p.acknowledge("a", &[accept10], &s).unwrap();
        assert_eq!(p.start(), 11);
        // 11 goes to b, its second delivery; its lock expires: at the limit it is archived.
        let again = p.acquire(&b, &batches, 100, &s, now);
        assert_eq!(
            again,
            vec![AcquiredRange {
                first: 11,
                last: 11,
                delivery_count: 2
            }]
        );
        p.expire(now + s.record_lock_duration, &s);
        assert_eq!(p.start(), 12);
        // 12 is still a's until a leaves; then it is available again.
        p.release_member("a", &s);
        let last = p.acquire(&b, &batches, 100, &s, now);
        assert_eq!(
            last,
            vec![AcquiredRange {
                first: 12,
                last: 12,
                delivery_count: 2
            }]
        );
    }

    #[test]
    fn acknowledgement_batches_are_checked() {
        let ok = AckBatch {
            first: 0,
            last: 2,
            types: vec![1, 2, 3],
        };
        assert!(AckBatch::check(&[ok]).is_ok());
        let short = AckBatch {
            first: 0,
            last: 2,
            types: vec![1, 2],
        };
        assert!(AckBatch::check(&[short]).is_err());
        let unknown = AckBatch {
            first: 0,
            last: 0,
            types: vec![9],
        };
        assert!(AckBatch::check(&[unknown]).is_err());
        let backwards = AckBatch {
            first: 5,
            last: 4,
            types: vec![1],
        };
        assert!(AckBatch::check(&[backwards]).is_err());
    }

    #[test]
    fn share_session_epochs() {
        let mut g = ShareGroup::default();
        let now = Instant::now();
        let req = ShareHeartbeat {
            group_id: "g".into(),
            member_id: "m".into(),
            member_epoch: 0,
            subscribed_topic_names: Some(vec!["t".into()]),
            ..ShareHeartbeat::default()
        };
        struct NoTopics;
        impl TopicView for NoTopics {
            fn by_name(&self, _: &str) -> Option<(Uuid, i32)> {
                None
            }
            fn name_of(&self, _: Uuid) -> Option<String> {
                None
            }
            fn names(&self) -> Vec<String> {
                Vec::new()
            }
        }
        g.heartbeat(&req, &ShareSettings::default(), &NoTopics, now)
            .unwrap();
        let k = (topic(), 0);
        assert_eq!(
            g.session("x", 0, &[k], &[], true),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            g.session("m", 1, &[k], &[], true),
            Err(ResponseError::ShareSessionNotFound)
        );
        assert!(g.session("m", 0, &[k], &[], true).unwrap().full);
        assert_eq!(
            g.session("m", 2, &[], &[], true),
            Err(ResponseError::InvalidShareSessionEpoch)
        );
        assert_eq!(
            g.session("m", 1, &[], &[], true).unwrap().partitions,
            vec![k]
        );
        assert_eq!(
            g.session("m", 0, &[], &[], false),
            Err(ResponseError::InvalidShareSessionEpoch)
        );
        assert!(g.session("m", -1, &[], &[], false).unwrap().closed);
    }
}
