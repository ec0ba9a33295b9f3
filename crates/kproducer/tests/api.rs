//! The API as a user meets it: the obvious code compiles and works against the in-process
//! cluster (issue #19). Several of these tests are compile-level: before the fix they did not build.

use std::borrow::Cow;
use std::time::Duration;

use kproducer::producer::{BlockingProducer, ProducerBuilder};
use kproducer::serializer::{SerializationError, Serializer};
use kproducer::{Header, ProducerConfig, ProducerRecord};
use kproducer_testkit::{unique_name, Broker};

fn config(bootstrap: &str) -> ProducerConfig {
    ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .linger(Duration::from_millis(1))
        .build()
        .expect("valid config")
}

/// A user type without a built-in serializer.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

/// Its serializer, written by the user.
struct PointSerializer;

impl Serializer<Point> for PointSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        p: &'a Point,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(Some(Cow::Owned(format!("{},{}", p.x, p.y).into_bytes())))
    }
}

/// The stored values of partition 0 of `topic`, as text.
fn stored_values(broker: &Broker, topic: &str) -> Vec<String> {
    let cluster = broker.cluster();
    let cluster = cluster.lock().expect("cluster lock");
    cluster
        .records(topic, 0)
        .expect("records")
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.value.expect("a value")).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_serializer_given_to_the_builder_builds_with_build() {
    let broker = Broker::start().expect("broker");
    let topic = unique_name("custom-value");
    // Only the value type lacks a default: the key keeps String's built-in serializer.
    let producer = ProducerBuilder::<String, Point>::new(config(&broker.bootstrap()))
        .value_serializer(PointSerializer)
        .build()
        .expect("producer");
    let md = producer
        .send(ProducerRecord::new(&topic, Point { x: 3, y: -4 }).with_key("k".to_string()))
        .await
        .expect("accepted")
        .await
        .expect("delivered");
    assert_eq!(md.offset, 0);
    producer.close(Duration::from_secs(10)).await;
    assert_eq!(stored_values(&broker, &topic), ["3,-4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_serializer_given_to_the_builder_builds_with_build() {
    let broker = Broker::start().expect("broker");
    let topic = unique_name("custom-key");
    let producer = ProducerBuilder::<Point, String>::new(config(&broker.bootstrap()))
        .key_serializer(PointSerializer)
        .build()
        .expect("producer");
    producer
        .send(ProducerRecord::new(&topic, "v".to_string()).with_key(Point { x: 1, y: 2 }))
        .await
        .expect("accepted")
        .await
        .expect("delivered");
    producer.close(Duration::from_secs(10)).await;
    let cluster = broker.cluster();
    let key = cluster
        .lock()
        .expect("lock")
        .records(&topic, 0)
        .expect("records")[0]
        .key
        .clone();
    assert_eq!(key.as_deref(), Some(&b"1,2"[..]));
}

#[test]
fn a_blocking_producer_takes_a_builder_with_a_custom_serializer() {
    let broker = Broker::start().expect("broker");
    let topic = unique_name("custom-blocking");
    let builder = ProducerBuilder::<String, Point>::new(config(&broker.bootstrap()))
        .value_serializer(PointSerializer);
    let producer = BlockingProducer::from_builder(builder).expect("producer");
    producer
        .send_and_wait(ProducerRecord::new(&topic, Point { x: 5, y: 6 }))
        .expect("delivered");
    producer.close(Duration::from_secs(10));
    assert_eq!(stored_values(&broker, &topic), ["5,6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serializer_given_to_the_builder_wins_over_build_with() {
    let broker = Broker::start().expect("broker");
    let topic = unique_name("given-wins");
    let producer = ProducerBuilder::<String, Point>::new(config(&broker.bootstrap()))
        .value_serializer(PointSerializer)
        .build_with(
            std::sync::Arc::new(kproducer::serializer::StringSerializer),
            std::sync::Arc::new(NeverSerializer),
        )
        .expect("producer");
    producer
        .send(ProducerRecord::new(&topic, Point { x: 7, y: 8 }))
        .await
        .expect("accepted")
        .await
        .expect("delivered");
    producer.close(Duration::from_secs(10)).await;
    assert_eq!(stored_values(&broker, &topic), ["7,8"]);
}

/// Fails every record: shows which serializer ran.
struct NeverSerializer;

impl Serializer<Point> for NeverSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        _p: &'a Point,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Err(SerializationError("the fallback serializer ran".into()))
    }
}

/// JSON keys and values through the builder; what serde refuses is a typed send error.
#[cfg(feature = "serde")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_values_are_sent_and_a_serde_failure_is_a_serialization_error() {
    use std::collections::BTreeMap;

    use kproducer::serializer::JsonSerializer;
    use kproducer::SendError;

    #[derive(serde::Serialize)]
    struct Order {
        id: u64,
        // Non-string map keys are not JSON: serde_json refuses them.
        extra: BTreeMap<(i32, i32), i32>,
    }

    let broker = Broker::start().expect("broker");
    let topic = unique_name("json");
    let producer = ProducerBuilder::<Order, Order>::new(config(&broker.bootstrap()))
        .key_serializer(JsonSerializer)
        .value_serializer(JsonSerializer)
        .build()
        .expect("producer");
    let order = |id| Order {
        id,
        extra: BTreeMap::new(),
    };
    producer
        .send(ProducerRecord::new(&topic, order(2)).with_key(order(1)))
        .await
        .expect("accepted")
        .await
        .expect("delivered");

    let bad = Order {
        id: 3,
        extra: [((1, 2), 3)].into(),
    };
    let err = producer
        .send(ProducerRecord::new(&topic, bad))
        .await
        .expect_err("serde refuses the value");
    match &err {
        SendError::Serialization { what, topic: t, .. } => {
            assert_eq!(*what, "value");
            assert_eq!(t, &topic);
        }
        other => panic!("expected a serialization error, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with("SerializationException"),
        "{err}"
    );
    producer.close(Duration::from_secs(10)).await;

    let cluster = broker.cluster();
    let records = cluster
        .lock()
        .expect("lock")
        .records(&topic, 0)
        .expect("records");
    assert_eq!(records.len(), 1, "the refused record was not sent");
    assert_eq!(
        records[0].key.as_deref(),
        Some(&br#"{"id":1,"extra":{}}"#[..])
    );
    assert_eq!(
        records[0].value.as_deref(),
        Some(&br#"{"id":2,"extra":{}}"#[..])
    );
}

/// A producer whose Produce answers the broker holds for `hold` (metadata already known).
fn held_answers(broker: &Broker, hold: Duration) {
    use kproducer_mock::{FaultAction, FaultRule, Schedule};
    let cluster = broker.cluster();
    let mut cluster = cluster.lock().expect("lock");
    cluster
        .faults()
        .add(FaultRule::new(FaultAction::Delay(hold), Schedule::Always).api(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_timeout_returns_a_timeout_within_the_bound_and_ok_once_acknowledged() {
    use kproducer::FlushError;

    let broker = Broker::start().expect("broker");
    let topic = unique_name("flush-bound");
    let producer: kproducer::Producer<String, String> =
        kproducer::Producer::new(config(&broker.bootstrap())).expect("producer");
    // Nothing buffered: done at once.
    producer
        .flush_timeout(Duration::ZERO)
        .await
        .expect("nothing to flush");
    // Metadata and a connection first, so the flush below waits for the answer only.
    producer
        .send(ProducerRecord::new(&topic, "warm".to_string()))
        .await
        .expect("accepted")
        .await
        .expect("delivered");

    held_answers(&broker, Duration::from_secs(3));
    let delivery = producer
        .send(ProducerRecord::new(&topic, "held".to_string()))
        .await
        .expect("accepted");
    let bound = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = producer
        .flush_timeout(bound)
        .await
        .expect_err("the answer is held longer than the bound");
    let waited = started.elapsed();
    assert_eq!(err, FlushError::Timeout { timeout_ms: 300 });
    assert!(err.to_string().starts_with("TimeoutException"), "{err}");
    assert!(err.is_retriable());
    assert!(
        waited >= bound && waited < bound + Duration::from_secs(1),
        "returned after {waited:?}"
    );

    // The record was not failed by the timed-out flush: a longer one sees it acknowledged.
    producer
        .flush_timeout(Duration::from_secs(20))
        .await
        .expect("acknowledged within 20 s");
    delivery.await.expect("delivered");
    producer.close(Duration::from_secs(10)).await;
}

#[test]
fn blocking_flush_timeout_is_bounded_too() {
    let broker = Broker::start().expect("broker");
    let topic = unique_name("flush-bound-blocking");
    let producer: BlockingProducer<String, String> =
        BlockingProducer::new(config(&broker.bootstrap())).expect("producer");
    producer
        .send_and_wait(ProducerRecord::new(&topic, "warm".to_string()))
        .expect("delivered");
    held_answers(&broker, Duration::from_secs(3));
    let delivery = producer
        .send(ProducerRecord::new(&topic, "held".to_string()))
        .expect("accepted");
    let started = std::time::Instant::now();
    let err = producer
        .flush_timeout(Duration::from_millis(300))
        .expect_err("the answer is held longer than the bound");
    assert!(
        started.elapsed() < Duration::from_millis(1300),
        "{:?}",
        started.elapsed()
    );
    // Any kproducer error converts into KafkaError.
    let any: kproducer::KafkaError = err.into();
    assert!(matches!(any, kproducer::KafkaError::Flush(_)), "{any:?}");
    producer
        .flush_timeout(Duration::from_secs(20))
        .expect("acknowledged within 20 s");
    delivery.wait().expect("delivered");
    producer.close(Duration::from_secs(10));
}

#[test]
fn a_header_value_can_borrow_a_local_buffer() {
    // A slice of a local buffer (E0597 when headers took `Into<Bytes>`, which wants 'static).
    let trace: Vec<u8> = (0..4).collect();
    let record: ProducerRecord<String, kproducer::Bytes> =
        ProducerRecord::new("t", kproducer::Bytes::from_static(b"v"))
            .with_header("trace", trace.as_slice())
            .with_header("text", "web")
            .with_header("owned", trace.clone())
            .with_header("array", [9u8, 9]);
    drop(trace);
    let values: Vec<&[u8]> = record
        .headers
        .iter()
        .map(|h| h.value.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(values, [&[0, 1, 2, 3][..], b"web", &[0, 1, 2, 3], &[9, 9]]);
}
