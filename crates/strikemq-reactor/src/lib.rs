//! # strikemq-reactor
//!
//! Sockets and nothing else. One acceptor thread hands accepted connections round-robin to N worker
//! threads; each worker runs its own event loop (mio: epoll on Linux, kqueue on macOS), cuts frames
//! out of each connection's read buffer and passes them, one at a time and in order, to a
//! [`Service`]. The service answers by appending response bytes, or parks the request (a long-poll
//! Fetch); a connection with a parked request reads nothing more until it is resumed, so responses
//! leave in request order, as Kafka clients require.
//!
//! A worker sleeps in `poll` with no timeout unless a parked request has a deadline: an idle broker
//! uses no CPU. The service wakes the workers that hold parked requests through [`Wakeup`] when new
//! data may satisfy them.
//!
//! The reactor knows frames (a 4-byte length prefix and a maximum size), not Kafka: the service
//! decodes and encodes. [`Service`] and [`Backend`] are the seam between backends: with the
//! `io-uring` cargo feature on Linux, [`ReactorConfig::backend`] can select io_uring workers
//! (submitted receives and vectored sends) that drive the same service by the same rules.
//!
//! An upper-casing echo server, frames in, frames out:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{SocketAddr, TcpListener, TcpStream};
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use bytes::{BufMut, Bytes};
//! use strikemq_reactor::{Output, Reactor, ReactorConfig, Service, Step, Wakeup};
//!
//! struct Upper;
//!
//! impl Service for Upper {
//!     type Parked = Instant; // this service never parks
//!     fn call(&self, frame: Bytes, _peer: SocketAddr, _now: Instant, out: &mut Output) -> Step<Instant> {
//!         out.buf().put_u32(frame.len() as u32);
//!         out.buf().put_slice(&frame.to_ascii_uppercase());
//!         Step::Done
//!     }
//!     fn resume(&self, _parked: Instant, _now: Instant, _out: &mut Output) -> Step<Instant> {
//!         Step::Done
//!     }
//!     fn deadline(parked: &Instant) -> Instant {
//!         *parked
//!     }
//!     fn set_wakeup(&self, _wakeup: Wakeup) {}
//! }
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let config = ReactorConfig { io_threads: 1, ..ReactorConfig::default() };
//! let reactor = Reactor::start(listener, config, Arc::new(Upper)).unwrap();
//!
//! let mut client = TcpStream::connect(reactor.local_addr()).unwrap();
//! client.write_all(b"\0\0\0\x05hello").unwrap();
//! let mut answer = [0u8; 9];
//! client.read_exact(&mut answer).unwrap();
//! assert_eq!(&answer, b"\0\0\0\x05HELLO");
//! reactor.shutdown();
//! ```

#![deny(missing_docs)]

mod connection;
#[cfg(all(feature = "io-uring", target_os = "linux"))]
mod uring;
mod worker;

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
pub use strikemq_frame::output::Output;

/// What a [`Service`] did with a frame.
#[derive(Debug)]
pub enum Step<P> {
    /// Done; any response bytes were appended to the output buffer.
    Done,
    /// Hold the request; call [`Service::resume`] when woken or at [`Service::deadline`].
    Park(P),
    /// Close the connection, for the reason given (logged).
    Close(String),
}

/// The request handler the reactor drives. Implementations are shared by all workers.
pub trait Service: Send + Sync + 'static {
    /// A parked request.
    type Parked: Send + 'static;
    /// Handles one frame (without its length prefix) from `peer`, appending any response frame
    /// to `out`.
    fn call(
        &self,
        frame: Bytes,
        peer: SocketAddr,
        now: Instant,
        out: &mut Output,
    ) -> Step<Self::Parked>;
    /// Re-runs a parked request after a wake-up or at its deadline.
    fn resume(&self, parked: Self::Parked, now: Instant, out: &mut Output) -> Step<Self::Parked>;
    /// When a parked request must be resumed at the latest.
    fn deadline(parked: &Self::Parked) -> Instant;
    /// Receives the handle that wakes workers holding parked requests; the service calls it when
    /// something they wait for may have happened (new data appended).
    fn set_wakeup(&self, wakeup: Wakeup);
}

/// Settings of the reactor.
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Number of worker threads (at least 1).
    pub io_threads: usize,
    /// Frames larger than this close the connection.
    pub max_frame_bytes: usize,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// The I/O backend of the workers.
    pub backend: Backend,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            io_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_frame_bytes: strikemq_frame::frame::DEFAULT_MAX_FRAME,
            max_connections: usize::MAX,
            backend: Backend::Mio,
        }
    }
}

/// The I/O backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// mio: epoll on Linux, kqueue on BSD and macOS.
    Mio,
    /// io_uring (Linux, with the `io-uring` cargo feature): submitted receives and vectored
    /// sends.
    IoUring,
}

impl Backend {
    /// A human name, as the banner prints it.
    pub fn describe(self) -> &'static str {
        match self {
            Backend::Mio if cfg!(any(target_os = "linux", target_os = "android")) => "epoll (mio)",
            Backend::Mio => "kqueue (mio)",
            Backend::IoUring => "io_uring",
        }
    }

    /// Whether this build can run the backend (io_uring needs Linux and the `io-uring` feature).
    pub fn compiled_in(self) -> bool {
        match self {
            Backend::Mio => true,
            Backend::IoUring => cfg!(all(feature = "io-uring", target_os = "linux")),
        }
    }

    /// Whether the backend runs here: built in and, for io_uring, allowed by the kernel (it can
    /// be disabled by `kernel.io_uring_disabled` or a container's seccomp profile).
    pub fn available(self) -> Result<(), BackendError> {
        if !self.compiled_in() {
            return Err(BackendError::NotBuiltIn(self.describe()));
        }
        match self {
            Backend::Mio => Ok(()),
            #[cfg(all(feature = "io-uring", target_os = "linux"))]
            Backend::IoUring => uring::Ring::new()
                .map(drop)
                .map_err(BackendError::Unavailable),
            #[cfg(not(all(feature = "io-uring", target_os = "linux")))]
            Backend::IoUring => unreachable!("checked by compiled_in"),
        }
    }
}

/// Why an I/O backend cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Not compiled into this build.
    #[error("the {0} backend is not built in (build with --features io-uring, on Linux)")]
    NotBuiltIn(&'static str),
    /// Built in, but the kernel refuses it (`kernel.io_uring_disabled`, a seccomp profile).
    #[error("io_uring is not available here: {0}")]
    Unavailable(#[source] std::io::Error),
    /// A name that is no backend.
    #[error("unknown I/O backend {0:?}: use mio or io-uring")]
    Unknown(String),
}

impl std::str::FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mio" | "epoll" | "kqueue" => Ok(Backend::Mio),
            "io-uring" | "io_uring" | "uring" => Ok(Backend::IoUring),
            other => Err(BackendError::Unknown(other.to_owned())),
        }
    }
}

/// How another thread wakes a worker.
#[derive(Debug)]
enum WakeHandle {
    Mio(Waker),
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    EventFd(Arc<std::os::fd::OwnedFd>),
}

impl WakeHandle {
    fn wake(&self) -> io::Result<()> {
        match self {
            WakeHandle::Mio(w) => w.wake(),
            #[cfg(all(feature = "io-uring", target_os = "linux"))]
            WakeHandle::EventFd(fd) => uring::wake(fd),
        }
    }
}

/// A worker's event loop, before its thread starts.
enum Loop {
    Mio(Poll),
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    Uring(Box<uring::Ring>),
}

/// Wakes the workers that hold parked requests. Cheap to clone and call from any thread.
#[derive(Clone, Debug)]
pub struct Wakeup {
    shared: Arc<Shared>,
}

impl Wakeup {
    /// Wakes every worker that currently holds a parked request (once until it has run). The
    /// worker calling this (a produce handled on an I/O thread) is not woken through its event
    /// loop: it notes the wake-up and resumes its parked requests before it polls again, which
    /// saves a syscall and a loop pass per produce.
    pub fn wake(&self) {
        let me = worker::current(&self.shared);
        for (i, w) in self.shared.workers.iter().enumerate() {
            if Some(i) == me {
                if w.has_parked.load(Ordering::Acquire) {
                    worker::note_self_wake();
                }
                continue;
            }
            if w.has_parked.load(Ordering::Acquire) && !w.wake_pending.swap(true, Ordering::AcqRel)
            {
                let _ = w.waker.wake();
            }
        }
    }
}

#[derive(Debug)]
struct WorkerSlot {
    waker: WakeHandle,
    has_parked: AtomicBool,
    wake_pending: AtomicBool,
}

#[derive(Debug)]
struct Shared {
    workers: Vec<WorkerSlot>,
    shutdown: AtomicBool,
    /// Connections accepted and not yet closed.
    open: std::sync::atomic::AtomicUsize,
    max_connections: usize,
    /// Set while `accept` fails for want of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM): a
    /// worker that closes a connection then wakes the acceptor, which drains the backlog again.
    accept_starved: AtomicBool,
    acceptor_waker: Arc<Waker>,
}

impl Shared {
    /// Called by a worker after a connection's socket is closed: the descriptor it held may be
    /// what a starved acceptor waits for.
    fn release_connection(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        if self.accept_starved.load(Ordering::Acquire) {
            let _ = self.acceptor_waker.wake();
        }
    }
}

const ACCEPTOR_WAKE: Token = Token(0);
const LISTENER: Token = Token(1);

/// A running reactor.
#[derive(Debug)]
pub struct Reactor {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor_waker: Arc<Waker>,
    threads: Vec<JoinHandle<()>>,
    backend: Backend,
}

impl Reactor {
    /// Starts the acceptor and workers on an already bound listener.
    pub fn start<S: Service>(
        listener: StdListener,
        config: ReactorConfig,
        service: Arc<S>,
    ) -> io::Result<Reactor> {
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let n = config.io_threads.max(1);
        config
            .backend
            .available()
            .map_err(|e| io::Error::new(io::ErrorKind::Unsupported, e))?;
        let mut polls = Vec::with_capacity(n);
        let mut slots = Vec::with_capacity(n);
        let mut senders = Vec::with_capacity(n);
        let mut receivers = Vec::with_capacity(n);
        for _ in 0..n {
            let (event_loop, waker) = match config.backend {
                #[cfg(all(feature = "io-uring", target_os = "linux"))]
                Backend::IoUring => {
                    let ring = uring::Ring::new()?;
                    let waker = WakeHandle::EventFd(ring.waker());
                    (Loop::Uring(Box::new(ring)), waker)
                }
                _ => {
                    let poll = Poll::new()?;
                    let waker = WakeHandle::Mio(Waker::new(poll.registry(), worker::WAKE)?);
                    (Loop::Mio(poll), waker)
                }
            };
            slots.push(WorkerSlot {
                waker,
                has_parked: AtomicBool::new(false),
                wake_pending: AtomicBool::new(false),
            });
            polls.push(event_loop);
            let (tx, rx) = crossbeam_channel::unbounded();
            senders.push(tx);
            receivers.push(rx);
        }
        let acceptor_poll = Poll::new()?;
        let acceptor_waker = Arc::new(Waker::new(acceptor_poll.registry(), ACCEPTOR_WAKE)?);
        let shared = Arc::new(Shared {
            workers: slots,
            shutdown: AtomicBool::new(false),
            open: std::sync::atomic::AtomicUsize::new(0),
            max_connections: config.max_connections,
            accept_starved: AtomicBool::new(false),
            acceptor_waker: acceptor_waker.clone(),
        });
        service.set_wakeup(Wakeup {
            shared: shared.clone(),
        });
        let mut threads = Vec::with_capacity(n + 1);
        for (i, (event_loop, rx)) in polls.into_iter().zip(receivers).enumerate() {
            let builder = std::thread::Builder::new().name(format!("strikemq-io-{i}"));
            let handle = match event_loop {
                Loop::Mio(poll) => {
                    let w =
                        worker::Worker::new(i, poll, rx, shared.clone(), service.clone(), &config);
                    builder.spawn(move || w.run())?
                }
                #[cfg(all(feature = "io-uring", target_os = "linux"))]
                Loop::Uring(ring) => {
                    let w = uring::UringWorker::new(
                        i,
                        *ring,
                        rx,
                        shared.clone(),
                        service.clone(),
                        &config,
                    );
                    builder.spawn(move || w.run())?
                }
            };
            threads.push(handle);
        }
        let mut listener = TcpListener::from_std(listener);
        acceptor_poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let acc_shared = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("strikemq-accept".into())
                .spawn(move || accept_loop(acceptor_poll, listener, senders, acc_shared))?,
        );
        Ok(Reactor {
            local_addr,
            shared,
            acceptor_waker,
            threads,
            backend: config.backend,
        })
    }

    /// The address the listener is bound to (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The backend serving connections.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stops accepting, closes every connection and joins the threads. Parked requests are
    /// dropped unanswered, as when a Kafka broker stops.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        let _ = self.acceptor_waker.wake();
        for w in &self.shared.workers {
            let _ = w.waker.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long the acceptor waits before retrying after running out of descriptors: the first
/// retry comes soon, later ones back off to [`MAX_ACCEPT_BACKOFF`]. A closed connection wakes it
/// earlier. The timer exists only while accepts fail, so an idle broker still sleeps.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Whether an `accept` error means "out of descriptors or memory for now": the pending
/// connection stays in the backlog, and accepting must be retried later, since an
/// edge-triggered listener reports no new readiness for connections already queued.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn accept_loop(
    mut poll: Poll,
    listener: TcpListener,
    senders: Vec<crossbeam_channel::Sender<mio::net::TcpStream>>,
    shared: Arc<Shared>,
) {
    let mut events = Events::with_capacity(64);
    let mut next = 0usize;
    // While accepts fail for want of descriptors: the current back-off.
    let mut backoff: Option<Duration> = None;
    loop {
        if let Err(e) = poll.poll(&mut events, backoff) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "acceptor poll failed");
            return;
        }
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if backoff.take().is_some() {
                        shared.accept_starved.store(false, Ordering::Release);
                        tracing::info!("accepting connections again");
                    }
                    if shared.open.load(Ordering::Acquire) >= shared.max_connections {
                        // Kafka's max.connections: the newcomer is closed, the others keep going.
                        tracing::warn!(%peer, max = shared.max_connections, "too many connections; closing the new one");
                        drop(stream);
                        continue;
                    }
                    shared.open.fetch_add(1, Ordering::AcqRel);
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "set_nodelay failed");
                    }
                    let i = next % senders.len();
                    next = next.wrapping_add(1);
                    if senders[i].send(stream).is_ok() {
                        let _ = shared.workers[i].waker.wake();
                    } else {
                        shared.open.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if backoff.take().is_some() {
                        shared.accept_starved.store(false, Ordering::Release);
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or kernel memory, or an error we do
                    // not know to be about one connection only: the pending connections stay
                    // in the backlog. Retry when a connection closes (a worker wakes us) or
                    // when the back-off expires, whichever comes first; never spin.
                    let next_backoff = match backoff {
                        None => {
                            let open = shared.open.load(Ordering::Acquire);
                            if is_resource_exhaustion(&e) {
                                tracing::warn!(error = %e, open, "accept failed: out of descriptors; pending connections wait in the backlog until one frees up");
                            } else {
                                tracing::warn!(error = %e, open, "accept failed; retrying");
                            }
                            MIN_ACCEPT_BACKOFF
                        }
                        Some(b) => (b * 2).min(MAX_ACCEPT_BACKOFF),
                    };
                    backoff = Some(next_backoff);
                    shared.accept_starved.store(true, Ordering::Release);
                    break;
                }
            }
        }
    }
}
