//! CreateTopics (key 19), v2–v7 (Kafka 4.x removed v0 and v1, KIP-896).
//!
//! As Kafka 4.x's `ControllerApis.createTopics` and `ReplicationControlManager.createTopics`
//! (a broker forwards the request to the controller; here any broker that is up answers):
//! 1. a name given more than once is INVALID_REQUEST ("Duplicate topic name."), answered once,
//!    after the other topics; `__cluster_metadata` is INVALID_REQUEST too;
//! 2. per topic, in Kafka's order: an injected fault error; a name `Topic.validate` refuses
//!    (INVALID_TOPIC_EXCEPTION); a topic that exists (TOPIC_ALREADY_EXISTS); a config with a null
//!    value or a value the mock honours but cannot read (INVALID_CONFIG); manual replica
//!    assignments (INVALID_REQUEST, see below); a replication factor of 0 or below -1
//!    (INVALID_REPLICATION_FACTOR); a partition count of 0 or below -1 (INVALID_PARTITIONS); a
//!    replication factor above the number of brokers, up or down, as Kafka counts registered
//!    brokers (INVALID_REPLICATION_FACTOR). -1 takes the default: the cluster's
//!    `default_partitions`, and Kafka's `default.replication.factor` of 1;
//! 3. a request that would write more than 10,000 metadata records (one per topic, per config
//!    and per partition, Kafka's `MAX_RECORDS_PER_USER_OP`) fails as a whole with
//!    POLICY_VIOLATION, as Kafka's controller refuses it;
//! 4. the topics are created with [`MockCluster::create_topic_with_config`], exactly as a test's
//!    own `create_topic` would; `validate_only` runs every check and creates nothing.
//!
//! Error messages are Kafka's. Answers from v5 carry the partition count, the replication
//! factor and the configs the mock honours; v7 the topic id.
//!
//! What differs from Kafka, because the mock does not model it:
//! - every partition is replicated on every broker (as Metadata shows), so the replication
//!   factor answered is the broker count whatever was asked (the request's is only checked);
//! - manual replica assignments are refused with INVALID_REQUEST ("Manual partition assignments
//!   are not supported by kproducer-mock."), after Kafka's own checks that the partition count
//!   and replication factor are -1 with them;
//! - of the topic configs, `message.timestamp.type` and `max.message.bytes` are honoured (and
//!   checked); the others are accepted and ignored, where Kafka checks them and refuses unknown
//!   names; the answer lists the two honoured ones only;
//! - a `validate_only` answer carries a nil topic id (Kafka makes up a random one it never uses);
//! - `timeout_ms` is ignored: creation is immediate.

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::codes;
use crate::config::{TimestampType, TopicConfig};
use crate::wire::Reader;

/// Kafka's `QuorumController.MAX_RECORDS_PER_USER_OP`.
const MAX_RECORDS_PER_REQUEST: usize = 10_000;
/// Kafka's `default.replication.factor`.
const DEFAULT_REPLICATION_FACTOR: i32 = 1;
/// `Topic.CLUSTER_METADATA_TOPIC_NAME`.
const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";
const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
const TIMESTAMP_TYPE: &str = "message.timestamp.type";
/// `ConfigSource` ids of `DescribeConfigsResponse`.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;

pub(crate) struct NewTopic {
    pub(crate) name: String,
    pub(crate) num_partitions: i32,
    pub(crate) replication_factor: i16,
    /// How many manual replica assignments it carries (they are refused, so only counted).
    pub(crate) assignments: usize,
    pub(crate) configs: Vec<(String, Option<String>)>,
}

pub(crate) struct Request {
    pub(crate) topics: Vec<NewTopic>,
    pub(crate) validate_only: bool,
}

impl Request {
    /// The topics, for fault matching.
    pub(crate) fn units(&self) -> Vec<(String, Option<i32>)> {
        self.topics.iter().map(|t| (t.name.clone(), None)).collect()
    }
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 5;
    let mut go = || -> crate::wire::WireResult<Request> {
        let n = r.array(flexible)?;
        let mut topics = Vec::new();
        for _ in 0..n {
            let name = r.string(flexible)?;
            let num_partitions = r.i32()?;
            let replication_factor = r.i16()?;
            let assignments = r.array(flexible)?;
            for _ in 0..assignments {
                let _partition_index = r.i32()?;
                for _ in 0..r.array(flexible)? {
                    let _broker_id = r.i32()?;
                }
                if flexible {
                    r.skip_tagged_fields()?;
                }
            }
            let nc = r.array(flexible)?;
            let mut configs = Vec::new();
            for _ in 0..nc {
                let name = r.string(flexible)?;
                let value = r.nullable_string(flexible)?;
                if flexible {
                    r.skip_tagged_fields()?;
                }
                configs.push((name, value));
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            topics.push(NewTopic {
                name,
                num_partitions,
                replication_factor,
                assignments,
                configs,
            });
        }
        let _timeout_ms = r.i32()?;
        let validate_only = r.bool()?; // v1+, and v2 is the oldest served
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request {
            topics,
            validate_only,
        })
    };
    go().map_err(|e| e.to_string())
}

/// `Topic.validate`'s message for a name Kafka refuses, `None` for a valid one.
fn invalid_name(name: &str) -> Option<String> {
    let reason = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." {
        "'.' is not allowed".to_string()
    } else if name == ".." {
        "'..' is not allowed".to_string()
    } else if name.encode_utf16().count() > 249 {
        format!("the length of '{name}' is longer than the max allowed length 249")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        )
    } else {
        return None;
    };
    Some(format!("Topic name is invalid: {reason}"))
}

/// The topic config the request asks for, or Kafka's INVALID_CONFIG message.
fn topic_config(
    cluster: &MockCluster,
    configs: &[(String, Option<String>)],
) -> Result<TopicConfig, String> {
    let nulls: Vec<&str> = configs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(format!(
            "Null value not supported for topic configs: {}",
            nulls.join(",")
        ));
    }
    let mut config = TopicConfig {
        timestamp_type: cluster.cfg.timestamp_type,
        max_message_bytes: None,
    };
    for (name, value) in configs {
        let value = value.as_deref().unwrap_or_default();
        match name.as_str() {
            TIMESTAMP_TYPE => {
                config.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(format!(
                            "Invalid value {value} for configuration {TIMESTAMP_TYPE}: String must be one of: CreateTime, LogAppendTime"
                        ))
                    }
                }
            }
            MAX_MESSAGE_BYTES => {
                let n: i32 = value.trim().parse().map_err(|_| {
                    format!(
                        "Invalid value {value} for configuration {MAX_MESSAGE_BYTES}: Not a number of type INT"
                    )
                })?;
                let n = usize::try_from(n).map_err(|_| {
                    format!(
                        "Invalid value {n} for configuration {MAX_MESSAGE_BYTES}: Value must be at least 0"
                    )
                })?;
                config.max_message_bytes = Some(n);
            }
            _ => {} // accepted and ignored
        }
    }
    Ok(config)
}

/// What one topic of the request comes to.
enum Verdict {
    Refused(i16, Option<String>),
    Create {
        partitions: i32,
        config: TopicConfig,
        /// Which honoured configs the request set.
        set: (bool, bool),
    },
}

fn check(cluster: &MockCluster, t: &NewTopic) -> Verdict {
    let refuse = |code: i16, msg: String| Verdict::Refused(code, Some(msg));
    if let Some(msg) = invalid_name(&t.name) {
        return refuse(codes::INVALID_TOPIC_EXCEPTION, msg);
    }
    if cluster.topics.contains_key(&t.name) {
        return refuse(
            codes::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", t.name),
        );
    }
    let config = match topic_config(cluster, &t.configs) {
        Ok(c) => c,
        Err(msg) => return refuse(codes::INVALID_CONFIG, msg),
    };
    if t.assignments > 0 {
        if t.replication_factor != -1 {
            return refuse(
                codes::INVALID_REQUEST,
                "A manual partition assignment was specified, but replication factor was not set to -1."
                    .to_string(),
            );
        }
        if t.num_partitions != -1 {
            return refuse(
                codes::INVALID_REQUEST,
                "A manual partition assignment was specified, but numPartitions was not set to -1."
                    .to_string(),
            );
        }
        return refuse(
            codes::INVALID_REQUEST,
            "Manual partition assignments are not supported by kproducer-mock.".to_string(),
        );
    }
    if t.replication_factor < -1 || t.replication_factor == 0 {
        return refuse(
            codes::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.".to_string(),
        );
    }
    if t.num_partitions < -1 || t.num_partitions == 0 {
        return refuse(
            codes::INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.".to_string(),
        );
    }
    let partitions = if t.num_partitions == -1 {
        cluster.cfg.default_partitions.max(1)
    } else {
        t.num_partitions
    };
    let rf = if t.replication_factor == -1 {
        DEFAULT_REPLICATION_FACTOR
    } else {
        i32::from(t.replication_factor)
    };
    let brokers = cluster.brokers.len();
    if usize::try_from(rf).is_ok_and(|rf| rf > brokers) {
        return refuse(
            codes::INVALID_REPLICATION_FACTOR,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {brokers} broker(s) are registered."
            ),
        );
    }
    let set = (
        t.configs.iter().any(|(n, _)| n == TIMESTAMP_TYPE),
        t.configs.iter().any(|(n, _)| n == MAX_MESSAGE_BYTES),
    );
    Verdict::Create {
        partitions,
        config,
        set,
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn refused(topic: &str, code: i16, message: Option<String>) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(name(topic))
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
        .with_configs(Some(Vec::new()))
}

fn config_entry(name: &str, value: String, set: bool) -> CreatableTopicConfigs {
    CreatableTopicConfigs::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_read_only(false)
        .with_config_source(if set {
            DYNAMIC_TOPIC_CONFIG
        } else {
            DEFAULT_CONFIG
        })
        .with_is_sensitive(false)
}

pub(crate) fn handle(
    cluster: &mut MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    // Duplicates and the metadata log's name never reach the controller.
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for t in &req.topics {
        *counts.entry(t.name.as_str()).or_insert(0) += 1;
    }
    let mut duplicates: Vec<&str> = Vec::new();
    let mut metadata_topic = false;
    let mut effective: Vec<&NewTopic> = Vec::new();
    for t in &req.topics {
        if counts.get(t.name.as_str()).copied().unwrap_or(0) > 1 {
            if !duplicates.contains(&t.name.as_str()) {
                duplicates.push(&t.name);
            }
        } else if t.name == CLUSTER_METADATA_TOPIC {
            metadata_topic = true;
        } else {
            effective.push(t);
        }
    }

    let fault = call.faults.error.clone();
    let mut verdicts: Vec<(&NewTopic, Verdict)> = Vec::with_capacity(effective.len());
    let mut records = 0usize;
    for t in effective {
        let v = match &fault {
            Some((code, filter)) if filter.as_deref().is_none_or(|f| f == t.name) => {
                Verdict::Refused(*code, None)
            }
            _ => check(cluster, t),
        };
        if let Verdict::Create { partitions, .. } = &v {
            let p = usize::try_from(*partitions).unwrap_or(usize::MAX);
            records = records
                .saturating_add(1)
                .saturating_add(t.configs.len())
                .saturating_add(p);
        }
        verdicts.push((t, v));
    }
    if records > MAX_RECORDS_PER_REQUEST {
        let msg = "Unable to perform excessively large batch operation.";
        for (_, v) in &mut verdicts {
            *v = Verdict::Refused(codes::POLICY_VIOLATION, Some(msg.to_string()));
        }
    }

    let brokers = i16::try_from(cluster.brokers.len()).unwrap_or(i16::MAX);
    let mut results = Vec::with_capacity(req.topics.len());
    for (t, v) in verdicts {
        let result = match v {
            Verdict::Refused(code, msg) => {
                if let Some(m) = &msg {
                    cluster
                        .stats
                        .note_error(format!("create topic {:?}: error {code}: {m}", t.name));
                }
                refused(&t.name, code, msg)
            }
            Verdict::Create {
                partitions,
                config,
                set,
            } => {
                let entries = vec![
                    config_entry(
                        MAX_MESSAGE_BYTES,
                        config
                            .max_message_bytes
                            .unwrap_or(cluster.cfg.max_message_bytes)
                            .to_string(),
                        set.1,
                    ),
                    config_entry(
                        TIMESTAMP_TYPE,
                        match config.timestamp_type {
                            TimestampType::CreateTime => "CreateTime",
                            TimestampType::LogAppendTime => "LogAppendTime",
                        }
                        .to_string(),
                        set.0,
                    ),
                ];
                let id = if req.validate_only {
                    Ok([0; 16])
                } else {
                    cluster
                        .create_topic_with_config(&t.name, partitions, config)
                        .map(|()| cluster.topic_id(&t.name).unwrap_or([0; 16]))
                };
                match id {
                    Ok(id) => {
                        if !req.validate_only {
                            cluster.stats.topics_created += 1;
                        }
                        CreatableTopicResult::default()
                            .with_name(name(&t.name))
                            .with_topic_id(uuid::Uuid::from_bytes(id))
                            .with_error_code(codes::NONE)
                            .with_error_message(None)
                            .with_num_partitions(partitions)
                            .with_replication_factor(brokers)
                            .with_configs(Some(entries))
                    }
                    // Checked above: not expected, but answered rather than trusted.
                    Err(e) => refused(&t.name, codes::UNKNOWN_SERVER_ERROR, Some(e.to_string())),
                }
            }
        };
        results.push(result);
    }
    for d in duplicates {
        results.push(refused(
            d,
            codes::INVALID_REQUEST,
            Some("Duplicate topic name.".to_string()),
        ));
    }
    if metadata_topic {
        results.push(refused(
            CLUSTER_METADATA_TOPIC,
            codes::INVALID_REQUEST,
            Some(format!(
                "Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited."
            )),
        ));
    }
    let body = CreateTopicsResponse::default()
        .with_throttle_time_ms(call.faults.throttle_ms())
        .with_topics(results);
    call.reply(ApiKey::CreateTopics, &body)
}
