//! Choosing a partition (Java's `Partitioner` and built-in partitioning logic).

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
