//! KIP-932 share groups: ShareGroupHeartbeat, ShareGroupDescribe, ShareFetch and
//! ShareAcknowledge. The coordinator (`strikemq_groups`) keeps the membership and each
//! share-partition's in-flight records; this module reads the logs and turns requests into its
//! calls. A ShareFetch that acquired nothing waits, as a Fetch does, until records arrive or its
//! `max_wait_ms` passes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strikemq_codec::messages::share_fetch_response::{
    AcquiredRecords, PartitionData, ShareFetchableTopicResponse,
};
use strikemq_codec::messages::share_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member,
    TopicPartitions as DescribedPartitions,
};
use strikemq_codec::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use strikemq_codec::messages::{
    share_acknowledge_response, AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse,
    ApiKey, DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse,
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, ResponseKind,
    ShareAcknowledgeRequest, ShareAcknowledgeResponse, ShareFetchRequest, ShareFetchResponse,
    ShareGroupDescribeRequest, ShareGroupDescribeResponse, ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse, TopicName,
};
use strikemq_codec::response::{Response, ResponseBody};
use strikemq_codec::{ResponseError, StrBytes};
use strikemq_groups::{AckBatch, ShareHeartbeat, ShareKey, SHARE_ASSIGNOR};
use strikemq_storage::{FetchBound, Isolation};
use uuid::Uuid;

use crate::consumer_groups::StoreTopics;
use crate::errors::code;
use crate::routes::RequestContext;
use crate::{Broker, Outcome, Parked};

/// Kafka's `fetch.max.bytes`, which also caps a ShareFetch response.
const FETCH_MAX_BYTES: i32 = 55 * 1024 * 1024;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

pub(crate) fn route_heartbeat(
    broker: &Broker,
    r: ShareGroupHeartbeatRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let req = ShareHeartbeat {
        group_id: r.group_id.0.to_string(),
        member_id: r.member_id.to_string(),
        member_epoch: r.member_epoch,
        rack_id: r.rack_id.as_ref().map(|v| v.to_string()),
        subscribed_topic_names: r
            .subscribed_topic_names
            .as_ref()
            .map(|ns| ns.iter().map(|n| n.0.to_string()).collect()),
        client_id: ctx.client_id.to_owned(),
        client_host: ctx.client_host.to_owned(),
    };
    let topics = StoreTopics(broker.store());
    let out = broker.with_groups(|g| g.share_heartbeat(req, &topics, ctx.now));
    let mut resp = ShareGroupHeartbeatResponse::default()
        .with_member_id(out.member_id.as_deref().map(s))
        .with_member_epoch(out.member_epoch)
        .with_heartbeat_interval_ms(out.heartbeat_interval_ms)
        .with_assignment(out.assignment.map(|parts| {
            Assignment::default().with_topic_partitions(
                parts
                    .into_iter()
                    .map(|(t, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(t)
                            .with_partitions(ps)
                    })
                    .collect(),
            )
        }));
    if let Some(e) = out.error {
        resp = resp
            .with_error_code(code(e))
            .with_error_message(out.message.as_deref().map(s))
            .with_member_epoch(0)
            .with_heartbeat_interval_ms(0);
    }
    ctx.respond(ResponseKind::ShareGroupHeartbeat(resp))
}

pub(crate) fn route_describe(
    broker: &Broker,
    r: ShareGroupDescribeRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let store = broker.store();
    let groups = r
        .group_ids
        .iter()
        .map(|id| {
            // No ACLs: READ 3, DELETE 6, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
            let ops = if r.include_authorized_operations {
                crate::metadata::ops(&[3, 6, 8, 10, 11])
            } else {
                i32::MIN
            };
            let base = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(i32::MIN);
            match broker.with_groups(|g| g.share_describe(id.0.as_str())) {
                Err((e, message)) => base
                    .with_error_code(code(e))
                    .with_error_message(Some(s(&message))),
                Ok(d) => base
                    .with_authorized_operations(ops)
                    .with_group_state(s(d.state))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(s(SHARE_ASSIGNOR))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let parts = m
                                    .assignment
                                    .into_iter()
                                    .map(|(t, ps)| {
                                        let name = store
                                            .topic_by_id(t)
                                            .map(|t| t.name().to_owned())
                                            .unwrap_or_default();
                                        DescribedPartitions::default()
                                            .with_topic_id(t)
                                            .with_topic_name(TopicName(s(&name)))
                                            .with_partitions(ps)
                                    })
                                    .collect();
                                Member::default()
                                    .with_member_id(s(&m.member_id))
                                    .with_rack_id(m.rack_id.as_deref().map(s))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(s(&m.client_id))
                                    .with_client_host(s(&m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed_topic_names
                                            .iter()
                                            .map(|n| TopicName(s(n)))
                                            .collect(),
                                    )
                                    .with_assignment(
                                        DescribedAssignment::default().with_topic_partitions(parts),
                                    )
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ctx.respond(ResponseKind::ShareGroupDescribe(
        ShareGroupDescribeResponse::default().with_groups(groups),
    ))
}

/// A partition of a ShareFetch answer: what its acknowledgements gave, if it had any.
#[derive(Debug, Default, Clone, Copy)]
struct PartitionNote {
    ack_error: Option<(i16, Option<&'static str>)>,
}

/// A ShareFetch whose acknowledgements and session change are done, waiting for records.
#[derive(Debug)]
pub struct ParkedShareFetch {
    group: String,
    member: String,
    version: i16,
    correlation_id: i32,
    deadline: Instant,
    max_records: usize,
    max_bytes: usize,
    partition_max_bytes: BTreeMap<ShareKey, usize>,
    /// The session's partitions, and what the request's acknowledgements answered.
    partitions: BTreeMap<ShareKey, PartitionNote>,
    /// A new session: every partition is answered.
    full: bool,
}

impl ParkedShareFetch {
    /// When it must be answered, records or not.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

fn ack_batches<'a>(batches: impl Iterator<Item = (i64, i64, &'a Vec<i8>)>) -> Vec<AckBatch> {
    batches
        .map(|(first, last, types)| AckBatch {
            first,
            last,
            types: types.clone(),
        })
        .collect()
}

fn top_level_error(version: i16, correlation_id: i32, e: ResponseError) -> Outcome {
    Outcome::Respond(Response {
        api_key: ApiKey::ShareFetch,
        api_version: version,
        correlation_id,
        body: ResponseBody::Kafka(ResponseKind::ShareFetch(
            ShareFetchResponse::default().with_error_code(code(e)),
        )),
    })
}

pub(crate) fn route_fetch(
    broker: &Broker,
    r: ShareFetchRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let (Some(group), Some(member)) = (r.group_id.as_ref(), r.member_id.as_ref()) else {
        return top_level_error(
            ctx.api_version,
            ctx.correlation_id,
            ResponseError::InvalidRequest,
        );
    };
    let (group, member) = (group.0.to_string(), member.to_string());
    if group.is_empty() || member.is_empty() {
        return top_level_error(
            ctx.api_version,
            ctx.correlation_id,
            ResponseError::InvalidRequest,
        );
    }
    let add: Vec<ShareKey> = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, p.partition_index)))
        .collect();
    let forget: Vec<ShareKey> = r
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, *p)))
        .collect();
    let epoch = r.share_session_epoch;
    let session = match broker
        .with_groups(|g| g.share_session(&group, &member, epoch, &add, &forget, true))
    {
        Ok(s) => s,
        Err(e) => return top_level_error(ctx.api_version, ctx.correlation_id, e),
    };
    let mut partitions: BTreeMap<ShareKey, PartitionNote> = session
        .partitions
        .iter()
        .map(|k| (*k, PartitionNote::default()))
        .collect();
    // Acknowledgements first: what they release may be fetched by this very request.
    for t in &r.topics {
        for p in &t.partitions {
            if p.acknowledgement_batches.is_empty() {
                continue;
            }
            let key = (t.topic_id, p.partition_index);
            let batches = ack_batches(
                p.acknowledgement_batches
                    .iter()
                    .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types)),
            );
            let result =
                broker.with_groups(|g| g.share_acknowledge(&group, &member, key, &batches));
            partitions.entry(key).or_default().ack_error =
                Some(result.err().map_or((0, None), |(e, m)| (code(e), m)));
        }
    }
    if session.closed {
        broker.with_groups(|g| g.share_release(&group, &member, &session.partitions));
        broker.wake_parked();
        partitions.retain(|_, n| n.ack_error.is_some());
    } else if partitions.values().any(|n| n.ack_error.is_some()) {
        // A release may let a waiting member have those records.
        broker.wake_parked();
    }
    let partition_max_bytes = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    (t.topic_id, p.partition_index),
                    p.partition_max_bytes.max(0) as usize,
                )
            })
        })
        .collect();
    let wait = if session.closed {
        0
    } else {
        r.max_wait_ms.max(0)
    };
    let parked = ParkedShareFetch {
        group,
        member,
        version: ctx.api_version,
        correlation_id: ctx.correlation_id,
        deadline: ctx.now + Duration::from_millis(wait as u64),
        max_records: if r.max_records > 0 {
            r.max_records as usize
        } else {
            usize::MAX
        },
        max_bytes: r.max_bytes.clamp(0, FETCH_MAX_BYTES) as usize,
        partition_max_bytes,
        partitions,
        full: session.full,
    };
    if session.closed {
        return respond(broker, &parked, BTreeMap::new());
    }
    run(broker, parked, ctx.now)
}

/// What one partition gave: an error, or records and their acquired ranges.
#[derive(Debug, Default)]
struct Fetched {
    error: i16,
    records: Bytes,
    acquired: Vec<AcquiredRecords>,
}

/// Reads and acquires; parks when nothing was acquired and time remains.
pub(crate) fn run(broker: &Broker, p: ParkedShareFetch, now: Instant) -> Outcome {
    let store = broker.store();
    let mut fetched: BTreeMap<ShareKey, Fetched> = BTreeMap::new();
    let mut remaining_bytes = p.max_bytes;
    let mut remaining_records = p.max_records;
    let mut any = false;
    for key in p.partitions.keys() {
        let topic = store.topic_by_id(key.0);
        let log = match crate::errors::partition_log(topic.as_deref(), key.1) {
            Ok(log) => log,
            Err(e) => {
                let e = if topic.is_none() {
                    ResponseError::UnknownTopicId
                } else {
                    e
                };
                fetched.insert(
                    *key,
                    Fetched {
                        error: code(e),
                        ..Fetched::default()
                    },
                );
                any = true;
                continue;
            }
        };
        if remaining_records == 0 || remaining_bytes == 0 {
            continue;
        }
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        let Some(from) = broker.with_groups(|g| g.share_next_read(&p.group, *key, start, end, now))
        else {
            continue;
        };
        let limit = p
            .partition_max_bytes
            .get(key)
            .copied()
            .unwrap_or(usize::MAX)
            .min(remaining_bytes);
        let read = match log.read_for_fetch(
            from,
            limit,
            FetchBound::AtLeastOneBatch,
            Isolation::ReadUncommitted,
        ) {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(partition = key.1, error = %e, "share fetch read failed");
                continue;
            }
        };
        let mut batches = Vec::new();
        let mut ends = Vec::new();
        let mut at = 0usize;
        for b in strikemq_codec::batch::batches(&read.records) {
            let Ok(b) = b else { break };
            at += b.size();
            batches.push((b.base_offset(), b.last_offset(), b.is_control()));
            ends.push(at);
        }
        let acquired = broker.with_groups(|g| {
            g.share_acquire(&p.group, &p.member, *key, &batches, remaining_records, now)
        });
        if acquired.is_empty() {
            continue;
        }
        // Send the batches up to the last one holding an acquired record.
        let last = acquired.last().map_or(-1, |r| r.last);
        let cut = batches
            .iter()
            .position(|&(_, l, _)| l >= last)
            .map_or(read.records.len(), |i| ends[i]);
        let records = read.records.slice(..cut);
        remaining_bytes = remaining_bytes.saturating_sub(records.len());
        let n: i64 = acquired.iter().map(|r| r.last - r.first + 1).sum();
        remaining_records = remaining_records.saturating_sub(n as usize);
        any = true;
        fetched.insert(
            *key,
            Fetched {
                error: 0,
                records,
                acquired: acquired
                    .into_iter()
                    .map(|r| {
                        AcquiredRecords::default()
                            .with_first_offset(r.first)
                            .with_last_offset(r.last)
                            .with_delivery_count(r.delivery_count)
                    })
                    .collect(),
            },
        );
    }
    if !any && now < p.deadline {
        return Outcome::Park(Parked::ShareFetch(p));
    }
    respond(broker, &p, fetched)
}

fn respond(
    broker: &Broker,
    p: &ParkedShareFetch,
    mut fetched: BTreeMap<ShareKey, Fetched>,
) -> Outcome {
    let lock_ms = broker
        .with_groups(|g| g.share_settings(&p.group))
        .record_lock_duration
        .as_millis() as i32;
    let mut topics: BTreeMap<Uuid, Vec<PartitionData>> = BTreeMap::new();
    for (key, note) in &p.partitions {
        let f = fetched.remove(key);
        if !p.full && f.is_none() && note.ack_error.is_none() {
            continue;
        }
        let f = f.unwrap_or_default();
        topics.entry(key.0).or_default().push(
            PartitionData::default()
                .with_partition_index(key.1)
                .with_error_code(f.error)
                .with_acknowledge_error_code(note.ack_error.map_or(0, |(c, _)| c))
                .with_acknowledge_error_message(note.ack_error.and_then(|(_, m)| m).map(s))
                .with_records(Some(f.records))
                .with_acquired_records(f.acquired),
        );
    }
    let responses = topics
        .into_iter()
        .map(|(t, partitions)| {
            ShareFetchableTopicResponse::default()
                .with_topic_id(t)
                .with_partitions(partitions)
        })
        .collect();
    Outcome::Respond(Response {
        api_key: ApiKey::ShareFetch,
        api_version: p.version,
        correlation_id: p.correlation_id,
        body: ResponseBody::Kafka(ResponseKind::ShareFetch(
            ShareFetchResponse::default()
                .with_acquisition_lock_timeout_ms(lock_ms)
                .with_responses(responses),
        )),
    })
}

pub(crate) fn route_acknowledge(
    broker: &Broker,
    r: ShareAcknowledgeRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let error = |e: ResponseError| {
        ctx.respond(ResponseKind::ShareAcknowledge(
            ShareAcknowledgeResponse::default().with_error_code(code(e)),
        ))
    };
    let (Some(group), Some(member)) = (r.group_id.as_ref(), r.member_id.as_ref()) else {
        return error(ResponseError::InvalidRequest);
    };
    let (group, member) = (group.0.to_string(), member.to_string());
    if group.is_empty() || member.is_empty() {
        return error(ResponseError::InvalidRequest);
    }
    let session = match broker
        .with_groups(|g| g.share_session(&group, &member, r.share_session_epoch, &[], &[], false))
    {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let mut responses = Vec::new();
    for t in &r.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let key = (t.topic_id, p.partition_index);
            let batches = ack_batches(
                p.acknowledgement_batches
                    .iter()
                    .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types)),
            );
            let known = broker.store().topic_by_id(t.topic_id).is_some();
            let result = if known {
                broker.with_groups(|g| g.share_acknowledge(&group, &member, key, &batches))
            } else {
                Err((ResponseError::UnknownTopicId, None))
            };
            let (error, message) = result.err().map_or((0, None), |(e, m)| (code(e), m));
            partitions.push(
                share_acknowledge_response::PartitionData::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error)
                    .with_error_message(message.map(s)),
            );
        }
        responses.push(
            share_acknowledge_response::ShareAcknowledgeTopicResponse::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions),
        );
    }
    if session.closed {
        broker.with_groups(|g| g.share_release(&group, &member, &session.partitions));
    }
    broker.wake_parked();
    ctx.respond(ResponseKind::ShareAcknowledge(
        ShareAcknowledgeResponse::default().with_responses(responses),
    ))
}

/// DescribeShareGroupOffsets: each share-partition's start offset (SPSO), -1 for a partition the
/// group never read.
pub(crate) fn route_describe_offsets(
    broker: &Broker,
    r: DescribeShareGroupOffsetsRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    use strikemq_codec::messages::describe_share_group_offsets_response::{
        DescribeShareGroupOffsetsResponseGroup as Group,
        DescribeShareGroupOffsetsResponsePartition as Partition,
        DescribeShareGroupOffsetsResponseTopic as Topic,
    };
    let store = broker.store();
    let groups = r
        .groups
        .iter()
        .map(|g| {
            let base = Group::default().with_group_id(g.group_id.clone());
            // As Kafka: a group without share state (or none at all) has start offset -1
            // everywhere, without an error.
            let states = broker
                .with_groups(|c| c.share_offsets(g.group_id.0.as_str()))
                .unwrap_or_default();
            let start = |key: ShareKey| {
                states
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(-1, |(_, o)| *o)
            };
            let asked: Vec<(String, Vec<i32>)> = match &g.topics {
                Some(ts) => ts
                    .iter()
                    .map(|t| (t.topic_name.0.to_string(), t.partitions.clone()))
                    .collect(),
                None => {
                    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for ((t, p), _) in &states {
                        if let Some(topic) = store.topic_by_id(*t) {
                            by_topic
                                .entry(topic.name().to_owned())
                                .or_default()
                                .push(*p);
                        }
                    }
                    by_topic.into_iter().collect()
                }
            };
            let topics = asked
                .into_iter()
                .map(|(name, parts)| {
                    let topic = store.topic(&name);
                    let id = topic.as_ref().map_or(Uuid::nil(), |t| t.id());
                    let partitions = parts
                        .into_iter()
                        .map(|p| {
                            Partition::default()
                                .with_partition_index(p)
                                .with_start_offset(start((id, p)))
                                .with_leader_epoch(0)
                        })
                        .collect();
                    Topic::default()
                        .with_topic_name(TopicName(s(&name)))
                        .with_topic_id(id)
                        .with_partitions(partitions)
                })
                .collect();
            base.with_topics(topics)
        })
        .collect();
    ctx.respond(ResponseKind::DescribeShareGroupOffsets(
        DescribeShareGroupOffsetsResponse::default().with_groups(groups),
    ))
}

fn empty_group_message(e: ResponseError) -> Option<StrBytes> {
    (e == ResponseError::NonEmptyGroup).then(|| s("The group is not empty."))
}

/// AlterShareGroupOffsets: an empty share group's share-partitions start again at the offsets
/// given.
pub(crate) fn route_alter_offsets(
    broker: &Broker,
    r: AlterShareGroupOffsetsRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    use strikemq_codec::messages::alter_share_group_offsets_response::{
        AlterShareGroupOffsetsResponsePartition as Partition,
        AlterShareGroupOffsetsResponseTopic as Topic,
    };
    let group = r.group_id.0.to_string();
    if let Err(e) = broker.with_groups(|g| g.share_group_is_empty(&group)) {
        return ctx.respond(ResponseKind::AlterShareGroupOffsets(
            AlterShareGroupOffsetsResponse::default()
                .with_error_code(code(e))
                .with_error_message(empty_group_message(e)),
        ));
    }
    let store = broker.store();
    let responses = r
        .topics
        .iter()
        .map(|t| {
            let topic = store.topic(t.topic_name.0.as_str());
            let id = topic.as_ref().map_or(Uuid::nil(), |x| x.id());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let base = Partition::default().with_partition_index(p.partition_index);
                    let log = crate::errors::partition_log(topic.as_deref(), p.partition_index);
                    match log {
                        Err(e) => base.with_error_code(code(e)).with_error_message(Some(s(
                            "This server does not host this topic-partition.",
                        ))),
                        Ok(log) if p.start_offset < -1 || p.start_offset > log.log_end_offset() => {
                            base.with_error_code(code(ResponseError::InvalidRequest))
                        }
                        Ok(log) => {
                            // -1 is the log's end, as `share.auto.offset.reset=latest` starts.
                            let at = if p.start_offset == -1 {
                                log.log_end_offset()
                            } else {
                                p.start_offset.max(log.log_start_offset())
                            };
                            broker.with_groups(|g| {
                                g.share_reset_offset(&group, (id, p.partition_index), at)
                            });
                            base
                        }
                    }
                })
                .collect();
            Topic::default()
                .with_topic_name(t.topic_name.clone())
                .with_topic_id(id)
                .with_partitions(partitions)
        })
        .collect();
    ctx.respond(ResponseKind::AlterShareGroupOffsets(
        AlterShareGroupOffsetsResponse::default().with_responses(responses),
    ))
}

/// DeleteShareGroupOffsets: an empty share group forgets its state for these topics.
pub(crate) fn route_delete_offsets(
    broker: &Broker,
    r: DeleteShareGroupOffsetsRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    use strikemq_codec::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic as Topic;
    let group = r.group_id.0.to_string();
    if let Err(e) = broker.with_groups(|g| g.share_group_is_empty(&group)) {
        return ctx.respond(ResponseKind::DeleteShareGroupOffsets(
            DeleteShareGroupOffsetsResponse::default()
                .with_error_code(code(e))
                .with_error_message(empty_group_message(e)),
        ));
    }
    let responses = r
        .topics
        .iter()
        .map(|t| {
            let base = Topic::default().with_topic_name(t.topic_name.clone());
            match broker.store().topic(t.topic_name.0.as_str()) {
                Some(topic) => {
                    let id = topic.id();
                    broker.with_groups(|g| g.share_delete_offsets(&group, id));
                    base.with_topic_id(id)
                }
                None => base
                    .with_error_code(code(ResponseError::UnknownTopicOrPartition))
                    .with_error_message(Some(s("This server does not host this topic-partition."))),
            }
        })
        .collect();
    ctx.respond(ResponseKind::DeleteShareGroupOffsets(
        DeleteShareGroupOffsetsResponse::default().with_responses(responses),
    ))
}
