//! Response decoding as the producer does it: the broker's bytes go through the reader task's
//! framing (`next_frame`, with the default 100 MiB `max_response_size`), then each frame is
//! decoded at the request's version — Produce and Metadata with kafka-protocol's decoders
//! (response header included), ApiVersions with the bounded hand-written decoder used during
//! negotiation — and a decoded MetadataResponse is applied to a `Metadata`, as the driver does.
//!
//! Input: byte 0 picks the API, byte 1 the version (wrapped into the supported range), the
//! rest is what the socket delivered.
#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use kafka_protocol::protocol::{HeaderVersion, Request};
use kproducer::metadata::Metadata;
use kproducer::network::fuzzing::{decode_api_versions, decode_response, next_frame};
use kproducer::network::ConnectionConfig;
use libfuzzer_sys::fuzz_target;

fn version_in<R: Request>(pick: u8) -> i16 {
    let (min, max) = (R::VERSIONS.min, R::VERSIONS.max);
    min + (pick as i16) % (max - min + 1)
}

fuzz_target!(|data: &[u8]| {
    let [api, pick, socket @ ..] = data else {
        return;
    };
    let limit = ConnectionConfig::default().max_response_size;
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
                let v = version_in::<MetadataRequest>(*pick);
                if let Ok(response) = decode_response::<MetadataResponse>(
                    frame,
                    MetadataRequest::KEY,
                    v,
                    MetadataResponse::header_version(v),
                ) {
                    let now = Instant::now();
                    let mut metadata = Metadata::new(
                        Duration::from_millis(100),
                        Duration::from_secs(300),
                        Duration::from_secs(300),
                    );
                    metadata.add_topic("t", now);
                    metadata.handle_response(&response, now);
                    let cluster = metadata.cluster();
                    if let Some(topic) = cluster.topic("t") {
                        for p in 0..topic.partition_count().min(64) {
                            let _ = cluster.leader_for("t", p);
                        }
                    }
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
