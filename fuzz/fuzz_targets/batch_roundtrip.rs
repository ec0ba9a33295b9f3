//! The record batch v2 builder and the decoder, round trip: arbitrary records (keys, values,
//! headers, timestamps, null fields) built into a batch, uncompressed or with any codec, and
//! closed with an arbitrary producer id, epoch and sequence, must decode to exactly what went
//! in, CRC checked.
//!
//! Input: byte 0 picks the codec, then records `[flags, ts, klen, key…, vlen, value…,
//! hcount, (hklen, hkey…, hvlen, hvalue…)*]` until the input ends.
#![no_main]

use kproducer::internals::compression::Compression;
use kproducer::internals::record_batch::{decode_batches, BatchHeader, RecordBatchBuilder};
use kproducer::{CompressionType, Header};
use libfuzzer_sys::fuzz_target;

struct Rec {
    ts: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (a, b) = input.split_at(n);
    *input = b;
    Some(a)
}

fn field(input: &mut &[u8], null: bool) -> Option<Option<Vec<u8>>> {
    let len = *take(input, 1)?.first()? as usize;
    let bytes = take(input, len)?.to_vec();
    Some((!null).then_some(bytes))
}

fuzz_target!(|data: &[u8]| {
    let [codec, rest @ ..] = data else {
        return;
    };
    let mut input: &[u8] = rest;
    let codec = [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ][*codec as usize % 5];
    let mut recs = Vec::new();
    while let Some(flags) = take(&mut input, 1).and_then(|b| b.first().copied()) {
        let Some(ts) = take(&mut input, 1).map(|b| i64::from(b[0] as i8) * 1_000) else {
            break;
        };
        let (Some(key), Some(value)) = (field(&mut input, flags & 1 != 0), field(&mut input, flags & 2 != 0)) else {
            break;
        };
        let mut headers = Vec::new();
        let count = take(&mut input, 1).map_or(0, |b| b[0] % 4);
        for _ in 0..count {
            let (Some(Some(k)), Some(v)) = (field(&mut input, false), field(&mut input, flags & 4 != 0)) else {
                break;
            };
            headers.push(Header {
                key: String::from_utf8_lossy(&k).into_owned(),
                value: v.map(Into::into),
            });
        }
        recs.push(Rec { ts, key, value, headers });
        if recs.len() == 200 {
            break;
        }
    }
    if recs.is_empty() {
        return;
    }
    let base = 1_700_000_000_000i64;
    let mut b = RecordBatchBuilder::new(Vec::new(), base + recs[0].ts);
    for r in &recs {
        b.append(base + r.ts, r.key.as_deref(), r.value.as_deref(), &r.headers);
    }
    let header = BatchHeader {
        producer_id: 1234,
        producer_epoch: 5,
        base_sequence: 77,
        is_transactional: false,
    };
    let compression = Compression::with_default_level(codec);
    let wire = match b.finish_compressed(header, codec, Vec::new(), |records, out| {
        compression.compress(records, out)
    }) {
        Ok((wire, _)) => wire,
        Err(_) => return,
    };
    let batches = decode_batches(&wire).expect("our batch decodes");
    assert_eq!(batches.len(), 1);
    let got = &batches[0];
    assert_eq!((got.producer_id, got.producer_epoch, got.base_sequence), (1234, 5, 77));
    assert_eq!(got.records.len(), recs.len());
    for (i, (r, d)) in recs.iter().zip(&got.records).enumerate() {
        assert_eq!(d.offset_delta, i as i32);
        assert_eq!(d.timestamp, base + r.ts);
        assert_eq!(d.key.as_deref(), r.key.as_deref());
        assert_eq!(d.value.as_deref(), r.value.as_deref());
        assert_eq!(d.headers, r.headers);
    }
});
