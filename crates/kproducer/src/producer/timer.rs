//! A wake-up timer precise to a fraction of a millisecond, for the driver's short deadlines.
//!
//! Why: tokio's timer wheel has 1 ms slots and its runtime parks in `epoll_wait`, whose
//! timeout is whole milliseconds, so a tokio sleep ends 0.7–1.8 ms after its deadline
//! (measured here: median 1.1 ms late). A batch that waits out `linger.ms` = 5 went out
//! 6–7 ms after its first record. A thread blocked on a condition variable wakes within about
//! 0.1 ms of its deadline (futex with a nanosecond timeout), then wakes the driver through its
//! `Notify`, which a runtime parked in `epoll_wait` sees at once (an eventfd write).
//!
//! The driver keeps its tokio sleep as well, a little later, as a safety net.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

#[derive(Default)]
struct State {
    deadline: Option<Instant>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// One deadline at a time, kept on its own thread; dropping the timer stops the thread.
pub(crate) struct PreciseTimer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PreciseTimer {
    /// Starts the timer thread; `fire` runs on it each time a deadline passes.
    pub(crate) fn spawn(name: String, fire: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&s, fire))?;
        Ok(PreciseTimer {
            shared,
            thread: Some(thread),
        })
    }

    /// Replaces the deadline. The thread is woken only when the new deadline is earlier than
    /// the one it waits for; for a later one it wakes at the old deadline, sees the new one and
    /// waits again, so moving the deadline out costs no futex call on the caller's side.
    ///
    /// There is no "cancel": a deadline the caller no longer needs fires once, harmlessly (the
    /// driver runs one round for nothing). Cancelling and re-arming on every round would cost a
    /// wake-up of this thread each time, which showed as twice the futex calls.
    pub(crate) fn set(&self, deadline: Instant) {
        let mut st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let earlier = st.deadline.is_none_or(|old| deadline < old);
        st.deadline = Some(deadline);
        drop(st);
        if earlier {
            self.shared.changed.notify_one();
        }
    }
}

fn run(shared: &Shared, fire: impl Fn()) {
    let mut st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if st.stop {
            return;
        }
        match st.deadline {
            None => {
                st = shared
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    st.deadline = None;
                    drop(st);
                    fire();
                    st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                } else {
                    st = shared
                        .changed
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.changed.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn timer() -> (PreciseTimer, mpsc::Receiver<Instant>) {
        let (tx, rx) = mpsc::channel();
        let t = PreciseTimer::spawn("test-timer".into(), move || {
            let _ = tx.send(Instant::now());
        })
        .unwrap();
        (t, rx)
    }

    #[test]
    fn fires_once_not_before_its_deadline() {
        let (t, rx) = timer();
        let deadline = Instant::now() + Duration::from_millis(20);
        t.set(deadline);
        let fired = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(fired >= deadline);
        // Once: the deadline is consumed.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn an_earlier_deadline_replaces_a_later_one_and_a_later_one_postpones() {
        let (t, rx) = timer();
        let far = Instant::now() + Duration::from_secs(3600);
        t.set(far);
        let near = Instant::now() + Duration::from_millis(10);
        t.set(near);
        let fired = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(fired >= near && fired < far);

        // Moved out before it passes: no wake at the first deadline.
        let first = Instant::now() + Duration::from_millis(20);
        t.set(first);
        let second = Instant::now() + Duration::from_millis(200);
        t.set(second);
        let fired = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(fired >= second, "fired {:?} early", second - fired);
    }

    #[test]
    fn drop_stops_the_thread() {
        let (t, rx) = timer();
        t.set(Instant::now() + Duration::from_secs(3600));
        drop(t);
        // The thread (and so the closure holding the sender) is gone, without firing.
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
    }
}
