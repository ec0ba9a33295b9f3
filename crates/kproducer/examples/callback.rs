//! Delivery callbacks: each record's outcome on the producer's network thread, in send order
//! per partition, without awaiting a future per record.
//!
//! `cargo run -p kproducer --example callback [BOOTSTRAP_SERVERS]`

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kproducer::{Producer, ProducerConfig, ProducerRecord};

const RECORDS: usize = 1_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = common::Cluster::from_args()?;
    let config = ProducerConfig::from_map([
        ("bootstrap.servers", cluster.bootstrap.as_str()),
        ("linger.ms", "10"),
    ])?;
    let producer: Producer<String, String> = Producer::new(config)?;

    let delivered = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    for i in 0..RECORDS {
        let (delivered, failed) = (delivered.clone(), failed.clone());
        let record = ProducerRecord::new("example-callback", format!("event {i}"))
            .with_key(format!("user-{}", i % 10));
        // Keep callbacks quick: they run on the network thread.
        producer
            .send_with_callback(record, move |result| match result {
                Ok(_) => {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("record {i} failed (retriable: {}): {e}", e.is_retriable());
                }
            })
            .await?;
    }

    // Every callback has run once flush returns.
    producer.flush_timeout(Duration::from_secs(30)).await?;
    let (ok, bad) = (
        delivered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    println!("{ok} delivered, {bad} failed");
    producer.close(Duration::from_secs(30)).await;
    if ok != RECORDS {
        return Err(format!("expected {RECORDS} delivered, got {ok}").into());
    }
    Ok(())
}
