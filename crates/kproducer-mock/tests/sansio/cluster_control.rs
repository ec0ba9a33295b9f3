use kproducer_mock::{ClusterConfig, MockCluster, MockError};

use crate::common::*;

#[test]
fn brokers_and_advertised_addresses() {
    let mut c = cluster(3);
    assert_eq!(c.broker_ids(), [1, 2, 3]);
    assert_eq!(c.advertised(2), Some(("broker-2".to_string(), 9092)));
    c.set_advertised(2, "127.0.0.1", 40_000);
    assert_eq!(c.advertised(2), Some(("127.0.0.1".to_string(), 40_000)));
    assert_eq!(c.advertised(4), None);
    assert!(c.is_up(3) && !c.is_up(4));
}

#[test]
fn topic_creation_rules() {
    let mut c = cluster(2);
    c.create_topic("ok.name_1-x", 5).unwrap();
    assert_eq!(
        (1..5)
            .map(|p| c.leader("ok.name_1-x", p).unwrap())
            .collect::<Vec<_>>(),
        [2, 1, 2, 1]
    );
    assert_eq!(
        c.create_topic("ok.name_1-x", 1),
        Err(MockError::TopicExists("ok.name_1-x".into()))
    );
    assert_eq!(
        c.create_topic("..", 1),
        Err(MockError::InvalidTopic("..".into()))
    );
    assert_eq!(
        c.create_topic(&"x".repeat(250), 1),
        Err(MockError::InvalidTopic("x".repeat(250)))
    );
    assert_eq!(
        c.create_topic("zero", 0),
        Err(MockError::InvalidPartitions(0))
    );
    assert_eq!(c.high_watermark("ok.name_1-x", 4), 0);
    assert_eq!(c.high_watermark("ok.name_1-x", 5), -1);
    assert!(c.batches("nope", 0).is_empty());
    assert!(matches!(
        c.records("nope", 0),
        Err(MockError::UnknownTopic(_))
    ));
    assert!(matches!(
        c.records("ok.name_1-x", 7),
        Err(MockError::UnknownPartition { .. })
    ));
}

#[test]
fn leader_moves_bump_the_epoch() {
    let mut c = cluster(3);
    c.create_topic("t", 1).unwrap();
    assert_eq!(
        (c.leader("t", 0), c.leader_epoch("t", 0)),
        (Some(1), Some(0))
    );
    c.set_leader("t", 0, 3).unwrap();
    assert_eq!(
        (c.leader("t", 0), c.leader_epoch("t", 0)),
        (Some(3), Some(1))
    );
    c.set_leader("t", 0, 3).unwrap();
    assert_eq!(c.leader_epoch("t", 0), Some(1), "no move, no bump");
    assert_eq!(c.set_leader("t", 0, 9), Err(MockError::UnknownBroker(9)));
    c.set_broker_up(2, false);
    assert_eq!(c.set_leader("t", 0, 2), Err(MockError::BrokerDown(2)));
    // The leader goes down: the next broker up after it (3 → 1, 2 being down).
    c.set_broker_up(3, false);
    assert_eq!(
        (c.leader("t", 0), c.leader_epoch("t", 0)),
        (Some(1), Some(2))
    );
}

#[test]
fn the_seed_decides_topic_ids() {
    let ids = |seed| {
        let mut c = MockCluster::new(ClusterConfig {
            seed,
            ..Default::default()
        });
        c.create_topic("a", 1).unwrap();
        c.topic_id("a").unwrap()
    };
    assert_eq!(ids(1), ids(1));
    assert_ne!(ids(1), ids(2));
    assert_ne!(ids(1), [0; 16]);
}
