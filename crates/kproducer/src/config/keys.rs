//! The one table of producer configuration keys: Java name, Java 4.x default, value kind (parser and
//! validator), whether kproducer uses it, and a short doc.
//!
//! Everything else in the `config` module reads this table, so a key's rules live in one place.
//! The `ssl.` and `sasl.` keys kproducer reads are listed; the rest of those families (Kerberos,
//! the OAuth login settings, JCA class names) are known by prefix (see [`prefix_usage`]).

use crate::error::ConfigError;

/// What a key's value may be, following Java's `ConfigDef` type and validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Java `INT` (32-bit) with an optional inclusive range.
    Int {
        /// Smallest allowed value.
        min: Option<i64>,
        /// Largest allowed value.
        max: Option<i64>,
    },
    /// Java `LONG` (64-bit) with an optional inclusive range.
    Long {
        /// Smallest allowed value.
        min: Option<i64>,
        /// Largest allowed value.
        max: Option<i64>,
    },
    /// Java `BOOLEAN`: `true` or `false`, case-insensitive.
    Bool,
    /// Java `STRING` without a validator.
    Str,
    /// Java `STRING` with `NonEmptyString`.
    NonEmptyStr,
    /// Java `STRING` with `ValidString.in(..)` (case-sensitive).
    Choice(&'static [&'static str]),
    /// Java `STRING` with `CaseInsensitiveValidString.in(..)`.
    ChoiceIgnoreCase(&'static [&'static str]),
    /// Java `LIST`: comma-separated, trimmed; never duplicated entries.
    List {
        /// Whether an empty list is allowed.
        empty_ok: bool,
    },
    /// Java `CLASS`: a class name. Accepted as text; Rust plugs in types instead.
    Class,
    /// `compression.gzip.level`: 1..=9 or -1 (the codec's default).
    GzipLevel,
    /// Java `PASSWORD`: a string never shown (`[hidden]` in `Debug` output, logs and errors).
    Password,
}

/// Whether kproducer reads a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Parsed into a typed [`ProducerConfig`](super::ProducerConfig) field.
    Typed,
    /// Java knows it; kproducer validates it as Java does, keeps it in `raw`, and warns that it is
    /// not used, with this reason.
    Unused(&'static str),
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDef {
    /// Java property name.
    pub name: &'static str,
    /// Java's default, as Java would print it; `None` when Java has no default (null or required).
    pub default: Option<&'static str>,
    /// Parser and validator.
    pub kind: Kind,
    /// Whether kproducer uses it.
    pub usage: Usage,
    /// One-line description.
    pub doc: &'static str,
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `INT` or `LONG`.
    Int(i64),
    /// `BOOLEAN`.
    Bool(bool),
    /// `STRING` or `CLASS`, trimmed.
    Str(String),
    /// `LIST`.
    List(Vec<String>),
    /// No value (a key without a default that was not given).
    Null,
}

/// The `security.protocol` values Java accepts.
pub const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// The `compression.type` values a producer accepts (Java's record `CompressionType` names).
pub const COMPRESSION_TYPES: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

/// The `acks` values Java accepts.
pub const ACKS_VALUES: &[&str] = &["all", "-1", "0", "1"];

/// The default for `enable.idempotence`: `true`, as in Java since Kafka 3.0. When it is only
/// defaulted and `acks` isn't `all` or `retries` is 0, idempotence is quietly turned off.
pub const ENABLE_IDEMPOTENCE_DEFAULT: bool = true;

const INT_MAX: i64 = i32::MAX as i64;

const fn at_least_int(min: i64) -> Kind {
    Kind::Int {
        min: Some(min),
        max: None,
    }
}

const fn at_least_long(min: i64) -> Kind {
    Kind::Long {
        min: Some(min),
        max: None,
    }
}

const ANY_LONG: Kind = Kind::Long {
    min: None,
    max: None,
};

const ANY_INT: Kind = Kind::Int {
    min: None,
    max: None,
};

const NO_METRICS: &str = "kproducer keeps its metrics in memory (Producer::metrics); no reporter classes or recording levels";
const NO_JCA: &str =
    "TLS is rustls (crypto provider chosen by a cargo feature), not a JCA provider";
const NO_KERBEROS: &str = "GSSAPI (Kerberos) is not supported: it needs system Kerberos libraries";
const NO_OAUTH_LOGIN: &str = "not used by kproducer's OAuth login (it refreshes tokens at 80 % of \
    their lifetime; broker-side validation keys do not apply to a producer); for other logins give \
    an OAuthBearerTokenProvider to the builder";

/// The `ssl.endpoint.identification.algorithm` values: `https` verifies the broker's host name.
pub const ENDPOINT_IDENTIFICATION: &[&str] = &["https", ""];

/// Every key Java's `ProducerConfig` (4.x) defines, except the `ssl.*`/`sasl.*` families.
#[rustfmt::skip]
pub static KEYS: &[KeyDef] = &[
    KeyDef { name: "bootstrap.servers", default: None, kind: Kind::List { empty_ok: false }, usage: Usage::Typed,
        doc: "host:port pairs used to discover the cluster" },
    KeyDef { name: "client.dns.lookup", default: Some("use_all_dns_ips"),
        kind: Kind::Choice(&["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"]),
        usage: Usage::Unused("DNS lookup policy is not configurable yet"),
        doc: "how the client resolves broker host names" },
    KeyDef { name: "buffer.memory", default: Some("33554432"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "total bytes of memory for records waiting to be sent" },
    KeyDef { name: "retries", default: Some("2147483647"), kind: Kind::Int { min: Some(0), max: Some(INT_MAX) },
        usage: Usage::Typed, doc: "how many times to retry a transiently failed request" },
    KeyDef { name: "acks", default: Some("all"), kind: Kind::Choice(ACKS_VALUES), usage: Usage::Typed,
        doc: "acknowledgements the leader must gather before answering" },
    KeyDef { name: "compression.type", default: Some("none"), kind: Kind::Choice(COMPRESSION_TYPES),
        usage: Usage::Typed, doc: "codec for record batches" },
    KeyDef { name: "compression.gzip.level", default: Some("-1"), kind: Kind::GzipLevel, usage: Usage::Typed,
        doc: "gzip level when compression.type=gzip" },
    KeyDef { name: "compression.lz4.level", default: Some("9"), kind: Kind::Int { min: Some(1), max: Some(17) },
        usage: Usage::Typed, doc: "lz4 level when compression.type=lz4" },
    KeyDef { name: "compression.zstd.level", default: Some("3"),
        kind: Kind::Int { min: Some(-131072), max: Some(22) }, usage: Usage::Typed,
        doc: "zstd level when compression.type=zstd" },
    KeyDef { name: "batch.size", default: Some("16384"), kind: at_least_int(0), usage: Usage::Typed,
        doc: "upper bound in bytes of one partition's batch" },
    KeyDef { name: "partitioner.adaptive.partitioning.enable", default: Some("true"), kind: Kind::Bool,
        usage: Usage::Typed, doc: "send more to partitions on faster brokers (KIP-794)" },
    KeyDef { name: "partitioner.availability.timeout.ms", default: Some("0"), kind: at_least_long(0),
        usage: Usage::Typed, doc: "treat a partition as unavailable after this long without progress; 0 disables" },
    KeyDef { name: "partitioner.ignore.keys", default: Some("false"), kind: Kind::Bool, usage: Usage::Typed,
        doc: "ignore record keys when choosing a partition" },
    KeyDef { name: "linger.ms", default: Some("5"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "how long a batch waits for more records before it is sent" },
    KeyDef { name: "delivery.timeout.ms", default: Some("120000"), kind: at_least_int(0), usage: Usage::Typed,
        doc: "upper bound on the time to report success or failure after send()" },
    KeyDef { name: "client.id", default: Some(""), kind: Kind::Str, usage: Usage::Typed,
        doc: "id sent with every request; producer-N when empty" },
    KeyDef { name: "send.buffer.bytes", default: Some("131072"), kind: at_least_int(-1), usage: Usage::Typed,
        doc: "TCP send buffer (SO_SNDBUF); -1 uses the OS default" },
    KeyDef { name: "receive.buffer.bytes", default: Some("32768"), kind: at_least_int(-1), usage: Usage::Typed,
        doc: "TCP receive buffer (SO_RCVBUF); -1 uses the OS default" },
    KeyDef { name: "max.request.size", default: Some("1048576"), kind: at_least_int(0), usage: Usage::Typed,
        doc: "largest request in bytes; also caps a single record" },
    KeyDef { name: "reconnect.backoff.ms", default: Some("50"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "initial wait before reconnecting to a broker" },
    KeyDef { name: "reconnect.backoff.max.ms", default: Some("1000"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "largest wait before reconnecting to a broker" },
    KeyDef { name: "retry.backoff.ms", default: Some("100"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "initial wait before retrying a failed request" },
    KeyDef { name: "retry.backoff.max.ms", default: Some("1000"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "largest wait before retrying a failed request" },
    KeyDef { name: "enable.metrics.push", default: Some("true"), kind: Kind::Bool, usage: Usage::Typed,
        doc: "push client metrics to the cluster when it subscribes to them (KIP-714)" },
    KeyDef { name: "max.block.ms", default: Some("60000"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "how long send() may wait for metadata and buffer space" },
    KeyDef { name: "request.timeout.ms", default: Some("30000"), kind: at_least_int(0), usage: Usage::Typed,
        doc: "how long to wait for a broker's answer" },
    KeyDef { name: "metadata.max.age.ms", default: Some("300000"), kind: at_least_long(0), usage: Usage::Typed,
        doc: "refresh metadata at least this often" },
    KeyDef { name: "metadata.max.idle.ms", default: Some("300000"), kind: at_least_long(5000), usage: Usage::Typed,
        doc: "forget a topic's metadata after this long without sends" },
    KeyDef { name: "metrics.sample.window.ms", default: Some("30000"), kind: at_least_long(0),
        usage: Usage::Typed, doc: "window of a metrics sample" },
    KeyDef { name: "metrics.num.samples", default: Some("2"), kind: at_least_int(1), usage: Usage::Typed,
        doc: "samples kept per metric" },
    KeyDef { name: "metrics.recording.level", default: Some("INFO"), kind: Kind::Choice(&["INFO", "DEBUG", "TRACE"]),
        usage: Usage::Unused(NO_METRICS), doc: "highest metrics recording level" },
    KeyDef { name: "metric.reporters", default: Some("org.apache.kafka.common.metrics.JmxReporter"),
        kind: Kind::List { empty_ok: true }, usage: Usage::Unused(NO_METRICS), doc: "metrics reporter classes" },
    KeyDef { name: "max.in.flight.requests.per.connection", default: Some("5"), kind: at_least_int(1),
        usage: Usage::Typed, doc: "unacknowledged requests per connection before sending blocks" },
    KeyDef { name: "key.serializer", default: None, kind: Kind::Class,
        usage: Usage::Unused("serializers are Rust types given to the producer, not class names"),
        doc: "key serializer class" },
    KeyDef { name: "value.serializer", default: None, kind: Kind::Class,
        usage: Usage::Unused("serializers are Rust types given to the producer, not class names"),
        doc: "value serializer class" },
    KeyDef { name: "socket.connection.setup.timeout.ms", default: Some("10000"), kind: ANY_LONG, usage: Usage::Typed,
        doc: "initial time allowed to establish a connection" },
    KeyDef { name: "socket.connection.setup.timeout.max.ms", default: Some("30000"), kind: ANY_LONG,
        usage: Usage::Typed, doc: "largest time allowed to establish a connection" },
    KeyDef { name: "connections.max.idle.ms", default: Some("540000"), kind: ANY_LONG, usage: Usage::Typed,
        doc: "close connections idle this long; negative never closes them" },
    KeyDef { name: "partitioner.class", default: None, kind: Kind::Class,
        usage: Usage::Unused("partitioners are Rust trait objects given to the producer, not class names"),
        doc: "partitioner class" },
    KeyDef { name: "interceptor.classes", default: Some(""), kind: Kind::List { empty_ok: true },
        usage: Usage::Unused("interceptors are Rust trait objects given to the producer, not class names"),
        doc: "interceptor classes" },
    KeyDef { name: "security.protocol", default: Some("PLAINTEXT"), kind: Kind::ChoiceIgnoreCase(SECURITY_PROTOCOLS),
        usage: Usage::Typed, doc: "protocol used to talk to brokers; only PLAINTEXT is implemented" },
    KeyDef { name: "security.providers", default: None, kind: Kind::Str, usage: Usage::Unused(NO_JCA),
        doc: "JCA security provider creator classes" },
    // SslConfigs (client side), Java 4.x defaults.
    KeyDef { name: "ssl.protocol", default: Some("TLSv1.3"), kind: Kind::Str, usage: Usage::Typed,
        doc: "the TLS protocol used when ssl.enabled.protocols is empty" },
    KeyDef { name: "ssl.enabled.protocols", default: Some("TLSv1.2,TLSv1.3"), kind: Kind::List { empty_ok: true },
        usage: Usage::Typed, doc: "TLS versions allowed (TLSv1.2, TLSv1.3)" },
    KeyDef { name: "ssl.cipher.suites", default: None, kind: Kind::List { empty_ok: true }, usage: Usage::Typed,
        doc: "cipher suites allowed (IANA names); all of the provider's by default" },
    KeyDef { name: "ssl.keystore.type", default: Some("JKS"), kind: Kind::Str, usage: Usage::Typed,
        doc: "client certificate store format: PEM or PKCS12 (a JKS-typed file that is PKCS#12 is read)" },
    KeyDef { name: "ssl.keystore.location", default: None, kind: Kind::Str, usage: Usage::Typed,
        doc: "client certificate store file (mutual TLS)" },
    KeyDef { name: "ssl.keystore.password", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "client certificate store password" },
    KeyDef { name: "ssl.key.password", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "password of the private key (PKCS#12 key entry or encrypted PEM key)" },
    KeyDef { name: "ssl.keystore.key", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "client private key, PEM (PKCS#8) inline" },
    KeyDef { name: "ssl.keystore.certificate.chain", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "client certificate chain, PEM inline" },
    KeyDef { name: "ssl.truststore.type", default: Some("JKS"), kind: Kind::Str, usage: Usage::Typed,
        doc: "trust store format: PEM or PKCS12 (a JKS-typed file that is PKCS#12 is read)" },
    KeyDef { name: "ssl.truststore.location", default: None, kind: Kind::Str, usage: Usage::Typed,
        doc: "trust store file; the system's trusted roots when neither it nor ssl.truststore.certificates is set" },
    KeyDef { name: "ssl.truststore.password", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "trust store password" },
    KeyDef { name: "ssl.truststore.certificates", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "trusted certificates, PEM inline" },
    KeyDef { name: "ssl.endpoint.identification.algorithm", default: Some("https"),
        kind: Kind::ChoiceIgnoreCase(ENDPOINT_IDENTIFICATION), usage: Usage::Typed,
        doc: "https: verify the broker's host name against its certificate; empty: do not" },
    KeyDef { name: "ssl.provider", default: None, kind: Kind::Str, usage: Usage::Unused(NO_JCA),
        doc: "JCA security provider" },
    KeyDef { name: "ssl.keymanager.algorithm", default: Some("SunX509"), kind: Kind::Str, usage: Usage::Unused(NO_JCA),
        doc: "JCA key manager factory" },
    KeyDef { name: "ssl.trustmanager.algorithm", default: Some("PKIX"), kind: Kind::Str, usage: Usage::Unused(NO_JCA),
        doc: "JCA trust manager factory" },
    KeyDef { name: "ssl.secure.random.implementation", default: None, kind: Kind::Str, usage: Usage::Unused(NO_JCA),
        doc: "JCA SecureRandom" },
    KeyDef { name: "ssl.engine.factory.class", default: None, kind: Kind::Class, usage: Usage::Unused(NO_JCA),
        doc: "custom SSLEngine factory" },
    // SaslConfigs (client side).
    KeyDef { name: "sasl.mechanism", default: Some("GSSAPI"), kind: Kind::Str, usage: Usage::Typed,
        doc: "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (Java's default GSSAPI is refused)" },
    KeyDef { name: "sasl.jaas.config", default: None, kind: Kind::Password, usage: Usage::Typed,
        doc: "JAAS login module and its options, as Java writes it" },
    // KIP-768 (feature `oauth`): OAUTHBEARER tokens from an OAuth token endpoint.
    KeyDef { name: "sasl.oauthbearer.token.endpoint.url", default: None, kind: Kind::Str, usage: Usage::Typed,
        doc: "OAuth token endpoint (client-credentials grant; clientId, clientSecret, scope in sasl.jaas.config), or file:// with a token" },
    KeyDef { name: "sasl.oauthbearer.sub.claim.name", default: Some("sub"), kind: Kind::Str, usage: Usage::Typed,
        doc: "the token claim naming the principal" },
    KeyDef { name: "sasl.login.callback.handler.class", default: None, kind: Kind::Class, usage: Usage::Typed,
        doc: "Java's OAuthBearerLoginCallbackHandler: kproducer uses its client-credentials login when sasl.oauthbearer.token.endpoint.url is set" },
    KeyDef { name: "sasl.login.connect.timeout.ms", default: None, kind: ANY_INT, usage: Usage::Typed,
        doc: "token endpoint connect timeout (10 s when not set)" },
    KeyDef { name: "sasl.login.read.timeout.ms", default: None, kind: ANY_INT, usage: Usage::Typed,
        doc: "token endpoint read timeout (10 s when not set)" },
    KeyDef { name: "sasl.login.retry.backoff.ms", default: Some("100"), kind: ANY_LONG, usage: Usage::Typed,
        doc: "first wait before retrying the token endpoint" },
    KeyDef { name: "sasl.login.retry.backoff.max.ms", default: Some("10000"), kind: ANY_LONG, usage: Usage::Typed,
        doc: "longest wait before retrying the token endpoint" },
    KeyDef { name: "enable.idempotence", default: Some(if ENABLE_IDEMPOTENCE_DEFAULT { "true" } else { "false" }),
        kind: Kind::Bool, usage: Usage::Typed,
        doc: "exactly-once writes per partition; kproducer defaults to false (Java: true) until it is implemented" },
    KeyDef { name: "transaction.timeout.ms", default: Some("60000"), kind: ANY_INT, usage: Usage::Typed,
        doc: "how long a transaction may stay open" },
    KeyDef { name: "transactional.id", default: None, kind: Kind::NonEmptyStr, usage: Usage::Typed,
        doc: "id for transactional delivery" },
    KeyDef { name: "transaction.two.phase.commit.enable", default: Some("false"), kind: Kind::Bool,
        usage: Usage::Unused("two-phase commit (KIP-939) is not implemented"), doc: "take part in an external two-phase commit (KIP-939)" },
    KeyDef { name: "metadata.recovery.strategy", default: Some("rebootstrap"),
        kind: Kind::ChoiceIgnoreCase(&["none", "rebootstrap"]),
        usage: Usage::Unused("metadata recovery is not configurable yet"),
        doc: "what to do when no known broker is reachable" },
    KeyDef { name: "metadata.recovery.rebootstrap.trigger.ms", default: Some("300000"), kind: at_least_long(0),
        usage: Usage::Unused("metadata recovery is not configurable yet"),
        doc: "rebootstrap after this long without metadata" },
    KeyDef { name: "config.providers", default: Some(""), kind: Kind::List { empty_ok: true },
        usage: Usage::Unused("config providers (indirect values) are not supported"),
        doc: "config provider classes" },
];

/// The table entry for a Java key, if Java's `ProducerConfig` lists it explicitly.
pub fn lookup(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// Whether a key's value is secret (Java `PASSWORD`): never shown in `Debug` output or logs.
/// Unknown keys that look like secrets (`*password*`, `*secret*`, `*jaas*`) count too.
pub fn is_secret(name: &str) -> bool {
    match lookup(name) {
        Some(def) => def.kind == Kind::Password,
        None => ["password", "secret", "jaas", "token"]
            .iter()
            .any(|w| name.contains(w)),
    }
}

/// Families of keys Java knows by prefix, with why kproducer ignores them.
pub fn prefix_usage(name: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("sasl.kerberos.", NO_KERBEROS),
        ("sasl.login.", NO_OAUTH_LOGIN),
        ("sasl.oauthbearer.", NO_OAUTH_LOGIN),
        (
            "sasl.client.callback.handler.class",
            "callback handlers are Java classes; give an OAuthBearerTokenProvider to the builder",
        ),
        ("metrics.context.", NO_METRICS),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|(_, why)| *why)
}

fn invalid(key: &str, value: &str, allowed: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

fn check_range(
    key: &str,
    raw: &str,
    n: i64,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), ConfigError> {
    if let Some(min) = min {
        if n < min {
            return Err(invalid(key, raw, format!("Value must be at least {min}")));
        }
    }
    if let Some(max) = max {
        if n > max {
            return Err(invalid(
                key,
                raw,
                format!("Value must be no more than {max}"),
            ));
        }
    }
    Ok(())
}

impl KeyDef {
    /// Parses and validates `raw` as Java's `ConfigDef` would (surrounding whitespace is ignored).
    ///
    /// ```
    /// use kproducer::config::keys::{lookup, Value};
    /// let linger = lookup("linger.ms").unwrap();
    /// assert_eq!(linger.parse(" 10 ").unwrap(), Value::Int(10));
    /// assert!(linger.parse("-1").is_err());
    /// ```
    pub fn parse(&self, raw: &str) -> Result<Value, ConfigError> {
        let key = self.name;
        let v = raw.trim();
        match self.kind {
            Kind::Int { min, max } => {
                let n = v
                    .parse::<i32>()
                    .map_err(|_| invalid(key, raw, "Not a number of type INT"))?;
                check_range(key, raw, i64::from(n), min, max)?;
                Ok(Value::Int(i64::from(n)))
            }
            Kind::Long { min, max } => {
                let n = v
                    .parse::<i64>()
                    .map_err(|_| invalid(key, raw, "Not a number of type LONG"))?;
                check_range(key, raw, n, min, max)?;
                Ok(Value::Int(n))
            }
            Kind::GzipLevel => {
                let n = v
                    .parse::<i32>()
                    .map_err(|_| invalid(key, raw, "Not a number of type INT"))?;
                if n == -1 || (1..=9).contains(&n) {
                    Ok(Value::Int(i64::from(n)))
                } else {
                    Err(invalid(
                        key,
                        raw,
                        "Value must be in [1, 9] or -1 (the codec's default level)",
                    ))
                }
            }
            Kind::Bool => {
                if v.eq_ignore_ascii_case("true") {
                    Ok(Value::Bool(true))
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(Value::Bool(false))
                } else {
                    Err(invalid(
                        key,
                        raw,
                        "Expected value to be either true or false",
                    ))
                }
            }
            Kind::Str | Kind::Class | Kind::Password => Ok(Value::Str(v.to_string())),
            Kind::NonEmptyStr => {
                if v.is_empty() {
                    Err(invalid(key, raw, "String must be non-empty"))
                } else {
                    Ok(Value::Str(v.to_string()))
                }
            }
            Kind::Choice(allowed) => {
                if allowed.contains(&v) {
                    Ok(Value::Str(v.to_string()))
                } else {
                    Err(invalid(
                        key,
                        raw,
                        format!("String must be one of: {}", allowed.join(", ")),
                    ))
                }
            }
            Kind::ChoiceIgnoreCase(allowed) => {
                match allowed.iter().find(|a| a.eq_ignore_ascii_case(v)) {
                    // Canonical spelling, so later matches are exact.
                    Some(a) => Ok(Value::Str((*a).to_string())),
                    None => Err(invalid(
                        key,
                        raw,
                        format!(
                            "String must be one of (case insensitive): {}",
                            allowed.join(", ")
                        ),
                    )),
                }
            }
            Kind::List { empty_ok } => {
                let items = split_list(v);
                if items.is_empty() && !empty_ok {
                    return Err(invalid(key, raw, "empty list is not allowed"));
                }
                if items.iter().any(|i| i.is_empty()) {
                    return Err(invalid(key, raw, "list entries must not be empty"));
                }
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        return Err(invalid(
                            key,
                            raw,
                            format!("values must not be duplicated ({item})"),
                        ));
                    }
                }
                Ok(Value::List(items))
            }
        }
    }

    /// Java's default, parsed; [`Value::Null`] when there is none.
    pub fn default_value(&self) -> Result<Value, ConfigError> {
        match self.default {
            Some(d) => self.parse(d),
            None => Ok(Value::Null),
        }
    }
}

/// Splits a Java `LIST` value: comma-separated, whitespace around entries removed; "" is the empty list.
pub fn split_list(v: &str) -> Vec<String> {
    let v = v.trim();
    if v.is_empty() {
        return Vec::new();
    }
    v.split(',').map(|s| s.trim().to_string()).collect()
}
