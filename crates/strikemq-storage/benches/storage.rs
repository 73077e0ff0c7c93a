//! The log's hot path: appending 1 KiB and 16 KiB batches, reading them back, index look-ups.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strikemq_batch::{BatchBuilder, NewRecord};
use strikemq_storage::{LogConfig, PartitionLog};

fn batch(records: usize, size: usize) -> Bytes {
    let mut b = BatchBuilder::new();
    for i in 0..records {
        b = b.record(NewRecord {
            timestamp: i as i64,
            value: Some(Bytes::from(vec![b'v'; size])),
            ..Default::default()
        });
    }
    b.build()
}

fn benches(c: &mut Criterion) {
    let config = LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        ..Default::default()
    };
    let mut g = c.benchmark_group("storage");
    for (name, records, size) in [("1 KiB", 1, 1000), ("16 KiB", 16, 1000)] {
        let data = batch(records, size);
        g.throughput(Throughput::Bytes(100 * data.len() as u64));
        g.bench_function(format!("append 100 {name} batches"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let log = PartitionLog::open(dir.path().join("b-0"), config.clone()).unwrap();
                    (dir, log)
                },
                |(dir, log)| {
                    for _ in 0..100 {
                        log.append(&data).unwrap();
                    }
                    (dir, log)
                },
                BatchSize::PerIteration,
            )
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path().join("r-0"), config).unwrap();
    let data = batch(16, 1000);
    for _ in 0..2000 {
        log.append(&data).unwrap();
    }
    let end = log.log_end_offset();
    // A read hands out a zero-copy slice: this measures the look-up, not a copy of the bytes.
    g.throughput(Throughput::Elements(1));
    g.bench_function("read up to 1 MiB from a random offset", |b| {
        let mut offset = 0i64;
        b.iter(|| {
            offset = (offset + 7919) % end;
            log.read(offset, 1 << 20).unwrap().records.len()
        })
    });
    // Index look-up: many small batches, so the offset index (not the scan inside a segment)
    // finds the batch; reading at most 1 byte returns just that batch.
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        dir.path().join("i-0"),
        LogConfig {
            segment_bytes: 1024 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let small = batch(1, 100);
    for _ in 0..100_000 {
        log.append(&small).unwrap();
    }
    let end = log.log_end_offset();
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "index look-up among 100,000 batches in 1 MiB segments",
        |b| {
            let mut offset = 0i64;
            b.iter(|| {
                offset = (offset + 7919) % end;
                let r = log.read(offset, 1).unwrap();
                assert!(!r.records.is_empty());
                r.records.len()
            })
        },
    );
    // Transactions: a read_committed fetch asks for the last stable offset and the aborted
    // transactions overlapping what it returns, in a log with 10,000 aborted transactions of
    // 10 producers and one transaction still open.
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
    let mut seqs = [0i32; 11];
    for i in 0..10_000usize {
        let pid = (i % 10) as i64;
        let data = BatchBuilder::new()
            .producer(pid, 0, seqs[pid as usize])
            .transactional()
            .record(NewRecord {
                timestamp: i as i64,
                value: Some(Bytes::from_static(b"t")),
                ..Default::default()
            })
            .build();
        seqs[pid as usize] += 1;
        log.append(&data).unwrap();
        let marker =
            strikemq_batch::control_batch(pid, 0, strikemq_batch::ControlType::Abort, 0, 0);
        log.append(&marker).unwrap();
    }
    let open = BatchBuilder::new()
        .producer(10, 0, 0)
        .transactional()
        .record(NewRecord::default())
        .build();
    log.append(&open).unwrap();
    let end = log.log_end_offset();
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "last stable offset and the aborted transactions of a 1,000-offset read among 10,000",
        |b| {
            let mut offset = 0i64;
            b.iter(|| {
                offset = (offset + 7919) % (end - 1000);
                let lso = log.last_stable_offset();
                (lso, log.aborted_transactions(offset, offset + 1000).len())
            })
        },
    );
    g.finish();
}

criterion_group!(storage, benches);
criterion_main!(storage);
