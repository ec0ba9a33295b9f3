//! TxnOffsetCommit (key 28), v0–v5: a consumer group's offsets, committed in a transaction.
//!
//! As `KafkaApis.handleTxnOffsetCommitRequest` and the group coordinator's transactional
//! commit, without consumer groups (any broker answers; generation, member and instance ids are
//! not checked): partitions of unknown topics are UNKNOWN_TOPIC_OR_PARTITION; the others are
//! checked against the transaction (`AddPartitionsToTxnManager`): with transaction version 2
//! and v5+ the group joins the transaction implicitly, else it must have been added with
//! AddOffsetsToTxn (TRANSACTION_ABORTABLE from v4, INVALID_TXN_STATE before);
//! INVALID_PRODUCER_ID_MAPPING for an unknown producer, INVALID_PRODUCER_EPOCH for a fenced
//! one. Accepted offsets are kept with the transaction and become visible
//! ([`MockCluster::committed_offset`]) when it commits; an abort drops them. An injected fault
//! error is the code of every partition.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, TopicName, TxnOffsetCommitResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::wire::{Reader, WireResult};
use crate::{codes, txn};

pub(crate) struct Request {
    pub(crate) transactional_id: String,
    pub(crate) group_id: String,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    /// (topic, [(partition, offset)]), in request order.
    pub(crate) topics: Vec<(String, Vec<(i32, i64)>)>,
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 3;
    let mut go = || -> WireResult<Request> {
        let transactional_id = r.string(flexible)?;
        let group_id = r.string(flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        if version >= 3 {
            let _generation_id = r.i32()?;
            let _member_id = r.string(flexible)?;
            let _group_instance_id = r.nullable_string(flexible)?;
        }
        let n = r.array(flexible)?;
        let mut topics = Vec::new();
        for _ in 0..n {
            let name = r.string(flexible)?;
            let np = r.array(flexible)?;
            let mut parts = Vec::new();
            for _ in 0..np {
                let partition = r.i32()?;
                let offset = r.i64()?;
                if version >= 2 {
                    let _leader_epoch = r.i32()?;
                }
                let _metadata = r.nullable_string(flexible)?;
                if flexible {
                    r.skip_tagged_fields()?;
                }
                parts.push((partition, offset));
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            topics.push((name, parts));
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request {
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            topics,
        })
    };
    go().map_err(|e| e.to_string())
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    let any_known = req.topics.iter().any(|(t, parts)| {
        parts
            .iter()
            .any(|(p, _)| cluster.partition(t, *p).is_some())
    });
    let check = match call.faults.error {
        Some((code, _)) => Err(code),
        None if !any_known => Ok(()),
        None => txn::offset_commit_check(
            cluster,
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            &req.group_id,
            version,
            call.now_ms,
        ),
    };
    let mut topics = Vec::with_capacity(req.topics.len());
    for (topic, parts) in &req.topics {
        let mut out = Vec::with_capacity(parts.len());
        for &(partition, offset) in parts {
            let code = match check {
                _ if cluster.partition(topic, partition).is_none() => {
                    codes::UNKNOWN_TOPIC_OR_PARTITION
                }
                Err(code) => code,
                Ok(()) => {
                    txn::stage_offset(
                        cluster,
                        &req.transactional_id,
                        &req.group_id,
                        topic,
                        partition,
                        offset,
                    );
                    codes::NONE
                }
            };
            if code != codes::NONE {
                cluster.stats.note_error(format!(
                    "txn_offset_commit {} {topic}-{partition}: error {code}",
                    req.transactional_id
                ));
            }
            out.push(
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(partition)
                    .with_error_code(code),
            );
        }
        topics.push(
            TxnOffsetCommitResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(out),
        );
    }
    let body = TxnOffsetCommitResponse::default()
        .with_throttle_time_ms(call.faults.throttle_ms())
        .with_topics(topics);
    call.reply(ApiKey::TxnOffsetCommit, &body)
}
