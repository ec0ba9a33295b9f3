use super::test_decode::*;
use super::*;

fn samples(sent: f64) -> Vec<Sample> {
    vec![
        Sample {
            group: "producer-metrics",
            name: "record-send-total",
            tags: vec![("client-id", "p-1".into())],
            value: sent,
        },
        Sample {
            group: "producer-metrics",
            name: "request-latency-avg",
            tags: vec![("client-id", "p-1".into())],
            value: 2.5,
        },
        Sample {
            group: "producer-topic-metrics",
            name: "byte-total",
            tags: vec![("client-id", "p-1".into()), ("topic", "t".into())],
            value: sent * 10.0,
        },
        Sample {
            group: "producer-node-metrics",
            name: "request-rate",
            tags: vec![("client-id", "p-1".into()), ("node-id", "node-1".into())],
            value: 7.0,
        },
    ]
}

#[test]
fn names_follow_javas_telemetry_convention() {
    assert_eq!(
        metric_name("producer-metrics", "record-send-total"),
        "org.apache.kafka.producer.record.send.total"
    );
    assert_eq!(
        metric_name("producer-topic-metrics", "record-send-total"),
        "org.apache.kafka.producer.topic.record.send.total"
    );
    assert_eq!(
        metric_name("producer-node-metrics", "request-latency-avg"),
        "org.apache.kafka.producer.node.request.latency.avg"
    );
    assert_eq!(attribute_key("node-id"), "node_id");
    assert!(is_sum("record-send-total") && !is_sum("record-send-rate"));
}

#[test]
fn selectors_read_the_brokers_list_as_java_does() {
    assert_eq!(Selector::from_requested(&[]), Selector::None);
    assert_eq!(Selector::from_requested(&["*".into()]), Selector::All);
    let s = Selector::from_requested(&["org.apache.kafka.producer.topic.".into()]);
    assert!(s.matches("org.apache.kafka.producer.topic.byte.total"));
    assert!(!s.matches("org.apache.kafka.producer.record.send.total"));
    assert!(!Selector::None.matches("org.apache.kafka.producer.record.send.total"));
}

#[test]
fn cumulative_payload_decodes_with_names_kinds_attributes_and_values() {
    let mut c = Collector::default();
    let resource = vec![("transactional_id".to_string(), "tx".to_string())];
    let (data, n) = c.encode(samples(100.0), &Selector::All, false, 1_000, &resource);
    assert_eq!(n, 4);
    let (res, m) = decode(&data);
    assert_eq!(res, resource);
    let by_name = |n: &str| m.iter().find(|x| x.0 == n).unwrap().clone();
    let sent = by_name("org.apache.kafka.producer.record.send.total");
    assert_eq!((sent.1, sent.2, sent.6), ("sum", CUMULATIVE, 100.0));
    assert!(sent.3.is_empty(), "client_id is left out: {:?}", sent.3);
    assert_eq!((sent.4, sent.5), (1_000, 1_000));
    let lat = by_name("org.apache.kafka.producer.request.latency.avg");
    assert_eq!((lat.1, lat.6, lat.4), ("gauge", 2.5, 0));
    let topic = by_name("org.apache.kafka.producer.topic.byte.total");
    assert_eq!(topic.3, vec![("topic".to_string(), "t".to_string())]);
    let node = by_name("org.apache.kafka.producer.node.request.rate");
    assert_eq!(node.3, vec![("node_id".to_string(), "node-1".to_string())]);

    // A later cumulative push keeps the start time.
    let (data, _) = c.encode(samples(250.0), &Selector::All, false, 5_000, &resource);
    let (_, m) = decode(&data);
    let sent = m
        .iter()
        .find(|x| x.0.ends_with("producer.record.send.total"))
        .unwrap();
    assert_eq!((sent.4, sent.5, sent.6), (1_000, 5_000, 250.0));
}

#[test]
fn delta_sums_report_the_change_since_the_last_push() {
    let mut c = Collector::default();
    let (d1, _) = c.encode(samples(100.0), &Selector::All, true, 1_000, &[]);
    let (d2, _) = c.encode(samples(130.0), &Selector::All, true, 2_000, &[]);
    let find = |d: &[u8]| {
        decode(d)
            .1
            .into_iter()
            .find(|x| x.0 == "org.apache.kafka.producer.record.send.total")
            .unwrap()
    };
    let (a, b) = (find(&d1), find(&d2));
    assert_eq!((a.2, a.4, a.5, a.6), (DELTA, 1_000, 1_000, 100.0));
    assert_eq!((b.2, b.4, b.5, b.6), (DELTA, 1_000, 2_000, 30.0));
    // Gauges are values, not deltas.
    let lat = decode(&d2).1.into_iter().find(|x| x.1 == "gauge").unwrap();
    assert_eq!(lat.6, 2.5);
    c.reset();
    let (d3, _) = c.encode(samples(140.0), &Selector::All, true, 3_000, &[]);
    assert_eq!(find(&d3).6, 140.0, "reset: the whole value again");
}

#[test]
fn only_selected_metrics_are_encoded() {
    let mut c = Collector::default();
    let sel = Selector::Prefixes(vec!["org.apache.kafka.producer.node.".into()]);
    let (data, n) = c.encode(samples(1.0), &sel, false, 1, &[]);
    assert_eq!(n, 1);
    let (_, m) = decode(&data);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, "org.apache.kafka.producer.node.request.rate");
    let (_, n) = c.encode(samples(1.0), &Selector::None, false, 1, &[]);
    assert_eq!(n, 0);
}
