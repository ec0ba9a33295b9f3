//! Errors of the cluster's control API (the Rust methods a test calls).
//!
//! Problems with a *request* received from a client are never Rust errors: they are answered
//! with the Kafka error code Kafka would use, or the connection is closed (see
//! [`Outcome`](crate::Outcome)).

use thiserror::Error;

/// An error from a control method of [`MockCluster`](crate::MockCluster).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MockError {
    /// The topic does not exist.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// The topic exists but not this partition.
    #[error("unknown partition {topic}-{partition}")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Partition index asked for.
        partition: i32,
    },
    /// `create_topic` on a name that exists.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// A topic name Kafka refuses (`Topic.validate`: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`).
    #[error("invalid topic name {0:?}")]
    InvalidTopic(String),
    /// A partition count below 1.
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    /// No broker with this node id.
    #[error("unknown broker {0}")]
    UnknownBroker(i32),
    /// The broker is down.
    #[error("broker {0} is down")]
    BrokerDown(i32),
    /// A stored batch could not be decoded (it was validated on append, so this means a codec
    /// disagreement or a bug in the mock).
    #[error("stored batch at offset {offset} does not decode: {reason}")]
    Corrupt {
        /// Base offset of the batch.
        offset: i64,
        /// What went wrong.
        reason: String,
    },
}
