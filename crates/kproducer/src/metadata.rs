//! The producer's view of the cluster: brokers, topics, partitions and their leaders, and the
//! policy for when to refresh it (Java's `ProducerMetadata`).
//!
//! Sans-IO: [`Metadata`], owned by the [core](crate::core), decides *when* a refresh is due;
//! the core asks for the topics the send path wants and feeds the answer to
//! [`Metadata::handle_response`]. Senders read an immutable [`Cluster`] snapshot (`Arc`) the core
//! publishes, so a `send` never waits on the network thread to look up a partition count.

use std::collections::{HashMap, HashSet};

use rustc_hash::FxBuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::network::metadata_answer::{MetadataAnswer, PartitionAnswer, TopicAnswer};
use crate::protocol::errors::ErrorCode;

/// A broker as the cluster advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

impl BrokerInfo {
    /// `host:port`, ready for `connect`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionInfo {
    /// Partition id.
    pub partition: i32,
    /// Leader node id, `None` while there is no leader.
    pub leader: Option<i32>,
    /// Leader epoch (-1 when unknown).
    pub leader_epoch: i32,
}

/// What the cluster said about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Partitions indexed by id (`partitions[i].partition == i`).
    pub partitions: Vec<PartitionInfo>,
    /// Partitions with a known leader, ascending.
    pub available: Vec<i32>,
}

impl TopicInfo {
    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }

    /// The leader of `partition`, if known.
    pub fn leader(&self, partition: i32) -> Option<i32> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
            .and_then(|p| p.leader)
    }
}

/// An immutable snapshot of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Brokers by node id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Topics with usable metadata.
    /// (Fx-hashed: looked up on every send, and the names are ours, not attacker-chosen.)
    pub topics: HashMap<String, Arc<TopicInfo>, FxBuildHasher>,
    /// Topics the last answer reported an error for (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub topic_errors: HashMap<String, ErrorCode>,
}

impl Cluster {
    /// The topic's metadata, if known.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics.get(name)
    }

    /// The leader of `topic`-`partition`, if known.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topics.get(topic).and_then(|t| t.leader(partition))
    }
}

/// The refresh policy and the current snapshot.
///
/// ```
/// use std::time::{Duration, Instant};
/// use kproducer::internals::metadata::Metadata;
/// let now = Instant::now();
/// let mut m = Metadata::new(Duration::from_millis(100), Duration::from_secs(300));
/// assert!(m.update_due(now), "nothing known yet");
/// let request = m.build_request(vec!["orders".to_string()], now);
/// assert_eq!(request.topics.map(|t| t.len()), Some(1));
/// assert!(!m.update_due(now), "asked: wait for the answer or the backoff");
/// ```
#[derive(Debug)]
pub struct Metadata {
    cluster: Arc<Cluster>,
    need_update: bool,
    last_refresh: Option<Instant>,
    last_attempt: Option<Instant>,
    refresh_backoff: Duration,
    max_age: Duration,
    version: u64,
    /// Bumped by [`Metadata::request_update_for_new_topics`]; the value when the last request
    /// was built, so an answer clears only what that request covered (Java's `requestVersion`).
    new_topic_requests: u64,
    requested_with: u64,
}

impl Metadata {
    /// A policy with `retry.backoff.ms` (capped at `retry.backoff.max.ms`) and
    /// `metadata.max.age.ms`.
    pub fn new(refresh_backoff: Duration, max_age: Duration) -> Self {
        Metadata {
            cluster: Arc::new(Cluster::default()),
            need_update: true,
            last_refresh: None,
            last_attempt: None,
            refresh_backoff,
            max_age,
            version: 0,
            new_topic_requests: 0,
            requested_with: 0,
        }
    }

    /// The current snapshot.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Bumped on every change of the snapshot.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Asks for a refresh at the next opportunity (an error that suggests stale leaders). An
    /// answer to a request already in flight satisfies it.
    pub fn request_update(&mut self) {
        self.need_update = true;
    }

    /// Asks for a refresh that covers topics the send path just added: an answer to a request
    /// built before this call does not satisfy it.
    pub fn request_update_for_new_topics(&mut self) {
        self.need_update = true;
        self.new_topic_requests += 1;
    }

    /// When the next refresh is due: now if one was requested (after the backoff), else when the
    /// snapshot reaches `metadata.max.age.ms`.
    pub fn next_update(&self, now: Instant) -> Instant {
        let backoff_end = self
            .last_attempt
            .map(|t| t + self.refresh_backoff)
            .unwrap_or(now);
        if self.need_update {
            return backoff_end.max(now);
        }
        match self.last_refresh {
            Some(t) => (t + self.max_age).max(backoff_end),
            None => backoff_end.max(now),
        }
    }

    /// Whether a refresh should be sent now.
    pub fn update_due(&self, now: Instant) -> bool {
        self.next_update(now) <= now
    }

    /// A request for `topics`; records the attempt (no other is due before its answer or the
    /// backoff).
    pub fn build_request(&mut self, topics: Vec<String>, now: Instant) -> MetadataRequest {
        self.last_attempt = Some(now);
        self.need_update = false;
        self.requested_with = self.new_topic_requests;
        let topics = topics
            .into_iter()
            .map(|t| {
                MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t))))
            })
            .collect();
        MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(true)
    }

    /// The request failed (connection error, timeout): retry after the backoff.
    pub fn handle_failure(&mut self, now: Instant) {
        self.last_attempt = Some(now);
        self.need_update = true;
    }

    /// Applies a new-leader hint from a Produce answer (KIP-951): `topic`-`partition` is now led
    /// by `leader` at `leader_epoch`, reachable at `endpoint` if the broker is new to us. Ignored
    /// unless the epoch is newer than ours. Returns whether the snapshot changed.
    pub fn apply_leader_hint(
        &mut self,
        topic: &str,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        endpoint: Option<BrokerInfo>,
    ) -> bool {
        let Some(info) = self.cluster.topics.get(topic) else {
            return false;
        };
        let Some(current) = usize::try_from(partition)
            .ok()
            .and_then(|p| info.partitions.get(p))
        else {
            return false;
        };
        if leader < 0 || leader_epoch <= current.leader_epoch {
            return false;
        }
        let mut cluster = (*self.cluster).clone();
        if let Some(b) = endpoint {
            cluster.brokers.entry(b.node_id).or_insert(b);
        }
        if !cluster.brokers.contains_key(&leader) {
            return false; // we can't reach it yet: wait for the metadata refresh
        }
        let mut t = (**info).clone();
        if let Some(p) = t.partitions.get_mut(partition as usize) {
            p.leader = Some(leader);
            p.leader_epoch = leader_epoch;
        }
        t.available = t
            .partitions
            .iter()
            .filter(|p| p.leader.is_some())
            .map(|p| p.partition)
            .collect();
        cluster.topics.insert(topic.to_string(), Arc::new(t));
        self.cluster = Arc::new(cluster);
        self.version += 1;
        true
    }

    /// Applies an answer decoded by kafka-protocol (see [`Metadata::handle_answer`]).
    pub fn handle_response(
        &mut self,
        response: &MetadataResponse,
        now: Instant,
        wanted: &dyn Fn(&str) -> bool,
    ) {
        let answer = MetadataAnswer {
            brokers: response
                .brokers
                .iter()
                .map(|b| BrokerInfo {
                    node_id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                })
                .collect(),
            topics: response
                .topics
                .iter()
                .filter_map(|t| {
                    Some(TopicAnswer {
                        name: t.name.as_ref()?.0.to_string(),
                        error_code: t.error_code,
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| PartitionAnswer {
                                index: p.partition_index,
                                leader: p.leader_id.0,
                                leader_epoch: p.leader_epoch,
                                error_code: p.error_code,
                            })
                            .collect(),
                    })
                })
                .collect(),
        };
        self.handle_answer(answer, now, wanted);
    }

    /// Applies an answer. `wanted(topic)` says whether the send path still wants a topic the answer
    /// does not mention (its last known metadata is then kept). Consumes the answer so its
    /// partitions' memory becomes the snapshot's (no second copy of a large topic).
    pub fn handle_answer(
        &mut self,
        answer: MetadataAnswer,
        now: Instant,
        wanted: &dyn Fn(&str) -> bool,
    ) {
        let mut cluster = Cluster::default();
        for b in answer.brokers {
            cluster.brokers.insert(b.node_id, b);
        }
        let mut retry_soon = false;
        let mut seen = HashSet::new();
        for t in answer.topics {
            let name = t.name;
            seen.insert(name.clone());
            if let Some(code) = ErrorCode::from_i16(t.error_code) {
                // LEADER_NOT_AVAILABLE etc. right after creation: ask again soon.
                retry_soon = true;
                cluster.topic_errors.insert(name, code);
                continue;
            }
            let brokers = &cluster.brokers;
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    partition: p.index,
                    leader: (p.leader >= 0 && brokers.contains_key(&p.leader)).then_some(p.leader),
                    leader_epoch: p.leader_epoch,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            // Partition ids must be 0..n; a gap means a malformed answer: treat the topic as unknown.
            if partitions
                .iter()
                .enumerate()
                .any(|(i, p)| p.partition != i as i32)
                || partitions.is_empty()
            {
                retry_soon = true;
                cluster
                    .topic_errors
                    .insert(name, ErrorCode::LEADER_NOT_AVAILABLE);
                continue;
            }
            let available: Vec<i32> = partitions
                .iter()
                .filter(|p| p.leader.is_some())
                .map(|p| p.partition)
                .collect();
            if available.len() < partitions.len() {
                retry_soon = true;
            }
            cluster.topics.insert(
                name.clone(),
                Arc::new(TopicInfo {
                    name,
                    partitions,
                    available,
                }),
            );
        }
        // Keep what we knew of topics the answer didn't mention (e.g. a partial answer).
        for (name, info) in self.cluster.topics.iter() {
            if !seen.contains(name) && wanted(name) {
                cluster.topics.insert(name.clone(), info.clone());
            }
        }
        self.cluster = Arc::new(cluster);
        self.version += 1;
        self.last_refresh = Some(now);
        self.last_attempt = Some(now);
        // A new topic asked for while this request was in flight still gets its own refresh.
        self.need_update = retry_soon || self.new_topic_requests != self.requested_with;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;

    fn response(leaders: &[i32]) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(9092),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(9093),
            ])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_partitions(
                    leaders
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(i as i32)
                                .with_leader_id(BrokerId(*l))
                        })
                        .collect(),
                )])
    }

    fn policy() -> Metadata {
        Metadata::new(Duration::from_millis(100), Duration::from_secs(10))
    }

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn refresh_is_due_at_start_then_after_max_age() {
        let t0 = Instant::now();
        let mut m = policy();
        assert!(m.update_due(t0));
        let _ = m.build_request(vec!["t".into()], t0);
        assert!(!m.update_due(t0), "in flight");
        m.handle_response(&response(&[1, 2]), t0, &all);
        assert!(!m.update_due(t0 + Duration::from_secs(9)));
        assert!(m.update_due(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn an_update_requested_while_a_request_is_in_flight_is_not_lost() {
        let t0 = Instant::now();
        let mut m = policy();
        let _ = m.build_request(vec!["t".into()], t0);
        m.request_update(); // stale leaders: this answer will do
        m.request_update_for_new_topics(); // a new topic arrived meanwhile: it won't
        m.handle_response(&response(&[1, 2]), t0 + Duration::from_millis(5), &all);
        assert!(
            m.update_due(t0 + Duration::from_millis(105)),
            "after the backoff"
        );
        let _ = m.build_request(vec!["t".into()], t0 + Duration::from_millis(100));
        m.request_update();
        m.handle_response(&response(&[1, 2]), t0 + Duration::from_millis(105), &all);
        assert!(!m.update_due(t0 + Duration::from_millis(300)), "satisfied");
    }

    #[test]
    fn leaders_and_availability() {
        let t0 = Instant::now();
        let mut m = policy();
        m.handle_response(&response(&[1, -1, 2]), t0, &all);
        let t = m.cluster().topic("t").cloned().expect("topic");
        assert_eq!(t.partition_count(), 3);
        assert_eq!(t.available, vec![0, 2]);
        assert_eq!(m.cluster().leader_for("t", 2), Some(2));
        assert_eq!(m.cluster().leader_for("t", 1), None);
        // A partition without leader makes the next refresh due after the backoff only.
        assert!(!m.update_due(t0 + Duration::from_millis(99)));
        assert!(m.update_due(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn failure_backs_off() {
        let t0 = Instant::now();
        let mut m = policy();
        m.handle_failure(t0);
        assert!(!m.update_due(t0 + Duration::from_millis(99)));
        assert!(m.update_due(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn topics_missing_from_an_answer_are_kept_only_while_wanted() {
        let t0 = Instant::now();
        let mut m = policy();
        m.handle_response(&response(&[1]), t0, &all);
        let empty = MetadataResponse::default().with_brokers(response(&[1]).brokers);
        m.handle_response(&empty, t0, &|t| t == "t");
        assert!(m.cluster().topic("t").is_some(), "still wanted: kept");
        m.handle_response(&empty, t0, &|_| false);
        assert!(
            m.cluster().topic("t").is_none(),
            "no longer wanted: dropped"
        );
    }
}
