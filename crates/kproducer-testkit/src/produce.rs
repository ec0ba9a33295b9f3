//! librdkafka's own producer, the reference our producer is compared with.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

/// How long to wait for all delivery reports.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// One record to produce: the fields a Kafka record carries.
///
/// ```
/// use kproducer_testkit::TestRecord;
/// let r = TestRecord::new(Some(b"k".to_vec()), None)
///     .with_header("h", Some(b"x".to_vec()))
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(r.value, None);
/// assert_eq!(r.headers.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestRecord {
    /// Explicit partition; `None` lets the partitioner choose (Java-compatible `murmur2_random`).
    pub partition: Option<i32>,
    /// Key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in order; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Create time in ms since the epoch; `None` lets the producer stamp it.
    pub timestamp: Option<i64>,
}

impl TestRecord {
    /// A record with `key` and `value`, no headers, partition or timestamp.
    pub fn new(key: Option<Vec<u8>>, value: Option<Vec<u8>>) -> Self {
        TestRecord {
            key,
            value,
            ..TestRecord::default()
        }
    }

    /// Appends a header.
    pub fn with_header(mut self, key: &str, value: Option<Vec<u8>>) -> Self {
        self.headers.push((key.to_owned(), value));
        self
    }

    /// Sets the create timestamp (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Pins the record to `partition`.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// Where the broker stored a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Delivery {
    /// Partition the record went to.
    pub partition: i32,
    /// Offset the broker assigned.
    pub offset: i64,
}

/// Produces `records` to `topic` with librdkafka and returns each record's delivery, in the
/// order of `records`. Fails if any record is not delivered.
///
/// Defaults: `partitioner=murmur2_random` (Java's keyed partitioning), `linger.ms=5`,
/// `acks=all`. Use [`rdkafka_produce_with`] to change any librdkafka property.
///
/// ```no_run
/// use kproducer_testkit::{rdkafka_produce, TestRecord};
/// let records = [TestRecord::new(None, Some(b"v".to_vec()))];
/// let deliveries = rdkafka_produce("127.0.0.1:9092", "t", &records)?;
/// assert_eq!(deliveries.len(), 1);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn rdkafka_produce(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
) -> anyhow::Result<Vec<Delivery>> {
    rdkafka_produce_with(bootstrap, topic, records, &[])
}

/// [`rdkafka_produce`] with extra librdkafka producer properties (applied after the defaults).
pub fn rdkafka_produce_with(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    config: &[(&str, &str)],
) -> anyhow::Result<Vec<Delivery>> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("acks", "all")
        .set("message.timeout.ms", "30000");
    for (k, v) in config {
        cfg.set(*k, *v);
    }
    let ctx = Reports {
        results: Mutex::new(vec![None; records.len()]),
    };
    let producer: BaseProducer<Reports> = cfg
        .create_with_context(ctx)
        .context("creating the librdkafka producer")?;

    for (i, rec) in records.iter().enumerate() {
        let mut headers = OwnedHeaders::new_with_capacity(rec.headers.len());
        for (k, v) in &rec.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        let mut base = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, i).headers(headers);
        if let Some(p) = rec.partition {
            base = base.partition(p);
        }
        if let Some(k) = &rec.key {
            base = base.key(k.as_slice());
        }
        if let Some(v) = &rec.value {
            base = base.payload(v.as_slice());
        }
        if let Some(ts) = rec.timestamp {
            base = base.timestamp(ts);
        }
        // Back-pressure: when librdkafka's queue is full, serve delivery reports and retry.
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    base = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => bail!("enqueueing record {i}: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(FLUSH_TIMEOUT)
        .context("flushing the librdkafka producer")?;

    let results = producer
        .context()
        .results
        .lock()
        .map_err(|_| anyhow!("delivery report lock poisoned"))?
        .clone();
    let mut out = Vec::with_capacity(records.len());
    let mut failures = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(d)) => out.push(d),
            Some(Err(e)) => failures.push(format!("record {i}: {e}")),
            None => failures.push(format!("record {i}: no delivery report")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} records not delivered; first: {}",
            failures.len(),
            records.len(),
            failures[..failures.len().min(5)].join("; ")
        );
    }
    Ok(out)
}

/// Collects delivery reports by record index.
struct Reports {
    results: Mutex<Vec<Option<Result<Delivery, String>>>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let outcome = match result {
            Ok(m) => Ok(Delivery {
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, _)) => Err(e.to_string()),
        };
        if let Ok(mut results) = self.results.lock() {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(outcome);
            }
        }
    }
}
