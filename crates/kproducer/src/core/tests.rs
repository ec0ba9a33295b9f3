//! The core on a virtual clock against a scripted broker that speaks the real wire format: every
//! request the core writes is decoded with kafka-protocol and answered with an encoded frame.
//! No sockets, no sleeps.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, InitProducerIdRequest,
    InitProducerIdResponse, MetadataRequest, ProduceRequest, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    TopicName,
};
use kafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest,
    PushTelemetryResponse,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;
use crate::accumulator::{PartitionChoice, RecordRef};
use crate::config::Acks;
use crate::protocol::errors::ErrorCode;
use crate::shared::SendState;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request as the broker decoded it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // the bodies show in failure messages
enum Req {
    ApiVersions(ApiVersionsRequest),
    Metadata(MetadataRequest),
    InitProducerId(InitProducerIdRequest),
    Produce(ProduceRequest),
    SaslHandshake(SaslHandshakeRequest),
    SaslAuthenticate(SaslAuthenticateRequest),
    GetTelemetrySubscriptions(GetTelemetrySubscriptionsRequest),
    PushTelemetry(PushTelemetryRequest),
}

impl Req {
    fn name(&self) -> &'static str {
        match self {
            Req::ApiVersions(_) => "ApiVersions",
            Req::Metadata(_) => "Metadata",
            Req::InitProducerId(_) => "InitProducerId",
            Req::Produce(_) => "Produce",
            Req::SaslHandshake(_) => "SaslHandshake",
            Req::SaslAuthenticate(_) => "SaslAuthenticate",
            Req::GetTelemetrySubscriptions(_) => "GetTelemetrySubscriptions",
            Req::PushTelemetry(_) => "PushTelemetry",
        }
    }
}

/// The broker side of SASL/PLAIN.
struct SaslBroker {
    mechanisms: Vec<&'static str>,
    user: &'static str,
    password: &'static str,
    /// KIP-368 `connections.max.reauth.ms` (0: none).
    session_lifetime_ms: i64,
}

/// A scripted cluster at the frame level.
struct Broker {
    /// node id → port (host 127.0.0.1).
    nodes: Vec<(i32, i32)>,
    /// topic → leader per partition.
    topics: Vec<(String, Vec<i32>)>,
    /// Error codes the next Produce partitions get, in order (then success).
    produce_errors: Vec<i16>,
    /// The ApiVersions answer's ranges (api key, min, max).
    versions: Vec<(i16, i16, i16)>,
    /// Answer Produce partitions in reverse order (brokers need not keep the request's order).
    reverse_answers: bool,
    next_offset: HashMap<(String, i32), i64>,
    next_pid: i64,
    sasl: Option<SaslBroker>,
    /// KIP-714: the subscription GetTelemetrySubscriptions answers (requested metrics, push
    /// interval ms, accepted compression ids), and the error code the next pushes get.
    telemetry: Option<(Vec<&'static str>, i32, Vec<i8>)>,
    push_errors: Vec<i16>,
}

impl Broker {
    fn new(nodes: &[i32], topics: &[(&str, &[i32])]) -> Self {
        Broker {
            nodes: nodes.iter().map(|n| (*n, 9000 + n)).collect(),
            topics: topics
                .iter()
                .map(|(t, l)| (t.to_string(), l.to_vec()))
                .collect(),
            produce_errors: Vec::new(),
            versions: vec![(0, 3, 12), (3, 0, 12), (18, 0, 3), (22, 0, 5)],
            reverse_answers: false,
            next_offset: HashMap::new(),
            next_pid: 1000,
            sasl: None,
            telemetry: None,
            push_errors: Vec::new(),
        }
    }

    /// A broker with client telemetry (Kafka 3.7+) and this subscription.
    fn with_telemetry(mut self, metrics: &[&'static str], interval_ms: i32, codecs: &[i8]) -> Self {
        self.versions.extend([(71, 0, 0), (72, 0, 0)]);
        self.telemetry = Some((metrics.to_vec(), interval_ms, codecs.to_vec()));
        self
    }

    /// A broker whose listener is SASL/PLAIN for `user`/`password`.
    fn with_sasl(mut self, sasl: SaslBroker) -> Self {
        self.versions.extend([(17, 0, 1), (36, 0, 2)]);
        self.sasl = Some(sasl);
        self
    }

    fn decode(frame: &[u8]) -> (RequestHeader, Req) {
        let mut buf = Bytes::copy_from_slice(&frame[4..]);
        let header = decode_request_header_from_buffer(&mut buf).expect("request header");
        let v = header.request_api_version;
        let req = match header.request_api_key {
            18 => Req::ApiVersions(ApiVersionsRequest::decode(&mut buf, v).expect("body")),
            3 => Req::Metadata(MetadataRequest::decode(&mut buf, v).expect("body")),
            22 => Req::InitProducerId(InitProducerIdRequest::decode(&mut buf, v).expect("body")),
            0 => Req::Produce(ProduceRequest::decode(&mut buf, v).expect("body")),
            17 => Req::SaslHandshake(SaslHandshakeRequest::decode(&mut buf, v).expect("body")),
            36 => {
                Req::SaslAuthenticate(SaslAuthenticateRequest::decode(&mut buf, v).expect("body"))
            }
            71 => Req::GetTelemetrySubscriptions(
                GetTelemetrySubscriptionsRequest::decode(&mut buf, v).expect("body"),
            ),
            72 => Req::PushTelemetry(PushTelemetryRequest::decode(&mut buf, v).expect("body")),
            k => panic!("unexpected api key {k}"),
        };
        (header, req)
    }

    fn encode<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &R) -> Bytes {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut buf, R::header_version(version))
            .expect("header");
        body.encode(&mut buf, version).expect("body");
        buf.freeze()
    }

    /// The answer frame (without size prefix) to `frame`, or `None` for acks=0.
    fn answer(&mut self, frame: &[u8]) -> Option<Bytes> {
        let (h, req) = Self::decode(frame);
        let (corr, v) = (h.correlation_id, h.request_api_version);
        Some(match req {
            Req::ApiVersions(_) => {
                // Header v0 always (KIP-511).
                let body = ApiVersionsResponse::default().with_api_keys(
                    self.versions
                        .iter()
                        .map(|(k, min, max)| {
                            ApiVersion::default()
                                .with_api_key(*k)
                                .with_min_version(*min)
                                .with_max_version(*max)
                        })
                        .collect(),
                );
                let mut buf = BytesMut::new();
                ResponseHeader::default()
                    .with_correlation_id(corr)
                    .encode(&mut buf, 0)
                    .expect("header");
                body.encode(&mut buf, v).expect("body");
                buf.freeze()
            }
            Req::Metadata(_) => {
                let body = kafka_protocol::messages::MetadataResponse::default()
                    .with_brokers(
                        self.nodes
                            .iter()
                            .map(|(n, port)| {
                                MetadataResponseBroker::default()
                                    .with_node_id(BrokerId(*n))
                                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                                    .with_port(*port)
                            })
                            .collect(),
                    )
                    .with_topics(
                        self.topics
                            .iter()
                            .map(|(t, leaders)| {
                                MetadataResponseTopic::default()
                                    .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                                    .with_partitions(
                                        leaders
                                            .iter()
                                            .enumerate()
                                            .map(|(i, l)| {
                                                MetadataResponsePartition::default()
                                                    .with_partition_index(i as i32)
                                                    .with_leader_id(BrokerId(*l))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    );
                Self::encode(corr, v, &body)
            }
            Req::SaslHandshake(r) => {
                let sasl = self.sasl.as_ref().expect("a SASL listener");
                let known = sasl.mechanisms.contains(&r.mechanism.as_str());
                let body = SaslHandshakeResponse::default()
                    .with_error_code(if known { 0 } else { 33 })
                    .with_mechanisms(
                        sasl.mechanisms
                            .iter()
                            .map(|m| StrBytes::from_static_str(m))
                            .collect(),
                    );
                Self::encode(corr, v, &body)
            }
            Req::SaslAuthenticate(r) => {
                let sasl = self.sasl.as_ref().expect("a SASL listener");
                let expected = format!("\0{}\0{}", sasl.user, sasl.password);
                let body = if r.auth_bytes.as_ref() == expected.as_bytes() {
                    SaslAuthenticateResponse::default()
                        .with_session_lifetime_ms(sasl.session_lifetime_ms)
                } else {
                    SaslAuthenticateResponse::default()
                        .with_error_code(58)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Authentication failed: Invalid username or password",
                        )))
                };
                Self::encode(corr, v, &body)
            }
            Req::GetTelemetrySubscriptions(_) => {
                let (metrics, interval, codecs) = self.telemetry.clone().expect("telemetry");
                let body = GetTelemetrySubscriptionsResponse::default()
                    .with_client_instance_id(uuid::Uuid::from_bytes([9; 16]))
                    .with_subscription_id(77)
                    .with_accepted_compression_types(codecs)
                    .with_push_interval_ms(interval)
                    .with_telemetry_max_bytes(1 << 20)
                    .with_requested_metrics(
                        metrics.into_iter().map(StrBytes::from_static_str).collect(),
                    );
                Self::encode(corr, v, &body)
            }
            Req::PushTelemetry(_) => {
                let code = if self.push_errors.is_empty() {
                    0
                } else {
                    self.push_errors.remove(0)
                };
                Self::encode(
                    corr,
                    v,
                    &PushTelemetryResponse::default().with_error_code(code),
                )
            }
            Req::InitProducerId(_) => {
                self.next_pid += 1;
                let body = InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(self.next_pid))
                    .with_producer_epoch(0);
                Self::encode(corr, v, &body)
            }
            Req::Produce(p) => {
                if p.acks == 0 {
                    return None;
                }
                let mut topics = Vec::new();
                for t in &p.topic_data {
                    let mut parts = Vec::new();
                    for pd in &t.partition_data {
                        let code = if self.produce_errors.is_empty() {
                            0
                        } else {
                            self.produce_errors.remove(0)
                        };
                        let records = pd
                            .records
                            .as_ref()
                            .map(|r| {
                                crate::protocol::record_batch::decode_batches(r)
                                    .expect("valid batches")
                                    .iter()
                                    .map(|b| b.records.len() as i64)
                                    .sum::<i64>()
                            })
                            .unwrap_or(0);
                        let next = self
                            .next_offset
                            .entry((t.name.0.to_string(), pd.index))
                            .or_insert(0);
                        let base = *next;
                        if code == 0 {
                            *next += records;
                        }
                        parts.push(
                            PartitionProduceResponse::default()
                                .with_index(pd.index)
                                .with_error_code(code)
                                .with_base_offset(if code == 0 { base } else { -1 })
                                .with_log_append_time_ms(-1),
                        );
                    }
                    if self.reverse_answers {
                        parts.reverse();
                    }
                    topics.push(
                        TopicProduceResponse::default()
                            .with_name(t.name.clone())
                            .with_partition_responses(parts),
                    );
                }
                if self.reverse_answers {
                    topics.reverse();
                }
                let body =
                    kafka_protocol::messages::ProduceResponse::default().with_responses(topics);
                Self::encode(corr, v, &body)
            }
        })
    }
}

/// The core, its shared state, the broker and what travels between them.
struct Net {
    t0: Instant,
    core: ProducerCore,
    shared: Arc<Shared>,
    broker: Broker,
    /// Connections the core asked for and the test has not answered.
    connecting: Vec<(ConnId, Arc<str>)>,
    /// Requests written, not yet answered: (conn, frame).
    written: Vec<(ConnId, Bytes)>,
    /// Everything written, decoded, in order.
    log: Vec<(ConnId, Req)>,
    closed: Vec<ConnId>,
    completions: Vec<Completion>,
    done: Vec<ProducerBatch>,
    frame: Vec<FramePiece>,
    /// Bytes of every request written and of every answer given (size prefixes included).
    bytes_written: usize,
    bytes_answered: usize,
    answers: usize,
}

fn producer_config(extra: &[(&str, &str)]) -> crate::ProducerConfig {
    let mut kv = vec![
        ("bootstrap.servers", "127.0.0.1:9001"),
        ("linger.ms", "5"),
        ("retry.backoff.ms", "100"),
        ("request.timeout.ms", "300"),
        ("delivery.timeout.ms", "1000"),
    ];
    kv.extend_from_slice(extra);
    crate::ProducerConfig::from_map(kv).expect("config")
}

impl Net {
    fn new(broker: Broker, extra: &[(&str, &str)]) -> Self {
        let config = producer_config(extra);
        let state = SendState::new(
            crate::producer::new_accumulator(&config),
            SmallRng::seed_from_u64(1),
        );
        let shared = Arc::new(Shared::new(state));
        let core = ProducerCore::new(CoreConfig::from_producer(&config, 7), shared.clone());
        Net {
            t0: Instant::now(),
            core,
            shared,
            broker,
            connecting: Vec::new(),
            written: Vec::new(),
            log: Vec::new(),
            closed: Vec::new(),
            completions: Vec::new(),
            done: Vec::new(),
            frame: Vec::new(),
            bytes_written: 0,
            bytes_answered: 0,
            answers: 0,
        }
    }

    fn at(&self, n: u64) -> Instant {
        self.t0 + ms(n)
    }

    /// A send of `value` to `topic`-`partition` (the topic is wanted first).
    fn send(
        &mut self,
        topic: &str,
        partition: i32,
        value: &[u8],
        now: Instant,
    ) -> Arc<crate::accumulator::BatchResult> {
        let mut st = self.shared.lock();
        st.topics.add(topic, now);
        let rec = RecordRef {
            timestamp: 1,
            key: None,
            value: Some(value),
            headers: &[],
        };
        let st = &mut *st;
        st.acc
            .append(
                topic,
                None,
                PartitionChoice::Fixed(partition),
                &rec,
                &mut None,
                now,
                &mut st.rng,
            )
            .expect("append")
            .result
    }

    /// Pumps the core once at `now`: timeouts, then every output.
    fn step(&mut self, now: Instant) {
        self.core.handle_timeout(now);
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.core.poll_transmit(now, &mut self.frame) {
            match t {
                Transmit::Connect { conn, addr } => self.connecting.push((conn, addr)),
                Transmit::Send { conn } => {
                    let mut bytes = Vec::new();
                    for p in self.frame.drain(..) {
                        bytes.extend_from_slice(&p);
                    }
                    let size = i32::from_be_bytes(bytes[..4].try_into().expect("prefix")) as usize;
                    assert_eq!(size + 4, bytes.len(), "one whole frame per Send");
                    self.bytes_written += bytes.len();
                    let (_, req) = Broker::decode(&bytes);
                    self.log.push((conn, req));
                    self.written.push((conn, Bytes::from(bytes)));
                }
                Transmit::Close { conn } => self.closed.push(conn),
            }
        }
        self.core.poll_completions(&mut self.completions);
        for c in self.completions.drain(..) {
            let mut b = c.batch;
            b.complete_in_place(c.result, None);
            self.done.push(b);
        }
        self.core.recycle(&mut self.done);
    }

    /// Accepts every pending connection.
    fn accept(&mut self, now: Instant) {
        for (conn, _) in std::mem::take(&mut self.connecting) {
            self.core.handle_connected(conn, now);
        }
        self.drain(now);
    }

    /// Answers every written request, in order.
    fn answer(&mut self, now: Instant) {
        for (conn, frame) in std::mem::take(&mut self.written) {
            if self.closed.contains(&conn) {
                continue;
            }
            if let Some(resp) = self.broker.answer(&frame) {
                self.bytes_answered += resp.len() + 4;
                self.answers += 1;
                self.core.handle_response(conn, resp, now);
            }
        }
        self.drain(now);
    }

    /// Runs the exchange to quiescence at `now` (connections accepted, everything answered).
    fn settle(&mut self, now: Instant) {
        for _ in 0..20 {
            self.step(now);
            self.accept(now);
            self.answer(now);
            if self.connecting.is_empty() && self.written.is_empty() {
                return;
            }
        }
    }

    fn produce_requests(&self) -> usize {
        self.log
            .iter()
            .filter(|(_, r)| matches!(r, Req::Produce(_)))
            .count()
    }
}

fn done_offset(r: &crate::accumulator::BatchResult) -> Option<i64> {
    match r.try_outcome()? {
        crate::accumulator::batch::Outcome::Done(Ok(a)) => Some(a.base_offset),
        _ => None,
    }
}

#[test]
fn the_first_record_goes_once_connected_whatever_retry_backoff_ms() {
    // Before the core, the producer id was asked for before any connection existed, failed, and
    // waited out retry.backoff.ms: 100 s here for the first record.
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(
        broker,
        &[
            ("retry.backoff.ms", "100000"),
            ("retry.backoff.max.ms", "100000"),
            ("delivery.timeout.ms", "300000"),
            ("request.timeout.ms", "30000"),
            ("linger.ms", "0"),
        ],
    );
    let result = net.send("t", 0, b"first", net.t0);
    // Every exchange takes 1 ms of virtual time.
    for n in 0..20 {
        let now = net.at(n);
        net.step(now);
        net.accept(now);
        net.answer(now);
        if result.is_done() {
            break;
        }
    }
    assert_eq!(done_offset(&result), Some(0), "acknowledged within 20 ms");
    let kinds: Vec<&'static str> = net.log.iter().map(|(_, r)| r.name()).collect();
    assert_eq!(
        kinds,
        ["ApiVersions", "Metadata", "InitProducerId", "Produce"],
        "the bootstrap server is the leader: one connection"
    );
}

#[test]
fn api_versions_v3_carries_the_client_software_and_rejections_retry_lower() {
    let mut broker = Broker::new(&[1], &[("t", &[1])]);
    // The broker answers only v0..=2 of ApiVersions: an answer with UNSUPPORTED_VERSION and its
    // range, as Kafka does, makes us retry at v2 on the same connection.
    broker.versions = vec![(0, 3, 12), (3, 0, 12), (18, 0, 2), (22, 0, 5)];
    let mut net = Net::new(broker, &[]);
    net.send("t", 0, b"v", net.t0);
    net.step(net.t0);
    net.accept(net.t0);
    let (conn, frame) = net.written.remove(0);
    let (h, req) = Broker::decode(&frame);
    assert_eq!(h.request_api_version, 3);
    match req {
        Req::ApiVersions(r) => {
            assert_eq!(r.client_software_name.as_str(), "kproducer");
            assert_eq!(
                r.client_software_version.as_str(),
                env!("CARGO_PKG_VERSION")
            );
        }
        other => panic!("expected ApiVersions, got {other:?}"),
    }
    let unsupported = {
        let body = ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(vec![ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(2)]);
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(h.correlation_id)
            .encode(&mut buf, 0)
            .expect("header");
        body.encode(&mut buf, 0).expect("body");
        buf.freeze()
    };
    net.core.handle_response(conn, unsupported, net.t0);
    net.drain(net.t0);
    let (_, frame) = net.written.first().expect("a retry");
    assert_eq!(Broker::decode(frame).0.request_api_version, 2);
    net.settle(net.at(10));
    assert_eq!(net.produce_requests(), 1, "then on to the records");
}

#[test]
fn an_undecodable_api_versions_answer_retries_at_v0() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[]);
    net.send("t", 0, b"v", net.t0);
    net.step(net.t0);
    net.accept(net.t0);
    let (conn, frame) = net.written.remove(0);
    let corr = Broker::decode(&frame).0.correlation_id;
    // librdkafka's mock answers v3 with a body that claims ~16 M entries read as v3.
    let mut garbage = BytesMut::new();
    garbage.extend_from_slice(&corr.to_be_bytes());
    garbage.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0x7f]);
    net.core.handle_response(conn, garbage.freeze(), net.t0);
    net.drain(net.t0);
    let (_, frame) = net.written.first().expect("a retry");
    assert_eq!(Broker::decode(frame).0.request_api_version, 0);
}

#[test]
fn a_broker_closing_on_api_versions_v3_is_reconnected_at_v0_after_the_backoff() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[]);
    net.send("t", 0, b"v", net.t0);
    net.step(net.t0);
    net.accept(net.t0);
    let (conn, _) = net.written.remove(0);
    net.core
        .handle_disconnected(conn, "connection closed by the broker", net.t0);
    net.step(net.t0);
    assert!(net.connecting.is_empty(), "reconnect backoff first");
    let next = net.core.poll_timeout().expect("a deadline");
    assert!(next <= net.at(60), "reconnect.backoff.ms = 50 ± 20 %");
    net.step(next);
    net.accept(next);
    let (_, frame) = net.written.first().expect("ApiVersions again");
    assert_eq!(Broker::decode(frame).0.request_api_version, 0);
}

#[test]
fn a_response_out_of_order_closes_the_connection_and_retries_its_requests() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false"), ("acks", "1")]);
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    assert_eq!(done_offset(&result), None, "lingering");
    net.step(net.at(5));
    let (conn, frame) = net.written.remove(0);
    // An answer whose correlation id is not the one in flight.
    let mut resp = net.broker.answer(&frame).expect("answer").to_vec();
    resp[3] ^= 0x55;
    net.core.handle_response(conn, Bytes::from(resp), net.at(6));
    net.drain(net.at(6));
    assert_eq!(net.closed, vec![conn]);
    assert!(!result.is_done(), "retried, not failed");
    // The retry goes on a new connection after the backoff. (Without idempotence the broker,
    // which had written the first copy, writes it again.)
    net.settle(net.at(200));
    assert_eq!(done_offset(&result), Some(1));
}

#[test]
fn a_request_past_request_timeout_closes_its_connection_and_is_retried() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false"), ("acks", "1")]);
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    net.step(net.at(5));
    let (conn, _) = net.written.remove(0);
    assert_eq!(
        net.core.poll_timeout(),
        Some(net.at(305)),
        "request.timeout.ms"
    );
    net.step(net.at(305));
    assert_eq!(net.closed, vec![conn]);
    assert!(!result.is_done());
    assert_eq!(net.shared.lock().acc.queued_batches(), 1, "queued again");
    net.settle(net.at(600));
    assert_eq!(done_offset(&result), Some(0));
}

#[test]
fn a_connection_not_set_up_in_time_is_abandoned_and_retried() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(
        broker,
        &[
            ("socket.connection.setup.timeout.ms", "1000"),
            ("socket.connection.setup.timeout.max.ms", "1000"),
        ],
    );
    net.send("t", 0, b"v", net.t0);
    net.step(net.t0);
    let (conn, addr) = net.connecting.remove(0);
    assert_eq!(&*addr, "127.0.0.1:9001");
    assert_eq!(net.core.poll_timeout(), Some(net.at(1000)));
    net.step(net.at(1000));
    assert_eq!(net.closed, vec![conn], "given up");
    assert!(net
        .shared
        .lock()
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("socket.connection.setup.timeout.ms")));
    net.step(net.at(1100));
    assert_eq!(net.connecting.len(), 1, "tried again after the backoff");
}

#[test]
fn acks_answered_in_any_order_reach_their_batches_in_one_pass() {
    const PARTITIONS: usize = 2_000;
    let leaders = vec![1; PARTITIONS];
    let mut broker = Broker::new(&[1], &[("t", &leaders)]);
    broker.reverse_answers = true;
    let mut net = Net::new(
        broker,
        &[
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("max.request.size", "10000000"),
        ],
    );
    let results: Vec<_> = (0..PARTITIONS)
        .map(|p| net.send("t", p as i32, b"v", net.t0))
        .collect();
    net.settle(net.at(5));
    assert_eq!(net.produce_requests(), 1, "one request for every partition");
    assert!(results.iter().all(|r| done_offset(r) == Some(0)));
    assert!(
        net.core.ack_probes <= 3 * PARTITIONS,
        "{} probes for {PARTITIONS} partitions",
        net.core.ack_probes
    );
}

#[test]
fn a_retriable_error_is_retried_and_metadata_refreshed() {
    let mut broker = Broker::new(&[1], &[("t", &[1])]);
    broker.produce_errors = vec![ErrorCode::NOT_LEADER_OR_FOLLOWER.0];
    let mut net = Net::new(broker, &[]);
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    net.settle(net.at(5));
    assert!(!result.is_done(), "retried");
    let metadata_before = net
        .log
        .iter()
        .filter(|(_, r)| matches!(r, Req::Metadata(_)))
        .count();
    net.settle(net.at(200));
    assert_eq!(done_offset(&result), Some(0));
    let metadata_after = net
        .log
        .iter()
        .filter(|(_, r)| matches!(r, Req::Metadata(_)))
        .count();
    assert!(
        metadata_after > metadata_before,
        "leader error refreshed metadata"
    );
}

#[test]
fn acks_zero_requests_complete_once_written() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false"), ("acks", "0")]);
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.at(5));
    assert_eq!(done_offset(&result), Some(-1));
    assert_eq!(net.produce_requests(), 1);
    let acks = net.log.iter().find_map(|(_, r)| match r {
        Req::Produce(p) => Some(p.acks),
        _ => None,
    });
    assert_eq!(acks, Some(Acks::None.as_i16()));
}

#[test]
fn a_close_finishes_once_everything_is_delivered() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[]);
    let result = net.send("t", 0, b"v", net.t0);
    net.shared.lock().acc.close();
    net.settle(net.t0);
    assert_eq!(done_offset(&result), Some(0), "closing sends at once");
    net.step(net.at(1));
    assert!(net.core.is_finished());
}

#[test]
fn a_produce_answer_listing_more_partitions_than_asked_is_refused_before_decoding() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false"), ("acks", "1")]);
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    net.step(net.at(5));
    let (conn, frame) = net.written.remove(0);
    let (h, _) = Broker::decode(&frame);
    // An error answer (the full decoder's path) for 1,000 partitions: the request had one.
    let body = kafka_protocol::messages::ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_responses(
                (0..1_000)
                    .map(|p| {
                        PartitionProduceResponse::default()
                            .with_index(p)
                            .with_error_code(ErrorCode::NOT_LEADER_OR_FOLLOWER.0)
                    })
                    .collect(),
            ),
    ]);
    let answer = Broker::encode(h.correlation_id, h.request_api_version, &body);
    net.core.handle_response(conn, answer, net.at(6));
    net.drain(net.at(6));
    assert_eq!(
        net.closed,
        vec![conn],
        "the connection is not trusted any more"
    );
    assert!(
        net.shared
            .lock()
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("1000 partitions for a request of 1")),
        "{:?}",
        net.shared.lock().last_error
    );
    assert!(!result.is_done(), "retried");
    net.settle(net.at(200));
    assert_eq!(done_offset(&result), Some(0));
}

// ---------------------------------------------------------------- SASL

const PLAIN_ALICE: &[(&str, &str)] = &[
    ("security.protocol", "SASL_PLAINTEXT"),
    ("sasl.mechanism", "PLAIN"),
    (
        "sasl.jaas.config",
        r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#,
    ),
];

fn plain_broker(password: &'static str, session_lifetime_ms: i64) -> Broker {
    Broker::new(&[1], &[("t", &[1])]).with_sasl(SaslBroker {
        mechanisms: vec!["PLAIN", "SCRAM-SHA-512"],
        user: "alice",
        password,
        session_lifetime_ms,
    })
}

fn failure(r: &crate::accumulator::BatchResult) -> Option<ProduceError> {
    match r.try_outcome()? {
        crate::accumulator::batch::Outcome::Done(Err(e)) => Some(e.clone()),
        _ => None,
    }
}

#[test]
fn sasl_plain_authenticates_each_connection_before_any_other_request() {
    let mut net = Net::new(plain_broker("alice-secret", 0), PLAIN_ALICE);
    let result = net.send("t", 0, b"v", net.t0);
    for n in 0..20 {
        net.settle(net.at(n));
    }
    assert_eq!(done_offset(&result), Some(0));
    let kinds: Vec<&'static str> = net.log.iter().map(|(_, r)| r.name()).collect();
    assert_eq!(
        kinds,
        [
            "ApiVersions",
            "SaslHandshake",
            "SaslAuthenticate",
            "Metadata",
            "InitProducerId",
            "Produce"
        ]
    );
    let Req::SaslHandshake(h) = &net.log[1].1 else {
        panic!("handshake")
    };
    assert_eq!(h.mechanism.as_str(), "PLAIN");
    assert!(net.shared.lock().auth_error.is_none());
    // Java's Selector sensors: one connection, authenticated once.
    let m = metrics_at(&net, net.at(20));
    assert_eq!(metric(&m, P, "successful-authentication-total", None), 1.0);
    assert_eq!(
        metric(&m, P, "successful-authentication-no-reauth-total", None),
        1.0
    );
    assert_eq!(metric(&m, P, "failed-authentication-total", None), 0.0);
    assert_eq!(
        metric(&m, P, "successful-reauthentication-total", None),
        0.0
    );
}

#[test]
fn a_wrong_password_fails_waiting_records_at_once_and_backs_off_growing() {
    let mut net = Net::new(
        plain_broker("not-alices-password", 0),
        &[
            PLAIN_ALICE,
            &[
                ("reconnect.backoff.ms", "50"),
                ("reconnect.backoff.max.ms", "1000"),
                ("delivery.timeout.ms", "120000"),
                ("request.timeout.ms", "30000"),
            ],
        ]
        .concat(),
    );
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    let err = failure(&result).expect("failed at the first refusal, not at delivery.timeout.ms");
    let ProduceError::Authentication(AuthenticationError::Sasl {
        mechanism, reason, ..
    }) = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(mechanism, "PLAIN");
    assert!(reason.contains("Invalid username or password"), "{reason}");
    assert!(!err.to_string().contains("alice-secret"));
    assert!(!err.is_retriable());
    assert!(
        net.shared.lock().auth_error.is_some(),
        "senders waiting for metadata fail too"
    );
    // Retried with a growing backoff (50, 100, 200, 400, 800, 1000 ms ± 20 %), not every 50 ms.
    for n in 1..=5000 {
        net.settle(net.at(n));
    }
    let attempts = net
        .log
        .iter()
        .filter(|(_, r)| matches!(r, Req::SaslHandshake(_)))
        .count();
    assert!((5..=12).contains(&attempts), "{attempts} attempts in 5 s");
    let m = metrics_at(&net, net.at(5000));
    assert_eq!(
        metric(&m, P, "failed-authentication-total", None),
        attempts as f64,
        "every refusal counted"
    );
    assert_eq!(metric(&m, P, "successful-authentication-total", None), 0.0);
}

#[test]
fn an_unsupported_mechanism_names_the_ones_the_broker_enables() {
    let mut broker = plain_broker("alice-secret", 0);
    if let Some(s) = broker.sasl.as_mut() {
        s.mechanisms = vec!["SCRAM-SHA-256"];
    }
    let mut net = Net::new(broker, PLAIN_ALICE);
    let result = net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    match failure(&result) {
        Some(ProduceError::Authentication(AuthenticationError::UnsupportedMechanism {
            mechanism,
            enabled,
            ..
        })) => {
            assert_eq!(mechanism, "PLAIN");
            assert_eq!(enabled, ["SCRAM-SHA-256"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_session_lifetime_is_renewed_on_the_same_connection_between_requests() {
    // KIP-368: the broker closes a connection whose session expired; the client re-authenticates
    // at 85-95 % of the lifetime, once its requests in flight are answered.
    let mut net = Net::new(
        plain_broker("alice-secret", 1000),
        &[PLAIN_ALICE, &[("linger.ms", "0")]].concat(),
    );
    let mut results = Vec::new();
    for n in 0..3000u64 {
        let now = net.at(n);
        if n % 10 == 0 {
            results.push(net.send("t", 0, b"v", now));
        }
        net.step(now);
        net.accept(now);
        net.answer(now);
    }
    net.settle(net.at(3000));
    assert!(
        results.iter().all(|r| done_offset(r).is_some()),
        "every record acknowledged"
    );
    let conns: std::collections::HashSet<ConnId> = net.log.iter().map(|(c, _)| *c).collect();
    assert_eq!(conns.len(), 1, "renewed on the same connection");
    let handshakes: Vec<usize> = net
        .log
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| matches!(r, Req::SaslHandshake(_)))
        .map(|(i, _)| i)
        .collect();
    assert!(
        (3..=4).contains(&handshakes.len()),
        "first authentication plus one renewal a second: {}",
        handshakes.len()
    );
    for &i in &handshakes {
        assert!(
            matches!(net.log.get(i + 1), Some((_, Req::SaslAuthenticate(_)))),
            "nothing goes between the handshake and the authentication"
        );
    }
    // The renewals are re-authentications (with their latency), not new authentications.
    let m = metrics_at(&net, net.at(3000));
    assert_eq!(metric(&m, P, "successful-authentication-total", None), 1.0);
    assert_eq!(
        metric(&m, P, "successful-reauthentication-total", None),
        (handshakes.len() - 1) as f64
    );
    assert_eq!(metric(&m, P, "failed-reauthentication-total", None), 0.0);
    let latency = metric(&m, P, "reauthentication-latency-max", None);
    assert!((0.0..1000.0).contains(&latency), "{latency} ms");
}

#[test]
fn a_retry_failed_by_an_authentication_error_bumps_the_epoch_before_later_batches() {
    // The batch had sequence 0 when its retry failed with the authentication error: without an
    // epoch bump the next batch (sequence 1) would leave a gap the broker refuses.
    let mut broker = plain_broker("alice-secret", 0);
    broker.produce_errors = vec![ErrorCode::NOT_LEADER_OR_FOLLOWER.0];
    let mut net = Net::new(
        broker,
        &[PLAIN_ALICE, &[("retry.backoff.ms", "100")]].concat(),
    );
    let first = net.send("t", 0, b"first", net.t0);
    net.settle(net.t0);
    net.settle(net.at(5));
    assert!(!first.is_done(), "queued for its retry");
    // The connection drops and the broker now refuses the password.
    if let Some(s) = net.broker.sasl.as_mut() {
        s.password = "rotated";
    }
    for conn in net.core.connections() {
        net.core.handle_disconnected(conn, "cut", net.at(6));
    }
    for n in 6..400 {
        net.settle(net.at(n));
    }
    assert!(
        matches!(failure(&first), Some(ProduceError::Authentication(_))),
        "{:?}",
        failure(&first)
    );
    // Credentials right again: the next record goes under a bumped epoch, from sequence 0.
    if let Some(s) = net.broker.sasl.as_mut() {
        s.password = "alice-secret";
    }
    let second = net.send("t", 0, b"second", net.at(400));
    for n in 400..3000 {
        net.settle(net.at(n));
        if second.is_done() {
            break;
        }
    }
    assert!(done_offset(&second).is_some(), "{:?}", failure(&second));
    let inits = net
        .log
        .iter()
        .filter(|(_, r)| matches!(r, Req::InitProducerId(_)))
        .count();
    assert_eq!(inits, 2, "the producer id was asked for again (epoch bump)");
    let Some((_, Req::Produce(p))) = net
        .log
        .iter()
        .rev()
        .find(|(_, r)| matches!(r, Req::Produce(_)))
    else {
        panic!("no Produce")
    };
    let records = p.topic_data[0].partition_data[0]
        .records
        .as_ref()
        .expect("records");
    let batch = &crate::protocol::record_batch::decode_batches(records).expect("batch")[0];
    assert_eq!(batch.base_sequence, 0, "a fresh epoch starts at sequence 0");
}

// ---------------------------------------------------------------- metrics

/// The core's metrics at `now`, as `Producer::metrics` reads them: `(group, name, extra tag)`.
fn metrics_at(net: &Net, now: Instant) -> BTreeMap<crate::MetricName, f64> {
    let mut out = BTreeMap::new();
    net.core
        .metrics()
        .write_into(&net.core.cfg.client_id, now, &mut out);
    out
}

fn metric(
    m: &BTreeMap<crate::MetricName, f64>,
    group: &str,
    name: &str,
    tag: Option<(&str, &str)>,
) -> f64 {
    m.iter()
        .find(|(k, _)| {
            k.group == group
                && k.name == name
                && tag.is_none_or(|(t, v)| k.tags.get(t).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{group}:{name} {tag:?} missing"))
}

const P: &str = "producer-metrics";
const T: &str = "producer-topic-metrics";
const N: &str = "producer-node-metrics";

#[test]
fn metrics_count_what_was_sent_and_answered() {
    let broker = Broker::new(&[1], &[("t", &[1, 1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false")]);
    // Connection and metadata first (nothing lingered 5 ms yet).
    net.send("t", 0, b"0123456789", net.t0);
    net.settle(net.t0);
    assert_eq!(net.produce_requests(), 0);
    for _ in 0..2 {
        net.send("t", 0, b"0123456789", net.t0);
    }
    for _ in 0..2 {
        net.send("t", 1, b"0123456789", net.t0);
    }
    // The batches go at 5 ms (linger.ms) and are answered 30 ms later.
    net.step(net.at(5));
    assert_eq!(net.produce_requests(), 1);
    net.answer(net.at(35));
    let batch_bytes: Vec<usize> = net
        .log
        .iter()
        .filter_map(|(_, r)| match r {
            Req::Produce(p) => Some(p),
            _ => None,
        })
        .flat_map(|p| p.topic_data.iter().flat_map(|t| t.partition_data.iter()))
        .map(|pd| pd.records.as_ref().map_or(0, |r| r.len()))
        .collect();
    assert_eq!(batch_bytes.len(), 2);
    let total_bytes: usize = batch_bytes.iter().sum();

    let m = metrics_at(&net, net.at(35));
    let client_id = net.core.cfg.client_id.clone();
    assert!(client_id.starts_with("producer-"));
    assert!(m
        .keys()
        .all(|k| k.tags.get("client-id") == Some(&client_id)));
    assert_eq!(metric(&m, P, "record-send-total", None), 5.0);
    assert_eq!(metric(&m, P, "records-per-request-avg", None), 5.0);
    // One window so far: Java's rate divides by (samples - 1) full windows plus the elapsed time.
    // (The clock's origin is a fraction of a millisecond before t0: 29 to 31 ms elapsed.)
    let rate = metric(&m, P, "record-send-rate", None);
    assert!((5.0 / 30.032..=5.0 / 30.028).contains(&rate), "{rate}");
    assert_eq!(
        metric(&m, P, "batch-size-avg", None),
        total_bytes as f64 / 2.0
    );
    assert_eq!(
        metric(&m, P, "batch-size-max", None),
        *batch_bytes.iter().max().unwrap() as f64
    );
    assert_eq!(metric(&m, P, "compression-rate-avg", None), 1.0);
    // Created at 0, drained at 5.
    assert_eq!(metric(&m, P, "record-queue-time-avg", None), 5.0);
    assert_eq!(metric(&m, P, "record-queue-time-max", None), 5.0);
    // Java's estimateSizeInBytesUpperBound: 61 + 21 + key -1 (1) + length 10 (1) + 10 + no
    // headers (1).
    assert_eq!(metric(&m, P, "record-size-max", None), 95.0);
    assert_eq!(metric(&m, P, "record-size-avg", None), 95.0);
    assert_eq!(metric(&m, P, "request-latency-avg", None), 30.0);
    assert_eq!(metric(&m, P, "request-latency-max", None), 30.0);
    assert_eq!(
        metric(&m, N, "request-latency-avg", Some(("node-id", "node-1"))),
        30.0
    );
    assert_eq!(metric(&m, P, "produce-throttle-time-max", None), 0.0);
    assert_eq!(metric(&m, P, "record-retry-total", None), 0.0);
    assert_eq!(metric(&m, P, "record-error-total", None), 0.0);
    assert_eq!(metric(&m, P, "batch-split-total", None), 0.0);
    // Network: every frame both ways.
    assert_eq!(metric(&m, P, "request-total", None), net.log.len() as f64);
    assert_eq!(
        metric(&m, P, "outgoing-byte-total", None),
        net.bytes_written as f64
    );
    assert_eq!(metric(&m, P, "response-total", None), net.answers as f64);
    assert_eq!(
        metric(&m, P, "incoming-byte-total", None),
        net.bytes_answered as f64
    );
    assert_eq!(
        metric(&m, P, "network-io-total", None),
        (net.log.len() + net.answers) as f64
    );
    let node_requests: f64 = m
        .iter()
        .filter(|(k, _)| k.group == N && k.name == "request-total")
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(node_requests, net.log.len() as f64);
    assert_eq!(metric(&m, P, "connection-creation-total", None), 1.0);
    assert_eq!(metric(&m, P, "connection-close-total", None), 0.0);
    assert_eq!(metric(&m, P, "connection-count", None), 1.0);
    assert_eq!(metric(&m, P, "requests-in-flight", None), 0.0);
    // Metadata answered at 0.
    assert!((metric(&m, P, "metadata-age", None) - 0.035).abs() < 1e-9);
    // Per topic.
    let t = Some(("topic", "t"));
    assert_eq!(metric(&m, T, "record-send-total", t), 5.0);
    assert_eq!(metric(&m, T, "byte-total", t), total_bytes as f64);
    assert_eq!(metric(&m, T, "compression-rate", t), 1.0);
    assert_eq!(metric(&m, T, "record-error-total", t), 0.0);
}

#[test]
fn metrics_count_retried_and_failed_records_not_batches() {
    let mut broker = Broker::new(&[1], &[("t", &[1])]);
    // A retriable error for the first batch (3 records), then a fatal one for its retry.
    broker.produce_errors = vec![
        ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
        ErrorCode::INVALID_REQUIRED_ACKS.0,
    ];
    let mut net = Net::new(broker, &[("enable.idempotence", "false")]);
    let results: Vec<_> = (0..3).map(|_| net.send("t", 0, b"v", net.t0)).collect();
    net.settle(net.t0);
    net.settle(net.at(5));
    let m = metrics_at(&net, net.at(5));
    assert_eq!(metric(&m, P, "record-retry-total", None), 3.0);
    assert_eq!(
        metric(&m, T, "record-retry-total", Some(("topic", "t"))),
        3.0
    );
    assert_eq!(metric(&m, P, "record-error-total", None), 0.0);
    net.settle(net.at(200));
    assert!(results.iter().all(|r| failure(r).is_some()));
    let m = metrics_at(&net, net.at(200));
    assert_eq!(metric(&m, P, "record-error-total", None), 3.0);
    assert_eq!(
        metric(&m, T, "record-error-total", Some(("topic", "t"))),
        3.0
    );
    // Sent twice: Java's record-send-total counts records per request, retries included.
    assert_eq!(metric(&m, P, "record-send-total", None), 6.0);
}

#[test]
fn metrics_count_a_split_batch() {
    let mut broker = Broker::new(&[1], &[("t", &[1])]);
    broker.produce_errors = vec![ErrorCode::MESSAGE_TOO_LARGE.0];
    let mut net = Net::new(broker, &[("enable.idempotence", "false")]);
    let results: Vec<_> = (0..4).map(|_| net.send("t", 0, b"v", net.t0)).collect();
    net.settle(net.t0);
    net.settle(net.at(5));
    net.settle(net.at(10));
    net.settle(net.at(300));
    // The old batch's futures were moved to the halves, which were acknowledged.
    assert!(results.iter().all(|r| r.is_done() && failure(r).is_none()));
    assert_eq!(net.produce_requests(), 3, "the batch, then its halves");
    let m = metrics_at(&net, net.at(300));
    assert_eq!(metric(&m, P, "batch-split-total", None), 1.0);
    assert_eq!(metric(&m, P, "record-error-total", None), 0.0);
}

#[test]
fn metrics_count_connections_closed_and_io_wait() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false")]);
    net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    let conn = net.core.connections()[0];
    net.core.handle_disconnected(conn, "gone", net.at(1));
    net.core
        .handle_io_wait(ms(30), Duration::from_micros(500), net.at(31));
    net.drain(net.at(31));
    let m = metrics_at(&net, net.at(31));
    assert_eq!(metric(&m, P, "connection-close-total", None), 1.0);
    assert_eq!(
        metric(&m, P, "connection-count", None),
        net.core.connections().len() as f64
    );
    assert_eq!(metric(&m, P, "select-total", None), 1.0);
    assert_eq!(metric(&m, P, "io-wait-time-ns-total", None), 30e6);
    assert_eq!(metric(&m, P, "io-wait-time-ns-avg", None), 30e6);
    assert_eq!(metric(&m, P, "io-time-ns-total", None), 5e5);
    // 30 ms waited over Java's minimum window of one full window (30 s) plus 31 ms elapsed.
    let ratio = metric(&m, P, "io-wait-ratio", None);
    assert!((ratio - 0.030 / 30.0).abs() < 1e-4, "{ratio}");
}

#[test]
fn metrics_published_to_the_shared_view_match_the_cores() {
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[("enable.idempotence", "false")]);
    net.send("t", 0, b"v", net.t0);
    net.settle(net.t0);
    net.settle(net.at(5));
    let now = net.at(6);
    let mine = metrics_at(&net, now);
    let mut published = BTreeMap::new();
    let id = net.core.cfg.client_id.clone();
    net.shared
        .view
        .with_metrics(|m| m.expect("published").write_into(&id, now, &mut published));
    assert_eq!(format!("{mine:?}"), format!("{published:?}"));
    assert_eq!(metric(&published, P, "record-send-total", None), 1.0);
}

// ---------------------------------------------------------------- KIP-714 client telemetry

fn pushes(net: &Net) -> Vec<PushTelemetryRequest> {
    net.log
        .iter()
        .filter_map(|(_, r)| match r {
            Req::PushTelemetry(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// A pushed metric: kind, attributes, value.
type Pushed = (&'static str, Vec<(String, String)>, f64);

/// The push's metrics, decompressed and decoded, by name (with its first attribute).
fn pushed_metrics(p: &PushTelemetryRequest) -> BTreeMap<String, Pushed> {
    let codec = crate::compression::codec_from_id(p.compression_type as u8).expect("codec");
    let mut data = Vec::new();
    crate::compression::decompress(codec, &p.metrics, &mut data, 1 << 24).expect("decompress");
    let (_, metrics) = crate::telemetry::otlp::test_decode::decode(&data);
    metrics
        .into_iter()
        .map(|(name, kind, _, attrs, _, _, v)| {
            let key = match attrs.first() {
                Some((k, v)) => format!("{name}{{{k}={v}}}"),
                None => name,
            };
            (key, (kind, attrs, v))
        })
        .collect()
}

#[test]
fn telemetry_subscribes_pushes_selected_metrics_and_makes_a_terminating_push_at_close() {
    let broker = Broker::new(&[1], &[("t", &[1])]).with_telemetry(
        &[
            "org.apache.kafka.producer.record.send",
            "org.apache.kafka.producer.topic.",
        ],
        1000,
        &[4, 3],
    );
    let mut net = Net::new(broker, &[]);
    for v in [&b"a"[..], b"b", b"c"] {
        net.send("t", 0, v, net.t0);
    }
    net.settle(net.at(10));
    let subs: Vec<_> = net
        .log
        .iter()
        .filter_map(|(_, r)| match r {
            Req::GetTelemetrySubscriptions(g) => Some(g.client_instance_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        subs,
        vec![uuid::Uuid::nil()],
        "one subscription request, the zero id"
    );
    assert_eq!(
        net.shared.view.client_instance_id(),
        Some(crate::telemetry::ClientInstanceId([9; 16]))
    );
    // The first push comes 0.5..1.5 intervals after the subscription, then every interval.
    net.settle(net.at(499));
    assert!(pushes(&net).is_empty(), "not before half the interval");
    for n in (500..=1600).step_by(10) {
        net.settle(net.at(n));
    }
    let first = pushes(&net);
    assert_eq!(first.len(), 1, "one push by 1.5 intervals");
    let p = &first[0];
    assert_eq!(p.client_instance_id, uuid::Uuid::from_bytes([9; 16]));
    assert_eq!(p.subscription_id, 77);
    assert_eq!(p.compression_type, 4, "the broker's first choice: zstd");
    assert!(!p.terminating);
    let m = pushed_metrics(p);
    assert_eq!(m["org.apache.kafka.producer.record.send.total"].0, "sum");
    assert_eq!(m["org.apache.kafka.producer.record.send.total"].2, 3.0);
    assert!(
        m["org.apache.kafka.producer.record.send.total"]
            .1
            .is_empty(),
        "no client_id"
    );
    assert_eq!(m["org.apache.kafka.producer.record.send.rate"].0, "gauge");
    assert_eq!(
        m["org.apache.kafka.producer.topic.record.send.total{topic=t}"].2,
        3.0
    );
    assert!(
        m.keys()
            .all(|k| k.starts_with("org.apache.kafka.producer.record.send")
                || k.starts_with("org.apache.kafka.producer.topic.")),
        "only the subscribed prefixes: {:?}",
        m.keys().collect::<Vec<_>>()
    );
    // Two more records, then close: the terminating push carries the final count, and the core
    // is finished only once it is answered.
    for v in [&b"d"[..], b"e"] {
        net.send("t", 0, v, net.at(1700));
    }
    net.shared.lock().acc.close();
    net.step(net.at(1700));
    net.accept(net.at(1700));
    for _ in 0..5 {
        net.answer(net.at(1700));
    }
    let all = pushes(&net);
    let last = all.last().expect("a terminating push");
    assert!(last.terminating, "{all:?}");
    assert_eq!(all.iter().filter(|p| p.terminating).count(), 1);
    assert_eq!(
        pushed_metrics(last)["org.apache.kafka.producer.record.send.total"].2,
        5.0
    );
    net.step(net.at(1701));
    assert!(net.core.is_finished());
    // Nothing more after the end.
    net.settle(net.at(100_000));
    assert_eq!(pushes(&net).len(), all.len());
}

#[test]
fn a_close_waits_for_the_terminating_push_answer() {
    let broker = Broker::new(&[1], &[("t", &[1])]).with_telemetry(&["*"], 1000, &[]);
    let mut net = Net::new(broker, &[]);
    net.send("t", 0, b"v", net.t0);
    net.settle(net.at(1));
    net.shared
        .view
        .api_times
        .flush
        .store(1234, std::sync::atomic::Ordering::Relaxed);
    net.shared.lock().acc.close();
    net.step(net.at(2));
    net.accept(net.at(2));
    // Answer everything except the terminating push.
    let mut held = None;
    for _ in 0..5 {
        for (conn, frame) in std::mem::take(&mut net.written) {
            if matches!(Broker::decode(&frame).1, Req::PushTelemetry(_)) {
                held = Some((conn, frame));
                continue;
            }
            if let Some(resp) = net.broker.answer(&frame) {
                net.core.handle_response(conn, resp, net.at(2));
            }
        }
        net.drain(net.at(2));
    }
    let (conn, frame) = held.expect("a terminating push");
    let last = pushes(&net).last().cloned().expect("a push");
    assert_eq!((last.terminating, last.compression_type), (true, 0));
    // The callers' timings (Java's KafkaProducerMetrics) are pushed too.
    let m = pushed_metrics(&last);
    assert_eq!(
        m["org.apache.kafka.producer.flush.time.ns.total"],
        ("sum", vec![], 1234.0)
    );
    assert_eq!(
        m["org.apache.kafka.producer.txn.commit.time.ns.total"].2,
        0.0
    );
    net.step(net.at(3));
    assert!(
        !net.core.is_finished(),
        "waits for the terminating push's answer"
    );
    let resp = net.broker.answer(&frame).expect("answer");
    net.core.handle_response(conn, resp, net.at(3));
    net.drain(net.at(3));
    net.step(net.at(4));
    assert!(net.core.is_finished());
}

#[test]
fn telemetry_off_or_unsupported_sends_nothing_and_never_spins() {
    // enable.metrics.push=false: no telemetry request at all.
    let broker = Broker::new(&[1], &[("t", &[1])]).with_telemetry(&["*"], 1000, &[]);
    let mut net = Net::new(broker, &[("enable.metrics.push", "false")]);
    net.send("t", 0, b"v", net.t0);
    for n in 0..3000 {
        net.settle(net.at(n * 10));
    }
    assert!(net.log.iter().all(|(_, r)| !r.name().contains("Telemetry")));
    // A broker without the APIs: nothing sent, and the core asks again only after 5 minutes.
    let broker = Broker::new(&[1], &[("t", &[1])]);
    let mut net = Net::new(broker, &[]);
    net.send("t", 0, b"v", net.t0);
    for n in 0..10 {
        net.settle(net.at(n * 10)); // past linger.ms: the record is delivered
    }
    assert_eq!(net.produce_requests(), 1);
    assert!(net.log.iter().all(|(_, r)| !r.name().contains("Telemetry")));
    let wake = net.core.poll_timeout();
    assert!(
        wake.is_none_or(|w| w >= net.at(90) + ms(60_000)),
        "no early wake-up for telemetry: {:?}",
        wake.map(|w| w - net.t0)
    );
}

#[test]
fn telemetry_errors_renew_the_subscription_or_stop() {
    let broker = Broker::new(&[1], &[("t", &[1])]).with_telemetry(&["*"], 1000, &[]);
    let mut net = Net::new(broker, &[]);
    net.broker.push_errors = vec![117, 87]; // UNKNOWN_SUBSCRIPTION_ID, then INVALID_RECORD
    net.send("t", 0, b"v", net.t0);
    for n in 0..400 {
        net.settle(net.at(n * 10));
    }
    let names: Vec<&str> = net
        .log
        .iter()
        .map(|(_, r)| r.name())
        .filter(|n| n.contains("Telemetry"))
        .collect();
    assert_eq!(
        names,
        [
            "GetTelemetrySubscriptions",
            "PushTelemetry",
            "GetTelemetrySubscriptions",
            "PushTelemetry"
        ],
        "a new subscription at once after UNKNOWN_SUBSCRIPTION_ID, nothing after INVALID_RECORD"
    );
}
