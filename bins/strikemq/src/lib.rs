//! # strikemq
//!
//! A Kafka-compatible broker for local development and tests. This crate composes the layers
//! (codec, storage, broker, reactor) into a running broker; the `strikemq` binary is a thin CLI
//! over it. Tests and Rust programs can start a real broker in-process on a free port:
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let running = strikemq::Broker::builder()
//!     .port(0) // any free port
//!     .http_port(0)
//!     .data_dir(dir.path())
//!     .start()
//!     .unwrap();
//! let addr = running.kafka_addr();
//! assert_ne!(addr.port(), 0);
//! running.shutdown().unwrap();
//! ```

mod alloc;
mod deadline_thread;
mod service;
pub mod settings;

pub use alloc::GuardedAllocator;
pub use settings::{Config, Flush, IoBackend};

// The unit tests feed malformed frames to the decoders, as the binary's allocator allows.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: GuardedAllocator = GuardedAllocator;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use strikemq_broker::BrokerConfig;
use strikemq_groups::GroupConfig;
use strikemq_reactor::{Reactor, ReactorConfig};
use strikemq_storage::{LogConfig, Store, StoreConfig};

/// Entry point for starting a broker.
#[derive(Debug)]
pub struct Broker;

impl Broker {
    /// A builder with default settings.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder {
            config: Config::default(),
        }
    }
}

/// Collects settings, then starts a broker.
#[derive(Debug, Clone)]
pub struct BrokerBuilder {
    config: Config,
}

impl BrokerBuilder {
    /// Starts from a complete configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Kafka port (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }
    /// Listen address.
    pub fn bind(mut self, bind: IpAddr) -> Self {
        self.config.bind = bind;
        self
    }
    /// Data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self
    }
    /// Keeps the data in a fresh directory under the system temp dir, removed on shutdown.
    pub fn ephemeral(mut self, on: bool) -> Self {
        self.config.ephemeral = on;
        self
    }
    /// Worker threads.
    pub fn io_threads(mut self, n: usize) -> Self {
        self.config.io_threads = n;
        self
    }
    /// Kafka connections open at once (0: no limit).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }
    /// Whether Metadata auto-creates topics.
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.config.auto_create_topics = on;
        self
    }
    /// Partitions of auto-created topics.
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.config.default_partitions = n;
        self
    }
    /// Segment size.
    pub fn segment_bytes(mut self, n: u64) -> Self {
        self.config.segment_bytes = n;
        self
    }
    /// REST API port (0: any free port).
    pub fn http_port(mut self, port: u16) -> Self {
        self.config.http_port = port;
        self
    }
    /// Whether to serve the REST API.
    pub fn http_enabled(mut self, on: bool) -> Self {
        self.config.http_enabled = on;
        self
    }

    /// Opens the data directory, binds the port and starts serving.
    pub fn start(self) -> Result<RunningBroker, StartError> {
        let started = std::time::Instant::now();
        let mut config = self.config;
        config.validate().map_err(StartError::Config)?;
        let ephemeral = if config.ephemeral {
            config.data_dir = ephemeral_dir();
            Some(config.data_dir.clone())
        } else {
            None
        };
        let store = Store::open(
            &config.data_dir,
            StoreConfig {
                log: LogConfig {
                    segment_bytes: config.segment_bytes,
                    ..Default::default()
                },
            },
        )
        .map_err(|e| match e {
            strikemq_storage::StorageError::DirectoryLocked { dir, pid } => {
                StartError::DataDirInUse { dir, pid }
            }
            e => StartError::Storage(e),
        })?;
        let addr = SocketAddr::new(config.bind, config.port);
        let listener =
            TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        let http_addr = SocketAddr::new(config.bind, config.http_port);
        let http_listener = if config.http_enabled {
            Some(
                TcpListener::bind(http_addr).map_err(|source| StartError::Bind {
                    addr: http_addr,
                    source,
                })?,
            )
        } else {
            None
        };
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let broker_config = BrokerConfig {
            node_id: 0,
            advertised_host: config.advertised_host(),
            advertised_port: i32::from(config.advertised_port.unwrap_or(local.port())),
            auto_create_topics: config.auto_create_topics,
            default_partitions: config.default_partitions,
            max_message_bytes: config.message_max_bytes,
            segment_bytes: config.segment_bytes,
            retention_ms: config.retention_ms,
            retention_bytes: config.retention_bytes,
            retention_check_interval: Duration::from_millis(config.retention_check_interval_ms),
            flush: config.flush_policy().map_err(StartError::Config)?,
            groups: GroupConfig {
                initial_rebalance_delay: Duration::from_millis(
                    config.group_initial_rebalance_delay_ms,
                ),
                offsets_retention: Duration::from_secs(
                    config.offsets_retention_minutes.saturating_mul(60),
                ),
                min_session_timeout: Duration::from_millis(config.group_min_session_timeout_ms),
                max_session_timeout: Duration::from_millis(config.group_max_session_timeout_ms),
                ..GroupConfig::default()
            },
            transactions: strikemq_transactions::TxnConfig {
                max_timeout_ms: config.transaction_max_timeout_ms,
            },
        };
        let broker = Arc::new(
            strikemq_broker::Broker::new(broker_config, store).map_err(StartError::Storage)?,
        );
        let service = Arc::new(service::KafkaService {
            broker: broker.clone(),
        });
        let b = broker.clone();
        let g = broker.clone();
        let timer = deadline_thread::DeadlineThread::start(
            "strikemq-coord",
            |poke| b.set_coordinator_timer(poke),
            move |now| g.tick_coordinators(now),
        )
        .map_err(|source| StartError::Spawn {
            what: "the coordinator timer thread",
            source,
        })?;
        let b = broker.clone();
        let r = broker.clone();
        let cleaner = deadline_thread::DeadlineThread::start(
            "strikemq-cleaner",
            |poke| b.set_retention_timer(poke),
            move |now| r.clean_logs(now),
        )
        .map_err(|source| StartError::Spawn {
            what: "the log cleaner thread",
            source,
        })?;
        let mut timers = vec![timer, cleaner];
        if matches!(
            broker.config().flush,
            strikemq_broker::FlushPolicy::Interval(_)
        ) {
            let b = broker.clone();
            let f = broker.clone();
            timers.push(
                deadline_thread::DeadlineThread::start(
                    "strikemq-flusher",
                    |poke| b.set_flush_timer(poke),
                    move |now| f.flush_due(now),
                )
                .map_err(|source| StartError::Spawn {
                    what: "the flusher thread",
                    source,
                })?,
            );
        }
        let reactor = Reactor::start(
            listener,
            ReactorConfig {
                io_threads: config.io_threads,
                max_frame_bytes: config.max_request_bytes,
                max_connections: if config.max_connections == 0 {
                    usize::MAX
                } else {
                    config.max_connections
                },
                backend: config.io_backend.reactor(),
            },
            service,
        )
        .map_err(|source| StartError::Spawn {
            what: "the Kafka listener's threads",
            source,
        })?;
        let rest = match http_listener {
            None => None,
            Some(l) => {
                let info = strikemq_rest::BrokerInfo {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    kafka_port: local.port(),
                    io_threads: config.io_threads,
                    backend: reactor.backend().describe().to_owned(),
                    data_dir: config.data_dir.clone(),
                    config: serde_json::to_value(&config).unwrap_or_default(),
                    started,
                };
                Some(
                    strikemq_rest::RestServer::start(l, broker.clone(), info).map_err(
                        |source| StartError::Spawn {
                            what: "the REST API's threads",
                            source,
                        },
                    )?,
                )
            }
        };
        Ok(RunningBroker {
            config,
            broker,
            reactor: Some(reactor),
            timers,
            rest,
            ephemeral,
        })
    }
}

/// Why a broker did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data directory could not be opened.
    #[error("cannot open the data directory: {0}")]
    Storage(strikemq_storage::StorageError),
    /// Another broker serves the data directory.
    #[error("data directory {} is in use by another StrikeMQ{}: give each broker its own (--data-dir or STRIKEMQ_DATA_DIR, or --ephemeral for a fresh one removed at exit; Broker::builder().data_dir(...) in process)", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    DataDirInUse {
        /// The data directory.
        dir: PathBuf,
        /// The process that holds it, when known.
        pid: Option<u32>,
    },
    /// A thread could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A broker serving clients. Dropping it shuts it down.
#[derive(Debug)]
pub struct RunningBroker {
    config: Config,
    broker: Arc<strikemq_broker::Broker>,
    reactor: Option<Reactor>,
    timers: Vec<deadline_thread::DeadlineThread>,
    rest: Option<strikemq_rest::RestServer>,
    /// With `ephemeral`: the data directory, removed once the broker stops.
    ephemeral: Option<PathBuf>,
}

/// A fresh data directory under the system temp dir: this process, the time, and a counter for
/// several brokers in one process.
fn ephemeral_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "strikemq-ephemeral-{}-{nanos}-{n}",
        std::process::id()
    ))
}

impl RunningBroker {
    /// Where the Kafka listener is bound.
    pub fn kafka_addr(&self) -> SocketAddr {
        self.reactor
            .as_ref()
            .map_or_else(|| SocketAddr::new(self.config.bind, 0), Reactor::local_addr)
    }
    /// Where the REST API listens, when it is enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.rest
            .as_ref()
            .map(strikemq_rest::RestServer::local_addr)
    }
    /// The settings it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// A description of the I/O backend.
    pub fn backend(&self) -> &'static str {
        self.reactor
            .as_ref()
            .map_or("stopped", |r| r.backend().describe())
    }
    /// The request handler, for in-process inspection.
    pub fn broker(&self) -> &Arc<strikemq_broker::Broker> {
        &self.broker
    }
    /// Stops serving, then flushes and closes every log.
    pub fn shutdown(mut self) -> Result<(), strikemq_storage::StorageError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), strikemq_storage::StorageError> {
        if let Some(r) = self.rest.take() {
            r.shutdown();
        }
        if let Some(r) = self.reactor.take() {
            r.shutdown();
            for t in self.timers.drain(..) {
                t.stop();
            }
            let closed = self.broker.close();
            if let Some(dir) = self.ephemeral.take() {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the ephemeral data directory");
                }
            }
            return closed;
        }
        Ok(())
    }
}

impl Drop for RunningBroker {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "closing the logs failed");
        }
    }
}
