//! An idempotent producer against a 3-node Apache Kafka 4.x cluster while a broker fails or
//! partition leadership is moved under it: nothing lost, nothing duplicated, nothing reordered
//! within a partition.
//!
//! One cluster (RF 3, `min.insync.replicas=2`) is shared by the tests of this file; they take
//! turns (a lock) because each one disturbs the cluster. Needs `scripts/setup.sh`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kproducer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
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

/// What a fault gets: the cluster, the topic, partition 0's leader at the start and the count
/// of acknowledged records (to time itself by progress, not by the clock).
struct FaultContext {
    cluster: &'static KafkaCluster,
    topic: String,
    leader: i32,
    acked: Arc<AtomicUsize>,
}

/// How a run went; lost, duplicated and reordered are asserted 0 before it is returned.
struct Outcome<R> {
    /// What the fault returned.
    fault: R,
    /// The slowest acknowledgement (send to completed future), within one pacing step.
    longest_wait: Duration,
    lost: usize,
    duplicated: usize,
    reordered: usize,
}

/// Produces `RECORDS` records (value = `seq-<i>`, keys spread over every partition) with
/// `enable.idempotence=true`, `acks=all`, while `fault` runs on a blocking thread and may use
/// `acked` to time itself; then checks what librdkafka reads back.
async fn produce_through<F, R>(name: &str, extra: &[(&str, &str)], fault: F) -> Outcome<R>
where
    F: FnOnce(FaultContext) -> R + Send + 'static,
    R: Send + 'static,
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
    let context = FaultContext {
        cluster,
        topic: topic.clone(),
        leader,
        acked: acked.clone(),
    };
    let fault_task = tokio::task::spawn_blocking(move || fault(context));

    let started = Instant::now();
    let mut partition_of = vec![-1i32; RECORDS];
    let mut failed = Vec::new();
    let mut pending: VecDeque<(usize, Instant, DeliveryFuture)> = VecDeque::new();
    // The slowest acknowledgement, within one pacing step: completed futures are collected
    // oldest first at every step, so a record that completed behind a slower older one is
    // bounded by that older one's own (longer) wait.
    let mut longest_wait = Duration::ZERO;
    let mut pace = tokio::time::interval(STEP_EVERY);
    for step in 0..RECORDS.div_ceil(STEP) {
        pace.tick().await;
        while let Some(result) = pending.front().and_then(|(_, _, f)| f.try_result()) {
            if let Some((i, sent, _)) = pending.pop_front() {
                settle(i, result, &mut partition_of, &mut failed, &acked);
                longest_wait = longest_wait.max(sent.elapsed());
            }
        }
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
    let fault_result = fault_task.await.expect("fault sequence completed");
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
    assert_eq!(partitions.len(), PARTITIONS as usize);
    Outcome {
        fault: fault_result,
        longest_wait,
        lost,
        duplicated,
        reordered,
    }
}

/// Partition 0's leader was out for seconds (fencing takes broker.session.timeout.ms=4 s, the
/// freeze lasts 6 s) while records for it were in flight: had the fault missed the run,
/// nothing would have waited that long.
fn assert_held_up<R>(name: &str, outcome: &Outcome<R>) {
    assert!(
        outcome.longest_wait >= Duration::from_secs(2),
        "{name}: the fault did not hold up any record (longest wait {:?})",
        outcome.longest_wait
    );
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
    if kproducer_testkit::skip_without_kafka(
        "idempotent_producer_survives_a_broker_killed_and_restarted",
    ) {
        return;
    }
    let outcome = produce_through("idem-kill", &[], |f| {
        let (cluster, leader, acked) = (f.cluster, f.leader, f.acked);
        wait_acked(&acked, 10_000, "before the kill");
        cluster.kill(leader).expect("kill");
        eprintln!("killed broker {leader} (leader of partition 0)");
        // Progress without it: leadership moved to the survivors.
        wait_acked(&acked, 25_000, "with a broker down");
        cluster.restart(leader).expect("restart");
        eprintln!("restarted broker {leader}");
    })
    .await;
    assert_held_up("idem-kill", &outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_survives_a_broker_frozen_past_the_request_timeout() {
    if kproducer_testkit::skip_without_kafka(
        "idempotent_producer_survives_a_broker_frozen_past_the_request_timeout",
    ) {
        return;
    }
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
    let outcome = produce_through("idem-pause", &[("request.timeout.ms", "3000")], |f| {
        let (cluster, leader, acked) = (f.cluster, f.leader, f.acked);
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
    })
    .await;
    assert_held_up("idem-pause", &outcome);
}

/// Waits (bounded) until librdkafka's metadata — a different client from the Java Admin that
/// moved them, asking whichever broker it likes — shows `want`'s leaders.
fn wait_leaders(bootstrap: &str, topic: &str, want: &BTreeMap<i32, i32>) -> BTreeMap<i32, i32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = partition_leaders(bootstrap, topic, Duration::from_secs(10)).expect("leaders");
        if &now == want {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "metadata still shows leaders {now:?}, expected {want:?}"
        );
        // Brokers learn the new leaders from the controller asynchronously; bounded poll.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_follows_controlled_leader_moves() {
    if kproducer_testkit::skip_without_kafka("idempotent_producer_follows_controlled_leader_moves")
    {
        return;
    }
    /// Rounds of moves; each moves every partition's leader to the next broker.
    const ROUNDS: usize = 4;
    let outcome = produce_through("idem-moves", &[], |f| {
        let bootstrap = f.cluster.bootstrap();
        let mut moved = 0;
        let mut slowest = Duration::ZERO;
        for round in 0..ROUNDS {
            // Early in the run, by progress (2k, 6k, 10k, 14k acknowledgements): a round takes
            // ~2 s, mostly the helper JVM's start, so rounds chain and all land mid-run.
            wait_acked(&f.acked, 2_000 + round * 4_000, "before a move");
            let before =
                partition_leaders(&bootstrap, &f.topic, Duration::from_secs(30)).expect("leaders");
            // Rotate: 1 → 2 → 3 → 1, so every partition changes leader in every round.
            let want: BTreeMap<i32, i32> = before.iter().map(|(&p, &l)| (p, l % 3 + 1)).collect();
            let pairs: Vec<(i32, i32)> = want.iter().map(|(&p, &b)| (p, b)).collect();
            let started = Instant::now();
            let done = f
                .cluster
                .move_leaders(&f.topic, &pairs)
                .expect("move leaders");
            let took = started.elapsed();
            assert!(done.iter().all(|m| m.from == before[&m.partition]));
            let after = wait_leaders(&bootstrap, &f.topic, &want);
            let at = f.acked.load(Ordering::Relaxed);
            eprintln!(
                "round {round}: leaders {before:?} -> {after:?} in {took:?} (helper's own work \
                 {:?}), {at} records acknowledged",
                done.first().map(|m| m.elapsed).unwrap_or_default()
            );
            // The move happened with records still to be produced, not after the run.
            assert!(
                at < RECORDS,
                "round {round} finished after every record was acknowledged"
            );
            moved += done.len();
            slowest = slowest.max(took);
        }
        (moved, slowest)
    })
    .await;
    let (moves, slowest_move) = outcome.fault;
    eprintln!(
        "idem-moves: {RECORDS} records, lost {}, duplicated {}, reordered {}, worst resolution \
         {} ms, {moves} leader moves ({ROUNDS} rounds over {PARTITIONS} partitions, slowest \
         round {} ms)",
        outcome.lost,
        outcome.duplicated,
        outcome.reordered,
        outcome.longest_wait.as_millis(),
        slowest_move.as_millis()
    );
    assert_eq!(moves, ROUNDS * PARTITIONS as usize);
    // A controlled move is announced (NOT_LEADER_OR_FOLLOWER, then fresh metadata), nothing
    // times out: no record should wait for seconds (measured 0.6–1.2 s; a broker kill 4–7 s).
    assert!(
        outcome.longest_wait < Duration::from_secs(5),
        "a record waited {:?} across a leader move",
        outcome.longest_wait
    );
}
