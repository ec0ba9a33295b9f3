//! Counters of what the cluster saw and did.

use std::collections::{BTreeMap, VecDeque};

/// How many explanations `ClusterStats::recent_errors` keeps.
pub(crate) const RECENT_ERRORS: usize = 32;

/// Counters since the cluster was created (see [`MockCluster::stats`](crate::MockCluster::stats)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Requests received by an up broker, by API key (malformed and unsupported ones included).
    pub requests: BTreeMap<i16, u64>,
    /// Requests that could not be read (the connection was closed).
    pub malformed_requests: u64,
    /// Requests of an API or version the mock does not serve (the connection was closed, or
    /// ApiVersions answered UNSUPPORTED_VERSION).
    pub unsupported_requests: u64,
    /// Requests received by a down broker (refused by closing the connection).
    pub refused_down: u64,
    /// Produce partition answers carrying an error, by error code (injected ones included).
    pub produce_errors: BTreeMap<i16, u64>,
    /// Batches recognised as duplicates of one of a producer's last five and acknowledged with
    /// their original offsets, without appending.
    pub duplicates: u64,
    /// Batches appended.
    pub batches_appended: u64,
    /// Records appended.
    pub records_appended: u64,
    /// Fault rules that fired (each firing counts once; a Produce error counts per partition).
    pub faults_fired: u64,
    /// Answers lost on purpose (`DropResponse`).
    pub responses_dropped: u64,
    /// Topics created by CreateTopics requests (not those of `validate_only` requests, of
    /// [`MockCluster::create_topic`](crate::MockCluster::create_topic) or of auto-creation).
    pub topics_created: u64,
    /// Connections the cluster asked to close (faults, malformed requests, down brokers,
    /// acks=0 errors).
    pub connections_closed: u64,
    /// Transactions committed (EndTxn with commit, markers written).
    pub transactions_committed: u64,
    /// Transactions aborted (EndTxn with abort, or fenced by InitProducerId).
    pub transactions_aborted: u64,
    /// Of the aborted transactions, those aborted because they outlived their timeout.
    pub transactions_timed_out: u64,
    /// Control batches (COMMIT/ABORT markers) written to partitions.
    pub markers_written: u64,
    /// The last 32 refusals explained (Kafka's exception messages), oldest first.
    pub recent_errors: VecDeque<String>,
}

impl ClusterStats {
    pub(crate) fn note_error(&mut self, what: String) {
        if self.recent_errors.len() == RECENT_ERRORS {
            self.recent_errors.pop_front();
        }
        self.recent_errors.push_back(what);
    }

    /// Requests received of one API key.
    pub fn requests_of(&self, api_key: i16) -> u64 {
        self.requests.get(&api_key).copied().unwrap_or(0)
    }

    /// Produce partition answers with this error code.
    pub fn produce_errors_of(&self, code: i16) -> u64 {
        self.produce_errors.get(&code).copied().unwrap_or(0)
    }
}
