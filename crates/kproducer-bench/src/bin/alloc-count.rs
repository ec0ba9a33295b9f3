//! `alloc-count`: heap allocations per record on kproducer's send path (byte keys and values)
//! against the in-process ack sink.
//!
//! ```text
//! cargo run --release -p kproducer-bench --bin alloc-count -- [--records N] [--size BYTES]
//!     [--compression none|gzip|snappy|lz4|zstd]
//! ```
//!
//! A counting `#[global_allocator]` counts every allocation except on the sink's thread. The
//! records (topic string, key and value vectors) are built before counting starts, so what is
//! counted is the producer's own work: send, batching, requests, responses, completion. Two
//! modes: `send` (dropping the `DeliveryFuture`) and `send_with_callback` (a closure holding an
//! `Arc`, as real code does; the box is one allocation per record) and `send_with_callback` with a
//! closure that captures nothing (no box allocation: it must stay at 0).
//!
//! `ALLOC_TRACE=N` samples one counted allocation in N with a backtrace and prints the sites
//! (the first frames outside the allocator), with allocations per 1M records for each:
//!
//! ```text
//! ALLOC_TRACE=1 cargo run --release -p kproducer-bench --bin alloc-count -- --records 100000
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_bench::AckSink;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the sink's thread: its allocations are not the client's.
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread captures a backtrace: what that allocates is not counted.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Sample one counted allocation in this many (0: no sampling).
static TRACE_EVERY: AtomicU64 = AtomicU64::new(0);
/// Sampling happens only while a measured phase runs.
static TRACING: AtomicBool = AtomicBool::new(false);
static SAMPLES: Mutex<Vec<Backtrace>> = Mutex::new(Vec::new());

fn count(size: usize) {
    let skip =
        EXCLUDED.try_with(Cell::get).unwrap_or(true) || IN_HOOK.try_with(Cell::get).unwrap_or(true);
    if skip {
        return;
    }
    let n = ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    let every = TRACE_EVERY.load(Ordering::Relaxed);
    if every > 0 && n.is_multiple_of(every) && TRACING.load(Ordering::Relaxed) {
        IN_HOOK.with(|h| h.set(true));
        let bt = Backtrace::force_capture();
        if let Ok(mut samples) = SAMPLES.lock() {
            samples.push(bt);
        }
        IN_HOOK.with(|h| h.set(false));
    }
}

/// Frames that belong to the allocator, the counter or std's plumbing, not to an allocation site.
fn is_plumbing(frame: &str) -> bool {
    const SKIP: &[&str] = &[
        "alloc_count::",
        "<alloc_count::",
        "std::backtrace",
        "__rust",
        "__rdl",
        "alloc::alloc::",
        "alloc::raw_vec::",
        "<alloc::alloc::",
        "alloc::boxed::Box<T>::new",
        "alloc::sync::Arc<T>::new",
        "std::alloc::",
        "core::ops::function::",
    ];
    SKIP.iter().any(|s| frame.starts_with(s))
}

/// Prints the sampled allocation sites, most frequent first, per 1M records.
fn print_samples(label: &str, records: usize) {
    let samples = match SAMPLES.lock() {
        Ok(mut s) => std::mem::take(&mut *s),
        Err(_) => return,
    };
    if samples.is_empty() {
        return;
    }
    let every = TRACE_EVERY.load(Ordering::Relaxed) as f64;
    let mut sites: HashMap<String, u64> = HashMap::new();
    for bt in &samples {
        let text = bt.to_string();
        let frames: Vec<&str> = text
            .lines()
            .filter_map(|l| {
                let (num, name) = l.trim_start().split_once(": ")?;
                num.parse::<u32>().ok().map(|_| name.trim())
            })
            .filter(|f| !is_plumbing(f))
            .collect();
        // The first frames outside the allocator, then the first of kproducer's own if further.
        let mut key: Vec<&str> = frames.iter().take(3).copied().collect();
        if let Some(own) = frames.iter().find(|f| f.contains("kproducer::")) {
            if !key.contains(own) {
                key.push(own);
            }
        }
        *sites.entry(key.join("\n    <- ")).or_default() += 1;
    }
    let mut sites: Vec<(String, u64)> = sites.into_iter().collect();
    sites.sort_by_key(|s| std::cmp::Reverse(s.1));
    println!("allocation sites ({label}), per 1M records:");
    for (site, hits) in sites {
        println!(
            "{:>10.0}  {site}",
            hits as f64 * every * 1e6 / records as f64
        );
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

fn records(topic: &str, n: usize, size: usize) -> Vec<ProducerRecord<Vec<u8>, Vec<u8>>> {
    (0..n)
        .map(|i| {
            ProducerRecord::new(topic, vec![b'v'; size]).with_key(format!("key-{i}").into_bytes())
        })
        .collect()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alloc-count: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .ok_or_else(|| anyhow!("{name} needs a value"))?
                .parse()
                .map_err(|e| anyhow!("{name}: {e}")),
            None => Ok(default),
        }
    };
    let n = arg("--records", 200_000)?;
    let size = arg("--size", 100)?;
    let compression = match args.iter().position(|a| a == "--compression") {
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| anyhow!("--compression needs a value"))?
            .clone(),
        None => "none".to_string(),
    };

    let sink = AckSink::start_with(3, || EXCLUDED.with(|e| e.set(true)))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = ProducerConfig::from_map([
            ("bootstrap.servers", sink.bootstrap().as_str()),
            ("acks", "1"),
            ("linger.ms", "5"),
            ("batch.size", "16384"),
            ("enable.idempotence", "false"),
            ("compression.type", compression.as_str()),
        ])?;
        let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config)?;
        let topic = "alloc-count";

        // Warm-up: metadata, connection, buffers and the runtime reach their steady state.
        for r in records(topic, n / 10 + 1, size) {
            drop(producer.send(r).await?);
        }
        producer.flush().await;

        println!(
            "kproducer send path, {n} records, {size} B values, 5..10 B keys, acks=1, linger.ms=5, \
             compression.type={compression}"
        );
        println!("{:<22} {:>12} {:>14}", "mode", "allocs/rec", "bytes/rec");

        let every = std::env::var("ALLOC_TRACE")
            .ok()
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|e| anyhow!("ALLOC_TRACE: {e}"))?
            .unwrap_or(0);
        TRACE_EVERY.store(every, Ordering::Relaxed);
        let report = |label: &str, (a0, b0): (u64, u64)| {
            TRACING.store(false, Ordering::Relaxed);
            let (a1, b1) = snapshot();
            println!(
                "{:<22} {:>12.3} {:>14.1}",
                label,
                (a1 - a0) as f64 / n as f64,
                (b1 - b0) as f64 / n as f64
            );
            print_samples(label, n);
        };
        let start = || {
            let s = snapshot();
            TRACING.store(true, Ordering::Relaxed);
            s
        };

        let batch = records(topic, n, size);
        let s0 = start();
        for r in batch {
            drop(producer.send(r).await?);
        }
        producer.flush().await;
        report("send (future dropped)", s0);

        let acked = Arc::new(AtomicU64::new(0));
        let batch = records(topic, n, size);
        let s0 = start();
        for r in batch {
            let acked = acked.clone();
            producer
                .send_with_callback(r, move |res| {
                    if res.is_ok() {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await?;
        }
        producer.flush().await;
        report("send_with_callback", s0);

        // A closure that captures nothing is a zero-sized box: no allocation per record.
        static ACKED: AtomicU64 = AtomicU64::new(0);
        let batch = records(topic, n, size);
        let s0 = start();
        for r in batch {
            producer
                .send_with_callback(r, |res| {
                    if res.is_ok() {
                        ACKED.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await?;
        }
        producer.flush().await;
        report("callback, no capture", s0);
        producer.close(Duration::from_secs(30)).await;
        let sink_records = sink.counters().records.load(Ordering::Relaxed);
        println!("records the sink acknowledged in all: {sink_records}");
        for (mode, acked) in [
            ("send_with_callback", acked.load(Ordering::Relaxed)),
            ("callback, no capture", ACKED.load(Ordering::Relaxed)),
        ] {
            if acked != n as u64 {
                return Err(anyhow!("{mode}: only {acked} of {n} records acknowledged"));
            }
        }
        Ok(())
    })
}
