//! tokio connections to brokers: framing, correlation ids, pipelining, ApiVersions negotiation.
//!
//! This layer only moves bytes; every producer decision (what to send, when to retry) lives in
//! the sender. One [`Connection`] is one TCP socket driven by two background tasks:
//!
//! ```text
//!  send()/send_no_response()          (any task, never blocks)
//!     │  encode header+body into one length-prefixed frame, assign correlation id,
//!     │  register a pending slot (FIFO) and queue the frame — all under one lock,
//!     ▼  so the write order and the pending order are the same
//!     │  (send_produce_parts: the frame in pieces, record batches as their own buffers)
//!  writer task ──► socket ──► broker ──► socket ──► reader task
//!  (whatever is queued in one writev)
//!                                                   │ length-prefixed frames (mini-redis style:
//!                                                   │ check the frame is complete before parsing),
//!                                                   ▼ pop the oldest pending slot, check its id
//!                                         PendingResponse<T> (decodes T on the caller's task)
//! ```
//!
//! Kafka answers the requests of one connection in order, so responses are matched in FIFO
//! order and a correlation id that does not match the oldest pending request is a protocol
//! error that closes the connection.

mod bounded;
mod connection;
mod frame;
pub(crate) mod produce_ack;
mod versions;

#[cfg(test)]
mod tests;

/// The response path's pure steps, exposed for the fuzz targets in `fuzz/` so they exercise
/// exactly what a connection runs on a broker's bytes. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::protocol::Decodable;

    use super::{ApiVersions, NetworkError};

    /// Takes one complete response frame off `buf`, as the reader task does.
    pub fn next_frame(buf: &mut BytesMut, limit: usize) -> Result<Option<Bytes>, NetworkError> {
        super::frame::next_frame(buf, limit)
    }

    /// Decodes a response frame (header and body), as a `PendingResponse` does when polled.
    pub fn decode_response<T: Decodable>(
        frame: Bytes,
        api_key: i16,
        version: i16,
        header_version: i16,
    ) -> Result<T, NetworkError> {
        super::connection::decode_response(frame, api_key, version, header_version)
    }

    /// Decodes an ApiVersions response body, as negotiation does: (error code, ranges).
    pub fn decode_api_versions(body: &[u8], version: i16) -> Result<(i16, ApiVersions), String> {
        super::versions::decode_api_versions(body, version).map(|a| (a.error_code, a.versions))
    }
}

use std::time::Duration;

pub(crate) use connection::{decode_response, ProduceReply};
pub use connection::{Connection, PendingResponse};
pub use frame::{FramePiece, ProducePart};
pub use versions::ApiVersions;

/// How to open a [`Connection`].
///
/// ```
/// use kproducer::network::ConnectionConfig;
/// let config = ConnectionConfig { client_id: "producer-1".into(), ..ConnectionConfig::default() };
/// assert_eq!(config.send_buffer_bytes, 131072);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// `client.id`, sent in every request header.
    pub client_id: String,
    /// Bounds the whole connection set-up: TCP connect plus ApiVersions negotiation
    /// (`socket.connection.setup.timeout.ms`).
    pub connect_timeout: Duration,
    /// `send.buffer.bytes` (SO_SNDBUF); -1 keeps the OS default.
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (SO_RCVBUF); -1 keeps the OS default.
    pub receive_buffer_bytes: i32,
    /// Largest response frame accepted; a larger size prefix closes the connection with
    /// [`NetworkError::FrameTooLarge`] before anything of that size is allocated.
    pub max_response_size: usize,
}

impl Default for ConnectionConfig {
    /// Java's defaults; `max_response_size` is the broker's `socket.request.max.bytes` (100 MiB).
    fn default() -> Self {
        ConnectionConfig {
            client_id: String::new(),
            connect_timeout: Duration::from_millis(10_000),
            send_buffer_bytes: 131_072,
            receive_buffer_bytes: 32_768,
            max_response_size: 104_857_600,
        }
    }
}

/// A connection-level failure. Cheap to clone: one failure is delivered to every pending request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The TCP connection (or the address lookup) failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address given to [`Connection::connect`].
        addr: String,
        /// The OS error or lookup failure.
        reason: String,
    },
    /// Connection set-up (TCP connect and ApiVersions) took longer than `connect_timeout`.
    #[error(
        "connection to {addr} not ready after {after_ms} ms (socket.connection.setup.timeout.ms)"
    )]
    ConnectTimeout {
        /// The address given to [`Connection::connect`].
        addr: String,
        /// The configured timeout.
        after_ms: u64,
    },
    /// Reading or writing failed, or the peer closed the connection.
    #[error("network I/O failed: {0}")]
    Io(String),
    /// The connection was closed by this side ([`Connection::close`] or the last handle dropped).
    #[error("the connection was closed")]
    Closed,
    /// The broker announced a response larger than `max_response_size`.
    #[error("response of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The size prefix read from the socket.
        size: usize,
        /// `max_response_size`.
        limit: usize,
    },
    /// The broker's bytes could not be understood (undecodable body, bad size, wrong correlation id).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request version is not supported by this client or by the broker.
    #[error("UnsupportedVersionException: API {api_key}: client supports versions {ours:?}, broker supports {broker:?}")]
    UnsupportedVersion {
        /// The request's API key.
        api_key: i16,
        /// The versions this client can encode.
        ours: (i16, i16),
        /// The broker's range, if it announced one.
        broker: Option<(i16, i16)>,
    },
}
