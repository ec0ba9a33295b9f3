//! The TCP server and `serve_connection`, and cross-client tests with librdkafka.

mod admin;
mod rdkafka_client;
mod rdkafka_txn;
mod server;
