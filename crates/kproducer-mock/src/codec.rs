//! Decompression of batch records: the four codecs of Kafka's record batch v2, as Java and
//! librdkafka frame them. Pure Rust.

use std::io::Read;

/// A batch's compression codec (attributes bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (RFC 1952; Java writes one member, several are accepted).
    Gzip,
    /// snappy in xerial's `SnappyOutputStream` framing as Java writes it, or one raw block.
    Snappy,
    /// The standard LZ4 frame (Kafka's `KafkaLZ4BlockOutputStream` for magic v2).
    Lz4,
    /// Standard zstd frames.
    Zstd,
}

impl Compression {
    /// The codec of a batch's attributes; `None` for ids 5–7, which Kafka refuses.
    pub fn from_attributes(attributes: i16) -> Option<Self> {
        match attributes & 0x07 {
            0 => Some(Self::None),
            1 => Some(Self::Gzip),
            2 => Some(Self::Snappy),
            3 => Some(Self::Lz4),
            4 => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// xerial's stream header: magic, then version 1 and minimum compatible version 1.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;

/// Decompresses `input` (a batch's records section). `Err` carries a reason; a result larger
/// than `limit` is an error too.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(too_large(limit));
            }
            out.extend_from_slice(input);
        }
        Compression::Gzip => {
            read_limited(flate2::read::MultiGzDecoder::new(input), &mut out, limit)?
        }
        Compression::Snappy => snappy(input, &mut out, limit)?,
        Compression::Lz4 => {
            read_limited(lz4_flex::frame::FrameDecoder::new(input), &mut out, limit)?
        }
        Compression::Zstd => {
            let mut rest = input;
            while !rest.is_empty() {
                let dec = ruzstd::decoding::StreamingDecoder::new(&mut rest)
                    .map_err(|e| format!("zstd: {e}"))?;
                read_limited(dec, &mut out, limit)?;
            }
        }
    }
    Ok(out)
}

fn too_large(limit: usize) -> String {
    format!("decompressed records exceed {limit} bytes")
}

fn read_limited(mut reader: impl Read, out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        if out.len() + n > limit {
            return Err(too_large(limit));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn snappy(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    let mut dec = snap::raw::Decoder::new();
    let mut block = |b: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
        let n = snap::raw::decompress_len(b).map_err(|e| format!("snappy: {e}"))?;
        if out.len() + n > limit {
            return Err(too_large(limit));
        }
        let at = out.len();
        out.resize(at + n, 0);
        let got = dec
            .decompress(b, &mut out[at..])
            .map_err(|e| format!("snappy: {e}"))?;
        out.truncate(at + got);
        Ok(())
    };
    // As xerial's SnappyInputStream: without the magic the input is one raw block.
    if !input.starts_with(&XERIAL_MAGIC) {
        return block(input, out);
    }
    if input.len() < XERIAL_HEADER_LEN {
        return Err("snappy: truncated xerial header".to_string());
    }
    let mut rest = &input[XERIAL_HEADER_LEN..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err("snappy: truncated block length".to_string());
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err("snappy: block past the end".to_string());
        }
        let (b, tail) = tail.split_at(len);
        block(b, out)?;
        rest = tail;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decompress(Compression::Gzip, &gz, usize::MAX).unwrap(),
            data
        );

        let mut sn = XERIAL_MAGIC.to_vec();
        sn.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for c in data.chunks(32 * 1024) {
            let b = snap::raw::Encoder::new().compress_vec(c).unwrap();
            sn.extend_from_slice(&(b.len() as u32).to_be_bytes());
            sn.extend_from_slice(&b);
        }
        assert_eq!(
            decompress(Compression::Snappy, &sn, usize::MAX).unwrap(),
            data
        );
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, usize::MAX).unwrap(),
            data
        );

        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(&data).unwrap();
        let lz = lz.finish().unwrap();
        assert_eq!(decompress(Compression::Lz4, &lz, usize::MAX).unwrap(), data);

        let zs = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(
            decompress(Compression::Zstd, &zs, usize::MAX).unwrap(),
            data
        );
    }

    #[test]
    fn corrupt_and_oversized_inputs_are_errors() {
        let data = sample();
        let zs = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert!(decompress(Compression::Zstd, &zs, 1000).is_err());
        assert!(decompress(Compression::Zstd, &zs[..zs.len() / 2], usize::MAX).is_err());
        assert!(decompress(Compression::Gzip, b"not gzip at all", usize::MAX).is_err());
        assert!(decompress(Compression::Lz4, b"\x04\x22\x4d\x18garbage", usize::MAX).is_err());
        assert!(decompress(
            Compression::Snappy,
            b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01\0\0\0\xff",
            usize::MAX
        )
        .is_err());
    }
}
