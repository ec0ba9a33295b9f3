//! Java's producer metrics, with Java's names, groups, tags and meanings
//! (`SenderMetricsRegistry`, `Sender.SenderMetrics`, `RecordAccumulator`, `BufferPool`,
//! `Selector.SelectorMetrics`).
//!
//! Sans-IO: whoever records passes `now`. The network thread's figures live in
//! `NetworkMetrics`, owned by the core and copied to the shared view when they change (the copy
//! reuses the view's vectors: nothing is allocated once every topic and broker has been seen). The
//! send path's own figures (time waiting for buffer memory, exhausted buffers) are recorded
//! under the lock those waits already take, in `PoolMetrics`. [`Producer::metrics`] reads both
//! and evaluates every rate, average and maximum at the time of the call, as Java's
//! `KafkaMetric.metricValue()` does.
//!
//! [`Producer::metrics`]: crate::Producer::metrics
#![cfg_attr(
    feature = "metrics-export",
    doc = r#"
# Export to the `metrics` facade

With the cargo feature `metrics-export` (off by default; pure Rust), the producer sets its
metrics in the recorder of the [`metrics`](https://docs.rs/metrics) facade, so
metrics-exporter-prometheus, OpenTelemetry bridges or any other recorder serve them: the
network thread about every [`DEFAULT_EXPORT_INTERVAL`] (1 s; see
[`Producer::set_metrics_export_interval`]) and when the producer closes, and
[`Producer::export_metrics`] on demand. Sending records is untouched: the network thread
evaluates the windows and sets each value through a handle registered the first time (no
allocation afterwards, no lock the send path takes but one short one for the pool's gauges).

Names are those Micrometer's `KafkaClientMetrics` gives a Java client's metrics, so a dashboard
made for Java producers works unchanged: `kafka.` + the group without `-metrics` + `.` + the
name, every `-` a `.`; the tags become labels with `-` as `.`:

| Java (group, name, tags) | `metrics` facade | Prometheus (as rendered) |
|---|---|---|
| `producer-metrics`, `record-send-total`, `client-id` | `kafka.producer.record.send.total{client.id}` | `kafka_producer_record_send_total{client_id}` |
| `producer-topic-metrics`, `byte-rate`, `client-id`, `topic` | `kafka.producer.topic.byte.rate{client.id, topic}` | `kafka_producer_topic_byte_rate{client_id, topic}` |
| `producer-node-metrics`, `request-latency-max`, `client-id`, `node-id` | `kafka.producer.node.request.latency.max{client.id, node.id}` | `kafka_producer_node_request_latency_max{client_id, node_id="node-1"}` |

Java's cumulative `*-total` metrics are counters (set with `Counter::absolute`); every other
metric (rates, averages, maxima, gauges) is a gauge holding Java's value, NaN included (an
average with no sample in its windows).

```no_run
# #[tokio::main]
# async fn main() -> Result<(), Box<dyn std::error::Error>> {
// Any recorder; here Prometheus' text format, served by the application (the `metrics`
// facade's global recorder is per process).
let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
let handle = prometheus.handle();
metrics::set_global_recorder(prometheus)?;

let config = kproducer::ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
let producer: kproducer::Producer<String, String> = kproducer::Producer::new(config)?;
producer.send(kproducer::ProducerRecord::new("orders", "v".to_string())).await?.await?;
producer.export_metrics();
print!("{}", handle.render()); // kafka_producer_record_send_total{client_id="producer-1"} 1 ...
# Ok(()) }
```

[`Producer::export_metrics`]: crate::Producer::export_metrics
[`Producer::set_metrics_export_interval`]: crate::Producer::set_metrics_export_interval
"#
)]

#[cfg(feature = "metrics-export")]
pub(crate) mod export;
mod stat;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use stat::{Clock, Sensor, Unit};

/// A metric's key, as Java's `org.apache.kafka.common.MetricName`: its name, its group and its
/// tags (`client-id`, and `topic` or `node-id` for the per-topic and per-broker groups).
///
/// Ordered by group, then name, then tags, so a map of them lists a group's metrics together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricName {
    /// The metric's name, e.g. `record-send-rate`.
    pub name: String,
    /// Its group: `producer-metrics`, `producer-topic-metrics` or `producer-node-metrics`.
    pub group: String,
    /// Its tags, e.g. `client-id` → `producer-1`.
    pub tags: BTreeMap<String, String>,
}

impl MetricName {
    /// A name in `group` with `tags`.
    pub fn new(name: &str, group: &str, tags: &[(&str, &str)]) -> Self {
        MetricName {
            name: name.to_string(),
            group: group.to_string(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Java's `MetricName.tags().toString()`: `{client-id=a, node-id=node-1}`.
    pub fn tags_string(&self) -> String {
        let inner: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{{{}}}", inner.join(", "))
    }
}

impl Ord for MetricName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.group, &self.name, &self.tags).cmp(&(&other.group, &other.name, &other.tags))
    }
}

impl PartialOrd for MetricName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// How Java's `ProducerPerformance --print-metrics` (`ToolsUtils.printMetrics`) shows `metrics`:
/// a header line, then one `group:name:{tags} : value` line per metric, sorted by that text, the
/// name column as wide as the longest, values with three decimals.
pub fn format_java_table(metrics: &BTreeMap<MetricName, f64>) -> String {
    let mut rows: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in metrics {
        rows.insert(format!("{}:{}:{}", k.group, k.name, k.tags_string()), *v);
    }
    let width = rows.keys().map(String::len).max().unwrap_or(0);
    let mut out = format!("\n{:<width$}   {}\n", "Metric Name", "Value");
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$} : {}\n", java_double(v)));
    }
    out
}

/// Java's `String.format("%.3f", double)`: `NaN`, `Infinity`, `-Infinity`, else three decimals.
fn java_double(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v:.3}")
    }
}

/// How often the network thread exports the metrics to the `metrics` facade (feature
/// `metrics-export`) unless [`Producer::set_metrics_export_interval`] says otherwise.
///
/// ```
/// assert_eq!(kproducer::metrics::DEFAULT_EXPORT_INTERVAL.as_millis(), 1000);
/// ```
///
/// [`Producer::set_metrics_export_interval`]: crate::Producer::set_metrics_export_interval
#[cfg(feature = "metrics-export")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics-export")))]
pub const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Java's group names.
pub(crate) const GROUP: &str = "producer-metrics";
pub(crate) const TOPIC_GROUP: &str = "producer-topic-metrics";
pub(crate) const NODE_GROUP: &str = "producer-node-metrics";

/// A topic's sensors (Java's `topic.<topic>.*` sensors).
#[derive(Debug, Default)]
pub(crate) struct TopicSensors {
    /// Records per batch sent: `record-send-rate`, `record-send-total`.
    records: Sensor,
    /// Batch bytes sent: `byte-rate`, `byte-total`.
    bytes: Sensor,
    /// Batch compression ratios: `compression-rate`.
    compression: Sensor,
    /// Records retried: `record-retry-rate`, `record-retry-total`.
    retries: Sensor,
    /// Records failed: `record-error-rate`, `record-error-total`.
    errors: Sensor,
}

/// A broker connection's sensors (Java's `node-<id>.*` sensors).
#[derive(Debug, Default)]
pub(crate) struct NodeSensors {
    /// Request sizes: `outgoing-byte-*`, `request-rate/total`, `request-size-*`.
    sent: Sensor,
    /// Response sizes: `incoming-byte-*`, `response-rate/total`.
    received: Sensor,
    /// Produce request latencies: `request-latency-avg/max`.
    latency: Sensor,
}

/// Field-wise `clone_from`, so a copy reuses every sensor's vector.
macro_rules! clone_fieldwise {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Clone for $t {
            fn clone(&self) -> Self {
                $t { $($f: self.$f.clone()),* }
            }
            fn clone_from(&mut self, source: &Self) {
                $(self.$f.clone_from(&source.$f);)*
            }
        }
    };
}

clone_fieldwise!(TopicSensors {
    records,
    bytes,
    compression,
    retries,
    errors
});
clone_fieldwise!(NodeSensors {
    sent,
    received,
    latency
});

/// The network thread's metrics: the Sender's, the Selector's and the per-topic and per-broker
/// ones. Owned by the core; every `record_*` takes `now`.
#[derive(Debug, Clone)]
pub(crate) struct NetworkMetrics {
    pub(crate) clock: Clock,
    /// Records per Produce request: `record-send-rate/total`, `records-per-request-avg`.
    records_per_request: Sensor,
    /// Bytes per batch sent: `batch-size-avg/max`.
    batch_size: Sensor,
    /// Compression ratio per batch: `compression-rate-avg`.
    compression: Sensor,
    /// Milliseconds a batch waited before being drained: `record-queue-time-avg/max`.
    queue_time: Sensor,
    /// The largest record of each batch (Java's `ProducerBatch.maxRecordSize`):
    /// `record-size-avg/max`.
    record_size: Sensor,
    /// Produce request latencies: `request-latency-avg/max`.
    latency: Sensor,
    /// Produce answers' throttle times: `produce-throttle-time-avg/max`.
    throttle: Sensor,
    /// Records retried: `record-retry-rate/total`.
    retries: Sensor,
    /// Records failed: `record-error-rate/total`.
    errors: Sensor,
    /// Batches split: `batch-split-rate/total`.
    splits: Sensor,
    /// Request sizes (with the size prefix): `outgoing-byte-*`, `request-rate/total`,
    /// `request-size-*`.
    sent: Sensor,
    /// Response sizes: `incoming-byte-*`, `response-rate/total`.
    received: Sensor,
    /// Requests and responses: `network-io-rate/total`.
    network_io: Sensor,
    /// `connection-creation-rate/total`.
    created: Sensor,
    /// `connection-close-rate/total`.
    closed: Sensor,
    /// Nanoseconds waiting for I/O per wait: `select-rate/total`, `io-wait-*`.
    io_wait: Sensor,
    /// Nanoseconds of work between waits: `io-time-ns-avg`, `io-ratio`, `io-time-ns-total`.
    io_time: Sensor,
    /// Authentications and KIP-368 re-authentications (Java's `Selector` sensors).
    auth: AuthSensors,
    /// `requests-in-flight` (every request kind, as Java's `inFlightRequestCount`).
    pub(crate) requests_in_flight: usize,
    /// `connection-count`.
    pub(crate) connection_count: usize,
    /// The last successful metadata update (before the first: when the producer started).
    metadata_updated: Instant,
    topics: BTreeMap<Arc<str>, TopicSensors>,
    nodes: BTreeMap<i32, NodeSensors>,
    /// Bumped on every change, so the core copies only what changed.
    pub(crate) version: u64,
}

impl NetworkMetrics {
    pub(crate) fn new(clock: Clock, start: Instant) -> Self {
        NetworkMetrics {
            clock,
            records_per_request: Sensor::default(),
            batch_size: Sensor::default(),
            compression: Sensor::default(),
            queue_time: Sensor::default(),
            record_size: Sensor::default(),
            latency: Sensor::default(),
            throttle: Sensor::default(),
            retries: Sensor::default(),
            errors: Sensor::default(),
            splits: Sensor::default(),
            sent: Sensor::default(),
            received: Sensor::default(),
            network_io: Sensor::default(),
            created: Sensor::default(),
            closed: Sensor::default(),
            io_wait: Sensor::default(),
            io_time: Sensor::default(),
            auth: AuthSensors::default(),
            requests_in_flight: 0,
            connection_count: 0,
            metadata_updated: start,
            topics: BTreeMap::new(),
            nodes: BTreeMap::new(),
            version: 0,
        }
    }

    fn topic(&mut self, topic: &Arc<str>) -> &mut TopicSensors {
        // One atomic increment per batch (the Arc clone); no unwrap on a lookup.
        self.topics.entry(topic.clone()).or_default()
    }

    fn node(&mut self, node: i32) -> &mut NodeSensors {
        self.nodes.entry(node).or_default()
    }

    /// One batch of a Produce request, closed (Java's `updateProduceRequestMetrics`, per batch).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_batch(
        &mut self,
        topic: &Arc<str>,
        records: usize,
        bytes: usize,
        compression_ratio: f64,
        queue_time: Duration,
        max_record_size: usize,
        now: Instant,
    ) {
        let c = self.clock;
        let t = c.ms(now);
        self.batch_size.record(&c, bytes as f64, t);
        self.queue_time.record(&c, queue_time.as_millis() as f64, t);
        self.compression.record(&c, compression_ratio, t);
        self.record_size.record(&c, max_record_size as f64, t);
        let s = self.topic(topic);
        s.records.record(&c, records as f64, t);
        s.bytes.record(&c, bytes as f64, t);
        s.compression.record(&c, compression_ratio, t);
        self.version += 1;
    }

    /// A Produce request with `records` records in all (Java's `recordsPerRequestSensor`).
    pub(crate) fn record_request_records(&mut self, records: usize, now: Instant) {
        let c = self.clock;
        self.records_per_request
            .record(&c, records as f64, c.ms(now));
        self.version += 1;
    }

    /// `records` of `topic` go back to the queue for a retry.
    pub(crate) fn record_retries(&mut self, topic: &Arc<str>, records: usize, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        self.retries.record(&c, records as f64, t);
        self.topic(topic).retries.record(&c, records as f64, t);
        self.version += 1;
    }

    /// `records` of `topic` failed.
    pub(crate) fn record_errors(&mut self, topic: &Arc<str>, records: usize, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        self.errors.record(&c, records as f64, t);
        self.topic(topic).errors.record(&c, records as f64, t);
        self.version += 1;
    }

    /// A batch was split (MESSAGE_TOO_LARGE).
    pub(crate) fn record_split(&mut self, now: Instant) {
        let c = self.clock;
        self.splits.record(&c, 1.0, c.ms(now));
        self.version += 1;
    }

    /// A request of `bytes` (size prefix included) was queued on `node`'s connection.
    pub(crate) fn record_sent(&mut self, node: i32, bytes: usize, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        self.sent.record(&c, bytes as f64, t);
        self.network_io.record(&c, bytes as f64, t);
        self.node(node).sent.record(&c, bytes as f64, t);
        self.version += 1;
    }

    /// A response of `bytes` (size prefix included) arrived from `node`.
    pub(crate) fn record_received(&mut self, node: i32, bytes: usize, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        self.received.record(&c, bytes as f64, t);
        self.network_io.record(&c, bytes as f64, t);
        self.node(node).received.record(&c, bytes as f64, t);
        self.version += 1;
    }

    /// A Produce request to `node` was answered `latency` after it was written (Java's
    /// `recordLatency`; no per-broker figure for a bootstrap connection's negative id).
    pub(crate) fn record_latency(&mut self, node: i32, latency: Duration, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        let ms = latency.as_millis() as f64;
        self.latency.record(&c, ms, t);
        if node >= 0 {
            self.node(node).latency.record(&c, ms, t);
        }
        self.version += 1;
    }

    /// A Produce answer's `throttle_time_ms`.
    pub(crate) fn record_throttle(&mut self, throttle_ms: i32, now: Instant) {
        let c = self.clock;
        self.throttle
            .record(&c, f64::from(throttle_ms.max(0)), c.ms(now));
        self.version += 1;
    }

    /// A connection was established.
    pub(crate) fn record_connection_created(&mut self, now: Instant) {
        let c = self.clock;
        self.created.record(&c, 1.0, c.ms(now));
        self.version += 1;
    }

    /// A connection (or a connection attempt) was closed.
    pub(crate) fn record_connection_closed(&mut self, now: Instant) {
        let c = self.clock;
        self.closed.record(&c, 1.0, c.ms(now));
        self.version += 1;
    }

    /// A connection authenticated, failed to, or re-authenticated (KIP-368). A connection without
    /// SASL or TLS counts as authenticated once ready, as Java's plaintext channels do.
    pub(crate) fn record_authentication(&mut self, event: AuthEvent, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        let a = &mut self.auth;
        match event {
            AuthEvent::Authenticated => {
                a.ok.record(&c, 1.0, t);
                // A client's connection never re-authenticates on the broker's initiative
                // (Java: `connectedClientSupportsReauthentication` is false on the client side).
                a.ok_no_reauth.record(&c, 1.0, t);
            }
            AuthEvent::Failed => a.failed.record(&c, 1.0, t),
            AuthEvent::Reauthenticated(latency) => {
                a.reauth_ok.record(&c, 1.0, t);
                a.reauth_latency.record(&c, latency.as_secs_f64() * 1e3, t);
            }
            AuthEvent::ReauthenticationFailed => a.reauth_failed.record(&c, 1.0, t),
        }
        self.version += 1;
    }

    /// Metadata was updated.
    pub(crate) fn record_metadata_update(&mut self, now: Instant) {
        self.metadata_updated = now;
        self.version += 1;
    }

    /// The network thread waited `waited` for I/O, after working `busy` since its last wait.
    pub(crate) fn record_io(&mut self, waited: Duration, busy: Duration, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        self.io_wait.record(&c, waited.as_nanos() as f64, t);
        self.io_time.record(&c, busy.as_nanos() as f64, t);
        self.version += 1;
    }

    /// Sets the gauges.
    pub(crate) fn set_gauges(&mut self, requests_in_flight: usize, connection_count: usize) {
        if (requests_in_flight, connection_count)
            != (self.requests_in_flight, self.connection_count)
        {
            self.requests_in_flight = requests_in_flight;
            self.connection_count = connection_count;
            self.version += 1;
        }
    }

    /// Copies `src` into `self`, reusing `self`'s vectors (allocating only for a topic or broker
    /// not seen before).
    pub(crate) fn copy_from(&mut self, src: &NetworkMetrics) {
        let NetworkMetrics {
            clock,
            records_per_request,
            batch_size,
            compression,
            queue_time,
            record_size,
            latency,
            throttle,
            retries,
            errors,
            splits,
            sent,
            received,
            network_io,
            created,
            closed,
            io_wait,
            io_time,
            auth,
            requests_in_flight,
            connection_count,
            metadata_updated,
            topics,
            nodes,
            version,
        } = self;
        *clock = src.clock;
        records_per_request.clone_from(&src.records_per_request);
        batch_size.clone_from(&src.batch_size);
        compression.clone_from(&src.compression);
        queue_time.clone_from(&src.queue_time);
        record_size.clone_from(&src.record_size);
        latency.clone_from(&src.latency);
        throttle.clone_from(&src.throttle);
        retries.clone_from(&src.retries);
        errors.clone_from(&src.errors);
        splits.clone_from(&src.splits);
        sent.clone_from(&src.sent);
        received.clone_from(&src.received);
        network_io.clone_from(&src.network_io);
        created.clone_from(&src.created);
        closed.clone_from(&src.closed);
        io_wait.clone_from(&src.io_wait);
        io_time.clone_from(&src.io_time);
        auth.clone_from(&src.auth);
        *requests_in_flight = src.requests_in_flight;
        *connection_count = src.connection_count;
        *metadata_updated = src.metadata_updated;
        for (k, v) in &src.topics {
            match topics.get_mut(k) {
                Some(d) => d.clone_from(v),
                None => {
                    topics.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in &src.nodes {
            match nodes.get_mut(k) {
                Some(d) => d.clone_from(v),
                None => {
                    nodes.insert(*k, v.clone());
                }
            }
        }
        *version = src.version;
    }

    /// Every metric of the network thread at `now`, keyed as Java keys them.
    pub(crate) fn write_into(
        &self,
        client_id: &str,
        now: Instant,
        out: &mut BTreeMap<MetricName, f64>,
    ) {
        self.visit(now, |scope, name, v| {
            out.insert(scope.metric_name(name, client_id), v);
        });
    }

    /// Every metric of the network thread at `now`, as (scope, Java name, value), allocating
    /// nothing: the `producer-metrics` group first, then each topic's metrics together, then each
    /// broker's, in an order that is the same from call to call.
    pub(crate) fn visit(&self, now: Instant, mut f: impl FnMut(Scope<'_>, &'static str, f64)) {
        let c = &self.clock;
        let t = c.ms(now);
        let mut put = |name: &'static str, v: f64| f(Scope::Producer, name, v);
        let per = Unit::PerSecond;
        // Sender (SenderMetricsRegistry).
        put("batch-size-avg", self.batch_size.avg(c, t));
        put("batch-size-max", self.batch_size.max(c, t));
        put("compression-rate-avg", self.compression.avg(c, t));
        put("record-queue-time-avg", self.queue_time.avg(c, t));
        put("record-queue-time-max", self.queue_time.max(c, t));
        put("request-latency-avg", self.latency.avg(c, t));
        put("request-latency-max", self.latency.max(c, t));
        put("produce-throttle-time-avg", self.throttle.avg(c, t));
        put("produce-throttle-time-max", self.throttle.max(c, t));
        put("record-send-rate", self.records_per_request.rate(c, t, per));
        put("record-send-total", self.records_per_request.total());
        put(
            "records-per-request-avg",
            self.records_per_request.avg(c, t),
        );
        put("record-retry-rate", self.retries.rate(c, t, per));
        put("record-retry-total", self.retries.total());
        put("record-error-rate", self.errors.rate(c, t, per));
        put("record-error-total", self.errors.total());
        put("record-size-max", self.record_size.max(c, t));
        put("record-size-avg", self.record_size.avg(c, t));
        put("requests-in-flight", self.requests_in_flight as f64);
        put(
            "metadata-age",
            now.saturating_duration_since(self.metadata_updated)
                .as_secs_f64(),
        );
        put("batch-split-rate", self.splits.rate(c, t, per));
        put("batch-split-total", self.splits.total());
        // Selector.SelectorMetrics.
        put("connection-close-rate", self.closed.rate(c, t, per));
        put("connection-close-total", self.closed.total());
        put("connection-creation-rate", self.created.rate(c, t, per));
        put("connection-creation-total", self.created.total());
        put("network-io-rate", self.network_io.count_rate(c, t));
        put("network-io-total", self.network_io.total_count());
        put("outgoing-byte-rate", self.sent.rate(c, t, per));
        put("outgoing-byte-total", self.sent.total());
        put("request-rate", self.sent.count_rate(c, t));
        put("request-total", self.sent.total_count());
        put("request-size-avg", self.sent.avg(c, t));
        put("request-size-max", self.sent.max(c, t));
        put("incoming-byte-rate", self.received.rate(c, t, per));
        put("incoming-byte-total", self.received.total());
        put("response-rate", self.received.count_rate(c, t));
        put("response-total", self.received.total_count());
        put("select-rate", self.io_wait.count_rate(c, t));
        put("select-total", self.io_wait.total_count());
        put("io-wait-time-ns-avg", self.io_wait.avg(c, t));
        put("io-wait-ratio", self.io_wait.rate(c, t, Unit::NanosRatio));
        put("io-wait-time-ns-total", self.io_wait.total());
        put("io-time-ns-avg", self.io_time.avg(c, t));
        put("io-ratio", self.io_time.rate(c, t, Unit::NanosRatio));
        put("io-time-ns-total", self.io_time.total());
        put("connection-count", self.connection_count as f64);
        let a = &self.auth;
        put("successful-authentication-rate", a.ok.rate(c, t, per));
        put("successful-authentication-total", a.ok.total());
        put(
            "successful-authentication-no-reauth-total",
            a.ok_no_reauth.total(),
        );
        put("failed-authentication-rate", a.failed.rate(c, t, per));
        put("failed-authentication-total", a.failed.total());
        put(
            "successful-reauthentication-rate",
            a.reauth_ok.rate(c, t, per),
        );
        put("successful-reauthentication-total", a.reauth_ok.total());
        put(
            "failed-reauthentication-rate",
            a.reauth_failed.rate(c, t, per),
        );
        put("failed-reauthentication-total", a.reauth_failed.total());
        put("reauthentication-latency-avg", a.reauth_latency.avg(c, t));
        put("reauthentication-latency-max", a.reauth_latency.max(c, t));

        for (topic, s) in &self.topics {
            let mut put = |name: &'static str, v: f64| f(Scope::Topic(topic), name, v);
            put("record-send-rate", s.records.rate(c, t, per));
            put("record-send-total", s.records.total());
            put("byte-rate", s.bytes.rate(c, t, per));
            put("byte-total", s.bytes.total());
            put("compression-rate", s.compression.avg(c, t));
            put("record-retry-rate", s.retries.rate(c, t, per));
            put("record-retry-total", s.retries.total());
            put("record-error-rate", s.errors.rate(c, t, per));
            put("record-error-total", s.errors.total());
        }
        for (node, s) in &self.nodes {
            let mut put = |name: &'static str, v: f64| f(Scope::Node(*node), name, v);
            put("outgoing-byte-rate", s.sent.rate(c, t, per));
            put("outgoing-byte-total", s.sent.total());
            put("request-rate", s.sent.count_rate(c, t));
            put("request-total", s.sent.total_count());
            put("request-size-avg", s.sent.avg(c, t));
            put("request-size-max", s.sent.max(c, t));
            put("incoming-byte-rate", s.received.rate(c, t, per));
            put("incoming-byte-total", s.received.total());
            put("response-rate", s.received.count_rate(c, t));
            put("response-total", s.received.total_count());
            if *node >= 0 {
                put("request-latency-avg", s.latency.avg(c, t));
                put("request-latency-max", s.latency.max(c, t));
            }
        }
    }
}

/// What happened to a connection's authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthEvent {
    /// Ready (SASL done, or nothing to authenticate).
    Authenticated,
    /// SASL or TLS refused the connection.
    Failed,
    /// A KIP-368 re-authentication succeeded after this long.
    Reauthenticated(Duration),
    /// A KIP-368 re-authentication failed.
    ReauthenticationFailed,
}

/// Java's `Selector` authentication sensors: `successful-authentication-*`,
/// `successful-authentication-no-reauth-total`, `failed-authentication-*`,
/// `successful-reauthentication-*`, `failed-reauthentication-*`, `reauthentication-latency-*`.
#[derive(Debug, Default)]
struct AuthSensors {
    ok: Sensor,
    ok_no_reauth: Sensor,
    failed: Sensor,
    reauth_ok: Sensor,
    reauth_failed: Sensor,
    /// Milliseconds.
    reauth_latency: Sensor,
}

impl Clone for AuthSensors {
    fn clone(&self) -> Self {
        let mut c = AuthSensors::default();
        c.clone_from(self);
        c
    }

    /// Field by field, reusing the sensors' buffers (the view copies the metrics often).
    fn clone_from(&mut self, src: &Self) {
        self.ok.clone_from(&src.ok);
        self.ok_no_reauth.clone_from(&src.ok_no_reauth);
        self.failed.clone_from(&src.failed);
        self.reauth_ok.clone_from(&src.reauth_ok);
        self.reauth_failed.clone_from(&src.reauth_failed);
        self.reauth_latency.clone_from(&src.reauth_latency);
    }
}

/// Which of Java's groups a metric is in, with the tag that group adds to `client-id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope<'a> {
    /// `producer-metrics`.
    Producer,
    /// `producer-topic-metrics`, tag `topic`.
    Topic(&'a Arc<str>),
    /// `producer-node-metrics`, tag `node-id` = `node-<id>`.
    Node(i32),
}

impl Scope<'_> {
    /// Java's group name.
    #[cfg_attr(not(feature = "metrics-export"), allow(dead_code))]
    pub(crate) fn group(&self) -> &'static str {
        match self {
            Scope::Producer => GROUP,
            Scope::Topic(_) => TOPIC_GROUP,
            Scope::Node(_) => NODE_GROUP,
        }
    }

    /// The metric `name` of this scope, keyed as Java keys it.
    pub(crate) fn metric_name(&self, name: &str, client_id: &str) -> MetricName {
        match self {
            Scope::Producer => MetricName::new(name, GROUP, &[("client-id", client_id)]),
            Scope::Topic(topic) => MetricName::new(
                name,
                TOPIC_GROUP,
                &[("client-id", client_id), ("topic", topic)],
            ),
            Scope::Node(node) => MetricName::new(
                name,
                NODE_GROUP,
                &[
                    ("client-id", client_id),
                    ("node-id", &format!("node-{node}")),
                ],
            ),
        }
    }
}

/// Java's `KafkaProducerMetrics`: total time callers spent in each call, recorded on the
/// caller's side (atomics in the shared view: the network thread only reads them, for KIP-714
/// pushes).
#[derive(Debug, Default)]
pub(crate) struct ApiTimes {
    pub(crate) txn_init: std::sync::atomic::AtomicU64,
    pub(crate) txn_begin: std::sync::atomic::AtomicU64,
    pub(crate) txn_send_offsets: std::sync::atomic::AtomicU64,
    pub(crate) txn_commit: std::sync::atomic::AtomicU64,
    pub(crate) txn_abort: std::sync::atomic::AtomicU64,
    pub(crate) flush: std::sync::atomic::AtomicU64,
    pub(crate) metadata_wait: std::sync::atomic::AtomicU64,
}

impl ApiTimes {
    /// Adds the time since `started` to `counter`.
    pub(crate) fn add(counter: &std::sync::atomic::AtomicU64, started: Instant) {
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every one of them (all in `producer-metrics`), as (Java name, nanoseconds).
    pub(crate) fn visit(&self, mut put: impl FnMut(&'static str, f64)) {
        for (name, v) in [
            ("txn-init-time-ns-total", &self.txn_init),
            ("txn-begin-time-ns-total", &self.txn_begin),
            ("txn-send-offsets-time-ns-total", &self.txn_send_offsets),
            ("txn-commit-time-ns-total", &self.txn_commit),
            ("txn-abort-time-ns-total", &self.txn_abort),
            ("flush-time-ns-total", &self.flush),
            ("metadata-wait-time-ns-total", &self.metadata_wait),
        ] {
            put(name, v.load(std::sync::atomic::Ordering::Relaxed) as f64);
        }
    }

    /// Every one of them, keyed as Java keys them.
    pub(crate) fn write_into(&self, client_id: &str, out: &mut BTreeMap<MetricName, f64>) {
        self.visit(|name, v| {
            out.insert(Scope::Producer.metric_name(name, client_id), v);
        });
    }
}

/// The buffer pool's metrics the send path records (Java's `BufferPool` sensors), under the
/// shared lock a caller waiting for memory takes anyway: nothing on the fast path.
#[derive(Debug, Clone)]
pub(crate) struct PoolMetrics {
    pub(crate) clock: Clock,
    /// Nanoseconds callers waited for memory: `bufferpool-wait-ratio`,
    /// `bufferpool-wait-time-ns-total`.
    wait: Sensor,
    /// Sends that gave up waiting for memory: `buffer-exhausted-rate/total`.
    exhausted: Sensor,
}

impl PoolMetrics {
    pub(crate) fn new(clock: Clock) -> Self {
        PoolMetrics {
            clock,
            wait: Sensor::default(),
            exhausted: Sensor::default(),
        }
    }

    /// A caller waited `waited` for memory; `exhausted`: and gave up.
    pub(crate) fn record_wait(&mut self, waited: Duration, exhausted: bool, now: Instant) {
        let c = self.clock;
        let t = c.ms(now);
        self.wait.record(&c, waited.as_nanos() as f64, t);
        if exhausted {
            self.exhausted.record(&c, 1.0, t);
        }
    }

    /// The pool's metrics at `now`, with its gauges.
    pub(crate) fn write_into(
        &self,
        client_id: &str,
        gauges: PoolGauges,
        now: Instant,
        out: &mut BTreeMap<MetricName, f64>,
    ) {
        self.visit(gauges, now, |name, v| {
            out.insert(Scope::Producer.metric_name(name, client_id), v);
        });
    }

    /// The pool's metrics at `now` (all in `producer-metrics`), with its gauges, as (Java name,
    /// value): [`POOL_METRICS`] of them.
    pub(crate) fn visit(
        &self,
        gauges: PoolGauges,
        now: Instant,
        mut put: impl FnMut(&'static str, f64),
    ) {
        let c = &self.clock;
        let t = c.ms(now);
        put("buffer-total-bytes", gauges.total as f64);
        put("buffer-available-bytes", gauges.available as f64);
        put("waiting-threads", gauges.waiting as f64);
        put(
            "bufferpool-wait-ratio",
            self.wait.rate(c, t, Unit::NanosRatio),
        );
        put("bufferpool-wait-time-ns-total", self.wait.total());
        put(
            "buffer-exhausted-rate",
            self.exhausted.rate(c, t, Unit::PerSecond),
        );
        put("buffer-exhausted-total", self.exhausted.total());
    }
}

/// How many metrics [`PoolMetrics::visit`] gives.
#[cfg_attr(not(feature = "metrics-export"), allow(dead_code))]
pub(crate) const POOL_METRICS: usize = 7;

/// The buffer pool's gauges, read under the shared lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGauges {
    /// `buffer.memory`.
    pub(crate) total: usize,
    /// Memory not charged to a batch (Java's `availableMemory`: free plus pooled buffers).
    pub(crate) available: usize,
    /// Callers waiting for memory.
    pub(crate) waiting: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_table_layout() {
        let mut m = BTreeMap::new();
        m.insert(
            MetricName::new("record-send-total", GROUP, &[("client-id", "c")]),
            3.0,
        );
        m.insert(
            MetricName::new(
                "request-total",
                NODE_GROUP,
                &[("client-id", "c"), ("node-id", "node-1")],
            ),
            2.0,
        );
        m.insert(
            MetricName::new("batch-size-avg", GROUP, &[("client-id", "c")]),
            f64::NAN,
        );
        let t = format_java_table(&m);
        let keys = [
            "producer-metrics:batch-size-avg:{client-id=c}",
            "producer-metrics:record-send-total:{client-id=c}",
            "producer-node-metrics:request-total:{client-id=c, node-id=node-1}",
        ];
        let w = keys[2].len();
        let expected = format!(
            "\n{:<w$}   Value\n{:<w$} : NaN\n{:<w$} : 3.000\n{} : 2.000\n",
            "Metric Name", keys[0], keys[1], keys[2]
        );
        assert_eq!(t, expected);
    }

    #[test]
    fn copy_reuses_and_adds() {
        let t0 = Instant::now();
        let clock = Clock::new(t0, Duration::from_secs(30), 2);
        let mut a = NetworkMetrics::new(clock, t0);
        let mut b = NetworkMetrics::new(clock, t0);
        let topic: Arc<str> = Arc::from("t");
        a.record_batch(&topic, 10, 500, 1.0, Duration::from_millis(3), 60, t0);
        a.record_request_records(10, t0);
        b.copy_from(&a);
        let mut out = BTreeMap::new();
        b.write_into("c", t0, &mut out);
        let get = |g: &str, n: &str, tags: &[(&str, &str)]| out[&MetricName::new(n, g, tags)];
        assert_eq!(get(GROUP, "record-send-total", &[("client-id", "c")]), 10.0);
        assert_eq!(get(GROUP, "batch-size-avg", &[("client-id", "c")]), 500.0);
        assert_eq!(
            get(
                TOPIC_GROUP,
                "byte-total",
                &[("client-id", "c"), ("topic", "t")]
            ),
            500.0
        );
        assert_eq!(b.version, a.version);
    }
}
