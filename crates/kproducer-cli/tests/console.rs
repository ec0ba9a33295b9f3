//! `kproducer console` against a real broker, read back by librdkafka.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kproducer_testkit::{read_all, unique_name, Broker};

fn console(args: &[&str], stdin: &str) -> std::process::Output {
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
        .write_all(stdin.as_bytes())
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
        &format!("{big}\n"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RecordTooLarge"), "{stderr}");
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
