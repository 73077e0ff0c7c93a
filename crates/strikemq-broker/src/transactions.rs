//! The transaction APIs (KIP-98, transaction version 1): InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions and
//! ListTransactions; the writing of markers; the check of each transactional batch a Produce
//! carries; timeouts. The state machine is `strikemq_transactions`; [`crate::txn_host`] keeps it
//! and its log.

use std::time::Instant;

use strikemq_codec::batch::{control_batch, ControlType, RecordBatch};
use strikemq_codec::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use strikemq_codec::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use strikemq_codec::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use strikemq_codec::messages::{
    describe_transactions_response, list_transactions_response, AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, ResponseKind, TopicName, TransactionalId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use strikemq_codec::{ResponseError, StrBytes};
use strikemq_groups::{CommittedOffset, OffsetChange};
use strikemq_transactions::{
    EndOutcome, InitOutcome, Markers, PendingOffset, TopicPartition, TxnState as State,
};

use crate::errors::{code, KafkaError};
use crate::group_requests::wall_clock_ms;
use crate::log_throttle::LogThrottle;
use crate::routes::RequestContext;
use crate::txn_host::TxnState;
use crate::{Broker, Outcome};

/// Versions before these answer INVALID_PRODUCER_EPOCH where later ones say PRODUCER_FENCED.
const FENCED_SINCE_ADD_PARTITIONS: i16 = 2;
const FENCED_SINCE_INIT: i16 = 4;
/// AddPartitionsToTxn v4+ batches transactions (broker to broker, KIP-890).
const BATCHED_ADD_PARTITIONS: i16 = 4;
/// EndTxn v5 is transaction version 2: the epoch moves on at every end.
const END_TXN_V2: i16 = 5;
/// Produce v12+ lets the broker add the partition to the transaction (transaction version 2).
const PRODUCE_IMPLICIT_ADD_SINCE: i16 = 12;
/// Produce v11 knows TRANSACTION_ABORTABLE (KIP-890).
const PRODUCE_ABORTABLE_SINCE: i16 = 11;
/// TxnOffsetCommit v4 knows TRANSACTION_ABORTABLE.
const OFFSETS_ABORTABLE_SINCE: i16 = 4;
/// TxnOffsetCommit v5 adds the group to the transaction itself (KIP-890 part 2), as Kafka 4.1
/// does whatever transaction version is finalized.
const OFFSETS_IMPLICIT_ADD_SINCE: i16 = 5;

/// What a producer should retry, as Kafka answers it: NOT_ENOUGH_REPLICAS, retriable in every
/// client and without a metadata refresh.
fn unverified(e: ResponseError) -> KafkaError {
    let name = match e {
        ResponseError::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
        ResponseError::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
        ResponseError::NotCoordinator => "NOT_COORDINATOR",
        _ => "COORDINATOR_NOT_AVAILABLE",
    };
    KafkaError::new(
        ResponseError::NotEnoughReplicas,
        format!(
            "Unable to verify the partition has been added to the transaction. Underlying error: {name}"
        ),
    )
}

/// PRODUCER_FENCED as the given request version knows it.
fn fenced_as(error: ResponseError, version: i16, since: i16) -> ResponseError {
    if error == ResponseError::ProducerFenced && version < since {
        ResponseError::InvalidProducerEpoch
    } else {
        error
    }
}

fn empty_id(id: &TransactionalId) -> bool {
    id.0.is_empty()
}

impl Broker {
    /// Runs `f` on the coordinator, writes what changed to the log, then writes the markers `f`
    /// returned and completes those transactions. A failed log write answers
    /// COORDINATOR_NOT_AVAILABLE: the change is kept and written with the next, and prepared
    /// transactions get their markers at the coordinator timer's retry.
    fn with_txns<T>(
        &self,
        now: Instant,
        f: impl FnOnce(&mut TxnState, i64) -> (Result<T, ResponseError>, Vec<Markers>),
    ) -> Result<T, ResponseError> {
        let now_ms = wall_clock_ms();
        let mut state = self.txns.lock();
        let (out, markers) = f(&mut state, now_ms);
        let persisted = self.txns.persist(&mut state, now_ms);
        match &persisted {
            Ok(()) => {
                for m in markers {
                    self.finish(&mut state, &m, now);
                }
            }
            Err(e) => {
                static STATE_FAILED: LogThrottle = LogThrottle::new();
                if let Some(suppressed) = STATE_FAILED.allow() {
                    tracing::error!(error = %e, suppressed, "writing the transaction state failed");
                }
                state.retry_markers |= !markers.is_empty();
            }
        }
        // The timer recomputes its deadline for a new timeout or a retry to come.
        let poke = state.coordinator.take_opened() || state.retry_markers;
        drop(state);
        if poke {
            self.timers.groups_changed();
        }
        persisted.map_err(|_| ResponseError::CoordinatorNotAvailable)?;
        out
    }

    /// Writes a prepared transaction's markers and, on commit, its offsets; then completes it.
    /// On a storage error it stays prepared and is retried at the next tick.
    fn finish(&self, state: &mut TxnState, m: &Markers, now: Instant) {
        let now_ms = wall_clock_ms();
        let control = if m.commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        let marker = control_batch(m.producer_id, m.producer_epoch, control, 0, now_ms);
        let mut failed = None;
        for tp in &m.partitions {
            // A topic deleted since it joined the transaction has nothing to mark.
            let Some(topic) = self.store().topic(&tp.topic) else {
                continue;
            };
            let Ok(log) = topic.partition(tp.partition) else {
                continue;
            };
            match log.append(&marker) {
                Ok(info) => {
                    if info.rolled {
                        self.retention_changed();
                    }
                    if let Err(e) = crate::produce::sync_if_always(self, &topic, tp.partition) {
                        failed = Some(format!("{e:?}"));
                    }
                }
                Err(e) => failed = Some(e.to_string()),
            }
        }
        if failed.is_none() && !m.offsets.is_empty() {
            let changes: Vec<OffsetChange> = m
                .offsets
                .iter()
                .map(|o| OffsetChange {
                    group: o.group.clone(),
                    partition: strikemq_groups::TopicPartition::new(
                        o.partition.topic.as_str(),
                        o.partition.partition,
                    ),
                    offset: Some(CommittedOffset {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        metadata: Some(o.metadata.clone()),
                        commit_ms: now_ms,
                    }),
                })
                .collect();
            if let Err(e) = self.persist_offsets(&changes, now) {
                failed = Some(e.to_string());
            }
        }
        self.appended();
        if let Some(error) = failed {
            static MARKERS_FAILED: LogThrottle = LogThrottle::new();
            if let Some(suppressed) = MARKERS_FAILED.allow() {
                tracing::error!(
                    transactional_id = m.transactional_id,
                    error,
                    suppressed,
                    "writing transaction markers failed; retrying"
                );
            }
            state.retry_markers = true;
            return;
        }
        state.coordinator.complete(&m.transactional_id, now_ms);
        if let Err(e) = self.txns.persist(state, now_ms) {
            static COMPLETE_FAILED: LogThrottle = LogThrottle::new();
            if let Some(suppressed) = COMPLETE_FAILED.allow() {
                tracing::error!(error = %e, suppressed, "writing the transaction state failed");
            }
        }
    }

    /// Aborts the transactions past their timeout and retries markers a storage error left
    /// unwritten. Returns when to call again: the next timeout (none while no transaction is
    /// open), or a second from now while markers wait for a retry.
    pub(crate) fn tick_transactions(&self, now: Instant) -> Option<Instant> {
        let now_ms = wall_clock_ms();
        let mut state = self.txns.lock();
        let mut due = if std::mem::take(&mut state.retry_markers) {
            state.coordinator.pending_markers()
        } else {
            Vec::new()
        };
        let ids = &self.producer_ids;
        due.extend(
            state
                .coordinator
                .expire(now_ms, &mut || ids.allocate().ok()),
        );
        if !due.is_empty() {
            if let Err(e) = self.txns.persist(&mut state, now_ms) {
                tracing::error!(error = %e, "writing the transaction state failed");
                state.retry_markers = true;
            } else {
                for m in &due {
                    tracing::info!(
                        transactional_id = m.transactional_id,
                        commit = m.commit,
                        "completing a transaction (timeout or recovery)"
                    );
                    self.finish(&mut state, m, now);
                }
            }
        }
        let retry = state
            .retry_markers
            .then(|| now + std::time::Duration::from_secs(1));
        let timeout = state.coordinator.next_deadline().map(|ms| {
            now + std::time::Duration::from_millis(u64::try_from(ms - now_ms).unwrap_or(0))
        });
        retry.into_iter().chain(timeout).min()
    }

    /// Checks a transactional batch against its producer's open transaction, under the lock the
    /// caller holds until the batch is appended. A partition that already holds an open
    /// transaction of the batch's producer needs no check (Kafka verifies a partition once per
    /// transaction). Produce v12+ adds the partition to the transaction, opening it if need be
    /// (transaction version 2); older versions only verify.
    pub(crate) fn check_txn_batch(
        &self,
        state: &mut TxnState,
        transactional_id: &str,
        topic: &str,
        partition: i32,
        records: &[u8],
        version: i16,
    ) -> Result<(), KafkaError> {
        let Ok(batch) = RecordBatch::parse_unchecked(records) else {
            return Ok(()); // the append path answers a bad batch
        };
        if !batch.is_transactional() {
            return Ok(());
        }
        let open_here = self
            .store()
            .topic(topic)
            .and_then(|t| t.partition(partition).ok().cloned())
            .is_some_and(|log| log.has_open_transaction(batch.producer_id()));
        if open_here {
            return Ok(());
        }
        let tp = TopicPartition::new(topic, partition);
        let now_ms = wall_clock_ms();
        let verdict = if version >= PRODUCE_IMPLICIT_ADD_SINCE {
            let added = state.coordinator.add_partitions(
                transactional_id,
                batch.producer_id(),
                batch.producer_epoch(),
                std::slice::from_ref(&tp),
                now_ms,
            );
            if added.is_ok() {
                if let Err(e) = self.txns.persist(state, now_ms) {
                    tracing::error!(error = %e, "writing the transaction state failed");
                    return Err(unverified(ResponseError::CoordinatorNotAvailable));
                }
                if state.coordinator.take_opened() {
                    self.timers.groups_changed();
                }
            }
            added
        } else {
            match state.coordinator.describe(transactional_id) {
                None => Err(ResponseError::InvalidProducerIdMapping),
                Some(t) if t.producer_id != batch.producer_id() => {
                    Err(ResponseError::InvalidProducerIdMapping)
                }
                Some(t) if batch.producer_epoch() < t.producer_epoch => {
                    Err(ResponseError::InvalidProducerEpoch)
                }
                Some(t) if t.state == State::Ongoing && t.partitions.contains(&tp) => Ok(()),
                Some(_) if version >= PRODUCE_ABORTABLE_SINCE => {
                    Err(ResponseError::TransactionAbortable)
                }
                Some(_) => Err(ResponseError::InvalidTxnState),
            }
        };
        // Kafka's translation of the coordinator's answer for the producer.
        verdict.map_err(|e| match e {
            ResponseError::InvalidTxnState => {
                KafkaError::new(e, "Partition was not added to the transaction")
            }
            ResponseError::ConcurrentTransactions
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::NotCoordinator => unverified(e),
            e => e.into(),
        })
    }

    /// Whether a transaction holds an uncommitted offset of the group for the partition.
    pub(crate) fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.txns
            .lock()
            .coordinator
            .has_pending_offset(group, &TopicPartition::new(topic, partition))
    }
}

/// InitProducerId with a transactional id.
pub(crate) fn init_producer_id(
    broker: &Broker,
    req: &InitProducerIdRequest,
    version: i16,
    now: Instant,
) -> InitProducerIdResponse {
    let id = req
        .transactional_id
        .as_ref()
        .map_or("", |t| t.0.as_str())
        .to_owned();
    let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let ids = &broker.producer_ids;
    let result = broker.with_txns(now, |state, now_ms| {
        match state.coordinator.init_producer_id(
            &id,
            req.transaction_timeout_ms,
            expected,
            now_ms,
            &mut || ids.allocate().ok(),
        ) {
            Ok(InitOutcome::Ready { producer_id, epoch }) => (Ok((producer_id, epoch)), vec![]),
            // The open transaction is aborted first; the client retries.
            Ok(InitOutcome::AbortFirst(m)) => (Err(ResponseError::ConcurrentTransactions), vec![m]),
            Err(e) => (Err(e), vec![]),
        }
    });
    match result {
        Ok((pid, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(code(fenced_as(e, version, FENCED_SINCE_INIT)))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

/// The partitions of a request that exist, and the answer for each: UNKNOWN_TOPIC_OR_PARTITION
/// for those that do not and, when any does not, OPERATION_NOT_ATTEMPTED for the rest (Kafka
/// adds all or none).
fn check_partitions(
    broker: &Broker,
    topics: &[AddPartitionsToTxnTopic],
) -> (Vec<TopicPartition>, Option<Vec<Vec<ResponseError>>>) {
    let mut all = Vec::new();
    let mut unknown = false;
    let verdicts: Vec<Vec<ResponseError>> = topics
        .iter()
        .map(|t| {
            let topic = broker.store().topic(t.name.0.as_str());
            t.partitions
                .iter()
                .map(|&p| {
                    all.push(TopicPartition::new(t.name.0.as_str(), p));
                    if topic.as_ref().is_some_and(|t| t.has_partition(p)) {
                        ResponseError::OperationNotAttempted
                    } else {
                        unknown = true;
                        ResponseError::UnknownTopicOrPartition
                    }
                })
                .collect()
        })
        .collect();
    (all, unknown.then_some(verdicts))
}

fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    error_of: impl Fn(usize, usize, i32) -> Option<ResponseError>,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .enumerate()
                        .map(|(pi, &p)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(error_of(ti, pi, p).map_or(0, code))
                        })
                        .collect(),
                )
        })
        .collect()
}

/// One transaction of an AddPartitionsToTxn: its per-partition answers.
fn add_partitions_one(
    broker: &Broker,
    txn: &AddPartitionsToTxnTransaction,
    version: i16,
    now: Instant,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let (id, producer_id, epoch, topics) = (
        &txn.transactional_id,
        txn.producer_id.0,
        txn.producer_epoch,
        &txn.topics[..],
    );
    if empty_id(id) {
        return topic_results(topics, |_, _, _| Some(ResponseError::InvalidRequest));
    }
    let (partitions, unknown) = check_partitions(broker, topics);
    if let Some(verdicts) = unknown {
        return topic_results(topics, |ti, pi, _| Some(verdicts[ti][pi]));
    }
    if txn.verify_only {
        let state = broker.txns.lock();
        let txn = state.coordinator.describe(id.0.as_str());
        let check = |tp: &TopicPartition| -> Option<ResponseError> {
            match txn {
                None => Some(ResponseError::InvalidProducerIdMapping),
                Some(t) if t.producer_id != producer_id => {
                    Some(ResponseError::InvalidProducerIdMapping)
                }
                Some(t) if t.producer_epoch != epoch => Some(ResponseError::ProducerFenced),
                Some(t) if t.state == State::Ongoing && t.partitions.contains(tp) => None,
                // Kafka 4.1 answers TRANSACTION_ABORTABLE at v4 too.
                Some(_) => Some(ResponseError::TransactionAbortable),
            }
        };
        return topic_results(topics, |ti, _, p| {
            check(&TopicPartition::new(topics[ti].name.0.as_str(), p))
        });
    }
    let result = broker.with_txns(now, |state, now_ms| {
        (
            state.coordinator.add_partitions(
                id.0.as_str(),
                producer_id,
                epoch,
                &partitions,
                now_ms,
            ),
            vec![],
        )
    });
    let error = result
        .err()
        .map(|e| fenced_as(e, version, FENCED_SINCE_ADD_PARTITIONS));
    topic_results(topics, |_, _, _| error)
}

pub(crate) fn route_add_partitions(
    broker: &Broker,
    r: AddPartitionsToTxnRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let version = ctx.api_version;
    let resp = if version < BATCHED_ADD_PARTITIONS {
        let txn = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(r.v3_and_below_transactional_id)
            .with_producer_id(r.v3_and_below_producer_id)
            .with_producer_epoch(r.v3_and_below_producer_epoch)
            .with_topics(r.v3_and_below_topics);
        let results = add_partitions_one(broker, &txn, version, ctx.now);
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
    } else {
        let results = r
            .transactions
            .iter()
            .map(|t| {
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(t.transactional_id.clone())
                    .with_topic_results(add_partitions_one(broker, t, version, ctx.now))
            })
            .collect();
        AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
    };
    ctx.respond(ResponseKind::AddPartitionsToTxn(resp))
}

pub(crate) fn route_add_offsets(
    broker: &Broker,
    r: AddOffsetsToTxnRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let error = if empty_id(&r.transactional_id) {
        Some(ResponseError::InvalidRequest)
    } else {
        let result = broker.with_txns(ctx.now, |state, now_ms| {
            (
                state.coordinator.add_offsets(
                    r.transactional_id.0.as_str(),
                    r.producer_id.0,
                    r.producer_epoch,
                    r.group_id.0.as_str(),
                    now_ms,
                ),
                vec![],
            )
        });
        result
            .err()
            .map(|e| fenced_as(e, ctx.api_version, FENCED_SINCE_ADD_PARTITIONS))
    };
    ctx.respond(ResponseKind::AddOffsetsToTxn(
        AddOffsetsToTxnResponse::default().with_error_code(error.map_or(0, code)),
    ))
}

pub(crate) fn route_end_txn(
    broker: &Broker,
    r: EndTxnRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let v2 = ctx.api_version >= END_TXN_V2;
    let ids = &broker.producer_ids;
    let result = if empty_id(&r.transactional_id) {
        Err(ResponseError::InvalidRequest)
    } else {
        broker.with_txns(ctx.now, |state, now_ms| {
            let (id, pid, epoch) = (
                r.transactional_id.0.as_str(),
                r.producer_id.0,
                r.producer_epoch,
            );
            let out = if v2 {
                state
                    .coordinator
                    .end_txn_v2(id, pid, epoch, r.committed, now_ms, &mut || {
                        ids.allocate().ok()
                    })
            } else {
                state
                    .coordinator
                    .end_txn(id, pid, epoch, r.committed, now_ms)
                    .map(|o| (o, -1, -1))
            };
            match out {
                Ok((EndOutcome::WriteMarkers(m), pid, epoch)) => (Ok((pid, epoch)), vec![m]),
                Ok((EndOutcome::AlreadyDone, pid, epoch)) => (Ok((pid, epoch)), vec![]),
                Err(e) => (Err(e), vec![]),
            }
        })
    };
    let resp = match result {
        Ok((pid, epoch)) => EndTxnResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(e) => EndTxnResponse::default()
            .with_error_code(code(fenced_as(
                e,
                ctx.api_version,
                FENCED_SINCE_ADD_PARTITIONS,
            )))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    };
    ctx.respond(ResponseKind::EndTxn(resp))
}

pub(crate) fn route_txn_offset_commit(
    broker: &Broker,
    r: TxnOffsetCommitRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let group = r.group_id.0.as_str();
    let max_metadata = broker.groups_config().max_metadata_bytes;
    let mut results: Vec<Vec<Option<ResponseError>>> = r
        .topics
        .iter()
        .map(|t| vec![None; t.partitions.len()])
        .collect();
    // The group's generation, as for OffsetCommit (v3+ names the member; -1 skips the check).
    let verdict = if group.is_empty() {
        Err(ResponseError::InvalidGroupId)
    } else if r.generation_id >= 0 || !r.member_id.is_empty() {
        broker.with_groups(|g| {
            // Kafka has made the group (empty) by now, for the transaction's offsets: a member
            // it does not know is UNKNOWN_MEMBER_ID there.
            if g.state(group).is_none() && !r.member_id.is_empty() {
                return Err(ResponseError::UnknownMemberId);
            }
            g.validate_commit(
                group,
                r.generation_id,
                r.member_id.as_str(),
                r.group_instance_id.as_ref().map(|s| s.as_str()),
                i16::MAX,
                ctx.now,
            )
        })
    } else {
        Ok(())
    };
    let mut offsets = Vec::new();
    for (ti, t) in r.topics.iter().enumerate() {
        let topic = broker.store().topic(t.name.0.as_str());
        for (pi, p) in t.partitions.iter().enumerate() {
            results[ti][pi] = if let Err(e) = verdict {
                Some(e)
            } else if let Err(e) = crate::group_requests::check_offset(
                topic.as_deref(),
                p.partition_index,
                p.committed_metadata.as_ref(),
                max_metadata,
            ) {
                Some(e)
            } else {
                offsets.push(PendingOffset {
                    group: group.to_owned(),
                    partition: TopicPartition::new(t.name.0.as_str(), p.partition_index),
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p
                        .committed_metadata
                        .as_ref()
                        .map_or(String::new(), |m| m.to_string()),
                });
                None
            };
        }
    }
    if !offsets.is_empty() {
        let version = ctx.api_version;
        let result = broker.with_txns(ctx.now, |state, now_ms| {
            let c = &mut state.coordinator;
            // Kafka's group coordinator knows the transaction by its producer id: a transactional
            // id that does not match is not looked at.
            let named = c
                .describe(r.transactional_id.0.as_str())
                .is_some_and(|t| t.producer_id == r.producer_id.0);
            let id = if named {
                r.transactional_id.0.to_string()
            } else {
                match c.list().iter().find(|t| t.producer_id == r.producer_id.0) {
                    Some(t) => t.transactional_id.clone(),
                    None => r.transactional_id.0.to_string(),
                }
            };
            let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
            let added = if version >= OFFSETS_IMPLICIT_ADD_SINCE {
                c.add_offsets(&id, pid, epoch, group, now_ms)
            } else {
                Ok(())
            };
            let out = added.and_then(|()| c.txn_offset_commit(&id, pid, epoch, offsets, now_ms));
            let out = out.map_err(|e| match e {
                ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
                ResponseError::InvalidTxnState if version >= OFFSETS_ABORTABLE_SINCE => {
                    ResponseError::TransactionAbortable
                }
                e => e,
            });
            (out, vec![])
        });
        if let Err(e) = result {
            for row in &mut results {
                for c in row.iter_mut().filter(|c| c.is_none()) {
                    *c = Some(e);
                }
            }
        }
    }
    let topics = r
        .topics
        .iter()
        .zip(results)
        .map(|(t, errs)| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .zip(errs)
                        .map(|(p, e)| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(e.map_or(0, code))
                        })
                        .collect(),
                )
        })
        .collect();
    ctx.respond(ResponseKind::TxnOffsetCommit(
        TxnOffsetCommitResponse::default().with_topics(topics),
    ))
}

pub(crate) fn route_describe(
    broker: &Broker,
    r: DescribeTransactionsRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let state = broker.txns.lock();
    let states = r
        .transactional_ids
        .iter()
        .map(|id| {
            let out = describe_transactions_response::TransactionState::default()
                .with_transactional_id(id.clone());
            match state.coordinator.describe(id.0.as_str()) {
                None => out
                    .with_error_code(code(ResponseError::TransactionalIdNotFound))
                    .with_transaction_state(StrBytes::from_static_str("")),
                Some(t) => {
                    let mut topics: Vec<describe_transactions_response::TopicData> = Vec::new();
                    for tp in &t.partitions {
                        match topics.last_mut() {
                            Some(last) if last.topic.0.as_str() == tp.topic => {
                                last.partitions.push(tp.partition)
                            }
                            _ => topics.push(
                                describe_transactions_response::TopicData::default()
                                    .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                                    .with_partitions(vec![tp.partition]),
                            ),
                        }
                    }
                    // Kafka lists the partition of `__consumer_offsets` holding the groups'
                    // offsets; this broker's offsets live in one log, as in a one-partition
                    // offsets topic.
                    if !t.groups.is_empty() {
                        topics.push(
                            describe_transactions_response::TopicData::default()
                                .with_topic(TopicName(StrBytes::from_static_str(
                                    "__consumer_offsets",
                                )))
                                .with_partitions(vec![0]),
                        );
                    }
                    out.with_transaction_state(StrBytes::from_static_str(t.state.as_str()))
                        .with_transaction_timeout_ms(t.timeout_ms)
                        .with_transaction_start_time_ms(t.start_ms)
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_producer_epoch(t.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    drop(state);
    ctx.respond(ResponseKind::DescribeTransactions(
        DescribeTransactionsResponse::default().with_transaction_states(states),
    ))
}

/// Kafka's state names, for ListTransactions filters.
const STATE_NAMES: [&str; 8] = [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

pub(crate) fn route_list(
    broker: &Broker,
    r: ListTransactionsRequest,
    ctx: &RequestContext<'_>,
) -> Outcome {
    let pattern = match r
        .transactional_id_pattern
        .as_ref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{})$", p.as_str())) {
            Ok(re) => Some(re),
            Err(_) => {
                return ctx.respond(ResponseKind::ListTransactions(
                    ListTransactionsResponse::default()
                        .with_error_code(code(ResponseError::InvalidRegularExpression)),
                ))
            }
        },
    };
    let unknown: Vec<StrBytes> = r
        .state_filters
        .iter()
        .filter(|s| !STATE_NAMES.contains(&s.as_str()))
        .cloned()
        .collect();
    let now_ms = wall_clock_ms();
    let state = broker.txns.lock();
    let listed = state
        .coordinator
        .list()
        .into_iter()
        .filter(|t| {
            (r.state_filters.is_empty()
                || r.state_filters
                    .iter()
                    .any(|s| s.as_str() == t.state.as_str()))
                && (r.producer_id_filters.is_empty()
                    || r.producer_id_filters.iter().any(|p| p.0 == t.producer_id))
                && (r.duration_filter < 0 || now_ms - t.start_ms > r.duration_filter)
                && pattern
                    .as_ref()
                    .is_none_or(|re| re.is_match(&t.transactional_id))
        })
        .map(|t| {
            list_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(
                    t.transactional_id.clone(),
                )))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.state.as_str()))
        })
        .collect();
    drop(state);
    ctx.respond(ResponseKind::ListTransactions(
        ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown)
            .with_transaction_states(listed),
    ))
}
