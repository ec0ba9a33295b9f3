use std::io::Read;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::*;
use crate::protocol::record_batch::{decode_batches, BatchHeader, RecordBatchBuilder};
use crate::record::Header;

const CODECS: [CompressionType; 4] = [
    CompressionType::Gzip,
    CompressionType::Snappy,
    CompressionType::Lz4,
    CompressionType::Zstd,
];

/// (min, default, max) levels per codec, as Java's config allows them.
fn levels(codec: CompressionType) -> Vec<i32> {
    match codec {
        CompressionType::Gzip => vec![1, -1, 9],
        CompressionType::Lz4 => vec![1, 9, 17],
        CompressionType::Zstd => vec![-131_072, 3, 22],
        _ => vec![0],
    }
}

/// Deterministic pseudo-random bytes (incompressible): splitmix64.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    // Streams of different seeds start 2^40 steps apart: they never overlap.
    let mut x = u64::from(seed) << 40;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Text-like, compressible bytes.
fn text(len: usize) -> Vec<u8> {
    let words = [
        "kafka ",
        "producer ",
        "batch ",
        "record ",
        "offset ",
        "topic-7 ",
    ];
    let mut out = Vec::with_capacity(len);
    let mut i = 0usize;
    while out.len() < len {
        out.extend_from_slice(words[(i * 7 + i / 3) % words.len()].as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn inputs() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"x".to_vec(),
        text(1000),
        text(200_000),
        noise(150_000, 7),
        vec![0u8; 300_000],
    ]
}

fn round_trip(c: Compression, data: &[u8]) -> Vec<u8> {
    let mut z = Vec::new();
    c.compress(data, &mut z).unwrap();
    assert!(
        z.len() <= c.max_compressed_len(data.len()),
        "{c:?}: {} > bound {}",
        z.len(),
        c.max_compressed_len(data.len())
    );
    let mut back = Vec::new();
    decompress(c.codec(), &z, &mut back, data.len()).unwrap();
    assert_eq!(back, data, "{c:?} round trip of {} bytes", data.len());
    z
}

#[test]
fn every_codec_and_level_round_trips_within_its_bound() {
    for codec in CODECS {
        for level in levels(codec) {
            let c = Compression::new(codec, level).unwrap();
            for data in inputs() {
                round_trip(c, &data);
            }
        }
    }
}

#[test]
fn compressible_data_shrinks_and_noise_stays_near_its_size() {
    for codec in CODECS {
        let c = Compression::with_default_level(codec);
        let t = text(100_000);
        let z = round_trip(c, &t);
        assert!(
            z.len() < t.len() / 4,
            "{codec:?}: {} of {}",
            z.len(),
            t.len()
        );
        let n = noise(100_000, 3);
        let z = round_trip(c, &n);
        assert!(
            z.len() <= n.len() + n.len() / 50 + 64,
            "{codec:?}: {}",
            z.len()
        );
    }
}

#[test]
fn levels_outside_javas_ranges_are_rejected() {
    for (codec, bad) in [
        (CompressionType::Gzip, 0),
        (CompressionType::Gzip, 10),
        (CompressionType::Gzip, -2),
        (CompressionType::Lz4, 0),
        (CompressionType::Lz4, 18),
        (CompressionType::Zstd, 23),
        (CompressionType::Zstd, -131_073),
    ] {
        let err = Compression::new(codec, bad).unwrap_err();
        assert!(matches!(err, CompressionError::InvalidLevel { level, .. } if level == bad));
    }
}

#[test]
fn gzip_frame_is_javas_header_deflate_crc_and_size() {
    let data = text(50_000);
    let c = Compression::new(CompressionType::Gzip, -1).unwrap();
    let z = round_trip(c, &data);
    assert_eq!(z[..10], gzip::JAVA_HEADER);
    let n = z.len();
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    assert_eq!(z[n - 8..n - 4], crc.sum().to_le_bytes());
    assert_eq!(z[n - 4..], (data.len() as u32).to_le_bytes());
    // The body is raw deflate: inflate it alone.
    let mut body = Vec::new();
    flate2::read::DeflateDecoder::new(&z[10..n - 8])
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body, data);
    // Level 1 and 9 differ from each other (the level is applied).
    let z1 = round_trip(Compression::new(CompressionType::Gzip, 1).unwrap(), &data);
    let z9 = round_trip(Compression::new(CompressionType::Gzip, 9).unwrap(), &data);
    assert!(
        z9.len() < z1.len(),
        "level 9 {} vs level 1 {}",
        z9.len(),
        z1.len()
    );
}

#[test]
fn snappy_frame_is_xerial_with_32k_blocks() {
    let data = text(100_000); // 3 full blocks + 1696 bytes
    let z = round_trip(
        Compression::with_default_level(CompressionType::Snappy),
        &data,
    );
    assert_eq!(
        z[..16],
        [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1]
    );
    let mut rest = &z[16..];
    let mut sizes = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let block = &rest[4..4 + len];
        sizes.push(snap::raw::decompress_len(block).unwrap());
        rest = &rest[4 + len..];
    }
    assert_eq!(sizes, vec![32_768, 32_768, 32_768, 100_000 - 3 * 32_768]);
    // A raw snappy block (what librdkafka writes) is read too.
    let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    let mut back = Vec::new();
    decompress(CompressionType::Snappy, &raw, &mut back, usize::MAX).unwrap();
    assert_eq!(back, data);
}

#[test]
fn lz4_frame_header_and_checksum_are_javas() {
    // Known value: FLG 0x60, BD 0x40 give header checksum 0x82 (xxh32 of the two bytes >> 8).
    assert_eq!(
        lz4::frame_header(),
        [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]
    );
    let data = text(150_000);
    let z = round_trip(Compression::with_default_level(CompressionType::Lz4), &data);
    assert_eq!(z[..7], lz4::frame_header());
    assert_eq!(z[z.len() - 4..], [0, 0, 0, 0], "end mark");
    // An independent LZ4 frame reader (it verifies the header checksum).
    let mut back = Vec::new();
    lz4_flex::frame::FrameDecoder::new(&z[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, data);
    // Incompressible 64 KiB blocks are stored raw, with the high bit set.
    let n = noise(70_000, 9);
    let z = round_trip(Compression::with_default_level(CompressionType::Lz4), &n);
    let first = u32::from_le_bytes(z[7..11].try_into().unwrap());
    assert_eq!(first, 0x8000_0000 | 65_536);
    // A corrupted header checksum is refused.
    let mut bad = z.clone();
    bad[6] ^= 0xff;
    assert!(matches!(
        decompress(CompressionType::Lz4, &bad, &mut Vec::new(), usize::MAX),
        Err(CompressionError::Corrupt { .. })
    ));
}

#[test]
fn xxh32_matches_reference_vectors() {
    assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
    assert_eq!(xxh32(b"a", 0), 0x550D_7456);
    assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
    assert_eq!(
        xxh32(b"Nobody inspects the spammish repetition", 0),
        0xE229_3B2F
    );
}

#[test]
fn zstd_frame_has_magic_and_no_checksum() {
    let data = text(20_000);
    let z = round_trip(
        Compression::with_default_level(CompressionType::Zstd),
        &data,
    );
    assert_eq!(z[..4], [0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(
        z[4] & 0x04,
        0,
        "content checksum flag off, as zstd-jni writes"
    );
}

#[test]
fn zstd_honours_the_level_and_appends_after_a_prefix() {
    // Text with some entropy, so that levels differ: words picked by a pseudo-random stream.
    let words = noise(40_000, 3);
    let data: Vec<u8> = words
        .iter()
        .flat_map(|b| {
            ["order ", "paid ", "EUR ", "42.10 ", "c-917 ", "shipped "][*b as usize % 6].bytes()
        })
        .take(200_000)
        .collect();
    let size = |level: i32| {
        // A prefix already in the buffer (the batch header's room) must be kept.
        let mut out = b"prefix".to_vec();
        Compression::new(CompressionType::Zstd, level)
            .unwrap()
            .compress(&data, &mut out)
            .unwrap();
        assert_eq!(&out[..6], b"prefix");
        let mut back = Vec::new();
        decompress(CompressionType::Zstd, &out[6..], &mut back, data.len()).unwrap();
        assert_eq!(back, data, "level {level}");
        out.len() - 6
    };
    // Levels alternate, so the per-thread context is rebuilt each time.
    let (fast, default, strong) = (size(-5), size(3), size(19));
    assert!(
        strong < default && default < fast,
        "sizes {strong} < {default} < {fast}"
    );
    assert_eq!(size(3), default, "the same level gives the same frame");
}

#[test]
fn decompression_stops_at_the_limit() {
    let data = vec![7u8; 1 << 20];
    for codec in CODECS {
        let mut z = Vec::new();
        Compression::with_default_level(codec)
            .compress(&data, &mut z)
            .unwrap();
        let err = decompress(codec, &z, &mut Vec::new(), 1000).unwrap_err();
        assert!(
            matches!(err, CompressionError::TooLarge { limit: 1000, .. }),
            "{codec:?}: {err:?}"
        );
    }
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    for codec in CODECS {
        for seed in 1..200u32 {
            let g = noise((seed as usize * 37) % 500, seed);
            let _ = decompress(codec, &g, &mut Vec::new(), 1 << 20);
        }
        // Truncations of a valid stream.
        let mut z = Vec::new();
        Compression::with_default_level(codec)
            .compress(&text(5000), &mut z)
            .unwrap();
        for cut in 0..z.len() {
            let _ = decompress(codec, &z[..cut], &mut Vec::new(), 1 << 20);
        }
    }
}

/// A record as sent: key, value, headers.
type SentRecord = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

fn sample_batch(codec: Compression) -> (Bytes, Vec<SentRecord>) {
    let mut b = RecordBatchBuilder::new(Vec::new(), 1_700_000_000_000);
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let key = (i % 3 != 0).then(|| format!("key-{i}").into_bytes());
        let value = (i % 7 != 0).then(|| text(50 + (i as usize * 13) % 400));
        let headers = if i % 5 == 0 {
            vec![Header::new("h", format!("v{i}").into_bytes())]
        } else {
            Vec::new()
        };
        b.append(
            1_700_000_000_000 + i as i64,
            key.as_deref(),
            value.as_deref(),
            &headers,
        );
        sent.push((key, value, headers));
    }
    let mut prepared = vec![0u8; crate::protocol::record_batch::BATCH_HEADER_LEN];
    codec.compress(b.records(), &mut prepared).unwrap();
    let (bytes, _) = b
        .close_compressed(BatchHeader::PLAIN, codec.codec(), Vec::new(), |_, out| {
            std::mem::swap(out, &mut prepared);
            Ok::<(), ()>(())
        })
        .unwrap();
    (bytes, sent)
}

#[test]
fn our_compressed_batches_decode_with_kafka_protocols_decoder_and_ours() {
    for codec in CODECS {
        for level in levels(codec) {
            let c = Compression::new(codec, level).unwrap();
            let (bytes, sent) = sample_batch(c);
            assert_eq!(
                bytes[22] & 7,
                crate::protocol::record_batch::codec_id(codec)
            );
            // Independent: kafka-protocol with its own codecs (flate2, snap, lz4 and zstd C libs).
            let mut buf = bytes.clone();
            let set = RecordBatchDecoder::decode(&mut buf)
                .unwrap_or_else(|e| panic!("{codec:?}/{level}: kafka-protocol: {e:#}"));
            assert_eq!(set.records.len(), sent.len());
            for (r, (k, v, h)) in set.records.iter().zip(&sent) {
                assert_eq!(r.key.as_deref(), k.as_deref());
                assert_eq!(r.value.as_deref(), v.as_deref());
                assert_eq!(r.headers.len(), h.len());
            }
            // Ours.
            let ours = decode_batches(&bytes).unwrap();
            assert_eq!(
                ours[0].compression_codec(),
                crate::protocol::record_batch::codec_id(codec)
            );
            for (r, (k, v, h)) in ours[0].records.iter().zip(&sent) {
                assert_eq!(r.key.as_deref(), k.as_deref());
                assert_eq!(r.value.as_deref(), v.as_deref());
                assert_eq!(&r.headers, h);
            }
        }
    }
}

#[test]
fn estimator_follows_javas_steps() {
    let mut est = CompressionRatioEstimator::default();
    let t: std::sync::Arc<str> = "t".into();
    let mut last = 1.0;
    // Improving slowly: 0.005 a batch, never below the observation.
    for _ in 0..10 {
        let next = est.update(&t, 0.3);
        assert!((last - next - 0.005).abs() < 1e-5);
        last = next;
    }
    for _ in 0..1000 {
        est.update(&t, 0.3);
    }
    assert!((est.estimation("t") - 0.3).abs() < 1e-6);
    // Deteriorating fast.
    assert!((est.update(&t, 0.31) - 0.35).abs() < 1e-6);
    assert_eq!(est.estimation("other"), 1.0);
}

/// A record value of ~200 bytes drawn from a small vocabulary: compresses at a stable ratio.
fn wordy(i: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let mut x = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut v = format!("{i:08} ").into_bytes();
    while v.len() < 200 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        v.extend_from_slice(WORDS[(x >> 60) as usize].as_bytes());
        v.push(b' ');
    }
    v
}

/// Appends `values` to partition 0, draining (closing) every batch as soon as a newer one
/// exists; returns the wire size of each closed batch, in order.
fn closed_sizes(
    acc: &mut crate::accumulator::RecordAccumulator,
    meta: &crate::metadata::Metadata,
    values: impl Iterator<Item = Vec<u8>>,
    t0: std::time::Instant,
) -> Vec<usize> {
    use crate::accumulator::{PartitionChoice, RecordRef};
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut sizes = Vec::new();
    let drain = |acc: &mut crate::accumulator::RecordAccumulator, sizes: &mut Vec<usize>| {
        for mut b in acc.drain(
            meta.cluster(),
            1,
            1,
            t0,
            &mut |_: &crate::accumulator::ProducerBatch| BatchHeader::PLAIN,
        ) {
            let wire = b.wire_bytes();
            // Every closed batch is valid and decodes.
            assert_eq!(
                decode_batches(&wire).unwrap()[0].records.len(),
                b.record_count()
            );
            sizes.push(wire.len());
            acc.deallocate(&mut b);
        }
    };
    for v in values {
        let rec = RecordRef {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(&v),
            headers: &[],
        };
        acc.append(
            "t",
            None,
            PartitionChoice::Fixed(0),
            &rec,
            &mut None,
            t0,
            &mut rng,
        )
        .unwrap();
        if acc.queued_batches() > 1 {
            drain(acc, &mut sizes);
        }
    }
    sizes
}

#[test]
fn compressed_batches_fill_close_to_batch_size_and_never_pass_max_request_size() {
    const BATCH: usize = 8192;
    const MAX_REQUEST: usize = 100_000;
    for codec in CODECS {
        let t0 = std::time::Instant::now();
        let meta = crate::accumulator::tests::cluster_with(&[1], t0);
        let mut cfg = crate::accumulator::tests::config();
        cfg.batch_size = BATCH;
        cfg.buffer_memory = 64 << 20;
        cfg.compression = Compression::with_default_level(codec);
        cfg.max_request_size = MAX_REQUEST;
        let mut acc = crate::accumulator::RecordAccumulator::new(cfg);

        // Compressible data: the estimate walks down from 1.0 by 0.005 a batch, then batches
        // hold several times batch.size of records and land just under batch.size compressed.
        let sizes = closed_sizes(&mut acc, &meta, (0..25_000).map(wordy), t0);
        let ratio = acc.compression_ratio("t");
        assert!(ratio < 0.6, "{codec:?}: estimate {ratio}");
        let settled = &sizes[sizes.len() - 20..];
        for &s in settled {
            assert!(
                (BATCH * 70 / 100..=BATCH).contains(&s),
                "{codec:?}: compressed batch of {s} bytes outside [{}, {BATCH}] (estimate {ratio}, sizes {settled:?})",
                BATCH * 70 / 100
            );
        }
        // Java's estimator saws between the estimate and estimate + 0.05: on average well above 80%.
        let mean = settled.iter().sum::<usize>() / settled.len();
        assert!(mean >= BATCH * 80 / 100, "{codec:?}: mean {mean}");
        assert!(sizes.iter().all(|&s| s <= MAX_REQUEST));

        // Then incompressible data, packed by the optimistic estimate: the worst-case bound keeps
        // each batch within max.request.size, and the estimate recovers at once.
        let noisy = (0..2000u32).map(|i| noise(200, i + 1));
        let sizes = closed_sizes(&mut acc, &meta, noisy, t0);
        assert!(
            sizes.iter().all(|&s| s <= MAX_REQUEST),
            "{codec:?}: {sizes:?} passes max.request.size"
        );
        assert!(
            sizes[sizes.len() - 3..].iter().all(|&s| s <= BATCH),
            "{codec:?}: the estimate recovered: {sizes:?}"
        );
    }
}

#[test]
fn an_optimistic_estimate_never_builds_a_batch_past_max_request_size() {
    const BATCH: usize = 8192;
    const MAX_REQUEST: usize = 12_000;
    let t0 = std::time::Instant::now();
    let meta = crate::accumulator::tests::cluster_with(&[1], t0);
    let mut cfg = crate::accumulator::tests::config();
    cfg.batch_size = BATCH;
    cfg.buffer_memory = 64 << 20;
    cfg.compression = Compression::with_default_level(CompressionType::Gzip);
    cfg.max_request_size = MAX_REQUEST;
    let mut acc = crate::accumulator::RecordAccumulator::new(cfg);
    // Learn a ratio near 0.2, then send incompressible data.
    let values = (0..15_000)
        .map(wordy)
        .chain((0..500u32).map(|i| noise(200, i + 1)));
    let sizes = closed_sizes(&mut acc, &meta, values, t0);
    let ratio = acc.compression_ratio("t");
    assert!(ratio > 0.9, "the estimate followed the noise: {ratio}");
    let max = sizes.iter().copied().max().unwrap_or(0);
    assert!(max <= MAX_REQUEST, "{max} > max.request.size");
    assert!(
        max > BATCH,
        "the optimistic estimate did pack more than batch.size of noise ({max}): the bound was what held"
    );
}
