//! TLS and SASL against Apache Kafka's own secured listeners (`KafkaOptions::security`): every
//! store format and mechanism delivers (records read back by Java's consumer over PLAINTEXT), and
//! every bad input is a clear error, fast: wrong credentials, untrusted, expired and mismatched
//! certificates, TLS/plaintext mix-ups, missing or locked stores. KIP-368: with
//! `connections.max.reauth.ms=4000` a producer that runs for 14 s re-authenticates on its
//! connections instead of having them closed under it (no retries).
//!
//! One single-node cluster is shared by the tests of this file. Needs the Apache Kafka jars
//! (`scripts/setup.sh`); skipped without them unless `KPRODUCER_REQUIRE_BROKERS` is set.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kproducer::{
    AuthenticationError, KafkaError, Producer, ProducerConfig, ProducerRecord, SendError,
};
use kproducer_testkit::{
    java_consume, read_all, sasl, skip_without_kafka, unique_name, KafkaCluster, KafkaOptions,
    CLIENT_P12_PASSWORD, TRUSTSTORE_PASSWORD,
};

/// Producer properties.
type Props = Vec<(&'static str, String)>;

/// `connections.max.reauth.ms` of the shared cluster.
const REAUTH_MS: u64 = 4_000;

fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| {
        let options = KafkaOptions {
            security: true,
            reauth_ms: Some(REAUTH_MS),
            ..KafkaOptions::default()
        };
        let c = KafkaCluster::start_with(1, &options).map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "secured Apache Kafka {} started in {:?}",
            kproducer_testkit::kafka_version(),
            c.startup_time()
        );
        Ok(c)
    });
    match started {
        Ok(c) => c,
        Err(e) => panic!("the secured Apache Kafka did not start: {e}"),
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("generated PEM")
}

fn pem_trust() -> Vec<(&'static str, String)> {
    vec![
        ("ssl.truststore.type", "PEM".into()),
        (
            "ssl.truststore.location",
            path(&cluster().tls_files().ca_pem),
        ),
    ]
}

fn sasl_props(protocol: &str, mechanism: &str, password: &str) -> Vec<(&'static str, String)> {
    let mut props = vec![
        ("security.protocol", protocol.to_owned()),
        ("sasl.mechanism", mechanism.to_owned()),
        (
            "sasl.jaas.config",
            sasl::jaas(mechanism, sasl::USER, password),
        ),
    ];
    if protocol == "SASL_SSL" {
        props.extend(pem_trust());
    }
    props
}

fn config(
    listener: &str,
    props: &[(&str, String)],
) -> Result<ProducerConfig, kproducer::ConfigError> {
    let bootstrap = cluster().bootstrap_for(listener);
    let mut kv: Vec<(&str, String)> = vec![
        ("bootstrap.servers", bootstrap),
        ("linger.ms", "5".into()),
        ("max.block.ms", "20000".into()),
        ("delivery.timeout.ms", "40000".into()),
    ];
    kv.extend(props.iter().cloned());
    ProducerConfig::from_map(kv)
}

/// Sends `n` records tagged `tag` to `topic` over `listener` and checks they were acknowledged.
/// Returns the time from building the producer to the first acknowledgement (connection
/// set-up: TCP, TLS, ApiVersions, SASL, then Metadata, InitProducerId and one Produce).
async fn deliver(
    listener: &str,
    props: &[(&str, String)],
    topic: &str,
    tag: usize,
    n: usize,
) -> Duration {
    let cfg = config(listener, props).unwrap_or_else(|e| panic!("{listener}: {e}"));
    let started = Instant::now();
    let producer: Producer<String, String> =
        Producer::new(cfg).unwrap_or_else(|e| panic!("{listener}: {e}"));
    let first = ProducerRecord::new(topic, format!("{tag}:0")).with_key("k0".to_string());
    let first = producer
        .send(first)
        .await
        .unwrap_or_else(|e| panic!("{listener}: {e}"));
    first.await.unwrap_or_else(|e| panic!("{listener}: {e}"));
    let first_ack = started.elapsed();
    let mut futures = Vec::new();
    for i in 1..n {
        let rec = ProducerRecord::new(topic, format!("{tag}:{i}")).with_key(format!("k{i}"));
        futures.push(
            producer
                .send(rec)
                .await
                .unwrap_or_else(|e| panic!("{listener}: {e}")),
        );
    }
    for f in futures {
        f.await.unwrap_or_else(|e| panic!("{listener}: {e}"));
    }
    producer.close(Duration::from_secs(5)).await;
    first_ack
}

/// The error a first send gets (its future's, or `send`'s own), and how long it took.
async fn first_error(
    listener: &str,
    props: &[(&str, String)],
) -> (String, Option<AuthenticationError>, Duration) {
    let c = cluster();
    let topic = unique_name("secbad");
    c.create_topic(&topic, 1, 1).expect("topic");
    let cfg = config(listener, props).expect("config");
    let started = Instant::now();
    let producer: Producer<String, String> = Producer::new(cfg).expect("producer");
    let outcome = match producer
        .send(ProducerRecord::new(&topic, "v".to_string()))
        .await
    {
        Err(SendError::Authentication(a)) => (a.to_string(), Some(a)),
        Err(e) => (e.to_string(), None),
        Ok(f) => match f.await {
            Err(kproducer::ProduceError::Authentication(a)) => (a.to_string(), Some(a)),
            Err(e) => (e.to_string(), None),
            Ok(m) => panic!("{listener}: delivered at {m:?}, expected a failure"),
        },
    };
    let elapsed = started.elapsed();
    producer.close(Duration::from_secs(1)).await;
    (outcome.0, outcome.1, elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_format_and_mechanism_delivers() {
    if skip_without_kafka("every_store_format_and_mechanism_delivers") {
        return;
    }
    let f = cluster().tls_files();
    let cases: Vec<(&str, &str, Props)> = vec![
        ("SSL", "PEM trust store file", [vec![("security.protocol", "SSL".into())], pem_trust()].concat()),
        (
            "SSL",
            "inline PEM trust",
            vec![
                ("security.protocol", "SSL".into()),
                ("ssl.truststore.type", "PEM".into()),
                ("ssl.truststore.certificates", read(&f.ca_pem)),
            ],
        ),
        (
            "SSL",
            "PKCS12 trust store under Java's default type name JKS",
            vec![
                ("security.protocol", "SSL".into()),
                ("ssl.truststore.location", path(&f.truststore_p12)),
                ("ssl.truststore.password", TRUSTSTORE_PASSWORD.into()),
            ],
        ),
        (
            "MTLS",
            "PKCS12 key and trust stores",
            vec![
                ("security.protocol", "SSL".into()),
                ("ssl.keystore.type", "PKCS12".into()),
                ("ssl.keystore.location", path(&f.client_p12)),
                ("ssl.keystore.password", CLIENT_P12_PASSWORD.into()),
                ("ssl.truststore.type", "PKCS12".into()),
                ("ssl.truststore.location", path(&f.truststore_p12)),
                ("ssl.truststore.password", TRUSTSTORE_PASSWORD.into()),
            ],
        ),
        (
            "MTLS",
            "PEM key store file",
            [
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.keystore.type", "PEM".into()),
                    ("ssl.keystore.location", path(&f.client_pem)),
                ],
                pem_trust(),
            ]
            .concat(),
        ),
        (
            "MTLS",
            "inline PEM key and chain",
            [
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.keystore.type", "PEM".into()),
                    ("ssl.keystore.key", read(&f.client_key_pem)),
                    ("ssl.keystore.certificate.chain", read(&f.client_cert_pem)),
                ],
                pem_trust(),
            ]
            .concat(),
        ),
        (
            "WRONGHOST",
            "host name check off",
            [
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.endpoint.identification.algorithm", "".into()),
                ],
                pem_trust(),
            ]
            .concat(),
        ),
        ("SASL_PLAINTEXT", "PLAIN", sasl_props("SASL_PLAINTEXT", "PLAIN", sasl::PASSWORD)),
        ("SASL_PLAINTEXT", "SCRAM-SHA-256", sasl_props("SASL_PLAINTEXT", "SCRAM-SHA-256", sasl::PASSWORD)),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", sasl_props("SASL_PLAINTEXT", "SCRAM-SHA-512", sasl::PASSWORD)),
        (
            "SASL_PLAINTEXT",
            "OAUTHBEARER, Java's unsecured login",
            vec![
                ("security.protocol", "SASL_PLAINTEXT".into()),
                ("sasl.mechanism", "OAUTHBEARER".into()),
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";".into(),
                ),
            ],
        ),
        ("SASL_SSL", "SCRAM-SHA-512 over TLS", sasl_props("SASL_SSL", "SCRAM-SHA-512", sasl::PASSWORD)),
        ("SASL_SSL", "PLAIN over TLS", sasl_props("SASL_SSL", "PLAIN", sasl::PASSWORD)),
        ("SASL_SSL", "SCRAM-SHA-256 over TLS", sasl_props("SASL_SSL", "SCRAM-SHA-256", sasl::PASSWORD)),
        (
            "SASL_SSL",
            "OAUTHBEARER over TLS",
            [
                vec![
                    ("security.protocol", "SASL_SSL".into()),
                    ("sasl.mechanism", "OAUTHBEARER".into()),
                    (
                        "sasl.jaas.config",
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";".into(),
                    ),
                ],
                pem_trust(),
            ]
            .concat(),
        ),
    ];
    let c = cluster();
    let topic = unique_name("sec");
    c.create_topic(&topic, 2, 1).expect("topic");
    const N: usize = 200;
    // The plaintext baseline for the set-up times printed below.
    let base = deliver("PLAINTEXT", &[], &topic, cases.len(), N).await;
    eprintln!("PLAINTEXT: first acknowledgement {base:?} after build");
    for (tag, (listener, what, props)) in cases.iter().enumerate() {
        let started = Instant::now();
        let first = deliver(listener, props, &topic, tag, N).await;
        eprintln!(
            "{listener} ({what}): first acknowledgement {first:?} after build, {N} records in {:?}",
            started.elapsed()
        );
    }
    // Java's consumer reads every case's records back, exactly once each.
    let got = java_consume(
        &c.bootstrap(),
        &topic,
        Some(N * (cases.len() + 1)),
        Duration::from_secs(60),
    )
    .expect("Java's consumer");
    let mut seen: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    seen.sort();
    let mut want: Vec<String> = (0..=cases.len())
        .flat_map(|tag| (0..N).map(move |i| format!("{tag}:{i}")))
        .collect();
    want.sort();
    assert_eq!(seen, want, "every record of every case, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_at_once_naming_mechanism_and_broker() {
    if skip_without_kafka("wrong_credentials_fail_at_once_naming_mechanism_and_broker") {
        return;
    }
    for (protocol, mechanism) in [
        ("SASL_PLAINTEXT", "PLAIN"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
        ("SASL_SSL", "SCRAM-SHA-512"),
    ] {
        let props = sasl_props(protocol, mechanism, "not-the-password");
        let (text, err, took) = first_error(protocol, &props).await;
        let Some(AuthenticationError::Sasl {
            mechanism: m,
            broker,
            ..
        }) = &err
        else {
            panic!("{mechanism}: not a SASL authentication error: {text}")
        };
        assert_eq!(m, mechanism);
        assert!(broker.starts_with("127.0.0.1:"), "{broker}");
        assert!(
            text.contains(mechanism) && text.contains("SaslAuthenticationException"),
            "{text}"
        );
        assert!(
            !text.contains("not-the-password"),
            "no secret in errors: {text}"
        );
        assert!(
            took < Duration::from_secs(10),
            "{mechanism}: {took:?} (max.block.ms is 20 s)"
        );
        eprintln!("{mechanism}: {text} after {took:?}");
    }
    // An unknown user, too.
    let mut props = sasl_props("SASL_PLAINTEXT", "SCRAM-SHA-256", sasl::PASSWORD);
    props[2].1 = sasl::jaas("SCRAM-SHA-256", "mallory", sasl::PASSWORD);
    let (text, err, _) = first_error("SASL_PLAINTEXT", &props).await;
    assert!(
        matches!(err, Some(AuthenticationError::Sasl { .. })),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_problems_fail_at_once_saying_which() {
    if skip_without_kafka("certificate_problems_fail_at_once_saying_which") {
        return;
    }
    let f = cluster().tls_files();
    let ssl = |trust: &Path| {
        vec![
            ("security.protocol", "SSL".to_string()),
            ("ssl.truststore.type", "PEM".into()),
            ("ssl.truststore.location", path(trust)),
        ]
    };
    for (listener, props, expect) in [
        ("SSL", ssl(&f.other_ca_pem), "not trusted"),
        ("EXPIRED", ssl(&f.ca_pem), "expired"),
        ("WRONGHOST", ssl(&f.ca_pem), "does not match the host name"),
        ("MTLS", ssl(&f.ca_pem), "client certificate"),
    ] {
        let (text, err, took) = first_error(listener, &props).await;
        assert!(
            matches!(err, Some(AuthenticationError::Ssl { .. })),
            "{listener}: not a TLS authentication error: {text}"
        );
        assert!(text.contains(expect), "{listener}: {text}");
        assert!(took < Duration::from_secs(10), "{listener}: {took:?}");
        eprintln!("{listener}: {text} after {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_plaintext_mix_ups_are_named() {
    if skip_without_kafka("tls_and_plaintext_mix_ups_are_named") {
        return;
    }
    let short = ("max.block.ms", "4000".to_string());
    // TLS to a plaintext listener: the broker hangs up on the ClientHello.
    let props = [
        vec![("security.protocol", "SSL".to_string()), short.clone()],
        pem_trust(),
    ]
    .concat();
    let (text, _, took) = first_error("PLAINTEXT", &props).await;
    assert!(text.contains("PLAINTEXT"), "{text}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    // Plaintext to a TLS listener.
    let (text, _, _) = first_error("SSL", std::slice::from_ref(&short)).await;
    assert!(text.contains("SSL"), "{text}");
    // Plaintext to a SASL listener.
    let (text, _, _) = first_error("SASL_PLAINTEXT", &[short]).await;
    assert!(text.contains("SASL"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stores_are_configuration_errors_naming_the_key() {
    if skip_without_kafka("bad_stores_are_configuration_errors_naming_the_key") {
        return;
    }
    let f = cluster().tls_files();
    let dir = tempfile::tempdir().expect("tmp");
    let jks = dir.path().join("store.jks");
    std::fs::write(&jks, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]).expect("write");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    let cases: Vec<(Props, &str, &str)> = vec![
        (
            vec![
                ("ssl.truststore.type", "PEM".into()),
                ("ssl.truststore.location", "/no/such/ca.pem".into()),
            ],
            "ssl.truststore.location",
            "cannot read",
        ),
        (
            vec![
                ("ssl.truststore.type", "PEM".into()),
                ("ssl.truststore.location", path(&garbage)),
            ],
            "ssl.truststore.location",
            "BEGIN CERTIFICATE",
        ),
        (
            vec![
                ("ssl.truststore.type", "PKCS12".into()),
                ("ssl.truststore.location", path(&f.truststore_p12)),
                ("ssl.truststore.password", "wrong".into()),
            ],
            "ssl.truststore.password",
            "wrong password",
        ),
        (
            vec![
                ("ssl.keystore.type", "PKCS12".into()),
                ("ssl.keystore.location", path(&f.client_p12)),
                ("ssl.keystore.password", "wrong".into()),
            ],
            "ssl.keystore.password",
            "wrong password",
        ),
        (
            vec![
                ("ssl.truststore.location", path(&jks)),
                ("ssl.truststore.password", "x".into()),
            ],
            "ssl.truststore.type",
            "keytool -importkeystore",
        ),
        (
            vec![
                ("ssl.keystore.type", "PEM".into()),
                ("ssl.keystore.location", path(&f.client_cert_pem)),
            ],
            "ssl.keystore.location",
            "private key",
        ),
        (
            vec![("ssl.enabled.protocols", "TLSv1.1".into())],
            "ssl.enabled.protocols",
            "TLSv1.2",
        ),
        (
            vec![("ssl.cipher.suites", "TLS_RSA_WITH_RC4_128_MD5".into())],
            "ssl.cipher.suites",
            "supported",
        ),
    ];
    for (props, key, hint) in cases {
        let mut props = props;
        props.push(("security.protocol", "SSL".into()));
        let result = config("SSL", &props)
            .map_err(KafkaError::from)
            .and_then(|c| Producer::<String, String>::new(c).map(|_| ()));
        let err = result.expect_err(key);
        let text = err.to_string();
        assert!(text.contains(key), "{key}: {text}");
        assert!(text.contains(hint), "{key}: {text}");
        assert!(!text.contains(CLIENT_P12_PASSWORD) && !text.contains(TRUSTSTORE_PASSWORD));
    }
    // SASL: GSSAPI (Java's default mechanism) and a missing JAAS config.
    let err = Producer::<String, String>::new(
        config(
            "SASL_PLAINTEXT",
            &[("security.protocol", "SASL_PLAINTEXT".into())],
        )
        .expect("config"),
    )
    .err()
    .expect("GSSAPI refused");
    assert!(
        err.to_string().contains("sasl.mechanism") && err.to_string().contains("Kerberos"),
        "{err}"
    );
    let err = Producer::<String, String>::new(
        config(
            "SASL_PLAINTEXT",
            &[
                ("security.protocol", "SASL_PLAINTEXT".into()),
                ("sasl.mechanism", "SCRAM-SHA-256".into()),
            ],
        )
        .expect("config"),
    )
    .err()
    .expect("JAAS required");
    assert!(err.to_string().contains("sasl.jaas.config"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_renewed_before_the_broker_expires_them() {
    if skip_without_kafka("sessions_are_renewed_before_the_broker_expires_them") {
        return;
    }
    let c = cluster();
    let topic = unique_name("reauth");
    c.create_topic(&topic, 2, 1).expect("topic");
    let cfg = config(
        "SASL_SSL",
        &sasl_props("SASL_SSL", "SCRAM-SHA-256", sasl::PASSWORD),
    )
    .expect("config");
    let producer: Producer<String, String> = Producer::new(cfg).expect("producer");
    // 3.5 session lifetimes, a record every 10 ms.
    let until = Instant::now() + Duration::from_millis(REAUTH_MS * 7 / 2);
    let mut futures = Vec::new();
    while Instant::now() < until {
        let rec = ProducerRecord::new(&topic, format!("v{}", futures.len()));
        futures.push(producer.send(rec).await.expect("send"));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let n = futures.len();
    for f in futures {
        f.await.expect("delivered");
    }
    let stats = producer.stats();
    producer.close(Duration::from_secs(5)).await;
    assert_eq!(
        stats.retries, 0,
        "a connection closed for an expired session would have retried its requests"
    );
    let got = read_all(&c.bootstrap(), &topic, Some(n), Duration::from_secs(30)).expect("read");
    assert_eq!(got.len(), n);
}

/// KIP-768: `sasl.oauthbearer.token.endpoint.url` with the client-credentials grant, as a Java
/// `client.properties` writes it. The endpoint (a thread here) hands out unsigned JWTs, which the
/// broker's unsecured validator accepts; it counts the grants it answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_credentials_login_against_apache_kafka() {
    use std::io::{Read, Write};
    if skip_without_kafka("oauth_client_credentials_login_against_apache_kafka") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/token", listener.local_addr().expect("addr"));
    let grants = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = grants.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let ok = req.contains("grant_type=client_credentials")
                && req.contains("Authorization: Basic cHJvZHVjZXItYXBwOmFwcC1zZWNyZXQ=");
            let answer = if ok {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("now")
                    .as_secs();
                let b64 = |v: &str| {
                    use base64::Engine;
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
                };
                let jwt = format!(
                    "{}.{}.",
                    b64(r#"{"alg":"none"}"#),
                    b64(&format!(
                        r#"{{"sub":"alice","iat":{now},"exp":{}}}"#,
                        now + 3600
                    ))
                );
                let body = format!(r#"{{"access_token":"{jwt}","token_type":"Bearer"}}"#);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 26\r\n\r\n{\"error\":\"invalid_client\"}".into()
            };
            let _ = s.write_all(answer.as_bytes());
        }
    });
    let jaas = |secret: &str| {
        format!(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             clientId=\"producer-app\" clientSecret=\"{secret}\" scope=\"kafka\";"
        )
    };
    let props = |secret: &str| -> Props {
        vec![
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "OAUTHBEARER".into()),
            ("sasl.oauthbearer.token.endpoint.url", url.clone()),
            (
                "sasl.login.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
                    .into(),
            ),
            ("sasl.jaas.config", jaas(secret)),
        ]
    };
    let c = cluster();
    let topic = unique_name("oauth");
    c.create_topic(&topic, 1, 1).expect("topic");
    deliver("SASL_PLAINTEXT", &props("app-secret"), &topic, 0, 50).await;
    assert!(
        grants.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "a token was fetched"
    );
    let got =
        java_consume(&c.bootstrap(), &topic, Some(50), Duration::from_secs(60)).expect("read");
    assert_eq!(got.len(), 50);

    // A refused secret fails the producer's construction, naming the key and the endpoint's words.
    let err =
        Producer::<String, String>::new(config("SASL_PLAINTEXT", &props("wrong")).expect("config"))
            .err()
            .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("sasl.oauthbearer.token.endpoint.url") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(!text.contains("wrong\""), "{text}");
}
