//! The broker's supported API version ranges, and a bounded decoder for ApiVersions responses.

use kafka_protocol::messages::ApiVersionsResponse;

/// The version ranges a broker announced in its ApiVersions response.
///
/// ```
/// use kproducer::internals::network::ApiVersions;
/// // Produce (key 0) v3..=11, Metadata (key 3) v0..=12.
/// let versions = ApiVersions::new([(0, 3, 11), (3, 0, 12)]);
/// assert_eq!(versions.range(0), Some((3, 11)));
/// assert_eq!(versions.highest_common(0, 3, 13), Some(11));
/// assert_eq!(versions.highest_common(3, 13, 13), None);
/// assert_eq!(versions.range(22), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    /// `(api_key, min, max)`, sorted by key, one entry per key.
    ranges: Vec<(i16, i16, i16)>,
}

impl ApiVersions {
    /// No APIs (usable in a `static`).
    pub const fn empty() -> Self {
        ApiVersions { ranges: Vec::new() }
    }

    /// Builds from `(api_key, min_version, max_version)` triples; a repeated key keeps the last.
    pub fn new(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        let mut ranges: Vec<(i16, i16, i16)> = ranges.into_iter().collect();
        // Stable sort then keep the last of each key, so later entries win.
        ranges.sort_by_key(|r| r.0);
        let mut deduped: Vec<(i16, i16, i16)> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match deduped.last_mut() {
                Some(last) if last.0 == r.0 => *last = r,
                _ => deduped.push(r),
            }
        }
        ApiVersions { ranges: deduped }
    }

    /// The ranges of a decoded ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        Self::new(
            response
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version)),
        )
    }

    /// The broker's `(min, max)` for `api_key`, or `None` if it does not support the API.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.ranges
            .binary_search_by_key(&api_key, |r| r.0)
            .ok()
            .and_then(|i| self.ranges.get(i))
            .map(|r| (r.1, r.2))
    }

    /// The highest version both we (`our_min..=our_max`) and the broker support.
    pub fn highest_common(&self, api_key: i16, our_min: i16, our_max: i16) -> Option<i16> {
        let (min, max) = self.range(api_key)?;
        let low = our_min.max(min);
        let high = our_max.min(max);
        (low <= high).then_some(high)
    }

    /// All `(api_key, (min, max))` entries, by ascending key.
    pub fn iter(&self) -> impl Iterator<Item = (i16, (i16, i16))> + '_ {
        self.ranges.iter().map(|r| (r.0, (r.1, r.2)))
    }

    /// Number of APIs listed.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether no API is listed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// What negotiation needs from an ApiVersions response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiVersionsAnswer {
    pub(crate) error_code: i16,
    pub(crate) versions: ApiVersions,
    /// v3+: the cluster's finalized `transaction.version` (0 when not finalized); `None` for
    /// older answers or an unreadable feature section.
    pub(crate) transaction_version: Option<i16>,
}

/// Decodes the error code and API ranges of an ApiVersions response body (after the response
/// header, which is always v0 for this API) at `version`.
///
/// Hand-written rather than kafka-protocol's decoder because this is the first thing read from
/// an unknown peer: the decoder pre-allocates whatever array length the peer claims, and
/// librdkafka's mock answers v3 with a body whose v0 reading claims ~16 M entries. Here every
/// count is checked against the bytes actually present. Trailing bytes are ignored.
pub(crate) fn decode_api_versions(body: &[u8], version: i16) -> Result<ApiVersionsAnswer, String> {
    let mut r = Reader { buf: body };
    let error_code = r.i16()?;
    let flexible = version >= 3;
    let count = if flexible {
        // Compact array: length + 1, 0 = null.
        r.uvarint()?.saturating_sub(1) as usize
    } else {
        match r.i32()? {
            -1 => 0,
            n if n < 0 => return Err(format!("negative ApiKeys count {n}")),
            n => n as usize,
        }
    };
    // Each entry takes at least 6 bytes (7 with its tag count when flexible).
    let entry_min = if flexible { 7 } else { 6 };
    if count > r.buf.len() / entry_min {
        return Err(format!(
            "ApiKeys count {count} does not fit in the {} remaining bytes",
            r.buf.len()
        ));
    }
    let mut ranges = Vec::with_capacity(count);
    for _ in 0..count {
        let key = r.i16()?;
        let min = r.i16()?;
        let max = r.i16()?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        ranges.push((key, min, max));
    }
    // v3's features are tagged fields after the throttle time; a malformed section costs only
    // the feature (the transactional producer then assumes transaction version 0/1).
    let transaction_version = if flexible {
        r.i32()
            .ok()
            .and_then(|_throttle| r.finalized_transaction_version().ok())
    } else {
        None
    };
    Ok(ApiVersionsAnswer {
        error_code,
        versions: ApiVersions::new(ranges),
        transaction_version,
    })
}

/// ApiVersions v3's tag for the finalized features.
const FINALIZED_FEATURES_TAG: u32 = 2;

/// A bounds-checked big-endian reader; every method fails instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or_else(|| "ApiVersions response is truncated".to_string())?;
        self.buf = rest;
        Ok(*head)
    }

    fn i16(&mut self) -> Result<i16, String> {
        self.take::<2>().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, String> {
        self.take::<4>().map(i32::from_be_bytes)
    }

    fn uvarint(&mut self) -> Result<u32, String> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [b] = self.take::<1>()?;
            value |= u32::from(b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("unsigned varint longer than 5 bytes".to_string())
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        if n > self.buf.len() {
            return Err("ApiVersions response is truncated".to_string());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The top-level tagged fields: the max level of the finalized `transaction.version` (0 when
    /// the broker lists finalized features without it, or none at all).
    fn finalized_transaction_version(&mut self) -> Result<i16, String> {
        let tags = self.uvarint()?;
        let mut found = 0;
        for _ in 0..tags {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let field = self.bytes(size)?;
            if tag != FINALIZED_FEATURES_TAG {
                continue;
            }
            let mut f = Reader { buf: field };
            let count = f.uvarint()?.saturating_sub(1);
            for _ in 0..count {
                let len = f.uvarint()?.saturating_sub(1) as usize;
                let name = f.bytes(len)?.to_vec();
                let max = f.i16()?;
                let _min = f.i16()?;
                f.skip_tagged_fields()?;
                if name == b"transaction.version" {
                    found = max;
                }
            }
        }
        Ok(found)
    }

    fn skip_tagged_fields(&mut self) -> Result<(), String> {
        let tags = self.uvarint()?;
        for _ in 0..tags {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            if size > self.buf.len() {
                return Err("tagged field runs past the end of the response".to_string());
            }
            self.buf = &self.buf[size..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn new_sorts_and_keeps_last_duplicate() {
        let v = ApiVersions::new([(3, 0, 12), (0, 3, 9), (3, 1, 5)]);
        assert_eq!(v.iter().collect::<Vec<_>>(), vec![(0, (3, 9)), (3, (1, 5))]);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn highest_common_intersects() {
        let v = ApiVersions::new([(0, 3, 11)]);
        assert_eq!(v.highest_common(0, 0, 7), Some(7));
        assert_eq!(v.highest_common(0, 9, 13), Some(11));
        assert_eq!(v.highest_common(0, 0, 2), None);
        assert_eq!(v.highest_common(1, 0, 20), None);
    }

    #[test]
    fn decodes_v0_and_v3_bodies() {
        // v0: error 0, 2 entries, no throttle.
        let v0 = [0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 9, 0, 18, 0, 0, 0, 3];
        let a = decode_api_versions(&v0, 0).unwrap();
        assert_eq!(a.error_code, 0);
        assert_eq!(a.versions.range(0), Some((3, 9)));
        assert_eq!(a.versions.range(18), Some((0, 3)));
        // v3: compact count 2 (=1 entry) with one tagged field of 2 bytes, then throttle + tags.
        let v3 = [0, 0, 2, 0, 3, 0, 0, 0, 12, 1, 5, 2, 9, 9, 0, 0, 0, 0, 0];
        let a = decode_api_versions(&v3, 3).unwrap();
        assert_eq!(a.versions.range(3), Some((0, 12)));
    }

    #[test]
    fn reads_the_finalized_transaction_version() {
        use kafka_protocol::messages::api_versions_response::FinalizedFeatureKey;
        use kafka_protocol::messages::ApiVersionsResponse;
        use kafka_protocol::protocol::{Encodable, StrBytes};
        for level in [0i16, 1, 2] {
            let mut resp = ApiVersionsResponse::default();
            resp.finalized_features_epoch = 3;
            if level > 0 {
                resp.finalized_features = vec![
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_static_str("metadata.version"))
                        .with_max_version_level(27)
                        .with_min_version_level(27),
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_static_str("transaction.version"))
                        .with_max_version_level(level)
                        .with_min_version_level(level),
                ];
            }
            let mut buf = bytes::BytesMut::new();
            resp.encode(&mut buf, 3).unwrap();
            let a = decode_api_versions(&buf, 3).unwrap();
            assert_eq!(a.transaction_version, Some(level));
            let a = decode_api_versions(&buf[..buf.len() - 3], 3).unwrap();
            assert_eq!(a.transaction_version, None, "truncated feature section");
        }
    }

    #[test]
    fn rejects_counts_larger_than_the_body() {
        // What librdkafka's mock sends for a v3 request, read at v0: count 0x01001200.
        let mock = [0, 35, 1, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0];
        let err = decode_api_versions(&mock, 0).unwrap_err();
        assert!(err.contains("does not fit"), "{err}");
        assert!(decode_api_versions(&[0, 0, 0xff, 0xff, 0xff, 0xfe], 0).is_err());
        assert!(decode_api_versions(&[0], 0).is_err());
        assert!(decode_api_versions(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0xff], 3).is_err());
    }
}
