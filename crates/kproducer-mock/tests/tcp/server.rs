use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kproducer_mock::{ClusterConfig, FaultAction, FaultRule, MockServer, Schedule};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn request<R: Request>(version: i16, correlation_id: i32, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let n = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&n.to_be_bytes());
    buf.freeze()
}

/// Reads one answer; `None` on a clean close.
async fn read_answer<S: AsyncRead + Unpin>(s: &mut S) -> Option<Bytes> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

fn decode<R: Request>(version: i16, mut b: Bytes) -> (i32, R::Response) {
    let h = ResponseHeader::decode(&mut b, R::Response::header_version(version)).unwrap();
    (
        h.correlation_id,
        R::Response::decode(&mut b, version).unwrap(),
    )
}

fn metadata() -> MetadataRequest {
    MetadataRequest::default().with_topics(None)
}

fn api_versions() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("t"))
        .with_client_software_version(StrBytes::from_static_str("1"))
}

async fn roundtrip<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, frame: &Bytes) -> Option<Bytes> {
    s.write_all(frame).await.ok()?;
    read_answer(s).await
}

#[tokio::test]
async fn brokers_listen_and_advertise_their_real_ports() {
    let server = MockServer::start(ClusterConfig {
        brokers: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let bootstrap = server.bootstrap_servers();
    assert_eq!(bootstrap.split(',').count(), 3);
    server
        .cluster()
        .lock()
        .unwrap()
        .create_topic("t", 3)
        .unwrap();
    let mut s = TcpStream::connect(server.addr(2).unwrap()).await.unwrap();
    let answer = roundtrip(&mut s, &request(12, 5, &metadata()))
        .await
        .unwrap();
    let (cid, m) = decode::<MetadataRequest>(12, answer);
    assert_eq!(cid, 5);
    for b in &m.brokers {
        let addr = server.addr(b.node_id.0).unwrap();
        assert_eq!(
            (b.host.as_str(), b.port),
            (addr.ip().to_string().as_str(), i32::from(addr.port()))
        );
    }
    assert_eq!(m.topics[0].partitions.len(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn a_delay_holds_the_answers_behind_it_in_order() {
    let server = MockServer::start(ClusterConfig::default()).await.unwrap();
    server.cluster().lock().unwrap().add_fault(
        FaultRule::new(
            FaultAction::Delay(Duration::from_millis(300)),
            Schedule::Next(1),
        )
        .api(3),
    );
    let mut s = TcpStream::connect(server.addr(1).unwrap()).await.unwrap();
    let start = Instant::now();
    let mut pipelined = BytesMut::new();
    pipelined.extend_from_slice(&request(3, 1, &api_versions()));
    pipelined.extend_from_slice(&request(12, 2, &metadata()));
    pipelined.extend_from_slice(&request(3, 3, &api_versions()));
    s.write_all(&pipelined).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut a = read_answer(&mut s).await.unwrap();
        ids.push(i32::from_be_bytes([a[0], a[1], a[2], a[3]]));
        let _ = a.split_to(4);
    }
    assert_eq!(ids, [1, 2, 3]);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn dropped_answers_and_cut_connections() {
    let server = MockServer::start(ClusterConfig::default()).await.unwrap();
    let cluster = server.cluster();
    cluster
        .lock()
        .unwrap()
        .add_fault(FaultRule::new(FaultAction::DropResponse, Schedule::Next(1)).api(3));
    let mut s = TcpStream::connect(server.addr(1).unwrap()).await.unwrap();
    s.write_all(&request(12, 1, &metadata())).await.unwrap();
    // No answer to the first; the second is answered on the same connection.
    let a = roundtrip(&mut s, &request(12, 2, &metadata()))
        .await
        .unwrap();
    assert_eq!(decode::<MetadataRequest>(12, a).0, 2);
    cluster.lock().unwrap().add_fault(FaultRule::new(
        FaultAction::CloseConnection {
            before_processing: true,
        },
        Schedule::Next(1),
    ));
    assert!(roundtrip(&mut s, &request(3, 3, &api_versions()))
        .await
        .is_none());
    // A frame over the size limit closes the connection too.
    let mut s = TcpStream::connect(server.addr(1).unwrap()).await.unwrap();
    s.write_all(&(kproducer_mock::MAX_REQUEST_BYTES as i32 + 1).to_be_bytes())
        .await
        .unwrap();
    assert!(read_answer(&mut s).await.is_none());
    assert_eq!(cluster.lock().unwrap().stats().responses_dropped, 1);
}

#[tokio::test]
async fn a_down_broker_cuts_and_refuses_connections() {
    let server = MockServer::start(ClusterConfig {
        brokers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut open = TcpStream::connect(server.addr(2).unwrap()).await.unwrap();
    assert!(roundtrip(&mut open, &request(3, 1, &api_versions()))
        .await
        .is_some());
    server.set_broker_up(2, false);
    // The open connection is closed without any request.
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), open.read(&mut byte))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    // New connections are closed at once.
    let mut s = TcpStream::connect(server.addr(2).unwrap()).await.unwrap();
    assert!(roundtrip(&mut s, &request(3, 2, &api_versions()))
        .await
        .is_none());
    // Broker 1 lists only itself.
    let mut one = TcpStream::connect(server.addr(1).unwrap()).await.unwrap();
    let (_, m) = decode::<MetadataRequest>(
        12,
        roundtrip(&mut one, &request(12, 3, &metadata()))
            .await
            .unwrap(),
    );
    assert_eq!(
        m.brokers.iter().map(|b| b.node_id.0).collect::<Vec<_>>(),
        [1]
    );
    server.set_broker_up(2, true);
    let mut s = TcpStream::connect(server.addr(2).unwrap()).await.unwrap();
    assert!(roundtrip(&mut s, &request(3, 4, &api_versions()))
        .await
        .is_some());
}

#[tokio::test]
async fn serve_connection_over_an_in_memory_duplex() {
    let server = MockServer::start(ClusterConfig::default()).await.unwrap();
    let (mut client, broker_side) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(server.serve_connection(broker_side, 1));
    let (cid, v) = decode::<ApiVersionsRequest>(
        3,
        roundtrip(&mut client, &request(3, 11, &api_versions()))
            .await
            .unwrap(),
    );
    assert_eq!((cid, v.error_code), (11, 0));
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // Without a server: the free function over a bare cluster.
    let cluster = std::sync::Arc::new(std::sync::Mutex::new(kproducer_mock::MockCluster::new(
        ClusterConfig::default(),
    )));
    let (mut client, broker_side) = tokio::io::duplex(1024);
    let task = tokio::spawn(kproducer_mock::serve_connection(
        cluster.clone(),
        broker_side,
        1,
    ));
    assert!(roundtrip(&mut client, &request(12, 1, &metadata()))
        .await
        .is_some());
    cluster.lock().unwrap().set_broker_up(1, false);
    assert!(roundtrip(&mut client, &request(12, 2, &metadata()))
        .await
        .is_none());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_closes_everything() {
    let server = MockServer::start(ClusterConfig::default()).await.unwrap();
    let addr = server.addr(1).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(roundtrip(&mut s, &request(3, 1, &api_versions()))
        .await
        .is_some());
    server.shutdown().await;
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).await.is_err());
}
