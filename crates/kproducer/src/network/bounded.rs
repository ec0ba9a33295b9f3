//! Array counts checked against the bytes actually present, before `kafka-protocol` decodes a
//! response.
//!
//! `kafka-protocol` sizes each array with `Vec::with_capacity(count)` from the count on the wire,
//! so a corrupt or hostile 12-byte answer claiming 30 million topics would make it allocate
//! gigabytes (and abort the process). This walk follows the same layout without allocating and
//! rejects any count that the remaining bytes can't hold, given the smallest wire size of one
//! element. It covers the responses with arrays that the producer decodes: Produce, Metadata,
//! the transactional FindCoordinator (v4+), AddPartitionsToTxn (v0–3) and TxnOffsetCommit, and
//! GetTelemetrySubscriptions (ApiVersions has its own bounded decoder; InitProducerId,
//! AddOffsetsToTxn, EndTxn and PushTelemetry have no arrays).

use kafka_protocol::messages::ApiKey;

/// Why a response was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub String);

type R<T> = Result<T, Malformed>;

pub(crate) struct Walk<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) flexible: bool,
}

impl<'a> Walk<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> R<()> {
        if n > self.remaining() {
            return Err(Malformed(format!(
                "field of {n} bytes at offset {} but only {} left",
                self.pos,
                self.remaining()
            )));
        }
        self.pos += n;
        Ok(())
    }

    pub(crate) fn i32(&mut self) -> R<i32> {
        let at = self.pos;
        self.take(4)?;
        let b = &self.buf[at..at + 4];
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn i16(&mut self) -> R<i16> {
        let at = self.pos;
        self.take(2)?;
        Ok(i16::from_be_bytes([self.buf[at], self.buf[at + 1]]))
    }

    fn uvarint(&mut self) -> R<u32> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let at = self.pos;
            self.take(1)?;
            let byte = self.buf[at];
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed("varint longer than 5 bytes".into()))
    }

    /// A string's bytes (`None`: null), borrowed from the buffer.
    pub(crate) fn str_bytes(&mut self) -> R<Option<&'a [u8]>> {
        let len = if self.flexible {
            match self.uvarint()? {
                0 => return Ok(None),
                n => n as usize - 1,
            }
        } else {
            match self.i16()? {
                -1 => return Ok(None),
                n if n < 0 => return Err(Malformed(format!("negative string length {n}"))),
                n => n as usize,
            }
        };
        let at = self.pos;
        self.take(len)?;
        Ok(Some(&self.buf[at..at + len]))
    }

    /// A string, nullable or not (the length prefix tells; we only need to skip it).
    pub(crate) fn string(&mut self) -> R<()> {
        let len = if self.flexible {
            (self.uvarint()? as usize).saturating_sub(1)
        } else {
            usize::try_from(self.i16()?).unwrap_or(0)
        };
        self.take(len)
    }

    /// An array's element count, refused unless `count * min_element` bytes remain.
    pub(crate) fn array(&mut self, min_element: usize) -> R<usize> {
        let count = if self.flexible {
            (self.uvarint()? as usize).saturating_sub(1)
        } else {
            usize::try_from(self.i32()?).unwrap_or(0)
        };
        if count.saturating_mul(min_element.max(1)) > self.remaining() {
            return Err(Malformed(format!(
                "array of {count} elements claimed with only {} bytes left",
                self.remaining()
            )));
        }
        Ok(count)
    }

    /// Tagged fields (flexible versions only); `known` walks the tags it knows and returns
    /// `false` for others, which are skipped by their size.
    fn tagged(&mut self, known: &mut dyn FnMut(u32, &mut Walk<'a>) -> R<bool>) -> R<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            if !known(tag, self)? {
                self.take(size)?;
            }
        }
        Ok(())
    }

    pub(crate) fn no_tags(&mut self) -> R<()> {
        self.tagged(&mut |_, _| Ok(false))
    }
}

/// Checks a response body (after the response header) before it is decoded.
pub(crate) fn check(api_key: i16, version: i16, body: &[u8]) -> Result<(), Malformed> {
    if api_key == ApiKey::Produce as i16 {
        produce(body, version)
    } else if api_key == ApiKey::Metadata as i16 {
        metadata(body, version)
    } else if api_key == ApiKey::FindCoordinator as i16 {
        find_coordinator(body, version)
    } else if api_key == ApiKey::AddPartitionsToTxn as i16
        || api_key == ApiKey::TxnOffsetCommit as i16
    {
        topic_partition_errors(body, version, 3)
    } else if api_key == ApiKey::GetTelemetrySubscriptions as i16 {
        telemetry_subscriptions(body)
    } else {
        Ok(())
    }
}

/// GetTelemetrySubscriptions (v0, flexible): fixed fields, then the accepted compression types
/// (one byte each), more fixed fields and the requested metric prefixes (strings).
fn telemetry_subscriptions(body: &[u8]) -> R<()> {
    let mut w = Walk {
        buf: body,
        pos: 0,
        flexible: true,
    };
    w.take(4 + 2 + 16 + 4)?; // throttle, error, client instance id, subscription id
    let codecs = w.array(1)?;
    w.take(codecs)?;
    w.take(4 + 4 + 1)?; // push interval, max bytes, delta temporality
    let metrics = w.array(1)?;
    for _ in 0..metrics {
        w.string()?;
    }
    w.no_tags()
}

/// FindCoordinator: v4+ answers an array of coordinators.
fn find_coordinator(body: &[u8], v: i16) -> R<()> {
    if v < 4 {
        return Ok(()); // no arrays
    }
    let mut w = Walk {
        buf: body,
        pos: 0,
        flexible: true,
    };
    w.take(4)?; // throttle
                // key, node id, host, port, error code, message, tags: at least 14 bytes.
    let coordinators = w.array(14)?;
    for _ in 0..coordinators {
        w.string()?;
        w.take(4)?;
        w.string()?;
        w.take(4 + 2)?;
        w.string()?;
        w.no_tags()?;
    }
    w.no_tags()
}

/// AddPartitionsToTxn v0–3 and TxnOffsetCommit: throttle time, then topics, each with
/// partitions of (index, error code). Flexible from `flexible_from`.
fn topic_partition_errors(body: &[u8], v: i16, flexible_from: i16) -> R<()> {
    let mut w = Walk {
        buf: body,
        pos: 0,
        flexible: v >= flexible_from,
    };
    w.take(4)?;
    let topics = w.array(2)?;
    for _ in 0..topics {
        w.string()?;
        let partitions = w.array(6)?;
        for _ in 0..partitions {
            w.take(4 + 2)?;
            w.no_tags()?;
        }
        w.no_tags()?;
    }
    w.no_tags()
}

fn produce(body: &[u8], v: i16) -> R<()> {
    produce_partitions(body, v).map(|_| ())
}

/// Walks a Produce response body and returns how many partitions it answers (so an answer can
/// be held to the request it answers before anything is decoded).
pub(crate) fn produce_partitions(body: &[u8], v: i16) -> R<usize> {
    let mut total = 0usize;
    let mut w = Walk {
        buf: body,
        pos: 0,
        flexible: v >= 9,
    };
    let topics = w.array(3)?;
    for _ in 0..topics {
        if v <= 12 {
            w.string()?;
        } else {
            w.take(16)?; // topic id
        }
        let partitions = w.array(22)?;
        total += partitions;
        for _ in 0..partitions {
            w.take(4 + 2 + 8 + 8)?; // index, error, base offset, log append time
            if v >= 5 {
                w.take(8)?; // log start offset
            }
            if v >= 8 {
                let errors = w.array(5)?;
                for _ in 0..errors {
                    w.take(4)?;
                    w.string()?;
                    w.no_tags()?;
                }
                w.string()?; // error message
            }
            w.tagged(&mut |tag, w| {
                if tag == 0 && v >= 10 {
                    w.take(8)?; // current leader id and epoch
                    w.no_tags()?;
                    Ok(true)
                } else {
                    Ok(false)
                }
            })?;
        }
        w.no_tags()?;
    }
    w.take(4)?; // throttle time
    let endpoints_ok = w.tagged(&mut |tag, w| {
        if tag == 0 && v >= 10 {
            let endpoints = w.array(11)?;
            for _ in 0..endpoints {
                w.take(4)?;
                w.string()?;
                w.take(4)?;
                w.string()?;
                w.no_tags()?;
            }
            Ok(true)
        } else {
            Ok(false)
        }
    });
    endpoints_ok.map(|()| total)
}

fn metadata(body: &[u8], v: i16) -> R<()> {
    let mut w = Walk {
        buf: body,
        pos: 0,
        flexible: v >= 9,
    };
    if v >= 3 {
        w.take(4)?;
    }
    let brokers = w.array(9)?;
    for _ in 0..brokers {
        w.take(4)?;
        w.string()?;
        w.take(4)?;
        if v >= 1 {
            w.string()?;
        }
        w.no_tags()?;
    }
    if v >= 2 {
        w.string()?;
    }
    if v >= 1 {
        w.take(4)?;
    }
    let topics = w.array(4)?;
    for _ in 0..topics {
        w.take(2)?;
        w.string()?;
        if v >= 10 {
            w.take(16)?;
        }
        if v >= 1 {
            w.take(1)?;
        }
        let partitions = w.array(10)?;
        for _ in 0..partitions {
            w.take(2 + 4 + 4)?;
            if v >= 7 {
                w.take(4)?;
            }
            let lists = if v >= 5 { 3 } else { 2 };
            for _ in 0..lists {
                let n = w.array(4)?;
                w.take(n * 4)?;
            }
            w.no_tags()?;
        }
        if v >= 8 {
            w.take(4)?;
        }
        w.no_tags()?;
    }
    if (8..=10).contains(&v) {
        w.take(4)?;
    }
    if v >= 13 {
        w.take(2)?;
    }
    w.no_tags()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::produce_response::{
        LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{BrokerId, MetadataResponse, ProduceResponse, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encode<T: Encodable>(m: &T, v: i16) -> Vec<u8> {
        let mut b = BytesMut::new();
        m.encode(&mut b, v).expect("encodes");
        b.to_vec()
    }

    fn produce_response() -> ProduceResponse {
        ProduceResponse::default()
            .with_responses(vec![TopicProduceResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("orders")))
                .with_partition_responses(vec![
                    PartitionProduceResponse::default()
                        .with_index(0)
                        .with_base_offset(42)
                        .with_current_leader(
                            LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(2))
                                .with_leader_epoch(3),
                        ),
                    PartitionProduceResponse::default().with_index(1),
                ])])
            .with_node_endpoints(vec![NodeEndpoint::default()
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("h"))
                .with_port(9092)])
    }

    #[test]
    fn transactional_answers_are_bounded() {
        use kafka_protocol::messages::add_partitions_to_txn_response::{
            AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse,
            AddPartitionsToTxnTopicResult,
        };
        use kafka_protocol::messages::find_coordinator_response::{
            Coordinator, FindCoordinatorResponse,
        };
        use kafka_protocol::messages::txn_offset_commit_response::{
            TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
        };
        use kafka_protocol::protocol::Encodable;
        let enc = |m: &dyn Fn(&mut bytes::BytesMut)| {
            let mut b = bytes::BytesMut::new();
            m(&mut b);
            b
        };
        for v in 0..=6i16 {
            let r = FindCoordinatorResponse::default().with_coordinators(if v >= 4 {
                vec![Coordinator::default().with_host(StrBytes::from_static_str("h"))]
            } else {
                vec![]
            });
            let b = enc(&|b| r.encode(b, v).unwrap());
            check(ApiKey::FindCoordinator as i16, v, &b).unwrap();
        }
        for v in 0..=3i16 {
            let r = AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(vec![
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_results_by_partition(vec![AddPartitionsToTxnPartitionResult::default()]),
            ]);
            let b = enc(&|b| r.encode(b, v).unwrap());
            check(ApiKey::AddPartitionsToTxn as i16, v, &b).unwrap();
        }
        for v in 0..=5i16 {
            let r = TxnOffsetCommitResponse::default().with_topics(vec![
                TxnOffsetCommitResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![TxnOffsetCommitResponsePartition::default()]),
            ]);
            let b = enc(&|b| r.encode(b, v).unwrap());
            check(ApiKey::TxnOffsetCommit as i16, v, &b).unwrap();
        }
        // A 12-byte answer claiming 2^28 topics is refused before anything is allocated.
        let hostile = [0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0];
        assert!(check(ApiKey::TxnOffsetCommit as i16, 0, &hostile).is_err());
        assert!(check(ApiKey::AddPartitionsToTxn as i16, 1, &hostile).is_err());
        let hostile_v4 = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0];
        assert!(check(ApiKey::FindCoordinator as i16, 4, &hostile_v4).is_err());
    }

    #[test]
    fn telemetry_subscriptions_answers_are_bounded() {
        use kafka_protocol::messages::get_telemetry_subscriptions_response::GetTelemetrySubscriptionsResponse;
        use kafka_protocol::protocol::Encodable;
        let r = GetTelemetrySubscriptionsResponse::default()
            .with_accepted_compression_types(vec![4, 3, 1, 2])
            .with_requested_metrics(vec![
                StrBytes::from_static_str("org.apache.kafka.producer."),
                StrBytes::from_static_str("*"),
            ]);
        let mut b = bytes::BytesMut::new();
        r.encode(&mut b, 0).unwrap();
        check(ApiKey::GetTelemetrySubscriptions as i16, 0, &b).unwrap();
        for cut in 0..b.len() {
            assert!(
                check(ApiKey::GetTelemetrySubscriptions as i16, 0, &b[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // 26 bytes of fixed fields, then a compression list claiming 2^28 entries.
        let mut hostile = vec![0u8; 26];
        hostile.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        assert!(check(ApiKey::GetTelemetrySubscriptions as i16, 0, &hostile).is_err());
    }

    fn metadata_response() -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_partitions(vec![MetadataResponsePartition::default()
                    .with_partition_index(0)
                    .with_leader_id(BrokerId(1))
                    .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                    .with_isr_nodes(vec![BrokerId(1)])])])
    }

    #[test]
    fn valid_responses_pass_at_every_version() {
        for v in 3..=13 {
            let body = encode(&produce_response(), v);
            assert_eq!(check(0, v, &body), Ok(()), "Produce v{v}");
        }
        for v in 0..=13 {
            let body = encode(&metadata_response(), v);
            assert_eq!(check(3, v, &body), Ok(()), "Metadata v{v}");
        }
    }

    #[test]
    fn huge_claimed_counts_are_refused() {
        // The fuzzer's input: a Produce v3 body whose topic count reads as 32,899,072.
        let body = [0x01, 0xf6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert!(check(0, 3, &body).is_err());
        // Every prefix of a valid body claims more than it holds or ends early: refused, no panic.
        for v in [3, 9, 12] {
            let body = encode(&produce_response(), v);
            for cut in 0..body.len() {
                let _ = check(0, v, &body[..cut]);
            }
        }
        let mut body = encode(&metadata_response(), 12);
        body[4] = 0x7f; // brokers count (compact varint) → huge
        body[5] = 0xff;
        let _ = check(3, 12, &body);
        let mut body = encode(&metadata_response(), 1);
        body[0..4].copy_from_slice(&i32::MAX.to_be_bytes()); // brokers count
        assert!(check(3, 1, &body).is_err());
    }
}
