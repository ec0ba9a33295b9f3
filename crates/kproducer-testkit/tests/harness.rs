//! Tests of the harness itself: the brokers start, librdkafka round-trips through them, the
//! verifier returns exactly what was written, and no broker process outlives its test.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kproducer_testkit::{
    api_versions_probe, by_partition, partition_leaders, rdkafka_produce, rdkafka_produce_with,
    read_all, unique_name, ApiVersionsAnswer, Broker, ConsumedRecord, Delivery, MockKafka,
    MockKafkaThread, TestRecord, TimestampType,
};

const READ_TIMEOUT: Duration = Duration::from_secs(60);
const BASE_TS: i64 = 1_700_000_000_000;

/// ~1,000 records exercising every field: null and empty keys/values, repeated and null-valued
/// headers, explicit timestamps.
fn sample_records(n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let key = match i % 50 {
                7 => None,
                8 => Some(Vec::new()),
                _ => Some(format!("key-{}", i % 97).into_bytes()),
            };
            let value = match i {
                13 => None,
                14 => Some(Vec::new()),
                _ => Some(format!("value-{i}-").repeat(1 + i % 5).into_bytes()),
            };
            let mut r = TestRecord::new(key, value).with_timestamp(BASE_TS + i as i64 * 1000);
            match i % 3 {
                0 => {}
                1 => r = r.with_header("h1", Some(i.to_be_bytes().to_vec())),
                _ => {
                    r = r
                        .with_header("h1", Some(b"a".to_vec()))
                        .with_header("null", None)
                        .with_header("h1", Some(b"dup".to_vec()))
                }
            }
            r
        })
        .collect()
}

/// Every sent record is read back exactly once, with all fields equal, at the offset the
/// producer's delivery report gave, and partitions hold contiguous offsets from 0.
fn assert_round_trip(
    sent: &[TestRecord],
    deliveries: &[Delivery],
    read: &[ConsumedRecord],
    partitions: i32,
) {
    assert_eq!(deliveries.len(), sent.len());
    assert_eq!(
        read.len(),
        sent.len(),
        "read back a different number of records"
    );
    let index: HashMap<(i32, i64), usize> = deliveries
        .iter()
        .enumerate()
        .map(|(i, d)| ((d.partition, d.offset), i))
        .collect();
    assert_eq!(index.len(), sent.len(), "two deliveries share an offset");

    for r in read {
        let i = *index.get(&(r.partition, r.offset)).unwrap_or_else(|| {
            panic!(
                "read {}/{} that no delivery reported",
                r.partition, r.offset
            )
        });
        let s = &sent[i];
        assert_eq!(r.key, s.key, "key of record {i}");
        assert_eq!(r.value, s.value, "value of record {i}");
        assert_eq!(r.headers, s.headers, "headers of record {i}");
        assert_eq!(Some(r.timestamp), s.timestamp, "timestamp of record {i}");
        assert_eq!(r.timestamp_type, TimestampType::CreateTime);
    }

    let grouped = by_partition(read);
    assert_eq!(
        grouped.keys().copied().collect::<Vec<_>>(),
        (0..partitions).collect::<Vec<_>>(),
        "every partition should hold records"
    );
    for (p, recs) in grouped {
        let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, expected, "partition {p} offsets");
    }
}

fn assert_well_formed(answer: &ApiVersionsAnswer) {
    assert_eq!(answer.error_code, 0);
    for (api, name) in [(0, "Produce"), (3, "Metadata"), (18, "ApiVersions")] {
        let (min, max) = answer
            .versions(api)
            .unwrap_or_else(|| panic!("{name} missing from {answer:?}"));
        assert!(min <= max, "{name}: min {min} > max {max}");
    }
}

#[test]
fn broker_round_trip_of_librdkafka_records() {
    let broker = Broker::start().unwrap();
    let topic = unique_name("harness");
    broker.create_topic(&topic, 3).unwrap();
    let sent = sample_records(1000);

    let deliveries = rdkafka_produce(&broker.bootstrap(), &topic, &sent).unwrap();
    let read = read_all(&broker.bootstrap(), &topic, Some(sent.len()), READ_TIMEOUT).unwrap();

    assert_round_trip(&sent, &deliveries, &read, 3);

    // End-of-partition detection alone (no expected count) finds the same records.
    let again = read_all(&broker.bootstrap(), &topic, None, READ_TIMEOUT).unwrap();
    assert_eq!(again, read);
}

#[test]
fn broker_advertising_a_proxy_sends_clients_through_it() {
    // A minimal forwarding proxy stands in for the fault proxy: bound first, so its address
    // can be advertised, forwarding once the broker's port is known.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap().to_string();
    let broker = Broker::start_with_advertised(&proxy_addr).unwrap();
    assert_eq!(broker.advertised(), proxy_addr);
    assert_ne!(broker.bootstrap(), proxy_addr);
    let connections = forward(proxy, broker.bootstrap());

    let topic = unique_name("adv");
    broker.create_topic(&topic, 1).unwrap();
    let client: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let md = rdkafka::consumer::Consumer::fetch_metadata(&client, None, Duration::from_secs(10))
        .unwrap();
    let brokers: Vec<String> = md
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    assert_eq!(brokers, vec![proxy_addr.clone()]);

    // Bootstrapping at the listener, librdkafka's produce and fetch still go via the proxy.
    let before = connections.load(std::sync::atomic::Ordering::SeqCst);
    let sent = sample_records(20);
    let deliveries = rdkafka_produce(&broker.bootstrap(), &topic, &sent).unwrap();
    let read = read_all(&broker.bootstrap(), &topic, Some(20), READ_TIMEOUT).unwrap();
    assert_round_trip(&sent, &deliveries, &read, 1);
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= before + 2);
}

/// Forwards every connection accepted on `listener` to `upstream`; counts connections.
fn forward(
    listener: std::net::TcpListener,
    upstream: String,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    count
}

#[test]
fn mock_cluster_round_trip_with_spread_leaders() {
    let mock = MockKafka::new(3).unwrap();
    let topic = unique_name("harness");
    mock.create_topic(&topic, 6).unwrap();

    let leaders = partition_leaders(&mock.bootstrap(), &topic, READ_TIMEOUT).unwrap();
    assert_eq!(leaders.len(), 6);
    let distinct: BTreeSet<i32> = leaders.values().copied().collect();
    assert!(distinct.len() >= 2, "leaders not spread: {leaders:?}");
    assert_eq!(mock.leaders(&topic).unwrap(), leaders);

    let sent = sample_records(1000);
    let deliveries = rdkafka_produce(&mock.bootstrap(), &topic, &sent).unwrap();
    let read = read_all(&mock.bootstrap(), &topic, Some(sent.len()), READ_TIMEOUT).unwrap();

    assert_round_trip(&sent, &deliveries, &read, 6);
}

#[test]
fn verifier_reads_every_compression_codec() {
    let broker = Broker::start().unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique_name(codec);
        broker.create_topic(&topic, 1).unwrap();
        let sent = sample_records(50);
        let deliveries = rdkafka_produce_with(
            &broker.bootstrap(),
            &topic,
            &sent,
            &[("compression.type", codec)],
        )
        .unwrap();
        let read = read_all(&broker.bootstrap(), &topic, Some(sent.len()), READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("{codec}: {e:#}"));
        assert_round_trip(&sent, &deliveries, &read, 1);
    }
}

#[test]
fn verifier_fails_when_records_are_missing() {
    let mock = MockKafka::new(1).unwrap();
    let topic = unique_name("short");
    mock.create_topic(&topic, 2).unwrap();
    let sent = sample_records(10);
    rdkafka_produce(&mock.bootstrap(), &topic, &sent).unwrap();

    let err = read_all(&mock.bootstrap(), &topic, Some(11), Duration::from_secs(3)).unwrap_err();
    assert!(
        err.to_string().contains("10 records read"),
        "unexpected error: {err:#}"
    );
    // Without an expected count it stops at the end of every partition with what is there.
    let read = read_all(&mock.bootstrap(), &topic, None, READ_TIMEOUT).unwrap();
    assert_eq!(read.len(), 10);
}

#[test]
fn raw_tcp_probe_talks_to_both_mocks() {
    let broker = Broker::start().unwrap();
    let ours = api_versions_probe(&broker.bootstrap(), Duration::from_secs(5)).unwrap();
    assert_well_formed(&ours);

    let mock = MockKafka::new(3).unwrap();
    for addr in mock.bootstrap().split(',') {
        let answer = api_versions_probe(addr, Duration::from_secs(5)).unwrap();
        assert_well_formed(&answer);
    }
}

#[test]
fn mock_thread_handle_is_usable_from_other_threads() {
    let mock = MockKafkaThread::new(3).unwrap();
    let topic = unique_name("moves");
    mock.create_topic(&topic, 3).unwrap();
    let before = mock.leaders(&topic).unwrap();
    assert_eq!(before.get(&0), Some(&1));

    let mock = std::sync::Arc::new(mock);
    let remote = mock.clone();
    let t = topic.clone();
    std::thread::spawn(move || remote.set_leader(&t, 0, 3))
        .join()
        .unwrap()
        .unwrap();

    // Metadata follows the move (bounded poll: the mock applies it asynchronously).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = mock.leaders(&topic).unwrap();
        if now.get(&0) == Some(&3) {
            assert_eq!(now.get(&1), before.get(&1));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leader move not visible: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dropping_the_broker_closes_its_listener() {
    let broker = Broker::start().unwrap();
    let port = broker.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    drop(broker);

    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections"
    );
}
