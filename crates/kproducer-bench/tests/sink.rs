//! Both clients under test complete a phase against the ack sink, and the sink counted every
//! record: the sink speaks enough Kafka for kproducer and for librdkafka.

use std::sync::atomic::Ordering;

use kproducer_bench::client::{run_kproducer, run_rdkafka, Phase, Workload};
use kproducer_bench::AckSink;

fn workload(acks: &str) -> Workload {
    Workload {
        record_size: 100,
        acks: acks.into(),
        compression: "none".into(),
        linger_ms: 5,
        batch_size: 16_384,
    }
}

#[test]
fn kproducer_and_librdkafka_are_acknowledged_by_the_sink() {
    let sink = AckSink::start(3).expect("sink starts");
    let fast = Phase {
        records: 5_000,
        rate: None,
    };
    let kp = run_kproducer(&sink.bootstrap(), "bench-kp", &workload("1"), fast).expect("kproducer");
    assert_eq!((kp.acked, kp.failed), (5_000, 0));
    assert!(kp.cpu_s > 0.0 && kp.max_rss_kib > 0 && kp.p50_us.is_none());
    assert_eq!(sink.counters().records.load(Ordering::Relaxed), 5_001);

    let rd =
        run_rdkafka(&sink.bootstrap(), "bench-rd", &workload("all"), fast).expect("librdkafka");
    assert_eq!((rd.acked, rd.failed), (5_000, 0));

    // Paced: latencies are recorded.
    let paced = Phase {
        records: 200,
        rate: Some(2_000.0),
    };
    let kp = run_kproducer(&sink.bootstrap(), "bench-kp", &workload("all"), paced).expect("paced");
    assert_eq!(kp.acked, 200);
    assert!(kp
        .p50_us
        .is_some_and(|p50| kp.p99_us.is_some_and(|p99| p50 <= p99)));

    assert_eq!(
        sink.counters().old_format_messages.load(Ordering::Relaxed),
        0,
        "every client sends record batch v2"
    );
    // Warm-up records included: 3 runs of the clients + 1 each.
    assert_eq!(
        sink.counters().records.load(Ordering::Relaxed),
        5_000 + 5_000 + 200 + 3
    );
}
