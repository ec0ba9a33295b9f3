//! The Sender's decisions (Java's `Sender`), free of I/O and clocks: which batches go in which
//! Produce request, what to do with each answer, retries, delivery timeouts, idempotence.
//!
//! It is one part of the [core](crate::core), which owns it, opens connections, encodes and
//! routes requests and hands answers back:
//! 1. [`Sender::poll_into`]`(now)` drains ready batches into requests (one per broker, many
//!    partitions each, batches stamped but not yet compressed: the core closes them after
//!    releasing the accumulator's lock), expires batches, and says when to look again;
//! 2. [`Sender::handle_acks_into`] / [`Sender::handle_response_into`] /
//!    [`Sender::handle_failure`] as answers or errors arrive.
//!
//! Completions come back as values; the network thread runs them (futures, callbacks,
//! interceptors) outside any lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::accumulator::{BatchAck, DrainPolicy, ProducerBatch, ReadyCheck, RecordAccumulator};
use crate::config::Acks;
use crate::core::backoff::{ExponentialBackoff, Jitter};
use crate::error::ProduceError;
use crate::idempotence::{ErrorDecision, Idempotence};
use crate::metadata::Metadata;
use crate::protocol::errors::ErrorCode;
use crate::protocol::record_batch::BatchHeader;

/// The sender's settings (from [`ProducerConfig`](crate::ProducerConfig)).
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// `acks`.
    pub acks: Acks,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retries`.
    pub retries: i32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// `enable.idempotence`.
    pub idempotence: bool,
}

/// A Produce request drained by [`Sender::poll_into`]: its batches stay with the sender
/// ([`Sender::request_batches_mut`]) until answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Pass back to [`Sender::handle_acks_into`] and friends.
    pub id: u64,
    /// Leader to send it to.
    pub node: i32,
}

/// A batch whose fate is decided.
#[derive(Debug)]
pub struct Completion {
    /// The batch (its memory is already returned to the pool).
    pub batch: ProducerBatch,
    /// Its result.
    pub result: Result<BatchAck, ProduceError>,
}

/// What [`Sender::poll_into`] decided.
#[derive(Debug, Default)]
pub struct SenderOutput {
    /// Requests to write now.
    pub requests: Vec<OutgoingRequest>,
    /// Batches to complete.
    pub completions: Vec<Completion>,
    /// Leaders with data but no usable connection: connect to them.
    pub connect: Vec<i32>,
    /// Call `poll_into` again by then at the latest.
    pub next_wakeup: Option<Instant>,
}

#[derive(Debug)]
struct InFlight {
    node: i32,
    batches: Vec<ProducerBatch>,
    /// False with acks=0: complete once written ([`Sender::written`]).
    expects_response: bool,
}

/// Counters of what the sender did (a small subset of Java's producer metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SenderStats {
    /// Produce requests written.
    pub produce_requests: u64,
    /// Batches written (a retried batch counts again).
    pub batches: u64,
    /// Records written (a retried record counts again).
    pub records: u64,
    /// Batches retried.
    pub retries: u64,
    /// Batches split after MESSAGE_TOO_LARGE.
    pub splits: u64,
    /// Produce requests per broker.
    pub requests_by_node: std::collections::BTreeMap<i32, u64>,
}

/// What the sender did that the producer's metrics count, for the core to record
/// ([`Sender::take_metric_events`]).
#[derive(Debug, Clone)]
pub enum MetricEvent {
    /// A batch of `records` records of `topic` goes back to the queue for a retry.
    Retry {
        /// The batch's topic.
        topic: Arc<str>,
        /// Its records.
        records: usize,
    },
    /// A batch was split after MESSAGE_TOO_LARGE.
    Split,
}

/// In-flight bookkeeping, retries and delivery timeouts.
#[derive(Debug)]
pub struct Sender {
    cfg: SenderConfig,
    stats: SenderStats,
    /// Bumped whenever `stats` changes, so the core publishes them only then.
    stats_version: u64,
    idem: Option<Idempotence>,
    in_flight: HashMap<u64, InFlight>,
    per_node: HashMap<i32, usize>,
    next_id: u64,
    retry_backoff: ExponentialBackoff,
    jitter: Jitter,
    /// One WARN line per error name per 10 s for retries.
    retry_log: crate::log_limit::LogLimiter,
    /// Scratch reused by every poll: which leaders are ready, in order.
    ready: ReadyCheck,
    nodes: Vec<i32>,
    /// Emptied batch vectors of finished requests, reused for new ones (bounded by
    /// [`MAX_SPARE_VECS`]).
    spare_vecs: Vec<Vec<ProducerBatch>>,
    /// Retries and splits since the core last looked (its capacity is kept).
    metric_events: Vec<MetricEvent>,
}

/// Batch vectors kept for reuse: more than the requests usually in flight.
const MAX_SPARE_VECS: usize = 64;

impl Sender {
    /// A sender with nothing in flight.
    pub fn new(cfg: SenderConfig) -> Self {
        // Java's producer: ExponentialBackoff(retry.backoff.ms, 2, retry.backoff.max.ms, 0.2).
        let retry_backoff =
            ExponentialBackoff::new(cfg.retry_backoff, 2, cfg.retry_backoff_max, 0.2);
        Sender {
            idem: cfg.idempotence.then(|| {
                Idempotence::new().with_backoff(cfg.retry_backoff.min(cfg.retry_backoff_max))
            }),
            cfg,
            stats: SenderStats::default(),
            stats_version: 0,
            in_flight: HashMap::new(),
            per_node: HashMap::new(),
            next_id: 1,
            retry_backoff,
            jitter: Jitter::new(0x9E37_79B9_7F4A_7C15),
            retry_log: crate::log_limit::LogLimiter::new(Duration::from_secs(10)),
            ready: ReadyCheck::default(),
            nodes: Vec::new(),
            spare_vecs: Vec::new(),
            metric_events: Vec::new(),
        }
    }

    /// An empty batch vector, reused if one is spare.
    fn batch_vec(&mut self) -> Vec<ProducerBatch> {
        self.spare_vecs.pop().unwrap_or_default()
    }

    /// Keeps an emptied batch vector for reuse (bounded).
    fn give_back(&mut self, mut v: Vec<ProducerBatch>) {
        if v.capacity() > 0 && self.spare_vecs.len() < MAX_SPARE_VECS {
            v.clear();
            self.spare_vecs.push(v);
        }
    }

    /// The settings.
    pub fn config(&self) -> &SenderConfig {
        &self.cfg
    }

    /// What the sender has done so far.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// Moves the retries and splits since the last call to `out` (for the metrics).
    pub fn take_metric_events(&mut self, out: &mut Vec<MetricEvent>) {
        out.append(&mut self.metric_events);
    }

    /// Changes whenever [`Sender::stats`] does.
    pub fn stats_version(&self) -> u64 {
        self.stats_version
    }

    /// The idempotent producer's state, when `enable.idempotence` is on.
    pub fn idempotence(&self) -> Option<&Idempotence> {
        self.idem.as_ref()
    }

    /// An InitProducerId request when the idempotent producer needs one now (first start, or an
    /// epoch bump once nothing is in flight). Send it to any broker and feed the answer to
    /// [`Sender::handle_init_producer_id`].
    pub fn init_request(&mut self, now: Instant) -> Option<InitProducerIdRequest> {
        let busy = !self.in_flight.is_empty();
        self.idem.as_mut()?.init_request(busy, now)
    }

    /// When a held-back InitProducerId may go.
    pub fn next_init(&self) -> Option<Instant> {
        self.idem.as_ref().and_then(Idempotence::next_init)
    }

    /// Applies an InitProducerId answer (`None`: the request failed; it is asked again after
    /// `retry.backoff.ms`).
    pub fn handle_init_producer_id(
        &mut self,
        response: Option<&InitProducerIdResponse>,
        now: Instant,
    ) {
        if let Some(idem) = self.idem.as_mut() {
            match response {
                Some(r) => idem.handle_init_response(r, now),
                None => idem.init_failed(now),
            }
        }
    }

    /// Makes this a transactional producer's sender: the transaction manager assigns producer
    /// ids and epochs ([`Sender::set_producer_id`]) and decides which partitions may be drained.
    pub fn make_transactional(&mut self) {
        self.idem = Some(Idempotence::transactional());
    }

    /// A producer id and epoch from the transaction coordinator: sequences restart at 0.
    pub fn set_producer_id(&mut self, pid: crate::idempotence::ProducerIdAndEpoch) {
        if let Some(idem) = self.idem.as_mut() {
            idem.set_producer_id(pid);
        }
    }

    /// The idempotent producer can't work with this cluster: every record fails with `err`.
    pub fn idempotence_unavailable(&mut self, err: ProduceError) {
        if let Some(idem) = self.idem.as_mut() {
            idem.set_fatal(err);
        }
    }

    /// Requests awaiting an answer.
    pub fn in_flight_requests(&self) -> usize {
        self.in_flight.len()
    }

    /// Requests awaiting an answer from `node`.
    pub fn in_flight_to(&self, node: i32) -> usize {
        self.per_node.get(&node).copied().unwrap_or(0)
    }

    /// The batches of drained request `id`, to close (compress, checksum) and encode; empty once
    /// the request is answered or failed.
    pub fn request_batches_mut(&mut self, id: u64) -> &mut [ProducerBatch] {
        match self.in_flight.get_mut(&id) {
            Some(f) => &mut f.batches,
            None => &mut [],
        }
    }

    /// Whether request `id` expects an answer (false with acks=0).
    pub fn expects_response(&self, id: u64) -> bool {
        self.in_flight.get(&id).is_some_and(|f| f.expects_response)
    }

    /// Request `id` was written to the socket. With acks=0 that completes its batches (offset
    /// unknown, nothing retried: Java's semantics); otherwise nothing happens until the answer.
    pub fn written(&mut self, id: u64, acc: &mut RecordAccumulator, out: &mut Vec<Completion>) {
        if self.expects_response(id) {
            return;
        }
        let Some(flight) = self.take(id) else {
            return;
        };
        let mut batches = flight.batches;
        for b in batches.drain(..) {
            acc.unmute(&b.tp);
            out.push(self.succeed(
                acc,
                b,
                Ok(BatchAck {
                    base_offset: -1,
                    log_append_time: -1,
                }),
            ));
        }
        self.give_back(batches);
    }

    /// Decides what to do now: expire batches past `delivery.timeout.ms`, drain ready batches into
    /// requests for leaders that `is_ready` (connected, able to take a request), name leaders to
    /// connect to. `out` is cleared first except for `completions`, which are appended to: its
    /// vectors are reused, so a caller that keeps one allocates nothing per round.
    pub fn poll_into(
        &mut self,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        is_ready: &dyn Fn(i32) -> bool,
        now: Instant,
        out: &mut SenderOutput,
    ) {
        self.poll_into_txn(acc, metadata, is_ready, None, now, out)
    }

    /// [`Sender::poll_into`] for a transactional producer: `txn` decides which partitions may
    /// be drained (in transaction protocol v1, those added to the transaction).
    pub(crate) fn poll_into_txn(
        &mut self,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        is_ready: &dyn Fn(i32) -> bool,
        mut txn: Option<&mut crate::txn::TransactionManager>,
        now: Instant,
        out: &mut SenderOutput,
    ) {
        // Completions are appended to: dropping one would fail its records.
        out.requests.clear();
        out.connect.clear();
        out.next_wakeup = None;

        // Batches that waited in the queue past delivery.timeout.ms.
        for batch in acc.expired(now) {
            out.completions.push(self.expire(acc, batch, now));
        }
        // Batches in flight past delivery.timeout.ms fail now; a late answer is ignored.
        let delivery_timeout = self.cfg.delivery_timeout;
        let mut expired_in_flight = Vec::new();
        for flight in self.in_flight.values_mut() {
            let mut i = 0;
            while i < flight.batches.len() {
                if now.saturating_duration_since(flight.batches[i].created) >= delivery_timeout {
                    expired_in_flight.push(flight.batches.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        for batch in expired_in_flight {
            acc.unmute(&batch.tp);
            out.completions.push(self.expire(acc, batch, now));
        }

        // A fatal idempotence error fails everything queued.
        if let Some(err) = self.idem.as_ref().and_then(|i| i.fatal_error().cloned()) {
            for batch in acc.abort_all() {
                out.completions.push(finish(acc, batch, Err(err.clone())));
            }
        }

        let cluster = metadata.cluster().clone();
        let mut ready = std::mem::take(&mut self.ready);
        let per_node = &self.per_node;
        acc.ready_into(
            &cluster,
            now,
            &|node| per_node.get(&node).is_some_and(|&n| n > 0),
            &mut ready,
        );
        if ready.unknown_leaders {
            metadata.request_update();
        }
        let mut nodes = std::mem::take(&mut self.nodes);
        nodes.clear();
        nodes.extend(ready.ready_nodes.iter().copied());
        nodes.sort_unstable();
        for &node in &nodes {
            if !is_ready(node) {
                out.connect.push(node);
                continue;
            }
            if self.in_flight_to(node) >= self.cfg.max_in_flight {
                continue;
            }
            let mut batches = self.batch_vec();
            match (self.idem.as_mut(), txn.as_deref_mut()) {
                (Some(idem), Some(txn)) => acc.drain_into(
                    &cluster,
                    node,
                    self.cfg.max_request_size,
                    now,
                    &mut TransactionalDrain { idem, txn },
                    &mut batches,
                ),
                (Some(idem), None) => acc.drain_into(
                    &cluster,
                    node,
                    self.cfg.max_request_size,
                    now,
                    &mut IdempotentDrain(idem),
                    &mut batches,
                ),
                (None, _) => acc.drain_into(
                    &cluster,
                    node,
                    self.cfg.max_request_size,
                    now,
                    &mut |_: &ProducerBatch| BatchHeader::PLAIN,
                    &mut batches,
                ),
            };
            if batches.is_empty() {
                self.give_back(batches);
                continue;
            }
            if self.cfg.max_in_flight == 1 {
                for b in &batches {
                    acc.mute(b.tp.clone());
                }
            }
            // Partitions of one topic side by side: the request groups them by topic in one pass.
            batches.sort_by(|a, b| a.tp.topic.cmp(&b.tp.topic));
            self.stats.produce_requests += 1;
            self.stats.batches += batches.len() as u64;
            self.stats.records += batches.iter().map(|b| b.record_count() as u64).sum::<u64>();
            *self.stats.requests_by_node.entry(node).or_default() += 1;
            self.stats_version += 1;
            let id = self.next_id;
            self.next_id += 1;
            let expects_response = self.cfg.acks != Acks::None;
            *self.per_node.entry(node).or_default() += 1;
            self.in_flight.insert(
                id,
                InFlight {
                    node,
                    batches,
                    expects_response,
                },
            );
            out.requests.push(OutgoingRequest { id, node });
        }

        // Leaders with queued data that we can't reach yet.
        nodes.clear();
        acc.nodes_with_data_into(&cluster, &mut nodes);
        for &node in &nodes {
            if !is_ready(node) && !out.connect.contains(&node) {
                out.connect.push(node);
            }
        }
        self.nodes = nodes;

        let mut wake = ready.next_check;
        if let Some(t) = self.next_init() {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        let in_flight_expiry = self
            .in_flight
            .values()
            .flat_map(|f| f.batches.iter().map(|b| b.created + delivery_timeout));
        for t in acc.next_expiry().into_iter().chain(in_flight_expiry) {
            wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
        }
        out.next_wakeup = wake;
        self.ready = ready;
    }

    /// The broker answered request `id`.
    pub fn handle_response(
        &mut self,
        id: u64,
        response: &ProduceResponse,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        now: Instant,
    ) -> Vec<Completion> {
        let mut out = Vec::new();
        self.handle_response_into(id, response, acc, metadata, now, &mut out);
        out
    }

    /// [`Sender::handle_response`], appending the completions to `out`.
    pub fn handle_response_into(
        &mut self,
        id: u64,
        response: &ProduceResponse,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        now: Instant,
        out: &mut Vec<Completion>,
    ) {
        let Some(mut batches) = self.answered(id) else {
            return; // already failed (timed out or disconnected)
        };
        // Each partition's answer, found in one pass (not one scan per batch).
        let answers: HashMap<(&str, i32), &PartitionProduceResponse> = response
            .responses
            .iter()
            .flat_map(|t| {
                t.partition_responses
                    .iter()
                    .map(move |p| ((t.name.0.as_str(), p.index), p))
            })
            .collect();
        for batch in batches.drain(..) {
            acc.unmute(&batch.tp);
            let part = answers
                .get(&(&*batch.tp.topic, batch.tp.partition))
                .copied();
            let Some(p) = part else {
                self.no_answer(acc, batch, now, out);
                continue;
            };
            match ErrorCode::from_i16(p.error_code) {
                None => out.push(self.succeed(
                    acc,
                    batch,
                    Ok(BatchAck {
                        base_offset: p.base_offset,
                        log_append_time: p.log_append_time_ms,
                    }),
                )),
                Some(code) => {
                    let mut message = p.error_message.as_ref().map(|m| m.to_string());
                    if !p.record_errors.is_empty() {
                        let detail: Vec<String> = p
                            .record_errors
                            .iter()
                            .map(|r| {
                                format!(
                                    "record {}: {}",
                                    r.batch_index,
                                    r.batch_index_error_message.as_deref().unwrap_or("invalid")
                                )
                            })
                            .collect();
                        message = Some(match message {
                            Some(m) => format!("{m}; {}", detail.join("; ")),
                            None => detail.join("; "),
                        });
                    }
                    if invalidates_metadata(code) {
                        metadata.request_update();
                        // KIP-951: the broker may name the new leader; use it at once.
                        let hint = &p.current_leader;
                        if hint.leader_id.0 >= 0 {
                            let endpoint = response
                                .node_endpoints
                                .iter()
                                .find(|e| e.node_id == hint.leader_id)
                                .map(|e| crate::metadata::BrokerInfo {
                                    node_id: e.node_id.0,
                                    host: e.host.to_string(),
                                    port: e.port,
                                });
                            metadata.apply_leader_hint(
                                &batch.tp.topic,
                                batch.tp.partition,
                                hint.leader_id.0,
                                hint.leader_epoch,
                                endpoint,
                            );
                        }
                    }
                    let err = ProduceError::Broker {
                        topic: batch.tp.topic.to_string(),
                        partition: batch.tp.partition,
                        code,
                        message,
                    };
                    // Too large for the broker but several records: split and resend (Java).
                    let batch = if code == ErrorCode::MESSAGE_TOO_LARGE && batch.record_count() > 1
                    {
                        let snapshot = (batch.tp.clone(), batch.stamped);
                        match acc.split_and_reenqueue(batch, now) {
                            Ok(pieces) => {
                                if let Some(idem) = self.idem.as_mut() {
                                    idem.on_split_of(&snapshot.0, snapshot.1, &pieces);
                                }
                                self.stats.splits += 1;
                                self.stats_version += 1;
                                self.metric_events.push(MetricEvent::Split);
                                continue;
                            }
                            Err(batch) => *batch,
                        }
                    } else {
                        batch
                    };
                    out.extend(self.retry_or_fail(acc, batch, err, Some(code), now));
                }
            }
        }
        self.give_back(batches);
    }

    /// The broker answered request `id` with no error for any partition; `ack(i, tp)` gives the
    /// acknowledgement of the request's `i`-th batch, of partition `tp` (the core reads them from
    /// the frame without building a `ProduceResponse`). A batch with no answer is retried as in
    /// [`Sender::handle_response`]. Completions are appended to `out`.
    pub fn handle_acks_into(
        &mut self,
        id: u64,
        ack: &mut dyn FnMut(usize, &crate::accumulator::TopicPartition) -> Option<BatchAck>,
        acc: &mut RecordAccumulator,
        now: Instant,
        out: &mut Vec<Completion>,
    ) {
        let Some(mut batches) = self.answered(id) else {
            return; // already failed (timed out or disconnected)
        };
        for (i, batch) in batches.drain(..).enumerate() {
            acc.unmute(&batch.tp);
            match ack(i, &batch.tp) {
                Some(a) => out.push(self.succeed(acc, batch, Ok(a))),
                None => self.no_answer(acc, batch, now, out),
            }
        }
        self.give_back(batches);
    }

    /// The batches of answered request `id` (no longer in flight), or `None` if it already
    /// failed (timed out or disconnected). Hand the emptied vector to `give_back`.
    fn answered(&mut self, id: u64) -> Option<Vec<ProducerBatch>> {
        self.take(id)
            .map(|mut flight| std::mem::take(&mut flight.batches))
    }

    /// A batch the broker's answer does not mention: retried like a lost request.
    fn no_answer(
        &mut self,
        acc: &mut RecordAccumulator,
        batch: ProducerBatch,
        now: Instant,
        out: &mut Vec<Completion>,
    ) {
        let msg = format!("no answer for {} in the Produce response", batch.tp);
        out.extend(self.retry_or_fail(acc, batch, ProduceError::Protocol(msg), None, now));
    }

    /// Request `id` failed without an answer (connection lost). Its batches are retried or failed.
    pub fn handle_failure(
        &mut self,
        id: u64,
        reason: &str,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        now: Instant,
    ) -> Vec<Completion> {
        let Some(flight) = self.take(id) else {
            return Vec::new();
        };
        metadata.request_update();
        let mut out = Vec::new();
        for batch in flight.batches {
            acc.unmute(&batch.tp);
            let err =
                ProduceError::Network(format!("{reason} (broker {}, {})", flight.node, batch.tp));
            out.extend(self.retry_or_fail(acc, batch, err, None, now));
        }
        out
    }

    /// Fails request `id`'s batches without retrying (e.g. the broker speaks no usable version).
    pub fn fail_request(
        &mut self,
        id: u64,
        err: ProduceError,
        acc: &mut RecordAccumulator,
    ) -> Vec<Completion> {
        let Some(flight) = self.take(id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for b in flight.batches {
            acc.unmute(&b.tp);
            if let Some(idem) = self.idem.as_mut() {
                idem.on_failed(&b);
            }
            out.push(finish(acc, b, Err(err.clone())));
        }
        out
    }

    /// Fails everything in flight (abortive close).
    pub fn abort_all(&mut self, acc: &mut RecordAccumulator, err: ProduceError) -> Vec<Completion> {
        let mut out = Vec::new();
        for (_, f) in self.in_flight.drain() {
            for b in f.batches {
                acc.unmute(&b.tp);
                out.push(finish(acc, b, Err(err.clone())));
            }
        }
        self.per_node.clear();
        out
    }

    /// Fails every batch waiting in the accumulator with `err` (an authentication failure):
    /// a batch that already had a sequence (a retry) tells idempotence, which then bumps the
    /// epoch so the partition's later batches don't leave a gap.
    pub fn fail_queued(
        &mut self,
        acc: &mut RecordAccumulator,
        err: &ProduceError,
    ) -> Vec<Completion> {
        let mut out = Vec::new();
        for b in acc.abort_all() {
            if let Some(idem) = self.idem.as_mut() {
                idem.on_failed(&b);
            }
            out.push(finish(acc, b, Err(err.clone())));
        }
        out
    }

    fn take(&mut self, id: u64) -> Option<InFlight> {
        let f = self.in_flight.remove(&id)?;
        if let Some(n) = self.per_node.get_mut(&f.node) {
            *n = n.saturating_sub(1);
        }
        Some(f)
    }

    /// Retries the batch or completes it. `code` is the broker's error (`None`: the request
    /// got no usable answer, which is always retriable).
    fn retry_or_fail(
        &mut self,
        acc: &mut RecordAccumulator,
        batch: ProducerBatch,
        err: ProduceError,
        code: Option<ErrorCode>,
        now: Instant,
    ) -> Option<Completion> {
        let within_deadline =
            now.saturating_duration_since(batch.created) < self.cfg.delivery_timeout;
        let retries_left = i64::from(batch.attempts) - 1 < i64::from(self.cfg.retries);
        let allowed = within_deadline && retries_left;
        let retriable = code.is_none_or(|c| c.is_retriable());
        let decision = match (self.idem.as_mut(), code) {
            (Some(idem), Some(code)) => idem.on_error(&batch, code, allowed),
            (Some(idem), None) if !allowed => idem.on_failed(&batch),
            _ if retriable && allowed => ErrorDecision::Retry,
            _ => ErrorDecision::Fail,
        };
        match decision {
            ErrorDecision::Retry => {
                // A broker that answered with a retriable error is alive: the retry goes after
                // retry.backoff.ms (±20 %) without growth, so a storm of spoiled answers meets as
                // many retries as the configured pace allows (growing to retry.backoff.max.ms
                // would let the storm spoil every attempt). A request that got no answer (a
                // timeout, a lost connection) backs off exponentially up to retry.backoff.max.ms,
                // sparing a broker that may be overloaded (Java's ExponentialBackoff).
                let growth = if code.is_some() {
                    0
                } else {
                    batch.attempts.saturating_sub(1)
                };
                let backoff = self.retry_backoff.backoff(growth, &mut self.jitter);
                tracing::debug!(tp = %batch.tp, attempts = batch.attempts, ?backoff, error = %err, "retrying batch");
                let name = code.map_or("NETWORK_EXCEPTION", |c| c.name());
                if let Some(held) = self.retry_log.allow(name, now) {
                    let left = i64::from(self.cfg.retries) - i64::from(batch.attempts) + 1;
                    let held = if held > 0 {
                        format!(" ({held} more retries for {name} in the last 10 s not logged)")
                    } else {
                        String::new()
                    };
                    tracing::warn!(
                        "Got error produce response on topic-partition {}, retrying ({left} attempts left). Error: {name}: {err}{held}",
                        batch.tp
                    );
                }
                self.stats.retries += 1;
                self.stats_version += 1;
                self.metric_events.push(MetricEvent::Retry {
                    topic: batch.tp.topic.clone(),
                    records: batch.record_count(),
                });
                acc.reenqueue(batch, backoff, now);
                None
            }
            // The broker already has it (DUPLICATE_SEQUENCE_NUMBER): the offset is unknown.
            ErrorDecision::AlreadyWritten => Some(finish(
                acc,
                batch,
                Ok(BatchAck {
                    base_offset: -1,
                    log_append_time: -1,
                }),
            )),
            ErrorDecision::Fail => Some(finish(acc, batch, Err(err))),
        }
    }

    fn succeed(
        &mut self,
        acc: &mut RecordAccumulator,
        batch: ProducerBatch,
        result: Result<BatchAck, ProduceError>,
    ) -> Completion {
        if let Some(idem) = self.idem.as_mut() {
            idem.on_success(&batch);
        }
        finish(acc, batch, result)
    }

    fn expire(
        &mut self,
        acc: &mut RecordAccumulator,
        batch: ProducerBatch,
        now: Instant,
    ) -> Completion {
        if let Some(idem) = self.idem.as_mut() {
            idem.on_failed(&batch);
        }
        let err = ProduceError::DeliveryTimeout {
            topic: batch.tp.topic.to_string(),
            partition: batch.tp.partition,
            records: batch.record_count(),
            elapsed_ms: now.saturating_duration_since(batch.created).as_millis() as u64,
        };
        finish(acc, batch, Err(err))
    }
}

/// The idempotent producer's drain rules: no batch before a producer id; a retried batch only
/// when it is the oldest in flight for its partition; sequences assigned in drain order.
struct IdempotentDrain<'a>(&'a mut Idempotence);

impl DrainPolicy for IdempotentDrain<'_> {
    fn may_drain(&mut self, first: &ProducerBatch) -> bool {
        self.0.may_drain(first)
    }

    fn stamp(&mut self, batch: &ProducerBatch) -> BatchHeader {
        self.0.stamp(batch)
    }
}

/// A transactional producer's drain rules: the idempotent ones, and only partitions the
/// transaction manager lets through.
struct TransactionalDrain<'a> {
    idem: &'a mut Idempotence,
    txn: &'a mut crate::txn::TransactionManager,
}

impl DrainPolicy for TransactionalDrain<'_> {
    fn may_drain(&mut self, first: &ProducerBatch) -> bool {
        self.txn.may_send(&first.tp) && self.idem.may_drain(first)
    }

    fn stamp(&mut self, batch: &ProducerBatch) -> BatchHeader {
        self.idem.stamp(batch)
    }
}

fn finish(
    acc: &mut RecordAccumulator,
    mut batch: ProducerBatch,
    result: Result<BatchAck, ProduceError>,
) -> Completion {
    acc.deallocate(&mut batch);
    Completion { batch, result }
}

/// Errors after which the leader we used is probably wrong (Java's `InvalidMetadataException`).
fn invalidates_metadata(code: ErrorCode) -> bool {
    code.is_invalid_metadata()
}

/// One Produce request with one batch per partition, grouped by topic.
pub fn build_request(batches: &[ProducerBatch], acks: Acks, timeout: Duration) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for b in batches {
        let data = PartitionProduceData::default()
            .with_index(b.tp.partition)
            .with_records(Some(b.wire_bytes().to_bytes()));
        match topics
            .iter_mut()
            .find(|t| t.name.0.as_str() == &*b.tp.topic)
        {
            Some(t) => t.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(b.tp.topic.to_string())))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(acks.as_i16())
        .with_timeout_ms(timeout.as_millis().min(i32::MAX as u128) as i32)
        .with_topic_data(topics)
}

#[cfg(test)]
mod tests;
