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
    /// An int within an inclusive range.
    IntIn(i64, i64),
    /// gzip's level: -1 (the codec's default) or 1 to 9.
    GzipLevel,
    /// `*`, empty, or `partition:broker` pairs (replication throttling).
    ReplicaList,
}

impl Kind {
    /// Kafka's ConfigType codes.
    fn type_code(self) -> i8 {
        match self {
            Kind::Bool => 1,
            Kind::Choice(_) => 2,
            Kind::Int(_) | Kind::IntIn(..) | Kind::GzipLevel => 3,
            Kind::Long(_) => 5,
            Kind::Ratio => 6,
            Kind::List(_) | Kind::ReplicaList => 7,
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
/// Default of `message.timestamp.after.max.ms` (that of `message.timestamp.before.max.ms` is
/// [`i64::MAX`]); the produce path uses the numbers without formatting and parsing them.
pub(crate) const TIMESTAMP_AFTER_MAX_MS: i64 = 3_600_000;

/// Every topic config Kafka 4.x defines that a single broker can honour or report.
const TOPIC_CONFIGS: &[Def] = &[
    Def {
        name: "cleanup.policy",
        kind: Kind::List(&["compact", "delete"]),
        default: |_| "delete".into(),
        doc: "delete, compact, or both",
    },
    Def {
        name: "compression.gzip.level",
        kind: Kind::GzipLevel,
        default: |_| "-1".into(),
        doc: "gzip level used when the broker compresses; StrikeMQ keeps batches as sent",
    },
    Def {
        name: "compression.lz4.level",
        kind: Kind::IntIn(1, 17),
        default: |_| "9".into(),
        doc: "lz4 level used when the broker compresses; StrikeMQ keeps batches as sent",
    },
    Def {
        name: "compression.type",
        kind: Kind::Choice(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        default: |_| "producer".into(),
        doc: "Compression of stored batches; producer keeps the producer's",
    },
    Def {
        name: "compression.zstd.level",
        kind: Kind::IntIn(-131_072, 22),
        default: |_| "3".into(),
        doc: "zstd level used when the broker compresses; StrikeMQ keeps batches as sent",
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
        name: "follower.replication.throttled.replicas",
        kind: Kind::ReplicaList,
        default: |_| "".into(),
        doc: "Replicas whose replication is throttled on followers; one broker has no followers",
    },
    Def {
        name: "index.interval.bytes",
        kind: Kind::Int(0),
        default: |_| "4096".into(),
        doc: "Bytes between offset index entries",
    },
    Def {
        name: "leader.replication.throttled.replicas",
        kind: Kind::ReplicaList,
        default: |_| "".into(),
        doc: "Replicas whose replication is throttled on the leader; one broker has no followers",
    },
    Def {
        name: "local.retention.bytes",
        kind: Kind::Long(-2),
        default: |_| "-2".into(),
        doc: "Local retention with tiered storage; -2 follows retention.bytes",
    },
    Def {
        name: "local.retention.ms",
        kind: Kind::Long(-2),
        default: |_| "-2".into(),
        doc: "Local retention with tiered storage; -2 follows retention.ms",
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
        default: |_| TIMESTAMP_AFTER_MAX_MS.to_string(),
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
        name: "remote.log.copy.disable",
        kind: Kind::Bool,
        default: |_| "false".into(),
        doc: "Stop copying to tiered storage; StrikeMQ has none",
    },
    Def {
        name: "remote.log.delete.on.disable",
        kind: Kind::Bool,
        default: |_| "false".into(),
        doc: "Delete tiered data when tiering is turned off; StrikeMQ has none",
    },
    Def {
        name: "remote.storage.enable",
        kind: Kind::Bool,
        default: |_| "false".into(),
        doc: "Tiered storage; StrikeMQ has none, so only false is accepted",
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
    let v = validate_value(name, value)?;
    if name == "remote.storage.enable" && v == "true" {
        // What Kafka says when its tiered storage is off, which StrikeMQ's always is.
        return Err("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.".to_owned());
    }
    Ok(v)
}

fn validate_value(name: &str, value: &str) -> Result<String, String> {
    let d = def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let bad = |why: String| {
        Err(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    };
    let v = value.trim();
    match d.kind {
        Kind::Long(min) => match v.parse::<i64>() {
            Err(_) => bad("Not a number of type LONG".into()),
            Ok(n) if n < min => bad(format!("Value must be at least {min}")),
            Ok(n) => Ok(n.to_string()),
        },
        Kind::Int(_) | Kind::IntIn(..) | Kind::GzipLevel => match v.parse::<i32>() {
            Err(_) => bad("Not a number of type INT".into()),
            Ok(n) => {
                let n = i64::from(n);
                match d.kind {
                    Kind::Int(min) if n < min => bad(format!("Value must be at least {min}")),
                    Kind::IntIn(min, _) if n < min => bad(format!("Value must be at least {min}")),
                    Kind::IntIn(_, max) if n > max => {
                        bad(format!("Value must be no more than {max}"))
                    }
                    Kind::GzipLevel if n != -1 && !(1..=9).contains(&n) => {
                        bad("Value must be between 1 and 9 or equal to -1".into())
                    }
                    _ => Ok(n.to_string()),
                }
            }
        },
        Kind::ReplicaList => {
            let pair = |p: &str| {
                p.split_once(':').is_some_and(|(a, b)| {
                    a.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
                })
            };
            if v.is_empty() || v == "*" || v.split(',').all(pair) {
                Ok(v.to_owned())
            } else {
                // Kafka parses the value as a list first and shows it as one.
                let items: Vec<&str> = v.split(',').map(str::trim).collect();
                Err(format!(
                    "Invalid value [{}] for configuration {name}: {name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                    items.join(", ")
                ))
            }
        }
        Kind::Ratio => match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(v.to_owned()),
            // Kafka shows the parsed double, the way Java prints it.
            Ok(r) if r.is_finite() => Err(format!(
                "Invalid value {} for configuration {name}: {}",
                java_double(r),
                if r > 1.0 {
                    "Value must be no more than 1"
                } else {
                    "Value must be at least 0"
                }
            )),
            _ => bad("Not a number of type DOUBLE".into()),
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
                    return bad(format!("String must be one of: {}", options.join(", ")));
                }
            }
            Ok(items.join(","))
        }
    }
}

/// How Java's `Double.toString` prints ordinary values: `2.0`, `0.5`.
fn java_double(r: f64) -> String {
    if r.fract() == 0.0 && r.abs() < 1e7 {
        format!("{r:.1}")
    } else {
        r.to_string()
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
                if let Some(broker_name) = broker_synonym(d.name) {
                    let sources: &[i8] = if default_source == SOURCE_DEFAULT {
                        &[SOURCE_DEFAULT]
                    } else {
                        &[default_source, SOURCE_DEFAULT]
                    };
                    for &source in sources {
                        syn.push(
                            DescribeConfigsSynonym::default()
                                .with_name(s(broker_name))
                                .with_value(Some(s(&default)))
                                .with_source(source),
                        );
                    }
                }
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

/// The broker setting a topic config falls back to, as Kafka lists it among the synonyms. Kafka
/// omits the ones whose broker setting has no value of its own (retention.ms falls back to
/// log.retention.hours, for one) and the ones that exist only per topic.
fn broker_synonym(topic_config: &str) -> Option<&'static str> {
    Some(match topic_config {
        "cleanup.policy" => "log.cleanup.policy",
        "compression.gzip.level" => "compression.gzip.level",
        "compression.lz4.level" => "compression.lz4.level",
        "compression.type" => "compression.type",
        "compression.zstd.level" => "compression.zstd.level",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "file.delete.delay.ms" => "log.segment.delete.delay.ms",
        "flush.messages" => "log.flush.interval.messages",
        "index.interval.bytes" => "log.index.interval.bytes",
        "local.retention.bytes" => "log.local.retention.bytes",
        "local.retention.ms" => "log.local.retention.ms",
        "max.compaction.lag.ms" => "log.cleaner.max.compaction.lag.ms",
        "max.message.bytes" => "message.max.bytes",
        "message.timestamp.after.max.ms" => "log.message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms" => "log.message.timestamp.before.max.ms",
        "message.timestamp.type" => "log.message.timestamp.type",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "min.insync.replicas" => "min.insync.replicas",
        "preallocate" => "log.preallocate",
        "retention.bytes" => "log.retention.bytes",
        "segment.bytes" => "log.segment.bytes",
        "segment.index.bytes" => "log.index.size.max.bytes",
        "unclean.leader.election.enable" => "unclean.leader.election.enable",
        _ => return None,
    })
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
                    None => match strikemq_storage::validate_topic_name(r.resource_name.as_str()) {
                        Err(e) => base
                            .with_error_code(code(storage_error(&e)))
                            .with_error_message(Some(s(&e.to_string()))),
                        // Kafka gives no message here.
                        Ok(()) => base
                            .with_error_code(code(ResponseError::UnknownTopicOrPartition))
                            .with_error_message(Some(s(""))),
                    },
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
                _ => base
                    .with_error_code(code(ResponseError::InvalidRequest))
                    .with_error_message(Some(s(crate::errors::INVALID_REQUEST_MESSAGE))),
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
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))),
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
                Ok(()) => resp.with_error_message(None),
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
                    let d = def(key).ok_or_else(|| {
                        (
                            ResponseError::InvalidConfig,
                            format!("Unknown topic config name: {key}"),
                        )
                    })?;
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
                                let op = if c.config_operation == OP_APPEND {
                                    "APPEND"
                                } else {
                                    "SUBTRACT"
                                };
                                return Err((
                                    ResponseError::InvalidConfig,
                                    format!(
                                        "Can't {op} to key {key} because its type is not LIST."
                                    ),
                                ));
                            }
                            let current = effective(broker, &configs, key).unwrap_or_default();
                            let mut items: Vec<String> = current
                                .split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(String::from)
                                .collect();
                            for v in value
                                .unwrap_or_default()
                                .split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                            {
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
                        // What Kafka 4.1 answers (it fails to map the operation, without a message).
                        _ => return Err((ResponseError::UnknownServerError, String::new())),
                    }
                }
                apply(broker, name, configs, req.validate_only)
            });
            let resp = IncrementalResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(()) => resp.with_error_message(None),
                Err((e, m)) => resp
                    .with_error_code(code(e))
                    .with_error_message((!m.is_empty()).then(|| s(&m))),
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
