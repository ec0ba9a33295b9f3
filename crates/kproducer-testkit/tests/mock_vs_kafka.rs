//! The in-process cluster (kproducer-mock behind [`Broker`]) against Apache Kafka 4.x itself:
//! the same crafted idempotent Produce requests get the same answers, librdkafka reads the same
//! records back from both, and Java's own KafkaProducer / KafkaConsumer work against the mock.
//!
//! Needs the Apache Kafka jars (`scripts/setup.sh`); skipped without them unless
//! `KPRODUCER_REQUIRE_BROKERS` is set (as `scripts/test.sh` does).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as WireTs,
};
use kproducer_testkit::{
    java_consume, java_produce, rdkafka_produce, read_all, skip_without_kafka, unique_name, Broker,
    KafkaCluster, TestRecord,
};

const IO_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn kafka() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| KafkaCluster::start(1).map_err(|e| format!("{e:#}"))) {
        Ok(c) => c,
        Err(e) => panic!("Apache Kafka did not start (run scripts/setup.sh first): {e}"),
    }
}

/// A blocking connection that sends one request at a time and decodes its answer.
struct Conn {
    stream: TcpStream,
    correlation: i32,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        Conn {
            stream,
            correlation: 0,
        }
    }

    fn call<R: Request>(&mut self, version: i16, body: &R) -> R::Response {
        self.correlation += 1;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0; 4]);
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("mock-vs-kafka")))
            .encode(&mut buf, R::header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).unwrap();
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).unwrap();
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut frame).unwrap();
        let mut b = Bytes::from(frame);
        let header = ResponseHeader::decode(&mut b, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation);
        let resp = R::Response::decode(&mut b, version).unwrap();
        assert_eq!(b.remaining(), 0, "bytes left after the response");
        resp
    }
}

/// A batch of `n` records as an idempotent producer sends it.
fn batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: WireTs::Creation,
            offset: i as i64,
            sequence: seq.wrapping_add(i as i32),
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("seq{seq}-{i}"))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
    buf.freeze()
}

/// Produce v9 (acks=all) of one batch to partition 0; the partition's (error code, base offset).
fn produce(conn: &mut Conn, topic: &str, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp = conn.call(9, &req);
    let p = &resp.responses[0].partition_responses[0];
    // The base offset only means something on success (Kafka answers -1 otherwise).
    (
        p.error_code,
        if p.error_code == 0 { p.base_offset } else { -1 },
    )
}

/// The crafted script, each step's (what, error code, base offset).
fn idempotence_script(bootstrap: &str, topic: &str) -> Vec<(&'static str, i16, i64)> {
    let mut conn = Conn::open(bootstrap);
    // A fresh Kafka answers COORDINATOR_LOAD_IN_PROGRESS (14) / COORDINATOR_NOT_AVAILABLE (15)
    // while its producer id manager starts; clients retry, so does this.
    let mut attempts = 0;
    let init = loop {
        let init = conn.call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        );
        attempts += 1;
        if matches!(init.error_code, 14 | 15) && attempts < 150 {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        break init;
    };
    assert_eq!(init.error_code, 0, "InitProducerId");
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let mut out = Vec::new();
    let mut step = |what: &'static str, records: Bytes, conn: &mut Conn| {
        let (code, offset) = produce(conn, topic, records);
        out.push((what, code, offset));
    };
    step("first batch, seq 0..2", batch(pid, epoch, 0, 3), &mut conn);
    step("next batch, seq 3..4", batch(pid, epoch, 3, 2), &mut conn);
    step(
        "retry of the first batch",
        batch(pid, epoch, 0, 3),
        &mut conn,
    );
    step(
        "retry of the second batch",
        batch(pid, epoch, 3, 2),
        &mut conn,
    );
    step("gap: seq 9 after 4", batch(pid, epoch, 9, 1), &mut conn);
    step("in order again, seq 5", batch(pid, epoch, 5, 1), &mut conn);
    step(
        "unknown producer id, seq 7",
        batch(pid + 1_000, 0, 7, 1),
        &mut conn,
    );
    step(
        "unknown producer id, seq 0",
        batch(pid + 1_001, 0, 0, 1),
        &mut conn,
    );
    step(
        "epoch bumped, seq 0",
        batch(pid, epoch + 1, 0, 1),
        &mut conn,
    );
    step(
        "old epoch after the bump",
        batch(pid, epoch, 6, 1),
        &mut conn,
    );
    step(
        "epoch bumped, seq 3 (not 0)",
        batch(pid, epoch + 2, 3, 1),
        &mut conn,
    );
    out
}

#[test]
fn idempotence_rules_answer_as_apache_kafka_does() {
    if skip_without_kafka("idempotence_rules_answer_as_apache_kafka_does") {
        return;
    }
    let topic = unique_name("idem");
    kafka().create_topic(&topic, 1, 1).unwrap();
    let broker = Broker::start().unwrap();
    broker.create_topic(&topic, 1).unwrap();

    let from_kafka = idempotence_script(&kafka().bootstrap(), &topic);
    let from_mock = idempotence_script(&broker.bootstrap(), &topic);
    for (k, m) in from_kafka.iter().zip(&from_mock) {
        eprintln!(
            "{:<32} kafka {:>3} @{:<3} mock {:>3} @{}",
            k.0, k.1, k.2, m.1, m.2
        );
    }
    assert_eq!(
        from_mock, from_kafka,
        "the mock must answer as Kafka 4.x does"
    );

    // And the rules themselves, so a change on both sides is noticed too.
    let code = |what: &str| from_mock.iter().find(|s| s.0 == what).map(|s| (s.1, s.2));
    assert_eq!(
        code("retry of the first batch"),
        Some((0, 0)),
        "duplicate acked at its offset"
    );
    assert_eq!(code("retry of the second batch"), Some((0, 3)));
    assert_eq!(
        code("gap: seq 9 after 4"),
        Some((45, -1)),
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(
        code("in order again, seq 5"),
        Some((0, 5)),
        "no second copy was written"
    );
}

/// The same records, written by librdkafka to explicit partitions with explicit timestamps,
/// read back by librdkafka from Kafka and from the mock: identical, offsets included.
#[test]
fn librdkafka_reads_the_same_records_from_kafka_and_the_mock() {
    if skip_without_kafka("librdkafka_reads_the_same_records_from_kafka_and_the_mock") {
        return;
    }
    let topic = unique_name("same");
    let records: Vec<TestRecord> = (0..600)
        .map(|i| TestRecord {
            partition: Some(i % 3),
            key: (i % 5 != 0).then(|| format!("key-{i}").into_bytes()),
            value: (i % 7 != 0)
                .then(|| format!("value {i} {}", "x".repeat(i as usize % 50)).into_bytes()),
            headers: if i % 4 == 0 {
                vec![("h".into(), Some(vec![i as u8])), ("null".into(), None)]
            } else {
                Vec::new()
            },
            timestamp: Some(1_700_000_000_000 + i64::from(i)),
        })
        .collect();
    kafka().create_topic(&topic, 3, 1).unwrap();
    let broker = Broker::start().unwrap();
    broker.create_topic(&topic, 3).unwrap();

    let mut reads = Vec::new();
    for bootstrap in [kafka().bootstrap(), broker.bootstrap()] {
        let deliveries = rdkafka_produce(&bootstrap, &topic, &records).unwrap();
        assert_eq!(deliveries.len(), records.len());
        let mut read = read_all(&bootstrap, &topic, Some(records.len()), READ_TIMEOUT).unwrap();
        read.sort_by_key(|r| (r.partition, r.offset));
        reads.push(read);
    }
    assert_eq!(reads[0].len(), records.len());
    assert_eq!(
        reads[1], reads[0],
        "mock and Kafka must return the same records"
    );
}

/// Java 4.4's KafkaProducer (idempotent by default) writes to the mock and its KafkaConsumer
/// reads everything back.
#[test]
fn javas_producer_and_consumer_work_against_the_mock() {
    if skip_without_kafka("javas_producer_and_consumer_work_against_the_mock") {
        return;
    }
    let broker = Broker::start().unwrap();
    let topic = unique_name("java");
    broker.create_topic(&topic, 3).unwrap();
    let records: Vec<TestRecord> = (0..500)
        .map(|i| {
            let mut r = TestRecord::new(
                Some(format!("k{}", i % 17).into_bytes()),
                Some(format!("java-{i}").into_bytes()),
            );
            r.headers = vec![("n".into(), Some(i.to_string().into_bytes()))];
            r
        })
        .collect();
    let deliveries = java_produce(&broker.bootstrap(), &topic, &records).unwrap();
    assert_eq!(deliveries.len(), records.len());

    let read = java_consume(
        &broker.bootstrap(),
        &topic,
        Some(records.len()),
        READ_TIMEOUT,
    )
    .unwrap();
    assert_eq!(read.len(), records.len());
    let mut values: Vec<_> = read.iter().filter_map(|r| r.value.clone()).collect();
    values.sort();
    let mut sent: Vec<_> = records.iter().filter_map(|r| r.value.clone()).collect();
    sent.sort();
    assert_eq!(values, sent);

    // Java's producer is idempotent by default: the mock saw a producer id on every batch.
    let cluster = broker.cluster();
    let cluster = cluster.lock().unwrap();
    let stored: usize = (0..3)
        .map(|p| {
            let recs = cluster.records(&topic, p).unwrap();
            assert!(
                recs.iter().all(|r| r.producer_id >= 0),
                "partition {p}: no producer id"
            );
            recs.len()
        })
        .sum();
    assert_eq!(stored, records.len(), "each record stored once");
}
