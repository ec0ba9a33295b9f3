//! Length-prefixed framing: request encoding and response frame extraction. No I/O here.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, Request, StrBytes};

use super::NetworkError;

/// Byte offset of the correlation id in an encoded request frame: size (4), api key (2),
/// api version (2). Every request header version starts this way.
const CORRELATION_OFFSET: usize = 8;

/// Encodes `request` as one frame (size prefix, header, body) with correlation id 0; the
/// connection patches the real id in with [`set_correlation_id`] under its lock, so encoding
/// (the expensive part) happens outside it.
pub(crate) fn encode_request<R: Request>(
    request: &R,
    version: i16,
    client_id: &StrBytes,
) -> Result<BytesMut, NetworkError> {
    let encode_err = |e| encoding_failed(R::KEY, version, e);
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(client_id.clone()));
    let header_version = R::header_version(version);
    let size = header.compute_size(header_version).map_err(encode_err)?
        + request.compute_size(version).map_err(encode_err)?;
    let prefix = i32::try_from(size).map_err(|_| {
        NetworkError::Protocol(format!(
            "request of {size} bytes does not fit a Kafka frame"
        ))
    })?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(prefix);
    header
        .encode(&mut buf, header_version)
        .map_err(encode_err)?;
    request.encode(&mut buf, version).map_err(encode_err)?;
    if buf.len() != 4 + size {
        // A wrong size prefix would desynchronise the broker's framing; refuse to send.
        return Err(NetworkError::Protocol(format!(
            "API {} v{version} encoded to {} bytes but its computed size is {size}",
            R::KEY,
            buf.len() - 4
        )));
    }
    Ok(buf)
}

fn encoding_failed(api_key: i16, version: i16, e: impl std::fmt::Display) -> NetworkError {
    NetworkError::Protocol(format!("cannot encode API {api_key} v{version}: {e}"))
}

/// Writes `id` into an encoded request frame.
pub(crate) fn set_correlation_id(frame: &mut [u8], id: i32) {
    if let Some(slot) = frame.get_mut(CORRELATION_OFFSET..CORRELATION_OFFSET + 4) {
        slot.copy_from_slice(&id.to_be_bytes());
    }
}

/// Takes one complete response frame (without its size prefix) off the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, having reserved room for the rest of the
/// frame — only after its size passed the `limit` check, so a hostile prefix never causes a
/// large allocation. The body starts with the correlation id, so sizes below 4 are invalid.
pub(crate) fn next_frame(buf: &mut BytesMut, limit: usize) -> Result<Option<Bytes>, NetworkError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let size = i32::from_be_bytes(*prefix);
    if size < 4 {
        return Err(NetworkError::Protocol(format!(
            "invalid response size {size} (a response holds at least its correlation id)"
        )));
    }
    let size = size as usize;
    if size > limit {
        return Err(NetworkError::FrameTooLarge { size, limit });
    }
    if buf.len() < 4 + size {
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// The correlation id at the start of a response frame (all response header versions).
pub(crate) fn response_correlation_id(frame: &[u8]) -> Option<i32> {
    frame.first_chunk::<4>().map(|b| i32::from_be_bytes(*b))
}

#[cfg(test)]
mod unit {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::decode_request_header_from_buffer;

    #[test]
    fn encoded_request_has_size_prefix_header_and_patched_id() {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kproducer"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let mut frame = encode_request(&req, 3, &StrBytes::from_static_str("cid")).unwrap();
        set_correlation_id(&mut frame, 0x0102_0304);
        let size = i32::from_be_bytes(*frame.first_chunk::<4>().unwrap()) as usize;
        assert_eq!(size, frame.len() - 4);
        let mut body = frame.freeze().slice(4..);
        let header = decode_request_header_from_buffer(&mut body).unwrap();
        assert_eq!(header.request_api_key, 18);
        assert_eq!(header.request_api_version, 3);
        assert_eq!(header.correlation_id, 0x0102_0304);
        assert_eq!(header.client_id.as_deref(), Some("cid"));
    }

    #[test]
    fn next_frame_waits_for_whole_frame_then_splits() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 7, 0xaa]);
        assert_eq!(next_frame(&mut buf, 100).unwrap(), None);
        assert!(buf.capacity() >= 10);
        buf.extend_from_slice(&[0xbb, 0, 0]); // completes the frame and starts the next
        let frame = next_frame(&mut buf, 100).unwrap().unwrap();
        assert_eq!(&frame[..], &[0, 0, 0, 7, 0xaa, 0xbb]);
        assert_eq!(response_correlation_id(&frame), Some(7));
        assert_eq!(&buf[..], &[0, 0]);
        assert_eq!(next_frame(&mut buf, 100).unwrap(), None);
    }

    #[test]
    fn next_frame_rejects_bad_sizes_without_reserving() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let cap = buf.capacity();
        assert_eq!(
            next_frame(&mut buf, 1024),
            Err(NetworkError::FrameTooLarge {
                size: 0x7fff_ffff,
                limit: 1024
            })
        );
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert!(matches!(
            next_frame(&mut buf, 1024),
            Err(NetworkError::Protocol(_))
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]);
        assert!(matches!(
            next_frame(&mut buf, 1024),
            Err(NetworkError::Protocol(_))
        ));
    }
}
