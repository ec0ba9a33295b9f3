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
// TEMPORARY stubs until the wire branch is merged.
impl ErrorCode {
    /// Stub.
    pub fn from_i16(code: i16) -> Option<ErrorCode> { (code != 0).then_some(ErrorCode(code)) }
}
/// Stub.
pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
/// Stub.
pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
/// Stub.
pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
/// Stub.
pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(10);
