//! # strikemq-broker
//!
//! Kafka semantics without sockets: [`Broker::handle`] takes a decoded request and the current time
//! and returns an [`Outcome`]: a response to send now, no response (Produce with acks=0), or a
//! [`ParkedFetch`] to hold until data arrives or its deadline passes. The reactor owns connections
//! and calls back into [`Broker::resume`] for parked requests.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use strikemq_broker::{Broker, BrokerConfig, Outcome};
//! use strikemq_codec::request::decode_request;
//! use strikemq_storage::{Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
//! let broker = Broker::new(BrokerConfig::default(), store).unwrap();
//! // ApiVersions v0, correlation id 7, no client id.
//! let frame = Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
//! let outcome = broker.handle(decode_request(frame).unwrap(), Instant::now());
//! assert!(matches!(outcome, Outcome::Respond(r) if r.correlation_id == 7));
//! ```

mod coordinator;
mod errors;
mod fetch;
mod metadata;
mod offsets;
mod produce;
mod producer_ids;
mod topics;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use strikemq_codec::kafka_protocol::messages::{
    api_versions_response::ApiVersion, ApiKey, ApiVersionsResponse, FetchRequest, RequestKind,
    ResponseKind,
};
use strikemq_codec::request::{Request, RequestBody};
use strikemq_codec::response::{legacy_produce_error, Response, ResponseBody};
use strikemq_codec::versions::supported_apis;
use strikemq_storage::{StorageError, Store};

pub use fetch::ParkedFetch;

/// Broker-wide settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// This broker's node id.
    pub node_id: i32,
    /// Host name clients are told to connect to.
    pub advertised_host: String,
    /// Port clients are told to connect to.
    pub advertised_port: i32,
    /// Create topics on Metadata requests for unknown topics.
    pub auto_create_topics: bool,
    /// Partitions of auto-created topics and of CreateTopics with `num_partitions = -1`.
    pub default_partitions: i32,
    /// Largest record batch accepted (Kafka's `message.max.bytes`).
    pub max_message_bytes: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 0,
            advertised_host: "127.0.0.1".to_owned(),
            advertised_port: 9092,
            auto_create_topics: true,
            default_partitions: 1,
            max_message_bytes: 1_048_588,
        }
    }
}

/// What to do with a request.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Send this response now.
    Respond(Response),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Hold the request until data arrives or its deadline passes, then call
    /// [`Broker::resume`]. Later requests on the same connection wait behind it.
    Park(ParkedFetch),
}

type AppendListener = Box<dyn Fn() + Send + Sync>;

/// The broker's request handling.
pub struct Broker {
    config: BrokerConfig,
    store: Arc<Store>,
    producer_ids: producer_ids::ProducerIds,
    on_append: OnceLock<AppendListener>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.config)
            .field("data_dir", &self.store.dir())
            .finish()
    }
}

impl Broker {
    /// A broker over an opened store.
    pub fn new(config: BrokerConfig, store: Store) -> Result<Broker, StorageError> {
        let producer_ids = producer_ids::ProducerIds::open(store.dir())?;
        Ok(Broker {
            config,
            store: Arc::new(store),
            producer_ids,
            on_append: OnceLock::new(),
        })
    }

    /// Settings.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The topics.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Registers the function called after every successful append, so that the reactor can wake
    /// parked fetches. Only the first registration counts.
    pub fn set_append_listener(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_append.set(Box::new(f));
    }

    fn appended(&self) {
        if let Some(f) = self.on_append.get() {
            f();
        }
    }

    /// Handles one request.
    pub fn handle(&self, req: Request, now: Instant) -> Outcome {
        let Request {
            api_key,
            api_version,
            correlation_id,
            body,
            ..
        } = req;
        let respond = |kind: ResponseKind| {
            Outcome::Respond(Response {
                api_key,
                api_version,
                correlation_id,
                body: ResponseBody::Kafka(kind),
            })
        };
        match body {
            RequestBody::ApiVersionsUnsupported => Outcome::Respond(Response {
                api_key,
                // KIP-511: answer at v0, which every client can read, with our ranges.
                api_version: 0,
                correlation_id,
                body: ResponseBody::Kafka(ResponseKind::ApiVersions(api_versions(errors::code(
                    strikemq_codec::kafka_protocol::ResponseError::UnsupportedVersion,
                )))),
            }),
            RequestBody::LegacyProduce(p) => {
                if p.acks == 0 {
                    return Outcome::NoResponse;
                }
                let code =
                    errors::code(strikemq_codec::kafka_protocol::ResponseError::UnsupportedVersion);
                Outcome::Respond(Response {
                    api_key,
                    api_version,
                    correlation_id,
                    body: ResponseBody::Raw(legacy_produce_error(&p, api_version, code)),
                })
            }
            RequestBody::Kafka(kind) => {
                match kind {
                    RequestKind::ApiVersions(_) => {
                        respond(ResponseKind::ApiVersions(api_versions(errors::NONE)))
                    }
                    RequestKind::Metadata(r) => respond(ResponseKind::Metadata(metadata::handle(
                        self,
                        &r,
                        api_version,
                    ))),
                    RequestKind::Produce(r) => match produce::handle(self, r, api_version) {
                        Some(resp) => respond(ResponseKind::Produce(resp)),
                        None => Outcome::NoResponse,
                    },
                    RequestKind::Fetch(r) => self.fetch(
                        fetch::ParkedFetch::new(r, api_version, correlation_id, now),
                        now,
                    ),
                    RequestKind::ListOffsets(r) => respond(ResponseKind::ListOffsets(
                        offsets::handle(self, &r, api_version),
                    )),
                    RequestKind::CreateTopics(r) => respond(ResponseKind::CreateTopics(
                        topics::create(self, &r, api_version),
                    )),
                    RequestKind::DeleteTopics(r) => respond(ResponseKind::DeleteTopics(
                        topics::delete(self, &r, api_version),
                    )),
                    RequestKind::FindCoordinator(r) => respond(ResponseKind::FindCoordinator(
                        coordinator::handle(self, &r, api_version),
                    )),
                    RequestKind::InitProducerId(r) => {
                        respond(ResponseKind::InitProducerId(self.producer_ids.handle(&r)))
                    }
                    other => {
                        // The codec only decodes what the versions table serves; reaching this is a
                        // table/handler mismatch, reported instead of panicking.
                        tracing::error!(api = ?api_key, "no handler for a served api: {other:?}");
                        Outcome::NoResponse
                    }
                }
            }
            _ => Outcome::NoResponse,
        }
    }

    /// Re-runs a parked fetch: answers it if enough data arrived or its deadline passed, or parks
    /// it again.
    pub fn resume(&self, parked: ParkedFetch, now: Instant) -> Outcome {
        self.fetch(parked, now)
    }

    fn fetch(&self, parked: ParkedFetch, now: Instant) -> Outcome {
        fetch::run(self, parked, now)
    }

    /// Builds a Fetch request's outcome without parking, for tests and tools.
    pub fn fetch_now(&self, request: FetchRequest, version: i16) -> Outcome {
        let now = Instant::now();
        let mut parked = fetch::ParkedFetch::new(request, version, 0, now);
        parked.expire();
        fetch::run(self, parked, now)
    }
}

fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let api_keys = supported_apis()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
        .with_finalized_features_epoch(-1)
}

/// Whether an api key is among those [`Broker::handle`] serves.
pub fn serves(key: ApiKey) -> bool {
    strikemq_codec::versions::advertised(key).is_some()
}

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod tests;
