//! Kafka's zig-zag varints (Java's `ByteUtils.writeVarint` / `writeVarlong` and friends), as
//! used inside record batch v2 records.
//!
//! Writers append to a `Vec<u8>` through a small stack buffer (one `extend_from_slice`, no
//! per-byte capacity checks); readers work on a slice cursor and never read past its end.

/// Largest encoded size of a 32-bit varint.
pub const MAX_VARINT_LEN: usize = 5;
/// Largest encoded size of a 64-bit varlong.
pub const MAX_VARLONG_LEN: usize = 10;

/// Zig-zag maps small negative numbers to small unsigned ones (-1 → 1, 1 → 2).
#[inline]
pub const fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Zig-zag for 64-bit values.
#[inline]
pub const fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Encoded size of `v` as a zig-zag varint (1..=5 bytes).
///
/// ```
/// use kproducer::internals::varint::size_of_varint;
/// assert_eq!(size_of_varint(0), 1);
/// assert_eq!(size_of_varint(-1), 1);
/// assert_eq!(size_of_varint(64), 2);
/// assert_eq!(size_of_varint(i32::MIN), 5);
/// ```
#[inline]
pub const fn size_of_varint(v: i32) -> usize {
    size_of_unsigned_varint(zigzag32(v))
}

/// Encoded size of `v` as an unsigned varint (no zig-zag).
#[inline]
pub const fn size_of_unsigned_varint(v: u32) -> usize {
    // 7 payload bits per byte; `| 1` makes zero take one byte.
    ((32 - (v | 1).leading_zeros()) as usize).div_ceil(7)
}

/// Encoded size of `v` as a zig-zag varlong (1..=10 bytes).
#[inline]
pub const fn size_of_varlong(v: i64) -> usize {
    ((64 - (zigzag64(v) | 1).leading_zeros()) as usize).div_ceil(7)
}

/// Appends `v` as a zig-zag varint.
#[inline]
pub fn write_varint(buf: &mut Vec<u8>, v: i32) {
    // Byte pushes, not a copy from a scratch array: a `memcpy` call per varint showed in
    // instruction counts (six varints per record).
    let mut u = zigzag32(v);
    while u >= 0x80 {
        buf.push((u as u8) | 0x80);
        u >>= 7;
    }
    buf.push(u as u8);
}

/// Appends `v` as a zig-zag varlong.
#[inline]
pub fn write_varlong(buf: &mut Vec<u8>, v: i64) {
    let mut u = zigzag64(v);
    while u >= 0x80 {
        buf.push((u as u8) | 0x80);
        u >>= 7;
    }
    buf.push(u as u8);
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended inside the varint.
    #[error("input ended inside a varint")]
    Truncated,
    /// More bytes (or payload bits) than the type holds, as Java's "Varint is too long".
    #[error("varint is too long")]
    TooLong,
}

/// Reads a zig-zag varint from the front of `input`, advancing it.
///
/// ```
/// use kproducer::internals::varint::{read_varint, write_varint};
/// let mut buf = Vec::new();
/// write_varint(&mut buf, -300);
/// let mut cursor = &buf[..];
/// assert_eq!(read_varint(&mut cursor), Ok(-300));
/// assert!(cursor.is_empty());
/// ```
#[inline]
pub fn read_varint(input: &mut &[u8]) -> Result<i32, VarintError> {
    let mut value: u32 = 0;
    for i in 0..MAX_VARINT_LEN {
        let (&b, rest) = input.split_first().ok_or(VarintError::Truncated)?;
        *input = rest;
        // The 5th byte may only carry the top 4 bits of a u32.
        if i == MAX_VARINT_LEN - 1 && b > 0x0f {
            return Err(VarintError::TooLong);
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((value >> 1) as i32) ^ -((value & 1) as i32));
        }
    }
    Err(VarintError::TooLong)
}

/// Reads a zig-zag varlong from the front of `input`, advancing it.
#[inline]
pub fn read_varlong(input: &mut &[u8]) -> Result<i64, VarintError> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARLONG_LEN {
        let (&b, rest) = input.split_first().ok_or(VarintError::Truncated)?;
        *input = rest;
        // The 10th byte may only carry the top bit of a u64.
        if i == MAX_VARLONG_LEN - 1 && b > 0x01 {
            return Err(VarintError::TooLong);
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(VarintError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_java() {
        // Values and bytes as Java's ByteUtils writes them.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in cases {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            assert_eq!(buf, bytes, "varint {v}");
            assert_eq!(size_of_varint(v), bytes.len(), "size {v}");
        }
    }

    #[test]
    fn varlong_extremes() {
        let mut buf = Vec::new();
        write_varlong(&mut buf, i64::MIN);
        assert_eq!(buf.len(), 10);
        assert_eq!(buf[9], 0x01);
        assert_eq!(size_of_varlong(i64::MIN), 10);
        assert_eq!(read_varlong(&mut &buf[..]), Ok(i64::MIN));
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        assert_eq!(
            read_varint(&mut &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00][..]),
            Err(VarintError::TooLong)
        );
        assert_eq!(
            read_varint(&mut &[0xff, 0xff, 0xff, 0xff, 0x1f][..]),
            Err(VarintError::TooLong)
        );
        assert_eq!(read_varint(&mut &[0x80][..]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&mut &[][..]), Err(VarintError::Truncated));
        assert_eq!(
            read_varlong(&mut &[0xff; 10][..]),
            Err(VarintError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            prop_assert_eq!(buf.len(), size_of_varint(v));
            let mut cursor = &buf[..];
            prop_assert_eq!(read_varint(&mut cursor), Ok(v));
            prop_assert!(cursor.is_empty());
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let mut buf = Vec::new();
            write_varlong(&mut buf, v);
            prop_assert_eq!(buf.len(), size_of_varlong(v));
            let mut cursor = &buf[..];
            prop_assert_eq!(read_varlong(&mut cursor), Ok(v));
            prop_assert!(cursor.is_empty());
        }
    }
}
