//! `produce` and `consume`: throughput over several connections with pipelined requests, each
//! followed by the same pattern against the baseline server.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::baseline::{self, Baseline};
use crate::client::{self, Conn, Versions};
use crate::latency::check_produce;
use crate::stats;
use crate::workload::{self, Codec};

/// What `produce` sends.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProduceArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) bootstrap: String,
    /// Topic; default: a fresh `bench-produce-<n>` topic.
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// Connections, one thread each.
    #[arg(long, default_value_t = 4)]
    pub(crate) connections: usize,
    /// Partitions, spread over the connections.
    #[arg(long, default_value_t = 8)]
    pub(crate) partitions: i32,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub(crate) size: usize,
    /// Records per batch (one batch per request).
    #[arg(long, default_value_t = 16)]
    pub(crate) batch: usize,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = Codec::None)]
    pub(crate) compression: Codec,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 4)]
    pub(crate) depth: usize,
    /// acks: 0, 1 or -1.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    pub(crate) acks: i16,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// Skip the baseline.
    #[arg(long)]
    pub(crate) no_baseline: bool,
}

/// What `consume` reads.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) bootstrap: String,
    /// Connections, one thread each.
    #[arg(long, default_value_t = 4)]
    pub(crate) connections: usize,
    /// Partitions of the fresh topic that is filled first and then read back.
    #[arg(long, default_value_t = 8)]
    pub(crate) partitions: i32,
    /// Records written first (and read back).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) messages: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub(crate) size: usize,
    /// Records per produced batch.
    #[arg(long, default_value_t = 16)]
    pub(crate) batch: usize,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = Codec::None)]
    pub(crate) compression: Codec,
    /// Fetch partition_max_bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub(crate) max_bytes: i32,
    /// Skip the baseline.
    #[arg(long)]
    pub(crate) no_baseline: bool,
}

/// Figures of one throughput run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rate {
    pub(crate) messages: u64,
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    pub(crate) messages_per_s: f64,
    /// Record values moved, MB (10^6 bytes) per second.
    pub(crate) mb_per_s: f64,
}

impl Rate {
    fn new(messages: u64, requests: u64, size: usize, elapsed: Duration) -> Rate {
        let s = elapsed.as_secs_f64().max(1e-9);
        Rate {
            messages,
            requests,
            seconds: (s * 1000.0).round() / 1000.0,
            messages_per_s: (messages as f64 / s).round(),
            mb_per_s: (messages as f64 * size as f64 / s / 1e6 * 10.0).round() / 10.0,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ThroughputReport {
    kind: &'static str,
    bootstrap: String,
    connections: usize,
    partitions: i32,
    size: usize,
    batch: usize,
    compression: Codec,
    broker: Rate,
    baseline: Option<Rate>,
    /// broker MB/s ÷ baseline MB/s.
    ratio: Option<f64>,
    /// Broker CPU seconds per GB of record values, when its pid is visible.
    broker_cpu_s_per_gb: Option<f64>,
}

impl ThroughputReport {
    pub(crate) fn print(&self) {
        let mut rows = vec![(
            self.kind.to_owned(),
            format!(
                "{:.0} msg/s  {:.1} MB/s  ({} records in {:.2} s, {} requests)",
                self.broker.messages_per_s,
                self.broker.mb_per_s,
                self.broker.messages,
                self.broker.seconds,
                self.broker.requests
            ),
        )];
        if let Some(b) = &self.baseline {
            rows.push((
                "baseline".into(),
                format!("{:.1} MB/s-equivalent", b.mb_per_s),
            ));
        }
        if let Some(r) = self.ratio {
            rows.push(("vs baseline".into(), format!("×{r}")));
        }
        if let Some(c) = self.broker_cpu_s_per_gb {
            rows.push(("broker CPU".into(), format!("{c:.2} s per GB")));
        }
        stats::print_table(
            &format!(
                "{}: {} — {} connections, {} partitions, {} B × {} per batch, {:?}",
                self.kind,
                self.bootstrap,
                self.connections,
                self.partitions,
                self.size,
                self.batch,
                self.compression
            ),
            &rows,
        );
    }
}

/// When a producer thread stops.
#[derive(Clone, Copy)]
enum Until {
    Elapsed(Duration),
    /// Requests per partition.
    Requests(u64),
}

struct Sent {
    messages: u64,
    requests: u64,
    elapsed: Duration,
    reply_len: usize,
    frame_len: usize,
}

/// Producer threads, one per connection, each cycling over its partitions with up to `depth`
/// requests in flight. Everything before the shared start barrier is warm-up.
#[allow(clippy::too_many_arguments)]
fn run_producers(
    addr: SocketAddr,
    v: &Versions,
    topic: &str,
    args: &ProduceArgs,
    until: Until,
    warmup_requests: u64,
    start: Arc<Barrier>,
) -> Result<Vec<std::thread::JoinHandle<Result<Sent>>>> {
    let values: Vec<_> = (0..args.batch)
        .map(|i| workload::value(args.size, i as u64))
        .collect();
    let batch = workload::batch(&values, args.compression)?;
    let mut threads = Vec::new();
    for c in 0..args.connections {
        let mut frames = Vec::new();
        let mut p = c as i32 % args.partitions;
        loop {
            frames.push(workload::produce_request(
                v,
                topic,
                p,
                args.acks,
                batch.clone(),
            )?);
            p += args.connections as i32;
            if p >= args.partitions {
                break;
            }
        }
        let (v, per_batch, depth, acks) = (*v, args.batch as u64, args.depth.max(1), args.acks);
        let start = start.clone();
        threads.push(std::thread::spawn(move || -> Result<Sent> {
            let mut reply_len = 0;
            let mut pipe = Pipeline::new(depth, acks);
            let warm = (|| -> Result<Conn> {
                let mut conn = Conn::connect(addr)?;
                for i in 0..warmup_requests {
                    let n = frames.len();
                    pipe.push(&mut conn, &mut frames[i as usize % n], &v, &mut reply_len)?;
                }
                pipe.drain(&mut conn, &v, &mut reply_len)?;
                Ok(conn)
            })();
            // Everyone meets at the barrier, also a thread that failed, so nobody waits forever.
            start.wait();
            let mut conn = warm?;
            let t = Instant::now();
            let mut requests = 0u64;
            loop {
                let go_on = match until {
                    Until::Elapsed(d) => t.elapsed() < d,
                    Until::Requests(n) => requests < n * frames.len() as u64,
                };
                if !go_on {
                    break;
                }
                let n = frames.len();
                pipe.push(
                    &mut conn,
                    &mut frames[requests as usize % n],
                    &v,
                    &mut reply_len,
                )?;
                requests += 1;
            }
            pipe.drain(&mut conn, &v, &mut reply_len)?;
            Ok(Sent {
                messages: requests * per_batch,
                requests,
                elapsed: t.elapsed(),
                reply_len,
                frame_len: frames[0].len(),
            })
        }));
    }
    Ok(threads)
}

/// Pipelined requests on one connection: responses come back in request order.
struct Pipeline {
    inflight: VecDeque<i32>,
    depth: usize,
    acks: i16,
}

impl Pipeline {
    fn new(depth: usize, acks: i16) -> Pipeline {
        Pipeline {
            inflight: VecDeque::with_capacity(depth),
            depth,
            acks,
        }
    }

    fn push(
        &mut self,
        conn: &mut Conn,
        frame: &mut [u8],
        v: &Versions,
        reply_len: &mut usize,
    ) -> Result<()> {
        let id = conn.send(frame)?;
        if self.acks == 0 {
            return Ok(());
        }
        self.inflight.push_back(id);
        if self.inflight.len() >= self.depth {
            self.pop(conn, v, reply_len)?;
        }
        Ok(())
    }

    fn pop(&mut self, conn: &mut Conn, v: &Versions, reply_len: &mut usize) -> Result<()> {
        if let Some(id) = self.inflight.pop_front() {
            let body = conn.recv_for(id)?;
            *reply_len = body.len() + 4;
            check_produce(v, body)?;
        }
        Ok(())
    }

    fn drain(&mut self, conn: &mut Conn, v: &Versions, reply_len: &mut usize) -> Result<()> {
        while !self.inflight.is_empty() {
            self.pop(conn, v, reply_len)?;
        }
        if self.acks == 0 {
            conn.barrier()?;
        }
        Ok(())
    }
}

fn join<T>(threads: Vec<std::thread::JoinHandle<Result<T>>>) -> Result<Vec<T>> {
    threads
        .into_iter()
        .map(|t| {
            t.join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))?
        })
        .collect()
}

/// Runs `f` between two CPU samples of `pid`; returns its result and the CPU seconds used.
fn with_cpu<T>(pid: Option<u32>, f: impl FnOnce() -> Result<T>) -> Result<(T, Option<f64>)> {
    let before = pid.and_then(|p| stats::sample(p).ok());
    let out = f()?;
    let after = pid.and_then(|p| stats::sample(p).ok());
    let cpu = match (before, after) {
        (Some(a), Some(b)) => {
            Some((b.cpu_ticks - a.cpu_ticks) as f64 / stats::ticks_per_second() as f64)
        }
        _ => None,
    };
    Ok((out, cpu))
}

fn cpu_per_gb(cpu_s: Option<f64>, rate: &Rate, size: usize) -> Option<f64> {
    let gb = rate.messages as f64 * size as f64 / 1e9;
    cpu_s
        .filter(|_| gb > 0.0)
        .map(|c| (c / gb * 100.0).round() / 100.0)
}

pub(crate) fn produce(args: &ProduceArgs) -> Result<ThroughputReport> {
    check_shape(args.connections, args.partitions, args.batch)?;
    let addr = client::resolve(&args.bootstrap)?;
    let mut admin = Conn::connect(addr)?;
    let v = admin.negotiate()?;
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| workload::fresh_topic("bench-produce"));
    admin.ensure_topic(&v, &topic, args.partitions)?;
    let pid = stats::listening_pid(addr.port());
    let until = Until::Elapsed(Duration::from_secs_f64(args.seconds.max(0.1)));

    let start = Arc::new(Barrier::new(args.connections + 1));
    let threads = run_producers(addr, &v, &topic, args, until, 64, start.clone())?;
    let (sent, cpu) = with_cpu(pid, || {
        start.wait();
        join(threads)
    })?;
    let broker = total(&sent, args.size);
    let baseline = if args.no_baseline {
        None
    } else {
        let reply = if args.acks == 0 { 0 } else { sent[0].reply_len };
        Some(run_baseline(
            args.connections,
            args.depth,
            sent[0].frame_len,
            reply,
            until,
            args.batch as u64,
            args.size,
        )?)
    };
    Ok(ThroughputReport {
        kind: "produce",
        bootstrap: args.bootstrap.clone(),
        connections: args.connections,
        partitions: args.partitions,
        size: args.size,
        batch: args.batch,
        compression: args.compression,
        ratio: baseline
            .as_ref()
            .and_then(|b| stats::ratio(broker.mb_per_s, b.mb_per_s)),
        broker_cpu_s_per_gb: cpu_per_gb(cpu, &broker, args.size),
        broker,
        baseline,
    })
}

fn check_shape(connections: usize, partitions: i32, batch: usize) -> Result<()> {
    if connections == 0 || partitions <= 0 || batch == 0 {
        bail!("--connections, --partitions and --batch must be positive");
    }
    Ok(())
}

fn total(sent: &[Sent], size: usize) -> Rate {
    let messages = sent.iter().map(|s| s.messages).sum();
    let requests = sent.iter().map(|s| s.requests).sum();
    let elapsed = sent.iter().map(|s| s.elapsed).max().unwrap_or_default();
    Rate::new(messages, requests, size, elapsed)
}

/// The same connections, depth, request and reply sizes against the baseline server.
fn run_baseline(
    connections: usize,
    depth: usize,
    frame_len: usize,
    reply_len: usize,
    until: Until,
    messages_per_request: u64,
    size: usize,
) -> Result<Rate> {
    let server = Baseline::start()?;
    let start = Arc::new(Barrier::new(connections + 1));
    let mut threads = Vec::new();
    for _ in 0..connections {
        let (addr, start) = (server.addr(), start.clone());
        threads.push(std::thread::spawn(move || -> Result<Sent> {
            let conn = Conn::connect(addr);
            start.wait();
            let mut conn = conn?;
            let mut frame = baseline::request(frame_len, reply_len);
            let mut inflight = 0usize;
            let t = Instant::now();
            let mut requests = 0u64;
            loop {
                let go_on = match until {
                    Until::Elapsed(d) => t.elapsed() < d,
                    Until::Requests(n) => requests < n,
                };
                if !go_on {
                    break;
                }
                conn.send(&mut frame)?;
                requests += 1;
                if reply_len > 0 {
                    inflight += 1;
                    if inflight >= depth.max(1) {
                        conn.recv()?;
                        inflight -= 1;
                    }
                }
            }
            for _ in 0..inflight {
                conn.recv()?;
            }
            if reply_len == 0 {
                // The server answers nothing; one answered request proves it read everything.
                let mut last = baseline::request(16, 8);
                conn.send(&mut last)?;
                conn.recv()?;
            }
            Ok(Sent {
                messages: requests * messages_per_request,
                requests,
                elapsed: t.elapsed(),
                reply_len,
                frame_len,
            })
        }));
    }
    start.wait();
    let sent = join(threads)?;
    Ok(total(&sent, size))
}

pub(crate) fn consume(args: &ConsumeArgs) -> Result<ThroughputReport> {
    check_shape(args.connections, args.partitions, args.batch)?;
    let addr = client::resolve(&args.bootstrap)?;
    let mut admin = Conn::connect(addr)?;
    let v = admin.negotiate()?;
    let topic = workload::fresh_topic("bench-consume");
    admin.ensure_topic(&v, &topic, args.partitions)?;
    let pid = stats::listening_pid(addr.port());

    // Fill: the same number of batches into every partition.
    let per_partition =
        (args.messages / args.batch as u64 / args.partitions as u64).max(1) * args.batch as u64;
    let fill = ProduceArgs {
        bootstrap: args.bootstrap.clone(),
        topic: Some(topic.clone()),
        connections: args.connections.min(args.partitions as usize),
        partitions: args.partitions,
        size: args.size,
        batch: args.batch,
        compression: args.compression,
        depth: 8,
        acks: 1,
        seconds: 0.0,
        no_baseline: true,
    };
    let start = Arc::new(Barrier::new(fill.connections + 1));
    let threads = run_producers(
        addr,
        &v,
        &topic,
        &fill,
        Until::Requests(per_partition / args.batch as u64),
        0,
        start.clone(),
    )?;
    start.wait();
    join(threads)?;

    // Read everything back, each connection long-polling its share of the partitions.
    let start = Arc::new(Barrier::new(args.connections + 1));
    let mut threads = Vec::new();
    for c in 0..args.connections {
        let mine: Vec<i32> = (0..args.partitions)
            .filter(|p| *p as usize % args.connections == c)
            .collect();
        let (v, topic, start, max_bytes) = (v, topic.clone(), start.clone(), args.max_bytes);
        threads.push(std::thread::spawn(move || -> Result<Read> {
            let conn = Conn::connect(addr);
            start.wait();
            let mut conn = conn?;
            let mut offsets: Vec<(i32, i64)> = mine.iter().map(|p| (*p, 0)).collect();
            let mut read = Read::default();
            let t = Instant::now();
            while !offsets.is_empty() {
                let mut frame = workload::fetch_request(&v, &topic, &offsets, 500, max_bytes)?;
                read.request_len = frame.len();
                let id = conn.send(&mut frame)?;
                let body = conn.recv_for(id)?;
                read.requests += 1;
                read.response_bytes += body.len() as u64 + 4;
                for (p, records) in workload::decode_fetch(&v, body)? {
                    for batch in strikemq_codec::batch::batches(&records) {
                        // A fetch may end in a partial batch; it is read again next time.
                        let Ok(batch) = batch else { break };
                        read.messages += batch.records_count().max(0) as u64;
                        if let Some(o) = offsets.iter_mut().find(|(q, _)| *q == p) {
                            o.1 = batch.last_offset() + 1;
                        }
                    }
                }
                offsets.retain(|(_, o)| (*o as u64) < per_partition);
            }
            read.elapsed = t.elapsed();
            Ok(read)
        }));
    }
    let (reads, cpu) = with_cpu(pid, || {
        start.wait();
        join(threads)
    })?;
    let messages: u64 = reads.iter().map(|r| r.messages).sum();
    let requests: u64 = reads.iter().map(|r| r.requests).sum();
    let expected = per_partition * args.partitions as u64;
    if messages != expected {
        bail!("read back {messages} records, {expected} were written");
    }
    let elapsed = reads.iter().map(|r| r.elapsed).max().unwrap_or_default();
    let broker = Rate::new(messages, requests, args.size, elapsed);
    let baseline = if args.no_baseline {
        None
    } else {
        // As many round trips per connection, with the average response size.
        let per_conn = requests.div_ceil(args.connections as u64);
        let bytes: u64 = reads.iter().map(|r| r.response_bytes).sum();
        let reply = (bytes / requests.max(1)) as usize;
        Some(run_baseline(
            args.connections,
            1,
            reads[0].request_len,
            reply,
            Until::Requests(per_conn),
            messages / requests.max(1),
            args.size,
        )?)
    };
    Ok(ThroughputReport {
        kind: "consume",
        bootstrap: args.bootstrap.clone(),
        connections: args.connections,
        partitions: args.partitions,
        size: args.size,
        batch: args.batch,
        compression: args.compression,
        ratio: baseline
            .as_ref()
            .and_then(|b| stats::ratio(broker.mb_per_s, b.mb_per_s)),
        broker_cpu_s_per_gb: cpu_per_gb(cpu, &broker, args.size),
        broker,
        baseline,
    })
}

#[derive(Default)]
struct Read {
    messages: u64,
    requests: u64,
    response_bytes: u64,
    request_len: usize,
    elapsed: Duration,
}

/// Request bytes per second (MB/s) that `connections` pipelined clients push through the baseline
/// server with `frame`-byte requests and small answers.
pub(crate) fn baseline_bandwidth(
    connections: usize,
    depth: usize,
    frame: usize,
    seconds: f64,
) -> Result<f64> {
    let rate = run_baseline(
        connections.max(1),
        depth,
        frame,
        64,
        Until::Elapsed(Duration::from_secs_f64(seconds.max(0.1))),
        1,
        frame,
    )?;
    Ok(rate.mb_per_s)
}
