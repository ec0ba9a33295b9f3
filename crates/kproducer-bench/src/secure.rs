//! The ack sink's security: TLS material generated at start ([`SinkTls`]: a self-signed CA and a
//! server certificate for `127.0.0.1` and `localhost`, served with rustls on ring) and the
//! server side of SASL/SCRAM-SHA-256 (RFC 5802/7677, [`ScramServer`]), plus [`Security`], how a
//! client under test reaches such a sink.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use kproducer_testkit::{ServerCertificate, SERVER_NAMES};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

/// How a client under test connects to the sink: plaintext, TLS trusting `ca_file`, and/or
/// SASL/SCRAM-SHA-256 with a user name and password. Passed to the client subprocesses as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Security {
    /// TLS, trusting this CA certificate (PEM file).
    pub ca_file: Option<PathBuf>,
    /// SASL/SCRAM-SHA-256 as `(user, password)`.
    pub scram: Option<(String, String)>,
}

impl Security {
    /// A short name: `plaintext`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
    pub fn protocol(&self) -> &'static str {
        match (&self.ca_file, &self.scram) {
            (None, None) => "PLAINTEXT",
            (Some(_), None) => "SSL",
            (None, Some(_)) => "SASL_PLAINTEXT",
            (Some(_), Some(_)) => "SASL_SSL",
        }
    }

    /// kproducer's settings (Java's keys): `security.protocol`, the CA as a PEM trust store,
    /// SCRAM through `sasl.jaas.config`.
    pub fn kproducer_settings(&self) -> Vec<(&'static str, String)> {
        let mut s = vec![("security.protocol", self.protocol().to_string())];
        if let Some(ca) = &self.ca_file {
            s.push(("ssl.truststore.type", "PEM".into()));
            s.push(("ssl.truststore.location", ca.display().to_string()));
        }
        if let Some((user, password)) = &self.scram {
            s.push(("sasl.mechanism", SCRAM_MECHANISM.into()));
            s.push((
                "sasl.jaas.config",
                format!(
                    "org.apache.kafka.common.security.scram.ScramLoginModule required \
                     username=\"{user}\" password=\"{password}\";"
                ),
            ));
        }
        s
    }

    /// librdkafka's settings: `security.protocol`, `ssl.ca.location`, `sasl.*`.
    pub fn rdkafka_settings(&self) -> Vec<(&'static str, String)> {
        let mut s = vec![("security.protocol", self.protocol().to_lowercase())];
        if let Some(ca) = &self.ca_file {
            s.push(("ssl.ca.location", ca.display().to_string()));
        }
        if let Some((user, password)) = &self.scram {
            s.push(("sasl.mechanisms", SCRAM_MECHANISM.into()));
            s.push(("sasl.username", user.clone()));
            s.push(("sasl.password", password.clone()));
        }
        s
    }
}

/// The one SASL mechanism the sink speaks.
pub const SCRAM_MECHANISM: &str = "SCRAM-SHA-256";
/// PBKDF2 iterations of the sink's SCRAM credentials (Kafka's minimum and the common setting).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// TLS material of a sink: the CA (PEM, also written to a temporary file for the clients) and
/// the acceptor serving the server certificate (ECDSA P-256, `127.0.0.1` and `localhost`).
pub struct SinkTls {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// [`ca_pem`](Self::ca_pem) as a file (in a temporary directory removed with this value).
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
    pub(crate) acceptor: TlsAcceptor,
}

impl SinkTls {
    /// Generates a CA and a server certificate signed by it, valid 2020–2100 (the testkit's
    /// [`ServerCertificate`]).
    pub fn generate() -> Result<SinkTls> {
        let cert = ServerCertificate::generate(SERVER_NAMES)
            .context("generating the sink's CA and server certificate")?;
        let chain = cert
            .chain_der
            .into_iter()
            .map(CertificateDer::from)
            .collect();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8_der));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .context("the server certificate")?;

        let dir = tempfile::tempdir().context("a directory for the sink's CA")?;
        let ca_file = dir.path().join("ca.pem");
        let ca_pem = cert.ca_pem;
        std::fs::write(&ca_file, &ca_pem)
            .with_context(|| format!("writing {}", ca_file.display()))?;
        Ok(SinkTls {
            ca_pem,
            ca_file,
            _dir: dir,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// The server side of SCRAM-SHA-256 for one user; as a broker, it keeps only the salt, the
/// iteration count, `StoredKey` and `ServerKey` (computed once at start).
pub struct ScramServer {
    user: String,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: hmac::Key,
    rng: SystemRandom,
}

/// A SCRAM exchange between the server's first and final messages.
pub struct ScramExchange {
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    /// Credentials for `user`/`password` with a random salt and [`SCRAM_ITERATIONS`].
    pub fn new(user: &str, password: &str) -> Result<ScramServer> {
        let rng = SystemRandom::new();
        let mut salt = vec![0u8; 16];
        rng.fill(&mut salt).map_err(|_| anyhow!("no randomness"))?;
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(SCRAM_ITERATIONS).ok_or_else(|| anyhow!("iterations"))?,
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let salted = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, client_key.as_ref())
            .as_ref()
            .to_vec();
        let server_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&salted, b"Server Key").as_ref(),
        );
        Ok(ScramServer {
            user: user.to_string(),
            salt,
            stored_key,
            server_key,
            rng,
        })
    }

    /// Answers the client's first message (`n,,n=user,r=nonce`) with the server's first.
    pub fn first(&self, client_first: &[u8]) -> Result<(ScramExchange, Vec<u8>)> {
        let msg = std::str::from_utf8(client_first).context("client-first: not UTF-8")?;
        let mut parts = msg.splitn(3, ',');
        let (Some(cbind), Some(_authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("client-first: no GS2 header");
        };
        if cbind != "n" && cbind != "y" {
            bail!("client-first: channel binding {cbind:?} not supported");
        }
        let gs2_header = msg[..msg.len() - bare.len()].to_string();
        let (mut user, mut client_nonce) = (None, None);
        for attr in bare.split(',') {
            if let Some(v) = attr.strip_prefix("n=") {
                user = Some(v.replace("=2C", ",").replace("=3D", "="));
            } else if let Some(v) = attr.strip_prefix("r=") {
                client_nonce = Some(v);
            }
        }
        let user = user.ok_or_else(|| anyhow!("client-first: no user name"))?;
        let client_nonce = client_nonce.ok_or_else(|| anyhow!("client-first: no nonce"))?;
        if user != self.user {
            bail!("unknown user {user:?}");
        }
        let mut ours = [0u8; 18];
        self.rng
            .fill(&mut ours)
            .map_err(|_| anyhow!("no randomness"))?;
        let nonce = format!("{client_nonce}{}", B64.encode(ours));
        let server_first = format!(
            "r={nonce},s={},i={SCRAM_ITERATIONS}",
            B64.encode(&self.salt)
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            ScramExchange {
                gs2_header,
                client_first_bare: bare.to_string(),
                server_first,
                nonce,
            },
            reply,
        ))
    }

    /// Checks the client's proof in its final message and answers with the server signature.
    pub fn finish(&self, ex: &ScramExchange, client_final: &[u8]) -> Result<Vec<u8>> {
        let msg = std::str::from_utf8(client_final).context("client-final: not UTF-8")?;
        let cut = msg
            .rfind(",p=")
            .ok_or_else(|| anyhow!("client-final: no proof"))?;
        let (without_proof, proof) = (&msg[..cut], &msg[cut + 3..]);
        let (mut binding, mut nonce) = (None, None);
        for attr in without_proof.split(',') {
            if let Some(v) = attr.strip_prefix("c=") {
                binding = Some(v);
            } else if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if nonce != Some(ex.nonce.as_str()) {
            bail!("client-final: nonce mismatch");
        }
        let binding = B64
            .decode(binding.ok_or_else(|| anyhow!("client-final: no channel binding"))?)
            .context("client-final: channel binding")?;
        if binding != ex.gs2_header.as_bytes() {
            bail!("client-final: channel binding differs from the GS2 header");
        }
        let proof = B64.decode(proof).context("client-final: proof")?;
        let auth_message = format!(
            "{},{},{without_proof}",
            ex.client_first_bare, ex.server_first
        );
        let stored = hmac::Key::new(hmac::HMAC_SHA256, &self.stored_key);
        let signature = hmac::sign(&stored, auth_message.as_bytes());
        if proof.len() != signature.as_ref().len() {
            bail!("client-final: proof length");
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        if digest::digest(&digest::SHA256, &client_key).as_ref() != self.stored_key.as_slice() {
            bail!("wrong password");
        }
        let server_signature = hmac::sign(&self.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature.as_ref())).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client side computed independently, step by step from RFC 5802.
    fn client_final(
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, Vec<u8>) {
        let mut salt = None;
        let mut nonce = None;
        let mut iterations = None;
        for a in server_first.split(',') {
            match a.split_at(2) {
                ("r=", v) => nonce = Some(v.to_string()),
                ("s=", v) => salt = Some(B64.decode(v).unwrap()),
                ("i=", v) => iterations = Some(v.parse::<u32>().unwrap()),
                _ => {}
            }
        }
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations.unwrap()).unwrap(),
            &salt.unwrap(),
            password.as_bytes(),
            &mut salted,
        );
        let salted = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored = digest::digest(&digest::SHA256, client_key.as_ref());
        let without_proof = format!("c=biws,r={}", nonce.unwrap());
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, stored.as_ref()),
            auth.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(sig.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        let server_sig = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()),
            auth.as_bytes(),
        );
        (
            format!("{without_proof},p={}", B64.encode(proof)),
            server_sig.as_ref().to_vec(),
        )
    }

    #[test]
    fn a_scram_exchange_succeeds_with_the_password_only() {
        let server = ScramServer::new("bench", "bench-secret").unwrap();
        let first = "n,,n=bench,r=fyko+d2lbbFgONRv9qkxdawL";
        let (ex, reply) = server.first(first.as_bytes()).unwrap();
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        let (fin, server_sig) = client_final("bench-secret", &first[3..], &reply);
        let last = server.finish(&ex, fin.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            format!("v={}", B64.encode(server_sig))
        );
        let (bad, _) = client_final("wrong", &first[3..], &reply);
        assert!(server.finish(&ex, bad.as_bytes()).is_err());
        assert!(server.first(b"n,,n=someone,r=abc").is_err());
    }

    #[test]
    fn security_settings_name_the_protocol() {
        let s = Security {
            ca_file: Some("/tmp/ca.pem".into()),
            scram: Some(("u".into(), "p".into())),
        };
        assert_eq!(s.protocol(), "SASL_SSL");
        assert!(s
            .rdkafka_settings()
            .contains(&("security.protocol", "sasl_ssl".into())));
        assert!(s
            .kproducer_settings()
            .contains(&("ssl.truststore.type", "PEM".into())));
        assert_eq!(Security::default().protocol(), "PLAINTEXT");
    }
}
