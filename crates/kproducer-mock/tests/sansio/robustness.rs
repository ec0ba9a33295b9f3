//! Malformed requests never panic the cluster: they close the connection or get an error code.

use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiVersionsRequest, BrokerId, CreateTopicsRequest, FetchRequest, FindCoordinatorRequest,
    ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kproducer_mock::{Outcome, SplitMix64};

use crate::common::*;

fn valid_frames() -> Vec<bytes::Bytes> {
    let mut v = vec![
        frame(3, 1, &ApiVersionsRequest::default()),
        frame(0, 1, &MetadataRequest::default().with_topics(Some(vec![]))),
        frame(12, 1, &MetadataRequest::default().with_topics(None)),
        frame(4, 1, &init_pid()),
    ];
    let fetch = FetchRequest::default().with_topics(vec![FetchTopic::default()
        .with_topic(TopicName(StrBytes::from_static_str("t")))
        .with_partitions(vec![
            FetchPartition::default().with_partition_max_bytes(1 << 20)
        ])]);
    let list = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)])]);
    for version in [4, 7, 12] {
        v.push(frame(version, 1, &fetch));
    }
    let mut create = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("fresh")))
        .with_num_partitions(2)
        .with_replication_factor(1)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("max.message.bytes"))
            .with_value(Some(StrBytes::from_static_str("1000")))])]);
    create.topics[0].assignments = vec![CreatableReplicaAssignment::default()
        .with_partition_index(0)
        .with_broker_ids(vec![BrokerId(1)])];
    for version in [2, 5, 7] {
        v.push(frame(version, 1, &create));
    }
    for version in [0, 3] {
        v.push(frame(
            version,
            1,
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
        ));
    }
    v.push(frame(
        6,
        1,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![StrBytes::from_static_str("t1"); 3]),
    ));
    for version in [1, 6, 8] {
        v.push(frame(version, 1, &list));
    }
    for version in [3, 8, 9, 12] {
        v.push(frame(
            version,
            1,
            &produce_request(
                -1,
                &[("t", 0, Some(batch(&BatchSpec::idempotent(1, 0, 0, 3))))],
            ),
        ));
        v.push(frame(
            version,
            1,
            &produce_request(
                1,
                &[(
                    "t",
                    0,
                    Some(batch(&BatchSpec {
                        compression: kafka_protocol::records::Compression::Gzip,
                        ..BatchSpec::values(4)
                    })),
                )],
            ),
        ));
    }
    v
}

#[test]
fn mutated_and_random_frames_never_panic() {
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let frames = valid_frames();
    let mut rng = SplitMix64::new(99);
    let mut replies = 0;
    let mut closes = 0;
    for i in 0..20_000 {
        let base = &frames[i % frames.len()];
        let mut f = base.to_vec();
        match rng.next_u64() % 4 {
            0 => {
                let n = 1 + rng.next_u64() as usize % 4;
                for _ in 0..n {
                    let at = rng.next_u64() as usize % f.len();
                    f[at] ^= 1 << (rng.next_u64() % 8);
                }
            }
            1 => {
                let at = rng.next_u64() as usize % f.len();
                f.truncate(at);
            }
            2 => {
                let at = rng.next_u64() as usize % f.len();
                f[at] = 0xff;
                if at + 1 < f.len() {
                    f[at + 1] = 0xff;
                }
            }
            _ => {
                let n = rng.next_u64() as usize % 64;
                f = (0..n).map(|_| rng.next_u64() as u8).collect();
            }
        }
        match c.handle_request(1, &f, 0) {
            Outcome::Reply { frame, .. } => {
                replies += 1;
                let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
                assert_eq!(size, frame.len() - 4);
            }
            Outcome::Close { .. } => closes += 1,
            Outcome::NoReply | Outcome::Dropped => {}
        }
    }
    assert!(
        replies > 1000 && closes > 1000,
        "{replies} replies, {closes} closes"
    );
    assert!(c.stats().malformed_requests > 0);
    // Still serving normally.
    let ok = call(&mut c, 1, 12, &MetadataRequest::default().with_topics(None));
    assert_eq!(ok.topics.len(), c.topics().len());
    let records = c.records("t", 0).unwrap();
    assert_eq!(records.len() as i64, c.high_watermark("t", 0));
}

#[test]
fn hostile_array_lengths_are_refused_without_allocating() {
    let mut c = cluster(1);
    // Metadata v1 whose topic array claims i32::MAX entries.
    let mut f = frame(1, 1, &MetadataRequest::default().with_topics(Some(vec![]))).to_vec();
    let n = f.len();
    f[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        c.handle_request(1, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    // CreateTopics v2 and FindCoordinator v4 whose arrays claim i32::MAX entries.
    let create = CreateTopicsRequest::default().with_topics(vec![]);
    let mut f = frame(2, 1, &create).to_vec();
    let n = f.len();
    // The topic array, then timeout_ms and validate_only.
    f[n - 9..n - 5].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        c.handle_request(1, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    let mut f = frame(4, 1, &FindCoordinatorRequest::default()).to_vec();
    let n = f.len();
    // Compact array length (varint), then the empty tagged fields.
    f.truncate(n - 2);
    f.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07, 0]);
    assert!(matches!(
        c.handle_request(1, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    assert_eq!(c.stats().malformed_requests, 3, "with the Metadata one");
    assert!(c.topics().is_empty());
    // Produce v3 whose topic array claims i32::MAX entries.
    let mut f = frame(3, 1, &produce_request(1, &[])).to_vec();
    let n = f.len();
    f[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        c.handle_request(1, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
}

#[test]
fn unchecked_record_fields_are_stored_as_kafka_stores_them() {
    // Kafka does not check the offset deltas of an uncompressed batch's records: a record with
    // offset delta -3 is appended as sent, and reading it back must not overflow anything.
    let mut c = cluster(1);
    c.create_topic("t", 1).unwrap();
    let b = batch(&BatchSpec::idempotent(1, 0, 1, 1));
    assert_eq!(b[64], 0, "the first record's offset delta");
    let hostile = patch(&b, 64, &[5]); // zig-zag -3
    assert_eq!(produce_one(&mut c, 1, 9, "t", 0, hostile).error_code, 0);
    let r = c.records("t", 0).unwrap();
    assert_eq!((r[0].offset, r[0].sequence), (-3, i32::MAX - 1));
    assert_eq!(c.high_watermark("t", 0), 1);
}
