//! Configs: broker-level settings inherited by topics.

use std::time::{Duration, Instant};

use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;

use crate::testutil::*;
use crate::BrokerConfig;

fn topic_config(t: &TestBroker, topic: &str, key: &str) -> (String, i8) {
    use strikemq_codec::messages::describe_configs_request::DescribeConfigsResource;
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configuration_keys(Some(vec![StrBytes::from_string(
                key.to_owned(),
            )]))]);
    let ResponseKind::DescribeConfigs(r) =
        response(call(&t.broker, ApiKey::DescribeConfigs, 4, &req))
    else {
        panic!()
    };
    let c = &r.results[0].configs[0];
    (
        c.value.as_deref().unwrap_or_default().to_owned(),
        c.config_source,
    )
}

/// Every broker-level setting Kafka lets a topic inherit reaches the topics without their own
/// value, described as STATIC_BROKER_CONFIG when it differs from Kafka's default; the
/// retention flags used to feed only DescribeConfigs of the broker.
#[test]
fn broker_level_settings_reach_topics_without_their_own() {
    const STATIC: i8 = 4;
    const DEFAULT: i8 = 5;
    let cases = [
        (
            BrokerConfig {
                retention_ms: 2000,
                ..BrokerConfig::default()
            },
            "retention.ms",
            "2000",
        ),
        (
            BrokerConfig {
                retention_bytes: 5000,
                ..BrokerConfig::default()
            },
            "retention.bytes",
            "5000",
        ),
        (
            BrokerConfig {
                segment_bytes: 2 << 20,
                ..BrokerConfig::default()
            },
            "segment.bytes",
            "2097152",
        ),
        (
            BrokerConfig {
                max_message_bytes: 3000,
                ..BrokerConfig::default()
            },
            "max.message.bytes",
            "3000",
        ),
    ];
    for (config, key, value) in cases {
        let t = broker_configured(Default::default(), config);
        create(&t, "t", 1);
        assert_eq!(
            topic_config(&t, "t", key),
            (value.to_owned(), STATIC),
            "{key}"
        );
        // The default broker describes Kafka's default.
        let plain = broker();
        create(&plain, "t", 1);
        assert_eq!(topic_config(&plain, "t", key).1, DEFAULT, "{key}");
    }
    // They act: message.max.bytes refuses a larger batch on a topic without its own limit...
    let t = broker_configured(
        Default::default(),
        BrokerConfig {
            max_message_bytes: 3000,
            ..BrokerConfig::default()
        },
    );
    create(&t, "t", 1);
    let (code, _) = produce_code(&t, "t", batch(&[&"x".repeat(5000)], 0), 1);
    assert_eq!(code, ResponseError::MessageTooLarge.code());
    // ...and log.retention.ms deletes expired records at the next retention check.
    let t = broker_configured(
        Default::default(),
        BrokerConfig {
            retention_ms: 2000,
            retention_check_interval: Duration::from_millis(1),
            ..BrokerConfig::default()
        },
    );
    create(&t, "t", 1);
    assert_eq!(
        produce_code(&t, "t", batch(&["old", "older"], 1_600_000_000_000), 1).0,
        0
    );
    t.broker.clean_logs(Instant::now() + Duration::from_secs(1));
    let log = t.broker.store().topic("t").unwrap();
    let log = log.partition(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
}
