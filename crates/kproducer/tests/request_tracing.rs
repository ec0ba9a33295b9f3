//! The per-request `tracing` events (target `kproducer::request`): a TRACE event when a request
//! is written and a DEBUG event when it is answered, with the broker, the API, the correlation id,
//! the size and the latency, captured by a subscriber against the in-process cluster, and checked
//! against the producer's own counts.
//!
//! Its own test binary: the subscriber is the process-wide default (the network thread logs).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{unique_name, Broker};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A field's value as recorded.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    I(i64),
    U(u64),
    S(String),
}

/// One event: its level and fields (`message` included).
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, Value>,
}

impl Captured {
    fn int(&self, name: &str) -> i64 {
        match self.fields.get(name) {
            Some(Value::I(v)) => *v,
            Some(Value::U(v)) => i64::try_from(*v).expect("fits"),
            other => panic!("{name}: {other:?} in {self:?}"),
        }
    }

    fn text(&self, name: &str) -> &str {
        match self.fields.get(name) {
            Some(Value::S(v)) => v,
            other => panic!("{name}: {other:?} in {self:?}"),
        }
    }
}

/// A span: its name, its fields (at creation and recorded later), and whether it was closed.
#[derive(Debug, Clone)]
struct CapturedSpan {
    name: &'static str,
    fields: BTreeMap<String, Value>,
    closed: bool,
}

fn spans() -> &'static Mutex<Vec<CapturedSpan>> {
    static SPANS: OnceLock<Mutex<Vec<CapturedSpan>>> = OnceLock::new();
    SPANS.get_or_init(|| Mutex::new(Vec::new()))
}

fn events() -> &'static Mutex<Vec<Captured>> {
    static EVENTS: OnceLock<Mutex<Vec<Captured>>> = OnceLock::new();
    EVENTS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Keeps the `kproducer::request` events, at every level; nothing else is enabled.
struct Capture;

struct Fields<'a>(&'a mut BTreeMap<String, Value>);

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::I(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::U(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::S(value.into()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().into(), Value::S(format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "kproducer::request"
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = spans().lock().expect("spans");
        spans.push(CapturedSpan {
            name: attrs.metadata().name(),
            fields,
            closed: false,
        });
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = spans().lock().expect("spans");
        let span = &mut spans[id.into_u64() as usize - 1];
        values.record(&mut Fields(&mut span.fields));
    }
    fn try_close(&self, id: Id) -> bool {
        spans().lock().expect("spans")[id.into_u64() as usize - 1].closed = true;
        true
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        events().lock().expect("events").push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_traced_with_broker_api_size_and_latency() {
    tracing::subscriber::set_global_default(Capture).expect("the only subscriber");
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("traced");
    broker.create_topic(&topic, 2).expect("topic");
    // The idempotent producer (Java's default) asks for a producer id: InitProducerId too.
    let config = ProducerConfig::from_map([
        ("bootstrap.servers", broker.bootstrap().as_str()),
        ("linger.ms", "5"),
    ])
    .expect("config");
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config).expect("producer");
    let mut deliveries = Vec::new();
    for _ in 0..500 {
        let record = ProducerRecord::new(topic.clone(), vec![b'x'; 100]);
        deliveries.push(producer.send(record).await.expect("send"));
    }
    producer.flush().await;
    for d in deliveries {
        d.await.expect("acknowledged");
    }
    producer.close(Duration::from_secs(10)).await;
    let stats = producer.stats();
    let metrics = producer.metrics();

    let all = events().lock().expect("events").clone();
    let sent: Vec<&Captured> = all
        .iter()
        .filter(|e| e.text("message") == "request sent")
        .collect();
    let answered: Vec<&Captured> = all
        .iter()
        .filter(|e| e.text("message") == "request answered")
        .collect();
    assert_eq!(sent.len() + answered.len(), all.len(), "{all:#?}");
    assert!(sent.iter().all(|e| e.level == Level::TRACE));
    assert!(answered.iter().all(|e| e.level == Level::DEBUG));

    // Every kind of request the producer sent was answered, and each answer matches the request
    // written on its connection with its correlation id.
    let count = |api: &str| answered.iter().filter(|e| e.text("api") == api).count();
    for api in ["ApiVersions", "Metadata", "InitProducerId", "Produce"] {
        assert!(count(api) >= 1, "no {api} answered: {answered:#?}");
    }
    assert_eq!(count("Produce") as u64, stats.produce_requests);
    assert_eq!(
        sent.len(),
        answered.len(),
        "acks=all: every request answered"
    );
    for a in &answered {
        let request = sent
            .iter()
            .find(|s| {
                s.int("conn") == a.int("conn") && s.int("correlation_id") == a.int("correlation_id")
            })
            .unwrap_or_else(|| panic!("no request for {a:?}"));
        assert_eq!(request.text("api"), a.text("api"));
        assert_eq!(request.int("api_version"), a.int("api_version"));
        // A request written on the bootstrap connection before metadata named its broker is
        // tagged with the bootstrap id (-1); its answer may come after, under the broker's id.
        assert!(
            request.int("broker") == a.int("broker") || request.int("broker") < 0,
            "{request:?} / {a:?}"
        );
        assert!(a.int("bytes") > 4 && request.int("bytes") > 4);
        assert!((0..10_000_000).contains(&a.int("latency_us")), "{a:?}");
    }
    // Produce goes to the broker by its id; the sizes add up to the metrics' byte counts.
    assert!(answered
        .iter()
        .filter(|e| e.text("api") == "Produce")
        .all(|e| e.int("broker") >= 0));
    let total = |name: &str| {
        metrics
            .iter()
            .find(|(k, _)| k.group == "producer-metrics" && k.name == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let sent_bytes: i64 = sent.iter().map(|e| e.int("bytes")).sum();
    let answered_bytes: i64 = answered.iter().map(|e| e.int("bytes")).sum();
    assert_eq!(sent_bytes as f64, total("outgoing-byte-total"));
    assert_eq!(answered_bytes as f64, total("incoming-byte-total"));

    // A span per request (so an OpenTelemetry layer shows each with its duration): opened when
    // written, closed when answered, carrying the answer's size and latency.
    let spans = spans().lock().expect("spans").clone();
    assert_eq!(spans.len(), sent.len(), "{spans:#?}");
    for span in &spans {
        assert_eq!(span.name, "request");
        assert!(span.closed, "{span:?}");
        let field = |name: &str| match span.fields.get(name) {
            Some(Value::I(v)) => *v,
            Some(Value::U(v)) => *v as i64,
            other => panic!("{name}: {other:?} in {span:?}"),
        };
        let answer = answered
            .iter()
            .find(|a| {
                a.int("conn") == field("conn") && a.int("correlation_id") == field("correlation_id")
            })
            .unwrap_or_else(|| panic!("no answer for {span:?}"));
        assert_eq!(
            Some(&Value::S(answer.text("api").into())),
            span.fields.get("api")
        );
        assert_eq!(field("response_bytes"), answer.int("bytes"));
        assert_eq!(field("latency_us"), answer.int("latency_us"));
    }
}
