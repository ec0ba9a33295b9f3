//! `kproducer perf`: Apache Kafka's `kafka-producer-perf-test` (Java's `ProducerPerformance`):
//! the same flags, the same pacing (`ThroughputThrottler`) and the same output lines, so scripts
//! that parse Java's output parse ours.
//!
//! One difference, on purpose: with `--record-size`, Java fills the payload with fresh random
//! letters before every send; we pick from a pool of pre-generated random payloads, so the tool
//! measures the producer rather than the random generator.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const HELP: &str = "\
usage: kproducer perf --topic TOPIC --num-records N (--record-size BYTES | --payload-file FILE |
                      --payload-monotonic) --throughput RATE
                      (--producer-props K=V [K=V ...] | --producer.config FILE) [options]

Sends N records as fast as allowed and prints throughput and latency, like Apache Kafka's
kafka-producer-perf-test: a line every 5 s and a summary with percentiles at the end.

options:
  --topic TOPIC                 produce to this topic
  --num-records N               number of records to send
  --record-size BYTES           size of each (random letters) payload
  --payload-file FILE           payloads from FILE (UTF-8), one picked at random per record
  --payload-delimiter DELIM     separator of the payloads in FILE (default: \\n)
  --payload-monotonic           the payload is the record's index, in decimal
  --throughput RATE             at most about RATE records/s; -1: no limit
  --producer-props K=V [K=V ...]  producer settings (Java names), e.g. bootstrap.servers=host:9092;
                                these take precedence over --producer.config
  --producer.config FILE        producer settings from a Java .properties file
  --print-metrics               print the producer's counters at the end
  -h, --help                    this help";

/// Java's default `client.id` for this tool.
const DEFAULT_CLIENT_ID: &str = "perf-producer-client";
/// Distinct random payloads generated for `--record-size`.
const PAYLOAD_POOL: usize = 1024;
/// Java's `close()` waits without limit; a day is as good.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Java's reporting interval.
const WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
enum Payload {
    Size(usize),
    File { path: String },
    Monotonic,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    topic: String,
    num_records: u64,
    payload: Payload,
    payload_delimiter: String,
    throughput: f64,
    producer_props: Option<Vec<(String, String)>>,
    producer_config: Option<String>,
    print_metrics: bool,
}

/// Splits `--flag=value` into `("--flag", Some("value"))`, as argparse accepts both forms.
fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f, Some(v)),
        _ => (arg, None),
    }
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut topic = None;
    let mut num_records: Option<u64> = None;
    let mut payloads: Vec<Payload> = Vec::new();
    let mut delimiter = "\\n".to_string();
    let mut throughput: Option<f64> = None;
    let mut props: Option<Vec<(String, String)>> = None;
    let mut config = None;
    let mut print_metrics = false;
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = split_flag(&args[i]);
        i += 1;
        let mut value = || -> Result<String> {
            if let Some(v) = inline {
                return Ok(v.to_string());
            }
            let v = args
                .get(i)
                .ok_or_else(|| anyhow!("{flag} needs a value"))?
                .clone();
            i += 1;
            Ok(v)
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--topic" => topic = Some(value()?),
            "--num-records" => {
                let v = value()?;
                num_records = Some(
                    v.parse()
                        .map_err(|_| anyhow!("--num-records: {v:?} is not a count"))?,
                );
            }
            "--record-size" => {
                let v = value()?;
                let n: usize = v
                    .parse()
                    .map_err(|_| anyhow!("--record-size: {v:?} is not a size in bytes"))?;
                payloads.push(Payload::Size(n));
            }
            "--payload-file" => payloads.push(Payload::File { path: value()? }),
            "--payload-monotonic" => payloads.push(Payload::Monotonic),
            "--payload-delimiter" => delimiter = value()?,
            "--throughput" => {
                let v = value()?;
                throughput = Some(
                    v.parse()
                        .map_err(|_| anyhow!("--throughput: {v:?} is not a number"))?,
                );
            }
            "--producer-props" => {
                // argparse's nargs("+"): every following argument up to the next flag.
                let list = props.get_or_insert_with(Vec::new);
                let mut taken = 0;
                if let Some(v) = inline {
                    list.push(split_prop(v)?);
                    taken += 1;
                }
                while let Some(a) = args.get(i).filter(|a| !a.starts_with("--")) {
                    list.push(split_prop(a)?);
                    i += 1;
                    taken += 1;
                }
                if taken == 0 {
                    bail!("--producer-props needs at least one KEY=VALUE");
                }
            }
            "--producer.config" => config = Some(value()?),
            "--print-metrics" => print_metrics = true,
            other => bail!("unknown option {other:?}"),
        }
    }
    let topic = topic.ok_or_else(|| anyhow!("--topic is required"))?;
    let num_records = num_records.ok_or_else(|| anyhow!("--num-records is required"))?;
    let throughput = throughput.ok_or_else(|| anyhow!("--throughput is required"))?;
    if num_records == 0 {
        bail!("--num-records should be greater than zero");
    }
    if throughput == 0.0 {
        bail!("--throughput 0 would never send; use -1 for no limit");
    }
    let payload = match payloads.as_slice() {
        [p] => p.clone(),
        [] => bail!("one of --record-size, --payload-file or --payload-monotonic is required"),
        _ => bail!("give only one of --record-size, --payload-file or --payload-monotonic"),
    };
    if payload == Payload::Size(0) {
        bail!("--record-size should be greater than zero");
    }
    if props.is_none() && config.is_none() {
        bail!("either --producer-props or --producer.config must be specified");
    }
    // Java prints the default as the two characters `\n` and means a newline.
    let payload_delimiter = if delimiter == "\\n" {
        "\n".to_string()
    } else {
        delimiter
    };
    if payload_delimiter.is_empty() {
        bail!("--payload-delimiter must not be empty");
    }
    Ok(Some(Options {
        topic,
        num_records,
        payload,
        payload_delimiter,
        throughput,
        producer_props: props,
        producer_config: config,
        print_metrics,
    }))
}

fn split_prop(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => bail!("invalid property {s:?}: expected KEY=VALUE"),
    }
}

/// The producer settings: the file, then `--producer-props` over it, then Java's default client id.
fn config(o: &Options) -> Result<ProducerConfig> {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = &o.producer_config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        props.extend(
            kproducer::config::properties::parse(&text).map_err(|e| anyhow!("{path}: {e}"))?,
        );
    }
    props.extend(o.producer_props.iter().flatten().cloned());
    props
        .entry("client.id".into())
        .or_insert_with(|| DEFAULT_CLIENT_ID.into());
    Ok(ProducerConfig::from_map(props)?)
}

/// The payloads records are drawn from. Empty pieces of a payload file are skipped.
fn payloads(o: &Options) -> Result<Vec<Bytes>> {
    match &o.payload {
        Payload::Size(n) => {
            let mut rng = SmallRng::seed_from_u64(0);
            Ok((0..PAYLOAD_POOL)
                .map(|_| {
                    (0..*n)
                        .map(|_| rng.random_range(b'A'..=b'Z'))
                        .collect::<Vec<u8>>()
                        .into()
                })
                .collect())
        }
        Payload::File { path } => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading payload file {path}"))?;
            let list: Vec<Bytes> = text
                .split(o.payload_delimiter.as_str())
                .filter(|p| !p.is_empty())
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect();
            if list.is_empty() {
                bail!("payload file {path} is empty");
            }
            outln!("Reading payloads from: {path}");
            outln!("Number of messages read: {}", list.len());
            Ok(list)
        }
        Payload::Monotonic => Ok(Vec::new()),
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

/// Java's `ProducerPerformance.Stats`, with an HDR histogram (µs) instead of a sample array.
struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    total_latency_us: u64,
    max_latency_us: u64,
    histogram: Histogram<u64>,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_total_latency_us: u64,
    window_max_latency_us: u64,
}

impl Stats {
    fn new(start: Instant) -> Result<Self> {
        Ok(Stats {
            start,
            count: 0,
            bytes: 0,
            total_latency_us: 0,
            max_latency_us: 0,
            // 1 µs to 1 h at 3 significant digits; longer latencies count as 1 h.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)?,
            window_start: start,
            window_count: 0,
            window_bytes: 0,
            window_total_latency_us: 0,
            window_max_latency_us: 0,
        })
    }

    /// Records one acknowledged record; returns the window line when 5 s have passed.
    fn record(&mut self, latency: Duration, bytes: usize, now: Instant) -> Option<String> {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.count += 1;
        self.bytes += bytes as u64;
        self.total_latency_us += us;
        self.max_latency_us = self.max_latency_us.max(us);
        self.histogram.saturating_record(us);
        self.window_count += 1;
        self.window_bytes += bytes as u64;
        self.window_total_latency_us += us;
        self.window_max_latency_us = self.window_max_latency_us.max(us);
        if now.duration_since(self.window_start) < WINDOW {
            return None;
        }
        let line = window_line(
            self.window_count,
            self.window_bytes,
            now.duration_since(self.window_start),
            self.window_total_latency_us,
            self.window_max_latency_us,
        );
        self.window_start = now;
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_total_latency_us = 0;
        self.window_max_latency_us = 0;
        Some(line)
    }

    /// Java's `printTotal` line.
    fn total_line(&self, now: Instant) -> String {
        let elapsed_ms = now.duration_since(self.start).as_secs_f64() * 1000.0;
        let (rate, mb) = rates(self.count, self.bytes, elapsed_ms);
        let avg = if self.count == 0 {
            0.0
        } else {
            self.total_latency_us as f64 / self.count as f64 / 1000.0
        };
        let pct = |q: f64| self.histogram.value_at_quantile(q) / 1000;
        format!(
            "{} records sent, {rate:.6} records/sec ({mb:.2} MB/sec), {avg:.2} ms avg latency, \
             {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            self.max_latency_us as f64 / 1000.0,
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

fn window_line(count: u64, bytes: u64, elapsed: Duration, total_us: u64, max_us: u64) -> String {
    let (rate, mb) = rates(count, bytes, elapsed.as_secs_f64() * 1000.0);
    let avg = total_us as f64 / count.max(1) as f64 / 1000.0;
    format!(
        "{count} records sent, {rate:.1} records/sec ({mb:.2} MB/sec), {avg:.1} ms avg latency, \
         {:.1} ms max latency.",
        max_us as f64 / 1000.0
    )
}

/// Prints a line above the progress bar if there is one, else to stdout.
#[derive(Clone)]
struct Printer(Option<ProgressBar>);

impl Printer {
    fn line(&self, s: &str) {
        match &self.0 {
            Some(pb) => pb.println(s),
            None => outln!("{s}"),
        }
    }
}

/// Entry point of `kproducer perf`.
pub fn main(args: &[String]) -> ExitCode {
    crate::run_command("perf", HELP, parse(args), run)
}

/// Sends the records; returns how many failed.
async fn run(o: Options) -> Result<u64> {
    let cfg = config(&o)?;
    let client_id = cfg.client_id().to_string();
    let pool = payloads(&o)?;
    let producer: Producer<Vec<u8>, Bytes> = Producer::new(cfg)?;
    // After the build: a key the producer refused is reported once, as the error.
    crate::print_config_warnings(producer.config());

    let bar = (std::io::stdout().is_terminal() && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::with_draw_target(Some(o.num_records), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} acked  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(style);
        pb
    });
    let printer = Printer(bar.clone());
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let ticker = bar.clone().map(|pb| {
        let acked = acked.clone();
        tokio::spawn(async move {
            loop {
                pb.set_position(acked.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });

    let start = Instant::now();
    let stats = Arc::new(Mutex::new(Stats::new(start)?));
    let mut throttler = Throttler::new(o.throughput, start);
    let mut rng = SmallRng::seed_from_u64(0);
    // One shared topic name: no allocation per record.
    let topic: std::sync::Arc<str> = std::sync::Arc::from(o.topic.as_str());
    for i in 0..o.num_records {
        let value = match o.payload {
            Payload::Monotonic => Bytes::from(i.to_string()),
            Payload::Size(_) => pool[(i % pool.len() as u64) as usize].clone(),
            Payload::File { .. } => pool[rng.random_range(0..pool.len())].clone(),
        };
        let len = value.len();
        let send_start = Instant::now();
        let (stats_cb, printer_cb, acked_cb, failed_cb) = (
            stats.clone(),
            printer.clone(),
            acked.clone(),
            failed.clone(),
        );
        let sent = producer
            .send_with_callback(ProducerRecord::new(&topic, value), move |r| {
                let now = Instant::now();
                match r {
                    Ok(_) => {
                        acked_cb.fetch_add(1, Ordering::Relaxed);
                        let line = stats_cb.lock().unwrap_or_else(|e| e.into_inner()).record(
                            now - send_start,
                            len,
                            now,
                        );
                        if let Some(line) = line {
                            printer_cb.line(&line);
                        }
                    }
                    Err(e) => {
                        // Java prints each failure's stack trace; one line each here.
                        failed_cb.fetch_add(1, Ordering::Relaxed);
                        errln!("kproducer perf: record failed: {e}");
                    }
                }
            })
            .await;
        if let Err(e) = sent {
            producer.close(Duration::from_secs(30)).await;
            bail!("send failed: {e}");
        }
        if throttler.should_throttle(i, send_start) {
            if let Some(nap) = throttler.throttle() {
                tokio::time::sleep(nap).await;
            }
        }
    }

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
        pb.set_position(acked.load(Ordering::Relaxed));
        pb.finish_and_clear();
    }
    let total = stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .total_line(Instant::now());
    outln!("{total}");
    if o.print_metrics {
        print_metrics(&client_id, &producer.stats());
        producer.close(CLOSE_TIMEOUT).await;
    }
    Ok(failed.load(Ordering::Relaxed))
}

/// Java's `ToolsUtils.printMetrics` layout over the counters the producer keeps.
fn print_metrics(client_id: &str, s: &kproducer::SenderStats) {
    let tag = format!("{{client-id={client_id}}}");
    let mut rows: Vec<(String, String)> = vec![
        (
            format!("producer-metrics:request-total:{tag}"),
            format!("{:.3}", s.produce_requests as f64),
        ),
        (
            format!("producer-metrics:batch-total:{tag}"),
            format!("{:.3}", s.batches as f64),
        ),
        (
            format!("producer-metrics:record-send-total:{tag}"),
            format!("{:.3}", s.records as f64),
        ),
        (
            format!("producer-metrics:record-retry-total:{tag}"),
            format!("{:.3}", s.retries as f64),
        ),
        (
            format!("producer-metrics:records-per-request-avg:{tag}"),
            format!(
                "{:.3}",
                s.records as f64 / (s.produce_requests.max(1)) as f64
            ),
        ),
    ];
    for (node, n) in &s.requests_by_node {
        rows.push((
            format!("producer-node-metrics:request-total:{{client-id={client_id}, node-id=node-{node}}}"),
            format!("{:.3}", *n as f64),
        ));
    }
    rows.sort();
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(11);
    outln!("\n{:<width$}   Value", "Metric Name");
    for (k, v) in rows {
        outln!("{k:<width$} : {v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_java_flags_with_several_props_after_one_flag() {
        let o = parse(&args(&[
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
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.num_records, 10);
        assert_eq!(o.payload, Payload::Size(100));
        assert_eq!(o.throughput, -1.0);
        assert!(o.print_metrics);
        assert_eq!(o.producer_props.as_ref().map(Vec::len), Some(3));
        assert_eq!(o.payload_delimiter, "\n");
        let cfg = config(&o).unwrap();
        assert_eq!(cfg.acks(), kproducer::Acks::Leader);
        assert_eq!(cfg.client_id(), DEFAULT_CLIENT_ID);
    }

    #[test]
    fn rejects_what_java_rejects() {
        let base = ["--topic", "t", "--num-records", "5", "--throughput", "-1"];
        let with = |extra: &[&str]| {
            let mut v = args(&base);
            v.extend(args(extra));
            parse(&v)
        };
        // No payload option, or two of them.
        assert!(with(&["--producer-props", "a=b"]).is_err());
        assert!(with(&[
            "--record-size",
            "1",
            "--payload-monotonic",
            "--producer-props",
            "a=b"
        ])
        .is_err());
        // No producer settings at all.
        assert!(with(&["--record-size", "1"]).is_err());
        // A property without '='.
        assert!(with(&["--record-size", "1", "--producer-props", "nonsense"]).is_err());
        assert!(with(&["--record-size", "0", "--producer-props", "a=b"]).is_err());
        assert!(with(&["--record-size", "1", "--bogus", "--producer-props", "a=b"]).is_err());
        assert!(parse(&args(&["--topic", "t"])).is_err());
        assert!(parse(&[]).unwrap().is_none(), "no arguments prints help");
    }

    #[test]
    fn throttler_paces_like_java() {
        let start = Instant::now();
        let mut t = Throttler::new(1000.0, start);
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
        assert!(!unlimited.should_throttle(1_000_000, start + Duration::from_millis(1)));
    }

    #[test]
    fn lines_have_javas_format() {
        let start = Instant::now();
        let mut s = Stats::new(start).unwrap();
        assert_eq!(
            s.record(
                Duration::from_millis(3),
                100,
                start + Duration::from_secs(1)
            ),
            None
        );
        let line = s
            .record(
                Duration::from_millis(7),
                100,
                start + Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(
            line,
            "2 records sent, 0.4 records/sec (0.00 MB/sec), 5.0 ms avg latency, 7.0 ms max latency."
        );
        let total = s.total_line(start + Duration::from_secs(10));
        assert_eq!(
            total,
            "2 records sent, 0.200000 records/sec (0.00 MB/sec), 5.00 ms avg latency, \
             7.00 ms max latency, 3 ms 50th, 7 ms 95th, 7 ms 99th, 7 ms 99.9th."
        );
    }
}
