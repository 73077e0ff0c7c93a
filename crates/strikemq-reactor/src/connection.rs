//! One client connection: its socket, buffers and at most one parked request.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use bytes::BytesMut;
use mio::net::TcpStream;
use strikemq_frame::output::Output;

/// Stop taking requests off a connection while this many response bytes wait to be written: a
/// client that does not read its responses cannot make the broker buffer without bound.
pub(crate) const OUTPUT_HIGH_WATER: usize = 8 * 1024 * 1024;
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// What both backends keep per connection to serve its requests.
pub(crate) struct ConnState<P> {
    pub(crate) peer: SocketAddr,
    /// Bytes read and not yet served.
    pub(crate) input: BytesMut,
    /// Answers not yet written (on io_uring: not yet handed to a write).
    pub(crate) output: Output,
    pub(crate) parked: Option<P>,
    /// The peer closed its side; answer what is buffered, then close.
    pub(crate) read_closed: bool,
}

impl<P> ConnState<P> {
    pub(crate) fn new(peer: SocketAddr) -> Self {
        ConnState {
            peer,
            input: BytesMut::with_capacity(4096),
            output: Output::new(),
            parked: None,
            read_closed: false,
        }
    }

    /// Nothing parked, nothing left to write and no whole frame waiting to be served: once the
    /// peer has closed its side, the connection can go.
    pub(crate) fn idle(&self, max_frame: usize) -> bool {
        self.parked.is_none()
            && self.output.is_empty()
            && !matches!(
                strikemq_frame::frame::peek_frame_len(&self.input, max_frame),
                Ok(Some(len)) if self.input.len() >= len + strikemq_frame::frame::LENGTH_PREFIX
            )
    }

    /// How many bytes the next read should ask for: the rest of the frame being received,
    /// between `min` and four [`READ_CHUNK`]s, or one chunk while no frame length is known.
    pub(crate) fn next_read_len(&self, max_frame: usize, min: usize) -> usize {
        match strikemq_frame::frame::peek_frame_len(&self.input, max_frame) {
            Ok(Some(len)) => (len + strikemq_frame::frame::LENGTH_PREFIX)
                .saturating_sub(self.input.len())
                .clamp(min, 4 * READ_CHUNK),
            _ => READ_CHUNK,
        }
    }
}

pub(crate) struct Connection<P> {
    pub(crate) stream: TcpStream,
    pub(crate) state: ConnState<P>,
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
            state: ConnState::new(peer),
        }
    }

    /// Whether the connection may take another request now.
    pub(crate) fn accepting(&self) -> bool {
        self.state.parked.is_none() && self.state.output.len() < OUTPUT_HIGH_WATER
    }

    /// One read into the input buffer, sized for the frame being received. Reads of up to
    /// [`READ_CHUNK`] go through `scratch` (copying what arrived is cheaper than zeroing a fresh
    /// chunk of the buffer first); the rest of a large frame is read in place.
    pub(crate) fn read_some(
        &mut self,
        max_frame: usize,
        scratch: &mut [u8],
    ) -> io::Result<ReadOutcome> {
        let want = self.state.next_read_len(max_frame, 1);
        if want <= scratch.len() {
            let res = read_retrying(&mut self.stream, scratch);
            return match res {
                Ok(0) => Ok(ReadOutcome::Closed),
                Ok(n) => {
                    self.state.input.extend_from_slice(&scratch[..n]);
                    Ok(ReadOutcome::Data {
                        drained: n < scratch.len(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) => Err(e),
            };
        }
        let start = self.state.input.len();
        self.state.input.resize(start + want, 0);
        let res = read_retrying(&mut self.stream, &mut self.state.input[start..]);
        match res {
            Ok(0) => {
                self.state.input.truncate(start);
                Ok(ReadOutcome::Closed)
            }
            Ok(n) => {
                self.state.input.truncate(start + n);
                Ok(ReadOutcome::Data { drained: n < want })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.state.input.truncate(start);
                Ok(ReadOutcome::WouldBlock)
            }
            Err(e) => {
                self.state.input.truncate(start);
                Err(e)
            }
        }
    }

    /// Writes as much buffered output as the socket takes.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        write_output(&mut self.stream, &mut self.state.output)?;
        // Give back the memory of a large response once it is out.
        self.state.output.shrink_if_empty(OUTPUT_HIGH_WATER);
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
