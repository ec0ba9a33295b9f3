use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kproducer_mock::{codes, ClusterConfig, MockCluster};

use crate::common::*;

fn named(names: &[&str]) -> Option<Vec<MetadataRequestTopic>> {
    Some(
        names
            .iter()
            .map(|n| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
            })
            .collect(),
    )
}

fn all_topics(version: i16) -> MetadataRequest {
    // v0: an empty list means all topics; v1+: null.
    MetadataRequest::default().with_topics(if version == 0 { Some(vec![]) } else { None })
}

fn leaders(resp: &MetadataResponse, topic: &str) -> Vec<(i32, i32, i32)> {
    let t = resp
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic))
        .unwrap();
    t.partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0, p.leader_epoch))
        .collect()
}

#[test]
fn all_versions_describe_brokers_and_topics() {
    let mut c = cluster(3);
    c.set_advertised(2, "example.test", 1234);
    c.create_topic("orders", 4).unwrap();
    c.create_topic("audit", 1).unwrap();
    for v in 0..=12 {
        let resp = call(&mut c, 1, v, &all_topics(v));
        let brokers: Vec<(i32, String, i32)> = resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, b.host.to_string(), b.port))
            .collect();
        assert_eq!(brokers[1], (2, "example.test".to_string(), 1234), "v{v}");
        assert_eq!(brokers.len(), 3);
        let names: Vec<&str> = resp
            .topics
            .iter()
            .map(|t| t.name.as_ref().unwrap().0.as_str())
            .collect();
        assert_eq!(names, ["audit", "orders"], "v{v}: sorted");
        let p = &resp.topics[1].partitions;
        assert_eq!(p.len(), 4);
        assert_eq!(p[1].leader_id.0, 2);
        assert_eq!(
            p[1].replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
            [2, 3, 1]
        );
        assert_eq!(p[1].isr_nodes.len(), 3);
        if v >= 1 {
            assert_eq!(resp.controller_id.0, 1);
        }
        if v >= 2 {
            assert_eq!(resp.cluster_id.as_deref(), Some("kproducer-mock-cluster"));
        }
        if v >= 7 {
            assert_eq!(p[1].leader_epoch, 0);
        }
        if v >= 10 {
            assert_eq!(
                *resp.topics[1].topic_id.as_bytes(),
                c.topic_id("orders").unwrap()
            );
        }
    }
}

#[test]
fn auto_creation_answers_leader_not_available_first_as_kafka() {
    let mut c = MockCluster::new(ClusterConfig {
        brokers: 2,
        default_partitions: 3,
        ..Default::default()
    });
    let req = MetadataRequest::default()
        .with_topics(named(&["fresh"]))
        .with_allow_auto_topic_creation(true);
    let resp = call(&mut c, 1, 9, &req);
    assert_eq!(resp.topics[0].error_code, codes::LEADER_NOT_AVAILABLE);
    assert!(resp.topics[0].partitions.is_empty());
    assert_eq!(c.partition_count("fresh"), Some(3));
    let resp = call(&mut c, 1, 9, &req);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(leaders(&resp, "fresh"), [(0, 1, 0), (1, 2, 0), (2, 1, 0)]);

    // Not allowed by the request (v4+), or by the cluster.
    let no = MetadataRequest::default()
        .with_topics(named(&["other"]))
        .with_allow_auto_topic_creation(false);
    assert_eq!(
        call(&mut c, 1, 4, &no).topics[0].error_code,
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    let mut off = MockCluster::new(ClusterConfig {
        auto_create_topics: false,
        ..Default::default()
    });
    assert_eq!(
        call(
            &mut off,
            1,
            1,
            &MetadataRequest::default().with_topics(named(&["x"]))
        )
        .topics[0]
            .error_code,
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(off.partition_count("x"), None);
    // An illegal name.
    let bad = MetadataRequest::default()
        .with_topics(named(&["no spaces"]))
        .with_allow_auto_topic_creation(true);
    assert_eq!(
        call(&mut c, 1, 12, &bad).topics[0].error_code,
        codes::INVALID_TOPIC_EXCEPTION
    );
    // Asking for all topics never creates any.
    assert_eq!(c.topics(), ["fresh"]);
}

#[test]
fn a_down_broker_is_left_out_and_its_partitions_move() {
    let mut c = cluster(3);
    c.create_topic("t", 3).unwrap();
    c.set_broker_up(2, false);
    let resp = call(&mut c, 1, 12, &all_topics(12));
    assert_eq!(
        resp.brokers.iter().map(|b| b.node_id.0).collect::<Vec<_>>(),
        [1, 3]
    );
    // Partition 1 was led by 2: now by 3, epoch 1. The others did not move.
    assert_eq!(leaders(&resp, "t"), [(0, 1, 0), (1, 3, 1), (2, 3, 0)]);
    let p1 = &resp.topics[0].partitions[1];
    assert_eq!(p1.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(
        p1.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
        [2]
    );
    // Back up: listed again, leadership stays.
    c.set_broker_up(2, true);
    let resp = call(&mut c, 1, 12, &all_topics(12));
    assert_eq!(resp.brokers.len(), 3);
    assert_eq!(leaders(&resp, "t")[1], (1, 3, 1));
    // All down: no leader.
    for b in 1..=3 {
        c.set_broker_up(b, false);
    }
    assert_eq!(c.leader("t", 0), Some(-1));
    c.set_broker_up(3, true);
    let resp = call(&mut c, 3, 12, &all_topics(12));
    assert!(leaders(&resp, "t").iter().all(|&(_, l, _)| l == 3));
}

#[test]
fn v12_finds_topics_by_id() {
    let mut c = cluster(1);
    c.create_topic("by-id", 2).unwrap();
    let id = c.topic_id("by-id").unwrap();
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_name(None)
            .with_topic_id(uuid::Uuid::from_bytes(id)),
        MetadataRequestTopic::default()
            .with_name(None)
            .with_topic_id(uuid::Uuid::from_bytes([9; 16])),
    ]));
    let resp = call(&mut c, 1, 12, &req);
    assert_eq!(resp.topics[0].name.as_ref().unwrap().0.as_str(), "by-id");
    assert_eq!(resp.topics[0].partitions.len(), 2);
    assert_eq!(resp.topics[1].error_code, codes::UNKNOWN_TOPIC_ID);
    // v11 does not accept topic ids.
    let resp = call(&mut c, 1, 11, &req);
    assert!(resp
        .topics
        .iter()
        .all(|t| t.error_code == codes::INVALID_REQUEST));
}

#[test]
fn authorized_operations_when_asked() {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let req = all_topics(10)
        .with_include_cluster_authorized_operations(true)
        .with_include_topic_authorized_operations(true);
    let resp = call(&mut c, 1, 10, &req);
    assert_ne!(resp.cluster_authorized_operations, i32::MIN);
    assert_ne!(resp.topics[0].topic_authorized_operations, i32::MIN);
    assert_ne!(
        resp.topics[0].topic_authorized_operations & (1 << 4),
        0,
        "WRITE"
    );
    let resp = call(&mut c, 1, 10, &all_topics(10));
    assert_eq!(resp.topics[0].topic_authorized_operations, i32::MIN);
}
