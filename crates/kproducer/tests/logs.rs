//! What the producer logs, captured with a `tracing` subscriber: a broker that goes away (WARN,
//! once per streak, naming the broker) and comes back (INFO, re-established), the resolved
//! configuration at start (INFO, secrets hidden), a misspelt key (WARN with Java's text).
//!
//! Its own test binary: the subscriber is the process-wide default (the network thread logs too).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kproducer::{Producer, ProducerConfig, ProducerRecord};
use kproducer_testkit::{unique_name, Broker, FaultProxy};

/// Every line logged by the process, at INFO and above.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
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

fn lines_with(needle: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&captured().lock().expect("log")).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded) until a line containing every one of `needles` is logged.
async fn wait_for(needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = lines_with(needles[0])
            .into_iter()
            .find(|l| needles.iter().all(|n| l.contains(n)));
        if let Some(l) = found {
            return l;
        }
        assert!(Instant::now() < deadline, "no line with {needles:?} logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_going_away_and_coming_back_is_logged_once_each() {
    captured();
    let proxy = FaultProxy::bind().expect("proxy");
    let broker = Broker::start_with_advertised(&proxy.addr().to_string()).expect("broker");
    proxy.set_upstream(&broker.bootstrap());
    let topic = unique_name("logs");
    broker.create_topic(&topic, 1).expect("topic");
    let cfg = ProducerConfig::from_map([
        ("bootstrap.servers", proxy.addr().to_string()),
        ("reconnect.backoff.ms", "20".to_string()),
        ("reconnect.backoff.max.ms", "100".to_string()),
        ("ssl.truststore.password", "do-not-log-me".to_string()),
    ])
    .expect("config");
    let producer: Producer<String, String> = Producer::new(cfg).expect("producer");
    let start = wait_for(&["ProducerConfig values:"]).await;
    assert!(start.contains("INFO"), "{start}");
    let all = String::from_utf8_lossy(&captured().lock().expect("log")).into_owned();
    assert!(all.contains("ssl.truststore.password = [hidden]"), "{all}");
    assert!(!all.contains("do-not-log-me"), "no secret logged");

    let first = ProducerRecord::new(&topic, "before".to_string());
    producer
        .send(first)
        .await
        .expect("send")
        .await
        .expect("delivered");

    // The broker goes away: connections cut, new ones refused for a while.
    proxy.refuse(true);
    proxy.cut_all();
    let lost = wait_for(&["WARN", "lost"]).await;
    assert!(
        lost.contains(&proxy.addr().to_string()),
        "names the broker: {lost}"
    );
    let during = ProducerRecord::new(&topic, "during".to_string());
    let during = producer.send(during).await.expect("send");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let warnings = lines_with("WARN").len();
    assert!(
        warnings <= 3,
        "once per streak, not once per reconnect attempt (every ≤100 ms): {:#?}",
        lines_with("WARN")
    );

    // It comes back.
    proxy.refuse(false);
    during.await.expect("delivered once the broker is back");
    let back = wait_for(&["INFO", "re-established"]).await;
    assert!(back.contains(&proxy.addr().to_string()), "{back}");
    producer.close(Duration::from_secs(5)).await;
}

#[test]
fn a_misspelt_key_is_a_warning_with_java_s_text() {
    captured();
    let cfg = ProducerConfig::from_map([("bootstrap.servers", "a:9092"), ("lnger.ms", "5")])
        .expect("config");
    assert_eq!(cfg.warnings().len(), 1);
    let lines = lines_with("lnger.ms");
    assert!(
        lines.iter().any(|l| l.contains("WARN")
            && l.contains("These configurations '[lnger.ms]' were supplied but are not used yet")),
        "{lines:#?}"
    );
}
