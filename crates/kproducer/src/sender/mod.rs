//! The Sender's decisions (Java's `Sender`), free of I/O and clocks.
//!
//! Inputs (`handle_*`) and outputs (`poll`), quinn-style. The driver calls, in a loop:
//! 1. [`Sender::poll`]`(now)` → Produce requests to write (one per broker, many partitions each),
//!    batches to complete, brokers to connect to or drop, and when to call again;
//! 2. [`Sender::handle_response`] / [`Sender::handle_failure`] as answers or errors arrive.
//!
//! Completions come back as values; the driver runs them (futures, callbacks, interceptors)
//! outside its lock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::accumulator::{BatchAck, DrainPolicy, ProducerBatch, ReadyCheck, RecordAccumulator};
use crate::config::Acks;
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

/// A Produce request to write to `node`.
#[derive(Debug)]
pub struct OutgoingRequest {
    /// Pass back to [`Sender::handle_response`] / [`Sender::handle_failure`].
    pub id: u64,
    /// Leader to send it to.
    pub node: i32,
    /// `acks` as sent.
    pub acks: i16,
    /// The request's `timeout_ms` (`request.timeout.ms`).
    pub timeout_ms: i32,
    /// One closed batch per partition: the request is encoded straight from these
    /// ([`OutgoingRequest::to_request`] builds kafka-protocol's form).
    pub parts: Vec<RequestPart>,
    /// False with acks=0: the broker does not answer.
    pub expects_response: bool,
    /// The batches' close was deferred (see [`RecordAccumulator::set_defer_close`]):
    /// `parts` is empty until filled from the batches taken with [`Sender::take_deferred`]
    /// (see [`OutgoingRequest::fill_parts`]) and given back with [`Sender::restore_deferred`].
    pub deferred: bool,
}

/// One partition's closed batch in an [`OutgoingRequest`].
#[derive(Debug, Clone)]
pub struct RequestPart {
    /// Topic.
    pub topic: std::sync::Arc<str>,
    /// Partition id.
    pub partition: i32,
    /// The batch's wire bytes (shared, not copied).
    pub records: crate::protocol::record_batch::WireBuf,
}

impl crate::network::ProducePart for RequestPart {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn partition(&self) -> i32 {
        self.partition
    }
    fn records(&self) -> &crate::protocol::record_batch::WireBuf {
        &self.records
    }
}

impl OutgoingRequest {
    /// Sets `parts` from closed batches (a deferred request, once its batches are closed).
    pub fn fill_parts(&mut self, batches: &[ProducerBatch]) {
        self.parts.clear();
        self.parts.extend(batches.iter().map(|b| RequestPart {
            topic: b.tp.topic.clone(),
            partition: b.tp.partition,
            records: b.wire_bytes(),
        }));
    }

    /// The request as kafka-protocol's `ProduceRequest` (same bytes on the wire; allocates,
    /// so the driver does not use it).
    pub fn to_request(&self) -> ProduceRequest {
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for p in &self.parts {
            let data = PartitionProduceData::default()
                .with_index(p.partition)
                .with_records(Some(p.records.to_bytes()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == &*p.topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(p.topic.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        ProduceRequest::default()
            .with_acks(self.acks)
            .with_timeout_ms(self.timeout_ms)
            .with_topic_data(topics)
    }
}

/// A batch whose fate is decided.
#[derive(Debug)]
pub struct Completion {
    /// The batch (its memory is already returned to the pool).
    pub batch: ProducerBatch,
    /// Its result.
    pub result: Result<BatchAck, ProduceError>,
}

/// What [`Sender::poll`] decided.
#[derive(Debug, Default)]
pub struct SenderOutput {
    /// Requests to write now.
    pub requests: Vec<OutgoingRequest>,
    /// Batches to complete.
    pub completions: Vec<Completion>,
    /// Leaders with data but no connection: connect to them.
    pub connect: Vec<i32>,
    /// Connections to drop (a request on them timed out).
    pub disconnect: Vec<i32>,
    /// Call `poll` again by then at the latest.
    pub next_wakeup: Option<Instant>,
    /// Send this InitProducerId request to any broker and feed the answer to
    /// [`Sender::handle_init_producer_id`].
    pub init_producer_id: Option<InitProducerIdRequest>,
    /// Emptied `parts` vectors of requests already written, for the next requests: a driver
    /// that gives them back here allocates none per request.
    pub spare_parts: Vec<Vec<RequestPart>>,
}

#[derive(Debug)]
struct InFlight {
    node: i32,
    batches: Vec<ProducerBatch>,
    deadline: Instant,
}

/// Counters of what the sender did (a small subset of Java's producer metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// In-flight bookkeeping, retries and timeouts.
#[derive(Debug)]
pub struct Sender {
    cfg: SenderConfig,
    stats: SenderStats,
    idem: Option<Idempotence>,
    in_flight: HashMap<u64, InFlight>,
    per_node: HashMap<i32, usize>,
    next_id: u64,
    jitter_state: u64,
    /// Scratch reused by every poll: which leaders are ready, in order.
    ready: ReadyCheck,
    nodes: Vec<i32>,
    /// Emptied batch vectors of finished requests, reused for new ones (bounded by
    /// [`MAX_SPARE_VECS`]).
    spare_vecs: Vec<Vec<ProducerBatch>>,
}

/// Batch vectors kept for reuse: more than the requests usually in flight.
const MAX_SPARE_VECS: usize = 64;

impl Sender {
    /// A sender with nothing in flight.
    pub fn new(cfg: SenderConfig) -> Self {
        Sender {
            idem: cfg
                .idempotence
                .then(|| Idempotence::new().with_backoff(cfg.retry_backoff)),
            cfg,
            stats: SenderStats::default(),
            in_flight: HashMap::new(),
            per_node: HashMap::new(),
            next_id: 1,
            jitter_state: 0x9E37_79B9_7F4A_7C15,
            ready: ReadyCheck::default(),
            nodes: Vec::new(),
            spare_vecs: Vec::new(),
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

    /// What the sender has done so far.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// The idempotent producer's state, when `enable.idempotence` is on.
    pub fn idempotence(&self) -> Option<&Idempotence> {
        self.idem.as_ref()
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

    /// The idempotent producer can't work with this cluster: every record fails with `err`.
    pub fn idempotence_unavailable(&mut self, err: ProduceError) {
        if let Some(idem) = self.idem.as_mut() {
            idem.set_fatal(err);
        }
    }

    /// Takes the batches of a request whose close was deferred, to close them and build the
    /// request without the producer's lock; give them back with [`Sender::restore_deferred`]
    /// before anything else touches the sender (the request still counts as in flight).
    pub fn take_deferred(&mut self, id: u64) -> Vec<ProducerBatch> {
        self.in_flight
            .get_mut(&id)
            .map(|f| std::mem::take(&mut f.batches))
            .unwrap_or_default()
    }

    /// Puts back batches taken with [`Sender::take_deferred`], now closed
    /// ([`ProducerBatch::run_deferred_close`]), and reports their compression ratios to the
    /// accumulator.
    pub fn restore_deferred(
        &mut self,
        id: u64,
        mut batches: Vec<ProducerBatch>,
        acc: &mut RecordAccumulator,
        now: Instant,
    ) {
        for b in &mut batches {
            if let Some(ratio) = b.take_compression_ratio() {
                acc.observe_compression(&b.tp.topic, ratio);
            }
        }
        match self.in_flight.get_mut(&id) {
            // Usually empty (taken whole): take the vector back rather than copy into a new one.
            Some(f) if f.batches.is_empty() => {
                let empty = std::mem::replace(&mut f.batches, batches);
                self.give_back(empty);
            }
            Some(f) => f.batches.append(&mut batches),
            // Not expected (nothing runs between take and restore); don't lose the batches.
            None => {
                for b in batches {
                    acc.reenqueue(b, Duration::ZERO, now);
                }
            }
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

    /// Decides what to do now: expire, drain ready batches into requests, time out requests.
    pub fn poll(
        &mut self,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        is_connected: &dyn Fn(i32) -> bool,
        now: Instant,
    ) -> SenderOutput {
        let mut out = SenderOutput::default();
        self.poll_into(acc, metadata, is_connected, now, &mut out);
        out
    }

    /// [`Sender::poll`] into `out`, cleared first except for `completions`, which are appended
    /// to: its vectors are reused, so a driver that keeps one allocates nothing per round.
    pub fn poll_into(
        &mut self,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        is_connected: &dyn Fn(i32) -> bool,
        now: Instant,
        out: &mut SenderOutput,
    ) {
        // Completions are appended to: dropping one would fail its records.
        out.requests.clear();
        out.connect.clear();
        out.disconnect.clear();
        out.next_wakeup = None;
        out.init_producer_id = None;

        // Requests past request.timeout.ms: the broker is stalled. Drop the connection; its
        // in-flight batches are retried or failed (Java closes the connection too).
        let timed_out: Vec<i32> = self
            .in_flight
            .values()
            .filter(|f| f.deadline <= now)
            .map(|f| f.node)
            .collect();
        for node in dedup(timed_out) {
            out.disconnect.push(node);
            let msg = format!(
                "request to broker {node} timed out after {} ms (request.timeout.ms)",
                self.cfg.request_timeout.as_millis()
            );
            out.completions
                .extend(self.fail_node(node, &msg, acc, metadata, now));
        }

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

        // The idempotent producer needs an id before anything is sent; a fatal error fails all.
        if let Some(idem) = self.idem.as_mut() {
            if let Some(err) = idem.fatal_error().cloned() {
                for batch in acc.abort_all() {
                    out.completions.push(finish(acc, batch, Err(err.clone())));
                }
            }
            out.init_producer_id = idem.init_request(!self.in_flight.is_empty(), now);
            if let Some(t) = idem.next_init() {
                out.next_wakeup = Some(t);
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
            if !is_connected(node) {
                out.connect.push(node);
                continue;
            }
            if self.in_flight_to(node) >= self.cfg.max_in_flight {
                continue;
            }
            let mut batches = self.batch_vec();
            match self.idem.as_mut() {
                Some(idem) => acc.drain_into(
                    &cluster,
                    node,
                    self.cfg.max_request_size,
                    now,
                    &mut IdempotentDrain(idem),
                    &mut batches,
                ),
                None => acc.drain_into(
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
            let mut batches = batches;
            if self.cfg.acks == Acks::None {
                // Completed as soon as written: their bytes are needed now.
                for b in &mut batches {
                    if let Some(ratio) = b.close_deferred() {
                        acc.observe_compression(&b.tp.topic, ratio);
                    }
                }
            }
            let deferred = batches.iter().any(ProducerBatch::close_is_deferred);
            let mut request = OutgoingRequest {
                id: 0,
                node,
                acks: self.cfg.acks.as_i16(),
                timeout_ms: self.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32,
                parts: out.spare_parts.pop().unwrap_or_default(),
                expects_response: self.cfg.acks != Acks::None,
                deferred,
            };
            if !deferred {
                request.fill_parts(&batches);
            }
            self.stats.produce_requests += 1;
            self.stats.batches += batches.len() as u64;
            self.stats.records += batches.iter().map(|b| b.record_count() as u64).sum::<u64>();
            *self.stats.requests_by_node.entry(node).or_default() += 1;
            let id = self.next_id;
            self.next_id += 1;
            request.id = id;
            if self.cfg.acks == Acks::None {
                // No answer will come: the batches are done once written (offset unknown).
                for b in batches.drain(..) {
                    acc.unmute(&b.tp);
                    out.completions.push(finish(
                        acc,
                        b,
                        Ok(BatchAck {
                            base_offset: -1,
                            log_append_time: -1,
                        }),
                    ));
                }
                self.give_back(batches);
                out.requests.push(request);
            } else {
                *self.per_node.entry(node).or_default() += 1;
                self.in_flight.insert(
                    id,
                    InFlight {
                        node,
                        batches,
                        deadline: now + self.cfg.request_timeout,
                    },
                );
                out.requests.push(request);
            }
        }

        // Leaders with queued data that we can't reach yet.
        nodes.clear();
        acc.nodes_with_data_into(&cluster, &mut nodes);
        for &node in &nodes {
            if !is_connected(node) && !out.connect.contains(&node) {
                out.connect.push(node);
            }
        }
        self.nodes = nodes;

        let mut wake = match (ready.next_check, out.next_wakeup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let in_flight_expiry = self
            .in_flight
            .values()
            .flat_map(|f| f.batches.iter().map(|b| b.created + delivery_timeout));
        for t in self
            .in_flight
            .values()
            .map(|f| f.deadline)
            .chain(acc.next_expiry())
            .chain(in_flight_expiry)
        {
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
        for batch in batches.drain(..) {
            acc.unmute(&batch.tp);
            let part = response
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == &*batch.tp.topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == batch.tp.partition);
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

    /// The broker answered request `id` with no error for any partition; `ack(topic,
    /// partition)` gives each partition's acknowledgement (the driver reads them from the frame
    /// without building a `ProduceResponse`). A batch with no answer is retried as in
    /// [`Sender::handle_response`]. Completions are appended to `out`.
    pub fn handle_acks_into(
        &mut self,
        id: u64,
        ack: &dyn Fn(&str, i32) -> Option<BatchAck>,
        acc: &mut RecordAccumulator,
        now: Instant,
        out: &mut Vec<Completion>,
    ) {
        let Some(mut batches) = self.answered(id) else {
            return; // already failed (timed out or disconnected)
        };
        for batch in batches.drain(..) {
            acc.unmute(&batch.tp);
            match ack(&batch.tp.topic, batch.tp.partition) {
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

    /// The connection to `node` is gone: every request in flight there failed.
    pub fn handle_disconnect(
        &mut self,
        node: i32,
        reason: &str,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        now: Instant,
    ) -> Vec<Completion> {
        self.fail_node(node, reason, acc, metadata, now)
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

    fn fail_node(
        &mut self,
        node: i32,
        reason: &str,
        acc: &mut RecordAccumulator,
        metadata: &mut Metadata,
        now: Instant,
    ) -> Vec<Completion> {
        let mut ids: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.node == node)
            .map(|(id, _)| *id)
            .collect();
        // Retry in send order so batches of one partition stay in order.
        ids.sort_unstable();
        ids.reverse();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.handle_failure(id, reason, acc, metadata, now));
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
                let backoff = self.backoff(batch.attempts);
                tracing::debug!(tp = %batch.tp, attempts = batch.attempts, ?backoff, error = %err, "retrying batch");
                self.stats.retries += 1;
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

    /// `retry.backoff.ms * 2^(attempts-1)`, capped at `retry.backoff.max.ms`, ±20 % jitter (Java's
    /// `ExponentialBackoff`).
    fn backoff(&mut self, attempts: u32) -> Duration {
        let base = self.cfg.retry_backoff.as_secs_f64();
        let max = self.cfg.retry_backoff_max.as_secs_f64().max(base);
        let exp = base * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
        // xorshift: deterministic, no clock or global RNG.
        self.jitter_state ^= self.jitter_state << 13;
        self.jitter_state ^= self.jitter_state >> 7;
        self.jitter_state ^= self.jitter_state << 17;
        let unit = (self.jitter_state >> 11) as f64 / (1u64 << 53) as f64;
        let jitter = 0.8 + 0.4 * unit;
        Duration::from_secs_f64((exp.min(max) * jitter).min(max))
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

fn dedup(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v.dedup();
    v
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
