//! zstd: a standard zstd frame, as zstd-jni's `ZstdOutputStream` writes it for Java (no content
//! checksum). Without the `zstd-c` feature the encoder is the pure-Rust `structured-zstd`; with
//! `zstd-c`, libzstd (compiled from its vendored source). Both honour `compression.zstd.level`
//! (Java's default 3). Decoding uses `ruzstd`, a separate implementation, so every round trip
//! in the tests checks the encoder against an independent decoder.

use super::{read_limited, CompressionError};

const CODEC: &str = "zstd";

#[cfg(not(feature = "zstd-c"))]
mod encoder {
    use std::cell::RefCell;

    use structured_zstd::encoding::{CompressionLevel, FrameCompressor};

    /// A compression context kept per thread, as librdkafka and zstd-jni keep a `ZSTD_CCtx`:
    /// building one allocates and clears its match tables, which costs more than compressing
    /// a 16 KiB batch. Batches are compressed on the producer's network thread, so in practice
    /// there is one per producer. Rebuilt when the level changes.
    pub(super) struct Context {
        level: i32,
        frame: FrameCompressor,
        /// The frame, before it is appended to the caller's buffer (the encoder writes whole
        /// buffers); it keeps its capacity between batches.
        scratch: Vec<u8>,
    }

    thread_local! {
        static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    }

    /// Compresses `input` as one frame appended to `out`; `None` if the encoder panicked (a bug
    /// in it: the caller sends the batch uncompressed rather than bring the thread down).
    pub(super) fn compress(input: &[u8], level: i32, out: &mut Vec<u8>) -> Option<()> {
        CONTEXT.with(|cell| {
            let mut slot = cell.borrow_mut();
            let ctx = match slot.as_mut() {
                Some(ctx) if ctx.level == level => ctx,
                _ => slot.insert(Context {
                    level,
                    frame: FrameCompressor::new(CompressionLevel::from_level(level)),
                    scratch: Vec::new(),
                }),
            };
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.frame
                    .compress_independent_frame_into(input, &mut ctx.scratch)
            }));
            match done {
                Ok(()) => {
                    out.extend_from_slice(&ctx.scratch);
                    Some(())
                }
                Err(_) => {
                    // Its state is unknown after a panic: start from a fresh context.
                    *slot = None;
                    None
                }
            }
        })
    }
}

#[cfg(not(feature = "zstd-c"))]
pub(super) fn compress(
    input: &[u8],
    level: i32,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    encoder::compress(input, level, out).ok_or_else(|| CompressionError::Compress {
        codec: CODEC,
        reason: "the zstd encoder panicked".to_string(),
    })
}

#[cfg(feature = "zstd-c")]
pub(super) fn compress(
    input: &[u8],
    level: i32,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    use std::io::Write;
    let fail = |e: std::io::Error| CompressionError::Compress {
        codec: CODEC,
        reason: e.to_string(),
    };
    out.reserve(max_compressed_len(input.len()));
    // The streaming encoder, like zstd-jni's stream: no content size, no checksum.
    let mut enc = zstd::stream::write::Encoder::new(&mut *out, level).map_err(fail)?;
    enc.write_all(input).map_err(fail)?;
    enc.finish().map_err(fail)?;
    Ok(())
}

/// `ZSTD_COMPRESSBOUND` plus frame header and checksum room.
pub(super) fn max_compressed_len(len: usize) -> usize {
    let small = if len < (128 << 10) {
        ((128 << 10) - len) >> 11
    } else {
        0
    };
    len + (len >> 8) + small + 32
}

pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let start = out.len();
    let mut rest = input;
    // One frame from Java and librdkafka; concatenated frames are valid zstd too.
    while !rest.is_empty() {
        let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut rest)
            .map_err(|e| CompressionError::corrupt(CODEC, e))?;
        let used = out.len() - start;
        read_limited(CODEC, &mut dec, out, limit - used)?;
    }
    Ok(())
}
