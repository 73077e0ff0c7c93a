//! When appended data reaches the disk (the flush policy and its timer), and the signal that
//! something was appended, for blocking readers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::FlushPolicy;

/// The flush policy's state.
pub(crate) struct Durability {
    policy: FlushPolicy,
    /// With `FlushPolicy::Interval`: when the next flush is due, if anything is unsynced.
    due: Mutex<Option<Instant>>,
}

impl Durability {
    pub(crate) fn new(policy: FlushPolicy) -> Durability {
        Durability {
            policy,
            due: Mutex::new(None),
        }
    }

    /// After an append: with `FlushPolicy::Interval`, starts the interval if none is running
    /// (`now` is read only then: the other policies cost the produce path no clock read).
    /// Returns whether the flusher must be told (a new interval began).
    pub(crate) fn appended(&self, now: impl FnOnce() -> Instant) -> bool {
        let FlushPolicy::Interval(every) = self.policy else {
            return false;
        };
        let mut due = self.due.lock();
        if due.is_some() {
            return false;
        }
        *due = Some(now() + every);
        true
    }

    /// Whether a flush is due at `now`: if so the interval ends (the caller flushes) and this
    /// returns `Ok(())`; otherwise `Err` carries when the next one is, if any.
    pub(crate) fn take_due(&self, now: Instant) -> Result<(), Option<Instant>> {
        let mut due = self.due.lock();
        match *due {
            Some(at) if at <= now => {
                *due = None;
                Ok(())
            }
            other => Err(other),
        }
    }
}

/// A counter that moves on every append, which blocking readers can wait on. Appends pay for
/// the condition variable only while somebody waits.
#[derive(Default)]
pub(crate) struct AppendSignal {
    sequence: AtomicU64,
    waiters: AtomicUsize,
    signal: (Mutex<()>, Condvar),
}

impl AppendSignal {
    pub(crate) fn notify(&self) {
        // SeqCst pairs with `wait`: either it sees the new sequence or we see it waiting.
        self.sequence.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.signal.0.lock();
            self.signal.1.notify_all();
        }
    }

    /// How many threads wait in [`AppendSignal::wait`].
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }

    pub(crate) fn sequence(&self) -> u64 {
        self.sequence.load(Ordering::Acquire)
    }

    /// Blocks until the sequence moves past `seen` or `deadline` passes.
    pub(crate) fn wait(&self, seen: u64, deadline: Instant) {
        let (lock, cv) = &self.signal;
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock.lock();
        while self.sequence.load(Ordering::SeqCst) == seen {
            if cv.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_interval_starts_at_the_first_append_and_ends_when_taken() {
        let d = Durability::new(FlushPolicy::Interval(Duration::from_millis(10)));
        let t0 = Instant::now();
        assert!(d.appended(|| t0), "the first append arms the flusher");
        assert!(!d.appended(|| t0), "later ones within the interval do not");
        assert_eq!(d.take_due(t0), Err(Some(t0 + Duration::from_millis(10))));
        assert_eq!(d.take_due(t0 + Duration::from_millis(10)), Ok(()));
        assert_eq!(d.take_due(t0 + Duration::from_millis(20)), Err(None));
        assert!(d.appended(|| t0), "a new interval after the flush");
    }

    #[test]
    fn other_policies_never_arm_the_flusher() {
        for p in [FlushPolicy::Never, FlushPolicy::Always] {
            let d = Durability::new(p);
            assert!(!d.appended(|| unreachable!("no clock read without an interval")));
            assert_eq!(d.take_due(Instant::now()), Err(None));
        }
    }

    #[test]
    fn a_waiter_wakes_on_the_next_append() {
        let s = std::sync::Arc::new(AppendSignal::default());
        let seen = s.sequence();
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || s.notify())
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        s.wait(seen, deadline);
        assert!(
            Instant::now() < deadline,
            "woken by the append, not by the deadline"
        );
        writer.join().unwrap();
        assert!(s.sequence() > seen);
    }
}
