//! CreateTopics through librdkafka's admin client, then producing to the new topic with
//! librdkafka; FindCoordinator over TCP with raw requests (librdkafka's group consumer also
//! needs JoinGroup, SyncGroup, Heartbeat and OffsetFetch, which the mock does not serve).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kproducer_mock::{ClusterConfig, MockServer, TimestampType};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn three_brokers() -> MockServer {
    MockServer::start(ClusterConfig {
        brokers: 3,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_creates_a_topic_and_produces_to_it() {
    let server = three_brokers().await;
    server
        .cluster()
        .lock()
        .unwrap()
        .create_topic("existing", 1)
        .unwrap();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", server.bootstrap_servers())
        .create()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topics = [
        NewTopic::new("created", 4, TopicReplication::Fixed(3))
            .set("message.timestamp.type", "LogAppendTime"),
        NewTopic::new("existing", 1, TopicReplication::Fixed(1)),
        NewTopic::new("too-wide", 1, TopicReplication::Fixed(4)),
    ];
    let results = admin.create_topics(&topics, &opts).await.unwrap();
    assert_eq!(
        results,
        [
            Ok("created".to_string()),
            Err(("existing".to_string(), RDKafkaErrorCode::TopicAlreadyExists)),
            Err((
                "too-wide".to_string(),
                RDKafkaErrorCode::InvalidReplicationFactor
            )),
        ]
    );
    {
        let cluster = server.cluster();
        let c = cluster.lock().unwrap();
        assert_eq!(c.partition_count("created"), Some(4));
        assert_eq!(c.partition_count("too-wide"), None);
        assert_eq!(c.stats().topics_created, 1);
        assert!(c.stats().requests_of(19) >= 1);
    }
    // validate_only checks and creates nothing.
    let dry = admin
        .create_topics(
            &[NewTopic::new("dry", 2, TopicReplication::Fixed(1))],
            &AdminOptions::new()
                .operation_timeout(Some(Duration::from_secs(10)))
                .validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(dry, [Ok("dry".to_string())]);
    assert_eq!(
        server.cluster().lock().unwrap().partition_count("dry"),
        None
    );

    // librdkafka produces to the new topic: every partition, stamped by the broker.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", server.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    let n = 200;
    let mut futures = Vec::new();
    for i in 0..n {
        let value = format!("value-{i}");
        let record = FutureRecord::to("created")
            .partition(i % 4)
            .key("k")
            .payload(&value);
        futures.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for f in futures {
        f.await
            .unwrap()
            .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
    }
    let cluster = server.cluster();
    let c = cluster.lock().unwrap();
    let mut total = 0;
    for p in 0..4 {
        let records = c.records("created", p).unwrap();
        assert_eq!(records.len(), 50, "partition {p}");
        total += records.len();
        assert!(c
            .batches("created", p)
            .iter()
            .all(|b| b.timestamp_type == TimestampType::LogAppendTime));
    }
    assert_eq!(total, n as usize);
}

fn request<R: Request>(version: i16, correlation_id: i32, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("raw")))
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let n = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&n.to_be_bytes());
    buf.freeze()
}

async fn roundtrip<R: Request>(
    s: &mut TcpStream,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> R::Response {
    s.write_all(&request(version, correlation_id, body))
        .await
        .unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).await.unwrap();
    let mut answer = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut answer).await.unwrap();
    let mut b = Bytes::from(answer);
    let h = ResponseHeader::decode(&mut b, R::Response::header_version(version)).unwrap();
    assert_eq!(h.correlation_id, correlation_id);
    let r = R::Response::decode(&mut b, version).unwrap();
    assert!(b.is_empty());
    r
}

#[tokio::test]
async fn find_coordinator_answers_with_the_listener_addresses() {
    let server = three_brokers().await;
    let addr_of = |id: i32| {
        let a = server.addr(id).unwrap();
        (id, a.ip().to_string(), i32::from(a.port()))
    };
    let expected = |key: &str, key_type: i8| {
        let id = server
            .cluster()
            .lock()
            .unwrap()
            .coordinator(key_type, key)
            .unwrap();
        addr_of(id)
    };
    let mut s = TcpStream::connect(server.addr(1).unwrap()).await.unwrap();
    // v3: one key.
    let r: FindCoordinatorResponse = roundtrip(
        &mut s,
        3,
        1,
        &FindCoordinatorRequest::default()
            .with_key(StrBytes::from_static_str("orders-group"))
            .with_key_type(0),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        (r.node_id.0, r.host.to_string(), r.port),
        expected("orders-group", 0)
    );
    assert_eq!(r.node_id.0, 3);
    // v6: a batch of transactional ids.
    let keys = ["txn-1", "g", "a"];
    let r: FindCoordinatorResponse = roundtrip(
        &mut s,
        6,
        2,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(keys.iter().map(|k| StrBytes::from_static_str(k)).collect()),
    )
    .await;
    let got: Vec<(i32, String, i32)> = r
        .coordinators
        .iter()
        .map(|c| {
            assert_eq!(c.error_code, 0);
            (c.node_id.0, c.host.to_string(), c.port)
        })
        .collect();
    assert_eq!(got, keys.iter().map(|k| expected(k, 1)).collect::<Vec<_>>());
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [2, 1, 3],
        "spread over the brokers"
    );
    // Its coordinator down, a key moves to the next broker up.
    server.set_broker_up(3, false);
    let r: FindCoordinatorResponse = roundtrip(
        &mut s,
        4,
        3,
        &FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![StrBytes::from_static_str("orders-group")]),
    )
    .await;
    assert_eq!(
        (
            r.coordinators[0].error_code,
            r.coordinators[0].node_id.0,
            r.coordinators[0].port
        ),
        (0, 1, addr_of(1).2)
    );
    server.shutdown().await;
}
