//! Glue between the reactor (frames) and the broker (Kafka requests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strikemq_broker::{Broker, Outcome, Parked};
use strikemq_codec::request::decode_request;
use strikemq_codec::response::encode_response_to;
use strikemq_reactor::{Output, Service, Step, Wakeup};

/// Decodes frames, hands them to the broker and encodes its answers.
#[derive(Debug)]
pub(crate) struct KafkaService {
    pub(crate) broker: Arc<Broker>,
}

impl KafkaService {
    fn finish(outcome: Outcome, out: &mut Output) -> Step<Parked> {
        match outcome {
            Outcome::Respond(resp) => match encode_response_to(&resp, out) {
                Ok(()) => Step::Done,
                Err(e) => {
                    tracing::error!(error = %e, "response encoding failed");
                    Step::Close(e.to_string())
                }
            },
            Outcome::NoResponse => Step::Done,
            Outcome::Park(p) => Step::Park(p),
            Outcome::Close(reason) => Step::Close(reason),
        }
    }
}

impl Service for KafkaService {
    type Parked = Parked;

    fn call(&self, frame: Bytes, peer: SocketAddr, now: Instant, out: &mut Output) -> Step<Parked> {
        match decode_request(frame) {
            // Kafka reports client hosts as "/1.2.3.4".
            Ok(req) => {
                tracing::trace!(%peer, api = ?req.api_key, version = req.api_version, correlation_id = req.correlation_id, "request");
                let before = out.len();
                let step = Self::finish(
                    self.broker
                        .handle_from(req, &format!("/{}", peer.ip()), now),
                    out,
                );
                tracing::trace!(%peer, bytes = out.len() - before, parked = matches!(step, Step::Park(_)), "answered");
                step
            }
            // Kafka closes the connection on requests it cannot parse or does not serve.
            Err(e) => Step::Close(e.to_string()),
        }
    }

    fn resume(&self, parked: Parked, now: Instant, out: &mut Output) -> Step<Parked> {
        Self::finish(self.broker.resume(parked, now), out)
    }

    fn deadline(parked: &Parked) -> Instant {
        parked.deadline()
    }

    fn set_wakeup(&self, wakeup: Wakeup) {
        self.broker.set_waker(move || wakeup.wake());
    }
}

#[cfg(test)]
mod tests {
    //! Hostile input on the network path, without a fuzzing toolchain: frames captured from real
    //! clients, mutated the way a broken client or a flipped bit would (bit flips, boundary
    //! values in length and count fields, truncation, splices), go through decoding, the broker and
    //! response encoding. Every one must end in an answer, a parked request or a closed connection;
    //! a panic fails the test and prints the frame. Deterministic (a fixed seed), so a failure
    //! reproduces (`FUZZ_TRACE=1` prints every frame before it is tried; `FUZZ_SEED` and
    //! `FUZZ_ROUNDS` explore further).

    use std::net::SocketAddr;
    use std::panic::AssertUnwindSafe;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use strikemq_broker::{Broker, BrokerConfig};
    use strikemq_reactor::{Output, Service, Step};
    use strikemq_storage::{Store, StoreConfig};

    use super::KafkaService;

    /// xorshift64*: small, deterministic, good enough to pick mutations.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn golden_frames() -> Vec<Vec<u8>> {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/strikemq-codec/tests/golden");
        let mut frames = Vec::new();
        for client in std::fs::read_dir(&root).unwrap() {
            for f in std::fs::read_dir(client.unwrap().path()).unwrap() {
                frames.push(std::fs::read(f.unwrap().path()).unwrap());
            }
        }
        frames.sort();
        assert!(frames.len() >= 20, "golden frames missing");
        frames
    }

    fn mutate(rng: &mut Rng, frame: &mut Vec<u8>, pool: &[Vec<u8>]) {
        const BOUNDARY_32: [i32; 7] = [-1, 0, 1, 0x7f, 0xffff, i32::MAX, i32::MIN];
        for _ in 0..1 + rng.below(4) {
            if frame.is_empty() {
                frame.push(rng.next() as u8);
                continue;
            }
            let at = rng.below(frame.len());
            match rng.below(8) {
                0 => frame[at] ^= 1 << rng.below(8),
                1 => frame[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
                2 => {
                    // A length, count or array size: a 16- or 32-bit boundary value.
                    let v = BOUNDARY_32[rng.below(BOUNDARY_32.len())].to_be_bytes();
                    let width = if rng.below(2) == 0 { 2 } else { 4 };
                    for (i, b) in v[4 - width..].iter().enumerate() {
                        if let Some(slot) = frame.get_mut(at + i) {
                            *slot = *b;
                        }
                    }
                }
                3 => frame.truncate(at),
                4 => {
                    let end = (at + 1 + rng.below(64)).min(frame.len());
                    let piece = frame[at..end].to_vec();
                    let to = rng.below(frame.len());
                    frame.splice(to..to, piece);
                }
                5 => {
                    let n = rng.below(16);
                    frame.splice(at..at, (0..n).map(|_| rng.next() as u8));
                }
                6 => {
                    // Another client's bytes from here on.
                    let other = &pool[rng.below(pool.len())];
                    let from = rng.below(other.len());
                    frame.truncate(at);
                    frame.extend_from_slice(&other[from..]);
                }
                _ => {
                    // The varint/compact length of a flexible version: a huge unsigned varint.
                    frame.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                }
            }
        }
    }

    #[test]
    fn mutated_client_frames_never_panic_the_broker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let broker = Broker::new(BrokerConfig::default(), store).unwrap();
        let service = KafkaService {
            broker: std::sync::Arc::new(broker),
        };
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let pool = golden_frames();
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_CAFE_F00D_0001);
        let rounds = std::env::var("FUZZ_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        let mut rng = Rng(seed);
        let (mut answered, mut closed, mut parked) = (0u32, 0u32, 0u32);
        // Unmutated first: the captured frames must all be served.
        for frame in &pool {
            let mut out = Output::new();
            let step = service.call(Bytes::from(frame.clone()), peer, Instant::now(), &mut out);
            assert!(
                !matches!(step, Step::Close(_)),
                "a captured frame was refused"
            );
        }
        for i in 0..rounds {
            let mut frame = pool[rng.below(pool.len())].clone();
            mutate(&mut rng, &mut frame, &pool);
            let bytes = Bytes::from(frame.clone());
            if std::env::var("FUZZ_TRACE").is_ok() {
                eprintln!("{i} {frame:02x?}");
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let now = Instant::now();
                let mut out = Output::new();
                match service.call(bytes, peer, now, &mut out) {
                    Step::Done => 0,
                    Step::Close(_) => 1,
                    Step::Park(p) => {
                        // Long polls and group waits end at their deadline at the latest.
                        let mut step = Step::Park(p);
                        let mut later = now;
                        while let Step::Park(p) = step {
                            later += Duration::from_secs(600);
                            step = service.resume(p, later, &mut out);
                        }
                        2
                    }
                }
            }));
            match result {
                Ok(0) => answered += 1,
                Ok(1) => closed += 1,
                Ok(_) => parked += 1,
                Err(_) => panic!("mutation {i} panicked the broker; frame: {frame:02x?}"),
            }
        }
        eprintln!("answered {answered}, closed {closed}, parked then answered {parked}");
        assert!(
            answered > 1000 && closed > 1000,
            "mutations too weak or too strong"
        );
    }
}
