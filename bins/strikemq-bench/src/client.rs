//! A small blocking Kafka client: one TCP connection, requests encoded once and re-sent with a fresh
//! correlation id, so the tool spends its time waiting on the broker and not in its own encoder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Where the correlation id sits in a frame: after the length prefix, api key and version.
const CORRELATION_AT: usize = 8;

/// Resolves `host:port` to the first address.
pub(crate) fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .with_context(|| format!("{addr} resolves to no address"))
}

/// Versions both this tool and the broker speak.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Versions {
    pub(crate) produce: i16,
    pub(crate) fetch: i16,
    pub(crate) metadata: i16,
    pub(crate) create_topics: i16,
}

/// One connection to a broker (or to the baseline server).
pub(crate) struct Conn {
    stream: TcpStream,
    next_id: i32,
    buf: BytesMut,
}

impl Conn {
    pub(crate) fn connect(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            stream,
            next_id: 1,
            buf: BytesMut::with_capacity(64 * 1024),
        })
    }

    /// Sends a frame built by [`encode_request`], patching in the next correlation id.
    pub(crate) fn send(&mut self, frame: &mut [u8]) -> Result<i32> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        frame[CORRELATION_AT..CORRELATION_AT + 4].copy_from_slice(&id.to_be_bytes());
        self.stream.write_all(frame).context("sending a request")?;
        Ok(id)
    }

    /// Reads one response frame; returns its correlation id and the bytes after it.
    pub(crate) fn recv(&mut self) -> Result<(i32, Bytes)> {
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .context("reading a response (the broker closed the connection?)")?;
        let len = i32::from_be_bytes(len);
        if !(4..=1 << 30).contains(&len) {
            bail!("response frame of {len} bytes");
        }
        self.buf.resize(len as usize, 0);
        self.stream.read_exact(&mut self.buf)?;
        let mut payload = self.buf.split().freeze();
        let id = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        bytes::Buf::advance(&mut payload, 4);
        Ok((id, payload))
    }

    /// Reads a response and checks it answers `id`.
    pub(crate) fn recv_for(&mut self, id: i32) -> Result<Bytes> {
        let (got, body) = self.recv()?;
        if got != id {
            bail!("response to request {got} while waiting for {id}: responses out of order");
        }
        Ok(body)
    }

    /// One request, one decoded response.
    pub(crate) fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp> {
        let mut frame = encode_request(key, version, body)?;
        let id = self.send(&mut frame)?;
        let mut bytes = self.recv_for(id)?;
        strip_tagged_header(key, version, &mut bytes)?;
        Resp::decode(&mut bytes, version).with_context(|| format!("decoding a {key:?} response"))
    }

    /// Finds the versions to use with ApiVersions.
    pub(crate) fn negotiate(&mut self) -> Result<Versions> {
        let resp: ApiVersionsResponse = self.call(
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("strikemq-bench"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION"))),
        )?;
        if resp.error_code != 0 {
            bail!("ApiVersions failed with error {}", resp.error_code);
        }
        let pick = |key: ApiKey, ours: std::ops::RangeInclusive<i16>| -> Result<i16> {
            let theirs = resp
                .api_keys
                .iter()
                .find(|k| k.api_key == key as i16)
                .with_context(|| format!("the broker does not serve {key:?}"))?;
            let v = theirs.max_version.min(*ours.end());
            if v < theirs.min_version.max(*ours.start()) {
                bail!(
                    "no common {key:?} version: broker {}..={}, tool {ours:?}",
                    theirs.min_version,
                    theirs.max_version
                );
            }
            Ok(v)
        };
        Ok(Versions {
            // Produce 13 and Fetch 13 name topics by id; the tool names them.
            produce: pick(ApiKey::Produce, 3..=11)?,
            fetch: pick(ApiKey::Fetch, 4..=12)?,
            metadata: pick(ApiKey::Metadata, 1..=12)?,
            create_topics: pick(ApiKey::CreateTopics, 2..=7)?,
        })
    }

    /// Creates `topic` with `partitions` partitions, or checks an existing one has enough, then
    /// waits until every partition has a leader.
    pub(crate) fn ensure_topic(
        &mut self,
        v: &Versions,
        topic: &str,
        partitions: i32,
    ) -> Result<()> {
        use kafka_protocol::messages::create_topics_request::CreatableTopic;
        let name = TopicName(StrBytes::from_string(topic.to_owned()));
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name.clone())
                .with_num_partitions(partitions)
                .with_replication_factor(1)]);
        let resp: CreateTopicsResponse = self.call(ApiKey::CreateTopics, v.create_topics, &req)?;
        for t in &resp.topics {
            // 36: TOPIC_ALREADY_EXISTS; checked below through Metadata.
            if t.error_code != 0 && t.error_code != 36 {
                bail!("creating {topic}: error code {}", t.error_code);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Metadata may name leaders before the leader serves the partitions (Kafka's KRaft
            // propagation), so also ask each partition for its end offset.
            let ready = self.leaders(v, topic)?;
            if ready >= partitions as usize && self.serving(topic, partitions)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{topic} has {ready} partitions with a leader, {partitions} wanted");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many partitions of `topic` have a leader.
    fn leaders(&mut self, v: &Versions, topic: &str) -> Result<usize> {
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        let req =
            MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.to_owned()))))]));
        let resp: MetadataResponse = self.call(ApiKey::Metadata, v.metadata, &req)?;
        Ok(resp
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.error_code == 0 && p.leader_id.0 >= 0)
            .count())
    }

    /// Whether every partition answers ListOffsets without an error.
    fn serving(&mut self, topic: &str, partitions: i32) -> Result<bool> {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(-1)
                    })
                    .collect(),
            )]);
        let resp: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 1, &req)?;
        Ok(resp
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.error_code == 0)
            .count()
            >= partitions as usize)
    }

    /// A round trip that proves every earlier request on this connection was handled: brokers
    /// answer a connection's requests in order.
    pub(crate) fn barrier(&mut self) -> Result<()> {
        let _: ApiVersionsResponse =
            self.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
        Ok(())
    }
}

/// A whole request frame, length prefix included, with correlation id 0 (patched by [`Conn::send`]).
pub(crate) fn encode_request<R: Encodable>(key: ApiKey, version: i16, body: &R) -> Result<Vec<u8>> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0u8; 4]);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_client_id(Some(StrBytes::from_static_str("strikemq-bench")))
        .encode(&mut buf, key.request_header_version(version))?;
    body.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.to_vec())
}

/// Skips what a flexible response header has after the correlation id: its tagged-field section,
/// a varint count followed by (tag, size, bytes) triples.
pub(crate) fn strip_tagged_header(key: ApiKey, version: i16, body: &mut Bytes) -> Result<()> {
    if key.response_header_version(version) == 0 {
        return Ok(());
    }
    let mut at = 0;
    let count = varint(body, &mut at)?;
    for _ in 0..count {
        varint(body, &mut at)?;
        let size = varint(body, &mut at)? as usize;
        at += size;
    }
    if at > body.len() {
        bail!("truncated response header");
    }
    bytes::Buf::advance(body, at);
    Ok(())
}

fn varint(b: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at).context("truncated response header")?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("malformed varint in a response header")
}
