//! Feature `metrics-export`: the producer's metrics in the `metrics` facade, against the
//! in-process cluster on a real socket. The network thread's periodic export reaches the global
//! recorder (metrics-util's `DebuggingRecorder`), and `Producer::export_metrics` a thread's local
//! recorder (metrics-exporter-prometheus), rendered and parsed as Prometheus would scrape it.
//!
//! Its own test binary: the facade's global recorder is per process.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{unique_name, Broker};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

/// The process's global recorder, installed once.
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder of this process");
        snapshotter
    })
}

fn config(bootstrap: &str, client_id: &str) -> ProducerConfig {
    ProducerConfig::from_map([
        ("bootstrap.servers", bootstrap),
        ("client.id", client_id),
        ("linger.ms", "5"),
    ])
    .expect("valid config")
}

/// Sends `n` records of 100 bytes to each of `topics` and waits for every acknowledgement.
async fn produce(producer: &Producer<Vec<u8>, Vec<u8>>, topics: &[(&str, usize)]) {
    let mut deliveries = Vec::new();
    for (topic, n) in topics {
        for _ in 0..*n {
            let record = ProducerRecord::new(topic.to_string(), vec![b'x'; 100]);
            deliveries.push(producer.send(record).await.expect("send"));
        }
    }
    producer.flush().await;
    for d in deliveries {
        d.await.expect("acknowledged");
    }
}

/// One exported metric: (name, labels) → (kind, value).
type Exported = BTreeMap<(String, BTreeMap<String, String>), (MetricKind, f64)>;

fn exported(client_id: &str) -> Exported {
    let mut out = Exported::new();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let labels: BTreeMap<String, String> = key
            .key()
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        if labels.get("client.id").map(String::as_str) != Some(client_id) {
            continue;
        }
        let v = match value {
            DebugValue::Counter(c) => c as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(_) => continue,
        };
        out.insert((key.key().name().to_string(), labels), (key.kind(), v));
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_thread_exports_to_the_global_recorder() {
    snapshotter();
    let broker = Broker::start().expect("broker starts");
    let (a, b) = (unique_name("export-a"), unique_name("export-b"));
    broker.create_topic(&a, 2).expect("topic");
    broker.create_topic(&b, 1).expect("topic");
    let id = "export-global";
    let producer: Producer<Vec<u8>, Vec<u8>> =
        Producer::new(config(&broker.bootstrap(), id)).expect("producer");
    producer.set_metrics_export_interval(Some(Duration::from_millis(20)));
    produce(&producer, &[(&a, 700), (&b, 300)]).await;

    // A snapshot takes counters and gauges back to 0, and may fall between two values of an
    // export: merge snapshots (a value of 0 keeps the one before) until one after an export
    // that saw every acknowledgement (bounded).
    let total = (
        "kafka.producer.record.send.total".to_string(),
        labels(&[("client.id", id)]),
    );
    let topic_total = |topic: &str| {
        (
            "kafka.producer.topic.record.send.total".to_string(),
            labels(&[("client.id", id), ("topic", topic)]),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut m = Exported::new();
    loop {
        for (k, v) in exported(id) {
            if v.1 != 0.0 || !m.contains_key(&k) {
                m.insert(k, v);
            }
        }
        let value = |k: &(String, BTreeMap<String, String>)| m.get(k).map(|(_, v)| *v);
        if value(&total) == Some(1000.0)
            && value(&topic_total(&a)) == Some(700.0)
            && value(&topic_total(&b)) == Some(300.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no export with 1000 records: {m:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(m[&total].0, MetricKind::Counter);
    for (topic, n) in [(&a, 700.0), (&b, 300.0)] {
        assert_eq!(
            m.get(&topic_total(topic)),
            Some(&(MetricKind::Counter, n)),
            "{topic}"
        );
        let rate = (
            "kafka.producer.topic.record.send.rate".to_string(),
            labels(&[("client.id", id), ("topic", topic)]),
        );
        assert_eq!(m.get(&rate).map(|(k, _)| *k), Some(MetricKind::Gauge));
    }
    // Java's rates, averages and gauges are gauges.
    let size = m
        .get(&(
            "kafka.producer.record.size.max".to_string(),
            labels(&[("client.id", id)]),
        ))
        .copied();
    assert_eq!(size, Some((MetricKind::Gauge, 186.0)));
    let buffer = m
        .get(&(
            "kafka.producer.buffer.total.bytes".to_string(),
            labels(&[("client.id", id)]),
        ))
        .copied();
    assert_eq!(buffer, Some((MetricKind::Gauge, 33_554_432.0)));
    // Per broker, Java's `node-<id>` as `node.id`.
    let node_requests: Vec<_> = m
        .iter()
        .filter(|((name, l), _)| {
            name == "kafka.producer.node.request.total"
                && l.get("node.id").is_some_and(|n| n.starts_with("node-"))
        })
        .collect();
    assert!(!node_requests.is_empty(), "{m:#?}");
    // Every name is Micrometer's for Java's groups.
    assert!(m
        .keys()
        .all(|(name, _)| name.starts_with("kafka.producer.") && !name.contains('-')));
    producer.close(Duration::from_secs(10)).await;
}

/// `kafka_producer_record_send_total{client_id="x",topic="t"} 42` → (name, labels, value).
fn parse_prometheus(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("closed labels");
                let labels = inner
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').expect("label=value");
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        out.push((name, labels, value.parse().expect("a number")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_metrics_renders_as_prometheus_scrapes_it() {
    snapshotter();
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("export-prom");
    broker.create_topic(&topic, 1).expect("topic");
    let id = "export-prometheus";
    let producer: Producer<Vec<u8>, Vec<u8>> =
        Producer::new(config(&broker.bootstrap(), id)).expect("producer");
    produce(&producer, &[(&topic, 250)]).await;

    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    metrics::with_local_recorder(&prometheus, || producer.export_metrics());
    let text = handle.render();
    let samples = parse_prometheus(&text);
    let find = |name: &str, l: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, labels, _)| n == name && *labels == self::labels(l))
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("{name} {l:?} not in\n{text}"))
    };
    assert_eq!(
        find("kafka_producer_record_send_total", &[("client_id", id)]),
        250.0
    );
    assert_eq!(
        find(
            "kafka_producer_topic_record_send_total",
            &[("client_id", id), ("topic", &topic)]
        ),
        250.0
    );
    assert!(text.contains("# TYPE kafka_producer_record_send_total counter"));
    assert!(text.contains("# TYPE kafka_producer_batch_size_avg gauge"));
    let requests = find("kafka_producer_request_total", &[("client_id", id)]);
    assert!(
        requests >= 3.0,
        "ApiVersions, Metadata, Produce: {requests}"
    );
    let latency = find("kafka_producer_request_latency_max", &[("client_id", id)]);
    assert!((0.0..10_000.0).contains(&latency), "{latency}");
    // Nothing but this producer's metrics went to the local recorder.
    assert!(samples
        .iter()
        .all(|(n, l, _)| n.starts_with("kafka_producer_")
            && l.get("client_id").map(String::as_str) == Some(id)));
    producer.close(Duration::from_secs(10)).await;
}
