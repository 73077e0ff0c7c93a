//! Errors of the codec, one enum per concern.

/// A byte stream that cannot be cut into frames any more.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix was negative.
    #[error("frame length {0} is negative")]
    NegativeLength(i32),
    /// The length prefix announced more than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced payload length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// A request frame that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ended before the request header did.
    #[error("request header is truncated")]
    TruncatedHeader,
    /// The api key is not one that Kafka defines.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// The api key is defined by Kafka but this codec's table does not serve it.
    #[error("api {api} (key {key}) is not served")]
    UnsupportedApi {
        /// Name of the API.
        api: &'static str,
        /// Its numeric key.
        key: i16,
    },
    /// The api is served, but not at this version.
    #[error("api {api} v{version} is not supported")]
    UnsupportedVersion {
        /// Name of the API.
        api: &'static str,
        /// Requested version.
        version: i16,
    },
    /// The header or body did not parse.
    #[error("malformed {api} v{version} request: {reason}")]
    Malformed {
        /// Name of the API.
        api: &'static str,
        /// Requested version.
        version: i16,
        /// What the parser said.
        reason: String,
    },
}

/// A record batch that fails validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than a batch header, or a length field pointing past the end.
    #[error("record batch is truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the header claims.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// `batchLength` is smaller than a v2 header.
    #[error("record batch length {0} is smaller than the v2 header")]
    BadLength(i32),
    /// Magic byte other than 2 (message format v0/v1 were removed in Kafka 4.0).
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// CRC32C over attributes..end does not match the stored checksum.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A record count that is zero, negative or disagrees with `lastOffsetDelta`.
    #[error(
        "record batch has an invalid record count {count} (last offset delta {last_offset_delta})"
    )]
    BadRecordCount {
        /// `recordsCount` field.
        count: i32,
        /// `lastOffsetDelta` field.
        last_offset_delta: i32,
    },
    /// The compression codec in the attributes is not one Kafka defines.
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// A record inside the batch does not parse.
    #[error("malformed record: {0}")]
    MalformedRecord(String),
}
