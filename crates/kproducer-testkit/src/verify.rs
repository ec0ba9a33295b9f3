//! The independent verifier: reads a whole topic back with librdkafka.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::unique_name;

/// Fetch limits: room for a 1 MiB record plus batch overhead.
const MAX_FETCH_BYTES: &str = "4194304";

/// What kind of timestamp a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// No timestamp (pre-0.10 message format).
    NotAvailable,
    /// Set by the producer (`CreateTime`).
    CreateTime,
    /// Set by the broker on append (`LogAppendTime`).
    LogAppendTime,
}

/// One record as librdkafka read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Key (`None` = null key).
    pub key: Option<Vec<u8>>,
    /// Value (`None` = null value).
    pub value: Option<Vec<u8>>,
    /// Headers in wire order (`None` value = null header value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in ms since the epoch (`-1` when not available).
    pub timestamp: i64,
    /// Which clock the timestamp comes from.
    pub timestamp_type: TimestampType,
}

/// Which records a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Everything written, including open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only committed transactional records (and all non-transactional ones).
    ReadCommitted,
}

/// Options for [`read_all_with`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Keep reading until at least this many records arrived (records may still be in flight
    /// when the read starts). `None`: stop at the end of every partition.
    pub expected_total: Option<usize>,
    /// Give up (with an error) after this long.
    pub timeout: Duration,
    /// Transaction isolation level.
    pub isolation: Isolation,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            expected_total: None,
            timeout: Duration::from_secs(30),
            isolation: Isolation::ReadUncommitted,
        }
    }
}

/// Reads every record of `topic` from the beginning of every partition, sorted by
/// `(partition, offset)`.
///
/// librdkafka verifies each batch's CRC (`check.crcs=true`), so a corrupt batch is an error
/// rather than silently skipped. The read ends when every partition reported end-of-partition
/// and, if `expected_total` is given, at least that many records arrived; otherwise it fails
/// after `timeout`. Offsets must come back strictly ascending per partition. Works against
/// the in-process broker, the mock cluster and Apache Kafka.
///
/// ```no_run
/// use std::time::Duration;
/// let records = kproducer_testkit::read_all("127.0.0.1:9092", "t", Some(10), Duration::from_secs(10))?;
/// assert_eq!(records.len(), 10);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    expected_total: Option<usize>,
    timeout: Duration,
) -> anyhow::Result<Vec<ConsumedRecord>> {
    read_all_with(
        bootstrap,
        topic,
        &ReadOptions {
            expected_total,
            timeout,
            ..ReadOptions::default()
        },
    )
}

/// [`read_all`] with all options.
pub fn read_all_with(
    bootstrap: &str,
    topic: &str,
    opts: &ReadOptions,
) -> anyhow::Result<Vec<ConsumedRecord>> {
    let deadline = Instant::now() + opts.timeout;
    let isolation = match opts.isolation {
        Isolation::ReadUncommitted => "read_uncommitted",
        Isolation::ReadCommitted => "read_committed",
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Required by librdkafka even with `assign`; random so parallel readers never share one.
        .set("group.id", unique_name("testkit-verify"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("check.crcs", "true")
        .set("isolation.level", isolation)
        .set("fetch.message.max.bytes", MAX_FETCH_BYTES)
        .create()
        .context("creating the librdkafka verifier consumer")?;

    let partitions = partitions_of(&consumer, topic, deadline)?;
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl).context("assigning partitions")?;

    let mut records = Vec::new();
    let mut at_eof = BTreeSet::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    loop {
        let enough = opts.expected_total.is_none_or(|n| records.len() >= n);
        if enough && at_eof.len() == partitions.len() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "reading {topic:?} at {bootstrap} timed out after {:?}: {} records read (expected {:?}), \
                 end reached on partitions {:?} of {:?}",
                opts.timeout,
                records.len(),
                opts.expected_total,
                at_eof,
                partitions
            );
        }
        match consumer.poll((deadline - now).min(Duration::from_millis(200))) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_eof.insert(p);
            }
            Some(Err(e)) => bail!("consuming {topic:?}: {e}"),
            Some(Ok(m)) => {
                let partition = m.partition();
                let offset = m.offset();
                // More data after an end-of-partition: that end was not the final one.
                at_eof.remove(&partition);
                if let Some(&prev) = last_offset.get(&partition) {
                    if offset <= prev {
                        bail!("partition {partition}: offset {offset} read after {prev}");
                    }
                }
                last_offset.insert(partition, offset);
                let (timestamp, timestamp_type) = match m.timestamp() {
                    Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
                    Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
                    Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
                };
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(ConsumedRecord {
                    partition,
                    offset,
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                    timestamp,
                    timestamp_type,
                });
            }
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

/// The topic's partition ids, retrying until metadata knows the topic.
fn partitions_of(
    consumer: &BaseConsumer,
    topic: &str,
    deadline: Instant,
) -> anyhow::Result<Vec<i32>> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let state =
            match consumer.fetch_metadata(Some(topic), remaining.min(Duration::from_secs(2))) {
                Err(e) => format!("metadata request failed: {e}"),
                Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                        return Ok(t.partitions().iter().map(|p| p.id()).collect());
                    }
                    Some(t) => format!("topic error {:?}", t.error()),
                    None => "topic not in metadata".to_owned(),
                },
            };
        if Instant::now() >= deadline {
            bail!("no metadata for topic {topic:?}: {state}");
        }
        // Polling for metadata; bounded by the deadline.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Groups records by partition, keeping their order (offset order for [`read_all`] output).
///
/// ```
/// use kproducer_testkit::{by_partition, ConsumedRecord, TimestampType};
/// let rec = |partition, offset| ConsumedRecord {
///     partition, offset, key: None, value: None, headers: vec![],
///     timestamp: 0, timestamp_type: TimestampType::CreateTime,
/// };
/// let all = vec![rec(0, 0), rec(1, 0), rec(0, 1)];
/// let grouped = by_partition(&all);
/// assert_eq!(grouped[&0].iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1]);
/// assert_eq!(grouped[&1].len(), 1);
/// ```
pub fn by_partition(records: &[ConsumedRecord]) -> BTreeMap<i32, Vec<&ConsumedRecord>> {
    let mut out: BTreeMap<i32, Vec<&ConsumedRecord>> = BTreeMap::new();
    for r in records {
        out.entry(r.partition).or_default().push(r);
    }
    out
}
