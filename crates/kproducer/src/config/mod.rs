//! Producer configuration under Java's property names, with Java 4.x's defaults.
//!
//! Three ways in, one validated [`ProducerConfig`] out:
//! - [`ProducerConfig::from_map`] / [`ProducerConfig::from_properties_str`] / [`ProducerConfig::from_properties_file`]:
//!   Java property names and values (a Java `producer.properties` file loads unchanged);
//! - [`ProducerConfig::builder`]: a typed builder.
//!
//! Every error names the key and what is allowed.

use std::collections::BTreeMap;
use std::time::Duration;

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

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// Plain TCP (the only one implemented so far).
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

/// A validated producer configuration. Field names follow the Java keys (`linger.ms` → `linger`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: host:port pairs.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`; `producer-N` when not given.
    pub client_id: String,
    /// `acks`.
    pub acks: Acks,
    /// `enable.idempotence`.
    pub enable_idempotence: bool,
    /// `retries`.
    pub retries: i32,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size` in bytes.
    pub batch_size: usize,
    /// `buffer.memory` in bytes.
    pub buffer_memory: usize,
    /// `max.block.ms`.
    pub max_block: Duration,
    /// `max.request.size` in bytes.
    pub max_request_size: usize,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight_requests_per_connection: usize,
    /// `compression.type`.
    pub compression_type: CompressionType,
    /// `compression.gzip.level`.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`.
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms`.
    pub metadata_max_idle: Duration,
    /// `connections.max.idle.ms`.
    pub connections_max_idle: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`.
    pub socket_connection_setup_timeout_max: Duration,
    /// `partitioner.ignore.keys`.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable`.
    pub partitioner_adaptive_partitioning_enable: bool,
    /// `partitioner.availability.timeout.ms`.
    pub partitioner_availability_timeout: Duration,
    /// `transactional.id`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// `send.buffer.bytes` (-1: OS default).
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (-1: OS default).
    pub receive_buffer_bytes: i32,
    /// `security.protocol`.
    pub security_protocol: SecurityProtocol,
    /// Every key as given (Java name → value), including ones kproducer only accepts.
    pub raw: BTreeMap<String, String>,
}
