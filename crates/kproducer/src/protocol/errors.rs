//! Kafka error codes (Java's `org.apache.kafka.common.protocol.Errors`), with a retriable flag.
//!
//! One static table, sorted by code and contiguous from -1, so a lookup is an index. For each
//! code: Java's enum name, the exception class it maps to, whether that class extends
//! `RetriableException`, whether it extends `InvalidMetadataException` (the sender refreshes
//! metadata on those), and Java's default message.
//!
//! Source: `Errors.java` and the `org.apache.kafka.common.errors` class hierarchy of the Kafka
//! 4.0 line (codes -1..=129); codes 130..=133 were added in Kafka 4.1.

use std::fmt;

/// A Kafka protocol error code. Unknown codes are kept as they are.
///
/// ```
/// use kproducer::ErrorCode;
/// let e = ErrorCode(6);
/// assert_eq!(e, ErrorCode::NOT_LEADER_OR_FOLLOWER);
/// assert_eq!(e.name(), "NotLeaderOrFollowerException");
/// assert_eq!(e.java_name(), "NOT_LEADER_OR_FOLLOWER");
/// assert!(e.is_retriable());
/// assert!(e.is_invalid_metadata());
/// assert!(!ErrorCode::INVALID_PRODUCER_EPOCH.is_retriable());
/// assert_eq!(ErrorCode::from_i16(0), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

/// One row of the table.
struct Entry {
    code: i16,
    java_name: &'static str,
    exception: &'static str,
    retriable: bool,
    invalid_metadata: bool,
    description: &'static str,
}

const fn e(
    code: i16,
    java_name: &'static str,
    exception: &'static str,
    retriable: bool,
    invalid_metadata: bool,
    description: &'static str,
) -> Entry {
    Entry {
        code,
        java_name,
        exception,
        retriable,
        invalid_metadata,
        description,
    }
}

/// First code of the table; `TABLE[i].code == FIRST_CODE + i`.
const FIRST_CODE: i16 = -1;

/// What Java reports for a code it does not know (`Errors.forCode` → `UNKNOWN_SERVER_ERROR`).
const UNKNOWN_DESCRIPTION: &str = "Unknown error code; treated as UNKNOWN_SERVER_ERROR.";

#[rustfmt::skip]
static TABLE: [Entry; 135] = [
    e(-1, "UNKNOWN_SERVER_ERROR", "UnknownServerException", false, false, "The server experienced an unexpected error when processing the request."),
    e(0, "NONE", "NONE", false, false, "No error."),
    e(1, "OFFSET_OUT_OF_RANGE", "OffsetOutOfRangeException", false, false, "The requested offset is not within the range of offsets maintained by the server."),
    e(2, "CORRUPT_MESSAGE", "CorruptRecordException", true, false, "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt."),
    e(3, "UNKNOWN_TOPIC_OR_PARTITION", "UnknownTopicOrPartitionException", true, true, "This server does not host this topic-partition."),
    e(4, "INVALID_FETCH_SIZE", "InvalidFetchSizeException", false, false, "The requested fetch size is invalid."),
    e(5, "LEADER_NOT_AVAILABLE", "LeaderNotAvailableException", true, true, "There is no leader for this topic-partition as we are in the middle of a leadership election."),
    e(6, "NOT_LEADER_OR_FOLLOWER", "NotLeaderOrFollowerException", true, true, "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition."),
    e(7, "REQUEST_TIMED_OUT", "TimeoutException", true, false, "The request timed out."),
    e(8, "BROKER_NOT_AVAILABLE", "BrokerNotAvailableException", false, false, "The broker is not available."),
    e(9, "REPLICA_NOT_AVAILABLE", "ReplicaNotAvailableException", true, true, "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition."),
    e(10, "MESSAGE_TOO_LARGE", "RecordTooLargeException", false, false, "The request included a message larger than the max message size the server will accept."),
    e(11, "STALE_CONTROLLER_EPOCH", "ControllerMovedException", false, false, "The controller moved to another broker."),
    e(12, "OFFSET_METADATA_TOO_LARGE", "OffsetMetadataTooLarge", false, false, "The metadata field of the offset request was too large."),
    e(13, "NETWORK_EXCEPTION", "NetworkException", true, true, "The server disconnected before a response was received."),
    e(14, "COORDINATOR_LOAD_IN_PROGRESS", "CoordinatorLoadInProgressException", true, false, "The coordinator is loading and hence can't process requests."),
    e(15, "COORDINATOR_NOT_AVAILABLE", "CoordinatorNotAvailableException", true, false, "The coordinator is not available."),
    e(16, "NOT_COORDINATOR", "NotCoordinatorException", true, false, "This is not the correct coordinator."),
    e(17, "INVALID_TOPIC_EXCEPTION", "InvalidTopicException", false, false, "The request attempted to perform an operation on an invalid topic."),
    e(18, "RECORD_LIST_TOO_LARGE", "RecordBatchTooLargeException", false, false, "The request included message batch larger than the configured segment size on the server."),
    e(19, "NOT_ENOUGH_REPLICAS", "NotEnoughReplicasException", true, false, "Messages are rejected since there are fewer in-sync replicas than required."),
    e(20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "NotEnoughReplicasAfterAppendException", true, false, "Messages are written to the log, but to fewer in-sync replicas than required."),
    e(21, "INVALID_REQUIRED_ACKS", "InvalidRequiredAcksException", false, false, "Produce request specified an invalid value for required acks."),
    e(22, "ILLEGAL_GENERATION", "IllegalGenerationException", false, false, "Specified group generation id is not valid."),
    e(23, "INCONSISTENT_GROUP_PROTOCOL", "InconsistentGroupProtocolException", false, false, "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."),
    e(24, "INVALID_GROUP_ID", "InvalidGroupIdException", false, false, "The configured groupId is invalid."),
    e(25, "UNKNOWN_MEMBER_ID", "UnknownMemberIdException", false, false, "The coordinator is not aware of this member."),
    e(26, "INVALID_SESSION_TIMEOUT", "InvalidSessionTimeoutException", false, false, "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms)."),
    e(27, "REBALANCE_IN_PROGRESS", "RebalanceInProgressException", false, false, "The group is rebalancing, so a rejoin is needed."),
    e(28, "INVALID_COMMIT_OFFSET_SIZE", "InvalidCommitOffsetSizeException", false, false, "The committing offset data size is not valid."),
    e(29, "TOPIC_AUTHORIZATION_FAILED", "TopicAuthorizationException", false, false, "Topic authorization failed."),
    e(30, "GROUP_AUTHORIZATION_FAILED", "GroupAuthorizationException", false, false, "Group authorization failed."),
    e(31, "CLUSTER_AUTHORIZATION_FAILED", "ClusterAuthorizationException", false, false, "Cluster authorization failed."),
    e(32, "INVALID_TIMESTAMP", "InvalidTimestampException", false, false, "The timestamp of the message is out of acceptable range."),
    e(33, "UNSUPPORTED_SASL_MECHANISM", "UnsupportedSaslMechanismException", false, false, "The broker does not support the requested SASL mechanism."),
    e(34, "ILLEGAL_SASL_STATE", "IllegalSaslStateException", false, false, "Request is not valid given the current SASL state."),
    e(35, "UNSUPPORTED_VERSION", "UnsupportedVersionException", false, false, "The version of API is not supported."),
    e(36, "TOPIC_ALREADY_EXISTS", "TopicExistsException", false, false, "Topic with this name already exists."),
    e(37, "INVALID_PARTITIONS", "InvalidPartitionsException", false, false, "Number of partitions is below 1."),
    e(38, "INVALID_REPLICATION_FACTOR", "InvalidReplicationFactorException", false, false, "Replication factor is below 1 or larger than the number of available brokers."),
    e(39, "INVALID_REPLICA_ASSIGNMENT", "InvalidReplicaAssignmentException", false, false, "Replica assignment is invalid."),
    e(40, "INVALID_CONFIG", "InvalidConfigurationException", false, false, "Configuration is invalid."),
    e(41, "NOT_CONTROLLER", "NotControllerException", true, false, "This is not the correct controller for this cluster."),
    e(42, "INVALID_REQUEST", "InvalidRequestException", false, false, "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details."),
    e(43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", "UnsupportedForMessageFormatException", false, false, "The message format version on the broker does not support the request."),
    e(44, "POLICY_VIOLATION", "PolicyViolationException", false, false, "Request parameters do not satisfy the configured policy."),
    e(45, "OUT_OF_ORDER_SEQUENCE_NUMBER", "OutOfOrderSequenceException", false, false, "The broker received an out of order sequence number."),
    e(46, "DUPLICATE_SEQUENCE_NUMBER", "DuplicateSequenceException", false, false, "The broker received a duplicate sequence number."),
    e(47, "INVALID_PRODUCER_EPOCH", "InvalidProducerEpochException", false, false, "Producer attempted to produce with an old epoch."),
    e(48, "INVALID_TXN_STATE", "InvalidTxnStateException", false, false, "The producer attempted a transactional operation in an invalid state."),
    e(49, "INVALID_PRODUCER_ID_MAPPING", "InvalidPidMappingException", false, false, "The producer attempted to use a producer id which is not currently assigned to its transactional id."),
    e(50, "INVALID_TRANSACTION_TIMEOUT", "InvalidTxnTimeoutException", false, false, "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms)."),
    e(51, "CONCURRENT_TRANSACTIONS", "ConcurrentTransactionsException", true, false, "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing."),
    e(52, "TRANSACTION_COORDINATOR_FENCED", "TransactionCoordinatorFencedException", false, false, "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer."),
    e(53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "TransactionalIdAuthorizationException", false, false, "Transactional Id authorization failed."),
    e(54, "SECURITY_DISABLED", "SecurityDisabledException", false, false, "Security features are disabled."),
    e(55, "OPERATION_NOT_ATTEMPTED", "OperationNotAttemptedException", false, false, "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest."),
    e(56, "KAFKA_STORAGE_ERROR", "KafkaStorageException", true, true, "Disk error when trying to access log file on the disk."),
    e(57, "LOG_DIR_NOT_FOUND", "LogDirNotFoundException", false, false, "The user-specified log directory is not found in the broker config."),
    e(58, "SASL_AUTHENTICATION_FAILED", "SaslAuthenticationException", false, false, "SASL Authentication failed."),
    e(59, "UNKNOWN_PRODUCER_ID", "UnknownProducerIdException", false, false, "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception."),
    e(60, "REASSIGNMENT_IN_PROGRESS", "ReassignmentInProgressException", false, false, "A partition reassignment is in progress."),
    e(61, "DELEGATION_TOKEN_AUTH_DISABLED", "DelegationTokenDisabledException", false, false, "Delegation Token feature is not enabled."),
    e(62, "DELEGATION_TOKEN_NOT_FOUND", "DelegationTokenNotFoundException", false, false, "Delegation Token is not found on server."),
    e(63, "DELEGATION_TOKEN_OWNER_MISMATCH", "DelegationTokenOwnerMismatchException", false, false, "Specified Principal is not valid Owner/Renewer."),
    e(64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", "UnsupportedByAuthenticationException", false, false, "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels."),
    e(65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", "DelegationTokenAuthorizationException", false, false, "Delegation Token authorization failed."),
    e(66, "DELEGATION_TOKEN_EXPIRED", "DelegationTokenExpiredException", false, false, "Delegation Token is expired."),
    e(67, "INVALID_PRINCIPAL_TYPE", "InvalidPrincipalTypeException", false, false, "Supplied principalType is not supported."),
    e(68, "NON_EMPTY_GROUP", "GroupNotEmptyException", false, false, "The group is not empty."),
    e(69, "GROUP_ID_NOT_FOUND", "GroupIdNotFoundException", false, false, "The group id does not exist."),
    e(70, "FETCH_SESSION_ID_NOT_FOUND", "FetchSessionIdNotFoundException", true, false, "The fetch session ID was not found."),
    e(71, "INVALID_FETCH_SESSION_EPOCH", "InvalidFetchSessionEpochException", true, false, "The fetch session epoch is invalid."),
    e(72, "LISTENER_NOT_FOUND", "ListenerNotFoundException", true, true, "There is no listener on the leader broker that matches the listener on which metadata request was processed."),
    e(73, "TOPIC_DELETION_DISABLED", "TopicDeletionDisabledException", false, false, "Topic deletion is disabled."),
    e(74, "FENCED_LEADER_EPOCH", "FencedLeaderEpochException", true, true, "The leader epoch in the request is older than the epoch on the broker."),
    e(75, "UNKNOWN_LEADER_EPOCH", "UnknownLeaderEpochException", true, false, "The leader epoch in the request is newer than the epoch on the broker."),
    e(76, "UNSUPPORTED_COMPRESSION_TYPE", "UnsupportedCompressionTypeException", false, false, "The requesting client does not support the compression type of given partition."),
    e(77, "STALE_BROKER_EPOCH", "StaleBrokerEpochException", false, false, "Broker epoch has changed."),
    e(78, "OFFSET_NOT_AVAILABLE", "OffsetNotAvailableException", true, false, "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing."),
    e(79, "MEMBER_ID_REQUIRED", "MemberIdRequiredException", false, false, "The group member needs to have a valid member id before actually entering a consumer group."),
    e(80, "PREFERRED_LEADER_NOT_AVAILABLE", "PreferredLeaderNotAvailableException", true, true, "The preferred leader was not available."),
    e(81, "GROUP_MAX_SIZE_REACHED", "GroupMaxSizeReachedException", false, false, "The consumer group has reached its max size."),
    e(82, "FENCED_INSTANCE_ID", "FencedInstanceIdException", false, false, "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id."),
    e(83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", "EligibleLeadersNotAvailableException", true, true, "Eligible topic partition leaders are not available."),
    e(84, "ELECTION_NOT_NEEDED", "ElectionNotNeededException", true, true, "Leader election not needed for topic partition."),
    e(85, "NO_REASSIGNMENT_IN_PROGRESS", "NoReassignmentInProgressException", false, false, "No partition reassignment is in progress."),
    e(86, "GROUP_SUBSCRIBED_TO_TOPIC", "GroupSubscribedToTopicException", false, false, "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it."),
    e(87, "INVALID_RECORD", "InvalidRecordException", false, false, "This record has failed the validation on broker and hence will be rejected."),
    e(88, "UNSTABLE_OFFSET_COMMIT", "UnstableOffsetCommitException", true, false, "There are unstable offsets that need to be cleared."),
    e(89, "THROTTLING_QUOTA_EXCEEDED", "ThrottlingQuotaExceededException", true, false, "The throttling quota has been exceeded."),
    e(90, "PRODUCER_FENCED", "ProducerFencedException", false, false, "There is a newer producer with the same transactionalId which fences the current one."),
    e(91, "RESOURCE_NOT_FOUND", "ResourceNotFoundException", false, false, "A request illegally referred to a resource that does not exist."),
    e(92, "DUPLICATE_RESOURCE", "DuplicateResourceException", false, false, "A request illegally referred to the same resource twice."),
    e(93, "UNACCEPTABLE_CREDENTIAL", "UnacceptableCredentialException", false, false, "Requested credential would not meet criteria for acceptability."),
    e(94, "INCONSISTENT_VOTER_SET", "InconsistentVoterSetException", false, false, "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters."),
    e(95, "INVALID_UPDATE_VERSION", "InvalidUpdateVersionException", false, false, "The given update version was invalid."),
    e(96, "FEATURE_UPDATE_FAILED", "FeatureUpdateFailedException", false, false, "Unable to update finalized features due to an unexpected server error."),
    e(97, "PRINCIPAL_DESERIALIZATION_FAILURE", "PrincipalDeserializationException", false, false, "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup."),
    e(98, "SNAPSHOT_NOT_FOUND", "SnapshotNotFoundException", false, false, "Requested snapshot was not found."),
    e(99, "POSITION_OUT_OF_RANGE", "PositionOutOfRangeException", false, false, "Requested position is not greater than or equal to zero, and less than the size of the snapshot."),
    e(100, "UNKNOWN_TOPIC_ID", "UnknownTopicIdException", true, true, "This server does not host this topic ID."),
    e(101, "DUPLICATE_BROKER_REGISTRATION", "DuplicateBrokerRegistrationException", false, false, "This broker ID is already in use."),
    e(102, "BROKER_ID_NOT_REGISTERED", "BrokerIdNotRegisteredException", false, false, "The given broker ID was not registered."),
    e(103, "INCONSISTENT_TOPIC_ID", "InconsistentTopicIdException", true, true, "The log's topic ID did not match the topic ID in the request."),
    e(104, "INCONSISTENT_CLUSTER_ID", "InconsistentClusterIdException", false, false, "The clusterId in the request does not match that found on the server."),
    e(105, "TRANSACTIONAL_ID_NOT_FOUND", "TransactionalIdNotFoundException", false, false, "The transactionalId could not be found."),
    e(106, "FETCH_SESSION_TOPIC_ID_ERROR", "FetchSessionTopicIdException", true, false, "The fetch session encountered inconsistent topic ID usage."),
    e(107, "INELIGIBLE_REPLICA", "IneligibleReplicaException", false, false, "The new ISR contains at least one ineligible replica."),
    e(108, "NEW_LEADER_ELECTED", "NewLeaderElectedException", false, false, "The AlterPartition request successfully updated the partition state but the leader has changed."),
    e(109, "OFFSET_MOVED_TO_TIERED_STORAGE", "OffsetMovedToTieredStorageException", false, false, "The requested offset is moved to tiered storage."),
    e(110, "FENCED_MEMBER_EPOCH", "FencedMemberEpochException", false, false, "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin."),
    e(111, "UNRELEASED_INSTANCE_ID", "UnreleasedInstanceIdException", false, false, "The instance ID is still used by another member in the consumer group. That member must leave first."),
    e(112, "UNSUPPORTED_ASSIGNOR", "UnsupportedAssignorException", false, false, "The assignor or its version range is not supported by the consumer group."),
    e(113, "STALE_MEMBER_EPOCH", "StaleMemberEpochException", false, false, "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API."),
    e(114, "MISMATCHED_ENDPOINT_TYPE", "MismatchedEndpointTypeException", false, false, "The request was sent to an endpoint of the wrong type."),
    e(115, "UNSUPPORTED_ENDPOINT_TYPE", "UnsupportedEndpointTypeException", false, false, "This endpoint type is not supported yet."),
    e(116, "UNKNOWN_CONTROLLER_ID", "UnknownControllerIdException", false, false, "This controller ID is not known."),
    e(117, "UNKNOWN_SUBSCRIPTION_ID", "UnknownSubscriptionIdException", false, false, "Client sent a push telemetry request with an invalid or outdated subscription ID."),
    e(118, "TELEMETRY_TOO_LARGE", "TelemetryTooLargeException", false, false, "Client sent a push telemetry request larger than the maximum size the broker will accept."),
    e(119, "INVALID_REGISTRATION", "InvalidRegistrationException", false, false, "The controller has considered the broker registration to be invalid."),
    e(120, "TRANSACTION_ABORTABLE", "TransactionAbortableException", false, false, "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID."),
    e(121, "INVALID_RECORD_STATE", "InvalidRecordStateException", false, false, "The record state is invalid. The acknowledgement of delivery could not be completed."),
    e(122, "SHARE_SESSION_NOT_FOUND", "ShareSessionNotFoundException", true, false, "The share session was not found."),
    e(123, "INVALID_SHARE_SESSION_EPOCH", "InvalidShareSessionEpochException", true, false, "The share session epoch is invalid."),
    e(124, "FENCED_STATE_EPOCH", "FencedStateEpochException", false, false, "The share coordinator rejected the request because the share-group state epoch did not match."),
    e(125, "INVALID_VOTER_KEY", "InvalidVoterKeyException", false, false, "The voter key doesn't match the receiving replica's key."),
    e(126, "DUPLICATE_VOTER", "DuplicateVoterException", false, false, "The voter is already part of the set of voters."),
    e(127, "VOTER_NOT_FOUND", "VoterNotFoundException", false, false, "The voter is not part of the set of voters."),
    e(128, "INVALID_REGULAR_EXPRESSION", "InvalidRegularExpression", false, false, "The regular expression is not valid."),
    e(129, "REBOOTSTRAP_REQUIRED", "RebootstrapRequiredException", false, false, "Client metadata is stale. The client should rebootstrap to obtain new metadata."),
    e(130, "STREAMS_INVALID_TOPOLOGY", "StreamsInvalidTopologyException", false, false, "The supplied topology is invalid."),
    e(131, "STREAMS_INVALID_TOPOLOGY_EPOCH", "StreamsInvalidTopologyEpochException", false, false, "The supplied topology epoch is invalid."),
    e(132, "STREAMS_TOPOLOGY_FENCED", "StreamsTopologyFencedException", false, false, "The supplied topology epoch is outdated."),
    e(133, "SHARE_SESSION_LIMIT_REACHED", "ShareSessionLimitReachedException", true, false, "The limit of share sessions has been reached."),
];

impl ErrorCode {
    /// `UNKNOWN_SERVER_ERROR` (-1): The server experienced an unexpected error when processing the request.
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    /// `NONE` (0): No error.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// `OFFSET_OUT_OF_RANGE` (1): The requested offset is not within the range of offsets maintained by the server.
    pub const OFFSET_OUT_OF_RANGE: ErrorCode = ErrorCode(1);
    /// `CORRUPT_MESSAGE` (2): This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.
    pub const CORRUPT_MESSAGE: ErrorCode = ErrorCode(2);
    /// `UNKNOWN_TOPIC_OR_PARTITION` (3): This server does not host this topic-partition.
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// `INVALID_FETCH_SIZE` (4): The requested fetch size is invalid.
    pub const INVALID_FETCH_SIZE: ErrorCode = ErrorCode(4);
    /// `LEADER_NOT_AVAILABLE` (5): There is no leader for this topic-partition as we are in the middle of a leadership election.
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    /// `NOT_LEADER_OR_FOLLOWER` (6): For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
    /// `REQUEST_TIMED_OUT` (7): The request timed out.
    pub const REQUEST_TIMED_OUT: ErrorCode = ErrorCode(7);
    /// `BROKER_NOT_AVAILABLE` (8): The broker is not available.
    pub const BROKER_NOT_AVAILABLE: ErrorCode = ErrorCode(8);
    /// `REPLICA_NOT_AVAILABLE` (9): The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition.
    pub const REPLICA_NOT_AVAILABLE: ErrorCode = ErrorCode(9);
    /// `MESSAGE_TOO_LARGE` (10): The request included a message larger than the max message size the server will accept.
    pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(10);
    /// `STALE_CONTROLLER_EPOCH` (11): The controller moved to another broker.
    pub const STALE_CONTROLLER_EPOCH: ErrorCode = ErrorCode(11);
    /// `OFFSET_METADATA_TOO_LARGE` (12): The metadata field of the offset request was too large.
    pub const OFFSET_METADATA_TOO_LARGE: ErrorCode = ErrorCode(12);
    /// `NETWORK_EXCEPTION` (13): The server disconnected before a response was received.
    pub const NETWORK_EXCEPTION: ErrorCode = ErrorCode(13);
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14): The coordinator is loading and hence can't process requests.
    pub const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
    /// `COORDINATOR_NOT_AVAILABLE` (15): The coordinator is not available.
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    /// `NOT_COORDINATOR` (16): This is not the correct coordinator.
    pub const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
    /// `INVALID_TOPIC_EXCEPTION` (17): The request attempted to perform an operation on an invalid topic.
    pub const INVALID_TOPIC_EXCEPTION: ErrorCode = ErrorCode(17);
    /// `RECORD_LIST_TOO_LARGE` (18): The request included message batch larger than the configured segment size on the server.
    pub const RECORD_LIST_TOO_LARGE: ErrorCode = ErrorCode(18);
    /// `NOT_ENOUGH_REPLICAS` (19): Messages are rejected since there are fewer in-sync replicas than required.
    pub const NOT_ENOUGH_REPLICAS: ErrorCode = ErrorCode(19);
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20): Messages are written to the log, but to fewer in-sync replicas than required.
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode = ErrorCode(20);
    /// `INVALID_REQUIRED_ACKS` (21): Produce request specified an invalid value for required acks.
    pub const INVALID_REQUIRED_ACKS: ErrorCode = ErrorCode(21);
    /// `ILLEGAL_GENERATION` (22): Specified group generation id is not valid.
    pub const ILLEGAL_GENERATION: ErrorCode = ErrorCode(22);
    /// `INCONSISTENT_GROUP_PROTOCOL` (23): The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.
    pub const INCONSISTENT_GROUP_PROTOCOL: ErrorCode = ErrorCode(23);
    /// `INVALID_GROUP_ID` (24): The configured groupId is invalid.
    pub const INVALID_GROUP_ID: ErrorCode = ErrorCode(24);
    /// `UNKNOWN_MEMBER_ID` (25): The coordinator is not aware of this member.
    pub const UNKNOWN_MEMBER_ID: ErrorCode = ErrorCode(25);
    /// `INVALID_SESSION_TIMEOUT` (26): The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).
    pub const INVALID_SESSION_TIMEOUT: ErrorCode = ErrorCode(26);
    /// `REBALANCE_IN_PROGRESS` (27): The group is rebalancing, so a rejoin is needed.
    pub const REBALANCE_IN_PROGRESS: ErrorCode = ErrorCode(27);
    /// `INVALID_COMMIT_OFFSET_SIZE` (28): The committing offset data size is not valid.
    pub const INVALID_COMMIT_OFFSET_SIZE: ErrorCode = ErrorCode(28);
    /// `TOPIC_AUTHORIZATION_FAILED` (29): Topic authorization failed.
    pub const TOPIC_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(29);
    /// `GROUP_AUTHORIZATION_FAILED` (30): Group authorization failed.
    pub const GROUP_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(30);
    /// `CLUSTER_AUTHORIZATION_FAILED` (31): Cluster authorization failed.
    pub const CLUSTER_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(31);
    /// `INVALID_TIMESTAMP` (32): The timestamp of the message is out of acceptable range.
    pub const INVALID_TIMESTAMP: ErrorCode = ErrorCode(32);
    /// `UNSUPPORTED_SASL_MECHANISM` (33): The broker does not support the requested SASL mechanism.
    pub const UNSUPPORTED_SASL_MECHANISM: ErrorCode = ErrorCode(33);
    /// `ILLEGAL_SASL_STATE` (34): Request is not valid given the current SASL state.
    pub const ILLEGAL_SASL_STATE: ErrorCode = ErrorCode(34);
    /// `UNSUPPORTED_VERSION` (35): The version of API is not supported.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    /// `TOPIC_ALREADY_EXISTS` (36): Topic with this name already exists.
    pub const TOPIC_ALREADY_EXISTS: ErrorCode = ErrorCode(36);
    /// `INVALID_PARTITIONS` (37): Number of partitions is below 1.
    pub const INVALID_PARTITIONS: ErrorCode = ErrorCode(37);
    /// `INVALID_REPLICATION_FACTOR` (38): Replication factor is below 1 or larger than the number of available brokers.
    pub const INVALID_REPLICATION_FACTOR: ErrorCode = ErrorCode(38);
    /// `INVALID_REPLICA_ASSIGNMENT` (39): Replica assignment is invalid.
    pub const INVALID_REPLICA_ASSIGNMENT: ErrorCode = ErrorCode(39);
    /// `INVALID_CONFIG` (40): Configuration is invalid.
    pub const INVALID_CONFIG: ErrorCode = ErrorCode(40);
    /// `NOT_CONTROLLER` (41): This is not the correct controller for this cluster.
    pub const NOT_CONTROLLER: ErrorCode = ErrorCode(41);
    /// `INVALID_REQUEST` (42): This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(42);
    /// `UNSUPPORTED_FOR_MESSAGE_FORMAT` (43): The message format version on the broker does not support the request.
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: ErrorCode = ErrorCode(43);
    /// `POLICY_VIOLATION` (44): Request parameters do not satisfy the configured policy.
    pub const POLICY_VIOLATION: ErrorCode = ErrorCode(44);
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45): The broker received an out of order sequence number.
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: ErrorCode = ErrorCode(45);
    /// `DUPLICATE_SEQUENCE_NUMBER` (46): The broker received a duplicate sequence number.
    pub const DUPLICATE_SEQUENCE_NUMBER: ErrorCode = ErrorCode(46);
    /// `INVALID_PRODUCER_EPOCH` (47): Producer attempted to produce with an old epoch.
    pub const INVALID_PRODUCER_EPOCH: ErrorCode = ErrorCode(47);
    /// `INVALID_TXN_STATE` (48): The producer attempted a transactional operation in an invalid state.
    pub const INVALID_TXN_STATE: ErrorCode = ErrorCode(48);
    /// `INVALID_PRODUCER_ID_MAPPING` (49): The producer attempted to use a producer id which is not currently assigned to its transactional id.
    pub const INVALID_PRODUCER_ID_MAPPING: ErrorCode = ErrorCode(49);
    /// `INVALID_TRANSACTION_TIMEOUT` (50): The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms).
    pub const INVALID_TRANSACTION_TIMEOUT: ErrorCode = ErrorCode(50);
    /// `CONCURRENT_TRANSACTIONS` (51): The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.
    pub const CONCURRENT_TRANSACTIONS: ErrorCode = ErrorCode(51);
    /// `TRANSACTION_COORDINATOR_FENCED` (52): Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.
    pub const TRANSACTION_COORDINATOR_FENCED: ErrorCode = ErrorCode(52);
    /// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (53): Transactional Id authorization failed.
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(53);
    /// `SECURITY_DISABLED` (54): Security features are disabled.
    pub const SECURITY_DISABLED: ErrorCode = ErrorCode(54);
    /// `OPERATION_NOT_ATTEMPTED` (55): The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.
    pub const OPERATION_NOT_ATTEMPTED: ErrorCode = ErrorCode(55);
    /// `KAFKA_STORAGE_ERROR` (56): Disk error when trying to access log file on the disk.
    pub const KAFKA_STORAGE_ERROR: ErrorCode = ErrorCode(56);
    /// `LOG_DIR_NOT_FOUND` (57): The user-specified log directory is not found in the broker config.
    pub const LOG_DIR_NOT_FOUND: ErrorCode = ErrorCode(57);
    /// `SASL_AUTHENTICATION_FAILED` (58): SASL Authentication failed.
    pub const SASL_AUTHENTICATION_FAILED: ErrorCode = ErrorCode(58);
    /// `UNKNOWN_PRODUCER_ID` (59): This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception.
    pub const UNKNOWN_PRODUCER_ID: ErrorCode = ErrorCode(59);
    /// `REASSIGNMENT_IN_PROGRESS` (60): A partition reassignment is in progress.
    pub const REASSIGNMENT_IN_PROGRESS: ErrorCode = ErrorCode(60);
    /// `DELEGATION_TOKEN_AUTH_DISABLED` (61): Delegation Token feature is not enabled.
    pub const DELEGATION_TOKEN_AUTH_DISABLED: ErrorCode = ErrorCode(61);
    /// `DELEGATION_TOKEN_NOT_FOUND` (62): Delegation Token is not found on server.
    pub const DELEGATION_TOKEN_NOT_FOUND: ErrorCode = ErrorCode(62);
    /// `DELEGATION_TOKEN_OWNER_MISMATCH` (63): Specified Principal is not valid Owner/Renewer.
    pub const DELEGATION_TOKEN_OWNER_MISMATCH: ErrorCode = ErrorCode(63);
    /// `DELEGATION_TOKEN_REQUEST_NOT_ALLOWED` (64): Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.
    pub const DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: ErrorCode = ErrorCode(64);
    /// `DELEGATION_TOKEN_AUTHORIZATION_FAILED` (65): Delegation Token authorization failed.
    pub const DELEGATION_TOKEN_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(65);
    /// `DELEGATION_TOKEN_EXPIRED` (66): Delegation Token is expired.
    pub const DELEGATION_TOKEN_EXPIRED: ErrorCode = ErrorCode(66);
    /// `INVALID_PRINCIPAL_TYPE` (67): Supplied principalType is not supported.
    pub const INVALID_PRINCIPAL_TYPE: ErrorCode = ErrorCode(67);
    /// `NON_EMPTY_GROUP` (68): The group is not empty.
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    /// `GROUP_ID_NOT_FOUND` (69): The group id does not exist.
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    /// `FETCH_SESSION_ID_NOT_FOUND` (70): The fetch session ID was not found.
    pub const FETCH_SESSION_ID_NOT_FOUND: ErrorCode = ErrorCode(70);
    /// `INVALID_FETCH_SESSION_EPOCH` (71): The fetch session epoch is invalid.
    pub const INVALID_FETCH_SESSION_EPOCH: ErrorCode = ErrorCode(71);
    /// `LISTENER_NOT_FOUND` (72): There is no listener on the leader broker that matches the listener on which metadata request was processed.
    pub const LISTENER_NOT_FOUND: ErrorCode = ErrorCode(72);
    /// `TOPIC_DELETION_DISABLED` (73): Topic deletion is disabled.
    pub const TOPIC_DELETION_DISABLED: ErrorCode = ErrorCode(73);
    /// `FENCED_LEADER_EPOCH` (74): The leader epoch in the request is older than the epoch on the broker.
    pub const FENCED_LEADER_EPOCH: ErrorCode = ErrorCode(74);
    /// `UNKNOWN_LEADER_EPOCH` (75): The leader epoch in the request is newer than the epoch on the broker.
    pub const UNKNOWN_LEADER_EPOCH: ErrorCode = ErrorCode(75);
    /// `UNSUPPORTED_COMPRESSION_TYPE` (76): The requesting client does not support the compression type of given partition.
    pub const UNSUPPORTED_COMPRESSION_TYPE: ErrorCode = ErrorCode(76);
    /// `STALE_BROKER_EPOCH` (77): Broker epoch has changed.
    pub const STALE_BROKER_EPOCH: ErrorCode = ErrorCode(77);
    /// `OFFSET_NOT_AVAILABLE` (78): The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.
    pub const OFFSET_NOT_AVAILABLE: ErrorCode = ErrorCode(78);
    /// `MEMBER_ID_REQUIRED` (79): The group member needs to have a valid member id before actually entering a consumer group.
    pub const MEMBER_ID_REQUIRED: ErrorCode = ErrorCode(79);
    /// `PREFERRED_LEADER_NOT_AVAILABLE` (80): The preferred leader was not available.
    pub const PREFERRED_LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(80);
    /// `GROUP_MAX_SIZE_REACHED` (81): The consumer group has reached its max size.
    pub const GROUP_MAX_SIZE_REACHED: ErrorCode = ErrorCode(81);
    /// `FENCED_INSTANCE_ID` (82): The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.
    pub const FENCED_INSTANCE_ID: ErrorCode = ErrorCode(82);
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE` (83): Eligible topic partition leaders are not available.
    pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: ErrorCode = ErrorCode(83);
    /// `ELECTION_NOT_NEEDED` (84): Leader election not needed for topic partition.
    pub const ELECTION_NOT_NEEDED: ErrorCode = ErrorCode(84);
    /// `NO_REASSIGNMENT_IN_PROGRESS` (85): No partition reassignment is in progress.
    pub const NO_REASSIGNMENT_IN_PROGRESS: ErrorCode = ErrorCode(85);
    /// `GROUP_SUBSCRIBED_TO_TOPIC` (86): Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.
    pub const GROUP_SUBSCRIBED_TO_TOPIC: ErrorCode = ErrorCode(86);
    /// `INVALID_RECORD` (87): This record has failed the validation on broker and hence will be rejected.
    pub const INVALID_RECORD: ErrorCode = ErrorCode(87);
    /// `UNSTABLE_OFFSET_COMMIT` (88): There are unstable offsets that need to be cleared.
    pub const UNSTABLE_OFFSET_COMMIT: ErrorCode = ErrorCode(88);
    /// `THROTTLING_QUOTA_EXCEEDED` (89): The throttling quota has been exceeded.
    pub const THROTTLING_QUOTA_EXCEEDED: ErrorCode = ErrorCode(89);
    /// `PRODUCER_FENCED` (90): There is a newer producer with the same transactionalId which fences the current one.
    pub const PRODUCER_FENCED: ErrorCode = ErrorCode(90);
    /// `RESOURCE_NOT_FOUND` (91): A request illegally referred to a resource that does not exist.
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(91);
    /// `DUPLICATE_RESOURCE` (92): A request illegally referred to the same resource twice.
    pub const DUPLICATE_RESOURCE: ErrorCode = ErrorCode(92);
    /// `UNACCEPTABLE_CREDENTIAL` (93): Requested credential would not meet criteria for acceptability.
    pub const UNACCEPTABLE_CREDENTIAL: ErrorCode = ErrorCode(93);
    /// `INCONSISTENT_VOTER_SET` (94): Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.
    pub const INCONSISTENT_VOTER_SET: ErrorCode = ErrorCode(94);
    /// `INVALID_UPDATE_VERSION` (95): The given update version was invalid.
    pub const INVALID_UPDATE_VERSION: ErrorCode = ErrorCode(95);
    /// `FEATURE_UPDATE_FAILED` (96): Unable to update finalized features due to an unexpected server error.
    pub const FEATURE_UPDATE_FAILED: ErrorCode = ErrorCode(96);
    /// `PRINCIPAL_DESERIALIZATION_FAILURE` (97): Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup.
    pub const PRINCIPAL_DESERIALIZATION_FAILURE: ErrorCode = ErrorCode(97);
    /// `SNAPSHOT_NOT_FOUND` (98): Requested snapshot was not found.
    pub const SNAPSHOT_NOT_FOUND: ErrorCode = ErrorCode(98);
    /// `POSITION_OUT_OF_RANGE` (99): Requested position is not greater than or equal to zero, and less than the size of the snapshot.
    pub const POSITION_OUT_OF_RANGE: ErrorCode = ErrorCode(99);
    /// `UNKNOWN_TOPIC_ID` (100): This server does not host this topic ID.
    pub const UNKNOWN_TOPIC_ID: ErrorCode = ErrorCode(100);
    /// `DUPLICATE_BROKER_REGISTRATION` (101): This broker ID is already in use.
    pub const DUPLICATE_BROKER_REGISTRATION: ErrorCode = ErrorCode(101);
    /// `BROKER_ID_NOT_REGISTERED` (102): The given broker ID was not registered.
    pub const BROKER_ID_NOT_REGISTERED: ErrorCode = ErrorCode(102);
    /// `INCONSISTENT_TOPIC_ID` (103): The log's topic ID did not match the topic ID in the request.
    pub const INCONSISTENT_TOPIC_ID: ErrorCode = ErrorCode(103);
    /// `INCONSISTENT_CLUSTER_ID` (104): The clusterId in the request does not match that found on the server.
    pub const INCONSISTENT_CLUSTER_ID: ErrorCode = ErrorCode(104);
    /// `TRANSACTIONAL_ID_NOT_FOUND` (105): The transactionalId could not be found.
    pub const TRANSACTIONAL_ID_NOT_FOUND: ErrorCode = ErrorCode(105);
    /// `FETCH_SESSION_TOPIC_ID_ERROR` (106): The fetch session encountered inconsistent topic ID usage.
    pub const FETCH_SESSION_TOPIC_ID_ERROR: ErrorCode = ErrorCode(106);
    /// `INELIGIBLE_REPLICA` (107): The new ISR contains at least one ineligible replica.
    pub const INELIGIBLE_REPLICA: ErrorCode = ErrorCode(107);
    /// `NEW_LEADER_ELECTED` (108): The AlterPartition request successfully updated the partition state but the leader has changed.
    pub const NEW_LEADER_ELECTED: ErrorCode = ErrorCode(108);
    /// `OFFSET_MOVED_TO_TIERED_STORAGE` (109): The requested offset is moved to tiered storage.
    pub const OFFSET_MOVED_TO_TIERED_STORAGE: ErrorCode = ErrorCode(109);
    /// `FENCED_MEMBER_EPOCH` (110): The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.
    pub const FENCED_MEMBER_EPOCH: ErrorCode = ErrorCode(110);
    /// `UNRELEASED_INSTANCE_ID` (111): The instance ID is still used by another member in the consumer group. That member must leave first.
    pub const UNRELEASED_INSTANCE_ID: ErrorCode = ErrorCode(111);
    /// `UNSUPPORTED_ASSIGNOR` (112): The assignor or its version range is not supported by the consumer group.
    pub const UNSUPPORTED_ASSIGNOR: ErrorCode = ErrorCode(112);
    /// `STALE_MEMBER_EPOCH` (113): The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.
    pub const STALE_MEMBER_EPOCH: ErrorCode = ErrorCode(113);
    /// `MISMATCHED_ENDPOINT_TYPE` (114): The request was sent to an endpoint of the wrong type.
    pub const MISMATCHED_ENDPOINT_TYPE: ErrorCode = ErrorCode(114);
    /// `UNSUPPORTED_ENDPOINT_TYPE` (115): This endpoint type is not supported yet.
    pub const UNSUPPORTED_ENDPOINT_TYPE: ErrorCode = ErrorCode(115);
    /// `UNKNOWN_CONTROLLER_ID` (116): This controller ID is not known.
    pub const UNKNOWN_CONTROLLER_ID: ErrorCode = ErrorCode(116);
    /// `UNKNOWN_SUBSCRIPTION_ID` (117): Client sent a push telemetry request with an invalid or outdated subscription ID.
    pub const UNKNOWN_SUBSCRIPTION_ID: ErrorCode = ErrorCode(117);
    /// `TELEMETRY_TOO_LARGE` (118): Client sent a push telemetry request larger than the maximum size the broker will accept.
    pub const TELEMETRY_TOO_LARGE: ErrorCode = ErrorCode(118);
    /// `INVALID_REGISTRATION` (119): The controller has considered the broker registration to be invalid.
    pub const INVALID_REGISTRATION: ErrorCode = ErrorCode(119);
    /// `TRANSACTION_ABORTABLE` (120): The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.
    pub const TRANSACTION_ABORTABLE: ErrorCode = ErrorCode(120);
    /// `INVALID_RECORD_STATE` (121): The record state is invalid. The acknowledgement of delivery could not be completed.
    pub const INVALID_RECORD_STATE: ErrorCode = ErrorCode(121);
    /// `SHARE_SESSION_NOT_FOUND` (122): The share session was not found.
    pub const SHARE_SESSION_NOT_FOUND: ErrorCode = ErrorCode(122);
    /// `INVALID_SHARE_SESSION_EPOCH` (123): The share session epoch is invalid.
    pub const INVALID_SHARE_SESSION_EPOCH: ErrorCode = ErrorCode(123);
    /// `FENCED_STATE_EPOCH` (124): The share coordinator rejected the request because the share-group state epoch did not match.
    pub const FENCED_STATE_EPOCH: ErrorCode = ErrorCode(124);
    /// `INVALID_VOTER_KEY` (125): The voter key doesn't match the receiving replica's key.
    pub const INVALID_VOTER_KEY: ErrorCode = ErrorCode(125);
    /// `DUPLICATE_VOTER` (126): The voter is already part of the set of voters.
    pub const DUPLICATE_VOTER: ErrorCode = ErrorCode(126);
    /// `VOTER_NOT_FOUND` (127): The voter is not part of the set of voters.
    pub const VOTER_NOT_FOUND: ErrorCode = ErrorCode(127);
    /// `INVALID_REGULAR_EXPRESSION` (128): The regular expression is not valid.
    pub const INVALID_REGULAR_EXPRESSION: ErrorCode = ErrorCode(128);
    /// `REBOOTSTRAP_REQUIRED` (129): Client metadata is stale. The client should rebootstrap to obtain new metadata.
    pub const REBOOTSTRAP_REQUIRED: ErrorCode = ErrorCode(129);
    /// `STREAMS_INVALID_TOPOLOGY` (130): The supplied topology is invalid.
    pub const STREAMS_INVALID_TOPOLOGY: ErrorCode = ErrorCode(130);
    /// `STREAMS_INVALID_TOPOLOGY_EPOCH` (131): The supplied topology epoch is invalid.
    pub const STREAMS_INVALID_TOPOLOGY_EPOCH: ErrorCode = ErrorCode(131);
    /// `STREAMS_TOPOLOGY_FENCED` (132): The supplied topology epoch is outdated.
    pub const STREAMS_TOPOLOGY_FENCED: ErrorCode = ErrorCode(132);
    /// `SHARE_SESSION_LIMIT_REACHED` (133): The limit of share sessions has been reached.
    pub const SHARE_SESSION_LIMIT_REACHED: ErrorCode = ErrorCode(133);

    /// The code for a non-zero error field; `None` for 0 (no error). Unknown codes are kept.
    ///
    /// ```
    /// use kproducer::ErrorCode;
    /// assert_eq!(ErrorCode::from_i16(7), Some(ErrorCode::REQUEST_TIMED_OUT));
    /// assert_eq!(ErrorCode::from_i16(0), None);
    /// assert_eq!(ErrorCode::from_i16(9999), Some(ErrorCode(9999)));
    /// ```
    pub const fn from_i16(code: i16) -> Option<ErrorCode> {
        if code == 0 {
            None
        } else {
            Some(ErrorCode(code))
        }
    }

    fn entry(self) -> Option<&'static Entry> {
        let index = usize::try_from(i32::from(self.0) - i32::from(FIRST_CODE)).ok()?;
        TABLE.get(index).filter(|e| e.code == self.0)
    }

    /// Whether the code is in the table (unknown codes are handled as `UNKNOWN_SERVER_ERROR`).
    pub fn is_known(self) -> bool {
        self.entry().is_some()
    }

    /// Whether this is [`ErrorCode::NONE`].
    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Whether Java marks this error retriable (a `RetriableException`).
    pub fn is_retriable(self) -> bool {
        self.entry().is_some_and(|e| e.retriable)
    }

    /// Whether Java's exception extends `InvalidMetadataException`: the producer's sender requests
    /// a metadata update when a partition fails with one of these.
    pub fn is_invalid_metadata(self) -> bool {
        self.entry().is_some_and(|e| e.invalid_metadata)
    }

    /// Java's exception name, e.g. `NotLeaderOrFollowerException`.
    ///
    /// Unknown codes give `UnknownServerException` (as Java's `Errors.forCode`); code 0 gives `NONE`.
    pub fn name(self) -> &'static str {
        self.entry()
            .map_or("UnknownServerException", |e| e.exception)
    }

    /// Java's enum constant, e.g. `NOT_LEADER_OR_FOLLOWER` (unknown codes: `UNKNOWN_SERVER_ERROR`).
    pub fn java_name(self) -> &'static str {
        self.entry().map_or("UNKNOWN_SERVER_ERROR", |e| e.java_name)
    }

    /// Java's default message for the error: what it means and, often, what to do.
    pub fn description(self) -> &'static str {
        self.entry().map_or(UNKNOWN_DESCRIPTION, |e| e.description)
    }
}

impl fmt::Display for ErrorCode {
    /// `NotLeaderOrFollowerException (6): For requests intended only for the leader, ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.0, self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_contiguous_and_sorted() {
        for (i, entry) in TABLE.iter().enumerate() {
            assert_eq!(
                i32::from(entry.code),
                i as i32 + i32::from(FIRST_CODE),
                "{}",
                entry.java_name
            );
            assert!(!entry.java_name.is_empty() && !entry.exception.is_empty());
            assert!(!entry.description.is_empty());
            // Every InvalidMetadataException is a RetriableException in Java.
            assert!(
                !entry.invalid_metadata || entry.retriable,
                "{}",
                entry.java_name
            );
        }
        assert_eq!(TABLE.last().map(|e| e.code), Some(133));
    }

    #[test]
    fn spot_check_codes_names_and_retriable_flags() {
        // (code, java name, exception, retriable), checked by hand against Errors.java and the
        // exception classes' superclasses.
        let cases: &[(i16, &str, &str, bool)] = &[
            (-1, "UNKNOWN_SERVER_ERROR", "UnknownServerException", false),
            (2, "CORRUPT_MESSAGE", "CorruptRecordException", true),
            (
                3,
                "UNKNOWN_TOPIC_OR_PARTITION",
                "UnknownTopicOrPartitionException",
                true,
            ),
            (
                5,
                "LEADER_NOT_AVAILABLE",
                "LeaderNotAvailableException",
                true,
            ),
            (
                6,
                "NOT_LEADER_OR_FOLLOWER",
                "NotLeaderOrFollowerException",
                true,
            ),
            (7, "REQUEST_TIMED_OUT", "TimeoutException", true),
            (10, "MESSAGE_TOO_LARGE", "RecordTooLargeException", false),
            (13, "NETWORK_EXCEPTION", "NetworkException", true),
            (
                18,
                "RECORD_LIST_TOO_LARGE",
                "RecordBatchTooLargeException",
                false,
            ),
            (
                19,
                "NOT_ENOUGH_REPLICAS",
                "NotEnoughReplicasException",
                true,
            ),
            (
                20,
                "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
                "NotEnoughReplicasAfterAppendException",
                true,
            ),
            (
                29,
                "TOPIC_AUTHORIZATION_FAILED",
                "TopicAuthorizationException",
                false,
            ),
            (
                35,
                "UNSUPPORTED_VERSION",
                "UnsupportedVersionException",
                false,
            ),
            (
                45,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                "OutOfOrderSequenceException",
                false,
            ),
            (
                46,
                "DUPLICATE_SEQUENCE_NUMBER",
                "DuplicateSequenceException",
                false,
            ),
            (
                47,
                "INVALID_PRODUCER_EPOCH",
                "InvalidProducerEpochException",
                false,
            ),
            (
                51,
                "CONCURRENT_TRANSACTIONS",
                "ConcurrentTransactionsException",
                true,
            ),
            (56, "KAFKA_STORAGE_ERROR", "KafkaStorageException", true),
            (
                59,
                "UNKNOWN_PRODUCER_ID",
                "UnknownProducerIdException",
                false,
            ),
            (
                67,
                "INVALID_PRINCIPAL_TYPE",
                "InvalidPrincipalTypeException",
                false,
            ),
            (
                74,
                "FENCED_LEADER_EPOCH",
                "FencedLeaderEpochException",
                true,
            ),
            (
                75,
                "UNKNOWN_LEADER_EPOCH",
                "UnknownLeaderEpochException",
                true,
            ),
            (
                78,
                "OFFSET_NOT_AVAILABLE",
                "OffsetNotAvailableException",
                true,
            ),
            (87, "INVALID_RECORD", "InvalidRecordException", false),
            (
                89,
                "THROTTLING_QUOTA_EXCEEDED",
                "ThrottlingQuotaExceededException",
                true,
            ),
            (90, "PRODUCER_FENCED", "ProducerFencedException", false),
            (
                128,
                "INVALID_REGULAR_EXPRESSION",
                "InvalidRegularExpression",
                false,
            ),
            (
                129,
                "REBOOTSTRAP_REQUIRED",
                "RebootstrapRequiredException",
                false,
            ),
        ];
        for &(code, java, exception, retriable) in cases {
            let e = ErrorCode(code);
            assert!(e.is_known(), "{code}");
            assert_eq!(e.java_name(), java, "{code}");
            assert_eq!(e.name(), exception, "{code}");
            assert_eq!(e.is_retriable(), retriable, "{code} {java}");
        }
    }

    #[test]
    fn constants_match_codes() {
        assert_eq!(ErrorCode::NONE, ErrorCode(0));
        assert_eq!(ErrorCode::NOT_LEADER_OR_FOLLOWER, ErrorCode(6));
        assert_eq!(ErrorCode::MESSAGE_TOO_LARGE, ErrorCode(10));
        assert_eq!(ErrorCode::UNKNOWN_PRODUCER_ID, ErrorCode(59));
        assert_eq!(ErrorCode::SHARE_SESSION_LIMIT_REACHED, ErrorCode(133));
        assert!(ErrorCode::NONE.is_none() && !ErrorCode::NONE.is_retriable());
    }

    #[test]
    fn invalid_metadata_flags() {
        for code in [3, 5, 6, 9, 13, 56, 74, 100] {
            assert!(ErrorCode(code).is_invalid_metadata(), "{code}");
        }
        // Retriable but not metadata-related.
        for code in [2, 7, 19, 20, 51, 75] {
            assert!(!ErrorCode(code).is_invalid_metadata(), "{code}");
        }
    }

    #[test]
    fn unknown_codes_are_unknown_server_errors() {
        for code in [-2, 134, 999, i16::MAX, i16::MIN] {
            let e = ErrorCode(code);
            assert!(!e.is_known());
            assert!(!e.is_retriable());
            assert!(!e.is_invalid_metadata());
            assert_eq!(e.name(), "UnknownServerException");
            assert_eq!(e.java_name(), "UNKNOWN_SERVER_ERROR");
            assert_eq!(e.description(), UNKNOWN_DESCRIPTION);
        }
        assert_eq!(ErrorCode::from_i16(-2), Some(ErrorCode(-2)));
    }

    #[test]
    fn display_shows_exception_code_and_description() {
        assert_eq!(
            ErrorCode::REQUEST_TIMED_OUT.to_string(),
            "TimeoutException (7): The request timed out."
        );
        assert!(ErrorCode(6).to_string().starts_with(
            "NotLeaderOrFollowerException (6): For requests intended only for the leader"
        ));
        assert_eq!(
            ErrorCode(999).to_string(),
            format!("UnknownServerException (999): {UNKNOWN_DESCRIPTION}")
        );
    }
}
