//! The Produce answer fast path (`decode_produce_acks`, which reads acknowledgements straight from
//! the frame) against kafka-protocol's full decoder on the same bytes: whenever the fast path
//! reads every partition as acknowledged and the frame is canonical (kafka-protocol reads it and
//! writes it back byte for byte), both must agree partition by partition. (On frames that are
//! not, e.g. a tagged field whose declared size disagrees with its content, the two may read
//! differently: the fast path honours the declared size, as the protocol says; kafka-protocol
//! decodes the field it knows and ignores the size.)
//!
//! Input: byte 0 picks the version (3..=12), the rest is the response frame (header included).
#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ProduceResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use kproducer::internals::network::fuzzing::{decode_response, produce_acks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, frame @ ..] = data else {
        return;
    };
    let v = 3 + (*pick as i16) % 10;
    let Some(fast) = produce_acks(frame, v) else {
        return;
    };
    let Ok(full) = decode_response::<ProduceResponse>(
        Bytes::copy_from_slice(frame),
        0,
        v,
        ProduceResponse::header_version(v),
    ) else {
        return;
    };
    // Canonical frames only: the body must be what kafka-protocol writes for what it read.
    let mut rest = Bytes::copy_from_slice(frame);
    if ResponseHeader::decode(&mut rest, ProduceResponse::header_version(v)).is_err() {
        return;
    }
    let mut again = BytesMut::new();
    if full.encode(&mut again, v).is_err() || again[..] != rest[..] {
        return;
    }
    let slow: Vec<(Vec<u8>, i32, i64, i64)> = full
        .responses
        .iter()
        .flat_map(|t| {
            t.partition_responses.iter().map(move |p| {
                assert_eq!(p.error_code, 0, "the fast path took an error for a success");
                (
                    t.name.0.as_bytes().to_vec(),
                    p.index,
                    p.base_offset,
                    p.log_append_time_ms,
                )
            })
        })
        .collect();
    assert_eq!(fast, slow, "v{v}: the two decoders disagree");
});
