//! Interoperability with Apache Kafka 4.x and Java's own client: one single-node KRaft
//! cluster shared by every test of this file (JVM start is the expensive part), a fresh
//! topic per test.
//!
//! Needs `scripts/setup.sh` (Kafka jars from Maven Central, the Java interop helper).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kproducer::partitioner::partition_for_key;
use kproducer::{Header, Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{
    java_consume, java_produce, java_produce_with, read_all, unique_name, ConsumedRecord,
    KafkaCluster, TestRecord, TimestampType,
};

/// The shared cluster. A `static` is never dropped: the JVM dies with the test process
/// (parent-death signal) and the next cluster start removes the leftover directory.
fn cluster() -> &'static KafkaCluster {
    // The error is kept so every test fails at once with it instead of starting JVMs again.
    static CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| {
        let c = KafkaCluster::start(1).map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "Apache Kafka {} (1 node) started in {:?}, RSS {} MiB",
            kproducer_testkit::kafka_version(),
            c.startup_time(),
            c.rss_bytes() / (1 << 20)
        );
        Ok(c)
    });
    match started {
        Ok(c) => c,
        Err(e) => panic!("Apache Kafka did not start (run scripts/setup.sh first): {e}"),
    }
}

fn config(extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> =
        vec![("bootstrap.servers".into(), cluster().bootstrap())];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

fn new_topic(prefix: &str, partitions: i32) -> String {
    let topic = unique_name(prefix);
    cluster()
        .create_topic(&topic, partitions, 1)
        .expect("topic created");
    topic
}

/// Runs blocking testkit work (JVM subprocesses, librdkafka) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

/// Sends every record with kproducer, returns (partition, offset, timestamp) per record.
async fn kproducer_send(
    cfg: ProducerConfig,
    records: Vec<ProducerRecord<Vec<u8>, Vec<u8>>>,
) -> Vec<(i32, i64, i64)> {
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(cfg).expect("producer");
    let mut futures = Vec::with_capacity(records.len());
    for r in records {
        futures.push(producer.send(r).await.expect("send accepted"));
    }
    let mut out = Vec::with_capacity(futures.len());
    for (i, f) in futures.into_iter().enumerate() {
        let md = f.await.unwrap_or_else(|e| panic!("record {i} failed: {e}"));
        out.push((md.partition, md.offset, md.timestamp));
    }
    producer.close(Duration::from_secs(10)).await;
    out
}

/// Keys of every shape a partitioner can trip on: ASCII, Cyrillic, CJK, emoji, binary, empty.
fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for i in 0..3000u32 {
        keys.push(match i % 6 {
            0 => format!("key-{i}").into_bytes(),
            1 => format!("ключ-{i}").into_bytes(),
            2 => format!("键-{i}-ü").into_bytes(),
            3 => format!("🔑{i}").into_bytes(),
            4 => i.wrapping_mul(2_654_435_761).to_be_bytes().to_vec(),
            _ => vec![b'k'; (i % 300) as usize],
        });
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_on_the_same_partitions_as_with_javas_producer() {
    if kproducer_testkit::skip_without_kafka(
        "keyed_records_land_on_the_same_partitions_as_with_javas_producer",
    ) {
        return;
    }
    let keys = keys();
    for partitions in [1, 3, 7, 16, 100] {
        let topic = blocking(move || new_topic("same-partition", partitions)).await;
        let java_records: Vec<TestRecord> = keys
            .iter()
            .map(|k| TestRecord::new(Some(k.clone()), Some(b"from-java".to_vec())))
            .collect();
        let (bootstrap, t) = (cluster().bootstrap(), topic.clone());
        let java_started = Instant::now();
        let java = blocking(move || java_produce(&bootstrap, &t, &java_records))
            .await
            .expect("Java's producer delivers");
        eprintln!(
            "Java's KafkaProducer (subprocess): {} records to {partitions} partitions in {:?}",
            keys.len(),
            java_started.elapsed()
        );

        let ours = kproducer_send(
            config(&[]),
            keys.iter()
                .map(|k| {
                    ProducerRecord::new(&topic, b"from-kproducer".to_vec()).with_key(k.clone())
                })
                .collect(),
        )
        .await;

        assert_eq!(java.len(), keys.len());
        for (i, (j, o)) in java.iter().zip(&ours).enumerate() {
            assert_eq!(
                o.0,
                j.partition,
                "key {:?} (#{i}) with {partitions} partitions: Java chose {}, kproducer {}",
                String::from_utf8_lossy(&keys[i]),
                j.partition,
                o.0
            );
            assert_eq!(o.0, partition_for_key(&keys[i], partitions));
        }
        if partitions > 1 {
            let used: BTreeSet<i32> = ours.iter().map(|o| o.0).collect();
            assert_eq!(
                used.len(),
                partitions as usize,
                "keys spread over every partition"
            );
        }
    }
}

/// The i-th record of the mixed workload: keyed (ASCII and not), unkeyed, null and empty
/// values, headers (one with a null value), explicit timestamps, a few large values.
fn mixed(topic: &str, i: usize) -> ProducerRecord<Vec<u8>, Vec<u8>> {
    let mut r = ProducerRecord::empty(topic);
    match i % 7 {
        0 => r.key = Some(format!("key-{}", i % 1000).into_bytes()),
        1 => r.key = Some(format!("ключ-{i}").into_bytes()),
        2 => r.key = Some(Vec::new()),
        _ => {}
    }
    r.value = match i % 11 {
        3 => None,
        4 => Some(Vec::new()),
        _ => Some(format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes()),
    };
    if i % 4999 == 1 {
        r.value = Some(vec![(i % 251) as u8; 300_000]);
    }
    if i.is_multiple_of(5) {
        r.headers
            .push(Header::new("h1", format!("hv-{i}").into_bytes()));
        r.headers.push(Header {
            key: "null-header".into(),
            value: None,
        });
        r.headers
            .push(Header::new("ключ", "значение".as_bytes().to_vec()));
    }
    if i.is_multiple_of(3) {
        r.timestamp = Some(1_600_000_000_000 + i as i64);
    }
    r
}

/// What a reader must see for a record kproducer sent and the broker acknowledged.
#[derive(Debug)]
struct Expected {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
    partition: i32,
    offset: i64,
}

/// Sends `n` mixed records with kproducer and returns what each should read back as.
async fn send_mixed(cfg: ProducerConfig, topic: &str, n: usize) -> Vec<Expected> {
    let records: Vec<_> = (0..n).map(|i| mixed(topic, i)).collect();
    let mut expected: Vec<Expected> = records
        .iter()
        .map(|r| Expected {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
                .collect(),
            timestamp: r.timestamp.unwrap_or(-1),
            partition: -1,
            offset: -1,
        })
        .collect();
    let acks = kproducer_send(cfg, records).await;
    for (e, (p, o, ts)) in expected.iter_mut().zip(acks) {
        if e.timestamp >= 0 {
            assert_eq!(ts, e.timestamp, "explicit timestamp kept");
        }
        e.partition = p;
        e.offset = o;
        e.timestamp = ts;
    }
    expected
}

/// Every expected record is read back exactly once, with identical fields, and partitions
/// keep send order.
fn assert_read_back(reader: &str, expected: &[Expected], read: &[ConsumedRecord]) {
    assert_eq!(read.len(), expected.len(), "{reader}: record count");
    let by_pos: BTreeMap<(i32, i64), &ConsumedRecord> =
        read.iter().map(|r| ((r.partition, r.offset), r)).collect();
    assert_eq!(by_pos.len(), read.len(), "{reader}: duplicate offsets");
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, e) in expected.iter().enumerate() {
        let got = by_pos
            .get(&(e.partition, e.offset))
            .unwrap_or_else(|| panic!("{reader}: record {i} not at {}@{}", e.partition, e.offset));
        assert_eq!(got.key, e.key, "{reader}: key of record {i}");
        assert_eq!(got.value, e.value, "{reader}: value of record {i}");
        assert_eq!(got.headers, e.headers, "{reader}: headers of record {i}");
        assert_eq!(
            got.timestamp, e.timestamp,
            "{reader}: timestamp of record {i}"
        );
        assert_eq!(
            got.timestamp_type,
            TimestampType::CreateTime,
            "{reader}: timestamp type of record {i}"
        );
        if let Some(prev) = last.insert(e.partition, e.offset) {
            assert!(e.offset > prev, "{reader}: record {i} out of send order");
        }
    }
}

/// Codecs kproducer writes and Java must read.
const CODECS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javas_consumer_reads_back_everything_kproducer_wrote() {
    if kproducer_testkit::skip_without_kafka("javas_consumer_reads_back_everything_kproducer_wrote")
    {
        return;
    }
    const N: usize = 5_000;
    for codec in CODECS {
        let topic = blocking(|| new_topic("java-reads", 4)).await;
        let expected = send_mixed(
            config(&[("compression.type", codec), ("linger.ms", "5")]),
            &topic,
            N,
        )
        .await;
        let (bootstrap, t) = (cluster().bootstrap(), topic.clone());
        let read = blocking(move || java_consume(&bootstrap, &t, Some(N), Duration::from_secs(90)))
            .await
            .expect("Java's consumer reads the topic");
        assert_read_back(&format!("Java consumer, codec {codec}"), &expected, &read);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_producer_properties_file_drives_both_clients() {
    if kproducer_testkit::skip_without_kafka("one_producer_properties_file_drives_both_clients") {
        return;
    }
    let path = std::env::temp_dir().join(format!("{}.properties", unique_name("producer")));
    // Java .properties syntax on purpose: comments, ':' separators, spaces.
    let text = format!(
        "# shared by Java's KafkaProducer and kproducer\n\
         bootstrap.servers = {}\n\
         acks: 1\n\
         linger.ms=20\n\
         client.id=interop-props\n\
         batch.size=32768\n\
         enable.idempotence=false\n\
         max.in.flight.requests.per.connection=3\n\
         delivery.timeout.ms=60000\n",
        cluster().bootstrap()
    );
    std::fs::write(&path, text).expect("write properties");
    let topic = blocking(|| new_topic("props", 3)).await;

    let ours = ProducerConfig::from_properties_file(&path).expect("kproducer loads the file");
    let ours_props = ours.to_properties();
    let records: Vec<TestRecord> = (0..500)
        .map(|i| TestRecord::new(Some(format!("k{i}").into_bytes()), Some(b"java".to_vec())))
        .collect();
    let (bootstrap, t, p) = (cluster().bootstrap(), topic.clone(), path.clone());
    let java = blocking(move || java_produce_with(&bootstrap, &t, &records, Some(&p), &[]))
        .await
        .expect("Java's producer loads the file and delivers");

    // Every key of the file has the same effective value in both clients.
    for key in [
        "acks",
        "linger.ms",
        "client.id",
        "batch.size",
        "enable.idempotence",
        "max.in.flight.requests.per.connection",
        "delivery.timeout.ms",
    ] {
        assert_eq!(
            java.config.get(key),
            ours_props.get(key),
            "{key}: Java and kproducer disagree"
        );
    }
    assert_eq!(java.deliveries.len(), 500);

    let acks = kproducer_send(
        ours,
        (0..500)
            .map(|i| {
                ProducerRecord::new(&topic, b"kproducer".to_vec())
                    .with_key(format!("k{i}").into_bytes())
            })
            .collect(),
    )
    .await;
    assert_eq!(acks.len(), 500);
    for (j, o) in java.deliveries.iter().zip(&acks) {
        assert_eq!(j.partition, o.0, "same key, same partition");
    }
    let (bootstrap, t) = (cluster().bootstrap(), topic.clone());
    let read = blocking(move || read_all(&bootstrap, &t, Some(1000), Duration::from_secs(60)))
        .await
        .expect("verifier reads");
    assert_eq!(read.len(), 1000, "both clients delivered everything");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_20k_mixed_records_verified_by_librdkafka() {
    if kproducer_testkit::skip_without_kafka("round_trip_20k_mixed_records_verified_by_librdkafka")
    {
        return;
    }
    const N: usize = 20_000;
    let topic = blocking(|| new_topic("roundtrip", 3)).await;
    let started = Instant::now();
    let expected = send_mixed(
        config(&[("max.request.size", "2097152"), ("linger.ms", "5")]),
        &topic,
        N,
    )
    .await;
    eprintln!(
        "kproducer: {N} records acknowledged by Apache Kafka in {:?}",
        started.elapsed()
    );
    let (bootstrap, t) = (cluster().bootstrap(), topic.clone());
    let read = blocking(move || read_all(&bootstrap, &t, Some(N), Duration::from_secs(120)))
        .await
        .expect("librdkafka reads the topic");
    assert_read_back("librdkafka", &expected, &read);
    for e in &expected {
        if let Some(k) = &e.key {
            assert_eq!(
                e.partition,
                partition_for_key(k, 3),
                "keyed record where Java puts it"
            );
        }
    }
    let used: BTreeSet<i32> = expected.iter().map(|e| e.partition).collect();
    assert_eq!(used.len(), 3, "every partition used");
}
