//! Glue between the reactor (frames) and the broker (Kafka requests).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use strikemq_broker::{Broker, Outcome, ParkedFetch};
use strikemq_codec::request::decode_request;
use strikemq_codec::response::encode_response;
use strikemq_reactor::{Service, Step, Wakeup};

/// Decodes frames, hands them to the broker and encodes its answers.
#[derive(Debug)]
pub(crate) struct KafkaService {
    pub(crate) broker: Arc<Broker>,
}

impl KafkaService {
    fn finish(outcome: Outcome, out: &mut BytesMut) -> Step<ParkedFetch> {
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
    type Parked = ParkedFetch;

    fn call(&self, frame: Bytes, now: Instant, out: &mut BytesMut) -> Step<ParkedFetch> {
        match decode_request(frame) {
            Ok(req) => Self::finish(self.broker.handle(req, now), out),
            // Kafka closes the connection on requests it cannot parse or does not serve.
            Err(e) => Step::Close(e.to_string()),
        }
    }

    fn resume(&self, parked: ParkedFetch, now: Instant, out: &mut BytesMut) -> Step<ParkedFetch> {
        Self::finish(self.broker.resume(parked, now), out)
    }

    fn deadline(parked: &ParkedFetch) -> Instant {
        parked.deadline()
    }

    fn set_wakeup(&self, wakeup: Wakeup) {
        self.broker.set_append_listener(move || wakeup.wake());
    }
}
