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

// TEMPORARY stub until the partitioner branch is merged.
/// Built-in sticky partitioner (stub).
#[derive(Debug)]
pub struct BuiltInPartitioner {
    current: Option<i32>,
}
impl BuiltInPartitioner {
    /// Stub.
    pub fn new(_topic: &str, _sticky_batch_size: usize) -> Self {
        BuiltInPartitioner { current: None }
    }
    /// Stub.
    pub fn peek_current_partition(&mut self, tp: &TopicPartitions<'_>, rng: &mut dyn rand::RngCore) -> i32 {
        *self.current.get_or_insert_with(|| (rng.next_u32() % tp.partition_count.max(1) as u32) as i32)
    }
    /// Stub.
    pub fn update_partition_info(&mut self, _p: i32, _b: usize, _tp: &TopicPartitions<'_>, sw: bool, _rng: &mut dyn rand::RngCore) {
        if sw { self.current = None; }
    }
    /// Stub.
    pub fn update_partition_load_stats(&mut self, _q: &[usize], _ids: &[i32]) {}
}
/// Stub.
pub fn partition_for_key(key: &[u8], n: i32) -> i32 { (key.len() as i32) % n }
