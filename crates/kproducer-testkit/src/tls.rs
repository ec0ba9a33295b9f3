//! TLS material for [`KafkaCluster`](crate::KafkaCluster)'s secured listeners, generated with
//! `rcgen` (ECDSA P-256 keys, SHA-256 signatures) and written as PEM and PKCS#12 (the
//! `p12-keystore` crate, in the form Java's `PKCS12` key store reads: PBES2/AES-256 and an
//! HMAC-SHA256 MAC, trusted certificates marked with Oracle's trusted-key-usage attribute).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// Password of [`TlsFiles::client_p12`].
pub const CLIENT_P12_PASSWORD: &str = "client-pass";
/// Password of [`TlsFiles::truststore_p12`].
pub const TRUSTSTORE_PASSWORD: &str = "trust-pass";

/// Host names and addresses in the broker's certificate ([`TlsFiles::server_pem`]) and in the
/// expired one.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1"];
/// The only name in [`TlsFiles::wrong_host_pem`]'s certificate.
pub const WRONG_HOST_NAME: &str = "wrong-host.example";

/// The paths of every file [`KafkaCluster`](crate::KafkaCluster) generated for its secured
/// listeners (see [`KafkaCluster::tls_files`](crate::KafkaCluster::tls_files)); all in one
/// directory of the cluster's temporary directory, removed when the cluster is dropped.
///
/// Keys are ECDSA P-256, PEM keys unencrypted PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
/// Certificates are valid from 2020-01-01 to 2100-01-01 except the expired one. "Chain" files
/// hold the leaf certificate then the CA's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The directory holding every file below.
    pub dir: PathBuf,
    /// The CA certificate (PEM) that signed every server certificate and the client one: the
    /// trust anchor a client needs.
    pub ca_pem: PathBuf,
    /// A second, unrelated CA (PEM): trusting only it must make every handshake fail
    /// ("unknown issuer").
    pub other_ca_pem: PathBuf,
    /// The broker's key + certificate chain (PEM), for `localhost` and `127.0.0.1`
    /// ([`SERVER_NAMES`]); served on `SSL`, `MTLS` and `SASL_SSL`.
    pub server_pem: PathBuf,
    /// Key + chain (PEM) of an expired server certificate (valid 2020-01-01 to 2021-01-01, same
    /// names, signed by the CA); served on `EXPIRED`.
    pub expired_pem: PathBuf,
    /// Key + chain (PEM) of a server certificate signed by the CA whose only name is
    /// [`WRONG_HOST_NAME`]; served on `WRONGHOST`.
    pub wrong_host_pem: PathBuf,
    /// The client's key, its certificate and the CA's (PEM), for mTLS (`MTLS` listener).
    /// Subject `CN=kproducer-client`.
    pub client_pem: PathBuf,
    /// The client's certificate alone (PEM).
    pub client_cert_pem: PathBuf,
    /// The client's private key alone (PEM, PKCS#8).
    pub client_key_pem: PathBuf,
    /// The client's key and chain as PKCS#12, password [`CLIENT_P12_PASSWORD`], alias
    /// `client` (Java: `ssl.keystore.type=PKCS12`).
    pub client_p12: PathBuf,
    /// The CA as a PKCS#12 trust store, password [`TRUSTSTORE_PASSWORD`], alias `ca`
    /// (Java: `ssl.truststore.type=PKCS12`).
    pub truststore_p12: PathBuf,
    /// Key + chain (PEM) of a client certificate signed by [`other_ca_pem`](Self::other_ca_pem):
    /// the `MTLS` listener must refuse it.
    pub untrusted_client_pem: PathBuf,
}

/// A fresh CA and a server certificate it signed, in memory: what an in-process TLS server
/// needs (the bench's ack sink serves it with rustls). Keys are ECDSA P-256, certificates valid
/// from 2020-01-01 to 2100-01-01, made as [`TlsFiles::server_pem`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The CA certificate (PEM): the trust anchor a client needs.
    pub ca_pem: String,
    /// The server certificate then the CA's, DER.
    pub chain_der: Vec<Vec<u8>>,
    /// The server's private key, PKCS#8 DER.
    pub key_pkcs8_der: Vec<u8>,
}

impl ServerCertificate {
    /// Generates a CA and a server certificate signed by it for `names` (host names or IP
    /// addresses, e.g. [`SERVER_NAMES`]; the first is also the subject's common name).
    pub fn generate(names: &[&str]) -> anyhow::Result<ServerCertificate> {
        let ca = new_ca("kproducer test CA")?;
        let cn = names.first().copied().unwrap_or("localhost");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let server = leaf(&ca, cn, &names, Role::Server, (2020, 2100))?;
        Ok(ServerCertificate {
            ca_pem: ca.pem(),
            chain_der: vec![server.cert.der().to_vec(), ca.der().to_vec()],
            key_pkcs8_der: server.key.serialize_der(),
        })
    }
}

/// One generated key and certificate.
struct Leaf {
    key: KeyPair,
    cert: rcgen::Certificate,
}

/// Generates every file of [`TlsFiles`] into `dir` (created if missing).
pub(crate) fn generate(dir: &Path) -> anyhow::Result<TlsFiles> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = TlsFiles {
        dir: dir.to_path_buf(),
        ca_pem: dir.join("ca.pem"),
        other_ca_pem: dir.join("other-ca.pem"),
        server_pem: dir.join("server.pem"),
        expired_pem: dir.join("expired.pem"),
        wrong_host_pem: dir.join("wrong-host.pem"),
        client_pem: dir.join("client.pem"),
        client_cert_pem: dir.join("client-cert.pem"),
        client_key_pem: dir.join("client-key.pem"),
        client_p12: dir.join("client.p12"),
        truststore_p12: dir.join("truststore.p12"),
        untrusted_client_pem: dir.join("untrusted-client.pem"),
    };
    // Validity as (first year, year of expiry), each from January 1st.
    let valid = (2020, 2100);
    let expired = (2020, 2021);
    let servers: Vec<String> = SERVER_NAMES.iter().map(|s| s.to_string()).collect();

    let ca = new_ca("kproducer test CA")?;
    let other_ca = new_ca("kproducer unrelated CA")?;
    write(&files.ca_pem, ca.pem())?;
    write(&files.other_ca_pem, other_ca.pem())?;

    let server = leaf(&ca, "localhost", &servers, Role::Server, valid)?;
    write(&files.server_pem, chain_pem(&server, &ca))?;
    let old = leaf(&ca, "localhost", &servers, Role::Server, expired)?;
    write(&files.expired_pem, chain_pem(&old, &ca))?;
    let wrong = leaf(
        &ca,
        WRONG_HOST_NAME,
        &[WRONG_HOST_NAME.to_owned()],
        Role::Server,
        valid,
    )?;
    write(&files.wrong_host_pem, chain_pem(&wrong, &ca))?;

    let client = leaf(&ca, "kproducer-client", &[], Role::Client, valid)?;
    write(&files.client_pem, chain_pem(&client, &ca))?;
    write(&files.client_cert_pem, client.cert.pem())?;
    write(&files.client_key_pem, client.key.serialize_pem())?;
    let stranger = leaf(&other_ca, "kproducer-stranger", &[], Role::Client, valid)?;
    write(&files.untrusted_client_pem, chain_pem(&stranger, &other_ca))?;

    let mut keystore = KeyStore::new();
    let key = PrivateKey::from_der(&client.key.serialize_der())
        .context("the client key as PKCS#12 private key")?;
    let chain = [client.cert.der().as_ref(), ca.der().as_ref()]
        .into_iter()
        .map(p12_keystore::Certificate::from_der)
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the client chain for PKCS#12")?;
    keystore.add_entry(
        "client",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new("client", key, chain)),
    );
    let p12 = keystore
        .writer(CLIENT_P12_PASSWORD)
        .write()
        .context("writing client.p12")?;
    write(&files.client_p12, &p12)?;

    let mut truststore = KeyStore::new();
    truststore.add_entry(
        "ca",
        KeyStoreEntry::Certificate(
            p12_keystore::Certificate::from_der(ca.der()).context("the CA for PKCS#12")?,
        ),
    );
    let p12 = truststore
        .writer(TRUSTSTORE_PASSWORD)
        .write()
        .context("writing truststore.p12")?;
    write(&files.truststore_p12, &p12)?;
    Ok(files)
}

#[derive(Clone, Copy)]
enum Role {
    Server,
    Client,
}

fn new_ca(cn: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    let key = KeyPair::generate().context("generating a CA key")?;
    CertifiedIssuer::self_signed(params, key).with_context(|| format!("self-signing CA {cn:?}"))
}

fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    names: &[String],
    role: Role,
    (from_year, until_year): (i32, i32),
) -> anyhow::Result<Leaf> {
    let mut params = CertificateParams::new(names.to_vec())
        .with_context(|| format!("certificate names {names:?}"))?;
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match role {
        Role::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Role::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(from_year, 1, 1);
    params.not_after = date_time_ymd(until_year, 1, 1);
    let key = KeyPair::generate().context("generating a key")?;
    let cert = params
        .signed_by(&key, ca)
        .with_context(|| format!("signing the certificate of {cn:?}"))?;
    Ok(Leaf { key, cert })
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "kproducer tests");
    dn.push(DnType::CommonName, cn);
    dn
}

/// Key, leaf certificate, CA certificate: what Kafka's `ssl.keystore.type=PEM` file holds.
fn chain_pem(leaf: &Leaf, ca: &CertifiedIssuer<'static, KeyPair>) -> String {
    format!(
        "{}{}{}",
        leaf.key.serialize_pem(),
        leaf.cert.pem(),
        ca.pem()
    )
}

fn write(path: &Path, data: impl AsRef<[u8]>) -> anyhow::Result<()> {
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p12_keystore::Pkcs12ImportPolicy;

    #[test]
    fn a_server_certificate_in_memory_chains_to_its_ca() {
        let c = ServerCertificate::generate(SERVER_NAMES).unwrap();
        assert_eq!(c.ca_pem.matches("-----BEGIN CERTIFICATE-----").count(), 1);
        assert_eq!(c.chain_der.len(), 2);
        // The chain's second certificate is the CA's: the PEM's body, base64.
        let body: String = c
            .ca_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let ca_der = crate::kafka_interop::base64_encode_with(
            &c.chain_der[1],
            crate::kafka_interop::STANDARD,
            true,
        );
        assert_eq!(body, ca_der);
        assert!(!c.key_pkcs8_der.is_empty());
    }

    #[test]
    fn every_file_is_written_and_the_stores_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let f = generate(&dir.path().join("tls")).unwrap();
        for p in [
            &f.ca_pem,
            &f.other_ca_pem,
            &f.server_pem,
            &f.expired_pem,
            &f.wrong_host_pem,
            &f.client_pem,
            &f.client_cert_pem,
            &f.client_key_pem,
            &f.client_p12,
            &f.truststore_p12,
            &f.untrusted_client_pem,
        ] {
            assert!(fs::metadata(p).unwrap().len() > 100, "{}", p.display());
        }
        let server = fs::read_to_string(&f.server_pem).unwrap();
        assert_eq!(server.matches("-----BEGIN PRIVATE KEY-----").count(), 1);
        assert_eq!(server.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(server.ends_with(&fs::read_to_string(&f.ca_pem).unwrap()));

        let ks = KeyStore::from_pkcs12(
            &fs::read(&f.client_p12).unwrap(),
            CLIENT_P12_PASSWORD,
            Pkcs12ImportPolicy::Strict,
        )
        .unwrap();
        let (alias, chain) = ks.private_key_chain().unwrap();
        assert_eq!(alias, "client");
        assert_eq!(chain.certs().len(), 2);
        assert!(chain.certs()[0].subject().contains("kproducer-client"));

        let ts = KeyStore::from_pkcs12(
            &fs::read(&f.truststore_p12).unwrap(),
            TRUSTSTORE_PASSWORD,
            Pkcs12ImportPolicy::Strict,
        )
        .unwrap();
        match ts.entry("ca") {
            Some(KeyStoreEntry::Certificate(c)) => assert!(c.subject().contains("test CA")),
            other => panic!("no trusted CA entry: {other:?}"),
        }
    }
}
