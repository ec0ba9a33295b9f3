//! Kafka error codes (Java's `org.apache.kafka.common.protocol.Errors`), with a retriable flag.

use std::fmt;

/// A Kafka protocol error code. Unknown codes are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// Whether Java marks this error retriable (a `RetriableException`).
    pub fn is_retriable(self) -> bool {
        false
    }

    /// Java's exception name, e.g. `NotLeaderOrFollowerException`.
    pub fn name(self) -> &'static str {
        "UnknownServerException"
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error code {})", self.name(), self.0)
    }
}
