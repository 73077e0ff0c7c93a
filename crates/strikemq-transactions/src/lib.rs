//! # strikemq-transactions
//!
//! Kafka's transaction coordinator (KIP-98, transaction version 1) as a deterministic state
//! machine: no I/O, no threads, time passed in as wall-clock milliseconds. The host (the broker)
//! asks it what to answer InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, writes
//! the transaction markers it returns into the partitions' logs, tells it when they are written
//! ([`TxnCoordinator::complete`]), persists the transactions it reports changed
//! ([`TxnCoordinator::take_changes`]) and replays them on start ([`TxnCoordinator::restore`]).
//!
//! ```
//! use strikemq_transactions::{EndOutcome, InitOutcome, TopicPartition, TxnConfig, TxnCoordinator};
//!
//! let mut c = TxnCoordinator::new(TxnConfig::default());
//! let mut next_id = 1000;
//! let mut ids = || { next_id += 1; Some(next_id) };
//! let InitOutcome::Ready { producer_id, epoch } =
//!     c.init_producer_id("orders-tx", 60_000, None, 0, &mut ids).unwrap()
//! else { panic!() };
//! c.add_partitions("orders-tx", producer_id, epoch, &[TopicPartition::new("orders", 0)], 5)
//!     .unwrap();
//! let EndOutcome::WriteMarkers(markers) = c.end_txn("orders-tx", producer_id, epoch, true, 9).unwrap()
//! else { panic!() };
//! assert_eq!(markers.partitions, [TopicPartition::new("orders", 0)]);
//! // ... the host writes a COMMIT marker to orders-0, then:
//! c.complete("orders-tx", 10);
//! assert_eq!(c.describe("orders-tx").unwrap().state.as_str(), "CompleteCommit");
//! ```

#![deny(missing_docs)]

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
pub use strikemq_codec::ResponseError;

/// Coordinator settings.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// Kafka's `transaction.max.timeout.ms`: the longest timeout a producer may ask for.
    pub max_timeout_ms: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
        }
    }
}

/// A topic partition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// A transaction's state, with Kafka's names (DescribeTransactions, ListTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction since the producer was initialised.
    Empty,
    /// Partitions were added: the transaction is open.
    Ongoing,
    /// EndTxn(commit) accepted; the markers are being written.
    PrepareCommit,
    /// EndTxn(abort) or a timeout; the markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The producer's `transactional.id`.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its current epoch; older epochs are fenced.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` as the producer asked.
    pub timeout_ms: i32,
    /// The state.
    pub state: TxnState,
    /// The partitions of the open (or last) transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// The consumer groups whose offsets the transaction commits (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// Offsets committed by TxnOffsetCommit in the open transaction: visible to OffsetFetch
    /// once it commits, dropped if it aborts.
    #[serde(default)]
    pub pending_offsets: Vec<PendingOffset>,
    /// When the open (or last) transaction started (its first AddPartitions), -1 before the
    /// first.
    pub start_ms: i64,
    /// When the state last changed.
    pub last_update_ms: i64,
    /// The producer id before the last one (transaction version 2 moves to a new id when the
    /// epochs run out at a commit; a retry of that commit names the old one), -1 without one.
    #[serde(default = "no_producer_id")]
    pub prev_producer_id: i64,
}

fn no_producer_id() -> i64 {
    -1
}

/// An offset a transaction commits for a consumer group (TxnOffsetCommit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOffset {
    /// The consumer group.
    pub group: String,
    /// The partition.
    pub partition: TopicPartition,
    /// The offset.
    pub offset: i64,
    /// The leader epoch the consumer saw, -1 if unknown.
    pub leader_epoch: i32,
    /// The consumer's metadata string.
    pub metadata: String,
}

/// The markers the host must write, and the groups whose pending offsets to commit or drop,
/// before calling [`TxnCoordinator::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    /// The transaction.
    pub transactional_id: String,
    /// Producer id of the markers.
    pub producer_id: i64,
    /// Producer epoch of the markers.
    pub producer_epoch: i16,
    /// Commit (else abort).
    pub commit: bool,
    /// Every partition to write a marker to.
    pub partitions: Vec<TopicPartition>,
    /// Groups whose pending transactional offsets become visible (commit) or are dropped.
    pub groups: Vec<String>,
    /// The offsets to commit to those groups, before [`TxnCoordinator::complete`] (none on an
    /// abort).
    pub offsets: Vec<PendingOffset>,
}

/// The answer to InitProducerId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Answer with this producer id and epoch.
    Ready {
        /// Producer id.
        producer_id: i64,
        /// Producer epoch.
        epoch: i16,
    },
    /// A transaction was still open: it is being aborted (its producer fenced). Write these
    /// markers, then [`TxnCoordinator::complete`]; answer CONCURRENT_TRANSACTIONS, and the
    /// client retries.
    AbortFirst(Markers),
}

/// The answer to EndTxn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// Write these markers, then [`TxnCoordinator::complete`]; answer success.
    WriteMarkers(Markers),
    /// The transaction already ended this way (a retry): answer success.
    AlreadyDone,
}

/// Epochs run up to `i16::MAX - 1`; then the producer gets a new id (Kafka's rule).
const LAST_EPOCH: i16 = i16::MAX - 1;

/// The transactions of every transactional id.
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    config: TxnConfig,
    txns: HashMap<String, Transaction>,
    changed: BTreeSet<String>,
    /// A transaction opened since the last [`TxnCoordinator::take_opened`]: its timeout may be
    /// the earliest now.
    opened: bool,
}

impl TxnCoordinator {
    /// An empty coordinator.
    pub fn new(config: TxnConfig) -> TxnCoordinator {
        TxnCoordinator {
            config,
            txns: HashMap::new(),
            changed: BTreeSet::new(),
            opened: false,
        }
    }

    /// InitProducerId with a transactional id. `expected` is the producer id and epoch a
    /// v3+ client sends to bump its own epoch after an error (KIP-360); `new_id` hands out a
    /// producer id never used before, or `None` when it cannot (the answer is then
    /// COORDINATOR_NOT_AVAILABLE and nothing changes).
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        new_id: &mut dyn FnMut() -> Option<i64>,
    ) -> Result<InitOutcome, ResponseError> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let Some(txn) = self.txns.get_mut(transactional_id) else {
            if expected.is_some_and(|(pid, _)| pid >= 0) {
                // A producer that thinks it has an id the coordinator never gave out.
                return Err(ResponseError::InvalidProducerIdMapping);
            }
            let producer_id = new_id().ok_or(ResponseError::CoordinatorNotAvailable)?;
            let txn = Transaction {
                transactional_id: transactional_id.to_owned(),
                producer_id,
                producer_epoch: 0,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
                pending_offsets: Vec::new(),
                start_ms: -1,
                last_update_ms: now_ms,
                prev_producer_id: -1,
            };
            let ready = InitOutcome::Ready {
                producer_id: txn.producer_id,
                epoch: txn.producer_epoch,
            };
            self.txns.insert(transactional_id.to_owned(), txn);
            self.changed.insert(transactional_id.to_owned());
            return Ok(ready);
        };
        if let Some((pid, epoch)) = expected.filter(|(pid, _)| *pid >= 0) {
            if pid != txn.producer_id || epoch != txn.producer_epoch {
                return Err(ResponseError::ProducerFenced);
            }
        }
        if txn.state.is_preparing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        bump_epoch(txn, new_id).ok_or(ResponseError::CoordinatorNotAvailable)?;
        self.changed.insert(transactional_id.to_owned());
        if txn.state == TxnState::Ongoing {
            // Fence the producer that left it open and abort with the new epoch.
            return Ok(InitOutcome::AbortFirst(prepare(txn, false, now_ms)));
        }
        txn.timeout_ms = timeout_ms;
        txn.state = TxnState::Empty;
        txn.partitions.clear();
        txn.groups.clear();
        txn.pending_offsets.clear();
        txn.start_ms = -1;
        txn.last_update_ms = now_ms;
        Ok(InitOutcome::Ready {
            producer_id: txn.producer_id,
            epoch: txn.producer_epoch,
        })
    }

    /// AddPartitionsToTxn: the partitions join the producer's transaction, which opens if it
    /// was not.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let txn = self.current(transactional_id, producer_id, epoch)?;
        if txn.state.is_preparing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if partitions.iter().all(|p| txn.partitions.contains(p)) && txn.state == TxnState::Ongoing {
            return Ok(());
        }
        let opened = open(txn, now_ms);
        txn.partitions.extend(partitions.iter().cloned());
        self.opened |= opened;
        self.changed.insert(transactional_id.to_owned());
        Ok(())
    }

    /// AddOffsetsToTxn: the group's offsets are committed (TxnOffsetCommit) as part of the
    /// transaction.
    pub fn add_offsets(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group_id: &str,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let txn = self.current(transactional_id, producer_id, epoch)?;
        if txn.state.is_preparing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let opened = open(txn, now_ms);
        txn.groups.insert(group_id.to_owned());
        self.opened |= opened;
        self.changed.insert(transactional_id.to_owned());
        Ok(())
    }

    /// Whether a TxnOffsetCommit of this producer for this group may be taken: the group was
    /// added to its open transaction.
    pub fn check_offset_commit(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group_id: &str,
    ) -> Result<(), ResponseError> {
        let txn = self.current(transactional_id, producer_id, epoch)?;
        if txn.state != TxnState::Ongoing || !txn.groups.contains(group_id) {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
    }

    /// TxnOffsetCommit: holds the offsets until the transaction ends (checked as
    /// [`TxnCoordinator::check_offset_commit`]). A later offset for the same group and
    /// partition replaces an earlier one.
    pub fn txn_offset_commit(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        offsets: Vec<PendingOffset>,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        for o in &offsets {
            self.check_offset_commit(transactional_id, producer_id, epoch, &o.group)?;
        }
        let txn = self.current(transactional_id, producer_id, epoch)?;
        for o in offsets {
            txn.pending_offsets
                .retain(|p| p.group != o.group || p.partition != o.partition);
            txn.pending_offsets.push(o);
        }
        txn.last_update_ms = now_ms;
        self.changed.insert(transactional_id.to_owned());
        Ok(())
    }

    /// Whether an open or ending transaction holds an offset of this group for this partition
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for it).
    pub fn has_pending_offset(&self, group: &str, partition: &TopicPartition) -> bool {
        self.txns.values().any(|t| {
            t.state != TxnState::Empty
                && t.pending_offsets
                    .iter()
                    .any(|o| o.group == group && &o.partition == partition)
        })
    }

    /// EndTxn: commit or abort the open transaction.
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<EndOutcome, ResponseError> {
        let txn = self.current(transactional_id, producer_id, epoch)?;
        match (txn.state, commit) {
            (TxnState::Ongoing, _) => {
                let markers = prepare(txn, commit, now_ms);
                self.changed.insert(transactional_id.to_owned());
                Ok(EndOutcome::WriteMarkers(markers))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok(EndOutcome::AlreadyDone)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ResponseError::ConcurrentTransactions)
            }
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// EndTxn v5 (transaction version 2, KIP-890 part 2): every end moves the producer to its
    /// next epoch (a new id when they run out), the markers carry it, and the answer names it.
    /// A retry of the last end names the epoch before that bump. Returns what to do and the
    /// producer id and epoch to answer with.
    pub fn end_txn_v2(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
        new_id: &mut dyn FnMut() -> Option<i64>,
    ) -> Result<(EndOutcome, i64, i16), ResponseError> {
        let txn = self
            .txns
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        let retry_on_overflow =
            txn.prev_producer_id == producer_id && epoch == LAST_EPOCH && txn.producer_epoch == 0;
        let retry_on_bump = txn.producer_epoch == epoch.saturating_add(1);
        let retry = retry_on_bump || retry_on_overflow;
        if txn.producer_id != producer_id && !retry_on_overflow {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        let valid_epoch = match txn.state {
            TxnState::Ongoing | TxnState::Empty => epoch == txn.producer_epoch,
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                retry || epoch == txn.producer_epoch
            }
        };
        if !valid_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        let done =
            |txn: &Transaction| Ok((EndOutcome::AlreadyDone, txn.producer_id, txn.producer_epoch));
        let prepare_v2 = |txn: &mut Transaction,
                          commit: bool,
                          new_id: &mut dyn FnMut() -> Option<i64>|
         -> Result<(EndOutcome, i64, i16), ResponseError> {
            // The markers carry the epoch the producer moves to; at the last epoch the markers
            // keep the old id and epoch and the producer gets a new id.
            let (marker_pid, marker_epoch) = (txn.producer_id, txn.producer_epoch);
            bump_epoch(txn, new_id).ok_or(ResponseError::CoordinatorNotAvailable)?;
            let mut m = prepare(txn, commit, now_ms);
            if txn.producer_id == marker_pid {
                m.producer_epoch = txn.producer_epoch;
            } else {
                m.producer_epoch = marker_epoch;
                m.producer_id = marker_pid;
            }
            Ok((
                EndOutcome::WriteMarkers(m),
                txn.producer_id,
                txn.producer_epoch,
            ))
        };
        let out = match (txn.state, commit) {
            (TxnState::Ongoing, _) => prepare_v2(txn, commit, new_id),
            (TxnState::CompleteCommit, true) if retry => done(txn),
            (TxnState::CompleteCommit, true) => Err(ResponseError::InvalidTxnState),
            (TxnState::CompleteCommit, false) if retry => Err(ResponseError::InvalidTxnState),
            (TxnState::CompleteAbort, false) if retry => done(txn),
            // An abort with nothing open moves the epoch on and writes no marker.
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false) => {
                txn.partitions.clear();
                txn.groups.clear();
                prepare_v2(txn, false, new_id)
            }
            (TxnState::CompleteAbort | TxnState::Empty, true) => {
                Err(ResponseError::InvalidTxnState)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ResponseError::ConcurrentTransactions)
            }
            (TxnState::PrepareCommit | TxnState::PrepareAbort, _) => {
                Err(ResponseError::InvalidTxnState)
            }
        };
        if matches!(out, Ok((EndOutcome::WriteMarkers(_), _, _))) {
            self.changed.insert(transactional_id.to_owned());
        }
        out
    }

    /// The markers of a prepared transaction are written: it is complete.
    pub fn complete(&mut self, transactional_id: &str, now_ms: i64) {
        let Some(txn) = self.txns.get_mut(transactional_id) else {
            return;
        };
        txn.state = match txn.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => other,
        };
        // As Kafka: a complete transaction lists no partitions, and keeps its start time.
        txn.partitions.clear();
        txn.groups.clear();
        txn.pending_offsets.clear();
        txn.last_update_ms = now_ms;
        self.changed.insert(transactional_id.to_owned());
    }

    /// Aborts every open transaction older than its timeout, fencing its producer (the epoch
    /// moves on, as Kafka fences a producer whose transaction it aborts). Returns the markers
    /// to write for each.
    /// A transaction whose producer needs a new id that `new_id` cannot give stays open until
    /// the next call.
    pub fn expire(&mut self, now_ms: i64, new_id: &mut dyn FnMut() -> Option<i64>) -> Vec<Markers> {
        let mut out = Vec::new();
        for (id, txn) in self.txns.iter_mut() {
            if txn.state == TxnState::Ongoing
                && now_ms >= txn.start_ms.saturating_add(i64::from(txn.timeout_ms))
            {
                if bump_epoch(txn, new_id).is_none() {
                    continue;
                }
                out.push(prepare(txn, false, now_ms));
                self.changed.insert(id.clone());
            }
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// When the earliest open transaction times out (ms), if any is open: when to call
    /// [`TxnCoordinator::expire`] next. With none open, no wake-up is needed.
    pub fn next_deadline(&self) -> Option<i64> {
        self.txns
            .values()
            .filter(|t| t.state == TxnState::Ongoing)
            .map(|t| t.start_ms.saturating_add(i64::from(t.timeout_ms)))
            .min()
    }

    /// Transactions whose markers are still to be written (after a restart: every prepared
    /// one, which the host completes as it would have).
    pub fn pending_markers(&self) -> Vec<Markers> {
        let mut out: Vec<Markers> = self
            .txns
            .values()
            .filter(|t| t.state.is_preparing())
            .map(|t| markers(t, t.state == TxnState::PrepareCommit))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// One transactional id's state (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Option<&Transaction> {
        self.txns.get(transactional_id)
    }

    /// Every transactional id, sorted (ListTransactions).
    pub fn list(&self) -> Vec<&Transaction> {
        let mut all: Vec<&Transaction> = self.txns.values().collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    /// Whether a transaction opened since the last call: the host's timer must recompute its
    /// deadline ([`TxnCoordinator::next_deadline`]). Ends need no recomputing: a timer that
    /// wakes for a transaction that ended finds nothing to do.
    pub fn take_opened(&mut self) -> bool {
        std::mem::take(&mut self.opened)
    }

    /// The transactions that changed since the last call, to persist (in id order).
    pub fn take_changes(&mut self) -> Vec<Transaction> {
        let ids = std::mem::take(&mut self.changed);
        ids.into_iter()
            .filter_map(|id| self.txns.get(&id).cloned())
            .collect()
    }

    /// Puts back a transaction read from the log on start (the latest record per id wins).
    pub fn restore(&mut self, txn: Transaction) {
        self.txns.insert(txn.transactional_id.clone(), txn);
    }

    fn current(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&mut Transaction, ResponseError> {
        let txn = self
            .txns
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if txn.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if txn.producer_epoch != epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(txn)
    }
}

/// Moves the producer to its next epoch, or to a new id at the last one; `None` (and no
/// change) when no new id can be had.
fn bump_epoch(txn: &mut Transaction, new_id: &mut dyn FnMut() -> Option<i64>) -> Option<()> {
    if txn.producer_epoch >= LAST_EPOCH {
        let id = new_id()?;
        txn.prev_producer_id = txn.producer_id;
        txn.producer_id = id;
        txn.producer_epoch = 0;
    } else {
        txn.producer_epoch += 1;
    }
    Some(())
}

/// Opens the transaction if it is not; returns whether it did (a new timeout to watch).
fn open(txn: &mut Transaction, now_ms: i64) -> bool {
    let opened = txn.state != TxnState::Ongoing;
    if opened {
        txn.state = TxnState::Ongoing;
        txn.partitions.clear();
        txn.groups.clear();
        txn.pending_offsets.clear();
        txn.start_ms = now_ms;
    }
    txn.last_update_ms = now_ms;
    opened
}

fn prepare(txn: &mut Transaction, commit: bool, now_ms: i64) -> Markers {
    txn.state = if commit {
        TxnState::PrepareCommit
    } else {
        TxnState::PrepareAbort
    };
    txn.last_update_ms = now_ms;
    markers(txn, commit)
}

fn markers(txn: &Transaction, commit: bool) -> Markers {
    Markers {
        transactional_id: txn.transactional_id.clone(),
        producer_id: txn.producer_id,
        producer_epoch: txn.producer_epoch,
        commit,
        partitions: txn.partitions.iter().cloned().collect(),
        groups: txn.groups.iter().cloned().collect(),
        offsets: if commit {
            txn.pending_offsets.clone()
        } else {
            Vec::new()
        },
    }
}

/// The transaction-state log's record format: the key is the transactional id, the value the
/// transaction as JSON with a format version (a `null` value would delete an id; none is
/// written yet).
pub mod log_format {
    use super::Transaction;
    use serde::{Deserialize, Serialize};

    /// The format version of the values.
    pub const VERSION: u32 = 1;

    #[derive(Serialize, Deserialize)]
    struct Value {
        version: u32,
        #[serde(flatten)]
        txn: Transaction,
    }

    /// A record's key and value for a transaction.
    pub fn encode(txn: &Transaction) -> (Vec<u8>, Vec<u8>) {
        let value = Value {
            version: VERSION,
            txn: txn.clone(),
        };
        (
            txn.transactional_id.as_bytes().to_vec(),
            serde_json::to_vec(&value).unwrap_or_default(),
        )
    }

    /// A transaction from a record's value; `None` for a value of a newer format or a damaged
    /// one.
    pub fn decode(value: &[u8]) -> Option<Transaction> {
        let v: Value = serde_json::from_slice(value).ok()?;
        (v.version <= VERSION).then_some(v.txn)
    }
}

#[cfg(test)]
mod tests;
