//! One broker connection: a cheap cloneable handle over a socket driven by a reader and a
//! writer task, plus ApiVersions negotiation at connect time.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, ProduceRequest, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::frame::{
    encode_produce_parts, encode_request, next_frame, response_correlation_id, set_correlation_id,
    FramePiece,
};
use super::versions::{decode_api_versions, ApiVersions};
use super::{ConnectionConfig, NetworkError};

/// API key of ApiVersions.
const API_VERSIONS_KEY: i16 = 18;
/// The ApiVersions version we start with: v3 is the first with client software name/version
/// (KIP-511). kafka-protocol also knows v4, which only changes feature-range semantics we
/// don't read.
const API_VERSIONS_MAX: i16 = 3;
/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;
/// Read buffer growth step; a frame larger than this reserves exactly what it needs.
const READ_CHUNK: usize = 8 * 1024;

/// What a pending request is eventually handed: its response frame (without the size
/// prefix), or the error that ended the connection.
type Reply = Result<Bytes, NetworkError>;

/// A Produce answer sent to a channel: (request id, connection address, the response frame or
/// the error that ended the connection, Produce version).
pub(crate) type ProduceReply = (u64, Arc<str>, Reply, i16);

/// Where a response goes.
enum ReplyTo {
    /// A [`PendingResponse`].
    Once(oneshot::Sender<Reply>),
    /// The producer's channel of Produce answers: no allocation per request (a oneshot, a boxed
    /// future and its task slot were three).
    Produce {
        id: u64,
        version: i16,
        tx: mpsc::UnboundedSender<ProduceReply>,
    },
}

impl ReplyTo {
    fn send(self, addr: &Arc<str>, reply: Reply) {
        // The receiver may be gone (a dropped PendingResponse, a stopped driver): then the
        // response is discarded.
        match self {
            ReplyTo::Once(tx) => {
                let _ = tx.send(reply);
            }
            ReplyTo::Produce { id, version, tx } => {
                let _ = tx.send((id, addr.clone(), reply, version));
            }
        }
    }
}

/// A request whose response has not arrived, in write order.
struct Slot {
    correlation_id: i32,
    reply: ReplyTo,
}

struct State {
    /// Why the connection ended; set once, then every `send` fails with a clone of it.
    closed: Option<NetworkError>,
    next_correlation_id: i32,
    pending: VecDeque<Slot>,
    /// Frames for the writer task; dropped on close so the writer stops.
    writer: Option<mpsc::UnboundedSender<FramePiece>>,
    tasks: Vec<AbortHandle>,
}

/// State shared by the handles and the two tasks.
struct Shared {
    addr: Arc<str>,
    client_id: StrBytes,
    state: Mutex<State>,
    /// Set when the writer has written every queued frame after `shutdown` stopped the queue.
    writer_drained: std::sync::atomic::AtomicBool,
    writer_drained_notify: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data (every critical
        // section is a few field updates), so poisoning is ignored rather than propagated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Assigns the next correlation id, queues the frame and (if a reply is wanted) registers
    /// its slot — under one lock, so write order and pending order are the same.
    fn enqueue(
        &self,
        frame: BytesMut,
        reply: Option<oneshot::Sender<Reply>>,
    ) -> Result<(), NetworkError> {
        self.enqueue_parts(frame, Vec::new(), reply.map(ReplyTo::Once))
    }

    /// [`Shared::enqueue`] for a frame in pieces (`head` holds the header): the pieces are queued
    /// back to back under the lock, so frames never interleave.
    fn enqueue_parts(
        &self,
        mut head: BytesMut,
        rest: impl IntoIterator<Item = FramePiece>,
        reply: Option<ReplyTo>,
    ) -> Result<(), NetworkError> {
        let mut state = self.lock();
        if let Some(err) = &state.closed {
            return Err(err.clone());
        }
        let id = state.next_correlation_id;
        state.next_correlation_id = id.checked_add(1).unwrap_or(0);
        set_correlation_id(&mut head, id);
        let queued = state.writer.as_ref().is_some_and(|w| {
            std::iter::once(FramePiece::Bytes(head.freeze()))
                .chain(rest)
                .all(|piece| w.send(piece).is_ok())
        });
        if !queued {
            // Only reachable if the writer ended without closing; treat as a dead socket.
            return Err(NetworkError::Io("connection writer stopped".into()));
        }
        if let Some(reply) = reply {
            state.pending.push_back(Slot {
                correlation_id: id,
                reply,
            });
        }
        Ok(())
    }

    /// Hands a response frame to the oldest pending request.
    fn complete(&self, frame: Bytes) -> Result<(), NetworkError> {
        let id = response_correlation_id(&frame)
            .ok_or_else(|| NetworkError::Protocol("response without correlation id".into()))?;
        let slot = {
            let mut state = self.lock();
            match state.pending.front() {
                None => {
                    return Err(NetworkError::Protocol(format!(
                        "response with correlation id {id} but no request is in flight"
                    )))
                }
                // Left in the queue so that `fail` reports the error to it as well.
                Some(slot) if slot.correlation_id != id => {
                    return Err(NetworkError::Protocol(format!(
                        "expected a response with correlation id {} but got {id}",
                        slot.correlation_id
                    )))
                }
                Some(_) => state.pending.pop_front(),
            }
        };
        if let Some(slot) = slot {
            slot.reply.send(&self.addr, Ok(frame));
        }
        Ok(())
    }

    /// Ends the connection: the first error wins; every pending request gets it exactly once;
    /// both tasks stop (dropping the socket halves closes the socket).
    fn fail(&self, err: NetworkError) {
        let (pending, tasks) = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(err.clone());
            state.writer = None;
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.tasks),
            )
        };
        if !matches!(err, NetworkError::Closed) {
            tracing::debug!(addr = %self.addr, error = %err, in_flight = pending.len(), "connection failed");
        }
        for slot in pending {
            slot.reply.send(&self.addr, Err(err.clone()));
        }
        for task in tasks {
            task.abort();
        }
    }
}

/// Closes the connection when the last [`Connection`] handle is dropped. The tasks hold only
/// `Shared`, never this, so they don't keep the connection alive.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.fail(NetworkError::Closed);
    }
}

/// Used by `api_versions()` before negotiation has finished (never visible to callers of
/// [`Connection::connect`]).
static NO_VERSIONS: ApiVersions = ApiVersions::empty();

/// A connection to one broker. Cheap to clone; all clones share the socket, which closes when
/// the last clone is dropped or [`close`](Connection::close) is called.
///
/// Requests are written in call order and many may be in flight (pipelining); responses are
/// matched to requests in order.
///
/// ```no_run
/// use kafka_protocol::messages::MetadataRequest;
/// use kproducer::network::{Connection, ConnectionConfig};
///
/// # async fn demo() -> Result<(), kproducer::network::NetworkError> {
/// let conn = Connection::connect("127.0.0.1:9092", &ConnectionConfig::default()).await?;
/// let version = conn.api_versions().highest_common(3, 0, 12).unwrap_or(0);
/// let metadata = conn.request(&MetadataRequest::default(), version).await?;
/// println!("{} brokers", metadata.brokers.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    owner: Arc<Owner>,
    /// `None` only while negotiating.
    versions: Option<Arc<ApiVersions>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr())
            .field("in_flight", &self.in_flight())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Why one ApiVersions attempt failed, and what the broker said about its own range.
struct Rejected {
    error: NetworkError,
    broker_range: Option<(i16, i16)>,
}

impl Connection {
    /// Opens a TCP connection to `addr` (`host:port`) and negotiates API versions.
    ///
    /// The whole set-up (address lookup, TCP connect, ApiVersions) is bounded by
    /// `config.connect_timeout`. ApiVersions is sent at v3 with client software name and
    /// version; if the answer is an error, is undecodable or the connection drops, it is tried
    /// once more (on a new connection if needed) at the highest version the broker's error
    /// announced, or v0 — as Java does (KIP-511), and as librdkafka's mock cluster needs.
    ///
    /// ```
    /// use kproducer::network::{Connection, ConnectionConfig, NetworkError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // A port nobody listens on.
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap().to_string();
    /// drop(listener);
    /// let err = Connection::connect(&addr, &ConnectionConfig::default()).await.unwrap_err();
    /// assert!(matches!(err, NetworkError::Connect { .. }));
    /// # });
    /// ```
    pub async fn connect(
        addr: &str,
        config: &ConnectionConfig,
    ) -> Result<Connection, NetworkError> {
        let after_ms = u64::try_from(config.connect_timeout.as_millis()).unwrap_or(u64::MAX);
        match tokio::time::timeout(config.connect_timeout, Self::establish(addr, config)).await {
            Ok(result) => result,
            Err(_) => Err(NetworkError::ConnectTimeout {
                addr: addr.to_string(),
                after_ms,
            }),
        }
    }

    async fn establish(addr: &str, config: &ConnectionConfig) -> Result<Connection, NetworkError> {
        let conn = Self::open(addr, config).await?;
        let rejected = match conn.negotiate(API_VERSIONS_MAX).await {
            Ok(versions) => return Ok(conn.with_versions(versions)),
            Err(rejected) => rejected,
        };
        // Retry lower only if that makes progress; otherwise v0, which every broker speaks.
        let retry_version = rejected
            .broker_range
            .and_then(|(min, max)| {
                let high = max.min(API_VERSIONS_MAX);
                (min.max(0) <= high).then_some(high)
            })
            .filter(|v| *v < API_VERSIONS_MAX)
            .unwrap_or(0);
        tracing::debug!(%addr, error = %rejected.error, retry_version, "ApiVersions v3 rejected; retrying");
        let conn = if conn.is_closed() {
            Self::open(addr, config).await?
        } else {
            conn
        };
        match conn.negotiate(retry_version).await {
            Ok(versions) => Ok(conn.with_versions(versions)),
            Err(rejected) => Err(rejected.error),
        }
    }

    /// TCP connect to the first resolved address that accepts, then start the tasks.
    async fn open(addr: &str, config: &ConnectionConfig) -> Result<Connection, NetworkError> {
        let connect_err = |reason: String| NetworkError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let candidates: Vec<SocketAddr> = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| connect_err(format!("address lookup failed: {e}")))?
            .collect();
        let mut last_error = String::from("the address resolved to nothing");
        for candidate in candidates {
            match connect_socket(candidate, config).await {
                Ok(stream) => return Ok(Self::start(stream, addr, config)),
                Err(e) => last_error = format!("{candidate}: {e}"),
            }
        }
        Err(connect_err(last_error))
    }

    fn start(stream: TcpStream, addr: &str, config: &ConnectionConfig) -> Connection {
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            addr: Arc::from(addr),
            client_id: StrBytes::from_string(config.client_id.clone()),
            state: Mutex::new(State {
                closed: None,
                next_correlation_id: 0,
                pending: VecDeque::new(),
                writer: Some(tx),
                tasks: Vec::new(),
            }),
            writer_drained: std::sync::atomic::AtomicBool::new(false),
            writer_drained_notify: tokio::sync::Notify::new(),
        });
        let reader = tokio::spawn(read_loop(shared.clone(), read, config.max_response_size));
        let writer = tokio::spawn(write_loop(shared.clone(), write, rx));
        {
            let mut state = shared.lock();
            if state.closed.is_none() {
                state.tasks = vec![reader.abort_handle(), writer.abort_handle()];
            } else {
                // Failed before we got here: nothing else will stop them.
                reader.abort();
                writer.abort();
            }
        }
        Connection {
            owner: Arc::new(Owner { shared }),
            versions: None,
        }
    }

    fn with_versions(mut self, versions: ApiVersions) -> Connection {
        self.versions = Some(Arc::new(versions));
        self
    }

    fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    /// One ApiVersions round trip at `version`, decoded with the bounded decoder.
    async fn negotiate(&self, version: i16) -> Result<ApiVersions, Rejected> {
        let rejected = |error| Rejected {
            error,
            broker_range: None,
        };
        let mut request = ApiVersionsRequest::default();
        if version >= 3 {
            request = request
                .with_client_software_name(StrBytes::from_static_str("kproducer"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        }
        let frame =
            encode_request(&request, version, &self.shared().client_id).map_err(rejected)?;
        let (tx, rx) = oneshot::channel();
        self.shared().enqueue(frame, Some(tx)).map_err(rejected)?;
        let frame = match rx.await {
            Ok(reply) => reply.map_err(rejected)?,
            Err(_) => return Err(rejected(NetworkError::Closed)),
        };
        // ApiVersions responses always use header v0: just the correlation id.
        let body = frame.get(4..).unwrap_or_default();
        // A broker that does not support `version` answers in the v0 format (KIP-511), so
        // when the answer is not a success, look for its ApiVersions range there too.
        let v0_range = || {
            decode_api_versions(body, 0)
                .ok()
                .and_then(|a| a.versions.range(API_VERSIONS_KEY))
        };
        match decode_api_versions(body, version) {
            Ok(answer) if answer.error_code == 0 => Ok(answer.versions),
            Ok(answer) => {
                let broker_range = answer.versions.range(API_VERSIONS_KEY).or_else(v0_range);
                let error = if answer.error_code == UNSUPPORTED_VERSION {
                    NetworkError::UnsupportedVersion {
                        api_key: API_VERSIONS_KEY,
                        ours: (0, API_VERSIONS_MAX),
                        broker: broker_range,
                    }
                } else {
                    NetworkError::Protocol(format!(
                        "ApiVersions v{version} answered with error code {}",
                        answer.error_code
                    ))
                };
                Err(Rejected {
                    error,
                    broker_range,
                })
            }
            Err(reason) => Err(Rejected {
                error: NetworkError::Protocol(format!(
                    "undecodable ApiVersions v{version} response: {reason}"
                )),
                broker_range: v0_range(),
            }),
        }
    }

    /// The address this connection was opened with.
    pub fn addr(&self) -> &str {
        &self.shared().addr
    }

    /// [`Connection::addr`], shared (no copy).
    pub(crate) fn addr_shared(&self) -> Arc<str> {
        self.shared().addr.clone()
    }

    /// The API version ranges the broker announced.
    pub fn api_versions(&self) -> &ApiVersions {
        self.versions.as_deref().unwrap_or(&NO_VERSIONS)
    }

    /// Fails if `version` of `R` is outside what kafka-protocol can encode or, once known,
    /// outside the broker's range (Java's UnsupportedVersionException, raised before sending).
    fn check_version<R: Request>(&self, version: i16) -> Result<(), NetworkError> {
        let ours = (R::VERSIONS.min, R::VERSIONS.max);
        let broker = self.versions.as_ref().map(|v| v.range(R::KEY));
        let ours_ok = ours.0 <= version && version <= ours.1;
        let broker_ok = match broker {
            None => true,
            Some(None) => false,
            Some(Some((min, max))) => min <= version && version <= max,
        };
        if ours_ok && broker_ok {
            Ok(())
        } else {
            Err(NetworkError::UnsupportedVersion {
                api_key: R::KEY,
                ours,
                broker: broker.flatten(),
            })
        }
    }

    /// Queues `request` at `version` and returns a future for its response. Never blocks:
    /// the frame is encoded here and handed to the writer task.
    ///
    /// Fails immediately if the connection is closed or the version is unsupported.
    pub fn send<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<PendingResponse<R::Response>, NetworkError> {
        self.check_version::<R>(version)?;
        let frame = encode_request(request, version, &self.shared().client_id)?;
        let (tx, rx) = oneshot::channel();
        self.shared().enqueue(frame, Some(tx))?;
        Ok(PendingResponse {
            rx: Some(rx),
            api_key: R::KEY,
            version,
            header_version: R::Response::header_version(version),
            _response: PhantomData,
        })
    }

    /// Queues a Produce request encoded straight from `parts` (no `ProduceRequest` built; see
    /// [`encode_produce_parts`](super::frame::encode_produce_parts)). The answer, or the error
    /// that ended the connection, is sent to `reply` tagged with `id`, unless `acks` is 0 (the
    /// broker does not answer). `scratch` and `pieces` are the caller's, reused from request to
    /// request: in steady state this allocates nothing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_produce_parts<P: super::ProducePart>(
        &self,
        acks: i16,
        timeout_ms: i32,
        parts: &[P],
        version: i16,
        scratch: &mut BytesMut,
        pieces: &mut Vec<FramePiece>,
        id: u64,
        reply: &mpsc::UnboundedSender<ProduceReply>,
    ) -> Result<(), NetworkError> {
        self.check_version::<ProduceRequest>(version)?;
        pieces.clear();
        let head = match encode_produce_parts(
            acks,
            timeout_ms,
            parts,
            version,
            &self.shared().client_id,
            scratch,
            pieces,
        ) {
            Ok(head) => head,
            Err(e) => {
                pieces.clear();
                return Err(e);
            }
        };
        let reply = (acks != 0).then(|| ReplyTo::Produce {
            id,
            version,
            tx: reply.clone(),
        });
        self.shared().enqueue_parts(head, pieces.drain(..), reply)
    }

    /// Queues a request the broker will not answer (Produce with acks=0): no pending slot is
    /// registered, so later responses still match their requests.
    pub fn send_no_response<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<(), NetworkError> {
        self.check_version::<R>(version)?;
        let frame = encode_request(request, version, &self.shared().client_id)?;
        self.shared().enqueue(frame, None)
    }

    /// [`send`](Connection::send) and wait for the response.
    pub async fn request<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, NetworkError> {
        self.send(request, version)?.await
    }

    /// Requests sent whose responses have not arrived.
    pub fn in_flight(&self) -> usize {
        self.shared().lock().pending.len()
    }

    /// Whether the connection has ended (closed by us, by the peer, or after an error).
    pub fn is_closed(&self) -> bool {
        self.shared().lock().closed.is_some()
    }

    /// Closes the socket; every pending response fails with [`NetworkError::Closed`]. Frames
    /// queued but not yet written are discarded (see [`Connection::shutdown`] to write them).
    pub fn close(&self) {
        self.shared().fail(NetworkError::Closed);
    }

    /// Stops taking requests, waits up to `timeout` until every frame already queued has been
    /// written (e.g. acks=0 Produce requests, which get no answer), then closes.
    pub async fn shutdown(&self, timeout: std::time::Duration) {
        let shared = self.shared();
        let drained = shared.writer_drained_notify.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.closed.is_some() {
                return;
            }
            // Dropping the sender ends the writer once the queue is empty.
            state.writer = None;
        }
        if !shared
            .writer_drained
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            let _ = tokio::time::timeout(timeout, drained).await;
        }
        shared.fail(NetworkError::Closed);
    }
}

/// TCP connect with the configured socket options.
async fn connect_socket(addr: SocketAddr, config: &ConnectionConfig) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Set before connect so the receive window scale is negotiated for the chosen size.
    if let Ok(size @ 1..) = u32::try_from(config.send_buffer_bytes) {
        socket.set_send_buffer_size(size)?;
    }
    if let Ok(size @ 1..) = u32::try_from(config.receive_buffer_bytes) {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket.connect(addr).await?;
    // Requests are written whole; Nagle would only add latency.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads response frames and hands each to the oldest pending request until the socket ends
/// or the peer misbehaves; then fails the connection.
async fn read_loop(shared: Arc<Shared>, mut read: OwnedReadHalf, limit: usize) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let error = loop {
        match next_frame(&mut buf, limit) {
            Ok(Some(frame)) => match shared.complete(frame) {
                Ok(()) => continue,
                Err(e) => break e,
            },
            Ok(None) => {}
            Err(e) => break e,
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match read.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => {
                break NetworkError::Io("connection closed by the broker".into())
            }
            Ok(0) => {
                break NetworkError::Io(format!(
                "connection closed by the broker in the middle of a response ({} bytes received)",
                buf.len()
            ))
            }
            Ok(_) => {}
            Err(e) => break NetworkError::Io(format!("read failed: {e}")),
        }
    };
    shared.fail(error);
}

/// Writes queued frame pieces in order: whatever is queued goes out in one vectored write
/// (`writev`), record batches straight from their buffers, nothing copied into a staging buffer.
async fn write_loop(
    shared: Arc<Shared>,
    mut write: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<FramePiece>,
) {
    let mut queue: VecDeque<FramePiece> = VecDeque::new();
    while let Some(piece) = frames.recv().await {
        queue.push_back(piece);
        while let Ok(piece) = frames.try_recv() {
            queue.push_back(piece);
        }
        if let Err(e) = write_all_vectored(&mut write, &mut queue).await {
            shared.fail(NetworkError::Io(format!("write failed: {e}")));
            return;
        }
    }
    // The queue was closed by `shutdown`: everything queued is written.
    shared
        .writer_drained
        .store(true, std::sync::atomic::Ordering::SeqCst);
    shared.writer_drained_notify.notify_waiters();
}

/// Pieces per `writev` call (Linux allows 1024; a few dozen cover any request).
const MAX_IOVECS: usize = 64;

/// Writes every queued piece, as few system calls as the socket allows.
async fn write_all_vectored(
    write: &mut OwnedWriteHalf,
    queue: &mut VecDeque<FramePiece>,
) -> std::io::Result<()> {
    while !queue.is_empty() {
        let written = {
            let mut iov = [std::io::IoSlice::new(&[]); MAX_IOVECS];
            let mut n = 0;
            for (slot, piece) in iov.iter_mut().zip(queue.iter().filter(|p| !p.is_empty())) {
                *slot = std::io::IoSlice::new(piece);
                n += 1;
            }
            if n == 0 {
                queue.clear();
                return Ok(());
            }
            write.write_vectored(&iov[..n]).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while left > 0 {
            let Some(front) = queue.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                queue.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
        while queue.front().is_some_and(FramePiece::is_empty) {
            queue.pop_front();
        }
    }
    Ok(())
}

/// The response to one request: a future resolving to the decoded body, or the error that
/// ended the connection. Dropping it is harmless: the response is still read and discarded.
///
/// The body is decoded when polled, on the caller's task, at the request's version.
#[must_use = "a PendingResponse does nothing unless awaited; drop it to discard the response"]
pub struct PendingResponse<T> {
    /// `None` once resolved, so a stray poll returns an error instead of panicking.
    rx: Option<oneshot::Receiver<Reply>>,
    api_key: i16,
    version: i16,
    header_version: i16,
    _response: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for PendingResponse<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingResponse")
            .field("api_key", &self.api_key)
            .field("version", &self.version)
            .field("done", &self.rx.is_none())
            .finish()
    }
}

impl<T: Decodable> Future for PendingResponse<T> {
    type Output = Result<T, NetworkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(Err(NetworkError::Protocol(
                "PendingResponse polled after it resolved".into(),
            )));
        };
        let reply = match Pin::new(rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(reply) => reply,
        };
        this.rx = None;
        Poll::Ready(match reply {
            Ok(Ok(frame)) => {
                decode_response(frame, this.api_key, this.version, this.header_version)
            }
            Ok(Err(e)) => Err(e),
            // The slot was dropped without an answer: only happens when the connection ended.
            Err(_) => Err(NetworkError::Closed),
        })
    }
}

pub(crate) fn decode_response<T: Decodable>(
    mut frame: Bytes,
    api_key: i16,
    version: i16,
    header_version: i16,
) -> Result<T, NetworkError> {
    let undecodable = |e: &dyn std::fmt::Display| {
        NetworkError::Protocol(format!(
            "cannot decode API {api_key} v{version} response: {e}"
        ))
    };
    ResponseHeader::decode(&mut frame, header_version).map_err(|e| undecodable(&e))?;
    // Bound every array count by the bytes present before kafka-protocol pre-allocates.
    super::bounded::check(api_key, version, &frame).map_err(|e| undecodable(&e.0))?;
    T::decode(&mut frame, version).map_err(|e| undecodable(&e))
}
