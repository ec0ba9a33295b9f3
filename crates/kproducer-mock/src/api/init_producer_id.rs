//! InitProducerId (key 22), v0–v5, for idempotent and transactional producers.
//!
//! As `KafkaApis.handleInitProducerIdRequest` and `TransactionCoordinator.handleInitProducerId`
//! (core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala): a producer
//! id and epoch in the request must be both set or both -1 (else INVALID_REQUEST); without a
//! transactional id the coordinator "blindly" allocates a fresh producer id with epoch 0 — also
//! when the request carries the producer's current id and epoch (KIP-360 epoch bump of an
//! idempotent producer): the client gets a new id, not a bumped epoch. An empty transactional id
//! is INVALID_REQUEST. A transactional id goes to its coordinator ([`crate::txn`]; another
//! broker answers NOT_COORDINATOR): INVALID_TRANSACTION_TIMEOUT for a timeout not in
//! `1..=transaction_max_timeout_ms`; the id keeps its producer id and each call bumps the epoch
//! (a new producer id when the epoch is exhausted), fencing the previous holder; an ongoing
//! transaction is aborted under epoch + 1 and the call answered CONCURRENT_TRANSACTIONS, so
//! that the retry gets epoch + 2, as Kafka does; an expected producer id and epoch (KIP-360)
//! that do not match are PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::Decodable;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::codes;
use crate::txn;

pub(crate) type Request = InitProducerIdRequest;

pub(crate) fn read(mut body: Bytes, version: i16) -> Result<Request, String> {
    // No arrays in this request: kafka-protocol's decoder is safe on hostile input.
    InitProducerIdRequest::decode(&mut body, version).map_err(|e| e.to_string())
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let error = |code: i16| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let pid = req.producer_id.0;
    let epoch = req.producer_epoch;
    let body = if let Some((code, _)) = call.faults.error {
        error(code)
    } else if (pid == -1) != (epoch == -1) {
        error(codes::INVALID_REQUEST)
    } else {
        match req.transactional_id.as_ref().map(|t| t.0.as_str()) {
            None => {
                let id = cluster.next_producer_id;
                cluster.next_producer_id += 1;
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(0)
            }
            Some("") => error(codes::INVALID_REQUEST),
            Some(id) if txn::not_coordinator(cluster, call.broker, id) => {
                error(codes::NOT_COORDINATOR)
            }
            Some(id) => {
                let expected = (pid != -1).then_some((pid, epoch));
                match txn::init_producer_id(
                    cluster,
                    id,
                    req.transaction_timeout_ms,
                    expected,
                    call.now_ms,
                ) {
                    Ok((pid, epoch)) => InitProducerIdResponse::default()
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch),
                    Err(code) => error(txn::fenced_for(code, call.version(), 4)),
                }
            }
        }
    };
    let body = body.with_throttle_time_ms(call.faults.throttle_ms());
    call.reply(ApiKey::InitProducerId, &body)
}
