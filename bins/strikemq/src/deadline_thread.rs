//! A thread that runs a task at the deadlines the task itself reports: consumer group timeouts,
//! retention. It sleeps until the next deadline, or until poked because a deadline may have
//! moved; with no deadline it sleeps until poked. Nothing runs on a fixed tick.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
struct State {
    poke: bool,
    stop: bool,
}

pub(crate) struct DeadlineThread {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DeadlineThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeadlineThread")
    }
}

impl DeadlineThread {
    /// Starts `task`, handing `register` the function that pokes the thread.
    pub(crate) fn start(
        name: &str,
        register: impl FnOnce(Box<dyn Fn() + Send + Sync>),
        task: impl Fn(Instant) -> Option<Instant> + Send + 'static,
    ) -> std::io::Result<DeadlineThread> {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let poke = shared.clone();
        register(Box::new(move || {
            poke.0.lock().poke = true;
            poke.1.notify_one();
        }));
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || loop {
                let next = task(Instant::now());
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
        Ok(DeadlineThread {
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
