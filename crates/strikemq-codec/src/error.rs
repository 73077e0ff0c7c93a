//! Errors of the codec, one enum per concern.

pub use strikemq_frame::FrameError;

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

pub use strikemq_batch::BatchError;
