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

    /// A poll, with the drained batches closed as the core closes them (outside the lock).
    fn poll(&mut self, now: Instant) -> SenderOutput {
        self.poll_connected(&|_| true, now)
    }

    fn poll_connected(&mut self, is_ready: &dyn Fn(i32) -> bool, now: Instant) -> SenderOutput {
        let mut out = SenderOutput::default();
        self.sender
            .poll_into(&mut self.acc, &mut self.meta, is_ready, now, &mut out);
        for r in &out.requests {
            for b in self.sender.request_batches_mut(r.id) {
                b.run_deferred_close();
            }
        }
        out
    }

    /// Partitions in request `req`, sorted.
    fn partitions_of(&mut self, req: &OutgoingRequest) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .sender
            .request_batches_mut(req.id)
            .iter()
            .map(|b| b.tp.partition)
            .collect();
        v.sort();
        v
    }

    /// (producer id, epoch, base sequence) written in a request's batch for `partition`.
    fn stamped(&mut self, req: &OutgoingRequest, partition: i32) -> (i64, i16, i32) {
        let wire = self
            .sender
            .request_batches_mut(req.id)
            .iter()
            .find(|b| b.tp.partition == partition)
            .expect("partition in request")
            .wire_bytes();
        let b = &crate::protocol::record_batch::decode_batches(&wire).expect("valid batch")[0];
        (b.producer_id, b.producer_epoch, b.base_sequence)
    }

    /// Acknowledges every batch of request `id`.
    fn respond_all(&mut self, id: u64, now: Instant) -> Vec<Completion> {
        let mut out = Vec::new();
        let mut ack = |_: usize, _: &crate::accumulator::TopicPartition| {
            Some(BatchAck {
                base_offset: 0,
                log_append_time: -1,
            })
        };
        self.sender
            .handle_acks_into(id, &mut ack, &mut self.acc, now, &mut out);
        out
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
        .map(|r| (r.node, h.partitions_of(r)))
        .collect();
    by_node.sort();
    assert_eq!(
        by_node,
        vec![(1, vec![0, 3]), (2, vec![1, 4]), (3, vec![2, 5])]
    );
    assert!(out.requests.iter().all(|r| h.sender.expects_response(r.id)));
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
fn drained_batches_are_stamped_and_left_for_the_caller_to_close() {
    let mut h = Harness::new(&[1], sender_config());
    h.acc.set_defer_close(true);
    h.append(0, h.t0);
    h.append(0, h.t0);
    let mut out = SenderOutput::default();
    let now = h.at(5);
    h.sender
        .poll_into(&mut h.acc, &mut h.meta, &|_| true, now, &mut out);
    let id = out.requests[0].id;
    let batches = h.sender.request_batches_mut(id);
    assert_eq!(batches.len(), 1);
    assert!(
        !batches[0].is_closed(),
        "closing is the caller's, outside the lock"
    );
    assert_eq!(batches[0].close_deferred(), None, "uncompressed: no ratio");
    assert!(batches[0].is_closed());
    let request = build_request(batches, Acks::Leader, Duration::from_secs(30));
    assert_eq!(request.topic_data[0].partition_data[0].index, 0);
    let wire = batches[0].wire_bytes();
    let decoded = crate::protocol::record_batch::decode_batches(&wire).expect("valid batch");
    assert_eq!(decoded[0].records.len(), 2);
    let done = h.respond(id, &[(0, 0, 7)], h.at(6));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result.clone().expect("acked").base_offset, 7);
    assert_eq!(h.acc.available_memory(), config().buffer_memory);
    assert!(h.sender.request_batches_mut(id).is_empty(), "answered");
}

#[test]
fn a_requests_batches_are_grouped_by_topic() {
    // The encoder writes a topic's partitions in one pass, so they must be adjacent whatever
    // partition the drain started from.
    let mut h = Harness::new(&[1], sender_config());
    let topics = ["b", "a", "c"];
    h.meta = crate::accumulator::tests::topics_with(&topics, &[1, 1, 1], h.t0);
    for round in 0..3 {
        for t in topics {
            for p in 0..3 {
                h.acc
                    .append(
                        t,
                        None,
                        PartitionChoice::Fixed(p),
                        &rec(b"v"),
                        &mut None,
                        h.at(round * 10),
                        &mut rng(),
                    )
                    .expect("append");
            }
        }
        let out = h.poll(h.at(round * 10 + 5));
        let id = out.requests[0].id;
        let order: Vec<String> = h
            .sender
            .request_batches_mut(id)
            .iter()
            .map(|b| b.tp.topic.to_string())
            .collect();
        assert_eq!(order.len(), 9);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "round {round}: grouped by topic");
        h.respond_all(id, h.at(round * 10 + 6));
    }
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
    assert_eq!(h.partitions_of(&out.requests[0]), vec![1]);
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
fn a_retry_backoff_above_its_max_is_capped_at_the_max() {
    // Java: `retry.backoff.ms` above `retry.backoff.max.ms` gives a static backoff of the max
    // (the old code waited `retry.backoff.ms`, 100 s here).
    let mut cfg = sender_config();
    cfg.retry_backoff = ms(100_000);
    cfg.retry_backoff_max = ms(1_000);
    cfg.delivery_timeout = ms(1_000_000);
    let mut h = Harness::new(&[1], cfg);
    let mut acc_cfg = config();
    acc_cfg.delivery_timeout = ms(1_000_000);
    h.acc = RecordAccumulator::new(acc_cfg);
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    h.respond(id, &[(0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)], h.at(6));
    let out = h.poll(h.at(7));
    assert_eq!(
        out.next_wakeup,
        Some(h.at(1_006)),
        "1 s, exactly (no jitter)"
    );
    assert!(h.poll(h.at(1_005)).requests.is_empty());
    assert_eq!(h.poll(h.at(1_006)).requests.len(), 1);
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
    // The core fails a lost connection's requests in send order.
    let now = h.at(12);
    for id in [first, second] {
        let done = h
            .sender
            .handle_failure(id, "connection reset", &mut h.acc, &mut h.meta, now);
        assert!(done.is_empty());
    }
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
    let id = out.requests[0].id;
    assert!(!h.sender.expects_response(id));
    assert!(out.completions.is_empty(), "not before it is written");
    let mut done = Vec::new();
    h.sender.written(id, &mut h.acc, &mut done);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result.clone().expect("ok").base_offset, -1);
    assert_eq!(h.sender.in_flight_requests(), 0);
    assert_eq!(h.acc.available_memory(), config().buffer_memory);
}

#[test]
fn unconnected_leader_is_reported_for_connecting() {
    let mut h = Harness::new(&[1, 2], sender_config());
    h.append(0, h.t0);
    h.append(1, h.t0);
    let now = h.at(5);
    let out = h.poll_connected(&|n| n == 1, now);
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

#[test]
fn idempotent_producer_gets_an_id_before_sending_and_numbers_batches() {
    let mut h = idempotent();
    h.append(0, h.t0);
    let out = h.poll(h.at(5));
    assert!(out.requests.is_empty(), "nothing before a producer id");
    let init = h.sender.init_request(h.at(5)).expect("asks for an id");
    assert_eq!((init.producer_id.0, init.producer_epoch), (-1, -1));
    h.poll(h.at(6));
    assert!(
        h.sender.init_request(h.at(6)).is_none(),
        "one request at a time"
    );
    h.sender
        .handle_init_producer_id(Some(&init_response(1000, 0)), h.at(7));
    let out = h.poll(h.at(7));
    assert_eq!(h.stamped(&out.requests[0], 0), (1000, 0, 0));
    h.respond(out.requests[0].id, &[(0, 0, 0)], h.at(8));
    // Two records next: sequence continues at 1; the other partition starts at 0.
    h.append(0, h.at(10));
    h.append(0, h.at(10));
    h.append(1, h.at(10));
    let out = h.poll(h.at(15));
    assert_eq!(h.stamped(&out.requests[0], 0), (1000, 0, 1));
    assert_eq!(h.stamped(&out.requests[0], 1), (1000, 0, 0));
}

/// An idempotent producer with id 7 whose first batch on partition 0 (sequence 0) was
/// acknowledged: the broker keeps state for it there, so batches may be pipelined.
fn idempotent_with_state() -> Harness {
    let mut h = idempotent();
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    h.append(0, h.t0);
    let id = h.poll(h.at(5)).requests[0].id;
    h.respond(id, &[(0, 0, 0)], h.at(5));
    h
}

#[test]
fn a_partitions_first_batch_is_alone_in_flight_until_acknowledged() {
    let mut h = idempotent();
    h.sender
        .handle_init_producer_id(Some(&init_response(7, 0)), h.t0);
    h.append(0, h.t0);
    let first = h.poll(h.at(5)).requests[0].id;
    h.append(0, h.at(6));
    assert!(
        h.poll(h.at(11)).requests.is_empty(),
        "the broker has no state for us yet: a second batch could overtake the first"
    );
    h.respond(first, &[(0, 0, 0)], h.at(12));
    let out = h.poll(h.at(12));
    assert_eq!(h.stamped(&out.requests[0], 0), (7, 0, 1));
    // Pipelining from then on.
    h.append(0, h.at(13));
    let out = h.poll(h.at(18));
    assert_eq!(out.requests.len(), 1);
    assert_eq!(h.sender.in_flight_requests(), 2);
}

#[test]
fn retried_batches_go_out_in_sequence_order_and_pipelined() {
    let mut h = idempotent_with_state();
    h.append(0, h.at(10));
    let first = h.poll(h.at(15)).requests[0].id;
    h.append(0, h.at(16));
    let second = h.poll(h.at(21)).requests[0].id;
    // The first fails with a retriable error; the broker then rejects the second as out of order.
    assert!(h
        .respond(
            first,
            &[(0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)],
            h.at(22)
        )
        .is_empty());
    assert!(
        h.respond(
            second,
            &[(0, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0, -1)],
            h.at(23)
        )
        .is_empty(),
        "not the next expected sequence: retried, no epoch bump"
    );
    h.poll(h.at(24));
    assert!(h.sender.init_request(h.at(24)).is_none());
    let out = h.poll(h.at(300));
    assert_eq!(out.requests.len(), 1);
    assert_eq!(
        h.stamped(&out.requests[0], 0),
        (7, 0, 1),
        "sequence 1 first, same sequence"
    );
    // Sequence 2 follows it pipelined (the broker refuses it should 1 fail again), not after
    // 1's acknowledgement: one batch at a time while retrying lets a storm stall the partition.
    let out2 = h.poll(h.at(301));
    assert_eq!(out2.requests.len(), 1);
    assert_eq!(h.stamped(&out2.requests[0], 0), (7, 0, 2));
    h.respond(out.requests[0].id, &[(0, 0, 100)], h.at(302));
    let done = h.respond(out2.requests[0].id, &[(0, 0, 101)], h.at(304));
    assert_eq!(done[0].result.clone().expect("ok").base_offset, 101);
}

#[test]
fn answered_errors_retry_at_the_base_backoff_and_lost_answers_back_off_further() {
    let mut cfg = sender_config();
    cfg.delivery_timeout = ms(1_000_000);
    let mut h = Harness::new(&[1], cfg);
    let mut acc_cfg = config();
    acc_cfg.delivery_timeout = ms(1_000_000);
    h.acc = RecordAccumulator::new(acc_cfg);
    h.append(0, h.t0);
    let mut t = 5;
    // Five answered errors in a row: each retry after 100 ms ± 20 %, no growth.
    for _ in 0..5 {
        let out = h.poll(h.at(t));
        let id = out.requests[0].id;
        h.respond(id, &[(0, ErrorCode::NOT_ENOUGH_REPLICAS.0, -1)], h.at(t));
        let wake = h.poll(h.at(t)).next_wakeup.expect("a retry") - h.at(t);
        assert!(wake >= ms(80) && wake <= ms(120), "{wake:?}");
        t += 120;
    }
    // Requests that get no answer back off exponentially (to retry.backoff.max.ms, 1 s).
    let mut cfg = sender_config();
    cfg.delivery_timeout = ms(1_000_000);
    let mut h = Harness::new(&[1], cfg);
    let mut acc_cfg = config();
    acc_cfg.delivery_timeout = ms(1_000_000);
    h.acc = RecordAccumulator::new(acc_cfg);
    h.append(0, h.t0);
    let mut t = 5;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let out = h.poll(h.at(t));
        let id = out.requests[0].id;
        let now = h.at(t);
        h.sender
            .handle_failure(id, "no answer", &mut h.acc, &mut h.meta, now);
        let wake = h.poll(h.at(t)).next_wakeup.expect("a retry") - h.at(t);
        waits.push(wake);
        t += 1_300;
    }
    assert!(waits[1] > waits[0] && waits[2] > waits[1], "{waits:?}");
    assert!(waits[3] <= ms(1_000), "capped: {waits:?}");
}

#[test]
fn a_retry_the_broker_moved_past_is_written_once_the_broker_had_state() {
    // Sequence 1's answer is an error although it was written (NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    // sequence 2 is acknowledged; by the time 1 is retried the broker has moved on (five more
    // batches): OUT_OF_ORDER. It must be in the log: the broker accepted 2 right after it.
    let mut h = idempotent_with_state();
    h.append(0, h.at(10));
    let first = h.poll(h.at(15)).requests[0].id;
    h.append(0, h.at(16));
    let second = h.poll(h.at(21)).requests[0].id;
    let code = ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND.0;
    assert!(h.respond(first, &[(0, code, -1)], h.at(22)).is_empty());
    assert_eq!(h.respond(second, &[(0, 0, 2)], h.at(22)).len(), 1);
    let out = h.poll(h.at(200));
    let done = h.respond(
        out.requests[0].id,
        &[(0, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0, -1)],
        h.at(201),
    );
    assert_eq!(
        done.len(),
        1,
        "decided at once, not retried until delivery.timeout.ms"
    );
    assert_eq!(done[0].result.clone().expect("written").base_offset, -1);
    assert!(h.sender.init_request(h.at(202)).is_none(), "no epoch bump");
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
    assert_eq!(h.stamped(&out.requests[0], 0), (7, 0, 1));
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
    let init = h.sender.init_request(h.at(14)).expect("epoch bump");
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
        h.stamped(&out.requests[0], 0),
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
    // No answer: at request.timeout.ms (300) the core drops the connection and the batch is
    // retried, until the delivery timeout (1000) fails it wherever it is.
    let mut failed = None;
    let mut t = 5;
    let mut in_flight: Vec<u64> = vec![out.requests[0].id];
    while failed.is_none() && t < 1500 {
        t += 50;
        let now = h.at(t);
        if t % 300 < 50 {
            for id in in_flight.drain(..) {
                let done = h
                    .sender
                    .handle_failure(id, "timed out", &mut h.acc, &mut h.meta, now);
                assert!(done.is_empty());
            }
        }
        let out = h.poll(now);
        in_flight.extend(out.requests.iter().map(|r| r.id));
        failed = out.completions.into_iter().next();
    }
    let failed = failed.expect("resolved");
    assert!(t <= 1050, "resolved by delivery.timeout.ms: {t}");
    assert!(matches!(
        failed.result,
        Err(ProduceError::DeliveryTimeout { .. })
    ));
    // Its sequence is unresolved: the epoch is bumped before anything else goes out, once the
    // request it was in is over.
    for id in in_flight.drain(..) {
        let now = h.at(t + 300);
        h.sender
            .handle_failure(id, "timed out", &mut h.acc, &mut h.meta, now);
    }
    h.append(0, h.at(t));
    let mut init = None;
    for dt in 0..10 {
        let now = h.at(t + 400 + dt * 100);
        let out = h.poll(now);
        assert!(out.requests.is_empty(), "held back until the bump");
        init = h.sender.init_request(now);
        if init.is_some() {
            break;
        }
    }
    assert!(init.is_some(), "epoch bump requested");
}

#[test]
fn init_producer_id_failures_back_off() {
    let mut h = idempotent();
    assert!(h.sender.init_request(h.t0).is_some());
    h.sender.handle_init_producer_id(None, h.at(1));
    assert!(h.sender.init_request(h.at(50)).is_none(), "backing off");
    assert_eq!(h.sender.next_init(), Some(h.at(101)));
    assert!(h.sender.init_request(h.at(101)).is_some());
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
    assert_eq!(h.stamped(&out.requests[0], 0), (7, 0, 0));
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
    assert_eq!(h.stamped(&out.requests[0], 0), (7, 0, 0));
    let done = h.respond(out.requests[0].id, &[(0, 0, 10)], h.at(8));
    assert_eq!(done[0].batch.record_count(), 2);
    let out = h.poll(h.at(9));
    assert_eq!(h.stamped(&out.requests[0], 0), (7, 0, 2));
    let done = h.respond(out.requests[0].id, &[(0, 0, 12)], h.at(10));
    assert_eq!(done[0].batch.record_count(), 2);
    assert_eq!(h.acc.incomplete_batches(), 0);
    assert_eq!(h.acc.available_memory(), config().buffer_memory);
    // The next batch continues after the split range.
    h.append(0, h.at(11));
    let out = h.poll(h.at(20));
    assert_eq!(h.stamped(&out.requests[0], 0), (7, 0, 4));
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
    let req = *req;
    assert_eq!(h.partitions_of(&req), vec![0, 1]);
    assert!(h
        .sender
        .request_batches_mut(req.id)
        .iter()
        .all(|b| &*b.tp.topic == "t" && b.is_closed()));
    let id = req.id;
    let mut ack = |_: usize, tp: &crate::accumulator::TopicPartition| {
        (&*tp.topic == "t" && tp.partition == 0).then_some(BatchAck {
            base_offset: 41,
            log_append_time: -1,
        })
    };
    let mut done = Vec::new();
    let (t6, t7) = (h.at(6), h.at(7));
    h.sender
        .handle_acks_into(id, &mut ack, &mut h.acc, t6, &mut done);
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
        .handle_acks_into(id, &mut ack, &mut h.acc, t7, &mut done);
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
        for id in ids {
            let done = h.respond(id, &[(0, 0, 1), (1, 0, 1)], h.at(10 * round + 6));
            completions_seen += done.len();
        }
        let now_caps = (out.requests.capacity(), out.connect.capacity());
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
