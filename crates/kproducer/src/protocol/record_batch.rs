//! The record batch v2 builder: records are encoded once, in place, into the batch buffer; the
//! 61-byte header and the CRC32C are back-filled when the batch closes.
//! (Contract below; the implementation arrives with the wire work.)

use bytes::Bytes;

use crate::record::Header;

/// Size of the v2 batch header that precedes the records.
pub const BATCH_HEADER_LEN: usize = 61;

/// Header fields decided when the batch is closed (sequence numbers are assigned at drain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Producer id, -1 without idempotence.
    pub producer_id: i64,
    /// Producer epoch, -1 without idempotence.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 without idempotence.
    pub base_sequence: i32,
    /// Part of a transaction.
    pub is_transactional: bool,
}

impl BatchHeader {
    /// Header for a non-idempotent, non-transactional batch.
    pub const PLAIN: BatchHeader = BatchHeader {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        is_transactional: false,
    };
}

/// Builds one record batch (magic 2) in a caller-owned buffer.
#[derive(Debug)]
pub struct RecordBatchBuilder {
    buf: Vec<u8>,
}

impl RecordBatchBuilder {
    /// Starts a batch in `buf` (cleared; its capacity is reused). `base_timestamp` is the first record's timestamp.
    pub fn new(buf: Vec<u8>, base_timestamp: i64) -> Self {
        let _ = base_timestamp;
        RecordBatchBuilder { buf }
    }

    /// An upper bound of the bytes one record adds to a batch (Java's `estimateSizeInBytesUpperBound`
    /// minus the batch header).
    pub fn record_size_upper_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let _ = (key, value, headers);
        0
    }

    /// Whether the record fits without the batch passing `limit` bytes (an empty batch always has room).
    pub fn has_room_for(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        limit: usize,
    ) -> bool {
        let _ = (timestamp, key, value, headers, limit);
        false
    }

    /// Encodes a record at the end of the batch; returns its offset delta.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i32 {
        let _ = (timestamp, key, value, headers);
        0
    }

    /// Records so far.
    pub fn record_count(&self) -> i32 {
        0
    }

    /// Bytes the batch takes on the wire so far, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Writes the header (CRC32C last) and hands out the wire bytes.
    pub fn close(self, header: BatchHeader) -> Bytes {
        let _ = header;
        Bytes::from(self.buf)
    }
}
