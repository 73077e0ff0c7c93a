//! Response bytes waiting for a socket: small parts encoded into a buffer, large shared parts (the
//! record batches of a Fetch, slices of memory-mapped log segments) kept by reference and written
//! with vectored I/O, never copied in user space.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Shared parts smaller than this are copied: a syscall slot costs more than the copy.
const SHARE_FROM: usize = 4096;

/// A queue of response bytes: frozen parts first, then the open buffer encoders write into.
#[derive(Debug, Default)]
pub struct Output {
    parts: VecDeque<Bytes>,
    parts_len: usize,
    tail: BytesMut,
}

impl Output {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// The open buffer at the end, for encoders to append to.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Appends bytes by copying them.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
    }

    /// Appends bytes without copying them (small ones are copied anyway).
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.len() < SHARE_FROM {
            self.tail.extend_from_slice(&bytes);
            return;
        }
        if !self.tail.is_empty() {
            let open = self.tail.split().freeze();
            self.parts_len += open.len();
            self.parts.push_back(open);
        }
        self.parts_len += bytes.len();
        self.parts.push_back(bytes);
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.parts_len + self.tail.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `slices` with the waiting bytes in order; returns how many were filled.
    pub fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for part in &self.parts {
            if n == slices.len() {
                return n;
            }
            slices[n] = IoSlice::new(part);
            n += 1;
        }
        if !self.tail.is_empty() && n < slices.len() {
            slices[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The waiting bytes when they are all in the buffer (no shared parts): written with a plain
    /// `write`, which costs less than `writev` for the small answers that are most of them.
    pub fn contiguous(&self) -> Option<&[u8]> {
        self.parts.is_empty().then_some(&self.tail[..])
    }

    /// Drops the first `n` bytes (written to the socket).
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.parts.front_mut() else {
                let k = n.min(self.tail.len());
                self.tail.advance(k);
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.parts_len -= front.len();
                self.parts.pop_front();
            } else {
                front.advance(n);
                self.parts_len -= n;
                return;
            }
        }
    }

    /// Gives back the buffer's memory once a large response is out.
    pub fn shrink_if_empty(&mut self, above: usize) {
        if self.is_empty() && self.tail.capacity() > above {
            self.tail = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(out: &mut Output, chunk: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while !out.is_empty() {
            let mut slices = [IoSlice::new(&[]); 3];
            let n = out.io_slices(&mut slices);
            let mut take = chunk;
            let mut written = 0;
            for s in &slices[..n] {
                let k = s.len().min(take);
                got.extend_from_slice(&s[..k]);
                written += k;
                take -= k;
            }
            out.advance(written);
        }
        got
    }

    #[test]
    fn parts_come_out_in_order_through_partial_writes() {
        let big = Bytes::from(vec![7u8; 10_000]);
        for chunk in [1, 3, 4095, 4096, 70_000] {
            let mut out = Output::new();
            out.extend_from_slice(b"head");
            out.push_shared(big.clone());
            out.push_shared(Bytes::from_static(b"small"));
            out.buf().extend_from_slice(b"tail");
            out.push_shared(big.clone());
            assert_eq!(out.len(), 4 + 10_000 + 5 + 4 + 10_000);
            let mut want = b"head".to_vec();
            want.extend_from_slice(&big);
            want.extend_from_slice(b"smalltail");
            want.extend_from_slice(&big);
            assert_eq!(drain(&mut out, chunk), want, "chunk {chunk}");
            assert!(out.is_empty());
        }
    }
}
