//! The transaction tooling of the testkit against Apache Kafka itself, with Java's own
//! transactional producer as the workload: `read_committed` vs `read_uncommitted` reads,
//! `sendOffsetsToTransaction` offsets read back, the `transaction.version` feature finalized at
//! format time (and upgraded on a running cluster), and the transaction coordinator lookup a
//! failover test needs to kill exactly the coordinator.
//!
//! A shared 3-node cluster (default `transaction.version`, 2) serves most tests; the coordinator
//! test kills a broker, so it takes the cluster alone (write lock) while the others share it
//! (read lock). The `transaction.version=1` test has its own single-node cluster. Needs the Apache
//! Kafka jars (`scripts/setup.sh`); skipped without them unless `KPRODUCER_REQUIRE_BROKERS` is set.

use std::collections::BTreeSet;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use kproducer_testkit::{
    api_versions_features, java_committed_offsets, java_consume_with, java_describe_transaction,
    java_features, java_produce_transactional, java_set_features, java_transaction_coordinator,
    read_all_with, skip_without_kafka, unique_name, ConsumeOptions, ConsumedRecord, Isolation,
    JavaTxnOptions, JavaTxnProduced, KafkaCluster, KafkaOptions, ReadOptions, TestRecord,
    TxnOffsets, TxnOutcome, TRANSACTION_VERSION,
};

const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The shared 3-node cluster, and the lock the tests take turns with.
fn cluster() -> &'static KafkaCluster {
    // The error is kept so every test fails at once with it instead of starting JVMs again.
    static CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| {
        let c = KafkaCluster::start(3).map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "Apache Kafka {} (3 nodes) started in {:?}",
            kproducer_testkit::kafka_version(),
            c.startup_time()
        );
        Ok(c)
    });
    match started {
        Ok(c) => c,
        Err(e) => panic!("Apache Kafka (3 nodes) did not start: {e}"),
    }
}

static TURN: RwLock<()> = RwLock::new(());

/// Shares the cluster with the other readers (a failed test's poison is ignored).
fn shared() -> RwLockReadGuard<'static, ()> {
    TURN.read().unwrap_or_else(|p| p.into_inner())
}

/// Takes the cluster alone (the test faults a broker).
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    TURN.write().unwrap_or_else(|p| p.into_inner())
}

/// `n` records whose values name their index (`v{i}`) and whose keys spread them over the
/// partitions.
fn records(n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            TestRecord::new(
                Some(format!("key-{i}").into_bytes()),
                Some(format!("v{i}").into_bytes()),
            )
        })
        .collect()
}

/// `(partition, offset, value)` of what a reader saw, sorted.
fn seen(read: &[ConsumedRecord]) -> BTreeSet<(i32, i64, String)> {
    read.iter()
        .map(|r| {
            let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            (r.partition, r.offset, v)
        })
        .collect()
}

/// `(partition, offset, value)` of the records of `run` whose transaction ended in `outcomes`.
fn written(run: &JavaTxnProduced, outcomes: &[TxnOutcome]) -> BTreeSet<(i32, i64, String)> {
    run.deliveries
        .iter()
        .enumerate()
        .filter(|&(i, _)| outcomes.contains(&run.outcome_of(i)))
        .map(|(i, d)| (d.partition, d.offset, format!("v{i}")))
        .collect()
}

fn java_read(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
    expected: usize,
) -> Vec<ConsumedRecord> {
    java_consume_with(
        bootstrap,
        topic,
        &ConsumeOptions {
            expected_total: Some(expected),
            timeout: READ_TIMEOUT,
            isolation,
            ..ConsumeOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("Java's consumer ({isolation:?}) on {topic}: {e:#}"))
}

#[test]
fn java_transactions_read_committed_sees_only_committed_records() {
    if skip_without_kafka("java_transactions_read_committed_sees_only_committed_records") {
        return;
    }
    let c = cluster();
    let _turn = shared();
    let started = Instant::now();
    let topic = unique_name("txn-rc");
    c.create_topic(&topic, 3, 3).unwrap();
    let txn_id = unique_name("txn-rc-id");

    // 3 transactions of 4: the first two committed, the third aborted.
    let run = java_produce_transactional(
        &c.bootstrap(),
        &topic,
        &JavaTxnOptions {
            transactional_id: txn_id.clone(),
            records: records(12),
            per_transaction: 4,
            abort_every: Some(3),
            ..JavaTxnOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        run.outcomes,
        [
            TxnOutcome::Committed,
            TxnOutcome::Committed,
            TxnOutcome::Aborted
        ]
    );
    assert_eq!(
        (
            run.committed_transactions,
            run.aborted_transactions,
            run.committed_records,
            run.aborted_records
        ),
        (2, 1, 8, 4)
    );
    assert_eq!(run.transaction_of, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    let d = run.description.as_ref().expect("describeTransactions");
    // abortTransaction returns once the coordinator wrote PrepareAbort; the markers follow.
    assert!(
        matches!(d.state.as_deref(), Some("PrepareAbort" | "CompleteAbort")),
        "{d:?}"
    );
    assert!(c.broker_ids().contains(&d.coordinator), "{d:?}");
    assert!(d.producer_id >= 0 && d.producer_epoch >= 0, "{d:?}");

    let committed = written(&run, &[TxnOutcome::Committed]);
    let everything = written(&run, &[TxnOutcome::Committed, TxnOutcome::Aborted]);
    assert_eq!(everything.len(), 12);

    let rc = java_read(&c.bootstrap(), &topic, Isolation::ReadCommitted, 8);
    assert_eq!(
        seen(&rc),
        committed,
        "read_committed must show exactly the committed transactions' records"
    );
    let ru = java_read(&c.bootstrap(), &topic, Isolation::ReadUncommitted, 12);
    assert_eq!(
        seen(&ru),
        everything,
        "read_uncommitted must show every record, aborted ones included"
    );

    // The independent judge (librdkafka) agrees.
    let rd = read_all_with(
        &c.bootstrap(),
        &topic,
        &ReadOptions {
            expected_total: Some(8),
            timeout: READ_TIMEOUT,
            isolation: Isolation::ReadCommitted,
        },
    )
    .unwrap();
    assert_eq!(seen(&rd), committed, "librdkafka read_committed");
    eprintln!(
        "TIME java_transactions_read_committed_sees_only_committed_records: {:?}",
        started.elapsed()
    );
}

#[test]
fn send_offsets_to_transaction_commits_only_committed_offsets() {
    if skip_without_kafka("send_offsets_to_transaction_commits_only_committed_offsets") {
        return;
    }
    let c = cluster();
    let _turn = shared();
    let started = Instant::now();
    let input = unique_name("txn-in");
    let output = unique_name("txn-out");
    c.create_topic(&input, 1, 3).unwrap();
    c.create_topic(&output, 1, 3).unwrap();
    let group = unique_name("txn-group");
    assert!(
        java_committed_offsets(&c.bootstrap(), &group)
            .unwrap()
            .is_empty(),
        "a group nobody committed for has no offsets"
    );

    // Transactions of 2 records, each committing "consumed up to" 2, 4, 6; the third aborted,
    // so the group's offset must stay at 4.
    let run = java_produce_transactional(
        &c.bootstrap(),
        &output,
        &JavaTxnOptions {
            transactional_id: unique_name("txn-offsets-id"),
            records: records(6),
            per_transaction: 2,
            abort_every: Some(3),
            send_offsets: Some(TxnOffsets {
                group: group.clone(),
                topic: input.clone(),
                partition: 0,
            }),
            ..JavaTxnOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (run.committed_transactions, run.aborted_transactions),
        (2, 1)
    );
    // commitTransaction returns before the commit markers are written, the one to
    // __consumer_offsets included, so the group may briefly still show the first
    // transaction's offset (2); the aborted one's (6) must never appear.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let offsets = java_committed_offsets(&c.bootstrap(), &group).unwrap();
        let got: Vec<_> = offsets.into_iter().collect();
        if got == [((input.clone(), 0), 4)] {
            break;
        }
        assert!(
            got.iter()
                .all(|(tp, o)| *tp == (input.clone(), 0) && *o == 2),
            "only offset 4 (or 2 until the markers are written) may show: {got:?}"
        );
        assert!(Instant::now() < deadline, "offset 4 not committed: {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "TIME send_offsets_to_transaction_commits_only_committed_offsets: {:?}",
        started.elapsed()
    );
}

#[test]
fn transaction_version_is_finalized_as_asked_and_reported() {
    if skip_without_kafka("transaction_version_is_finalized_as_asked_and_reported") {
        return;
    }
    let started = Instant::now();
    // Its own single-node cluster, formatted with transaction.version=1 (the start itself
    // fails unless ApiVersions then reports 1).
    let options = KafkaOptions {
        transaction_version: Some(1),
        ..KafkaOptions::default()
    };
    let v1 = KafkaCluster::start_with(1, &options).unwrap();
    eprintln!(
        "1-node cluster (transaction.version=1) started in {:?}",
        v1.startup_time()
    );
    let by_api_versions = v1.finalized_features().unwrap();
    assert_eq!(
        by_api_versions.level(TRANSACTION_VERSION),
        1,
        "{by_api_versions:?}"
    );
    let by_java = java_features(&v1.bootstrap()).unwrap();
    assert_eq!(by_java.level(TRANSACTION_VERSION), 1, "{by_java:?}");
    assert_eq!(by_java.levels, by_api_versions.levels);

    // The default (Kafka 4.4: 2), on every node of the shared cluster.
    {
        let c = cluster();
        let _turn = shared();
        for id in c.broker_ids() {
            let addr = c
                .bootstrap()
                .split(',')
                .nth((id - 1) as usize)
                .unwrap()
                .to_owned();
            let f = api_versions_features(&addr, Duration::from_secs(10)).unwrap();
            assert_eq!(f.level(TRANSACTION_VERSION), 2, "broker {id}: {f:?}");
        }
        let f = java_features(&c.bootstrap()).unwrap();
        assert_eq!(f.level(TRANSACTION_VERSION), 2, "{f:?}");
    }

    // Java's transactional producer works on the classic protocol too, on one node.
    let topic = unique_name("txn-v1");
    v1.create_topic(&topic, 2, 1).unwrap();
    let run = java_produce_transactional(
        &v1.bootstrap(),
        &topic,
        &JavaTxnOptions {
            transactional_id: unique_name("txn-v1-id"),
            records: records(6),
            per_transaction: 3,
            abort_every: Some(2),
            ..JavaTxnOptions::default()
        },
    )
    .unwrap();
    assert_eq!(run.outcomes, [TxnOutcome::Committed, TxnOutcome::Aborted]);
    let rc = java_read(&v1.bootstrap(), &topic, Isolation::ReadCommitted, 3);
    assert_eq!(seen(&rc), written(&run, &[TxnOutcome::Committed]));

    // kafka-features upgrade on the running cluster: 1 -> 2, seen by Admin and ApiVersions.
    let after = java_set_features(&v1.bootstrap(), &[(TRANSACTION_VERSION, 2)], false).unwrap();
    assert_eq!(after.level(TRANSACTION_VERSION), 2, "{after:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = v1.finalized_features().unwrap();
        if f.level(TRANSACTION_VERSION) == 2 {
            assert!(
                f.epoch > by_api_versions.epoch,
                "{f:?} vs {by_api_versions:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "ApiVersions still reports {f:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "TIME transaction_version_is_finalized_as_asked_and_reported: {:?}",
        started.elapsed()
    );
}

#[test]
fn transaction_coordinator_is_a_live_broker_and_moves_when_killed() {
    if skip_without_kafka("transaction_coordinator_is_a_live_broker_and_moves_when_killed") {
        return;
    }
    let c = cluster();
    let _turn = exclusive();
    let started = Instant::now();
    let topic = unique_name("txn-coord");
    c.create_topic(&topic, 1, 3).unwrap();
    let txn_id = unique_name("txn-coord-id");

    // An id no producer used yet: the broker that would coordinate it.
    let unknown = java_describe_transaction(&c.bootstrap(), &unique_name("never-used")).unwrap();
    assert_eq!(unknown.state, None, "{unknown:?}");
    assert!(c.broker_ids().contains(&unknown.coordinator), "{unknown:?}");

    let one = |n: usize| JavaTxnOptions {
        transactional_id: txn_id.clone(),
        records: records(n),
        per_transaction: n,
        ..JavaTxnOptions::default()
    };
    let first = java_produce_transactional(&c.bootstrap(), &topic, &one(2)).unwrap();
    let before = first.description.clone().expect("describeTransactions");
    let coordinator = java_transaction_coordinator(&c.bootstrap(), &txn_id).unwrap();
    assert_eq!(coordinator, before.coordinator);
    assert!(c.broker_ids().contains(&coordinator));
    assert!(
        c.pid(coordinator).is_some(),
        "broker {coordinator} is not running"
    );

    // Kill exactly the coordinator: another broker takes over the transaction's state.
    c.kill(coordinator).unwrap();
    struct Restart<'a>(&'a KafkaCluster, i32);
    impl Drop for Restart<'_> {
        fn drop(&mut self) {
            if let Err(e) = self.0.restart(self.1) {
                eprintln!("restarting broker {} failed: {e:#}", self.1);
            }
        }
    }
    let _restart = Restart(c, coordinator);
    let killed_at = Instant::now();
    let moved = java_describe_transaction(&c.bootstrap(), &txn_id).unwrap();
    eprintln!(
        "coordinator {coordinator} killed; {} took over in {:?}",
        moved.coordinator,
        killed_at.elapsed()
    );
    assert_ne!(moved.coordinator, coordinator, "{moved:?}");
    assert!(c.pid(moved.coordinator).is_some(), "{moved:?}");
    assert_eq!(
        moved.producer_id, before.producer_id,
        "{moved:?} vs {before:?}"
    );
    // PrepareCommit if the kill came before the markers; the new coordinator completes it.
    assert!(
        matches!(
            moved.state.as_deref(),
            Some("PrepareCommit" | "CompleteCommit")
        ),
        "{moved:?}"
    );

    // The same transactional id keeps working through the new coordinator: same producer id,
    // a newer epoch.
    let second = java_produce_transactional(&c.bootstrap(), &topic, &one(3)).unwrap();
    let after = second.description.clone().expect("describeTransactions");
    assert_eq!(after.coordinator, moved.coordinator, "{after:?}");
    assert_eq!(
        after.producer_id, before.producer_id,
        "{after:?} vs {before:?}"
    );
    assert!(
        after.producer_epoch > before.producer_epoch,
        "{after:?} vs {before:?}"
    );
    let rc = java_read(&c.bootstrap(), &topic, Isolation::ReadCommitted, 5);
    assert_eq!(rc.len(), 5);
    eprintln!(
        "TIME transaction_coordinator_is_a_live_broker_and_moves_when_killed: {:?}",
        started.elapsed()
    );
}

#[test]
fn open_transaction_holds_read_committed_back_until_the_coordinator_aborts_it() {
    if skip_without_kafka(
        "open_transaction_holds_read_committed_back_until_the_coordinator_aborts_it",
    ) {
        return;
    }
    let c = cluster();
    let _turn = shared();
    let started = Instant::now();
    let topic = unique_name("txn-open");
    c.create_topic(&topic, 1, 3).unwrap();
    let txn_id = unique_name("txn-open-id");
    // One committed transaction, then one written but never ended: the producer's JVM halts.
    let run = java_produce_transactional(
        &c.bootstrap(),
        &topic,
        &JavaTxnOptions {
            transactional_id: txn_id.clone(),
            records: records(4),
            per_transaction: 2,
            leave_last_open: true,
            properties: vec![("transaction.timeout.ms".into(), "15000".into())],
            ..JavaTxnOptions::default()
        },
    )
    .unwrap();
    assert_eq!(run.outcomes, [TxnOutcome::Committed, TxnOutcome::Open]);
    assert_eq!(run.description, None);
    let open = java_describe_transaction(&c.bootstrap(), &txn_id).unwrap();
    assert_eq!(open.state.as_deref(), Some("Ongoing"), "{open:?}");
    assert_eq!(open.partitions, [format!("{topic}-0")], "{open:?}");
    assert_eq!(open.timeout_ms, 15_000, "{open:?}");

    // read_committed stops at the last stable offset: the open transaction's records are not
    // shown (and nothing after them could be).
    let committed = written(&run, &[TxnOutcome::Committed]);
    let rc = java_read(&c.bootstrap(), &topic, Isolation::ReadCommitted, 2);
    assert_eq!(seen(&rc), committed);

    // Past transaction.timeout.ms the coordinator aborts it by itself.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let d = java_describe_transaction(&c.bootstrap(), &txn_id).unwrap();
        if d.state.as_deref() == Some("CompleteAbort") {
            assert!(d.producer_epoch > open.producer_epoch, "{d:?} vs {open:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still not aborted: {d:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let rc = java_read(&c.bootstrap(), &topic, Isolation::ReadCommitted, 2);
    assert_eq!(seen(&rc), committed);
    let ru = java_read(&c.bootstrap(), &topic, Isolation::ReadUncommitted, 4);
    assert_eq!(
        seen(&ru),
        written(&run, &[TxnOutcome::Committed, TxnOutcome::Open])
    );
    eprintln!(
        "TIME open_transaction_holds_read_committed_back_until_the_coordinator_aborts_it: {:?}",
        started.elapsed()
    );
}
