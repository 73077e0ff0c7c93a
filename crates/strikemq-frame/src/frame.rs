//! Length-prefixed frames, as every Kafka request and response travels.
//!
//! ```text
//! offset  size  field
//! 0       4     length: i32, big-endian, the number of bytes that follow
//! 4       len   payload: request header + request body (or response header + body)
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::FrameError;

/// Size of the length prefix in front of every frame.
pub const LENGTH_PREFIX: usize = 4;

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;

/// Cuts the next complete frame out of `buf`, without its length prefix.
///
/// Returns `Ok(None)` while the frame is still incomplete: read more bytes and call again. A negative
/// length or one above `max_frame` is an error after which the stream cannot be resynchronised, so the
/// caller should close the connection.
///
/// ```
/// use bytes::BytesMut;
/// use strikemq_frame::frame::cut_frame;
///
/// let mut buf = BytesMut::from(&[0, 0, 0, 3, b'a', b'b', b'c', 0, 0][..]);
/// let frame = cut_frame(&mut buf, 1024).unwrap().unwrap();
/// assert_eq!(&frame[..], b"abc");
/// assert_eq!(cut_frame(&mut buf, 1024).unwrap(), None); // two bytes of the next prefix only
/// ```
pub fn cut_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(len) = peek_frame_len(buf, max_frame)? else {
        return Ok(None);
    };
    if buf.len() < LENGTH_PREFIX + len {
        return Ok(None);
    }
    buf.advance(LENGTH_PREFIX);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The payload length announced by the prefix at the start of `buf`, once four bytes are there.
///
/// Lets a reader reserve room for the whole frame before it arrives.
pub fn peek_frame_len(buf: &[u8], max_frame: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len < 0 {
        return Err(FrameError::NegativeLength(len));
    }
    let len = len as usize;
    if len > max_frame {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame,
        });
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_negative_and_oversized_lengths() {
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(matches!(
            cut_frame(&mut buf, 10),
            Err(FrameError::NegativeLength(-1))
        ));
        let mut buf = BytesMut::from(&11i32.to_be_bytes()[..]);
        assert!(matches!(
            cut_frame(&mut buf, 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
    }

    #[test]
    fn zero_length_frame_is_empty() {
        let mut buf = BytesMut::from(&0i32.to_be_bytes()[..]);
        assert_eq!(cut_frame(&mut buf, 10).unwrap(), Some(Bytes::new()));
        assert!(buf.is_empty());
    }

    proptest! {
        #[test]
        fn frames_survive_any_split(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8), split in 0usize..512) {
            let mut wire = Vec::new();
            for p in &payloads {
                wire.extend_from_slice(&(p.len() as i32).to_be_bytes());
                wire.extend_from_slice(p);
            }
            let split = split.min(wire.len());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in [&wire[..split], &wire[split..]] {
                buf.extend_from_slice(chunk);
                while let Some(f) = cut_frame(&mut buf, 1024).unwrap() {
                    got.push(f.to_vec());
                }
            }
            prop_assert_eq!(got, payloads);
            prop_assert!(buf.is_empty());
        }
    }
}
