//! The producer metrics pushed to the [`metrics`] facade (feature `metrics-export`): whatever
//! recorder the application installed (metrics-exporter-prometheus, an OpenTelemetry bridge, ...)
//! gets Java's metrics under Micrometer's names for Java clients (see the [module
//! docs](super#export-to-the-metrics-facade)).
//!
//! An [`Exporter`] registers a handle per metric the first time it sees it (or when the recorder
//! in force changed) and afterwards only sets values through those handles: an export allocates
//! nothing once every topic and broker has been seen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use metrics::{Counter, Gauge, Key, Label, Metadata, Recorder, SharedString};

use super::{NetworkMetrics, PoolGauges, PoolMetrics, Scope, POOL_METRICS};

/// The metadata every registration carries.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The facade name of Java's metric `name` in `group`, as Micrometer's `KafkaMetrics` names a Java
/// client's metrics: `kafka.` + the group without `-metrics` + `.` + the name, every `-` a `.`
/// (`producer-topic-metrics` / `record-send-total` → `kafka.producer.topic.record.send.total`).
pub(crate) fn facade_name(group: &str, name: &str) -> String {
    let group = group.strip_suffix("-metrics").unwrap_or(group);
    format!("kafka.{group}.{name}").replace('-', ".")
}

/// Whether Java's metric `name` is a cumulative total (a counter; everything else is a gauge).
pub(crate) fn is_counter(name: &str) -> bool {
    name.ends_with("-total")
}

/// A registered handle.
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
}

impl Handle {
    fn set(&self, v: f64) {
        match self {
            // Java's cumulative sums are whole numbers of records, bytes or nanoseconds; a
            // negative or NaN value (never recorded) reads as 0.
            Handle::Counter(c) => c.absolute(v as u64),
            Handle::Gauge(g) => g.set(v),
        }
    }
}

/// One metric's handle, with the Java name it was registered for.
struct Slot {
    name: &'static str,
    handle: Handle,
}

/// A scope's handles, in the order the scope's metrics are visited.
#[derive(Default)]
struct Slots(Vec<Slot>);

impl Slots {
    /// Sets the `i`th metric, `name` in `scope`, registering it first if needed.
    fn set(
        &mut self,
        i: usize,
        scope: Scope<'_>,
        name: &'static str,
        v: f64,
        client_id: &SharedString,
        recorder: &dyn Recorder,
    ) {
        let fresh = match self.0.get(i) {
            // Names are static strings: a pointer compare tells the slot is this metric's.
            Some(slot) => !std::ptr::eq(slot.name, name),
            None => true,
        };
        if fresh {
            let slot = Slot {
                name,
                handle: register(recorder, scope, name, client_id),
            };
            if i < self.0.len() {
                self.0[i] = slot;
            } else {
                self.0.truncate(i);
                self.0.push(slot);
            }
        }
        if let Some(slot) = self.0.get(i) {
            slot.handle.set(v);
        }
    }
}

/// Registers `name` of `scope` with `recorder`, labelled with Java's tags as Micrometer spells
/// them (`client.id`, `topic`, `node.id`).
fn register(
    recorder: &dyn Recorder,
    scope: Scope<'_>,
    name: &'static str,
    client_id: &SharedString,
) -> Handle {
    let mut labels = Vec::with_capacity(2);
    labels.push(Label::new("client.id", client_id.clone()));
    match scope {
        Scope::Producer => {}
        Scope::Topic(topic) => labels.push(Label::new(
            "topic",
            SharedString::from_shared(Arc::clone(topic)),
        )),
        Scope::Node(node) => labels.push(Label::new("node.id", format!("node-{node}"))),
    }
    let key = Key::from_parts(facade_name(scope.group(), name), labels);
    if is_counter(name) {
        Handle::Counter(recorder.register_counter(&key, &METADATA))
    } else {
        Handle::Gauge(recorder.register_gauge(&key, &METADATA))
    }
}

/// Where the values go, with the handles registered so far.
pub(crate) struct Exporter {
    client_id: SharedString,
    /// The recorder the handles were registered with (its address): another one (installed
    /// since, or a thread's local one) gets its own registrations.
    recorder: usize,
    producer: Slots,
    pool: Slots,
    topics: BTreeMap<Arc<str>, Slots>,
    nodes: BTreeMap<i32, Slots>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("client_id", &&*self.client_id)
            .field("producer", &self.producer.0.len())
            .field("topics", &self.topics.len())
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// The address of the recorder in force on this thread.
fn recorder_id(recorder: &dyn Recorder) -> usize {
    recorder as *const dyn Recorder as *const () as usize
}

impl Exporter {
    /// An exporter for the producer `client_id`.
    pub(crate) fn new(client_id: &str) -> Self {
        Exporter {
            client_id: SharedString::from_shared(Arc::<str>::from(client_id)),
            recorder: 0,
            producer: Slots::default(),
            pool: Slots::default(),
            topics: BTreeMap::new(),
            nodes: BTreeMap::new(),
        }
    }

    /// Sets every metric of `net` (if published yet) and the pool's `pool` values (from
    /// [`pool_values`]) at `now` in the recorder in force.
    pub(crate) fn export(
        &mut self,
        net: Option<&NetworkMetrics>,
        pool: &[(&'static str, f64)],
        now: Instant,
    ) {
        metrics::with_recorder(|recorder| {
            let id = recorder_id(recorder);
            if id != self.recorder {
                self.recorder = id;
                self.producer.0.clear();
                self.pool.0.clear();
                self.topics.clear();
                self.nodes.clear();
            }
            let client = &self.client_id;
            for (i, (name, v)) in pool.iter().enumerate() {
                self.pool
                    .set(i, Scope::Producer, name, *v, client, recorder);
            }
            let Some(net) = net else { return };
            let (producer, topics, nodes) = (&mut self.producer, &mut self.topics, &mut self.nodes);
            // The visit gives each scope's metrics together: count within the current scope.
            // A topic by its name's address: stable while `net` is borrowed.
            let mut current: Option<(u8, usize)> = None;
            let mut i = 0;
            net.visit(now, |scope, name, v| {
                let id = match scope {
                    Scope::Producer => (0, 0),
                    Scope::Topic(topic) => (1, Arc::as_ptr(topic) as *const u8 as usize),
                    Scope::Node(node) => (2, node as u32 as usize),
                };
                if current != Some(id) {
                    current = Some(id);
                    i = 0;
                }
                let slots = match scope {
                    Scope::Producer => &mut *producer,
                    Scope::Topic(topic) => {
                        if !topics.contains_key(topic) {
                            topics.insert(Arc::clone(topic), Slots::default());
                        }
                        match topics.get_mut(topic) {
                            Some(s) => s,
                            None => return,
                        }
                    }
                    Scope::Node(node) => nodes.entry(node).or_default(),
                };
                slots.set(i, scope, name, v, client, recorder);
                i += 1;
            });
        });
    }
}

/// The buffer pool's metrics at `now`, read (under the shared lock the caller holds) into a
/// fixed array: the recorder is called after the lock is released.
pub(crate) fn pool_values(
    pool: &PoolMetrics,
    gauges: PoolGauges,
    now: Instant,
) -> [(&'static str, f64); POOL_METRICS] {
    let mut out = [("", 0.0); POOL_METRICS];
    let mut n = 0;
    pool.visit(gauges, now, |name, v| {
        if let Some(slot) = out.get_mut(n) {
            *slot = (name, v);
        }
        n += 1;
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_micrometer_names_java_clients() {
        assert_eq!(
            facade_name("producer-metrics", "record-send-total"),
            "kafka.producer.record.send.total"
        );
        assert_eq!(
            facade_name("producer-topic-metrics", "byte-rate"),
            "kafka.producer.topic.byte.rate"
        );
        assert_eq!(
            facade_name("producer-node-metrics", "request-latency-avg"),
            "kafka.producer.node.request.latency.avg"
        );
        assert!(is_counter("record-send-total"));
        assert!(!is_counter("connection-count"));
        assert!(!is_counter("record-send-rate"));
    }
}
