//! # kproducer
//!
//! A pure-Rust Apache Kafka producer that follows Java's `KafkaProducer`: an asynchronous
//! [`send`](producer::Producer::send) that passes interceptors, serializers and the partitioner,
//! appends to a record accumulator bounded by `buffer.memory`, and a network thread that drains
//! ready batches per leader broker.
//!
//! The API: [`Producer`] (async) and [`BlockingProducer`], [`ProducerRecord`] and
//! [`RecordMetadata`], [`ProducerConfig`] (Java's keys), the errors ([`SendError`],
//! [`ProduceError`], [`KafkaError`]), and the extension traits: [`serializer::Serializer`],
//! [`partitioner::Partitioner`], [`interceptor::ProducerInterceptor`] and
//! [`transport::Transport`].
//!
//! Inside, every decision (what batch is ready, what to retry, sequence numbers, timeouts,
//! connections) is made by one sans-IO state machine that takes time as an argument; a thin tokio
//! driver on the producer's network thread moves the bytes. `docs/architecture.md` draws it.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
// No panics on input or network paths: errors are typed (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub(crate) mod accumulator;
pub(crate) mod compression;
pub mod config;
pub(crate) mod core;
pub mod error;
pub(crate) mod idempotence;
pub mod interceptor;
mod log_limit;
pub(crate) mod metadata;
pub mod metrics;
pub(crate) mod network;
pub mod partitioner;
pub mod producer;
pub(crate) mod protocol;
pub mod record;
pub mod security;
pub(crate) mod sender;
pub mod serializer;
mod shared;
pub mod telemetry;
pub mod txn;

/// The byte buffer of header values and of [`BytesSerializer`](serializer::BytesSerializer)
/// (from the `bytes` crate), so users need no direct dependency on it.
pub use bytes::Bytes;
pub use config::{Acks, CompressionType, ProducerConfig};
pub use error::{
    AuthenticationError, ConfigError, FlushError, KafkaError, ProduceError, SendError,
};
pub use idempotence::ProducerIdAndEpoch;
pub use metadata::PartitionInfo;
pub use metrics::MetricName;
pub use producer::{BlockingProducer, DeliveryFuture, Producer, ProducerBuilder, Rejected};
pub use protocol::errors::ErrorCode;
pub use record::{Header, IntoHeaderValue, IntoTopic, ProducerRecord, RecordMetadata};
pub use sender::SenderStats;

/// The repository README's Rust code, compiled by `cargo test --doc` so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// How the producer reaches brokers: [`Transport`](transport::Transport) opens a byte stream to
/// `host:port`. TCP ([`TcpTransport`](transport::TcpTransport)) is the default; give another to
/// [`ProducerBuilder::transport`] (e.g. an in-memory pipe to an in-process cluster in tests).
pub mod transport {
    #[cfg(feature = "tls")]
    pub use crate::network::tls::TlsTransport;
    pub use crate::network::transport::{Connecting, ReadHalf, TcpTransport, Transport, WriteHalf};
    pub use crate::network::NetworkError;
}

/// Not part of the API: the internals this repository's benchmarks, fuzz targets and simulation
/// tests drive directly. Anything here may change in any release.
#[doc(hidden)]
pub mod internals {
    /// The accumulator.
    pub mod accumulator {
        pub use crate::accumulator::*;
    }
    /// Codecs.
    pub mod compression {
        pub use crate::compression::*;
    }
    /// The sans-IO core.
    pub mod core {
        pub use crate::core::*;
    }
    /// Producer ids and sequences.
    pub mod idempotence {
        pub use crate::idempotence::*;
    }
    /// Metadata policy and snapshots.
    pub mod metadata {
        pub use crate::metadata::*;
    }
    /// Framing, transports, the decoders a broker reaches.
    pub mod network {
        pub use crate::network::*;
    }
    /// The record batch v2 builder and decoder.
    pub mod record_batch {
        pub use crate::protocol::record_batch::*;
    }
    /// Kafka's varints.
    pub mod varint {
        pub use crate::protocol::varint::*;
    }
    /// The sender's decisions.
    pub mod sender {
        pub use crate::sender::*;
    }
    /// The built-in partitioner's parts.
    pub mod partitioner {
        pub use crate::partitioner::builtin::{
            BuiltInPartitioner, LeaderStatus, LoadStatsCollector, NodeLatencyStats,
        };
        pub use crate::partitioner::{choose_partition, PartitionChoice};
    }
}
