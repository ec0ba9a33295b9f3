//! CreateTopics (key 19), v2–v7, as Kafka 4.x's controller answers it.

use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kproducer_mock::{
    codes, ClusterConfig, FaultAction, FaultRule, MockCluster, Outcome, Schedule, TimestampType,
};

use crate::common::*;

/// The oldest and newest versions served.
const VERSIONS: [i16; 2] = [2, 7];

fn topic(name: &str, partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
}

fn with_config(t: CreatableTopic, name: &str, value: Option<&str>) -> CreatableTopic {
    let mut t = t;
    t.configs.push(
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_value(value.map(|v| StrBytes::from_string(v.to_string()))),
    );
    t
}

fn request(topics: Vec<CreatableTopic>) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(topics)
}

fn create(c: &mut MockCluster, version: i16, topics: Vec<CreatableTopic>) -> CreateTopicsResponse {
    call(c, 1, version, &request(topics))
}

/// (name, error code, error message) of each result, in answer order.
fn outcomes(resp: &CreateTopicsResponse) -> Vec<(String, i16, Option<String>)> {
    resp.topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.error_code,
                t.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect()
}

fn only(resp: &CreateTopicsResponse) -> &CreatableTopicResult {
    assert_eq!(resp.topics.len(), 1, "{resp:?}");
    &resp.topics[0]
}

fn config_of(r: &CreatableTopicResult, name: &str) -> (String, i8) {
    let c = r
        .configs
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("no config {name} in {r:?}"));
    (c.value.as_ref().unwrap().to_string(), c.config_source)
}

#[test]
fn creates_topics_exactly_as_create_topic_does() {
    for v in 2..=7 {
        let mut c = cluster(3);
        let mut control = cluster(3);
        let resp = create(&mut c, v, vec![topic("orders", 5, 3), topic("audit", 1, 1)]);
        assert_eq!(resp.throttle_time_ms, 0);
        assert_eq!(
            outcomes(&resp),
            [
                ("orders".to_string(), 0, None),
                ("audit".to_string(), 0, None)
            ],
            "v{v}"
        );
        control.create_topic("orders", 5).unwrap();
        control.create_topic("audit", 1).unwrap();
        assert_eq!(c.topics(), ["audit", "orders"]);
        assert_eq!(c.partition_count("orders"), Some(5));
        for p in 0..5 {
            assert_eq!(
                c.leader("orders", p),
                control.leader("orders", p),
                "v{v} p{p}"
            );
            assert_eq!(c.leader_epoch("orders", p), Some(0));
        }
        // The same seeded ids as the control API hands out.
        assert_eq!(c.topic_id("orders"), control.topic_id("orders"));
        let orders = &resp.topics[0];
        if v >= 5 {
            assert_eq!(orders.num_partitions, 5, "v{v}");
            assert_eq!(orders.replication_factor, 3, "every broker holds a replica");
            assert_eq!(resp.topics[1].replication_factor, 3);
            assert_eq!(orders.topic_config_error_code, 0);
            assert_eq!(
                config_of(orders, "max.message.bytes"),
                ("1048588".to_string(), 5)
            );
            assert_eq!(
                config_of(orders, "message.timestamp.type"),
                ("CreateTime".to_string(), 5)
            );
        } else {
            assert_eq!((orders.num_partitions, orders.replication_factor), (-1, -1));
        }
        if v >= 7 {
            assert_eq!(
                *orders.topic_id.as_bytes(),
                c.topic_id("orders").unwrap(),
                "v{v}"
            );
        } else {
            assert!(orders.topic_id.is_nil(), "v{v}: no topic id before v7");
        }
        // Metadata lists it, led as any topic is.
        let m = call(&mut c, 2, 12, &MetadataRequest::default().with_topics(None));
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().unwrap().0.as_str() == "orders")
            .unwrap();
        assert_eq!(t.error_code, 0);
        assert_eq!(
            t.partitions
                .iter()
                .map(|p| p.leader_id.0)
                .collect::<Vec<_>>(),
            [1, 2, 3, 1, 2]
        );
        assert_eq!(c.stats().topics_created, 2);
        assert_eq!(c.stats().requests_of(CREATE_TOPICS), 1);
    }
}

#[test]
fn created_topics_take_produce_requests() {
    let mut c = cluster(2);
    assert_eq!(
        only(&create(&mut c, 7, vec![topic("t", 2, -1)])).error_code,
        0
    );
    let leader = c.leader("t", 1).unwrap();
    let r = produce_one(&mut c, leader, 9, "t", 1, batch(&BatchSpec::values(3)));
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    assert_eq!(c.records("t", 1).unwrap().len(), 3);
}

#[test]
fn minus_one_takes_the_defaults() {
    for v in VERSIONS {
        let mut c = MockCluster::new(ClusterConfig {
            brokers: 3,
            default_partitions: 4,
            ..Default::default()
        });
        let resp = create(&mut c, v, vec![topic("d", -1, -1)]);
        assert_eq!(only(&resp).error_code, 0, "v{v}");
        assert_eq!(c.partition_count("d"), Some(4), "v{v}");
        if v >= 5 {
            assert_eq!(only(&resp).num_partitions, 4);
        }
    }
}

#[test]
fn an_existing_topic_is_topic_already_exists() {
    for v in VERSIONS {
        let mut c = cluster(1);
        c.create_topic("t", 2).unwrap();
        let id = c.topic_id("t");
        let resp = create(&mut c, v, vec![topic("t", 5, 1), topic("new", 1, 1)]);
        assert_eq!(
            outcomes(&resp),
            [
                (
                    "t".to_string(),
                    codes::TOPIC_ALREADY_EXISTS,
                    Some("Topic 't' already exists.".to_string())
                ),
                ("new".to_string(), 0, None),
            ],
            "v{v}"
        );
        assert_eq!(c.partition_count("t"), Some(2), "left as it was");
        assert_eq!(c.topic_id("t"), id);
        let r = &resp.topics[0];
        assert!(r.topic_id.is_nil());
        assert_eq!((r.num_partitions, r.replication_factor), (-1, -1));
        assert!(c
            .stats()
            .recent_errors
            .iter()
            .any(|e| e.contains("already exists")));
    }
}

#[test]
fn invalid_names_are_invalid_topic_exception() {
    let long = "x".repeat(250);
    let cases = [
        (
            "",
            "Topic name is invalid: the empty string is not allowed".to_string(),
        ),
        (".", "Topic name is invalid: '.' is not allowed".to_string()),
        (
            "..",
            "Topic name is invalid: '..' is not allowed".to_string(),
        ),
        (
            "no spaces",
            "Topic name is invalid: 'no spaces' contains one or more characters other than \
             ASCII alphanumerics, '.', '_' and '-'"
                .to_string(),
        ),
        (
            long.as_str(),
            format!(
                "Topic name is invalid: the length of '{long}' is longer than the max allowed \
                 length 249"
            ),
        ),
    ];
    for v in VERSIONS {
        let mut c = cluster(1);
        for (name, message) in &cases {
            let resp = create(&mut c, v, vec![topic(name, 1, 1)]);
            let r = only(&resp);
            assert_eq!(
                r.error_code,
                codes::INVALID_TOPIC_EXCEPTION,
                "v{v} {name:?}"
            );
            assert_eq!(r.error_message.as_deref(), Some(message.as_str()));
        }
        // 249 characters is the longest allowed.
        let ok = "y".repeat(249);
        assert_eq!(
            only(&create(&mut c, v, vec![topic(&ok, 1, 1)])).error_code,
            0
        );
        assert_eq!(c.topics(), [ok]);
    }
}

#[test]
fn partition_counts_below_one_are_invalid_partitions() {
    for v in VERSIONS {
        let mut c = cluster(1);
        for n in [0, -2, i32::MIN] {
            let r = create(&mut c, v, vec![topic("p", n, 1)]);
            assert_eq!(
                (only(&r).error_code, only(&r).error_message.as_deref()),
                (
                    codes::INVALID_PARTITIONS,
                    Some("Number of partitions was set to an invalid non-positive value.")
                ),
                "v{v} {n}"
            );
        }
        assert!(c.topics().is_empty());
    }
}

#[test]
fn replication_factors_are_checked_against_the_registered_brokers() {
    for v in VERSIONS {
        let mut c = cluster(3);
        let r = create(&mut c, v, vec![topic("four", 1, 4)]);
        assert_eq!(
            (only(&r).error_code, only(&r).error_message.as_deref()),
            (
                codes::INVALID_REPLICATION_FACTOR,
                Some(
                    "Unable to replicate the partition 4 time(s): The target replication factor \
                     of 4 cannot be reached because only 3 broker(s) are registered."
                )
            ),
            "v{v}"
        );
        for rf in [0, -2, i16::MIN] {
            let r = create(&mut c, v, vec![topic("bad", 1, rf)]);
            assert_eq!(
                (only(&r).error_code, only(&r).error_message.as_deref()),
                (
                    codes::INVALID_REPLICATION_FACTOR,
                    Some(
                        "Replication factor must be larger than 0, or -1 to use the default value."
                    )
                ),
                "v{v} rf {rf}"
            );
        }
        // Kafka checks the replication factor's sign before the partition count, and the
        // partition count before placing replicas.
        let r = create(&mut c, v, vec![topic("both", 0, 0)]);
        assert_eq!(only(&r).error_code, codes::INVALID_REPLICATION_FACTOR);
        let r = create(&mut c, v, vec![topic("both", 0, 9)]);
        assert_eq!(only(&r).error_code, codes::INVALID_PARTITIONS);
        assert!(c.topics().is_empty());
        // A broker that is down is still registered.
        c.set_broker_up(3, false);
        let r = create(&mut c, v, vec![topic("three", 2, 3)]);
        assert_eq!(only(&r).error_code, 0, "v{v}");
        assert_eq!(c.leader("three", 0), Some(1));
        assert_eq!(c.leader("three", 1), Some(2));
    }
}

#[test]
fn manual_assignments_are_refused_with_invalid_request() {
    let assignment = |p: i32, brokers: &[i32]| {
        CreatableReplicaAssignment::default()
            .with_partition_index(p)
            .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
    };
    for v in VERSIONS {
        let mut c = cluster(3);
        let mut t = topic("manual", -1, -1);
        t.assignments = vec![assignment(0, &[1, 2]), assignment(1, &[2, 3])];
        let r = create(&mut c, v, vec![t.clone()]);
        assert_eq!(
            (only(&r).error_code, only(&r).error_message.as_deref()),
            (
                codes::INVALID_REQUEST,
                Some("Manual partition assignments are not supported by kproducer-mock.")
            ),
            "v{v}"
        );
        // Kafka's own checks come first.
        let r = create(&mut c, v, vec![t.clone().with_replication_factor(2)]);
        assert_eq!(
            only(&r).error_message.as_deref(),
            Some(
                "A manual partition assignment was specified, but replication factor was not \
                 set to -1."
            )
        );
        let r = create(&mut c, v, vec![t.with_num_partitions(2)]);
        assert_eq!(only(&r).error_code, codes::INVALID_REQUEST);
        assert_eq!(
            only(&r).error_message.as_deref(),
            Some(
                "A manual partition assignment was specified, but numPartitions was not set to -1."
            )
        );
        assert!(c.topics().is_empty());
    }
}

#[test]
fn validate_only_checks_and_creates_nothing() {
    for v in VERSIONS {
        let mut c = cluster(3);
        c.create_topic("exists", 1).unwrap();
        let req = request(vec![
            topic("fine", 6, 2),
            topic("exists", 1, 1),
            topic("bad name", 1, 1),
            topic("zero", 0, 1),
            topic("wide", 1, 4),
        ])
        .with_validate_only(true);
        let resp = call(&mut c, 1, v, &req);
        let got: Vec<(String, i16)> = outcomes(&resp)
            .into_iter()
            .map(|(n, code, _)| (n, code))
            .collect();
        assert_eq!(
            got,
            [
                ("fine".to_string(), 0),
                ("exists".to_string(), codes::TOPIC_ALREADY_EXISTS),
                ("bad name".to_string(), codes::INVALID_TOPIC_EXCEPTION),
                ("zero".to_string(), codes::INVALID_PARTITIONS),
                ("wide".to_string(), codes::INVALID_REPLICATION_FACTOR),
            ],
            "v{v}"
        );
        assert_eq!(c.topics(), ["exists"], "v{v}: nothing created");
        assert_eq!(c.stats().topics_created, 0);
        let fine = &resp.topics[0];
        assert!(fine.topic_id.is_nil());
        if v >= 5 {
            assert_eq!((fine.num_partitions, fine.replication_factor), (6, 3));
        }
        // The same request for real creates it.
        let resp = call(&mut c, 1, v, &req.with_validate_only(false));
        assert_eq!(resp.topics[0].error_code, 0);
        assert_eq!(c.partition_count("fine"), Some(6));
    }
}

#[test]
fn a_name_given_twice_is_invalid_request_and_answered_last() {
    for v in VERSIONS {
        let mut c = cluster(1);
        let resp = create(
            &mut c,
            v,
            vec![
                topic("twice", 1, 1),
                topic("once", 1, 1),
                topic("twice", 2, 1),
                topic("__cluster_metadata", 1, 1),
            ],
        );
        assert_eq!(
            outcomes(&resp),
            [
                ("once".to_string(), 0, None),
                (
                    "twice".to_string(),
                    codes::INVALID_REQUEST,
                    Some("Duplicate topic name.".to_string())
                ),
                (
                    "__cluster_metadata".to_string(),
                    codes::INVALID_REQUEST,
                    Some(
                        "Creation of internal topic __cluster_metadata is prohibited.".to_string()
                    )
                ),
            ],
            "v{v}"
        );
        assert_eq!(c.topics(), ["once"]);
    }
}

#[test]
fn honoured_configs_apply_and_bad_ones_are_invalid_config() {
    for v in VERSIONS {
        let mut c = cluster(1);
        let t = with_config(
            topic("lat", 1, 1),
            "message.timestamp.type",
            Some("LogAppendTime"),
        );
        let t = with_config(t, "max.message.bytes", Some("200"));
        let t = with_config(t, "cleanup.policy", Some("compact")); // accepted, ignored
        let resp = create(&mut c, v, vec![t]);
        let r = only(&resp);
        assert_eq!(r.error_code, 0, "v{v}");
        if v >= 5 {
            assert_eq!(config_of(r, "max.message.bytes"), ("200".to_string(), 1));
            assert_eq!(
                config_of(r, "message.timestamp.type"),
                ("LogAppendTime".to_string(), 1)
            );
        }
        // LogAppendTime: the broker stamps the batch.
        let p = produce_one(&mut c, 1, 9, "lat", 0, batch(&BatchSpec::values(1)));
        assert_eq!((p.error_code, p.log_append_time_ms), (0, 1_000));
        assert_eq!(
            c.batches("lat", 0)[0].timestamp_type,
            TimestampType::LogAppendTime
        );
        // max.message.bytes = 200: a bigger batch is refused.
        let big = batch(&BatchSpec {
            values: vec![vec![b'x'; 300]],
            ..BatchSpec::default()
        });
        let p = produce_one(&mut c, 1, 9, "lat", 0, big);
        assert_eq!(p.error_code, codes::MESSAGE_TOO_LARGE);

        let bad = [
            (
                "message.timestamp.type",
                Some("Sometime"),
                "Invalid value Sometime for configuration message.timestamp.type: String must \
                 be one of: CreateTime, LogAppendTime",
            ),
            (
                "max.message.bytes",
                Some("lots"),
                "Invalid value lots for configuration max.message.bytes: Not a number of type INT",
            ),
            (
                "max.message.bytes",
                Some("-1"),
                "Invalid value -1 for configuration max.message.bytes: Value must be at least 0",
            ),
            (
                "retention.ms",
                None,
                "Null value not supported for topic configs: retention.ms",
            ),
        ];
        for (name, value, message) in bad {
            let resp = create(
                &mut c,
                v,
                vec![with_config(topic("bad", 1, 1), name, value)],
            );
            assert_eq!(
                (only(&resp).error_code, only(&resp).error_message.as_deref()),
                (codes::INVALID_CONFIG, Some(message)),
                "v{v} {name}={value:?}"
            );
        }
        assert_eq!(c.topics(), ["lat"]);
    }
}

#[test]
fn too_many_partitions_in_one_request_is_a_policy_violation() {
    let mut c = cluster(1);
    // One record per topic and per partition: 10,000 fit.
    let resp = create(&mut c, 7, vec![topic("big", 9_999, 1)]);
    assert_eq!(only(&resp).error_code, 0);
    assert_eq!(c.partition_count("big"), Some(9_999));
    // One more fails.
    let resp = create(&mut c, 7, vec![topic("over", 10_000, 1)]);
    assert_eq!(only(&resp).error_code, codes::POLICY_VIOLATION);
    // Counted over the whole request, which fails as a whole, valid topics too; a huge count
    // allocates nothing.
    for n in [9_998, i32::MAX] {
        let resp = create(&mut c, 2, vec![topic("small", 1, 1), topic("huge", n, 1)]);
        assert_eq!(
            outcomes(&resp),
            [
                (
                    "small".to_string(),
                    codes::POLICY_VIOLATION,
                    Some("Unable to perform excessively large batch operation.".to_string())
                ),
                (
                    "huge".to_string(),
                    codes::POLICY_VIOLATION,
                    Some("Unable to perform excessively large batch operation.".to_string())
                ),
            ]
        );
    }
    assert_eq!(c.topics(), ["big"]);
}

#[test]
fn faults_answer_their_error_and_create_nothing() {
    for v in VERSIONS {
        let mut c = cluster(1);
        c.add_fault(
            FaultRule::new(FaultAction::Error(codes::NOT_CONTROLLER), Schedule::Next(1))
                .api(CREATE_TOPICS),
        );
        let resp = create(&mut c, v, vec![topic("a", 1, 1), topic("b", 1, 1)]);
        assert!(
            resp.topics
                .iter()
                .all(|t| t.error_code == codes::NOT_CONTROLLER),
            "v{v}: {resp:?}"
        );
        assert!(c.topics().is_empty());
        // Spent: the retry succeeds.
        let resp = create(&mut c, v, vec![topic("a", 1, 1), topic("b", 1, 1)]);
        assert!(resp.topics.iter().all(|t| t.error_code == 0));

        // A topic filter: only that topic.
        let mut c = cluster(1);
        c.add_fault(
            FaultRule::new(
                FaultAction::Error(codes::REQUEST_TIMED_OUT),
                Schedule::Always,
            )
            .api(CREATE_TOPICS)
            .topic("slow"),
        );
        c.add_fault(
            FaultRule::new(
                FaultAction::Throttle(std::time::Duration::from_millis(250)),
                Schedule::Always,
            )
            .api(CREATE_TOPICS),
        );
        let resp = create(&mut c, v, vec![topic("slow", 1, 1), topic("fast", 1, 1)]);
        let got: Vec<(String, i16)> = outcomes(&resp)
            .into_iter()
            .map(|(n, code, _)| (n, code))
            .collect();
        assert_eq!(
            got,
            [
                ("slow".to_string(), codes::REQUEST_TIMED_OUT),
                ("fast".to_string(), 0)
            ]
        );
        assert_eq!(resp.throttle_time_ms, 250);
        assert_eq!(c.topics(), ["fast"]);
    }
}

#[test]
fn only_a_broker_that_is_up_answers() {
    for v in VERSIONS {
        let mut c = cluster(2);
        c.set_broker_up(2, false);
        let f = frame(v, 3, &request(vec![topic("t", 1, 1)]));
        assert!(matches!(
            c.handle_request(2, &f, 0),
            Outcome::Close {
                processed: false,
                ..
            }
        ));
        assert!(c.topics().is_empty());
        let resp = decode::<CreateTopicsRequest>(v, 3, &reply_frame(c.handle_request(1, &f, 0)));
        assert_eq!(only(&resp).error_code, 0);
        assert_eq!(c.leader("t", 0), Some(1));
    }
}

#[test]
fn versions_outside_two_to_seven_close_the_connection() {
    let mut c = cluster(1);
    for (v, patched) in [(2, 1), (7, 8)] {
        let mut f = frame(v, 1, &request(vec![topic("t", 1, 1)])).to_vec();
        f[2..4].copy_from_slice(&(patched as i16).to_be_bytes());
        assert!(matches!(c.handle_request(1, &f, 0), Outcome::Close { .. }));
    }
    assert!(c.topics().is_empty());
}
