//! The RecordAccumulator: per-partition queues of batches whose memory is bounded by
//! `buffer.memory` (Java's `RecordAccumulator` + `BufferPool`).
//!
//! Sans-IO: every method takes `now`; nothing here waits. When memory is short,
//! [`RecordAccumulator::append`] says so and the caller (the producer) waits for memory to be
//! freed, up to `max.block.ms`, then calls again.
//!
//! How the sender uses it, once per wake-up:
//! 1. [`RecordAccumulator::expired`] — batches past `delivery.timeout.ms` fail.
//! 2. [`RecordAccumulator::ready`] — which leaders have a sendable batch, and when to look again.
//! 3. [`RecordAccumulator::drain`] — for each ready leader, up to one batch per partition,
//!    at most `max.request.size` bytes, closed and ready for the wire.
//! 4. [`RecordAccumulator::deallocate`] when a batch is done; [`RecordAccumulator::reenqueue`]
//!    to retry it.

pub mod batch;
mod incomplete;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

pub use batch::{BatchAck, BatchResult, Callback, ProducerBatch, RecordInfo, TopicPartition};

pub use crate::compression::Compression;
use crate::compression::CompressionRatioEstimator;
use crate::metadata::{Cluster, TopicInfo};
pub use crate::partitioner::PartitionChoice;
use crate::partitioner::{BuiltInPartitioner, LeaderStatus, LoadStatsCollector, TopicPartitions};
use crate::protocol::record_batch::{BatchHeader, RecordBatchBuilder, BATCH_HEADER_LEN};
use crate::record::Header;

/// The accumulator's settings (from [`ProducerConfig`](crate::ProducerConfig)).
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    /// `batch.size`.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `buffer.memory`.
    pub buffer_memory: usize,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `partitioner.adaptive.partitioning.enable`.
    pub adaptive_partitioning: bool,
    /// `compression.type` and its level: applied once per batch, at drain.
    pub compression: Compression,
    /// `max.request.size`: no compressed batch passes it, however badly its data compresses.
    pub max_request_size: usize,
}

/// What the sender decides while draining: whether a partition's first batch may go now, and
/// which header (producer id, epoch, sequence) it carries. Closures `FnMut(&ProducerBatch) ->
/// BatchHeader` are policies that let every batch go.
pub trait DrainPolicy {
    /// Whether `first`, the head of its partition's queue, may be drained now.
    fn may_drain(&mut self, first: &ProducerBatch) -> bool {
        let _ = first;
        true
    }

    /// The header for a batch being drained.
    fn stamp(&mut self, batch: &ProducerBatch) -> BatchHeader;
}

impl<F: FnMut(&ProducerBatch) -> BatchHeader> DrainPolicy for F {
    fn stamp(&mut self, batch: &ProducerBatch) -> BatchHeader {
        self(batch)
    }
}

/// A record, serialized, ready to append.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Serialized key.
    pub key: Option<&'a [u8]>,
    /// Serialized value.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: &'a [Header],
}

/// A successful append.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The batch's shared result (the record's future points into it).
    pub result: Arc<BatchResult>,
    /// The record's index in its batch (offset = base offset + index).
    pub index: usize,
    /// The partition chosen.
    pub partition: i32,
    /// The append created a batch (the sender must arm its linger timer).
    pub new_batch: bool,
    /// A batch became full, or (compressed) reached `batch.size` bytes of records: the sender
    /// should look now.
    pub batch_full: bool,
}

/// Why an append did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// `buffer.memory` has fewer than `needed` free bytes: wait for memory, then try again.
    NoMemory {
        /// Bytes the new batch needs.
        needed: usize,
    },
    /// The record alone is larger than `buffer.memory`.
    TooLarge {
        /// Upper bound of the record's batch size.
        size: usize,
    },
    /// The accumulator was closed.
    Closed,
    /// [`PartitionChoice::Sticky`] needs the topic's metadata.
    NoMetadata,
    /// An explicit partition the topic does not have.
    InvalidPartition {
        /// The partition asked for.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },
    /// A transactional producer's state refuses records now.
    Transaction(crate::txn::TransactionError),
}

/// What [`RecordAccumulator::ready`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadyCheck {
    /// Leaders that have at least one sendable batch.
    pub ready_nodes: HashSet<i32>,
    /// When a batch that isn't sendable yet becomes sendable (linger or backoff ends).
    pub next_check: Option<Instant>,
    /// Some queued partition has no known leader: metadata needs a refresh.
    pub unknown_leaders: bool,
}

/// The memory a new batch for `rec` takes: `batch_size`, or more for a big record.
fn alloc_size(batch_size: usize, rec: &RecordRef<'_>) -> usize {
    let upper = BATCH_HEADER_LEN
        + RecordBatchBuilder::record_size_upper_bound(rec.key, rec.value, rec.headers);
    upper.max(batch_size)
}

/// What a record's callback holds until its batch completes: the table entry and the boxed
/// closure's heap block (allocator granularity: 16 bytes, 32 at least; none for a closure
/// that captures nothing).
fn callback_charge(cb: &Callback) -> usize {
    let closure = std::mem::size_of_val(&**cb);
    let heap = if closure == 0 {
        0
    } else {
        (closure + 8).next_multiple_of(16).max(32)
    };
    std::mem::size_of::<(u32, Callback)>() + heap
}

/// A new batch: a recycled one (from `shells`, whose tables weigh `shell_bytes`) renewed, else
/// a fresh one.
fn new_batch(
    shells: &mut Vec<ProducerBatch>,
    shell_bytes: &mut usize,
    tp: TopicPartition,
    id: u64,
    buf: Vec<u8>,
    base_timestamp: i64,
    now: Instant,
) -> ProducerBatch {
    match shells.pop() {
        Some(mut b) => {
            *shell_bytes = shell_bytes.saturating_sub(b.table_bytes());
            b.renew(tp, id, buf, base_timestamp, now);
            b
        }
        None => ProducerBatch::new(tp, id, buf, base_timestamp, now),
    }
}

/// Most grown buffers kept for reuse (see `RecordAccumulator::grown`).
pub const GROWN_KEPT: usize = 8;
/// Grown buffers are kept only up to `buffer.memory` / this in all.
pub const GROWN_MAX_SHARE: usize = 8;
/// Most compressed output buffers kept for reuse (see `RecordAccumulator::outputs`).
pub const OUTPUT_KEPT: usize = 8;
/// Compressed output buffers are kept only up to `buffer.memory` / this in all.
pub const OUTPUT_MAX_SHARE: usize = 16;

/// Frees the kept grown buffers, crediting their charge to `available` (memory ran short).
fn release_grown(available: &mut usize, grown: &mut Vec<Vec<u8>>) {
    for b in grown.drain(..) {
        *available += b.capacity();
    }
}

/// Maps on the per-record path hash with Fx: keys are ours (topic names, partition ids), not
/// attacker-chosen, and SipHash showed in profiles.
type FxMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

struct TopicQueues {
    /// The topic's name, shared by its batches.
    name: Arc<str>,
    partitions: PartitionQueues,
    sticky: Option<BuiltInPartitioner>,
}

impl TopicQueues {
    fn new(name: Arc<str>) -> Self {
        TopicQueues {
            name,
            partitions: PartitionQueues::default(),
            sticky: None,
        }
    }
}

/// Every topic's queues, in a vector (indexes stay valid: topics are never removed), found by
/// name through a map, with the last one used checked first: a producer mostly sends to the
/// same topic, and comparing one name is cheaper than hashing it.
#[derive(Default)]
struct Topics {
    all: Vec<TopicQueues>,
    index: FxMap<Arc<str>, usize>,
    last: usize,
}

impl Topics {
    fn position(&self, topic: &str) -> Option<usize> {
        if self.all.get(self.last).is_some_and(|q| &*q.name == topic) {
            return Some(self.last);
        }
        self.index.get(topic).copied()
    }

    fn get_or_insert(&mut self, topic: &str) -> &mut TopicQueues {
        let i = match self.position(topic) {
            Some(i) => i,
            None => {
                let name: Arc<str> = Arc::from(topic);
                self.all.push(TopicQueues::new(name.clone()));
                self.index.insert(name, self.all.len() - 1);
                self.all.len() - 1
            }
        };
        self.last = i;
        &mut self.all[i]
    }

    fn get_mut(&mut self, topic: &str) -> Option<&mut TopicQueues> {
        let i = self.position(topic)?;
        self.all.get_mut(i)
    }

    fn values(&self) -> std::slice::Iter<'_, TopicQueues> {
        self.all.iter()
    }

    fn values_mut(&mut self) -> std::slice::IterMut<'_, TopicQueues> {
        self.all.iter_mut()
    }
}

/// Partition ids below this index a vector; others (not seen in practice) a map.
const DIRECT_PARTITIONS: usize = 1 << 16;

type Queue = VecDeque<ProducerBatch>;

/// A topic's batch queues by partition: indexed by partition id (ids are dense, from 0), so the
/// per-record lookup is an index, not a hash (which showed in instruction counts).
#[derive(Default)]
struct PartitionQueues {
    direct: Vec<Option<(i32, Queue)>>,
    other: FxMap<i32, Queue>,
}

impl PartitionQueues {
    fn index(p: i32) -> Option<usize> {
        usize::try_from(p).ok().filter(|&i| i < DIRECT_PARTITIONS)
    }

    fn get(&self, p: &i32) -> Option<&Queue> {
        match Self::index(*p) {
            Some(i) => self.direct.get(i)?.as_ref().map(|(_, q)| q),
            None => self.other.get(p),
        }
    }

    fn get_mut(&mut self, p: &i32) -> Option<&mut Queue> {
        match Self::index(*p) {
            Some(i) => self.direct.get_mut(i)?.as_mut().map(|(_, q)| q),
            None => self.other.get_mut(p),
        }
    }

    /// The partition's queue, created empty if new.
    fn slot(&mut self, p: i32) -> &mut Queue {
        match Self::index(p) {
            Some(i) => {
                if self.direct.len() <= i {
                    self.direct.resize_with(i + 1, || None);
                }
                &mut self.direct[i].get_or_insert_with(|| (p, Queue::new())).1
            }
            None => self.other.entry(p).or_default(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&i32, &Queue)> {
        self.direct
            .iter()
            .filter_map(|e| e.as_ref().map(|(p, q)| (p, q)))
            .chain(self.other.iter())
    }

    fn values(&self) -> impl Iterator<Item = &Queue> {
        self.iter().map(|(_, q)| q)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Queue> {
        self.direct
            .iter_mut()
            .filter_map(|e| e.as_mut().map(|(_, q)| q))
            .chain(self.other.values_mut())
    }
}

/// Per-partition batch queues with a bounded memory pool.
///
/// ```
/// use std::time::{Duration, Instant};
/// use kproducer::internals::accumulator::*;
/// let cfg = AccumulatorConfig { batch_size: 16384, linger: Duration::from_millis(5),
///     buffer_memory: 1 << 20, delivery_timeout: Duration::from_secs(120),
///     retry_backoff: Duration::from_millis(100), adaptive_partitioning: true,
///     compression: Compression::NONE, max_request_size: 1 << 20 };
/// let mut acc = RecordAccumulator::new(cfg);
/// let now = Instant::now();
/// let rec = RecordRef { timestamp: 0, key: None, value: Some(b"v"), headers: &[] };
/// let a = acc.append("t", None, PartitionChoice::Fixed(0), &rec, &mut None, now, &mut rand::rng()).unwrap();
/// assert!(a.new_batch);
/// assert_eq!(acc.queued_batches(), 1);
/// ```
pub struct RecordAccumulator {
    cfg: AccumulatorConfig,
    topics: Topics,
    available_memory: usize,
    next_batch_id: u64,
    /// Ids of batches not yet deallocated (queued or in flight).
    incomplete: incomplete::IdWindow,
    /// Partitions with a batch in flight while ordering requires one at a time.
    muted: HashSet<TopicPartition>,
    /// Flushes waiting for all batches up to a mark.
    flush_marks: Vec<u64>,
    /// A caller waits for memory: drain eagerly.
    memory_waiters: usize,
    closed: bool,
    drain_index: HashMap<i32, usize>,
    load_stats: LoadStatsCollector,
    /// Per-topic compressed/uncompressed ratio, updated as batches close.
    ratios: CompressionRatioEstimator,
    /// Buffers of exactly `batch.size` bytes from completed batches, reused for new ones (Java's
    /// `BufferPool` free list): no allocation per batch, and no buffer freed on the driver's
    /// thread that the sending thread allocated (contended allocator locks showed in profiles).
    /// Their bytes count as available memory.
    pool: Vec<Vec<u8>>,
    /// A few buffers larger than `batch.size` from completed batches (a compressed batch grows
    /// past batch.size while its leader is busy): an open batch about to grow takes one instead
    /// of reallocating, and gives its batch.size buffer back to `pool`. At most [`GROWN_KEPT`],
    /// `buffer.memory` / [`GROWN_MAX_SHARE`] bytes in all. They stay charged to `buffer.memory`
    /// while kept, and are freed as soon as memory runs short.
    grown: Vec<Vec<u8>>,
    /// Completed compressed batches' output buffers, for the next drained compressed batches
    /// to close into: at most [`OUTPUT_KEPT`], `buffer.memory` / [`OUTPUT_MAX_SHARE`] bytes in
    /// all. (Like compressed bytes in flight, not charged to `buffer.memory`: the bound is what
    /// they add to it.)
    outputs: Vec<Vec<u8>>,
    /// Drained batches are stamped but closed later, by whoever sends them (see
    /// [`RecordAccumulator::set_defer_close`]).
    defer_close: bool,
    /// Completed batches kept for reuse (see [`RecordAccumulator::recycle`]): a new batch takes
    /// one, with its shared result and record table, instead of allocating them. Bounded in
    /// count (as `pool`) and in the bytes of their tables (`shell_bytes`).
    shells: Vec<ProducerBatch>,
    /// Heap bytes held by the tables of `shells`.
    shell_bytes: usize,
    /// Scratch for [`RecordAccumulator::drain_into`]: the partitions led by a node.
    drain_parts: Vec<TopicPartition>,
}

impl RecordAccumulator {
    /// An empty accumulator.
    pub fn new(cfg: AccumulatorConfig) -> Self {
        RecordAccumulator {
            available_memory: cfg.buffer_memory,
            cfg,
            topics: Topics::default(),
            next_batch_id: 1,
            incomplete: incomplete::IdWindow::default(),
            muted: HashSet::new(),
            flush_marks: Vec::new(),
            memory_waiters: 0,
            closed: false,
            drain_index: HashMap::new(),
            load_stats: LoadStatsCollector::new(),
            ratios: CompressionRatioEstimator::default(),
            pool: Vec::new(),
            grown: Vec::new(),
            outputs: Vec::new(),
            defer_close: false,
            shells: Vec::new(),
            shell_bytes: 0,
            drain_parts: Vec::new(),
        }
    }

    /// Most completed batches kept for reuse: as many as `buffer.memory` holds buffers.
    fn shell_limit(&self) -> usize {
        (self.cfg.buffer_memory / self.cfg.batch_size.max(1)).max(1)
    }

    /// Takes back completed batches ([`ProducerBatch::complete_in_place`], after
    /// [`RecordAccumulator::deallocate`]) so new batches reuse their shared result and record
    /// table (Java allocates both per batch; here steady state allocates none), and a compressed
    /// batch's output buffer for the next compressed close. Keeps at most as many as
    /// `buffer.memory` holds batch buffers, and tables of at most `buffer.memory`/4 bytes in
    /// all; drops the rest. `done` is left empty.
    pub fn recycle(&mut self, done: &mut Vec<ProducerBatch>) {
        let limit = self.shell_limit();
        let byte_limit = self.cfg.buffer_memory / 4;
        for mut b in done.drain(..) {
            // Its buffer went back to the pool at deallocate; whatever is left goes now.
            let _ = b.take_buffer();
            if let Some(out) = b.take_output_buffer() {
                let kept: usize = self.outputs.iter().map(Vec::capacity).sum();
                if self.outputs.len() < OUTPUT_KEPT
                    && kept + out.capacity() <= self.cfg.buffer_memory / OUTPUT_MAX_SHARE
                {
                    self.outputs.push(out);
                }
            }
            let bytes = b.table_bytes();
            if self.shells.len() < limit && self.shell_bytes + bytes <= byte_limit {
                self.shell_bytes += bytes;
                self.shells.push(b);
            }
        }
    }

    /// Completed batches held for reuse (see [`RecordAccumulator::recycle`]).
    pub fn recycled_batches(&self) -> usize {
        self.shells.len()
    }

    /// With `true`, [`RecordAccumulator::drain`] only stamps batches (producer id, epoch,
    /// sequence) and leaves compression and CRC to [`ProducerBatch::close_deferred`], so the
    /// caller can run them without holding the lock that senders append under. Report the
    /// ratios it returns with [`RecordAccumulator::observe_compression`].
    pub fn set_defer_close(&mut self, defer: bool) {
        self.defer_close = defer;
    }

    /// Folds a closed batch's observed compression ratio into its topic's estimate.
    pub fn observe_compression(&mut self, topic: &Arc<str>, ratio: f32) {
        self.ratios.update(topic, ratio);
    }

    /// The settings.
    pub fn config(&self) -> &AccumulatorConfig {
        &self.cfg
    }

    /// The topic's current compression ratio estimate (1.0 until a compressed batch closed).
    pub fn compression_ratio(&self, topic: &str) -> f32 {
        self.ratios.estimation(topic)
    }

    /// Free bytes of `buffer.memory`.
    pub fn available_memory(&self) -> usize {
        self.available_memory
    }

    /// Bytes of `buffer.memory` charged to grown buffers kept for reuse (freed as soon as
    /// memory runs short).
    pub fn grown_bytes(&self) -> usize {
        self.grown.iter().map(Vec::capacity).sum()
    }

    /// The memory a new batch for this record takes: `batch.size`, or more for a big record.
    pub fn batch_alloc_size(&self, rec: &RecordRef<'_>) -> usize {
        alloc_size(self.cfg.batch_size, rec)
    }

    /// Appends a record. With [`PartitionChoice::Sticky`], `topic_info` must be the topic's
    /// current metadata. The append goes into the partition's last batch if it has room, else
    /// into a new batch taken from the memory pool.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        topic: &str,
        topic_info: Option<&TopicInfo>,
        choice: PartitionChoice,
        rec: &RecordRef<'_>,
        callback: &mut Option<Callback>,
        now: Instant,
        rng: &mut dyn RngCore,
    ) -> Result<Appended, AppendError> {
        self.append_with_clock(topic, topic_info, choice, rec, callback, &mut || now, rng)
    }

    /// [`RecordAccumulator::append`] with the time given as a clock, read only when a new batch
    /// is created: most appends go into an open batch and need no time at all.
    #[allow(clippy::too_many_arguments)]
    pub fn append_with_clock(
        &mut self,
        topic: &str,
        topic_info: Option<&TopicInfo>,
        choice: PartitionChoice,
        rec: &RecordRef<'_>,
        callback: &mut Option<Callback>,
        now: &mut dyn FnMut() -> Instant,
        rng: &mut dyn RngCore,
    ) -> Result<Appended, AppendError> {
        if self.closed {
            return Err(AppendError::Closed);
        }
        let batch_size = self.cfg.batch_size;
        // Looked up by `&str`: no reference count touched per record (the driver's thread
        // clones the same name when completing, and a shared counter line would bounce).
        let queues = self.topics.get_or_insert(topic);
        let partition = match choice {
            PartitionChoice::Fixed(p) => p,
            PartitionChoice::Sticky => {
                let Some(info) = topic_info else {
                    return Err(AppendError::NoMetadata);
                };
                let tp = topic_partitions(info);
                let sticky = queues
                    .sticky
                    .get_or_insert_with(|| BuiltInPartitioner::new(topic, batch_size));
                // A switch deferred while the current partition had a part-full batch completes
                // once all its batches are full (bounded: each round draws a fresh partition).
                let mut p = sticky.peek_current_partition(&tp, rng);
                for _ in 0..=info.partition_count() {
                    let all_full = queues
                        .partitions
                        .get(&p)
                        .is_none_or(|dq| dq.back().is_none_or(|b| b.is_full()));
                    if !(all_full && sticky.update_partition_info(p, 0, &tp, true, rng)) {
                        break;
                    }
                    p = sticky.peek_current_partition(&tp, rng);
                }
                p
            }
        };
        let dq = queues.partitions.slot(partition);
        // A callback is held until its batch completes: charged to buffer.memory, so memory
        // stays bounded by it whatever the record size (a 100 B record's callback can cost
        // more than the record).
        let cb_charge = callback.as_ref().map_or(0, callback_charge);
        if cb_charge > self.available_memory {
            release_grown(&mut self.available_memory, &mut self.grown);
        }
        if cb_charge > self.available_memory {
            return Err(AppendError::NoMemory { needed: cb_charge });
        }
        let before = dq.back().map_or(0, |b| b.size_in_bytes());
        // 1. The last open batch, if the record fits (a closed batch never takes records).
        let available = &mut self.available_memory;
        let (pool, grown_bufs) = (&mut self.pool, &mut self.grown);
        let buffer_memory = self.cfg.buffer_memory;
        let hit = dq.back_mut().and_then(|last| {
            let mut capacity = last.buffer_capacity();
            // Whether the record may not fit the buffer's spare room. Only a compressed batch
            // grows (an uncompressed one is full at batch.size, its buffer's size), and the
            // quick bound, from lengths alone, settles the common case.
            let compressed = last.is_compressed();
            let must_grow = compressed && !last.is_full() && last.record_count() > 0 && {
                let spare = last.buffer_spare();
                RecordBatchBuilder::record_size_quick_bound(rec.key, rec.value, rec.headers) > spare
                    && RecordBatchBuilder::record_size_upper_bound(rec.key, rec.value, rec.headers)
                        > spare
            };
            if must_grow {
                // The largest kept grown buffer, if big enough (batches that grow tend to grow
                // alike): no reallocation, and the batch.size buffer goes back to the pool for
                // the next batch. A kept buffer is already charged: the batch takes over its
                // charge and hands back what it was charged for its own.
                let needed = last.buffer_len()
                    + RecordBatchBuilder::record_size_upper_bound(rec.key, rec.value, rec.headers);
                let largest = (0..grown_bufs.len()).max_by_key(|&i| grown_bufs[i].capacity());
                if let Some(i) = largest.filter(|&i| grown_bufs[i].capacity() >= needed) {
                    let big = grown_bufs.swap_remove(i);
                    let big_capacity = big.capacity();
                    if let Some(small) = last.replace_buffer(big) {
                        if small.capacity() == batch_size
                            && (pool.len() + 1) * batch_size <= buffer_memory
                        {
                            pool.push(small);
                        }
                        // (Growth is charged only as far as memory allowed: the charge
                        // may be short of the capacity.)
                        let released = capacity.min(last.alloc);
                        *available += released;
                        last.alloc = last.alloc - released + big_capacity;
                        capacity = last.buffer_capacity();
                    }
                }
            }
            let spare_short = || {
                RecordBatchBuilder::record_size_upper_bound(rec.key, rec.value, rec.headers)
                    > last.buffer_spare()
            };
            if must_grow && capacity > available.saturating_sub(cb_charge) && spare_short() {
                release_grown(available, grown_bufs);
            }
            if must_grow && capacity > available.saturating_sub(cb_charge) && spare_short() {
                // Growing the buffer (it doubles) would pass buffer.memory: this batch is done;
                // the record waits for memory for a new one.
                last.mark_full();
                return None;
            }
            let held = compressed && last.holds_batch_size(batch_size);
            let index =
                last.try_append(rec.timestamp, rec.key, rec.value, rec.headers, batch_size)?;
            // A compressed batch fills up to batch.size *compressed*, so its uncompressed
            // buffer can outgrow what was charged: charge the growth too (as far as there is
            // memory; new batches then wait), so buffer.memory bounds the real footprint.
            // (Leaving the callback's charge, checked above, still payable.)
            let grown = last
                .buffer_capacity()
                .saturating_sub(capacity)
                .min(available.saturating_sub(cb_charge));
            *available -= grown;
            last.alloc += grown;
            // Reaching batch.size uncompressed makes the batch sendable on an idle link: the
            // driver must look (once per batch, when it crosses).
            let crossed = compressed && !held && last.holds_batch_size(batch_size);
            Some((last.result.clone(), index, last.is_full() || crossed))
        });
        let (result, index, new_batch, batch_full) = match hit {
            Some((result, index, full)) => (result, index, false, full),
            None => {
                // 2. A new batch from the pool, sized for batch.size or for this record if larger.
                let alloc = alloc_size(batch_size, rec);
                if alloc > self.cfg.buffer_memory {
                    return Err(AppendError::TooLarge { size: alloc });
                }
                if alloc + cb_charge > self.available_memory {
                    release_grown(&mut self.available_memory, &mut self.grown);
                }
                if alloc + cb_charge > self.available_memory {
                    return Err(AppendError::NoMemory {
                        needed: alloc + cb_charge,
                    });
                }
                self.available_memory -= alloc;
                let id = self.next_batch_id;
                self.next_batch_id += 1;
                self.incomplete.insert(id);
                let tp = TopicPartition {
                    topic: queues.name.clone(),
                    partition,
                };
                let ratio = self.ratios.estimation(topic);
                let buf = match self.pool.pop() {
                    Some(buf) if alloc == batch_size => buf,
                    other => {
                        if let Some(buf) = other {
                            self.pool.push(buf);
                        }
                        Vec::with_capacity(alloc)
                    }
                };
                let mut batch = new_batch(
                    &mut self.shells,
                    &mut self.shell_bytes,
                    tp,
                    id,
                    buf,
                    rec.timestamp,
                    now(),
                )
                .with_compression(
                    self.cfg.compression,
                    ratio,
                    self.cfg.max_request_size,
                );
                // Room for as many records like this one as the batch holds: one allocation
                // per batch instead of one per doubling.
                // (The smallest such record: the table is never regrown for records alike.)
                let per_record = alloc.saturating_sub(BATCH_HEADER_LEN).max(1)
                    / RecordBatchBuilder::record_size_lower_bound(rec.key, rec.value, rec.headers)
                        .max(1);
                batch.records.reserve_exact(per_record.clamp(1, 4096));
                // An empty batch always has room for one record.
                let index = batch
                    .try_append(rec.timestamp, rec.key, rec.value, rec.headers, batch_size)
                    .unwrap_or(0);
                let result = batch.result.clone();
                let full = batch.is_full() || batch.holds_batch_size(batch_size);
                dq.push_back(batch);
                // With an older batch queued, that one is full now: the sender can take it.
                (result, index, true, full || dq.len() > 1)
            }
        };
        // The record went into the partition's last batch: its callback rides along.
        if let Some(cb) = callback.take() {
            if let Some(b) = dq.back_mut() {
                if b.callbacks.capacity() == 0 {
                    // Like the record table: sized once, not grown by doubling.
                    b.callbacks.reserve_exact(b.records.capacity());
                }
                b.callbacks.push((index as u32, cb));
                // Checked on entry and left payable by the growth and new-batch charges.
                debug_assert!(self.available_memory >= cb_charge);
                let paid = cb_charge.min(self.available_memory);
                b.alloc += paid;
                self.available_memory -= paid;
            }
        }
        // The uniform sticky partitioner counts bytes per partition and switches after batch.size,
        // but only once every batch in the queue is full (so batches go out full).
        if let (PartitionChoice::Sticky, Some(info)) = (choice, topic_info) {
            let after = dq.back().map_or(0, |b| b.size_in_bytes());
            let appended_bytes = if new_batch {
                after
            } else {
                after.saturating_sub(before)
            };
            let enable_switch = dq.back().is_none_or(|b| b.is_full());
            if let Some(sticky) = queues.sticky.as_mut() {
                sticky.update_partition_info(
                    partition,
                    appended_bytes,
                    &topic_partitions(info),
                    enable_switch,
                    rng,
                );
            }
        }
        Ok(Appended {
            result,
            index,
            partition,
            new_batch,
            batch_full,
        })
    }

    /// Which leaders have a sendable batch (Java's `ready`), counting every leader as idle (see
    /// [`RecordAccumulator::ready_into`]).
    pub fn ready(&mut self, cluster: &Cluster, now: Instant) -> ReadyCheck {
        let mut out = ReadyCheck::default();
        self.ready_into(cluster, now, &|_| false, &mut out);
        out
    }

    /// [`RecordAccumulator::ready`] into `out` (cleared first), reusing its set. `busy(node)`
    /// says whether a request to `node` is in flight.
    ///
    /// A batch is sendable as in Java when it is full, has lingered, or must go (flush, close,
    /// callers waiting for memory). One more case departs from Java, for latency: a compressed
    /// batch is full when its *compressed estimate* reaches `batch.size` (as Java), which for
    /// compressible data can take many times `batch.size` of records and so always waits out
    /// `linger.ms`. Such a batch is also sendable once it holds `batch.size` bytes of records
    /// *uncompressed* (librdkafka's measure, and "batch.size worth of records" in Java's
    /// `linger.ms` documentation) **if its leader is idle**. With a request in flight the batch
    /// keeps filling (up to Java's size) until the answer frees the link, so under load batches
    /// grow with the round trip; an idle link gains nothing by waiting.
    pub fn ready_into(
        &mut self,
        cluster: &Cluster,
        now: Instant,
        busy: &dyn Fn(i32) -> bool,
        out: &mut ReadyCheck,
    ) {
        out.ready_nodes.clear();
        out.next_check = None;
        out.unknown_leaders = false;
        let exhausted = self.memory_waiters > 0;
        let flushing = !self.flush_marks.is_empty();
        let collector = &mut self.load_stats;
        for queues in self.topics.values_mut() {
            let info = cluster.topic(&queues.name);
            collector.begin(
                self.cfg.adaptive_partitioning && queues.sticky.is_some(),
                info.map_or(0, |t| t.partition_count()),
            );
            for (&partition, dq) in queues.partitions.iter() {
                let leader = info.and_then(|t| t.leader(partition));
                collector.record(
                    partition,
                    dq.len(),
                    if leader.is_some() {
                        LeaderStatus::Available
                    } else {
                        LeaderStatus::Unknown
                    },
                );
                let Some(first) = dq.front() else { continue };
                let Some(leader) = leader else {
                    out.unknown_leaders = true;
                    continue;
                };
                let tp = &first.tp;
                if self.muted.contains(tp) || out.ready_nodes.contains(&leader) {
                    continue;
                }
                let retrying = first.attempts > 0;
                if let Some(after) = first.retry_after {
                    if now < after {
                        out.next_check = min_instant(out.next_check, after);
                        continue;
                    }
                }
                let since = if retrying {
                    first.last_attempt
                } else {
                    first.created
                };
                let wait = if retrying {
                    self.cfg.retry_backoff
                } else {
                    self.cfg.linger
                };
                let full = dq.len() > 1
                    || first.is_full()
                    || (first.holds_batch_size(self.cfg.batch_size) && !busy(leader));
                let expired = now.saturating_duration_since(since) >= wait;
                if full || expired || exhausted || flushing || self.closed {
                    out.ready_nodes.insert(leader);
                } else {
                    out.next_check = min_instant(out.next_check, since + wait);
                }
            }
            if let Some(sticky) = queues.sticky.as_mut() {
                collector.finish(sticky);
            }
        }
    }

    /// Takes up to one batch per partition led by `node`, closed, within `max_size` bytes in
    /// total (the first batch always goes). `header` gives each batch's producer id, epoch and
    /// base sequence. Rotates the starting partition so no partition starves.
    pub fn drain(
        &mut self,
        cluster: &Cluster,
        node: i32,
        max_size: usize,
        now: Instant,
        policy: &mut dyn DrainPolicy,
    ) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        self.drain_into(cluster, node, max_size, now, policy, &mut out);
        out
    }

    /// [`RecordAccumulator::drain`], appending to `out` (scratch vectors are reused).
    pub fn drain_into(
        &mut self,
        cluster: &Cluster,
        node: i32,
        max_size: usize,
        now: Instant,
        policy: &mut dyn DrainPolicy,
        out: &mut Vec<ProducerBatch>,
    ) {
        // Partitions led by `node` with a queued batch, in a stable order.
        let mut parts = std::mem::take(&mut self.drain_parts);
        parts.clear();
        for queues in self.topics.values() {
            let topic = &queues.name;
            let Some(info) = cluster.topic(topic) else {
                continue;
            };
            for (&p, dq) in queues.partitions.iter() {
                if !dq.is_empty() && info.leader(p) == Some(node) {
                    parts.push(TopicPartition {
                        topic: topic.clone(),
                        partition: p,
                    });
                }
            }
        }
        if parts.is_empty() {
            self.drain_parts = parts;
            return;
        }
        parts.sort();
        let start = self.drain_index.get(&node).copied().unwrap_or(0) % parts.len();
        let mut size = 0usize;
        let first_out = out.len();
        for i in 0..parts.len() {
            let tp = &parts[(start + i) % parts.len()];
            if self.muted.contains(tp) {
                continue;
            }
            let Some(dq) = self
                .topics
                .get_mut(&tp.topic)
                .and_then(|q| q.partitions.get_mut(&tp.partition))
            else {
                continue;
            };
            let Some(first) = dq.front() else { continue };
            if first.retry_after.is_some_and(|t| now < t) || !policy.may_drain(first) {
                continue;
            }
            if out.len() > first_out && size + first.size_in_bytes() > max_size {
                // Full request: continue from this partition next time.
                self.drain_index.insert(node, (start + i) % parts.len());
                break;
            }
            let Some(mut batch) = dq.pop_front() else {
                continue;
            };
            let h = policy.stamp(&batch);
            if batch.is_compressed() && !batch.is_closed() {
                if let Some(out) = self.outputs.pop() {
                    batch.give_output_buffer(out);
                }
            }
            if self.defer_close {
                batch.defer_close(h);
            } else {
                batch.close(h);
                if let Some(ratio) = batch.take_compression_ratio() {
                    self.ratios.update(&batch.tp.topic, ratio);
                }
            }
            size += batch.size_in_bytes();
            batch.last_attempt = now;
            batch.attempts += 1;
            batch.retry_after = None;
            out.push(batch);
            self.drain_index.insert(node, (start + i + 1) % parts.len());
        }
        parts.clear();
        self.drain_parts = parts;
    }

    /// Stops `tp` from being drained until [`RecordAccumulator::unmute`] (ordering with one request in flight).
    pub fn mute(&mut self, tp: TopicPartition) {
        self.muted.insert(tp);
    }

    /// Lets `tp` be drained again.
    pub fn unmute(&mut self, tp: &TopicPartition) {
        self.muted.remove(tp);
    }

    /// Puts a batch back at the head of its queue to be retried after `backoff`, in sequence
    /// order among other retried batches (Java's `insertInSequenceOrder`), so an idempotent
    /// producer resends them in the order the broker expects.
    pub fn reenqueue(&mut self, mut batch: ProducerBatch, backoff: Duration, now: Instant) {
        batch.retry_after = Some(now + backoff);
        let q = self.topics.get_or_insert(&batch.tp.topic);
        let dq = q.partitions.slot(batch.tp.partition);
        let seq = batch.stamped.map(|h| h.base_sequence).filter(|s| *s >= 0);
        let pos = match seq {
            None => 0,
            Some(seq) => dq
                .iter()
                .position(|b| {
                    b.stamped
                        .map(|h| h.base_sequence)
                        .filter(|s| *s >= 0)
                        .is_none_or(|s| s > seq)
                })
                .unwrap_or(dq.len()),
        };
        dq.insert(pos, batch);
    }

    /// Splits a batch the broker refused as too large into `batch.size` pieces and queues them
    /// at the head of its partition, in sequence order (Java's `splitAndReenqueue`). The big
    /// batch's memory goes back to the pool. Returns the new batches' `(sequence, records)` for
    /// the idempotence bookkeeping, or the batch back if it can't be split.
    pub fn split_and_reenqueue(
        &mut self,
        batch: ProducerBatch,
        now: Instant,
    ) -> Result<Vec<(i32, i32)>, Box<ProducerBatch>> {
        let old_id = batch.id;
        let old_alloc = batch.alloc;
        let mut next = self.next_batch_id;
        // At most half the big batch, so every split makes progress even when the broker's
        // limit is below batch.size.
        let records_size = batch.size_in_bytes().saturating_sub(BATCH_HEADER_LEN);
        let split_size = self
            .cfg
            .batch_size
            .min(BATCH_HEADER_LEN + records_size.div_ceil(2));
        let parts = batch.split(split_size, now, &mut || {
            let id = next;
            next += 1;
            id
        })?;
        self.next_batch_id = next;
        self.incomplete.remove(old_id);
        self.available_memory = (self.available_memory + old_alloc).min(self.cfg.buffer_memory);
        let seqs = parts
            .iter()
            .map(|b| {
                (
                    b.stamped.map_or(-1, |h| h.base_sequence),
                    b.record_count() as i32,
                )
            })
            .collect();
        // Reverse, so each lands in front of the ones after it when sequences are absent.
        for b in parts.into_iter().rev() {
            self.incomplete.insert(b.id);
            self.reenqueue(b, Duration::ZERO, now);
        }
        Ok(seqs)
    }

    /// Removes and returns queued batches older than `delivery.timeout.ms` (their memory is
    /// still charged: complete them, then [`RecordAccumulator::deallocate`]).
    pub fn expired(&mut self, now: Instant) -> Vec<ProducerBatch> {
        let timeout = self.cfg.delivery_timeout;
        let mut out = Vec::new();
        for queues in self.topics.values_mut() {
            for dq in queues.partitions.values_mut() {
                while dq
                    .front()
                    .is_some_and(|b| now.saturating_duration_since(b.created) >= timeout)
                {
                    if let Some(b) = dq.pop_front() {
                        out.push(b);
                    }
                }
            }
        }
        out
    }

    /// When the oldest queued batch reaches `delivery.timeout.ms`.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.topics
            .values()
            .flat_map(|q| q.partitions.values())
            .filter_map(|dq| dq.front())
            .map(|b| b.created + self.cfg.delivery_timeout)
            .min()
    }

    /// Returns a finished batch's memory to the pool. Returns true when memory became free.
    pub fn deallocate(&mut self, batch: &mut ProducerBatch) -> bool {
        self.incomplete.remove(batch.id);
        // A batch charged a batch.size buffer (plus its callbacks) gives the buffer back.
        let batch_size = self.cfg.batch_size;
        if batch.alloc >= batch_size {
            // Only a buffer of exactly batch.size goes to the pool, so the charge stays what
            // was checked; a few grown ones are kept apart (see `grown`).
            match batch.take_buffer() {
                Some(buf)
                    if buf.capacity() == batch_size
                        && (self.pool.len() + 1) * batch_size <= self.cfg.buffer_memory =>
                {
                    self.pool.push(buf)
                }
                Some(buf)
                    if buf.capacity() > batch_size
                        && self.grown_bytes() + buf.capacity()
                            <= self.cfg.buffer_memory / GROWN_MAX_SHARE
                        && buf.capacity() <= batch.alloc
                        && self.grown.len() < GROWN_KEPT
                        && self.memory_waiters == 0 =>
                {
                    // Stays charged while kept: the batch's charge less this buffer is freed.
                    batch.alloc -= buf.capacity();
                    self.grown.push(buf)
                }
                _ => {}
            }
        }
        self.available_memory = (self.available_memory + batch.alloc).min(self.cfg.buffer_memory);
        self.flush_marks
            .retain(|&m| self.incomplete.first().is_some_and(|o| o <= m));
        batch.alloc > 0
    }

    /// Starts a flush: every batch created so far becomes sendable now. Returns the mark to
    /// pass to [`RecordAccumulator::flush_done`].
    pub fn begin_flush(&mut self) -> u64 {
        let mark = self.next_batch_id - 1;
        if self.incomplete.first().is_some_and(|o| o <= mark) {
            self.flush_marks.push(mark);
        }
        mark
    }

    /// Whether every batch up to `mark` is complete.
    pub fn flush_done(&self, mark: u64) -> bool {
        self.incomplete.first().is_none_or(|o| o > mark)
    }

    /// Counts callers waiting for memory (while > 0, batches are drained without lingering).
    pub fn set_memory_waiters(&mut self, n: usize) {
        self.memory_waiters = n;
    }

    /// Stops taking records; everything queued becomes sendable.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether [`RecordAccumulator::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Removes every queued batch (for an abortive close).
    pub fn abort_all(&mut self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for q in self.topics.values_mut() {
            for dq in q.partitions.values_mut() {
                out.extend(dq.drain(..));
            }
        }
        out
    }

    /// Batches queued (not in flight).
    pub fn queued_batches(&self) -> usize {
        self.topics
            .values()
            .flat_map(|q| q.partitions.values())
            .map(|dq| dq.len())
            .sum()
    }

    /// Every queued batch as (partition, base sequence if stamped, records, attempts), queue by
    /// queue in order: for diagnostics (simulation failures).
    pub fn describe_queues(&self) -> Vec<(TopicPartition, Option<i32>, usize, u32)> {
        let mut out = Vec::new();
        for q in self.topics.values() {
            for dq in q.partitions.values() {
                for b in dq {
                    out.push((
                        b.tp.clone(),
                        b.stamped.map(|h| h.base_sequence),
                        b.record_count(),
                        b.attempts,
                    ));
                }
            }
        }
        out
    }

    /// Batches not yet complete (queued or in flight).
    pub fn incomplete_batches(&self) -> usize {
        self.incomplete.len()
    }

    /// Leaders of partitions that have queued batches (the driver connects to them early).
    pub fn nodes_with_data(&self, cluster: &Cluster) -> HashSet<i32> {
        let mut out = Vec::new();
        self.nodes_with_data_into(cluster, &mut out);
        out.into_iter().collect()
    }

    /// [`RecordAccumulator::nodes_with_data`] appended to `out`, each node once, without
    /// allocating when `out` has room.
    pub fn nodes_with_data_into(&self, cluster: &Cluster, out: &mut Vec<i32>) {
        let first = out.len();
        for q in self.topics.values() {
            if let Some(info) = cluster.topic(&q.name) {
                for (&p, dq) in q.partitions.iter() {
                    if !dq.is_empty() {
                        if let Some(l) = info.leader(p) {
                            if !out[first..].contains(&l) {
                                out.push(l);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn min_instant(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn topic_partitions(info: &TopicInfo) -> TopicPartitions<'_> {
    TopicPartitions {
        topic: &info.name,
        partition_count: info.partition_count(),
        available: &info.available,
    }
}

#[cfg(test)]
pub(crate) mod tests;
