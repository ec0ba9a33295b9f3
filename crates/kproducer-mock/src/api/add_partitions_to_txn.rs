//! AddPartitionsToTxn (key 24), v0–v5: partitions join a transaction.
//!
//! As `KafkaApis.handleAddPartitionsToTxnRequest` and `TransactionCoordinator
//! .handleAddPartitionsToTransaction`: v0–v3 (clients) carry one transaction, v4+ (brokers,
//! KIP-890) a batch of them with per-transaction results and `verify_only` (answered per
//! partition: NONE when it is in the ongoing transaction, else TRANSACTION_ABORTABLE, as
//! `handleVerifyPartitionsInTransaction`). Per transaction: partitions of unknown topics are
//! UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED; then one code for all its
//! partitions: INVALID_REQUEST (empty id), NOT_COORDINATOR, INVALID_PRODUCER_ID_MAPPING (unknown
//! id or another producer id), PRODUCER_FENCED (another epoch; INVALID_PRODUCER_EPOCH before
//! v2), else NONE and the transaction is Ongoing. An injected fault error is the code of every
//! partition (v0–v3) or the top-level error (v4+).

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnResponse, ApiKey, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::wire::{Reader, WireResult};
use crate::{codes, txn};

pub(crate) struct Transaction {
    pub(crate) transactional_id: String,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) verify_only: bool,
    /// (topic, partitions), in request order.
    pub(crate) topics: Vec<(String, Vec<i32>)>,
}

pub(crate) struct Request {
    pub(crate) transactions: Vec<Transaction>,
}

fn read_topics(r: &mut Reader, flexible: bool) -> WireResult<Vec<(String, Vec<i32>)>> {
    let n = r.array(flexible)?;
    let mut topics = Vec::new();
    for _ in 0..n {
        let name = r.string(flexible)?;
        let np = r.array(flexible)?;
        let mut parts = Vec::new();
        for _ in 0..np {
            parts.push(r.i32()?);
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        topics.push((name, parts));
    }
    Ok(topics)
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 3;
    let mut go = || -> WireResult<Request> {
        let mut transactions = Vec::new();
        if version >= 4 {
            let n = r.array(flexible)?;
            for _ in 0..n {
                let transactional_id = r.string(flexible)?;
                let producer_id = r.i64()?;
                let producer_epoch = r.i16()?;
                let verify_only = r.bool()?;
                let topics = read_topics(r, flexible)?;
                r.skip_tagged_fields()?;
                transactions.push(Transaction {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    verify_only,
                    topics,
                });
            }
        } else {
            let transactional_id = r.string(flexible)?;
            let producer_id = r.i64()?;
            let producer_epoch = r.i16()?;
            let topics = read_topics(r, flexible)?;
            transactions.push(Transaction {
                transactional_id,
                producer_id,
                producer_epoch,
                verify_only: false,
                topics,
            });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request { transactions })
    };
    go().map_err(|e| e.to_string())
}

/// One transaction's answer: the code of each partition, in request order.
fn transaction(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    t: &Transaction,
) -> Vec<(String, Vec<(i32, i16)>)> {
    let version = call.version();
    let all = |code: i16| -> Vec<(String, Vec<(i32, i16)>)> {
        t.topics
            .iter()
            .map(|(name, parts)| (name.clone(), parts.iter().map(|&p| (p, code)).collect()))
            .collect()
    };
    if let (Some(&(code, _)), true) = (call.faults.error.as_ref(), version < 4) {
        return all(code);
    }
    let known = |c: &MockCluster, topic: &str, p: i32| c.partition(topic, p).is_some();
    if t.topics
        .iter()
        .any(|(name, parts)| parts.iter().any(|&p| !known(cluster, name, p)))
    {
        return t
            .topics
            .iter()
            .map(|(name, parts)| {
                let codes_ = parts
                    .iter()
                    .map(|&p| {
                        let code = if known(cluster, name, p) {
                            codes::OPERATION_NOT_ATTEMPTED
                        } else {
                            codes::UNKNOWN_TOPIC_OR_PARTITION
                        };
                        (p, code)
                    })
                    .collect();
                (name.clone(), codes_)
            })
            .collect();
    }
    let id = t.transactional_id.as_str();
    if id.is_empty() {
        return all(codes::INVALID_REQUEST);
    }
    if txn::not_coordinator(cluster, call.broker, id) {
        return all(codes::NOT_COORDINATOR);
    }
    if t.verify_only {
        let mut out = Vec::new();
        for (name, parts) in &t.topics {
            let mut codes_ = Vec::new();
            for &p in parts {
                let code = match txn::verify(
                    cluster,
                    id,
                    t.producer_id,
                    t.producer_epoch,
                    name,
                    Some(p),
                ) {
                    Ok(()) => codes::NONE,
                    Err(code) => code,
                };
                codes_.push((p, code));
            }
            out.push((name.clone(), codes_));
        }
        return out;
    }
    let partitions: Vec<(String, i32)> = t
        .topics
        .iter()
        .flat_map(|(name, parts)| parts.iter().map(move |&p| (name.clone(), p)))
        .collect();
    match txn::add_partitions(
        cluster,
        id,
        t.producer_id,
        t.producer_epoch,
        &partitions,
        call.now_ms,
    ) {
        Ok(()) => all(codes::NONE),
        Err(code) => all(txn::fenced_for(code, version, 2)),
    }
}

fn topic_results(results: Vec<(String, Vec<(i32, i16)>)>) -> Vec<AddPartitionsToTxnTopicResult> {
    results
        .into_iter()
        .map(|(name, parts)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_results_by_partition(
                    parts
                        .into_iter()
                        .map(|(p, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect()
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    let mut body =
        AddPartitionsToTxnResponse::default().with_throttle_time_ms(call.faults.throttle_ms());
    if let (Some(&(code, _)), true) = (call.faults.error.as_ref(), version >= 4) {
        body.error_code = code;
        return call.reply(ApiKey::AddPartitionsToTxn, &body);
    }
    for t in &req.transactions {
        let results = transaction(cluster, call, t);
        for (name, parts) in &results {
            for (p, code) in parts {
                if *code != codes::NONE {
                    cluster.stats.note_error(format!(
                        "add_partitions_to_txn {} {name}-{p}: error {code}",
                        t.transactional_id
                    ));
                }
            }
        }
        if version >= 4 {
            body.results_by_transaction.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_string(
                        t.transactional_id.clone(),
                    )))
                    .with_topic_results(topic_results(results)),
            );
        } else {
            body.results_by_topic_v3_and_below = topic_results(results);
        }
    }
    call.reply(ApiKey::AddPartitionsToTxn, &body)
}
