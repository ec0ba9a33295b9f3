//! The transaction coordinator, in memory, as Kafka 4.x's `TransactionCoordinator` behaves
//! (core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala,
//! TransactionMetadata), and the transactional offsets a group coordinator keeps.
//!
//! One state per transactional id: producer id, epoch, state (Empty, Ongoing, CompleteCommit,
//! CompleteAbort), the partitions and groups of the ongoing transaction. Simplified against
//! Kafka (documented in the crate docs):
//! - every transition completes at once: no PrepareCommit/PrepareAbort state is ever seen, so
//!   CONCURRENT_TRANSACTIONS is only answered to an InitProducerId that fences an ongoing
//!   transaction (Kafka aborts it and asks the client to retry, as here);
//! - markers are written to the partitions directly (no WriteTxnMarkers requests, no
//!   `__transaction_state` or `__consumer_offsets` topics); transactional offsets are kept per
//!   group and become visible on commit;
//! - transactions time out on the first request after their timeout (Kafka checks every 10
//!   s); transactional ids never expire;
//! - the coordinator of a transactional id is a deterministic broker that is up (Kafka's
//!   partition of `__transaction_state`, `abs(hashCode) % 50`, led as the mock leads topic
//!   partitions); requests reaching another broker are NOT_COORDINATOR. TxnOffsetCommit is
//!   answered by any broker (the mock has no group coordinator).

use std::collections::{BTreeMap, BTreeSet};

use crate::batch::{Refusal, StoredRecord};
use crate::cluster::MockCluster;
use crate::codes;
use crate::MockError;

/// A transaction's state at its coordinator (Kafka's `TransactionState`, without the transient
/// Prepare states, which the mock passes through at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// No transaction since the producer id or epoch was handed out.
    Empty,
    /// Partitions (or groups) were added and the transaction is not ended.
    Ongoing,
    /// The last transaction was committed (markers written).
    CompleteCommit,
    /// The last transaction was aborted (markers written).
    CompleteAbort,
}

/// A transactional id's state, as [`MockCluster::transaction`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    /// The current producer id.
    pub producer_id: i64,
    /// The current producer epoch.
    pub producer_epoch: i16,
    /// The state.
    pub state: TransactionState,
    /// The partitions of the ongoing transaction, sorted.
    pub partitions: Vec<(String, i32)>,
    /// The consumer groups of the ongoing transaction (AddOffsetsToTxn, or TxnOffsetCommit v5+
    /// with transaction version 2), sorted.
    pub groups: Vec<String>,
    /// The transaction timeout given to InitProducerId.
    pub timeout_ms: i32,
}

/// Where a stored batch (and its records) stands, as [`MockCluster::transaction_status`]
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// Not written in a transaction: visible to every consumer.
    NotTransactional,
    /// In a transaction not yet ended: above the last stable offset, hidden from read_committed.
    Open,
    /// In a committed transaction.
    Committed,
    /// In an aborted transaction: read_committed consumers drop it.
    Aborted,
    /// A COMMIT or ABORT control batch.
    Marker,
}

#[derive(Debug)]
pub(crate) struct TxnMeta {
    producer_id: i64,
    last_producer_id: i64,
    producer_epoch: i16,
    /// The epoch before the last bump of an InitProducerId that gave its current epoch (Kafka's
    /// `lastProducerEpoch`): a retry of that bump is answered again, not fenced. -1: none.
    last_producer_epoch: i16,
    timeout_ms: i32,
    /// When the ongoing transaction started (its first partition or group).
    txn_start_ms: i64,
    state: TransactionState,
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
}

impl TxnMeta {
    /// `prepareAddPartitions`: a transaction starts unless one is ongoing.
    fn begin(&mut self, now_ms: i64) {
        if self.state != TransactionState::Ongoing {
            self.state = TransactionState::Ongoing;
            self.txn_start_ms = now_ms;
        }
    }
}

/// The cluster's transaction coordinator state and transactional offsets.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    txns: BTreeMap<String, TxnMeta>,
    /// Offsets committed in a transaction not yet ended: transactional id → (group, topic,
    /// partition) → offset.
    pending_offsets: BTreeMap<String, BTreeMap<(String, String, i32), i64>>,
    /// Offsets visible to the group: (group, topic, partition) → offset.
    offsets: BTreeMap<(String, String, i32), i64>,
}

/// `TransactionMetadata.isEpochExhausted`.
fn exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The coordinator of a transactional id: the leader of its `__transaction_state` partition,
/// which the mock places as it places topic partitions (partition `p` on broker
/// `1 + p % brokers`, or the next broker up).
pub(crate) fn coordinator_for(c: &MockCluster, transactional_id: &str) -> Option<i32> {
    // The same broker FindCoordinator names for key type 1 (Kafka's `Utils.abs(hash) % 50`).
    c.coordinator(1, transactional_id)
}

/// NOT_COORDINATOR when `broker` does not coordinate `transactional_id`.
pub(crate) fn not_coordinator(c: &MockCluster, broker: i32, transactional_id: &str) -> bool {
    coordinator_for(c, transactional_id) != Some(broker)
}

/// PRODUCER_FENCED as old versions of an API answer it (INVALID_PRODUCER_EPOCH before
/// `since`), as `KafkaApis` maps it.
pub(crate) fn fenced_for(code: i16, version: i16, since: i16) -> i16 {
    if code == codes::PRODUCER_FENCED && version < since {
        codes::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

fn meta_for<'a>(
    c: &'a mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<&'a mut TxnMeta, i16> {
    let meta = c
        .txn
        .txns
        .get_mut(transactional_id)
        .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
    if meta.producer_id != producer_id {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if meta.producer_epoch != producer_epoch {
        return Err(codes::PRODUCER_FENCED);
    }
    Ok(meta)
}

/// `handleInitProducerId` with a transactional id (not empty; the caller checked). Returns the
/// producer id and epoch, or an error code (PRODUCER_FENCED unmapped).
pub(crate) fn init_producer_id(
    c: &mut MockCluster,
    transactional_id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now_ms: i64,
) -> Result<(i64, i16), i16> {
    if timeout_ms <= 0 || timeout_ms > c.cfg.transaction_max_timeout_ms {
        return Err(codes::INVALID_TRANSACTION_TIMEOUT);
    }
    if !c.txn.txns.contains_key(transactional_id) {
        let producer_id = c.next_producer_id;
        c.next_producer_id += 1;
        c.txn.txns.insert(
            transactional_id.to_string(),
            TxnMeta {
                producer_id,
                last_producer_id: -1,
                producer_epoch: -1,
                last_producer_epoch: -1,
                timeout_ms,
                txn_start_ms: now_ms,
                state: TransactionState::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeSet::new(),
            },
        );
    }
    let next_id = c.next_producer_id;
    let Some(meta) = c.txn.txns.get_mut(transactional_id) else {
        return Err(codes::UNKNOWN_SERVER_ERROR);
    };
    if let Some((pid, epoch)) = expected {
        let valid = meta.producer_epoch == -1
            || pid == meta.producer_id
            || (pid == meta.last_producer_id && exhausted(epoch));
        if !valid {
            return Err(codes::PRODUCER_FENCED);
        }
    }
    match meta.state {
        TransactionState::Ongoing => {
            // prepareFenceProducerEpoch: abort the ongoing transaction under epoch + 1 (never
            // returned), then let the client retry, which bumps the epoch once more.
            let fence = meta.producer_epoch.saturating_add(1);
            meta.producer_epoch = fence;
            complete(c, transactional_id, false, now_ms);
            Err(codes::CONCURRENT_TRANSACTIONS)
        }
        _ => {
            if exhausted(meta.producer_epoch)
                && expected.is_none_or(|(_, e)| e == meta.producer_epoch)
            {
                meta.last_producer_id = meta.producer_id;
                meta.producer_id = next_id;
                meta.producer_epoch = 0;
                c.next_producer_id += 1;
            } else if expected.is_some_and(|(pid, e)| {
                pid == meta.producer_id && e >= 0 && e == meta.last_producer_epoch
            }) {
                // `prepareIncrementProducerEpoch`: the expected epoch is the one before the last
                // bump, so this is a retry of a bump whose answer was lost: the current epoch
                // again, not bumped, not fenced (a new producer's InitProducerId resets
                // `last_producer_epoch`). Without it a lost answer to a client's bump (transaction
                // version 1, after an abort) fenced the producer (found by
                // crates/kproducer/tests/simulation_txn.rs, seed 217).
                return Ok((meta.producer_id, meta.producer_epoch));
            } else if expected.is_some_and(|(_, e)| e != meta.producer_epoch)
                && meta.producer_epoch != -1
            {
                return Err(codes::PRODUCER_FENCED);
            } else {
                meta.last_producer_epoch = match expected {
                    Some(_) => meta.producer_epoch,
                    None => -1,
                };
                meta.producer_epoch += 1;
            }
            meta.timeout_ms = timeout_ms;
            meta.state = TransactionState::Empty;
            Ok((meta.producer_id, meta.producer_epoch))
        }
    }
}

/// `handleAddPartitionsToTransaction` (and the implicit add of transaction version 2): error
/// codes unmapped.
pub(crate) fn add_partitions(
    c: &mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[(String, i32)],
    now_ms: i64,
) -> Result<(), i16> {
    let meta = meta_for(c, transactional_id, producer_id, producer_epoch)?;
    meta.begin(now_ms);
    meta.partitions.extend(partitions.iter().cloned());
    Ok(())
}

/// AddOffsetsToTxn (and the implicit add of TxnOffsetCommit v5+): the group's offsets
/// partition joins the transaction.
pub(crate) fn add_group(
    c: &mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    group: &str,
    now_ms: i64,
) -> Result<(), i16> {
    let meta = meta_for(c, transactional_id, producer_id, producer_epoch)?;
    meta.begin(now_ms);
    meta.groups.insert(group.to_string());
    Ok(())
}

/// `handleVerifyPartitionsInTransaction` for one partition (`Some`) or group (`None` partition):
/// TRANSACTION_ABORTABLE when it is not in the ongoing transaction.
pub(crate) fn verify(
    c: &mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topic_or_group: &str,
    partition: Option<i32>,
) -> Result<(), i16> {
    let meta = meta_for(c, transactional_id, producer_id, producer_epoch)?;
    let present = match partition {
        Some(p) => meta.partitions.contains(&(topic_or_group.to_string(), p)),
        None => meta.groups.contains(topic_or_group),
    };
    if present {
        Ok(())
    } else {
        Err(codes::TRANSACTION_ABORTABLE)
    }
}

/// The checks of a transactional batch before its append (`ReplicaManager` with the
/// `AddPartitionsToTxnManager`): with transaction version 2 and Produce v12+ the partition is
/// added to the transaction, otherwise it must be in it. Errors as the producer sees them:
/// PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH, and TRANSACTION_ABORTABLE is
/// INVALID_TXN_STATE for Produce v10 and older.
pub(crate) fn produce_check(
    c: &mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    (topic, partition): (&str, i32),
    produce_version: i16,
    now_ms: i64,
) -> Result<(), Refusal> {
    let result = if c.cfg.transaction_version >= 2 && produce_version >= 12 {
        add_partitions(
            c,
            transactional_id,
            producer_id,
            producer_epoch,
            &[(topic.to_string(), partition)],
            now_ms,
        )
    } else {
        verify(
            c,
            transactional_id,
            producer_id,
            producer_epoch,
            topic,
            Some(partition),
        )
    };
    result.map_err(|code| {
        let code = match code {
            codes::PRODUCER_FENCED => codes::INVALID_PRODUCER_EPOCH,
            codes::TRANSACTION_ABORTABLE if produce_version <= 10 => codes::INVALID_TXN_STATE,
            other => other,
        };
        let reason = match code {
            codes::INVALID_TXN_STATE | codes::TRANSACTION_ABORTABLE => {
                "Partition was not added to the transaction".to_string()
            }
            _ => format!("transaction verification failed for {transactional_id}"),
        };
        Refusal {
            message: Some(reason.clone()),
            ..Refusal::plain(code, reason)
        }
    })
}

/// TxnOffsetCommit's check for its group: added implicitly with transaction version 2 and v5+,
/// else verified (TRANSACTION_ABORTABLE from v4, INVALID_TXN_STATE before). PRODUCER_FENCED is
/// INVALID_PRODUCER_EPOCH.
pub(crate) fn offset_commit_check(
    c: &mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    group: &str,
    version: i16,
    now_ms: i64,
) -> Result<(), i16> {
    let result = if c.cfg.transaction_version >= 2 && version >= 5 {
        add_group(
            c,
            transactional_id,
            producer_id,
            producer_epoch,
            group,
            now_ms,
        )
    } else {
        verify(
            c,
            transactional_id,
            producer_id,
            producer_epoch,
            group,
            None,
        )
    };
    result.map_err(|code| match code {
        codes::PRODUCER_FENCED => codes::INVALID_PRODUCER_EPOCH,
        codes::TRANSACTION_ABORTABLE if version <= 3 => codes::INVALID_TXN_STATE,
        other => other,
    })
}

/// Keeps offsets committed in the ongoing transaction of `transactional_id`.
pub(crate) fn stage_offset(
    c: &mut MockCluster,
    transactional_id: &str,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    c.txn
        .pending_offsets
        .entry(transactional_id.to_string())
        .or_default()
        .insert((group.to_string(), topic.to_string(), partition), offset);
}

/// `handleEndTransaction`: with `tv2` (transaction version 2 and EndTxn v5+) every commit and
/// abort bumps the epoch (an abort of an empty transaction too) and a retry of the last one
/// (epoch one below) is answered again; with version 1 the epoch stays. Returns the producer id
/// and epoch to answer with, or an error code (PRODUCER_FENCED unmapped).
pub(crate) fn end_txn(
    c: &mut MockCluster,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    tv2: bool,
    now_ms: i64,
) -> Result<(i64, i16), i16> {
    use TransactionState::*;
    let next_id = c.next_producer_id;
    let meta = c
        .txn
        .txns
        .get_mut(transactional_id)
        .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
    if !tv2 {
        if meta.producer_id != producer_id {
            return Err(codes::INVALID_PRODUCER_ID_MAPPING);
        }
        if meta.producer_epoch != producer_epoch {
            return Err(codes::PRODUCER_FENCED);
        }
        return match (meta.state, commit) {
            (Ongoing, _) => {
                let ids = (meta.producer_id, meta.producer_epoch);
                complete(c, transactional_id, commit, now_ms);
                Ok(ids)
            }
            (CompleteCommit, true) | (CompleteAbort, false) => {
                Ok((meta.producer_id, meta.producer_epoch))
            }
            _ => Err(codes::INVALID_TXN_STATE),
        };
    }
    let retry_on_overflow = meta.last_producer_id == producer_id
        && producer_epoch == i16::MAX - 1
        && meta.producer_epoch == 0;
    let retry_on_bump = i32::from(meta.producer_epoch) == i32::from(producer_epoch) + 1;
    let valid_epoch = match meta.state {
        Ongoing | Empty => producer_epoch == meta.producer_epoch,
        CompleteCommit | CompleteAbort => {
            retry_on_bump || retry_on_overflow || producer_epoch == meta.producer_epoch
        }
    };
    let is_retry = retry_on_bump || retry_on_overflow;
    if meta.producer_id != producer_id && !retry_on_overflow {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if !valid_epoch {
        return Err(codes::PRODUCER_FENCED);
    }
    let bump_to = match (meta.state, commit) {
        (Ongoing, _) => commit,
        (CompleteCommit, true) | (CompleteAbort, false) if is_retry => {
            return Ok((meta.producer_id, meta.producer_epoch))
        }
        (CompleteCommit, false) if !is_retry => false,
        (CompleteAbort, false) | (Empty, false) => false,
        _ => return Err(codes::INVALID_TXN_STATE),
    };
    // prepareAbortOrCommit with an epoch bump: markers carry the new epoch.
    let rotate = exhausted(meta.producer_epoch);
    meta.producer_epoch = meta.producer_epoch.saturating_add(1);
    complete(c, transactional_id, bump_to, now_ms);
    let Some(meta) = c.txn.txns.get_mut(transactional_id) else {
        return Err(codes::UNKNOWN_SERVER_ERROR);
    };
    if rotate {
        meta.last_producer_id = meta.producer_id;
        meta.producer_id = next_id;
        meta.producer_epoch = 0;
        c.next_producer_id += 1;
    }
    Ok((meta.producer_id, meta.producer_epoch))
}

/// Aborts the transactions open for longer than their timeout (Kafka's
/// `abortTimedOutTransactions`, which runs every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms`; the mock checks on every
/// request, with the request's `now_ms`): the epoch is fenced (+1, never returned) and the
/// transaction aborted under it, so the producer's next request is fenced.
pub(crate) fn abort_timed_out(c: &mut MockCluster, now_ms: i64) {
    let expired: Vec<String> = c
        .txn
        .txns
        .iter()
        .filter(|(_, m)| {
            m.state == TransactionState::Ongoing
                && now_ms > m.txn_start_ms.saturating_add(i64::from(m.timeout_ms))
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired {
        if let Some(meta) = c.txn.txns.get_mut(&id) {
            meta.producer_epoch = meta.producer_epoch.saturating_add(1);
            complete(c, &id, false, now_ms);
            c.stats.transactions_timed_out += 1;
        }
    }
}

/// Ends the transaction: a marker under the current producer id and epoch on every partition
/// of it, its offsets made visible (commit) or dropped (abort), the state Complete*.
fn complete(c: &mut MockCluster, transactional_id: &str, commit: bool, now_ms: i64) {
    let Some(meta) = c.txn.txns.get_mut(transactional_id) else {
        return;
    };
    let partitions = std::mem::take(&mut meta.partitions);
    meta.groups.clear();
    // The epoch moves on with the transaction's end: no InitProducerId retry is pending.
    meta.last_producer_epoch = -1;
    meta.state = if commit {
        TransactionState::CompleteCommit
    } else {
        TransactionState::CompleteAbort
    };
    let (pid, epoch) = (meta.producer_id, meta.producer_epoch);
    for (topic, partition) in partitions {
        if let Some(p) = c.partition_mut(&topic, partition) {
            let leader_epoch = p.leader_epoch;
            p.log
                .append_marker(pid, epoch, commit, leader_epoch, now_ms);
            c.stats.markers_written += 1;
        }
    }
    let staged = c.txn.pending_offsets.remove(transactional_id);
    if commit {
        c.txn.offsets.extend(staged.unwrap_or_default());
        c.stats.transactions_committed += 1;
    } else {
        c.stats.transactions_aborted += 1;
    }
}

impl MockCluster {
    /// The coordinator's state of a transactional id (`None` before its first InitProducerId).
    pub fn transaction(&self, transactional_id: &str) -> Option<TransactionInfo> {
        self.txn
            .txns
            .get(transactional_id)
            .map(|m| TransactionInfo {
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                state: m.state,
                partitions: m.partitions.iter().cloned().collect(),
                groups: m.groups.iter().cloned().collect(),
                timeout_ms: m.timeout_ms,
            })
    }

    /// The last stable offset of a partition (the first offset of its oldest open transaction,
    /// else the high watermark); -1 for an unknown partition.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> i64 {
        self.partition(topic, partition)
            .map_or(-1, |p| p.log.last_stable_offset())
    }

    /// Where the batch holding `offset` stands in its transaction (`None` for an offset not in
    /// the log).
    pub fn transaction_status(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Option<TxnStatus> {
        let p = self.partition(topic, partition)?;
        let b = p.log.batches.get(p.log.batch_index_for(offset))?;
        (b.base_offset <= offset).then(|| p.log.txn_status(b))
    }

    /// The records a read_committed consumer gets from a partition: below the last stable
    /// offset, without aborted records and control records.
    pub fn committed_records(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<StoredRecord>, MockError> {
        if !self.topics.contains_key(topic) {
            return Err(MockError::UnknownTopic(topic.to_string()));
        }
        let p = self
            .partition(topic, partition)
            .ok_or_else(|| MockError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })?;
        let lso = p.log.last_stable_offset();
        let mut out = Vec::new();
        for b in p.log.batches.iter().take_while(|b| b.base_offset < lso) {
            if matches!(
                p.log.txn_status(b),
                TxnStatus::NotTransactional | TxnStatus::Committed
            ) {
                out.extend(b.records()?);
            }
        }
        Ok(out)
    }

    /// The offset a group committed for a partition through a committed transaction
    /// (TxnOffsetCommit); offsets of an open or aborted transaction are not visible.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.txn
            .offsets
            .get(&(group.to_string(), topic.to_string(), partition))
            .copied()
    }
}
