//! Test harness for kproducer: real and mock Kafka brokers plus an independent verifier.
//!
//! Everything here is test code (the crate is `publish = false` and only a dev-dependency):
//!
//! - [`Broker`]: a private single-node broker per test, kproducer-mock's in-process cluster on a
//!   free loopback port (real protocol, Kafka's idempotence rules), stopped on drop.
//! - [`MockKafka`] / [`MockKafkaThread`]: librdkafka's multi-broker mock cluster with fault
//!   injection (errors, leader moves, broker down, latency).
//! - [`read_all`]: reads a whole topic back with librdkafka (CRCs checked), the independent
//!   judge of what a producer wrote.
//! - [`rdkafka_produce`]: librdkafka's own producer, the reference to compare against.
//! - [`FaultProxy`]: a loopback TCP proxy that cuts, stalls, delays or refuses connections.
//! - [`KafkaCluster`]: a real Apache Kafka 4.x cluster (1 or 3 KRaft nodes) from the jars
//!   `scripts/setup.sh` fetches, with kill/restart/pause; [`java_produce`] / [`java_consume`]
//!   run Java's own KafkaProducer / KafkaConsumer against it. With [`KafkaOptions::security`]
//!   it also serves TLS, mTLS and SASL listeners ([`SECURED_LISTENERS`], [`TlsFiles`]).
//! - Transactions on Apache Kafka: [`java_produce_transactional`] (Java's transactional
//!   producer, commits and aborts), [`java_consume_with`] (`read_committed` or not),
//!   [`java_committed_offsets`], [`java_transaction_coordinator`] /
//!   [`java_describe_transaction`], and the `transaction.version` feature
//!   ([`KafkaOptions::transaction_version`], [`api_versions_features`], [`java_set_features`]).
//! - KIP-714 client telemetry on Apache Kafka: [`KafkaOptions::telemetry_recorder`] records
//!   every metrics push on the brokers ([`KafkaCluster::telemetry_pushes`], decoded from OTLP
//!   into [`TelemetryPush`]), [`KafkaCluster::set_client_metrics`] manages the subscriptions,
//!   and [`java_produce_held`] runs Java's producer long enough to push.
//! - [`api_versions_probe`]: a hand-encoded ApiVersions v0 round trip over a plain `TcpStream`.
//!
//! ```
//! use std::time::Duration;
//! use kproducer_testkit::{rdkafka_produce, read_all, Broker, TestRecord};
//!
//! let broker = Broker::start()?;
//! broker.create_topic("t", 3)?;
//! let sent = vec![TestRecord::new(Some(b"k".to_vec()), Some(b"v".to_vec()))];
//! let deliveries = rdkafka_produce(&broker.bootstrap(), "t", &sent)?;
//! let read = read_all(&broker.bootstrap(), "t", Some(1), Duration::from_secs(10))?;
//! assert_eq!(read[0].offset, deliveries[0].offset);
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

mod broker;
mod features;
mod kafka;
mod kafka_interop;
mod metadata;
mod mock;
mod probe;
mod produce;
mod proxy;
mod spawn;
mod telemetry;
mod tls;
mod verify;

pub use broker::Broker;
pub use features::{api_versions_features, FinalizedFeatures, TRANSACTION_VERSION};
pub use kafka::{
    java_tool, kafka_version, sasl, skip_without_kafka, KafkaCluster, KafkaOptions,
    REQUIRE_BROKERS_ENV, SECURED_LISTENERS,
};
pub use kafka_interop::{
    java_committed_offsets, java_consume, java_consume_with, java_describe_transaction,
    java_features, java_move_leaders, java_produce, java_produce_held, java_produce_transactional,
    java_produce_with, java_set_features, java_transaction_coordinator, ConsumeOptions,
    JavaProduced, JavaTxnOptions, JavaTxnProduced, LeaderMove, TxnDescription, TxnOffsets,
    TxnOutcome,
};
pub use metadata::{partition_leaders, wait_for_topic};
pub use mock::{MockKafka, MockKafkaThread};
pub use probe::{api_versions_probe, ApiVersionsAnswer};
pub use produce::{rdkafka_produce, rdkafka_produce_with, Delivery, TestRecord};
pub use proxy::{Direction, FaultProxy, ProxyStats};
/// librdkafka's API keys and error codes, for [`MockKafka::request_errors`] without a direct
/// `rdkafka` dependency.
pub use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
pub use telemetry::{
    java_delete_client_metrics, java_set_client_metrics, ClientMetricsSubscription, DataPoint,
    MetricKind, PushedMetric, TelemetryPush, Temporality,
};
pub use tls::{
    ServerCertificate, TlsFiles, CLIENT_P12_PASSWORD, SERVER_NAMES, TRUSTSTORE_PASSWORD,
    WRONG_HOST_NAME,
};
pub use verify::{
    by_partition, read_all, read_all_with, ConsumedRecord, Isolation, ReadOptions, TimestampType,
};

/// Unique-enough suffix for names (group ids, topics) that must not collide between
/// parallel tests in one process or across processes.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
