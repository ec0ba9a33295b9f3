use std::time::Duration;

use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use kproducer_mock::{codes, FaultAction, FaultRule, MockCluster, Outcome, Schedule};

use crate::common::*;

fn setup() -> MockCluster {
    let mut c = cluster(2);
    c.create_topic("t", 2).unwrap();
    c.set_leader("t", 1, 1).unwrap();
    c
}

fn produce_frame(parts: &[(&str, i32)]) -> bytes::Bytes {
    let parts: Vec<(&str, i32, Option<bytes::Bytes>)> = parts
        .iter()
        .map(|&(t, p)| (t, p, Some(batch(&BatchSpec::values(1)))))
        .collect();
    frame(9, 3, &produce_request(-1, &parts))
}

fn produce_codes(c: &mut MockCluster, parts: &[(&str, i32)]) -> Vec<i16> {
    let o = c.handle_request(1, &produce_frame(parts), 0);
    let resp = decode::<kafka_protocol::messages::ProduceRequest>(9, 3, &reply_frame(o));
    resp.responses
        .iter()
        .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
        .collect()
}

#[test]
fn produce_errors_per_partition_for_the_next_n() {
    let mut c = setup();
    let id = c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::NOT_ENOUGH_REPLICAS),
            Schedule::Next(3),
        )
        .api(0)
        .topic("t")
        .partition(1),
    );
    assert_eq!(
        produce_codes(&mut c, &[("t", 0), ("t", 1)]),
        [0, codes::NOT_ENOUGH_REPLICAS]
    );
    assert_eq!(
        produce_codes(&mut c, &[("t", 1), ("t", 1)]),
        [codes::NOT_ENOUGH_REPLICAS; 2]
    );
    assert_eq!(produce_codes(&mut c, &[("t", 1)]), [0]);
    assert_eq!(c.faults().hits(id), 3);
    assert!(c.faults().is_spent(id));
    assert_eq!(
        (c.high_watermark("t", 0), c.high_watermark("t", 1)),
        (1, 1),
        "failed partitions were not appended"
    );
    assert_eq!(c.stats().produce_errors_of(codes::NOT_ENOUGH_REPLICAS), 3);
    assert_eq!(c.stats().faults_fired, 3);
}

#[test]
fn not_enough_replicas_after_append_is_returned_after_appending() {
    let mut c = setup();
    c.add_fault(FaultRule::new(
        FaultAction::Error(codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
        Schedule::Next(1),
    ));
    let o = c.handle_request(1, &produce_frame(&[("t", 0)]), 0);
    let resp = decode::<kafka_protocol::messages::ProduceRequest>(9, 3, &reply_frame(o));
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(
        (p.error_code, p.base_offset),
        (codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND, 0)
    );
    assert_eq!(c.high_watermark("t", 0), 1);
}

#[test]
fn delay_drop_close_and_throttle() {
    let mut c = setup();
    let d = c.add_fault(
        FaultRule::new(
            FaultAction::Delay(Duration::from_millis(250)),
            Schedule::Next(1),
        )
        .api(0),
    );
    match c.handle_request(1, &produce_frame(&[("t", 0)]), 0) {
        Outcome::Reply { delay, .. } => assert_eq!(delay, Duration::from_millis(250)),
        o => panic!("{o:?}"),
    }
    assert!(c.remove_fault(d));
    assert!(!c.remove_fault(d));

    c.add_fault(FaultRule::new(FaultAction::DropResponse, Schedule::Next(1)).api(0));
    assert_eq!(
        c.handle_request(1, &produce_frame(&[("t", 0)]), 0),
        Outcome::Dropped
    );
    assert_eq!(
        c.high_watermark("t", 0),
        2,
        "a dropped answer's request was processed"
    );

    c.add_fault(
        FaultRule::new(
            FaultAction::CloseConnection {
                before_processing: true,
            },
            Schedule::Next(1),
        )
        .api(0),
    );
    assert!(matches!(
        c.handle_request(1, &produce_frame(&[("t", 0)]), 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    assert_eq!(c.high_watermark("t", 0), 2);

    c.add_fault(
        FaultRule::new(
            FaultAction::CloseConnection {
                before_processing: false,
            },
            Schedule::Next(1),
        )
        .api(0),
    );
    assert!(matches!(
        c.handle_request(1, &produce_frame(&[("t", 0)]), 0),
        Outcome::Close {
            processed: true,
            ..
        }
    ));
    assert_eq!(c.high_watermark("t", 0), 3);

    c.add_fault(
        FaultRule::new(
            FaultAction::Throttle(Duration::from_millis(1500)),
            Schedule::Always,
        )
        .api(3),
    );
    let resp = call(&mut c, 1, 9, &MetadataRequest::default().with_topics(None));
    assert_eq!(resp.throttle_time_ms, 1500);
    c.clear_faults();
    assert_eq!(
        call(&mut c, 1, 9, &MetadataRequest::default().with_topics(None)).throttle_time_ms,
        0
    );
    assert_eq!(c.stats().responses_dropped, 1);
}

#[test]
fn errors_on_other_apis() {
    let mut c = setup();
    c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::LEADER_NOT_AVAILABLE),
            Schedule::Next(1),
        )
        .api(3)
        .topic("t"),
    );
    let resp = call(&mut c, 1, 12, &MetadataRequest::default().with_topics(None));
    assert_eq!(resp.topics[0].error_code, codes::LEADER_NOT_AVAILABLE);
    assert!(resp.topics[0].partitions.is_empty());
    assert_eq!(
        call(&mut c, 1, 12, &MetadataRequest::default().with_topics(None)).topics[0].error_code,
        0
    );

    c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
            Schedule::Next(1),
        )
        .api(22),
    );
    let resp = call(&mut c, 1, 4, &init_pid());
    assert_eq!(
        (resp.error_code, resp.producer_id.0),
        (codes::COORDINATOR_NOT_AVAILABLE, -1)
    );
    assert_eq!(call(&mut c, 1, 4, &init_pid()).producer_id.0, 0);

    c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::UNSUPPORTED_VERSION),
            Schedule::Next(1),
        )
        .api(18),
    );
    let resp = call(&mut c, 1, 2, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, codes::UNSUPPORTED_VERSION);
    assert_eq!(resp.api_keys.len(), 1);
}

#[test]
fn the_broker_filter_and_rate_schedules() {
    let mut c = setup();
    c.set_leader("t", 1, 2).unwrap();
    c.add_fault(FaultRule::new(FaultAction::DropResponse, Schedule::Always).broker(2));
    assert!(matches!(
        c.handle_request(1, &produce_frame(&[("t", 0)]), 0),
        Outcome::Reply { .. }
    ));
    let on2 = frame(
        9,
        3,
        &produce_request(-1, &[("t", 1, Some(batch(&BatchSpec::values(1))))]),
    );
    assert_eq!(c.handle_request(2, &on2, 0), Outcome::Dropped);
    c.clear_faults();
    let never = c.add_fault(FaultRule::new(
        FaultAction::DropResponse,
        Schedule::Rate(0.0),
    ));
    let half = c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::NOT_LEADER_OR_FOLLOWER),
            Schedule::Rate(0.5),
        )
        .api(0),
    );
    let mut errors = 0;
    for _ in 0..400 {
        errors += produce_codes(&mut c, &[("t", 0)])
            .iter()
            .filter(|&&e| e != 0)
            .count();
    }
    assert_eq!(c.faults().hits(never), 0);
    assert_eq!(c.faults().hits(half) as usize, errors);
    assert!((150..250).contains(&errors), "{errors} of 400 at rate 0.5");
}

#[test]
fn a_down_broker_closes_and_refuses() {
    let mut c = setup();
    c.set_broker_up(2, false);
    assert!(!c.is_up(2));
    let f = frame(9, 1, &MetadataRequest::default().with_topics(None));
    assert!(matches!(
        c.handle_request(2, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    assert!(matches!(
        c.handle_request(9, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    assert_eq!(c.stats().refused_down, 1);
}
