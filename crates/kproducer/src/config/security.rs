//! The `ssl.*` and `sasl.*` settings as parsed from Java's keys: text and file names only. Files
//! are read when the producer is built (`network::tls`), as Java's `SslFactory` does, so a
//! configuration can be loaded and inspected on a machine without the key stores.

pub use crate::security::Password;

/// A key store or trust store format (`ssl.keystore.type`, `ssl.truststore.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// Java's default type name. Java's keytool writes PKCS#12 files even under this name, and
    /// such files are read; a real JKS file is refused with the command that converts it.
    Jks,
    /// PKCS#12 (`.p12`, `.pfx`).
    Pkcs12,
    /// PEM text: certificates, and for a key store an unencrypted or encrypted PKCS#8 key.
    Pem,
}

impl StoreType {
    /// Java's name (`JKS`, `PKCS12`, `PEM`).
    pub fn as_str(self) -> &'static str {
        match self {
            StoreType::Jks => "JKS",
            StoreType::Pkcs12 => "PKCS12",
            StoreType::Pem => "PEM",
        }
    }

    /// Parses a Java store type name (case-insensitive, as Java's `KeyStore.getInstance`).
    pub(crate) fn parse(s: &str) -> Option<StoreType> {
        match s.to_ascii_uppercase().as_str() {
            "JKS" => Some(StoreType::Jks),
            "PKCS12" => Some(StoreType::Pkcs12),
            "PEM" => Some(StoreType::Pem),
            _ => None,
        }
    }
}

/// The TLS settings (`ssl.*`), validated but not yet loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslConfig {
    /// `ssl.protocol`.
    pub(crate) protocol: String,
    /// `ssl.enabled.protocols`.
    pub(crate) enabled_protocols: Vec<String>,
    /// `ssl.cipher.suites` (`None`: every suite of the crypto provider).
    pub(crate) cipher_suites: Option<Vec<String>>,
    /// `ssl.keystore.type`.
    pub(crate) keystore_type: StoreType,
    /// `ssl.keystore.location`.
    pub(crate) keystore_location: Option<String>,
    /// `ssl.keystore.password`.
    pub(crate) keystore_password: Option<Password>,
    /// `ssl.key.password`.
    pub(crate) key_password: Option<Password>,
    /// `ssl.keystore.key` (PEM).
    pub(crate) keystore_key: Option<Password>,
    /// `ssl.keystore.certificate.chain` (PEM).
    pub(crate) keystore_certificate_chain: Option<Password>,
    /// `ssl.truststore.type`.
    pub(crate) truststore_type: StoreType,
    /// `ssl.truststore.location`.
    pub(crate) truststore_location: Option<String>,
    /// `ssl.truststore.password`.
    pub(crate) truststore_password: Option<Password>,
    /// `ssl.truststore.certificates` (PEM).
    pub(crate) truststore_certificates: Option<Password>,
    /// `ssl.endpoint.identification.algorithm` is `https` (the default): check the broker's host
    /// name against its certificate.
    pub(crate) verify_host_name: bool,
}

impl SslConfig {
    /// `ssl.keystore.type`.
    pub fn keystore_type(&self) -> StoreType {
        self.keystore_type
    }

    /// `ssl.truststore.type`.
    pub fn truststore_type(&self) -> StoreType {
        self.truststore_type
    }

    /// `ssl.keystore.location`.
    pub fn keystore_location(&self) -> Option<&str> {
        self.keystore_location.as_deref()
    }

    /// `ssl.truststore.location`.
    pub fn truststore_location(&self) -> Option<&str> {
        self.truststore_location.as_deref()
    }

    /// `ssl.enabled.protocols`.
    pub fn enabled_protocols(&self) -> &[String] {
        &self.enabled_protocols
    }

    /// Whether the broker's host name is checked (`ssl.endpoint.identification.algorithm=https`).
    pub fn verify_host_name(&self) -> bool {
        self.verify_host_name
    }
}

/// The SASL settings (`sasl.mechanism`, `sasl.jaas.config`, the OAuth login keys), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `sasl.mechanism`, as given (case-sensitive, as in Java).
    pub(crate) mechanism: String,
    /// `sasl.jaas.config`.
    pub(crate) jaas_config: Option<Password>,
    /// `sasl.oauthbearer.token.endpoint.url`.
    pub(crate) token_endpoint: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name`.
    pub(crate) sub_claim: String,
    /// `sasl.login.connect.timeout.ms`, `sasl.login.read.timeout.ms` (10 s when not set).
    pub(crate) login_connect_timeout: std::time::Duration,
    pub(crate) login_read_timeout: std::time::Duration,
    /// `sasl.login.retry.backoff.ms`, `.max.ms`.
    pub(crate) login_retry_backoff: std::time::Duration,
    pub(crate) login_retry_backoff_max: std::time::Duration,
}

impl SaslSettings {
    /// `sasl.mechanism`.
    pub fn mechanism(&self) -> &str {
        &self.mechanism
    }
}
