//! Glue between the reactor (frames) and the broker (Kafka requests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use strikemq_broker::{Broker, Outcome, Parked};
use strikemq_codec::request::decode_request;
use strikemq_codec::response::encode_response;
use strikemq_reactor::{Service, Step, Wakeup};

/// Decodes frames, hands them to the broker and encodes its answers.
#[derive(Debug)]
pub(crate) struct KafkaService {
    pub(crate) broker: Arc<Broker>,
}

impl KafkaService {
    fn finish(outcome: Outcome, out: &mut BytesMut) -> Step<Parked> {
        match outcome {
            Outcome::Respond(resp) => match encode_response(&resp, out) {
                Ok(()) => Step::Done,
                Err(e) => {
                    tracing::error!(error = %e, "response encoding failed");
                    Step::Close(e.to_string())
                }
            },
            Outcome::NoResponse => Step::Done,
            Outcome::Park(p) => Step::Park(p),
        }
    }
}

impl Service for KafkaService {
    type Parked = Parked;

    fn call(
        &self,
        frame: Bytes,
        peer: SocketAddr,
        now: Instant,
        out: &mut BytesMut,
    ) -> Step<Parked> {
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

    fn resume(&self, parked: Parked, now: Instant, out: &mut BytesMut) -> Step<Parked> {
        Self::finish(self.broker.resume(parked, now), out)
    }

    fn deadline(parked: &Parked) -> Instant {
        parked.deadline()
    }

    fn set_wakeup(&self, wakeup: Wakeup) {
        self.broker.set_waker(move || wakeup.wake());
    }
}
