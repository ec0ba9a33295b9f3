//! The world both seeded simulation tests (`simulation.rs`, `simulation_txn.rs`) drive the
//! producer in: the real sans-IO core ([`Simulated`]) against kproducer-mock's in-process
//! cluster, in virtual time, through the wire format. It holds what the two have in common —
//! the event queue, the clock, the simulated links between the core's connections and the mock
//! brokers (latency, one request at a time per connection, answers in order), a broker going
//! down, the callbacks' outcomes and the trace — so a fix to the network model reaches both.
//! Each test keeps its workload, its fault schedule and its checks, and includes this file with
//! `#[path = "common/sim_world.rs"] mod sim_world;` (as a module, not a test binary of its own).
//!
//! Every step here is what the two tests did before they shared it, in the same order, so a
//! seed's trace (and its hash) is the same; where the two traced differently, [`TraceStyle`]
//! keeps each one's way.

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kproducer::internals::core::sim::Simulated;
use kproducer::internals::core::{ConnId, Transmit};
use kproducer::internals::network::FramePiece;
use kproducer::{ProduceError, RecordMetadata};
use kproducer_mock::{MockCluster, Outcome, SplitMix64};

/// The wall clock the mock brokers and record timestamps see at virtual time zero, in ms (a
/// fixed value, so the log's timestamps do not depend on when the test runs).
const EPOCH_MS: i64 = 1_700_000_000_000;

/// How many times in a row the core may ask to be woken at once with nothing due before the
/// run counts as a busy loop.
const MAX_STALLS: u32 = 1000;

/// Numbers the trace files of one process (two runs of one seed write two files).
static TRACE_RUN: AtomicUsize = AtomicUsize::new(0);

/// Something that happens at a virtual instant: the network's events, which
/// [`SimWorld::handle`] takes care of, or one of the test's own (`X`: its workload, its
/// faults), which it hands back.
#[derive(Debug)]
pub enum Ev<X> {
    /// A connection attempt's outcome reaches the producer.
    Connected(ConnId, Result<(), String>),
    /// A response frame (without its size prefix) reaches the producer.
    Response(ConnId, Bytes),
    /// The broker side is done with a connection's current request: the next may be handled.
    BrokerFree(ConnId),
    /// The producer learns that a connection was cut.
    Disconnected(ConnId, String),
    /// A broker taken down by [`SimWorld::take_down`] is back.
    BrokerUp(i32),
    /// The test's own event.
    Own(X),
}

/// The broker side of one producer connection.
#[derive(Debug)]
struct Link {
    broker: i32,
    alive: bool,
    /// Requests received, waiting for the broker (Kafka handles one at a time per connection).
    queue: VecDeque<Bytes>,
    busy: bool,
    /// When the last answer reaches the producer (answers keep their order).
    last_delivery: Duration,
}

/// Outcomes reported by callbacks: (record index, result), in callback order.
type Resolutions = Arc<Mutex<Vec<(usize, Result<RecordMetadata, ProduceError>)>>>;

/// How a test traces: the two traced a few things differently before they shared this world,
/// and each keeps its own way so that its seeds' trace hashes stay what they were.
pub struct TraceStyle {
    /// The environment variable that, when set to a path, keeps every trace event and writes
    /// them to `<path>-<stem>-<run>` at the end (to find where two runs part).
    pub log_var: &'static str,
    /// The trace name and first value of a request written, from its API key and connection.
    pub write: fn(api: i16, conn: ConnId) -> (&'static str, u64),
    /// Whether a request whose answer is lost (or never sent) is traced, as `dropped`.
    pub drops: bool,
    /// Print every trace event to stderr as it happens (among the producer's logs).
    pub live: bool,
}

/// The producer, the cluster and the network between them, in virtual time. The test's world
/// owns one, runs its own loop around [`SimWorld::poll`], [`SimWorld::advance`],
/// [`SimWorld::pop_due`] and [`SimWorld::handle`], and reads `now`, `cluster` and `producer`
/// directly.
pub struct SimWorld<X> {
    /// The run's seed (the cluster's, the producer's and `rng`'s choices derive from it).
    pub seed: u64,
    /// Virtual time zero, as the core sees it.
    t0: Instant,
    /// Virtual time since `t0`.
    pub now: Duration,
    /// Pending events by (instant, order scheduled); the payloads apart, by id.
    events: BinaryHeap<Reverse<(Duration, u64, usize)>>,
    payloads: HashMap<usize, Ev<X>>,
    next_event: u64,
    /// The in-process cluster: the test adds its faults and reads its logs.
    pub cluster: MockCluster,
    /// The producer under test: the test sends through it.
    pub producer: Simulated,
    links: BTreeMap<ConnId, Link>,
    /// Network and fault choices (the test's fault schedule draws from it).
    pub rng: SplitMix64,
    /// One-way network latency.
    latency: Duration,
    /// The frame the core writes into.
    frame: Vec<FramePiece>,
    resolved: Resolutions,
    style: TraceStyle,
    trace: DefaultHasher,
    trace_events: u64,
    /// Every trace event, when the style's `log_var` is set.
    debug_log: Option<Vec<String>>,
    /// Wakes in a row at the same instant with nothing due.
    stalls: u32,
}

impl<X> SimWorld<X> {
    /// A world around `cluster` and `producer`, at virtual time zero, with no event scheduled.
    pub fn new(
        seed: u64,
        cluster: MockCluster,
        producer: Simulated,
        latency: Duration,
        style: TraceStyle,
    ) -> Self {
        SimWorld {
            seed,
            t0: Instant::now(),
            now: Duration::ZERO,
            events: BinaryHeap::new(),
            payloads: HashMap::new(),
            next_event: 0,
            cluster,
            producer,
            links: BTreeMap::new(),
            rng: SplitMix64::new(seed ^ 0x5151_5151),
            latency,
            frame: Vec::new(),
            resolved: Arc::new(Mutex::new(Vec::new())),
            debug_log: std::env::var_os(style.log_var).map(|_| Vec::new()),
            style,
            trace: DefaultHasher::new(),
            trace_events: 0,
            stalls: 0,
        }
    }

    /// `now` as the core sees it.
    pub fn instant(&self) -> Instant {
        self.t0 + self.now
    }

    /// `now` on the brokers' wall clock, in ms (also the records' timestamps).
    pub fn wall_ms(&self) -> i64 {
        EPOCH_MS + self.now.as_millis() as i64
    }

    /// Queues `ev` for `at`; events at the same instant run in the order scheduled.
    pub fn schedule(&mut self, at: Duration, ev: Ev<X>) {
        let id = self.next_event as usize;
        self.next_event += 1;
        self.payloads.insert(id, ev);
        self.events.push(Reverse((at, self.next_event, id)));
    }

    /// Takes the next event due by `now`, if any.
    pub fn pop_due(&mut self) -> Option<Ev<X>> {
        while let Some(Reverse((t, _, id))) = self.events.peek().copied() {
            if t > self.now {
                break;
            }
            self.events.pop();
            if let Some(ev) = self.payloads.remove(&id) {
                return Some(ev);
            }
        }
        None
    }

    /// Adds an event to the trace: its hash tells whether two runs took the same path.
    pub fn record_trace(&mut self, what: &str, a: u64, b: u64) {
        if self.style.live {
            eprintln!("SIM {:?} {what} {a} {b}", self.now);
        }
        if let Some(log) = self.debug_log.as_mut() {
            log.push(format!("{:?} {what} {a} {b}", self.now));
        }
        self.now.hash(&mut self.trace);
        what.hash(&mut self.trace);
        a.hash(&mut self.trace);
        b.hash(&mut self.trace);
        self.trace_events += 1;
    }

    /// Ends the trace: writes the events kept (the style's `log_var`) to
    /// `<path>-<stem>-<run>` and returns the trace's hash.
    pub fn finish_trace(&self, stem: impl std::fmt::Display) -> u64 {
        if let (Some(log), Some(path)) = (&self.debug_log, std::env::var_os(self.style.log_var)) {
            let n = TRACE_RUN.fetch_add(1, Ordering::SeqCst);
            let path = format!("{}-{stem}-{n}", path.to_string_lossy());
            let _ = std::fs::write(path, log.join("\n"));
        }
        self.trace.finish() ^ self.trace_events
    }

    /// A send callback that reports record `i`'s outcome to [`SimWorld::take_resolved`].
    pub fn callback(
        &self,
        i: usize,
    ) -> Box<dyn FnOnce(Result<RecordMetadata, ProduceError>) + Send + 'static> {
        let resolved = self.resolved.clone();
        Box::new(move |r: Result<RecordMetadata, ProduceError>| {
            if let Ok(mut v) = resolved.lock() {
                v.push((i, r));
            }
        })
    }

    /// The outcomes reported by callbacks since the last call, in callback order.
    pub fn take_resolved(&self) -> Vec<(usize, Result<RecordMetadata, ProduceError>)> {
        match self.resolved.lock() {
            Ok(mut v) => v.drain(..).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The core's turn at `now`: its timers, then its outputs to the network.
    pub fn poll(&mut self) {
        self.producer.core.handle_timeout(self.instant());
        self.transmit();
    }

    /// Moves `now` to the next instant anything happens: the core's wake, the next event or
    /// `also` (the test's own wake), else 100 ms on. `Err(the core's wake)`, without moving,
    /// when the core keeps asking to be woken at once with nothing due: a busy loop in a real
    /// driver (a few in a row are a deadline just reached).
    pub fn advance(&mut self, also: Option<Duration>) -> Result<(), Option<Duration>> {
        let core_wake = self
            .producer
            .core
            .poll_timeout()
            .map(|t| t.saturating_duration_since(self.t0));
        let event = self.events.peek().map(|Reverse((t, _, _))| *t);
        let next = [core_wake, event, also]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.now + Duration::from_millis(100));
        if next <= self.now && event.is_none_or(|e| e > self.now) {
            self.stalls += 1;
            if self.stalls >= MAX_STALLS {
                return Err(core_wake);
            }
        } else {
            self.stalls = 0;
        }
        self.now = next.max(self.now);
        Ok(())
    }

    /// The broker id that advertises `addr`.
    fn broker_of(&self, addr: &str) -> Option<i32> {
        self.cluster.broker_ids().into_iter().find(|b| {
            self.cluster
                .advertised(*b)
                .is_some_and(|(h, p)| format!("{h}:{p}") == addr)
        })
    }

    /// The brokers up, by id.
    pub fn up_brokers(&self) -> Vec<i32> {
        self.cluster
            .broker_ids()
            .into_iter()
            .filter(|b| self.cluster.is_up(*b))
            .collect()
    }

    /// Hands the producer's outputs to the network.
    fn transmit(&mut self) {
        let now = self.instant();
        while let Some(t) = self.producer.core.poll_transmit(now, &mut self.frame) {
            match t {
                Transmit::Connect { conn, addr } => {
                    self.record_trace("connect", conn.0, 0);
                    let broker = self.broker_of(&addr);
                    let ok = match broker {
                        Some(b) if self.cluster.is_up(b) => Ok(()),
                        Some(b) => Err(format!("broker {b} is down")),
                        None => Err(format!("unknown address {addr}")),
                    };
                    if ok.is_ok() {
                        self.links.insert(
                            conn,
                            Link {
                                broker: broker.unwrap_or(-1),
                                alive: true,
                                queue: VecDeque::new(),
                                busy: false,
                                last_delivery: self.now,
                            },
                        );
                    }
                    let at = self.now + self.latency * 2;
                    self.schedule(at, Ev::Connected(conn, ok));
                }
                Transmit::Send { conn } => {
                    let mut bytes = Vec::new();
                    for p in self.frame.drain(..) {
                        bytes.extend_from_slice(&p);
                    }
                    let mut h = DefaultHasher::new();
                    bytes.hash(&mut h);
                    let api = bytes
                        .get(4..6)
                        .map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]));
                    let (what, a) = (self.style.write)(api, conn);
                    self.record_trace(what, a, h.finish());
                    let Some(link) = self.links.get_mut(&conn).filter(|l| l.alive) else {
                        continue;
                    };
                    link.queue.push_back(Bytes::from(bytes));
                    if !link.busy {
                        link.busy = true;
                        let at = self.now + self.latency;
                        self.schedule(at, Ev::BrokerFree(conn));
                    }
                }
                Transmit::Close { conn } => {
                    self.record_trace("close", conn.0, 0);
                    if let Some(l) = self.links.get_mut(&conn) {
                        l.alive = false;
                    }
                }
            }
        }
        self.producer.complete();
    }

    /// The broker takes the next request of `conn`, if any.
    fn serve(&mut self, conn: ConnId) {
        let now_ms = self.wall_ms();
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        if !link.alive {
            return;
        }
        let Some(frame) = link.queue.pop_front() else {
            link.busy = false;
            return;
        };
        let broker = link.broker;
        let outcome =
            self.cluster
                .handle_request(broker, frame.get(4..).unwrap_or_default(), now_ms);
        let latency = self.latency;
        match outcome {
            Outcome::Reply { frame, delay } => {
                let link = self.links.get_mut(&conn).expect("link");
                let at = (self.now + delay + latency).max(link.last_delivery);
                link.last_delivery = at;
                let body = frame.slice(4..);
                self.schedule(at, Ev::Response(conn, body));
                self.schedule(self.now + delay, Ev::BrokerFree(conn));
            }
            Outcome::NoReply | Outcome::Dropped => {
                if self.style.drops {
                    self.record_trace("dropped", conn.0, 0);
                }
                self.schedule(self.now, Ev::BrokerFree(conn));
            }
            Outcome::Close { reason, .. } => {
                if let Some(l) = self.links.get_mut(&conn) {
                    l.alive = false;
                }
                self.schedule(self.now + latency, Ev::Disconnected(conn, reason));
            }
        }
    }

    /// Takes broker `b` down: every live connection to it is cut (the producer hears of it
    /// after the latency). The test schedules [`Ev::BrokerUp`] for when it comes back.
    pub fn take_down(&mut self, b: i32) {
        self.cluster.set_broker_up(b, false);
        self.record_trace("down", b as u64, 0);
        let conns: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, l)| l.broker == b && l.alive)
            .map(|(c, _)| *c)
            .collect();
        for c in conns {
            if let Some(l) = self.links.get_mut(&c) {
                l.alive = false;
            }
            let at = self.now + self.latency;
            self.schedule(at, Ev::Disconnected(c, format!("broker {b} went down")));
        }
    }

    /// Handles a network event; hands back the test's own.
    pub fn handle(&mut self, ev: Ev<X>) -> Option<X> {
        let now = self.instant();
        match ev {
            Ev::Connected(conn, Ok(())) => {
                self.record_trace("connected", conn.0, 1);
                if self.links.get(&conn).is_some_and(|l| l.alive) {
                    self.producer.core.handle_connected(conn, now);
                }
            }
            Ev::Connected(conn, Err(e)) => {
                self.record_trace("connected", conn.0, 0);
                self.producer.core.handle_connect_failed(conn, &e, now);
            }
            Ev::Response(conn, frame) => {
                if self.links.get(&conn).is_some_and(|l| l.alive) {
                    self.record_trace("response", conn.0, frame.len() as u64);
                    self.producer.core.handle_response(conn, frame, now);
                }
            }
            Ev::BrokerFree(conn) => self.serve(conn),
            Ev::Disconnected(conn, reason) => {
                self.record_trace("disconnected", conn.0, 0);
                if self.links.remove(&conn).is_some() {
                    self.producer.core.handle_disconnected(conn, &reason, now);
                }
            }
            Ev::BrokerUp(b) => {
                self.cluster.set_broker_up(b, true);
                self.record_trace("up", b as u64, 0);
            }
            Ev::Own(x) => return Some(x),
        }
        None
    }
}

/// The producer's bootstrap address: broker 1's advertised `host:port`.
pub fn bootstrap(cluster: &MockCluster) -> String {
    let (host, port) = cluster.advertised(1).expect("broker 1");
    format!("{host}:{port}")
}

/// A number from the environment (seed counts, the first seed), else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
