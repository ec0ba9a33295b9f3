//! KIP-768: OAUTHBEARER tokens from an OAuth 2 token endpoint with the client-credentials grant,
//! as Java's `OAuthBearerLoginCallbackHandler` gets them (`sasl.oauthbearer.token.endpoint.url`,
//! `clientId`/`clientSecret`/`scope` in the JAAS options). Feature `oauth`.
//!
//! The first token is fetched when the producer is built (a refused secret or an unreachable
//! endpoint is an error then, as Java's login fails in the constructor); a background thread
//! refreshes it at 80 % of its lifetime (Java's `sasl.login.refresh.window.factor`), retrying with
//! `sasl.login.retry.backoff.ms` up to `.max.ms`, so [`OAuthBearerTokenProvider::token`] never
//! blocks the network thread. `file://` URLs read the token from a file at each refresh (Java's
//! file-based token endpoint).
//!
//! HTTP/1.1 is written by hand (one POST, `Connection: close`); `https://` uses rustls with the
//! producer's `ssl.*` trust settings (feature `tls`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use super::sasl::{OAuthBearerToken, OAuthBearerTokenProvider, TokenProviderError};
use super::Secret;

/// Largest token endpoint answer read.
const MAX_ANSWER: usize = 1 << 20;

/// Where and how to get tokens.
#[derive(Clone)]
pub struct ClientCredentials {
    /// `sasl.oauthbearer.token.endpoint.url`: `http://`, `https://` or `file://`.
    pub endpoint: String,
    /// JAAS `clientId`.
    pub client_id: String,
    /// JAAS `clientSecret`.
    pub client_secret: Secret,
    /// JAAS `scope`, if any.
    pub scope: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name` (default `sub`): the principal's claim.
    pub sub_claim: String,
    /// `sasl.login.connect.timeout.ms` (default 10 s).
    pub connect_timeout: Duration,
    /// `sasl.login.read.timeout.ms` (default 10 s).
    pub read_timeout: Duration,
    /// `sasl.login.retry.backoff.ms` (default 100 ms).
    pub retry_backoff: Duration,
    /// `sasl.login.retry.backoff.max.ms` (default 10 s).
    pub retry_backoff_max: Duration,
    /// TLS for `https://` endpoints.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Tokens from an OAuth token endpoint, refreshed in the background.
///
/// ```no_run
/// use std::time::Duration;
/// use kproducer::security::oauth_client::{ClientCredentials, ClientCredentialsProvider};
/// let provider = ClientCredentialsProvider::start(ClientCredentials {
///     endpoint: "https://login.example.com/oauth2/token".into(),
///     client_id: "producer-app".into(),
///     client_secret: "s3cret".into(),
///     scope: Some("kafka".into()),
///     sub_claim: "sub".into(),
///     connect_timeout: Duration::from_secs(10),
///     read_timeout: Duration::from_secs(10),
///     retry_backoff: Duration::from_millis(100),
///     retry_backoff_max: Duration::from_secs(10),
///     tls: None,
/// })?;
/// # Ok::<(), String>(())
/// ```
pub struct ClientCredentialsProvider {
    current: Arc<Mutex<OAuthBearerToken>>,
}

impl std::fmt::Debug for ClientCredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCredentialsProvider")
    }
}

impl ClientCredentialsProvider {
    /// Fetches the first token now (an error says why, without the secret) and starts the
    /// refresher thread, which ends when the provider is dropped.
    pub fn start(settings: ClientCredentials) -> Result<Self, String> {
        let first = fetch(&settings)?;
        let current = Arc::new(Mutex::new(first));
        let weak = Arc::downgrade(&current);
        std::thread::Builder::new()
            .name("kproducer-oauth-refresh".into())
            .spawn(move || refresh_loop(&settings, &weak))
            .map_err(|e| format!("cannot start the token refresh thread: {e}"))?;
        Ok(ClientCredentialsProvider { current })
    }
}

impl OAuthBearerTokenProvider for ClientCredentialsProvider {
    fn token(&self, now: SystemTime) -> Result<OAuthBearerToken, TokenProviderError> {
        let token = self
            .current
            .lock()
            .map_err(|_| "token cache poisoned")?
            .clone();
        if token.lifetime <= now {
            return Err(
                "the OAuth token expired and the token endpoint has not given a new one \
                        yet (see the WARN lines of the refresh)"
                    .into(),
            );
        }
        Ok(token)
    }
}

/// Refreshes at 80 % of the remaining lifetime; retries with a growing backoff.
fn refresh_loop(settings: &ClientCredentials, current: &Weak<Mutex<OAuthBearerToken>>) {
    let mut backoff = settings.retry_backoff;
    loop {
        let Some(cell) = current.upgrade() else {
            return;
        };
        let lifetime = cell.lock().map(|t| t.lifetime).unwrap_or(UNIX_EPOCH);
        drop(cell);
        let now = SystemTime::now();
        let left = lifetime.duration_since(now).unwrap_or_default();
        let wait = (left.mul_f64(0.8)).max(Duration::from_secs(1));
        if !sleep_while_alive(wait, current) {
            return;
        }
        loop {
            match fetch(settings) {
                Ok(token) => {
                    let Some(cell) = current.upgrade() else {
                        return;
                    };
                    if let Ok(mut t) = cell.lock() {
                        *t = token;
                    }
                    backoff = settings.retry_backoff;
                    break;
                }
                Err(e) => {
                    tracing::warn!("OAuth token refresh failed, retrying in {backoff:?}: {e}");
                    if !sleep_while_alive(backoff, current) {
                        return;
                    }
                    backoff = (backoff * 2).min(settings.retry_backoff_max);
                }
            }
        }
    }
}

/// Sleeps `total` in steps, returning false as soon as the provider is gone.
fn sleep_while_alive(total: Duration, current: &Weak<Mutex<OAuthBearerToken>>) -> bool {
    let mut left = total;
    while !left.is_zero() {
        let step = left.min(Duration::from_millis(500));
        std::thread::sleep(step);
        left -= step;
        if current.strong_count() == 0 {
            return false;
        }
    }
    true
}

/// Gets one token from the endpoint.
pub(crate) fn fetch(s: &ClientCredentials) -> Result<OAuthBearerToken, String> {
    let access_token = if let Some(path) = s.endpoint.strip_prefix("file://") {
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {path}: {e}"))?
            .trim()
            .to_string()
    } else {
        let answer = post(s)?;
        let json: serde_json::Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("the token endpoint's answer is not JSON: {e}"))?;
        json.get("access_token")
            .and_then(|v| v.as_str())
            .ok_or("the token endpoint's answer has no access_token")?
            .to_string()
    };
    token_from_jwt(&access_token, &s.sub_claim)
}

/// The token's lifetime (`exp`) and principal (`sub_claim`), read from its JWT payload (the
/// signature is the broker's to check).
fn token_from_jwt(jwt: &str, sub_claim: &str) -> Result<OAuthBearerToken, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "the access token is not a JWT (header.payload.signature): {} part(s)",
            parts.len()
        ));
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .map_err(|_| "the access token's payload is not base64url".to_string())?;
    let claims: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|_| "the access token's payload is not JSON".to_string())?;
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_f64())
        .filter(|e| e.is_finite() && *e > 0.0)
        .ok_or("the access token has no exp claim")?;
    let principal = claims
        .get(sub_claim)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("the access token has no {sub_claim} claim"))?;
    let lifetime = UNIX_EPOCH + Duration::from_secs_f64(exp);
    Ok(OAuthBearerToken::new(jwt, lifetime, principal))
}

/// Java's `URLEncoder.encode(s, UTF_8)`: form encoding, space as `+`.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `(https, host, port, path)` of an `http(s)://host[:port]/path` URL.
fn split_url(url: &str) -> Result<(bool, String, u16, String), String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "{url}: the token endpoint must be an http://, https:// or file:// URL"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
            Ok(port) => (h, port),
            Err(_) => (authority, if https { 443 } else { 80 }),
        },
        _ => (authority, if https { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((
        https,
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        path.to_string(),
    ))
}

/// POSTs the client-credentials grant and returns the body of a 200 answer.
fn post(s: &ClientCredentials) -> Result<Vec<u8>, String> {
    let (https, host, port, path) = split_url(&s.endpoint)?;
    let mut body = String::from("grant_type=client_credentials");
    if let Some(scope) = &s.scope {
        body.push_str("&scope=");
        body.push_str(&form_encode(scope));
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        form_encode(&s.client_id),
        form_encode(s.client_secret.expose())
    ));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {basic}\r\n\
         Accept: application/json\r\nCache-Control: no-cache\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: address lookup failed: {e}", s.endpoint))?
        .next()
        .ok_or_else(|| format!("{}: the address resolved to nothing", s.endpoint))?;
    let tcp = TcpStream::connect_timeout(&addr, s.connect_timeout)
        .map_err(|e| format!("cannot connect to {}: {e}", s.endpoint))?;
    tcp.set_read_timeout(Some(s.read_timeout)).ok();
    tcp.set_write_timeout(Some(s.read_timeout)).ok();
    let raw = if https {
        https_exchange(s, &host, tcp, request.as_bytes())?
    } else {
        exchange(tcp, request.as_bytes())?
    };
    parse_answer(&raw, &s.endpoint)
}

fn exchange<S: Read + Write>(mut stream: S, request: &[u8]) -> Result<Vec<u8>, String> {
    stream
        .write_all(request)
        .map_err(|e| format!("writing to the token endpoint failed: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_ANSWER {
                    return Err("the token endpoint's answer is larger than 1 MiB".into());
                }
            }
            // A TLS peer that closes without close_notify: what arrived is the answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("reading the token endpoint's answer failed: {e}")),
        }
    }
    Ok(raw)
}

#[cfg(feature = "tls")]
fn https_exchange(
    s: &ClientCredentials,
    host: &str,
    tcp: TcpStream,
    request: &[u8],
) -> Result<Vec<u8>, String> {
    let config = s
        .tls
        .clone()
        .ok_or("https:// token endpoint without a TLS configuration")?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a valid TLS server name"))?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| format!("TLS to the token endpoint: {e}"))?;
    exchange(rustls::StreamOwned::new(conn, tcp), request)
}

#[cfg(not(feature = "tls"))]
fn https_exchange(
    _: &ClientCredentials,
    _: &str,
    _: TcpStream,
    _: &[u8],
) -> Result<Vec<u8>, String> {
    Err("https:// token endpoints need the tls-ring (or tls-aws-lc) feature".into())
}

/// The body of a `200` answer (plain or chunked); any other status is an error with the
/// endpoint's own words (OAuth's `error`/`error_description`), never the request's secret.
fn parse_answer(raw: &[u8], endpoint: &str) -> Result<Vec<u8>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{endpoint}: not an HTTP answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{endpoint}: not an HTTP answer"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| format!("{endpoint}: a malformed chunked answer"))?;
    }
    if status != 200 {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.chars().take(300).collect();
        return Err(format!(
            "the token endpoint {endpoint} answered HTTP {status}: {text}"
        ));
    }
    Ok(body)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn jwt(claims: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            e.encode(r#"{"alg":"none"}"#),
            e.encode(claims.as_bytes())
        )
    }

    fn settings(endpoint: String) -> ClientCredentials {
        ClientCredentials {
            endpoint,
            client_id: "app id".into(),
            client_secret: Secret::new("s3cret:&"),
            scope: Some("kafka write".into()),
            sub_claim: "sub".into(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            retry_backoff: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(100),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Serves one answer per connection; returns the requests it saw.
    fn endpoint(answers: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/oauth2/token",
            listener.local_addr().expect("addr")
        );
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut s, _) = listener.accept().expect("accept");
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).expect("read");
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(answer.as_bytes()).expect("write");
            }
            seen
        });
        (url, h)
    }

    #[test]
    fn the_client_credentials_grant_is_java_s_and_the_jwt_is_read() {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("now")
            .as_secs()
            + 3600;
        let token = jwt(&format!(r#"{{"sub":"svc-producer","exp":{exp}}}"#));
        let body =
            format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#);
        // Chunked, as many servers answer.
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let (url, h) = endpoint(vec![answer]);
        let t = fetch(&settings(url)).expect("token");
        assert_eq!(t.principal, "svc-producer");
        assert_eq!(t.value.expose(), token);
        assert_eq!(t.lifetime, UNIX_EPOCH + Duration::from_secs(exp));
        let seen = h.join().expect("server");
        let req = &seen[0];
        assert!(req.starts_with("POST /oauth2/token HTTP/1.1\r\n"), "{req}");
        let basic = base64::engine::general_purpose::STANDARD.encode("app+id:s3cret%3A%26");
        assert!(
            req.contains(&format!("Authorization: Basic {basic}\r\n")),
            "{req}"
        );
        assert!(
            req.ends_with("grant_type=client_credentials&scope=kafka+write"),
            "{req}"
        );
    }

    #[test]
    fn a_refusal_says_what_the_endpoint_said_without_the_secret() {
        let answer = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 47\r\n\r\n{\"error\":\"invalid_client\",\"error_description\":\"\"}".to_string();
        let (url, _h) = endpoint(vec![answer]);
        let e = fetch(&settings(url)).expect_err("refused");
        assert!(
            e.contains("HTTP 401") && e.contains("invalid_client"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn bad_tokens_and_urls_are_named() {
        assert!(token_from_jwt("abc", "sub")
            .unwrap_err()
            .contains("not a JWT"));
        assert!(token_from_jwt(&jwt(r#"{"sub":"x"}"#), "sub")
            .unwrap_err()
            .contains("exp"));
        assert!(token_from_jwt(&jwt(r#"{"exp":1e10}"#), "sub")
            .unwrap_err()
            .contains("sub"));
        assert!(split_url("ftp://x/y").unwrap_err().contains("http://"));
        assert_eq!(
            split_url("https://login.example.com/t").expect("url"),
            (true, "login.example.com".into(), 443, "/t".into())
        );
    }

    #[test]
    fn a_file_url_reads_the_token_and_the_provider_hands_it_out() {
        let dir = std::env::temp_dir().join(format!("kproducer-oauth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token.jwt");
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("now")
            .as_secs()
            + 60;
        std::fs::write(
            &path,
            format!("{}\n", jwt(&format!(r#"{{"sub":"f","exp":{exp}}}"#))),
        )
        .expect("write");
        let p = ClientCredentialsProvider::start(settings(format!("file://{}", path.display())))
            .expect("provider");
        assert_eq!(p.token(SystemTime::now()).expect("token").principal, "f");
        assert!(
            p.token(UNIX_EPOCH + Duration::from_secs(exp + 1)).is_err(),
            "an expired token is not handed out"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
