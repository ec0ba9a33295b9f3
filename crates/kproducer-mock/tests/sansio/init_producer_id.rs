use kafka_protocol::messages::{ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kproducer_mock::{codes, ClusterConfig, MockCluster};

use crate::common::*;

#[test]
fn every_version_allocates_a_fresh_id_with_epoch_zero() {
    let mut c = MockCluster::new(ClusterConfig {
        first_producer_id: 1000,
        ..Default::default()
    });
    let mut ids = Vec::new();
    for v in 0..=5 {
        let resp = call(
            &mut c,
            1,
            v,
            &init_pid().with_transaction_timeout_ms(60_000),
        );
        assert_eq!(resp.error_code, 0, "v{v}");
        assert_eq!(resp.producer_epoch, 0);
        ids.push(resp.producer_id.0);
    }
    assert_eq!(ids, [1000, 1001, 1002, 1003, 1004, 1005]);
}

#[test]
fn an_idempotent_epoch_bump_gets_a_new_id_as_kafka_gives() {
    let mut c = cluster(1);
    let first = call(&mut c, 1, 4, &init_pid()).producer_id.0;
    let bump = init_pid()
        .with_producer_id(ProducerId(first))
        .with_producer_epoch(0);
    let resp = call(&mut c, 1, 4, &bump);
    assert_eq!(resp.error_code, 0);
    assert_ne!(resp.producer_id.0, first);
    assert_eq!(resp.producer_epoch, 0);
}

#[test]
fn inconsistent_or_transactional_requests_are_refused() {
    let mut c = cluster(1);
    let half = init_pid()
        .with_producer_id(ProducerId(5))
        .with_producer_epoch(-1);
    let resp = call(&mut c, 1, 3, &half);
    assert_eq!(resp.error_code, codes::INVALID_REQUEST);
    assert_eq!((resp.producer_id.0, resp.producer_epoch), (-1, -1));
    let empty =
        init_pid().with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(""))));
    assert_eq!(
        call(&mut c, 1, 4, &empty).error_code,
        codes::INVALID_REQUEST
    );
    let txn =
        init_pid().with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))));
    // A transactional id needs a valid transaction timeout (kafka-protocol's default is 0).
    assert_eq!(
        call(&mut c, 1, 4, &txn).error_code,
        codes::INVALID_TRANSACTION_TIMEOUT
    );
    // None of these consumed an id.
    assert_eq!(call(&mut c, 1, 4, &init_pid()).producer_id.0, 0);
}
