//! The ack sink: a minimal Kafka broker on loopback that acknowledges every Produce request
//! with increasing offsets and stores nothing, so the client under test is the bottleneck.
//!
//! It answers ApiVersions (v0–3; librdkafka needs a correct answer), Metadata (one broker,
//! itself, leading every partition of any topic asked for), InitProducerId and Produce
//! (v3–9). Anything else closes the connection. Requests are answered in order on each
//! connection; responses for all requests already read are written in one go.
//!
//! A *secured* sink ([`AckSink::start_secured`]) serves TLS ([`SinkTls`]: a CA and server
//! certificate generated at start) and/or requires SASL/SCRAM-SHA-256 (SaslHandshake v1 and
//! SaslAuthenticate v0–2, [`ScramServer`]) before anything but ApiVersions; its Metadata answer
//! names its own (TLS) listener. Every sink records each connection's set-up time: from accept
//! (before the TLS handshake) to the first request after ApiVersions and SASL, see
//! [`AckSink::take_setup_times`].
//!
//! A *stalled* sink ([`AckSink::start_stalled`]) answers ApiVersions, Metadata and
//! InitProducerId the same way but never answers a Produce request: [`StallMode::Silent`]
//! keeps reading and drops them, [`StallMode::NoRead`] stops reading the connection after the
//! first one, so the client's socket buffers fill and its unsent request bytes stay with it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    TopicName,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::secure::{ScramExchange, ScramServer, SinkTls, SCRAM_MECHANISM};

/// `(api_key, min, max)` the sink announces. Fetch is announced but never answered: librdkafka
/// enables record batch v2 only if the broker has Produce ≥ 3 *and* Fetch ≥ 4, and otherwise
/// falls back to the old message format (magic 0). SaslHandshake from v1 only (v0 would mean
/// unframed SASL tokens).
const API_VERSIONS: [(i16, i16, i16); 7] = [
    (0, 3, 9),  // Produce
    (1, 4, 12), // Fetch
    (3, 0, 12), // Metadata
    (17, 1, 1), // SaslHandshake
    (18, 0, 3), // ApiVersions
    (22, 0, 4), // InitProducerId
    (36, 0, 2), // SaslAuthenticate
];
/// The sink's broker id.
const NODE: i32 = 0;
/// Kafka's UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's UNSUPPORTED_SASL_MECHANISM.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// Kafka's ILLEGAL_SASL_STATE.
const ILLEGAL_SASL_STATE: i16 = 34;
/// Kafka's SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// What a secured sink requires of its clients (see [`AckSink::start_secured`]).
#[derive(Debug, Clone, Default)]
pub struct SinkSecurity {
    /// Serve TLS (a CA and server certificate generated at start).
    pub tls: bool,
    /// Require SASL/SCRAM-SHA-256 with this `(user, password)`.
    pub scram: Option<(String, String)>,
}

/// How a stalled sink treats Produce requests (neither ever gets an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallMode {
    /// Reads every Produce request and drops it: a broker that is alive on the network but never
    /// completes a write (e.g. stuck waiting for replicas). The client's request bytes leave it.
    Silent,
    /// Reads the first Produce request on a connection, then never reads that connection again:
    /// a broker that accepts nothing. The kernel's socket buffers fill, then the client holds
    /// every request it could not write, on top of the batches buffered for it — the harsher
    /// case for the client's memory.
    NoRead,
}

impl StallMode {
    /// `"silent"` or `"no-read"`.
    pub fn name(self) -> &'static str {
        match self {
            StallMode::Silent => "silent",
            StallMode::NoRead => "no-read",
        }
    }

    /// Parses [`StallMode::name`]'s output.
    pub fn parse(s: &str) -> Result<StallMode> {
        match s {
            "silent" => Ok(StallMode::Silent),
            "no-read" => Ok(StallMode::NoRead),
            other => bail!("unknown stall mode {other:?} (silent, no-read)"),
        }
    }
}

/// What the sink has acknowledged so far.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Produce requests answered (or, for acks=0, read).
    pub produce_requests: AtomicU64,
    /// Records in those requests.
    pub records: AtomicU64,
    /// Old-format (magic 0/1) messages seen: a client that sends them is not benchmarking the
    /// current format.
    pub old_format_messages: AtomicU64,
    /// Produce requests a stalled sink read and left unanswered.
    pub produce_unanswered: AtomicU64,
    /// Set-up time of each connection so far (see [`AckSink::take_setup_times`]).
    setup_times: Mutex<Vec<Duration>>,
}

struct Shared {
    partitions: i32,
    /// `Some`: never answer Produce.
    stall: Option<StallMode>,
    /// Next offset per (topic, partition).
    offsets: Mutex<HashMap<(String, i32), i64>>,
    next_producer_id: AtomicI64,
    counters: SinkCounters,
    tls: Option<SinkTls>,
    scram: Option<ScramServer>,
}

/// A running ack sink; stops when dropped.
pub struct AckSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AckSink {
    /// Starts a sink on `127.0.0.1:0` whose topics all have `partitions` partitions.
    pub fn start(partitions: i32) -> Result<AckSink> {
        Self::start_with(partitions, || {})
    }

    /// Starts a sink that answers everything but Produce, which it never answers (`mode` says
    /// whether it keeps reading the connection). For measuring a client blocked on a stalled
    /// broker.
    pub fn start_stalled(partitions: i32, mode: StallMode) -> Result<AckSink> {
        Self::start_inner(partitions, Some(mode), SinkSecurity::default(), || {})
    }

    /// Starts a sink serving TLS and/or requiring SASL/SCRAM-SHA-256, as `security` says; the
    /// clients trust [`AckSink::tls`]'s CA.
    pub fn start_secured(partitions: i32, security: SinkSecurity) -> Result<AckSink> {
        Self::start_inner(partitions, None, security, || {})
    }

    /// Like [`AckSink::start`], running `on_thread_start` first on the sink's own thread (the
    /// allocation counter uses it to leave the sink's allocations out).
    pub fn start_with(
        partitions: i32,
        on_thread_start: impl FnOnce() + Send + 'static,
    ) -> Result<AckSink> {
        Self::start_inner(partitions, None, SinkSecurity::default(), on_thread_start)
    }

    fn start_inner(
        partitions: i32,
        stall: Option<StallMode>,
        security: SinkSecurity,
        on_thread_start: impl FnOnce() + Send + 'static,
    ) -> Result<AckSink> {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the ack sink")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared {
            partitions: partitions.max(1),
            stall,
            offsets: Mutex::new(HashMap::new()),
            next_producer_id: AtomicI64::new(1000),
            counters: SinkCounters::default(),
            tls: if security.tls {
                Some(SinkTls::generate()?)
            } else {
                None
            },
            scram: match &security.scram {
                Some((user, password)) => Some(ScramServer::new(user, password)?),
                None => None,
            },
        });
        let (stop, stopped) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ack-sink".into())
            .spawn(move || {
                on_thread_start();
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("ack sink: cannot start runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("ack sink: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, thread_shared) => {}
                    }
                });
            })?;
        Ok(AckSink {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// What has been acknowledged so far.
    pub fn counters(&self) -> &SinkCounters {
        &self.shared.counters
    }

    /// The TLS material of a sink started with TLS (its CA is what clients trust).
    pub fn tls(&self) -> Option<&SinkTls> {
        self.shared.tls.as_ref()
    }

    /// The set-up time of every connection ready since the last call, in the order they became
    /// ready: from accept (before any TLS handshake) to the first request after ApiVersions and
    /// SASL (so TLS handshake, ApiVersions and SASL round trips, and the client's own work in
    /// between). Connections closed before that are not counted.
    pub fn take_setup_times(&self) -> Vec<Duration> {
        let mut times = self
            .shared
            .counters
            .setup_times
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *times)
    }
}

impl Drop for AckSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let accepted = Instant::now();
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            // A client closing its connection is the normal end; protocol errors are reported.
            let served = match shared.tls.as_ref().map(|t| t.acceptor.clone()) {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => serve(tls, shared, port, accepted).await,
                    Err(e) => Err(anyhow!("TLS handshake: {e}")),
                },
                None => serve(stream, shared, port, accepted).await,
            };
            if let Err(e) = served {
                eprintln!("ack sink: connection closed: {e:#}");
            }
        });
    }
}

/// One connection's state.
struct Conn {
    accepted: Instant,
    /// A request other than ApiVersions and SASL arrived (the set-up time is recorded).
    ready: bool,
    /// SASL: the mechanism was accepted by SaslHandshake.
    handshaken: bool,
    /// SASL: between the server's first and final SCRAM messages.
    exchange: Option<ScramExchange>,
    /// SASL done (always true without SASL).
    authenticated: bool,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    shared: Arc<Shared>,
    port: u16,
    accepted: Instant,
) -> Result<()> {
    let mut input = BytesMut::with_capacity(1 << 20);
    let mut output = BytesMut::with_capacity(1 << 16);
    let mut conn = Conn {
        accepted,
        ready: false,
        handshaken: false,
        exchange: None,
        authenticated: shared.scram.is_none(),
    };
    loop {
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        while input.len() >= 4 {
            let size = i32::from_be_bytes([input[0], input[1], input[2], input[3]]);
            let size = usize::try_from(size).map_err(|_| anyhow!("negative frame size"))?;
            if input.len() < 4 + size {
                input.reserve(4 + size - input.len());
                break;
            }
            input.advance(4);
            let frame = input.split_to(size).freeze();
            if answer(frame, &shared, port, &mut conn, &mut output)? == Next::StopReading {
                // Answers to requests before the Produce still go out; then the connection
                // stays open and unread until the client closes it or the sink stops.
                if !output.is_empty() {
                    stream.write_all(&output).await?;
                    stream.flush().await?;
                }
                std::future::pending::<()>().await;
            }
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            // A no-op on TCP; TLS may hold records back until flushed.
            stream.flush().await?;
            output.clear();
        }
    }
}

/// What the connection does after a request.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Continue,
    /// A [`StallMode::NoRead`] sink read its Produce request.
    StopReading,
}

/// Decodes one request and appends its response frame (if any) to `out`.
fn answer(
    mut frame: Bytes,
    shared: &Shared,
    port: u16,
    conn: &mut Conn,
    out: &mut BytesMut,
) -> Result<Next> {
    let header = decode_request_header_from_buffer(&mut frame)?;
    let version = header.request_api_version;
    let key = ApiKey::try_from(header.request_api_key)
        .map_err(|_| anyhow!("unknown api key {}", header.request_api_key))?;
    let set_up = matches!(
        key,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    );
    if !set_up {
        if !conn.authenticated {
            bail!("{key:?} before SASL authentication");
        }
        if !conn.ready {
            conn.ready = true;
            shared
                .counters
                .setup_times
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn.accepted.elapsed());
        }
    }
    match key {
        ApiKey::SaslHandshake => {
            let request = SaslHandshakeRequest::decode(&mut frame, version)?;
            let ok = shared.scram.is_some() && &*request.mechanism == SCRAM_MECHANISM;
            conn.handshaken = ok;
            let mechanisms = match shared.scram {
                Some(_) => vec![StrBytes::from_static_str(SCRAM_MECHANISM)],
                None => Vec::new(),
            };
            let response = SaslHandshakeResponse::default()
                .with_error_code(if ok { 0 } else { UNSUPPORTED_SASL_MECHANISM })
                .with_mechanisms(mechanisms);
            respond(out, &header, version, &response)?;
        }
        ApiKey::SaslAuthenticate => {
            let request = SaslAuthenticateRequest::decode(&mut frame, version)?;
            let step = match (&shared.scram, conn.handshaken, conn.exchange.take()) {
                (Some(scram), true, None) if !conn.authenticated => scram
                    .first(&request.auth_bytes)
                    .map(|(ex, reply)| {
                        conn.exchange = Some(ex);
                        reply
                    })
                    .map_err(|e| (SASL_AUTHENTICATION_FAILED, e)),
                (Some(scram), true, Some(ex)) => scram
                    .finish(&ex, &request.auth_bytes)
                    .inspect(|_| conn.authenticated = true)
                    .map_err(|e| (SASL_AUTHENTICATION_FAILED, e)),
                _ => Err((ILLEGAL_SASL_STATE, anyhow!("SaslAuthenticate out of turn"))),
            };
            let response = match &step {
                Ok(reply) => SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(reply.clone()))
                    .with_session_lifetime_ms(0),
                Err((code, e)) => SaslAuthenticateResponse::default()
                    .with_error_code(*code)
                    .with_error_message(Some(StrBytes::from_string(format!("{e:#}")))),
            };
            respond(out, &header, version, &response)?;
        }
        ApiKey::ApiVersions => {
            let keys = API_VERSIONS
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect();
            let response = ApiVersionsResponse::default().with_api_keys(keys);
            if version > 3 {
                // As Kafka: UNSUPPORTED_VERSION at v0, listing what we do support.
                let response = response.with_error_code(UNSUPPORTED_VERSION);
                respond(out, &header, 0, &response)?;
            } else {
                respond(out, &header, version, &response)?;
            }
        }
        ApiKey::Metadata => {
            let request = MetadataRequest::decode(&mut frame, version)?;
            let names: Vec<TopicName> = request
                .topics
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| t.name)
                .collect();
            let topics = names
                .into_iter()
                .map(|name| topic_metadata(name, shared.partitions))
                .collect();
            let broker = MetadataResponseBroker::default()
                .with_node_id(BrokerId(NODE))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(i32::from(port));
            let response = MetadataResponse::default()
                .with_brokers(vec![broker])
                .with_cluster_id(Some(StrBytes::from_static_str("ack-sink")))
                .with_controller_id(BrokerId(NODE))
                .with_topics(topics);
            respond(out, &header, version, &response)?;
        }
        ApiKey::InitProducerId => {
            let id = shared.next_producer_id.fetch_add(1, Ordering::Relaxed);
            let response = InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0);
            respond(out, &header, version, &response)?;
        }
        ApiKey::Produce => {
            if let Some(mode) = shared.stall {
                // Not even decoded: nothing about it is answered or counted as written.
                shared
                    .counters
                    .produce_unanswered
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(match mode {
                    StallMode::Silent => Next::Continue,
                    StallMode::NoRead => Next::StopReading,
                });
            }
            let request = ProduceRequest::decode(&mut frame, version)?;
            let mut records_total = 0u64;
            let mut old_total = 0u64;
            let mut responses = Vec::with_capacity(request.topic_data.len());
            {
                let mut offsets = shared.offsets.lock().unwrap_or_else(|e| e.into_inner());
                for topic in request.topic_data {
                    let mut partitions = Vec::with_capacity(topic.partition_data.len());
                    for p in topic.partition_data {
                        let (count, old) = p.records.as_ref().map(count_records).unwrap_or((0, 0));
                        records_total += count;
                        old_total += old;
                        let next = offsets
                            .entry((topic.name.0.to_string(), p.index))
                            .or_insert(0);
                        let base = *next;
                        *next += count as i64;
                        partitions.push(
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_base_offset(base)
                                .with_log_append_time_ms(-1),
                        );
                    }
                    responses.push(
                        TopicProduceResponse::default()
                            .with_name(topic.name)
                            .with_topic_id(topic.topic_id)
                            .with_partition_responses(partitions),
                    );
                }
            }
            shared
                .counters
                .produce_requests
                .fetch_add(1, Ordering::Relaxed);
            shared
                .counters
                .records
                .fetch_add(records_total, Ordering::Relaxed);
            shared
                .counters
                .old_format_messages
                .fetch_add(old_total, Ordering::Relaxed);
            if request.acks == 0 {
                return Ok(Next::Continue);
            }
            let response = ProduceResponse::default().with_responses(responses);
            respond(out, &header, version, &response)?;
        }
        other => bail!("the ack sink does not answer {other:?}"),
    }
    Ok(Next::Continue)
}

fn topic_metadata(name: TopicName, partitions: i32) -> MetadataResponseTopic {
    // A stable, non-zero topic id from the name (v10+ clients look at it).
    let mut h: u128 = 0x6b70_726f_6475_6365_7200_0000_0000_0001;
    for b in name.0.as_bytes() {
        h = h.rotate_left(7) ^ u128::from(*b);
    }
    MetadataResponseTopic::default()
        .with_name(Some(name))
        .with_topic_id(uuid::Uuid::from_u128(h | 1))
        .with_partitions(
            (0..partitions)
                .map(|i| {
                    MetadataResponsePartition::default()
                        .with_partition_index(i)
                        .with_leader_id(BrokerId(NODE))
                        .with_replica_nodes(vec![BrokerId(NODE)])
                        .with_isr_nodes(vec![BrokerId(NODE)])
                })
                .collect(),
        )
}

/// Records in a Produce partition's data: the sum of the v2 batches' record counts (an old
/// format message, magic 0 or 1, counts as one).
/// Returns `(records, of which old-format messages)`.
fn count_records(records: &Bytes) -> (u64, u64) {
    // Every entry starts with offset i64, length i32 (bytes after this field); magic is at
    // byte 16; a v2 batch has its record count as i32 at byte 57.
    let (mut total, mut old) = (0u64, 0u64);
    let mut rest = &records[..];
    while rest.len() >= 17 {
        let len = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let Ok(len) = usize::try_from(len) else { break };
        total += match rest.get(57..61) {
            Some(c) if rest[16] == 2 => {
                u64::try_from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or(0)
            }
            _ => {
                old += 1;
                1
            }
        };
        let end = (12 + len).min(rest.len());
        rest = &rest[end..];
    }
    (total, old)
}

fn respond<T: Encodable + HeaderVersion>(
    out: &mut BytesMut,
    request: &RequestHeader,
    version: i16,
    body: &T,
) -> Result<()> {
    let start = out.len();
    out.put_i32(0);
    // ApiVersions answers always use header v0, whatever the request's version.
    let header_version = if request.request_api_key == ApiKey::ApiVersions as i16 {
        0
    } else {
        T::header_version(version)
    };
    ResponseHeader::default()
        .with_correlation_id(request.correlation_id)
        .encode(out, header_version)?;
    body.encode(out, version)?;
    let len = i32::try_from(out.len() - start - 4).map_err(|_| anyhow!("response too large"))?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_across_batches() {
        let mut buf = BytesMut::new();
        for count in [3i32, 5] {
            let mut batch = vec![0u8; 61 + 10];
            let len = (batch.len() - 12) as i32;
            batch[8..12].copy_from_slice(&len.to_be_bytes());
            batch[16] = 2;
            batch[57..61].copy_from_slice(&count.to_be_bytes());
            buf.extend_from_slice(&batch);
        }
        // An old-format message counts as one record.
        let mut old = vec![0u8; 40];
        old[8..12].copy_from_slice(&28i32.to_be_bytes());
        buf.extend_from_slice(&old);
        assert_eq!(count_records(&buf.freeze()), (9, 1));
        assert_eq!(count_records(&Bytes::from_static(b"short")), (0, 0));
    }
}
