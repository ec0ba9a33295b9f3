//! Response decoding as the producer does it: the broker's bytes go through the reader task's
//! framing (`next_frame`, with the default 100 MiB `max_response_size`), then each frame is
//! decoded at the request's version — Produce with kafka-protocol's decoder (response header
//! included, the full path for answers with errors), Metadata with the producer's bounded reader
//! (`decode_metadata`), ApiVersions with the bounded hand-written decoder used during
//! negotiation. `core_responses` drives the same decoders through the core itself.
//!
//! Input: byte 0 picks the API, byte 1 the version (wrapped into the supported range), the
//! rest is what the socket delivered.
#![no_main]

use bytes::BytesMut;
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::{HeaderVersion, Request};
use kproducer::internals::network::fuzzing::{
    decode_api_versions, decode_metadata, decode_response, next_frame,
};
use libfuzzer_sys::fuzz_target;

/// The driver's largest accepted response.
const MAX_RESPONSE_SIZE: usize = 64 << 20;

fn version_in<R: Request>(pick: u8) -> i16 {
    let (min, max) = (R::VERSIONS.min, R::VERSIONS.max);
    min + (pick as i16) % (max - min + 1)
}

fuzz_target!(|data: &[u8]| {
    let [api, pick, socket @ ..] = data else {
        return;
    };
    let limit = MAX_RESPONSE_SIZE;
    let mut buf = BytesMut::from(socket);
    // The reader task stops at the first framing error (it closes the connection).
    while let Ok(Some(frame)) = next_frame(&mut buf, limit) {
        match api % 3 {
            0 => {
                let v = version_in::<ProduceRequest>(*pick);
                let _ = decode_response::<ProduceResponse>(
                    frame,
                    ProduceRequest::KEY,
                    v,
                    ProduceResponse::header_version(v),
                );
            }
            1 => {
                let v = version_in::<MetadataRequest>(*pick).min(12);
                // The body after the response header (v1 from v9: tagged fields, often none).
                let skip = if v >= 9 { 5 } else { 4 };
                if let Some(body) = frame.get(skip..) {
                    let _ = decode_metadata(body, v);
                }
            }
            _ => {
                // Negotiation: the body after the v0 response header (the correlation id),
                // read at the requested version and, if that fails, at v0 (KIP-511).
                let v = version_in::<ApiVersionsRequest>(*pick);
                let body = frame.get(4..).unwrap_or_default();
                if let Ok((_, versions)) = decode_api_versions(body, v) {
                    let _ = versions.highest_common(0, 3, 12);
                }
                let _ = decode_api_versions(body, 0);
            }
        }
    }
});
