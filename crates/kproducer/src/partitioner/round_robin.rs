//! Java's `RoundRobinPartitioner`: every record goes to the next partition in turn.

use std::collections::HashMap;
use std::sync::Mutex;

use super::murmur2::to_positive;
use super::{Partitioner, TopicPartitions};

/// Spreads records over partitions in turn, ignoring keys (Java's `RoundRobinPartitioner`).
///
/// One counter per topic; each record takes the next value and goes to
/// `available[counter % available.len()]`, or to `counter % partition_count` when no partition
/// has a known leader.
///
/// Older Java releases skipped partitions (KAFKA-9965): the producer called `partition()` a
/// second time when a record started a new batch (the `abortOnNewBatch` path), advancing the
/// counter twice. Here `partition` is called once per record, so every partition gets its turn.
///
/// ```
/// use kproducer::partitioner::{Partitioner, RoundRobinPartitioner, TopicPartitions};
///
/// let rr = RoundRobinPartitioner::new();
/// let tp = TopicPartitions { topic: "orders", partition_count: 3, available: &[0, 1, 2] };
/// let chosen: Vec<_> = (0..4).map(|_| rr.partition(&tp, None, None)).collect();
/// assert_eq!(chosen, [Some(0), Some(1), Some(2), Some(0)]);
/// ```
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, i32>>,
}

impl RoundRobinPartitioner {
    /// A partitioner with all counters at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic's counter value before incrementing it (Java's `AtomicInteger.getAndIncrement`,
    /// wrapping at `i32::MAX`).
    fn next_value(&self, topic: &str) -> i32 {
        // A poisoned lock only means another thread panicked mid-update of a plain integer.
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(counter) = counters.get_mut(topic) {
            let value = *counter;
            *counter = value.wrapping_add(1);
            return value;
        }
        counters.insert(topic.to_owned(), 1);
        0
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &TopicPartitions<'_>,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
    ) -> Option<i32> {
        let next = to_positive(self.next_value(topic.topic));
        if !topic.available.is_empty() {
            let index = next as usize % topic.available.len();
            return topic.available.get(index).copied();
        }
        // No partition has a known leader: pick among all of them.
        if topic.partition_count > 0 {
            return Some(next % topic.partition_count);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp<'a>(topic: &'a str, count: i32, available: &'a [i32]) -> TopicPartitions<'a> {
        TopicPartitions {
            topic,
            partition_count: count,
            available,
        }
    }

    #[test]
    fn cycles_over_available_partitions_only() {
        let rr = RoundRobinPartitioner::new();
        let t = tp("a", 6, &[1, 3, 4]);
        let got: Vec<_> = (0..7)
            .map(|_| rr.partition(&t, Some(b"k"), None).unwrap())
            .collect();
        assert_eq!(got, [1, 3, 4, 1, 3, 4, 1]);
    }

    #[test]
    fn uses_all_partitions_when_none_available() {
        let rr = RoundRobinPartitioner::new();
        let t = tp("a", 3, &[]);
        let got: Vec<_> = (0..4)
            .map(|_| rr.partition(&t, None, None).unwrap())
            .collect();
        assert_eq!(got, [0, 1, 2, 0]);
    }

    #[test]
    fn counters_are_per_topic() {
        let rr = RoundRobinPartitioner::new();
        let a = tp("a", 3, &[0, 1, 2]);
        let b = tp("b", 3, &[0, 1, 2]);
        assert_eq!(rr.partition(&a, None, None), Some(0));
        assert_eq!(rr.partition(&a, None, None), Some(1));
        assert_eq!(rr.partition(&b, None, None), Some(0));
        assert_eq!(rr.partition(&a, None, None), Some(2));
    }

    #[test]
    fn counter_wraps_like_java() {
        let rr = RoundRobinPartitioner::new();
        rr.counters.lock().unwrap().insert("a".to_owned(), i32::MAX);
        let t = tp("a", 7, &[]);
        // i32::MAX % 7 == 1; then i32::MIN -> to_positive 0.
        assert_eq!(rr.partition(&t, None, None), Some(1));
        assert_eq!(rr.partition(&t, None, None), Some(0));
    }

    #[test]
    fn topic_without_partitions_falls_back_to_builtin() {
        let rr = RoundRobinPartitioner::new();
        assert_eq!(rr.partition(&tp("a", 0, &[]), None, None), None);
    }
}
