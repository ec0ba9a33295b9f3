//! Java's own client (`kafka-clients`' KafkaProducer and KafkaConsumer) as a subprocess: the
//! reference kproducer is compared with against Apache Kafka.
//!
//! The helper is `crates/kproducer-testkit/kafka/Interop.java`, compiled by
//! `scripts/setup.sh` into the Kafka cache; when the source has changed since, it is compiled
//! again into a private directory the first time a test needs it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::features::FinalizedFeatures;
use crate::kafka::{
    java_bin, kafka_home, kafka_lib, lib_classpath, tail, wait_until, KafkaCluster,
};
use crate::produce::{Delivery, TestRecord};
use crate::verify::{ConsumedRecord, Isolation, TimestampType};

const INTEROP_SOURCE: &str = include_str!("../kafka/Interop.java");

/// Java client logging goes to stderr so stdout carries only the helper's JSON lines.
const CLIENT_LOG4J2: &str = "\
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
";

/// Bound on one helper run (JVM start, metadata, the records themselves).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// What Java's KafkaProducer did with a batch of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaProduced {
    /// Where each record went, in input order.
    pub deliveries: Vec<Delivery>,
    /// The create/log-append timestamp the broker reported for each record, in input order.
    pub timestamps: Vec<i64>,
    /// The effective value (as Java's `ProducerConfig` parsed it) of every key set through the
    /// properties file or `extra`, rendered as Java prints it (lists comma-joined, classes by name).
    pub config: BTreeMap<String, String>,
    /// The producer's KIP-714 client instance id (`KafkaProducer::clientInstanceId`), as the
    /// broker's telemetry plug-in sees it; only from [`java_produce_held`] (`None` when Java
    /// could not tell it, e.g. no subscription matched or `enable.metrics.push=false`).
    pub client_instance_id: Option<String>,
}

/// Produces `records` to `topic` with Java's KafkaProducer (`byte[]` serializers, default
/// partitioner, Java's defaults otherwise) and returns where each record went.
///
/// ```no_run
/// use kproducer_testkit::{java_produce, KafkaCluster, TestRecord};
/// let cluster = KafkaCluster::start(1)?;
/// cluster.create_topic("t", 3, 1)?;
/// let sent = [TestRecord::new(Some("ключ".as_bytes().to_vec()), Some(b"v".to_vec()))];
/// let deliveries = java_produce(&cluster.bootstrap(), "t", &sent)?;
/// assert_eq!(deliveries.len(), 1);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_produce(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
) -> anyhow::Result<Vec<Delivery>> {
    java_produce_with(bootstrap, topic, records, None, &[]).map(|p| p.deliveries)
}

/// [`java_produce`] driven by a Java `producer.properties` file and/or extra properties
/// (applied in that order after `bootstrap.servers`, so the file may override it).
pub fn java_produce_with(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    properties_file: Option<&Path>,
    extra: &[(&str, &str)],
) -> anyhow::Result<JavaProduced> {
    produce(bootstrap, topic, records, properties_file, extra, None)
}

/// [`java_produce_with`] (no properties file) that keeps the producer open for `hold` before
/// closing it, long enough for KIP-714 telemetry pushes at a subscription's interval: every
/// record but the last is sent and flushed, the producer waits `hold`, then sends the last
/// record and closes at once. Java's terminating push is best effort (KAFKA-17731: `close()`
/// only marks it needed and it goes out if the sender thread polls again); the send in flight
/// at close is what makes it go out. Also returns the producer's client instance id
/// ([`JavaProduced::client_instance_id`]; Java waits up to `hold` for it).
///
/// ```no_run
/// use std::time::Duration;
/// use kproducer_testkit::{java_produce_held, TestRecord};
/// let sent = [TestRecord::new(None, Some(b"v".to_vec()))];
/// let produced = java_produce_held(
///     "127.0.0.1:9092", "t", &sent, &[("client.id", "telemetry-test")], Duration::from_secs(5),
/// )?;
/// println!("client instance id {:?}", produced.client_instance_id);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_produce_held(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    extra: &[(&str, &str)],
    hold: Duration,
) -> anyhow::Result<JavaProduced> {
    produce(bootstrap, topic, records, None, extra, Some(hold))
}

fn produce(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    properties_file: Option<&Path>,
    extra: &[(&str, &str)],
    hold: Option<Duration>,
) -> anyhow::Result<JavaProduced> {
    let mut run = Helper::new("produce", bootstrap).arg("--topic", topic);
    if let Some(f) = properties_file {
        run = run.arg("--config", f.display());
    }
    run = run.props(extra);
    if let Some(hold) = hold {
        // At least 1 ms: 0 is the helper's "close at once".
        run = run.arg("--hold-ms", hold.as_millis().max(1));
    }
    let timeout = DEFAULT_TIMEOUT + hold.unwrap_or_default().saturating_mul(2);
    let (ok, lines, stderr) = run.records(records).output(timeout)?;

    let mut config = BTreeMap::new();
    let mut client_instance_id = None;
    let mut deliveries = vec![None; records.len()];
    let mut timestamps = vec![-1; records.len()];
    let mut errors = Vec::new();
    for line in lines {
        if let Some(cfg) = line.get("config").and_then(Value::as_object) {
            for (k, v) in cfg {
                config.insert(k.clone(), v.as_str().unwrap_or("null").to_owned());
            }
            continue;
        }
        if let Some(id) = line.get("clientInstanceId").and_then(Value::as_str) {
            client_instance_id = Some(id.to_owned());
            continue;
        }
        if line.get("clientInstanceIdError").is_some() {
            continue;
        }
        let i = record_index(&line, records.len())?;
        if let Some(e) = line.get("error") {
            errors.push(format!("record {i}: {e}"));
            continue;
        }
        deliveries[i] = Some(delivery(&line)?);
        timestamps[i] = int(&line, "timestamp")?;
    }
    if !errors.is_empty() || !ok {
        bail!(
            "Java's KafkaProducer failed ({} errors; first: {:?}); stderr tail:\n{}",
            errors.len(),
            errors.first(),
            tail_str(&stderr, 4000)
        );
    }
    Ok(JavaProduced {
        deliveries: all_delivered(deliveries)?,
        timestamps,
        config,
        client_instance_id,
    })
}

/// Options for [`java_consume_with`].
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Keep reading until at least this many records arrived (records may still be in flight
    /// when the read starts). `None`: stop at the end of every partition.
    pub expected_total: Option<usize>,
    /// Give up (with an error) after this long, JVM start not included.
    pub timeout: Duration,
    /// Java's `isolation.level`: with [`Isolation::ReadCommitted`] the read stops at each
    /// partition's last stable offset and skips aborted transactions' records.
    pub isolation: Isolation,
    /// Extra consumer properties (e.g. `security.protocol`, `ssl.*`, `sasl.*`), applied last.
    pub properties: Vec<(String, String)>,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            expected_total: None,
            timeout: Duration::from_secs(60),
            isolation: Isolation::ReadUncommitted,
            properties: Vec::new(),
        }
    }
}

/// Reads every record of `topic` from the beginning with Java's KafkaConsumer (assigned
/// partitions, no group, CRCs checked) until the end offsets and at least `expected_total`
/// records; sorted by `(partition, offset)`. `read_uncommitted`; see [`java_consume_with`].
///
/// ```no_run
/// use std::time::Duration;
/// let records = kproducer_testkit::java_consume("127.0.0.1:9092", "t", Some(10), Duration::from_secs(60))?;
/// assert!(records.len() >= 10);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_consume(
    bootstrap: &str,
    topic: &str,
    expected_total: Option<usize>,
    timeout: Duration,
) -> anyhow::Result<Vec<ConsumedRecord>> {
    java_consume_with(
        bootstrap,
        topic,
        &ConsumeOptions {
            expected_total,
            timeout,
            ..ConsumeOptions::default()
        },
    )
}

/// [`java_consume`] with Java's `isolation.level` and extra consumer properties: reads every
/// partition of `topic` from the beginning up to its end offset (with
/// [`Isolation::ReadCommitted`], its last stable offset: records of aborted transactions are
/// skipped and an open transaction stops the read) and at least `expected_total` records;
/// sorted by `(partition, offset)`.
///
/// ```no_run
/// use std::time::Duration;
/// use kproducer_testkit::{java_consume_with, ConsumeOptions, Isolation};
/// let committed = java_consume_with(
///     "127.0.0.1:9092",
///     "t",
///     &ConsumeOptions { isolation: Isolation::ReadCommitted, ..ConsumeOptions::default() },
/// )?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_consume_with(
    bootstrap: &str,
    topic: &str,
    options: &ConsumeOptions,
) -> anyhow::Result<Vec<ConsumedRecord>> {
    let lines = Helper::new("consume", bootstrap)
        .arg("--topic", topic)
        .arg("--expected", options.expected_total.unwrap_or(0))
        .arg("--timeout-ms", options.timeout.as_millis())
        .arg("--isolation", isolation_level(options.isolation))
        .props(&options.properties)
        // The JVM's own start on top of the read itself.
        .lines(options.timeout + Duration::from_secs(60), || {
            format!(
                "Java's KafkaConsumer ({}) failed on {topic:?}",
                isolation_level(options.isolation)
            )
        })?;
    let mut records = Vec::new();
    for line in lines {
        let headers = line
            .get("headers")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("no headers in {line}"))?
            .iter()
            .map(|h| {
                let key = h
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("bad header {h}"))?;
                Ok((key.to_owned(), bytes(h, "value")?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let timestamp_type = match line.get("timestampType").and_then(Value::as_str) {
            Some("CreateTime") => TimestampType::CreateTime,
            Some("LogAppendTime") => TimestampType::LogAppendTime,
            _ => TimestampType::NotAvailable,
        };
        records.push(ConsumedRecord {
            partition: int(&line, "partition")? as i32,
            offset: int(&line, "offset")?,
            key: bytes(&line, "key")?,
            value: bytes(&line, "value")?,
            headers,
            timestamp: int(&line, "timestamp")?,
            timestamp_type,
        });
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

/// Java's name of an isolation level.
fn isolation_level(isolation: Isolation) -> &'static str {
    match isolation {
        Isolation::ReadCommitted => "read_committed",
        Isolation::ReadUncommitted => "read_uncommitted",
    }
}

/// The committed offsets of consumer group `group`, `(topic, partition) → offset`, as Java's
/// Admin `listConsumerGroupOffsets` reports them (partitions without an offset are left out).
/// An unknown group gives an empty map. Shows what `sendOffsetsToTransaction` committed: an
/// aborted transaction's offsets must never appear. A transaction's offsets show once its
/// commit marker is in `__consumer_offsets`, which may be shortly after `commitTransaction`
/// returned: poll for the expected offset rather than read once.
///
/// ```no_run
/// use kproducer_testkit::java_committed_offsets;
/// let offsets = java_committed_offsets("127.0.0.1:9092", "my-group")?;
/// assert_eq!(offsets.get(&("input".to_string(), 0)), Some(&10));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_committed_offsets(
    bootstrap: &str,
    group: &str,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let lines = Helper::new("committed-offsets", bootstrap)
        .arg("--group", group)
        .lines(DEFAULT_TIMEOUT, || {
            format!("listConsumerGroupOffsets({group:?}) with Java's Admin failed")
        })?;
    let mut offsets = BTreeMap::new();
    for line in lines {
        let topic = line
            .get("topic")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("no topic in {line}"))?;
        offsets.insert(
            (topic.to_owned(), int(&line, "partition")? as i32),
            int(&line, "offset")?,
        );
    }
    Ok(offsets)
}

/// Offsets a [`java_produce_transactional`] run commits with each transaction
/// (`sendOffsetsToTransaction`), as a consume-transform-produce loop would: group `group`,
/// partition `partition` of `topic`, offset = the number of records sent so far including the
/// transaction's own (as if record `i` had been read from offset `i` of that partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsets {
    /// The consumer group the offsets are committed for (never joined: no member, no
    /// generation, as `KafkaConsumer::groupMetadata` gives before a subscription).
    pub group: String,
    /// The "input" topic the offsets refer to (it need not exist or hold records).
    pub topic: String,
    /// Its partition.
    pub partition: i32,
}

/// What [`java_produce_transactional`] does.
#[derive(Debug, Clone)]
pub struct JavaTxnOptions {
    /// `transactional.id`.
    pub transactional_id: String,
    /// Every record to send, in order; cut into transactions of [`per_transaction`](Self::per_transaction).
    pub records: Vec<TestRecord>,
    /// Records per transaction (the last one may have fewer); at least 1.
    pub per_transaction: usize,
    /// Abort every N-th transaction (1-based: transactions N, 2N, ...) instead of committing it.
    pub abort_every: Option<usize>,
    /// Neither commit nor abort the last transaction: its records are flushed (written,
    /// acknowledged) and the JVM halts, so it stays open on the brokers until
    /// `transaction.timeout.ms` (settable through `properties`) or until a newer producer with
    /// the same transactional id fences it.
    pub leave_last_open: bool,
    /// `sendOffsetsToTransaction` in every transaction; see [`TxnOffsets`].
    pub send_offsets: Option<TxnOffsets>,
    /// Extra producer properties (e.g. `transaction.timeout.ms`, `acks`), applied after
    /// `bootstrap.servers` and `transactional.id`.
    pub properties: Vec<(String, String)>,
    /// Bound on the whole run, JVM start included.
    pub timeout: Duration,
}

impl Default for JavaTxnOptions {
    fn default() -> Self {
        JavaTxnOptions {
            transactional_id: String::new(),
            records: Vec::new(),
            per_transaction: 1,
            abort_every: None,
            leave_last_open: false,
            send_offsets: None,
            properties: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// How a transaction of [`java_produce_transactional`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// `commitTransaction` returned.
    Committed,
    /// `abortTransaction` returned.
    Aborted,
    /// Left open ([`JavaTxnOptions::leave_last_open`]).
    Open,
}

/// A transaction as Java's Admin `describeTransactions` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    /// The broker id of the transaction coordinator.
    pub coordinator: i32,
    /// Java's `TransactionState` (`"Empty"`, `"Ongoing"`, `"PrepareCommit"`,
    /// `"CompleteCommit"`, `"CompleteAbort"`, ...); `None` when the coordinator does not know the
    /// id (then `coordinator` is the leader of its `__transaction_state` partition).
    pub state: Option<String>,
    /// The producer id (`-1` when unknown).
    pub producer_id: i64,
    /// The producer epoch (`-1` when unknown).
    pub producer_epoch: i32,
    /// `transaction.timeout.ms` as the coordinator holds it (`-1` when unknown).
    pub timeout_ms: i64,
    /// The partitions of the ongoing transaction (`"topic-partition"`).
    pub partitions: Vec<String>,
}

/// What Java's transactional producer did in [`java_produce_transactional`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaTxnProduced {
    /// Where each record was written, in input order (aborted ones too: they were written,
    /// then marked aborted).
    pub deliveries: Vec<Delivery>,
    /// The transaction (1-based) of each record, in input order.
    pub transaction_of: Vec<usize>,
    /// How each transaction ended (index 0 is transaction 1).
    pub outcomes: Vec<TxnOutcome>,
    /// Transactions committed.
    pub committed_transactions: usize,
    /// Transactions aborted.
    pub aborted_transactions: usize,
    /// Records in committed transactions.
    pub committed_records: usize,
    /// Records in aborted transactions.
    pub aborted_records: usize,
    /// `describeTransactions` of the transactional id right after the run (`None` when the
    /// last transaction was left open: the JVM halted first). `commitTransaction` and
    /// `abortTransaction` return once the coordinator has logged `PrepareCommit` /
    /// `PrepareAbort`; the markers are written after, so the state may still be `Prepare*`
    /// (and `read_committed` reads and committed offsets may lag by as much).
    pub description: Option<TxnDescription>,
}

impl JavaTxnProduced {
    /// The outcome of record `i`'s transaction.
    pub fn outcome_of(&self, i: usize) -> TxnOutcome {
        self.outcomes[self.transaction_of[i] - 1]
    }
}

/// Runs Java's transactional KafkaProducer (`transactional.id` set, so idempotent with
/// `acks=all`): `initTransactions`, then for every [`JavaTxnOptions::per_transaction`] records
/// `beginTransaction`, the sends, optionally `sendOffsetsToTransaction`
/// ([`JavaTxnOptions::send_offsets`]), `flush`, and `commitTransaction`, or `abortTransaction`
/// for every [`JavaTxnOptions::abort_every`]-th transaction. The reference for kproducer's
/// transactions: read back with [`Isolation::ReadCommitted`], only the committed records show.
///
/// Fails with Java's whole cause chain if any step fails (e.g. `ProducerFencedException`).
///
/// ```no_run
/// use kproducer_testkit::{
///     java_consume_with, java_produce_transactional, ConsumeOptions, Isolation, JavaTxnOptions,
///     TestRecord,
/// };
/// let records: Vec<TestRecord> = (0..6)
///     .map(|i| TestRecord::new(None, Some(format!("v{i}").into_bytes())))
///     .collect();
/// let run = java_produce_transactional(
///     "127.0.0.1:9092",
///     "t",
///     &JavaTxnOptions {
///         transactional_id: "txn-1".into(),
///         records,
///         per_transaction: 2,
///         abort_every: Some(3),
///         ..JavaTxnOptions::default()
///     },
/// )?;
/// assert_eq!((run.committed_transactions, run.aborted_transactions), (2, 1));
/// let committed = java_consume_with(
///     "127.0.0.1:9092",
///     "t",
///     &ConsumeOptions { isolation: Isolation::ReadCommitted, ..ConsumeOptions::default() },
/// )?;
/// assert_eq!(committed.len(), 4);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_produce_transactional(
    bootstrap: &str,
    topic: &str,
    options: &JavaTxnOptions,
) -> anyhow::Result<JavaTxnProduced> {
    if options.transactional_id.is_empty() {
        bail!("JavaTxnOptions::transactional_id is empty");
    }
    if options.per_transaction == 0 {
        bail!("JavaTxnOptions::per_transaction must be at least 1");
    }
    let mut run = Helper::new("produce-txn", bootstrap)
        .arg("--topic", topic)
        .arg("--transactional-id", &options.transactional_id)
        .arg("--per-transaction", options.per_transaction)
        .arg("--abort-every", options.abort_every.unwrap_or(0))
        .arg("--leave-last-open", options.leave_last_open);
    if let Some(o) = &options.send_offsets {
        run = run
            .arg("--offsets-group", &o.group)
            .arg("--offsets-topic", &o.topic)
            .arg("--offsets-partition", o.partition);
    }
    let (ok, lines, stderr) = run
        .props(&options.properties)
        .records(&options.records)
        .output(options.timeout)?;
    let n = options.records.len();
    let mut deliveries = vec![None; n];
    let mut transaction_of = vec![0; n];
    let mut outcomes = Vec::new();
    let mut description = None;
    let mut error = None;
    for line in lines {
        if let Some(e) = line.get("error") {
            error = Some(format!(
                "transaction {}: {}",
                line.get("txn").unwrap_or(&Value::Null),
                e.as_str().unwrap_or_default()
            ));
        } else if let Some(d) = line.get("describe") {
            description = Some(parse_description(d)?);
        } else if let Some(outcome) = line.get("outcome").and_then(Value::as_str) {
            let txn = usize::try_from(int(&line, "txn")?)?;
            if txn != outcomes.len() + 1 {
                bail!("transaction {txn} reported out of order: {line}");
            }
            outcomes.push(match outcome {
                "committed" => TxnOutcome::Committed,
                "aborted" => TxnOutcome::Aborted,
                "open" => TxnOutcome::Open,
                other => bail!("unknown transaction outcome {other:?}"),
            });
        } else {
            let i = record_index(&line, n)?;
            deliveries[i] = Some(delivery(&line)?);
            transaction_of[i] = usize::try_from(int(&line, "txn")?)?;
        }
    }
    if error.is_some() || !ok {
        bail!(
            "Java's transactional KafkaProducer ({:?}) failed: {}; stderr tail:\n{}",
            options.transactional_id,
            error.as_deref().unwrap_or("no error line"),
            tail_str(&stderr, 4000)
        );
    }
    let deliveries = all_delivered(deliveries)?;
    if outcomes.len() != n.div_ceil(options.per_transaction) {
        bail!(
            "{} transaction outcomes reported for {n} records in transactions of {}",
            outcomes.len(),
            options.per_transaction
        );
    }
    let count = |want: TxnOutcome| outcomes.iter().filter(|&&o| o == want).count();
    let records_with = |want: TxnOutcome| {
        transaction_of
            .iter()
            .filter(|&&t| outcomes[t - 1] == want)
            .count()
    };
    Ok(JavaTxnProduced {
        committed_transactions: count(TxnOutcome::Committed),
        aborted_transactions: count(TxnOutcome::Aborted),
        committed_records: records_with(TxnOutcome::Committed),
        aborted_records: records_with(TxnOutcome::Aborted),
        deliveries,
        transaction_of,
        outcomes,
        description,
    })
}

fn parse_description(d: &Value) -> anyhow::Result<TxnDescription> {
    let opt_int = |field: &str| d.get(field).and_then(Value::as_i64).unwrap_or(-1);
    Ok(TxnDescription {
        coordinator: int(d, "coordinator")? as i32,
        state: d.get("state").and_then(Value::as_str).map(str::to_owned),
        producer_id: opt_int("producerId"),
        producer_epoch: opt_int("epoch") as i32,
        timeout_ms: opt_int("timeoutMs"),
        partitions: d
            .get("partitions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// `transactional_id`'s transaction as Java's Admin `describeTransactions` reports it: its
/// coordinator, state, producer id and epoch, open partitions. For an id the coordinator does
/// not know, `state` is `None` and `coordinator` is still the broker that would coordinate it
/// (the leader of its `__transaction_state` partition).
///
/// ```no_run
/// let d = kproducer_testkit::java_describe_transaction("127.0.0.1:9092", "txn-1")?;
/// assert_eq!(d.state.as_deref(), Some("CompleteCommit"));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_describe_transaction(
    bootstrap: &str,
    transactional_id: &str,
) -> anyhow::Result<TxnDescription> {
    let line = Helper::new("describe-txn", bootstrap)
        .arg("--transactional-id", transactional_id)
        .lines(DEFAULT_TIMEOUT, || {
            format!("describeTransactions({transactional_id:?}) with Java's Admin failed")
        })?
        .pop()
        .ok_or_else(|| anyhow!("the helper printed no description"))?;
    parse_description(&line)
}

/// The broker id of `transactional_id`'s transaction coordinator (see
/// [`java_describe_transaction`]), e.g. to kill exactly that broker mid-transaction.
///
/// ```no_run
/// use kproducer_testkit::{java_transaction_coordinator, KafkaCluster};
/// let cluster = KafkaCluster::start(3)?;
/// let coordinator = java_transaction_coordinator(&cluster.bootstrap(), "txn-1")?;
/// cluster.kill(coordinator)?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_transaction_coordinator(
    bootstrap: &str,
    transactional_id: &str,
) -> anyhow::Result<i32> {
    let d = java_describe_transaction(bootstrap, transactional_id)?;
    if d.coordinator < 0 {
        bail!("no coordinator for transactional id {transactional_id:?}: {d:?}");
    }
    Ok(d.coordinator)
}

/// The cluster's finalized feature levels as Java's Admin `describeFeatures` reports them (an
/// ApiVersions round trip of Java's own); compare [`crate::api_versions_features`].
///
/// ```no_run
/// use kproducer_testkit::{java_features, TRANSACTION_VERSION};
/// assert_eq!(java_features("127.0.0.1:9092")?.level(TRANSACTION_VERSION), 2);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_features(bootstrap: &str) -> anyhow::Result<FinalizedFeatures> {
    java_set_features(bootstrap, &[], false)
}

/// Changes finalized feature levels on a running cluster, as `kafka-features upgrade` /
/// `downgrade` do (Java's Admin `updateFeatures`: `UPGRADE` when raising, `SAFE_DOWNGRADE`
/// when lowering, `UNSAFE_DOWNGRADE` instead with `unsafe_downgrade`), and returns the levels
/// `describeFeatures` reports afterwards. Brokers learn the new levels through the metadata
/// log: poll [`crate::api_versions_features`] before relying on them.
///
/// ```no_run
/// use kproducer_testkit::{java_set_features, TRANSACTION_VERSION};
/// let now = java_set_features("127.0.0.1:9092", &[(TRANSACTION_VERSION, 1)], false)?;
/// assert_eq!(now.level(TRANSACTION_VERSION), 1);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_set_features(
    bootstrap: &str,
    levels: &[(&str, i16)],
    unsafe_downgrade: bool,
) -> anyhow::Result<FinalizedFeatures> {
    let mut run = Helper::new("features", bootstrap);
    if !levels.is_empty() {
        let set = levels
            .iter()
            .map(|(f, l)| format!("{f}={l}"))
            .collect::<Vec<_>>()
            .join(",");
        run = run.arg("--set", set).arg("--unsafe", unsafe_downgrade);
    }
    let line = run
        .lines(DEFAULT_TIMEOUT, || {
            format!("updateFeatures/describeFeatures ({levels:?}) with Java's Admin failed")
        })?
        .pop()
        .ok_or_else(|| anyhow!("the helper printed no features"))?;
    let levels = line
        .get("finalized")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("no finalized features in {line}"))?
        .iter()
        .map(|(k, v)| {
            let level = v
                .as_i64()
                .and_then(|l| i16::try_from(l).ok())
                .ok_or_else(|| anyhow!("bad level for {k}: {v}"))?;
            Ok((k.clone(), level))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(FinalizedFeatures {
        epoch: int(&line, "epoch")?,
        levels,
    })
}

impl KafkaCluster {
    /// The broker id of `transactional_id`'s transaction coordinator; see
    /// [`java_transaction_coordinator`].
    pub fn transaction_coordinator(&self, transactional_id: &str) -> anyhow::Result<i32> {
        java_transaction_coordinator(&self.bootstrap(), transactional_id)
    }
}

/// One partition whose leadership [`java_move_leaders`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderMove {
    /// The partition.
    pub partition: i32,
    /// Its leader before the move (`-1` if it had none).
    pub from: i32,
    /// Its leader after the move, as Java's Admin `describeTopics` reported it.
    pub to: i32,
    /// From the helper's start of work (after the JVM started) until every leader of the
    /// batch was seen moved.
    pub elapsed: Duration,
}

/// Moves the leadership of partitions of `topic` without failing any broker: for each
/// `(partition, broker)` of `moves`, Java's Admin reorders the partition's replicas so `broker`
/// is the preferred one (`alterPartitionReassignments`, same replica set, so no data is
/// copied), runs a preferred leader election (`electLeaders(PREFERRED, ..)`, retried while the
/// broker is briefly out of the ISR) and waits until `describeTopics` shows `broker` leading.
///
/// `broker` must already be a replica of the partition. Bounded by `timeout` plus the JVM's
/// start.
///
/// ```no_run
/// use std::time::Duration;
/// use kproducer_testkit::{java_move_leaders, KafkaCluster};
/// let cluster = KafkaCluster::start(3)?;
/// cluster.create_topic("t", 2, 3)?;
/// let moved = java_move_leaders(&cluster.bootstrap(), "t", &[(0, 2), (1, 3)], Duration::from_secs(60))?;
/// assert_eq!(moved[0].to, 2);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn java_move_leaders(
    bootstrap: &str,
    topic: &str,
    moves: &[(i32, i32)],
    timeout: Duration,
) -> anyhow::Result<Vec<LeaderMove>> {
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    let spec = moves
        .iter()
        .map(|(p, b)| format!("{p}:{b}"))
        .collect::<Vec<_>>()
        .join(",");
    let lines = Helper::new("move-leader", bootstrap)
        .arg("--topic", topic)
        .arg("--moves", &spec)
        .arg("--timeout-ms", timeout.as_millis())
        // The JVM's own start on top of the moves themselves.
        .lines(timeout + Duration::from_secs(60), || {
            format!("moving leaders of {topic:?} ({spec}) with Java's Admin failed")
        })?;
    let mut moved = Vec::new();
    for line in lines {
        moved.push(LeaderMove {
            partition: int(&line, "partition")? as i32,
            from: int(&line, "from")? as i32,
            to: int(&line, "to")? as i32,
            elapsed: Duration::from_millis(u64::try_from(int(&line, "ms")?).unwrap_or(0)),
        });
    }
    for &(p, b) in moves {
        if !moved.iter().any(|m| m.partition == p && m.to == b) {
            bail!("the helper did not report partition {p} moved to broker {b}: {moved:?}");
        }
    }
    Ok(moved)
}

impl KafkaCluster {
    /// Makes `to` the leader of `topic`'s `partition` by a controlled move (no broker fails);
    /// see [`java_move_leaders`]. Bounded by 60 s plus the helper JVM's start.
    pub fn move_leader(&self, topic: &str, partition: i32, to: i32) -> anyhow::Result<LeaderMove> {
        let mut moved = java_move_leaders(
            &self.bootstrap(),
            topic,
            &[(partition, to)],
            Duration::from_secs(60),
        )?;
        moved
            .pop()
            .ok_or_else(|| anyhow!("no move reported for partition {partition}"))
    }

    /// Several controlled moves at once (one helper run): `(partition, new leader)` pairs.
    pub fn move_leaders(
        &self,
        topic: &str,
        moves: &[(i32, i32)],
    ) -> anyhow::Result<Vec<LeaderMove>> {
        java_move_leaders(&self.bootstrap(), topic, moves, Duration::from_secs(60))
    }
}

/// One run of the helper: `Interop <command> --bootstrap B`, options, records on stdin.
pub(crate) struct Helper {
    args: Vec<String>,
    stdin: Vec<u8>,
}

impl Helper {
    pub(crate) fn new(command: &str, bootstrap: &str) -> Helper {
        Helper {
            args: vec![command.into(), "--bootstrap".into(), bootstrap.into()],
            stdin: Vec::new(),
        }
    }

    /// `name value`.
    pub(crate) fn arg(mut self, name: &str, value: impl std::fmt::Display) -> Helper {
        self.args.push(name.into());
        self.args.push(value.to_string());
        self
    }

    /// `--prop key=value` for each client property.
    fn props<K: std::fmt::Display, V: std::fmt::Display>(mut self, props: &[(K, V)]) -> Helper {
        for (k, v) in props {
            self = self.arg("--prop", format_args!("{k}={v}"));
        }
        self
    }

    /// `records` on stdin, one [`encode_record`] line each.
    fn records(mut self, records: &[TestRecord]) -> Helper {
        for r in records {
            self.stdin.extend_from_slice(encode_record(r).as_bytes());
            self.stdin.push(b'\n');
        }
        self
    }

    /// Runs it: (exit ok, its JSON lines, stderr).
    pub(crate) fn output(self, timeout: Duration) -> anyhow::Result<(bool, Vec<Value>, Vec<u8>)> {
        let (ok, stdout, stderr) = run_helper(&self.args, self.stdin, timeout)?;
        Ok((ok, json_lines(&stdout)?, stderr))
    }

    /// Runs it and returns its JSON lines; if it fails, the error is `failed()` and the tail
    /// of its stderr.
    fn lines(
        self,
        timeout: Duration,
        failed: impl FnOnce() -> String,
    ) -> anyhow::Result<Vec<Value>> {
        let (ok, stdout, stderr) = run_helper(&self.args, self.stdin, timeout)?;
        if !ok {
            bail!("{}; stderr tail:\n{}", failed(), tail_str(&stderr, 4000));
        }
        json_lines(&stdout)
    }
}

/// The record index `i` of a helper line about record `i` of `n`.
fn record_index(line: &Value, n: usize) -> anyhow::Result<usize> {
    line.get("i")
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| i < n)
        .ok_or_else(|| anyhow!("unexpected helper line {line}"))
}

/// Where a helper line says a record went.
fn delivery(line: &Value) -> anyhow::Result<Delivery> {
    Ok(Delivery {
        partition: int(line, "partition")? as i32,
        offset: int(line, "offset")?,
    })
}

/// Every record's delivery, or an error naming the first record without one.
fn all_delivered(deliveries: Vec<Option<Delivery>>) -> anyhow::Result<Vec<Delivery>> {
    deliveries
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.ok_or_else(|| anyhow!("no delivery reported for record {i}")))
        .collect()
}

/// `partition \t timestamp \t key \t value [\t hkey:hvalue]...`, base64 fields, `-` for null.
fn encode_record(r: &TestRecord) -> String {
    let opt = |b: &Option<Vec<u8>>| b.as_ref().map_or_else(|| "-".to_owned(), |b| base64(b));
    let mut line = format!(
        "{}\t{}\t{}\t{}",
        r.partition
            .map_or_else(|| "-".to_owned(), |p| p.to_string()),
        r.timestamp
            .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        opt(&r.key),
        opt(&r.value)
    );
    for (k, v) in &r.headers {
        let _ = write!(line, "\t{}:{}", base64(k.as_bytes()), opt(v));
    }
    line
}

/// Runs the helper with `args`, feeding `stdin`; returns (exit ok, stdout, stderr).
fn run_helper(
    args: &[String],
    stdin: Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<(bool, Vec<u8>, Vec<u8>)> {
    let lib = kafka_lib()?;
    let classes = interop_classes()?;
    let work = tempfile::tempdir().context("creating a helper work dir")?;
    let out_path = work.path().join("stdout");
    let err_path = work.path().join("stderr");
    let log4j = work.path().join("log4j2.properties");
    std::fs::write(&log4j, CLIENT_LOG4J2)?;
    let mut cmd = Command::new(java_bin("java"));
    cmd.args(["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
        .arg("-cp")
        .arg(format!("{}:{}", classes.display(), lib_classpath(&lib)))
        .arg("Interop")
        .args(args)
        .stdin(Stdio::piped())
        // Files, not pipes: the helper may write a lot while we are still feeding stdin.
        .stdout(Stdio::from(std::fs::File::create(&out_path)?))
        .stderr(Stdio::from(std::fs::File::create(&err_path)?));
    let mut child = crate::spawn::spawn_tied_to_process(cmd).context("spawning java (Interop)")?;
    let deadline = Instant::now() + timeout;
    let feeder = child.stdin.take().map(|mut pipe| {
        std::thread::spawn(move || {
            // A helper that died early closes the pipe; its exit status reports why.
            let _ = pipe.write_all(&stdin);
        })
    });
    let status = wait_until(&mut child, deadline)?;
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = std::fs::read(&out_path)?;
    let stderr = std::fs::read(&err_path)?;
    match status {
        Some(s) => Ok((s.success(), stdout, stderr)),
        None => bail!(
            "the Java interop helper ({}) did not finish within {timeout:?}; stderr tail:\n{}",
            args.first().map_or("", String::as_str),
            tail(&err_path, 4000)
        ),
    }
}

/// The directory with `Interop.class` matching this crate's `Interop.java`.
fn interop_classes() -> anyhow::Result<PathBuf> {
    static COMPILED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| find_or_compile().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn find_or_compile() -> anyhow::Result<PathBuf> {
    let home = kafka_home()?;
    let setup = home.join("interop");
    if std::fs::read_to_string(setup.join("Interop.java"))
        .ok()
        .as_deref()
        == Some(INTEROP_SOURCE)
        && setup.join("Interop.class").is_file()
    {
        return Ok(setup);
    }
    // Interop.java changed since scripts/setup.sh ran: compile a private copy for this process.
    let lib = kafka_lib()?;
    let dir = tempfile::Builder::new()
        .prefix("kproducer-interop-")
        .tempdir()?
        .keep();
    let src = dir.join("Interop.java");
    std::fs::write(&src, INTEROP_SOURCE)?;
    let out = Command::new(java_bin("javac"))
        .arg("-nowarn")
        .arg("-d")
        .arg(&dir)
        .arg("-cp")
        .arg(lib_classpath(&lib))
        .arg(&src)
        .output()
        .context("running javac (install a JDK 17+, or run scripts/setup.sh)")?;
    if !out.status.success() {
        bail!(
            "javac Interop.java failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(dir)
}

fn json_lines(stdout: &[u8]) -> anyhow::Result<Vec<Value>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("helper output line {l:?}")))
        .collect()
}

fn int(v: &Value, field: &str) -> anyhow::Result<i64> {
    v.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| anyhow!("no integer {field:?} in {v}"))
}

fn bytes(v: &Value, field: &str) -> anyhow::Result<Option<Vec<u8>>> {
    match v.get(field) {
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => base64_decode(s).map(Some),
        _ => bail!("no base64 {field:?} in {v}"),
    }
}

pub(crate) fn tail_str(b: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(b);
    let start = s.len().saturating_sub(max);
    let start = (start..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_owned()
}

pub(crate) const STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(crate) const URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with padding (what `java.util.Base64.getEncoder()` writes).
fn base64(data: &[u8]) -> String {
    base64_encode_with(data, STANDARD, true)
}

pub(crate) fn base64_encode_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = STANDARD
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| anyhow!("invalid base64 character {:?}", char::from(c)))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(base64_encode_with(&[0xfb, 0xff], URL_SAFE, false), "-_8");
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64(&data)).unwrap(), data);
        }
        assert!(base64_decode("a*b").is_err());
    }

    #[test]
    fn records_encode_nulls_empties_and_headers() {
        let r = TestRecord::new(None, Some(Vec::new()))
            .with_header("h", None)
            .with_header("k", Some(b"v".to_vec()))
            .with_partition(2)
            .with_timestamp(7);
        assert_eq!(encode_record(&r), "2\t7\t-\t\taA==:-\taw==:dg==");
    }
}
