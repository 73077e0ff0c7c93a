//! `idle`: what a broker costs while nobody uses it — CPU ticks and RSS over quiet seconds, RSS per
//! partition, and start-up time to the first answered request, empty and with partitions on disk.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::client::{self, Conn};
use crate::stats::{self, ProcSample};
use crate::workload;

/// How `idle` finds the broker.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct IdleArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) bootstrap: String,
    /// Shell command that starts the broker in the foreground (run with `sh -c "exec ..."`, so the
    /// broker is the measured process). It is stopped with SIGTERM and started again to time a
    /// start-up with partitions on disk. Without it, the broker listening on --bootstrap is measured.
    #[arg(long)]
    pub(crate) cmd: Option<String>,
    /// Quiet seconds to watch.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// Partition totals at which RSS is read (topics of up to 1,000 partitions are created).
    #[arg(long, value_delimiter = ',', default_value = "100,10000")]
    pub(crate) partitions: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IdleReport {
    bootstrap: String,
    pid: u32,
    /// Time from spawning the command to the first ApiVersions answer (empty data directory
    /// or whatever it held).
    startup_ms: Option<f64>,
    idle_seconds: f64,
    idle_cpu_ticks: u64,
    idle_rss_kib: u64,
    partitions: Vec<PartitionsRss>,
    /// CPU ticks over the same quiet time with the most partitions.
    idle_cpu_ticks_with_partitions: Option<u64>,
    /// Time to the first answer after a clean stop, with all those partitions on disk.
    restart_ms: Option<f64>,
    restart_partitions: Option<u32>,
}

#[derive(Debug, Serialize)]
struct PartitionsRss {
    partitions: u32,
    rss_kib: u64,
    kib_per_partition: f64,
}

pub(crate) fn run(args: &IdleArgs) -> Result<IdleReport> {
    let addr = client::resolve(&args.bootstrap)?;
    let quiet = Duration::from_secs_f64(args.seconds.max(0.0));
    let mut child = None;
    let mut startup_ms = None;
    if let Some(cmd) = &args.cmd {
        if Conn::connect(addr).is_ok() {
            bail!("something already listens on {addr}; --cmd must start the broker there");
        }
        let (c, took) = spawn_and_wait(cmd, addr)?;
        child = Some(c);
        startup_ms = Some(took);
    }
    let result = measure(args, addr, quiet, &mut child, &mut startup_ms);
    if let Some(mut c) = child {
        stop(&mut c);
    }
    result
}

fn measure(
    args: &IdleArgs,
    addr: SocketAddr,
    quiet: Duration,
    child: &mut Option<Child>,
    startup_ms: &mut Option<f64>,
) -> Result<IdleReport> {
    let pid = match child {
        Some(c) => c.id(),
        None => stats::listening_pid(addr.port())
            .with_context(|| format!("no local process visible listening on {addr}"))?,
    };
    let (idle_cpu_ticks, idle_rss_kib) = quiet_period(pid, quiet)?;

    let mut conn = Conn::connect(addr)?;
    let v = conn.negotiate()?;
    let run = workload::fresh_topic("idle");
    let mut created = 0u32;
    let mut topics = 0u32;
    let mut partitions = Vec::new();
    let mut targets = args.partitions.clone();
    targets.sort_unstable();
    for target in &targets {
        while created < *target {
            let n = (*target - created).min(1000);
            conn.ensure_topic(&v, &format!("{run}-{topics}"), n as i32)?;
            created += n;
            topics += 1;
        }
        std::thread::sleep(Duration::from_secs(1));
        let rss = stats::sample(pid)?.rss_kib;
        partitions.push(PartitionsRss {
            partitions: *target,
            rss_kib: rss,
            kib_per_partition: if *target > 0 {
                ((rss.saturating_sub(idle_rss_kib)) as f64 / *target as f64 * 10.0).round() / 10.0
            } else {
                0.0
            },
        });
    }
    drop(conn);
    let idle_cpu_ticks_with_partitions = if created > 0 {
        Some(quiet_period(pid, quiet)?.0)
    } else {
        None
    };

    let mut restart_ms = None;
    if let (Some(c), Some(cmd)) = (child.as_mut(), args.cmd.as_ref()) {
        stop(c);
        let (c2, took) = spawn_and_wait(cmd, addr)?;
        *child = Some(c2);
        restart_ms = Some(took);
    }
    Ok(IdleReport {
        bootstrap: args.bootstrap.clone(),
        pid,
        startup_ms: *startup_ms,
        idle_seconds: quiet.as_secs_f64(),
        idle_cpu_ticks,
        idle_rss_kib,
        partitions,
        idle_cpu_ticks_with_partitions,
        restart_ms,
        restart_partitions: restart_ms.map(|_| created),
    })
}

/// Lets the broker settle for a second, then watches it for `quiet`: CPU ticks used and RSS.
fn quiet_period(pid: u32, quiet: Duration) -> Result<(u64, u64)> {
    std::thread::sleep(Duration::from_secs(1));
    let before: ProcSample = stats::sample(pid)?;
    std::thread::sleep(quiet);
    let after = stats::sample(pid)?;
    Ok((after.cpu_ticks - before.cpu_ticks, after.rss_kib))
}

/// Starts `cmd` and polls every millisecond until an ApiVersions request is answered.
fn spawn_and_wait(cmd: &str, addr: SocketAddr) -> Result<(Child, f64)> {
    let t = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {cmd}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting `{cmd}`"))?;
    let deadline = t + Duration::from_secs(180);
    loop {
        if let Ok(mut c) = Conn::connect(addr) {
            if c.barrier().is_ok() {
                return Ok((child, t.elapsed().as_secs_f64() * 1000.0));
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("`{cmd}` exited with {status} before answering on {addr}");
        }
        if Instant::now() > deadline {
            stop(&mut child);
            bail!("`{cmd}` did not answer on {addr} within 180 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// SIGTERM, then SIGKILL after 60 s.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl IdleReport {
    pub(crate) fn print(&self) {
        let mut rows = vec![];
        if let Some(s) = self.startup_ms {
            rows.push(("start-up".into(), format!("{s:.1} ms to the first answer")));
        }
        rows.push((
            format!("idle {:.0} s", self.idle_seconds),
            format!(
                "{} CPU ticks, RSS {:.1} MiB",
                self.idle_cpu_ticks,
                self.idle_rss_kib as f64 / 1024.0
            ),
        ));
        for p in &self.partitions {
            rows.push((
                format!("{} partitions", p.partitions),
                format!(
                    "RSS {:.1} MiB, {:.1} KiB per partition",
                    p.rss_kib as f64 / 1024.0,
                    p.kib_per_partition
                ),
            ));
        }
        if let Some(t) = self.idle_cpu_ticks_with_partitions {
            rows.push((
                "idle with them".into(),
                format!("{t} CPU ticks over {:.0} s", self.idle_seconds),
            ));
        }
        if let (Some(r), Some(n)) = (self.restart_ms, self.restart_partitions) {
            rows.push((
                "restart".into(),
                format!("{r:.1} ms to the first answer with {n} partitions on disk"),
            ));
        }
        stats::print_table(
            &format!("idle: {} (pid {})", self.bootstrap, self.pid),
            &rows,
        );
    }
}
