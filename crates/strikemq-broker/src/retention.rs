//! Topic settings that act on the logs: `segment.bytes`, and time and size retention for topics
//! whose `cleanup.policy` includes `delete`.

use std::time::{Duration, Instant};

use strikemq_storage::Topic;

use crate::configs::effective;
use crate::Broker;

fn number(broker: &Broker, topic: &Topic, key: &str) -> Option<i64> {
    effective(broker, topic.configs(), key).and_then(|v| v.parse().ok())
}

/// Applies a topic's `segment.bytes` to its partitions (for segments started from now on).
pub(crate) fn apply_topic_settings(broker: &Broker, topic: &Topic) {
    if let Some(bytes) = number(broker, topic, "segment.bytes") {
        for p in topic.partitions() {
            p.set_segment_bytes(bytes.max(0) as u64);
        }
    }
}

impl Broker {
    /// Deletes the segments retention no longer keeps, in every topic whose cleanup policy
    /// includes `delete`. Returns when the next segment expires, if one will.
    pub fn enforce_retention(&self, now: Instant) -> Option<Instant> {
        let now_ms = crate::group_requests::wall_clock_ms();
        let mut next: Option<i64> = None;
        for topic in self.store().topics() {
            let policy = effective(self, topic.configs(), "cleanup.policy").unwrap_or_default();
            if !policy.split(',').any(|p| p.trim() == "delete") {
                continue;
            }
            let ms = number(self, &topic, "retention.ms").unwrap_or(-1);
            let bytes = number(self, &topic, "retention.bytes").unwrap_or(-1);
            if ms < 0 && bytes < 0 {
                continue;
            }
            for (i, p) in topic.partitions().iter().enumerate() {
                match p.enforce_retention(now_ms, ms, bytes) {
                    Ok((_, expiry)) => {
                        next = match (next, expiry) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        }
                    }
                    Err(e) => {
                        tracing::error!(topic = topic.name(), partition = i, error = %e, "retention failed")
                    }
                }
            }
        }
        next.map(|at| now + Duration::from_millis(at.saturating_sub(now_ms).max(0) as u64))
    }
}
