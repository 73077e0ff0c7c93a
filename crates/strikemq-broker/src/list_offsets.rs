//! ListOffsets: earliest, latest, max timestamp, or the first offset at a timestamp.

use strikemq_codec::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use strikemq_codec::messages::{ListOffsetsRequest, ListOffsetsResponse};
use strikemq_codec::ResponseError;
use strikemq_storage::{PartitionLog, TimestampedOffset};

use crate::errors::{code, storage_error};
use crate::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// ListOffsets v4 added the leader epoch to the response.
const LEADER_EPOCH_VERSION: i16 = 4;

pub(crate) fn handle(
    broker: &Broker,
    req: &ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store().topic(t.name.0.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let Ok(log) = crate::errors::partition_log(topic.as_deref(), p.partition_index)
                    else {
                        return resp
                            .with_error_code(code(ResponseError::UnknownTopicOrPartition))
                            .with_timestamp(-1)
                            .with_offset(-1);
                    };
                    match lookup(log, p.timestamp, req.isolation_level == 1) {
                        Ok(Some(found)) => {
                            let resp = resp
                                .with_offset(found.offset)
                                .with_timestamp(found.timestamp);
                            if version >= LEADER_EPOCH_VERSION {
                                resp.with_leader_epoch(0)
                            } else {
                                resp
                            }
                        }
                        Ok(None) => resp.with_offset(-1).with_timestamp(-1),
                        Err(e) => resp
                            .with_error_code(code(e))
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The offset (and timestamp) a ListOffsets query names; Kafka reports timestamp -1 for
/// earliest/latest. For a read_committed consumer "latest" is the last stable offset, and a
/// look-up by timestamp finds only what lies below it (as Kafka's `lastFetchableOffset`).
fn lookup(
    log: &PartitionLog,
    timestamp: i64,
    read_committed: bool,
) -> Result<Option<TimestampedOffset>, ResponseError> {
    let fetchable = if read_committed {
        log.last_stable_offset()
    } else {
        log.log_end_offset()
    };
    let below = |found: Result<Option<TimestampedOffset>, ResponseError>| {
        found.map(|f| f.filter(|f| f.offset < fetchable))
    };
    let at = |offset| {
        Ok(Some(TimestampedOffset {
            offset,
            timestamp: -1,
        }))
    };
    match timestamp {
        LATEST => at(fetchable),
        EARLIEST | EARLIEST_LOCAL => at(log.log_start_offset()),
        MAX_TIMESTAMP => below(log.max_timestamp().map_err(|e| storage_error(&e))),
        // No tiered storage: nothing has been uploaded.
        LATEST_TIERED => Ok(None),
        ts if ts >= 0 => below(log.offset_for_timestamp(ts).map_err(|e| storage_error(&e))),
        _ => Err(ResponseError::InvalidRequest),
    }
}

/// The ListOffsets handler of the route table.
pub(crate) fn route(
    broker: &Broker,
    r: ListOffsetsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(strikemq_codec::messages::ResponseKind::ListOffsets(handle(
        broker,
        &r,
        ctx.api_version,
    )))
}

/// The OffsetForLeaderEpoch handler of the route table.
pub(crate) fn route_offset_for_leader_epoch(
    broker: &Broker,
    r: strikemq_codec::messages::OffsetForLeaderEpochRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(
        strikemq_codec::messages::ResponseKind::OffsetForLeaderEpoch(
            crate::cluster::offset_for_leader_epoch(broker, &r),
        ),
    )
}
