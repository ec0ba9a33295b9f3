//! Transactions: Java's `TransactionManager` as a sans-IO state machine.
//!
//! The `TransactionManager` lives behind the shared lock (`shared.rs`): the API
//! (`Producer::init_transactions`, `begin_transaction`, `send_offsets_to_transaction`,
//! `commit_transaction`, `abort_transaction`) changes its state and queues requests; the send path
//! asks it whether a record may be sent; the core, on the network thread, takes its requests
//! (`TransactionManager::poll_request`), sends them to the coordinator, and feeds the answers
//! back. Nothing here reads a clock or touches a socket.
//!
//! The transaction protocol follows the cluster's finalized `transaction.version` (KIP-890):
//! - **v1**: a partition joins the transaction with AddPartitionsToTxn before its first batch is
//!   sent (batches of a partition not yet added wait in the accumulator); offsets join with
//!   AddOffsetsToTxn before TxnOffsetCommit; Produce is capped at v11, EndTxn at v4.
//! - **v2** (Kafka 4.x's default): Produce v12+ adds the partition, TxnOffsetCommit v5 adds the
//!   group, and every EndTxn (v5) returns a new epoch, so each transaction runs under its own
//!   epoch and a zombie's late write is refused.

mod error;
mod manager;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::{TransactionError, TransactionErrorKind, TransactionState};
pub(crate) use manager::{Target, TransactionManager, TxnRequest, TxnResponse};

/// A consumer group's identity, for [`send_offsets_to_transaction`]: Java's
/// `ConsumerGroupMetadata`. With a generation and member id from a live consumer, the group
/// coordinator refuses offsets from a member that was fenced (zombie fencing of the input
/// side); [`ConsumerGroupMetadata::new`] skips that check (generation -1).
///
/// ```
/// use kproducer::txn::ConsumerGroupMetadata;
/// let g = ConsumerGroupMetadata::new("my-group");
/// assert_eq!(g.generation_id, -1);
/// assert_eq!(g.member_id, "");
/// ```
///
/// [`send_offsets_to_transaction`]: crate::Producer::send_offsets_to_transaction
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The consumer's generation (-1: unknown, not checked).
    pub generation_id: i32,
    /// The consumer's member id ("" : unknown).
    pub member_id: String,
    /// `group.instance.id`, for static members.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group without member information (Java's `new ConsumerGroupMetadata(groupId)`).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// An offset to commit with the transaction: the position of the *next* record to consume
/// (the last processed offset + 1), as Java's `OffsetAndMetadata`.
///
/// ```
/// use kproducer::txn::OffsetAndMetadata;
/// let o = OffsetAndMetadata::new(42);
/// assert_eq!((o.offset, o.leader_epoch, o.metadata.as_str()), (42, None, ""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the offset.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset without metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// The outcome of a transactional call, completed on the network thread and awaited by the
/// caller (Java's `TransactionalRequestResult`). A caller that times out may call again: it
/// waits for the same result.
#[derive(Debug, Default)]
pub(crate) struct TxnResult {
    slot: Mutex<Option<Result<(), TransactionError>>>,
    notify: tokio::sync::Notify,
}

impl TxnResult {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(TxnResult::default())
    }

    /// Sets the outcome (the first one wins) and wakes the waiters.
    pub(crate) fn complete(&self, result: Result<(), TransactionError>) {
        {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(result);
            }
        }
        self.notify.notify_waiters();
    }

    pub(crate) fn outcome(&self) -> Option<Result<(), TransactionError>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn is_completed(&self) -> bool {
        self.outcome().is_some()
    }

    /// Waits for the outcome, at most `timeout`.
    pub(crate) async fn wait(
        &self,
        operation: &'static str,
        timeout: Duration,
    ) -> Result<(), TransactionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.outcome() {
                return r;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return match self.outcome() {
                    Some(r) => r,
                    None => Err(TransactionError::Timeout {
                        operation,
                        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                    }),
                };
            }
        }
    }
}
