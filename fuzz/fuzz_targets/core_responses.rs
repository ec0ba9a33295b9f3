//! The producer's core fed arbitrary broker answers: every decoder a broker can reach, reached
//! the way the core reaches it (ApiVersions negotiation, the Metadata reader and its snapshot,
//! InitProducerId, the Produce acknowledgement fast path, the full Produce answer and the
//! sender's retry and idempotence logic, KIP-714's GetTelemetrySubscriptions and PushTelemetry),
//! on a virtual clock. Nothing may panic; every send must
//! still resolve once the producer is closed and the clock runs past `delivery.timeout.ms`.
//!
//! Input: a first byte of modes (bit 0: a transactional producer, which calls
//! `init_transactions`, begins a transaction once ready and commits it, so the transactional
//! answers — FindCoordinator, InitProducerId with a transactional id, AddPartitionsToTxn, EndTxn —
//! are reached; bit 1: the canned ApiVersions answer finalizes `transaction.version` 2), then a
//! sequence of answers, each `[flags, len, bytes…]`: the next request the core wrote is answered
//! with `bytes` after its correlation id (flags bit 0: a canned valid ApiVersions answer instead,
//! so inputs get past negotiation; bit 1: close the connection instead).
#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kproducer::internals::core::sim::{Simulated, TxnOp};
use kproducer::internals::core::{ConnId, Transmit};
use kproducer::ProducerConfig;
use libfuzzer_sys::fuzz_target;

/// ApiVersions v3 body: Produce 3..12, Metadata 0..12, ApiVersions 0..3, InitProducerId 0..5,
/// the transactional APIs and KIP-714's GetTelemetrySubscriptions and PushTelemetry (so the
/// telemetry answers are reached too); with `tv2`, the finalized `transaction.version` 2.
fn api_versions_v3(tv2: bool) -> Vec<u8> {
    let apis: [(i16, i16, i16); 11] = [
        (0, 3, 12),
        (3, 0, 12),
        (10, 0, 6),
        (18, 0, 3),
        (22, 0, 5),
        (24, 0, 5),
        (25, 0, 4),
        (26, 0, 5),
        (28, 0, 5),
        (71, 0, 0),
        (72, 0, 0),
    ];
    let mut b = Vec::new();
    b.put_i16(0);
    b.put_u8(apis.len() as u8 + 1); // compact count
    for (k, min, max) in apis {
        b.put_i16(k);
        b.put_i16(min);
        b.put_i16(max);
        b.put_u8(0);
    }
    b.put_i32(0); // throttle
    if tv2 {
        // Tagged field 2: finalized features [transaction.version 2..2].
        let name = b"transaction.version";
        let mut f = vec![2u8, name.len() as u8 + 1];
        f.extend_from_slice(name);
        f.put_i16(2);
        f.put_i16(2);
        f.put_u8(0);
        b.put_u8(1);
        b.put_u8(2);
        b.put_u8(f.len() as u8);
        b.extend_from_slice(&f);
    } else {
        b.put_u8(0); // tags
    }
    b
}

fuzz_target!(|data: &[u8]| {
    let [modes, data @ ..] = data else {
        return;
    };
    let transactional = modes & 1 != 0;
    let tv2 = modes & 2 != 0;
    let mut props = vec![
        ("bootstrap.servers", "b:1"),
        ("client.id", "fuzz"),
        ("linger.ms", "0"),
        ("request.timeout.ms", "1000"),
        ("delivery.timeout.ms", "5000"),
        ("max.block.ms", "5000"),
    ];
    if transactional {
        props.push(("transactional.id", "fuzz-tx"));
    }
    let Ok(config) = ProducerConfig::from_map(props) else {
        return;
    };
    let mut p = Simulated::new(config, 1);
    let mut init = transactional.then(|| p.transaction(TxnOp::Init).ok()).flatten();
    let mut commit = None;
    let t0 = Instant::now();
    let resolved = Arc::new(AtomicUsize::new(0));
    let mut sent = 0;
    let mut now = t0;
    let mut frame = Vec::new();
    let mut written: Vec<(ConnId, i32, bool)> = Vec::new();
    let mut input = data;
    for step in 0..64 {
        now = t0 + Duration::from_millis(step * 7);
        if init.as_ref().is_some_and(|h| h.outcome().is_some()) {
            init = None;
            // Ready (or failed): open the transaction the sends go into.
            let _ = p.begin_transaction();
        }
        if transactional && sent == 4 && commit.is_none() {
            commit = p.transaction(TxnOp::Commit).ok();
        }
        if sent < 4 {
            let r = resolved.clone();
            let cb = Box::new(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            });
            if p
                .try_send("t", None, Some(b"k"), Some(b"v"), &[], 0, cb, now)
                .is_ok()
            {
                sent += 1;
            }
        }
        p.core.handle_timeout(now);
        while let Some(t) = p.core.poll_transmit(now, &mut frame) {
            match t {
                Transmit::Connect { conn, .. } => p.core.handle_connected(conn, now),
                Transmit::Send { conn } => {
                    let bytes: Vec<u8> = frame.drain(..).flat_map(|f| f.to_vec()).collect();
                    if bytes.len() >= 12 {
                        let key = i16::from_be_bytes([bytes[4], bytes[5]]);
                        let corr = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                        written.push((conn, corr, key == 18));
                    }
                }
                Transmit::Close { .. } => {}
            }
        }
        p.complete();
        let Some((conn, corr, is_api_versions)) = written.first().copied() else {
            continue;
        };
        written.remove(0);
        let [flags, len, rest @ ..] = input else {
            break;
        };
        let n = (*len as usize).min(rest.len());
        let (body, tail) = rest.split_at(n);
        input = tail;
        if flags & 2 != 0 {
            p.core.handle_disconnected(conn, "fuzz", now);
            continue;
        }
        let mut answer = BytesMut::new();
        answer.put_i32(corr);
        if flags & 1 != 0 && is_api_versions {
            answer.put_slice(&api_versions_v3(tv2));
        } else {
            answer.put_slice(body);
        }
        p.core.handle_response(conn, Bytes::from(answer), now);
    }
    // Closed, the clock past every deadline: every send resolves.
    p.close();
    for step in 0..200 {
        let at = now + Duration::from_millis(100 * step);
        p.core.handle_timeout(at);
        while p.core.poll_transmit(at, &mut frame).is_some() {
            frame.clear();
        }
        p.complete();
        if p.core.is_finished() {
            break;
        }
    }
    assert_eq!(resolved.load(Ordering::SeqCst), sent, "every send resolved");
});
