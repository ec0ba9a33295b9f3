//! `kproducer perf` against a broker on a real socket (the in-process cluster): the output has Java's
//! `kafka-producer-perf-test` lines and every record arrives (read back by librdkafka).

use std::process::{Command, Output};
use std::time::Duration;

use kproducer_testkit::{read_all, unique_name, Broker};

fn perf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .arg("perf")
        .args(args)
        .output()
        .expect("run kproducer perf")
}

/// The numbers of Java's final line:
/// `N records sent, X records/sec (Y MB/sec), Z ms avg latency, W ms max latency,
///  A ms 50th, B ms 95th, C ms 99th, D ms 99.9th.`
fn parse_total(line: &str) -> Option<(u64, f64, f64, f64, f64, [u64; 4])> {
    let rest = line.strip_suffix(" ms 99.9th.")?;
    let (count, rest) = rest.split_once(" records sent, ")?;
    let (rate, rest) = rest.split_once(" records/sec (")?;
    let (mb, rest) = rest.split_once(" MB/sec), ")?;
    let (avg, rest) = rest.split_once(" ms avg latency, ")?;
    let (max, rest) = rest.split_once(" ms max latency, ")?;
    let (p50, rest) = rest.split_once(" ms 50th, ")?;
    let (p95, rest) = rest.split_once(" ms 95th, ")?;
    let (p99, p999) = rest.split_once(" ms 99th, ")?;
    Some((
        count.parse().ok()?,
        rate.parse().ok()?,
        mb.parse().ok()?,
        avg.parse().ok()?,
        max.parse().ok()?,
        [
            p50.parse().ok()?,
            p95.parse().ok()?,
            p99.parse().ok()?,
            p999.parse().ok()?,
        ],
    ))
}

/// One row of Java's `--print-metrics` table: `group:name:{k=v, ...}   : value`.
#[derive(Debug)]
struct Row {
    group: String,
    name: String,
    tags: Vec<(String, String)>,
    value: f64,
}

/// Parses the table `ToolsUtils.printMetrics` prints: a blank line, the `Metric Name ... Value`
/// header, then rows sorted by their `group:name:{tags}` text, the name column padded to the
/// longest, values `%.3f` (or `NaN`).
fn parse_metrics_table(stdout: &str) -> Vec<Row> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("Metric Name"));
    let header = lines.next().expect("a Metric Name header");
    let width = header.find("   Value").expect("Value column");
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        let (key, value) = line.split_at(width);
        let value = value
            .strip_prefix(" : ")
            .unwrap_or_else(|| panic!("value column at {width}: {line:?}"));
        let value: f64 = match value {
            "NaN" => f64::NAN,
            v => {
                let (_, decimals) = v.split_once('.').unwrap_or_else(|| panic!("%.3f: {v}"));
                assert_eq!(decimals.len(), 3, "%.3f: {v}");
                v.parse().unwrap_or_else(|e| panic!("{v}: {e}"))
            }
        };
        let key = key.trim_end();
        keys.push(key.to_string());
        let (group, rest) = key.split_once(':').expect("group:");
        let (name, tags) = rest.split_once(':').expect("name:");
        let tags = tags
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{{tags}}: {key}"));
        let tags = tags
            .split(", ")
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k.to_string(), v.to_string())
            })
            .collect();
        rows.push(Row {
            group: group.into(),
            name: name.into(),
            tags,
            value,
        });
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "rows sorted as Java's TreeMap sorts them");
    rows
}

/// The table's figures against what the run did: `records` records of 100 bytes to `topic`,
/// no failure, no retry, everything acknowledged before the table is printed.
fn check_metrics_table(stdout: &str, topic: &str, records: u64) {
    let rows = parse_metrics_table(stdout);
    let get = |group: &str, name: &str, tag: Option<(&str, &str)>| -> f64 {
        rows.iter()
            .find(|r| {
                r.group == group
                    && r.name == name
                    && tag.is_none_or(|(k, v)| r.tags.iter().any(|(a, b)| a == k && b == v))
            })
            .unwrap_or_else(|| panic!("{group}:{name} missing from {stdout}"))
            .value
    };
    let p = "producer-metrics";
    assert!(rows.iter().all(|r| r
        .tags
        .iter()
        .any(|(k, v)| k == "client-id" && v == "perf-producer-client")));
    let n = records as f64;
    assert_eq!(get(p, "record-send-total", None), n, "{stdout}");
    assert_eq!(get(p, "record-retry-total", None), 0.0);
    assert_eq!(get(p, "record-error-total", None), 0.0);
    assert!(get(p, "record-send-rate", None) > 0.0);
    // Java's estimateSizeInBytesUpperBound of a 100-byte value, no key, no headers: the batch
    // header (61), the record's largest overhead (21), key length -1 (1), value length (2), the
    // value (100), the header count (1).
    assert_eq!(get(p, "record-size-max", None), 186.0);
    let batch_avg = get(p, "batch-size-avg", None);
    assert!(batch_avg > 185.0 && batch_avg <= get(p, "batch-size-max", None));
    assert!(get(p, "records-per-request-avg", None) >= 1.0);
    assert!(get(p, "request-latency-avg", None) >= 0.0);
    assert_eq!(get(p, "compression-rate-avg", None), 1.0);
    assert_eq!(
        get(p, "buffer-available-bytes", None),
        get(p, "buffer-total-bytes", None),
        "every batch freed after the flush"
    );
    assert_eq!(get(p, "buffer-total-bytes", None), 33_554_432.0);
    assert_eq!(get(p, "requests-in-flight", None), 0.0);
    assert!(get(p, "connection-count", None) >= 1.0);
    assert!(get(p, "connection-creation-total", None) >= 1.0);
    assert!(get(p, "outgoing-byte-total", None) > n * 100.0);
    assert!(get(p, "request-total", None) >= get(p, "response-total", None));
    assert!(get(p, "metadata-age", None) >= 0.0);
    let io_wait = get(p, "io-wait-ratio", None);
    assert!((0.0..=1.0).contains(&io_wait), "{io_wait}");
    let t = "producer-topic-metrics";
    assert_eq!(get(t, "record-send-total", Some(("topic", topic))), n);
    assert!(get(t, "byte-total", Some(("topic", topic))) > n * 100.0);
    let nodes: Vec<&Row> = rows
        .iter()
        .filter(|r| r.group == "producer-node-metrics" && r.name == "request-latency-avg")
        .collect();
    assert!(!nodes.is_empty(), "{stdout}");
    assert!(nodes.iter().all(|r| r
        .tags
        .iter()
        .any(|(k, v)| k == "node-id" && v.starts_with("node-"))));
}

#[test]
fn perf_prints_javas_summary_and_every_record_arrives() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("perf");
    broker.create_topic(&topic, 2).expect("topic");
    let bootstrap = format!("bootstrap.servers={}", broker.bootstrap());
    let out = perf(&[
        "--topic",
        &topic,
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        &bootstrap,
        "acks=all",
        "linger.ms=5",
        "--print-metrics",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no progress bar when piped: {stderr}"
    );
    let total = stdout
        .lines()
        .find_map(parse_total)
        .unwrap_or_else(|| panic!("no summary line in {stdout}"));
    let (count, rate, mb, avg, max, [p50, p95, p99, p999]) = total;
    assert_eq!(count, 2000);
    assert!(rate > 0.0 && mb > 0.0, "{stdout}");
    assert!(avg <= max, "{stdout}");
    assert!(p50 <= p95 && p95 <= p99 && p99 <= p999, "{stdout}");
    assert!((p999 as f64) <= max + 1.0, "{stdout}");
    // --print-metrics: Java's table of producer.metrics(); every record was sent once.
    check_metrics_table(&stdout, &topic, 2000);

    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(2000),
        Duration::from_secs(60),
    )
    .expect("read back");
    assert_eq!(read.len(), 2000);
    assert!(read.iter().all(|r| r.key.is_none()
        && r.value
            .as_deref()
            .is_some_and(|v| v.len() == 100 && v.iter().all(u8::is_ascii_uppercase))));
}

#[test]
fn perf_paces_and_reads_payload_files() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("perf-file");
    broker.create_topic(&topic, 1).expect("topic");
    let file = std::env::temp_dir().join(format!("{topic}.payloads"));
    std::fs::write(&file, "alpha|beta|gamma|").expect("write payloads");
    let props = std::env::temp_dir().join(format!("{topic}.properties"));
    std::fs::write(
        &props,
        format!("bootstrap.servers={}\nlinger.ms=0\n", broker.bootstrap()),
    )
    .expect("write properties");
    // 300 records at 500/s take at least about 0.6 s (Java's throttler lets the first record
    // through at once, so allow some slack below).
    let started = std::time::Instant::now();
    let out = perf(&[
        "--topic",
        &topic,
        "--num-records",
        "300",
        "--payload-file",
        file.to_str().expect("utf-8 path"),
        "--payload-delimiter",
        "|",
        "--throughput",
        "500",
        "--producer.config",
        props.to_str().expect("utf-8 path"),
    ]);
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Number of messages read: 3"), "{stdout}");
    let (count, rate, ..) = stdout
        .lines()
        .find_map(parse_total)
        .unwrap_or_else(|| panic!("no summary line in {stdout}"));
    assert_eq!(count, 300);
    assert!(took >= Duration::from_millis(500), "took {took:?}");
    assert!(rate < 650.0, "paced to about 500/s, got {rate}");
    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(300),
        Duration::from_secs(60),
    )
    .expect("read back");
    assert_eq!(read.len(), 300);
    for r in &read {
        let v = r.value.as_deref().unwrap_or_default();
        assert!(matches!(v, b"alpha" | b"beta" | b"gamma"), "{v:?}");
    }
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(props);
}

#[test]
fn perf_rejects_missing_settings() {
    let out = perf(&[
        "--topic",
        "t",
        "--num-records",
        "1",
        "--record-size",
        "1",
        "--throughput",
        "-1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--producer-props"));
}

/// `kproducer perf ... | head -1`: stdout closed from the start. Printing used to panic (in a
/// callback on the producer's network thread, and in the summary), leaving records undelivered.
#[test]
fn a_closed_stdout_loses_nothing() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("perf-epipe");
    broker.create_topic(&topic, 2).expect("topic");
    let bootstrap = format!("bootstrap.servers={}", broker.bootstrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .args([
            "perf",
            "--topic",
            &topic,
            "--num-records",
            "50000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &bootstrap,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader is gone: every write to stdout fails with EPIPE
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let cluster = broker.cluster();
    let cluster = cluster.lock().unwrap();
    let stored: i64 = (0..2).map(|p| cluster.high_watermark(&topic, p)).sum();
    assert_eq!(stored, 50_000);
}

/// Kafka 4.4's newer flags: `--bootstrap-server`, `--command-property`, `--warmup-records` (a
/// second, steady-state summary), `--reporting-interval`, `--key-distribution range`.
#[test]
fn warmup_steady_state_and_keys_as_kafka_4_4() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("perf-steady");
    broker.create_topic(&topic, 2).expect("topic");
    let out = perf(&[
        "--bootstrap-server",
        &broker.bootstrap(),
        "--topic",
        &topic,
        "--num-records",
        "3000",
        "--warmup-records",
        "1000",
        "--record-size",
        "20",
        "--throughput",
        "5000",
        "--reporting-interval",
        "100",
        "--key-distribution",
        "range",
        "--record-key-range",
        "4",
        "--command-property",
        "linger.ms=1",
        "acks=all",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.starts_with(
            "Warmup first 1000 records. Steady state results will print after the complete test summary."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("In steady state."),
        "window lines every 100 ms over ~0.6 s: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .filter(|l| l.ends_with("ms max latency."))
            .count()
            >= 2,
        "{stdout}"
    );
    let totals: Vec<_> = stdout.lines().filter_map(parse_total).collect();
    assert_eq!(totals.len(), 1, "the whole run: {stdout}");
    assert_eq!(totals[0].0, 3000);
    let steady = stdout
        .lines()
        .find(|l| l.starts_with("2000 steady state records sent, "))
        .unwrap_or_else(|| panic!("no steady-state summary in {stdout}"));
    assert!(steady.ends_with(" ms 99.9th."), "{steady}");
    assert!(!stderr.contains("deprecated"), "{stderr}");

    let read = read_all(
        &broker.bootstrap(),
        &topic,
        Some(3000),
        Duration::from_secs(60),
    )
    .expect("read back");
    assert_eq!(read.len(), 3000);
    let mut per_key = std::collections::BTreeMap::new();
    for r in &read {
        *per_key
            .entry(r.key.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    let want: std::collections::BTreeMap<Vec<u8>, i32> =
        (0..4).map(|k| (k.to_string().into_bytes(), 750)).collect();
    assert_eq!(per_key, want, "round-robin keys 0..4");
}

/// `--transactional-id --transaction-duration-ms` as Java's perf test: the records go in
/// transactions committed every duration, all committed at the end (the coordinator saw
/// several commits; a read_committed view has every record).
#[test]
fn perf_runs_transactions_committed_every_duration() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("perf-txn");
    broker.create_topic(&topic, 2).expect("topic");
    let bootstrap = format!("bootstrap.servers={}", broker.bootstrap());
    let txn_id = unique_name("perf-tid");
    let out = perf(&[
        "--topic",
        &topic,
        "--num-records",
        "3000",
        "--record-size",
        "100",
        "--throughput",
        "10000",
        "--transactional-id",
        &txn_id,
        "--transaction-duration-ms",
        "50",
        "--producer-props",
        &bootstrap,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let (count, ..) = stdout
        .lines()
        .find_map(parse_total)
        .unwrap_or_else(|| panic!("no summary line in {stdout}"));
    assert_eq!(count, 3000);
    let cluster = broker.cluster();
    let c = cluster.lock().unwrap();
    let committed: usize = (0..2)
        .map(|p| c.committed_records(&topic, p).unwrap().len())
        .sum();
    assert_eq!(committed, 3000, "every record committed");
    let stats = c.stats();
    assert!(
        stats.transactions_committed >= 3,
        "~300 ms of sending at 50 ms per transaction: {stats:?}"
    );
    let info = c.transaction(&txn_id).expect("coordinator knows the id");
    assert_eq!(info.state, kproducer_mock::TransactionState::CompleteCommit);
}

/// SIGINT mid-run of a transactional perf: sending stops, the open transaction is committed,
/// the summary is printed and the exit code is 130; every record the summary counts is
/// committed (nothing accepted is lost, nothing left open on the coordinator).
#[test]
fn sigint_mid_run_commits_what_was_sent_and_reports_it() {
    let broker = Broker::start().expect("broker starts");
    let topic = unique_name("perf-sigint");
    broker.create_topic(&topic, 2).expect("topic");
    let txn_id = unique_name("perf-sigint-tid");
    let child = Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .args([
            "perf",
            "--topic",
            &topic,
            "--num-records",
            "10000000",
            "--record-size",
            "100",
            "--throughput",
            "20000",
            "--transactional-id",
            &txn_id,
            "--transaction-duration-ms",
            "100",
            "--command-property",
            &format!("bootstrap.servers={}", broker.bootstrap()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    let (count, ..) = stdout
        .lines()
        .find_map(parse_total)
        .unwrap_or_else(|| panic!("no summary line in {stdout}"));
    assert!(count > 0 && count < 10_000_000, "{stdout}");
    let cluster = broker.cluster();
    let c = cluster.lock().unwrap();
    let committed: usize = (0..2)
        .map(|p| c.committed_records(&topic, p).unwrap().len())
        .sum();
    assert_eq!(committed as u64, count, "every record counted is committed");
    let info = c.transaction(&txn_id).expect("coordinator knows the id");
    assert_eq!(info.state, kproducer_mock::TransactionState::CompleteCommit);
}

/// SIGINT while the first send waits for metadata from a broker that isn't there: the run stops
/// at once (exit 130 with the summary), not after `max.block.ms` (60 s).
#[test]
fn sigint_while_waiting_for_metadata_stops_at_once() {
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = unreachable.local_addr().expect("addr").to_string();
    drop(unreachable); // nothing listens there now
    let started = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_kproducer"))
        .args([
            "perf",
            "--topic",
            "nowhere",
            "--num-records",
            "1000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--bootstrap-server",
            &addr,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped after {:?}, not at the signal",
        started.elapsed()
    );
}
