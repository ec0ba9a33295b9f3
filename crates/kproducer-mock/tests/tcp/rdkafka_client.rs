//! librdkafka (rdkafka 0.39 = librdkafka 2.12) against the mock over TCP: an idempotent
//! producer writes, a consumer (assign, not subscribe) reads back, and the stored records are
//! checked through `MockCluster::records` too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kproducer_mock::{codes, ClusterConfig, FaultAction, FaultRule, MockServer, Schedule};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TOPIC: &str = "rk";
const PARTITIONS: i32 = 3;

async fn produce(
    server: &MockServer,
    n: usize,
    extra: &[(&str, &str)],
) -> BTreeMap<i32, Vec<String>> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", server.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "5")
        .set("batch.num.messages", "50")
        .set("message.timeout.ms", "60000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let producer: FutureProducer = cfg.create().unwrap();
    let mut futures = Vec::new();
    for i in 0..n {
        let key = format!("key-{}", i % 17);
        let value = format!("value-{i}");
        let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
        futures.push((
            value.clone(),
            producer.send_result(record).map_err(|(e, _)| e).unwrap(),
        ));
    }
    let mut acked: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for (value, f) in futures {
        let d = f
            .await
            .unwrap()
            .unwrap_or_else(|(e, _)| panic!("delivery of {value} failed: {e}"));
        acked
            .entry(d.partition)
            .or_default()
            .push((d.offset, value));
    }
    acked
        .into_iter()
        .map(|(p, mut v)| {
            v.sort();
            (p, v.into_iter().map(|(_, s)| s).collect())
        })
        .collect()
}

/// Checks the log of every partition: the acknowledged values at their offsets, nothing twice,
/// one producer id, sequences 0.. without a gap.
fn check_log(server: &MockServer, acked: &BTreeMap<i32, Vec<String>>, n: usize) {
    let cluster = server.cluster();
    let c = cluster.lock().unwrap();
    let mut all = BTreeSet::new();
    let mut total = 0;
    for p in 0..PARTITIONS {
        let recs = c.records(TOPIC, p).unwrap();
        let values: Vec<String> = recs
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            Some(&values),
            acked.get(&p).or(Some(&Vec::new())),
            "partition {p}: log = acknowledged values in offset order"
        );
        let seqs: Vec<i32> = recs.iter().map(|r| r.sequence).collect();
        assert_eq!(
            seqs,
            (0..recs.len() as i32).collect::<Vec<_>>(),
            "partition {p}: sequences"
        );
        assert!(recs
            .iter()
            .all(|r| r.producer_id >= 0 && r.producer_id == recs[0].producer_id));
        assert!(c
            .batches(TOPIC, p)
            .iter()
            .all(|b| b.compression == kproducer_mock::Compression::Zstd));
        total += values.len();
        all.extend(values);
    }
    assert_eq!((total, all.len()), (n, n), "every record once");
}

fn consume(bootstrap: String, n: usize) -> Vec<(i32, i64, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kproducer-mock-test")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
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
    while out.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push((
                m.partition(),
                m.offset(),
                String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            )),
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_produces_idempotently_and_reads_back() {
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
    let n = 3000;
    let acked = produce(&server, n, &[]).await;
    assert_eq!(
        acked.len(),
        PARTITIONS as usize,
        "keys spread over every partition"
    );
    check_log(&server, &acked, n);

    let bootstrap = server.bootstrap_servers();
    let consumed = tokio::task::spawn_blocking(move || consume(bootstrap, n))
        .await
        .unwrap();
    assert_eq!(consumed.len(), n);
    for p in 0..PARTITIONS {
        let got: Vec<String> = consumed
            .iter()
            .filter(|c| c.0 == p)
            .map(|c| c.2.clone())
            .collect();
        assert_eq!(
            Some(&got),
            acked.get(&p),
            "partition {p} read back in order"
        );
        let offsets: Vec<i64> = consumed.iter().filter(|c| c.0 == p).map(|c| c.1).collect();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }
    let stats = server.cluster().lock().unwrap().stats();
    assert_eq!(stats.duplicates, 0);
    assert!(
        stats.requests_of(1) > 0 && stats.requests_of(2) > 0,
        "Fetch and ListOffsets used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_and_errors_do_not_duplicate_or_reorder() {
    let server = MockServer::start(ClusterConfig {
        brokers: 3,
        seed: 11,
        ..Default::default()
    })
    .await
    .unwrap();
    let (drop_id, error_id) = {
        let cluster = server.cluster();
        let mut c = cluster.lock().unwrap();
        c.create_topic(TOPIC, PARTITIONS).unwrap();
        // Answers lost after the append: the retry must be recognised as a duplicate.
        let drop_id =
            c.add_fault(FaultRule::new(FaultAction::DropResponse, Schedule::Next(3)).api(0));
        // Retriable errors before the append.
        let error_id = c.add_fault(
            FaultRule::new(
                FaultAction::Error(codes::NOT_ENOUGH_REPLICAS),
                Schedule::Rate(0.1),
            )
            .api(0),
        );
        (drop_id, error_id)
    };
    let n = 2000;
    // librdkafka times a Produce out after `socket.timeout.ms` (request.timeout.ms is only the
    // broker-side timeout it sends).
    let acked = produce(
        &server,
        n,
        &[("socket.timeout.ms", "1000"), ("retry.backoff.ms", "20")],
    )
    .await;
    check_log(&server, &acked, n);
    let cluster = server.cluster();
    let mut c = cluster.lock().unwrap();
    let stats = c.stats();
    assert!(stats.produce_errors_of(codes::NOT_ENOUGH_REPLICAS) > 0);
    assert_eq!(stats.responses_dropped, 3, "{stats:?}");
    assert!(
        stats.duplicates >= 1,
        "a retry after a lost answer is a duplicate: {stats:?}"
    );
    assert!(c.faults().is_spent(drop_id));
    assert!(c.faults().hits(error_id) > 0);
}
