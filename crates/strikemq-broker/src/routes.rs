//! The route table: every API the broker serves and its handler, all of one signature,
//! `fn(&Broker, Request, &RequestContext) -> Outcome`.
//!
//! Adding an API takes three steps: its request type in the codec's versions table
//! (`strikemq_codec::versions`, which ApiVersions advertises), a handler in the module of its
//! API family, and one line in [`routes!`] below. A test checks that the two tables name the same
//! APIs, and another sends every advertised API at every version through the broker.

use std::time::Instant;

use strikemq_codec::messages::{ApiKey, RequestKind, ResponseKind};

use crate::{
    cluster, configs, consumer_groups, fetch, find_coordinator, list_offsets, metadata, produce,
    producer_ids, share_groups, topics, transactions, Broker, Outcome,
};

/// What a handler knows besides the request: who sent it, over which listener, and when.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The API of the request.
    pub api_key: ApiKey,
    /// Its version.
    pub api_version: i16,
    /// The client's correlation id, echoed in the response.
    pub correlation_id: i32,
    /// The client's `client.id`.
    pub client_id: &'a str,
    /// The client's address as Kafka reports it ("/1.2.3.4").
    pub client_host: &'a str,
    /// The authenticated principal (`User:ANONYMOUS` on a plaintext listener).
    pub principal: &'a str,
    /// The listener the request came in on.
    pub listener: &'a str,
    /// The time the request is handled at; handlers read no clock of their own.
    pub now: Instant,
}

impl RequestContext<'_> {
    /// The answer to this request.
    pub(crate) fn respond(&self, body: ResponseKind) -> Outcome {
        Outcome::respond(self.api_key, self.api_version, self.correlation_id, body)
    }
}

/// A handler, as the table holds it.
pub(crate) type Route = fn(&Broker, RequestKind, &RequestContext<'_>) -> Outcome;

macro_rules! routes {
    ($($api:ident => $handler:path,)*) => {
        /// Every served API and its handler, the hot ones first (the table is searched in order).
        pub(crate) const ROUTES: &[(ApiKey, Route)] = &[
            $(
                (ApiKey::$api, |broker: &Broker, request: RequestKind, ctx: &RequestContext<'_>| {
                    match request {
                        RequestKind::$api(r) => $handler(broker, r, ctx),
                        _ => mismatched(ctx),
                    }
                }),
            )*
        ];
    };
}

routes! {
    Produce => produce::route,
    Fetch => fetch::route,
    Metadata => metadata::route,
    ApiVersions => cluster::route_api_versions,
    ListOffsets => list_offsets::route,
    OffsetForLeaderEpoch => list_offsets::route_offset_for_leader_epoch,
    FindCoordinator => find_coordinator::route,
    JoinGroup => Broker::route_join_group,
    SyncGroup => Broker::route_sync_group,
    Heartbeat => Broker::route_heartbeat,
    LeaveGroup => Broker::route_leave_group,
    ListGroups => Broker::route_list_groups,
    DescribeGroups => Broker::route_describe_groups,
    DeleteGroups => Broker::route_delete_groups,
    OffsetCommit => Broker::route_offset_commit,
    OffsetFetch => Broker::route_offset_fetch,
    OffsetDelete => Broker::route_offset_delete,
    ConsumerGroupHeartbeat => consumer_groups::route_heartbeat,
    ConsumerGroupDescribe => consumer_groups::route_describe,
    ShareGroupHeartbeat => share_groups::route_heartbeat,
    ShareGroupDescribe => share_groups::route_describe,
    ShareFetch => share_groups::route_fetch,
    ShareAcknowledge => share_groups::route_acknowledge,
    DescribeShareGroupOffsets => share_groups::route_describe_offsets,
    AlterShareGroupOffsets => share_groups::route_alter_offsets,
    DeleteShareGroupOffsets => share_groups::route_delete_offsets,
    CreateTopics => topics::route_create,
    DeleteTopics => topics::route_delete,
    CreatePartitions => cluster::route_create_partitions,
    DeleteRecords => cluster::route_delete_records,
    DescribeTopicPartitions => metadata::route_describe_topic_partitions,
    DescribeConfigs => configs::route_describe,
    AlterConfigs => configs::route_alter,
    IncrementalAlterConfigs => configs::route_incremental_alter,
    DescribeLogDirs => cluster::route_describe_log_dirs,
    DescribeCluster => cluster::route_describe_cluster,
    InitProducerId => producer_ids::route,
    DescribeProducers => cluster::route_describe_producers,
    AddPartitionsToTxn => transactions::route_add_partitions,
    AddOffsetsToTxn => transactions::route_add_offsets,
    EndTxn => transactions::route_end_txn,
    TxnOffsetCommit => transactions::route_txn_offset_commit,
    DescribeTransactions => transactions::route_describe,
    ListTransactions => transactions::route_list,
}

/// The handler registered for `api`.
pub(crate) fn route(api: ApiKey) -> Option<Route> {
    ROUTES.iter().find(|(k, _)| *k == api).map(|(_, r)| *r)
}

/// A request body of another API than its key: the codec never builds one.
fn mismatched(ctx: &RequestContext<'_>) -> Outcome {
    tracing::error!(api = ?ctx.api_key, "request body of another API: closing the connection");
    Outcome::Close(format!(
        "a {:?} request with another API's body",
        ctx.api_key
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The route table and the versions table name the same APIs, once each.
    #[test]
    fn every_advertised_api_has_one_route_and_every_route_is_advertised() {
        let advertised: Vec<ApiKey> = strikemq_codec::versions::supported_apis()
            .map(|r| r.key)
            .collect();
        for key in &advertised {
            assert_eq!(
                ROUTES.iter().filter(|(k, _)| k == key).count(),
                1,
                "{key:?}"
            );
        }
        for (key, _) in ROUTES {
            assert!(
                advertised.contains(key),
                "{key:?} is routed but not advertised"
            );
        }
    }
}
