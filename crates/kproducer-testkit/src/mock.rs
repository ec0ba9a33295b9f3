//! librdkafka's in-process mock cluster: several brokers on real loopback sockets, with
//! fault injection.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::metadata::{partition_leaders, wait_for_topic};

/// How long helpers wait for the mock's metadata to reflect a change.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A mock Kafka cluster with `brokers` brokers (ids `1..=brokers`).
///
/// Any Kafka client, ours included, can connect to [`MockKafka::bootstrap`]. The mock
/// supports ApiVersions up to v2 only, and checks sequence numbers only for transactional
/// producers (see `test-infrastructure.md`).
///
/// `MockKafka` is **not `Send`** (librdkafka's handle is a raw pointer): keep it on the
/// test's own thread. Tests whose body runs on a tokio runtime should use
/// [`MockKafkaThread`], which owns the cluster on a dedicated thread.
///
/// ```no_run
/// use kproducer_testkit::MockKafka;
/// use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
///
/// let mock = MockKafka::new(3)?;
/// mock.create_topic("t", 6)?;
/// mock.request_errors(
///     RDKafkaApiKey::Produce,
///     &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION],
/// );
/// mock.set_leader("t", 0, 2)?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    brokers: i32,
}

impl std::fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKafka")
            .field("bootstrap", &self.bootstrap())
            .field("brokers", &self.brokers)
            .finish()
    }
}

impl MockKafka {
    /// Starts a mock cluster with `brokers` brokers.
    pub fn new(brokers: i32) -> anyhow::Result<MockKafka> {
        let cluster = MockCluster::new(brokers).context("creating the librdkafka mock cluster")?;
        Ok(MockKafka { cluster, brokers })
    }

    /// Comma-separated `host:port` list of all brokers.
    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Number of brokers; their ids are `1..=broker_count()`.
    pub fn broker_count(&self) -> i32 {
        self.brokers
    }

    /// Creates `name` with `partitions` partitions, replication factor `min(brokers, 3)`, and
    /// leaders assigned round-robin (partition `p` led by broker `p % brokers + 1`), so a test
    /// can rely on partitions being spread over brokers. Waits until metadata shows them.
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        self.cluster
            .create_topic(name, partitions, self.brokers.min(3))
            .with_context(|| format!("creating mock topic {name:?}"))?;
        for p in 0..partitions {
            self.set_leader(name, p, p % self.brokers + 1)?;
        }
        let leaders = wait_for_topic(&self.bootstrap(), name, partitions, METADATA_TIMEOUT)?;
        let wrong: Vec<_> = leaders
            .iter()
            .filter(|&(&p, &leader)| leader != p % self.brokers + 1)
            .collect();
        if !wrong.is_empty() {
            return Err(anyhow!(
                "mock topic {name:?}: metadata shows unexpected leaders {wrong:?}"
            ));
        }
        Ok(())
    }

    /// Moves the leadership of `topic`/`partition` to `broker_id`.
    pub fn set_leader(&self, topic: &str, partition: i32, broker_id: i32) -> anyhow::Result<()> {
        self.cluster
            .partition_leader(topic, partition, Some(broker_id))
            .with_context(|| format!("setting leader of {topic}/{partition} to {broker_id}"))
    }

    /// Leaves `topic`/`partition` without a leader.
    pub fn remove_leader(&self, topic: &str, partition: i32) -> anyhow::Result<()> {
        self.cluster
            .partition_leader(topic, partition, None)
            .with_context(|| format!("removing leader of {topic}/{partition}"))
    }

    /// Partition → leader broker id, as clients see it in metadata.
    pub fn leaders(&self, topic: &str) -> anyhow::Result<BTreeMap<i32, i32>> {
        partition_leaders(&self.bootstrap(), topic, METADATA_TIMEOUT)
    }

    /// Answers the next `errors.len()` requests of kind `api` (on any broker) with these
    /// errors, in order. The mock does not apply a request it answers with an error.
    pub fn request_errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        self.cluster.request_errors(api, errors);
    }

    /// Drops errors still queued by [`MockKafka::request_errors`] for `api`.
    pub fn clear_request_errors(&self, api: RDKafkaApiKey) {
        self.cluster.clear_request_errors(api);
    }

    /// Makes every metadata/produce answer about `topic` carry `error`.
    pub fn topic_error(&self, topic: &str, error: RDKafkaRespErr) -> anyhow::Result<()> {
        self.cluster
            .topic_error(topic, error)
            .with_context(|| format!("setting topic error on {topic}"))
    }

    /// Takes `broker_id` down: its connections close and new ones are refused.
    pub fn broker_down(&self, broker_id: i32) -> anyhow::Result<()> {
        self.cluster
            .broker_down(broker_id)
            .with_context(|| format!("taking broker {broker_id} down"))
    }

    /// Brings `broker_id` back up.
    pub fn broker_up(&self, broker_id: i32) -> anyhow::Result<()> {
        self.cluster
            .broker_up(broker_id)
            .with_context(|| format!("bringing broker {broker_id} up"))
    }

    /// Delays every answer of `broker_id` by `rtt`.
    pub fn round_trip_time(&self, broker_id: i32, rtt: Duration) -> anyhow::Result<()> {
        self.cluster
            .broker_round_trip_time(broker_id, rtt)
            .with_context(|| format!("setting round trip time of broker {broker_id}"))
    }

    /// The underlying rdkafka handle, for anything not wrapped here.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

type Job = Box<dyn FnOnce(&MockKafka) + Send>;

/// A [`MockKafka`] owned by a dedicated thread, controlled through a `Send + Sync` handle.
///
/// For tests whose body runs on an async runtime (where a `!Send` value cannot be held across
/// `.await` on a multi-threaded runtime). Each call blocks the caller until the mock thread has
/// run it; mock operations take microseconds. The cluster shuts down when the handle drops.
///
/// ```no_run
/// use kproducer_testkit::MockKafkaThread;
/// let mock = MockKafkaThread::new(3)?;
/// mock.run(|m| m.create_topic("t", 6))??;
/// let bootstrap = mock.bootstrap().to_owned();
/// std::thread::spawn(move || mock.run(|m| m.broker_down(1))).join().unwrap()??;
/// # let _ = bootstrap;
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug)]
pub struct MockKafkaThread {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    bootstrap: String,
    brokers: i32,
}

impl MockKafkaThread {
    /// Starts a mock cluster with `brokers` brokers on a new thread.
    pub fn new(brokers: i32) -> anyhow::Result<MockKafkaThread> {
        let (jobs_tx, jobs_rx) = channel::<Job>();
        let (ready_tx, ready_rx) = channel::<anyhow::Result<String>>();
        let thread = std::thread::Builder::new()
            .name("testkit-mock-kafka".into())
            .spawn(move || {
                let mock = match MockKafka::new(brokers) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(mock.bootstrap()));
                // Ends when the handle drops the sender; the cluster is destroyed here.
                for job in jobs_rx {
                    job(&mock);
                }
            })
            .context("spawning the mock cluster thread")?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| anyhow!("mock cluster thread exited during start"))??;
        Ok(MockKafkaThread {
            jobs: Some(jobs_tx),
            thread: Some(thread),
            bootstrap,
            brokers,
        })
    }

    /// Comma-separated `host:port` list of all brokers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Number of brokers; their ids are `1..=broker_count()`.
    pub fn broker_count(&self) -> i32 {
        self.brokers
    }

    /// Runs `f` with the cluster on its thread and returns its result.
    ///
    /// Fails only if the mock thread is gone (a previous job panicked).
    pub fn run<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&MockKafka) -> R + Send + 'static,
    {
        let (tx, rx) = channel();
        let job: Job = Box::new(move |mock| {
            let _ = tx.send(f(mock));
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| anyhow!("mock cluster thread stopped"))?
            .send(job)
            .map_err(|_| anyhow!("mock cluster thread is gone"))?;
        rx.recv().map_err(|_| anyhow!("mock cluster job panicked"))
    }

    /// [`MockKafka::create_topic`] on the mock thread.
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let name = name.to_owned();
        self.run(move |m| m.create_topic(&name, partitions))?
    }

    /// [`MockKafka::set_leader`] on the mock thread.
    pub fn set_leader(&self, topic: &str, partition: i32, broker_id: i32) -> anyhow::Result<()> {
        let topic = topic.to_owned();
        self.run(move |m| m.set_leader(&topic, partition, broker_id))?
    }

    /// [`MockKafka::request_errors`] on the mock thread.
    pub fn request_errors(
        &self,
        api: RDKafkaApiKey,
        errors: &[RDKafkaRespErr],
    ) -> anyhow::Result<()> {
        let errors = errors.to_vec();
        self.run(move |m| m.request_errors(api, &errors))
    }

    /// [`MockKafka::broker_down`] on the mock thread.
    pub fn broker_down(&self, broker_id: i32) -> anyhow::Result<()> {
        self.run(move |m| m.broker_down(broker_id))?
    }

    /// [`MockKafka::broker_up`] on the mock thread.
    pub fn broker_up(&self, broker_id: i32) -> anyhow::Result<()> {
        self.run(move |m| m.broker_up(broker_id))?
    }

    /// [`MockKafka::round_trip_time`] on the mock thread.
    pub fn round_trip_time(&self, broker_id: i32, rtt: Duration) -> anyhow::Result<()> {
        self.run(move |m| m.round_trip_time(broker_id, rtt))?
    }

    /// Partition → leader broker id, as clients see it in metadata.
    pub fn leaders(&self, topic: &str) -> anyhow::Result<BTreeMap<i32, i32>> {
        partition_leaders(&self.bootstrap, topic, METADATA_TIMEOUT)
    }
}

impl Drop for MockKafkaThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
