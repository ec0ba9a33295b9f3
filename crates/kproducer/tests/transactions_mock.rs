//! Transactions against the in-process cluster (kproducer-mock, which enforces Kafka 4.x's
//! coordinator rules) on a real socket, with transaction protocol v2 (Kafka 4.x's default) and
//! v1: what read_committed sees, fencing, offsets, misuse.

use std::collections::HashMap;
use std::time::Duration;

use kproducer::txn::{
    ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TransactionErrorKind,
    TransactionState,
};
use kproducer::{ProduceError, Producer, ProducerConfig, ProducerRecord, SendError};
use kproducer_mock::ClusterConfig;
use kproducer_mock::TransactionState as CoordState;
use kproducer_testkit::{unique_name, Broker};

fn config(bootstrap: &str, txn_id: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), bootstrap.into()),
        ("transactional.id".into(), txn_id.into()),
        ("max.block.ms".into(), "10000".into()),
    ];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

fn broker(tv: i16, partitions: i32) -> Broker {
    let cfg = ClusterConfig {
        transaction_version: tv,
        default_partitions: partitions,
        ..ClusterConfig::default()
    };
    Broker::start_with(cfg, None).expect("broker starts")
}

fn committed_values(broker: &Broker, topic: &str, partitions: i32) -> Vec<String> {
    let cluster = broker.cluster();
    let c = cluster.lock().unwrap();
    let mut out = Vec::new();
    for p in 0..partitions {
        for r in c.committed_records(topic, p).unwrap_or_default() {
            out.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }
    out.sort();
    out
}

async fn send_all(
    p: &Producer<String, String>,
    topic: &str,
    prefix: &str,
    n: usize,
) -> Vec<kproducer::DeliveryFuture> {
    let mut futures = Vec::new();
    for i in 0..n {
        let rec =
            ProducerRecord::new(topic, format!("{prefix}-{i:04}")).with_key(format!("k{}", i % 7));
        futures.push(p.send(rec).await.expect("send accepted"));
    }
    futures
}

/// Committed transactions are visible to read_committed, aborted ones never, under both
/// transaction protocols; v2 bumps the epoch at every end, v1 keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_abort_under_both_protocols() {
    for tv in [2i16, 1] {
        let broker = broker(tv, 3);
        let topic = unique_name("txn");
        let txn_id = unique_name("tid");
        let p: Producer<String, String> =
            Producer::new(config(&broker.bootstrap(), &txn_id, &[("linger.ms", "5")])).unwrap();
        assert_eq!(p.transaction_state(), Some(TransactionState::Uninitialized));
        p.init_transactions().await.expect("init");
        let first = p.producer_id_and_epoch().expect("pid");
        for round in 0..4 {
            p.begin_transaction().unwrap();
            let commit = round % 2 == 0;
            let prefix = if commit { "commit" } else { "abort" };
            let futures = send_all(&p, &topic, &format!("{prefix}{round}"), 50).await;
            if commit {
                p.commit_transaction().await.expect("commit");
                for f in futures {
                    f.await.expect("a committed record was delivered");
                }
            } else {
                p.abort_transaction().await.expect("abort");
            }
            assert_eq!(p.transaction_state(), Some(TransactionState::Ready));
        }
        let values = committed_values(&broker, &topic, 3);
        assert_eq!(
            values.len(),
            100,
            "tv{tv}: two committed transactions of 50"
        );
        assert!(
            values.iter().all(|v| v.starts_with("commit")),
            "tv{tv}: {values:?}"
        );
        let info = broker
            .cluster()
            .lock()
            .unwrap()
            .transaction(&txn_id)
            .expect("coordinator knows the id");
        let last = p.producer_id_and_epoch().unwrap();
        assert_eq!(info.producer_epoch, last.epoch);
        if tv >= 2 {
            assert!(
                last.epoch >= first.epoch + 4,
                "tv2 bumps per transaction: {first:?} → {last:?}"
            );
        } else {
            assert_eq!(last, first, "tv1 keeps the epoch");
        }
        p.close(Duration::from_secs(5)).await;
    }
}

/// The API's order is enforced with errors naming the state, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misuse_is_refused_naming_the_state() {
    let broker = broker(2, 1);
    let topic = unique_name("txn");
    let p: Producer<String, String> =
        Producer::new(config(&broker.bootstrap(), &unique_name("tid"), &[])).unwrap();
    // Before init_transactions.
    let e = p.begin_transaction().unwrap_err();
    assert_eq!(e.kind(), TransactionErrorKind::InvalidState);
    assert!(e.to_string().contains("UNINITIALIZED"), "{e}");
    match p
        .send(ProducerRecord::new(&topic, "v".to_string()).with_key("k".to_string()))
        .await
    {
        Err(SendError::Transaction(e)) => assert!(e.to_string().contains("send"), "{e}"),
        other => panic!("send before init: {other:?}"),
    }
    p.init_transactions().await.unwrap();
    // Outside a transaction.
    let e = p.commit_transaction().await.unwrap_err();
    assert!(
        e.to_string().contains("commitTransaction") && e.to_string().contains("READY"),
        "{e}"
    );
    let e = p.abort_transaction().await.unwrap_err();
    assert_eq!(e.kind(), TransactionErrorKind::InvalidState, "{e}");
    match p
        .send(ProducerRecord::new(&topic, "v".to_string()).with_key("k".to_string()))
        .await
    {
        Err(SendError::Transaction(e)) => assert!(e.to_string().contains("READY"), "{e}"),
        other => panic!("send outside a transaction: {other:?}"),
    }
    p.begin_transaction().unwrap();
    let e = p.begin_transaction().unwrap_err();
    assert!(e.to_string().contains("IN_TRANSACTION"), "{e}");
    let e = p.init_transactions().await.unwrap_err();
    assert_eq!(e.kind(), TransactionErrorKind::InvalidState, "{e}");
    // An empty transaction commits without EndTxn.
    p.commit_transaction().await.unwrap();
    // A producer without transactional.id.
    let plain: Producer<String, String> = Producer::new(
        ProducerConfig::from_map([("bootstrap.servers", broker.bootstrap().as_str())]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        plain.init_transactions().await.unwrap_err(),
        TransactionError::NotTransactional
    );
    p.close(Duration::from_secs(5)).await;
    plain.close(Duration::from_secs(5)).await;
}

/// Two producers with one transactional.id: the newer fences the older, whose open
/// transaction is aborted; every later call of the older fails fast with the fenced error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_is_fenced() {
    for tv in [2i16, 1] {
        let broker = broker(tv, 2);
        let topic = unique_name("txn");
        let txn_id = unique_name("tid");
        let old: Producer<String, String> =
            Producer::new(config(&broker.bootstrap(), &txn_id, &[])).unwrap();
        old.init_transactions().await.unwrap();
        old.begin_transaction().unwrap();
        send_all(&old, &topic, "commit-zombie", 20).await;
        let new: Producer<String, String> =
            Producer::new(config(&broker.bootstrap(), &txn_id, &[])).unwrap();
        new.init_transactions()
            .await
            .expect("the new instance takes over");
        new.begin_transaction().unwrap();
        send_all(&new, &topic, "commit-new", 10).await;
        new.commit_transaction().await.unwrap();

        // The zombie's commit fails as fenced (or, in v2, its epoch is refused).
        let started = std::time::Instant::now();
        let e = old.commit_transaction().await.unwrap_err();
        // Its records written after the fence fail (INVALID_PRODUCER_EPOCH: abortable, KIP-588);
        // the abort then meets the fence. Either way it ends fenced, as Java's does.
        let e = if e.is_abortable() {
            old.abort_transaction().await.unwrap_err()
        } else {
            e
        };
        assert!(e.is_fatal(), "tv{tv}: {e}");
        assert!(
            e.to_string().contains("Fenced")
                || e.to_string().contains("FENCED")
                || e.to_string().contains("EPOCH"),
            "tv{tv}: {e}"
        );
        let e2 = old.begin_transaction().unwrap_err();
        assert!(e2.is_fatal(), "tv{tv}: later calls fail too: {e2}");
        assert!(started.elapsed() < Duration::from_secs(5), "fast");
        let values = committed_values(&broker, &topic, 2);
        assert_eq!(
            values.len(),
            10,
            "tv{tv}: only the new instance's records: {values:?}"
        );
        assert!(values.iter().all(|v| v.starts_with("commit-new")));
        old.close(Duration::from_secs(1)).await;
        new.close(Duration::from_secs(5)).await;
    }
}

/// Offsets sent with a transaction are the group's only if it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_with_the_transaction() {
    for tv in [2i16, 1] {
        let broker = broker(tv, 1);
        broker.create_topic("input", 1).unwrap();
        let topic = unique_name("out");
        let group = ConsumerGroupMetadata::new("g1");
        let p: Producer<String, String> =
            Producer::new(config(&broker.bootstrap(), &unique_name("tid"), &[])).unwrap();
        p.init_transactions().await.unwrap();
        for (offset, commit) in [(10i64, true), (20, false), (30, true)] {
            p.begin_transaction().unwrap();
            send_all(&p, &topic, if commit { "commit" } else { "abort" }, 3).await;
            let mut offsets = HashMap::new();
            offsets.insert(("input".to_string(), 0), OffsetAndMetadata::new(offset));
            p.send_offsets_to_transaction(offsets, &group)
                .await
                .unwrap();
            if commit {
                p.commit_transaction().await.unwrap();
            } else {
                p.abort_transaction().await.unwrap();
            }
            let committed = broker
                .cluster()
                .lock()
                .unwrap()
                .committed_offset("g1", "input", 0);
            let expected = if offset == 20 { Some(10) } else { Some(offset) };
            assert_eq!(committed, expected, "tv{tv} after offset {offset}");
        }
        let info = broker
            .cluster()
            .lock()
            .unwrap()
            .transaction(p.config().transactional_id().unwrap())
            .unwrap();
        assert_eq!(info.state, CoordState::CompleteCommit);
        p.close(Duration::from_secs(5)).await;
    }
}

/// Records not yet sent when the transaction aborts fail with TransactionAborted; the
/// producer goes on with the next transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_fails_unsent_records() {
    let broker = broker(2, 1);
    let topic = unique_name("txn");
    // A long linger keeps the records in the accumulator until the abort.
    let p: Producer<String, String> = Producer::new(config(
        &broker.bootstrap(),
        &unique_name("tid"),
        &[("linger.ms", "60000"), ("batch.size", "1000000")],
    ))
    .unwrap();
    p.init_transactions().await.unwrap();
    p.begin_transaction().unwrap();
    let f = p
        .send(ProducerRecord::new(&topic, "never".to_string()).with_key("k".to_string()))
        .await
        .unwrap();
    p.abort_transaction().await.unwrap();
    match f.await {
        Err(ProduceError::TransactionAborted { .. }) => {}
        other => panic!("expected TransactionAborted, got {other:?}"),
    }
    p.begin_transaction().unwrap();
    send_all(&p, &topic, "commit", 5).await;
    p.commit_transaction().await.unwrap();
    assert_eq!(committed_values(&broker, &topic, 1).len(), 5);
    p.close(Duration::from_secs(5)).await;
}

/// Coordinator and partition errors injected at every step of a transaction (FindCoordinator,
/// InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, Produce), and
/// lost answers and cut connections on the transactional requests: every transaction still
/// commits (or aborts) exactly, read_committed shows each committed record once, under both
/// protocols. Seeded faults (`Schedule::Rate`), so a run is repeatable per seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_errors_at_every_step_are_retried() {
    use kproducer_mock::{codes, FaultAction, FaultRule, Schedule};
    for tv in [2i16, 1] {
        let cfg = ClusterConfig {
            transaction_version: tv,
            default_partitions: 3,
            seed: 7 + tv as u64,
            ..ClusterConfig::default()
        };
        let broker = Broker::start_with(cfg, None).expect("broker starts");
        let topic = unique_name("txn-faults");
        broker.create_topic("input", 1).unwrap();
        {
            let cluster = broker.cluster();
            let mut c = cluster.lock().unwrap();
            let rate =
                |action, api: i16, p: f64| FaultRule::new(action, Schedule::Rate(p)).api(api);
            c.add_fault(
                FaultRule::new(
                    FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
                    Schedule::Next(2),
                )
                .api(10),
            );
            c.add_fault(FaultRule::new(FaultAction::Error(14), Schedule::Next(2)).api(22));
            c.add_fault(rate(FaultAction::Error(codes::NOT_COORDINATOR), 22, 0.2));
            c.add_fault(rate(
                FaultAction::Error(codes::CONCURRENT_TRANSACTIONS),
                24,
                0.3,
            ));
            c.add_fault(rate(FaultAction::Error(codes::NOT_COORDINATOR), 24, 0.1));
            c.add_fault(rate(
                FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
                25,
                0.2,
            ));
            c.add_fault(rate(FaultAction::Error(14), 28, 0.2));
            c.add_fault(rate(FaultAction::Error(codes::NOT_COORDINATOR), 26, 0.2));
            c.add_fault(rate(
                FaultAction::Error(codes::CONCURRENT_TRANSACTIONS),
                26,
                0.2,
            ));
            c.add_fault(rate(
                FaultAction::CloseConnection {
                    before_processing: false,
                },
                26,
                0.1,
            ));
            c.add_fault(rate(
                FaultAction::CloseConnection {
                    before_processing: true,
                },
                24,
                0.05,
            ));
            c.add_fault(rate(
                FaultAction::Error(codes::NOT_LEADER_OR_FOLLOWER),
                0,
                0.05,
            ));
        }
        let p: Producer<String, String> = Producer::new(config(
            &broker.bootstrap(),
            &unique_name("tid"),
            &[
                ("linger.ms", "2"),
                ("retry.backoff.ms", "10"),
                ("request.timeout.ms", "2000"),
            ],
        ))
        .unwrap();
        p.init_transactions()
            .await
            .expect("init despite coordinator errors");
        let group = ConsumerGroupMetadata::new("g-faults");
        let mut expected = 0;
        for round in 0..30 {
            p.begin_transaction().unwrap();
            let commit = round % 4 != 3;
            let prefix = if commit { "commit" } else { "abort" };
            let futures = send_all(&p, &topic, &format!("{prefix}{round:02}"), 40).await;
            let mut offsets = HashMap::new();
            offsets.insert(("input".to_string(), 0), OffsetAndMetadata::new(round + 1));
            p.send_offsets_to_transaction(offsets, &group)
                .await
                .unwrap_or_else(|e| panic!("tv{tv} round {round}: offsets: {e}"));
            if commit {
                p.commit_transaction()
                    .await
                    .unwrap_or_else(|e| panic!("tv{tv} round {round}: commit: {e}"));
                for f in futures {
                    f.await.expect("committed record delivered");
                }
                expected += 40;
            } else {
                p.abort_transaction()
                    .await
                    .unwrap_or_else(|e| panic!("tv{tv} round {round}: abort: {e}"));
            }
        }
        let values = committed_values(&broker, &topic, 3);
        assert_eq!(values.len(), expected, "tv{tv}");
        let mut dedup = values.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), values.len(), "tv{tv}: no duplicate");
        assert!(values.iter().all(|v| v.starts_with("commit")), "tv{tv}");
        let (committed, stats) = {
            let c = broker.cluster();
            let c = c.lock().unwrap();
            (c.committed_offset("g-faults", "input", 0), c.stats())
        };
        assert_eq!(committed, Some(30), "tv{tv}");
        assert!(stats.transactions_committed >= 22, "tv{tv}: {stats:?}");
        assert!(
            stats.faults_fired >= 20,
            "tv{tv}: the faults fired: {stats:?}"
        );
        // EndTxn (26) was asked more often than transactions ended: retries happened.
        let end_txn = stats.requests.get(&26).copied().unwrap_or(0);
        assert!(end_txn > 30, "tv{tv}: EndTxn retried ({end_txn} requests)");
        p.close(Duration::from_secs(5)).await;
    }
}

/// Closing a producer with an open transaction aborts it (Java's Sender does), so
/// read_committed consumers are not held back until `transaction.timeout.ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_aborts_an_open_transaction() {
    for tv in [2i16, 1] {
        let broker = broker(tv, 2);
        let topic = unique_name("txn-close");
        let txn_id = unique_name("tid");
        let p: Producer<String, String> =
            Producer::new(config(&broker.bootstrap(), &txn_id, &[])).unwrap();
        p.init_transactions().await.unwrap();
        p.begin_transaction().unwrap();
        let futures = send_all(&p, &topic, "open", 20).await;
        for f in futures {
            f.await.expect("written");
        }
        let before = broker
            .cluster()
            .lock()
            .unwrap()
            .transaction(&txn_id)
            .unwrap();
        assert_eq!(before.state, CoordState::Ongoing, "tv{tv}");
        p.close(Duration::from_secs(10)).await;
        let after = broker
            .cluster()
            .lock()
            .unwrap()
            .transaction(&txn_id)
            .unwrap();
        assert_eq!(
            after.state,
            CoordState::CompleteAbort,
            "tv{tv}: aborted at close"
        );
        assert!(committed_values(&broker, &topic, 2).is_empty());
        let lso = broker
            .cluster()
            .lock()
            .unwrap()
            .last_stable_offset(&topic, 0);
        let hw = broker.cluster().lock().unwrap().high_watermark(&topic, 0);
        assert_eq!(lso, hw, "tv{tv}: nothing holds read_committed back");
    }
}
