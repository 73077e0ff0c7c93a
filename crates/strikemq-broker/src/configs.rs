//! Topic configs: the keys Kafka defines, their defaults and validation, and the DescribeConfigs,
//! AlterConfigs and IncrementalAlterConfigs requests.

use std::collections::BTreeMap;

use strikemq_codec::messages::alter_configs_response::AlterConfigsResourceResponse;
use strikemq_codec::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use strikemq_codec::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;

use crate::broker_configs::{self, ConfigOp, Level};
use crate::errors::{code, storage_error};
use crate::KafkaError;
use crate::{Broker, BrokerConfig};

/// ConfigResource types (KIP-133).
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// ConfigSource values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
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
        name: "errors.deadletterqueue.group.enable",
        kind: Kind::Bool,
        default: |_| "false".into(),
        doc: "Whether share groups may send undeliverable records to a dead-letter topic",
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
        name: "max.decompressed.message.bytes",
        kind: Kind::Int(0),
        default: |_| "2147483639".into(),
        doc: "Largest record batch after decompression",
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
        name: "remote.copy.lag.bytes",
        kind: Kind::Long(-1),
        default: |_| "-1".into(),
        doc: "Bytes of newer data before a segment is copied to tiered storage; StrikeMQ has none",
    },
    Def {
        name: "remote.copy.lag.ms",
        kind: Kind::Long(-1),
        default: |_| "0".into(),
        doc: "Age before a segment is copied to tiered storage; StrikeMQ has none",
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
    validate_as(name, name, value)
}

/// Checks `value` as topic config `topic` would be checked, naming it `name` in the message (a
/// broker config holding the topic config's values: `log.retention.ms` for `retention.ms`).
pub(crate) fn validate_as(topic: &str, name: &str, value: &str) -> Result<String, String> {
    let d = def(topic).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
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
            // An empty list is a value (Kafka 4.1+: cleanup.policy with neither policy).
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

/// The effective value of a topic config: set on the topic, else the broker-level value of
/// its synonyms (dynamic, as started, or Kafka's default), else the topic config's default.
pub(crate) fn effective(
    broker: &Broker,
    configs: &BTreeMap<String, String>,
    name: &str,
) -> Option<String> {
    configs
        .get(name)
        .cloned()
        .or_else(|| {
            broker
                .dynamic_configs()
                .topic_default(broker.config(), name)
        })
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
            let set = configs.get(d.name);
            // Kafka lists the broker synonyms from the first level that has the topic config's
            // primary broker name (log.retention.ms, not log.retention.hours), and takes the
            // source from the first one listed; the value comes from the first of all.
            let names = broker_configs::topic_synonyms(d.name);
            let all = broker.dynamic_configs().synonyms(broker.config(), &names);
            let inherited = all.first().map(broker_configs::in_topic_unit);
            let shown: Vec<_> = all
                .iter()
                .skip_while(|syn| Some(&syn.name) != names.first())
                .collect();
            let (value, source) = match set {
                Some(v) => (v.clone(), SOURCE_TOPIC),
                None => (
                    inherited.unwrap_or_else(|| (d.default)(broker.config())),
                    shown.first().map_or(SOURCE_DEFAULT, |syn| syn.source),
                ),
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
                syn.extend(shown.iter().map(|b| {
                    DescribeConfigsSynonym::default()
                        .with_name(s(b.name))
                        .with_value(Some(s(&b.value)))
                        .with_source(b.source)
                }));
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
                RESOURCE_BROKER => match broker_level(broker, r.resource_name.as_str()) {
                    Ok(level) => base.with_configs(describe_broker_configs(
                        broker,
                        level,
                        keys,
                        req.include_synonyms,
                    )),
                    Err(refusal) => base
                        .with_error_code(refusal.code())
                        .with_error_message(Some(s(&refusal.message()))),
                },
                crate::group_configs::RESOURCE_GROUP if !r.resource_name.is_empty() => base
                    .with_configs(broker.group_configs().describe(
                        r.resource_name.as_str(),
                        keys,
                        req.include_synonyms,
                        req.include_documentation,
                    )),
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
) -> Result<(), KafkaError> {
    let configs = validate_all(&configs).map_err(KafkaError::invalid_config)?;
    if validate_only {
        return Ok(());
    }
    let topic = broker
        .store()
        .set_topic_configs(topic, configs)
        .map_err(KafkaError::from)?;
    crate::retention::apply_topic_settings(broker, &topic);
    broker.retention_changed();
    Ok(())
}

/// Which dynamic level a BROKER resource name means: the empty name is the cluster-wide
/// default, this broker's id its own configs.
fn broker_level(broker: &Broker, name: &str) -> Result<Level, KafkaError> {
    if name.is_empty() {
        return Ok(Level::Cluster);
    }
    let id = broker.config().node_id;
    match name.parse::<i32>() {
        Ok(n) if n == id => Ok(Level::ThisBroker),
        Ok(n) => Err(KafkaError::new(
            ResponseError::InvalidRequest,
            format!("Unexpected broker id, expected {id}, but received {n}"),
        )),
        Err(_) => Err(KafkaError::new(
            ResponseError::InvalidRequest,
            format!("Node id must be an integer, but it is: {name}"),
        )),
    }
}

/// DescribeConfigs of a BROKER resource. This broker's: every broker config StrikeMQ knows,
/// valued from the highest level that sets it. The cluster default's: the configs set at that
/// level only. A config Kafka does not know is shown without its value, as Kafka treats it as
/// sensitive.
fn describe_broker_configs(
    broker: &Broker,
    level: Level,
    keys: Option<&[StrBytes]>,
    synonyms: bool,
) -> Vec<DescribeConfigsResourceResult> {
    let wanted = |name: &str| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == name));
    let entry = |name: &str, value: Option<&str>, source: i8, syn: Vec<DescribeConfigsSynonym>| {
        let read_only = broker_configs::known(name).unwrap_or(true);
        let sensitive = broker_configs::known(name).is_none();
        DescribeConfigsResourceResult::default()
            .with_name(s(name))
            .with_value(if sensitive { None } else { value.map(s) })
            .with_read_only(read_only)
            .with_is_sensitive(sensitive)
            .with_config_source(source)
            .with_synonyms(if synonyms { syn } else { Vec::new() })
            .with_config_type(broker_configs::type_code(name))
            .with_documentation(None)
    };
    match level {
        Level::Cluster => broker
            .dynamic_configs()
            .level(Level::Cluster)
            .into_iter()
            .filter(|(name, _)| wanted(name))
            .map(|(name, value)| {
                let shown = broker_configs::known(&name).map(|_| s(&value));
                let syn = vec![DescribeConfigsSynonym::default()
                    .with_name(s(&name))
                    .with_value(shown)
                    .with_source(SOURCE_DYNAMIC_DEFAULT_BROKER)];
                entry(&name, Some(&value), SOURCE_DYNAMIC_DEFAULT_BROKER, syn)
            })
            .collect(),
        Level::ThisBroker => broker_configs::names()
            .filter(|name| wanted(name))
            .map(|name| {
                // As Kafka: the synonyms from the first that bears the config's own name.
                let all = broker
                    .dynamic_configs()
                    .synonyms(broker.config(), &broker_configs::broker_synonyms(name));
                let shown: Vec<_> = all.into_iter().skip_while(|syn| syn.name != name).collect();
                let (value, source) = shown.first().map_or((None, SOURCE_DEFAULT), |f| {
                    (Some(f.value.clone()), f.source)
                });
                let syn = shown
                    .iter()
                    .map(|b| {
                        DescribeConfigsSynonym::default()
                            .with_name(s(b.name))
                            .with_value(Some(s(&b.value)))
                            .with_source(b.source)
                    })
                    .collect();
                entry(name, value.as_deref(), source, syn)
            })
            .collect(),
    }
}

fn topic_configs(broker: &Broker, name: &str) -> Result<BTreeMap<String, String>, KafkaError> {
    broker
        .store()
        .topic(name)
        .map(|t| t.configs().clone())
        .ok_or_else(|| {
            KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            )
        })
}

/// Applies a change to a BROKER resource: a dynamic level of broker configs.
fn alter_broker(
    broker: &Broker,
    name: &str,
    ops: &[ConfigOp],
    replace: bool,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let level = broker_level(broker, name)?;
    broker
        .dynamic_configs()
        .change(level, ops, replace, validate_only)?;
    if !validate_only {
        broker.broker_configs_changed();
    }
    Ok(())
}

/// What Kafka answers for a resource type it does not alter here.
fn unknown_resource_type(t: i8) -> KafkaError {
    KafkaError::new(
        ResponseError::InvalidRequest,
        format!("Unknown resource type {t}"),
    )
}

pub(crate) fn alter(broker: &Broker, req: &AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            // AlterConfigs replaces the whole set: keys left out return to their defaults.
            let configs: BTreeMap<String, String> = r
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.as_str().to_owned(), v.as_str().to_owned()))
                })
                .collect();
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => topic_configs(broker, name)
                    .and_then(|_| apply(broker, name, configs, req.validate_only)),
                RESOURCE_BROKER => {
                    let ops: Vec<ConfigOp> = configs
                        .into_iter()
                        .map(|(k, v)| ConfigOp::Set(k, v))
                        .collect();
                    alter_broker(broker, name, &ops, true, req.validate_only)
                }
                crate::group_configs::RESOURCE_GROUP => {
                    let ops: Vec<ConfigOp> = configs
                        .into_iter()
                        .map(|(k, v)| ConfigOp::Set(k, v))
                        .collect();
                    broker.alter_group_configs(name, &ops, true, req.validate_only)
                }
                other => Err(unknown_resource_type(other)),
            };
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(()) => resp.with_error_message(None),
                Err(e) => resp
                    .with_error_code(e.code())
                    .with_error_message(Some(s(e.detail.as_deref().unwrap_or_default()))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// The operations of one IncrementalAlterConfigs resource; `Err` for an operation code Kafka
/// does not define (Kafka 4.1 fails to map it and answers without a message).
fn config_ops(
    configs: &[strikemq_codec::messages::incremental_alter_configs_request::AlterableConfig],
) -> Result<Vec<ConfigOp>, KafkaError> {
    configs
        .iter()
        .map(|c| {
            let name = c.name.as_str().to_owned();
            let value = c
                .value
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            Ok(match c.config_operation {
                OP_SET => ConfigOp::Set(name, value),
                OP_DELETE => ConfigOp::Delete(name),
                OP_APPEND => ConfigOp::Append(name, value),
                OP_SUBTRACT => ConfigOp::Subtract(name, value),
                _ => return Err(KafkaError::from(ResponseError::UnknownServerError)),
            })
        })
        .collect()
}

/// IncrementalAlterConfigs on a topic: the operations applied to its configs in order.
fn alter_topic_incrementally(
    broker: &Broker,
    name: &str,
    ops: &[ConfigOp],
    validate_only: bool,
) -> Result<(), KafkaError> {
    let mut configs = topic_configs(broker, name)?;
    for op in ops {
        match op {
            ConfigOp::Set(key, value) => {
                known_topic_config(key)?;
                configs.insert(key.clone(), value.clone());
            }
            ConfigOp::Delete(key) => {
                known_topic_config(key)?;
                configs.remove(key);
            }
            ConfigOp::Append(key, value) | ConfigOp::Subtract(key, value) => {
                let d = known_topic_config(key)?;
                let append = matches!(op, ConfigOp::Append(..));
                if !matches!(d.kind, Kind::List(_)) {
                    let op = if append { "APPEND" } else { "SUBTRACT" };
                    return Err(KafkaError::new(
                        ResponseError::InvalidConfig,
                        format!("Can't {op} to key {key} because its type is not LIST."),
                    ));
                }
                let current = effective(broker, &configs, key).unwrap_or_default();
                let mut items: Vec<String> = current
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if append {
                        if !items.iter().any(|i| i == v) {
                            items.push(v.to_owned());
                        }
                    } else {
                        items.retain(|i| i != v);
                    }
                }
                configs.insert(key.clone(), items.join(","));
            }
        }
    }
    apply(broker, name, configs, validate_only)
}

fn known_topic_config(key: &str) -> Result<&'static Def, KafkaError> {
    def(key).ok_or_else(|| {
        KafkaError::new(
            ResponseError::InvalidConfig,
            format!("Unknown topic config name: {key}"),
        )
    })
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
            let outcome = config_ops(&r.configs).and_then(|ops| match r.resource_type {
                RESOURCE_TOPIC => alter_topic_incrementally(broker, name, &ops, req.validate_only),
                RESOURCE_BROKER => alter_broker(broker, name, &ops, false, req.validate_only),
                crate::group_configs::RESOURCE_GROUP => {
                    broker.alter_group_configs(name, &ops, false, req.validate_only)
                }
                other => Err(unknown_resource_type(other)),
            });
            let resp = IncrementalResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match outcome {
                Ok(()) => resp.with_error_message(None),
                Err(e) => resp
                    .with_error_code(e.code())
                    .with_error_message(e.detail.as_deref().map(s)),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The DescribeConfigs handler of the route table.
pub(crate) fn route_describe(
    broker: &Broker,
    r: DescribeConfigsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::DescribeConfigs(describe(broker, &r)))
}

/// The AlterConfigs handler of the route table.
pub(crate) fn route_alter(
    broker: &Broker,
    r: AlterConfigsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::AlterConfigs(alter(broker, &r)))
}

/// The IncrementalAlterConfigs handler of the route table.
pub(crate) fn route_incremental_alter(
    broker: &Broker,
    r: IncrementalAlterConfigsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(ResponseKind::IncrementalAlterConfigs(incremental_alter(
        broker, &r,
    )))
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
