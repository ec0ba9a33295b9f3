//! Codec throughput and ratio on Kafka record batches: kproducer's pure-Rust codecs next to the
//! C libraries librdkafka links (liblz4, libzstd), same data, same run.
//!
//! `cargo run --release -p kproducer --example compression_bench`

use std::time::{Duration, Instant};

use kproducer::internals::compression::Compression;
use kproducer::internals::record_batch::RecordBatchBuilder;
use kproducer::{CompressionType, Header};

/// The records section of a batch of JSON-like records (~250 bytes each), `size` bytes long.
fn batch_records(size: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Vec::with_capacity(size + 1024), 1_700_000_000_000);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut i = 0u64;
    while b.size_in_bytes() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let value = format!(
            r#"{{"order_id":{i},"customer":"c-{}","amount":{}.{:02},"currency":"EUR","status":"{}","ts":{}}}"#,
            x % 100_000,
            x % 5000,
            x % 100,
            ["new", "paid", "shipped", "cancelled"][(x >> 40) as usize % 4],
            1_700_000_000_000 + i * 3
        );
        let key = format!("c-{}", x % 100_000);
        let headers = [Header::new("source", &b"web"[..])];
        b.append(
            1_700_000_000_000 + i as i64,
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &headers,
        );
        i += 1;
    }
    b.records().to_vec()
}

/// Runs `f` over `input` repeatedly for ~0.5 s; returns (MB/s of input, compressed size).
fn measure(input: &[u8], mut f: impl FnMut(&[u8]) -> usize) -> (f64, usize) {
    let mut out_len = f(input); // warm-up
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(500) {
        out_len = f(input);
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    (input.len() as f64 * f64::from(n) / secs / 1e6, out_len)
}

fn main() {
    let input = batch_records(256 * 1024);
    println!(
        "input: records section of one {} KiB batch; MB/s of uncompressed input, ratio = compressed/uncompressed",
        input.len() / 1024
    );
    println!("{:<28} {:>10} {:>8}", "codec", "MB/s", "ratio");
    let row = |name: &str, (mbs, len): (f64, usize)| {
        println!(
            "{name:<28} {mbs:>10.1} {:>8.3}",
            len as f64 / input.len() as f64
        );
    };
    let ours = [
        (CompressionType::Gzip, vec![1, -1, 9]),
        (CompressionType::Snappy, vec![0]),
        (CompressionType::Lz4, vec![9]),
        (CompressionType::Zstd, vec![1, 3]),
    ];
    for (codec, levels) in ours {
        for level in levels {
            let c = Compression::new(codec, level).expect("valid level");
            let mut out = Vec::new();
            let r = measure(&input, |data| {
                out.clear();
                c.compress(data, &mut out).expect("compress");
                out.len()
            });
            row(&format!("kproducer {} {level}", codec.as_str()), r);
        }
    }
    // The C libraries librdkafka uses, at librdkafka's defaults (lz4 fast, zstd 3).
    let r = measure(&input, |data| {
        lz4::block::compress(data, Some(lz4::block::CompressionMode::DEFAULT), false)
            .expect("lz4")
            .len()
    });
    row("C liblz4 (block, fast)", r);
    for level in [1, 3] {
        let r = measure(&input, |data| {
            zstd::bulk::compress(data, level).expect("zstd").len()
        });
        row(&format!("C libzstd {level}"), r);
    }
}
