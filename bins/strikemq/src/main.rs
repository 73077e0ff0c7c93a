//! The `strikemq` command: parse settings, start the broker, wait for Ctrl+C or SIGTERM.

mod cli;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A malformed frame must not abort the process through a refused allocation (see the module).
#[global_allocator]
static ALLOCATOR: strikemq::GuardedAllocator = strikemq::GuardedAllocator;

fn main() {
    if let Err(e) = run() {
        let _ = writeln!(std::io::stderr(), "strikemq: {e:#}");
        std::process::exit(1);
    }
}

/// Prints a line of the banner. `println!` panics when stdout cannot be written (a full disk
/// under a redirected stdout, a closed pipe); the banner is not worth a crash.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let cli = cli::Cli::parse();
    if let Some(cli::Command::Health {
        http_port,
        host,
        timeout_ms,
    }) = &cli.command
    {
        cli::check_health(host, *http_port, Duration::from_millis(*timeout_ms))?;
        say!("ok");
        return Ok(());
    }
    let config = cli.into_config()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr redirected to a full disk) is dropped. With
        // internal errors logged, tracing-subscriber reports it with `eprintln!`, which panics
        // when stderr fails too, and a panic aborts the release build.
        .log_internal_errors(false)
        .init();
    // Register before starting so that a signal during start-up is not lost.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let running = strikemq::Broker::builder().config(config).start()?;
    let c = running.config();
    let addr = running.kafka_addr();
    say!("StrikeMQ v{}", env!("CARGO_PKG_VERSION"));
    say!(
        "  platform    {} {}, backend {}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        running.backend()
    );
    say!(
        "  kafka       {addr} (advertised as {}:{})",
        c.advertised_host(),
        c.advertised_port.unwrap_or(addr.port())
    );
    match running.http_addr() {
        Some(http) => say!(
            "  http        {http} (REST API; try curl http://127.0.0.1:{}/v1/broker)",
            http.port()
        ),
        None => say!("  http        disabled"),
    }
    say!("  io threads  {}", c.io_threads);
    say!(
        "  data dir    {} (flush: {})",
        c.data_dir.display(),
        c.flush
    );
    say!(
        "  topics      {} on disk, auto-create {}",
        running.broker().store().topics().len(),
        if c.auto_create_topics { "on" } else { "off" }
    );
    say!(
        "Ready in {:.1} ms: accepting Kafka connections on {addr}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(sig) = signals.forever().next() {
        tracing::info!(signal = sig, "shutting down");
    }
    let stopping = Instant::now();
    running.shutdown()?;
    say!(
        "StrikeMQ stopped cleanly in {:.1} ms",
        stopping.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
