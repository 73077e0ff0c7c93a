//! CreatePartitions, DeleteRecords, DescribeCluster and OffsetForLeaderEpoch.

use std::collections::HashMap;

use strikemq_codec::messages::create_partitions_response::CreatePartitionsTopicResult;
use strikemq_codec::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use strikemq_codec::messages::describe_cluster_response::DescribeClusterBroker;
use strikemq_codec::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;
use strikemq_storage::StorageError;

use crate::errors::{code, storage_error};
use crate::{Broker, KafkaError};

/// Every partition of this single broker has leader epoch 0.
const LEADER_EPOCH: i32 = 0;
/// DeleteRecords: -1 means "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;
/// DescribeCluster endpoint types (KIP-919): 1 brokers, 2 controllers.
const ENDPOINT_BROKERS: i8 = 1;

pub(crate) fn create_partitions(
    broker: &Broker,
    req: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.as_str()).or_default() += 1;
    }
    let node = broker.config().node_id;
    let results = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let outcome: Result<(), KafkaError> = (|| {
                if seen.get(name).copied().unwrap_or(0) > 1 {
                    return Err(KafkaError::new(ResponseError::InvalidRequest, format!("Duplicate topic {name} in request")));
                }
                // Kafka gives no message for an unknown topic here.
                let topic = broker
                    .store()
                    .topic(name)
                    .ok_or_else(|| KafkaError::from(ResponseError::UnknownTopicOrPartition))?;
                let current = topic.partition_count() as i32;
                if t.count == current {
                    return Err(KafkaError::new(ResponseError::InvalidPartitions, format!("Topic already has {current} partition(s).")));
                }
                if t.count < current {
                    return Err(KafkaError::new(
                        ResponseError::InvalidPartitions,
                        format!("The topic {name} currently has {current} partition(s); {} would not be an increase.", t.count),
                    ));
                }
                if i64::from(t.count) - i64::from(current) > crate::topics::MAX_RECORDS_PER_REQUEST {
                    // Kafka 4.1 refuses this with UNKNOWN_SERVER_ERROR (its controller's limit
                    // surfaces unmapped here); clients see the same code from us.
                    return Err(KafkaError::new(ResponseError::UnknownServerError, crate::topics::TOO_MANY_PARTITIONS.to_owned()));
                }
                // A list of assignments, even an empty one, must cover every new partition.
                if let Some(assignments) = t.assignments.as_ref() {
                    let added = t.count - current;
                    if assignments.len() as i32 != added {
                        return Err(KafkaError::new(
                            ResponseError::InvalidReplicaAssignment,
                            format!("Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.", assignments.len()),
                        ));
                    }
                    if assignments.iter().any(|a| a.broker_ids.iter().any(|b| b.0 != node)) {
                        return Err(KafkaError::new(
                            ResponseError::InvalidReplicaAssignment,
                            format!("Assignments must name broker {node} once for each of the {} new partitions.", t.count - current),
                        ));
                    }
                }
                if req.validate_only {
                    return Ok(());
                }
                let topic = broker
                    .store()
                    .add_partitions(name, t.count)
                    .map_err(KafkaError::from)?;
                crate::retention::apply_topic_settings(broker, &topic);
                Ok(())
            })();
            match outcome {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(e.detail.map(StrBytes::from_string)),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

pub(crate) fn delete_records(broker: &Broker, req: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store().topic(t.name.0.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                    let Ok(log) = crate::errors::partition_log(topic.as_deref(), p.partition_index) else {
                        return r
                            .with_low_watermark(-1)
                            .with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    let offset = if p.offset == HIGH_WATERMARK { log.log_end_offset() } else { p.offset };
                    match log.delete_records_before(offset) {
                        Ok(start) => r.with_low_watermark(start),
                        Err(e @ StorageError::OffsetOutOfRange { .. }) => r
                            .with_low_watermark(-1)
                            .with_error_code(code(storage_error(&e))),
                        Err(e) => {
                            tracing::error!(topic = t.name.0.as_str(), partition = p.partition_index, error = %e, "delete records failed");
                            r.with_low_watermark(-1).with_error_code(code(storage_error(&e)))
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

pub(crate) fn describe_cluster(
    broker: &Broker,
    req: &DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let cfg = broker.config();
    let response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            broker.store().cluster_id().to_owned(),
        ))
        .with_controller_id(BrokerId(cfg.node_id))
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            crate::metadata::CLUSTER_OPERATIONS
        } else {
            i32::MIN
        });
    let response = if version >= 1 {
        response.with_endpoint_type(ENDPOINT_BROKERS)
    } else {
        response
    };
    if version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        // Kafka's error answer carries no cluster id, controller or operations.
        return DescribeClusterResponse::default()
            .with_endpoint_type(ENDPOINT_BROKERS)
            .with_cluster_id(StrBytes::default())
            .with_controller_id(BrokerId(-1))
            .with_cluster_authorized_operations(i32::MIN)
            .with_error_code(code(ResponseError::MismatchedEndpointType))
            .with_error_message(Some(StrBytes::from_static_str(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            )));
    }
    response.with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(cfg.node_id))
        .with_host(StrBytes::from_string(cfg.advertised_host.clone()))
        .with_port(cfg.advertised_port)])
}

pub(crate) fn offset_for_leader_epoch(
    broker: &Broker,
    req: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store().topic(t.topic.0.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let Ok(log) = crate::errors::partition_log(topic.as_deref(), p.partition)
                    else {
                        return r.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    // The client's view of the leader epoch must not be ahead of ours (KIP-320);
                    // epoch 0 is the first, so none can be behind it (-1 means "unknown").
                    if p.current_leader_epoch > LEADER_EPOCH {
                        return r.with_error_code(code(ResponseError::UnknownLeaderEpoch));
                    }
                    // One epoch ever: it ends at the log end. Later epochs are unknown.
                    if p.leader_epoch > LEADER_EPOCH {
                        r.with_leader_epoch(-1).with_end_offset(-1)
                    } else {
                        r.with_leader_epoch(LEADER_EPOCH)
                            .with_end_offset(log.log_end_offset())
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

pub(crate) fn describe_log_dirs(
    broker: &Broker,
    req: &DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    use strikemq_codec::messages::describe_log_dirs_response::{
        DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
    };
    let store = broker.store();
    // (topic, partitions) asked for; null: every partition of every topic.
    let wanted: Vec<(std::sync::Arc<strikemq_storage::Topic>, Vec<i32>)> = match &req.topics {
        None => store
            .topics()
            .into_iter()
            .map(|t| {
                let n = t.partition_count() as i32;
                (t, (0..n).collect())
            })
            .collect(),
        Some(list) => list
            .iter()
            .filter_map(|t| {
                store
                    .topic(t.topic.0.as_str())
                    .map(|topic| (topic, t.partitions.clone()))
            })
            .collect(),
    };
    let topics = wanted
        .into_iter()
        .map(|(t, parts)| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(t.name().to_owned())))
                .with_partitions(
                    parts
                        .into_iter()
                        .filter_map(|p| {
                            t.partition(p).ok().map(|log| {
                                DescribeLogDirsPartition::default()
                                    .with_partition_index(p)
                                    .with_partition_size(log.size_bytes() as i64)
                            })
                        })
                        .collect(),
                )
        })
        .collect();
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(store.dir().display().to_string()))
        .with_topics(topics);
    // v4 (KIP-827) adds the size of the volume and the space left on it.
    let result = match volume_space(store.dir()) {
        Some((total, usable)) if version >= 4 => {
            result.with_total_bytes(total).with_usable_bytes(usable)
        }
        _ => result,
    };
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// Total and available bytes of the file system holding `dir`.
#[cfg(unix)]
fn volume_space(dir: &std::path::Path) -> Option<(i64, i64)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    let block = st.f_frsize;
    let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(block)).unwrap_or(i64::MAX);
    Some((bytes(st.f_blocks), bytes(st.f_bavail)))
}

#[cfg(not(unix))]
fn volume_space(_dir: &std::path::Path) -> Option<(i64, i64)> {
    None
}

pub(crate) fn describe_producers(
    broker: &Broker,
    req: &DescribeProducersRequest,
) -> DescribeProducersResponse {
    use strikemq_codec::messages::describe_producers_response::{
        PartitionResponse, ProducerState, TopicResponse,
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store().topic(t.name.0.as_str());
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let r = PartitionResponse::default().with_partition_index(p);
                    match crate::errors::partition_log(topic.as_deref(), p) {
                        // Kafka's message for an unknown topic; none for an unknown partition.
                        Err(e) => {
                            r.with_error_code(code(e))
                                .with_error_message(topic.is_none().then(|| {
                                    StrBytes::from_static_str(
                                        "This server does not host this topic-partition.",
                                    )
                                }))
                        }
                        Ok(log) => r.with_active_producers(
                            log.producers()
                                .into_iter()
                                .map(|s| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(s.producer_id))
                                        .with_producer_epoch(i32::from(s.epoch))
                                        .with_last_sequence(s.last_sequence)
                                        .with_last_timestamp(s.last_timestamp)
                                        .with_coordinator_epoch(-1)
                                        .with_current_txn_start_offset(s.current_txn_start_offset)
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

/// The ApiVersions handler of the route table (a version it does not know is answered by the
/// broker before routing, KIP-511).
pub(crate) fn route_api_versions(
    _broker: &Broker,
    _r: ApiVersionsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::ApiVersions(crate::api_versions(
        crate::errors::NONE,
    )))
}

/// The CreatePartitions handler of the route table.
pub(crate) fn route_create_partitions(
    broker: &Broker,
    r: CreatePartitionsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::CreatePartitions(create_partitions(
        broker, &r,
    )))
}

/// The DeleteRecords handler of the route table.
pub(crate) fn route_delete_records(
    broker: &Broker,
    r: DeleteRecordsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::DeleteRecords(delete_records(broker, &r)))
}

/// The DescribeLogDirs handler of the route table.
pub(crate) fn route_describe_log_dirs(
    broker: &Broker,
    r: DescribeLogDirsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::DescribeLogDirs(describe_log_dirs(
        broker,
        &r,
        ctx.api_version,
    )))
}

/// The DescribeCluster handler of the route table.
pub(crate) fn route_describe_cluster(
    broker: &Broker,
    r: DescribeClusterRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::DescribeCluster(describe_cluster(
        broker,
        &r,
        ctx.api_version,
    )))
}

/// The DescribeProducers handler of the route table.
pub(crate) fn route_describe_producers(
    broker: &Broker,
    r: DescribeProducersRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::DescribeProducers(describe_producers(
        broker, &r,
    )))
}
