//! A connection's bytes, moved by two tokio tasks and nothing else: the writer writes queued frame
//! pieces with vectored writes (record batches from their own buffers, nothing copied); the reader
//! cuts the byte stream into response frames (mini-redis style: a frame is taken only once it is
//! complete) and hands each to the network thread, tagged with the connection's id. Which request
//! a frame answers is the core's business.
//!
//! ```text
//!  core ─ Transmit::Send ─► ConnIo::write ─► writer task ──► socket ──► broker
//!  core ◄─ handle_response ◄─ IoEvent::Frame ◄─ reader task ◄── socket ◄─┘
//! ```

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::frame::{next_frame, FramePiece};
use super::transport::{ReadHalf, WriteHalf};
use super::NetworkError;
use crate::core::ConnId;

/// Read buffer growth step; a frame larger than this reserves exactly what it needs.
const READ_CHUNK: usize = 8 * 1024;
/// Pieces per `writev` call (Linux allows 1024; a few dozen cover any request).
const MAX_IOVECS: usize = 64;

/// What a connection's tasks report to the network thread.
#[derive(Debug)]
pub(crate) enum IoEvent {
    /// A response frame (without its size prefix).
    Frame(ConnId, Bytes),
    /// The connection ended (read or write failed, the peer closed it).
    Closed(ConnId, NetworkError),
}

/// The network thread's handle on one connection's tasks. Dropping it stops both at once
/// (queued frames are discarded); [`ConnIo::shutdown`] writes what is queued first.
pub(crate) struct ConnIo {
    writer: Option<mpsc::UnboundedSender<FramePiece>>,
    write_task: Option<JoinHandle<()>>,
    read_task: JoinHandle<()>,
}

impl ConnIo {
    /// Starts the tasks of connection `id` over `read`/`write`; its events go to `events`.
    pub(crate) fn start(
        id: ConnId,
        read: ReadHalf,
        write: WriteHalf,
        max_frame: usize,
        events: mpsc::UnboundedSender<IoEvent>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let read_task = tokio::spawn(read_loop(id, read, max_frame, events.clone()));
        let write_task = tokio::spawn(write_loop(id, write, rx, events));
        ConnIo {
            writer: Some(tx),
            write_task: Some(write_task),
            read_task,
        }
    }

    /// Queues a frame's pieces, written in order, back to back with nothing between them.
    pub(crate) fn write(&self, pieces: impl IntoIterator<Item = FramePiece>) {
        if let Some(w) = &self.writer {
            for p in pieces {
                // A stopped writer already reported why (IoEvent::Closed).
                let _ = w.send(p);
            }
        }
    }

    /// Stops taking frames, waits up to `timeout` for the queued ones to be written (e.g. acks=0
    /// Produce requests, which get no answer), then stops both tasks.
    pub(crate) async fn shutdown(mut self, timeout: std::time::Duration) {
        self.writer = None; // the writer ends once its queue is empty
        if let Some(task) = self.write_task.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        self.read_task.abort();
        if let Some(task) = &self.write_task {
            task.abort();
        }
    }
}

/// Reads response frames until the stream ends or the peer misbehaves, then reports why.
async fn read_loop(
    id: ConnId,
    mut read: ReadHalf,
    limit: usize,
    events: mpsc::UnboundedSender<IoEvent>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let error = loop {
        match next_frame(&mut buf, limit) {
            Ok(Some(frame)) => {
                if events.send(IoEvent::Frame(id, frame)).is_err() {
                    return; // the network thread is gone
                }
                continue;
            }
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
            Err(e) => break read_error(&e),
        }
    };
    let _ = events.send(IoEvent::Closed(id, error));
}

/// A failed read; a TLS alert after the handshake (TLS 1.3 servers check the client
/// certificate then) is an authentication failure.
fn read_error(e: &std::io::Error) -> NetworkError {
    #[cfg(feature = "tls")]
    if let Some(reason) = super::tls::alert_reason(e) {
        return NetworkError::Authentication(crate::error::AuthenticationError::Ssl {
            broker: String::new(), // the core knows the address
            reason,
        });
    }
    NetworkError::Io(format!("read failed: {e}"))
}

/// Writes queued frame pieces in order: whatever is queued goes out in one vectored write.
async fn write_loop(
    id: ConnId,
    mut write: WriteHalf,
    mut frames: mpsc::UnboundedReceiver<FramePiece>,
    events: mpsc::UnboundedSender<IoEvent>,
) {
    let mut queue: VecDeque<FramePiece> = VecDeque::new();
    while let Some(piece) = frames.recv().await {
        queue.push_back(piece);
        while let Ok(piece) = frames.try_recv() {
            queue.push_back(piece);
        }
        if let Err(e) = write_all_vectored(&mut write, &mut queue).await {
            let _ = events.send(IoEvent::Closed(
                id,
                NetworkError::Io(format!("write failed: {e}")),
            ));
            return;
        }
    }
    // Shut down by the network thread: everything queued is written.
    let _ = write.shutdown().await;
}

/// Writes every queued piece, in as few system calls as the stream allows.
async fn write_all_vectored<W: AsyncWrite + Unpin + ?Sized>(
    write: &mut W,
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
    // A no-op on TCP; a TLS stream (or any buffered transport) may hold the tail of what was
    // written until flushed.
    write.flush().await
}
