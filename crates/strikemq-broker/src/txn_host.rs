//! The transaction coordinator as the broker hosts it: the coordinator behind its lock and the
//! log its transactions are kept in (`InternalLog::TransactionState`, Kafka's
//! `__transaction_state`: one record per change of a transactional id, the latest wins),
//! replayed on start.
//!
//! Everything transactional runs under the one lock: the coordinator's requests, the writing of
//! markers, and the append of each transactional batch together with its check that the
//! partition is in the producer's open transaction. So no batch checked against an open
//! transaction is appended after the marker that closed it (the race Kafka's verification
//! guard closes, KIP-890).

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use strikemq_codec::batch::{BatchBuilder, NewRecord};
use strikemq_storage::{InternalLog, LogConfig, MetaStore, PartitionLog, StorageError};
use strikemq_transactions::{log_format, Transaction, TxnConfig, TxnCoordinator};

const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// On start, a log of more records than this, and four times more than transactional ids, is
/// rewritten with one record per id.
const COMPACT_MIN_RECORDS: usize = 1000;
const RECORDS_PER_BATCH: usize = 500;

/// The coordinator and the changes a failed write left unsaved.
pub(crate) struct TxnState {
    /// The coordinator.
    pub(crate) coordinator: TxnCoordinator,
    /// Changes not yet in the log (a write failed); written before the next ones.
    unsaved: Vec<Transaction>,
    /// Prepared transactions wait for their markers (a write failed, or the broker restarted
    /// before they were written): the next tick writes them.
    pub(crate) retry_markers: bool,
}

/// The coordinator behind its lock, and its log.
pub(crate) struct TxnHost {
    state: Mutex<TxnState>,
    log: PartitionLog,
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        ..Default::default()
    }
}

impl TxnHost {
    /// Opens the transaction log and replays it into a new coordinator.
    pub(crate) fn open(meta: &MetaStore, config: TxnConfig) -> Result<TxnHost, StorageError> {
        let mut coordinator = TxnCoordinator::new(config);
        let log = meta.open_log(InternalLog::TransactionState, log_config())?;
        let records = replay(&log, &mut coordinator)?;
        let live = coordinator.list().len();
        let log = if records > COMPACT_MIN_RECORDS && records > 4 * live {
            log.close()?;
            drop(log);
            let all: Vec<Transaction> = coordinator.list().into_iter().cloned().collect();
            let log = meta.rewrite_log(InternalLog::TransactionState, log_config(), |log| {
                for chunk in all.chunks(RECORDS_PER_BATCH) {
                    log.append(&encode(chunk, 0))?;
                }
                Ok(())
            })?;
            tracing::info!(records, live, "compacted the transaction state log");
            log
        } else {
            log
        };
        let retry_markers = !coordinator.pending_markers().is_empty();
        Ok(TxnHost {
            state: Mutex::new(TxnState {
                coordinator,
                unsaved: Vec::new(),
                retry_markers,
            }),
            log,
        })
    }

    /// The coordinator, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, TxnState> {
        self.state.lock()
    }

    /// Writes what changed in the coordinator since the last call to the log. On failure the
    /// changes are kept and written with the next ones.
    pub(crate) fn persist(&self, state: &mut TxnState, now_ms: i64) -> Result<(), StorageError> {
        let mut changes = std::mem::take(&mut state.unsaved);
        changes.extend(state.coordinator.take_changes());
        if changes.is_empty() {
            return Ok(());
        }
        match self.log.append(&encode(&changes, now_ms)) {
            Ok(_) => Ok(()),
            Err(e) => {
                state.unsaved = changes;
                Err(e)
            }
        }
    }

    /// Syncs the log.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.log.sync()
    }

    /// Flushes and closes the log.
    pub(crate) fn close(&self) -> Result<(), StorageError> {
        self.log.close()
    }
}

fn encode(txns: &[Transaction], now_ms: i64) -> Bytes {
    let mut b = BatchBuilder::new();
    for txn in txns {
        let (key, value) = log_format::encode(txn);
        b = b.record(NewRecord {
            timestamp: now_ms,
            key: Some(Bytes::from(key)),
            value: Some(Bytes::from(value)),
            headers: Vec::new(),
        });
    }
    b.build()
}

/// Restores every record of the log (the latest per id wins); returns how many there were.
fn replay(log: &PartitionLog, coordinator: &mut TxnCoordinator) -> Result<usize, StorageError> {
    crate::internal_logs::replay(log, |record| {
        match record.value.as_deref().and_then(log_format::decode) {
            Some(txn) => coordinator.restore(txn),
            None => tracing::warn!(
                offset = record.offset,
                "a transaction state record this version does not read: skipped"
            ),
        }
    })
}
