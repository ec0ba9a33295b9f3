//! snappy as Java frames it in record batches: xerial's `SnappyOutputStream`. A 16-byte header
//! (`\x82SNAPPY\0`, version 1, minimum compatible version 1, both big-endian i32), then for each
//! 32 KiB of input a big-endian i32 length and one raw snappy block.

use super::CompressionError;

const CODEC: &str = "snappy";

/// xerial's magic header, version and minimum compatible version.
pub(crate) const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];

/// xerial `SnappyOutputStream`'s default block size (Java passes none, so this one).
pub(crate) const BLOCK_SIZE: usize = 32 * 1024;

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    out.reserve(max_compressed_len(input.len()));
    out.extend_from_slice(&XERIAL_HEADER);
    let mut enc = snap::raw::Encoder::new();
    for block in input.chunks(BLOCK_SIZE) {
        let len_at = out.len();
        let start = len_at + 4;
        out.resize(start + snap::raw::max_compress_len(block.len()), 0);
        let n = enc
            .compress(block, &mut out[start..])
            .map_err(|e| CompressionError::Compress {
                codec: CODEC,
                reason: e.to_string(),
            })?;
        out.truncate(start + n);
        out[len_at..start].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Ok(())
}

pub(super) fn max_compressed_len(len: usize) -> usize {
    let blocks = len.div_ceil(BLOCK_SIZE);
    let full = len / BLOCK_SIZE;
    let last = len % BLOCK_SIZE;
    XERIAL_HEADER.len()
        + blocks * 4
        + full * snap::raw::max_compress_len(BLOCK_SIZE)
        + if last > 0 {
            snap::raw::max_compress_len(last)
        } else {
            0
        }
}

pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let start = out.len();
    let mut dec = snap::raw::Decoder::new();
    let mut one = |block: &[u8], out: &mut Vec<u8>| -> Result<(), CompressionError> {
        let n =
            snap::raw::decompress_len(block).map_err(|e| CompressionError::corrupt(CODEC, e))?;
        if out.len() - start + n > limit {
            return Err(CompressionError::TooLarge {
                codec: CODEC,
                limit,
            });
        }
        let at = out.len();
        out.resize(at + n, 0);
        dec.decompress(block, &mut out[at..])
            .map_err(|e| CompressionError::corrupt(CODEC, e))?;
        Ok(())
    };
    // Like xerial's SnappyInputStream: without the magic header the whole input is one raw
    // snappy block (librdkafka writes that).
    if !input.starts_with(&XERIAL_HEADER[..8]) {
        return one(input, out);
    }
    if input.len() < XERIAL_HEADER.len() {
        return Err(CompressionError::corrupt(CODEC, "truncated xerial header"));
    }
    let mut rest = &input[XERIAL_HEADER.len()..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(CompressionError::corrupt(CODEC, "truncated block length"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(CompressionError::corrupt(
                CODEC,
                format!("block of {len} bytes, {} left", tail.len()),
            ));
        }
        let (block, tail) = tail.split_at(len);
        one(block, out)?;
        rest = tail;
    }
    Ok(())
}
