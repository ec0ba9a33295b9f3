//! Transactions against Apache Kafka 4.x (transaction protocol v2, its default): what a
//! read_committed consumer sees, zombie fencing, an exactly-once consume → transform → produce
//! loop with `send_offsets_to_transaction` over 100,000 records with crashes, and the
//! transaction coordinator killed mid-transaction on a 3-broker cluster.
//!
//! Needs `scripts/setup.sh` (Kafka jars from Maven Central).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kproducer::txn::{ConsumerGroupMetadata, OffsetAndMetadata};
use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{
    java_committed_offsets, java_consume_with, read_all_with, unique_name, ConsumeOptions,
    ConsumedRecord, Isolation, KafkaCluster, KafkaOptions, ReadOptions,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn start(n: usize) -> Result<KafkaCluster, String> {
    let c = KafkaCluster::start(n).map_err(|e| format!("{e:#}"))?;
    eprintln!(
        "Apache Kafka {} ({n} node(s)) started in {:?}",
        kproducer_testkit::kafka_version(),
        c.startup_time()
    );
    Ok(c)
}

fn single() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| start(1)) {
        Ok(c) => c,
        Err(e) => panic!("Apache Kafka did not start (run scripts/setup.sh first): {e}"),
    }
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

async fn read(
    bootstrap: String,
    topic: String,
    isolation: Isolation,
    expected: Option<usize>,
) -> Vec<ConsumedRecord> {
    blocking(move || {
        read_all_with(
            &bootstrap,
            &topic,
            &ReadOptions {
                expected_total: expected,
                timeout: Duration::from_secs(120),
                isolation,
            },
        )
        .expect("read back")
    })
    .await
}

fn values(records: &[ConsumedRecord]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    v.sort();
    v
}

/// Committed transactions are visible to read_committed, aborted ones never (they are still
/// in the log for read_uncommitted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_committed_transactions_only() {
    if kproducer_testkit::skip_without_kafka("read_committed_sees_committed_transactions_only") {
        return;
    }
    let c = single();
    let topic = unique_name("txn-rc");
    let t = topic.clone();
    blocking(move || single().create_topic(&t, 3, 1))
        .await
        .expect("topic");
    let p: Producer<String, String> = Producer::new(config(
        &c.bootstrap(),
        &[
            ("transactional.id", &unique_name("tid")),
            ("linger.ms", "5"),
        ],
    ))
    .unwrap();
    p.init_transactions().await.expect("init");
    let first = p.producer_id_and_epoch().expect("pid");
    for (round, commit) in [(0, true), (1, false), (2, true), (3, false)] {
        p.begin_transaction().unwrap();
        let mut written = Vec::new();
        for i in 0..1000 {
            let v = format!("{}-{round}-{i:04}", if commit { "c" } else { "a" });
            written.push(
                p.send(ProducerRecord::new(&topic, v).with_key(format!("k{i}")))
                    .await
                    .unwrap(),
            );
        }
        if !commit {
            // In the log before the abort (an abort fails the records not yet sent instead).
            for f in written {
                f.await.expect("written");
            }
        }
        if commit {
            p.commit_transaction().await.expect("commit");
        } else {
            p.abort_transaction().await.expect("abort");
        }
    }
    let last = p.producer_id_and_epoch().expect("pid");
    assert!(
        last.epoch >= first.epoch + 4,
        "transaction version 2: a new epoch per transaction, {first:?} → {last:?}"
    );
    p.close(Duration::from_secs(10)).await;
    let committed = values(
        &read(
            c.bootstrap(),
            topic.clone(),
            Isolation::ReadCommitted,
            Some(2000),
        )
        .await,
    );
    assert_eq!(committed.len(), 2000);
    assert!(
        committed.iter().all(|v| v.starts_with("c-")),
        "no aborted record"
    );
    let all = read(
        c.bootstrap(),
        topic.clone(),
        Isolation::ReadUncommitted,
        Some(4000),
    )
    .await;
    assert_eq!(all.len(), 4000, "aborted records stay in the log");
    // Java's own consumer, read_committed, agrees.
    let (b, t) = (c.bootstrap(), topic);
    let java = blocking(move || {
        java_consume_with(
            &b,
            &t,
            &ConsumeOptions {
                expected_total: Some(2000),
                timeout: Duration::from_secs(60),
                isolation: Isolation::ReadCommitted,
                ..ConsumeOptions::default()
            },
        )
    })
    .await
    .expect("Java read_committed");
    assert_eq!(values(&java), committed);
}

/// Transaction protocol v1 (the feature finalized at 1, as on a cluster not yet upgraded):
/// partitions and groups are added with AddPartitionsToTxn/AddOffsetsToTxn, the epoch stays;
/// read_committed (Java's consumer) sees committed records only, the group only committed
/// offsets, and a second instance fences the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_version_1_cluster() {
    if kproducer_testkit::skip_without_kafka("transaction_version_1_cluster") {
        return;
    }
    let c = blocking(|| {
        KafkaCluster::start_with(
            1,
            &KafkaOptions {
                transaction_version: Some(1),
                ..KafkaOptions::default()
            },
        )
        .map_err(|e| format!("{e:#}"))
    })
    .await
    .expect("Kafka with transaction.version=1");
    let c = std::sync::Arc::new(c);
    let (topic, input) = (unique_name("tv1"), unique_name("tv1-in"));
    let (c2, t, i) = (c.clone(), topic.clone(), input.clone());
    blocking(move || {
        c2.create_topic(&t, 3, 1)?;
        c2.create_topic(&i, 1, 1)
    })
    .await
    .expect("topics");
    let tid = unique_name("tid");
    let group = unique_name("tv1-group");
    let p: Producer<String, String> = Producer::new(config(
        &c.bootstrap(),
        &[("transactional.id", &tid), ("linger.ms", "5")],
    ))
    .unwrap();
    p.init_transactions().await.unwrap();
    let first = p.producer_id_and_epoch().unwrap();
    for (round, commit) in [(0i64, true), (1, false), (2, true)] {
        p.begin_transaction().unwrap();
        let mut written = Vec::new();
        for i in 0..300 {
            let v = format!("{}-{round}-{i:03}", if commit { "c" } else { "a" });
            written.push(
                p.send(ProducerRecord::new(&topic, v).with_key(format!("{i}")))
                    .await
                    .unwrap(),
            );
        }
        for f in written {
            f.await.expect("written");
        }
        let mut offsets = HashMap::new();
        offsets.insert((input.clone(), 0), OffsetAndMetadata::new(10 * (round + 1)));
        p.send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new(&group))
            .await
            .unwrap();
        if commit {
            p.commit_transaction().await.unwrap();
        } else {
            p.abort_transaction().await.unwrap();
        }
    }
    assert_eq!(
        p.producer_id_and_epoch().unwrap(),
        first,
        "v1 keeps the epoch"
    );
    // A second instance fences this one.
    let newer: Producer<String, String> =
        Producer::new(config(&c.bootstrap(), &[("transactional.id", &tid)])).unwrap();
    newer.init_transactions().await.unwrap();
    p.begin_transaction().unwrap();
    drop(
        p.send(ProducerRecord::new(&topic, "zombie".to_string()))
            .await,
    );
    let e = p.commit_transaction().await.unwrap_err();
    let e = if e.is_abortable() {
        p.abort_transaction().await.unwrap_err()
    } else {
        e
    };
    assert!(e.is_fatal(), "{e}");
    let (b, t) = (c.bootstrap(), topic.clone());
    let java = blocking(move || {
        java_consume_with(
            &b,
            &t,
            &ConsumeOptions {
                expected_total: Some(600),
                timeout: Duration::from_secs(60),
                isolation: Isolation::ReadCommitted,
                ..ConsumeOptions::default()
            },
        )
    })
    .await
    .expect("Java read_committed");
    let vals = values(&java);
    assert_eq!(vals.len(), 600, "two committed rounds");
    assert!(vals.iter().all(|v| v.starts_with("c-")));
    // Offset markers may lag the commit a moment (Kafka's PrepareCommit).
    let mut committed = None;
    for _ in 0..50 {
        let (b, g) = (c.bootstrap(), group.clone());
        let offsets = blocking(move || java_committed_offsets(&b, &g))
            .await
            .unwrap();
        committed = offsets.get(&(input.clone(), 0)).copied();
        if committed == Some(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        committed,
        Some(30),
        "the aborted round's offset is not committed"
    );
    newer.close(Duration::from_secs(5)).await;
    p.close(Duration::from_secs(1)).await;
}

/// Two producers with one transactional id: the newer fences the older; the older's open
/// transaction is aborted and its later calls fail as fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_fencing() {
    if kproducer_testkit::skip_without_kafka("zombie_fencing") {
        return;
    }
    let c = single();
    let topic = unique_name("txn-zombie");
    let t = topic.clone();
    blocking(move || single().create_topic(&t, 2, 1))
        .await
        .expect("topic");
    let tid = unique_name("tid");
    let old: Producer<String, String> =
        Producer::new(config(&c.bootstrap(), &[("transactional.id", &tid)])).unwrap();
    old.init_transactions().await.unwrap();
    old.begin_transaction().unwrap();
    let mut zombie = Vec::new();
    for i in 0..100 {
        zombie.push(
            old.send(ProducerRecord::new(&topic, format!("zombie-{i}")))
                .await
                .unwrap(),
        );
    }
    for f in zombie {
        f.await.expect("written, not yet committed");
    }
    let new: Producer<String, String> =
        Producer::new(config(&c.bootstrap(), &[("transactional.id", &tid)])).unwrap();
    new.init_transactions().await.expect("fences the old one");
    new.begin_transaction().unwrap();
    for i in 0..50 {
        drop(
            new.send(ProducerRecord::new(&topic, format!("new-{i}")))
                .await
                .unwrap(),
        );
    }
    new.commit_transaction().await.unwrap();
    let started = Instant::now();
    let e = old.commit_transaction().await.unwrap_err();
    // Its records written after the fence fail (INVALID_PRODUCER_EPOCH: abortable, KIP-588);
    // the abort then meets the fence. Either way it ends fenced, as Java's does.
    let e = if e.is_abortable() {
        old.abort_transaction().await.unwrap_err()
    } else {
        e
    };
    assert!(e.is_fatal(), "{e}");
    assert!(
        old.begin_transaction().unwrap_err().is_fatal(),
        "every later call fails"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "fast");
    let committed = values(&read(c.bootstrap(), topic, Isolation::ReadCommitted, Some(50)).await);
    assert_eq!(committed.len(), 50, "{committed:?}");
    assert!(committed.iter().all(|v| v.starts_with("new-")));
    old.close(Duration::from_secs(1)).await;
    new.close(Duration::from_secs(10)).await;
}

/// The group's committed offset of `input`-`partition` (what a restarted pipeline resumes from).
fn committed_offset(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    // librdkafka's first group-coordinator lookup can be slow on a loaded 2-core machine.
    let mut attempt = 0;
    let committed = loop {
        attempt += 1;
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(30)) {
            Ok(c) => break c,
            Err(e) if attempt < 5 => eprintln!("committed offsets, attempt {attempt}: {e}"),
            Err(e) => panic!("committed offsets: {e}"),
        }
    };
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            },
        )
        .collect()
}

/// Consume → transform → produce with `send_offsets_to_transaction`, 100,000 input records,
/// transactions of 1,000: a pipeline that crashes (its producer dropped mid-transaction, or an
/// abort) and restarts from the group's committed offsets produces every input exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_is_exactly_once() {
    if kproducer_testkit::skip_without_kafka("consume_transform_produce_is_exactly_once") {
        return;
    }
    const N: usize = 100_000;
    const PARTITIONS: i32 = 4;
    const CHUNK: usize = 1_000;
    let c = single();
    let input = unique_name("eos-in");
    let output = unique_name("eos-out");
    let (i2, o2) = (input.clone(), output.clone());
    blocking(move || {
        single().create_topic(&i2, PARTITIONS, 1)?;
        single().create_topic(&o2, PARTITIONS, 1)
    })
    .await
    .expect("topics");
    // The input, written by a plain idempotent producer.
    let plain: Producer<String, String> =
        Producer::new(config(&c.bootstrap(), &[("linger.ms", "5")])).unwrap();
    for i in 0..N {
        drop(
            plain
                .send(ProducerRecord::new(&input, format!("in-{i:06}")).with_key(format!("k{i}")))
                .await
                .unwrap(),
        );
    }
    plain.flush().await;
    plain.close(Duration::from_secs(10)).await;
    let records = read(
        c.bootstrap(),
        input.clone(),
        Isolation::ReadCommitted,
        Some(N),
    )
    .await;
    assert_eq!(records.len(), N);
    let mut by_partition: BTreeMap<i32, Vec<ConsumedRecord>> = BTreeMap::new();
    for r in records {
        by_partition.entry(r.partition).or_default().push(r);
    }

    let group = unique_name("eos-group");
    let tid = unique_name("eos-tid");
    let mut crashes = 0;
    let mut aborts = 0;
    let mut generation = 0u32;
    loop {
        // (Re)start: resume from the group's committed offsets.
        let (b, g, i) = (c.bootstrap(), group.clone(), input.clone());
        let positions = blocking(move || committed_offset(&b, &g, &i, PARTITIONS)).await;
        let remaining: usize = by_partition
            .iter()
            .map(|(p, rs)| {
                rs.iter()
                    .filter(|r| r.offset >= positions[*p as usize])
                    .count()
            })
            .sum();
        if remaining == 0 {
            break;
        }
        generation += 1;
        assert!(generation < 50, "the pipeline makes progress");
        let p: Producer<String, String> = Producer::new(config(
            &c.bootstrap(),
            &[("transactional.id", &tid), ("linger.ms", "5")],
        ))
        .unwrap();
        p.init_transactions()
            .await
            .expect("init (fences the crashed instance)");
        let mut pos: Vec<i64> = positions.clone();
        let mut txns = 0;
        'run: loop {
            p.begin_transaction().unwrap();
            let mut offsets = HashMap::new();
            let mut n = 0;
            for (part, rs) in &by_partition {
                let from = pos[*part as usize];
                for r in rs
                    .iter()
                    .filter(|r| r.offset >= from)
                    .take(CHUNK / PARTITIONS as usize)
                {
                    let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                        .replace("in-", "out-");
                    drop(p.send(ProducerRecord::new(&output, v)).await.unwrap());
                    pos[*part as usize] = r.offset + 1;
                    n += 1;
                }
                offsets.insert(
                    (input.clone(), *part),
                    OffsetAndMetadata::new(pos[*part as usize]),
                );
            }
            if n == 0 {
                p.abort_transaction().await.unwrap();
                break 'run;
            }
            p.send_offsets_to_transaction(offsets, &ConsumerGroupMetadata::new(&group))
                .await
                .expect("offsets");
            txns += 1;
            // Every 7th transaction of a run crashes before its commit (the producer is
            // dropped: its transaction is left open, then fenced and aborted by the next
            // instance); every 11th aborts.
            if txns % 7 == 0 && crashes < 5 {
                crashes += 1;
                drop(p);
                break 'run;
            }
            if txns % 11 == 0 && aborts < 5 {
                aborts += 1;
                p.abort_transaction().await.unwrap();
                // An aborted transaction's offsets are not committed: go back.
                let (b, g, i) = (c.bootstrap(), group.clone(), input.clone());
                pos = blocking(move || committed_offset(&b, &g, &i, PARTITIONS)).await;
                continue;
            }
            p.commit_transaction().await.expect("commit");
        }
    }
    assert!(
        crashes >= 3 && aborts >= 3,
        "crashes {crashes}, aborts {aborts}"
    );
    let out = read(c.bootstrap(), output, Isolation::ReadCommitted, Some(N)).await;
    let vals = values(&out);
    assert_eq!(vals.len(), N, "exactly N outputs");
    let expected: Vec<String> = {
        let mut e: Vec<String> = (0..N).map(|i| format!("out-{i:06}")).collect();
        e.sort();
        e
    };
    assert_eq!(vals, expected, "each input exactly once");
}

/// A 3-broker cluster; the transaction coordinator is killed in the middle of transactions:
/// afterwards read_committed shows every committed record once and no aborted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_killed_mid_transaction() {
    if kproducer_testkit::skip_without_kafka("coordinator_killed_mid_transaction") {
        return;
    }
    let cluster = blocking(|| start(3)).await.expect("3 brokers");
    let topic = unique_name("txn-kill");
    let t = topic.clone();
    let cluster = std::sync::Arc::new(cluster);
    let c2 = cluster.clone();
    blocking(move || c2.create_topic(&t, 6, 3))
        .await
        .expect("topic");
    let tid = unique_name("tid");
    let p: Producer<String, String> = Producer::new(config(
        &cluster.bootstrap(),
        &[
            ("transactional.id", &tid),
            ("linger.ms", "5"),
            ("max.block.ms", "120000"),
            ("transaction.timeout.ms", "60000"),
        ],
    ))
    .unwrap();
    p.init_transactions().await.unwrap();
    let mut committed_rounds = Vec::new();
    let mut killed = None;
    for round in 0..20 {
        p.begin_transaction().unwrap();
        for i in 0..500 {
            drop(
                p.send(
                    ProducerRecord::new(&topic, format!("r{round:02}-{i:03}"))
                        .with_key(format!("{i}")),
                )
                .await
                .unwrap(),
            );
        }
        if round == 5 {
            // Kill the broker that coordinates this transactional id, mid-transaction.
            let coordinator = p.transaction_coordinator().expect("a coordinator is known");
            let c2 = cluster.clone();
            blocking(move || c2.kill(coordinator))
                .await
                .expect("killed");
            killed = Some(coordinator);
        }
        match p.commit_transaction().await {
            Ok(()) => committed_rounds.push(round),
            Err(e) if e.is_abortable() => p.abort_transaction().await.expect("abort"),
            Err(e) => panic!("round {round}: {e}"),
        }
        if round == 12 {
            if let Some(id) = killed.take() {
                let c2 = cluster.clone();
                blocking(move || c2.restart(id)).await.expect("restarted");
            }
        }
    }
    p.close(Duration::from_secs(30)).await;
    assert!(committed_rounds.len() >= 15, "{committed_rounds:?}");
    let expected = committed_rounds.len() * 500;
    let out = read(
        cluster.bootstrap(),
        topic,
        Isolation::ReadCommitted,
        Some(expected),
    )
    .await;
    let vals = values(&out);
    let mut want: Vec<String> = committed_rounds
        .iter()
        .flat_map(|r| (0..500).map(move |i| format!("r{r:02}-{i:03}")))
        .collect();
    want.sort();
    assert_eq!(
        vals, want,
        "committed rounds exactly once, aborted ones never"
    );
}
