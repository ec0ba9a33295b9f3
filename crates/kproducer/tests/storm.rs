//! Issue #20's error storm in real time, over loopback TCP: a 3-broker in-process cluster
//! (kproducer-mock) answers a steady few dozen Produce partitions a second with retriable errors
//! while 100,000 keyed records arrive at 20,000/s, `request.timeout.ms=1500`, idempotence on.
//! Every record must be delivered, each once and in order, within a bound.
//! (The deterministic twin is `simulation.rs`'s storm test.)

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kproducer::partitioner::partition_for_key;
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_mock::{codes, ClusterConfig, FaultAction, FaultRule, MockServer, Schedule};

/// Each record's index, how long it took to resolve, and its offset or error.
type Outcomes = Arc<Mutex<Vec<(usize, Duration, Result<i64, String>)>>>;

const RECORDS: usize = 100_000;
const RATE: usize = 20_000;
const PARTITIONS: i32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_storm_of_retriable_errors_delivers_every_record() {
    let server = MockServer::start(ClusterConfig {
        brokers: 3,
        auto_create_topics: false,
        seed: 20,
        ..ClusterConfig::default()
    })
    .await
    .expect("mock cluster");
    let cluster = server.cluster();
    {
        let mut c = cluster.lock().expect("cluster");
        c.create_topic("storm", PARTITIONS).expect("topic");
        for code in [
            codes::NOT_LEADER_OR_FOLLOWER,
            codes::REQUEST_TIMED_OUT,
            codes::NOT_ENOUGH_REPLICAS,
            codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            codes::LEADER_NOT_AVAILABLE,
        ] {
            c.add_fault(FaultRule::new(FaultAction::Error(code), Schedule::Rate(0.02)).api(0));
        }
    }
    let producer: Producer<String, String> = Producer::new(
        ProducerConfig::from_map([
            ("bootstrap.servers", server.bootstrap_servers()),
            ("request.timeout.ms", "1500".to_string()),
            ("linger.ms", "5".to_string()),
        ])
        .expect("config"),
    )
    .expect("producer");

    // Sent at RATE, in bursts every 10 ms; each record's value is "partition:sequence".
    let outcomes: Outcomes = Arc::new(Mutex::new(Vec::new()));
    let mut next_seq: HashMap<i32, u64> = HashMap::new();
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let due = started + Duration::from_secs_f64(i as f64 / RATE as f64);
        if i % (RATE / 100) == 0 {
            tokio::time::sleep_until(due.into()).await;
        }
        let key = format!("key-{}", i % 1000);
        let p = partition_for_key(key.as_bytes(), PARTITIONS);
        let seq = next_seq.entry(p).or_default();
        let value = format!("{p}:{seq}");
        *seq += 1;
        let o = outcomes.clone();
        let at = Instant::now();
        sent_at.push(at);
        producer
            .send_with_callback(
                ProducerRecord::new("storm", value).with_key(key),
                move |r| {
                    let took = at.elapsed();
                    if let Ok(mut v) = o.lock() {
                        v.push((i, took, r.map(|m| m.offset).map_err(|e| e.to_string())));
                    }
                },
            )
            .await
            .expect("accepted");
    }
    producer.flush().await;
    producer.close(Duration::from_secs(5)).await;

    let outcomes = outcomes.lock().expect("outcomes");
    assert_eq!(outcomes.len(), RECORDS, "every send resolved");
    let failed: Vec<_> = outcomes.iter().filter(|o| o.2.is_err()).collect();
    let worst = outcomes.iter().map(|o| o.1).max().unwrap_or_default();
    let fired = cluster.lock().expect("cluster").faults().fired();
    eprintln!(
        "storm: {} records in {:?}, {} failed, worst resolution {worst:?}, {fired} injected errors",
        RECORDS,
        started.elapsed(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    // A batch retried k times waits about k * retry.backoff.max.ms (1 s): 10 s is several such
    // retries in a row for one batch, and a loaded 2-core machine's scheduling on top.
    assert!(
        worst <= Duration::from_secs(10),
        "worst resolution {worst:?}"
    );
    assert!(fired > 50, "the storm hit: {fired} errors injected");

    // The log: each record once, in send order per partition.
    let c = cluster.lock().expect("cluster");
    for p in 0..PARTITIONS {
        let seqs: Vec<u64> = c
            .records("storm", p)
            .expect("records")
            .iter()
            .map(|r| {
                let v = r.value.as_ref().expect("value");
                let text = std::str::from_utf8(v).expect("utf-8");
                text.split(':')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("seq")
            })
            .collect();
        let expected: Vec<u64> = (0..next_seq.get(&p).copied().unwrap_or(0)).collect();
        assert_eq!(seqs, expected, "partition {p}: every record once, in order");
    }
}

/// The same storm on librdkafka's 3-broker mock cluster, where issue #20 measured it: every 25 ms
/// one more Produce request is to be answered with one of the five retriable errors (40 spoiled
/// requests a second). This mock queues the errors: those pushed while few requests go wait for
/// the next ones. So at the end of the run, when only a partition or two still have data (each
/// retried at most once per retry.backoff.ms, 10 a second), the queue outgrows the requests and
/// those last partitions stay spoiled until delivery.timeout.ms (here 30 s): ~1 % of the records.
/// Before the core's changes (one batch per partition in flight while retrying, backoff growing
/// to 1 s: ~6 requests a second) all 100,000 were undelivered in this test. Asserted: at most 3 %.
/// (This mock does not check sequences, so only delivery is judged; the in-process test above
/// judges order and duplicates, with 0 undelivered.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storm_on_librdkafkas_mock_keeps_records_flowing() {
    use kproducer_testkit::{RDKafkaApiKey, RDKafkaRespErr};

    let mock = Arc::new(kproducer_testkit::MockKafkaThread::new(3).expect("mock cluster"));
    mock.create_topic("storm", PARTITIONS).expect("topic");
    let producer: Producer<String, String> = Producer::new(
        ProducerConfig::from_map([
            ("bootstrap.servers", mock.bootstrap().to_string()),
            ("request.timeout.ms", "1500".to_string()),
            ("delivery.timeout.ms", "30000".to_string()),
            ("linger.ms", "5".to_string()),
        ])
        .expect("config"),
    )
    .expect("producer");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let injector = {
        let (mock, stop) = (mock.clone(), stop.clone());
        std::thread::spawn(move || {
            let codes = [
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            ];
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = mock.request_errors(RDKafkaApiKey::Produce, &[codes[n % codes.len()]]);
                n += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            n
        })
    };
    let outcomes: Outcomes = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    for i in 0..RECORDS {
        if i % (RATE / 100) == 0 {
            let due = started + Duration::from_secs_f64(i as f64 / RATE as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let key = format!("key-{}", i % 1000);
        let o = outcomes.clone();
        let at = Instant::now();
        producer
            .send_with_callback(
                ProducerRecord::new("storm", format!("v{i}")).with_key(key),
                move |r| {
                    if let Ok(mut v) = o.lock() {
                        v.push((
                            i,
                            at.elapsed(),
                            r.map(|m| m.offset).map_err(|e| e.to_string()),
                        ));
                    }
                },
            )
            .await
            .expect("accepted");
    }
    producer.flush().await;
    stop.store(true, Ordering::Relaxed);
    let injected = injector.join().unwrap_or(0);
    producer.close(Duration::from_secs(5)).await;
    let outcomes = outcomes.lock().expect("outcomes");
    let failed = outcomes.iter().filter(|o| o.2.is_err()).count();
    let worst = outcomes.iter().map(|o| o.1).max().unwrap_or_default();
    eprintln!(
        "storm on librdkafka's mock: {RECORDS} records in {:?}, {failed} failed, worst resolution {worst:?}, {injected} errors injected",
        started.elapsed()
    );
    assert_eq!(outcomes.len(), RECORDS, "every send resolved");
    assert!(failed <= RECORDS * 3 / 100, "{failed} records undelivered");
    // Every send resolves by delivery.timeout.ms (30 s), plus scheduling slack.
    assert!(
        worst <= Duration::from_secs(31),
        "worst resolution {worst:?}"
    );
}
