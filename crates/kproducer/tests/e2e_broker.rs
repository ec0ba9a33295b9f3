//! End to end against a Kafka-protocol broker on a real socket (the in-process cluster, `Broker`), read back by an independent client
//! (librdkafka through the testkit's verifier).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kproducer::partitioner::partition_for_key;
use kproducer::{
    BlockingProducer, Header, KafkaError, Producer, ProducerConfig, ProducerRecord, SendError,
};
use kproducer_mock::ClusterConfig;
use kproducer_testkit::{read_all, unique_name, Broker, ConsumedRecord};

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

/// What we sent, to compare with what librdkafka reads back.
#[derive(Debug, Clone)]
struct Sent {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
    partition: i32,
    offset: i64,
    metadata_timestamp: i64,
}

/// The i-th record of the mixed workload: keyed, unkeyed, null values, headers, explicit
/// timestamps, empty values and one 1 MiB value.
fn record(topic: &str, i: usize) -> ProducerRecord<Vec<u8>, Vec<u8>> {
    let mut r = ProducerRecord::empty(topic);
    match i % 7 {
        0 => r.key = Some(format!("key-{}", i % 1000).into_bytes()),
        1 => r.key = Some(format!("ключ-{i}").into_bytes()),
        _ => {}
    }
    r.value = match i % 11 {
        3 => None,             // tombstone
        4 => Some(Vec::new()), // empty, not null
        _ => Some(format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes()),
    };
    if i == 4242 {
        r.value = Some(vec![0xAB; 1 << 20]);
    }
    if i.is_multiple_of(5) {
        r.headers
            .push(Header::new("h1", format!("hv-{i}").into_bytes()));
        r.headers.push(Header {
            key: "null-header".into(),
            value: None,
        });
    }
    if i.is_multiple_of(3) {
        r.timestamp = Some(1_600_000_000_000 + i as i64);
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_100k_mixed_records_over_3_partitions() {
    // Some records are ~1 MiB: the broker takes what max.request.size lets through (Kafka's
    // default message.max.bytes, 1 MB, would refuse them with MESSAGE_TOO_LARGE).
    let cfg = ClusterConfig {
        max_message_bytes: 2_097_152 + 1024,
        ..ClusterConfig::default()
    };
    let broker = Broker::start_with(cfg, None).expect("broker starts");
    let topic = unique_name("roundtrip");
    broker.create_topic(&topic, 3).expect("topic");
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config(
        &broker.bootstrap(),
        &[("max.request.size", "2097152"), ("linger.ms", "5")],
    ))
    .expect("producer");

    const N: usize = 100_000;
    let started = Instant::now();
    let mut futures = Vec::with_capacity(N);
    let mut sent = Vec::with_capacity(N);
    for i in 0..N {
        let r = record(&topic, i);
        sent.push(Sent {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
                .collect(),
            timestamp: r.timestamp,
            partition: -1,
            offset: -1,
            metadata_timestamp: -1,
        });
        futures.push(producer.send(r).await.expect("send accepted"));
    }
    for (i, f) in futures.into_iter().enumerate() {
        let md = f.await.unwrap_or_else(|e| panic!("record {i} failed: {e}"));
        assert_eq!(&*md.topic, topic.as_str());
        sent[i].partition = md.partition;
        sent[i].offset = md.offset;
        sent[i].metadata_timestamp = md.timestamp;
        let expect_key = sent[i].key.as_ref().map_or(-1, |k| k.len() as i32);
        let expect_value = sent[i].value.as_ref().map_or(-1, |v| v.len() as i32);
        assert_eq!(md.serialized_key_size, expect_key);
        assert_eq!(md.serialized_value_size, expect_value);
        if let Some(ts) = sent[i].timestamp {
            assert_eq!(md.timestamp, ts, "explicit timestamp kept");
        }
    }
    let elapsed = started.elapsed();
    let pid = producer
        .producer_id_and_epoch()
        .expect("idempotent by default");
    assert!(pid.id >= 0, "the broker assigned a producer id: {pid:?}");
    producer.close(Duration::from_secs(10)).await;
    eprintln!("kproducer: {N} records acknowledged in {elapsed:?}");

    let bootstrap = broker.bootstrap();
    let t = topic.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_all(&bootstrap, &t, Some(N), Duration::from_secs(120))
    })
    .await
    .expect("join")
    .expect("verifier reads");
    assert_eq!(read.len(), N, "every record read back, none extra");

    // Index what librdkafka read by (partition, offset).
    let by_pos: BTreeMap<(i32, i64), &ConsumedRecord> =
        read.iter().map(|r| ((r.partition, r.offset), r)).collect();
    assert_eq!(by_pos.len(), N, "no duplicate offsets");
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut partitions_used = std::collections::BTreeSet::new();
    for (i, s) in sent.iter().enumerate() {
        let got = by_pos
            .get(&(s.partition, s.offset))
            .unwrap_or_else(|| panic!("record {i} not found at {}@{}", s.partition, s.offset));
        assert_eq!(got.key, s.key, "key of record {i}");
        assert_eq!(got.value, s.value, "value of record {i}");
        assert_eq!(got.headers, s.headers, "headers of record {i}");
        assert_eq!(
            got.timestamp, s.metadata_timestamp,
            "timestamp of record {i}"
        );
        if let Some(ts) = s.timestamp {
            assert_eq!(got.timestamp, ts);
        }
        // Per-partition order equals send order.
        let prev = last_offset.insert(s.partition, s.offset);
        if let Some(p) = prev {
            assert!(
                s.offset > p,
                "record {i} out of order in partition {}",
                s.partition
            );
        }
        if let Some(k) = &s.key {
            assert_eq!(
                s.partition,
                partition_for_key(k, 3),
                "keyed record {i} where Java puts it"
            );
        }
        partitions_used.insert(s.partition);
    }
    assert_eq!(
        partitions_used.len(),
        3,
        "unkeyed records spread over all partitions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_complete_in_send_order_per_partition() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("callbacks");
    broker.create_topic(&topic, 2).expect("topic");
    let producer: Producer<String, String> =
        Producer::new(config(&broker.bootstrap(), &[])).expect("producer");
    let seen: Arc<Mutex<Vec<(i32, i64, usize)>>> = Arc::new(Mutex::new(Vec::new()));
    for i in 0..2_000usize {
        let seen = seen.clone();
        producer
            .send_with_callback(
                ProducerRecord::new(&topic, format!("v{i}")).with_partition((i % 2) as i32),
                move |r| {
                    let md = r.expect("delivered");
                    seen.lock().unwrap().push((md.partition, md.offset, i));
                },
            )
            .await
            .expect("accepted");
    }
    producer.flush().await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2_000, "flush waits for every callback");
    for p in 0..2 {
        let mine: Vec<_> = seen.iter().filter(|s| s.0 == p).collect();
        assert!(mine.windows(2).all(|w| w[0].2 < w[1].2 && w[0].1 < w[1].1));
        assert_eq!(mine.len(), 1_000);
    }
    producer.close(Duration::from_secs(5)).await;
}

#[test]
fn blocking_producer_sends_without_a_runtime() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("blocking");
    broker.create_topic(&topic, 1).expect("topic");
    let producer: BlockingProducer<String, String> =
        BlockingProducer::new(config(&broker.bootstrap(), &[("acks", "1")])).expect("producer");
    let md = producer
        .send_and_wait(ProducerRecord::new(&topic, "sync".to_string()).with_key("k".into()))
        .expect("acked");
    assert_eq!((md.partition, md.offset), (0, 0));
    let f = producer
        .send(ProducerRecord::new(&topic, "async".to_string()))
        .expect("accepted");
    producer.flush();
    let md2 = f.wait().expect("acked");
    assert_eq!(md2.offset, 1);
    producer.close(Duration::from_secs(5));
    let err = producer
        .send(ProducerRecord::new(&topic, "late".to_string()))
        .unwrap_err();
    assert_eq!(err, SendError::Closed);
    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(2),
        Duration::from_secs(30),
    )
    .expect("read");
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].value.as_deref(), Some(&b"sync"[..]));
    assert_eq!(read[0].key.as_deref(), Some(&b"k"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_and_one_deliver() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("acks");
    broker.create_topic(&topic, 1).expect("topic");
    for acks in ["0", "1", "all"] {
        let producer: Producer<String, String> =
            Producer::new(config(&broker.bootstrap(), &[("acks", acks)])).expect("producer");
        let f = producer
            .send(ProducerRecord::new(&topic, format!("acks={acks}")))
            .await
            .expect("accepted");
        let md = f.await.expect("delivered");
        assert_eq!(
            producer.producer_id_and_epoch().is_some(),
            acks == "all",
            "defaulted idempotence yields to acks={acks}"
        );
        if acks == "0" {
            assert_eq!(md.offset, -1, "acks=0 gives no offset");
        } else {
            assert!(md.offset >= 0);
        }
        producer.close(Duration::from_secs(5)).await;
    }
    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(3),
        Duration::from_secs(30),
    )
    .expect("read");
    assert_eq!(read.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_what_is_buffered() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("close");
    broker.create_topic(&topic, 1).expect("topic");
    // A long linger: only close makes the batch go.
    let producer: Producer<String, String> = Producer::new(config(
        &broker.bootstrap(),
        &[("linger.ms", "60000"), ("delivery.timeout.ms", "120000")],
    ))
    .expect("producer");
    let mut fs = Vec::new();
    for i in 0..100 {
        fs.push(
            producer
                .send(ProducerRecord::new(&topic, format!("v{i}")))
                .await
                .expect("accepted"),
        );
    }
    let t = Instant::now();
    producer.close(Duration::from_secs(10)).await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "close doesn't wait for linger.ms"
    );
    for f in fs {
        f.await.expect("delivered on close");
    }
    assert_eq!(
        producer
            .send(ProducerRecord::new(&topic, "late".into()))
            .await
            .unwrap_err(),
        SendError::Closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_record_is_refused_at_once() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("oversize");
    broker.create_topic(&topic, 1).expect("topic");
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config(
        &broker.bootstrap(),
        &[("max.request.size", "10000")],
    ))
    .expect("producer");
    let err = producer
        .send(ProducerRecord::new(&topic, vec![0u8; 20_000]))
        .await
        .unwrap_err();
    match err {
        SendError::RecordTooLarge {
            limit,
            limit_key,
            size,
        } => {
            assert_eq!((limit, limit_key), (10_000, "max.request.size"));
            assert!(size > 20_000);
        }
        other => panic!("expected RecordTooLarge, got {other}"),
    }
    // send_returning hands the refused record back, untouched.
    let rejected = producer
        .send_returning(ProducerRecord::new(&topic, vec![7u8; 20_000]).with_key(b"k".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(rejected.error, SendError::RecordTooLarge { .. }));
    assert_eq!(rejected.record.value.as_deref(), Some(&[7u8; 20_000][..]));
    assert_eq!(rejected.record.key.as_deref(), Some(&b"k"[..]));
    // A record that fits still goes through.
    producer
        .send(ProducerRecord::new(&topic, vec![0u8; 100]))
        .await
        .expect("accepted")
        .await
        .expect("delivered");
    // An explicit partition out of range is refused too.
    let err = producer
        .send(ProducerRecord::new(&topic, vec![1]).with_partition(5))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SendError::InvalidPartition {
            partition: 5,
            partitions: 1,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topic_fails_after_max_block_ms() {
    let broker = Broker::start().expect("broker starts");
    let producer: Producer<String, String> =
        Producer::new(config(&broker.bootstrap(), &[("max.block.ms", "1500")])).expect("producer");
    let t = Instant::now();
    let topic = unique_name("never-created");
    let r = producer
        .send(ProducerRecord::new(&topic, "v".to_string()))
        .await;
    let waited = t.elapsed();
    match r {
        // The broker auto-creates the topic (Kafka's default); then the record is delivered.
        Ok(f) => {
            f.await.expect("auto-created topic takes the record");
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    SendError::UnknownTopic { .. } | SendError::MetadataTimeout { .. }
                ),
                "{e}"
            );
            assert!(
                waited >= Duration::from_millis(1400),
                "waited max.block.ms: {waited:?}"
            );
            assert!(
                waited < Duration::from_secs(5),
                "and not much longer: {waited:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_reachable_fails_after_max_block_ms() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let producer: Producer<String, String> = Producer::new(config(
        &format!("127.0.0.1:{port}"),
        &[("max.block.ms", "1000")],
    ))
    .expect("producer");
    let t = Instant::now();
    let err = producer
        .send(ProducerRecord::new("t", "v".to_string()))
        .await
        .unwrap_err();
    let waited = t.elapsed();
    match &err {
        SendError::MetadataTimeout { reason, .. } => {
            assert!(
                reason.contains(&port.to_string()),
                "names the address: {reason}"
            )
        }
        other => panic!("expected MetadataTimeout, got {other}"),
    }
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    producer.close(Duration::from_secs(1)).await;
}

#[test]
fn invalid_config_is_refused_with_the_key_named() {
    for (k, v) in [("acks", "2"), ("linger.ms", "-1"), ("batch.size", "abc")] {
        let err = ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092"), (k, v)])
            .unwrap_err();
        assert!(err.to_string().contains(k), "{k}={v}: {err}");
    }
    let err = ProducerConfig::from_map([("acks", "1")]).unwrap_err();
    assert!(err.to_string().contains("bootstrap.servers"), "{err}");
    let e: KafkaError = err.into();
    assert!(matches!(e, KafkaError::Config(_)));
}

/// Uppercases values and counts acknowledgements.
struct Upper(Arc<Mutex<(usize, usize)>>);

impl kproducer::interceptor::ProducerInterceptor<String, String> for Upper {
    fn on_send(
        &self,
        record: &mut ProducerRecord<String, String>,
    ) -> Result<(), kproducer::interceptor::InterceptorError> {
        if let Some(v) = record.value.as_mut() {
            *v = v.to_uppercase();
        }
        Ok(())
    }

    fn on_acknowledgement(
        &self,
        _metadata: &kproducer::RecordMetadata,
        error: Option<&kproducer::ProduceError>,
    ) -> Result<(), kproducer::interceptor::InterceptorError> {
        let mut c = self.0.lock().unwrap();
        if error.is_none() {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
        Ok(())
    }
}

/// Always fails: must not fail the send.
struct Broken;

impl kproducer::interceptor::ProducerInterceptor<String, String> for Broken {
    fn on_send(
        &self,
        _record: &mut ProducerRecord<String, String>,
    ) -> Result<(), kproducer::interceptor::InterceptorError> {
        Err(kproducer::interceptor::InterceptorError(
            "broken on purpose".into(),
        ))
    }

    fn on_acknowledgement(
        &self,
        _metadata: &kproducer::RecordMetadata,
        _error: Option<&kproducer::ProduceError>,
    ) -> Result<(), kproducer::interceptor::InterceptorError> {
        Err(kproducer::interceptor::InterceptorError(
            "broken on purpose".into(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_and_a_custom_partitioner_take_part() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("intercept");
    broker.create_topic(&topic, 4).expect("topic");
    let counts = Arc::new(Mutex::new((0usize, 0usize)));
    let producer =
        kproducer::ProducerBuilder::<String, String>::new(config(&broker.bootstrap(), &[]))
            .interceptor(Broken)
            .interceptor(Upper(counts.clone()))
            .partitioner(kproducer::partitioner::RoundRobinPartitioner::new())
            .build()
            .expect("producer");
    let mut parts = Vec::new();
    for i in 0..8 {
        let md = producer
            .send(ProducerRecord::new(&topic, format!("hello-{i}")).with_key("same-key".into()))
            .await
            .expect("accepted")
            .await
            .expect("delivered");
        parts.push(md.partition);
    }
    assert_eq!(
        parts,
        vec![0, 1, 2, 3, 0, 1, 2, 3],
        "round robin ignores the key"
    );
    assert_eq!(
        *counts.lock().unwrap(),
        (8, 0),
        "on_acknowledgement saw every record"
    );
    producer.close(Duration::from_secs(5)).await;
    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(8),
        Duration::from_secs(30),
    )
    .expect("read");
    assert!(read
        .iter()
        .all(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"HELLO-"))));
}

#[test]
fn dropping_a_blocking_producer_still_delivers_what_it_buffered() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("drop");
    broker.create_topic(&topic, 1).expect("topic");
    let futures: Vec<_> = {
        let producer: BlockingProducer<String, String> =
            BlockingProducer::new(config(&broker.bootstrap(), &[("linger.ms", "200")]))
                .expect("producer");
        (0..50)
            .map(|i| {
                producer
                    .send(ProducerRecord::new(&topic, format!("v{i}")))
                    .expect("accepted")
            })
            .collect()
        // dropped here, without close()
    };
    for f in futures {
        f.wait().expect("delivered after drop");
    }
    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(50),
        Duration::from_secs(30),
    )
    .expect("read");
    assert_eq!(read.len(), 50);
}
