//! Connection tests against an in-process fake broker on 127.0.0.1:0.
//!
//! The fake broker is driven step by step by each test (read a request, answer, close), so
//! the order of events is fixed by the test, not by timing. Every test is bounded by
//! `bounded` so a bug shows up as a failure, not a hang.

use std::future::Future;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Connection, ConnectionConfig, NetworkError};

const METADATA_VERSION: i16 = 12;

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("test step did not finish within 10 s")
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        client_id: "test-client".into(),
        connect_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    }
}

/// The ranges the fake broker announces: Produce 3..=11, Metadata 0..=12, ApiVersions 0..=3.
fn broker_api_keys() -> Vec<ApiVersion> {
    [(0, 3, 11), (3, 0, 12), (18, 0, 3)]
        .into_iter()
        .map(|(k, min, max)| {
            ApiVersion::default()
                .with_api_key(k)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

struct FakeBroker {
    listener: TcpListener,
    addr: String,
}

impl FakeBroker {
    async fn bind() -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        FakeBroker { listener, addr }
    }

    async fn accept(&self) -> BrokerConn {
        let (stream, _) = self.listener.accept().await.unwrap();
        BrokerConn {
            stream,
            buf: BytesMut::new(),
        }
    }
}

struct BrokerConn {
    stream: TcpStream,
    buf: BytesMut,
}

struct Received {
    header: RequestHeader,
    body: Bytes,
}

impl BrokerConn {
    /// Reads one request frame; `None` on EOF.
    async fn read_request(&mut self) -> Option<Received> {
        loop {
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= 4 + size {
                    let _ = self.buf.split_to(4);
                    let mut body = self.buf.split_to(size).freeze();
                    let header = decode_request_header_from_buffer(&mut body).unwrap();
                    return Some(Received { header, body });
                }
            }
            if self.stream.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Writes a response frame with `correlation_id` and the given encoded body.
    async fn respond_raw(&mut self, correlation_id: i32, header_version: i16, body: &[u8]) {
        let mut header = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut header, header_version)
            .unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32((header.len() + body.len()) as i32);
        frame.extend_from_slice(&header);
        frame.extend_from_slice(body);
        self.write_raw(&frame).await;
    }

    async fn respond<T: Encodable + HeaderVersion>(&mut self, req: &RequestHeader, body: &T) {
        let version = req.request_api_version;
        let mut encoded = BytesMut::new();
        body.encode(&mut encoded, version).unwrap();
        self.respond_raw(req.correlation_id, T::header_version(version), &encoded)
            .await;
    }

    /// Reads an ApiVersions request and answers it successfully at its version.
    async fn answer_api_versions(&mut self) -> Received {
        let req = self.read_request().await.expect("ApiVersions request");
        assert_eq!(req.header.request_api_key, 18);
        let response = ApiVersionsResponse::default().with_api_keys(broker_api_keys());
        self.respond(&req.header, &response).await;
        req
    }

    /// Reads a Metadata request and answers it with `throttle_time_ms = tag`, so tests can
    /// tell responses apart.
    async fn answer_metadata(&mut self, tag: i32) -> Received {
        let req = self.read_request().await.expect("Metadata request");
        assert_eq!(req.header.request_api_key, 3);
        self.respond(&req.header, &metadata_response(tag)).await;
        req
    }
}

fn metadata_response(tag: i32) -> MetadataResponse {
    MetadataResponse::default().with_throttle_time_ms(tag)
}

/// Connects while the fake broker answers ApiVersions; returns both ends.
async fn connected(config: &ConnectionConfig) -> (Connection, BrokerConn) {
    let broker = FakeBroker::bind().await;
    let (conn, server) = tokio::join!(Connection::connect(&broker.addr, config), async {
        let mut server = broker.accept().await;
        server.answer_api_versions().await;
        server
    });
    (conn.unwrap(), server)
}

#[tokio::test]
async fn negotiates_api_versions_v3_with_client_software() {
    bounded(async {
        let broker = FakeBroker::bind().await;
        let cfg = config();
        let (conn, req) = tokio::join!(Connection::connect(&broker.addr, &cfg), async {
            let mut server = broker.accept().await;
            let req = server.answer_api_versions().await;
            (server, req)
        });
        let conn = conn.unwrap();
        let (_server, req) = req;
        assert_eq!(req.header.request_api_version, 3);
        assert_eq!(req.header.client_id.as_deref(), Some("test-client"));
        let mut body = req.body;
        let decoded = ApiVersionsRequest::decode(&mut body, 3).unwrap();
        assert_eq!(&*decoded.client_software_name, "kproducer");
        assert_eq!(&*decoded.client_software_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(conn.api_versions().range(0), Some((3, 11)));
        assert_eq!(conn.api_versions().range(3), Some((0, 12)));
        assert_eq!(conn.addr(), broker.addr);
        assert_eq!(conn.in_flight(), 0);
        assert!(!conn.is_closed());
    })
    .await;
}

/// Runs a connect where the broker answers the first (v3) ApiVersions request with
/// `first_answer` (a raw body after the v0 header), then answers the retry properly. Returns
/// the connection and the retry's version.
async fn connect_with_first_answer(first_answer: &[u8]) -> (Connection, i16) {
    let broker = FakeBroker::bind().await;
    let cfg = config();
    let (conn, retry_version) = tokio::join!(Connection::connect(&broker.addr, &cfg), async {
        let mut server = broker.accept().await;
        let first = server.read_request().await.unwrap();
        assert_eq!(first.header.request_api_version, 3);
        server
            .respond_raw(first.header.correlation_id, 0, first_answer)
            .await;
        // Same connection: the retry must come on it.
        let retry = server.answer_api_versions().await;
        (server, retry.header.request_api_version)
    });
    (conn.unwrap(), retry_version.1)
}

#[tokio::test]
async fn unsupported_version_answer_retries_at_the_brokers_highest() {
    bounded(async {
        // What Apache Kafka sends for a too-new ApiVersions: v0 format, error 35, its range.
        let mut body = BytesMut::new();
        ApiVersionsResponse::default()
            .with_error_code(35)
            .with_api_keys(vec![ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(2)])
            .encode(&mut body, 0)
            .unwrap();
        let (conn, retry_version) = connect_with_first_answer(&body).await;
        assert_eq!(retry_version, 2);
        assert_eq!(conn.api_versions().range(0), Some((3, 11)));
    })
    .await;
}

#[tokio::test]
async fn unsupported_version_without_range_retries_at_v0() {
    bounded(async {
        let (conn, retry_version) = connect_with_first_answer(&[0, 35, 0, 0, 0, 0]).await;
        assert_eq!(retry_version, 0);
        assert_eq!(conn.api_versions().range(3), Some((0, 12)));
    })
    .await;
}

#[tokio::test]
async fn garbage_answer_retries_at_v0() {
    bounded(async {
        let (conn, retry_version) = connect_with_first_answer(&[0xff, 0x13, 0x80]).await;
        assert_eq!(retry_version, 0);
        assert_eq!(conn.api_versions().range(0), Some((3, 11)));
    })
    .await;
}

#[tokio::test]
async fn librdkafka_mock_style_answer_retries_at_v0() {
    bounded(async {
        // librdkafka's mock: error 35, an i8 count of 1, then (18, 0, 2) and a throttle time.
        let body = [0, 35, 1, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0];
        let (conn, retry_version) = connect_with_first_answer(&body).await;
        assert_eq!(retry_version, 0);
        assert!(!conn.api_versions().is_empty());
    })
    .await;
}

#[tokio::test]
async fn broker_dropping_the_v3_request_gets_a_v0_retry_on_a_new_connection() {
    bounded(async {
        let broker = FakeBroker::bind().await;
        let cfg = config();
        let (conn, retry) = tokio::join!(Connection::connect(&broker.addr, &cfg), async {
            let mut first = broker.accept().await;
            let req = first.read_request().await.unwrap();
            assert_eq!(req.header.request_api_version, 3);
            drop(first);
            let mut second = broker.accept().await;
            let retry = second.answer_api_versions().await;
            (second, retry.header.request_api_version)
        });
        let conn = conn.unwrap();
        assert_eq!(retry.1, 0);
        assert_eq!(conn.api_versions().range(18), Some((0, 3)));
    })
    .await;
}

#[tokio::test]
async fn second_failure_is_reported() {
    bounded(async {
        let broker = FakeBroker::bind().await;
        let cfg = config();
        let (conn, _server) = tokio::join!(Connection::connect(&broker.addr, &cfg), async {
            let mut server = broker.accept().await;
            for _ in 0..2 {
                let req = server.read_request().await.unwrap();
                server
                    .respond_raw(req.header.correlation_id, 0, &[0, 35, 0, 0, 0, 0])
                    .await;
            }
            server
        });
        match conn {
            Err(NetworkError::UnsupportedVersion { api_key: 18, .. }) => {}
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn pipelines_fifty_requests_and_resolves_them_in_order() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let pending: Vec<_> = (0..50)
            .map(|_| {
                conn.send(&MetadataRequest::default(), METADATA_VERSION)
                    .unwrap()
            })
            .collect();
        assert_eq!(conn.in_flight(), 50);
        // All 50 reach the broker before it answers any: they were pipelined.
        let mut requests = Vec::new();
        for _ in 0..50 {
            requests.push(server.read_request().await.unwrap());
        }
        let ids: Vec<i32> = requests.iter().map(|r| r.header.correlation_id).collect();
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "ids in call order: {ids:?}"
        );
        for (i, req) in requests.iter().enumerate() {
            assert_eq!(req.header.request_api_version, METADATA_VERSION);
            server
                .respond(&req.header, &metadata_response(i as i32))
                .await;
        }
        for (i, p) in pending.into_iter().enumerate() {
            assert_eq!(p.await.unwrap().throttle_time_ms, i as i32);
        }
        assert_eq!(conn.in_flight(), 0);
    })
    .await;
}

#[tokio::test]
async fn dropped_pending_responses_are_read_and_discarded() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let mut kept = Vec::new();
        for i in 0..10 {
            let p = conn
                .send(&MetadataRequest::default(), METADATA_VERSION)
                .unwrap();
            if i % 2 == 0 {
                kept.push((i, p));
            } // odd ones dropped before their response arrives
        }
        for i in 0..10 {
            server.answer_metadata(i).await;
        }
        for (i, p) in kept {
            assert_eq!(p.await.unwrap().throttle_time_ms, i);
        }
        // The connection is still in sync: a later request gets its own response.
        let later = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        server.answer_metadata(99).await;
        assert_eq!(later.await.unwrap().throttle_time_ms, 99);
        assert_eq!(conn.in_flight(), 0);
        assert!(!conn.is_closed());
    })
    .await;
}

#[tokio::test]
async fn broker_closing_mid_response_fails_every_pending_request() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let pending: Vec<_> = (0..3)
            .map(|_| {
                conn.send(&MetadataRequest::default(), METADATA_VERSION)
                    .unwrap()
            })
            .collect();
        // Read all three so the close is a clean FIN (unread data would make it a reset).
        let first = server.read_request().await.unwrap();
        server.read_request().await.unwrap();
        server.read_request().await.unwrap();
        // Announce 100 bytes, send 6, close.
        server.write_raw(&[0, 0, 0, 100]).await;
        server
            .write_raw(&first.header.correlation_id.to_be_bytes())
            .await;
        server.write_raw(&[0, 0]).await;
        drop(server);
        for p in pending {
            match p.await {
                Err(NetworkError::Io(reason)) => {
                    assert!(reason.contains("middle of a response"), "{reason}")
                }
                other => panic!("expected Io error, got {other:?}"),
            }
        }
        assert!(conn.is_closed());
        assert_eq!(conn.in_flight(), 0);
        assert!(matches!(
            conn.send(&MetadataRequest::default(), METADATA_VERSION),
            Err(NetworkError::Io(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn broker_reset_fails_every_pending_request() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let a = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        let b = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        server.read_request().await.unwrap();
        // Linger 0: close with RST instead of FIN.
        server.stream.set_zero_linger().unwrap();
        drop(server);
        assert!(matches!(a.await, Err(NetworkError::Io(_))));
        assert!(matches!(b.await, Err(NetworkError::Io(_))));
        assert!(conn.is_closed());
    })
    .await;
}

#[tokio::test]
async fn oversized_frame_fails_with_frame_too_large() {
    bounded(async {
        let config = ConnectionConfig {
            max_response_size: 1024 * 1024,
            ..config()
        };
        let (conn, mut server) = connected(&config).await;
        let a = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        let b = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        server.read_request().await.unwrap();
        server.read_request().await.unwrap();
        server.write_raw(&0x7fff_fff0_i32.to_be_bytes()).await;
        let expected = NetworkError::FrameTooLarge {
            size: 0x7fff_fff0,
            limit: 1024 * 1024,
        };
        assert_eq!(a.await.unwrap_err(), expected);
        assert_eq!(b.await.unwrap_err(), expected);
        assert!(conn.is_closed());
        // The client closed its socket: the broker sees EOF.
        assert!(server.read_request().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn mismatched_correlation_id_is_a_protocol_error() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let a = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        let b = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        let req = server.read_request().await.unwrap();
        let mut body = BytesMut::new();
        metadata_response(1)
            .encode(&mut body, METADATA_VERSION)
            .unwrap();
        server
            .respond_raw(req.header.correlation_id + 1, 1, &body)
            .await;
        assert!(matches!(a.await, Err(NetworkError::Protocol(m)) if m.contains("correlation id")));
        assert!(matches!(b.await, Err(NetworkError::Protocol(_))));
        assert!(conn.is_closed());
    })
    .await;
}

#[tokio::test]
async fn response_with_nothing_in_flight_is_a_protocol_error() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        server.respond_raw(7, 0, &[0, 0]).await;
        // The reader closes the connection; the broker sees EOF.
        assert!(server.read_request().await.is_none());
        assert!(conn.is_closed());
        assert!(matches!(
            conn.send(&MetadataRequest::default(), METADATA_VERSION),
            Err(NetworkError::Protocol(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn undecodable_body_fails_only_that_request() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let a = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        let req = server.read_request().await.unwrap();
        // Header v1 (id + empty tags) then a truncated body.
        server
            .respond_raw(req.header.correlation_id, 1, &[0, 0])
            .await;
        assert!(matches!(a.await, Err(NetworkError::Protocol(_))));
        assert!(!conn.is_closed());
        let b = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        server.answer_metadata(5).await;
        assert_eq!(b.await.unwrap().throttle_time_ms, 5);
    })
    .await;
}

#[tokio::test]
async fn send_no_response_registers_nothing() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        conn.send_no_response(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        assert_eq!(conn.in_flight(), 0);
        let answered = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        assert_eq!(conn.in_flight(), 1);
        let unanswered = server.read_request().await.unwrap();
        server.answer_metadata(42).await;
        assert_eq!(answered.await.unwrap().throttle_time_ms, 42);
        assert_eq!(unanswered.header.request_api_key, 3);
        assert!(!conn.is_closed());
    })
    .await;
}

#[tokio::test]
async fn request_awaits_the_decoded_response() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let request = MetadataRequest::default();
        let (response, _) = tokio::join!(
            conn.request(&request, METADATA_VERSION),
            server.answer_metadata(3)
        );
        assert_eq!(response.unwrap().throttle_time_ms, 3);
    })
    .await;
}

#[tokio::test]
async fn versions_outside_ours_or_the_brokers_are_refused_before_sending() {
    bounded(async {
        let (conn, _server) = connected(&config()).await;
        // Broker announces Metadata 0..=12; kafka-protocol encodes 0..=13.
        assert_eq!(
            conn.send(&MetadataRequest::default(), 13).unwrap_err(),
            NetworkError::UnsupportedVersion {
                api_key: 3,
                ours: (0, 13),
                broker: Some((0, 12))
            }
        );
        assert!(matches!(
            conn.send(&MetadataRequest::default(), 14),
            Err(NetworkError::UnsupportedVersion { .. })
        ));
        // InitProducerId (22) is not announced by the fake broker at all.
        let init = kafka_protocol::messages::InitProducerIdRequest::default();
        assert!(matches!(
            conn.send(&init, 4),
            Err(NetworkError::UnsupportedVersion {
                api_key: 22,
                broker: None,
                ..
            })
        ));
        assert_eq!(conn.in_flight(), 0);
    })
    .await;
}

#[tokio::test]
async fn close_fails_pending_with_closed_and_shuts_the_socket() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let clone = conn.clone();
        let p = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        server.read_request().await.unwrap();
        clone.close();
        assert_eq!(p.await.unwrap_err(), NetworkError::Closed);
        assert!(conn.is_closed());
        assert_eq!(
            conn.send(&MetadataRequest::default(), METADATA_VERSION)
                .unwrap_err(),
            NetworkError::Closed
        );
        assert!(server.read_request().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_socket() {
    bounded(async {
        let (conn, mut server) = connected(&config()).await;
        let clone = conn.clone();
        let p = conn
            .send(&MetadataRequest::default(), METADATA_VERSION)
            .unwrap();
        drop(conn);
        // One handle left: still open.
        server.read_request().await.unwrap();
        assert!(!clone.is_closed());
        drop(clone);
        assert_eq!(p.await.unwrap_err(), NetworkError::Closed);
        assert!(server.read_request().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn connect_to_a_closed_port_is_a_connect_error() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        match Connection::connect(&addr, &config()).await {
            Err(NetworkError::Connect { addr: a, .. }) => assert_eq!(a, addr),
            other => panic!("expected Connect error, got {other:?}"),
        }
        assert!(matches!(
            Connection::connect("no-port-here", &config()).await,
            Err(NetworkError::Connect { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn broker_that_never_answers_api_versions_times_out() {
    bounded(async {
        let broker = FakeBroker::bind().await;
        let config = ConnectionConfig {
            connect_timeout: Duration::from_millis(200),
            ..config()
        };
        let (result, _server) = tokio::join!(Connection::connect(&broker.addr, &config), async {
            let mut server = broker.accept().await;
            server.read_request().await.unwrap();
            server // keep the socket open, never answer
        });
        assert_eq!(
            result.unwrap_err(),
            NetworkError::ConnectTimeout {
                addr: broker.addr.clone(),
                after_ms: 200
            }
        );
    })
    .await;
}

/// TCP connect that never completes: a listener with backlog 1 that never accepts. Once its
/// accept queue is full, Linux drops further SYNs, so `connect` hangs until our timeout.
#[tokio::test]
async fn tcp_connect_that_never_completes_times_out() {
    bounded(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let _listener = socket.listen(1).unwrap();
        // Fill the accept queue; stop at the first connect that hangs.
        let mut fillers = Vec::new();
        let mut saturated = false;
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => fillers.push(s),
                Ok(Err(e)) => panic!("filler connect failed: {e}"),
                Err(_) => {
                    saturated = true;
                    break;
                }
            }
        }
        assert!(saturated, "accept queue never filled");
        let config = ConnectionConfig {
            connect_timeout: Duration::from_millis(300),
            ..config()
        };
        assert_eq!(
            Connection::connect(&addr.to_string(), &config)
                .await
                .unwrap_err(),
            NetworkError::ConnectTimeout {
                addr: addr.to_string(),
                after_ms: 300
            }
        );
    })
    .await;
}

#[test]
fn pending_response_is_send_and_unpin() {
    fn check<T: Send + Unpin + 'static>() {}
    check::<super::PendingResponse<MetadataResponse>>();
    fn check_conn<T: Send + Sync + Clone + 'static>() {}
    check_conn::<Connection>();
}
