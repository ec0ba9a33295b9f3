//! What a broker can send a SASL client, and what a user can write in `sasl.jaas.config`:
//! the first bytes pick a mechanism (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER with Java's unsecured
//! login), the rest are cut into server messages fed to `step` after `start`, as the core does
//! with SaslAuthenticate answers; the same bytes as text go through the JAAS parser. Errors are
//! fine; panics, hangs (a hostile iteration count) and secrets in error text are not.
#![no_main]

use std::time::{Duration, SystemTime};

use kproducer::security::{JaasConfig, SaslConfig, SaslStep};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "pencil-Secret-42";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = JaasConfig::parse(text) {
            let _ = e.to_string();
        }
    }
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (mechanism, jaas) = match pick % 4 {
        0 => (
            "PLAIN",
            format!(r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="{PASSWORD}";"#),
        ),
        1 => (
            "SCRAM-SHA-256",
            format!(r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="u=,x" password="{PASSWORD}";"#),
        ),
        2 => (
            "SCRAM-SHA-512",
            format!(r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="{PASSWORD}";"#),
        ),
        _ => (
            "OAUTHBEARER",
            r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";"#.to_string(),
        ),
    };
    let config = SaslConfig::from_parts(mechanism, Some(&jaas), None).expect("valid config");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut m = config.new_mechanism(now);
    let _ = m.start().expect("a first message");
    // Server messages separated by 0xFF (never in SCRAM/OAUTHBEARER text).
    for message in rest.split(|b| *b == 0xFF).take(4) {
        match m.step(message) {
            Ok(SaslStep::Respond(_)) => {}
            Ok(SaslStep::Complete) => break,
            Err(e) => {
                assert!(!e.to_string().contains(PASSWORD), "secret in {e}");
                break;
            }
        }
    }
});
