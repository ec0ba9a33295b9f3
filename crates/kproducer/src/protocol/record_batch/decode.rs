//! A strict decoder for record batches v2, compressed or not: for tests, fuzzing and inspecting
//! what the builder wrote (e.g. splitting a batch the broker found too large).
//!
//! Every length comes from the input, so none is trusted: sizes are checked against the bytes
//! actually present before anything is read or allocated, and `Vec` capacities are bounded by
//! what the remaining bytes could hold.

use bytes::Bytes;

use super::{
    ATTRIBUTES_OFFSET, BASE_SEQUENCE_OFFSET, BASE_TIMESTAMP_OFFSET, BATCH_HEADER_LEN,
    COMPRESSION_CODEC_MASK, CONTROL_FLAG_MASK, CRC_OFFSET, LAST_OFFSET_DELTA_OFFSET, LENGTH_OFFSET,
    LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V2, MAX_TIMESTAMP_OFFSET, PARTITION_LEADER_EPOCH_OFFSET,
    PRODUCER_EPOCH_OFFSET, PRODUCER_ID_OFFSET, RECORDS_COUNT_OFFSET, TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_FLAG_MASK,
};
use crate::protocol::varint::{read_varint, read_varlong, VarintError};
use crate::record::Header;

/// Smallest encoded record: length, attributes, timestamp delta, offset delta, key, value and
/// header count, one byte each.
const MIN_RECORD_LEN: usize = 7;
/// Smallest encoded header: empty key and null value.
const MIN_HEADER_LEN: usize = 2;

/// Why bytes are not a valid sequence of record batches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends before the batch header or the batch length does.
    #[error("truncated batch at byte {at}: needs {needed} bytes, {available} available")]
    Truncated {
        /// Offset of the batch in the input.
        at: usize,
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// The batch length is smaller than a header or negative.
    #[error("invalid batch length {0}")]
    BadBatchLength(i32),
    /// Not magic 2.
    #[error("unsupported record batch magic {0}")]
    BadMagic(i8),
    /// The stored CRC32C does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A compression codec id Kafka does not define (5..=7).
    #[error("unknown compression codec {0}")]
    Compressed(u8),
    /// The compressed records do not decompress.
    #[error("compressed records: {0}")]
    Decompress(#[from] crate::compression::CompressionError),
    /// The record count is negative or differs from the records present.
    #[error("batch declares {declared} records but holds {found}")]
    RecordCount {
        /// Count in the header.
        declared: i32,
        /// Records decoded before the batch ended or the count was reached.
        found: usize,
    },
    /// A varint is truncated or too long.
    #[error("record {record}: {source}")]
    Varint {
        /// Index of the record in its batch.
        record: usize,
        /// What was wrong.
        source: VarintError,
    },
    /// A record, key, value or header length is negative or runs past its container.
    #[error("record {record}: invalid length {length}")]
    BadLength {
        /// Index of the record in its batch.
        record: usize,
        /// The length read.
        length: i64,
    },
    /// The record body was not consumed exactly by its fields.
    #[error("record {record}: declared {declared} bytes, fields took {consumed}")]
    RecordSizeMismatch {
        /// Index of the record in its batch.
        record: usize,
        /// Length prefix.
        declared: usize,
        /// Bytes the fields used.
        consumed: usize,
    },
    /// A header key is null or not UTF-8.
    #[error("record {record}: invalid header key")]
    BadHeaderKey {
        /// Index of the record in its batch.
        record: usize,
    },
    /// Bytes left in the batch after its declared records.
    #[error("{0} bytes after the last record of the batch")]
    TrailingBytes(usize),
}

/// One decoded batch: every header field and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// Base offset (0 as the producer writes it).
    pub base_offset: i64,
    /// Partition leader epoch (-1 as the producer writes it).
    pub partition_leader_epoch: i32,
    /// Stored CRC32C (already verified).
    pub crc: u32,
    /// Raw attributes.
    pub attributes: i16,
    /// Offset delta of the last record.
    pub last_offset_delta: i32,
    /// Base timestamp.
    pub base_timestamp: i64,
    /// Max timestamp.
    pub max_timestamp: i64,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Base sequence.
    pub base_sequence: i32,
    /// The records, in order.
    pub records: Vec<DecodedRecord>,
}

impl DecodedBatch {
    /// Compression codec id (attribute bits 0..=2).
    pub fn compression_codec(&self) -> u8 {
        (self.attributes & COMPRESSION_CODEC_MASK) as u8
    }

    /// Whether the transactional bit is set.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG_MASK != 0
    }

    /// Whether this is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG_MASK != 0
    }

    /// Whether the timestamp type is LogAppendTime (else CreateTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_MASK != 0
    }
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Record attributes (unused by Kafka, 0).
    pub attributes: i8,
    /// Timestamp delta from the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Base timestamp + delta.
    pub timestamp: i64,
    /// Offset delta from the batch's base offset.
    pub offset_delta: i32,
    /// Key, `None` for null.
    pub key: Option<Bytes>,
    /// Value, `None` for null.
    pub value: Option<Bytes>,
    /// Headers, in order (duplicates kept).
    pub headers: Vec<Header>,
}

/// Most bytes one batch's records may decompress to (a bound against decompression bombs; a
/// producer batch is at most `max.request.size` and the broker's `message.max.bytes`).
pub const MAX_DECOMPRESSED_RECORDS: usize = 256 << 20;

/// Decodes consecutive v2 batches (any codec) filling `bytes` exactly, checking sizes, magic,
/// CRC32C, record framing and counts. Never panics and never allocates more than the input
/// could hold, whatever the input.
///
/// ```
/// use kproducer::internals::record_batch::{decode_batches, BatchHeader, DecodeError, RecordBatchBuilder};
/// let mut b = RecordBatchBuilder::new(Vec::new(), 0);
/// b.append(0, Some(b"k"), None, &[]);
/// let mut bytes = b.close(BatchHeader::PLAIN).to_vec();
/// assert_eq!(decode_batches(&bytes).unwrap()[0].records[0].key.as_deref(), Some(&b"k"[..]));
/// *bytes.last_mut().unwrap() ^= 1;
/// assert!(matches!(decode_batches(&bytes), Err(DecodeError::CrcMismatch { .. })));
/// ```
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<DecodedBatch>, DecodeError> {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let (batch, len) = decode_batch(rest, at)?;
        batches.push(batch);
        at += len;
    }
    Ok(batches)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Decodes the batch at the start of `input` (which is at offset `at` of the whole input);
/// returns it and its size.
fn decode_batch(input: &[u8], at: usize) -> Result<(DecodedBatch, usize), DecodeError> {
    if input.len() < BATCH_HEADER_LEN {
        return Err(DecodeError::Truncated {
            at,
            needed: BATCH_HEADER_LEN,
            available: input.len(),
        });
    }
    let batch_length = be_i32(input, LENGTH_OFFSET);
    let size = usize::try_from(batch_length)
        .ok()
        .map(|l| l + LOG_OVERHEAD)
        .filter(|&s| s >= BATCH_HEADER_LEN)
        .ok_or(DecodeError::BadBatchLength(batch_length))?;
    if input.len() < size {
        return Err(DecodeError::Truncated {
            at,
            needed: size,
            available: input.len(),
        });
    }
    let batch = &input[..size];
    let magic = batch[MAGIC_OFFSET] as i8;
    if magic != MAGIC_V2 {
        return Err(DecodeError::BadMagic(magic));
    }
    let stored = be_i32(batch, CRC_OFFSET) as u32;
    let computed = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if stored != computed {
        return Err(DecodeError::CrcMismatch { stored, computed });
    }
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET);
    let codec = (attributes & COMPRESSION_CODEC_MASK) as u8;
    let decompressed;
    let records_bytes = match crate::compression::codec_from_id(codec) {
        Some(crate::CompressionType::None) => &batch[BATCH_HEADER_LEN..],
        Some(c) => {
            let mut out = Vec::new();
            crate::compression::decompress(
                c,
                &batch[BATCH_HEADER_LEN..],
                &mut out,
                MAX_DECOMPRESSED_RECORDS,
            )?;
            decompressed = out;
            &decompressed[..]
        }
        None => return Err(DecodeError::Compressed(codec)),
    };
    let base_timestamp = be_i64(batch, BASE_TIMESTAMP_OFFSET);
    let declared = be_i32(batch, RECORDS_COUNT_OFFSET);
    let Ok(count) = usize::try_from(declared) else {
        return Err(DecodeError::RecordCount { declared, found: 0 });
    };
    let mut records = Vec::with_capacity(count.min(records_bytes.len() / MIN_RECORD_LEN));
    let mut cursor = records_bytes;
    for index in 0..count {
        if cursor.is_empty() {
            return Err(DecodeError::RecordCount {
                declared,
                found: index,
            });
        }
        records.push(decode_record(&mut cursor, index, base_timestamp)?);
    }
    if !cursor.is_empty() {
        return Err(DecodeError::TrailingBytes(cursor.len()));
    }
    Ok((
        DecodedBatch {
            base_offset: be_i64(batch, 0),
            partition_leader_epoch: be_i32(batch, PARTITION_LEADER_EPOCH_OFFSET),
            crc: stored,
            attributes,
            last_offset_delta: be_i32(batch, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp,
            max_timestamp: be_i64(batch, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(batch, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(batch, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(batch, BASE_SEQUENCE_OFFSET),
            records,
        },
        size,
    ))
}

fn decode_record(
    input: &mut &[u8],
    record: usize,
    base_timestamp: i64,
) -> Result<DecodedRecord, DecodeError> {
    let varint_err = |source| DecodeError::Varint { record, source };
    let length = read_varint(input).map_err(varint_err)?;
    let declared = usize::try_from(length)
        .ok()
        .filter(|&l| l <= input.len())
        .ok_or(DecodeError::BadLength {
            record,
            length: length.into(),
        })?;
    let (mut body, rest) = input.split_at(declared);
    *input = rest;

    let (&attributes, tail) = body.split_first().ok_or(DecodeError::BadLength {
        record,
        length: length.into(),
    })?;
    body = tail;
    let timestamp_delta = read_varlong(&mut body).map_err(varint_err)?;
    let offset_delta = read_varint(&mut body).map_err(varint_err)?;
    let key = read_nullable(&mut body, record)?.map(Bytes::copy_from_slice);
    let value = read_nullable(&mut body, record)?.map(Bytes::copy_from_slice);
    let header_count = read_varint(&mut body).map_err(varint_err)?;
    let header_count = usize::try_from(header_count).map_err(|_| DecodeError::BadLength {
        record,
        length: header_count.into(),
    })?;
    let mut headers = Vec::with_capacity(header_count.min(body.len() / MIN_HEADER_LEN));
    for _ in 0..header_count {
        let key = read_nullable(&mut body, record)?
            .and_then(|k| std::str::from_utf8(k).ok())
            .ok_or(DecodeError::BadHeaderKey { record })?;
        let value = read_nullable(&mut body, record)?.map(Bytes::copy_from_slice);
        headers.push(Header {
            key: key.to_owned(),
            value,
        });
    }
    if !body.is_empty() {
        return Err(DecodeError::RecordSizeMismatch {
            record,
            declared,
            consumed: declared - body.len(),
        });
    }
    Ok(DecodedRecord {
        attributes: attributes as i8,
        timestamp_delta,
        timestamp: base_timestamp.wrapping_add(timestamp_delta),
        offset_delta,
        key,
        value,
        headers,
    })
}

/// Reads a varint length then that many bytes; -1 is null.
fn read_nullable<'a>(input: &mut &'a [u8], record: usize) -> Result<Option<&'a [u8]>, DecodeError> {
    let length = read_varint(input).map_err(|source| DecodeError::Varint { record, source })?;
    if length == -1 {
        return Ok(None);
    }
    let len = usize::try_from(length)
        .ok()
        .filter(|&l| l <= input.len())
        .ok_or(DecodeError::BadLength {
            record,
            length: length.into(),
        })?;
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    Ok(Some(bytes))
}
