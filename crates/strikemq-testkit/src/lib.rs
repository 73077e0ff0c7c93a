//! # strikemq-testkit
//!
//! What StrikeMQ's Rust tests share, so that each test file does not grow its own client:
//!
//! - [`KafkaClient`]: a blocking Kafka wire client over one TCP connection, speaking the message
//!   structs of `strikemq-codec` at whatever version the test names (pipelining, raw frames and
//!   closed-connection checks included);
//! - [`http`]: one HTTP/1.1 request to the REST API, the answer as a status and JSON;
//! - [`wait_until`]: polls a condition until it holds or a deadline passes, for tests that
//!   would otherwise sleep and hope;
//! - request and record helpers ([`produce`], [`create_topic`], [`fetch_request`],
//!   [`fetched_values`], [`records`]).
//!
//! Every read has a generous timeout: a lost wake-up or a hung broker fails the test instead of
//! hanging it. Not published: it is for this workspace's tests.
//!
//! ```no_run
//! use std::time::Duration;
//! use strikemq_testkit::{create_topic, produce, wait_until, KafkaClient};
//!
//! let addr = "127.0.0.1:9092".parse().unwrap();
//! let mut client = KafkaClient::connect(addr);
//! create_topic(&mut client, "orders", 1);
//! assert_eq!(produce(&mut client, "orders", &["created", "paid"]), 0);
//! // Instead of sleeping: poll until the condition holds (or fail after the timeout).
//! let mut polls = 0;
//! wait_until(Duration::from_secs(5), "three polls", || {
//!     polls += 1;
//!     (polls == 3).then_some(())
//! });
//! ```

#![deny(missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use strikemq_codec::batch::{BatchBuilder, NewRecord};
use strikemq_codec::messages::create_topics_request::CreatableTopic;
use strikemq_codec::messages::fetch_request::{FetchPartition, FetchTopic};
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use strikemq_codec::{Decodable, Encodable, StrBytes};

/// How long any read waits before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A blocking Kafka client on one connection.
pub struct KafkaClient {
    /// The connection, for tests that write or read bytes themselves.
    pub stream: TcpStream,
    next_id: i32,
}

impl KafkaClient {
    /// Connects, with [`READ_TIMEOUT`] on reads.
    pub fn connect(addr: SocketAddr) -> KafkaClient {
        let stream = TcpStream::connect(addr).expect("connect to the broker");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set a read timeout");
        KafkaClient { stream, next_id: 1 }
    }

    /// Sends a request without waiting for its answer; returns its correlation id.
    pub fn send<R: Encodable>(&mut self, key: ApiKey, version: i16, body: &R) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("strikemq-testkit")))
            .encode(&mut buf, key.request_header_version(version))
            .expect("encode a request header");
        body.encode(&mut buf, version).expect("encode a request");
        self.send_raw(&buf);
        id
    }

    /// Sends `payload` as one frame (its length prefixed).
    pub fn send_raw(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).expect("write a frame");
    }

    /// Reads one response to a request of `key` at `version`: its correlation id and body.
    pub fn recv(&mut self, key: ApiKey, version: i16) -> (i32, Bytes) {
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .expect("read a frame length");
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).expect("read a frame");
        let mut buf = Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, key.response_header_version(version))
            .expect("decode a response header");
        (header.correlation_id, buf)
    }

    /// Sends a request and decodes its answer.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        let id = self.send(key, version, body);
        let (got, mut bytes) = self.recv(key, version);
        assert_eq!(got, id, "answers come in request order");
        Resp::decode(&mut bytes, version).expect("decode a response")
    }

    /// True when the broker closed the connection (or reading fails).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// A topic name as requests carry it.
pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

/// One record batch of unkeyed records with these values.
pub fn records(values: &[&str]) -> Bytes {
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

/// Creates a topic (CreateTopics v7) and checks it was created.
pub fn create_topic(c: &mut KafkaClient, topic: &str, partitions: i32) {
    let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(topic_name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)]);
    let resp: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req);
    assert_eq!(resp.topics[0].error_code, 0, "create {topic}");
}

/// Produces `values` to partition 0 with acks=-1 (Produce v9); returns the base offset.
pub fn produce(c: &mut KafkaClient, topic: &str, values: &[&str]) -> i64 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records(values)))])]);
    let resp: ProduceResponse = c.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce to {topic}");
    p.base_offset
}

/// A Fetch of partition 0 from `offset`, waiting up to `wait_ms` for one byte.
pub fn fetch_request(topic: &str, offset: i64, wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

/// The (offset, value) of every record of the first partition of a Fetch response.
pub fn fetched_values(resp: &FetchResponse) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    for b in strikemq_codec::batch::batches(&records) {
        let b = b.expect("a valid batch");
        for r in strikemq_codec::batch::decode_records(&b).expect("decodable records") {
            let value = r.value.map(|v| v.to_vec()).unwrap_or_default();
            out.push((r.offset, String::from_utf8_lossy(&value).into_owned()));
        }
    }
    out
}

/// Polls `f` every few milliseconds until it returns `Some`, and returns that; fails the test
/// with `what` if `timeout` passes first.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// An HTTP answer: the status, the `Allow` header if any, and the body (JSON when it parses,
/// else a JSON string of the text).
#[derive(Debug)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The `Allow` header (405 answers).
    pub allow: Option<String>,
    /// The body.
    pub body: serde_json::Value,
}

/// Sends one HTTP/1.1 request (with `Connection: close`) and reads the whole answer.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> HttpAnswer {
    let mut stream = TcpStream::connect(addr).expect("connect to the REST API");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("set a read timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("write the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("an HTTP answer with headers");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut content_type = String::new();
    let mut allow = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = value.trim().to_owned(),
                "allow" => allow = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let body = serde_json::from_str(body).unwrap_or_else(|_| serde_json::Value::from(body));
    HttpAnswer {
        status,
        content_type,
        allow,
        body,
    }
}
