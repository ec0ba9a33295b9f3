//! Produce (key 0), v3–v12.
//!
//! Per partition, in Kafka 4.x's order (`KafkaApis.handleProduceRequest`,
//! `ReplicaManager.handleProduceAppend`/`appendRecords`/`appendToLocalLog`, then
//! `UnifiedLog.append`):
//! 1. an injected fault error (not appended; NOT_ENOUGH_REPLICAS_AFTER_APPEND is applied after
//!    the append instead);
//! 2. UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not exist (Produce never
//!    auto-creates);
//! 3. `ProduceRequest.validateRecords`: exactly one whole magic-2 batch (INVALID_RECORD), no
//!    zstd before v7 (UNSUPPORTED_COMPRESSION_TYPE), a corrupt batch size or magic
//!    (CORRUPT_MESSAGE);
//! 4. acks other than -1, 0, 1: INVALID_REQUIRED_ACKS;
//! 5. NOT_LEADER_OR_FOLLOWER when this broker does not lead the partition, with the KIP-951
//!    `current_leader` hint and the leader's `node_endpoints` entry from v10;
//! 6. transactional batches: a request holding them without a transactional id is
//!    TRANSACTIONAL_ID_AUTHORIZATION_FAILED as a whole; otherwise each is checked against its
//!    transaction ([`crate::txn::produce_check`], as Kafka's `AddPartitionsToTxnManager`):
//!    with transaction version 2 and Produce v12+ the partition joins the transaction
//!    implicitly; else it must have been added (INVALID_TXN_STATE up to v10,
//!    TRANSACTION_ABORTABLE from v11); an unknown producer id is INVALID_PRODUCER_ID_MAPPING and
//!    a fenced epoch INVALID_PRODUCER_EPOCH;
//! 7. the batch checks of [`crate::batch`], the idempotence rules of
//!    [`crate::producer_state`], then the append.
//!
//! Answers keep the request's topic and partition order. With acks=0 there is no answer, and
//! when any partition failed the connection is closed, as Kafka closes it so that the producer
//! notices. Replication is instant, so acks=1 and acks=-1 behave alike.

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, BrokerId, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::batch::{self, Refusal, ValidationContext};
use crate::cluster::MockCluster;
use crate::codes;
use crate::wire::Reader;

pub(crate) struct PartitionData {
    pub(crate) index: i32,
    pub(crate) records: Option<bytes::Bytes>,
}

pub(crate) struct TopicData {
    pub(crate) name: String,
    pub(crate) partitions: Vec<PartitionData>,
}

pub(crate) struct Request {
    pub(crate) transactional_id: Option<String>,
    pub(crate) acks: i16,
    pub(crate) topics: Vec<TopicData>,
}

impl Request {
    pub(crate) fn units(&self) -> Vec<(String, Option<i32>)> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), Some(p.index))))
            .collect()
    }

    fn has_transactional_records(&self) -> bool {
        self.topics.iter().flat_map(|t| &t.partitions).any(|p| {
            p.records
                .as_ref()
                .and_then(|r| batch::BatchHeader::parse(r))
                .is_some_and(|h| h.magic == 2 && h.is_transactional())
        })
    }
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 9;
    let mut go = || -> crate::wire::WireResult<Request> {
        let transactional_id = r.nullable_string(flexible)?;
        let acks = r.i16()?;
        let _timeout_ms = r.i32()?;
        let n_topics = r.array(flexible)?;
        let mut topics = Vec::new();
        for _ in 0..n_topics {
            let name = r.string(flexible)?;
            let n_parts = r.array(flexible)?;
            let mut partitions = Vec::new();
            for _ in 0..n_parts {
                let index = r.i32()?;
                let records = r.nullable_bytes(flexible)?;
                if flexible {
                    r.skip_tagged_fields()?;
                }
                partitions.push(PartitionData { index, records });
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            topics.push(TopicData { name, partitions });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request {
            transactional_id,
            acks,
            topics,
        })
    };
    go().map_err(|e| e.to_string())
}

/// One partition's answer before encoding.
struct Answer {
    index: i32,
    result: Result<crate::log::Appended, Refusal>,
    /// An error reported although the records were appended (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    after_append: Option<i16>,
    log_start: i64,
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    let whole_request_error = (req.has_transactional_records() && req.transactional_id.is_none())
        .then_some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    let mut answers: Vec<(String, Vec<Answer>)> = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let a = match whole_request_error {
                Some(code) => Answer {
                    index: p.index,
                    result: Err(Refusal::plain(
                        code,
                        "transactional records without a transactional id",
                    )),
                    after_append: None,
                    log_start: -1,
                },
                None => partition(cluster, call, req, &t.name, p),
            };
            parts.push(a);
        }
        answers.push((t.name.clone(), parts));
    }

    // Bookkeeping.
    let mut any_error = false;
    for (topic, parts) in &answers {
        for a in parts {
            let code = match &a.result {
                Ok(ok) => {
                    if ok.duplicate {
                        cluster.stats.duplicates += 1;
                    } else {
                        cluster.stats.batches_appended += 1;
                        cluster.stats.records_appended += ok.records as u64;
                    }
                    a.after_append
                }
                Err(r) => {
                    cluster.stats.note_error(format!(
                        "produce {topic}-{}: error {}: {}",
                        a.index, r.code, r.reason
                    ));
                    Some(r.code)
                }
            };
            if let Some(code) = code {
                any_error = true;
                *cluster.stats.produce_errors.entry(code).or_insert(0) += 1;
            }
        }
    }
    if req.acks == 0 {
        return Ok(if any_error {
            Handled::Close(
                "acks=0 produce failed on a partition: Kafka closes the connection".to_string(),
            )
        } else {
            Handled::NoReply
        });
    }

    let mut endpoints: Vec<NodeEndpoint> = Vec::new();
    let responses = answers
        .into_iter()
        .map(|(topic, parts)| {
            let partition_responses = parts
                .into_iter()
                .map(|a| {
                    let mut r = PartitionProduceResponse::default().with_index(a.index);
                    match a.result {
                        Ok(ok) => {
                            r.error_code = a.after_append.unwrap_or(codes::NONE);
                            r.base_offset = ok.base_offset;
                            r.log_append_time_ms = ok.log_append_time;
                            r.log_start_offset = a.log_start;
                        }
                        Err(refusal) => {
                            r.error_code = refusal.code;
                            r.base_offset = -1;
                            r.log_append_time_ms = -1;
                            r.log_start_offset = if refusal.with_log_start {
                                a.log_start
                            } else {
                                -1
                            };
                            if version >= 8 {
                                r.error_message = refusal.message.map(StrBytes::from_string);
                                r.record_errors = refusal
                                    .record_errors
                                    .into_iter()
                                    .map(|(i, m)| {
                                        BatchIndexAndErrorMessage::default()
                                            .with_batch_index(i)
                                            .with_batch_index_error_message(Some(
                                                StrBytes::from_string(m),
                                            ))
                                    })
                                    .collect();
                            }
                        }
                    }
                    if version >= 10 && r.error_code == codes::NOT_LEADER_OR_FOLLOWER {
                        let (leader, epoch) = cluster
                            .partition(&topic, a.index)
                            .map_or((-1, -1), |p| (p.leader, p.leader_epoch));
                        r.current_leader = LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(leader))
                            .with_leader_epoch(epoch);
                        if let Some(b) = cluster.broker(leader).filter(|b| b.up) {
                            if !endpoints.iter().any(|e| e.node_id.0 == leader) {
                                endpoints.push(
                                    NodeEndpoint::default()
                                        .with_node_id(BrokerId(leader))
                                        .with_host(StrBytes::from_string(b.host.clone()))
                                        .with_port(b.port),
                                );
                            }
                        }
                    }
                    r
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(TopicName(StrBytes::from_string(topic)))
                .with_partition_responses(partition_responses)
        })
        .collect();
    let mut body = ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(call.faults.throttle_ms());
    if version >= 10 {
        body.node_endpoints = endpoints;
    }
    call.reply(ApiKey::Produce, &body)
}

fn partition(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
    topic: &str,
    p: &PartitionData,
) -> Answer {
    let refuse = |r: Refusal| Answer {
        index: p.index,
        result: Err(r),
        after_append: None,
        log_start: -1,
    };
    let injected = cluster.faults.produce_error(call.broker, topic, p.index);
    let after_append = injected.filter(|&c| c == codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    if let Some(code) = injected.filter(|&c| c != codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND) {
        return refuse(Refusal::plain(code, "injected fault"));
    }
    let Some(tp) = cluster.topics.get(topic) else {
        return refuse(Refusal::plain(
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            "unknown topic",
        ));
    };
    let config = tp.config.clone();
    if cluster.partition(topic, p.index).is_none() {
        return refuse(Refusal::plain(
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            "unknown partition",
        ));
    }
    let raw = match batch::single_batch(p.records.as_ref(), call.version()) {
        Ok(b) => b,
        Err(r) => return refuse(r),
    };
    if !matches!(req.acks, -1..=1) {
        return refuse(Refusal::plain(
            codes::INVALID_REQUIRED_ACKS,
            format!("invalid acks {}", req.acks),
        ));
    }
    let ctx = ValidationContext {
        max_message_bytes: config
            .max_message_bytes
            .unwrap_or(cluster.cfg.max_message_bytes),
        timestamp_type: config.timestamp_type,
        before_max_ms: cluster.cfg.message_timestamp_before_max_ms,
        after_max_ms: cluster.cfg.message_timestamp_after_max_ms,
        now_ms: call.now_ms,
        max_decompressed_bytes: cluster.cfg.max_decompressed_bytes,
    };
    let leader = cluster
        .partition(topic, p.index)
        .map_or(-1, |part| part.leader);
    if leader != call.broker {
        return refuse(Refusal::plain(
            codes::NOT_LEADER_OR_FOLLOWER,
            format!(
                "broker {} does not lead {topic}-{}; broker {leader} does",
                call.broker, p.index
            ),
        ));
    }
    if let (Some(h), Some(txn_id)) = (
        batch::BatchHeader::parse(&raw).filter(|h| h.is_transactional()),
        req.transactional_id.as_deref(),
    ) {
        if let Err(r) = crate::txn::produce_check(
            cluster,
            txn_id,
            h.producer_id,
            h.producer_epoch,
            (topic, p.index),
            call.version(),
            call.now_ms,
        ) {
            return refuse(r);
        }
    }
    let Some(part) = cluster.partition_mut(topic, p.index) else {
        return refuse(Refusal::plain(
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            "unknown partition",
        ));
    };
    let log_start = part.log.log_start_offset;
    let leader_epoch = part.leader_epoch;
    Answer {
        index: p.index,
        result: part.log.append(raw, &ctx, leader_epoch),
        after_append,
        log_start,
    }
}
