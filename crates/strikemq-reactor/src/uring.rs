//! The io_uring backend (Linux, cargo feature `io-uring`): a worker thread that drives its
//! connections with submitted receives and vectored sends instead of readiness events. It serves
//! the same [`Service`] with the same rules as the mio worker: frames in order, one parked
//! request per connection, responses in request order, no timer unless a parked request has a
//! deadline, wake-ups through an eventfd the ring reads.
//!
//! Each connection has at most one operation in flight, a receive or a send. Answers are first
//! written directly (a non-blocking `writev`, as on mio); only what the socket does not take at
//! once becomes a submitted send. A send owns the response bytes it was submitted with (the
//! `sending` queue, header bytes and shared record sets by reference, as with `writev` on mio),
//! while the service appends new responses to `output`; nothing the kernel may still read is
//! touched until its completion arrives.

// io_uring hands the kernel raw pointers into buffers this module owns; every such hand-over is
// an `unsafe` push with its reasoning next to it.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use io_uring::{opcode, types, IoUring};
use slab::Slab;
use strikemq_frame::output::Output;

use crate::connection::{write_output, ConnState, OUTPUT_HIGH_WATER, READ_CHUNK};
use crate::worker::{
    due_parked, earliest_deadline, resume_request, serve_next_frame, set_current, take_self_wake,
    Resumed, Served,
};
use crate::{ReactorConfig, Service, Shared};

/// user_data of the eventfd read; connections use `key << 1 | op`.
const WAKE: u64 = u64::MAX;
const OP_RECV: u64 = 0;
const OP_SEND: u64 = 1;
/// iovecs per vectored send.
const SLICES: usize = 64;
const RING_ENTRIES: u32 = 1024;

/// A ring for one worker, with its eventfd.
pub(crate) struct Ring {
    ring: IoUring,
    wake: Arc<OwnedFd>,
}

impl Ring {
    pub(crate) fn new() -> io::Result<Ring> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let wake = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?;
        Ok(Ring {
            ring,
            wake: Arc::new(wake),
        })
    }

    /// The eventfd other threads write to wake this worker.
    pub(crate) fn waker(&self) -> Arc<OwnedFd> {
        self.wake.clone()
    }
}

/// Wakes a worker blocked in its ring.
pub(crate) fn wake(fd: &OwnedFd) -> io::Result<()> {
    match rustix::io::write(fd, &1u64.to_ne_bytes()) {
        Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The iovecs of a connection's send in flight.
struct Iovecs(Vec<libc::iovec>);

// SAFETY: the raw pointers only describe bytes of the connection's own `sending` queue, which
// lives and is used on the worker thread that owns the connection; nothing reads them from
// another thread (the worker is moved to its thread before any connection exists).
unsafe impl Send for Iovecs {}

struct Conn<P> {
    stream: TcpStream,
    /// Its `output` holds the responses not yet written or submitted.
    state: ConnState<P>,
    /// Responses submitted (or partly sent): left alone while a send is in flight.
    sending: Output,
    iovecs: Iovecs,
    /// Bytes the receive in flight may write into `state.input`'s spare capacity.
    recv_len: usize,
    in_flight: bool,
    /// Closing: the socket was shut down and the connection goes once its operation completes.
    closing: bool,
}

impl<P> Conn<P> {
    fn pending_output(&self) -> usize {
        self.state.output.len() + self.sending.len()
    }

    fn accepting(&self) -> bool {
        self.state.parked.is_none() && self.pending_output() < OUTPUT_HIGH_WATER
    }
}

pub(crate) struct UringWorker<S: Service> {
    id: usize,
    ring: IoUring,
    wake_fd: Arc<OwnedFd>,
    /// Where the eventfd read lands; boxed so its address stays put while the read is queued.
    wake_buf: Box<[u8; 8]>,
    incoming: Receiver<mio::net::TcpStream>,
    shared: Arc<Shared>,
    service: Arc<S>,
    conns: Slab<Conn<S::Parked>>,
    parked: std::collections::BTreeSet<usize>,
    max_frame: usize,
}

impl<S: Service> UringWorker<S> {
    pub(crate) fn new(
        id: usize,
        ring: Ring,
        incoming: Receiver<mio::net::TcpStream>,
        shared: Arc<Shared>,
        service: Arc<S>,
        config: &ReactorConfig,
    ) -> Self {
        UringWorker {
            id,
            ring: ring.ring,
            wake_fd: ring.wake,
            wake_buf: Box::new([0; 8]),
            incoming,
            shared,
            service,
            conns: Slab::new(),
            parked: std::collections::BTreeSet::new(),
            max_frame: config.max_frame_bytes,
        }
    }

    pub(crate) fn run(mut self) {
        set_current(&self.shared, self.id);
        if let Err(e) = self.arm_wake() {
            tracing::error!(worker = self.id, error = %e, "io_uring: cannot queue the wake-up read");
            return;
        }
        loop {
            if let Err(e) = self.wait() {
                tracing::error!(worker = self.id, error = %e, "io_uring wait failed");
                break;
            }
            if self.shared.shutdown.load(Ordering::Acquire) {
                break;
            }
            let mut woken = false;
            let completions: Vec<(u64, i32)> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            for (data, res) in completions {
                if data == WAKE {
                    woken = true;
                    if let Err(e) = self.arm_wake() {
                        tracing::error!(worker = self.id, error = %e, "io_uring: cannot re-arm the wake-up read");
                    }
                    continue;
                }
                self.complete((data >> 1) as usize, data & 1, res);
            }
            if woken {
                self.accept_new();
            }
            let mut woken = woken || take_self_wake();
            loop {
                self.resume_parked(woken);
                if !take_self_wake() {
                    break;
                }
                woken = true;
            }
        }
        self.drain();
    }

    /// Submits what is queued and waits for a completion, or for the earliest parked deadline.
    fn wait(&mut self) -> io::Result<()> {
        let deadline = earliest_deadline(
            &self.parked,
            |k| self.conns.get(k)?.state.parked.as_ref(),
            S::deadline,
        );
        let res = match deadline {
            None => self.ring.submit_and_wait(1),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                let ts = types::Timespec::from(left.max(Duration::from_micros(1)));
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn push(&mut self, entry: io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed here points at memory that outlives the operation:
            // the boxed wake buffer lives as long as the worker, and a connection's `input`
            // (whose reserved spare capacity a receive fills), iovecs and `sending` queue are
            // neither dropped, moved nor changed while its one operation is in flight
            // (`in_flight`), and a connection is only removed once its completion has arrived
            // (`drain` waits for them on shutdown and leaks what never completes).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            // Submission queue full: hand the queued entries to the kernel and retry.
            self.ring.submit()?;
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let entry = opcode::Read::new(
            types::Fd(self.wake_fd.as_raw_fd()),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(WAKE);
        self.push(entry)
    }

    fn accept_new(&mut self) {
        while let Ok(stream) = self.incoming.try_recv() {
            let stream = TcpStream::from(OwnedFd::from(stream));
            let peer = match stream.peer_addr() {
                Ok(p) => p,
                Err(_) => {
                    drop(stream);
                    self.shared.release_connection();
                    continue;
                }
            };
            tracing::debug!(worker = self.id, %peer, backend = "io_uring", "connection accepted");
            let key = self.conns.insert(Conn {
                stream,
                state: ConnState::new(peer),
                sending: Output::new(),
                iovecs: Iovecs(Vec::with_capacity(SLICES)),
                recv_len: 0,
                in_flight: false,
                closing: false,
            });
            self.step(key);
        }
    }

    /// A receive or send finished.
    fn complete(&mut self, key: usize, op: u64, res: i32) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.in_flight = false;
        if conn.closing {
            self.remove(key);
            return;
        }
        if op == OP_RECV {
            match res {
                0 => conn.state.read_closed = true,
                n if n > 0 => {
                    let n = (n as usize).min(conn.recv_len);
                    let len = conn.state.input.len();
                    // SAFETY: the kernel wrote `n` bytes (at most the `recv_len` asked for, which
                    // `step` reserved) into the spare capacity right after `len`.
                    unsafe { conn.state.input.set_len(len + n) };
                }
                e if -e == libc::EAGAIN || -e == libc::EINTR => {}
                e => {
                    tracing::debug!(peer = %conn.state.peer, error = %io::Error::from_raw_os_error(-e), "read failed");
                    self.remove(key);
                    return;
                }
            }
        } else {
            match res {
                n if n > 0 => conn.sending.advance(n as usize),
                e if -e == libc::EAGAIN || -e == libc::EINTR => {}
                e => {
                    tracing::debug!(peer = %conn.state.peer, error = %io::Error::from_raw_os_error(-e), "write failed");
                    self.remove(key);
                    return;
                }
            }
        }
        self.step(key);
    }

    /// Moves a connection forward: answer buffered frames, then send or receive.
    fn step(&mut self, key: usize) {
        let now = Instant::now();
        let max_frame = self.max_frame;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.in_flight || conn.closing {
            return;
        }
        loop {
            while conn.accepting() {
                let has_parked = &self.shared.workers[self.id].has_parked;
                match serve_next_frame(&*self.service, has_parked, &mut conn.state, max_frame, now)
                {
                    Served::Answered => {}
                    Served::Parked => {
                        self.parked.insert(key);
                    }
                    Served::Closing | Served::Incomplete => break,
                    Served::Broken => {
                        self.parked.remove(&key);
                        break;
                    }
                }
            }
            if !conn.sending.is_empty() || conn.state.output.is_empty() {
                break;
            }
            std::mem::swap(&mut conn.sending, &mut conn.state.output);
            // Write straight away: an answer that fits the socket's buffer (nearly all do) then
            // costs one syscall, where a submitted send costs a trip through the ring and a
            // completion before the next receive is submitted. Only what the socket does not
            // take now goes through the ring.
            if let Err(e) = write_output(&mut &conn.stream, &mut conn.sending) {
                tracing::debug!(peer = %conn.state.peer, error = %e, "write failed");
                self.remove(key);
                return;
            }
            if !conn.sending.is_empty() {
                break;
            }
            // All written: if that brought the backlog under the high-water mark, frames already
            // buffered must be answered now; no receive would bring them up again.
        }
        let entry = if !conn.sending.is_empty() {
            let mut slices = [IoSlice::new(&[]); SLICES];
            let n = conn.sending.io_slices(&mut slices);
            conn.iovecs.0.clear();
            conn.iovecs
                .0
                .extend(slices[..n].iter().map(|s| libc::iovec {
                    iov_base: s.as_ptr() as *mut libc::c_void,
                    iov_len: s.len(),
                }));
            opcode::Writev::new(
                types::Fd(conn.stream.as_raw_fd()),
                conn.iovecs.0.as_ptr(),
                conn.iovecs.0.len() as u32,
            )
            .build()
            .user_data((key as u64) << 1 | OP_SEND)
        } else {
            conn.sending.shrink_if_empty(OUTPUT_HIGH_WATER);
            if conn.state.read_closed {
                if conn.state.idle(max_frame) {
                    self.remove(key);
                }
                return;
            }
            if !conn.accepting() {
                // Parked: nothing to read until the request is answered.
                return;
            }
            // Receive straight into the input buffer, sized for the frame being received (as
            // the mio worker reads large frames in place); `input` is left alone until the
            // completion arrives.
            let want = conn.state.next_read_len(max_frame, READ_CHUNK);
            conn.state.input.reserve(want);
            conn.recv_len = want;
            opcode::Recv::new(
                types::Fd(conn.stream.as_raw_fd()),
                conn.state
                    .input
                    .spare_capacity_mut()
                    .as_mut_ptr()
                    .cast::<u8>(),
                want as u32,
            )
            .build()
            .user_data((key as u64) << 1 | OP_RECV)
        };
        conn.in_flight = true;
        if let Err(e) = self.push(entry) {
            tracing::error!(worker = self.id, error = %e, "io_uring submit failed");
            if let Some(conn) = self.conns.get_mut(key) {
                conn.in_flight = false;
            }
            self.close(key);
        }
    }

    /// Resumes parked requests: all after a wake-up, else those past their deadline. A
    /// connection with a send in flight is resumed too: the service writes to `output`, which
    /// the send does not use.
    fn resume_parked(&mut self, woken: bool) {
        let shared = self.shared.clone();
        let slot = &shared.workers[self.id];
        if woken {
            slot.wake_pending.store(false, Ordering::Release);
        }
        let now = Instant::now();
        let due = due_parked(
            &self.parked,
            |k| self.conns.get(k)?.state.parked.as_ref(),
            S::deadline,
            woken,
            now,
        );
        for key in due {
            self.parked.remove(&key);
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            match resume_request(&*self.service, &mut conn.state, now) {
                Some(Resumed::Answered) => self.step(key),
                Some(Resumed::Parked) => {
                    self.parked.insert(key);
                }
                Some(Resumed::Close) => self.close(key),
                None => {}
            }
        }
        slot.has_parked
            .store(!self.parked.is_empty(), Ordering::Release);
    }

    /// Closes a connection now, or, with an operation in flight, shuts the socket down so that
    /// the operation completes and the connection goes then.
    fn close(&mut self, key: usize) {
        self.parked.remove(&key);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.in_flight {
            conn.closing = true;
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        } else {
            self.remove(key);
        }
    }

    fn remove(&mut self, key: usize) {
        self.parked.remove(&key);
        if self.conns.contains(key) {
            let conn = self.conns.remove(key);
            debug_assert!(!conn.in_flight);
            tracing::debug!(worker = self.id, peer = %conn.state.peer, "connection closed");
            drop(conn);
            self.shared.release_connection();
        }
    }

    /// On shutdown: shuts every socket down and waits (a little) for the operations in flight,
    /// so that no buffer the kernel may still write to is freed.
    fn drain(&mut self) {
        for (_, conn) in self.conns.iter_mut() {
            conn.closing = true;
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.conns.iter().any(|(_, c)| c.in_flight) && Instant::now() < deadline {
            let ts = types::Timespec::from(Duration::from_millis(50));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            let done: Vec<u64> = self.ring.completion().map(|c| c.user_data()).collect();
            for data in done {
                if data != WAKE {
                    if let Some(c) = self.conns.get_mut((data >> 1) as usize) {
                        c.in_flight = false;
                    }
                }
            }
        }
        // Whatever is still in flight keeps its buffers: leaked rather than freed under the
        // kernel (and the wake buffer with them, since its read is always queued).
        let stuck: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.in_flight)
            .map(|(k, _)| k)
            .collect();
        for key in stuck {
            std::mem::forget(self.conns.remove(key));
        }
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new([0; 8])));
    }
}
