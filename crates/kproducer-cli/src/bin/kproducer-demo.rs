//! The demo: start an in-process 3-broker Kafka cluster (kproducer-mock, real protocol on
//! loopback TCP), send 100,000 records through kproducer with a progress bar, read every record
//! back from the cluster's log (decoded by the mock, not by kproducer), print a one-screen
//! summary.
//!
//! ```text
//! cargo run --release -p kproducer-cli --bin kproducer-demo
//! cargo run --release -p kproducer-cli --bin kproducer-demo -- --bootstrap-server HOST:PORT
//! ```
//!
//! With `--bootstrap-server` it produces to that broker instead (the topic is auto-created or
//! must exist) and checks the acknowledgements: every record acknowledged once, offsets
//! contiguous per partition. `--records N` (or `DEMO_RECORDS`) changes the count.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_mock::{ClusterConfig, MockServer};

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 3;
const BROKERS: i32 = 3;
const VALUE_SIZE: usize = 100;
const TOPIC: &str = "kproducer-demo";

struct Options {
    records: usize,
    bootstrap: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        records: std::env::var("DEMO_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(RECORDS),
        bootstrap: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{name} needs a value"))
        };
        match name {
            "--bootstrap-server" => opts.bootstrap = Some(value()?),
            "--records" => {
                let v = value()?;
                opts.records = v
                    .parse()
                    .with_context(|| format!("--records: {v:?} is not a count"))?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: kproducer-demo [--records N] [--bootstrap-server HOST:PORT]\n\
                     Without --bootstrap-server the demo starts an in-process {BROKERS}-broker cluster."
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?} (try --help)"),
        }
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kproducer-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: Options) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let embedded = match &opts.bootstrap {
            Some(_) => None,
            None => {
                println!("kproducer demo: starting an in-process {BROKERS}-broker Kafka cluster…");
                let server = MockServer::start(ClusterConfig {
                    brokers: BROKERS,
                    ..ClusterConfig::default()
                })
                .await
                .context("starting the in-process cluster")?;
                server
                    .cluster()
                    .lock()
                    .map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?
                    .create_topic(TOPIC, PARTITIONS)?;
                Some(server)
            }
        };
        let bootstrap = match (&opts.bootstrap, &embedded) {
            (Some(b), _) => b.clone(),
            (None, Some(server)) => server.bootstrap_servers(),
            (None, None) => unreachable!("one of the two is set"),
        };
        println!("brokers at {bootstrap}, topic {TOPIC}");
        let outcome = produce(&bootstrap, TOPIC, opts.records).await?;

        let check = match &embedded {
            Some(server) => {
                println!("reading everything back from the cluster's log…");
                let cluster = server.cluster();
                let cluster = cluster
                    .lock()
                    .map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?;
                let mut read = 0usize;
                let mut read_per_partition = BTreeMap::new();
                for p in 0..PARTITIONS {
                    let records = cluster.records(TOPIC, p)?;
                    for r in &records {
                        let ok = r
                            .value
                            .as_deref()
                            .is_some_and(|v| v.len() == VALUE_SIZE && v.starts_with(b"record-"));
                        if !ok {
                            bail!("record at {p}@{} is not one we sent", r.offset);
                        }
                    }
                    read += records.len();
                    read_per_partition.insert(p, records.len());
                }
                if read != opts.records || read_per_partition != outcome.per_partition {
                    bail!(
                        "sent {} records {:?}, read back {read} {read_per_partition:?}",
                        opts.records,
                        outcome.per_partition
                    );
                }
                format!("{read} — all match, none twice (read from the cluster's log)")
            }
            None => {
                check_offsets(&outcome.offsets)?;
                format!(
                    "{} acknowledgements, offsets contiguous per partition (external broker: not read back)",
                    opts.records
                )
            }
        };
        print_summary(opts.records, &outcome, &check);
        if let Some(server) = embedded {
            server.shutdown().await;
            println!("cluster stopped.");
        }
        Ok(())
    })
}

/// Each partition's acknowledged offsets must be distinct and contiguous.
fn check_offsets(offsets: &BTreeMap<i32, Vec<i64>>) -> Result<()> {
    for (p, offs) in offsets {
        let mut sorted = offs.clone();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            if w[1] != w[0] + 1 {
                bail!(
                    "partition {p}: acknowledged offsets jump from {} to {}",
                    w[0],
                    w[1]
                );
            }
        }
    }
    Ok(())
}

fn print_summary(records: usize, o: &Outcome, check: &str) {
    let secs = o.elapsed.as_secs_f64();
    let pct = |p: f64| -> f64 {
        let i = ((o.latencies.len() as f64 - 1.0) * p).round() as usize;
        o.latencies.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!();
    println!("──────────────────────── kproducer demo summary ────────────────────────");
    println!("records sent and acknowledged : {records}");
    println!("records checked               : {check}");
    println!(
        "per partition                 : {}",
        o.per_partition
            .iter()
            .map(|(p, n)| format!("p{p}={n}"))
            .collect::<Vec<_>>()
            .join("  ")
    );
    println!(
        "throughput                    : {:.0} records/s, {:.1} MB/s ({} B values, acks=all, idempotent)",
        records as f64 / secs,
        (records * VALUE_SIZE) as f64 / secs / 1e6,
        VALUE_SIZE
    );
    println!(
        "send→ack latency              : p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!("total time                    : {secs:.2} s");
    println!("─────────────────────────────────────────────────────────────────────────");
}

struct Outcome {
    elapsed: Duration,
    latencies: Vec<u64>,
    per_partition: BTreeMap<i32, usize>,
    offsets: BTreeMap<i32, Vec<i64>>,
}

async fn produce(bootstrap: &str, topic: &str, records: usize) -> Result<Outcome> {
    let config = ProducerConfig::from_map([
        ("bootstrap.servers", bootstrap),
        ("linger.ms", "5"),
        ("acks", "all"),
    ])?;
    let producer: Producer<String, Vec<u8>> = Producer::new(config)?;
    let bar = ProgressBar::new(records as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} sending [{bar:40}] {pos}/{len} acknowledged ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    let latencies: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::with_capacity(records)));
    let offsets: Arc<Mutex<BTreeMap<i32, Vec<i64>>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let topic: Arc<str> = Arc::from(topic);
    let started = Instant::now();
    for i in 0..records {
        let mut value = format!("record-{i}-").into_bytes();
        value.resize(VALUE_SIZE, b'.');
        let record = ProducerRecord::new(&topic, value);
        let record = if i % 2 == 0 {
            record.with_key(format!("key-{}", i % 1000))
        } else {
            record
        };
        let sent_at = Instant::now();
        let (lat, offs, fails, bar) = (
            latencies.clone(),
            offsets.clone(),
            failures.clone(),
            bar.clone(),
        );
        producer
            .send_with_callback(record, move |r| {
                match r {
                    Ok(md) => {
                        lock(&lat).push(sent_at.elapsed().as_micros() as u64);
                        lock(&offs).entry(md.partition).or_default().push(md.offset);
                    }
                    Err(e) => lock(&fails).push(e.to_string()),
                }
                bar.inc(1);
            })
            .await?;
    }
    producer.flush().await;
    let elapsed = started.elapsed();
    producer.close(Duration::from_secs(30)).await;
    bar.finish();
    let fails = lock(&failures).clone();
    if !fails.is_empty() {
        bail!("{} records failed, first: {}", fails.len(), fails[0]);
    }
    let mut latencies = lock(&latencies).clone();
    latencies.sort_unstable();
    let offsets = lock(&offsets).clone();
    let per_partition = offsets.iter().map(|(p, o)| (*p, o.len())).collect();
    Ok(Outcome {
        elapsed,
        latencies,
        per_partition,
        offsets,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
