use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn answer(metrics: &[&str], interval_ms: i32) -> SubscriptionAnswer {
    SubscriptionAnswer {
        error_code: 0,
        client_instance_id: [7; 16],
        subscription_id: 42,
        accepted_compression: vec![4, 3, 1, 2],
        push_interval_ms: interval_ms,
        telemetry_max_bytes: 1 << 20,
        delta_temporality: false,
        requested_metrics: metrics.iter().map(|s| s.to_string()).collect(),
    }
}

/// A client with a subscription to `metrics` every 1000 ms, taken at `t0` with no jitter
/// (factor 0.5: the first push is due at t0 + 500 ms).
fn subscribed(t0: Instant, metrics: &[&str]) -> ClientTelemetry {
    let mut c = ClientTelemetry::new();
    assert!(matches!(
        c.poll_request(t0),
        Some(TelemetryRequest::GetSubscriptions { client_instance_id }) if client_instance_id == ClientInstanceId::ZERO
    ));
    c.handle_subscription(answer(metrics, 1000), t0, 0.0);
    c
}

#[test]
fn subscription_first_then_pushes_every_interval_with_a_jittered_first() {
    let t0 = Instant::now();
    let mut c = ClientTelemetry::new();
    assert!(
        c.is_due(t0),
        "the first GetTelemetrySubscriptions goes at once"
    );
    assert_eq!(c.next_due(t0), Some(t0));
    c.poll_request(t0).unwrap();
    assert_eq!(c.state(), TelemetryState::SubscriptionInProgress);
    assert_eq!(c.poll_request(t0), None, "one request at a time");
    assert_eq!(c.next_due(t0), None);
    c.handle_subscription(answer(&["org.apache.kafka.producer."], 1000), t0, 0.75);
    assert_eq!(c.client_instance_id(), Some(ClientInstanceId([7; 16])));
    assert_eq!(c.state(), TelemetryState::PushNeeded);
    // 0.5 + 0.75 = 1.25 × the interval.
    assert_eq!(c.next_due(t0), Some(t0 + ms(1250)));
    assert_eq!(c.poll_request(t0 + ms(1249)), None);
    let Some(TelemetryRequest::Push {
        subscription,
        terminating,
    }) = c.poll_request(t0 + ms(1250))
    else {
        panic!("push due")
    };
    assert!(!terminating);
    assert_eq!(subscription.subscription_id, 42);
    assert_eq!(subscription.accepted_compression, vec![4, 3, 1, 2]);
    c.handle_push(0, t0 + ms(1300));
    assert_eq!(c.state(), TelemetryState::PushNeeded);
    assert_eq!(
        c.next_due(t0 + ms(1300)),
        Some(t0 + ms(2300)),
        "then every interval"
    );
}

#[test]
fn no_metrics_requested_asks_again_after_the_interval_without_pushing() {
    let t0 = Instant::now();
    let mut c = subscribed(t0, &[]);
    assert_eq!(c.state(), TelemetryState::SubscriptionNeeded);
    assert!(c.client_instance_id().is_some());
    assert_eq!(c.next_due(t0), Some(t0 + ms(1000)));
    match c.poll_request(t0 + ms(1000)) {
        Some(TelemetryRequest::GetSubscriptions { client_instance_id }) => {
            assert_eq!(
                client_instance_id,
                ClientInstanceId([7; 16]),
                "keeps its id"
            )
        }
        other => panic!("{other:?}"),
    }
    // Closing without a push to make.
    assert!(!c.initiate_close());
    assert_eq!(c.state(), TelemetryState::Terminated);
    assert_eq!(c.poll_request(t0 + ms(10_000)), None);
}

#[test]
fn broker_errors_follow_javas_table() {
    let t0 = Instant::now();
    // UNKNOWN_SUBSCRIPTION_ID on a push: a new subscription at once.
    let mut c = subscribed(t0, &["*"]);
    c.poll_request(t0 + ms(500)).unwrap();
    c.handle_push(117, t0 + ms(600));
    assert_eq!(c.state(), TelemetryState::SubscriptionNeeded);
    assert!(c.is_due(t0 + ms(600)));
    // TELEMETRY_TOO_LARGE: at the next interval.
    let mut c = subscribed(t0, &["*"]);
    c.poll_request(t0 + ms(500)).unwrap();
    c.handle_push(118, t0 + ms(600));
    assert_eq!(c.next_due(t0 + ms(600)), Some(t0 + ms(1600)));
    // INVALID_RECORD: telemetry off for good.
    let mut c = subscribed(t0, &["*"]);
    c.poll_request(t0 + ms(500)).unwrap();
    c.handle_push(87, t0 + ms(600));
    assert!(!c.is_enabled());
    assert_eq!(c.next_due(t0 + ms(600)), None);
    assert_eq!(c.poll_request(t0 + ms(100_000)), None);
    // An unknown error on GetTelemetrySubscriptions: off too (Java: "unmapped error").
    let mut c = ClientTelemetry::new();
    c.poll_request(t0).unwrap();
    let mut a = answer(&["*"], 1000);
    a.error_code = 1;
    c.handle_subscription(a, t0, 0.0);
    assert!(!c.is_enabled());
}

#[test]
fn a_lost_request_asks_again_after_the_wait_and_an_unsupported_api_stops() {
    let t0 = Instant::now();
    let mut c = subscribed(t0, &["*"]);
    c.poll_request(t0 + ms(500)).unwrap();
    c.request_failed(true, ms(100), t0 + ms(700));
    assert_eq!(c.state(), TelemetryState::SubscriptionNeeded);
    assert_eq!(c.next_due(t0 + ms(700)), Some(t0 + ms(800)));
    match c.poll_request(t0 + ms(800)) {
        Some(TelemetryRequest::GetSubscriptions { client_instance_id }) => {
            assert_eq!(client_instance_id, ClientInstanceId([7; 16]))
        }
        other => panic!("{other:?}"),
    }
    c.request_failed(false, Duration::ZERO, t0 + ms(900));
    assert!(!c.is_enabled());
}

#[test]
fn unsend_puts_the_request_back() {
    let t0 = Instant::now();
    let mut c = subscribed(t0, &["*"]);
    assert!(c.poll_request(t0 + ms(500)).is_some());
    c.unsend();
    assert_eq!(c.state(), TelemetryState::PushNeeded);
    assert!(c.poll_request(t0 + ms(500)).is_some());
}

#[test]
fn close_makes_one_terminating_push_even_with_a_push_in_flight() {
    let t0 = Instant::now();
    let mut c = subscribed(t0, &["*"]);
    c.poll_request(t0 + ms(500)).unwrap();
    assert!(c.initiate_close());
    assert!(c.is_terminating());
    // The push in flight is answered: the terminating push is still due, at once.
    c.handle_push(0, t0 + ms(510));
    assert_eq!(c.state(), TelemetryState::TerminatingPushNeeded);
    assert_eq!(c.next_due(t0 + ms(510)), Some(t0 + ms(510)));
    match c.poll_request(t0 + ms(510)) {
        Some(TelemetryRequest::Push { terminating, .. }) => assert!(terminating),
        other => panic!("{other:?}"),
    }
    assert!(c.initiate_close(), "a second close changes nothing");
    c.handle_push(0, t0 + ms(520));
    assert_eq!(c.state(), TelemetryState::Terminated);
    assert!(!c.is_terminating());
    assert_eq!(c.poll_request(t0 + ms(100_000)), None);
}

#[test]
fn close_before_any_subscription_or_with_a_lost_terminating_push_ends() {
    let t0 = Instant::now();
    let mut c = ClientTelemetry::new();
    assert!(!c.initiate_close());
    assert_eq!(c.state(), TelemetryState::Terminated);
    let mut c = subscribed(t0, &["*"]);
    assert!(c.initiate_close());
    c.poll_request(t0).unwrap();
    c.request_failed(true, ms(1), t0);
    assert_eq!(c.state(), TelemetryState::Terminated);
}

#[test]
fn a_subscription_answer_after_close_is_ignored() {
    let t0 = Instant::now();
    let mut c = ClientTelemetry::new();
    c.poll_request(t0).unwrap();
    assert!(!c.initiate_close());
    c.handle_subscription(answer(&["*"], 1000), t0, 0.0);
    assert_eq!(c.state(), TelemetryState::Terminated);
    assert_eq!(c.poll_request(t0 + ms(10_000)), None);
}
