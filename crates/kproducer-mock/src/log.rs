//! One partition's log, in memory: the stored batches, the offsets, the producer states.
//!
//! A replicated Kafka partition is modelled as one log shared by all its replicas, always in
//! sync: the high watermark is the log end offset as soon as an append returns, whatever
//! `acks` says, and the log and its producer states survive leader moves (as they do in Kafka,
//! where the new leader holds the replicated log).

use std::collections::BTreeMap;

use crate::batch::{self, Refusal, StoredBatch, ValidationContext};
use crate::config::TimestampType;
use crate::producer_state::{self, BatchMetadata, ProducerState, Verdict};
use crate::txn::TxnStatus;

/// The result of a successful append (or of a duplicate acknowledged without appending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) base_offset: i64,
    /// `log_append_time_ms` in the answer: the broker's clock for a LogAppendTime topic, the
    /// original batch's timestamp for a duplicate (as Kafka), else -1.
    pub(crate) log_append_time: i64,
    pub(crate) duplicate: bool,
    pub(crate) records: i64,
}

#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    pub(crate) batches: Vec<StoredBatch>,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    pub(crate) producers: BTreeMap<i64, ProducerState>,
    /// Open transactions on this partition: producer id → offset of its first transactional
    /// batch (Kafka's `ProducerStateEntry.currentTxnFirstOffset`).
    pub(crate) ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order (Kafka's transaction index).
    pub(crate) aborted: Vec<AbortedTxn>,
}

/// One aborted transaction of a partition (an entry of Kafka's `.txnindex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub(crate) producer_id: i64,
    /// Offset of its first batch here (the marker's own offset when it wrote nothing here).
    pub(crate) first_offset: i64,
    /// Offset of its ABORT marker.
    pub(crate) last_offset: i64,
}

impl PartitionLog {
    /// Validates and appends one batch (the partition's records of a produce request, already
    /// split by [`batch::single_batch`]), in Kafka's order: record checks, then producer state,
    /// then append.
    pub(crate) fn append(
        &mut self,
        raw: bytes::Bytes,
        ctx: &ValidationContext,
        leader_epoch: i32,
    ) -> Result<Appended, Refusal> {
        let v = batch::validate(raw, ctx)?;
        let h = v.header;
        if h.has_producer_id() {
            let verdict = producer_state::check(
                self.producers.get(&h.producer_id),
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
                h.last_sequence(),
            );
            match verdict {
                Verdict::Append => {}
                Verdict::Duplicate(meta) => {
                    return Ok(Appended {
                        base_offset: meta.first_offset(),
                        log_append_time: meta.timestamp,
                        duplicate: true,
                        records: 0,
                    })
                }
                Verdict::Refuse(code, reason) => return Err(Refusal::generic(code, reason)),
            }
        }
        let base_offset = self.log_end_offset;
        let (bytes, max_ts) = batch::rewrite_for_log(
            &v,
            base_offset,
            leader_epoch,
            ctx.timestamp_type,
            ctx.now_ms,
        );
        let Some(stored) = StoredBatch::from_bytes(bytes) else {
            return Err(Refusal::generic(
                crate::codes::UNKNOWN_SERVER_ERROR,
                "stored batch does not parse",
            ));
        };
        let count = i64::from(h.last_offset_delta) + 1;
        self.log_end_offset += count;
        if h.has_producer_id() {
            let last_offset = base_offset + count - 1;
            self.producers
                .entry(h.producer_id)
                .or_insert_with(ProducerState::empty)
                .add_batch(
                    h.producer_epoch,
                    BatchMetadata {
                        last_seq: h.last_sequence(),
                        last_offset,
                        offset_delta: h.last_offset_delta,
                        timestamp: max_ts,
                    },
                );
        }
        if h.is_transactional() {
            self.ongoing.entry(h.producer_id).or_insert(base_offset);
        }
        self.batches.push(stored);
        Ok(Appended {
            base_offset,
            log_append_time: if ctx.timestamp_type == TimestampType::LogAppendTime {
                ctx.now_ms
            } else {
                -1
            },
            duplicate: false,
            records: count,
        })
    }

    pub(crate) fn high_watermark(&self) -> i64 {
        self.log_end_offset
    }

    /// The last stable offset: the first offset of the oldest open transaction, else the high
    /// watermark.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .map_or(self.high_watermark(), |first| {
                first.min(self.high_watermark())
            })
    }

    /// Appends a COMMIT or ABORT marker of `producer_id` (as `UnifiedLog.appendAsLeader` with
    /// origin COORDINATOR): the transaction leaves the open set (an abort is indexed), and the
    /// producer's epoch on this partition becomes the marker's (`maybeUpdateProducerEpoch`: a
    /// new epoch forgets the retained batches, so the next one starts at sequence 0).
    pub(crate) fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        leader_epoch: i32,
        now_ms: i64,
    ) {
        let offset = self.log_end_offset;
        let bytes = batch::end_txn_marker(
            offset,
            leader_epoch,
            producer_id,
            producer_epoch,
            commit,
            0,
            now_ms,
        );
        let Some(stored) = StoredBatch::from_bytes(bytes) else {
            return;
        };
        let first = self.ongoing.remove(&producer_id);
        if !commit {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset: first.unwrap_or(offset),
                last_offset: offset,
            });
        }
        self.producers
            .entry(producer_id)
            .or_insert_with(ProducerState::empty)
            .set_epoch(producer_epoch);
        self.log_end_offset += 1;
        self.batches.push(stored);
    }

    /// Where a stored batch stands in its transaction.
    pub(crate) fn txn_status(&self, b: &StoredBatch) -> TxnStatus {
        if b.is_control {
            return TxnStatus::Marker;
        }
        if !b.is_transactional {
            return TxnStatus::NotTransactional;
        }
        if self
            .ongoing
            .get(&b.producer_id)
            .is_some_and(|&first| first <= b.base_offset)
        {
            return TxnStatus::Open;
        }
        if self.aborted.iter().any(|a| {
            a.producer_id == b.producer_id
                && a.first_offset <= b.base_offset
                && b.base_offset <= a.last_offset
        }) {
            TxnStatus::Aborted
        } else {
            TxnStatus::Committed
        }
    }

    /// Index of the first batch whose last offset is at or after `offset`.
    pub(crate) fn batch_index_for(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }
}
