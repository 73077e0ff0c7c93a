//! Frame cutting: any byte stream, fed in pieces, yields frames or a frame error, never a panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strikemq_codec::frame::{cut_frame, peek_frame_len};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::new();
    for piece in data.chunks(7) {
        buf.extend_from_slice(piece);
        let _ = peek_frame_len(&buf, 1 << 20);
        loop {
            match cut_frame(&mut buf, 1 << 20) {
                Ok(Some(frame)) => assert!(frame.len() <= 1 << 20),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
