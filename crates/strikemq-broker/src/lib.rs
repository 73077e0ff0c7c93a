//! # strikemq-broker
//!
//! Kafka semantics without sockets: [`Broker::handle`] takes a decoded request and the current time
//! and returns an [`Outcome`]: a response to send now, no response (Produce with acks=0), or a
//! [`ParkedFetch`] to hold until data arrives or its deadline passes. The reactor owns connections
//! and calls back into [`Broker::resume`] for parked requests.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use strikemq_broker::{Broker, BrokerConfig, Outcome};
//! use strikemq_codec::request::decode_request;
//! use strikemq_storage::{Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
//! let broker = Broker::new(BrokerConfig::default(), store).unwrap();
//! // ApiVersions v0, correlation id 7, no client id.
//! let frame = Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
//! let outcome = broker.handle(decode_request(frame).unwrap(), Instant::now());
//! assert!(matches!(outcome, Outcome::Respond(r) if r.correlation_id == 7));
//! ```

#![deny(missing_docs)]

mod admin;
mod broker_configs;
mod cluster;
mod committed_offsets;
mod configs;
mod consumer_groups;
mod durability;
mod errors;
mod fetch;
mod find_coordinator;
mod group_configs;
mod group_requests;
mod groups_host;
mod internal_logs;
mod list_offsets;
mod log_throttle;
mod metadata;
mod produce;
mod producer_ids;
mod retention;
mod routes;
mod share_groups;
mod timers;
mod topics;
mod transactions;
mod txn_host;

pub use routes::RequestContext;

/// The principal of a request on a listener without authentication (Kafka's name for it).
const ANONYMOUS: &str = "User:ANONYMOUS";
/// The one listener, plaintext.
const PLAINTEXT: &str = "PLAINTEXT";

use std::sync::Arc;
use std::time::{Duration, Instant};

use strikemq_codec::messages::{
    api_versions_response::ApiVersion, ApiKey, ApiVersionsResponse, ResponseKind,
};
use strikemq_codec::request::{Request, RequestBody};
use strikemq_codec::response::{Response, ResponseBody};
use strikemq_codec::versions::supported_apis;
use strikemq_groups::{GroupConfig, GroupCoordinator};
use strikemq_storage::{StorageError, Store};

pub use admin::GroupOverview;
pub use errors::KafkaError;
pub use fetch::ParkedFetch;
use group_requests::GroupSlot;
pub use group_requests::ParkedGroup;

/// When appended data is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Never: the OS writes the page cache back when it likes. A killed broker loses nothing;
    /// a machine that loses power loses what was not yet written back.
    Never,
    /// Every so often: at most this much acknowledged data is lost to a power loss.
    Interval(Duration),
    /// Before answering a Produce with acks=-1 (and every REST produce): what such a producer
    /// was told is written survives a power loss.
    Always,
}

/// Broker-wide settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// This broker's node id.
    pub node_id: i32,
    /// Host name clients are told to connect to.
    pub advertised_host: String,
    /// Port clients are told to connect to.
    pub advertised_port: i32,
    /// Create topics on Metadata requests for unknown topics.
    pub auto_create_topics: bool,
    /// Partitions of auto-created topics and of CreateTopics with `num_partitions = -1`.
    pub default_partitions: i32,
    /// Largest record batch accepted (Kafka's `message.max.bytes`); topics may lower or raise it
    /// with `max.message.bytes`.
    pub max_message_bytes: usize,
    /// Segment size of the logs (Kafka's `log.segment.bytes`), the default of `segment.bytes`.
    pub segment_bytes: u64,
    /// Kafka's `log.retention.ms`, the default of `retention.ms` (-1: keep for ever).
    pub retention_ms: i64,
    /// Kafka's `log.retention.bytes`, the default of `retention.bytes` (-1: no limit).
    pub retention_bytes: i64,
    /// Kafka's `log.retention.check.interval.ms`: retention deletes expired or surplus segments
    /// at each check, one interval apart (the first one interval after start; Kafka's comes
    /// 30 s after start), so records written with old timestamps stay readable for a while, as
    /// on Kafka.
    pub retention_check_interval: Duration,
    /// When appends are forced to disk.
    pub flush: FlushPolicy,
    /// Consumer group settings.
    pub groups: GroupConfig,
    /// Transaction coordinator settings.
    pub transactions: strikemq_transactions::TxnConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 0,
            advertised_host: "127.0.0.1".to_owned(),
            advertised_port: 9092,
            auto_create_topics: true,
            default_partitions: 1,
            max_message_bytes: 1_048_588,
            segment_bytes: 1024 * 1024 * 1024,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            retention_check_interval: Duration::from_secs(300),
            flush: FlushPolicy::Never,
            groups: GroupConfig::default(),
            transactions: strikemq_transactions::TxnConfig::default(),
        }
    }
}

/// What to do with a request.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Send this response now.
    Respond(Response),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Hold the request until the broker wakes its holder or its deadline passes, then call
    /// [`Broker::resume`]. Later requests on the same connection wait behind it.
    Park(Parked),
    /// Close the connection, for the reason given: what Kafka does with a request it cannot
    /// serve.
    Close(String),
}

impl Outcome {
    pub(crate) fn respond(
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        kind: ResponseKind,
    ) -> Outcome {
        Outcome::Respond(Response {
            api_key,
            api_version,
            correlation_id,
            body: ResponseBody::Kafka(kind),
        })
    }
}

/// A request waiting for something: data for a Fetch, the rest of the group for a JoinGroup or
/// SyncGroup.
#[derive(Debug)]
pub enum Parked {
    /// A long-polling Fetch.
    Fetch(ParkedFetch),
    /// A JoinGroup or SyncGroup.
    Group(ParkedGroup),
    /// A ShareFetch waiting for records to acquire.
    ShareFetch(share_groups::ParkedShareFetch),
}

impl Parked {
    /// When the request must be resumed at the latest.
    pub fn deadline(&self) -> Instant {
        match self {
            Parked::Fetch(f) => f.deadline(),
            Parked::Group(g) => g.deadline,
            Parked::ShareFetch(f) => f.deadline(),
        }
    }
}

/// The broker's request handling: the settings and the topics, and the focused parts that
/// handlers borrow.
pub struct Broker {
    config: BrokerConfig,
    store: Arc<Store>,
    /// Producer ids handed out by InitProducerId.
    producer_ids: producer_ids::ProducerIds,
    /// The group coordinator, its log and its parked requests.
    groups: groups_host::GroupsHost,
    /// The transaction coordinator and its log.
    txns: txn_host::TxnHost,
    /// When appends reach the disk.
    durability: durability::Durability,
    /// Moves on every append, for blocking readers.
    appends: durability::AppendSignal,
    /// The host's callbacks (wake parked requests, group, retention and flush timers).
    timers: timers::Timers,
    /// When retention next checks the logs.
    next_retention_check: parking_lot::Mutex<Instant>,
    /// Dynamic broker configs (KIP-226).
    dynamic: broker_configs::DynamicConfigs,
    /// Group configs (resource type GROUP).
    group_configs: group_configs::GroupConfigs,
    /// The broker-level values of the topic configs the produce path reads, typed, refreshed
    /// whenever a broker config changes.
    produce_defaults: parking_lot::RwLock<ProduceDefaults>,
}

/// The broker-level values (dynamic, or as started, or Kafka's) of the topic configs each
/// Produce reads, for topics that do not set their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProduceDefaults {
    /// `max.message.bytes` (from `message.max.bytes`).
    pub(crate) max_message_bytes: usize,
    /// `message.timestamp.type` is LogAppendTime.
    pub(crate) log_append_time: bool,
    /// `cleanup.policy` includes compact: records need keys.
    pub(crate) compacted: bool,
    /// `message.timestamp.before.max.ms`.
    pub(crate) timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub(crate) timestamp_after_max_ms: i64,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.config)
            .field("data_dir", &self.store.dir())
            .finish()
    }
}

impl Broker {
    /// A broker over an opened store.
    pub fn new(config: BrokerConfig, store: Store) -> Result<Broker, StorageError> {
        let producer_ids = producer_ids::ProducerIds::open(store.meta())?;
        let groups = groups_host::GroupsHost::open(store.meta(), config.groups.clone())?;
        let txns = txn_host::TxnHost::open(store.meta(), config.transactions.clone())?;
        let first_check = Instant::now() + config.retention_check_interval;
        let dynamic = broker_configs::DynamicConfigs::open(store.dir(), store.meta())?;
        let group_configs = group_configs::GroupConfigs::open(store.meta())?;
        groups.run(|g| {
            for (group, configs) in group_configs.all() {
                group_configs::apply(g, &group, &configs);
            }
        });
        let broker = Broker {
            group_configs,
            durability: durability::Durability::new(config.flush),
            config,
            store: Arc::new(store),
            producer_ids,
            groups,
            txns,
            appends: durability::AppendSignal::default(),
            timers: timers::Timers::default(),
            next_retention_check: parking_lot::Mutex::new(first_check),
            dynamic,
            produce_defaults: parking_lot::RwLock::new(ProduceDefaults {
                max_message_bytes: 0,
                log_append_time: false,
                compacted: false,
                timestamp_before_max_ms: i64::MAX,
                timestamp_after_max_ms: 0,
            }),
        };
        broker.broker_configs_changed();
        Ok(broker)
    }

    /// After a broker config changed (and at start): topics that inherit it follow.
    pub(crate) fn broker_configs_changed(&self) {
        let value = |name| configs::effective(self, &Default::default(), name).unwrap_or_default();
        let number = |name| value(name).parse::<i64>().unwrap_or(i64::MAX);
        *self.produce_defaults.write() = ProduceDefaults {
            max_message_bytes: number("max.message.bytes").clamp(0, i64::from(i32::MAX)) as usize,
            log_append_time: value("message.timestamp.type") == "LogAppendTime",
            compacted: value("cleanup.policy").split(',').any(|p| p == "compact"),
            timestamp_before_max_ms: number("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: number("message.timestamp.after.max.ms"),
        };
        for topic in self.store.topics() {
            retention::apply_topic_settings(self, &topic);
        }
        self.retention_changed();
    }

    pub(crate) fn produce_defaults(&self) -> ProduceDefaults {
        *self.produce_defaults.read()
    }

    pub(crate) fn dynamic_configs(&self) -> &broker_configs::DynamicConfigs {
        &self.dynamic
    }

    /// Sets a group's configs (IncrementalAlterConfigs, or AlterConfigs with `replace`) and hands
    /// them to the coordinator.
    pub(crate) fn alter_group_configs(
        &self,
        group: &str,
        ops: &[broker_configs::ConfigOp],
        replace: bool,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        if let Some(configs) = self
            .group_configs
            .alter(group, ops, replace, validate_only)?
        {
            self.with_groups(|g| group_configs::apply(g, group, &configs));
        }
        Ok(())
    }

    pub(crate) fn group_configs(&self) -> &group_configs::GroupConfigs {
        &self.group_configs
    }

    /// Settings.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The topics.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Registers the function that wakes the holders of parked requests; the broker calls it
    /// after every append (parked fetches may be satisfied) and when group requests complete.
    /// Only the first registration counts.
    pub fn set_waker(&self, f: impl Fn() + Send + Sync + 'static) {
        self.timers.set_waker(Box::new(f));
    }

    /// Registers the function called when retention or compaction may have new work (a segment rolled, a
    /// topic config changed), so that whoever calls [`Broker::clean_logs`] can recompute
    /// when to call it next. Only the first registration counts.
    pub fn set_retention_timer(&self, f: impl Fn() + Send + Sync + 'static) {
        self.timers.set_retention(Box::new(f));
    }

    pub(crate) fn retention_changed(&self) {
        self.timers.retention_changed();
    }

    /// Registers the function called when group or transaction deadlines may have moved, so
    /// that whoever calls [`Broker::tick_coordinators`] can recompute when to call it next. Only
    /// the first counts.
    pub fn set_coordinator_timer(&self, f: impl Fn() + Send + Sync + 'static) {
        self.timers.set_groups(Box::new(f));
    }

    /// Registers the function that pokes the flusher (with `FlushPolicy::Interval`) when data
    /// becomes unsynced. Only the first registration counts.
    pub fn set_flush_timer(&self, f: impl Fn() + Send + Sync + 'static) {
        self.timers.set_flush(Box::new(f));
    }

    /// With `FlushPolicy::Interval`: syncs every partition with unsynced data once its flush is
    /// due, and returns when the next one is (none while nothing is unsynced).
    pub fn flush_due(&self, now: Instant) -> Option<Instant> {
        match self.durability.take_due(now) {
            Ok(()) => {
                self.flush_all();
                None
            }
            Err(next) => next,
        }
    }

    /// Syncs every log with unsynced data.
    pub fn flush_all(&self) {
        if let Err(e) = self.groups.sync() {
            tracing::error!(error = %e, "flushing committed offsets failed");
        }
        if let Err(e) = self.txns.sync() {
            tracing::error!(error = %e, "flushing the transaction state failed");
        }
        for topic in self.store.topics() {
            for (i, p) in topic.open_partitions() {
                if let Err(e) = p.sync() {
                    tracing::error!(topic = topic.name(), partition = i, error = %e, "flush failed");
                }
            }
        }
    }

    fn appended(&self) {
        if self.durability.appended(Instant::now) {
            self.timers.flush_armed();
        }
        self.appends.notify();
        self.timers.wake_parked();
    }

    /// Applies due coordinator timeouts: group sessions and rebalances (answering the requests
    /// they complete) and transaction timeouts (aborting the transactions). Returns when to call
    /// again; `None` while nothing is due ever (no member, no open transaction).
    pub fn tick_coordinators(&self, now: Instant) -> Option<Instant> {
        let (next, answered) = self.groups.run(|g| g.tick(now));
        if answered {
            self.timers.wake_parked();
        }
        let txns = self.tick_transactions(now);
        next.into_iter().chain(txns).min()
    }

    /// Runs `f` on the coordinator, then routes the answers it completed to their parked requests.
    /// Wakes the parked requests (records became available to them).
    pub(crate) fn wake_parked(&self) {
        self.timers.wake_parked();
    }

    pub(crate) fn with_groups<T>(&self, f: impl FnOnce(&mut GroupCoordinator) -> T) -> T {
        let (out, answered) = self.groups.run(f);
        if answered {
            self.timers.wake_parked();
        }
        self.timers.groups_changed();
        out
    }

    pub(crate) fn new_waiter(&self) -> (u64, Arc<GroupSlot>) {
        self.groups.new_waiter()
    }

    pub(crate) fn groups_config(&self) -> &GroupConfig {
        &self.config.groups
    }

    pub(crate) fn max_session_timeout(&self) -> Duration {
        self.config.groups.max_session_timeout
    }

    /// Writes offset changes to the log, then applies them to the coordinator.
    pub(crate) fn persist_offsets(
        &self,
        changes: &[strikemq_groups::OffsetChange],
        now: Instant,
    ) -> Result<(), StorageError> {
        self.groups.persist_offsets(changes, now)
    }

    /// Flushes and closes the logs the broker owns besides the topics (committed offsets,
    /// transaction state).
    pub fn close(&self) -> Result<(), StorageError> {
        self.groups.close()?;
        self.txns.close()?;
        self.store.close()
    }

    /// Handles one request from an unknown address.
    pub fn handle(&self, req: Request, now: Instant) -> Outcome {
        self.handle_from(req, "/unknown", now)
    }

    /// Handles one request; `client_host` is reported in DescribeGroups (Kafka's form: "/1.2.3.4").
    pub fn handle_from(&self, req: Request, client_host: &str, now: Instant) -> Outcome {
        let Request {
            api_key,
            api_version,
            correlation_id,
            body,
            client_id,
        } = req;
        let client_id = client_id.unwrap_or_default();
        match body {
            RequestBody::ApiVersionsUnsupported => Outcome::Respond(Response {
                api_key,
                // KIP-511: answer at v0, which every client can read, with our ranges.
                api_version: 0,
                correlation_id,
                body: ResponseBody::Kafka(ResponseKind::ApiVersions(api_versions(errors::code(
                    strikemq_codec::ResponseError::UnsupportedVersion,
                )))),
            }),
            RequestBody::Kafka(kind) => {
                let ctx = routes::RequestContext {
                    api_key,
                    api_version,
                    correlation_id,
                    client_id: client_id.as_str(),
                    client_host,
                    principal: ANONYMOUS,
                    listener: PLAINTEXT,
                    now,
                };
                match routes::route(api_key) {
                    Some(handler) => handler(self, kind, &ctx),
                    None => {
                        // The codec only decodes what the versions table serves; reaching this is a
                        // table/handler mismatch. Answering nothing would leave the client waiting
                        // for its timeout: close, as for any request that cannot be served.
                        tracing::error!(api = ?api_key, version = api_version, "no handler for an advertised API: closing the connection");
                        Outcome::Close(format!("no handler for {api_key:?} v{api_version}"))
                    }
                }
            }
            _ => {
                tracing::error!(api = ?api_key, version = api_version, "a request body the broker does not know: closing the connection");
                Outcome::Close(format!("no handler for {api_key:?} v{api_version}"))
            }
        }
    }

    /// Re-runs a parked request: answers it if what it waits for happened or its deadline
    /// passed, or parks it again.
    pub fn resume(&self, parked: Parked, now: Instant) -> Outcome {
        match parked {
            Parked::Fetch(f) => fetch::run(self, f, now),
            Parked::ShareFetch(f) => share_groups::run(self, f, now),
            Parked::Group(g) => match g.slot.take() {
                Some(c) => Outcome::respond(
                    g.api_key,
                    g.version,
                    g.correlation_id,
                    group_requests::completion_response(c, g.version),
                ),
                None if now >= g.deadline => {
                    let e = errors::code(strikemq_codec::ResponseError::RebalanceInProgress);
                    let kind = if g.api_key == ApiKey::JoinGroup {
                        ResponseKind::JoinGroup(
                            strikemq_codec::messages::JoinGroupResponse::default()
                                .with_error_code(e)
                                .with_generation_id(-1),
                        )
                    } else {
                        ResponseKind::SyncGroup(
                            strikemq_codec::messages::SyncGroupResponse::default()
                                .with_error_code(e),
                        )
                    };
                    Outcome::respond(g.api_key, g.version, g.correlation_id, kind)
                }
                None => Outcome::Park(Parked::Group(g)),
            },
        }
    }
}

fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let api_keys = supported_apis()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect();
    use strikemq_codec::messages::api_versions_response::{
        FinalizedFeatureKey, SupportedFeatureKey,
    };
    // Finalized as Kafka 4.4 finalizes them on a new cluster, for the protocols served here:
    // group version 1 (KIP-848 consumer groups), transaction version 2 (KIP-890: clients end
    // transactions with EndTxn v5 and let Produce v12+ add partitions) and share version 1
    // (KIP-932 share groups). The other features Kafka lists version a KRaft metadata log and
    // protocols this broker does not have.
    let name = |n: &'static str| strikemq_codec::StrBytes::from_static_str(n);
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
        .with_supported_features(
            FEATURES
                .iter()
                .map(|&(n, level)| {
                    SupportedFeatureKey::default()
                        .with_name(name(n))
                        .with_min_version(0)
                        .with_max_version(level)
                })
                .collect(),
        )
        // Clients take the features of the response with the highest epoch; -1 would be ignored.
        .with_finalized_features_epoch(1)
        .with_finalized_features(
            FEATURES
                .iter()
                .map(|&(n, level)| {
                    FinalizedFeatureKey::default()
                        .with_name(name(n))
                        .with_min_version_level(level)
                        .with_max_version_level(level)
                })
                .collect(),
        )
}

/// The feature flags finalized, in Kafka's order, at the levels served.
const FEATURES: [(&str, i16); 3] = [
    (GROUP_VERSION_FEATURE, GROUP_VERSION),
    (TRANSACTION_VERSION_FEATURE, TRANSACTION_VERSION),
    (SHARE_VERSION_FEATURE, SHARE_VERSION),
];
/// The feature flag of share groups (KIP-932).
const SHARE_VERSION_FEATURE: &str = "share.version";
/// The share version served: 1, share groups with ShareFetch and ShareAcknowledge v1 (Kafka 4.4
/// finalizes 2, whose ShareFetch v2 renews acquisition locks).
const SHARE_VERSION: i16 = 1;
/// The feature flag of the group protocols.
const GROUP_VERSION_FEATURE: &str = "group.version";
/// The group version served: 1, KIP-848's consumer protocol.
const GROUP_VERSION: i16 = 1;
/// The feature flag of the transaction protocol.
const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
/// The transaction version served: 2, KIP-890's epoch bump at every end.
pub(crate) const TRANSACTION_VERSION: i16 = 2;

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod data_dir_compat;

#[cfg(test)]
mod tests;
