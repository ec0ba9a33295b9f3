//! Benchmark support for kproducer: an in-process Kafka [`AckSink`], the clients under test
//! ([`client::run_kproducer`], [`client::run_rdkafka`], and as programs of their own Java's
//! [`peers::run_java`] and franz-go's [`peers::run_franz`]) driven by one [`client::Workload`],
//! and [`usage::self_usage`] for CPU time and peak memory. [`stall`] measures the memory a
//! client holds while blocked on a broker that never answers (a stalled [`AckSink`]). A secured
//! sink ([`AckSink::start_secured`]) serves TLS and/or SASL/SCRAM-SHA-256 ([`secure`]); clients
//! reach it as a [`Security`] says.
//!
//! The `kproducer-bench` binary runs every workload through every client, each in its own
//! subprocess, against the in-process cluster and the ack sink; `alloc-count` counts heap allocations per record;
//! `txn` compares transactional with non-transactional throughput against Apache Kafka ([`txn`]).
//! The binaries share their command-line plumbing ([`cli`]) and measure a client run the same
//! way ([`client::Meter`]).
#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod payload;
pub mod peers;
pub mod secure;
pub mod sink;
pub mod stall;
pub mod txn;
pub mod usage;

pub use secure::Security;
pub use sink::{AckSink, SinkSecurity, StallMode};
