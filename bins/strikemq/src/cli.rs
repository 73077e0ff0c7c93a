//! Command line, environment and config file, merged with precedence flags > env > file > defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use strikemq::settings::{FileSettings, SettingArgs};
use strikemq::Config;

/// A Kafka-compatible broker for local development and CI.
#[derive(Debug, Parser)]
#[command(name = "strikemq", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    /// Without a command: run the broker.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    settings: SettingArgs,
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

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl Cli {
    pub(crate) fn into_config(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileSettings::default(),
        };
        let config = self.settings.layer(file);
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
