//! InitProducerId: hands out producer ids that are never reused, also across restarts.
//!
//! `meta/producer_ids` holds one decimal number: the first id of the next block to hand out. The
//! broker reserves blocks of [`BLOCK`] ids by rewriting that file before giving out any id of the
//! block, so a crash can skip ids but never repeat one.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use strikemq_codec::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use strikemq_codec::ResponseError;
use strikemq_storage::StorageError;

use crate::errors::code;
use crate::log_throttle::LogThrottle;

const BLOCK: i64 = 1000;
/// Kafka's `transaction.max.timeout.ms` default: the longest transaction timeout a producer may
/// ask for.
const TRANSACTION_MAX_TIMEOUT_MS: i32 = 900_000;

#[derive(Debug)]
pub(crate) struct ProducerIds {
    path: PathBuf,
    /// (next id to give, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub(crate) fn open(data_dir: &Path) -> Result<ProducerIds, StorageError> {
        let path = data_dir.join("meta").join("producer_ids");
        let next = match std::fs::read_to_string(&path) {
            // A damaged file must not restart ids at 0: a new producer could then take the id
            // of one whose sequence numbers the logs still remember.
            Ok(s) => match s.trim().parse::<i64>() {
                Ok(n) if n >= 0 => n,
                _ => {
                    return Err(StorageError::CorruptMetadata {
                        path,
                        reason: format!("not a producer id: {:?}", s.trim()),
                    })
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(StorageError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        Ok(ProducerIds {
            path,
            state: Mutex::new((next, next)),
        })
    }

    fn allocate(&self) -> Result<i64, StorageError> {
        let mut st = self.state.lock();
        if st.0 >= st.1 {
            let end = st.0 + BLOCK;
            strikemq_storage::write_atomically(&self.path, end.to_string().as_bytes())?;
            st.1 = end;
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }

    pub(crate) fn handle(&self, req: &InitProducerIdRequest) -> InitProducerIdResponse {
        // Kafka refuses an empty (not null) transactional id.
        if req
            .transactional_id
            .as_ref()
            .is_some_and(|t| t.0.is_empty())
        {
            return InitProducerIdResponse::default()
                .with_error_code(code(ResponseError::InvalidRequest))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
        }
        if req.transactional_id.is_some() {
            // Kafka's TransactionCoordinator checks the timeout first (KIP-98):
            // 0 < transaction_timeout_ms <= transaction.max.timeout.ms.
            let timeout = req.transaction_timeout_ms;
            let error = if timeout <= 0 || timeout > TRANSACTION_MAX_TIMEOUT_MS {
                ResponseError::InvalidTransactionTimeout
            } else {
                // Transactions are not served yet. Answer as a Kafka broker does a producer it
                // may not let use transactions: TRANSACTIONAL_ID_AUTHORIZATION_FAILED is fatal
                // in every client (librdkafka retries UNSUPPORTED_FOR_MESSAGE_FORMAT and
                // UNSUPPORTED_VERSION here), so init_transactions() fails at once instead of
                // every transactional send waiting out its timeout. The log says why.
                static NOT_SERVED: LogThrottle = LogThrottle::new();
                if let Some(suppressed) = NOT_SERVED.allow() {
                    tracing::warn!(
                        transactional_id = req.transactional_id.as_ref().map_or("", |t| t.0.as_str()),
                        suppressed,
                        "a producer asked for transactions, which StrikeMQ does not serve yet: refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
                    );
                }
                ResponseError::TransactionalIdAuthorizationFailed
            };
            return InitProducerIdResponse::default()
                .with_error_code(code(error))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
        }
        // An idempotent producer gets a new id every time, as from Kafka, even when it names the
        // id and epoch it had (KIP-360's epoch bump is for transactional producers).
        self.fresh()
    }

    /// A new producer id at epoch 0.
    fn fresh(&self) -> InitProducerIdResponse {
        match self.allocate() {
            Ok(id) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
            Err(e) => {
                tracing::error!(error = %e, "cannot reserve producer ids");
                InitProducerIdResponse::default()
                    .with_error_code(code(ResponseError::KafkaStorageError))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
            }
        }
    }
}

/// The InitProducerId handler of the route table.
pub(crate) fn route(
    broker: &crate::Broker,
    r: InitProducerIdRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(strikemq_codec::messages::ResponseKind::InitProducerId(
        broker.producer_ids.handle(&r),
    ))
}
