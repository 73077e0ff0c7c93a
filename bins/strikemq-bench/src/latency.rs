//! `latency`: produce round trips with one request in flight, alternating with the same traffic
//! against the baseline server; optionally produce → consume end to end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ProduceResponse};
use kafka_protocol::protocol::Decodable;
use serde::Serialize;

use crate::baseline::{self, Baseline};
use crate::client::{self, encode_request, Conn, Versions};
use crate::stats::{self, Percentiles};
use crate::workload;

/// What `latency` measures.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LatencyArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) bootstrap: String,
    /// Topic (one partition is used); default: a fresh `bench-latency-<n>` topic.
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// acks: 0, 1 or -1. With 0 the broker sends no answer, so each produce is followed on the
    /// same connection by an ApiVersions request whose answer proves the produce was handled.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    pub(crate) acks: i16,
    /// Value size of the single record in each request, in bytes.
    #[arg(long, default_value_t = 100)]
    pub(crate) size: usize,
    /// Measured round trips against the broker (and as many against the baseline).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) count: u64,
    /// Round trips before measuring, on each target.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) warmup: u64,
    /// Broker and baseline take turns this many times, so both see the same machine state.
    #[arg(long, default_value_t = 10)]
    pub(crate) rounds: u64,
    /// Skip the baseline.
    #[arg(long)]
    pub(crate) no_baseline: bool,
    /// Also measure produce → fetch end to end, with this many records (0: skip).
    #[arg(long, default_value_t = 2_000)]
    pub(crate) e2e: u64,
    /// Then measure again under load: background producers at this many MB/s (1 KiB records,
    /// 16 per batch, acks=1) and a consumer reading all of it back (0: skip).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) load_mb_s: f64,
    /// Producer connections of the background load.
    #[arg(long, default_value_t = 2)]
    pub(crate) load_connections: usize,
    /// Partitions of the background load's topic.
    #[arg(long, default_value_t = 4)]
    pub(crate) load_partitions: i32,
}

#[derive(Debug, Serialize)]
pub(crate) struct LatencyReport {
    bootstrap: String,
    acks: i16,
    size: usize,
    produce: Percentiles,
    baseline: Option<Percentiles>,
    /// broker / baseline, per percentile.
    ratio_p50: Option<f64>,
    ratio_p99: Option<f64>,
    ratio_p99_9: Option<f64>,
    /// p50 difference to the baseline in µs.
    delta_p50_us: Option<f64>,
    end_to_end: Option<Percentiles>,
    broker_cpu_ms: Option<f64>,
    /// The same probe while the background load runs.
    under_load: Option<Percentiles>,
    load: Option<crate::load::LoadRates>,
    /// p99.9 under load / p99.9 idle.
    ratio_p99_9_under_load: Option<f64>,
}

pub(crate) fn run(args: &LatencyArgs) -> Result<LatencyReport> {
    if ![0, 1, -1].contains(&args.acks) {
        bail!("--acks must be 0, 1 or -1");
    }
    let addr = client::resolve(&args.bootstrap)?;
    let mut conn = Conn::connect(addr)?;
    let v = conn.negotiate()?;
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| workload::fresh_topic("bench-latency"));
    conn.ensure_topic(&v, &topic, 1)?;
    let pid = stats::listening_pid(addr.port());
    let cpu_before = pid.and_then(|p| stats::sample(p).ok());

    let value = workload::value(args.size, 0);
    let batch = workload::batch(&[value], workload::Codec::None)?;
    let mut produce = workload::produce_request(&v, &topic, 0, args.acks, batch)?;
    let mut barrier = encode_request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;

    // Warm up, and learn the reply sizes the baseline has to mirror.
    let mut reply_len = 0;
    let mut barrier_reply_len = 0;
    for _ in 0..args.warmup.max(1) {
        let (r, b) = produce_once(&mut conn, &v, &mut produce, &mut barrier, args.acks)?;
        reply_len = r;
        barrier_reply_len = b;
    }
    let mut echo = if args.no_baseline {
        None
    } else {
        let server = Baseline::start()?;
        let mut c = Conn::connect(server.addr())?;
        let mut req = baseline::request(produce.len(), if args.acks == 0 { 0 } else { reply_len });
        let mut bar = baseline::request(barrier.len(), barrier_reply_len);
        for _ in 0..args.warmup.max(1) {
            baseline_once(&mut c, &mut req, &mut bar, args.acks)?;
        }
        Some((server, c, req, bar))
    };

    let mut broker_h = stats::histogram();
    let mut echo_h = stats::histogram();
    let rounds = args.rounds.max(1);
    let per_round = (args.count / rounds).max(1);
    for _ in 0..rounds {
        for _ in 0..per_round {
            let t = Instant::now();
            produce_once(&mut conn, &v, &mut produce, &mut barrier, args.acks)?;
            stats::record(&mut broker_h, t.elapsed());
        }
        if let Some((_, c, req, bar)) = echo.as_mut() {
            for _ in 0..per_round {
                let t = Instant::now();
                baseline_once(c, req, bar, args.acks)?;
                stats::record(&mut echo_h, t.elapsed());
            }
        }
    }
    let cpu_after = pid.and_then(|p| stats::sample(p).ok());
    drop(echo.take());

    let (under_load, load) = if args.load_mb_s > 0.0 {
        let load = crate::load::start(
            addr,
            v,
            &format!("{topic}-load"),
            args.load_partitions,
            args.load_mb_s,
            args.load_connections,
        )?;
        std::thread::sleep(Duration::from_secs(1));
        let mut h = stats::histogram();
        for _ in 0..args.count {
            let t = Instant::now();
            produce_once(&mut conn, &v, &mut produce, &mut barrier, args.acks)?;
            stats::record(&mut h, t.elapsed());
        }
        (Some(Percentiles::of(&h)), Some(load.stop()?))
    } else {
        (None, None)
    };

    let end_to_end = if args.e2e > 0 {
        Some(end_to_end(addr, &v, &topic, args)?)
    } else {
        None
    };

    let produce_p = Percentiles::of(&broker_h);
    let baseline_p = (!args.no_baseline).then(|| Percentiles::of(&echo_h));
    let ratio = |f: fn(&Percentiles) -> f64| {
        baseline_p
            .as_ref()
            .and_then(|b| stats::ratio(f(&produce_p), f(b)))
    };
    let tps = stats::ticks_per_second() as f64;
    let ratio_p99_9_under_load = under_load
        .as_ref()
        .and_then(|l| stats::ratio(l.p99_9_us, produce_p.p99_9_us));
    Ok(LatencyReport {
        bootstrap: args.bootstrap.clone(),
        acks: args.acks,
        size: args.size,
        ratio_p50: ratio(|p| p.p50_us),
        ratio_p99: ratio(|p| p.p99_us),
        ratio_p99_9: ratio(|p| p.p99_9_us),
        delta_p50_us: baseline_p
            .as_ref()
            .map(|b| ((produce_p.p50_us - b.p50_us) * 10.0).round() / 10.0),
        produce: produce_p,
        baseline: baseline_p,
        end_to_end,
        broker_cpu_ms: match (cpu_before, cpu_after) {
            (Some(a), Some(b)) => Some((b.cpu_ticks - a.cpu_ticks) as f64 * 1000.0 / tps),
            _ => None,
        },
        ratio_p99_9_under_load,
        under_load,
        load,
    })
}

/// One produce and its answer (or, with acks=0, the barrier's); returns the sizes of both answers.
fn produce_once(
    conn: &mut Conn,
    v: &Versions,
    produce: &mut [u8],
    barrier: &mut [u8],
    acks: i16,
) -> Result<(usize, usize)> {
    let id = conn.send(produce)?;
    if acks == 0 {
        let id = conn.send(barrier)?;
        let body = conn.recv_for(id)?;
        return Ok((0, body.len() + 4));
    }
    let body = conn.recv_for(id)?;
    let len = body.len() + 4;
    check_produce(v, body)?;
    Ok((len, 0))
}

fn baseline_once(conn: &mut Conn, req: &mut [u8], bar: &mut [u8], acks: i16) -> Result<()> {
    let id = conn.send(req)?;
    let id = if acks == 0 { conn.send(bar)? } else { id };
    conn.recv_for(id)?;
    Ok(())
}

/// Fails on any partition error in a Produce response; returns the first base offset.
pub(crate) fn check_produce(v: &Versions, mut body: Bytes) -> Result<i64> {
    client::strip_tagged_header(ApiKey::Produce, v.produce, &mut body)?;
    let resp = ProduceResponse::decode(&mut body, v.produce).context("decoding Produce")?;
    let mut base = -1;
    for t in &resp.responses {
        for p in &t.partition_responses {
            if p.error_code != 0 {
                bail!("produce failed with error code {}", p.error_code);
            }
            base = p.base_offset;
        }
    }
    Ok(base)
}

/// Records carry the producer's send time (ns since `epoch`) in their first 8 bytes; a consumer on
/// its own connection long-polls and computes the age of each record as it arrives.
fn end_to_end(
    addr: std::net::SocketAddr,
    v: &Versions,
    topic: &str,
    args: &LatencyArgs,
) -> Result<Percentiles> {
    let epoch = Instant::now();
    let mut producer = Conn::connect(addr)?;
    // Where the consumer starts: the offset after a first record.
    let batch = workload::batch(&[workload::value(args.size, 0)], workload::Codec::None)?;
    let mut frame = workload::produce_request(v, topic, 0, 1, batch)?;
    let id = producer.send(&mut frame)?;
    let start = check_produce(v, producer.recv_for(id)?)? + 1;

    let done = Arc::new(AtomicBool::new(false));
    let expected = args.e2e;
    let consumer = {
        let (v, topic, done) = (*v, topic.to_owned(), done.clone());
        std::thread::spawn(move || -> Result<hdrhistogram::Histogram<u64>> {
            let mut h = stats::histogram();
            let mut c = Conn::connect(addr)?;
            let mut offset = start;
            while h.len() < expected && !done.load(Ordering::Relaxed) {
                let fetched = workload::fetch(&mut c, &v, &topic, &[(0, offset)], 500, 1 << 20)?;
                let now = epoch.elapsed();
                for (_, records) in fetched {
                    for batch in strikemq_codec::batch::batches(&records) {
                        let Ok(batch) = batch else { break };
                        for r in strikemq_codec::batch::decode_records(&batch)? {
                            if let Some(sent) = r.value.as_ref().and_then(|v| v.get(..8)) {
                                let mut b = [0u8; 8];
                                b.copy_from_slice(sent);
                                let sent = Duration::from_nanos(u64::from_be_bytes(b));
                                stats::record(&mut h, now.saturating_sub(sent));
                            }
                            offset = r.offset + 1;
                        }
                    }
                }
            }
            Ok(h)
        })
    };
    let mut value = workload::value(args.size.max(8), 1).to_vec();
    for _ in 0..expected {
        let sent = epoch.elapsed().as_nanos() as u64;
        value[..8].copy_from_slice(&sent.to_be_bytes());
        let batch = workload::batch(&[Bytes::copy_from_slice(&value)], workload::Codec::None)?;
        let mut frame = workload::produce_request(v, topic, 0, 1, batch)?;
        let id = producer.send(&mut frame)?;
        check_produce(v, producer.recv_for(id)?)?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !consumer.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let h = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))??;
    if h.len() < expected {
        bail!("end to end: {} of {expected} records consumed", h.len());
    }
    Ok(Percentiles::of(&h))
}

impl LatencyReport {
    pub(crate) fn print(&self) {
        let mut rows = vec![];
        let mut add = |name: &str, p: &Percentiles| {
            rows.push((
                name.to_owned(),
                format!(
                    "p50 {}  p99 {}  p99.9 {}  max {}  (n={})",
                    stats::fmt_us(p.p50_us),
                    stats::fmt_us(p.p99_us),
                    stats::fmt_us(p.p99_9_us),
                    stats::fmt_us(p.max_us),
                    p.count
                ),
            ));
        };
        add("produce", &self.produce);
        if let Some(b) = &self.baseline {
            add("baseline", b);
        }
        if let Some(e) = &self.end_to_end {
            add("end to end", e);
        }
        if let Some(l) = &self.under_load {
            add("produce under load", l);
        }
        if let (Some(a), Some(b), Some(c)) = (self.ratio_p50, self.ratio_p99, self.ratio_p99_9) {
            rows.push((
                "vs baseline".into(),
                format!(
                    "p50 ×{a}  p99 ×{b}  p99.9 ×{c}  (p50 +{} µs)",
                    self.delta_p50_us.unwrap_or(0.0)
                ),
            ));
        }
        if let (Some(load), Some(r)) = (self.load, self.ratio_p99_9_under_load) {
            rows.push((
                "load".into(),
                format!(
                    "produced {:.0} MB/s, consumed {:.0} MB/s; p99.9 under load ×{r} of idle",
                    load.produced_mb_s, load.consumed_mb_s
                ),
            ));
        }
        if let Some(cpu) = self.broker_cpu_ms {
            rows.push(("broker CPU".into(), format!("{cpu:.0} ms")));
        }
        stats::print_table(
            &format!(
                "latency: {} acks={} {} B, one request in flight",
                self.bootstrap, self.acks, self.size
            ),
            &rows,
        );
    }
}
