//! Moving bytes to and from brokers, and the wire formats the core speaks.
//!
//! - [`transport`]: how a byte stream to `host:port` is opened ([`Transport`]: TCP; `tls`: TLS
//!   over TCP with rustls; an in-memory pipe in the tests).
//! - `io`: one connection's two tokio tasks — the writer (queued frame pieces, vectored writes,
//!   record batches from their own buffers) and the reader (length-prefixed response frames).
//!   They know nothing of Kafka beyond framing.
//! - `frame`, `produce_ack`, `versions`, `bounded`: encoding requests (Produce by hand, from the
//!   batches, no copy; everything else through kafka-protocol) and reading responses (the
//!   Produce acknowledgements straight from the frame; counts bounded by the bytes present).
//!
//! Correlation ids, which request an answer belongs to, and every decision about connections
//! live in the [core](crate::core).

pub(crate) mod bounded;
pub(crate) mod frame;
pub(crate) mod io;
pub(crate) mod metadata_answer;
pub(crate) mod produce_ack;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
pub(crate) mod versions;

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
        super::frame::decode_response(frame, api_key, version, header_version)
    }

    /// One acknowledgement: topic name bytes, partition, base offset, log append time.
    pub type Ack = (Vec<u8>, i32, i64, i64);

    /// The Produce answer fast path on a response frame (header included): `Some` acks
    /// `(topic, partition, base offset, log append time)` when it reads every partition as a
    /// success, `None` when it defers to the full decoder (an error somewhere, or unreadable).
    pub fn produce_acks(frame: &[u8], version: i16) -> Option<Vec<Ack>> {
        let mut acks = Vec::new();
        match super::produce_ack::decode_produce_acks(frame, version, &mut acks) {
            Ok(super::produce_ack::AckDecode::AllAcked) => Some(
                acks.iter()
                    .map(|a| {
                        (
                            frame.get(a.topic.clone()).unwrap_or_default().to_vec(),
                            a.partition,
                            a.base_offset,
                            a.log_append_time,
                        )
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The hand-written Produce encoder on `(topic, partition, records)` parts (grouped by topic,
    /// as the sender groups them): the whole frame, size prefix included.
    pub fn encode_produce(
        acks: i16,
        timeout_ms: i32,
        parts: &[(String, i32, Vec<u8>)],
        version: i16,
    ) -> Result<Vec<u8>, NetworkError> {
        struct Part<'a>(&'a str, i32, crate::protocol::record_batch::WireBuf);
        impl super::ProducePart for Part<'_> {
            fn topic(&self) -> &str {
                self.0
            }
            fn partition(&self) -> i32 {
                self.1
            }
            fn records(&self) -> &crate::protocol::record_batch::WireBuf {
                &self.2
            }
        }
        let parts: Vec<Part<'_>> = parts
            .iter()
            .map(|(t, p, r)| {
                Part(
                    t,
                    *p,
                    crate::protocol::record_batch::WireBuf::from_vec(r.clone()),
                )
            })
            .collect();
        let client = kafka_protocol::protocol::StrBytes::from_static_str("fuzz");
        let (mut scratch, mut pieces) = (BytesMut::new(), Vec::new());
        let head = super::frame::encode_produce_parts(
            acks,
            timeout_ms,
            &parts,
            version,
            &client,
            &mut scratch,
            &mut pieces,
        )?;
        let mut out = head.to_vec();
        for p in &pieces {
            out.extend_from_slice(p);
        }
        Ok(out)
    }

    /// Reads a Metadata response body as the core does (every topic wanted).
    pub fn decode_metadata(body: &[u8], version: i16) -> Result<usize, String> {
        super::metadata_answer::decode_metadata(body, version, &|_| true)
            .map(|a| a.topics.iter().map(|t| t.partitions.len()).sum())
    }

    /// Decodes an ApiVersions response body, as negotiation does: (error code, ranges).
    pub fn decode_api_versions(body: &[u8], version: i16) -> Result<(i16, ApiVersions), String> {
        super::versions::decode_api_versions(body, version).map(|a| (a.error_code, a.versions))
    }
}

pub use frame::{FramePiece, ProducePart};
pub use transport::{Connecting, ReadHalf, TcpTransport, Transport, WriteHalf};
pub use versions::ApiVersions;

/// A connection-level failure. Cheap to clone: one failure is delivered to every pending request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The TCP connection (or the address lookup) failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address connected to.
        addr: String,
        /// The OS error or lookup failure.
        reason: String,
    },
    /// Connection set-up took longer than `socket.connection.setup.timeout.ms`.
    #[error(
        "connection to {addr} not ready after {after_ms} ms (socket.connection.setup.timeout.ms)"
    )]
    ConnectTimeout {
        /// The address connected to.
        addr: String,
        /// The configured timeout.
        after_ms: u64,
    },
    /// Reading or writing failed, or the peer closed the connection.
    #[error("network I/O failed: {0}")]
    Io(String),
    /// The connection was closed by this side.
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
    /// The TLS handshake or SASL authentication failed: not retried (Java's
    /// `AuthenticationException`).
    #[error(transparent)]
    Authentication(crate::error::AuthenticationError),
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
