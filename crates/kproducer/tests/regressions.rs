//! Defects at the boundary between the send path and the network thread, each pinned by a test
//! that failed before its fix (run against librdkafka's mock cluster, through the public API).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kproducer::{Producer, ProducerConfig, ProducerRecord, SendError};
use kproducer_testkit::{unique_name, MockKafkaThread};

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ProducerConfig::from_map(props).expect("valid config")
}

/// The first record of an idempotent producer used to wait a whole `retry.backoff.ms`: the
/// producer id was asked for before any connection existed, failed at once, and backed off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_record_does_not_wait_out_retry_backoff_ms() {
    let mock = MockKafkaThread::new(1).expect("mock cluster");
    let topic = unique_name("first");
    mock.create_topic(&topic, 1).expect("topic");
    let producer: Producer<String, String> = Producer::new(config(
        mock.bootstrap(),
        &[
            ("retry.backoff.ms", "100000"),
            ("retry.backoff.max.ms", "100000"),
            ("delivery.timeout.ms", "300000"),
            ("request.timeout.ms", "30000"),
            ("linger.ms", "0"),
        ],
    ))
    .expect("producer");
    let started = Instant::now();
    let delivery = producer
        .send(ProducerRecord::new(&topic, "first".to_string()))
        .await
        .expect("accepted");
    let md = tokio::time::timeout(Duration::from_secs(10), delivery)
        .await
        .expect("acknowledged within 10 s, not after retry.backoff.ms (100 s)")
        .expect("delivered");
    assert_eq!(md.offset, 0);
    assert!(
        producer.producer_id_and_epoch().is_some(),
        "idempotent (the default)"
    );
    eprintln!("first record acknowledged after {:?}", started.elapsed());
    producer.close(Duration::from_secs(5)).await;
}

/// A `send` dropped while it waited for buffer memory (a `timeout` or `select!` around it) used to
/// leave its "waiting for memory" mark behind for ever, and from then on every batch went out at
/// once, `linger.ms` ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cancelled_while_waiting_for_memory_leaves_linger_in_force() {
    let mock = MockKafkaThread::new(1).expect("mock cluster");
    let topic = unique_name("cancel");
    mock.create_topic(&topic, 1).expect("topic");
    let producer: Producer<String, Vec<u8>> = Producer::new(config(
        mock.bootstrap(),
        &[
            ("linger.ms", "500"),
            ("batch.size", "16384"),
            ("buffer.memory", "65536"),
            ("max.block.ms", "60000"),
            ("enable.idempotence", "false"),
            ("acks", "1"),
        ],
    ))
    .expect("producer");
    producer.partitions_for(&topic).await.expect("metadata");
    // Slow answers keep the buffer full while the next send waits for memory.
    mock.round_trip_time(1, Duration::from_millis(1500))
        .expect("rtt");
    let mut deliveries = Vec::new();
    loop {
        match producer
            .try_send(ProducerRecord::new(&topic, vec![b'x'; 1000]))
            .await
        {
            Ok(d) => deliveries.push(d),
            Err(SendError::BufferFull { .. }) => break,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let waiting = tokio::time::timeout(
        Duration::from_millis(100),
        producer.send(ProducerRecord::new(&topic, vec![b'y'; 1000])),
    )
    .await;
    assert!(
        waiting.is_err(),
        "the send was waiting for memory, then dropped"
    );
    mock.round_trip_time(1, Duration::ZERO).expect("rtt");
    producer.flush().await;
    for d in deliveries {
        d.await.expect("delivered");
    }
    // A lone record now lingers again.
    let started = Instant::now();
    let delivery = producer
        .send(ProducerRecord::new(&topic, b"alone".to_vec()))
        .await
        .expect("accepted");
    delivery.await.expect("delivered");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "linger.ms=500 ignored: acknowledged after {waited:?}"
    );
    producer.close(Duration::from_secs(5)).await;
}

/// A callback that panicked used to kill the network thread, and every later `send` failed with
/// "closed". Java catches callback exceptions and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_callback_does_not_stop_the_producer() {
    let mock = MockKafkaThread::new(1).expect("mock cluster");
    let topic = unique_name("panic");
    mock.create_topic(&topic, 1).expect("topic");
    let producer: Producer<String, String> =
        Producer::new(config(mock.bootstrap(), &[("linger.ms", "0")])).expect("producer");
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    producer
        .send_with_callback(ProducerRecord::new(&topic, "boom".to_string()), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("a user callback panics");
        })
        .await
        .expect("accepted");
    producer.flush().await;
    assert_eq!(called.load(Ordering::SeqCst), 1);
    for i in 0..3 {
        let md = tokio::time::timeout(
            Duration::from_secs(10),
            producer
                .send(ProducerRecord::new(&topic, format!("after-{i}")))
                .await
                .expect("still accepting records"),
        )
        .await
        .expect("acknowledged")
        .expect("delivered");
        assert_eq!(md.offset, 1 + i);
    }
    producer.close(Duration::from_secs(5)).await;
}

/// `transactional.id` used to be accepted and ignored (a `tracing` warning nobody saw), so a
/// user believed they had a transactional producer. Now the producer is transactional: a send
/// before `init_transactions` (or outside a transaction) is refused at once, naming the state,
/// even when the topic's metadata is not there yet; both APIs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_id_makes_a_transactional_producer() {
    let cfg = config(
        "127.0.0.1:9",
        &[("transactional.id", "orders-tx"), ("max.block.ms", "60000")],
    );
    let producer = Producer::<String, String>::new(cfg.clone()).expect("built");
    let started = std::time::Instant::now();
    let err = producer
        .send(ProducerRecord::new("t", "v".to_string()))
        .await
        .expect_err("no transaction is open");
    assert!(
        matches!(&err, kproducer::SendError::Transaction(e) if e.kind() == kproducer::txn::TransactionErrorKind::InvalidState),
        "{err:?}"
    );
    assert!(err.to_string().contains("UNINITIALIZED"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not after max.block.ms"
    );
    producer.close(Duration::ZERO).await;
    let blocking = tokio::task::spawn_blocking(move || {
        let p = kproducer::BlockingProducer::<String, String>::new(cfg).expect("built");
        let r = p
            .send(ProducerRecord::new("t", "v".to_string()))
            .map(|_| ());
        p.close(Duration::ZERO);
        r
    })
    .await
    .expect("join");
    assert!(blocking.is_err_and(|e| e.to_string().contains("send")));
}
