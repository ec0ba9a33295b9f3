//! An interceptor (Java's `interceptor.classes`): stamps every record with a header before it is
//! serialized and counts acknowledgements and failures.
//!
//! `cargo run -p kproducer --example interceptor [BOOTSTRAP_SERVERS]`

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kproducer::interceptor::{InterceptorError, ProducerInterceptor};
use kproducer::producer::ProducerBuilder;
use kproducer::{ProduceError, ProducerConfig, ProducerRecord, RecordMetadata};

const TOPIC: &str = "example-intercepted";

#[derive(Default)]
struct Audit {
    acknowledged: AtomicU64,
    failed: AtomicU64,
}

/// The interceptor the producer owns; the counters are shared with `main`.
struct AuditInterceptor(Arc<Audit>);

impl ProducerInterceptor<String, String> for AuditInterceptor {
    fn on_send(&self, record: &mut ProducerRecord<String, String>) -> Result<(), InterceptorError> {
        record
            .headers
            .push(kproducer::Header::new("audited-by", "example"));
        Ok(())
    }

    // Runs on the producer's network thread: keep it quick.
    fn on_acknowledgement(
        &self,
        _metadata: &RecordMetadata,
        error: Option<&ProduceError>,
    ) -> Result<(), InterceptorError> {
        let counter = if error.is_some() {
            &self.0.failed
        } else {
            &self.0.acknowledged
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = common::Cluster::from_args()?;
    let audit = Arc::new(Audit::default());
    let config = ProducerConfig::from_map([("bootstrap.servers", cluster.bootstrap.as_str())])?;
    let producer = ProducerBuilder::<String, String>::new(config)
        .interceptor(AuditInterceptor(audit.clone()))
        .build()?;

    let mut deliveries = Vec::new();
    for i in 0..50 {
        deliveries.push(
            producer
                .send(ProducerRecord::new(TOPIC, format!("event {i}")))
                .await?,
        );
    }
    for delivery in deliveries {
        delivery.await?;
    }
    producer.close(Duration::from_secs(30)).await;

    let acknowledged = audit.acknowledged.load(Ordering::Relaxed);
    println!(
        "{acknowledged} acknowledged, {} failed",
        audit.failed.load(Ordering::Relaxed)
    );
    if let Some(stored) = cluster.stored(TOPIC, 0) {
        println!(
            "first stored record: {}",
            stored.first().map_or("none", String::as_str)
        );
    }
    if acknowledged != 50 {
        return Err(format!("the interceptor saw {acknowledged} acknowledgements, not 50").into());
    }
    Ok(())
}
