//! Key and value serializers (Java's `Serializer<T>`), with built-ins byte-identical to Java's.

use std::borrow::Cow;

use crate::record::Header;

/// A serializer failed; `send` reports it as [`SendError::Serialization`](crate::SendError::Serialization).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SerializationError(pub String);

/// Turns a `T` into bytes. Borrow when you can: byte-like types return `Cow::Borrowed`, so
/// sending them copies the bytes once, straight into the batch. `Ok(None)` is a null on the wire
/// (Java serializers may return `null`, e.g. `VoidSerializer`).
pub trait Serializer<T>: Send + Sync {
    /// Serializes `data` for a record to `topic` carrying `headers`.
    fn serialize<'a>(
        &self,
        topic: &str,
        headers: &[Header],
        data: &'a T,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError>;
}

// TEMPORARY stub until the partitioner branch is merged.
/// Stub.
pub trait DefaultSerializer: Sized + Send + Sync + 'static {
    /// Stub.
    fn default_serializer() -> std::sync::Arc<dyn Serializer<Self>>;
}
