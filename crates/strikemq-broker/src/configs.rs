//! Topic configs: the keys Kafka defines, their defaults and validation, and the DescribeConfigs,
//! AlterConfigs and IncrementalAlterConfigs requests.

use std::collections::BTreeMap;

use strikemq_codec::kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use strikemq_codec::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use strikemq_codec::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use strikemq_codec::kafka_protocol::messages::*;
use strikemq_codec::kafka_protocol::protocol::StrBytes;
use strikemq_codec::kafka_protocol::ResponseError;

use crate::errors::{code, storage_error};
use crate::{Broker, BrokerConfig};

/// ConfigResource types (KIP-133).
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// ConfigSource values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Long(i64),
    Int(i64),
    Ratio,
    Bool,
    Choice(&'static [&'static str]),
    List(&'static [&'static str]),
}

impl Kind {
    /// Kafka's ConfigType codes.
    fn type_code(self) -> i8 {
        match self {
            Kind::Bool => 1,
            Kind::Choice(_) => 2,
            Kind::Int(_) => 3,
            Kind::Long(_) => 5,
            Kind::Ratio => 6,
            Kind::List(_) => 7,
        }
    }
}

struct Def {
    name: &'static str,
    kind: Kind,
    default: fn(&BrokerConfig) -> String,
    doc: &'static str,
}

const MAX: fn(&BrokerConfig) -> String = |_| i64::MAX.to_string();

/// Every topic config Kafka 4.x defines that a single broker can honour or report.
const TOPIC_CONFIGS: &[Def] = &[
    Def {
        name: "cleanup.policy",
        kind: Kind::List(&["delete", "compact"]),
        default: |_| "delete".into(),
        doc: "delete, compact, or both",
    },
    Def {
        name: "compression.type",
        kind: Kind::Choice(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        default: |_| "producer".into(),
        doc: "Compression of stored batches; producer keeps the producer's",
    },
    Def {
        name: "delete.retention.ms",
        kind: Kind::Long(0),
        default: |_| "86400000".into(),
        doc: "How long tombstones stay after compaction",
    },
    Def {
        name: "file.delete.delay.ms",
        kind: Kind::Long(0),
        default: |_| "60000".into(),
        doc: "Delay before deleting a file from the filesystem",
    },
    Def {
        name: "flush.messages",
        kind: Kind::Long(1),
        default: MAX,
        doc: "Messages between forced fsyncs",
    },
    Def {
        name: "flush.ms",
        kind: Kind::Long(0),
        default: MAX,
        doc: "Time between forced fsyncs",
    },
    Def {
        name: "index.interval.bytes",
        kind: Kind::Int(0),
        default: |_| "4096".into(),
        doc: "Bytes between offset index entries",
    },
    Def {
        name: "max.compaction.lag.ms",
        kind: Kind::Long(1),
        default: MAX,
        doc: "Longest a message stays uncompacted",
    },
    Def {
        name: "max.message.bytes",
        kind: Kind::Int(0),
        default: |c| c.max_message_bytes.to_string(),
        doc: "Largest record batch accepted",
    },
    Def {
        name: "message.timestamp.after.max.ms",
        kind: Kind::Long(0),
        default: |_| "3600000".into(),
        doc: "How far a timestamp may be ahead of the broker's clock",
    },
    Def {
        name: "message.timestamp.before.max.ms",
        kind: Kind::Long(0),
        default: MAX,
        doc: "How far a timestamp may be behind the broker's clock",
    },
    Def {
        name: "message.timestamp.type",
        kind: Kind::Choice(&["CreateTime", "LogAppendTime"]),
        default: |_| "CreateTime".into(),
        doc: "CreateTime or LogAppendTime",
    },
    Def {
        name: "min.cleanable.dirty.ratio",
        kind: Kind::Ratio,
        default: |_| "0.5".into(),
        doc: "Dirty ratio that makes a log eligible for compaction",
    },
    Def {
        name: "min.compaction.lag.ms",
        kind: Kind::Long(0),
        default: |_| "0".into(),
        doc: "Shortest a message stays uncompacted",
    },
    Def {
        name: "min.insync.replicas",
        kind: Kind::Int(1),
        default: |_| "1".into(),
        doc: "Replicas that must acknowledge acks=all",
    },
    Def {
        name: "preallocate",
        kind: Kind::Bool,
        default: |_| "false".into(),
        doc: "Preallocate segment files",
    },
    Def {
        name: "retention.bytes",
        kind: Kind::Long(-1),
        default: |_| "-1".into(),
        doc: "Largest size of a partition before old segments go; -1 for no limit",
    },
    Def {
        name: "retention.ms",
        kind: Kind::Long(-1),
        default: |_| "604800000".into(),
        doc: "How long records are kept; -1 for ever",
    },
    Def {
        name: "segment.bytes",
        kind: Kind::Int(1024 * 1024),
        default: |c| c.segment_bytes.to_string(),
        doc: "Segment file size",
    },
    Def {
        name: "segment.index.bytes",
        kind: Kind::Int(4),
        default: |_| "10485760".into(),
        doc: "Size of a segment's offset index",
    },
    Def {
        name: "segment.jitter.ms",
        kind: Kind::Long(0),
        default: |_| "0".into(),
        doc: "Random jitter subtracted from segment.ms",
    },
    Def {
        name: "segment.ms",
        kind: Kind::Long(1),
        default: |_| "604800000".into(),
        doc: "Time before a segment is rolled",
    },
    Def {
        name: "unclean.leader.election.enable",
        kind: Kind::Bool,
        default: |_| "false".into(),
        doc: "Meaningless with one broker",
    },
];

fn def(name: &str) -> Option<&'static Def> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks one topic config; returns the value as stored.
pub(crate) fn validate(name: &str, value: &str) -> Result<String, String> {
    let d = def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let bad = |why: String| {
        Err(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    };
    let v = value.trim();
    match d.kind {
        Kind::Long(min) | Kind::Int(min) => match v.parse::<i64>() {
            Err(_) => bad("Not a number".into()),
            Ok(n) if matches!(d.kind, Kind::Int(_)) && i32::try_from(n).is_err() => {
                bad("Not an int".into())
            }
            Ok(n) if n < min => bad(format!("Value must be at least {min}")),
            Ok(n) => Ok(n.to_string()),
        },
        Kind::Ratio => match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(v.to_owned()),
            _ => bad("Value must be between 0 and 1".into()),
        },
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_owned()),
            _ => bad("Expected value to be either true or false".into()),
        },
        Kind::Choice(options) => match options.iter().find(|o| o.eq_ignore_ascii_case(v)) {
            Some(o) => Ok((*o).to_owned()),
            None => bad(format!("String must be one of: {}", options.join(", "))),
        },
        Kind::List(options) => {
            let items: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty() {
                return bad("Empty list".into());
            }
            for i in &items {
                if !options.contains(i) {
                    return bad(format!("Items must be among: {}", options.join(", ")));
                }
            }
            Ok(items.join(","))
        }
    }
}

/// Validates a whole set of topic configs.
pub(crate) fn validate_all(
    configs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    configs
        .iter()
        .map(|(k, v)| validate(k, v).map(|v| (k.clone(), v)))
        .collect()
}

/// The effective value of a topic config: set on the topic, or the default.
pub(crate) fn effective(
    broker: &Broker,
    configs: &BTreeMap<String, String>,
    name: &str,
) -> Option<String> {
    configs
        .get(name)
        .cloned()
        .or_else(|| def(name).map(|d| (d.default)(broker.config())))
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Every topic config with its value and source, as CreateTopics v5+ and DescribeConfigs show
/// them.
pub(crate) fn describe_topic_configs(
    broker: &Broker,
    configs: &BTreeMap<String, String>,
    keys: Option<&[StrBytes]>,
    synonyms: bool,
    docs: bool,
) -> Vec<DescribeConfigsResourceResult> {
    TOPIC_CONFIGS
        .iter()
        .filter(|d| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == d.name)))
        .map(|d| {
            let default = (d.default)(broker.config());
            let set = configs.get(d.name);
            // A KRaft Kafka 4 cluster holds min.insync.replicas as a cluster-wide dynamic default
            // (KIP-966, eligible leader replicas), and reports it with that source.
            let default_source = if d.name == "min.insync.replicas" {
                SOURCE_DYNAMIC_DEFAULT_BROKER
            } else {
                SOURCE_DEFAULT
            };
            let (value, source) = match set {
                Some(v) => (v.clone(), SOURCE_TOPIC),
                None => (default.clone(), default_source),
            };
            let mut syn = Vec::new();
            if synonyms {
                if let Some(v) = set {
                    syn.push(
                        DescribeConfigsSynonym::default()
                            .with_name(s(d.name))
                            .with_value(Some(s(v)))
                            .with_source(SOURCE_TOPIC),
                    );
                }
                syn.push(
                    DescribeConfigsSynonym::default()
                        .with_name(s(d.name))
                        .with_value(Some(s(&default)))
                        .with_source(SOURCE_DEFAULT),
                );
            }
            DescribeConfigsResourceResult::default()
                .with_name(s(d.name))
                .with_value(Some(s(&value)))
                .with_config_source(source)
                .with_synonyms(syn)
                .with_config_type(d.kind.type_code())
                .with_documentation(if docs { Some(s(d.doc)) } else { None })
        })
        .collect()
}

/// Broker settings, read-only, under Kafka's names.
fn broker_configs(broker: &Broker) -> Vec<(&'static str, String, i8)> {
    let c = broker.config();
    vec![
        (
            "advertised.listeners",
            format!("PLAINTEXT://{}:{}", c.advertised_host, c.advertised_port),
            3,
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            1,
        ),
        ("broker.id", c.node_id.to_string(), 3),
        (
            "group.initial.rebalance.delay.ms",
            c.groups.initial_rebalance_delay.as_millis().to_string(),
            3,
        ),
        (
            "group.max.session.timeout.ms",
            c.groups.max_session_timeout.as_millis().to_string(),
            3,
        ),
        (
            "group.min.session.timeout.ms",
            c.groups.min_session_timeout.as_millis().to_string(),
            3,
        ),
        ("log.dirs", broker.store().dir().display().to_string(), 2),
        ("log.retention.bytes", c.retention_bytes.to_string(), 5),
        ("log.retention.ms", c.retention_ms.to_string(), 5),
        ("log.segment.bytes", c.segment_bytes.to_string(), 3),
        ("message.max.bytes", c.max_message_bytes.to_string(), 3),
        ("node.id", c.node_id.to_string(), 3),
        ("num.partitions", c.default_partitions.to_string(), 3),
        (
            "offsets.retention.minutes",
            (c.groups.offsets_retention.as_secs() / 60).to_string(),
            3,
        ),
    ]
}

pub(crate) fn describe(broker: &Broker, req: &DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = req
        .resources
        .iter()
        .map(|r| {
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let keys = r.configuration_keys.as_deref();
            match r.resource_type {
                RESOURCE_TOPIC => match broker.store().topic(r.resource_name.as_str()) {
                    Some(t) => base.with_configs(describe_topic_configs(
                        broker,
                        t.configs(),
                        keys,
                        req.include_synonyms,
                        req.include_documentation,
                    )),
                    None => base
                        .with_error_code(code(ResponseError::UnknownTopicOrPartition))
                        .with_error_message(Some(s(&format!(
                            "Topic {} does not exist.",
                            r.resource_name.as_str()
                        )))),
                },
                RESOURCE_BROKER
                    if r.resource_name.is_empty()
                        || r.resource_name.as_str() == broker.config().node_id.to_string() =>
                {
                    base.with_configs(
                        broker_configs(broker)
                            .into_iter()
                            .filter(|(n, _, _)| {
                                keys.is_none_or(|k| k.iter().any(|k| k.as_str() == *n))
                            })
                            .map(|(n, v, t)| {
                                DescribeConfigsResourceResult::default()
                                    .with_name(s(n))
                                    .with_value(Some(s(&v)))
                                    .with_read_only(true)
                                    .with_config_source(SOURCE_STATIC_BROKER)
                                    .with_config_type(t)
                            })
                            .collect(),
                    )
                }
                RESOURCE_BROKER => base
                    .with_error_code(code(ResponseError::InvalidRequest))
                    .with_error_message(Some(s("Unexpected broker id"))),
                other => base
                    .with_error_code(code(ResponseError::InvalidRequest))
                    .with_error_message(Some(s(&format!("Unsupported resource type {other}")))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Applies new topic configs (after validation) unless `validate_only`.
fn apply(
    broker: &Broker,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let configs = validate_all(&configs).map_err(|m| (ResponseError::InvalidConfig, m))?;
    if validate_only {
        return Ok(());
    }
    let topic = broker
        .store()
        .set_topic_configs(topic, configs)
        .map_err(|e| (storage_error(&e), e.to_string()))?;
    crate::retention::apply_topic_settings(broker, &topic);
    broker.retention_changed();
    Ok(())
}

fn topic_or_error(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<BTreeMap<String, String>, (ResponseError, String)> {
    match resource_type {
        RESOURCE_TOPIC => broker
            .store()
            .topic(name)
            .map(|t| t.configs().clone())
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist."))),
        RESOURCE_BROKER => Err((ResponseError::InvalidRequest, "Broker configs are read-only in StrikeMQ; set them with flags, environment variables or the config file.".into())),
        other => Err((ResponseError::InvalidRequest, format!("Unsupported resource type {other}"))),
    }
}

pub(crate) fn alter(broker: &Broker, req: &AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            // AlterConfigs replaces the whole set: keys left out return to their defaults.
            let outcome = topic_or_error(broker, r.resource_type, name).and_then(|_| {
                let configs = r
                    .configs
                    .iter()
                    .filter_map(|c| {
                        c.value
                            .as_ref()
                            .map(|v| (c.name.as_str().to_owned(), v.as_str().to_owned()))
                    })
                    .collect();
                apply(broker, name, configs, req.validate_only)
            });
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(()) => resp,
                Err((e, m)) => resp
                    .with_error_code(code(e))
                    .with_error_message(Some(s(&m))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

pub(crate) fn incremental_alter(
    broker: &Broker,
    req: &IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let outcome = topic_or_error(broker, r.resource_type, name).and_then(|mut configs| {
                for c in &r.configs {
                    let key = c.name.as_str();
                    let d = def(key).ok_or_else(|| (ResponseError::InvalidConfig, format!("Unknown topic config name: {key}")))?;
                    let value = c.value.as_ref().map(|v| v.as_str().to_owned());
                    match c.config_operation {
                        OP_SET => {
                            configs.insert(key.to_owned(), value.unwrap_or_default());
                        }
                        OP_DELETE => {
                            configs.remove(key);
                        }
                        OP_APPEND | OP_SUBTRACT => {
                            if !matches!(d.kind, Kind::List(_)) {
                                return Err((ResponseError::InvalidConfig, format!("Config value append/subtract is not allowed for config key: {key}")));
                            }
                            let current = effective(broker, &configs, key).unwrap_or_default();
                            let mut items: Vec<String> = current.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                            for v in value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                                if c.config_operation == OP_APPEND {
                                    if !items.iter().any(|i| i == v) {
                                        items.push(v.to_owned());
                                    }
                                } else {
                                    items.retain(|i| i != v);
                                }
                            }
                            configs.insert(key.to_owned(), items.join(","));
                        }
                        other => return Err((ResponseError::InvalidRequest, format!("Unknown config operation {other}"))),
                    }
                }
                apply(broker, name, configs, req.validate_only)
            });
            let resp = IncrementalResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(()) => resp,
                Err((e, m)) => resp.with_error_code(code(e)).with_error_message(Some(s(&m))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_follows_the_config_types() {
        assert_eq!(validate("retention.ms", " 1000 ").unwrap(), "1000");
        assert_eq!(validate("retention.ms", "-1").unwrap(), "-1");
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("max.message.bytes", "9999999999").is_err());
        assert_eq!(
            validate("cleanup.policy", "compact, delete").unwrap(),
            "compact,delete"
        );
        assert!(validate("cleanup.policy", "sometimes").is_err());
        assert_eq!(
            validate("message.timestamp.type", "logappendtime").unwrap(),
            "LogAppendTime"
        );
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert_eq!(validate("preallocate", "TRUE").unwrap(), "true");
        assert!(validate("segment.bytes", "1000").is_err());
        assert!(validate("no.such.thing", "1")
            .unwrap_err()
            .contains("Unknown topic config name"));
    }
}
