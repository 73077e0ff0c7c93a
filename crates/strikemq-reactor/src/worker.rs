//! A worker thread: one mio event loop serving many connections.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use strikemq_frame::frame::cut_frame;

use crate::connection::{ConnState, Connection, ReadOutcome};
use crate::{ReactorConfig, Service, Shared, Step};

/// The waker's token; connections use `slab key + 1`.
pub(crate) const WAKE: Token = Token(0);

thread_local! {
    /// On a worker thread: its reactor (by address) and index.
    static CURRENT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    /// A wake-up for this worker raised on its own thread, handled before the next poll.
    static SELF_WAKE: Cell<bool> = const { Cell::new(false) };
}

/// The index of the worker of `shared` running on this thread, if any.
pub(crate) fn current(shared: &Arc<Shared>) -> Option<usize> {
    let me = Arc::as_ptr(shared) as usize;
    CURRENT
        .with(Cell::get)
        .and_then(|(reactor, id)| (reactor == me).then_some(id))
}

pub(crate) fn note_self_wake() {
    SELF_WAKE.with(|w| w.set(true));
}

/// Takes (and clears) a wake-up raised on this thread.
pub(crate) fn take_self_wake() -> bool {
    SELF_WAKE.with(|w| w.replace(false))
}

/// Marks this thread as worker `id` of the reactor owning `shared`.
pub(crate) fn set_current(shared: &Arc<Shared>, id: usize) {
    CURRENT.with(|c| c.set(Some((Arc::as_ptr(shared) as usize, id))));
}

/// The parked connections to resume now: every one after a wake-up, else those whose deadline
/// has passed. Shared by the mio and io_uring workers; `parked_of` reads a connection's parked
/// request.
pub(crate) fn due_parked<'a, P: 'a>(
    parked: &std::collections::BTreeSet<usize>,
    parked_of: impl Fn(usize) -> Option<&'a P>,
    deadline: fn(&P) -> Instant,
    woken: bool,
    now: Instant,
) -> Vec<usize> {
    parked
        .iter()
        .copied()
        .filter(|&k| parked_of(k).is_some_and(|p| woken || deadline(p) <= now))
        .collect()
}

/// What [`serve_next_frame`] did.
pub(crate) enum Served {
    /// A frame was answered (or needs no answer).
    Answered,
    /// A frame was parked in the connection's `parked`.
    Parked,
    /// The service asked to close: send what is buffered, read nothing more.
    Closing,
    /// The input holds a malformed or oversized frame: the connection reads nothing more and
    /// its parked request, if any, is dropped.
    Broken,
    /// No whole frame is buffered.
    Incomplete,
}

/// Cuts the next frame out of the input and hands it to the service: the one place both
/// backends turn bytes into calls. `has_parked` is raised before the call, so that an append
/// racing with it still wakes this worker.
pub(crate) fn serve_next_frame<S: Service>(
    service: &S,
    has_parked: &std::sync::atomic::AtomicBool,
    state: &mut ConnState<S::Parked>,
    max_frame: usize,
    now: Instant,
) -> Served {
    match cut_frame(&mut state.input, max_frame) {
        Ok(Some(frame)) => {
            has_parked.store(true, Ordering::Release);
            match service.call(frame, state.peer, now, &mut state.output) {
                Step::Done => Served::Answered,
                Step::Park(p) => {
                    tracing::trace!(peer = %state.peer, "request parked");
                    state.parked = Some(p);
                    Served::Parked
                }
                Step::Close(reason) => {
                    tracing::info!(peer = %state.peer, reason, "closing connection");
                    state.read_closed = true;
                    state.input.clear();
                    Served::Closing
                }
            }
        }
        Ok(None) => Served::Incomplete,
        Err(e) => {
            tracing::info!(peer = %state.peer, error = %e, "closing connection");
            state.read_closed = true;
            state.input.clear();
            state.parked = None;
            Served::Broken
        }
    }
}

/// What [`resume_request`] did.
pub(crate) enum Resumed {
    /// The request was answered: the connection can go on.
    Answered,
    /// It is parked again.
    Parked,
    /// The service asked to close the connection.
    Close,
}

/// Hands a connection's parked request back to the service (its wake-up came or its deadline
/// passed); `None` when nothing is parked.
pub(crate) fn resume_request<S: Service>(
    service: &S,
    state: &mut ConnState<S::Parked>,
    now: Instant,
) -> Option<Resumed> {
    let parked = state.parked.take()?;
    Some(match service.resume(parked, now, &mut state.output) {
        Step::Done => {
            tracing::trace!(peer = %state.peer, "parked request answered");
            Resumed::Answered
        }
        Step::Park(p) => {
            state.parked = Some(p);
            Resumed::Parked
        }
        Step::Close(reason) => {
            tracing::info!(peer = %state.peer, reason, "closing connection");
            Resumed::Close
        }
    })
}

/// The earliest deadline among parked requests, if any.
pub(crate) fn earliest_deadline<'a, P: 'a>(
    parked: &std::collections::BTreeSet<usize>,
    parked_of: impl Fn(usize) -> Option<&'a P>,
    deadline: fn(&P) -> Instant,
) -> Option<Instant> {
    parked
        .iter()
        .filter_map(|&k| parked_of(k).map(deadline))
        .min()
}

pub(crate) struct Worker<S: Service> {
    id: usize,
    poll: Poll,
    incoming: Receiver<TcpStream>,
    shared: Arc<Shared>,
    service: Arc<S>,
    conns: Slab<Connection<S::Parked>>,
    /// Keys of the connections holding a parked request, so that deadlines and wake-ups cost
    /// the parked connections, not every idle one.
    parked: std::collections::BTreeSet<usize>,
    max_frame: usize,
    /// Where small reads land before they are copied to a connection's buffer, so a read does not
    /// zero a fresh 64 KiB first.
    scratch: Vec<u8>,
}

impl<S: Service> Worker<S> {
    pub(crate) fn new(
        id: usize,
        poll: Poll,
        incoming: Receiver<TcpStream>,
        shared: Arc<Shared>,
        service: Arc<S>,
        config: &ReactorConfig,
    ) -> Self {
        Worker {
            id,
            poll,
            incoming,
            shared,
            service,
            conns: Slab::new(),
            parked: std::collections::BTreeSet::new(),
            max_frame: config.max_frame_bytes,
            scratch: vec![0; crate::connection::READ_CHUNK],
        }
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        set_current(&self.shared, self.id);
        loop {
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(worker = self.id, error = %e, "poll failed");
                return;
            }
            if self.shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            let mut woken = false;
            for event in events.iter() {
                if event.token() == WAKE {
                    woken = true;
                    continue;
                }
                let key = event.token().0 - 1;
                if self.conns.contains(key) {
                    // An event that reports the peer's close or an error must be read to the
                    // end: no further event would come for it.
                    self.drive(key, !(event.is_read_closed() || event.is_error()));
                }
            }
            if woken {
                self.accept_new();
            }
            let mut woken = woken || take_self_wake();
            loop {
                self.resume_parked(woken);
                // Answering a parked request may append data others wait for (a produce
                // resumed after a full buffer): go round until nothing new was woken here.
                if !take_self_wake() {
                    break;
                }
                woken = true;
            }
        }
    }

    fn accept_new(&mut self) {
        while let Ok(mut stream) = self.incoming.try_recv() {
            let peer = match stream.peer_addr() {
                Ok(p) => p,
                Err(_) => {
                    drop(stream);
                    self.shared.release_connection();
                    continue;
                }
            };
            let entry = self.conns.vacant_entry();
            let token = Token(entry.key() + 1);
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!(%peer, error = %e, "cannot register connection");
                drop(stream);
                self.shared.release_connection();
                continue;
            }
            tracing::debug!(worker = self.id, %peer, "connection accepted");
            entry.insert(Connection::new(stream, peer));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        earliest_deadline(
            &self.parked,
            |k| self.conns.get(k)?.state.parked.as_ref(),
            S::deadline,
        )
    }

    /// Resumes parked requests: all of them after a wake-up, else those past their deadline.
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
                Some(Resumed::Answered) => self.drive(key, false),
                Some(Resumed::Parked) => {
                    self.parked.insert(key);
                }
                Some(Resumed::Close) => self.close(key),
                None => {}
            }
        }
        let any = !self.parked.is_empty();
        slot.has_parked.store(any, Ordering::Release);
    }

    /// Moves a connection forward as far as it goes: answer buffered frames, write, read more.
    ///
    /// With `trust_short_read`, a read that returns less than it had room for ends the reading:
    /// the socket was empty then, and edge-triggered readiness reports anything that arrives
    /// after it. That saves the read that would only say "would block" (one syscall of about
    /// four per request for a client with one request in flight).
    fn drive(&mut self, key: usize, trust_short_read: bool) {
        let now = Instant::now();
        let max_frame = self.max_frame;
        let conn = &mut self.conns[key];
        let mut drained = false;
        let keep = loop {
            let mut progressed = false;
            while conn.accepting() {
                let has_parked = &self.shared.workers[self.id].has_parked;
                match serve_next_frame(&*self.service, has_parked, &mut conn.state, max_frame, now)
                {
                    Served::Answered => progressed = true,
                    Served::Parked => {
                        progressed = true;
                        self.parked.insert(key);
                    }
                    Served::Closing => {
                        progressed = true;
                        break;
                    }
                    Served::Broken => {
                        self.parked.remove(&key);
                        break;
                    }
                    Served::Incomplete => break,
                }
            }
            let was_accepting = conn.accepting();
            if let Err(e) = conn.flush() {
                tracing::debug!(peer = %conn.state.peer, error = %e, "write failed");
                break false;
            }
            // Writing brought the backlog under the high-water mark: frames already buffered
            // must be answered now. No readiness event will come for them (their bytes were
            // read long ago, and an emptied send buffer raises none), so without another pass
            // a client that stopped reading and then caught up would wait for ever.
            if !was_accepting && conn.accepting() {
                progressed = true;
            }
            if conn.accepting() && !conn.state.read_closed && !drained {
                match conn.read_some(max_frame, &mut self.scratch) {
                    Ok(ReadOutcome::Data { drained: short }) => {
                        progressed = true;
                        drained = trust_short_read && short;
                    }
                    Ok(ReadOutcome::WouldBlock) => {}
                    Ok(ReadOutcome::Closed) => {
                        conn.state.read_closed = true;
                        progressed = true;
                    }
                    Err(e) => {
                        tracing::debug!(peer = %conn.state.peer, error = %e, "read failed");
                        break false;
                    }
                }
            }
            if !progressed {
                // Done for now, unless the peer is gone and nothing is left to answer.
                break !(conn.state.read_closed && conn.state.idle(max_frame));
            }
        };
        if !keep {
            self.close(key);
        }
    }

    fn close(&mut self, key: usize) {
        self.parked.remove(&key);
        if self.conns.contains(key) {
            let mut conn = self.conns.remove(key);
            let _ = self.poll.registry().deregister(&mut conn.stream);
            tracing::debug!(worker = self.id, peer = %conn.state.peer, "connection closed");
            drop(conn);
            self.shared.release_connection();
        }
    }
}
