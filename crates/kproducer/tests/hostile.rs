//! A hostile broker: its Metadata answer gives the topic 3.5 million partitions in a 63 MB frame.
//! Decoded with kafka-protocol this took the client to 585 MB. Now the answer is refused by name
//! (more partitions than a client accepts), the send fails with that reason, and the client's
//! heap never holds much more than the frame itself: measured here with a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kproducer::{Producer, ProducerConfig, ProducerRecord, SendError};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PARTITIONS: usize = 3_500_000;

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn compact_str(out: &mut Vec<u8>, s: &str) {
    uvarint(out, s.len() as u64 + 1);
    out.extend_from_slice(s.as_bytes());
}

/// Metadata v12 (header v1), hand-encoded: one broker (us), topic `t` with `PARTITIONS`
/// partitions led by it.
fn metadata_v12(correlation_id: i32, port: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + PARTITIONS * 18 + 64);
    b.extend_from_slice(&[0; 4]); // size, back-filled
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.push(0); // header tags
    b.extend_from_slice(&0i32.to_be_bytes()); // throttle
    uvarint(&mut b, 2); // one broker
    b.extend_from_slice(&1i32.to_be_bytes());
    compact_str(&mut b, "127.0.0.1");
    b.extend_from_slice(&i32::from(port).to_be_bytes());
    b.push(0); // rack: null
    b.push(0); // tags
    b.push(0); // cluster id: null
    b.extend_from_slice(&1i32.to_be_bytes()); // controller
    uvarint(&mut b, 2); // one topic
    b.extend_from_slice(&0i16.to_be_bytes());
    compact_str(&mut b, "t");
    b.extend_from_slice(&[0; 16]); // topic id
    b.push(0); // internal
    uvarint(&mut b, PARTITIONS as u64 + 1);
    for p in 0..PARTITIONS as i32 {
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&p.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes()); // leader
        b.extend_from_slice(&0i32.to_be_bytes()); // epoch
        b.extend_from_slice(&[1, 1, 1, 0]); // replicas, isr, offline: empty; tags
    }
    b.extend_from_slice(&i32::MIN.to_be_bytes()); // authorized operations
    b.push(0); // topic tags
    b.push(0); // response tags
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b
}

/// ApiVersions v0 answer (header v0): Metadata 0..=12 only, no InitProducerId; with `error`
/// UNSUPPORTED_VERSION (35) for a request above v0, as Kafka answers (KIP-511).
fn api_versions(correlation_id: i32, error: i16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&error.to_be_bytes());
    b.extend_from_slice(&2i32.to_be_bytes());
    for (key, min, max) in [(3i16, 0i16, 12i16), (18, 0, 0)] {
        b.extend_from_slice(&key.to_be_bytes());
        b.extend_from_slice(&min.to_be_bytes());
        b.extend_from_slice(&max.to_be_bytes());
    }
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b
}

/// A broker that answers ApiVersions at v0 (asked at v3: the v0 answer says so, KIP-511
/// style, and the client retries at v0) and every Metadata request with the hostile frame.
fn serve(listener: TcpListener, frame_len: std::sync::mpsc::Sender<usize>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { return };
        let frame_len = frame_len.clone();
        std::thread::spawn(move || loop {
            let mut size = [0u8; 4];
            if s.read_exact(&mut size).is_err() {
                return;
            }
            let mut req = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
            if s.read_exact(&mut req).is_err() || req.len() < 8 {
                return;
            }
            let key = i16::from_be_bytes([req[0], req[1]]);
            let version = i16::from_be_bytes([req[2], req[3]]);
            let corr = i32::from_be_bytes([req[4], req[5], req[6], req[7]]);
            let answer = match key {
                18 => api_versions(corr, if version > 0 { 35 } else { 0 }),
                3 => {
                    let f = metadata_v12(corr, port);
                    let _ = frame_len.send(f.len());
                    f
                }
                _ => return,
            };
            if s.write_all(&answer).is_err() {
                return;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_metadata_answer_is_refused_within_bounded_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || serve(listener, tx));

    let producer: Producer<String, String> = Producer::new(
        ProducerConfig::from_map([
            ("bootstrap.servers", addr.to_string()),
            ("max.block.ms", "3000".to_string()),
            ("enable.idempotence", "false".to_string()),
            ("acks", "1".to_string()),
        ])
        .expect("config"),
    )
    .expect("producer");
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let err = producer
        .send(ProducerRecord::new("t", "v".to_string()))
        .await
        .expect_err("no usable metadata");
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let frame = rx
        .try_iter()
        .max()
        .unwrap_or_else(|| panic!("the hostile answer was never asked for: {err}"));
    eprintln!(
        "hostile metadata: frame {} MB, client heap peak +{} MB, error: {err}",
        frame >> 20,
        peak >> 20
    );
    match &err {
        SendError::MetadataTimeout { reason, .. } => assert!(
            reason.contains("partitions") && reason.contains("accepts"),
            "the reason names the limit: {reason}"
        ),
        other => panic!("expected a metadata timeout naming the limit, got {other}"),
    }
    // The frame's own buffer (which grows with the bytes, so up to about twice them) is most of
    // it; the refused answer allocates nothing more.
    assert!(
        peak <= 2 * frame + (16 << 20),
        "heap peak {peak} bytes for a {frame}-byte answer"
    );
    producer.close(Duration::from_secs(1)).await;
}
