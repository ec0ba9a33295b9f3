//! Error types. Each says what went wrong and, where it helps, what to do about it.
//!
//! - [`ConfigError`]: a configuration value is wrong; raised when the producer is built.
//! - [`SendError`]: `send` refused the record before it was buffered (nothing was sent).
//! - [`ProduceError`]: a buffered record failed to be delivered; reported through its future or callback.
//! - [`FlushError`]: a bounded flush ran out of time.
//! - [`KafkaError`]: any of these, for callers that don't care which stage failed.

use crate::protocol::errors::ErrorCode;

/// A configuration value is missing, malformed or conflicts with another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key's value is not allowed.
    #[error("invalid value {value:?} for configuration {key}: {allowed}")]
    InvalidValue {
        /// Java property name, e.g. `acks`.
        key: String,
        /// The value given.
        value: String,
        /// What is allowed, e.g. "must be one of 0, 1, all, -1".
        allowed: String,
    },
    /// A required key has no value.
    #[error("missing required configuration {key}: {hint}")]
    Missing {
        /// Java property name.
        key: String,
        /// What to set.
        hint: String,
    },
    /// Two settings contradict each other.
    #[error("conflicting configuration {key}: {reason}")]
    Conflict {
        /// The key whose value must change.
        key: String,
        /// Why, in Java's words where there are some.
        reason: String,
    },
    /// The key asks for a feature kproducer does not have yet: refused rather than ignored, so
    /// nobody believes they got it.
    #[error("configuration {key} is not supported: {reason}")]
    Unsupported {
        /// Java property name.
        key: String,
        /// What is missing and what to do instead.
        reason: String,
    },
    /// A properties file could not be read or parsed.
    #[error("cannot load properties file {path}: {reason}")]
    File {
        /// File path.
        path: String,
        /// The I/O or syntax problem (with a line number when known).
        reason: String,
    },
}

/// `send` refused the record; nothing of it was buffered or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The key or value serializer failed (Java's SerializationException).
    #[error("SerializationException: cannot serialize the {what} of a record to topic {topic}: {reason}")]
    Serialization {
        /// `"key"` or `"value"`.
        what: &'static str,
        /// Topic of the record.
        topic: String,
        /// The serializer's message.
        reason: String,
    },
    /// The serialized record is larger than `max.request.size` or `buffer.memory` (Java's RecordTooLargeException).
    #[error("RecordTooLargeException: the record is {size} bytes when serialized, which is larger than {limit_key} ({limit}); raise {limit_key} or send smaller records")]
    RecordTooLarge {
        /// Estimated serialized size.
        size: usize,
        /// The configured limit.
        limit: usize,
        /// The key that sets the limit.
        limit_key: &'static str,
    },
    /// Waited `max.block.ms` for the topic's metadata (Java's TimeoutException).
    #[error("TimeoutException: topic {topic} not present in metadata after {waited_ms} ms (max.block.ms); last problem: {reason}")]
    MetadataTimeout {
        /// Topic.
        topic: String,
        /// How long send waited.
        waited_ms: u64,
        /// The last connection or metadata error seen, e.g. a refused connection.
        reason: String,
    },
    /// Waited `max.block.ms` for buffer memory (Java's BufferExhaustedException).
    #[error("BufferExhaustedException: failed to allocate {size} bytes within the configured max blocking time {waited_ms} ms; total memory is {total} bytes (buffer.memory)")]
    BufferExhausted {
        /// Bytes requested.
        size: usize,
        /// How long send waited.
        waited_ms: u64,
        /// `buffer.memory`.
        total: usize,
    },
    /// The topic does not exist and the broker did not create it.
    #[error("UnknownTopicOrPartitionException: topic {topic} does not exist; create it first or enable auto-creation on the broker")]
    UnknownTopic {
        /// Topic.
        topic: String,
    },
    /// The record names a partition the topic doesn't have.
    #[error("partition {partition} of topic {topic} is not in [0, {partitions})")]
    InvalidPartition {
        /// Topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// Partition count.
        partitions: i32,
    },
    /// The broker answered the metadata request for this topic with an error.
    #[error("metadata for topic {topic}: {code}")]
    TopicError {
        /// Topic.
        topic: String,
        /// Broker error.
        code: ErrorCode,
    },
    /// `try_send` found no buffer space (it never waits).
    #[error("buffer full: {size} bytes not available now (buffer.memory {total}); use send() to wait up to max.block.ms")]
    BufferFull {
        /// Bytes requested.
        size: usize,
        /// `buffer.memory`.
        total: usize,
    },
    /// `close` was called; the producer takes no more records.
    #[error("IllegalStateException: cannot send after the producer is closed")]
    Closed,
    /// A broker refused this producer's credentials or certificate (Java's
    /// `AuthenticationException` family). Not retriable: fix the configuration.
    #[error(transparent)]
    Authentication(AuthenticationError),
    /// A transactional producer's state refuses the record (no transaction open, or the
    /// transaction failed): see [`TransactionError::kind`](crate::txn::TransactionError::kind).
    #[error(transparent)]
    Transaction(crate::txn::TransactionError),
}

/// Authentication with a broker failed: the TLS handshake (an untrusted, expired or mismatched
/// certificate, a TLS/plaintext mix-up) or SASL (wrong credentials, a mechanism the broker does
/// not enable). Java's `SslAuthenticationException`, `SaslAuthenticationException` and
/// `UnsupportedSaslMechanismException`. Never retried; never contains a secret.
///
/// ```
/// use kproducer::AuthenticationError;
/// let e = AuthenticationError::Sasl {
///     mechanism: "SCRAM-SHA-256".into(),
///     broker: "127.0.0.1:9092".into(),
///     reason: "Authentication failed during authentication due to invalid credentials".into(),
/// };
/// assert!(e.to_string().starts_with("SaslAuthenticationException: SCRAM-SHA-256"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticationError {
    /// The TLS handshake failed.
    #[error("SslAuthenticationException: TLS handshake with {broker} failed: {reason}")]
    Ssl {
        /// `host:port`.
        broker: String,
        /// What was wrong, e.g. `certificate expired`, with what to check.
        reason: String,
    },
    /// SASL authentication failed (the broker's message, or a bad server answer).
    #[error(
        "SaslAuthenticationException: {mechanism} authentication with {broker} failed: {reason}"
    )]
    Sasl {
        /// `sasl.mechanism`.
        mechanism: String,
        /// `host:port`.
        broker: String,
        /// The broker's error message or what the client found wrong.
        reason: String,
    },
    /// The broker does not enable the configured mechanism.
    #[error("UnsupportedSaslMechanismException: {broker} does not enable SASL mechanism {mechanism} (sasl.mechanism); it enables {enabled:?}")]
    UnsupportedMechanism {
        /// `sasl.mechanism`.
        mechanism: String,
        /// `host:port`.
        broker: String,
        /// The mechanisms the broker enables.
        enabled: Vec<String>,
    },
}

impl SendError {
    /// Whether sending the record again might succeed: true where Java's exception is a
    /// `RetriableException` (metadata and buffer timeouts, an unknown topic, a retriable
    /// broker code) and for [`BufferFull`](Self::BufferFull); false for a record that cannot
    /// be sent as it is (serialization, size, partition) or a closed producer.
    ///
    /// ```
    /// use kproducer::SendError;
    /// assert!(SendError::UnknownTopic { topic: "t".into() }.is_retriable());
    /// assert!(!SendError::Closed.is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        match self {
            // TimeoutException, BufferExhaustedException (a TimeoutException),
            // UnknownTopicOrPartitionException (an InvalidMetadataException): all retriable.
            SendError::MetadataTimeout { .. }
            | SendError::BufferExhausted { .. }
            | SendError::UnknownTopic { .. }
            | SendError::BufferFull { .. } => true,
            SendError::TopicError { code, .. } => code.is_retriable(),
            // SerializationException, RecordTooLargeException, Java's KafkaException for an
            // invalid partition, IllegalStateException after close: the same send fails again.
            SendError::Serialization { .. }
            | SendError::RecordTooLarge { .. }
            | SendError::InvalidPartition { .. }
            | SendError::Closed
            | SendError::Authentication(_) => false,
            SendError::Transaction(e) => e.is_retriable(),
        }
    }
}

/// A buffered record was not delivered. Cheap to clone: one failure is shared by all records of a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker answered with an error for this record's partition.
    #[error("{topic}-{partition}: {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Broker {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Kafka error code.
        code: ErrorCode,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// `delivery.timeout.ms` passed before the record was acknowledged (Java's TimeoutException).
    #[error("TimeoutException: expiring {records} record(s) for {topic}-{partition}: {elapsed_ms} ms has passed since batch creation (delivery.timeout.ms)")]
    DeliveryTimeout {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Records in the expired batch.
        records: usize,
        /// Time since the batch was created.
        elapsed_ms: u64,
    },
    /// The connection failed and the record could not be retried.
    #[error("NetworkException: {0}")]
    Network(String),
    /// The producer was closed (or dropped) with the record still unsent.
    #[error("the producer was closed before the record was sent")]
    Closed,
    /// The broker's answer could not be understood.
    #[error("malformed response from broker: {0}")]
    Protocol(String),
    /// Authentication with the partition's leader (or every broker) failed; not retried.
    #[error(transparent)]
    Authentication(AuthenticationError),
    /// The record's transaction was aborted (or failed) before the record was sent (Java's
    /// `TransactionAbortedException`).
    #[error("TransactionAbortedException: failing the record since {reason}")]
    TransactionAborted {
        /// Why the transaction ended.
        reason: String,
    },
}

impl ProduceError {
    /// Whether sending again might succeed (the Kafka code is retriable, or a timeout/network error).
    pub fn is_retriable(&self) -> bool {
        match self {
            ProduceError::Broker { code, .. } => code.is_retriable(),
            ProduceError::DeliveryTimeout { .. } | ProduceError::Network(_) => true,
            ProduceError::Closed
            | ProduceError::Protocol(_)
            | ProduceError::Authentication(_)
            | ProduceError::TransactionAborted { .. } => false,
        }
    }
}

/// A bounded [`flush`](crate::Producer::flush_timeout) ran out of time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// Records sent before the flush were still unacknowledged when the time was up (Java's
    /// TimeoutException). They are not failed: they go on being sent, each bounded by
    /// `delivery.timeout.ms`.
    #[error("TimeoutException: flush did not complete within {timeout_ms} ms; records sent before it are still buffered or in flight")]
    Timeout {
        /// The bound given.
        timeout_ms: u64,
    },
}

impl FlushError {
    /// Whether flushing again might succeed: a timeout is retriable, as in Java.
    ///
    /// ```
    /// let e = kproducer::FlushError::Timeout { timeout_ms: 100 };
    /// assert!(e.is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        match self {
            FlushError::Timeout { .. } => true,
        }
    }
}

/// Any kproducer error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `send` refused the record.
    #[error(transparent)]
    Send(#[from] SendError),
    /// Delivery failed.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// A bounded flush ran out of time.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// A transactional call failed.
    #[error(transparent)]
    Transaction(#[from] crate::txn::TransactionError),
    /// The async runtime is missing or could not be started.
    #[error("runtime: {0}")]
    Runtime(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_are_retriable_where_java_s_are() {
        let topic = || "t".to_string();
        let retriable = [
            SendError::MetadataTimeout {
                topic: topic(),
                waited_ms: 1,
                reason: String::new(),
            },
            SendError::BufferExhausted {
                size: 1,
                waited_ms: 1,
                total: 1,
            },
            SendError::UnknownTopic { topic: topic() },
            SendError::BufferFull { size: 1, total: 1 },
            SendError::TopicError {
                topic: topic(),
                code: ErrorCode::LEADER_NOT_AVAILABLE,
            },
        ];
        for e in retriable {
            assert!(e.is_retriable(), "{e:?}");
        }
        let fatal = [
            SendError::Serialization {
                what: "value",
                topic: topic(),
                reason: String::new(),
            },
            SendError::RecordTooLarge {
                size: 2,
                limit: 1,
                limit_key: "max.request.size",
            },
            SendError::InvalidPartition {
                topic: topic(),
                partition: 9,
                partitions: 1,
            },
            SendError::TopicError {
                topic: topic(),
                code: ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            },
            SendError::Closed,
        ];
        for e in fatal {
            assert!(!e.is_retriable(), "{e:?}");
        }
    }
}
