//! [`WireBuf`]: a closed batch's bytes, shared with the connection that writes them by reference
//! count only, and taken back (buffer and shell) once nobody else holds them.

use std::sync::Arc;

/// The wire bytes of a closed record batch: the batch's own buffer in a reference-counted shell.
///
/// Cloning bumps a count (the connection's writer holds a clone while it writes). Unlike
/// `Bytes::from(Vec<u8>)`, which boxes a new shared header for every buffer whose length is not
/// its capacity, a `WireBuf`'s shell is reused: once the batch is done and the writer's clone is
/// gone, [`WireBuf::try_take`] hands the buffer back for the next batch and leaves the empty shell
/// for the next close ([`WireBuf::refill`]), so steady state allocates nothing per batch.
///
/// ```
/// use kproducer::internals::record_batch::WireBuf;
/// let mut wire = WireBuf::from_vec(vec![1, 2, 3]);
/// let writer = wire.clone();
/// assert_eq!(&writer[..], &[1, 2, 3]);
/// assert!(wire.try_take().is_none(), "still held by the writer");
/// drop(writer);
/// let buf = wire.try_take().unwrap();
/// assert_eq!(buf, [1, 2, 3]);
/// assert!(wire.is_empty());
/// // The same shell carries the next batch.
/// assert!(wire.refill(vec![4]).is_ok());
/// assert_eq!(&wire[..], &[4]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WireBuf(Arc<Vec<u8>>);

impl WireBuf {
    /// Wraps `buf` in a new shell (one allocation, the shell; the buffer is not copied).
    pub fn from_vec(buf: Vec<u8>) -> Self {
        WireBuf(Arc::new(buf))
    }

    /// Puts `buf` in this shell, if nobody else holds it; else gives `buf` back untouched.
    /// The shell's previous buffer, if any, is dropped.
    pub fn refill(&mut self, buf: Vec<u8>) -> Result<(), Vec<u8>> {
        match Arc::get_mut(&mut self.0) {
            Some(slot) => {
                *slot = buf;
                Ok(())
            }
            None => Err(buf),
        }
    }

    /// Takes the buffer out if this is the only handle (the shell stays, empty, for
    /// [`WireBuf::refill`]); `None` while a clone is alive (e.g. a writer has not written it).
    pub fn try_take(&mut self) -> Option<Vec<u8>> {
        Arc::get_mut(&mut self.0).map(std::mem::take)
    }

    /// Whether no clone of this handle is alive.
    pub fn is_unique(&mut self) -> bool {
        Arc::get_mut(&mut self.0).is_some()
    }

    /// The bytes, writable: in place if this is the only handle, else in a copy (those who
    /// hold the old bytes keep them unchanged).
    pub fn make_mut(&mut self) -> &mut Vec<u8> {
        Arc::make_mut(&mut self.0)
    }

    /// The bytes as [`bytes::Bytes`] sharing this buffer (one allocation, for kafka-protocol's
    /// request types; the send path writes the `WireBuf` itself).
    pub fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from_owner(self.clone())
    }

    /// The shell's address: equal for two handles exactly when they share a shell (tests check
    /// that shells are reused).
    pub fn shell_ptr(&self) -> *const () {
        Arc::as_ptr(&self.0).cast()
    }
}

impl std::ops::Deref for WireBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for WireBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WireBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireBuf")
            .field("len", &self.0.len())
            .field("holders", &Arc::strong_count(&self.0))
            .finish()
    }
}
