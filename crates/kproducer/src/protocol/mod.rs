//! Wire glue: the record batch v2 builder (the hot path, hand-written) and Kafka's error-code
//! table. Message schemas come from the `kafka-protocol` crate.

pub mod errors;
pub mod record_batch;
pub mod varint;
