//! The scenario: setup (topics, records, a warm group coordinator), then every API at every
//! version StrikeMQ advertises, each with its ordinary case and the awkward ones.

use std::fmt::Debug;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use strikemq_codec::batch::{BatchBuilder, NewRecord};
use strikemq_codec::versions;
use uuid::Uuid;

use crate::conn::{Answer, Conn};
use crate::Observation;

mod consumer_groups;
mod share_groups;
mod transactions;

/// Timestamps of the records the scenario writes: fixed, so answers are the same on every run.
const T0: i64 = 1_700_000_000_000;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(sb(s))
}

fn group_id(s: &str) -> GroupId {
    GroupId(sb(s))
}

/// The versions StrikeMQ advertises for `key`.
fn advertised(key: ApiKey) -> RangeInclusive<i16> {
    let r = versions::advertised(key).expect("an API StrikeMQ serves");
    r.min..=r.max
}

/// The highest version StrikeMQ advertises for `key`, used for setup steps.
fn top(key: ApiKey) -> i16 {
    *advertised(key).end()
}

/// A batch of `count` records with keys `k0..`, values `v0..` and timestamps one second apart.
fn batch(count: usize, first_ts: i64) -> Bytes {
    batch_from(BatchBuilder::new(), count, first_ts)
}

fn batch_from(mut b: BatchBuilder, count: usize, first_ts: i64) -> Bytes {
    for i in 0..count {
        b = b.record(NewRecord {
            timestamp: first_ts + i as i64 * 1000,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
        });
    }
    b.build()
}

/// A batch of `count` records whose values are `value_len` bytes.
fn sized_batch(count: usize, value_len: usize, first_ts: i64) -> Bytes {
    let mut b = BatchBuilder::new();
    for i in 0..count {
        b = b.record(NewRecord {
            timestamp: first_ts + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; value_len])),
            headers: vec![],
        });
    }
    b.build()
}

/// The same batch with its transactional attribute set (bit 4) and its CRC32C recomputed.
fn transactional(batch: Bytes) -> Bytes {
    use strikemq_codec::batch::{ATTRIBUTES_OFFSET, CRC_OFFSET};
    let mut b = batch.to_vec();
    b[ATTRIBUTES_OFFSET + 1] |= 0x10;
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// A consumer-protocol subscription (version 0) to `topics`, as group members send in JoinGroup.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// A topic the setup creates: name, partitions, configs.
type TopicSpec<'a> = (String, i32, Vec<(&'a str, &'a str)>);
/// An IncrementalAlterConfigs case: name, topic, (config, operation, value) list, validate only.
type IncrementalCase<'a> = (&'a str, &'a str, Vec<(&'a str, i8, Option<&'a str>)>, bool);

/// One IncrementalAlterConfigs operation: config, operation, value.
type ConfigChange<'a> = (&'a str, i8, Option<&'a str>);

/// A partition to fetch: partition, fetch offset, partition_max_bytes.
type FetchAt = (i32, i64, i32);

/// A member of a group joined through JoinGroup and SyncGroup.
struct Member {
    group: String,
    id: String,
    generation: i32,
}

struct Probe {
    conn: Conn,
    prefix: String,
    out: Vec<Observation>,
    /// Topic ids by topic name, for Produce and Fetch v13+ and DeleteTopics v6.
    ids: Vec<(String, Uuid)>,
}

pub(crate) fn run(bootstrap: &str, prefix: &str) -> Result<Vec<Observation>> {
    let mut p = Probe {
        conn: Conn::new(bootstrap),
        prefix: prefix.to_owned(),
        out: Vec::new(),
        ids: Vec::new(),
    };
    p.setup()?;
    p.api_versions()?;
    p.metadata()?;
    p.produce()?;
    p.fetch()?;
    p.list_offsets()?;
    p.offset_commit()?;
    p.offset_fetch()?;
    p.find_coordinator()?;
    p.join_group()?;
    p.sync_group()?;
    p.heartbeat()?;
    p.leave_group()?;
    p.static_fencing()?;
    p.describe_groups()?;
    p.list_groups()?;
    p.create_topics()?;
    p.delete_topics()?;
    p.delete_records()?;
    p.init_producer_id()?;
    p.offset_for_leader_epoch()?;
    p.describe_configs()?;
    p.alter_configs()?;
    p.incremental_alter_configs()?;
    p.describe_log_dirs()?;
    p.create_partitions()?;
    p.delete_groups()?;
    p.offset_delete()?;
    p.describe_cluster()?;
    p.describe_producers()?;
    p.describe_topic_partitions()?;
    p.transactions()?;
    p.consumer_groups()?;
    p.share_groups()?;
    // Last: it changes broker-level settings (and puts them back).
    p.broker_configs()?;
    // Every advertised version of every served API must have been asked at least once.
    for r in versions::supported_apis() {
        for v in r.min..=r.max {
            if !p
                .out
                .iter()
                .any(|o| o.api == r.key as i16 && o.version == v)
            {
                bail!("the scenario never sends {:?} v{v}", r.key);
            }
        }
    }
    Ok(p.out)
}

impl Probe {
    /// A topic (or group) name owned by this run.
    fn n(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    fn id_of(&self, topic: &str) -> Uuid {
        self.ids
            .iter()
            .find(|(n, _)| n == topic)
            .map(|(_, id)| *id)
            .unwrap_or_default()
    }

    fn note<R: Debug>(&mut self, case: &str, key: ApiKey, version: i16, answer: &Answer<R>) {
        self.out.push(Observation {
            case: format!("{} v{version}: {case}", versions::api_name(key)),
            api: key as i16,
            version,
            answer: answer.describe(),
        });
    }

    /// Sends a request, writes down the answer under `case` and returns the response.
    fn ask<Q: Encodable, R: Decodable + Debug + Canonical>(
        &mut self,
        case: &str,
        key: ApiKey,
        version: i16,
        req: &Q,
    ) -> Result<Option<R>> {
        let mut answer = self.conn.call::<Q, R>(key, version, req)?;
        if let Answer::Response(r) = &mut answer {
            r.canonical();
        }
        self.note(case, key, version, &answer);
        Ok(answer.ok())
    }

    /// Sends a setup request whose answer is not compared.
    fn quiet<Q: Encodable, R: Decodable>(&mut self, key: ApiKey, req: &Q) -> Result<R> {
        match self.conn.call::<Q, R>(key, top(key), req)? {
            Answer::Response(r) => Ok(r),
            _ => bail!("no answer to a {key:?} setup request"),
        }
    }

    // ---------------------------------------------------------------- setup

    fn create(&mut self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        use create_topics_request::{CreatableTopic, CreatableTopicConfig};
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(sb(k))
                                .with_value(Some(sb(v)))
                        })
                        .collect(),
                )]);
        let resp: CreateTopicsResponse = self.quiet(ApiKey::CreateTopics, &req)?;
        match resp.topics.first() {
            Some(t) if t.error_code == 0 => Ok(()),
            other => bail!("creating {name}: {other:?}"),
        }
    }

    /// Waits until every partition of `topic` has a leader that answers ListOffsets, and records
    /// the topic's id.
    fn wait_ready(&mut self, topic: &str, partitions: i32) -> Result<()> {
        use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        use metadata_request::MetadataRequestTopic;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let req = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
            ]));
            let meta: MetadataResponse = self.quiet(ApiKey::Metadata, &req)?;
            let led = meta
                .topics
                .iter()
                .filter(|t| t.error_code == 0)
                .flat_map(|t| t.partitions.iter())
                .filter(|p| p.error_code == 0 && p.leader_id.0 >= 0)
                .count();
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(
                        (0..partitions)
                            .map(|i| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(i)
                                    .with_timestamp(-1)
                            })
                            .collect(),
                    )]);
            let offsets: ListOffsetsResponse = self.quiet(ApiKey::ListOffsets, &req)?;
            let serving = offsets
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .all(|p| p.error_code == 0);
            if led == partitions as usize && serving {
                if let Some(t) = meta.topics.first() {
                    self.ids.push((topic.to_owned(), t.topic_id));
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{topic} is not ready after 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn produce_quiet(&mut self, topic: &str, partition: i32, records: Bytes) -> Result<i64> {
        let id = self.id_of(topic);
        let req = produce_request(top(ApiKey::Produce), -1, topic, id, partition, records);
        let resp: ProduceResponse = self.quiet(ApiKey::Produce, &req)?;
        let p = resp
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .context("empty produce response")?;
        if p.error_code != 0 {
            bail!("producing to {topic}: error {}", p.error_code);
        }
        Ok(p.base_offset)
    }

    /// A fresh idempotent producer id. Kafka answers with an error until its controller has handed
    /// it a block of ids.
    fn producer_id(&mut self) -> Result<i64> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let init: InitProducerIdResponse =
                self.quiet(ApiKey::InitProducerId, &idempotent_init())?;
            if init.error_code == 0 {
                return Ok(init.producer_id.0);
            }
            if Instant::now() > deadline {
                bail!(
                    "InitProducerId keeps failing with error {}",
                    init.error_code
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn commit_quiet(&mut self, group: &str, topic: &str, offsets: &[(i32, i64)]) -> Result<()> {
        let req = offset_commit(top(ApiKey::OffsetCommit), group, -1, "", topic, offsets);
        let resp: OffsetCommitResponse = self.quiet(ApiKey::OffsetCommit, &req)?;
        for p in resp.topics.iter().flat_map(|t| t.partitions.iter()) {
            if p.error_code != 0 {
                bail!("committing for {group}: error {}", p.error_code);
            }
        }
        Ok(())
    }

    fn setup(&mut self) -> Result<()> {
        let topics: Vec<TopicSpec<'_>> = vec![
            (self.n("read"), 2, vec![]),
            (self.n("produce"), 1, vec![]),
            (self.n("small"), 1, vec![("max.message.bytes", "200")]),
            (self.n("idem"), 1, vec![]),
            (self.n("dr"), 1, vec![]),
            (
                self.n("cfg"),
                1,
                vec![("retention.ms", "123456"), ("cleanup.policy", "compact")],
            ),
            (
                self.n("compacted"),
                1,
                vec![
                    ("cleanup.policy", "compact"),
                    ("message.timestamp.before.max.ms", "3600000"),
                ],
            ),
            (self.n("alter"), 1, vec![]),
            (self.n("isr2"), 1, vec![("min.insync.replicas", "2")]),
            (self.n("trimmed"), 1, vec![]),
            (self.n("producers"), 1, vec![]),
            (self.n("sizes"), 4, vec![]),
            (self.n("inherit"), 1, vec![]),
        ];
        let mut topics = topics;
        for v in advertised(ApiKey::CreatePartitions) {
            topics.push((self.n(&format!("cp-v{v}")), 1, vec![]));
        }
        for (name, partitions, configs) in &topics {
            self.create(name, *partitions, configs)?;
        }
        for (name, partitions, _) in &topics {
            self.wait_ready(name, *partitions)?;
        }
        let read = self.n("read");
        self.produce_quiet(&read, 0, batch(3, T0))?;
        self.produce_quiet(&read, 0, batch(2, T0 + 3000))?;
        self.produce_quiet(&read, 1, batch(1, T0))?;
        let dr = self.n("dr");
        self.produce_quiet(&dr, 0, batch(5, T0))?;
        // Batches of mixed sizes for Fetch's size limits (KIP-74); partition 2 stays empty.
        let sizes = self.n("sizes");
        for (partition, batches, records, value_len) in
            [(0, 3, 3, 1000), (1, 1, 20, 2000), (3, 5, 1, 300)]
        {
            for _ in 0..batches {
                self.produce_quiet(&sizes, partition, sized_batch(records, value_len, T0))?;
            }
        }
        // A log whose first records were deleted: its start offset is 3.
        let trimmed = self.n("trimmed");
        self.produce_quiet(&trimmed, 0, batch(5, T0))?;
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic_name(&trimmed))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(3),
                ])]);
        let _: DeleteRecordsResponse = self.quiet(ApiKey::DeleteRecords, &req)?;

        // Group coordinator: Kafka creates its offsets topic on the first FindCoordinator and
        // answers COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS until it is loaded.
        let warm = self.n("warm");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let req = FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![sb(&warm)]);
            let found: FindCoordinatorResponse = self.quiet(ApiKey::FindCoordinator, &req)?;
            let found = found.coordinators.iter().all(|c| c.error_code == 0);
            let req = OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(&warm))
                    .with_topics(None),
            ]);
            let fetched: OffsetFetchResponse = self.quiet(ApiKey::OffsetFetch, &req)?;
            if found && fetched.groups.iter().all(|g| g.error_code == 0) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the group coordinator is not available after 90 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let of = self.n("of");
        self.commit_quiet(&of, &read, &[(0, 2), (1, 1)])?;
        self.producer_id()?;
        Ok(())
    }

    // ---------------------------------------------------------------- ApiVersions, Metadata

    fn api_versions(&mut self) -> Result<()> {
        for v in advertised(ApiKey::ApiVersions) {
            let mut req = ApiVersionsRequest::default();
            if v >= 3 {
                req = req
                    .with_client_software_name(sb("probe"))
                    .with_client_software_version(sb("1.0"));
            }
            let answer = self
                .conn
                .call::<_, ApiVersionsResponse>(ApiKey::ApiVersions, v, &req)?;
            // The API list itself is compared by test_api_versions_are_a_subset_of_kafkas.
            let answer = match answer {
                Answer::Response(r) => Answer::Response(r.with_api_keys(vec![])),
                other => other,
            };
            self.note("ordinary", ApiKey::ApiVersions, v, &answer);
        }
        // A version the broker does not know: answered at v0 with UNSUPPORTED_VERSION.
        let id = self.conn.send_body(ApiKey::ApiVersions, 99, &[])?;
        let answer = self
            .conn
            .recv_decoded::<ApiVersionsResponse>(id, ApiKey::ApiVersions, 0)?;
        let answer = match answer {
            Answer::Response(r) => Answer::Response(r.with_api_keys(vec![])),
            other => other,
        };
        self.note("unknown version 99", ApiKey::ApiVersions, 99, &answer);
        Ok(())
    }

    fn metadata(&mut self) -> Result<()> {
        use metadata_request::MetadataRequestTopic;
        let read = self.n("read");
        let read_id = self.id_of(&read);
        for v in advertised(ApiKey::Metadata) {
            let named = |names: &[&str]| {
                Some(
                    names
                        .iter()
                        .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                        .collect::<Vec<_>>(),
                )
            };
            let base = |topics| {
                let mut r = MetadataRequest::default().with_topics(topics);
                if v >= 4 {
                    r = r.with_allow_auto_topic_creation(false);
                }
                r
            };
            self.ask::<_, MetadataResponse>(
                "one topic",
                ApiKey::Metadata,
                v,
                &base(named(&[&read])),
            )?;
            let missing = self.n(&format!("missing-v{v}"));
            if v >= 4 {
                self.ask::<_, MetadataResponse>(
                    "unknown topic, no auto-creation",
                    ApiKey::Metadata,
                    v,
                    &base(named(&[&missing, &read])),
                )?;
            }
            self.ask::<_, MetadataResponse>(
                "invalid topic name",
                ApiKey::Metadata,
                v,
                &base(named(&["bad/name"])),
            )?;
            if v >= 1 {
                let answer =
                    self.conn
                        .call::<_, MetadataResponse>(ApiKey::Metadata, v, &base(None))?;
                // Other tests share the brokers: keep this run's topics only.
                let prefix = format!("{}-", self.prefix);
                let answer = match answer {
                    Answer::Response(mut r) => {
                        r.topics
                            .retain(|t| t.name.as_ref().is_some_and(|n| n.0.starts_with(&prefix)));
                        r.canonical();
                        Answer::Response(r)
                    }
                    other => other,
                };
                self.note("all topics", ApiKey::Metadata, v, &answer);
            }
            if v >= 10 {
                let by_id = |id| {
                    MetadataRequestTopic::default()
                        .with_name(None)
                        .with_topic_id(id)
                };
                let req = base(Some(vec![by_id(read_id)]));
                self.ask::<_, MetadataResponse>("by topic id", ApiKey::Metadata, v, &req)?;
                let req = base(Some(vec![by_id(Uuid::from_u128(0x99))]));
                self.ask::<_, MetadataResponse>("by unknown topic id", ApiKey::Metadata, v, &req)?;
            }
            if (8..=10).contains(&v) {
                let req = base(named(&[&read]))
                    .with_include_cluster_authorized_operations(true)
                    .with_include_topic_authorized_operations(true);
                self.ask::<_, MetadataResponse>(
                    "authorized operations",
                    ApiKey::Metadata,
                    v,
                    &req,
                )?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- Produce, Fetch, ListOffsets

    fn produce(&mut self) -> Result<()> {
        let topic = self.n("produce");
        let id = self.id_of(&topic);
        let small = self.n("small");
        let small_id = self.id_of(&small);
        // Produce v0-v2 (KIP-896: removed in Kafka 4, still advertised from v0).
        for v in 0..3 {
            let mut body = BytesMut::new();
            body.put_i16(1);
            body.put_i32(1000);
            body.put_i32(1);
            body.put_i16(topic.len() as i16);
            body.put_slice(topic.as_bytes());
            body.put_i32(1);
            body.put_i32(0);
            body.put_i32(0);
            let id = self.conn.send_body(ApiKey::Produce, v, &body)?;
            let answer = self
                .conn
                .recv_decoded::<ProduceResponse>(id, ApiKey::Produce, 3)?;
            self.note("removed version", ApiKey::Produce, v, &answer);
        }
        for v in advertised(ApiKey::Produce).filter(|v| *v >= 3) {
            let req = |acks, t: &str, tid, partition, records| {
                produce_request(v, acks, t, tid, partition, records)
            };
            let ts = T0 + i64::from(v) * 100_000;
            self.ask::<_, ProduceResponse>(
                "acks=1",
                ApiKey::Produce,
                v,
                &req(1, &topic, id, 0, batch(2, ts)),
            )?;
            self.ask::<_, ProduceResponse>(
                "acks=all",
                ApiKey::Produce,
                v,
                &req(-1, &topic, id, 0, batch(1, ts)),
            )?;
            let answer = self.conn.call_maybe_silent::<_, ProduceResponse>(
                ApiKey::Produce,
                v,
                &req(0, &topic, id, 0, batch(1, ts)),
            )?;
            self.note("acks=0", ApiKey::Produce, v, &answer);
            self.ask::<_, ProduceResponse>(
                "acks=2",
                ApiKey::Produce,
                v,
                &req(2, &topic, id, 0, batch(1, ts)),
            )?;
            let missing = self.n("missing");
            self.ask::<_, ProduceResponse>(
                "unknown topic",
                ApiKey::Produce,
                v,
                &req(1, &missing, Uuid::from_u128(0x1234), 0, batch(1, ts)),
            )?;
            self.ask::<_, ProduceResponse>(
                "partition 7 of 1",
                ApiKey::Produce,
                v,
                &req(1, &topic, id, 7, batch(1, ts)),
            )?;
            self.ask::<_, ProduceResponse>(
                "partition -1",
                ApiKey::Produce,
                v,
                &req(1, &topic, id, -1, batch(1, ts)),
            )?;
            let mut corrupt = batch(2, ts).to_vec();
            let last = corrupt.len() - 3;
            corrupt[last] ^= 0x55;
            self.ask::<_, ProduceResponse>(
                "corrupt CRC",
                ApiKey::Produce,
                v,
                &req(1, &topic, id, 0, Bytes::from(corrupt)),
            )?;
            let mut truncated = batch(2, ts).to_vec();
            truncated.truncate(truncated.len() - 5);
            self.ask::<_, ProduceResponse>(
                "truncated batch",
                ApiKey::Produce,
                v,
                &req(1, &topic, id, 0, Bytes::from(truncated)),
            )?;
            self.ask::<_, ProduceResponse>(
                "batch over max.message.bytes",
                ApiKey::Produce,
                v,
                &req(1, &small, small_id, 0, batch(20, ts)),
            )?;
            let compacted = self.n("compacted");
            let compacted_id = self.id_of(&compacted);
            let keyless = BatchBuilder::new()
                .record(NewRecord {
                    timestamp: ts,
                    value: Some(Bytes::from_static(b"v")),
                    ..NewRecord::default()
                })
                .build();
            self.ask::<_, ProduceResponse>(
                "compacted topic, record without a key",
                ApiKey::Produce,
                v,
                &req(1, &compacted, compacted_id, 0, keyless),
            )?;
            let old = batch(1, 1_000);
            self.ask::<_, ProduceResponse>(
                "timestamp older than message.timestamp.before.max.ms",
                ApiKey::Produce,
                v,
                &req(1, &compacted, compacted_id, 0, old),
            )?;
            // A topic with default configs: Kafka 4 refuses timestamps more than an hour ahead.
            self.ask::<_, ProduceResponse>(
                "timestamp past the default message.timestamp.after.max.ms",
                ApiKey::Produce,
                v,
                &req(1, &topic, id, 0, batch(2, 4_000_000_000_000)),
            )?;
            let isr2 = self.n("isr2");
            let isr2_id = self.id_of(&isr2);
            for (case, acks) in [
                ("min.insync.replicas=2, acks=all", -1),
                ("min.insync.replicas=2, acks=1", 1),
            ] {
                self.ask::<_, ProduceResponse>(
                    case,
                    ApiKey::Produce,
                    v,
                    &req(acks, &isr2, isr2_id, 0, batch(1, ts)),
                )?;
            }
            if v < 13 {
                self.ask::<_, ProduceResponse>(
                    "invalid topic name",
                    ApiKey::Produce,
                    v,
                    &req(1, "bad/name", Uuid::nil(), 0, batch(1, ts)),
                )?;
            }
            self.idempotent(v, ts)?;
        }
        Ok(())
    }

    /// Idempotent produce: in-order, duplicate and out-of-order sequence numbers.
    fn idempotent(&mut self, v: i16, ts: i64) -> Result<()> {
        let topic = self.n("idem");
        let id = self.id_of(&topic);
        let pid = self.producer_id()?;
        let with_seq = |seq| batch_from(BatchBuilder::new().producer(pid, 0, seq), 2, ts);
        let req = |records| produce_request(v, -1, &topic, id, 0, records);
        self.ask::<_, ProduceResponse>(
            "idempotent, sequence 0",
            ApiKey::Produce,
            v,
            &req(with_seq(0)),
        )?;
        self.ask::<_, ProduceResponse>(
            "idempotent, sequence 2",
            ApiKey::Produce,
            v,
            &req(with_seq(2)),
        )?;
        self.ask::<_, ProduceResponse>(
            "idempotent, duplicate of sequence 0",
            ApiKey::Produce,
            v,
            &req(with_seq(0)),
        )?;
        self.ask::<_, ProduceResponse>(
            "idempotent, sequence gap",
            ApiKey::Produce,
            v,
            &req(with_seq(9)),
        )?;
        // A transactional batch from a producer that has no transaction (it never called
        // InitProducerId with a transactional id, nor AddPartitionsToTxn).
        let txn = transactional(batch_from(BatchBuilder::new().producer(pid, 0, 4), 1, ts));
        self.ask::<_, ProduceResponse>(
            "transactional batch without a transaction",
            ApiKey::Produce,
            v,
            &req(txn),
        )?;
        let stranger = batch_from(BatchBuilder::new().producer(pid + 1_000_000, 0, 5), 1, ts);
        self.ask::<_, ProduceResponse>(
            "idempotent, unknown producer at sequence 5",
            ApiKey::Produce,
            v,
            &req(stranger),
        )?;
        Ok(())
    }

    fn fetch(&mut self) -> Result<()> {
        let read = self.n("read");
        let id = self.id_of(&read);
        for v in advertised(ApiKey::Fetch) {
            let cases: [(&str, &str, Uuid, i32, i64, i32); 9] = [
                ("from offset 0", &read, id, 0, 0, 1 << 20),
                ("from the second batch", &read, id, 0, 3, 1 << 20),
                ("from inside the second batch", &read, id, 0, 4, 1 << 20),
                ("at the high watermark", &read, id, 0, 5, 1 << 20),
                ("past the high watermark", &read, id, 0, 6, 1 << 20),
                ("negative offset", &read, id, 0, -5, 1 << 20),
                ("partition max bytes under one batch", &read, id, 0, 0, 10),
                ("partition 9 of 2", &read, id, 9, 0, 1 << 20),
                (
                    "unknown topic",
                    "nope-no-such-topic",
                    Uuid::from_u128(0x4321),
                    0,
                    0,
                    1 << 20,
                ),
            ];
            for (case, topic, tid, partition, offset, max) in cases {
                let req = fetch_request(v, topic, tid, &[(partition, offset, max)]);
                self.ask::<_, FetchResponse>(case, ApiKey::Fetch, v, &req)?;
            }
            let trimmed = self.n("trimmed");
            let trimmed_id = self.id_of(&trimmed);
            for (case, offset) in [
                ("below the log start offset", 1),
                ("at the log start offset", 3),
            ] {
                let req = fetch_request(v, &trimmed, trimmed_id, &[(0, offset, 1 << 20)]);
                self.ask::<_, FetchResponse>(case, ApiKey::Fetch, v, &req)?;
            }
            let req = fetch_request(v, &read, id, &[(0, 3, 1 << 20), (1, 0, 1 << 20)]);
            self.ask::<_, FetchResponse>("two partitions", ApiKey::Fetch, v, &req)?;
            let req = fetch_request(v, &read, id, &[(0, 0, 1 << 20)]).with_isolation_level(1);
            self.ask::<_, FetchResponse>("read_committed", ApiKey::Fetch, v, &req)?;
            self.fetch_limits(v)?;
        }
        Ok(())
    }

    /// KIP-74: only the first partition with data may exceed max_bytes and its
    /// partition_max_bytes, by its first batch; later ones stay within what is left, in the
    /// request's order. Partition sizes: p0 three batches of 3 x 1000 bytes, p1 one batch of
    /// 20 x 2000 bytes, p2 empty, p3 five batches of 300 bytes.
    fn fetch_limits(&mut self, v: i16) -> Result<()> {
        let sizes = self.n("sizes");
        let id = self.id_of(&sizes);
        let all = |max: i32| vec![(0, 0, max), (1, 0, max), (2, 0, max), (3, 0, max)];
        let cases: Vec<(&str, Vec<FetchAt>, i32)> = vec![
            ("max_bytes under the first batch", all(1 << 20), 100),
            ("max_bytes cuts the first partition", all(1 << 20), 5000),
            (
                "max_bytes ends inside the second partition's batch",
                all(1 << 20),
                12_000,
            ),
            (
                "max_bytes leaves room in the last partition",
                all(1 << 20),
                50_000,
            ),
            ("max_bytes zero", all(1 << 20), 0),
            (
                "partition_max_bytes cuts each partition",
                all(4000),
                1 << 20,
            ),
            (
                "partition_max_bytes under every first batch",
                all(200),
                1 << 20,
            ),
            (
                "partitions reordered",
                vec![
                    (3, 0, 1 << 20),
                    (2, 0, 1 << 20),
                    (1, 0, 1 << 20),
                    (0, 0, 1 << 20),
                ],
                30_000,
            ),
            (
                "an empty partition first",
                vec![(2, 0, 100), (3, 0, 100), (0, 0, 100)],
                100,
            ),
            (
                "from the middle of partitions",
                vec![(0, 4, 1 << 20), (3, 2, 700), (1, 0, 1 << 20)],
                9000,
            ),
        ];
        for (case, partitions, max_bytes) in cases {
            let req = fetch_request(v, &sizes, id, &partitions).with_max_bytes(max_bytes);
            self.ask::<_, FetchResponse>(&format!("KIP-74: {case}"), ApiKey::Fetch, v, &req)?;
        }
        Ok(())
    }

    fn list_offsets(&mut self) -> Result<()> {
        use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        let read = self.n("read");
        for v in advertised(ApiKey::ListOffsets) {
            let mut cases: Vec<(&str, String, i32, i64)> = vec![
                ("earliest", read.clone(), 0, -2),
                ("latest", read.clone(), 0, -1),
                ("by timestamp inside a batch", read.clone(), 0, T0 + 1500),
                ("by timestamp before the log", read.clone(), 0, 1),
                (
                    "by timestamp after the log",
                    read.clone(),
                    0,
                    T0 + 3_600_000,
                ),
                ("partition 9 of 2", read.clone(), 9, -1),
                ("earliest of a trimmed log", self.n("trimmed"), 0, -2),
                ("by timestamp of a deleted record", self.n("trimmed"), 0, T0),
                ("unknown topic", "nope-no-such-topic".into(), 0, -1),
            ];
            if v >= 7 {
                cases.push(("max timestamp", read.clone(), 0, -3));
            }
            if v >= 8 {
                cases.push(("earliest local", read.clone(), 0, -4));
            }
            if v >= 9 {
                cases.push(("latest tiered", read.clone(), 0, -5));
            }
            for (case, topic, partition, timestamp) in cases {
                let mut req = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![ListOffsetsTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(vec![ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_timestamp(timestamp)])]);
                if v >= 10 {
                    req = req.with_timeout_ms(1000);
                }
                self.ask::<_, ListOffsetsResponse>(case, ApiKey::ListOffsets, v, &req)?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- groups

    /// Joins `group` as a new member (two rounds where the version asks for a member id) and
    /// syncs, assigning itself `assignment`.
    fn join_and_sync(
        &mut self,
        group: &str,
        protocol_type: &str,
        metadata: Bytes,
    ) -> Result<Member> {
        let jv = top(ApiKey::JoinGroup);
        let mut member = String::new();
        for _ in 0..2 {
            let req = join_request(jv, group, &member, protocol_type, metadata.clone());
            let resp: JoinGroupResponse = self.quiet(ApiKey::JoinGroup, &req)?;
            match resp.error_code {
                0 => {
                    let m = Member {
                        group: group.to_owned(),
                        id: resp.member_id.to_string(),
                        generation: resp.generation_id,
                    };
                    let req = sync_request(
                        top(ApiKey::SyncGroup),
                        &m,
                        protocol_type,
                        Bytes::from_static(b"assignment"),
                    );
                    let sync: SyncGroupResponse = self.quiet(ApiKey::SyncGroup, &req)?;
                    if sync.error_code != 0 {
                        bail!("SyncGroup for {group}: error {}", sync.error_code);
                    }
                    return Ok(m);
                }
                79 => member = resp.member_id.to_string(),
                e => bail!("JoinGroup for {group}: error {e}"),
            }
        }
        bail!("JoinGroup for {group} asked for a member id twice")
    }

    fn leave_quiet(&mut self, m: &Member) -> Result<()> {
        let req = leave_request(top(ApiKey::LeaveGroup), &m.group, &[&m.id]);
        let _: LeaveGroupResponse = self.quiet(ApiKey::LeaveGroup, &req)?;
        Ok(())
    }

    fn offset_commit(&mut self) -> Result<()> {
        let read = self.n("read");
        for v in advertised(ApiKey::OffsetCommit) {
            let group = self.n(&format!("oc-v{v}"));
            let commit = |generation, member: &str, topic: &str, offsets: &[(i32, i64)]| {
                offset_commit(v, &group, generation, member, topic, offsets)
            };
            self.ask::<_, OffsetCommitResponse>(
                "simple commit",
                ApiKey::OffsetCommit,
                v,
                &commit(-1, "", &read, &[(0, 3), (1, 1)]),
            )?;
            let mut big = commit(-1, "", &read, &[(0, 3)]);
            big.topics[0].partitions[0].committed_metadata = Some(sb(&"m".repeat(5000)));
            self.ask::<_, OffsetCommitResponse>(
                "metadata over 4096 bytes",
                ApiKey::OffsetCommit,
                v,
                &big,
            )?;
            self.ask::<_, OffsetCommitResponse>(
                "unknown topic",
                ApiKey::OffsetCommit,
                v,
                &commit(-1, "", "nope-no-such-topic", &[(0, 1)]),
            )?;
            self.ask::<_, OffsetCommitResponse>(
                "partition 9 of 2",
                ApiKey::OffsetCommit,
                v,
                &commit(-1, "", &read, &[(9, 1)]),
            )?;
            let m = self.join_and_sync(&group, "consumer", subscription(&[&read]))?;
            self.ask::<_, OffsetCommitResponse>(
                "member of the generation",
                ApiKey::OffsetCommit,
                v,
                &commit(m.generation, &m.id, &read, &[(0, 4)]),
            )?;
            self.ask::<_, OffsetCommitResponse>(
                "stale generation",
                ApiKey::OffsetCommit,
                v,
                &commit(m.generation + 1, &m.id, &read, &[(0, 4)]),
            )?;
            self.ask::<_, OffsetCommitResponse>(
                "unknown member",
                ApiKey::OffsetCommit,
                v,
                &commit(m.generation, "nobody", &read, &[(0, 4)]),
            )?;
            self.ask::<_, OffsetCommitResponse>(
                "simple commit to an active group",
                ApiKey::OffsetCommit,
                v,
                &commit(-1, "", &read, &[(0, 4)]),
            )?;
            self.leave_quiet(&m)?;
        }
        Ok(())
    }

    fn offset_fetch(&mut self) -> Result<()> {
        use offset_fetch_request::{
            OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
        };
        let read = self.n("read");
        let of = self.n("of");
        let unknown = self.n("never-used");
        for v in advertised(ApiKey::OffsetFetch) {
            let cases: [(&str, &str, Option<Vec<i32>>); 3] = [
                (
                    "committed partitions and one never committed",
                    &of,
                    Some(vec![0, 1, 5]),
                ),
                ("all partitions", &of, None),
                ("unknown group", &unknown, Some(vec![0])),
            ];
            for (case, group, partitions) in cases {
                if partitions.is_none() && v < 2 {
                    continue;
                }
                let req = if v >= 8 {
                    OffsetFetchRequest::default().with_groups(vec![
                        OffsetFetchRequestGroup::default()
                            .with_group_id(group_id(group))
                            .with_topics(partitions.map(|ps| {
                                vec![OffsetFetchRequestTopics::default()
                                    .with_name(topic_name(&read))
                                    .with_partition_indexes(ps)]
                            })),
                    ])
                } else {
                    OffsetFetchRequest::default()
                        .with_group_id(group_id(group))
                        .with_topics(partitions.map(|ps| {
                            vec![OffsetFetchRequestTopic::default()
                                .with_name(topic_name(&read))
                                .with_partition_indexes(ps)]
                        }))
                };
                self.ask::<_, OffsetFetchResponse>(case, ApiKey::OffsetFetch, v, &req)?;
            }
            if v >= 8 {
                let req = OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(group_id(&of))
                        .with_topics(None),
                    OffsetFetchRequestGroup::default()
                        .with_group_id(group_id(&unknown))
                        .with_topics(None),
                ]);
                self.ask::<_, OffsetFetchResponse>("two groups", ApiKey::OffsetFetch, v, &req)?;
            }
        }
        Ok(())
    }

    fn find_coordinator(&mut self) -> Result<()> {
        let group = self.n("of");
        for v in advertised(ApiKey::FindCoordinator) {
            let req = if v >= 4 {
                FindCoordinatorRequest::default()
                    .with_coordinator_keys(vec![sb(&group), sb("another")])
            } else {
                FindCoordinatorRequest::default().with_key(sb(&group))
            };
            self.ask::<_, FindCoordinatorResponse>("group", ApiKey::FindCoordinator, v, &req)?;
            if v >= 1 {
                let req = if v >= 4 {
                    FindCoordinatorRequest::default()
                        .with_key_type(9)
                        .with_coordinator_keys(vec![sb(&group)])
                } else {
                    FindCoordinatorRequest::default()
                        .with_key_type(9)
                        .with_key(sb(&group))
                };
                self.ask::<_, FindCoordinatorResponse>(
                    "unknown key type",
                    ApiKey::FindCoordinator,
                    v,
                    &req,
                )?;
            }
        }
        Ok(())
    }

    fn join_group(&mut self) -> Result<()> {
        for v in advertised(ApiKey::JoinGroup) {
            let group = self.n(&format!("join-v{v}"));
            let meta = Bytes::from_static(b"meta");
            let first: Option<JoinGroupResponse> = self.ask(
                "new member",
                ApiKey::JoinGroup,
                v,
                &join_request(v, &group, "", "consumer", meta.clone()),
            )?;
            let mut member = first
                .as_ref()
                .map(|r| r.member_id.to_string())
                .unwrap_or_default();
            let mut generation = first.as_ref().map_or(-1, |r| r.generation_id);
            if first.as_ref().is_some_and(|r| r.error_code == 79) {
                let again: Option<JoinGroupResponse> = self.ask(
                    "with the member id it was given",
                    ApiKey::JoinGroup,
                    v,
                    &join_request(v, &group, &member, "consumer", meta.clone()),
                )?;
                member = again
                    .as_ref()
                    .map(|r| r.member_id.to_string())
                    .unwrap_or_default();
                generation = again.as_ref().map_or(-1, |r| r.generation_id);
            }
            let m = Member {
                group: group.clone(),
                id: member.clone(),
                generation,
            };
            let req = sync_request(
                top(ApiKey::SyncGroup),
                &m,
                "consumer",
                Bytes::from_static(b"a"),
            );
            let _: SyncGroupResponse = self.quiet(ApiKey::SyncGroup, &req)?;
            self.ask::<_, JoinGroupResponse>(
                "stable member joins again",
                ApiKey::JoinGroup,
                v,
                &join_request(v, &group, &member, "consumer", meta.clone()),
            )?;
            self.ask::<_, JoinGroupResponse>(
                "unknown member id",
                ApiKey::JoinGroup,
                v,
                &join_request(v, &group, "nobody", "consumer", meta.clone()),
            )?;
            self.ask::<_, JoinGroupResponse>(
                "other protocol type",
                ApiKey::JoinGroup,
                v,
                &join_request(v, &group, "", "connect", meta.clone()),
            )?;
            let empty = self.n(&format!("join-empty-v{v}"));
            self.ask::<_, JoinGroupResponse>(
                "empty protocol type",
                ApiKey::JoinGroup,
                v,
                &join_request(v, &empty, "", "", meta.clone()),
            )?;
            let mut short = join_request(v, &empty, "", "consumer", meta.clone());
            short.session_timeout_ms = 1000;
            self.ask::<_, JoinGroupResponse>(
                "session timeout under the minimum",
                ApiKey::JoinGroup,
                v,
                &short,
            )?;
            self.ask::<_, JoinGroupResponse>(
                "empty group id",
                ApiKey::JoinGroup,
                v,
                &join_request(v, "", "", "consumer", meta),
            )?;
            let m = Member {
                group,
                id: member,
                generation: 0,
            };
            self.leave_quiet(&m)?;
        }
        Ok(())
    }

    fn sync_group(&mut self) -> Result<()> {
        for v in advertised(ApiKey::SyncGroup) {
            let group = self.n(&format!("sync-v{v}"));
            let m = self.join_and_sync(&group, "consumer", Bytes::from_static(b"meta"))?;
            let a = Bytes::from_static(b"assignment-2");
            self.ask::<_, SyncGroupResponse>(
                "member of the generation",
                ApiKey::SyncGroup,
                v,
                &sync_request(v, &m, "consumer", a.clone()),
            )?;
            let stale = Member {
                group: group.clone(),
                id: m.id.clone(),
                generation: m.generation + 1,
            };
            self.ask::<_, SyncGroupResponse>(
                "stale generation",
                ApiKey::SyncGroup,
                v,
                &sync_request(v, &stale, "consumer", a.clone()),
            )?;
            let stranger = Member {
                group: group.clone(),
                id: "nobody".into(),
                generation: m.generation,
            };
            self.ask::<_, SyncGroupResponse>(
                "unknown member",
                ApiKey::SyncGroup,
                v,
                &sync_request(v, &stranger, "consumer", a.clone()),
            )?;
            if v >= 5 {
                self.ask::<_, SyncGroupResponse>(
                    "other protocol type",
                    ApiKey::SyncGroup,
                    v,
                    &sync_request(v, &m, "connect", a.clone()),
                )?;
            }
            let lost = Member {
                group: self.n("sync-nowhere"),
                id: "nobody".into(),
                generation: 1,
            };
            self.ask::<_, SyncGroupResponse>(
                "unknown group",
                ApiKey::SyncGroup,
                v,
                &sync_request(v, &lost, "consumer", a),
            )?;
            self.leave_quiet(&m)?;
        }
        Ok(())
    }

    fn heartbeat(&mut self) -> Result<()> {
        for v in advertised(ApiKey::Heartbeat) {
            let group = self.n(&format!("hb-v{v}"));
            let m = self.join_and_sync(&group, "consumer", Bytes::from_static(b"meta"))?;
            let hb = |g: &str, generation, member: &str| {
                HeartbeatRequest::default()
                    .with_group_id(group_id(g))
                    .with_generation_id(generation)
                    .with_member_id(sb(member))
            };
            self.ask::<_, HeartbeatResponse>(
                "member of the generation",
                ApiKey::Heartbeat,
                v,
                &hb(&group, m.generation, &m.id),
            )?;
            self.ask::<_, HeartbeatResponse>(
                "stale generation",
                ApiKey::Heartbeat,
                v,
                &hb(&group, m.generation + 1, &m.id),
            )?;
            self.ask::<_, HeartbeatResponse>(
                "unknown member",
                ApiKey::Heartbeat,
                v,
                &hb(&group, m.generation, "nobody"),
            )?;
            let nowhere = self.n("hb-nowhere");
            self.ask::<_, HeartbeatResponse>(
                "unknown group",
                ApiKey::Heartbeat,
                v,
                &hb(&nowhere, 1, "nobody"),
            )?;
            self.leave_quiet(&m)?;
            self.ask::<_, HeartbeatResponse>(
                "after leaving",
                ApiKey::Heartbeat,
                v,
                &hb(&group, m.generation, &m.id),
            )?;
        }
        Ok(())
    }

    /// KIP-345: a static member started again while its old process still runs. Every group
    /// API that carries group.instance.id answers the old process FENCED_INSTANCE_ID, before
    /// looking at its member id or generation; an instance id the group does not know is
    /// UNKNOWN_MEMBER_ID.
    fn static_fencing(&mut self) -> Result<()> {
        let read = self.n("read");
        let group = self.n("static");
        let inst = "instance-1";
        let old = self.join_and_sync_static(&group, inst)?;
        let new = self.join_and_sync_static(&group, inst)?;
        for (case, member, instance, generation) in [
            ("fenced instance", &old.id, inst, old.generation),
            (
                "fenced instance, stale generation",
                &old.id,
                inst,
                old.generation + 5,
            ),
            ("unknown instance", &new.id, "instance-2", new.generation),
        ] {
            for v in advertised(ApiKey::Heartbeat).filter(|v| *v >= 3) {
                let req = HeartbeatRequest::default()
                    .with_group_id(group_id(&group))
                    .with_generation_id(generation)
                    .with_member_id(sb(member))
                    .with_group_instance_id(Some(sb(instance)));
                self.ask::<_, HeartbeatResponse>(case, ApiKey::Heartbeat, v, &req)?;
            }
            for v in advertised(ApiKey::SyncGroup).filter(|v| *v >= 3) {
                let m = Member {
                    group: group.clone(),
                    id: member.clone(),
                    generation,
                };
                let req = sync_request(v, &m, "consumer", Bytes::from_static(b"a"))
                    .with_group_instance_id(Some(sb(instance)));
                self.ask::<_, SyncGroupResponse>(case, ApiKey::SyncGroup, v, &req)?;
            }
            for v in advertised(ApiKey::OffsetCommit).filter(|v| *v >= 7) {
                let req = offset_commit(v, &group, generation, member, &read, &[(0, 1)])
                    .with_group_instance_id(Some(sb(instance)));
                self.ask::<_, OffsetCommitResponse>(case, ApiKey::OffsetCommit, v, &req)?;
            }
            for v in advertised(ApiKey::JoinGroup).filter(|v| *v >= 5) {
                let req = join_request(v, &group, member, "consumer", Bytes::from_static(b"m"))
                    .with_group_instance_id(Some(sb(instance)));
                self.ask::<_, JoinGroupResponse>(case, ApiKey::JoinGroup, v, &req)?;
            }
            for v in advertised(ApiKey::LeaveGroup).filter(|v| *v >= 3) {
                use leave_group_request::MemberIdentity;
                let req = LeaveGroupRequest::default()
                    .with_group_id(group_id(&group))
                    .with_members(vec![MemberIdentity::default()
                        .with_member_id(sb(member))
                        .with_group_instance_id(Some(sb(instance)))]);
                self.ask::<_, LeaveGroupResponse>(case, ApiKey::LeaveGroup, v, &req)?;
            }
        }
        Ok(())
    }

    /// Joins `group` as the static member `instance` (no member id: a new incarnation) and syncs.
    fn join_and_sync_static(&mut self, group: &str, instance: &str) -> Result<Member> {
        let jv = top(ApiKey::JoinGroup);
        let req = join_request(jv, group, "", "consumer", Bytes::from_static(b"m"))
            .with_group_instance_id(Some(sb(instance)));
        let resp: JoinGroupResponse = self.quiet(ApiKey::JoinGroup, &req)?;
        if resp.error_code != 0 {
            bail!("static JoinGroup for {group}: error {}", resp.error_code);
        }
        let m = Member {
            group: group.to_owned(),
            id: resp.member_id.to_string(),
            generation: resp.generation_id,
        };
        let req = sync_request(
            top(ApiKey::SyncGroup),
            &m,
            "consumer",
            Bytes::from_static(b"a"),
        )
        .with_group_instance_id(Some(sb(instance)));
        let sync: SyncGroupResponse = self.quiet(ApiKey::SyncGroup, &req)?;
        if sync.error_code != 0 {
            bail!("static SyncGroup for {group}: error {}", sync.error_code);
        }
        Ok(m)
    }

    fn leave_group(&mut self) -> Result<()> {
        for v in advertised(ApiKey::LeaveGroup) {
            let group = self.n(&format!("leave-v{v}"));
            let m = self.join_and_sync(&group, "consumer", Bytes::from_static(b"meta"))?;
            self.ask::<_, LeaveGroupResponse>(
                "member",
                ApiKey::LeaveGroup,
                v,
                &leave_request(v, &group, &[&m.id]),
            )?;
            self.ask::<_, LeaveGroupResponse>(
                "member that left",
                ApiKey::LeaveGroup,
                v,
                &leave_request(v, &group, &[&m.id]),
            )?;
            let nowhere = self.n("leave-nowhere");
            self.ask::<_, LeaveGroupResponse>(
                "unknown group",
                ApiKey::LeaveGroup,
                v,
                &leave_request(v, &nowhere, &["nobody"]),
            )?;
            if v >= 3 {
                let m = self.join_and_sync(&group, "consumer", Bytes::from_static(b"meta"))?;
                self.ask::<_, LeaveGroupResponse>(
                    "a member and a stranger",
                    ApiKey::LeaveGroup,
                    v,
                    &leave_request(v, &group, &[&m.id, "nobody"]),
                )?;
            }
        }
        Ok(())
    }

    fn describe_groups(&mut self) -> Result<()> {
        let of = self.n("of");
        for v in advertised(ApiKey::DescribeGroups) {
            let group = self.n(&format!("dg-v{v}"));
            let m = self.join_and_sync(&group, "consumer", Bytes::from_static(b"meta"))?;
            let nowhere = self.n("dg-nowhere");
            let req = DescribeGroupsRequest::default().with_groups(vec![
                group_id(&group),
                group_id(&of),
                group_id(&nowhere),
            ]);
            self.ask::<_, DescribeGroupsResponse>(
                "stable, empty and unknown",
                ApiKey::DescribeGroups,
                v,
                &req,
            )?;
            self.leave_quiet(&m)?;
            let req = DescribeGroupsRequest::default().with_groups(vec![group_id(&group)]);
            self.ask::<_, DescribeGroupsResponse>(
                "after its member left",
                ApiKey::DescribeGroups,
                v,
                &req,
            )?;
        }
        Ok(())
    }

    fn list_groups(&mut self) -> Result<()> {
        let prefix = format!("{}-", self.prefix);
        let active = self.n("lg-active");
        let m = self.join_and_sync(&active, "consumer", Bytes::from_static(b"meta"))?;
        for v in advertised(ApiKey::ListGroups) {
            let mut cases = vec![("all", ListGroupsRequest::default())];
            if v >= 4 {
                cases.push((
                    "state Stable",
                    ListGroupsRequest::default().with_states_filter(vec![sb("Stable")]),
                ));
            }
            if v >= 5 {
                cases.push((
                    "type classic",
                    ListGroupsRequest::default().with_types_filter(vec![sb("classic")]),
                ));
                cases.push((
                    "type consumer",
                    ListGroupsRequest::default().with_types_filter(vec![sb("consumer")]),
                ));
            }
            for (case, req) in cases {
                let answer =
                    self.conn
                        .call::<_, ListGroupsResponse>(ApiKey::ListGroups, v, &req)?;
                // Other tests share the brokers: keep this run's groups only.
                let answer = match answer {
                    Answer::Response(mut r) => {
                        r.groups.retain(|g| g.group_id.0.starts_with(&prefix));
                        r.groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
                        Answer::Response(r)
                    }
                    other => other,
                };
                self.note(case, ApiKey::ListGroups, v, &answer);
            }
        }
        self.leave_quiet(&m)
    }

    // ---------------------------------------------------------------- topics and records

    fn create_topics(&mut self) -> Result<()> {
        use create_topics_request::{CreatableTopic, CreatableTopicConfig};
        for v in advertised(ApiKey::CreateTopics) {
            let name = self.n(&format!("ct-v{v}"));
            let topic = |n: &str, partitions, rf, configs: &[(&str, &str)]| {
                CreatableTopic::default()
                    .with_name(topic_name(n))
                    .with_num_partitions(partitions)
                    .with_replication_factor(rf)
                    .with_configs(
                        configs
                            .iter()
                            .map(|(k, val)| {
                                CreatableTopicConfig::default()
                                    .with_name(sb(k))
                                    .with_value(Some(sb(val)))
                            })
                            .collect(),
                    )
            };
            let req = |topics, validate| {
                CreateTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(topics)
                    .with_validate_only(validate)
            };
            let validate = format!("{name}-validate");
            self.ask::<_, CreateTopicsResponse>(
                "validate only",
                ApiKey::CreateTopics,
                v,
                &req(
                    vec![topic(&validate, 3, 1, &[("retention.ms", "1000")])],
                    true,
                ),
            )?;
            self.ask::<_, CreateTopicsResponse>(
                "with a config",
                ApiKey::CreateTopics,
                v,
                &req(vec![topic(&name, 3, 1, &[("retention.ms", "1000")])], false),
            )?;
            self.ask::<_, CreateTopicsResponse>(
                "existing",
                ApiKey::CreateTopics,
                v,
                &req(vec![topic(&name, 3, 1, &[])], false),
            )?;
            let cases: Vec<(&str, CreatableTopic)> = vec![
                (
                    "replication factor 3",
                    topic(&format!("{name}-rf3"), 1, 3, &[]),
                ),
                ("zero partitions", topic(&format!("{name}-zero"), 0, 1, &[])),
                ("invalid name", topic("bad/name", 1, 1, &[])),
                ("name of dots", topic("..", 1, 1, &[])),
                ("name too long", topic(&"x".repeat(250), 1, 1, &[])),
                (
                    "invalid config value",
                    topic(&format!("{name}-badcfg"), 1, 1, &[("retention.ms", "soon")]),
                ),
                (
                    "unknown config",
                    topic(&format!("{name}-unkcfg"), 1, 1, &[("no.such.config", "1")]),
                ),
            ];
            for (case, t) in cases {
                self.ask::<_, CreateTopicsResponse>(
                    case,
                    ApiKey::CreateTopics,
                    v,
                    &req(vec![t], false),
                )?;
            }
            let invalid = [
                ("compression.gzip.level", "20"),
                ("compression.lz4.level", "0"),
                ("compression.zstd.level", "23"),
                ("local.retention.ms", "-3"),
                ("leader.replication.throttled.replicas", "bad"),
                ("remote.storage.enable", "true"),
                ("remote.log.copy.disable", "true"),
                ("retention.ms", "-5"),
                ("segment.bytes", "10"),
                ("segment.bytes", "99999999999"),
                ("cleanup.policy", "nope"),
                ("min.cleanable.dirty.ratio", "2"),
                ("preallocate", "yes"),
                ("message.timestamp.type", "Now"),
            ];
            for (i, (config, value)) in invalid.into_iter().enumerate() {
                let t = topic(&format!("{name}-invalid-{i}"), 1, 1, &[(config, value)]);
                self.ask::<_, CreateTopicsResponse>(
                    &format!("{config}={value}"),
                    ApiKey::CreateTopics,
                    v,
                    &req(vec![t], true),
                )?;
            }
            if v >= 4 {
                let defaults = format!("{name}-defaults");
                self.ask::<_, CreateTopicsResponse>(
                    "broker defaults",
                    ApiKey::CreateTopics,
                    v,
                    &req(vec![topic(&defaults, -1, -1, &[])], false),
                )?;
            }
            let a = format!("{name}-a");
            self.ask::<_, CreateTopicsResponse>(
                "two topics, one repeated",
                ApiKey::CreateTopics,
                v,
                &req(
                    vec![
                        topic(&a, 1, 1, &[]),
                        topic(&a, 1, 1, &[]),
                        topic(&format!("{name}-b"), 1, 1, &[]),
                    ],
                    false,
                ),
            )?;
        }
        Ok(())
    }

    fn delete_topics(&mut self) -> Result<()> {
        use delete_topics_request::DeleteTopicState;
        for v in advertised(ApiKey::DeleteTopics) {
            let doomed = self.n(&format!("del-v{v}"));
            self.create(&doomed, 1, &[])?;
            self.wait_ready(&doomed, 1)?;
            let req = |names: &[&str]| {
                if v >= 6 {
                    DeleteTopicsRequest::default()
                        .with_timeout_ms(30_000)
                        .with_topics(
                            names
                                .iter()
                                .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                                .collect(),
                        )
                } else {
                    DeleteTopicsRequest::default()
                        .with_timeout_ms(30_000)
                        .with_topic_names(names.iter().map(|n| topic_name(n)).collect())
                }
            };
            self.ask::<_, DeleteTopicsResponse>(
                "existing",
                ApiKey::DeleteTopics,
                v,
                &req(&[&doomed]),
            )?;
            self.ask::<_, DeleteTopicsResponse>(
                "deleted already",
                ApiKey::DeleteTopics,
                v,
                &req(&[&doomed]),
            )?;
            self.ask::<_, DeleteTopicsResponse>(
                "invalid name",
                ApiKey::DeleteTopics,
                v,
                &req(&["bad/name"]),
            )?;
            if v >= 6 {
                let req = DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(vec![
                        DeleteTopicState::default().with_topic_id(Uuid::from_u128(0x77))
                    ]);
                self.ask::<_, DeleteTopicsResponse>(
                    "unknown topic id",
                    ApiKey::DeleteTopics,
                    v,
                    &req,
                )?;
            }
        }
        Ok(())
    }

    fn delete_records(&mut self) -> Result<()> {
        use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
        let dr = self.n("dr");
        for v in advertised(ApiKey::DeleteRecords) {
            let cases: [(&str, &str, i32, i64); 5] = [
                ("inside the log", &dr, 0, i64::from(v) + 1),
                ("to the high watermark (-1)", &dr, 0, -1),
                ("past the end", &dr, 0, 99),
                ("partition 4 of 1", &dr, 4, 1),
                ("unknown topic", "nope-no-such-topic", 0, 1),
            ];
            for (case, topic, partition, offset) in cases {
                let req = DeleteRecordsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(vec![DeleteRecordsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![DeleteRecordsPartition::default()
                            .with_partition_index(partition)
                            .with_offset(offset)])]);
                self.ask::<_, DeleteRecordsResponse>(case, ApiKey::DeleteRecords, v, &req)?;
            }
        }
        Ok(())
    }

    fn init_producer_id(&mut self) -> Result<()> {
        for v in advertised(ApiKey::InitProducerId) {
            let req = idempotent_init();
            let first: Option<InitProducerIdResponse> =
                self.ask("idempotent producer", ApiKey::InitProducerId, v, &req)?;
            let empty = InitProducerIdRequest::default().with_transaction_timeout_ms(60_000);
            self.ask::<_, InitProducerIdResponse>(
                "empty transactional id",
                ApiKey::InitProducerId,
                v,
                &empty,
            )?;
            // The timeout is checked first: above transaction.max.timeout.ms (15 min), or not
            // positive, is INVALID_TRANSACTION_TIMEOUT.
            for (case, timeout) in [
                ("transaction timeout above the maximum", 900_001),
                ("transaction timeout zero", 0),
            ] {
                let req = InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(sb("txn-probe"))))
                    .with_transaction_timeout_ms(timeout);
                self.ask::<_, InitProducerIdResponse>(case, ApiKey::InitProducerId, v, &req)?;
            }
            // An idempotent producer's timeout is not looked at.
            let req = idempotent_init().with_transaction_timeout_ms(900_001);
            self.ask::<_, InitProducerIdResponse>(
                "idempotent producer with a long timeout",
                ApiKey::InitProducerId,
                v,
                &req,
            )?;
            if v >= 3 {
                if let Some(first) = first {
                    let req = req
                        .with_producer_id(first.producer_id)
                        .with_producer_epoch(first.producer_epoch);
                    self.ask::<_, InitProducerIdResponse>(
                        "idempotent producer with its id and epoch",
                        ApiKey::InitProducerId,
                        v,
                        &req,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn offset_for_leader_epoch(&mut self) -> Result<()> {
        use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
        let read = self.n("read");
        for v in advertised(ApiKey::OffsetForLeaderEpoch) {
            let cases: [(&str, &str, i32, i32, i32); 5] = [
                ("epoch 0", &read, 0, 0, -1),
                ("epoch 0 with current epoch 0", &read, 0, 0, 0),
                ("future epoch", &read, 0, 7, -1),
                ("current epoch ahead of the leader", &read, 0, 0, 3),
                ("partition 9 of 2", &read, 9, 0, -1),
            ];
            for (case, topic, partition, epoch, current) in cases {
                let mut req = OffsetForLeaderEpochRequest::default().with_topics(vec![
                    OffsetForLeaderTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(vec![OffsetForLeaderPartition::default()
                            .with_partition(partition)
                            .with_leader_epoch(epoch)
                            .with_current_leader_epoch(current)]),
                ]);
                if v >= 3 {
                    req = req.with_replica_id(BrokerId(-1));
                }
                self.ask::<_, OffsetForLeaderEpochResponse>(
                    case,
                    ApiKey::OffsetForLeaderEpoch,
                    v,
                    &req,
                )?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- configs, log dirs

    fn describe_configs(&mut self) -> Result<()> {
        use describe_configs_request::DescribeConfigsResource;
        let cfg = self.n("cfg");
        for v in advertised(ApiKey::DescribeConfigs) {
            let res = |t: &str, keys: Option<Vec<&str>>| {
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(sb(t))
                    .with_configuration_keys(keys.map(|ks| ks.into_iter().map(sb).collect()))
            };
            let req = |r, synonyms| {
                let mut q = DescribeConfigsRequest::default().with_resources(vec![r]);
                if v >= 1 {
                    q = q.with_include_synonyms(synonyms);
                }
                q
            };
            self.ask::<_, DescribeConfigsResponse>(
                "every config of a topic",
                ApiKey::DescribeConfigs,
                v,
                &req(res(&cfg, None), false),
            )?;
            self.ask::<_, DescribeConfigsResponse>(
                "every config of a topic with synonyms",
                ApiKey::DescribeConfigs,
                v,
                &req(res(&cfg, None), true),
            )?;
            self.ask::<_, DescribeConfigsResponse>(
                "named configs with synonyms",
                ApiKey::DescribeConfigs,
                v,
                &req(
                    res(
                        &cfg,
                        Some(vec![
                            "retention.ms",
                            "cleanup.policy",
                            "segment.bytes",
                            "no.such.config",
                        ]),
                    ),
                    true,
                ),
            )?;
            self.ask::<_, DescribeConfigsResponse>(
                "unknown topic",
                ApiKey::DescribeConfigs,
                v,
                &req(res("nope-no-such-topic", None), false),
            )?;
            self.ask::<_, DescribeConfigsResponse>(
                "invalid topic name",
                ApiKey::DescribeConfigs,
                v,
                &req(res("bad/name", None), false),
            )?;
            let bad_type = DescribeConfigsResource::default()
                .with_resource_type(77)
                .with_resource_name(sb(&cfg));
            self.ask::<_, DescribeConfigsResponse>(
                "unknown resource type",
                ApiKey::DescribeConfigs,
                v,
                &req(bad_type, false),
            )?;
        }
        Ok(())
    }

    fn alter_configs(&mut self) -> Result<()> {
        use alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let alter = self.n("alter");
        for v in advertised(ApiKey::AlterConfigs) {
            let req = |t: &str, configs: &[(&str, &str)], validate| {
                AlterConfigsRequest::default()
                    .with_validate_only(validate)
                    .with_resources(vec![AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(sb(t))
                        .with_configs(
                            configs
                                .iter()
                                .map(|(k, val)| {
                                    AlterableConfig::default()
                                        .with_name(sb(k))
                                        .with_value(Some(sb(val)))
                                })
                                .collect(),
                        )])
            };
            self.ask::<_, AlterConfigsResponse>(
                "set",
                ApiKey::AlterConfigs,
                v,
                &req(&alter, &[("retention.ms", "5000")], false),
            )?;
            self.ask::<_, AlterConfigsResponse>(
                "validate only",
                ApiKey::AlterConfigs,
                v,
                &req(&alter, &[("retention.ms", "6000")], true),
            )?;
            self.ask::<_, AlterConfigsResponse>(
                "invalid value",
                ApiKey::AlterConfigs,
                v,
                &req(&alter, &[("retention.ms", "soon")], false),
            )?;
            self.ask::<_, AlterConfigsResponse>(
                "unknown config",
                ApiKey::AlterConfigs,
                v,
                &req(&alter, &[("no.such.config", "1")], false),
            )?;
            self.ask::<_, AlterConfigsResponse>(
                "unknown topic",
                ApiKey::AlterConfigs,
                v,
                &req("nope-no-such-topic", &[("retention.ms", "5000")], false),
            )?;
        }
        Ok(())
    }

    fn incremental_alter_configs(&mut self) -> Result<()> {
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let alter = self.n("alter");
        for v in advertised(ApiKey::IncrementalAlterConfigs) {
            let req = |t: &str, ops: &[(&str, i8, Option<&str>)], validate| {
                IncrementalAlterConfigsRequest::default()
                    .with_validate_only(validate)
                    .with_resources(vec![AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(sb(t))
                        .with_configs(
                            ops.iter()
                                .map(|(k, op, val)| {
                                    AlterableConfig::default()
                                        .with_name(sb(k))
                                        .with_config_operation(*op)
                                        .with_value(val.map(sb))
                                })
                                .collect(),
                        )])
            };
            let cases: Vec<IncrementalCase<'_>> = vec![
                (
                    "set",
                    &alter,
                    vec![("retention.ms", 0, Some("7000"))],
                    false,
                ),
                ("delete", &alter, vec![("retention.ms", 1, None)], false),
                (
                    "append to a list",
                    &alter,
                    vec![("cleanup.policy", 2, Some("compact"))],
                    false,
                ),
                (
                    "subtract from a list",
                    &alter,
                    vec![("cleanup.policy", 3, Some("compact"))],
                    false,
                ),
                (
                    "subtract the last value of a list",
                    &alter,
                    vec![("cleanup.policy", 3, Some("delete"))],
                    false,
                ),
                (
                    "a list set again",
                    &alter,
                    vec![("cleanup.policy", 0, Some("delete"))],
                    false,
                ),
                (
                    "append to a scalar",
                    &alter,
                    vec![("retention.ms", 2, Some("1"))],
                    false,
                ),
                (
                    "validate only",
                    &alter,
                    vec![("retention.ms", 0, Some("8000"))],
                    true,
                ),
                (
                    "invalid value",
                    &alter,
                    vec![("retention.ms", 0, Some("soon"))],
                    false,
                ),
                (
                    "unknown config",
                    &alter,
                    vec![("no.such.config", 0, Some("1"))],
                    false,
                ),
                (
                    "unknown operation",
                    &alter,
                    vec![("retention.ms", 9, Some("1"))],
                    false,
                ),
                (
                    "unknown topic",
                    "nope-no-such-topic",
                    vec![("retention.ms", 0, Some("1"))],
                    false,
                ),
            ];
            for (case, t, ops, validate) in cases {
                self.ask::<_, IncrementalAlterConfigsResponse>(
                    case,
                    ApiKey::IncrementalAlterConfigs,
                    v,
                    &req(t, &ops, validate),
                )?;
            }
        }
        Ok(())
    }

    /// DescribeTopicPartitions (KIP-966): topics sorted by name, partitions paginated by the
    /// response's partition limit and a cursor.
    fn describe_topic_partitions(&mut self) -> Result<()> {
        use describe_topic_partitions_request::{Cursor, TopicRequest};
        let (read, sizes, inherit) = (self.n("read"), self.n("sizes"), self.n("inherit"));
        let nope = self.n("nope");
        let req = |topics: &[&str], limit: i32, cursor: Option<(&str, i32)>| {
            DescribeTopicPartitionsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|t| TopicRequest::default().with_name(topic_name(t)))
                        .collect(),
                )
                .with_response_partition_limit(limit)
                .with_cursor(cursor.map(|(t, p)| {
                    Cursor::default()
                        .with_topic_name(topic_name(t))
                        .with_partition_index(p)
                }))
        };
        let cases: Vec<(&str, DescribeTopicPartitionsRequest)> = vec![
            ("named topics", req(&[&sizes, &read, &inherit], 2000, None)),
            ("an unknown topic", req(&[&read, &nope], 2000, None)),
            ("an invalid name", req(&["bad/name"], 2000, None)),
            ("the same topic twice", req(&[&read, &read], 2000, None)),
            ("a partition limit", req(&[&read, &sizes], 3, None)),
            ("from a cursor", req(&[&read, &sizes], 2, Some((&sizes, 1)))),
            (
                "a cursor at the last partition",
                req(&[&read, &sizes], 2, Some((&sizes, 3))),
            ),
            (
                "a cursor past the partitions",
                req(&[&read, &sizes], 2, Some((&read, 7))),
            ),
            (
                "a cursor topic not asked for",
                req(&[&read], 10, Some((&sizes, 0))),
            ),
            ("a limit of zero", req(&[&read], 0, None)),
            ("a negative limit", req(&[&read], -1, None)),
        ];
        for v in advertised(ApiKey::DescribeTopicPartitions) {
            for (case, r) in &cases {
                self.ask::<_, DescribeTopicPartitionsResponse>(
                    case,
                    ApiKey::DescribeTopicPartitions,
                    v,
                    r,
                )?;
            }
            // Every topic: other tests share the brokers, so keep this run's topics only.
            let answer = self.conn.call::<_, DescribeTopicPartitionsResponse>(
                ApiKey::DescribeTopicPartitions,
                v,
                &req(&[], 2000, None),
            )?;
            let prefix = format!("{}-", self.prefix);
            let answer = match answer {
                Answer::Response(mut r) => {
                    r.topics
                        .retain(|t| t.name.as_ref().is_some_and(|n| n.0.starts_with(&prefix)));
                    r.next_cursor = None;
                    Answer::Response(r)
                }
                other => other,
            };
            self.note("every topic", ApiKey::DescribeTopicPartitions, v, &answer);
        }
        Ok(())
    }

    /// Dynamic broker configs: IncrementalAlterConfigs and AlterConfigs on the BROKER resource,
    /// for the cluster-wide default (empty name) and for this broker (its id), what DescribeConfigs
    /// then reports for the broker and for a topic that inherits the values, and the refusals
    /// (read-only and unknown configs, bad values, another broker, other resource types).
    fn broker_configs(&mut self) -> Result<()> {
        use describe_configs_request::DescribeConfigsResource;
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let inherit = self.n("inherit");
        let keys = [
            "log.retention.ms",
            "log.retention.bytes",
            "log.segment.bytes",
            "message.max.bytes",
            "log.cleanup.policy",
            "log.message.timestamp.type",
            "log.retention.check.interval.ms",
            "group.min.session.timeout.ms",
            "group.max.session.timeout.ms",
            "group.initial.rebalance.delay.ms",
            "num.partitions",
            "auto.create.topics.enable",
            "advertised.listeners",
            "broker.id",
            "node.id",
            "offsets.retention.minutes",
        ];
        let topic_keys = [
            "retention.ms",
            "retention.bytes",
            "segment.bytes",
            "max.message.bytes",
            "cleanup.policy",
            "message.timestamp.type",
        ];
        let iac_v = top(ApiKey::IncrementalAlterConfigs);
        let dc_v = top(ApiKey::DescribeConfigs);
        let iac = |resource_type: i8, name: &str, ops: &[(&str, i8, Option<&str>)], validate| {
            IncrementalAlterConfigsRequest::default()
                .with_validate_only(validate)
                .with_resources(vec![AlterConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(sb(name))
                    .with_configs(
                        ops.iter()
                            .map(|(k, op, val)| {
                                AlterableConfig::default()
                                    .with_name(sb(k))
                                    .with_config_operation(*op)
                                    .with_value(val.map(sb))
                            })
                            .collect(),
                    )])
        };
        let describe = |resource_type: i8, name: &str, keys: Option<&[&str]>| {
            DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![DescribeConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(sb(name))
                    .with_configuration_keys(
                        keys.map(|ks| ks.iter().copied().map(sb).collect()),
                    )])
        };
        const BROKER: i8 = 4;
        const TOPIC: i8 = 2;
        const SET: i8 = 0;
        const DELETE: i8 = 1;
        const APPEND: i8 = 2;
        const SUBTRACT: i8 = 3;
        let look = |p: &mut Probe, case: &str| -> Result<()> {
            p.ask::<_, DescribeConfigsResponse>(
                &format!("broker configs: {case}: this broker"),
                ApiKey::DescribeConfigs,
                dc_v,
                &describe(BROKER, "0", Some(&keys)),
            )?;
            p.ask::<_, DescribeConfigsResponse>(
                &format!("broker configs: {case}: the cluster default"),
                ApiKey::DescribeConfigs,
                dc_v,
                &describe(BROKER, "", None),
            )?;
            p.ask::<_, DescribeConfigsResponse>(
                &format!("broker configs: {case}: a topic that inherits them"),
                ApiKey::DescribeConfigs,
                dc_v,
                &describe(TOPIC, &inherit, Some(&topic_keys)),
            )?;
            Ok(())
        };
        // Kafka applies a config change through its metadata log, a moment after answering:
        // wait until what it describes stops changing before looking.
        let settle = |p: &mut Probe| -> Result<()> {
            let mut last = String::new();
            let mut stable = 0;
            for _ in 0..100 {
                let mut now = String::new();
                for req in [
                    describe(BROKER, "0", Some(&keys)),
                    describe(BROKER, "", None),
                    describe(TOPIC, &inherit, Some(&topic_keys)),
                ] {
                    let r: DescribeConfigsResponse = p.quiet(ApiKey::DescribeConfigs, &req)?;
                    now.push_str(&format!("{r:?}"));
                }
                if now == last {
                    stable += 1;
                    if stable == 2 {
                        return Ok(());
                    }
                } else {
                    stable = 0;
                    last = now;
                }
                std::thread::sleep(Duration::from_millis(150));
            }
            bail!("the broker's configs did not settle")
        };
        let change = |p: &mut Probe, case: &str, req: &IncrementalAlterConfigsRequest| {
            p.ask::<_, IncrementalAlterConfigsResponse>(
                &format!("broker configs: {case}"),
                ApiKey::IncrementalAlterConfigs,
                iac_v,
                req,
            )?;
            settle(p)
        };
        look(self, "as started")?;
        // Every broker config StrikeMQ describes (but log.dirs, a path): value, type, source,
        // read-only flag and synonyms as Kafka has them.
        let all = [
            "advertised.listeners",
            "auto.create.topics.enable",
            "broker.id",
            "compression.gzip.level",
            "compression.lz4.level",
            "compression.type",
            "compression.zstd.level",
            "group.initial.rebalance.delay.ms",
            "group.max.session.timeout.ms",
            "group.min.session.timeout.ms",
            "log.cleaner.delete.retention.ms",
            "log.cleaner.max.compaction.lag.ms",
            "log.cleaner.min.cleanable.ratio",
            "log.cleaner.min.compaction.lag.ms",
            "log.cleanup.policy",
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "log.flush.scheduler.interval.ms",
            "log.index.interval.bytes",
            "log.index.size.max.bytes",
            "log.local.retention.bytes",
            "log.local.retention.ms",
            "log.message.timestamp.after.max.ms",
            "log.message.timestamp.before.max.ms",
            "log.message.timestamp.type",
            "log.preallocate",
            "log.retention.bytes",
            "log.retention.check.interval.ms",
            "log.retention.hours",
            "log.retention.minutes",
            "log.retention.ms",
            "log.roll.hours",
            "log.roll.jitter.hours",
            "log.roll.jitter.ms",
            "log.roll.ms",
            "log.segment.bytes",
            "log.segment.delete.delay.ms",
            "message.max.bytes",
            "min.insync.replicas",
            "node.id",
            "num.partitions",
            "offsets.retention.minutes",
            "unclean.leader.election.enable",
        ];
        self.ask::<_, DescribeConfigsResponse>(
            "broker configs: every config StrikeMQ describes",
            ApiKey::DescribeConfigs,
            dc_v,
            &describe(BROKER, "0", Some(&all)),
        )?;
        let cluster_defaults: [(&str, i8, Option<&str>); 5] = [
            ("log.retention.ms", SET, Some("3600000")),
            ("log.segment.bytes", SET, Some("2097152")),
            ("message.max.bytes", SET, Some("2000000")),
            ("log.cleanup.policy", SET, Some("compact,delete")),
            ("log.message.timestamp.type", SET, Some("LogAppendTime")),
        ];
        change(
            self,
            "cluster default, validate only",
            &iac(BROKER, "", &cluster_defaults, true),
        )?;
        look(self, "after validate only")?;
        change(
            self,
            "cluster default, set",
            &iac(BROKER, "", &cluster_defaults, false),
        )?;
        look(self, "after cluster defaults")?;
        let mine = [("log.retention.ms", SET, Some("7200000"))];
        change(self, "this broker, set", &iac(BROKER, "0", &mine, false))?;
        look(self, "after this broker's value")?;
        let subtract = [("log.cleanup.policy", SUBTRACT, Some("compact"))];
        change(
            self,
            "subtract from a list",
            &iac(BROKER, "", &subtract, false),
        )?;
        let subtract = [("log.cleanup.policy", SUBTRACT, Some("delete"))];
        change(
            self,
            "subtract the last value of a list",
            &iac(BROKER, "", &subtract, false),
        )?;
        look(self, "after emptying a list")?;
        let append = [("log.cleanup.policy", APPEND, Some("delete"))];
        change(self, "append to a list", &iac(BROKER, "", &append, false))?;
        let refusals: Vec<(&str, &str, Vec<ConfigChange<'_>>)> = vec![
            ("read-only config", "", vec![("broker.id", SET, Some("5"))]),
            (
                "read-only config on this broker",
                "0",
                vec![("log.dirs", SET, Some("/tmp/x"))],
            ),
            (
                "unknown config",
                "",
                vec![("no.such.config", SET, Some("1"))],
            ),
            (
                "invalid value",
                "",
                vec![("log.retention.ms", SET, Some("soon"))],
            ),
            (
                "append to a scalar",
                "",
                vec![("log.retention.ms", APPEND, Some("1"))],
            ),
            (
                "another broker",
                "7",
                vec![("log.retention.ms", SET, Some("1"))],
            ),
            (
                "not a broker id",
                "x",
                vec![("log.retention.ms", SET, Some("1"))],
            ),
            (
                "group session timeouts",
                "",
                vec![("group.min.session.timeout.ms", SET, Some("1000"))],
            ),
            (
                "retention check interval",
                "",
                vec![("log.retention.check.interval.ms", SET, Some("1000"))],
            ),
            (
                "number of partitions",
                "",
                vec![("num.partitions", SET, Some("3"))],
            ),
            (
                "one good and one read-only",
                "",
                vec![
                    ("log.retention.bytes", SET, Some("1000000")),
                    ("broker.id", SET, Some("5")),
                ],
            ),
        ];
        for (case, name, ops) in refusals {
            change(self, case, &iac(BROKER, name, &ops, false))?;
        }
        look(self, "after the refusals")?;
        // AlterConfigs replaces a resource's whole set of dynamic configs.
        {
            use alter_configs_request::{AlterConfigsResource, AlterableConfig};
            let req =
                AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default(
                )
                .with_resource_type(BROKER)
                .with_resource_name(sb(""))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(sb("log.retention.ms"))
                    .with_value(Some(sb("1800000")))])]);
            self.ask::<_, AlterConfigsResponse>(
                "broker configs: AlterConfigs on the cluster default",
                ApiKey::AlterConfigs,
                top(ApiKey::AlterConfigs),
                &req,
            )?;
            settle(self)?;
        }
        look(self, "after AlterConfigs")?;
        // Other resource types: KIP-848 group configs, an unknown type.
        let group = [("consumer.session.timeout.ms", SET, Some("45000"))];
        change(
            self,
            "group resource",
            &iac(32, &self.n("g"), &group, false),
        )?;
        change(self, "unknown resource type", &iac(77, "x", &group, false))?;
        self.ask::<_, DescribeConfigsResponse>(
            "broker configs: describe a group resource",
            ApiKey::DescribeConfigs,
            dc_v,
            &describe(32, &self.n("g"), None),
        )?;
        // Back to the defaults, for the tests that share these brokers.
        let reset: Vec<(&str, i8, Option<&str>)> = [
            "log.retention.ms",
            "log.retention.bytes",
            "log.segment.bytes",
            "message.max.bytes",
            "log.cleanup.policy",
            "log.message.timestamp.type",
        ]
        .into_iter()
        .map(|k| (k, DELETE, None))
        .collect();
        change(
            self,
            "cluster default, delete",
            &iac(BROKER, "", &reset, false),
        )?;
        change(
            self,
            "this broker, delete",
            &iac(BROKER, "0", &reset, false),
        )?;
        look(self, "after deleting")?;
        Ok(())
    }

    fn describe_log_dirs(&mut self) -> Result<()> {
        use describe_log_dirs_request::DescribableLogDirTopic;
        let read = self.n("read");
        for v in advertised(ApiKey::DescribeLogDirs) {
            let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
                DescribableLogDirTopic::default()
                    .with_topic(topic_name(&read))
                    .with_partitions(vec![0, 1, 9]),
                DescribableLogDirTopic::default()
                    .with_topic(topic_name("nope-no-such-topic"))
                    .with_partitions(vec![0]),
            ]));
            self.ask::<_, DescribeLogDirsResponse>(
                "one topic and an unknown one",
                ApiKey::DescribeLogDirs,
                v,
                &req,
            )?;
        }
        Ok(())
    }

    fn create_partitions(&mut self) -> Result<()> {
        use create_partitions_request::CreatePartitionsTopic;
        for v in advertised(ApiKey::CreatePartitions) {
            let t = self.n(&format!("cp-v{v}"));
            let req = |name: &str, count, validate| {
                CreatePartitionsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_validate_only(validate)
                    .with_topics(vec![CreatePartitionsTopic::default()
                        .with_name(topic_name(name))
                        .with_count(count)
                        .with_assignments(None)])
            };
            self.ask::<_, CreatePartitionsResponse>(
                "validate only",
                ApiKey::CreatePartitions,
                v,
                &req(&t, 5, true),
            )?;
            let mut empty = req(&t, 5, true);
            empty.topics[0].assignments = Some(vec![]);
            self.ask::<_, CreatePartitionsResponse>(
                "an empty list of assignments",
                ApiKey::CreatePartitions,
                v,
                &empty,
            )?;
            self.ask::<_, CreatePartitionsResponse>(
                "grow to 3",
                ApiKey::CreatePartitions,
                v,
                &req(&t, 3, false),
            )?;
            self.ask::<_, CreatePartitionsResponse>(
                "same count",
                ApiKey::CreatePartitions,
                v,
                &req(&t, 3, false),
            )?;
            self.ask::<_, CreatePartitionsResponse>(
                "shrink",
                ApiKey::CreatePartitions,
                v,
                &req(&t, 2, false),
            )?;
            self.ask::<_, CreatePartitionsResponse>(
                "unknown topic",
                ApiKey::CreatePartitions,
                v,
                &req("nope-no-such-topic", 3, false),
            )?;
        }
        Ok(())
    }

    fn delete_groups(&mut self) -> Result<()> {
        let read = self.n("read");
        for v in advertised(ApiKey::DeleteGroups) {
            let empty = self.n(&format!("delg-v{v}"));
            self.commit_quiet(&empty, &read, &[(0, 1)])?;
            let active = self.n(&format!("delg-active-v{v}"));
            let m = self.join_and_sync(&active, "consumer", Bytes::from_static(b"meta"))?;
            let nowhere = self.n("delg-nowhere");
            let req = DeleteGroupsRequest::default().with_groups_names(vec![
                group_id(&empty),
                group_id(&active),
                group_id(&nowhere),
            ]);
            self.ask::<_, DeleteGroupsResponse>(
                "empty, active and unknown",
                ApiKey::DeleteGroups,
                v,
                &req,
            )?;
            let req = DeleteGroupsRequest::default().with_groups_names(vec![group_id(&empty)]);
            self.ask::<_, DeleteGroupsResponse>("deleted already", ApiKey::DeleteGroups, v, &req)?;
            self.leave_quiet(&m)?;
        }
        Ok(())
    }

    fn offset_delete(&mut self) -> Result<()> {
        use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
        let read = self.n("read");
        let empty = self.n("od");
        self.commit_quiet(&empty, &read, &[(0, 1), (1, 1)])?;
        let active = self.n("od-active");
        let m = self.join_and_sync(&active, "consumer", subscription(&[&read]))?;
        self.commit_quiet(&active, &read, &[(0, 1)]).ok();
        let req = |g: &str, t: &str, ps: &[i32]| {
            OffsetDeleteRequest::default()
                .with_group_id(group_id(g))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(
                        ps.iter()
                            .map(|p| {
                                OffsetDeleteRequestPartition::default().with_partition_index(*p)
                            })
                            .collect(),
                    )])
        };
        let v = 0;
        self.ask::<_, OffsetDeleteResponse>(
            "empty group",
            ApiKey::OffsetDelete,
            v,
            &req(&empty, &read, &[0]),
        )?;
        self.ask::<_, OffsetDeleteResponse>(
            "partition 9 of 2",
            ApiKey::OffsetDelete,
            v,
            &req(&empty, &read, &[9]),
        )?;
        self.ask::<_, OffsetDeleteResponse>(
            "unknown topic",
            ApiKey::OffsetDelete,
            v,
            &req(&empty, "nope-no-such-topic", &[0]),
        )?;
        let nowhere = self.n("od-nowhere");
        self.ask::<_, OffsetDeleteResponse>(
            "unknown group",
            ApiKey::OffsetDelete,
            v,
            &req(&nowhere, &read, &[0]),
        )?;
        self.ask::<_, OffsetDeleteResponse>(
            "group subscribed to the topic",
            ApiKey::OffsetDelete,
            v,
            &req(&active, &read, &[0]),
        )?;
        self.leave_quiet(&m)
    }

    fn describe_cluster(&mut self) -> Result<()> {
        for v in advertised(ApiKey::DescribeCluster) {
            let mut req = DescribeClusterRequest::default();
            if v >= 1 {
                req = req.with_endpoint_type(1);
            }
            self.ask::<_, DescribeClusterResponse>("brokers", ApiKey::DescribeCluster, v, &req)?;
            if v >= 1 {
                self.ask::<_, DescribeClusterResponse>(
                    "controllers",
                    ApiKey::DescribeCluster,
                    v,
                    &DescribeClusterRequest::default().with_endpoint_type(2),
                )?;
            }
            self.ask::<_, DescribeClusterResponse>(
                "authorized operations",
                ApiKey::DescribeCluster,
                v,
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            )?;
        }
        Ok(())
    }

    fn describe_producers(&mut self) -> Result<()> {
        use describe_producers_request::TopicRequest;
        let topic = self.n("producers");
        let pid = self.producer_id()?;
        let records = batch_from(BatchBuilder::new().producer(pid, 0, 0), 3, T0);
        self.produce_quiet(&topic, 0, records)?;
        for v in advertised(ApiKey::DescribeProducers) {
            let req = DescribeProducersRequest::default().with_topics(vec![
                TopicRequest::default()
                    .with_name(topic_name(&topic))
                    .with_partition_indexes(vec![0, 3]),
                TopicRequest::default()
                    .with_name(topic_name("nope-no-such-topic"))
                    .with_partition_indexes(vec![0]),
            ]);
            self.ask::<_, DescribeProducersResponse>(
                "one producer, a missing partition and topic",
                ApiKey::DescribeProducers,
                v,
                &req,
            )?;
        }
        Ok(())
    }
}

// -------------------------------------------------------------------- request builders

fn produce_request(
    v: i16,
    acks: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    records: Bytes,
) -> ProduceRequest {
    use produce_request::{PartitionProduceData, TopicProduceData};
    let mut t =
        TopicProduceData::default().with_partition_data(vec![PartitionProduceData::default()
            .with_index(partition)
            .with_records(Some(records))]);
    t = if v >= 13 {
        t.with_topic_id(id)
    } else {
        t.with_name(topic_name(topic))
    };
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![t])
}

fn fetch_request(v: i16, topic: &str, id: Uuid, partitions: &[(i32, i64, i32)]) -> FetchRequest {
    use fetch_request::{FetchPartition, FetchTopic};
    let mut t = FetchTopic::default().with_partitions(
        partitions
            .iter()
            .map(|(p, offset, max)| {
                FetchPartition::default()
                    .with_partition(*p)
                    .with_fetch_offset(*offset)
                    .with_partition_max_bytes(*max)
            })
            .collect(),
    );
    t = if v >= 13 {
        t.with_topic_id(id)
    } else {
        t.with_topic(topic_name(topic))
    };
    let mut req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 24)
        .with_topics(vec![t]);
    if v < 15 {
        req = req.with_replica_id(BrokerId(-1));
    }
    if v >= 7 {
        req = req.with_session_epoch(-1);
    }
    req
}

fn offset_commit(
    v: i16,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let mut req = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_metadata(Some(sb("m")))
                    })
                    .collect(),
            )]);
    if v <= 4 {
        req = req.with_retention_time_ms(-1);
    }
    req
}

fn join_request(
    v: i16,
    group: &str,
    member: &str,
    protocol_type: &str,
    metadata: Bytes,
) -> JoinGroupRequest {
    use join_group_request::JoinGroupRequestProtocol;
    let mut req = JoinGroupRequest::default()
        .with_group_id(group_id(group))
        .with_session_timeout_ms(10_000)
        .with_member_id(sb(member))
        .with_protocol_type(sb(protocol_type))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb("range"))
            .with_metadata(metadata)]);
    if v >= 1 {
        req = req.with_rebalance_timeout_ms(10_000);
    }
    req
}

fn sync_request(v: i16, m: &Member, protocol_type: &str, assignment: Bytes) -> SyncGroupRequest {
    use sync_group_request::SyncGroupRequestAssignment;
    let mut req = SyncGroupRequest::default()
        .with_group_id(group_id(&m.group))
        .with_generation_id(m.generation)
        .with_member_id(sb(&m.id))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(sb(&m.id))
            .with_assignment(assignment)]);
    if v >= 5 {
        req = req
            .with_protocol_type(Some(sb(protocol_type)))
            .with_protocol_name(Some(sb("range")));
    }
    req
}

fn leave_request(v: i16, group: &str, members: &[&str]) -> LeaveGroupRequest {
    use leave_group_request::MemberIdentity;
    let req = LeaveGroupRequest::default().with_group_id(group_id(group));
    if v >= 3 {
        req.with_members(
            members
                .iter()
                .map(|m| MemberIdentity::default().with_member_id(sb(m)))
                .collect(),
        )
    } else {
        req.with_member_id(sb(members[0]))
    }
}

/// Puts a response into a canonical order where Kafka's order is arbitrary (it iterates hash maps).
trait Canonical {
    fn canonical(&mut self) {}
}

/// Kafka sends a partition's `partition_max_bytes` of its log as they are, the last batch cut
/// short; clients drop that incomplete batch and fetch it again, and StrikeMQ stops at the last
/// whole batch instead. Both are compared on the whole batches, what clients read.
impl Canonical for FetchResponse {
    fn canonical(&mut self) {
        for t in &mut self.responses {
            for p in &mut t.partitions {
                if let Some(records) = &mut p.records {
                    let mut whole = 0;
                    while let Ok(size) = strikemq_codec::batch::batch_size(&records[whole..]) {
                        if whole + size > records.len() {
                            break;
                        }
                        whole += size;
                    }
                    records.truncate(whole);
                }
            }
        }
    }
}

impl Canonical for MetadataResponse {
    fn canonical(&mut self) {
        self.topics.sort_by(|a, b| a.name.cmp(&b.name));
        for t in &mut self.topics {
            t.partitions.sort_by_key(|p| p.partition_index);
        }
    }
}

impl Canonical for DescribeConfigsResponse {
    fn canonical(&mut self) {
        for r in &mut self.results {
            r.configs.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
}

impl Canonical for DeleteGroupsResponse {
    fn canonical(&mut self) {
        self.results.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    }
}

impl Canonical for DescribeLogDirsResponse {
    fn canonical(&mut self) {
        for d in &mut self.results {
            d.topics.sort_by(|a, b| a.name.cmp(&b.name));
            for t in &mut d.topics {
                t.partitions.sort_by_key(|p| p.partition_index);
            }
        }
    }
}

macro_rules! in_given_order {
    ($($t:ty),*) => { $(impl Canonical for $t {})* };
}

in_given_order!(
    ApiVersionsResponse,
    DescribeTopicPartitionsResponse,
    ProduceResponse,
    ListOffsetsResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    FindCoordinatorResponse,
    JoinGroupResponse,
    SyncGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    DescribeGroupsResponse,
    ListGroupsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    DeleteRecordsResponse,
    InitProducerIdResponse,
    OffsetForLeaderEpochResponse,
    AlterConfigsResponse,
    IncrementalAlterConfigsResponse,
    CreatePartitionsResponse,
    OffsetDeleteResponse,
    DescribeClusterResponse,
    DescribeProducersResponse,
    AddOffsetsToTxnResponse,
    EndTxnResponse,
    TxnOffsetCommitResponse,
    ConsumerGroupHeartbeatResponse,
    ShareGroupHeartbeatResponse,
    ShareFetchResponse,
    ShareAcknowledgeResponse,
    DescribeShareGroupOffsetsResponse,
    AlterShareGroupOffsetsResponse,
    DeleteShareGroupOffsetsResponse
);

/// ShareGroupDescribe lists a group's members in no given order: by member id.
impl Canonical for ShareGroupDescribeResponse {
    fn canonical(&mut self) {
        for g in &mut self.groups {
            g.members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        }
    }
}

/// ConsumerGroupDescribe lists a group's members in no given order: by member id.
impl Canonical for ConsumerGroupDescribeResponse {
    fn canonical(&mut self) {
        for g in &mut self.groups {
            g.members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        }
    }
}

/// AddPartitionsToTxn answers a topic's partitions in no given order: by index.
impl Canonical for AddPartitionsToTxnResponse {
    fn canonical(&mut self) {
        let topics = self.results_by_topic_v3_and_below.iter_mut().chain(
            self.results_by_transaction
                .iter_mut()
                .flat_map(|t| t.topic_results.iter_mut()),
        );
        for t in topics {
            t.results_by_partition.sort_by_key(|p| p.partition_index);
        }
    }
}

/// DescribeTransactions lists a transaction's topics in no given order: by name.
impl Canonical for DescribeTransactionsResponse {
    fn canonical(&mut self) {
        for s in &mut self.transaction_states {
            s.topics.sort_by(|a, b| a.topic.cmp(&b.topic));
        }
    }
}

/// ListTransactions lists in no given order: by transactional id.
impl Canonical for ListTransactionsResponse {
    fn canonical(&mut self) {
        self.transaction_states
            .sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    }
}

/// What an idempotent, non-transactional producer sends: a null transactional id (kafka-protocol's
/// default is an empty one, which Kafka refuses).
fn idempotent_init() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
}
