//! Idempotent producer state per partition, enforced as Kafka 4.x enforces it for client
//! appends.
//!
//! Sources (apache/kafka):
//! - `storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerStateEntry.java`:
//!   the entry (epoch and the metadata of the last `NUM_BATCHES_TO_RETAIN` = 5 batches),
//!   `findDuplicateBatch` (same epoch, same first and last sequence), `addBatch` (a new epoch
//!   clears the retained batches).
//! - `storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java`:
//!   `checkProducerEpoch` (an older epoch is INVALID_PRODUCER_EPOCH) and `checkSequence` (a new
//!   epoch must start at sequence 0; the same epoch must continue at last sequence + 1, with
//!   `inSequence` wrapping `i32::MAX` to 0; a producer the partition has no state for may start
//!   at any sequence).
//! - `core/src/main/scala/kafka/log/UnifiedLog.scala` `analyzeAndValidateProducerState`: the
//!   duplicate check runs first, and a duplicate is answered with the original batch's offsets,
//!   without error and without appending.
//!
//! Transaction markers set the producer's epoch on the partition (`log.rs`), so a
//! fenced producer's next batch is INVALID_PRODUCER_EPOCH there too.
//!
//! Not modelled (no disk, no retention): producer id expiration (`producer.id.expiration.ms`),
//! state rebuilt from snapshots, the transaction verification state entry (KIP-890: the mock's
//! coordinator answers at once, so verification is a direct check, see `txn.rs`).

use std::collections::VecDeque;

use crate::batch::{decrement_sequence, NO_SEQUENCE};
use crate::codes;

/// `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// `RecordBatch.NO_PRODUCER_EPOCH`.
const NO_PRODUCER_EPOCH: i16 = -1;

/// What the partition remembers of one appended batch (Kafka's `BatchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the batch's last record.
    pub last_seq: i32,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// `lastOffset - firstOffset`.
    pub offset_delta: i32,
    /// The batch's max timestamp after append (a duplicate's answer carries it as
    /// `log_append_time_ms`, as Kafka's does).
    pub timestamp: i64,
}

impl BatchMetadata {
    /// Sequence of the batch's first record.
    pub fn first_seq(&self) -> i32 {
        decrement_sequence(self.last_seq, self.offset_delta)
    }
    /// Offset of the batch's first record.
    pub fn first_offset(&self) -> i64 {
        self.last_offset - i64::from(self.offset_delta)
    }
}

/// One producer's state on one partition (Kafka's `ProducerStateEntry`, data batches only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// The current epoch.
    pub producer_epoch: i16,
    /// The last batches appended in this epoch, oldest first, at most
    /// [`NUM_BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
}

impl ProducerState {
    /// Sequence of the last appended record, -1 (`NO_SEQUENCE`) when none in this epoch.
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// `ProducerStateEntry.findDuplicateBatch`.
    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.producer_epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq() == first_seq && b.last_seq == last_seq)
            .copied()
    }

    /// `ProducerStateEntry.addBatch`: a new epoch starts with no retained batches.
    pub(crate) fn add_batch(&mut self, epoch: i16, meta: BatchMetadata) {
        if epoch != self.producer_epoch {
            self.producer_epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(meta);
    }

    /// `ProducerStateEntry.maybeUpdateProducerEpoch` (a transaction marker): a new epoch
    /// forgets the retained batches.
    pub(crate) fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.producer_epoch {
            self.producer_epoch = epoch;
            self.batches.clear();
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            producer_epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
        }
    }
}

/// The verdict on an idempotent batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Append it.
    Append,
    /// Already appended: answer with this batch's offsets, append nothing.
    Duplicate(BatchMetadata),
    /// Refuse it with this error code (and Kafka's exception message).
    Refuse(i16, String),
}

/// Kafka's checks for one client batch of `producer_id` against the partition's entry
/// (`None` when the partition has no state for the producer).
pub(crate) fn check(
    entry: Option<&ProducerState>,
    producer_id: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
) -> Verdict {
    let Some(current) = entry else {
        // No state: any epoch and any sequence are accepted (checkSequence's new-epoch branch
        // with `updatedEntry.producerEpoch() == NO_PRODUCER_EPOCH`).
        return Verdict::Append;
    };
    if let Some(dup) = current.find_duplicate(epoch, first_seq, last_seq) {
        return Verdict::Duplicate(dup);
    }
    // checkProducerEpoch (data batches: TV_UNKNOWN, so a strictly smaller epoch is refused).
    if epoch < current.producer_epoch {
        return Verdict::Refuse(
            codes::INVALID_PRODUCER_EPOCH,
            format!(
                "Epoch of producer {producer_id} is {epoch}, which is smaller than the last seen epoch {}",
                current.producer_epoch
            ),
        );
    }
    // checkSequence
    if epoch != current.producer_epoch {
        if first_seq != 0 && current.producer_epoch != NO_PRODUCER_EPOCH {
            return Verdict::Refuse(
                codes::OUT_OF_ORDER_SEQUENCE_NUMBER,
                format!(
                    "Invalid sequence number for new epoch of producer {producer_id}: {epoch} (request epoch), {first_seq} (seq. number), {} (current producer epoch)",
                    current.producer_epoch
                ),
            );
        }
        return Verdict::Append;
    }
    let current_last = current.last_seq();
    if !(current.producer_epoch == NO_PRODUCER_EPOCH || in_sequence(current_last, first_seq)) {
        return Verdict::Refuse(
            codes::OUT_OF_ORDER_SEQUENCE_NUMBER,
            format!(
                "Out of order sequence number for producer {producer_id}: {first_seq} (incoming seq. number), {current_last} (current end sequence number)"
            ),
        );
    }
    Verdict::Append
}

/// `ProducerAppendInfo.inSequence`.
fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first_seq: i32, n: i32, first_offset: i64) -> BatchMetadata {
        BatchMetadata {
            last_seq: crate::batch::increment_sequence(first_seq, n - 1),
            last_offset: first_offset + i64::from(n) - 1,
            offset_delta: n - 1,
            timestamp: 0,
        }
    }

    #[test]
    fn an_unknown_producer_may_start_anywhere() {
        assert_eq!(check(None, 1, 3, 4711, 4711), Verdict::Append);
    }

    #[test]
    fn the_rules_in_order() {
        let mut s = ProducerState::empty();
        s.add_batch(2, meta(0, 3, 0)); // seq 0..2
        s.add_batch(2, meta(3, 2, 3)); // seq 3..4
        assert_eq!(check(Some(&s), 1, 2, 5, 6), Verdict::Append);
        assert_eq!(
            check(Some(&s), 1, 2, 0, 2),
            Verdict::Duplicate(meta(0, 3, 0))
        );
        // Same first sequence, different last: not a duplicate, and out of order.
        assert!(matches!(
            check(Some(&s), 1, 2, 0, 1),
            Verdict::Refuse(codes::OUT_OF_ORDER_SEQUENCE_NUMBER, _)
        ));
        assert!(matches!(
            check(Some(&s), 1, 2, 6, 6),
            Verdict::Refuse(codes::OUT_OF_ORDER_SEQUENCE_NUMBER, _)
        ));
        assert!(matches!(
            check(Some(&s), 1, 1, 5, 5),
            Verdict::Refuse(codes::INVALID_PRODUCER_EPOCH, _)
        ));
        // A duplicate under an older epoch is fenced, not acknowledged.
        assert!(matches!(
            check(Some(&s), 1, 1, 0, 2),
            Verdict::Refuse(codes::INVALID_PRODUCER_EPOCH, _)
        ));
        assert_eq!(check(Some(&s), 1, 3, 0, 0), Verdict::Append);
        assert!(matches!(
            check(Some(&s), 1, 3, 5, 5),
            Verdict::Refuse(codes::OUT_OF_ORDER_SEQUENCE_NUMBER, _)
        ));
    }

    #[test]
    fn five_batches_are_retained_and_a_new_epoch_forgets_them() {
        let mut s = ProducerState::empty();
        for i in 0..7 {
            s.add_batch(0, meta(i, 1, i64::from(i)));
        }
        assert_eq!(s.batches.len(), NUM_BATCHES_TO_RETAIN);
        assert_eq!(s.batches[0].first_seq(), 2);
        assert!(matches!(
            check(Some(&s), 9, 0, 1, 1),
            Verdict::Refuse(codes::OUT_OF_ORDER_SEQUENCE_NUMBER, _)
        ));
        assert_eq!(
            check(Some(&s), 9, 0, 2, 2),
            Verdict::Duplicate(meta(2, 1, 2))
        );
        s.add_batch(1, meta(0, 1, 7));
        assert_eq!(s.batches.len(), 1);
        assert_eq!(s.producer_epoch, 1);
    }

    #[test]
    fn sequences_continue_past_i32_max() {
        let mut s = ProducerState::empty();
        s.add_batch(0, meta(i32::MAX - 2, 3, 0)); // MAX-2..MAX
        assert_eq!(check(Some(&s), 1, 0, 0, 1), Verdict::Append);
        assert!(matches!(check(Some(&s), 1, 0, 1, 1), Verdict::Refuse(..)));
        let mut w = ProducerState::empty();
        w.add_batch(0, meta(i32::MAX - 1, 4, 0)); // MAX-1, MAX, 0, 1
        assert_eq!(w.last_seq(), 1);
        assert_eq!(w.batches[0].first_seq(), i32::MAX - 1);
        assert_eq!(check(Some(&w), 1, 0, 2, 2), Verdict::Append);
        assert_eq!(
            check(Some(&w), 1, 0, i32::MAX - 1, 1),
            Verdict::Duplicate(meta(i32::MAX - 1, 4, 0))
        );
    }
}
