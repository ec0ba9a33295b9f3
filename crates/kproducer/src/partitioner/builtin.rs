//! The built-in partitioner for records without a key: uniform sticky partitioning, adaptive to
//! broker load (KIP-794), as Java's `BuiltInPartitioner` and the parts of `RecordAccumulator`
//! that drive it.
//!
//! See [`BuiltInPartitioner`] for how the accumulator drives it.

use std::time::{Duration, Instant};

use rand::RngCore;

use super::murmur2::to_positive;
use super::TopicPartitions;

/// The partition currently being filled and how much has gone to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sticky {
    partition: i32,
    produced_bytes: u64,
}

/// Uniform sticky partitioner for one topic (Java's `BuiltInPartitioner`).
///
/// Keyless records stick to one partition until about `batch.size` bytes went to it, then a new
/// partition is drawn: uniformly among partitions with a known leader, or, once load stats are
/// set, weighted towards partitions with shorter queues.
///
/// # How the accumulator drives it
///
/// One `BuiltInPartitioner` per topic, held under the topic's lock. It does no I/O, reads no
/// clock and draws randomness only from the `rng` it is handed.
///
/// **Append** of a record whose [`choose_partition`](super::choose_partition) is
/// [`PartitionChoice::Sticky`](super::PartitionChoice::Sticky), all under one lock (Java needs a
/// race check between these steps because it locks only the partition queue; holding one lock
/// across them makes that check unnecessary):
///
/// 1. `p = peek_current_partition(tp, rng)`.
/// 2. If every batch in `p`'s queue is full (Java's `allBatchesFull`: the queue is empty or its
///    last batch is full), call `update_partition_info(p, 0, tp, true, rng)`: a switch that was
///    deferred earlier completes now. If it returns `true`, go back to 1.
/// 3. Append the record to `p`'s queue (new batch if needed).
/// 4. `update_partition_info(p, appended_bytes, tp, enable_switch, rng)` where `appended_bytes`
///    is how much the batch grew and `enable_switch` is `allBatchesFull` of `p`'s queue *after*
///    the append. Switching only when the queue's batches are full keeps a half-filled batch
///    from being abandoned; after `2 × batch.size` bytes it switches regardless.
///
/// Records with a key or an explicit partition never call these methods.
///
/// **Ready check** (Java's `partitionReady`, once per topic per `ready(now)` pass), with a
/// reusable [`LoadStatsCollector`]:
///
/// 1. `collector.begin(adaptive_enabled, partition_count)`, `adaptive_enabled` being
///    `partitioner.adaptive.partitioning.enable` (when false the pass just clears the stats).
/// 2. For every partition queue the topic has (empty ones too), `collector.record(partition,
///    queue_len, status)`, with [`LeaderStatus::TimedOut`] when the leader's
///    [`NodeLatencyStats::is_unavailable`] says so for `partitioner.availability.timeout.ms`.
/// 3. `collector.finish(&mut partitioner)`.
///
/// **Sender**: for each node that `ready` returned, call Java's `updateNodeLatencyStats`
/// equivalent, [`NodeLatencyStats::record`]`(now, can_drain)`, where `can_drain` says whether the
/// connection could take a request. Skip it when the availability timeout is zero.
///
/// ```
/// use kproducer::internals::partitioner::BuiltInPartitioner;
/// use kproducer::partitioner::TopicPartitions;
///
/// let tp = TopicPartitions { topic: "orders", partition_count: 3, available: &[0, 1, 2] };
/// let mut rng = rand::rng();
/// let mut partitioner = BuiltInPartitioner::new("orders", 100);
///
/// let p = partitioner.peek_current_partition(&tp, &mut rng);
/// // 60 bytes appended, batch not full yet: stay.
/// assert!(!partitioner.update_partition_info(p, 60, &tp, false, &mut rng));
/// assert_eq!(partitioner.peek_current_partition(&tp, &mut rng), p);
/// // 120 bytes and the batch is full: draw a new partition.
/// assert!(partitioner.update_partition_info(p, 60, &tp, true, &mut rng));
/// ```
#[derive(Debug, Clone)]
pub struct BuiltInPartitioner {
    topic: String,
    sticky_batch_size: u64,
    sticky: Option<Sticky>,
    load: PartitionLoadStats,
}

/// Cumulative frequency table over the partitions that may be chosen (Java's
/// `PartitionLoadStats`). Buffers are kept between updates so a ready pass doesn't allocate.
#[derive(Debug, Clone, Default)]
struct PartitionLoadStats {
    active: bool,
    cumulative: Vec<u64>,
    partition_ids: Vec<i32>,
}

impl BuiltInPartitioner {
    /// A partitioner for `topic` that switches after `sticky_batch_size` bytes (the producer's
    /// `batch.size`). A size of 0 is treated as 1, as Java's producer does with `batch.size=0`.
    pub fn new(topic: impl Into<String>, sticky_batch_size: usize) -> Self {
        BuiltInPartitioner {
            topic: topic.into(),
            sticky_batch_size: sticky_batch_size.max(1) as u64,
            sticky: None,
            load: PartitionLoadStats::default(),
        }
    }

    /// The topic this partitioner serves.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The current sticky partition, if one was drawn, without drawing one.
    pub fn current_partition(&self) -> Option<i32> {
        self.sticky.map(|s| s.partition)
    }

    /// Bytes produced to the current sticky partition since it was drawn.
    pub fn produced_bytes(&self) -> u64 {
        self.sticky.map_or(0, |s| s.produced_bytes)
    }

    /// The partition keyless records go to now; draws one if none is current (Java's
    /// `peekCurrentPartitionInfo`).
    ///
    /// `tp.partition_count` must be at least 1. For a topic without partitions it returns 0 and
    /// remembers nothing, rather than dividing by zero.
    pub fn peek_current_partition<R: RngCore + ?Sized>(
        &mut self,
        tp: &TopicPartitions<'_>,
        rng: &mut R,
    ) -> i32 {
        if let Some(sticky) = self.sticky {
            return sticky.partition;
        }
        match self.next_partition(tp, rng) {
            Some(partition) => {
                self.sticky = Some(Sticky {
                    partition,
                    produced_bytes: 0,
                });
                partition
            }
            None => 0,
        }
    }

    /// Counts `appended_bytes` against the sticky `partition` and draws a new partition once
    /// enough was produced (Java's `updatePartitionInfo`). Returns whether a new sticky
    /// partition was drawn (it may happen to be the same number).
    ///
    /// Switches when at least `batch.size` bytes went to the partition and `enable_switch` is
    /// true (all batches in that partition's queue are full), or when at least `2 × batch.size`
    /// bytes went to it whatever `enable_switch` says. Does nothing when `partition` is not the
    /// current sticky partition (a stale caller, or a record that wasn't placed by this
    /// partitioner).
    pub fn update_partition_info<R: RngCore + ?Sized>(
        &mut self,
        partition: i32,
        appended_bytes: usize,
        tp: &TopicPartitions<'_>,
        enable_switch: bool,
        rng: &mut R,
    ) -> bool {
        let Some(sticky) = self.sticky.as_mut() else {
            return false;
        };
        if sticky.partition != partition {
            return false;
        }
        sticky.produced_bytes = sticky.produced_bytes.saturating_add(appended_bytes as u64);
        let produced = sticky.produced_bytes;
        let enough = produced >= self.sticky_batch_size && enable_switch;
        let too_much = produced >= self.sticky_batch_size.saturating_mul(2);
        if !(enough || too_much) {
            return false;
        }
        match self.next_partition(tp, rng) {
            Some(next) => {
                tracing::trace!(topic = %self.topic, from = partition, to = next, "switching sticky partition");
                self.sticky = Some(Sticky {
                    partition: next,
                    produced_bytes: 0,
                });
                true
            }
            None => false,
        }
    }

    /// Sets the load stats from queue lengths (Java's `updatePartitionLoadStats`); prefer
    /// [`LoadStatsCollector`], which builds these arguments the way Java's `partitionReady` does.
    ///
    /// `queue_sizes[i]` is the number of batches queued for `partition_ids[i]`, listing only
    /// partitions that may be chosen (leader known and not timed out). `total_queues` is the
    /// number of partition queues of the topic, listed or not.
    ///
    /// No stats (uniform choice) when nothing is listed, when the topic has fewer than 2 queues,
    /// or when every queue is listed and all have the same length. Otherwise each listed
    /// partition gets weight `max_len + 1 - len`, so shorter queues are drawn more often.
    pub fn update_partition_load_stats(
        &mut self,
        queue_sizes: &[usize],
        partition_ids: &[i32],
        total_queues: usize,
    ) {
        let length = queue_sizes.len().min(partition_ids.len());
        if length < 1 || total_queues < 2 {
            self.clear_partition_load_stats();
            return;
        }
        let sizes = &queue_sizes[..length];
        let first = sizes[0];
        let all_equal = sizes.iter().all(|&s| s == first);
        if all_equal && length >= total_queues {
            self.clear_partition_load_stats();
            return;
        }
        let max_plus_1 = sizes.iter().copied().max().unwrap_or(0) as u64 + 1;

        let load = &mut self.load;
        load.cumulative.clear();
        load.partition_ids.clear();
        let mut running = 0u64;
        for (&size, &id) in sizes.iter().zip(partition_ids) {
            // Each weight is at least 1, so the table is strictly increasing.
            running = running.saturating_add(max_plus_1 - size as u64);
            load.cumulative.push(running);
            load.partition_ids.push(id);
        }
        load.active = true;
        tracing::trace!(topic = %self.topic, cft = ?load.cumulative, ids = ?load.partition_ids, "partition load stats");
    }

    /// Drops the load stats: new partitions are drawn uniformly (Java passes `null` stats when
    /// adaptive partitioning is off or not every partition has a queue yet).
    pub fn clear_partition_load_stats(&mut self) {
        self.load.active = false;
    }

    /// The load stats as (cumulative frequency table, partition ids), or `None` when partitions
    /// are drawn uniformly.
    pub fn load_stats(&self) -> Option<(&[u64], &[i32])> {
        self.load
            .active
            .then_some((&self.load.cumulative[..], &self.load.partition_ids[..]))
    }

    /// The end of the random range when load stats are set (Java's `loadStatsRangeEnd`).
    pub fn load_stats_range_end(&self) -> Option<u64> {
        self.load_stats()
            .and_then(|(cumulative, _)| cumulative.last().copied())
    }

    /// Draws the next sticky partition (Java's `nextPartition`). One random number per draw.
    fn next_partition<R: RngCore + ?Sized>(
        &self,
        tp: &TopicPartitions<'_>,
        rng: &mut R,
    ) -> Option<i32> {
        // Java: Utils.toPositive(ThreadLocalRandom.current().nextInt()).
        let random = to_positive(rng.next_u32() as i32) as u64;

        if let Some((cumulative, ids)) = self.load_stats() {
            // Partitions without a leader or timed out are not in the table.
            let end = cumulative.last().copied().filter(|&e| e > 0)?;
            let weighted = random % end;
            // First entry strictly greater than `weighted` (Java's binarySearch + 1 dance).
            let index = cumulative.partition_point(|&c| c <= weighted);
            return ids.get(index).copied();
        }
        if !tp.available.is_empty() {
            let index = (random % tp.available.len() as u64) as usize;
            return tp.available.get(index).copied();
        }
        // No partition has a known leader: pick among all of them.
        if tp.partition_count > 0 {
            return Some((random % tp.partition_count as u64) as i32);
        }
        None
    }
}

/// When a node last had data ready and last could take it (Java's
/// `RecordAccumulator.NodeLatencyStats`). The accumulator keeps one per node.
///
/// A node whose data has been ready but undrainable for longer than
/// `partitioner.availability.timeout.ms` has its partitions left out of the load stats, so new
/// sticky partitions avoid it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use kproducer::internals::partitioner::NodeLatencyStats;
///
/// let t0 = Instant::now();
/// let mut stats = NodeLatencyStats::new(t0);
/// stats.record(t0 + Duration::from_millis(150), false); // ready, but the connection is busy
/// assert!(stats.is_unavailable(Duration::from_millis(100)));
/// stats.record(t0 + Duration::from_millis(160), true); // drained
/// assert!(!stats.is_unavailable(Duration::from_millis(100)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLatencyStats {
    /// Last time the node had batches ready to send.
    pub ready_time: Instant,
    /// Last time batches could be drained to the node.
    pub drain_time: Instant,
}

impl NodeLatencyStats {
    /// Stats for a node first seen at `now`.
    pub fn new(now: Instant) -> Self {
        NodeLatencyStats {
            ready_time: now,
            drain_time: now,
        }
    }

    /// The node had data ready at `now`; `can_drain` says whether it could be sent (Java's
    /// `updateNodeLatencyStats`).
    pub fn record(&mut self, now: Instant, can_drain: bool) {
        if can_drain {
            self.drain_time = now;
        }
        self.ready_time = now;
    }

    /// Whether the node has been ready but not drainable for longer than `availability_timeout`
    /// (`partitioner.availability.timeout.ms`; zero disables the check).
    pub fn is_unavailable(&self, availability_timeout: Duration) -> bool {
        !availability_timeout.is_zero()
            && self.ready_time.saturating_duration_since(self.drain_time) > availability_timeout
    }
}

/// What the ready check knows about a partition's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderStatus {
    /// No leader in the metadata.
    Unknown,
    /// Leader known and responsive.
    Available,
    /// Leader known but [`NodeLatencyStats::is_unavailable`] for the availability timeout.
    TimedOut,
}

/// Gathers queue lengths during a ready pass and hands them to
/// [`BuiltInPartitioner::update_partition_load_stats`] as Java's `partitionReady` does. Keep one
/// and reuse it: its buffers are kept between passes.
///
/// ```
/// use kproducer::internals::partitioner::{BuiltInPartitioner, LeaderStatus, LoadStatsCollector};
///
/// let mut partitioner = BuiltInPartitioner::new("orders", 16384);
/// let mut collector = LoadStatsCollector::new();
/// collector.begin(true, 3);
/// collector.record(0, 0, LeaderStatus::Available);
/// collector.record(1, 3, LeaderStatus::Available);
/// collector.record(2, 1, LeaderStatus::Available);
/// collector.finish(&mut partitioner);
/// // Weights 4, 1, 3: partition 0 (empty queue) is drawn half the time.
/// assert_eq!(partitioner.load_stats(), Some((&[4u64, 5, 8][..], &[0, 1, 2][..])));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LoadStatsCollector {
    enabled: bool,
    partition_count: usize,
    queues: usize,
    queue_sizes: Vec<usize>,
    partition_ids: Vec<i32>,
}

impl LoadStatsCollector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a pass over one topic with `partition_count` partitions;
    /// `adaptive_enabled` is `partitioner.adaptive.partitioning.enable`.
    pub fn begin(&mut self, adaptive_enabled: bool, partition_count: i32) {
        self.enabled = adaptive_enabled;
        self.partition_count = usize::try_from(partition_count).unwrap_or(0);
        self.queues = 0;
        self.queue_sizes.clear();
        self.partition_ids.clear();
    }

    /// Records one partition queue holding `queue_len` batches.
    ///
    /// As in Java, a partition whose leader timed out is left out only when its queue is not
    /// empty: an empty queue counts with length 0 whatever its leader's latency.
    pub fn record(&mut self, partition: i32, queue_len: usize, leader: LeaderStatus) {
        self.queues += 1;
        if !self.enabled {
            return;
        }
        let include = match leader {
            LeaderStatus::Unknown => false,
            LeaderStatus::Available => true,
            LeaderStatus::TimedOut => queue_len == 0,
        };
        if include {
            self.queue_sizes.push(queue_len);
            self.partition_ids.push(partition);
        }
    }

    /// Ends the pass and updates `partitioner`. Load stats stay off until every partition has a
    /// queue: a partition without one would never be drawn (Java's rule).
    pub fn finish(&self, partitioner: &mut BuiltInPartitioner) {
        if !self.enabled || self.queues < self.partition_count {
            partitioner.clear_partition_load_stats();
            return;
        }
        partitioner.update_partition_load_stats(
            &self.queue_sizes,
            &self.partition_ids,
            self.queues,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Returns scripted values from `next_u32`, then repeats the last one.
    #[derive(Clone)]
    struct Scripted {
        values: Vec<u32>,
        next: usize,
    }

    impl Scripted {
        fn new(values: &[u32]) -> Self {
            Scripted {
                values: values.to_vec(),
                next: 0,
            }
        }
    }

    impl RngCore for Scripted {
        fn next_u32(&mut self) -> u32 {
            let v = self.values[self.next.min(self.values.len() - 1)];
            self.next += 1;
            v
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32())
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            rand::rand_core::impls::fill_bytes_via_next(self, dst)
        }
    }

    fn all(n: i32) -> Vec<i32> {
        (0..n).collect()
    }

    fn tp<'a>(count: i32, available: &'a [i32]) -> TopicPartitions<'a> {
        TopicPartitions {
            topic: "t",
            partition_count: count,
            available,
        }
    }

    const RANDOMS: [u32; 17] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99, 12345, 2147483647,
    ];

    /// (listed queue sizes, listed partition ids, total queues, Java's `loadStatsRangeEnd` or 0
    /// for no stats, partition Java's `nextPartition` chose for each of `RANDOMS` with an
    /// 8-partition cluster). Generated by `partitioner/java/BuiltInPartitionerVectors.java`
    /// against kafka-clients 4.1.0.
    #[allow(clippy::type_complexity)]
    const JAVA_LOAD_STATS: &[(&[usize], &[i32], usize, u64, [i32; 17])] = &[
        (
            &[0, 3, 1],
            &[0, 1, 2],
            3,
            8,
            [0, 0, 0, 0, 1, 2, 2, 2, 0, 0, 0, 0, 1, 2, 0, 0, 2],
        ),
        (
            &[5, 0, 2, 9],
            &[0, 1, 2, 3],
            4,
            24,
            [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1],
        ),
        (
            &[2, 2, 2],
            &[0, 1, 2],
            3,
            0,
            [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 3, 1, 7],
        ),
        (
            &[2, 2],
            &[0, 2],
            3,
            2,
            [0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 2, 2, 2],
        ),
        (
            &[1, 4],
            &[3, 5],
            3,
            5,
            [3, 3, 3, 3, 5, 3, 3, 3, 3, 5, 3, 3, 3, 3, 5, 3, 3],
        ),
        (
            &[7],
            &[0],
            1,
            0,
            [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 3, 1, 7],
        ),
        (
            &[],
            &[],
            2,
            0,
            [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 3, 1, 7],
        ),
        (
            &[1, 1, 1, 1, 10],
            &[4, 3, 2, 1, 0],
            5,
            41,
            [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 4, 1],
        ),
    ];

    #[test]
    fn load_stats_choices_match_java() {
        let available = all(8);
        let cluster = tp(8, &available);
        for (sizes, ids, total, range_end, expected) in JAVA_LOAD_STATS {
            let mut probe = BuiltInPartitioner::new("t", 1);
            probe.update_partition_load_stats(sizes, ids, *total);
            assert_eq!(
                probe.load_stats_range_end().unwrap_or(0),
                *range_end,
                "{sizes:?}"
            );
            for (random, want) in RANDOMS.iter().zip(expected) {
                let mut p = BuiltInPartitioner::new("t", 1);
                p.update_partition_load_stats(sizes, ids, *total);
                let got = p.peek_current_partition(&cluster, &mut Scripted::new(&[*random]));
                assert_eq!(got, *want, "sizes {sizes:?} ids {ids:?} random {random}");
            }
        }
    }

    #[test]
    fn load_stats_table_favours_shorter_queues() {
        let mut p = BuiltInPartitioner::new("t", 1);
        p.update_partition_load_stats(&[0, 3, 1], &[10, 11, 12], 3);
        // Inverted sizes 4, 1, 3 as a running sum.
        assert_eq!(p.load_stats(), Some((&[4u64, 5, 8][..], &[10, 11, 12][..])));

        // Count where each of the 8 equally likely random values lands.
        let tp_all = [10, 11, 12];
        let mut hits = [0; 3];
        for r in 0..8 {
            let mut fresh = p.clone();
            let got = fresh.peek_current_partition(&tp(13, &tp_all), &mut Scripted::new(&[r]));
            hits[(got - 10) as usize] += 1;
        }
        assert_eq!(hits, [4, 1, 3]);
    }

    #[test]
    fn equal_queues_mean_uniform_unless_some_were_excluded() {
        let mut p = BuiltInPartitioner::new("t", 1);
        p.update_partition_load_stats(&[2, 2, 2], &[0, 1, 2], 3);
        assert_eq!(p.load_stats(), None);
        p.update_partition_load_stats(&[2, 2], &[0, 2], 3);
        assert_eq!(p.load_stats(), Some((&[1u64, 2][..], &[0, 2][..])));
        p.clear_partition_load_stats();
        assert_eq!(p.load_stats_range_end(), None);
    }

    #[test]
    fn uniform_choice_uses_only_available_partitions() {
        // Java, 6 partitions with 1 and 4 leaderless, for each of RANDOMS.
        let java = [0, 2, 3, 5, 0, 2, 3, 5, 0, 2, 3, 5, 0, 2, 5, 2, 5];
        let available = [0, 2, 3, 5];
        for (r, want) in RANDOMS.iter().zip(java) {
            let mut p = BuiltInPartitioner::new("t", 1);
            let got = p.peek_current_partition(&tp(6, &available), &mut Scripted::new(&[*r]));
            assert_eq!(got, want, "random {r}");
        }
    }

    #[test]
    fn uniform_choice_falls_back_to_all_partitions_when_none_available() {
        // Java, 5 partitions none with a leader, for each of RANDOMS.
        let java = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 2];
        for (r, want) in RANDOMS.iter().zip(java) {
            let mut p = BuiltInPartitioner::new("t", 1);
            let got = p.peek_current_partition(&tp(5, &[]), &mut Scripted::new(&[*r]));
            assert_eq!(got, want, "random {r}");
        }
    }

    #[test]
    fn random_values_with_the_sign_bit_are_made_positive_like_java() {
        // 0xffff_ffff is Java's nextInt() == -1 -> toPositive = i32::MAX; i32::MAX % 3 == 1.
        let available = all(3);
        let mut p = BuiltInPartitioner::new("t", 1);
        let got = p.peek_current_partition(&tp(3, &available), &mut Scripted::new(&[u32::MAX]));
        assert_eq!(got, 1);
    }

    #[test]
    fn sticky_switching_matches_java() {
        // Java, batch.size 100, 5 partitions, scripted randoms; each step is (appended bytes,
        // enable_switch, partition before, partition after).
        let steps: [(usize, bool, i32, i32); 14] = [
            (30, true, 2, 2),
            (30, true, 2, 2),
            (30, true, 2, 2),
            (30, true, 2, 3),
            (60, false, 3, 3),
            (60, false, 3, 3),
            (10, false, 3, 3),
            (0, true, 3, 1),
            (99, true, 1, 1),
            (1, true, 1, 4),
            (150, false, 4, 4),
            (250, false, 4, 0),
            (199, false, 0, 0),
            (1, false, 0, 2),
        ];
        let available = all(5);
        let cluster = tp(5, &available);
        let mut rng = Scripted::new(&[7, 3, 11, 4, 0, 2, 9, 13, 21, 6]);
        let mut p = BuiltInPartitioner::new("t", 100);
        for (i, (bytes, enable, before, after)) in steps.into_iter().enumerate() {
            let now = p.peek_current_partition(&cluster, &mut rng);
            assert_eq!(now, before, "step {i} before");
            let switched = p.update_partition_info(now, bytes, &cluster, enable, &mut rng);
            assert_eq!(
                p.peek_current_partition(&cluster, &mut rng),
                after,
                "step {i} after"
            );
            // Every switch in this script draws a different partition.
            assert_eq!(switched, before != after, "step {i}");
        }
    }

    #[test]
    fn switches_after_batch_size_when_enabled() {
        let available = all(4);
        let cluster = tp(4, &available);
        let mut rng = Scripted::new(&[1, 2]);
        let mut p = BuiltInPartitioner::new("t", 100);
        assert_eq!(p.peek_current_partition(&cluster, &mut rng), 1);
        assert!(!p.update_partition_info(1, 99, &cluster, true, &mut rng));
        assert_eq!(p.produced_bytes(), 99);
        assert!(p.update_partition_info(1, 1, &cluster, true, &mut rng));
        assert_eq!(p.current_partition(), Some(2));
        assert_eq!(p.produced_bytes(), 0);
    }

    #[test]
    fn no_switch_when_disabled_until_twice_batch_size() {
        let available = all(4);
        let cluster = tp(4, &available);
        let mut rng = Scripted::new(&[1, 3]);
        let mut p = BuiltInPartitioner::new("t", 100);
        assert_eq!(p.peek_current_partition(&cluster, &mut rng), 1);
        assert!(!p.update_partition_info(1, 150, &cluster, false, &mut rng));
        assert!(!p.update_partition_info(1, 49, &cluster, false, &mut rng));
        assert_eq!(p.current_partition(), Some(1));
        // The deferred switch completes once the queue's batches are full (0 bytes appended).
        let mut deferred = p.clone();
        assert!(deferred.update_partition_info(1, 0, &cluster, true, &mut rng.clone()));
        assert_eq!(deferred.current_partition(), Some(3));
        // Or at 2 x batch.size regardless.
        assert!(p.update_partition_info(1, 1, &cluster, false, &mut rng));
        assert_eq!(p.current_partition(), Some(3));
    }

    #[test]
    fn updates_for_another_partition_are_ignored() {
        let available = all(4);
        let cluster = tp(4, &available);
        let mut rng = Scripted::new(&[1, 2]);
        let mut p = BuiltInPartitioner::new("t", 10);
        // Nothing current yet.
        assert!(!p.update_partition_info(1, 100, &cluster, true, &mut rng));
        assert_eq!(p.peek_current_partition(&cluster, &mut rng), 1);
        assert!(!p.update_partition_info(3, 100, &cluster, true, &mut rng));
        assert_eq!(p.current_partition(), Some(1));
        assert_eq!(p.produced_bytes(), 0);
    }

    #[test]
    fn keyless_records_spread_evenly_over_many_switches() {
        let available = all(4);
        let cluster = tp(4, &available);
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let mut p = BuiltInPartitioner::new("t", 1000);
        let mut bytes = [0usize; 4];
        for _ in 0..40_000 {
            let part = p.peek_current_partition(&cluster, &mut rng);
            bytes[part as usize] += 100;
            p.update_partition_info(part, 100, &cluster, true, &mut rng);
        }
        // 4 MB in 1000-byte sticky runs: each partition gets ~1 MB.
        for b in bytes {
            assert!((850_000..1_150_000).contains(&b), "{bytes:?}");
        }
    }

    #[test]
    fn topic_without_partitions_does_not_panic() {
        let mut p = BuiltInPartitioner::new("t", 0);
        assert_eq!(
            p.peek_current_partition(&tp(0, &[]), &mut Scripted::new(&[5])),
            0
        );
        assert_eq!(p.current_partition(), None);
    }

    #[test]
    fn collector_excludes_unknown_and_timed_out_leaders() {
        let mut p = BuiltInPartitioner::new("t", 1);
        let mut c = LoadStatsCollector::new();
        c.begin(true, 4);
        c.record(0, 2, LeaderStatus::Available);
        c.record(1, 5, LeaderStatus::TimedOut);
        c.record(2, 1, LeaderStatus::Unknown);
        c.record(3, 0, LeaderStatus::Available);
        c.finish(&mut p);
        // Only 0 and 3 listed: max 2, weights 1 and 3.
        assert_eq!(p.load_stats(), Some((&[1u64, 4][..], &[0, 3][..])));
        for r in 0..4 {
            let mut fresh = p.clone();
            let got = fresh.peek_current_partition(&tp(4, &[0, 1, 3]), &mut Scripted::new(&[r]));
            assert!(got == 0 || got == 3, "random {r} chose {got}");
        }
    }

    #[test]
    fn collector_keeps_empty_queue_of_timed_out_leader_like_java() {
        let mut p = BuiltInPartitioner::new("t", 1);
        let mut c = LoadStatsCollector::new();
        c.begin(true, 2);
        c.record(0, 0, LeaderStatus::TimedOut);
        c.record(1, 1, LeaderStatus::Available);
        c.finish(&mut p);
        assert_eq!(p.load_stats(), Some((&[2u64, 3][..], &[0, 1][..])));
    }

    #[test]
    fn collector_needs_every_partition_queue_and_adaptive_on() {
        let mut p = BuiltInPartitioner::new("t", 1);
        let mut c = LoadStatsCollector::new();
        c.begin(true, 3);
        c.record(0, 0, LeaderStatus::Available);
        c.record(1, 4, LeaderStatus::Available);
        c.finish(&mut p);
        assert_eq!(p.load_stats(), None, "partition 2 has no queue yet");

        c.begin(false, 2);
        c.record(0, 0, LeaderStatus::Available);
        c.record(1, 4, LeaderStatus::Available);
        c.finish(&mut p);
        assert_eq!(p.load_stats(), None, "adaptive partitioning disabled");

        c.begin(true, 2);
        c.record(0, 0, LeaderStatus::Available);
        c.record(1, 4, LeaderStatus::Available);
        c.finish(&mut p);
        assert_eq!(p.load_stats(), Some((&[5u64, 6][..], &[0, 1][..])));
    }

    #[test]
    fn node_latency_stats_time_out_only_past_the_threshold() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = NodeLatencyStats::new(t0);
        s.record(t0 + ms(100), false);
        assert!(
            !s.is_unavailable(ms(100)),
            "exactly the timeout is still available"
        );
        s.record(t0 + ms(101), false);
        assert!(s.is_unavailable(ms(100)));
        assert!(!s.is_unavailable(Duration::ZERO), "zero disables the check");
        s.record(t0 + ms(102), true);
        assert!(!s.is_unavailable(ms(100)));
        assert_eq!(s.drain_time, t0 + ms(102));
    }
}
