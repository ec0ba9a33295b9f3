//! `kproducer mock`: the bootstrap address comes first on stdout, any client can use the cluster
//! (librdkafka here, `kproducer console` too), and closing stdin or SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kproducer_testkit::{rdkafka_produce, read_all, unique_name, TestRecord};

fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .arg("mock")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kproducer mock");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    (child, first.trim().to_string())
}

/// Waits for the process to exit (bounded), returning its status and stderr.
fn finish(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kproducer mock did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    (status, err)
}

#[test]
fn serves_three_brokers_until_stdin_closes() {
    let (mut child, bootstrap) = start(&["--brokers", "3", "--partitions", "4"]);
    let addrs: Vec<&str> = bootstrap.split(',').collect();
    assert_eq!(addrs.len(), 3, "first line: {bootstrap:?}");
    assert!(addrs.iter().all(|a| a.starts_with("127.0.0.1:")));

    // An auto-created topic gets --partitions partitions; librdkafka writes and reads it back.
    let topic = unique_name("cli-mock");
    let records: Vec<TestRecord> = (0..200)
        .map(|i| TestRecord::new(Some(format!("k{i}").into_bytes()), Some(vec![b'v'; i])))
        .collect();
    let deliveries = rdkafka_produce(&bootstrap, &topic, &records).expect("produce");
    assert_eq!(deliveries.len(), 200);
    assert!(deliveries.iter().all(|d| (0..4).contains(&d.partition)));
    let read = read_all(&bootstrap, &topic, Some(200), Duration::from_secs(30)).expect("read");
    assert_eq!(read.len(), 200);

    drop(child.stdin.take()); // closing stdin stops it
    let (status, err) = finish(child);
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("stopped (stdin closed)"), "{err}");
    assert!(
        err.contains(&format!("{topic}: 200 record(s) in 4 partition(s)")),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_it_with_until_signal() {
    let (child, bootstrap) = start(&["--until-signal", "--topic", "pre", "--partitions", "2"]);
    assert_eq!(bootstrap.split(',').count(), 1);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let (status, err) = finish(child);
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("stopped (SIGTERM)"), "{err}");
    assert!(err.contains("pre: 0 record(s) in 2 partition(s)"), "{err}");
}

#[test]
fn a_bad_flag_exits_2_naming_it() {
    let (mut child, first) = start(&["--brokers", "zero"]);
    assert_eq!(first, "", "nothing on stdout");
    let _ = child.stdin.take().map(|mut s| s.write_all(b""));
    let (status, err) = finish(child);
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("--brokers"), "{err}");
}
