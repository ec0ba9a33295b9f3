//! Checked reading of request bodies, and response framing.
//!
//! Requests whose schemas hold arrays (Metadata, Produce, Fetch, ListOffsets) are read here
//! rather than with kafka-protocol's decoders: those pre-allocate an array from its declared
//! length (`Vec::with_capacity(n)`), so a hostile length could abort the process on allocation
//! failure. Every length read here is checked against the bytes present first. Requests without
//! arrays, and every response, use kafka-protocol.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::Encodable;
use thiserror::Error;

/// Why a request could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    #[error("request truncated")]
    Truncated,
    #[error("{0}")]
    Invalid(&'static str),
}

pub(crate) type WireResult<T> = Result<T, WireError>;

/// A cursor over a request body; every read is bounds-checked.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread rest, as a cheap slice.
    pub(crate) fn rest(&self) -> Bytes {
        self.buf.slice(self.pos..)
    }

    fn take(&mut self, n: usize) -> WireResult<&[u8]> {
        if self.remaining() < n {
            return Err(WireError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_bytes(&mut self, n: usize) -> WireResult<Bytes> {
        if self.remaining() < n {
            return Err(WireError::Truncated);
        }
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    pub(crate) fn i8(&mut self) -> WireResult<i8> {
        Ok(self.take(1)?[0] as i8)
    }

    pub(crate) fn bool(&mut self) -> WireResult<bool> {
        Ok(self.i8()? != 0)
    }

    pub(crate) fn i16(&mut self) -> WireResult<i16> {
        let s = self.take(2)?;
        Ok(i16::from_be_bytes([s[0], s[1]]))
    }

    pub(crate) fn i32(&mut self) -> WireResult<i32> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub(crate) fn i64(&mut self) -> WireResult<i64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }

    pub(crate) fn uuid(&mut self) -> WireResult<[u8; 16]> {
        let s = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Kafka's UNSIGNED_VARINT (at most 5 bytes).
    pub(crate) fn uvarint(&mut self) -> WireResult<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::Invalid("varint longer than 5 bytes"))
    }

    /// A length prefix: i16 (classic strings), or unsigned varint minus one (compact).
    /// `None` is the null marker.
    fn len_prefix(&mut self, compact: bool, wide: bool) -> WireResult<Option<usize>> {
        let n: i64 = if compact {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if n < -1 {
            return Err(WireError::Invalid("negative length"));
        }
        if n == -1 {
            return Ok(None);
        }
        let n = n as usize;
        if n > self.remaining() {
            return Err(WireError::Truncated);
        }
        Ok(Some(n))
    }

    pub(crate) fn nullable_string(&mut self, compact: bool) -> WireResult<Option<String>> {
        match self.len_prefix(compact, false)? {
            None => Ok(None),
            Some(n) => {
                let s = self.take(n)?;
                std::str::from_utf8(s)
                    .map(|s| Some(s.to_string()))
                    .map_err(|_| WireError::Invalid("string is not UTF-8"))
            }
        }
    }

    pub(crate) fn string(&mut self, compact: bool) -> WireResult<String> {
        self.nullable_string(compact)?
            .ok_or(WireError::Invalid("null in a non-nullable string"))
    }

    pub(crate) fn nullable_bytes(&mut self, compact: bool) -> WireResult<Option<Bytes>> {
        match self.len_prefix(compact, true)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take_bytes(n)?)),
        }
    }

    /// An array length; `None` is a null array. Each element takes at least one byte, so a
    /// length above the bytes left is refused before anything is allocated.
    pub(crate) fn array_len(&mut self, compact: bool) -> WireResult<Option<usize>> {
        self.len_prefix(compact, true)
    }

    /// A non-nullable array length.
    pub(crate) fn array(&mut self, compact: bool) -> WireResult<usize> {
        self.array_len(compact)?
            .ok_or(WireError::Invalid("null in a non-nullable array"))
    }

    /// Tagged fields of a flexible struct: read and ignored (no request field the mock reads is
    /// tagged).
    pub(crate) fn skip_tagged_fields(&mut self) -> WireResult<()> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

/// A request header (v1, or v2 with tagged fields). The client id is a classic nullable string
/// in both.
#[derive(Debug, Clone)]
pub(crate) struct RequestHeader {
    pub(crate) api_version: i16,
    pub(crate) correlation_id: i32,
    #[allow(dead_code)] // kept for debugging output
    pub(crate) client_id: Option<String>,
}

pub(crate) fn read_header(r: &mut Reader, header_version: i16) -> WireResult<RequestHeader> {
    let _api_key = r.i16()?;
    let api_version = r.i16()?;
    let correlation_id = r.i32()?;
    let client_id = if header_version >= 1 {
        r.nullable_string(false)?
    } else {
        None
    };
    if header_version >= 2 {
        r.skip_tagged_fields()?;
    }
    Ok(RequestHeader {
        api_version,
        correlation_id,
        client_id,
    })
}

/// The whole response frame: 4-byte size, response header, body.
pub(crate) fn response_frame<M: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &M,
    version: i16,
) -> Result<Bytes, String> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| format!("encoding the response header: {e}"))?;
    body.encode(&mut buf, version)
        .map_err(|e| format!("encoding the response: {e}"))?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_beyond_the_buffer_are_refused_before_allocation() {
        // An array claiming 2^31-1 elements in a 4-byte body.
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
        assert_eq!(r.array(false), Err(WireError::Truncated));
        // Compact: varint 0xffffffff - 1.
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]));
        assert_eq!(r.array(true), Err(WireError::Truncated));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
        assert!(matches!(r.uvarint(), Err(WireError::Invalid(_))));
    }

    #[test]
    fn strings_and_nulls() {
        let mut r = Reader::new(Bytes::from_static(&[
            0, 2, b'h', b'i', 0xff, 0xff, 3, b'o', b'k', 0,
        ]));
        assert_eq!(r.string(false).as_deref(), Ok("hi"));
        assert_eq!(r.nullable_string(false), Ok(None));
        assert_eq!(r.string(true).as_deref(), Ok("ok"));
        assert_eq!(r.nullable_string(true), Ok(None));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.i8(), Err(WireError::Truncated));
    }
}
