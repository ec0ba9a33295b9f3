//! Graceful shutdown: produce until Ctrl-C (or `RECORDS` records, 500 by default), then stop
//! sending, flush what is buffered within a bound and close.
//!
//! `cargo run -p kproducer --example graceful_shutdown [BOOTSTRAP_SERVERS]`
//! (`RECORDS=0` runs until Ctrl-C).

mod common;

use std::time::Duration;

use kproducer::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = common::Cluster::from_args()?;
    let limit: u64 = match std::env::var("RECORDS") {
        Ok(n) => n.parse()?,
        Err(_) => 500,
    };
    let config = ProducerConfig::from_map([
        ("bootstrap.servers", cluster.bootstrap.as_str()),
        ("linger.ms", "20"),
    ])?;
    let producer: Producer<String, String> = Producer::new(config)?;

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    let reason = loop {
        if limit != 0 && sent == limit {
            break "record limit reached";
        }
        tokio::select! {
            _ = &mut ctrl_c => break "Ctrl-C",
            _ = tick.tick() => {
                let record = ProducerRecord::new("example-shutdown", format!("tick {sent}"));
                // Errors are counted by the callback; a refused send ends the loop.
                producer.send_with_callback(record, |r| {
                    if let Err(e) = r {
                        eprintln!("delivery failed: {e}");
                    }
                }).await?;
                sent += 1;
            }
        }
    };
    println!("stopping ({reason}) after {sent} records");

    // Bounded: a broker that went away must not keep the process up forever.
    if let Err(e) = producer.flush_timeout(Duration::from_secs(10)).await {
        eprintln!("{e}; closing anyway");
    }
    // Whatever is still undelivered after the close timeout fails (its callbacks say so).
    producer.close(Duration::from_secs(5)).await;
    println!("closed; {} records acknowledged", producer.stats().records);
    Ok(())
}
