//! The blocking producer, from plain threads: no async runtime in the program.
//!
//! `cargo run -p kproducer --example blocking [BOOTSTRAP_SERVERS]`

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kproducer::{BlockingProducer, ProducerConfig, ProducerRecord};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = common::Cluster::from_args()?;
    let config = ProducerConfig::builder()
        .bootstrap_servers(&cluster.bootstrap)
        .client_id("blocking-example")
        .build()?;
    let producer: BlockingProducer<String, String> = BlockingProducer::new(config)?;

    // Java's `producer.send(record).get()`.
    let md =
        producer.send_and_wait(ProducerRecord::new("example-blocking", "first".to_string()))?;
    println!("first record at offset {}", md.offset);

    // One producer shared by several threads.
    let producer = Arc::new(producer);
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let producer = producer.clone();
            thread::spawn(move || -> Result<(), kproducer::KafkaError> {
                let mut pending = Vec::new();
                for i in 0..100 {
                    let record =
                        ProducerRecord::new("example-blocking", format!("worker {w} record {i}"))
                            .with_key(format!("worker-{w}"));
                    pending.push(producer.send(record)?);
                }
                // Wait for this thread's records.
                for delivery in pending {
                    delivery.wait()?;
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "a worker thread panicked")??;
    }

    producer.flush_timeout(Duration::from_secs(30))?;
    println!("{} records sent", producer.as_async().stats().records);
    producer.close(Duration::from_secs(30));
    Ok(())
}
