//! The APIs a StrikeMQ broker serves and the version range of each.
//!
//! This one list feeds the ApiVersions response, the request dispatcher and the generated docs, so
//! they cannot disagree. Ranges follow Kafka 4.1 (the schemas kafka-protocol is generated from).

use kafka_protocol::messages::*;
use kafka_protocol::protocol::Message;

/// One served API and its version range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    /// The API.
    pub key: ApiKey,
    /// Lowest version advertised.
    pub min: i16,
    /// Highest version advertised.
    pub max: i16,
}

/// The request struct's own version range: kafka-protocol's `ApiKey::valid_versions` can run ahead
/// of what its decoders accept (OffsetCommit, OffsetFetch), and we never advertise what we cannot
/// decode.
fn range_of<R: Message>(key: ApiKey) -> ApiRange {
    ApiRange {
        key,
        min: R::VERSIONS.min,
        max: R::VERSIONS.max,
    }
}

/// APIs served, in api-key order, with the versions their decoders accept.
fn served() -> [ApiRange; SERVED_COUNT] {
    [
        range_of::<ProduceRequest>(ApiKey::Produce),
        range_of::<FetchRequest>(ApiKey::Fetch),
        range_of::<ListOffsetsRequest>(ApiKey::ListOffsets),
        range_of::<MetadataRequest>(ApiKey::Metadata),
        range_of::<OffsetCommitRequest>(ApiKey::OffsetCommit),
        range_of::<OffsetFetchRequest>(ApiKey::OffsetFetch),
        range_of::<FindCoordinatorRequest>(ApiKey::FindCoordinator),
        range_of::<JoinGroupRequest>(ApiKey::JoinGroup),
        range_of::<HeartbeatRequest>(ApiKey::Heartbeat),
        range_of::<LeaveGroupRequest>(ApiKey::LeaveGroup),
        range_of::<SyncGroupRequest>(ApiKey::SyncGroup),
        range_of::<DescribeGroupsRequest>(ApiKey::DescribeGroups),
        range_of::<ListGroupsRequest>(ApiKey::ListGroups),
        range_of::<ApiVersionsRequest>(ApiKey::ApiVersions),
        range_of::<CreateTopicsRequest>(ApiKey::CreateTopics),
        range_of::<DeleteTopicsRequest>(ApiKey::DeleteTopics),
        range_of::<DeleteRecordsRequest>(ApiKey::DeleteRecords),
        range_of::<InitProducerIdRequest>(ApiKey::InitProducerId),
        range_of::<OffsetForLeaderEpochRequest>(ApiKey::OffsetForLeaderEpoch),
        range_of::<AddPartitionsToTxnRequest>(ApiKey::AddPartitionsToTxn),
        range_of::<AddOffsetsToTxnRequest>(ApiKey::AddOffsetsToTxn),
        range_of::<EndTxnRequest>(ApiKey::EndTxn),
        range_of::<TxnOffsetCommitRequest>(ApiKey::TxnOffsetCommit),
        range_of::<DescribeConfigsRequest>(ApiKey::DescribeConfigs),
        range_of::<AlterConfigsRequest>(ApiKey::AlterConfigs),
        range_of::<DescribeLogDirsRequest>(ApiKey::DescribeLogDirs),
        range_of::<CreatePartitionsRequest>(ApiKey::CreatePartitions),
        range_of::<DeleteGroupsRequest>(ApiKey::DeleteGroups),
        range_of::<IncrementalAlterConfigsRequest>(ApiKey::IncrementalAlterConfigs),
        range_of::<OffsetDeleteRequest>(ApiKey::OffsetDelete),
        range_of::<DescribeClusterRequest>(ApiKey::DescribeCluster),
        range_of::<DescribeProducersRequest>(ApiKey::DescribeProducers),
        range_of::<DescribeTransactionsRequest>(ApiKey::DescribeTransactions),
        range_of::<ListTransactionsRequest>(ApiKey::ListTransactions),
        range_of::<DescribeTopicPartitionsRequest>(ApiKey::DescribeTopicPartitions),
        range_of::<ConsumerGroupHeartbeatRequest>(ApiKey::ConsumerGroupHeartbeat),
        range_of::<ConsumerGroupDescribeRequest>(ApiKey::ConsumerGroupDescribe),
        range_of::<ShareGroupHeartbeatRequest>(ApiKey::ShareGroupHeartbeat),
        range_of::<ShareGroupDescribeRequest>(ApiKey::ShareGroupDescribe),
        range_of::<ShareFetchRequest>(ApiKey::ShareFetch),
        range_of::<ShareAcknowledgeRequest>(ApiKey::ShareAcknowledge),
        range_of::<DescribeShareGroupOffsetsRequest>(ApiKey::DescribeShareGroupOffsets),
        range_of::<AlterShareGroupOffsetsRequest>(ApiKey::AlterShareGroupOffsets),
        range_of::<DeleteShareGroupOffsetsRequest>(ApiKey::DeleteShareGroupOffsets),
    ]
}

const SERVED_COUNT: usize = 44;

/// The lowest Produce version Kafka 4.x advertises. KIP-896 removed v0-v2 from the broker but
/// Kafka keeps advertising them because librdkafka before 2.x refuses a broker whose Produce range
/// does not start at 0. Requests at those versions close the connection, as on Kafka 4.
pub const PRODUCE_ADVERTISED_MIN: i16 = 0;

/// Every served API with its advertised range.
pub fn supported_apis() -> impl Iterator<Item = ApiRange> {
    served().into_iter().map(|r| {
        if r.key == ApiKey::Produce {
            ApiRange {
                min: PRODUCE_ADVERTISED_MIN,
                ..r
            }
        } else {
            r
        }
    })
}

/// The advertised range of `key`, or `None` when this broker does not serve it.
pub fn advertised(key: ApiKey) -> Option<ApiRange> {
    supported_apis().find(|r| r.key == key)
}

/// Whether requests of `key` at `version` are decoded and handled (as opposed to advertised only,
/// like Produce v0-v2).
pub fn is_decodable(key: ApiKey, version: i16) -> bool {
    served()
        .iter()
        .any(|r| r.key == key && (r.min..=r.max).contains(&version))
}

/// A printable name for an api key, as Kafka's docs spell it.
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::DescribeLogDirs => "DescribeLogDirs",
        ApiKey::DescribeProducers => "DescribeProducers",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::DescribeTopicPartitions => "DescribeTopicPartitions",
        ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
        ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
        ApiKey::EndTxn => "EndTxn",
        ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        ApiKey::DescribeTransactions => "DescribeTransactions",
        ApiKey::ListTransactions => "ListTransactions",
        ApiKey::ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        ApiKey::ConsumerGroupDescribe => "ConsumerGroupDescribe",
        ApiKey::ShareGroupHeartbeat => "ShareGroupHeartbeat",
        ApiKey::ShareGroupDescribe => "ShareGroupDescribe",
        ApiKey::ShareFetch => "ShareFetch",
        ApiKey::ShareAcknowledge => "ShareAcknowledge",
        ApiKey::DescribeShareGroupOffsets => "DescribeShareGroupOffsets",
        ApiKey::AlterShareGroupOffsets => "AlterShareGroupOffsets",
        ApiKey::DeleteShareGroupOffsets => "DeleteShareGroupOffsets",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_is_advertised_from_zero_but_decoded_from_three() {
        let p = advertised(ApiKey::Produce).unwrap();
        assert_eq!(p.min, 0);
        assert!(!is_decodable(ApiKey::Produce, 2));
        assert!(is_decodable(ApiKey::Produce, 3));
        assert!(is_decodable(ApiKey::Produce, p.max));
    }

    #[test]
    fn unserved_apis_are_not_advertised() {
        assert!(advertised(ApiKey::WriteTxnMarkers).is_none());
        assert!(advertised(ApiKey::WriteShareGroupState).is_none());
        assert!(advertised(ApiKey::ConsumerGroupHeartbeat).is_some());
    }

    #[test]
    fn ranges_follow_kafka_4_4() {
        let fetch = advertised(ApiKey::Fetch).unwrap();
        assert_eq!((fetch.min, fetch.max), (4, 18));
        let meta = advertised(ApiKey::Metadata).unwrap();
        assert_eq!((meta.min, meta.max), (0, 13));
        let add = advertised(ApiKey::AddPartitionsToTxn).unwrap();
        assert_eq!((add.min, add.max), (0, 5));
        assert_eq!(advertised(ApiKey::EndTxn).unwrap().max, 5);
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn never_advertises_past_what_kafka_protocol_decodes() {
        for r in supported_apis() {
            let v = r.key.valid_versions();
            assert!(r.max <= v.max, "{:?}", r.key);
            assert!(is_decodable(r.key, r.max), "{:?}", r.key);
        }
        assert_eq!(advertised(ApiKey::OffsetCommit).unwrap().max, 9);
        assert_eq!(served().len(), SERVED_COUNT);
    }
}
