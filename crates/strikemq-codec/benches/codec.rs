//! The codec's hot path: cutting frames, decoding a Produce request, validating a batch, encoding
//! a Fetch response.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strikemq_codec::batch::{BatchBuilder, NewRecord, RecordBatch};
use strikemq_codec::frame::cut_frame;
use strikemq_codec::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use strikemq_codec::messages::produce_request::{PartitionProduceData, TopicProduceData};
use strikemq_codec::messages::{
    ApiKey, FetchResponse, ProduceRequest, RequestHeader, ResponseKind, TopicName,
};
use strikemq_codec::output::Output;
use strikemq_codec::request::decode_request;
use strikemq_codec::response::{encode_response, encode_response_to, Response, ResponseBody};
use strikemq_codec::{Encodable, StrBytes};

fn batch(records: usize, size: usize) -> Bytes {
    let mut b = BatchBuilder::new().producer(1, 0, 0);
    for i in 0..records {
        b = b.record(NewRecord {
            timestamp: i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'v'; size])),
            headers: vec![],
        });
    }
    b.build()
}

fn produce_frame(records: Bytes) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(9)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bench")))
        .encode(&mut buf, ApiKey::Produce.request_header_version(9))
        .unwrap();
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("bench")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
        .encode(&mut buf, 9)
        .unwrap();
    buf.freeze()
}

fn benches(c: &mut Criterion) {
    let b16 = batch(16, 1000);
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(b16.len() as u64));
    g.bench_function("validate 16 KiB batch (CRC32C)", |b| {
        b.iter(|| RecordBatch::parse(&b16).unwrap().records_count())
    });
    let frame = produce_frame(b16.clone());
    g.bench_function("decode 16 KiB Produce request", |b| {
        b.iter(|| decode_request(frame.clone()).unwrap())
    });
    let mut wire = BytesMut::new();
    for _ in 0..64 {
        wire.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        wire.extend_from_slice(&frame);
    }
    let wire = wire.freeze();
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("cut 64 frames", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while let Some(f) = cut_frame(&mut buf, 1 << 30).unwrap() {
                n += f.len();
            }
            n
        })
    });
    // A Fetch answer of 8 partitions x 1 MiB: the generic encoder copies every record set into
    // the output buffer; the shared one queues them by reference.
    let set = Bytes::from(vec![7u8; 1 << 20]);
    let fetch = fetch_response(&set);
    g.throughput(Throughput::Bytes(8 << 20));
    g.bench_function("encode 8 MiB Fetch response (copied)", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            encode_response(&fetch, &mut out).unwrap();
            out.len()
        })
    });
    g.bench_function("encode 8 MiB Fetch response (shared)", |b| {
        b.iter(|| {
            let mut out = Output::new();
            encode_response_to(&fetch, &mut out).unwrap();
            out.len()
        })
    });
    g.finish();
}

fn fetch_response(set: &Bytes) -> Response {
    let partitions = (0..8)
        .map(|p| {
            PartitionData::default()
                .with_partition_index(p)
                .with_high_watermark(1000)
                .with_last_stable_offset(1000)
                .with_log_start_offset(0)
                .with_records(Some(set.clone()))
        })
        .collect();
    Response {
        api_key: ApiKey::Fetch,
        api_version: 12,
        correlation_id: 1,
        body: ResponseBody::Kafka(ResponseKind::Fetch(
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("bench")))
                .with_partitions(partitions)]),
        )),
    }
}

criterion_group!(codec, benches);
criterion_main!(codec);
