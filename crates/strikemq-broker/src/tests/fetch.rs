//! Fetch: long polls, errors, topic ids, and the KIP-74 size limits.

use std::time::{Duration, Instant};

use strikemq_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;

use crate::testutil::*;
use crate::Outcome;

#[test]
fn fetch_parks_until_data_or_deadline() {
    let t = broker();
    create(&t, "t", 1);
    let now = Instant::now();
    let outcome = call_at(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 0, 1, 500),
        now,
    );
    let Outcome::Park(parked) = outcome else {
        panic!("expected park")
    };
    assert_eq!(parked.deadline(), now + Duration::from_millis(500));
    // Still nothing: parks again.
    let Outcome::Park(parked) = t.broker.resume(parked, now + Duration::from_millis(10)) else {
        panic!()
    };
    produce_code(&t, "t", batch(&["late"], 0), 1);
    let ResponseKind::Fetch(r) = response(t.broker.resume(parked, now + Duration::from_millis(20)))
    else {
        panic!()
    };
    assert!(!r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
    // Deadline passes without data: an empty answer.
    let outcome = call_at(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 1, 1, 100),
        now,
    );
    let Outcome::Park(parked) = outcome else {
        panic!()
    };
    let ResponseKind::Fetch(r) =
        response(t.broker.resume(parked, now + Duration::from_millis(100)))
    else {
        panic!()
    };
    assert!(r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
}

#[test]
fn fetch_errors() {
    let t = broker();
    create(&t, "t", 1);
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 0, 5, 1, 500),
    )) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    let ResponseKind::Fetch(r) = response(call(
        &t.broker,
        ApiKey::Fetch,
        12,
        &fetch_req("t", 3, 0, 1, 500),
    )) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

#[test]
fn fetch_by_topic_id_at_v13() {
    let t = broker();
    create(&t, "t", 1);
    produce_code(&t, "t", batch(&["a"], 0), 1);
    let id = t.broker.store().topic("t").unwrap().id();
    let mut req = fetch_req("", 0, 0, 1, 0);
    req.topics[0].topic_id = id;
    let ResponseKind::Fetch(r) = response(call(&t.broker, ApiKey::Fetch, 16, &req)) else {
        panic!()
    };
    assert_eq!(r.responses[0].topic_id, id);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 1);
    req.topics[0].topic_id = strikemq_storage::Uuid::from_u128(7);
    let ResponseKind::Fetch(r) = response(call(&t.broker, ApiKey::Fetch, 16, &req)) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::UnknownTopicId.code()
    );
}

/// A batch of one record whose value is `size` bytes.
fn big_batch(size: usize) -> bytes::Bytes {
    batch(&[&"x".repeat(size)], 0)
}

/// Fetch of partitions `(partition, partition_max_bytes)` of `topic` from offset 0, in the
/// order given, within `max_bytes`; returns the record bytes of each partition, in that order.
fn fetch_sizes(
    t: &TestBroker,
    topic: &str,
    partitions: &[(i32, i32)],
    max_bytes: i32,
    min_bytes: i32,
    now: Instant,
) -> Outcome {
    let req = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, max)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(max)
                    })
                    .collect(),
            )]);
    call_at(&t.broker, ApiKey::Fetch, 12, &req, now)
}

fn record_lengths(outcome: Outcome) -> Vec<usize> {
    let ResponseKind::Fetch(r) = response(outcome) else {
        panic!()
    };
    r.responses[0]
        .partitions
        .iter()
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .collect()
}

/// KIP-74, as Kafka applies it: only the first partition with data may exceed max_bytes (and
/// its partition_max_bytes), by its first batch; every later partition gets data only within
/// what is left, cut at the limit, and nothing when its first batch does not fit. A consumer
/// with fetch.max.bytes=1000000 reading partitions of 900 KiB records used to get two whole
/// batches (1.8 MB) and refuse every answer.
#[test]
fn fetch_stays_within_max_bytes_except_for_the_first_batch() {
    let t = broker();
    create(&t, "big", 3);
    let big = big_batch(900 * 1024);
    let n = big.len();
    for p in 0..3 {
        for _ in 0..2 {
            let r = call(
                &t.broker,
                ApiKey::Produce,
                9,
                &produce_req("big", p, big.clone(), 1),
            );
            let ResponseKind::Produce(r) = response(r) else {
                panic!()
            };
            assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        }
    }
    let now = Instant::now();
    let all = |max| vec![(0, max), (1, max), (2, max)];
    // The first partition takes its first batch (the second does not fit in max_bytes);
    // the others' first batches do not fit in what is left.
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(1 << 21), 1_000_000, 1, now)),
        [n, 0, 0]
    );
    // max_bytes under one batch: the first batch alone, whole.
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(1 << 21), 1000, 1, now)),
        [n, 0, 0]
    );
    // partition_max_bytes under one batch: the first partition's first batch, then nothing.
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(1000), 1 << 24, 1, now)),
        [n, 0, 0]
    );
    // Room for two batches and a half: the third partition's first batch does not fit in
    // what is left, so it gets nothing (not a partial batch).
    let limit = n as i32 * 5 / 2;
    assert_eq!(
        record_lengths(fetch_sizes(&t, "big", &all(n as i32), limit, 1, now)),
        [n, n, 0]
    );
    // A later partition whose first batch fits gets the whole batches that fit in what is
    // left (Kafka would add the next batch cut short, which clients drop).
    create(&t, "small", 2);
    let small = big_batch(10_000);
    let m = small.len();
    for (p, count) in [(0, 2), (1, 4)] {
        for _ in 0..count {
            let r = call(
                &t.broker,
                ApiKey::Produce,
                9,
                &produce_req("small", p, small.clone(), 1),
            );
            let ResponseKind::Produce(_) = response(r) else {
                panic!()
            };
        }
    }
    let both = [(0, 1 << 20), (1, 1 << 20)];
    assert_eq!(
        record_lengths(fetch_sizes(&t, "small", &both, (m * 7 / 2) as i32, 1, now)),
        [2 * m, m]
    );
    // ... and within its own partition_max_bytes too.
    let capped = [(0, 1 << 20), (1, (2 * m - 5) as i32)];
    assert_eq!(
        record_lengths(fetch_sizes(&t, "small", &capped, 1 << 20, 1, now)),
        [2 * m, m]
    );
    // The request's order, not the partitions' numbers, decides which one comes first.
    assert_eq!(
        record_lengths(fetch_sizes(
            &t,
            "big",
            &[(2, 1 << 21), (0, 1 << 21)],
            1_000_000,
            1,
            now
        )),
        [n, 0]
    );
    // A partition with no data does not use up the first batch's exception.
    create(&t, "mixed", 2);
    let r = call(
        &t.broker,
        ApiKey::Produce,
        9,
        &produce_req("mixed", 1, big.clone(), 1),
    );
    let ResponseKind::Produce(_) = response(r) else {
        panic!()
    };
    assert_eq!(
        record_lengths(fetch_sizes(
            &t,
            "mixed",
            &[(0, 1000), (1, 1000)],
            1000,
            1,
            now
        )),
        [0, n]
    );
    // A parked fetch follows the same rule when new data wakes it.
    create(&t, "late", 2);
    let Outcome::Park(parked) =
        fetch_sizes(&t, "late", &[(0, 1 << 21), (1, 1 << 21)], 1_000_000, 1, now)
    else {
        panic!("expected the fetch to wait")
    };
    for p in 0..2 {
        let r = call(
            &t.broker,
            ApiKey::Produce,
            9,
            &produce_req("late", p, big.clone(), 1),
        );
        let ResponseKind::Produce(_) = response(r) else {
            panic!()
        };
    }
    assert_eq!(
        record_lengths(t.broker.resume(parked, now + Duration::from_millis(10))),
        [n, 0]
    );
}

/// Transactions written straight to the log (the producer side is not served yet): a
/// read_committed Fetch stops at the last stable offset and lists the aborted transactions of
/// what it returns; read_uncommitted sees everything and no list; ListOffsets "latest" is the
/// LSO for read_committed.
#[test]
fn read_committed_stops_at_the_last_stable_offset_and_lists_aborts() {
    use strikemq_codec::batch::{control_batch, BatchBuilder, ControlType, NewRecord};
    use strikemq_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let t = broker();
    create(&t, "tx", 1);
    let log = t.broker.store().topic("tx").unwrap();
    let log = log.partition(0).unwrap();
    let txn = |pid, seq| {
        BatchBuilder::new()
            .producer(pid, 0, seq)
            .transactional()
            .record(NewRecord {
                timestamp: 5,
                value: Some(bytes::Bytes::from_static(b"t")),
                ..Default::default()
            })
            .build()
    };
    log.append(&batch(&["a"], 1)).unwrap(); // 0
    log.append(&txn(7, 0)).unwrap(); // 1: 7 opens
    log.append(&txn(8, 0)).unwrap(); // 2: 8 opens
    log.append(&control_batch(7, 0, ControlType::Abort, 0, 9))
        .unwrap(); // 3: 7 aborts
    log.append(&batch(&["b"], 1)).unwrap(); // 4
    let fetch = |isolation: i8| {
        let req = fetch_req("tx", 0, 0, 1, 0).with_isolation_level(isolation);
        let ResponseKind::Fetch(r) = response(call(&t.broker, ApiKey::Fetch, 12, &req)) else {
            panic!()
        };
        r.responses[0].partitions[0].clone()
    };
    let last_offset = |p: &fetch_response::PartitionData| {
        strikemq_codec::batch::batches(p.records.as_ref().unwrap())
            .last()
            .map(|b| b.unwrap().last_offset())
    };
    let uncommitted = fetch(0);
    assert_eq!(
        (
            uncommitted.high_watermark,
            uncommitted.last_stable_offset,
            last_offset(&uncommitted)
        ),
        (5, 2, Some(4))
    );
    assert_eq!(uncommitted.aborted_transactions, None);
    let committed = fetch(1);
    assert_eq!(
        (
            committed.high_watermark,
            committed.last_stable_offset,
            last_offset(&committed)
        ),
        (5, 2, Some(1)),
        "up to 8's open transaction"
    );
    let aborted = committed.aborted_transactions.clone().unwrap();
    assert_eq!(
        aborted
            .iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect::<Vec<_>>(),
        [(7, 1)]
    );
    // 8 commits: everything is stable, the abort is still listed.
    log.append(&control_batch(8, 0, ControlType::Commit, 0, 9))
        .unwrap(); // 5
    let committed = fetch(1);
    assert_eq!(
        (committed.last_stable_offset, last_offset(&committed)),
        (6, Some(5))
    );
    assert_eq!(committed.aborted_transactions.unwrap().len(), 1);
    // ListOffsets "latest": the LSO for read_committed, the end otherwise.
    log.append(&txn(9, 0)).unwrap(); // 6: 9 opens
    let latest = |isolation: i8| {
        let req = ListOffsetsRequest::default()
            .with_isolation_level(isolation)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("tx"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let ResponseKind::ListOffsets(r) = response(call(&t.broker, ApiKey::ListOffsets, 7, &req))
        else {
            panic!()
        };
        r.topics[0].partitions[0].offset
    };
    assert_eq!((latest(0), latest(1)), (7, 6));
}
