//! The real broker on a free port, driven over TCP with hand-built requests: framing, ordering,
//! long-poll wake-ups, connection-level errors and restarts.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use strikemq_codec::batch::{BatchBuilder, NewRecord};
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::*;
use strikemq_codec::{Decodable, Encodable};
use strikemq_testkit::*;

fn start(dir: &std::path::Path) -> strikemq::RunningBroker {
    strikemq::Broker::builder()
        .bind("127.0.0.1".parse().unwrap())
        .port(0)
        .http_port(0)
        .io_threads(2)
        .data_dir(dir)
        .start()
        .unwrap()
}

#[test]
fn long_poll_fetch_wakes_when_another_connection_produces() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut consumer = KafkaClient::connect(broker.kafka_addr());
    let mut producer = KafkaClient::connect(broker.kafka_addr());
    create_topic(&mut producer, "waits", 1);
    // Far longer than the read timeout: only a wake-up can answer it in time.
    let fetch_id = consumer.send(ApiKey::Fetch, 12, &fetch_request("waits", 0, 120_000));
    // A request behind the parked fetch must wait for it: responses keep request order.
    let versions_id = consumer.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    // Parked: neither answer comes while nothing is produced (not even the ApiVersions behind
    // the fetch). This also makes sure the fetch is parked before the produce below.
    consumer
        .stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = consumer.stream.peek(&mut byte);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "answered before any data: {early:?}"
    );
    consumer
        .stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .unwrap();
    assert_eq!(produce(&mut producer, "waits", &["hello", "world"]), 0);
    let (id, mut body) = consumer.recv(ApiKey::Fetch, 12);
    assert_eq!(id, fetch_id);
    let resp = FetchResponse::decode(&mut body, 12).unwrap();
    assert_eq!(
        fetched_values(&resp),
        vec![(0, "hello".to_owned()), (1, "world".to_owned())]
    );
    let (id, _) = consumer.recv(ApiKey::ApiVersions, 3);
    assert_eq!(id, versions_id);
    broker.shutdown().unwrap();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut c = KafkaClient::connect(broker.kafka_addr());
    create_topic(&mut c, "pipe", 1);
    let ids: Vec<i32> = (0..50)
        .map(|i| {
            let req = ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic_name("pipe"))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records(&[&format!("m{i}")])))])]);
            c.send(ApiKey::Produce, 9, &req)
        })
        .collect();
    for (i, id) in ids.into_iter().enumerate() {
        let (got, mut body) = c.recv(ApiKey::Produce, 9);
        assert_eq!(got, id);
        let resp = ProduceResponse::decode(&mut body, 9).unwrap();
        assert_eq!(
            resp.responses[0].partition_responses[0].base_offset,
            i as i64
        );
    }
    broker.shutdown().unwrap();
}

#[test]
fn bad_requests_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut good = KafkaClient::connect(broker.kafka_addr());
    // An API this broker does not serve (AddPartitionsToTxn, key 24).
    let mut unserved = KafkaClient::connect(broker.kafka_addr());
    unserved.send_raw(&[0, 24, 0, 3, 0, 0, 0, 1, 0, 0]);
    assert!(unserved.is_closed());
    // A frame announcing more than the maximum request size.
    let mut huge = KafkaClient::connect(broker.kafka_addr());
    huge.stream
        .write_all(&(200 * 1024 * 1024i32).to_be_bytes())
        .unwrap();
    assert!(huge.is_closed());
    // A negative length.
    let mut negative = KafkaClient::connect(broker.kafka_addr());
    negative.stream.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(negative.is_closed());
    // Garbage that parses as a frame but not as a request.
    let mut garbage = KafkaClient::connect(broker.kafka_addr());
    garbage.send_raw(&[0, 3, 0, 12, 0, 0, 0, 1, 0x7f, 0x7f, 0x7f]);
    assert!(garbage.is_closed());
    // The well-behaved client is still served.
    let resp: ApiVersionsResponse =
        good.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    broker.shutdown().unwrap();
}

#[test]
fn a_request_sent_byte_by_byte_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut c = KafkaClient::connect(broker.kafka_addr());
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(0)
        .with_correlation_id(77)
        .encode(&mut buf, 1)
        .unwrap();
    let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&buf);
    for b in frame {
        c.stream.write_all(&[b]).unwrap();
        c.stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let (id, _) = c.recv(ApiKey::ApiVersions, 0);
    assert_eq!(id, 77);
    broker.shutdown().unwrap();
}

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr_before;
    {
        let broker = start(dir.path());
        addr_before = broker.kafka_addr();
        let mut c = KafkaClient::connect(broker.kafka_addr());
        create_topic(&mut c, "durable", 1);
        produce(&mut c, "durable", &["a", "b"]);
        produce(&mut c, "durable", &["c"]);
        broker.shutdown().unwrap();
    }
    let broker = start(dir.path());
    assert_ne!(broker.kafka_addr().port(), 0);
    let _ = addr_before;
    let mut c = KafkaClient::connect(broker.kafka_addr());
    let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_request("durable", 0, 0));
    assert_eq!(
        fetched_values(&resp),
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
    assert_eq!(produce(&mut c, "durable", &["d"]), 3);
    broker.shutdown().unwrap();
}

#[test]
fn a_resent_idempotent_produce_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut c = KafkaClient::connect(broker.kafka_addr());
    create_topic(&mut c, "idem", 1);
    let init: InitProducerIdResponse = c.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    let batch = |seq: i32, value: &str| {
        BatchBuilder::new()
            .producer(init.producer_id.0, init.producer_epoch, seq)
            .record(NewRecord {
                timestamp: 1,
                value: Some(Bytes::from(value.to_owned())),
                ..Default::default()
            })
            .build()
    };
    let send = |c: &mut KafkaClient, records: Bytes| {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name("idem"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records))])]);
        let resp: ProduceResponse = c.call(ApiKey::Produce, 9, &req);
        let p = &resp.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    assert_eq!(send(&mut c, batch(0, "first")), (0, 0));
    assert_eq!(send(&mut c, batch(1, "second")), (0, 1));
    // The same request again, as a producer retrying after a lost response.
    assert_eq!(send(&mut c, batch(1, "second")), (0, 1));
    // A gap is refused.
    assert_eq!(
        send(&mut c, batch(5, "gap")).0,
        strikemq_codec::ResponseError::OutOfOrderSequenceNumber.code()
    );
    let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_request("idem", 0, 0));
    assert_eq!(
        fetched_values(&resp),
        vec![(0, "first".to_owned()), (1, "second".to_owned())]
    );
    broker.shutdown().unwrap();
}

#[test]
fn connections_beyond_the_limit_are_closed_and_the_rest_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = strikemq::Broker::builder()
        .bind("127.0.0.1".parse().unwrap())
        .port(0)
        .http_port(0)
        .io_threads(2)
        .max_connections(3)
        .data_dir(dir.path())
        .start()
        .unwrap();
    let mut open: Vec<KafkaClient> = (0..3)
        .map(|_| KafkaClient::connect(broker.kafka_addr()))
        .collect();
    for c in &mut open {
        let r: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0);
    }
    let mut extra = KafkaClient::connect(broker.kafka_addr());
    extra.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(extra.is_closed());
    drop(open.pop());
    // The slot frees up once the broker has seen the close.
    wait_until(Duration::from_secs(10), "a freed connection slot", || {
        let mut c = KafkaClient::connect(broker.kafka_addr());
        c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        let mut len = [0u8; 4];
        c.stream.read_exact(&mut len).ok()
    });
    broker.shutdown().unwrap();
}

#[test]
fn a_client_that_does_not_read_cannot_stall_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut c = KafkaClient::connect(broker.kafka_addr());
    create_topic(&mut c, "big", 1);
    let value = "x".repeat(60_000);
    for _ in 0..4 {
        produce(&mut c, "big", &[&value]);
    }
    // 300 fetches of ~240 KB each, none read: far more than any socket buffer.
    let mut lazy = KafkaClient::connect(broker.kafka_addr());
    let ids: Vec<i32> = (0..300)
        .map(|_| lazy.send(ApiKey::Fetch, 12, &fetch_request("big", 0, 0)))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Others are served meanwhile.
    let mut other = KafkaClient::connect(broker.kafka_addr());
    assert_eq!(produce(&mut other, "big", &["still served"]), 4);
    // The lazy client finally reads: every answer, in order.
    for id in ids {
        let (got, _) = lazy.recv(ApiKey::Fetch, 12);
        assert_eq!(got, id);
    }
    broker.shutdown().unwrap();
}

#[test]
fn thousands_of_idle_connections_and_a_connection_storm_leave_the_broker_serving() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    // 2,000 clients connect, each asks once and then sits idle (as pooled clients do).
    let mut idle: Vec<KafkaClient> = (0..2000)
        .map(|_| KafkaClient::connect(broker.kafka_addr()))
        .collect();
    for c in idle.iter_mut() {
        c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    }
    for c in idle.iter_mut() {
        let (id, _) = c.recv(ApiKey::ApiVersions, 3);
        assert_eq!(id, 1);
    }
    // A storm: 1,000 connections opened and dropped at once, half of them mid-request.
    for i in 0..1000 {
        let mut c = KafkaClient::connect(broker.kafka_addr());
        if i % 2 == 0 {
            // The start of a 50-byte frame, never finished.
            c.stream.write_all(&[0, 0, 0, 50, 0, 18]).unwrap();
        }
    }
    // A new client and every idle one are still answered, in order.
    let mut fresh = KafkaClient::connect(broker.kafka_addr());
    create_topic(&mut fresh, "storm", 1);
    assert_eq!(produce(&mut fresh, "storm", &["after the storm"]), 0);
    for c in idle.iter_mut().step_by(97) {
        let r: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0);
    }
    drop(idle);
    broker.shutdown().unwrap();
}
