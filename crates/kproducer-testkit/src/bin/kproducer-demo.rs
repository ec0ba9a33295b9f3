//! The demo: start a local Tansu broker, send 100,000 records through kproducer with a progress
//! bar, read them all back with librdkafka, print a one-screen summary, stop the broker.
//!
//! Run it with `scripts/demo.sh` (which installs Tansu first if needed).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{read_all, Broker};

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 3;
const VALUE_SIZE: usize = 100;

fn main() -> Result<()> {
    let records: usize = std::env::var("DEMO_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS);
    println!("kproducer demo: starting a local Tansu broker…");
    let broker = Broker::start().context("starting Tansu (run scripts/setup.sh to install it)")?;
    let topic = "kproducer-demo";
    broker.create_topic(topic, PARTITIONS)?;
    println!(
        "broker at {}, topic {topic} with {PARTITIONS} partitions",
        broker.bootstrap()
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let (elapsed, latencies, per_partition) =
        runtime.block_on(produce(&broker.bootstrap(), topic, records))?;

    println!("reading everything back with librdkafka…");
    let read = read_all(
        &broker.bootstrap(),
        topic,
        Some(records),
        Duration::from_secs(120),
    )?;
    let mut read_per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    for r in &read {
        *read_per_partition.entry(r.partition).or_default() += 1;
        let ok = r
            .value
            .as_deref()
            .is_some_and(|v| v.len() == VALUE_SIZE && v.starts_with(b"record-"));
        if !ok {
            bail!("record at {}@{} is not one we sent", r.partition, r.offset);
        }
    }
    if read.len() != records || read_per_partition != per_partition {
        bail!(
            "sent {records} records {per_partition:?}, read back {} {read_per_partition:?}",
            read.len()
        );
    }

    let secs = elapsed.as_secs_f64();
    let pct = |p: f64| -> f64 {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!();
    println!("──────────────────────── kproducer demo summary ────────────────────────");
    println!("records sent and acknowledged : {records}");
    println!("records read back (librdkafka): {} — all match", read.len());
    println!(
        "per partition                 : {}",
        per_partition
            .iter()
            .map(|(p, n)| format!("p{p}={n}"))
            .collect::<Vec<_>>()
            .join("  ")
    );
    println!(
        "throughput                    : {:.0} records/s, {:.1} MB/s ({} B values, acks=all)",
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
    drop(broker);
    println!("broker stopped.");
    Ok(())
}

type ProduceOutcome = (Duration, Vec<u64>, BTreeMap<i32, usize>);

async fn produce(bootstrap: &str, topic: &str, records: usize) -> Result<ProduceOutcome> {
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
    let per_partition: Arc<Mutex<BTreeMap<i32, usize>>> = Arc::default();
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
        let (lat, parts, fails, bar) = (
            latencies.clone(),
            per_partition.clone(),
            failures.clone(),
            bar.clone(),
        );
        producer
            .send_with_callback(record, move |r| {
                match r {
                    Ok(md) => {
                        lock(&lat).push(sent_at.elapsed().as_micros() as u64);
                        *lock(&parts).entry(md.partition).or_default() += 1;
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
    let mut lat = lock(&latencies).clone();
    lat.sort_unstable();
    let parts = lock(&per_partition).clone();
    Ok((elapsed, lat, parts))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
