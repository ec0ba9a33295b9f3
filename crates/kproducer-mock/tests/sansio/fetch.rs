//! Fetch and ListOffsets: enough for a consumer to read back.

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use kproducer_mock::{codes, MockCluster, Outcome};

use crate::common::*;

fn fetch_req(topic: &str, partition: i32, offset: i64, max: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(max)])])
}

fn filled() -> MockCluster {
    let mut c = cluster(2);
    c.create_topic("t", 1).unwrap();
    for i in 0..4 {
        produce_one(
            &mut c,
            1,
            9,
            "t",
            0,
            batch(&BatchSpec {
                timestamp: 1_000 * (i + 1),
                ..BatchSpec::values(3)
            }),
        );
    }
    c
}

#[test]
fn fetch_returns_the_batches_from_the_offset() {
    let mut c = filled();
    for v in [4, 7, 11, 12] {
        let resp = call(&mut c, 1, v, &fetch_req("t", 0, 4, 1 << 20));
        let p = &resp.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 12), "v{v}");
        let mut recs = p.records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut recs).unwrap();
        // From the batch holding offset 4 (offsets 3..=5) to the end.
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0].records[0].offset, 3);
    }
    // partition_max_bytes: one batch fits; the first is always returned.
    let one = c.batches("t", 0)[0].bytes.len() as i32;
    let resp = call(&mut c, 1, 12, &fetch_req("t", 0, 0, one + 10));
    assert_eq!(
        resp.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        one as usize
    );
    let resp = call(&mut c, 1, 12, &fetch_req("t", 0, 0, 1));
    assert_eq!(
        resp.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        one as usize
    );
}

#[test]
fn fetch_errors_and_waiting_for_data() {
    let mut c = filled();
    let code = |c: &mut MockCluster, broker, req: &FetchRequest| {
        call(c, broker, 12, req).responses[0].partitions[0].error_code
    };
    assert_eq!(
        code(&mut c, 1, &fetch_req("t", 0, 13, 1000)),
        codes::OFFSET_OUT_OF_RANGE
    );
    assert_eq!(
        code(&mut c, 1, &fetch_req("t", 5, 0, 1000)),
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        code(&mut c, 2, &fetch_req("t", 0, 0, 1000)),
        codes::NOT_LEADER_OR_FOLLOWER
    );
    let mut fenced = fetch_req("t", 0, 0, 1000);
    c.set_leader("t", 0, 2).unwrap();
    c.set_leader("t", 0, 1).unwrap();
    fenced.topics[0].partitions[0].current_leader_epoch = 1;
    assert_eq!(code(&mut c, 1, &fenced), codes::FENCED_LEADER_EPOCH);
    fenced.topics[0].partitions[0].current_leader_epoch = 3;
    assert_eq!(code(&mut c, 1, &fenced), codes::UNKNOWN_LEADER_EPOCH);
    // At the end of the log: no data, the answer waits max_wait_ms.
    match c.handle_request(1, &frame(12, 1, &fetch_req("t", 0, 12, 1000)), 0) {
        Outcome::Reply { delay, .. } => assert_eq!(delay, Duration::from_millis(500)),
        o => panic!("{o:?}"),
    }
    // Sessions are not created: a request naming one is refused.
    let resp = call(
        &mut c,
        1,
        12,
        &fetch_req("t", 0, 0, 1000)
            .with_session_id(77)
            .with_session_epoch(1),
    );
    assert_eq!(resp.error_code, 70);
    assert_eq!(
        call(&mut c, 1, 12, &fetch_req("t", 0, 0, 1000)).session_id,
        0
    );
}

#[test]
fn list_offsets_by_timestamp() {
    let mut c = filled();
    let q = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)
                    .with_current_leader_epoch(-1)])])
    };
    let get = |c: &mut MockCluster, v: i16, ts: i64| {
        let p = call(c, 1, v, &q(ts)).topics[0].partitions[0].clone();
        (p.error_code, p.timestamp, p.offset)
    };
    for v in [1, 4, 6, 8] {
        assert_eq!(get(&mut c, v, -2), (0, -1, 0), "v{v}");
        assert_eq!(get(&mut c, v, -1), (0, -1, 12), "v{v}");
    }
    // Batch i holds timestamps 1000(i+1) + 0..3.
    assert_eq!(get(&mut c, 8, 2_001), (0, 2_001, 4));
    assert_eq!(get(&mut c, 8, 2_500), (0, 3_000, 6));
    assert_eq!(get(&mut c, 8, 9_999), (0, -1, -1));
    assert_eq!(get(&mut c, 8, -3), (0, 4_002, 11));
    assert_eq!(get(&mut c, 6, -3).0, codes::UNSUPPORTED_VERSION);
    assert_eq!(get(&mut c, 8, -4), (0, -1, 0));
    let p = call(&mut c, 2, 8, &q(-1)).topics[0].partitions[0].clone();
    assert_eq!(p.error_code, codes::NOT_LEADER_OR_FOLLOWER);
}
