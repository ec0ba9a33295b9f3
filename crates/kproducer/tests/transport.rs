//! The transport seam: a whole `Producer` reaching kproducer-mock's in-process cluster through
//! in-memory pipes (`tokio::io::duplex`), no sockets at all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kproducer::transport::{Connecting, NetworkError, ReadHalf, Transport, WriteHalf};
use kproducer::{ProducerBuilder, ProducerConfig, ProducerRecord};
use kproducer_mock::{serve_connection, ClusterConfig, MockCluster};

/// Every address the cluster advertises leads to an in-memory pipe served by that broker.
struct InMemory {
    cluster: Arc<Mutex<MockCluster>>,
    connects: Arc<Mutex<Vec<String>>>,
}

impl Transport for InMemory {
    fn connect(&self, addr: &str) -> Connecting {
        let broker = {
            let c = self.cluster.lock().expect("cluster");
            c.broker_ids().into_iter().find(|b| {
                c.advertised(*b)
                    .is_some_and(|(h, p)| format!("{h}:{p}") == addr)
            })
        };
        if let Ok(mut v) = self.connects.lock() {
            v.push(addr.to_string());
        }
        let cluster = self.cluster.clone();
        let addr = addr.to_string();
        Box::pin(async move {
            let broker = broker.ok_or_else(|| NetworkError::Io(format!("no broker at {addr}")))?;
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            tokio::spawn(serve_connection(cluster, theirs, broker));
            let (read, write) = tokio::io::split(ours);
            Ok((Box::new(read) as ReadHalf, Box::new(write) as WriteHalf))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_reaches_an_in_process_cluster_without_sockets() {
    let mut cluster = MockCluster::new(ClusterConfig {
        brokers: 3,
        ..ClusterConfig::default()
    });
    cluster.create_topic("pipes", 6).expect("topic");
    let (host, port) = cluster.advertised(1).expect("broker 1");
    let cluster = Arc::new(Mutex::new(cluster));
    let connects = Arc::new(Mutex::new(Vec::new()));
    let config = ProducerConfig::from_map([
        ("bootstrap.servers", format!("{host}:{port}")),
        ("linger.ms", "2".to_string()),
    ])
    .expect("config");
    let producer = ProducerBuilder::<String, String>::new(config)
        .transport(InMemory {
            cluster: cluster.clone(),
            connects: connects.clone(),
        })
        .build()
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..3_000 {
        deliveries.push(
            producer
                .send(
                    ProducerRecord::new("pipes", format!("value-{i}"))
                        .with_key(format!("k{}", i % 17)),
                )
                .await
                .expect("accepted"),
        );
    }
    let mut offsets = std::collections::BTreeMap::new();
    for d in deliveries {
        let md = tokio::time::timeout(Duration::from_secs(30), d)
            .await
            .expect("resolved")
            .expect("delivered");
        offsets
            .entry(md.partition)
            .or_insert_with(Vec::new)
            .push(md.offset);
    }
    producer.close(Duration::from_secs(5)).await;
    let c = cluster.lock().expect("cluster");
    let mut total = 0;
    for (p, offs) in &offsets {
        let records = c.records("pipes", *p).expect("records");
        assert_eq!(records.len(), offs.len(), "partition {p}: each record once");
        assert_eq!(
            offs,
            &records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            "partition {p}: the offsets we were told, in send order"
        );
        total += records.len();
    }
    assert_eq!(total, 3_000);
    assert!(
        offsets.len() > 1,
        "keys spread over partitions (and leaders)"
    );
    let connects = connects.lock().expect("connects");
    assert!(
        connects.len() >= 3,
        "the bootstrap pipe and one per leader: {connects:?}"
    );
}
