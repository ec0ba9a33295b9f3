//! [`BlockingProducer`]: the producer for code without an async runtime (Java's synchronous
//! style, `producer.send(record).get()`).

use std::sync::Arc;
use std::time::Duration;

use super::{DeliveryFuture, Producer, ProducerBuilder, ResolveSerializer};
use crate::config::ProducerConfig;
use crate::error::{FlushError, KafkaError, ProduceError, SendError};
use crate::record::{ProducerRecord, RecordMetadata};
use crate::serializer::{DefaultSerializer, Serializer};

/// A producer whose methods block the calling thread. It owns a small tokio runtime (one worker
/// thread) for its waits (metadata, buffer memory); the driver runs on the producer's network
/// thread, as for [`Producer`]. Don't call it from async code; use [`Producer`] there.
///
/// ```no_run
/// use kproducer::producer::BlockingProducer;
/// use kproducer::{ProducerConfig, ProducerRecord};
/// # fn main() -> Result<(), kproducer::KafkaError> {
/// let config = ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
/// let producer: BlockingProducer<String, String> = BlockingProducer::new(config)?;
/// // Synchronous style: send, then wait for the acknowledgement.
/// let md = producer.send_and_wait(ProducerRecord::new("orders", "hello".to_string()))?;
/// println!("offset {}", md.offset);
/// // Or buffer many and wait later.
/// let f = producer.send(ProducerRecord::new("orders", "again".to_string()))?;
/// producer.flush();
/// let _ = f.wait();
/// producer.close(std::time::Duration::from_secs(30));
/// # Ok(()) }
/// ```
pub struct BlockingProducer<K, V> {
    producer: Producer<K, V>,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// Dropping without [`close`](BlockingProducer::close) still delivers what is buffered, like the
/// async producer: a detached thread keeps the runtime alive until the close (bounded by
/// `delivery.timeout.ms`) is done.
impl<K, V> Drop for BlockingProducer<K, V> {
    fn drop(&mut self) {
        let runtime = self.runtime.clone();
        let inner = self.producer.inner.clone();
        if inner.shared.lock().driver_exited {
            return;
        }
        let timeout = inner.config.delivery_timeout;
        let spawned = std::thread::Builder::new()
            .name("kproducer-close".into())
            .spawn(move || runtime.block_on(super::close(&inner, timeout)));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a thread to close the producer; unsent records fail");
        }
    }
}

impl<K, V> BlockingProducer<K, V>
where
    K: DefaultSerializer + Send + Sync + 'static,
    V: DefaultSerializer + Send + Sync + 'static,
{
    /// A blocking producer with the default serializers for `K` and `V`.
    pub fn new(config: ProducerConfig) -> Result<Self, KafkaError> {
        Self::from_builder(ProducerBuilder::new(config))
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> BlockingProducer<K, V> {
    /// A blocking producer from a configured [`ProducerBuilder`] (serializers, partitioner,
    /// interceptors).
    ///
    /// ```no_run
    /// use kproducer::producer::{BlockingProducer, ProducerBuilder};
    /// use kproducer::serializer::IntegerSerializer;
    /// use kproducer::ProducerConfig;
    /// # fn main() -> Result<(), kproducer::KafkaError> {
    /// let config = ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
    /// let builder = ProducerBuilder::<String, i32>::new(config).value_serializer(IntegerSerializer);
    /// let producer = BlockingProducer::from_builder(builder)?;
    /// # Ok(()) }
    /// ```
    pub fn from_builder<KS, VS>(builder: ProducerBuilder<K, V, KS, VS>) -> Result<Self, KafkaError>
    where
        KS: ResolveSerializer<K>,
        VS: ResolveSerializer<V>,
    {
        let runtime = blocking_runtime()?;
        let producer = {
            let _guard = runtime.enter();
            builder.build()?
        };
        Ok(BlockingProducer {
            producer,
            runtime: Arc::new(runtime),
        })
    }

    /// A blocking producer with these serializers. Same as
    /// `from_builder(ProducerBuilder::new(config).key_serializer(..).value_serializer(..))`.
    pub fn with_serializers(
        config: ProducerConfig,
        key: Arc<dyn Serializer<K>>,
        value: Arc<dyn Serializer<V>>,
    ) -> Result<Self, KafkaError> {
        let runtime = blocking_runtime()?;
        let producer = {
            let _guard = runtime.enter();
            ProducerBuilder::new(config).build_with(key, value)?
        };
        Ok(BlockingProducer {
            producer,
            runtime: Arc::new(runtime),
        })
    }
}

/// The small runtime a blocking producer waits on (metadata, buffer memory).
fn blocking_runtime() -> Result<tokio::runtime::Runtime, KafkaError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kproducer-blocking")
        .enable_all()
        .build()
        .map_err(|e| KafkaError::Runtime(e.to_string()))
}

impl<K, V> BlockingProducer<K, V> {
    pub(super) fn rt(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Buffers a record, blocking up to `max.block.ms` for metadata and memory. The returned
    /// future can be waited on with [`DeliveryFuture::wait`].
    pub fn send(&self, record: ProducerRecord<K, V>) -> Result<DeliveryFuture, SendError> {
        self.rt().block_on(self.producer.send(record))
    }

    /// Sends a record and blocks until it is acknowledged or fails.
    pub fn send_and_wait(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<RecordMetadata, KafkaError> {
        let f = self.send(record)?;
        Ok(f.wait()?)
    }

    /// Buffers a record; `callback` runs on the driver thread with the result.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(Result<RecordMetadata, ProduceError>) + Send + 'static,
    ) -> Result<(), SendError> {
        self.rt()
            .block_on(self.producer.send_with_callback(record, callback))
    }

    /// Sends everything buffered and waits for it (Java's `flush`), up to
    /// `delivery.timeout.ms`; [`flush_timeout`](Self::flush_timeout) takes a bound.
    pub fn flush(&self) {
        self.rt().block_on(self.producer.flush())
    }

    /// [`flush`](Self::flush), blocking at most `timeout`; see [`Producer::flush_timeout`].
    ///
    /// ```no_run
    /// # fn demo(producer: kproducer::BlockingProducer<String, String>) -> Result<(), kproducer::FlushError> {
    /// producer.flush_timeout(std::time::Duration::from_secs(5))?;
    /// # Ok(()) }
    /// ```
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        self.rt().block_on(self.producer.flush_timeout(timeout))
    }

    /// Delivers what is buffered (waiting up to `timeout`) and stops.
    pub fn close(&self, timeout: Duration) {
        self.rt().block_on(self.producer.close(timeout))
    }

    /// The producer's metrics now, keyed as Java keys them; see [`Producer::metrics`].
    pub fn metrics(&self) -> std::collections::BTreeMap<crate::MetricName, f64> {
        self.producer.metrics()
    }

    /// The id the cluster gave this producer for its client telemetry, blocking up to
    /// `timeout`; see [`Producer::client_instance_id`].
    ///
    /// ```no_run
    /// # fn demo(producer: kproducer::BlockingProducer<String, String>) {
    /// if let Ok(id) = producer.client_instance_id(std::time::Duration::from_secs(5)) {
    ///     println!("client instance id {id}");
    /// }
    /// # }
    /// ```
    pub fn client_instance_id(
        &self,
        timeout: Duration,
    ) -> Result<crate::telemetry::ClientInstanceId, crate::telemetry::ClientInstanceIdError> {
        self.rt()
            .block_on(self.producer.client_instance_id(timeout))
    }

    /// Sets the producer's metrics in the `metrics` facade's recorder now (feature
    /// `metrics-export`); see [`Producer::export_metrics`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = kproducer::ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
    /// let producer: kproducer::BlockingProducer<String, String> =
    ///     kproducer::BlockingProducer::new(config)?;
    /// producer.export_metrics(); // into the no-op recorder: none is installed here
    /// producer.close(std::time::Duration::ZERO);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "metrics-export")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics-export")))]
    pub fn export_metrics(&self) {
        self.producer.export_metrics()
    }

    /// The async producer underneath (shares the same driver).
    pub fn as_async(&self) -> &Producer<K, V> {
        &self.producer
    }
}
