//! Authentication: SASL client mechanisms (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) and Java's
//! `sasl.jaas.config`.
//!
//! Everything here is pure logic, with no I/O and no clock reads: the connection set-up
//! (SaslHandshake, then SaslAuthenticate round trips) drives a [`SaslMechanism`] made by
//! [`SaslConfig::new_mechanism`] for each connection.
//!
//! - [`Secret`]: a string whose `Debug` and `Display` print `[hidden]`.
//! - [`JaasConfig`]: `sasl.jaas.config`, parsed as Java parses it.
//! - [`sasl`]: the mechanisms, [`SaslConfig`] (checks `sasl.mechanism` and the JAAS options
//!   once) and [`SaslError`].
//! - [`OAuthBearerTokenProvider`]: where OAUTHBEARER tokens come from, implemented by users;
//!   without one, Java's unsecured development tokens from `unsecuredLogin*` JAAS options.
//!
//! GSSAPI (Kerberos) is not supported: it needs the system's C Kerberos libraries.

pub mod jaas;
#[cfg(feature = "oauth")]
pub mod oauth_client;
pub mod sasl;
mod secret;

pub use jaas::{ControlFlag, JaasConfig, JaasError, JaasErrorKind, LoginModuleKind};
pub use sasl::{
    OAuthBearerToken, OAuthBearerTokenProvider, SaslConfig, SaslError, SaslMechanism, SaslStep,
    TokenProviderError,
};
pub use secret::{Password, Secret};
