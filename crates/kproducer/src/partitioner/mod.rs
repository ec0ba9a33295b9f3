//! Choosing a partition (Java's `Partitioner` and built-in partitioning logic).
//!
//! The order is Java's `KafkaProducer.partition()`: an explicit partition on the record wins,
//! then a user [`Partitioner`] (when it returns `Some`), then [`choose_partition`]: the murmur2
//! hash of the serialized key ([`partition_for_key`]) unless `partitioner.ignore.keys`, else the
//! per-topic built-in sticky partitioner (KIP-794), which the accumulator drives while appending.
//! [`RoundRobinPartitioner`] is the one user partitioner Java ships that is still supported.

pub(crate) mod builtin;
mod murmur2;
mod round_robin;

pub(crate) use builtin::{BuiltInPartitioner, LeaderStatus, LoadStatsCollector};
pub use murmur2::{murmur2, partition_for_key, to_positive};
pub use round_robin::RoundRobinPartitioner;

/// What a partitioner knows about a topic when it chooses.
#[derive(Debug, Clone, Copy)]
pub struct TopicPartitions<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Number of partitions.
    pub partition_count: i32,
    /// Partitions whose leader is known, ascending (Java's `availablePartitionsForTopic`).
    pub available: &'a [i32],
}

/// A user-supplied partitioner (what Java's `partitioner.class` selects).
///
/// Returning `None` falls back to the built-in logic (murmur2 for keys, uniform sticky otherwise),
/// as Java does when `partition()` returns `RecordMetadata.UNKNOWN_PARTITION`.
pub trait Partitioner: Send + Sync {
    /// Chooses a partition in `0..topic.partition_count`.
    fn partition(
        &self,
        topic: &TopicPartitions<'_>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Option<i32>;
}

/// Where a record goes, before the accumulator is involved (internal: used by the accumulator).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionChoice {
    /// This partition: explicit on the record, or the key's hash.
    Fixed(i32),
    /// Whatever partition the topic's [`BuiltInPartitioner`] is sticking to when the record is
    /// appended (Java's `RecordMetadata.UNKNOWN_PARTITION`).
    Sticky,
}

/// Java's `KafkaProducer.partition()` decision, minus the user partitioner (the caller asks it
/// first and uses its answer when it gives one).
///
/// An explicit partition wins; else a serialized key, unless `ignore_keys`
/// (`partitioner.ignore.keys`), picks [`partition_for_key`]`(key, num_partitions)`; else the
/// record is [`PartitionChoice::Sticky`]. A key that serialized to null (`None`) counts as no key.
/// The explicit partition is not range-checked here: the producer rejects one outside
/// `0..num_partitions` with `SendError::InvalidPartition`.
///
/// ```
/// use kproducer::partitioner::{choose_partition, partition_for_key, PartitionChoice};
///
/// assert_eq!(choose_partition(Some(2), Some(b"k"), false, 6), PartitionChoice::Fixed(2));
/// assert_eq!(
///     choose_partition(None, Some(b"k"), false, 6),
///     PartitionChoice::Fixed(partition_for_key(b"k", 6)),
/// );
/// assert_eq!(choose_partition(None, Some(b"k"), true, 6), PartitionChoice::Sticky);
/// assert_eq!(choose_partition(None, None, false, 6), PartitionChoice::Sticky);
/// ```
#[doc(hidden)]
pub fn choose_partition(
    explicit: Option<i32>,
    key: Option<&[u8]>,
    ignore_keys: bool,
    num_partitions: i32,
) -> PartitionChoice {
    if let Some(partition) = explicit {
        return PartitionChoice::Fixed(partition);
    }
    match key {
        Some(key) if !ignore_keys => PartitionChoice::Fixed(partition_for_key(key, num_partitions)),
        _ => PartitionChoice::Sticky,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_partition_wins_over_key() {
        assert_eq!(
            choose_partition(Some(5), Some(b"customer-7"), false, 7),
            PartitionChoice::Fixed(5)
        );
        assert_eq!(
            choose_partition(Some(0), None, true, 7),
            PartitionChoice::Fixed(0)
        );
    }

    #[test]
    fn key_is_hashed_with_murmur2() {
        // Java: BuiltInPartitioner.partitionForKey("customer-7", 7) == 6, (.., 100) == 11.
        assert_eq!(
            choose_partition(None, Some(b"customer-7"), false, 7),
            PartitionChoice::Fixed(6)
        );
        assert_eq!(
            choose_partition(None, Some(b"customer-7"), false, 100),
            PartitionChoice::Fixed(11)
        );
        // An empty key is still a key.
        assert_eq!(
            choose_partition(None, Some(b""), false, 16),
            PartitionChoice::Fixed(9)
        );
    }

    #[test]
    fn ignored_or_missing_key_is_sticky() {
        assert_eq!(
            choose_partition(None, Some(b"customer-7"), true, 7),
            PartitionChoice::Sticky
        );
        assert_eq!(
            choose_partition(None, None, false, 7),
            PartitionChoice::Sticky
        );
    }
}
