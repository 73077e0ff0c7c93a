//! ApiVersions and the route table: every advertised (API, version) reaches a handler.

use std::time::Instant;

use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;

use crate::testutil::*;
use crate::Outcome;

#[test]
fn api_versions_advertises_the_table() {
    let t = broker();
    for v in 0..=4 {
        let ResponseKind::ApiVersions(r) = response(call(
            &t.broker,
            ApiKey::ApiVersions,
            v,
            &ApiVersionsRequest::default(),
        )) else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!(produce.min_version, 0);
        assert!(r
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::JoinGroup as i16));
        assert!(r
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::ConsumerGroupHeartbeat as i16));
        // An inter-broker API: never advertised to clients.
        assert!(r
            .api_keys
            .iter()
            .all(|k| k.api_key != ApiKey::WriteTxnMarkers as i16));
    }
}

#[test]
fn newer_api_versions_gets_v0_unsupported_version() {
    let t = broker();
    let frame = bytes::Bytes::from_static(&[0, 18, 0, 42, 0, 0, 0, 3, 0, 0]);
    let req = strikemq_codec::request::decode_request(frame).unwrap();
    let Outcome::Respond(r) = t.broker.handle(req, Instant::now()) else {
        panic!()
    };
    assert_eq!(r.api_version, 0);
    let strikemq_codec::response::ResponseBody::Kafka(ResponseKind::ApiVersions(body)) = r.body
    else {
        panic!()
    };
    assert_eq!(body.error_code, ResponseError::UnsupportedVersion.code());
    assert!(!body.api_keys.is_empty());
}

/// A request the broker would decode for every advertised API at every version, with every
/// field at its default.
fn default_request(key: ApiKey) -> Option<RequestKind> {
    macro_rules! kinds {
        ($($api:ident),* $(,)?) => {
            match key {
                $(ApiKey::$api => Some(RequestKind::$api(Default::default())),)*
                _ => None,
            }
        };
    }
    kinds!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        DescribeConfigs,
        AlterConfigs,
        DescribeLogDirs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        OffsetDelete,
        DescribeCluster,
        DescribeProducers,
        DescribeTopicPartitions,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeTransactions,
        ListTransactions,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
        ShareGroupHeartbeat,
        ShareGroupDescribe,
        ShareFetch,
        ShareAcknowledge,
        DescribeShareGroupOffsets,
        AlterShareGroupOffsets,
        DeleteShareGroupOffsets,
    )
}

/// Every (API, version) in the versions table reaches a handler: none falls through to the
/// fallback that closes the connection (it used to answer nothing, leaving clients waiting).
#[test]
fn every_advertised_api_and_version_reaches_a_handler() {
    let t = broker();
    let mut asked = 0;
    for range in strikemq_codec::versions::supported_apis() {
        for version in range.min..=range.max {
            if !strikemq_codec::versions::is_decodable(range.key, version) {
                continue; // Produce v0-2: advertised, refused by the codec as Kafka 4 does.
            }
            let body = default_request(range.key)
                .unwrap_or_else(|| panic!("{:?} is advertised: add it here", range.key));
            let req = strikemq_codec::request::Request {
                api_key: range.key,
                api_version: version,
                correlation_id: 7,
                client_id: None,
                body: strikemq_codec::request::RequestBody::Kafka(body),
            };
            let outcome = t.broker.handle(req, Instant::now());
            assert!(
                !matches!(outcome, Outcome::Close(_)),
                "{:?} v{version}: {outcome:?}",
                range.key
            );
            asked += 1;
        }
    }
    assert!(asked > 150, "{asked}");
}

/// The fallback itself: a request body no handler serves closes the connection.
#[test]
fn a_request_without_a_handler_closes_the_connection() {
    let t = broker();
    let req = strikemq_codec::request::Request {
        api_key: ApiKey::WriteTxnMarkers,
        api_version: 1,
        correlation_id: 7,
        client_id: None,
        body: strikemq_codec::request::RequestBody::Kafka(RequestKind::WriteTxnMarkers(
            Default::default(),
        )),
    };
    assert!(matches!(
        t.broker.handle(req, Instant::now()),
        Outcome::Close(_)
    ));
}
