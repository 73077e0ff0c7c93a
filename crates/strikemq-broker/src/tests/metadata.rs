//! Metadata: auto-creation and per-topic errors.

use strikemq_codec::messages::metadata_request::MetadataRequestTopic;
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;

use crate::testutil::*;

#[test]
fn metadata_auto_creates_and_reports_errors() {
    let t = broker();
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("fresh"))),
            MetadataRequestTopic::default().with_name(Some(name("bad name"))),
        ]));
    let ResponseKind::Metadata(r) = response(call(&t.broker, ApiKey::Metadata, 12, &req)) else {
        panic!()
    };
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port, 9092);
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].partitions.len(), 1);
    assert!(!r.topics[0].topic_id.is_nil());
    assert_eq!(
        r.topics[1].error_code,
        ResponseError::InvalidTopicException.code()
    );
    // Not allowed to create: unknown.
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("nope")))
        ]));
    let ResponseKind::Metadata(r) = response(call(&t.broker, ApiKey::Metadata, 12, &req)) else {
        panic!()
    };
    assert_eq!(
        r.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    // Null topics: all of them.
    let req = MetadataRequest::default().with_topics(None);
    let ResponseKind::Metadata(r) = response(call(&t.broker, ApiKey::Metadata, 9, &req)) else {
        panic!()
    };
    assert_eq!(r.topics.len(), 1);
}
