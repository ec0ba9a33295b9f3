//! `kproducer perf`: Apache Kafka 4.4's `kafka-producer-perf-test` (Java's `ProducerPerformance`):
//! the same flags, the same pacing (`ThroughputThrottler`), the same warm-up and steady-state
//! summary and the same output lines, so scripts that parse Java's output parse ours.
//!
//! Differences, on purpose, so the tool measures the producer and not itself:
//! - with `--record-size`, Java fills the payload with fresh random letters before every send;
//!   we take each payload as a window at a random offset into one buffer of random letters
//!   (`record-size` + 4 KiB), so payloads differ from record to record without a copy per record
//!   and memory stays at one payload's size (`--record-size 1000000` costs 1 MB, not 1 GB);
//! - a record's latency is measured from its CreateTime (stamped by the producer at `send`, in
//!   ms as Java's `System.currentTimeMillis`) to its acknowledgement, so the send loop reads no
//!   clock and the per-record callback captures nothing (no allocation per record). On a topic
//!   with `message.timestamp.type=LogAppendTime` the broker's append time replaces CreateTime, so
//!   latencies there count from the append.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::{ArgGroup, Args, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kproducer::{ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Java's default `client.id` for this tool.
const DEFAULT_CLIENT_ID: &str = "perf-producer-client";
/// Java's default transactional id prefix (`--transaction-duration-ms` without an id).
const DEFAULT_TRANSACTION_ID_PREFIX: &str = "performance-producer-";
/// Java's default transaction duration when a transactional id is given.
const DEFAULT_TRANSACTION_DURATION_MS: i64 = 3000;
/// Extra random letters after one payload's worth: the span of `--record-size` window offsets.
const PAYLOAD_SPAN: usize = 4096;
/// Keys formatted once up front for `--key-distribution` up to this range (more: per record).
const KEY_TABLE_MAX: u32 = 1 << 16;
/// Java's `close()` waits without limit; a day is as good.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Java's `--key-distribution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyDistribution {
    /// null keys
    None,
    /// round-robin keys in [0, KEY-RANGE)
    Range,
    /// random keys in [0, KEY-RANGE)
    Random,
}

/// `kproducer perf`'s command line: Kafka 4.4's `kafka-producer-perf-test` flags.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Send N records as fast as allowed and report throughput and latency (like kafka-producer-perf-test)",
    long_about = "Sends N records as fast as allowed and prints throughput and latency like Apache \
Kafka 4.4's kafka-producer-perf-test: a line every --reporting-interval ms and a summary with \
percentiles at the end (plus a steady-state summary with --warmup-records). Producer settings use \
Java's names.",
    group(ArgGroup::new("payload").required(true).args(["record_size", "payload_file", "payload_monotonic"]))
)]
pub struct PerfArgs {
    /// The server(s) to connect to; takes precedence over bootstrap.servers from
    /// --command-property or --command-config
    #[arg(long, value_name = "BOOTSTRAP-SERVER")]
    bootstrap_server: Option<String>,
    /// Produce records to this topic
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Number of records to produce
    #[arg(long, value_name = "NUM-RECORDS", allow_negative_numbers = true)]
    num_records: i64,
    /// Delimiter of the payloads in --payload-file
    #[arg(long, value_name = "PAYLOAD-DELIMITER", default_value = "\\n")]
    payload_delimiter: String,
    /// Throttle to *approximately* THROUGHPUT records/s; -1: no limit
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    throughput: f64,
    /// (DEPRECATED: use --command-property) producer settings, Java names
    #[arg(long, value_name = "PROP-NAME=PROP-VALUE", num_args = 1.., conflicts_with = "command_property")]
    producer_props: Option<Vec<String>>,
    /// Producer settings (Java names), e.g. linger.ms=10 batch.size=32768; they take precedence
    /// over --command-config
    #[arg(long, value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    command_property: Option<Vec<String>>,
    /// (DEPRECATED: use --command-config) producer settings file
    #[arg(
        long = "producer.config",
        value_name = "CONFIG-FILE",
        conflicts_with = "command_config"
    )]
    producer_config: Option<PathBuf>,
    /// Producer settings from a Java .properties file
    #[arg(long, value_name = "CONFIG-FILE")]
    command_config: Option<PathBuf>,
    /// Print the producer's metrics at the end
    #[arg(long)]
    print_metrics: bool,
    /// The transactional id to use: records are sent in transactions (Java's perf test option)
    #[arg(long, value_name = "TRANSACTIONAL-ID")]
    transactional_id: Option<String>,
    /// Commit a transaction every TRANSACTION-DURATION ms (default 3000 with a transactional id)
    #[arg(
        long,
        value_name = "TRANSACTION-DURATION",
        allow_negative_numbers = true
    )]
    transaction_duration_ms: Option<i64>,
    /// Records to treat as warm-up: left out of an extra steady-state summary line
    #[arg(
        long,
        value_name = "WARMUP-RECORDS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    warmup_records: i64,
    /// Interval in ms at which to print progress lines
    #[arg(
        long,
        value_name = "INTERVAL-MS",
        default_value_t = 5000,
        allow_negative_numbers = true
    )]
    reporting_interval: i64,
    /// Keys are integers in [0, KEY-RANGE) (with --key-distribution range or random)
    #[arg(long, value_name = "KEY-RANGE", allow_negative_numbers = true)]
    record_key_range: Option<i64>,
    /// Key distribution: none (null keys), range (round robin) or random
    #[arg(long, value_name = "KEY-DISTRIBUTION", value_enum, default_value_t = KeyDistribution::None)]
    key_distribution: KeyDistribution,
    /// Seed of the random keys and payloads (0: reproducible runs)
    #[arg(long, value_name = "RANDOM-SEED", default_value_t = 0)]
    random_seed: i64,
    /// Record size in bytes (random letters)
    #[arg(long, value_name = "RECORD-SIZE", allow_negative_numbers = true)]
    record_size: Option<i64>,
    /// Payloads from a UTF-8 file, split at --payload-delimiter, one picked at random per record
    #[arg(long, value_name = "PAYLOAD-FILE")]
    payload_file: Option<PathBuf>,
    /// The payload is the record's index, in decimal
    #[arg(long)]
    payload_monotonic: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Payload {
    Size(usize),
    File(PathBuf),
    Monotonic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Keys {
    Null,
    Range(u32),
    Random(u32),
}

/// The validated command line.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    topic: String,
    num_records: u64,
    warmup_records: u64,
    payload: Payload,
    payload_delimiter: String,
    throughput: f64,
    /// The producer settings, merged as Java merges them.
    props: BTreeMap<String, String>,
    print_metrics: bool,
    reporting_interval_ms: i64,
    keys: Keys,
    seed: u64,
    /// Deprecation notices to print (Java prints them too).
    notices: Vec<String>,
    /// Commit a transaction this often (`None`: not transactional), as Java's perf test.
    transaction_duration: Option<Duration>,
}

/// Java's checks, with Java's messages; then the producer settings merged as Java does: the
/// file, the properties over it, `--bootstrap-server` over both, Java's default client id, and
/// the transactional id (`--transactional-id`, else the settings', else a random one when only
/// `--transaction-duration-ms` is given).
fn validate(a: PerfArgs) -> Result<Options> {
    if a.num_records <= 0 {
        bail!("--num-records should be greater than zero.");
    }
    let warmup = a.warmup_records.max(0);
    if warmup >= a.num_records {
        bail!("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.");
    }
    if a.record_size.is_some_and(|s| s <= 0) {
        bail!("--record-size should be greater than zero.");
    }
    let props_given = a.command_property.is_some() || a.producer_props.is_some();
    let file_given = a.command_config.is_some() || a.producer_config.is_some();
    if a.bootstrap_server.is_none() && !props_given && !file_given {
        bail!("At least one of --bootstrap-server, --command-property, --producer-props, --producer.config or --command-config must be specified.");
    }
    if a.transaction_duration_ms.is_some_and(|d| d <= 0) {
        bail!("--transaction-duration-ms should be greater than zero.");
    }
    if a.reporting_interval <= 0 {
        bail!("--reporting-interval should be greater than zero.");
    }
    if a.record_key_range.is_some_and(|r| r <= 0) {
        bail!("--record-key-range should be greater than zero.");
    }
    let range = a
        .record_key_range
        .map(|r| u32::try_from(r).map_err(|_| anyhow!("--record-key-range must fit in an int")))
        .transpose()?;
    let keys = match (a.key_distribution, range) {
        (KeyDistribution::None, None) => Keys::Null,
        (KeyDistribution::None, Some(_)) => {
            bail!("--key-distribution must be 'range' or 'random' when --record-key-range is specified.")
        }
        (_, None) => {
            bail!("--record-key-range is required when --key-distribution is 'range' or 'random'.")
        }
        (KeyDistribution::Range, Some(r)) => Keys::Range(r),
        (KeyDistribution::Random, Some(r)) => Keys::Random(r),
    };
    if a.throughput == 0.0 {
        bail!("--throughput 0 would never send; use -1 for no limit");
    }
    let payload = match (a.record_size, a.payload_file, a.payload_monotonic) {
        (Some(n), None, false) => Payload::Size(
            usize::try_from(n).map_err(|_| anyhow!("--record-size {n} is too large"))?,
        ),
        (None, Some(p), false) => Payload::File(p),
        (None, None, true) => Payload::Monotonic,
        _ => bail!("give exactly one of --record-size, --payload-file or --payload-monotonic"),
    };
    // Java prints the default as the two characters `\n` and means a newline.
    let payload_delimiter = if a.payload_delimiter == "\\n" {
        "\n".to_string()
    } else {
        a.payload_delimiter
    };
    if payload_delimiter.is_empty() {
        bail!("--payload-delimiter must not be empty");
    }

    let mut notices = Vec::new();
    if a.producer_props.is_some() {
        notices.push("Option --producer-props has been deprecated and will be removed in a future version. Use --command-property instead.".to_string());
    }
    if a.producer_config.is_some() {
        notices.push("Option --producer.config has been deprecated and will be removed in a future version. Use --command-config instead.".to_string());
    }
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = a.command_config.as_ref().or(a.producer_config.as_ref()) {
        props.extend(read_properties(path)?);
    }
    for p in a
        .command_property
        .iter()
        .chain(a.producer_props.iter())
        .flatten()
    {
        let (k, v) = split_prop(p)?;
        props.insert(k, v);
    }
    if let Some(b) = a.bootstrap_server {
        props.insert("bootstrap.servers".into(), b);
    }
    props
        .entry("client.id".into())
        .or_insert_with(|| DEFAULT_CLIENT_ID.into());
    let transactional = a.transactional_id.is_some()
        || a.transaction_duration_ms.is_some()
        || props.contains_key("transactional.id");
    let mut transaction_duration = None;
    if transactional {
        let id = a
            .transactional_id
            .or_else(|| props.get("transactional.id").cloned())
            .unwrap_or_else(|| format!("{DEFAULT_TRANSACTION_ID_PREFIX}{}", random_id()));
        props.insert("transactional.id".into(), id);
        let ms = a
            .transaction_duration_ms
            .unwrap_or(DEFAULT_TRANSACTION_DURATION_MS);
        transaction_duration = Some(Duration::from_millis(ms.max(1) as u64));
    }
    Ok(Options {
        topic: a.topic,
        num_records: a.num_records as u64,
        warmup_records: warmup as u64,
        payload,
        payload_delimiter,
        throughput: a.throughput,
        props,
        print_metrics: a.print_metrics,
        reporting_interval_ms: a.reporting_interval,
        keys,
        seed: a.random_seed as u64,
        notices,
        transaction_duration,
    })
}

/// A random id for Java's default transactional id (`performance-producer-<uuid>`).
fn random_id() -> String {
    let mut rng = SmallRng::from_os_rng();
    format!("{:032x}", rng.random::<u128>())
}

fn read_properties(path: &PathBuf) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    kproducer::config::properties::parse(&text)
        .map(|m| m.into_iter().collect())
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn split_prop(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => bail!("Invalid property: {s} (expected KEY=VALUE)"),
    }
}

/// Where each record's value comes from.
enum Payloads {
    /// Windows of `size` bytes at random offsets into one buffer of random letters.
    Window { buf: Bytes, size: usize },
    /// Pieces of a payload file, one picked at random per record.
    List(Vec<Bytes>),
    /// The record's index in decimal.
    Monotonic,
}

impl Payloads {
    fn load(o: &Options, rng: &mut SmallRng) -> Result<Payloads> {
        match &o.payload {
            Payload::Size(n) => {
                let len = n
                    .checked_add(PAYLOAD_SPAN)
                    .ok_or_else(|| anyhow!("--record-size {n} is too large"))?;
                let buf: Vec<u8> = (0..len).map(|_| rng.random_range(b'A'..=b'Z')).collect();
                Ok(Payloads::Window {
                    buf: buf.into(),
                    size: *n,
                })
            }
            Payload::File(path) => {
                let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                outln!("Reading payloads from: {}", abs.display());
                let text = match std::fs::read_to_string(path) {
                    Ok(t) if !t.is_empty() => t,
                    Ok(_) => bail!("File does not exist or empty file provided."),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        bail!("File does not exist or empty file provided.")
                    }
                    Err(e) => bail!("reading payload file {}: {e}", path.display()),
                };
                let list: Vec<Bytes> = text
                    .split(o.payload_delimiter.as_str())
                    .filter(|p| !p.is_empty())
                    .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                    .collect();
                outln!("Number of messages read: {}", list.len());
                if list.is_empty() {
                    bail!("payload file {} holds no payload", path.display());
                }
                Ok(Payloads::List(list))
            }
            Payload::Monotonic => Ok(Payloads::Monotonic),
        }
    }

    fn next(&self, i: u64, rng: &mut SmallRng) -> Bytes {
        match self {
            Payloads::Window { buf, size } => {
                let at = rng.random_range(0..PAYLOAD_SPAN);
                buf.slice(at..at + size)
            }
            Payloads::List(list) => list[rng.random_range(0..list.len())].clone(),
            Payloads::Monotonic => Bytes::from(i.to_string()),
        }
    }
}

/// Record keys for `--key-distribution`: small ranges formatted once, larger ones per record.
struct KeySource {
    keys: Keys,
    table: Vec<Bytes>,
}

impl KeySource {
    fn new(keys: Keys) -> KeySource {
        let table = match keys {
            Keys::Range(r) | Keys::Random(r) if r <= KEY_TABLE_MAX => {
                (0..r).map(|k| Bytes::from(k.to_string())).collect()
            }
            _ => Vec::new(),
        };
        KeySource { keys, table }
    }

    fn next(&self, i: u64, rng: &mut SmallRng) -> Option<Bytes> {
        let k = match self.keys {
            Keys::Null => return None,
            Keys::Range(r) => (i % u64::from(r)) as u32,
            Keys::Random(r) => rng.random_range(0..r),
        };
        Some(match self.table.get(k as usize) {
            Some(b) => b.clone(),
            None => Bytes::from(k.to_string()),
        })
    }
}

/// Java's `ThroughputThrottler`: sleeps, on average, 1/target s per record, in naps of ≥ 2 ms.
struct Throttler {
    start: Instant,
    target: f64,
    sleep_per_record: Duration,
    deficit: Duration,
}

impl Throttler {
    const MIN_SLEEP: Duration = Duration::from_millis(2);

    fn new(target: f64, start: Instant) -> Self {
        let sleep_per_record = if target > 0.0 {
            Duration::from_secs_f64(1.0 / target)
        } else {
            Duration::ZERO
        };
        Throttler {
            start,
            target,
            sleep_per_record,
            deficit: Duration::ZERO,
        }
    }

    /// Whether pacing is on at all (no clock reads per record when it is not).
    fn enabled(&self) -> bool {
        self.target > 0.0
    }

    /// True if `sent` records by `now` is ahead of the target rate.
    fn should_throttle(&self, sent: u64, now: Instant) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let elapsed = now.duration_since(self.start).as_secs_f64();
        elapsed > 0.0 && sent as f64 / elapsed > self.target
    }

    /// Adds one record's worth of sleep; returns how long to sleep now, if enough has piled up.
    fn throttle(&mut self) -> Option<Duration> {
        self.deficit += self.sleep_per_record;
        if self.deficit >= Self::MIN_SLEEP {
            Some(std::mem::take(&mut self.deficit))
        } else {
            None
        }
    }
}

/// Java's `ProducerPerformance.Stats`: latencies in whole ms, as Java measures them, with an HDR
/// histogram for the percentiles instead of Java's sample array.
struct Stats {
    steady_state: bool,
    suppress_printing: bool,
    reporting_interval_ms: i64,
    count: u64,
    bytes: u64,
    total_latency_ms: u64,
    max_latency_ms: u64,
    histogram: Histogram<u64>,
    window_start_ms: i64,
    window_count: u64,
    window_bytes: u64,
    window_total_latency_ms: u64,
    window_max_latency_ms: u64,
}

impl Stats {
    fn new(now_ms: i64, reporting_interval_ms: i64, steady_state: bool) -> Result<Self> {
        Ok(Stats {
            steady_state,
            suppress_printing: false,
            reporting_interval_ms,
            count: 0,
            bytes: 0,
            total_latency_ms: 0,
            max_latency_ms: 0,
            // 1 ms to 1 h at 3 significant digits (exact in ms); longer latencies count as 1 h.
            histogram: Histogram::new_with_bounds(1, 3_600_000, 3)?,
            window_start_ms: now_ms,
            window_count: 0,
            window_bytes: 0,
            window_total_latency_ms: 0,
            window_max_latency_ms: 0,
        })
    }

    /// Records one acknowledged record; appends the lines to print when a window has passed.
    fn record(&mut self, latency_ms: u64, bytes: u64, now_ms: i64, out: &mut Vec<String>) {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency_ms += latency_ms;
        self.max_latency_ms = self.max_latency_ms.max(latency_ms);
        self.histogram.saturating_record(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total_latency_ms += latency_ms;
        self.window_max_latency_ms = self.window_max_latency_ms.max(latency_ms);
        if now_ms - self.window_start_ms < self.reporting_interval_ms {
            return;
        }
        if self.steady_state && self.count == self.window_count {
            out.push("In steady state.".into());
        }
        if !self.suppress_printing {
            let elapsed_ms = (now_ms - self.window_start_ms).max(1) as f64;
            out.push(window_line(
                self.window_count,
                self.window_bytes,
                elapsed_ms,
                self.window_total_latency_ms,
                self.window_max_latency_ms,
            ));
        }
        self.window_start_ms = now_ms;
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_total_latency_ms = 0;
        self.window_max_latency_ms = 0;
    }

    /// These records and `other`'s together (for the whole run's total when the records after
    /// the warm-up were counted apart: one `Stats` update per record instead of Java's two).
    fn merged(&self, other: &Stats) -> Stats {
        let mut histogram = self.histogram.clone();
        // Same bounds on both sides: adding cannot fail; if it did, the percentiles would
        // only miss the other half.
        let _ = histogram.add(&other.histogram);
        Stats {
            steady_state: false,
            suppress_printing: true,
            reporting_interval_ms: self.reporting_interval_ms,
            count: self.count + other.count,
            bytes: self.bytes + other.bytes,
            total_latency_ms: self.total_latency_ms + other.total_latency_ms,
            max_latency_ms: self.max_latency_ms.max(other.max_latency_ms),
            histogram,
            window_start_ms: self.window_start_ms,
            window_count: 0,
            window_bytes: 0,
            window_total_latency_ms: 0,
            window_max_latency_ms: 0,
        }
    }

    /// Java's `printTotal` line over `elapsed` since this `Stats` began.
    fn total_line(&self, elapsed: Duration) -> String {
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        let (rate, mb) = rates(self.count, self.bytes, elapsed_ms);
        let avg = if self.count == 0 {
            0.0
        } else {
            self.total_latency_ms as f64 / self.count as f64
        };
        let pct = |q: f64| self.histogram.value_at_quantile(q);
        format!(
            "{}{} records sent, {rate:.6} records/sec ({mb:.2} MB/sec), {avg:.2} ms avg latency, \
             {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            if self.steady_state {
                " steady state"
            } else {
                ""
            },
            self.max_latency_ms as f64,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999),
        )
    }
}

fn rates(count: u64, bytes: u64, elapsed_ms: f64) -> (f64, f64) {
    let elapsed_ms = elapsed_ms.max(1e-3);
    (
        1000.0 * count as f64 / elapsed_ms,
        1000.0 * bytes as f64 / elapsed_ms / (1024.0 * 1024.0),
    )
}

fn window_line(count: u64, bytes: u64, elapsed_ms: f64, total_ms: u64, max_ms: u64) -> String {
    let (rate, mb) = rates(count, bytes, elapsed_ms);
    let avg = total_ms as f64 / count.max(1) as f64;
    format!(
        "{count} records sent, {rate:.1} records/sec ({mb:.2} MB/sec), {avg:.1} ms avg latency, \
         {:.1} ms max latency.",
        max_ms as f64
    )
}

/// Wall-clock ms since the epoch: the clock a record's CreateTime is stamped with.
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The `Stats` of a run: the records sent before the steady state (all of them without a
/// warm-up) and, after the warm-up, the steady-state ones with the time they began. Java counts
/// a steady-state record in both its `Stats`; here each record is counted once and the run's
/// total merges the two.
struct RunStats {
    first: Stats,
    steady: Option<(Stats, Instant)>,
}

/// What the completion callbacks reach. A static, so the callbacks capture nothing: a closure
/// without captures is zero-sized and boxing it allocates nothing (the library's own benchmark
/// loop is written the same way).
struct Shared {
    stats: Mutex<RunStats>,
    bar: Option<ProgressBar>,
    acked: AtomicU64,
    failed: AtomicU64,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared_stats(s: &Shared) -> std::sync::MutexGuard<'_, RunStats> {
    s.stats.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints a line above the progress bar if there is one, else to stdout.
fn print_line(s: &Shared, line: &str) {
    match &s.bar {
        Some(pb) => pb.println(line),
        None => outln!("{line}"),
    }
}

/// The completion of one record; `steady` for records sent after the warm-up.
fn on_completion(r: Result<RecordMetadata, ProduceError>, steady: bool) {
    let Some(s) = SHARED.get() else { return };
    match r {
        Ok(md) => {
            // Only the progress bar reads this count: no shared write per record without it.
            if s.bar.is_some() {
                s.acked.fetch_add(1, Ordering::Relaxed);
            }
            let now = wall_ms();
            let latency = u64::try_from(now - md.timestamp).unwrap_or(0);
            let bytes = u64::try_from(md.serialized_value_size).unwrap_or(0);
            let mut lines = Vec::new();
            {
                let mut st = shared_stats(s);
                let st = &mut *st;
                match (steady, st.steady.as_mut()) {
                    (true, Some((steady, _))) => steady.record(latency, bytes, now, &mut lines),
                    _ => st.first.record(latency, bytes, now, &mut lines),
                }
            }
            for line in &lines {
                print_line(s, line);
            }
        }
        Err(e) => {
            // Java prints each failure's stack trace; one line each here.
            s.failed.fetch_add(1, Ordering::Relaxed);
            errln!("kproducer perf: record failed: {e}");
        }
    }
}

/// Entry point of `kproducer perf`: sends the records, prints Java's lines; returns how many
/// records failed.
/// Commits the open transaction; a failure ends the run (as Java's perf test, which throws).
async fn commit(producer: &Producer<Bytes, Bytes>) -> Result<()> {
    if let Err(e) = producer.commit_transaction().await {
        producer.close(Duration::from_secs(30)).await;
        bail!("commitTransaction failed: {e}");
    }
    Ok(())
}

pub async fn run(args: PerfArgs) -> Result<u64> {
    let o = validate(args).map_err(|e| crate::UsageError(format!("{e:#}")))?;
    for n in &o.notices {
        errln!("{n}");
    }
    let mut rng = SmallRng::seed_from_u64(o.seed);
    let payloads = Payloads::load(&o, &mut rng)?;
    let keys = KeySource::new(o.keys);
    let cfg = ProducerConfig::from_map(o.props.clone())?;
    let producer: Producer<Bytes, Bytes> = Producer::new(cfg)?;
    // After the build: a key the producer refused is reported once, as the error.

    let bar = (std::io::stdout().is_terminal() && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::with_draw_target(Some(o.num_records), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} acked  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(style);
        pb
    });
    let start = Instant::now();
    let shared = Shared {
        stats: Mutex::new(RunStats {
            first: Stats::new(wall_ms(), o.reporting_interval_ms, false)?,
            steady: None,
        }),
        bar: bar.clone(),
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    };
    if SHARED.set(shared).is_err() {
        bail!("kproducer perf runs once per process");
    }
    let s = SHARED.get().ok_or_else(|| anyhow!("perf state"))?;
    let ticker = bar.clone().map(|pb| {
        tokio::spawn(async move {
            loop {
                if let Some(s) = SHARED.get() {
                    pb.set_position(s.acked.load(Ordering::Relaxed));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });

    if o.warmup_records > 0 {
        outln!(
            "Warmup first {} records. Steady state results will print after the complete test summary.",
            o.warmup_records
        );
    }
    let mut throttler = Throttler::new(o.throughput, start);
    let topic: std::sync::Arc<str> = std::sync::Arc::from(o.topic.as_str());
    // Java's perf test: a transaction opens with its first record and commits once it is
    // --transaction-duration-ms old; the last one commits at the end.
    if o.transaction_duration.is_some() {
        producer
            .init_transactions()
            .await
            .map_err(|e| anyhow!("initTransactions failed: {e}"))?;
    }
    let mut transaction_started: Option<Instant> = None;
    // Ctrl-C / SIGTERM: stop sending, then deliver (and commit) what was accepted and print the
    // summary of what was sent, instead of dying with records in the buffer.
    let stop = std::sync::Arc::new(AtomicU8::new(0));
    // Wakes a send blocked waiting for metadata or buffer memory (up to max.block.ms), so a
    // signal stops the run at once; `notify_one` keeps the wake-up if no send is waiting yet.
    let stopped = std::sync::Arc::new(tokio::sync::Notify::new());
    let on_signal = {
        let (stop, stopped) = (stop.clone(), stopped.clone());
        let signals = crate::StopSignals::install();
        tokio::spawn(async move {
            let code = if signals.recv().await == "SIGINT" {
                130
            } else {
                143
            };
            stop.store(code, Ordering::Relaxed);
            stopped.notify_one();
        })
    };
    for i in 0..o.num_records {
        if stop.load(Ordering::Relaxed) != 0 {
            break;
        }
        if o.transaction_duration.is_some() && transaction_started.is_none() {
            producer
                .begin_transaction()
                .map_err(|e| anyhow!("beginTransaction failed: {e}"))?;
            transaction_started = Some(Instant::now());
        }
        let mut record = ProducerRecord::new(&topic, payloads.next(i, &mut rng));
        record.key = keys.next(i, &mut rng);
        let steady = o.warmup_records > 0 && i >= o.warmup_records;
        if steady && i == o.warmup_records {
            let mut st = shared_stats(s);
            st.first.suppress_printing = true;
            st.steady = Some((
                Stats::new(wall_ms(), o.reporting_interval_ms, true)?,
                Instant::now(),
            ));
        }
        // Two closures capturing nothing (a capture would box the callback per record).
        let send = async {
            if steady {
                producer
                    .send_with_callback(record, |r| on_completion(r, true))
                    .await
            } else {
                producer
                    .send_with_callback(record, |r| on_completion(r, false))
                    .await
            }
        };
        // Biased: the send (ready at once unless it waits) is polled first; the record it was
        // sending when a signal came is not accepted, so nothing accepted is dropped.
        let sent = tokio::select! {
            biased;
            sent = send => sent,
            _ = stopped.notified() => break,
        };
        if let Err(e) = sent {
            producer.close(Duration::from_secs(30)).await;
            bail!("send failed: {e}");
        }
        if let (Some(d), Some(t)) = (o.transaction_duration, transaction_started) {
            if t.elapsed() >= d {
                commit(&producer).await?;
                transaction_started = None;
            }
        }
        if throttler.enabled() && throttler.should_throttle(i, Instant::now()) {
            if let Some(nap) = throttler.throttle() {
                tokio::time::sleep(nap).await;
            }
        }
    }
    if transaction_started.is_some() {
        commit(&producer).await?;
    }
    on_signal.abort();

    // As Java: without --print-metrics close first, else flush, print, then close.
    if !o.print_metrics {
        producer.close(CLOSE_TIMEOUT).await;
    } else {
        producer.flush().await;
    }
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(pb) = &bar {
        pb.set_position(s.acked.load(Ordering::Relaxed));
        pb.finish_and_clear();
    }
    let (total, steady) = {
        let st = shared_stats(s);
        match &st.steady {
            Some((steady, at)) => (
                st.first.merged(steady).total_line(start.elapsed()),
                Some(steady.total_line(at.elapsed())),
            ),
            None => (st.first.total_line(start.elapsed()), None),
        }
    };
    outln!("{total}");
    if let Some(steady) = steady {
        outln!("{steady}");
    }
    if o.print_metrics {
        print_metrics(&producer.metrics());
        producer.close(CLOSE_TIMEOUT).await;
    }
    let signalled = stop.load(Ordering::Relaxed);
    if signalled != 0 {
        // Everything accepted was delivered (and committed) above; exit as the signal would.
        errln!(
            "kproducer perf: stopped by a signal; the records sent before it were delivered{}",
            if o.transaction_duration.is_some() {
                " and committed"
            } else {
                ""
            }
        );
        std::process::exit(i32::from(signalled));
    }
    Ok(s.failed.load(Ordering::Relaxed))
}

/// Java's `ToolsUtils.printMetrics` over `producer.metrics()`: the full table, one
/// `group:name:{tags} : value` line per metric, sorted.
fn print_metrics(metrics: &std::collections::BTreeMap<kproducer::MetricName, f64>) {
    let table = kproducer::metrics::format_java_table(metrics);
    outln!("{}", table.trim_end_matches('\n'));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: PerfArgs,
    }

    fn parse(s: &[&str]) -> Result<Options> {
        let cli = Cli::try_parse_from(std::iter::once("perf").chain(s.iter().copied()))?;
        validate(cli.args)
    }

    #[test]
    fn parses_java_flags_with_several_props_after_one_flag() {
        let o = parse(&[
            "--topic",
            "t",
            "--num-records=10",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            "bootstrap.servers=127.0.0.1:9092",
            "acks=1",
            "linger.ms=5",
            "--print-metrics",
            "--warmup-records",
            "3",
        ])
        .unwrap();
        assert_eq!(o.num_records, 10);
        assert_eq!(o.warmup_records, 3);
        assert_eq!(o.payload, Payload::Size(100));
        assert_eq!(o.throughput, -1.0);
        assert!(o.print_metrics);
        assert_eq!(o.props.get("acks").map(String::as_str), Some("1"));
        assert_eq!(
            o.props.get("client.id").map(String::as_str),
            Some(DEFAULT_CLIENT_ID)
        );
        assert_eq!(o.payload_delimiter, "\n");
        assert_eq!(o.notices.len(), 1, "--producer-props is deprecated");
        assert_eq!(o.keys, Keys::Null);
        assert_eq!(o.reporting_interval_ms, 5000);
    }

    #[test]
    fn kip_1147_names_and_bootstrap_precedence() {
        let o = parse(&[
            "--topic",
            "t",
            "--num-records",
            "5",
            "--payload-monotonic",
            "--throughput=-1",
            "--bootstrap-server",
            "b:1",
            "--command-property",
            "bootstrap.servers=a:1",
            "client.id=mine",
            "--key-distribution",
            "range",
            "--record-key-range",
            "4",
            "--reporting-interval",
            "100",
        ])
        .unwrap();
        assert_eq!(
            o.props.get("bootstrap.servers").map(String::as_str),
            Some("b:1")
        );
        assert_eq!(o.props.get("client.id").map(String::as_str), Some("mine"));
        assert!(o.notices.is_empty());
        assert_eq!(o.keys, Keys::Range(4));
        assert_eq!(o.payload, Payload::Monotonic);
        // --bootstrap-server alone is enough, as in Kafka 4.4.
        assert!(parse(&[
            "--topic",
            "t",
            "--num-records",
            "5",
            "--record-size",
            "1",
            "--throughput",
            "-1",
            "--bootstrap-server",
            "b:1"
        ])
        .is_ok());
    }

    #[test]
    fn transactional_flags_set_the_transactional_id() {
        let base = [
            "--topic",
            "t",
            "--num-records",
            "5",
            "--record-size",
            "1",
            "--throughput",
            "-1",
            "--bootstrap-server",
            "b:1",
        ];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v)
        };
        let o = with(&["--transactional-id", "tx"]).unwrap();
        assert_eq!(
            o.props.get("transactional.id").map(String::as_str),
            Some("tx")
        );
        let o = with(&["--transaction-duration-ms", "100"]).unwrap();
        let id = o.props.get("transactional.id").unwrap();
        assert!(id.starts_with(DEFAULT_TRANSACTION_ID_PREFIX), "{id}");
        assert!(with(&["--transaction-duration-ms", "0"]).is_err());
        let o = with(&[]).unwrap();
        assert!(!o.props.contains_key("transactional.id"));
    }

    #[test]
    fn rejects_what_java_rejects() {
        let base = ["--topic", "t", "--num-records", "5", "--throughput", "-1"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v).map(drop).map_err(|e| e.to_string())
        };
        let err = |extra: &[&str], needle: &str| {
            let e = with(extra).expect_err(needle);
            assert!(e.contains(needle), "{extra:?}: {e}");
        };
        // No payload option, or two of them (clap's group).
        assert!(with(&["--producer-props", "a=b"]).is_err());
        assert!(with(&[
            "--record-size",
            "1",
            "--payload-monotonic",
            "--producer-props",
            "a=b"
        ])
        .is_err());
        err(
            &["--record-size", "1"],
            "At least one of --bootstrap-server",
        );
        err(
            &["--record-size", "1", "--producer-props", "nonsense"],
            "Invalid property",
        );
        err(
            &["--record-size", "0", "--producer-props", "a=b"],
            "--record-size should be greater than zero",
        );
        assert!(with(&["--record-size", "1", "--bogus", "--producer-props", "a=b"]).is_err());
        err(
            &[
                "--record-size",
                "1",
                "--producer-props",
                "a=b",
                "--command-property",
                "c=d",
            ],
            "cannot be used with",
        );
        err(
            &[
                "--record-size",
                "1",
                "--bootstrap-server",
                "b:1",
                "--warmup-records",
                "5",
            ],
            "--warmup-records must be strictly fewer",
        );
        err(
            &[
                "--record-size",
                "1",
                "--bootstrap-server",
                "b:1",
                "--key-distribution",
                "random",
            ],
            "--record-key-range is required",
        );
        err(
            &[
                "--record-size",
                "1",
                "--bootstrap-server",
                "b:1",
                "--record-key-range",
                "3",
            ],
            "--key-distribution must be",
        );
        err(
            &[
                "--record-size",
                "1",
                "--bootstrap-server",
                "b:1",
                "--reporting-interval",
                "0",
            ],
            "--reporting-interval should be greater than zero",
        );
        assert!(parse(&["--topic", "t"]).is_err());
    }

    #[test]
    fn payload_windows_and_keys() {
        let o = parse(&[
            "--topic",
            "t",
            "--num-records",
            "5",
            "--record-size",
            "1000000",
            "--throughput",
            "-1",
            "--bootstrap-server",
            "b:1",
        ])
        .unwrap();
        let mut rng = SmallRng::seed_from_u64(0);
        let p = Payloads::load(&o, &mut rng).unwrap();
        match &p {
            Payloads::Window { buf, size } => {
                assert_eq!(*size, 1_000_000);
                assert_eq!(
                    buf.len(),
                    1_000_000 + PAYLOAD_SPAN,
                    "one payload, not 1,024"
                );
            }
            _ => panic!("window payloads"),
        }
        let (a, b) = (p.next(0, &mut rng), p.next(1, &mut rng));
        assert_eq!(a.len(), 1_000_000);
        assert!(a.iter().all(u8::is_ascii_uppercase));
        assert_ne!(a, b, "payloads differ from record to record");

        let range = KeySource::new(Keys::Range(3));
        let got: Vec<_> = (0..4).map(|i| range.next(i, &mut rng).unwrap()).collect();
        assert_eq!(got, ["0", "1", "2", "0"]);
        let big = KeySource::new(Keys::Range(KEY_TABLE_MAX + 10));
        assert_eq!(
            big.next(u64::from(KEY_TABLE_MAX) + 5, &mut rng).unwrap(),
            (KEY_TABLE_MAX + 5).to_string()
        );
        let random = KeySource::new(Keys::Random(5));
        for i in 0..100 {
            let k: u32 = std::str::from_utf8(&random.next(i, &mut rng).unwrap())
                .unwrap()
                .parse()
                .unwrap();
            assert!(k < 5);
        }
        assert_eq!(KeySource::new(Keys::Null).next(0, &mut rng), None);
    }

    #[test]
    fn throttler_paces_like_java() {
        let start = Instant::now();
        let mut t = Throttler::new(1000.0, start);
        assert!(t.enabled());
        // 10 records after 5 ms is 2000/s: ahead of 1000/s.
        assert!(t.should_throttle(10, start + Duration::from_millis(5)));
        assert!(!t.should_throttle(4, start + Duration::from_millis(5)));
        assert!(
            !t.should_throttle(4, start),
            "no elapsed time, no throttling"
        );
        // 1 ms per record; naps once 2 ms have piled up.
        assert_eq!(t.throttle(), None);
        assert_eq!(t.throttle(), Some(Duration::from_millis(2)));
        assert_eq!(t.throttle(), None);
        let unlimited = Throttler::new(-1.0, start);
        assert!(!unlimited.enabled());
        assert!(!unlimited.should_throttle(1_000_000, start + Duration::from_millis(1)));
    }

    #[test]
    fn lines_have_javas_format() {
        let t0 = 1_000_000;
        let mut s = Stats::new(t0, 5000, false).unwrap();
        let mut lines = Vec::new();
        s.record(3, 100, t0 + 1000, &mut lines);
        assert!(lines.is_empty());
        s.record(7, 100, t0 + 5000, &mut lines);
        assert_eq!(
            lines,
            ["2 records sent, 0.4 records/sec (0.00 MB/sec), 5.0 ms avg latency, 7.0 ms max latency."]
        );
        let total = s.total_line(Duration::from_secs(10));
        assert_eq!(
            total,
            "2 records sent, 0.200000 records/sec (0.00 MB/sec), 5.00 ms avg latency, \
             7.00 ms max latency, 3 ms 50th, 7 ms 95th, 7 ms 99th, 7 ms 99.9th."
        );

        // Steady state: "In steady state." before its first window line; the label in the total.
        let mut steady = Stats::new(t0, 100, true).unwrap();
        lines.clear();
        steady.record(1, 10, t0 + 100, &mut lines);
        assert_eq!(lines[0], "In steady state.");
        assert_eq!(lines.len(), 2);
        assert!(steady
            .total_line(Duration::from_secs(1))
            .starts_with("1 steady state records sent, "));

        // The run's total: the records before the steady state and the steady ones together.
        let all = s.merged(&steady);
        assert!(all
            .total_line(Duration::from_secs(1))
            .starts_with("3 records sent, 3.000000 records/sec"));
        assert_eq!(all.max_latency_ms, 7);
        assert_eq!(all.histogram.len(), 3);

        // Suppressed: the warm-up stats stop printing window lines once steady state begins.
        let mut quiet = Stats::new(t0, 100, false).unwrap();
        quiet.suppress_printing = true;
        lines.clear();
        quiet.record(1, 10, t0 + 200, &mut lines);
        assert!(lines.is_empty());
    }
}
