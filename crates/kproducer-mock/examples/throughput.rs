//! How fast the sans-IO cluster takes idempotent produce requests (no I/O, one thread):
//! `cargo run --release -p kproducer-mock --example throughput`.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kproducer_mock::{ClusterConfig, MockCluster, Outcome};

/// A v2 batch of `n` records of `size`-byte values, uncompressed, written by hand.
fn batch(pid: i64, seq: i32, n: i32, size: usize) -> Bytes {
    let mut records = BytesMut::new();
    for i in 0..n {
        let mut body = BytesMut::new();
        body.put_u8(0); // attributes
        body.put_u8(0); // timestamp delta 0
        put_varint(&mut body, i); // offset delta
        put_varint(&mut body, -1); // null key
        put_varint(&mut body, size as i32);
        body.put_bytes(b'x', size);
        put_varint(&mut body, 0); // headers
        put_varint(&mut records, body.len() as i32);
        records.put_slice(&body);
    }
    let mut b = BytesMut::new();
    b.put_i64(0);
    b.put_i32((49 + records.len()) as i32);
    b.put_i32(-1);
    b.put_i8(2);
    b.put_u32(0);
    b.put_i16(0);
    b.put_i32(n - 1);
    b.put_i64(1_000);
    b.put_i64(1_000);
    b.put_i64(pid);
    b.put_i16(0);
    b.put_i32(seq);
    b.put_i32(n);
    b.put_slice(&records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

fn put_varint(b: &mut BytesMut, v: i32) {
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        b.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    b.put_u8(z as u8);
}

/// A Produce v9 frame (flexible) for one partition.
fn produce(correlation: i32, records: &Bytes) -> Bytes {
    let mut f = BytesMut::new();
    f.put_i16(0);
    f.put_i16(9);
    f.put_i32(correlation);
    f.put_i16(-1); // client id
    f.put_u8(0); // header tagged fields
    f.put_u8(0); // null transactional id
    f.put_i16(-1); // acks
    f.put_i32(30_000);
    f.put_u8(2); // one topic
    f.put_u8(2);
    f.put_slice(b"t");
    f.put_u8(2); // one partition
    f.put_i32(0);
    let mut len = records.len() as u32 + 1;
    while len >= 0x80 {
        f.put_u8((len as u8) | 0x80);
        len >>= 7;
    }
    f.put_u8(len as u8);
    f.put_slice(records);
    f.put_u8(0);
    f.put_u8(0);
    f.put_u8(0);
    f.freeze()
}

fn main() {
    for (n, size) in [(100, 100), (10, 1024)] {
        let mut c = MockCluster::new(ClusterConfig::default());
        c.create_topic("t", 1).expect("topic");
        let requests = 200_000 / n;
        let frames: Vec<Bytes> = (0..requests)
            .map(|i| produce(i, &batch(1, i * n, n, size)))
            .collect();
        let start = Instant::now();
        for f in frames {
            match c.handle_request_bytes(1, f, 0) {
                Outcome::Reply { .. } => {}
                o => panic!("{o:?}"),
            }
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(c.high_watermark("t", 0), i64::from(requests * n));
        println!(
            "{n} records of {size} B per request: {:.0} records/s, {:.0} requests/s",
            f64::from(requests * n) / secs,
            f64::from(requests) / secs
        );
    }
}
