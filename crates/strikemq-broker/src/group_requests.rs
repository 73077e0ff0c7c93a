//! Consumer group requests: protocol structs in, coordinator calls, protocol structs out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strikemq_codec::messages::delete_groups_response::DeletableGroupResult;
use strikemq_codec::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use strikemq_codec::messages::join_group_response::JoinGroupResponseMember;
use strikemq_codec::messages::leave_group_response::MemberResponse;
use strikemq_codec::messages::list_groups_response::ListedGroup;
use strikemq_codec::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use strikemq_codec::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use strikemq_codec::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;
use strikemq_groups::{
    CommittedOffset, Completion, JoinRequest, JoinResponse, OffsetChange, Reply, SyncRequest,
    SyncResponse, TopicPartition,
};

use crate::errors::code;
use crate::log_throttle::LogThrottle;
use crate::{Broker, Outcome, Parked};

/// A JoinGroup or SyncGroup waiting for the rest of its group.
#[derive(Debug)]
pub struct ParkedGroup {
    pub(crate) slot: Arc<GroupSlot>,
    pub(crate) api_key: ApiKey,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
    pub(crate) deadline: Instant,
}

/// Where the coordinator's answer to a parked request lands.
#[derive(Debug, Default)]
pub(crate) struct GroupSlot(parking_lot::Mutex<Option<Completion>>);

impl GroupSlot {
    pub(crate) fn fill(&self, c: Completion) {
        *self.0.lock() = Some(c);
    }
    pub(crate) fn take(&self) -> Option<Completion> {
        self.0.lock().take()
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn opt(v: &Option<StrBytes>) -> Option<String> {
    v.as_ref().map(|s| s.as_str().to_owned())
}

fn err_code(e: Option<ResponseError>) -> i16 {
    e.map_or(0, code)
}

/// JoinGroup v5 added group.instance.id to the members the leader sees.
const JOIN_INSTANCE_ID_VERSION: i16 = 5;
/// JoinGroup v7 made the protocol name nullable (and added the protocol type).
const JOIN_NULLABLE_PROTOCOL_VERSION: i16 = 7;
/// JoinGroup v9 added skip_assignment (KIP-814).
const JOIN_SKIP_ASSIGNMENT_VERSION: i16 = 9;

pub(crate) fn join_response(r: JoinResponse, version: i16) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(err_code(r.error))
        .with_generation_id(r.generation_id)
        .with_protocol_type(r.protocol_type.as_deref().map(s))
        // Nullable only from v7: older clients cannot read a null protocol name.
        .with_protocol_name(match r.protocol_name.as_deref() {
            None if version < JOIN_NULLABLE_PROTOCOL_VERSION => Some(s("")),
            name => name.map(s),
        })
        .with_leader(s(&r.leader))
        .with_skip_assignment(r.skip_assignment && version >= JOIN_SKIP_ASSIGNMENT_VERSION)
        .with_member_id(s(&r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(&m.member_id))
                        .with_group_instance_id(if version >= JOIN_INSTANCE_ID_VERSION {
                            m.group_instance_id.as_deref().map(s)
                        } else {
                            None
                        })
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}

pub(crate) fn sync_response(r: SyncResponse) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(err_code(r.error))
        .with_protocol_type(r.protocol_type.as_deref().map(s))
        .with_protocol_name(r.protocol_name.as_deref().map(s))
        .with_assignment(r.assignment)
}

impl Broker {
    fn park_group(
        &self,
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        wait: Duration,
        now: Instant,
    ) -> (u64, Parked) {
        let (waiter, slot) = self.new_waiter();
        (
            waiter,
            Parked::Group(ParkedGroup {
                slot,
                api_key,
                version,
                correlation_id,
                // A safety net only: the coordinator answers by the rebalance timeout.
                deadline: now + wait + Duration::from_secs(30),
            }),
        )
    }

    pub(crate) fn join_group(
        &self,
        r: JoinGroupRequest,
        version: i16,
        correlation_id: i32,
        client_id: &str,
        host: &str,
        now: Instant,
    ) -> Outcome {
        let rebalance_timeout_ms = if version == 0 {
            r.session_timeout_ms
        } else {
            r.rebalance_timeout_ms
        };
        let wait =
            Duration::from_millis(rebalance_timeout_ms.max(r.session_timeout_ms).max(0) as u64);
        let (waiter, parked) =
            self.park_group(ApiKey::JoinGroup, version, correlation_id, wait, now);
        let req = JoinRequest {
            group_id: r.group_id.0.as_str().to_owned(),
            member_id: r.member_id.as_str().to_owned(),
            group_instance_id: opt(&r.group_instance_id),
            session_timeout_ms: r.session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type: r.protocol_type.as_str().to_owned(),
            protocols: r
                .protocols
                .iter()
                .map(|p| (p.name.as_str().to_owned(), p.metadata.clone()))
                .collect(),
            client_id: client_id.to_owned(),
            client_host: host.to_owned(),
            require_known_member_id: version >= 4,
            supports_skip_assignment: version >= JOIN_SKIP_ASSIGNMENT_VERSION,
            waiter,
        };
        let reply = self.with_groups(|g| g.join(req, now));
        match reply {
            Reply::Now(resp) => Outcome::respond(
                ApiKey::JoinGroup,
                version,
                correlation_id,
                ResponseKind::JoinGroup(join_response(resp, version)),
            ),
            Reply::Wait => self.recheck(parked, now),
        }
    }

    pub(crate) fn sync_group(
        &self,
        r: SyncGroupRequest,
        version: i16,
        correlation_id: i32,
        now: Instant,
    ) -> Outcome {
        let (waiter, parked) = self.park_group(
            ApiKey::SyncGroup,
            version,
            correlation_id,
            self.max_session_timeout(),
            now,
        );
        let req = SyncRequest {
            group_id: r.group_id.0.as_str().to_owned(),
            generation_id: r.generation_id,
            member_id: r.member_id.as_str().to_owned(),
            group_instance_id: opt(&r.group_instance_id),
            protocol_type: opt(&r.protocol_type),
            protocol_name: opt(&r.protocol_name),
            assignments: r
                .assignments
                .iter()
                .map(|a| (a.member_id.as_str().to_owned(), a.assignment.clone()))
                .collect(),
            waiter,
        };
        match self.with_groups(|g| g.sync(req, now)) {
            Reply::Now(resp) => Outcome::respond(
                ApiKey::SyncGroup,
                version,
                correlation_id,
                ResponseKind::SyncGroup(sync_response(resp)),
            ),
            Reply::Wait => self.recheck(parked, now),
        }
    }

    /// A parked request whose answer may already be in (the coordinator can complete it within the
    /// same call, e.g. the last member of a join phase).
    fn recheck(&self, parked: Parked, now: Instant) -> Outcome {
        self.resume(parked, now)
    }

    pub(crate) fn heartbeat(&self, r: &HeartbeatRequest, now: Instant) -> HeartbeatResponse {
        let e = self.with_groups(|g| {
            g.heartbeat(
                r.group_id.0.as_str(),
                r.member_id.as_str(),
                r.group_instance_id.as_ref().map(|s| s.as_str()),
                r.generation_id,
                now,
            )
        });
        HeartbeatResponse::default().with_error_code(err_code(e))
    }

    pub(crate) fn leave_group(
        &self,
        r: &LeaveGroupRequest,
        version: i16,
        now: Instant,
    ) -> LeaveGroupResponse {
        let members: Vec<(String, Option<String>)> = if version <= 2 {
            vec![(r.member_id.as_str().to_owned(), None)]
        } else {
            r.members
                .iter()
                .map(|m| (m.member_id.as_str().to_owned(), opt(&m.group_instance_id)))
                .collect()
        };
        let results = self.with_groups(|g| g.leave(r.group_id.0.as_str(), &members, now));
        if version <= 2 {
            return LeaveGroupResponse::default()
                .with_error_code(err_code(results.first().copied().flatten()));
        }
        LeaveGroupResponse::default().with_members(
            members
                .iter()
                .zip(results)
                .map(|((id, inst), e)| {
                    MemberResponse::default()
                        .with_member_id(s(id))
                        .with_group_instance_id(inst.as_deref().map(s))
                        .with_error_code(err_code(e))
                })
                .collect(),
        )
    }

    pub(crate) fn offset_commit(
        &self,
        r: &OffsetCommitRequest,
        version: i16,
        now: Instant,
    ) -> OffsetCommitResponse {
        let group_id = r.group_id.0.as_str();
        let max_metadata = self.groups_config().max_metadata_bytes;
        let now_ms = wall_clock_ms();
        let store = self.store();
        // (topic index, partition index) -> error, and the offsets to write.
        let mut results: Vec<Vec<i16>> = r
            .topics
            .iter()
            .map(|t| vec![0; t.partitions.len()])
            .collect();
        let mut changes = Vec::new();
        let verdict = self.with_groups(|g| {
            g.validate_commit(
                group_id,
                r.generation_id_or_member_epoch,
                r.member_id.as_str(),
                r.group_instance_id.as_ref().map(|s| s.as_str()),
                version,
                now,
            )
        });
        // A KIP-848 member at an older epoch may still commit the partitions it has held since.
        let older_epoch_ok = |topic: Option<&strikemq_storage::Topic>, partition: i32| {
            verdict == Err(ResponseError::StaleMemberEpoch)
                && topic.is_some_and(|t| {
                    self.with_groups(|g| {
                        g.may_commit_at_older_epoch(
                            group_id,
                            r.member_id.as_str(),
                            r.generation_id_or_member_epoch,
                            t.id(),
                            partition,
                        )
                    })
                })
        };
        for (ti, t) in r.topics.iter().enumerate() {
            let topic = store.topic(t.name.0.as_str());
            for (pi, p) in t.partitions.iter().enumerate() {
                let verdict = match verdict {
                    Err(_) if older_epoch_ok(topic.as_deref(), p.partition_index) => Ok(()),
                    v => v,
                };
                let e = if let Err(e) = verdict {
                    Some(e)
                } else if let Err(e) = check_offset(
                    topic.as_deref(),
                    p.partition_index,
                    p.committed_metadata.as_ref(),
                    max_metadata,
                ) {
                    Some(e)
                } else {
                    changes.push(OffsetChange {
                        group: group_id.to_owned(),
                        partition: TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        offset: Some(CommittedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: opt(&p.committed_metadata),
                            commit_ms: now_ms,
                        }),
                    });
                    None
                };
                results[ti][pi] = err_code(e);
            }
        }
        if let Err(e) = self.persist_offsets(&changes, now) {
            static COMMIT_FAILED: LogThrottle = LogThrottle::new();
            if let Some(suppressed) = COMMIT_FAILED.allow() {
                tracing::error!(group = group_id, error = %e, suppressed, "cannot write committed offsets");
            }
            for (ti, t) in r.topics.iter().enumerate() {
                for (pi, _) in t.partitions.iter().enumerate() {
                    if results[ti][pi] == 0 {
                        results[ti][pi] = code(ResponseError::CoordinatorNotAvailable);
                    }
                }
            }
        }
        OffsetCommitResponse::default().with_topics(
            r.topics
                .iter()
                .zip(results)
                .map(|(t, codes)| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .zip(codes)
                                .map(|(p, c)| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(c)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    /// Committed offsets of one group: per requested topic (or every committed one when `None`),
    /// (topic, [(partition, offset, leader epoch, metadata)]).
    #[allow(clippy::type_complexity)]
    fn fetch_group_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> Vec<(String, Vec<(i32, i64, i32, String, i16)>)> {
        let mut rows = self.with_groups(|g| {
            let wanted = match topics {
                Some(t) => t,
                None => {
                    let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
                    for (TopicPartition { topic, partition }, _) in g.all_committed(group_id) {
                        match by_topic.last_mut() {
                            Some((t, ps)) if *t == topic => ps.push(partition),
                            _ => by_topic.push((topic, vec![partition])),
                        }
                    }
                    by_topic
                }
            };
            wanted
                .into_iter()
                .map(|(topic, partitions)| {
                    let rows = partitions
                        .into_iter()
                        .map(|p| match g.committed(group_id, &topic, p) {
                            Some(c) => (
                                p,
                                c.offset,
                                c.leader_epoch,
                                c.metadata.clone().unwrap_or_default(),
                                0,
                            ),
                            None => (p, -1, -1, String::new(), 0),
                        })
                        .collect();
                    (topic, rows)
                })
                .collect::<Vec<(String, Vec<_>)>>()
        });
        if require_stable {
            // KIP-447: an offset a transaction has committed but not yet ended is unstable.
            for (topic, parts) in &mut rows {
                for row in parts.iter_mut() {
                    if self.has_pending_offset(group_id, topic, row.0) {
                        *row = (
                            row.0,
                            -1,
                            -1,
                            String::new(),
                            code(ResponseError::UnstableOffsetCommit),
                        );
                    }
                }
            }
        }
        rows
    }

    pub(crate) fn offset_fetch(&self, r: &OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        if version < 8 {
            let topics = r.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.0.as_str().to_owned(), t.partition_indexes.clone()))
                    .collect()
            });
            let rows = self.fetch_group_offsets(r.group_id.0.as_str(), topics, r.require_stable);
            return OffsetFetchResponse::default().with_topics(
                rows.into_iter()
                    .map(|(topic, parts)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(s(&topic)))
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, o, e, m, error)| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(o)
                                            .with_committed_leader_epoch(e)
                                            .with_metadata(Some(s(&m)))
                                            .with_error_code(error)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        }
        let groups = r
            .groups
            .iter()
            .map(|grp| {
                // OffsetFetch v9+ from a KIP-848 member names it and its epoch.
                let member = grp.member_id.as_ref().map(|m| m.as_str());
                let checked = self.with_groups(|g| {
                    g.validate_fetch(grp.group_id.0.as_str(), member, grp.member_epoch)
                });
                if let Err(e) = checked {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(grp.group_id.clone())
                        .with_error_code(code(e));
                }
                let topics = grp.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.as_str().to_owned(), t.partition_indexes.clone()))
                        .collect()
                });
                let rows =
                    self.fetch_group_offsets(grp.group_id.0.as_str(), topics, r.require_stable);
                OffsetFetchResponseGroup::default()
                    .with_group_id(grp.group_id.clone())
                    .with_topics(
                        rows.into_iter()
                            .map(|(topic, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(s(&topic)))
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|(p, o, e, m, error)| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(o)
                                                    .with_committed_leader_epoch(e)
                                                    .with_metadata(Some(s(&m)))
                                                    .with_error_code(error)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default().with_groups(groups)
    }

    pub(crate) fn list_groups(&self, r: &ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let states: Vec<String> = r
            .states_filter
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        let types: Vec<String> = r
            .types_filter
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        let listed = self.with_groups(|g| g.list());
        ListGroupsResponse::default().with_groups(
            listed
                .into_iter()
                .filter(|l| {
                    states.is_empty() || states.contains(&l.state_name.to_ascii_lowercase())
                })
                .filter(|l| types.is_empty() || types.iter().any(|t| t == l.group_type))
                .map(|l| {
                    let g = ListedGroup::default()
                        .with_group_id(GroupId(s(&l.group_id)))
                        .with_protocol_type(s(&l.protocol_type));
                    let g = if version >= 4 {
                        g.with_group_state(s(l.state_name))
                    } else {
                        g
                    };
                    if version >= 5 {
                        g.with_group_type(s(l.group_type))
                    } else {
                        g
                    }
                })
                .collect(),
        )
    }

    pub(crate) fn describe_groups(
        &self,
        r: &DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let groups = r
            .groups
            .iter()
            .map(|id| {
                let base = DescribedGroup::default().with_group_id(id.clone());
                // No ACLs: READ 3, DELETE 6 and DESCRIBE 8 are allowed on every group. Kafka
                // sends i32::MIN when the client did not ask.
                let base = if version >= 3 && r.include_authorized_operations {
                    base.with_authorized_operations(crate::metadata::ops(&[3, 6, 8]))
                } else if version >= 3 {
                    base.with_authorized_operations(i32::MIN)
                } else {
                    base
                };
                if self.with_groups(|g| {
                    g.is_consumer_group(id.0.as_str()) || g.is_share_group(id.0.as_str())
                }) {
                    let d = base.with_group_state(s("Dead"));
                    return if version >= 6 {
                        d.with_error_code(code(ResponseError::GroupIdNotFound))
                            .with_error_message(Some(s(&format!(
                                "Group {} is not a classic group.",
                                id.0.as_str()
                            ))))
                    } else {
                        d
                    };
                }
                match self.with_groups(|g| g.describe(id.0.as_str())) {
                    None => {
                        let d = base.with_group_state(s("Dead"));
                        // DescribeGroups v6 reports unknown groups as an error (KIP-1043).
                        if version >= 6 {
                            d.with_error_code(code(ResponseError::GroupIdNotFound))
                                .with_error_message(Some(s(&format!(
                                    "Group {} not found.",
                                    id.0.as_str()
                                ))))
                        } else {
                            d
                        }
                    }
                    Some(d) => base
                        .with_group_state(s(d.state.as_str()))
                        .with_protocol_type(s(&d.protocol_type))
                        .with_protocol_data(s(&d.protocol_name))
                        .with_members(
                            d.members
                                .into_iter()
                                .map(|m| {
                                    DescribedGroupMember::default()
                                        .with_member_id(s(&m.member_id))
                                        .with_group_instance_id(if version >= 4 {
                                            m.group_instance_id.as_deref().map(s)
                                        } else {
                                            None
                                        })
                                        .with_client_id(s(&m.client_id))
                                        .with_client_host(s(&m.client_host))
                                        .with_member_metadata(m.metadata)
                                        .with_member_assignment(m.assignment)
                                })
                                .collect(),
                        ),
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    pub(crate) fn delete_groups(
        &self,
        r: &DeleteGroupsRequest,
        now: Instant,
    ) -> DeleteGroupsResponse {
        let results = r
            .groups_names
            .iter()
            .map(|id| {
                let res = self.with_groups(|g| g.delete(id.0.as_str()));
                let e = match res {
                    Ok(keys) => {
                        let changes: Vec<_> = keys
                            .into_iter()
                            .map(|partition| OffsetChange {
                                group: id.0.as_str().to_owned(),
                                partition,
                                offset: None,
                            })
                            .collect();
                        if let Err(e) = self.persist_offsets(&changes, now) {
                            tracing::error!(group = id.0.as_str(), error = %e, "cannot record deleted offsets");
                        }
                        None
                    }
                    Err(e) => Some(e),
                };
                DeletableGroupResult::default().with_group_id(id.clone()).with_error_code(err_code(e))
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }

    pub(crate) fn offset_delete(
        &self,
        r: &OffsetDeleteRequest,
        now: Instant,
    ) -> OffsetDeleteResponse {
        let group_id = r.group_id.0.as_str();
        let Some(subscribed) = self.with_groups(|g| g.subscribed_topics(group_id)) else {
            return OffsetDeleteResponse::default()
                .with_error_code(code(ResponseError::GroupIdNotFound));
        };
        let store = self.store();
        let mut changes = Vec::new();
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let name = t.name.0.as_str();
                let topic = store.topic(name);
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                let e = if !topic
                                    .as_ref()
                                    .is_some_and(|t| t.has_partition(p.partition_index))
                                {
                                    Some(ResponseError::UnknownTopicOrPartition)
                                } else if subscribed.iter().any(|s| s == name) {
                                    Some(ResponseError::GroupSubscribedToTopic)
                                } else {
                                    changes.push(OffsetChange {
                                        group: group_id.to_owned(),
                                        partition: TopicPartition::new(name, p.partition_index),
                                        offset: None,
                                    });
                                    None
                                };
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(err_code(e))
                            })
                            .collect(),
                    )
            })
            .collect();
        if let Err(e) = self.persist_offsets(&changes, now) {
            tracing::error!(group = group_id, error = %e, "cannot record deleted offsets");
            return OffsetDeleteResponse::default()
                .with_error_code(code(ResponseError::CoordinatorNotAvailable));
        }
        OffsetDeleteResponse::default().with_topics(topics)
    }
}

/// Milliseconds since the Unix epoch, for commit timestamps.
/// Whether an offset (OffsetCommit, TxnOffsetCommit) may be committed for this partition: it
/// exists, and the metadata fits `offset.metadata.max.bytes`.
pub(crate) fn check_offset(
    topic: Option<&strikemq_storage::Topic>,
    partition: i32,
    metadata: Option<&StrBytes>,
    max_metadata: usize,
) -> Result<(), ResponseError> {
    if !topic.is_some_and(|t| t.has_partition(partition)) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if metadata.is_some_and(|m| m.len() > max_metadata) {
        return Err(ResponseError::OffsetMetadataTooLarge);
    }
    Ok(())
}

pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The response a parked group request gets from its completion.
pub(crate) fn completion_response(c: Completion, version: i16) -> ResponseKind {
    match c {
        Completion::Join(_, r) => ResponseKind::JoinGroup(join_response(r, version)),
        Completion::Sync(_, r) => ResponseKind::SyncGroup(sync_response(r)),
    }
}

/// The classic group protocol's handlers of the route table.
impl Broker {
    pub(crate) fn route_join_group(
        &self,
        r: JoinGroupRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        self.join_group(
            r,
            ctx.api_version,
            ctx.correlation_id,
            ctx.client_id,
            ctx.client_host,
            ctx.now,
        )
    }

    pub(crate) fn route_sync_group(
        &self,
        r: SyncGroupRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        self.sync_group(r, ctx.api_version, ctx.correlation_id, ctx.now)
    }

    pub(crate) fn route_heartbeat(
        &self,
        r: HeartbeatRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::Heartbeat(self.heartbeat(&r, ctx.now)))
    }

    pub(crate) fn route_leave_group(
        &self,
        r: LeaveGroupRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::LeaveGroup(self.leave_group(
            &r,
            ctx.api_version,
            ctx.now,
        )))
    }

    pub(crate) fn route_offset_commit(
        &self,
        r: OffsetCommitRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::OffsetCommit(self.offset_commit(
            &r,
            ctx.api_version,
            ctx.now,
        )))
    }

    pub(crate) fn route_offset_fetch(
        &self,
        r: OffsetFetchRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::OffsetFetch(
            self.offset_fetch(&r, ctx.api_version),
        ))
    }

    pub(crate) fn route_list_groups(
        &self,
        r: ListGroupsRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::ListGroups(
            self.list_groups(&r, ctx.api_version),
        ))
    }

    pub(crate) fn route_describe_groups(
        &self,
        r: DescribeGroupsRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::DescribeGroups(
            self.describe_groups(&r, ctx.api_version),
        ))
    }

    pub(crate) fn route_delete_groups(
        &self,
        r: DeleteGroupsRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::DeleteGroups(self.delete_groups(&r, ctx.now)))
    }

    pub(crate) fn route_offset_delete(
        &self,
        r: OffsetDeleteRequest,
        ctx: &crate::routes::RequestContext<'_>,
    ) -> Outcome {
        ctx.respond(ResponseKind::OffsetDelete(self.offset_delete(&r, ctx.now)))
    }
}
