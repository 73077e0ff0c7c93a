//! Operations for tools other than the Kafka protocol (the REST API), on the same code paths as
//! the Kafka requests: the same validation, the same appends and wake-ups, the same coordinator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use strikemq_codec::ResponseError;
use strikemq_groups::{CommittedOffset, GroupDescription, GroupListing};
use strikemq_storage::Topic;

use crate::errors::KafkaError;
use crate::Broker;

/// A group as listed, with its description where the coordinator has one.
#[derive(Debug, Clone)]
pub struct GroupOverview {
    /// What ListGroups says of it.
    pub listing: GroupListing,
    /// What DescribeGroups says of it.
    pub description: Option<GroupDescription>,
}

impl Broker {
    /// Appends one record batch to a partition as a Produce request would (validation, size limit,
    /// wake-ups). Returns the base offset.
    pub fn produce_batch(
        &self,
        topic: &str,
        partition: i32,
        batch: &[u8],
    ) -> Result<i64, KafkaError> {
        let t = self.store().topic(topic).ok_or_else(|| {
            KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("unknown topic {topic}"),
            )
        })?;
        let (base, _, _) = crate::produce::append(self, &t, partition, batch)
            .and_then(|r| {
                crate::produce::sync_if_always(self, &t, partition)
                    .map(|_| r)
                    .map_err(Into::into)
            })
            .map_err(|r| match r.error.detail {
                Some(_) => r.error,
                None => KafkaError::new(
                    r.error.error,
                    format!("cannot append to {topic}-{partition}: {}", r.error.error),
                ),
            })?;
        self.appended();
        Ok(base)
    }

    /// Creates a topic, as CreateTopics does.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, KafkaError> {
        if i64::from(partitions) + 1 > crate::topics::MAX_RECORDS_PER_REQUEST {
            return Err(KafkaError::new(
                ResponseError::PolicyViolation,
                crate::topics::TOO_MANY_PARTITIONS.to_owned(),
            ));
        }
        let configs = crate::configs::validate_all(&configs)
            .map_err(|m| KafkaError::new(ResponseError::InvalidConfig, m))?;
        let topic = self.store().create_topic(name, partitions, configs)?;
        crate::retention::apply_topic_settings(self, &topic);
        self.retention_changed();
        Ok(topic)
    }

    /// Deletes a topic and its committed offsets, as DeleteTopics does; returns its partition count.
    pub fn delete_topic(&self, name: &str) -> Result<usize, KafkaError> {
        let topic = self.store().delete_topic(name)?;
        drop_committed_offsets(self, name);
        Ok(topic.partition_count())
    }

    /// Every consumer group.
    pub fn list_groups_overview(&self) -> Vec<GroupOverview> {
        self.with_groups(|g| {
            g.list()
                .into_iter()
                .map(|listing| GroupOverview {
                    description: g.describe(&listing.group_id),
                    listing,
                })
                .collect()
        })
    }

    /// One group's members and state.
    pub fn describe_group(&self, group_id: &str) -> Option<GroupDescription> {
        self.with_groups(|g| g.describe(group_id))
    }

    /// One group's committed offsets.
    pub fn committed_offsets(
        &self,
        group_id: &str,
    ) -> Vec<(strikemq_groups::TopicPartition, CommittedOffset)> {
        self.with_groups(|g| g.all_committed(group_id))
    }

    /// Deletes an empty group and its offsets, as DeleteGroups does.
    pub fn delete_group(&self, group_id: &str) -> Result<(), KafkaError> {
        let keys = self
            .with_groups(|g| g.delete(group_id))
            .map_err(|e| KafkaError::new(e, format!("cannot delete group {group_id}: {e:?}")))?;
        let changes: Vec<_> = keys
            .into_iter()
            .map(|partition| strikemq_groups::OffsetChange {
                group: group_id.to_owned(),
                partition,
                offset: None,
            })
            .collect();
        self.persist_offsets(&changes, Instant::now())?;
        Ok(())
    }

    /// A counter that moves on every append; pass it to [`Broker::wait_for_append`].
    pub fn append_sequence(&self) -> u64 {
        self.appends.sequence()
    }

    /// How many blocking readers (REST peeks with a timeout) wait for an append now.
    pub fn append_waiters(&self) -> usize {
        self.appends.waiting()
    }

    /// Blocks the calling thread until something is appended after `seen` or `deadline` passes.
    /// For blocking callers (REST peeks); the Kafka path parks requests instead.
    pub fn wait_for_append(&self, seen: u64, deadline: Instant) {
        self.appends.wait(seen, deadline);
    }
}

/// Kafka drops the committed offsets of a deleted topic.
fn drop_committed_offsets(broker: &Broker, topic: &str) {
    let changes = broker.with_groups(|g| g.remove_topic(topic));
    if let Err(e) = broker.persist_offsets(&changes, std::time::Instant::now()) {
        tracing::error!(topic, error = %e, "cannot record dropped offsets");
    }
}
