//! A loopback TCP fault proxy: forwards bytes between clients and one upstream broker, with
//! network faults switched on and off while it runs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Bytes read from a socket at once; one chunk is the unit that latency delays.
const CHUNK: usize = 64 * 1024;
/// Chunks queued per direction (read but not yet forwarded): bounds the proxy's memory and is
/// room enough for a full pipe under a few hundred ms of latency.
const QUEUE: usize = 256;

/// One direction of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → upstream (requests).
    ToUpstream,
    /// Upstream → client (responses).
    ToClient,
    /// Both directions.
    Both,
}

/// Counters of what the proxy did, for assertions that a fault really happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted and forwarded (or attempted to be).
    pub accepted: u64,
    /// Client connections reset on arrival because of [`FaultProxy::refuse`].
    pub refused: u64,
    /// Connections currently open (client side).
    pub active: usize,
    /// Times every connection was cut ([`FaultProxy::cut_all`], [`FaultProxy::cut_mid_response`]).
    pub cuts: u64,
    /// Bytes forwarded client → upstream.
    pub bytes_to_upstream: u64,
    /// Bytes forwarded upstream → client.
    pub bytes_to_client: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    Off,
    Until(Instant),
    Forever,
}

#[derive(Debug, Clone, Copy)]
struct Knobs {
    stall: Stall,
    latency_to_upstream: Duration,
    latency_to_client: Duration,
    refuse: bool,
}

struct Shared {
    upstream: Mutex<Option<String>>,
    knobs: watch::Sender<Knobs>,
    /// Bumped by every cut; each connection task watches it and drops its sockets.
    cut_generation: watch::Sender<u64>,
    cut_mid_response: AtomicBool,
    accepted: AtomicU64,
    refused: AtomicU64,
    active: AtomicUsize,
    cuts: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
}

impl Shared {
    fn cut_all(&self) {
        self.cuts.fetch_add(1, Ordering::SeqCst);
        self.cut_generation.send_modify(|g| *g += 1);
    }
}

/// A TCP proxy on `127.0.0.1:<free port>` in front of one upstream address, with fault knobs.
///
/// It runs on its own thread (its own single-threaded tokio runtime), so it works the same
/// under a synchronous test and under any async runtime, and stops when dropped. Every knob
/// takes effect immediately, also on connections already open:
///
/// - [`cut_all`](FaultProxy::cut_all): reset every open connection (both sides see an RST);
/// - [`cut_mid_response`](FaultProxy::cut_mid_response): the next time upstream bytes flow
///   to a client, forward half of that chunk, then cut every connection — the broker has
///   processed the request but the client never gets the whole answer;
/// - [`stall`](FaultProxy::stall) / [`stall_forever`](FaultProxy::stall_forever) /
///   [`resume`](FaultProxy::resume): hold every byte in both directions without closing;
/// - [`latency`](FaultProxy::latency) / [`latency_one_way`](FaultProxy::latency_one_way):
///   delay each chunk (pipelined, like a long cable: throughput is kept);
/// - [`refuse`](FaultProxy::refuse): reset new connections as they arrive.
///
/// To put it in front of the in-process `Broker` so that every connection goes through it, the broker must
/// advertise the proxy's address: [`bind`](FaultProxy::bind) the proxy, start the broker with
/// [`Broker::start_with_advertised`](crate::Broker::start_with_advertised)`(proxy.addr())`,
/// then [`set_upstream`](FaultProxy::set_upstream)`(broker.bootstrap())` before creating topics.
///
/// ```no_run
/// use kproducer_testkit::{Broker, FaultProxy};
///
/// let proxy = FaultProxy::bind()?;
/// let broker = Broker::start_with_advertised(&proxy.addr().to_string())?;
/// proxy.set_upstream(&broker.bootstrap());
/// broker.create_topic("t", 6)?;
/// // ... a producer bootstrapping from proxy.addr() ...
/// proxy.cut_mid_response();
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream())
            .field("stats", &self.stats())
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`"host:port"`).
    pub fn start(upstream: &str) -> anyhow::Result<FaultProxy> {
        let proxy = Self::bind()?;
        proxy.set_upstream(upstream);
        Ok(proxy)
    }

    /// Starts a proxy with no upstream yet: connections are reset until
    /// [`set_upstream`](FaultProxy::set_upstream) is called. For a broker that must know the
    /// proxy's address before it starts.
    pub fn bind() -> anyhow::Result<FaultProxy> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding the fault proxy on 127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the fault proxy's runtime")?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            upstream: Mutex::new(None),
            knobs: watch::Sender::new(Knobs {
                stall: Stall::Off,
                latency_to_upstream: Duration::ZERO,
                latency_to_client: Duration::ZERO,
                refuse: false,
            }),
            cut_generation: watch::Sender::new(0),
            cut_mid_response: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            cuts: AtomicU64::new(0),
            bytes_to_upstream: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, thread_shared, shutdown_rx));
                // Dropping the runtime drops every connection task and its sockets.
            })
            .context("spawning the fault proxy thread")?;
        Ok(FaultProxy {
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets (or changes) where new connections are forwarded. Open connections keep theirs.
    pub fn set_upstream(&self, upstream: &str) {
        *lock(&self.shared.upstream) = Some(upstream.to_owned());
    }

    /// Where new connections are forwarded, if set.
    pub fn upstream(&self) -> Option<String> {
        lock(&self.shared.upstream).clone()
    }

    /// Resets every open connection now. New connections are accepted as usual.
    pub fn cut_all(&self) {
        self.shared.cut_all();
    }

    /// Arms a one-shot cut: the next chunk of upstream bytes (a response) is forwarded only
    /// half, then every connection is reset. [`ProxyStats::cuts`] counts it once it fired;
    /// [`cut_pending`](FaultProxy::cut_pending) tells whether it still waits for bytes.
    pub fn cut_mid_response(&self) {
        self.shared.cut_mid_response.store(true, Ordering::SeqCst);
    }

    /// Whether a [`cut_mid_response`](FaultProxy::cut_mid_response) is armed and not yet fired.
    pub fn cut_pending(&self) -> bool {
        self.shared.cut_mid_response.load(Ordering::SeqCst)
    }

    /// Stops forwarding in both directions for `duration` without closing anything; bytes
    /// are held (up to a bounded queue, then TCP flow control) and delivered afterwards.
    pub fn stall(&self, duration: Duration) {
        let until = Instant::now() + duration;
        self.shared
            .knobs
            .send_modify(|k| k.stall = Stall::Until(until));
    }

    /// Stops forwarding in both directions until [`resume`](FaultProxy::resume).
    pub fn stall_forever(&self) {
        self.shared.knobs.send_modify(|k| k.stall = Stall::Forever);
    }

    /// Ends a stall; held bytes flow again.
    pub fn resume(&self) {
        self.shared.knobs.send_modify(|k| k.stall = Stall::Off);
    }

    /// Delays every chunk by `one_way` in each direction, so a round trip gains `2 × one_way`.
    pub fn latency(&self, one_way: Duration) {
        self.latency_one_way(Direction::Both, one_way);
    }

    /// Delays every chunk going in `direction` by `delay` (zero turns it off).
    pub fn latency_one_way(&self, direction: Direction, delay: Duration) {
        self.shared.knobs.send_modify(|k| match direction {
            Direction::ToUpstream => k.latency_to_upstream = delay,
            Direction::ToClient => k.latency_to_client = delay,
            Direction::Both => {
                k.latency_to_upstream = delay;
                k.latency_to_client = delay;
            }
        });
    }

    /// While `true`, new connections are reset as soon as they are accepted (a broker whose
    /// port refuses); open connections are not touched.
    pub fn refuse(&self, on: bool) {
        self.shared.knobs.send_modify(|k| k.refuse = on);
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        ProxyStats {
            accepted: s.accepted.load(Ordering::SeqCst),
            refused: s.refused.load(Ordering::SeqCst),
            active: s.active.load(Ordering::SeqCst),
            cuts: s.cuts.load(Ordering::SeqCst),
            bytes_to_upstream: s.bytes_to_upstream.load(Ordering::SeqCst),
            bytes_to_client: s.bytes_to_client.load(Ordering::SeqCst),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        drop(self.shutdown.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the Option inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `SO_LINGER` 0: closing sends an RST, as a crashed peer or a dropped network path would.
/// With a zero timeout the close never blocks, which is why tokio's deprecation does not apply.
#[allow(deprecated)]
fn reset_on_close(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    reset_on_close(&client);
                    if shared.knobs.borrow().refuse {
                        shared.refused.fetch_add(1, Ordering::SeqCst);
                        drop(client);
                        continue;
                    }
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(client, shared.clone()));
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

struct ActiveGuard<'a>(&'a AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    shared.active.fetch_add(1, Ordering::SeqCst);
    let _active = ActiveGuard(&shared.active);
    let mut cut = shared.cut_generation.subscribe();
    cut.borrow_and_update();
    let Some(upstream_addr) = lock(&shared.upstream).clone() else {
        return;
    };
    let upstream = tokio::select! {
        r = TcpStream::connect(&upstream_addr) => r,
        _ = cut.changed() => return,
    };
    let Ok(upstream) = upstream else {
        return;
    };
    reset_on_close(&upstream);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let requests = pump(client_read, upstream_write, Direction::ToUpstream, &shared);
    let responses = pump(upstream_read, client_write, Direction::ToClient, &shared);
    tokio::select! {
        _ = async { tokio::join!(requests, responses) } => {}
        // Returning drops all four halves: both sockets are reset.
        _ = cut.changed() => {}
    }
}

struct Chunk {
    bytes: Vec<u8>,
    read_at: Instant,
}

/// Forwards one direction: a reader queues timestamped chunks, a writer delivers each one when
/// its latency has passed and no stall holds it. Ends when the writer ends (source closed and
/// queue drained, or the destination failed).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, dir: Direction, shared: &Shared) {
    let (tx, mut rx) = mpsc::channel::<Chunk>(QUEUE);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.truncate(n);
                    let chunk = Chunk {
                        bytes: buf,
                        read_at: Instant::now(),
                    };
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let mut knobs = shared.knobs.subscribe();
    let writer = async move {
        while let Some(chunk) = rx.recv().await {
            wait_until_due(&mut knobs, dir, chunk.read_at).await;
            let counter = match dir {
                Direction::ToClient => &shared.bytes_to_client,
                _ => &shared.bytes_to_upstream,
            };
            if dir == Direction::ToClient && shared.cut_mid_response.swap(false, Ordering::SeqCst) {
                let half = &chunk.bytes[..chunk.bytes.len() / 2];
                if !half.is_empty() && to.write_all(half).await.is_ok() {
                    let _ = to.flush().await;
                    counter.fetch_add(half.len() as u64, Ordering::SeqCst);
                }
                shared.cut_all();
                return;
            }
            if to.write_all(&chunk.bytes).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.bytes.len() as u64, Ordering::SeqCst);
        }
        // Source closed and everything delivered: pass the FIN on.
        let _ = to.shutdown().await;
    };
    tokio::pin!(reader, writer);
    let mut reading = true;
    loop {
        tokio::select! {
            _ = &mut reader, if reading => reading = false,
            _ = &mut writer => return,
        }
    }
}

/// Waits until a chunk read at `read_at` may be written: its direction's latency has passed
/// and no stall is on. Re-checks whenever a knob changes.
async fn wait_until_due(knobs: &mut watch::Receiver<Knobs>, dir: Direction, read_at: Instant) {
    loop {
        let k = *knobs.borrow_and_update();
        let latency = match dir {
            Direction::ToClient => k.latency_to_client,
            _ => k.latency_to_upstream,
        };
        let now = Instant::now();
        let due = read_at + latency;
        let wake = match k.stall {
            Stall::Forever => None,
            Stall::Until(t) if t > now => Some(t.max(due)),
            _ if due > now => Some(due),
            _ => return,
        };
        match wake {
            Some(t) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(t) => {}
                    changed = knobs.changed() => if changed.is_err() { return },
                }
            }
            None => {
                if knobs.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{Shutdown, TcpListener as StdListener, TcpStream as StdStream};
    use std::time::Instant as StdInstant;

    /// An echo server on loopback: every byte read is written back.
    fn echo_server() -> String {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    fn client(proxy: &FaultProxy) -> StdStream {
        let s = StdStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    fn roundtrip(s: &mut StdStream, payload: &[u8]) -> Vec<u8> {
        s.write_all(payload).unwrap();
        let mut got = vec![0u8; payload.len()];
        s.read_exact(&mut got).unwrap();
        got
    }

    /// Reads until EOF or an error; returns the bytes read and whether it ended (not timed out).
    fn read_to_close(s: &mut StdStream) -> (Vec<u8>, bool) {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (all, true),
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return (all, false)
                }
                Err(_) => return (all, true),
            }
        }
    }

    fn nothing_within(s: &mut StdStream, wait: Duration) -> bool {
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 16];
        let r = s.read(&mut buf);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        matches!(r, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }

    #[test]
    fn forwards_both_ways_and_counts() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut s = client(&proxy);
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let writer = {
            let mut w = s.try_clone().unwrap();
            let p = payload.clone();
            std::thread::spawn(move || w.write_all(&p).unwrap())
        };
        let mut got = vec![0u8; payload.len()];
        s.read_exact(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got, payload);
        // The proxy counts a chunk after writing it, so the client may have read the last bytes
        // a moment before they are counted (seen under load): wait for the count, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut stats = proxy.stats();
        while stats.bytes_to_client < 200_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            stats = proxy.stats();
        }
        assert_eq!(stats.accepted, 1);
        assert_eq!(stats.active, 1);
        assert_eq!(stats.bytes_to_upstream, 200_000);
        assert_eq!(stats.bytes_to_client, 200_000);
        // A clean close on one side closes the other: the echo server sees EOF, closes, and
        // the client reads EOF through the proxy.
        s.shutdown(Shutdown::Write).unwrap();
        let (rest, closed) = read_to_close(&mut s);
        assert!(rest.is_empty() && closed);
    }

    #[test]
    fn cut_all_resets_open_connections_only() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut a = client(&proxy);
        let mut b = client(&proxy);
        assert_eq!(roundtrip(&mut a, b"a"), b"a");
        assert_eq!(roundtrip(&mut b, b"b"), b"b");
        proxy.cut_all();
        let (bytes, closed) = read_to_close(&mut a);
        assert!(bytes.is_empty() && closed, "a was cut");
        let (bytes, closed) = read_to_close(&mut b);
        assert!(bytes.is_empty() && closed, "b was cut");
        assert_eq!(proxy.stats().cuts, 1);
        let mut c = client(&proxy);
        assert_eq!(
            roundtrip(&mut c, b"after"),
            b"after",
            "new connections work"
        );
    }

    #[test]
    fn cut_mid_response_delivers_half_a_chunk_then_resets() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut s = client(&proxy);
        assert_eq!(roundtrip(&mut s, b"warm-up"), b"warm-up");
        proxy.cut_mid_response();
        assert!(proxy.cut_pending());
        s.write_all(&[9u8; 1000]).unwrap();
        let (bytes, closed) = read_to_close(&mut s);
        assert!(closed, "connection reset after the partial response");
        assert!(
            bytes.len() < 1000,
            "only part of the response arrived: {}",
            bytes.len()
        );
        assert!(!proxy.cut_pending());
        assert_eq!(proxy.stats().cuts, 1);
    }

    #[test]
    fn stall_holds_bytes_without_closing_until_resume() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut s = client(&proxy);
        assert_eq!(roundtrip(&mut s, b"1"), b"1");
        proxy.stall_forever();
        s.write_all(b"held").unwrap();
        assert!(nothing_within(&mut s, Duration::from_millis(300)));
        assert_eq!(proxy.stats().active, 1, "still open");
        proxy.resume();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"held");
    }

    #[test]
    fn timed_stall_ends_by_itself() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut s = client(&proxy);
        assert_eq!(roundtrip(&mut s, b"1"), b"1");
        let start = StdInstant::now();
        proxy.stall(Duration::from_millis(400));
        assert_eq!(roundtrip(&mut s, b"late"), b"late");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(390), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn latency_delays_each_direction_and_keeps_pipelining() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut s = client(&proxy);
        assert_eq!(roundtrip(&mut s, b"1"), b"1");
        proxy.latency(Duration::from_millis(150));
        let start = StdInstant::now();
        assert_eq!(roundtrip(&mut s, b"x"), b"x");
        let rtt = start.elapsed();
        assert!(rtt >= Duration::from_millis(290), "{rtt:?}");
        // Ten messages written back to back take about one round trip, not ten.
        let start = StdInstant::now();
        for i in 0..10u8 {
            s.write_all(&[i]).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut got = [0u8; 10];
        s.read_exact(&mut got).unwrap();
        let took = start.elapsed();
        assert_eq!(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(took < Duration::from_millis(1500), "pipelined: {took:?}");
        proxy.latency(Duration::ZERO);
        let start = StdInstant::now();
        assert_eq!(roundtrip(&mut s, b"y"), b"y");
        assert!(start.elapsed() < Duration::from_millis(250));
    }

    #[test]
    fn refuse_resets_new_connections_until_turned_off() {
        let proxy = FaultProxy::start(&echo_server()).unwrap();
        let mut open = client(&proxy);
        // Accepted and forwarding before refusing starts.
        assert_eq!(roundtrip(&mut open, b"o"), b"o");
        proxy.refuse(true);
        let mut refused = client(&proxy);
        let _ = refused.write_all(b"x");
        let (bytes, closed) = read_to_close(&mut refused);
        assert!(bytes.is_empty() && closed);
        assert_eq!(proxy.stats().refused, 1);
        assert_eq!(
            roundtrip(&mut open, b"still"),
            b"still",
            "open ones untouched"
        );
        proxy.refuse(false);
        let mut fresh = client(&proxy);
        assert_eq!(roundtrip(&mut fresh, b"ok"), b"ok");
    }

    #[test]
    fn without_upstream_connections_close_then_work_once_set() {
        let proxy = FaultProxy::bind().unwrap();
        let mut s = client(&proxy);
        let (bytes, closed) = read_to_close(&mut s);
        assert!(bytes.is_empty() && closed);
        proxy.set_upstream(&echo_server());
        let mut s = client(&proxy);
        assert_eq!(roundtrip(&mut s, b"up"), b"up");
    }
}
