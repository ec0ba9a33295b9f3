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
        if batch::BatchHeader::parse(&raw).is_some_and(|h| h.is_transactional()) {
            // Kafka verifies a transactional batch with the transaction coordinator (KIP-890)
            // before appending; the mock runs no coordinator yet, so no transaction is ongoing
            // and verification fails, with the custom message Kafka translates it to.
            return Err(Refusal {
                message: Some("Partition was not added to the transaction".to_string()),
                ..Refusal::plain(
                    crate::codes::INVALID_TXN_STATE,
                    "Partition was not added to the transaction",
                )
            });
        }
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

    /// Index of the first batch whose last offset is at or after `offset`.
    pub(crate) fn batch_index_for(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }
}
