//! LZ4 as Java's `Lz4BlockOutputStream` writes it: an LZ4 frame (format v1.5.1) with
//! independent 64 KiB blocks, no block or content checksum and no content size. The header
//! checksum is xxHash32 of the FLG and BD bytes only (the magic excluded, the fix Kafka made for
//! magic ≥ 1; librdkafka checks it). A block that does not shrink is stored raw (high bit of its
//! length set), and a zero length ends the frame.
//!
//! Java compresses with lz4-java's fast compressor at the default level 9 and with LZ4 HC at
//! other levels; `lz4_flex` has only the fast compressor, which every level uses here (frames
//! stay valid; non-default levels compress less than Java's HC would).

use super::CompressionError;

const CODEC: &str = "lz4";

/// The LZ4 frame magic number (little-endian on the wire).
pub(crate) const MAGIC: u32 = 0x184D_2204;
/// FLG: version 01, block independence, no block checksum, no content size or checksum.
pub(crate) const FLG: u8 = 0b0110_0000;
/// BD: block maximum size 64 KiB (code 4).
pub(crate) const BD: u8 = 4 << 4;
/// Java's block size.
pub(crate) const BLOCK_SIZE: usize = 64 * 1024;
/// The high bit of a block length: the block is stored uncompressed.
const INCOMPRESSIBLE: u32 = 0x8000_0000;

/// The 7-byte frame header Java writes.
pub(crate) fn frame_header() -> [u8; 7] {
    let m = MAGIC.to_le_bytes();
    let hc = (xxh32(&[FLG, BD], 0) >> 8) as u8;
    [m[0], m[1], m[2], m[3], FLG, BD, hc]
}

thread_local! {
    /// The match table, kept per thread (the driver's, in practice): `compress_into` would
    /// allocate and zero a new one for every block.
    static TABLE: std::cell::RefCell<lz4_flex::block::CompressTable> =
        std::cell::RefCell::new(lz4_flex::block::CompressTable::large());
}

pub(super) fn compress(
    input: &[u8],
    _level: i32,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    out.reserve(output_capacity(input.len()));
    out.extend_from_slice(&frame_header());
    for block in input.chunks(BLOCK_SIZE) {
        let len_at = out.len();
        let start = len_at + 4;
        out.resize(
            start + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let n = TABLE
            .with(|t| match t.try_borrow_mut() {
                Ok(mut table) => {
                    lz4_flex::block::compress_into_with_table(block, &mut out[start..], &mut table)
                }
                // Only if this thread were already compressing (it never is): a fresh table.
                Err(_) => lz4_flex::block::compress_into(block, &mut out[start..]),
            })
            .map_err(|e| CompressionError::Compress {
                codec: CODEC,
                reason: e.to_string(),
            })?;
        let word = if n >= block.len() {
            // As Java: store the block raw when compression does not shrink it.
            out.truncate(start);
            out.extend_from_slice(block);
            block.len() as u32 | INCOMPRESSIBLE
        } else {
            out.truncate(start + n);
            n as u32
        };
        out[len_at..start].copy_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    Ok(())
}

/// Room `compress` needs in its output while it works: each block is compressed into the
/// encoder's worst case (a little over the block) before the raw fallback may replace it.
pub(super) fn output_capacity(len: usize) -> usize {
    let blocks = len.div_ceil(BLOCK_SIZE).max(1);
    7 + 4 + blocks * 4 + len + blocks * (BLOCK_SIZE / 255 + 16)
}

pub(super) fn max_compressed_len(len: usize) -> usize {
    // Raw fallback bounds every block at its own size plus its length word.
    7 + len + 4 * len.div_ceil(BLOCK_SIZE) + 4
}

pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let bad = |reason: &str| CompressionError::corrupt(CODEC, reason);
    if input.len() < 7 || input[..4] != MAGIC.to_le_bytes() {
        return Err(bad("missing LZ4 frame magic"));
    }
    let flg = input[4];
    let bd = input[5];
    if flg >> 6 != 1 {
        return Err(bad("unsupported LZ4 frame version"));
    }
    let block_checksum = flg & 0x10 != 0;
    let content_size = flg & 0x08 != 0;
    let content_checksum = flg & 0x04 != 0;
    let dict_id = flg & 0x01 != 0;
    let descriptor_end = 6 + if content_size { 8 } else { 0 } + if dict_id { 4 } else { 0 };
    if input.len() < descriptor_end + 1 {
        return Err(bad("truncated LZ4 frame descriptor"));
    }
    let hc = input[descriptor_end];
    let correct = (xxh32(&input[4..descriptor_end], 0) >> 8) as u8;
    // Kafka clients before magic 1 hashed the magic too; Java still reads those frames.
    let legacy = (xxh32(&input[..descriptor_end], 0) >> 8) as u8;
    if hc != correct && hc != legacy {
        return Err(bad("LZ4 frame header checksum mismatch"));
    }
    let max_block = match (bd >> 4) & 7 {
        code @ 4..=7 => 1usize << (2 * code + 8),
        _ => return Err(bad("invalid LZ4 block maximum size")),
    };
    let start = out.len();
    let mut rest = &input[descriptor_end + 1..];
    loop {
        let Some((word, tail)) = rest.split_first_chunk::<4>() else {
            return Err(bad("truncated LZ4 block length"));
        };
        let word = u32::from_le_bytes(*word);
        if word == 0 {
            rest = tail;
            break;
        }
        let raw = word & INCOMPRESSIBLE != 0;
        let len = (word & !INCOMPRESSIBLE) as usize;
        if len > tail.len() || len > max_block {
            return Err(bad("LZ4 block length past the frame"));
        }
        let (block, tail) = tail.split_at(len);
        rest = tail;
        if block_checksum {
            if rest.len() < 4 {
                return Err(bad("truncated LZ4 block checksum"));
            }
            rest = &rest[4..];
        }
        let room = (limit - (out.len() - start)).min(max_block);
        let at = out.len();
        if raw {
            if block.len() > limit - (at - start) {
                return Err(CompressionError::TooLarge {
                    codec: CODEC,
                    limit,
                });
            }
            out.extend_from_slice(block);
        } else {
            out.resize(at + room, 0);
            match lz4_flex::block::decompress_into(block, &mut out[at..]) {
                Ok(n) => out.truncate(at + n),
                Err(e) => {
                    out.truncate(at);
                    // The output did not fit the room left under the limit.
                    if room < max_block {
                        return Err(CompressionError::TooLarge {
                            codec: CODEC,
                            limit,
                        });
                    }
                    return Err(CompressionError::corrupt(CODEC, e));
                }
            }
        }
    }
    if content_checksum && rest.len() < 4 {
        return Err(bad("truncated LZ4 content checksum"));
    }
    Ok(())
}

const P1: u32 = 0x9E37_79B1;
const P2: u32 = 0x85EB_CA77;
const P3: u32 = 0xC2B2_AE3D;
const P4: u32 = 0x27D4_EB2F;
const P5: u32 = 0x1656_67B1;

/// xxHash32 of `data` with `seed` (the LZ4 frame's checksum function).
///
/// ```
/// use kproducer::internals::compression::xxh32;
/// assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
/// assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
/// ```
pub fn xxh32(data: &[u8], seed: u32) -> u32 {
    let round = |acc: u32, lane: u32| {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    };
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 16 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, le(&rest[4 * i..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    while rest.len() >= 4 {
        h = h
            .wrapping_add(le(rest).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}
