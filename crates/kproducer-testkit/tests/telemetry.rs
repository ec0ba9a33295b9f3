//! The KIP-714 client telemetry harness against Apache Kafka, with Java's own KafkaProducer as
//! the client: a broker with the telemetry recorder, a client-metrics subscription for every
//! metric every second, and a producer that sends, stays open a few seconds and closes. Its
//! pushes must arrive decoded, count the records it sent, and end with a terminating push.
//!
//! Run with `--nocapture` to see every metric Java pushed (name, OTLP type, monotonic flag,
//! temporality, attribute keys) and the resource attributes: the naming reference for
//! kproducer's own pushes. Needs the Apache Kafka jars (`scripts/setup.sh`); skipped without
//! them unless `KPRODUCER_REQUIRE_BROKERS` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kproducer_testkit::{
    java_produce_held, skip_without_kafka, unique_name, ClientMetricsSubscription, KafkaCluster,
    KafkaOptions, MetricKind, TelemetryPush, Temporality, TestRecord,
};

const RECORDS: usize = 50;
const SEND_TOTAL: &str = "org.apache.kafka.producer.record.send.total";

/// What one metric name looked like over every push: one line of the printed catalog.
#[derive(Default)]
struct Seen {
    shapes: BTreeSet<String>,
    attribute_keys: BTreeSet<String>,
    attribute_values: BTreeSet<String>,
}

fn catalog(pushes: &[TelemetryPush]) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for p in pushes {
        for m in &p.metrics {
            let s = seen.entry(m.name.clone()).or_default();
            s.shapes.insert(format!(
                "{:?} monotonic={} temporality={:?} scope={:?}",
                m.kind, m.monotonic, m.temporality, m.scope
            ));
            for pt in &m.points {
                for (k, v) in &pt.attributes {
                    s.attribute_keys.insert(k.clone());
                    s.attribute_values.insert(format!("{k}={v}"));
                }
            }
        }
    }
    seen.into_iter()
        .map(|(name, s)| {
            let shapes: Vec<_> = s.shapes.into_iter().collect();
            let line = format!(
                "{} attributes={:?} seen={:?}",
                shapes.join(" | "),
                s.attribute_keys,
                s.attribute_values
            );
            (name, line)
        })
        .collect()
}

/// The running total of sum metric `name` (points with `topic=...` only, when given) after
/// each push: deltas added up, cumulative values as they are.
fn cumulative(pushes: &[TelemetryPush], name: &str, topic: Option<&String>) -> Vec<f64> {
    let mut total = 0.0;
    pushes
        .iter()
        .map(|p| {
            for m in p.metrics_named(name) {
                let value: f64 = m
                    .points
                    .iter()
                    .filter(|pt| topic.is_none() || pt.attributes.get("topic") == topic)
                    .map(|pt| pt.value)
                    .sum();
                match m.temporality {
                    Some(Temporality::Cumulative) => total = value,
                    _ => total += value,
                }
            }
            total
        })
        .collect()
}

#[test]
fn java_producer_pushes_are_recorded() {
    if skip_without_kafka("java_producer_pushes_are_recorded") {
        return;
    }
    let options = KafkaOptions {
        telemetry_recorder: true,
        ..KafkaOptions::default()
    };
    let cluster = KafkaCluster::start_with(1, &options).unwrap();
    eprintln!(
        "Apache Kafka {} (1 node, telemetry recorder) started in {:?}",
        kproducer_testkit::kafka_version(),
        cluster.startup_time()
    );
    let topic = unique_name("telemetry");
    cluster.create_topic(&topic, 3, 1).unwrap();
    let client_id = unique_name("telemetry-java");

    // A subscription for someone else first: this producer must not push under it (it would
    // bring the push interval down to 500 ms).
    let other = ClientMetricsSubscription::new("someone-else", &["*"], 500)
        .matching("client_id", "nobody-has-this-id");
    cluster.set_client_metrics(&other).unwrap();
    let subscription = ClientMetricsSubscription::new("everything", &["*"], 1000)
        .matching("client_id", &client_id)
        .matching("client_software_name", "apache-kafka-java");
    cluster.set_client_metrics(&subscription).unwrap();

    let records: Vec<TestRecord> = (0..RECORDS)
        .map(|i| {
            TestRecord::new(
                Some(format!("k{i}").into_bytes()),
                Some(format!("v{i}").into_bytes()),
            )
        })
        .collect();
    let produced = java_produce_held(
        &cluster.bootstrap(),
        &topic,
        &records,
        &[
            ("client.id", client_id.as_str()),
            // Java's producer names two resource attributes: client_rack (client.rack) and
            // transactional_id (transactional.id), each only when configured.
            ("client.rack", "rack-a"),
        ],
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(produced.deliveries.len(), RECORDS);
    let instance = produced
        .client_instance_id
        .clone()
        .expect("Java's producer reports a client instance id");

    // The terminating push is sent as the producer closes, before java_produce_held returns;
    // the broker may hand it over a moment later.
    let last = cluster
        .wait_for_telemetry_push(Duration::from_secs(30), |p| {
            p.client_instance_id == instance && p.terminating
        })
        .unwrap_or_else(|e| {
            panic!(
                "{e:#}\nJava's client instance id: {instance}\nbroker log tail:\n{}",
                cluster.log_tail(1)
            )
        });
    let pushes: Vec<TelemetryPush> = cluster
        .telemetry_pushes()
        .unwrap()
        .into_iter()
        .filter(|p| p.client_instance_id == instance)
        .collect();

    eprintln!(
        "\n{} pushes from Java's producer (client.id {client_id}, instance {instance}):",
        pushes.len()
    );
    for p in &pushes {
        eprintln!(
            "  broker {} at {} ms: terminating={} interval={} ms content-type={} {} bytes, {} metrics, software {}/{}",
            p.broker,
            p.received_unix_ms,
            p.terminating,
            p.push_interval_ms,
            p.content_type,
            p.bytes,
            p.metrics.len(),
            p.software_name,
            p.software_version
        );
    }
    eprintln!("resource attributes: {:?}", last.resource);
    eprintln!("metrics Java pushed (every push merged):");
    for (name, line) in catalog(&pushes) {
        eprintln!("  {name}: {line}");
    }
    eprintln!("the terminating push's points:");
    for m in &last.metrics {
        for pt in &m.points {
            eprintln!(
                "  {} {:?} = {} (int {:?}) attributes {:?} start {} time {}",
                m.name,
                m.kind,
                pt.value,
                pt.int_value,
                pt.attributes,
                pt.start_unix_nanos,
                pt.time_unix_nanos
            );
        }
    }

    // Every push is decoded, from Java's client, under this producer's subscription.
    assert!(
        pushes.iter().all(|p| p.decode_error.is_none()),
        "{pushes:#?}"
    );
    assert!(pushes.iter().all(|p| p.client_id == client_id));
    assert!(pushes
        .iter()
        .all(|p| p.software_name == "apache-kafka-java" && !p.software_version.is_empty()));
    assert!(pushes.iter().all(|p| p.push_interval_ms == 1000));
    assert!(pushes.iter().all(|p| p.content_type == "OTLP"));
    // At least one periodic push while it was open, then exactly one terminating push, last.
    assert!(
        pushes
            .iter()
            .any(|p| !p.terminating && !p.metrics.is_empty()),
        "no periodic push while the producer was open: {pushes:#?}"
    );
    assert_eq!(pushes.iter().filter(|p| p.terminating).count(), 1);
    assert!(pushes.last().is_some_and(|p| p.terminating));

    // The resource carries the producer's client.rack, and nothing else here.
    assert!(
        pushes.iter().all(
            |p| p.resource == BTreeMap::from([("client_rack".to_owned(), "rack-a".to_owned())])
        ),
        "resource attributes {:?}",
        last.resource
    );

    // Sends counted: a monotonic sum (delta or cumulative, as the broker asks; Kafka 4.4 asks
    // for deltas). Every record but the last was flushed before the hold, so the periodic
    // pushes count exactly those; the last one is sent as the producer closes (to get the
    // terminating push out at all, see java_produce_held), and whether the terminating push
    // counts it depends on which the sender thread did first.
    let sent = last
        .metric(SEND_TOTAL)
        .unwrap_or_else(|| panic!("no {SEND_TOTAL} in the terminating push: {last:#?}"));
    assert_eq!(sent.kind, MetricKind::Sum);
    assert!(sent.monotonic);
    for (name, topic) in [
        (SEND_TOTAL, None),
        (
            "org.apache.kafka.producer.topic.record.send.total",
            Some(&topic),
        ),
    ] {
        let counts = cumulative(&pushes, name, topic);
        eprintln!("{name} (cumulative, per push): {counts:?}");
        let periodic = counts[counts.len() - 2];
        let at_close = counts[counts.len() - 1];
        assert_eq!(periodic, (RECORDS - 1) as f64, "{name}: {counts:?}");
        assert!(
            at_close == RECORDS as f64 || at_close == (RECORDS - 1) as f64,
            "{name}: {counts:?}"
        );
    }
    assert!(sent
        .points
        .iter()
        .all(|pt| pt.time_unix_nanos >= pt.start_unix_nanos && pt.time_unix_nanos > 0));
    // The subscription asked for everything: producer metrics, and a few of Java's generic ones.
    assert!(
        last.metrics
            .iter()
            .filter(|m| m.name.starts_with("org.apache.kafka.producer."))
            .count()
            > 50
    );

    // Deleting the subscription leaves only the other one, which is then deleted too.
    cluster.delete_client_metrics("everything").unwrap();
    cluster.delete_client_metrics("someone-else").unwrap();
}
