//! `Producer::metrics()` against what a run did, on a real socket (the in-process cluster, and
//! the fault proxy for an injected round trip): Java's names, groups and tags, and each value
//! checked against the records, batches, bytes and requests the test produced.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kproducer::{BlockingProducer, MetricName, Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{unique_name, Broker, FaultProxy};

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

fn get(m: &BTreeMap<MetricName, f64>, group: &str, name: &str, tag: Option<(&str, &str)>) -> f64 {
    m.iter()
        .find(|(k, _)| {
            k.group == group
                && k.name == name
                && tag.is_none_or(|(t, v)| k.tags.get(t).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{group}:{name} {tag:?} missing from {m:#?}"))
}

fn sum(m: &BTreeMap<MetricName, f64>, group: &str, name: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.group == group && k.name == name)
        .map(|(_, v)| *v)
        .sum()
}

const P: &str = "producer-metrics";
const T: &str = "producer-topic-metrics";
const N: &str = "producer-node-metrics";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_what_the_producer_did() {
    let broker = Broker::start().expect("broker starts");
    let a = unique_name("metrics-a");
    let b = unique_name("metrics-b");
    broker.create_topic(&a, 2).expect("topic");
    broker.create_topic(&b, 1).expect("topic");
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config(
        &broker.bootstrap(),
        &[
            ("client.id", "metrics-test"),
            ("linger.ms", "5"),
            ("buffer.memory", "8388608"),
        ],
    ))
    .expect("producer");
    let started = Instant::now();
    let mut futures = Vec::new();
    for i in 0..1200u32 {
        let topic = if i < 1000 { &a } else { &b };
        let mut r = ProducerRecord::new(topic.clone(), vec![b'x'; 100]);
        r.partition = Some((i % 2) as i32 % if i < 1000 { 2 } else { 1 });
        futures.push(producer.send(r).await.expect("send"));
    }
    producer.flush().await;
    for f in futures {
        f.await.expect("acknowledged");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = producer.stats();
    let m = producer.metrics();

    // Every metric in Java's groups, tagged with the client id.
    assert!(m
        .keys()
        .all(|k| k.tags.get("client-id").map(String::as_str) == Some("metrics-test")));
    assert!(m.keys().all(|k| [P, T, N].contains(&k.group.as_str())));

    // Records: all sent once, none retried or failed.
    assert_eq!(stats.records, 1200, "no retries in this run");
    assert_eq!(get(&m, P, "record-send-total", None), 1200.0);
    assert_eq!(get(&m, P, "record-retry-total", None), 0.0);
    assert_eq!(get(&m, P, "record-error-total", None), 0.0);
    assert_eq!(get(&m, T, "record-send-total", Some(("topic", &a))), 1000.0);
    assert_eq!(get(&m, T, "record-send-total", Some(("topic", &b))), 200.0);
    // Rate over Java's window: the 30 s sample window counts as elapsed (samples - 1 = 1 full
    // window), plus the run.
    let rate = get(&m, P, "record-send-rate", None);
    assert!(
        rate <= 1200.0 / 30.0 && rate >= 1200.0 / (30.0 + elapsed + 1.0),
        "{rate}"
    );

    // Batches: the average is the bytes of every batch over their number.
    let batch_bytes = sum(&m, T, "byte-total");
    let avg = get(&m, P, "batch-size-avg", None);
    assert!(
        (avg - batch_bytes / stats.batches as f64).abs() < 1e-6,
        "{avg} vs {batch_bytes} / {}",
        stats.batches
    );
    let max = get(&m, P, "batch-size-max", None);
    assert!(avg <= max && max <= 16384.0, "{avg} {max}");
    assert!(batch_bytes > 1200.0 * 100.0);
    assert_eq!(
        get(&m, P, "records-per-request-avg", None),
        1200.0 / stats.produce_requests as f64
    );
    assert_eq!(get(&m, P, "compression-rate-avg", None), 1.0);
    assert_eq!(get(&m, P, "record-size-max", None), 186.0);
    let queue_max = get(&m, P, "record-queue-time-max", None);
    assert!(
        queue_max >= get(&m, P, "record-queue-time-avg", None)
            && queue_max <= elapsed * 1000.0 + 1.0
    );
    assert_eq!(get(&m, P, "batch-split-total", None), 0.0);

    // Buffer pool: everything returned after the flush.
    assert_eq!(get(&m, P, "buffer-total-bytes", None), 8_388_608.0);
    assert_eq!(get(&m, P, "buffer-available-bytes", None), 8_388_608.0);
    assert_eq!(get(&m, P, "waiting-threads", None), 0.0);
    assert_eq!(get(&m, P, "buffer-exhausted-total", None), 0.0);
    assert_eq!(get(&m, P, "bufferpool-wait-time-ns-total", None), 0.0);

    // Network: per-broker figures add up to the producer's.
    for name in [
        "request-total",
        "response-total",
        "outgoing-byte-total",
        "incoming-byte-total",
    ] {
        assert_eq!(get(&m, P, name, None), sum(&m, N, name), "{name}");
    }
    let requests = get(&m, P, "request-total", None);
    assert!(
        requests >= stats.produce_requests as f64 + 2.0,
        "ApiVersions, Metadata too"
    );
    assert_eq!(requests, get(&m, P, "response-total", None), "all answered");
    assert!(get(&m, P, "outgoing-byte-total", None) > batch_bytes);
    assert_eq!(
        get(&m, P, "network-io-total", None),
        requests + get(&m, P, "response-total", None)
    );
    assert!(get(&m, P, "request-latency-avg", None) >= 0.0);
    assert!(get(&m, P, "request-latency-max", None) <= elapsed * 1000.0);
    assert_eq!(get(&m, P, "requests-in-flight", None), 0.0);
    assert!(get(&m, P, "connection-creation-total", None) >= 1.0);
    assert_eq!(
        get(&m, P, "connection-count", None),
        get(&m, P, "connection-creation-total", None) - get(&m, P, "connection-close-total", None)
    );
    assert!(get(&m, P, "metadata-age", None) < elapsed + 1.0);
    let io_wait = get(&m, P, "io-wait-ratio", None);
    assert!((0.0..=1.0).contains(&io_wait), "{io_wait}");
    assert!(get(&m, P, "select-total", None) > 0.0);
    producer.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_latency_shows_an_injected_round_trip() {
    let proxy = FaultProxy::bind().expect("proxy");
    let broker = Broker::start_with_advertised(&proxy.addr().to_string()).expect("broker");
    proxy.set_upstream(&broker.bootstrap());
    let topic = unique_name("metrics-latency");
    broker.create_topic(&topic, 1).expect("topic");
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config(
        &proxy.addr().to_string(),
        &[("linger.ms", "0"), ("request.timeout.ms", "10000")],
    ))
    .expect("producer");
    // Connected and warmed up first, then 40 ms each way.
    producer
        .send(ProducerRecord::new(topic.clone(), b"warm".to_vec()))
        .await
        .expect("send")
        .await
        .expect("acknowledged");
    proxy.latency(Duration::from_millis(40));
    for _ in 0..5 {
        producer
            .send(ProducerRecord::new(topic.clone(), b"v".to_vec()))
            .await
            .expect("send")
            .await
            .expect("acknowledged");
    }
    let m = producer.metrics();
    let max = get(&m, P, "request-latency-max", None);
    let avg = get(&m, P, "request-latency-avg", None);
    assert!(
        max >= 80.0,
        "a round trip through the proxy takes 80 ms: {max}"
    );
    // 6 requests, 5 of them delayed: the average is at least 5/6 of 80 ms.
    assert!(avg >= 80.0 * 5.0 / 6.0 - 1.0, "{avg}");
    let node_max = m
        .iter()
        .filter(|(k, _)| k.group == N && k.name == "request-latency-max")
        .map(|(_, v)| *v)
        .fold(f64::NAN, f64::max);
    assert_eq!(node_max, max);
    producer.close(Duration::from_secs(10)).await;
}

#[test]
fn blocking_producer_metrics_print_as_javas_table() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("metrics-blocking");
    broker.create_topic(&topic, 1).expect("topic");
    let producer: BlockingProducer<Vec<u8>, Vec<u8>> =
        BlockingProducer::new(config(&broker.bootstrap(), &[("linger.ms", "0")]))
            .expect("producer");
    for _ in 0..10 {
        // The future is dropped: flush waits for the record.
        drop(
            producer
                .send(ProducerRecord::new(topic.clone(), b"v".to_vec()))
                .expect("send"),
        );
    }
    producer.flush();
    let m = producer.metrics();
    assert_eq!(get(&m, P, "record-send-total", None), 10.0);
    assert_eq!(
        get(&m, P, "buffer-available-bytes", None),
        get(&m, P, "buffer-total-bytes", None)
    );
    // The table prints as Java's ProducerPerformance prints it.
    let table = kproducer::metrics::format_java_table(&m);
    assert!(table.starts_with("\nMetric Name"));
    assert!(table.lines().any(|l| l
        .starts_with("producer-metrics:record-send-total:{client-id=producer-")
        && l.ends_with(" : 10.000")));
    producer.close(Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_counts_the_wait_and_the_exhausted_send() {
    let proxy = FaultProxy::bind().expect("proxy");
    let broker = Broker::start_with_advertised(&proxy.addr().to_string()).expect("broker");
    proxy.set_upstream(&broker.bootstrap());
    let topic = unique_name("metrics-full");
    broker.create_topic(&topic, 1).expect("topic");
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config(
        &proxy.addr().to_string(),
        &[
            ("linger.ms", "0"),
            ("batch.size", "1000"),
            ("buffer.memory", "2000"),
            ("max.block.ms", "200"),
            ("request.timeout.ms", "30000"),
            ("delivery.timeout.ms", "60000"),
        ],
    ))
    .expect("producer");
    producer
        .send(ProducerRecord::new(topic.clone(), b"warm".to_vec()))
        .await
        .expect("send")
        .await
        .expect("acknowledged");
    // Nothing answered from now on: two batches hold all the memory, the third send waits
    // max.block.ms and gives up.
    proxy.stall_forever();
    let _a = producer
        .send(ProducerRecord::new(topic.clone(), vec![1; 900]))
        .await
        .expect("first batch");
    let _b = producer
        .send(ProducerRecord::new(topic.clone(), vec![2; 900]))
        .await
        .expect("second batch");
    let waited = Instant::now();
    let third = producer
        .send(ProducerRecord::new(topic.clone(), vec![3; 900]))
        .await;
    let waited = waited.elapsed();
    assert!(
        matches!(third, Err(kproducer::SendError::BufferExhausted { .. })),
        "{third:?}"
    );
    let m = producer.metrics();
    assert_eq!(get(&m, P, "buffer-exhausted-total", None), 1.0);
    assert!(get(&m, P, "buffer-exhausted-rate", None) > 0.0);
    let wait_ns = get(&m, P, "bufferpool-wait-time-ns-total", None);
    assert!(
        wait_ns >= 200e6 && wait_ns <= waited.as_nanos() as f64,
        "{wait_ns} ns, {waited:?}"
    );
    let ratio = get(&m, P, "bufferpool-wait-ratio", None);
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
    assert_eq!(get(&m, P, "buffer-available-bytes", None), 0.0);
    assert_eq!(get(&m, P, "waiting-threads", None), 0.0);
    // Unanswered: what was written and not answered (a batch, with no connection lost).
    let in_flight = get(&m, P, "requests-in-flight", None);
    assert!(in_flight >= 1.0);
    assert_eq!(
        in_flight,
        get(&m, P, "request-total", None) - get(&m, P, "response-total", None)
    );
    producer.close(Duration::ZERO).await;
}
