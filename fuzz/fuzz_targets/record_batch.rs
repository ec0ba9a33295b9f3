//! The record batch v2 decoder on arbitrary bytes: it must return an error, never panic or
//! allocate beyond what the input could hold.
//!
//! Random bytes almost never carry a valid CRC32C, which would stop every input at the CRC
//! check. So when byte 0 is odd the target first writes the correct CRC into every batch whose
//! length field fits, and the fuzzer reaches the record parser.
#![no_main]

use kproducer::internals::record_batch::decode_batches;
use libfuzzer_sys::fuzz_target;

/// Offsets in the v2 batch header.
const LENGTH_OFFSET: usize = 8;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LOG_OVERHEAD: usize = 12;

fn fix_crcs(bytes: &mut [u8]) {
    let mut at = 0;
    while at + ATTRIBUTES_OFFSET <= bytes.len() {
        let l = &bytes[at + LENGTH_OFFSET..at + LENGTH_OFFSET + 4];
        let length = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
        let Ok(length) = usize::try_from(length) else {
            return;
        };
        let end = at + LOG_OVERHEAD + length;
        if end > bytes.len() || end < at + ATTRIBUTES_OFFSET {
            return;
        }
        let crc = crc32c::crc32c(&bytes[at + ATTRIBUTES_OFFSET..end]);
        bytes[at + CRC_OFFSET..at + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        fix_crcs(&mut bytes);
    }
    if let Ok(batches) = decode_batches(&bytes) {
        for b in &batches {
            // Each record takes at least 7 bytes: a decoder that found more invented some.
            assert!(b.records.len() <= bytes.len() / 7);
        }
    }
});
