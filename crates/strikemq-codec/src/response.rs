//! Encoding responses into frames.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use crate::request::LegacyProduce;

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

/// The body of a Produce v0-v2 response giving every partition `error_code`.
///
/// v0: `[topic [partition error_code base_offset]]`; v1 appends `throttle_time_ms`; v2 adds
/// `log_append_time` to each partition.
pub fn legacy_produce_error(req: &LegacyProduce, version: i16, error_code: i16) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(req.topics.len() as i32);
    for (name, partitions) in &req.topics {
        b.put_i16(name.len() as i16);
        b.extend_from_slice(name.as_bytes());
        b.put_i32(partitions.len() as i32);
        for &p in partitions {
            b.put_i32(p);
            b.put_i16(error_code);
            b.put_i64(-1);
            if version >= 2 {
                b.put_i64(-1);
            }
        }
    }
    if version >= 1 {
        b.put_i32(0);
    }
    b.freeze()
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
}
