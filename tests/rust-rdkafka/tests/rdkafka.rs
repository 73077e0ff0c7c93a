//! The rdkafka crate (librdkafka) against a real strikemq process, record by record.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use strikemq_rdkafka_tests::Broker;

fn config(b: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &b.bootstrap);
    c
}

fn create_topic(b: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(b).create().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let fut = admin.create_topics([&topic], &opts);
    let res = futures_executor::block_on(fut).unwrap();
    assert!(res[0].is_ok(), "{res:?}");
}

#[test]
fn produce_and_consume_record_by_record() {
    let b = Broker::start();
    create_topic(&b, "rd", 3);
    let producer: BaseProducer = config(&b)
        .set("enable.idempotence", "true")
        .set("compression.type", "gzip")
        .create()
        .unwrap();
    let ts0 = 1_700_000_000_000i64;
    let n = 3000;
    for i in 0..n {
        let key = format!("k{i}");
        let value = format!("v{i}");
        let headers = OwnedHeaders::new().insert(Header {
            key: "i",
            value: Some(&i.to_string()),
        });
        let mut record = BaseRecord::to("rd")
            .partition(i % 3)
            .payload(&value)
            .timestamp(ts0 + i as i64)
            .headers(headers);
        if i % 10 != 0 {
            record = record.key(&key);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    producer.poll(Duration::from_millis(10));
                    record = r;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(producer.in_flight_count(), 0);

    let consumer: BaseConsumer = config(&b).set("group.id", "unused").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("rd", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut seen = vec![false; n as usize];
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count < n && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.unwrap();
        let value = std::str::from_utf8(m.payload().unwrap()).unwrap();
        let i: i32 = value[1..].parse().unwrap();
        assert_eq!(m.partition(), i % 3);
        assert_eq!(m.offset(), i64::from(i / 3));
        if i % 10 == 0 {
            assert!(m.key().is_none());
        } else {
            assert_eq!(m.key(), Some(format!("k{i}").as_bytes()));
        }
        assert_eq!(m.timestamp(), Timestamp::CreateTime(ts0 + i64::from(i)));
        let h = m.headers().unwrap().get(0);
        assert_eq!(h.key, "i");
        assert_eq!(h.value, Some(i.to_string().as_bytes()));
        assert!(!seen[i as usize], "record {i} delivered twice");
        seen[i as usize] = true;
        count += 1;
    }
    assert_eq!(count, n);
}

#[test]
fn offsets_by_time_and_watermarks() {
    let b = Broker::start();
    create_topic(&b, "times", 1);
    let producer: BaseProducer = config(&b).create().unwrap();
    let ts0 = 1_650_000_000_000i64;
    for i in 0..100 {
        let v = format!("m{i}");
        producer
            .send(
                BaseRecord::<(), _>::to("times")
                    .payload(&v)
                    .timestamp(ts0 + 1000 * i),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let consumer: BaseConsumer = config(&b).set("group.id", "unused").create().unwrap();
    let (low, high) = consumer
        .fetch_watermarks("times", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!((low, high), (0, 100));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(ts0 + 41_500))
        .unwrap();
    let found = consumer
        .offsets_for_times(tpl, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        found.find_partition("times", 0).unwrap().offset(),
        Offset::Offset(42)
    );
}

#[test]
fn consumer_group_splits_partitions_and_commits() {
    group_splits_partitions_and_commits("classic");
}

/// The same with the KIP-848 protocol: the broker assigns the partitions.
#[test]
fn consumer_protocol_group_splits_partitions_and_commits() {
    group_splits_partitions_and_commits("consumer");
}

fn group_splits_partitions_and_commits(protocol: &str) {
    use rdkafka::consumer::CommitMode;
    let b = Broker::start();
    create_topic(&b, "grp", 4);
    let member = || -> BaseConsumer {
        let mut c = config(&b);
        c.set("group.id", "rust-group")
            .set("group.protocol", protocol)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        // The broker decides the session and heartbeat of KIP-848 members.
        if protocol == "classic" {
            c.set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "500");
        }
        c.create().unwrap()
    };
    let members = [member(), member()];
    for m in &members {
        m.subscribe(&["grp"]).unwrap();
    }
    // Settle the group before producing, so nothing is read twice across a rebalance.
    let deadline = Instant::now() + Duration::from_secs(30);
    let assigned = |m: &BaseConsumer| m.assignment().map(|a| a.count()).unwrap_or(0);
    while Instant::now() < deadline && members.iter().any(|m| assigned(m) != 2) {
        for m in &members {
            assert!(m.poll(Duration::from_millis(50)).is_none());
        }
    }
    let owned: Vec<Vec<i32>> = members
        .iter()
        .map(|m| {
            let mut p: Vec<i32> = m
                .assignment()
                .unwrap()
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            p.sort();
            p
        })
        .collect();
    let mut all: Vec<i32> = owned.concat();
    all.sort();
    assert_eq!(all, vec![0, 1, 2, 3], "{owned:?}");

    let producer: BaseProducer = config(&b).create().unwrap();
    for i in 0..200 {
        let v = format!("g{i}");
        producer
            .send(BaseRecord::<(), _>::to("grp").partition(i % 4).payload(&v))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 200 && Instant::now() < deadline {
        for (n, m) in members.iter().enumerate() {
            if let Some(msg) = m.poll(Duration::from_millis(50)) {
                let msg = msg.unwrap();
                assert!(owned[n].contains(&msg.partition()));
                assert!(seen.insert((msg.partition(), msg.offset())), "read twice");
            }
        }
    }
    assert_eq!(seen.len(), 200);
    for m in &members {
        m.commit_consumer_state(CommitMode::Sync).unwrap();
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition("grp", p);
    }
    let committed = members[0]
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    for e in committed.elements() {
        assert_eq!(
            e.offset(),
            Offset::Offset(50),
            "partition {}",
            e.partition()
        );
    }
}

#[test]
fn transactions_commit_and_abort_for_read_committed_consumers() {
    let b = Broker::start();
    create_topic(&b, "rd-tx", 1);
    let producer: BaseProducer = config(&b)
        .set("transactional.id", "rd-tx-id")
        .create()
        .unwrap();
    let timeout = Duration::from_secs(30);
    producer.init_transactions(timeout).unwrap();
    for (value, commit) in [("c1", true), ("a1", false), ("c2", true)] {
        producer.begin_transaction().unwrap();
        producer
            .send(
                BaseRecord::<(), str>::to("rd-tx")
                    .partition(0)
                    .payload(value),
            )
            .unwrap();
        producer.flush(timeout).unwrap();
        if commit {
            producer.commit_transaction(timeout).unwrap();
        } else {
            producer.abort_transaction(timeout).unwrap();
        }
    }
    let read = |isolation: &str| {
        let consumer: BaseConsumer = config(&b)
            .set("group.id", "unused")
            .set("isolation.level", isolation)
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("rd-tx", 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => got.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => panic!("{e}"),
                None => {}
            }
        }
        got
    };
    assert_eq!(read("read_committed"), ["c1", "c2"]);
    assert_eq!(read("read_uncommitted"), ["c1", "a1", "c2"]);
}
