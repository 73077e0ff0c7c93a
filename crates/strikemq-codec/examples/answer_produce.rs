//! Decodes a Produce request that kcat really sent (captured off the wire, length prefix and all),
//! walks its record batches, then encodes the response a broker would give: the smallest possible
//! Kafka broker, without a socket.
//!
//! Run with `cargo run -p strikemq-codec --example answer_produce`.

use bytes::BytesMut;
use strikemq_codec::batch::{batches, decode_records};
use strikemq_codec::frame::cut_frame;
use strikemq_codec::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use strikemq_codec::messages::{ProduceResponse, RequestKind, ResponseKind};
use strikemq_codec::request::{decode_request, RequestBody};
use strikemq_codec::response::{encode_response, Response, ResponseBody};

/// Produce v7 from kcat 1.7 (librdkafka 2.x): one batch with one record for topic `golden-kcat`.
const CAPTURED: &[u8] = include_bytes!("../tests/golden/kcat/00-Produce-v7.bin");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The captured bytes are the frame body; put the 4-byte length prefix back in front, as it
    // arrives on a socket, and let the codec cut the frame out of the read buffer.
    let mut read_buf = BytesMut::new();
    read_buf.extend_from_slice(&(CAPTURED.len() as i32).to_be_bytes());
    read_buf.extend_from_slice(CAPTURED);
    let frame = cut_frame(&mut read_buf, 100 << 20)?.ok_or("the frame is incomplete")?;
    let request = decode_request(frame)?;
    println!(
        "{:?} v{} correlation id {} from {:?}",
        request.api_key, request.api_version, request.correlation_id, request.client_id
    );
    let RequestBody::Kafka(RequestKind::Produce(produce)) = &request.body else {
        return Err("not a Produce request".into());
    };

    // Our "log" starts every partition at offset 0.
    let mut topics = Vec::new();
    for topic in &produce.topic_data {
        let mut partitions = Vec::new();
        for partition in &topic.partition_data {
            let records = partition.records.as_deref().unwrap_or_default();
            let mut count = 0;
            for batch in batches(records) {
                let batch = batch?; // CRC32C checked here
                for record in decode_records(&batch)? {
                    println!(
                        "  {}[{}] key={:?} value={:?} timestamp={}",
                        topic.name.as_str(),
                        partition.index,
                        record.key.as_deref().map(String::from_utf8_lossy),
                        record.value.as_deref().map(String::from_utf8_lossy),
                        record.timestamp
                    );
                    count += 1;
                }
            }
            assert!(count > 0, "the captured request holds records");
            partitions.push(
                PartitionProduceResponse::default()
                    .with_index(partition.index)
                    .with_base_offset(0),
            );
        }
        topics.push(
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions),
        );
    }

    let response = Response {
        api_key: request.api_key,
        api_version: request.api_version,
        correlation_id: request.correlation_id,
        body: ResponseBody::Kafka(ResponseKind::Produce(
            ProduceResponse::default().with_responses(topics),
        )),
    };
    let mut wire = BytesMut::new();
    encode_response(&response, &mut wire)?;
    // A response frame: length prefix, then the correlation id the client will match.
    let len = i32::from_be_bytes(wire[..4].try_into()?);
    assert_eq!(len as usize, wire.len() - 4);
    assert_eq!(
        i32::from_be_bytes(wire[4..8].try_into()?),
        request.correlation_id
    );
    println!(
        "response: {} bytes on the wire: {:02x?}",
        wire.len(),
        &wire[..]
    );
    Ok(())
}
