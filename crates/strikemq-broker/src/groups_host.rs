//! The consumer-group coordinator as the broker hosts it: the coordinator behind its lock, the
//! log its offsets and membership are kept in, and the slots where parked JoinGroup and SyncGroup
//! requests wait for their answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use strikemq_groups::{Completion, GroupConfig, GroupCoordinator, OffsetChange};
use strikemq_storage::{MetaStore, StorageError};

use crate::committed_offsets::OffsetsStore;
use crate::group_requests::GroupSlot;
use crate::log_throttle::LogThrottle;

/// The coordinator, its log and its waiting requests.
pub(crate) struct GroupsHost {
    coordinator: Mutex<GroupCoordinator>,
    log: OffsetsStore,
    waiters: Mutex<HashMap<u64, Weak<GroupSlot>>>,
    next_waiter: AtomicU64,
}

impl GroupsHost {
    /// Opens the committed-offsets log and replays it into a new coordinator.
    pub(crate) fn open(meta: &MetaStore, config: GroupConfig) -> Result<GroupsHost, StorageError> {
        let mut coordinator = GroupCoordinator::new(config);
        let log = OffsetsStore::open(meta, &mut coordinator, Instant::now())?;
        Ok(GroupsHost {
            coordinator: Mutex::new(coordinator),
            log,
            waiters: Mutex::new(HashMap::new()),
            next_waiter: AtomicU64::new(1),
        })
    }

    /// Runs `f` on the coordinator, writes the membership changes it made, and hands the answers
    /// it completed to their parked requests. Returns `f`'s result and whether any request was
    /// answered (its holder must be woken).
    pub(crate) fn run<T>(&self, f: impl FnOnce(&mut GroupCoordinator) -> T) -> (T, bool) {
        let mut groups = self.coordinator.lock();
        let out = f(&mut groups);
        self.persist_membership(&mut groups);
        let done = groups.take_completions();
        drop(groups);
        let answered = self.deliver(done);
        (out, answered)
    }

    /// Writes the coordinator's membership changes to the log, under the coordinator's lock so
    /// that they reach the log in the order they happened. A failed write only costs the members
    /// a rejoin after the next restart, so it is logged, not returned.
    fn persist_membership(&self, groups: &mut GroupCoordinator) {
        let changes = groups.take_membership_changes();
        let consumer = groups.take_consumer_group_changes();
        let share = groups.take_share_changes();
        if changes.is_empty() && consumer.is_empty() && share.is_empty() {
            return;
        }
        let now_ms = crate::group_requests::wall_clock_ms();
        let written = self
            .log
            .append_membership(&changes, now_ms)
            .and_then(|()| self.log.append_consumer_groups(&consumer, now_ms))
            .and_then(|()| self.log.append_share_partitions(&share, now_ms));
        if let Err(e) = written {
            static MEMBERSHIP_FAILED: LogThrottle = LogThrottle::new();
            if let Some(suppressed) = MEMBERSHIP_FAILED.allow() {
                tracing::error!(error = %e, suppressed, "writing group membership failed");
            }
        }
    }

    fn deliver(&self, done: Vec<Completion>) -> bool {
        if done.is_empty() {
            return false;
        }
        let mut waiters = self.waiters.lock();
        for c in done {
            let w = match &c {
                Completion::Join(w, _) | Completion::Sync(w, _) => *w,
            };
            match waiters.remove(&w).and_then(|s| s.upgrade()) {
                Some(slot) => slot.fill(c),
                // The connection that asked went away; the member may still rejoin.
                None => tracing::debug!(waiter = w, "answer for a request nobody waits for"),
            }
        }
        true
    }

    /// A slot for a parked request's answer, and the id the coordinator completes it by.
    pub(crate) fn new_waiter(&self) -> (u64, Arc<GroupSlot>) {
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(GroupSlot::default());
        let mut waiters = self.waiters.lock();
        // Drop the entries of requests whose connections went away.
        if waiters.len() > 64 {
            waiters.retain(|_, s| s.strong_count() > 0);
        }
        waiters.insert(id, Arc::downgrade(&slot));
        (id, slot)
    }

    /// Writes offset changes to the log, then applies them to the coordinator.
    pub(crate) fn persist_offsets(
        &self,
        changes: &[OffsetChange],
        now: Instant,
    ) -> Result<(), StorageError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.log
            .append(changes, crate::group_requests::wall_clock_ms())?;
        let mut groups = self.coordinator.lock();
        for change in changes {
            groups.apply_offsets(
                &change.group,
                [(change.partition.clone(), change.offset.clone())],
                now,
            );
        }
        Ok(())
    }

    /// Syncs the log.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.log.sync()
    }

    /// Flushes and closes the log.
    pub(crate) fn close(&self) -> Result<(), StorageError> {
        self.log.close()
    }
}
