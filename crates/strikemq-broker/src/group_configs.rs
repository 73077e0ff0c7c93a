//! Group configs (ConfigResource type GROUP): per-group overrides of the broker's group settings,
//! set with IncrementalAlterConfigs or AlterConfigs, shown by DescribeConfigs, kept in
//! `meta/group_configs.json` and handed to the coordinator as the group's share settings.
//!
//! DescribeConfigs lists every group config Kafka 4.4 lists, with its default. Only those this
//! broker acts on may be set: the share group ones below. Setting another (the streams group
//! configs, the dead-letter queue, `share.isolation.level`...) is refused with INVALID_CONFIG
//! rather than accepted and ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use strikemq_codec::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsSynonym,
};
use strikemq_codec::{ResponseError, StrBytes};
use strikemq_groups::ShareSettings;
use strikemq_storage::{MetaFile, MetaStore, StorageError};

use crate::broker_configs::ConfigOp;
use crate::KafkaError;

/// ConfigResource type GROUP.
pub(crate) const RESOURCE_GROUP: i8 = 32;
/// ConfigSource GROUP_CONFIG.
const SOURCE_GROUP: i8 = 8;
const SOURCE_DEFAULT: i8 = 5;
/// ConfigSource STATIC_BROKER_CONFIG.
const SOURCE_STATIC: i8 = 4;

/// The broker config behind a group config: `group.<name>` (the dead-letter queue configs keep
/// their name), with its values from the highest precedence down. This broker computes
/// assignments at once, as Kafka started with `group.*.assignment.interval.ms=0` does.
fn broker_synonyms(d: &Def) -> Vec<(String, &'static str, i8)> {
    // Kafka's own irregularities: group configs with no broker config of their own, and one
    // whose broker config has another name.
    let name = match d.name {
        n if n.starts_with("errors.") => n.to_owned(),
        "share.auto.offset.reset" | "share.isolation.level" | "share.renew.acknowledge.enable" => {
            d.name.to_owned()
        }
        "streams.assignor.name" => "group.streams.assignors".to_owned(),
        n => format!("group.{n}"),
    };
    match d.name {
        "consumer.assignment.interval.ms" | "share.assignment.interval.ms" => vec![
            (name.clone(), "0", SOURCE_STATIC),
            (name, "1000", SOURCE_DEFAULT),
        ],
        _ => vec![(name, d.default, SOURCE_DEFAULT)],
    }
}
const FILE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An int: at least the first, and (Kafka's broker-side bounds) within the range.
    Int(i64, i64, i64),
    Bool,
    Str,
    List,
    ResetPolicy,
}

impl Kind {
    fn type_code(self) -> i8 {
        match self {
            Kind::Bool => 1,
            Kind::Str | Kind::ResetPolicy => 2,
            Kind::Int(..) => 3,
            Kind::List => 7,
        }
    }
}

struct Def {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    /// This broker acts on it.
    served: bool,
    doc: &'static str,
}

const fn def(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    served: bool,
    doc: &'static str,
) -> Def {
    Def {
        name,
        default,
        kind,
        served,
        doc,
    }
}

/// Kafka 4.4's group configs, by name.
const DEFS: &[Def] = &[
    def(
        "consumer.assignment.interval.ms",
        "0",
        Kind::Int(0, 0, i64::MAX),
        false,
        "The interval between assignment updates for a consumer group.",
    ),
    def(
        "consumer.heartbeat.interval.ms",
        "5000",
        Kind::Int(1, 5000, 15000),
        true,
        "The heartbeat interval given to the members of a consumer group.",
    ),
    def(
        "consumer.session.timeout.ms",
        "45000",
        Kind::Int(1, 45000, 60000),
        true,
        "The timeout to detect client failures when using the consumer group protocol.",
    ),
    def(
        "errors.deadletterqueue.copy.record.enable",
        "false",
        Kind::Bool,
        false,
        "Whether to copy the original record onto the DLQ topic.",
    ),
    def(
        "errors.deadletterqueue.topic.name",
        "",
        Kind::Str,
        false,
        "The dead-letter queue topic of this share group.",
    ),
    def(
        "share.assignment.interval.ms",
        "0",
        Kind::Int(0, 0, i64::MAX),
        false,
        "The interval between assignment updates for a share group.",
    ),
    def(
        "share.auto.offset.reset",
        "latest",
        Kind::ResetPolicy,
        true,
        "Where a share group starts consuming a partition it has no state for: earliest or latest.",
    ),
    def(
        "share.delivery.count.limit",
        "5",
        Kind::Int(2, 2, 10),
        true,
        "How many times a record is delivered before it is archived.",
    ),
    def(
        "share.heartbeat.interval.ms",
        "5000",
        Kind::Int(1, 5000, 15000),
        true,
        "The heartbeat interval given to the members of a share group.",
    ),
    def(
        "share.isolation.level",
        "read_uncommitted",
        Kind::Str,
        false,
        "How to read records written transactionally.",
    ),
    def(
        "share.partition.max.record.locks",
        "2000",
        Kind::Int(100, 100, 4000),
        true,
        "The most records in flight (acquired or available again) per share-partition.",
    ),
    def(
        "share.record.lock.duration.ms",
        "30000",
        Kind::Int(1000, 15000, 60000),
        true,
        "How long an acquired record stays locked to its member.",
    ),
    def(
        "share.renew.acknowledge.enable",
        "true",
        Kind::Bool,
        false,
        "Whether members may renew their acquisition locks.",
    ),
    def(
        "share.session.timeout.ms",
        "45000",
        Kind::Int(1, 45000, 60000),
        true,
        "The timeout to detect client failures when using the share group protocol.",
    ),
    def(
        "streams.assignment.interval.ms",
        "1000",
        Kind::Int(0, 0, i64::MAX),
        false,
        "The interval between assignment updates for a streams group.",
    ),
    def(
        "streams.assignor.name",
        "sticky",
        Kind::Str,
        false,
        "The assignor of a streams group.",
    ),
    def(
        "streams.heartbeat.interval.ms",
        "5000",
        Kind::Int(1, 5000, 15000),
        false,
        "The heartbeat interval given to the members of a streams group.",
    ),
    def(
        "streams.initial.rebalance.delay.ms",
        "3000",
        Kind::Int(0, 0, i64::MAX),
        false,
        "How long a new streams group waits before its first assignment.",
    ),
    def(
        "streams.num.standby.replicas",
        "0",
        Kind::Int(0, 0, 2),
        false,
        "Standby replicas of each task of a streams group.",
    ),
    def(
        "streams.rack.aware.assignment.tags",
        "",
        Kind::List,
        false,
        "Rack tags for the streams assignment.",
    ),
    def(
        "streams.session.timeout.ms",
        "45000",
        Kind::Int(1, 45000, 60000),
        false,
        "The timeout to detect client failures when using the streams group protocol.",
    ),
];

fn find(name: &str) -> Result<&'static Def, KafkaError> {
    DEFS.iter().find(|d| d.name == name).ok_or_else(|| {
        KafkaError::new(
            ResponseError::InvalidConfig,
            format!("Unknown group config name: {name}"),
        )
    })
}

/// Kafka's checks and messages for a value of `d`.
fn validate(d: &Def, value: &str) -> Result<(), KafkaError> {
    let invalid = |m: String| Err(KafkaError::new(ResponseError::InvalidConfig, m));
    match d.kind {
        Kind::Int(at_least, min, max) => {
            let Ok(v) = value.trim().parse::<i32>() else {
                return invalid(format!(
                    "Invalid value {value} for configuration {}: Not a number of type INT",
                    d.name
                ));
            };
            let v = i64::from(v);
            if v < at_least {
                return invalid(format!(
                    "Invalid value {value} for configuration {}: Value must be at least {at_least}",
                    d.name
                ));
            }
            if v < min || v > max {
                return invalid(format!(
                    "{} must be in the range {min} to {max} inclusive.",
                    d.name
                ));
            }
        }
        Kind::ResetPolicy => {
            let v = value.trim();
            if v.starts_with("by_duration:") {
                return invalid(format!(
                    "StrikeMQ does not implement {}={v} yet: use earliest or latest.",
                    d.name
                ));
            }
            if v != "earliest" && v != "latest" {
                return invalid(format!("Invalid value {value} for configuration {}: Invalid value `{value}` for configuration {}. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.", d.name, d.name));
            }
        }
        Kind::Bool | Kind::Str | Kind::List => {}
    }
    if !d.served {
        return invalid(format!(
            "StrikeMQ does not implement the group config {} yet.",
            d.name
        ));
    }
    Ok(())
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    groups: BTreeMap<String, BTreeMap<String, String>>,
}

/// Every group's configs, and the file they are kept in.
#[derive(Debug)]
pub(crate) struct GroupConfigs {
    meta: MetaStore,
    groups: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

/// A group's share settings: its configs over the broker's defaults.
pub(crate) fn share_settings(
    configs: &BTreeMap<String, String>,
    defaults: &ShareSettings,
) -> ShareSettings {
    let int = |k: &str| configs.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let mut s = *defaults;
    if let Some(v) = int("share.session.timeout.ms") {
        s.session_timeout = Duration::from_millis(v);
    }
    if let Some(v) = int("share.heartbeat.interval.ms") {
        s.heartbeat_interval = Duration::from_millis(v);
    }
    if let Some(v) = int("share.record.lock.duration.ms") {
        s.record_lock_duration = Duration::from_millis(v);
    }
    if let Some(v) = int("share.delivery.count.limit") {
        s.delivery_count_limit = v.min(i16::MAX as u64) as i16;
    }
    if let Some(v) = int("share.partition.max.record.locks") {
        s.max_record_locks = v as usize;
    }
    if let Some(v) = configs.get("share.auto.offset.reset") {
        s.earliest = v.trim() == "earliest";
    }
    s
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

impl GroupConfigs {
    pub(crate) fn open(meta: &MetaStore) -> Result<GroupConfigs, StorageError> {
        let groups = match meta.read(MetaFile::GroupConfigs)? {
            Some(bytes) => {
                let file: File =
                    serde_json::from_slice(&bytes).map_err(|e| StorageError::CorruptMetadata {
                        path: meta.path(MetaFile::GroupConfigs),
                        reason: e.to_string(),
                    })?;
                if file.version != FILE_VERSION {
                    return Err(StorageError::CorruptMetadata {
                        path: meta.path(MetaFile::GroupConfigs),
                        reason: format!(
                            "format version {} is not the one this StrikeMQ reads ({FILE_VERSION})",
                            file.version
                        ),
                    });
                }
                file.groups
            }
            None => BTreeMap::new(),
        };
        Ok(GroupConfigs {
            meta: meta.clone(),
            groups: Mutex::new(groups),
        })
    }

    /// Every group with configs of its own.
    pub(crate) fn all(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.groups.lock().clone()
    }

    /// DescribeConfigs of one group (it need not exist, as on Kafka).
    pub(crate) fn describe(
        &self,
        group: &str,
        keys: Option<&[StrBytes]>,
        synonyms: bool,
        docs: bool,
    ) -> Vec<DescribeConfigsResourceResult> {
        let groups = self.groups.lock();
        let set = groups.get(group);
        DEFS.iter()
            .filter(|d| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == d.name)))
            .map(|d| {
                let own = set.and_then(|m| m.get(d.name));
                let mut all: Vec<(String, &str, i8)> = own
                    .map(|v| (d.name.to_owned(), v.as_str(), SOURCE_GROUP))
                    .into_iter()
                    .collect();
                all.extend(broker_synonyms(d));
                let (value, source) = (all[0].1, all[0].2);
                let synonyms = if synonyms {
                    all.iter()
                        .map(|(n, v, src)| {
                            DescribeConfigsSynonym::default()
                                .with_name(s(n))
                                .with_value(Some(s(v)))
                                .with_source(*src)
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                DescribeConfigsResourceResult::default()
                    .with_name(s(d.name))
                    .with_value(Some(s(value)))
                    .with_config_source(source)
                    .with_synonyms(synonyms)
                    .with_config_type(d.kind.type_code())
                    .with_documentation(docs.then(|| s(d.doc)))
            })
            .collect()
    }

    /// Applies IncrementalAlterConfigs operations (or, with `replace`, AlterConfigs' full set)
    /// to a group; returns its configs after the change, unless `validate_only`.
    pub(crate) fn alter(
        &self,
        group: &str,
        ops: &[ConfigOp],
        replace: bool,
        validate_only: bool,
    ) -> Result<Option<BTreeMap<String, String>>, KafkaError> {
        if group.is_empty() {
            return Err(KafkaError::new(
                ResponseError::InvalidRequest,
                "Invalid ConfigResource(GROUP,)",
            ));
        }
        let mut groups = self.groups.lock();
        let mut configs = if replace {
            BTreeMap::new()
        } else {
            groups.get(group).cloned().unwrap_or_default()
        };
        for op in ops {
            match op {
                ConfigOp::Set(k, v) => {
                    let d = find(k)?;
                    validate(d, v)?;
                    configs.insert(k.clone(), v.trim().to_owned());
                }
                ConfigOp::Delete(k) => {
                    find(k)?;
                    configs.remove(k);
                }
                ConfigOp::Append(k, _) | ConfigOp::Subtract(k, _) => {
                    let d = find(k)?;
                    let verb = if matches!(op, ConfigOp::Append(..)) {
                        "APPEND"
                    } else {
                        "SUBTRACT"
                    };
                    if !matches!(d.kind, Kind::List) {
                        return Err(KafkaError::new(
                            ResponseError::InvalidConfig,
                            format!("Can't {verb} to key {k} because its type is not LIST."),
                        ));
                    }
                    validate(d, "")?;
                }
            }
        }
        if validate_only {
            return Ok(None);
        }
        let before = groups.get(group).cloned();
        if configs.is_empty() {
            groups.remove(group);
        } else {
            groups.insert(group.to_owned(), configs.clone());
        }
        let file = File {
            version: FILE_VERSION,
            groups: groups.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("configs serialize");
        if let Err(e) = self.meta.write(MetaFile::GroupConfigs, &bytes) {
            // Nothing changes unless it is on disk.
            match before {
                Some(b) => groups.insert(group.to_owned(), b),
                None => groups.remove(group),
            };
            tracing::error!(error = %e, "writing group configs failed");
            return Err(KafkaError::new(
                ResponseError::KafkaStorageError,
                format!("Writing the group configs failed: {e}"),
            ));
        }
        Ok(Some(configs))
    }
}

/// Hands a group's configs to the coordinator.
pub(crate) fn apply(
    groups: &mut strikemq_groups::GroupCoordinator,
    group: &str,
    configs: &BTreeMap<String, String>,
) {
    let defaults = groups.share_defaults();
    let share = configs.keys().any(|k| k.starts_with("share."));
    let settings = share.then(|| share_settings(configs, &defaults));
    groups.set_share_settings(group, settings);
    let ms = |k: &str| {
        configs
            .get(k)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    groups.set_consumer_settings(
        group,
        ms("consumer.session.timeout.ms"),
        ms("consumer.heartbeat.interval.ms"),
    );
}
