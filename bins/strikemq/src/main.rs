//! The `strikemq` command: parse settings, start the broker, wait for Ctrl+C or SIGTERM.

mod cli;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A malformed frame must not abort the process through a refused allocation (see the module).
#[global_allocator]
static ALLOCATOR: strikemq::GuardedAllocator = strikemq::GuardedAllocator;

fn main() {
    if let Err(e) = run() {
        eprintln!("strikemq: {e:#}");
        std::process::exit(1);
    }
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
        println!("ok");
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
        .init();
    // Register before starting so that a signal during start-up is not lost.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let running = strikemq::Broker::builder().config(config).start()?;
    let c = running.config();
    let addr = running.kafka_addr();
    println!("StrikeMQ v{}", env!("CARGO_PKG_VERSION"));
    println!(
        "  platform    {} {}, backend {}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        running.backend()
    );
    println!(
        "  kafka       {addr} (advertised as {}:{})",
        c.advertised_host(),
        c.advertised_port.unwrap_or(addr.port())
    );
    match running.http_addr() {
        Some(http) => println!(
            "  http        {http} (REST API; try curl http://127.0.0.1:{}/v1/broker)",
            http.port()
        ),
        None => println!("  http        disabled"),
    }
    println!("  io threads  {}", c.io_threads);
    println!(
        "  data dir    {} (flush: {})",
        c.data_dir.display(),
        c.flush
    );
    println!(
        "  topics      {} on disk, auto-create {}",
        running.broker().store().topics().len(),
        if c.auto_create_topics { "on" } else { "off" }
    );
    println!(
        "Ready in {:.1} ms: accepting Kafka connections on {addr}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(sig) = signals.forever().next() {
        tracing::info!(signal = sig, "shutting down");
    }
    let stopping = Instant::now();
    running.shutdown()?;
    println!(
        "StrikeMQ stopped cleanly in {:.1} ms",
        stopping.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
