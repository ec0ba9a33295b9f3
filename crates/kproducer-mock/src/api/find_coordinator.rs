//! FindCoordinator (key 10), v0–v6.
//!
//! As Kafka 4.x's `KafkaApis.handleFindCoordinatorRequest`: v0–v3 ask for one `key` and are
//! answered with a top-level error, node id, host and port; v4+ ask for a batch of
//! `coordinator_keys` and get one result per key, in request order. Key types: 0 (group) and 1
//! (transaction) are answered with [`MockCluster::coordinator`], from the broker's advertised
//! address, or COORDINATOR_NOT_AVAILABLE when no broker is up; 2 (share group) is
//! INVALID_REQUEST, as a Kafka 4.x broker without share groups answers; any other key type fails
//! the whole request with INVALID_REQUEST (`CoordinatorType.forId` throws), every key of a v4+
//! request included. An error comes with node id -1, an empty host and port -1 (`Node.noNode`).
//!
//! Error messages as Kafka fills them: v1–v3 carry the error's default message (`NONE` on
//! success, as Kafka's `Errors.NONE.message()`), v4+ leave it empty except when the whole request
//! fails. Kafka answers COORDINATOR_NOT_AVAILABLE while it creates `__consumer_offsets` or
//! `__transaction_state` on first use; the mock has no internal topics and answers at once.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Call, Handled};
use crate::cluster::MockCluster;
use crate::codes;
use crate::wire::Reader;

/// `CoordinatorType.SHARE`.
const SHARE: i8 = 2;

pub(crate) struct Request {
    pub(crate) key_type: i8,
    /// v0–v3: the one `key`; v4+: `coordinator_keys`.
    pub(crate) keys: Vec<String>,
}

pub(crate) fn read(r: &mut Reader, version: i16) -> Result<Request, String> {
    let flexible = version >= 3;
    let mut go = || -> crate::wire::WireResult<Request> {
        let mut keys = Vec::new();
        if version <= 3 {
            keys.push(r.string(flexible)?);
        }
        let key_type = if version >= 1 { r.i8()? } else { 0 };
        if version >= 4 {
            let n = r.array(flexible)?;
            for _ in 0..n {
                keys.push(r.string(flexible)?);
            }
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(Request { key_type, keys })
    };
    go().map_err(|e| e.to_string())
}

/// `Errors.message()` of the codes this API answers with on its own.
fn default_message(code: i16) -> Option<&'static str> {
    match code {
        codes::NONE => Some("NONE"),
        codes::COORDINATOR_NOT_AVAILABLE => Some("The coordinator is not available."),
        codes::INVALID_REQUEST => Some(
            "This most likely occurs because of a request being malformed by the client library \
             or the message was sent to an incompatible broker. See the broker logs for more \
             details.",
        ),
        _ => None,
    }
}

/// One key's answer: error code and node (id, host, port).
struct Found {
    code: i16,
    node: (i32, String, i32),
    /// Whether the message is filled in v4+ (the whole request failed).
    whole_request: bool,
}

impl Found {
    fn error(code: i16, whole_request: bool) -> Self {
        Self {
            code,
            node: (-1, String::new(), -1),
            whole_request,
        }
    }
}

fn find(cluster: &MockCluster, call: &Call<'_>, key_type: i8, key: &str) -> Found {
    if let Some((code, _)) = &call.faults.error {
        return Found::error(*code, false);
    }
    match key_type {
        0 | 1 => match cluster
            .coordinator(key_type, key)
            .and_then(|id| cluster.advertised(id).map(|(h, p)| (id, h, p)))
        {
            Some(node) => Found {
                code: codes::NONE,
                node,
                whole_request: false,
            },
            None => Found::error(codes::COORDINATOR_NOT_AVAILABLE, false),
        },
        SHARE => Found::error(codes::INVALID_REQUEST, false),
        _ => Found::error(codes::INVALID_REQUEST, true),
    }
}

pub(crate) fn handle(
    cluster: &MockCluster,
    call: &Call<'_>,
    req: &Request,
) -> Result<Handled, String> {
    let version = call.version();
    let mut body =
        FindCoordinatorResponse::default().with_throttle_time_ms(call.faults.throttle_ms());
    if version <= 3 {
        let key = req.keys.first().map_or("", String::as_str);
        let f = find(cluster, call, req.key_type, key);
        body.error_code = f.code;
        body.error_message = default_message(f.code).map(StrBytes::from_static_str);
        body.node_id = BrokerId(f.node.0);
        body.host = StrBytes::from_string(f.node.1);
        body.port = f.node.2;
    } else {
        body.coordinators = req
            .keys
            .iter()
            .map(|key| {
                let f = find(cluster, call, req.key_type, key);
                let message = if f.whole_request {
                    default_message(f.code).map(StrBytes::from_static_str)
                } else {
                    Some(StrBytes::default())
                };
                Coordinator::default()
                    .with_key(StrBytes::from_string(key.clone()))
                    .with_node_id(BrokerId(f.node.0))
                    .with_host(StrBytes::from_string(f.node.1))
                    .with_port(f.node.2)
                    .with_error_code(f.code)
                    .with_error_message(message)
            })
            .collect();
    }
    call.reply(ApiKey::FindCoordinator, &body)
}
