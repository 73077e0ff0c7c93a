//! # strikemq-rest
//!
//! StrikeMQ's HTTP/1.1 + JSON API, for looking inside a broker with nothing but `curl`: broker
//! info, topics (list, create, describe, delete), peeking at and producing messages, consumer
//! groups (list, describe with lag, delete), `/health`, and its own OpenAPI document.
//!
//! It calls the broker's own code paths: produce goes through the same validation and append as a
//! Kafka Produce request (and wakes long-polling consumers), records are built and decoded by
//! `strikemq-codec`, groups come from the same coordinator. Connections are served on their own
//! threads with keep-alive, size limits and timeouts; a malformed request gets a 4xx JSON error
//! and closes that connection only.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use strikemq_broker::{Broker, BrokerConfig};
//! use strikemq_rest::{BrokerInfo, RestServer};
//! use strikemq_storage::{Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
//! let broker = Arc::new(Broker::new(BrokerConfig::default(), store).unwrap());
//! let info = BrokerInfo {
//!     version: "example".into(),
//!     kafka_port: 9092,
//!     io_threads: 1,
//!     backend: "none".into(),
//!     data_dir: dir.path().into(),
//!     config: serde_json::json!({}),
//!     started: Instant::now(),
//! };
//! let server = RestServer::start(TcpListener::bind("127.0.0.1:0").unwrap(), broker, info).unwrap();
//!
//! let mut http = TcpStream::connect(server.local_addr()).unwrap();
//! http.write_all(b"GET /v1/topics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! http.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
//! assert!(answer.ends_with(r#"{"topics":[]}"#), "no topics yet: {answer}");
//! server.shutdown();
//! ```

#![deny(missing_docs)]

mod http;
mod records;
mod routes;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use strikemq_broker::Broker;

/// What `GET /v1/broker` reports besides what the broker itself knows.
#[derive(Debug, Clone)]
pub struct BrokerInfo {
    /// StrikeMQ's version.
    pub version: String,
    /// The Kafka listener's port.
    pub kafka_port: u16,
    /// Worker threads of the Kafka listener.
    pub io_threads: usize,
    /// The I/O backend, as the banner shows it.
    pub backend: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The effective configuration, as JSON.
    pub config: serde_json::Value,
    /// When the broker started.
    pub started: Instant,
}

/// A running REST server.
#[derive(Debug)]
pub struct RestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RestServer {
    /// Serves the API on an already bound listener.
    pub fn start(
        listener: TcpListener,
        broker: Arc<Broker>,
        info: BrokerInfo,
    ) -> io::Result<RestServer> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let api = Arc::new(routes::Api::new(broker, info, addr.port()));
        let handler: Arc<dyn Fn(http::Request) -> http::Response + Send + Sync> =
            Arc::new(move |req| api.handle(req));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("strikemq-http-accept".into())
            .spawn(move || http::accept_loop(listener, s, handler))?;
        Ok(RestServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections. Connections already open finish their current request.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Unblock accept() with a connection of our own.
        let mut target = self.addr;
        if target.ip().is_unspecified() {
            target.set_ip(if target.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect(target);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_now();
        }
    }
}
