//! Decoding a request frame into its header and body.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::error::DecodeError;
use crate::versions::{advertised, api_name, is_decodable};

/// A decoded request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The API.
    pub api_key: ApiKey,
    /// Version of the API the client chose.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
    /// The client's id, if it sent one (a zero-copy slice of the frame).
    pub client_id: Option<StrBytes>,
    /// The body.
    pub body: RequestBody,
}

/// What a request asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
// Built and moved once per request; boxing the common variant would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
pub enum RequestBody {
    /// A request at a version the codec decodes, as kafka-protocol's message struct.
    Kafka(RequestKind),
    /// ApiVersions at a version newer than we know: answered at v0 with UNSUPPORTED_VERSION and
    /// our ranges, so the client can retry with a version we share (KIP-511).
    ApiVersionsUnsupported,
}

/// Decodes one request frame (without its length prefix). Record data inside Produce stays a
/// zero-copy slice of `frame`.
pub fn decode_request(mut frame: Bytes) -> Result<Request, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TruncatedHeader);
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApiKey(raw_key))?;
    let api = api_name(api_key);
    let Some(range) = advertised(api_key) else {
        return Err(DecodeError::UnsupportedApi { api, key: raw_key });
    };
    if api_key == ApiKey::ApiVersions && api_version > range.max {
        return Ok(Request {
            api_key,
            api_version,
            correlation_id,
            client_id: None,
            body: RequestBody::ApiVersionsUnsupported,
        });
    }
    if api_version < range.min || api_version > range.max {
        return Err(DecodeError::UnsupportedVersion {
            api,
            version: api_version,
        });
    }
    let malformed = |reason: String| DecodeError::Malformed {
        api,
        version: api_version,
        reason,
    };
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| malformed(format!("header: {e:#}")))?;
    let client_id = header.client_id;
    let body = if is_decodable(api_key, api_version) {
        RequestBody::Kafka(
            RequestKind::decode(api_key, &mut frame, api_version)
                .map_err(|e| malformed(format!("{e:#}")))?,
        )
    } else {
        // Produce v0-v2 (advertised, as Kafka 4 does for old librdkafka, but not served: Kafka
        // closes the connection on them too).
        return Err(DecodeError::UnsupportedVersion {
            api,
            version: api_version,
        });
    };
    Ok(Request {
        api_key,
        api_version,
        correlation_id,
        client_id,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn frame_of(key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_every_version_of_api_versions() {
        for v in 0..=4 {
            let req = decode_request(frame_of(
                ApiKey::ApiVersions,
                v,
                &ApiVersionsRequest::default(),
            ))
            .unwrap();
            assert_eq!(req.correlation_id, 42);
            assert_eq!(req.client_id.as_deref(), Some("test"));
            assert!(matches!(
                req.body,
                RequestBody::Kafka(RequestKind::ApiVersions(_))
            ));
        }
    }

    #[test]
    fn future_api_versions_is_flagged_not_rejected() {
        let mut raw = vec![0, 18, 0, 99, 0, 0, 0, 7];
        raw.extend_from_slice(&[0xff; 5]);
        let req = decode_request(Bytes::from(raw)).unwrap();
        assert_eq!(req.correlation_id, 7);
        assert!(matches!(req.body, RequestBody::ApiVersionsUnsupported));
    }

    #[test]
    fn metadata_round_trips() {
        let mut body = MetadataRequest::default();
        body.topics = None;
        for v in 1..=13 {
            let req = decode_request(frame_of(ApiKey::Metadata, v, &body)).unwrap();
            assert_eq!(req.api_version, v);
        }
    }

    #[test]
    fn unknown_and_unserved_apis_are_errors() {
        assert!(matches!(
            decode_request(Bytes::from_static(&[0x7f, 0, 0, 0, 0, 0, 0, 1])),
            Err(DecodeError::UnknownApiKey(0x7f00))
        ));
        // WriteTxnMarkers (27) is a Kafka API between brokers, which this broker does not serve.
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 27, 0, 1, 0, 0, 0, 1])),
            Err(DecodeError::UnsupportedApi { .. })
        ));
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 3])),
            Err(DecodeError::TruncatedHeader)
        ));
    }

    #[test]
    fn produce_below_v3_is_refused() {
        let mut raw = BytesMut::new();
        raw.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 9, 0, 1, b'c']); // header v1: client id "c"
        raw.extend_from_slice(&1i16.to_be_bytes()); // acks
        raw.extend_from_slice(&1000i32.to_be_bytes());
        raw.extend_from_slice(&0i32.to_be_bytes());
        assert!(matches!(
            decode_request(raw.freeze()),
            Err(DecodeError::UnsupportedVersion { version: 2, .. })
        ));
    }
}
