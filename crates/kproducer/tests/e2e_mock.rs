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
    assert_eq!(
        distinct.len(),
        3,
        "partitions led by 3 different brokers: {leaders:?}"
    );

    let producer: Producer<String, String> = Producer::new(config(
        mock.bootstrap(),
        &[("linger.ms", "500"), ("acks", "all")],
    ))
    .expect("producer");
    let parts = producer.partitions_for(&topic).await.expect("metadata");
    assert_eq!(parts.len(), 6);
    for p in &parts {
        assert_eq!(
            p.leader,
            leaders.get(&p.partition).copied(),
            "we see the mock's leaders"
        );
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
    assert_eq!(
        after.produce_requests - before.produce_requests,
        3,
        "one request per broker"
    );
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
        assert!(sent
            .insert((md.partition, md.offset), format!("v{i}"))
            .is_none());
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
    assert_eq!(
        matched, N,
        "every acknowledged offset holds the record we sent"
    );
}

/// A producer whose 64 KiB buffer is full of batches waiting on a slow broker.
async fn fill_buffer(
    bootstrap: &str,
    topic: &str,
    max_block_ms: &str,
) -> Producer<Vec<u8>, Vec<u8>> {
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config(
        bootstrap,
        &[
            ("buffer.memory", "65536"),
            ("batch.size", "16384"),
            ("linger.ms", "0"),
            ("max.block.ms", max_block_ms),
            ("max.in.flight.requests.per.connection", "5"),
        ],
    ))
    .expect("producer");
    producer.partitions_for(topic).await.expect("metadata");
    producer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_blocks_then_times_out_or_proceeds_when_memory_frees() {
    let mock = MockKafkaThread::new(1).expect("mock cluster");
    let topic = unique_name("memory");
    mock.create_topic(&topic, 1).expect("topic");
    let bootstrap = mock.bootstrap().to_string();

    // Each 10 KB record takes a 16 KiB batch: four fill buffer.memory.
    let record = || ProducerRecord::new(&topic, vec![7u8; 10_000]).with_partition(0);
    let slow = fill_buffer(&bootstrap, &topic, "500").await;
    let patient = fill_buffer(&bootstrap, &topic, "15000").await;
    mock.round_trip_time(1, Duration::from_millis(2500))
        .expect("rtt");

    let mut pending = Vec::new();
    for _ in 0..4 {
        pending.push(slow.send(record()).await.expect("fits in memory"));
    }
    // try_send never waits.
    let t = std::time::Instant::now();
    let err = slow.try_send(record()).await.unwrap_err();
    assert!(
        matches!(err, kproducer::SendError::BufferFull { .. }),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_millis(200));
    // send waits max.block.ms, then fails.
    let t = std::time::Instant::now();
    let err = slow.send(record()).await.unwrap_err();
    let waited = t.elapsed();
    assert!(
        matches!(err, kproducer::SendError::BufferExhausted { .. }),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_millis(2000),
        "{waited:?}"
    );
    for f in pending {
        f.await.expect("the slow records still arrive");
    }

    // With a longer max.block.ms the blocked send proceeds once an answer frees memory.
    let mut pending = Vec::new();
    for _ in 0..4 {
        pending.push(patient.send(record()).await.expect("fits in memory"));
    }
    let t = std::time::Instant::now();
    let f = patient.send(record()).await.expect("memory freed in time");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "it did wait for memory: {waited:?}"
    );
    pending.push(f);
    for f in pending {
        f.await.expect("delivered");
    }
    mock.round_trip_time(1, Duration::from_millis(0))
        .expect("rtt");
    slow.close(Duration::from_secs(10)).await;
    patient.close(Duration::from_secs(10)).await;
}

/// The driver runs on the producer's own network thread, so records are delivered even while
/// the caller's single-threaded runtime is blocked (with the driver as a task on that runtime,
/// nothing would move until it yielded).
#[tokio::test(flavor = "current_thread")]
async fn delivery_progresses_while_the_callers_runtime_is_blocked() {
    let mock = MockKafkaThread::new(1).expect("mock cluster");
    let topic = unique_name("own-thread");
    mock.create_topic(&topic, 1).expect("topic");
    let producer: Producer<String, String> =
        Producer::new(config(mock.bootstrap(), &[("linger.ms", "0")])).expect("producer");
    producer.partitions_for(&topic).await.expect("metadata");
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let thread_names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for i in 0..100 {
        let (acked, names) = (acked.clone(), thread_names.clone());
        producer
            .send_with_callback(ProducerRecord::new(&topic, format!("v{i}")), move |r| {
                assert!(r.is_ok(), "{r:?}");
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let name = std::thread::current().name().map(str::to_string);
                names.lock().expect("names").push(name);
            })
            .await
            .expect("buffered");
    }
    // Block this runtime's only thread (no await) until everything is acknowledged.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 100 acknowledged while the caller was blocked",
            acked.load(std::sync::atomic::Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let names = thread_names.lock().expect("names").clone();
    assert!(
        names.iter().all(|n| n
            .as_deref()
            .is_some_and(|n| n.starts_with("kproducer-netw"))),
        "callbacks run on the network thread: {names:?}"
    );
    producer.close(Duration::from_secs(5)).await;
}
