//! Committed offsets and group membership on disk: the storage's internal log
//! `InternalLog::ConsumerOffsets` (`<data-dir>/meta/consumer_offsets/`), in the record formats of `strikemq_groups::offsets_log`,
//! replayed into the coordinator on start.
//!
//! The log only grows between starts; on start, when it holds many times more records than live
//! offsets and Stable groups, it is rewritten with one record per live offset, one per Stable
//! classic group and one per consumer group and member (`MetaStore::rewrite_log`: a new log beside it, then swapped in by renames), so restarts
//! keep it small.

use std::time::Instant;

use strikemq_groups::offsets_log::{self, OffsetChange};
use strikemq_groups::{ConsumerGroupChange, GroupCoordinator, MembershipChange, ShareChange};
use strikemq_storage::{InternalLog, LogConfig, MetaStore, PartitionLog, StorageError};

const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const COMPACT_MIN_RECORDS: usize = 1000;
const RECORDS_PER_BATCH: usize = 500;

#[derive(Debug)]
pub(crate) struct OffsetsStore {
    log: PartitionLog,
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        ..Default::default()
    }
}

impl OffsetsStore {
    pub(crate) fn open(
        meta: &MetaStore,
        groups: &mut GroupCoordinator,
        now: Instant,
    ) -> Result<OffsetsStore, StorageError> {
        let log = meta.open_log(InternalLog::ConsumerOffsets, log_config())?;
        let records = replay(&log, groups, now)?;
        let live = groups.snapshot();
        let members = groups.membership_snapshot();
        let consumer = groups.consumer_group_snapshot();
        let share = groups.share_snapshot();
        let kept = live.len() + members.len() + consumer.len() + share.len();
        if records > COMPACT_MIN_RECORDS && records > 4 * kept {
            log.close()?;
            drop(log);
            let log = rewrite(meta, &live, &members, &consumer, &share)?;
            tracing::info!(
                records,
                live = live.len(),
                groups = members.len(),
                "compacted the committed offsets log"
            );
            return Ok(OffsetsStore { log });
        }
        Ok(OffsetsStore { log })
    }

    /// Appends changes; returns once they are in the log.
    pub(crate) fn append(&self, changes: &[OffsetChange], now_ms: i64) -> Result<(), StorageError> {
        match offsets_log::encode(changes, now_ms) {
            Some(batch) => self.log.append(&batch).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Appends consumer group (KIP-848) changes; returns once they are in the log.
    pub(crate) fn append_consumer_groups(
        &self,
        changes: &[ConsumerGroupChange],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        match offsets_log::encode_consumer_groups(changes, now_ms) {
            Some(batch) => self.log.append(&batch).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Appends share-partition states; returns once they are in the log.
    pub(crate) fn append_share_partitions(
        &self,
        changes: &[ShareChange],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        match offsets_log::encode_share_partitions(changes, now_ms) {
            Some(batch) => self.log.append(&batch).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Appends membership changes; returns once they are in the log.
    pub(crate) fn append_membership(
        &self,
        changes: &[MembershipChange],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        match offsets_log::encode_membership(changes, now_ms) {
            Some(batch) => self.log.append(&batch).map(|_| ()),
            None => Ok(()),
        }
    }

    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.log.sync()
    }

    pub(crate) fn close(&self) -> Result<(), StorageError> {
        self.log.close()
    }
}

/// Applies every record of the log; returns how many there were.
fn replay(
    log: &PartitionLog,
    groups: &mut GroupCoordinator,
    now: Instant,
) -> Result<usize, StorageError> {
    crate::internal_logs::replay(log, |record| {
        if let Some(change) = offsets_log::decode(&record) {
            groups.apply_offsets(&change.group, [(change.partition, change.offset)], now);
        } else if let Some(change) = offsets_log::decode_membership(&record) {
            groups.restore_membership(&change.group, change.metadata, now);
        } else if let Some(change) = offsets_log::decode_consumer_group(&record) {
            groups.restore_consumer_group(change, now);
        } else if let Some(change) = offsets_log::decode_share_partition(&record) {
            groups.restore_share_partition(&change, now);
        }
    })
}

fn rewrite(
    meta: &MetaStore,
    live: &[OffsetChange],
    members: &[MembershipChange],
    consumer: &[ConsumerGroupChange],
    share: &[ShareChange],
) -> Result<PartitionLog, StorageError> {
    meta.rewrite_log(InternalLog::ConsumerOffsets, log_config(), |log| {
        for chunk in live.chunks(RECORDS_PER_BATCH) {
            if let Some(batch) = offsets_log::encode(chunk, 0) {
                log.append(&batch)?;
            }
        }
        for chunk in members.chunks(RECORDS_PER_BATCH) {
            if let Some(batch) = offsets_log::encode_membership(chunk, 0) {
                log.append(&batch)?;
            }
        }
        for chunk in consumer.chunks(RECORDS_PER_BATCH) {
            if let Some(batch) = offsets_log::encode_consumer_groups(chunk, 0) {
                log.append(&batch)?;
            }
        }
        for chunk in share.chunks(RECORDS_PER_BATCH) {
            if let Some(batch) = offsets_log::encode_share_partitions(chunk, 0) {
                log.append(&batch)?;
            }
        }
        Ok(())
    })
}
