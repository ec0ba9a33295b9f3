//! An in-process Apache Kafka cluster in pure Rust, for tests and simulations.
//!
//! - [`MockCluster`] is the cluster without I/O: request frames in, [`Outcome`]s out, time
//!   passed in, randomness from a seed. Same seed and same inputs give the same outputs, byte
//!   for byte.
//! - `MockServer` (feature `tcp`, on by default) serves it over loopback TCP, one listener per
//!   broker, so that any Kafka client (kproducer, librdkafka, Java, franz-go) can connect;
//!   `serve_connection` serves any byte stream.
//!
//! It speaks the real protocol (ApiVersions, Metadata, InitProducerId, Produce, enough of
//! ListOffsets and Fetch for a consumer to read back, CreateTopics, FindCoordinator and the
//! transaction APIs), validates
//! record batches as Kafka does ([`batch`] checks: CRC32C, magic, sizes, record structure, all
//! four codecs), and enforces Kafka 4.x's idempotence rules ([`producer_state`]): a retried
//! batch still among a producer's last five is acknowledged with its original offset and not
//! written twice. [`faults`] scripts error codes, latency, lost answers, cut connections and
//! throttling; brokers go down and up and leaders move on command. Written data is read back
//! with [`MockCluster::batches`] and [`MockCluster::records`].
//!
//! # Transactions
//!
//! A transaction coordinator as Kafka 4.x's, in memory: InitProducerId with a transactional id
//! (a stable producer id per id, the epoch bumped on each call, fencing the previous holder;
//! an ongoing transaction is aborted), AddPartitionsToTxn (v0–v5, with the batched and
//! `verify_only` forms of v4+), AddOffsetsToTxn, TxnOffsetCommit and EndTxn, with Kafka's error
//! codes (INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED or
//! INVALID_PRODUCER_EPOCH by API version, INVALID_TRANSACTION_TIMEOUT, NOT_COORDINATOR). A
//! commit or abort writes a control batch (COMMIT/ABORT marker) to every partition of the
//! transaction; each partition tracks its open transactions, its last stable offset and its
//! aborted transactions, so Fetch with `isolation_level` 1 (read_committed) stops at the last
//! stable offset and lists the aborted transactions, and ListOffsets read_committed answers the
//! last stable offset for latest. [`ClusterConfig::transaction_version`] (default 2, as Kafka
//! 4.x finalizes it, advertised in ApiVersions v3+) selects KIP-890 part 2: Produce v12+ and
//! TxnOffsetCommit v5+ add their partition or group implicitly, EndTxn v5+ bumps the epoch on
//! every commit and abort; with version 1 (what librdkafka speaks) partitions are added first
//! and a Produce to another is refused as Kafka's verification refuses it. Read back with
//! [`MockCluster::transaction`], [`MockCluster::transaction_status`],
//! [`MockCluster::committed_records`], [`MockCluster::last_stable_offset`] and
//! [`MockCluster::committed_offset`].
//!
//! Simplified: every transition completes at once (no PrepareCommit/PrepareAbort, so
//! CONCURRENT_TRANSACTIONS only answers an InitProducerId that fences an ongoing transaction,
//! which the client retries); markers are written directly, not by WriteTxnMarkers, and there
//! are no `__transaction_state` or `__consumer_offsets` topics; a transaction open longer than
//! its timeout is aborted (epoch fenced) on the first request after it, not by a 10 s timer,
//! and transactional ids never expire; the coordinator of a transactional id is a
//! deterministic broker that is up (another broker answers NOT_COORDINATOR); TxnOffsetCommit is
//! answered by any broker and its offsets are only kept for
//! [`MockCluster::committed_offset`] (no consumer groups, no OffsetFetch); the epoch fence of a
//! transaction version 2 transaction bumps the epoch as version 1 does.
//!
//! What it does not model (kept in memory or left out): disk, replication (replicas are always
//! in sync), controllers, retention and producer id expiration, consumer groups (FindCoordinator
//! answers; JoinGroup and the other group APIs are not served), security. CreateTopics places
//! every partition on every broker and refuses manual replica assignments (INVALID_REQUEST).

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
