//! A Metadata answer read straight from the frame into compact types, with memory bounded by the
//! frame: only the topics the producer asked for are kept (16 bytes a partition, less than a
//! partition takes on the wire), every count is checked against the bytes present before
//! anything is allocated, and a broker's answer may not make the client hold more than
//! [`MAX_BROKERS`] brokers or [`MAX_PARTITIONS`] partitions of a topic. kafka-protocol's decoder
//! builds every topic and partition the answer holds, each with three vectors of replicas: a
//! hostile 63 MB answer of 3.5 M partitions took the client to 585 MB.

use super::bounded::{Malformed, Walk};
use crate::metadata::BrokerInfo;

/// Most brokers an answer may list (Kafka clusters have at most a few thousand).
pub(crate) const MAX_BROKERS: usize = 1 << 16;
/// Most partitions an answer may give one topic (Kafka's own guidance stays far below).
pub(crate) const MAX_PARTITIONS: usize = 1 << 20;

/// What the producer keeps of a Metadata answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataAnswer {
    /// The brokers, as advertised.
    pub brokers: Vec<BrokerInfo>,
    /// The topics asked for that the answer mentions.
    pub topics: Vec<TopicAnswer>,
}

/// One topic of a Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAnswer {
    /// Name.
    pub name: String,
    /// The topic's error code (0: none).
    pub error_code: i16,
    /// Its partitions, in the answer's order.
    pub partitions: Vec<PartitionAnswer>,
}

/// One partition of a topic in a Metadata answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionAnswer {
    /// Partition id.
    pub index: i32,
    /// Leader node id (-1: none).
    pub leader: i32,
    /// Leader epoch (-1: unknown).
    pub leader_epoch: i32,
    /// The partition's error code (0: none).
    pub error_code: i16,
}

/// Reads a Metadata response body (after the response header) at `version`, keeping the topics
/// for which `wanted(name)` holds.
pub fn decode_metadata(
    body: &[u8],
    v: i16,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<MetadataAnswer, String> {
    decode(body, v, wanted).map_err(|m| m.0)
}

fn decode(body: &[u8], v: i16, wanted: &dyn Fn(&str) -> bool) -> Result<MetadataAnswer, Malformed> {
    let mut w = Walk {
        buf: body,
        pos: 0,
        flexible: v >= 9,
    };
    if v >= 3 {
        w.take(4)?; // throttle time
    }
    let brokers = w.array(9)?;
    if brokers > MAX_BROKERS {
        return Err(Malformed(format!(
            "the answer lists {brokers} brokers, more than the {MAX_BROKERS} a client accepts"
        )));
    }
    let mut answer = MetadataAnswer {
        brokers: Vec::with_capacity(brokers),
        topics: Vec::new(),
    };
    for _ in 0..brokers {
        let node_id = w.i32()?;
        let host = w
            .str_bytes()?
            .ok_or_else(|| Malformed("a broker without a host".into()))?;
        let port = w.i32()?;
        if v >= 1 {
            w.string()?; // rack
        }
        w.no_tags()?;
        answer.brokers.push(BrokerInfo {
            node_id,
            host: String::from_utf8_lossy(host).into_owned(),
            port,
        });
    }
    if v >= 2 {
        w.string()?; // cluster id
    }
    if v >= 1 {
        w.take(4)?; // controller id
    }
    let topics = w.array(4)?;
    for _ in 0..topics {
        let error_code = w.i16()?;
        let name = w.str_bytes()?;
        if v >= 10 {
            w.take(16)?; // topic id
        }
        if v >= 1 {
            w.take(1)?; // is internal
        }
        let keep = name
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| wanted(n));
        let partitions = w.array(10)?;
        if keep.is_some() && partitions > MAX_PARTITIONS {
            return Err(Malformed(format!(
                "the answer gives topic {} {partitions} partitions, more than the {MAX_PARTITIONS} a client accepts",
                keep.unwrap_or_default()
            )));
        }
        let mut kept = Vec::with_capacity(if keep.is_some() { partitions } else { 0 });
        for _ in 0..partitions {
            let error_code = w.i16()?;
            let index = w.i32()?;
            let leader = w.i32()?;
            let leader_epoch = if v >= 7 { w.i32()? } else { -1 };
            let lists = if v >= 5 { 3 } else { 2 };
            for _ in 0..lists {
                let n = w.array(4)?;
                w.take(n * 4)?;
            }
            w.no_tags()?;
            if keep.is_some() {
                kept.push(PartitionAnswer {
                    index,
                    leader,
                    leader_epoch,
                    error_code,
                });
            }
        }
        if v >= 8 {
            w.take(4)?; // topic authorized operations
        }
        w.no_tags()?;
        if let Some(name) = keep {
            answer.topics.push(TopicAnswer {
                name: name.to_string(),
                error_code,
                partitions: kept,
            });
        }
    }
    if (8..=10).contains(&v) {
        w.take(4)?; // cluster authorized operations
    }
    if v >= 13 {
        w.take(2)?; // top-level error code
    }
    w.no_tags()?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn response() -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(
                (1..=3)
                    .map(|id| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(id))
                            .with_host(StrBytes::from_string(format!("broker-{id}.example")))
                            .with_port(9090 + id)
                            .with_rack(Some(StrBytes::from_static_str("rack-a")))
                    })
                    .collect(),
            )
            .with_cluster_id(Some(StrBytes::from_static_str("c")))
            .with_controller_id(BrokerId(2))
            .with_topics(
                ["orders", "unwanted", "payments"]
                    .iter()
                    .enumerate()
                    .map(|(t, name)| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_static_str(name))))
                            .with_error_code(if t == 2 { 5 } else { 0 })
                            .with_partitions(
                                (0..4)
                                    .map(|p| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(BrokerId(p % 3 + 1))
                                            .with_leader_epoch(7 + p)
                                            .with_error_code(if p == 3 { 9 } else { 0 })
                                            .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                                            .with_isr_nodes(vec![BrokerId(1)])
                                            .with_offline_replicas(vec![BrokerId(3)])
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    #[test]
    fn reads_what_kafka_protocol_writes_at_every_version() {
        let resp = response();
        for v in 1..=12 {
            let mut buf = BytesMut::new();
            resp.encode(&mut buf, v).expect("encodes");
            let a = decode_metadata(&buf, v, &|t| t != "unwanted").expect("decodes");
            assert_eq!(a.brokers.len(), 3, "v{v}");
            assert_eq!(a.brokers[1].host, "broker-2.example");
            assert_eq!(a.brokers[1].port, 9092);
            let names: Vec<&str> = a.topics.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(
                names,
                ["orders", "payments"],
                "v{v}: only the topics asked for"
            );
            assert_eq!(a.topics[1].error_code, 5);
            let p = a.topics[0].partitions[2];
            assert_eq!((p.index, p.leader), (2, 3), "v{v}");
            assert_eq!(p.leader_epoch, if v >= 7 { 9 } else { -1 }, "v{v}");
            assert_eq!(a.topics[0].partitions[3].error_code, 9);
        }
    }

    #[test]
    fn truncated_or_hostile_answers_are_errors() {
        let mut buf = BytesMut::new();
        response().encode(&mut buf, 12).expect("encodes");
        for cut in [1, 5, buf.len() / 2, buf.len() - 1] {
            assert!(
                decode_metadata(&buf[..cut], 12, &|_| true).is_err(),
                "cut at {cut}"
            );
        }
        // A count the bytes can't hold is refused before anything is allocated.
        let claim = [0u8, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(decode_metadata(&claim, 3, &|_| true).is_err());
    }

    #[test]
    fn a_topic_with_more_partitions_than_a_client_accepts_is_refused_by_name() {
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("huge"))))
            .with_partitions(vec![
                MetadataResponsePartition::default();
                MAX_PARTITIONS + 1
            ]);
        let resp = MetadataResponse::default().with_topics(vec![topic]);
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, 12).expect("encodes");
        let err = decode_metadata(&buf, 12, &|_| true).expect_err("refused");
        assert!(err.contains("huge") && err.contains("partitions"), "{err}");
        // Not asked for: skipped, whatever its size.
        let a = decode_metadata(&buf, 12, &|_| false).expect("skipped");
        assert!(a.topics.is_empty());
    }
}
