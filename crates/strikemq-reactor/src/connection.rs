//! One client connection: its socket, buffers and at most one parked request.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use bytes::BytesMut;
use mio::net::TcpStream;
use strikemq_codec::output::Output;

/// Stop taking requests off a connection while this many response bytes wait to be written: a
/// client that does not read its responses cannot make the broker buffer without bound.
pub(crate) const OUTPUT_HIGH_WATER: usize = 8 * 1024 * 1024;
pub(crate) const READ_CHUNK: usize = 64 * 1024;

pub(crate) struct Connection<P> {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) input: BytesMut,
    pub(crate) output: Output,
    pub(crate) parked: Option<P>,
    /// The peer closed its side; answer what is buffered, then close.
    pub(crate) read_closed: bool,
}

pub(crate) enum ReadOutcome {
    /// Bytes arrived; `drained` when fewer came than there was room for, so the socket held no
    /// more at that moment.
    Data {
        drained: bool,
    },
    WouldBlock,
    Closed,
}

impl<P> Connection<P> {
    pub(crate) fn new(stream: TcpStream, peer: SocketAddr) -> Self {
        Connection {
            stream,
            peer,
            input: BytesMut::with_capacity(4096),
            output: Output::new(),
            parked: None,
            read_closed: false,
        }
    }

    /// Whether the connection may take another request now.
    pub(crate) fn accepting(&self) -> bool {
        self.parked.is_none() && self.output.len() < OUTPUT_HIGH_WATER
    }

    /// One read into the input buffer, sized for the frame being received. Reads of up to
    /// [`READ_CHUNK`] go through `scratch` (copying what arrived is cheaper than zeroing a fresh
    /// chunk of the buffer first); the rest of a large frame is read in place.
    pub(crate) fn read_some(
        &mut self,
        max_frame: usize,
        scratch: &mut [u8],
    ) -> io::Result<ReadOutcome> {
        let want = match strikemq_codec::frame::peek_frame_len(&self.input, max_frame) {
            Ok(Some(len)) => (len + strikemq_codec::frame::LENGTH_PREFIX)
                .saturating_sub(self.input.len())
                .clamp(1, 4 * READ_CHUNK),
            _ => READ_CHUNK,
        };
        if want <= scratch.len() {
            let res = read_retrying(&mut self.stream, scratch);
            return match res {
                Ok(0) => Ok(ReadOutcome::Closed),
                Ok(n) => {
                    self.input.extend_from_slice(&scratch[..n]);
                    Ok(ReadOutcome::Data {
                        drained: n < scratch.len(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) => Err(e),
            };
        }
        let start = self.input.len();
        self.input.resize(start + want, 0);
        let res = read_retrying(&mut self.stream, &mut self.input[start..]);
        match res {
            Ok(0) => {
                self.input.truncate(start);
                Ok(ReadOutcome::Closed)
            }
            Ok(n) => {
                self.input.truncate(start + n);
                Ok(ReadOutcome::Data { drained: n < want })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.input.truncate(start);
                Ok(ReadOutcome::WouldBlock)
            }
            Err(e) => {
                self.input.truncate(start);
                Err(e)
            }
        }
    }

    /// Writes as much buffered output as the socket takes.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        write_output(&mut self.stream, &mut self.output)?;
        // Give back the memory of a large response once it is out.
        self.output.shrink_if_empty(OUTPUT_HIGH_WATER);
        Ok(())
    }
}

/// Writes `output` to a non-blocking socket until it is empty or the socket would block. Header
/// bytes and shared record sets go out together: one `writev` per call into the kernel.
pub(crate) fn write_output(socket: &mut impl Write, output: &mut Output) -> io::Result<()> {
    const SLICES: usize = 64;
    while !output.is_empty() {
        let written = match output.contiguous() {
            Some(bytes) => socket.write(bytes),
            None => {
                let mut slices = [std::io::IoSlice::new(&[]); SLICES];
                let n = output.io_slices(&mut slices);
                socket.write_vectored(&slices[..n])
            }
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => output.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_retrying(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
