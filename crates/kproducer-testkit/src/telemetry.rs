//! The broker side of KIP-714 client telemetry on Apache Kafka: client-metrics subscriptions and
//! a record of every metrics push the brokers accepted, decoded from OTLP.
//!
//! - [`KafkaOptions::telemetry_recorder`](crate::KafkaOptions::telemetry_recorder) installs
//!   `kafka/TelemetryRecorder.java` (a broker `MetricsReporter` that is also Kafka 4.x's
//!   `ClientTelemetryExporterProvider`) on every broker. It appends one JSON line per accepted
//!   PushTelemetry request to a file in the node's directory.
//! - [`KafkaCluster::set_client_metrics`] / [`KafkaCluster::delete_client_metrics`] manage the
//!   subscriptions (`ConfigResource.Type.CLIENT_METRICS`, through Java's Admin) that tell clients
//!   which metrics to push and how often (GetTelemetrySubscriptions).
//! - [`KafkaCluster::telemetry_pushes`] reads what every broker recorded as [`TelemetryPush`]es;
//!   [`KafkaCluster::wait_for_telemetry_push`] polls until one matches.
//!
//! The broker hands the plug-in the metrics already decompressed (it decompresses with the
//! request's compression type, which the plug-in interface does not expose), so a push's
//! [`TelemetryPush::bytes`] is the size of the uncompressed OTLP `MetricsData`.
//!
//! ```no_run
//! use std::time::Duration;
//! use kproducer_testkit::{ClientMetricsSubscription, KafkaCluster, KafkaOptions};
//!
//! let options = KafkaOptions { telemetry_recorder: true, ..KafkaOptions::default() };
//! let cluster = KafkaCluster::start_with(1, &options)?;
//! cluster.set_client_metrics(
//!     &ClientMetricsSubscription::new("all-producers", &["org.apache.kafka.producer."], 1000)
//!         .matching("client_id", "my-producer"),
//! )?;
//! // ... run a producer with client.id=my-producer, then close it ...
//! let last = cluster.wait_for_telemetry_push(Duration::from_secs(30), |p| {
//!     p.client_id == "my-producer" && p.terminating
//! })?;
//! // Java pushes sums with delta temporality (the brokers ask for it): add up every push.
//! let sent: f64 = cluster
//!     .telemetry_pushes()?
//!     .iter()
//!     .filter(|p| p.client_instance_id == last.client_instance_id)
//!     .filter_map(|p| p.sum_of("org.apache.kafka.producer.record.send.total"))
//!     .sum();
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::kafka::{java_bin, kafka_home, kafka_lib, lib_classpath, KafkaCluster};
use crate::kafka_interop::{tail_str, Helper};

/// The recorder's source; compiled on first use into the Kafka cache.
const RECORDER_SOURCE: &str = include_str!("../kafka/TelemetryRecorder.java");
/// The recorder's class name, as `metric.reporters` names it.
pub(crate) const RECORDER_CLASS: &str = "kproducer.testkit.TelemetryRecorder";
/// The broker config the recorder reads its record file from.
pub(crate) const RECORDER_FILE_CONFIG: &str = "kproducer.telemetry.recorder.file";

/// Bound on one Admin call (JVM start included) that sets or deletes a subscription.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound on the brokers describing a subscription as it was set.
const SUBSCRIPTION_PROPAGATION: Duration = Duration::from_secs(30);

/// A KIP-714 client-metrics subscription: which metrics matching clients push, and how often.
///
/// Kafka stores it as the configs `metrics`, `interval.ms` and `match` of the
/// `CLIENT_METRICS` resource [`name`](Self::name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetricsSubscription {
    /// The subscription (config resource) name.
    pub name: String,
    /// Metric name prefixes to push (`metrics`); `"*"` is every metric, an empty list none.
    pub metrics: Vec<String>,
    /// The push interval (`interval.ms`; Kafka accepts 100..=3_600_000).
    pub interval_ms: u32,
    /// Client selectors (`match`), all of which must match: `(key, regex)` with key one of
    /// `client_instance_id`, `client_id`, `client_software_name`, `client_software_version`,
    /// `client_source_address`, `client_source_port`. Empty: every client.
    pub matches: Vec<(String, String)>,
}

impl ClientMetricsSubscription {
    /// A subscription for every client to `metrics` (prefixes, `"*"` for all) every
    /// `interval_ms`.
    pub fn new(name: &str, metrics: &[&str], interval_ms: u32) -> ClientMetricsSubscription {
        ClientMetricsSubscription {
            name: name.to_owned(),
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            interval_ms,
            matches: Vec::new(),
        }
    }

    /// Adds a client selector, e.g. `.matching("client_id", "telemetry-.*")` (the value is a
    /// regular expression that must match the whole value).
    pub fn matching(mut self, key: &str, regex: &str) -> ClientMetricsSubscription {
        self.matches.push((key.to_owned(), regex.to_owned()));
        self
    }
}

/// The OTLP data type of a [`PushedMetric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    /// `Sum`: a counter (see [`PushedMetric::monotonic`] and [`PushedMetric::temporality`]).
    Sum,
    /// `Gauge`: a value at a point in time.
    Gauge,
    /// `Histogram` (points carry the sum as value and the count as `int_value`).
    Histogram,
    /// `ExponentialHistogram` (points carry the sum and the count, as for histograms).
    ExponentialHistogram,
    /// `Summary` (points carry the sum and the count, as for histograms).
    Summary,
    /// No data set.
    None,
}

impl MetricKind {
    fn parse(s: &str) -> anyhow::Result<MetricKind> {
        Ok(match s {
            "sum" => MetricKind::Sum,
            "gauge" => MetricKind::Gauge,
            "histogram" => MetricKind::Histogram,
            "exponential_histogram" => MetricKind::ExponentialHistogram,
            "summary" => MetricKind::Summary,
            "none" => MetricKind::None,
            other => bail!("unknown metric type {other:?}"),
        })
    }
}

/// OTLP `AggregationTemporality` of a sum or histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Temporality {
    /// Each point covers the time since the previous push.
    Delta,
    /// Each point covers the time since the start (the same `start_unix_nanos` every push).
    Cumulative,
    /// `AGGREGATION_TEMPORALITY_UNSPECIFIED`.
    Unspecified,
}

/// One OTLP data point.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    /// The point's attributes, values rendered as strings (ints, doubles and booleans as Java
    /// prints them).
    pub attributes: BTreeMap<String, String>,
    /// The value (`as_double`, or `as_int` converted); for histograms and summaries, the sum.
    pub value: f64,
    /// `as_int` when the point carried an integer; for histograms and summaries, the count.
    pub int_value: Option<i64>,
    /// `start_time_unix_nano` (0 when not set, e.g. for gauges).
    pub start_unix_nanos: u64,
    /// `time_unix_nano`.
    pub time_unix_nanos: u64,
}

/// One OTLP metric of a push.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedMetric {
    /// The instrumentation scope's name.
    pub scope: String,
    /// The metric name, e.g. `org.apache.kafka.producer.record.send.total`.
    pub name: String,
    /// The OTLP data type.
    pub kind: MetricKind,
    /// `Sum.is_monotonic` (false for every other kind).
    pub monotonic: bool,
    /// `aggregation_temporality` of sums and histograms; `None` for gauges and summaries.
    pub temporality: Option<Temporality>,
    /// The data points (one per attribute set).
    pub points: Vec<DataPoint>,
}

impl PushedMetric {
    /// The sum of every point's value (a metric without attributes has one point).
    pub fn total(&self) -> f64 {
        self.points.iter().map(|p| p.value).sum()
    }
}

/// One PushTelemetry request a broker accepted, as the recorder saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryPush {
    /// The broker that received it.
    pub broker: i32,
    /// The broker's wall clock when it handed the push over, in ms since the Unix epoch.
    pub received_unix_ms: i64,
    /// The client instance id (a Kafka `Uuid` in base64).
    pub client_instance_id: String,
    /// The client's last push, sent as it closes.
    pub terminating: bool,
    /// The payload's content type as the broker names it (Kafka 4.4: `OTLP`).
    pub content_type: String,
    /// The push interval the broker handed the client.
    pub push_interval_ms: i64,
    /// The request header's client id (`client.id`).
    pub client_id: String,
    /// `client_software_name` from the connection's ApiVersions request (`apache-kafka-java`
    /// for Java's client).
    pub software_name: String,
    /// `client_software_version` from the connection's ApiVersions request.
    pub software_version: String,
    /// The listener it arrived on.
    pub listener: String,
    /// The authenticated principal, e.g. `User:ANONYMOUS`.
    pub principal: String,
    /// Size of the (decompressed) OTLP `MetricsData`.
    pub bytes: usize,
    /// The OTLP resource attributes (of every `ResourceMetrics`, merged).
    pub resource: BTreeMap<String, String>,
    /// Every metric of every scope, in payload order.
    pub metrics: Vec<PushedMetric>,
    /// Why the payload could not be decoded, if it could not (then `metrics` is empty).
    pub decode_error: Option<String>,
}

impl TelemetryPush {
    /// The first metric called `name`, if pushed. Java's client pushes one OTLP metric per
    /// attribute set (e.g. one `...node.request.total` per `node_id`), so a name may occur more
    /// than once: see [`metrics_named`](Self::metrics_named) and [`sum_of`](Self::sum_of).
    pub fn metric(&self, name: &str) -> Option<&PushedMetric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Every metric called `name`, in payload order.
    pub fn metrics_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a PushedMetric> {
        self.metrics.iter().filter(move |m| m.name == name)
    }

    /// The sum of every point of every metric called `name` (`None` when not pushed).
    pub fn sum_of(&self, name: &str) -> Option<f64> {
        let mut named = self.metrics_named(name).peekable();
        named.peek()?;
        Some(named.map(PushedMetric::total).sum())
    }
}

impl KafkaCluster {
    /// Creates or replaces the client-metrics subscription `subscription.name` (Java Admin
    /// `incrementalAlterConfigs` on `CLIENT_METRICS`: `metrics`, `interval.ms` and `match` set to
    /// exactly these values), then waits until the brokers describe it so. Clients that already
    /// have a subscription learn of the change at their next push.
    pub fn set_client_metrics(
        &self,
        subscription: &ClientMetricsSubscription,
    ) -> anyhow::Result<()> {
        java_set_client_metrics(&self.bootstrap(), subscription)
    }

    /// Deletes the client-metrics subscription `name` (its `metrics`, `interval.ms` and `match`
    /// configs) and waits until the brokers describe it without them.
    pub fn delete_client_metrics(&self, name: &str) -> anyhow::Result<()> {
        java_delete_client_metrics(&self.bootstrap(), name)
    }

    /// Every push the brokers recorded so far (all brokers, ordered by the time they received
    /// them). Needs [`KafkaOptions::telemetry_recorder`](crate::KafkaOptions::telemetry_recorder).
    pub fn telemetry_pushes(&self) -> anyhow::Result<Vec<TelemetryPush>> {
        let mut pushes = Vec::new();
        for (broker, path) in self.telemetry_files()? {
            pushes.extend(
                read_pushes(&path)
                    .with_context(|| format!("reading broker {broker}'s telemetry record"))?,
            );
        }
        pushes.sort_by_key(|p| (p.received_unix_ms, p.broker));
        Ok(pushes)
    }

    /// Polls [`telemetry_pushes`](Self::telemetry_pushes) until one satisfies `what` and returns
    /// the first such push; fails after `timeout` with a summary of what was recorded.
    pub fn wait_for_telemetry_push(
        &self,
        timeout: Duration,
        what: impl Fn(&TelemetryPush) -> bool,
    ) -> anyhow::Result<TelemetryPush> {
        let deadline = Instant::now() + timeout;
        loop {
            let pushes = self.telemetry_pushes()?;
            if let Some(p) = pushes.iter().find(|p| what(p)) {
                return Ok(p.clone());
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = pushes
                    .iter()
                    .map(|p| {
                        format!(
                            "{} (client.id {:?}, {} metrics{}{})",
                            p.client_instance_id,
                            p.client_id,
                            p.metrics.len(),
                            if p.terminating { ", terminating" } else { "" },
                            p.decode_error
                                .as_ref()
                                .map(|e| format!(", undecodable: {e}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                bail!(
                    "no matching telemetry push within {timeout:?}; {} recorded: [{}]",
                    pushes.len(),
                    seen.join("; ")
                );
            }
            // Polling a file the broker appends to; bounded by the deadline.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// [`KafkaCluster::set_client_metrics`] against any cluster reachable at `bootstrap`.
pub fn java_set_client_metrics(
    bootstrap: &str,
    subscription: &ClientMetricsSubscription,
) -> anyhow::Result<()> {
    for (key, regex) in &subscription.matches {
        if key.contains(['=', ',']) || regex.contains(',') {
            bail!("a client-metrics match cannot contain ',' (nor '=' in its key): {key}={regex}");
        }
    }
    let mut run = client_metrics(bootstrap, &subscription.name)
        .arg("--metrics", subscription.metrics.join(","))
        .arg("--interval-ms", subscription.interval_ms);
    if !subscription.matches.is_empty() {
        let matches = subscription
            .matches
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        run = run.arg("--match", matches);
    }
    run_client_metrics(run, &subscription.name)
}

/// [`KafkaCluster::delete_client_metrics`] against any cluster reachable at `bootstrap`.
pub fn java_delete_client_metrics(bootstrap: &str, name: &str) -> anyhow::Result<()> {
    run_client_metrics(client_metrics(bootstrap, name).arg("--delete", true), name)
}

/// The helper's `client-metrics` command for subscription `name`.
fn client_metrics(bootstrap: &str, name: &str) -> Helper {
    Helper::new("client-metrics", bootstrap)
        .arg("--name", name)
        .arg("--timeout-ms", SUBSCRIPTION_PROPAGATION.as_millis())
}

fn run_client_metrics(run: Helper, name: &str) -> anyhow::Result<()> {
    let (ok, lines, stderr) = run.output(ADMIN_TIMEOUT)?;
    let answered = lines
        .iter()
        .any(|l| l.get("name").and_then(Value::as_str) == Some(name));
    if !ok || !answered {
        bail!(
            "the client-metrics subscription {name:?} could not be changed; stderr tail:\n{}",
            tail_str(&stderr, 4000)
        );
    }
    Ok(())
}

/// Every complete line of one broker's record file (none yet: the file does not exist).
fn read_pushes(path: &Path) -> anyhow::Result<Vec<TelemetryPush>> {
    let text = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // The broker may be appending a line right now: only newline-terminated lines are whole.
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..end],
        None => return Ok(Vec::new()),
    };
    String::from_utf8_lossy(complete)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
            parse_push(&v).with_context(|| format!("{} line {}: {line}", path.display(), i + 1))
        })
        .collect()
}

fn parse_push(v: &Value) -> anyhow::Result<TelemetryPush> {
    let metrics = v
        .get("metrics")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no metrics array"))?
        .iter()
        .map(parse_metric)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TelemetryPush {
        broker: i32::try_from(int(v, "broker")?).context("broker id out of range")?,
        received_unix_ms: int(v, "receivedMs")?,
        client_instance_id: string(v, "clientInstanceId"),
        terminating: v
            .get("terminating")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        content_type: string(v, "contentType"),
        push_interval_ms: int(v, "pushIntervalMs")?,
        client_id: string(v, "clientId"),
        software_name: string(v, "softwareName"),
        software_version: string(v, "softwareVersion"),
        listener: string(v, "listener"),
        principal: string(v, "principal"),
        bytes: usize::try_from(int(v, "bytes")?).context("negative size")?,
        resource: string_map(v.get("resource")),
        metrics,
        decode_error: v.get("error").and_then(Value::as_str).map(str::to_owned),
    })
}

fn parse_metric(v: &Value) -> anyhow::Result<PushedMetric> {
    let temporality = match v.get("temporality").and_then(Value::as_str) {
        None => None,
        Some("delta") => Some(Temporality::Delta),
        Some("cumulative") => Some(Temporality::Cumulative),
        Some("unspecified") => Some(Temporality::Unspecified),
        Some(other) => bail!("unknown temporality {other:?}"),
    };
    let points = v
        .get("points")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("metric without points array"))?
        .iter()
        .map(|p| {
            Ok(DataPoint {
                attributes: string_map(p.get("attributes")),
                value: number(p.get("value"))?,
                int_value: p.get("int").and_then(Value::as_i64),
                start_unix_nanos: p.get("start").and_then(Value::as_u64).unwrap_or(0),
                time_unix_nanos: p.get("time").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(PushedMetric {
        scope: string(v, "scope"),
        name: string(v, "name"),
        kind: MetricKind::parse(&string(v, "type"))?,
        monotonic: v.get("monotonic").and_then(Value::as_bool).unwrap_or(false),
        temporality,
        points,
    })
}

fn int(v: &Value, field: &str) -> anyhow::Result<i64> {
    v.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| anyhow!("missing integer {field:?}"))
}

/// A string field; `""` when absent or null.
fn string(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON number, or the strings Java writes for NaN and the infinities.
fn number(v: Option<&Value>) -> anyhow::Result<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| anyhow!("bad number {n}")),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => bail!("bad number {other:?}"),
        },
        other => bail!("missing point value (got {other:?})"),
    }
}

/// The directory with the compiled recorder (`kproducer/testkit/TelemetryRecorder.class`),
/// compiled once per source version into `<kafka home>/telemetry-recorder/<hash>` (a private
/// temporary directory when the cache is not writable).
pub(crate) fn recorder_classes() -> anyhow::Result<PathBuf> {
    static COMPILED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| find_or_compile_recorder().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn find_or_compile_recorder() -> anyhow::Result<PathBuf> {
    let lib = kafka_lib()?;
    let cached = kafka_home()?
        .join("telemetry-recorder")
        .join(format!("{:016x}", fnv1a(RECORDER_SOURCE.as_bytes())));
    let class = |dir: &Path| dir.join("kproducer/testkit/TelemetryRecorder.class");
    if class(&cached).is_file() {
        return Ok(cached);
    }
    let parent = cached.parent().unwrap_or(&cached).to_path_buf();
    let staging = std::fs::create_dir_all(&parent)
        .ok()
        .and_then(|_| {
            tempfile::Builder::new()
                .prefix(".partial-")
                .tempdir_in(&parent)
                .ok()
        })
        .map_or_else(
            || {
                tempfile::Builder::new()
                    .prefix("kproducer-telemetry-recorder-")
                    .tempdir()
            },
            Ok,
        )?;
    let src = staging.path().join("TelemetryRecorder.java");
    std::fs::write(&src, RECORDER_SOURCE)?;
    let out = Command::new(java_bin("javac"))
        .arg("-nowarn")
        .arg("-d")
        .arg(staging.path())
        .arg("-cp")
        .arg(lib_classpath(&lib))
        .arg(&src)
        .output()
        .context("running javac for TelemetryRecorder.java (install a JDK 17+)")?;
    if !out.status.success() {
        bail!(
            "javac TelemetryRecorder.java failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let staged = staging.keep();
    // Another process may have won the race: its copy is as good as ours.
    if std::fs::rename(&staged, &cached).is_ok() || class(&cached).is_file() {
        let _ = std::fs::remove_dir_all(&staged);
        return Ok(cached);
    }
    Ok(staged)
}

/// FNV-1a (64 bits): a stable stamp of the recorder's source for the cache directory name.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_line_parses() {
        let line = r#"{"broker":1,"receivedMs":1700000000000,"clientInstanceId":"AAAAAAAAAAAAAAAAAAAAAA","terminating":true,"contentType":"application/x-protobuf","pushIntervalMs":1000,"clientId":"c","softwareName":"apache-kafka-java","softwareVersion":"4.4.0","listener":"PLAINTEXT","principal":"User:ANONYMOUS","bytes":10,"resource":{"k":"v"},"metrics":[{"scope":"org.apache.kafka","name":"org.apache.kafka.producer.record.send.total","type":"sum","monotonic":true,"temporality":"cumulative","points":[{"attributes":{"client_id":"c"},"value":5.0,"int":null,"start":1,"time":2}]},{"scope":"s","name":"g","type":"gauge","monotonic":false,"temporality":null,"points":[{"attributes":{},"value":"NaN","int":null,"start":0,"time":3}]}],"error":null}"#;
        let p = parse_push(&serde_json::from_str(line).unwrap()).unwrap();
        assert!(p.terminating);
        assert_eq!(p.software_name, "apache-kafka-java");
        assert_eq!(p.resource["k"], "v");
        let m = p
            .metric("org.apache.kafka.producer.record.send.total")
            .unwrap();
        assert_eq!(m.kind, MetricKind::Sum);
        assert!(m.monotonic);
        assert_eq!(m.temporality, Some(Temporality::Cumulative));
        assert_eq!(m.total(), 5.0);
        assert_eq!(m.points[0].attributes["client_id"], "c");
        let g = p.metric("g").unwrap();
        assert_eq!(g.kind, MetricKind::Gauge);
        assert_eq!(g.temporality, None);
        assert!(g.points[0].value.is_nan());
        assert_eq!(p.decode_error, None);
    }

    #[test]
    fn only_complete_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        assert!(read_pushes(&path).unwrap().is_empty());
        let line = r#"{"broker":2,"receivedMs":1,"clientInstanceId":"x","terminating":false,"contentType":"c","pushIntervalMs":5,"clientId":null,"softwareName":null,"softwareVersion":null,"listener":"L","principal":"P","bytes":0,"resource":{},"metrics":[],"error":"bad"}"#;
        std::fs::write(&path, format!("{line}\n{{\"broker\":")).unwrap();
        let pushes = read_pushes(&path).unwrap();
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].broker, 2);
        assert_eq!(pushes[0].client_id, "");
        assert_eq!(pushes[0].decode_error.as_deref(), Some("bad"));
    }
}
