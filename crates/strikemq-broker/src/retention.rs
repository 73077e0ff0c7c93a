//! Topic settings that act on the logs: `segment.bytes` and `segment.ms`, time and size retention for topics whose
//! `cleanup.policy` includes `delete`, and compaction for those whose policy includes `compact`.

use std::time::{Duration, Instant};

use strikemq_storage::{CompactionPolicy, Topic};

use crate::configs::effective;
use crate::Broker;

fn number(broker: &Broker, topic: &Topic, key: &str) -> Option<i64> {
    effective(broker, topic.configs(), key).and_then(|v| v.parse().ok())
}

/// Applies a topic's `segment.bytes` to its partitions (for segments started from now on).
pub(crate) fn apply_topic_settings(broker: &Broker, topic: &Topic) {
    if let Some(bytes) = number(broker, topic, "segment.bytes") {
        topic.set_segment_bytes(bytes.max(0) as u64);
    }
    if let Some(ms) = number(broker, topic, "segment.ms") {
        topic.set_segment_ms(ms);
    }
}

impl Broker {
    /// Applies retention and compaction to every topic as its cleanup policy says: deletes the
    /// segments retention no longer keeps, compacts closed segments of compacted topics. Returns
    /// when there will be more to do, if ever.
    pub fn clean_logs(&self, now: Instant) -> Option<Instant> {
        let now_ms = crate::group_requests::wall_clock_ms();
        let check_now = now >= *self.next_retention_check.lock();
        let mut retention_work = false;
        let mut retention_expiry: Option<i64> = None;
        let mut next: Option<i64> = None;
        let mut due = |at: Option<i64>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        for topic in self.store().topics() {
            let policy = effective(self, topic.configs(), "cleanup.policy").unwrap_or_default();
            let has = |p: &str| policy.split(',').any(|x| x.trim() == p);
            if has("compact") {
                let compaction = CompactionPolicy {
                    min_lag_ms: number(self, &topic, "min.compaction.lag.ms").unwrap_or(0),
                    delete_retention_ms: number(self, &topic, "delete.retention.ms").unwrap_or(0),
                };
                for (i, p) in topic.partitions().enumerate() {
                    match p.and_then(|p| p.compact(now_ms, compaction)) {
                        Ok(r) => due(r.next_due_ms),
                        Err(e) => {
                            tracing::error!(topic = topic.name(), partition = i, error = %e, "compaction failed")
                        }
                    }
                }
            }
            if !has("delete") {
                continue;
            }
            let ms = number(self, &topic, "retention.ms").unwrap_or(-1);
            let bytes = number(self, &topic, "retention.bytes").unwrap_or(-1);
            if ms < 0 && bytes < 0 {
                continue;
            }
            if !check_now {
                // Not a check yet: come back at the check if this topic may have work then.
                retention_work = true;
                continue;
            }
            // Opens every partition: retention holds for logs nobody has read since the start.
            for (i, p) in topic.partitions().enumerate() {
                match p.and_then(|p| p.enforce_retention(now_ms, ms, bytes)) {
                    Ok((_, expiry)) => {
                        if let Some(at) = expiry {
                            retention_expiry =
                                Some(retention_expiry.map_or(at, |e: i64| e.min(at)));
                        }
                        // A size limit can be crossed by any append: keep checking.
                        if bytes >= 0 {
                            retention_work = true;
                        }
                    }
                    Err(e) => {
                        tracing::error!(topic = topic.name(), partition = i, error = %e, "retention failed")
                    }
                }
            }
        }
        let at = |ms: i64| now + Duration::from_millis(ms.saturating_sub(now_ms).max(0) as u64);
        // Retention runs on Kafka's cadence: at the next check, or later when nothing expires
        // before then (appends and config changes call this again and reschedule).
        let next_check = {
            let mut next_check = self.next_retention_check.lock();
            if check_now {
                *next_check = now + self.config().retention_check_interval;
            }
            *next_check
        };
        let retention_due = if check_now {
            match (retention_work, retention_expiry) {
                (true, _) => Some(next_check),
                (false, Some(e)) => Some(next_check.max(at(e))),
                (false, None) => None,
            }
        } else if retention_work {
            Some(next_check)
        } else {
            None
        };
        [next.map(at), retention_due].into_iter().flatten().min()
    }
}
