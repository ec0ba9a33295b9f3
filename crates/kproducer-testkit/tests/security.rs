//! The secured listeners of [`KafkaCluster`] (`KafkaOptions::security`) checked with Java's own
//! KafkaProducer: TLS with a PEM trust store, mTLS with PKCS#12 stores, SASL PLAIN, SCRAM and
//! OAUTHBEARER over plaintext and TLS, and the failures the listeners exist for (wrong
//! password, untrusted CA, expired certificate, wrong host name, missing client certificate).
//!
//! One single-node cluster is shared by every test of this file. Needs the Apache Kafka jars
//! (`scripts/setup.sh`); skipped without them unless `KPRODUCER_REQUIRE_BROKERS` is set.

use std::path::Path;
use std::sync::OnceLock;

use kproducer_testkit::{
    java_produce_with, read_all, sasl, skip_without_kafka, unique_name, KafkaCluster, KafkaOptions,
    TestRecord, CLIENT_P12_PASSWORD, TRUSTSTORE_PASSWORD,
};

fn cluster() -> &'static KafkaCluster {
    // The error is kept so every test fails at once with it instead of starting JVMs again.
    static CLUSTER: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| {
        let options = KafkaOptions {
            security: true,
            // Longer than any test here: only shows the brokers accept the setting (Java's
            // client re-authenticates by itself anyway).
            reauth_ms: Some(60_000),
            ..KafkaOptions::default()
        };
        let c = KafkaCluster::start_with(1, &options).map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "secured Apache Kafka {} started in {:?}; TLS files in {}",
            kproducer_testkit::kafka_version(),
            c.startup_time(),
            c.tls_files().dir.display()
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

/// Produces one record with Java's producer to `listener` with `props`; on success checks it
/// landed (read back over PLAINTEXT).
fn produce(listener: &str, props: &[(&str, String)]) -> anyhow::Result<()> {
    let c = cluster();
    let topic = unique_name(&format!("sec-{}", listener.to_ascii_lowercase()));
    c.create_topic(&topic, 1, 1)?;
    let mut extra: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Failures must fail fast: an authentication error is fatal, anything else is bounded.
    extra.push(("max.block.ms", "20000"));
    extra.push(("delivery.timeout.ms", "20000"));
    extra.push(("request.timeout.ms", "10000"));
    let record = TestRecord::new(Some(b"k".to_vec()), Some(listener.as_bytes().to_vec()));
    let produced = java_produce_with(
        &c.bootstrap_for(listener),
        &topic,
        std::slice::from_ref(&record),
        None,
        &extra,
    )?;
    assert_eq!(produced.deliveries[0].offset, 0);
    let read = read_all(
        &c.bootstrap(),
        &topic,
        Some(1),
        std::time::Duration::from_secs(30),
    )?;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value, record.value);
    Ok(())
}

/// Producing over `listener` with `props` fails, and the failure's message (Java's exception
/// with its causes) contains `expected`.
fn produce_fails(listener: &str, props: &[(&str, String)], expected: &str) {
    let err = match produce(listener, props) {
        Ok(()) => panic!("producing over {listener} with {props:?} succeeded"),
        Err(e) => format!("{e:#}"),
    };
    // The first line names the cause; the rest is Java's log.
    eprintln!("{listener}: {}", err.lines().next().unwrap_or(""));
    assert!(
        err.contains(expected),
        "producing over {listener} failed without {expected}: {err}"
    );
}

macro_rules! skip {
    ($name:literal) => {
        if skip_without_kafka($name) {
            return;
        }
    };
}

#[test]
fn ssl_with_a_pem_truststore() {
    skip!("ssl_with_a_pem_truststore");
    let mut props = vec![("security.protocol", "SSL".to_owned())];
    props.extend(pem_trust());
    produce("SSL", &props).unwrap();
}

#[test]
fn mtls_with_pkcs12_stores() {
    skip!("mtls_with_pkcs12_stores");
    let tls = cluster().tls_files();
    let props = [
        ("security.protocol", "SSL".to_owned()),
        ("ssl.keystore.type", "PKCS12".into()),
        ("ssl.keystore.location", path(&tls.client_p12)),
        ("ssl.keystore.password", CLIENT_P12_PASSWORD.into()),
        ("ssl.truststore.type", "PKCS12".into()),
        ("ssl.truststore.location", path(&tls.truststore_p12)),
        ("ssl.truststore.password", TRUSTSTORE_PASSWORD.into()),
    ];
    produce("MTLS", &props).unwrap();
}

#[test]
fn mtls_with_a_pem_keystore() {
    skip!("mtls_with_a_pem_keystore");
    let mut props = vec![
        ("security.protocol", "SSL".to_owned()),
        ("ssl.keystore.type", "PEM".into()),
        (
            "ssl.keystore.location",
            path(&cluster().tls_files().client_pem),
        ),
    ];
    props.extend(pem_trust());
    produce("MTLS", &props).unwrap();
}

#[test]
fn sasl_plaintext_plain() {
    skip!("sasl_plaintext_plain");
    produce(
        "SASL_PLAINTEXT",
        &sasl_props("SASL_PLAINTEXT", "PLAIN", sasl::PASSWORD),
    )
    .unwrap();
}

#[test]
fn sasl_plaintext_scram_sha_512() {
    skip!("sasl_plaintext_scram_sha_512");
    produce(
        "SASL_PLAINTEXT",
        &sasl_props("SASL_PLAINTEXT", "SCRAM-SHA-512", sasl::PASSWORD),
    )
    .unwrap();
}

#[test]
fn sasl_ssl_scram_sha_256() {
    skip!("sasl_ssl_scram_sha_256");
    produce(
        "SASL_SSL",
        &sasl_props("SASL_SSL", "SCRAM-SHA-256", sasl::PASSWORD),
    )
    .unwrap();
}

#[test]
fn sasl_plaintext_oauthbearer_unsecured_jwt() {
    skip!("sasl_plaintext_oauthbearer_unsecured_jwt");
    let props = [
        ("security.protocol", "SASL_PLAINTEXT".to_owned()),
        ("sasl.mechanism", "OAUTHBEARER".into()),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\";"
                .into(),
        ),
    ];
    produce("SASL_PLAINTEXT", &props).unwrap();
}

#[test]
fn wrong_passwords_are_refused() {
    skip!("wrong_passwords_are_refused");
    produce_fails(
        "SASL_PLAINTEXT",
        &sasl_props("SASL_PLAINTEXT", "PLAIN", "not-the-password"),
        "SaslAuthenticationException",
    );
    produce_fails(
        "SASL_SSL",
        &sasl_props("SASL_SSL", "SCRAM-SHA-256", "not-the-password"),
        "SaslAuthenticationException",
    );
}

#[test]
fn an_untrusted_ca_is_refused() {
    skip!("an_untrusted_ca_is_refused");
    let props = [
        ("security.protocol", "SSL".to_owned()),
        ("ssl.truststore.type", "PEM".into()),
        (
            "ssl.truststore.location",
            path(&cluster().tls_files().other_ca_pem),
        ),
    ];
    produce_fails("SSL", &props, "unable to find valid certification path");
}

#[test]
fn expired_and_wrong_host_certificates_are_refused() {
    skip!("expired_and_wrong_host_certificates_are_refused");
    let mut props = vec![("security.protocol", "SSL".to_owned())];
    props.extend(pem_trust());
    produce_fails("EXPIRED", &props, "CertificateExpiredException");
    produce_fails(
        "WRONGHOST",
        &props,
        "No subject alternative names matching IP address 127.0.0.1",
    );
}

#[test]
fn mtls_without_a_client_certificate_is_refused() {
    skip!("mtls_without_a_client_certificate_is_refused");
    let mut props = vec![("security.protocol", "SSL".to_owned())];
    props.extend(pem_trust());
    produce_fails("MTLS", &props, "bad_certificate");
}

#[test]
fn mtls_with_a_certificate_of_another_ca_is_refused() {
    skip!("mtls_with_a_certificate_of_another_ca_is_refused");
    let mut props = vec![
        ("security.protocol", "SSL".to_owned()),
        ("ssl.keystore.type", "PEM".into()),
        (
            "ssl.keystore.location",
            path(&cluster().tls_files().untrusted_client_pem),
        ),
    ];
    props.extend(pem_trust());
    produce_fails("MTLS", &props, "SslAuthenticationException");
}
