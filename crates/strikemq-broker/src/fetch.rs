//! Fetch: read from the logs, or park until `min_bytes` arrived or `max_wait_ms` passed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strikemq_codec::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use strikemq_codec::messages::ProducerId;
use strikemq_codec::messages::{ApiKey, FetchRequest, FetchResponse, ResponseKind};
use strikemq_codec::response::{Response, ResponseBody};
use strikemq_codec::ResponseError;
use strikemq_storage::{FetchBound, Isolation, StorageError};

use crate::errors::{code, storage_error};
use crate::{Broker, Outcome, Parked};

/// Kafka's broker setting `fetch.max.bytes` (55 MiB): no Fetch response carries more record
/// bytes than this, whatever the request's max_bytes.
const FETCH_MAX_BYTES: i32 = 55 * 1024 * 1024;

/// Fetch v13 names topics by id (KIP-516).
const TOPIC_ID_VERSION: i16 = 13;

/// A Fetch waiting for data.
#[derive(Debug)]
pub struct ParkedFetch {
    request: FetchRequest,
    version: i16,
    correlation_id: i32,
    deadline: Instant,
}

impl ParkedFetch {
    pub(crate) fn new(
        request: FetchRequest,
        version: i16,
        correlation_id: i32,
        now: Instant,
    ) -> Self {
        let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
        ParkedFetch {
            request,
            version,
            correlation_id,
            deadline: now + wait,
        }
    }

    /// When the fetch must be answered, data or not.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

pub(crate) fn run(broker: &Broker, parked: ParkedFetch, now: Instant) -> Outcome {
    let (response, bytes, errors) = build(broker, &parked.request, parked.version);
    let req = &parked.request;
    let done = now >= parked.deadline
        || req.max_wait_ms <= 0
        || bytes >= req.min_bytes.max(0) as usize
        || errors
        || req.topics.iter().all(|t| t.partitions.is_empty());
    if !done {
        return Outcome::Park(Parked::Fetch(parked));
    }
    Outcome::Respond(Response {
        api_key: ApiKey::Fetch,
        api_version: parked.version,
        correlation_id: parked.correlation_id,
        body: ResponseBody::Kafka(ResponseKind::Fetch(response)),
    })
}

/// The response, the record bytes in it and whether any partition has an error.
fn build(broker: &Broker, req: &FetchRequest, version: i16) -> (FetchResponse, usize, bool) {
    let store = broker.store();
    // KIP-74: the response's budget is the request's max_bytes, capped by the broker's
    // fetch.max.bytes as Kafka caps it.
    let mut remaining = req.max_bytes.clamp(0, FETCH_MAX_BYTES) as usize;
    // Until a partition returned data, its first batch may exceed both limits, so that a
    // consumer always makes progress; every later partition stays within them.
    let mut bound = FetchBound::AtLeastOneBatch;
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    let read_committed = req.isolation_level == 1;
    let isolation = if read_committed {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    for ft in &req.topics {
        let (topic, unknown) = if version >= TOPIC_ID_VERSION {
            (
                store.topic_by_id(ft.topic_id),
                ResponseError::UnknownTopicId,
            )
        } else {
            (
                store.topic(ft.topic.0.as_str()),
                ResponseError::UnknownTopicOrPartition,
            )
        };
        let partitions = ft
            .partitions
            .iter()
            .map(|fp| {
                // Kafka lists aborted transactions only to read_committed consumers and sends
                // null to the others.
                let data = PartitionData::default()
                    .with_partition_index(fp.partition)
                    .with_aborted_transactions(read_committed.then(Vec::new))
                    .with_records(Some(Bytes::new()));
                let Ok(log) = crate::errors::partition_log(topic.as_deref(), fp.partition) else {
                    any_error = true;
                    let e = if topic.is_none() {
                        unknown
                    } else {
                        ResponseError::UnknownTopicOrPartition
                    };
                    // Kafka builds these answers before reading any log, with an empty (not
                    // null) list of aborted transactions.
                    return data
                        .with_error_code(code(e))
                        .with_aborted_transactions(Some(Vec::new()))
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1);
                };
                let limit = (fp.partition_max_bytes.max(0) as usize).min(remaining);
                match log.read_for_fetch(fp.fetch_offset, limit, bound, isolation) {
                    Ok(read) => {
                        if !read.records.is_empty() {
                            bound = FetchBound::Strict;
                        }
                        // What Kafka's read would have taken (its last batch cut short, which
                        // is not sent) is what the rest of the response may not use.
                        total += read.fetch_size;
                        remaining = remaining.saturating_sub(read.fetch_size);
                        let data = if read_committed {
                            data.with_aborted_transactions(Some(aborted_in(
                                log,
                                fp.fetch_offset,
                                &read.records,
                            )))
                        } else {
                            data
                        };
                        data.with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.last_stable_offset)
                            .with_log_start_offset(read.log_start_offset)
                            .with_records(Some(read.records))
                    }
                    Err(e) => {
                        any_error = true;
                        if !matches!(e, StorageError::OffsetOutOfRange { .. }) {
                            tracing::error!(partition = fp.partition, error = %e, "fetch failed");
                        }
                        // As Kafka: a partition that failed reports no offsets at all.
                        data.with_error_code(code(storage_error(&e)))
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1)
                    }
                }
            })
            .collect();
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id)
                .with_partitions(partitions),
        );
    }
    (
        FetchResponse::default().with_responses(topics),
        total,
        any_error,
    )
}

/// The aborted transactions a read_committed consumer needs for the records returned: those
/// that overlap the offsets from the fetch offset to the end of the last batch (none when
/// nothing is returned).
fn aborted_in(
    log: &strikemq_storage::PartitionLog,
    fetch_offset: i64,
    records: &Bytes,
) -> Vec<AbortedTransaction> {
    // Most partitions never saw an abort: skip walking the batch headers.
    if !log.has_aborts_from(fetch_offset) {
        return Vec::new();
    }
    let Some(Ok(last)) = strikemq_codec::batch::batches(records).last() else {
        return Vec::new();
    };
    log.aborted_transactions(fetch_offset, last.last_offset().saturating_add(1))
        .into_iter()
        .map(|t| {
            AbortedTransaction::default()
                .with_producer_id(ProducerId(t.producer_id))
                .with_first_offset(t.first_offset)
        })
        .collect()
}

/// The Fetch handler of the route table.
pub(crate) fn route(
    broker: &Broker,
    r: FetchRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> Outcome {
    run(
        broker,
        ParkedFetch::new(r, ctx.api_version, ctx.correlation_id, ctx.now),
        ctx.now,
    )
}
