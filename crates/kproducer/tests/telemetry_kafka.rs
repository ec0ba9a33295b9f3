//! KIP-714 client telemetry against Apache Kafka 4.4: a broker with a client-metrics subscription
//! and a `ClientTelemetry` plug-in (the testkit's recorder, which decodes every push with the
//! OpenTelemetry classes Kafka ships) receives kproducer's pushes. They must name the metrics as
//! Java's client does (the same names and OTLP types as Java's own producer pushes to the same
//! broker), count the records sent, honour the subscription (prefixes, interval, delta
//! temporality, the broker's compression), and end with one terminating push that carries the
//! final counts. A producer no subscription matches pushes nothing.
//!
//! Needs `scripts/setup.sh` (Kafka jars from Maven Central).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kproducer::telemetry::ClientInstanceIdError;
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{
    java_produce_held, skip_without_kafka, unique_name, ClientMetricsSubscription, KafkaCluster,
    KafkaOptions, MetricKind, TelemetryPush, Temporality, TestRecord,
};

const RECORDS: usize = 2_000;
const SEND_TOTAL: &str = "org.apache.kafka.producer.record.send.total";
const TOPIC_SEND_TOTAL: &str = "org.apache.kafka.producer.topic.record.send.total";

fn producer(bootstrap: &str, client_id: &str, extra: &[(&str, &str)]) -> Producer<String, String> {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("client.id", client_id),
        ("linger.ms", "5"),
    ];
    props.extend_from_slice(extra);
    Producer::new(ProducerConfig::from_map(props).expect("config")).expect("producer")
}

/// Every name pushed, with its OTLP shape (kind, monotonic, temporality).
fn shapes(pushes: &[TelemetryPush]) -> BTreeMap<String, (MetricKind, bool, Option<Temporality>)> {
    pushes
        .iter()
        .flat_map(|p| &p.metrics)
        .map(|m| (m.name.clone(), (m.kind, m.monotonic, m.temporality)))
        .collect()
}

/// A sum's points with `topic` (or all), added up over every push (the broker asks for deltas).
fn added_up(pushes: &[TelemetryPush], name: &str, topic: Option<&str>) -> f64 {
    pushes
        .iter()
        .flat_map(|p| p.metrics_named(name))
        .flat_map(|m| &m.points)
        .filter(|pt| {
            topic.is_none_or(|t| pt.attributes.get("topic").map(String::as_str) == Some(t))
        })
        .map(|pt| pt.value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_javas_metrics_under_the_subscription_and_a_final_terminating_push() {
    if skip_without_kafka(
        "pushes_javas_metrics_under_the_subscription_and_a_final_terminating_push",
    ) {
        return;
    }
    let options = KafkaOptions {
        telemetry_recorder: true,
        ..KafkaOptions::default()
    };
    let cluster = KafkaCluster::start_with(1, &options).expect("Apache Kafka starts");
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("telemetry");
    cluster.create_topic(&topic, 3, 1).expect("topic");
    let client_id = unique_name("kproducer-telemetry");
    let quiet_id = unique_name("kproducer-quiet");
    let java_id = unique_name("java-telemetry");
    // Our producer: the producer metrics every second. Java's, for reference: everything.
    cluster
        .set_client_metrics(
            &ClientMetricsSubscription::new("kproducer", &["org.apache.kafka.producer."], 1000)
                .matching("client_id", &client_id)
                .matching("client_software_name", "kproducer"),
        )
        .expect("subscription");
    cluster
        .set_client_metrics(
            &ClientMetricsSubscription::new("java", &["*"], 1000).matching("client_id", &java_id),
        )
        .expect("subscription");

    // Disabled: no id, said so.
    let off = producer(
        &bootstrap,
        &unique_name("off"),
        &[("enable.metrics.push", "false")],
    );
    assert_eq!(
        off.client_instance_id(Duration::from_millis(10)).await,
        Err(ClientInstanceIdError::Disabled)
    );
    off.close(Duration::from_secs(5)).await;

    let p = producer(&bootstrap, &client_id, &[]);
    let quiet = producer(&bootstrap, &quiet_id, &[]);
    for round in 0..2 {
        let mut deliveries = Vec::new();
        for i in 0..RECORDS / 2 {
            let record = ProducerRecord::new(topic.clone(), format!("v{round}-{i}"))
                .with_key(format!("k{i}"));
            deliveries.push(p.send(record).await.expect("send"));
        }
        quiet
            .send(ProducerRecord::new(topic.clone(), "quiet".to_string()))
            .await
            .expect("send")
            .await
            .expect("delivered");
        for d in deliveries {
            d.await.expect("delivered");
        }
        if round == 0 {
            // A periodic push while open: the first comes 0.5..1.5 s after the subscription.
            let id = p
                .client_instance_id(Duration::from_secs(15))
                .await
                .expect("a client instance id")
                .to_string();
            cluster
                .wait_for_telemetry_push(Duration::from_secs(15), |push| {
                    push.client_instance_id == id && !push.terminating
                })
                .unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log_tail(1)));
            // Open a while longer: more pushes, one per interval.
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
    }
    let id = p
        .client_instance_id(Duration::from_secs(1))
        .await
        .expect("id")
        .to_string();
    let quiet_instance = quiet
        .client_instance_id(Duration::from_secs(15))
        .await
        .expect("an id even without metrics to push")
        .to_string();
    assert_ne!(id, quiet_instance);
    // Close: everything is delivered, then the terminating push is sent and answered.
    p.close(Duration::from_secs(15)).await;
    quiet.close(Duration::from_secs(15)).await;
    cluster
        .wait_for_telemetry_push(Duration::from_secs(15), |push| {
            push.client_instance_id == id && push.terminating
        })
        .unwrap_or_else(|e| panic!("no terminating push: {e:#}"));

    // Java's producer under the same broker, for the names and types it pushes.
    let records: Vec<TestRecord> = (0..20)
        .map(|i| TestRecord::new(None, Some(format!("j{i}").into_bytes())))
        .collect();
    let java = java_produce_held(
        &bootstrap,
        &topic,
        &records,
        &[("client.id", java_id.as_str())],
        Duration::from_secs(3),
    )
    .expect("Java's producer");
    let java_instance = java.client_instance_id.expect("Java's client instance id");
    cluster
        .wait_for_telemetry_push(Duration::from_secs(15), |push| {
            push.client_instance_id == java_instance && !push.metrics.is_empty()
        })
        .expect("a push from Java's producer");

    let all = cluster.telemetry_pushes().expect("pushes");
    let ours: Vec<TelemetryPush> = all
        .iter()
        .filter(|p| p.client_instance_id == id)
        .cloned()
        .collect();
    let javas: Vec<TelemetryPush> = all
        .iter()
        .filter(|p| p.client_instance_id == java_instance)
        .cloned()
        .collect();
    for p in &ours {
        eprintln!(
            "push: terminating={} {} bytes, {} metrics",
            p.terminating,
            p.bytes,
            p.metrics.len()
        );
    }

    // The broker decoded every push, knew whose it was and under which subscription.
    assert!(ours.len() >= 2, "{ours:#?}");
    for p in &ours {
        assert_eq!(p.decode_error, None);
        assert_eq!(p.client_id, client_id);
        assert_eq!(p.software_name, "kproducer");
        assert_eq!(p.software_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.content_type, "OTLP");
        assert_eq!(p.push_interval_ms, 1000);
        assert!(
            p.resource.is_empty(),
            "no transactional.id: {:?}",
            p.resource
        );
    }
    assert_eq!(ours.iter().filter(|p| p.terminating).count(), 1);
    // One periodic push per interval (1000 ms), not more often.
    let periodic: Vec<i64> = ours
        .iter()
        .filter(|p| !p.terminating)
        .map(|p| p.received_unix_ms)
        .collect();
    assert!(periodic.len() >= 3, "{periodic:?}");
    assert!(
        periodic.windows(2).all(|w| w[1] - w[0] >= 800),
        "pushes closer than the interval: {periodic:?}"
    );
    assert!(
        ours.last().is_some_and(|p| p.terminating),
        "the terminating push is the last"
    );
    // Nothing from the producer no subscription matched, nor from the disabled one.
    assert!(all.iter().all(|p| p.client_id != quiet_id));

    // Only what the subscription asked for, named and typed as Java's own producer pushes it.
    let our_shapes = shapes(&ours);
    let java_shapes = shapes(&javas);
    assert!(our_shapes.len() >= 60, "{our_shapes:#?}");
    for (name, shape) in &our_shapes {
        assert!(name.starts_with("org.apache.kafka.producer."), "{name}");
        assert_eq!(
            java_shapes.get(name),
            Some(shape),
            "{name}: Java pushes {:?}",
            java_shapes.get(name)
        );
    }
    for name in [
        SEND_TOTAL,
        "org.apache.kafka.producer.record.send.rate",
        "org.apache.kafka.producer.request.latency.avg",
        "org.apache.kafka.producer.buffer.available.bytes",
        "org.apache.kafka.producer.node.request.latency.avg",
        TOPIC_SEND_TOTAL,
        "org.apache.kafka.producer.topic.byte.total",
    ] {
        assert!(our_shapes.contains_key(name), "{name} not pushed");
    }
    // Kafka 4.4 asks for delta temporality: the sums' points add up to what was sent.
    assert_eq!(
        our_shapes[SEND_TOTAL],
        (MetricKind::Sum, true, Some(Temporality::Delta))
    );
    assert_eq!(added_up(&ours, SEND_TOTAL, None), RECORDS as f64);
    assert_eq!(
        added_up(&ours, TOPIC_SEND_TOTAL, Some(&topic)),
        RECORDS as f64
    );
    // Each delta starts where the previous push's ended.
    let send_points: Vec<(u64, u64)> = ours
        .iter()
        .flat_map(|p| p.metrics_named(SEND_TOTAL))
        .flat_map(|m| &m.points)
        .map(|pt| (pt.start_unix_nanos, pt.time_unix_nanos))
        .collect();
    for w in send_points.windows(2) {
        assert_eq!(w[1].0, w[0].1, "{send_points:?}");
    }
    // Attributes as Java's: topic and node_id, never client_id (the broker knows it).
    let attribute_keys: BTreeSet<&str> = ours
        .iter()
        .flat_map(|p| &p.metrics)
        .flat_map(|m| &m.points)
        .flat_map(|pt| pt.attributes.keys().map(String::as_str))
        .collect();
    assert_eq!(attribute_keys, BTreeSet::from(["node_id", "topic"]));
    let node_ids: BTreeSet<String> = ours
        .iter()
        .flat_map(|p| p.metrics_named("org.apache.kafka.producer.node.request.latency.avg"))
        .flat_map(|m| &m.points)
        .filter_map(|pt| pt.attributes.get("node_id").cloned())
        .collect();
    let broker = format!("node-{}", cluster.broker_ids()[0]);
    assert!(node_ids.contains(&broker), "{node_ids:?}");
}
