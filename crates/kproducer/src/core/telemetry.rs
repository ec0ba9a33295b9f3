//! The core's side of KIP-714 client telemetry: the [`ClientTelemetry`] state machine's
//! requests go out on the least busy ready connection, the push payload is built from the
//! producer's metrics at `now`, and the answers come back to the state machine. The decisions
//! are in `telemetry/client.rs`; this file chooses connections, encodes and decodes.

use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::{
    get_telemetry_subscriptions_request::GetTelemetrySubscriptionsRequest,
    get_telemetry_subscriptions_response::GetTelemetrySubscriptionsResponse,
    push_telemetry_request::PushTelemetryRequest, push_telemetry_response::PushTelemetryResponse,
    ApiKey,
};
use kafka_protocol::protocol::HeaderVersion;

use crate::compression::{codec_from_id, Compression};
use crate::config::CompressionType;
use crate::metrics::Scope;
use crate::network::frame::decode_response;
use crate::telemetry::client::{
    ClientTelemetry, Subscription, SubscriptionAnswer, TelemetryRequest, DEFAULT_PUSH_INTERVAL,
};
use crate::telemetry::otlp::Sample;

use super::conn::{ConnId, Kind};
use super::ProducerCore;

const GET_SUBSCRIPTIONS: i16 = ApiKey::GetTelemetrySubscriptions as i16;
const PUSH: i16 = ApiKey::PushTelemetry as i16;

impl ProducerCore {
    /// Sends the telemetry request that is due, if a connection can take it; otherwise sets when
    /// to look again. `finished`: the producer is closed and everything delivered, so the
    /// terminating push goes now (and the core is not finished until it is answered).
    pub(super) fn pump_telemetry(&mut self, finished: bool, now: Instant) -> bool {
        let Some(t) = self.telemetry.as_mut() else {
            return finished;
        };
        if finished && !t.is_terminating() {
            t.initiate_close();
        }
        self.telemetry_wakeup = None;
        if t.is_due(now) {
            let conn = self
                .conns
                .ready()
                .min_by_key(|c| (c.in_flight.len(), c.id))
                .map(|c| c.id);
            match conn {
                Some(conn) => {
                    if let Some(request) = t.poll_request(now) {
                        self.send_telemetry(conn, request, now);
                    }
                }
                // No connection to ride on: the next input that readies one pumps again. A
                // closing producer with none does not wait for one.
                None if finished => t.terminate(),
                None => {}
            }
        }
        let Some(t) = self.telemetry.as_ref() else {
            return finished;
        };
        self.telemetry_wakeup = t
            .next_due(now)
            .filter(|_| self.conns.ready().next().is_some());
        finished && !t.is_terminating()
    }

    fn send_telemetry(&mut self, conn: ConnId, request: TelemetryRequest, now: Instant) {
        let api = match &request {
            TelemetryRequest::GetSubscriptions { .. } => GET_SUBSCRIPTIONS,
            TelemetryRequest::Push { .. } => PUSH,
        };
        let version = self
            .conns
            .get(conn)
            .and_then(|c| c.versions.highest_common(api, 0, 0));
        let Some(version) = version else {
            // Kafka before 3.7 (or a broker with telemetry off): Java tries again after the
            // default interval, perhaps on another broker.
            tracing::debug!(
                api,
                "the broker does not support client telemetry; asking again later"
            );
            if let Some(t) = self.telemetry.as_mut() {
                t.request_failed(true, DEFAULT_PUSH_INTERVAL, now);
            }
            return;
        };
        let kind = Kind::Telemetry { api, version };
        let written = match request {
            TelemetryRequest::GetSubscriptions { client_instance_id } => {
                let r = GetTelemetrySubscriptionsRequest::default().with_client_instance_id(
                    uuid::Uuid::from_bytes(*client_instance_id.as_bytes()),
                );
                self.write_request(conn, &r, version, kind, now)
            }
            TelemetryRequest::Push {
                subscription,
                terminating,
            } => {
                let (codec, metrics) = self.telemetry_payload(&subscription, now);
                let r = PushTelemetryRequest::default()
                    .with_client_instance_id(uuid::Uuid::from_bytes(
                        *subscription.client_instance_id.as_bytes(),
                    ))
                    .with_subscription_id(subscription.subscription_id)
                    .with_terminating(terminating)
                    .with_compression_type(codec as i8)
                    .with_metrics(Bytes::from(metrics));
                self.write_request(conn, &r, version, kind, now)
            }
        };
        if let Err(reason) = written {
            tracing::debug!(%reason, "telemetry request not sent");
            if let Some(t) = self.telemetry.as_mut() {
                t.unsend();
            }
        }
    }

    /// The push's payload: the producer's metrics at `now` that the subscription selects, as
    /// OTLP `MetricsData`, compressed with the broker's preferred codec (Java takes the first
    /// the broker lists; uncompressed if that fails or none is listed).
    fn telemetry_payload(&mut self, s: &Subscription, now: Instant) -> (CompressionType, Vec<u8>) {
        let mut samples: Vec<Sample> = Vec::with_capacity(128);
        let put = |samples: &mut Vec<Sample>, scope: Scope<'_>, name: &'static str, v: f64| {
            let tags = match scope {
                Scope::Producer => Vec::new(),
                Scope::Topic(topic) => vec![("topic", topic.to_string())],
                Scope::Node(node) => vec![("node-id", format!("node-{node}"))],
            };
            samples.push(Sample {
                group: scope.group(),
                name,
                tags,
                value: v,
            });
        };
        self.metrics
            .visit(now, |scope, name, v| put(&mut samples, scope, name, v));
        self.shared
            .view
            .api_times
            .visit(|name, v| put(&mut samples, Scope::Producer, name, v));
        {
            let shared = Arc::clone(&self.shared);
            let st = shared.lock();
            let gauges = st.pool_gauges();
            st.pool_metrics.visit(gauges, now, |name, v| {
                put(&mut samples, Scope::Producer, name, v)
            });
        }
        let (at, wall) = self.cfg.wall_anchor;
        let now_nanos = (wall + now.saturating_duration_since(at))
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let (data, _) = self.telemetry_collector.encode(
            samples,
            &s.selector,
            s.delta_temporality,
            now_nanos,
            &self.telemetry_resource,
        );
        let codec = s
            .accepted_compression
            .first()
            .and_then(|id| u8::try_from(*id).ok())
            .and_then(codec_from_id)
            .unwrap_or(CompressionType::None);
        if codec == CompressionType::None {
            return (codec, data);
        }
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        match Compression::with_default_level(codec).compress(&data, &mut out) {
            Ok(()) => (codec, out),
            Err(e) => {
                tracing::debug!(%e, ?codec, "telemetry payload sent uncompressed");
                (CompressionType::None, data)
            }
        }
    }

    /// An answer to GetTelemetrySubscriptions or PushTelemetry.
    pub(super) fn on_telemetry_response(
        &mut self,
        conn: ConnId,
        api: i16,
        version: i16,
        frame: Bytes,
        now: Instant,
    ) {
        let jitter = self.jitter.unit();
        let result = if api == GET_SUBSCRIPTIONS {
            decode_response::<GetTelemetrySubscriptionsResponse>(
                frame,
                api,
                version,
                GetTelemetrySubscriptionsResponse::header_version(version),
            )
            .map(|r| {
                if let Some(t) = self.telemetry.as_mut() {
                    let delta_before = t.subscription().map(|s| s.delta_temporality);
                    // Java resets the sums' history when the temporality changes.
                    if delta_before.is_some_and(|d| d != r.delta_temporality) {
                        self.telemetry_collector.reset();
                    }
                    t.handle_subscription(
                        SubscriptionAnswer {
                            error_code: r.error_code,
                            client_instance_id: *r.client_instance_id.as_bytes(),
                            subscription_id: r.subscription_id,
                            accepted_compression: r.accepted_compression_types,
                            push_interval_ms: r.push_interval_ms,
                            telemetry_max_bytes: r.telemetry_max_bytes,
                            delta_temporality: r.delta_temporality,
                            requested_metrics: r
                                .requested_metrics
                                .iter()
                                .map(|m| m.to_string())
                                .collect(),
                        },
                        now,
                        jitter,
                    );
                }
            })
        } else {
            decode_response::<PushTelemetryResponse>(
                frame,
                api,
                version,
                PushTelemetryResponse::header_version(version),
            )
            .map(|r| {
                if let Some(t) = self.telemetry.as_mut() {
                    t.handle_push(r.error_code, now);
                }
            })
        };
        match result {
            Ok(()) => self.publish_telemetry(),
            Err(e) => {
                let reason = format!("unusable telemetry answer: {e}");
                if let Some(t) = self.telemetry.as_mut() {
                    t.request_failed(true, DEFAULT_PUSH_INTERVAL, now);
                }
                self.close(conn, &reason, now);
            }
        }
    }

    /// A telemetry request's connection went away: a new subscription (perhaps from another
    /// broker) after `retry.backoff.ms`; a terminating push is given up.
    pub(super) fn telemetry_request_lost(&mut self, now: Instant) {
        let wait = self.cfg.retry_backoff;
        if let Some(t) = self.telemetry.as_mut() {
            t.request_failed(true, wait, now);
        }
    }

    /// Publishes the client instance id for [`crate::Producer::client_instance_id`].
    fn publish_telemetry(&self) {
        if let Some(id) = self
            .telemetry
            .as_ref()
            .and_then(ClientTelemetry::client_instance_id)
        {
            self.shared.view.set_client_instance_id(id);
        }
    }

    /// The network thread is going away: no terminating push.
    pub(super) fn telemetry_abort(&mut self) {
        if let Some(t) = self.telemetry.as_mut() {
            t.terminate();
        }
    }
}
