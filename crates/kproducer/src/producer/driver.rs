//! The driver: one task per producer, on the producer's network thread (see
//! `spawn_network_thread`), that pumps the sans-IO [`ProducerCore`] and moves bytes, connection
//! events and time in and out. It decides nothing about Kafka: it opens, writes and closes what
//! the core says, feeds back what happened, runs completions (user callbacks) and sleeps until
//! the next event or the core's deadline.
//!
//! [`ProducerCore`]: crate::core::ProducerCore

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::timer::PreciseTimer;
use super::{run_completions_into, Inner};
use crate::core::{ConnId, ProducerCore, Transmit};
use crate::error::ProduceError;
use crate::network::io::{ConnIo, IoEvent};
use crate::network::transport::{ReadHalf, WriteHalf};
use crate::network::{FramePiece, NetworkError, Transport};
use crate::sender::Completion;

/// Largest response we accept; Produce and Metadata answers are far smaller.
const MAX_RESPONSE_SIZE: usize = 64 << 20;
/// Deadlines this close are kept by the [`PreciseTimer`]; later ones by tokio's timer, whose
/// millisecond of slack matters little there.
const PRECISE_WITHIN: Duration = Duration::from_millis(100);
/// How long after a precise deadline tokio's sleep fires anyway (should the timer thread be
/// late, e.g. descheduled).
const PRECISE_BACKUP: Duration = Duration::from_millis(5);
/// How long the way out waits for queued requests (acks=0) to be written.
const SHUTDOWN_WRITES: Duration = Duration::from_secs(5);

/// A connection attempt's outcome.
type Connected = (ConnId, Result<(ReadHalf, WriteHalf), NetworkError>);

/// What reaches the driver besides time.
enum Event {
    Wake,
    Io(IoEvent),
    Connected(ConnId, Result<(ReadHalf, WriteHalf), NetworkError>),
}

/// Fails whatever is left if the driver is dropped before it finished (its runtime shut down):
/// no future or callback may wait forever.
struct ExitGuard(Arc<Inner>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let completions = {
            let mut st = self.0.shared.lock();
            if st.driver_exited {
                return;
            }
            st.driver_exited = true;
            if let Some(txn) = st.txn.as_mut() {
                txn.close();
            }
            st.acc.close();
            self.0.closed.store(true, Ordering::SeqCst);
            let mut c = Vec::new();
            for mut batch in st.acc.abort_all() {
                st.acc.deallocate(&mut batch);
                c.push(Completion {
                    batch,
                    result: Err(ProduceError::Closed),
                });
            }
            c
        };
        // Batches in flight belong to the core, dropped with the driver: a dropped batch
        // resolves its futures with `Closed` (see `ProducerBatch`'s `Drop`).
        super::run_completions(&self.0, completions);
        self.0.wake_all();
    }
}

fn spawn_timer(inner: &Arc<Inner>) -> Option<PreciseTimer> {
    let wake = inner.clone();
    let name = format!("kproducer-timer | {}", inner.config.client_id);
    PreciseTimer::spawn(name, move || wake.wake_driver.notify_one())
        .inspect_err(|e| tracing::warn!(error = %e, "no precise timer thread; using tokio's timer"))
        .ok()
}

struct Driver {
    inner: Arc<Inner>,
    core: ProducerCore,
    transport: Arc<dyn Transport>,
    conns: HashMap<ConnId, ConnIo>,
    connecting: HashMap<ConnId, AbortHandle>,
    events_tx: mpsc::UnboundedSender<IoEvent>,
    connected_tx: mpsc::UnboundedSender<Connected>,
    /// Wakes the driver at near deadlines (`None` if its thread could not start: tokio's timer
    /// alone then, a millisecond less precise).
    timer: Option<PreciseTimer>,
    /// Reused per round: the frame being written, completions, completed batches.
    frame: Vec<FramePiece>,
    completions: Vec<Completion>,
    done: Vec<crate::accumulator::ProducerBatch>,
    /// The network thread's handles into the `metrics` facade, and when to export next.
    #[cfg(feature = "metrics-export")]
    exporter: crate::metrics::export::Exporter,
    #[cfg(feature = "metrics-export")]
    export_due: Instant,
}

pub(crate) async fn run(inner: Arc<Inner>, core: ProducerCore, transport: Arc<dyn Transport>) {
    let _guard = ExitGuard(inner.clone());
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (connected_tx, mut connected) = mpsc::unbounded_channel();
    let mut d = Driver {
        timer: spawn_timer(&inner),
        inner: inner.clone(),
        core,
        transport,
        conns: HashMap::new(),
        connecting: HashMap::new(),
        events_tx,
        connected_tx,
        frame: Vec::new(),
        completions: Vec::new(),
        done: Vec::new(),
        #[cfg(feature = "metrics-export")]
        exporter: crate::metrics::export::Exporter::new(&inner.config.client_id),
        #[cfg(feature = "metrics-export")]
        export_due: Instant::now(),
    };
    d.run(&mut events, &mut connected).await;
    // The final figures (every record delivered or failed by now).
    #[cfg(feature = "metrics-export")]
    d.export_metrics(Instant::now(), true);
    // Write what is queued (acks=0 requests get no answer to wait for), then close.
    for (_, c) in d.conns.drain() {
        c.shutdown(SHUTDOWN_WRITES).await;
    }
    for (_, task) in d.connecting.drain() {
        task.abort();
    }
    {
        let mut st = inner.shared.lock();
        st.driver_exited = true;
        if let Some(txn) = st.txn.as_mut() {
            txn.close();
        }
    }
    inner.wake_all();
}

/// A driver dropped before its core finished (its runtime shut down mid-flight) fails what is
/// left, callbacks included, rather than dropping batches whose callbacks would never run.
impl Drop for Driver {
    fn drop(&mut self) {
        if self.core.is_finished() {
            return;
        }
        self.core.abort();
        self.complete();
    }
}

impl Driver {
    async fn run(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<IoEvent>,
        connected: &mut mpsc::UnboundedReceiver<Connected>,
    ) {
        // One timer, moved only when the wake-up time changes: a new one per loop costs a
        // timer-wheel registration (and its lock) each time.
        let sleep = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(sleep);
        // When the last wait ended: the work since then is the metrics' I/O time.
        let mut woke = Instant::now();
        loop {
            let now = Instant::now();
            self.core.handle_timeout(now);
            self.transmit(now);
            self.complete();
            if self.core.is_finished() {
                return;
            }
            #[cfg(feature = "metrics-export")]
            self.export_metrics(now, false);

            // Sleep until something happens or the core's deadline passes.
            let wake = self.core.poll_timeout();
            // Never sleep unboundedly: a safety net against a missed wake-up.
            let safety = tokio::time::Instant::from(now + Duration::from_secs(1));
            let deadline = sleep.deadline();
            // A near deadline (linger.ms, a retry backoff) goes to the precise timer; tokio's
            // sleep, up to 1.8 ms late, then only backs it up.
            let precise = self
                .timer
                .as_ref()
                .zip(wake)
                .filter(|(_, w)| w.saturating_duration_since(now) <= PRECISE_WITHIN);
            let target = match (precise, wake) {
                (Some((timer, w)), _) => {
                    timer.set(w);
                    tokio::time::Instant::from(w + PRECISE_BACKUP).min(safety)
                }
                (None, Some(w)) => tokio::time::Instant::from(w).min(safety),
                (None, None) => safety,
            };
            if target != deadline {
                sleep.as_mut().reset(target);
            }
            let waiting = Instant::now();
            let event = tokio::select! {
                _ = self.inner.wake_driver.notified() => Event::Wake,
                _ = &mut sleep => Event::Wake,
                Some(e) = events.recv() => Event::Io(e),
                Some((conn, r)) = connected.recv() => Event::Connected(conn, r),
            };
            let was_busy = waiting.saturating_duration_since(woke);
            woke = Instant::now();
            self.core
                .handle_io_wait(woke.saturating_duration_since(waiting), was_busy, woke);
            self.handle(event);
            // Whatever else already arrived joins this round.
            while let Ok(e) = events.try_recv() {
                self.handle(Event::Io(e));
            }
            while let Ok((conn, r)) = connected.try_recv() {
                self.handle(Event::Connected(conn, r));
            }
        }
    }

    fn handle(&mut self, event: Event) {
        let now = Instant::now();
        match event {
            Event::Wake => {}
            Event::Io(IoEvent::Frame(conn, frame)) => self.core.handle_response(conn, frame, now),
            Event::Io(IoEvent::Closed(conn, NetworkError::Authentication(e))) => {
                self.conns.remove(&conn);
                self.core.handle_authentication_failed(conn, e, now);
            }
            Event::Io(IoEvent::Closed(conn, e)) => {
                self.conns.remove(&conn);
                self.core.handle_disconnected(conn, &e.to_string(), now);
            }
            Event::Connected(conn, Ok((read, write))) => {
                if self.connecting.remove(&conn).is_none() {
                    return; // the core gave up on it meanwhile
                }
                let io =
                    ConnIo::start(conn, read, write, MAX_RESPONSE_SIZE, self.events_tx.clone());
                self.conns.insert(conn, io);
                self.core.handle_connected(conn, now);
            }
            Event::Connected(conn, Err(NetworkError::Authentication(e))) => {
                if self.connecting.remove(&conn).is_some() {
                    self.core.handle_authentication_failed(conn, e, now);
                }
            }
            Event::Connected(conn, Err(e)) => {
                if self.connecting.remove(&conn).is_some() {
                    self.core.handle_connect_failed(conn, &e.to_string(), now);
                }
            }
        }
    }

    /// Does what the core asks until it asks nothing more.
    fn transmit(&mut self, now: Instant) {
        while let Some(t) = self.core.poll_transmit(now, &mut self.frame) {
            match t {
                Transmit::Send { conn } => match self.conns.get(&conn) {
                    Some(io) => io.write(self.frame.drain(..)),
                    None => self.frame.clear(), // closed meanwhile: the core hears of it
                },
                Transmit::Connect { conn, addr } => {
                    // The core bounds the set-up (socket.connection.setup.timeout.ms) and says
                    // `Close` when it gives up, which aborts this.
                    let transport = self.transport.clone();
                    let tx = self.connected_tx.clone();
                    let task = tokio::spawn(async move {
                        let r = transport.connect(&addr).await;
                        let _ = tx.send((conn, r));
                    });
                    self.connecting.insert(conn, task.abort_handle());
                }
                Transmit::Close { conn } => {
                    self.conns.remove(&conn);
                    if let Some(task) = self.connecting.remove(&conn) {
                        task.abort();
                    }
                }
            }
        }
    }

    /// Sets the core's metrics in the `metrics` facade's recorder when due (`Producer::
    /// set_metrics_export_interval`), or now if `last`.
    #[cfg(feature = "metrics-export")]
    fn export_metrics(&mut self, now: Instant, last: bool) {
        let every = self
            .inner
            .export_interval_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if !last && (every == 0 || now < self.export_due) {
            return;
        }
        self.export_due = now + Duration::from_millis(every);
        self.inner
            .export_metrics_with(&mut self.exporter, Some(self.core.metrics()), now);
    }

    /// Runs the completions the core decided (user callbacks: outside any lock) and gives the
    /// batches back for reuse; wakes whoever waits.
    fn complete(&mut self) {
        self.core.poll_completions(&mut self.completions);
        if !self.completions.is_empty() {
            run_completions_into(&self.inner, &mut self.completions, &mut self.done);
            self.core.recycle(&mut self.done);
        }
        if self.core.take_signals().metadata_changed {
            self.inner.metadata_changed.notify_waiters();
        }
    }
}
