//! Memory while blocked on a stalled broker (issue #7's target: RSS ≤ `buffer.memory` + 16 MiB).
//!
//! A client sends records as fast as it can to a stalled [`AckSink`](crate::AckSink) (it
//! answers Metadata but never Produce) until sending has been blocked for [`StallRun::blocked_for`]
//! — kproducer: a `send` that has not returned; librdkafka: `QueueFull` all along — so everything
//! the client lets itself buffer is buffered and nothing was freed. Then the process's peak and
//! current RSS are read. Run each client in its own process (`kproducer-bench stall` does) so the
//! RSS is that client's alone; the RSS before the first send is reported too, as the runtime's
//! and libraries' own share.
//!
//! Timeouts are long (`request.timeout.ms` 120 s, `delivery.timeout.ms` 300 s, `max.block.ms`
//! 60 s) so that no record expires and frees memory during the run.
//!
//! What kproducer holds beyond `buffer.memory` (which charges whole batches) is per-record
//! bookkeeping: a `RecordInfo` (16 B) and, with a callback, a `(u32, Callback)` (24 B) per record
//! in per-batch `Vec`s grown by doubling, plus the callback's own box. [`SendStyle`] separates
//! them; with 100 B records they are most of the excess.
//!
//! ```no_run
//! use kproducer_bench::stall::{run_stalled, StallRun};
//! use kproducer_bench::{AckSink, StallMode};
//!
//! let sink = AckSink::start_stalled(3, StallMode::NoRead)?;
//! let run = StallRun::new("kproducer", 100, 32 << 20);
//! let r = run_stalled(&sink.bootstrap(), "stalled", &run)?;
//! println!("{} records buffered, peak RSS {} KiB", r.records_buffered, r.max_rss_kib);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use serde::{Deserialize, Serialize};

use crate::client::Workload;
use crate::usage::{current_rss_kib, heap, self_usage};

/// Issue #7's allowance over `buffer.memory`, in MiB.
pub const TARGET_OVER_BUFFER_MIB: f64 = 16.0;

/// `request.timeout.ms` during a stall run: nothing may time out.
const REQUEST_TIMEOUT_MS: u64 = 120_000;
/// `delivery.timeout.ms` during a stall run.
const DELIVERY_TIMEOUT_MS: u64 = 300_000;
/// `max.block.ms`: far longer than [`StallRun::blocked_for`], so kproducer's `send` blocks
/// rather than failing with BufferExhaustedException.
const MAX_BLOCK_MS: u64 = 60_000;
/// Whole run's limit: filling 32 MiB takes a second or two.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// How kproducer sends (librdkafka always sends the same way: a copied payload, no callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendStyle {
    /// `send_with_callback` with a counting callback holding two `Arc`s, as an application's
    /// would (and the throughput benchmark's does).
    Callback,
    /// `send_with_callback` with a callback that captures nothing (its box allocates nothing).
    EmptyCallback,
    /// `send`, dropping the returned `DeliveryFuture` at once.
    Future,
}

impl SendStyle {
    /// `"callback"`, `"empty-callback"` or `"future"`.
    pub fn name(self) -> &'static str {
        match self {
            SendStyle::Callback => "callback",
            SendStyle::EmptyCallback => "empty-callback",
            SendStyle::Future => "future",
        }
    }

    /// Parses [`SendStyle::name`]'s output.
    pub fn parse(s: &str) -> Result<SendStyle> {
        match s {
            "callback" => Ok(SendStyle::Callback),
            "empty-callback" => Ok(SendStyle::EmptyCallback),
            "future" => Ok(SendStyle::Future),
            other => bail!("unknown send style {other:?} (callback, empty-callback, future)"),
        }
    }
}

/// One stall measurement's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallRun {
    /// "kproducer" or "librdkafka".
    pub client: String,
    /// Value size in bytes (keys are null).
    pub record_size: usize,
    /// `buffer.memory` (librdkafka: `queue.buffering.max.kbytes` = this / 1024).
    pub buffer_memory: usize,
    /// Sending counts as blocked once it has made no progress for this long.
    pub blocked_for: Duration,
    /// How kproducer sends.
    pub send: SendStyle,
}

impl StallRun {
    /// `client` sending `record_size`-byte values with `buffer_memory`, blocked after 2 s.
    pub fn new(client: &str, record_size: usize, buffer_memory: usize) -> StallRun {
        StallRun {
            client: client.to_string(),
            record_size,
            buffer_memory,
            blocked_for: Duration::from_secs(2),
            send: SendStyle::Callback,
        }
    }

    /// The bench's workload settings (acks=all, no compression, linger.ms=5, batch.size=16384,
    /// no idempotence, 5 in flight) at this record size.
    fn workload(&self) -> Workload {
        Workload {
            record_size: self.record_size,
            acks: "all".into(),
            compression: "none".into(),
            linger_ms: 5,
            batch_size: 16_384,
            settings: Default::default(),
        }
    }
}

/// What a client held once blocked (one JSON line from the subprocess).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallResult {
    /// "kproducer" or "librdkafka".
    pub client: String,
    /// Value size in bytes.
    pub record_size: usize,
    /// `buffer.memory` in force, bytes.
    pub buffer_memory: usize,
    /// Records accepted before sending blocked.
    pub records_buffered: u64,
    /// Of those, records written to the network in Produce requests (kproducer only).
    pub records_written: Option<u64>,
    /// Produce requests written (kproducer only).
    pub produce_requests: Option<u64>,
    /// RSS after creating the producer, before the first send, KiB.
    pub baseline_rss_kib: i64,
    /// RSS once blocked, KiB (`/proc/self/statm`).
    pub current_rss_kib: i64,
    /// Peak RSS of the process once blocked, KiB (`getrusage`).
    pub max_rss_kib: i64,
    /// From the first send until sending blocked (not counting the blocked wait), seconds.
    pub fill_s: f64,
    /// glibc heap before the first send (`None` with another libc).
    pub heap_baseline: Option<crate::usage::Heap>,
    /// glibc heap once blocked (`None` with another libc).
    pub heap_blocked: Option<crate::usage::Heap>,
}

impl StallResult {
    /// Peak RSS, MiB: the larger of `getrusage`'s high-water mark and the RSS read once
    /// blocked (the kernel updates the former lazily, so it can trail the latter a little).
    pub fn peak_rss_mib(&self) -> f64 {
        self.max_rss_kib.max(self.current_rss_kib) as f64 / 1024.0
    }

    /// Peak RSS minus `buffer.memory`, MiB: issue #7 wants ≤ [`TARGET_OVER_BUFFER_MIB`].
    pub fn over_buffer_mib(&self) -> f64 {
        self.peak_rss_mib() - self.buffer_memory as f64 / (1024.0 * 1024.0)
    }

    /// Whether the peak RSS is within `buffer.memory` + 16 MiB.
    pub fn target_met(&self) -> bool {
        self.over_buffer_mib() <= TARGET_OVER_BUFFER_MIB
    }
}

/// Runs `run.client` against the stalled broker at `bootstrap` until it blocks; see the module
/// docs. Fails if the client never blocks (the broker is not stalled) or a send fails.
pub fn run_stalled(bootstrap: &str, topic: &str, run: &StallRun) -> Result<StallResult> {
    match run.client.as_str() {
        "kproducer" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(kproducer_stalled(bootstrap, topic, run))
        }
        "librdkafka" => rdkafka_stalled(bootstrap, topic, run),
        other => bail!("the stall measurement runs kproducer or librdkafka, not {other:?}"),
    }
}

/// Settings both clients get on top of the workload's (Java names).
fn stall_settings(run: &StallRun) -> Vec<(&'static str, String)> {
    let mut s = run.workload().common_settings();
    s.extend([
        ("request.timeout.ms", REQUEST_TIMEOUT_MS.to_string()),
        ("delivery.timeout.ms", DELIVERY_TIMEOUT_MS.to_string()),
    ]);
    s
}

/// A client that keeps accepting far more than its bound is not blocked on anything.
fn check_not_runaway(run: &StallRun, records: u64, started: Instant) -> Result<()> {
    let bytes = records.saturating_mul(run.record_size as u64);
    if bytes > 4 * run.buffer_memory as u64 {
        bail!(
            "{}: {records} records ({bytes} bytes) accepted with buffer.memory {}; \
             is the broker stalled?",
            run.client,
            run.buffer_memory
        );
    }
    if started.elapsed() > RUN_LIMIT {
        bail!("{}: not blocked after {RUN_LIMIT:?}", run.client);
    }
    Ok(())
}

async fn kproducer_stalled(bootstrap: &str, topic: &str, run: &StallRun) -> Result<StallResult> {
    let mut settings = stall_settings(run);
    settings.extend([
        ("bootstrap.servers", bootstrap.to_string()),
        ("buffer.memory", run.buffer_memory.to_string()),
        ("max.block.ms", MAX_BLOCK_MS.to_string()),
    ]);
    let producer: Producer<Vec<u8>, Bytes> = Producer::new(ProducerConfig::from_map(settings)?)?;
    let payload = Bytes::from(vec![b'x'; run.record_size]);
    let baseline_rss_kib = current_rss_kib().unwrap_or(0);
    let heap_baseline = heap();

    // Counting callbacks, as the throughput benchmark's: nothing is ever acknowledged here, but
    // each record carries its callback (two `Arc`s) as an application's would.
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut buffered = 0u64;
    let t0 = Instant::now();
    loop {
        let record = ProducerRecord::new(topic, payload.clone());
        let send = async {
            match run.send {
                SendStyle::Callback => {
                    let (acked, failed) = (acked.clone(), failed.clone());
                    producer
                        .send_with_callback(record, move |r| {
                            match r {
                                Ok(_) => acked.fetch_add(1, Ordering::Relaxed),
                                Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                            };
                        })
                        .await
                }
                SendStyle::EmptyCallback => producer.send_with_callback(record, |_| {}).await,
                SendStyle::Future => producer.send(record).await.map(drop),
            }
        };
        match tokio::time::timeout(run.blocked_for, send).await {
            Ok(Ok(())) => buffered += 1,
            Ok(Err(e)) => bail!("kproducer: send failed after {buffered} records: {e}"),
            // Blocked: the dropped `send` buffered nothing.
            Err(_) => break,
        }
        check_not_runaway(run, buffered, t0)?;
    }
    let fill_s = (t0.elapsed() - run.blocked_for).as_secs_f64();
    let stats = producer.stats();
    let (done_ok, done_err) = (
        acked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    if done_ok + done_err > 0 {
        bail!(
            "kproducer: {done_ok} records acknowledged and {done_err} failed by a stalled broker"
        );
    }
    Ok(StallResult {
        client: run.client.clone(),
        record_size: run.record_size,
        buffer_memory: run.buffer_memory,
        records_buffered: buffered,
        records_written: Some(stats.records),
        produce_requests: Some(stats.produce_requests),
        baseline_rss_kib,
        current_rss_kib: current_rss_kib().unwrap_or(0),
        max_rss_kib: self_usage().max_rss_kib,
        fill_s,
        heap_baseline,
        heap_blocked: heap(),
    })
}

fn rdkafka_stalled(bootstrap: &str, topic: &str, run: &StallRun) -> Result<StallResult> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        // buffer.memory's counterpart; the message count is not the bound.
        .set(
            "queue.buffering.max.kbytes",
            (run.buffer_memory / 1024).max(1).to_string(),
        )
        .set("queue.buffering.max.messages", "10000000");
    for (k, v) in stall_settings(run) {
        cfg.set(k, v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> =
        cfg.create().context("creating the librdkafka producer")?;
    let payload = vec![b'x'; run.record_size];
    let baseline_rss_kib = current_rss_kib().unwrap_or(0);
    let heap_baseline = heap();

    let mut buffered = 0u64;
    let t0 = Instant::now();
    // Since when every send has been refused with QueueFull.
    let mut full_since: Option<Instant> = None;
    loop {
        match producer.send(BaseRecord::<[u8], [u8]>::to(topic).payload(&payload[..])) {
            Ok(()) => {
                buffered += 1;
                full_since = None;
                check_not_runaway(run, buffered, t0)?;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= run.blocked_for {
                    let fill_s = since.duration_since(t0).as_secs_f64();
                    return Ok(StallResult {
                        client: run.client.clone(),
                        record_size: run.record_size,
                        buffer_memory: run.buffer_memory,
                        records_buffered: buffered,
                        records_written: None,
                        produce_requests: None,
                        baseline_rss_kib,
                        current_rss_kib: current_rss_kib().unwrap_or(0),
                        max_rss_kib: self_usage().max_rss_kib,
                        fill_s,
                        heap_baseline,
                        heap_blocked: heap(),
                    });
                }
                check_not_runaway(run, buffered, t0)?;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => {
                return Err(anyhow!(
                    "librdkafka: send failed after {buffered} records: {e}"
                ))
            }
        }
    }
}
