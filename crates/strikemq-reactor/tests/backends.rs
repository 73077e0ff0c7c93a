//! The reactor's contract, checked for every backend this build has (mio always, io_uring with
//! the `io-uring` feature on Linux): frames answered in order with pipelining, frames larger than
//! a read, parked requests resumed by a wake-up or at their deadline, a requested close, and many
//! connections at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use strikemq_reactor::{Backend, Output, Reactor, ReactorConfig, Service, Step, Wakeup};

/// Echoes each frame back, except: a frame starting with `P` parks until woken (`W` from any
/// connection wakes) or 300 ms pass, and `X` closes the connection.
#[derive(Default)]
struct Echo {
    wakeup: Mutex<Option<Wakeup>>,
    woken: Mutex<u64>,
}

struct Parked {
    frame: Bytes,
    seen: u64,
    deadline: Instant,
}

fn respond(out: &mut Output, body: &[u8]) {
    out.buf().put_u32(body.len() as u32);
    out.buf().put_slice(body);
}

impl Service for Echo {
    type Parked = Parked;

    fn call(
        &self,
        frame: Bytes,
        _peer: SocketAddr,
        now: Instant,
        out: &mut Output,
    ) -> Step<Parked> {
        match frame.first() {
            Some(b'P') => Step::Park(Parked {
                frame,
                seen: *self.woken.lock().unwrap(),
                deadline: now + Duration::from_millis(300),
            }),
            Some(b'W') => {
                *self.woken.lock().unwrap() += 1;
                if let Some(w) = self.wakeup.lock().unwrap().as_ref() {
                    w.wake();
                }
                respond(out, &frame);
                Step::Done
            }
            Some(b'X') => Step::Close("asked to".into()),
            // A small request with a large answer: `B` and a 4-byte tag, answered with the
            // tag and 64 KiB more.
            Some(b'B') => {
                let mut body = frame[1..].to_vec();
                body.resize(body.len() + 64 * 1024, b'b');
                respond(out, &body);
                Step::Done
            }
            _ => {
                respond(out, &frame);
                Step::Done
            }
        }
    }

    fn resume(&self, parked: Parked, now: Instant, out: &mut Output) -> Step<Parked> {
        let woken = *self.woken.lock().unwrap() > parked.seen;
        if woken || now >= parked.deadline {
            let mut body = parked.frame.to_vec();
            body.extend_from_slice(if woken { b":woken" } else { b":timeout" });
            respond(out, &body);
            Step::Done
        } else {
            Step::Park(parked)
        }
    }

    fn deadline(parked: &Parked) -> Instant {
        parked.deadline
    }

    fn set_wakeup(&self, wakeup: Wakeup) {
        *self.wakeup.lock().unwrap() = Some(wakeup);
    }
}

fn backends() -> Vec<Backend> {
    [Backend::Mio, Backend::IoUring]
        .into_iter()
        .filter(|b| match b.available() {
            Ok(()) => true,
            // Built in but refused by this kernel or container: say so instead of failing.
            Err(why) if b.compiled_in() => {
                eprintln!("skipping {b:?}: {why}");
                false
            }
            Err(_) => false,
        })
        .collect()
}

fn start(backend: Backend) -> Reactor {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = ReactorConfig {
        io_threads: 2,
        max_frame_bytes: 64 * 1024 * 1024,
        backend,
        ..ReactorConfig::default()
    };
    let reactor = Reactor::start(listener, config, Arc::new(Echo::default())).unwrap();
    assert_eq!(reactor.backend(), backend);
    reactor
}

fn connect(r: &Reactor) -> TcpStream {
    let s = TcpStream::connect(r.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send(s: &mut TcpStream, body: &[u8]) {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    s.write_all(&frame).unwrap();
}

fn recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

#[test]
fn pipelined_frames_come_back_in_order() {
    for backend in backends() {
        let r = start(backend);
        let mut s = connect(&r);
        let frames: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("frame-{i}").into_bytes())
            .collect();
        // All sent before any is read: the reactor must keep reading while it answers.
        let mut all = Vec::new();
        for f in &frames {
            all.extend_from_slice(&(f.len() as u32).to_be_bytes());
            all.extend_from_slice(f);
        }
        s.write_all(&all).unwrap();
        for f in &frames {
            assert_eq!(recv(&mut s).as_ref(), Some(f), "{backend:?}");
        }
        r.shutdown();
    }
}

#[test]
fn frames_larger_than_a_read_and_responses_larger_than_a_write() {
    for backend in backends() {
        let r = start(backend);
        let mut s = connect(&r);
        let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let mut s = s.try_clone().unwrap();
            let big = big.clone();
            std::thread::spawn(move || send(&mut s, &big))
        };
        assert!(recv(&mut s) == Some(big), "{backend:?}");
        writer.join().unwrap();
        r.shutdown();
    }
}

#[test]
fn parked_requests_wait_for_a_wake_up_or_their_deadline_and_keep_order() {
    for backend in backends() {
        let r = start(backend);
        let mut a = connect(&r);
        let mut b = connect(&r);
        // A parked request holds back what follows it on the same connection.
        send(&mut a, b"P1");
        send(&mut a, b"after");
        std::thread::sleep(Duration::from_millis(50));
        send(&mut b, b"W");
        assert_eq!(recv(&mut b).unwrap(), b"W");
        assert_eq!(recv(&mut a).unwrap(), b"P1:woken", "{backend:?}");
        assert_eq!(recv(&mut a).unwrap(), b"after");
        let t = Instant::now();
        send(&mut a, b"P2");
        assert_eq!(recv(&mut a).unwrap(), b"P2:timeout", "{backend:?}");
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        r.shutdown();
    }
}

#[test]
fn a_close_answers_what_came_before_then_closes() {
    for backend in backends() {
        let r = start(backend);
        let mut s = connect(&r);
        send(&mut s, b"one");
        send(&mut s, b"X");
        send(&mut s, b"never");
        assert_eq!(recv(&mut s).unwrap(), b"one");
        assert_eq!(recv(&mut s), None, "{backend:?}");
        r.shutdown();
    }
}

/// A client that sends a request and closes its side at once (its bytes and its FIN arrive
/// together, or the FIN just after) gets the answer, and then the broker closes too: it must
/// notice the close even though the read that took the request was a short one.
#[test]
fn a_request_and_the_peers_close_together_get_an_answer_and_a_close() {
    for backend in backends() {
        let r = start(backend);
        for i in 0..200 {
            let mut s = connect(&r);
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let body = format!("bye-{i}").into_bytes();
            send(&mut s, &body);
            s.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(recv(&mut s), Some(body), "{backend:?}");
            let mut rest = [0u8; 16];
            match s.read(&mut rest) {
                Ok(0) => {}
                other => panic!("{backend:?}: expected the broker to close, got {other:?}"),
            }
        }
        r.shutdown();
    }
}

#[test]
fn many_connections_at_once() {
    for backend in backends() {
        let r = start(backend);
        let mut conns: Vec<TcpStream> = (0..200).map(|_| connect(&r)).collect();
        for (i, c) in conns.iter_mut().enumerate() {
            send(c, format!("hello {i}").as_bytes());
        }
        for (i, c) in conns.iter_mut().enumerate() {
            assert_eq!(
                recv(c).unwrap(),
                format!("hello {i}").into_bytes(),
                "{backend:?}"
            );
        }
        drop(conns);
        // Connections closed by their peers are dropped: new ones keep working.
        let mut s = connect(&r);
        send(&mut s, b"still here");
        assert_eq!(recv(&mut s).unwrap(), b"still here");
        r.shutdown();
    }
}

#[test]
fn a_client_that_stops_reading_and_catches_up_gets_every_answer() {
    for backend in backends() {
        let r = start(backend);
        let mut s = connect(&r);
        // 300 small requests at once, each answered with 64 KiB, none read for a while: the
        // requests are all buffered long before the 8 MiB of answers the reactor keeps per
        // connection is reached, so it stops taking them, then must resume from its buffer
        // (no new bytes arrive to prompt it) once the client reads.
        let mut all = Vec::new();
        for i in 0..300u32 {
            let mut body = vec![b'B'];
            body.extend_from_slice(&i.to_be_bytes());
            all.extend_from_slice(&(body.len() as u32).to_be_bytes());
            all.extend_from_slice(&body);
        }
        s.write_all(&all).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for i in 0..300u32 {
            let body = recv(&mut s).unwrap_or_else(|| panic!("{backend:?}: answer {i} never came"));
            assert_eq!(body[..4], i.to_be_bytes());
            assert_eq!(body.len(), 4 + 64 * 1024);
        }
        r.shutdown();
    }
}
