//! The sans-IO cluster: brokers, topics, partitions and their logs, and the request entry point.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::batch::{StoredBatch, StoredRecord};
use crate::config::{ClusterConfig, TopicConfig};
use crate::faults::{FaultId, FaultRule, Faults};
use crate::log::PartitionLog;
use crate::producer_state::ProducerState;
use crate::rng::SplitMix64;
use crate::stats::ClusterStats;
use crate::MockError;

/// What to do with a request frame once the cluster has handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer with `frame` (including the 4-byte size prefix) after `delay` (zero unless a
    /// `Delay` fault applies). Answers on one connection must be delivered in request order.
    ///
    /// Kafka handles one request per connection at a time (it mutes the connection until the
    /// answer is sent), so a faithful caller hands the next request of that connection to
    /// [`MockCluster::handle_request`] only once this answer is delivered; the crate's
    /// `MockServer` does.
    Reply {
        /// The whole response frame.
        frame: Bytes,
        /// How long to hold it back.
        delay: Duration,
    },
    /// No answer is expected (Produce with acks=0 that succeeded).
    NoReply,
    /// Fault: the request was processed (records appended) but its answer is lost; the client
    /// must time out.
    Dropped,
    /// Close the connection: malformed or unsupported request, broker down, a cut fault, or a
    /// failed acks=0 Produce (Kafka closes the connection so the producer notices).
    Close {
        /// Whether the request took effect before the close.
        processed: bool,
        /// Why, for logs and assertions.
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub(crate) id: i32,
    pub(crate) up: bool,
    pub(crate) host: String,
    pub(crate) port: i32,
}

#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
    /// Every broker, starting with the first leader (a replication factor of the broker count).
    pub(crate) replicas: Vec<i32>,
    pub(crate) log: PartitionLog,
}

#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) id: [u8; 16],
    pub(crate) config: TopicConfig,
    pub(crate) partitions: Vec<Partition>,
}

/// An in-process Kafka cluster without I/O: feed it request frames with
/// [`handle_request`](Self::handle_request), deliver the [`Outcome`]s, read back what was
/// written.
///
/// Nothing in it reads a clock or the OS's randomness: time is the `now_ms` argument and every
/// random choice comes from [`ClusterConfig::seed`]. Replication, disk, controllers and
/// coordinators are not modelled: each partition is one in-memory log whose replicas are always
/// in sync, and leadership moves only when told to ([`set_leader`](Self::set_leader),
/// [`set_broker_up`](Self::set_broker_up)); a coordinator is only a placement
/// ([`coordinator`](Self::coordinator)) that FindCoordinator reports.
///
/// ```
/// use kproducer_mock::{ClusterConfig, MockCluster, Outcome};
/// use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
/// use kafka_protocol::protocol::{Encodable, StrBytes};
///
/// let mut cluster = MockCluster::new(ClusterConfig { brokers: 3, ..Default::default() });
/// cluster.create_topic("orders", 6).unwrap();
/// assert_eq!(cluster.leader("orders", 4), Some(2));
///
/// // A request frame (what follows the 4-byte size on the wire): header, then body.
/// let mut frame = bytes::BytesMut::new();
/// RequestHeader::default()
///     .with_request_api_key(ApiKey::ApiVersions as i16)
///     .with_request_api_version(3)
///     .with_correlation_id(7)
///     .encode(&mut frame, 2)
///     .unwrap();
/// ApiVersionsRequest::default()
///     .with_client_software_name(StrBytes::from_static_str("doc"))
///     .with_client_software_version(StrBytes::from_static_str("1"))
///     .encode(&mut frame, 3)
///     .unwrap();
/// match cluster.handle_request(1, &frame, 0) {
///     Outcome::Reply { frame, delay } => {
///         assert!(delay.is_zero());
///         assert_eq!(&frame[4..8], &7i32.to_be_bytes()); // the correlation id
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct MockCluster {
    pub(crate) cfg: ClusterConfig,
    pub(crate) brokers: Vec<Broker>,
    pub(crate) topics: BTreeMap<String, Topic>,
    pub(crate) next_producer_id: i64,
    pub(crate) rng: SplitMix64,
    pub(crate) faults: Faults,
    pub(crate) stats: ClusterStats,
    pub(crate) txn: crate::txn::Coordinator,
}

/// Kafka's `offsets.topic.num.partitions` and `transaction.state.log.num.partitions` defaults.
const COORDINATOR_PARTITIONS: usize = 50;

/// `Topic.validate`: what Kafka accepts as a topic name.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

impl MockCluster {
    /// A cluster of `cfg.brokers` brokers (node ids `1..=brokers`, all up), no topics.
    pub fn new(cfg: ClusterConfig) -> Self {
        let n = cfg.brokers.max(1);
        let brokers = (1..=n)
            .map(|id| Broker {
                id,
                up: true,
                host: format!("broker-{id}"),
                port: 9092,
            })
            .collect();
        Self {
            brokers,
            topics: BTreeMap::new(),
            next_producer_id: cfg.first_producer_id,
            rng: SplitMix64::new(cfg.seed),
            faults: Faults::new(cfg.seed),
            stats: ClusterStats::default(),
            txn: crate::txn::Coordinator::default(),
            cfg,
        }
    }

    /// The settings it was created with.
    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// Node ids of all brokers, up or down.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.iter().map(|b| b.id).collect()
    }

    fn broker_index(&self, id: i32) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(1)?).ok()?;
        (i < self.brokers.len()).then_some(i)
    }

    pub(crate) fn broker(&self, id: i32) -> Option<&Broker> {
        self.broker_index(id).map(|i| &self.brokers[i])
    }

    /// Sets the address advertised for `broker` in Metadata (default `broker-<id>:9092`). A TCP
    /// wrapper puts its real listener addresses here.
    pub fn set_advertised(&mut self, broker: i32, host: &str, port: i32) {
        if let Some(i) = self.broker_index(broker) {
            let b = &mut self.brokers[i];
            b.host = host.to_string();
            b.port = port;
        }
    }

    /// The advertised address of `broker`.
    pub fn advertised(&self, broker: i32) -> Option<(String, i32)> {
        self.broker(broker).map(|b| (b.host.clone(), b.port))
    }

    /// Creates a topic with the cluster's default topic config. Partition `p`'s leader is
    /// broker `1 + p % brokers` (or the next broker up after it).
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<(), MockError> {
        let config = TopicConfig {
            timestamp_type: self.cfg.timestamp_type,
            max_message_bytes: None,
        };
        self.create_topic_with_config(name, partitions, config)
    }

    /// Creates a topic with its own config.
    pub fn create_topic_with_config(
        &mut self,
        name: &str,
        partitions: i32,
        config: TopicConfig,
    ) -> Result<(), MockError> {
        if !valid_topic_name(name) {
            return Err(MockError::InvalidTopic(name.to_string()));
        }
        if partitions < 1 {
            return Err(MockError::InvalidPartitions(partitions));
        }
        if self.topics.contains_key(name) {
            return Err(MockError::TopicExists(name.to_string()));
        }
        let ids = self.broker_ids();
        let n = ids.len();
        let parts = (0..partitions)
            .map(|p| {
                let first = p as usize % n;
                let replicas: Vec<i32> = (0..n).map(|k| ids[(first + k) % n]).collect();
                let leader = replicas
                    .iter()
                    .copied()
                    .find(|&b| self.is_up(b))
                    .unwrap_or(-1);
                Partition {
                    leader,
                    leader_epoch: 0,
                    replicas,
                    log: PartitionLog::default(),
                }
            })
            .collect();
        let id = self.new_topic_id();
        self.topics.insert(
            name.to_string(),
            Topic {
                id,
                config,
                partitions: parts,
            },
        );
        Ok(())
    }

    /// A random (version 4) topic id from the seeded generator, never zero and never a
    /// duplicate.
    fn new_topic_id(&mut self) -> [u8; 16] {
        loop {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
            id[8..].copy_from_slice(&self.rng.next_u64().to_be_bytes());
            id[6] = (id[6] & 0x0f) | 0x40;
            id[8] = (id[8] & 0x3f) | 0x80;
            if !self.topics.values().any(|t| t.id == id) {
                return id;
            }
        }
    }

    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Option<&Partition> {
        self.topics.get(topic).and_then(|t| {
            usize::try_from(partition)
                .ok()
                .and_then(|p| t.partitions.get(p))
        })
    }

    pub(crate) fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Partition> {
        self.topics.get_mut(topic).and_then(|t| {
            usize::try_from(partition)
                .ok()
                .and_then(|p| t.partitions.get_mut(p))
        })
    }

    /// Topic names, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    /// The number of partitions of a topic.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|t| t.partitions.len() as i32)
    }

    /// A topic's id (as Metadata v10+ reports it).
    pub fn topic_id(&self, topic: &str) -> Option<[u8; 16]> {
        self.topics.get(topic).map(|t| t.id)
    }

    /// Moves a partition's leadership to `broker` (which must be up), bumping its leader epoch
    /// when the leader changes.
    pub fn set_leader(
        &mut self,
        topic: &str,
        partition: i32,
        broker: i32,
    ) -> Result<(), MockError> {
        if self.broker(broker).is_none() {
            return Err(MockError::UnknownBroker(broker));
        }
        if !self.is_up(broker) {
            return Err(MockError::BrokerDown(broker));
        }
        if !self.topics.contains_key(topic) {
            return Err(MockError::UnknownTopic(topic.to_string()));
        }
        let p =
            self.partition_mut(topic, partition)
                .ok_or_else(|| MockError::UnknownPartition {
                    topic: topic.to_string(),
                    partition,
                })?;
        if p.leader != broker {
            p.leader = broker;
            p.leader_epoch += 1;
        }
        Ok(())
    }

    /// The current leader of a partition (-1 when no broker is up).
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition).map(|p| p.leader)
    }

    /// The current leader epoch of a partition.
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition).map(|p| p.leader_epoch)
    }

    /// Takes a broker down or brings it back.
    ///
    /// Down: its partitions' leadership moves to the next broker that is up (in node id order,
    /// wrapping), bumping their leader epochs, as in a replicated cluster; it is left out of
    /// Metadata answers; requests it receives are answered with [`Outcome::Close`], and the
    /// caller (TCP server, simulation) should refuse connections to it ([`is_up`](Self::is_up)).
    /// Up: it is back in Metadata; leadership does not move back by itself, but partitions left
    /// without any leader get this broker.
    pub fn set_broker_up(&mut self, broker: i32, up: bool) {
        let Some(idx) = self.broker_index(broker) else {
            return;
        };
        if self.brokers[idx].up == up {
            return;
        }
        self.brokers[idx].up = up;
        let ups: Vec<bool> = self.brokers.iter().map(|b| b.up).collect();
        let n = ups.len();
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if !up && p.leader == broker {
                    // The next broker up after the old leader, in id order.
                    let next = (1..n)
                        .map(|k| (idx + k) % n)
                        .find(|&i| ups[i])
                        .map_or(-1, |i| i as i32 + 1);
                    p.leader = next;
                    p.leader_epoch += 1;
                } else if up && p.leader == -1 {
                    p.leader = broker;
                    p.leader_epoch += 1;
                }
            }
        }
    }

    /// The coordinator of a group (`key_type` 0) or transactional id (`key_type` 1), as
    /// FindCoordinator answers: `None` for another key type or when no broker is up.
    ///
    /// As Kafka places it: the key's partition of `__consumer_offsets` or
    /// `__transaction_state` (`abs(key.hashCode()) % 50`, Java's `String.hashCode` and Kafka's
    /// default of 50 partitions), led by the broker a mock topic's partition of that index gets
    /// (broker `1 + p % brokers`), or, when that one is down, the next broker up in node id
    /// order, wrapping. Unlike a partition's leadership it moves back when that broker is up
    /// again (as after Kafka's preferred leader election). Both key types place a key alike.
    pub fn coordinator(&self, key_type: i8, key: &str) -> Option<i32> {
        if !(0..=1).contains(&key_type) {
            return None;
        }
        let hash = key
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        // Kafka's `Utils.abs`: i32::MIN maps to 0.
        let abs = if hash == i32::MIN {
            0
        } else {
            hash.unsigned_abs()
        };
        let partition = abs as usize % COORDINATOR_PARTITIONS;
        let n = self.brokers.len();
        (0..n)
            .map(|k| &self.brokers[(partition + k) % n])
            .find(|b| b.up)
            .map(|b| b.id)
    }

    /// Whether a broker is up (unknown brokers are not).
    pub fn is_up(&self, broker: i32) -> bool {
        self.broker(broker).is_some_and(|b| b.up)
    }

    /// The fault rules, to add, remove or inspect them.
    pub fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }

    /// Adds a fault rule (shorthand for `faults().add(rule)`).
    pub fn add_fault(&mut self, rule: FaultRule) -> FaultId {
        self.faults.add(rule)
    }

    /// Removes a fault rule; `false` if it was not there.
    pub fn remove_fault(&mut self, id: FaultId) -> bool {
        self.faults.remove(id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&mut self) {
        self.faults.clear()
    }

    /// Handles one request frame (the bytes after the 4-byte size prefix) received by `broker`
    /// at `now_ms` (the caller's clock, in milliseconds; used for LogAppendTime and timestamp
    /// checks). Never panics: a request it cannot read closes the connection.
    pub fn handle_request(&mut self, broker: i32, frame: &[u8], now_ms: i64) -> Outcome {
        crate::api::handle(self, broker, Bytes::copy_from_slice(frame), now_ms)
    }

    /// [`handle_request`](Self::handle_request) without copying the frame: record batches are
    /// sliced from it.
    pub fn handle_request_bytes(&mut self, broker: i32, frame: Bytes, now_ms: i64) -> Outcome {
        crate::api::handle(self, broker, frame, now_ms)
    }

    /// The batches stored in a partition, in offset order (empty for an unknown partition).
    pub fn batches(&self, topic: &str, partition: i32) -> &[StoredBatch] {
        self.partition(topic, partition)
            .map_or(&[], |p| &p.log.batches)
    }

    /// The records of a partition, decoded, in offset order: every record of the log, the
    /// control records of transaction markers included (`is_control`; see
    /// [`committed_records`](Self::committed_records) for what a read_committed consumer gets).
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>, MockError> {
        let p = self.known_partition(topic, partition)?;
        let mut out = Vec::new();
        for b in &p.log.batches {
            out.extend(b.records()?);
        }
        Ok(out)
    }

    fn known_partition(&self, topic: &str, partition: i32) -> Result<&Partition, MockError> {
        if !self.topics.contains_key(topic) {
            return Err(MockError::UnknownTopic(topic.to_string()));
        }
        self.partition(topic, partition)
            .ok_or_else(|| MockError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// The high watermark (= log end offset: replicas are always in sync), -1 for an unknown
    /// partition.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> i64 {
        self.partition(topic, partition)
            .map_or(-1, |p| p.log.high_watermark())
    }

    /// The log start offset (always 0: nothing is deleted), -1 for an unknown partition.
    pub fn log_start_offset(&self, topic: &str, partition: i32) -> i64 {
        self.partition(topic, partition)
            .map_or(-1, |p| p.log.log_start_offset)
    }

    /// The partition's idempotence state for a producer id, if it has appended there.
    pub fn producer_state(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
    ) -> Option<&ProducerState> {
        self.partition(topic, partition)
            .and_then(|p| p.log.producers.get(&producer_id))
    }

    /// Forgets a producer's state on every partition (as Kafka does when
    /// `producer.id.expiration.ms` expires it): its next batch may start at any sequence.
    pub fn expire_producer(&mut self, producer_id: i64) {
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                p.log.producers.remove(&producer_id);
            }
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> ClusterStats {
        let mut s = self.stats.clone();
        s.faults_fired = self.faults.fired();
        s
    }
}
