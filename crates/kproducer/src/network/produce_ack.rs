//! A Produce response read without building kafka-protocol's `ProduceResponse`: when every
//! partition succeeded (the steady state), the sender only needs each partition's base offset
//! and LogAppendTime, and decoding the whole message cost two vectors per response. Any error
//! (error code, record errors) defers to the full decoder, which the error handling reads.

use std::ops::Range;

/// A partition the broker acknowledged without error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionAck {
    /// The topic name's bytes in the frame.
    pub topic: Range<usize>,
    /// Partition id.
    pub partition: i32,
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// The broker's LogAppendTime, or -1 (CreateTime).
    pub log_append_time: i64,
}

/// What [`decode_produce_acks`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckDecode {
    /// Every partition succeeded; they are in the output.
    AllAcked,
    /// Some partition carries an error: decode the response fully.
    HasErrors,
}

/// The first flexible ProduceResponse version (compact types, tagged fields, header v1).
const FLEXIBLE: i16 = 9;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("truncated at byte {} (needs {n} more)", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    /// An unsigned varint of at most 5 bytes (a u32), as Java's `ByteUtils.readUnsignedVarint`
    /// reads it: a longer one is malformed. (Reading on to 10 bytes would desynchronise from
    /// every other Kafka decoder on the same bytes; a fuzzed frame showed it.)
    fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v)
                    .map(u64::from)
                    .map_err(|_| "varint above u32".into());
            }
        }
        Err("varint longer than 5 bytes".into())
    }
    /// An array's element count (`None`: null).
    fn count(&mut self, flexible: bool) -> Result<Option<usize>, String> {
        if flexible {
            Ok(match self.uvarint()? {
                0 => None,
                n => Some(usize::try_from(n - 1).map_err(|_| "count too large")?),
            })
        } else {
            let n = self.i32()?;
            Ok(usize::try_from(n).ok())
        }
    }
    /// A (nullable) string's byte range.
    fn string(&mut self, flexible: bool) -> Result<Option<Range<usize>>, String> {
        let len = if flexible {
            match self.uvarint()? {
                0 => return Ok(None),
                n => usize::try_from(n - 1).map_err(|_| "length too large")?,
            }
        } else {
            match usize::try_from(self.i16()?) {
                Ok(n) => n,
                Err(_) => return Ok(None),
            }
        };
        let start = self.pos;
        self.take(len)?;
        Ok(Some(start..self.pos))
    }
    fn skip_tagged_fields(&mut self) -> Result<(), String> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?; // tag
            let size = usize::try_from(self.uvarint()?).map_err(|_| "tag size too large")?;
            self.take(size)?;
        }
        Ok(())
    }
}

/// Reads a Produce response frame (from its correlation id on) at `version` (3..=12),
/// appending its partitions to `out` (allocating nothing once `out` has room; on
/// [`AckDecode::HasErrors`] or an error, some may have been appended: truncate). Malformed bytes are an
/// error (every element read consumes bytes, so a hostile count can't make it loop or grow
/// past the frame's size).
pub fn decode_produce_acks(
    frame: &[u8],
    version: i16,
    out: &mut Vec<PartitionAck>,
) -> Result<AckDecode, String> {
    decode_produce_acks_throttled(frame, version, out, &mut 0)
}

/// [`decode_produce_acks`], also setting `throttle_ms` to the answer's `throttle_time_ms` when
/// every partition succeeded.
pub fn decode_produce_acks_throttled(
    frame: &[u8],
    version: i16,
    out: &mut Vec<PartitionAck>,
    throttle_ms: &mut i32,
) -> Result<AckDecode, String> {
    if !(3..=12).contains(&version) {
        return Err(format!("ProduceResponse v{version} is not read here"));
    }
    let flexible = version >= FLEXIBLE;
    let mut r = Reader { buf: frame, pos: 0 };
    r.i32()?; // correlation id
    if flexible {
        r.skip_tagged_fields()?; // response header v1
    }
    let topics = r.count(flexible)?.unwrap_or(0);
    for _ in 0..topics {
        let topic = r.string(flexible)?.ok_or("null topic name")?;
        std::str::from_utf8(&frame[topic.clone()]).map_err(|_| "topic name is not UTF-8")?;
        let partitions = r.count(flexible)?.unwrap_or(0);
        for _ in 0..partitions {
            let partition = r.i32()?;
            let error_code = r.i16()?;
            let base_offset = r.i64()?;
            let log_append_time = r.i64()?; // v2+
            if version >= 5 {
                r.i64()?; // log_start_offset
            }
            if version >= 8 {
                if r.count(flexible)?.unwrap_or(0) > 0 {
                    return Ok(AckDecode::HasErrors); // record errors
                }
                r.string(flexible)?; // error message
            }
            if error_code != 0 {
                return Ok(AckDecode::HasErrors);
            }
            if flexible {
                r.skip_tagged_fields()?; // current_leader (v10+) lives here
            }
            out.push(PartitionAck {
                topic: topic.clone(),
                partition,
                base_offset,
                log_append_time,
            });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
    }
    *throttle_ms = r.i32()?;
    if flexible {
        r.skip_tagged_fields()?; // node_endpoints (v10+)
    }
    Ok(AckDecode::AllAcked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::produce_response::{
        BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
        TopicProduceResponse,
    };
    use kafka_protocol::messages::{BrokerId, ProduceResponse, ResponseHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    fn frame(resp: &ProduceResponse, version: i16) -> bytes::Bytes {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(42)
            .encode(&mut buf, ProduceResponse::header_version(version))
            .unwrap();
        resp.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    fn ok_response() -> ProduceResponse {
        let part = |i: i32, off: i64, t: i64| {
            PartitionProduceResponse::default()
                .with_index(i)
                .with_base_offset(off)
                .with_log_append_time_ms(t)
                .with_log_start_offset(3)
        };
        ProduceResponse::default()
            .with_responses(vec![
                TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("orders")))
                    .with_partition_responses(vec![part(0, 100, -1), part(2, 7, 1234)]),
                TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("élan-топик")))
                    .with_partition_responses(vec![part(1, 1 << 40, -1)]),
            ])
            .with_throttle_time_ms(5)
    }

    /// A varint longer than 5 bytes is malformed (Java refuses it; kafka-protocol stops after 5
    /// bytes): reading on would parse the rest of the frame out of step with every other decoder.
    #[test]
    fn a_varint_longer_than_five_bytes_is_refused() {
        // v9 (flexible): correlation id, then a header with one tagged field whose tag is a
        // 7-byte varint, size 0, then an empty topics array and throttle time.
        let mut f = vec![
            0, 0, 0, 1, 1, 0x9f, 0x9f, 0x9f, 0x9f, 0x9f, 0x9f, 0x00, 0, 1,
        ];
        f.extend_from_slice(&[0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        let err = decode_produce_acks(&f, 9, &mut out).unwrap_err();
        assert!(err.contains("varint"), "{err}");
        // The same field with a 5-byte tag is fine.
        let mut ok = vec![0, 0, 0, 1, 1, 0x9f, 0x9f, 0x9f, 0x9f, 0x0f, 0x00, 1];
        ok.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert!(matches!(
            decode_produce_acks(&ok, 9, &mut out),
            Ok(AckDecode::AllAcked)
        ));
    }

    /// What kafka-protocol's decoder makes of the same frame, as acks.
    fn reference(frame: &bytes::Bytes, version: i16) -> Vec<(String, i32, i64, i64)> {
        let resp: ProduceResponse = crate::network::frame::decode_response(
            frame.clone(),
            0,
            version,
            ProduceResponse::header_version(version),
        )
        .expect("kafka-protocol decodes it");
        resp.responses
            .iter()
            .flat_map(|t| {
                t.partition_responses.iter().map(|p| {
                    (
                        t.name.0.to_string(),
                        p.index,
                        p.base_offset,
                        p.log_append_time_ms,
                    )
                })
            })
            .collect()
    }

    fn ours(frame: &[u8], acks: &[PartitionAck]) -> Vec<(String, i32, i64, i64)> {
        acks.iter()
            .map(|a| {
                (
                    std::str::from_utf8(&frame[a.topic.clone()])
                        .unwrap()
                        .to_string(),
                    a.partition,
                    a.base_offset,
                    a.log_append_time,
                )
            })
            .collect()
    }

    #[test]
    fn hand_decoded_acks_equal_kafka_protocols_for_every_version() {
        let mut out = Vec::new();
        for version in 3..=12 {
            let mut resp = ok_response();
            if version >= 10 {
                // Tagged fields we skip: a leader hint on a partition, node endpoints.
                resp.responses[0].partition_responses[0].current_leader =
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(2))
                        .with_leader_epoch(9);
                resp.node_endpoints = vec![NodeEndpoint::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("h"))
                    .with_port(9092)];
            }
            let f = frame(&resp, version);
            out.clear();
            let got = decode_produce_acks(&f, version, &mut out).unwrap();
            assert_eq!(got, AckDecode::AllAcked, "v{version}");
            assert_eq!(ours(&f, &out), reference(&f, version), "v{version}");
            assert_eq!(out.len(), 3);
        }
    }

    #[test]
    fn throttle_time_is_read_for_every_version() {
        let mut out = Vec::new();
        for version in 3..=12 {
            let f = frame(&ok_response(), version);
            let mut throttle = -1;
            out.clear();
            let r = decode_produce_acks_throttled(&f, version, &mut out, &mut throttle);
            assert_eq!(r, Ok(AckDecode::AllAcked), "v{version}");
            assert_eq!(throttle, 5, "v{version}");
        }
    }

    #[test]
    fn errors_defer_to_the_full_decoder() {
        let mut out = Vec::new();
        for version in 3..=12 {
            let mut resp = ok_response();
            resp.responses[1].partition_responses[0].error_code = 6; // NOT_LEADER_OR_FOLLOWER
            let f = frame(&resp, version);
            assert_eq!(
                decode_produce_acks(&f, version, &mut out),
                Ok(AckDecode::HasErrors),
                "v{version}"
            );
            if version >= 8 {
                let mut resp = ok_response();
                resp.responses[0].partition_responses[1].record_errors =
                    vec![BatchIndexAndErrorMessage::default().with_batch_index(1)];
                let f = frame(&resp, version);
                assert_eq!(
                    decode_produce_acks(&f, version, &mut out),
                    Ok(AckDecode::HasErrors)
                );
            }
        }
    }

    #[test]
    fn truncated_or_hostile_frames_are_errors_not_panics() {
        let mut out = Vec::new();
        for version in 3..=12 {
            let f = frame(&ok_response(), version);
            for cut in 0..f.len() {
                assert!(
                    decode_produce_acks(&f[..cut], version, &mut out).is_err(),
                    "v{version} cut at {cut}"
                );
            }
        }
        // A huge topic count with no bytes behind it.
        let mut f = BytesMut::new();
        f.put_i32(1);
        f.put_i32(i32::MAX);
        let mut out = Vec::new();
        assert!(decode_produce_acks(&f, 3, &mut out).is_err());
        assert_eq!(out.capacity(), 0, "nothing reserved from the count");
        assert!(decode_produce_acks(&f, 13, &mut out).is_err());
    }

    #[test]
    fn output_vector_is_reused() {
        let mut out = Vec::with_capacity(8);
        let f = frame(&ok_response(), 9);
        decode_produce_acks(&f, 9, &mut out).unwrap();
        let ptr = out.as_ptr();
        out.clear();
        decode_produce_acks(&f, 9, &mut out).unwrap();
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.len(), 3);
    }
}
