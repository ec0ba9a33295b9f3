//! The core's side of transactions: the [`TransactionManager`]'s requests go out on the one
//! request path (a coordinator connection, or any broker for FindCoordinator), and their answers
//! come back to it. The decisions are the manager's (`txn/manager.rs`); this file encodes,
//! chooses connections and decodes.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{
    add_offsets_to_txn_request::AddOffsetsToTxnRequest,
    add_offsets_to_txn_response::AddOffsetsToTxnResponse,
    add_partitions_to_txn_request::{AddPartitionsToTxnRequest, AddPartitionsToTxnTopic},
    add_partitions_to_txn_response::AddPartitionsToTxnResponse,
    end_txn_request::EndTxnRequest,
    end_txn_response::EndTxnResponse,
    find_coordinator_request::FindCoordinatorRequest,
    find_coordinator_response::FindCoordinatorResponse,
    init_producer_id_request::InitProducerIdRequest,
    init_producer_id_response::InitProducerIdResponse,
    txn_offset_commit_request::{
        TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    },
    txn_offset_commit_response::TxnOffsetCommitResponse,
    ApiKey, GroupId, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{HeaderVersion, StrBytes};

use crate::accumulator::TopicPartition;
use crate::network::frame::decode_response;
use crate::sender::Completion;
use crate::shared::SendState;
use crate::txn::{Target, TransactionState, TxnRequest, TxnResponse};

use super::conn::{ConnId, Kind};
use super::ProducerCore;

/// Versions we speak, per API: (min, max).
const FIND_COORDINATOR: (i16, i16) = (0, 6);
const INIT_PRODUCER_ID: (i16, i16) = (0, 5);
/// v4+ is the broker-to-broker batched form.
const ADD_PARTITIONS: (i16, i16) = (0, 3);
const ADD_OFFSETS: (i16, i16) = (0, 4);
/// v5 adds the group to the transaction itself (transaction version 2).
const TXN_OFFSET_COMMIT: (i16, i16) = (0, 5);
/// v5 bumps the epoch with every transaction's end (transaction version 2).
const END_TXN: (i16, i16) = (0, 5);

impl ProducerCore {
    /// Under the shared lock, before the sender drains: fail what an abort (or a failed
    /// transaction) leaves unsent, record batch failures, flush a completing transaction.
    pub(super) fn txn_before_drain(&mut self, st: &mut SendState) {
        let Some(txn) = st.txn.as_mut() else {
            return;
        };
        // Java's Sender on a graceful close: an open transaction is aborted (rather than left
        // to hold back read_committed consumers until transaction.timeout.ms), and the
        // network thread stays until its EndTxn is answered.
        if st.acc.is_closed()
            && matches!(
                txn.state(),
                TransactionState::InTransaction | TransactionState::AbortableError
            )
        {
            tracing::info!(
                transactional_id = txn.transactional_id(),
                "Aborting incomplete transaction due to shutdown"
            );
            let _ = txn.begin_abort();
        }
        if let Some(err) = txn.undrained_batch_error() {
            // Java's `abortUndrainedBatches`: a batch that has a sequence (sent before, queued
            // for a retry) stays and is sent; EndTxn waits for it. Failing it left a gap in the
            // partition's sequences, and with transaction version 1 (the same epoch in the next
            // transaction) every later batch of the partition was refused with
            // OUT_OF_ORDER_SEQUENCE_NUMBER until delivery.timeout.ms (found by
            // tests/simulation_txn.rs, seed 6). It can stay only if it can be sent: once the
            // sequences need a new epoch nothing is drained until the epoch changes, which
            // comes after EndTxn, so it fails (seed 3, v2); the new epoch restarts the sequences.
            // A fatal error fails everything, as Java's `abortBatches`.
            let keep_sequenced = txn.state() != crate::txn::TransactionState::FatalError
                && self.sender.idempotence().is_some_and(|i| i.is_ready());
            for mut batch in st.acc.abort_all() {
                if keep_sequenced && batch.stamped.is_some() {
                    // Back where it was (in sequence order), its retry time unchanged.
                    let at = batch.retry_after.unwrap_or(batch.created);
                    st.acc.reenqueue(batch, std::time::Duration::ZERO, at);
                    continue;
                }
                st.acc.deallocate(&mut batch);
                self.completions.push(Completion {
                    batch,
                    result: Err(err.clone()),
                });
            }
        }
        if self.sender.idempotence().is_some_and(|i| i.needs_bump()) {
            txn.request_epoch_bump();
        }
        // Java's Sender: a completing transaction's batches go without lingering.
        if txn.is_completing() && st.acc.incomplete_batches() > 0 {
            let flushing = self.txn_flush.is_some_and(|m| !st.acc.flush_done(m));
            if !flushing {
                self.txn_flush = Some(st.acc.begin_flush());
            }
        }
    }

    /// Under the shared lock, after the sender decided: tell the manager which batches failed
    /// (before it may end the transaction), and take its next request.
    pub(super) fn txn_after_drain(
        &mut self,
        st: &mut SendState,
        now: Instant,
    ) -> Option<(TxnRequest, Target)> {
        let txn = st.txn.as_mut()?;
        for c in &self.completions[self.txn_scanned.min(self.completions.len())..] {
            if let Err(e) = &c.result {
                txn.batch_failed(e);
            }
        }
        self.txn_scanned = self.completions.len();
        let request = txn.poll_request(st.acc.incomplete_batches(), now);
        self.txn_wakeup = txn.next_wakeup(now);
        request
    }

    /// Batch failures produced since the last pump, before the completions leave the core.
    pub(super) fn txn_scan_completions(&mut self) {
        if !self.transactional || self.txn_scanned >= self.completions.len() {
            self.txn_scanned = 0;
            return;
        }
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        if let Some(txn) = guard.txn.as_mut() {
            for c in &self.completions[self.txn_scanned..] {
                if let Err(e) = &c.result {
                    txn.batch_failed(e);
                }
            }
        }
        self.txn_scanned = 0;
    }

    /// Sends the manager's request on a connection to its target; when none is ready, opens
    /// one and gives the request back (a coordinator that can't be reached is looked up again).
    pub(super) fn dispatch_txn(&mut self, request: TxnRequest, target: Target, now: Instant) {
        let conn = match &target {
            Target::Any => self
                .conns
                .ready()
                .min_by_key(|c| (c.in_flight.len(), c.id))
                .map(|c| c.id),
            Target::Node(_, addr) => self
                .conns
                .by_addr(addr)
                .filter(|c| c.is_ready())
                .map(|c| c.id),
        };
        let Some(conn) = conn else {
            let mut lost_coordinator = false;
            match &target {
                Target::Any => self.connect_any(now),
                Target::Node(_, addr) => {
                    if self.conns.by_addr(addr).is_none() {
                        if self.conns.may_connect(addr, now) {
                            self.connect(addr.clone(), now);
                        } else {
                            // Its last connection failed: the coordinator may have moved.
                            lost_coordinator = true;
                        }
                    }
                }
            }
            self.txn_waiting = true;
            let shared = Arc::clone(&self.shared);
            let mut guard = shared.lock();
            if let Some(txn) = guard.txn.as_mut() {
                if lost_coordinator {
                    txn.request_failed(now);
                    self.txn_wakeup = txn.next_wakeup(now);
                } else {
                    txn.unsend();
                }
            }
            return;
        };
        self.txn_waiting = false;
        if let Err(reason) = self.write_txn(conn, &request, now) {
            tracing::debug!(%reason, request = request.name(), "transactional request not sent");
            let shared = Arc::clone(&self.shared);
            let mut guard = shared.lock();
            if let Some(txn) = guard.txn.as_mut() {
                txn.request_failed(now);
                self.txn_wakeup = txn.next_wakeup(now);
            }
        }
    }

    fn write_txn(
        &mut self,
        conn: ConnId,
        request: &TxnRequest,
        now: Instant,
    ) -> Result<(), String> {
        let (txn_id, timeout_ms, pid, tv2) = {
            let st = self.shared.lock();
            let txn = st.txn.as_ref().ok_or("not a transactional producer")?;
            (
                txn.transactional_id().to_string(),
                txn.timeout_ms(),
                txn.producer_id_and_epoch(),
                txn.is_tv2(),
            )
        };
        let (id, epoch) = pid.map_or((-1, -1), |p| (p.id, p.epoch));
        let versions = &self.conns.get(conn).ok_or("connection closed")?.versions;
        let version = |key: ApiKey, (min, max): (i16, i16)| {
            versions
                .highest_common(key as i16, min, max)
                .ok_or_else(|| format!("the broker supports no {key:?} version in {min}..={max}"))
        };
        let txn_str = || StrBytes::from_string(txn_id.clone());
        match request {
            TxnRequest::FindCoordinator { key_type, key } => {
                let v = version(ApiKey::FindCoordinator, FIND_COORDINATOR)?;
                let mut r = FindCoordinatorRequest::default().with_key_type(*key_type as i8);
                let key = StrBytes::from_string(key.clone());
                if v >= 4 {
                    r = r.with_coordinator_keys(vec![key]);
                } else {
                    r = r.with_key(key);
                }
                self.write_request(
                    conn,
                    &r,
                    v,
                    Kind::Txn {
                        api: ApiKey::FindCoordinator as i16,
                        version: v,
                    },
                    now,
                )
            }
            TxnRequest::InitProducerId { bump } => {
                let v = version(ApiKey::InitProducerId, INIT_PRODUCER_ID)?;
                let (id, epoch) = if *bump && v >= 3 {
                    (id, epoch)
                } else {
                    (-1, -1)
                };
                {
                    let mut st = self.shared.lock();
                    if let Some(txn) = st.txn.as_mut() {
                        txn.set_coordinator_bumps(v >= 3);
                    }
                }
                let r = InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(txn_str())))
                    .with_transaction_timeout_ms(timeout_ms)
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch);
                self.write_request(
                    conn,
                    &r,
                    v,
                    Kind::Txn {
                        api: ApiKey::InitProducerId as i16,
                        version: v,
                    },
                    now,
                )
            }
            TxnRequest::AddPartitions { partitions } => {
                let v = version(ApiKey::AddPartitionsToTxn, ADD_PARTITIONS)?;
                let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
                for tp in partitions {
                    match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                        Some(t) => t.partitions.push(tp.partition),
                        None => topics.push(
                            AddPartitionsToTxnTopic::default()
                                .with_name(TopicName(StrBytes::from_string(tp.topic.to_string())))
                                .with_partitions(vec![tp.partition]),
                        ),
                    }
                }
                let r = AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(txn_str()))
                    .with_v3_and_below_producer_id(ProducerId(id))
                    .with_v3_and_below_producer_epoch(epoch)
                    .with_v3_and_below_topics(topics);
                self.write_request(
                    conn,
                    &r,
                    v,
                    Kind::Txn {
                        api: ApiKey::AddPartitionsToTxn as i16,
                        version: v,
                    },
                    now,
                )
            }
            TxnRequest::AddOffsets { group, .. } => {
                let v = version(ApiKey::AddOffsetsToTxn, ADD_OFFSETS)?;
                let r = AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(txn_str()))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())));
                self.write_request(
                    conn,
                    &r,
                    v,
                    Kind::Txn {
                        api: ApiKey::AddOffsetsToTxn as i16,
                        version: v,
                    },
                    now,
                )
            }
            TxnRequest::TxnOffsetCommit { group, offsets } => {
                let max = if tv2 { TXN_OFFSET_COMMIT.1 } else { 4 };
                let v = version(ApiKey::TxnOffsetCommit, (TXN_OFFSET_COMMIT.0, max))?;
                let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
                for (tp, o) in offsets {
                    let p = TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(tp.partition)
                        .with_committed_offset(o.offset)
                        .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                        .with_committed_metadata(Some(StrBytes::from_string(o.metadata.clone())));
                    match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                        Some(t) => t.partitions.push(p),
                        None => topics.push(
                            TxnOffsetCommitRequestTopic::default()
                                .with_name(TopicName(StrBytes::from_string(tp.topic.to_string())))
                                .with_partitions(vec![p]),
                        ),
                    }
                }
                let mut r = TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(txn_str()))
                    .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_topics(topics);
                if v >= 3 {
                    r = r
                        .with_generation_id(group.generation_id)
                        .with_member_id(StrBytes::from_string(group.member_id.clone()))
                        .with_group_instance_id(
                            group.group_instance_id.clone().map(StrBytes::from_string),
                        );
                }
                self.write_request(
                    conn,
                    &r,
                    v,
                    Kind::Txn {
                        api: ApiKey::TxnOffsetCommit as i16,
                        version: v,
                    },
                    now,
                )
            }
            TxnRequest::EndTxn { commit } => {
                let max = if tv2 { END_TXN.1 } else { 4 };
                let v = version(ApiKey::EndTxn, (END_TXN.0, max))?;
                let r = EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(txn_str()))
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch)
                    .with_committed(*commit);
                self.write_request(
                    conn,
                    &r,
                    v,
                    Kind::Txn {
                        api: ApiKey::EndTxn as i16,
                        version: v,
                    },
                    now,
                )
            }
        }
    }

    /// The answer to a transactional request.
    pub(super) fn on_txn_response(
        &mut self,
        conn: ConnId,
        api: i16,
        version: i16,
        frame: Bytes,
        now: Instant,
    ) {
        match decode_txn(api, version, frame) {
            Ok(resp) => {
                let effect = {
                    let shared = Arc::clone(&self.shared);
                    let mut guard = shared.lock();
                    match guard.txn.as_mut() {
                        Some(txn) => {
                            let effect = txn.handle_response(resp, now);
                            self.txn_wakeup = txn.next_wakeup(now);
                            effect
                        }
                        None => return,
                    }
                };
                if let Some(pid) = effect.new_pid {
                    self.sender.set_producer_id(pid);
                    self.publish_pid();
                }
            }
            Err(reason) => {
                {
                    let shared = Arc::clone(&self.shared);
                    let mut guard = shared.lock();
                    if let Some(txn) = guard.txn.as_mut() {
                        txn.request_failed(now);
                        self.txn_wakeup = txn.next_wakeup(now);
                    }
                }
                self.close(conn, &reason, now);
            }
        }
    }

    /// The connection carrying a transactional request went away unanswered.
    pub(super) fn txn_request_lost(&mut self, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        if let Some(txn) = guard.txn.as_mut() {
            txn.request_failed(now);
            self.txn_wakeup = txn.next_wakeup(now);
        }
    }

    /// An ApiVersions answer's finalized `transaction.version`.
    pub(super) fn txn_version_seen(&mut self, version: i16) {
        if !self.transactional {
            return;
        }
        let mut st = self.shared.lock();
        if let Some(txn) = st.txn.as_mut() {
            txn.set_transaction_version(version);
        }
    }
}

fn decode_txn(api: i16, version: i16, frame: Bytes) -> Result<TxnResponse, String> {
    fn d<T: kafka_protocol::protocol::Decodable + HeaderVersion>(
        frame: Bytes,
        api: ApiKey,
        version: i16,
    ) -> Result<T, String> {
        decode_response::<T>(frame, api as i16, version, T::header_version(version))
            .map_err(|e| e.to_string())
    }
    let tp = |topic: &StrBytes, partition: i32| TopicPartition {
        topic: Arc::from(topic.as_str()),
        partition,
    };
    Ok(match api {
        a if a == ApiKey::FindCoordinator as i16 => {
            let r: FindCoordinatorResponse = d(frame, ApiKey::FindCoordinator, version)?;
            if version >= 4 {
                let c = r
                    .coordinators
                    .into_iter()
                    .next()
                    .ok_or("FindCoordinator answer without a coordinator")?;
                TxnResponse::FindCoordinator {
                    error: c.error_code,
                    message: c.error_message.map(|m| m.to_string()),
                    node_id: c.node_id.0,
                    host: c.host.to_string(),
                    port: c.port,
                }
            } else {
                TxnResponse::FindCoordinator {
                    error: r.error_code,
                    message: r.error_message.map(|m| m.to_string()),
                    node_id: r.node_id.0,
                    host: r.host.to_string(),
                    port: r.port,
                }
            }
        }
        a if a == ApiKey::InitProducerId as i16 => {
            let r: InitProducerIdResponse = d(frame, ApiKey::InitProducerId, version)?;
            TxnResponse::InitProducerId {
                error: r.error_code,
                producer_id: r.producer_id.0,
                epoch: r.producer_epoch,
            }
        }
        a if a == ApiKey::AddPartitionsToTxn as i16 => {
            let r: AddPartitionsToTxnResponse = d(frame, ApiKey::AddPartitionsToTxn, version)?;
            let mut results = Vec::new();
            for t in &r.results_by_topic_v3_and_below {
                for p in &t.results_by_partition {
                    results.push((tp(&t.name.0, p.partition_index), p.partition_error_code));
                }
            }
            TxnResponse::AddPartitions {
                error: r.error_code,
                results,
            }
        }
        a if a == ApiKey::AddOffsetsToTxn as i16 => {
            let r: AddOffsetsToTxnResponse = d(frame, ApiKey::AddOffsetsToTxn, version)?;
            TxnResponse::AddOffsets {
                error: r.error_code,
            }
        }
        a if a == ApiKey::TxnOffsetCommit as i16 => {
            let r: TxnOffsetCommitResponse = d(frame, ApiKey::TxnOffsetCommit, version)?;
            let mut results = Vec::new();
            for t in &r.topics {
                for p in &t.partitions {
                    results.push((tp(&t.name.0, p.partition_index), p.error_code));
                }
            }
            TxnResponse::TxnOffsetCommit { results }
        }
        a if a == ApiKey::EndTxn as i16 => {
            let r: EndTxnResponse = d(frame, ApiKey::EndTxn, version)?;
            TxnResponse::EndTxn {
                error: r.error_code,
                producer_id: if version >= 5 { r.producer_id.0 } else { -1 },
                epoch: r.producer_epoch,
            }
        }
        other => return Err(format!("no transactional API {other}")),
    })
}
