//! The hand-written Produce encoder (the hot path's one hand-written message) on arbitrary
//! topics, partitions and record bytes, read back by kafka-protocol's request decoder: the frame
//! must decode, its size prefix must be right, and every part must come back unchanged.
//!
//! Input: byte 0 picks the version (3..=12), byte 1 acks; then parts `[topic_len, topic…,
//! partition, len_hi, len_lo, records…]` until the input ends. Parts are grouped by topic first,
//! as the sender groups them.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{ProduceRequest, RequestHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion};
use kproducer::internals::network::fuzzing::encode_produce;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, acks, tail @ ..] = data else {
        return;
    };
    let mut rest: &[u8] = tail;
    let v = 3 + (*pick as i16) % 10;
    let mut parts: Vec<(String, i32, Vec<u8>)> = Vec::new();
    while let [tlen, tail @ ..] = rest {
        let tlen = usize::from(*tlen) % 16;
        if tail.len() < tlen + 3 {
            break;
        }
        let topic = String::from_utf8_lossy(&tail[..tlen]).into_owned();
        let partition = i32::from(tail[tlen]);
        let len = (usize::from(tail[tlen + 1]) << 8 | usize::from(tail[tlen + 2])) % 2048;
        let body = &tail[tlen + 3..];
        let take = len.min(body.len());
        parts.push((topic, partition, body[..take].to_vec()));
        rest = &body[take..];
    }
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    let acks = i16::from(*acks as i8);
    let Ok(frame) = encode_produce(acks, 30_000, &parts, v) else {
        return;
    };
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(size + 4, frame.len(), "size prefix");
    let mut buf = Bytes::copy_from_slice(&frame[4..]);
    let header = RequestHeader::decode(&mut buf, ProduceRequest::header_version(v)).expect("header");
    assert_eq!((header.request_api_key, header.request_api_version), (0, v));
    let req = ProduceRequest::decode(&mut buf, v).expect("kafka-protocol reads our request");
    assert!(buf.is_empty(), "trailing bytes");
    assert_eq!(req.acks, acks);
    let back: Vec<(String, i32, Vec<u8>)> = req
        .topic_data
        .iter()
        .flat_map(|t| {
            t.partition_data.iter().map(move |p| {
                (
                    t.name.0.to_string(),
                    p.index,
                    p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default(),
                )
            })
        })
        .collect();
    assert_eq!(back, parts, "v{v}: parts changed on the way");
});
