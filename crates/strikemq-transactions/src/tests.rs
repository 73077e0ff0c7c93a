use super::*;

struct Ids(i64);

impl Ids {
    fn next(&mut self) -> Option<i64> {
        self.0 += 1;
        Some(self.0)
    }
}

fn init(c: &mut TxnCoordinator, ids: &mut Ids, id: &str, now: i64) -> (i64, i16) {
    match c
        .init_producer_id(id, 60_000, None, now, &mut || ids.next())
        .unwrap()
    {
        InitOutcome::Ready { producer_id, epoch } => (producer_id, epoch),
        other => panic!("{other:?}"),
    }
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn offset(group: &str, topic: &str, p: i32, offset: i64) -> PendingOffset {
    PendingOffset {
        group: group.into(),
        partition: tp(topic, p),
        offset,
        leader_epoch: -1,
        metadata: String::new(),
    }
}

#[test]
fn a_new_id_gets_a_new_producer_and_each_init_bumps_the_epoch() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(99);
    assert_eq!(init(&mut c, &mut ids, "a", 0), (100, 0));
    assert_eq!(init(&mut c, &mut ids, "a", 1), (100, 1));
    assert_eq!(init(&mut c, &mut ids, "b", 2), (101, 0));
    // The timeout is checked first, as Kafka does.
    for bad in [0, -1, 900_001] {
        assert_eq!(
            c.init_producer_id("a", bad, None, 3, &mut || ids.next()),
            Err(ResponseError::InvalidTransactionTimeout)
        );
    }
    // At the last epoch the producer gets a new id.
    c.txns.get_mut("a").unwrap().producer_epoch = LAST_EPOCH;
    assert_eq!(init(&mut c, &mut ids, "a", 4), (102, 0));
}

#[test]
fn a_commit_writes_markers_to_every_partition_and_completes() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "t", 0);
    c.add_partitions("t", pid, epoch, &[tp("a", 0), tp("b", 1)], 10)
        .unwrap();
    c.add_partitions("t", pid, epoch, &[tp("a", 0), tp("a", 1)], 11)
        .unwrap();
    c.add_offsets("t", pid, epoch, "g", 12).unwrap();
    c.check_offset_commit("t", pid, epoch, "g").unwrap();
    // A later offset for the same partition replaces the earlier one.
    c.txn_offset_commit("t", pid, epoch, vec![offset("g", "in", 0, 40)], 12)
        .unwrap();
    c.txn_offset_commit("t", pid, epoch, vec![offset("g", "in", 0, 42)], 12)
        .unwrap();
    assert!(c.has_pending_offset("g", &tp("in", 0)));
    assert!(!c.has_pending_offset("g", &tp("in", 1)));
    assert_eq!(
        c.txn_offset_commit("t", pid, epoch, vec![offset("other", "in", 0, 1)], 12),
        Err(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        c.check_offset_commit("t", pid, epoch, "other"),
        Err(ResponseError::InvalidTxnState)
    );
    assert_eq!(c.describe("t").unwrap().start_ms, 10);
    let EndOutcome::WriteMarkers(m) = c.end_txn("t", pid, epoch, true, 20).unwrap() else {
        panic!()
    };
    assert_eq!(
        m,
        Markers {
            transactional_id: "t".into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit: true,
            partitions: vec![tp("a", 0), tp("a", 1), tp("b", 1)],
            groups: vec!["g".into()],
            offsets: vec![offset("g", "in", 0, 42)],
        }
    );
    assert_eq!(c.describe("t").unwrap().state, TxnState::PrepareCommit);
    // While the markers are written: a retry waits, the other outcome is refused.
    assert_eq!(
        c.end_txn("t", pid, epoch, true, 21),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        c.end_txn("t", pid, epoch, false, 21),
        Err(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        c.add_partitions("t", pid, epoch, &[tp("c", 0)], 21),
        Err(ResponseError::ConcurrentTransactions)
    );
    c.complete("t", 22);
    assert_eq!(c.describe("t").unwrap().state, TxnState::CompleteCommit);
    // A retried commit succeeds; an abort of a committed transaction does not.
    assert_eq!(
        c.end_txn("t", pid, epoch, true, 23),
        Ok(EndOutcome::AlreadyDone)
    );
    assert_eq!(
        c.end_txn("t", pid, epoch, false, 23),
        Err(ResponseError::InvalidTxnState)
    );
    // The next transaction starts with no partitions of the last one.
    c.add_partitions("t", pid, epoch, &[tp("c", 0)], 30)
        .unwrap();
    let t = c.describe("t").unwrap();
    assert_eq!(
        (t.state, t.partitions.len(), t.groups.len(), t.start_ms),
        (TxnState::Ongoing, 1, 0, 30)
    );
}

#[test]
fn an_older_epoch_is_fenced_and_an_unknown_producer_is_refused() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    let (pid, old) = init(&mut c, &mut ids, "t", 0);
    let (_, new) = init(&mut c, &mut ids, "t", 1);
    assert_eq!(new, old + 1);
    assert_eq!(
        c.add_partitions("t", pid, old, &[tp("a", 0)], 2),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        c.end_txn("t", pid, old, true, 2),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        c.add_partitions("t", pid + 5, new, &[tp("a", 0)], 2),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    assert_eq!(
        c.add_partitions("nobody", pid, new, &[tp("a", 0)], 2),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    // Ending a transaction that never started.
    assert_eq!(
        c.end_txn("t", pid, new, true, 2),
        Err(ResponseError::InvalidTxnState)
    );
    // KIP-360: a client bumping its own epoch must name the current one.
    assert_eq!(
        c.init_producer_id("t", 1000, Some((pid, old)), 3, &mut || ids.next()),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        c.init_producer_id("t", 1000, Some((pid, new)), 3, &mut || ids.next()),
        Ok(InitOutcome::Ready {
            producer_id: pid,
            epoch: new + 1
        })
    );
}

#[test]
fn a_new_producer_for_an_open_transaction_aborts_it_first() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "t", 0);
    c.add_partitions("t", pid, epoch, &[tp("a", 0)], 1).unwrap();
    let InitOutcome::AbortFirst(m) = c
        .init_producer_id("t", 60_000, None, 2, &mut || ids.next())
        .unwrap()
    else {
        panic!()
    };
    // The abort carries the bumped epoch: the old producer is fenced by the markers too.
    assert_eq!(
        (m.commit, m.producer_epoch, m.partitions.clone()),
        (false, epoch + 1, vec![tp("a", 0)])
    );
    assert_eq!(
        c.init_producer_id("t", 60_000, None, 3, &mut || ids.next()),
        Err(ResponseError::ConcurrentTransactions),
        "until the markers are written"
    );
    c.complete("t", 4);
    assert_eq!(init(&mut c, &mut ids, "t", 5), (pid, epoch + 2));
}

#[test]
fn open_transactions_time_out_and_nothing_wakes_without_one() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    assert_eq!(c.next_deadline(), None);
    let (pid, epoch) = match c
        .init_producer_id("slow", 1000, None, 0, &mut || ids.next())
        .unwrap()
    {
        InitOutcome::Ready { producer_id, epoch } => (producer_id, epoch),
        other => panic!("{other:?}"),
    };
    assert_eq!(c.next_deadline(), None, "no transaction open yet");
    c.add_partitions("slow", pid, epoch, &[tp("a", 0)], 500)
        .unwrap();
    assert_eq!(c.next_deadline(), Some(1500));
    assert!(c.expire(1499, &mut || ids.next()).is_empty());
    let expired = c.expire(1500, &mut || ids.next());
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].commit, expired[0].producer_epoch),
        (false, epoch + 1)
    );
    assert_eq!(c.next_deadline(), None);
    assert_eq!(c.pending_markers(), expired, "until complete() is called");
    c.complete("slow", 1501);
    assert!(c.pending_markers().is_empty());
    // The zombie is fenced.
    assert_eq!(
        c.end_txn("slow", pid, epoch, true, 1502),
        Err(ResponseError::ProducerFenced)
    );
}

#[test]
fn changes_are_reported_once_and_restore_through_the_log_format() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "t", 0);
    c.add_partitions("t", pid, epoch, &[tp("a", 0)], 1).unwrap();
    init(&mut c, &mut ids, "u", 2);
    let changes = c.take_changes();
    assert_eq!(
        changes
            .iter()
            .map(|t| t.transactional_id.as_str())
            .collect::<Vec<_>>(),
        ["t", "u"]
    );
    assert!(c.take_changes().is_empty());
    let mut restored = TxnCoordinator::new(TxnConfig::default());
    for t in &changes {
        let (key, value) = log_format::encode(t);
        assert_eq!(key, t.transactional_id.as_bytes());
        restored.restore(log_format::decode(&value).unwrap());
    }
    assert_eq!(restored.describe("t"), c.describe("t"));
    assert_eq!(restored.next_deadline(), Some(60_001));
    // A value from a newer format is not guessed at.
    let (_, value) = log_format::encode(&changes[0]);
    let newer = String::from_utf8(value)
        .unwrap()
        .replace("\"version\":1", "\"version\":2");
    assert_eq!(log_format::decode(newer.as_bytes()), None);
}

#[test]
fn an_abort_drops_the_pending_offsets_and_a_completed_transaction_holds_none() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "t", 0);
    c.add_offsets("t", pid, epoch, "g", 1).unwrap();
    c.txn_offset_commit("t", pid, epoch, vec![offset("g", "in", 0, 7)], 2)
        .unwrap();
    let EndOutcome::WriteMarkers(m) = c.end_txn("t", pid, epoch, false, 3).unwrap() else {
        panic!()
    };
    assert!(m.offsets.is_empty());
    assert_eq!(m.groups, ["g"]);
    // Until the markers are written the offset is still unstable.
    assert!(c.has_pending_offset("g", &tp("in", 0)));
    c.complete("t", 4);
    assert!(!c.has_pending_offset("g", &tp("in", 0)));
    assert!(c.describe("t").unwrap().pending_offsets.is_empty());
}

#[test]
fn without_a_new_producer_id_nothing_changes() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    assert_eq!(
        c.init_producer_id("t", 1000, None, 0, &mut || None),
        Err(ResponseError::CoordinatorNotAvailable)
    );
    assert!(c.describe("t").is_none());
    let mut ids = Ids(0);
    let (pid, _) = init(&mut c, &mut ids, "t", 0);
    c.txns.get_mut("t").unwrap().producer_epoch = LAST_EPOCH;
    c.add_partitions("t", pid, LAST_EPOCH, &[tp("a", 0)], 1)
        .unwrap();
    // The timeout cannot fence the producer without a new id: it stays open until it can.
    assert!(c.expire(10_000_000, &mut || None).is_empty());
    assert_eq!(c.describe("t").unwrap().state, TxnState::Ongoing);
    assert_eq!(c.expire(10_000_000, &mut || Some(77)).len(), 1);
    assert_eq!(c.describe("t").unwrap().producer_id, 77);
}

#[test]
fn transaction_version_2_moves_the_epoch_on_at_every_end_and_accepts_a_retry() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(40);
    let (pid, e0) = init(&mut c, &mut ids, "t", 0);
    c.add_partitions("t", pid, e0, &[tp("a", 0)], 1).unwrap();
    let (out, p, e1) = c
        .end_txn_v2("t", pid, e0, true, 2, &mut || ids.next())
        .unwrap();
    assert_eq!((p, e1), (pid, e0 + 1));
    let EndOutcome::WriteMarkers(m) = out else {
        panic!()
    };
    assert_eq!(
        (m.producer_epoch, m.partitions.len()),
        (e1, 1),
        "markers carry the new epoch"
    );
    c.complete("t", 3);
    // The client did not hear the answer and retries with its old epoch: the same answer.
    assert_eq!(
        c.end_txn_v2("t", pid, e0, true, 4, &mut || ids.next()),
        Ok((EndOutcome::AlreadyDone, pid, e1))
    );
    assert_eq!(
        c.end_txn_v2("t", pid, e0, false, 4, &mut || ids.next()),
        Err(ResponseError::InvalidTxnState)
    );
    // A commit with nothing open is refused; an abort moves the epoch on without markers.
    assert_eq!(
        c.end_txn_v2("t", pid, e1, true, 5, &mut || ids.next()),
        Err(ResponseError::InvalidTxnState)
    );
    let (out, _, e2) = c
        .end_txn_v2("t", pid, e1, false, 6, &mut || ids.next())
        .unwrap();
    assert_eq!(e2, e1 + 1);
    let EndOutcome::WriteMarkers(m) = out else {
        panic!()
    };
    assert!(m.partitions.is_empty());
    c.complete("t", 7);
    // Older epochs are fenced; the next transaction uses the new epoch.
    assert_eq!(
        c.end_txn_v2("t", pid, e0, false, 8, &mut || ids.next()),
        Err(ResponseError::ProducerFenced)
    );
    c.add_partitions("t", pid, e2, &[tp("a", 0)], 9).unwrap();
    // At the last epoch the producer moves to a new id; a retry may name the old one.
    c.txns.get_mut("t").unwrap().producer_epoch = LAST_EPOCH;
    let (_, p2, e3) = c
        .end_txn_v2("t", pid, LAST_EPOCH, true, 10, &mut || Some(500))
        .unwrap();
    assert_eq!((p2, e3), (500, 0));
    c.complete("t", 11);
    assert_eq!(
        c.end_txn_v2("t", pid, LAST_EPOCH, true, 12, &mut || None),
        Ok((EndOutcome::AlreadyDone, 500, 0))
    );
}

#[test]
fn only_an_opening_transaction_asks_for_a_new_deadline() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "t", 0);
    assert!(!c.take_opened());
    c.add_partitions("t", pid, epoch, &[tp("a", 0)], 1).unwrap();
    assert!(c.take_opened());
    c.add_partitions("t", pid, epoch, &[tp("a", 1)], 2).unwrap();
    c.add_offsets("t", pid, epoch, "g", 3).unwrap();
    assert!(!c.take_opened(), "already open");
    assert_eq!(c.next_deadline(), Some(1 + 60_000));
}
