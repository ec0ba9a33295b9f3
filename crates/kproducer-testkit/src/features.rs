//! Finalized feature levels (`transaction.version`, `metadata.version`, ...) as a broker reports
//! them in its ApiVersions answer (v3+, KIP-584), read over a plain `TcpStream`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context};
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// The ApiVersions version asked for: flexible, with the feature tagged fields.
const API_VERSIONS_VERSION: i16 = 3;
/// The feature name of KIP-890's transaction protocol levels: 0 or 1 is the classic protocol
/// (1 adds flexible transaction-log records), 2 is KIP-890 part 2 (the epoch bumped on every
/// transaction, implicit `AddPartitionsToTxn` via Produce v12, `EndTxn` v5). Kafka 4.x formats new
/// clusters at 2.
pub const TRANSACTION_VERSION: &str = "transaction.version";

/// The finalized feature levels of a cluster, as a broker or Java's Admin reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinalizedFeatures {
    /// The epoch of the finalized features (`-1` if the broker reports none).
    pub epoch: i64,
    /// Feature name → finalized (maximum) level. Kafka leaves out features finalized at 0.
    pub levels: BTreeMap<String, i16>,
}

impl FinalizedFeatures {
    /// The finalized level of `name`; `0` when it is not listed (Kafka's meaning of an
    /// unlisted feature).
    pub fn level(&self, name: &str) -> i16 {
        self.levels.get(name).copied().unwrap_or(0)
    }
}

/// Sends ApiVersions v3 to the broker at `addr` (`host:port`) and returns the finalized feature
/// levels of its answer (`FinalizedFeatures`, `FinalizedFeaturesEpoch`): what every client that
/// connects to it is told, e.g. which transaction protocol ([`TRANSACTION_VERSION`]) to use.
///
/// ```no_run
/// use std::time::Duration;
/// use kproducer_testkit::{api_versions_features, TRANSACTION_VERSION};
/// let features = api_versions_features("127.0.0.1:9092", Duration::from_secs(5))?;
/// assert_eq!(features.level(TRANSACTION_VERSION), 2);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn api_versions_features(addr: &str, timeout: Duration) -> anyhow::Result<FinalizedFeatures> {
    let correlation_id = 0x4b50_0003;
    let body = crate::probe::round_trip(addr, timeout, &encode_request(correlation_id)?)?;
    let (got_correlation, response) = decode_response(Bytes::from(body))?;
    ensure!(
        got_correlation == correlation_id,
        "correlation id {got_correlation} in the answer, sent {correlation_id}"
    );
    ensure!(
        response.error_code == 0,
        "ApiVersions v{API_VERSIONS_VERSION} answered error {}",
        response.error_code
    );
    Ok(FinalizedFeatures {
        epoch: response.finalized_features_epoch,
        levels: response
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.max_version_level))
            .collect(),
    })
}

fn encode_request(correlation_id: i32) -> anyhow::Result<Vec<u8>> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(ApiVersionsRequest::KEY)
        .with_request_api_version(API_VERSIONS_VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("kproducer-testkit")))
        .encode(
            &mut buf,
            ApiVersionsRequest::header_version(API_VERSIONS_VERSION),
        )?;
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kproducer-testkit"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
        .encode(&mut buf, API_VERSIONS_VERSION)?;
    let size = i32::try_from(buf.len() - 4).context("request too large")?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

/// Response header v0 (ApiVersions answers always use it), then the v3 body.
fn decode_response(mut body: Bytes) -> anyhow::Result<(i32, ApiVersionsResponse)> {
    let header = ResponseHeader::decode(
        &mut body,
        ApiVersionsResponse::header_version(API_VERSIONS_VERSION),
    )?;
    let response = ApiVersionsResponse::decode(&mut body, API_VERSIONS_VERSION)?;
    ensure!(
        body.remaining() == 0,
        "{} bytes left after the ApiVersions answer",
        body.remaining()
    );
    Ok((header.correlation_id, response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::FinalizedFeatureKey;

    #[test]
    fn request_is_api_versions_v3_and_answers_decode() {
        let req = encode_request(5).unwrap();
        assert_eq!(
            i32::from_be_bytes(req[..4].try_into().unwrap()) as usize,
            req.len() - 4
        );
        assert_eq!(&req[4..6], &18i16.to_be_bytes());
        assert_eq!(&req[6..8], &3i16.to_be_bytes());
        assert_eq!(&req[8..12], &5i32.to_be_bytes());

        let answer = ApiVersionsResponse::default()
            .with_finalized_features_epoch(7)
            .with_finalized_features(vec![FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
                .with_min_version_level(1)
                .with_max_version_level(1)]);
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(5)
            .encode(&mut buf, 0)
            .unwrap();
        answer.encode(&mut buf, API_VERSIONS_VERSION).unwrap();
        let (correlation, decoded) = decode_response(buf.freeze()).unwrap();
        assert_eq!(correlation, 5);
        assert_eq!(decoded.finalized_features_epoch, 7);
        assert_eq!(decoded.finalized_features[0].max_version_level, 1);

        let features = FinalizedFeatures {
            epoch: 7,
            levels: BTreeMap::from([(TRANSACTION_VERSION.to_owned(), 1)]),
        };
        assert_eq!(features.level(TRANSACTION_VERSION), 1);
        assert_eq!(features.level("group.version"), 0);
    }
}
