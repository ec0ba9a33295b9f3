//! SASL client mechanisms, sans-IO: each turns the broker's messages into the next client
//! message, with no I/O and no clock reads.
//!
//! A connection's set-up runs one [`SaslMechanism`] from [`SaslConfig::new_mechanism`]: it sends
//! [`start`](SaslMechanism::start)'s bytes in the first SaslAuthenticate request, hands each
//! answer's `auth_bytes` to [`step`](SaslMechanism::step) and sends what it returns, until
//! [`SaslStep::Complete`]. A SaslAuthenticate answer with an error code ends the exchange as
//! [`SaslError::AuthenticationFailed`] with the broker's message.
//!
//! ```
//! use std::time::SystemTime;
//! use kproducer::security::sasl::{SaslConfig, SaslStep};
//!
//! let config = SaslConfig::from_parts(
//!     "PLAIN",
//!     Some(r#"org.apache.kafka.common.security.plain.PlainLoginModule required
//!             username="alice" password="alice-secret";"#),
//!     None,
//! )?;
//! let mut mechanism = config.new_mechanism(SystemTime::now());
//! assert_eq!(mechanism.name(), "PLAIN");
//! assert_eq!(mechanism.start()?, b"\0alice\0alice-secret");
//! // The broker's (empty) answer to a good password completes the exchange.
//! assert!(matches!(mechanism.step(b"")?, SaslStep::Complete));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod oauthbearer;
pub(crate) mod plain;
pub(crate) mod scram;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub use oauthbearer::{OAuthBearerToken, OAuthBearerTokenProvider, TokenProviderError};

use super::jaas::{JaasConfig, LoginModuleKind, SASL_JAAS_CONFIG};
use super::secret::Secret;
use crate::error::ConfigError;
use oauthbearer::{OAuthBearerMechanism, UnsecuredLogin};
use plain::PlainMechanism;
use scram::{ScramHash, ScramMechanism};

/// The `sasl.mechanism` property name, for error messages.
const SASL_MECHANISM: &str = "sasl.mechanism";

/// What a mechanism wants after a broker message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send these bytes in the next SaslAuthenticate request.
    Respond(Vec<u8>),
    /// The exchange succeeded; the connection is authenticated.
    Complete,
}

/// One authentication exchange, on one connection (Java's `SaslClient`). Sans-IO: it is given
/// the broker's bytes and returns the client's; it reads no clock.
pub trait SaslMechanism: Send + fmt::Debug {
    /// The mechanism's name as sent in SaslHandshake: `PLAIN`, `SCRAM-SHA-256`, ...
    fn name(&self) -> &'static str;

    /// The client's first message (every mechanism here has an initial response).
    fn start(&mut self) -> Result<Vec<u8>, SaslError>;

    /// The broker's answer (SaslAuthenticate `auth_bytes`) → the next message, or completion.
    fn step(&mut self, server: &[u8]) -> Result<SaslStep, SaslError>;

    /// What the mechanism learned of a failure before the broker's error answer, to add to
    /// the broker's message: OAUTHBEARER's error status and scope from the broker's JSON
    /// challenge. `None` for the others.
    fn failure_context(&self) -> Option<String> {
        None
    }
}

/// A SASL exchange failed. No variant holds a password or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The broker refused the credentials (Java's SaslAuthenticationException), with its
    /// message: a SaslAuthenticate error, a SCRAM `e=` server-final message, or an
    /// OAUTHBEARER error challenge.
    #[error(
        "SaslAuthenticationException: authentication failed using SASL/{mechanism}: {message}"
    )]
    AuthenticationFailed {
        /// `PLAIN`, `SCRAM-SHA-256`, ...
        mechanism: &'static str,
        /// The broker's message.
        message: String,
    },
    /// The broker's message is malformed or not allowed at this point of the exchange (Java's
    /// SaslException / IllegalSaslStateException).
    #[error("SaslException: invalid SASL/{mechanism} message from the broker: {reason}")]
    BadServerMessage {
        /// `PLAIN`, `SCRAM-SHA-256`, ...
        mechanism: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// SCRAM: the broker's signature does not prove it knows the password's salted key: it is
    /// not the broker the credentials were registered with, or someone is in between.
    #[error("SaslException: invalid server signature in the SASL/{mechanism} server final message: the broker could not prove it holds the credentials")]
    ServerSignatureMismatch {
        /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
        mechanism: &'static str,
    },
    /// OAUTHBEARER: no usable token (the provider failed, or its token had expired).
    #[error("SaslException: no OAUTHBEARER token: {reason}")]
    TokenUnavailable {
        /// Why.
        reason: String,
    },
}

/// The broker's message, quoted for an error: lossy UTF-8, control characters escaped, at most
/// 200 characters. Broker messages hold no client secret (SCRAM's are nonces, salts and
/// signatures), so they may be shown.
pub(crate) fn quote_server_message(server: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(server);
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX {
        out.push_str("...");
    }
    format!("\"{out}\"")
}

/// The SASL settings of a producer, checked once: the mechanism (`sasl.mechanism`), the
/// credentials from `sasl.jaas.config`, and for OAUTHBEARER a token provider. Each new
/// connection gets its own exchange from [`new_mechanism`](Self::new_mechanism).
///
/// `Debug` shows the mechanism and the user name, never a password or token.
///
/// ```
/// use kproducer::security::sasl::SaslConfig;
///
/// let config = SaslConfig::from_parts(
///     "SCRAM-SHA-512",
///     Some(r#"org.apache.kafka.common.security.scram.ScramLoginModule required
///             username="alice" password="alice-secret";"#),
///     None,
/// )?;
/// assert_eq!(config.mechanism(), "SCRAM-SHA-512");
/// assert!(!format!("{config:?}").contains("alice-secret"));
///
/// // GSSAPI is refused when the producer is built, not on the first connection.
/// let err = SaslConfig::from_parts("GSSAPI", None, None).unwrap_err();
/// assert!(err.to_string().contains("sasl.mechanism"));
/// # Ok::<(), kproducer::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct SaslConfig {
    credentials: Credentials,
}

#[derive(Clone)]
enum Credentials {
    Plain {
        username: String,
        password: Secret,
    },
    Scram {
        hash: ScramHash,
        username: String,
        password: Secret,
        /// `tokenauth=true` for delegation tokens (ScramLoginModule's `tokenauth` option).
        token_auth: bool,
    },
    OAuthBearer {
        provider: Arc<dyn OAuthBearerTokenProvider>,
    },
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SaslConfig");
        d.field("mechanism", &self.mechanism());
        match &self.credentials {
            Credentials::Plain { username, password } => {
                d.field("username", username).field("password", password)
            }
            Credentials::Scram {
                username,
                password,
                token_auth,
                ..
            } => d
                .field("username", username)
                .field("password", password)
                .field("token_auth", token_auth),
            Credentials::OAuthBearer { .. } => d.field("token_provider", &"..."),
        };
        d.finish()
    }
}

impl SaslConfig {
    /// Checks `sasl.mechanism` and `sasl.jaas.config` (and, for OAUTHBEARER, takes the token
    /// provider) once, when the producer is built.
    ///
    /// - `mechanism`: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER` (case-sensitive,
    ///   as in Java). `GSSAPI` is refused: Kerberos needs the system's C libraries.
    /// - `jaas_config`: one login module entry matching the mechanism: `PlainLoginModule` or
    ///   `ScramLoginModule` with `username` and `password` (and SCRAM's optional
    ///   `tokenauth=true` for delegation tokens), or `OAuthBearerLoginModule`.
    /// - `token_provider`: OAUTHBEARER's tokens. Without one, the JAAS options must configure
    ///   Java's unsecured tokens (`unsecuredLoginStringClaim_sub="..."` and the other
    ///   `unsecuredLogin*` options of `OAuthBearerUnsecuredLoginCallbackHandler`), which only a
    ///   broker with unsecured validation (development) accepts. With one, the JAAS config is
    ///   optional. Ignored for the other mechanisms.
    ///
    /// Errors name the key (`sasl.mechanism`, `sasl.jaas.config`) and never show a JAAS value.
    pub fn from_parts(
        mechanism: &str,
        jaas_config: Option<&str>,
        token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    ) -> Result<SaslConfig, ConfigError> {
        let wanted = match mechanism {
            "PLAIN" => LoginModuleKind::Plain,
            "SCRAM-SHA-256" | "SCRAM-SHA-512" => LoginModuleKind::Scram,
            "OAUTHBEARER" => LoginModuleKind::OAuthBearer,
            "GSSAPI" => {
                return Err(ConfigError::Unsupported {
                    key: SASL_MECHANISM.into(),
                    reason: "GSSAPI (Kerberos) needs the system's Kerberos (GSS-API) libraries, \
                             which this pure-Rust client does not use; use SCRAM-SHA-512, \
                             SCRAM-SHA-256, OAUTHBEARER or PLAIN (over SSL)"
                        .into(),
                })
            }
            other => {
                let mut allowed =
                    "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER".to_string();
                let upper = other.to_ascii_uppercase();
                if upper != other
                    && matches!(
                        upper.as_str(),
                        "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER" | "GSSAPI"
                    )
                {
                    allowed.push_str(&format!(" (names are case-sensitive: {upper})"));
                }
                return Err(ConfigError::InvalidValue {
                    key: SASL_MECHANISM.into(),
                    value: other.into(),
                    allowed,
                });
            }
        };
        let jaas = match jaas_config {
            None => None,
            Some(text) => Some(JaasConfig::parse(text).map_err(|e| invalid_jaas(e.kind()))?),
        };
        if let Some(jaas) = &jaas {
            let got = jaas.module_kind();
            if got != wanted {
                let want_class = wanted.class_name().unwrap_or_default();
                return Err(ConfigError::Conflict {
                    key: SASL_JAAS_CONFIG.into(),
                    reason: format!(
                        "the login module {} is not for sasl.mechanism={mechanism}; use {want_class}",
                        jaas.login_module()
                    ),
                });
            }
        }
        let credentials = match wanted {
            LoginModuleKind::Plain | LoginModuleKind::Scram => {
                let jaas = jaas.ok_or_else(|| ConfigError::Missing {
                    key: SASL_JAAS_CONFIG.into(),
                    hint: format!(
                        "sasl.mechanism={mechanism} needs `{} required username=\"...\" password=\"...\";`",
                        wanted.class_name().unwrap_or_default()
                    ),
                })?;
                let username = required_option(&jaas, "username")?.to_string();
                let password = Secret::new(required_option(&jaas, "password")?);
                if wanted == LoginModuleKind::Plain {
                    Credentials::Plain { username, password }
                } else {
                    Credentials::Scram {
                        hash: if mechanism == "SCRAM-SHA-256" {
                            ScramHash::Sha256
                        } else {
                            ScramHash::Sha512
                        },
                        username,
                        password,
                        // ScramLoginModule: `"true".equalsIgnoreCase(options.get("tokenauth"))`.
                        token_auth: jaas
                            .option("tokenauth")
                            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                    }
                }
            }
            _ => {
                let provider =
                    match token_provider {
                        Some(p) => p,
                        None => {
                            let options = jaas.as_ref().map(|j| j.options());
                            let login =
                                match options {
                                    Some(o) if !o.is_empty() => UnsecuredLogin::from_options(o)
                                        .map_err(|reason| ConfigError::InvalidValue {
                                            key: SASL_JAAS_CONFIG.into(),
                                            value: Secret::HIDDEN.into(),
                                            allowed: reason,
                                        })?,
                                    _ => return Err(ConfigError::Missing {
                                        key: SASL_JAAS_CONFIG.into(),
                                        hint:
                                            "SASL/OAUTHBEARER needs tokens: give the producer an \
                                           OAuthBearerTokenProvider, or (for development \
                                           brokers with unsecured validation) unsecuredLogin* \
                                           options such as unsecuredLoginStringClaim_sub=\"...\""
                                                .into(),
                                    }),
                                };
                            Arc::new(login)
                        }
                    };
                Credentials::OAuthBearer { provider }
            }
        };
        Ok(SaslConfig { credentials })
    }

    /// The mechanism's name: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub fn mechanism(&self) -> &'static str {
        match &self.credentials {
            Credentials::Plain { .. } => plain::NAME,
            Credentials::Scram { hash, .. } => hash.mechanism_name(),
            Credentials::OAuthBearer { .. } => oauthbearer::NAME,
        }
    }

    /// A fresh exchange for a new connection. `now` is the time an OAUTHBEARER token must be
    /// valid at (the others ignore it).
    pub fn new_mechanism(&self, now: SystemTime) -> Box<dyn SaslMechanism> {
        match &self.credentials {
            Credentials::Plain { username, password } => {
                Box::new(PlainMechanism::new(username.clone(), password.clone()))
            }
            Credentials::Scram {
                hash,
                username,
                password,
                token_auth,
            } => Box::new(ScramMechanism::new(
                *hash,
                username.clone(),
                password.clone(),
                *token_auth,
            )),
            Credentials::OAuthBearer { provider } => {
                Box::new(OAuthBearerMechanism::new(Arc::clone(provider), now))
            }
        }
    }
}

fn invalid_jaas(kind: &super::jaas::JaasErrorKind) -> ConfigError {
    ConfigError::InvalidValue {
        key: SASL_JAAS_CONFIG.into(),
        value: Secret::HIDDEN.into(),
        allowed: kind.to_string(),
    }
}

fn required_option<'a>(jaas: &'a JaasConfig, name: &str) -> Result<&'a str, ConfigError> {
    jaas.option(name).ok_or_else(|| ConfigError::Missing {
        key: SASL_JAAS_CONFIG.into(),
        hint: format!("the {} needs a {name} option", jaas.login_module()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="hunter2";"#;
    const SCRAM_JAAS: &str = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="hunter2";"#;
    const OAUTH_JAAS: &str = r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";"#;

    fn err(mechanism: &str, jaas: Option<&str>) -> ConfigError {
        match SaslConfig::from_parts(mechanism, jaas, None) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn each_mechanism_is_built_from_its_login_module() {
        for (mechanism, jaas) in [
            ("PLAIN", PLAIN_JAAS),
            ("SCRAM-SHA-256", SCRAM_JAAS),
            ("SCRAM-SHA-512", SCRAM_JAAS),
            ("OAUTHBEARER", OAUTH_JAAS),
        ] {
            let config = SaslConfig::from_parts(mechanism, Some(jaas), None).unwrap();
            assert_eq!(config.mechanism(), mechanism);
            let m = config.new_mechanism(SystemTime::now());
            assert_eq!(m.name(), mechanism);
            let debug = format!("{config:?} {m:?}");
            assert!(!debug.contains("hunter2"), "{debug}");
        }
    }

    #[test]
    fn gssapi_is_refused_as_unsupported() {
        let e = err(
            "GSSAPI",
            Some("com.sun.security.auth.module.Krb5LoginModule required;"),
        );
        assert!(
            matches!(&e, ConfigError::Unsupported { key, reason } if key == "sasl.mechanism" && reason.contains("Kerberos")),
            "{e}"
        );
    }

    #[test]
    fn unknown_mechanisms_are_refused_naming_the_key() {
        let e = err("DIGEST-MD5", Some(PLAIN_JAAS));
        assert!(
            matches!(&e, ConfigError::InvalidValue { key, .. } if key == "sasl.mechanism"),
            "{e}"
        );
        let e = err("scram-sha-256", Some(SCRAM_JAAS));
        assert!(
            e.to_string().contains("case-sensitive: SCRAM-SHA-256"),
            "{e}"
        );
    }

    #[test]
    fn the_login_module_must_match_the_mechanism() {
        let e = err("SCRAM-SHA-256", Some(PLAIN_JAAS));
        assert!(
            matches!(&e, ConfigError::Conflict { key, reason } if key == "sasl.jaas.config" && reason.contains("ScramLoginModule")),
            "{e}"
        );
        let e = err("PLAIN", Some("com.example.MyLoginModule required;"));
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e}");
    }

    #[test]
    fn required_options_and_the_jaas_config_must_be_present() {
        let e = err("PLAIN", None);
        assert!(
            matches!(&e, ConfigError::Missing { key, .. } if key == "sasl.jaas.config"),
            "{e}"
        );
        let e = err(
            "SCRAM-SHA-512",
            Some(
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice";"#,
            ),
        );
        assert!(e.to_string().contains("password"), "{e}");
        let e = err(
            "PLAIN",
            Some(
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required password="hunter2";"#,
            ),
        );
        assert!(e.to_string().contains("username"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        // OAUTHBEARER without a provider needs unsecured-login options.
        let e = err(
            "OAUTHBEARER",
            Some("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"),
        );
        assert!(e.to_string().contains("OAuthBearerTokenProvider"), "{e}");
        assert!(matches!(
            err("OAUTHBEARER", None),
            ConfigError::Missing { .. }
        ));
    }

    #[test]
    fn a_malformed_jaas_config_is_refused_without_its_values() {
        let e = err(
            "PLAIN",
            Some(
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="hunter2""#,
            ),
        );
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("sasl.jaas.config"), "{shown}");
        assert!(shown.contains("semi-colon"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn scram_tokenauth_is_read_case_insensitively() {
        let jaas = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="id" password="hmac" tokenauth="TRUE";"#;
        let config = SaslConfig::from_parts("SCRAM-SHA-256", Some(jaas), None).unwrap();
        let first = config.new_mechanism(SystemTime::now()).start().unwrap();
        let first = String::from_utf8(first).unwrap();
        assert!(first.ends_with(",tokenauth=true"), "{first}");
    }

    #[test]
    fn a_token_provider_needs_no_jaas_config() {
        #[derive(Debug)]
        struct Fixed;
        impl OAuthBearerTokenProvider for Fixed {
            fn token(&self, now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
                Ok(OAuthBearerToken::new(
                    "abc.def.ghi",
                    now + std::time::Duration::from_secs(60),
                    "alice",
                ))
            }
        }
        let config = SaslConfig::from_parts("OAUTHBEARER", None, Some(Arc::new(Fixed))).unwrap();
        let first = config.new_mechanism(SystemTime::now()).start().unwrap();
        assert_eq!(first, b"n,,\x01auth=Bearer abc.def.ghi\x01\x01");
        // A JAAS config given with a provider must still be OAUTHBEARER's.
        let e = SaslConfig::from_parts("OAUTHBEARER", Some(PLAIN_JAAS), Some(Arc::new(Fixed)))
            .unwrap_err();
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e}");
    }

    #[test]
    fn server_messages_are_quoted_short_and_escaped() {
        assert_eq!(quote_server_message(b"a\x01b"), "\"a\\u{1}b\"");
        let long = vec![b'x'; 300];
        let q = quote_server_message(&long);
        assert!(q.ends_with("...\"") && q.len() < 210, "{q}");
    }
}
