//! Fetch (key 1), v4–v12: enough for a consumer to read back what was produced.
//!
//! Served from the partition leader only (no KIP-392 follower fetching), as full fetches: the
//! mock never creates a fetch session (it answers session id 0, which clients take as "no
//! session", and a request naming a session gets FETCH_SESSION_ID_NOT_FOUND). Per partition:
//! UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH /
//! UNKNOWN_LEADER_EPOCH against the request's current leader epoch (v9+),
//! OFFSET_OUT_OF_RANGE outside `[log start, high watermark]`; otherwise the stored batches from
//! the one holding the fetch offset, within `partition_max_bytes` and the request's
//! `max_bytes`, the first batch of the answer always included (KIP-74). With
//! `isolation_level` 1 (read_committed) only batches below the last stable offset are read and
//! the aborted transactions overlapping the range read are listed (producer id, first offset),
//! as `UnifiedLog.collectAbortedTransactions` lists them; the answer's `last_stable_offset` is
//! the partition's in both isolation levels. When there is no data at all the answer waits
//! `max_wait_ms` (returned as the outcome's delay), as a broker waits for `min_bytes`; data
//! produced meanwhile is not added to it.

use std::time::Duration;

use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::codes;
use crate::wire::Reader;

/// FETCH_SESSION_ID_NOT_FOUND.
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

pub(crate) struct FetchPartition {
    pub(crate) partition: i32,
    pub(crate) current_leader_epoch: i32,
    pub(crate) fetch_offset: i64,
    pub(crate) partition_max_bytes: i32,
}

pub(crate) struct FetchTopic {
    pub(crate) name: String,
    pub(crate) partitions: Vec<FetchPartition>,
}

pub(crate) struct Request {
    pub(crate) max_wait_ms: i32,
    pub(crate) max_bytes: i32,
    pub(crate) isolation_level: i8,
    pub(crate) session_id: i32,
    pub(crate) topics: Vec<FetchTopic>,
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 12;
    let mut go = || -> crate::wire::WireResult<Request> {
        let _replica_id = r.i32()?;
        let max_wait_ms = r.i32()?;
        let _min_bytes = r.i32()?;
        let max_bytes = r.i32()?;
        let isolation_level = r.i8()?;
        let (session_id, _session_epoch) = if version >= 7 {
            (r.i32()?, r.i32()?)
        } else {
            (0, -1)
        };
        let n = r.array(flexible)?;
        let mut topics = Vec::new();
        for _ in 0..n {
            let name = r.string(flexible)?;
            let np = r.array(flexible)?;
            let mut partitions = Vec::new();
            for _ in 0..np {
                let partition = r.i32()?;
                let current_leader_epoch = if version >= 9 { r.i32()? } else { -1 };
                let fetch_offset = r.i64()?;
                if version >= 12 {
                    let _last_fetched_epoch = r.i32()?;
                }
                if version >= 5 {
                    let _log_start_offset = r.i64()?;
                }
                let partition_max_bytes = r.i32()?;
                if flexible {
                    r.skip_tagged_fields()?;
                }
                partitions.push(FetchPartition {
                    partition,
                    current_leader_epoch,
                    fetch_offset,
                    partition_max_bytes,
                });
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            topics.push(FetchTopic { name, partitions });
        }
        if version >= 7 {
            let nf = r.array(flexible)?;
            for _ in 0..nf {
                let _topic = r.string(flexible)?;
                let np = r.array(flexible)?;
                for _ in 0..np {
                    r.i32()?;
                }
                if flexible {
                    r.skip_tagged_fields()?;
                }
            }
        }
        if version >= 11 {
            let _rack = r.string(flexible)?;
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request {
            max_wait_ms,
            max_bytes,
            isolation_level,
            session_id,
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
    let mut body = FetchResponse::default().with_throttle_time_ms(call.faults.throttle_ms());
    if req.session_id != 0 {
        body.error_code = FETCH_SESSION_ID_NOT_FOUND;
        return call.reply(ApiKey::Fetch, &body);
    }
    let mut budget = i64::from(req.max_bytes.max(0));
    let mut any_data = false;
    let mut any_error = false;
    for t in &req.topics {
        let mut parts = Vec::with_capacity(t.partitions.len());
        for fp in &t.partitions {
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_preferred_read_replica(BrokerId(-1));
            let code = match (&call.faults.error, cluster.partition(&t.name, fp.partition)) {
                (Some((code, _)), _) => *code,
                (None, None) => codes::UNKNOWN_TOPIC_OR_PARTITION,
                (None, Some(p)) => {
                    let hw = p.log.high_watermark();
                    let start = p.log.log_start_offset;
                    if p.leader != call.broker {
                        codes::NOT_LEADER_OR_FOLLOWER
                    } else if fp.current_leader_epoch >= 0
                        && fp.current_leader_epoch < p.leader_epoch
                    {
                        codes::FENCED_LEADER_EPOCH
                    } else if fp.current_leader_epoch > p.leader_epoch {
                        codes::UNKNOWN_LEADER_EPOCH
                    } else {
                        let lso = p.log.last_stable_offset();
                        pd.high_watermark = hw;
                        pd.last_stable_offset = lso;
                        pd.log_start_offset = start;
                        if fp.fetch_offset < start || fp.fetch_offset > hw {
                            codes::OFFSET_OUT_OF_RANGE
                        } else {
                            let mut out = bytes::BytesMut::new();
                            let limit = i64::from(fp.partition_max_bytes.max(0));
                            // read_committed reads below the last stable offset only.
                            let upper = if req.isolation_level == 1 { lso } else { hw };
                            let mut end = fp.fetch_offset;
                            for b in p.log.batches[p.log.batch_index_for(fp.fetch_offset)..]
                                .iter()
                                .take_while(|b| b.base_offset < upper)
                            {
                                let len = b.bytes.len() as i64;
                                let first_of_answer = !any_data && out.is_empty();
                                let fits = out.len() as i64 + len <= limit && len <= budget;
                                if !(fits || first_of_answer) {
                                    break;
                                }
                                out.extend_from_slice(&b.bytes);
                                budget -= len;
                                end = b.last_offset + 1;
                            }
                            any_data |= !out.is_empty();
                            pd.records = Some(out.freeze());
                            if req.isolation_level == 1 {
                                // `UnifiedLog.collectAbortedTransactions` over the range read.
                                pd.aborted_transactions = Some(
                                    p.log
                                        .aborted
                                        .iter()
                                        .filter(|a| {
                                            a.last_offset >= fp.fetch_offset && a.first_offset < end
                                        })
                                        .map(|a| {
                                            AbortedTransaction::default()
                                                .with_producer_id(ProducerId(a.producer_id))
                                                .with_first_offset(a.first_offset)
                                        })
                                        .collect(),
                                );
                            } else {
                                pd.aborted_transactions = None;
                            }
                            codes::NONE
                        }
                    }
                }
            };
            pd.error_code = code;
            if code != codes::NONE {
                any_error = true;
                pd.records = Some(bytes::Bytes::new());
                if version >= 12
                    && (code == codes::NOT_LEADER_OR_FOLLOWER || code == codes::FENCED_LEADER_EPOCH)
                {
                    if let Some(p) = cluster.partition(&t.name, fp.partition) {
                        pd.current_leader = LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(p.leader))
                            .with_leader_epoch(p.leader_epoch);
                    }
                }
            }
            parts.push(pd);
        }
        body.responses.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(t.name.clone())))
                .with_partitions(parts),
        );
    }
    let wait = if any_data || any_error {
        Duration::ZERO
    } else {
        Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0))
    };
    let handled = call.reply(ApiKey::Fetch, &body)?;
    Ok(match handled {
        Handled::Reply(frame, _) => Handled::Reply(frame, wait),
        other => other,
    })
}
