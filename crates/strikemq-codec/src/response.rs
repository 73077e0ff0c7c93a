//! Encoding responses into frames.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use crate::output::Output;

/// A response ready to encode.
#[derive(Debug, Clone)]
pub struct Response {
    /// API of the request answered.
    pub api_key: ApiKey,
    /// Version to encode at (the request's, except for the ApiVersions fallback).
    pub api_version: i16,
    /// The request's correlation id.
    pub correlation_id: i32,
    /// The body.
    pub body: ResponseBody,
}

/// A response body.
#[derive(Debug, Clone)]
#[non_exhaustive]
// Built and moved once per request; boxing the common variant would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
pub enum ResponseBody {
    /// A kafka-protocol message struct.
    Kafka(ResponseKind),
    /// Bytes already encoded by hand (the body only, without the response header).
    Raw(Bytes),
}

/// An error while encoding a response; a broker bug, never the client's doing.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api:?} v{version} response: {reason}")]
pub struct EncodeError {
    /// API of the response.
    pub api: ApiKey,
    /// Version it was encoded at.
    pub version: i16,
    /// What the encoder said.
    pub reason: String,
}

/// Appends the response as a complete frame (length prefix, header, body) to `out`.
pub fn encode_response(resp: &Response, out: &mut BytesMut) -> Result<(), EncodeError> {
    let err = |reason: String| EncodeError {
        api: resp.api_key,
        version: resp.api_version,
        reason,
    };
    let start = out.len();
    out.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(resp.correlation_id);
    header
        .encode(out, resp.api_key.response_header_version(resp.api_version))
        .map_err(|e| err(format!("{e:#}")))?;
    match &resp.body {
        ResponseBody::Kafka(kind) => kind
            .encode(out, resp.api_version)
            .map_err(|e| err(format!("{e:#}")))?,
        ResponseBody::Raw(bytes) => out.extend_from_slice(bytes),
    }
    let len = out.len() - start - 4;
    let len = i32::try_from(len).map_err(|_| err(format!("{len} bytes is too large")))?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Appends the response as a complete frame to `out`, like [`encode_response`], except that the
/// record batches of a Fetch response are queued by reference ([`Output::push_shared`]): a large
/// Fetch answer goes from the memory-mapped log to the socket without a copy in between. The
/// bytes are the same as [`encode_response`] would write.
pub fn encode_response_to(resp: &Response, out: &mut Output) -> Result<(), EncodeError> {
    if let ResponseBody::Kafka(ResponseKind::Fetch(fetch)) = &resp.body {
        if shareable(fetch, resp.api_version) {
            return encode_fetch_shared(resp, fetch, out);
        }
    }
    encode_response(resp, out.buf())
}

/// Whether the hand-written Fetch layout below covers everything this response sets; anything
/// else (tagged fields the broker never sets) goes through the generic encoder.
fn shareable(f: &FetchResponse, version: i16) -> bool {
    (4..=18).contains(&version)
        && (version >= 7 || f.session_id == 0)
        && f.unknown_tagged_fields.is_empty()
        && f.node_endpoints.is_empty()
        && f.responses.iter().all(|t| {
            t.unknown_tagged_fields.is_empty()
                && t.partitions.iter().all(|p| {
                    p.unknown_tagged_fields.is_empty()
                        && p.diverging_epoch == Default::default()
                        && p.current_leader == Default::default()
                        && p.snapshot_id == Default::default()
                        && (version >= 11 || p.preferred_read_replica.0 == -1)
                        && p.aborted_transactions
                            .iter()
                            .flatten()
                            .all(|a| a.unknown_tagged_fields.is_empty())
                })
        })
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// An array or nullable length: i32 (`None` = -1), or in flexible versions an unsigned varint of
/// length + 1 (`None` = 0).
fn put_len(b: &mut BytesMut, len: Option<usize>, flexible: bool) {
    match (len, flexible) {
        (None, false) => b.put_i32(-1),
        (Some(n), false) => b.put_i32(n as i32),
        (None, true) => b.put_u8(0),
        (Some(n), true) => put_uvarint(b, n as u64 + 1),
    }
}

/// FetchResponse v4-v18, field by field as the Kafka schema orders them (kafka-protocol's
/// generated encoder is the reference the tests compare against).
fn encode_fetch_shared(
    resp: &Response,
    f: &FetchResponse,
    out: &mut Output,
) -> Result<(), EncodeError> {
    let err = |reason: String| EncodeError {
        api: resp.api_key,
        version: resp.api_version,
        reason,
    };
    let version = resp.api_version;
    let flexible = version >= 12;
    let header_version = ApiKey::Fetch.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(resp.correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + f.compute_size(version)?))
        .map_err(|e| err(format!("{e:#}")))?;
    let size = i32::try_from(size).map_err(|_| err(format!("{size} bytes is too large")))?;
    let b = out.buf();
    b.put_i32(size);
    header
        .encode(b, header_version)
        .map_err(|e| err(format!("{e:#}")))?;
    b.put_i32(f.throttle_time_ms);
    if version >= 7 {
        b.put_i16(f.error_code);
        b.put_i32(f.session_id);
    }
    put_len(b, Some(f.responses.len()), flexible);
    for t in &f.responses {
        let b = out.buf();
        if version <= 12 {
            let name = t.topic.0.as_bytes();
            if flexible {
                put_uvarint(b, name.len() as u64 + 1);
            } else {
                b.put_i16(name.len() as i16);
            }
            b.extend_from_slice(name);
        }
        if version >= 13 {
            b.extend_from_slice(t.topic_id.as_bytes());
        }
        put_len(b, Some(t.partitions.len()), flexible);
        for p in &t.partitions {
            let b = out.buf();
            b.put_i32(p.partition_index);
            b.put_i16(p.error_code);
            b.put_i64(p.high_watermark);
            b.put_i64(p.last_stable_offset);
            if version >= 5 {
                b.put_i64(p.log_start_offset);
            }
            put_len(b, p.aborted_transactions.as_ref().map(Vec::len), flexible);
            for a in p.aborted_transactions.iter().flatten() {
                a.encode(b, version).map_err(|e| err(format!("{e:#}")))?;
            }
            if version >= 11 {
                b.put_i32(p.preferred_read_replica.0);
            }
            put_len(b, p.records.as_ref().map(Bytes::len), flexible);
            if let Some(records) = &p.records {
                out.push_shared(records.clone());
            }
            if flexible {
                out.buf().put_u8(0); // no tagged fields
            }
        }
        if flexible {
            out.buf().put_u8(0);
        }
    }
    if flexible {
        out.buf().put_u8(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn frame_length_covers_header_and_body() {
        let resp = Response {
            api_key: ApiKey::ApiVersions,
            api_version: 3,
            correlation_id: 5,
            body: ResponseBody::Kafka(ResponseKind::ApiVersions(
                ApiVersionsResponse::default().with_error_code(35),
            )),
        };
        let mut out = BytesMut::new();
        encode_response(&resp, &mut out).unwrap();
        let len = i32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(len, out.len() - 4);
        // ApiVersions responses always use header v0: just the correlation id.
        assert_eq!(&out[4..8], &5i32.to_be_bytes());
        let mut body = Bytes::copy_from_slice(&out[8..]);
        let decoded = ApiVersionsResponse::decode(&mut body, 3).unwrap();
        assert_eq!(decoded.error_code, 35);
    }

    fn flatten(out: &mut Output) -> Vec<u8> {
        let mut got = Vec::new();
        let mut slices = [std::io::IoSlice::new(&[]); 64];
        let n = out.io_slices(&mut slices);
        for s in &slices[..n] {
            got.extend_from_slice(s);
        }
        got
    }

    #[test]
    fn shared_fetch_encoding_is_byte_for_byte_the_generic_one() {
        use kafka_protocol::messages::fetch_response::{
            AbortedTransaction, FetchableTopicResponse, PartitionData,
        };
        use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let big = Bytes::from((0..20_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let records = [
            None,
            Some(Bytes::new()),
            Some(Bytes::from_static(b"tiny")),
            Some(big.clone()),
            Some(big.slice(100..9_000)),
        ];
        let aborted = [
            None,
            Some(vec![]),
            Some(vec![AbortedTransaction::default()
                .with_producer_id(ProducerId(7))
                .with_first_offset(42)]),
        ];
        let mut shared_parts = 0;
        for version in 4..=18i16 {
            for (i, a) in aborted.iter().enumerate() {
                let partitions = |t: usize| -> Vec<PartitionData> {
                    records
                        .iter()
                        .enumerate()
                        .map(|(p, r)| {
                            PartitionData::default()
                                .with_partition_index((t * 10 + p) as i32)
                                .with_error_code(if p == 0 { 1 } else { 0 })
                                .with_high_watermark(1000 + p as i64)
                                .with_last_stable_offset(999)
                                .with_log_start_offset(if version >= 5 { 3 } else { -1 })
                                .with_aborted_transactions(a.clone())
                                .with_preferred_read_replica(BrokerId(if version >= 11 {
                                    2
                                } else {
                                    -1
                                }))
                                .with_records(r.clone())
                        })
                        .collect()
                };
                let topics: Vec<_> = (0..2)
                    .map(|t| {
                        let mut topic =
                            FetchableTopicResponse::default().with_partitions(partitions(t));
                        if version <= 12 {
                            topic = topic
                                .with_topic(TopicName(StrBytes::from_string(format!("topic-{t}"))));
                        } else {
                            topic = topic.with_topic_id(uuid::Uuid::from_u128(t as u128 + 9));
                        }
                        topic
                    })
                    .collect();
                let mut fetch = FetchResponse::default()
                    .with_throttle_time_ms(i as i32)
                    .with_responses(topics);
                if version >= 7 {
                    fetch = fetch.with_error_code(0).with_session_id(0);
                }
                let resp = Response {
                    api_key: ApiKey::Fetch,
                    api_version: version,
                    correlation_id: 77,
                    body: ResponseBody::Kafka(ResponseKind::Fetch(fetch)),
                };
                let mut want = BytesMut::new();
                encode_response(&resp, &mut want).unwrap();
                let mut out = Output::new();
                out.extend_from_slice(b"previous");
                encode_response_to(&resp, &mut out).unwrap();
                let got = flatten(&mut out);
                assert_eq!(&got[..8], b"previous");
                assert_eq!(&got[8..], &want[..], "v{version} aborted {i}");
                shared_parts += out.io_slices(&mut [std::io::IoSlice::new(&[]); 64]);
            }
        }
        // The big record sets travelled as their own parts, not copies.
        assert!(shared_parts > 15 * 3 * 4, "{shared_parts}");
    }
}
