//! FindCoordinator (key 10), v0–v6, as Kafka 4.x's brokers answer it.

use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kproducer_mock::{codes, FaultAction, FaultRule, MockCluster, Outcome, Schedule};

use crate::common::*;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
const SHARE: i8 = 2;

const INVALID_REQUEST_MESSAGE: &str = "This most likely occurs because of a request being \
    malformed by the client library or the message was sent to an incompatible broker. See the \
    broker logs for more details.";

/// A v0–v3 request for one key.
fn single(key_type: i8, key: &str) -> FindCoordinatorRequest {
    FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(key.to_string()))
        .with_key_type(key_type)
}

/// A v4+ request for a batch of keys.
fn batched(key_type: i8, keys: &[&str]) -> FindCoordinatorRequest {
    FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(
            keys.iter()
                .map(|k| StrBytes::from_string(k.to_string()))
                .collect(),
        )
}

/// (error code, node id, host, port) of a v0–v3 answer.
fn node(r: &FindCoordinatorResponse) -> (i16, i32, String, i32) {
    (r.error_code, r.node_id.0, r.host.to_string(), r.port)
}

/// (key, error code, node id, host, port) of each v4+ result.
fn nodes(r: &FindCoordinatorResponse) -> Vec<(String, i16, i32, String, i32)> {
    r.coordinators
        .iter()
        .map(|c| {
            (
                c.key.to_string(),
                c.error_code,
                c.node_id.0,
                c.host.to_string(),
                c.port,
            )
        })
        .collect()
}

fn advertised_cluster() -> MockCluster {
    let mut c = cluster(3);
    for b in 1..=3 {
        c.set_advertised(b, &format!("host-{b}.test"), 9000 + b);
    }
    c
}

fn no_node() -> (i32, String, i32) {
    (-1, String::new(), -1)
}

#[test]
fn coordinators_are_placed_as_kafka_places_its_internal_partitions() {
    let c = cluster(3);
    // abs(String.hashCode()) % 50, that partition's broker 1 + p % 3:
    // "a" = 97 -> 47 -> 3; "txn-1" = 110810510 -> 10 -> 2; "g" = 103 -> 3 -> 1;
    // "orders-group" = -403968617 -> 17 -> 3;
    // "polygenelubricants" = i32::MIN, which Kafka's Utils.abs takes to 0 -> 1.
    for kt in [GROUP, TRANSACTION] {
        assert_eq!(c.coordinator(kt, "a"), Some(3));
        assert_eq!(c.coordinator(kt, "txn-1"), Some(2));
        assert_eq!(c.coordinator(kt, "g"), Some(1));
        assert_eq!(c.coordinator(kt, "orders-group"), Some(3));
        assert_eq!(c.coordinator(kt, "polygenelubricants"), Some(1));
        // Equal Java hash codes, equal coordinators.
        assert_eq!(c.coordinator(kt, "Aa"), c.coordinator(kt, "BB"));
    }
    // Partition 0, not 48 (= 2^31 % 50, which would be broker 4 of 5).
    assert_eq!(cluster(5).coordinator(GROUP, "polygenelubricants"), Some(1));
    assert_eq!(c.coordinator(SHARE, "a"), None);
    assert_eq!(c.coordinator(-1, "a"), None);
    // Keys spread over every broker.
    let used: std::collections::BTreeSet<i32> = (0..100)
        .filter_map(|i| c.coordinator(GROUP, &format!("group-{i}")))
        .collect();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn a_down_coordinator_moves_to_the_next_broker_up_and_back() {
    let mut c = cluster(3);
    assert_eq!(c.coordinator(GROUP, "a"), Some(3));
    c.set_broker_up(3, false);
    assert_eq!(c.coordinator(GROUP, "a"), Some(1), "wraps to the lowest id");
    c.set_broker_up(1, false);
    assert_eq!(c.coordinator(GROUP, "a"), Some(2));
    c.set_broker_up(2, false);
    assert_eq!(c.coordinator(GROUP, "a"), None, "no broker up");
    assert_eq!(c.coordinator(TRANSACTION, "a"), None);
    c.set_broker_up(3, true);
    assert_eq!(c.coordinator(GROUP, "a"), Some(3));
}

#[test]
fn v0_to_v3_answer_one_key_with_the_advertised_address() {
    let mut c = advertised_cluster();
    for v in 0..=3 {
        // v0 has no key type: always a group.
        let kt = if v == 0 { GROUP } else { TRANSACTION };
        let r = call(&mut c, 1, v, &single(kt, "txn-1"));
        assert_eq!(node(&r), (0, 2, "host-2.test".to_string(), 9002), "v{v}");
        if v >= 1 {
            // Kafka fills the message with `Errors.NONE.message()`.
            assert_eq!(r.error_message.as_deref(), Some("NONE"), "v{v}");
        }
        let r = call(&mut c, 2, v, &single(GROUP, "a"));
        assert_eq!(node(&r), (0, 3, "host-3.test".to_string(), 9003), "v{v}");
    }
    assert_eq!(c.stats().requests_of(FIND_COORDINATOR), 8);
}

#[test]
fn v4_to_v6_answer_each_key_in_order() {
    let mut c = advertised_cluster();
    for v in 4..=6 {
        for kt in [GROUP, TRANSACTION] {
            let r = call(&mut c, 3, v, &batched(kt, &["g", "a", "txn-1", "g"]));
            assert_eq!(
                nodes(&r),
                [
                    ("g".to_string(), 0, 1, "host-1.test".to_string(), 9001),
                    ("a".to_string(), 0, 3, "host-3.test".to_string(), 9003),
                    ("txn-1".to_string(), 0, 2, "host-2.test".to_string(), 9002),
                    ("g".to_string(), 0, 1, "host-1.test".to_string(), 9001),
                ],
                "v{v} key type {kt}"
            );
            // The top-level fields are not in v4+.
            assert_eq!((r.error_code, r.node_id.0), (0, 0));
        }
        assert!(call(&mut c, 1, v, &batched(GROUP, &[]))
            .coordinators
            .is_empty());
    }
}

#[test]
fn the_coordinator_answered_follows_brokers_going_down() {
    let mut c = advertised_cluster();
    c.set_broker_up(3, false);
    let r = call(&mut c, 1, 0, &single(GROUP, "a"));
    assert_eq!(node(&r), (0, 1, "host-1.test".to_string(), 9001));
    let r = call(&mut c, 2, 6, &batched(TRANSACTION, &["a", "txn-1"]));
    assert_eq!(nodes(&r).iter().map(|n| n.2).collect::<Vec<_>>(), [1, 2]);
    // A down broker does not answer at all.
    let f = frame(6, 1, &batched(GROUP, &["a"]));
    assert!(matches!(
        c.handle_request(3, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    c.set_broker_up(3, true);
    let r = call(&mut c, 3, 6, &batched(GROUP, &["a"]));
    assert_eq!(nodes(&r)[0].2, 3);
}

#[test]
fn share_and_unknown_key_types_are_invalid_request() {
    let mut c = advertised_cluster();
    for v in 1..=3 {
        for kt in [SHARE, 3, -1, i8::MAX] {
            let r = call(&mut c, 1, v, &single(kt, "a"));
            assert_eq!(
                node(&r),
                (codes::INVALID_REQUEST, -1, String::new(), -1),
                "v{v} key type {kt}"
            );
            assert_eq!(r.error_message.as_deref(), Some(INVALID_REQUEST_MESSAGE));
        }
    }
    for v in 4..=6 {
        // Share groups: refused per key, without a message.
        let r = call(&mut c, 1, v, &batched(SHARE, &["a", "b"]));
        let (n, h, p) = no_node();
        assert_eq!(
            nodes(&r),
            [
                ("a".to_string(), codes::INVALID_REQUEST, n, h.clone(), p),
                ("b".to_string(), codes::INVALID_REQUEST, n, h.clone(), p),
            ],
            "v{v}"
        );
        assert!(r
            .coordinators
            .iter()
            .all(|k| k.error_message.as_deref() == Some("")));
        // An unknown type fails the whole request: every key, with the message.
        let r = call(&mut c, 1, v, &batched(7, &["a", "b"]));
        assert!(r
            .coordinators
            .iter()
            .all(|k| k.error_code == codes::INVALID_REQUEST
                && k.node_id.0 == -1
                && k.error_message.as_deref() == Some(INVALID_REQUEST_MESSAGE)));
        assert_eq!(r.coordinators.len(), 2);
    }
}

#[test]
fn faults_answer_their_error_per_version() {
    let mut c = advertised_cluster();
    let rule = || {
        FaultRule::new(
            FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
            Schedule::Next(1),
        )
        .api(FIND_COORDINATOR)
    };
    for v in [0, 3] {
        c.add_fault(rule());
        let r = call(&mut c, 1, v, &single(GROUP, "a"));
        assert_eq!(
            node(&r),
            (codes::COORDINATOR_NOT_AVAILABLE, -1, String::new(), -1),
            "v{v}"
        );
        if v >= 1 {
            assert_eq!(
                r.error_message.as_deref(),
                Some("The coordinator is not available.")
            );
        }
        assert_eq!(node(&call(&mut c, 1, v, &single(GROUP, "a"))).0, 0);
    }
    for v in [4, 6] {
        c.add_fault(rule());
        let r = call(&mut c, 1, v, &batched(TRANSACTION, &["a", "b"]));
        assert!(
            r.coordinators
                .iter()
                .all(|k| k.error_code == codes::COORDINATOR_NOT_AVAILABLE && k.node_id.0 == -1),
            "v{v}: {r:?}"
        );
        let r = call(&mut c, 1, v, &batched(TRANSACTION, &["a", "b"]));
        assert!(r.coordinators.iter().all(|k| k.error_code == 0));
    }
    // Throttling, and rules for other APIs or other brokers do not apply.
    c.add_fault(
        FaultRule::new(
            FaultAction::Throttle(std::time::Duration::from_millis(40)),
            Schedule::Always,
        )
        .api(FIND_COORDINATOR)
        .broker(2),
    );
    c.add_fault(
        FaultRule::new(FaultAction::Error(codes::NOT_COORDINATOR), Schedule::Always).api(METADATA),
    );
    assert_eq!(
        call(&mut c, 2, 6, &batched(GROUP, &["a"])).throttle_time_ms,
        40
    );
    let r = call(&mut c, 1, 2, &single(GROUP, "a"));
    assert_eq!((r.throttle_time_ms, r.error_code), (0, 0));
}
