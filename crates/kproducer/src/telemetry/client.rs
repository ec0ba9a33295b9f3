//! The client side of KIP-714 as a sans-IO state machine (Java's `ClientTelemetryReporter`
//! sender): ask a broker for the client-metrics subscription (GetTelemetrySubscriptions), push
//! the selected metrics every `push_interval` (PushTelemetry), follow the broker's errors, and
//! make a last, terminating push when the producer closes. Time comes in as `now`; the core
//! sends the requests and builds the payloads.

use std::time::{Duration, Instant};

use crate::protocol::errors::ErrorCode;

use super::otlp::Selector;
use super::ClientInstanceId;

/// Java's `DEFAULT_PUSH_INTERVAL_MS`: the wait after a failure (and for an invalid interval).
pub(crate) const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(300);

/// Java's `ClientTelemetryState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryState {
    /// A subscription is to be fetched (when the interval has passed).
    SubscriptionNeeded,
    /// GetTelemetrySubscriptions is in flight.
    SubscriptionInProgress,
    /// Metrics are to be pushed (when the interval has passed).
    PushNeeded,
    /// PushTelemetry is in flight.
    PushInProgress,
    /// The producer is closing: one last push, marked terminating, is to be sent.
    TerminatingPushNeeded,
    /// The terminating push is in flight.
    TerminatingPushInProgress,
    /// Done: nothing more is sent.
    Terminated,
}

/// What the broker subscribed this client to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    pub(crate) client_instance_id: ClientInstanceId,
    pub(crate) subscription_id: i32,
    pub(crate) push_interval: Duration,
    /// Compression types the broker accepts, its preferred first (Kafka's ids).
    pub(crate) accepted_compression: Vec<i8>,
    /// The largest payload the broker takes.
    pub(crate) telemetry_max_bytes: usize,
    pub(crate) delta_temporality: bool,
    pub(crate) selector: Selector,
}

/// A GetTelemetrySubscriptions answer, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubscriptionAnswer {
    pub(crate) error_code: i16,
    pub(crate) client_instance_id: [u8; 16],
    pub(crate) subscription_id: i32,
    pub(crate) accepted_compression: Vec<i8>,
    pub(crate) push_interval_ms: i32,
    pub(crate) telemetry_max_bytes: i32,
    pub(crate) delta_temporality: bool,
    pub(crate) requested_metrics: Vec<String>,
}

/// The request to send now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TelemetryRequest {
    /// GetTelemetrySubscriptions (the zero id asks the broker to assign one).
    GetSubscriptions {
        client_instance_id: ClientInstanceId,
    },
    /// PushTelemetry of the current metrics under `subscription`.
    Push {
        subscription: Subscription,
        terminating: bool,
    },
}

/// The client telemetry state machine.
#[derive(Debug)]
pub(crate) struct ClientTelemetry {
    state: TelemetryState,
    subscription: Option<Subscription>,
    /// When the last request's answer came (or the last failure): the next request is due
    /// `interval` after it. `None`: never, so the first GetTelemetrySubscriptions is due at once.
    last_request: Option<Instant>,
    interval: Duration,
    /// Off after an error retrying can't mend (Java disables telemetry).
    enabled: bool,
}

impl Default for ClientTelemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientTelemetry {
    pub(crate) fn new() -> Self {
        ClientTelemetry {
            state: TelemetryState::SubscriptionNeeded,
            subscription: None,
            last_request: None,
            interval: Duration::ZERO,
            enabled: true,
        }
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn state(&self) -> TelemetryState {
        self.state
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The id the broker gave this client, once a subscription came.
    pub(crate) fn client_instance_id(&self) -> Option<ClientInstanceId> {
        self.subscription.as_ref().map(|s| s.client_instance_id)
    }

    pub(crate) fn subscription(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }

    /// When the next request is due, at `now` or later (`None`: none is, or one is in flight).
    pub(crate) fn next_due(&self, now: Instant) -> Option<Instant> {
        if !self.enabled {
            return None;
        }
        match self.state {
            TelemetryState::SubscriptionNeeded | TelemetryState::PushNeeded => Some(
                self.last_request
                    .and_then(|at| at.checked_add(self.interval))
                    .map_or(now, |due| due.max(now)),
            ),
            TelemetryState::TerminatingPushNeeded => Some(now),
            _ => None,
        }
    }

    /// Whether a request should go at `now`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        if !self.enabled {
            return false;
        }
        match self.state {
            TelemetryState::SubscriptionNeeded | TelemetryState::PushNeeded => {
                self.last_request.is_none_or(|at| now >= at + self.interval)
            }
            TelemetryState::TerminatingPushNeeded => true,
            _ => false,
        }
    }

    /// The request to send at `now`, if one is due; the state moves to in-progress.
    pub(crate) fn poll_request(&mut self, now: Instant) -> Option<TelemetryRequest> {
        if !self.is_due(now) {
            return None;
        }
        match self.state {
            TelemetryState::SubscriptionNeeded => {
                self.state = TelemetryState::SubscriptionInProgress;
                Some(TelemetryRequest::GetSubscriptions {
                    client_instance_id: self.client_instance_id().unwrap_or(ClientInstanceId::ZERO),
                })
            }
            TelemetryState::PushNeeded | TelemetryState::TerminatingPushNeeded => {
                let terminating = self.state == TelemetryState::TerminatingPushNeeded;
                let Some(subscription) = self.subscription.clone() else {
                    self.state = if terminating {
                        TelemetryState::Terminated
                    } else {
                        TelemetryState::SubscriptionNeeded
                    };
                    return None;
                };
                self.state = if terminating {
                    TelemetryState::TerminatingPushInProgress
                } else {
                    TelemetryState::PushInProgress
                };
                Some(TelemetryRequest::Push {
                    subscription,
                    terminating,
                })
            }
            _ => None,
        }
    }

    /// The request polled could not be written (no connection took it): as if not polled.
    pub(crate) fn unsend(&mut self) {
        self.state = match self.state {
            TelemetryState::SubscriptionInProgress => TelemetryState::SubscriptionNeeded,
            TelemetryState::PushInProgress => TelemetryState::PushNeeded,
            TelemetryState::TerminatingPushInProgress => TelemetryState::Terminated,
            s => s,
        };
    }

    /// The GetTelemetrySubscriptions answer. `jitter` in `[0, 1)` spreads the first push over
    /// 0.5..1.5 × the interval (Java), so clients started together don't push together.
    pub(crate) fn handle_subscription(&mut self, a: SubscriptionAnswer, now: Instant, jitter: f64) {
        if self.state != TelemetryState::SubscriptionInProgress {
            return; // closing meanwhile: the answer no longer matters
        }
        if a.error_code != 0 {
            let current = self.subscription.as_ref().map(|s| s.push_interval);
            self.state = TelemetryState::SubscriptionNeeded;
            self.error_wait(a.error_code, current, now);
            return;
        }
        if a.client_instance_id == [0; 16] {
            // Java refuses it (an invalid id): try again after the default interval.
            tracing::debug!("telemetry subscription without a client instance id");
            self.state = TelemetryState::SubscriptionNeeded;
            self.wait(DEFAULT_PUSH_INTERVAL, now);
            return;
        }
        let push_interval = if a.push_interval_ms <= 0 {
            DEFAULT_PUSH_INTERVAL
        } else {
            Duration::from_millis(a.push_interval_ms as u64)
        };
        let selector = Selector::from_requested(&a.requested_metrics);
        let subscription = Subscription {
            client_instance_id: ClientInstanceId(a.client_instance_id),
            subscription_id: a.subscription_id,
            push_interval,
            accepted_compression: a.accepted_compression,
            telemetry_max_bytes: usize::try_from(a.telemetry_max_bytes).unwrap_or(0),
            delta_temporality: a.delta_temporality,
            selector,
        };
        let first = self.subscription.is_none();
        if first {
            tracing::info!(
                client_instance_id = %subscription.client_instance_id,
                "Client telemetry registered with client instance id: {}",
                subscription.client_instance_id
            );
        }
        if subscription.selector == Selector::None {
            // No metrics wanted: ask again after the interval.
            self.state = TelemetryState::SubscriptionNeeded;
            self.interval = push_interval;
        } else {
            self.state = TelemetryState::PushNeeded;
            let factor = 0.5 + jitter.clamp(0.0, 1.0);
            self.interval = push_interval.mul_f64(factor);
        }
        self.last_request = Some(now);
        self.subscription = Some(subscription);
    }

    /// The PushTelemetry answer's error code.
    pub(crate) fn handle_push(&mut self, error_code: i16, now: Instant) {
        match self.state {
            TelemetryState::TerminatingPushInProgress => {
                self.state = TelemetryState::Terminated;
                return;
            }
            TelemetryState::PushInProgress => {}
            _ => return, // closing meanwhile: the terminating push is still to go
        }
        if error_code != 0 {
            let current = self.subscription.as_ref().map(|s| s.push_interval);
            self.state = TelemetryState::SubscriptionNeeded;
            self.error_wait(error_code, current, now);
            return;
        }
        self.state = TelemetryState::PushNeeded;
        self.last_request = Some(now);
        self.interval = self
            .subscription
            .as_ref()
            .map_or(DEFAULT_PUSH_INTERVAL, |s| s.push_interval);
    }

    /// The request in flight got no answer (connection lost, timed out, an answer that could not
    /// be read, the broker lacks the API). `retriable`: ask again (for a new subscription,
    /// perhaps from another broker) after `wait`; otherwise stop, as Java does.
    pub(crate) fn request_failed(&mut self, retriable: bool, wait: Duration, now: Instant) {
        match self.state {
            TelemetryState::TerminatingPushInProgress | TelemetryState::TerminatingPushNeeded => {
                self.state = TelemetryState::Terminated;
                return;
            }
            TelemetryState::SubscriptionInProgress | TelemetryState::PushInProgress => {}
            _ => return,
        }
        self.state = TelemetryState::SubscriptionNeeded;
        if retriable {
            self.wait(wait, now);
        } else {
            tracing::warn!(
                "client telemetry disabled: the broker's answer can't be mended by retrying"
            );
            self.enabled = false;
        }
    }

    /// The producer closes: a last push (marked terminating) if a subscription asks for
    /// metrics, else done. Returns whether a terminating push is to be sent.
    pub(crate) fn initiate_close(&mut self) -> bool {
        let push = self.enabled
            && self
                .subscription
                .as_ref()
                .is_some_and(|s| s.selector != Selector::None);
        match self.state {
            TelemetryState::PushNeeded | TelemetryState::PushInProgress if push => {
                // A push in flight is answered first; its answer leaves this state as is.
                self.state = TelemetryState::TerminatingPushNeeded;
                true
            }
            TelemetryState::TerminatingPushNeeded | TelemetryState::TerminatingPushInProgress => {
                true
            }
            _ => {
                self.state = TelemetryState::Terminated;
                false
            }
        }
    }

    /// Done without a (further) terminating push: the network thread is going away, or a
    /// closing producer has no connection to send it on.
    pub(crate) fn terminate(&mut self) {
        self.state = TelemetryState::Terminated;
    }

    /// Whether the terminating push is still to be sent or answered.
    pub(crate) fn is_terminating(&self) -> bool {
        matches!(
            self.state,
            TelemetryState::TerminatingPushNeeded | TelemetryState::TerminatingPushInProgress
        )
    }

    /// Java's `maybeFetchErrorIntervalMs`: how an error code sets the wait before the next
    /// GetTelemetrySubscriptions (or stops telemetry).
    fn error_wait(&mut self, code: i16, current: Option<Duration>, now: Instant) {
        let name = ErrorCode::from_i16(code).map_or_else(|| code.to_string(), |c| c.to_string());
        let wait = match code {
            // INVALID_REQUEST, INVALID_RECORD, UNSUPPORTED_VERSION: retrying can't help.
            42 | 87 | 35 => None,
            // UNKNOWN_SUBSCRIPTION_ID, UNSUPPORTED_COMPRESSION_TYPE: a new subscription at once.
            117 | 76 => Some(Duration::ZERO),
            // TELEMETRY_TOO_LARGE, THROTTLING_QUOTA_EXCEEDED: at the next interval.
            118 | 89 => Some(current.unwrap_or(DEFAULT_PUSH_INTERVAL)),
            _ => None,
        };
        match wait {
            Some(wait) => {
                tracing::debug!(error = %name, ?wait, "client telemetry: subscription again");
                self.wait(wait, now);
            }
            None => {
                tracing::warn!(error = %name, "client telemetry disabled after the broker's error");
                self.enabled = false;
            }
        }
    }

    fn wait(&mut self, wait: Duration, now: Instant) {
        self.interval = wait;
        self.last_request = Some(now);
    }
}

#[cfg(test)]
mod tests;
