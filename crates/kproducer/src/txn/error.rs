//! The transactional API's errors, in Kafka 4.x's categories (KIP-1050).

use crate::protocol::errors::ErrorCode;

/// Where a transactional producer stands (Java's `TransactionManager.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// `init_transactions` not called (or not finished) yet.
    Uninitialized,
    /// `init_transactions` is under way.
    Initializing,
    /// Between transactions: `begin_transaction` may be called.
    Ready,
    /// A transaction is open: records may be sent.
    InTransaction,
    /// `commit_transaction` is under way.
    CommittingTransaction,
    /// `abort_transaction` is under way.
    AbortingTransaction,
    /// The transaction failed: only `abort_transaction` helps.
    AbortableError,
    /// The producer can't go on transactionally: close it.
    FatalError,
}

impl std::fmt::Display for TransactionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Java's names, as its messages print them.
        f.write_str(match self {
            TransactionState::Uninitialized => "UNINITIALIZED",
            TransactionState::Initializing => "INITIALIZING",
            TransactionState::Ready => "READY",
            TransactionState::InTransaction => "IN_TRANSACTION",
            TransactionState::CommittingTransaction => "COMMITTING_TRANSACTION",
            TransactionState::AbortingTransaction => "ABORTING_TRANSACTION",
            TransactionState::AbortableError => "ABORTABLE_ERROR",
            TransactionState::FatalError => "FATAL_ERROR",
        })
    }
}

/// What the application should do about a [`TransactionError`] (KIP-1050's categories, plus
/// the misuse Java reports with `IllegalStateException`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionErrorKind {
    /// Call the same method again (e.g. it timed out: the operation goes on in the background
    /// and the next call waits for the same result).
    Retriable,
    /// The transaction can't commit: call `abort_transaction`, then start a new one.
    Abortable,
    /// This producer can't continue, but the transactional id can: close it and create a new
    /// producer, which calls `init_transactions` (and fences nothing of value).
    ApplicationRecoverable,
    /// The producer can't continue (fenced by a newer instance, not authorized, ...): close it.
    Fatal,
    /// The API was called out of order (commit without begin, send before `init_transactions`):
    /// a bug in the calling code; the producer's state is unchanged.
    InvalidState,
}

/// An error from a transactional call, or a send refused by the transaction's state.
///
/// ```
/// use kproducer::txn::{TransactionError, TransactionErrorKind, TransactionState};
/// let e = TransactionError::InvalidState {
///     operation: "commitTransaction",
///     state: TransactionState::Ready,
/// };
/// assert_eq!(e.kind(), TransactionErrorKind::InvalidState);
/// assert!(e.to_string().contains("READY"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// A transactional method on a producer without `transactional.id`.
    #[error("IllegalStateException: transactional method invoked on a non-transactional producer (set transactional.id)")]
    NotTransactional,
    /// The call is not allowed in the current state.
    #[error("IllegalStateException: cannot call {operation} in state {state}")]
    InvalidState {
        /// Java's name of the call (`beginTransaction`, `send`, ...).
        operation: &'static str,
        /// The state it was called in.
        state: TransactionState,
    },
    /// An earlier call timed out and is still under way: call it again.
    #[error("IllegalStateException: cannot attempt operation `{operation}` because the previous call to `{pending}` timed out and must be retried")]
    PendingOperation {
        /// The call refused.
        operation: &'static str,
        /// The call that must be retried first.
        pending: &'static str,
    },
    /// The call did not finish within `max.block.ms`; it goes on: call it again to wait for it.
    #[error("TimeoutException: {operation} did not complete within {timeout_ms} ms (max.block.ms); call it again to keep waiting")]
    Timeout {
        /// The call.
        operation: &'static str,
        /// How long it waited.
        timeout_ms: u64,
    },
    /// A newer producer with the same `transactional.id` took over.
    #[error("ProducerFencedException: producer with transactionalId '{transactional_id}' has been fenced by another producer with the same transactionalId; close this producer")]
    Fenced {
        /// The transactional id.
        transactional_id: String,
    },
    /// The transaction failed and must be aborted (a record was not delivered, the coordinator
    /// said TRANSACTION_ABORTABLE, the group refused the offsets, ...).
    #[error("TransactionAbortableException: {reason}; abort the transaction")]
    Abortable {
        /// What failed.
        reason: String,
        /// The broker's error, when one said so.
        code: Option<ErrorCode>,
    },
    /// The producer must be re-created (its producer id is no longer valid).
    #[error("{}: {reason}; close this producer and create a new one", code.map_or("KafkaException", |c| c.name()))]
    Recoverable {
        /// What failed.
        reason: String,
        /// The broker's error, when one said so.
        code: Option<ErrorCode>,
    },
    /// The producer can't go on transactionally.
    #[error("{}: {reason}; close this producer", code.map_or("KafkaException", |c| c.name()))]
    Fatal {
        /// What failed.
        reason: String,
        /// The broker's error, when one said so.
        code: Option<ErrorCode>,
    },
    /// The producer was closed.
    #[error("KafkaException: the producer is closed")]
    Closed,
}

impl TransactionError {
    /// The category: what the application should do.
    pub fn kind(&self) -> TransactionErrorKind {
        match self {
            TransactionError::NotTransactional
            | TransactionError::InvalidState { .. }
            | TransactionError::PendingOperation { .. } => TransactionErrorKind::InvalidState,
            TransactionError::Timeout { .. } => TransactionErrorKind::Retriable,
            TransactionError::Abortable { .. } => TransactionErrorKind::Abortable,
            TransactionError::Recoverable { .. } => TransactionErrorKind::ApplicationRecoverable,
            TransactionError::Fenced { .. }
            | TransactionError::Fatal { .. }
            | TransactionError::Closed => TransactionErrorKind::Fatal,
        }
    }

    /// Calling the same method again may succeed.
    pub fn is_retriable(&self) -> bool {
        self.kind() == TransactionErrorKind::Retriable
    }

    /// The transaction must be aborted; the producer goes on.
    pub fn is_abortable(&self) -> bool {
        self.kind() == TransactionErrorKind::Abortable
    }

    /// The producer must be closed.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind(),
            TransactionErrorKind::Fatal | TransactionErrorKind::ApplicationRecoverable
        )
    }

    /// The broker's error code behind it, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            TransactionError::Abortable { code, .. }
            | TransactionError::Recoverable { code, .. }
            | TransactionError::Fatal { code, .. } => *code,
            TransactionError::Fenced { .. } => Some(ErrorCode::PRODUCER_FENCED),
            _ => None,
        }
    }

    pub(crate) fn abortable_code(code: ErrorCode, what: &str) -> Self {
        TransactionError::Abortable {
            reason: format!("{what}: {} ({})", code.java_name(), code.description()),
            code: Some(code),
        }
    }

    pub(crate) fn fatal_code(code: ErrorCode, what: &str) -> Self {
        TransactionError::Fatal {
            reason: format!("{what}: {} ({})", code.java_name(), code.description()),
            code: Some(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        let fenced = TransactionError::Fenced {
            transactional_id: "t".into(),
        };
        assert!(fenced.is_fatal());
        assert!(fenced.to_string().starts_with("ProducerFencedException"));
        let ab = TransactionError::abortable_code(ErrorCode::TRANSACTION_ABORTABLE, "EndTxn");
        assert!(ab.is_abortable() && !ab.is_fatal());
        assert!(
            ab.to_string().contains("EndTxn: TRANSACTION_ABORTABLE"),
            "{ab}"
        );
        let t = TransactionError::Timeout {
            operation: "commitTransaction",
            timeout_ms: 5,
        };
        assert!(t.is_retriable());
        let f = TransactionError::fatal_code(
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            "InitProducerId",
        );
        assert!(
            f.to_string()
                .starts_with("TransactionalIdAuthorizationException"),
            "{f}"
        );
    }
}
