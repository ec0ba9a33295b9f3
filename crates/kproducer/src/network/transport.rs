//! How bytes reach a broker: a [`Transport`] opens a byte stream to `host:port`. TCP is the
//! default; TLS (the security work) and an in-memory pipe to an in-process cluster are other
//! transports. Framing, correlation ids and pipelining sit above it, once, whatever the transport.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

use super::NetworkError;

/// The reading half of a connection's byte stream.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection's byte stream.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;
/// What [`Transport::connect`] returns.
pub type Connecting =
    Pin<Box<dyn Future<Output = Result<(ReadHalf, WriteHalf), NetworkError>> + Send>>;

/// Opens byte streams to brokers.
///
/// ```
/// use kproducer::transport::{Transport, ReadHalf, WriteHalf, Connecting, NetworkError};
///
/// /// Every address leads to an in-memory pipe whose other end is handed to `serve`.
/// struct InMemory<F>(F);
///
/// impl<F: Fn(&str, tokio::io::DuplexStream) + Send + Sync + 'static> Transport for InMemory<F> {
///     fn connect(&self, addr: &str) -> Connecting {
///         let (ours, theirs) = tokio::io::duplex(64 * 1024);
///         (self.0)(addr, theirs);
///         let (read, write) = tokio::io::split(ours);
///         Box::pin(async move { Ok((Box::new(read) as ReadHalf, Box::new(write) as WriteHalf)) })
///     }
/// }
/// let _transport = InMemory(|_addr: &str, _broker_end: tokio::io::DuplexStream| {});
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Starts connecting to `addr` (`host:port`). The producer bounds the whole set-up with
    /// `socket.connection.setup.timeout.ms` (dropping the future when it runs out).
    fn connect(&self, addr: &str) -> Connecting;
}

/// Plain TCP, with the producer's socket options.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpTransport {
    /// `send.buffer.bytes` (SO_SNDBUF); -1 keeps the OS default.
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (SO_RCVBUF); -1 keeps the OS default.
    pub receive_buffer_bytes: i32,
}

impl Default for TcpTransport {
    /// Java's defaults.
    fn default() -> Self {
        TcpTransport {
            send_buffer_bytes: 131_072,
            receive_buffer_bytes: 32_768,
        }
    }
}

impl Transport for TcpTransport {
    fn connect(&self, addr: &str) -> Connecting {
        let addr = addr.to_string();
        let options = self.clone();
        Box::pin(async move {
            let stream = options.open(&addr).await?;
            let (read, write) = stream.into_split();
            Ok((Box::new(read) as ReadHalf, Box::new(write) as WriteHalf))
        })
    }
}

impl TcpTransport {
    /// Connects to the first resolved address that accepts.
    pub(crate) async fn open(&self, addr: &str) -> Result<TcpStream, NetworkError> {
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
            match self.connect_socket(candidate).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = format!("{candidate}: {e}"),
            }
        }
        Err(connect_err(last_error))
    }

    async fn connect_socket(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // Set before connect so the receive window scale is negotiated for the chosen size.
        if let Ok(size @ 1..) = u32::try_from(self.send_buffer_bytes) {
            socket.set_send_buffer_size(size)?;
        }
        if let Ok(size @ 1..) = u32::try_from(self.receive_buffer_bytes) {
            socket.set_recv_buffer_size(size)?;
        }
        let stream = socket.connect(addr).await?;
        // Requests are written whole; Nagle would only add latency.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
