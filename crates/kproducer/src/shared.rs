//! What the send path and the network thread share, and nothing more: the accumulator (batch
//! queues and the `buffer.memory` pool), the metadata snapshot the network thread publishes, and
//! the topics the send path wants metadata for. Everything else the producer decides lives in the
//! [core](crate::core), owned by the network thread alone.
//!
//! One mutex guards it ([`Shared::lock`]); every critical section is short and never blocks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::rngs::SmallRng;
use rustc_hash::FxBuildHasher;

use crate::accumulator::{
    AppendError, Appended, Callback, PartitionChoice, RecordAccumulator, RecordRef,
};
use crate::idempotence::ProducerIdAndEpoch;
use crate::metadata::{Cluster, TopicInfo};
use crate::metrics::{Clock, NetworkMetrics, PoolMetrics};
use crate::partitioner::choose_partition;
use crate::sender::SenderStats;

/// The topics the send path wants metadata for, with when a send last used each (Java's
/// `ProducerMetadata` topic expiry, `metadata.max.idle.ms`).
#[derive(Debug, Default)]
pub(crate) struct TopicInterest {
    /// Topic → last use.
    topics: HashMap<String, Instant, FxBuildHasher>,
    /// A send asked for a refresh (a new topic, or one still unknown): the core reads and clears it.
    update_requested: bool,
}

impl TopicInterest {
    /// Starts tracking `topic` (a refresh is requested when it is new). Returns whether it was new.
    pub(crate) fn add(&mut self, topic: &str, now: Instant) -> bool {
        match self.topics.get_mut(topic) {
            Some(last_used) => {
                *last_used = now;
                false
            }
            None => {
                self.topics.insert(topic.to_string(), now);
                self.update_requested = true;
                true
            }
        }
    }

    /// Marks `topic` used now.
    pub(crate) fn touch(&mut self, topic: &str, now: Instant) {
        if let Some(t) = self.topics.get_mut(topic) {
            *t = now;
        }
    }

    /// Asks the core for a metadata refresh.
    pub(crate) fn request_update(&mut self) {
        self.update_requested = true;
    }

    /// Whether a send asked for a refresh since the last call (clears the request).
    pub(crate) fn take_update_request(&mut self) -> bool {
        std::mem::take(&mut self.update_requested)
    }

    /// Whether `topic` is tracked.
    pub(crate) fn contains(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Whether any topic is tracked.
    pub(crate) fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The tracked topics, sorted (for a Metadata request).
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.topics.keys().cloned().collect();
        names.sort();
        names
    }

    /// Forgets topics no send used within `max_idle` of `now`.
    pub(crate) fn retain_used(&mut self, now: Instant, max_idle: std::time::Duration) {
        self.topics
            .retain(|_, last| now.saturating_duration_since(*last) < max_idle);
    }
}

/// The state behind [`Shared`]'s lock.
pub(crate) struct SendState {
    /// Batch queues and the memory pool.
    pub(crate) acc: RecordAccumulator,
    /// The latest metadata snapshot, published by the core.
    pub(crate) cluster: Arc<Cluster>,
    /// Topics the send path wants.
    pub(crate) topics: TopicInterest,
    /// The built-in partitioner's randomness.
    pub(crate) rng: SmallRng,
    /// Callers waiting for buffer memory (batches then go without lingering).
    pub(crate) memory_waiters: usize,
    /// Fail whatever is left now (close timed out).
    pub(crate) abort: bool,
    /// The network thread has stopped: nothing will complete any more.
    pub(crate) driver_exited: bool,
    /// The last connection or metadata error, for clearer timeout messages.
    pub(crate) last_error: Option<String>,
    /// Authentication failed and no connection has authenticated since: senders waiting for
    /// metadata fail with it at once.
    pub(crate) auth_error: Option<crate::error::AuthenticationError>,
    /// The snapshot and topic the last fast-path send used.
    last_topic: Option<(Arc<Cluster>, Arc<TopicInfo>)>,
    /// Time senders waited for buffer memory, and waits that ran out (recorded under this lock,
    /// which a waiting sender takes anyway).
    pub(crate) pool_metrics: PoolMetrics,
    /// A transactional producer's state machine: the API changes it, the send path asks it,
    /// the core sends its requests.
    pub(crate) txn: Option<crate::txn::TransactionManager>,
}

impl SendState {
    /// State around `acc`, with no metadata yet.
    pub(crate) fn new(acc: RecordAccumulator, rng: SmallRng) -> Self {
        SendState {
            acc,
            cluster: Arc::new(Cluster::default()),
            topics: TopicInterest::default(),
            rng,
            memory_waiters: 0,
            abort: false,
            driver_exited: false,
            last_error: None,
            auth_error: None,
            last_topic: None,
            pool_metrics: PoolMetrics::new(Clock::new(
                Instant::now(),
                std::time::Duration::from_secs(30),
                2,
            )),
            txn: None,
        }
    }

    /// Raises (`+1`) or lowers (`-1`) the count of callers waiting for memory.
    /// The buffer pool's gauges (`buffer-total-bytes`, `buffer-available-bytes`,
    /// `waiting-threads`), for `Producer::metrics`, the export and telemetry pushes.
    pub(crate) fn pool_gauges(&self) -> crate::metrics::PoolGauges {
        crate::metrics::PoolGauges {
            total: self.acc.config().buffer_memory,
            available: self.acc.available_memory() + self.acc.grown_bytes(),
            waiting: self.memory_waiters,
        }
    }

    pub(crate) fn add_memory_waiters(&mut self, delta: isize) {
        self.memory_waiters = self.memory_waiters.saturating_add_signed(delta);
        self.acc.set_memory_waiters(self.memory_waiters);
    }

    /// The send fast path: with the topic's metadata at hand, chooses the partition (`explicit`,
    /// else the built-in partitioner) and appends, all under the caller's one lock. `None`: the
    /// topic is not known yet (take the slow path). `now` is read only when the record opens a
    /// batch.
    #[inline]
    pub(crate) fn fast_append(
        &mut self,
        topic: &str,
        explicit: Option<i32>,
        ignore_keys: bool,
        rec: &RecordRef<'_>,
        callback: &mut Option<Callback>,
        now: impl Fn() -> Instant,
    ) -> Option<Result<Appended, AppendError>> {
        // The last topic's metadata, if the snapshot is unchanged: one name comparison instead of
        // a hash lookup per record.
        let hit = self.last_topic.as_ref().is_some_and(|(snapshot, info)| {
            Arc::ptr_eq(snapshot, &self.cluster) && info.name == topic
        });
        if !hit {
            let info = self.cluster.topic(topic)?.clone();
            self.last_topic = Some((self.cluster.clone(), info));
        }
        if let Some(txn) = &self.txn {
            if let Err(e) = txn.check_send() {
                return Some(Err(AppendError::Transaction(e)));
            }
        }
        let (_, info) = self.last_topic.as_ref()?;
        let info: &TopicInfo = info;
        let partitions = info.partition_count();
        let choice = match explicit {
            Some(p) if p < 0 || p >= partitions => {
                return Some(Err(AppendError::InvalidPartition {
                    partition: p,
                    partitions,
                }))
            }
            Some(p) => PartitionChoice::Fixed(p),
            None => choose_partition(None, rec.key, ignore_keys, partitions),
        };
        let mut read: Option<Instant> = None;
        let r = self.acc.append_with_clock(
            topic,
            Some(info),
            choice,
            rec,
            callback,
            &mut || *read.get_or_insert_with(&now),
            &mut self.rng,
        );
        if let Some(now) = read {
            self.topics.touch(topic, now);
        }
        if let (Ok(a), Some(txn)) = (&r, &mut self.txn) {
            txn.note_appended(topic, a.partition, a.new_batch);
        }
        Some(r)
    }
}

/// Figures the core publishes for the producer's getters (it owns the originals).
#[derive(Debug, Default)]
pub(crate) struct CoreView {
    stats: Mutex<SenderStats>,
    pid: Mutex<Option<ProducerIdAndEpoch>>,
    /// Time callers spent in blocking calls (Java's `KafkaProducerMetrics`), recorded by the
    /// callers, read by `Producer::metrics` and the core's telemetry pushes.
    pub(crate) api_times: crate::metrics::ApiTimes,
    /// The KIP-714 client instance id, once a broker assigned one.
    client_instance_id: Mutex<Option<crate::telemetry::ClientInstanceId>>,
    /// The network thread's metrics as last published (its own lock: readers never hold up
    /// senders).
    metrics: Mutex<Option<NetworkMetrics>>,
}

impl CoreView {
    pub(crate) fn set_stats(&self, stats: &SenderStats) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.clone_from(stats);
    }

    pub(crate) fn stats(&self) -> SenderStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes the network thread's metrics (copied into the view's, reusing its vectors).
    pub(crate) fn set_metrics(&self, metrics: &NetworkMetrics) {
        let mut m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        match m.as_mut() {
            Some(m) => m.copy_from(metrics),
            None => *m = Some(metrics.clone()),
        }
    }

    /// Runs `f` on the network thread's metrics as last published (`None` before the first).
    pub(crate) fn with_metrics<R>(&self, f: impl FnOnce(Option<&NetworkMetrics>) -> R) -> R {
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        f(m.as_ref())
    }

    pub(crate) fn set_pid(&self, pid: Option<ProducerIdAndEpoch>) {
        *self.pid.lock().unwrap_or_else(|e| e.into_inner()) = pid;
    }

    pub(crate) fn set_client_instance_id(&self, id: crate::telemetry::ClientInstanceId) {
        *self
            .client_instance_id
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(id);
    }

    pub(crate) fn client_instance_id(&self) -> Option<crate::telemetry::ClientInstanceId> {
        *self
            .client_instance_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn pid(&self) -> Option<ProducerIdAndEpoch> {
        *self.pid.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Rounds of `try_lock` (with growing pauses between them, a few tens of µs in all) before
/// [`Shared::lock`] blocks.
const LOCK_SPINS: u32 = 40;

/// The shared state and its lock, plus what the core publishes.
pub(crate) struct Shared {
    state: Mutex<SendState>,
    /// Stats and producer id, for the producer's getters.
    pub(crate) view: CoreView,
}

impl Shared {
    pub(crate) fn new(state: SendState) -> Self {
        Shared {
            state: Mutex::new(state),
            view: CoreView::default(),
        }
    }

    /// The lock. Every critical section is short and never blocks (a few µs at most for the
    /// network thread), so a contended lock is first waited for by spinning: a thread that sleeps
    /// on it costs a futex wait, a wake-up syscall for whoever unlocks, and two context switches,
    /// which profiles showed as the largest cost left on the send path when the network thread and
    /// a sending thread met. After the spin budget it blocks as usual (the holder may have been
    /// preempted).
    pub(crate) fn lock(&self) -> MutexGuard<'_, SendState> {
        for round in 0..LOCK_SPINS {
            match self.state.try_lock() {
                Ok(guard) => return guard,
                // A panic elsewhere must not wedge every sender: keep going with the state as it is.
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    for _ in 0..(1u32 << round.min(6)) {
                        std::hint::spin_loop();
                    }
                }
            }
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_requests_an_update_for_new_topics_and_forgets_idle_ones() {
        let t0 = Instant::now();
        let mut i = TopicInterest::default();
        assert!(i.add("a", t0));
        assert!(i.take_update_request());
        assert!(!i.take_update_request(), "cleared");
        assert!(!i.add("a", t0), "known");
        assert!(!i.take_update_request());
        i.add("b", t0 + std::time::Duration::from_secs(10));
        i.retain_used(
            t0 + std::time::Duration::from_secs(15),
            std::time::Duration::from_secs(10),
        );
        assert_eq!(i.names(), vec!["b".to_string()]);
    }
}
