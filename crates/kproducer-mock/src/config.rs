//! Cluster and topic settings.

/// How a topic stamps record timestamps (Kafka's `message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps are kept (`CreateTime`, Kafka's default).
    #[default]
    CreateTime,
    /// The broker overwrites the batch's timestamp with its clock at append (`LogAppendTime`):
    /// the `now_ms` given to [`MockCluster::handle_request`](crate::MockCluster::handle_request).
    LogAppendTime,
}

/// Settings of one topic (the Kafka topic configs the mock honours).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicConfig {
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `max.message.bytes`; `None` takes [`ClusterConfig::max_message_bytes`].
    pub max_message_bytes: Option<usize>,
}

/// Settings of a [`MockCluster`](crate::MockCluster). Start from `Default` and override:
///
/// ```
/// use kproducer_mock::ClusterConfig;
/// let cfg = ClusterConfig { brokers: 3, seed: 42, ..ClusterConfig::default() };
/// assert_eq!(cfg.max_message_bytes, 1_048_588);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Number of brokers; their node ids are `1..=brokers`. At least 1.
    pub brokers: i32,
    /// Kafka's `auto.create.topics.enable` (default `true`, as Kafka): a Metadata request that
    /// allows it creates an unknown topic with `default_partitions` partitions.
    pub auto_create_topics: bool,
    /// Kafka's `num.partitions` for auto-created topics (default 1).
    pub default_partitions: i32,
    /// Seed of every random choice (fault rates, topic ids). Same seed, same inputs ⇒ same outputs.
    pub seed: u64,
    /// Kafka's `message.max.bytes` (default 1048588): larger batches get MESSAGE_TOO_LARGE.
    pub max_message_bytes: usize,
    /// The cluster id in Metadata answers.
    pub cluster_id: String,
    /// The first producer id InitProducerId hands out (Kafka's first block starts at 0).
    pub first_producer_id: i64,
    /// Default `message.timestamp.type` of new topics.
    pub timestamp_type: TimestampType,
    /// Kafka's `log.message.timestamp.before.max.ms`; `None` (Kafka's default) means unlimited.
    pub message_timestamp_before_max_ms: Option<i64>,
    /// Kafka's `log.message.timestamp.after.max.ms`. Kafka's default is unlimited up to 3.x and
    /// one hour in newer 4.x releases; here `None` (unlimited), because the mock's clock is the
    /// caller's `now_ms`, which in a simulation is virtual and unrelated to record timestamps.
    pub message_timestamp_after_max_ms: Option<i64>,
    /// Largest decompressed size of one batch's records; a larger batch is refused as
    /// CORRUPT_MESSAGE. Kafka has no such limit; it keeps a hostile batch from exhausting
    /// memory. Default 256 MiB.
    pub max_decompressed_bytes: usize,
    /// The finalized feature level `transaction.version` (default 2, as Apache Kafka 4.x
    /// finalizes it). ApiVersions v3+ advertises it; at 2 (KIP-890 part 2) a transactional
    /// Produce v12+ adds its partition to the transaction implicitly, TxnOffsetCommit v5+ its
    /// group, and EndTxn v5+ bumps the producer epoch on every commit and abort. At 0 or 1
    /// partitions must be added with AddPartitionsToTxn (AddOffsetsToTxn for groups) first.
    pub transaction_version: i16,
    /// Kafka's `transaction.max.timeout.ms` (default 900000, 15 minutes): InitProducerId with a
    /// larger `transaction_timeout_ms` (or one not above 0) is INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            brokers: 1,
            auto_create_topics: true,
            default_partitions: 1,
            seed: 0,
            max_message_bytes: 1_048_588,
            cluster_id: "kproducer-mock-cluster".to_string(),
            first_producer_id: 0,
            timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: None,
            message_timestamp_after_max_ms: None,
            max_decompressed_bytes: 256 << 20,
            transaction_version: 2,
            transaction_max_timeout_ms: 900_000,
        }
    }
}
