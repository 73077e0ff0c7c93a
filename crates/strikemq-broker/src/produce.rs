//! Produce: validate each partition's batch and append it.

use strikemq_codec::batch::RecordBatch;
use strikemq_codec::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use strikemq_codec::messages::{ProduceRequest, ProduceResponse};
use strikemq_codec::ResponseError;
use strikemq_storage::Topic;

use crate::errors::KafkaError;
use crate::errors::{batch_error, code, storage_error};
use crate::log_throttle::LogThrottle;
use crate::{Broker, ProduceDefaults};

/// Produce v13 names topics by id (KIP-516).
const TOPIC_ID_VERSION: i16 = 13;

/// `None` when acks=0: the client expects no response.
pub(crate) fn handle(
    broker: &Broker,
    req: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    // KIP-98: a transactional batch needs a transactional id; without one Kafka refuses the
    // whole request, every partition. With one, each transactional batch is checked against the
    // producer's open transaction and appended under the coordinator's lock (see txn_host).
    let mut txns = if has_transactional_batch(&req) {
        match req.transactional_id.as_ref().filter(|t| !t.0.is_empty()) {
            None => {
                let refused = refuse_all(&req, ResponseError::TransactionalIdAuthorizationFailed);
                return (req.acks != 0).then_some(refused);
            }
            Some(id) => Some((id.0.to_string(), broker.txns.lock())),
        }
    } else {
        None
    };
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
                    Err(ResponseError::InvalidRequiredAcks.into())
                } else {
                    match &topic {
                        None => Err(unknown.into()),
                        Some(t) => txns
                            .as_mut()
                            .map_or(Ok(()), |(id, state)| {
                                broker
                                    .check_txn_batch(
                                        state,
                                        id,
                                        t.name(),
                                        p.index,
                                        p.records.as_deref().unwrap_or(&[]),
                                        version,
                                    )
                                    .map_err(Rejected::from)
                            })
                            .and_then(|()| {
                                append(broker, t, p.index, p.records.as_deref().unwrap_or(&[]))
                            })
                            .and_then(|r| {
                                if req.acks == -1 {
                                    sync_if_always(broker, t, p.index).map_err(Rejected::from)?;
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
                    Err(r) => {
                        let mut resp = resp
                            .with_error_code(r.error.code())
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1);
                        if version >= 5 {
                            let validated = !r.record_errors.is_empty();
                            resp = resp.with_log_start_offset(log_start_on_error(
                                topic.as_deref(),
                                p.index,
                                r.error.error,
                                validated,
                            ));
                        }
                        if version >= 8 {
                            resp = resp
                                .with_record_errors(
                                    r.record_errors
                                        .into_iter()
                                        .map(|(i, m)| {
                                            BatchIndexAndErrorMessage::default()
                                                .with_batch_index(i)
                                                .with_batch_index_error_message(Some(m.into()))
                                        })
                                        .collect(),
                                )
                                .with_error_message(r.error.detail.map(Into::into));
                        }
                        resp
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
    drop(txns);
    if appended {
        broker.appended();
    }
    if req.acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// Whether any partition's records start with a batch marked transactional (attributes bit 4).
fn has_transactional_batch(req: &ProduceRequest) -> bool {
    req.topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .filter_map(|p| p.records.as_deref())
        .any(|records| RecordBatch::parse_unchecked(records).is_ok_and(|b| b.is_transactional()))
}

/// Kafka's answer to a Produce refused as a whole: every partition with `error`.
fn refuse_all(req: &ProduceRequest, error: ResponseError) -> ProduceResponse {
    let responses = req
        .topic_data
        .iter()
        .map(|t| {
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_topic_id(t.topic_id)
                .with_partition_responses(
                    t.partition_data
                        .iter()
                        .map(|p| {
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_error_code(code(error))
                                .with_base_offset(-1)
                                .with_log_append_time_ms(-1)
                                .with_log_start_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

/// Appends one partition's records; returns the base offset, the log start offset and the
/// broker's timestamp when the topic uses LogAppendTime (-1 otherwise).
pub(crate) fn append(
    broker: &Broker,
    topic: &Topic,
    partition: i32,
    records: &[u8],
) -> Result<(i64, i64, i64), Rejected> {
    let log = crate::errors::partition_log(Some(topic), partition)?;
    // Produce v3+ carries exactly one magic-v2 batch per partition (Kafka's
    // ProduceRequest.validateRecords); anything else is INVALID_RECORD. The header checks are
    // enough here: the log verifies the CRC once, when it appends.
    if records.is_empty() {
        return Err(ResponseError::InvalidRecord.into());
    }
    // A batch cut short is no batch at all for Kafka's reader, so "not exactly one batch".
    let first = RecordBatch::parse_unchecked(records).map_err(|e| match e {
        strikemq_codec::BatchError::Truncated { .. } => ResponseError::InvalidRecord,
        e => batch_error(&e),
    })?;
    if first.size() != records.len() {
        return Err(ResponseError::InvalidRecord.into());
    }
    let defaults = broker.produce_defaults();
    check_size(topic, &defaults, &first)?;
    let log_append_time = topic
        .configs()
        .get("message.timestamp.type")
        .map_or(defaults.log_append_time, |t| t == "LogAppendTime");
    validate_records(topic, partition, &first, log_append_time, &defaults)?;
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
    let info = log.append(records).map_err(|e| -> Rejected {
        let err = storage_error(&e);
        if err == ResponseError::KafkaStorageError {
            static APPEND_FAILED: LogThrottle = LogThrottle::new();
            if let Some(suppressed) = APPEND_FAILED.allow() {
                tracing::error!(topic = topic.name(), partition, error = %e, suppressed, "append failed");
            }
        }
        err.into()
    })?;
    if info.rolled {
        broker.retention_changed();
    }
    // A retried batch is acknowledged with the original's offsets and, as Kafka does, its
    // timestamp in place of the append time.
    let append_time = match info.written {
        strikemq_storage::Written::Duplicate { max_timestamp } => max_timestamp,
        strikemq_storage::Written::New => append_time,
    };
    Ok((info.base_offset, info.log_start_offset, append_time))
}

/// Why a partition's records were not appended: the Kafka error, and the records it is about.
#[derive(Debug)]
pub(crate) struct Rejected {
    pub(crate) error: KafkaError,
    /// Per-record errors (index in the batch, message), Produce v8+.
    pub(crate) record_errors: Vec<(i32, String)>,
}

impl From<ResponseError> for Rejected {
    fn from(error: ResponseError) -> Rejected {
        KafkaError::from(error).into()
    }
}

impl From<KafkaError> for Rejected {
    fn from(error: KafkaError) -> Rejected {
        Rejected {
            error,
            record_errors: Vec::new(),
        }
    }
}

/// Kafka reports the log start offset with the errors its log raises while appending (sequence
/// and epoch checks, record validation) and -1 with the rest.
fn log_start_on_error(
    topic: Option<&Topic>,
    partition: i32,
    e: ResponseError,
    validated: bool,
) -> i64 {
    let raised_by_log = validated
        || matches!(
            e,
            ResponseError::OutOfOrderSequenceNumber | ResponseError::InvalidProducerEpoch
        );
    if !raised_by_log {
        return -1;
    }
    topic
        .and_then(|t| t.partition(partition).ok())
        .map_or(-1, |log| log.log_start_offset())
}

/// Kafka's per-record checks (LogValidator): a compacted topic takes no record without a key, and
/// with CreateTime every timestamp must lie within `message.timestamp.before.max.ms` before and
/// `message.timestamp.after.max.ms` after the broker's clock. Records are decoded only when a
/// check needs them.
fn validate_records(
    topic: &Topic,
    partition: i32,
    batch: &RecordBatch<'_>,
    log_append_time: bool,
    defaults: &ProduceDefaults,
) -> Result<(), Rejected> {
    let configs = topic.configs();
    // Looked up by hand rather than through `configs::effective`: that formats the default as a
    // string, costing two allocations per partition of every Produce request.
    let limit = |name, default| {
        configs
            .get(name)
            .map_or(default, |v| v.parse::<i64>().unwrap_or(i64::MAX))
    };
    let compacted = configs
        .get("cleanup.policy")
        .map_or(defaults.compacted, |p| p.split(',').any(|p| p == "compact"));
    let (before, after) = if log_append_time {
        (i64::MAX, i64::MAX)
    } else {
        (
            limit(
                "message.timestamp.before.max.ms",
                defaults.timestamp_before_max_ms,
            ),
            limit(
                "message.timestamp.after.max.ms",
                defaults.timestamp_after_max_ms,
            ),
        )
    };
    let now = crate::group_requests::wall_clock_ms();
    let (earliest, latest) = (now.saturating_sub(before), now.saturating_add(after));
    let timestamps_in_range = log_append_time
        || (batch.max_timestamp() <= latest
            && (before == i64::MAX
                || batch.base_timestamp().min(batch.max_timestamp()) >= earliest));
    if !compacted && timestamps_in_range && before == i64::MAX {
        return Ok(());
    }
    let records = strikemq_codec::batch::decode_records(batch).map_err(|e| batch_error(&e))?;
    let mut errors = Vec::new();
    let mut bad_timestamp = false;
    for (i, r) in records.iter().enumerate() {
        if compacted && r.key.is_none() {
            errors.push((
                i as i32,
                format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{partition}",
                    topic.name()
                ),
            ));
        } else if !log_append_time && (r.timestamp < earliest || r.timestamp > latest) {
            bad_timestamp = true;
            errors.push((
                i as i32,
                format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{earliest}, {latest}]",
                    r.timestamp, r.offset
                ),
            ));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let (error, message) = if bad_timestamp {
        (
            ResponseError::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_owned(),
        )
    } else {
        let shown: Vec<String> = errors
            .iter()
            .take(3)
            .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
            .collect();
        (
            ResponseError::InvalidRecord,
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(Rejected {
        error: KafkaError::new(error, message),
        record_errors: errors,
    })
}

fn check_size(
    topic: &Topic,
    defaults: &ProduceDefaults,
    batch: &RecordBatch<'_>,
) -> Result<(), ResponseError> {
    // The topic's max.message.bytes, else the broker's message.max.bytes.
    let limit = topic
        .configs()
        .get("max.message.bytes")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(defaults.max_message_bytes);
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
        static FSYNC_FAILED: LogThrottle = LogThrottle::new();
        if let Some(suppressed) = FSYNC_FAILED.allow() {
            tracing::error!(topic = topic.name(), partition, error = %e, suppressed, "fsync failed");
        }
        ResponseError::KafkaStorageError
    })
}

/// The Produce handler of the route table.
pub(crate) fn route(
    broker: &Broker,
    r: ProduceRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    match handle(broker, r, ctx.api_version) {
        Some(resp) => ctx.respond(strikemq_codec::messages::ResponseKind::Produce(resp)),
        None => crate::Outcome::NoResponse,
    }
}
