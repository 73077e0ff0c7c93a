//! The real broker on a free port, driven over TCP with hand-built requests: framing, ordering,
//! long-poll wake-ups, connection-level errors and restarts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use strikemq_codec::batch::{BatchBuilder, NewRecord};
use strikemq_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::*;
use strikemq_codec::{Decodable, Encodable, StrBytes};

struct Client {
    stream: TcpStream,
    next_id: i32,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        // A generous bound: a lost wake-up or a hung broker fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client { stream, next_id: 1 }
    }

    fn send<R: Encodable>(&mut self, key: ApiKey, version: i16, body: &R) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")))
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        self.send_raw(&buf);
        id
    }

    fn send_raw(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).unwrap();
    }

    /// Reads one response; returns its correlation id and body bytes.
    fn recv(&mut self, key: ApiKey, version: i16) -> (i32, Bytes) {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).unwrap();
        let mut buf = Bytes::from(buf);
        let header =
            ResponseHeader::decode(&mut buf, key.response_header_version(version)).unwrap();
        (header.correlation_id, buf)
    }

    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        let id = self.send(key, version, body);
        let (got, mut bytes) = self.recv(key, version);
        assert_eq!(got, id);
        Resp::decode(&mut bytes, version).unwrap()
    }

    /// True when the broker closed the connection.
    fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn records(values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new();
    for v in values {
        b = b.record(NewRecord {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(v.to_string())),
            headers: vec![],
        });
    }
    b.build()
}

fn produce(c: &mut Client, topic: &str, values: &[&str]) -> i64 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records(values)))])]);
    let resp: ProduceResponse = c.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

fn fetch_req(topic: &str, offset: i64, wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

fn values_of(resp: &FetchResponse) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let records = resp.responses[0].partitions[0].records.clone().unwrap();
    for b in strikemq_codec::batch::batches(&records) {
        for r in strikemq_codec::batch::decode_records(&b.unwrap()).unwrap() {
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}

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

fn create_topic(c: &mut Client, topic: &str) {
    let req = CreateTopicsRequest::default().with_topics(vec![
        strikemq_codec::messages::create_topics_request::CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let resp: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req);
    assert_eq!(resp.topics[0].error_code, 0);
}

#[test]
fn long_poll_fetch_wakes_when_another_connection_produces() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut consumer = Client::connect(broker.kafka_addr());
    let mut producer = Client::connect(broker.kafka_addr());
    create_topic(&mut producer, "waits");
    // Far longer than the read timeout: only a wake-up can answer it in time.
    let fetch_id = consumer.send(ApiKey::Fetch, 12, &fetch_req("waits", 0, 120_000));
    // A request behind the parked fetch must wait for it: responses keep request order.
    let versions_id = consumer.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(produce(&mut producer, "waits", &["hello", "world"]), 0);
    let (id, mut body) = consumer.recv(ApiKey::Fetch, 12);
    assert_eq!(id, fetch_id);
    let resp = FetchResponse::decode(&mut body, 12).unwrap();
    assert_eq!(
        values_of(&resp),
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
    let mut c = Client::connect(broker.kafka_addr());
    create_topic(&mut c, "pipe");
    let ids: Vec<i32> = (0..50)
        .map(|i| {
            let req = ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(name("pipe"))
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
    let mut good = Client::connect(broker.kafka_addr());
    // An API this broker does not serve (AddPartitionsToTxn, key 24).
    let mut unserved = Client::connect(broker.kafka_addr());
    unserved.send_raw(&[0, 24, 0, 3, 0, 0, 0, 1, 0, 0]);
    assert!(unserved.is_closed());
    // A frame announcing more than the maximum request size.
    let mut huge = Client::connect(broker.kafka_addr());
    huge.stream
        .write_all(&(200 * 1024 * 1024i32).to_be_bytes())
        .unwrap();
    assert!(huge.is_closed());
    // A negative length.
    let mut negative = Client::connect(broker.kafka_addr());
    negative.stream.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(negative.is_closed());
    // Garbage that parses as a frame but not as a request.
    let mut garbage = Client::connect(broker.kafka_addr());
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
    let mut c = Client::connect(broker.kafka_addr());
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
        let mut c = Client::connect(broker.kafka_addr());
        create_topic(&mut c, "durable");
        produce(&mut c, "durable", &["a", "b"]);
        produce(&mut c, "durable", &["c"]);
        broker.shutdown().unwrap();
    }
    let broker = start(dir.path());
    assert_ne!(broker.kafka_addr().port(), 0);
    let _ = addr_before;
    let mut c = Client::connect(broker.kafka_addr());
    let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_req("durable", 0, 0));
    assert_eq!(
        values_of(&resp),
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
    assert_eq!(produce(&mut c, "durable", &["d"]), 3);
    broker.shutdown().unwrap();
}

#[test]
fn a_resent_idempotent_produce_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut c = Client::connect(broker.kafka_addr());
    create_topic(&mut c, "idem");
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
    let send = |c: &mut Client, records: Bytes| {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name("idem"))
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
    let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_req("idem", 0, 0));
    assert_eq!(
        values_of(&resp),
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
    let mut open: Vec<Client> = (0..3)
        .map(|_| Client::connect(broker.kafka_addr()))
        .collect();
    for c in &mut open {
        let r: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0);
    }
    let mut extra = Client::connect(broker.kafka_addr());
    extra.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(extra.is_closed());
    drop(open.pop());
    // The slot frees up once the broker has seen the close.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Client::connect(broker.kafka_addr());
        c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        let mut len = [0u8; 4];
        if c.stream.read_exact(&mut len).is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no slot freed");
        std::thread::sleep(Duration::from_millis(20));
    }
    broker.shutdown().unwrap();
}

#[test]
fn a_client_that_does_not_read_cannot_stall_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let mut c = Client::connect(broker.kafka_addr());
    create_topic(&mut c, "big");
    let value = "x".repeat(60_000);
    for _ in 0..4 {
        produce(&mut c, "big", &[&value]);
    }
    // 300 fetches of ~240 KB each, none read: far more than any socket buffer.
    let mut lazy = Client::connect(broker.kafka_addr());
    let ids: Vec<i32> = (0..300)
        .map(|_| lazy.send(ApiKey::Fetch, 12, &fetch_req("big", 0, 0)))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Others are served meanwhile.
    let mut other = Client::connect(broker.kafka_addr());
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
    let mut idle: Vec<Client> = (0..2000)
        .map(|_| Client::connect(broker.kafka_addr()))
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
        let mut c = Client::connect(broker.kafka_addr());
        if i % 2 == 0 {
            // The start of a 50-byte frame, never finished.
            c.stream.write_all(&[0, 0, 0, 50, 0, 18]).unwrap();
        }
    }
    // A new client and every idle one are still answered, in order.
    let mut fresh = Client::connect(broker.kafka_addr());
    create_topic(&mut fresh, "storm");
    assert_eq!(produce(&mut fresh, "storm", &["after the storm"]), 0);
    for c in idle.iter_mut().step_by(97) {
        let r: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0);
    }
    drop(idle);
    broker.shutdown().unwrap();
}
