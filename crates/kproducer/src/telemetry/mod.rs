//! KIP-714 client telemetry: the producer pushes its metrics to the cluster when the cluster
//! asks for them.
//!
//! An operator subscribes clients to metrics on the broker side (a client-metrics resource:
//! metric name prefixes, a push interval, optionally which clients), e.g.
//!
//! ```text
//! kafka-client-metrics.sh --bootstrap-server localhost:9092 --alter --name producers \
//!     --metrics org.apache.kafka.producer. --interval 60000
//! ```
//!
//! and a broker-side `ClientTelemetry` plug-in (a metrics reporter) receives the pushes. With
//! `enable.metrics.push=true` (Java's default, and ours) the producer:
//!
//! 1. asks one broker for its subscription (GetTelemetrySubscriptions) on a connection it
//!    already has, and gets a client instance id ([`Producer::client_instance_id`]);
//! 2. if the subscription asks for metrics, pushes them (PushTelemetry) every push interval (the
//!    first after 0.5..1.5 × the interval, so clients started together spread out): the metrics
//!    of [`Producer::metrics`] whose pushed name starts with one of the subscription's prefixes,
//!    named as Java's client names them (`org.apache.kafka.` + the group without `-metrics` +
//!    the name, `-` as `.`: `org.apache.kafka.producer.record.send.total`,
//!    `org.apache.kafka.producer.topic.byte.total{topic}`,
//!    `org.apache.kafka.producer.node.request.latency.avg{node_id}`), encoded as OpenTelemetry
//!    (OTLP) `MetricsData`, compressed with the broker's preferred codec; `*-total` metrics are
//!    monotonic sums (cumulative, or deltas if the broker asks), the rest gauges;
//! 3. follows the broker's answers as Java does: a new subscription at once after
//!    `UNKNOWN_SUBSCRIPTION_ID` or `UNSUPPORTED_COMPRESSION_TYPE` (the subscription changed), at
//!    the next interval after `TELEMETRY_TOO_LARGE` or `THROTTLING_QUOTA_EXCEEDED`, telemetry
//!    off after `INVALID_REQUEST`, `INVALID_RECORD` or `UNSUPPORTED_VERSION`; a broker without
//!    the API (Kafka before 3.7, the in-process cluster) is asked again after 5 minutes;
//! 4. on close, after everything is delivered, makes a last push marked terminating, so the
//!    final counts reach the broker.
//!
//! Telemetry never holds up records: its requests ride on connections the producer has anyway
//! and are one more request every push interval.
//!
//! [`Producer::client_instance_id`]: crate::Producer::client_instance_id
//! [`Producer::metrics`]: crate::Producer::metrics

pub(crate) mod client;
pub(crate) mod otlp;

pub use client::TelemetryState;

/// Why [`Producer::client_instance_id`](crate::Producer::client_instance_id) has no id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientInstanceIdError {
    /// `enable.metrics.push=false` (Java's `IllegalStateException`).
    #[error("IllegalStateException: Telemetry is not enabled. Set config `enable.metrics.push` to `true`.")]
    Disabled,
    /// No broker assigned one within the time given: the producer may not be connected yet, or
    /// the brokers don't support client telemetry (Kafka 3.7+ does).
    #[error("TimeoutException: no client instance id within {0} ms (not connected yet, or the brokers don't support KIP-714 client telemetry)")]
    Timeout(u64),
}

/// The id a broker assigns to a client for its telemetry (KIP-714): what the broker's
/// telemetry plug-in and its metrics name this producer by. Displayed as Kafka prints a `Uuid`
/// (22 characters of URL-safe base64).
///
/// ```
/// use kproducer::telemetry::ClientInstanceId;
/// let id = ClientInstanceId::from_bytes([0x12; 16]);
/// assert_eq!(id.to_string(), "EhISEhISEhISEhISEhISEg");
/// assert_eq!(id.as_bytes(), &[0x12; 16]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientInstanceId(pub(crate) [u8; 16]);

impl ClientInstanceId {
    /// The zero id a client sends before the broker assigned one.
    pub const ZERO: ClientInstanceId = ClientInstanceId([0; 16]);

    /// An id from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        ClientInstanceId(bytes)
    }

    /// Its 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for ClientInstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}
