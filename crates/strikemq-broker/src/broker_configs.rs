//! Broker configs (the BROKER config resource): what the broker was started with, the dynamic
//! configs Kafka lets an admin change at run time (KIP-226), and how topics inherit them.
//!
//! A broker config has a value at up to four levels, highest precedence first, each reported
//! with Kafka's ConfigSource id: set dynamically for this broker (`DYNAMIC_BROKER_CONFIG`, the
//! resource named by the broker id), set dynamically for the cluster (`DYNAMIC_DEFAULT_BROKER_CONFIG`,
//! the resource with the empty name), set when the broker started (`STATIC_BROKER_CONFIG`: a
//! flag, variable or file key whose value differs from Kafka's default) and Kafka's default
//! (`DEFAULT_CONFIG`). A topic config without a value of its own takes the first value of its
//! broker synonyms (`retention.ms` from `log.retention.ms`, `log.retention.minutes` or
//! `log.retention.hours`), so a dynamic `log.retention.ms` applies to every topic that does not
//! set `retention.ms`.
//!
//! The dynamic levels are kept in `meta/broker_configs.json` and survive restarts. As in a KRaft
//! Kafka 4 cluster, the cluster level starts with `min.insync.replicas=1` (KIP-966), which may be
//! changed but not removed.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use strikemq_storage::{MetaFile, MetaStore, StorageError};

use crate::{BrokerConfig, KafkaError};

/// Kafka's ConfigSource ids for the four levels.
pub(crate) const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub(crate) const SOURCE_DYNAMIC_DEFAULT: i8 = 3;
pub(crate) const SOURCE_STATIC: i8 = 4;
pub(crate) const SOURCE_DEFAULT: i8 = 5;

/// ConfigType ids.
const TYPE_UNKNOWN: i8 = 0;
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_DOUBLE: i8 = 6;
const TYPE_LIST: i8 = 7;

/// The cluster-level config a KRaft Kafka 4 cluster always has (eligible leader replicas).
const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// A broker config StrikeMQ knows.
struct BrokerDef {
    name: &'static str,
    type_code: i8,
    /// Kafka's default; `None` where Kafka has none (`log.retention.ms`).
    default: Option<&'static str>,
    /// The topic config whose values it holds, and how many milliseconds one unit of it is
    /// (`log.retention.hours`: 3,600,000).
    topic: Option<(&'static str, i64)>,
    /// Whether Kafka lets it change at run time (validated as its topic config); the others
    /// are refused by IncrementalAlterConfigs and AlterConfigs.
    dynamic: bool,
}

const fn topic_synonym(
    name: &'static str,
    type_code: i8,
    default: Option<&'static str>,
    topic: &'static str,
    unit_ms: i64,
) -> BrokerDef {
    // Kafka changes the millisecond settings at run time, not their coarser units.
    BrokerDef {
        name,
        type_code,
        default,
        topic: Some((topic, unit_ms)),
        dynamic: unit_ms == 1,
    }
}

/// A topic config's broker synonym that Kafka does not change at run time.
const fn static_synonym(
    name: &'static str,
    type_code: i8,
    default: Option<&'static str>,
    topic: &'static str,
) -> BrokerDef {
    BrokerDef {
        name,
        type_code,
        default,
        topic: Some((topic, 1)),
        dynamic: false,
    }
}

const fn fixed(name: &'static str, type_code: i8, default: Option<&'static str>) -> BrokerDef {
    BrokerDef {
        name,
        type_code,
        default,
        topic: None,
        dynamic: false,
    }
}

/// Every broker config StrikeMQ reports or accepts. The topic synonyms are listed in the order
/// Kafka looks them up (`log.retention.ms`, then minutes, then hours).
const BROKER_CONFIGS: &[BrokerDef] = &[
    fixed("advertised.listeners", TYPE_LIST, None),
    fixed("auto.create.topics.enable", TYPE_BOOLEAN, Some("true")),
    fixed("broker.id", TYPE_INT, Some("-1")),
    topic_synonym(
        "compression.gzip.level",
        TYPE_INT,
        Some("-1"),
        "compression.gzip.level",
        1,
    ),
    topic_synonym(
        "compression.lz4.level",
        TYPE_INT,
        Some("9"),
        "compression.lz4.level",
        1,
    ),
    topic_synonym(
        "compression.type",
        TYPE_STRING,
        Some("producer"),
        "compression.type",
        1,
    ),
    topic_synonym(
        "compression.zstd.level",
        TYPE_INT,
        Some("3"),
        "compression.zstd.level",
        1,
    ),
    fixed("group.initial.rebalance.delay.ms", TYPE_INT, Some("3000")),
    fixed("group.max.session.timeout.ms", TYPE_INT, Some("1800000")),
    fixed("group.min.session.timeout.ms", TYPE_INT, Some("6000")),
    fixed("transaction.max.timeout.ms", TYPE_INT, Some("900000")),
    topic_synonym(
        "log.cleaner.delete.retention.ms",
        TYPE_LONG,
        Some("86400000"),
        "delete.retention.ms",
        1,
    ),
    topic_synonym(
        "log.cleaner.max.compaction.lag.ms",
        TYPE_LONG,
        Some("9223372036854775807"),
        "max.compaction.lag.ms",
        1,
    ),
    topic_synonym(
        "log.cleaner.min.cleanable.ratio",
        TYPE_DOUBLE,
        Some("0.5"),
        "min.cleanable.dirty.ratio",
        1,
    ),
    topic_synonym(
        "log.cleaner.min.compaction.lag.ms",
        TYPE_LONG,
        Some("0"),
        "min.compaction.lag.ms",
        1,
    ),
    topic_synonym(
        "log.cleanup.policy",
        TYPE_LIST,
        Some("delete"),
        "cleanup.policy",
        1,
    ),
    fixed("log.dirs", TYPE_STRING, None),
    topic_synonym(
        "log.flush.interval.messages",
        TYPE_LONG,
        Some("9223372036854775807"),
        "flush.messages",
        1,
    ),
    topic_synonym("log.flush.interval.ms", TYPE_LONG, None, "flush.ms", 1),
    static_synonym(
        "log.flush.scheduler.interval.ms",
        TYPE_LONG,
        Some("9223372036854775807"),
        "flush.ms",
    ),
    topic_synonym(
        "log.index.interval.bytes",
        TYPE_INT,
        Some("4096"),
        "index.interval.bytes",
        1,
    ),
    topic_synonym(
        "log.index.size.max.bytes",
        TYPE_INT,
        Some("10485760"),
        "segment.index.bytes",
        1,
    ),
    topic_synonym(
        "log.local.retention.bytes",
        TYPE_LONG,
        Some("-2"),
        "local.retention.bytes",
        1,
    ),
    topic_synonym(
        "log.local.retention.ms",
        TYPE_LONG,
        Some("-2"),
        "local.retention.ms",
        1,
    ),
    topic_synonym(
        "log.message.timestamp.after.max.ms",
        TYPE_LONG,
        Some("3600000"),
        "message.timestamp.after.max.ms",
        1,
    ),
    topic_synonym(
        "log.message.timestamp.before.max.ms",
        TYPE_LONG,
        Some("9223372036854775807"),
        "message.timestamp.before.max.ms",
        1,
    ),
    topic_synonym(
        "log.message.timestamp.type",
        TYPE_STRING,
        Some("CreateTime"),
        "message.timestamp.type",
        1,
    ),
    topic_synonym(
        "log.preallocate",
        TYPE_BOOLEAN,
        Some("false"),
        "preallocate",
        1,
    ),
    topic_synonym(
        "log.retention.bytes",
        TYPE_LONG,
        Some("-1"),
        "retention.bytes",
        1,
    ),
    fixed("log.retention.check.interval.ms", TYPE_LONG, Some("300000")),
    topic_synonym(
        "log.retention.hours",
        TYPE_INT,
        Some("168"),
        "retention.ms",
        3_600_000,
    ),
    topic_synonym(
        "log.retention.minutes",
        TYPE_INT,
        None,
        "retention.ms",
        60_000,
    ),
    topic_synonym("log.retention.ms", TYPE_LONG, None, "retention.ms", 1),
    topic_synonym(
        "log.roll.hours",
        TYPE_INT,
        Some("168"),
        "segment.ms",
        3_600_000,
    ),
    topic_synonym(
        "log.roll.jitter.hours",
        TYPE_INT,
        Some("0"),
        "segment.jitter.ms",
        3_600_000,
    ),
    topic_synonym(
        "log.roll.jitter.ms",
        TYPE_LONG,
        None,
        "segment.jitter.ms",
        1,
    ),
    topic_synonym("log.roll.ms", TYPE_LONG, None, "segment.ms", 1),
    topic_synonym(
        "log.remote.copy.lag.bytes",
        TYPE_LONG,
        Some("-1"),
        "remote.copy.lag.bytes",
        1,
    ),
    topic_synonym(
        "log.remote.copy.lag.ms",
        TYPE_LONG,
        Some("0"),
        "remote.copy.lag.ms",
        1,
    ),
    topic_synonym(
        "log.segment.bytes",
        TYPE_INT,
        Some("1073741824"),
        "segment.bytes",
        1,
    ),
    topic_synonym(
        "log.segment.delete.delay.ms",
        TYPE_LONG,
        Some("60000"),
        "file.delete.delay.ms",
        1,
    ),
    topic_synonym(
        "max.decompressed.message.bytes",
        TYPE_INT,
        Some("2147483639"),
        "max.decompressed.message.bytes",
        1,
    ),
    topic_synonym(
        "message.max.bytes",
        TYPE_INT,
        Some("1048588"),
        "max.message.bytes",
        1,
    ),
    topic_synonym(
        MIN_INSYNC_REPLICAS,
        TYPE_INT,
        Some("1"),
        MIN_INSYNC_REPLICAS,
        1,
    ),
    fixed("node.id", TYPE_INT, None),
    fixed("num.partitions", TYPE_INT, Some("1")),
    fixed("offsets.retention.minutes", TYPE_INT, Some("10080")),
    topic_synonym(
        "unclean.leader.election.enable",
        TYPE_BOOLEAN,
        Some("false"),
        "unclean.leader.election.enable",
        1,
    ),
];

/// Static broker configs of Kafka that StrikeMQ does not list but refuses to change, as Kafka
/// does ("Cannot update these configs dynamically"); any other unknown name is kept, as Kafka
/// keeps it.
const OTHER_STATIC: &[&str] = &[
    "controller.listener.names",
    "controller.quorum.bootstrap.servers",
    "controller.quorum.voters",
    "default.replication.factor",
    "delete.topic.enable",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "listeners",
    "log.dir",
    "offsets.topic.num.partitions",
    "offsets.topic.replication.factor",
    "process.roles",
    "transaction.state.log.num.partitions",
    "transaction.state.log.replication.factor",
];

fn def(name: &str) -> Option<&'static BrokerDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// The broker configs a topic config falls back to, in Kafka's order of lookup.
pub(crate) fn topic_synonyms(topic_config: &str) -> Vec<&'static str> {
    // Kafka looks up log.retention.ms before minutes before hours: the table lists them by
    // name, so order them by unit, finest first.
    let mut names: Vec<(&'static str, i64)> = BROKER_CONFIGS
        .iter()
        .filter_map(|d| match d.topic {
            Some((t, unit)) if t == topic_config => Some((d.name, unit)),
            _ => None,
        })
        .collect();
    // flush.ms: log.flush.interval.ms first, then the scheduler's interval.
    names.sort_by_key(|&(name, unit)| (unit, name != "log.flush.interval.ms"));
    names.into_iter().map(|(n, _)| n).collect()
}

/// One value of a config at one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Synonym {
    pub(crate) name: &'static str,
    pub(crate) value: String,
    pub(crate) source: i8,
}

/// The dynamic levels, as kept on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Levels {
    /// Format version of the file.
    version: u8,
    /// The cluster-wide defaults (the resource with the empty name).
    cluster: BTreeMap<String, String>,
    /// This broker's own values (the resource named by its id).
    broker: BTreeMap<String, String>,
}

const FILE_VERSION: u8 = 1;

/// Which dynamic level a BROKER resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The empty resource name: the cluster-wide default.
    Cluster,
    /// This broker's id.
    ThisBroker,
}

/// The dynamic broker configs, and the typed values the produce path reads.
#[derive(Debug)]
pub(crate) struct DynamicConfigs {
    meta: MetaStore,
    /// `log.dirs`: the data directory.
    log_dirs: String,
    levels: RwLock<Levels>,
}

impl DynamicConfigs {
    pub(crate) fn open(
        data_dir: &std::path::Path,
        meta: &MetaStore,
    ) -> Result<DynamicConfigs, StorageError> {
        let path = meta.path(MetaFile::BrokerConfigs);
        let levels = match meta.read(MetaFile::BrokerConfigs)? {
            Some(bytes) => {
                let levels: Levels =
                    serde_json::from_slice(&bytes).map_err(|e| StorageError::CorruptMetadata {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if levels.version != FILE_VERSION {
                    return Err(StorageError::CorruptMetadata {
                        path,
                        reason: format!(
                            "format version {} is not the one this StrikeMQ reads ({FILE_VERSION})",
                            levels.version
                        ),
                    });
                }
                levels
            }
            None => Levels {
                version: FILE_VERSION,
                cluster: [(MIN_INSYNC_REPLICAS.to_owned(), "1".to_owned())].into(),
                broker: BTreeMap::new(),
            },
        };
        Ok(DynamicConfigs {
            meta: meta.clone(),
            log_dirs: data_dir.display().to_string(),
            levels: RwLock::new(levels),
        })
    }

    /// Every value of the configs `names` at every level, highest precedence first (levels
    /// outermost, then `names` in order), as Kafka lists synonyms.
    pub(crate) fn synonyms(&self, config: &BrokerConfig, names: &[&'static str]) -> Vec<Synonym> {
        let levels = self.levels.read();
        let mut out = Vec::new();
        for (map, source) in [
            (&levels.broker, SOURCE_DYNAMIC_BROKER),
            (&levels.cluster, SOURCE_DYNAMIC_DEFAULT),
        ] {
            for &name in names {
                if let Some(v) = map.get(name) {
                    out.push(Synonym {
                        name,
                        value: v.clone(),
                        source,
                    });
                }
            }
        }
        for &name in names {
            let started = match name {
                "log.dirs" => Some(self.log_dirs.clone()),
                _ => started_with(config, name),
            };
            if let Some(v) = started {
                out.push(Synonym {
                    name,
                    value: v,
                    source: SOURCE_STATIC,
                });
            }
        }
        for &name in names {
            if let Some(v) = def(name).and_then(|d| d.default) {
                out.push(Synonym {
                    name,
                    value: v.to_owned(),
                    source: SOURCE_DEFAULT,
                });
            }
        }
        out
    }

    /// The broker-level value of a topic config (its broker synonyms' first value, in the topic
    /// config's unit), or `None` when no synonym has one.
    pub(crate) fn topic_default(
        &self,
        config: &BrokerConfig,
        topic_config: &str,
    ) -> Option<String> {
        let names = topic_synonyms(topic_config);
        let first = self.synonyms(config, &names).into_iter().next()?;
        Some(in_topic_unit(&first))
    }

    /// Applies a change to one level after validating it; returns the new level on success.
    /// `replace`: AlterConfigs, which sets the whole level; otherwise the operations apply one
    /// by one (IncrementalAlterConfigs).
    pub(crate) fn change(
        &self,
        level: Level,
        ops: &[ConfigOp],
        replace: bool,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let mut levels = self.levels.write();
        let current = match level {
            Level::Cluster => &levels.cluster,
            Level::ThisBroker => &levels.broker,
        };
        let mut next = if replace {
            BTreeMap::new()
        } else {
            current.clone()
        };
        let read_only: Vec<&str> = ops
            .iter()
            .map(|op| op.name())
            .filter(|n| is_static(n))
            .collect();
        if !read_only.is_empty() {
            return Err(KafkaError::invalid_request(format!(
                "Cannot update these configs dynamically: [{}]",
                read_only.join(", ")
            )));
        }
        for op in ops {
            op.apply(&mut next)?;
        }
        if level == Level::Cluster && !next.contains_key(MIN_INSYNC_REPLICAS) {
            return Err(KafkaError::invalid_config(
                "Cluster-level min.insync.replicas cannot be removed while ELR is enabled."
                    .to_owned(),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let mut stored = levels.clone();
        match level {
            Level::Cluster => stored.cluster = next,
            Level::ThisBroker => stored.broker = next,
        }
        let bytes = serde_json::to_vec_pretty(&stored).unwrap_or_default();
        self.meta
            .write(MetaFile::BrokerConfigs, &bytes)
            .map_err(|e| KafkaError::storage(e.to_string()))?;
        *levels = stored;
        Ok(())
    }

    /// The configs set at a dynamic level, with their values (the cluster-default resource's
    /// DescribeConfigs).
    pub(crate) fn level(&self, level: Level) -> BTreeMap<String, String> {
        let levels = self.levels.read();
        match level {
            Level::Cluster => levels.cluster.clone(),
            Level::ThisBroker => levels.broker.clone(),
        }
    }
}

/// A topic-unit value from a synonym: `log.retention.hours=168` is `retention.ms=604800000`.
pub(crate) fn in_topic_unit(s: &Synonym) -> String {
    match def(s.name).and_then(|d| d.topic) {
        Some((_, unit)) if unit != 1 => s
            .value
            .parse::<i64>()
            .map_or_else(|_| s.value.clone(), |v| v.saturating_mul(unit).to_string()),
        _ => s.value.clone(),
    }
}

/// Whether Kafka refuses to change `name` at run time.
fn is_static(name: &str) -> bool {
    match def(name) {
        Some(d) => !d.dynamic,
        None => OTHER_STATIC.contains(&name),
    }
}

/// The type id of a broker config (UNKNOWN for names StrikeMQ does not know).
pub(crate) fn type_code(name: &str) -> i8 {
    def(name).map_or(TYPE_UNKNOWN, |d| d.type_code)
}

/// Whether `name` is a broker config StrikeMQ knows, and whether it is read-only.
pub(crate) fn known(name: &str) -> Option<bool> {
    def(name).map(|d| !d.dynamic)
}

/// Every broker config StrikeMQ knows, by name.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    BROKER_CONFIGS.iter().map(|d| d.name)
}

/// The synonyms Kafka lists for a broker config: itself and, for the time-valued log configs,
/// its coarser units (`log.retention.ms`, `log.retention.minutes`, `log.retention.hours`).
pub(crate) fn broker_synonyms(name: &'static str) -> Vec<&'static str> {
    match def(name).and_then(|d| d.topic) {
        Some((topic, _)) => {
            let all = topic_synonyms(topic);
            match all.iter().position(|n| *n == name) {
                Some(i) => all[i..].to_vec(),
                None => vec![name],
            }
        }
        None => vec![name],
    }
}

/// The value this broker was started with, where it differs from Kafka's default (Kafka
/// reports a config as STATIC_BROKER_CONFIG only when its properties file sets it).
fn started_with(c: &BrokerConfig, name: &str) -> Option<String> {
    let differs = |value: String| (def(name)?.default != Some(value.as_str())).then_some(value);
    match name {
        "advertised.listeners" => Some(format!(
            "PLAINTEXT://{}:{}",
            c.advertised_host, c.advertised_port
        )),
        "broker.id" | "node.id" => Some(c.node_id.to_string()),
        "auto.create.topics.enable" => differs(c.auto_create_topics.to_string()),
        "group.initial.rebalance.delay.ms" => {
            differs(c.groups.initial_rebalance_delay.as_millis().to_string())
        }
        "group.max.session.timeout.ms" => {
            differs(c.groups.max_session_timeout.as_millis().to_string())
        }
        "group.min.session.timeout.ms" => {
            differs(c.groups.min_session_timeout.as_millis().to_string())
        }
        "transaction.max.timeout.ms" => differs(c.transactions.max_timeout_ms.to_string()),
        "log.retention.bytes" => differs(c.retention_bytes.to_string()),
        "log.retention.check.interval.ms" => {
            differs(c.retention_check_interval.as_millis().to_string())
        }
        // Kafka's default is log.retention.hours=168; log.retention.ms has none.
        "log.retention.ms" => {
            (c.retention_ms != 7 * 24 * 3_600_000).then(|| c.retention_ms.to_string())
        }
        "log.segment.bytes" => differs(c.segment_bytes.to_string()),
        "message.max.bytes" => differs(c.max_message_bytes.to_string()),
        "num.partitions" => differs(c.default_partitions.to_string()),
        "offsets.retention.minutes" => {
            differs((c.groups.offsets_retention.as_secs() / 60).to_string())
        }
        _ => None,
    }
}

/// One requested change of a dynamic config.
#[derive(Debug, Clone)]
pub(crate) enum ConfigOp {
    Set(String, String),
    Delete(String),
    Append(String, String),
    Subtract(String, String),
}

impl ConfigOp {
    fn name(&self) -> &str {
        match self {
            ConfigOp::Set(n, _)
            | ConfigOp::Delete(n)
            | ConfigOp::Append(n, _)
            | ConfigOp::Subtract(n, _) => n,
        }
    }

    fn apply(&self, level: &mut BTreeMap<String, String>) -> Result<(), KafkaError> {
        match self {
            ConfigOp::Set(name, value) => {
                let value = validate(name, value)?;
                level.insert(name.clone(), value);
            }
            ConfigOp::Delete(name) => {
                level.remove(name);
            }
            ConfigOp::Append(name, value) | ConfigOp::Subtract(name, value) => {
                let append = matches!(self, ConfigOp::Append(..));
                if type_code(name) != TYPE_LIST {
                    return Err(KafkaError::invalid_config(format!(
                        "Config value {} is not allowed for config key: {name}",
                        if append { "append" } else { "subtract" }
                    )));
                }
                let current = level
                    .get(name.as_str())
                    .cloned()
                    .or_else(|| def(name).and_then(|d| d.default).map(str::to_owned))
                    .unwrap_or_default();
                let mut items: Vec<String> = split_list(&current);
                for v in split_list(value) {
                    if append {
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    } else {
                        items.retain(|i| *i != v);
                    }
                }
                let joined = items.join(",");
                let value = validate(name, &joined)?;
                level.insert(name.clone(), value);
            }
        }
        Ok(())
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Validates a dynamic broker config as its topic config (only millisecond settings are
/// dynamic, so the units agree); unknown names are kept as given.
fn validate(name: &str, value: &str) -> Result<String, KafkaError> {
    match def(name).and_then(|d| d.topic) {
        Some((topic, _)) => {
            crate::configs::validate_as(topic, name, value).map_err(KafkaError::invalid_request)
        }
        None => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, DynamicConfigs) {
        let dir = tempfile::tempdir().unwrap();
        let d = open_in(dir.path()).unwrap();
        (dir, d)
    }

    /// The broker configs of a data directory, as a broker opens them.
    fn open_in(dir: &std::path::Path) -> Result<DynamicConfigs, StorageError> {
        let store = strikemq_storage::Store::open(dir, Default::default())?;
        DynamicConfigs::open(dir, store.meta())
    }

    fn set(name: &str, value: &str) -> ConfigOp {
        ConfigOp::Set(name.to_owned(), value.to_owned())
    }

    #[test]
    fn levels_take_precedence_in_kafkas_order() {
        let (_dir, d) = open();
        let c = BrokerConfig::default();
        // Kafka's default: log.retention.hours=168.
        assert_eq!(
            d.topic_default(&c, "retention.ms").as_deref(),
            Some("604800000")
        );
        let c2 = BrokerConfig {
            retention_ms: 5000,
            ..BrokerConfig::default()
        };
        assert_eq!(
            d.topic_default(&c2, "retention.ms").as_deref(),
            Some("5000")
        );
        // Kafka changes log.retention.ms at run time, not its coarser units.
        assert!(d
            .change(
                Level::Cluster,
                &[set("log.retention.minutes", "2")],
                false,
                false
            )
            .is_err());
        d.change(
            Level::Cluster,
            &[set("log.retention.ms", "120000")],
            false,
            false,
        )
        .unwrap();
        assert_eq!(
            d.topic_default(&c2, "retention.ms").as_deref(),
            Some("120000")
        );
        d.change(
            Level::ThisBroker,
            &[set("log.retention.ms", "7")],
            false,
            false,
        )
        .unwrap();
        assert_eq!(d.topic_default(&c2, "retention.ms").as_deref(), Some("7"));
        let syn = d.synonyms(&c2, &topic_synonyms("retention.ms"));
        let got: Vec<(&str, &str, i8)> = syn
            .iter()
            .map(|s| (s.name, s.value.as_str(), s.source))
            .collect();
        assert_eq!(
            got,
            [
                ("log.retention.ms", "7", SOURCE_DYNAMIC_BROKER),
                ("log.retention.ms", "120000", SOURCE_DYNAMIC_DEFAULT),
                ("log.retention.ms", "5000", SOURCE_STATIC),
                ("log.retention.hours", "168", SOURCE_DEFAULT),
            ]
        );
    }

    #[test]
    fn changes_are_validated_kept_and_refused_as_kafka_does() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = open_in(dir.path()).unwrap();
            let e = d
                .change(
                    Level::Cluster,
                    &[set("log.retention.ms", "soon")],
                    false,
                    false,
                )
                .unwrap_err();
            assert_eq!(
                e.message(),
                "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"
            );
            let e = d
                .change(
                    Level::Cluster,
                    &[set("broker.id", "3"), set("log.dirs", "/x")],
                    false,
                    false,
                )
                .unwrap_err();
            assert_eq!(
                e.message(),
                "Cannot update these configs dynamically: [broker.id, log.dirs]"
            );
            d.change(
                Level::Cluster,
                &[
                    set("log.cleanup.policy", "compact,delete"),
                    set("no.such.config", "1"),
                ],
                false,
                false,
            )
            .unwrap();
            // Subtracting the last value leaves an empty list (Kafka 4.1+).
            for v in ["compact", "delete"] {
                d.change(
                    Level::Cluster,
                    &[ConfigOp::Subtract("log.cleanup.policy".into(), v.into())],
                    false,
                    false,
                )
                .unwrap();
            }
            assert_eq!(d.level(Level::Cluster)["log.cleanup.policy"], "");
            // Validate-only changes nothing.
            d.change(
                Level::ThisBroker,
                &[set("message.max.bytes", "5")],
                false,
                true,
            )
            .unwrap();
            assert!(d.level(Level::ThisBroker).is_empty());
            // min.insync.replicas stays at the cluster level.
            let e = d
                .change(Level::Cluster, &[set("log.retention.ms", "1")], true, false)
                .unwrap_err();
            assert_eq!(e.error, strikemq_codec::ResponseError::InvalidConfig);
        }
        // Kept across a restart.
        let d = open_in(dir.path()).unwrap();
        let cluster = d.level(Level::Cluster);
        assert_eq!(cluster["log.cleanup.policy"], "");
        assert_eq!(cluster["no.such.config"], "1");
        assert_eq!(cluster[MIN_INSYNC_REPLICAS], "1");
        // A damaged file is an error, not a reset.
        std::fs::write(dir.path().join("meta/broker_configs.json"), b"{nope").unwrap();
        assert!(open_in(dir.path()).is_err());
    }
}
