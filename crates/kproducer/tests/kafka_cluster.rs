//! An idempotent producer against a 3-node Apache Kafka 4.x cluster while a broker fails:
//! nothing lost, nothing duplicated, nothing reordered within a partition.
//!
//! One cluster (RF 3, `min.insync.replicas=2`) is shared by the tests of this file; they take
//! turns (a lock) because each one breaks a broker. Needs `scripts/setup.sh`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{partition_leaders, read_all, unique_name, KafkaCluster};

const RECORDS: usize = 50_000;
const PARTITIONS: i32 = 6;
/// Sends are paced (a batch of `STEP` every `STEP_EVERY`) so the run lasts ~15 s and the
/// fault lands in the middle of it, with requests in flight.
const STEP: usize = 500;
const STEP_EVERY: Duration = Duration::from_millis(150);
/// At most this many unacknowledged records (bounded memory, always some in flight).
const WINDOW: usize = 5_000;
/// Bound on each wait for the producer's progress.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

struct Shared {
    cluster: KafkaCluster,
    /// Tests take turns: each one kills or freezes a broker of the shared cluster.
    turn: tokio::sync::Mutex<()>,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        let cluster = KafkaCluster::start(3).map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "Apache Kafka {} (3 nodes) started in {:?}, RSS {} MiB in total",
            kproducer_testkit::kafka_version(),
            cluster.startup_time(),
            cluster.rss_bytes() / (1 << 20)
        );
        Ok(Shared {
            cluster,
            turn: tokio::sync::Mutex::new(()),
        })
    });
    match started {
        Ok(s) => s,
        Err(e) => panic!("Apache Kafka did not start (run scripts/setup.sh first): {e}"),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

/// Waits (polling a counter, bounded) until the producer has `n` acknowledgements.
fn wait_acked(acked: &AtomicUsize, n: usize, what: &str) {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    while acked.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "{what}: only {} of {n} records acknowledged after {PROGRESS_TIMEOUT:?}",
            acked.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Produces `RECORDS` records (value = `seq-<i>`, keys spread over every partition) with
/// `enable.idempotence=true`, `acks=all`, while `fault` runs on a blocking thread and may use
/// `acked` to time itself; then checks what librdkafka reads back.
async fn produce_through<F>(name: &str, extra: &[(&str, &str)], fault: F)
where
    F: FnOnce(&'static KafkaCluster, i32, Arc<AtomicUsize>) + Send + 'static,
{
    let shared = shared();
    let _turn = shared.turn.lock().await;
    let cluster = &shared.cluster;
    let topic = unique_name(name);
    let t = topic.clone();
    let leader = blocking(move || {
        cluster.create_topic(&t, PARTITIONS, 3).expect("topic");
        partition_leaders(&cluster.bootstrap(), &t, Duration::from_secs(30)).expect("leaders")[&0]
    })
    .await;

    let mut props: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), cluster.bootstrap()),
        ("enable.idempotence".into(), "true".into()),
        ("acks".into(), "all".into()),
        ("linger.ms".into(), "5".into()),
    ];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let producer: Producer<Vec<u8>, Vec<u8>> =
        Producer::new(ProducerConfig::from_map(props).expect("config")).expect("producer");

    let acked = Arc::new(AtomicUsize::new(0));
    let fault_acked = acked.clone();
    let fault_task = tokio::task::spawn_blocking(move || fault(cluster, leader, fault_acked));

    let started = Instant::now();
    let mut partition_of = vec![-1i32; RECORDS];
    let mut failed = Vec::new();
    let mut pending = VecDeque::new();
    // Upper bound of the slowest acknowledgement (futures are awaited oldest first).
    let mut longest_wait = Duration::ZERO;
    let mut pace = tokio::time::interval(STEP_EVERY);
    for step in 0..RECORDS.div_ceil(STEP) {
        pace.tick().await;
        for i in step * STEP..((step + 1) * STEP).min(RECORDS) {
            let record = ProducerRecord::new(&topic, format!("seq-{i}").into_bytes())
                .with_key(format!("key-{}", i % 997).into_bytes());
            let delivery = producer.send(record).await.expect("send accepted");
            pending.push_back((i, Instant::now(), delivery));
        }
        while pending.len() > WINDOW {
            if let Some((i, sent, f)) = pending.pop_front() {
                settle(i, f.await, &mut partition_of, &mut failed, &acked);
                longest_wait = longest_wait.max(sent.elapsed());
            }
        }
    }
    while let Some((i, sent, f)) = pending.pop_front() {
        settle(i, f.await, &mut partition_of, &mut failed, &acked);
        longest_wait = longest_wait.max(sent.elapsed());
    }
    let elapsed = started.elapsed();
    producer.close(Duration::from_secs(30)).await;
    fault_task.await.expect("fault sequence completed");
    eprintln!(
        "{name}: {RECORDS} records through the fault in {elapsed:?}, longest wait for an \
         acknowledgement {longest_wait:?}"
    );
    assert!(
        failed.is_empty(),
        "{} records failed, first: {:?}",
        failed.len(),
        failed.first()
    );

    let (bootstrap, t) = (cluster.bootstrap(), topic.clone());
    let read = blocking(move || read_all(&bootstrap, &t, Some(RECORDS), Duration::from_secs(120)))
        .await
        .expect("librdkafka reads the topic");

    // Per partition, in offset order: every sequence number once, ascending.
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut reordered = 0;
    let mut wrong_partition = 0;
    let mut last: BTreeMap<i32, usize> = BTreeMap::new();
    for r in &read {
        let value = r.value.as_deref().expect("value");
        let seq: usize = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.strip_prefix("seq-"))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("unexpected value {:?}", String::from_utf8_lossy(value)));
        *seen.entry(seq).or_default() += 1;
        if partition_of.get(seq) != Some(&r.partition) {
            wrong_partition += 1;
        }
        if let Some(prev) = last.insert(r.partition, seq) {
            if seq <= prev {
                reordered += 1;
            }
        }
    }
    let lost = (0..RECORDS).filter(|i| !seen.contains_key(i)).count();
    let duplicated: usize = seen.values().map(|&c| c - 1).sum();
    let partitions: BTreeSet<i32> = read.iter().map(|r| r.partition).collect();
    eprintln!(
        "{name}: read {} records; lost {lost}, duplicated {duplicated}, reordered {reordered}",
        read.len()
    );
    assert_eq!(
        (lost, duplicated, reordered, wrong_partition),
        (0, 0, 0, 0),
        "{name}: (lost, duplicated, reordered, wrong partition)"
    );
    assert_eq!(read.len(), RECORDS);
    // Partition 0's leader was out for seconds (fencing takes broker.session.timeout.ms=4 s,
    // the freeze lasts 6 s) while records for it were in flight: had the fault missed the
    // run, nothing would have waited that long.
    assert!(
        longest_wait >= Duration::from_secs(2),
        "{name}: the fault did not hold up any record (longest wait {longest_wait:?})"
    );
    assert_eq!(partitions.len(), PARTITIONS as usize);
}

fn settle(
    i: usize,
    result: Result<kproducer::RecordMetadata, kproducer::ProduceError>,
    partition_of: &mut [i32],
    failed: &mut Vec<String>,
    acked: &AtomicUsize,
) {
    match result {
        Ok(md) => partition_of[i] = md.partition,
        Err(e) => failed.push(format!("record {i}: {e}")),
    }
    acked.fetch_add(1, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_survives_a_broker_killed_and_restarted() {
    produce_through("idem-kill", &[], |cluster, leader, acked| {
        wait_acked(&acked, 10_000, "before the kill");
        cluster.kill(leader).expect("kill");
        eprintln!("killed broker {leader} (leader of partition 0)");
        // Progress without it: leadership moved to the survivors.
        wait_acked(&acked, 25_000, "with a broker down");
        cluster.restart(leader).expect("restart");
        eprintln!("restarted broker {leader}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_survives_a_broker_frozen_past_the_request_timeout() {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
    produce_through(
        "idem-pause",
        &[("request.timeout.ms", "3000")],
        |cluster, leader, acked| {
            wait_acked(&acked, 10_000, "before the pause");
            cluster.pause(leader).expect("pause");
            eprintln!("paused broker {leader} (leader of partition 0)");
            // The fault's shape, not a synchronisation: frozen twice the request timeout.
            std::thread::sleep(REQUEST_TIMEOUT * 2);
            cluster.resume(leader).expect("resume");
            eprintln!("resumed broker {leader}");
            cluster
                .wait_all_registered(Duration::from_secs(60))
                .expect("the resumed broker registers again");
        },
    )
    .await;
}
