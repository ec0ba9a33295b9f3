//! The public producer: [`Producer`] (async), [`BlockingProducer`] (no runtime needed), and the
//! background driver, on its own network thread, that moves bytes for them.
//!
//! The path of one record through [`Producer::send`]:
//! interceptors → topic metadata (waits ≤ `max.block.ms`) → key/value serializers →
//! partitioner → accumulator append (waits for buffer memory ≤ `max.block.ms`) → [`DeliveryFuture`].
//! The driver then drains ready batches per leader, writes Produce requests and completes
//! futures and callbacks with the answers.

mod blocking;
mod driver;
mod future;
mod timer;
mod transactions;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::Notify;

pub use blocking::BlockingProducer;
pub use future::DeliveryFuture;

use crate::accumulator::{
    AccumulatorConfig, AppendError, Callback, PartitionChoice, RecordAccumulator, RecordInfo,
    RecordRef,
};
use crate::config::{ProducerConfig, SecurityProtocol};
use crate::core::{CoreConfig, ProducerCore};
use crate::error::{ConfigError, FlushError, KafkaError, ProduceError, SendError};
use crate::interceptor::{InterceptorChain, ProducerInterceptor};
use crate::metadata::TopicInfo;
use crate::network::{TcpTransport, Transport};
use crate::partitioner::{choose_partition, Partitioner, TopicPartitions};
use crate::protocol::errors::ErrorCode;
use crate::protocol::record_batch::{RecordBatchBuilder, BATCH_HEADER_LEN};
use crate::record::{ProducerRecord, RecordMetadata};
use crate::security::sasl::SaslConfig;
use crate::security::OAuthBearerTokenProvider;
use crate::serializer::{DefaultSerializer, Serializer};
use crate::shared::{SendState, Shared};

/// Sees every record's outcome on the network thread (the interceptors' `on_acknowledgement`).
pub(crate) type AckFn = Arc<crate::accumulator::batch::AckObserverFn>;

/// What every producer handle and the driver share: the [`Shared`] state (accumulator and
/// metadata snapshot) and the notifies that wake whoever waits. Decisions live in the core, on
/// the network thread.
pub(crate) struct Inner {
    pub(crate) config: ProducerConfig,
    pub(crate) shared: Arc<Shared>,
    /// Something for the driver to do (new batch, full batch, new topic, flush, close).
    pub(crate) wake_driver: Notify,
    /// Buffer memory was returned to the pool.
    pub(crate) memory_freed: Notify,
    /// A metadata answer (or failure) arrived.
    pub(crate) metadata_changed: Notify,
    /// Batches completed or the driver exited (flush and close wait on it).
    pub(crate) progress: Notify,
    pub(crate) observer: Option<AckFn>,
    pub(crate) closed: AtomicBool,
    /// `Producer::export_metrics`'s handles (the network thread keeps its own).
    #[cfg(feature = "metrics-export")]
    pub(crate) exporter: std::sync::Mutex<crate::metrics::export::Exporter>,
    /// How often the network thread exports the metrics, in milliseconds (0: never).
    #[cfg(feature = "metrics-export")]
    pub(crate) export_interval_ms: std::sync::atomic::AtomicU64,
}

impl Inner {
    /// Wakes every waiter (the driver stopped, or everything changed).
    pub(crate) fn wake_all(&self) {
        self.progress.notify_waiters();
        self.metadata_changed.notify_waiters();
        self.memory_freed.notify_waiters();
    }
}

/// Closes the producer gracefully when the last handle is dropped.
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        begin_close(&self.0);
    }
}

fn begin_close(inner: &Inner) {
    inner.closed.store(true, Ordering::SeqCst);
    inner.shared.lock().acc.close();
    inner.wake_driver.notify_one();
}

/// An asynchronous Kafka producer (Java's `KafkaProducer<K, V>`). Cheap to clone and share
/// across tasks and threads; all clones feed one background driver.
///
/// ```no_run
/// use kproducer::{Producer, ProducerConfig, ProducerRecord};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
/// let producer: Producer<String, String> = Producer::new(config)?;
/// let delivery = producer
///     .send(ProducerRecord::new("orders", "hello".to_string()).with_key("k1".to_string()))
///     .await?;
/// let metadata = delivery.await?;
/// println!("written to {}-{} at offset {}", metadata.topic, metadata.partition, metadata.offset);
/// producer.close(std::time::Duration::from_secs(30)).await;
/// # Ok(()) }
/// ```
pub struct Producer<K, V> {
    inner: Arc<Inner>,
    /// `inner.shared`, one pointer hop closer for the per-record path.
    shared: Arc<Shared>,
    key_serializer: Arc<dyn Serializer<K>>,
    value_serializer: Arc<dyn Serializer<V>>,
    partitioner: Option<Arc<dyn Partitioner>>,
    interceptors: Arc<InterceptorChain<K, V>>,
    _close_on_drop: Arc<CloseOnDrop>,
}

impl<K, V> Clone for Producer<K, V> {
    fn clone(&self) -> Self {
        Producer {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            key_serializer: self.key_serializer.clone(),
            value_serializer: self.value_serializer.clone(),
            partitioner: self.partitioner.clone(),
            interceptors: self.interceptors.clone(),
            _close_on_drop: self._close_on_drop.clone(),
        }
    }
}

/// Builds a [`Producer`] with custom serializers, partitioner or interceptors.
///
/// The last two type parameters record whether a key and value serializer were given
/// ([`BuiltIn`] until [`key_serializer`](Self::key_serializer) /
/// [`value_serializer`](Self::value_serializer) replace it by [`Given`]), so [`build`](Self::build)
/// asks for a [`DefaultSerializer`] only for the types that have no serializer of their own.
///
/// ```
/// use std::borrow::Cow;
/// use kproducer::producer::ProducerBuilder;
/// use kproducer::serializer::{SerializationError, Serializer};
/// use kproducer::{Header, ProducerConfig};
///
/// struct Point { x: i32, y: i32 }
///
/// // No built-in serializer for `Point`: give one.
/// struct PointSerializer;
/// impl Serializer<Point> for PointSerializer {
///     fn serialize<'a>(&self, _topic: &str, _headers: &[Header], p: &'a Point)
///         -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
///         Ok(Some(Cow::Owned(format!("{},{}", p.x, p.y).into_bytes())))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kproducer::KafkaError> {
/// let config = ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
/// // The key (`String`) keeps its built-in serializer.
/// let producer = ProducerBuilder::<String, Point>::new(config)
///     .value_serializer(PointSerializer)
///     .build()?;
/// # producer.close(std::time::Duration::ZERO).await;
/// # Ok(()) }
/// ```
///
/// Without a serializer for `Point`, `build` does not compile ("`Point` has no built-in serializer"):
///
/// ```compile_fail,E0277
/// # use kproducer::producer::ProducerBuilder;
/// # struct Point;
/// # fn demo(config: kproducer::ProducerConfig) {
/// let producer = ProducerBuilder::<String, Point>::new(config).build();
/// # }
/// ```
pub struct ProducerBuilder<K, V, KS = BuiltIn, VS = BuiltIn> {
    config: ProducerConfig,
    transport: Option<Arc<dyn Transport>>,
    key_serializer: KS,
    value_serializer: VS,
    partitioner: Option<Arc<dyn Partitioner>>,
    interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>,
    token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

/// [`ProducerBuilder`] state: no serializer given, the type's [`DefaultSerializer`] is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuiltIn;

/// [`ProducerBuilder`] state: the serializer given for `T`.
pub type Given<T> = Arc<dyn Serializer<T>>;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BuiltIn {}
    impl<T> Sealed for super::Given<T> {}
}

/// A [`ProducerBuilder`] serializer slot: [`BuiltIn`] or [`Given`]. Sealed.
pub trait SerializerSlot<T>: sealed::Sealed {
    /// The serializer given, if any.
    fn given(self) -> Option<Arc<dyn Serializer<T>>>;
}

impl<T> SerializerSlot<T> for BuiltIn {
    fn given(self) -> Option<Arc<dyn Serializer<T>>> {
        None
    }
}

impl<T> SerializerSlot<T> for Given<T> {
    fn given(self) -> Option<Arc<dyn Serializer<T>>> {
        Some(self)
    }
}

/// A slot [`ProducerBuilder::build`] can resolve: a given serializer, or [`BuiltIn`] for a type
/// with a [`DefaultSerializer`]. Sealed.
pub trait ResolveSerializer<T>: SerializerSlot<T> {
    /// The serializer to use.
    fn resolve(self) -> Arc<dyn Serializer<T>>;
}

impl<T: DefaultSerializer> ResolveSerializer<T> for BuiltIn {
    fn resolve(self) -> Arc<dyn Serializer<T>> {
        T::default_serializer()
    }
}

impl<T> ResolveSerializer<T> for Given<T> {
    fn resolve(self) -> Arc<dyn Serializer<T>> {
        self
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> ProducerBuilder<K, V> {
    /// A builder with the types' default serializers.
    pub fn new(config: ProducerConfig) -> Self {
        ProducerBuilder {
            config,
            transport: None,
            key_serializer: BuiltIn,
            value_serializer: BuiltIn,
            partitioner: None,
            interceptors: Vec::new(),
            token_provider: None,
        }
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static, KS, VS> ProducerBuilder<K, V, KS, VS> {
    /// Serializes keys with `s` (Java's `key.serializer`).
    pub fn key_serializer(
        self,
        s: impl Serializer<K> + 'static,
    ) -> ProducerBuilder<K, V, Given<K>, VS> {
        ProducerBuilder {
            config: self.config,
            transport: self.transport,
            key_serializer: Arc::new(s),
            value_serializer: self.value_serializer,
            partitioner: self.partitioner,
            interceptors: self.interceptors,
            token_provider: self.token_provider,
        }
    }

    /// Serializes values with `s` (Java's `value.serializer`).
    pub fn value_serializer(
        self,
        s: impl Serializer<V> + 'static,
    ) -> ProducerBuilder<K, V, KS, Given<V>> {
        ProducerBuilder {
            config: self.config,
            transport: self.transport,
            key_serializer: self.key_serializer,
            value_serializer: Arc::new(s),
            partitioner: self.partitioner,
            interceptors: self.interceptors,
            token_provider: self.token_provider,
        }
    }

    /// Chooses partitions with `p` (Java's `partitioner.class`).
    pub fn partitioner(mut self, p: impl Partitioner + 'static) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }

    /// Reaches brokers through `t` instead of TCP (e.g. an in-memory pipe to an in-process
    /// cluster in tests).
    pub fn transport(mut self, t: impl Transport) -> Self {
        self.transport = Some(Arc::new(t));
        self
    }

    /// Gets SASL/OAUTHBEARER tokens from `p` (Java's `sasl.login.callback.handler.class`), for
    /// `sasl.mechanism=OAUTHBEARER`; `sasl.jaas.config` is then optional.
    pub fn oauth_token_provider(mut self, p: impl OAuthBearerTokenProvider + 'static) -> Self {
        self.token_provider = Some(Arc::new(p));
        self
    }

    /// Adds an interceptor; they run in the order added (Java's `interceptor.classes`).
    pub fn interceptor(mut self, i: impl ProducerInterceptor<K, V> + 'static) -> Self {
        self.interceptors.push(Arc::new(i));
        self
    }

    /// Starts the producer's network thread (Java's `kafka-producer-network-thread`), which runs
    /// its driver and connections on a single-threaded tokio runtime of its own. Call it inside a
    /// tokio runtime: `send` waits (for metadata or memory) with the caller's timers.
    ///
    /// A key or value type without a serializer given needs a [`DefaultSerializer`].
    pub fn build(self) -> Result<Producer<K, V>, KafkaError>
    where
        KS: ResolveSerializer<K>,
        VS: ResolveSerializer<V>,
    {
        let ProducerBuilder {
            config,
            transport,
            key_serializer,
            value_serializer,
            partitioner,
            interceptors,
            token_provider,
        } = self;
        let parts = Parts {
            config,
            transport,
            partitioner,
            interceptors,
            token_provider,
        };
        parts.build(key_serializer.resolve(), value_serializer.resolve())
    }

    /// Builds with `key_serializer` / `value_serializer` where none was given with
    /// [`key_serializer`](Self::key_serializer) / [`value_serializer`](Self::value_serializer)
    /// (those win). Giving them to the builder and calling [`build`](Self::build) is simpler.
    pub fn build_with(
        self,
        key_serializer: Arc<dyn Serializer<K>>,
        value_serializer: Arc<dyn Serializer<V>>,
    ) -> Result<Producer<K, V>, KafkaError>
    where
        KS: SerializerSlot<K>,
        VS: SerializerSlot<V>,
    {
        let ProducerBuilder {
            config,
            transport,
            key_serializer: ks,
            value_serializer: vs,
            partitioner,
            interceptors,
            token_provider,
        } = self;
        let parts = Parts {
            config,
            transport,
            partitioner,
            interceptors,
            token_provider,
        };
        parts.build(
            ks.given().unwrap_or(key_serializer),
            vs.given().unwrap_or(value_serializer),
        )
    }
}

/// The builder without its serializer slots (one `build` for every slot state).
struct Parts<K, V> {
    config: ProducerConfig,
    transport: Option<Arc<dyn Transport>>,
    partitioner: Option<Arc<dyn Partitioner>>,
    interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>,
    token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> Parts<K, V> {
    fn build(
        self,
        key_serializer: Arc<dyn Serializer<K>>,
        value_serializer: Arc<dyn Serializer<V>>,
    ) -> Result<Producer<K, V>, KafkaError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            KafkaError::Runtime(
                "Producer must be built inside a tokio runtime; use BlockingProducer otherwise"
                    .into(),
            )
        })?;
        let interceptors = Arc::new(InterceptorChain::new(self.interceptors));
        let observer: Option<AckFn> = if interceptors.is_empty() {
            None
        } else {
            let chain = interceptors.clone();
            Some(Arc::new(
                move |m: &RecordMetadata, e: Option<&ProduceError>| chain.on_acknowledgement(m, e),
            ))
        };
        let transport = match self.transport {
            Some(t) => t,
            None => default_transport(&self.config)?,
        };
        let sasl = sasl_config(&self.config, self.token_provider)?;
        tracing::info!("{}", self.config.describe());
        let inner = Arc::new(new_inner(self.config, observer));
        drop(handle);
        spawn_network_thread(&inner, transport, sasl)?;
        Ok(Producer {
            _close_on_drop: Arc::new(CloseOnDrop(inner.clone())),
            shared: inner.shared.clone(),
            inner,
            key_serializer,
            value_serializer,
            partitioner: self.partitioner,
            interceptors,
        })
    }
}

/// The SASL exchange for `SASL_PLAINTEXT`/`SASL_SSL`, checked now (`sasl.mechanism`,
/// `sasl.jaas.config`), as Java's constructor does.
fn sasl_config(
    config: &ProducerConfig,
    token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
) -> Result<Option<Arc<SaslConfig>>, ConfigError> {
    match config.security_protocol {
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
            let jaas = config.sasl.jaas_config.as_ref().map(|p| p.expose());
            let token_provider = match (token_provider, &config.sasl.token_endpoint) {
                (Some(p), _) => Some(p),
                (None, Some(_)) if config.sasl.mechanism == "OAUTHBEARER" => {
                    Some(oauth_provider(config, jaas)?)
                }
                (None, _) => None,
            };
            let sasl = SaslConfig::from_parts(&config.sasl.mechanism, jaas, token_provider)?;
            Ok(Some(Arc::new(sasl)))
        }
        SecurityProtocol::Plaintext | SecurityProtocol::Ssl => Ok(None),
    }
}

/// KIP-768: the client-credentials login, its first token fetched now.
#[cfg(feature = "oauth")]
fn oauth_provider(
    config: &ProducerConfig,
    jaas: Option<&str>,
) -> Result<Arc<dyn OAuthBearerTokenProvider>, ConfigError> {
    use crate::security::oauth_client::{ClientCredentials, ClientCredentialsProvider};
    let key = "sasl.oauthbearer.token.endpoint.url";
    let endpoint = config.sasl.token_endpoint.clone().unwrap_or_default();
    let options = match jaas {
        Some(text) => Some(crate::security::JaasConfig::parse(text).map_err(|e| {
            ConfigError::InvalidValue {
                key: "sasl.jaas.config".into(),
                value: "[hidden]".into(),
                allowed: e.to_string(),
            }
        })?),
        None => None,
    };
    let option = |name: &str| {
        options
            .as_ref()
            .and_then(|j| j.option(name))
            .map(str::to_string)
    };
    let file = endpoint.starts_with("file://");
    let (client_id, client_secret) =
        match (option("clientId"), option("clientSecret")) {
            (Some(id), Some(secret)) => (id, secret),
            _ if file => (String::new(), String::new()),
            _ => return Err(ConfigError::Missing {
                key: "sasl.jaas.config".into(),
                hint: "the OAuth client-credentials login needs `org.apache.kafka.common.security.\
                       oauthbearer.OAuthBearerLoginModule required clientId=\"...\" \
                       clientSecret=\"...\";` (and optionally scope=\"...\")"
                    .into(),
            }),
        };
    #[cfg(feature = "tls")]
    let tls = if endpoint.starts_with("https://") {
        Some(Arc::new(crate::network::tls::client_config_default(
            &config.ssl,
        )?))
    } else {
        None
    };
    let settings = ClientCredentials {
        endpoint,
        client_id,
        client_secret: client_secret.into(),
        scope: option("scope"),
        sub_claim: config.sasl.sub_claim.clone(),
        connect_timeout: config.sasl.login_connect_timeout,
        read_timeout: config.sasl.login_read_timeout,
        retry_backoff: config.sasl.login_retry_backoff,
        retry_backoff_max: config.sasl.login_retry_backoff_max,
        #[cfg(feature = "tls")]
        tls,
    };
    let provider =
        ClientCredentialsProvider::start(settings).map_err(|reason| ConfigError::InvalidValue {
            key: key.into(),
            value: config.sasl.token_endpoint.clone().unwrap_or_default(),
            allowed: format!("no token from the OAuth token endpoint: {reason}"),
        })?;
    Ok(Arc::new(provider))
}

#[cfg(not(feature = "oauth"))]
fn oauth_provider(
    _: &ProducerConfig,
    _: Option<&str>,
) -> Result<Arc<dyn OAuthBearerTokenProvider>, ConfigError> {
    Err(ConfigError::Unsupported {
        key: "sasl.oauthbearer.token.endpoint.url".into(),
        reason: "this build of kproducer leaves out the OAuth login: enable the cargo feature \
                 oauth (a default feature)"
            .into(),
    })
}

/// TCP, or TLS over TCP for `SSL`/`SASL_SSL` (key and trust stores read now: a missing file or
/// a wrong password is a configuration error naming the key).
fn default_transport(config: &ProducerConfig) -> Result<Arc<dyn Transport>, ConfigError> {
    let tcp = TcpTransport {
        send_buffer_bytes: config.send_buffer_bytes,
        receive_buffer_bytes: config.receive_buffer_bytes,
    };
    match config.security_protocol {
        SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext => Ok(Arc::new(tcp)),
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => {
            #[cfg(feature = "tls")]
            {
                Ok(Arc::new(crate::network::tls::TlsTransport::from_config(
                    &config.ssl,
                    tcp,
                )?))
            }
            #[cfg(not(feature = "tls"))]
            {
                Err(ConfigError::Unsupported {
                    key: "security.protocol".into(),
                    reason: format!(
                        "{} needs TLS, which this build of kproducer leaves out: enable the \
                         cargo feature tls-ring (the default) or tls-aws-lc",
                        config.security_protocol.as_str()
                    ),
                })
            }
        }
    }
}

/// Starts the driver on its own thread with a single-threaded tokio runtime (Java's
/// `kafka-producer-network-thread`): all of a producer's I/O happens there, whatever runtime the
/// caller uses, and a caller that keeps its own threads busy never starves it. Measured against
/// running it as a task on the caller's multi-threaded runtime: about 10 % less CPU per record and
/// 10–20 % more throughput (no work-stealing hand-offs between workers for every wake-up).
fn spawn_network_thread(
    inner: &Arc<Inner>,
    transport: Arc<dyn Transport>,
    sasl: Option<Arc<SaslConfig>>,
) -> Result<(), KafkaError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KafkaError::Runtime(format!("cannot build the network runtime: {e}")))?;
    let mut core_config = CoreConfig::from_producer(&inner.config, rand::random());
    core_config.sasl = sasl;
    let core = ProducerCore::new(core_config, inner.shared.clone());
    let driver_inner = inner.clone();
    std::thread::Builder::new()
        .name(format!(
            "kproducer-network-thread | {}",
            inner.config.client_id
        ))
        .spawn(move || runtime.block_on(driver::run(driver_inner, core, transport)))
        .map_err(|e| KafkaError::Runtime(format!("cannot start the network thread: {e}")))?;
    Ok(())
}

/// The accumulator for `config` (the core closes drained batches outside its lock).
pub(crate) fn new_accumulator(config: &ProducerConfig) -> RecordAccumulator {
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        batch_size: config.batch_size,
        linger: config.linger,
        buffer_memory: config.buffer_memory,
        delivery_timeout: config.delivery_timeout,
        retry_backoff: config.retry_backoff,
        adaptive_partitioning: config.partitioner_adaptive_partitioning_enable,
        compression: crate::compression::Compression::from_config(config),
        max_request_size: config.max_request_size,
    });
    acc.set_defer_close(true);
    acc
}

/// The transaction manager of a producer with a `transactional.id`.
pub(crate) fn transaction_manager(
    config: &ProducerConfig,
) -> Option<crate::txn::TransactionManager> {
    config.transactional_id.clone().map(|id| {
        crate::txn::TransactionManager::new(
            id,
            config.transaction_timeout,
            config.retry_backoff.min(config.retry_backoff_max),
        )
    })
}

fn new_inner(config: ProducerConfig, observer: Option<AckFn>) -> Inner {
    #[cfg(feature = "metrics-export")]
    let config_client_id = config.client_id.clone();
    let mut state = SendState::new(new_accumulator(&config), SmallRng::from_os_rng());
    state.txn = transaction_manager(&config);
    state.pool_metrics = crate::metrics::PoolMetrics::new(crate::metrics::Clock::new(
        Instant::now(),
        config.metrics_sample_window,
        config.metrics_num_samples,
    ));
    Inner {
        shared: Arc::new(Shared::new(state)),
        config,
        wake_driver: Notify::new(),
        memory_freed: Notify::new(),
        metadata_changed: Notify::new(),
        progress: Notify::new(),
        observer,
        closed: AtomicBool::new(false),
        #[cfg(feature = "metrics-export")]
        exporter: std::sync::Mutex::new(crate::metrics::export::Exporter::new(&config_client_id)),
        #[cfg(feature = "metrics-export")]
        export_interval_ms: std::sync::atomic::AtomicU64::new(
            crate::metrics::DEFAULT_EXPORT_INTERVAL.as_millis() as u64,
        ),
    }
}

impl Inner {
    /// Sets the metrics in the `metrics` facade's recorder through `exporter`: the network
    /// thread's `net`, or (`None`) those it last published, and the pool's (read under the
    /// shared lock, set after it is released).
    #[cfg(feature = "metrics-export")]
    pub(crate) fn export_metrics_with(
        &self,
        exporter: &mut crate::metrics::export::Exporter,
        net: Option<&crate::metrics::NetworkMetrics>,
        now: Instant,
    ) {
        let pool = {
            let st = self.shared.lock();
            crate::metrics::export::pool_values(&st.pool_metrics, st.pool_gauges(), now)
        };
        match net {
            Some(net) => exporter.export(Some(net), &pool, now),
            None => self
                .shared
                .view
                .with_metrics(|net| exporter.export(net, &pool, now)),
        }
    }
}

impl<K, V> Producer<K, V>
where
    K: DefaultSerializer + Send + Sync + 'static,
    V: DefaultSerializer + Send + Sync + 'static,
{
    /// A producer with the default serializers for `K` and `V`. Call it inside a tokio runtime.
    pub fn new(config: ProducerConfig) -> Result<Self, KafkaError> {
        ProducerBuilder::new(config).build()
    }
}

impl<K, V> Producer<K, V> {
    /// The configuration in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// The idempotent producer's id and epoch (`None` before the first InitProducerId answer,
    /// or with `enable.idempotence=false`).
    pub fn producer_id_and_epoch(&self) -> Option<crate::idempotence::ProducerIdAndEpoch> {
        if self.inner.config.transactional_id.is_some() {
            // The transaction manager's, current as soon as a transactional call returns.
            return self
                .inner
                .shared
                .lock()
                .txn
                .as_ref()
                .and_then(|t| t.producer_id_and_epoch());
        }
        self.inner.shared.view.pid()
    }

    /// Counters of requests, batches and records sent so far.
    pub fn stats(&self) -> crate::sender::SenderStats {
        self.inner.shared.view.stats()
    }

    /// The producer's metrics now, keyed as Java keys them (name, group, tags), with Java's
    /// meanings: `producer-metrics` (the Sender's, the buffer pool's and the network's, e.g.
    /// `record-send-total`, `batch-size-avg`, `request-latency-max`, `buffer-available-bytes`,
    /// `outgoing-byte-rate`, `io-wait-ratio`), `producer-topic-metrics` (tag `topic`) and
    /// `producer-node-metrics` (tag `node-id`, `node-<id>`). Every metric carries the
    /// `client-id` tag. Rates, averages and maxima cover the last `metrics.num.samples` windows
    /// of `metrics.sample.window.ms`, evaluated now; an average or maximum with no sample is NaN,
    /// as in Java. The network thread's figures are those it last published (after its latest
    /// pass). Reading takes the producer's lock once, briefly.
    ///
    /// ```no_run
    /// # async fn demo(producer: kproducer::Producer<String, String>) {
    /// let metrics = producer.metrics();
    /// let sent = metrics
    ///     .iter()
    ///     .find(|(k, _)| k.group == "producer-metrics" && k.name == "record-send-total")
    ///     .map(|(_, v)| *v);
    /// print!("{}", kproducer::metrics::format_java_table(&metrics));
    /// # }
    /// ```
    pub fn metrics(&self) -> std::collections::BTreeMap<crate::MetricName, f64> {
        let now = Instant::now();
        let client_id = self.inner.config.client_id.as_str();
        let mut out = std::collections::BTreeMap::new();
        self.inner.shared.view.with_metrics(|m| {
            if let Some(m) = m {
                m.write_into(client_id, now, &mut out);
            }
        });
        let st = self.inner.shared.lock();
        let gauges = st.pool_gauges();
        let pool = st.pool_metrics.clone();
        drop(st);
        pool.write_into(client_id, gauges, now, &mut out);
        self.inner
            .shared
            .view
            .api_times
            .write_into(client_id, &mut out);
        out
    }

    /// The id the cluster gave this producer for its client telemetry (KIP-714; Java's
    /// `clientInstanceId`), waiting up to `timeout` for the first GetTelemetrySubscriptions
    /// answer. See [`kproducer::telemetry`](crate::telemetry).
    ///
    /// ```no_run
    /// # async fn demo(producer: kproducer::Producer<String, String>) {
    /// match producer.client_instance_id(std::time::Duration::from_secs(5)).await {
    ///     Ok(id) => println!("client instance id {id}"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    pub async fn client_instance_id(
        &self,
        timeout: Duration,
    ) -> Result<crate::telemetry::ClientInstanceId, crate::telemetry::ClientInstanceIdError> {
        if !self.inner.config.enable_metrics_push {
            return Err(crate::telemetry::ClientInstanceIdError::Disabled);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(id) = self.inner.shared.view.client_instance_id() {
                return Ok(id);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(crate::telemetry::ClientInstanceIdError::Timeout(
                    timeout.as_millis().min(u64::MAX as u128) as u64,
                ));
            }
            // Asked once per producer at most: a short poll beats a notifier on the core's path.
            tokio::time::sleep((deadline - now).min(Duration::from_millis(10))).await;
        }
    }

    /// Sets the producer's metrics, as [`Producer::metrics`] reads them now, in the recorder of
    /// the [`metrics`](https://docs.rs/metrics) facade in force on this thread (feature
    /// `metrics-export`), under Micrometer's names for Java clients:
    /// `kafka.producer.record.send.total{client.id}`,
    /// `kafka.producer.topic.record.send.total{client.id, topic}`,
    /// `kafka.producer.node.request.latency.avg{client.id, node.id}`, ... (Java's cumulative
    /// `*-total` metrics as counters, every other metric as a gauge; see
    /// [`kproducer::metrics`](crate::metrics#export-to-the-metrics-facade)).
    ///
    /// The network thread already does this about every
    /// [`DEFAULT_EXPORT_INTERVAL`](crate::metrics::DEFAULT_EXPORT_INTERVAL) (see [`Producer::set_metrics_export_interval`]) and
    /// once more when the producer closes; call it for values as of now (before a scrape, at the
    /// end of a test). The first export of each metric registers it with the recorder; later
    /// ones only set values. Reading takes the producer's lock once, briefly.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use metrics_util::debugging::DebuggingRecorder;
    ///
    /// // An application installs its exporter instead, e.g.
    /// // metrics_exporter_prometheus::PrometheusBuilder::new().install()?
    /// let recorder = DebuggingRecorder::new();
    /// let snapshotter = recorder.snapshotter();
    /// recorder.install()?;
    ///
    /// let config = kproducer::ProducerConfig::from_map([
    ///     ("bootstrap.servers", "127.0.0.1:9092"),
    ///     ("client.id", "orders-service"),
    /// ])?;
    /// let producer: kproducer::Producer<String, String> = kproducer::Producer::new(config)?;
    /// producer.export_metrics();
    /// let exported = snapshotter.snapshot().into_vec();
    /// assert!(exported.iter().any(|(key, ..)| {
    ///     key.key().name() == "kafka.producer.buffer.total.bytes"
    ///         && key.key().labels().any(|l| l.key() == "client.id" && l.value() == "orders-service")
    /// }));
    /// producer.close(std::time::Duration::ZERO).await;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "metrics-export")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics-export")))]
    pub fn export_metrics(&self) {
        let mut exporter = self
            .inner
            .exporter
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.inner
            .export_metrics_with(&mut exporter, None, Instant::now());
    }

    /// How often the network thread sets the metrics in the `metrics` facade's global recorder
    /// (feature `metrics-export`; see [`Producer::export_metrics`]): about every `every` (it
    /// checks when it wakes, at least once a second), or, with `None`, only when the producer
    /// closes. Default: [`DEFAULT_EXPORT_INTERVAL`](crate::metrics::DEFAULT_EXPORT_INTERVAL), 1 s. Each export evaluates every
    /// metric once (a few microseconds) and allocates nothing once every topic and broker has
    /// been seen; nothing is exported while no recorder is installed but the calls to the facade's
    /// no-op recorder.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    ///
    /// let config = kproducer::ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
    /// let producer: kproducer::Producer<String, String> = kproducer::Producer::new(config)?;
    /// // Fresher figures for a 5 s scrape interval; `None` leaves it to `export_metrics`.
    /// producer.set_metrics_export_interval(Some(Duration::from_millis(500)));
    /// producer.close(Duration::ZERO).await;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "metrics-export")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics-export")))]
    pub fn set_metrics_export_interval(&self, every: Option<Duration>) {
        let ms = every.map_or(0, |d| d.as_millis().clamp(1, u64::MAX as u128) as u64);
        self.inner
            .export_interval_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Buffers a record for sending. The `await` covers only waiting for the topic's metadata
    /// and for buffer memory (each ≤ `max.block.ms`); the returned [`DeliveryFuture`] resolves
    /// when the broker acknowledges the record (or it fails).
    pub async fn send(&self, record: ProducerRecord<K, V>) -> Result<DeliveryFuture, SendError> {
        self.send_inner(record, None, true)
            .await
            .map_err(|r| r.error)
    }

    /// Like [`Producer::send`], but a refused record comes back with the error, so it can be
    /// retried, logged or routed elsewhere without keeping a copy.
    ///
    /// ```no_run
    /// # async fn demo(producer: kproducer::Producer<String, String>) {
    /// use kproducer::ProducerRecord;
    /// match producer.send_returning(ProducerRecord::new("orders", "v".to_string())).await {
    ///     Ok(delivery) => drop(delivery),
    ///     Err(rejected) => eprintln!("{}: {:?}", rejected.error, rejected.record.value),
    /// }
    /// # }
    /// ```
    pub async fn send_returning(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<DeliveryFuture, Rejected<K, V>> {
        self.send_inner(record, None, true).await
    }

    /// Like [`Producer::send`], but never waits for buffer memory: a full buffer is
    /// [`SendError::BufferFull`] at once. (It may still wait for a new topic's metadata.)
    pub async fn try_send(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<DeliveryFuture, SendError> {
        self.send_inner(record, None, false)
            .await
            .map_err(|r| r.error)
    }

    /// Buffers a record and calls `callback` with its result, on the producer's network thread,
    /// in send order per partition. Keep the callback quick. If this returns `Err`, nothing was
    /// buffered and the callback is dropped without being called.
    pub async fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(Result<RecordMetadata, ProduceError>) + Send + 'static,
    ) -> Result<(), SendError> {
        self.send_inner(record, Some(Box::new(callback)), true)
            .await
            .map(drop)
            .map_err(|r| r.error)
    }

    async fn send_inner(
        &self,
        mut record: ProducerRecord<K, V>,
        callback: Option<Callback>,
        wait_for_memory: bool,
    ) -> Result<DeliveryFuture, Rejected<K, V>> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(Rejected {
                error: SendError::Closed,
                record,
            });
        }
        self.interceptors.on_send(&mut record);
        match self.send_prepared(&record, callback, wait_for_memory).await {
            Ok(f) => Ok(f),
            Err(error) => Err(Rejected { error, record }),
        }
    }

    /// The send path proper, borrowing the (intercepted) record.
    async fn send_prepared(
        &self,
        record: &ProducerRecord<K, V>,
        mut callback: Option<Callback>,
        wait_for_memory: bool,
    ) -> Result<DeliveryFuture, SendError> {
        let inner = &*self.inner;

        // Serializing needs no metadata, so it happens first, outside any lock.
        let topic: &str = &record.topic;
        let key = match &record.key {
            Some(k) => self
                .key_serializer
                .serialize(topic, &record.headers, k)
                .map_err(|e| serialization_error("key", topic, e))?,
            None => None,
        };
        let value = match &record.value {
            Some(v) => self
                .value_serializer
                .serialize(topic, &record.headers, v)
                .map_err(|e| serialization_error("value", topic, e))?,
            None => None,
        };
        let key = key.as_deref();
        let value = value.as_deref();
        // The quick bound settles it for all but records near the limits.
        let quick = BATCH_HEADER_LEN
            + RecordBatchBuilder::record_size_quick_bound(key, value, &record.headers);
        if quick
            > inner
                .config
                .max_request_size
                .min(inner.config.buffer_memory)
        {
            let size = BATCH_HEADER_LEN
                + RecordBatchBuilder::record_size_upper_bound(key, value, &record.headers);
            ensure_valid_size(&inner.config, size)?;
        }
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let rec = RecordRef {
            timestamp,
            key,
            value,
            headers: &record.headers,
        };

        // Fast path, the common case: known topic, built-in partitioner, memory available —
        // metadata lookup, partition choice and append under one short lock.
        if self.partitioner.is_none() {
            if let Some(r) = fast_append(
                inner,
                &self.shared,
                topic,
                record.partition,
                &rec,
                &mut callback,
            ) {
                return r;
            }
        }
        let now = Instant::now();
        let deadline = now + inner.config.max_block;
        // A transactional producer refuses a record outside a transaction before waiting for
        // metadata (the fast path checks under its lock).
        if inner.config.transactional_id.is_some() {
            if let Some(Err(e)) = inner.shared.lock().txn.as_ref().map(|t| t.check_send()) {
                return Err(SendError::Transaction(e));
            }
        }

        // Slow path: wait for the topic's metadata and/or memory, or ask the user's partitioner.
        let topic_info = match known_topic(inner, topic, now) {
            Some(t) => t,
            None => wait_for_topic(inner, topic, deadline).await?,
        };
        let partitions = topic_info.partition_count();
        let choice = match record.partition {
            Some(p) if p < 0 || p >= partitions => {
                return Err(SendError::InvalidPartition {
                    topic: topic.to_string(),
                    partition: p,
                    partitions,
                })
            }
            Some(p) => PartitionChoice::Fixed(p),
            None => self.choose_partition(&topic_info, key, value)?,
        };
        append(
            inner,
            topic,
            &topic_info,
            choice,
            &rec,
            callback,
            now,
            deadline,
            wait_for_memory,
        )
        .await
    }

    fn choose_partition(
        &self,
        info: &TopicInfo,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<PartitionChoice, SendError> {
        let partitions = info.partition_count();
        if let Some(p) = &self.partitioner {
            let tp = TopicPartitions {
                topic: &info.name,
                partition_count: partitions,
                available: &info.available,
            };
            if let Some(chosen) = p.partition(&tp, key, value) {
                if chosen < 0 || chosen >= partitions {
                    return Err(SendError::InvalidPartition {
                        topic: info.name.clone(),
                        partition: chosen,
                        partitions,
                    });
                }
                return Ok(PartitionChoice::Fixed(chosen));
            }
        }
        Ok(choose_partition(
            None,
            key,
            self.inner.config.partitioner_ignore_keys,
            partitions,
        ))
    }

    /// Sends everything buffered now (ignoring `linger.ms`) and waits until every record sent
    /// before this call has completed (Java's `flush`). It may wait up to
    /// `delivery.timeout.ms`; [`flush_timeout`](Self::flush_timeout) takes a bound.
    pub async fn flush(&self) {
        flush(&self.inner).await
    }

    /// [`flush`](Self::flush), waiting at most `timeout`. `Ok` once every record sent before
    /// the call has completed (delivered or failed: their futures and callbacks say which);
    /// [`FlushError::Timeout`] otherwise, and the records go on being sent without lingering.
    ///
    /// ```no_run
    /// # async fn demo(producer: kproducer::Producer<String, String>) {
    /// use std::time::Duration;
    /// if let Err(e) = producer.flush_timeout(Duration::from_secs(5)).await {
    ///     eprintln!("{e}"); // TimeoutException: flush did not complete within 5000 ms; ...
    /// }
    /// # }
    /// ```
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        tokio::time::timeout(timeout, flush(&self.inner))
            .await
            .map_err(|_| FlushError::Timeout {
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })
    }

    /// The partitions of `topic` (fetching metadata if needed, ≤ `max.block.ms`).
    pub async fn partitions_for(
        &self,
        topic: &str,
    ) -> Result<Vec<crate::metadata::PartitionInfo>, SendError> {
        let deadline = Instant::now() + self.inner.config.max_block;
        Ok(wait_for_topic(&self.inner, topic, deadline)
            .await?
            .partitions
            .clone())
    }

    /// Stops taking records, delivers what is buffered, and waits up to `timeout` for it.
    /// Records still undelivered then fail with [`ProduceError::Closed`]. Later sends fail with
    /// [`SendError::Closed`].
    pub async fn close(&self, timeout: Duration) {
        close(&self.inner, timeout).await
    }
}

/// A record `send` refused, handed back with the reason (nothing of it was buffered).
pub struct Rejected<K, V> {
    /// Why it was refused.
    pub error: SendError,
    /// The record, as the interceptors left it.
    pub record: ProducerRecord<K, V>,
}

impl<K, V> std::fmt::Debug for Rejected<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .field("topic", &self.record.topic)
            .finish_non_exhaustive()
    }
}

impl<K, V> std::fmt::Display for Rejected<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record to {} refused: {}", self.record.topic, self.error)
    }
}

impl<K, V> std::error::Error for Rejected<K, V> {}

fn serialization_error(
    what: &'static str,
    topic: &str,
    e: crate::serializer::SerializationError,
) -> SendError {
    SendError::Serialization {
        what,
        topic: topic.to_string(),
        reason: e.to_string(),
    }
}

/// Wall-clock milliseconds since the epoch (a record's CreateTime), read once per send.
///
/// On Linux straight from `clock_gettime` (vDSO): `SystemTime::duration_since` alone cost
/// twice the clock read in instruction counts of the send path. The crate's one `unsafe` block:
/// a libc call with a valid out-pointer.
#[allow(unsafe_code)]
pub(crate) fn now_ms() -> i64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 {
            return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000;
        }
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Java's `ensureValidRecordSize`.
fn ensure_valid_size(config: &ProducerConfig, size: usize) -> Result<(), SendError> {
    if size > config.max_request_size {
        return Err(SendError::RecordTooLarge {
            size,
            limit: config.max_request_size,
            limit_key: "max.request.size",
        });
    }
    if size > config.buffer_memory {
        return Err(SendError::RecordTooLarge {
            size,
            limit: config.buffer_memory,
            limit_key: "buffer.memory",
        });
    }
    Ok(())
}

/// The topic's metadata if already known: the common case, one short lock, no waiting.
fn known_topic(inner: &Inner, topic: &str, now: Instant) -> Option<Arc<TopicInfo>> {
    let mut st = inner.shared.lock();
    let t = st.cluster.topic(topic).cloned()?;
    st.topics.touch(topic, now);
    Some(t)
}

/// Waits until the topic's partitions are known (Java's `waitOnMetadata`).
async fn wait_for_topic(
    inner: &Inner,
    topic: &str,
    deadline: Instant,
) -> Result<Arc<TopicInfo>, SendError> {
    let started = Instant::now();
    let r = wait_for_topic_inner(inner, topic, deadline, started).await;
    crate::metrics::ApiTimes::add(&inner.shared.view.api_times.metadata_wait, started);
    r
}

async fn wait_for_topic_inner(
    inner: &Inner,
    topic: &str,
    deadline: Instant,
    started: Instant,
) -> Result<Arc<TopicInfo>, SendError> {
    loop {
        let notified = inner.metadata_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let last_error = {
            let mut st = inner.shared.lock();
            let now = Instant::now();
            if let Some(t) = st.cluster.topic(topic).cloned() {
                st.topics.touch(topic, now);
                return Ok(t);
            }
            if let Some(e) = &st.auth_error {
                return Err(SendError::Authentication(e.clone()));
            }
            let topic_error = st.cluster.topic_errors.get(topic).copied();
            if let Some(code) = topic_error {
                if !is_transient_topic_error(code) {
                    return Err(SendError::TopicError {
                        topic: topic.to_string(),
                        code,
                    });
                }
            }
            if !st.topics.add(topic, now) {
                st.topics.request_update();
            }
            (topic_error, st.last_error.clone())
        };
        inner.wake_driver.notify_one();
        if inner.closed.load(Ordering::Relaxed) {
            return Err(SendError::Closed);
        }
        let now = Instant::now();
        let timed_out = now >= deadline
            || tokio::time::timeout(deadline - now, notified)
                .await
                .is_err();
        if timed_out {
            let waited_ms = started.elapsed().as_millis() as u64;
            // The freshest cause: connection errors arrive without waking metadata waiters.
            let last_error = {
                let st = inner.shared.lock();
                (
                    st.cluster.topic_errors.get(topic).copied().or(last_error.0),
                    st.last_error.clone().or(last_error.1),
                )
            };
            return Err(match last_error {
                (Some(code), _) if code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                    SendError::UnknownTopic {
                        topic: topic.to_string(),
                    }
                }
                (_, reason) => SendError::MetadataTimeout {
                    topic: topic.to_string(),
                    waited_ms,
                    reason: reason.unwrap_or_else(|| "no metadata answer yet".into()),
                },
            });
        }
    }
}

/// Errors under which Java keeps waiting for the topic (it may be being created).
fn is_transient_topic_error(code: ErrorCode) -> bool {
    code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION || code.is_retriable()
}

/// Counts a caller waiting for buffer memory while it lives (batches then go without lingering).
/// A guard, so a `send` future dropped while it waits (a `timeout` or `select!` around it) takes
/// its count away with it.
/// On the way out it records the wait (`bufferpool-wait-*`, and `buffer-exhausted-*` when it ran
/// out) under the same lock.
struct MemoryWaiter<'a> {
    inner: &'a Inner,
    since: Instant,
    exhausted: bool,
}

impl<'a> MemoryWaiter<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.shared.lock().add_memory_waiters(1);
        MemoryWaiter {
            inner,
            since: Instant::now(),
            exhausted: false,
        }
    }
}

impl Drop for MemoryWaiter<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut st = self.inner.shared.lock();
        st.add_memory_waiters(-1);
        st.pool_metrics.record_wait(
            now.saturating_duration_since(self.since),
            self.exhausted,
            now,
        );
    }
}

/// Appends the record, waiting for buffer memory (≤ `max.block.ms`) when the pool is empty.
#[allow(clippy::too_many_arguments)]
async fn append(
    inner: &Inner,
    topic: &str,
    topic_info: &TopicInfo,
    choice: PartitionChoice,
    rec: &RecordRef<'_>,
    mut callback: Option<Callback>,
    now: Instant,
    deadline: Instant,
    wait_for_memory: bool,
) -> Result<DeliveryFuture, SendError> {
    // Fast path: memory is there (no waiter registration, no extra clock read).
    let needed = match try_append(inner, topic, topic_info, choice, rec, &mut callback, now) {
        Ok(f) => return Ok(f),
        Err(Ok(needed)) => needed,
        Err(Err(e)) => return Err(e),
    };
    if !wait_for_memory {
        let now = Instant::now();
        inner
            .shared
            .lock()
            .pool_metrics
            .record_wait(Duration::ZERO, true, now);
        return Err(SendError::BufferFull {
            size: needed,
            total: inner.config.buffer_memory,
        });
    }
    let mut waiting = MemoryWaiter::new(inner);
    // Drain without lingering so memory comes back sooner.
    inner.wake_driver.notify_one();
    let wait_started = Instant::now();
    loop {
        let notified = inner.memory_freed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = Instant::now();
        match try_append(inner, topic, topic_info, choice, rec, &mut callback, now) {
            Ok(f) => return Ok(f),
            Err(Err(e)) => return Err(e),
            Err(Ok(needed)) => {
                let timed_out = now >= deadline
                    || tokio::time::timeout(deadline - now, notified)
                        .await
                        .is_err();
                if timed_out {
                    waiting.exhausted = true;
                    return Err(SendError::BufferExhausted {
                        size: needed,
                        waited_ms: wait_started.elapsed().as_millis() as u64,
                        total: inner.config.buffer_memory,
                    });
                }
            }
        }
    }
}

/// The send fast path: one lock for the topic lookup, the built-in partitioner and the append.
/// `None`: take the slow path (topic unknown, or no memory now); `Some`: the send's result.
///
/// The monotonic clock is read only when the record opens a new batch (its linger starts then);
/// that is also when the topic is marked as used for `metadata.max.idle.ms` — often enough,
/// since every record sits in a batch created at most `delivery.timeout.ms` earlier.
fn fast_append(
    inner: &Inner,
    shared: &Shared,
    topic: &str,
    explicit: Option<i32>,
    rec: &RecordRef<'_>,
    callback: &mut Option<Callback>,
) -> Option<Result<DeliveryFuture, SendError>> {
    let r = shared.lock().fast_append(
        topic,
        explicit,
        inner.config.partitioner_ignore_keys,
        rec,
        callback,
        Instant::now,
    )?;
    match r {
        Ok(a) => Some(Ok(appended(inner, rec, a))),
        Err(AppendError::NoMemory { .. }) => None,
        Err(e) => Some(Err(append_error(inner, topic, e))),
    }
}

/// The future for an appended record; wakes the driver when a batch was created or filled.
fn appended(inner: &Inner, rec: &RecordRef<'_>, a: crate::accumulator::Appended) -> DeliveryFuture {
    if a.new_batch || a.batch_full {
        inner.wake_driver.notify_one();
    }
    let info = RecordInfo {
        timestamp: rec.timestamp,
        key_size: rec.key.map_or(-1, |k| k.len() as i32),
        value_size: rec.value.map_or(-1, |v| v.len() as i32),
    };
    DeliveryFuture::new(a.result, a.index, info)
}

/// A final append failure as the caller sees it.
fn append_error(inner: &Inner, topic: &str, e: AppendError) -> SendError {
    match e {
        AppendError::Closed => SendError::Closed,
        AppendError::TooLarge { size } => SendError::RecordTooLarge {
            size,
            limit: inner.config.buffer_memory,
            limit_key: "buffer.memory",
        },
        // Callers wait for memory before getting here; should one not, it's a full buffer.
        AppendError::NoMemory { needed } => SendError::BufferFull {
            size: needed,
            total: inner.config.buffer_memory,
        },
        AppendError::NoMetadata => SendError::UnknownTopic {
            topic: topic.to_string(),
        },
        AppendError::InvalidPartition {
            partition,
            partitions,
        } => SendError::InvalidPartition {
            topic: topic.to_string(),
            partition,
            partitions,
        },
        AppendError::Transaction(e) => SendError::Transaction(e),
    }
}

/// One append attempt under the lock. `Err(Ok(needed))`: no memory for a new batch of `needed`
/// bytes; `Err(Err(e))`: a final error. The callback is consumed only on success.
#[allow(clippy::too_many_arguments)]
fn try_append(
    inner: &Inner,
    topic: &str,
    topic_info: &TopicInfo,
    choice: PartitionChoice,
    rec: &RecordRef<'_>,
    callback: &mut Option<Callback>,
    now: Instant,
) -> Result<DeliveryFuture, Result<usize, SendError>> {
    let mut guard = inner.shared.lock();
    let st = &mut *guard;
    if let Some(txn) = &st.txn {
        if let Err(e) = txn.check_send() {
            return Err(Err(SendError::Transaction(e)));
        }
    }
    let r = st.acc.append(
        topic,
        Some(topic_info),
        choice,
        rec,
        callback,
        now,
        &mut st.rng,
    );
    if let (Ok(a), Some(txn)) = (&r, &mut st.txn) {
        txn.note_appended(topic, a.partition, a.new_batch);
    }
    drop(guard);
    match r {
        Ok(a) => Ok(appended(inner, rec, a)),
        Err(AppendError::NoMemory { needed }) => Err(Ok(needed)),
        Err(e) => Err(Err(append_error(inner, topic, e))),
    }
}

async fn flush(inner: &Inner) {
    let started = Instant::now();
    flush_until_done(inner).await;
    crate::metrics::ApiTimes::add(&inner.shared.view.api_times.flush, started);
}

async fn flush_until_done(inner: &Inner) {
    let mark = inner.shared.lock().acc.begin_flush();
    inner.wake_driver.notify_one();
    loop {
        let notified = inner.progress.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = inner.shared.lock();
            if st.acc.flush_done(mark) || st.driver_exited {
                return;
            }
        }
        notified.await;
    }
}

async fn close(inner: &Inner, timeout: Duration) {
    begin_close(inner);
    let deadline = Instant::now() + timeout;
    loop {
        let notified = inner.progress.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if inner.shared.lock().driver_exited {
            return;
        }
        let now = Instant::now();
        if now >= deadline
            || tokio::time::timeout(deadline - now, notified)
                .await
                .is_err()
        {
            // Out of time: fail what is left (Java's forced close).
            inner.shared.lock().abort = true;
            inner.wake_driver.notify_one();
            loop {
                let notified = inner.progress.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if inner.shared.lock().driver_exited {
                    return;
                }
                notified.await;
            }
        }
    }
}

/// Completes batches (callbacks, interceptors, futures) and wakes whoever waits for memory or
/// progress. Called without the core lock held: callbacks are user code.
pub(crate) fn run_completions(inner: &Inner, completions: Vec<crate::sender::Completion>) {
    if completions.is_empty() {
        return;
    }
    let observer = inner.observer.as_deref();
    for c in completions {
        c.batch.complete(c.result, observer);
    }
    inner.memory_freed.notify_waiters();
    inner.progress.notify_waiters();
}

/// [`run_completions`] that keeps the vector and leaves the completed batches in `done`, for
/// [`RecordAccumulator::recycle`](crate::accumulator::RecordAccumulator::recycle).
pub(crate) fn run_completions_into(
    inner: &Inner,
    completions: &mut Vec<crate::sender::Completion>,
    done: &mut Vec<crate::accumulator::ProducerBatch>,
) {
    if completions.is_empty() {
        return;
    }
    let observer = inner.observer.as_deref();
    for c in completions.drain(..) {
        let mut batch = c.batch;
        batch.complete_in_place(c.result, observer);
        done.push(batch);
    }
    inner.memory_freed.notify_waiters();
    inner.progress.notify_waiters();
}

#[cfg(test)]
mod clock_tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn now_ms_is_the_wall_clock_in_milliseconds() {
        let std_ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        };
        let before = std_ms(SystemTime::now());
        let ours = super::now_ms();
        let after = std_ms(SystemTime::now());
        assert!(
            before <= ours && ours <= after,
            "{before} <= {ours} <= {after}"
        );
    }
}
