//! One batch of records for one partition, and the result its records' futures share.

use std::sync::{Arc, Condvar, Mutex};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;

use crate::error::ProduceError;
use crate::protocol::record_batch::{BatchHeader, RecordBatchBuilder};
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
            std::mem::take(&mut st.wakers)
        };
        self.done.notify_all();
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
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
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
            topic: tp.topic.to_string(),
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
    wire: Option<Bytes>,
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
            records: Vec::new(),
            callbacks: Vec::new(),
            created: now,
            last_attempt: now,
            attempts: 0,
            retry_after: None,
            alloc,
            stamped: None,
            full: false,
        }
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
        let builder = self.builder.as_mut()?;
        if !builder.has_room_for(timestamp, key, value, headers, limit) {
            self.full = true;
            return None;
        }
        builder.append(timestamp, key, value, headers);
        self.records.push(RecordInfo {
            timestamp,
            key_size: key.map_or(-1, |k| k.len() as i32),
            value_size: value.map_or(-1, |v| v.len() as i32),
        });
        if builder.size_in_bytes() >= limit {
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

    /// Records in the batch.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Whether no more records go into this batch.
    pub fn is_full(&self) -> bool {
        self.full || self.builder.is_none()
    }

    /// Wire size so far (estimate for open batches, exact once closed).
    pub fn size_in_bytes(&self) -> usize {
        match (&self.wire, &self.builder) {
            (Some(w), _) => w.len(),
            (None, Some(b)) => b.size_in_bytes(),
            (None, None) => 0,
        }
    }

    /// Closes the batch (header and CRC written) if still open, and returns its wire bytes. A
    /// closed batch given a different header (a new epoch or sequence after an epoch bump) is
    /// re-stamped: those header fields and the CRC are rewritten.
    pub fn close(&mut self, header: BatchHeader) -> Bytes {
        if let Some(b) = self.builder.take() {
            self.wire = Some(b.close(header));
            self.stamped = Some(header);
            self.full = true;
        } else if self.stamped != Some(header) {
            if let Some(wire) = self.wire.take() {
                let mut bytes = wire.to_vec();
                let restamped = crate::protocol::record_batch::restamp(
                    &mut bytes,
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                );
                self.wire = Some(match restamped {
                    Ok(()) => {
                        self.stamped = Some(header);
                        Bytes::from(bytes)
                    }
                    // Our own bytes always restamp; keep them as they were if not.
                    Err(_) => wire,
                });
            }
        }
        self.wire.clone().unwrap_or_default()
    }

    /// The closed batch's wire bytes (empty while open).
    pub fn wire_bytes(&self) -> bytes::Bytes {
        self.wire.clone().unwrap_or_default()
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
        let ack = result.as_ref().ok();
        let err = result.as_ref().err();
        if let Some(obs) = observer {
            for (i, info) in self.records.iter().enumerate() {
                obs(&info.metadata(&self.tp, i, ack), err);
            }
        }
        for (i, cb) in std::mem::take(&mut self.callbacks) {
            let i = i as usize;
            let r = match (&result, self.records.get(i)) {
                (Ok(a), Some(info)) => Ok(info.metadata(&self.tp, i, Some(a))),
                (Ok(_), None) => Err(ProduceError::Protocol(format!(
                    "callback for record {i} of a {}-record batch",
                    self.records.len()
                ))),
                (Err(e), _) => Err(e.clone()),
            };
            cb(r);
        }
        self.result.complete(result);
    }
}
