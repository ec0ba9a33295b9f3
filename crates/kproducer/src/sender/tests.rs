//! Deterministic sender tests, in the spirit of Java's `SenderTest` with `MockTime`: a virtual
//! clock, scripted responses, no sockets.

use std::time::Instant;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::accumulator::tests::{cluster_with, config, ms, rec, rng};
use crate::accumulator::PartitionChoice;

fn sender_config() -> SenderConfig {
    SenderConfig {
        acks: Acks::All,
        request_timeout: ms(300),
        delivery_timeout: ms(1000),
        retries: i32::MAX,
        retry_backoff: ms(100),
        retry_backoff_max: ms(1000),
        max_in_flight: 5,
        max_request_size: 1 << 20,
        idempotence: false,
    }
}

struct Harness {
    t0: Instant,
    acc: RecordAccumulator,
    meta: Metadata,
    sender: Sender,
}

impl Harness {
    fn new(leaders: &[i32], cfg: SenderConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            t0,
            acc: RecordAccumulator::new(config()),
            meta: cluster_with(leaders, t0),
            sender: Sender::new(cfg),
        }
    }

    fn at(&self, n: u64) -> Instant {
        self.t0 + ms(n)
    }

    fn append(&mut self, p: i32, now: Instant) -> crate::accumulator::Appended {
        self.acc
            .append(
                "t",
                None,
                PartitionChoice::Fixed(p),
                &rec(b"value"),
                &mut None,
                now,
                &mut rng(),
            )
            .expect("append")
    }

    fn poll(&mut self, now: Instant) -> SenderOutput {
        self.sender
            .poll(&mut self.acc, &mut self.meta, &|_| true, now)
    }

    fn respond(&mut self, id: u64, parts: &[(i32, i16, i64)], now: Instant) -> Vec<Completion> {
        let resp = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_responses(
                parts
                    .iter()
                    .map(|(p, code, base)| {
                        PartitionProduceResponse::default()
                            .with_index(*p)
                            .with_error_code(*code)
                            .with_base_offset(*base)
                            .with_log_append_time_ms(-1)
                    })
                    .collect(),
            )]);
        self.sender
            .handle_response(id, &resp, &mut self.acc, &mut self.meta, now)
    }
}

fn partitions_of(req: &OutgoingRequest) -> Vec<i32> {
    let mut v: Vec<i32> = req
        .to_request()
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter().map(|p| p.index))
        .collect();
    v.sort();
    v
}

#[test]
fn one_request_per_broker_with_many_partitions() {
    let mut h = Harness::new(&[1, 2, 3, 1, 2, 3], sender_config());
    for p in 0..6 {
        h.append(p, h.t0);
    }
    let out = h.poll(h.at(4));
    assert!(out.requests.is_empty(), "lingering");
    assert_eq!(out.next_wakeup, Some(h.at(5)));
    let out = h.poll(h.at(5));
    assert_eq!(out.requests.len(), 3, "one request per leader");
    let mut by_node: Vec<(i32, Vec<i32>)> = out
        .requests
        .iter()
        .map(|r| (r.node, partitions_of(r)))
        .collect();
    by_node.sort();
    assert_eq!(
        by_node,
        vec![(1, vec![0, 3]), (2, vec![1, 4]), (3, vec![2, 5])]
    );
    assert!(out
        .requests
        .iter()
        .all(|r| r.expects_response && r.acks == -1 && r.to_request().acks == -1));
    assert_eq!(h.sender.in_flight_requests(), 3);
}

#[test]
fn success_completes_with_offsets() {
    let mut h = Harness::new(&[1], sender_config());
    let a = h.append(0, h.t0);
    let b = h.append(0, h.t0);
    assert_eq!((a.index, b.index), (0, 1));
    let out = h.poll(h.at(5));
    let id = out.requests[0].id;
    let done = h.respond(id, &[(0, 0, 42)], h.at(6));
    assert_eq!(done.len(), 1);
    let ack = done[0].result.clone().expect("acked");
    assert_eq!(ack.base_offset, 42);
    let md = done[0].batch.records[1].metadata(&done[0].batch.tp, 1, Some(&ack));
    assert_eq!(md.offset, 43);
    assert_eq!(md.timestamp, 1_700_000_000_000);
    assert_eq!(h.acc.incomplete_batches(), 0);
    assert_eq!(h.acc.available_memory(), config().buffer_memory);
}

#[test]
fn deferred_close_builds_the_request_outside_the_poll() {
    let mut h = Harness::new(&[1], sender_config());
    let now = h.at(5);
    h.acc.set_defer_close(true);
    h.append(0, h.t0);
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    let req = &out.requests[0];
    let id = req.id;
    assert!(req.deferred, "the batches still need closing");
    assert!(req.parts.is_empty(), "no bytes yet");
    let mut batches = h.sender.take_deferred(id);
    assert_eq!(batches.len(), 1);
    assert!(!batches[0].is_closed());
    assert_eq!(
        h.sender.in_flight_requests(),
        1,
        "still counts as in flight"
    );
    assert_eq!(batches[0].close_deferred(), None, "uncompressed: no ratio");
    assert!(batches[0].is_closed());
    let request = build_request(&batches, Acks::Leader, Duration::from_secs(30));
    assert_eq!(request.topic_data[0].partition_data[0].index, 0);
    let wire = batches[0].wire_bytes();
    let decoded = crate::protocol::record_batch::decode_batches(&wire).expect("valid batch");
    assert_eq!(decoded[0].records.len(), 2);
    h.sender.restore_deferred(id, batches, &mut h.acc, now);
    let done = h.respond(id, &[(0, 0, 7)], h.at(6));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result.clone().expect("acked").base_offset, 7);
    assert_eq!(h.acc.available_memory(), config().buffer_memory);
}

#[test]
fn deferred_compressed_batches_report_their_ratio_when_restored() {
    let mut h = Harness::new(&[1], sender_config());
    let mut cfg = config();
    cfg.compression =
        crate::compression::Compression::new(crate::CompressionType::Lz4, 9).expect("lz4");
    h.acc = RecordAccumulator::new(cfg);
    h.acc.set_defer_close(true);
    for _ in 0..20 {
        h.append(0, h.t0);
    }
    let out = h.poll(h.at(5));
    let id = out.requests[0].id;
    let mut batches = h.sender.take_deferred(id);
    assert!((h.acc.compression_ratio("t") - 1.0).abs() < f32::EPSILON);
    for b in &mut batches {
        b.run_deferred_close();
    }
    h.sender.restore_deferred(id, batches, &mut h.acc, h.t0);
    assert!(
        h.acc.compression_ratio("t") < 1.0,
        "the observed ratio reached the estimator"
    );
}

#[test]
fn in_flight_limit_holds_back_a_broker() {
    let mut cfg = sender_config();
    cfg.max_in_flight = 1;
    let mut h = Harness::new(&[1, 1], cfg);
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert_eq!(out.requests.len(), 1);
    let first = out.requests[0].id;
    h.append(1, h.at(6));
    let out = h.poll(h.at(20));
    assert!(
        out.requests.is_empty(),
        "broker 1 already has 1 request in flight"
    );
    h.respond(first, &[(0, 0, 0)], h.at(21));
    let out = h.poll(h.at(21));
    assert_eq!(out.requests.len(), 1);
    assert_eq!(partitions_of(&out.requests[0]), vec![1]);
}

#[test]
fn a_compressed_batch_of_batch_size_records_waits_for_the_answer_not_for_linger() {
    let mut h = Harness::new(&[1], sender_config());
    let mut cfg = config();
    cfg.compression =
        crate::compression::Compression::new(crate::CompressionType::Lz4, 9).expect("lz4");
    h.acc = RecordAccumulator::new(cfg);
    let topic: std::sync::Arc<str> = std::sync::Arc::from("t");
    for _ in 0..200 {
        h.acc.observe_compression(&topic, 0.05);
    }
    // Idle link: 1 KiB of records (batch.size) goes at once.
    let value = [b'x'; 100];
    let append = |h: &mut Harness, now: Instant| {
        h.acc
            .append(
                "t",
                None,
                PartitionChoice::Fixed(0),
                &rec(&value),
                &mut None,
                now,
                &mut rng(),
            )
            .expect("append")
    };
    let t = h.t0;
    for _ in 0..11 {
        append(&mut h, t);
    }
    let out = h.poll(h.at(1));
    assert_eq!(out.requests.len(), 1, "idle: sent before linger.ms");
    let first = out.requests[0].id;
    // With that request in flight, the next batch keeps filling past batch.size of records.
    let t = h.at(1);
    for _ in 0..11 {
        append(&mut h, t);
    }
    let out = h.poll(h.at(2));
    assert!(out.requests.is_empty(), "busy: keep filling");
    let t = h.at(2);
    for _ in 0..11 {
        append(&mut h, t);
    }
    assert_eq!(h.acc.queued_batches(), 1, "still one batch, 22 records");
    // The answer frees the link: the batch goes now, at 3 ms, not at linger (6 ms).
    h.respond(first, &[(0, 0, 0)], h.at(3));
    let out = h.poll(h.at(3));
    assert_eq!(out.requests.len(), 1);
    let batches = h
        .sender
        .in_flight
        .values()
        .map(|f| f.batches.len())
        .sum::<usize>();
    assert_eq!(batches, 1);
    let records: usize = h
        .sender
        .in_flight
        .values()
        .flat_map(|f| f.batches.iter())
        .map(|b| b.record_count())
        .sum();
    assert_eq!(records, 22);
}

#[test]
fn retriable_error_retries_after_backoff_and_refreshes_metadata() {
    let mut h = Harness::new(&[1], sender_config());
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    assert!(!h.meta.update_due(h.at(6)));
    let done = h.respond(id, &[(0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)], h.at(6));
    assert!(done.is_empty(), "retried, not failed");
    assert!(
        h.meta.update_due(h.at(200)),
        "leader error asks for metadata"
    );
    let out = h.poll(h.at(10));
    assert!(out.requests.is_empty(), "backing off");
    let wake = out.next_wakeup.expect("wakes for the retry");
    assert!(
        wake >= h.at(6 + 80) && wake <= h.at(6 + 120),
        "100 ms ± 20 %"
    );
    let out = h.poll(wake);
    assert_eq!(out.requests.len(), 1);
    let done = h.respond(out.requests[0].id, &[(0, 0, 7)], wake);
    assert_eq!(done[0].batch.attempts, 2);
    assert_eq!(done[0].result.clone().expect("ok").base_offset, 7);
}

#[test]
fn fatal_error_fails_the_batch() {
    let mut h = Harness::new(&[1], sender_config());
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    let done = h.respond(id, &[(0, ErrorCode::MESSAGE_TOO_LARGE.0, -1)], h.at(6));
    assert_eq!(done.len(), 1);
    match &done[0].result {
        Err(ProduceError::Broker { code, .. }) => assert_eq!(*code, ErrorCode::MESSAGE_TOO_LARGE),
        other => panic!("expected a broker error, got {other:?}"),
    }
    assert_eq!(h.acc.incomplete_batches(), 0);
}

#[test]
fn retries_zero_fails_at_once() {
    let mut cfg = sender_config();
    cfg.retries = 0;
    let mut h = Harness::new(&[1], cfg);
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    let done = h.respond(id, &[(0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)], h.at(6));
    assert_eq!(done.len(), 1);
    assert!(done[0].result.as_ref().is_err_and(|e| e.is_retriable()));
}

#[test]
fn request_timeout_drops_the_connection_and_retries() {
    let mut h = Harness::new(&[1], sender_config());
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert_eq!(
        out.next_wakeup,
        Some(h.at(305)),
        "wakes at request.timeout.ms"
    );
    let out = h.poll(h.at(305));
    assert_eq!(out.disconnect, vec![1]);
    assert!(out.completions.is_empty(), "the batch is retried");
    assert_eq!(h.sender.in_flight_requests(), 0);
    assert_eq!(h.acc.queued_batches(), 1);
}

#[test]
fn delivery_timeout_bounds_retries() {
    let mut h = Harness::new(&[1], sender_config());
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    // An error after delivery.timeout.ms fails the batch instead of retrying it.
    let done = h.respond(
        id,
        &[(0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)],
        h.at(1000),
    );
    assert_eq!(done.len(), 1);
    // A queued batch expires with a timeout error.
    h.append(0, h.at(1000));
    let out = h.poll(h.at(2000));
    assert_eq!(out.completions.len(), 1);
    assert!(matches!(
        out.completions[0].result,
        Err(ProduceError::DeliveryTimeout { records: 1, .. })
    ));
}

#[test]
fn disconnect_retries_every_request_in_flight_in_order() {
    let mut h = Harness::new(&[1], sender_config());
    h.append(0, h.t0);
    let first = h.poll(h.at(5)).requests[0].id;
    h.append(0, h.at(6));
    let second = h.poll(h.at(11)).requests[0].id;
    assert!(second > first);
    let now = h.at(12);
    let done = h
        .sender
        .handle_disconnect(1, "connection reset", &mut h.acc, &mut h.meta, now);
    assert!(done.is_empty());
    assert_eq!(h.sender.in_flight_requests(), 0);
    // Both come back in their original order once the backoff ends.
    let out = h.poll(h.at(200));
    assert_eq!(out.requests.len(), 1, "one batch per partition per request");
    let done = h.respond(out.requests[0].id, &[(0, 0, 0)], h.at(201));
    assert_eq!(done[0].batch.records.len(), 1);
    let out = h.poll(h.at(202));
    let done = h.respond(out.requests[0].id, &[(0, 0, 1)], h.at(203));
    assert_eq!(done.len(), 1);
    // A late answer to a failed request is ignored.
    assert!(h.respond(first, &[(0, 0, 9)], h.at(204)).is_empty());
}

#[test]
fn acks_zero_completes_on_send_with_unknown_offset() {
    let mut cfg = sender_config();
    cfg.acks = Acks::None;
    let mut h = Harness::new(&[1], cfg);
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert_eq!(out.requests.len(), 1);
    assert!(!out.requests[0].expects_response);
    assert_eq!(out.requests[0].acks, 0);
    assert_eq!(out.completions.len(), 1);
    assert_eq!(
        out.completions[0].result.clone().expect("ok").base_offset,
        -1
    );
    assert_eq!(h.sender.in_flight_requests(), 0);
}

#[test]
fn unconnected_leader_is_reported_for_connecting() {
    let mut h = Harness::new(&[1, 2], sender_config());
    h.append(0, h.t0);
    h.append(1, h.t0);
    let now = h.at(5);
    let out = h.sender.poll(&mut h.acc, &mut h.meta, &|n| n == 1, now);
    assert_eq!(out.requests.len(), 1);
    assert_eq!(out.requests[0].node, 1);
    assert_eq!(out.connect, vec![2]);
}

// ---- idempotence ----------------------------------------------------------------------------

use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};

fn idempotent() -> Harness {
    let mut cfg = sender_config();
    cfg.idempotence = true;
    Harness::new(&[1, 1], cfg)
}

fn init_response(id: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

/// (producer id, epoch, base sequence) written in a request's batch for `partition`.
fn stamped(req: &OutgoingRequest, partition: i32) -> (i64, i16, i32) {
    let request = req.to_request();
    let data = request
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .find(|p| p.index == partition)
        .expect("partition in request");
    let bytes = data.records.clone().expect("records");
    let b = &crate::protocol::record_batch::decode_batches(&bytes).expect("valid batch")[0];
    (b.producer_id, b.producer_epoch, b.base_sequence)
}

#[test]
fn idempotent_producer_gets_an_id_before_sending_and_numbers_batches() {
    let mut h = idempotent();
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert!(out.requests.is_empty(), "nothing before a producer id");
    let init = out.init_producer_id.expect("asks for an id");
    assert_eq!((init.producer_id.0, init.producer_epoch), (-1, -1));
    assert!(
        h.poll(h.at(6)).init_producer_id.is_none(),
        "one request at a time"
    );
    h.sender
        .handle_init_producer_id(Some(&init_response(1000, 0)), h.at(7));
    let out = h.poll(h.at(7));
    assert_eq!(stamped(&out.requests[0], 0), (1000, 0, 0));
    h.respond(out.requests[0].id, &[(0, 0, 0)], h.at(8));
    // Two records next: sequence continues at 1; the other partition starts at 0.
    h.append(0, h.at(10));
    h.append(0, h.at(10));
    h.append(1, h.at(10));
    let out = h.poll(h.at(15));
    assert_eq!(stamped(&out.requests[0], 0), (1000, 0, 1));
    assert_eq!(stamped(&out.requests[0], 1), (1000, 0, 0));
}

#[test]
fn retried_batches_go_out_in_sequence_order_one_at_a_time() {
    let mut h = idempotent();
    h.poll(h.t0);
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    h.append(0, h.t0);
    let first = h.poll(h.at(5)).requests[0].id;
    h.append(0, h.at(6));
    let second = h.poll(h.at(11)).requests[0].id;
    // The first fails with a retriable error; the broker then rejects the second as out of order.
    assert!(h
        .respond(
            first,
            &[(0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)],
            h.at(12)
        )
        .is_empty());
    assert!(
        h.respond(
            second,
            &[(0, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0, -1)],
            h.at(13)
        )
        .is_empty(),
        "not the next expected sequence: retried, no epoch bump"
    );
    assert!(h.poll(h.at(14)).init_producer_id.is_none());
    let out = h.poll(h.at(300));
    assert_eq!(out.requests.len(), 1);
    assert_eq!(
        stamped(&out.requests[0], 0),
        (7, 0, 0),
        "sequence 0 first, same sequence"
    );
    // Sequence 1 waits until 0 is acknowledged.
    assert!(h.poll(h.at(301)).requests.is_empty());
    h.respond(out.requests[0].id, &[(0, 0, 100)], h.at(302));
    let out = h.poll(h.at(303));
    assert_eq!(stamped(&out.requests[0], 0), (7, 0, 1));
    let done = h.respond(out.requests[0].id, &[(0, 0, 101)], h.at(304));
    assert_eq!(done[0].result.clone().expect("ok").base_offset, 101);
}

#[test]
fn duplicate_sequence_means_already_written() {
    let mut h = idempotent();
    h.poll(h.t0);
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    let done = h.respond(
        id,
        &[(0, ErrorCode::DUPLICATE_SEQUENCE_NUMBER.0, -1)],
        h.at(6),
    );
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result.clone().expect("success").base_offset, -1);
    // The next batch continues the sequence.
    h.append(0, h.at(7));
    let out = h.poll(h.at(12));
    assert_eq!(stamped(&out.requests[0], 0), (7, 0, 1));
}

#[test]
fn unknown_producer_id_bumps_the_epoch_and_restarts_sequences() {
    let mut h = idempotent();
    h.poll(h.t0);
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 3)), h.t0);
    h.append(0, h.t0);
    let a = h.poll(h.at(5)).requests[0].id;
    h.respond(a, &[(0, 0, 0)], h.at(6));
    h.append(0, h.at(7));
    let b = h.poll(h.at(12)).requests[0].id;
    assert!(h
        .respond(b, &[(0, ErrorCode::UNKNOWN_PRODUCER_ID.0, -1)], h.at(13))
        .is_empty());
    let out = h.poll(h.at(14));
    let init = out.init_producer_id.expect("epoch bump");
    assert_eq!(
        (init.producer_id.0, init.producer_epoch),
        (7, 3),
        "bump with the current id"
    );
    assert!(out.requests.is_empty());
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 4)), h.at(15));
    let out = h.poll(h.at(300));
    assert_eq!(
        stamped(&out.requests[0], 0),
        (7, 4, 0),
        "re-stamped: new epoch, sequence 0"
    );
    assert_eq!(h.sender.idempotence().expect("on").epoch_bumps(), 1);
}

#[test]
fn an_in_flight_batch_expires_at_delivery_timeout_and_forces_a_bump() {
    let mut h = idempotent();
    h.poll(h.t0);
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert_eq!(out.requests.len(), 1);
    // No answer; request.timeout.ms (300) drops the connection and retries, until the
    // delivery timeout (1000) fails the batch wherever it is.
    let mut failed = None;
    let mut t = 5;
    while failed.is_none() && t < 1500 {
        t += 50;
        let out = h.poll(h.at(t));
        failed = out.completions.into_iter().next();
    }
    let failed = failed.expect("resolved");
    assert!(t <= 1050, "resolved by delivery.timeout.ms: {t}");
    assert!(matches!(
        failed.result,
        Err(ProduceError::DeliveryTimeout { .. })
    ));
    // Its sequence is unresolved: the epoch is bumped before anything else goes out.
    h.append(0, h.at(t));
    let mut init = None;
    for dt in 0..10 {
        let out = h.poll(h.at(t + 400 + dt * 100));
        if out.init_producer_id.is_some() {
            init = out.init_producer_id;
            break;
        }
        assert!(out.requests.is_empty(), "held back until the bump");
    }
    assert!(init.is_some(), "epoch bump requested");
}

#[test]
fn init_producer_id_failures_back_off() {
    let mut h = idempotent();
    assert!(h.poll(h.t0).init_producer_id.is_some());
    h.sender.handle_init_producer_id(None, h.at(1));
    assert!(h.poll(h.at(50)).init_producer_id.is_none(), "backing off");
    assert!(h.poll(h.at(101)).init_producer_id.is_some());
}

#[test]
fn message_too_large_splits_the_batch_keeping_sequences_and_futures() {
    let mut h = idempotent();
    h.poll(h.t0);
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    let a = h.append(0, h.t0);
    for _ in 0..3 {
        h.append(0, h.t0);
    }
    let out = h.poll(h.at(5));
    assert_eq!(stamped(&out.requests[0], 0), (7, 0, 0));
    let first_result = a.result.clone();
    let done = h.respond(
        out.requests[0].id,
        &[(0, ErrorCode::MESSAGE_TOO_LARGE.0, -1)],
        h.at(6),
    );
    assert!(done.is_empty(), "split and resent, not failed");
    assert_eq!(h.sender.stats().splits, 1);
    assert!(
        first_result.is_done(),
        "the old batch's futures were forwarded"
    );
    // Halves: sequences 0 (2 records) and 2 (2 records), sent one after the other.
    let out = h.poll(h.at(7));
    assert_eq!(stamped(&out.requests[0], 0), (7, 0, 0));
    let done = h.respond(out.requests[0].id, &[(0, 0, 10)], h.at(8));
    assert_eq!(done[0].batch.record_count(), 2);
    let out = h.poll(h.at(9));
    assert_eq!(stamped(&out.requests[0], 0), (7, 0, 2));
    let done = h.respond(out.requests[0].id, &[(0, 0, 12)], h.at(10));
    assert_eq!(done[0].batch.record_count(), 2);
    assert_eq!(h.acc.incomplete_batches(), 0);
    assert_eq!(h.acc.available_memory(), config().buffer_memory);
    // The next batch continues after the split range.
    h.append(0, h.at(11));
    let out = h.poll(h.at(20));
    assert_eq!(stamped(&out.requests[0], 0), (7, 0, 4));
}

/// The future `send` would hand out for an appended record.
fn future_of(a: crate::accumulator::Appended) -> crate::producer::DeliveryFuture {
    let info = crate::accumulator::RecordInfo {
        timestamp: 1,
        key_size: -1,
        value_size: 5,
    };
    crate::producer::DeliveryFuture::new(a.result, a.index, info)
}

#[test]
fn a_split_records_future_resolves_with_its_new_offset() {
    let mut h = idempotent();
    h.poll(h.t0);
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    let mut futures = Vec::new();
    for _ in 0..4 {
        let a = h.append(0, h.t0);
        futures.push(future_of(a));
    }
    let out = h.poll(h.at(5));
    h.respond(
        out.requests[0].id,
        &[(0, ErrorCode::MESSAGE_TOO_LARGE.0, -1)],
        h.at(6),
    );
    // Run the completions, as the driver does.
    let out = h.poll(h.at(7));
    for c in h.respond(out.requests[0].id, &[(0, 0, 100)], h.at(8)) {
        c.batch.complete(c.result, None);
    }
    assert!(
        futures[3].try_result().is_none(),
        "the second half is still pending"
    );
    let out = h.poll(h.at(9));
    for c in h.respond(out.requests[0].id, &[(0, 0, 102)], h.at(10)) {
        c.batch.complete(c.result, None);
    }
    let offsets: Vec<i64> = futures
        .iter()
        .map(|f| f.try_result().expect("resolved").expect("ok").offset)
        .collect();
    assert_eq!(offsets, vec![100, 101, 102, 103]);
}

#[test]
fn new_leader_hint_redirects_the_retry_at_once() {
    use kafka_protocol::messages::produce_response::{LeaderIdAndEpoch, NodeEndpoint};
    use kafka_protocol::messages::BrokerId;
    let mut h = Harness::new(&[1], sender_config());
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert_eq!(out.requests[0].node, 1);
    let resp = ProduceResponse::default()
        .with_responses(vec![TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_responses(vec![PartitionProduceResponse::default()
                .with_index(0)
                .with_error_code(ErrorCode::NOT_LEADER_OR_FOLLOWER.0)
                .with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(4))
                        .with_leader_epoch(5),
                )])])
        .with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(4))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(9004)]);
    let (id, now) = (out.requests[0].id, h.at(6));
    assert!(h
        .sender
        .handle_response(id, &resp, &mut h.acc, &mut h.meta, now)
        .is_empty());
    assert_eq!(h.meta.cluster().leader_for("t", 0), Some(4), "hint applied");
    assert_eq!(
        h.meta
            .cluster()
            .brokers
            .get(&4)
            .map(|b| b.addr())
            .as_deref(),
        Some("127.0.0.1:9004")
    );
    let out = h.poll(h.at(300));
    assert_eq!(out.requests[0].node, 4, "the retry goes to the new leader");
    // A stale hint (older epoch) is ignored.
    assert!(!h.meta.apply_leader_hint("t", 0, 1, 2, None));
}

#[test]
fn a_batch_dropped_without_completing_still_resolves_its_futures() {
    let mut h = Harness::new(&[1], sender_config());
    let a = h.append(0, h.t0);
    let future = future_of(a);
    let out = h.poll(h.at(5));
    assert!(future.try_result().is_none(), "in flight: pending");
    // A bug that lost the batch (here: the sender dropped with it in flight).
    drop(out);
    drop(h);
    assert!(matches!(
        future.try_result(),
        Some(Err(crate::ProduceError::Closed))
    ));
}

#[test]
fn acks_read_from_the_frame_complete_batches_and_a_missing_partition_is_retried() {
    let mut h = Harness::new(&[1, 1, 2], sender_config());
    h.append(0, h.t0);
    h.append(1, h.t0);
    let out = h.poll(h.at(5));
    let req = out
        .requests
        .iter()
        .find(|r| r.node == 1)
        .expect("a request to broker 1");
    assert_eq!(partitions_of(req), vec![0, 1]);
    // The parts are the batches' own bytes, and kafka-protocol's form carries the same.
    assert!(req
        .parts
        .iter()
        .all(|p| &*p.topic == "t" && !p.records.is_empty()));
    let id = req.id;
    let ack = |topic: &str, p: i32| {
        (topic == "t" && p == 0).then_some(BatchAck {
            base_offset: 41,
            log_append_time: -1,
        })
    };
    let mut done = Vec::new();
    let (t6, t7) = (h.at(6), h.at(7));
    h.sender
        .handle_acks_into(id, &ack, &mut h.acc, t6, &mut done);
    assert_eq!(
        done.len(),
        1,
        "partition 1 had no answer: retried, not completed"
    );
    assert_eq!(done[0].batch.tp.partition, 0);
    assert_eq!(done[0].result.clone().expect("acked").base_offset, 41);
    assert_eq!(h.sender.in_flight_requests(), 0, "the request is answered");
    assert_eq!(
        h.acc.queued_batches(),
        1,
        "partition 1's batch is queued again"
    );
    // A second answer for the same request is ignored.
    h.sender
        .handle_acks_into(id, &ack, &mut h.acc, t7, &mut done);
    assert_eq!(done.len(), 1);
}

#[test]
fn a_polls_vectors_are_reused_from_round_to_round() {
    let mut h = Harness::new(&[1, 2, 3], sender_config());
    let mut out = SenderOutput::default();
    let mut completions_seen = 0;
    let mut caps = None;
    for round in 0..4u64 {
        let now = h.at(10 * round);
        h.append(0, now);
        h.append(1, now);
        let at = h.at(10 * round + 5);
        h.sender
            .poll_into(&mut h.acc, &mut h.meta, &|_| true, at, &mut out);
        assert_eq!(out.requests.len(), 2, "round {round}");
        let ids: Vec<u64> = out.requests.iter().map(|r| r.id).collect();
        // The driver hands written requests' parts back for the next round.
        for r in out.requests.drain(..) {
            let mut parts = r.parts;
            parts.clear();
            out.spare_parts.push(parts);
        }
        for id in ids {
            let done = h.respond(id, &[(0, 0, 1), (1, 0, 1)], h.at(10 * round + 6));
            completions_seen += done.len();
        }
        let now_caps = (out.requests.capacity(), out.spare_parts.len());
        if round > 0 {
            assert_eq!(
                Some(now_caps),
                caps,
                "no vector grows after the first round"
            );
        }
        caps = Some(now_caps);
    }
    assert_eq!(completions_seen, 8);
}
