//! Producer configuration under Java's property names, with Java 4.x's defaults.
//!
//! Three ways in, one validated [`ProducerConfig`] out:
//! - [`ProducerConfig::from_map`] / [`ProducerConfig::from_properties_str`] / [`ProducerConfig::from_properties_file`]:
//!   Java property names and values (a Java `producer.properties` file loads unchanged);
//! - [`ProducerConfig::builder`]: a typed builder.
//!
//! Every error names the key and what is allowed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::error::ConfigError;

mod builder;
pub mod keys;
pub mod properties;
mod resolve;
mod security;
#[cfg(test)]
mod tests;

pub use builder::ProducerConfigBuilder;
pub use security::{Password, SaslSettings, SslConfig, StoreType};

/// How many acknowledgements the leader must gather before answering (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: no answer; offsets are unknown (-1).
    None,
    /// `acks=1`: the leader wrote it.
    Leader,
    /// `acks=all` (or -1): all in-sync replicas wrote it.
    All,
}

impl Acks {
    /// The value of the `acks` field in a ProduceRequest.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// The Java property value: `"0"`, `"1"` or `"all"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// snappy (Kafka framing).
    Snappy,
    /// lz4 (frame format).
    Lz4,
    /// zstd.
    Zstd,
}

impl CompressionType {
    /// The Java property value (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompressionType::None => "none",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// Plain TCP.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The Java property value (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// A validated producer configuration. Built only by [`from_map`](Self::from_map), the
/// `.properties` loaders or the [`builder`](Self::builder), so every value passed validation;
/// read it with the getters, named after the Java keys (`linger.ms` → [`linger`](Self::linger)).
///
/// ```
/// use std::time::Duration;
/// use kproducer::config::{Acks, ProducerConfig};
/// let cfg = ProducerConfig::from_map([("bootstrap.servers", "a:9092"), ("linger.ms", "20")])?;
/// assert_eq!(cfg.linger(), Duration::from_millis(20));
/// assert_eq!(cfg.acks(), Acks::All);
/// assert_eq!(cfg.bootstrap_servers(), ["a:9092"]);
/// # Ok::<(), kproducer::ConfigError>(())
/// ```
///
/// A value cannot be changed behind the validator's back; build a new configuration instead:
///
/// ```compile_fail,E0616
/// let mut cfg = kproducer::ProducerConfig::from_map([("bootstrap.servers", "a:9092")]).unwrap();
/// cfg.linger = std::time::Duration::from_secs(3600 * 24 * 365);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: host:port pairs.
    pub(crate) bootstrap_servers: Vec<String>,
    /// `client.id`; `producer-N` when not given.
    pub(crate) client_id: String,
    /// `acks`.
    pub(crate) acks: Acks,
    /// `enable.idempotence` (default `true`, as Java; off when only defaulted and `acks` isn't
    /// `all` or `retries` is 0).
    pub(crate) enable_idempotence: bool,
    /// `retries`.
    pub(crate) retries: i32,
    /// `delivery.timeout.ms`.
    pub(crate) delivery_timeout: Duration,
    /// `request.timeout.ms`.
    pub(crate) request_timeout: Duration,
    /// `linger.ms`.
    pub(crate) linger: Duration,
    /// `batch.size` in bytes.
    pub(crate) batch_size: usize,
    /// `buffer.memory` in bytes.
    pub(crate) buffer_memory: usize,
    /// `max.block.ms`.
    pub(crate) max_block: Duration,
    /// `max.request.size` in bytes.
    pub(crate) max_request_size: usize,
    /// `max.in.flight.requests.per.connection`.
    pub(crate) max_in_flight_requests_per_connection: usize,
    /// `compression.type`.
    pub(crate) compression_type: CompressionType,
    /// `compression.gzip.level`.
    pub(crate) compression_gzip_level: i32,
    /// `compression.lz4.level`.
    pub(crate) compression_lz4_level: i32,
    /// `compression.zstd.level`.
    pub(crate) compression_zstd_level: i32,
    /// `retry.backoff.ms`.
    pub(crate) retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub(crate) retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub(crate) reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub(crate) reconnect_backoff_max: Duration,
    /// `metadata.max.age.ms`.
    pub(crate) metadata_max_age: Duration,
    /// `metadata.max.idle.ms`.
    pub(crate) metadata_max_idle: Duration,
    /// `metrics.sample.window.ms`.
    pub(crate) metrics_sample_window: Duration,
    /// `metrics.num.samples`.
    pub(crate) metrics_num_samples: usize,
    /// `enable.metrics.push` (KIP-714).
    pub(crate) enable_metrics_push: bool,
    /// `connections.max.idle.ms`; [`Duration::MAX`] when negative (Java: never close idle connections).
    pub(crate) connections_max_idle: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub(crate) socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`.
    pub(crate) socket_connection_setup_timeout_max: Duration,
    /// `partitioner.ignore.keys`.
    pub(crate) partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable`.
    pub(crate) partitioner_adaptive_partitioning_enable: bool,
    /// `partitioner.availability.timeout.ms`.
    pub(crate) partitioner_availability_timeout: Duration,
    /// `transactional.id`.
    pub(crate) transactional_id: Option<String>,
    /// `transaction.timeout.ms`.
    pub(crate) transaction_timeout: Duration,
    /// `send.buffer.bytes` (-1: OS default).
    pub(crate) send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (-1: OS default).
    pub(crate) receive_buffer_bytes: i32,
    /// `security.protocol`.
    pub(crate) security_protocol: SecurityProtocol,
    /// `ssl.*`.
    pub(crate) ssl: SslConfig,
    /// `sasl.mechanism`, `sasl.jaas.config`.
    pub(crate) sasl: SaslSettings,
    /// Every key as given (Java name → value), including ones kproducer only accepts.
    pub(crate) raw: Raw,
    /// What was accepted but is ignored or was adjusted, one line each (also logged with `tracing::warn!`).
    pub(crate) warnings: Vec<String>,
}

/// The keys as given; `Debug` hides the values of secret keys (Java's `PASSWORD` type).
#[derive(Clone, PartialEq, Default)]
pub(crate) struct Raw(pub(crate) BTreeMap<String, String>);

impl std::ops::Deref for Raw {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Raw {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown: &dyn std::fmt::Debug = if keys::is_secret(k) { &"[hidden]" } else { v };
                (k, shown)
            }))
            .finish()
    }
}

/// Read-only access: the values passed validation and stay as they are.
impl ProducerConfig {
    /// Java's `ProducerConfig values:` block, one `key = value` line per key, sorted; secret
    /// values (`PASSWORD` keys) print as `[hidden]`. Logged at INFO when a producer starts.
    ///
    /// ```
    /// let cfg = kproducer::ProducerConfig::from_map([
    ///     ("bootstrap.servers", "a:9092"),
    ///     ("ssl.truststore.password", "changeit"),
    /// ])?;
    /// let text = cfg.describe();
    /// assert!(text.contains("\tlinger.ms = 5\n"));
    /// assert!(text.contains("\tssl.truststore.password = [hidden]\n"));
    /// # Ok::<(), kproducer::ConfigError>(())
    /// ```
    pub fn describe(&self) -> String {
        let mut out = String::from("ProducerConfig values:\n");
        for (k, v) in self.to_properties() {
            let v = if keys::is_secret(&k) {
                "[hidden]".to_string()
            } else {
                v
            };
            out.push_str(&format!("\t{k} = {v}\n"));
        }
        out
    }

    /// The TLS settings (`ssl.*`), used when `security.protocol` is `SSL` or `SASL_SSL`.
    pub fn ssl(&self) -> &SslConfig {
        &self.ssl
    }

    /// The SASL settings, used when `security.protocol` is `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn sasl(&self) -> &SaslSettings {
        &self.sasl
    }

    /// `bootstrap.servers`: host:port pairs.
    pub fn bootstrap_servers(&self) -> &[String] {
        &self.bootstrap_servers
    }

    /// `client.id`; `producer-N` when not given.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `acks`.
    pub fn acks(&self) -> Acks {
        self.acks
    }

    /// `enable.idempotence` (default `true`, as Java; off when only defaulted and `acks` isn't
    /// `all` or `retries` is 0).
    pub fn enable_idempotence(&self) -> bool {
        self.enable_idempotence
    }

    /// `retries`.
    pub fn retries(&self) -> i32 {
        self.retries
    }

    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `linger.ms`.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// `batch.size` in bytes.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// `buffer.memory` in bytes.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// `max.block.ms`.
    pub fn max_block(&self) -> Duration {
        self.max_block
    }

    /// `max.request.size` in bytes.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight_requests_per_connection(&self) -> usize {
        self.max_in_flight_requests_per_connection
    }

    /// `compression.type`.
    pub fn compression_type(&self) -> CompressionType {
        self.compression_type
    }

    /// `compression.gzip.level`.
    pub fn compression_gzip_level(&self) -> i32 {
        self.compression_gzip_level
    }

    /// `compression.lz4.level`.
    pub fn compression_lz4_level(&self) -> i32 {
        self.compression_lz4_level
    }

    /// `compression.zstd.level`.
    pub fn compression_zstd_level(&self) -> i32 {
        self.compression_zstd_level
    }

    /// `retry.backoff.ms`.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&self) -> Duration {
        self.retry_backoff_max
    }

    /// `reconnect.backoff.ms`.
    pub fn reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }

    /// `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }

    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }

    /// `metadata.max.idle.ms`.
    pub fn metadata_max_idle(&self) -> Duration {
        self.metadata_max_idle
    }

    /// `metrics.sample.window.ms`: the window of one metrics sample.
    pub fn metrics_sample_window(&self) -> Duration {
        self.metrics_sample_window
    }

    /// `metrics.num.samples`: samples kept per rate, average or maximum.
    pub fn metrics_num_samples(&self) -> usize {
        self.metrics_num_samples
    }

    /// `enable.metrics.push` (Java's default `true`): push the producer's metrics to the cluster
    /// when a broker's client-metrics subscription asks for them (KIP-714; see
    /// [`kproducer::telemetry`](crate::telemetry)).
    pub fn enable_metrics_push(&self) -> bool {
        self.enable_metrics_push
    }

    /// `connections.max.idle.ms`; [`Duration::MAX`] when negative (Java: never close idle connections).
    pub fn connections_max_idle(&self) -> Duration {
        self.connections_max_idle
    }

    /// `socket.connection.setup.timeout.ms`.
    pub fn socket_connection_setup_timeout(&self) -> Duration {
        self.socket_connection_setup_timeout
    }

    /// `socket.connection.setup.timeout.max.ms`.
    pub fn socket_connection_setup_timeout_max(&self) -> Duration {
        self.socket_connection_setup_timeout_max
    }

    /// `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(&self) -> bool {
        self.partitioner_ignore_keys
    }

    /// `partitioner.adaptive.partitioning.enable`.
    pub fn partitioner_adaptive_partitioning_enable(&self) -> bool {
        self.partitioner_adaptive_partitioning_enable
    }

    /// `partitioner.availability.timeout.ms`.
    pub fn partitioner_availability_timeout(&self) -> Duration {
        self.partitioner_availability_timeout
    }

    /// `transactional.id`.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }

    /// `send.buffer.bytes` (-1: OS default).
    pub fn send_buffer_bytes(&self) -> i32 {
        self.send_buffer_bytes
    }

    /// `receive.buffer.bytes` (-1: OS default).
    pub fn receive_buffer_bytes(&self) -> i32 {
        self.receive_buffer_bytes
    }

    /// `security.protocol`.
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.security_protocol
    }

    /// Every key as given (Java name → value), including ones kproducer only accepts.
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.raw
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

impl ProducerConfig {
    /// Java 4.x's defaults for every typed field. Not a usable configuration on its own: `bootstrap_servers` and `client_id` are
    /// empty and nothing is validated; a base for tests and comparisons.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kproducer::config::{Acks, ProducerConfig};
    /// let d = ProducerConfig::default_values();
    /// assert_eq!(d.acks(), Acks::All);
    /// assert_eq!(d.linger(), Duration::from_millis(5));
    /// assert_eq!(d.batch_size(), 16384);
    /// ```
    pub fn default_values() -> ProducerConfig {
        match resolve::resolve(BTreeMap::new(), resolve::Mode::DefaultsOnly) {
            Ok(cfg) => cfg,
            // The key table's defaults are fixed text checked by the tests; this arm is unreachable.
            Err(e) => unreachable!("the key table's defaults do not parse: {e}"),
        }
    }

    /// Builds a validated configuration from Java property names and values. A later duplicate key
    /// wins. Values are parsed and checked as Java's `ConfigDef` does, then Java's cross-field rules
    /// apply. Keys kproducer doesn't use are kept in [`raw`](Self::raw) and reported in
    /// [`warnings`](Self::warnings).
    ///
    /// ```
    /// use kproducer::config::{Acks, ProducerConfig};
    /// let cfg = ProducerConfig::from_map([("bootstrap.servers", "localhost:9092"), ("acks", "1")]).unwrap();
    /// assert_eq!(cfg.acks(), Acks::Leader);
    /// assert!(cfg.client_id().starts_with("producer-"));
    ///
    /// let err = ProducerConfig::from_map([("bootstrap.servers", "localhost:9092"), ("acks", "2")]).unwrap_err();
    /// assert!(err.to_string().contains("acks"));
    /// ```
    pub fn from_map<I, K, V>(entries: I) -> Result<ProducerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let originals = entries
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
            .collect();
        resolve::resolve(originals, resolve::Mode::Full)
    }

    /// Parses Java `.properties` text (see [`properties`]) and builds the configuration from it.
    ///
    /// ```
    /// use kproducer::config::ProducerConfig;
    /// let cfg = ProducerConfig::from_properties_str("bootstrap.servers=a:9092\nlinger.ms: 20\n").unwrap();
    /// assert_eq!(cfg.linger().as_millis(), 20);
    /// ```
    pub fn from_properties_str(text: &str) -> Result<ProducerConfig, ConfigError> {
        let pairs = properties::parse(text).map_err(|e| ConfigError::File {
            path: "<string>".to_string(),
            reason: e.to_string(),
        })?;
        ProducerConfig::from_map(pairs)
    }

    /// Reads a Java `producer.properties` file (UTF-8, or ISO-8859-1 as Java assumes when it is not
    /// valid UTF-8) and builds the configuration from it.
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<ProducerConfig, ConfigError> {
        let path = path.as_ref();
        let file_error = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
        let pairs = properties::parse(&properties::decode(&bytes))
            .map_err(|e| file_error(e.to_string()))?;
        ProducerConfig::from_map(pairs)
    }

    /// A typed builder; [`build`](ProducerConfigBuilder::build) runs the same validation as
    /// [`from_map`](Self::from_map).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kproducer::config::{Acks, ProducerConfig};
    /// let cfg = ProducerConfig::builder()
    ///     .bootstrap_servers("a:9092,b:9092")
    ///     .acks(Acks::Leader)
    ///     .linger(Duration::from_millis(10))
    ///     .batch_size(65536)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.bootstrap_servers(), ["a:9092", "b:9092"]);
    /// assert_eq!(cfg.batch_size(), 65536);
    /// ```
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::new()
    }

    /// What was accepted but is ignored or was adjusted (unused or unknown keys, Java's post-processing
    /// notices), one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every key with its effective value, under Java names: the typed fields as they are now, other
    /// keys as given, and Java's default for the rest. Keys without a value and without a default
    /// (e.g. `transactional.id` when unset) are left out.
    ///
    /// ```
    /// use kproducer::config::ProducerConfig;
    /// let props = ProducerConfig::from_map([("bootstrap.servers", "a:9092")]).unwrap().to_properties();
    /// assert_eq!(props["linger.ms"], "5");
    /// assert_eq!(props["acks"], "all");
    /// ```
    pub fn to_properties(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = keys::KEYS
            .iter()
            .filter_map(|k| k.default.map(|d| (k.name.to_string(), d.to_string())))
            .collect();
        for (k, v) in self.raw.iter() {
            out.insert(k.clone(), v.trim().to_string());
        }
        let connections_max_idle = if self.connections_max_idle == Duration::MAX {
            "-1".to_string()
        } else {
            millis(self.connections_max_idle)
        };
        let typed = [
            ("bootstrap.servers", self.bootstrap_servers.join(",")),
            ("client.id", self.client_id.clone()),
            ("acks", self.acks.as_str().to_string()),
            ("enable.idempotence", self.enable_idempotence.to_string()),
            ("retries", self.retries.to_string()),
            ("delivery.timeout.ms", millis(self.delivery_timeout)),
            ("request.timeout.ms", millis(self.request_timeout)),
            ("linger.ms", millis(self.linger)),
            ("batch.size", self.batch_size.to_string()),
            ("buffer.memory", self.buffer_memory.to_string()),
            ("max.block.ms", millis(self.max_block)),
            ("max.request.size", self.max_request_size.to_string()),
            (
                "max.in.flight.requests.per.connection",
                self.max_in_flight_requests_per_connection.to_string(),
            ),
            (
                "compression.type",
                self.compression_type.as_str().to_string(),
            ),
            (
                "compression.gzip.level",
                self.compression_gzip_level.to_string(),
            ),
            (
                "compression.lz4.level",
                self.compression_lz4_level.to_string(),
            ),
            (
                "compression.zstd.level",
                self.compression_zstd_level.to_string(),
            ),
            ("retry.backoff.ms", millis(self.retry_backoff)),
            ("retry.backoff.max.ms", millis(self.retry_backoff_max)),
            ("reconnect.backoff.ms", millis(self.reconnect_backoff)),
            (
                "reconnect.backoff.max.ms",
                millis(self.reconnect_backoff_max),
            ),
            ("metadata.max.age.ms", millis(self.metadata_max_age)),
            ("metadata.max.idle.ms", millis(self.metadata_max_idle)),
            (
                "metrics.sample.window.ms",
                millis(self.metrics_sample_window),
            ),
            ("metrics.num.samples", self.metrics_num_samples.to_string()),
            ("enable.metrics.push", self.enable_metrics_push.to_string()),
            ("connections.max.idle.ms", connections_max_idle),
            (
                "socket.connection.setup.timeout.ms",
                millis(self.socket_connection_setup_timeout),
            ),
            (
                "socket.connection.setup.timeout.max.ms",
                millis(self.socket_connection_setup_timeout_max),
            ),
            (
                "partitioner.ignore.keys",
                self.partitioner_ignore_keys.to_string(),
            ),
            (
                "partitioner.adaptive.partitioning.enable",
                self.partitioner_adaptive_partitioning_enable.to_string(),
            ),
            (
                "partitioner.availability.timeout.ms",
                millis(self.partitioner_availability_timeout),
            ),
            ("transaction.timeout.ms", millis(self.transaction_timeout)),
            ("send.buffer.bytes", self.send_buffer_bytes.to_string()),
            (
                "receive.buffer.bytes",
                self.receive_buffer_bytes.to_string(),
            ),
            (
                "security.protocol",
                self.security_protocol.as_str().to_string(),
            ),
        ];
        for (k, v) in typed {
            out.insert(k.to_string(), v);
        }
        match &self.transactional_id {
            Some(id) => {
                out.insert("transactional.id".to_string(), id.clone());
            }
            None => {
                out.remove("transactional.id");
            }
        }
        out
    }
}
