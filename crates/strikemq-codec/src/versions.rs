//! The APIs a StrikeMQ broker serves and the version range of each.
//!
//! This one list feeds the ApiVersions response, the request dispatcher and the generated docs, so
//! they cannot disagree. Ranges follow Kafka 4.1 (the schemas kafka-protocol is generated from).

use kafka_protocol::messages::ApiKey;

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

/// APIs served, in api-key order. The ranges equal `ApiKey::valid_versions()` except where noted.
const SERVED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::FindCoordinator,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::InitProducerId,
];

/// The lowest Produce version Kafka 4.x advertises. KIP-896 removed v0-v2 from the broker but
/// Kafka keeps advertising them because librdkafka before 2.x refuses a broker whose Produce range
/// does not start at 0; requests at those versions are answered with UNSUPPORTED_VERSION.
pub const PRODUCE_ADVERTISED_MIN: i16 = 0;

/// Every served API with its advertised range.
pub fn supported_apis() -> impl Iterator<Item = ApiRange> {
    SERVED.iter().map(|&key| {
        let v = key.valid_versions();
        let min = if key == ApiKey::Produce {
            PRODUCE_ADVERTISED_MIN
        } else {
            v.min
        };
        ApiRange {
            key,
            min,
            max: v.max,
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
    advertised(key).is_some() && {
        let v = key.valid_versions();
        (v.min..=v.max).contains(&version)
    }
}

/// A printable name for an api key, as Kafka's docs spell it.
pub fn api_name(key: ApiKey) -> &'static str {
    // The Debug form of the enum is the Kafka name (Produce, Fetch, ...).
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
        assert!(advertised(ApiKey::JoinGroup).is_none());
        assert!(advertised(ApiKey::ConsumerGroupHeartbeat).is_none());
    }

    #[test]
    fn ranges_follow_kafka_4_1() {
        let fetch = advertised(ApiKey::Fetch).unwrap();
        assert_eq!((fetch.min, fetch.max), (4, 18));
        let meta = advertised(ApiKey::Metadata).unwrap();
        assert_eq!((meta.min, meta.max), (0, 13));
    }
}
