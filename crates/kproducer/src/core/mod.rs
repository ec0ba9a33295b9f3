//! The producer's core: one sans-IO state machine, owned by the network thread, that makes every
//! decision below the send path — what to drain and when ([`Sender`]), producer ids and
//! sequences ([`Idempotence`](crate::idempotence::Idempotence)), when to refresh metadata
//! ([`Metadata`]), which connections to open and when to give up on them, every backoff — and
//! encodes and decodes the requests and responses that carry them.
//!
//! In the style of `quinn-proto`: no sockets, no clock reads, time is an argument.
//!
//! - **Inputs:** [`ProducerCore::handle_connected`], [`handle_connect_failed`],
//!   [`handle_response`] (a whole response frame), [`handle_disconnected`],
//!   [`handle_timeout`] (time passed, or a send woke the network thread).
//! - **Outputs:** [`ProducerCore::poll_transmit`] (open a connection, write a frame, close a
//!   connection), [`poll_timeout`] (when to call `handle_timeout` next),
//!   [`poll_completions`] (batches whose futures and callbacks are to be run, outside any lock),
//!   [`take_signals`] (whom to wake).
//!
//! After any input, call `poll_transmit` until it returns `None`, run the completions, then
//! sleep until the next input or `poll_timeout`.
//!
//! **One request path.** Every request — ApiVersions, Metadata, InitProducerId, Produce — is
//! encoded here, written on a connection chosen here (a given leader, or any broker for
//! control requests, opening a connection when there is none), recorded in that connection's
//! in-flight queue with its [`Kind`](conn::Kind) and deadline, and its answer (or the
//! connection's failure) goes back to the handler of that kind. The next request kinds
//! (transactions, SASL) are new kinds and handlers, not special cases.
//!
//! **Shared state.** Only the accumulator and the metadata snapshot are shared with the send
//! path ([`Shared`]); the core takes that lock for short, non-blocking sections. Batches it drains
//! are its own: it compresses and checksums them after releasing the lock.
//!
//! [`handle_connect_failed`]: ProducerCore::handle_connect_failed
//! [`handle_response`]: ProducerCore::handle_response
//! [`handle_disconnected`]: ProducerCore::handle_disconnected
//! [`handle_timeout`]: ProducerCore::handle_timeout
//! [`poll_timeout`]: ProducerCore::poll_timeout
//! [`poll_completions`]: ProducerCore::poll_completions
//! [`take_signals`]: ProducerCore::take_signals

pub(crate) mod backoff;
mod conn;
mod observe;
pub mod sim;
mod telemetry;
mod txn;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, InitProducerIdRequest, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProduceResponse, ProducerId, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{HeaderVersion, Request, StrBytes};

use crate::accumulator::{BatchAck, ProducerBatch, TopicPartition};
use crate::config::{ProducerConfig, SecurityProtocol};
use crate::error::{AuthenticationError, ProduceError};
use crate::metadata::{Cluster, Metadata};
use crate::network::bounded::produce_partitions;
use crate::network::frame::{
    decode_response, encode_produce_parts_txn, encode_request, response_correlation_id,
    set_correlation_id,
};
use crate::network::metadata_answer::{decode_metadata, MetadataAnswer};
use crate::network::produce_ack::{decode_produce_acks_throttled, AckDecode, PartitionAck};
use crate::network::versions::decode_api_versions;
use crate::network::FramePiece;
use crate::protocol::errors::ErrorCode;
use crate::security::sasl::{SaslConfig, SaslStep};
use crate::sender::{Completion, Sender, SenderConfig, SenderOutput};
use crate::shared::{SendState, Shared};

use crate::metrics::AuthEvent;
use backoff::Jitter;
pub use conn::ConnId;
use conn::{Connections, InFlight, Kind, Phase};

/// Produce versions we speak: v3 (record batch v2) up to v12 (v13 switches to topic ids).
const PRODUCE_VERSIONS: (i16, i16) = (3, 12);
/// A transactional producer on transaction protocol v1 stays below v12, which would add
/// partitions to the transaction by itself (KIP-890; Java does the same).
const TXN_V1_PRODUCE_MAX: i16 = 11;
/// Metadata versions we speak.
const METADATA_VERSIONS: (i16, i16) = (1, 12);
/// InitProducerId versions we speak; v3+ can bump an epoch (KIP-360).
const INIT_PRODUCER_ID_VERSIONS: (i16, i16) = (0, 5);
/// The ApiVersions version we start with: v3 is the first with client software name/version
/// (KIP-511). kafka-protocol also knows v4, which only changes feature-range semantics we
/// don't read.
const API_VERSIONS_MAX: i16 = 3;
/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;
/// Produce frame heads are a few dozen bytes: this many serve ~100 requests between reuses of
/// the buffer.
const FRAME_SCRATCH: usize = 8 * 1024;

/// The core's settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// `client.id`, in every request header.
    pub client_id: String,
    /// `bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// `request.timeout.ms`: a request unanswered this long closes its connection.
    pub request_timeout: Duration,
    /// `retry.backoff.ms` / `retry.backoff.max.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms`: connect plus ApiVersions.
    pub connection_setup_timeout: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms`.
    pub metadata_max_idle: Duration,
    /// `metrics.sample.window.ms`.
    pub metrics_sample_window: Duration,
    /// `metrics.num.samples`.
    pub metrics_num_samples: usize,
    /// The sender's settings.
    pub sender: SenderConfig,
    /// Seeds the core's jitter (backoffs), so a run can be replayed.
    pub seed: u64,
    /// SASL (`SASL_PLAINTEXT`, `SASL_SSL`): every connection authenticates after ApiVersions.
    pub sasl: Option<Arc<SaslConfig>>,
    /// A wall-clock reading and the monotonic instant it was taken at: the core reads no
    /// clock, and derives the wall time an OAUTHBEARER token needs from `now`.
    pub wall_anchor: (Instant, SystemTime),
    /// `enable.metrics.push`: KIP-714 client telemetry.
    pub enable_metrics_push: bool,
}

impl CoreConfig {
    /// The settings of a producer with `config`.
    pub fn from_producer(config: &ProducerConfig, seed: u64) -> Self {
        CoreConfig {
            client_id: config.client_id.clone(),
            bootstrap_servers: config.bootstrap_servers.clone(),
            request_timeout: config.request_timeout,
            retry_backoff: config.retry_backoff,
            retry_backoff_max: config.retry_backoff_max,
            reconnect_backoff: config.reconnect_backoff,
            reconnect_backoff_max: config.reconnect_backoff_max,
            connection_setup_timeout: config.socket_connection_setup_timeout,
            metadata_max_age: config.metadata_max_age,
            metadata_max_idle: config.metadata_max_idle,
            metrics_sample_window: config.metrics_sample_window,
            metrics_num_samples: config.metrics_num_samples,
            sender: SenderConfig {
                acks: config.acks,
                request_timeout: config.request_timeout,
                delivery_timeout: config.delivery_timeout,
                retries: config.retries,
                retry_backoff: config.retry_backoff,
                retry_backoff_max: config.retry_backoff_max,
                max_in_flight: config.max_in_flight_requests_per_connection,
                max_request_size: config.max_request_size,
                idempotence: config.enable_idempotence,
            },
            seed,
            // The producer replaces it with the one it checked (and its token provider).
            sasl: match config.security_protocol {
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                    let jaas = config.sasl.jaas_config.as_ref().map(|p| p.expose());
                    SaslConfig::from_parts(&config.sasl.mechanism, jaas, None)
                        .ok()
                        .map(Arc::new)
                }
                SecurityProtocol::Plaintext | SecurityProtocol::Ssl => None,
            },
            wall_anchor: (Instant::now(), SystemTime::now()),
            enable_metrics_push: config.enable_metrics_push,
        }
    }
}

/// What the core wants done with the outside world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a connection to `addr` and report it with
    /// [`handle_connected`](ProducerCore::handle_connected) or
    /// [`handle_connect_failed`](ProducerCore::handle_connect_failed).
    Connect {
        /// The connection's id.
        conn: ConnId,
        /// `host:port`.
        addr: Arc<str>,
    },
    /// Write the frame whose pieces were appended to the caller's buffer, in order.
    Send {
        /// The connection to write on.
        conn: ConnId,
    },
    /// Close the connection (after writing what was queued on it); its answers no longer matter.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// Whom the network thread should wake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// A metadata answer or failure: senders waiting for a topic look again.
    pub metadata_changed: bool,
}

/// A control request (not Produce) waiting for a connection to any broker.
#[derive(Debug)]
enum Control {
    Metadata(MetadataRequest),
    InitProducerId(InitProducerIdRequest),
}

/// What is queued for `poll_transmit`.
#[derive(Debug)]
enum Queued {
    Connect {
        conn: ConnId,
        addr: Arc<str>,
    },
    /// `pieces` frame pieces at the front of the arena.
    Send {
        conn: ConnId,
        pieces: usize,
    },
    Close {
        conn: ConnId,
    },
}

/// `host:port` per node id, rebuilt only when the metadata snapshot changes.
#[derive(Debug, Default)]
struct NodeAddrs {
    snapshot: Option<Arc<Cluster>>,
    by_node: HashMap<i32, Arc<str>>,
}

impl NodeAddrs {
    fn refresh(&mut self, cluster: &Arc<Cluster>) {
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
            .map(|(id, b)| (*id, Arc::from(b.addr())))
            .collect();
        self.snapshot = Some(cluster.clone());
    }

    fn get(&self, node: i32) -> Option<&Arc<str>> {
        self.by_node.get(&node)
    }

    /// The node at `addr`, if the snapshot has one there.
    fn node_at(&self, addr: &str) -> Option<i32> {
        self.by_node
            .iter()
            .find(|(_, a)| &***a == addr)
            .map(|(n, _)| *n)
    }
}

/// The sans-IO producer core (see the `core` module docs).
pub struct ProducerCore {
    cfg: CoreConfig,
    shared: Arc<Shared>,
    client_id: StrBytes,
    sender: Sender,
    metadata: Metadata,
    conns: Connections,
    addrs: NodeAddrs,
    /// Control requests waiting for a connection, oldest first.
    control: VecDeque<Control>,
    metadata_outstanding: bool,
    /// Output queue and the frame pieces of its `Send`s, in order.
    queue: VecDeque<Queued>,
    arena: VecDeque<FramePiece>,
    /// The decisions must be refreshed before the next output (an input arrived).
    dirty: bool,
    /// The sender's output, reused.
    out: SenderOutput,
    completions: Vec<Completion>,
    /// Completed batches given back by the network thread, recycled at the next lock.
    done: Vec<ProducerBatch>,
    /// Compression ratios observed outside the lock, reported at the next lock.
    ratios: Vec<(Arc<str>, f32)>,
    /// Produce answers' acknowledgements, read from the frame.
    acks: Vec<PartitionAck>,
    frame_scratch: BytesMut,
    /// Produce requests written this round whose batches complete once written (acks=0), and
    /// those no connection could take (fail them).
    written: Vec<u64>,
    unsendable: Vec<(u64, ProduceError)>,
    signals: Signals,
    jitter: Jitter,
    /// The earliest time the sender wants to look again (linger, backoff, expiry).
    sender_wakeup: Option<Instant>,
    /// When the next metadata refresh is due (`None`: no topic wanted, or one in flight).
    metadata_due: Option<Instant>,
    /// When a reconnect backoff ends that holds back a connection something waits for.
    reconnect_due: Option<Instant>,
    /// Frame pieces of the Produce request being encoded (reused).
    pieces: Vec<FramePiece>,
    /// Where the next "any broker" connection goes among the candidates.
    rotation: usize,
    finished: bool,
    /// Some topic is wanted (as of the last look under the lock).
    has_topics: bool,
    stats_published: u64,
    /// Lookups made to match acknowledgements to batches (linear in the partitions answered).
    pub(crate) ack_probes: usize,
    pid_published: Option<crate::idempotence::ProducerIdAndEpoch>,
    /// Addresses whose last connection failed or was lost (logged once per streak; INFO when
    /// a connection is ready again).
    troubled: std::collections::HashSet<Arc<str>>,
    /// The producer's metrics this thread records (`observe.rs`), the version last published,
    /// the last `now` seen, the sender's events (reused) and the completions already counted.
    metrics: crate::metrics::NetworkMetrics,
    metrics_published: u64,
    metrics_now: Instant,
    metric_events: Vec<crate::sender::MetricEvent>,
    errors_counted: usize,
    /// A transactional producer (`transactional.id`): the transaction manager in `Shared`
    /// drives the requests of `core/txn.rs`.
    transactional: bool,
    /// The transactional id for Produce requests.
    txn_id: Option<String>,
    /// Produce's highest version for this producer (v11 in transaction protocol v1, as Java).
    produce_max: i16,
    /// The flush a completing transaction started.
    txn_flush: Option<u64>,
    /// Completions already reported to the transaction manager.
    txn_scanned: usize,
    /// When a backed-off transactional request may go.
    txn_wakeup: Option<Instant>,
    /// A transactional request waits for a connection.
    txn_waiting: bool,
    /// KIP-714 client telemetry (`None`: `enable.metrics.push=false`), the sums' history for its
    /// payloads, when it wants to look again, and its resource attributes.
    telemetry: Option<crate::telemetry::client::ClientTelemetry>,
    telemetry_collector: crate::telemetry::otlp::Collector,
    telemetry_wakeup: Option<Instant>,
    telemetry_resource: Vec<(String, String)>,
}

impl std::fmt::Debug for ProducerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let conns: Vec<String> = self
            .conns
            .ids()
            .into_iter()
            .filter_map(|id| self.conns.get(id))
            .map(|c| {
                format!(
                    "{}@{} {:?} in_flight={:?}",
                    c.id,
                    c.addr,
                    c.phase,
                    c.in_flight.iter().map(|r| r.kind).collect::<Vec<_>>()
                )
            })
            .collect();
        f.debug_struct("ProducerCore")
            .field("client_id", &self.cfg.client_id)
            .field("in_flight_requests", &self.sender.in_flight_requests())
            .field("idempotence", &self.sender.idempotence())
            .field("connections", &conns)
            .field("control", &self.control)
            .field("metadata_outstanding", &self.metadata_outstanding)
            .field("queued_outputs", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl ProducerCore {
    /// A core over `shared` (the accumulator the send path appends to).
    pub(crate) fn new(cfg: CoreConfig, shared: Arc<Shared>) -> Self {
        let refresh_backoff = cfg.retry_backoff.min(cfg.retry_backoff_max);
        let start = cfg.wall_anchor.0;
        let clock =
            crate::metrics::Clock::new(start, cfg.metrics_sample_window, cfg.metrics_num_samples);
        let txn_id = shared
            .lock()
            .txn
            .as_ref()
            .map(|t| t.transactional_id().to_string());
        let mut sender = Sender::new(cfg.sender.clone());
        if txn_id.is_some() {
            sender.make_transactional();
        }
        let telemetry_resource = txn_id
            .iter()
            .map(|id| ("transactional_id".to_string(), id.clone()))
            .collect();
        ProducerCore {
            telemetry: cfg
                .enable_metrics_push
                .then(crate::telemetry::client::ClientTelemetry::new),
            telemetry_collector: Default::default(),
            telemetry_wakeup: None,
            telemetry_resource,
            transactional: txn_id.is_some(),
            produce_max: PRODUCE_VERSIONS.1,
            txn_id,
            txn_flush: None,
            txn_scanned: 0,
            txn_wakeup: None,
            txn_waiting: false,
            metrics: crate::metrics::NetworkMetrics::new(clock, start),
            metrics_published: u64::MAX,
            metrics_now: start,
            metric_events: Vec::new(),
            errors_counted: 0,
            client_id: StrBytes::from_string(cfg.client_id.clone()),
            sender,
            metadata: Metadata::new(refresh_backoff, cfg.metadata_max_age),
            conns: Connections::new(
                cfg.reconnect_backoff,
                cfg.reconnect_backoff_max,
                cfg.connection_setup_timeout,
            ),
            jitter: Jitter::new(cfg.seed),
            cfg,
            shared,
            addrs: NodeAddrs::default(),
            control: VecDeque::new(),
            metadata_outstanding: false,
            queue: VecDeque::new(),
            arena: VecDeque::new(),
            dirty: true,
            out: SenderOutput::default(),
            completions: Vec::new(),
            done: Vec::new(),
            ratios: Vec::new(),
            acks: Vec::new(),
            frame_scratch: BytesMut::with_capacity(FRAME_SCRATCH),
            written: Vec::new(),
            unsendable: Vec::new(),
            signals: Signals::default(),
            sender_wakeup: None,
            metadata_due: None,
            reconnect_due: None,
            pieces: Vec::new(),
            rotation: 0,
            finished: false,
            has_topics: false,
            stats_published: 0,
            ack_probes: 0,
            pid_published: None,
            troubled: std::collections::HashSet::new(),
        }
    }

    // ---------------------------------------------------------------- inputs

    /// Time passed (or a send asked the network thread to look): expire what is overdue —
    /// connection set-ups, requests past `request.timeout.ms` (their connection is closed and
    /// what was in flight on it retried, as Java does) — and refresh the decisions.
    pub fn handle_timeout(&mut self, now: Instant) {
        for id in self.conns.reauth_due(now) {
            self.start_sasl(id, now);
        }
        for id in self.conns.overdue(now) {
            let Some(conn) = self.conns.get(id) else {
                continue;
            };
            let reason = if conn.phase == Phase::Ready {
                format!(
                    "request to {} timed out after {} ms (request.timeout.ms)",
                    self.describe(&conn.addr),
                    self.cfg.request_timeout.as_millis()
                )
            } else {
                format!(
                    "connection to {} not ready after {} ms (socket.connection.setup.timeout.ms)",
                    conn.addr,
                    self.cfg.connection_setup_timeout.as_millis()
                )
            };
            self.close(id, &reason, now);
        }
        self.dirty = true;
    }

    /// The connection `conn` asked for with [`Transmit::Connect`] is up: negotiate API versions.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(addr) = self.conns.get(conn).map(|c| c.addr.clone()) else {
            return; // closed meanwhile
        };
        self.conns.connected(conn);
        self.metrics.record_connection_created(now);
        let version = self.conns.negotiate_version(&addr, API_VERSIONS_MAX);
        self.send_api_versions(conn, version, now);
        self.dirty = true;
    }

    /// The connection could not be opened.
    pub fn handle_connect_failed(&mut self, conn: ConnId, reason: &str, now: Instant) {
        if let Some(c) = self.conns.remove(conn) {
            self.observe_closed(conn, now);
            self.set_up_failed(&c.addr, reason, now);
        }
        self.dirty = true;
    }

    /// The connection could not be opened because authentication failed (the TLS handshake):
    /// not retried at once (the reconnect backoff grows), and what waits for brokers fails now
    /// rather than at its timeout.
    pub fn handle_authentication_failed(
        &mut self,
        conn: ConnId,
        mut error: AuthenticationError,
        now: Instant,
    ) {
        if let Some(c) = self.conns.get(conn) {
            if let AuthenticationError::Ssl { broker, .. } = &mut error {
                if broker.is_empty() {
                    *broker = c.addr.to_string();
                }
            }
            self.metrics.record_authentication(AuthEvent::Failed, now);
            if c.phase == Phase::Ready {
                // A TLS alert on an established connection: what was in flight is retried or
                // failed by its handlers, as for any lost connection.
                self.lost(conn, &error.to_string(), now);
            } else if let Some(c) = self.conns.remove(conn) {
                self.observe_closed(conn, now);
                self.set_up_failed(&c.addr, &error.to_string(), now);
            }
            self.authentication_failed(error);
        }
        self.dirty = true;
    }

    /// The connection ended (the peer closed it, an I/O error): what was in flight on it is
    /// retried or failed by its handler.
    pub fn handle_disconnected(&mut self, conn: ConnId, reason: &str, now: Instant) {
        self.lost(conn, reason, now);
        self.dirty = true;
    }

    /// A response frame (without its size prefix) arrived on `conn`. Responses come in request
    /// order; one that does not match the oldest request in flight is a protocol error that
    /// closes the connection.
    pub fn handle_response(&mut self, conn: ConnId, frame: Bytes, now: Instant) {
        self.dirty = true;
        self.observe_received(conn, frame.len(), now);
        let Some(c) = self.conns.get_mut(conn) else {
            return; // a connection we closed: its answers no longer count
        };
        let correlation_id = response_correlation_id(&frame);
        let expected = c.in_flight.front().map(|r| r.correlation_id);
        let request = match (expected, correlation_id) {
            (Some(e), Some(got)) if e == got => c.in_flight.pop_front(),
            (Some(e), got) => {
                let reason = format!(
                    "protocol error: expected a response with correlation id {e} but got {got:?}"
                );
                return self.close(conn, &reason, now);
            }
            (None, got) => {
                let reason = format!(
                    "protocol error: response with correlation id {got:?} but no request is in flight"
                );
                return self.close(conn, &reason, now);
            }
        };
        let Some(request) = request else { return };
        self.observe_answer(conn, &request, frame.len(), now);
        match request.kind {
            Kind::SaslHandshake { version } => self.on_sasl_handshake(conn, version, frame, now),
            Kind::SaslAuthenticate { version } => {
                self.on_sasl_authenticate(conn, version, frame, now)
            }
            Kind::ApiVersions { version } => self.on_api_versions(conn, version, &frame, now),
            Kind::Metadata { version } => match self.read_metadata(&frame, version) {
                Ok(answer) => self.on_metadata(answer, now),
                Err(reason) => {
                    let reason = format!("unusable Metadata answer: {reason}");
                    self.metadata_failed(&reason, now);
                    self.close(conn, &reason, now);
                }
            },
            Kind::InitProducerId { version } => {
                match decode_response::<InitProducerIdResponse>(
                    frame,
                    ApiKey::InitProducerId as i16,
                    version,
                    InitProducerIdResponse::header_version(version),
                ) {
                    Ok(resp) => {
                        if let Some(code) =
                            crate::protocol::errors::ErrorCode::from_i16(resp.error_code)
                        {
                            tracing::debug!(%code, "InitProducerId answered with an error");
                        }
                        self.sender.handle_init_producer_id(Some(&resp), now);
                        self.publish_pid();
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        self.sender.handle_init_producer_id(None, now);
                        self.close(conn, &reason, now);
                    }
                }
            }
            Kind::Produce { id, version } => self.on_produce(conn, id, version, frame, now),
            Kind::Txn { api, version } => self.on_txn_response(conn, api, version, frame, now),
            Kind::Telemetry { api, version } => {
                self.on_telemetry_response(conn, api, version, frame, now)
            }
        }
        // KIP-368: the last answer before a due re-authentication.
        let reauth_now = self
            .conns
            .get(conn)
            .is_some_and(|c| c.reauth_pending && c.phase == Phase::Ready && c.in_flight.is_empty());
        if reauth_now {
            self.start_sasl(conn, now);
        }
        self.publish_metrics(now);
    }

    // ---------------------------------------------------------------- outputs

    /// The next thing to do, if any. For [`Transmit::Send`], the frame's pieces are appended to
    /// `frame` (the caller's buffer, reused from call to call).
    pub fn poll_transmit(&mut self, now: Instant, frame: &mut Vec<FramePiece>) -> Option<Transmit> {
        if self.queue.is_empty() && self.dirty {
            self.dirty = false;
            self.pump(now);
        }
        match self.queue.pop_front()? {
            Queued::Connect { conn, addr } => Some(Transmit::Connect { conn, addr }),
            Queued::Close { conn } => Some(Transmit::Close { conn }),
            Queued::Send { conn, pieces } => {
                frame.extend(self.arena.drain(..pieces.min(self.arena.len())));
                Some(Transmit::Send { conn })
            }
        }
    }

    /// When [`ProducerCore::handle_timeout`] should be called next, at the latest.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.sender_wakeup,
            self.txn_wakeup,
            self.telemetry_wakeup,
            self.conns.next_deadline(),
            self.conns.next_reauth(),
            self.metadata_due,
            self.reconnect_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Batches decided since the last call, to complete (futures, callbacks, interceptors) outside
    /// any lock; give them back with [`ProducerCore::recycle`] afterwards.
    pub fn poll_completions(&mut self, out: &mut Vec<Completion>) {
        self.txn_scan_completions();
        self.count_errors(self.metrics_now);
        self.errors_counted = 0;
        out.append(&mut self.completions);
    }

    /// Completed batches, for reuse by new ones (taken at the next lock).
    pub fn recycle(&mut self, done: &mut Vec<ProducerBatch>) {
        self.done.append(done);
    }

    /// Whom to wake (and clears the signals).
    pub fn take_signals(&mut self) -> Signals {
        std::mem::take(&mut self.signals)
    }

    /// The producer was closed and everything is delivered or failed: the network thread may stop.
    pub fn is_finished(&self) -> bool {
        self.finished && self.completions.is_empty() && self.queue.is_empty()
    }

    /// Fails everything queued and in flight with [`ProduceError::Closed`] (the network thread is
    /// going away); the completions are ready for [`ProducerCore::poll_completions`].
    pub fn abort(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        let st = &mut *guard;
        st.acc.close();
        if let Some(txn) = st.txn.as_mut() {
            txn.close();
        }
        self.abort_all(st);
        drop(guard);
        self.telemetry_abort();
    }

    /// Every open connection (to close them on the way out).
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.ids()
    }

    // ---------------------------------------------------------------- the decisions

    /// Refreshes every decision: the accumulator's part under the shared lock (expiry, ready,
    /// drain), then, without it, closing drained batches, writing requests, control requests and
    /// connections.
    fn pump(&mut self, now: Instant) {
        let mut requests = std::mem::take(&mut self.out.requests);
        let mut txn_request = None;
        let metadata_topics = {
            let shared = Arc::clone(&self.shared);
            let mut guard = shared.lock();
            let st = &mut *guard;
            self.settle(st);
            if st.topics.take_update_request() {
                self.metadata.request_update_for_new_topics();
            }
            if st.abort {
                self.abort_all(st);
            }
            self.addrs.refresh(self.metadata.cluster());
            if self.transactional {
                self.txn_before_drain(st);
            }
            let (conns, addrs) = (&self.conns, &self.addrs);
            let is_ready = |node: i32| addrs.get(node).is_some_and(|a| conns.is_ready(a));
            self.out.requests = requests;
            self.sender.poll_into_txn(
                &mut st.acc,
                &mut self.metadata,
                &is_ready,
                st.txn.as_mut(),
                now,
                &mut self.out,
            );
            requests = std::mem::take(&mut self.out.requests);
            self.completions.append(&mut self.out.completions);
            if self.transactional {
                txn_request = self.txn_after_drain(st, now);
                if let Some(t) = st.txn.as_ref() {
                    self.produce_max = if t.is_tv2() {
                        PRODUCE_VERSIONS.1
                    } else {
                        TXN_V1_PRODUCE_MAX
                    };
                }
            }
            self.sender_wakeup = self.out.next_wakeup;
            self.publish(st);
            self.finished = st.acc.is_closed()
                && st.acc.incomplete_batches() == 0
                && self.sender.in_flight_requests() == 0
                && st.txn.as_ref().is_none_or(|t| !t.is_completing());
            let due = !self.metadata_outstanding
                && !st.topics.is_empty()
                && self.metadata.update_due(now);
            self.has_topics = !st.topics.is_empty();
            due.then(|| st.topics.names())
        };

        // Drained batches are ours now: compress and checksum them without the lock.
        for req in &requests {
            for b in self.sender.request_batches_mut(req.id) {
                b.run_deferred_close();
                if let Some(ratio) = b.take_compression_ratio() {
                    self.ratios.push((b.tp.topic.clone(), ratio));
                }
            }
            self.observe_request(req.id, now);
            self.send_produce(req.id, req.node, now);
        }
        requests.clear();
        self.out.requests = requests;
        if !self.written.is_empty() || !self.unsendable.is_empty() {
            let shared = Arc::clone(&self.shared);
            let mut guard = shared.lock();
            let st = &mut *guard;
            for id in self.written.drain(..) {
                self.sender.written(id, &mut st.acc, &mut self.completions);
            }
            for (id, err) in self.unsendable.drain(..) {
                self.completions
                    .extend(self.sender.fail_request(id, err, &mut st.acc));
            }
            self.finished = st.acc.is_closed()
                && st.acc.incomplete_batches() == 0
                && self.sender.in_flight_requests() == 0
                && st.txn.as_ref().is_none_or(|t| !t.is_completing());
        }

        // Control requests: a metadata refresh, the producer id.
        if let Some(topics) = metadata_topics {
            let request = self.metadata.build_request(topics, now);
            self.metadata_outstanding = true;
            self.control.push_back(Control::Metadata(request));
        }
        if let Some(request) = self.sender.init_request(now) {
            self.control.push_back(Control::InitProducerId(request));
        }
        self.dispatch_control(now);
        if let Some((request, target)) = txn_request {
            self.dispatch_txn(request, target, now);
        }
        // KIP-714: a subscription or push when due; a closing producer's terminating push.
        self.finished = self.pump_telemetry(self.finished, now);

        // Leaders with data we are not connected to.
        let wanted = std::mem::take(&mut self.out.connect);
        for &node in &wanted {
            if let Some(addr) = self.addrs.get(node).cloned() {
                if self.conns.may_connect(&addr, now) {
                    self.connect(addr, now);
                }
            }
        }
        self.out.connect = wanted;

        self.metadata_due =
            (self.has_topics && !self.metadata_outstanding).then(|| self.metadata.next_update(now));
        let waiting = !self.control.is_empty() || !self.out.connect.is_empty() || self.txn_waiting;
        self.reconnect_due = waiting.then(|| self.conns.next_backoff_end(now)).flatten();
        self.publish_metrics(now);
    }

    /// Work kept for the next lock: recycled batches, compression ratios.
    fn settle(&mut self, st: &mut SendState) {
        st.acc.recycle(&mut self.done);
        for (topic, ratio) in self.ratios.drain(..) {
            st.acc.observe_compression(&topic, ratio);
        }
    }

    /// Publishes what senders read: the metadata snapshot, stats, the producer id.
    fn publish(&mut self, st: &mut SendState) {
        if !Arc::ptr_eq(&st.cluster, self.metadata.cluster()) {
            st.cluster = self.metadata.cluster().clone();
        }
        if self.sender.stats_version() != self.stats_published {
            self.stats_published = self.sender.stats_version();
            self.shared.view.set_stats(self.sender.stats());
        }
    }

    fn publish_pid(&mut self) {
        let pid = self
            .sender
            .idempotence()
            .and_then(|i| i.producer_id_and_epoch());
        if pid != self.pid_published {
            self.pid_published = pid;
            self.shared.view.set_pid(pid);
        }
    }

    /// Fails everything (a close that ran out of time).
    fn abort_all(&mut self, st: &mut SendState) {
        self.completions
            .extend(self.sender.abort_all(&mut st.acc, ProduceError::Closed));
        for mut batch in st.acc.abort_all() {
            st.acc.deallocate(&mut batch);
            self.completions.push(Completion {
                batch,
                result: Err(ProduceError::Closed),
            });
        }
    }

    /// Encodes Produce request `id` for `node`'s connection and queues it.
    fn send_produce(&mut self, id: u64, node: i32, now: Instant) {
        let conn = self
            .addrs
            .get(node)
            .and_then(|a| self.conns.by_addr(a))
            .filter(|c| c.is_ready())
            .map(|c| c.id);
        let Some(conn) = conn else {
            // Not reachable: the sender only drains for ready leaders, so this does not happen.
            self.unsendable.push((
                id,
                ProduceError::Network(format!("no connection to broker {node}")),
            ));
            return;
        };
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Some(version) =
            c.versions
                .highest_common(ApiKey::Produce as i16, PRODUCE_VERSIONS.0, self.produce_max)
        else {
            self.unsendable.push((
                id,
                ProduceError::Protocol(format!(
                    "broker at {} supports no Produce version in {}..={}",
                    c.addr, PRODUCE_VERSIONS.0, PRODUCE_VERSIONS.1
                )),
            ));
            return;
        };
        let acks = self.cfg.sender.acks.as_i16();
        let timeout_ms = self.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        let batches = self.sender.request_batches_mut(id);
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.clear();
        let encoded = encode_produce_parts_txn(
            acks,
            timeout_ms,
            batches,
            version,
            &self.client_id,
            self.txn_id.as_deref(),
            &mut self.frame_scratch,
            &mut pieces,
        );
        let mut head = match encoded {
            Ok(head) => head,
            Err(e) => {
                self.pieces = pieces;
                self.unsendable
                    .push((id, ProduceError::Protocol(e.to_string())));
                return;
            }
        };
        let Some(c) = self.conns.get_mut(conn) else {
            self.pieces = pieces;
            return;
        };
        let correlation_id = c.next_correlation_id();
        set_correlation_id(&mut head, correlation_id);
        if acks != 0 {
            c.in_flight.push_back(InFlight {
                correlation_id,
                kind: Kind::Produce { id, version },
                deadline: now + self.cfg.request_timeout,
                span: tracing::Span::none(),
            });
        } else {
            self.written.push(id);
        }
        let n = 1 + pieces.len();
        let bytes = head.len() + pieces.iter().map(|p| p.as_slice().len()).sum::<usize>();
        self.observe_sent(
            conn,
            correlation_id,
            Kind::Produce { id, version },
            bytes,
            now,
        );
        self.arena.push_back(FramePiece::Bytes(head.freeze()));
        self.arena.extend(pieces.drain(..));
        self.pieces = pieces;
        self.queue.push_back(Queued::Send { conn, pieces: n });
    }

    /// Sends the control requests that can go (on the least busy ready connection), and opens a
    /// connection when none can take them.
    fn dispatch_control(&mut self, now: Instant) {
        while let Some(request) = self.control.pop_front() {
            let conn = self
                .conns
                .ready()
                .min_by_key(|c| (c.in_flight.len(), c.id))
                .map(|c| c.id);
            let Some(conn) = conn else {
                self.control.push_front(request);
                self.connect_any(now);
                return;
            };
            match request {
                Control::Metadata(req) => self.send_metadata(conn, &req, now),
                Control::InitProducerId(req) => self.send_init_producer_id(conn, req, now),
            }
        }
    }

    fn send_metadata(&mut self, conn: ConnId, request: &MetadataRequest, now: Instant) {
        let version = self.conns.get(conn).and_then(|c| {
            c.versions.highest_common(
                ApiKey::Metadata as i16,
                METADATA_VERSIONS.0,
                METADATA_VERSIONS.1,
            )
        });
        let Some(version) = version else {
            let addr = self.conns.get(conn).map(|c| c.addr.clone());
            let reason = format!(
                "broker at {} supports no usable Metadata version",
                addr.as_deref().unwrap_or("?")
            );
            self.metadata_failed(&reason, now);
            return;
        };
        if let Err(reason) =
            self.write_request(conn, request, version, Kind::Metadata { version }, now)
        {
            self.metadata_failed(&reason, now);
        }
    }

    fn send_init_producer_id(
        &mut self,
        conn: ConnId,
        mut request: InitProducerIdRequest,
        now: Instant,
    ) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let Some(version) = c.versions.highest_common(
            ApiKey::InitProducerId as i16,
            INIT_PRODUCER_ID_VERSIONS.0,
            INIT_PRODUCER_ID_VERSIONS.1,
        ) else {
            let addr = c.addr.clone();
            self.sender.idempotence_unavailable(ProduceError::Protocol(format!(
                "broker at {addr} does not support InitProducerId, needed by the idempotent producer: set enable.idempotence=false"
            )));
            return;
        };
        if version < 3 {
            // Older brokers can't bump an epoch: ask for a fresh producer id instead.
            request = request
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
        }
        if self
            .write_request(
                conn,
                &request,
                version,
                Kind::InitProducerId { version },
                now,
            )
            .is_err()
        {
            self.sender.handle_init_producer_id(None, now);
        }
    }

    fn send_api_versions(&mut self, conn: ConnId, version: i16, now: Instant) {
        let mut request = ApiVersionsRequest::default();
        if version >= 3 {
            request = request
                .with_client_software_name(StrBytes::from_static_str("kproducer"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        }
        if let Err(reason) =
            self.write_request(conn, &request, version, Kind::ApiVersions { version }, now)
        {
            self.close(conn, &reason, now);
        }
    }

    /// Encodes `request` at `version` and queues it on `conn`, expecting an answer of `kind`.
    fn write_request<R: Request>(
        &mut self,
        conn: ConnId,
        request: &R,
        version: i16,
        kind: Kind,
        now: Instant,
    ) -> Result<(), String> {
        let mut frame =
            encode_request(request, version, &self.client_id).map_err(|e| e.to_string())?;
        let Some(c) = self.conns.get_mut(conn) else {
            return Err("connection closed".into());
        };
        let correlation_id = c.next_correlation_id();
        set_correlation_id(&mut frame, correlation_id);
        c.in_flight.push_back(InFlight {
            correlation_id,
            kind,
            deadline: now + self.cfg.request_timeout,
            span: tracing::Span::none(),
        });
        self.observe_sent(conn, correlation_id, kind, frame.len(), now);
        self.arena.push_back(FramePiece::Bytes(frame.freeze()));
        self.queue.push_back(Queued::Send { conn, pieces: 1 });
        Ok(())
    }

    /// Opens a connection to `addr`.
    fn connect(&mut self, addr: Arc<str>, now: Instant) {
        let conn = self.conns.open(addr.clone(), now);
        tracing::debug!(%addr, %conn, "connecting");
        self.queue.push_back(Queued::Connect { conn, addr });
    }

    /// Opens a connection to some broker for control requests, unless one is being set up:
    /// a known broker, else a bootstrap server, in turn, skipping those backing off.
    fn connect_any(&mut self, now: Instant) {
        if self.conns.any_connecting() {
            return;
        }
        let mut candidates: Vec<Arc<str>> = {
            let mut known: Vec<(i32, Arc<str>)> = self
                .addrs
                .by_node
                .iter()
                .map(|(n, a)| (*n, a.clone()))
                .collect();
            known.sort();
            known.into_iter().map(|(_, a)| a).collect()
        };
        if candidates.is_empty() {
            candidates = self
                .cfg
                .bootstrap_servers
                .iter()
                .map(|s| Arc::from(s.as_str()))
                .collect();
        }
        let n = candidates.len();
        for i in 0..n {
            let addr = &candidates[(self.rotation + i) % n];
            if self.conns.may_connect(addr, now) {
                self.rotation = (self.rotation + i + 1) % n;
                let addr = addr.clone();
                self.connect(addr, now);
                return;
            }
        }
    }

    // ---------------------------------------------------------------- handlers

    fn on_api_versions(&mut self, conn: ConnId, version: i16, frame: &[u8], now: Instant) {
        // ApiVersions responses always use header v0: just the correlation id.
        let body = frame.get(4..).unwrap_or_default();
        // A broker that does not support `version` answers in the v0 format (KIP-511), so when
        // the answer is not a success, look for its ApiVersions range there too.
        let v0_range = || {
            decode_api_versions(body, 0)
                .ok()
                .and_then(|a| a.versions.range(ApiKey::ApiVersions as i16))
        };
        let (error, broker_range) = match decode_api_versions(body, version) {
            Ok(answer) if answer.error_code == 0 => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.versions = answer.versions;
                }
                if let Some(tv) = answer.transaction_version {
                    self.txn_version_seen(tv);
                }
                if self.cfg.sasl.is_some() {
                    self.start_sasl(conn, now);
                } else {
                    self.conn_ready(conn, now);
                }
                return;
            }
            Ok(answer) => (
                if answer.error_code == UNSUPPORTED_VERSION {
                    format!("ApiVersions v{version} is not supported by the broker")
                } else {
                    format!(
                        "ApiVersions v{version} answered with error code {}",
                        answer.error_code
                    )
                },
                answer
                    .versions
                    .range(ApiKey::ApiVersions as i16)
                    .or_else(v0_range),
            ),
            Err(reason) => (
                format!("undecodable ApiVersions v{version} response: {reason}"),
                v0_range(),
            ),
        };
        // Retry lower only if that makes progress; otherwise v0, which every broker speaks.
        let retry = broker_range
            .and_then(|(min, max)| {
                let high = max.min(API_VERSIONS_MAX);
                (min.max(0) <= high).then_some(high)
            })
            .filter(|v| *v < version)
            .unwrap_or(0);
        if version == 0 {
            return self.close(conn, &error, now);
        }
        tracing::debug!(%conn, %error, retry, "ApiVersions rejected; retrying lower");
        if let Some(addr) = self.conns.get(conn).map(|c| c.addr.clone()) {
            self.conns.set_negotiate_version(addr, retry);
        }
        self.send_api_versions(conn, retry, now);
    }

    /// Set-up is complete: requests may go.
    fn conn_ready(&mut self, conn: ConnId, now: Instant) {
        // Java's `Selector` counts a channel ready as authenticated (plaintext too), a KIP-368
        // renewal as a re-authentication with its latency.
        let reauth = self
            .conns
            .get_mut(conn)
            .and_then(|c| c.reauth_started.take());
        let event = match reauth {
            Some(started) => AuthEvent::Reauthenticated(now.saturating_duration_since(started)),
            None => AuthEvent::Authenticated,
        };
        self.metrics.record_authentication(event, now);
        let failures = self.conns.set_ready(conn);
        if let Some(addr) = self.conns.get(conn).map(|c| c.addr.clone()) {
            tracing::debug!(%addr, %conn, "connected");
            if self.troubled.remove(&addr) || failures > 0 {
                tracing::info!(
                    "Connection to {} re-established (after {failures} failed attempt(s))",
                    self.describe(&addr)
                );
            }
        }
        let mut st = self.shared.lock();
        if st.auth_error.take().is_some() {
            self.signals.metadata_changed = true;
        }
    }

    /// SASL (at set-up, or a KIP-368 re-authentication): offer the mechanism.
    fn start_sasl(&mut self, conn: ConnId, now: Instant) {
        let Some(sasl) = self.cfg.sasl.clone() else {
            return;
        };
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.phase == Phase::Ready {
            c.reauth_started = Some(now);
        }
        c.phase = Phase::Authenticating;
        c.reauth_due = None;
        c.setup_deadline = now + self.cfg.connection_setup_timeout;
        let addr = c.addr.clone();
        let handshake = c
            .versions
            .highest_common(ApiKey::SaslHandshake as i16, 1, 1);
        let authenticate = c
            .versions
            .highest_common(ApiKey::SaslAuthenticate as i16, 0, 2);
        let (Some(version), Some(_)) = (handshake, authenticate) else {
            // Brokers before 1.0 exchange raw SASL tokens (SaslHandshake v0): not supported.
            let error = AuthenticationError::Sasl {
                mechanism: sasl.mechanism().to_string(),
                broker: addr.to_string(),
                reason: "the broker does not support SaslHandshake v1 and SaslAuthenticate \
                         (Kafka 1.0 or later is needed)"
                    .into(),
            };
            return self.sasl_failed(conn, error, now);
        };
        let request = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(sasl.mechanism().to_string()));
        if let Err(reason) = self.write_request(
            conn,
            &request,
            version,
            Kind::SaslHandshake { version },
            now,
        ) {
            self.close(conn, &reason, now);
        }
    }

    fn on_sasl_handshake(&mut self, conn: ConnId, version: i16, frame: Bytes, now: Instant) {
        let Some(sasl) = self.cfg.sasl.clone() else {
            return;
        };
        let Some(addr) = self.conns.get(conn).map(|c| c.addr.to_string()) else {
            return;
        };
        let resp = match decode_response::<SaslHandshakeResponse>(
            frame,
            ApiKey::SaslHandshake as i16,
            version,
            SaslHandshakeResponse::header_version(version),
        ) {
            Ok(resp) => resp,
            Err(e) => {
                return self.close(conn, &format!("unreadable SaslHandshake answer: {e}"), now)
            }
        };
        if resp.error_code != 0 {
            let enabled: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
            let error = if resp.error_code == ErrorCode::UNSUPPORTED_SASL_MECHANISM.0 {
                AuthenticationError::UnsupportedMechanism {
                    mechanism: sasl.mechanism().to_string(),
                    broker: addr,
                    enabled,
                }
            } else {
                AuthenticationError::Sasl {
                    mechanism: sasl.mechanism().to_string(),
                    broker: addr,
                    reason: format!("SaslHandshake answered {}", error_name(resp.error_code)),
                }
            };
            return self.sasl_failed(conn, error, now);
        }
        let (at, wall) = self.cfg.wall_anchor;
        let mut mechanism = sasl.new_mechanism(wall + now.saturating_duration_since(at));
        match mechanism.start() {
            Ok(first) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.sasl = Some(mechanism);
                }
                self.send_sasl_authenticate(conn, first, now);
            }
            Err(e) => {
                let error = AuthenticationError::Sasl {
                    mechanism: sasl.mechanism().to_string(),
                    broker: addr,
                    reason: e.to_string(),
                };
                self.sasl_failed(conn, error, now);
            }
        }
    }

    fn send_sasl_authenticate(&mut self, conn: ConnId, auth_bytes: Vec<u8>, now: Instant) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let Some(version) = c
            .versions
            .highest_common(ApiKey::SaslAuthenticate as i16, 0, 2)
        else {
            return self.close(conn, "the broker stopped supporting SaslAuthenticate", now);
        };
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(auth_bytes));
        if let Err(reason) = self.write_request(
            conn,
            &request,
            version,
            Kind::SaslAuthenticate { version },
            now,
        ) {
            self.close(conn, &reason, now);
        }
    }

    fn on_sasl_authenticate(&mut self, conn: ConnId, version: i16, frame: Bytes, now: Instant) {
        let Some(sasl) = self.cfg.sasl.clone() else {
            return;
        };
        let Some(addr) = self.conns.get(conn).map(|c| c.addr.to_string()) else {
            return;
        };
        let resp = match decode_response::<SaslAuthenticateResponse>(
            frame,
            ApiKey::SaslAuthenticate as i16,
            version,
            SaslAuthenticateResponse::header_version(version),
        ) {
            Ok(resp) => resp,
            Err(e) => {
                return self.close(
                    conn,
                    &format!("unreadable SaslAuthenticate answer: {e}"),
                    now,
                )
            }
        };
        let fail = |reason: String| AuthenticationError::Sasl {
            mechanism: sasl.mechanism().to_string(),
            broker: addr.clone(),
            reason,
        };
        if resp.error_code != 0 {
            let mut reason = match resp.error_message.as_deref() {
                Some(m) if !m.is_empty() => m.to_string(),
                _ => error_name(resp.error_code),
            };
            // OAUTHBEARER: the status and scope from the broker's error challenge.
            let context = self
                .conns
                .get(conn)
                .and_then(|c| c.sasl.as_ref())
                .and_then(|m| m.failure_context());
            if let Some(context) = context {
                reason = format!("{reason} ({context})");
            }
            return self.sasl_failed(conn, fail(reason), now);
        }
        let step = match self.conns.get_mut(conn).and_then(|c| c.sasl.as_mut()) {
            Some(mechanism) => mechanism.step(&resp.auth_bytes),
            None => return self.close(conn, "a SaslAuthenticate answer without an exchange", now),
        };
        match step {
            Ok(SaslStep::Respond(bytes)) => self.send_sasl_authenticate(conn, bytes, now),
            Ok(SaslStep::Complete) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.sasl = None;
                    // KIP-368: renew at 85-95 % of the session's lifetime, as Java does.
                    c.reauth_due = u64::try_from(resp.session_lifetime_ms)
                        .ok()
                        .filter(|ms| *ms > 0)
                        .map(|ms| {
                            let share = 0.85 + 0.10 * self.jitter.unit();
                            now + Duration::from_millis((ms as f64 * share) as u64)
                        });
                    tracing::debug!(addr = %c.addr, %conn, reauth_in = ?c.reauth_due.map(|d| d - now), "authenticated");
                }
                self.conn_ready(conn, now);
            }
            Err(e) => self.sasl_failed(conn, fail(e.to_string()), now),
        }
    }

    /// SASL failed on `conn`: close it, back off, and fail what waits.
    fn sasl_failed(&mut self, conn: ConnId, error: AuthenticationError, now: Instant) {
        let reauth = self
            .conns
            .get(conn)
            .is_some_and(|c| c.reauth_started.is_some());
        self.metrics.record_authentication(
            if reauth {
                AuthEvent::ReauthenticationFailed
            } else {
                AuthEvent::Failed
            },
            now,
        );
        if self.conns.get(conn).is_some() {
            self.queue.push_back(Queued::Close { conn });
        }
        if let Some(c) = self.conns.remove(conn) {
            self.set_up_failed(&c.addr, &error.to_string(), now);
        }
        self.authentication_failed(error);
    }

    /// Java's `AuthenticationException` handling: not retriable, so the records waiting in the
    /// accumulator fail now, and senders waiting for metadata are woken to fail with it, rather
    /// than both waiting out their timeouts. The connection is retried after the reconnect
    /// backoff; the error stands until a connection authenticates.
    fn authentication_failed(&mut self, error: AuthenticationError) {
        tracing::error!("{error}");
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        let st = &mut *guard;
        st.last_error = Some(error.to_string());
        st.auth_error = Some(error.clone());
        let err = ProduceError::Authentication(error);
        self.completions
            .extend(self.sender.fail_queued(&mut st.acc, &err));
        self.signals.metadata_changed = true;
    }

    /// Reads a Metadata answer frame, keeping the topics the send path wants (a bounded read:
    /// see `network::metadata_answer`).
    fn read_metadata(&self, frame: &[u8], version: i16) -> Result<MetadataAnswer, String> {
        let body = response_body(frame, MetadataResponse::header_version(version))?;
        // The names only (sorted): the decode runs without the lock senders take.
        let wanted = self.shared.lock().topics.names();
        decode_metadata(body, version, &|t| {
            wanted.binary_search_by(|w| w.as_str().cmp(t)).is_ok()
        })
    }

    fn on_metadata(&mut self, answer: MetadataAnswer, now: Instant) {
        self.metadata_outstanding = false;
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        let st = &mut *guard;
        st.topics.retain_used(now, self.cfg.metadata_max_idle);
        let topics = &st.topics;
        let before = self.metadata.cluster().clone();
        self.metadata
            .handle_answer(answer, now, &|t| topics.contains(t));
        log_leader_changes(&before, self.metadata.cluster());
        st.last_error = None;
        self.publish(st);
        drop(guard);
        self.metrics.record_metadata_update(now);
        self.signals.metadata_changed = true;
    }

    fn metadata_failed(&mut self, reason: &str, now: Instant) {
        self.metadata_outstanding = false;
        self.metadata.handle_failure(now);
        self.shared.lock().last_error = Some(reason.to_string());
        self.signals.metadata_changed = true;
    }

    fn on_produce(&mut self, conn: ConnId, id: u64, version: i16, frame: Bytes, now: Instant) {
        self.acks.clear();
        let mut throttle_ms = 0;
        match decode_produce_acks_throttled(&frame, version, &mut self.acks, &mut throttle_ms) {
            Ok(AckDecode::AllAcked) => {
                self.observe_throttle(throttle_ms, now);
                let shared = Arc::clone(&self.shared);
                let mut guard = shared.lock();
                let st = &mut *guard;
                self.settle(st);
                let mut matcher = AckMatcher::new(&frame, &self.acks);
                self.sender.handle_acks_into(
                    id,
                    &mut |i, tp| matcher.find(i, tp),
                    &mut st.acc,
                    now,
                    &mut self.completions,
                );
                self.ack_probes += matcher.probes;
                return;
            }
            Ok(AckDecode::HasErrors) => {}
            Err(reason) => {
                // The full decoder names the problem (or reads what the fast path does not).
                tracing::debug!(%reason, "Produce answer not read by the fast path");
            }
        }
        // Count before decoding: an answer may not list more partitions than its request
        // carried (kafka-protocol builds a large struct per partition).
        let sent = self.sender.request_batches_mut(id).len();
        let listed = response_body(&frame, ProduceResponse::header_version(version))
            .and_then(|b| produce_partitions(b, version).map_err(|m| m.0));
        let decoded = match listed {
            Ok(n) if n > sent.max(1) => Err(format!(
                "a Produce answer listing {n} partitions for a request of {sent}"
            )),
            Err(e) => Err(e),
            Ok(_) => decode_response::<ProduceResponse>(
                frame,
                ApiKey::Produce as i16,
                version,
                ProduceResponse::header_version(version),
            )
            .map_err(|e| e.to_string()),
        };
        match decoded {
            Ok(resp) => {
                self.observe_throttle(resp.throttle_time_ms, now);
                let shared = Arc::clone(&self.shared);
                let mut guard = shared.lock();
                let st = &mut *guard;
                self.settle(st);
                self.sender.handle_response_into(
                    id,
                    &resp,
                    &mut st.acc,
                    &mut self.metadata,
                    now,
                    &mut self.completions,
                );
                // Leader hints (KIP-951) change the snapshot at once.
                self.publish(st);
            }
            Err(reason) => {
                // Unreadable: the connection can't be trusted; what was in flight is retried.
                let shared = Arc::clone(&self.shared);
                let mut guard = shared.lock();
                let st = &mut *guard;
                self.completions.extend(self.sender.handle_failure(
                    id,
                    &reason,
                    &mut st.acc,
                    &mut self.metadata,
                    now,
                ));
                drop(guard);
                self.close(conn, &reason, now);
            }
        }
    }

    /// We close `conn` (a timeout, a protocol error): tell the driver, then as if it was lost.
    fn close(&mut self, conn: ConnId, reason: &str, now: Instant) {
        if self.conns.get(conn).is_some() {
            self.queue.push_back(Queued::Close { conn });
        }
        self.lost(conn, reason, now);
    }

    /// `conn` is gone: fail its set-up (backoff) or its requests in flight (each by its handler).
    fn lost(&mut self, conn: ConnId, reason: &str, now: Instant) {
        let Some(c) = self.conns.remove(conn) else {
            return;
        };
        self.observe_closed(conn, now);
        self.observe_lost(&c, reason, now);
        tracing::debug!(addr = %c.addr, %conn, %reason, in_flight = c.in_flight.len(), "connection lost");
        if c.phase != Phase::Ready {
            // A broker that dropped our ApiVersions request may not speak that version (KIP-511).
            if let Some(InFlight {
                kind: Kind::ApiVersions { version },
                ..
            }) = c.in_flight.front()
            {
                if *version > 0 {
                    self.conns.set_negotiate_version(c.addr.clone(), 0);
                }
            }
            let reason = match c.phase {
                // Kafka's TLS and SASL listeners hang up on a plaintext ApiVersions request, or
                // on the first request after it; say so rather than just "closed".
                Phase::Negotiating => format!(
                    "{reason} (before answering ApiVersions: if {} is an SSL or SASL listener, \
                     set security.protocol accordingly)",
                    c.addr
                ),
                _ => reason.to_string(),
            };
            self.set_up_failed(&c.addr, &reason, now);
            return;
        }
        let mut reason = format!("connection to {} lost: {reason}", self.describe(&c.addr));
        if self.cfg.sasl.is_none() && c.requests_written() <= 3 {
            // A SASL listener answers ApiVersions, then hangs up on the first other request.
            reason.push_str(&format!(
                " (right after set-up: if {} is a SASL listener, set security.protocol to \
                 SASL_PLAINTEXT or SASL_SSL and sasl.mechanism, sasl.jaas.config)",
                c.addr
            ));
        }
        if self.troubled.insert(c.addr.clone()) {
            tracing::warn!(
                "{reason}; {} request(s) in flight are retried or failed",
                c.in_flight.len()
            );
        }
        self.metadata.request_update();
        let produce: Vec<u64> = c
            .in_flight
            .iter()
            .filter_map(|r| match r.kind {
                Kind::Produce { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        {
            let shared = Arc::clone(&self.shared);
            let mut guard = shared.lock();
            let st = &mut *guard;
            st.last_error = Some(reason.clone());
            // Retried in send order, so batches of one partition stay in order.
            for id in produce {
                self.completions.extend(self.sender.handle_failure(
                    id,
                    &reason,
                    &mut st.acc,
                    &mut self.metadata,
                    now,
                ));
            }
        }
        for r in &c.in_flight {
            match r.kind {
                Kind::Metadata { .. } => self.metadata_failed(&reason, now),
                Kind::InitProducerId { .. } => self.sender.handle_init_producer_id(None, now),
                Kind::Txn { .. } => self.txn_request_lost(now),
                Kind::Telemetry { .. } => self.telemetry_request_lost(now),
                Kind::ApiVersions { .. }
                | Kind::Produce { .. }
                | Kind::SaslHandshake { .. }
                | Kind::SaslAuthenticate { .. } => {}
            }
        }
    }

    /// A connection to `addr` failed before it was ready.
    fn set_up_failed(&mut self, addr: &Arc<str>, reason: &str, now: Instant) {
        tracing::debug!(%addr, %reason, "connection failed");
        if self.troubled.insert(addr.clone()) {
            // The first failure of a streak; the next ones are at DEBUG until it connects.
            tracing::warn!(
                "Connection to {} could not be established: {reason}. Node may not be available.",
                self.describe(addr)
            );
        }
        self.conns.failed(addr, now, &mut self.jitter);
        self.metadata.request_update();
        self.shared.lock().last_error = Some(reason.to_string());
    }

    /// `broker N at host:port`, or just the address.
    fn describe(&self, addr: &str) -> String {
        match self.addrs.node_at(addr) {
            Some(n) => format!("broker {n} at {addr}"),
            None => addr.to_string(),
        }
    }
}

/// INFO: partitions whose leader moved between two metadata snapshots (a few named, the rest
/// counted).
fn log_leader_changes(before: &Cluster, after: &Cluster) {
    if before.topics.is_empty() {
        return;
    }
    let mut moved = Vec::new();
    for (name, t) in &after.topics {
        let Some(old) = before.topics.get(name) else {
            continue;
        };
        for p in &t.partitions {
            let was = old.leader(p.partition);
            if was != p.leader {
                moved.push(format!(
                    "{name}-{}: {} -> {}",
                    p.partition,
                    was.map_or("none".into(), |n| n.to_string()),
                    p.leader.map_or("none".into(), |n| n.to_string())
                ));
            }
        }
    }
    if !moved.is_empty() {
        moved.sort();
        let n = moved.len();
        moved.truncate(5);
        tracing::info!(
            "Partition leaders changed ({n}): {}{}",
            moved.join(", "),
            if n > 5 { ", ..." } else { "" }
        );
    }
}

/// `NAME (code)` for a Kafka error code.
fn error_name(code: i16) -> String {
    match ErrorCode::from_i16(code) {
        Some(c) => format!("{} ({code})", c.name()),
        None => format!("error code {code}"),
    }
}

/// A response frame's body: what follows its header (v0: the correlation id; v1: and tagged
/// fields).
fn response_body(frame: &[u8], header_version: i16) -> Result<&[u8], String> {
    let mut body = frame.get(4..).ok_or("a response shorter than its header")?;
    if header_version >= 1 {
        let mut w = crate::network::bounded::Walk {
            buf: body,
            pos: 0,
            flexible: true,
        };
        w.no_tags().map_err(|m| m.0)?;
        body = &body[w.pos..];
    }
    Ok(body)
}

/// Finds each batch's acknowledgement in a Produce answer read by the fast path: at the batch's
/// own position when the broker kept the request's order (the usual case), else through an index
/// built once. Linear in the partitions of the request either way.
struct AckMatcher<'a> {
    frame: &'a [u8],
    acks: &'a [PartitionAck],
    index: Option<HashMap<(&'a [u8], i32), usize>>,
    /// Comparisons and lookups made (tests check they stay linear).
    probes: usize,
}

impl<'a> AckMatcher<'a> {
    fn new(frame: &'a [u8], acks: &'a [PartitionAck]) -> Self {
        AckMatcher {
            frame,
            acks,
            index: None,
            probes: 0,
        }
    }

    fn topic_of(&self, ack: &PartitionAck) -> &'a [u8] {
        self.frame.get(ack.topic.clone()).unwrap_or_default()
    }

    fn find(&mut self, i: usize, tp: &TopicPartition) -> Option<BatchAck> {
        let at = |a: &PartitionAck| BatchAck {
            base_offset: a.base_offset,
            log_append_time: a.log_append_time,
        };
        self.probes += 1;
        if let Some(a) = self.acks.get(i) {
            if a.partition == tp.partition && self.topic_of(a) == tp.topic.as_bytes() {
                return Some(at(a));
            }
        }
        let (frame, acks) = (self.frame, self.acks);
        self.probes += 1;
        let index = self.index.get_or_insert_with(|| {
            acks.iter()
                .enumerate()
                .map(|(j, a)| {
                    (
                        (frame.get(a.topic.clone()).unwrap_or_default(), a.partition),
                        j,
                    )
                })
                .collect()
        });
        index
            .get(&(tp.topic.as_bytes(), tp.partition))
            .and_then(|&j| acks.get(j))
            .map(at)
    }
}
