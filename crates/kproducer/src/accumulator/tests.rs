//! Deterministic accumulator tests: a virtual clock (`t0 + ms(n)`), a scripted cluster.

use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;
use crate::metadata::Metadata;

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A cluster of brokers 1..=3 with topic `t`, partition `p` led by `leaders[p]`.
pub(crate) fn cluster_with(leaders: &[i32], t0: Instant) -> Metadata {
    topics_with(&["t"], leaders, t0)
}

/// A cluster of brokers 1..=3 with `topics`, each with partition `p` led by `leaders[p]`.
pub(crate) fn topics_with(topics: &[&str], leaders: &[i32], t0: Instant) -> Metadata {
    let resp = MetadataResponse::default()
        .with_brokers(
            (1..=3)
                .map(|id| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(9000 + id)
                })
                .collect(),
        )
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                        .with_partitions(
                            leaders
                                .iter()
                                .enumerate()
                                .map(|(i, l)| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(i as i32)
                                        .with_leader_id(BrokerId(*l))
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let mut m = Metadata::new(ms(100), Duration::from_secs(300));
    m.handle_response(&resp, t0, &|_| true);
    m
}

pub(crate) fn config() -> AccumulatorConfig {
    AccumulatorConfig {
        batch_size: 1024,
        linger: ms(5),
        buffer_memory: 64 * 1024,
        delivery_timeout: ms(1000),
        retry_backoff: ms(100),
        adaptive_partitioning: false,
        compression: Compression::NONE,
        max_request_size: 1 << 20,
    }
}

pub(crate) fn rec(value: &[u8]) -> RecordRef<'_> {
    RecordRef {
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(value),
        headers: &[],
    }
}

pub(crate) fn rng() -> SmallRng {
    SmallRng::seed_from_u64(7)
}

fn append_to(acc: &mut RecordAccumulator, p: i32, value: &[u8], now: Instant) -> Appended {
    acc.append(
        "t",
        None,
        PartitionChoice::Fixed(p),
        &rec(value),
        &mut None,
        now,
        &mut rng(),
    )
    .expect("append")
}

fn plain(_: &ProducerBatch) -> BatchHeader {
    BatchHeader::PLAIN
}

#[test]
fn a_batch_is_ready_once_linger_expires() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    let a = append_to(&mut acc, 0, b"v", t0);
    assert!(a.new_batch && !a.batch_full);
    let r = acc.ready(meta.cluster(), t0 + ms(4));
    assert!(r.ready_nodes.is_empty(), "not before linger.ms");
    assert_eq!(r.next_check, Some(t0 + ms(5)));
    let r = acc.ready(meta.cluster(), t0 + ms(5));
    assert_eq!(r.ready_nodes.into_iter().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn a_full_batch_is_ready_at_once() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    let value = [7u8; 100];
    let mut first_full = None;
    for i in 0..30 {
        let a = append_to(&mut acc, 1, &value, t0);
        if a.batch_full && first_full.is_none() {
            first_full = Some(i);
        }
    }
    let i = first_full.expect("a batch filled up");
    assert!(
        (8..=10).contains(&i),
        "1024-byte batch holds ~9 records of 100 B, full at {i}"
    );
    let r = acc.ready(meta.cluster(), t0);
    assert_eq!(r.ready_nodes.into_iter().collect::<Vec<_>>(), vec![2]);
    assert!(acc.queued_batches() >= 3);
}

#[test]
fn drain_groups_partitions_by_leader_one_batch_each() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3, 1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    for p in 0..6 {
        for _ in 0..20 {
            append_to(&mut acc, p, &[1u8; 100], t0);
        }
    }
    let r = acc.ready(meta.cluster(), t0);
    assert_eq!(r.ready_nodes.len(), 3);
    let drained = acc.drain(meta.cluster(), 1, 1 << 20, t0, &mut plain);
    let mut parts: Vec<i32> = drained.iter().map(|b| b.tp.partition).collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![0, 3],
        "broker 1 leads partitions 0 and 3, one batch each"
    );
    assert!(drained.iter().all(|b| b.is_closed() && b.attempts == 1));
    // max.request.size caps the request, but the first batch always goes.
    let drained = acc.drain(meta.cluster(), 2, 10, t0, &mut plain);
    assert_eq!(drained.len(), 1);
}

#[test]
fn memory_runs_out_then_frees() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut cfg = config();
    cfg.buffer_memory = 2 * cfg.batch_size;
    let mut acc = RecordAccumulator::new(cfg);
    append_to(&mut acc, 0, b"a", t0);
    append_to(&mut acc, 1, b"b", t0);
    let err = acc
        .append(
            "t",
            None,
            PartitionChoice::Fixed(2),
            &rec(b"c"),
            &mut None,
            t0,
            &mut rng(),
        )
        .unwrap_err();
    assert_eq!(err, AppendError::NoMemory { needed: 1024 });
    assert_eq!(acc.available_memory(), 0);
    let mut drained = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(5), &mut plain);
    assert_eq!(drained.len(), 1);
    acc.deallocate(&mut drained[0]);
    assert_eq!(acc.available_memory(), 1024);
    append_to(&mut acc, 2, b"c", t0);
}

#[test]
fn a_completed_batch_buffer_is_reused_for_the_next_batch() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut plain = plain;
    let mut acc = RecordAccumulator::new(config());
    let full = config().buffer_memory;
    // Batch A completes while something (say, a request) still holds its bytes: its buffer
    // must not be reused, and the bytes stay as they were.
    append_to(&mut acc, 0, b"a", t0);
    let mut a = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(5), &mut plain);
    let held = a[0].wire_bytes();
    let held_copy = held.to_vec();
    acc.deallocate(&mut a[0]);
    assert_eq!(acc.available_memory(), full);
    append_to(&mut acc, 1, b"b", t0);
    let mut b = acc.drain(meta.cluster(), 2, 1 << 20, t0 + ms(5), &mut plain);
    let b_buffer = b[0].wire_bytes().as_ptr();
    assert_ne!(b_buffer, held.as_ptr());
    assert_eq!(held.to_vec(), held_copy, "bytes still held are untouched");
    // Batch B completes with nobody holding its bytes: the next batch writes into its buffer.
    acc.deallocate(&mut b[0]);
    assert_eq!(acc.available_memory(), full);
    append_to(&mut acc, 2, b"c", t0);
    assert_eq!(acc.available_memory(), full - config().batch_size);
    let c = acc.drain(meta.cluster(), 3, 1 << 20, t0 + ms(5), &mut plain);
    assert_eq!(
        c[0].wire_bytes().as_ptr(),
        b_buffer,
        "the pooled buffer is reused"
    );
    assert_eq!(c[0].record_count(), 1);
    assert_eq!(c[0].wire_bytes().last(), Some(&0), "record c: no headers");
    assert!(c[0].wire_bytes().windows(1).any(|w| w == b"c"));
}

#[test]
fn callbacks_are_charged_to_buffer_memory_until_their_batch_completes() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut plain = plain;
    let mut cfg = config();
    cfg.buffer_memory = cfg.batch_size + 200;
    let mut acc = RecordAccumulator::new(cfg.clone());
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut appended = 0;
    let err = loop {
        let c = counter.clone();
        let mut cb: Option<Callback> = Some(Box::new(move |_| {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }));
        match acc.append(
            "t",
            None,
            PartitionChoice::Fixed(0),
            &rec(b"v"),
            &mut cb,
            t0,
            &mut rng(),
        ) {
            Ok(a) => {
                assert_eq!(a.new_batch, appended == 0, "all in one batch");
                appended += 1;
            }
            Err(e) => {
                assert!(cb.is_some(), "a refused record keeps its callback");
                break e;
            }
        }
        assert!(
            appended < 100,
            "the batch has room for far more: callbacks must run out first"
        );
    };
    // 200 spare bytes: 24 for the table entry + 32 for the boxed closure each.
    assert_eq!(appended, 3);
    assert!(matches!(err, AppendError::NoMemory { .. }), "{err:?}");
    assert!(acc.available_memory() < 56);
    let mut batches = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(5), &mut plain);
    acc.deallocate(&mut batches[0]);
    assert_eq!(
        acc.available_memory(),
        cfg.buffer_memory,
        "all of it comes back"
    );
    batches.remove(0).complete(
        Ok(BatchAck {
            base_offset: 0,
            log_append_time: -1,
        }),
        None,
    );
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn a_record_bigger_than_buffer_memory_is_refused() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.buffer_memory = 4096;
    let mut acc = RecordAccumulator::new(cfg);
    let big = vec![0u8; 5000];
    let err = acc
        .append(
            "t",
            None,
            PartitionChoice::Fixed(0),
            &rec(&big),
            &mut None,
            t0,
            &mut rng(),
        )
        .unwrap_err();
    assert!(matches!(err, AppendError::TooLarge { size } if size > 5000));
}

#[test]
fn a_big_record_gets_its_own_batch() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 0, b"small", t0);
    let big = vec![1u8; 4000];
    let a = append_to(&mut acc, 0, &big, t0);
    assert!(a.new_batch && a.batch_full);
    assert_eq!(acc.queued_batches(), 2);
}

#[test]
fn queued_batches_expire_after_delivery_timeout() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 0, b"v", t0);
    append_to(&mut acc, 1, b"v", t0 + ms(10));
    assert_eq!(acc.next_expiry(), Some(t0 + ms(1000)));
    assert!(acc.expired(t0 + ms(999)).is_empty());
    let e = acc.expired(t0 + ms(1000));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].tp.partition, 0);
    assert_eq!(acc.next_expiry(), Some(t0 + ms(1010)));
}

#[test]
fn flush_makes_everything_ready_and_completes_when_all_are_done() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 0, b"v", t0);
    append_to(&mut acc, 1, b"v", t0);
    let mark = acc.begin_flush();
    assert!(!acc.flush_done(mark));
    let r = acc.ready(meta.cluster(), t0);
    assert_eq!(r.ready_nodes.len(), 2, "flush ignores linger.ms");
    // A batch created after the flush began doesn't hold it up.
    append_to(&mut acc, 2, b"later", t0);
    let mut a = acc.drain(meta.cluster(), 1, 1 << 20, t0, &mut plain);
    let mut b = acc.drain(meta.cluster(), 2, 1 << 20, t0, &mut plain);
    acc.deallocate(&mut a[0]);
    assert!(!acc.flush_done(mark));
    acc.deallocate(&mut b[0]);
    assert!(acc.flush_done(mark));
}

#[test]
fn close_refuses_records_and_makes_everything_ready() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 0, b"v", t0);
    acc.close();
    assert_eq!(acc.ready(meta.cluster(), t0).ready_nodes.len(), 1);
    let err = acc
        .append(
            "t",
            None,
            PartitionChoice::Fixed(0),
            &rec(b"x"),
            &mut None,
            t0,
            &mut rng(),
        )
        .unwrap_err();
    assert_eq!(err, AppendError::Closed);
}

#[test]
fn unknown_leader_asks_for_metadata() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, -1, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 1, b"v", t0);
    let r = acc.ready(meta.cluster(), t0 + ms(10));
    assert!(r.unknown_leaders);
    assert!(r.ready_nodes.is_empty());
}

#[test]
fn retried_batch_waits_for_backoff_and_keeps_its_place() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 0, b"first", t0);
    let mut d = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(5), &mut plain);
    append_to(&mut acc, 0, b"second", t0 + ms(6));
    let first = d.remove(0);
    let first_id = first.id;
    acc.reenqueue(first, ms(100), t0 + ms(10));
    let r = acc.ready(meta.cluster(), t0 + ms(50));
    assert!(r.ready_nodes.is_empty(), "in backoff");
    assert_eq!(r.next_check, Some(t0 + ms(110)));
    let d = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(110), &mut plain);
    assert_eq!(d[0].id, first_id, "the retried batch goes first");
    assert_eq!(d[0].attempts, 2);
}

#[test]
fn sticky_partitioner_keeps_a_partition_until_its_batch_is_full() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let info = meta.cluster().topic("t").cloned().expect("topic");
    let mut acc = RecordAccumulator::new(config());
    let mut r = rng();
    let mut parts = Vec::new();
    for _ in 0..40 {
        let a = acc
            .append(
                "t",
                Some(&info),
                PartitionChoice::Sticky,
                &rec(&[0u8; 100]),
                &mut None,
                t0,
                &mut r,
            )
            .expect("append");
        parts.push(a.partition);
    }
    // ~9 records fill a 1024-byte batch: the first 9 go to one partition.
    assert!(parts[..9].iter().all(|p| *p == parts[0]), "{parts:?}");
    let distinct: std::collections::HashSet<_> = parts.iter().collect();
    assert!(distinct.len() >= 2, "it switches partitions: {parts:?}");
}

/// An accumulator compressing with lz4 whose estimate for topic `t` has learnt a 0.05 ratio
/// (Java's estimator improves by 0.005 per batch, so this takes 190 batches).
fn compressing_accumulator() -> RecordAccumulator {
    let mut cfg = config();
    cfg.compression = Compression::new(crate::CompressionType::Lz4, 9).expect("lz4");
    let mut acc = RecordAccumulator::new(cfg);
    let topic: Arc<str> = Arc::from("t");
    for _ in 0..200 {
        acc.observe_compression(&topic, 0.05);
    }
    assert!((acc.compression_ratio("t") - 0.05).abs() < 1e-3);
    acc
}

#[test]
fn a_compressed_batch_holding_batch_size_of_records_goes_early_only_to_an_idle_leader() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = compressing_accumulator();
    let value = [b'x'; 100];
    // batch.size is 1024: ~9 records uncompressed, ~180 by the compressed estimate.
    let mut crossed_at = None;
    for i in 0..12 {
        let a = append_to(&mut acc, 0, &value, t0);
        assert!(!a.new_batch || i == 0, "one batch: the estimate has room");
        if a.batch_full {
            assert!(crossed_at.is_none(), "signalled once, when it crosses");
            crossed_at = Some(i);
        }
    }
    let i = crossed_at.expect("reaching batch.size uncompressed is signalled");
    // 61 + 8 × ~110 B: one more such record would pass 1024, so the 8th (index 7) crosses.
    assert_eq!(i, 7, "crossed at record {i}");
    assert_eq!(acc.queued_batches(), 1);
    let busy = |n: i32| n == 1;
    let mut out = ReadyCheck::default();
    acc.ready_into(meta.cluster(), t0 + ms(1), &busy, &mut out);
    assert!(out.ready_nodes.is_empty(), "leader 1 busy: keep filling");
    assert_eq!(out.next_check, Some(t0 + ms(5)), "linger.ms still applies");
    acc.ready_into(meta.cluster(), t0 + ms(5), &busy, &mut out);
    assert_eq!(out.ready_nodes.iter().copied().collect::<Vec<_>>(), vec![1]);
    acc.ready_into(meta.cluster(), t0 + ms(1), &|_| false, &mut out);
    assert_eq!(
        out.ready_nodes.iter().copied().collect::<Vec<_>>(),
        vec![1],
        "idle leader: sendable before linger.ms"
    );
}

#[test]
fn a_compressed_batch_below_batch_size_of_records_lingers_on_an_idle_leader() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = compressing_accumulator();
    for _ in 0..5 {
        let a = append_to(&mut acc, 0, &[b'x'; 100], t0);
        assert!(!a.batch_full);
    }
    let r = acc.ready(meta.cluster(), t0 + ms(4));
    assert!(r.ready_nodes.is_empty(), "500 B of records < batch.size");
    assert_eq!(r.next_check, Some(t0 + ms(5)));
}

#[test]
fn charges_match_buffer_memory_with_growing_compressed_batches() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.compression = Compression::new(crate::CompressionType::Zstd, 3).expect("level");
    cfg.buffer_memory = 1 << 20;
    let mut acc = RecordAccumulator::new(cfg.clone());
    let value = vec![b'x'; 300];
    for _ in 0..200 {
        let _ = acc.append(
            "t",
            None,
            PartitionChoice::Fixed(0),
            &rec(&value),
            &mut None,
            t0,
            &mut rng(),
        );
    }
    let charged: usize = acc
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .flat_map(|d| d.iter())
        .map(|b| b.alloc)
        .sum();
    let held: usize = acc
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .flat_map(|d| d.iter())
        .map(|b| b.buffer_capacity())
        .sum();
    assert_eq!(charged + acc.available_memory(), cfg.buffer_memory);
    assert!(held <= charged, "held {held} charged {charged}");
}

#[test]
fn charges_match_buffer_memory_through_drain_and_completion() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 1, 1], t0);
    let info = meta.cluster().topic("t").cloned().expect("topic");
    let mut plain = plain;
    let mut cfg = config();
    cfg.compression = Compression::new(crate::CompressionType::Zstd, 3).expect("level");
    cfg.buffer_memory = 64 << 10;
    let mut acc = RecordAccumulator::new(cfg.clone());
    acc.set_defer_close(true);
    let value = vec![b'x'; 300];
    let mut in_flight: Vec<ProducerBatch> = Vec::new();
    let mut r = rng();
    let mut refused = 0;
    for round in 0..300 {
        for i in 0..20 {
            // Every other record with a callback: its charge must stay payable when the
            // batch's buffer grows in the same append (it once wrapped the free count).
            let mut cb: Option<Callback> = (i % 2 == 0).then(|| Box::new(|_| {}) as Callback);
            let result = acc.append(
                "t",
                Some(&info),
                PartitionChoice::Sticky,
                &rec(&value),
                &mut cb,
                t0,
                &mut r,
            );
            refused += usize::from(matches!(result, Err(AppendError::NoMemory { .. })));
            assert!(acc.available_memory() <= cfg.buffer_memory);
        }
        let mut drained = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(5), &mut plain);
        for b in &mut drained {
            if let Some(ratio) = b.close_deferred() {
                acc.observe_compression(&b.tp.topic.clone(), ratio);
            }
        }
        in_flight.extend(drained);
        if round % 10 == 0 {
            for mut b in in_flight.drain(..) {
                acc.deallocate(&mut b);
            }
        }
        let charged: usize = acc
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .flat_map(|d| d.iter())
            .chain(in_flight.iter())
            .map(|b| b.alloc)
            .sum();
        assert_eq!(
            charged + acc.available_memory() + acc.grown_bytes(),
            cfg.buffer_memory,
            "round {round}"
        );
    }
    assert!(
        refused > 0,
        "the pool ran dry at times (the case under test)"
    );
}

/// Completes the drained batches in `done` successfully, gives their memory back and recycles
/// them (the driver's order: deallocate, complete in place, recycle).
fn finish_and_recycle(
    acc: &mut RecordAccumulator,
    done: &mut Vec<ProducerBatch>,
    base_offset: i64,
) {
    for b in done.iter_mut() {
        acc.deallocate(b);
        b.complete_in_place(
            Ok(BatchAck {
                base_offset,
                log_append_time: -1,
            }),
            None,
        );
    }
    acc.recycle(done);
}

/// Drains partition `p`'s batch (led by broker `p + 1`), completes it and hands it back.
fn complete_and_recycle(
    acc: &mut RecordAccumulator,
    meta: &Metadata,
    p: i32,
    now: Instant,
) -> Arc<BatchResult> {
    let mut plain = plain;
    let mut done = acc.drain(meta.cluster(), p + 1, 1 << 20, now, &mut plain);
    assert_eq!(done.len(), 1);
    let result = done[0].result.clone();
    finish_and_recycle(acc, &mut done, 10);
    assert!(done.is_empty());
    result
}

#[test]
fn a_recycled_batch_is_reused_cleared_with_its_tables_and_fresh_result() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let full = config().buffer_memory;
    let mut acc = RecordAccumulator::new(config());
    let mut cb: Option<Callback> = Some(Box::new(|_| {}));
    acc.append(
        "t",
        None,
        PartitionChoice::Fixed(0),
        &rec(b"a"),
        &mut cb,
        t0,
        &mut rng(),
    )
    .expect("append");
    append_to(&mut acc, 0, b"b", t0);
    let old = complete_and_recycle(&mut acc, &meta, 0, t0 + ms(5));
    assert_eq!(acc.recycled_batches(), 1);
    assert_eq!(acc.available_memory(), full, "memory accounting unchanged");
    let old_ptr = Arc::as_ptr(&old);
    drop(old); // no future holds the old result any more
               // The next batch is the recycled one: same shared result, cleared, same table.
    let a = append_to(&mut acc, 1, b"c", t0 + ms(6));
    assert!(a.new_batch);
    assert_eq!(acc.recycled_batches(), 0);
    assert_eq!(Arc::as_ptr(&a.result), old_ptr, "the result is reused");
    assert!(!a.result.is_done(), "a reused result starts empty");
    assert_eq!(a.result.tp.partition, 1);
    assert_eq!(a.index, 0, "the record table starts empty");
    let mut plain = plain;
    let b = acc.drain(meta.cluster(), 2, 1 << 20, t0 + ms(11), &mut plain);
    assert_eq!(b[0].record_count(), 1);
    assert!(b[0].callbacks.is_empty(), "no callback carried over");
    assert!(b[0].records.capacity() >= 2, "the table kept its capacity");
    assert_eq!(b[0].tp.partition, 1);
    assert_eq!(b[0].attempts, 1);
    assert_eq!(acc.available_memory(), full - config().batch_size);
}

#[test]
fn a_result_a_future_still_holds_is_not_reused() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = RecordAccumulator::new(config());
    append_to(&mut acc, 0, b"a", t0);
    let held = complete_and_recycle(&mut acc, &meta, 0, t0 + ms(5));
    let a = append_to(&mut acc, 0, b"b", t0 + ms(6));
    assert!(
        !Arc::ptr_eq(&a.result, &held),
        "a held result gets a fresh one"
    );
    assert!(held.is_done(), "the holder still sees its outcome");
    assert!(!a.result.is_done());
}

#[test]
fn recycled_batches_are_bounded() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    let limit = config().buffer_memory / config().batch_size;
    let mut done: Vec<ProducerBatch> = (0..limit as u64 + 5)
        .map(|id| {
            let tp = TopicPartition {
                topic: Arc::from("t"),
                partition: 0,
            };
            let mut b = ProducerBatch::new(tp, id, Vec::new(), 0, t0);
            b.complete_in_place(Err(crate::error::ProduceError::Closed), None);
            b
        })
        .collect();
    acc.recycle(&mut done);
    assert_eq!(acc.recycled_batches(), limit);
}

/// One round of the steady state for partition 0: append, drain (the batch closes), a writer
/// holds the wire bytes until `release` says, the batch completes and is recycled. Returns the
/// wire (if still held), its buffer and shell addresses.
fn wire_round(
    acc: &mut RecordAccumulator,
    meta: &Metadata,
    now: Instant,
    release: bool,
) -> (
    Option<crate::protocol::record_batch::WireBuf>,
    *const u8,
    *const (),
) {
    append_to(acc, 0, b"v", now);
    let mut plain = plain;
    let mut done = acc.drain(meta.cluster(), 1, 1 << 20, now + ms(5), &mut plain);
    assert_eq!(done.len(), 1);
    let writer = done[0].wire_bytes();
    let ptrs = (writer.as_ptr(), writer.shell_ptr());
    let writer = if release { None } else { Some(writer) };
    finish_and_recycle(acc, &mut done, 0);
    (writer, ptrs.0, ptrs.1)
}

#[test]
fn in_steady_state_a_batch_reuses_the_wire_buffer_and_shell_of_the_last_one() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let full = config().buffer_memory;
    let mut acc = RecordAccumulator::new(config());
    let (_, buf, shell) = wire_round(&mut acc, &meta, t0, true);
    for i in 1..5 {
        let (_, b, s) = wire_round(&mut acc, &meta, t0 + ms(10 * i), true);
        assert_eq!(b, buf, "round {i}: the pooled buffer carries the batch");
        assert_eq!(s, shell, "round {i}: the recycled batch's shell carries it");
        assert_eq!(acc.available_memory(), full);
    }
    // A writer still holds round 5's bytes when its batch completes: neither its buffer nor
    // its shell is reused, and the memory is released all the same.
    let (held, b, s) = wire_round(&mut acc, &meta, t0 + ms(60), false);
    assert_eq!((b, s), (buf, shell));
    let held = held.expect("held");
    assert_eq!(acc.available_memory(), full);
    let (_, b, s) = wire_round(&mut acc, &meta, t0 + ms(70), true);
    assert_ne!(b, held.as_ptr());
    assert_ne!(s, held.shell_ptr());
    assert_eq!(
        crate::protocol::record_batch::decode_batches(&held).expect("intact")[0]
            .records
            .len(),
        1
    );
    // Steady again, on the new buffer and shell.
    let (_, b2, s2) = wire_round(&mut acc, &meta, t0 + ms(80), true);
    assert_eq!((b2, s2), (b, s));
    assert_eq!(acc.available_memory(), full);
}

#[test]
fn in_steady_state_a_compressed_batch_closes_into_the_output_buffer_of_the_last_one() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1, 2, 3], t0);
    let mut acc = compressing_accumulator();
    let full = acc.config().buffer_memory;
    let mut wires = Vec::new();
    let mut kept = None;
    for i in 0..4 {
        let now = t0 + ms(10 * i);
        for _ in 0..5 {
            append_to(&mut acc, 0, &[b'x'; 100], now);
        }
        let mut plain = plain;
        let mut done = acc.drain(meta.cluster(), 1, 1 << 20, now + ms(5), &mut plain);
        assert_eq!(done.len(), 1);
        let wire = done[0].wire_bytes();
        assert_eq!(
            crate::protocol::record_batch::decode_batches(&wire).expect("valid")[0]
                .records
                .len(),
            5
        );
        wires.push(wire.as_ptr());
        if let Some(k) = kept {
            assert_eq!(
                wire.as_ptr(),
                k,
                "round {i}: the kept output buffer carries the batch"
            );
        }
        drop(wire);
        finish_and_recycle(&mut acc, &mut done, 0);
        assert_eq!(acc.available_memory(), full);
        assert_eq!(acc.outputs.len(), 1, "round {i}: the output buffer is kept");
        kept = acc.outputs.last().map(|b| b.as_ptr());
    }
    assert!(wires[1..].iter().all(|&p| p == wires[1]), "{wires:?}");
}

/// Appends `n` records of 100 B to partition `p`, all accepted.
fn fill(acc: &mut RecordAccumulator, p: i32, n: usize, now: Instant) {
    for _ in 0..n {
        append_to(acc, p, &[b'x'; 100], now);
    }
}

/// The partition's open batch's buffer capacity.
fn open_capacity(acc: &RecordAccumulator, p: i32) -> usize {
    acc.topics
        .values()
        .find(|q| &*q.name == "t")
        .and_then(|q| q.partitions.get(&p))
        .and_then(|dq| dq.back())
        .map_or(0, ProducerBatch::buffer_capacity)
}

#[test]
fn a_grown_buffer_is_kept_charged_reused_and_freed_when_memory_runs_short() {
    let t0 = Instant::now();
    let meta = cluster_with(&[1; 64], t0);
    let mut acc = compressing_accumulator();
    let cfg = acc.config().clone();
    // 30 records of ~110 B: the compressed estimate has room, the 1 KiB buffer grows to 4 KiB.
    fill(&mut acc, 0, 30, t0);
    assert_eq!(open_capacity(&acc, 0), 4096);
    let mut plain = plain;
    let mut done = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(5), &mut plain);
    acc.deallocate(&mut done[0]);
    assert_eq!(acc.grown_bytes(), 4096, "kept");
    assert_eq!(
        acc.available_memory() + acc.grown_bytes(),
        cfg.buffer_memory,
        "and still charged"
    );
    // The next batch that must grow takes it (no reallocation) and gives its 1 KiB buffer to
    // the pool; the charges still add up.
    fill(&mut acc, 0, 30, t0 + ms(10));
    assert_eq!(open_capacity(&acc, 0), 4096);
    assert_eq!(acc.grown_bytes(), 0);
    assert_eq!(acc.pool.len(), 1);
    let charged: usize = acc
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .flat_map(|d| d.iter())
        .map(|b| b.alloc)
        .sum();
    assert_eq!(charged + acc.available_memory(), cfg.buffer_memory);
    let mut done = acc.drain(meta.cluster(), 1, 1 << 20, t0 + ms(15), &mut plain);
    acc.deallocate(&mut done[0]);
    assert_eq!(acc.grown_bytes(), 4096);
    // 64 KiB holds 64 batches of 1 KiB only once the kept buffer is let go.
    for p in 0..64 {
        let r = acc.append(
            "t",
            None,
            PartitionChoice::Fixed(p),
            &rec(b"v"),
            &mut None,
            t0 + ms(20),
            &mut rng(),
        );
        assert!(r.is_ok(), "partition {p}: {r:?}");
    }
    assert_eq!(acc.grown_bytes(), 0, "freed when memory ran short");
    assert_eq!(acc.available_memory(), 0);
}
