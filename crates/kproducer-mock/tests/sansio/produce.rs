use bytes::Bytes;
use kafka_protocol::records::Compression;
use kproducer_mock::{codes, ClusterConfig, MockCluster, Outcome, TimestampType, TopicConfig};

use crate::common::*;

#[test]
fn every_version_appends_and_assigns_offsets() {
    for v in 3..=12 {
        let mut c = cluster(1);
        c.create_topic("t", 1).unwrap();
        let a = produce_one(&mut c, 1, v, "t", 0, batch(&BatchSpec::values(3)));
        assert_eq!(a.error_code, 0, "v{v}");
        assert_eq!(a.base_offset, 0);
        assert_eq!(a.log_append_time_ms, -1);
        if v >= 5 {
            assert_eq!(a.log_start_offset, 0);
        }
        let a = produce_one(&mut c, 1, v, "t", 0, batch(&BatchSpec::values(2)));
        assert_eq!(a.base_offset, 3, "v{v}");
        assert_eq!(c.high_watermark("t", 0), 5);
        let recs = c.records("t", 0).unwrap();
        assert_eq!(
            recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(recs[4].value.as_deref(), Some(&b"value-1"[..]));
        assert_eq!(recs[4].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(recs[4].headers[0].key, "h");
        assert_eq!(recs[4].headers[0].value.as_deref(), Some(&b"1"[..]));
        assert_eq!(recs[4].timestamp, 1_001);
        assert_eq!(recs[4].producer_id, -1);
        assert_eq!(recs[4].sequence, -1);
    }
}

#[test]
fn stored_batches_carry_offsets_epoch_and_a_valid_crc() {
    let mut c = cluster(2);
    c.create_topic("t", 1).unwrap();
    c.set_leader("t", 0, 2).unwrap();
    c.set_leader("t", 0, 1).unwrap(); // epoch 2
    produce_one(&mut c, 1, 9, "t", 0, batch(&BatchSpec::values(2)));
    produce_one(
        &mut c,
        1,
        9,
        "t",
        0,
        batch(&BatchSpec::idempotent(7, 0, 0, 3)),
    );
    let b = c.batches("t", 0);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (b[1].base_offset, b[1].last_offset, b[1].record_count),
        (2, 4, 3)
    );
    assert_eq!(
        (b[1].producer_id, b[1].producer_epoch, b[1].base_sequence),
        (7, 0, 0)
    );
    assert_eq!(b[1].partition_leader_epoch, 2);
    assert_eq!(b[1].max_timestamp, 1_002);
    for s in b {
        assert_eq!(&s.bytes[0..8], &s.base_offset.to_be_bytes());
        let crc = u32::from_be_bytes([s.bytes[17], s.bytes[18], s.bytes[19], s.bytes[20]]);
        assert_eq!(crc, crc32c::crc32c(&s.bytes[21..]));
    }
    // kafka-protocol's decoder reads the stored bytes back too.
    let mut all = bytes::BytesMut::new();
    for s in b {
        all.extend_from_slice(&s.bytes);
    }
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut all.freeze()).unwrap();
    let offsets: Vec<i64> = sets
        .iter()
        .flat_map(|s| s.records.iter().map(|r| r.offset))
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    assert_eq!(sets[1].records[2].sequence, 2);
}

#[test]
fn acks_zero_has_no_answer_and_closes_on_error() {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let f = frame(
        9,
        1,
        &produce_request(0, &[("t", 0, Some(batch(&BatchSpec::values(2))))]),
    );
    assert_eq!(c.handle_request(1, &f, 0), Outcome::NoReply);
    assert_eq!(c.high_watermark("t", 0), 2);
    let f = frame(
        9,
        2,
        &produce_request(
            0,
            &[
                ("t", 0, Some(batch(&BatchSpec::values(1)))),
                ("nope", 0, Some(batch(&BatchSpec::values(1)))),
            ],
        ),
    );
    assert!(matches!(
        c.handle_request(1, &f, 0),
        Outcome::Close {
            processed: true,
            ..
        }
    ));
    assert_eq!(
        c.high_watermark("t", 0),
        3,
        "the valid partition was still appended"
    );
}

#[test]
fn invalid_acks_unknown_topics_and_partitions() {
    let mut c = cluster(1);
    c.create_topic("t", 2).unwrap();
    let req = produce_request(
        2,
        &[
            ("t", 0, Some(batch(&BatchSpec::values(1)))),
            ("t", 9, Some(batch(&BatchSpec::values(1)))),
            ("u", 0, Some(batch(&BatchSpec::values(1)))),
        ],
    );
    let resp = call(&mut c, 1, 8, &req);
    let codes_: Vec<(String, i32, i16)> = resp
        .responses
        .iter()
        .flat_map(|t| {
            t.partition_responses
                .iter()
                .map(move |p| (t.name.0.to_string(), p.index, p.error_code))
        })
        .collect();
    assert_eq!(
        codes_,
        [
            ("t".to_string(), 0, codes::INVALID_REQUIRED_ACKS),
            ("t".to_string(), 9, codes::UNKNOWN_TOPIC_OR_PARTITION),
            ("u".to_string(), 0, codes::UNKNOWN_TOPIC_OR_PARTITION)
        ]
    );
    assert_eq!(resp.responses[0].partition_responses[0].base_offset, -1);
    assert_eq!(c.high_watermark("t", 0), 0);
    assert_eq!(c.partition_count("u"), None, "Produce never auto-creates");
}

#[test]
fn not_leader_carries_the_kip_951_hint_from_v10() {
    let mut c = cluster(3);
    c.set_advertised(3, "three.test", 9003);
    c.create_topic("t", 1).unwrap();
    c.set_leader("t", 0, 3).unwrap();
    for v in [9, 10, 12] {
        let req = produce_request(-1, &[("t", 0, Some(batch(&BatchSpec::values(1))))]);
        let resp = call(&mut c, 1, v, &req);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, codes::NOT_LEADER_OR_FOLLOWER);
        if v >= 10 {
            assert_eq!(
                (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
                (3, 1)
            );
            assert_eq!(resp.node_endpoints.len(), 1);
            assert_eq!(resp.node_endpoints[0].node_id.0, 3);
            assert_eq!(resp.node_endpoints[0].host.as_str(), "three.test");
            assert_eq!(resp.node_endpoints[0].port, 9003);
        } else {
            assert_eq!(p.current_leader.leader_id.0, -1);
            assert!(resp.node_endpoints.is_empty());
        }
    }
    assert_eq!(c.high_watermark("t", 0), 0);
    assert_eq!(
        produce_one(&mut c, 3, 10, "t", 0, batch(&BatchSpec::values(1))).error_code,
        0
    );
}

#[test]
fn log_append_time_topics_stamp_the_broker_clock() {
    let mut c = cluster(1);
    c.create_topic_with_config(
        "lat",
        1,
        TopicConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..Default::default()
        },
    )
    .unwrap();
    let req = produce_request(-1, &[("lat", 0, Some(batch(&BatchSpec::values(2))))]);
    let resp = call_at(&mut c, 1, 9, &req, 777_000);
    assert_eq!(
        resp.responses[0].partition_responses[0].log_append_time_ms,
        777_000
    );
    let b = &c.batches("lat", 0)[0];
    assert_eq!(
        (b.timestamp_type, b.max_timestamp),
        (TimestampType::LogAppendTime, 777_000)
    );
    assert!(c
        .records("lat", 0)
        .unwrap()
        .iter()
        .all(|r| r.timestamp == 777_000));
    let crc = u32::from_be_bytes([b.bytes[17], b.bytes[18], b.bytes[19], b.bytes[20]]);
    assert_eq!(
        crc,
        crc32c::crc32c(&b.bytes[21..]),
        "CRC recomputed after the rewrite"
    );
}

#[test]
fn exactly_one_batch_per_partition() {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let mut two = bytes::BytesMut::from(&batch(&BatchSpec::values(1))[..]);
    two.extend_from_slice(&batch(&BatchSpec::values(1)));
    let a = produce_one(&mut c, 1, 8, "t", 0, two.freeze());
    assert_eq!(a.error_code, codes::INVALID_RECORD);
    assert_eq!(a.error_message, None, "Kafka sets no message for this one");
    assert_eq!(
        produce_one(&mut c, 1, 8, "t", 0, Bytes::new()).error_code,
        codes::INVALID_RECORD
    );
    let req = produce_request(-1, &[("t", 0, None)]);
    assert_eq!(
        call(&mut c, 1, 8, &req).responses[0].partition_responses[0].error_code,
        codes::INVALID_RECORD
    );
    // Trailing bytes too short to be a batch are ignored (and not stored).
    let mut tail = bytes::BytesMut::from(&batch(&BatchSpec::values(1))[..]);
    tail.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        produce_one(&mut c, 1, 8, "t", 0, tail.freeze()).error_code,
        0
    );
    assert_eq!(
        c.batches("t", 0)[0].bytes.len(),
        batch(&BatchSpec::values(1)).len()
    );
    assert_eq!(c.high_watermark("t", 0), 1);
}

#[test]
fn zstd_needs_produce_v7() {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let z = batch(&BatchSpec {
        compression: Compression::Zstd,
        ..BatchSpec::values(3)
    });
    assert_eq!(
        produce_one(&mut c, 1, 6, "t", 0, z.clone()).error_code,
        codes::UNSUPPORTED_COMPRESSION_TYPE
    );
    assert_eq!(produce_one(&mut c, 1, 7, "t", 0, z).error_code, 0);
}

#[test]
fn transactional_batches_need_a_transaction() {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let tx = batch(&BatchSpec {
        transactional: true,
        ..BatchSpec::idempotent(1, 0, 0, 1)
    });
    let a = produce_one(&mut c, 1, 8, "t", 0, tx.clone());
    assert_eq!(a.error_code, codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    let req = produce_request(-1, &[("t", 0, Some(tx))]).with_transactional_id(Some(
        kafka_protocol::messages::TransactionalId(
            kafka_protocol::protocol::StrBytes::from_static_str("tx"),
        ),
    ));
    // A transactional id the coordinator does not know.
    let a = call(&mut c, 1, 8, &req).responses[0].partition_responses[0].clone();
    assert_eq!(a.error_code, codes::INVALID_PRODUCER_ID_MAPPING);
    // Known, but the partition was not added (transactions: tests/sansio/transactions.rs).
    let init = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transactional_id(req.transactional_id.clone())
        .with_transaction_timeout_ms(60_000);
    let pid = call(&mut c, 1, 4, &init);
    assert_eq!((pid.producer_id.0, pid.producer_epoch), (0, 0));
    let tx = batch(&BatchSpec {
        transactional: true,
        ..BatchSpec::idempotent(0, 0, 0, 1)
    });
    let req = produce_request(-1, &[("t", 0, Some(tx))])
        .with_transactional_id(init.transactional_id.clone());
    let a = call(&mut c, 1, 8, &req).responses[0].partition_responses[0].clone();
    assert_eq!(a.error_code, codes::INVALID_TXN_STATE);
    assert_eq!(
        a.error_message.as_deref(),
        Some("Partition was not added to the transaction")
    );
    assert_eq!(c.high_watermark("t", 0), 0);
}

#[test]
fn several_partitions_and_topics_in_one_request_keep_their_order() {
    let mut c = MockCluster::new(ClusterConfig::default());
    c.create_topic("a", 3).unwrap();
    c.create_topic("b", 1).unwrap();
    let req = produce_request(
        1,
        &[
            ("b", 0, Some(batch(&BatchSpec::values(1)))),
            ("a", 2, Some(batch(&BatchSpec::values(2)))),
            ("a", 0, Some(batch(&BatchSpec::values(3)))),
        ],
    );
    let resp = call(&mut c, 1, 11, &req);
    assert_eq!(resp.responses[0].name.0.as_str(), "b");
    assert_eq!(
        resp.responses[1]
            .partition_responses
            .iter()
            .map(|p| p.index)
            .collect::<Vec<_>>(),
        [2, 0]
    );
    assert_eq!(
        (
            c.high_watermark("a", 0),
            c.high_watermark("a", 2),
            c.high_watermark("b", 0)
        ),
        (3, 2, 1)
    );
    let s = c.stats();
    assert_eq!((s.batches_appended, s.records_appended), (3, 6));
    assert_eq!(s.requests_of(PRODUCE), 1);
}
