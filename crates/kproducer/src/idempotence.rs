//! The idempotent producer's state (Java's `TransactionManager`, idempotent part): producer id
//! and epoch, per-partition sequence numbers, and the recovery rules after errors.
//!
//! Sans-IO. The [`Sender`](crate::sender::Sender) asks it:
//! - whether a producer id is needed ([`Idempotence::init_request`]) and feeds the answer back;
//! - whether a partition's first queued batch may be drained now ([`Idempotence::may_drain`]) —
//!   a retried batch goes out only when it is the oldest sequence in flight, so the broker
//!   always sees sequences in order;
//! - the header (producer id, epoch, base sequence) for a batch being drained
//!   ([`Idempotence::stamp`]);
//! - what to do with a broker error ([`Idempotence::on_error`]).
//!
//! Recovery follows KIP-360: when the broker lost our state (UNKNOWN_PRODUCER_ID) or a sequence
//! gap is real (OUT_OF_ORDER_SEQUENCE_NUMBER for the next expected batch), or a batch with a
//! sequence failed for good (so its sequence is unresolved), the producer bumps its epoch with
//! InitProducerId once nothing is in flight, and every partition starts again at sequence 0.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::accumulator::{ProducerBatch, TopicPartition};
use crate::error::ProduceError;
use crate::protocol::errors::ErrorCode;
use crate::protocol::record_batch::BatchHeader;

/// A producer id and epoch assigned by the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    /// Producer id.
    pub id: i64,
    /// Epoch.
    pub epoch: i16,
}

/// Sequence bookkeeping for one partition.
#[derive(Debug, Clone)]
struct PartitionSeq {
    /// Next sequence to assign.
    next: i32,
    /// Last sequence the broker acknowledged (-1: none yet).
    last_acked: i32,
    /// Lowest base sequence the broker acknowledged under this epoch (`None`: none yet). Once
    /// set, the broker keeps state for this producer on the partition, so it accepts only
    /// sequences that follow on.
    first_acked: Option<i32>,
    /// Batches sent (or being retried) with a sequence, by base sequence → record count.
    in_flight: BTreeMap<i32, i32>,
}

impl Default for PartitionSeq {
    fn default() -> Self {
        Self::new()
    }
}

impl PartitionSeq {
    fn new() -> Self {
        PartitionSeq {
            next: 0,
            last_acked: -1,
            first_acked: None,
            in_flight: BTreeMap::new(),
        }
    }
}

/// Where the producer id stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdState {
    /// No id yet: ask for one.
    Uninitialized,
    /// InitProducerId is in flight.
    Initializing,
    /// Batches may be stamped.
    Ready,
    /// The id or its sequences can't be trusted: bump the epoch once nothing is in flight.
    BumpRequired,
    /// A fatal error (e.g. authorization): every batch fails with it.
    Fatal(ProduceError),
}

/// What to do with a batch the broker answered with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDecision {
    /// Retry it (its sequence stays).
    Retry,
    /// Treat it as written (DUPLICATE_SEQUENCE_NUMBER): complete with offset -1.
    AlreadyWritten,
    /// Fail it.
    Fail,
}

/// Producer id, epoch and sequences for an idempotent producer.
///
/// ```
/// use kproducer::internals::idempotence::Idempotence;
/// let mut idem = Idempotence::new();
/// assert!(!idem.is_ready());
/// assert!(idem.init_request(false, std::time::Instant::now()).is_some(), "asks for a producer id first");
/// ```
#[derive(Debug)]
pub struct Idempotence {
    pid: Option<ProducerIdAndEpoch>,
    state: IdState,
    partitions: HashMap<TopicPartition, PartitionSeq>,
    /// Epoch bumps done (for tests and stats).
    bumps: u32,
    /// No InitProducerId before this (backoff after a failed one).
    not_before: Option<Instant>,
    backoff: Duration,
    /// A transactional producer: the transaction manager assigns the producer id and epoch
    /// ([`Idempotence::set_producer_id`]) and batches carry the transactional bit.
    transactional: bool,
}

impl Default for Idempotence {
    fn default() -> Self {
        Self::new()
    }
}

impl Idempotence {
    /// Waits `backoff` (`retry.backoff.ms`) after a failed InitProducerId.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// When the next InitProducerId may be sent, if it is held back.
    pub fn next_init(&self) -> Option<Instant> {
        match self.state {
            IdState::Uninitialized | IdState::BumpRequired => self.not_before,
            _ => None,
        }
    }

    /// The producer can't continue (e.g. no broker supports InitProducerId).
    pub fn set_fatal(&mut self, err: ProduceError) {
        self.state = IdState::Fatal(err);
    }

    /// A producer without an id yet.
    pub fn new() -> Self {
        Idempotence {
            pid: None,
            state: IdState::Uninitialized,
            partitions: HashMap::new(),
            bumps: 0,
            not_before: None,
            backoff: Duration::from_millis(100),
            transactional: false,
        }
    }

    /// The state of a transactional producer: no InitProducerId of its own (the transaction
    /// manager sends it to the coordinator and calls [`Idempotence::set_producer_id`]).
    pub fn transactional() -> Self {
        Idempotence {
            transactional: true,
            ..Idempotence::new()
        }
    }

    /// Whether this is a transactional producer's state.
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// A producer id and epoch from the transaction coordinator (InitProducerId, or EndTxn v5's
    /// bump): every partition starts again at sequence 0.
    pub fn set_producer_id(&mut self, pid: ProducerIdAndEpoch) {
        if self.pid.is_some() && self.pid != Some(pid) {
            self.bumps += 1;
        }
        self.pid = Some(pid);
        for p in self.partitions.values_mut() {
            *p = PartitionSeq::new();
        }
        if !matches!(self.state, IdState::Fatal(_)) {
            self.state = IdState::Ready;
        }
    }

    /// Sequences can't be trusted until the epoch changes (a transactional producer waits for
    /// the transaction manager's new epoch).
    pub fn needs_bump(&self) -> bool {
        self.state == IdState::BumpRequired
    }

    /// Whether batches can be stamped and sent.
    pub fn is_ready(&self) -> bool {
        self.state == IdState::Ready
    }

    /// The current producer id and epoch.
    pub fn producer_id_and_epoch(&self) -> Option<ProducerIdAndEpoch> {
        self.pid
    }

    /// Epoch bumps so far.
    pub fn epoch_bumps(&self) -> u32 {
        self.bumps
    }

    /// The fatal error, if the producer can't continue.
    pub fn fatal_error(&self) -> Option<&ProduceError> {
        match &self.state {
            IdState::Fatal(e) => Some(e),
            _ => None,
        }
    }

    /// An InitProducerId request when one is due: first start, or an epoch bump once nothing
    /// is `in_flight`. Marks it in flight.
    pub fn init_request(&mut self, in_flight: bool, now: Instant) -> Option<InitProducerIdRequest> {
        if self.transactional {
            return None;
        }
        if self.not_before.is_some_and(|t| now < t) {
            return None;
        }
        let due = match self.state {
            IdState::Uninitialized => true,
            IdState::BumpRequired => !in_flight,
            _ => false,
        };
        if !due {
            return None;
        }
        self.state = IdState::Initializing;
        // With the current id and epoch the broker bumps the epoch (v3+, KIP-360); the driver
        // downgrades to a fresh id on older brokers by sending -1/-1 (see `init_request_fields`).
        let (id, epoch) = self.pid.map_or((-1, -1), |p| (p.id, p.epoch));
        Some(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX)
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
        )
    }

    /// The InitProducerId request failed: ask again after the backoff.
    pub fn init_failed(&mut self, now: Instant) {
        self.not_before = Some(now + self.backoff);
        if self.state == IdState::Initializing {
            self.state = if self.pid.is_some() {
                IdState::BumpRequired
            } else {
                IdState::Uninitialized
            };
        }
    }

    /// Applies an InitProducerId answer. A new epoch restarts every partition at sequence 0.
    pub fn handle_init_response(&mut self, resp: &InitProducerIdResponse, now: Instant) {
        match ErrorCode::from_i16(resp.error_code) {
            None => {
                if self.pid.is_some() {
                    self.bumps += 1;
                }
                self.pid = Some(ProducerIdAndEpoch {
                    id: resp.producer_id.0,
                    epoch: resp.producer_epoch,
                });
                // Sequences restart under the new (id, epoch); batches still queued with an old
                // sequence get a new one when drained.
                for p in self.partitions.values_mut() {
                    *p = PartitionSeq::new();
                }
                self.state = IdState::Ready;
            }
            Some(code)
                if code.is_retriable() || code == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS =>
            {
                self.init_failed(now);
            }
            Some(code) => {
                self.state = IdState::Fatal(ProduceError::Broker {
                    topic: String::new(),
                    partition: -1,
                    code,
                    message: Some(
                        "InitProducerId failed: the idempotent producer cannot continue".into(),
                    ),
                });
            }
        }
    }

    /// Whether the first queued batch of its partition may be drained now.
    pub fn may_drain(&self, first: &ProducerBatch) -> bool {
        if !self.is_ready() {
            return false;
        }
        let Some(seq) = self.current_sequence(first) else {
            // A new batch gets the next sequence. Until the broker acknowledged a batch of this
            // epoch on the partition it keeps no state for us and accepts any sequence, so a later
            // batch could overtake an earlier one that failed unwritten, leaving a gap no retry
            // can fill: one batch at a time until then (a round trip per partition at start).
            return self
                .partitions
                .get(&first.tp)
                .is_none_or(|p| p.first_acked.is_some() || p.in_flight.is_empty());
        };
        let Some(p) = self.partitions.get(&first.tp) else {
            return true;
        };
        if p.first_acked.is_some() {
            // The broker keeps our sequence state on this partition and refuses a batch that
            // does not follow on (OUT_OF_ORDER_SEQUENCE_NUMBER, which is retried in order): a
            // retried batch goes at once, and the batches behind it follow it pipelined, as new
            // ones do. (The queue holds retries in sequence order, so every lower sequence is
            // already on its way.) Java keeps one batch in flight while retrying, which under a
            // storm of spoiled requests sends fewer requests than the storm spoils: the partition
            // stalls until delivery.timeout.ms.
            return true;
        }
        // No state on the broker yet (it would accept any sequence): the oldest first, alone.
        p.in_flight
            .keys()
            .next()
            .copied()
            .is_none_or(|oldest| oldest == seq)
    }

    /// The batch's sequence if it has one under the current producer id and epoch.
    fn current_sequence(&self, batch: &ProducerBatch) -> Option<i32> {
        self.sequence_under_current_epoch(batch.stamped)
    }

    fn sequence_under_current_epoch(&self, stamped: Option<BatchHeader>) -> Option<i32> {
        let pid = self.pid?;
        match stamped {
            Some(h) if h.producer_id == pid.id && h.producer_epoch == pid.epoch => {
                Some(h.base_sequence)
            }
            _ => None,
        }
    }

    /// The header for a batch being drained: its existing sequence on a retry, else the next one.
    pub fn stamp(&mut self, batch: &ProducerBatch) -> BatchHeader {
        let Some(pid) = self.pid else {
            return BatchHeader::PLAIN;
        };
        if let Some(seq) = self.current_sequence(batch) {
            return header(pid, seq, self.transactional);
        }
        let count = batch.record_count() as i32;
        let p = self.partitions.entry(batch.tp.clone()).or_default();
        let seq = p.next;
        // Sequences wrap at i32::MAX, as Java's DefaultRecordBatch.incrementSequence.
        p.next = if i32::MAX - count < seq {
            count - (i32::MAX - seq) - 1
        } else {
            seq + count
        };
        p.in_flight.insert(seq, count);
        header(pid, seq, self.transactional)
    }

    /// The broker acknowledged the batch.
    pub fn on_success(&mut self, batch: &ProducerBatch) {
        if let Some(seq) = self.current_sequence(batch) {
            if let Some(p) = self.partitions.get_mut(&batch.tp) {
                if let Some(count) = p.in_flight.remove(&seq) {
                    p.last_acked = p.last_acked.max(seq.wrapping_add(count - 1));
                    p.first_acked = Some(p.first_acked.map_or(seq, |f| f.min(seq)));
                }
            }
        }
    }

    /// Decides about a batch answered with `code`; `retriable` says whether the batch is still
    /// within its retries and delivery timeout.
    pub fn on_error(
        &mut self,
        batch: &ProducerBatch,
        code: ErrorCode,
        retriable: bool,
    ) -> ErrorDecision {
        let seq = self.current_sequence(batch);
        if code == ErrorCode::DUPLICATE_SEQUENCE_NUMBER && seq.is_some() {
            self.on_success(batch);
            return ErrorDecision::AlreadyWritten;
        }
        let decision = if code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER {
            let last_acked = self.partitions.get(&batch.tp).map(|p| p.last_acked);
            let next_expected = last_acked.map(|l| l.wrapping_add(1));
            if let (Some(seq), Some(acked)) = (seq, last_acked) {
                let last = seq.wrapping_add(batch.record_count() as i32 - 1);
                if last <= acked {
                    // A later sequence of this epoch was acknowledged and this batch's retry fell
                    // out of the broker's window of five batches. Retrying can never succeed (it
                    // would stall the partition until delivery.timeout.ms), so it is decided now.
                    let broker_had_state = self
                        .partitions
                        .get(&batch.tp)
                        .and_then(|p| p.first_acked)
                        .is_some_and(|first| first < seq);
                    if broker_had_state {
                        // The broker accepts a sequence only right after the one before it: the
                        // batch is in the log. Java reports this case (DUPLICATE_SEQUENCE_NUMBER
                        // from older brokers) as a success with an unknown offset.
                        self.on_success(batch);
                        return ErrorDecision::AlreadyWritten;
                    }
                    // The later batch may have been the producer's first on this partition,
                    // which a broker accepts at any sequence: whether this one was written is
                    // unknown. It fails (no epoch bump: the broker is already past it).
                    if let Some(p) = self.partitions.get_mut(&batch.tp) {
                        p.in_flight.remove(&seq);
                    }
                    return ErrorDecision::Fail;
                }
            }
            if seq.is_some() && seq != next_expected {
                // An earlier batch failed and will be retried first; this one then fits.
                ErrorDecision::Retry
            } else {
                // A real gap: the broker lost our sequence. Start over under a new epoch.
                self.require_bump();
                ErrorDecision::Retry
            }
        } else if code == ErrorCode::UNKNOWN_PRODUCER_ID {
            self.require_bump();
            ErrorDecision::Retry
        } else if code == ErrorCode::INVALID_PRODUCER_EPOCH || code == ErrorCode::PRODUCER_FENCED {
            self.require_bump();
            ErrorDecision::Fail
        } else if code.is_retriable() {
            ErrorDecision::Retry
        } else {
            ErrorDecision::Fail
        };
        if decision == ErrorDecision::Retry && !retriable {
            return self.on_failed(batch);
        }
        if decision == ErrorDecision::Fail {
            return self.on_failed(batch);
        }
        decision
    }

    /// The batch is failed for good (error, expiry, retries exhausted). Its sequence, if it had
    /// one, may or may not have been written: the partition's sequences are unresolved, so the
    /// epoch is bumped before more is sent (Java's `handleFailedBatch`).
    pub fn on_failed(&mut self, batch: &ProducerBatch) -> ErrorDecision {
        if let Some(seq) = self.current_sequence(batch) {
            if let Some(p) = self.partitions.get_mut(&batch.tp) {
                p.in_flight.remove(&seq);
            }
            self.require_bump();
        }
        ErrorDecision::Fail
    }

    fn require_bump(&mut self) {
        if matches!(self.state, IdState::Ready | IdState::Initializing) && self.pid.is_some() {
            self.state = IdState::BumpRequired;
        }
    }

    /// A batch of `tp` stamped with `stamped` was split: its sequence range now belongs to the
    /// pieces `(base sequence, records)`.
    pub fn on_split_of(
        &mut self,
        tp: &TopicPartition,
        stamped: Option<BatchHeader>,
        pieces: &[(i32, i32)],
    ) {
        let Some(seq) = self.sequence_under_current_epoch(stamped) else {
            return;
        };
        if let Some(p) = self.partitions.get_mut(tp) {
            p.in_flight.remove(&seq);
            for &(s, n) in pieces {
                if s >= 0 {
                    p.in_flight.insert(s, n);
                }
            }
        }
    }
}

fn header(pid: ProducerIdAndEpoch, seq: i32, is_transactional: bool) -> BatchHeader {
    BatchHeader {
        producer_id: pid.id,
        producer_epoch: pid.epoch,
        base_sequence: seq,
        is_transactional,
    }
}
