//! The transaction APIs: InitProducerId with a transactional id, AddPartitionsToTxn (the client
//! form v0-3 and the batched v4+), AddOffsetsToTxn, TxnOffsetCommit, EndTxn, transactional
//! Produce, OffsetFetch with `require_stable`, DescribeTransactions and ListTransactions, each
//! with its awkward cases (unknown ids, wrong epochs and producer ids, unknown partitions,
//! groups not added, ends without a transaction).

use super::*;
use add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use txn_offset_commit_request::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};

fn tid(s: &str) -> TransactionalId {
    TransactionalId(sb(s))
}

fn topics(topic: &str, partitions: &[i32]) -> Vec<AddPartitionsToTxnTopic> {
    vec![AddPartitionsToTxnTopic::default()
        .with_name(topic_name(topic))
        .with_partitions(partitions.to_vec())]
}

fn add_v3(
    id: &str,
    pid: i64,
    epoch: i16,
    t: Vec<AddPartitionsToTxnTopic>,
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(t)
}

fn add_batched(
    id: &str,
    pid: i64,
    epoch: i16,
    verify_only: bool,
    t: Vec<AddPartitionsToTxnTopic>,
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(tid(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(verify_only)
            .with_topics(t),
    ])
}

fn end(id: &str, pid: i64, epoch: i16, commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit)
}

fn add_offsets(id: &str, pid: i64, epoch: i16, group: &str) -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(group_id(group))
}

fn txn_commit(
    id: &str,
    group: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    partition: i32,
    offset: i64,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(tid(id))
        .with_group_id(group_id(group))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(sb("")))])])
}

impl Probe {
    /// A setup Produce (v12, topics by name) whose answer is not compared; it must succeed.
    fn produce_v12(
        &mut self,
        id: Option<&str>,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> Result<()> {
        let req = ProduceRequest::default()
            .with_transactional_id(id.map(tid))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ])]);
        match self
            .conn
            .call::<_, ProduceResponse>(ApiKey::Produce, 12, &req)?
        {
            Answer::Response(r) if r.responses[0].partition_responses[0].error_code == 0 => Ok(()),
            other => bail!("a setup produce to {topic} failed: {}", other.describe()),
        }
    }

    /// AddPartitionsToTxn as a client sends it (v3), answer not compared.
    fn add_quiet(&mut self, req: &AddPartitionsToTxnRequest) -> Result<()> {
        match self
            .conn
            .call::<_, AddPartitionsToTxnResponse>(ApiKey::AddPartitionsToTxn, 3, req)?
        {
            Answer::Response(_) => Ok(()),
            _ => bail!("no answer to an AddPartitionsToTxn setup request"),
        }
    }

    /// A transactional producer's id and epoch, waiting out Kafka's loading of its transaction
    /// log on the first call.
    fn txn_producer(&mut self, id: &str) -> Result<(i64, i16)> {
        let deadline = Instant::now() + Duration::from_secs(90);
        // Kafka creates its transaction log on the first FindCoordinator of a transactional id
        // and answers NOT_COORDINATOR until then.
        loop {
            let req = FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![sb(id)]);
            let found: FindCoordinatorResponse = self.quiet(ApiKey::FindCoordinator, &req)?;
            if found.coordinators.iter().all(|c| c.error_code == 0) {
                break;
            }
            if Instant::now() > deadline {
                bail!("no transaction coordinator for {id}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        loop {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(tid(id)))
                .with_transaction_timeout_ms(60_000);
            let init: InitProducerIdResponse = self.quiet(ApiKey::InitProducerId, &req)?;
            if init.error_code == 0 {
                return Ok((init.producer_id.0, init.producer_epoch));
            }
            if Instant::now() > deadline {
                bail!(
                    "transactional InitProducerId keeps failing with error {}",
                    init.error_code
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the transaction's markers are written (its state is Complete*).
    fn wait_complete(&mut self, id: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![tid(id)]);
            let r: DescribeTransactionsResponse = self.quiet(ApiKey::DescribeTransactions, &req)?;
            if r.transaction_states
                .iter()
                .all(|s| s.transaction_state.starts_with("Complete"))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the transaction {id} does not complete");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(super) fn transactions(&mut self) -> Result<()> {
        let topic = self.n("txn");
        self.create(&topic, 2, &[])?;
        // The topics of the Produce cases, made (and written to) first: Kafka answers
        // NOT_LEADER_OR_FOLLOWER to transactional batches on a partition it has only just made.
        const PRODUCE_VERSIONS: [i16; 4] = [3, 10, 11, 12];
        for v in PRODUCE_VERSIONS {
            let t = self.n(&format!("txn-p{v}"));
            self.create(&t, 2, &[])?;
            for p in 0..2 {
                let deadline = Instant::now() + Duration::from_secs(30);
                while let Err(e) = self.produce_v12(None, &t, p, batch(1, T0)) {
                    if Instant::now() > deadline {
                        return Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        // Warm up the transaction coordinator (Kafka creates and loads its log first).
        let warm = self.n("txn-warm");
        self.txn_producer(&warm)?;

        for v in advertised(ApiKey::InitProducerId) {
            let id = self.n(&format!("txn-init-{v}"));
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(tid(&id)))
                .with_transaction_timeout_ms(60_000);
            self.ask::<_, InitProducerIdResponse>(
                "transactional producer",
                ApiKey::InitProducerId,
                v,
                &req,
            )?;
            self.ask::<_, InitProducerIdResponse>(
                "transactional producer again",
                ApiKey::InitProducerId,
                v,
                &req,
            )?;
            if v >= 3 {
                let fenced = req.with_producer_id(ProducerId(0)).with_producer_epoch(0);
                self.ask::<_, InitProducerIdResponse>(
                    "another producer's id and epoch",
                    ApiKey::InitProducerId,
                    v,
                    &fenced,
                )?;
            }
        }

        for v in advertised(ApiKey::AddPartitionsToTxn) {
            let id = self.n(&format!("txn-add-{v}"));
            let (pid, epoch) = self.txn_producer(&id)?;
            let unknown = self.n(&format!("txn-add-unknown-{v}"));
            if v < 4 {
                let cases = [
                    ("ordinary", add_v3(&id, pid, epoch, topics(&topic, &[0]))),
                    ("again", add_v3(&id, pid, epoch, topics(&topic, &[0]))),
                    (
                        "one unknown partition",
                        add_v3(&id, pid, epoch, topics(&topic, &[1, 9])),
                    ),
                    (
                        "unknown topic",
                        add_v3(&id, pid, epoch, topics(&self.n("no-such-topic"), &[0])),
                    ),
                    (
                        "unknown transactional id",
                        add_v3(&unknown, pid, epoch, topics(&topic, &[0])),
                    ),
                    (
                        "wrong producer id",
                        add_v3(&id, pid + 1_000_000, epoch, topics(&topic, &[0])),
                    ),
                    (
                        "older epoch",
                        add_v3(&id, pid, epoch - 1, topics(&topic, &[0])),
                    ),
                    (
                        "newer epoch",
                        add_v3(&id, pid, epoch + 1, topics(&topic, &[0])),
                    ),
                    (
                        "empty transactional id",
                        add_v3("", pid, epoch, topics(&topic, &[0])),
                    ),
                ];
                for (case, req) in cases {
                    self.ask::<_, AddPartitionsToTxnResponse>(
                        case,
                        ApiKey::AddPartitionsToTxn,
                        v,
                        &req,
                    )?;
                }
            } else {
                let cases = [
                    (
                        "verify before adding",
                        add_batched(&id, pid, epoch, true, topics(&topic, &[0])),
                    ),
                    (
                        "add",
                        add_batched(&id, pid, epoch, false, topics(&topic, &[0])),
                    ),
                    (
                        "verify after adding",
                        add_batched(&id, pid, epoch, true, topics(&topic, &[0])),
                    ),
                    (
                        "verify a partition not added",
                        add_batched(&id, pid, epoch, true, topics(&topic, &[1])),
                    ),
                    (
                        "unknown partition",
                        add_batched(&id, pid, epoch, false, topics(&topic, &[9])),
                    ),
                    (
                        "unknown transactional id",
                        add_batched(&unknown, pid, epoch, false, topics(&topic, &[0])),
                    ),
                    (
                        "wrong epoch",
                        add_batched(&id, pid, epoch + 1, false, topics(&topic, &[0])),
                    ),
                ];
                for (case, req) in cases {
                    self.ask::<_, AddPartitionsToTxnResponse>(
                        case,
                        ApiKey::AddPartitionsToTxn,
                        v,
                        &req,
                    )?;
                }
            }
            let _: EndTxnResponse = self.quiet(ApiKey::EndTxn, &end(&id, pid, epoch, false))?;
        }

        // Transactional Produce. v12+ adds the partition to the transaction (transaction
        // version 2, which Kafka 4.1 finalizes); older versions only verify that it was added.
        // A partition that already holds the producer's open transaction is not checked again.
        // Each version on a topic of its own; v12 is the last that names topics.
        for v in PRODUCE_VERSIONS {
            let t = self.n(&format!("txn-p{v}"));
            let id = self.n(&format!("txn-produce-{v}"));
            let (pid, epoch) = self.txn_producer(&id)?;
            let txn_batch = |seq| {
                transactional(batch_from(
                    BatchBuilder::new().producer(pid, epoch, seq),
                    1,
                    T0,
                ))
            };
            let produce = |id: Option<&str>, partition: i32, records: Bytes| {
                ProduceRequest::default()
                    .with_transactional_id(id.map(tid))
                    .with_acks(-1)
                    .with_timeout_ms(30_000)
                    .with_topic_data(vec![produce_request::TopicProduceData::default()
                        .with_name(topic_name(&t))
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default()
                                .with_index(partition)
                                .with_records(Some(records)),
                        ])])
            };
            let cases = [
                (
                    "transactional batch without its transactional id",
                    produce(None, 0, txn_batch(0)),
                ),
                (
                    "transactional batch of another transactional id",
                    produce(Some(&warm), 0, txn_batch(0)),
                ),
                (
                    "transactional batch, partition not added",
                    produce(Some(&id), 0, txn_batch(0)),
                ),
                (
                    "transactional batch, partition 0 again",
                    produce(Some(&id), 0, txn_batch(1)),
                ),
            ];
            for (case, req) in cases {
                self.ask::<_, ProduceResponse>(case, ApiKey::Produce, v, &req)?;
            }
            self.add_quiet(&add_v3(&id, pid, epoch, topics(&t, &[1])))?;
            self.ask::<_, ProduceResponse>(
                "transactional batch to an added partition",
                ApiKey::Produce,
                v,
                &produce(Some(&id), 1, txn_batch(0)),
            )?;
            let _: EndTxnResponse = self.quiet(ApiKey::EndTxn, &end(&id, pid, epoch, false))?;
        }

        // A producer with an open transaction, for the offsets and the admin views below.
        let id = self.n("txn-produce");
        let (pid, epoch) = self.txn_producer(&id)?;
        self.add_quiet(&add_v3(&id, pid, epoch, topics(&topic, &[0])))?;
        let records = transactional(batch_from(
            BatchBuilder::new().producer(pid, epoch, 0),
            1,
            T0,
        ));
        self.produce_v12(Some(&id), &topic, 0, records)?;

        // Offsets in a transaction: unstable until the commit.
        let group = self.n("txn-group");
        let ov = top(ApiKey::OffsetFetch);
        let stable_fetch = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group_id(&group))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(topic_name(&topic))
                        .with_partition_indexes(vec![0]),
                ])),
        ]);
        for v in advertised(ApiKey::TxnOffsetCommit) {
            let cases = [(
                "group not added",
                txn_commit(&id, &group, pid, epoch, &topic, 0, 1),
            )];
            for (case, req) in cases {
                self.ask::<_, TxnOffsetCommitResponse>(case, ApiKey::TxnOffsetCommit, v, &req)?;
            }
        }
        let _: AddOffsetsToTxnResponse = self.quiet(
            ApiKey::AddOffsetsToTxn,
            &add_offsets(&id, pid, epoch, &group),
        )?;
        for v in advertised(ApiKey::TxnOffsetCommit) {
            let cases = [
                (
                    "ordinary",
                    txn_commit(&id, &group, pid, epoch, &topic, 0, i64::from(v) + 1),
                ),
                (
                    "unknown partition",
                    txn_commit(&id, &group, pid, epoch, &topic, 9, 1),
                ),
                (
                    "wrong epoch",
                    txn_commit(&id, &group, pid, epoch + 1, &topic, 0, 1),
                ),
                (
                    "unknown transactional id",
                    txn_commit(&self.n("txn-nobody"), &group, pid, epoch, &topic, 0, 1),
                ),
            ];
            for (case, req) in cases {
                self.ask::<_, TxnOffsetCommitResponse>(case, ApiKey::TxnOffsetCommit, v, &req)?;
            }
            if v >= 3 {
                // v3+ names the member: a generation the group never had.
                let req = txn_commit(&id, &group, pid, epoch, &topic, 0, 1)
                    .with_generation_id(5)
                    .with_member_id(sb("nobody"));
                self.ask::<_, TxnOffsetCommitResponse>(
                    "unknown member and generation",
                    ApiKey::TxnOffsetCommit,
                    v,
                    &req,
                )?;
            }
        }
        self.ask::<_, OffsetFetchResponse>(
            "pending transactional offset",
            ApiKey::OffsetFetch,
            ov,
            &stable_fetch.clone(),
        )?;
        self.ask::<_, OffsetFetchResponse>(
            "pending transactional offset, require_stable",
            ApiKey::OffsetFetch,
            ov,
            &stable_fetch.clone().with_require_stable(true),
        )?;

        for v in advertised(ApiKey::DescribeTransactions) {
            let req = DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![tid(&id), tid(&self.n("txn-nobody"))]);
            self.ask::<_, DescribeTransactionsResponse>(
                "open transaction and unknown id",
                ApiKey::DescribeTransactions,
                v,
                &req,
            )?;
        }
        for v in advertised(ApiKey::ListTransactions) {
            let mut req = ListTransactionsRequest::default()
                .with_producer_id_filters(vec![ProducerId(pid)])
                .with_duration_filter(-1);
            self.ask::<_, ListTransactionsResponse>(
                "by producer id",
                ApiKey::ListTransactions,
                v,
                &req,
            )?;
            req = req.with_state_filters(vec![sb("Ongoing"), sb("Bogus")]);
            self.ask::<_, ListTransactionsResponse>(
                "by state, one unknown",
                ApiKey::ListTransactions,
                v,
                &req,
            )?;
            if v >= 1 {
                let long = req.clone().with_duration_filter(3_600_000);
                self.ask::<_, ListTransactionsResponse>(
                    "open longer than an hour",
                    ApiKey::ListTransactions,
                    v,
                    &long,
                )?;
            }
            if v >= 2 {
                let pattern = ListTransactionsRequest::default()
                    .with_duration_filter(-1)
                    .with_transactional_id_pattern(Some(sb(&format!("{}-txn-pro.*", self.prefix))));
                self.ask::<_, ListTransactionsResponse>(
                    "by pattern",
                    ApiKey::ListTransactions,
                    v,
                    &pattern,
                )?;
                let bad = pattern.with_transactional_id_pattern(Some(sb("(")));
                self.ask::<_, ListTransactionsResponse>(
                    "invalid pattern",
                    ApiKey::ListTransactions,
                    v,
                    &bad,
                )?;
            }
        }

        for v in advertised(ApiKey::EndTxn) {
            let id = self.n(&format!("txn-end-{v}"));
            let (pid, epoch) = self.txn_producer(&id)?;
            self.ask::<_, EndTxnResponse>(
                "no transaction open",
                ApiKey::EndTxn,
                v,
                &end(&id, pid, epoch, true),
            )?;
            self.add_quiet(&add_v3(&id, pid, epoch, topics(&topic, &[1])))?;
            let cases = [
                (
                    "unknown transactional id",
                    end(&self.n("txn-nobody"), pid, epoch, true),
                ),
                ("wrong producer id", end(&id, pid + 1_000_000, epoch, true)),
                ("older epoch", end(&id, pid, epoch - 1, true)),
                ("commit", end(&id, pid, epoch, true)),
            ];
            for (case, req) in cases {
                self.ask::<_, EndTxnResponse>(case, ApiKey::EndTxn, v, &req)?;
            }
            // Kafka writes the markers after answering (CONCURRENT_TRANSACTIONS meanwhile):
            // the retries are compared once the transaction is complete.
            self.wait_complete(&id)?;
            if v == 0 {
                let req =
                    DescribeTransactionsRequest::default().with_transactional_ids(vec![tid(&id)]);
                self.ask::<_, DescribeTransactionsResponse>(
                    "a completed transaction",
                    ApiKey::DescribeTransactions,
                    0,
                    &req,
                )?;
            }
            let cases = [
                ("commit again", end(&id, pid, epoch, true)),
                ("abort after the commit", end(&id, pid, epoch, false)),
            ];
            for (case, req) in cases {
                self.ask::<_, EndTxnResponse>(case, ApiKey::EndTxn, v, &req)?;
            }
        }
        // The open transaction of the produce cases commits; its offset becomes stable.
        let _: EndTxnResponse = self.quiet(ApiKey::EndTxn, &end(&id, pid, epoch, true))?;
        self.wait_complete(&id)?;
        self.ask::<_, OffsetFetchResponse>(
            "transactional offset after the commit, require_stable",
            ApiKey::OffsetFetch,
            ov,
            &stable_fetch.with_require_stable(true),
        )?;

        for v in advertised(ApiKey::AddOffsetsToTxn) {
            let id = self.n(&format!("txn-offsets-{v}"));
            let (pid, epoch) = self.txn_producer(&id)?;
            let cases = [
                ("ordinary", add_offsets(&id, pid, epoch, &group)),
                ("again", add_offsets(&id, pid, epoch, &group)),
                (
                    "unknown transactional id",
                    add_offsets(&self.n("txn-nobody"), pid, epoch, &group),
                ),
                (
                    "wrong producer id",
                    add_offsets(&id, pid + 1_000_000, epoch, &group),
                ),
                ("older epoch", add_offsets(&id, pid, epoch - 1, &group)),
            ];
            for (case, req) in cases {
                self.ask::<_, AddOffsetsToTxnResponse>(case, ApiKey::AddOffsetsToTxn, v, &req)?;
            }
            let _: EndTxnResponse = self.quiet(ApiKey::EndTxn, &end(&id, pid, epoch, false))?;
        }
        Ok(())
    }
}
