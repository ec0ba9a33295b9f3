//! The stalled ack sink answers Metadata but never Produce, in both modes, and the stall
//! measurement stops each client once its buffer is full.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_bench::stall::{run_stalled, StallRun};
use kproducer_bench::{AckSink, StallMode};

/// Sends one record to a stalled sink: metadata comes, the acknowledgement does not.
async fn one_record_is_never_acknowledged(mode: StallMode) {
    let sink = AckSink::start_stalled(3, mode).expect("sink starts");
    let config = ProducerConfig::from_map([
        ("bootstrap.servers", sink.bootstrap()),
        ("request.timeout.ms", "60000".to_string()),
        ("delivery.timeout.ms", "120000".to_string()),
        ("max.block.ms", "10000".to_string()),
    ])
    .expect("valid config");
    let producer: Producer<Vec<u8>, Bytes> = Producer::new(config).expect("producer");

    let partitions = producer.partitions_for("stalled").await.expect("metadata");
    assert_eq!(partitions.len(), 3, "{mode:?}: metadata is answered");
    let delivery = producer
        .send(ProducerRecord::new("stalled", Bytes::from_static(b"v")))
        .await
        .expect("buffered: metadata is known");
    let waited = tokio::time::timeout(Duration::from_secs(2), delivery).await;
    assert!(waited.is_err(), "{mode:?}: acknowledged: {waited:?}");

    let c = sink.counters();
    assert!(
        c.produce_unanswered.load(Ordering::Relaxed) >= 1,
        "{mode:?}: the Produce request reached the sink"
    );
    assert_eq!(c.produce_requests.load(Ordering::Relaxed), 0, "{mode:?}");
    assert_eq!(c.records.load(Ordering::Relaxed), 0, "{mode:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_sink_answers_metadata_but_never_produce() {
    // Both modes at once: one 2 s wait.
    tokio::join!(
        one_record_is_never_acknowledged(StallMode::Silent),
        one_record_is_never_acknowledged(StallMode::NoRead),
    );
}

/// Each client fills `buffer.memory` (1 MiB here) and is then reported blocked, with nothing
/// acknowledged.
#[test]
fn clients_block_once_buffer_memory_is_full() {
    const BUFFER: usize = 1 << 20;
    for client in ["kproducer", "librdkafka"] {
        let sink = AckSink::start_stalled(3, StallMode::NoRead).expect("sink starts");
        let mut run = StallRun::new(client, 100, BUFFER);
        run.blocked_for = Duration::from_millis(500);
        let r = run_stalled(&sink.bootstrap(), "stalled", &run).expect("blocks");
        let values = r.records_buffered as usize * 100;
        // kproducer charges whole 16 KiB batches (record overhead included), librdkafka the
        // payload bytes alone; either way the values fill more than half the buffer, never more.
        assert!(
            values <= BUFFER && values > BUFFER / 2,
            "{client}: {} records buffered",
            r.records_buffered
        );
        assert!(r.baseline_rss_kib > 0 && r.max_rss_kib >= r.baseline_rss_kib);
        assert!(sink.counters().produce_unanswered.load(Ordering::Relaxed) >= 1);
        assert_eq!(sink.counters().produce_requests.load(Ordering::Relaxed), 0);
    }
}
