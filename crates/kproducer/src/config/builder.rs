//! The typed builder. Each setter writes the Java key's text, and `build` goes through
//! [`ProducerConfig::from_map`], so the builder and the properties path share one validator.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Acks, CompressionType, ProducerConfig, SecurityProtocol};
use crate::error::ConfigError;

/// Builds a [`ProducerConfig`] from typed values; see [`ProducerConfig::builder`].
///
/// Durations are written as whole milliseconds (Java's unit), so sub-millisecond parts are dropped.
#[derive(Debug, Clone, Default)]
pub struct ProducerConfigBuilder {
    props: BTreeMap<String, String>,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty => $key:literal, |$v:ident| $conv:expr; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(self, $v: $ty) -> Self {
                self.set($key, $conv)
            }
        )*
    };
}

impl ProducerConfigBuilder {
    /// An empty builder: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets any Java key to a value, exactly as a properties file would (checked by `build`).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// Validates and builds the configuration, as [`ProducerConfig::from_map`] does.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        ProducerConfig::from_map(self.props)
    }

    setters! {
        /// `bootstrap.servers`, comma-separated `host:port` pairs.
        bootstrap_servers: &str => "bootstrap.servers", |v| v;
        /// `client.id`.
        client_id: &str => "client.id", |v| v;
        /// `acks`.
        acks: Acks => "acks", |v| v.as_str();
        /// `enable.idempotence`.
        enable_idempotence: bool => "enable.idempotence", |v| v.to_string();
        /// `retries`.
        retries: i32 => "retries", |v| v.to_string();
        /// `delivery.timeout.ms`.
        delivery_timeout: Duration => "delivery.timeout.ms", |v| ms(v);
        /// `request.timeout.ms`.
        request_timeout: Duration => "request.timeout.ms", |v| ms(v);
        /// `linger.ms`.
        linger: Duration => "linger.ms", |v| ms(v);
        /// `batch.size` in bytes.
        batch_size: usize => "batch.size", |v| v.to_string();
        /// `buffer.memory` in bytes.
        buffer_memory: usize => "buffer.memory", |v| v.to_string();
        /// `max.block.ms`.
        max_block: Duration => "max.block.ms", |v| ms(v);
        /// `max.request.size` in bytes.
        max_request_size: usize => "max.request.size", |v| v.to_string();
        /// `max.in.flight.requests.per.connection`.
        max_in_flight_requests_per_connection: usize => "max.in.flight.requests.per.connection", |v| v.to_string();
        /// `compression.type`.
        compression_type: CompressionType => "compression.type", |v| v.as_str();
        /// `compression.gzip.level`.
        compression_gzip_level: i32 => "compression.gzip.level", |v| v.to_string();
        /// `compression.lz4.level`.
        compression_lz4_level: i32 => "compression.lz4.level", |v| v.to_string();
        /// `compression.zstd.level`.
        compression_zstd_level: i32 => "compression.zstd.level", |v| v.to_string();
        /// `retry.backoff.ms`.
        retry_backoff: Duration => "retry.backoff.ms", |v| ms(v);
        /// `retry.backoff.max.ms`.
        retry_backoff_max: Duration => "retry.backoff.max.ms", |v| ms(v);
        /// `reconnect.backoff.ms`.
        reconnect_backoff: Duration => "reconnect.backoff.ms", |v| ms(v);
        /// `reconnect.backoff.max.ms`.
        reconnect_backoff_max: Duration => "reconnect.backoff.max.ms", |v| ms(v);
        /// `metadata.max.age.ms`.
        metadata_max_age: Duration => "metadata.max.age.ms", |v| ms(v);
        /// `metadata.max.idle.ms`.
        metadata_max_idle: Duration => "metadata.max.idle.ms", |v| ms(v);
        /// `metrics.sample.window.ms`.
        metrics_sample_window: Duration => "metrics.sample.window.ms", |v| ms(v);
        /// `metrics.num.samples`.
        metrics_num_samples: usize => "metrics.num.samples", |v| v.to_string();
        /// `enable.metrics.push` (KIP-714 client telemetry).
        enable_metrics_push: bool => "enable.metrics.push", |v| v.to_string();
        /// `connections.max.idle.ms`; [`Duration::MAX`] means never close idle connections.
        connections_max_idle: Duration => "connections.max.idle.ms", |v| if v == Duration::MAX { "-1".to_string() } else { ms(v) };
        /// `socket.connection.setup.timeout.ms`.
        socket_connection_setup_timeout: Duration => "socket.connection.setup.timeout.ms", |v| ms(v);
        /// `socket.connection.setup.timeout.max.ms`.
        socket_connection_setup_timeout_max: Duration => "socket.connection.setup.timeout.max.ms", |v| ms(v);
        /// `partitioner.ignore.keys`.
        partitioner_ignore_keys: bool => "partitioner.ignore.keys", |v| v.to_string();
        /// `partitioner.adaptive.partitioning.enable`.
        partitioner_adaptive_partitioning_enable: bool => "partitioner.adaptive.partitioning.enable", |v| v.to_string();
        /// `partitioner.availability.timeout.ms`.
        partitioner_availability_timeout: Duration => "partitioner.availability.timeout.ms", |v| ms(v);
        /// `transactional.id` (a producer refuses it with `ConfigError::Unsupported` until
        /// transactions are implemented).
        transactional_id: &str => "transactional.id", |v| v;
        /// `transaction.timeout.ms`.
        transaction_timeout: Duration => "transaction.timeout.ms", |v| ms(v);
        /// `send.buffer.bytes` (-1: OS default).
        send_buffer_bytes: i32 => "send.buffer.bytes", |v| v.to_string();
        /// `receive.buffer.bytes` (-1: OS default).
        receive_buffer_bytes: i32 => "receive.buffer.bytes", |v| v.to_string();
        /// `security.protocol` (only `Plaintext` is implemented; others fail at `build`).
        security_protocol: SecurityProtocol => "security.protocol", |v| v.as_str();
    }
}

/// Whole milliseconds; a duration too long for Java's `long` saturates (and fails range checks where
/// the key is an `INT`).
fn ms(d: Duration) -> String {
    d.as_millis().min(i64::MAX as u128).to_string()
}
