//! Error lines that could repeat with every request (a full disk fails every append) are written
//! at most once per [`INTERVAL`] per call site, with the number left out since the last one. A
//! log that repeats per request fills the disk it reports on, and says nothing more than one
//! line with a count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const INTERVAL: Duration = Duration::from_secs(10);

/// One call site's throttle: `static APPEND_FAILED: LogThrottle = LogThrottle::new();`.
#[derive(Debug)]
pub(crate) struct LogThrottle {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogThrottle {
    pub(crate) const fn new() -> LogThrottle {
        LogThrottle {
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether to write the line now; `Some(n)`: yes, `n` lines were left out since the last.
    /// Only called on an error path, so reading the clock here costs the hot path nothing.
    pub(crate) fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut last = self.last.lock();
        match *last {
            Some(t) if now.saturating_duration_since(t) < INTERVAL => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let t = LogThrottle::new();
        let start = Instant::now();
        assert_eq!(t.allow_at(start), Some(0));
        for i in 1..=5 {
            assert_eq!(t.allow_at(start + Duration::from_millis(i)), None);
        }
        assert_eq!(t.allow_at(start + INTERVAL), Some(5));
        assert_eq!(t.allow_at(start + INTERVAL + Duration::from_secs(1)), None);
        assert_eq!(t.allow_at(start + INTERVAL * 3), Some(1));
    }
}
