//! A private single-node broker per test: kproducer-mock's in-process cluster on loopback TCP.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context};
use kproducer_mock::{ClusterConfig, MockCluster, MockServer};
use tokio::sync::oneshot;

/// A one-broker Kafka cluster (kproducer-mock, in this process) on a free loopback port.
///
/// Each test starts its own, so tests can run in parallel without sharing topics. It speaks the
/// real protocol on a real socket (librdkafka, Java's clients and kproducer all connect to it),
/// enforces Kafka's idempotence rules, and stops when the `Broker` is dropped. It runs on its
/// own thread with its own tokio runtime, so sync tests and any async runtime can use it.
///
/// It replaced the Tansu broker process of earlier harness versions: no install step, starts in
/// microseconds, and [`Broker::cluster`] reads back what was written without a consumer.
///
/// ```
/// let broker = kproducer_testkit::Broker::start()?;
/// broker.create_topic("orders", 3)?;
/// assert!(broker.bootstrap().starts_with("127.0.0.1:"));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Broker {
    cluster: Arc<Mutex<MockCluster>>,
    bootstrap: String,
    advertised: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("bootstrap", &self.bootstrap)
            .field("advertised", &self.advertised)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Starts a broker on a free loopback port that advertises that same address.
    /// Topics are auto-created (1 partition) on first use, as Kafka's default does.
    pub fn start() -> anyhow::Result<Broker> {
        Self::start_with(ClusterConfig::default(), None)
    }

    /// Starts a broker on a free loopback port that advertises `advertised` ("host:port") in
    /// its metadata instead of its own address.
    ///
    /// Meant for a fault proxy in front of the broker: bind the proxy first, start the broker
    /// advertising the proxy's address, then point the proxy at [`Broker::bootstrap`]. Clients
    /// that bootstrap through the proxy then send every request through it.
    pub fn start_with_advertised(advertised: &str) -> anyhow::Result<Broker> {
        Self::start_with(ClusterConfig::default(), Some(advertised))
    }

    /// Starts a broker with the given cluster settings (`brokers` is forced to 1).
    pub fn start_with(mut cfg: ClusterConfig, advertised: Option<&str>) -> anyhow::Result<Broker> {
        cfg.brokers = 1;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("testkit-broker".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("building the broker runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match MockServer::start(cfg).await {
                        Ok(server) => {
                            let addr = server.bootstrap_servers();
                            let _ = ready_tx.send(Ok((server.cluster(), addr)));
                            let _ = stop_rx.await;
                            server.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(anyhow!("binding the broker: {e}")));
                        }
                    }
                });
            })
            .context("spawning the broker thread")?;
        let (cluster, bootstrap) = ready_rx
            .recv()
            .map_err(|_| anyhow!("the broker thread exited before starting"))??;
        let advertised = match advertised {
            Some(adv) => {
                let (host, port) = adv
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h, p.parse::<i32>().ok()?)))
                    .ok_or_else(|| anyhow!("advertised address {adv:?} is not host:port"))?;
                lock(&cluster).set_advertised(1, host, port);
                adv.to_string()
            }
            None => bootstrap.clone(),
        };
        Ok(Broker {
            cluster,
            bootstrap,
            advertised,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address clients bootstrap from, `"127.0.0.1:PORT"` (the listener, not the advertised address).
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.bootstrap
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }

    /// The `host:port` the broker advertises in metadata (equal to [`Broker::bootstrap`]
    /// unless started with [`Broker::start_with_advertised`]).
    pub fn advertised(&self) -> &str {
        &self.advertised
    }

    /// The in-process cluster: read back what was written, add faults, inspect producer state.
    /// Do not hold its lock across an `.await`.
    pub fn cluster(&self) -> Arc<Mutex<MockCluster>> {
        self.cluster.clone()
    }

    /// Creates `name` with `partitions` partitions (replication factor 1). The metadata of the
    /// next request shows it with every partition led by the broker.
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        lock(&self.cluster)
            .create_topic(name, partitions)
            .with_context(|| format!("creating topic {name} with {partitions} partitions"))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(cluster: &Mutex<MockCluster>) -> MutexGuard<'_, MockCluster> {
    cluster.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_must_be_host_port() {
        let err = Broker::start_with_advertised("no-port").unwrap_err();
        assert!(err.to_string().contains("not host:port"), "{err:#}");
        let broker = Broker::start_with_advertised("127.0.0.1:1").unwrap();
        assert_eq!(broker.advertised(), "127.0.0.1:1");
        assert_ne!(broker.bootstrap(), "127.0.0.1:1");
        assert!(broker.port() > 0);
    }

    #[test]
    fn create_topic_twice_is_an_error() {
        let broker = Broker::start().unwrap();
        broker.create_topic("t", 2).unwrap();
        assert!(broker.create_topic("t", 2).is_err());
        assert_eq!(lock(&broker.cluster).partition_count("t"), Some(2));
    }
}
