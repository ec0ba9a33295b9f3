//! Realistic record values: JSON-like event records of an exact size, deterministic and
//! different from one another, so compressed rows measure codecs on data that compresses like
//! application data (a value of one repeated byte flatters every codec).

/// Distinct payloads each workload cycles through (and perf tools pick from at random); a
/// power of two, so the loops pick the next one with a mask.
pub const PAYLOADS: usize = 1024;

/// Words the generated text draws from: event-ish vocabulary, as in application logs.
const WORDS: &[&str] = &[
    "order",
    "created",
    "shipped",
    "payment",
    "accepted",
    "declined",
    "customer",
    "checkout",
    "warehouse",
    "berlin",
    "lisbon",
    "oslo",
    "tokyo",
    "premium",
    "standard",
    "express",
    "retry",
    "session",
    "mobile",
    "web",
    "android",
    "ios",
    "discount",
    "voucher",
    "refund",
    "pending",
];

/// A small deterministic generator (xorshift64*): the same payloads in every client and run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len() as u64) as usize]
    }
}

/// `count` JSON-like records of exactly `size` bytes each (no newline, so a perf tool's payload
/// file can hold one per line): ids, timestamps, amounts and words that vary per record, padded
/// or cut to the size with a `note` field of words.
///
/// ```
/// let p = kproducer_bench::payload::json_payloads(200, 3);
/// assert!(p.iter().all(|v| v.len() == 200 && !v.contains(&b'\n')));
/// assert_ne!(p[0], p[1]);
/// assert!(p[0].starts_with(b"{\"id\":"));
/// ```
pub fn json_payloads(size: usize, count: usize) -> Vec<Vec<u8>> {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|i| {
            let mut s = format!(
                "{{\"id\":{},\"ts\":{},\"user\":\"u{:06}\",\"event\":\"{}_{}\",\"city\":\"{}\",\"amount\":{}.{:02},\"items\":{},\"note\":\"",
                1_000_000 + i,
                1_764_000_000_000u64 + g.below(86_400_000),
                g.below(500_000),
                g.word(),
                g.word(),
                g.word(),
                g.below(5000),
                g.below(100),
                g.below(20),
            );
            while s.len() + 2 < size {
                s.push_str(g.word());
                s.push(' ');
            }
            let mut b = s.into_bytes();
            b.truncate(size.saturating_sub(2));
            b.extend_from_slice(&b"\"}"[..size.min(2)]);
            b
        })
        .collect()
}
