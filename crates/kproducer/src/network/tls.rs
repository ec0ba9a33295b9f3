//! TLS over TCP with rustls (`security.protocol=SSL` and `SASL_SSL`), configured with Java's
//! `ssl.*` keys.
//!
//! Key and trust stores are read when the producer is built, so a missing file, a wrong password
//! or an unreadable PEM is a [`ConfigError`] naming the key, before any connection. What Java
//! supports and rustls does not (TLS 1.0/1.1, JKS files, cipher suites rustls lacks) is refused by
//! name. Handshake failures are classified (untrusted issuer, expired, host name mismatch, a
//! plaintext listener) into an [`AuthenticationError::Ssl`] that says what to check.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use super::transport::{Connecting, ReadHalf, TcpTransport, Transport, WriteHalf};
use super::NetworkError;
use crate::config::{Password, SslConfig, StoreType};
use crate::error::{AuthenticationError, ConfigError};

/// TLS over TCP.
///
/// The producer builds one from its configuration when `security.protocol` is `SSL` or
/// `SASL_SSL`; build one yourself to choose the crypto provider
/// ([`with_provider`](Self::with_provider)).
///
/// ```no_run
/// use kproducer::ProducerConfig;
/// use kproducer::transport::{TcpTransport, TlsTransport};
/// let cfg = ProducerConfig::from_map([
///     ("bootstrap.servers", "broker:9093"),
///     ("security.protocol", "SSL"),
///     ("ssl.truststore.type", "PEM"),
///     ("ssl.truststore.location", "/etc/kafka/ca.pem"),
/// ])?;
/// let tls = TlsTransport::from_config(cfg.ssl(), TcpTransport::default())?;
/// # Ok::<(), kproducer::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TlsTransport {
    tcp: TcpTransport,
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl TlsTransport {
    /// TLS with the crypto provider this build was compiled with (feature `tls-ring` or
    /// `tls-aws-lc`), else the process default installed with
    /// `rustls::crypto::CryptoProvider::install_default`.
    pub fn from_config(ssl: &SslConfig, tcp: TcpTransport) -> Result<Self, ConfigError> {
        Self::with_provider(ssl, tcp, default_provider()?)
    }

    /// TLS with `provider` (e.g. a pure-Rust one such as rustls-rustcrypto).
    pub fn with_provider(
        ssl: &SslConfig,
        tcp: TcpTransport,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, ConfigError> {
        let config = client_config(ssl, provider)?;
        Ok(TlsTransport {
            tcp,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

impl Transport for TlsTransport {
    fn connect(&self, addr: &str) -> Connecting {
        let addr = addr.to_string();
        let tcp = self.tcp.clone();
        let connector = self.connector.clone();
        Box::pin(async move {
            let stream = tcp.open(&addr).await?;
            let name = server_name(&addr)?;
            let tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| handshake_error(&addr, &e))?;
            let (read, write) = tokio::io::split(tls);
            Ok((Box::new(read) as ReadHalf, Box::new(write) as WriteHalf))
        })
    }
}

/// rustls' configuration from the `ssl.*` keys with the provider compiled in (also for an
/// `https://` OAuth token endpoint).
pub(crate) fn client_config_default(ssl: &SslConfig) -> Result<ClientConfig, ConfigError> {
    client_config(ssl, default_provider()?)
}

/// The provider compiled in, else the process default.
fn default_provider() -> Result<Arc<CryptoProvider>, ConfigError> {
    #[cfg(feature = "tls-ring")]
    {
        Ok(Arc::new(rustls::crypto::ring::default_provider()))
    }
    #[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
    {
        Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
    }
    #[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc")))]
    {
        CryptoProvider::get_default()
            .cloned()
            .ok_or_else(|| ConfigError::Unsupported {
                key: "security.protocol".into(),
                reason: "this build of kproducer has no TLS crypto provider: enable the feature \
                         tls-ring or tls-aws-lc, or install one with \
                         rustls::crypto::CryptoProvider::install_default"
                    .into(),
            })
    }
}

/// The SNI name and the name checked against the certificate: the host part of `host:port`.
fn server_name(addr: &str) -> Result<ServerName<'static>, NetworkError> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).map_err(|_| NetworkError::Connect {
        addr: addr.to_string(),
        reason: format!("{host:?} is not a valid TLS server name"),
    })
}

/// Names what went wrong in a failed handshake, and what to check.
fn handshake_error(addr: &str, e: &std::io::Error) -> NetworkError {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let reason = match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the broker's certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the broker's certificate is not valid yet (check the clocks)".to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the broker's certificate does not match the host name in {addr} \
                     (ssl.endpoint.identification.algorithm=https; connect by a name the \
                     certificate lists, or set it empty to skip the check)"
                )
            }
            CertificateError::UnknownIssuer => "the broker's certificate is not trusted: its \
                 issuer is not in the trust store (ssl.truststore.location / \
                 ssl.truststore.certificates)"
                .to_string(),
            CertificateError::BadSignature => {
                "the broker's certificate has a bad signature".to_string()
            }
            CertificateError::Revoked => "the broker's certificate is revoked".to_string(),
            other => format!("the broker's certificate is invalid: {other:?}"),
        },
        Some(rustls::Error::InvalidMessage(_)) => {
            "the broker did not answer with TLS: is this a PLAINTEXT or SASL_PLAINTEXT listener? \
             (check security.protocol)"
                .to_string()
        }
        Some(rustls::Error::AlertReceived(alert)) => alert_text(*alert),
        Some(other) => other.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            // A plaintext Kafka listener reads the ClientHello as an oversized request and hangs up.
            return NetworkError::Io(format!(
                "{addr} closed the connection during the TLS handshake: is it a PLAINTEXT or \
                 SASL_PLAINTEXT listener? (security.protocol=SSL/SASL_SSL needs a TLS listener)"
            ));
        }
        None => {
            return NetworkError::Io(format!("TLS handshake with {addr} failed: {e}"));
        }
    };
    NetworkError::Authentication(AuthenticationError::Ssl {
        broker: addr.to_string(),
        reason,
    })
}

/// What a TLS alert from the broker means for the user.
fn alert_text(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match alert {
        A::BadCertificate | A::CertificateRequired | A::UnknownCA | A::CertificateUnknown => {
            format!(
                "the broker refused our client certificate ({alert:?}): it requires a client \
             certificate signed by a CA it trusts (ssl.keystore.location or ssl.keystore.key)"
            )
        }
        A::CertificateExpired => {
            "the broker refused our client certificate: it has expired".to_string()
        }
        A::ProtocolVersion | A::HandshakeFailure | A::InsufficientSecurity => format!(
            "the broker refused the handshake ({alert:?}): no TLS version or cipher suite in \
             common (ssl.enabled.protocols, ssl.cipher.suites)"
        ),
        other => format!("the broker ended the TLS session with alert {other:?}"),
    }
}

/// An alert received on an established TLS connection, as the user should read it.
pub(crate) fn alert_reason(e: &std::io::Error) -> Option<String> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(alert_text(*alert)),
        _ => None,
    }
}

fn config_err(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: String::new(),
        allowed: reason.into(),
    }
}

/// Builds rustls' client configuration from the `ssl.*` keys, reading every store now.
pub(crate) fn client_config(
    ssl: &SslConfig,
    provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, ConfigError> {
    let provider = Arc::new(with_cipher_suites(ssl, (*provider).clone())?);
    let versions = protocol_versions(ssl);
    let roots = Arc::new(trust_roots(ssl)?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| {
            config_err(
                "ssl.truststore.location",
                format!("unusable trust store: {e}"),
            )
        })?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| {
            config_err(
                "ssl.enabled.protocols",
                format!("no TLS version left that the crypto provider supports: {e}"),
            )
        })?;
    let builder = if ssl.verify_host_name {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoHostNameCheck(webpki)))
    };
    let config = match client_identity(ssl)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            config_err(
                "ssl.keystore.location",
                format!("the client certificate and key do not fit together: {e}"),
            )
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// `ssl.enabled.protocols`, else every version up to `ssl.protocol`.
fn protocol_versions(ssl: &SslConfig) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let by_name = |p: &str| match p {
        "TLSv1.2" => Some(&rustls::version::TLS12),
        "TLSv1.3" => Some(&rustls::version::TLS13),
        _ => None,
    };
    if !ssl.enabled_protocols.is_empty() {
        return ssl
            .enabled_protocols
            .iter()
            .filter_map(|p| by_name(p))
            .collect();
    }
    match ssl.protocol.as_str() {
        "TLSv1.2" => vec![&rustls::version::TLS12],
        _ => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    }
}

/// Keeps only the `ssl.cipher.suites` (Java's IANA names), refusing a name the provider lacks.
fn with_cipher_suites(
    ssl: &SslConfig,
    mut provider: CryptoProvider,
) -> Result<CryptoProvider, ConfigError> {
    let Some(wanted) = &ssl.cipher_suites else {
        return Ok(provider);
    };
    let mut kept = Vec::new();
    for name in wanted {
        let found = provider
            .cipher_suites
            .iter()
            .find(|s| iana_name(s.suite()).as_deref() == Some(name.as_str()));
        match found {
            Some(s) => kept.push(*s),
            None => {
                let supported: Vec<String> = provider
                    .cipher_suites
                    .iter()
                    .filter_map(|s| iana_name(s.suite()))
                    .collect();
                return Err(ConfigError::InvalidValue {
                    key: "ssl.cipher.suites".into(),
                    value: name.clone(),
                    allowed: format!(
                        "not supported by kproducer's TLS (rustls); supported: {}",
                        supported.join(", ")
                    ),
                });
            }
        }
    }
    provider.cipher_suites = kept;
    Ok(provider)
}

/// The IANA (and Java) name of a suite: rustls spells TLS 1.3 suites `TLS13_...`.
fn iana_name(suite: rustls::CipherSuite) -> Option<String> {
    let name = suite.as_str()?;
    Some(match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    })
}

/// Reads a store file, naming its key when it can't.
fn read_file(key: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::InvalidValue {
        key: key.to_string(),
        value: path.to_string(),
        allowed: format!("cannot read the file: {e}"),
    })
}

/// Whether `bytes` are a Java KeyStore (JKS or JCEKS), which has no pure-Rust reader.
fn is_jks(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) || bytes.starts_with(&[0xCE, 0xCE, 0xCE, 0xCE])
}

fn jks_refused(key: &str, path: &str) -> ConfigError {
    ConfigError::Unsupported {
        key: key.to_string(),
        reason: format!(
            "{path} is a JKS key store, which kproducer cannot read; convert it to PKCS12 with \
             `keytool -importkeystore -srckeystore {path} -destkeystore store.p12 \
             -deststoretype PKCS12` and set the type to PKCS12 (or use PEM)"
        ),
    }
}

/// A PKCS#12 store (also a `JKS`-typed file keytool wrote as PKCS#12, as Java reads it).
fn read_pkcs12(
    key: &str,
    type_key: &str,
    path: &str,
    bytes: &[u8],
    password: Option<&Password>,
    policy: p12_keystore::Pkcs12ImportPolicy,
) -> Result<p12_keystore::KeyStore, ConfigError> {
    if is_jks(bytes) {
        return Err(jks_refused(type_key, path));
    }
    let pass = password.map(Password::expose).unwrap_or("");
    p12_keystore::KeyStore::from_pkcs12(bytes, pass, policy).map_err(|e| {
        let hint = match e {
            p12_keystore::error::Error::MacError(_) => {
                "wrong password (or a corrupt file)".to_string()
            }
            other => format!("not a readable PKCS#12 file: {other}"),
        };
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: path.to_string(),
            allowed: hint,
        }
    })
}

/// Certificates from PEM text (none found is an error naming `key`).
fn pem_certs(
    key: &str,
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| config_err(key, format!("{what}: unreadable PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_err(
            key,
            format!("{what}: no -----BEGIN CERTIFICATE----- block found"),
        ));
    }
    Ok(certs)
}

/// The trusted roots: the trust store, else the system's.
fn trust_roots(ssl: &SslConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = if let Some(pem) = &ssl.truststore_certificates {
        pem_certs(
            "ssl.truststore.certificates",
            "the trusted certificates",
            pem.expose().as_bytes(),
        )?
    } else if let Some(path) = &ssl.truststore_location {
        let key = "ssl.truststore.location";
        let bytes = read_file(key, path)?;
        match ssl.truststore_type {
            StoreType::Pem => pem_certs(key, path, &bytes)?,
            StoreType::Pkcs12 | StoreType::Jks => {
                let store = read_pkcs12(
                    "ssl.truststore.password",
                    "ssl.truststore.type",
                    path,
                    &bytes,
                    ssl.truststore_password.as_ref(),
                    p12_keystore::Pkcs12ImportPolicy::Raw,
                )?;
                let certs: Vec<CertificateDer<'static>> = store
                    .entries()
                    .flat_map(|(_, entry)| match entry {
                        p12_keystore::KeyStoreEntry::Certificate(c) => {
                            vec![CertificateDer::from(c.as_der().to_vec())]
                        }
                        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => chain
                            .certs()
                            .iter()
                            .map(|c| CertificateDer::from(c.as_der().to_vec()))
                            .collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(config_err(key, format!("{path} holds no certificate")));
                }
                certs
            }
        }
    } else {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            return Err(ConfigError::Missing {
                key: "ssl.truststore.location".into(),
                hint: format!(
                    "no trust store given and the system's trusted certificates could not be \
                     loaded ({} error(s)); set ssl.truststore.location or \
                     ssl.truststore.certificates",
                    found.errors.len()
                ),
            });
        }
        found.certs
    };
    for cert in certs {
        roots.add(cert).map_err(|e| {
            config_err(
                "ssl.truststore.location",
                format!("a trusted certificate is unusable: {e}"),
            )
        })?;
    }
    Ok(roots)
}

/// The client certificate chain and key (mutual TLS), if configured.
#[allow(clippy::type_complexity)]
fn client_identity(
    ssl: &SslConfig,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ConfigError> {
    if let (Some(key_pem), Some(chain_pem)) = (&ssl.keystore_key, &ssl.keystore_certificate_chain) {
        let chain = pem_certs(
            "ssl.keystore.certificate.chain",
            "the certificate chain",
            chain_pem.expose().as_bytes(),
        )?;
        let key = pem_key(
            "ssl.keystore.key",
            key_pem.expose().as_bytes(),
            ssl.key_password.as_ref(),
        )?;
        return Ok(Some((chain, key)));
    }
    let Some(path) = &ssl.keystore_location else {
        return Ok(None);
    };
    let key = "ssl.keystore.location";
    let bytes = read_file(key, path)?;
    match ssl.keystore_type {
        StoreType::Pem => {
            let chain = pem_certs(key, path, &bytes)?;
            let private = pem_key(key, &bytes, ssl.key_password.as_ref())?;
            Ok(Some((chain, private)))
        }
        StoreType::Pkcs12 | StoreType::Jks => {
            // Java opens the store with ssl.keystore.password and the key with ssl.key.password
            // (the same by default); PKCS#12 files keytool writes use one password for both.
            let store = read_pkcs12(
                "ssl.keystore.password",
                "ssl.keystore.type",
                path,
                &bytes,
                ssl.keystore_password.as_ref().or(ssl.key_password.as_ref()),
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )?;
            let Some((_, chain)) = store.private_key_chain() else {
                return Err(config_err(
                    key,
                    format!("{path} holds no private key with its certificate"),
                ));
            };
            let certs: Vec<CertificateDer<'static>> = chain
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect();
            if certs.is_empty() {
                return Err(config_err(
                    key,
                    format!("{path}: the private key has no certificate"),
                ));
            }
            let private =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
            Ok(Some((certs, private)))
        }
    }
}

/// A private key from PEM: PKCS#8 (plain or encrypted with `ssl.key.password`), PKCS#1 or SEC1.
fn pem_key(
    key: &str,
    pem: &[u8],
    password: Option<&Password>,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    const ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    if let Some(start) = pem.windows(ENCRYPTED.len()).position(|w| w == ENCRYPTED) {
        let Some(password) = password else {
            return Err(ConfigError::Missing {
                key: "ssl.key.password".into(),
                hint: format!("the private key in {key} is encrypted: give its password"),
            });
        };
        let text = std::str::from_utf8(&pem[start..])
            .map_err(|_| config_err(key, "the encrypted private key is not PEM text"))?;
        let end_marker = "-----END ENCRYPTED PRIVATE KEY-----";
        let end = text
            .find(end_marker)
            .map(|i| i + end_marker.len())
            .ok_or_else(|| config_err(key, "the encrypted private key has no END line"))?;
        use pkcs8::der::Decode;
        let (_, doc) = pkcs8::der::SecretDocument::from_pem(&text[..end])
            .map_err(|e| config_err(key, format!("unreadable encrypted private key: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
            .map_err(|e| config_err(key, format!("unreadable encrypted private key: {e}")))?;
        let plain = info
            .decrypt(password.expose())
            .map_err(|_| ConfigError::InvalidValue {
                key: "ssl.key.password".into(),
                value: "[hidden]".into(),
                allowed: format!(
                    "cannot decrypt the private key in {key}: wrong password or an unsupported \
                 encryption (PBES2 with AES and PBKDF2 or scrypt is supported)"
                ),
            })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        config_err(
            key,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is verified, the host name not.
#[derive(Debug)]
struct NoHostNameCheck(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostNameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name, so a name error means the chain is trusted.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
