//! gzip as Java's `GZIPOutputStream` writes it: a 10-byte header (no name, mtime 0, OS 255 as
//! JDK 16+ writes), raw deflate, then CRC32 and the input size, both little-endian.

use std::io::Write;

use flate2::write::DeflateEncoder;

use super::{read_limited, CompressionError};

const CODEC: &str = "gzip";

/// The header Java writes: magic, CM=deflate, no flags, mtime 0, XFL 0, OS unknown (255).
pub(crate) const JAVA_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

pub(super) fn compress(
    input: &[u8],
    level: i32,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    // Java's Deflater.DEFAULT_COMPRESSION (-1) is zlib's level 6.
    let level = if level < 0 { 6 } else { level as u32 };
    out.reserve(max_compressed_len(input.len()));
    out.extend_from_slice(&JAVA_HEADER);
    let fail = |e: std::io::Error| CompressionError::Compress {
        codec: CODEC,
        reason: e.to_string(),
    };
    let mut enc = DeflateEncoder::new(&mut *out, flate2::Compression::new(level));
    enc.write_all(input).map_err(fail)?;
    enc.finish().map_err(fail)?;
    let mut crc = flate2::Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input size modulo 2^32.
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Ok(())
}

/// Worst case of zlib-rs: level 1 (zlib-ng's "quick" strategy) always emits fixed-Huffman
/// blocks, up to 9 bits per byte on incompressible data, so 1/8 more plus the gzip wrapper.
pub(super) fn max_compressed_len(len: usize) -> usize {
    len + len / 8 + (len >> 12) + 18 + 64
}

pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    if input.len() < 18 || input[..2] != [0x1f, 0x8b] {
        return Err(CompressionError::corrupt(CODEC, "missing gzip header"));
    }
    // MultiGzDecoder checks the CRC32 and size trailer and handles optional header fields.
    read_limited(CODEC, flate2::read::MultiGzDecoder::new(input), out, limit)
}
