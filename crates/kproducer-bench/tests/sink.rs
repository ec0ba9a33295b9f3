//! Every client under test completes a phase against the ack sink, and the sink counted every
//! record: the sink speaks enough Kafka for kproducer, librdkafka, Java's producer and franz-go.

use std::sync::atomic::Ordering;

use kproducer_bench::client::{
    kproducer_setup, rdkafka_setup, run_kproducer, run_rdkafka, Phase, Workload,
};
use kproducer_bench::{AckSink, Security, SinkSecurity};

fn workload(acks: &str) -> Workload {
    Workload {
        record_size: 100,
        acks: acks.into(),
        compression: "none".into(),
        linger_ms: 5,
        batch_size: 16_384,
        settings: Default::default(),
    }
}

#[test]
fn kproducer_and_librdkafka_are_acknowledged_by_the_sink() {
    let sink = AckSink::start(3).expect("sink starts");
    let fast = Phase {
        records: 5_000,
        rate: None,
    };
    let kp = run_kproducer(
        &sink.bootstrap(),
        "bench-kp",
        &workload("1"),
        fast,
        &Security::default(),
    )
    .expect("kproducer");
    assert_eq!((kp.acked, kp.failed), (5_000, 0));
    assert!(kp.cpu_s > 0.0 && kp.max_rss_kib > 0 && kp.p50_us.is_none());
    assert_eq!(sink.counters().records.load(Ordering::Relaxed), 5_001);

    let rd = run_rdkafka(
        &sink.bootstrap(),
        "bench-rd",
        &workload("all"),
        fast,
        &Security::default(),
    )
    .expect("librdkafka");
    assert_eq!((rd.acked, rd.failed), (5_000, 0));

    // Paced: latencies are recorded.
    let paced = Phase {
        records: 200,
        rate: Some(2_000.0),
    };
    let kp = run_kproducer(
        &sink.bootstrap(),
        "bench-kp",
        &workload("all"),
        paced,
        &Security::default(),
    )
    .expect("paced");
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

/// Over TLS (`--targets sink-tls`) both clients are acknowledged by the sink; with SCRAM too
/// (the set-up measurement), and a wrong password is refused.
#[test]
fn kproducer_and_librdkafka_are_acknowledged_over_tls_and_scram() {
    let sink = AckSink::start_secured(
        3,
        SinkSecurity {
            tls: true,
            scram: None,
        },
    )
    .expect("TLS sink starts");
    let tls = Security {
        ca_file: Some(sink.tls().expect("TLS material").ca_file.clone()),
        scram: None,
    };
    let fast = Phase {
        records: 5_000,
        rate: None,
    };
    let kp = run_kproducer(&sink.bootstrap(), "tls-kp", &workload("1"), fast, &tls).expect("kp");
    assert_eq!((kp.acked, kp.failed), (5_000, 0));
    let rd = run_rdkafka(&sink.bootstrap(), "tls-rd", &workload("all"), fast, &tls).expect("rd");
    assert_eq!((rd.acked, rd.failed), (5_000, 0));
    assert_eq!(sink.counters().records.load(Ordering::Relaxed), 10_002);
    assert!(!sink.take_setup_times().is_empty());

    let creds = ("bench".to_string(), "bench-secret".to_string());
    let sink = AckSink::start_secured(
        3,
        SinkSecurity {
            tls: true,
            scram: Some(creds.clone()),
        },
    )
    .expect("SASL_SSL sink starts");
    let mut sasl_ssl = Security {
        ca_file: Some(sink.tls().expect("TLS material").ca_file.clone()),
        scram: Some(creds),
    };
    kproducer_setup(&sink.bootstrap(), "scram-kp", &sasl_ssl).expect("kproducer over SASL_SSL");
    rdkafka_setup(&sink.bootstrap(), "scram-rd", &sasl_ssl).expect("librdkafka over SASL_SSL");
    assert_eq!(sink.counters().records.load(Ordering::Relaxed), 2);
    let setups = sink.take_setup_times();
    assert!(setups.len() >= 2, "{setups:?}");
    sasl_ssl.scram = Some(("bench".into(), "wrong".into()));
    assert!(kproducer_setup(&sink.bootstrap(), "scram-kp", &sasl_ssl).is_err());
}

/// Java's producer (Apache Kafka's ProducerPerformance, 4.4) negotiates versions with the sink
/// (its ApiVersions v5 is refused with UNSUPPORTED_VERSION, as Kafka does, and it retries at v3)
/// and every record, warm-up included, is acknowledged.
#[test]
fn java_is_acknowledged_by_the_sink() {
    if kproducer_testkit::skip_without_kafka("java_is_acknowledged_by_the_sink") {
        return;
    }
    let sink = AckSink::start(3).expect("sink starts");
    let phase = Phase {
        records: 20_000,
        rate: None,
    };
    let r =
        kproducer_bench::peers::run_java(&sink.bootstrap(), "bench-java", &workload("all"), phase)
            .expect("java runs (scripts/setup.sh fetches kafka-tools)");
    assert_eq!((r.acked, r.failed), (20_000, 0));
    assert!(r.elapsed_s > 0.0 && r.cpu_s > 0.0 && r.max_rss_kib > 0 && r.p50_us.is_none());
    let warmup = kproducer_bench::peers::java_warmup_records(phase);
    assert_eq!(
        sink.counters().records.load(Ordering::Relaxed),
        20_000 + warmup
    );
    assert_eq!(
        sink.counters().old_format_messages.load(Ordering::Relaxed),
        0
    );

    // Paced through its own throttle: latencies are reported.
    let paced = Phase {
        records: 500,
        rate: Some(1_000.0),
    };
    let r =
        kproducer_bench::peers::run_java(&sink.bootstrap(), "bench-java", &workload("1"), paced)
            .expect("paced java");
    assert_eq!(r.acked, 500);
    assert!(r
        .p50_us
        .is_some_and(|p50| r.p99_us.is_some_and(|p99| p50 <= p99)));
}

/// franz-go (the Go program built by scripts/setup.sh) completes against the sink, compressed
/// and paced too.
#[test]
fn franz_go_is_acknowledged_by_the_sink() {
    if std::env::var_os(kproducer_testkit::REQUIRE_BROKERS_ENV).is_none() {
        if let Err(e) = kproducer_bench::peers::franz_bench_bin() {
            eprintln!("SKIPPED franz_go_is_acknowledged_by_the_sink: {e:#}");
            return;
        }
    }
    let sink = AckSink::start(3).expect("sink starts");
    let mut w = workload("1");
    w.compression = "lz4".into();
    let fast = Phase {
        records: 20_000,
        rate: None,
    };
    let r = kproducer_bench::peers::run_franz(&sink.bootstrap(), "bench-franz", &w, fast)
        .expect("franz-go runs (scripts/setup.sh builds it)");
    assert_eq!(
        (r.client.as_str(), r.acked, r.failed),
        ("franz-go", 20_000, 0)
    );
    assert!(r.elapsed_s > 0.0 && r.max_rss_kib > 0 && r.p50_us.is_none());

    let paced = Phase {
        records: 300,
        rate: Some(1_000.0),
    };
    let r = kproducer_bench::peers::run_franz(
        &sink.bootstrap(),
        "bench-franz",
        &workload("all"),
        paced,
    )
    .expect("paced franz-go");
    assert_eq!(r.acked, 300);
    assert!(r
        .p50_us
        .is_some_and(|p50| r.p99_us.is_some_and(|p99| p50 <= p99)));
    // Warm-up records included.
    assert_eq!(
        sink.counters().records.load(Ordering::Relaxed),
        20_000 + 300 + 2
    );
    assert_eq!(
        sink.counters().old_format_messages.load(Ordering::Relaxed),
        0
    );
}
