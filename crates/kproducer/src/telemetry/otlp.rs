//! The push payload: the producer's metrics as an OTLP `MetricsData` protobuf message (KIP-714
//! fixes OpenTelemetry's metrics encoding), named as Java's client names them, filtered by the
//! subscription's prefixes.
//!
//! Hand-written, because the message is small and fixed: `MetricsData` → one `ResourceMetrics`
//! (the producer's resource attributes) → one `ScopeMetrics` → a `Metric` per metric, each a
//! `Gauge` or a monotonic `Sum` with one `NumberDataPoint` (a double). Field numbers are those of
//! `opentelemetry/proto/metrics/v1/metrics.proto`; the Apache Kafka test decodes our payloads
//! with the generated Java classes (`tests/telemetry_kafka.rs`).

use std::collections::HashMap;

/// One metric's value at push time, before naming: Java's group, name and tags.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// Java's group (`producer-metrics`, `producer-topic-metrics`, `producer-node-metrics`).
    pub(crate) group: &'static str,
    /// Java's metric name (`record-send-total`).
    pub(crate) name: &'static str,
    /// Java's tags (`client-id` is left out of the payload: the broker knows it from the
    /// request).
    pub(crate) tags: Vec<(&'static str, String)>,
    pub(crate) value: f64,
}

/// The metric name Java's client pushes for `name` in `group` (Java's
/// `TelemetryMetricNamingConvention`): `org.apache.kafka.` + the group lower-cased with `-` as
/// `.` and `.metrics` removed + `.` + the name likewise: `producer-topic-metrics` /
/// `record-send-total` → `org.apache.kafka.producer.topic.record.send.total`.
pub(crate) fn metric_name(group: &str, name: &str) -> String {
    let group = group.to_ascii_lowercase().replace('-', ".");
    let group = group.replace(".metrics", "");
    format!(
        "org.apache.kafka.{group}.{}",
        name.to_ascii_lowercase().replace('-', ".")
    )
}

/// A tag's attribute key: lower case, `-` as `_` (`node-id` → `node_id`).
pub(crate) fn attribute_key(tag: &str) -> String {
    tag.to_ascii_lowercase().replace('-', "_")
}

/// Whether Java reports the metric as a monotonic sum (its cumulative `*-total` metrics:
/// `CumulativeSum`/`WindowedCount` measurables); every other metric is a gauge.
pub(crate) fn is_sum(name: &str) -> bool {
    name.ends_with("-total")
}

/// Which metrics a subscription asks for (`requested_metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    /// An empty list: none (the client asks again after the interval).
    None,
    /// `["*"]`: all.
    All,
    /// Metrics whose pushed name starts with one of these.
    Prefixes(Vec<String>),
}

impl Selector {
    /// Java's reading of the broker's list.
    pub(crate) fn from_requested(requested: &[String]) -> Self {
        match requested {
            [] => Selector::None,
            [one] if one == "*" => Selector::All,
            many => Selector::Prefixes(many.to_vec()),
        }
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Selector::None => false,
            Selector::All => true,
            Selector::Prefixes(p) => p.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

/// Sums' history between pushes (Java's `StateLedger`): when each was first seen (a cumulative
/// sum's start time) and, for delta temporality, the value and time of the last push.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    first_seen: HashMap<String, u64>,
    last: HashMap<String, (u64, f64)>,
}

/// AggregationTemporality.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;

impl Collector {
    /// Forgets the sums' history (the subscription's temporality changed, as Java resets).
    pub(crate) fn reset(&mut self) {
        self.first_seen.clear();
        self.last.clear();
    }

    /// Encodes the selected `samples` at `now_nanos` (Unix time) as `MetricsData`, with
    /// `resource` as the resource's attributes. Sums are cumulative (since first seen) or, with
    /// `delta`, the change since the last push. Returns the message and how many metrics it has.
    pub(crate) fn encode(
        &mut self,
        samples: impl IntoIterator<Item = Sample>,
        selector: &Selector,
        delta: bool,
        now_nanos: u64,
        resource: &[(String, String)],
    ) -> (Vec<u8>, usize) {
        let mut metrics = Vec::new();
        let mut count = 0;
        let mut scratch = Vec::new();
        for s in samples {
            let name = metric_name(s.group, s.name);
            if !selector.matches(&name) {
                continue;
            }
            count += 1;
            let attributes: Vec<(String, &str)> = s
                .tags
                .iter()
                .filter(|(k, _)| *k != "client-id")
                .map(|(k, v)| (attribute_key(k), v.as_str()))
                .collect();
            scratch.clear();
            if is_sum(s.name) {
                let mut key = name.clone();
                for (k, v) in &attributes {
                    key.push('\0');
                    key.push_str(k);
                    key.push('=');
                    key.push_str(v);
                }
                let added = *self.first_seen.entry(key.clone()).or_insert(now_nanos);
                let (start, value) = if delta {
                    match self.last.insert(key, (now_nanos, s.value)) {
                        Some((at, before)) => (at, s.value - before),
                        None => (added, s.value),
                    }
                } else {
                    (added, s.value)
                };
                let point = data_point(&attributes, Some(start), now_nanos, value);
                let mut sum = Vec::new();
                bytes_field(&mut sum, 1, &point);
                varint_field(&mut sum, 2, if delta { DELTA } else { CUMULATIVE });
                varint_field(&mut sum, 3, 1); // is_monotonic
                string_field(&mut scratch, 1, &name);
                bytes_field(&mut scratch, 7, &sum);
            } else {
                let point = data_point(&attributes, None, now_nanos, s.value);
                let mut gauge = Vec::new();
                bytes_field(&mut gauge, 1, &point);
                string_field(&mut scratch, 1, &name);
                bytes_field(&mut scratch, 5, &gauge);
            }
            bytes_field(&mut metrics, 2, &scratch); // ScopeMetrics.metrics
        }
        let mut res = Vec::new();
        for (k, v) in resource {
            bytes_field(&mut res, 1, &key_value(k, v));
        }
        let mut resource_metrics = Vec::new();
        bytes_field(&mut resource_metrics, 1, &res);
        bytes_field(&mut resource_metrics, 2, &metrics);
        let mut data = Vec::new();
        bytes_field(&mut data, 1, &resource_metrics);
        (data, count)
    }
}

/// A `NumberDataPoint` with a double value.
fn data_point(attributes: &[(String, &str)], start: Option<u64>, time: u64, value: f64) -> Vec<u8> {
    let mut p = Vec::new();
    if let Some(start) = start {
        fixed64_field(&mut p, 2, start);
    }
    fixed64_field(&mut p, 3, time);
    fixed64_field(&mut p, 4, value.to_bits()); // as_double
    for (k, v) in attributes {
        bytes_field(&mut p, 7, &key_value(k, v));
    }
    p
}

/// A `KeyValue` with a string `AnyValue`.
fn key_value(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    string_field(&mut any, 1, value);
    let mut kv = Vec::new();
    string_field(&mut kv, 1, key);
    bytes_field(&mut kv, 2, &any);
    kv
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    varint(out, u64::from(field) << 3);
    varint(out, v);
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, v: u64) {
    varint(out, (u64::from(field) << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, (u64::from(field) << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string_field(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes_field(out, field, s.as_bytes());
}

#[cfg(test)]
pub(crate) mod test_decode;
#[cfg(test)]
mod tests;
