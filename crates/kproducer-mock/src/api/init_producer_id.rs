//! InitProducerId (key 22), v0–v5, for idempotent producers.
//!
//! As `KafkaApis.handleInitProducerIdRequest` and `TransactionCoordinator.handleInitProducerId`
//! (core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala): a producer
//! id and epoch in the request must be both set or both -1 (else INVALID_REQUEST); without a
//! transactional id the coordinator "blindly" allocates a fresh producer id with epoch 0 — also
//! when the request carries the producer's current id and epoch (KIP-360 epoch bump of an
//! idempotent producer): the client gets a new id, not a bumped epoch. An empty transactional id
//! is INVALID_REQUEST. A non-empty one is answered NOT_COORDINATOR: the mock runs no
//! transaction coordinator yet (FindCoordinator names a broker for a transactional id, see
//! `MockCluster::coordinator`, but none of them serves transactions).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::Decodable;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::codes;

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
            Some(_) => error(codes::NOT_COORDINATOR),
        }
    };
    let body = body.with_throttle_time_ms(call.faults.throttle_ms());
    call.reply(ApiKey::InitProducerId, &body)
}
