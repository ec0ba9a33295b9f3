//! Record batch compression: the five `compression.type` codecs, framed exactly as Java's
//! producer frames them, and Java's per-topic compression ratio estimator.
//!
//! A batch is compressed once, when it closes ([`Compression::compress`] on the records section
//! of the batch); while it is open, its compressed size is estimated from the uncompressed size
//! and the topic's observed ratio ([`CompressionRatioEstimator`], [`estimated_size`]).
//!
//! | codec | frame (as Java writes it) | encoder (default features) | levels |
//! |---|---|---|---|
//! | gzip | RFC 1952, JDK header (mtime 0, OS 255) | flate2 on zlib-rs (pure Rust) | -1 (=6), 1..=9 |
//! | snappy | xerial `SnappyOutputStream`: 16-byte magic header, 32 KiB blocks with BE lengths | `snap` | none |
//! | lz4 | LZ4 frame v1 as `Lz4BlockOutputStream`: 64 KiB independent blocks, no checksums | `lz4_flex` (fast compressor) | 1..=17 accepted; all use the fast compressor |
//! | zstd | standard frame, no content checksum | `structured-zstd` (decoded by `ruzstd`); libzstd with feature `zstd-c` | -131072..=22 |
//!
//! ```
//! use kproducer::internals::compression::{decompress, Compression};
//! use kproducer::CompressionType;
//!
//! let codec = Compression::new(CompressionType::Lz4, 9).unwrap();
//! let data = b"kafka kafka kafka kafka kafka kafka kafka kafka".repeat(100);
//! let mut compressed = Vec::new();
//! codec.compress(&data, &mut compressed).unwrap();
//! assert!(compressed.len() < data.len() / 10);
//! let mut back = Vec::new();
//! decompress(CompressionType::Lz4, &compressed, &mut back, 1 << 20).unwrap();
//! assert_eq!(back, data);
//! ```

mod estimator;
mod gzip;
mod lz4;
mod snappy;
mod zstd;

pub use estimator::{
    estimated_size, CompressionRatioEstimator, COMPRESSION_RATE_ESTIMATION_FACTOR,
};
pub use lz4::xxh32;

use crate::config::{CompressionType, ProducerConfig};

/// Java's `compression.gzip.level` bounds and default (`Deflater.DEFAULT_COMPRESSION` = zlib 6).
pub const GZIP_LEVELS: (i32, i32, i32) = (1, 9, -1);
/// Java's `compression.lz4.level` bounds and default.
pub const LZ4_LEVELS: (i32, i32, i32) = (1, 17, 9);
/// Java's `compression.zstd.level` bounds and default (`Zstd.minCompressionLevel()`..=22, 3).
pub const ZSTD_LEVELS: (i32, i32, i32) = (-131_072, 22, 3);

/// Why compressing or decompressing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The level is outside Java's range for the codec.
    #[error("compression.{codec}.level {level} is out of range (allowed: {allowed})")]
    InvalidLevel {
        /// Codec name.
        codec: &'static str,
        /// The level given.
        level: i32,
        /// The allowed values.
        allowed: &'static str,
    },
    /// The encoder failed (should not happen in memory; the batch is then sent uncompressed).
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// Codec name.
        codec: &'static str,
        /// What the encoder said.
        reason: String,
    },
    /// The compressed bytes are not a valid stream of the codec (as Kafka frames it).
    #[error("corrupt {codec} data: {reason}")]
    Corrupt {
        /// Codec name.
        codec: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Decompressing would produce more than the caller's limit (a decompression bomb or a batch
    /// larger than expected).
    #[error("{codec} data decompresses to more than {limit} bytes")]
    TooLarge {
        /// Codec name.
        codec: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl CompressionError {
    pub(crate) fn corrupt(codec: &'static str, reason: impl std::fmt::Display) -> Self {
        CompressionError::Corrupt {
            codec,
            reason: reason.to_string(),
        }
    }
}

/// A codec and its level: what `compression.type` and `compression.<codec>.level` select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    codec: CompressionType,
    level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::NONE
    }
}

impl Compression {
    /// No compression.
    pub const NONE: Compression = Compression {
        codec: CompressionType::None,
        level: 0,
    };

    /// A codec with a level, checked against Java's ranges (the level is ignored for `none`
    /// and `snappy`).
    ///
    /// ```
    /// use kproducer::internals::compression::Compression;
    /// use kproducer::CompressionType;
    /// assert!(Compression::new(CompressionType::Gzip, -1).is_ok());
    /// assert!(Compression::new(CompressionType::Gzip, 0).is_err());
    /// assert!(Compression::new(CompressionType::Zstd, 23).is_err());
    /// ```
    pub fn new(codec: CompressionType, level: i32) -> Result<Self, CompressionError> {
        let invalid = |codec, allowed| CompressionError::InvalidLevel {
            codec,
            level,
            allowed,
        };
        let ok = match codec {
            CompressionType::None | CompressionType::Snappy => true,
            CompressionType::Gzip => {
                level == GZIP_LEVELS.2 || (GZIP_LEVELS.0..=GZIP_LEVELS.1).contains(&level)
            }
            CompressionType::Lz4 => (LZ4_LEVELS.0..=LZ4_LEVELS.1).contains(&level),
            CompressionType::Zstd => (ZSTD_LEVELS.0..=ZSTD_LEVELS.1).contains(&level),
        };
        if !ok {
            return Err(match codec {
                CompressionType::Gzip => invalid("gzip", "-1 or 1..=9"),
                CompressionType::Lz4 => invalid("lz4", "1..=17"),
                _ => invalid("zstd", "-131072..=22"),
            });
        }
        Ok(Compression { codec, level })
    }

    /// The codec with Java's default level.
    pub fn with_default_level(codec: CompressionType) -> Self {
        let level = match codec {
            CompressionType::None | CompressionType::Snappy => 0,
            CompressionType::Gzip => GZIP_LEVELS.2,
            CompressionType::Lz4 => LZ4_LEVELS.2,
            CompressionType::Zstd => ZSTD_LEVELS.2,
        };
        Compression { codec, level }
    }

    /// What a validated configuration selects (`compression.type` and its level key).
    pub fn from_config(config: &ProducerConfig) -> Self {
        let codec = config.compression_type;
        let level = match codec {
            CompressionType::Gzip => config.compression_gzip_level,
            CompressionType::Lz4 => config.compression_lz4_level,
            CompressionType::Zstd => config.compression_zstd_level,
            CompressionType::None | CompressionType::Snappy => 0,
        };
        // The config validated the level already; fall back to the default rather than fail.
        Compression::new(codec, level).unwrap_or_else(|_| Compression::with_default_level(codec))
    }

    /// The codec.
    pub fn codec(&self) -> CompressionType {
        self.codec
    }

    /// The level (0 for codecs without levels).
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Whether batches are compressed at all.
    pub fn is_none(&self) -> bool {
        self.codec == CompressionType::None
    }

    /// Appends the compressed form of `input` to `out`, framed as Java frames it. With `none`,
    /// appends `input` unchanged.
    pub fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        match self.codec {
            CompressionType::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            CompressionType::Gzip => gzip::compress(input, self.level, out),
            CompressionType::Snappy => snappy::compress(input, out),
            CompressionType::Lz4 => lz4::compress(input, self.level, out),
            CompressionType::Zstd => zstd::compress(input, self.level, out),
        }
    }

    /// The most bytes [`compress`](Self::compress) can produce for `len` input bytes (for
    /// incompressible input every codec stores the data nearly as is).
    ///
    /// ```
    /// use kproducer::internals::compression::Compression;
    /// use kproducer::CompressionType;
    /// let c = Compression::with_default_level(CompressionType::Snappy);
    /// let data: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    /// let mut out = Vec::new();
    /// c.compress(&data, &mut out).unwrap();
    /// assert!(out.len() <= c.max_compressed_len(data.len()));
    /// ```
    pub fn max_compressed_len(&self, len: usize) -> usize {
        match self.codec {
            CompressionType::None => len,
            CompressionType::Gzip => gzip::max_compressed_len(len),
            CompressionType::Snappy => snappy::max_compressed_len(len),
            CompressionType::Lz4 => lz4::max_compressed_len(len),
            CompressionType::Zstd => zstd::max_compressed_len(len),
        }
    }

    /// Capacity to give [`Compression::compress`]'s output for `len` bytes of input so that it
    /// never reallocates: [`Compression::max_compressed_len`], or more for an encoder that
    /// needs working room past the final size (LZ4 compresses each block into its worst case).
    ///
    /// ```
    /// use kproducer::internals::compression::Compression;
    /// use kproducer::CompressionType;
    /// let c = Compression::with_default_level(CompressionType::Lz4);
    /// assert!(c.output_capacity(16_384) >= c.max_compressed_len(16_384));
    /// let data = vec![7u8; 16_384];
    /// let mut out = Vec::with_capacity(c.output_capacity(data.len()));
    /// let at = out.as_ptr();
    /// c.compress(&data, &mut out).unwrap();
    /// assert_eq!(out.as_ptr(), at, "no reallocation");
    /// ```
    pub fn output_capacity(&self, len: usize) -> usize {
        match self.codec {
            CompressionType::Lz4 => lz4::output_capacity(len).max(lz4::max_compressed_len(len)),
            _ => self.max_compressed_len(len),
        }
    }
}

/// Appends the decompressed form of `input` (Kafka-framed, as [`Compression::compress`] or any
/// Kafka client writes it) to `out`, failing once more than `limit` bytes would be produced.
///
/// Also reads what other clients write: raw snappy (librdkafka), gzip with optional header
/// fields, LZ4 frames with checksums or with the pre-0.10 Kafka header checksum, several zstd
/// frames.
pub fn decompress(
    codec: CompressionType,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    match codec {
        CompressionType::None => {
            if input.len() > limit {
                return Err(CompressionError::TooLarge {
                    codec: "none",
                    limit,
                });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        CompressionType::Gzip => gzip::decompress(input, out, limit),
        CompressionType::Snappy => snappy::decompress(input, out, limit),
        CompressionType::Lz4 => lz4::decompress(input, out, limit),
        CompressionType::Zstd => zstd::decompress(input, out, limit),
    }
}

/// The codec for attribute bits 0..=2 of a batch, `None` for ids Kafka does not define.
pub fn codec_from_id(id: u8) -> Option<CompressionType> {
    Some(match id {
        0 => CompressionType::None,
        1 => CompressionType::Gzip,
        2 => CompressionType::Snappy,
        3 => CompressionType::Lz4,
        4 => CompressionType::Zstd,
        _ => return None,
    })
}

/// Reads from `reader` into `out` until end of stream, failing past `limit` total new bytes.
pub(crate) fn read_limited(
    codec: &'static str,
    mut reader: impl std::io::Read,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let start = out.len();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CompressionError::corrupt(codec, e)),
        };
        if out.len() - start + n > limit {
            return Err(CompressionError::TooLarge { codec, limit });
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests;
