//! Helpers: requests built and answers decoded with kafka-protocol's types; record batches built
//! with its `RecordBatchEncoder` and, for compressed ones, the pure-Rust codecs framed as Java
//! frames them.

#![allow(dead_code)]

use std::io::Write;

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kproducer_mock::{ClusterConfig, MockCluster, Outcome};

pub const PRODUCE: i16 = 0;
pub const METADATA: i16 = 3;
pub const FIND_COORDINATOR: i16 = 10;
pub const API_VERSIONS: i16 = 18;
pub const CREATE_TOPICS: i16 = 19;
pub const INIT_PRODUCER_ID: i16 = 22;

/// A request frame (no size prefix) for `body` at `version`.
pub fn frame<R: Request>(version: i16, correlation_id: i32, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("test")))
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// The reply frame of an outcome, or a panic naming the outcome.
pub fn reply_frame(o: Outcome) -> Bytes {
    match o {
        Outcome::Reply { frame, .. } => frame,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// Decodes a response frame (with its size prefix), checking size and correlation id.
pub fn decode<R: Request>(version: i16, correlation_id: i32, frame: &Bytes) -> R::Response {
    decode_with_header::<R::Response>(
        R::Response::header_version(version),
        version,
        correlation_id,
        frame,
    )
}

pub fn decode_with_header<M: Decodable>(
    header_version: i16,
    version: i16,
    correlation_id: i32,
    frame: &Bytes,
) -> M {
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(size, frame.len() - 4, "size prefix");
    let mut b = frame.slice(4..);
    let header = ResponseHeader::decode(&mut b, header_version).unwrap();
    assert_eq!(header.correlation_id, correlation_id);
    let m = M::decode(&mut b, version).unwrap();
    assert!(b.is_empty(), "{} bytes left after the response", b.len());
    m
}

/// Sends one request to `broker` and decodes the answer.
pub fn call<R: Request>(c: &mut MockCluster, broker: i32, version: i16, body: &R) -> R::Response {
    call_at(c, broker, version, body, 1_000)
}

pub fn call_at<R: Request>(
    c: &mut MockCluster,
    broker: i32,
    version: i16,
    body: &R,
    now_ms: i64,
) -> R::Response {
    let f = frame(version, 42, body);
    let o = c.handle_request(broker, &f, now_ms);
    decode::<R>(version, 42, &reply_frame(o))
}

/// InitProducerId for an idempotent producer (kafka-protocol's default has an empty
/// transactional id, not a null one).
pub fn init_pid() -> InitProducerIdRequest {
    InitProducerIdRequest::default().with_transactional_id(None)
}

pub fn cluster(brokers: i32) -> MockCluster {
    MockCluster::new(ClusterConfig {
        brokers,
        ..ClusterConfig::default()
    })
}

/// What goes into a test batch.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub values: Vec<Vec<u8>>,
    pub compression: Compression,
    pub transactional: bool,
    pub timestamp: i64,
}

impl Default for BatchSpec {
    fn default() -> Self {
        Self {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            values: vec![b"v".to_vec()],
            compression: Compression::None,
            transactional: false,
            timestamp: 1_000,
        }
    }
}

impl BatchSpec {
    pub fn idempotent(pid: i64, epoch: i16, seq: i32, n: usize) -> Self {
        Self {
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            values: (0..n).map(|i| format!("v{seq}-{i}").into_bytes()).collect(),
            ..Self::default()
        }
    }
    pub fn values(n: usize) -> Self {
        Self {
            values: (0..n).map(|i| format!("value-{i}").into_bytes()).collect(),
            ..Self::default()
        }
    }
}

/// xerial framing as Java's `SnappyOutputStream` writes it.
pub fn xerial_snappy(data: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
    ];
    for c in data.chunks(32 * 1024) {
        let b = snap::raw::Encoder::new().compress_vec(c).unwrap();
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

pub fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Snappy => xerial_snappy(data),
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

/// A v2 record batch (base offset 0) as a producer sends it.
pub fn batch(spec: &BatchSpec) -> Bytes {
    let records: Vec<Record> = spec
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("h"),
                Some(Bytes::from(format!("{i}"))),
            );
            Record {
                transactional: spec.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: spec.producer_id,
                producer_epoch: spec.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // kafka-protocol's encoder keeps records in one batch while offset - sequence
                // stays constant, and writes the first record's sequence as the base.
                sequence: spec.base_sequence.wrapping_add(i as i32),
                timestamp: spec.timestamp + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(v.clone())),
                headers,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: spec.compression,
    };
    let compressor =
        |records: &mut BytesMut, out: &mut BytesMut, c: Compression| -> anyhow::Result<()> {
            out.extend_from_slice(&compress(c, records));
            Ok(())
        };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        records.iter(),
        &opts,
        Some(compressor),
    )
    .unwrap();
    buf.freeze()
}

/// Sets a header field of a batch and recomputes its CRC (for crafting invalid batches).
pub fn patch(batch: &Bytes, at: usize, bytes: &[u8]) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    b[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

pub fn produce_request(acks: i16, parts: &[(&str, i32, Option<Bytes>)]) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for (t, p, records) in parts {
        let pd = PartitionProduceData::default()
            .with_index(*p)
            .with_records(records.clone());
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partition_data.push(pd),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partition_data(vec![pd]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(topics)
}

/// Produces one batch to one partition at `version` and returns that partition's answer.
pub fn produce_one(
    c: &mut MockCluster,
    broker: i32,
    version: i16,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let req = produce_request(-1, &[(topic, partition, Some(records))]);
    let resp = call(c, broker, version, &req);
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].partition_responses.len(), 1);
    resp.responses[0].partition_responses[0].clone()
}
