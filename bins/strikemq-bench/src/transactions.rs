//! `txn`: transactional produce. Each connection is one transactional producer (its own
//! transactional id and partitions): InitProducerId, then transactions of `--batches` Produce
//! requests (acks=-1, one batch each, pipelined up to five as idempotent producers may), each
//! opened with AddPartitionsToTxn and closed with EndTxn(commit). Reports what a commit costs:
//! the EndTxn round trip and the whole transaction, and the throughput.
//!
//! Transaction version 1 requests (AddPartitionsToTxn v3, EndTxn v3), so that Kafka and
//! StrikeMQ do the same work: the partitions are added explicitly, and a commit writes one
//! marker per partition. Kafka writes its markers after answering EndTxn and answers
//! CONCURRENT_TRANSACTIONS until they are written; the next transaction retries, and the wait
//! counts in its time.

use std::collections::VecDeque;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use crate::client::{self, Conn, Versions};
use crate::latency::check_produce;
use crate::stats::{self, Percentiles};
use crate::workload;

/// What `txn` sends.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TxnArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) bootstrap: String,
    /// Connections (transactional producers), one thread each.
    #[arg(long, default_value_t = 1)]
    pub(crate) connections: usize,
    /// Partitions, spread over the connections; each transaction writes to all of its
    /// connection's partitions.
    #[arg(long, default_value_t = 1)]
    pub(crate) partitions: i32,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub(crate) size: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 16)]
    pub(crate) batch: usize,
    /// Batches (Produce requests) per transaction.
    #[arg(long, default_value_t = 10)]
    pub(crate) batches: usize,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct TxnReport {
    kind: &'static str,
    bootstrap: String,
    connections: usize,
    partitions: i32,
    size: usize,
    batch: usize,
    batches_per_transaction: usize,
    transactions: u64,
    transactions_per_s: f64,
    /// Record values committed, MB (10^6 bytes) per second.
    mb_per_s: f64,
    /// EndTxn(commit) round trips.
    commit: Percentiles,
    /// AddPartitionsToTxn (with its retries), the batches and the commit.
    transaction: Percentiles,
    /// AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS (the previous commit's markers not
    /// yet written), per transaction.
    retries_per_transaction: f64,
}

impl TxnReport {
    pub(crate) fn print(&self) {
        let p = |x: &Percentiles| {
            format!(
                "p50 {}  p99 {}  p99.9 {}",
                stats::fmt_us(x.p50_us),
                stats::fmt_us(x.p99_us),
                stats::fmt_us(x.p99_9_us)
            )
        };
        stats::print_table(
            &format!(
                "txn: {} — {} connections, {} partitions, {} batches of {} × {} B per transaction",
                self.bootstrap,
                self.connections,
                self.partitions,
                self.batches_per_transaction,
                self.batch,
                self.size
            ),
            &[
                (
                    "throughput".into(),
                    format!(
                        "{:.0} transactions/s  {:.1} MB/s  ({} transactions)",
                        self.transactions_per_s, self.mb_per_s, self.transactions
                    ),
                ),
                ("commit (EndTxn)".into(), p(&self.commit)),
                ("whole transaction".into(), p(&self.transaction)),
                (
                    "retries".into(),
                    format!(
                        "{:.2} AddPartitionsToTxn retries per transaction",
                        self.retries_per_transaction
                    ),
                ),
            ],
        );
    }
}

/// Error codes the tool waits out: COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
/// NOT_COORDINATOR, CONCURRENT_TRANSACTIONS.
const RETRIABLE: [i16; 4] = [14, 15, 16, 51];
const ADD_PARTITIONS_VERSION: i16 = 3;
const END_TXN_VERSION: i16 = 3;
const INIT_VERSION: i16 = 4;
const FIND_COORDINATOR_VERSION: i16 = 4;
const MAX_IN_FLIGHT: usize = 5;

struct Done {
    transactions: u64,
    retries: u64,
    elapsed: Duration,
    commit: hdrhistogram::Histogram<u64>,
    transaction: hdrhistogram::Histogram<u64>,
}

pub(crate) fn run(args: &TxnArgs) -> Result<TxnReport> {
    let addr = client::resolve(&args.bootstrap)?;
    let mut setup = Conn::connect(addr)?;
    let v = setup.negotiate()?;
    let topic = workload::fresh_topic("bench-txn");
    setup.ensure_topic(&v, &topic, args.partitions)?;
    let values: Vec<Bytes> = (0..args.batch)
        .map(|i| workload::value(args.size, i as u64))
        .collect();
    let start = Arc::new(Barrier::new(args.connections));
    let mut threads = Vec::new();
    for c in 0..args.connections {
        let partitions: Vec<i32> = (0..args.partitions)
            .filter(|p| *p as usize % args.connections == c)
            .collect();
        if partitions.is_empty() {
            bail!("more connections than partitions");
        }
        let (topic, values, start, args) =
            (topic.clone(), values.clone(), start.clone(), args.clone());
        threads.push(std::thread::spawn(move || -> Result<Done> {
            let mut conn = Conn::connect(addr)?;
            let txn_id = format!("{topic}-{c}");
            let ready = producer(&mut conn, &txn_id);
            start.wait();
            let (pid, epoch) = ready?;
            let mut p = Producer {
                conn,
                v,
                topic,
                txn_id,
                pid,
                epoch,
                partitions,
                sequences: Vec::new(),
                values,
                batches: args.batches,
            };
            p.sequences = vec![0; p.partitions.len()];
            // Warm-up: a few transactions not measured.
            let mut retries = 0;
            for _ in 0..3 {
                p.transaction(&mut retries)?;
            }
            let mut done = Done {
                transactions: 0,
                retries: 0,
                elapsed: Duration::ZERO,
                commit: stats::histogram(),
                transaction: stats::histogram(),
            };
            let t = Instant::now();
            let run_for = Duration::from_secs_f64(args.seconds);
            while t.elapsed() < run_for {
                let began = Instant::now();
                let commit = p.transaction(&mut done.retries)?;
                stats::record(&mut done.transaction, began.elapsed());
                stats::record(&mut done.commit, commit);
                done.transactions += 1;
            }
            done.elapsed = t.elapsed();
            Ok(done)
        }));
    }
    let mut all = Vec::new();
    for t in threads {
        all.push(
            t.join()
                .map_err(|_| anyhow::anyhow!("a producer thread panicked"))??,
        );
    }
    let mut commit = stats::histogram();
    let mut transaction = stats::histogram();
    let (mut n, mut retries, mut secs) = (0u64, 0u64, 0f64);
    for d in &all {
        commit.add(&d.commit).ok();
        transaction.add(&d.transaction).ok();
        n += d.transactions;
        retries += d.retries;
        secs = secs.max(d.elapsed.as_secs_f64());
    }
    let secs = secs.max(1e-9);
    let per_txn_bytes = (args.batches * args.batch * args.size) as f64;
    Ok(TxnReport {
        kind: "txn",
        bootstrap: args.bootstrap.clone(),
        connections: args.connections,
        partitions: args.partitions,
        size: args.size,
        batch: args.batch,
        batches_per_transaction: args.batches,
        transactions: n,
        transactions_per_s: (n as f64 / secs).round(),
        mb_per_s: (n as f64 * per_txn_bytes / secs / 1e6 * 10.0).round() / 10.0,
        commit: Percentiles::of(&commit),
        transaction: Percentiles::of(&transaction),
        retries_per_transaction: if n == 0 {
            0.0
        } else {
            (retries as f64 / n as f64 * 100.0).round() / 100.0
        },
    })
}

/// FindCoordinator, then InitProducerId for a transactional id, waiting out the coordinator's
/// loading (Kafka creates its transaction log on the first FindCoordinator of a transactional
/// id, and answers NOT_COORDINATOR until then).
fn producer(conn: &mut Conn, txn_id: &str) -> Result<(i64, i16)> {
    let find = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_string(txn_id.to_owned())]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r: FindCoordinatorResponse =
            conn.call(ApiKey::FindCoordinator, FIND_COORDINATOR_VERSION, &find)?;
        match r.coordinators.first().map_or(-1, |c| c.error_code) {
            0 => break,
            e if RETRIABLE.contains(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            e => bail!("FindCoordinator for {txn_id}: error {e}"),
        }
    }
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_string(
            txn_id.to_owned(),
        ))))
        .with_transaction_timeout_ms(60_000);
    loop {
        let r: InitProducerIdResponse = conn.call(ApiKey::InitProducerId, INIT_VERSION, &req)?;
        match r.error_code {
            0 => return Ok((r.producer_id.0, r.producer_epoch)),
            e if RETRIABLE.contains(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            e => bail!("InitProducerId for {txn_id}: error {e}"),
        }
    }
}

struct Producer {
    conn: Conn,
    v: Versions,
    topic: String,
    txn_id: String,
    pid: i64,
    epoch: i16,
    partitions: Vec<i32>,
    sequences: Vec<i32>,
    values: Vec<Bytes>,
    batches: usize,
}

impl Producer {
    /// One transaction; returns the time of its EndTxn round trip.
    fn transaction(&mut self, retries: &mut u64) -> Result<Duration> {
        let add = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.id())
            .with_v3_and_below_producer_id(ProducerId(self.pid))
            .with_v3_and_below_producer_epoch(self.epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(self.topic.clone())))
                .with_partitions(self.partitions.clone())]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r: AddPartitionsToTxnResponse =
                self.conn
                    .call(ApiKey::AddPartitionsToTxn, ADD_PARTITIONS_VERSION, &add)?;
            let error = r
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| t.results_by_partition.iter())
                .map(|p| p.partition_error_code)
                .find(|c| *c != 0)
                .unwrap_or(0);
            match error {
                0 => break,
                e if RETRIABLE.contains(&e) && Instant::now() < deadline => {
                    *retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                e => bail!("AddPartitionsToTxn: error {e}"),
            }
        }
        let mut inflight = VecDeque::new();
        for i in 0..self.batches {
            let slot = i % self.partitions.len();
            let records = self.batch(slot)?;
            let mut frame = workload::transactional_produce_request(
                &self.v,
                &self.topic,
                self.partitions[slot],
                -1,
                records,
                Some(&self.txn_id),
            )?;
            inflight.push_back(self.conn.send(&mut frame)?);
            if inflight.len() >= MAX_IN_FLIGHT {
                self.produced(inflight.pop_front())?;
            }
        }
        while let Some(id) = inflight.pop_front() {
            self.produced(Some(id))?;
        }
        let end = EndTxnRequest::default()
            .with_transactional_id(self.id())
            .with_producer_id(ProducerId(self.pid))
            .with_producer_epoch(self.epoch)
            .with_committed(true);
        let t = Instant::now();
        let r: EndTxnResponse = self.conn.call(ApiKey::EndTxn, END_TXN_VERSION, &end)?;
        let took = t.elapsed();
        if r.error_code != 0 {
            bail!("EndTxn: error {}", r.error_code);
        }
        Ok(took)
    }

    fn produced(&mut self, id: Option<i32>) -> Result<()> {
        if let Some(id) = id {
            let body = self.conn.recv_for(id)?;
            check_produce(&self.v, body).context("a transactional Produce")?;
        }
        Ok(())
    }

    fn id(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.txn_id.clone()))
    }

    /// The next transactional batch of the partition at `slot`.
    fn batch(&mut self, slot: usize) -> Result<Bytes> {
        let base = self.sequences[slot];
        self.sequences[slot] = base.wrapping_add(self.values.len() as i32);
        workload::producer_batch(
            &self.values,
            workload::Codec::None,
            self.pid,
            self.epoch,
            base,
            true,
        )
    }
}
