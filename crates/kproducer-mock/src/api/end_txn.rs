//! EndTxn (key 26), v0–v5: commit or abort, at the transaction coordinator.
//!
//! As `KafkaApis.handleEndTxnRequest` and `TransactionCoordinator.handleEndTransaction`
//! ([`crate::txn::end_txn`]): NOT_COORDINATOR on a broker that does not coordinate the id;
//! INVALID_REQUEST for an empty id; INVALID_PRODUCER_ID_MAPPING for an unknown id or another
//! producer id; PRODUCER_FENCED for another epoch (INVALID_PRODUCER_EPOCH before v2);
//! INVALID_TXN_STATE for an invalid transition (commit with nothing added, commit after
//! abort...). A commit or abort writes a marker to every partition of the transaction at once.
//! With transaction version 2 (cluster level 2 and v5+) the epoch is bumped on every end and the
//! new producer id and epoch are in the answer (v5+).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse, ProducerId};
use kafka_protocol::protocol::Decodable;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::{codes, txn};

pub(crate) type Request = EndTxnRequest;

pub(crate) fn read(mut body: Bytes, version: i16) -> Result<Request, String> {
    // No arrays in this request: kafka-protocol's decoder is safe on hostile input.
    EndTxnRequest::decode(&mut body, version).map_err(|e| e.to_string())
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    let id = req.transactional_id.0.as_str();
    let result = if let Some((code, _)) = call.faults.error {
        Err(code)
    } else if id.is_empty() {
        Err(codes::INVALID_REQUEST)
    } else if txn::not_coordinator(cluster, call.broker, id) {
        Err(codes::NOT_COORDINATOR)
    } else {
        let tv2 = cluster.cfg.transaction_version >= 2 && version >= 5;
        txn::end_txn(
            cluster,
            id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
            tv2,
            call.now_ms,
        )
        .map_err(|code| txn::fenced_for(code, version, 2))
    };
    let body = match result {
        Ok((pid, epoch)) => EndTxnResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(code) => {
            cluster
                .stats
                .note_error(format!("end_txn {id}: error {code}"));
            EndTxnResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
    .with_throttle_time_ms(call.faults.throttle_ms());
    call.reply(ApiKey::EndTxn, &body)
}
