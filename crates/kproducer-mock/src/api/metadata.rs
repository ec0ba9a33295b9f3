//! Metadata (key 3), v0–v12.
//!
//! As Kafka 4.x's `KafkaApis.handleTopicMetadataRequest` with a KRaft metadata cache:
//! - brokers: those up; controller id: the lowest broker up (Kafka reports a random alive
//!   broker in KRaft mode; the mock stays deterministic);
//! - topics: all (v0 with an empty list, v1+ with a null list; sorted by name), or those asked
//!   for, in request order; from v12 also by topic id (UNKNOWN_TOPIC_ID when unknown); a topic
//!   id in v10/v11 is INVALID_REQUEST;
//! - an unknown topic is created when `auto_create_topics` and the request's
//!   `allow_auto_topic_creation` (always true before v4) allow it, and answered
//!   LEADER_NOT_AVAILABLE this time, as Kafka's `AutoTopicCreationManager` answers while the
//!   controller creates it; otherwise UNKNOWN_TOPIC_OR_PARTITION, or INVALID_TOPIC_EXCEPTION
//!   for a name Kafka refuses;
//! - partitions: leader, leader epoch (v7+), replicas (every broker), ISR (the replicas up),
//!   offline replicas (v5+); a partition without a leader is LEADER_NOT_AVAILABLE;
//! - authorized operations (v8+ when asked): everything, as a cluster without an authorizer.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::{valid_topic_name, MockCluster};
use crate::codes;
use crate::wire::Reader;

/// A requested topic: by name, or (v12) by id.
pub(crate) struct TopicRef {
    pub(crate) id: [u8; 16],
    pub(crate) name: Option<String>,
}

pub(crate) struct Request {
    /// `None`: all topics.
    pub(crate) topics: Option<Vec<TopicRef>>,
    pub(crate) allow_auto_topic_creation: bool,
    pub(crate) include_cluster_authorized_operations: bool,
    pub(crate) include_topic_authorized_operations: bool,
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 9;
    let mut go = || -> crate::wire::WireResult<Request> {
        let mut topics = None;
        if let Some(n) = r.array_len(flexible)? {
            let mut v = Vec::new();
            for _ in 0..n {
                let id = if version >= 10 { r.uuid()? } else { [0; 16] };
                let name = if version >= 10 {
                    r.nullable_string(flexible)?
                } else {
                    Some(r.string(flexible)?)
                };
                if flexible {
                    r.skip_tagged_fields()?;
                }
                v.push(TopicRef { id, name });
            }
            topics = Some(v);
        }
        // v0: an empty list means all topics.
        if version == 0 && topics.as_ref().is_some_and(Vec::is_empty) {
            topics = None;
        }
        let allow_auto_topic_creation = if version >= 4 { r.bool()? } else { true };
        let include_cluster_authorized_operations = if (8..=10).contains(&version) {
            r.bool()?
        } else {
            false
        };
        let include_topic_authorized_operations = if version >= 8 { r.bool()? } else { false };
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request {
            topics,
            allow_auto_topic_creation,
            include_cluster_authorized_operations,
            include_topic_authorized_operations,
        })
    };
    go().map_err(|e| e.to_string())
}

/// The topics the answer will list, for fault matching.
pub(crate) fn units(cluster: &MockCluster, req: &Request) -> Vec<(String, Option<i32>)> {
    match &req.topics {
        None => cluster.topics.keys().map(|t| (t.clone(), None)).collect(),
        Some(ts) => ts
            .iter()
            .filter_map(|t| t.name.clone().map(|n| (n, None)))
            .collect(),
    }
}

/// Without an authorizer every operation is allowed: the bit sets of Kafka's `AclOperation`s
/// that apply to topics (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS) and to the cluster (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE_TOKENS, DESCRIBE_TOKENS).
const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
const CLUSTER_OPERATIONS: i32 = (1 << 5)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12)
    | (1 << 13)
    | (1 << 14);
/// "Not requested" in the schema.
const NO_OPERATIONS: i32 = i32::MIN;

fn topic_entry(error: i16, name: Option<&str>, id: [u8; 16]) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error)
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
        .with_topic_id(uuid::Uuid::from_bytes(id))
        .with_topic_authorized_operations(NO_OPERATIONS)
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    // Which topics, and the auto-creations this request causes.
    let mut topics = Vec::new();
    match &req.topics {
        None => {
            for name in cluster.topics.keys() {
                topics.push(Entry::Known(name.clone()));
            }
        }
        Some(refs) => {
            let mut seen = std::collections::BTreeSet::new();
            for t in refs {
                if version < 12 && (t.name.is_none() || t.id != [0; 16]) {
                    topics.push(Entry::Error(codes::INVALID_REQUEST, t.name.clone(), t.id));
                    continue;
                }
                let name = match &t.name {
                    Some(n) => n.clone(),
                    None => match cluster.topics.iter().find(|(_, tp)| tp.id == t.id) {
                        Some((n, _)) => n.clone(),
                        None => {
                            topics.push(Entry::Error(codes::UNKNOWN_TOPIC_ID, None, t.id));
                            continue;
                        }
                    },
                };
                if !seen.insert(name.clone()) {
                    continue;
                }
                if cluster.topics.contains_key(&name) {
                    topics.push(Entry::Known(name));
                } else if !valid_topic_name(&name) {
                    topics.push(Entry::Error(
                        codes::INVALID_TOPIC_EXCEPTION,
                        Some(name),
                        [0; 16],
                    ));
                } else if cluster.cfg.auto_create_topics
                    && req.allow_auto_topic_creation
                    && t.name.is_some()
                {
                    let partitions = cluster.cfg.default_partitions.max(1);
                    let code = match cluster.create_topic(&name, partitions) {
                        Ok(()) => codes::LEADER_NOT_AVAILABLE,
                        Err(_) => codes::INVALID_TOPIC_EXCEPTION,
                    };
                    topics.push(Entry::Error(code, Some(name), [0; 16]));
                } else {
                    topics.push(Entry::Error(
                        codes::UNKNOWN_TOPIC_OR_PARTITION,
                        Some(name),
                        [0; 16],
                    ));
                }
            }
        }
    }

    let up: Vec<i32> = cluster
        .brokers
        .iter()
        .filter(|b| b.up)
        .map(|b| b.id)
        .collect();
    let brokers = cluster
        .brokers
        .iter()
        .filter(|b| b.up)
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port)
        })
        .collect();
    let fault_error = call.faults.error.clone();
    let mut out_topics = Vec::with_capacity(topics.len());
    for e in topics {
        let mut t = match e {
            Entry::Error(code, name, id) => topic_entry(code, name.as_deref(), id),
            Entry::Known(name) => {
                let Some(tp) = cluster.topics.get(&name) else {
                    continue;
                };
                let partitions = tp
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let isr: Vec<BrokerId> = p
                            .replicas
                            .iter()
                            .filter(|r| up.contains(r))
                            .map(|&r| BrokerId(r))
                            .collect();
                        let offline: Vec<BrokerId> = p
                            .replicas
                            .iter()
                            .filter(|r| !up.contains(r))
                            .map(|&r| BrokerId(r))
                            .collect();
                        MetadataResponsePartition::default()
                            .with_error_code(if p.leader < 0 {
                                codes::LEADER_NOT_AVAILABLE
                            } else {
                                codes::NONE
                            })
                            .with_partition_index(i as i32)
                            .with_leader_id(BrokerId(p.leader))
                            .with_leader_epoch(p.leader_epoch)
                            .with_replica_nodes(p.replicas.iter().map(|&r| BrokerId(r)).collect())
                            .with_isr_nodes(isr)
                            .with_offline_replicas(offline)
                    })
                    .collect();
                let mut t =
                    topic_entry(codes::NONE, Some(&name), tp.id).with_partitions(partitions);
                if req.include_topic_authorized_operations {
                    t.topic_authorized_operations = TOPIC_OPERATIONS;
                }
                t
            }
        };
        if let Some((code, filter)) = &fault_error {
            let name = t.name.as_ref().map(|n| n.0.as_str());
            if filter.as_deref().is_none_or(|f| Some(f) == name) {
                t.error_code = *code;
                t.partitions.clear();
            }
        }
        out_topics.push(t);
    }
    let body = MetadataResponse::default()
        .with_throttle_time_ms(call.faults.throttle_ms())
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(cluster.cfg.cluster_id.clone())))
        .with_controller_id(BrokerId(up.first().copied().unwrap_or(-1)))
        .with_topics(out_topics)
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS
        } else {
            NO_OPERATIONS
        });
    call.reply(ApiKey::Metadata, &body)
}

enum Entry {
    Known(String),
    Error(i16, Option<String>, [u8; 16]),
}
