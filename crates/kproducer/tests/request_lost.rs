//! A request lost with its connection is told (target `kproducer::request`): a DEBUG event with
//! the API, correlation id, time waited and reason, and its span closes with the error recorded;
//! then the record is retried and delivered. A stalled fault proxy holds the Produce request in
//! flight, then cuts the connection.
//!
//! Its own test binary: the subscriber is the process-wide default (the network thread logs).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{unique_name, Broker, FaultProxy};
use tracing_subscriber::fmt::format::FmtSpan;

/// Every line logged by the process at DEBUG and above, with span closes.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .try_init();
        buf
    })
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log() -> String {
    String::from_utf8_lossy(&captured().lock().expect("log")).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lost_with_its_connection_is_told_then_retried() {
    captured();
    let proxy = FaultProxy::bind().expect("proxy");
    let broker = Broker::start_with_advertised(&proxy.addr().to_string()).expect("broker");
    proxy.set_upstream(&broker.bootstrap());
    let topic = unique_name("lost");
    broker.create_topic(&topic, 1).expect("topic");
    let cfg = ProducerConfig::from_map([
        ("bootstrap.servers", proxy.addr().to_string()),
        ("linger.ms", "0".to_string()),
        ("retry.backoff.ms", "20".to_string()),
        ("reconnect.backoff.ms", "20".to_string()),
    ])
    .expect("config");
    let producer: Producer<String, String> = Producer::new(cfg).expect("producer");
    producer
        .send(ProducerRecord::new(&topic, "first".to_string()))
        .await
        .expect("send")
        .await
        .expect("delivered");

    // The next Produce request is written but held by the proxy, then its connection is cut.
    proxy.stall_forever();
    let held = producer
        .send(ProducerRecord::new(&topic, "held".to_string()))
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut_all();
    proxy.resume();
    let meta = held.await.expect("retried and delivered");
    assert_eq!(meta.offset, 1);
    producer.close(Duration::from_secs(5)).await;

    let text = log();
    let lost: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request lost with its connection"))
        .collect();
    let produce = lost
        .iter()
        .find(|l| l.contains("api=\"Produce\""))
        .unwrap_or_else(|| panic!("no event for the lost Produce request:\n{text}"));
    assert!(produce.contains("DEBUG"), "{produce}");
    assert!(produce.contains("kproducer::request"), "{produce}");
    assert!(produce.contains("correlation_id="), "{produce}");
    assert!(produce.contains("reason="), "{produce}");
    let waited: f64 = produce
        .split("waited_ms=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("waited_ms in {produce}"));
    assert!(waited >= 250.0, "held ~300 ms: {produce}");
    // Its span closed with the error recorded.
    assert!(
        text.lines().any(|l| l.contains("request{")
            && l.contains("api=\"Produce\"")
            && l.contains("error=")
            && l.contains("close")),
        "no closed Produce span with an error:\n{text}"
    );
}
