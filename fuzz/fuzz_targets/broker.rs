//! The broker behind the codec: any frame that decodes is handled and its answer encoded, with
//! no panic. One broker (in a temporary directory) serves the whole run.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use strikemq_broker::{Broker, BrokerConfig, Outcome};
use strikemq_codec::request::decode_request;
use strikemq_codec::response::encode_response;
use strikemq_storage::{Store, StoreConfig};

#[global_allocator]
static ALLOCATOR: strikemq::GuardedAllocator = strikemq::GuardedAllocator;

fn broker() -> &'static Broker {
    static BROKER: OnceLock<(tempfile::TempDir, Broker)> = OnceLock::new();
    let (_, b) = BROKER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), StoreConfig::default()).expect("store");
        let broker = Broker::new(BrokerConfig::default(), store).expect("broker");
        (dir, broker)
    });
    b
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = decode_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    let now = Instant::now();
    let mut outcome = broker().handle(req, now);
    let mut later = now;
    while let Outcome::Park(p) = outcome {
        later += Duration::from_secs(600);
        outcome = broker().resume(p, later);
    }
    if let Outcome::Respond(resp) = outcome {
        let mut out = BytesMut::new();
        let _ = encode_response(&resp, &mut out);
    }
});
