//! A custom partitioner (Java's `partitioner.class`): priority keys to partition 0, other keys
//! spread over the rest; records without a key left to the built-in partitioner.
//!
//! `cargo run -p kproducer --example custom_partitioner [BOOTSTRAP_SERVERS]`
//! (a real cluster needs the topic `example-partitioned` with 4 partitions).

mod common;

use std::time::Duration;

use kproducer::partitioner::{partition_for_key, Partitioner, TopicPartitions};
use kproducer::producer::ProducerBuilder;
use kproducer::{ProducerConfig, ProducerRecord};

const TOPIC: &str = "example-partitioned";

struct PriorityPartitioner;

impl Partitioner for PriorityPartitioner {
    fn partition(
        &self,
        topic: &TopicPartitions<'_>,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
    ) -> Option<i32> {
        // `None`: the built-in choice (sticky for records without a key).
        let key = key?;
        if key.starts_with(b"vip-") || topic.partition_count < 2 {
            return Some(0);
        }
        // Java's murmur2 over the other partitions.
        Some(1 + partition_for_key(key, topic.partition_count - 1))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = common::Cluster::from_args()?;
    cluster.create_topic(TOPIC, 4)?;
    let config = ProducerConfig::from_map([("bootstrap.servers", cluster.bootstrap.as_str())])?;
    let producer = ProducerBuilder::<String, String>::new(config)
        .partitioner(PriorityPartitioner)
        .build()?;

    for key in ["vip-ada", "bob", "vip-grace", "carol", "dave"] {
        let record =
            ProducerRecord::new(TOPIC, format!("order of {key}")).with_key(key.to_string());
        let md = producer.send(record).await?.await?;
        println!("{key:>10} -> partition {}", md.partition);
        if key.starts_with("vip-") && md.partition != 0 {
            return Err(format!("{key} should be on partition 0, not {}", md.partition).into());
        }
        if !key.starts_with("vip-") && md.partition == 0 {
            return Err(format!("{key} should not be on partition 0").into());
        }
    }
    // An explicit partition on the record still wins over the partitioner.
    let md = producer
        .send(
            ProducerRecord::new(TOPIC, "pinned".to_string())
                .with_key("vip-x".to_string())
                .with_partition(3),
        )
        .await?
        .await?;
    println!("{:>10} -> partition {} (explicit)", "vip-x", md.partition);

    producer.close(Duration::from_secs(30)).await;
    Ok(())
}
