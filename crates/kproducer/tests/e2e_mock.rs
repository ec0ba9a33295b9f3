//! Multi-broker behaviour against librdkafka's mock cluster (3 brokers on loopback sockets).

use std::collections::BTreeMap;
use std::time::Duration;

use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{read_all, unique_name, MockKafkaThread};

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_per_broker_per_drain_and_everything_arrives() {
    let mock = MockKafkaThread::new(3).expect("mock cluster");
    let topic = unique_name("spread");
    mock.create_topic(&topic, 6).expect("topic");
    for p in 0..6 {
        mock.set_leader(&topic, p, p % 3 + 1).expect("leader");
    }
    let leaders = mock.leaders(&topic).expect("leaders");
    let distinct: std::collections::BTreeSet<_> = leaders.values().collect();
    assert_eq!(distinct.len(), 3, "partitions led by 3 different brokers: {leaders:?}");

    let producer: Producer<String, String> = Producer::new(config(
        mock.bootstrap(),
        &[("linger.ms", "500"), ("acks", "all")],
    ))
    .expect("producer");
    let parts = producer.partitions_for(&topic).await.expect("metadata");
    assert_eq!(parts.len(), 6);
    for p in &parts {
        assert_eq!(p.leader, leaders.get(&p.partition).copied(), "we see the mock's leaders");
    }

    // One record per partition inside one linger window, then one flush: one drain.
    let before = producer.stats();
    let mut fs = Vec::new();
    for p in 0..6 {
        fs.push(
            producer
                .send(ProducerRecord::new(&topic, format!("first-{p}")).with_partition(p))
                .await
                .expect("accepted"),
        );
    }
    producer.flush().await;
    for f in fs {
        f.await.expect("delivered");
    }
    let after = producer.stats();
    assert_eq!(after.produce_requests - before.produce_requests, 3, "one request per broker");
    assert_eq!(after.batches - before.batches, 6, "one batch per partition");
    for node in 1..=3 {
        let n = after.requests_by_node.get(&node).copied().unwrap_or(0)
            - before.requests_by_node.get(&node).copied().unwrap_or(0);
        assert_eq!(n, 1, "broker {node} got one request");
    }

    // Then a stream of keyed and unkeyed records over all partitions.
    const N: usize = 20_000;
    let mut fs = Vec::with_capacity(N);
    for i in 0..N {
        let mut r = ProducerRecord::new(&topic, format!("v{i}"));
        if i % 2 == 0 {
            r = r.with_key(format!("k{}", i % 97));
        }
        fs.push(producer.send(r).await.expect("accepted"));
    }
    let mut sent: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for (i, f) in fs.into_iter().enumerate() {
        let md = f.await.expect("delivered");
        assert!(sent.insert((md.partition, md.offset), format!("v{i}")).is_none());
    }
    let stats = producer.stats();
    assert!(
        stats.produce_requests < stats.batches,
        "requests carry several partitions: {stats:?}"
    );
    producer.close(Duration::from_secs(10)).await;

    let bootstrap = mock.bootstrap().to_string();
    let t = topic.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_all(&bootstrap, &t, Some(N + 6), Duration::from_secs(60))
    })
    .await
    .expect("join")
    .expect("verifier");
    assert_eq!(read.len(), N + 6);
    for r in &read {
        if let Some(v) = sent.get(&(r.partition, r.offset)) {
            assert_eq!(r.value.as_deref(), Some(v.as_bytes()));
        }
    }
    let matched = read
        .iter()
        .filter(|r| sent.contains_key(&(r.partition, r.offset)))
        .count();
    assert_eq!(matched, N, "every acknowledged offset holds the record we sent");
}
