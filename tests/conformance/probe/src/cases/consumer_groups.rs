//! KIP-848 consumer groups: ConsumerGroupHeartbeat (join, heartbeat, revocation and hand-over
//! between two members, static members, leave) and ConsumerGroupDescribe at every version, the
//! awkward requests Kafka refuses (missing fields, bad regexes, unknown assignors, wrong epochs,
//! unknown members and groups), and how OffsetCommit v9, OffsetFetch v9, ListGroups,
//! DescribeGroups, DeleteGroups and JoinGroup treat a consumer group.

use super::*;
use consumer_group_heartbeat_request::TopicPartitions;

/// A member id as KIP-848 clients make them (a UUID, which the comparison renames).
fn member(n: u128) -> String {
    Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 + n).to_string()
}

fn joining(group: &str, member_id: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(sb(member_id))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| topic_name(t)).collect()))
        .with_topic_partitions(Some(Vec::new()))
}

fn beating(
    group: &str,
    member_id: &str,
    epoch: i32,
    owned: Option<Vec<(Uuid, Vec<i32>)>>,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(sb(member_id))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(owned.map(|o| {
            o.into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(t)
                        .with_partitions(ps)
                })
                .collect()
        }))
}

fn assigned(r: &ConsumerGroupHeartbeatResponse) -> Vec<(Uuid, Vec<i32>)> {
    r.assignment
        .as_ref()
        .map(|a| {
            a.topic_partitions
                .iter()
                .map(|t| (t.topic_id, t.partitions.clone()))
                .collect()
        })
        .unwrap_or_default()
}

impl Probe {
    fn cg_quiet(
        &mut self,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse> {
        self.quiet(ApiKey::ConsumerGroupHeartbeat, req)
    }

    fn cg(
        &mut self,
        case: &str,
        v: i16,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<Option<ConsumerGroupHeartbeatResponse>> {
        self.ask(case, ApiKey::ConsumerGroupHeartbeat, v, req)
    }

    pub(super) fn consumer_groups(&mut self) -> Result<()> {
        let topic = self.n("cg");
        self.create(&topic, 2, &[])?;
        self.wait_ready(&topic, 2)?;
        let tid = self.id_of(&topic);
        let versions = advertised(ApiKey::ConsumerGroupHeartbeat);
        for v in versions.clone() {
            let group = self.n(&format!("cg-v{v}"));
            let (a, b) = (
                member(u128::from(v as u16) * 10 + 1),
                member(u128::from(v as u16) * 10 + 2),
            );

            // Requests refused before the group is looked at.
            let mut no_timeout = joining(&group, &a, &[&topic]);
            no_timeout.rebalance_timeout_ms = -1;
            self.cg("join without a rebalance timeout", v, &no_timeout)?;
            let mut owning = joining(&group, &a, &[&topic]);
            owning.topic_partitions = Some(vec![TopicPartitions::default()
                .with_topic_id(tid)
                .with_partitions(vec![0])]);
            self.cg("join owning partitions", v, &owning)?;
            let mut no_owned = joining(&group, &a, &[&topic]);
            no_owned.topic_partitions = None;
            self.cg("join without its owned partitions", v, &no_owned)?;
            let mut no_subscription = joining(&group, &a, &[]);
            no_subscription.subscribed_topic_names = None;
            self.cg("join without a subscription", v, &no_subscription)?;
            let mut assignor = joining(&group, &a, &[&topic]);
            assignor.server_assignor = Some(sb("sticky"));
            self.cg("join with an assignor that does not exist", v, &assignor)?;
            self.cg("epoch -3", v, &beating(&group, &a, -3, None))?;
            self.cg("empty group id", v, &joining("", &a, &[&topic]))?;
            if v >= 1 {
                self.cg(
                    "join without a member id",
                    v,
                    &joining(&group, "", &[&topic]),
                )?;
                let mut bad_regex = joining(&group, &a, &[]);
                bad_regex.subscribed_topic_names = None;
                bad_regex.subscribed_topic_regex = Some(sb("orders-("));
                self.cg("join with an invalid regex", v, &bad_regex)?;
            }
            self.cg(
                "heartbeat of a group that does not exist",
                v,
                &beating(&self.n("cg-nowhere"), &a, 1, None),
            )?;
            self.cg(
                "leave of a group that does not exist",
                v,
                &beating(&self.n("cg-nowhere"), &a, -1, None),
            )?;

            // One member: every partition at epoch 1.
            let first = self.cg("first member joins", v, &joining(&group, &a, &[&topic]))?;
            let owned_a = first.as_ref().map(assigned).unwrap_or_default();
            let ea = first.as_ref().map_or(0, |r| r.member_epoch);
            self.cg(
                "heartbeat with nothing new",
                v,
                &beating(&group, &a, ea, None),
            )?;
            self.cg(
                "heartbeat reporting what it owns",
                v,
                &beating(&group, &a, ea, Some(owned_a.clone())),
            )?;
            self.cg(
                "epoch ahead of the coordinator's",
                v,
                &beating(&group, &a, 7, None),
            )?;
            self.cg(
                "unknown member",
                v,
                &beating(&group, &member(999), ea, None),
            )?;

            // A second member: the first gives up a partition before the second gets it.
            let joined = self.cg("second member joins", v, &joining(&group, &b, &[&topic]))?;
            let eb = joined.as_ref().map_or(0, |r| r.member_epoch);
            let told = self.cg(
                "first member told to revoke",
                v,
                &beating(&group, &a, ea, Some(owned_a.clone())),
            )?;
            let kept = told.as_ref().map(assigned).unwrap_or_default();
            self.cg(
                "still owning the revoked partition",
                v,
                &beating(&group, &a, ea, Some(owned_a.clone())),
            )?;
            self.cg(
                "second member waits for it",
                v,
                &beating(&group, &b, eb, Some(Vec::new())),
            )?;
            let revoked = self.cg(
                "first member revoked it",
                v,
                &beating(&group, &a, ea, Some(kept.clone())),
            )?;
            let ea2 = revoked.as_ref().map_or(0, |r| r.member_epoch);
            let got = self.cg(
                "second member gets it",
                v,
                &beating(&group, &b, eb, Some(Vec::new())),
            )?;
            let owned_b = got.as_ref().map(assigned).unwrap_or_default();
            self.cg(
                "first member at the previous epoch (a lost answer)",
                v,
                &beating(&group, &a, ea, Some(kept.clone())),
            )?;
            self.cg(
                "first member at the previous epoch owning more",
                v,
                &beating(&group, &a, ea, Some(owned_a.clone())),
            )?;

            // Describe both members, then commit and fetch offsets at the members' epochs.
            for dv in advertised(ApiKey::ConsumerGroupDescribe) {
                let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![
                    group_id(&group),
                    group_id(&self.n("cg-nowhere")),
                    group_id(&self.n("of")),
                ]);
                self.ask::<_, ConsumerGroupDescribeResponse>(
                    &format!("a stable group (from v{v}), unknown and classic groups"),
                    ApiKey::ConsumerGroupDescribe,
                    dv,
                    &req,
                )?;
                let req = ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![group_id(&group)])
                    .with_include_authorized_operations(true);
                self.ask::<_, ConsumerGroupDescribeResponse>(
                    &format!("with authorized operations (from v{v})"),
                    ApiKey::ConsumerGroupDescribe,
                    dv,
                    &req,
                )?;
            }
            self.consumer_offsets(&group, &a, &topic, v)?;

            // Classic requests on a consumer group.
            let req = DescribeGroupsRequest::default().with_groups(vec![group_id(&group)]);
            for dv in [5, 6] {
                self.ask::<_, DescribeGroupsResponse>(
                    &format!("a consumer group (from v{v})"),
                    ApiKey::DescribeGroups,
                    dv,
                    &req,
                )?;
            }
            let req = DeleteGroupsRequest::default().with_groups_names(vec![group_id(&group)]);
            self.ask::<_, DeleteGroupsResponse>(
                &format!("a consumer group with members (from v{v})"),
                ApiKey::DeleteGroups,
                2,
                &req,
            )?;
            let join = join_request(5, &group, "", "consumer", Bytes::from_static(b"meta"));
            self.ask::<_, JoinGroupResponse>(
                &format!("classic join of a consumer group (from v{v})"),
                ApiKey::JoinGroup,
                5,
                &join,
            )?;

            // Leaving: the second member's partitions go back to the first.
            let left = beating(&group, &b, -1, None);
            self.cg("second member leaves", v, &left)?;
            self.cg("heartbeat after leaving", v, &beating(&group, &b, eb, None))?;
            self.cg("leave again", v, &left)?;
            let _ = owned_b;
            self.cg(
                "first member takes the partitions back",
                v,
                &beating(&group, &a, ea2, Some(kept)),
            )?;
            self.cg("last member leaves", v, &beating(&group, &a, -1, None))?;
            let req =
                ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(&group)]);
            self.ask::<_, ConsumerGroupDescribeResponse>(
                &format!("an empty group (from v{v})"),
                ApiKey::ConsumerGroupDescribe,
                advertised(ApiKey::ConsumerGroupDescribe).end().to_owned(),
                &req,
            )?;
        }
        self.static_consumer_members(&topic)?;
        Ok(())
    }

    /// OffsetCommit v9 and OffsetFetch v9 name the member and its epoch.
    fn consumer_offsets(&mut self, group: &str, m: &str, topic: &str, from: i16) -> Result<()> {
        let epoch = {
            let d: ConsumerGroupDescribeResponse = self.quiet(
                ApiKey::ConsumerGroupDescribe,
                &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]),
            )?;
            d.groups
                .first()
                .and_then(|g| g.members.iter().find(|x| x.member_id.as_str() == m))
                .map(|x| x.member_epoch)
                .unwrap_or(-1)
        };
        for (case, id, e) in [
            ("at its epoch", m.to_owned(), epoch),
            ("at a stale epoch", m.to_owned(), epoch - 1),
            ("at a future epoch", m.to_owned(), epoch + 1),
            ("unknown member", member(998), epoch),
            ("admin commit (no member)", String::new(), -1),
        ] {
            let req = offset_commit(9, group, e, &id, topic, &[(0, 5)]);
            self.ask::<_, OffsetCommitResponse>(
                &format!("consumer group member {case} (from v{from})"),
                ApiKey::OffsetCommit,
                9,
                &req,
            )?;
        }
        let old = offset_commit(8, group, epoch, m, topic, &[(0, 5)]);
        self.ask::<_, OffsetCommitResponse>(
            &format!("consumer group member with v8 (from v{from})"),
            ApiKey::OffsetCommit,
            8,
            &old,
        )?;
        use offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
        for (case, id, e) in [
            ("at its epoch", Some(m.to_owned()), epoch),
            ("at a stale epoch", Some(m.to_owned()), epoch - 1),
            ("unknown member", Some(member(998)), epoch),
            ("no member", None, -1),
        ] {
            let req =
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(group))
                    .with_member_id(id.as_deref().map(sb))
                    .with_member_epoch(e)
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(topic_name(topic))
                        .with_partition_indexes(vec![0, 1])]))]);
            self.ask::<_, OffsetFetchResponse>(
                &format!("consumer group member {case} (from v{from})"),
                ApiKey::OffsetFetch,
                9,
                &req,
            )?;
        }
        Ok(())
    }

    /// A static member leaves with epoch -2 and comes back under a new member id.
    fn static_consumer_members(&mut self, topic: &str) -> Result<()> {
        let v = advertised(ApiKey::ConsumerGroupHeartbeat).end().to_owned();
        let group = self.n("cg-static");
        let (a, b) = (member(101), member(102));
        let mut join_a = joining(&group, &a, &[topic]);
        join_a.instance_id = Some(sb("instance-1"));
        self.cg("static member joins", v, &join_a)?;
        let mut join_b = joining(&group, &b, &[topic]);
        join_b.instance_id = Some(sb("instance-1"));
        self.cg("another member with its instance id", v, &join_b)?;
        let mut leave_wrong = beating(&group, &b, -2, None);
        leave_wrong.instance_id = Some(sb("instance-1"));
        self.cg("static leave by another member id", v, &leave_wrong)?;
        let mut leave_no_instance = beating(&group, &a, -2, None);
        leave_no_instance.instance_id = None;
        self.cg("static leave without an instance id", v, &leave_no_instance)?;
        let mut leave = beating(&group, &a, -2, None);
        leave.instance_id = Some(sb("instance-1"));
        self.cg("static member leaves to come back", v, &leave)?;
        let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(&group)]);
        self.ask::<_, ConsumerGroupDescribeResponse>(
            "a static member away",
            ApiKey::ConsumerGroupDescribe,
            v,
            &req,
        )?;
        self.cg("it comes back under a new member id", v, &join_b)?;
        let mut gone = beating(&group, &b, -1, None);
        gone.instance_id = Some(sb("instance-1"));
        self.cg("static member leaves for good", v, &gone)?;
        let _ = self.cg_quiet(&beating(&group, &a, -1, None));
        Ok(())
    }
}
