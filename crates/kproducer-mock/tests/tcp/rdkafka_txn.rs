//! librdkafka's transactional producer against the mock over TCP: committed, aborted and
//! committed transactions, then a read_committed consumer (assign, not subscribe) sees only the
//! committed records.
//!
//! librdkafka finds the transaction coordinator with FindCoordinator (key type 1), which names
//! the broker the transaction APIs accept (`MockCluster::coordinator`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kproducer_mock::{ClusterConfig, MockServer, TransactionState};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TOPIC: &str = "rktx";
const PARTITIONS: i32 = 2;
const TXN_ID: &str = "rk-txn";

fn transactions(bootstrap: &str) {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", TXN_ID)
        .set("transaction.timeout.ms", "60000")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    let t = Duration::from_secs(30);
    producer.init_transactions(t).unwrap();
    for (round, commit) in [("c1", true), ("ab", false), ("c2", true)] {
        producer.begin_transaction().unwrap();
        for i in 0..20 {
            let key = format!("k{i}");
            let value = format!("{round}-{i}");
            producer
                .send(BaseRecord::to(TOPIC).key(&key).payload(&value))
                .map_err(|(e, _)| e)
                .unwrap();
        }
        if commit {
            producer.commit_transaction(t).unwrap();
        } else {
            producer.flush(t).unwrap();
            producer.abort_transaction(t).unwrap();
        }
    }
}

/// Reads every partition from the beginning to its end (partition EOF) with isolation level
/// read_committed.
fn consume_committed(bootstrap: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kproducer-mock-txn-test")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    let mut eof = BTreeSet::new();
    while eof.len() < PARTITIONS as usize && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    assert_eq!(
        eof.len(),
        PARTITIONS as usize,
        "every partition read to its end"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_transactions_are_read_committed() {
    let server = MockServer::start(ClusterConfig {
        brokers: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    server
        .cluster()
        .lock()
        .unwrap()
        .create_topic(TOPIC, PARTITIONS)
        .unwrap();
    let bootstrap = server.bootstrap_servers();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || transactions(&b))
        .await
        .unwrap();

    {
        let cluster = server.cluster();
        let c = cluster.lock().unwrap();
        let info = c.transaction(TXN_ID).unwrap();
        assert_eq!(info.state, TransactionState::CompleteCommit);
        let stats = c.stats();
        eprintln!("{info:?}\n{stats:?}");
        assert_eq!(
            (stats.transactions_committed, stats.transactions_aborted),
            (2, 1),
            "{stats:?}"
        );
        let mut committed = BTreeSet::new();
        for p in 0..PARTITIONS {
            assert_eq!(
                c.last_stable_offset(TOPIC, p),
                c.high_watermark(TOPIC, p),
                "nothing open"
            );
            for r in c.committed_records(TOPIC, p).unwrap() {
                committed.insert(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
        assert_eq!(committed.len(), 40);
        assert!(committed.iter().all(|v| !v.starts_with("ab-")));
    }

    let b = bootstrap.clone();
    let consumed = tokio::task::spawn_blocking(move || consume_committed(&b))
        .await
        .unwrap();
    let got: BTreeSet<String> = consumed.iter().cloned().collect();
    assert_eq!(
        consumed.len(),
        40,
        "each committed record once: {consumed:?}"
    );
    let expected: BTreeSet<String> = ["c1", "c2"]
        .iter()
        .flat_map(|r| (0..20).map(move |i| format!("{r}-{i}")))
        .collect();
    assert_eq!(got, expected, "only the committed transactions");
    server.shutdown().await;
}
