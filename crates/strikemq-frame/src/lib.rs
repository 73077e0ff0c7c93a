//! # strikemq-frame
//!
//! The bytes-only layer between sockets and a Kafka codec:
//!
//! - [`frame`]: cutting 4-byte length-prefixed frames out of a read buffer, with a maximum size;
//! - [`output`]: the queue of response bytes a connection writes with vectored I/O, where large
//!   shared parts (slices of memory-mapped log segments) are kept by reference, never copied.
//!
//! It knows no Kafka message: the network layer (`strikemq-reactor`) depends on this crate alone,
//! and the codec (`strikemq-codec`) builds requests and responses on top of it.
//!
//! ```
//! use bytes::{BufMut, BytesMut};
//! use strikemq_frame::frame::cut_frame;
//! use strikemq_frame::output::Output;
//!
//! // Two frames arrive in one read; the second is still incomplete.
//! let mut input = BytesMut::from(&[0, 0, 0, 2, b'h', b'i', 0, 0, 0, 5, b'w'][..]);
//! assert_eq!(&cut_frame(&mut input, 1024).unwrap().unwrap()[..], b"hi");
//! assert_eq!(cut_frame(&mut input, 1024).unwrap(), None);
//!
//! // An answer: a header encoded into the buffer, then a shared body.
//! let mut out = Output::new();
//! out.buf().put_u32(4);
//! out.buf().put_slice(b"ok!!");
//! assert_eq!(out.len(), 8);
//! ```

#![deny(missing_docs)]

pub mod frame;
pub mod output;

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
