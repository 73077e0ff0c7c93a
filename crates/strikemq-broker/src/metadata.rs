//! Metadata and DescribeTopicPartitions: brokers, cluster id, controller and topic layouts;
//! Metadata auto-creates topics when allowed.

use std::collections::BTreeMap;

use strikemq_codec::messages::describe_topic_partitions_response::{
    Cursor as ResponseCursor, DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
};
use strikemq_codec::messages::metadata_request::MetadataRequestTopic;
use strikemq_codec::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use strikemq_codec::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;
use strikemq_storage::{StorageError, Topic};

use crate::errors::{code, storage_error};
use crate::Broker;

/// Bits of Kafka's AclOperation codes allowed on a topic: READ 3, WRITE 4, CREATE 5, DELETE 6,
/// ALTER 7, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
const TOPIC_OPERATIONS: i32 = ops(&[3, 4, 5, 6, 7, 8, 10, 11]);
/// On the cluster: CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
/// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
pub(crate) const CLUSTER_OPERATIONS: i32 = ops(&[5, 7, 8, 9, 10, 11, 12]);

pub(crate) const fn ops(codes: &[u32]) -> i32 {
    let mut bits = 0i32;
    let mut i = 0;
    while i < codes.len() {
        bits |= 1 << codes[i];
        i += 1;
    }
    bits
}

pub(crate) fn handle(broker: &Broker, req: &MetadataRequest, version: i16) -> MetadataResponse {
    let cfg = broker.config();
    let store = broker.store();
    let brokers = vec![MetadataResponseBroker::default()
        .with_node_id(BrokerId(cfg.node_id))
        .with_host(StrBytes::from_string(cfg.advertised_host.clone()))
        .with_port(cfg.advertised_port)];
    // v0: an empty list means every topic; v1+: null means every topic, empty means none.
    let all = match &req.topics {
        None => true,
        Some(t) => version == 0 && t.is_empty(),
    };
    // Kafka: "Topic IDs are not supported in requests for version 10/11" (and names may not be
    // null there): the whole request fails with INVALID_REQUEST.
    if !all && version < 12 {
        if let Some(wanted) = req.topics.as_deref() {
            if wanted
                .iter()
                .any(|t| t.name.is_none() || !t.topic_id.is_nil())
            {
                return invalid_request(wanted);
            }
        }
    }
    // Before v4 the request had no flag and auto-creation was always allowed.
    let may_create = cfg.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let topics: Vec<MetadataResponseTopic> = if all {
        store
            .topics()
            .iter()
            .map(|t| describe(broker, t, version))
            .collect()
    } else {
        req.topics
            .iter()
            .flatten()
            .map(|wanted| match &wanted.name {
                // v12+: a topic id, when given, names the topic.
                Some(name) if wanted.topic_id.is_nil() => {
                    by_name(broker, name.0.as_str(), may_create, version)
                }
                _ => match store.topic_by_id(wanted.topic_id) {
                    Some(t) => describe(broker, &t, version),
                    None => MetadataResponseTopic::default()
                        .with_name(None)
                        .with_topic_id(wanted.topic_id)
                        .with_error_code(code(ResponseError::UnknownTopicId)),
                },
            })
            .collect()
    };
    // No ACLs: every operation is allowed. Kafka sends the bitfields only when asked (v8+;
    // the cluster one until v10), and i32::MIN otherwise.
    let topics = if version >= 8 && req.include_topic_authorized_operations {
        topics
            .into_iter()
            .map(|t: MetadataResponseTopic| {
                if t.error_code == 0 {
                    t.with_topic_authorized_operations(TOPIC_OPERATIONS)
                } else {
                    t
                }
            })
            .collect()
    } else {
        topics
    };
    let response = MetadataResponse::default();
    let response = if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        response.with_cluster_authorized_operations(CLUSTER_OPERATIONS)
    } else {
        response
    };
    response
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(store.cluster_id().to_owned())))
        .with_controller_id(BrokerId(cfg.node_id))
        .with_topics(topics)
}

/// Kafka's error answer to a whole Metadata request: no brokers, no cluster id, every topic
/// asked for with the error.
fn invalid_request(wanted: &[MetadataRequestTopic]) -> MetadataResponse {
    MetadataResponse::default()
        .with_cluster_id(None)
        .with_controller_id(BrokerId(-1))
        .with_topics(
            wanted
                .iter()
                .map(|t| {
                    MetadataResponseTopic::default()
                        .with_name(Some(t.name.clone().unwrap_or_default()))
                        .with_topic_id(t.topic_id)
                        .with_error_code(code(ResponseError::InvalidRequest))
                })
                .collect(),
        )
}

fn by_name(broker: &Broker, name: &str, may_create: bool, version: i16) -> MetadataResponseTopic {
    let store = broker.store();
    let failed = |e: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(name.to_owned()))))
            .with_error_code(code(e))
    };
    if let Some(t) = store.topic(name) {
        return describe(broker, &t, version);
    }
    if let Err(e) = strikemq_storage::validate_topic_name(name) {
        return failed(storage_error(&e));
    }
    if !may_create {
        return failed(ResponseError::UnknownTopicOrPartition);
    }
    match store.create_topic(name, broker.config().default_partitions, BTreeMap::new()) {
        Ok(t) => describe(broker, &t, version),
        // Another connection created it between our look-up and create.
        Err(StorageError::TopicExists(_)) => match store.topic(name) {
            Some(t) => describe(broker, &t, version),
            None => failed(ResponseError::UnknownTopicOrPartition),
        },
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "auto-creating topic failed");
            failed(storage_error(&e))
        }
    }
}

pub(crate) fn describe(broker: &Broker, topic: &Topic, _version: i16) -> MetadataResponseTopic {
    let node = BrokerId(broker.config().node_id);
    let partitions = (0..topic.partition_count() as i32)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(
            topic.name().to_owned(),
        ))))
        .with_topic_id(topic.id())
        .with_partitions(partitions)
}

/// Kafka's `max.request.partition.size.limit`: the most partitions one DescribeTopicPartitions
/// response describes.
const MAX_RESPONSE_PARTITIONS: i32 = 2000;

/// DescribeTopicPartitions (KIP-966): the named topics (every topic when none is named), sorted
/// by name from the cursor's topic on, their partitions from the cursor's partition on, at most
/// the response's partition limit; `next_cursor` says where the next page starts.
pub(crate) fn describe_topic_partitions(
    broker: &Broker,
    req: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let store = broker.store();
    let every_topic = req.topics.is_empty();
    let cursor_topic = req.cursor.as_ref().map_or("", |c| c.topic_name.0.as_str());
    let mut names: Vec<String> = if every_topic {
        store.topics().iter().map(|t| t.name().to_owned()).collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.0.as_str().to_owned())
            .collect()
    };
    names.retain(|n| n.as_str() >= cursor_topic);
    names.sort();
    names.dedup();
    let refuse = |message: &str| {
        tracing::debug!(message, "DescribeTopicPartitions refused");
        DescribeTopicPartitionsResponse::default().with_topics(
            req.topics
                .iter()
                .map(|t| {
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(t.name.clone()))
                        .with_error_code(code(ResponseError::InvalidRequest))
                })
                .collect(),
        )
    };
    if let Some(c) = &req.cursor {
        if !every_topic && !names.iter().any(|n| n == cursor_topic) {
            return refuse("the topic list must contain the cursor's topic");
        }
        if c.partition_index < 0 {
            return refuse("the cursor's partition must be valid");
        }
    }
    let node = BrokerId(broker.config().node_id);
    let mut remaining = req
        .response_partition_limit
        .clamp(1, MAX_RESPONSE_PARTITIONS) as usize;
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in names {
        if remaining == 0 {
            // The next page starts with this topic.
            response.next_cursor = Some(describe_topic_partitions_request_cursor(&name, 0));
            break;
        }
        let Some(topic) = store.topic(&name) else {
            if !every_topic {
                let error = match strikemq_storage::validate_topic_name(&name) {
                    Ok(()) => ResponseError::UnknownTopicOrPartition,
                    Err(e) => storage_error(&e),
                };
                response.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(name))))
                        .with_error_code(code(error))
                        .with_topic_authorized_operations(TOPIC_OPERATIONS),
                );
            }
            continue;
        };
        let count = topic.partition_count();
        let first = if name == cursor_topic {
            req.cursor
                .as_ref()
                .map_or(0, |c| c.partition_index.max(0) as usize)
        } else {
            0
        };
        let end = count.min(first.saturating_add(remaining));
        let partitions: Vec<_> = (first..end)
            .map(|p| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p as i32)
                    .with_leader_id(node)
                    .with_leader_epoch(0)
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![node])
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new()))
            })
            .collect();
        remaining -= partitions.len();
        response.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                .with_topic_id(topic.id())
                .with_partitions(partitions)
                .with_topic_authorized_operations(TOPIC_OPERATIONS),
        );
        if end < count {
            response.next_cursor =
                Some(describe_topic_partitions_request_cursor(&name, end as i32));
            break;
        }
    }
    response
}

fn describe_topic_partitions_request_cursor(topic: &str, partition: i32) -> ResponseCursor {
    ResponseCursor::default()
        .with_topic_name(TopicName(StrBytes::from_string(topic.to_owned())))
        .with_partition_index(partition)
}

/// The Metadata handler of the route table.
pub(crate) fn route(
    broker: &Broker,
    r: MetadataRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(strikemq_codec::messages::ResponseKind::Metadata(handle(
        broker,
        &r,
        ctx.api_version,
    )))
}

/// The DescribeTopicPartitions handler of the route table.
pub(crate) fn route_describe_topic_partitions(
    broker: &Broker,
    r: DescribeTopicPartitionsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(
        strikemq_codec::messages::ResponseKind::DescribeTopicPartitions(describe_topic_partitions(
            broker, &r,
        )),
    )
}
