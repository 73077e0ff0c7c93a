//! Produce: validate each partition's batch and append it.

use strikemq_codec::batch::RecordBatch;
use strikemq_codec::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use strikemq_codec::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use strikemq_codec::kafka_protocol::ResponseError;
use strikemq_storage::Topic;

use crate::errors::{batch_error, code, storage_error};
use crate::Broker;

/// Produce v13 names topics by id (KIP-516).
const TOPIC_ID_VERSION: i16 = 13;

/// `None` when acks=0: the client expects no response.
pub(crate) fn handle(
    broker: &Broker,
    req: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks_ok = matches!(req.acks, -1..=1);
    let mut appended = false;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic_data in req.topic_data {
        let topic = if version >= TOPIC_ID_VERSION {
            broker.store().topic_by_id(topic_data.topic_id)
        } else {
            broker.store().topic(topic_data.name.0.as_str())
        };
        let unknown = if version >= TOPIC_ID_VERSION {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let partitions = topic_data
            .partition_data
            .into_iter()
            .map(|p| {
                let result = if !acks_ok {
                    Err(ResponseError::InvalidRequiredAcks)
                } else {
                    match &topic {
                        None => Err(unknown),
                        Some(t) => append(broker, t, p.index, p.records.as_deref().unwrap_or(&[]))
                            .and_then(|r| {
                                if req.acks == -1 {
                                    sync_if_always(broker, t, p.index)?;
                                }
                                Ok(r)
                            }),
                    }
                };
                let resp = PartitionProduceResponse::default().with_index(p.index);
                match result {
                    Ok((base_offset, log_start, append_time)) => {
                        appended = true;
                        let resp = resp
                            .with_base_offset(base_offset)
                            .with_log_append_time_ms(append_time);
                        if version >= 5 {
                            resp.with_log_start_offset(log_start)
                        } else {
                            resp
                        }
                    }
                    Err(e) => {
                        let resp = resp
                            .with_error_code(code(e))
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1);
                        if version >= 5 {
                            resp.with_log_start_offset(-1)
                        } else {
                            resp
                        }
                    }
                }
            })
            .collect();
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_topic_id(topic_data.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if appended {
        broker.appended();
    }
    if req.acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// Appends one partition's records; returns the base offset, the log start offset and the
/// broker's timestamp when the topic uses LogAppendTime (-1 otherwise).
pub(crate) fn append(
    broker: &Broker,
    topic: &Topic,
    partition: i32,
    records: &[u8],
) -> Result<(i64, i64, i64), ResponseError> {
    let log = crate::errors::partition_log(Some(topic), partition)?;
    // Produce v3+ carries exactly one magic-v2 batch per partition (Kafka's
    // ProduceRequest.validateRecords); anything else is INVALID_RECORD. The header checks are
    // enough here: the log verifies the CRC once, when it appends.
    if records.is_empty() {
        return Err(ResponseError::InvalidRecord);
    }
    let first = RecordBatch::parse_unchecked(records).map_err(|e| batch_error(&e))?;
    if first.size() != records.len() {
        return Err(ResponseError::InvalidRecord);
    }
    check_size(broker, topic, &first)?;
    if topic
        .configs()
        .get("cleanup.policy")
        .is_some_and(|p| p.split(',').any(|p| p == "compact"))
    {
        // Kafka: "Compacted topic cannot accept message without key".
        let records = strikemq_codec::batch::decode_records(&first).map_err(|e| batch_error(&e))?;
        if records.iter().any(|r| r.key.is_none()) {
            return Err(ResponseError::InvalidRecord);
        }
    }
    let log_append_time = topic
        .configs()
        .get("message.timestamp.type")
        .map(String::as_str)
        == Some("LogAppendTime");
    let (stamped, append_time);
    let records = if log_append_time {
        // The client's CRC must hold before the broker rewrites it.
        RecordBatch::parse(records).map_err(|e| batch_error(&e))?;
        append_time = crate::group_requests::wall_clock_ms();
        let mut owned = records.to_vec();
        strikemq_codec::batch::set_log_append_time(&mut owned, append_time);
        stamped = owned;
        &stamped[..]
    } else {
        append_time = -1;
        records
    };
    let info = log.append(records).map_err(|e| {
        let err = storage_error(&e);
        if err == ResponseError::KafkaStorageError {
            tracing::error!(topic = topic.name(), partition, error = %e, "append failed");
        }
        err
    })?;
    if info.rolled {
        broker.retention_changed();
    }
    Ok((info.base_offset, info.log_start_offset, append_time))
}

fn check_size(
    broker: &Broker,
    topic: &Topic,
    batch: &RecordBatch<'_>,
) -> Result<(), ResponseError> {
    // The topic's max.message.bytes, else the broker's message.max.bytes.
    let limit = topic
        .configs()
        .get("max.message.bytes")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(broker.config().max_message_bytes);
    if batch.size() > limit {
        return Err(ResponseError::MessageTooLarge);
    }
    Ok(())
}

/// `FlushPolicy::Always`: the data is on disk before the producer hears it was written.
pub(crate) fn sync_if_always(
    broker: &Broker,
    topic: &Topic,
    partition: i32,
) -> Result<(), ResponseError> {
    if broker.config().flush != crate::FlushPolicy::Always {
        return Ok(());
    }
    let Ok(log) = topic.partition(partition) else {
        return Ok(());
    };
    log.sync().map_err(|e| {
        tracing::error!(topic = topic.name(), partition, error = %e, "fsync failed");
        ResponseError::KafkaStorageError
    })
}
