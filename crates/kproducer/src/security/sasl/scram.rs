//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the client side as Kafka's
//! `ScramSaslClient` and `ScramFormatter` do it: gs2 header `n,,` (no channel binding, no
//! authzid), the password as UTF-8 without SASLprep, a random alphanumeric nonce, at least 4096
//! iterations, and the broker's signature checked before the exchange counts as complete.
//!
//! ```text
//! client-first  n,,n=<user with = and , escaped>,r=<client nonce>[,tokenauth=true]
//! server-first  r=<client nonce + server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 proof>
//! server-final  v=<base64 server signature>   or   e=<error>
//! ```

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use hmac::digest::block_api::EagerHash;
use hmac::{Hmac, KeyInit, Mac};
use rand::distr::Alphanumeric;
use rand::Rng;
use sha2::Digest;

use super::{quote_server_message, SaslError, SaslMechanism, SaslStep};
use crate::security::secret::Secret;

/// Java's `ScramMechanism.minIterations()` (the same for both hashes): the client refuses a
/// broker that asks for fewer, which would make a captured exchange cheap to brute-force.
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// The most a Kafka broker stores (`ScramMechanism`'s maximum): a higher count can only come from
/// a hostile broker, and would stall the network thread in PBKDF2.
pub(crate) const MAX_ITERATIONS: u32 = 16384;

/// Length of the client nonce: 32 alphanumeric characters, 190 bits (Java sends 130 random
/// bits in base 36).
const NONCE_LEN: usize = 32;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
    /// RFC 5802's own example uses SHA-1; only the tests check against it.
    #[cfg(test)]
    Sha1,
}

impl ScramHash {
    pub(crate) fn mechanism_name(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
            #[cfg(test)]
            ScramHash::Sha1 => "SCRAM-SHA-1",
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with HMAC, one block of the hash's length.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => hi::<sha2::Sha256>(password, salt, iterations),
            ScramHash::Sha512 => hi::<sha2::Sha512>(password, salt, iterations),
            #[cfg(test)]
            ScramHash::Sha1 => hi::<sha1::Sha1>(password, salt, iterations),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => mac::<sha2::Sha256>(key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
            ScramHash::Sha512 => mac::<sha2::Sha512>(key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
            #[cfg(test)]
            ScramHash::Sha1 => mac::<sha1::Sha1>(key, data)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Whether `tag` is HMAC(key, data), compared in constant time.
    fn verify_hmac(self, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        match self {
            ScramHash::Sha256 => mac::<sha2::Sha256>(key, data).verify_slice(tag).is_ok(),
            ScramHash::Sha512 => mac::<sha2::Sha512>(key, data).verify_slice(tag).is_ok(),
            #[cfg(test)]
            ScramHash::Sha1 => mac::<sha1::Sha1>(key, data).verify_slice(tag).is_ok(),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => sha2::Sha512::digest(data).to_vec(),
            #[cfg(test)]
            ScramHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
        }
    }
}

fn hi<D: EagerHash + Digest>(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0; <D as Digest>::output_size()];
    pbkdf2::pbkdf2_hmac::<D>(password, salt, iterations, &mut out);
    out
}

fn mac<D: EagerHash>(key: &[u8], data: &[u8]) -> Hmac<D> {
    let mut mac = match <Hmac<D> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC hashes a long key and pads a short one: every length is accepted.
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac
}

/// base64 as Java's decoder reads SCRAM's (strictly padded, by the message's regular
/// expression, checked before decoding) but without refusing non-zero trailing bits, which
/// Java's decoder ignores.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Java's `BASE64` pattern, `(?:[a-zA-Z0-9/+]{4})*(?:[a-zA-Z0-9/+]{3}=|[a-zA-Z0-9/+]{2}==)?`,
/// then decoded. Empty is valid (an empty salt).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let body = text.trim_end_matches('=');
    let pad = bytes.len() - body.len();
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    if pad > 2 || !body.bytes().all(b64) {
        return None;
    }
    BASE64_LENIENT.decode(text).ok()
}

/// Java's `ScramFormatter.saslName`: `=` → `=3D`, then `,` → `=2C`.
fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// `[\x01-\x7F]` without the characters in `except`, at least one (Java's `VALUE`,
/// `VALUE_SAFE`).
fn is_value(text: &str, except: &[u8]) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| (0x01..=0x7F).contains(&b) && !except.contains(&b))
}

/// Java's `(,[A-Za-z]+=VALUE)*` extensions, already split at commas.
fn are_extensions<'a>(mut parts: impl Iterator<Item = &'a str>) -> bool {
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) => {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic()) && is_value(v, b",")
        }
        None => false,
    })
}

/// The parts of a server-first message the client uses.
struct ServerFirst {
    nonce: String,
    salt: Vec<u8>,
    iterations: u32,
}

/// Parses `[m=VALUE,]r=PRINTABLE,s=BASE64,i=[0-9]+(,ALPHA=VALUE)*` as Java's
/// `ServerFirstMessage` pattern does (no field value may contain a comma, so splitting at
/// commas is exact).
fn parse_server_first(message: &str) -> Result<ServerFirst, String> {
    let mut parts = message.split(',').peekable();
    if let Some(reserved) = parts.peek().and_then(|p| p.strip_prefix("m=")) {
        // Java matches and ignores a mandatory extension.
        if !is_value(reserved, b",") {
            return Err("invalid m= attribute".into());
        }
        parts.next();
    }
    let nonce = parts
        .next()
        .and_then(|p| p.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7E).contains(&b)))
        .ok_or("missing or invalid r= (nonce)")?;
    let salt = parts
        .next()
        .and_then(|p| p.strip_prefix("s="))
        .and_then(decode_base64)
        .ok_or("missing or invalid s= (salt)")?;
    let iterations = parts
        .next()
        .and_then(|p| p.strip_prefix("i="))
        .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("missing or invalid i= (iteration count)")?;
    // Java's Integer.parseInt, then `iterations <= 0` refused.
    let iterations = iterations
        .parse::<i32>()
        .ok()
        .filter(|&i| i > 0)
        .ok_or_else(|| format!("invalid iterations {iterations}"))?;
    if !are_extensions(parts) {
        return Err("invalid extensions after i=".into());
    }
    Ok(ServerFirst {
        nonce: nonce.to_string(),
        salt,
        iterations: iterations.unsigned_abs(),
    })
}

enum State {
    Initial,
    AwaitServerFirst {
        client_first_bare: String,
    },
    AwaitServerFinal {
        server_key: Vec<u8>,
        auth_message: Vec<u8>,
    },
    Complete,
    Failed,
}

/// One SCRAM exchange.
pub(crate) struct ScramMechanism {
    hash: ScramHash,
    username: String,
    password: Secret,
    token_auth: bool,
    nonce: Option<String>,
    state: State,
}

impl std::fmt::Debug for ScramMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Initial => "initial",
            State::AwaitServerFirst { .. } => "awaiting server-first",
            State::AwaitServerFinal { .. } => "awaiting server-final",
            State::Complete => "complete",
            State::Failed => "failed",
        };
        f.debug_struct("ScramMechanism")
            .field("mechanism", &self.hash.mechanism_name())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("token_auth", &self.token_auth)
            .field("state", &state)
            .finish()
    }
}

impl ScramMechanism {
    pub(crate) fn new(
        hash: ScramHash,
        username: String,
        password: Secret,
        token_auth: bool,
    ) -> Self {
        ScramMechanism {
            hash,
            username,
            password,
            token_auth,
            nonce: None,
            state: State::Initial,
        }
    }

    /// With a fixed client nonce, for the RFCs' examples.
    #[cfg(test)]
    fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Self {
        let mut m = ScramMechanism::new(hash, username.into(), Secret::new(password), false);
        m.nonce = Some(nonce.into());
        m
    }

    fn bad(&self, reason: impl Into<String>) -> SaslError {
        SaslError::BadServerMessage {
            mechanism: self.hash.mechanism_name(),
            reason: reason.into(),
        }
    }

    /// server-first → client-final, and what server-final must be checked against.
    fn client_final(
        &mut self,
        client_first_bare: &str,
        server: &[u8],
    ) -> Result<Vec<u8>, SaslError> {
        let text = std::str::from_utf8(server).map_err(|_| {
            self.bad(format!(
                "server-first message is not UTF-8: {}",
                quote_server_message(server)
            ))
        })?;
        let first = parse_server_first(text).map_err(|reason| {
            self.bad(format!(
                "server-first message {}: {reason}",
                quote_server_message(server)
            ))
        })?;
        let client_nonce = self.nonce.as_deref().unwrap_or_default();
        if !first.nonce.starts_with(client_nonce) {
            return Err(self.bad("invalid server nonce: does not start with client nonce"));
        }
        if first.iterations < MIN_ITERATIONS {
            return Err(self.bad(format!(
                "requested iterations {} is less than the minimum {MIN_ITERATIONS} for {}",
                first.iterations,
                self.hash.mechanism_name()
            )));
        }
        if first.iterations > MAX_ITERATIONS {
            return Err(self.bad(format!(
                "requested iterations {} is more than Kafka's maximum {MAX_ITERATIONS}",
                first.iterations
            )));
        }
        let hash = self.hash;
        // Java's ScramFormatter.normalize: UTF-8 bytes, no SASLprep.
        let salted = hash.hi(
            self.password.expose().as_bytes(),
            &first.salt,
            first.iterations,
        );
        // "biws" is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={}", first.nonce);
        // Java builds AuthMessage from the server-first it re-serializes (r, s, i only): the
        // same bytes as the broker's for a Kafka broker, which sends nothing else.
        let auth_message = format!(
            "{client_first_bare},r={},s={},i={},{without_proof}",
            first.nonce,
            STANDARD.encode(&first.salt),
            first.iterations
        )
        .into_bytes();
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        let signature = hash.hmac(&stored_key, &auth_message);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.state = State::AwaitServerFinal {
            server_key: hash.hmac(&salted, b"Server Key"),
            auth_message,
        };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Checks server-final: `e=<error>` or `v=<signature>[,extensions]`.
    fn server_final(
        &self,
        server_key: &[u8],
        auth_message: &[u8],
        server: &[u8],
    ) -> Result<(), SaslError> {
        let mechanism = self.hash.mechanism_name();
        let invalid = || {
            self.bad(format!(
                "server-final message {}",
                quote_server_message(server)
            ))
        };
        let text = std::str::from_utf8(server).map_err(|_| invalid())?;
        if let Some(error) = text.strip_prefix("e=") {
            if !is_value(error, b"=,") {
                return Err(invalid());
            }
            return Err(SaslError::AuthenticationFailed {
                mechanism,
                message: format!("server error {error}"),
            });
        }
        let mut parts = text.split(',');
        let signature = parts
            .next()
            .and_then(|p| p.strip_prefix("v="))
            .and_then(decode_base64)
            .ok_or_else(invalid)?;
        if !are_extensions(parts) {
            return Err(invalid());
        }
        if !self.hash.verify_hmac(server_key, auth_message, &signature) {
            return Err(SaslError::ServerSignatureMismatch { mechanism });
        }
        Ok(())
    }
}

impl SaslMechanism for ScramMechanism {
    fn name(&self) -> &'static str {
        self.hash.mechanism_name()
    }

    fn start(&mut self) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, State::Initial) {
            return Err(self.bad("the exchange has already started"));
        }
        let nonce = self
            .nonce
            .get_or_insert_with(|| {
                rand::rng()
                    .sample_iter(&Alphanumeric)
                    .take(NONCE_LEN)
                    .map(char::from)
                    .collect()
            })
            .clone();
        let mut bare = format!("n={},r={nonce}", sasl_name(&self.username));
        if self.token_auth {
            // ScramLoginModule's only extension: authenticate with a delegation token.
            bare.push_str(",tokenauth=true");
        }
        let message = format!("n,,{bare}").into_bytes();
        self.state = State::AwaitServerFirst {
            client_first_bare: bare,
        };
        Ok(message)
    }

    fn step(&mut self, server: &[u8]) -> Result<SaslStep, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let result = match &state {
            State::AwaitServerFirst { client_first_bare } => self
                .client_final(client_first_bare, server)
                .map(SaslStep::Respond),
            State::AwaitServerFinal {
                server_key,
                auth_message,
            } => self
                .server_final(server_key, auth_message, server)
                .map(|()| {
                    self.state = State::Complete;
                    SaslStep::Complete
                }),
            State::Initial | State::Complete | State::Failed => Err(self.bad(format!(
                "unexpected message {} before start or after the exchange ended",
                quote_server_message(server)
            ))),
        };
        // client_final() and server_final() set the next state; every error leaves Failed.
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 section 3.
    const SHA256_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SHA256_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SHA256_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn sha256_rfc() -> ScramMechanism {
        ScramMechanism::with_nonce(ScramHash::Sha256, "user", "pencil", SHA256_NONCE)
    }

    fn respond(step: SaslStep) -> String {
        match step {
            SaslStep::Respond(bytes) => String::from_utf8(bytes).unwrap(),
            SaslStep::Complete => panic!("completed early"),
        }
    }

    #[test]
    fn rfc7677_scram_sha256_exchange() {
        let mut m = sha256_rfc();
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert_eq!(m.start().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let client_final = respond(m.step(SHA256_SERVER_FIRST.as_bytes()).unwrap());
        assert_eq!(client_final, SHA256_CLIENT_FINAL);
        assert_eq!(
            m.step(SHA256_SERVER_FINAL.as_bytes()).unwrap(),
            SaslStep::Complete
        );
        // Nothing follows a completed exchange.
        assert!(matches!(
            m.step(b""),
            Err(SaslError::BadServerMessage { .. })
        ));
    }

    #[test]
    fn rfc5802_scram_sha1_exchange() {
        let mut m = ScramMechanism::with_nonce(
            ScramHash::Sha1,
            "user",
            "pencil",
            "fyko+d2lbbFgONRv9qkxdawL",
        );
        assert_eq!(m.start().unwrap(), b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let client_final = respond(
            m.step(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
                .unwrap(),
        );
        assert_eq!(
            client_final,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert_eq!(
            m.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap(),
            SaslStep::Complete
        );
    }

    #[test]
    fn a_tampered_server_signature_is_rejected() {
        let mut m = sha256_rfc();
        m.start().unwrap();
        m.step(SHA256_SERVER_FIRST.as_bytes()).unwrap();
        let e = m
            .step(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert_eq!(
            e,
            SaslError::ServerSignatureMismatch {
                mechanism: "SCRAM-SHA-256"
            }
        );
        // The exchange is over: even the right signature is now refused.
        assert!(m.step(SHA256_SERVER_FINAL.as_bytes()).is_err());
    }

    #[test]
    fn a_server_nonce_not_extending_ours_is_rejected() {
        let mut m = sha256_rfc();
        m.start().unwrap();
        let e = m
            .step(b"r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap_err();
        assert!(
            matches!(&e, SaslError::BadServerMessage { reason, .. } if reason.contains("nonce")),
            "{e}"
        );
    }

    #[test]
    fn more_than_kafka_s_maximum_iterations_are_refused() {
        let mut m = sha256_rfc();
        m.start().unwrap();
        let e = m
            .step(b"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000")
            .unwrap_err();
        assert!(e.to_string().contains("maximum 16384"), "{e}");
    }

    #[test]
    fn fewer_than_4096_iterations_are_refused() {
        let mut m = sha256_rfc();
        m.start().unwrap();
        let e = m
            .step(b"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095")
            .unwrap_err();
        assert!(
            matches!(&e, SaslError::BadServerMessage { reason, .. } if reason.contains("less than the minimum 4096")),
            "{e}"
        );
    }

    #[test]
    fn a_server_error_is_an_authentication_failure() {
        let mut m = sha256_rfc();
        m.start().unwrap();
        m.step(SHA256_SERVER_FIRST.as_bytes()).unwrap();
        let e = m.step(b"e=invalid-proof").unwrap_err();
        assert_eq!(
            e,
            SaslError::AuthenticationFailed {
                mechanism: "SCRAM-SHA-256",
                message: "server error invalid-proof".into()
            }
        );
        assert!(!e.to_string().contains("pencil"));
    }

    #[test]
    fn malformed_server_messages_are_refused() {
        for server_first in [
            &b""[..],
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,1=x",
            b"r=rOprNGfwEbeRWgbNEkqO x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=rOprNGfwEbeRWgbNEkqO\xff,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ] {
            let mut m = sha256_rfc();
            m.start().unwrap();
            let e = m.step(server_first).unwrap_err();
            assert!(matches!(e, SaslError::BadServerMessage { .. }), "{e}");
        }
        for server_final in [&b"x=1"[..], b"v=abc", b"e=", b"e=a=b", b""] {
            let mut m = sha256_rfc();
            m.start().unwrap();
            m.step(SHA256_SERVER_FIRST.as_bytes()).unwrap();
            let e = m.step(server_final).unwrap_err();
            assert!(matches!(e, SaslError::BadServerMessage { .. }), "{e}");
        }
    }

    #[test]
    fn java_s_optional_parts_of_server_messages_are_accepted() {
        // A reserved m= attribute and extensions after i= (Java's pattern matches both and
        // ignores them; its AuthMessage has r, s and i only).
        let mut m = sha256_rfc();
        m.start().unwrap();
        let first = format!("m=ext,{SHA256_SERVER_FIRST},foo=bar=baz");
        assert_eq!(
            respond(m.step(first.as_bytes()).unwrap()),
            SHA256_CLIENT_FINAL
        );
        let last = format!("{SHA256_SERVER_FINAL},abc=1");
        assert_eq!(m.step(last.as_bytes()).unwrap(), SaslStep::Complete);
    }

    #[test]
    fn usernames_are_escaped_as_java_does() {
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
        assert_eq!(sasl_name("=2C"), "=3D2C");
        let mut m = ScramMechanism::with_nonce(ScramHash::Sha512, "a,b=c", "p", "n0");
        assert_eq!(m.start().unwrap(), b"n,,n=a=2Cb=3Dc,r=n0");
    }

    #[test]
    fn the_random_nonce_is_printable_and_fresh() {
        let first = |_| {
            let mut m = ScramMechanism::new(ScramHash::Sha512, "u".into(), Secret::new("p"), true);
            String::from_utf8(m.start().unwrap()).unwrap()
        };
        let (a, b) = (first(()), first(()));
        assert_ne!(a, b);
        let nonce = a
            .strip_prefix("n,,n=u,r=")
            .and_then(|r| r.strip_suffix(",tokenauth=true"))
            .unwrap();
        assert_eq!(nonce.len(), NONCE_LEN);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()), "{nonce}");
    }

    #[test]
    fn scram_sha512_proof_has_the_hash_length() {
        let mut m = ScramMechanism::with_nonce(ScramHash::Sha512, "user", "pencil", SHA256_NONCE);
        m.start().unwrap();
        let client_final = respond(m.step(SHA256_SERVER_FIRST.as_bytes()).unwrap());
        let proof = client_final.rsplit_once(",p=").unwrap().1;
        assert_eq!(STANDARD.decode(proof).unwrap().len(), 64);
        // SHA-256's signature cannot pass for SHA-512's.
        assert!(matches!(
            m.step(SHA256_SERVER_FINAL.as_bytes()),
            Err(SaslError::ServerSignatureMismatch { .. })
        ));
    }

    #[test]
    fn debug_hides_the_password() {
        let m = sha256_rfc();
        let d = format!("{m:?}");
        assert!(d.contains("user") && !d.contains("pencil"), "{d}");
    }
}
