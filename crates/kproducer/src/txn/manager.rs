//! The transaction state machine (Java's `TransactionManager`): states, the queue of
//! transactional requests (one in flight at a time, by Java's priorities), and what each answer
//! does. Sans-IO: the core encodes the requests it returns and feeds the answers back.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accumulator::TopicPartition;
use crate::error::ProduceError;
use crate::idempotence::ProducerIdAndEpoch;
use crate::protocol::errors::ErrorCode;

use super::{
    ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TransactionState, TxnResult,
};

use TransactionState as S;

/// Java's backoff for the first AddPartitionsToTxn of a transaction answered
/// CONCURRENT_TRANSACTIONS (the previous transaction's markers are still being written).
const ADD_PARTITIONS_RETRY_BACKOFF: Duration = Duration::from_millis(20);

/// FindCoordinator's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoordinatorType {
    Group = 0,
    Transaction = 1,
}

/// A transactional request the core is to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TxnRequest {
    FindCoordinator {
        key_type: CoordinatorType,
        key: String,
    },
    /// With the transactional id and timeout; `bump`: with the current id and epoch (KIP-360).
    InitProducerId {
        bump: bool,
    },
    AddPartitions {
        partitions: Vec<TopicPartition>,
    },
    AddOffsets {
        group: ConsumerGroupMetadata,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    },
    TxnOffsetCommit {
        group: ConsumerGroupMetadata,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    },
    EndTxn {
        commit: bool,
    },
}

impl TxnRequest {
    /// Java's `Priority`: FindCoordinator first, then InitProducerId, additions, EndTxn, and an
    /// epoch bump that ends an abort last.
    fn priority(&self) -> u8 {
        match self {
            TxnRequest::FindCoordinator { .. } => 0,
            TxnRequest::InitProducerId { bump: false } => 1,
            TxnRequest::AddPartitions { .. }
            | TxnRequest::AddOffsets { .. }
            | TxnRequest::TxnOffsetCommit { .. } => 2,
            TxnRequest::EndTxn { .. } => 3,
            TxnRequest::InitProducerId { bump: true } => 4,
        }
    }

    /// Java's name of the request, for messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            TxnRequest::FindCoordinator { .. } => "FindCoordinator",
            TxnRequest::InitProducerId { .. } => "InitProducerId",
            TxnRequest::AddPartitions { .. } => "AddPartitionsToTxn",
            TxnRequest::AddOffsets { .. } => "AddOffsetsToTxn",
            TxnRequest::TxnOffsetCommit { .. } => "TxnOffsetCommit",
            TxnRequest::EndTxn { .. } => "EndTxn",
        }
    }

    /// The coordinator it goes to (`None`: any broker).
    fn coordinator(&self) -> Option<(CoordinatorType, Option<&str>)> {
        match self {
            TxnRequest::FindCoordinator { .. } => None,
            TxnRequest::TxnOffsetCommit { group, .. } => {
                Some((CoordinatorType::Group, Some(group.group_id.as_str())))
            }
            _ => Some((CoordinatorType::Transaction, None)),
        }
    }
}

/// Where the core should send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The least busy ready connection.
    Any,
    /// A coordinator: node id and `host:port`.
    Node(i32, Arc<str>),
}

/// A transactional answer, decoded by the core.
#[derive(Debug, Clone)]
pub(crate) enum TxnResponse {
    FindCoordinator {
        error: i16,
        message: Option<String>,
        node_id: i32,
        host: String,
        port: i32,
    },
    InitProducerId {
        error: i16,
        producer_id: i64,
        epoch: i16,
    },
    /// Per-partition error codes (and a top-level one, v4+).
    AddPartitions {
        error: i16,
        results: Vec<(TopicPartition, i16)>,
    },
    AddOffsets {
        error: i16,
    },
    TxnOffsetCommit {
        results: Vec<(TopicPartition, i16)>,
    },
    EndTxn {
        error: i16,
        producer_id: i64,
        epoch: i16,
    },
}

/// What the core must apply after an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TxnEffect {
    /// A new producer id or epoch: the idempotent state restarts under it (sequences from 0).
    pub(crate) new_pid: Option<ProducerIdAndEpoch>,
}

#[derive(Debug)]
struct Pending {
    req: TxnRequest,
    result: Option<Arc<TxnResult>>,
    not_before: Option<Instant>,
}

/// The transactional producer's state (see the [module docs](super)).
#[derive(Debug)]
pub(crate) struct TransactionManager {
    transactional_id: String,
    timeout_ms: i32,
    retry_backoff: Duration,
    state: TransactionState,
    last_error: Option<TransactionError>,
    pid: Option<ProducerIdAndEpoch>,
    /// The cluster finalized `transaction.version` ≥ 2 (KIP-890).
    tv2: bool,
    /// The coordinator speaks InitProducerId v3+ (can bump an epoch, KIP-360).
    coordinator_bumps: bool,
    txn_coordinator: Option<(i32, Arc<str>)>,
    group_coordinators: HashMap<String, (i32, Arc<str>)>,
    /// v1: partitions with data not yet asked for, asked for, and in the transaction.
    new_partitions: BTreeSet<TopicPartition>,
    pending_partitions: BTreeSet<TopicPartition>,
    partitions: HashSet<TopicPartition>,
    /// Something (a record or offsets) is in the transaction: EndTxn is needed.
    transaction_started: bool,
    /// Bump the epoch (InitProducerId with the current id) after the abort (v1).
    epoch_bump_required: bool,
    queue: Vec<Pending>,
    in_flight: Option<Pending>,
    /// A call whose result the caller may still be waiting for (Java's `pendingTransition`):
    /// operation, target state, result.
    pending_op: Option<(&'static str, TransactionState, Arc<TxnResult>)>,
    /// The backoff a CONCURRENT_TRANSACTIONS answer to the first AddPartitions asks for.
    add_partitions_backoff: Option<Duration>,
}

impl TransactionManager {
    /// A manager for `transactional_id`.
    pub(crate) fn new(
        transactional_id: String,
        timeout: Duration,
        retry_backoff: Duration,
    ) -> Self {
        TransactionManager {
            transactional_id,
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            retry_backoff,
            state: S::Uninitialized,
            last_error: None,
            pid: None,
            tv2: false,
            coordinator_bumps: true,
            txn_coordinator: None,
            group_coordinators: HashMap::new(),
            new_partitions: BTreeSet::new(),
            pending_partitions: BTreeSet::new(),
            partitions: HashSet::new(),
            transaction_started: false,
            epoch_bump_required: false,
            queue: Vec::new(),
            in_flight: None,
            pending_op: None,
            add_partitions_backoff: None,
        }
    }

    pub(crate) fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    pub(crate) fn timeout_ms(&self) -> i32 {
        self.timeout_ms
    }

    pub(crate) fn state(&self) -> TransactionState {
        self.state
    }

    pub(crate) fn producer_id_and_epoch(&self) -> Option<ProducerIdAndEpoch> {
        self.pid
    }

    /// The transaction coordinator's node id, once found.
    pub(crate) fn coordinator_node(&self) -> Option<i32> {
        self.txn_coordinator.as_ref().map(|(id, _)| *id)
    }

    pub(crate) fn is_tv2(&self) -> bool {
        self.tv2
    }

    /// The cluster's finalized `transaction.version`, from an ApiVersions answer. Java switches
    /// between transactions only; so does this (a transaction keeps the protocol it began with).
    pub(crate) fn set_transaction_version(&mut self, version: i16) {
        let tv2 = version >= 2;
        if tv2 != self.tv2 && !self.in_transaction_states() {
            tracing::debug!(transactional_id = %self.transactional_id, tv2, "transaction protocol");
            self.tv2 = tv2;
        }
    }

    pub(crate) fn set_coordinator_bumps(&mut self, supported: bool) {
        self.coordinator_bumps = supported;
    }

    fn in_transaction_states(&self) -> bool {
        matches!(
            self.state,
            S::InTransaction
                | S::CommittingTransaction
                | S::AbortingTransaction
                | S::AbortableError
        )
    }

    pub(crate) fn is_completing(&self) -> bool {
        matches!(
            self.state,
            S::CommittingTransaction | S::AbortingTransaction
        )
    }

    pub(crate) fn has_error(&self) -> bool {
        matches!(self.state, S::AbortableError | S::FatalError)
    }

    /// The error queued batches fail with now, if they can't be sent (an abort or an abortable
    /// error): Java's `abortUndrainedBatches`.
    pub(crate) fn undrained_batch_error(&self) -> Option<ProduceError> {
        match self.state {
            S::AbortingTransaction => Some(ProduceError::TransactionAborted {
                reason: "the transaction was aborted".into(),
            }),
            S::AbortableError | S::FatalError => Some(ProduceError::TransactionAborted {
                reason: self
                    .last_error
                    .as_ref()
                    .map_or_else(|| "the transaction failed".into(), |e| e.to_string()),
            }),
            _ => None,
        }
    }

    // ------------------------------------------------------------------ the API's calls

    /// A call that timed out earlier returns its result again; another call is refused until
    /// it is retried (Java's `handleCachedTransactionRequestResult`).
    fn cached(
        &mut self,
        operation: &'static str,
        target: TransactionState,
    ) -> Result<Option<Arc<TxnResult>>, TransactionError> {
        if let Some((op, state, result)) = &self.pending_op {
            if result.is_completed() {
                self.pending_op = None;
            } else if *state != target {
                return Err(TransactionError::PendingOperation {
                    operation,
                    pending: op,
                });
            } else {
                return Ok(Some(result.clone()));
            }
        }
        Ok(None)
    }

    fn fail_if_pending(&mut self, operation: &'static str) -> Result<(), TransactionError> {
        if let Some((op, _, result)) = &self.pending_op {
            if result.is_completed() {
                self.pending_op = None;
            } else {
                return Err(TransactionError::PendingOperation {
                    operation,
                    pending: op,
                });
            }
        }
        Ok(())
    }

    fn fail_with_error(&self) -> Result<(), TransactionError> {
        if self.has_error() {
            return Err(self.last_error.clone().unwrap_or(TransactionError::Fatal {
                reason: "an earlier transactional request failed".into(),
                code: None,
            }));
        }
        Ok(())
    }

    fn invalid(&self, operation: &'static str) -> TransactionError {
        TransactionError::InvalidState {
            operation,
            state: self.state,
        }
    }

    /// `initTransactions`: the producer id for the transactional id (fencing older instances).
    pub(crate) fn init(&mut self) -> Result<Arc<TxnResult>, TransactionError> {
        const OP: &str = "initTransactions";
        if let Some(r) = self.cached(OP, S::Initializing)? {
            return Ok(r);
        }
        if self.state == S::FatalError {
            self.fail_with_error()?;
        }
        if self.state != S::Uninitialized {
            return Err(self.invalid(OP));
        }
        self.state = S::Initializing;
        let result = TxnResult::new();
        self.enqueue(
            TxnRequest::InitProducerId { bump: false },
            Some(result.clone()),
        );
        self.pending_op = Some((OP, S::Initializing, result.clone()));
        Ok(result)
    }

    /// `beginTransaction`.
    pub(crate) fn begin(&mut self) -> Result<(), TransactionError> {
        const OP: &str = "beginTransaction";
        self.fail_if_pending(OP)?;
        self.fail_with_error()?;
        if self.state != S::Ready {
            return Err(self.invalid(OP));
        }
        self.state = S::InTransaction;
        Ok(())
    }

    /// `commitTransaction`: EndTxn(commit) once every record of the transaction is acknowledged.
    pub(crate) fn begin_commit(&mut self) -> Result<Arc<TxnResult>, TransactionError> {
        const OP: &str = "commitTransaction";
        if let Some(r) = self.cached(OP, S::CommittingTransaction)? {
            return Ok(r);
        }
        self.fail_with_error()?;
        if self.state != S::InTransaction {
            return Err(self.invalid(OP));
        }
        self.state = S::CommittingTransaction;
        let result = self.begin_completing(true);
        self.pending_op = Some((OP, S::CommittingTransaction, result.clone()));
        Ok(result)
    }

    /// `abortTransaction`: records not yet sent fail, EndTxn(abort) once the rest is answered.
    pub(crate) fn begin_abort(&mut self) -> Result<Arc<TxnResult>, TransactionError> {
        const OP: &str = "abortTransaction";
        if let Some(r) = self.cached(OP, S::AbortingTransaction)? {
            return Ok(r);
        }
        if self.state != S::AbortableError {
            self.fail_with_error()?;
        }
        if !matches!(self.state, S::InTransaction | S::AbortableError) {
            return Err(self.invalid(OP));
        }
        self.state = S::AbortingTransaction;
        self.new_partitions.clear();
        let result = self.begin_completing(false);
        self.pending_op = Some((OP, S::AbortingTransaction, result.clone()));
        Ok(result)
    }

    fn begin_completing(&mut self, commit: bool) -> Arc<TxnResult> {
        if !self.new_partitions.is_empty() {
            self.enqueue_add_partitions();
        }
        let end = TxnResult::new();
        self.enqueue(TxnRequest::EndTxn { commit }, Some(end.clone()));
        if !self.epoch_bump_required {
            return end;
        }
        let bump = TxnResult::new();
        self.enqueue(
            TxnRequest::InitProducerId { bump: true },
            Some(bump.clone()),
        );
        bump
    }

    /// `sendOffsetsToTransaction`.
    pub(crate) fn send_offsets(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        group: ConsumerGroupMetadata,
    ) -> Result<Arc<TxnResult>, TransactionError> {
        const OP: &str = "sendOffsetsToTransaction";
        self.fail_if_pending(OP)?;
        self.fail_with_error()?;
        if self.state != S::InTransaction {
            return Err(self.invalid(OP));
        }
        let result = TxnResult::new();
        if self.tv2 {
            // KIP-890: TxnOffsetCommit v5 adds the group to the transaction itself.
            self.transaction_started = true;
            self.enqueue(
                TxnRequest::TxnOffsetCommit { group, offsets },
                Some(result.clone()),
            );
        } else {
            self.enqueue(
                TxnRequest::AddOffsets { group, offsets },
                Some(result.clone()),
            );
        }
        Ok(result)
    }

    /// Whether a record may be appended now (Java's `failIfNotReadyForSend`).
    pub(crate) fn check_send(&self) -> Result<(), TransactionError> {
        self.fail_with_error()?;
        if self.pid.is_none() {
            return Err(TransactionError::InvalidState {
                operation: "send",
                state: self.state,
            });
        }
        if self.state != S::InTransaction {
            return Err(self.invalid("send"));
        }
        Ok(())
    }

    /// A record was appended in the transaction to `partition` of `topic`; `new_batch`: it
    /// opened a batch.
    pub(crate) fn note_appended(&mut self, topic: &str, partition: i32, new_batch: bool) {
        if self.tv2 {
            // Produce v12 adds its partitions: the transaction is open on the coordinator once
            // a batch is written, and EndTxn is needed (Java sets this at send too).
            self.transaction_started = true;
        } else if new_batch && self.state == S::InTransaction {
            // v1: a partition's first record in a transaction opens a batch (the last
            // transaction's batches were all sent before it ended). Java adds the partition at
            // send (`maybeAddPartition`), so AddPartitionsToTxn overlaps `linger.ms` instead of
            // starting when the batch is ready; `may_send` still adds any partition missed here.
            let tp = TopicPartition {
                topic: std::sync::Arc::from(topic),
                partition,
            };
            if !self.partitions.contains(&tp) && !self.pending_partitions.contains(&tp) {
                self.new_partitions.insert(tp);
            }
        }
    }

    /// Whether the batches of `tp` may be drained now; in v1 a partition not yet in the
    /// transaction is queued for AddPartitionsToTxn and waits.
    pub(crate) fn may_send(&mut self, tp: &TopicPartition) -> bool {
        match self.state {
            S::FatalError | S::Uninitialized | S::Initializing | S::Ready => false,
            _ if self.tv2 => true,
            _ if self.partitions.contains(tp) => true,
            S::InTransaction | S::CommittingTransaction => {
                if !self.pending_partitions.contains(tp) {
                    self.new_partitions.insert(tp.clone());
                }
                false
            }
            _ => false,
        }
    }

    /// A batch of the transaction failed for good (Java's `maybeTransitionToErrorState`).
    pub(crate) fn batch_failed(&mut self, err: &ProduceError) {
        let code = match err {
            ProduceError::TransactionAborted { .. } | ProduceError::Closed => return,
            ProduceError::Broker { code, .. } => Some(*code),
            _ => None,
        };
        match code {
            Some(ErrorCode::PRODUCER_FENCED) => self.fatal(self.fenced()),
            Some(
                c @ (ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
                | ErrorCode::UNSUPPORTED_VERSION
                | ErrorCode::INVALID_PRODUCER_ID_MAPPING),
            ) => self.fatal(TransactionError::fatal_code(c, "Produce")),
            _ => {
                if !self.tv2 && self.coordinator_bumps && !self.is_completing() {
                    self.epoch_bump_required = true;
                }
                let e = TransactionError::Abortable {
                    reason: format!("a record of the transaction was not delivered: {err}"),
                    code,
                };
                self.abortable(e);
            }
        }
    }

    /// The idempotent state's sequences can't be trusted (a batch with a sequence failed): the
    /// epoch must change before more is sent. v2's EndTxn changes it; v1 bumps after the abort.
    pub(crate) fn request_epoch_bump(&mut self) {
        if self.tv2 || self.epoch_bump_required {
            return;
        }
        match self.state {
            S::InTransaction | S::CommittingTransaction | S::AbortableError => {
                self.epoch_bump_required = true;
            }
            // A batch with a sequence failed while the abort waited for it: the sequences need
            // the bump after the abort as much as when it failed earlier, and the abort's result
            // becomes the bump's (as `begin_completing` does). Without it the abort ended on the
            // same epoch and the next transaction's batches waited out delivery.timeout.ms, never
            // drained (found by tests/simulation_txn.rs, seed 162, transaction version 1).
            S::AbortingTransaction if self.coordinator_bumps => {
                let Some(end) = self
                    .queue
                    .iter_mut()
                    .find(|p| matches!(p.req, TxnRequest::EndTxn { .. }))
                else {
                    return;
                };
                let caller = end.result.replace(TxnResult::new());
                self.epoch_bump_required = true;
                self.enqueue(TxnRequest::InitProducerId { bump: true }, caller);
            }
            _ => {}
        }
    }

    /// The producer is closing: fail whatever waits.
    pub(crate) fn close(&mut self) {
        let err = TransactionError::Closed;
        for p in self.queue.drain(..).chain(self.in_flight.take()) {
            if let Some(r) = p.result {
                r.complete(Err(err.clone()));
            }
        }
        if let Some((_, _, r)) = &self.pending_op {
            r.complete(Err(err));
        }
    }

    // ------------------------------------------------------------------ the core's side

    fn enqueue(&mut self, req: TxnRequest, result: Option<Arc<TxnResult>>) {
        tracing::debug!(transactional_id = %self.transactional_id, request = req.name(), "enqueuing transactional request");
        self.queue.push(Pending {
            req,
            result,
            not_before: None,
        });
    }

    fn enqueue_add_partitions(&mut self) {
        self.pending_partitions.append(&mut self.new_partitions);
        let partitions = self.pending_partitions.iter().cloned().collect();
        self.enqueue(TxnRequest::AddPartitions { partitions }, None);
    }

    fn lookup_coordinator(&mut self, key_type: CoordinatorType, key: String) {
        match key_type {
            CoordinatorType::Transaction => self.txn_coordinator = None,
            CoordinatorType::Group => {
                self.group_coordinators.remove(&key);
            }
        }
        let req = TxnRequest::FindCoordinator { key_type, key };
        if !self.queue.iter().any(|p| p.req == req) {
            self.enqueue(req, None);
        }
    }

    fn coordinator_of(&self, req: &TxnRequest) -> Result<Target, (CoordinatorType, String)> {
        match req.coordinator() {
            None => Ok(Target::Any),
            Some((CoordinatorType::Transaction, _)) => match &self.txn_coordinator {
                Some((id, addr)) => Ok(Target::Node(*id, addr.clone())),
                None => Err((CoordinatorType::Transaction, self.transactional_id.clone())),
            },
            Some((CoordinatorType::Group, key)) => {
                let key = key.unwrap_or_default();
                match self.group_coordinators.get(key) {
                    Some((id, addr)) => Ok(Target::Node(*id, addr.clone())),
                    None => Err((CoordinatorType::Group, key.to_string())),
                }
            }
        }
    }

    /// The request [`poll_request`](Self::poll_request) considers next: the first queued of
    /// the highest priority.
    fn head(&self) -> Option<usize> {
        self.queue
            .iter()
            .enumerate()
            .min_by_key(|(i, p)| (p.req.priority(), *i))
            .map(|(i, _)| i)
    }

    /// When the backed-off request to send next may go (`None`: nothing to wait for).
    ///
    /// Only the head of the queue counts, and only a time after `now`: `poll_request` sends
    /// nothing behind a head that backs off, so the earliest `not_before` of the whole queue
    /// (e.g. a TxnOffsetCommit already due behind the FindCoordinator for its group, backing off
    /// after a retriable error) asked the driver to wake at a past instant again and again —
    /// a busy loop until the head's backoff ended (found by tests/simulation_txn.rs, seed 1).
    pub(crate) fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        self.queue[self.head()?].not_before.filter(|t| *t > now)
    }

    /// The next request to send, if one can go now: one at a time, by priority; EndTxn only once
    /// `incomplete_batches` is 0. `None` leaves everything queued.
    pub(crate) fn poll_request(
        &mut self,
        incomplete_batches: usize,
        now: Instant,
    ) -> Option<(TxnRequest, Target)> {
        if self.in_flight.is_some() {
            return None;
        }
        if !self.new_partitions.is_empty()
            && matches!(self.state, S::InTransaction | S::CommittingTransaction)
            && self.pending_partitions.is_empty()
        {
            self.enqueue_add_partitions();
        }
        loop {
            let idx = self.head()?;
            let p = &self.queue[idx];
            if p.not_before.is_some_and(|t| now < t) {
                return None;
            }
            if matches!(p.req, TxnRequest::EndTxn { .. }) && incomplete_batches > 0 {
                return None;
            }
            let p = self.queue.remove(idx);
            if self.has_error() {
                let abortable_lookup = self.state == S::AbortableError
                    && matches!(p.req, TxnRequest::FindCoordinator { .. });
                if !abortable_lookup {
                    if let (Some(r), Some(e)) = (&p.result, &self.last_error) {
                        r.complete(Err(e.clone()));
                    }
                    continue;
                }
            }
            if matches!(p.req, TxnRequest::EndTxn { .. }) && !self.transaction_started {
                // Nothing was added to the transaction: nothing to end on the coordinator.
                if let Some(r) = &p.result {
                    r.complete(Ok(()));
                }
                if self.state != S::FatalError {
                    self.complete_transaction();
                }
                continue;
            }
            match self.coordinator_of(&p.req) {
                Ok(target) => {
                    let req = p.req.clone();
                    self.in_flight = Some(p);
                    return Some((req, target));
                }
                Err((key_type, key)) => {
                    self.queue.insert(0, p);
                    self.lookup_coordinator(key_type, key);
                }
            }
        }
    }

    /// The request from [`poll_request`](Self::poll_request) could not be written now (no
    /// connection to its target yet): it goes back to the front of the queue.
    pub(crate) fn unsend(&mut self) {
        if let Some(p) = self.in_flight.take() {
            self.queue.insert(0, p);
        }
    }

    /// The request in flight got no answer (connection lost, request timeout, undecodable
    /// answer): look the coordinator up again and retry after the backoff.
    pub(crate) fn request_failed(&mut self, now: Instant) {
        let Some(p) = self.in_flight.take() else {
            return;
        };
        if let Some((key_type, key)) = p.req.coordinator() {
            let key = key.map_or_else(|| self.transactional_id.clone(), str::to_string);
            self.lookup_coordinator(key_type, key);
        }
        self.reenqueue(p, now, self.retry_backoff);
    }

    fn reenqueue(&mut self, mut p: Pending, now: Instant, backoff: Duration) {
        p.not_before = Some(now + backoff);
        self.queue.push(p);
    }

    fn fenced(&self) -> TransactionError {
        TransactionError::Fenced {
            transactional_id: self.transactional_id.clone(),
        }
    }

    fn fatal(&mut self, e: TransactionError) {
        tracing::error!(transactional_id = %self.transactional_id, error = %e, "transactional producer failed");
        self.state = S::FatalError;
        self.last_error = Some(e.clone());
        if let Some((_, _, r)) = &self.pending_op {
            r.complete(Err(e));
        }
    }

    fn abortable(&mut self, e: TransactionError) {
        if self.state == S::AbortingTransaction || self.state == S::FatalError {
            return;
        }
        tracing::info!(transactional_id = %self.transactional_id, error = %e, "transaction must be aborted");
        self.state = S::AbortableError;
        self.last_error = Some(e);
    }

    /// Java's `abortableErrorIfPossible`: abortable when an abort can restore a usable epoch.
    fn abortable_if_possible(&mut self, e: TransactionError) {
        if self.tv2 || self.coordinator_bumps {
            if !self.tv2 {
                self.epoch_bump_required = true;
            }
            self.abortable(e);
        } else {
            self.fatal(e);
        }
    }

    fn complete_transaction(&mut self) {
        self.state = if self.epoch_bump_required {
            S::Initializing
        } else {
            S::Ready
        };
        self.last_error = None;
        self.epoch_bump_required = false;
        self.transaction_started = false;
        self.new_partitions.clear();
        self.pending_partitions.clear();
        self.partitions.clear();
    }

    /// An answer to the request in flight.
    pub(crate) fn handle_response(&mut self, resp: TxnResponse, now: Instant) -> TxnEffect {
        let Some(p) = self.in_flight.take() else {
            return TxnEffect::default();
        };
        let mut effect = TxnEffect::default();
        let code = |e: i16| ErrorCode::from_i16(e);
        match resp {
            TxnResponse::FindCoordinator {
                error,
                message,
                node_id,
                host,
                port,
            } => {
                let TxnRequest::FindCoordinator { key_type, key } = &p.req else {
                    return effect;
                };
                match code(error) {
                    None => {
                        let addr: Arc<str> = Arc::from(format!("{host}:{port}"));
                        tracing::info!(transactional_id = %self.transactional_id, ?key_type, %key, node_id, %addr, "discovered coordinator");
                        match key_type {
                            CoordinatorType::Transaction => {
                                self.txn_coordinator = Some((node_id, addr));
                            }
                            CoordinatorType::Group => {
                                self.group_coordinators.insert(key.clone(), (node_id, addr));
                            }
                        }
                    }
                    Some(c) if c.is_retriable() => self.reenqueue(p, now, self.retry_backoff),
                    Some(c @ ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED) => {
                        self.fatal(TransactionError::fatal_code(c, "FindCoordinator"));
                    }
                    Some(
                        c @ (ErrorCode::GROUP_AUTHORIZATION_FAILED
                        | ErrorCode::TRANSACTION_ABORTABLE),
                    ) => {
                        self.abortable(TransactionError::abortable_code(c, "FindCoordinator"));
                    }
                    Some(c) => self.fatal(TransactionError::Fatal {
                        reason: format!(
                            "could not find the {key_type:?} coordinator for {key}: {} {}",
                            c.name(),
                            message.unwrap_or_default()
                        ),
                        code: Some(c),
                    }),
                }
            }
            TxnResponse::InitProducerId {
                error,
                producer_id,
                epoch,
            } => match code(error) {
                None => {
                    let pid = ProducerIdAndEpoch {
                        id: producer_id,
                        epoch,
                    };
                    tracing::info!(transactional_id = %self.transactional_id, producer_id, epoch, "producer id and epoch set");
                    self.pid = Some(pid);
                    effect.new_pid = Some(pid);
                    self.state = S::Ready;
                    self.last_error = None;
                    self.epoch_bump_required = false;
                    if let Some(r) = &p.result {
                        r.complete(Ok(()));
                    }
                }
                Some(c) => self.coordinator_error(
                    p,
                    c,
                    "InitProducerId",
                    &[ErrorCode::TRANSACTION_ABORTABLE],
                    false,
                    now,
                ),
            },
            TxnResponse::AddPartitions { error, results } => {
                let top = code(error);
                let mut unauthorized = Vec::new();
                let mut partition_errors = Vec::new();
                for (tp, e) in results.iter().map(|(tp, e)| (tp, code(*e).or(top))).chain(
                    // A top-level error with no partitions listed.
                    (results.is_empty() && top.is_some()).then_some((&*DUMMY_TP, top)),
                ) {
                    let Some(c) = e else { continue };
                    match c {
                        ErrorCode::COORDINATOR_NOT_AVAILABLE | ErrorCode::NOT_COORDINATOR => {
                            self.lookup_coordinator(
                                CoordinatorType::Transaction,
                                self.transactional_id.clone(),
                            );
                            self.reenqueue(p, now, self.retry_backoff);
                            return effect;
                        }
                        ErrorCode::CONCURRENT_TRANSACTIONS => {
                            let backoff = if self.partitions.is_empty() {
                                ADD_PARTITIONS_RETRY_BACKOFF.min(self.retry_backoff)
                            } else {
                                self.retry_backoff
                            };
                            self.add_partitions_backoff = Some(backoff);
                            self.reenqueue(p, now, backoff);
                            return effect;
                        }
                        c if c.is_retriable() => {
                            self.reenqueue(p, now, self.retry_backoff);
                            return effect;
                        }
                        ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                            self.fatal(self.fenced());
                            return effect;
                        }
                        ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                        | ErrorCode::INVALID_TXN_STATE
                        | ErrorCode::INVALID_PRODUCER_ID_MAPPING => {
                            self.fatal(TransactionError::fatal_code(c, "AddPartitionsToTxn"));
                            return effect;
                        }
                        ErrorCode::TOPIC_AUTHORIZATION_FAILED => {
                            unauthorized.push(tp.topic.to_string())
                        }
                        ErrorCode::OPERATION_NOT_ATTEMPTED => {}
                        ErrorCode::UNKNOWN_PRODUCER_ID => {
                            self.abortable_if_possible(TransactionError::abortable_code(
                                c,
                                "AddPartitionsToTxn",
                            ));
                            return effect;
                        }
                        ErrorCode::TRANSACTION_ABORTABLE => {
                            self.abortable(TransactionError::abortable_code(
                                c,
                                "AddPartitionsToTxn",
                            ));
                            return effect;
                        }
                        c => partition_errors.push(format!("{tp}: {}", c.name())),
                    }
                }
                let TxnRequest::AddPartitions { partitions } = &p.req else {
                    return effect;
                };
                for tp in partitions {
                    self.pending_partitions.remove(tp);
                }
                if !unauthorized.is_empty() {
                    unauthorized.sort();
                    unauthorized.dedup();
                    self.abortable(TransactionError::Abortable {
                        reason: format!("TopicAuthorizationException: not authorized to access topics {unauthorized:?}"),
                        code: Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
                    });
                } else if !partition_errors.is_empty() {
                    self.abortable(TransactionError::Abortable {
                        reason: format!(
                            "could not add partitions to the transaction: {}",
                            partition_errors.join(", ")
                        ),
                        code: None,
                    });
                } else {
                    tracing::debug!(transactional_id = %self.transactional_id, ?partitions, "partitions added to the transaction");
                    self.partitions.extend(partitions.iter().cloned());
                    self.transaction_started = true;
                }
            }
            TxnResponse::AddOffsets { error } => match code(error) {
                None => {
                    let TxnRequest::AddOffsets { group, offsets } = p.req else {
                        return effect;
                    };
                    self.transaction_started = true;
                    self.queue.push(Pending {
                        req: TxnRequest::TxnOffsetCommit { group, offsets },
                        result: p.result,
                        not_before: None,
                    });
                }
                Some(c) => self.coordinator_error(
                    p,
                    c,
                    "AddOffsetsToTxn",
                    &[
                        ErrorCode::GROUP_AUTHORIZATION_FAILED,
                        ErrorCode::TRANSACTION_ABORTABLE,
                    ],
                    true,
                    now,
                ),
            },
            TxnResponse::TxnOffsetCommit { results } => {
                let TxnRequest::TxnOffsetCommit { group, offsets } = &p.req else {
                    return effect;
                };
                let mut remaining: Vec<(TopicPartition, OffsetAndMetadata)> = Vec::new();
                let mut failed: Option<(TransactionError, bool)> = None;
                let mut reloaded = false;
                for (tp, o) in offsets {
                    let e = results
                        .iter()
                        .find(|(t, _)| t == tp)
                        .map_or(Some(ErrorCode::UNKNOWN_SERVER_ERROR), |(_, e)| code(*e));
                    match e {
                        None => {}
                        Some(
                            ErrorCode::COORDINATOR_NOT_AVAILABLE
                            | ErrorCode::NOT_COORDINATOR
                            | ErrorCode::REQUEST_TIMED_OUT,
                        ) => {
                            if !reloaded {
                                reloaded = true;
                                self.lookup_coordinator(
                                    CoordinatorType::Group,
                                    group.group_id.clone(),
                                );
                            }
                            remaining.push((tp.clone(), o.clone()));
                        }
                        Some(c) if c.is_retriable() => remaining.push((tp.clone(), o.clone())),
                        Some(
                            c @ (ErrorCode::GROUP_AUTHORIZATION_FAILED
                            | ErrorCode::FENCED_INSTANCE_ID
                            | ErrorCode::TRANSACTION_ABORTABLE
                            | ErrorCode::UNKNOWN_MEMBER_ID
                            | ErrorCode::ILLEGAL_GENERATION),
                        ) => {
                            failed.get_or_insert((
                                TransactionError::abortable_code(c, "TxnOffsetCommit"),
                                false,
                            ));
                        }
                        Some(ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED) => {
                            failed = Some((self.fenced(), true));
                        }
                        Some(c) => {
                            failed.get_or_insert((
                                TransactionError::fatal_code(c, "TxnOffsetCommit"),
                                true,
                            ));
                        }
                    }
                }
                match failed {
                    Some((e, fatal)) => {
                        self.fail_result(&p, e.clone());
                        if fatal {
                            self.fatal(e);
                        } else {
                            self.abortable(e);
                        }
                    }
                    None if remaining.is_empty() => {
                        if let Some(r) = &p.result {
                            r.complete(Ok(()));
                        }
                    }
                    None => {
                        let req = TxnRequest::TxnOffsetCommit {
                            group: group.clone(),
                            offsets: remaining,
                        };
                        let p = Pending {
                            req,
                            result: p.result,
                            not_before: None,
                        };
                        self.reenqueue(p, now, self.retry_backoff);
                    }
                }
            }
            TxnResponse::EndTxn {
                error,
                producer_id,
                epoch,
            } => match code(error) {
                None => {
                    if producer_id != -1 {
                        // v5 (KIP-890): the coordinator bumped the epoch with the transaction's
                        // end (or handed a new producer id when the epoch ran out).
                        let pid = ProducerIdAndEpoch {
                            id: producer_id,
                            epoch,
                        };
                        self.pid = Some(pid);
                        effect.new_pid = Some(pid);
                    }
                    self.complete_transaction();
                    if let Some(r) = &p.result {
                        r.complete(Ok(()));
                    }
                }
                Some(c) => self.coordinator_error(
                    p,
                    c,
                    "EndTxn",
                    &[ErrorCode::TRANSACTION_ABORTABLE],
                    true,
                    now,
                ),
            },
        }
        effect
    }

    /// An error from the transaction coordinator to InitProducerId, AddOffsetsToTxn or EndTxn,
    /// by the rules Java's three handlers share: a moved or unavailable coordinator is looked
    /// up again and the request retried, like any retriable error (CONCURRENT_TRANSACTIONS
    /// included); fencing is fatal; UNKNOWN_PRODUCER_ID is abortable where an abort can restore
    /// an epoch (`unknown_producer_id_abortable`); the `abortable` codes are abortable; anything
    /// else is fatal. The request's caller gets the error.
    fn coordinator_error(
        &mut self,
        p: Pending,
        code: ErrorCode,
        what: &'static str,
        abortable: &[ErrorCode],
        unknown_producer_id_abortable: bool,
        now: Instant,
    ) {
        match code {
            ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => {
                self.lookup_coordinator(
                    CoordinatorType::Transaction,
                    self.transactional_id.clone(),
                );
                self.reenqueue(p, now, self.retry_backoff);
            }
            c if c.is_retriable() || c == ErrorCode::CONCURRENT_TRANSACTIONS => {
                self.reenqueue(p, now, self.retry_backoff)
            }
            ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                self.fail_result(&p, self.fenced());
                self.fatal(self.fenced());
            }
            ErrorCode::UNKNOWN_PRODUCER_ID if unknown_producer_id_abortable => {
                let e = TransactionError::abortable_code(code, what);
                self.fail_result(&p, e.clone());
                self.abortable_if_possible(e);
            }
            c if abortable.contains(&c) => {
                let e = TransactionError::abortable_code(c, what);
                self.fail_result(&p, e.clone());
                self.abortable(e);
            }
            c => {
                let e = TransactionError::fatal_code(c, what);
                self.fail_result(&p, e.clone());
                self.fatal(e);
            }
        }
    }

    fn fail_result(&self, p: &Pending, e: TransactionError) {
        if let Some(r) = &p.result {
            r.complete(Err(e));
        }
    }
}

static DUMMY_TP: std::sync::LazyLock<TopicPartition> =
    std::sync::LazyLock::new(|| TopicPartition {
        topic: Arc::from(""),
        partition: -1,
    });

#[cfg(test)]
mod tests;
