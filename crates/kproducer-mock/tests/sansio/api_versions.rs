use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kproducer_mock::{codes, Outcome, SUPPORTED_APIS};

use crate::common::*;

fn request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kproducer-mock-test"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"))
}

#[test]
fn every_version_lists_the_served_apis_with_header_v0() {
    let mut c = cluster(1);
    for v in 0..=4 {
        let f = frame(v, 9, &request());
        // Always response header v0, even for flexible v3/v4.
        let resp: ApiVersionsResponse =
            decode_with_header(0, v, 9, &reply_frame(c.handle_request(1, &f, 0)));
        assert_eq!(resp.error_code, 0, "v{v}");
        let got: Vec<(i16, i16, i16)> = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        assert_eq!(got, SUPPORTED_APIS.to_vec(), "v{v}");
        assert!(got.contains(&(PRODUCE, 3, 12)));
        assert!(got.contains(&(METADATA, 0, 12)));
        assert!(got.contains(&(INIT_PRODUCER_ID, 0, 5)));
        assert!(got.contains(&(API_VERSIONS, 0, 4)));
        assert!(got.contains(&(FIND_COORDINATOR, 0, 6)));
        assert!(got.contains(&(CREATE_TOPICS, 2, 7)));
    }
}

#[test]
fn an_unsupported_version_is_answered_in_v0_with_our_range() {
    let mut c = cluster(1);
    // v7 does not exist: encode the header by hand (v2, flexible) and a v4 body.
    let mut buf = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(API_VERSIONS)
        .with_request_api_version(7)
        .with_correlation_id(5)
        .encode(&mut buf, 2)
        .unwrap();
    request().encode(&mut buf, 4).unwrap();
    let resp: ApiVersionsResponse =
        decode_with_header(0, 0, 5, &reply_frame(c.handle_request(1, &buf, 0)));
    assert_eq!(resp.error_code, codes::UNSUPPORTED_VERSION);
    assert_eq!(resp.api_keys.len(), 1);
    assert_eq!(
        (
            resp.api_keys[0].api_key,
            resp.api_keys[0].min_version,
            resp.api_keys[0].max_version
        ),
        (18, 0, 4)
    );
    assert_eq!(c.stats().unsupported_requests, 1);
}

#[test]
fn v3_checks_the_client_software_name() {
    let mut c = cluster(1);
    let bad = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("bad name"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let resp = call(&mut c, 1, 3, &bad);
    assert_eq!(resp.error_code, codes::INVALID_REQUEST);
    assert!(resp.api_keys.is_empty());
    // v2 has no such fields, so nothing to check.
    let resp = call(&mut c, 1, 2, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
}

#[test]
fn other_apis_at_unsupported_versions_close_the_connection() {
    let mut c = cluster(1);
    // Produce v2 (removed by KIP-896): a v3 body with the version patched.
    let mut f = frame(3, 1, &produce_request(1, &[])).to_vec();
    f[2..4].copy_from_slice(&2i16.to_be_bytes());
    assert!(matches!(
        c.handle_request(1, &f, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    // Unknown API key 999.
    let mut raw = f.to_vec();
    raw[0..2].copy_from_slice(&999i16.to_be_bytes());
    assert!(matches!(
        c.handle_request(1, &raw, 0),
        Outcome::Close {
            processed: false,
            ..
        }
    ));
    // Fetch v13 uses topic ids and is not served.
    let fetch = kafka_protocol::messages::FetchRequest::default();
    assert!(matches!(
        c.handle_request(1, &frame(13, 1, &fetch), 0),
        Outcome::Close { .. }
    ));
    assert_eq!(c.stats().unsupported_requests, 3);
}
