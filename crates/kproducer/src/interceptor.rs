//! Producer interceptors (Java's `ProducerInterceptor`, what `interceptor.classes` selects).

use crate::error::ProduceError;
use crate::record::{ProducerRecord, RecordMetadata};

/// An interceptor's own failure. It is logged and never fails the send (Java semantics).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InterceptorError(pub String);

/// Sees every record before it is serialized and every result after it completes.
pub trait ProducerInterceptor<K, V>: Send + Sync {
    /// May change the record. On `Err` the error is logged and the next interceptor sees the
    /// record as it is now.
    fn on_send(&self, record: &mut ProducerRecord<K, V>) -> Result<(), InterceptorError>;

    /// Called once per record with its metadata or error. Runs on the producer's background
    /// task: keep it quick. `metadata` carries topic and partition (offset -1) on failure.
    fn on_acknowledgement(
        &self,
        metadata: &RecordMetadata,
        error: Option<&ProduceError>,
    ) -> Result<(), InterceptorError>;
}

// TEMPORARY stub until the partitioner branch is merged.
/// Stub.
pub struct InterceptorChain<K, V>(Vec<std::sync::Arc<dyn ProducerInterceptor<K, V>>>);
impl<K, V> InterceptorChain<K, V> {
    /// Stub.
    pub fn new(v: Vec<std::sync::Arc<dyn ProducerInterceptor<K, V>>>) -> Self { InterceptorChain(v) }
    /// Stub.
    pub fn is_empty(&self) -> bool { self.0.is_empty() }
    /// Stub.
    pub fn on_send(&self, r: &mut ProducerRecord<K, V>) { for i in &self.0 { let _ = i.on_send(r); } }
    /// Stub.
    pub fn on_acknowledgement(&self, m: &RecordMetadata, e: Option<&ProduceError>) { for i in &self.0 { let _ = i.on_acknowledgement(m, e); } }
}
