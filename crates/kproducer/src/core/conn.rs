//! The core's view of its connections: which exist, in what phase (connecting, negotiating
//! ApiVersions, ready), which requests are in flight on each (in write order, since a broker
//! answers a connection's requests in order), and the reconnect backoff per address.
//!
//! No sockets here: the driver opens and closes them when the core says so
//! ([`Transmit`](super::Transmit)) and reports what happened.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backoff::{ExponentialBackoff, Jitter};
use crate::network::ApiVersions;

/// A connection's identity for the life of the core (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The transport is connecting.
    Connecting,
    /// Connected; ApiVersions in flight.
    Negotiating,
    /// SASL: SaslHandshake and SaslAuthenticate rounds in flight (at set-up, or a KIP-368
    /// re-authentication once the requests before it were answered).
    Authenticating,
    /// Requests may go.
    Ready,
}

/// What a request in flight was, so its answer (or failure) reaches the right handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Connection set-up at this ApiVersions version.
    ApiVersions { version: i16 },
    /// A metadata refresh.
    Metadata { version: i16 },
    /// The idempotent producer's id (or an epoch bump).
    InitProducerId { version: i16 },
    /// The sender's Produce request `id`.
    Produce { id: u64, version: i16 },
    /// SASL: the mechanism offered.
    SaslHandshake { version: i16 },
    /// SASL: one round of the mechanism's exchange.
    SaslAuthenticate { version: i16 },
    /// A transactional request (FindCoordinator, InitProducerId with a transactional id,
    /// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn): API key and version.
    Txn { api: i16, version: i16 },
    /// KIP-714 client telemetry: GetTelemetrySubscriptions or PushTelemetry (API key), version.
    Telemetry { api: i16, version: i16 },
}

/// A request written and not yet answered.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) correlation_id: i32,
    pub(crate) kind: Kind,
    /// `request.timeout.ms` after it was written.
    pub(crate) deadline: Instant,
    /// Its `tracing` span (target `kproducer::request`), open from the write to the answer or
    /// the loss; `Span::none()` when no subscriber wants it.
    pub(crate) span: tracing::Span,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) addr: Arc<str>,
    pub(crate) phase: Phase,
    /// Set-up (connect and ApiVersions) must be done by then (`socket.connection.setup.timeout.ms`).
    pub(crate) setup_deadline: Instant,
    /// The broker's API ranges, once negotiated.
    pub(crate) versions: ApiVersions,
    next_correlation_id: i32,
    /// Requests awaiting an answer, oldest first.
    pub(crate) in_flight: VecDeque<InFlight>,
    /// The SASL exchange under way.
    pub(crate) sasl: Option<Box<dyn crate::security::sasl::SaslMechanism>>,
    /// When to re-authenticate (KIP-368: the broker gave the session a lifetime); from then on
    /// the connection takes no new requests, and re-authenticates once those in flight are answered.
    pub(crate) reauth_due: Option<Instant>,
    /// `reauth_due` passed: no new requests until re-authenticated.
    pub(crate) reauth_pending: bool,
    /// When the KIP-368 re-authentication under way started (its latency is a metric).
    pub(crate) reauth_started: Option<Instant>,
}

impl Conn {
    /// The correlation id for the next request written on this connection.
    pub(crate) fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = id.checked_add(1).unwrap_or(0);
        id
    }

    /// How many requests were written on this connection.
    pub(crate) fn requests_written(&self) -> i32 {
        self.next_correlation_id
    }

    /// Whether the connection takes new requests.
    pub(crate) fn is_ready(&self) -> bool {
        self.phase == Phase::Ready && !self.reauth_pending
    }

    /// The earliest deadline on this connection (set-up or a request's).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let setup = (self.phase != Phase::Ready).then_some(self.setup_deadline);
        let request = self.in_flight.iter().map(|r| r.deadline).min();
        match (setup, request) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Reconnect state of one address.
#[derive(Debug, Clone, Copy)]
struct AddrBackoff {
    until: Instant,
    failures: u32,
}

/// Every connection, by id and by address, and the reconnect backoff per address.
#[derive(Debug)]
pub(crate) struct Connections {
    conns: HashMap<ConnId, Conn>,
    by_addr: HashMap<Arc<str>, ConnId>,
    next_id: u64,
    backoff: HashMap<Arc<str>, AddrBackoff>,
    reconnect: ExponentialBackoff,
    /// The ApiVersions version to start at for an address whose broker refused ours and closed
    /// the connection (KIP-511: retry at the version it supports, else v0).
    negotiate_from: HashMap<Arc<str>, i16>,
    setup_timeout: Duration,
}

impl Connections {
    /// No connections; `reconnect.backoff.ms`/`.max.ms` and `socket.connection.setup.timeout.ms`.
    pub(crate) fn new(
        reconnect_backoff: Duration,
        reconnect_backoff_max: Duration,
        setup_timeout: Duration,
    ) -> Self {
        Connections {
            conns: HashMap::new(),
            by_addr: HashMap::new(),
            next_id: 1,
            backoff: HashMap::new(),
            // Java's NetworkClient: ExponentialBackoff(reconnect.backoff.ms, 2, .max.ms, 0.2).
            reconnect: ExponentialBackoff::new(reconnect_backoff, 2, reconnect_backoff_max, 0.2),
            negotiate_from: HashMap::new(),
            setup_timeout,
        }
    }

    /// Starts a connection to `addr` (the caller checked it may: [`Connections::may_connect`]).
    pub(crate) fn open(&mut self, addr: Arc<str>, now: Instant) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        self.by_addr.insert(addr.clone(), id);
        self.conns.insert(
            id,
            Conn {
                id,
                addr,
                phase: Phase::Connecting,
                setup_deadline: now + self.setup_timeout,
                versions: ApiVersions::empty(),
                next_correlation_id: 0,
                in_flight: VecDeque::new(),
                sasl: None,
                reauth_due: None,
                reauth_pending: false,
                reauth_started: None,
            },
        );
        id
    }

    /// Whether a connection to `addr` may be opened now: none exists and no backoff holds it.
    pub(crate) fn may_connect(&self, addr: &str, now: Instant) -> bool {
        !self.by_addr.contains_key(addr) && self.backoff.get(addr).is_none_or(|b| b.until <= now)
    }

    /// The connection to `addr`, if one exists (in any phase).
    pub(crate) fn by_addr(&self, addr: &str) -> Option<&Conn> {
        self.by_addr.get(addr).and_then(|id| self.conns.get(id))
    }

    /// Whether `addr` has a connection that can take requests.
    pub(crate) fn is_ready(&self, addr: &str) -> bool {
        self.by_addr(addr).is_some_and(Conn::is_ready)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(&id)
    }

    /// Forgets the connection; returns it (its requests in flight are the caller's to fail).
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        if self.by_addr.get(&conn.addr) == Some(&id) {
            self.by_addr.remove(&conn.addr);
        }
        Some(conn)
    }

    /// The transport connected: negotiate.
    pub(crate) fn connected(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.phase = Phase::Negotiating;
        }
    }

    /// Set-up is complete (negotiated, authenticated): the reconnect backoff of its address is
    /// over. Not earlier, as in Java: a broker that accepts the socket but refuses the
    /// credentials is retried with a growing backoff, not every `reconnect.backoff.ms`.
    /// Returns how many set-ups of the address had failed in a row before.
    pub(crate) fn set_ready(&mut self, id: ConnId) -> u32 {
        let Some(c) = self.conns.get_mut(&id) else {
            return 0;
        };
        c.phase = Phase::Ready;
        c.reauth_pending = false;
        self.backoff.remove(&c.addr).map_or(0, |b| b.failures)
    }

    /// Set-up of a connection to `addr` failed: back off before the next attempt.
    pub(crate) fn failed(&mut self, addr: &Arc<str>, now: Instant, jitter: &mut Jitter) {
        let failures = self.backoff.get(addr).map_or(0, |b| b.failures);
        let delay = self.reconnect.backoff(failures, jitter);
        self.backoff.insert(
            addr.clone(),
            AddrBackoff {
                until: now + delay,
                failures: failures + 1,
            },
        );
    }

    /// The ApiVersions version to open `addr` with.
    pub(crate) fn negotiate_version(&self, addr: &str, ours: i16) -> i16 {
        self.negotiate_from.get(addr).copied().unwrap_or(ours)
    }

    /// Remembers the version to negotiate `addr` with next time.
    pub(crate) fn set_negotiate_version(&mut self, addr: Arc<str>, version: i16) {
        self.negotiate_from.insert(addr, version);
    }

    /// Ready connections.
    pub(crate) fn ready(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values().filter(|c| c.is_ready())
    }

    /// Whether any connection is being set up.
    pub(crate) fn any_connecting(&self) -> bool {
        self.conns.values().any(|c| c.phase != Phase::Ready)
    }

    /// Open connections, in any phase (Java's `connection-count`).
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// Requests written and not yet answered, on every connection.
    pub(crate) fn in_flight_total(&self) -> usize {
        self.conns.values().map(|c| c.in_flight.len()).sum()
    }

    /// Every connection's id (to close them all).
    pub(crate) fn ids(&self) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        ids.sort();
        ids
    }

    /// When the earliest backoff still running ends.
    pub(crate) fn next_backoff_end(&self, now: Instant) -> Option<Instant> {
        self.backoff
            .values()
            .map(|b| b.until)
            .filter(|t| *t > now)
            .min()
    }

    /// The earliest set-up or request deadline of any connection.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.conns.values().filter_map(Conn::next_deadline).min()
    }

    /// The earliest KIP-368 re-authentication not yet started.
    pub(crate) fn next_reauth(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter(|c| !c.reauth_pending)
            .filter_map(|c| c.reauth_due)
            .min()
    }

    /// Ready connections whose session must be renewed by `now`: marks them (no new requests)
    /// and returns those with nothing in flight, which can re-authenticate at once.
    pub(crate) fn reauth_due(&mut self, now: Instant) -> Vec<ConnId> {
        let mut start = Vec::new();
        for c in self.conns.values_mut() {
            if c.phase == Phase::Ready && c.reauth_due.is_some_and(|d| d <= now) {
                c.reauth_pending = true;
                if c.in_flight.is_empty() {
                    start.push(c.id);
                }
            }
        }
        start.sort();
        start
    }

    /// Connections with a set-up or request deadline at or before `now`, oldest id first.
    pub(crate) fn overdue(&self, now: Instant) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| c.next_deadline().is_some_and(|d| d <= now))
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn reconnect_backoff_grows_and_ends_on_success() {
        let t0 = Instant::now();
        let mut c = Connections::new(ms(50), ms(1000), ms(10_000));
        let mut j = Jitter::new(3);
        let addr: Arc<str> = Arc::from("b:1");
        assert!(c.may_connect(&addr, t0));
        let id = c.open(addr.clone(), t0);
        assert!(!c.may_connect(&addr, t0), "one connection per address");
        c.remove(id);
        c.failed(&addr, t0, &mut j);
        let first = c.next_backoff_end(t0).expect("backing off") - t0;
        assert!(first >= ms(40) && first <= ms(60), "{first:?}");
        assert!(!c.may_connect(&addr, t0 + ms(39)));
        c.failed(&addr, t0, &mut j);
        let second = c.next_backoff_end(t0).expect("backing off") - t0;
        assert!(second >= ms(80) && second <= ms(120), "{second:?}");
        let id = c.open(addr.clone(), t0 + ms(200));
        c.connected(id);
        assert!(
            c.next_backoff_end(t0).is_some(),
            "a socket that connects may still fail set-up (authentication)"
        );
        c.set_ready(id);
        assert_eq!(c.next_backoff_end(t0), None, "success ends the backoff");
    }

    #[test]
    fn set_up_and_request_deadlines_are_reported() {
        let t0 = Instant::now();
        let mut c = Connections::new(ms(50), ms(1000), ms(100));
        let id = c.open(Arc::from("b:1"), t0);
        assert_eq!(c.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(c.overdue(t0 + ms(100)), vec![id]);
        let conn = c.get_mut(id).expect("conn");
        conn.phase = Phase::Ready;
        let corr = conn.next_correlation_id();
        conn.in_flight.push_back(InFlight {
            correlation_id: corr,
            kind: Kind::Metadata { version: 12 },
            deadline: t0 + ms(300),
            span: tracing::Span::none(),
        });
        assert_eq!(
            c.next_deadline(),
            Some(t0 + ms(300)),
            "ready: no set-up deadline"
        );
        assert!(c.overdue(t0 + ms(299)).is_empty());
    }
}
