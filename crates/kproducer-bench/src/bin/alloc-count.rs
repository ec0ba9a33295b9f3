//! `alloc-count`: heap allocations per record on kproducer's send path (byte keys and values)
//! against the in-process ack sink.
//!
//! ```text
//! cargo run --release -p kproducer-bench --bin alloc-count -- [--records N] [--size BYTES]
//! ```
//!
//! A counting `#[global_allocator]` counts every allocation except on the sink's thread. The
//! records (topic string, key and value vectors) are built before counting starts, so what is
//! counted is the producer's own work: send, batching, requests, responses, completion. Two
//! modes: `send` (dropping the `DeliveryFuture`) and `send_with_callback` (a closure holding an
//! `Arc`, as real code does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
}

fn count(size: usize) {
    if !EXCLUDED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
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
        ])?;
        let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config)?;
        let topic = "alloc-count";

        // Warm-up: metadata, connection, buffers and the runtime reach their steady state.
        for r in records(topic, n / 10 + 1, size) {
            drop(producer.send(r).await?);
        }
        producer.flush().await;

        println!(
            "kproducer send path, {n} records, {size} B values, 5..10 B keys, acks=1, linger.ms=5"
        );
        println!("{:<22} {:>12} {:>14}", "mode", "allocs/rec", "bytes/rec");

        let batch = records(topic, n, size);
        let (a0, b0) = snapshot();
        for r in batch {
            drop(producer.send(r).await?);
        }
        producer.flush().await;
        let (a1, b1) = snapshot();
        println!(
            "{:<22} {:>12.3} {:>14.1}",
            "send (future dropped)",
            (a1 - a0) as f64 / n as f64,
            (b1 - b0) as f64 / n as f64
        );

        let acked = Arc::new(AtomicU64::new(0));
        let batch = records(topic, n, size);
        let (a0, b0) = snapshot();
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
        let (a1, b1) = snapshot();
        println!(
            "{:<22} {:>12.3} {:>14.1}",
            "send_with_callback",
            (a1 - a0) as f64 / n as f64,
            (b1 - b0) as f64 / n as f64
        );
        producer.close(Duration::from_secs(30)).await;
        let sink_records = sink.counters().records.load(Ordering::Relaxed);
        println!(
            "acknowledged by callback: {}; records the sink acknowledged in all: {sink_records}",
            acked.load(Ordering::Relaxed)
        );
        if acked.load(Ordering::Relaxed) != n as u64 {
            return Err(anyhow!(
                "only {} of {n} records acknowledged",
                acked.load(Ordering::Relaxed)
            ));
        }
        Ok(())
    })
}
