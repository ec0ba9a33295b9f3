//! `kproducer console` against a real broker, read back by librdkafka.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kproducer_testkit::{read_all, unique_name, Broker};

fn console(args: &[&str], stdin: impl AsRef<[u8]>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .arg("console")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kproducer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_ref())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn console_sends_one_record_per_line_with_keys() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("console");
    broker.create_topic(&topic, 2).expect("topic");
    let props = std::env::temp_dir().join(format!("{topic}.properties"));
    std::fs::write(
        &props,
        "# a Java producer.properties\nacks=all\nlinger.ms=1\n",
    )
    .expect("write");
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
            "--producer-property",
            "client.id=console-test",
            "--producer.config",
            props.to_str().expect("utf-8 path"),
        ],
        "k1:first\nk2:second\nk1:third\n",
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "prints nothing on success");
    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(3),
        Duration::from_secs(30),
    )
    .expect("read");
    let mut got: Vec<(String, String)> = read
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("k1".into(), "first".into()),
            ("k1".into(), "third".into()),
            ("k2".into(), "second".into())
        ]
    );
    let _ = std::fs::remove_file(props);
}

#[test]
fn console_exits_non_zero_with_the_error() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("console-bad");
    broker.create_topic(&topic, 1).expect("topic");
    // A record over max.request.size fails.
    let big = "x".repeat(5_000);
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--producer-property",
            "max.request.size=1000",
        ],
        format!("{big}\n"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RecordTooLarge"), "{stderr}");
    // A transactional.id is refused: the console producer runs no transactions (as Java's).
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--producer-property",
            "transactional.id=tx",
        ],
        "v\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("transactional.id"));
    // A bad setting names the key.
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--producer-property",
            "acks=2",
        ],
        "v\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("acks"));
}

/// Records stored in `topic` (all partitions) of the in-process broker.
fn stored(broker: &Broker, topic: &str) -> Vec<kproducer_mock::StoredRecord> {
    let cluster = broker.cluster();
    let cluster = cluster.lock().unwrap();
    let n = cluster.partition_count(topic).unwrap_or(0);
    (0..n)
        .flat_map(|p| cluster.records(topic, p).unwrap())
        .collect()
}

/// A line without the key separator after 1,000 good ones: the run fails naming the line, and
/// the 1,000 records read before it are delivered (they used to be dropped with the producer).
#[test]
fn a_bad_line_fails_the_run_but_keeps_the_lines_before_it() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("console-badline");
    broker.create_topic(&topic, 1).expect("topic");
    let mut input: String = (0..1000).map(|i| format!("k{i}:v{i}\n")).collect();
    input.push_str("no separator here\nk:after\n");
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
            "--producer-property",
            "linger.ms=1000",
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("line number 1001"), "{stderr}");
    assert_eq!(stored(&broker, &topic).len(), 1000, "{stderr}");
}

/// A record over max.request.size between others is reported, and the lines after it are
/// still sent; invalid UTF-8 is sent byte for byte.
#[test]
fn a_refused_record_does_not_stop_the_lines_after_it() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("console-toolarge");
    broker.create_topic(&topic, 1).expect("topic");
    let mut input = b"before\n".to_vec();
    input.extend_from_slice(&[b'x'; 2000]);
    input.extend_from_slice(b"\nafter\n\xff\xfe-bytes\n");
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--producer-property",
            "max.request.size=1000",
        ],
        input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RecordTooLarge"), "{stderr}");
    let values: Vec<Vec<u8>> = stored(&broker, &topic)
        .into_iter()
        .filter_map(|r| r.value.map(|v| v.to_vec()))
        .collect();
    assert_eq!(
        values,
        vec![
            b"before".to_vec(),
            b"after".to_vec(),
            b"\xff\xfe-bytes".to_vec()
        ]
    );
}

/// SIGTERM with records still lingering (linger.ms=5000): they are delivered before exit.
#[cfg(unix)]
#[test]
fn sigterm_delivers_what_was_read() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("console-sigterm");
    broker.create_topic(&topic, 1).expect("topic");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .args([
            "console",
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--producer-property",
            "linger.ms=5000",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = (0..1000).map(|i| format!("line-{i}\n")).collect();
    stdin.write_all(input.as_bytes()).expect("stdin");
    stdin.flush().unwrap();
    // Time for the console to read the lines (stdin stays open: only the signal ends the run).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored(&broker, &topic).len(), 0, "still lingering");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143));
    drop(stdin);
    assert_eq!(stored(&broker, &topic).len(), 1000);
}

/// A misspelt key is accepted as Java does, but not silently.
#[test]
fn an_unknown_key_is_reported() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("console-lnger");
    let out = console(
        &[
            "--bootstrap-server",
            &broker.bootstrap(),
            "--topic",
            &topic,
            "--producer-property",
            "lnger.ms=5",
        ],
        "v\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("WARN")
            && stderr
                .contains("These configurations '[lnger.ms]' were supplied but are not used yet"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("lnger.ms").count(), 2, "one line: {stderr}");
}

/// Key, value and headers of each stored record, in offset order.
type Seen = Vec<(
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
)>;

fn seen(broker: &Broker, topic: &str) -> Seen {
    stored(broker, topic)
        .into_iter()
        .map(|r| {
            (
                r.key.map(|b| b.to_vec()),
                r.value.map(|b| b.to_vec()),
                r.headers
                    .into_iter()
                    .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                    .collect(),
            )
        })
        .collect()
}

/// The line format of Kafka 4.4's reader: headers, key, null marker, ignore.error. The same
/// input through Java's own ConsoleProducer (when the Apache Kafka tools are installed) and ours
/// gives the same records; ours is also checked against the expected records directly.
#[test]
fn headers_keys_and_null_markers_as_javas_console_producer() {
    let broker = Broker::start().expect("broker starts");
    let input = "h1:v1,h2:NULL\tk1\tvalue one\n\
                 NULL\tNULL\tNULL\n\
                 lonely\tk3\tv3\n\
                 just a value\n\
                 a:1\tk5\twith\ttabs\n";
    let reader = [
        "--reader-property",
        "parse.key=true",
        "--reader-property",
        "parse.headers=true",
        "--reader-property",
        "null.marker=NULL",
        "--reader-property",
        "ignore.error=true",
    ];
    let ours = unique_name("console-fmt");
    broker.create_topic(&ours, 1).expect("topic");
    let bootstrap = broker.bootstrap();
    let mut args = vec!["--bootstrap-server", &bootstrap, "--topic", &ours];
    args.extend(reader);
    args.push("--sync");
    let out = console(&args, input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let b = |s: &str| Some(s.as_bytes().to_vec());
    let expected: Seen = vec![
        (
            b("k1"),
            b("value one"),
            vec![("h1".into(), b("v1")), ("h2".into(), None)],
        ),
        (None, None, vec![]),
        (b("k3"), b("v3"), vec![("lonely".into(), None)]),
        (None, b("just a value"), vec![]),
        (b("k5"), b("with\ttabs"), vec![("a".into(), b("1"))]),
    ];
    assert_eq!(seen(&broker, &ours), expected);

    let java = match kproducer_testkit::java_tool("org.apache.kafka.tools.ConsoleProducer") {
        Ok(cmd) => cmd,
        Err(e) if kproducer_testkit::skip_without_kafka("java console producer") => {
            eprintln!("Java's half skipped: {e:#}");
            return;
        }
        Err(e) => panic!("{e:#}"),
    };
    let theirs = unique_name("console-fmt-java");
    broker.create_topic(&theirs, 1).expect("topic");
    let mut java = java;
    let mut child = java
        .args(["--bootstrap-server", &bootstrap, "--topic", &theirs])
        .args(reader)
        .arg("--sync")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn java");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("java");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seen(&broker, &theirs), expected, "Java's console producer");
}

/// A line without the key separator: Java's tool and ours both fail (exit 1) and both deliver
/// the lines read before it.
#[test]
fn a_bad_line_ends_the_run_as_in_java() {
    let broker = Broker::start().expect("broker starts");
    let bootstrap = broker.bootstrap();
    let input = "k1\tv1\nk2\tv2\nno separator\nk4\tv4\n";
    let ours = unique_name("console-bad");
    broker.create_topic(&ours, 1).expect("topic");
    let out = console(
        &[
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            &ours,
            "--reader-property",
            "parse.key=true",
        ],
        input,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No key separator found on line number 3: 'no separator'"),
        "{stderr}"
    );
    assert_eq!(stored(&broker, &ours).len(), 2);

    let Ok(mut java) = kproducer_testkit::java_tool("org.apache.kafka.tools.ConsoleProducer")
    else {
        assert!(
            kproducer_testkit::skip_without_kafka("java console producer"),
            "Apache Kafka's tools are required"
        );
        return;
    };
    let theirs = unique_name("console-bad-java");
    broker.create_topic(&theirs, 1).expect("topic");
    let mut child = java
        .args(["--bootstrap-server", &bootstrap, "--topic", &theirs])
        .args(["--reader-property", "parse.key=true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn java");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("java");
    assert_eq!(out.status.code(), Some(1), "Java exits 1 too");
    assert_eq!(
        stored(&broker, &theirs).len(),
        2,
        "Java delivers the lines before it"
    );
}

/// `--version` on the tool and each command; `--help` exits 0; an unknown flag exits 2.
#[test]
fn version_help_and_usage_errors() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kproducer"))
            .args(args)
            .output()
            .expect("run kproducer")
    };
    let want = format!(" {}", env!("CARGO_PKG_VERSION"));
    for args in [
        &["--version"][..],
        &["console", "--version"],
        &["perf", "--version"],
        &["mock", "--version"],
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("kproducer") && stdout.trim_end().ends_with(&want),
            "{args:?}: {stdout}"
        );
    }
    let out = run(&["console", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--reader-property",
        "--command-config",
        "--sync",
        "--compression-codec",
        "--timeout",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
    let out = run(&["perf"]);
    assert!(out.status.success(), "no arguments: help, exit 0 (as Java)");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--warmup-records"));
    let out = run(&["console", "--topic", "t", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

/// A Java `client.properties` for a SASL_SSL cluster (SCRAM, PEM trust store) loads unchanged;
/// a wrong password makes the console exit non-zero within seconds, naming the mechanism.
#[test]
fn secured_cluster_with_a_java_client_properties_file() {
    use kproducer_testkit::{sasl, skip_without_kafka, KafkaCluster, KafkaOptions};
    if skip_without_kafka("secured_cluster_with_a_java_client_properties_file") {
        return;
    }
    let cluster = KafkaCluster::start_with(
        1,
        &KafkaOptions {
            security: true,
            ..KafkaOptions::default()
        },
    )
    .expect("secured Apache Kafka");
    let topic = unique_name("console-sasl");
    cluster.create_topic(&topic, 1, 1).expect("topic");
    let dir = tempfile::tempdir().expect("tmp");
    let write_props = |password: &str| {
        let path = dir.path().join(format!("client-{password}.properties"));
        let ca = cluster.tls_files().ca_pem.display().to_string();
        // As Java users write it: escaped quotes are not needed, a continuation line is.
        let text = format!(
            "security.protocol=SASL_SSL\n\
             sasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    \
             username=\"{}\" password=\"{password}\";\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca}\n",
            sasl::USER
        );
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let bootstrap = cluster.bootstrap_for("SASL_SSL");
    let good = write_props(sasl::PASSWORD);
    let out = console(
        &[
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            &topic,
            "--producer.config",
            &good,
        ],
        "one\ntwo\n",
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = read_all(
        &cluster.bootstrap(),
        &topic,
        Some(2),
        Duration::from_secs(30),
    )
    .expect("read");
    assert_eq!(got.len(), 2);

    let bad = write_props("wrong-password");
    let started = std::time::Instant::now();
    let out = console(
        &[
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            &topic,
            "--producer.config",
            &bad,
        ],
        "three\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "stderr: {stderr}");
    assert!(
        stderr.contains("SaslAuthenticationException") && stderr.contains("SCRAM-SHA-512"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-password"),
        "no secret printed: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
