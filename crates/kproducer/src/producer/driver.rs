//! The background driver: one task per producer, on the producer's network thread (see
//! `spawn_network_thread`), that pumps the sans-IO [`Sender`] and
//! [`Metadata`] and moves bytes. It decides nothing itself: it asks `Sender::poll(now)` what to
//! do, does it, feeds answers back, and sleeps until the next event or deadline.
//!
//! [`Sender`]: crate::sender::Sender
//! [`Metadata`]: crate::metadata::Metadata

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, MetadataResponse, ProduceResponse,
    ProducerId,
};
use kafka_protocol::protocol::HeaderVersion;
use tokio::sync::mpsc;

use super::timer::PreciseTimer;
use super::{run_completions, run_completions_into, Inner};
use crate::accumulator::BatchAck;
use crate::accumulator::ProducerBatch;
use crate::error::ProduceError;
use crate::network::produce_ack::{decode_produce_acks, AckDecode, PartitionAck};
use crate::network::{decode_response, Connection, ConnectionConfig, NetworkError, ProduceReply};
use crate::sender::{Completion, OutgoingRequest, SenderOutput};

/// Produce versions we speak: v3 (record batch v2) up to v12 (v13 switches to topic ids).
const PRODUCE_VERSIONS: (i16, i16) = (3, 12);
/// Metadata versions we speak.
const METADATA_VERSIONS: (i16, i16) = (1, 12);
/// InitProducerId versions we speak; v3+ can bump an epoch (KIP-360).
const INIT_PRODUCER_ID_VERSIONS: (i16, i16) = (0, 5);
/// Produce frame heads are a few dozen bytes: this many serve ~100 requests between
/// reuses of the buffer.
const FRAME_SCRATCH: usize = 8 * 1024;
/// Largest response we accept; Produce and Metadata answers are far smaller.
const MAX_RESPONSE_SIZE: usize = 64 << 20;
/// Deadlines this close are kept by the [`PreciseTimer`]; later ones by tokio's timer, whose
/// millisecond of slack matters little there.
const PRECISE_WITHIN: Duration = Duration::from_millis(100);
/// How long after a precise deadline tokio's sleep fires anyway (should the timer thread be
/// late, e.g. descheduled).
const PRECISE_BACKUP: Duration = Duration::from_millis(5);

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What wakes the driver.
enum Event {
    Wake,
    /// A Produce answer frame (or the connection's end) for request `id`, at `version`.
    Response(u64, Arc<str>, Result<Bytes, NetworkError>, i16),
    Connected(String, Result<Connection, NetworkError>),
    Metadata(String, Result<MetadataResponse, NetworkError>),
    InitProducerId(String, Result<InitProducerIdResponse, NetworkError>),
}

struct Driver {
    inner: Arc<Inner>,
    conn_cfg: ConnectionConfig,
    /// Open connections by `host:port`.
    conns: HashMap<String, Connection>,
    connecting: HashSet<String>,
    /// Reconnect backoff per address: not before, and consecutive failures.
    backoff: HashMap<String, (Instant, u32)>,
    connects: FuturesUnordered<BoxFut<(String, Result<Connection, NetworkError>)>>,
    /// Every connection sends its Produce answers here (no future per request).
    produce_tx: mpsc::UnboundedSender<ProduceReply>,
    produce_rx: mpsc::UnboundedReceiver<ProduceReply>,
    metadata_req: Option<BoxFut<(String, Result<MetadataResponse, NetworkError>)>>,
    init_req: Option<BoxFut<(String, Result<InitProducerIdResponse, NetworkError>)>>,
    bootstrap_next: usize,
    /// Produce answers received, handled at the next round's poll.
    answers: Vec<(u64, Answer)>,
    /// The partitions of the `Answer::Acks` in `answers`.
    acks: Vec<PartitionAck>,
    /// Broker addresses by node id, for the current metadata snapshot.
    addrs: NodeAddrs,
    /// Wakes the driver at near deadlines (`None` if its thread could not start: tokio's
    /// timer alone then, a millisecond less precise).
    timer: Option<PreciseTimer>,
    /// The round's scratch, kept so rounds allocate nothing: the sender's output, the
    /// completions, the requests whose batches are closed outside the lock.
    out: SenderOutput,
    completions: Vec<Completion>,
    deferred: Vec<(u64, Vec<ProducerBatch>)>,
    /// Batches completed this round, handed back to the accumulator for reuse next round.
    done: Vec<ProducerBatch>,
    /// Produce frames are encoded into this buffer, reused once its earlier frames are written.
    frame_scratch: bytes::BytesMut,
    /// A Produce frame's pieces on their way to the connection.
    frame_pieces: Vec<crate::network::FramePiece>,
    /// Parts vectors of the requests written this round (see `SenderOutput::spare_parts`).
    spare_parts: Vec<Vec<crate::sender::RequestPart>>,
}

/// `host:port` per node id, rebuilt only when the metadata snapshot changes (formatting them
/// on every round showed in profiles).
#[derive(Default)]
struct NodeAddrs {
    snapshot: Option<Arc<crate::metadata::Cluster>>,
    by_node: HashMap<i32, String>,
}

impl NodeAddrs {
    fn refresh(&mut self, cluster: &Arc<crate::metadata::Cluster>) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, cluster))
        {
            return;
        }
        self.by_node = cluster
            .brokers
            .iter()
            .map(|(id, b)| (*id, b.addr()))
            .collect();
        self.snapshot = Some(cluster.clone());
    }

    fn get(&self, node: i32) -> Option<&str> {
        self.by_node.get(&node).map(String::as_str)
    }
}

/// Fails whatever is left if the driver is dropped before it finished (its runtime shut
/// down): no future or callback may wait forever.
struct ExitGuard(Arc<Inner>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let completions = {
            let mut guard = self.0.lock();
            if guard.driver_exited {
                return;
            }
            let core = &mut *guard;
            core.driver_exited = true;
            core.acc.close();
            self.0
                .closed
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let mut c = core.sender.abort_all(&mut core.acc, ProduceError::Closed);
            for mut batch in core.acc.abort_all() {
                core.acc.deallocate(&mut batch);
                c.push(Completion {
                    batch,
                    result: Err(ProduceError::Closed),
                });
            }
            c
        };
        run_completions(&self.0, completions);
        self.0.progress.notify_waiters();
        self.0.metadata_changed.notify_waiters();
        self.0.memory_freed.notify_waiters();
    }
}

fn spawn_timer(inner: &Arc<Inner>) -> Option<PreciseTimer> {
    let wake = inner.clone();
    let name = format!("kproducer-timer | {}", inner.config.client_id);
    PreciseTimer::spawn(name, move || wake.wake_driver.notify_one())
        .inspect_err(|e| tracing::warn!(error = %e, "no precise timer thread; using tokio's timer"))
        .ok()
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let _guard = ExitGuard(inner.clone());
    let cfg = &inner.config;
    let conn_cfg = ConnectionConfig {
        client_id: cfg.client_id.clone(),
        connect_timeout: cfg.socket_connection_setup_timeout,
        send_buffer_bytes: cfg.send_buffer_bytes,
        receive_buffer_bytes: cfg.receive_buffer_bytes,
        max_response_size: MAX_RESPONSE_SIZE,
    };
    let (produce_tx, produce_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut d = Driver {
        inner: inner.clone(),
        conn_cfg,
        conns: HashMap::new(),
        connecting: HashSet::new(),
        backoff: HashMap::new(),
        connects: FuturesUnordered::new(),
        produce_tx,
        produce_rx,
        metadata_req: None,
        init_req: None,
        bootstrap_next: 0,
        answers: Vec::new(),
        acks: Vec::new(),
        addrs: NodeAddrs::default(),
        timer: spawn_timer(&inner),
        out: SenderOutput::default(),
        completions: Vec::new(),
        deferred: Vec::new(),
        done: Vec::new(),
        frame_scratch: bytes::BytesMut::with_capacity(FRAME_SCRATCH),
        frame_pieces: Vec::new(),
        spare_parts: Vec::new(),
    };
    d.run().await;
    // Write what is queued (acks=0 requests get no answer to wait for), then close.
    for c in d.conns.values() {
        c.shutdown(Duration::from_secs(5)).await;
    }
    inner.lock().driver_exited = true;
    inner.progress.notify_waiters();
    inner.metadata_changed.notify_waiters();
    inner.memory_freed.notify_waiters();
}

impl Driver {
    async fn run(&mut self) {
        // One timer, moved only when the wake-up time changes: a new one per loop costs a
        // timer-wheel registration (and its lock) each time.
        let sleep = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(sleep);
        loop {
            let now = Instant::now();
            // The round's vectors are the driver's, reused: nothing allocated per round.
            let mut out = std::mem::take(&mut self.out);
            let mut completions = std::mem::take(&mut self.completions);
            let mut deferred = std::mem::take(&mut self.deferred);
            let (exit, meta_due, meta_next) = {
                let mut guard = self.inner.lock();
                let core = &mut *guard;
                // Batches completed last round serve as new ones.
                core.acc.recycle(&mut self.done);
                // Answers that arrived since the last round, under the same lock as the poll.
                answer_into(
                    &mut self.answers,
                    &mut self.acks,
                    core,
                    now,
                    &mut completions,
                );
                if core.abort {
                    completions.extend(core.sender.abort_all(&mut core.acc, ProduceError::Closed));
                    for mut batch in core.acc.abort_all() {
                        core.acc.deallocate(&mut batch);
                        completions.push(Completion {
                            batch,
                            result: Err(ProduceError::Closed),
                        });
                    }
                }
                self.addrs.refresh(core.metadata.cluster());
                let addrs = &self.addrs;
                let conns = &self.conns;
                let is_connected =
                    |node: i32| addrs.get(node).is_some_and(|a| conns.contains_key(a));
                core.sender.poll_into(
                    &mut core.acc,
                    &mut core.metadata,
                    &is_connected,
                    now,
                    &mut out,
                );
                // Batches to compress and checksum once the lock is released.
                for r in out.requests.iter().filter(|r| r.deferred) {
                    deferred.push((r.id, core.sender.take_deferred(r.id)));
                }
                let exit = core.acc.is_closed()
                    && core.acc.incomplete_batches() == 0
                    && core.sender.in_flight_requests() == 0;
                let wants_metadata = core.metadata.has_topics();
                let meta_due = wants_metadata && core.metadata.update_due(now);
                let meta_next = wants_metadata.then(|| core.metadata.next_update(now));
                (exit, meta_due, meta_next)
            };
            self.close_deferred(&mut out.requests, &mut deferred, now);
            self.deferred = deferred;
            completions.append(&mut out.completions);
            run_completions_into(&self.inner, &mut completions, &mut self.done);
            self.completions = completions;

            for node in &out.disconnect {
                if let Some(c) = self.addrs.get(*node).and_then(|a| self.conns.remove(a)) {
                    c.close();
                }
            }
            for req in out.requests.drain(..) {
                self.write(req, now);
            }
            // Written requests' parts vectors, for the sender's next requests.
            out.spare_parts.append(&mut self.spare_parts);
            for node in &out.connect {
                if let Some(a) = self.addrs.get(*node).map(str::to_string) {
                    self.start_connect(a, now);
                }
            }
            if meta_due && self.metadata_req.is_none() {
                self.send_metadata(now);
            }
            if let Some(req) = out.init_producer_id.take() {
                self.send_init_producer_id(req, now);
            }
            let next_wakeup = out.next_wakeup;
            self.out = out;
            if exit {
                return;
            }

            // Sleep until something happens or a deadline passes.
            let mut wake = next_wakeup;
            if self.metadata_req.is_none() {
                if let Some(t) = meta_next {
                    wake = Some(wake.map_or(t, |w| w.min(t)));
                }
            }
            for (until, _) in self.backoff.values() {
                if *until > now {
                    wake = Some(wake.map_or(*until, |w| w.min(*until)));
                }
            }
            // Never sleep unboundedly: a safety net against a missed wake-up (any deadline
            // within the next second serves).
            let safety = tokio::time::Instant::from(now + Duration::from_secs(1));
            let deadline = sleep.deadline();
            // A near deadline (linger.ms, a retry backoff) goes to the precise timer; tokio's
            // sleep, up to 1.8 ms late, then only backs it up.
            let precise = self
                .timer
                .as_ref()
                .and(wake)
                .filter(|w| *w > now && *w - now <= PRECISE_WITHIN);
            if let (Some(t), Some(p)) = (&self.timer, precise) {
                t.set(p);
            }
            match wake {
                Some(w) => {
                    let w = match precise {
                        Some(p) => p + PRECISE_BACKUP,
                        None => w.max(now),
                    };
                    let w = tokio::time::Instant::from(w);
                    if deadline != w {
                        sleep.as_mut().reset(w);
                    }
                }
                None if deadline <= tokio::time::Instant::from(now) || deadline > safety => {
                    sleep.as_mut().reset(safety)
                }
                None => {}
            }
            let event = {
                let metadata_req = &mut self.metadata_req;
                let has_meta = metadata_req.is_some();
                let init_req = &mut self.init_req;
                let has_init = init_req.is_some();
                tokio::select! {
                    _ = self.inner.wake_driver.notified() => Event::Wake,
                    _ = &mut sleep => Event::Wake,
                    Some((id, addr, r, version)) = self.produce_rx.recv() => Event::Response(id, addr, r, version),
                    Some((addr, r)) = self.connects.next(), if !self.connects.is_empty() => Event::Connected(addr, r),
                    (addr, r) = async { match metadata_req.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if has_meta => Event::Metadata(addr, r),
                    (addr, r) = async { match init_req.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if has_init => Event::InitProducerId(addr, r),
                }
            };
            self.handle(event);
            // Every other answer already here joins this round (one lock for all of them).
            while let Ok((id, addr, r, version)) = self.produce_rx.try_recv() {
                self.handle(Event::Response(id, addr, r, version));
            }
        }
    }

    fn handle(&mut self, event: Event) {
        let now = Instant::now();
        if !matches!(event, Event::Response(_, _, Ok(_), _) | Event::Wake) {
            // Answers already received go first: a connection failure must not retry a
            // request whose answer is in hand.
            self.handle_answers(now);
        }
        match event {
            Event::Wake => {}
            // Handled at the top of the next round, with the poll, under one lock.
            Event::Response(id, addr, Ok(frame), version) => match self.read_answer(frame, version)
            {
                Ok(answer) => self.answers.push((id, answer)),
                Err(e) => self.response_failed(id, &addr, e, now),
            },
            Event::Response(id, addr, Err(e), _) => self.response_failed(id, &addr, e, now),
            Event::Connected(addr, Ok(conn)) => {
                self.connecting.remove(&addr);
                self.backoff.remove(&addr);
                tracing::debug!(%addr, "connected");
                self.conns.insert(addr, conn);
            }
            Event::Connected(addr, Err(e)) => {
                self.connecting.remove(&addr);
                let failures = self.backoff.get(&addr).map_or(0, |b| b.1) + 1;
                let cfg = &self.inner.config;
                let base = cfg.reconnect_backoff.as_secs_f64();
                let max = cfg.reconnect_backoff_max.as_secs_f64().max(base);
                let delay = (base * 2f64.powi(failures.min(20) as i32 - 1)).min(max);
                self.backoff.insert(
                    addr.clone(),
                    (now + Duration::from_secs_f64(delay), failures),
                );
                tracing::debug!(%addr, error = %e, "connection failed");
                let mut core = self.inner.lock();
                core.last_error = Some(e.to_string());
                core.metadata.request_update();
            }
            Event::InitProducerId(addr, r) => {
                self.init_req = None;
                match r {
                    Ok(resp) => {
                        if let Some(code) =
                            crate::protocol::errors::ErrorCode::from_i16(resp.error_code)
                        {
                            tracing::debug!(%addr, %code, "InitProducerId answered with an error");
                        }
                        self.inner
                            .lock()
                            .sender
                            .handle_init_producer_id(Some(&resp), now);
                    }
                    Err(e) => {
                        self.drop_connection(&addr, &e.to_string(), now);
                        let mut core = self.inner.lock();
                        core.sender.handle_init_producer_id(None, now);
                        core.last_error = Some(e.to_string());
                    }
                }
            }
            Event::Metadata(addr, r) => {
                self.metadata_req = None;
                match r {
                    Ok(resp) => {
                        let mut core = self.inner.lock();
                        core.metadata.handle_response(&resp, now);
                        core.last_error = None;
                    }
                    Err(e) => {
                        self.drop_connection(&addr, &e.to_string(), now);
                        let mut core = self.inner.lock();
                        core.metadata.handle_failure(now);
                        core.last_error = Some(e.to_string());
                    }
                }
                self.inner.metadata_changed.notify_waiters();
            }
        }
    }

    /// Compresses and checksums the batches of `deferred` requests without the producer's lock
    /// (appends go on meanwhile), builds those requests, then hands the batches back to the
    /// sender, before anything else can touch them.
    fn close_deferred(
        &mut self,
        requests: &mut [OutgoingRequest],
        deferred: &mut Vec<(u64, Vec<ProducerBatch>)>,
        now: Instant,
    ) {
        if deferred.is_empty() {
            return;
        }
        for (id, batches) in deferred.iter_mut() {
            for b in batches.iter_mut() {
                b.run_deferred_close();
            }
            if let Some(r) = requests.iter_mut().find(|r| r.id == *id) {
                r.fill_parts(batches);
            }
        }
        let mut guard = self.inner.lock();
        let core = &mut *guard;
        for (id, batches) in deferred.drain(..) {
            core.sender
                .restore_deferred(id, batches, &mut core.acc, now);
        }
    }

    /// A Produce request got no usable answer: the connection is unusable, so it is dropped
    /// and every request in flight on it is retried.
    fn response_failed(&mut self, id: u64, addr: &str, e: NetworkError, now: Instant) {
        self.drop_connection(addr, &e.to_string(), now);
        let completions = {
            let mut guard = self.inner.lock();
            let core = &mut *guard;
            core.sender
                .handle_failure(id, &e.to_string(), &mut core.acc, &mut core.metadata, now)
        };
        run_completions(&self.inner, completions);
    }

    /// Reads a Produce answer frame: when every partition succeeded, only the acks, into
    /// `self.acks` (no allocation); else the whole response, which error handling reads.
    fn read_answer(&mut self, frame: Bytes, version: i16) -> Result<Answer, NetworkError> {
        let start = self.acks.len();
        match decode_produce_acks(&frame, version, &mut self.acks) {
            Ok(AckDecode::AllAcked) => {
                let end = self.acks.len();
                return Ok(Answer::Acks {
                    frame,
                    acks: start..end,
                });
            }
            Ok(AckDecode::HasErrors) => self.acks.truncate(start),
            Err(reason) => {
                self.acks.truncate(start);
                // The full decoder names the problem as before (or reads what we don't).
                tracing::debug!(%reason, "Produce answer not read by the fast path");
            }
        }
        decode_response::<ProduceResponse>(
            frame,
            ApiKey::Produce as i16,
            version,
            ProduceResponse::header_version(version),
        )
        .map(|r| Answer::Full(Box::new(r)))
    }

    /// Handles the Produce answers received so far (outside the round's poll).
    fn handle_answers(&mut self, now: Instant) {
        if self.answers.is_empty() {
            return;
        }
        let completions = answer(
            &mut self.answers,
            &mut self.acks,
            &mut self.inner.lock(),
            now,
        );
        run_completions(&self.inner, completions);
    }

    fn drop_connection(&mut self, addr: &str, reason: &str, now: Instant) {
        self.handle_answers(now);
        let Some(conn) = self.conns.remove(addr) else {
            return;
        };
        conn.close();
        let completions = {
            let mut guard = self.inner.lock();
            let core = &mut *guard;
            let node = core
                .metadata
                .cluster()
                .brokers
                .values()
                .find(|b| b.addr() == addr)
                .map(|b| b.node_id);
            core.last_error = Some(format!("connection to {addr} lost: {reason}"));
            match node {
                Some(n) => {
                    core.sender
                        .handle_disconnect(n, reason, &mut core.acc, &mut core.metadata, now)
                }
                None => Vec::new(),
            }
        };
        run_completions(&self.inner, completions);
    }

    fn start_connect(&mut self, addr: String, now: Instant) {
        if self.conns.contains_key(&addr) || self.connecting.contains(&addr) {
            return;
        }
        if self
            .backoff
            .get(&addr)
            .is_some_and(|(until, _)| *until > now)
        {
            return;
        }
        self.connecting.insert(addr.clone());
        let cfg = self.conn_cfg.clone();
        self.connects.push(Box::pin(async move {
            let r = Connection::connect(&addr, &cfg).await;
            (addr, r)
        }));
    }

    fn write(&mut self, req: OutgoingRequest, now: Instant) {
        let conn = self
            .addrs
            .get(req.node)
            .and_then(|a| self.conns.get(a))
            .cloned();
        let Some(conn) = conn else {
            self.fail_request(req.id, "no connection to the leader", now);
            return;
        };
        let addr = conn.addr_shared();
        let Some(version) = conn.api_versions().highest_common(
            ApiKey::Produce as i16,
            PRODUCE_VERSIONS.0,
            PRODUCE_VERSIONS.1,
        ) else {
            self.fail_request_fatal(
                req.id,
                ProduceError::Protocol(format!(
                    "broker at {addr} supports no Produce version in {}..={}",
                    PRODUCE_VERSIONS.0, PRODUCE_VERSIONS.1
                )),
            );
            return;
        };
        let sent = conn.send_produce_parts(
            req.acks,
            req.timeout_ms,
            &req.parts,
            version,
            &mut self.frame_scratch,
            &mut self.frame_pieces,
            req.id,
            &self.produce_tx,
        );
        self.give_back_parts(req.parts);
        match sent {
            Ok(()) => {}
            Err(e) if req.expects_response => {
                self.drop_connection(&addr, &e.to_string(), now);
                self.fail_request(req.id, &e.to_string(), now);
            }
            // acks=0: the batches are already complete; nothing can be retried (Java's semantics).
            Err(e) => self.drop_connection(&addr, &e.to_string(), now),
        }
    }

    /// Keeps a written request's parts vector for the sender's next requests (bounded).
    fn give_back_parts(&mut self, mut parts: Vec<crate::sender::RequestPart>) {
        if parts.capacity() > 0 && self.spare_parts.len() < 64 {
            parts.clear();
            self.spare_parts.push(parts);
        }
    }

    fn fail_request(&mut self, id: u64, reason: &str, now: Instant) {
        let completions = {
            let mut guard = self.inner.lock();
            let core = &mut *guard;
            core.sender
                .handle_failure(id, reason, &mut core.acc, &mut core.metadata, now)
        };
        run_completions(&self.inner, completions);
    }

    fn fail_request_fatal(&mut self, id: u64, err: ProduceError) {
        let completions = {
            let mut guard = self.inner.lock();
            let core = &mut *guard;
            core.sender.fail_request(id, err, &mut core.acc)
        };
        run_completions(&self.inner, completions);
    }

    /// Sends InitProducerId on the least busy open connection (none open: it is asked again once
    /// metadata has connected us).
    fn send_init_producer_id(&mut self, mut req: InitProducerIdRequest, now: Instant) {
        let conn = self.least_busy();
        let fail = |d: &mut Self, reason: String| {
            let mut core = d.inner.lock();
            core.sender.handle_init_producer_id(None, now);
            core.last_error = Some(reason);
        };
        let Some(conn) = conn else {
            let mut core = self.inner.lock();
            core.sender.handle_init_producer_id(None, now);
            core.metadata.request_update();
            return;
        };
        let addr = conn.addr().to_string();
        let Some(version) = conn.api_versions().highest_common(
            ApiKey::InitProducerId as i16,
            INIT_PRODUCER_ID_VERSIONS.0,
            INIT_PRODUCER_ID_VERSIONS.1,
        ) else {
            self.inner
                .lock()
                .sender
                .idempotence_unavailable(ProduceError::Protocol(format!(
                    "broker at {addr} does not support InitProducerId, needed by the idempotent producer: set enable.idempotence=false"
                )));
            return;
        };
        if version < 3 {
            // Older brokers can't bump an epoch: ask for a fresh producer id instead.
            req = req.with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
        }
        let timeout = self.inner.config.request_timeout;
        match conn.send(&req, version) {
            Ok(pending) => {
                self.init_req = Some(Box::pin(async move {
                    (addr, within(timeout, "InitProducerId", pending).await)
                }));
            }
            Err(e) => fail(self, e.to_string()),
        }
    }

    /// The open connection with the fewest requests in flight (for Metadata and InitProducerId,
    /// which any broker answers).
    fn least_busy(&self) -> Option<Connection> {
        self.conns
            .values()
            .filter(|c| !c.is_closed())
            .min_by_key(|c| c.in_flight())
            .cloned()
    }

    /// Sends a Metadata request on the least busy open connection, or connects to a bootstrap
    /// server (rotating) when none is open.
    fn send_metadata(&mut self, now: Instant) {
        let conn = self.least_busy();
        let Some(conn) = conn else {
            let servers = &self.inner.config.bootstrap_servers;
            if servers.is_empty() || !self.connecting.is_empty() {
                return;
            }
            // Try each bootstrap server in turn, skipping those in backoff.
            for i in 0..servers.len() {
                let addr = servers[(self.bootstrap_next + i) % servers.len()].clone();
                if self
                    .backoff
                    .get(&addr)
                    .is_some_and(|(until, _)| *until > now)
                {
                    continue;
                }
                self.bootstrap_next = (self.bootstrap_next + i + 1) % servers.len();
                self.start_connect(addr, now);
                return;
            }
            return;
        };
        let addr = conn.addr().to_string();
        let Some(version) = conn.api_versions().highest_common(
            ApiKey::Metadata as i16,
            METADATA_VERSIONS.0,
            METADATA_VERSIONS.1,
        ) else {
            let mut core = self.inner.lock();
            core.last_error = Some(format!(
                "broker at {addr} supports no usable Metadata version"
            ));
            core.metadata.handle_failure(now);
            return;
        };
        let request = self.inner.lock().metadata.build_request(now);
        let timeout = self.inner.config.request_timeout;
        match conn.send(&request, version) {
            Ok(pending) => {
                self.metadata_req = Some(Box::pin(async move {
                    (addr, within(timeout, "metadata request", pending).await)
                }));
            }
            Err(e) => {
                self.drop_connection(&addr, &e.to_string(), now);
                self.inner.lock().metadata.handle_failure(now);
            }
        }
    }
}

/// A Produce answer, read.
enum Answer {
    /// Every partition succeeded: `acks` indexes `Driver::acks`; topic names are in `frame`.
    Acks { frame: Bytes, acks: Range<usize> },
    /// Some partition failed: the whole response.
    Full(Box<ProduceResponse>),
}

/// Hands the Produce answers received so far to the sender (the core lock is held).
fn answer(
    answers: &mut Vec<(u64, Answer)>,
    acks: &mut Vec<PartitionAck>,
    core: &mut super::Core,
    now: Instant,
) -> Vec<Completion> {
    let mut completions = Vec::new();
    answer_into(answers, acks, core, now, &mut completions);
    completions
}

/// [`answer`], appending to `completions`.
fn answer_into(
    answers: &mut Vec<(u64, Answer)>,
    acks: &mut Vec<PartitionAck>,
    core: &mut super::Core,
    now: Instant,
    completions: &mut Vec<Completion>,
) {
    for (id, answer) in answers.drain(..) {
        match answer {
            Answer::Acks { frame, acks: range } => {
                let parts = acks.get(range).unwrap_or_default();
                let find = |topic: &str, partition: i32| {
                    parts
                        .iter()
                        .find(|a| {
                            a.partition == partition
                                && frame.get(a.topic.clone()) == Some(topic.as_bytes())
                        })
                        .map(|a| BatchAck {
                            base_offset: a.base_offset,
                            log_append_time: a.log_append_time,
                        })
                };
                core.sender
                    .handle_acks_into(id, &find, &mut core.acc, now, completions);
            }
            Answer::Full(resp) => core.sender.handle_response_into(
                id,
                &resp,
                &mut core.acc,
                &mut core.metadata,
                now,
                completions,
            ),
        }
    }
    acks.clear();
}

/// A response future bounded by `request.timeout.ms` (Produce answers are bounded by the sender's
/// in-flight deadline instead).
async fn within<T>(
    timeout: Duration,
    what: &str,
    pending: impl Future<Output = Result<T, NetworkError>>,
) -> Result<T, NetworkError> {
    match tokio::time::timeout(timeout, pending).await {
        Ok(r) => r,
        Err(_) => Err(NetworkError::Io(format!(
            "{what} timed out after {} ms",
            timeout.as_millis()
        ))),
    }
}
