//! # strikemq-codec
//!
//! A sans-io Kafka wire codec for brokers. It owns what sits between a byte stream and a request
//! handler, and nothing else:
//!
//! - [`frame`]: cutting length-prefixed frames out of a read buffer, with a maximum size (from
//!   `strikemq-frame`, the bytes-only crate the network layer uses);
//! - [`request`]: decoding the request header and body, dispatching on (api key, version);
//! - [`versions`]: the one table of served APIs and versions that ApiVersions advertises;
//! - [`response`]: encoding a response frame, a Fetch response with its record batches shared
//!   rather than copied;
//! - [`output`]: the queue of response bytes a connection writes with vectored I/O (also from
//!   `strikemq-frame`);
//! - [`batch`]: a zero-copy, CRC32C-checked view of magic-v2 record batches and, off the hot path,
//!   decoding of their records (with gzip, snappy, lz4 and zstd), from `strikemq-batch`, which
//!   storage uses without the Kafka message structs.
//!
//! The message structs of every API come from the `kafka-protocol` crate. The codec re-exports
//! just what its callers use ([`messages`], [`ResponseError`], [`StrBytes`] and the
//! [`Encodable`]/[`Decodable`] traits), so that moving to another kafka-protocol release, or away
//! from it, is a change to this crate alone.
//!
//! ```
//! use bytes::BytesMut;
//! use strikemq_codec::frame::cut_frame;
//! use strikemq_codec::request::{decode_request, RequestBody};
//! use strikemq_codec::messages::RequestKind;
//!
//! // ApiVersions v0 with correlation id 1 and client id "me", as a client puts it on the wire.
//! let wire = [0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 1, 0, 2, b'm', b'e'];
//! let mut buf = BytesMut::from(&wire[..]);
//! let frame = cut_frame(&mut buf, 1 << 20).unwrap().expect("a whole frame");
//! let request = decode_request(frame).unwrap();
//! assert_eq!(request.correlation_id, 1);
//! assert!(matches!(request.body, RequestBody::Kafka(RequestKind::ApiVersions(_))));
//! ```

#![deny(missing_docs)]

pub use strikemq_batch as batch;
pub mod error;
pub use strikemq_frame::{frame, output};
pub mod request;
pub mod response;
pub mod versions;

pub use error::{BatchError, DecodeError, FrameError};
/// The request and response structs of every API, their parts and [`messages::ApiKey`].
pub use kafka_protocol::messages;
/// Kafka's compact string type, as the message structs hold strings.
pub use kafka_protocol::protocol::StrBytes;
/// Encoding and decoding of a message struct at a given version (tests and tools that speak
/// the protocol use them; the broker gets decoded requests from [`request`]).
pub use kafka_protocol::protocol::{Decodable, Encodable};
/// Kafka's error codes, by name.
pub use kafka_protocol::ResponseError;
