//! One batch of records for one partition, and the result its records' futures share.

use std::sync::{Arc, Condvar, Mutex};
use std::task::Waker;
use std::time::Instant;

use crate::compression::{estimated_size, Compression};
use crate::error::ProduceError;
use crate::protocol::record_batch::{
    BatchHeader, RecordBatchBuilder, WireBuf, BATCH_HEADER_LEN, MAX_RECORD_OVERHEAD,
};
use crate::record::{Header, RecordMetadata};

/// A topic and partition; cheap to clone (the name is shared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition id.
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What the broker said about an acknowledged batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAck {
    /// Offset of the first record (-1 with acks=0).
    pub base_offset: i64,
    /// The broker's LogAppendTime, or -1 when the topic uses CreateTime.
    pub log_append_time: i64,
}

/// The result every record of a batch waits on: one allocation per batch, not per record
/// (Java's `ProduceRequestResult`).
#[derive(Debug)]
pub struct BatchResult {
    /// The batch's partition.
    pub tp: TopicPartition,
    state: Mutex<ResultState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct ResultState {
    result: Option<Outcome>,
    wakers: Vec<Waker>,
    /// Threads blocked in [`BatchResult::wait`]: the condvar is signalled only when there are
    /// some (a futex wake per batch showed in profiles otherwise).
    blocked: usize,
}

/// How a batch ended for its records.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Acknowledged or failed.
    Done(Result<BatchAck, ProduceError>),
    /// Split into smaller batches (MESSAGE_TOO_LARGE): record `i` now lives at `moved[i]`.
    Moved(Arc<Vec<(Arc<BatchResult>, usize)>>),
}

impl BatchResult {
    pub(crate) fn new(tp: TopicPartition) -> Arc<Self> {
        Arc::new(BatchResult {
            tp,
            state: Mutex::new(ResultState::default()),
            done: Condvar::new(),
        })
    }

    /// Makes a finished result fresh for a new batch of `tp` (it must be shared with nobody, which
    /// `&mut` proves): no result, no wakers (their vector keeps its capacity).
    fn reset(&mut self, tp: TopicPartition) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        st.result = None;
        st.wakers.clear();
        st.blocked = 0;
        self.tp = tp;
    }

    /// Sets the result once and wakes every waiter; later calls are ignored.
    pub(crate) fn complete(&self, result: Result<BatchAck, ProduceError>) {
        self.finish(Outcome::Done(result))
    }

    fn finish(&self, result: Outcome) {
        let wakers = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.result.is_some() {
                return;
            }
            st.result = Some(result);
            (std::mem::take(&mut st.wakers), st.blocked > 0)
        };
        let (wakers, blocked) = wakers;
        if blocked {
            self.done.notify_all();
        }
        for w in wakers {
            w.wake();
        }
    }

    /// The result if there is one, else registers `waker` to be woken when it arrives.
    pub(crate) fn poll_result(&self, waker: &Waker) -> Option<Outcome> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &st.result {
            Some(r) => Some(r.clone()),
            None => {
                if !st.wakers.iter().any(|w| w.will_wake(waker)) {
                    st.wakers.push(waker.clone());
                }
                None
            }
        }
    }

    /// The result if there is one.
    pub(crate) fn try_outcome(&self) -> Option<Outcome> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.result.clone()
    }

    /// Blocks the thread until the result arrives (for the blocking facade).
    pub(crate) fn wait(&self) -> Outcome {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = &st.result {
                return r.clone();
            }
            st.blocked += 1;
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
            st.blocked -= 1;
        }
    }

    /// Whether the result has arrived (or the batch was split).
    pub fn is_done(&self) -> bool {
        self.try_outcome().is_some()
    }
}

/// Per-record facts needed to build its [`RecordMetadata`] once the batch completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    /// The record's timestamp (CreateTime).
    pub timestamp: i64,
    /// Serialized key size, -1 for null.
    pub key_size: i32,
    /// Serialized value size, -1 for null.
    pub value_size: i32,
}

impl RecordInfo {
    /// The metadata of the record at `index` in a batch with result `ack`.
    pub fn metadata(
        &self,
        tp: &TopicPartition,
        index: usize,
        ack: Option<&BatchAck>,
    ) -> RecordMetadata {
        let (offset, timestamp) = match ack {
            Some(a) if a.base_offset >= 0 => (
                a.base_offset + index as i64,
                if a.log_append_time >= 0 {
                    a.log_append_time
                } else {
                    self.timestamp
                },
            ),
            _ => (-1, self.timestamp),
        };
        RecordMetadata {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset,
            timestamp,
            serialized_key_size: self.key_size,
            serialized_value_size: self.value_size,
        }
    }
}

/// Sees each record's outcome (the interceptors' `on_acknowledgement`).
pub type AckObserverFn = dyn Fn(&RecordMetadata, Option<&ProduceError>) + Send + Sync;

/// A completion callback for one record.
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata, ProduceError>) + Send + 'static>;

/// A batch of records for one partition: open (appending) or closed (wire bytes ready).
pub struct ProducerBatch {
    /// Partition.
    pub tp: TopicPartition,
    /// Unique, increasing id (flush waits for every id up to a mark).
    pub id: u64,
    builder: Option<RecordBatchBuilder>,
    /// The wire bytes, once closed.
    wire: Option<WireBuf>,
    /// An empty shell no one else holds, kept from a completed batch for the next close.
    shell: Option<WireBuf>,
    /// A batch closed compressed: its (pooled) uncompressed buffer, which goes back to the pool
    /// in place of the compressed one (charged to the batch until then, as before the close).
    spare: Option<Vec<u8>>,
    /// The buffer a compressed close writes into: given at drain from the accumulator's free
    /// list, and once the batch completes, its compressed bytes' buffer, for that list.
    out_buf: Option<Vec<u8>>,
    /// Shared result for this batch's futures.
    pub result: Arc<BatchResult>,
    /// Per-record facts, in offset order.
    pub records: Vec<RecordInfo>,
    /// Callbacks by record index.
    pub callbacks: Vec<(u32, Callback)>,
    /// When the batch was created.
    pub created: Instant,
    /// When it was last sent.
    pub last_attempt: Instant,
    /// Times it was sent.
    pub attempts: u32,
    /// Not sendable before this instant (retry backoff).
    pub retry_after: Option<Instant>,
    /// Bytes charged to the buffer pool.
    pub(crate) alloc: usize,
    /// The header the wire bytes carry (producer id, epoch, base sequence), once closed.
    pub stamped: Option<BatchHeader>,
    full: bool,
    /// Codec applied at close.
    compression: Compression,
    /// The topic's compression ratio estimate when the batch was created (Java fixes it then).
    estimated_ratio: f32,
    /// Most bytes the batch may take compressed, whatever the data (`max.request.size`).
    max_size: usize,
    /// Compressed / uncompressed size of the records, once closed compressed and not yet taken.
    observed_ratio: Option<f32>,
    /// The header decided at drain, for a close done later, outside the producer's lock.
    deferred: Option<BatchHeader>,
    /// The largest record's payload (key, value, headers with their length varints): its size
    /// estimate, Java's `maxRecordSize`, is `BATCH_HEADER_LEN + MAX_RECORD_OVERHEAD +` this.
    max_payload: u32,
    /// Compressed / uncompressed size of the records once closed (Java's `compressionRatio`);
    /// 1 for a batch not compressed.
    ratio: f32,
}

/// An empty wire buffer, for a batch not closed yet.
static NO_WIRE: std::sync::LazyLock<WireBuf> = std::sync::LazyLock::new(WireBuf::default);

/// A closed batch is one partition's part of a Produce request, written from its own buffer.
impl crate::network::ProducePart for ProducerBatch {
    fn topic(&self) -> &str {
        &self.tp.topic
    }
    fn partition(&self) -> i32 {
        self.tp.partition
    }
    fn records(&self) -> &WireBuf {
        self.wire.as_ref().unwrap_or(&NO_WIRE)
    }
}

/// A batch dropped without being completed (only if a bug or panic cut its path short) still
/// resolves its futures, with [`ProduceError::Closed`], so no caller waits forever. Completing a
/// batch consumes it after setting the result, so this does nothing on the normal path.
impl Drop for ProducerBatch {
    fn drop(&mut self) {
        self.result.complete(Err(ProduceError::Closed));
    }
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("tp", &self.tp)
            .field("id", &self.id)
            .field("records", &self.records.len())
            .field("attempts", &self.attempts)
            .field("closed", &self.wire.is_some())
            .finish()
    }
}

impl ProducerBatch {
    pub(crate) fn new(
        tp: TopicPartition,
        id: u64,
        buf: Vec<u8>,
        base_timestamp: i64,
        now: Instant,
    ) -> Self {
        let alloc = buf.capacity();
        ProducerBatch {
            result: BatchResult::new(tp.clone()),
            tp,
            id,
            builder: Some(RecordBatchBuilder::new(buf, base_timestamp)),
            wire: None,
            shell: None,
            spare: None,
            out_buf: None,
            records: Vec::new(),
            callbacks: Vec::new(),
            created: now,
            last_attempt: now,
            attempts: 0,
            retry_after: None,
            alloc,
            stamped: None,
            full: false,
            compression: Compression::NONE,
            estimated_ratio: 1.0,
            max_size: usize::MAX,
            observed_ratio: None,
            deferred: None,
            max_payload: 0,
            ratio: 1.0,
        }
    }

    /// Turns a completed batch (see [`ProducerBatch::complete_in_place`]) into a new, empty one,
    /// keeping its allocations: the shared result when no future holds it any more (else a new
    /// one), and the record and callback tables, cleared. Same arguments as `ProducerBatch::new`.
    pub(crate) fn renew(
        &mut self,
        tp: TopicPartition,
        id: u64,
        buf: Vec<u8>,
        base_timestamp: i64,
        now: Instant,
    ) {
        // Every field listed (no `..`): a new field can't be forgotten here.
        let ProducerBatch {
            tp: this_tp,
            id: this_id,
            builder,
            wire,
            shell: _, // kept: the next close reuses it
            out_buf,
            spare,
            result,
            records,
            callbacks,
            created,
            last_attempt,
            attempts,
            retry_after,
            alloc,
            stamped,
            full,
            compression,
            estimated_ratio,
            max_size,
            observed_ratio,
            deferred,
            max_payload,
            ratio,
        } = self;
        match Arc::get_mut(result) {
            Some(r) => r.reset(tp.clone()),
            None => *result = BatchResult::new(tp.clone()),
        }
        *this_tp = tp;
        *this_id = id;
        *alloc = buf.capacity();
        *builder = Some(RecordBatchBuilder::new(buf, base_timestamp));
        *wire = None;
        *spare = None;
        *out_buf = None;
        records.clear();
        callbacks.clear();
        *created = now;
        *last_attempt = now;
        *attempts = 0;
        *retry_after = None;
        *stamped = None;
        *full = false;
        *compression = Compression::NONE;
        *estimated_ratio = 1.0;
        *max_size = usize::MAX;
        *observed_ratio = None;
        *deferred = None;
        *max_payload = 0;
        *ratio = 1.0;
    }

    /// Bytes of heap the record and callback tables hold (for bounding a free list of them).
    pub(crate) fn table_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<RecordInfo>()
            + self.callbacks.capacity() * std::mem::size_of::<(u32, Callback)>()
    }

    /// Gives a drained compressed batch the buffer its close will write into (see `out_buf`).
    pub(crate) fn give_output_buffer(&mut self, buf: Vec<u8>) {
        self.out_buf = Some(buf);
    }

    /// Takes the buffer a completed compressed batch's bytes were in, emptied (after
    /// [`ProducerBatch::take_buffer`]), for the next compressed close.
    pub(crate) fn take_output_buffer(&mut self) -> Option<Vec<u8>> {
        self.out_buf.take()
    }

    /// Whether this batch is compressed at close.
    pub(crate) fn is_compressed(&self) -> bool {
        !self.compression.is_none()
    }

    /// Sets the codec applied at close, the topic's current ratio estimate and the size no
    /// compressed batch may pass (`max.request.size`).
    pub(crate) fn with_compression(
        mut self,
        compression: Compression,
        estimated_ratio: f32,
        max_size: usize,
    ) -> Self {
        self.compression = compression;
        self.estimated_ratio = estimated_ratio;
        self.max_size = max_size;
        self
    }

    /// Estimated bytes on the wire of the open batch (Java's `estimatedBytesWritten`):
    /// exact without compression, else the records scaled by the ratio estimate × 1.05.
    fn estimated_written(&self, builder: &RecordBatchBuilder) -> usize {
        if self.compression.is_none() {
            builder.size_in_bytes()
        } else {
            estimated_size(
                BATCH_HEADER_LEN,
                builder.records().len(),
                self.estimated_ratio,
            )
        }
    }

    /// Java's `MemoryRecordsBuilder.hasRoomFor` with the compressed-size estimate; with
    /// compression, also keeps the worst-case compressed size (incompressible data) within
    /// `max.request.size`, since the estimate alone does not bound it.
    fn has_room_for(
        &self,
        builder: &RecordBatchBuilder,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        limit: usize,
    ) -> bool {
        if builder.is_empty() {
            return true;
        }
        let written = self.estimated_written(builder);
        if written >= limit {
            return false; // Java's isFull
        }
        // Conservative as Java: the new record counts uncompressed. The exact size (varints
        // and all) only matters near the limit.
        let quick = RecordBatchBuilder::record_size_quick_bound(key, value, headers);
        let record = if written + quick <= limit {
            quick
        } else {
            builder.record_size(timestamp, key, value, headers)
        };
        if written + record > limit {
            return false;
        }
        self.compression.is_none()
            || BATCH_HEADER_LEN
                + self
                    .compression
                    .max_compressed_len(builder.records().len() + record)
                <= self.max_size
    }

    /// The open batch's buffer capacity (0 once closed).
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.builder
            .as_ref()
            .map_or(0, RecordBatchBuilder::capacity)
    }

    /// Free room in the open batch's buffer before it must grow (0 once closed).
    pub(crate) fn buffer_spare(&self) -> usize {
        self.builder
            .as_ref()
            .map_or(0, |b| b.capacity().saturating_sub(b.size_in_bytes()))
    }

    /// Moves the open batch into `buf` (larger than its buffer) and returns the old buffer,
    /// emptied; `None` (and `buf` dropped) once closed. The caller charges the difference.
    pub(crate) fn replace_buffer(&mut self, buf: Vec<u8>) -> Option<Vec<u8>> {
        self.builder.as_mut().map(|b| b.replace_buffer(buf))
    }

    /// Bytes in the open batch's buffer (0 once closed).
    pub(crate) fn buffer_len(&self) -> usize {
        self.builder.as_ref().map_or(0, RecordBatchBuilder::len)
    }

    /// Takes no more records (e.g. growing it would pass `buffer.memory`).
    pub(crate) fn mark_full(&mut self) {
        self.full = true;
    }

    /// Appends if the record fits within `limit` bytes; returns its index in the batch.
    pub(crate) fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        limit: usize,
    ) -> Option<usize> {
        let builder = self.builder.as_ref()?;
        if !self.has_room_for(builder, timestamp, key, value, headers, limit) {
            self.full = true;
            return None;
        }
        let builder = self.builder.as_mut()?;
        // The payload size the append computes anyway: the metrics' largest record from it
        // (a second size computation per record cost ~1 % of a 100-byte send's CPU).
        let payload = builder.append_measured(timestamp, key, value, headers);
        self.max_payload = self.max_payload.max(payload.min(u32::MAX as usize) as u32);
        self.records.push(RecordInfo {
            timestamp,
            key_size: key.map_or(-1, |k| k.len() as i32),
            value_size: value.map_or(-1, |v| v.len() as i32),
        });
        let written = self
            .builder
            .as_ref()
            .map_or(limit, |b| self.estimated_written(b));
        if written >= limit {
            self.full = true;
        }
        Some(self.records.len() - 1)
    }

    /// Splits a closed batch the broker found too large (MESSAGE_TOO_LARGE) into batches of at
    /// most `batch_size` bytes (one record each at least), as Java's `ProducerBatch.split`. The
    /// new batches keep this batch's sequence range (so later sequences stay valid), are closed
    /// with their share of it, and take over the callbacks; this batch's futures are forwarded to
    /// them. `next_id` numbers the new batches. Returns `Err(self)` when the records can't be
    /// read back (e.g. a compressed batch the decoder can't open).
    pub(crate) fn split(
        mut self,
        batch_size: usize,
        now: Instant,
        next_id: &mut dyn FnMut() -> u64,
    ) -> Result<Vec<ProducerBatch>, Box<ProducerBatch>> {
        let Some(wire) = self.wire.clone() else {
            return Err(Box::new(self));
        };
        let decoded = match crate::protocol::record_batch::decode_batches(&wire) {
            Ok(mut d) if d.len() == 1 && d[0].records.len() == self.records.len() => d.remove(0),
            _ => return Err(Box::new(self)),
        };
        let header = self.stamped.unwrap_or(BatchHeader::PLAIN);
        let mut out: Vec<ProducerBatch> = Vec::new();
        // Where each record went: (new batch, index in it).
        let mut positions: Vec<(usize, usize)> = Vec::with_capacity(decoded.records.len());
        for r in &decoded.records {
            let (key, value) = (r.key.as_deref(), r.value.as_deref());
            let fits = out
                .last_mut()
                .and_then(|b| b.try_append(r.timestamp, key, value, &r.headers, batch_size));
            let index = match fits {
                Some(i) => i,
                None => {
                    let mut b = ProducerBatch::new(
                        self.tp.clone(),
                        next_id(),
                        Vec::new(),
                        r.timestamp,
                        now,
                    );
                    b.alloc = 0; // off the pool, as Java allocates split batches
                    b.created = self.created; // the delivery timeout runs from the original
                    b.attempts = self.attempts;
                    // An empty batch always takes one record.
                    let i = b
                        .try_append(r.timestamp, key, value, &r.headers, usize::MAX)
                        .unwrap_or(0);
                    out.push(b);
                    i
                }
            };
            positions.push((out.len() - 1, index));
        }
        // Each new batch takes its share of the original sequence range.
        let mut seq = header.base_sequence;
        for b in out.iter_mut() {
            let base_sequence = if header.base_sequence >= 0 { seq } else { -1 };
            seq = seq.wrapping_add(b.record_count() as i32);
            b.close(BatchHeader {
                base_sequence,
                ..header
            });
        }
        // Callbacks and per-record facts (sizes, timestamps) follow their records.
        for (i, cb) in std::mem::take(&mut self.callbacks) {
            if let Some(&(b, w)) = positions.get(i as usize) {
                if let Some(batch) = out.get_mut(b) {
                    batch.callbacks.push((w as u32, cb));
                }
            }
        }
        for (info, &(b, w)) in self.records.iter().zip(positions.iter()) {
            if let Some(slot) = out.get_mut(b).and_then(|batch| batch.records.get_mut(w)) {
                *slot = *info;
            }
        }
        let moved: Vec<(Arc<BatchResult>, usize)> = positions
            .iter()
            .filter_map(|&(b, w)| out.get(b).map(|batch| (batch.result.clone(), w)))
            .collect();
        self.result.finish(Outcome::Moved(Arc::new(moved)));
        Ok(out)
    }

    /// The largest record's size estimate, batch header included (Java's
    /// `ProducerBatch.maxRecordSize`, from `estimateSizeInBytesUpperBound`).
    pub fn max_record_size(&self) -> usize {
        if self.records.is_empty() {
            return 0;
        }
        BATCH_HEADER_LEN + MAX_RECORD_OVERHEAD + self.max_payload as usize
    }

    /// Compressed / uncompressed size of the records once closed (Java's `compressionRatio`), 1
    /// when not compressed.
    pub fn compression_ratio(&self) -> f32 {
        self.ratio
    }

    /// Records in the batch.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Whether no more records go into this batch.
    pub fn is_full(&self) -> bool {
        self.full || self.builder.is_none()
    }

    /// An open compressed batch that holds `batch_size` bytes of records *uncompressed*, though
    /// its compressed estimate still has room: one more record of their average size would
    /// take it past `batch_size` (so its buffer, sized `batch_size`, need not grow before it
    /// goes). It may go out early when its leader has nothing in flight (see
    /// `RecordAccumulator::ready_into`). Uncompressed batches answer `false`:
    /// [`ProducerBatch::is_full`] covers them.
    pub fn holds_batch_size(&self, batch_size: usize) -> bool {
        !self.compression.is_none()
            && self.builder.as_ref().is_some_and(|b| {
                let size = b.size_in_bytes();
                let average = size.saturating_sub(BATCH_HEADER_LEN) / self.records.len().max(1);
                size + average > batch_size
            })
    }

    /// Wire size so far: for open batches an estimate (the compressed size estimated as Java
    /// does), exact once closed.
    pub fn size_in_bytes(&self) -> usize {
        match (&self.wire, &self.builder) {
            (Some(w), _) => w.len(),
            (None, Some(b)) => self.estimated_written(b),
            (None, None) => 0,
        }
    }

    /// The codec applied at close.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Closes the batch if still open: compresses the records once (with the batch's codec),
    /// writes the header and CRC, and returns the wire bytes. A closed batch given a different
    /// header (a new epoch or sequence after an epoch bump) is re-stamped: those header fields
    /// and the CRC are rewritten.
    ///
    /// Should the encoder fail (it works in memory, so it should not), the batch goes out
    /// uncompressed, which every broker accepts, rather than failing its records.
    pub fn close(&mut self, header: BatchHeader) -> WireBuf {
        if let Some(b) = self.builder.take() {
            let compression = self.compression;
            let wire = if compression.is_none() || b.is_empty() {
                b.finish(header)
            } else {
                let uncompressed = b.records().len();
                // Compressed after 61 placeholder bytes, then handed to the builder as its
                // buffer: no copy, and the records survive an encoder failure. The output
                // buffer is an earlier compressed batch's, given at drain, when there is one.
                let mut prepared = self.out_buf.take().unwrap_or_default();
                prepared.clear();
                prepared.reserve(BATCH_HEADER_LEN + compression.output_capacity(uncompressed));
                prepared.resize(BATCH_HEADER_LEN, 0);
                match compression.compress(b.records(), &mut prepared) {
                    Ok(()) => {
                        let compressed = prepared.len() - BATCH_HEADER_LEN;
                        // Java's actualCompressionRatio: compressed / uncompressed records.
                        let ratio = compressed as f32 / uncompressed.max(1) as f32;
                        self.observed_ratio = Some(ratio);
                        self.ratio = ratio;
                        let (bytes, spare) =
                            b.finish_precompressed(header, compression.codec(), prepared);
                        self.spare = Some(spare);
                        bytes
                    }
                    Err(e) => {
                        tracing::warn!(tp = %self.tp, error = %e, "compression failed; sending the batch uncompressed");
                        b.finish(header)
                    }
                }
            };
            // The shell of an earlier batch carries these bytes: no allocation in steady state.
            let wire = match self.shell.take() {
                Some(mut shell) => match shell.refill(wire) {
                    Ok(()) => shell,
                    Err(wire) => WireBuf::from_vec(wire),
                },
                None => WireBuf::from_vec(wire),
            };
            self.wire = Some(wire);
            self.stamped = Some(header);
            self.full = true;
        } else if self.stamped != Some(header) {
            if let Some(wire) = self.wire.as_mut() {
                // In place when no request holds the bytes, else on a copy (a request still
                // queued keeps the bytes it was built with).
                let restamped = crate::protocol::record_batch::restamp(
                    wire.make_mut(),
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                );
                // Our own bytes always restamp; if not, they are left as they were.
                if restamped.is_ok() {
                    self.stamped = Some(header);
                }
            }
        }
        self.wire_bytes()
    }

    /// Records the header the batch goes out with and leaves compression and CRC to
    /// [`ProducerBatch::close_deferred`], which the driver runs without holding the producer's
    /// lock (compressing 16 KiB can take longer than a thousand appends).
    pub fn defer_close(&mut self, header: BatchHeader) {
        self.deferred = Some(header);
    }

    /// Whether a close is pending (see [`ProducerBatch::defer_close`]).
    pub fn close_is_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// Runs a deferred close, if any; returns the observed compression ratio, if any.
    pub fn close_deferred(&mut self) -> Option<f32> {
        let header = self.deferred.take()?;
        self.close(header);
        self.take_compression_ratio()
    }

    /// Runs a deferred close, if any, leaving the observed ratio in the batch for
    /// [`ProducerBatch::take_compression_ratio`].
    pub fn run_deferred_close(&mut self) {
        if let Some(header) = self.deferred.take() {
            self.close(header);
        }
    }

    /// The observed compression ratio of a batch closed compressed, once (the accumulator folds
    /// it into the topic's estimate).
    pub fn take_compression_ratio(&mut self) -> Option<f32> {
        self.observed_ratio.take()
    }

    /// The closed batch's wire bytes (empty while open), shared, not copied.
    pub fn wire_bytes(&self) -> WireBuf {
        self.wire.clone().unwrap_or_default()
    }

    /// The batch's buffer, emptied, for reuse once the batch is done (its wire bytes are gone
    /// after this). `None` if the bytes are still shared (e.g. a request not yet dropped); then
    /// the shell goes with them and the next close allocates a new one. A batch closed
    /// compressed gives back its uncompressed buffer (the one it was charged), whoever holds
    /// the compressed bytes.
    pub(crate) fn take_buffer(&mut self) -> Option<Vec<u8>> {
        let spare = self.spare.take();
        let mut buf = match (self.builder.take(), self.wire.take()) {
            (Some(b), _) => b.into_buffer(),
            (None, Some(mut wire)) => {
                let taken = wire.try_take();
                if taken.is_some() {
                    self.shell = Some(wire);
                }
                match (spare, taken) {
                    (Some(spare), taken) => {
                        // Closed compressed: the pool takes the uncompressed buffer back, and
                        // the compressed one is kept for a later close (see `out_buf`).
                        if let Some(mut out) = taken {
                            out.clear();
                            self.out_buf = Some(out);
                        }
                        spare
                    }
                    (None, taken) => taken?,
                }
            }
            (None, None) => spare?,
        };
        buf.clear();
        Some(buf)
    }

    /// Whether the batch was closed.
    pub fn is_closed(&self) -> bool {
        self.wire.is_some()
    }

    /// Completes every record: interceptors' `on_acknowledgement` (`observer`) and callbacks first,
    /// in record order, then the shared result that wakes futures (Java's order: a future never
    /// resolves before its record's callback and interceptors ran).
    pub fn complete(
        mut self,
        result: Result<BatchAck, ProduceError>,
        observer: Option<&AckObserverFn>,
    ) {
        self.complete_in_place(result, observer);
    }

    /// [`ProducerBatch::complete`] that leaves the batch, done, for reuse
    /// ([`RecordAccumulator::recycle`](super::RecordAccumulator::recycle)): its tables keep
    /// their capacity.
    pub fn complete_in_place(
        &mut self,
        result: Result<BatchAck, ProduceError>,
        observer: Option<&AckObserverFn>,
    ) {
        let ack = result.as_ref().ok();
        let err = result.as_ref().err();
        // User code: a panic in it is caught and logged, and the next record's callback still runs
        // (Java catches callback exceptions the same way). Nothing here is left half-updated by
        // an unwinding callback, so the batch is safe to keep using.
        if let Some(obs) = observer {
            for (i, info) in self.records.iter().enumerate() {
                let md = info.metadata(&self.tp, i, ack);
                guarded("interceptor on_acknowledgement", &self.tp, || obs(&md, err));
            }
        }
        for (i, cb) in self.callbacks.drain(..) {
            let i = i as usize;
            let r = match (&result, self.records.get(i)) {
                (Ok(a), Some(info)) => Ok(info.metadata(&self.tp, i, Some(a))),
                (Ok(_), None) => Err(ProduceError::Protocol(format!(
                    "callback for record {i} of a {}-record batch",
                    self.records.len()
                ))),
                (Err(e), _) => Err(e.clone()),
            };
            guarded("callback", &self.tp, || cb(r));
        }
        self.result.complete(result);
    }
}

/// Runs user code `f`; a panic is logged (ERROR, with the partition) and swallowed.
fn guarded(what: &str, tp: &TopicPartition, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into());
        tracing::error!(%tp, %message, "a {what} panicked; the producer goes on");
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::protocol::record_batch::decode_batches;

    fn batch(buf: Vec<u8>) -> ProducerBatch {
        let tp = TopicPartition {
            topic: Arc::from("t"),
            partition: 0,
        };
        let mut b = ProducerBatch::new(tp, 1, buf, 1_000, Instant::now());
        assert_eq!(
            b.try_append(1_000, Some(b"k"), Some(b"v"), &[], 1024),
            Some(0)
        );
        b
    }

    fn renew(b: &mut ProducerBatch, buf: Vec<u8>, value: &[u8]) {
        let tp = b.tp.clone();
        b.renew(tp, b.id + 1, buf, 2_000, Instant::now());
        assert_eq!(b.try_append(2_000, None, Some(value), &[], 1024), Some(0));
    }

    #[test]
    fn a_done_batch_gives_back_its_buffer_and_shell_for_the_next_close() {
        let mut b = batch(Vec::with_capacity(1024));
        let wire = b.close(BatchHeader::PLAIN);
        let (data, shell) = (wire.as_ptr(), wire.shell_ptr());
        // The writer wrote and dropped its clone; the batch completes.
        drop(wire);
        let buf = b.take_buffer().expect("nobody holds the bytes");
        assert_eq!(buf.as_ptr(), data, "the batch's own buffer comes back");
        assert_eq!(buf.capacity(), 1024);
        assert!(buf.is_empty());
        renew(&mut b, buf, b"second");
        let wire = b.close(BatchHeader::PLAIN);
        assert_eq!(wire.as_ptr(), data, "same buffer");
        assert_eq!(
            wire.shell_ptr(),
            shell,
            "same shell: nothing allocated at close"
        );
        let decoded = decode_batches(&wire).expect("valid batch");
        assert_eq!(decoded[0].records[0].value.as_deref(), Some(&b"second"[..]));
    }

    #[test]
    fn wire_bytes_held_by_a_writer_are_not_reused_while_held() {
        let mut b = batch(Vec::with_capacity(1024));
        let held = b.close(BatchHeader::PLAIN);
        let held_copy = held.to_vec();
        assert!(b.take_buffer().is_none(), "a writer still holds the bytes");
        // The next batch gets a fresh buffer and a fresh shell; the held bytes stay as they were.
        renew(&mut b, Vec::with_capacity(1024), b"other");
        let wire = b.close(BatchHeader::PLAIN);
        assert_ne!(wire.shell_ptr(), held.shell_ptr());
        assert_ne!(wire.as_ptr(), held.as_ptr());
        assert_eq!(held.to_vec(), held_copy);
        assert_eq!(decode_batches(&held).expect("valid")[0].records.len(), 1);
        // Once that batch is done its shell is kept, and the old one goes with its last holder.
        drop(wire);
        assert!(b.take_buffer().is_some());
        drop(held);
    }

    #[test]
    fn a_batch_closed_compressed_gives_back_its_uncompressed_buffer_even_while_held() {
        let compression = Compression::with_default_level(crate::CompressionType::Gzip);
        let buf = Vec::with_capacity(1024);
        let pooled = buf.as_ptr();
        let mut b = batch(buf).with_compression(compression, 1.0, usize::MAX);
        let held = b.close(BatchHeader::PLAIN);
        assert_ne!(held.as_ptr(), pooled, "compressed into another buffer");
        let back = b
            .take_buffer()
            .expect("the uncompressed buffer is nobody else's");
        assert_eq!((back.as_ptr(), back.capacity()), (pooled, 1024));
        assert!(back.is_empty());
        assert_eq!(decode_batches(&held).expect("valid")[0].records.len(), 1);
    }

    #[test]
    fn restamp_rewrites_in_place_unless_a_writer_holds_the_bytes() {
        let mut b = batch(Vec::with_capacity(1024));
        let first = b.close(BatchHeader {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
            is_transactional: false,
        });
        let first_copy = first.to_vec();
        // Still held (a request not yet written): the new header goes on a copy.
        let bumped = BatchHeader {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 0,
            is_transactional: false,
        };
        let second = b.close(bumped);
        assert_ne!(second.as_ptr(), first.as_ptr());
        assert_eq!(first.to_vec(), first_copy, "the held bytes are untouched");
        let d = decode_batches(&second).expect("CRC recomputed");
        assert_eq!((d[0].producer_id, d[0].producer_epoch), (7, 1));
        drop((first, second));
        // Held by nobody: rewritten in place.
        let at = b.wire_bytes().as_ptr();
        let third = b.close(BatchHeader {
            base_sequence: 5,
            ..bumped
        });
        assert_eq!(third.as_ptr(), at);
        assert_eq!(decode_batches(&third).expect("valid")[0].base_sequence, 5);
    }
}

#[cfg(test)]
mod completion_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_panicking_callback_does_not_stop_the_others_or_the_futures() {
        let tp = TopicPartition {
            topic: Arc::from("t"),
            partition: 0,
        };
        let mut b = ProducerBatch::new(tp, 1, Vec::with_capacity(1024), 1_000, Instant::now());
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..3u32 {
            let index = b
                .try_append(1_000, None, Some(b"v"), &[], 1024)
                .expect("room");
            let ran = ran.clone();
            b.callbacks.push((
                index as u32,
                Box::new(move |r: Result<RecordMetadata, ProduceError>| {
                    if i == 1 {
                        panic!("callback {i} panics");
                    }
                    assert_eq!(r.expect("acked").offset, 10 + i64::from(i));
                    ran.fetch_add(1, Ordering::SeqCst);
                }),
            ));
        }
        let result = b.result.clone();
        let observed = Arc::new(AtomicUsize::new(0));
        let seen = observed.clone();
        let observer = move |_: &RecordMetadata, _: Option<&ProduceError>| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("an interceptor panics too");
            }
        };
        b.complete(
            Ok(BatchAck {
                base_offset: 10,
                log_append_time: -1,
            }),
            Some(&observer),
        );
        assert_eq!(ran.load(Ordering::SeqCst), 2, "the other callbacks ran");
        assert_eq!(
            observed.load(Ordering::SeqCst),
            3,
            "every record was observed"
        );
        assert!(result.is_done(), "the futures resolve");
    }
}
