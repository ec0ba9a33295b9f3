//! From Java key/value pairs to a validated [`ProducerConfig`]: per-key parsing from the key table,
//! then Java's cross-field rules (`ProducerConfig.postProcessParsedConfig` and the `KafkaProducer`
//! constructor).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::keys::{self, Usage, Value};
use super::security::{Password, SaslSettings, SslConfig, StoreType};
use super::{Acks, CompressionType, ProducerConfig, Raw, SecurityProtocol};
use crate::error::ConfigError;

/// Java's `PRODUCER_CLIENT_ID_SEQUENCE`: numbers `producer-N` client ids, process-wide, from 1.
static PRODUCER_CLIENT_ID_SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// Java's `MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION_FOR_IDEMPOTENCE`: the broker keeps 5 batches per producer.
const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

/// What [`resolve`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Everything: required keys, cross-field rules, client id assignment.
    Full,
    /// Only Java's defaults, for [`ProducerConfig::default_values`]: no required keys, no client id.
    DefaultsOnly,
}

fn invalid(key: &str, value: &str, allowed: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

fn conflict(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Conflict {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Reads typed values for table keys: the given value, else Java's default.
struct Ctx<'a> {
    originals: &'a BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    fn given(&self, name: &str) -> bool {
        self.originals.contains_key(name)
    }

    /// The text a value came from, for error messages.
    fn text(&self, name: &str) -> String {
        match self.originals.get(name) {
            Some(v) => v.clone(),
            None => keys::lookup(name)
                .and_then(|d| d.default)
                .unwrap_or("")
                .to_string(),
        }
    }

    fn value(&self, name: &str) -> Result<Value, ConfigError> {
        let def = keys::lookup(name).ok_or_else(|| internal(name))?;
        match self.originals.get(name) {
            Some(v) => def.parse(v),
            None => def.default_value(),
        }
    }

    fn int(&self, name: &str) -> Result<i64, ConfigError> {
        match self.value(name)? {
            Value::Int(n) => Ok(n),
            _ => Err(internal(name)),
        }
    }

    fn i32(&self, name: &str) -> Result<i32, ConfigError> {
        i32::try_from(self.int(name)?).map_err(|_| internal(name))
    }

    fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        match self.value(name)? {
            Value::Bool(b) => Ok(b),
            _ => Err(internal(name)),
        }
    }

    fn opt_str(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.value(name)? {
            Value::Str(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            _ => Err(internal(name)),
        }
    }

    fn str(&self, name: &str) -> Result<String, ConfigError> {
        self.opt_str(name)?.ok_or_else(|| internal(name))
    }

    fn list(&self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.value(name)? {
            Value::List(l) => Ok(Some(l)),
            Value::Null => Ok(None),
            _ => Err(internal(name)),
        }
    }

    /// A millisecond key as a [`Duration`]; negative values are refused (a `Duration` has no sign).
    fn millis(&self, name: &str) -> Result<Duration, ConfigError> {
        let n = self.int(name)?;
        u64::try_from(n)
            .map(Duration::from_millis)
            .map_err(|_| invalid(name, &self.text(name), "Value must be at least 0"))
    }

    /// A byte-count key as a `usize`.
    fn size(&self, name: &str) -> Result<usize, ConfigError> {
        let n = self.int(name)?;
        usize::try_from(n).map_err(|_| {
            invalid(
                name,
                &self.text(name),
                format!("Value must be in [0, {}] on this platform", usize::MAX),
            )
        })
    }

    fn warn(&mut self, message: String) {
        tracing::warn!("{message}");
        self.warnings.push(message);
    }
}

/// The key table and the typed fields disagree: a bug in this module, reported rather than panicking.
fn internal(name: &str) -> ConfigError {
    invalid(
        name,
        "",
        "internal error: the key table has no value of the expected type for this key",
    )
}

/// Checks one bootstrap entry the way Java's `ClientUtils.parseAndValidateAddresses` does: `host:port`
/// (IPv6 hosts in brackets), port a number.
fn check_bootstrap_entry(entry: &str) -> Result<(), ConfigError> {
    let ok = entry
        .rsplit_once(':')
        .map(|(host, port)| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            !host.is_empty() && port.parse::<u16>().is_ok()
        })
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "bootstrap.servers",
            entry,
            format!("Invalid url in bootstrap.servers: {entry} (each entry must be host:port)"),
        ))
    }
}

/// Checks every supplied key, warning once for each one kproducer does not use.
fn check_supplied(ctx: &mut Ctx<'_>) -> Result<(), ConfigError> {
    let originals = ctx.originals;
    for (key, value) in originals {
        if key == "compression.type" {
            let v = value.trim();
            if v == "producer" || v == "uncompressed" {
                return Err(invalid(
                    key,
                    value,
                    format!(
                        "String must be one of: {} (\"{v}\" is a broker/topic compression.type value, not a producer codec)",
                        keys::COMPRESSION_TYPES.join(", ")
                    ),
                ));
            }
        }
        let why = match keys::lookup(key) {
            Some(def) => {
                def.parse(value)?;
                match def.usage {
                    Usage::Typed => continue,
                    Usage::Unused(why) => why,
                }
            }
            None => match keys::prefix_usage(key) {
                Some(why) => why,
                None => {
                    // Java's text (which Java logs at INFO, where nobody sees a misspelt key).
                    ctx.warn(format!(
                        "These configurations '[{key}]' were supplied but are not used yet: '{key}' is not a known producer configuration (misspelt?); it is ignored"
                    ));
                    continue;
                }
            },
        };
        ctx.warn(format!(
            "configuration '{key}' was supplied but is not used by kproducer: {why}"
        ));
    }
    Ok(())
}

/// Parses, validates and post-processes `originals` (Java name → value, as given).
pub(super) fn resolve(
    originals: BTreeMap<String, String>,
    mode: Mode,
) -> Result<ProducerConfig, ConfigError> {
    let mut ctx = Ctx {
        originals: &originals,
        warnings: Vec::new(),
    };

    // Java defines bootstrap.servers first, so its absence is the first complaint.
    if mode == Mode::Full && !ctx.given("bootstrap.servers") {
        return Err(ConfigError::Missing {
            key: "bootstrap.servers".to_string(),
            hint: "set it to a comma-separated list of host:port pairs, e.g. localhost:9092"
                .to_string(),
        });
    }
    check_supplied(&mut ctx)?;

    let bootstrap_servers = ctx.list("bootstrap.servers")?.unwrap_or_default();
    for entry in &bootstrap_servers {
        check_bootstrap_entry(entry)?;
    }

    let security_protocol = match ctx.str("security.protocol")?.as_str() {
        "PLAINTEXT" => SecurityProtocol::Plaintext,
        "SSL" => SecurityProtocol::Ssl,
        "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
        "SASL_SSL" => SecurityProtocol::SaslSsl,
        _ => return Err(internal("security.protocol")),
    };
    let ssl = ssl_config(&ctx)?;
    let sasl = sasl_settings(&ctx)?;

    let acks = match ctx.str("acks")?.as_str() {
        "all" | "-1" => Acks::All,
        "1" => Acks::Leader,
        "0" => Acks::None,
        _ => return Err(internal("acks")),
    };
    let compression_type = match ctx.str("compression.type")?.as_str() {
        "none" => CompressionType::None,
        "gzip" => CompressionType::Gzip,
        "snappy" => CompressionType::Snappy,
        "lz4" => CompressionType::Lz4,
        "zstd" => CompressionType::Zstd,
        _ => return Err(internal("compression.type")),
    };

    let connections_max_idle = match ctx.int("connections.max.idle.ms")? {
        // Java: a negative value never closes idle connections.
        n if n < 0 => Duration::MAX,
        _ => ctx.millis("connections.max.idle.ms")?,
    };

    let mut cfg = ProducerConfig {
        bootstrap_servers,
        client_id: ctx.str("client.id")?,
        acks,
        enable_idempotence: ctx.bool("enable.idempotence")?,
        retries: ctx.i32("retries")?,
        delivery_timeout: ctx.millis("delivery.timeout.ms")?,
        request_timeout: ctx.millis("request.timeout.ms")?,
        linger: ctx.millis("linger.ms")?,
        batch_size: ctx.size("batch.size")?,
        buffer_memory: ctx.size("buffer.memory")?,
        max_block: ctx.millis("max.block.ms")?,
        max_request_size: ctx.size("max.request.size")?,
        max_in_flight_requests_per_connection: ctx.size("max.in.flight.requests.per.connection")?,
        compression_type,
        compression_gzip_level: ctx.i32("compression.gzip.level")?,
        compression_lz4_level: ctx.i32("compression.lz4.level")?,
        compression_zstd_level: ctx.i32("compression.zstd.level")?,
        retry_backoff: ctx.millis("retry.backoff.ms")?,
        retry_backoff_max: ctx.millis("retry.backoff.max.ms")?,
        reconnect_backoff: ctx.millis("reconnect.backoff.ms")?,
        reconnect_backoff_max: ctx.millis("reconnect.backoff.max.ms")?,
        metadata_max_age: ctx.millis("metadata.max.age.ms")?,
        metadata_max_idle: ctx.millis("metadata.max.idle.ms")?,
        metrics_sample_window: ctx.millis("metrics.sample.window.ms")?,
        metrics_num_samples: ctx.size("metrics.num.samples")?,
        enable_metrics_push: ctx.bool("enable.metrics.push")?,
        connections_max_idle,
        socket_connection_setup_timeout: ctx.millis("socket.connection.setup.timeout.ms")?,
        socket_connection_setup_timeout_max: ctx
            .millis("socket.connection.setup.timeout.max.ms")?,
        partitioner_ignore_keys: ctx.bool("partitioner.ignore.keys")?,
        partitioner_adaptive_partitioning_enable: ctx
            .bool("partitioner.adaptive.partitioning.enable")?,
        partitioner_availability_timeout: ctx.millis("partitioner.availability.timeout.ms")?,
        transactional_id: ctx.opt_str("transactional.id")?,
        transaction_timeout: ctx.millis("transaction.timeout.ms")?,
        send_buffer_bytes: ctx.i32("send.buffer.bytes")?,
        receive_buffer_bytes: ctx.i32("receive.buffer.bytes")?,
        security_protocol,
        ssl,
        sasl,
        raw: Raw::default(),
        warnings: Vec::new(),
    };

    if mode == Mode::Full {
        post_process(&mut ctx, &mut cfg)?;
        cfg.client_id = client_id(&ctx, &cfg);
    }
    cfg.warnings = ctx.warnings;
    cfg.raw = Raw(originals);
    Ok(cfg)
}

/// `ssl.*`: formats and protocol names checked here; files are read when the producer is built.
fn ssl_config(ctx: &Ctx<'_>) -> Result<SslConfig, ConfigError> {
    let store_type = |key: &str| -> Result<StoreType, ConfigError> {
        let v = ctx.str(key)?;
        StoreType::parse(&v).ok_or_else(|| invalid(key, &v, "one of: PEM, PKCS12, JKS"))
    };
    let password = |key: &str| -> Result<Option<Password>, ConfigError> {
        Ok(ctx
            .opt_str(key)?
            .filter(|s| !s.is_empty())
            .map(Password::new))
    };
    let location = |key: &str| -> Result<Option<String>, ConfigError> {
        Ok(ctx.opt_str(key)?.filter(|s| !s.is_empty()))
    };
    let protocol = ctx.str("ssl.protocol")?;
    check_tls_version("ssl.protocol", &protocol, true)?;
    let enabled_protocols = ctx.list("ssl.enabled.protocols")?.unwrap_or_default();
    for p in &enabled_protocols {
        check_tls_version("ssl.enabled.protocols", p, false)?;
    }
    let cfg = SslConfig {
        protocol,
        enabled_protocols,
        cipher_suites: ctx.list("ssl.cipher.suites")?.filter(|l| !l.is_empty()),
        keystore_type: store_type("ssl.keystore.type")?,
        keystore_location: location("ssl.keystore.location")?,
        keystore_password: password("ssl.keystore.password")?,
        key_password: password("ssl.key.password")?,
        keystore_key: password("ssl.keystore.key")?,
        keystore_certificate_chain: password("ssl.keystore.certificate.chain")?,
        truststore_type: store_type("ssl.truststore.type")?,
        truststore_location: location("ssl.truststore.location")?,
        truststore_password: password("ssl.truststore.password")?,
        truststore_certificates: password("ssl.truststore.certificates")?,
        verify_host_name: ctx.str("ssl.endpoint.identification.algorithm")? == "https",
    };
    // Java's DefaultSslEngineFactory rules for inline PEM.
    if cfg.keystore_key.is_some() || cfg.keystore_certificate_chain.is_some() {
        if cfg.keystore_type != StoreType::Pem {
            return Err(conflict(
                "ssl.keystore.key",
                format!(
                    "SSL private key can be specified only for PEM, but key store type is {}; set ssl.keystore.type=PEM",
                    cfg.keystore_type.as_str()
                ),
            ));
        }
        if cfg.keystore_location.is_some() {
            return Err(conflict(
                "ssl.keystore.key",
                "give the key either inline (ssl.keystore.key, ssl.keystore.certificate.chain) or in a file (ssl.keystore.location), not both",
            ));
        }
        if cfg.keystore_key.is_none() {
            return Err(conflict(
                "ssl.keystore.key",
                "ssl.keystore.certificate.chain is set but the private key ssl.keystore.key is not",
            ));
        }
        if cfg.keystore_certificate_chain.is_none() {
            return Err(conflict(
                "ssl.keystore.certificate.chain",
                "ssl.keystore.key is set but its certificate chain ssl.keystore.certificate.chain is not",
            ));
        }
    }
    if cfg.truststore_certificates.is_some() {
        if cfg.truststore_type != StoreType::Pem {
            return Err(conflict(
                "ssl.truststore.certificates",
                format!(
                    "SSL trust store certificates can be specified only for PEM, but trust store type is {}; set ssl.truststore.type=PEM",
                    cfg.truststore_type.as_str()
                ),
            ));
        }
        if cfg.truststore_location.is_some() {
            return Err(conflict(
                "ssl.truststore.certificates",
                "give trusted certificates either inline (ssl.truststore.certificates) or in a file (ssl.truststore.location), not both",
            ));
        }
    }
    Ok(cfg)
}

/// TLS versions rustls speaks: 1.2 and 1.3. `TLS` (any) is accepted for `ssl.protocol`.
fn check_tls_version(key: &str, v: &str, any_ok: bool) -> Result<(), ConfigError> {
    match v {
        "TLSv1.2" | "TLSv1.3" => Ok(()),
        "TLS" if any_ok => Ok(()),
        "TLSv1" | "TLSv1.1" | "SSLv3" | "SSLv2Hello" | "SSL" => Err(invalid(
            key,
            v,
            "kproducer's TLS (rustls) supports only TLSv1.2 and TLSv1.3; older versions are insecure",
        )),
        _ => Err(invalid(key, v, "one of: TLSv1.2, TLSv1.3")),
    }
}

/// `sasl.mechanism` and `sasl.jaas.config`, checked when SASL is used (Java reads them only then).
fn sasl_settings(ctx: &Ctx<'_>) -> Result<SaslSettings, ConfigError> {
    // Case-sensitive, as Java's SaslClient factories are.
    let mechanism = ctx.str("sasl.mechanism")?.trim().to_string();
    let jaas_config = ctx
        .opt_str("sasl.jaas.config")?
        .filter(|s| !s.trim().is_empty())
        .map(Password::new);
    let timeout = |key: &str| -> Result<Duration, ConfigError> {
        match ctx.value(key)? {
            Value::Int(n) => u64::try_from(n)
                .map(Duration::from_millis)
                .map_err(|_| invalid(key, &ctx.text(key), "Value must be at least 0")),
            _ => Ok(Duration::from_secs(10)),
        }
    };
    Ok(SaslSettings {
        mechanism,
        jaas_config,
        token_endpoint: ctx
            .opt_str("sasl.oauthbearer.token.endpoint.url")?
            .filter(|s| !s.is_empty()),
        sub_claim: ctx.str("sasl.oauthbearer.sub.claim.name")?,
        login_connect_timeout: timeout("sasl.login.connect.timeout.ms")?,
        login_read_timeout: timeout("sasl.login.read.timeout.ms")?,
        login_retry_backoff: ctx.millis("sasl.login.retry.backoff.ms")?,
        login_retry_backoff_max: ctx.millis("sasl.login.retry.backoff.max.ms")?,
    })
}

/// Java's cross-field rules, in Java's order.
fn post_process(ctx: &mut Ctx<'_>, cfg: &mut ProducerConfig) -> Result<(), ConfigError> {
    // CommonClientConfigs.postProcessReconnectBackoffConfigs
    if ctx.given("reconnect.backoff.ms") && !ctx.given("reconnect.backoff.max.ms") {
        cfg.reconnect_backoff_max = cfg.reconnect_backoff;
        ctx.warn(
            "Disabling exponential reconnect backoff because reconnect.backoff.ms is set, but reconnect.backoff.max.ms is not."
                .to_string(),
        );
    }
    // CommonClientConfigs.warnDisablingExponentialBackoff
    if cfg.retry_backoff > cfg.retry_backoff_max {
        ctx.warn(format!(
            "Configuration 'retry.backoff.ms' with value '{}' is greater than configuration 'retry.backoff.max.ms' with value '{}'. A static backoff with value '{}' will be applied.",
            cfg.retry_backoff.as_millis(),
            cfg.retry_backoff_max.as_millis(),
            cfg.retry_backoff_max.as_millis()
        ));
    }
    if cfg.socket_connection_setup_timeout > cfg.socket_connection_setup_timeout_max {
        ctx.warn(format!(
            "Configuration 'socket.connection.setup.timeout.ms' with value '{}' is greater than configuration 'socket.connection.setup.timeout.max.ms' with value '{}'. A static connection setup timeout with value '{}' will be applied.",
            cfg.socket_connection_setup_timeout.as_millis(),
            cfg.socket_connection_setup_timeout_max.as_millis(),
            cfg.socket_connection_setup_timeout_max.as_millis()
        ));
    }

    check_idempotence(ctx, cfg)?;

    // KafkaProducer.configureDeliveryTimeout: linger is clamped to an int, the sum too.
    let int_max = u128::from(i32::MAX.unsigned_abs());
    let linger_ms = cfg.linger.as_millis().min(int_max);
    let floor_ms = (linger_ms + cfg.request_timeout.as_millis()).min(int_max);
    if cfg.delivery_timeout.as_millis() < floor_ms {
        if ctx.given("delivery.timeout.ms") {
            return Err(conflict(
                "delivery.timeout.ms",
                format!(
                    "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms ({} < {} + {})",
                    cfg.delivery_timeout.as_millis(),
                    cfg.linger.as_millis(),
                    cfg.request_timeout.as_millis()
                ),
            ));
        }
        // Java raises the defaulted value rather than failing.
        let floor = u64::try_from(floor_ms).unwrap_or(u64::MAX);
        cfg.delivery_timeout = Duration::from_millis(floor);
        ctx.warn(format!(
            "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms. Setting it to {floor}."
        ));
    }
    Ok(())
}

/// `ProducerConfig.postProcessAndValidateIdempotenceConfigs`. Java's own default (`true`) decides
/// whether `transactional.id` is acceptable; kproducer's field stays `false` unless set explicitly.
fn check_idempotence(ctx: &mut Ctx<'_>, cfg: &mut ProducerConfig) -> Result<(), ConfigError> {
    let explicit = if ctx.given("enable.idempotence") {
        Some(cfg.enable_idempotence)
    } else {
        None
    };
    let mut java_idempotence = explicit.unwrap_or(true);
    if java_idempotence {
        if cfg.retries == 0 {
            if explicit.is_some() {
                return Err(conflict(
                    "retries",
                    "Must set retries to non-zero when using the idempotent producer.",
                ));
            }
            java_idempotence = false;
        }
        if cfg.acks != Acks::All {
            if explicit.is_some() {
                return Err(conflict(
                    "acks",
                    "Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.",
                ));
            }
            java_idempotence = false;
        }
        if cfg.max_in_flight_requests_per_connection > MAX_IN_FLIGHT_FOR_IDEMPOTENCE {
            let n = cfg.max_in_flight_requests_per_connection;
            if explicit.is_some() {
                return Err(conflict(
                    "max.in.flight.requests.per.connection",
                    format!("To use the idempotent producer, max.in.flight.requests.per.connection must be set to at most 5. Current value is {n}."),
                ));
            }
            // Java 4.x rejects this even with idempotence only defaulted.
            return Err(conflict(
                "max.in.flight.requests.per.connection",
                format!("Must set max.in.flight.requests.per.connection to at most 5 when using the idempotent producer (the default); current value is {n}. Set enable.idempotence=false to allow more."),
            ));
        }
    }
    // Defaulted idempotence yields to acks/retries that can't support it (Java's rule).
    cfg.enable_idempotence = java_idempotence;
    if ctx.given("transactional.id") && !java_idempotence {
        return Err(conflict(
            "transactional.id",
            "Cannot set a transactional.id without also enabling idempotence.",
        ));
    }
    Ok(())
}

/// Java's `maybeOverrideClientId`; an empty client.id also gets a generated one.
fn client_id(ctx: &Ctx<'_>, cfg: &ProducerConfig) -> String {
    if !cfg.client_id.is_empty() {
        return cfg.client_id.clone();
    }
    if let Some(txn) = &cfg.transactional_id {
        if !ctx.given("client.id") {
            return format!("producer-{txn}");
        }
    }
    format!(
        "producer-{}",
        PRODUCER_CLIENT_ID_SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}
