//! Transactions through the broker: InitProducerId, AddPartitionsToTxn, transactional Produce,
//! EndTxn with its markers, TxnOffsetCommit, timeouts, fencing and restarts.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strikemq_codec::batch::{batches, control_type, BatchBuilder, ControlType, NewRecord};
use strikemq_codec::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use strikemq_codec::messages::offset_fetch_request::OffsetFetchRequestTopic;
use strikemq_codec::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use strikemq_codec::messages::*;
use strikemq_codec::{ResponseError, StrBytes};
use strikemq_storage::{Store, StoreConfig};

use crate::testutil::*;
use crate::{Broker, BrokerConfig};

fn tid(s: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(s.to_owned()))
}

fn init(b: &Broker, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(tid(id)))
        .with_transaction_timeout_ms(timeout_ms);
    let ResponseKind::InitProducerId(r) = response(call(b, ApiKey::InitProducerId, 4, &req)) else {
        panic!()
    };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

fn add_partitions(b: &Broker, id: &str, pid: i64, epoch: i16, topic: &str, parts: &[i32]) -> i16 {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(name(topic))
            .with_partitions(parts.to_vec())]);
    let ResponseKind::AddPartitionsToTxn(r) =
        response(call(b, ApiKey::AddPartitionsToTxn, 3, &req))
    else {
        panic!()
    };
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

fn end(b: &Broker, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = response(call(b, ApiKey::EndTxn, 3, &req)) else {
        panic!()
    };
    r.error_code
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &'static str) -> Bytes {
    BatchBuilder::new()
        .producer(pid, epoch, seq)
        .transactional()
        .record(NewRecord {
            timestamp: 5,
            value: Some(Bytes::from_static(value.as_bytes())),
            ..Default::default()
        })
        .build()
}

fn produce_txn(b: &Broker, id: Option<&str>, topic: &str, records: Bytes) -> i16 {
    let req = produce_req(topic, 0, records, -1).with_transactional_id(id.map(tid));
    let ResponseKind::Produce(r) = response(call(b, ApiKey::Produce, 9, &req)) else {
        panic!()
    };
    r.responses[0].partition_responses[0].error_code
}

/// (high watermark, last stable offset) and the control types of the batches, by offset.
fn log_of(b: &Broker, topic: &str) -> (i64, i64, Vec<(i64, Option<ControlType>)>) {
    let p = fetch_partition(b, topic, 0);
    let kinds = batches(p.records.as_deref().unwrap_or(&[]))
        .map(|batch| {
            let batch = batch.unwrap();
            (batch.base_offset(), control_type(&batch))
        })
        .collect();
    (p.high_watermark, p.last_stable_offset, kinds)
}

#[test]
fn a_committed_and_an_aborted_transaction_write_their_markers_and_move_the_lso() {
    let t = broker();
    create(&t, "tx", 1);
    let b = &t.broker;
    let (e, pid, epoch) = init(b, "app", 60_000);
    assert_eq!((e, epoch), (0, 0));
    assert_eq!(add_partitions(b, "app", pid, epoch, "tx", &[0]), 0);
    assert_eq!(
        produce_txn(b, Some("app"), "tx", txn_batch(pid, epoch, 0, "a")),
        0
    );
    assert_eq!(log_of(b, "tx").1, 0, "the open transaction holds the LSO");
    assert_eq!(end(b, "app", pid, epoch, true), 0);
    let (hw, lso, kinds) = log_of(b, "tx");
    assert_eq!((hw, lso), (2, 2));
    assert_eq!(kinds, [(0, None), (1, Some(ControlType::Commit))]);
    // A retried EndTxn is answered again; the other outcome is refused.
    assert_eq!(end(b, "app", pid, epoch, true), 0);
    assert_eq!(
        end(b, "app", pid, epoch, false),
        ResponseError::InvalidTxnState.code()
    );

    assert_eq!(add_partitions(b, "app", pid, epoch, "tx", &[0]), 0);
    assert_eq!(
        produce_txn(b, Some("app"), "tx", txn_batch(pid, epoch, 1, "b")),
        0
    );
    assert_eq!(end(b, "app", pid, epoch, false), 0);
    let (hw, lso, kinds) = log_of(b, "tx");
    assert_eq!((hw, lso), (4, 4));
    assert_eq!(kinds[3], (3, Some(ControlType::Abort)));
    let committed = {
        let req = fetch_req("tx", 0, 0, 1, 0).with_isolation_level(1);
        let ResponseKind::Fetch(r) = response(call(b, ApiKey::Fetch, 12, &req)) else {
            panic!()
        };
        r.responses[0].partitions[0].clone()
    };
    let aborted = committed.aborted_transactions.unwrap();
    assert_eq!(
        aborted
            .iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect::<Vec<_>>(),
        [(pid, 2)]
    );
}

#[test]
fn a_transactional_batch_needs_its_transactional_id_and_an_added_partition() {
    let t = broker();
    create(&t, "tx", 1);
    let b = &t.broker;
    let (_, pid, epoch) = init(b, "app", 60_000);
    assert_eq!(
        produce_txn(b, None, "tx", txn_batch(pid, epoch, 0, "a")),
        ResponseError::TransactionalIdAuthorizationFailed.code()
    );
    assert_eq!(
        produce_txn(b, Some("app"), "tx", txn_batch(pid, epoch, 0, "a")),
        ResponseError::InvalidTxnState.code(),
        "the partition was not added"
    );
    assert_eq!(
        produce_txn(b, Some("other"), "tx", txn_batch(pid, epoch, 0, "a")),
        ResponseError::InvalidProducerIdMapping.code()
    );
    assert_eq!(log_of(b, "tx").0, 0, "nothing was appended");
    // Unknown partitions: the whole request is refused, partition by partition.
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid("app"))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(name("tx"))
            .with_partitions(vec![0, 9])]);
    let ResponseKind::AddPartitionsToTxn(r) =
        response(call(b, ApiKey::AddPartitionsToTxn, 3, &req))
    else {
        panic!()
    };
    let codes: Vec<i16> = r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(
        codes,
        [
            ResponseError::OperationNotAttempted.code(),
            ResponseError::UnknownTopicOrPartition.code()
        ]
    );
    // The batched form (v4+) verifies without adding.
    let verify = |verify_only| {
        let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(tid("app"))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_verify_only(verify_only)
                .with_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(name("tx"))
                    .with_partitions(vec![0])]),
        ]);
        let ResponseKind::AddPartitionsToTxn(r) =
            response(call(b, ApiKey::AddPartitionsToTxn, 5, &req))
        else {
            panic!()
        };
        r.results_by_transaction[0].topic_results[0].results_by_partition[0].partition_error_code
    };
    assert_eq!(verify(true), ResponseError::TransactionAbortable.code());
    assert_eq!(verify(false), 0);
    assert_eq!(verify(true), 0);
}

#[test]
fn a_new_init_fences_the_old_producer_and_aborts_its_transaction() {
    let t = broker();
    create(&t, "tx", 1);
    let b = &t.broker;
    let (_, pid, epoch) = init(b, "app", 60_000);
    add_partitions(b, "app", pid, epoch, "tx", &[0]);
    produce_txn(b, Some("app"), "tx", txn_batch(pid, epoch, 0, "zombie"));
    // The new instance is told to retry while the open transaction is aborted.
    assert_eq!(
        init(b, "app", 60_000).0,
        ResponseError::ConcurrentTransactions.code()
    );
    let (hw, lso, kinds) = log_of(b, "tx");
    assert_eq!((hw, lso), (2, 2));
    assert_eq!(kinds[1], (1, Some(ControlType::Abort)));
    let (e, pid2, epoch2) = init(b, "app", 60_000);
    assert_eq!((e, pid2), (0, pid));
    assert!(epoch2 > epoch);
    // The zombie is fenced everywhere.
    assert_eq!(
        add_partitions(b, "app", pid, epoch, "tx", &[0]),
        ResponseError::ProducerFenced.code()
    );
    assert_eq!(
        end(b, "app", pid, epoch, true),
        ResponseError::ProducerFenced.code()
    );
    assert_eq!(
        produce_txn(b, Some("app"), "tx", txn_batch(pid, epoch, 1, "late")),
        ResponseError::InvalidProducerEpoch.code()
    );
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_at_the_next_tick() {
    let t = broker();
    create(&t, "tx", 1);
    let b = &t.broker;
    let (_, pid, epoch) = init(b, "slow", 1);
    assert_eq!(b.tick_coordinators(Instant::now()), None, "nothing open");
    add_partitions(b, "slow", pid, epoch, "tx", &[0]);
    produce_txn(b, Some("slow"), "tx", txn_batch(pid, epoch, 0, "x"));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(b.tick_coordinators(Instant::now()), None);
    let (_, lso, kinds) = log_of(b, "tx");
    assert_eq!(lso, 2);
    assert_eq!(kinds[1], (1, Some(ControlType::Abort)));
    assert_eq!(
        end(b, "slow", pid, epoch, true),
        ResponseError::ProducerFenced.code(),
        "the timed-out producer is fenced"
    );
}

#[test]
fn transactional_offsets_are_unstable_until_the_commit_and_dropped_by_an_abort() {
    let t = broker();
    create(&t, "in", 1);
    let b = &t.broker;
    let (_, pid, epoch) = init(b, "app", 60_000);
    let add_offsets = AddOffsetsToTxnRequest::default()
        .with_transactional_id(tid("app"))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(StrBytes::from_static_str("g")));
    let commit_offset = |offset| {
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(tid("app"))
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(name("in"))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]);
        let ResponseKind::TxnOffsetCommit(r) = response(call(b, ApiKey::TxnOffsetCommit, 3, &req))
        else {
            panic!()
        };
        r.topics[0].partitions[0].error_code
    };
    assert_eq!(
        commit_offset(5),
        ResponseError::InvalidTxnState.code(),
        "the group was not added"
    );
    let ResponseKind::AddOffsetsToTxn(r) =
        response(call(b, ApiKey::AddOffsetsToTxn, 3, &add_offsets))
    else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(commit_offset(5), 0);
    let fetch = |stable| {
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(name("in"))
                .with_partition_indexes(vec![0])]))
            .with_require_stable(stable);
        let ResponseKind::OffsetFetch(r) = response(call(b, ApiKey::OffsetFetch, 7, &req)) else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.committed_offset)
    };
    assert_eq!(fetch(false), (0, -1), "not visible before the commit");
    assert_eq!(
        fetch(true),
        (ResponseError::UnstableOffsetCommit.code(), -1)
    );
    assert_eq!(end(b, "app", pid, epoch, true), 0);
    assert_eq!(fetch(true), (0, 5));

    // An aborted transaction's offsets never show.
    call(b, ApiKey::AddOffsetsToTxn, 3, &add_offsets);
    assert_eq!(commit_offset(9), 0);
    assert_eq!(end(b, "app", pid, epoch, false), 0);
    assert_eq!(fetch(true), (0, 5));
}

#[test]
fn transactions_survive_a_restart_and_a_prepared_one_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Broker::new(
            BrokerConfig::default(),
            Store::open(dir.path(), StoreConfig::default()).unwrap(),
        )
        .unwrap()
    };
    let (pid, epoch) = {
        let b = open();
        b.store().create_topic("tx", 1, Default::default()).unwrap();
        let (_, pid, epoch) = init(&b, "app", 60_000);
        add_partitions(&b, "app", pid, epoch, "tx", &[0]);
        produce_txn(&b, Some("app"), "tx", txn_batch(pid, epoch, 0, "a"));
        // A crash after the commit was decided, before its markers were written.
        {
            let mut state = b.txns.lock();
            state
                .coordinator
                .end_txn("app", pid, epoch, true, 1)
                .unwrap();
            b.txns.persist(&mut state, 1).unwrap();
        }
        b.close().unwrap();
        (pid, epoch)
    };
    let b = open();
    assert_eq!(
        log_of(&b, "tx").1,
        0,
        "still open until the markers are written"
    );
    b.tick_coordinators(Instant::now());
    let (hw, lso, kinds) = log_of(&b, "tx");
    assert_eq!((hw, lso), (2, 2));
    assert_eq!(kinds[1], (1, Some(ControlType::Commit)));
    // The producer carries on with the same id and epoch.
    assert_eq!(add_partitions(&b, "app", pid, epoch, "tx", &[0]), 0);
    let describe = DescribeTransactionsRequest::default().with_transactional_ids(vec![tid("app")]);
    let ResponseKind::DescribeTransactions(r) =
        response(call(&b, ApiKey::DescribeTransactions, 0, &describe))
    else {
        panic!()
    };
    let s = &r.transaction_states[0];
    assert_eq!(
        (
            s.transaction_state.as_str(),
            s.producer_id.0,
            s.topics.len()
        ),
        ("Ongoing", pid, 1)
    );
    let ResponseKind::ListTransactions(r) = response(call(
        &b,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default()
            .with_state_filters(vec![StrBytes::from_static_str("Ongoing")]),
    )) else {
        panic!()
    };
    assert_eq!(r.transaction_states.len(), 1);
}

/// Transaction version 2 (KIP-890 part 2), as Kafka 4.1 finalizes it: Produce v12 adds the
/// partition itself, and EndTxn v5 moves the producer to its next epoch, which the markers and
/// the next transaction carry.
#[test]
fn transaction_version_2_adds_partitions_on_produce_and_bumps_the_epoch_at_every_end() {
    let t = broker();
    create(&t, "tx", 1);
    let b = &t.broker;
    let ResponseKind::ApiVersions(v) = response(call(
        b,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )) else {
        panic!()
    };
    let finalized: Vec<_> = v
        .finalized_features
        .iter()
        .map(|f| (f.name.as_str(), f.max_version_level))
        .collect();
    assert_eq!(
        finalized,
        [
            ("group.version", 1),
            ("transaction.version", 2),
            ("share.version", 1)
        ]
    );
    assert!(v.finalized_features_epoch >= 0);

    let (_, pid, e0) = init(b, "v2", 60_000);
    let produce_v12 = |epoch, seq, value| {
        let req = produce_req("tx", 0, txn_batch(pid, epoch, seq, value), -1)
            .with_transactional_id(Some(tid("v2")));
        let ResponseKind::Produce(r) = response(call(b, ApiKey::Produce, 12, &req)) else {
            panic!()
        };
        r.responses[0].partition_responses[0].error_code
    };
    let end_v5 = |epoch, commit| {
        let req = EndTxnRequest::default()
            .with_transactional_id(tid("v2"))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        let ResponseKind::EndTxn(r) = response(call(b, ApiKey::EndTxn, 5, &req)) else {
            panic!()
        };
        (r.error_code, r.producer_id.0, r.producer_epoch)
    };
    // No AddPartitionsToTxn: the Produce adds the partition.
    assert_eq!(produce_v12(e0, 0, "a"), 0);
    assert_eq!(log_of(b, "tx").1, 0, "the transaction is open");
    assert_eq!(end_v5(e0, true), (0, pid, e0 + 1));
    let (hw, lso, _) = log_of(b, "tx");
    assert_eq!((hw, lso), (2, 2));
    // The retry of that commit gets the same answer; the old epoch is fenced otherwise.
    assert_eq!(end_v5(e0, true), (0, pid, e0 + 1));
    assert_eq!(
        produce_v12(e0, 1, "late"),
        ResponseError::ProducerFenced.code()
    );
    // The next transaction runs at the new epoch, sequences from 0.
    assert_eq!(produce_v12(e0 + 1, 0, "b"), 0);
    assert_eq!(end_v5(e0 + 1, false), (0, pid, e0 + 2));
    let (hw, lso, kinds) = log_of(b, "tx");
    assert_eq!((hw, lso), (4, 4));
    assert_eq!(kinds[3], (3, Some(ControlType::Abort)));
    // Older Produce versions only verify that the partition was added: v11 answers
    // TRANSACTION_ABORTABLE, v10 and older INVALID_TXN_STATE with Kafka's message.
    for (version, error, message) in [
        (11, ResponseError::TransactionAbortable, None),
        (
            10,
            ResponseError::InvalidTxnState,
            Some("Partition was not added to the transaction"),
        ),
    ] {
        let req = produce_req("tx", 0, txn_batch(pid, e0 + 2, 0, "c"), -1)
            .with_transactional_id(Some(tid("v2")));
        let ResponseKind::Produce(r) = response(call(b, ApiKey::Produce, version, &req)) else {
            panic!()
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.error_message.as_ref().map(|m| m.as_str())),
            (error.code(), message),
            "v{version}"
        );
    }
}

/// Markers that cannot be written (a full disk) leave the transaction prepared: the commit was
/// decided and is answered; a retry of it waits (CONCURRENT_TRANSACTIONS); the coordinator timer
/// writes the markers once the disk has room, and the last stable offset moves on.
#[test]
fn markers_a_full_disk_refused_are_written_when_it_has_room() {
    use std::sync::atomic::Ordering;
    // The topics' logs can fill up; the broker's own logs stay writable.
    let disk = std::sync::Arc::new(FullDisk::default());
    let t = broker_with(StoreConfig {
        log: strikemq_storage::LogConfig {
            files: disk.clone(),
            ..Default::default()
        },
    });
    create(&t, "tx", 1);
    let b = &t.broker;
    let (_, pid, epoch) = init(b, "app", 60_000);
    add_partitions(b, "app", pid, epoch, "tx", &[0]);
    assert_eq!(
        produce_txn(b, Some("app"), "tx", txn_batch(pid, epoch, 0, "a")),
        0
    );
    disk.full.store(true, Ordering::Release);
    assert_eq!(end(b, "app", pid, epoch, true), 0, "the commit is decided");
    assert_eq!(
        end(b, "app", pid, epoch, true),
        ResponseError::ConcurrentTransactions.code()
    );
    let next = b.tick_coordinators(Instant::now());
    assert!(next.is_some(), "a retry is scheduled");
    assert_eq!(log_of(b, "tx").1, 0, "still unstable");
    disk.full.store(false, Ordering::Release);
    assert_eq!(b.tick_coordinators(Instant::now()), None);
    let (hw, lso, kinds) = log_of(b, "tx");
    assert_eq!((hw, lso), (2, 2));
    assert_eq!(kinds[1], (1, Some(ControlType::Commit)));
    assert_eq!(
        end(b, "app", pid, epoch, true),
        0,
        "the retry now finds it done"
    );
}
