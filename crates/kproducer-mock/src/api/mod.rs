//! Request dispatch: one module per Kafka API, as franz-go's kfake is laid out.
//!
//! What happens to a frame, in order (as Kafka's `SocketServer`/`KafkaApis`):
//! 1. A broker that is down closes the connection.
//! 2. The header is read; an unknown API key, an unsupported version (except ApiVersions, see
//!    [`api_versions`]) or an unreadable request closes the connection, as Kafka does
//!    (`InvalidRequestException` in `RequestContext.parseRequest`).
//! 3. Faults are consulted ([`crate::faults`]).
//! 4. The API handler runs and the answer is encoded with the response header version the
//!    API's flexible versions call for.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use crate::cluster::{MockCluster, Outcome};
use crate::faults::RequestFaults;
use crate::wire::{self, Reader, RequestHeader};

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod api_versions;
pub(crate) mod create_topics;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod init_producer_id;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod produce;
pub(crate) mod txn_offset_commit;

/// The APIs and versions served, as ApiVersions advertises them: (key, min, max).
///
/// Produce v13 and Fetch v13+ address topics by id and are left out; Kafka 4.x's minimums are
/// kept (Produce 3, Fetch 4, ListOffsets 1, CreateTopics 2: KIP-896 removed the older ones).
pub const SUPPORTED_APIS: &[(i16, i16, i16)] = &[
    (ApiKey::Produce as i16, 3, 12),
    (ApiKey::Fetch as i16, 4, 12),
    (ApiKey::ListOffsets as i16, 1, 8),
    (ApiKey::Metadata as i16, 0, 12),
    (ApiKey::FindCoordinator as i16, 0, 6),
    (ApiKey::ApiVersions as i16, 0, 4),
    (ApiKey::CreateTopics as i16, 2, 7),
    (ApiKey::InitProducerId as i16, 0, 5),
    (ApiKey::AddPartitionsToTxn as i16, 0, 5),
    (ApiKey::AddOffsetsToTxn as i16, 0, 4),
    (ApiKey::EndTxn as i16, 0, 5),
    (ApiKey::TxnOffsetCommit as i16, 0, 5),
];

pub(crate) fn supported_range(api_key: i16) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == api_key)
        .map(|&(_, min, max)| (min, max))
}

/// What an API handler produced.
pub(crate) enum Handled {
    /// An answer, encoded, to send after a delay of the API's own (a Fetch waiting for data).
    Reply(Bytes, Duration),
    /// No answer (acks=0).
    NoReply,
    /// Close after processing (a failed acks=0 produce).
    Close(String),
}

/// Context an API handler gets.
pub(crate) struct Call<'a> {
    pub(crate) broker: i32,
    pub(crate) header: &'a RequestHeader,
    pub(crate) faults: &'a RequestFaults,
    pub(crate) now_ms: i64,
}

impl Call<'_> {
    pub(crate) fn version(&self) -> i16 {
        self.header.api_version
    }

    /// Encodes `body` with the response header version of this API and version.
    pub(crate) fn reply<M: kafka_protocol::protocol::Encodable>(
        &self,
        api: ApiKey,
        body: &M,
    ) -> Result<Handled, String> {
        let header_version = api.response_header_version(self.version());
        wire::response_frame(
            self.header.correlation_id,
            header_version,
            body,
            self.version(),
        )
        .map(|frame| Handled::Reply(frame, Duration::ZERO))
    }
}

fn close(cluster: &mut MockCluster, processed: bool, reason: String) -> Outcome {
    cluster.stats.connections_closed += 1;
    Outcome::Close { processed, reason }
}

fn malformed(cluster: &mut MockCluster, what: &str, e: impl std::fmt::Display) -> Outcome {
    cluster.stats.malformed_requests += 1;
    close(cluster, false, format!("malformed {what} request: {e}"))
}

/// The request body, read.
pub(crate) enum Body {
    ApiVersions(api_versions::Request),
    Metadata(metadata::Request),
    InitProducerId(init_producer_id::Request),
    Produce(produce::Request),
    Fetch(fetch::Request),
    ListOffsets(list_offsets::Request),
    CreateTopics(create_topics::Request),
    FindCoordinator(find_coordinator::Request),
    AddPartitionsToTxn(add_partitions_to_txn::Request),
    AddOffsetsToTxn(add_offsets_to_txn::Request),
    EndTxn(end_txn::Request),
    TxnOffsetCommit(txn_offset_commit::Request),
}

pub(crate) fn handle(cluster: &mut MockCluster, broker: i32, frame: Bytes, now_ms: i64) -> Outcome {
    if cluster.broker(broker).is_none() {
        return close(cluster, false, format!("no broker {broker}"));
    }
    if !cluster.is_up(broker) {
        cluster.stats.refused_down += 1;
        return close(cluster, false, format!("broker {broker} is down"));
    }
    // Transactions past their timeout are aborted before anything else is handled.
    crate::txn::abort_timed_out(cluster, now_ms);
    if frame.len() < 4 {
        return malformed(cluster, "", "shorter than a request header");
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    *cluster.stats.requests.entry(api_key).or_insert(0) += 1;
    let (Ok(key), Some((min, max))) = (ApiKey::try_from(api_key), supported_range(api_key)) else {
        cluster.stats.unsupported_requests += 1;
        return close(cluster, false, format!("unsupported API key {api_key}"));
    };
    let mut r = Reader::new(frame);
    let header = match wire::read_header(&mut r, key.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return malformed(cluster, "", e),
    };
    if version < min || version > max {
        cluster.stats.unsupported_requests += 1;
        if key == ApiKey::ApiVersions {
            // KIP-511: answered in v0 whatever the version, UNSUPPORTED_VERSION and our range.
            return match api_versions::unsupported(&header) {
                Ok(frame) => Outcome::Reply {
                    frame,
                    delay: Duration::ZERO,
                },
                Err(e) => close(cluster, false, e),
            };
        }
        return close(
            cluster,
            false,
            format!("unsupported version {version} of API {key:?}"),
        );
    }
    let body = match key {
        ApiKey::ApiVersions => api_versions::read(r.rest(), version).map(Body::ApiVersions),
        ApiKey::Metadata => metadata::read(&mut r, version).map(Body::Metadata),
        ApiKey::InitProducerId => {
            init_producer_id::read(r.rest(), version).map(Body::InitProducerId)
        }
        ApiKey::Produce => produce::read(&mut r, version).map(Body::Produce),
        ApiKey::Fetch => fetch::read(&mut r, version).map(Body::Fetch),
        ApiKey::ListOffsets => list_offsets::read(&mut r, version).map(Body::ListOffsets),
        ApiKey::CreateTopics => create_topics::read(&mut r, version).map(Body::CreateTopics),
        ApiKey::FindCoordinator => {
            find_coordinator::read(&mut r, version).map(Body::FindCoordinator)
        }
        ApiKey::AddPartitionsToTxn => {
            add_partitions_to_txn::read(&mut r, version).map(Body::AddPartitionsToTxn)
        }
        ApiKey::AddOffsetsToTxn => {
            add_offsets_to_txn::read(r.rest(), version).map(Body::AddOffsetsToTxn)
        }
        ApiKey::EndTxn => end_txn::read(r.rest(), version).map(Body::EndTxn),
        ApiKey::TxnOffsetCommit => {
            txn_offset_commit::read(&mut r, version).map(Body::TxnOffsetCommit)
        }
        _ => Err("not served".to_string()),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return malformed(cluster, &format!("{key:?}"), e),
    };

    // Faults, request level. The units (topics, partitions) are only listed when a rule filters
    // on them.
    let units: Vec<(String, Option<i32>)> = if cluster.faults.filters_units() {
        match &body {
            Body::Produce(p) => p.units(),
            Body::Metadata(m) => metadata::units(cluster, m),
            Body::CreateTopics(c) => c.units(),
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let unit_refs: Vec<(&str, Option<i32>)> = units.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    let rf = cluster.faults.for_request(api_key, broker, &unit_refs);
    if rf.close_before {
        return close(
            cluster,
            false,
            "fault: connection closed before processing".to_string(),
        );
    }

    let call = Call {
        broker,
        header: &header,
        faults: &rf,
        now_ms,
    };
    let handled = match body {
        Body::ApiVersions(req) => {
            api_versions::handle(&call, &req, cluster.cfg.transaction_version)
        }
        Body::Metadata(req) => metadata::handle(cluster, &call, &req),
        Body::InitProducerId(req) => init_producer_id::handle(cluster, &call, &req),
        Body::Produce(req) => produce::handle(cluster, &call, &req),
        Body::Fetch(req) => fetch::handle(cluster, &call, &req),
        Body::ListOffsets(req) => list_offsets::handle(cluster, &call, &req),
        Body::CreateTopics(req) => create_topics::handle(cluster, &call, &req),
        Body::FindCoordinator(req) => find_coordinator::handle(cluster, &call, &req),
        Body::AddPartitionsToTxn(req) => add_partitions_to_txn::handle(cluster, &call, &req),
        Body::AddOffsetsToTxn(req) => add_offsets_to_txn::handle(cluster, &call, &req),
        Body::EndTxn(req) => end_txn::handle(cluster, &call, &req),
        Body::TxnOffsetCommit(req) => txn_offset_commit::handle(cluster, &call, &req),
    };
    let handled = match handled {
        Ok(h) => h,
        Err(e) => return close(cluster, true, format!("could not encode the answer: {e}")),
    };
    if rf.close_after {
        return close(
            cluster,
            true,
            "fault: connection closed after processing".to_string(),
        );
    }
    if rf.drop {
        cluster.stats.responses_dropped += 1;
        return Outcome::Dropped;
    }
    match handled {
        Handled::Reply(frame, wait) => Outcome::Reply {
            frame,
            delay: rf.delay.saturating_add(wait),
        },
        Handled::NoReply => Outcome::NoReply,
        Handled::Close(reason) => close(cluster, true, reason),
    }
}
