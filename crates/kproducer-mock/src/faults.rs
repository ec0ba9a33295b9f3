//! Scripted faults: error codes, latency, lost answers, cut connections, throttling.
//!
//! A [`FaultRule`] says which requests it applies to (API, broker, topic, partition; `None`
//! matches anything), what to do ([`FaultAction`]) and when ([`Schedule`]). Every random draw
//! comes from the cluster's seeded generator, in request order, so a run is reproducible.
//!
//! # Matching
//! - `api_key`, `broker`: the request's API key and the broker that received it.
//! - `topic`, `partition`: Produce requests are matched per partition; Metadata requests per
//!   topic of the answer, CreateTopics requests per topic of the request (a rule with a
//!   `partition` filter never matches them); a rule with a topic or partition filter never
//!   matches other APIs. A request-level action (anything but
//!   `Error` on Produce) with such a filter applies to the whole request when at least one of its
//!   partitions (topics) matches.
//!
//! # Evaluation and precedence
//! Rules are consulted in the order they were added. Consulting a rule consumes its schedule
//! (one of its `Next(n)` or one random draw for `Rate`), so it happens only when the rule
//! matches:
//! 1. Request-level rules (every action except a Produce `Error`) are all consulted, once per
//!    matching request. Their effects combine: `CloseConnection { before_processing: true }`
//!    wins over everything (the request is not processed); otherwise the request is processed,
//!    then `CloseConnection { before_processing: false }` wins over `DropResponse`, which wins
//!    over a reply. `Delay`s add up; the largest `Throttle` is used; the first `Error` that fires
//!    is the API's error (ApiVersions, InitProducerId, AddOffsetsToTxn, EndTxn and
//!    AddPartitionsToTxn v4+: the top-level error code; AddPartitionsToTxn v0–v3 and
//!    TxnOffsetCommit: the error of every partition; Fetch and ListOffsets: of every partition;
//!    Metadata: the error of each matching topic, listed without partitions; CreateTopics: the
//!    error of each matching topic, which is not created; FindCoordinator: the top-level error in
//!    v0–v3, every key's error in v4+, with node id -1). The request then has no other effect.
//! 2. Produce `Error` rules are consulted per partition, in rule order, until one fires: that
//!    partition gets the error and is not appended — except NOT_ENOUGH_REPLICAS_AFTER_APPEND
//!    (20), which, as in Kafka, is returned after the records were appended. They are not
//!    consulted when the request is closed before processing.

use std::time::Duration;

use crate::rng::SplitMix64;

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this Kafka error code. Produce: per matching partition, nothing appended
    /// (except code 20, NOT_ENOUGH_REPLICAS_AFTER_APPEND, returned after appending). Other APIs:
    /// see the module docs.
    Error(i16),
    /// Delay the answer (the request is processed at once).
    Delay(Duration),
    /// Process the request but lose its answer: the client must time out.
    DropResponse,
    /// Close the connection, before or after processing the request.
    CloseConnection {
        /// `true`: the request has no effect; `false`: it takes effect, its answer is lost with
        /// the connection.
        before_processing: bool,
    },
    /// Set `throttle_time_ms` in the answer (whole milliseconds). The mock does not mute the
    /// connection for that long as Kafka does; clients throttle themselves (KIP-219).
    Throttle(Duration),
}

/// When a matching rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The next `n` times it matches (requests, or partitions for a Produce `Error`), then never.
    Next(u32),
    /// Each time it matches, with this probability (a draw from the seeded generator).
    Rate(f64),
    /// Every time it matches.
    Always,
}

/// One scripted fault. Build it with [`FaultRule::new`] and the filter methods:
///
/// ```
/// use kproducer_mock::{codes, FaultAction, FaultRule, Schedule};
/// let rule = FaultRule::new(FaultAction::Error(codes::NOT_LEADER_OR_FOLLOWER), Schedule::Next(3))
///     .api(0) // Produce
///     .topic("orders")
///     .partition(1);
/// assert_eq!(rule.broker, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Only requests of this API key.
    pub api_key: Option<i16>,
    /// Only requests received by this broker.
    pub broker: Option<i32>,
    /// Only this topic (see the module docs for which APIs have topics).
    pub topic: Option<String>,
    /// Only this partition.
    pub partition: Option<i32>,
    /// What to do.
    pub action: FaultAction,
    /// When.
    pub schedule: Schedule,
}

impl FaultRule {
    /// A rule matching every request.
    pub fn new(action: FaultAction, schedule: Schedule) -> Self {
        Self {
            api_key: None,
            broker: None,
            topic: None,
            partition: None,
            action,
            schedule,
        }
    }
    /// Only requests of this API key (0 Produce, 3 Metadata, 10 FindCoordinator, 18 ApiVersions,
    /// 19 CreateTopics, 22 InitProducerId…).
    pub fn api(mut self, api_key: i16) -> Self {
        self.api_key = Some(api_key);
        self
    }
    /// Only requests received by this broker.
    pub fn broker(mut self, broker: i32) -> Self {
        self.broker = Some(broker);
        self
    }
    /// Only this topic.
    pub fn topic(mut self, topic: &str) -> Self {
        self.topic = Some(topic.to_string());
        self
    }
    /// Only this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    fn matches_unit(&self, topic: &str, partition: Option<i32>) -> bool {
        self.topic.as_deref().is_none_or(|t| t == topic)
            && self.partition.is_none_or(|p| partition == Some(p))
    }

    fn has_unit_filter(&self) -> bool {
        self.topic.is_some() || self.partition.is_some()
    }
}

/// Identifies a rule added to [`Faults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultId(u64);

#[derive(Debug, Clone)]
struct Slot {
    id: FaultId,
    rule: FaultRule,
    remaining: u32,
    hits: u64,
}

impl Slot {
    fn consult(&mut self, rng: &mut SplitMix64, fired_total: &mut u64) -> bool {
        let fired = match self.rule.schedule {
            Schedule::Always => true,
            Schedule::Next(_) => {
                if self.remaining > 0 {
                    self.remaining -= 1;
                    true
                } else {
                    false
                }
            }
            Schedule::Rate(p) => rng.next_f64() < p,
        };
        if fired {
            self.hits += 1;
            *fired_total += 1;
        }
        fired
    }
}

/// The cluster's fault rules (see the module docs for matching and precedence).
#[derive(Debug, Clone)]
pub struct Faults {
    slots: Vec<Slot>,
    next_id: u64,
    rng: SplitMix64,
    fired: u64,
}

/// The request-level decisions for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestFaults {
    pub(crate) close_before: bool,
    pub(crate) close_after: bool,
    pub(crate) drop: bool,
    pub(crate) delay: Duration,
    pub(crate) throttle: Duration,
    /// The first `Error` that fired (not Produce), with the rule's topic filter.
    pub(crate) error: Option<(i16, Option<String>)>,
}

impl RequestFaults {
    pub(crate) fn throttle_ms(&self) -> i32 {
        i32::try_from(self.throttle.as_millis()).unwrap_or(i32::MAX)
    }
}

/// The units (topic, partition) a request touches, for matching topic and partition filters.
pub(crate) type Unit<'a> = (&'a str, Option<i32>);

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            next_id: 0,
            fired: 0,
            // Its own stream, so that fault draws do not shift the cluster's other random
            // choices (topic ids).
            rng: SplitMix64::new(seed ^ 0x6b70_726f_6475_6365),
        }
    }

    /// Adds a rule; it is consulted after the rules added before it.
    pub fn add(&mut self, rule: FaultRule) -> FaultId {
        let id = FaultId(self.next_id);
        self.next_id += 1;
        let remaining = match rule.schedule {
            Schedule::Next(n) => n,
            _ => 0,
        };
        self.slots.push(Slot {
            id,
            rule,
            remaining,
            hits: 0,
        });
        id
    }

    /// Removes a rule; `false` if it was not there.
    pub fn remove(&mut self, id: FaultId) -> bool {
        let before = self.slots.len();
        self.slots.retain(|s| s.id != id);
        self.slots.len() != before
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// How many times a rule fired (0 for an unknown id).
    pub fn hits(&self, id: FaultId) -> u64 {
        self.slots.iter().find(|s| s.id == id).map_or(0, |s| s.hits)
    }

    /// Whether a `Next(n)` rule has fired `n` times (always `false` for other schedules and
    /// unknown ids).
    pub fn is_spent(&self, id: FaultId) -> bool {
        self.slots
            .iter()
            .find(|s| s.id == id)
            .is_some_and(|s| matches!(s.rule.schedule, Schedule::Next(_)) && s.remaining == 0)
    }

    /// The rules, in consultation order.
    pub fn rules(&self) -> impl Iterator<Item = (FaultId, &FaultRule)> {
        self.slots.iter().map(|s| (s.id, &s.rule))
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many times any rule fired, removed rules included.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Whether a request-level rule filters on topics or partitions.
    pub(crate) fn filters_units(&self) -> bool {
        self.slots.iter().any(|s| s.rule.has_unit_filter())
    }

    /// Consults the request-level rules for one request.
    pub(crate) fn for_request(
        &mut self,
        api_key: i16,
        broker: i32,
        units: &[Unit<'_>],
    ) -> RequestFaults {
        let mut out = RequestFaults::default();
        for slot in &mut self.slots {
            let r = &slot.rule;
            if api_key == 0 && matches!(r.action, FaultAction::Error(_)) {
                continue; // per partition, see `produce_error`
            }
            if r.api_key.is_some_and(|k| k != api_key) || r.broker.is_some_and(|b| b != broker) {
                continue;
            }
            if r.has_unit_filter() && !units.iter().any(|(t, p)| r.matches_unit(t, *p)) {
                continue;
            }
            if !slot.consult(&mut self.rng, &mut self.fired) {
                continue;
            }
            match &slot.rule.action {
                FaultAction::Error(code) => {
                    if out.error.is_none() {
                        out.error = Some((*code, slot.rule.topic.clone()));
                    }
                }
                FaultAction::Delay(d) => out.delay = out.delay.saturating_add(*d),
                FaultAction::DropResponse => out.drop = true,
                FaultAction::CloseConnection { before_processing } => {
                    if *before_processing {
                        out.close_before = true;
                    } else {
                        out.close_after = true;
                    }
                }
                FaultAction::Throttle(d) => out.throttle = out.throttle.max(*d),
            }
        }
        out
    }

    /// The injected error for one partition of a Produce request, if a rule fires.
    pub(crate) fn produce_error(
        &mut self,
        broker: i32,
        topic: &str,
        partition: i32,
    ) -> Option<i16> {
        for slot in &mut self.slots {
            let r = &slot.rule;
            let FaultAction::Error(code) = r.action else {
                continue;
            };
            if r.api_key.is_some_and(|k| k != 0) || r.broker.is_some_and(|b| b != broker) {
                continue;
            }
            if !r.matches_unit(topic, Some(partition)) {
                continue;
            }
            if slot.consult(&mut self.rng, &mut self.fired) {
                return Some(code);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_n_fires_n_times_and_is_then_spent() {
        let mut f = Faults::new(1);
        let id = f.add(FaultRule::new(FaultAction::DropResponse, Schedule::Next(2)).api(3));
        assert!(f.for_request(3, 1, &[]).drop);
        assert!(
            !f.for_request(18, 1, &[]).drop,
            "other API does not match nor consume"
        );
        assert!(f.for_request(3, 1, &[]).drop);
        assert!(f.is_spent(id));
        assert!(!f.for_request(3, 1, &[]).drop);
        assert_eq!(f.hits(id), 2);
    }

    #[test]
    fn request_level_effects_combine() {
        let mut f = Faults::new(1);
        f.add(FaultRule::new(
            FaultAction::Delay(Duration::from_millis(5)),
            Schedule::Always,
        ));
        f.add(FaultRule::new(
            FaultAction::Delay(Duration::from_millis(7)),
            Schedule::Always,
        ));
        f.add(FaultRule::new(
            FaultAction::Throttle(Duration::from_millis(30)),
            Schedule::Always,
        ));
        f.add(FaultRule::new(
            FaultAction::Throttle(Duration::from_millis(10)),
            Schedule::Always,
        ));
        f.add(FaultRule::new(FaultAction::Error(7), Schedule::Always).topic("a"));
        let r = f.for_request(3, 1, &[("b", None)]);
        assert_eq!(r.delay, Duration::from_millis(12));
        assert_eq!(r.throttle_ms(), 30);
        assert_eq!(r.error, None, "topic filter did not match");
        let r = f.for_request(3, 1, &[("b", None), ("a", None)]);
        assert_eq!(r.error, Some((7, Some("a".to_string()))));
    }

    #[test]
    fn produce_errors_are_per_partition_first_firing_rule_wins() {
        let mut f = Faults::new(1);
        let a = f.add(
            FaultRule::new(FaultAction::Error(6), Schedule::Next(1))
                .topic("t")
                .partition(0),
        );
        let b = f.add(FaultRule::new(FaultAction::Error(19), Schedule::Next(5)).topic("t"));
        assert_eq!(f.produce_error(1, "t", 1), Some(19));
        assert_eq!(f.produce_error(1, "t", 0), Some(6));
        assert_eq!(f.produce_error(1, "t", 0), Some(19));
        assert_eq!(f.produce_error(1, "u", 0), None);
        assert_eq!((f.hits(a), f.hits(b)), (1, 2));
        // Produce errors are not request-level.
        assert_eq!(f.for_request(0, 1, &[("t", Some(0))]).error, None);
    }
}
