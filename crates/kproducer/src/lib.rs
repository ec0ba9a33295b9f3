//! # kproducer
//!
//! A pure-Rust Apache Kafka producer that follows Java's `KafkaProducer`: an asynchronous
//! [`send`](producer::Producer::send) that passes interceptors, serializers and the partitioner,
//! appends to a [`RecordAccumulator`](accumulator::RecordAccumulator) bounded by `buffer.memory`,
//! and a background sender that drains ready batches per leader broker.
//!
//! The decision-making modules (`accumulator`, `sender`, `metadata`, `partitioner`, `config`,
//! `protocol`) do no I/O and read no clock: time is always an argument. `network` and
//! `producer` are the thin tokio layer that moves bytes.
#![warn(missing_docs)]

pub mod accumulator;
pub mod compression;
pub mod config;
pub mod error;
pub mod idempotence;
pub mod interceptor;
pub mod metadata;
pub mod network;
pub mod partitioner;
pub mod producer;
pub mod protocol;
pub mod record;
pub mod sender;
pub mod serializer;

pub use config::{Acks, CompressionType, ProducerConfig};
pub use error::{ConfigError, KafkaError, ProduceError, SendError};
pub use producer::{BlockingProducer, DeliveryFuture, Producer, ProducerBuilder, Rejected};
pub use record::{Header, IntoTopic, ProducerRecord, RecordMetadata};
