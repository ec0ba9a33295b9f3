//! Kafka 4.x's idempotence rules (ProducerStateManager / ProducerAppendInfo), request by request.

use kproducer_mock::{codes, MockCluster};

use crate::common::*;

fn setup() -> MockCluster {
    let mut c = cluster(2);
    c.create_topic("t", 1).unwrap();
    c
}

fn send(c: &mut MockCluster, pid: i64, epoch: i16, seq: i32, n: usize) -> (i16, i64) {
    let a = produce_one(
        c,
        1,
        9,
        "t",
        0,
        batch(&BatchSpec::idempotent(pid, epoch, seq, n)),
    );
    (a.error_code, a.base_offset)
}

#[test]
fn a_duplicate_of_one_of_the_last_five_gets_its_original_offset() {
    let mut c = setup();
    let mut offsets = Vec::new();
    for i in 0..6 {
        let (e, o) = send(&mut c, 1, 0, i * 2, 2);
        assert_eq!(e, 0);
        offsets.push(o);
    }
    assert_eq!(offsets, [0, 2, 4, 6, 8, 10]);
    // Batches 1..=5 are the last five; each retry is acknowledged without error, original offset.
    for (i, &o) in offsets.iter().enumerate().skip(1) {
        assert_eq!(
            send(&mut c, 1, 0, i as i32 * 2, 2),
            (0, o),
            "retry of batch {i}"
        );
    }
    assert_eq!(c.high_watermark("t", 0), 12, "no second copy");
    assert_eq!(c.batches("t", 0).len(), 6);
    assert_eq!(c.stats().duplicates, 5);
    assert_eq!(c.stats().batches_appended, 6);
    // The first batch is no longer remembered: out of order, as Kafka answers.
    assert_eq!(
        send(&mut c, 1, 0, 0, 2).0,
        codes::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // And the sequence goes on.
    assert_eq!(send(&mut c, 1, 0, 12, 1), (0, 12));
}

#[test]
fn a_duplicate_answer_carries_the_original_timestamp_as_log_append_time() {
    let mut c = setup();
    let b = batch(&BatchSpec {
        timestamp: 5_000,
        ..BatchSpec::idempotent(1, 0, 0, 3)
    });
    assert_eq!(
        produce_one(&mut c, 1, 9, "t", 0, b.clone()).log_append_time_ms,
        -1
    );
    let dup = produce_one(&mut c, 1, 9, "t", 0, b);
    assert_eq!(
        (dup.error_code, dup.base_offset, dup.log_append_time_ms),
        (0, 0, 5_002)
    );
}

#[test]
fn same_first_sequence_different_last_is_not_a_duplicate() {
    let mut c = setup();
    send(&mut c, 1, 0, 0, 3);
    assert_eq!(
        send(&mut c, 1, 0, 0, 2).0,
        codes::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
}

#[test]
fn a_gap_is_out_of_order() {
    let mut c = setup();
    assert_eq!(send(&mut c, 1, 0, 0, 3), (0, 0));
    let a = produce_one(
        &mut c,
        1,
        9,
        "t",
        0,
        batch(&BatchSpec::idempotent(1, 0, 4, 1)),
    );
    assert_eq!(a.error_code, codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!((a.base_offset, a.log_start_offset), (-1, 0));
    assert_eq!(c.high_watermark("t", 0), 3);
    assert_eq!(c.producer_state("t", 0, 1).unwrap().last_seq(), 2);
}

#[test]
fn an_older_epoch_is_fenced() {
    let mut c = setup();
    send(&mut c, 1, 3, 0, 1);
    assert_eq!(send(&mut c, 1, 2, 1, 1).0, codes::INVALID_PRODUCER_EPOCH);
    // Even as an exact retry under the old epoch.
    assert_eq!(send(&mut c, 1, 2, 0, 1).0, codes::INVALID_PRODUCER_EPOCH);
    assert_eq!(c.high_watermark("t", 0), 1);
}

#[test]
fn a_new_epoch_must_start_at_zero() {
    let mut c = setup();
    send(&mut c, 1, 0, 0, 5);
    assert_eq!(
        send(&mut c, 1, 1, 5, 1).0,
        codes::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(send(&mut c, 1, 1, 0, 2), (0, 5));
    let s = c.producer_state("t", 0, 1).unwrap();
    assert_eq!((s.producer_epoch, s.last_seq(), s.batches.len()), (1, 1, 1));
    // The old epoch's batches are forgotten: a retry of them is fenced, not a duplicate.
    assert_eq!(send(&mut c, 1, 0, 0, 5).0, codes::INVALID_PRODUCER_EPOCH);
}

#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    let mut c = setup();
    assert_eq!(send(&mut c, 7, 4, 1234, 2), (0, 0));
    assert_eq!(send(&mut c, 7, 4, 1236, 1), (0, 2));
    // Producers are independent.
    assert_eq!(send(&mut c, 8, 0, 0, 1), (0, 3));
    // Once expired (producer.id.expiration.ms), anything goes again.
    c.expire_producer(7);
    assert_eq!(send(&mut c, 7, 4, 99, 1), (0, 4));
}

#[test]
fn sequences_wrap_at_i32_max() {
    let mut c = setup();
    assert_eq!(send(&mut c, 1, 0, i32::MAX - 1, 4).0, 0); // MAX-1, MAX, 0, 1
    assert_eq!(c.producer_state("t", 0, 1).unwrap().last_seq(), 1);
    assert_eq!(send(&mut c, 1, 0, 2, 1), (0, 4));
    // The wrapped batch is still recognised as a duplicate.
    assert_eq!(send(&mut c, 1, 0, i32::MAX - 1, 4), (0, 0));
    let recs = c.records("t", 0).unwrap();
    assert_eq!(
        recs.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        [i32::MAX - 1, i32::MAX, 0, 1, 2]
    );
    // Ending exactly at MAX, the next batch starts at 0.
    let mut d = setup();
    send(&mut d, 1, 0, i32::MAX - 2, 3);
    assert_eq!(send(&mut d, 1, 0, 0, 1).0, 0);
}

#[test]
fn producer_state_survives_a_leader_move() {
    let mut c = setup();
    send(&mut c, 1, 0, 0, 2);
    c.set_leader("t", 0, 2).unwrap();
    // The new leader recognises the retry (the log and its producer state are replicated).
    let a = produce_one(
        &mut c,
        2,
        9,
        "t",
        0,
        batch(&BatchSpec::idempotent(1, 0, 0, 2)),
    );
    assert_eq!((a.error_code, a.base_offset), (0, 0));
    let a = produce_one(
        &mut c,
        2,
        9,
        "t",
        0,
        batch(&BatchSpec::idempotent(1, 0, 3, 1)),
    );
    assert_eq!(a.error_code, codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
}

#[test]
fn a_corrupt_retry_is_refused_before_the_duplicate_check() {
    let mut c = setup();
    let b = batch(&BatchSpec::idempotent(1, 0, 0, 2));
    send(&mut c, 1, 0, 0, 2);
    let mut bad = bytes::BytesMut::from(&b[..]);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        produce_one(&mut c, 1, 9, "t", 0, bad.freeze()).error_code,
        codes::CORRUPT_MESSAGE
    );
}
