//! The README's Rust examples, compiled and run as written (see build.rs).

use std::sync::OnceLock;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use strikemq_rdkafka_tests::Broker;

static BOOTSTRAP: OnceLock<String> = OnceLock::new();

fn bootstrap() -> &'static str {
    BOOTSTRAP
        .get()
        .expect("the test sets the broker address first")
}

mod client {
    include!(concat!(env!("OUT_DIR"), "/readme_rust_client.rs"));
}

mod in_process {
    include!(concat!(env!("OUT_DIR"), "/readme_rust_in_process.rs"));
}

#[test]
fn the_readme_rust_client_example_produces_what_a_consumer_reads() {
    let broker = Broker::start();
    BOOTSTRAP.set(broker.bootstrap.clone()).unwrap();
    client::main().unwrap();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "readme-check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["demo"]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the record never arrived"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            assert_eq!(m.key(), Some(&b"k5"[..]));
            assert_eq!(m.payload(), Some(&b"from rust"[..]));
            assert_eq!(m.offset(), 0);
            break;
        }
    }
}

#[test]
fn the_readme_in_process_example_runs() {
    in_process::main().unwrap();
}
