//! InitProducerId: hands out producer ids that are never reused, also across restarts (a
//! transactional producer's goes through the transaction coordinator, `crate::transactions`).
//!
//! `meta/producer_ids` (a versioned number file of the storage's `MetaStore`) holds the first id
//! of the next block to hand out. The broker reserves blocks of [`BLOCK`] ids by rewriting that file before giving out any id of the
//! block, so a crash can skip ids but never repeat one.

use parking_lot::Mutex;
use strikemq_codec::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use strikemq_codec::ResponseError;
use strikemq_storage::{MetaFile, MetaStore, StorageError};

use crate::errors::code;

const BLOCK: i64 = 1000;

#[derive(Debug)]
pub(crate) struct ProducerIds {
    meta: MetaStore,
    /// (next id to give, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub(crate) fn open(meta: &MetaStore) -> Result<ProducerIds, StorageError> {
        // A damaged file is an error (not ids from 0 again): a new producer could otherwise take
        // the id of one whose sequence numbers the logs still remember.
        let next = meta.read_number(MetaFile::ProducerIds)?.unwrap_or(0);
        if next < 0 {
            return Err(StorageError::CorruptMetadata {
                path: meta.path(MetaFile::ProducerIds),
                reason: format!("not a producer id: {next}"),
            });
        }
        Ok(ProducerIds {
            meta: meta.clone(),
            state: Mutex::new((next, next)),
        })
    }

    pub(crate) fn allocate(&self) -> Result<i64, StorageError> {
        let mut st = self.state.lock();
        if st.0 >= st.1 {
            let end = st.0 + BLOCK;
            self.meta.write_number(MetaFile::ProducerIds, end)?;
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
    let resp = match &r.transactional_id {
        Some(id) if !id.0.is_empty() => {
            crate::transactions::init_producer_id(broker, &r, ctx.api_version, ctx.now)
        }
        _ => broker.producer_ids.handle(&r),
    };
    ctx.respond(strikemq_codec::messages::ResponseKind::InitProducerId(resp))
}
