//! tokio connections to brokers: framing, correlation ids, pipelining, ApiVersions negotiation.
