//! KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe. The coordinator
//! (`strikemq_groups`) assigns the partitions; this module turns requests into its calls and
//! lets it read the broker's topics.

use strikemq_codec::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member,
    TopicPartitions as DescribedPartitions,
};
use strikemq_codec::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use strikemq_codec::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, ResponseKind, TopicName,
};
use strikemq_codec::StrBytes;
use strikemq_groups::{ConsumerHeartbeat, TopicView};
use strikemq_storage::Store;
use uuid::Uuid;

use crate::errors::code;
use crate::routes::RequestContext;
use crate::{Broker, Outcome};

/// KIP-848 members are always of this type in ConsumerGroupDescribe v1 (0 is a classic member).
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// The broker's topics as the coordinator sees them.
pub(crate) struct StoreTopics<'a>(pub(crate) &'a Store);

impl TopicView for StoreTopics<'_> {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        let t = self.0.topic(name)?;
        Some((t.id(), t.partition_count() as i32))
    }

    fn name_of(&self, id: Uuid) -> Option<String> {
        self.0.topic_by_id(id).map(|t| t.name().to_owned())
    }

    fn names(&self) -> Vec<String> {
        self.0
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .filter(|n| !n.starts_with("__"))
            .collect()
    }
}

pub(crate) fn route_heartbeat(
    broker: &Broker,
    r: ConsumerGroupHeartbeatRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let req = ConsumerHeartbeat {
        version: ctx.api_version,
        group_id: r.group_id.0.to_string(),
        member_id: r.member_id.to_string(),
        member_epoch: r.member_epoch,
        instance_id: r.instance_id.as_ref().map(|v| v.to_string()),
        rack_id: r.rack_id.as_ref().map(|v| v.to_string()),
        rebalance_timeout_ms: r.rebalance_timeout_ms,
        subscribed_topic_names: r
            .subscribed_topic_names
            .as_ref()
            .map(|ns| ns.iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: r.subscribed_topic_regex.as_ref().map(|v| v.to_string()),
        server_assignor: r.server_assignor.as_ref().map(|v| v.to_string()),
        owned: r.topic_partitions.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.topic_id, t.partitions.clone()))
                .collect()
        }),
        client_id: ctx.client_id.to_owned(),
        client_host: ctx.client_host.to_owned(),
    };
    let topics = StoreTopics(broker.store());
    let out = broker.with_groups(|g| g.consumer_heartbeat(req, &topics, ctx.now));
    let mut resp = ConsumerGroupHeartbeatResponse::default()
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
    if let Some((e, message)) = out.error {
        resp = resp
            .with_error_code(code(e))
            .with_error_message(message.as_deref().map(s))
            .with_member_epoch(0)
            .with_heartbeat_interval_ms(0);
    }
    ctx.respond(ResponseKind::ConsumerGroupHeartbeat(resp))
}

pub(crate) fn route_describe(
    broker: &Broker,
    r: ConsumerGroupDescribeRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let topics = StoreTopics(broker.store());
    let groups = r
        .group_ids
        .iter()
        .map(|id| {
            // No ACLs: READ 3, DELETE 6, DESCRIBE 8, DESCRIBE_CONFIGS 10 and ALTER_CONFIGS 11
            // are allowed on every group (Kafka lists the config operations here, not in
            // DescribeGroups).
            let ops = if r.include_authorized_operations {
                crate::metadata::ops(&[3, 6, 8, 10, 11])
            } else {
                i32::MIN
            };
            let base = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(ops);
            match broker.with_groups(|g| g.consumer_describe(id.0.as_str(), &topics)) {
                Err((e, message)) => base
                    .with_error_code(code(e))
                    .with_error_message(Some(s(&message))),
                Ok(d) => base
                    .with_group_state(s(d.state))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(s(&d.assignor))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let assignment = |parts: Vec<(Uuid, String, Vec<i32>)>| {
                                    DescribedAssignment::default().with_topic_partitions(
                                        parts
                                            .into_iter()
                                            .map(|(t, name, ps)| {
                                                DescribedPartitions::default()
                                                    .with_topic_id(t)
                                                    .with_topic_name(TopicName(s(&name)))
                                                    .with_partitions(ps)
                                            })
                                            .collect(),
                                    )
                                };
                                Member::default()
                                    .with_member_id(s(&m.member.id))
                                    .with_instance_id(m.member.instance_id.as_deref().map(s))
                                    .with_rack_id(m.member.rack_id.as_deref().map(s))
                                    .with_member_epoch(m.member.epoch)
                                    .with_client_id(s(&m.member.client_id))
                                    .with_client_host(s(&m.member.client_host))
                                    .with_subscribed_topic_names(
                                        m.member
                                            .subscribed_names
                                            .iter()
                                            .map(|n| TopicName(s(n)))
                                            .collect(),
                                    )
                                    // Kafka keeps "" for a member without a regex.
                                    .with_subscribed_topic_regex(Some(s(m
                                        .member
                                        .subscribed_regex
                                        .as_deref()
                                        .unwrap_or_default())))
                                    .with_assignment(assignment(m.assignment))
                                    .with_target_assignment(assignment(m.target))
                                    .with_member_type(MEMBER_TYPE_CONSUMER)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ctx.respond(ResponseKind::ConsumerGroupDescribe(
        ConsumerGroupDescribeResponse::default().with_groups(groups),
    ))
}
