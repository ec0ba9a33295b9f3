//! An in-process Apache Kafka cluster in pure Rust, for tests and simulations.
//!
//! - [`MockCluster`] is the cluster without I/O: request frames in, [`Outcome`]s out, time
//!   passed in, randomness from a seed. Same seed and same inputs give the same outputs, byte
//!   for byte.
//! - `MockServer` (feature `tcp`, on by default) serves it over loopback TCP, one listener per
//!   broker, so that any Kafka client (kproducer, librdkafka, Java, franz-go) can connect;
//!   `serve_connection` serves any byte stream.
//!
//! It speaks the real protocol (ApiVersions, Metadata, InitProducerId, Produce, and enough of
//! ListOffsets and Fetch for a consumer to read back), validates record batches as Kafka does
//! ([`batch`] checks: CRC32C, magic, sizes, record structure, all four codecs), and enforces
//! Kafka 4.x's idempotence rules ([`producer_state`]): a retried batch still among a producer's
//! last five is acknowledged with its original offset and not written twice. [`faults`] scripts
//! error codes, latency, lost answers, cut connections and throttling; brokers go down and up and
//! leaders move on command. Written data is read back with [`MockCluster::batches`] and
//! [`MockCluster::records`].
//!
//! What it does not model (kept in memory or left out): disk, replication (replicas are always
//! in sync), controllers, retention and producer id expiration, consumer groups, transactions
//! (for now), security.

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod api;
pub mod batch;
mod cluster;
pub mod codec;
pub mod codes;
mod config;
mod error;
pub mod faults;
mod log;
pub mod producer_state;
mod rng;
#[cfg(feature = "tcp")]
mod server;
mod stats;
mod txn;
mod wire;

pub use api::SUPPORTED_APIS;
pub use batch::{RecordHeader, StoredBatch, StoredRecord};
pub use cluster::{MockCluster, Outcome};
pub use codec::Compression;
pub use config::{ClusterConfig, TimestampType, TopicConfig};
pub use error::MockError;
pub use faults::{FaultAction, FaultId, FaultRule, Faults, Schedule};
pub use producer_state::ProducerState;
pub use rng::SplitMix64;
#[cfg(feature = "tcp")]
pub use server::{serve_connection, MockServer, MAX_REQUEST_BYTES};
pub use stats::ClusterStats;
pub use txn::{TransactionInfo, TransactionState, TxnStatus};
