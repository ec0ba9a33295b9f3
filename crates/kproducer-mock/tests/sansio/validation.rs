use bytes::{Bytes, BytesMut};
use kafka_protocol::records::Compression;
use kproducer_mock::{codes, ClusterConfig, MockCluster, TopicConfig};

use crate::common::*;

fn one(
    c: &mut MockCluster,
    records: Bytes,
) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
    produce_one(c, 1, 9, "t", 0, records)
}

fn setup() -> MockCluster {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    c
}

#[test]
fn a_bad_crc_is_corrupt_message() {
    let mut c = setup();
    let mut b = BytesMut::from(&batch(&BatchSpec::values(2))[..]);
    let last = b.len() - 1;
    b[last] ^= 0x55; // inside the CRC's range, CRC not recomputed
    let a = one(&mut c, b.freeze());
    assert_eq!(a.error_code, codes::CORRUPT_MESSAGE);
    assert_eq!(a.log_start_offset, -1);
    assert_eq!(c.high_watermark("t", 0), 0);
    assert!(c.stats().recent_errors.back().unwrap().contains("corrupt"));
}

#[test]
fn magic_other_than_two() {
    let mut c = setup();
    let b = batch(&BatchSpec::values(1));
    assert_eq!(
        one(&mut c, patch(&b, 16, &[1])).error_code,
        codes::INVALID_RECORD
    );
    assert_eq!(
        one(&mut c, patch(&b, 16, &[0])).error_code,
        codes::INVALID_RECORD
    );
    // Not a magic any batch can have: the batch iterator calls it corrupt.
    assert_eq!(
        one(&mut c, patch(&b, 16, &[7])).error_code,
        codes::CORRUPT_MESSAGE
    );
    assert_eq!(
        one(&mut c, patch(&b, 16, &[0xff])).error_code,
        codes::CORRUPT_MESSAGE
    );
}

#[test]
fn lengths_that_do_not_match_the_bytes() {
    let mut c = setup();
    let b = batch(&BatchSpec::values(3));
    // Truncated: no whole batch.
    assert_eq!(
        one(&mut c, b.slice(..b.len() - 1)).error_code,
        codes::INVALID_RECORD
    );
    assert_eq!(one(&mut c, b.slice(..10)).error_code, codes::INVALID_RECORD);
    // A size field below the minimum record overhead.
    assert_eq!(
        one(&mut c, patch(&b, 8, &13i32.to_be_bytes())).error_code,
        codes::CORRUPT_MESSAGE
    );
    // A magic-2 batch shorter than its header.
    let short = patch(&b, 8, &20i32.to_be_bytes()).slice(..32);
    assert_eq!(one(&mut c, short).error_code, codes::CORRUPT_MESSAGE);
    // A size field claiming fewer bytes than the records take: the CRC no longer matches.
    let shrunk = {
        let mut x = BytesMut::from(&b[..]);
        let len = (b.len() - 12 - 3) as i32;
        x[8..12].copy_from_slice(&len.to_be_bytes());
        x.freeze()
    };
    assert_eq!(one(&mut c, shrunk).error_code, codes::CORRUPT_MESSAGE);
    assert_eq!(c.high_watermark("t", 0), 0);
}

#[test]
fn count_and_offset_delta_must_agree() {
    let mut c = setup();
    let b = batch(&BatchSpec::values(3));
    // records_count 2 vs lastOffsetDelta 2 (3 records).
    let a = one(&mut c, patch(&b, 57, &2i32.to_be_bytes()));
    assert_eq!(a.error_code, codes::INVALID_RECORD);
    assert_eq!(
        a.log_start_offset, 0,
        "Kafka's generic failure path reports the log start offset"
    );
    // Both say 4, but only 3 records are there.
    let four = patch(&patch(&b, 57, &4i32.to_be_bytes()), 23, &3i32.to_be_bytes());
    assert_eq!(one(&mut c, four).error_code, codes::INVALID_RECORD);
    // Both say 2: a record left over.
    let two = patch(&patch(&b, 57, &2i32.to_be_bytes()), 23, &1i32.to_be_bytes());
    assert_eq!(one(&mut c, two).error_code, codes::INVALID_RECORD);
    // Zero records.
    let zero = patch(
        &patch(&b, 57, &0i32.to_be_bytes()),
        23,
        &(-1i32).to_be_bytes(),
    );
    assert_eq!(one(&mut c, zero).error_code, codes::INVALID_RECORD);
    assert_eq!(c.high_watermark("t", 0), 0);
}

#[test]
fn header_fields_kafka_checks() {
    let mut c = setup();
    let b = batch(&BatchSpec::idempotent(3, 0, 0, 2));
    // A base offset other than 0.
    assert_eq!(
        one(&mut c, patch(&b, 0, &5i64.to_be_bytes())).error_code,
        codes::INVALID_RECORD
    );
    // A producer id with no sequence.
    assert_eq!(
        one(&mut c, patch(&b, 53, &(-1i32).to_be_bytes())).error_code,
        codes::INVALID_RECORD
    );
    // A control batch from a client.
    assert_eq!(
        one(&mut c, patch(&b, 21, &0x20i16.to_be_bytes())).error_code,
        codes::INVALID_RECORD
    );
    // Codec id 5 does not exist: Kafka fails with IllegalArgumentException, UNKNOWN_SERVER_ERROR.
    assert_eq!(
        one(&mut c, patch(&b, 21, &5i16.to_be_bytes())).error_code,
        codes::UNKNOWN_SERVER_ERROR
    );
    assert_eq!(c.high_watermark("t", 0), 0);
    assert_eq!(one(&mut c, b).error_code, 0);
}

#[test]
fn message_too_large_against_broker_and_topic_limits() {
    let mut c = MockCluster::new(ClusterConfig {
        max_message_bytes: 500,
        ..Default::default()
    });
    c.create_topic("t", 1).unwrap();
    c.create_topic_with_config(
        "big",
        1,
        TopicConfig {
            max_message_bytes: Some(10_000),
            ..Default::default()
        },
    )
    .unwrap();
    let b = batch(&BatchSpec {
        values: vec![vec![7u8; 600]],
        ..Default::default()
    });
    assert!(b.len() > 500);
    let a = produce_one(&mut c, 1, 9, "t", 0, b.clone());
    assert_eq!(a.error_code, codes::MESSAGE_TOO_LARGE);
    assert_eq!(produce_one(&mut c, 1, 9, "big", 0, b).error_code, 0);
    assert_eq!(c.stats().produce_errors_of(codes::MESSAGE_TOO_LARGE), 1);
}

#[test]
fn every_codec_is_read_back() {
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut c = setup();
        let values: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("record number {i} of a compressible batch").into_bytes())
            .collect();
        let spec = BatchSpec {
            compression: codec,
            values: values.clone(),
            ..BatchSpec::idempotent(9, 1, 100, 1)
        };
        let a = one(&mut c, batch(&spec));
        assert_eq!(a.error_code, 0, "{codec:?}");
        one(
            &mut c,
            batch(&BatchSpec {
                compression: codec,
                values: vec![b"second".to_vec()],
                ..BatchSpec::idempotent(9, 1, 300, 1)
            }),
        );
        let stored = c.batches("t", 0);
        assert_eq!(format!("{:?}", stored[0].compression), format!("{codec:?}"));
        let recs = c.records("t", 0).unwrap();
        assert_eq!(recs.len(), 201, "{codec:?}");
        assert_eq!(
            recs.iter()
                .take(200)
                .map(|r| r.value.clone().unwrap().to_vec())
                .collect::<Vec<_>>(),
            values
        );
        assert_eq!(recs[199].sequence, 299);
        assert_eq!((recs[200].offset, recs[200].sequence), (200, 300));
        assert_eq!(recs[200].value.as_deref(), Some(&b"second"[..]));
    }
}

#[test]
fn a_compressed_payload_that_does_not_decompress() {
    let mut c = setup();
    let mut b = BytesMut::from(
        &batch(&BatchSpec {
            compression: Compression::Gzip,
            ..BatchSpec::values(5)
        })[..],
    );
    let at = b.len() - 6;
    b[at] ^= 0xff; // the gzip trailer's CRC32
    let b = patch(&b.freeze(), 0, &0i64.to_be_bytes()); // valid CRC again
    assert_eq!(one(&mut c, b).error_code, codes::UNKNOWN_SERVER_ERROR);
    assert_eq!(c.high_watermark("t", 0), 0);
}

#[test]
fn timestamps_out_of_range_are_record_errors() {
    let mut c = MockCluster::new(ClusterConfig {
        message_timestamp_after_max_ms: Some(60_000),
        ..Default::default()
    });
    c.create_topic("t", 1).unwrap();
    let future = batch(&BatchSpec {
        timestamp: 10_000_000,
        ..BatchSpec::values(2)
    });
    let req = produce_request(-1, &[("t", 0, Some(future))]);
    let resp = call_at(&mut c, 1, 9, &req, 1_000);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, codes::INVALID_TIMESTAMP);
    assert_eq!(p.record_errors.len(), 2);
    assert_eq!(p.record_errors[1].batch_index, 1);
    assert!(p.record_errors[0]
        .batch_index_error_message
        .as_ref()
        .unwrap()
        .contains("is out of range"));
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    // Before v8 there is no room for them.
    let resp = call_at(&mut c, 1, 7, &req, 1_000);
    assert!(resp.responses[0].partition_responses[0]
        .record_errors
        .is_empty());
    // Within range.
    let resp = call_at(&mut c, 1, 9, &req, 10_000_000);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}
