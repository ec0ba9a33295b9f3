//! The TCP server: one loopback listener per broker over one shared [`MockCluster`], and
//! [`serve_connection`] for any byte stream (an in-memory duplex, a TLS stream…).
//!
//! Each connection handles one request at a time, as a Kafka broker does (it mutes a connection
//! from a request until its answer is sent): read a frame, let the cluster handle it, hold the
//! answer for its delay, write it, read the next. This keeps answers in request order and makes
//! a `Delay` hold back the requests behind it, as a slow broker would.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{ClusterConfig, MockCluster, Outcome};

/// Kafka's `socket.request.max.bytes` default: a larger frame closes the connection.
pub const MAX_REQUEST_BYTES: usize = 104_857_600;

fn lock(cluster: &Mutex<MockCluster>) -> MutexGuard<'_, MockCluster> {
    cluster.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Signals shared by the server's tasks.
#[derive(Clone)]
struct Signals {
    shutdown: watch::Receiver<bool>,
    /// Bumped when a broker goes down through [`MockServer::set_broker_up`].
    brokers: watch::Receiver<u64>,
}

/// A [`MockCluster`] served over TCP on loopback, one listener per broker.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use kproducer_mock::{ClusterConfig, MockServer};
/// let server = MockServer::start(ClusterConfig { brokers: 3, ..Default::default() }).await?;
/// assert_eq!(server.bootstrap_servers().split(',').count(), 3);
/// server.cluster().lock().unwrap().create_topic("orders", 3).unwrap();
/// // ... point any Kafka client at server.bootstrap_servers() ...
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct MockServer {
    cluster: Arc<Mutex<MockCluster>>,
    addrs: Vec<(i32, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    brokers: watch::Sender<u64>,
    accept_tasks: Vec<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a cluster with a listener per broker on `127.0.0.1`, ports chosen by the OS; each
    /// broker advertises its real address.
    pub async fn start(cfg: ClusterConfig) -> std::io::Result<Self> {
        Self::start_at(cfg, 0).await
    }

    /// As [`start`](Self::start), broker `id` listening on port `first_port + id - 1`
    /// (`first_port` 0: ports chosen by the OS).
    pub async fn start_at(cfg: ClusterConfig, first_port: u16) -> std::io::Result<Self> {
        let mut cluster = MockCluster::new(cfg);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (brokers, brokers_rx) = watch::channel(0u64);
        let signals = Signals {
            shutdown: shutdown_rx,
            brokers: brokers_rx,
        };
        let mut listeners = Vec::new();
        for id in cluster.broker_ids() {
            let port = if first_port == 0 {
                0
            } else {
                u16::try_from(i32::from(first_port) + id - 1).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "port out of range")
                })?
            };
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
            let addr = listener.local_addr()?;
            cluster.set_advertised(id, &addr.ip().to_string(), i32::from(addr.port()));
            listeners.push((id, addr, listener));
        }
        let cluster = Arc::new(Mutex::new(cluster));
        let mut addrs = Vec::new();
        let mut accept_tasks = Vec::new();
        for (id, addr, listener) in listeners {
            addrs.push((id, addr));
            accept_tasks.push(tokio::spawn(accept_loop(
                listener,
                id,
                cluster.clone(),
                signals.clone(),
            )));
        }
        Ok(Self {
            cluster,
            addrs,
            shutdown,
            brokers,
            accept_tasks,
        })
    }

    /// `host:port` of every broker, comma-separated, for a client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.addrs
            .iter()
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The listener address of a broker.
    pub fn addr(&self, broker: i32) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(id, _)| *id == broker)
            .map(|(_, a)| *a)
    }

    /// The cluster, to add faults, move leaders, read back. Do not hold the lock across an
    /// `.await`.
    pub fn cluster(&self) -> Arc<Mutex<MockCluster>> {
        self.cluster.clone()
    }

    /// [`MockCluster::set_broker_up`], and when the broker goes down also closes its open
    /// connections at once (those of a broker taken down through the cluster directly are
    /// closed at their next request).
    pub fn set_broker_up(&self, broker: i32, up: bool) {
        lock(&self.cluster).set_broker_up(broker, up);
        if !up {
            self.brokers.send_modify(|g| *g += 1);
        }
    }

    /// Serves one connection of `broker` over any byte stream, until the peer closes it, the
    /// cluster closes it, or the server stops. Spawn the returned future.
    pub fn serve_connection<S>(
        &self,
        stream: S,
        broker: i32,
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let signals = Signals {
            shutdown: self.shutdown.subscribe(),
            brokers: self.brokers.subscribe(),
        };
        serve(self.cluster.clone(), stream, broker, Some(signals))
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.accept_tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.accept_tasks {
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    broker: i32,
    cluster: Arc<Mutex<MockCluster>>,
    signals: Signals,
) {
    let mut shutdown = signals.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if !lock(&cluster).is_up(broker) {
                    drop(stream); // a down broker refuses the connection
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(cluster.clone(), stream, broker, Some(signals.clone())));
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Serves one connection of `broker` of `cluster` over any byte stream until the peer or the
/// cluster closes it. Without a [`MockServer`], a broker taken down closes the connection at its
/// next request.
pub async fn serve_connection<S>(
    cluster: Arc<Mutex<MockCluster>>,
    stream: S,
    broker: i32,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    serve(cluster, stream, broker, None).await
}

/// Resolves when the server stops or `broker` is down.
async fn stop_signal(cluster: &Mutex<MockCluster>, broker: i32, signals: &mut Option<Signals>) {
    let Some(s) = signals else {
        return std::future::pending().await;
    };
    loop {
        if *s.shutdown.borrow() || !lock(cluster).is_up(broker) {
            return;
        }
        tokio::select! {
            r = s.shutdown.changed() => if r.is_err() { return },
            r = s.brokers.changed() => if r.is_err() { return std::future::pending().await },
        }
    }
}

async fn serve<S>(
    cluster: Arc<Mutex<MockCluster>>,
    mut stream: S,
    broker: i32,
    mut signals: Option<Signals>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        // One whole frame in `buf`.
        let frame = loop {
            if buf.len() >= 4 {
                let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let Ok(size) = usize::try_from(size) else {
                    return Ok(()); // negative size: close
                };
                if size > MAX_REQUEST_BYTES {
                    return Ok(());
                }
                if buf.len() >= 4 + size {
                    buf.advance(4);
                    break buf.split_to(size).freeze();
                }
                buf.reserve(4 + size - buf.len());
            }
            tokio::select! {
                n = stream.read_buf(&mut buf) => {
                    if n? == 0 {
                        return Ok(());
                    }
                }
                _ = stop_signal(&cluster, broker, &mut signals) => return Ok(()),
            }
        };
        let outcome = lock(&cluster).handle_request_bytes(broker, frame, now_ms());
        match outcome {
            Outcome::Reply { frame, delay } => {
                if !delay.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop_signal(&cluster, broker, &mut signals) => return Ok(()),
                    }
                }
                stream.write_all(&frame).await?;
                stream.flush().await?;
            }
            Outcome::NoReply | Outcome::Dropped => {}
            Outcome::Close { .. } => {
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }
}
