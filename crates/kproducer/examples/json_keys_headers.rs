//! JSON keys and values with serde, and record headers.
//!
//! `cargo run -p kproducer --features serde --example json_keys_headers [BOOTSTRAP_SERVERS]`
//! (without an address it starts an in-process broker and prints what it stored).

mod common;

use std::time::Duration;

use kproducer::producer::ProducerBuilder;
use kproducer::serializer::JsonSerializer;
use kproducer::{ProducerConfig, ProducerRecord, SendError};
use serde::Serialize;

#[derive(Serialize)]
struct CustomerId {
    customer: u32,
}

#[derive(Serialize)]
struct Order {
    id: u64,
    items: Vec<&'static str>,
    total_cents: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = common::Cluster::from_args()?;
    let topic = "example-orders-json";

    let config = ProducerConfig::builder()
        .bootstrap_servers(&cluster.bootstrap)
        .linger(Duration::from_millis(5))
        .build()?;
    // Neither type has a built-in serializer: give JSON for both.
    let producer = ProducerBuilder::<CustomerId, Order>::new(config)
        .key_serializer(JsonSerializer)
        .value_serializer(JsonSerializer)
        .build()?;

    for id in 1..=3u64 {
        // A header value can borrow a local buffer (it is copied into the record).
        let trace_id = format!("trace-{id:04}").into_bytes();
        let record = ProducerRecord::new(
            topic,
            Order {
                id,
                items: vec!["tea", "scone"],
                total_cents: 450 * id,
            },
        )
        .with_key(CustomerId { customer: 7 })
        .with_header("trace-id", trace_id.as_slice())
        .with_header("content-type", "application/json");
        let md = producer.send(record).await?.await?;
        println!(
            "order {id} written to {}-{} at offset {}",
            md.topic, md.partition, md.offset
        );
    }

    // A bounded flush: Err(FlushError::Timeout) if the cluster does not answer in time.
    producer.flush_timeout(Duration::from_secs(30)).await?;
    producer.close(Duration::from_secs(30)).await;

    if let Some(stored) = cluster.stored(topic, 0) {
        println!("the broker stored:");
        for line in stored {
            println!("  {line}");
        }
    }

    // A refused send says whether trying again could help.
    let late = ProducerRecord::new(
        topic,
        Order {
            id: 4,
            items: vec![],
            total_cents: 0,
        },
    );
    match producer.send(late).await {
        Err(e @ SendError::Closed) => {
            println!("after close: {e} (retriable: {})", e.is_retriable())
        }
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("a closed producer took a record".into()),
    }
    Ok(())
}
