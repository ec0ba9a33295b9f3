//! The record batch v2 builder: records are encoded once, in place, into the batch buffer; the
//! 61-byte header and the CRC32C are back-filled when the batch closes.
//!
//! The layout is Java's `DefaultRecordBatch` / `DefaultRecord` (magic 2):
//!
//! ```text
//! baseOffset: i64 | batchLength: i32 | partitionLeaderEpoch: i32 | magic: i8 (2) | crc: u32
//! attributes: i16 | lastOffsetDelta: i32 | baseTimestamp: i64 | maxTimestamp: i64
//! producerId: i64 | producerEpoch: i16 | baseSequence: i32 | recordCount: i32 | records...
//!
//! record: length: varint | attributes: i8 | timestampDelta: varlong | offsetDelta: varint
//!         keyLen: varint (-1 null) | key | valueLen: varint (-1 null) | value
//!         headerCount: varint | (keyLen: varint | key utf8 | valueLen: varint (-1 null) | value)*
//! ```
//!
//! The CRC32C (Castagnoli) covers everything from `attributes` to the end of the batch, so the
//! producer fields can be re-stamped on a closed batch (see [`restamp`]) at the cost of one CRC.

use bytes::Bytes;

use crate::config::CompressionType;
use crate::record::Header;

use super::varint::{size_of_varint, size_of_varlong, write_varint, write_varlong};

mod decode;
#[cfg(test)]
mod tests;
mod wire;

pub use wire::WireBuf;

pub use decode::{
    decode_batches, DecodeError, DecodedBatch, DecodedRecord, MAX_DECOMPRESSED_RECORDS,
};

/// Size of the v2 batch header that precedes the records.
pub const BATCH_HEADER_LEN: usize = 61;

/// Bytes before the part the batch length counts (base offset + batch length), Java's `LOG_OVERHEAD`.
pub const LOG_OVERHEAD: usize = 12;

/// The record batch format this builder writes.
pub const MAGIC_V2: i8 = 2;

/// Most bytes a record adds beyond its key, value and headers: length varint (5) + attributes (1)
/// + timestamp delta varlong (10) + offset delta varint (5), Java's `DefaultRecord.MAX_RECORD_OVERHEAD`.
pub const MAX_RECORD_OVERHEAD: usize = 21;

/// Java's `RecordBatch.NO_TIMESTAMP`: the max timestamp of a batch whose records all predate the epoch.
pub const NO_TIMESTAMP: i64 = -1;

// Header field offsets (Java's `DefaultRecordBatch.*_OFFSET`).
pub(crate) const BASE_OFFSET_OFFSET: usize = 0;
pub(crate) const LENGTH_OFFSET: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub(crate) const MAGIC_OFFSET: usize = 16;
pub(crate) const CRC_OFFSET: usize = 17;
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_OFFSET: usize = 23;
pub(crate) const BASE_TIMESTAMP_OFFSET: usize = 27;
pub(crate) const MAX_TIMESTAMP_OFFSET: usize = 35;
pub(crate) const PRODUCER_ID_OFFSET: usize = 43;
pub(crate) const PRODUCER_EPOCH_OFFSET: usize = 51;
pub(crate) const BASE_SEQUENCE_OFFSET: usize = 53;
pub(crate) const RECORDS_COUNT_OFFSET: usize = 57;

// Attribute bits.
pub(crate) const COMPRESSION_CODEC_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_MASK: i16 = 0x08;
pub(crate) const TRANSACTIONAL_FLAG_MASK: i16 = 0x10;
pub(crate) const CONTROL_FLAG_MASK: i16 = 0x20;

/// Encoded size of a null marker (varint -1).
const NULL_VARINT_SIZE: usize = 1;

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

/// The compression codec id stored in attribute bits 0..=2.
///
/// ```
/// use kproducer::CompressionType;
/// use kproducer::internals::record_batch::codec_id;
/// assert_eq!(codec_id(CompressionType::None), 0);
/// assert_eq!(codec_id(CompressionType::Zstd), 4);
/// ```
pub const fn codec_id(compression: CompressionType) -> u8 {
    match compression {
        CompressionType::None => 0,
        CompressionType::Gzip => 1,
        CompressionType::Snappy => 2,
        CompressionType::Lz4 => 3,
        CompressionType::Zstd => 4,
    }
}

/// Builds one record batch (magic 2) in a caller-owned buffer.
///
/// Records are encoded straight into the buffer (no per-record allocation); [`close`](Self::close)
/// back-fills the header and the CRC and hands the buffer out as [`Bytes`] without copying.
///
/// ```
/// use kproducer::Header;
/// use kproducer::internals::record_batch::{decode_batches, BatchHeader, RecordBatchBuilder};
///
/// let mut batch = RecordBatchBuilder::new(Vec::with_capacity(16 * 1024), 1_700_000_000_000);
/// let headers = [Header::new("trace", &b"t1"[..])];
/// assert!(batch.has_room_for(1_700_000_000_000, Some(b"k"), Some(b"v"), &headers, 16 * 1024));
/// assert_eq!(batch.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &headers), 0);
/// assert_eq!(batch.append(1_700_000_000_005, None, Some(b"v2"), &[]), 1);
/// let bytes = batch.close(BatchHeader::PLAIN);
///
/// let decoded = decode_batches(&bytes).unwrap();
/// assert_eq!(decoded[0].records.len(), 2);
/// assert_eq!(decoded[0].records[1].timestamp, 1_700_000_000_005);
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    buf: Vec<u8>,
    base_timestamp: i64,
    max_timestamp: i64,
    record_count: i32,
}

impl RecordBatchBuilder {
    /// Starts a batch in `buf` (cleared; its capacity is reused). `base_timestamp` is the first record's timestamp.
    pub fn new(mut buf: Vec<u8>, base_timestamp: i64) -> Self {
        buf.clear();
        // The header is back-filled at close; zeros keep the bytes deterministic until then.
        buf.resize(BATCH_HEADER_LEN, 0);
        RecordBatchBuilder {
            buf,
            base_timestamp,
            max_timestamp: NO_TIMESTAMP,
            record_count: 0,
        }
    }

    /// An upper bound of the bytes one record adds to a batch (Java's `estimateSizeInBytesUpperBound`
    /// minus the batch header).
    ///
    /// Like Java's `DefaultRecord.recordSizeUpperBound`, it takes the largest possible varints for
    /// the length, the timestamp delta and the offset delta, so it holds whatever the deltas are.
    ///
    /// ```
    /// use kproducer::internals::record_batch::{RecordBatchBuilder, MAX_RECORD_OVERHEAD};
    /// // key: 1 + 3 bytes, null value: 1, no headers: 1.
    /// assert_eq!(
    ///     RecordBatchBuilder::record_size_upper_bound(Some(b"abc"), None, &[]),
    ///     MAX_RECORD_OVERHEAD + 6
    /// );
    /// ```
    pub fn record_size_upper_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        MAX_RECORD_OVERHEAD + payload_size(key, value, headers)
    }

    /// A looser upper bound than [`record_size_upper_bound`](Self::record_size_upper_bound)
    /// (every varint counted at its 5-byte maximum), computed from lengths alone: on the hot
    /// path it settles most size checks without the exact varint sizes.
    #[inline]
    pub fn record_size_quick_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let mut n =
            MAX_RECORD_OVERHEAD + 15 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        for h in headers {
            n += 10 + h.key.len() + h.value.as_ref().map_or(0, |v| v.len());
        }
        n
    }

    /// The smallest this record can be in a batch (one byte each for its length, attributes and
    /// deltas): the accumulator sizes per-record tables with it.
    pub fn record_size_lower_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        4 + payload_size(key, value, headers)
    }

    /// An upper bound of a whole batch holding only this record, header included (Java's
    /// `AbstractRecords.estimateSizeInBytesUpperBound` for magic 2): the accumulator sizes a new
    /// batch buffer as `max(batch.size, this)`.
    pub fn batch_size_upper_bound(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        BATCH_HEADER_LEN + Self::record_size_upper_bound(key, value, headers)
    }

    /// Exact bytes the record would add if appended now (Java's `DefaultRecord.sizeInBytes` with
    /// this batch's next offset delta and the record's timestamp delta).
    #[inline]
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let body = body_size(
            self.record_count,
            timestamp.wrapping_sub(self.base_timestamp),
            key,
            value,
            headers,
        );
        size_of_varint(body as i32) + body
    }

    /// Whether the record fits without the batch passing `limit` bytes (an empty batch always has room).
    ///
    /// As Java's `MemoryRecordsBuilder.hasRoomFor`: the first record is always accepted (the buffer
    /// grows), later ones only if the current size plus this record's exact size stays within `limit`.
    #[inline]
    pub fn has_room_for(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        limit: usize,
    ) -> bool {
        if self.record_count == 0 {
            return true;
        }
        self.buf.len() + self.record_size(timestamp, key, value, headers) <= limit
    }

    /// Whether a non-empty batch has reached `limit` bytes (Java's `MemoryRecordsBuilder.isFull`).
    pub fn is_full(&self, limit: usize) -> bool {
        self.record_count > 0 && self.buf.len() >= limit
    }

    /// Encodes a record at the end of the batch; returns its offset delta.
    ///
    /// The body size is computed first from the varint sizes, so the length prefix is written
    /// once and the fields follow with no intermediate buffer. The caller checks sizes before
    /// appending (`max.request.size`, [`has_room_for`](Self::has_room_for)); lengths are `i32` on the
    /// wire, so a key, value or batch of 2 GiB or more cannot be represented.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i32 {
        let offset_delta = self.record_count;
        self.append_measured(timestamp, key, value, headers);
        offset_delta
    }

    /// [`append`](Self::append), returning the record's payload size (key, value and headers,
    /// with their length varints): a batch's largest-record estimate (`record-size-*`) is
    /// `BATCH_HEADER_LEN + MAX_RECORD_OVERHEAD +` it (Java's `estimateSizeInBytesUpperBound`),
    /// computed once for both.
    #[inline]
    pub(crate) fn append_measured(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let offset_delta = self.record_count;
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let payload = payload_size(key, value, headers);
        let body = 1 + size_of_varlong(timestamp_delta) + size_of_varint(offset_delta) + payload;
        debug_assert!(body <= i32::MAX as usize, "record of {body} bytes");
        let buf = &mut self.buf;
        buf.reserve(size_of_varint(body as i32) + body);
        write_varint(buf, body as i32);
        buf.push(0); // record attributes: unused, always 0
        write_varlong(buf, timestamp_delta);
        write_varint(buf, offset_delta);
        write_nullable(buf, key);
        write_nullable(buf, value);
        write_varint(buf, headers.len() as i32);
        for header in headers {
            write_varint(buf, header.key.len() as i32);
            buf.extend_from_slice(header.key.as_bytes());
            write_nullable(buf, header.value.as_deref());
        }
        self.record_count += 1;
        // Java starts from NO_TIMESTAMP (-1) and keeps the largest, so do we.
        if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        payload
    }

    /// Records so far.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Whether no record was appended yet.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Bytes the batch takes on the wire so far, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The base timestamp given at [`new`](Self::new).
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest record timestamp so far ([`NO_TIMESTAMP`] while none is ≥ 0).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// The buffer's capacity: what the batch holds in memory.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The encoded records so far (uncompressed), without the batch header.
    pub fn records(&self) -> &[u8] {
        &self.buf[BATCH_HEADER_LEN..]
    }

    /// Bytes in the buffer (header placeholder and records).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Moves the batch so far into `buf` (a larger buffer, for one that would otherwise grow by
    /// reallocating) and returns the old buffer, emptied.
    pub fn replace_buffer(&mut self, mut buf: Vec<u8>) -> Vec<u8> {
        buf.clear();
        buf.extend_from_slice(&self.buf);
        let mut old = std::mem::replace(&mut self.buf, buf);
        old.clear();
        old
    }

    /// Gives the buffer back without closing (e.g. an aborted batch returning to the pool).
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Writes the header (CRC32C last) and hands out the wire bytes.
    ///
    /// Attributes: no compression, CreateTime, the transactional bit from `header`. Closing an
    /// empty batch (which the producer never sends) gives a 61-byte batch with 0 records and a
    /// last offset delta of 0, like Java's `DefaultRecordBatch.writeEmptyHeader`.
    pub fn close(self, header: BatchHeader) -> Bytes {
        Bytes::from(self.finish(header))
    }

    /// [`close`](Self::close) that hands out the buffer itself (the producer puts it in a
    /// pooled [`WireBuf`] shell: `Bytes::from(Vec)` would allocate a header per batch).
    pub fn finish(mut self, header: BatchHeader) -> Vec<u8> {
        self.write_header(header, 0);
        self.buf
    }

    /// Closes the batch with compressed records: the compression seam.
    ///
    /// `out` (typically a pooled buffer) is cleared, gets the 61 header bytes, then `compress`
    /// appends the compressed form of `records` to it; the header is written with `compression`'s
    /// codec in the attributes. Returns the batch and the now unused uncompressed buffer, for reuse.
    /// With [`CompressionType::None`], `compress` is not called and the batch is closed in place
    /// (the returned buffer is `out`, cleared).
    ///
    /// ```
    /// use kproducer::CompressionType;
    /// use kproducer::internals::record_batch::{BatchHeader, RecordBatchBuilder};
    /// let mut batch = RecordBatchBuilder::new(Vec::new(), 0);
    /// batch.append(0, None, Some(b"v"), &[]);
    /// let (bytes, spare) = batch
    ///     .close_compressed(BatchHeader::PLAIN, CompressionType::Gzip, Vec::new(), |records, out| {
    ///         out.extend_from_slice(records); // a real codec compresses here
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .unwrap();
    /// assert_eq!(bytes[22] & 0x07, 1); // gzip in the low attribute byte
    /// assert!(spare.is_empty());
    /// ```
    pub fn close_compressed<E>(
        self,
        header: BatchHeader,
        compression: CompressionType,
        out: Vec<u8>,
        compress: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(Bytes, Vec<u8>), E> {
        let (wire, spare) = self.finish_compressed(header, compression, out, compress)?;
        Ok((Bytes::from(wire), spare))
    }

    /// [`close_compressed`](Self::close_compressed) that hands out the batch as the buffer
    /// itself (see [`finish`](Self::finish)).
    pub fn finish_compressed<E>(
        self,
        header: BatchHeader,
        compression: CompressionType,
        mut out: Vec<u8>,
        compress: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(Vec<u8>, Vec<u8>), E> {
        out.clear();
        if compression == CompressionType::None {
            return Ok((self.finish(header), out));
        }
        out.resize(BATCH_HEADER_LEN, 0);
        compress(&self.buf[BATCH_HEADER_LEN..], &mut out)?;
        Ok(self.finish_precompressed(header, compression, out))
    }

    /// Finishes the batch with records compressed beforehand: `out` holds
    /// [`BATCH_HEADER_LEN`] placeholder bytes, then [`records`](Self::records) compressed with
    /// `compression`. Writes the header and CRC into `out` and returns it, with the builder's
    /// own buffer, emptied, as the spare. Compressing first lets a caller keep the builder (and
    /// its records) should the encoder fail.
    pub fn finish_precompressed(
        mut self,
        header: BatchHeader,
        compression: CompressionType,
        out: Vec<u8>,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut spare = std::mem::replace(&mut self.buf, out);
        self.write_header(header, codec_id(compression));
        spare.clear();
        (self.buf, spare)
    }

    /// Back-fills the header of `self.buf` (which may hold compressed records) and its CRC.
    fn write_header(&mut self, header: BatchHeader, codec: u8) {
        let mut attributes = i16::from(codec) & COMPRESSION_CODEC_MASK;
        // Timestamp type bit stays 0: CreateTime.
        if header.is_transactional {
            attributes |= TRANSACTIONAL_FLAG_MASK;
        }
        let last_offset_delta = (self.record_count - 1).max(0);
        let batch_length = (self.buf.len() - LOG_OVERHEAD) as i32;
        let b = &mut self.buf;
        put(b, BASE_OFFSET_OFFSET, &0i64.to_be_bytes());
        put(b, LENGTH_OFFSET, &batch_length.to_be_bytes());
        put(b, PARTITION_LEADER_EPOCH_OFFSET, &(-1i32).to_be_bytes());
        b[MAGIC_OFFSET] = MAGIC_V2 as u8;
        put(b, ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
        put(
            b,
            LAST_OFFSET_DELTA_OFFSET,
            &last_offset_delta.to_be_bytes(),
        );
        put(b, BASE_TIMESTAMP_OFFSET, &self.base_timestamp.to_be_bytes());
        put(b, MAX_TIMESTAMP_OFFSET, &self.max_timestamp.to_be_bytes());
        put(b, PRODUCER_ID_OFFSET, &header.producer_id.to_be_bytes());
        put(
            b,
            PRODUCER_EPOCH_OFFSET,
            &header.producer_epoch.to_be_bytes(),
        );
        put(b, BASE_SEQUENCE_OFFSET, &header.base_sequence.to_be_bytes());
        put(b, RECORDS_COUNT_OFFSET, &self.record_count.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        put(b, CRC_OFFSET, &crc.to_be_bytes());
    }
}

/// Why a closed batch could not be re-stamped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestampError {
    /// Fewer bytes than the header, or than the batch length says.
    #[error("batch of {len} bytes is too short (needs {needed})")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes the header or batch length requires.
        needed: usize,
    },
    /// Not a magic 2 batch.
    #[error("unsupported record batch magic {0}")]
    BadMagic(i8),
}

/// Rewrites the producer id, epoch and base sequence of one closed batch and recomputes its CRC
/// (Java's `MemoryRecordsBuilder.reopenAndRewriteProducerState`, done on the bytes): used when a
/// batch is retried after the producer id/epoch was bumped or sequences were reassigned.
///
/// `bytes` starts with the batch; anything after its batch length is left alone.
///
/// ```
/// use kproducer::internals::record_batch::{decode_batches, restamp, BatchHeader, RecordBatchBuilder};
/// let mut batch = RecordBatchBuilder::new(Vec::new(), 10);
/// batch.append(10, None, Some(b"v"), &[]);
/// let mut bytes = batch.close(BatchHeader::PLAIN).to_vec();
/// restamp(&mut bytes, 4000, 2, 17).unwrap();
/// let decoded = decode_batches(&bytes).unwrap(); // CRC checked
/// assert_eq!((decoded[0].producer_id, decoded[0].producer_epoch, decoded[0].base_sequence), (4000, 2, 17));
/// ```
pub fn restamp(
    bytes: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(), RestampError> {
    if bytes.len() < BATCH_HEADER_LEN {
        return Err(RestampError::TooShort {
            len: bytes.len(),
            needed: BATCH_HEADER_LEN,
        });
    }
    let magic = bytes[MAGIC_OFFSET] as i8;
    if magic != MAGIC_V2 {
        return Err(RestampError::BadMagic(magic));
    }
    let batch_length = i32::from_be_bytes([
        bytes[LENGTH_OFFSET],
        bytes[LENGTH_OFFSET + 1],
        bytes[LENGTH_OFFSET + 2],
        bytes[LENGTH_OFFSET + 3],
    ]);
    let end = usize::try_from(batch_length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .filter(|&end| end >= BATCH_HEADER_LEN && end <= bytes.len())
        .ok_or(RestampError::TooShort {
            len: bytes.len(),
            needed: (batch_length.max(0) as usize).saturating_add(LOG_OVERHEAD),
        })?;
    put(bytes, PRODUCER_ID_OFFSET, &producer_id.to_be_bytes());
    put(bytes, PRODUCER_EPOCH_OFFSET, &producer_epoch.to_be_bytes());
    put(bytes, BASE_SEQUENCE_OFFSET, &base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..end]);
    put(bytes, CRC_OFFSET, &crc.to_be_bytes());
    Ok(())
}

/// Copies `src` into `buf` at `at` (callers pass fixed header offsets within the 61 bytes).
#[inline]
fn put(buf: &mut [u8], at: usize, src: &[u8]) {
    buf[at..at + src.len()].copy_from_slice(src);
}

#[inline]
fn write_nullable(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            write_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
        None => write_varint(buf, -1),
    }
}

#[inline]
fn nullable_size(bytes: Option<&[u8]>) -> usize {
    match bytes {
        Some(b) => size_of_varint(b.len() as i32) + b.len(),
        None => NULL_VARINT_SIZE,
    }
}

/// Key, value and headers as encoded (Java's `DefaultRecord.sizeOf(keySize, valueSize, headers)`).
#[inline]
fn payload_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let mut size = nullable_size(key) + nullable_size(value) + size_of_varint(headers.len() as i32);
    for header in headers {
        size += size_of_varint(header.key.len() as i32) + header.key.len();
        size += nullable_size(header.value.as_deref());
    }
    size
}

/// The record after its length prefix: attributes, deltas, key, value, headers.
#[inline]
fn body_size(
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    1 + size_of_varlong(timestamp_delta)
        + size_of_varint(offset_delta)
        + payload_size(key, value, headers)
}
