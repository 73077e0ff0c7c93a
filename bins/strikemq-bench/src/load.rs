//! Background traffic for `latency --load-mbps`: producers paced to a target rate (1 KiB records
//! in 16-record batches, acks=1) and a consumer that reads everything back, so the latency probe
//! can be measured on a busy broker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::client::{Conn, Versions};
use crate::latency::check_produce;
use crate::workload;

const RECORD: usize = 1024;
const PER_BATCH: usize = 16;

/// Running background traffic.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    produced: Arc<AtomicU64>,
    consumed: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Result<()>>>,
    started: Instant,
}

/// What the background traffic achieved, in MB/s.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct LoadRates {
    pub(crate) produced_mb_s: f64,
    pub(crate) consumed_mb_s: f64,
}

/// Starts `connections` producers sharing `mb_s` over `partitions` partitions of `topic`, and one
/// consumer reading all of them from the start.
pub(crate) fn start(
    addr: SocketAddr,
    v: Versions,
    topic: &str,
    partitions: i32,
    mb_s: f64,
    connections: usize,
) -> Result<Load> {
    let mut admin = Conn::connect(addr)?;
    admin.ensure_topic(&v, topic, partitions)?;
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let values: Vec<_> = (0..PER_BATCH)
        .map(|i| workload::value(RECORD, i as u64))
        .collect();
    let batch = workload::batch(&values, workload::Codec::None)?;
    let batch_bytes = batch.len() as f64;
    let per_connection = mb_s * 1e6 / connections.max(1) as f64;
    let interval = Duration::from_secs_f64(batch_bytes / per_connection.max(1.0));
    let mut threads = Vec::new();
    for c in 0..connections.max(1) {
        let (stop, produced, batch, topic) = (
            stop.clone(),
            produced.clone(),
            batch.clone(),
            topic.to_owned(),
        );
        threads.push(std::thread::spawn(move || -> Result<()> {
            let mut conn = Conn::connect(addr)?;
            let mut next = Instant::now();
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let partition = (i % partitions.max(1) as usize) as i32;
                i += connections;
                let mut frame = workload::produce_request(&v, &topic, partition, 1, batch.clone())?;
                let id = conn.send(&mut frame)?;
                check_produce(&v, conn.recv_for(id)?)?;
                produced.fetch_add(batch.len() as u64, Ordering::Relaxed);
                // Paced by a schedule, not by sleeping a fixed time after each send.
                next += interval;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else if now - next > Duration::from_secs(1) {
                    next = now; // the broker cannot keep up: do not try to catch up in a burst
                }
            }
            Ok(())
        }));
    }
    {
        let (stop, consumed, topic) = (stop.clone(), consumed.clone(), topic.to_owned());
        threads.push(std::thread::spawn(move || -> Result<()> {
            let mut conn = Conn::connect(addr)?;
            let mut offsets: Vec<(i32, i64)> = (0..partitions.max(1)).map(|p| (p, 0)).collect();
            while !stop.load(Ordering::Relaxed) {
                let fetched = workload::fetch(&mut conn, &v, &topic, &offsets, 100, 1 << 20)?;
                for (p, records) in fetched {
                    consumed.fetch_add(records.len() as u64, Ordering::Relaxed);
                    let mut last = None;
                    for b in strikemq_codec::batch::batches(&records) {
                        match b {
                            Ok(b) => last = Some(b.last_offset()),
                            Err(_) => break,
                        }
                    }
                    if let (Some(last), Some(o)) = (last, offsets.iter_mut().find(|(q, _)| *q == p))
                    {
                        o.1 = o.1.max(last + 1);
                    }
                }
            }
            Ok(())
        }));
    }
    Ok(Load {
        stop,
        produced,
        consumed,
        threads,
        started: Instant::now(),
    })
}

impl Load {
    /// Stops the traffic and reports what it achieved.
    pub(crate) fn stop(self) -> Result<LoadRates> {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        for t in self.threads {
            t.join().map_err(|_| anyhow!("a load thread panicked"))??;
        }
        Ok(LoadRates {
            produced_mb_s: self.produced.load(Ordering::Relaxed) as f64 / secs / 1e6,
            consumed_mb_s: self.consumed.load(Ordering::Relaxed) as f64 / secs / 1e6,
        })
    }
}
