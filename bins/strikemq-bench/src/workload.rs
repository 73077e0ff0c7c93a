//! Building the traffic: record values, batches, Produce and Fetch requests.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::client::{self, encode_request, Conn, Versions};

/// Compression of the produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// A topic name no earlier run used.
pub(crate) fn fresh_topic(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// A record value of `size` bytes: text-like, so compression has something to do but not
/// everything (a tenth of it varies per record).
pub(crate) fn value(size: usize, seed: u64) -> Bytes {
    const TEXT: &[u8] = b"the quick brown fox jumps over the lazy dog; ";
    let mut v = Vec::with_capacity(size);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..size {
        if i % 10 == 0 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(b'a' + (x % 26) as u8);
        } else {
            v.push(TEXT[i % TEXT.len()]);
        }
    }
    Bytes::from(v)
}

/// One magic-v2 batch holding `values`, as a non-idempotent producer sends it.
pub(crate) fn batch(values: &[Bytes], codec: Codec) -> Result<Bytes> {
    // Base sequence -1, no producer: what a non-idempotent producer sends.
    producer_batch(values, codec, -1, -1, -1, false)
}

/// One magic-v2 batch holding `values` from producer `producer_id` at `epoch`, its records
/// numbered from `base_sequence`, transactional or not.
pub(crate) fn producer_batch(
    values: &[Bytes],
    codec: Codec,
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    transactional: bool,
) -> Result<Bytes> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence stays the same.
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: now,
            key: None,
            value: Some(v.clone()),
            headers: Default::default(),
        })
        .collect();
    let compression = match codec {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .context("encoding a record batch")?;
    Ok(buf.freeze())
}

/// A whole Produce frame for one partition.
pub(crate) fn produce_request(
    v: &Versions,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> Result<Vec<u8>> {
    transactional_produce_request(v, topic, partition, acks, records, None)
}

/// A whole Produce frame for one partition, of a transactional producer when `transactional_id`
/// is given.
pub(crate) fn transactional_produce_request(
    v: &Versions,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
    transactional_id: Option<&str>,
) -> Result<Vec<u8>> {
    let req = ProduceRequest::default()
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.to_owned()))),
        )
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    encode_request(ApiKey::Produce, v.produce, &req)
}

/// One Fetch of `partitions` (index, offset) of `topic`; returns each partition's record bytes.
/// Errors on any partition error.
pub(crate) fn fetch(
    conn: &mut Conn,
    v: &Versions,
    topic: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    partition_max_bytes: i32,
) -> Result<Vec<(i32, Bytes)>> {
    let mut frame = fetch_request(v, topic, partitions, max_wait_ms, partition_max_bytes)?;
    let id = conn.send(&mut frame)?;
    let body = conn.recv_for(id)?;
    decode_fetch(v, body)
}

pub(crate) fn fetch_request(
    v: &Versions,
    topic: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    partition_max_bytes: i32,
) -> Result<Vec<u8>> {
    let req = FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(i32::MAX)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, offset)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )]);
    encode_request(ApiKey::Fetch, v.fetch, &req)
}

pub(crate) fn decode_fetch(v: &Versions, mut body: Bytes) -> Result<Vec<(i32, Bytes)>> {
    client::strip_tagged_header(ApiKey::Fetch, v.fetch, &mut body)?;
    let resp = FetchResponse::decode(&mut body, v.fetch).context("decoding Fetch")?;
    if resp.error_code != 0 {
        bail!("fetch failed with error code {}", resp.error_code);
    }
    let mut out = Vec::new();
    for t in resp.responses {
        for p in t.partitions {
            if p.error_code != 0 {
                bail!(
                    "fetch of partition {} failed with error code {}",
                    p.partition_index,
                    p.error_code
                );
            }
            if let Some(r) = p.records {
                out.push((p.partition_index, r));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_values_is_one_valid_batch_for_every_codec() {
        let values: Vec<_> = (0..16).map(|i| value(1024, i)).collect();
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let b = batch(&values, codec).unwrap();
            let parsed: Vec<_> = strikemq_codec::batch::batches(&b)
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(parsed.len(), 1, "{codec:?}");
            assert_eq!(parsed[0].records_count(), 16);
            assert_eq!(parsed[0].size(), b.len());
            let records = strikemq_codec::batch::decode_records(&parsed[0]).unwrap();
            assert_eq!(records[3].value.as_ref(), Some(&values[3]));
        }
    }
}
