//! The two clients under test, driven the same way: a warm-up record (metadata, connection),
//! then either as many records as fast as they go (the throughput phase) or records paced at a
//! fixed rate with send-to-ack latency recorded (the latency phase). CPU time and peak memory
//! are the process's own, so run each client in its own process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;
use serde::{Deserialize, Serialize};

use crate::secure::Security;
use crate::usage::{self_usage, Usage};

/// Which settings the clients run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Settings {
    /// The same settings for every client: `linger.ms`, `batch.size` (Java's 16 KiB), 5 requests
    /// in flight, 32 MiB buffer, idempotence off. `batch.size` still means different things:
    /// Java and kproducer count it compressed (estimated), librdkafka uncompressed, franz-go as
    /// a hard cap.
    #[default]
    Equal,
    /// As [`Settings::Equal`] with `batch.size` 1 MiB (librdkafka's default), so no client's
    /// compressed batches are cut short by its reading of `batch.size`.
    Equal1m,
    /// Each client at its own defaults; only `acks` and `compression.type` are set.
    Defaults,
}

impl Settings {
    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Settings::Equal => "equal",
            Settings::Equal1m => "equal-1m",
            Settings::Defaults => "defaults",
        }
    }

    /// Parses [`Settings::name`].
    pub fn parse(s: &str) -> Option<Settings> {
        [Settings::Equal, Settings::Equal1m, Settings::Defaults]
            .into_iter()
            .find(|x| x.name() == s)
    }

    /// Parses a comma-separated list of [`Settings::name`]s (`--settings`).
    pub fn parse_list(v: &str) -> Result<Vec<Settings>> {
        v.split(',')
            .map(|s| {
                Settings::parse(s.trim())
                    .ok_or_else(|| anyhow!("unknown settings {s:?} (equal, equal-1m, defaults)"))
            })
            .collect()
    }
}

/// One benchmark configuration, applied identically to every client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Value size in bytes (keys are null; values from [`crate::payload::json_payloads`]).
    pub record_size: usize,
    /// `acks`: "1" or "all".
    pub acks: String,
    /// `compression.type`: "none", "lz4", "zstd", ...
    pub compression: String,
    /// `linger.ms` (not set with [`Settings::Defaults`]).
    pub linger_ms: u64,
    /// `batch.size` (librdkafka's default differs from Java's, so it is always set, except with
    /// [`Settings::Defaults`]; [`Settings::Equal1m`] sets 1 MiB instead).
    pub batch_size: usize,
    /// Equal settings, or each client's defaults.
    #[serde(default)]
    pub settings: Settings,
}

impl Workload {
    /// Settings shared by every client (Java names; librdkafka accepts them as aliases). With
    /// equal settings, idempotence is off in all, since acks=1 does not allow it; `buffer.memory`
    /// (32 MiB) and 5 requests in flight are Java's defaults, mirrored in librdkafka and
    /// franz-go. With each client's defaults, only `acks` and `compression.type`.
    pub fn common_settings(&self) -> Vec<(&'static str, String)> {
        let mut s = vec![
            ("acks", self.acks.clone()),
            ("compression.type", self.compression.clone()),
        ];
        if self.settings != Settings::Defaults {
            s.extend([
                ("linger.ms", self.linger_ms.to_string()),
                ("batch.size", self.effective_batch_size().to_string()),
                ("enable.idempotence", "false".into()),
                ("max.in.flight.requests.per.connection", "5".into()),
            ]);
        }
        s
    }

    /// `batch.size` as set (1 MiB with [`Settings::Equal1m`]).
    pub fn effective_batch_size(&self) -> usize {
        match self.settings {
            Settings::Equal1m => 1 << 20,
            _ => self.batch_size,
        }
    }

    /// The record values, cycled through in order by the in-process loops.
    pub fn payloads(&self) -> Vec<Bytes> {
        crate::payload::json_payloads(self.record_size, crate::payload::PAYLOADS)
            .into_iter()
            .map(Bytes::from)
            .collect()
    }
}

/// What to run: `records` records, unpaced (`rate` = None) or at `rate` records/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// Records to send after the warm-up record.
    pub records: u64,
    /// Pace at this many records per second; `None`: as fast as possible.
    pub rate: Option<f64>,
}

/// One client run's measurements, as the subprocess prints them (one JSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientResult {
    /// "kproducer" or "librdkafka".
    pub client: String,
    /// Records acknowledged in the measured phase.
    pub acked: u64,
    /// Records that failed.
    pub failed: u64,
    /// From the first send to the last acknowledgement, in seconds.
    pub elapsed_s: f64,
    /// User + system CPU time of the whole process over the phase, in seconds.
    pub cpu_s: f64,
    /// Peak RSS of the process, KiB.
    pub max_rss_kib: i64,
    /// Median send-to-ack latency (latency phase only), µs.
    pub p50_us: Option<u64>,
    /// 99th percentile send-to-ack latency (latency phase only), µs.
    pub p99_us: Option<u64>,
}

/// A measured phase's start: this process's CPU time, then the clock. [`Meter::stop`] reads
/// both again after the last acknowledgement; [`Measured::result`] makes the [`ClientResult`].
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    /// When the phase started (read after the CPU time).
    pub t0: Instant,
    usage0: Usage,
}

impl Meter {
    /// Starts measuring: reads the CPU time, then the clock.
    pub fn start() -> Meter {
        let usage0 = self_usage();
        Meter {
            t0: Instant::now(),
            usage0,
        }
    }

    /// Stops measuring: the time since [`Meter::start`], then the CPU time since.
    pub fn stop(&self) -> Measured {
        let elapsed = self.t0.elapsed();
        let usage1 = self_usage();
        Measured {
            elapsed,
            cpu: usage1.cpu - self.usage0.cpu,
        }
    }
}

/// A measured phase's wall-clock and CPU time ([`Meter::stop`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
    /// User + system CPU time of the whole process over the phase.
    pub cpu: Duration,
}

impl Measured {
    /// The phase's [`ClientResult`] (one JSON line of a client subprocess), with the process's
    /// peak RSS read now (after the producer is closed, where it is).
    pub fn result(
        &self,
        client: &str,
        acked: u64,
        failed: u64,
        (p50_us, p99_us): (Option<u64>, Option<u64>),
    ) -> ClientResult {
        ClientResult {
            client: client.into(),
            acked,
            failed,
            elapsed_s: self.elapsed.as_secs_f64(),
            cpu_s: self.cpu.as_secs_f64(),
            max_rss_kib: self_usage().max_rss_kib,
            p50_us,
            p99_us,
        }
    }
}

/// The multi-threaded tokio runtime kproducer runs on (2 workers, as the CLI).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

// kproducer's delivery counters, reached by the callbacks without capturing anything: like
// librdkafka's harness (one shared context, a plain opaque per message), a record costs no
// reference-count traffic and, unless latency is measured, no boxed closure (a closure that
// captures nothing is zero-sized: boxing it allocates nothing).
static ACKED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Counts one kproducer delivery, acknowledged or failed (see [`kproducer_counts`]).
pub(crate) fn count_kproducer(r: &Result<kproducer::RecordMetadata, kproducer::ProduceError>) {
    match r {
        Ok(_) => ACKED.fetch_add(1, Ordering::Relaxed),
        Err(_) => FAILED.fetch_add(1, Ordering::Relaxed),
    };
}

/// kproducer deliveries counted so far in this process, `(acked, failed)`: a phase counts the
/// difference.
pub(crate) fn kproducer_counts() -> (u64, u64) {
    (
        ACKED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
    )
}

/// Latency histogram in µs, shared with the delivery callbacks.
type Latencies = Arc<Mutex<Histogram<u64>>>;

fn new_latencies() -> Result<Latencies> {
    // 1 µs to 1 h at 3 significant digits.
    Ok(Arc::new(Mutex::new(Histogram::new_with_bounds(
        1,
        3_600_000_000,
        3,
    )?)))
}

fn record_latency(h: &Latencies, since: Instant) {
    let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    h.lock()
        .unwrap_or_else(|e| e.into_inner())
        .saturating_record(us);
}

fn percentiles(h: &Latencies) -> (Option<u64>, Option<u64>) {
    let h = h.lock().unwrap_or_else(|e| e.into_inner());
    if h.is_empty() {
        return (None, None);
    }
    (
        Some(h.value_at_quantile(0.5)),
        Some(h.value_at_quantile(0.99)),
    )
}

/// Runs kproducer on a fresh multi-threaded tokio runtime (2 workers, as the CLI), connecting
/// as `security` says.
pub fn run_kproducer(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
    security: &Security,
) -> Result<ClientResult> {
    let rt = runtime()?;
    #[cfg(feature = "metrics-export")]
    install_prometheus_recorder()?;
    rt.block_on(kproducer_phase(bootstrap, topic, w, phase, security))
}

/// Feature `metrics-export`: a process-wide Prometheus recorder receives the producer's metrics
/// (exported by its network thread every second), as in an application that serves them.
#[cfg(feature = "metrics-export")]
fn install_prometheus_recorder() -> Result<()> {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    if HANDLE.get().is_none() {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
        let _ = HANDLE.set(handle);
    }
    Ok(())
}

async fn kproducer_phase(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
    security: &Security,
) -> Result<ClientResult> {
    let mut settings = w.common_settings();
    settings.push(("bootstrap.servers", bootstrap.to_string()));
    settings.extend(security.kproducer_settings());
    let producer: Producer<Vec<u8>, Bytes> = Producer::new(ProducerConfig::from_map(settings)?)?;
    let payloads = w.payloads();
    let payload = payloads[0].clone();
    // Shared topic name, as librdkafka's loop passes a borrowed one: no allocation per record.
    let topic: Arc<str> = Arc::from(topic);

    producer
        .send(ProducerRecord::new(&topic, payload.clone()))
        .await?
        .await
        .context("warm-up record")?;

    // The latency histogram, reached by the callbacks as the counters are (see `ACKED`).
    static LATENCIES: std::sync::OnceLock<Latencies> = std::sync::OnceLock::new();
    if LATENCIES.get().is_none() {
        let _ = LATENCIES.set(new_latencies()?);
    }
    let latencies = LATENCIES
        .get()
        .ok_or_else(|| anyhow!("latency histogram"))?;
    // Fresh for this phase (a process may run several).
    latencies.lock().unwrap_or_else(|e| e.into_inner()).reset();
    let (acked0, failed0) = kproducer_counts();
    let meter = Meter::start();
    let t0 = meter.t0;
    for i in 0..phase.records {
        let record = ProducerRecord::new(
            &topic,
            payloads[i as usize & (crate::payload::PAYLOADS - 1)].clone(),
        );
        match phase.rate {
            Some(rate) => {
                let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                let now = Instant::now();
                if due > now + Duration::from_millis(1) {
                    // Paced exactly as the librdkafka loop is (a thread sleep, ~0.1 ms late):
                    // tokio's sleep ends ~1 ms late, so records would come in bursts twice as
                    // big, and queue behind each other. Blocking this worker is what the
                    // librdkafka loop does to its thread; the producer's I/O runs on its own.
                    std::thread::sleep(due - now);
                }
                // Clock reads only where latency is measured: they are not free everywhere.
                let sent_at = Instant::now();
                producer
                    .send_with_callback(record, move |r| {
                        count_kproducer(&r);
                        if let Some(lat) = LATENCIES.get() {
                            record_latency(lat, sent_at);
                        }
                    })
                    .await?;
            }
            None => {
                producer
                    .send_with_callback(record, move |r| count_kproducer(&r))
                    .await?
            }
        }
    }
    producer.flush().await;
    let measured = meter.stop();
    producer.close(Duration::from_secs(30)).await;
    let (acked, failed) = kproducer_counts();
    Ok(measured.result(
        "kproducer",
        acked - acked0,
        failed - failed0,
        percentiles(latencies),
    ))
}

/// Counts librdkafka's delivery reports and records latency (the opaque is the send time in ns
/// after `t0`).
pub(crate) struct Reports {
    t0: Instant,
    pub(crate) acked: AtomicU64,
    pub(crate) failed: AtomicU64,
    latencies: Option<Latencies>,
}

impl Reports {
    /// No reports yet; latency recorded into `latencies` if given.
    pub(crate) fn new(t0: Instant, latencies: Option<Latencies>) -> Reports {
        Reports {
            t0,
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latencies,
        }
    }
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        match result {
            Ok(_) => self.acked.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        if let Some(lat) = &self.latencies {
            record_latency(lat, self.t0 + Duration::from_nanos(sent_ns as u64));
        }
    }
}

/// Runs librdkafka through `ThreadedProducer`: its own thread serves delivery reports as they
/// come. (rdkafka's `poll(timeout)` loops until the timeout and busy-waits its last millisecond,
/// so calling it from the sending loop would bill librdkafka for CPU it does not use.)
pub fn run_rdkafka(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
    security: &Security,
) -> Result<ClientResult> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    for (k, v) in security.rdkafka_settings() {
        cfg.set(k, v);
    }
    if w.settings != Settings::Defaults {
        // Java's buffer.memory (32 MiB) is the bound; the message count is not.
        cfg.set("queue.buffering.max.kbytes", "32768")
            .set("queue.buffering.max.messages", "10000000");
    }
    for (k, v) in w.common_settings() {
        cfg.set(k, v);
    }
    let latencies = match phase.rate {
        Some(_) => Some(new_latencies()?),
        None => None,
    };
    let t0_holder = Instant::now();
    let producer: ThreadedProducer<Reports> = cfg
        .create_with_context(Reports::new(t0_holder, latencies.clone()))
        .context("creating the librdkafka producer")?;
    let payloads = w.payloads();

    // Warm-up: metadata and connection; its report is not counted below.
    send_rd(&producer, topic, &payloads[0], 0)?;
    wait_for_reports(&producer, 1)?;
    let (acked0, failed0) = (
        producer.context().acked.load(Ordering::Relaxed),
        producer.context().failed.load(Ordering::Relaxed),
    );
    if failed0 > 0 {
        bail!("librdkafka warm-up record failed");
    }

    let meter = Meter::start();
    let t0 = meter.t0;
    let base_ns = t0.duration_since(t0_holder);
    for i in 0..phase.records {
        if let Some(rate) = phase.rate {
            let due = t0 + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now + Duration::from_millis(1) {
                std::thread::sleep(due - now);
            }
        }
        let sent_ns = match phase.rate {
            Some(_) => (base_ns + t0.elapsed()).as_nanos() as usize,
            None => 0,
        };
        send_rd(
            &producer,
            topic,
            &payloads[i as usize & (crate::payload::PAYLOADS - 1)],
            sent_ns,
        )?;
    }
    wait_for_reports(&producer, 1 + phase.records)?;
    let measured = meter.stop();
    let ctx = producer.context();
    let percentiles = match &latencies {
        Some(l) => percentiles(l),
        None => (None, None),
    };
    Ok(measured.result(
        "librdkafka",
        ctx.acked.load(Ordering::Relaxed) - acked0,
        ctx.failed.load(Ordering::Relaxed),
        percentiles,
    ))
}

/// Waits until `n` delivery reports in all arrived (rdkafka's `flush` polls in 100 ms steps,
/// which would add up to 100 ms to the measured time).
pub(crate) fn wait_for_reports(producer: &ThreadedProducer<Reports>, n: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let ctx = producer.context();
    while ctx.acked.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            bail!("librdkafka: delivery reports missing after 120 s");
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

/// Sends one record with `opaque`, retrying for up to 60 s while librdkafka's queue is full.
pub(crate) fn send_rd(
    producer: &ThreadedProducer<Reports>,
    topic: &str,
    payload: &[u8],
    opaque: usize,
) -> Result<()> {
    let mut record =
        BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, opaque).payload(payload);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                record = back;
                std::thread::sleep(Duration::from_micros(200));
            }
            Err((e, _)) => return Err(anyhow!("librdkafka send: {e}")),
        }
    }
}

/// Settings of the connection set-up measurement: one record, sent at once.
const SETUP_SETTINGS: [(&str, &str); 3] =
    [("acks", "1"), ("linger.ms", "0"), ("batch.size", "16384")];

/// kproducer's connection set-up, client side: from building the `Producer` (its configuration
/// already parsed; trust store read at build) to the first record acknowledged (bootstrap,
/// TCP, TLS handshake, ApiVersions, SASL, Metadata, Produce). On a runtime made beforehand.
pub fn kproducer_setup(bootstrap: &str, topic: &str, security: &Security) -> Result<Duration> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut settings: Vec<(&str, String)> = SETUP_SETTINGS
            .iter()
            .map(|&(k, v)| (k, v.to_string()))
            .collect();
        settings.push(("bootstrap.servers", bootstrap.to_string()));
        settings.extend(security.kproducer_settings());
        let config = ProducerConfig::from_map(settings)?;
        let t0 = Instant::now();
        let producer: Producer<Vec<u8>, Bytes> = Producer::new(config)?;
        producer
            .send(ProducerRecord::new(topic, Bytes::from_static(b"set-up")))
            .await?
            .await
            .context("the first record")?;
        let took = t0.elapsed();
        producer.close(Duration::from_secs(5)).await;
        Ok(took)
    })
}

/// librdkafka's connection set-up, measured as [`kproducer_setup`]'s: from creating the
/// producer to the first delivery report (success).
pub fn rdkafka_setup(bootstrap: &str, topic: &str, security: &Security) -> Result<Duration> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    for (k, v) in SETUP_SETTINGS {
        cfg.set(k, v);
    }
    for (k, v) in security.rdkafka_settings() {
        cfg.set(k, v);
    }
    let t0 = Instant::now();
    let producer: ThreadedProducer<Reports> = cfg
        .create_with_context(Reports::new(t0, None))
        .context("creating the librdkafka producer")?;
    send_rd(&producer, topic, b"set-up", 0)?;
    wait_for_reports(&producer, 1)?;
    let took = t0.elapsed();
    if producer.context().failed.load(Ordering::Relaxed) > 0 {
        bail!("librdkafka: the first record failed");
    }
    Ok(took)
}
