//! The network layer against a real broker: Tansu 0.6 (single node, in-memory storage), started
//! by the testkit harness (which fails, not skips, when the binary is missing).

use std::time::Duration;

use kafka_protocol::messages::MetadataRequest;
use kproducer::network::{Connection, ConnectionConfig};
use kproducer_testkit::Broker;

#[tokio::test]
async fn tansu_negotiates_api_versions_and_answers_metadata() {
    let broker = Broker::start().expect("tansu starts (run scripts/setup.sh)");
    let config = ConnectionConfig {
        client_id: "network-tansu-test".into(),
        connect_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    let conn = Connection::connect(&broker.bootstrap(), &config)
        .await
        .expect("connects");

    let versions = conn.api_versions();
    let (produce_min, produce_max) = versions.range(0).expect("Tansu announces Produce");
    assert!(
        produce_max >= 3,
        "Produce v3+ needed, Tansu announces {produce_min}..={produce_max}"
    );
    assert!(versions.highest_common(0, 3, 13).is_some());

    let metadata_version = versions
        .highest_common(3, 0, 12)
        .expect("Tansu announces Metadata");
    let metadata = tokio::time::timeout(
        Duration::from_secs(10),
        conn.request(&MetadataRequest::default(), metadata_version),
    )
    .await
    .expect("Metadata answered within 10 s")
    .expect("Metadata response");
    assert_eq!(metadata.brokers.len(), 1, "Tansu is a single node");
    assert_eq!(
        metadata.brokers[0].port,
        i32::from(broker.port()),
        "advertised listener"
    );
    assert_eq!(conn.in_flight(), 0);
    conn.close();
    assert!(conn.is_closed());
}
