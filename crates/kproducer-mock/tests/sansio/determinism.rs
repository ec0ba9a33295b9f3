//! Same seed and same inputs give the same outputs, byte for byte.

use std::time::Duration;

use kproducer_mock::{
    codes, ClusterConfig, FaultAction, FaultRule, MockCluster, Outcome, Schedule,
};

use crate::common::*;

fn run(seed: u64) -> (Vec<Outcome>, Vec<[u8; 16]>) {
    let mut c = MockCluster::new(ClusterConfig {
        brokers: 3,
        seed,
        ..Default::default()
    });
    c.create_topic("a", 3).unwrap();
    c.create_topic("b", 2).unwrap();
    c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::NOT_LEADER_OR_FOLLOWER),
            Schedule::Rate(0.2),
        )
        .api(0),
    );
    c.add_fault(FaultRule::new(
        FaultAction::Delay(Duration::from_millis(40)),
        Schedule::Rate(0.3),
    ));
    c.add_fault(FaultRule::new(FaultAction::DropResponse, Schedule::Rate(0.05)).api(0));
    c.add_fault(FaultRule::new(
        FaultAction::CloseConnection {
            before_processing: true,
        },
        Schedule::Rate(0.05),
    ));
    let mut outcomes = Vec::new();
    let mut seq = [0i32; 3];
    for i in 0..300i64 {
        let p = (i % 3) as i32;
        let leader = c.leader("a", p).unwrap();
        let f = frame(
            9,
            i as i32,
            &produce_request(
                -1,
                &[(
                    "a",
                    p,
                    Some(batch(&BatchSpec::idempotent(1, 0, seq[p as usize], 2))),
                )],
            ),
        );
        let o = c.handle_request(leader, &f, 1_000 + i);
        if let Outcome::Reply { frame, .. } = &o {
            let r = decode::<kafka_protocol::messages::ProduceRequest>(9, i as i32, frame);
            if r.responses[0].partition_responses[0].error_code == 0 {
                seq[p as usize] += 2;
            }
        }
        outcomes.push(o);
        if i % 50 == 49 {
            c.set_leader("a", p, 1 + (i / 50) as i32 % 3).ok();
        }
    }
    (
        outcomes,
        vec![c.topic_id("a").unwrap(), c.topic_id("b").unwrap()],
    )
}

#[test]
fn the_same_seed_gives_the_same_outcomes_and_ids() {
    let (a, ids_a) = run(7);
    let (b, ids_b) = run(7);
    assert_eq!(a, b);
    assert_eq!(ids_a, ids_b);
    // The run did exercise the faults.
    assert!(a.iter().any(|o| matches!(o, Outcome::Dropped)));
    assert!(a.iter().any(|o| matches!(o, Outcome::Close { .. })));
    assert!(a
        .iter()
        .any(|o| matches!(o, Outcome::Reply { delay, .. } if !delay.is_zero())));
}

#[test]
fn another_seed_gives_other_outcomes_and_ids() {
    let (a, ids_a) = run(7);
    let (b, ids_b) = run(8);
    assert_ne!(a, b);
    assert_ne!(ids_a, ids_b);
}
