//! The core's side of the producer metrics (`crate::metrics`): what it records, with the `now`
//! of the input that caused it, and how it publishes them to the shared view; and the
//! per-request `tracing` events (target `kproducer::request`: a TRACE event when a request is
//! written, a DEBUG event when it is answered). Kept apart from the decisions in `core/mod.rs`,
//! which only call in here.

use std::time::{Duration, Instant};

use super::conn::{InFlight, Kind};
use super::{ConnId, ProducerCore};
use crate::sender::MetricEvent;

/// The target of the per-request events: `RUST_LOG=kproducer::request=debug` shows every answer
/// (broker, API, correlation id, size, latency), `=trace` every request written as well.
pub(crate) const REQUEST_TARGET: &str = "kproducer::request";

impl Kind {
    /// The request's API name, as Kafka's `ApiKeys` spell it.
    pub(crate) fn api(&self) -> &'static str {
        match self {
            Kind::ApiVersions { .. } => "ApiVersions",
            Kind::Metadata { .. } => "Metadata",
            Kind::InitProducerId { .. } => "InitProducerId",
            Kind::Produce { .. } => "Produce",
            Kind::SaslHandshake { .. } => "SaslHandshake",
            Kind::SaslAuthenticate { .. } => "SaslAuthenticate",
            Kind::Txn { api, .. } => match api {
                10 => "FindCoordinator",
                22 => "InitProducerId",
                24 => "AddPartitionsToTxn",
                25 => "AddOffsetsToTxn",
                26 => "EndTxn",
                28 => "TxnOffsetCommit",
                _ => "Transactional",
            },
            Kind::Telemetry { api, .. } => match api {
                71 => "GetTelemetrySubscriptions",
                _ => "PushTelemetry",
            },
        }
    }

    /// The request's API version.
    pub(crate) fn version(&self) -> i16 {
        match *self {
            Kind::ApiVersions { version }
            | Kind::Metadata { version }
            | Kind::InitProducerId { version }
            | Kind::Produce { version, .. }
            | Kind::SaslHandshake { version }
            | Kind::SaslAuthenticate { version }
            | Kind::Txn { version, .. }
            | Kind::Telemetry { version, .. } => version,
        }
    }
}

impl ProducerCore {
    /// The network thread waited `waited` for an event after working `busy` since its previous
    /// wait (Java's `select` time and I/O time: `io-wait-*`, `io-*`, `select-*`).
    pub fn handle_io_wait(&mut self, waited: Duration, busy: Duration, now: Instant) {
        self.metrics.record_io(waited, busy, now);
    }

    /// The broker id Java would tag `conn`'s metrics with: the node at its address, else a
    /// bootstrap server's negative id (-1 for the first, as Java numbers them).
    /// The broker id `conn`'s metrics are tagged with: the broker at its address, else a
    /// bootstrap server's negative id (-1 for the first, as Java numbers them). A bootstrap
    /// connection carries its first requests as `node--1`, as Java's bootstrap connection does,
    /// and, since kproducer keeps using it once metadata names the broker behind it (Java opens
    /// another), the rest under that broker's id.
    fn metrics_node(&self, conn: ConnId) -> i32 {
        let Some(c) = self.conns.get(conn) else {
            return -1;
        };
        if let Some(node) = self.addrs.node_at(&c.addr) {
            return node;
        }
        self.cfg
            .bootstrap_servers
            .iter()
            .position(|s| s.as_str() == &*c.addr)
            .map_or(-1, |i| -(i as i32) - 1)
    }

    /// The requests in flight on `lost`, a connection that just went away: a DEBUG event each
    /// (target `kproducer::request`), so every "request sent" event is followed by either an
    /// answer or this. Their handlers retry or fail them.
    pub(super) fn observe_lost(&self, lost: &super::conn::Conn, reason: &str, now: Instant) {
        if lost.in_flight.is_empty()
            || !tracing::enabled!(target: REQUEST_TARGET, tracing::Level::DEBUG)
        {
            return;
        }
        let broker = self.addrs.node_at(&lost.addr).unwrap_or(-1);
        for r in &lost.in_flight {
            r.span.record("error", reason);
            let written = r
                .deadline
                .checked_sub(self.cfg.request_timeout)
                .unwrap_or(now);
            tracing::debug!(
                target: REQUEST_TARGET,
                broker,
                api = r.kind.api(),
                api_version = r.kind.version(),
                correlation_id = r.correlation_id,
                waited_ms = now.saturating_duration_since(written).as_secs_f64() * 1e3,
                conn = lost.id.0,
                reason,
                "request lost with its connection"
            );
        }
    }

    /// `conn` was closed (or its set-up failed).
    pub(super) fn observe_closed(&mut self, _conn: ConnId, now: Instant) {
        self.metrics.record_connection_closed(now);
    }

    /// Request `correlation_id` of `kind`, a frame of `bytes` (size prefix included), was queued
    /// on `conn`. With no subscriber for its TRACE event, the event costs one compare with a
    /// static.
    pub(super) fn observe_sent(
        &mut self,
        conn: ConnId,
        correlation_id: i32,
        kind: Kind,
        bytes: usize,
        now: Instant,
    ) {
        let node = self.metrics_node(conn);
        self.metrics.record_sent(node, bytes, now);
        // The request's span, open until its answer or its loss (an OpenTelemetry layer shows
        // it with the request's duration). Disabled, it is `Span::none()`: nothing allocated.
        let span = tracing::debug_span!(
            target: REQUEST_TARGET,
            "request",
            broker = node,
            api = kind.api(),
            api_version = kind.version(),
            correlation_id,
            bytes,
            conn = conn.0,
            response_bytes = tracing::field::Empty,
            latency_us = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        if !span.is_none() {
            if let Some(r) = self
                .conns
                .get_mut(conn)
                .and_then(|c| c.in_flight.back_mut())
                .filter(|r| r.correlation_id == correlation_id)
            {
                r.span = span;
            }
        }
        tracing::trace!(
            target: REQUEST_TARGET,
            broker = node,
            api = kind.api(),
            api_version = kind.version(),
            correlation_id,
            bytes,
            conn = conn.0,
            "request sent"
        );
    }

    /// A response frame of `len` bytes (without its size prefix) arrived on `conn`.
    pub(super) fn observe_received(&mut self, conn: ConnId, len: usize, now: Instant) {
        if self.conns.get(conn).is_none() {
            return;
        }
        let node = self.metrics_node(conn);
        self.metrics.record_received(node, len + 4, now);
    }

    /// `request`, answered on `conn` at `now` by a frame of `len` bytes (without its size
    /// prefix): a Produce answer's latency (from when the request was written,
    /// `request.timeout.ms` before its deadline), and a DEBUG event for any answer (nothing
    /// computed for it unless a subscriber wants it).
    pub(super) fn observe_answer(
        &mut self,
        conn: ConnId,
        request: &InFlight,
        len: usize,
        now: Instant,
    ) {
        let is_produce = matches!(request.kind, Kind::Produce { .. });
        let traced = tracing::enabled!(target: REQUEST_TARGET, tracing::Level::DEBUG);
        if !is_produce && !traced {
            return;
        }
        let written = request
            .deadline
            .checked_sub(self.cfg.request_timeout)
            .unwrap_or(now);
        let latency = now.saturating_duration_since(written);
        let node = self.metrics_node(conn);
        if is_produce {
            self.metrics.record_latency(node, latency, now);
        }
        if !request.span.is_none() {
            request.span.record("response_bytes", len + 4);
            request
                .span
                .record("latency_us", latency.as_micros() as u64);
        }
        if traced {
            tracing::debug!(
                target: REQUEST_TARGET,
                broker = node,
                api = request.kind.api(),
                api_version = request.kind.version(),
                correlation_id = request.correlation_id,
                bytes = len + 4,
                latency_us = latency.as_micros() as u64,
                conn = conn.0,
                "request answered"
            );
        }
    }

    /// A Produce answer's `throttle_time_ms`.
    pub(super) fn observe_throttle(&mut self, throttle_ms: i32, now: Instant) {
        self.metrics.record_throttle(throttle_ms, now);
    }

    /// Drained request `id`: its batches (closed) and its record count (Java's
    /// `updateProduceRequestMetrics`).
    pub(super) fn observe_request(&mut self, id: u64, now: Instant) {
        let metrics = &mut self.metrics;
        let mut records = 0;
        for b in self.sender.request_batches_mut(id).iter() {
            records += b.record_count();
            metrics.record_batch(
                &b.tp.topic,
                b.record_count(),
                b.size_in_bytes(),
                f64::from(b.compression_ratio()),
                now.saturating_duration_since(b.created),
                b.max_record_size(),
                now,
            );
        }
        metrics.record_request_records(records, now);
    }

    /// Records what the sender and the completions tell (retries, splits, failed records), sets
    /// the gauges, and copies the metrics to the shared view if they changed.
    pub(super) fn publish_metrics(&mut self, now: Instant) {
        self.metrics_now = now;
        let mut events = std::mem::take(&mut self.metric_events);
        self.sender.take_metric_events(&mut events);
        for e in events.drain(..) {
            match e {
                MetricEvent::Retry { topic, records } => {
                    self.metrics.record_retries(&topic, records, now)
                }
                MetricEvent::Split => self.metrics.record_split(now),
            }
        }
        self.metric_events = events;
        self.count_errors(now);
        self.metrics
            .set_gauges(self.conns.in_flight_total(), self.conns.len());
        if self.metrics.version != self.metrics_published {
            self.metrics_published = self.metrics.version;
            self.shared.view.set_metrics(&self.metrics);
        }
    }

    /// Failed records among the completions not counted yet (Java's `recordErrors` in
    /// `failBatch`).
    pub(super) fn count_errors(&mut self, now: Instant) {
        let start = self.errors_counted.min(self.completions.len());
        for c in &self.completions[start..] {
            if c.result.is_err() {
                self.metrics
                    .record_errors(&c.batch.tp.topic, c.batch.record_count(), now);
            }
        }
        self.errors_counted = self.completions.len();
    }

    /// The core's metrics (for tests, and the driver's export to the `metrics` facade).
    #[cfg(any(test, feature = "metrics-export"))]
    pub(crate) fn metrics(&self) -> &crate::metrics::NetworkMetrics {
        &self.metrics
    }
}
