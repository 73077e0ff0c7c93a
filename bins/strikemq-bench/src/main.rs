//! `strikemq-bench`: a load tool that speaks the Kafka protocol to any broker address, so StrikeMQ
//! and Apache Kafka are measured the same way, and that compares every figure with a trivial
//! loopback server it starts itself (the floor of this machine).
//!
//! ```text
//! strikemq-bench latency  --bootstrap 127.0.0.1:9092 --acks 1 --size 100
//! strikemq-bench produce  --connections 4 --partitions 8 --size 1024 --batch 16
//! strikemq-bench consume  --messages 200000
//! strikemq-bench txn      --batches 10 --size 1024 --batch 16
//! strikemq-bench baseline
//! strikemq-bench idle     --cmd "strikemq --data-dir /tmp/d" --partitions 100,10000
//! ```
//!
//! Tables go to stderr; `--json` prints the report as JSON on stdout.

mod baseline;
mod client;
mod idle;
mod latency;
mod load;
mod stats;
mod throughput;
mod transactions;
mod workload;

use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "strikemq-bench", version, about)]
struct Cli {
    /// Print the report as JSON on stdout (the table still goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Run the baseline server on these CPUs (a `taskset -c` list). Pin it like the broker under
    /// test: a server on the client's own core answers several times faster than one on another.
    #[arg(long, global = true)]
    baseline_cpus: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Produce round trips, one request in flight, against the broker and the baseline in turns;
    /// then produce → consume end to end.
    Latency(latency::LatencyArgs),
    /// Produce throughput: connections × pipelined requests, then the same against the baseline.
    Produce(throughput::ProduceArgs),
    /// Fill a fresh topic, then read it back with Fetch as fast as possible.
    Consume(throughput::ConsumeArgs),
    /// Transactional produce: transactions of N batches, committed; what a commit costs.
    Txn(transactions::TxnArgs),
    /// Only the baseline: round trips and bandwidth of this machine's loopback stack.
    Baseline(BaselineArgs),
    /// CPU and memory of an idle broker, per partition, and its start-up time.
    Idle(idle::IdleArgs),
    /// (internal) The baseline server process the other commands start.
    #[command(hide = true)]
    ServeBaseline,
}

#[derive(Debug, Clone, clap::Args)]
struct BaselineArgs {
    /// Request size in bytes for round trips.
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Round trips.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Connections for the bandwidth run.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Request size for the bandwidth run.
    #[arg(long, default_value_t = 16 * 1024)]
    frame: usize,
    /// Requests in flight per connection for the bandwidth run.
    #[arg(long, default_value_t = 4)]
    depth: usize,
    /// Seconds of the bandwidth run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(Serialize)]
struct BaselineReport {
    round_trip: stats::Percentiles,
    bandwidth_mb_per_s: f64,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("strikemq-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    if let Some(cpus) = &cli.baseline_cpus {
        baseline::pin_to(cpus.clone());
    }
    match &cli.command {
        Cmd::Latency(a) => {
            let r = latency::run(a)?;
            r.print();
            emit(cli, &r)
        }
        Cmd::Produce(a) => {
            let r = throughput::produce(a)?;
            r.print();
            emit(cli, &r)
        }
        Cmd::Consume(a) => {
            let r = throughput::consume(a)?;
            r.print();
            emit(cli, &r)
        }
        Cmd::Txn(a) => {
            let r = transactions::run(a)?;
            r.print();
            emit(cli, &r)
        }
        Cmd::Baseline(a) => {
            let r = baseline_only(a)?;
            stats::print_table(
                "baseline: this machine's loopback floor",
                &[
                    (
                        "round trip".into(),
                        format!(
                            "p50 {}  p99 {}  p99.9 {}",
                            stats::fmt_us(r.round_trip.p50_us),
                            stats::fmt_us(r.round_trip.p99_us),
                            stats::fmt_us(r.round_trip.p99_9_us)
                        ),
                    ),
                    (
                        "bandwidth".into(),
                        format!("{:.1} MB/s", r.bandwidth_mb_per_s),
                    ),
                ],
            );
            emit(cli, &r)
        }
        Cmd::ServeBaseline => baseline::serve_forever(),
        Cmd::Idle(a) => {
            let r = idle::run(a)?;
            r.print();
            emit(cli, &r)
        }
    }
}

fn emit(cli: &Cli, report: &impl Serialize) -> Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

fn baseline_only(a: &BaselineArgs) -> Result<BaselineReport> {
    let server = baseline::Baseline::start()?;
    let mut conn = client::Conn::connect(server.addr())?;
    let mut frame = baseline::request(a.size, 64);
    let mut h = stats::histogram();
    for i in 0..a.count + a.count / 10 {
        let t = Instant::now();
        let id = conn.send(&mut frame)?;
        conn.recv_for(id)?;
        if i >= a.count / 10 {
            stats::record(&mut h, t.elapsed());
        }
    }
    let rate = throughput::baseline_bandwidth(a.connections, a.depth, a.frame, a.seconds)?;
    Ok(BaselineReport {
        round_trip: stats::Percentiles::of(&h),
        bandwidth_mb_per_s: rate,
    })
}
