//! Record batch v2: parsing, validation as Kafka validates a produced batch, the stored form,
//! and decoding records back.
//!
//! The checks, their order and their error codes follow Kafka 4.x:
//! `ProduceRequest.validateRecords` (clients/.../requests/ProduceRequest.java),
//! `UnifiedLog.analyzeAndValidateRecords` (core/.../log/UnifiedLog.scala),
//! `LogValidator.validateBatch`/`validateRecord`/`validateTimestamp`
//! (storage/.../internals/log/LogValidator.java), and `DefaultRecordBatch`/`DefaultRecord`
//! (clients/.../common/record/) for the layout and record parsing.

use bytes::{Bytes, BytesMut};

use crate::codec::{self, Compression};
use crate::codes;
use crate::config::TimestampType;

/// Size and offset fields before the batch body (`Records.LOG_OVERHEAD`).
pub(crate) const LOG_OVERHEAD: usize = 12;
/// `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`: the v2 header.
pub(crate) const RECORD_BATCH_OVERHEAD: usize = 61;
/// `Records.HEADER_SIZE_UP_TO_MAGIC`.
const HEADER_SIZE_UP_TO_MAGIC: usize = 17;
/// `LegacyRecord.RECORD_OVERHEAD_V0`: the smallest size field the batch iterator accepts.
const RECORD_OVERHEAD_V0: i32 = 14;

const PARTITION_LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;

const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// `RecordBatch.NO_PRODUCER_ID`.
pub(crate) const NO_PRODUCER_ID: i64 = -1;
/// `RecordBatch.NO_SEQUENCE`.
pub(crate) const NO_SEQUENCE: i32 = -1;

/// The fixed 61-byte header of a v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub(crate) base_offset: i64,
    pub(crate) length: i32,
    pub(crate) partition_leader_epoch: i32,
    pub(crate) magic: i8,
    pub(crate) crc: u32,
    pub(crate) attributes: i16,
    pub(crate) last_offset_delta: i32,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) records_count: i32,
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

impl BatchHeader {
    /// Reads the header; `None` when fewer than 61 bytes are given.
    pub(crate) fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < RECORD_BATCH_OVERHEAD {
            return None;
        }
        Some(Self {
            base_offset: be_i64(b, 0),
            length: be_i32(b, 8),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH_AT),
            magic: b[MAGIC_AT] as i8,
            crc: be_i32(b, CRC_AT) as u32,
            attributes: be_i16(b, ATTRIBUTES_AT),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, MAX_TIMESTAMP_AT),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            records_count: be_i32(b, 57),
        })
    }

    pub(crate) fn compression(&self) -> Option<Compression> {
        Compression::from_attributes(self.attributes)
    }
    pub(crate) fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    pub(crate) fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }
    pub(crate) fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
    /// `RecordBatch.hasProducerId`: `NO_PRODUCER_ID < producerId`.
    pub(crate) fn has_producer_id(&self) -> bool {
        self.producer_id > NO_PRODUCER_ID
    }
    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }
    /// `DefaultRecordBatch.lastSequence`: wraps past `i32::MAX` to 0.
    pub(crate) fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
    /// `DefaultRecordBatch.sizeInBytes`.
    pub(crate) fn size_in_bytes(&self) -> i64 {
        LOG_OVERHEAD as i64 + i64::from(self.length)
    }
}

/// `DefaultRecordBatch.incrementSequence`, with Java's wrapping `int` arithmetic (so that a
/// hostile record's offset delta cannot overflow).
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX.wrapping_sub(increment) {
        increment
            .wrapping_sub(i32::MAX.wrapping_sub(sequence))
            .wrapping_sub(1)
    } else {
        sequence.wrapping_add(increment)
    }
}

/// `DefaultRecordBatch.decrementSequence`, with Java's wrapping `int` arithmetic.
pub(crate) fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX
            .wrapping_sub(decrement.wrapping_sub(sequence))
            .wrapping_add(1)
    } else {
        sequence.wrapping_sub(decrement)
    }
}

/// CRC32C over the attributes up to the end, as `DefaultRecordBatch.computeChecksum`.
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_AT..])
}

/// A refused partition append: the Kafka error code and what goes with it in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i16,
    /// `error_message` on the wire: Kafka sets it only for record-level errors
    /// (`RecordValidationException`) and a few translated ones.
    pub(crate) message: Option<String>,
    /// `record_errors`: (batch index, message).
    pub(crate) record_errors: Vec<(i32, String)>,
    /// Whether the answer carries the partition's log start offset (Kafka's generic failure
    /// path) or -1 (its list of "known" exceptions and pre-append refusals).
    pub(crate) with_log_start: bool,
    /// The mock's own explanation (Kafka's exception message), for diagnostics.
    pub(crate) reason: String,
}

impl Refusal {
    /// Refused before reaching the log, or by one of Kafka's "known" append exceptions:
    /// no message, log start offset -1.
    pub(crate) fn plain(code: i16, reason: impl Into<String>) -> Self {
        Self {
            code,
            message: None,
            record_errors: Vec::new(),
            with_log_start: false,
            reason: reason.into(),
        }
    }
    /// Kafka's generic append failure (`case t: Throwable` in `ReplicaManager.appendToLocalLog`):
    /// no message, the log start offset.
    pub(crate) fn generic(code: i16, reason: impl Into<String>) -> Self {
        Self {
            with_log_start: true,
            ..Self::plain(code, reason)
        }
    }
}

/// `ProduceRequest.validateRecords` for v3+ together with the batch iterator's rules
/// (`ByteBufferLogInputStream.nextBatch`): the partition's records must hold exactly one whole
/// v2 batch. Trailing bytes too short to be a batch are ignored, as Kafka's iterator ignores
/// them (and `UnifiedLog.trimInvalidBytes` drops them).
pub(crate) fn single_batch(records: Option<&Bytes>, version: i16) -> Result<Bytes, Refusal> {
    let none = || {
        Refusal::plain(
            codes::INVALID_RECORD,
            format!("Produce requests with version {version} must have at least one record batch per partition"),
        )
    };
    let Some(records) = records else {
        return Err(none());
    };
    let first = match next_batch_size(records)? {
        Some(n) => n,
        None => return Err(none()),
    };
    let magic = records[MAGIC_AT] as i8;
    if magic != 2 {
        return Err(Refusal::plain(
            codes::INVALID_RECORD,
            format!("Produce requests with version {version} are only allowed to contain record batches with magic version 2"),
        ));
    }
    // A magic-2 batch shorter than its header: `compressionType()` reads past the batch in
    // Java's buffer; here it is left to the CRC check (`isValid` is false below 61 bytes).
    if version < 7 && first >= RECORD_BATCH_OVERHEAD {
        let attributes = be_i16(records, ATTRIBUTES_AT);
        if Compression::from_attributes(attributes) == Some(Compression::Zstd) {
            return Err(Refusal::plain(
                codes::UNSUPPORTED_COMPRESSION_TYPE,
                format!("Produce requests with version {version} are not allowed to use ZStandard compression"),
            ));
        }
    }
    if next_batch_size(&records[first..])?.is_some() {
        return Err(Refusal::plain(
            codes::INVALID_RECORD,
            format!("Produce requests with version {version} are only allowed to contain exactly one record batch per partition"),
        ));
    }
    Ok(records.slice(..first))
}

/// `ByteBufferLogInputStream.nextBatchSize` + `nextBatch`: the size of the whole batch at the
/// start of `b`, `None` when no whole batch is there, CORRUPT_MESSAGE for a size or magic no
/// batch can have.
fn next_batch_size(b: &[u8]) -> Result<Option<usize>, Refusal> {
    if b.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    let size = be_i32(b, 8);
    if size < RECORD_OVERHEAD_V0 {
        return Err(Refusal::plain(
            codes::CORRUPT_MESSAGE,
            format!("Record size {size} is less than the minimum record overhead ({RECORD_OVERHEAD_V0})"),
        ));
    }
    if b.len() < HEADER_SIZE_UP_TO_MAGIC {
        return Ok(None);
    }
    let magic = b[MAGIC_AT] as i8;
    if !(0..=2).contains(&magic) {
        return Err(Refusal::plain(
            codes::CORRUPT_MESSAGE,
            format!("Invalid magic found in record: {magic}"),
        ));
    }
    let total = size as usize + LOG_OVERHEAD;
    Ok((b.len() >= total).then_some(total))
}

/// What validation needs to know about the partition and the broker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValidationContext {
    pub(crate) max_message_bytes: usize,
    pub(crate) timestamp_type: TimestampType,
    pub(crate) before_max_ms: Option<i64>,
    pub(crate) after_max_ms: Option<i64>,
    pub(crate) now_ms: i64,
    pub(crate) max_decompressed_bytes: usize,
}

/// A batch that passed validation, not yet given offsets.
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub(crate) header: BatchHeader,
    pub(crate) bytes: Bytes,
    /// The largest record timestamp (`RecordBatch.NO_TIMESTAMP` = -1 when none).
    pub(crate) max_record_timestamp: i64,
}

/// Validates one batch as `UnifiedLog.analyzeAndValidateRecords` then `LogValidator` do, in
/// their order. The batch is exactly `batch` (from [`single_batch`]).
pub(crate) fn validate(batch: Bytes, ctx: &ValidationContext) -> Result<Validated, Refusal> {
    // The batch iterator already refused sizes below 14; a magic-2 batch shorter than its
    // header is not `isValid`.
    let Some(h) = BatchHeader::parse(&batch) else {
        let crc = if batch.len() >= CRC_AT + 4 {
            be_i32(&batch, CRC_AT) as u32
        } else {
            0
        };
        return Err(Refusal::plain(
            codes::CORRUPT_MESSAGE,
            format!("Record is corrupt (stored crc = {crc}): the batch is shorter than its {RECORD_BATCH_OVERHEAD}-byte header"),
        ));
    };
    // analyzeAndValidateRecords
    if h.base_offset != 0 {
        return Err(Refusal::generic(
            codes::INVALID_RECORD,
            format!(
                "The baseOffset of the record batch in the append should be 0, but it is {}",
                h.base_offset
            ),
        ));
    }
    if h.size_in_bytes() > ctx.max_message_bytes as i64 {
        return Err(Refusal::plain(
            codes::MESSAGE_TOO_LARGE,
            format!(
                "The record batch size in the append is {} bytes which exceeds the maximum configured value of {}.",
                h.size_in_bytes(),
                ctx.max_message_bytes
            ),
        ));
    }
    if compute_crc(&batch) != h.crc {
        return Err(Refusal::plain(
            codes::CORRUPT_MESSAGE,
            format!("Record is corrupt (stored crc = {})", h.crc),
        ));
    }
    // `CompressionType.forId` throws IllegalArgumentException, which Kafka answers as
    // UNKNOWN_SERVER_ERROR.
    let Some(compression) = h.compression() else {
        return Err(Refusal::generic(
            codes::UNKNOWN_SERVER_ERROR,
            format!("Unknown compression type id: {}", h.attributes & 0x07),
        ));
    };
    // LogValidator.validateBatch (origin CLIENT, magic 2)
    let count_from_offsets = i64::from(h.last_offset_delta) + 1;
    if count_from_offsets <= 0 {
        return Err(Refusal::generic(
            codes::INVALID_RECORD,
            format!(
                "Batch has an invalid offset range: [{}, {}]",
                h.base_offset,
                h.last_offset()
            ),
        ));
    }
    if h.records_count <= 0 {
        return Err(Refusal::generic(
            codes::INVALID_RECORD,
            format!(
                "Invalid reported count for record batch: {}",
                h.records_count
            ),
        ));
    }
    if count_from_offsets != i64::from(h.records_count) {
        return Err(Refusal::generic(
            codes::INVALID_RECORD,
            format!(
                "Inconsistent batch offset range [{}, {}] and count of records {}",
                h.base_offset,
                h.last_offset(),
                h.records_count
            ),
        ));
    }
    if h.is_control() {
        return Err(Refusal::generic(
            codes::INVALID_RECORD,
            "Clients are not allowed to write control records",
        ));
    }
    if h.has_producer_id() && h.base_sequence < 0 {
        return Err(Refusal::generic(
            codes::INVALID_RECORD,
            format!(
                "Invalid sequence number {} in record batch with producerId {}",
                h.base_sequence, h.producer_id
            ),
        ));
    }
    // The records: decompressed (Kafka wraps codec failures in a KafkaException, answered as
    // UNKNOWN_SERVER_ERROR), parsed (InvalidRecordException), then validateRecord.
    let body = &batch[RECORD_BATCH_OVERHEAD..];
    let data = match compression {
        Compression::None => None,
        c => Some(
            codec::decompress(c, body, ctx.max_decompressed_bytes).map_err(|e| {
                Refusal::generic(
                    codes::UNKNOWN_SERVER_ERROR,
                    format!("Failed to decompress record stream: {e}"),
                )
            })?,
        ),
    };
    let data: &[u8] = data.as_deref().unwrap_or(body);
    let mut max_ts = -1i64;
    let mut record_errors = Vec::new();
    let mut invalid_timestamp = false;
    let batch_lat = h.timestamp_type() == TimestampType::LogAppendTime;
    parse_records(data, h.records_count, |index, rec| {
        let ts = if batch_lat {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(rec.timestamp_delta)
        };
        if let Some(msg) = timestamp_error(
            ctx,
            batch_lat,
            ts,
            h.base_offset + i64::from(rec.offset_delta),
        ) {
            record_errors.push((index as i32, msg));
            invalid_timestamp = true;
        } else if ts > max_ts {
            max_ts = ts;
        }
    })
    .map_err(|e| Refusal::generic(codes::INVALID_RECORD, e))?;
    if !record_errors.is_empty() {
        // LogValidator.processRecordErrors: a RecordValidationException, whose message Kafka
        // puts in `error_message`.
        let message = if invalid_timestamp {
            "One or more records have been rejected due to invalid timestamp".to_string()
        } else {
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                record_errors.len(),
                record_errors
                    .iter()
                    .take(3)
                    .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Refusal {
            code: if invalid_timestamp {
                codes::INVALID_TIMESTAMP
            } else {
                codes::INVALID_RECORD
            },
            reason: message.clone(),
            message: Some(message),
            record_errors,
            with_log_start: true,
        });
    }
    Ok(Validated {
        header: h,
        bytes: batch,
        max_record_timestamp: max_ts,
    })
}

/// `LogValidator.validateTimestamp`.
fn timestamp_error(
    ctx: &ValidationContext,
    batch_lat: bool,
    ts: i64,
    offset: i64,
) -> Option<String> {
    if ctx.timestamp_type == TimestampType::CreateTime && ts != -1 {
        let diff = i128::from(ts) - i128::from(ctx.now_ms);
        let before = ctx.before_max_ms.map_or(i128::from(i64::MAX), i128::from);
        let after = ctx.after_max_ms.map_or(i128::from(i64::MAX), i128::from);
        if diff > after || -diff > before {
            let lo = i128::from(ctx.now_ms) - before;
            let hi = i128::from(ctx.now_ms) + after;
            return Some(format!(
                "Timestamp {ts} of message with offset {offset} is out of range. The timestamp should be within [{lo}, {hi}]"
            ));
        }
        None
    } else if batch_lat {
        Some("Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.".to_string())
    } else {
        None
    }
}

/// One record of a batch, borrowed from the (decompressed) records section.
pub(crate) struct RawRecord<'a> {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or("Found invalid record structure")?;
        self.pos += 1;
        Ok(v)
    }
    /// `ByteUtils.readVarint`: zig-zag, at most 5 bytes.
    fn varint(&mut self) -> Result<i32, String> {
        let mut raw: u32 = 0;
        for i in 0..5 {
            let b = self.byte()?;
            raw |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
            }
        }
        Err("Found invalid record structure (varint too long)".to_string())
    }
    /// `ByteUtils.readVarlong`: zig-zag, at most 10 bytes.
    fn varlong(&mut self) -> Result<i64, String> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
        }
        Err("Found invalid record structure (varlong too long)".to_string())
    }
    /// `Utils.readBytes`: a negative size is null.
    fn sized(&mut self, size: i32) -> Result<Option<&'a [u8]>, String> {
        if size < 0 {
            return Ok(None);
        }
        let end = self.pos + size as usize;
        if end > self.b.len() {
            return Err("Found invalid record structure".to_string());
        }
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(Some(s))
    }
}

/// Parses `count` records as `DefaultRecord.readFrom` does, calling `f` with each, and checks
/// that nothing is left after them ("Incorrect declared batch size").
pub(crate) fn parse_records<'a>(
    data: &'a [u8],
    count: i32,
    mut f: impl FnMut(usize, RawRecord<'a>),
) -> Result<(), String> {
    let mut c = Cursor { b: data, pos: 0 };
    for index in 0..count.max(0) as usize {
        if c.pos >= data.len() {
            return Err("Incorrect declared batch size, premature EOF reached".to_string());
        }
        let size = c.varint()?;
        let remaining = data.len() - c.pos;
        if size < 0 || size as usize > remaining {
            return Err(format!(
                "Invalid record size: expected {size} bytes in record payload, but instead the buffer has only {remaining} remaining bytes."
            ));
        }
        let start = c.pos;
        let _attributes = c.byte()?;
        let timestamp_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        let key_size = c.varint()?;
        let key = c.sized(key_size)?;
        let value_size = c.varint()?;
        let value = c.sized(value_size)?;
        let n_headers = c.varint()?;
        if n_headers < 0 {
            return Err(format!(
                "Found invalid number of record headers {n_headers}"
            ));
        }
        if n_headers as usize > data.len() - c.pos {
            return Err(format!(
                "Found invalid number of record headers. {n_headers} is larger than the remaining size of the buffer"
            ));
        }
        let mut headers = Vec::new();
        for _ in 0..n_headers {
            let key_size = c.varint()?;
            if key_size < 0 {
                return Err(format!("Invalid negative header key size {key_size}"));
            }
            let hk = c.sized(key_size)?.unwrap_or_default();
            let value_size = c.varint()?;
            let hv = c.sized(value_size)?;
            headers.push((hk, hv));
        }
        if c.pos - start != size as usize {
            return Err(format!(
                "Invalid record size: expected to read {size} bytes in record payload, but instead read {}",
                c.pos - start
            ));
        }
        f(
            index,
            RawRecord {
                timestamp_delta,
                offset_delta,
                key,
                value,
                headers,
            },
        );
    }
    if c.pos != data.len() {
        return Err("Incorrect declared batch size, records still remaining in file".to_string());
    }
    Ok(())
}

/// The stored copy of a validated batch: base offset and partition leader epoch set, and, as
/// `LogValidator` does for in-place assignment, the timestamp type and max timestamp set (with
/// the CRC recomputed when they change).
pub(crate) fn rewrite_for_log(
    v: &Validated,
    base_offset: i64,
    leader_epoch: i32,
    timestamp_type: TimestampType,
    now_ms: i64,
) -> (Bytes, i64) {
    let mut b = BytesMut::from(&v.bytes[..]);
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    let (attributes, max_ts) = match timestamp_type {
        TimestampType::LogAppendTime => (v.header.attributes | TIMESTAMP_TYPE_BIT, now_ms),
        TimestampType::CreateTime => (
            v.header.attributes & !TIMESTAMP_TYPE_BIT,
            v.max_record_timestamp,
        ),
    };
    if attributes != v.header.attributes || max_ts != v.header.max_timestamp {
        b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_ts.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
    (b.freeze(), max_ts)
}

/// A control batch holding one end-transaction marker, as Kafka's `MemoryRecords
/// .withEndTransactionMarker` writes it: magic 2, transactional and control attributes, the
/// producer id and epoch, no sequence, one record whose key is the control record type (version
/// 0; 0 ABORT, 1 COMMIT) and whose value is the `EndTxnMarker` (version 0, coordinator epoch).
pub(crate) fn end_txn_marker(
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let key: [u8; 4] = [0, 0, 0, u8::from(commit)];
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    // One record: attributes, timestamp delta 0, offset delta 0, key, value, no headers
    // (all varints below 64, so one byte each).
    let mut record = vec![0u8, 0, 0, (key.len() as u8) << 1];
    record.extend_from_slice(&key);
    record.push((value.len() as u8) << 1);
    record.extend_from_slice(&value);
    record.push(0);
    let mut b = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + record.len() + 1);
    b.extend_from_slice(&base_offset.to_be_bytes());
    let length = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + 1 + record.len()) as i32;
    b.extend_from_slice(&length.to_be_bytes());
    b.extend_from_slice(&leader_epoch.to_be_bytes());
    b.extend_from_slice(&[2]); // magic
    b.extend_from_slice(&[0; 4]); // crc, below
    b.extend_from_slice(&(TRANSACTIONAL_BIT | CONTROL_BIT).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&NO_SEQUENCE.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // records count
    b.extend_from_slice(&[(record.len() as u8) << 1]);
    b.extend_from_slice(&record);
    let crc = compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// A batch as stored in a partition's log (read it back with
/// [`MockCluster::batches`](crate::MockCluster::batches)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record (`base_offset + lastOffsetDelta`).
    pub last_offset: i64,
    /// Producer id, -1 for a non-idempotent producer.
    pub producer_id: i64,
    /// Producer epoch, -1 without a producer id.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 without a producer id.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
    /// The transactional attribute bit.
    pub is_transactional: bool,
    /// The control attribute bit: a transaction marker (COMMIT or ABORT) the cluster wrote.
    pub is_control: bool,
    /// The codec the producer used (the mock never recompresses).
    pub compression: Compression,
    /// The batch's timestamp type after append (the topic's).
    pub timestamp_type: TimestampType,
    /// The batch's max timestamp after append (the broker's clock for LogAppendTime).
    pub max_timestamp: i64,
    /// The leader epoch stamped on the batch at append.
    pub partition_leader_epoch: i32,
    /// The batch bytes as stored, from the base offset field to the end: what a Fetch returns.
    pub bytes: Bytes,
}

impl StoredBatch {
    pub(crate) fn from_bytes(bytes: Bytes) -> Option<Self> {
        let h = BatchHeader::parse(&bytes)?;
        Some(Self {
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            record_count: h.records_count,
            is_transactional: h.is_transactional(),
            is_control: h.is_control(),
            compression: h.compression()?,
            timestamp_type: h.timestamp_type(),
            max_timestamp: h.max_timestamp,
            partition_leader_epoch: h.partition_leader_epoch,
            bytes,
        })
    }

    /// The batch's last sequence number (wrapping past `i32::MAX`), -1 without a producer id.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            increment_sequence(
                self.base_sequence,
                (self.last_offset - self.base_offset) as i32,
            )
        }
    }

    /// For a control batch, the marker it holds: `Some(true)` COMMIT, `Some(false)` ABORT
    /// (`None` for a data batch or an unreadable control record).
    pub fn control_type(&self) -> Option<bool> {
        if !self.is_control {
            return None;
        }
        let key = self.records().ok()?.into_iter().next()?.key?;
        match key.get(..4)? {
            [0, 0, 0, 1] => Some(true),
            [0, 0, 0, 0] => Some(false),
            _ => None,
        }
    }

    /// Decodes the batch's records (decompressing them).
    pub fn records(&self) -> Result<Vec<StoredRecord>, crate::MockError> {
        let corrupt = |reason: String| crate::MockError::Corrupt {
            offset: self.base_offset,
            reason,
        };
        let h =
            BatchHeader::parse(&self.bytes).ok_or_else(|| corrupt("short header".to_string()))?;
        let body = &self.bytes[RECORD_BATCH_OVERHEAD..];
        let owned;
        let data: &[u8] = match self.compression {
            Compression::None => body,
            c => {
                owned = codec::decompress(c, body, usize::MAX).map_err(corrupt)?;
                &owned
            }
        };
        let lat = self.timestamp_type == TimestampType::LogAppendTime;
        let compressed = self.compression != Compression::None;
        let mut out = Vec::with_capacity(self.record_count.clamp(0, 1 << 16) as usize);
        parse_records(data, h.records_count, |index, r| {
            // Kafka rewrites a compressed batch whose inner offsets are not 0..n-1, so its
            // records read as base + index; an uncompressed batch keeps its deltas as sent.
            let offset = if compressed {
                self.base_offset + index as i64
            } else {
                self.base_offset + i64::from(r.offset_delta)
            };
            out.push(StoredRecord {
                offset,
                timestamp: if lat {
                    h.max_timestamp
                } else {
                    h.base_timestamp.wrapping_add(r.timestamp_delta)
                },
                timestamp_type: self.timestamp_type,
                key: r.key.map(Bytes::copy_from_slice),
                value: r.value.map(Bytes::copy_from_slice),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| RecordHeader {
                        key: String::from_utf8_lossy(k).into_owned(),
                        value: v.map(Bytes::copy_from_slice),
                    })
                    .collect(),
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                sequence: if self.base_sequence >= 0 {
                    increment_sequence(self.base_sequence, r.offset_delta)
                } else {
                    NO_SEQUENCE
                },
                is_transactional: self.is_transactional,
                is_control: self.is_control,
            });
        })
        .map_err(corrupt)?;
        Ok(out)
    }
}

/// A record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Header key (Kafka decodes it as UTF-8, replacing invalid bytes).
    pub key: String,
    /// Header value; `None` is a null value.
    pub value: Option<Bytes>,
}

/// A record read back from a partition (see [`MockCluster::records`](crate::MockCluster::records)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp as a consumer sees it (the batch's for LogAppendTime).
    pub timestamp: i64,
    /// The batch's timestamp type.
    pub timestamp_type: TimestampType,
    /// Key; `None` is a null key.
    pub key: Option<Bytes>,
    /// Value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<RecordHeader>,
    /// The batch's producer id (-1 for a non-idempotent producer).
    pub producer_id: i64,
    /// The batch's producer epoch.
    pub producer_epoch: i16,
    /// This record's sequence number (base sequence + offset delta, wrapping), -1 without a
    /// producer id.
    pub sequence: i32,
    /// Whether the batch was transactional.
    pub is_transactional: bool,
    /// Whether this is a control record (a transaction marker: its key is the control record
    /// type, see [`StoredBatch::control_type`]).
    pub is_control: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_as_kafka_wraps_them() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
        assert_eq!(decrement_sequence(8, 3), 5);
        for (s, d) in [(0, 0), (10, 4), (i32::MAX - 2, 7), (i32::MAX, 1)] {
            assert_eq!(decrement_sequence(increment_sequence(s, d), d), s);
        }
        // Hostile deltas (a record's offset delta is not checked by Kafka) do not overflow.
        for (s, d) in [(5, -7), (0, i32::MIN), (i32::MAX, i32::MAX), (-1, i32::MIN)] {
            let _ = increment_sequence(s, d);
            let _ = decrement_sequence(s, d);
        }
    }

    #[test]
    fn records_parse_and_trailing_bytes_are_refused() {
        // One record: size, attributes 0, ts delta 0, offset delta 0, key null (-1), value "v"
        // (1), 0 headers.
        let rec = [7u8 << 1, 0, 0, 0, 1, 2, b'v', 0];
        let mut got = Vec::new();
        parse_records(&rec, 1, |i, r| {
            got.push((i, r.key.is_none(), r.value.map(<[u8]>::to_vec)))
        })
        .unwrap();
        assert_eq!(got, vec![(0, true, Some(b"v".to_vec()))]);
        let mut longer = rec.to_vec();
        longer.push(0);
        assert!(parse_records(&longer, 1, |_, _| {})
            .unwrap_err()
            .contains("still remaining"));
        assert!(parse_records(&rec, 2, |_, _| {})
            .unwrap_err()
            .contains("premature EOF"));
        let mut bad_size = rec;
        bad_size[0] = 6 << 1;
        assert!(parse_records(&bad_size, 1, |_, _| {}).is_err());
    }
}
