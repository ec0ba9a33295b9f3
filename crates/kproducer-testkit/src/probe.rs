//! A hand-encoded ApiVersions v0 exchange over a plain `TcpStream`.
//!
//! It shows that a client of our own (no librdkafka) can reach a broker, and serves as the
//! readiness check for [`crate::Broker`].

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, ensure, Context};

const API_VERSIONS_KEY: i16 = 18;
const CLIENT_ID: &str = "kproducer-testkit";
/// A v0 answer lists each API in 6 bytes; far below this for any real broker.
const MAX_RESPONSE: usize = 1 << 20;

/// The decoded ApiVersions v0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsAnswer {
    /// Correlation id echoed by the broker (must equal the one sent).
    pub correlation_id: i32,
    /// Top-level error code (0 = none).
    pub error_code: i16,
    /// Supported APIs as `(api_key, min_version, max_version)`.
    pub apis: Vec<(i16, i16, i16)>,
}

impl ApiVersionsAnswer {
    /// The `(min, max)` versions the broker supports for `api_key`, if listed.
    pub fn versions(&self, api_key: i16) -> Option<(i16, i16)> {
        self.apis
            .iter()
            .find(|(k, _, _)| *k == api_key)
            .map(|&(_, min, max)| (min, max))
    }
}

/// Sends one request frame to `addr` on a fresh connection and reads one response frame (its
/// body, at most 1 MiB), each step bounded by `timeout`.
pub(crate) fn round_trip(addr: &str, timeout: Duration, request: &[u8]) -> anyhow::Result<Vec<u8>> {
    let sock = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .with_context(|| format!("{addr} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .context("reading the response size")?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= MAX_RESPONSE)
        .with_context(|| format!("implausible response size {size}"))?;
    let mut body = vec![0u8; size];
    stream
        .read_exact(&mut body)
        .context("reading the response body")?;
    Ok(body)
}

/// Sends an ApiVersions v0 request to `addr` and decodes the answer.
///
/// Fails if the connection fails, the correlation id does not match, or the body is not a
/// well-formed v0 answer (every byte must be accounted for).
///
/// ```no_run
/// use std::time::Duration;
/// let answer = kproducer_testkit::api_versions_probe("127.0.0.1:9092", Duration::from_secs(2))?;
/// assert_eq!(answer.error_code, 0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn api_versions_probe(addr: &str, timeout: Duration) -> anyhow::Result<ApiVersionsAnswer> {
    let correlation_id = 0x4b50_0001; // arbitrary, recognisable ("KP")
    let body = round_trip(addr, timeout, &encode_request(correlation_id))?;
    let answer = decode_response(&body)?;
    ensure!(
        answer.correlation_id == correlation_id,
        "correlation id {} in the answer, sent {correlation_id}",
        answer.correlation_id
    );
    Ok(answer)
}

/// Request header v1 (api key, version, correlation id, nullable client id) and an empty v0 body.
fn encode_request(correlation_id: i32) -> Vec<u8> {
    let mut msg = Vec::new();
    msg.extend_from_slice(&API_VERSIONS_KEY.to_be_bytes());
    msg.extend_from_slice(&0i16.to_be_bytes());
    msg.extend_from_slice(&correlation_id.to_be_bytes());
    // CLIENT_ID is a short constant, so the length always fits an i16.
    msg.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    msg.extend_from_slice(CLIENT_ID.as_bytes());
    let mut framed = Vec::with_capacity(msg.len() + 4);
    framed.extend_from_slice(&(msg.len() as i32).to_be_bytes());
    framed.extend_from_slice(&msg);
    framed
}

/// Response header v0 (correlation id), then error code and the `[api_key min max]` array.
fn decode_response(body: &[u8]) -> anyhow::Result<ApiVersionsAnswer> {
    let mut r = Reader { buf: body, pos: 0 };
    let correlation_id = r.i32()?;
    let error_code = r.i16()?;
    let count = r.i32()?;
    ensure!(
        (0..=10_000).contains(&count),
        "implausible api count {count}"
    );
    let mut apis = Vec::with_capacity(count as usize);
    for _ in 0..count {
        apis.push((r.i16()?, r.i16()?, r.i16()?));
    }
    if r.pos != body.len() {
        bail!(
            "{} trailing bytes after a v0 ApiVersions answer",
            body.len() - r.pos
        );
    }
    Ok(ApiVersionsAnswer {
        correlation_id,
        error_code,
        apis,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> anyhow::Result<[u8; N]> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .context("ApiVersions answer truncated")?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
    fn i16(&mut self) -> anyhow::Result<i16> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_be_bytes(self.take()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_match_the_v0_layout() {
        let req = encode_request(7);
        let expected_len = 2 + 2 + 4 + 2 + CLIENT_ID.len();
        assert_eq!(&req[..4], &(expected_len as i32).to_be_bytes());
        assert_eq!(&req[4..6], &18i16.to_be_bytes());
        assert_eq!(&req[6..8], &0i16.to_be_bytes());
        assert_eq!(&req[8..12], &7i32.to_be_bytes());
        assert_eq!(&req[12..14], &(CLIENT_ID.len() as i16).to_be_bytes());
        assert_eq!(&req[14..], CLIENT_ID.as_bytes());
    }

    #[test]
    fn decodes_a_well_formed_answer_and_rejects_bad_ones() {
        let mut body = Vec::new();
        body.extend_from_slice(&9i32.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        for v in [0i16, 0, 9, 18, 0, 3] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        let answer = decode_response(&body).unwrap();
        assert_eq!(answer.correlation_id, 9);
        assert_eq!(answer.versions(0), Some((0, 9)));
        assert_eq!(answer.versions(18), Some((0, 3)));
        assert_eq!(answer.versions(3), None);

        assert!(decode_response(&body[..body.len() - 1]).is_err());
        let mut trailing = body.clone();
        trailing.push(0);
        assert!(decode_response(&trailing).is_err());
    }
}
