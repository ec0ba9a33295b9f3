//! ListOffsets (key 2), v1–v8.
//!
//! As `UnifiedLog.fetchOffsetByTimestamp` on the leader: -2 (earliest) and -4 (earliest local,
//! v8+) give the log start offset, -1 (latest) the high watermark (the last stable offset with
//! `isolation_level` 1, read_committed), -3 (max timestamp, v7+) the first record with the largest timestamp,
//! any other timestamp the first record at or after it (-1/-1 when there is none). Errors:
//! UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH /
//! UNKNOWN_LEADER_EPOCH (v4+), UNSUPPORTED_VERSION for -3 before v7 and -4 before v8.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::{MockCluster, Partition};
use crate::codes;
use crate::wire::Reader;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub(crate) struct PartitionQuery {
    pub(crate) partition: i32,
    pub(crate) current_leader_epoch: i32,
    pub(crate) timestamp: i64,
}

pub(crate) struct Request {
    pub(crate) isolation_level: i8,
    pub(crate) topics: Vec<(String, Vec<PartitionQuery>)>,
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 6;
    let mut go = || -> crate::wire::WireResult<Request> {
        let _replica_id = r.i32()?;
        let isolation_level = if version >= 2 { r.i8()? } else { 0 };
        let n = r.array(flexible)?;
        let mut topics = Vec::new();
        for _ in 0..n {
            let name = r.string(flexible)?;
            let np = r.array(flexible)?;
            let mut parts = Vec::new();
            for _ in 0..np {
                let partition = r.i32()?;
                let current_leader_epoch = if version >= 4 { r.i32()? } else { -1 };
                let timestamp = r.i64()?;
                if flexible {
                    r.skip_tagged_fields()?;
                }
                parts.push(PartitionQuery {
                    partition,
                    current_leader_epoch,
                    timestamp,
                });
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
            isolation_level,
            topics,
        })
    };
    go().map_err(|e| e.to_string())
}

/// (timestamp, offset, leader epoch) for a query, or an error code.
fn lookup(p: &Partition, ts: i64, read_committed: bool) -> Result<(i64, i64, i32), i16> {
    let epoch_at = |offset: i64| {
        let i = p.log.batch_index_for(offset);
        p.log
            .batches
            .get(i)
            .map_or(p.leader_epoch, |b| b.partition_leader_epoch)
    };
    match ts {
        EARLIEST | EARLIEST_LOCAL => {
            Ok((-1, p.log.log_start_offset, epoch_at(p.log.log_start_offset)))
        }
        LATEST if read_committed => Ok((-1, p.log.last_stable_offset(), p.leader_epoch)),
        LATEST => Ok((-1, p.log.high_watermark(), p.leader_epoch)),
        MAX_TIMESTAMP => {
            let Some(b) = p.log.batches.iter().reduce(|a, b| {
                if b.max_timestamp > a.max_timestamp {
                    b
                } else {
                    a
                }
            }) else {
                return Ok((-1, -1, -1));
            };
            let records = b.records().map_err(|_| codes::UNKNOWN_SERVER_ERROR)?;
            let offset = records
                .iter()
                .find(|r| r.timestamp == b.max_timestamp)
                .map_or(b.last_offset, |r| r.offset);
            Ok((b.max_timestamp, offset, b.partition_leader_epoch))
        }
        target => {
            for b in p.log.batches.iter().filter(|b| b.max_timestamp >= target) {
                let records = b.records().map_err(|_| codes::UNKNOWN_SERVER_ERROR)?;
                if let Some(r) = records.iter().find(|r| r.timestamp >= target) {
                    return Ok((r.timestamp, r.offset, b.partition_leader_epoch));
                }
            }
            Ok((-1, -1, -1))
        }
    }
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    let mut topics = Vec::with_capacity(req.topics.len());
    for (name, parts) in &req.topics {
        let mut out = Vec::with_capacity(parts.len());
        for q in parts {
            let mut r = ListOffsetsPartitionResponse::default()
                .with_partition_index(q.partition)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            let result = match (&call.faults.error, cluster.partition(name, q.partition)) {
                (Some((code, _)), _) => Err(*code),
                (None, None) => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
                (None, Some(p)) if p.leader != call.broker => Err(codes::NOT_LEADER_OR_FOLLOWER),
                (None, Some(p))
                    if q.current_leader_epoch >= 0 && q.current_leader_epoch < p.leader_epoch =>
                {
                    Err(codes::FENCED_LEADER_EPOCH)
                }
                (None, Some(p)) if q.current_leader_epoch > p.leader_epoch => {
                    Err(codes::UNKNOWN_LEADER_EPOCH)
                }
                (None, Some(_))
                    if (q.timestamp == MAX_TIMESTAMP && version < 7)
                        || (q.timestamp == EARLIEST_LOCAL && version < 8) =>
                {
                    Err(codes::UNSUPPORTED_VERSION)
                }
                (None, Some(p)) => lookup(p, q.timestamp, req.isolation_level == 1),
            };
            match result {
                Ok((ts, offset, epoch)) => {
                    r.timestamp = ts;
                    r.offset = offset;
                    if version >= 4 {
                        r.leader_epoch = epoch;
                    }
                }
                Err(code) => r.error_code = code,
            }
            out.push(r);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_string(name.clone())))
                .with_partitions(out),
        );
    }
    let body = ListOffsetsResponse::default()
        .with_throttle_time_ms(call.faults.throttle_ms())
        .with_topics(topics);
    call.reply(ApiKey::ListOffsets, &body)
}
