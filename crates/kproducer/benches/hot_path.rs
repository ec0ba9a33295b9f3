//! Micro benchmarks of the send path's hot spots: appending a record to a batch, closing a
//! batch (header + CRC32C), murmur2 and the built-in serializers.
//!
//! `cargo bench -p kproducer --bench hot_path` (`-- --quick` for a short run).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kproducer::internals::record_batch::{BatchHeader, RecordBatchBuilder};
use kproducer::partitioner::murmur2;
use kproducer::serializer::{
    ByteArraySerializer, LongSerializer, Serializer, StringSerializer, UuidSerializer,
};
use kproducer::Header;

const BATCH_SIZE: usize = 16 * 1024;
const TS: i64 = 1_700_000_000_000;

/// A batch filled to `BATCH_SIZE` with `value_size` records; returns it and its record count.
fn full_batch(buf: Vec<u8>, key: &[u8], value: &[u8]) -> (RecordBatchBuilder, u64) {
    let mut b = RecordBatchBuilder::new(buf, TS);
    let mut n = 0u64;
    while b.has_room_for(TS + n as i64, Some(key), Some(value), &[], BATCH_SIZE) {
        b.append(TS + n as i64, Some(key), Some(value), &[]);
        n += 1;
    }
    (b, n)
}

fn batch(c: &mut Criterion) {
    let key = b"customer-00042";
    for size in [100usize, 1024] {
        let value = vec![b'x'; size];
        let (_, per_batch) = full_batch(Vec::new(), key, &value);

        let mut g = c.benchmark_group(format!("batch/{size}B"));
        // Per record: has_room_for + append, as the accumulator does, into a reused buffer.
        g.throughput(Throughput::Elements(per_batch));
        let mut buf = Vec::with_capacity(BATCH_SIZE + 1024);
        g.bench_function("fill 16 KiB (per record)", |b| {
            b.iter(|| {
                let (batch, n) = full_batch(std::mem::take(&mut buf), key, &value);
                buf = batch.into_buffer();
                black_box(n)
            })
        });
        // Close: back-fill the header and CRC32C over the whole batch.
        g.throughput(Throughput::Bytes(BATCH_SIZE as u64));
        g.bench_function("close with CRC32C", |b| {
            b.iter_batched(
                || full_batch(Vec::with_capacity(BATCH_SIZE + 1024), key, &value).0,
                |batch| black_box(batch.close(BatchHeader::PLAIN)),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
    let mut g = c.benchmark_group("batch/headers");
    let headers = [
        Header::new("trace-id", &b"0123456789abcdef"[..]),
        Header::new("source", &b"bench"[..]),
    ];
    let value = vec![b'x'; 100];
    g.throughput(Throughput::Elements(1));
    let mut b = RecordBatchBuilder::new(Vec::with_capacity(BATCH_SIZE * 2), TS);
    g.bench_function("append 100B + 2 headers", |bench| {
        bench.iter(|| {
            if b.is_full(BATCH_SIZE) {
                b = RecordBatchBuilder::new(
                    std::mem::replace(&mut b, RecordBatchBuilder::new(Vec::new(), TS))
                        .into_buffer(),
                    TS,
                );
            }
            black_box(b.append(TS, Some(key), Some(&value), &headers))
        })
    });
    g.finish();
}

fn crc(c: &mut Criterion) {
    let data = vec![0xa5u8; BATCH_SIZE];
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("16 KiB", |b| b.iter(|| crc32c::crc32c(black_box(&data))));
    g.finish();
}

fn murmur(c: &mut Criterion) {
    let mut g = c.benchmark_group("murmur2");
    for len in [8usize, 36, 100] {
        let key: Vec<u8> = (0..len as u8).collect();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("{len} B key"), |b| {
            b.iter(|| murmur2(black_box(&key)))
        });
    }
    g.finish();
}

fn serializers(c: &mut Criterion) {
    let mut g = c.benchmark_group("serializer");
    g.throughput(Throughput::Elements(1));
    let s = "x".repeat(100);
    g.bench_function("String 100 B", |b| {
        b.iter(|| black_box(StringSerializer.serialize("t", &[], black_box(&s)).ok()))
    });
    let v = vec![7u8; 100];
    g.bench_function("Vec<u8> 100 B", |b| {
        b.iter(|| black_box(ByteArraySerializer.serialize("t", &[], black_box(&v)).ok()))
    });
    let n = 0x0102_0304_0506_0708i64;
    g.bench_function("i64", |b| {
        b.iter(|| black_box(LongSerializer.serialize("t", &[], black_box(&n)).ok()))
    });
    let u = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    g.bench_function("Uuid", |b| {
        b.iter(|| black_box(UuidSerializer.serialize("t", &[], black_box(&u)).ok()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = batch, crc, murmur, serializers
}
criterion_main!(benches);
