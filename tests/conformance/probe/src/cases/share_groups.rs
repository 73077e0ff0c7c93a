//! KIP-932 share groups: ShareGroupHeartbeat (refusals, join, a second member, stale epochs,
//! unknown members, leave), ShareGroupDescribe, ShareFetch and ShareAcknowledge (acquisition,
//! locks held by another member, accept / release / reject, redelivery with a higher delivery
//! count, acknowledging what was not acquired, share session epochs), group configs, and how
//! ListGroups, DescribeGroups and DeleteGroups treat a share group.

use super::*;

fn share_member(n: u128) -> String {
    Uuid::from_u128(0x5ea7_0000_0000_4000_8000_0000_0000_0000 + n).to_string()
}

fn share_join(group: &str, member_id: &str, topics: &[&str]) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(sb(member_id))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| topic_name(t)).collect()))
}

fn share_beat(group: &str, member_id: &str, epoch: i32) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(sb(member_id))
        .with_member_epoch(epoch)
}

fn share_fetch_req(
    group: &str,
    member_id: &str,
    epoch: i32,
    topic: Uuid,
    acks: &[(i64, i64, i8)],
) -> ShareFetchRequest {
    use share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic};
    ShareFetchRequest::default()
        .with_group_id(Some(group_id(group)))
        .with_member_id(Some(sb(member_id)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(3000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(100)
        .with_batch_size(100)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![FetchPartition::default()
                .with_partition_index(0)
                .with_partition_max_bytes(1 << 20)
                .with_acknowledgement_batches(
                    acks.iter()
                        .map(|&(f, l, t)| {
                            AcknowledgementBatch::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(vec![t])
                        })
                        .collect(),
                )])])
}

fn share_ack_req(
    group: &str,
    member_id: &str,
    epoch: i32,
    topic: Uuid,
    acks: &[(i64, i64, i8)],
) -> ShareAcknowledgeRequest {
    use share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch};
    ShareAcknowledgeRequest::default()
        .with_group_id(Some(group_id(group)))
        .with_member_id(Some(sb(member_id)))
        .with_share_session_epoch(epoch)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(
                    acks.iter()
                        .map(|&(f, l, t)| {
                            AcknowledgementBatch::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(vec![t])
                        })
                        .collect(),
                )])])
}

fn alter_offsets(group: &str, topic: &str, offset: i64) -> AlterShareGroupOffsetsRequest {
    use alter_share_group_offsets_request::{
        AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
    };
    AlterShareGroupOffsetsRequest::default()
        .with_group_id(group_id(group))
        .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
            .with_topic_name(topic_name(topic))
            .with_partitions(vec![
                AlterShareGroupOffsetsRequestPartition::default()
                    .with_partition_index(0)
                    .with_start_offset(offset),
            ])])
}

impl Probe {
    /// Joins quietly and heartbeats until the member is given its partitions (Kafka assigns a
    /// share-partition once its state is initialized, a moment after the join); returns the
    /// member's epoch.
    fn share_join_until_assigned(
        &mut self,
        group: &str,
        member_id: &str,
        topic: &str,
    ) -> Result<i32> {
        let mut r: ShareGroupHeartbeatResponse = self.quiet(
            ApiKey::ShareGroupHeartbeat,
            &share_join(group, member_id, &[topic]),
        )?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if r.error_code != 0 {
                bail!("share join failed: {r:?}");
            }
            let assigned = r
                .assignment
                .as_ref()
                .is_some_and(|a| !a.topic_partitions.is_empty());
            if assigned || Instant::now() > deadline {
                return Ok(r.member_epoch);
            }
            std::thread::sleep(Duration::from_millis(100));
            r = self.quiet(
                ApiKey::ShareGroupHeartbeat,
                &share_beat(group, member_id, r.member_epoch),
            )?;
        }
    }

    fn sg(&mut self, case: &str, req: &ShareGroupHeartbeatRequest) -> Result<()> {
        self.ask::<_, ShareGroupHeartbeatResponse>(case, ApiKey::ShareGroupHeartbeat, 1, req)?;
        Ok(())
    }

    fn group_config(&mut self, group: &str, key: &str, value: &str) -> Result<()> {
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(32)
                .with_resource_name(sb(group))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(sb(key))
                    .with_config_operation(0)
                    .with_value(Some(sb(value)))]),
        ]);
        self.ask::<_, IncrementalAlterConfigsResponse>(
            &format!("group config {key}={value}"),
            ApiKey::IncrementalAlterConfigs,
            1,
            &req,
        )?;
        Ok(())
    }

    pub(super) fn share_groups(&mut self) -> Result<()> {
        let topic = self.n("sg");
        self.create(&topic, 1, &[])?;
        self.wait_ready(&topic, 1)?;
        let tid = self.id_of(&topic);
        self.produce_quiet(&topic, 0, batch(5, T0))?;
        let group = self.n("sg-group");
        let (a, b) = (share_member(1), share_member(2));

        // Refused before the group is looked at.
        self.sg("share: empty group id", &share_join("", &a, &[&topic]))?;
        self.sg("share: empty member id", &share_join(&group, "", &[&topic]))?;
        self.sg("share: join without topics", &share_join(&group, &a, &[]))?;
        let mut no_topics = share_join(&group, &a, &[]);
        no_topics.subscribed_topic_names = None;
        self.sg("share: join with null topics", &no_topics)?;
        self.sg("share: epoch -3", &share_beat(&group, &a, -3))?;
        let mut rack = share_join(&group, &a, &[&topic]);
        rack.rack_id = Some(sb(""));
        self.sg("share: empty rack", &rack)?;
        self.sg(
            "share: heartbeat to an unknown group",
            &share_beat(&group, &a, 3),
        )?;

        // Group configs: bad values, then earliest for the fetches below.
        self.group_config(&group, "share.delivery.count.limit", "11")?;
        self.group_config(&group, "share.record.lock.duration.ms", "1000")?;
        self.group_config(&group, "share.auto.offset.reset", "bogus")?;
        self.group_config(&group, "share.nope", "1")?;
        self.group_config(&group, "share.auto.offset.reset", "earliest")?;

        // Two members share the one partition.
        let first = self.share_join_until_assigned(&group, &a, &topic)?;
        self.sg(
            "share: first member heartbeats",
            &share_beat(&group, &a, first),
        )?;
        let second = self.share_join_until_assigned(&group, &b, &topic)?;
        self.sg(
            "share: first member at its old epoch",
            &share_beat(&group, &a, first),
        )?;
        self.sg(
            "share: first member at the new epoch",
            &share_beat(&group, &a, second),
        )?;
        self.sg(
            "share: a greater epoch",
            &share_beat(&group, &a, second + 5),
        )?;
        self.sg(
            "share: unknown member",
            &share_beat(&group, &share_member(9), second),
        )?;
        let describe = ShareGroupDescribeRequest::default()
            .with_group_ids(vec![group_id(&group), group_id("no-such-share-group")])
            .with_include_authorized_operations(true);
        self.ask::<_, ShareGroupDescribeResponse>(
            "share: describe",
            ApiKey::ShareGroupDescribe,
            1,
            &describe,
        )?;

        // Records: a acquires all five, b finds nothing to take.
        let fetch =
            |m: &str, e: i32, acks: &[(i64, i64, i8)]| share_fetch_req(&group, m, e, tid, acks);
        self.ask::<_, ShareFetchResponse>(
            "share fetch: first member acquires",
            ApiKey::ShareFetch,
            1,
            &fetch(&a, 0, &[]),
        )?;
        self.ask::<_, ShareFetchResponse>(
            "share fetch: everything locked to the other member",
            ApiKey::ShareFetch,
            1,
            &fetch(&b, 0, &[]),
        )?;
        self.ask::<_, ShareAcknowledgeResponse>(
            "share acknowledge: accept, release, reject",
            ApiKey::ShareAcknowledge,
            1,
            &share_ack_req(&group, &a, 1, tid, &[(0, 1, 1), (2, 2, 2), (3, 3, 3)]),
        )?;
        self.ask::<_, ShareFetchResponse>(
            "share fetch: the released record, delivered again",
            ApiKey::ShareFetch,
            1,
            &fetch(&b, 1, &[]),
        )?;
        self.ask::<_, ShareAcknowledgeResponse>(
            "share acknowledge: a record another member holds",
            ApiKey::ShareAcknowledge,
            1,
            &share_ack_req(&group, &a, 2, tid, &[(2, 2, 1)]),
        )?;
        self.ask::<_, ShareAcknowledgeResponse>(
            "share acknowledge: session epoch 0",
            ApiKey::ShareAcknowledge,
            1,
            &share_ack_req(&group, &a, 0, tid, &[(4, 4, 1)]),
        )?;
        self.ask::<_, ShareFetchResponse>(
            "share fetch: a wrong session epoch",
            ApiKey::ShareFetch,
            1,
            &fetch(&b, 7, &[]),
        )?;
        self.ask::<_, ShareFetchResponse>(
            "share fetch: acknowledge and fetch",
            ApiKey::ShareFetch,
            1,
            &fetch(&b, 2, &[(2, 2, 1)]),
        )?;

        // The group among the others.
        self.ask::<_, ListGroupsResponse>(
            "share: list share groups",
            ApiKey::ListGroups,
            5,
            &ListGroupsRequest::default()
                .with_types_filter(vec![sb("share")])
                .with_states_filter(vec![sb("Stable")]),
        )?;
        self.ask::<_, DescribeGroupsResponse>(
            "share: DescribeGroups of a share group",
            ApiKey::DescribeGroups,
            6,
            &DescribeGroupsRequest::default().with_groups(vec![group_id(&group)]),
        )?;
        self.ask::<_, DeleteGroupsResponse>(
            "share: delete a share group with members",
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![group_id(&group)]),
        )?;
        self.ask::<_, AlterShareGroupOffsetsResponse>(
            "share offsets: alter a group with members",
            ApiKey::AlterShareGroupOffsets,
            0,
            &alter_offsets(&group, &topic, 1),
        )?;
        self.sg("share: second member leaves", &share_beat(&group, &b, -1))?;
        self.sg("share: it leaves again", &share_beat(&group, &b, -1))?;
        self.sg("share: first member leaves", &share_beat(&group, &a, -1))?;
        self.ask::<_, ShareGroupDescribeResponse>(
            "share: describe the empty group",
            ApiKey::ShareGroupDescribe,
            1,
            &ShareGroupDescribeRequest::default().with_group_ids(vec![group_id(&group)]),
        )?;
        self.share_offsets(&group, &topic)
    }

    fn share_offsets(&mut self, group: &str, topic: &str) -> Result<()> {
        use describe_share_group_offsets_request::{
            DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
        };
        let describe = |topics: Option<Vec<(&str, Vec<i32>)>>, groups: &[&str]| {
            DescribeShareGroupOffsetsRequest::default().with_groups(
                groups
                    .iter()
                    .map(|g| {
                        DescribeShareGroupOffsetsRequestGroup::default()
                            .with_group_id(group_id(g))
                            .with_topics(topics.clone().map(|ts| {
                                ts.into_iter()
                                    .map(|(t, ps)| {
                                        DescribeShareGroupOffsetsRequestTopic::default()
                                            .with_topic_name(topic_name(t))
                                            .with_partitions(ps)
                                    })
                                    .collect()
                            }))
                    })
                    .collect(),
            )
        };
        let ask_describe = |p: &mut Probe, case: &str, req: &DescribeShareGroupOffsetsRequest| {
            p.ask::<_, DescribeShareGroupOffsetsResponse>(
                case,
                ApiKey::DescribeShareGroupOffsets,
                0,
                req,
            )
            .map(|_| ())
        };
        ask_describe(
            self,
            "share offsets: describe every topic",
            &describe(None, &[group]),
        )?;
        ask_describe(
            self,
            "share offsets: describe partitions, one missing, and an unknown group",
            &describe(
                Some(vec![(topic, vec![0, 5]), ("no-such-topic", vec![0])]),
                &[group, "no-such-share-group"],
            ),
        )?;
        self.ask::<_, AlterShareGroupOffsetsResponse>(
            "share offsets: alter",
            ApiKey::AlterShareGroupOffsets,
            0,
            &alter_offsets(group, topic, 1),
        )?;
        self.ask::<_, AlterShareGroupOffsetsResponse>(
            "share offsets: alter an unknown topic",
            ApiKey::AlterShareGroupOffsets,
            0,
            &alter_offsets(group, "no-such-topic", 1),
        )?;
        ask_describe(
            self,
            "share offsets: describe after alter",
            &describe(None, &[group]),
        )?;
        let delete = |t: &str| {
            DeleteShareGroupOffsetsRequest::default()
                .with_group_id(group_id(group))
                .with_topics(vec![
                    delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic_name(t)),
                ])
        };
        self.ask::<_, DeleteShareGroupOffsetsResponse>(
            "share offsets: delete",
            ApiKey::DeleteShareGroupOffsets,
            0,
            &delete(topic),
        )?;
        self.ask::<_, DeleteShareGroupOffsetsResponse>(
            "share offsets: delete an unknown topic",
            ApiKey::DeleteShareGroupOffsets,
            0,
            &delete("no-such-topic"),
        )?;
        ask_describe(
            self,
            "share offsets: describe after delete",
            &describe(None, &[group]),
        )?;
        Ok(())
    }
}
