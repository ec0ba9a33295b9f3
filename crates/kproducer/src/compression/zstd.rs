//! zstd: a standard zstd frame, as zstd-jni's `ZstdOutputStream` writes it for Java (no content
//! checksum). Without the `zstd-c` feature the encoder is the pure-Rust `ruzstd`, whose only
//! compressing level is about zstd level 1, whatever `compression.zstd.level` says; with
//! `zstd-c`, libzstd (compiled from its vendored source) honours the level.

use super::{read_limited, CompressionError};

const CODEC: &str = "zstd";

#[cfg(not(feature = "zstd-c"))]
pub(super) fn compress(
    input: &[u8],
    _level: i32,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    out.reserve(max_compressed_len(input.len()));
    // Writing to a Vec and reading from a slice cannot fail.
    ruzstd::encoding::compress(
        input,
        &mut *out,
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    Ok(())
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
