//! Every setting of a broker, defined once: its type, default, help text, flag and environment
//! variable are written in one place below, and the `settings!` macro derives from them the [`Config`]
//! struct with its defaults, the command line options (clap, which also reads the environment)
//! and the config file's keys (TOML, snake_case). [`SettingArgs::layer`] puts them together:
//! flags and environment win over the file, which wins over the defaults. Adding a setting is
//! one entry in the `settings!` call below; README's and PRODUCT's tables must name its flag (a
//! test reads `strikemq --help`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The I/O backend of the Kafka listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum IoBackend {
    /// mio: epoll on Linux, kqueue on macOS and BSD.
    #[value(alias = "epoll", alias = "kqueue")]
    #[serde(alias = "epoll", alias = "kqueue")]
    Mio,
    /// io_uring (Linux, when built with the `io-uring` feature).
    #[value(alias = "io_uring", alias = "uring")]
    #[serde(alias = "io_uring", alias = "uring")]
    IoUring,
}

impl IoBackend {
    /// The reactor's backend.
    pub fn reactor(self) -> strikemq_reactor::Backend {
        match self {
            IoBackend::Mio => strikemq_reactor::Backend::Mio,
            IoBackend::IoUring => strikemq_reactor::Backend::IoUring,
        }
    }
}

/// When appends are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Flush {
    /// Page cache only: a killed broker loses nothing, a power cut what was not written back.
    Never,
    /// Within `flush_interval_ms` of the first unsynced append.
    Interval,
    /// Before answering a Produce with acks=all.
    Always,
}

impl std::fmt::Display for Flush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flush::Never => "never",
            Flush::Interval => "interval",
            Flush::Always => "always",
        })
    }
}

/// Defines the settings. Each entry: doc comment (the help text), `name: Type = default`, then
/// the clap attribute of its option (`#[arg(skip)]` for a setting that only the file and a
/// negated switch set). Each switch: doc comment, `switch => setting, "ENV"`: a flag that turns a
/// boolean setting off (`--no-http` sets `http_enabled = false`).
macro_rules! settings {
    (
        values {
            $( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr, #[$cli:meta]; )*
        }
        switches {
            $( $(#[doc = $sdoc:literal])* $switch:ident => $target:ident, $senv:literal; )*
        }
    ) => {
        /// Every setting of a broker, with Kafka-like defaults.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Config { $( $name: $default, )* }
            }
        }

        /// The settings as command line options and environment variables, each optional
        /// (`#[command(flatten)]` it into a clap parser).
        #[derive(Debug, Default, clap::Args)]
        pub struct SettingArgs {
            $( $(#[doc = $doc])* #[$cli] $name: Option<$ty>, )*
            $(
                $(#[doc = $sdoc])*
                #[arg(long, env = $senv, num_args = 0..=1, default_missing_value = "true")]
                $switch: Option<bool>,
            )*
        }

        /// The config file (TOML): every key optional, unknown keys refused.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileSettings {
            $( $name: Option<$ty>, )*
        }

        impl SettingArgs {
            /// Flags and environment over the file over the defaults.
            pub fn layer(self, file: FileSettings) -> Config {
                let d = Config::default();
                #[allow(unused_mut)]
                let mut config = Config {
                    $( $name: self.$name.or(file.$name).unwrap_or(d.$name), )*
                };
                $(
                    if let Some(on) = self.$switch {
                        config.$target = !on;
                    }
                )*
                config
            }
        }
    };
}

settings! {
    values {
        /// Kafka protocol port (0 picks a free port) [default: 9092].
        port: u16 = 9092, #[arg(long, env = "STRIKEMQ_PORT")];
        /// REST API port (0 picks a free port) [default: 8080].
        http_port: u16 = 8080, #[arg(long, env = "STRIKEMQ_HTTP_PORT")];
        /// Whether the REST API is served (file key; the flag is --no-http).
        http_enabled: bool = true, #[arg(skip)];
        /// Address to listen on [default: 0.0.0.0].
        bind: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED), #[arg(long, env = "STRIKEMQ_BIND")];
        /// Host name clients are told to connect to [default: 127.0.0.1 when binding all
        /// interfaces, else the bind address].
        advertised_host: MaybeString = None, #[arg(long, env = "STRIKEMQ_ADVERTISED_HOST", value_parser = some_string)];
        /// Port clients are told to connect to [default: the port bound]; set it behind a port
        /// mapping (Docker, a proxy).
        advertised_port: MaybePort = None, #[arg(long, env = "STRIKEMQ_ADVERTISED_PORT", value_parser = some_port)];
        /// Data directory [default: strikemq-data in the system temp dir].
        data_dir: PathBuf = std::env::temp_dir().join("strikemq-data"), #[arg(long, env = "STRIKEMQ_DATA_DIR")];
        /// Keep the data in a fresh directory of its own under the system temp dir, removed when
        /// the broker stops (instead of --data-dir): for a test's own broker [default: false].
        ephemeral: bool = false, #[arg(long, env = "STRIKEMQ_EPHEMERAL", num_args = 0..=1, default_missing_value = "true")];
        /// Event-loop worker threads [default: number of cores].
        io_threads: usize = std::thread::available_parallelism().map_or(1, |n| n.get()), #[arg(long, env = "STRIKEMQ_IO_THREADS")];
        /// I/O backend: mio (epoll/kqueue) or io-uring (Linux, builds with the io-uring feature)
        /// [default: mio].
        io_backend: IoBackend = IoBackend::Mio, #[arg(long, env = "STRIKEMQ_IO_BACKEND", value_enum)];
        /// Partitions of auto-created topics [default: 1].
        default_partitions: i32 = 1, #[arg(long, env = "STRIKEMQ_DEFAULT_PARTITIONS")];
        /// Whether topics are created when clients ask for unknown ones (file key; the flag is
        /// --no-auto-create-topics).
        auto_create_topics: bool = true, #[arg(skip)];
        /// Segment size in bytes before a new segment is started (Kafka's log.segment.bytes)
        /// [default: 1073741824].
        segment_bytes: u64 = 1024 * 1024 * 1024, #[arg(long, env = "STRIKEMQ_SEGMENT_BYTES")];
        /// Largest request accepted, in bytes (Kafka's socket.request.max.bytes) [default:
        /// 104857600].
        max_request_bytes: usize = 100 * 1024 * 1024, #[arg(long, env = "STRIKEMQ_MAX_REQUEST_BYTES")];
        /// Largest record batch accepted, in bytes (Kafka's message.max.bytes) [default: 1048588].
        message_max_bytes: usize = 1_048_588, #[arg(long, env = "STRIKEMQ_MESSAGE_MAX_BYTES")];
        /// Kafka connections open at once; newer ones are closed (0: no limit) [default: 0].
        max_connections: usize = 0, #[arg(long, env = "STRIKEMQ_MAX_CONNECTIONS")];
        /// When appends are forced to disk: never (page cache only), interval, or always (before
        /// answering acks=all) [default: never].
        flush: Flush = Flush::Never, #[arg(long, env = "STRIKEMQ_FLUSH", value_enum)];
        /// With --flush interval: most milliseconds between an append and its fsync [default: 1000].
        flush_interval_ms: u64 = 1000, #[arg(long, env = "STRIKEMQ_FLUSH_INTERVAL_MS")];
        /// Default retention.ms of topics (Kafka's log.retention.ms); -1 keeps data for ever
        /// [default: 604800000].
        retention_ms: i64 = 7 * 24 * 3600 * 1000, #[arg(long, env = "STRIKEMQ_RETENTION_MS", allow_hyphen_values = true)];
        /// Default retention.bytes of topics (Kafka's log.retention.bytes); -1 for no limit
        /// [default: -1].
        retention_bytes: i64 = -1, #[arg(long, env = "STRIKEMQ_RETENTION_BYTES", allow_hyphen_values = true)];
        /// How often retention deletes expired or surplus segments, in ms (Kafka's
        /// log.retention.check.interval.ms) [default: 300000].
        retention_check_interval_ms: u64 = 300_000, #[arg(long, env = "STRIKEMQ_RETENTION_CHECK_INTERVAL_MS")];
        /// How long the first rebalance of an empty group waits for more members, in ms (Kafka's
        /// group.initial.rebalance.delay.ms, whose default is 3000) [default: 0].
        group_initial_rebalance_delay_ms: u64 = 0, #[arg(long, env = "STRIKEMQ_GROUP_INITIAL_REBALANCE_DELAY_MS")];
        /// Shortest session timeout a group member may ask for, in ms (Kafka's
        /// group.min.session.timeout.ms) [default: 6000].
        group_min_session_timeout_ms: u64 = 6000, #[arg(long, env = "STRIKEMQ_GROUP_MIN_SESSION_TIMEOUT_MS")];
        /// Longest session timeout a group member may ask for, in ms (Kafka's
        /// group.max.session.timeout.ms) [default: 1800000].
        group_max_session_timeout_ms: u64 = 30 * 60 * 1000, #[arg(long, env = "STRIKEMQ_GROUP_MAX_SESSION_TIMEOUT_MS")];
        /// How long an empty consumer group keeps its committed offsets, in minutes (Kafka's
        /// offsets.retention.minutes) [default: 10080].
        offsets_retention_minutes: u64 = 7 * 24 * 60, #[arg(long, env = "STRIKEMQ_OFFSETS_RETENTION_MINUTES")];
        /// Longest transaction timeout a transactional producer may ask for, in ms (Kafka's
        /// transaction.max.timeout.ms) [default: 900000].
        transaction_max_timeout_ms: i32 = 900_000, #[arg(long, env = "STRIKEMQ_TRANSACTION_MAX_TIMEOUT_MS")];
    }
    switches {
        /// Do not serve the REST API.
        no_http => http_enabled, "STRIKEMQ_NO_HTTP";
        /// Do not create topics when clients ask for unknown ones.
        no_auto_create_topics => auto_create_topics, "STRIKEMQ_NO_AUTO_CREATE_TOPICS";
    }
}

/// A setting that may have no value. An alias, so that clap's derive takes the option's value as
/// one (`Option<Option<_>>` would make the value itself optional on the command line).
pub type MaybeString = Option<String>;
/// A port that may be left unset.
pub type MaybePort = Option<u16>;

/// An optional string setting given on the command line is a value.
fn some_string(s: &str) -> Result<Option<String>, String> {
    Ok(Some(s.to_owned()))
}

fn some_port(s: &str) -> Result<Option<u16>, String> {
    s.parse()
        .map(Some)
        .map_err(|e| format!("{s:?} is not a port: {e}"))
}

impl Config {
    /// Checks values that would make the broker misbehave.
    pub fn validate(&self) -> Result<(), String> {
        if self.io_threads == 0 {
            return Err("io_threads must be at least 1".into());
        }
        let backend = self.io_backend.reactor();
        if !backend.compiled_in() {
            return Err(format!(
                "io_backend {}: this strikemq was built without it (cargo build --features io-uring, on Linux)",
                backend.describe()
            ));
        }
        backend
            .available()
            .map_err(|e| format!("io_backend {}: {e}", backend.describe()))?;
        if self.default_partitions < 1 {
            return Err("default_partitions must be at least 1".into());
        }
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms {
            return Err(format!(
                "group_min_session_timeout_ms ({}) is above group_max_session_timeout_ms ({})",
                self.group_min_session_timeout_ms, self.group_max_session_timeout_ms
            ));
        }
        if self.segment_bytes < 1024 {
            return Err("segment_bytes must be at least 1024".into());
        }
        if self.max_request_bytes < 1024 || self.max_request_bytes > i32::MAX as usize {
            return Err("max_request_bytes must be between 1024 and 2147483647".into());
        }
        if self.message_max_bytes == 0 {
            return Err("message_max_bytes must be positive".into());
        }
        self.flush_policy()?;
        if self.retention_ms < -1 || self.retention_bytes < -1 {
            return Err("retention_ms and retention_bytes must be -1 or more".into());
        }
        if self.transaction_max_timeout_ms < 1 {
            return Err("transaction_max_timeout_ms must be positive".into());
        }
        if self.offsets_retention_minutes == 0 {
            return Err("offsets_retention_minutes must be positive".into());
        }
        if self.retention_check_interval_ms == 0 {
            return Err("retention_check_interval_ms must be positive".into());
        }
        Ok(())
    }

    /// The flush policy the `flush` setting names.
    pub fn flush_policy(&self) -> Result<strikemq_broker::FlushPolicy, String> {
        match self.flush {
            Flush::Never => Ok(strikemq_broker::FlushPolicy::Never),
            Flush::Always => Ok(strikemq_broker::FlushPolicy::Always),
            Flush::Interval if self.flush_interval_ms > 0 => {
                Ok(strikemq_broker::FlushPolicy::Interval(
                    Duration::from_millis(self.flush_interval_ms),
                ))
            }
            Flush::Interval => Err("flush_interval_ms must be positive".into()),
        }
    }

    /// The host clients are told to connect to.
    pub fn advertised_host(&self) -> String {
        match &self.advertised_host {
            Some(h) => h.clone(),
            None if self.bind.is_unspecified() => "127.0.0.1".to_owned(),
            None => self.bind.to_string(),
        }
    }
}
