//! The seam for whole-producer simulation: the real core over the real accumulator, built
//! without a network thread, so a test can drive both in virtual time (see
//! `crates/kproducer/tests/simulation.rs`). Sends take the producer's fast path, as
//! `Producer::send` does once a topic is known.

use std::sync::Arc;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::{CoreConfig, ProducerCore};
use crate::accumulator::TopicPartition;
use crate::accumulator::{AppendError, Callback, ProducerBatch, RecordRef};
use crate::config::ProducerConfig;
use crate::record::Header;
use crate::sender::Completion;
use crate::shared::{SendState, Shared};
use crate::txn::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TxnResult};

/// A transactional call for [`Simulated::transaction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOp {
    /// `initTransactions`.
    Init,
    /// `commitTransaction`.
    Commit,
    /// `abortTransaction`.
    Abort,
}

/// The pending outcome of a transactional call.
#[derive(Debug, Clone)]
pub struct TxnHandle(Arc<TxnResult>);

impl TxnHandle {
    /// `None` while the call is under way.
    pub fn outcome(&self) -> Option<Result<(), TransactionError>> {
        self.0.outcome()
    }
}

/// Why [`Simulated::try_send`] did not take a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    /// The topic's metadata is not known yet (it is now asked for): try again later.
    NoMetadata,
    /// `buffer.memory` is full: try again once batches complete.
    NoMemory,
    /// Refused for good (closed, invalid partition, too large).
    Refused(String),
}

/// A producer's core and accumulator without a network thread.
pub struct Simulated {
    /// The core: feed it time, connections and frames; take its transmits.
    pub core: ProducerCore,
    shared: Arc<Shared>,
    config: ProducerConfig,
    completions: Vec<Completion>,
    done: Vec<ProducerBatch>,
}

impl Simulated {
    /// A producer with `config`, every random choice (partitioner, backoff jitter) seeded by `seed`.
    pub fn new(config: ProducerConfig, seed: u64) -> Self {
        let mut state = SendState::new(
            crate::producer::new_accumulator(&config),
            SmallRng::seed_from_u64(seed),
        );
        state.txn = crate::producer::transaction_manager(&config);
        let shared = Arc::new(Shared::new(state));
        let core = ProducerCore::new(CoreConfig::from_producer(&config, seed), shared.clone());
        Simulated {
            core,
            shared,
            config,
            completions: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Appends a record as `Producer::send` does (explicit partition, else the key's hash or the
    /// sticky partitioner); `callback` gets its outcome.
    #[allow(clippy::too_many_arguments)]
    pub fn try_send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: i64,
        callback: Callback,
        now: Instant,
    ) -> Result<(), NotSent> {
        let rec = RecordRef {
            timestamp,
            key,
            value,
            headers,
        };
        let mut callback = Some(callback);
        let mut st = self.shared.lock();
        let r = st.fast_append(
            topic,
            partition,
            self.config.partitioner_ignore_keys,
            &rec,
            &mut callback,
            || now,
        );
        match r {
            None => {
                if !st.topics.add(topic, now) {
                    st.topics.request_update();
                }
                Err(NotSent::NoMetadata)
            }
            Some(Ok(_)) => Ok(()),
            Some(Err(AppendError::NoMemory { .. })) => Err(NotSent::NoMemory),
            Some(Err(e)) => Err(NotSent::Refused(format!("{e:?}"))),
        }
    }

    /// A transactional call (`transactional.id` in the config): started now, its outcome
    /// decided as the core runs ([`TxnHandle::outcome`]).
    pub fn transaction(&mut self, op: TxnOp) -> Result<TxnHandle, TransactionError> {
        let mut st = self.shared.lock();
        let txn = st.txn.as_mut().ok_or(TransactionError::NotTransactional)?;
        let result = match op {
            TxnOp::Init => txn.init(),
            TxnOp::Commit => txn.begin_commit(),
            TxnOp::Abort => txn.begin_abort(),
        }?;
        Ok(TxnHandle(result))
    }

    /// `sendOffsetsToTransaction`: `offsets` ((topic, partition), offset and metadata) of
    /// `group`, committed with the transaction.
    pub fn send_offsets(
        &mut self,
        offsets: Vec<((String, i32), OffsetAndMetadata)>,
        group: &ConsumerGroupMetadata,
    ) -> Result<TxnHandle, TransactionError> {
        let mut offsets: Vec<(TopicPartition, OffsetAndMetadata)> = offsets
            .into_iter()
            .map(|((topic, partition), o)| {
                (
                    TopicPartition {
                        topic: Arc::from(topic),
                        partition,
                    },
                    o,
                )
            })
            .collect();
        offsets.sort_by(|a, b| a.0.cmp(&b.0));
        let mut st = self.shared.lock();
        let txn = st.txn.as_mut().ok_or(TransactionError::NotTransactional)?;
        Ok(TxnHandle(txn.send_offsets(offsets, group.clone())?))
    }

    /// `beginTransaction`.
    pub fn begin_transaction(&mut self) -> Result<(), TransactionError> {
        let mut st = self.shared.lock();
        st.txn
            .as_mut()
            .ok_or(TransactionError::NotTransactional)?
            .begin()
    }

    /// The transactional state, if transactional.
    pub fn transaction_state(&self) -> Option<crate::txn::TransactionState> {
        self.shared.lock().txn.as_ref().map(|t| t.state())
    }

    /// Runs the completions the core decided (callbacks) and recycles the batches, as the
    /// network thread does. Returns how many batches completed.
    pub fn complete(&mut self) -> usize {
        self.core.poll_completions(&mut self.completions);
        let n = self.completions.len();
        for c in self.completions.drain(..) {
            let mut batch = c.batch;
            batch.complete_in_place(c.result, None);
            self.done.push(batch);
        }
        self.core.recycle(&mut self.done);
        n
    }

    /// Stops taking records; what is buffered is sent at once.
    pub fn close(&self) {
        self.shared.lock().acc.close();
    }

    /// Batches not complete yet (queued or in flight).
    pub fn incomplete_batches(&self) -> usize {
        self.shared.lock().acc.incomplete_batches()
    }

    /// Queued batches, for diagnostics: (partition, base sequence, records, attempts).
    pub fn describe_queues(
        &self,
    ) -> Vec<(crate::accumulator::TopicPartition, Option<i32>, usize, u32)> {
        self.shared.lock().acc.describe_queues()
    }

    /// Free bytes of `buffer.memory`.
    pub fn available_memory(&self) -> usize {
        self.shared.lock().acc.available_memory()
    }
}
