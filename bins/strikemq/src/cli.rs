//! Command line, environment and config file, merged with precedence flags > env > file > defaults.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Deserialize;
use strikemq::Config;

/// A Kafka-compatible broker for local development and CI.
#[derive(Debug, Parser)]
#[command(name = "strikemq", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    /// Without a command: run the broker.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Kafka protocol port (0 picks a free port).
    #[arg(long, env = "STRIKEMQ_PORT")]
    port: Option<u16>,
    /// REST API port (0 picks a free port) [default: 8080].
    #[arg(long, env = "STRIKEMQ_HTTP_PORT")]
    http_port: Option<u16>,
    /// Do not serve the REST API.
    #[arg(long, env = "STRIKEMQ_NO_HTTP", num_args = 0..=1, default_missing_value = "true")]
    no_http: Option<bool>,
    /// Address to listen on.
    #[arg(long, env = "STRIKEMQ_BIND")]
    bind: Option<IpAddr>,
    /// Host name clients are told to connect to [default: 127.0.0.1 when binding all interfaces].
    #[arg(long, env = "STRIKEMQ_ADVERTISED_HOST")]
    advertised_host: Option<String>,
    /// Port clients are told to connect to [default: the port bound].
    #[arg(long, env = "STRIKEMQ_ADVERTISED_PORT")]
    advertised_port: Option<u16>,
    /// Data directory [default: strikemq-data in the system temp dir].
    #[arg(long, env = "STRIKEMQ_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Event-loop worker threads [default: number of cores].
    #[arg(long, env = "STRIKEMQ_IO_THREADS")]
    io_threads: Option<usize>,
    /// I/O backend: mio (epoll/kqueue) or io-uring (Linux, builds with the io-uring feature) [default: mio].
    #[arg(long, env = "STRIKEMQ_IO_BACKEND")]
    io_backend: Option<String>,
    /// Partitions of auto-created topics [default: 1].
    #[arg(long, env = "STRIKEMQ_DEFAULT_PARTITIONS")]
    default_partitions: Option<i32>,
    /// Do not create topics when clients ask for unknown ones.
    #[arg(long, env = "STRIKEMQ_NO_AUTO_CREATE_TOPICS", num_args = 0..=1, default_missing_value = "true")]
    no_auto_create_topics: Option<bool>,
    /// Segment size in bytes before a new segment is started [default: 1073741824].
    #[arg(long, env = "STRIKEMQ_SEGMENT_BYTES")]
    segment_bytes: Option<u64>,
    /// Largest request accepted, in bytes [default: 104857600].
    #[arg(long, env = "STRIKEMQ_MAX_REQUEST_BYTES")]
    max_request_bytes: Option<usize>,
    /// Largest record batch accepted, in bytes [default: 1048588].
    #[arg(long, env = "STRIKEMQ_MESSAGE_MAX_BYTES")]
    message_max_bytes: Option<usize>,
    /// Kafka connections open at once; newer ones are closed (0: no limit) [default: 0].
    #[arg(long, env = "STRIKEMQ_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// When appends are forced to disk: never (page cache only), interval, or always (before
    /// answering acks=all) [default: never].
    #[arg(long, env = "STRIKEMQ_FLUSH", value_parser = ["never", "interval", "always"])]
    flush: Option<String>,
    /// With --flush interval: most milliseconds between an append and its fsync [default: 1000].
    #[arg(long, env = "STRIKEMQ_FLUSH_INTERVAL_MS")]
    flush_interval_ms: Option<u64>,
    /// Default retention.ms of topics; -1 keeps data for ever [default: 604800000].
    #[arg(long, env = "STRIKEMQ_RETENTION_MS", allow_hyphen_values = true)]
    retention_ms: Option<i64>,
    /// Default retention.bytes of topics; -1 for no limit [default: -1].
    #[arg(long, env = "STRIKEMQ_RETENTION_BYTES", allow_hyphen_values = true)]
    retention_bytes: Option<i64>,
    /// How often retention deletes expired or surplus segments, in ms [default: 300000].
    #[arg(long, env = "STRIKEMQ_RETENTION_CHECK_INTERVAL_MS")]
    retention_check_interval_ms: Option<u64>,
    /// How long the first rebalance of an empty group waits for more members, in ms [default: 0].
    #[arg(long, env = "STRIKEMQ_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    group_initial_rebalance_delay_ms: Option<u64>,
    /// Shortest session timeout a group member may ask for, in ms (Kafka's
    /// group.min.session.timeout.ms) [default: 6000].
    #[arg(long, env = "STRIKEMQ_GROUP_MIN_SESSION_TIMEOUT_MS")]
    group_min_session_timeout_ms: Option<u64>,
    /// Longest session timeout a group member may ask for, in ms (Kafka's
    /// group.max.session.timeout.ms) [default: 1800000].
    #[arg(long, env = "STRIKEMQ_GROUP_MAX_SESSION_TIMEOUT_MS")]
    group_max_session_timeout_ms: Option<u64>,
    /// How long an empty consumer group keeps its committed offsets, in minutes [default: 10080].
    #[arg(long, env = "STRIKEMQ_OFFSETS_RETENTION_MINUTES")]
    offsets_retention_minutes: Option<u64>,
    /// TOML config file with the same keys (snake_case).
    #[arg(long, env = "STRIKEMQ_CONFIG")]
    config: Option<PathBuf>,
}

/// What else the binary does besides running the broker.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check a running broker: exit 0 when its REST API answers `GET /health` with 200 OK, 1
    /// otherwise (for container health checks; no curl needed).
    Health {
        /// REST API port of the broker [default: 8080].
        #[arg(long, env = "STRIKEMQ_HTTP_PORT", default_value_t = 8080)]
        http_port: u16,
        /// Host of the broker.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
}

/// Asks `host:port` for `GET /health`; Ok when the answer is 200.
pub(crate) fn check_health(host: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("no REST API at {addr}"))?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    write!(
        conn,
        "GET /health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    conn.take(64 * 1024)
        .read_to_end(&mut answer)
        .with_context(|| format!("no answer from {addr}"))?;
    let status_line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => anyhow::bail!("{addr} answered {status_line:?}"),
    }
}

/// The config file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    port: Option<u16>,
    http_port: Option<u16>,
    http_enabled: Option<bool>,
    bind: Option<IpAddr>,
    advertised_host: Option<String>,
    advertised_port: Option<u16>,
    data_dir: Option<PathBuf>,
    io_threads: Option<usize>,
    io_backend: Option<String>,
    default_partitions: Option<i32>,
    auto_create_topics: Option<bool>,
    segment_bytes: Option<u64>,
    max_request_bytes: Option<usize>,
    message_max_bytes: Option<usize>,
    max_connections: Option<usize>,
    flush: Option<String>,
    flush_interval_ms: Option<u64>,
    retention_ms: Option<i64>,
    retention_bytes: Option<i64>,
    retention_check_interval_ms: Option<u64>,
    group_initial_rebalance_delay_ms: Option<u64>,
    group_min_session_timeout_ms: Option<u64>,
    group_max_session_timeout_ms: Option<u64>,
    offsets_retention_minutes: Option<u64>,
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl Cli {
    pub(crate) fn into_config(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        let config = Config {
            bind: self.bind.or(file.bind).unwrap_or(d.bind),
            port: self.port.or(file.port).unwrap_or(d.port),
            http_port: self.http_port.or(file.http_port).unwrap_or(d.http_port),
            http_enabled: self
                .no_http
                .map(|no| !no)
                .or(file.http_enabled)
                .unwrap_or(d.http_enabled),
            advertised_host: self.advertised_host.or(file.advertised_host),
            advertised_port: self.advertised_port.or(file.advertised_port),
            data_dir: self.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
            io_threads: self.io_threads.or(file.io_threads).unwrap_or(d.io_threads),
            io_backend: self.io_backend.or(file.io_backend).unwrap_or(d.io_backend),
            default_partitions: self
                .default_partitions
                .or(file.default_partitions)
                .unwrap_or(d.default_partitions),
            auto_create_topics: self
                .no_auto_create_topics
                .map(|no| !no)
                .or(file.auto_create_topics)
                .unwrap_or(d.auto_create_topics),
            segment_bytes: self
                .segment_bytes
                .or(file.segment_bytes)
                .unwrap_or(d.segment_bytes),
            max_request_bytes: self
                .max_request_bytes
                .or(file.max_request_bytes)
                .unwrap_or(d.max_request_bytes),
            message_max_bytes: self
                .message_max_bytes
                .or(file.message_max_bytes)
                .unwrap_or(d.message_max_bytes),
            max_connections: self
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            flush: self.flush.or(file.flush).unwrap_or(d.flush),
            flush_interval_ms: self
                .flush_interval_ms
                .or(file.flush_interval_ms)
                .unwrap_or(d.flush_interval_ms),
            retention_ms: self
                .retention_ms
                .or(file.retention_ms)
                .unwrap_or(d.retention_ms),
            retention_bytes: self
                .retention_bytes
                .or(file.retention_bytes)
                .unwrap_or(d.retention_bytes),
            retention_check_interval_ms: self
                .retention_check_interval_ms
                .or(file.retention_check_interval_ms)
                .unwrap_or(d.retention_check_interval_ms),
            group_initial_rebalance_delay_ms: self
                .group_initial_rebalance_delay_ms
                .or(file.group_initial_rebalance_delay_ms)
                .unwrap_or(d.group_initial_rebalance_delay_ms),
            group_min_session_timeout_ms: self
                .group_min_session_timeout_ms
                .or(file.group_min_session_timeout_ms)
                .unwrap_or(d.group_min_session_timeout_ms),
            group_max_session_timeout_ms: self
                .group_max_session_timeout_ms
                .or(file.group_max_session_timeout_ms)
                .unwrap_or(d.group_max_session_timeout_ms),
            offsets_retention_minutes: self
                .offsets_retention_minutes
                .or(file.offsets_retention_minutes)
                .unwrap_or(d.offsets_retention_minutes),
        };
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            "port = 1111\nio_threads = 3\nauto_create_topics = false\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "strikemq",
            "--port",
            "2222",
            "--config",
            file.to_str().unwrap(),
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.port, 2222);
        assert_eq!(c.io_threads, 3);
        assert!(!c.auto_create_topics);
        assert_eq!(c.default_partitions, 1);
    }

    #[test]
    fn flush_policies() {
        let c = Cli::try_parse_from([
            "strikemq",
            "--flush",
            "interval",
            "--flush-interval-ms",
            "250",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        assert_eq!(
            c.flush_policy().unwrap(),
            strikemq_broker::FlushPolicy::Interval(std::time::Duration::from_millis(250))
        );
        assert!(Cli::try_parse_from(["strikemq", "--flush", "sometimes"]).is_err());
        let c = Cli::try_parse_from([
            "strikemq",
            "--flush",
            "interval",
            "--flush-interval-ms",
            "0",
        ])
        .unwrap();
        assert!(c.into_config().is_err());
    }

    #[test]
    fn health_subcommand_is_not_a_broker_flag() {
        let cli = Cli::try_parse_from(["strikemq", "health", "--http-port", "18080"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Health {
                http_port: 18080,
                ..
            })
        ));
        assert!(Cli::try_parse_from(["strikemq", "--port", "1", "health"]).is_err());
        let err = check_health("127.0.0.1", 1, Duration::from_millis(500)).unwrap_err();
        assert!(format!("{err:#}").contains("no REST API"), "{err:#}");
    }

    #[test]
    fn group_session_timeout_bounds() {
        let c = Cli::try_parse_from(["strikemq", "--group-min-session-timeout-ms", "1000"])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(
            (
                c.group_min_session_timeout_ms,
                c.group_max_session_timeout_ms
            ),
            (1000, 1_800_000)
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "group_max_session_timeout_ms = 60000\n").unwrap();
        let c = Cli::try_parse_from(["strikemq", "--config", file.to_str().unwrap()])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(c.group_max_session_timeout_ms, 60_000);
        let c = Cli::try_parse_from([
            "strikemq",
            "--group-min-session-timeout-ms",
            "70000",
            "--group-max-session-timeout-ms",
            "60000",
        ])
        .unwrap();
        assert!(c.into_config().is_err());
    }

    #[test]
    fn no_auto_create_flag() {
        let c = Cli::try_parse_from(["strikemq", "--no-auto-create-topics"])
            .unwrap()
            .into_config()
            .unwrap();
        assert!(!c.auto_create_topics);
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "prot = 1\n").unwrap();
        let cli = Cli::try_parse_from(["strikemq", "--config", file.to_str().unwrap()]).unwrap();
        assert!(cli.into_config().is_err());
        let cli = Cli::try_parse_from(["strikemq", "--io-threads", "0"]).unwrap();
        assert!(cli.into_config().is_err());
    }
}
