//! The sans-IO cluster driven with request frames built by kafka-protocol, answers decoded by it.

mod api_versions;
mod cluster_control;
mod common;
mod create_topics;
mod determinism;
mod faults;
mod fetch;
mod find_coordinator;
mod idempotence;
mod init_producer_id;
mod metadata;
mod produce;
mod robustness;
mod transactions;
mod validation;
