//! AddOffsetsToTxn (key 25), v0–v4: a consumer group's offsets join the transaction.
//!
//! As `KafkaApis.handleAddOffsetsToTxnRequest`: Kafka adds the group's `__consumer_offsets`
//! partition to the transaction; the mock records the group ([`crate::txn::add_group`]), whose
//! TxnOffsetCommit offsets become visible on commit. Errors as AddPartitionsToTxn's:
//! NOT_COORDINATOR, INVALID_REQUEST (empty id), INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED
//! (INVALID_PRODUCER_EPOCH before v2).

use bytes::Bytes;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};
use kafka_protocol::protocol::Decodable;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::{codes, txn};

pub(crate) type Request = AddOffsetsToTxnRequest;

pub(crate) fn read(mut body: Bytes, version: i16) -> Result<Request, String> {
    // No arrays in this request: kafka-protocol's decoder is safe on hostile input.
    AddOffsetsToTxnRequest::decode(&mut body, version).map_err(|e| e.to_string())
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let id = req.transactional_id.0.as_str();
    let code = if let Some((code, _)) = call.faults.error {
        code
    } else if id.is_empty() {
        codes::INVALID_REQUEST
    } else if txn::not_coordinator(cluster, call.broker, id) {
        codes::NOT_COORDINATOR
    } else {
        match txn::add_group(
            cluster,
            id,
            req.producer_id.0,
            req.producer_epoch,
            req.group_id.0.as_str(),
            call.now_ms,
        ) {
            Ok(()) => codes::NONE,
            Err(code) => txn::fenced_for(code, call.version(), 2),
        }
    };
    if code != codes::NONE {
        cluster
            .stats
            .note_error(format!("add_offsets_to_txn {id}: error {code}"));
    }
    let body = AddOffsetsToTxnResponse::default()
        .with_error_code(code)
        .with_throttle_time_ms(call.faults.throttle_ms());
    call.reply(ApiKey::AddOffsetsToTxn, &body)
}
