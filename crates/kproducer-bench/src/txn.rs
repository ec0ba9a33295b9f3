//! Transactional throughput (issue #17): every client sends the same records non-transactionally
//! (idempotent, `acks=all`) and in transactions committed every [`TxnRun::transaction_ms`], as
//! Java's perf test does (a transaction opens with its first record and commits once it is that
//! old, the last one at the end). The ack sink cannot run transactions, so the target is a real
//! broker (Apache Kafka from the testkit); the `txn` binary drives these loops.
//!
//! kproducer and librdkafka run the library loops here ([`run_kproducer_txn`],
//! [`run_rdkafka_txn`]); Java's ProducerPerformance and `kproducer perf` run as programs with
//! `--transactional-id` and `--transaction-duration-ms` ([`run_perf_txn`]). Each writes
//! [`TxnResult::written`] records (warm-up included), which a read_committed consumer counts
//! afterwards.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{Producer as _, ThreadedProducer};
use serde::{Deserialize, Serialize};

use crate::client::{
    count_kproducer, kproducer_counts, runtime, send_rd, wait_for_reports, ClientResult, Meter,
    Phase, Reports, Settings, Workload,
};
use crate::peers::{java_warmup_records, run_java_with, run_kproducer_perf_with, PerfOptions};

/// `linger.ms` with equal settings (as the main benchmark's).
pub const EQUAL_LINGER_MS: u64 = 5;
/// `batch.size` with equal settings (Java's default; 1 MiB with [`Settings::Equal1m`]).
pub const EQUAL_BATCH_SIZE: usize = 16_384;
/// Longest a commit (or `init_transactions`) may take in the library loops.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// One client run: the workload, transactional or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnRun {
    /// Record size and settings (`acks` is always `all`, compression `none`).
    pub workload: Workload,
    /// Commit a transaction every this many ms; `None`: not transactional (idempotent).
    pub transaction_ms: Option<u64>,
    /// The `transactional.id` (used only when [`TxnRun::transaction_ms`] is set).
    pub transactional_id: String,
}

impl TxnRun {
    /// The workload of `record_size` bytes at `settings`, `acks=all`, no compression.
    pub fn workload(record_size: usize, settings: Settings) -> Workload {
        Workload {
            record_size,
            acks: "all".into(),
            compression: "none".into(),
            linger_ms: EQUAL_LINGER_MS,
            batch_size: EQUAL_BATCH_SIZE,
            settings,
        }
    }

    /// Producer properties, Java's names (kproducer and the perf tools take them as they are):
    /// `acks=all`, idempotence on, no compression; with equal settings also `linger.ms`,
    /// `batch.size`, 5 requests in flight and a 32 MiB buffer. The `transactional.id` is not
    /// among them (the perf tools get it as `--transactional-id`).
    pub fn properties(&self) -> Vec<(String, String)> {
        let w = &self.workload;
        let mut p: Vec<(String, String)> = vec![
            ("acks".into(), "all".into()),
            ("enable.idempotence".into(), "true".into()),
            ("compression.type".into(), w.compression.clone()),
        ];
        if w.settings != Settings::Defaults {
            p.extend([
                ("linger.ms".into(), w.linger_ms.to_string()),
                ("batch.size".into(), w.effective_batch_size().to_string()),
                ("max.in.flight.requests.per.connection".into(), "5".into()),
                ("buffer.memory".into(), "33554432".into()),
            ]);
        }
        p
    }

    /// [`TxnRun::properties`] for librdkafka: `buffer.memory` becomes
    /// `queue.buffering.max.kbytes` (with the message-count bound lifted).
    pub fn rdkafka_properties(&self) -> Vec<(String, String)> {
        self.properties()
            .into_iter()
            .flat_map(|(k, v)| match k.as_str() {
                "buffer.memory" => vec![
                    (
                        "queue.buffering.max.kbytes".to_string(),
                        (v.parse::<u64>().unwrap_or(33_554_432) / 1024).to_string(),
                    ),
                    (
                        "queue.buffering.max.messages".to_string(),
                        "10000000".to_string(),
                    ),
                ],
                _ => vec![(k, v)],
            })
            .collect()
    }

    /// "txn" or "non-txn".
    pub fn mode(&self) -> &'static str {
        if self.transaction_ms.is_some() {
            "txn"
        } else {
            "non-txn"
        }
    }
}

/// One client run's measurements and what it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnResult {
    /// The measured phase (warm-up excluded).
    pub result: ClientResult,
    /// Records written to the topic in all, warm-up included: what read_committed must count.
    pub written: u64,
    /// Transactions committed in the measured phase (the library loops; `None` for the perf
    /// tools, which do not say).
    pub transactions: Option<u64>,
}

/// Runs `client` (kproducer, librdkafka, java or kproducer-perf) for `records` records.
pub fn run_client_txn(
    client: &str,
    bootstrap: &str,
    topic: &str,
    run: &TxnRun,
    records: u64,
) -> Result<TxnResult> {
    match client {
        "kproducer" => run_kproducer_txn(bootstrap, topic, run, records),
        "librdkafka" => run_rdkafka_txn(bootstrap, topic, run, records),
        "java" | "kproducer-perf" => run_perf_txn(client, bootstrap, topic, run, records),
        other => bail!("unknown client {other}"),
    }
}

/// kproducer's loop (on a 2-worker tokio runtime, as the main benchmark's): a warm-up record
/// (in a transaction of its own when transactional), then `records` records as fast as they go
/// with a counting callback, committing as Java's perf test does; the time runs to the last
/// acknowledgement (`flush`, or the final commit, which flushes).
pub fn run_kproducer_txn(
    bootstrap: &str,
    topic: &str,
    run: &TxnRun,
    records: u64,
) -> Result<TxnResult> {
    runtime()?.block_on(kproducer_loop(bootstrap, topic, run, records))
}

async fn kproducer_loop(
    bootstrap: &str,
    topic: &str,
    run: &TxnRun,
    records: u64,
) -> Result<TxnResult> {
    let mut props = run.properties();
    props.push(("bootstrap.servers".into(), bootstrap.into()));
    if run.transaction_ms.is_some() {
        props.push(("transactional.id".into(), run.transactional_id.clone()));
    }
    let producer: Producer<Vec<u8>, Bytes> = Producer::new(ProducerConfig::from_map(props)?)?;
    let payloads = run.workload.payloads();
    let topic: Arc<str> = Arc::from(topic);
    let txn = run.transaction_ms.map(Duration::from_millis);

    // Warm-up: producer id (and the transaction coordinator), metadata, connection.
    if txn.is_some() {
        producer
            .init_transactions()
            .await
            .map_err(|e| anyhow!("init_transactions: {e}"))?;
        producer
            .begin_transaction()
            .map_err(|e| anyhow!("begin_transaction: {e}"))?;
    }
    producer
        .send(ProducerRecord::new(&topic, payloads[0].clone()))
        .await?
        .await
        .context("warm-up record")?;
    if txn.is_some() {
        producer
            .commit_transaction()
            .await
            .map_err(|e| anyhow!("commit_transaction (warm-up): {e}"))?;
    }

    // As the main benchmark's loop: counters the callback reaches without capturing anything.
    let (acked0, failed0) = kproducer_counts();
    let mut schedule = Schedule::new(txn);
    let meter = Meter::start();
    for i in 0..records {
        if schedule.to_begin() {
            producer
                .begin_transaction()
                .map_err(|e| anyhow!("begin_transaction: {e}"))?;
            schedule.begun();
        }
        let record = ProducerRecord::new(
            &topic,
            payloads[i as usize & (crate::payload::PAYLOADS - 1)].clone(),
        );
        producer
            .send_with_callback(record, move |r| count_kproducer(&r))
            .await?;
        if schedule.to_commit() {
            commit_kproducer(&producer).await?;
            schedule.committed();
        }
    }
    if schedule.open() {
        commit_kproducer(&producer).await?;
        schedule.committed();
    }
    producer.flush().await;
    let measured = meter.stop();
    producer.close(Duration::from_secs(30)).await;
    let (acked, failed) = kproducer_counts();
    Ok(TxnResult {
        result: measured.result("kproducer", acked - acked0, failed - failed0, (None, None)),
        written: records + 1,
        transactions: schedule.transactions(),
    })
}

/// Java's perf-test transaction schedule: a transaction opens with its first record and
/// commits once it is [`TxnRun::transaction_ms`] old (the last one at the end); no
/// transactions when not transactional.
struct Schedule {
    every: Option<Duration>,
    started: Option<Instant>,
    committed: u64,
}

impl Schedule {
    fn new(every: Option<Duration>) -> Schedule {
        Schedule {
            every,
            started: None,
            committed: 0,
        }
    }

    /// A transaction is to begin before the next record.
    fn to_begin(&self) -> bool {
        self.every.is_some() && self.started.is_none()
    }

    /// The transaction began now.
    fn begun(&mut self) {
        self.started = Some(Instant::now());
    }

    /// The open transaction is old enough to commit.
    fn to_commit(&self) -> bool {
        matches!((self.every, self.started), (Some(d), Some(s)) if s.elapsed() >= d)
    }

    /// A transaction is open (to commit at the end).
    fn open(&self) -> bool {
        self.started.is_some()
    }

    /// The open transaction committed.
    fn committed(&mut self) {
        self.committed += 1;
        self.started = None;
    }

    /// Transactions committed, `None` when not transactional.
    fn transactions(&self) -> Option<u64> {
        self.every.map(|_| self.committed)
    }
}

async fn commit_kproducer(producer: &Producer<Vec<u8>, Bytes>) -> Result<()> {
    tokio::time::timeout(TXN_TIMEOUT, producer.commit_transaction())
        .await
        .map_err(|_| anyhow!("commit_transaction took over {TXN_TIMEOUT:?}"))?
        .map_err(|e| anyhow!("commit_transaction: {e}"))
}

/// librdkafka's loop through `ThreadedProducer` (its thread serves the delivery reports), as
/// the main benchmark's, with `init_transactions` / `begin_transaction` /
/// `commit_transaction` (which flushes) on Java's perf test's schedule.
pub fn run_rdkafka_txn(
    bootstrap: &str,
    topic: &str,
    run: &TxnRun,
    records: u64,
) -> Result<TxnResult> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    for (k, v) in run.rdkafka_properties() {
        cfg.set(k, v);
    }
    let txn = run.transaction_ms.map(Duration::from_millis);
    if txn.is_some() {
        cfg.set("transactional.id", &run.transactional_id);
    }
    let producer: ThreadedProducer<Reports> = cfg
        .create_with_context(Reports::new(Instant::now(), None))
        .context("creating the librdkafka producer")?;
    let payloads = run.workload.payloads();

    if txn.is_some() {
        producer
            .init_transactions(TXN_TIMEOUT)
            .map_err(|e| anyhow!("init_transactions: {e}"))?;
        producer
            .begin_transaction()
            .map_err(|e| anyhow!("begin_transaction: {e}"))?;
    }
    send_rd(&producer, topic, &payloads[0], 0)?;
    if txn.is_some() {
        producer
            .commit_transaction(TXN_TIMEOUT)
            .map_err(|e| anyhow!("commit_transaction (warm-up): {e}"))?;
    }
    wait_for_reports(&producer, 1)?;
    let ctx = producer.context();
    if ctx.failed.load(Ordering::Relaxed) > 0 {
        bail!("librdkafka warm-up record failed");
    }
    let acked0 = ctx.acked.load(Ordering::Relaxed);

    let commit = || {
        producer
            .commit_transaction(TXN_TIMEOUT)
            .map_err(|e| anyhow!("commit_transaction: {e}"))
    };
    let mut schedule = Schedule::new(txn);
    let meter = Meter::start();
    for i in 0..records {
        if schedule.to_begin() {
            producer
                .begin_transaction()
                .map_err(|e| anyhow!("begin_transaction: {e}"))?;
            schedule.begun();
        }
        send_rd(
            &producer,
            topic,
            &payloads[i as usize & (crate::payload::PAYLOADS - 1)],
            0,
        )?;
        if schedule.to_commit() {
            commit()?;
            schedule.committed();
        }
    }
    if schedule.open() {
        commit()?;
        schedule.committed();
    }
    wait_for_reports(&producer, 1 + records)?;
    let measured = meter.stop();
    Ok(TxnResult {
        result: measured.result(
            "librdkafka",
            ctx.acked.load(Ordering::Relaxed) - acked0,
            ctx.failed.load(Ordering::Relaxed),
            (None, None),
        ),
        written: records + 1,
        transactions: schedule.transactions(),
    })
}

/// Java's ProducerPerformance or `kproducer perf` with [`TxnRun::properties`] and, when
/// transactional, `--transactional-id ID --transaction-duration-ms MS`; `records` steady-state
/// records after the perf tools' usual warm-up ([`java_warmup_records`]), which is written too.
pub fn run_perf_txn(
    client: &str,
    bootstrap: &str,
    topic: &str,
    run: &TxnRun,
    records: u64,
) -> Result<TxnResult> {
    let phase = Phase {
        records,
        rate: None,
    };
    let mut args = Vec::new();
    if let Some(ms) = run.transaction_ms {
        args.extend([
            "--transactional-id".to_string(),
            run.transactional_id.clone(),
            "--transaction-duration-ms".to_string(),
            ms.to_string(),
        ]);
    }
    let opts = PerfOptions {
        properties: Some(run.properties()),
        args,
    };
    let result = match client {
        "java" => run_java_with(bootstrap, topic, &run.workload, phase, &opts)?,
        "kproducer-perf" => run_kproducer_perf_with(bootstrap, topic, &run.workload, phase, &opts)?,
        other => bail!("{other} is not a perf tool"),
    };
    Ok(TxnResult {
        result,
        written: records + java_warmup_records(phase),
        transactions: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(settings: Settings, transaction_ms: Option<u64>) -> TxnRun {
        TxnRun {
            workload: TxnRun::workload(100, settings),
            transaction_ms,
            transactional_id: "t".into(),
        }
    }

    #[test]
    fn the_schedule_commits_old_transactions_and_the_last_open_one() {
        let mut s = Schedule::new(Some(Duration::ZERO));
        assert!(s.to_begin() && !s.to_commit());
        s.begun();
        assert!(!s.to_begin() && s.to_commit() && s.open());
        s.committed();
        assert!(s.to_begin() && !s.open());
        s.begun();
        s.committed();
        assert_eq!(s.transactions(), Some(2));
        let s = Schedule::new(None);
        assert!(!s.to_begin() && !s.to_commit() && !s.open());
        assert_eq!(s.transactions(), None);
    }

    #[test]
    fn defaults_set_only_acks_idempotence_and_compression() {
        let keys: Vec<String> = run(Settings::Defaults, Some(100))
            .properties()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["acks", "enable.idempotence", "compression.type"]);
    }

    #[test]
    fn equal_settings_keep_idempotence_and_translate_the_buffer_for_librdkafka() {
        let r = run(Settings::Equal, None);
        let p = r.properties();
        assert!(p.contains(&("enable.idempotence".into(), "true".into())));
        assert!(p.contains(&("batch.size".into(), "16384".into())));
        let rd = r.rdkafka_properties();
        assert!(rd.contains(&("queue.buffering.max.kbytes".into(), "32768".into())));
        assert!(!rd.iter().any(|(k, _)| k == "buffer.memory"));
        assert_eq!(r.mode(), "non-txn");
        assert_eq!(run(Settings::Equal1m, Some(100)).mode(), "txn");
    }
}
