//! The callbacks through which the broker tells its host (the binary's threads, or a test) that
//! something it schedules may have changed: parked requests to re-run, group deadlines, retention
//! work, a flush to arm. Each is registered once, at start; until then a poke is a no-op.

use std::sync::OnceLock;

type Listener = Box<dyn Fn() + Send + Sync>;

/// The host's callbacks, each set at most once.
#[derive(Default)]
pub(crate) struct Timers {
    wake_parked: OnceLock<Listener>,
    groups: OnceLock<Listener>,
    retention: OnceLock<Listener>,
    flush: OnceLock<Listener>,
}

impl Timers {
    pub(crate) fn set_waker(&self, f: Listener) {
        let _ = self.wake_parked.set(f);
    }

    pub(crate) fn set_groups(&self, f: Listener) {
        let _ = self.groups.set(f);
    }

    pub(crate) fn set_retention(&self, f: Listener) {
        let _ = self.retention.set(f);
    }

    pub(crate) fn set_flush(&self, f: Listener) {
        let _ = self.flush.set(f);
    }

    /// Parked requests may be answerable now (data appended, a group request completed).
    pub(crate) fn wake_parked(&self) {
        poke(&self.wake_parked);
    }

    /// Group deadlines may have moved.
    pub(crate) fn groups_changed(&self) {
        poke(&self.groups);
    }

    /// Retention or compaction may have new work (a roll, a topic config change).
    pub(crate) fn retention_changed(&self) {
        poke(&self.retention);
    }

    /// Data became unsynced: the flusher should arm its timer.
    pub(crate) fn flush_armed(&self) {
        poke(&self.flush);
    }
}

fn poke(listener: &OnceLock<Listener>) {
    if let Some(f) = listener.get() {
        f();
    }
}
