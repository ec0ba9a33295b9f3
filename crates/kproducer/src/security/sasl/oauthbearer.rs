//! SASL/OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslClient` speaks it, the token
//! provider users implement, and Java's unsecured development tokens
//! (`OAuthBearerUnsecuredLoginCallbackHandler`).
//!
//! ```text
//! client-first  n,,\x01auth=Bearer <token>[\x01<key>=<value>]*\x01\x01
//! server        (empty: success)  or  {"status":"invalid_token",...} (failure)
//! client        \x01              (acknowledges the failure; the broker then answers with an error)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{quote_server_message, SaslError, SaslMechanism, SaslStep};
use crate::security::secret::Secret;

pub(crate) const NAME: &str = "OAUTHBEARER";

/// RFC 7628's separator, Ctrl-A.
const SEP: char = '\u{1}';

/// What a token provider's failure carries: any error. Its message ends up in
/// [`SaslError::TokenUnavailable`], so it must not contain a secret.
pub type TokenProviderError = Box<dyn std::error::Error + Send + Sync>;

/// An OAuth 2 bearer token for SASL/OAUTHBEARER (Java's `OAuthBearerToken`).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use kproducer::security::OAuthBearerToken;
///
/// let now = SystemTime::now();
/// let token = OAuthBearerToken::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", now + Duration::from_secs(3600), "alice");
/// assert_eq!(token.principal, "alice");
/// assert_eq!(format!("{:?}", token.value), "[hidden]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthBearerToken {
    /// The compact serialization sent to the broker (a JWT for Kafka's validators).
    pub value: Secret,
    /// When the token expires. A token past it is not sent.
    pub lifetime: SystemTime,
    /// The principal the token names (for logs; the broker reads it from the token).
    pub principal: String,
}

impl OAuthBearerToken {
    /// A token `value` valid until `lifetime`, for `principal`.
    pub fn new(
        value: impl Into<Secret>,
        lifetime: SystemTime,
        principal: impl Into<String>,
    ) -> Self {
        OAuthBearerToken {
            value: value.into(),
            lifetime,
            principal: principal.into(),
        }
    }
}

/// Where OAUTHBEARER tokens come from (Java's login callback handler): an identity provider's
/// client, a file, a cloud SDK's credentials.
///
/// The producer calls [`token`](Self::token) on its network thread for each new connection, so
/// it must not block for long: cache the token and refresh it ahead of its expiry (in the
/// background, as Java's refreshing login does around 80% of the lifetime), and return the
/// cached one here. A returned token must still be valid at `now`.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::{Duration, SystemTime};
/// use kproducer::security::{OAuthBearerToken, OAuthBearerTokenProvider, TokenProviderError};
///
/// /// Hands out a token that a background task refreshes.
/// struct Cached(Mutex<Option<OAuthBearerToken>>);
///
/// impl OAuthBearerTokenProvider for Cached {
///     fn token(&self, now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
///         let guard = self.0.lock().map_err(|_| "token cache poisoned")?;
///         match guard.as_ref() {
///             Some(t) if t.lifetime > now => Ok(t.clone()),
///             _ => Err("no fresh token yet".into()),
///         }
///     }
/// }
///
/// let now = SystemTime::now();
/// let p = Cached(Mutex::new(Some(OAuthBearerToken::new("a.b.c", now + Duration::from_secs(60), "svc"))));
/// assert_eq!(p.token(now)?.principal, "svc");
/// # Ok::<(), TokenProviderError>(())
/// ```
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// The token to authenticate with at `now`.
    fn token(&self, now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError>;

    /// SASL extensions to send with the token (RFC 7628 `key=value` pairs; names of letters
    /// only, not `auth`; values printable ASCII, space, tab or line breaks). None by default.
    fn extensions(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// RFC 7628's `key`: `[A-Za-z]+`, and not `auth` (Kafka's `validateExtensions`).
fn valid_extension_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()) && name != "auth"
}

/// RFC 7628's `value`: `[\x21-\x7E \t\r\n]+`.
fn valid_extension_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Checks extensions, naming a bad one by its name only.
fn check_extensions(extensions: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in extensions {
        if !valid_extension_name(name) {
            return Err(format!(
                "SASL extension name {name:?} is invalid (letters only, and not auth)"
            ));
        }
        if !valid_extension_value(value) {
            return Err(format!(
                "the value of SASL extension {name} is invalid (printable ASCII, space, tab or line breaks, not empty)"
            ));
        }
    }
    Ok(())
}

/// RFC 6750's `b64token`, what a bearer token may be: `1*(ALPHA / DIGIT / "-" / "." / "_" /
/// "~" / "+" / "/") *"="`. Anything else would break the message's framing or the broker's
/// `auth` pattern.
fn valid_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

enum State {
    Initial,
    AwaitServer,
    AfterFailure,
    Complete,
    Failed,
}

/// One OAUTHBEARER exchange.
pub(crate) struct OAuthBearerMechanism {
    provider: Arc<dyn OAuthBearerTokenProvider>,
    now: SystemTime,
    state: State,
    /// The broker's error challenge, summarized.
    failure: Option<String>,
}

impl fmt::Debug for OAuthBearerMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Initial => "initial",
            State::AwaitServer => "awaiting the broker",
            State::AfterFailure => "failed, acknowledged",
            State::Complete => "complete",
            State::Failed => "failed",
        };
        f.debug_struct("OAuthBearerMechanism")
            .field("state", &state)
            .field("failure", &self.failure)
            .finish()
    }
}

impl OAuthBearerMechanism {
    pub(crate) fn new(provider: Arc<dyn OAuthBearerTokenProvider>, now: SystemTime) -> Self {
        OAuthBearerMechanism {
            provider,
            now,
            state: State::Initial,
            failure: None,
        }
    }

    fn first_message(&self) -> Result<Vec<u8>, SaslError> {
        let unavailable = |reason: String| SaslError::TokenUnavailable { reason };
        let token = self
            .provider
            .token(self.now)
            .map_err(|e| unavailable(format!("the token provider failed: {e}")))?;
        if token.lifetime <= self.now {
            let ago = self
                .now
                .duration_since(token.lifetime)
                .unwrap_or_default()
                .as_secs();
            return Err(unavailable(format!(
                "the token provider returned a token for {} that expired {ago} s ago",
                token.principal
            )));
        }
        if !valid_b64token(token.value.expose()) {
            return Err(unavailable(format!(
                "the token for {} is not an RFC 6750 bearer token (letters, digits, -._~+/ and trailing =)",
                token.principal
            )));
        }
        let extensions = self.provider.extensions();
        check_extensions(&extensions).map_err(unavailable)?;
        // OAuthBearerClientInitialResponse.toBytes: gs2 header without authzid, then
        // SEP auth=Bearer <token> [SEP key=value]* SEP SEP.
        let mut message = format!("n,,{SEP}auth=Bearer {}", token.value.expose());
        for (k, v) in &extensions {
            message.push(SEP);
            message.push_str(k);
            message.push('=');
            message.push_str(v);
        }
        message.push(SEP);
        message.push(SEP);
        Ok(message.into_bytes())
    }
}

impl SaslMechanism for OAuthBearerMechanism {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, State::Initial) {
            return Err(SaslError::BadServerMessage {
                mechanism: NAME,
                reason: "the exchange has already started".into(),
            });
        }
        let result = self.first_message();
        self.state = if result.is_ok() {
            State::AwaitServer
        } else {
            State::Failed
        };
        result
    }

    fn step(&mut self, server: &[u8]) -> Result<SaslStep, SaslError> {
        match self.state {
            State::AwaitServer if server.is_empty() => {
                self.state = State::Complete;
                Ok(SaslStep::Complete)
            }
            State::AwaitServer => {
                // RFC 7628 3.2.3: the client answers an error challenge with a lone Ctrl-A and
                // the broker then fails the exchange; keep what it said for that error.
                self.failure = Some(describe_error_challenge(server));
                self.state = State::AfterFailure;
                Ok(SaslStep::Respond(vec![0x01]))
            }
            State::AfterFailure => {
                self.state = State::Failed;
                Err(SaslError::AuthenticationFailed {
                    mechanism: NAME,
                    message: self
                        .failure
                        .clone()
                        .unwrap_or_else(|| "the broker refused the token".into()),
                })
            }
            State::Initial | State::Complete | State::Failed => {
                self.state = State::Failed;
                Err(SaslError::BadServerMessage {
                    mechanism: NAME,
                    reason: format!(
                        "unexpected message {} before start or after the exchange ended",
                        quote_server_message(server)
                    ),
                })
            }
        }
    }

    fn failure_context(&self) -> Option<String> {
        self.failure.clone()
    }
}

/// The broker's error challenge (`{"status":"invalid_token","scope":"...",
/// "openid-configuration":"..."}`) as `status invalid_token, scope "..."`, or the raw text
/// quoted when it is not such JSON.
fn describe_error_challenge(server: &[u8]) -> String {
    let members = std::str::from_utf8(server)
        .ok()
        .and_then(json::string_members);
    let Some(members) = members else {
        return format!("error challenge {}", quote_server_message(server));
    };
    let mut parts = Vec::new();
    for key in ["status", "scope", "openid-configuration"] {
        if let Some((_, v)) = members.iter().find(|(k, _)| k == key) {
            parts.push(format!("{key} {v:?}"));
        }
    }
    if parts.is_empty() {
        format!("error challenge {}", quote_server_message(server))
    } else {
        format!("error challenge: {}", parts.join(", "))
    }
}

/// Just enough JSON to read the top-level string members of the broker's error challenge
/// (serde_json is an optional dependency of this crate).
mod json {
    /// The string-valued members of a JSON object, in order; `None` if `text` is not one.
    pub(super) fn string_members(text: &str) -> Option<Vec<(String, String)>> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let mut out = Vec::new();
        p.ws();
        p.eat(b'{')?;
        p.ws();
        if p.peek() == Some(b'}') {
            p.i += 1;
        } else {
            loop {
                p.ws();
                let key = p.string()?;
                p.ws();
                p.eat(b':')?;
                p.ws();
                if p.peek() == Some(b'"') {
                    out.push((key, p.string()?));
                } else {
                    p.value(0)?;
                }
                p.ws();
                match p.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        p.ws();
        (p.i == p.s.len()).then_some(out)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.i += 1;
            Some(b)
        }

        fn eat(&mut self, b: u8) -> Option<()> {
            (self.next()? == b).then_some(())
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.i += 1;
            }
        }

        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out = String::new();
            loop {
                let start = self.i;
                while !matches!(self.peek()?, b'"' | b'\\') {
                    self.i += 1;
                }
                out.push_str(std::str::from_utf8(&self.s[start..self.i]).ok()?);
                if self.next()? == b'"' {
                    return Some(out);
                }
                let c = match self.next()? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                        self.i += 4;
                        // A lone surrogate half becomes U+FFFD: this is for display only.
                        char::from_u32(u32::from_str_radix(hex, 16).ok()?).unwrap_or('\u{FFFD}')
                    }
                    _ => return None,
                };
                out.push(c);
            }
        }

        /// Skips any value; `depth` bounds nesting so a hostile message cannot overflow the stack.
        fn value(&mut self, depth: usize) -> Option<()> {
            if depth > 32 {
                return None;
            }
            match self.peek()? {
                b'"' => self.string().map(drop),
                b'{' | b'[' => {
                    let close = if self.next()? == b'{' { b'}' } else { b']' };
                    self.ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                        return Some(());
                    }
                    loop {
                        self.ws();
                        if close == b'}' {
                            self.string()?;
                            self.ws();
                            self.eat(b':')?;
                            self.ws();
                        }
                        self.value(depth + 1)?;
                        self.ws();
                        match self.next()? {
                            b',' => continue,
                            b if b == close => return Some(()),
                            _ => return None,
                        }
                    }
                }
                _ => {
                    // A number, true, false or null.
                    let start = self.i;
                    while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                    {
                        self.i += 1;
                    }
                    (self.i > start).then_some(())
                }
            }
        }
    }
}

/// Java's `OAuthBearerUnsecuredLoginCallbackHandler` option names.
const OPTION_PREFIX: &str = "unsecuredLogin";
const PRINCIPAL_CLAIM_NAME_OPTION: &str = "unsecuredLoginPrincipalClaimName";
const LIFETIME_SECONDS_OPTION: &str = "unsecuredLoginLifetimeSeconds";
const SCOPE_CLAIM_NAME_OPTION: &str = "unsecuredLoginScopeClaimName";
const STRING_CLAIM_PREFIX: &str = "unsecuredLoginStringClaim_";
const NUMBER_CLAIM_PREFIX: &str = "unsecuredLoginNumberClaim_";
const LIST_CLAIM_PREFIX: &str = "unsecuredLoginListClaim_";
const EXTENSION_PREFIX: &str = "unsecuredLoginExtension_";

/// A claim of an unsecured token, as JSON text.
#[derive(Clone)]
enum Claim {
    String(String),
    /// A finite number, already formatted.
    Number(String),
    List(Vec<String>),
}

/// Java's unsecured OAUTHBEARER login (`OAuthBearerUnsecuredLoginCallbackHandler`): an unsigned
/// JWS (`alg: none`) made from the JAAS options, for brokers that validate with Kafka's
/// unsecured validator (development only). The options are checked once, here; each token
/// gets `iat` and `exp` from the `now` it is made at.
#[derive(Clone)]
pub(crate) struct UnsecuredLogin {
    /// Claims other than `iat` and `exp`, by name.
    claims: BTreeMap<String, Claim>,
    principal: String,
    lifetime_secs: u64,
    extensions: BTreeMap<String, String>,
}

impl fmt::Debug for UnsecuredLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsecuredLogin")
            .field("principal", &self.principal)
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl UnsecuredLogin {
    /// Reads the `unsecuredLogin*` JAAS options. Errors name options, never values.
    pub(crate) fn from_options(options: &BTreeMap<String, Secret>) -> Result<Self, String> {
        let get = |k: &str| options.get(k).map(Secret::expose);
        if options.keys().all(|k| k.starts_with(EXTENSION_PREFIX)) {
            return Err(
                "the unsecured OAUTHBEARER login options give SASL extensions but no token \
                        (set unsecuredLoginStringClaim_sub=\"<principal>\")"
                    .into(),
            );
        }
        // A blank claim-name option means the default, as in Java.
        let claim_name = |option: &str, default: &str| {
            get(option)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
                .to_string()
        };
        let principal_claim = claim_name(PRINCIPAL_CLAIM_NAME_OPTION, "sub");
        let scope_claim = claim_name(SCOPE_CLAIM_NAME_OPTION, "scope");
        // Java's Long.parseLong. Java also takes 0 or a negative count, which makes a token
        // the broker refuses as expired; refused here instead.
        let lifetime_secs = match get(LIFETIME_SECONDS_OPTION) {
            None => 3600,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .and_then(|s| u64::try_from(s).ok())
                .filter(|&s| s > 0)
                .ok_or_else(|| {
                    format!("{LIFETIME_SECONDS_OPTION} must be a positive whole number of seconds")
                })?,
        };

        let mut claims = BTreeMap::new();
        let mut extensions = BTreeMap::new();
        for (key, value) in options {
            let value = value.expose();
            let (name, claim) = if let Some(name) = key.strip_prefix(STRING_CLAIM_PREFIX) {
                (name, Claim::String(value.to_string()))
            } else if let Some(name) = key.strip_prefix(NUMBER_CLAIM_PREFIX) {
                // Java's Double.valueOf (which trims); NaN and infinities are not JSON.
                let n = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| format!("{key} must be a number"))?;
                (name, Claim::Number(n.to_string()))
            } else if let Some(name) = key.strip_prefix(LIST_CLAIM_PREFIX) {
                (name, Claim::List(split_list(value)))
            } else if let Some(name) = key.strip_prefix(EXTENSION_PREFIX) {
                extensions.insert(name.to_string(), value.to_string());
                continue;
            } else {
                if key.starts_with(OPTION_PREFIX)
                    && ![
                        PRINCIPAL_CLAIM_NAME_OPTION,
                        LIFETIME_SECONDS_OPTION,
                        SCOPE_CLAIM_NAME_OPTION,
                    ]
                    .contains(&key.as_str())
                {
                    tracing::debug!(option = %key, "unknown unsecured OAUTHBEARER login option ignored");
                }
                continue;
            };
            // Java skips a prefix with no claim name after it.
            if name.is_empty() {
                continue;
            }
            if name == "iat" || name == "exp" {
                return Err(format!(
                    "cannot explicitly set the '{name}' claim ({key}): it is computed"
                ));
            }
            if claims.insert(name.to_string(), claim).is_some() {
                return Err(format!("the '{name}' claim is set by more than one option"));
            }
        }
        check_extensions(&extensions)
            .map_err(|e| format!("{e} ({EXTENSION_PREFIX}<name> options)"))?;
        // OAuthBearerUnsecuredJws: the principal claim must be a non-blank string, and a scope
        // claim a string or a list.
        let principal = match claims.get(&principal_claim) {
            Some(Claim::String(p)) if !p.trim().is_empty() => p.clone(),
            Some(Claim::String(_)) | None => {
                return Err(format!(
                    "no principal name in JWT claim: {principal_claim} (set {STRING_CLAIM_PREFIX}{principal_claim})"
                ))
            }
            Some(_) => return Err(format!("the '{principal_claim}' claim was not of type String")),
        };
        if let Some(Claim::Number(_)) = claims.get(&scope_claim) {
            return Err(format!("the '{scope_claim}' claim was not of type List"));
        }
        Ok(UnsecuredLogin {
            claims,
            principal,
            lifetime_secs,
            extensions,
        })
    }

    /// The token at `now`: `base64url({"alg":"none"}).base64url({"exp":..,"iat":..,...}).`
    fn token_at(&self, now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
        let since_epoch = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970")?;
        let millis = since_epoch.as_millis();
        // Java: time.milliseconds() / 1000.0, and exp = that + lifetime, as JSON numbers.
        let iat = millis as f64 / 1000.0;
        let exp = iat + self.lifetime_secs as f64;
        let mut claims = format!("{{\"exp\":{exp},\"iat\":{iat}");
        for (name, claim) in &self.claims {
            claims.push(',');
            claims.push_str(&json_string(name));
            claims.push(':');
            match claim {
                Claim::String(s) => claims.push_str(&json_string(s)),
                Claim::Number(n) => claims.push_str(n),
                Claim::List(items) => {
                    claims.push('[');
                    let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
                    claims.push_str(&items.join(","));
                    claims.push(']');
                }
            }
        }
        claims.push('}');
        let value = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let lifetime = UNIX_EPOCH
            + Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
            + Duration::from_secs(self.lifetime_secs);
        Ok(OAuthBearerToken::new(
            value,
            lifetime,
            self.principal.clone(),
        ))
    }
}

impl OAuthBearerTokenProvider for UnsecuredLogin {
    fn token(&self, now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
        self.token_at(now)
    }

    fn extensions(&self) -> BTreeMap<String, String> {
        self.extensions.clone()
    }
}

/// A list claim's value: the first character is the delimiter of the rest (`|a|b` → `a`, `b`;
/// one character or none → empty). Java splits with a regular expression and then appends a
/// spurious `""` whenever an element is empty; here empty elements are kept as they are.
fn split_list(value: &str) -> Vec<String> {
    let mut chars = value.chars();
    match chars.next() {
        Some(delimiter) if !chars.as_str().is_empty() => chars
            .as_str()
            .split(delimiter)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A JSON string literal. (Java's handler escapes `"` and then `\`, which doubles the escape
/// of a quote; this escapes correctly.)
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed {
        value: &'static str,
        lifetime: SystemTime,
        extensions: BTreeMap<String, String>,
    }

    impl OAuthBearerTokenProvider for Fixed {
        fn token(&self, _now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
            Ok(OAuthBearerToken::new(self.value, self.lifetime, "alice"))
        }
        fn extensions(&self) -> BTreeMap<String, String> {
            self.extensions.clone()
        }
    }

    struct Failing;
    impl OAuthBearerTokenProvider for Failing {
        fn token(&self, _now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
            Err("identity provider unreachable".into())
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn mechanism(
        provider: impl OAuthBearerTokenProvider + 'static,
        now: SystemTime,
    ) -> OAuthBearerMechanism {
        OAuthBearerMechanism::new(Arc::new(provider), now)
    }

    fn fixed(value: &'static str, extensions: &[(&str, &str)]) -> Fixed {
        Fixed {
            value,
            lifetime: at(2_000),
            extensions: extensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, Secret> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect()
    }

    #[test]
    fn client_first_message_is_java_s() {
        let mut m = mechanism(fixed("a.b.c", &[]), at(1_000));
        assert_eq!(m.name(), "OAUTHBEARER");
        assert_eq!(m.start().unwrap(), b"n,,\x01auth=Bearer a.b.c\x01\x01");
        assert_eq!(m.step(b"").unwrap(), SaslStep::Complete);

        let mut m = mechanism(
            fixed("a.b.c", &[("traceId", "123"), ("logicalCluster", "lkc-1")]),
            at(1_000),
        );
        assert_eq!(
            m.start().unwrap(),
            b"n,,\x01auth=Bearer a.b.c\x01logicalCluster=lkc-1\x01traceId=123\x01\x01"
        );
    }

    #[test]
    fn an_error_challenge_is_acknowledged_then_reported_as_failed() {
        let mut m = mechanism(fixed("a.b.c", &[]), at(1_000));
        m.start().unwrap();
        let challenge = br#"{"status":"invalid_token", "scope":"read write", "openid-configuration":"https://idp/.well-known"}"#;
        assert_eq!(m.step(challenge).unwrap(), SaslStep::Respond(vec![0x01]));
        let context = m.failure_context().unwrap();
        assert!(context.contains("status \"invalid_token\""), "{context}");
        assert!(context.contains("scope \"read write\""), "{context}");
        let e = m.step(b"").unwrap_err();
        assert!(
            matches!(&e, SaslError::AuthenticationFailed { mechanism: "OAUTHBEARER", message } if message.contains("invalid_token") && message.contains("read write")),
            "{e}"
        );
        // A challenge that is not JSON is quoted.
        let mut m = mechanism(fixed("a.b.c", &[]), at(1_000));
        m.start().unwrap();
        m.step(b"nope").unwrap();
        assert!(m.failure_context().unwrap().contains("\"nope\""));
    }

    #[test]
    fn no_token_means_token_unavailable() {
        let mut m = mechanism(Failing, at(1_000));
        let e = m.start().unwrap_err();
        assert!(
            matches!(&e, SaslError::TokenUnavailable { reason } if reason.contains("unreachable")),
            "{e}"
        );
        // Expired at `now`.
        let mut m = mechanism(fixed("a.b.c", &[]), at(2_000));
        let e = m.start().unwrap_err();
        assert!(
            matches!(&e, SaslError::TokenUnavailable { reason } if reason.contains("expired")),
            "{e}"
        );
        // Not a bearer token: the error does not show it.
        let mut m = mechanism(fixed("has space\x01", &[]), at(1_000));
        let e = m.start().unwrap_err();
        assert!(
            matches!(e, SaslError::TokenUnavailable { .. }) && !e.to_string().contains("space"),
            "{e}"
        );
        // A bad extension is named, its value is not shown.
        for ext in [("auth", "x"), ("bad_name", "x"), ("ok", "")] {
            let mut m = mechanism(fixed("a.b.c", &[ext]), at(1_000));
            assert!(
                matches!(m.start(), Err(SaslError::TokenUnavailable { .. })),
                "{ext:?}"
            );
        }
    }

    #[test]
    fn messages_out_of_turn_are_protocol_errors() {
        let mut m = mechanism(fixed("a.b.c", &[]), at(1_000));
        assert!(matches!(
            m.step(b""),
            Err(SaslError::BadServerMessage { .. })
        ));
        let mut m = mechanism(fixed("a.b.c", &[]), at(1_000));
        m.start().unwrap();
        m.step(b"").unwrap();
        assert!(matches!(
            m.step(b""),
            Err(SaslError::BadServerMessage { .. })
        ));
        assert!(m.start().is_err());
    }

    fn decode_part(part: &str) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn unsecured_tokens_carry_java_s_claims() {
        let login = UnsecuredLogin::from_options(&options(&[
            ("unsecuredLoginStringClaim_sub", "alice"),
            ("unsecuredLoginListClaim_scope", "|read|write"),
            ("unsecuredLoginNumberClaim_level", "2.5"),
            ("unsecuredLoginStringClaim_note", "a \"quoted\" \\ note"),
            ("unsecuredLoginLifetimeSeconds", "60"),
            ("unsecuredLoginExtension_traceId", "123"),
        ]))
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let token = login.token(now).unwrap();
        assert_eq!(token.principal, "alice");
        assert_eq!(token.lifetime, now + Duration::from_secs(60));
        let value = token.value.expose();
        let parts: Vec<&str> = value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "an unsecured JWS has an empty signature");
        assert_eq!(decode_part(parts[0]), r#"{"alg":"none"}"#);
        assert_eq!(
            decode_part(parts[1]),
            r#"{"exp":1700000060.123,"iat":1700000000.123,"level":2.5,"note":"a \"quoted\" \\ note","scope":["read","write"],"sub":"alice"}"#
        );
        assert_eq!(
            login.extensions().get("traceId").map(String::as_str),
            Some("123")
        );
        assert!(valid_b64token(value));

        // Through the mechanism: the extension follows the token.
        let mut m = OAuthBearerMechanism::new(Arc::new(login), now);
        let first = String::from_utf8(m.start().unwrap()).unwrap();
        assert!(
            first.starts_with("n,,\x01auth=Bearer eyJhbGciOiJub25lIn0."),
            "{first}"
        );
        assert!(first.ends_with("\x01traceId=123\x01\x01"), "{first}");
    }

    #[test]
    fn unsecured_login_options_follow_java_s_defaults_and_checks() {
        let login = UnsecuredLogin::from_options(&options(&[
            ("unsecuredLoginPrincipalClaimName", " user "),
            ("unsecuredLoginStringClaim_user", "bob"),
        ]))
        .unwrap();
        assert_eq!(login.principal, "bob");
        assert_eq!(login.lifetime_secs, 3600);

        let refused = |pairs: &[(&str, &str)]| match UnsecuredLogin::from_options(&options(pairs)) {
            Ok(l) => panic!("accepted {l:?}"),
            Err(e) => e,
        };
        let e = refused(&[("unsecuredLoginStringClaim_name", "alice")]);
        assert!(e.contains("no principal name in JWT claim: sub"), "{e}");
        let e = refused(&[("unsecuredLoginStringClaim_sub", "  ")]);
        assert!(e.contains("no principal name"), "{e}");
        let e = refused(&[("unsecuredLoginNumberClaim_sub", "1")]);
        assert!(e.contains("not of type String"), "{e}");
        let e = refused(&[
            ("unsecuredLoginStringClaim_sub", "a"),
            ("unsecuredLoginNumberClaim_iat", "1"),
        ]);
        assert!(e.contains("'iat'"), "{e}");
        let e = refused(&[
            ("unsecuredLoginStringClaim_sub", "a"),
            ("unsecuredLoginNumberClaim_scope", "1"),
        ]);
        assert!(e.contains("not of type List"), "{e}");
        let e = refused(&[("unsecuredLoginExtension_traceId", "1")]);
        assert!(e.contains("no token"), "{e}");
        let e = refused(&[
            ("unsecuredLoginStringClaim_sub", "a"),
            ("unsecuredLoginLifetimeSeconds", "soon"),
        ]);
        assert!(e.contains("unsecuredLoginLifetimeSeconds"), "{e}");
        let e = refused(&[
            ("unsecuredLoginStringClaim_sub", "a"),
            ("unsecuredLoginNumberClaim_n", "NaN"),
        ]);
        assert!(e.contains("unsecuredLoginNumberClaim_n"), "{e}");
        let e = refused(&[
            ("unsecuredLoginStringClaim_sub", "a"),
            ("unsecuredLoginExtension_traceId", "s3cr3t\u{7f}"),
        ]);
        assert!(e.contains("traceId") && !e.contains("s3cr3t"), "{e}");
        let e = refused(&[
            ("unsecuredLoginStringClaim_sub", "a"),
            ("unsecuredLoginListClaim_sub", "|b"),
        ]);
        assert!(e.contains("more than one option"), "{e}");
    }

    #[test]
    fn list_claims_split_at_their_first_character() {
        assert_eq!(split_list("|a|b"), ["a", "b"]);
        assert_eq!(split_list(",x"), ["x"]);
        assert_eq!(split_list("|a||b"), ["a", "", "b"]);
        assert!(split_list("|").is_empty());
        assert!(split_list("").is_empty());
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd"), r#""a\"b\\c\u000ad""#);
    }

    #[test]
    fn the_error_challenge_reader_reads_only_json_objects() {
        let m =
            json::string_members(r#" {"a":1,"b":[1,{"c":"d"}],"status":"x\u0041\n","e":null} "#)
                .unwrap();
        assert_eq!(m, [("status".to_string(), "xA\n".to_string())]);
        assert_eq!(json::string_members("{}").unwrap(), []);
        for bad in [
            "",
            "[]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{\"a\":\"b\"} x",
            "{\"a\":\"b",
        ] {
            assert!(json::string_members(bad).is_none(), "{bad}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(json::string_members(&deep).is_none());
    }
}
