//! The thread that applies consumer group deadlines (session and rebalance timeouts, offset
//! expiry). It sleeps until the next deadline the coordinator reports, or until a group request
//! may have moved it; with no groups it sleeps indefinitely.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use strikemq_broker::Broker;

#[derive(Default)]
struct State {
    poke: bool,
    stop: bool,
}

pub(crate) struct GroupTimer {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GroupTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupTimer")
    }
}

impl GroupTimer {
    pub(crate) fn start(broker: Arc<Broker>) -> std::io::Result<GroupTimer> {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let poke = shared.clone();
        broker.set_group_timer(move || {
            poke.0.lock().poke = true;
            poke.1.notify_one();
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("strikemq-groups".into())
            .spawn(move || loop {
                let next = broker.tick_groups(Instant::now());
                let mut st = s.0.lock();
                if st.stop {
                    return;
                }
                if !st.poke {
                    match next {
                        Some(at) => {
                            s.1.wait_until(&mut st, at);
                        }
                        None => s.1.wait(&mut st),
                    }
                }
                st.poke = false;
                if st.stop {
                    return;
                }
            })?;
        Ok(GroupTimer {
            shared,
            thread: Some(thread),
        })
    }

    pub(crate) fn stop(mut self) {
        self.shared.0.lock().stop = true;
        self.shared.1.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
