//! SASL/PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` in one message, with the empty
//! authorization id that Java's client sends. Send it over TLS only: the password goes as is.

use super::{quote_server_message, SaslError, SaslMechanism, SaslStep};
use crate::security::secret::Secret;

pub(crate) const NAME: &str = "PLAIN";

/// One PLAIN exchange.
#[derive(Debug)]
pub(crate) struct PlainMechanism {
    username: String,
    password: Secret,
    sent: bool,
    complete: bool,
}

impl PlainMechanism {
    pub(crate) fn new(username: String, password: Secret) -> Self {
        PlainMechanism {
            username,
            password,
            sent: false,
            complete: false,
        }
    }
}

impl SaslMechanism for PlainMechanism {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self) -> Result<Vec<u8>, SaslError> {
        let (user, pass) = (self.username.as_bytes(), self.password.expose().as_bytes());
        let mut message = Vec::with_capacity(2 + user.len() + pass.len());
        // Empty authzid: the broker then authorizes as the authenticated user.
        message.push(0);
        message.extend_from_slice(user);
        message.push(0);
        message.extend_from_slice(pass);
        self.sent = true;
        Ok(message)
    }

    fn step(&mut self, server: &[u8]) -> Result<SaslStep, SaslError> {
        // Kafka's PlainSaslServer answers a good password with no bytes, and a bad one with a
        // SaslAuthenticate error (which never reaches the mechanism).
        if !self.sent || self.complete || !server.is_empty() {
            return Err(SaslError::BadServerMessage {
                mechanism: NAME,
                reason: format!(
                    "unexpected message {} (PLAIN has one client message and an empty answer)",
                    quote_server_message(server)
                ),
            });
        }
        self.complete = true;
        Ok(SaslStep::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_sends_empty_authzid_user_and_password() {
        let mut m = PlainMechanism::new("alice".into(), Secret::new("pen cil"));
        assert_eq!(m.start().unwrap(), b"\0alice\0pen cil");
        assert_eq!(m.step(b"").unwrap(), SaslStep::Complete);
        assert!(!format!("{m:?}").contains("pen cil"));
    }

    #[test]
    fn unexpected_server_messages_are_protocol_errors() {
        let mut m = PlainMechanism::new("alice".into(), Secret::new("p"));
        assert!(matches!(
            m.step(b""),
            Err(SaslError::BadServerMessage { .. })
        ));
        m.start().unwrap();
        assert!(matches!(
            m.step(b"x"),
            Err(SaslError::BadServerMessage { .. })
        ));
        let mut m = PlainMechanism::new("alice".into(), Secret::new("p"));
        m.start().unwrap();
        m.step(b"").unwrap();
        assert!(matches!(
            m.step(b""),
            Err(SaslError::BadServerMessage { .. })
        ));
    }
}
