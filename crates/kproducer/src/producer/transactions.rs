//! The transactional API (Java's `initTransactions`, `beginTransaction`,
//! `sendOffsetsToTransaction`, `commitTransaction`, `abortTransaction`), async, each bounded by
//! `max.block.ms` as in Java. The state machine is [`crate::txn`]'s; these calls change it under
//! the shared lock, wake the network thread and wait for the outcome.

use std::collections::HashMap;
use std::sync::Arc;

use crate::accumulator::TopicPartition;
use crate::txn::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TxnResult};

use super::{BlockingProducer, Inner, Producer};

fn with_txn<T>(
    inner: &Inner,
    f: impl FnOnce(&mut crate::txn::TransactionManager) -> Result<T, TransactionError>,
) -> Result<T, TransactionError> {
    let mut st = inner.shared.lock();
    if st.driver_exited {
        return Err(TransactionError::Closed);
    }
    let txn = st.txn.as_mut().ok_or(TransactionError::NotTransactional)?;
    f(txn)
}

async fn run(
    inner: &Inner,
    operation: &'static str,
    start: impl FnOnce(&mut crate::txn::TransactionManager) -> Result<Arc<TxnResult>, TransactionError>,
) -> Result<(), TransactionError> {
    let started = std::time::Instant::now();
    let r = async {
        let result = with_txn(inner, start)?;
        inner.wake_driver.notify_one();
        result.wait(operation, inner.config.max_block).await
    }
    .await;
    let t = &inner.shared.view.api_times;
    let counter = match operation {
        "initTransactions" => &t.txn_init,
        "sendOffsetsToTransaction" => &t.txn_send_offsets,
        "commitTransaction" => &t.txn_commit,
        _ => &t.txn_abort,
    };
    crate::metrics::ApiTimes::add(counter, started);
    r
}

impl<K, V> Producer<K, V> {
    /// Registers `transactional.id` with its coordinator and gets the producer id and epoch
    /// for it, fencing any older producer with the same id (its open transaction is aborted).
    /// Call it once, before the first transaction. Waits up to `max.block.ms`; after a
    /// [`TransactionError::Timeout`] call it again (it keeps going in the background).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), kproducer::KafkaError> {
    /// use kproducer::{Producer, ProducerConfig, ProducerRecord};
    /// let config = ProducerConfig::from_map([
    ///     ("bootstrap.servers", "127.0.0.1:9092"),
    ///     ("transactional.id", "orders-writer-1"),
    /// ])?;
    /// let producer: Producer<String, String> = Producer::new(config)?;
    /// producer.init_transactions().await?;
    /// producer.begin_transaction()?;
    /// producer.send(ProducerRecord::new("orders", "v".to_string()).with_key("k".to_string())).await?;
    /// producer.commit_transaction().await?;
    /// # Ok(()) }
    /// ```
    pub async fn init_transactions(&self) -> Result<(), TransactionError> {
        run(&self.inner, "initTransactions", |t| t.init()).await
    }

    /// Opens a transaction: the records sent until [`commit_transaction`] or
    /// [`abort_transaction`] are written atomically. Local: no request is sent.
    ///
    /// ```no_run
    /// # fn demo(producer: &kproducer::Producer<String, String>) -> Result<(), kproducer::txn::TransactionError> {
    /// producer.begin_transaction()?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`commit_transaction`]: Self::commit_transaction
    /// [`abort_transaction`]: Self::abort_transaction
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        let started = std::time::Instant::now();
        let r = with_txn(&self.inner, |t| t.begin());
        crate::metrics::ApiTimes::add(&self.inner.shared.view.api_times.txn_begin, started);
        r
    }

    /// Commits the consumer group's `offsets` with the transaction (the consume → process →
    /// produce loop's exactly-once step): they become the group's committed offsets only if
    /// the transaction commits. Each offset is the *next* record to consume.
    ///
    /// ```no_run
    /// # async fn demo(producer: &kproducer::Producer<String, String>) -> Result<(), kproducer::txn::TransactionError> {
    /// use std::collections::HashMap;
    /// use kproducer::txn::{ConsumerGroupMetadata, OffsetAndMetadata};
    /// let mut offsets = HashMap::new();
    /// offsets.insert(("input".to_string(), 0), OffsetAndMetadata::new(1001));
    /// producer
    ///     .send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new("my-group"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: HashMap<(String, i32), OffsetAndMetadata>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
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
        let group = group.clone();
        run(&self.inner, "sendOffsetsToTransaction", move |t| {
            t.send_offsets(offsets, group)
        })
        .await
    }

    /// Sends what the transaction still buffers, waits for every record's acknowledgement and
    /// commits (EndTxn). If a record of the transaction failed, this fails with an
    /// [abortable](TransactionError::is_abortable) error: call
    /// [`abort_transaction`](Self::abort_transaction). Waits up to `max.block.ms`; after a
    /// [`TransactionError::Timeout`] call it again.
    ///
    /// ```no_run
    /// # async fn demo(producer: &kproducer::Producer<String, String>) {
    /// if let Err(e) = producer.commit_transaction().await {
    ///     if e.is_abortable() {
    ///         producer.abort_transaction().await.ok();
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn commit_transaction(&self) -> Result<(), TransactionError> {
        run(&self.inner, "commitTransaction", |t| t.begin_commit()).await
    }

    /// Aborts the transaction: records not yet sent fail with
    /// [`ProduceError::TransactionAborted`](crate::ProduceError::TransactionAborted), those
    /// written are marked aborted (`read_committed` consumers skip them). Waits up to
    /// `max.block.ms`.
    ///
    /// ```no_run
    /// # async fn demo(producer: &kproducer::Producer<String, String>) -> Result<(), kproducer::txn::TransactionError> {
    /// producer.abort_transaction().await?;
    /// # Ok(()) }
    /// ```
    pub async fn abort_transaction(&self) -> Result<(), TransactionError> {
        run(&self.inner, "abortTransaction", |t| t.begin_abort()).await
    }

    /// Where the transactional producer stands (`None`: no `transactional.id`).
    ///
    /// ```no_run
    /// # fn demo(producer: &kproducer::Producer<String, String>) {
    /// use kproducer::txn::TransactionState;
    /// assert_eq!(producer.transaction_state(), Some(TransactionState::Uninitialized));
    /// # }
    /// ```
    pub fn transaction_state(&self) -> Option<crate::txn::TransactionState> {
        self.inner.shared.lock().txn.as_ref().map(|t| t.state())
    }
}

impl<K, V> Producer<K, V> {
    /// The broker coordinating this producer's transactions, once found (`None` before
    /// `init_transactions`, or while it is looked up again).
    ///
    /// ```no_run
    /// # fn demo(producer: &kproducer::Producer<String, String>) {
    /// if let Some(node) = producer.transaction_coordinator() {
    ///     println!("transaction coordinator: broker {node}");
    /// }
    /// # }
    /// ```
    pub fn transaction_coordinator(&self) -> Option<i32> {
        self.inner
            .shared
            .lock()
            .txn
            .as_ref()
            .and_then(|t| t.coordinator_node())
    }
}

impl<K, V> BlockingProducer<K, V> {
    /// [`Producer::init_transactions`], blocking.
    ///
    /// ```no_run
    /// # fn demo(producer: kproducer::BlockingProducer<String, String>) -> Result<(), kproducer::txn::TransactionError> {
    /// producer.init_transactions()?;
    /// producer.begin_transaction()?;
    /// producer.commit_transaction()?;
    /// # Ok(()) }
    /// ```
    pub fn init_transactions(&self) -> Result<(), TransactionError> {
        self.rt().block_on(self.as_async().init_transactions())
    }

    /// [`Producer::begin_transaction`].
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        self.as_async().begin_transaction()
    }

    /// [`Producer::send_offsets_to_transaction`], blocking.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: HashMap<(String, i32), OffsetAndMetadata>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        self.rt()
            .block_on(self.as_async().send_offsets_to_transaction(offsets, group))
    }

    /// [`Producer::commit_transaction`], blocking.
    pub fn commit_transaction(&self) -> Result<(), TransactionError> {
        self.rt().block_on(self.as_async().commit_transaction())
    }

    /// [`Producer::abort_transaction`], blocking.
    pub fn abort_transaction(&self) -> Result<(), TransactionError> {
        self.rt().block_on(self.as_async().abort_transaction())
    }

    /// [`Producer::transaction_state`].
    pub fn transaction_state(&self) -> Option<crate::txn::TransactionState> {
        self.as_async().transaction_state()
    }
}
