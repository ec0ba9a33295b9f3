//! Shared machinery of the fault suite: a producer run that records every record's outcome and
//! how long it took to resolve, a progress signal for faults keyed to the run's progress, and
//! the read-back analysis (lost, duplicated, reordered).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kproducer::{ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use kproducer_testkit::{read_all, Broker, ConsumedRecord, FaultProxy};
use tokio::sync::{watch, Notify};

/// Partitions of every scenario's topic.
pub const PARTITIONS: i32 = 6;
/// Records per scenario.
pub const RECORDS: usize = 100_000;
/// How often the send loop publishes its progress.
const PROGRESS_EVERY: usize = 500;

/// The producer settings every scenario shares: idempotent, bounded delivery time.
pub fn base_config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), bootstrap.into()),
        ("enable.idempotence".into(), "true".into()),
        ("acks".into(), "all".into()),
        ("linger.ms".into(), "5".into()),
        ("request.timeout.ms".into(), "10000".into()),
        ("delivery.timeout.ms".into(), "30000".into()),
    ];
    for (k, v) in extra {
        props.retain(|(key, _)| key != k);
        props.push((k.to_string(), v.to_string()));
    }
    ProducerConfig::from_map(props).expect("valid producer config")
}

/// Number of records whose future resolved (acknowledged or failed) so far. Faults keyed to it
/// are spread over the delivery, not bunched at the start (sending only buffers, so the send
/// loop runs far ahead of the broker).
pub struct Progress(watch::Receiver<usize>);

impl Progress {
    /// Waits until at least `n` records resolved (or the run ended).
    pub async fn resolved(&mut self, n: usize) {
        let _ = self.0.wait_for(|&done| done >= n).await;
    }
}

/// What happened to one record.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub result: Result<RecordMetadata, ProduceError>,
    /// From the call to `send` to the callback.
    pub took: Duration,
}

/// Each record's resolution, filled in by its callback.
type Slots = Arc<Mutex<Vec<Option<Resolution>>>>;

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub topic: String,
    pub records: usize,
    /// Indexed by record number; `None` only if a callback never ran (a hang, reported as such).
    pub resolutions: Vec<Option<Resolution>>,
    pub elapsed: Duration,
    pub delivery_timeout: Duration,
}

impl Run {
    pub fn acked(&self) -> usize {
        self.resolutions
            .iter()
            .filter(|r| matches!(r, Some(Resolution { result: Ok(_), .. })))
            .count()
    }

    pub fn errors(&self) -> Vec<&ProduceError> {
        self.resolutions
            .iter()
            .filter_map(|r| r.as_ref().and_then(|r| r.result.as_ref().err()))
            .collect()
    }

    pub fn unresolved(&self) -> usize {
        self.resolutions.iter().filter(|r| r.is_none()).count()
    }

    pub fn worst(&self) -> Duration {
        self.resolutions
            .iter()
            .flatten()
            .map(|r| r.took)
            .max()
            .unwrap_or_default()
    }
}

/// Partition and per-partition sequence of record `i`: round robin over the partitions, so
/// the values of one partition count 0, 1, 2, … in send order.
pub fn placement(i: usize) -> (i32, usize) {
    ((i % PARTITIONS as usize) as i32, i / PARTITIONS as usize)
}

fn value_of(partition: i32, seq: usize) -> String {
    // Fixed width so every record has the same size; the padding makes batches realistic.
    format!("{partition:02}-{seq:08}-kproducer-fault-suite-payload")
}

fn parse_value(v: &[u8]) -> Option<(i32, usize)> {
    let s = std::str::from_utf8(v).ok()?;
    let mut parts = s.splitn(3, '-');
    let p = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((p, seq))
}

/// Sends `records` records to `topic` (explicit partitions, round robin) while `fault` runs
/// concurrently with a [`Progress`] handle, then waits for every callback (bounded by
/// delivery.timeout.ms + 30 s) and closes the producer.
pub async fn produce<F, Fut>(config: ProducerConfig, topic: &str, records: usize, fault: F) -> Run
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let delivery_timeout = config.delivery_timeout();
    let producer: Producer<String, String> = Producer::new(config).expect("producer");
    // Metadata first, so the run measures delivery and not topic discovery.
    producer
        .partitions_for(topic)
        .await
        .expect("topic metadata");

    let (progress_tx, progress_rx) = watch::channel(0usize);
    let progress_tx = Arc::new(progress_tx);
    let fault_task = tokio::spawn(fault(Progress(progress_rx)));

    let resolutions: Slots = Arc::new(Mutex::new(vec![None; records]));
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(records));
    let all_done = Arc::new(Notify::new());
    let start = Instant::now();
    for i in 0..records {
        let (p, seq) = placement(i);
        let record = ProducerRecord::new(topic, value_of(p, seq)).with_partition(p);
        let sent_at = Instant::now();
        let slots = resolutions.clone();
        let remaining = remaining.clone();
        let all_done = all_done.clone();
        let progress = progress_tx.clone();
        producer
            .send_with_callback(record, move |result| {
                let took = sent_at.elapsed();
                if let Some(slot) = slots.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i) {
                    *slot = Some(Resolution { result, took });
                }
                let left = remaining.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) - 1;
                let done = records - left;
                if done.is_multiple_of(PROGRESS_EVERY) || left == 0 {
                    progress.send_replace(done);
                }
                if left == 0 {
                    all_done.notify_one();
                }
            })
            .await
            .expect("send accepted");
    }
    let wait = delivery_timeout + Duration::from_secs(30);
    let waited = tokio::time::timeout(wait, async {
        // notify_one keeps a permit, so a notification sent before this await is not lost.
        while remaining.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            all_done.notified().await;
        }
    })
    .await;
    let elapsed = start.elapsed();
    if waited.is_err() {
        eprintln!(
            "{} record(s) still unresolved {wait:?} after the last send",
            remaining.load(std::sync::atomic::Ordering::SeqCst)
        );
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        producer.close(Duration::from_secs(10)),
    )
    .await
    .expect("close is bounded");
    // Closing dropped the callbacks and their progress handles, so a fault still waiting for
    // progress that never came ends now.
    drop(progress_tx);
    tokio::time::timeout(Duration::from_secs(60), fault_task)
        .await
        .expect("fault task ends")
        .expect("fault task did not panic");
    let resolutions = std::mem::take(&mut *resolutions.lock().unwrap_or_else(|e| e.into_inner()));
    Run {
        topic: topic.to_owned(),
        records,
        resolutions,
        elapsed,
        delivery_timeout,
    }
}

/// The read-back judgement of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub scenario: String,
    pub records: usize,
    pub acked: usize,
    pub failed: usize,
    pub unresolved: usize,
    pub read: usize,
    /// Acknowledged records not in the log.
    pub lost: usize,
    /// Extra copies in the log.
    pub duplicated: usize,
    /// First copies that came after a higher sequence of the same partition.
    pub reordered: usize,
    /// Acknowledged offsets that hold another record.
    pub wrong_offset: usize,
    /// Records in the log whose value this run did not send.
    pub foreign: usize,
    /// Records whose future failed but that are in the log.
    pub failed_but_written: usize,
    pub worst: Duration,
    pub elapsed: Duration,
}

impl Report {
    /// One line for the lead's table.
    pub fn line(&self) -> String {
        format!(
            "FAULTS {:<34} records={} acked={} failed={} unresolved={} read={} lost={} dup={} reordered={} wrong_offset={} failed_but_written={} worst_resolution_ms={} run_s={:.1}",
            self.scenario,
            self.records,
            self.acked,
            self.failed,
            self.unresolved,
            self.read,
            self.lost,
            self.duplicated,
            self.reordered,
            self.wrong_offset,
            self.failed_but_written,
            self.worst.as_millis(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Reads the topic back with librdkafka and compares it with what the run acknowledged.
pub async fn judge(scenario: &str, bootstrap: &str, run: &Run) -> Report {
    let bootstrap = bootstrap.to_owned();
    let topic = run.topic.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_all(&bootstrap, &topic, None, Duration::from_secs(120))
    })
    .await
    .expect("verifier thread")
    .expect("verifier read the topic");
    let report = analyse(scenario, run, &read);
    println!("{}", report.line());
    report
}

fn analyse(scenario: &str, run: &Run, read: &[ConsumedRecord]) -> Report {
    let mut copies: HashMap<(i32, usize), usize> = HashMap::new();
    let mut by_offset: HashMap<(i32, i64), (i32, usize)> = HashMap::new();
    let mut max_first: HashMap<i32, usize> = HashMap::new();
    let mut report = Report {
        scenario: scenario.to_owned(),
        records: run.records,
        acked: run.acked(),
        failed: run.errors().len(),
        unresolved: run.unresolved(),
        read: read.len(),
        worst: run.worst(),
        elapsed: run.elapsed,
        ..Report::default()
    };
    // `read` is sorted by (partition, offset).
    for r in read {
        let Some((p, seq)) = r.value.as_deref().and_then(parse_value) else {
            report.foreign += 1;
            continue;
        };
        if p != r.partition || seq * PARTITIONS as usize + p as usize >= run.records {
            report.foreign += 1;
            continue;
        }
        by_offset.insert((r.partition, r.offset), (p, seq));
        let n = copies.entry((p, seq)).or_insert(0);
        *n += 1;
        if *n > 1 {
            report.duplicated += 1;
            continue;
        }
        let max = max_first.entry(p).or_insert(0);
        if seq < *max {
            report.reordered += 1;
        }
        *max = (*max).max(seq);
    }
    for (i, r) in run.resolutions.iter().enumerate() {
        let key = placement(i);
        let md = match r {
            Some(Resolution { result: Ok(md), .. }) => md,
            Some(Resolution { result: Err(_), .. }) => {
                if copies.contains_key(&key) {
                    report.failed_but_written += 1;
                }
                continue;
            }
            None => continue,
        };
        if !copies.contains_key(&key) {
            report.lost += 1;
        }
        if md.offset >= 0 && by_offset.get(&(md.partition, md.offset)) != Some(&key) {
            report.wrong_offset += 1;
        }
    }
    report
}

/// The counts of a run that is not read back (nothing was acknowledged).
pub fn report_without_read_back(scenario: &str, run: &Run) -> Report {
    analyse(scenario, run, &[])
}

/// What a scenario can judge besides loss and timing.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// Only where the broker deduplicates or no response can be lost (see
    /// test-infrastructure.md).
    pub duplicates: bool,
    /// Only where the broker enforces sequence numbers or no request can fail while a later
    /// one of the same partition succeeds.
    pub order: bool,
}

/// Asserts what every retriable-fault scenario must show.
pub fn assert_clean(report: &Report, run: &Run, checks: Checks) {
    let errors: Vec<String> = run.errors().iter().take(5).map(|e| e.to_string()).collect();
    assert_eq!(
        report.unresolved,
        0,
        "every future resolves: {}",
        report.line()
    );
    assert_eq!(
        report.acked,
        report.records,
        "every record acknowledged: {} (first errors: {errors:?})",
        report.line()
    );
    assert_eq!(report.lost, 0, "nothing lost: {}", report.line());
    assert_eq!(report.foreign, 0, "nothing foreign: {}", report.line());
    if checks.order {
        assert_eq!(
            report.reordered,
            0,
            "order kept per partition: {}",
            report.line()
        );
    }
    assert_eq!(
        report.wrong_offset,
        0,
        "acked offsets hold the record: {}",
        report.line()
    );
    if checks.duplicates {
        assert_eq!(report.duplicated, 0, "no duplicates: {}", report.line());
    }
    assert_worst_within_delivery_timeout(report, run);
}

pub fn assert_worst_within_delivery_timeout(report: &Report, run: &Run) {
    assert!(
        report.worst <= run.delivery_timeout + Duration::from_secs(1),
        "every record resolved within delivery.timeout.ms + 1 s ({:?}): {}",
        run.delivery_timeout,
        report.line()
    );
}

/// The in-process broker behind a [`FaultProxy`]: the broker advertises the proxy, so every connection of
/// every client (ours and the verifier) goes through it. Returns (proxy, broker, bootstrap).
pub fn broker_behind_proxy(topic: &str) -> (FaultProxy, Broker, String) {
    let proxy = FaultProxy::bind().expect("proxy");
    let broker = Broker::start_with_advertised(&proxy.addr().to_string()).expect("broker starts");
    proxy.set_upstream(&broker.bootstrap());
    broker.create_topic(topic, PARTITIONS).expect("topic");
    let bootstrap = proxy.addr().to_string();
    (proxy, broker, bootstrap)
}
