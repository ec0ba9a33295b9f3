//! ApiVersions (key 18), v0–v4.
//!
//! As Kafka's `KafkaApis.handleApiVersionsRequest` and `ApiVersionsRequest`: the answer always
//! uses response header v0 (clients cannot know the header version before they know the API
//! versions); an unsupported version is answered in v0 with UNSUPPORTED_VERSION and the
//! ApiVersions range only (KIP-511), so the client can retry with a version it shares; from v3
//! the client software name and version must match `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`
//! or the answer is INVALID_REQUEST. From v3 the answer lists the `transaction.version`
//! feature (supported 0–2, finalized at [`ClusterConfig::transaction_version`]).
//!
//! [`ClusterConfig::transaction_version`]: crate::ClusterConfig::transaction_version

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::{Call, Handled, SUPPORTED_APIS};
use crate::codes;
use crate::wire::{self, RequestHeader};

pub(crate) type Request = ApiVersionsRequest;

pub(crate) fn read(mut body: Bytes, version: i16) -> Result<Request, String> {
    // No arrays in this request: kafka-protocol's decoder is safe on hostile input.
    ApiVersionsRequest::decode(&mut body, version).map_err(|e| e.to_string())
}

/// `ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN`.
fn valid_software(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.';
    match b {
        [] => false,
        [one] => one.is_ascii_alphanumeric(),
        [first, mid @ .., last] => {
            first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() && mid.iter().all(inner)
        }
    }
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|&(k, min, max)| {
            ApiVersion::default()
                .with_api_key(k)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

fn own_range() -> Vec<ApiVersion> {
    api_keys()
        .into_iter()
        .filter(|a| a.api_key == ApiKey::ApiVersions as i16)
        .collect()
}

/// The v0 answer to a version the mock does not serve.
pub(crate) fn unsupported(header: &RequestHeader) -> Result<Bytes, String> {
    let body = ApiVersionsResponse::default()
        .with_error_code(codes::UNSUPPORTED_VERSION)
        .with_api_keys(own_range());
    wire::response_frame(header.correlation_id, 0, &body, 0)
}

/// The `transaction.version` feature: supported 0..=2, finalized at the cluster's level (v3+,
/// as Kafka 4.x's `ApiVersionsResponse` lists features; a level of 0 is not listed as
/// finalized).
fn features(body: &mut ApiVersionsResponse, transaction_version: i16) {
    let name = StrBytes::from_static_str("transaction.version");
    body.supported_features = vec![SupportedFeatureKey::default()
        .with_name(name.clone())
        .with_min_version(0)
        .with_max_version(2)];
    body.finalized_features_epoch = 1;
    if transaction_version > 0 {
        body.finalized_features = vec![FinalizedFeatureKey::default()
            .with_name(name)
            .with_min_version_level(transaction_version)
            .with_max_version_level(transaction_version)];
    }
}

pub(crate) fn handle(
    call: &Call<'_>,
    req: &Request,
    transaction_version: i16,
) -> Result<Handled, String> {
    let version = call.version();
    let mut body = ApiVersionsResponse::default().with_throttle_time_ms(call.faults.throttle_ms());
    if let Some((code, _)) = &call.faults.error {
        body.error_code = *code;
        if *code == codes::UNSUPPORTED_VERSION {
            body.api_keys = own_range();
        }
    } else if version >= 3
        && !(valid_software(req.client_software_name.as_str())
            && valid_software(req.client_software_version.as_str()))
    {
        body.error_code = codes::INVALID_REQUEST;
    } else {
        body.api_keys = api_keys();
        if version >= 3 {
            features(&mut body, transaction_version);
        }
    }
    wire::response_frame(call.header.correlation_id, 0, &body, version)
        .map(|f| Handled::Reply(f, std::time::Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::valid_software;

    #[test]
    fn software_names_follow_kafkas_pattern() {
        for ok in [
            "a",
            "librdkafka",
            "2.12.1",
            "apache-kafka-java",
            "kproducer-0.1.0",
        ] {
            assert!(valid_software(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "1.0+local", ".x"] {
            assert!(!valid_software(bad), "{bad}");
        }
    }
}
