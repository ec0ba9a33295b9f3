//! `kproducer-bench`: the same workloads through kproducer, librdkafka, Java's producer and
//! franz-go, side by side, against the in-process cluster (kproducer-mock) and an in-process ack sink. Each client
//! runs in its own subprocess (this binary's `client` command, which for Java and franz-go runs
//! their own program) so CPU time and peak RSS are the client's alone.
//!
//! ```text
//! cargo run --release -p kproducer-bench -- [--quick] [--repeat N]
//!     [--targets sink,sink-tls,mock,stall,setup] [--clients kproducer,librdkafka,java,franz-go]
//!     [--compressions LIST] [--settings LIST] [--out FILE]
//! ```
//!
//! Per workload: throughput (records/s, MB/s) and CPU time per record at full speed, then p50/p99
//! send-to-ack latency with every client paced at 50 % of the slowest one's maximum, and peak RSS.
//! Prints a table and writes JSON (default `target/bench/results.json`).
//!
//! TLS (issue #16): `--targets sink-tls` runs the same workloads against the ack sink serving
//! TLS (rustls on ring; a CA and a server certificate for `127.0.0.1`/`localhost` generated
//! with rcgen at start, its Metadata naming the TLS listener). kproducer connects with
//! `security.protocol=SSL` and the CA as `ssl.truststore.type=PEM` + `ssl.truststore.location`,
//! librdkafka with `security.protocol=ssl` + `ssl.ca.location` (the rdkafka crate's `ssl`
//! feature, OpenSSL); Java, franz-go and kproducer-perf are not wired for TLS and are listed as
//! skipped. With `sink` in the same run, a TLS / plaintext table compares each client with itself.
//! `--targets setup` measures connection set-up, kproducer and librdkafka, each run a fresh
//! process against a fresh sink per protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL with
//! SCRAM-SHA-256, which the sink's server side implements): the median of producer built → first
//! record acknowledged (client side) and of accept → first request after ApiVersions, the TLS
//! handshake and SASL (sink side). For example:
//!
//! ```text
//! cargo run --release -p kproducer-bench -- --targets sink,sink-tls,setup \
//!     --clients kproducer,librdkafka --settings equal --compressions none
//! ```
//!
//! ```text
//! cargo run --release -p kproducer-bench -- stall [--buffer-memory BYTES] [--sizes 100,1024]
//!     [--clients kproducer,librdkafka] [--modes no-read,silent] [--out FILE]
//! ```
//!
//! Issue #7's target, RSS ≤ `buffer.memory` + 16 MiB while blocked on a stalled broker: each
//! client, in its own subprocess, sends to a stalled ack sink until sending has been blocked for
//! 2 s, then reports its peak RSS (see `kproducer_bench::stall`). Prints a table and adds a
//! `stall` entry to the JSON file (also reachable as `--targets stall` in the main run).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use kproducer_bench::cli::{self, last_json_line, list, required_arg};
use kproducer_bench::client::{
    kproducer_setup, rdkafka_setup, run_kproducer, run_rdkafka, ClientResult, Phase, Settings,
    Workload,
};
use kproducer_bench::peers::{run_franz, run_java, run_kproducer_perf};
use kproducer_bench::stall::{
    run_stalled, SendStyle, StallResult, StallRun, TARGET_OVER_BUFFER_MIB,
};
use kproducer_bench::{AckSink, Security, SinkSecurity, StallMode};
use kproducer_testkit::{unique_name, Broker};
use serde::Serialize;

/// Value sizes of the workloads.
const SIZES: &[usize] = &[100, 1024];
/// `acks` of the workloads.
const ACKS: &[&str] = &["1", "all"];
/// `compression.type` of the workloads by default (`--compressions` picks others, e.g. gzip,snappy).
const COMPRESSIONS: &[&str] = &["none", "lz4", "zstd"];
/// Every codec every client speaks.
const ALL_COMPRESSIONS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];
const LINGER_MS: u64 = 5;
/// Java's default `batch.size`, set in every client.
const BATCH_SIZE: usize = 16_384;
const PARTITIONS: i32 = 3;
/// Every client; kproducer first, since every ratio is kproducer / another.
const CLIENTS: &[&str] = &[
    "kproducer",
    "librdkafka",
    "java",
    "franz-go",
    "kproducer-perf",
];
/// A client subprocess taking longer than this is killed and reported.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);
/// The clients wired for TLS (`--targets sink-tls`) and the set-up measurement.
const TLS_CLIENTS: &[&str] = &["kproducer", "librdkafka"];
/// Every target.
const TARGETS: &[&str] = &["sink", "sink-tls", "mock", "stall", "setup"];
/// SASL/SCRAM credentials of the set-up measurement's SASL sinks.
const SCRAM_USER: (&str, &str) = ("bench", "bench-secret");
/// Fresh client processes per protocol and client in the set-up measurement (the median counts).
const SETUP_RUNS: usize = 9;

const HELP: &str = "\
usage: kproducer-bench [--quick] [--repeat N] [--targets LIST] [--clients LIST]
                       [--compressions LIST] [--settings LIST] [--out FILE]
       kproducer-bench sink [--tls]  (an ack sink alone, until stdin closes; prints its address)
       kproducer-bench stall [--buffer-memory BYTES] [--sizes 100,1024]
                       [--clients kproducer,librdkafka] [--modes no-read,silent] [--out FILE]

Runs every workload (100 B and 1 KiB JSON-like records, acks=1 and all, compressions, settings)
through kproducer (the library's loop), librdkafka, Java's producer (ProducerPerformance),
franz-go and kproducer's own perf tool (`kproducer perf`, driven as Java's), against an
in-process ack sink and the in-process cluster (kproducer-mock, one broker on loopback TCP: it
stores and validates every batch and checks idempotent sequences).
  --quick          short smoke run (fewer records, 1 s latency phase)
  --repeat N       throughput runs per client, alternating; the best counts (default 1)
  --targets LIST   comma-separated subset of: sink, sink-tls, mock, stall, setup (default:
                   sink,mock). sink-tls: the ack sink over TLS (a CA and server certificate
                   generated at start; kproducer and librdkafka only), with a TLS / plaintext
                   table when sink runs too. setup: connection set-up time of kproducer and
                   librdkafka against the sink over PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL
                   (SCRAM-SHA-256), median of 9 fresh processes each
  --clients LIST   comma-separated subset of: kproducer, librdkafka, java, franz-go,
                   kproducer-perf (default: all; java and franz-go need scripts/setup.sh;
                   kproducer-perf builds the kproducer tool first)
  --compressions LIST  codecs to run, of: none, gzip, snappy, lz4, zstd (default: none,lz4,zstd)
  --settings LIST  equal (the same linger.ms=5, batch.size=16384, 5 in flight, 32 MiB buffer and no
                   idempotence for all), equal-1m (the same with batch.size=1 MiB, librdkafka's
                   default), defaults (each client at its own defaults; only acks and compression
                   set) (default: equal,defaults)
  --out FILE       JSON results (default: target/bench/results.json)

stall: RSS while blocked on a stalled broker (issue #7: <= buffer.memory + 16 MiB). Each client
sends to an ack sink that never answers Produce until sending has been blocked for 2 s, in its own
subprocess; prints peak RSS against buffer.memory and adds a `stall` entry to the JSON file.
  --buffer-memory BYTES  buffer.memory (librdkafka: queue.buffering.max.kbytes) (default 33554432)
  --sizes LIST     value sizes in bytes (default: 100,1024)
  --clients LIST   of: kproducer, librdkafka (default: both)
  --modes LIST     how the broker stalls, of: no-read (stops reading the connection after the
                   first Produce), silent (reads and drops every Produce) (default: no-read)
  --send LIST      how kproducer sends, of: callback (counting callback, 2 Arcs), empty-callback,
                   future (send, future dropped) (default: callback)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("client") => client_main(&args[1..]),
        Some("sink") => sink_main(&args[1..]),
        Some("stall") => stall_main(&args[1..]),
        Some("stall-client") => stall_client_main(&args[1..]),
        Some("setup-client") => setup_client_main(&args[1..]),
        Some("-h") | Some("--help") => {
            println!("{HELP}");
            Ok(())
        }
        _ => bench_main(&args),
    };
    cli::exit_code("kproducer-bench", result)
}

/// `kproducer-bench sink [--tls]`: an ack sink alone (for profiling a client by hand); prints its
/// address (and with `--tls`, the client's `--security` argument: the CA file to trust) and
/// serves until stdin closes.
fn sink_main(args: &[String]) -> Result<()> {
    let tls = match args.first().map(String::as_str) {
        None => false,
        Some("--tls") => true,
        Some(other) => bail!("sink: unknown option {other:?} (--tls)"),
    };
    let sink = AckSink::start_secured(PARTITIONS, SinkSecurity { tls, scram: None })?;
    println!("{}", sink.bootstrap());
    if let Some(t) = sink.tls() {
        let security = Security {
            ca_file: Some(t.ca_file.clone()),
            scram: None,
        };
        println!("--security '{}'", serde_json::to_string(&security)?);
    }
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    Ok(())
}

/// `kproducer-bench client --client C --bootstrap B --topic T --workload JSON --records N [--rate R]`:
/// runs one phase and prints one JSON `ClientResult` line.
fn client_main(args: &[String]) -> Result<()> {
    let get = |name: &str| required_arg(args, "client", name);
    let workload: Workload = serde_json::from_str(get("--workload")?)?;
    let phase = Phase {
        records: get("--records")?.parse()?,
        rate: cli::arg(args, "--rate").map(str::parse).transpose()?,
    };
    let (bootstrap, topic) = (get("--bootstrap")?, get("--topic")?);
    let security: Security = match cli::arg(args, "--security") {
        Some(s) => serde_json::from_str(s)?,
        None => Security::default(),
    };
    let client = get("--client")?;
    if security != Security::default() && !TLS_CLIENTS.contains(&client) {
        bail!("{client}: TLS and SASL are not wired for this client");
    }
    let result = match client {
        "kproducer" => run_kproducer(bootstrap, topic, &workload, phase, &security)?,
        "librdkafka" => run_rdkafka(bootstrap, topic, &workload, phase, &security)?,
        "java" => run_java(bootstrap, topic, &workload, phase)?,
        "franz-go" => run_franz(bootstrap, topic, &workload, phase)?,
        "kproducer-perf" => run_kproducer_perf(bootstrap, topic, &workload, phase)?,
        other => bail!("unknown client {other}"),
    };
    cli::print_json_line(&result)
}

struct Options {
    quick: bool,
    repeat: u32,
    targets: Vec<String>,
    clients: Vec<String>,
    compressions: Vec<String>,
    settings: Vec<Settings>,
    out: PathBuf,
}

/// `target/bench/results.json` of the workspace (`CARGO_TARGET_DIR` if set).
fn default_out() -> PathBuf {
    cli::default_out("results.json")
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        quick: false,
        repeat: 1,
        targets: vec!["sink".into(), "mock".into()],
        clients: CLIENTS.iter().map(|c| c.to_string()).collect(),
        compressions: COMPRESSIONS.iter().map(|c| c.to_string()).collect(),
        settings: vec![Settings::Equal, Settings::Defaults],
        out: default_out(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || cli::value(&mut it, a);
        match a.as_str() {
            "--quick" => o.quick = true,
            "--repeat" => o.repeat = value()?.parse::<u32>()?.max(1),
            "--targets" => {
                o.targets = list(value()?).into_iter().map(String::from).collect();
                if let Some(bad) = o.targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
                    bail!("unknown target {bad:?} ({})", TARGETS.join(", "));
                }
            }
            // In CLIENTS' order, so kproducer runs first and the ratios find it.
            "--clients" => o.clients = cli::select_clients(value()?, CLIENTS)?,
            "--compressions" => {
                o.compressions = list(value()?).into_iter().map(String::from).collect();
                if let Some(bad) = o
                    .compressions
                    .iter()
                    .find(|c| !ALL_COMPRESSIONS.contains(&c.as_str()))
                {
                    bail!(
                        "unknown compression {bad:?} ({})",
                        ALL_COMPRESSIONS.join(", ")
                    );
                }
            }
            "--settings" => o.settings = Settings::parse_list(value()?)?,
            "--out" => o.out = value()?.into(),
            other => bail!("unknown option {other:?}\n\n{HELP}"),
        }
    }
    Ok(o)
}

/// One client on one workload and target.
#[derive(Debug, Clone, Serialize)]
struct Row {
    target: String,
    workload: Workload,
    client: String,
    records_per_s: f64,
    mb_per_s: f64,
    cpu_us_per_record: f64,
    latency_rate: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    peak_rss_mib: f64,
    throughput_run: ClientResult,
    latency_run: ClientResult,
}

/// kproducer / a peer for one workload and target.
#[derive(Debug, Clone, Serialize)]
struct Ratio {
    peer: String,
    target: String,
    workload: Workload,
    throughput: f64,
    cpu_per_record: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    peak_rss: f64,
}

#[derive(Serialize)]
struct Report {
    quick: bool,
    repeat: u32,
    host_cpus: usize,
    rows: Vec<Row>,
    clients: Vec<String>,
    /// Clients left out of a target, and why.
    skipped: Vec<String>,
    ratios_kproducer_over_librdkafka: Vec<Ratio>,
    ratios_kproducer_over_java: Vec<Ratio>,
    ratios_kproducer_over_franz_go: Vec<Ratio>,
    /// The library's loop over `kproducer perf` (the tool's own cost: throughput < 1 and CPU > 1
    /// mean the tool is slower than the library it drives).
    ratios_kproducer_over_kproducer_perf: Vec<Ratio>,
    /// `--targets sink,sink-tls`: each client over TLS / itself over plaintext.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_over_plaintext: Vec<TlsRatio>,
    /// `--targets setup`: connection set-up times.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    setup: Vec<SetupRow>,
    /// `--targets stall`: memory while blocked on a stalled broker.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stall: Vec<StallRow>,
}

fn bench_main(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful numbers");
    }
    let compressions = &o.compressions;
    let workloads: Vec<Workload> = o
        .settings
        .iter()
        .flat_map(|&settings| {
            SIZES.iter().flat_map(move |&size| {
                ACKS.iter().flat_map(move |&acks| {
                    compressions.iter().map(move |c| Workload {
                        record_size: size,
                        acks: acks.into(),
                        compression: c.clone(),
                        linger_ms: LINGER_MS,
                        batch_size: BATCH_SIZE,
                        settings,
                    })
                })
            })
        })
        .collect();
    // Fail before the first workload, not after an hour, when a peer is not set up.
    let workload_targets = o.targets.iter().any(|t| t != "stall" && t != "setup");
    if workload_targets && o.clients.iter().any(|c| c == "java") {
        kproducer_bench::peers::java_tools_dir()?;
    }
    if workload_targets && o.clients.iter().any(|c| c == "franz-go") {
        kproducer_bench::peers::franz_bench_bin()?;
    }
    if workload_targets && o.clients.iter().any(|c| c == "kproducer-perf") {
        kproducer_bench::peers::build_kproducer_cli()?;
    }
    let mut rows = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for target in o.targets.iter().filter(|t| *t != "stall" && *t != "setup") {
        let tls = target == "sink-tls";
        let mut clients: Vec<&str> = o.clients.iter().map(String::as_str).collect();
        if tls {
            for c in clients.iter().filter(|c| !TLS_CLIENTS.contains(c)) {
                skipped.push(format!("{c} on sink-tls: TLS is not wired for this client"));
            }
            clients.retain(|c| TLS_CLIENTS.contains(c));
        }
        let sink = match target.as_str() {
            "sink" => Some(AckSink::start(PARTITIONS)?),
            "sink-tls" => Some(AckSink::start_secured(
                PARTITIONS,
                SinkSecurity {
                    tls: true,
                    scram: None,
                },
            )?),
            _ => None,
        };
        let security = Security {
            ca_file: sink
                .as_ref()
                .and_then(|s| s.tls())
                .map(|t| t.ca_file.clone()),
            scram: None,
        };
        for w in &workloads {
            // A fresh cluster per workload keeps its in-memory log small.
            let broker = if sink.is_none() {
                Some(Broker::start().context("starting the in-process cluster")?)
            } else {
                None
            };
            let bootstrap = match (&sink, &broker) {
                (Some(s), _) => s.bootstrap(),
                (_, Some(b)) => b.bootstrap(),
                _ => bail!("no target"),
            };
            let topic_for = |client: &str| -> Result<String> {
                let t = unique_name(&format!("bench-{client}"));
                if let Some(b) = &broker {
                    b.create_topic(&t, PARTITIONS)?;
                }
                Ok(t)
            };
            let records = match (o.quick, w.record_size <= 100) {
                (true, true) => 50_000,
                (true, false) => 15_000,
                (false, true) => 1_000_000,
                (false, false) => 300_000,
            };
            // Clients alternate, so background load hits all alike; the best run counts.
            let mut max_runs: Vec<Option<ClientResult>> = vec![None; clients.len()];
            for _ in 0..o.repeat {
                for (client, best) in clients.iter().zip(max_runs.iter_mut()) {
                    let topic = topic_for(client)?;
                    let r = run_client(client, &bootstrap, &topic, w, records, None, &security)?;
                    eprintln!(
                        "{target} {} {}B acks={} {}: {client}: {:.0} records/s, {:.2} µs CPU/record",
                        w.settings.name(),
                        w.record_size,
                        w.acks,
                        w.compression,
                        r.acked as f64 / r.elapsed_s,
                        r.cpu_s * 1e6 / r.acked.max(1) as f64
                    );
                    let faster = best.as_ref().is_none_or(|b| {
                        r.acked as f64 / r.elapsed_s > b.acked as f64 / b.elapsed_s
                    });
                    if faster {
                        *best = Some(r);
                    }
                }
            }
            let max_runs: Vec<ClientResult> = max_runs.into_iter().flatten().collect();
            let slowest = max_runs
                .iter()
                .map(|r| r.acked as f64 / r.elapsed_s)
                .fold(f64::INFINITY, f64::min);
            let rate = (slowest * 0.5).max(100.0);
            let secs = if o.quick { 1.0 } else { 5.0 };
            for (client, max_run) in clients.iter().zip(max_runs) {
                let topic = topic_for(client)?;
                let lat = run_client(
                    client,
                    &bootstrap,
                    &topic,
                    w,
                    (rate * secs) as u64,
                    Some(rate),
                    &security,
                )?;
                eprintln!(
                    "{target} {} {}B acks={} {}: {client}: at {rate:.0}/s p50 {:?} µs, p99 {:?} µs",
                    w.settings.name(),
                    w.record_size,
                    w.acks,
                    w.compression,
                    lat.p50_us,
                    lat.p99_us
                );
                let rps = max_run.acked as f64 / max_run.elapsed_s;
                rows.push(Row {
                    target: target.clone(),
                    workload: w.clone(),
                    client: client.to_string(),
                    records_per_s: rps,
                    mb_per_s: rps * w.record_size as f64 / (1024.0 * 1024.0),
                    cpu_us_per_record: max_run.cpu_s * 1e6 / max_run.acked.max(1) as f64,
                    latency_rate: rate,
                    p50_ms: lat.p50_us.map(|u| u as f64 / 1000.0),
                    p99_ms: lat.p99_us.map(|u| u as f64 / 1000.0),
                    peak_rss_mib: max_run.max_rss_kib.max(lat.max_rss_kib) as f64 / 1024.0,
                    throughput_run: max_run,
                    latency_run: lat,
                });
            }
            if let Some(s) = &sink {
                let old = s.counters().old_format_messages.load(Ordering::Relaxed);
                if old > 0 {
                    bail!("a client sent {old} old-format (magic 0/1) messages to the sink");
                }
            }
        }
    }
    let stall = if o.targets.iter().any(|t| t == "stall") {
        let clients: Vec<String> = o
            .clients
            .iter()
            .filter(|c| STALL_CLIENTS.contains(&c.as_str()))
            .cloned()
            .collect();
        run_stall(&StallOptions {
            clients,
            ..StallOptions::default()
        })?
    } else {
        Vec::new()
    };
    let setup = if o.targets.iter().any(|t| t == "setup") {
        let clients: Vec<&str> = o
            .clients
            .iter()
            .map(String::as_str)
            .filter(|c| TLS_CLIENTS.contains(c))
            .collect();
        run_setup(&clients, if o.quick { 3 } else { SETUP_RUNS })?
    } else {
        Vec::new()
    };
    let peer_ratios: Vec<Vec<Ratio>> = CLIENTS[1..].iter().map(|p| ratios(&rows, p)).collect();
    let tls_over_plaintext = tls_ratios(&rows);
    if !rows.is_empty() {
        print_table(&rows, &peer_ratios);
    }
    if !tls_over_plaintext.is_empty() {
        print_tls_ratios(&tls_over_plaintext);
    }
    if !setup.is_empty() {
        print_setup_table(&setup);
    }
    if !stall.is_empty() {
        print_stall_table(&stall);
    }
    for note in &skipped {
        println!("skipped {note}");
    }
    let [rd, java, franz, perf] =
        <[Vec<Ratio>; 4]>::try_from(peer_ratios).map_err(|_| anyhow!("four peers expected"))?;
    let report = Report {
        quick: o.quick,
        repeat: o.repeat,
        host_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        rows,
        clients: o.clients.clone(),
        skipped,
        ratios_kproducer_over_librdkafka: rd,
        ratios_kproducer_over_java: java,
        ratios_kproducer_over_franz_go: franz,
        ratios_kproducer_over_kproducer_perf: perf,
        tls_over_plaintext,
        setup,
        stall,
    };
    cli::write_report(&o.out, &report)
}

/// Runs one phase in a subprocess and checks every record was acknowledged.
fn run_client(
    client: &str,
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    records: u64,
    rate: Option<f64>,
    security: &Security,
) -> Result<ClientResult> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["client", "--client", client, "--bootstrap", bootstrap])
        .args(["--topic", topic, "--workload", &serde_json::to_string(w)?])
        .args(["--records", &records.to_string()]);
    if *security != Security::default() {
        cmd.args(["--security", &serde_json::to_string(security)?]);
    }
    if let Some(r) = rate {
        cmd.args(["--rate", &format!("{r:.3}")]);
    }
    let line = last_json_line(cmd, client, CLIENT_TIMEOUT, "finish")?;
    let r: ClientResult = serde_json::from_str(&line)?;
    if r.failed > 0 || r.acked != records {
        bail!(
            "{client}: {} of {records} records acknowledged, {} failed",
            r.acked,
            r.failed
        );
    }
    Ok(r)
}

/// kproducer / `peer` for every workload and target both ran.
fn ratios(rows: &[Row], peer: &str) -> Vec<Ratio> {
    let mut out = Vec::new();
    for kp in rows.iter().filter(|r| r.client == "kproducer") {
        let Some(rd) = rows
            .iter()
            .find(|r| r.client == peer && r.target == kp.target && r.workload == kp.workload)
        else {
            continue;
        };
        let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        out.push(Ratio {
            peer: peer.to_string(),
            target: kp.target.clone(),
            workload: kp.workload.clone(),
            throughput: kp.records_per_s / rd.records_per_s,
            cpu_per_record: kp.cpu_us_per_record / rd.cpu_us_per_record,
            p50: div(kp.p50_ms, rd.p50_ms),
            p99: div(kp.p99_ms, rd.p99_ms),
            peak_rss: kp.peak_rss_mib / rd.peak_rss_mib,
        });
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn print_table(rows: &[Row], peer_ratios: &[Vec<Ratio>]) {
    println!(
        "\n{:<8} {:<8} {:>5} {:>4} {:>5} {:<14} {:>12} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "target",
        "settings",
        "size",
        "acks",
        "comp",
        "client",
        "records/s",
        "MB/s",
        "CPU µs/r",
        "lat@rate",
        "p50 ms",
        "p99 ms",
        "RSS MiB"
    );
    for r in rows {
        println!(
            "{:<8} {:<8} {:>5} {:>4} {:>5} {:<14} {:>12.0} {:>8.1} {:>9.2} {:>9.0} {:>8} {:>8} {:>8.1}",
            r.target,
            r.workload.settings.name(),
            r.workload.record_size,
            r.workload.acks,
            r.workload.compression,
            r.client,
            r.records_per_s,
            r.mb_per_s,
            r.cpu_us_per_record,
            r.latency_rate,
            opt(r.p50_ms, 2),
            opt(r.p99_ms, 2),
            r.peak_rss_mib
        );
    }
    for ratios in peer_ratios.iter().filter(|r| !r.is_empty()) {
        print_ratios(ratios);
    }
}

fn print_ratios(ratios: &[Ratio]) {
    let peer = ratios.first().map_or("", |r| r.peer.as_str());
    println!(
        "\nkproducer / {peer} (throughput: higher is better; the others: lower is better)\n\
         {:<8} {:<8} {:>5} {:>4} {:>5} {:>10} {:>9} {:>6} {:>6} {:>6}",
        "target", "settings", "size", "acks", "comp", "throughput", "CPU/rec", "p50", "p99", "RSS"
    );
    for r in ratios {
        println!(
            "{:<8} {:<8} {:>5} {:>4} {:>5} {:>10.2} {:>9.2} {:>6} {:>6} {:>6.2}",
            r.target,
            r.workload.settings.name(),
            r.workload.record_size,
            r.workload.acks,
            r.workload.compression,
            r.throughput,
            r.cpu_per_record,
            opt(r.p50, 2),
            opt(r.p99, 2),
            r.peak_rss
        );
    }
}

/// One client over TLS / itself over plaintext, for one workload (both against the ack sink in
/// the same run).
#[derive(Debug, Clone, Serialize)]
struct TlsRatio {
    client: String,
    workload: Workload,
    tls_records_per_s: f64,
    plaintext_records_per_s: f64,
    tls_cpu_us_per_record: f64,
    plaintext_cpu_us_per_record: f64,
    throughput: f64,
    cpu_per_record: f64,
    p50: Option<f64>,
    p99: Option<f64>,
}

/// Every (client, workload) that ran on both `sink-tls` and `sink`.
fn tls_ratios(rows: &[Row]) -> Vec<TlsRatio> {
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    rows.iter()
        .filter(|r| r.target == "sink-tls")
        .filter_map(|t| {
            let p = rows
                .iter()
                .find(|p| p.target == "sink" && p.client == t.client && p.workload == t.workload)?;
            Some(TlsRatio {
                client: t.client.clone(),
                workload: t.workload.clone(),
                tls_records_per_s: t.records_per_s,
                plaintext_records_per_s: p.records_per_s,
                tls_cpu_us_per_record: t.cpu_us_per_record,
                plaintext_cpu_us_per_record: p.cpu_us_per_record,
                throughput: t.records_per_s / p.records_per_s,
                cpu_per_record: t.cpu_us_per_record / p.cpu_us_per_record,
                p50: div(t.p50_ms, p.p50_ms),
                p99: div(t.p99_ms, p.p99_ms),
            })
        })
        .collect()
}

fn print_tls_ratios(ratios: &[TlsRatio]) {
    println!(
        "\nTLS / plaintext, each client against itself (ack sink, same run; throughput: higher is \
         better, the others: lower is better;\n\
         p50/p99: each target paces at 50 % of its own slowest client, so the loads differ)\n\
         {:<8} {:>5} {:>4} {:>5} {:<11} {:>10} {:>10} {:>8} {:>8} {:>10} {:>9} {:>6} {:>6}",
        "settings",
        "size",
        "acks",
        "comp",
        "client",
        "TLS rec/s",
        "plain r/s",
        "TLS µs/r",
        "plain",
        "throughput",
        "CPU/rec",
        "p50",
        "p99"
    );
    for r in ratios {
        println!(
            "{:<8} {:>5} {:>4} {:>5} {:<11} {:>10.0} {:>10.0} {:>8.2} {:>8.2} {:>10.2} {:>9.2} {:>6} {:>6}",
            r.workload.settings.name(),
            r.workload.record_size,
            r.workload.acks,
            r.workload.compression,
            r.client,
            r.tls_records_per_s,
            r.plaintext_records_per_s,
            r.tls_cpu_us_per_record,
            r.plaintext_cpu_us_per_record,
            r.throughput,
            r.cpu_per_record,
            opt(r.p50, 2),
            opt(r.p99, 2)
        );
    }
}

/// Connection set-up of one client over one security protocol against the ack sink.
#[derive(Debug, Clone, Serialize)]
struct SetupRow {
    protocol: String,
    client: String,
    runs: usize,
    /// Client side, median: producer built → first record acknowledged.
    build_to_ack_ms: f64,
    /// Sink side, median over every connection of every run: accept → first request after
    /// ApiVersions and SASL.
    connection_setup_ms: f64,
    /// Connections the client opened per run (mean).
    connections_per_run: f64,
    /// Every run's build → ack, ms.
    build_to_ack_runs_ms: Vec<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// For each protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL with SCRAM-SHA-256), a fresh
/// sink, then `runs` fresh client processes per client, alternating.
fn run_setup(clients: &[&str], runs: usize) -> Result<Vec<SetupRow>> {
    let mut rows = Vec::new();
    let scram = Some((SCRAM_USER.0.to_string(), SCRAM_USER.1.to_string()));
    for (tls, scram) in [
        (false, None),
        (true, None),
        (false, scram.clone()),
        (true, scram),
    ] {
        let sink = AckSink::start_secured(
            PARTITIONS,
            SinkSecurity {
                tls,
                scram: scram.clone(),
            },
        )?;
        let security = Security {
            ca_file: sink.tls().map(|t| t.ca_file.clone()),
            scram,
        };
        let mut build_to_ack: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
        let mut conns: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
        for _ in 0..runs {
            for (i, client) in clients.iter().enumerate() {
                sink.take_setup_times();
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.args(["setup-client", "--client", client])
                    .args(["--bootstrap", &sink.bootstrap()])
                    .args(["--topic", &unique_name("setup")])
                    .args(["--security", &serde_json::to_string(&security)?]);
                let line = last_json_line(cmd, client, CLIENT_TIMEOUT, "connect")?;
                let us: u64 = serde_json::from_str::<serde_json::Value>(&line)?["build_to_ack_us"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("{client}: no build_to_ack_us in {line:?}"))?;
                build_to_ack[i].push(us as f64 / 1000.0);
                conns[i].extend(
                    sink.take_setup_times()
                        .iter()
                        .map(|d| d.as_secs_f64() * 1000.0),
                );
            }
        }
        for (i, client) in clients.iter().enumerate() {
            let row = SetupRow {
                protocol: security.protocol().to_string(),
                client: client.to_string(),
                runs,
                build_to_ack_ms: median(&mut build_to_ack[i].clone()),
                connection_setup_ms: median(&mut conns[i].clone()),
                connections_per_run: conns[i].len() as f64 / runs as f64,
                build_to_ack_runs_ms: build_to_ack[i].clone(),
            };
            eprintln!(
                "setup {} {client}: build → ack {:.2} ms, connection set-up {:.2} ms (medians)",
                row.protocol, row.build_to_ack_ms, row.connection_setup_ms
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

fn print_setup_table(rows: &[SetupRow]) {
    let runs = rows.first().map_or(0, |r| r.runs);
    println!(
        "\nconnection set-up against the ack sink (median of {runs} fresh processes; SASL: \
         SCRAM-SHA-256, 4096 iterations)\n\
         build → ack: producer built → first record acknowledged (client side);\n\
         connection: accept → first request after ApiVersions (+ TLS handshake, SASL) (sink side)\n\
         {:<15} {:<11} {:>14} {:>14} {:>10}",
        "protocol", "client", "build→ack ms", "connection ms", "conns/run"
    );
    for r in rows {
        println!(
            "{:<15} {:<11} {:>14.2} {:>14.2} {:>10.1}",
            r.protocol, r.client, r.build_to_ack_ms, r.connection_setup_ms, r.connections_per_run
        );
    }
}

/// `kproducer-bench setup-client --client C --bootstrap B --topic T --security JSON`: one
/// connection set-up measurement in a fresh process; prints `{"build_to_ack_us": N}`.
fn setup_client_main(args: &[String]) -> Result<()> {
    let get = |name: &str| required_arg(args, "setup-client", name);
    let security: Security = serde_json::from_str(get("--security")?)?;
    let (bootstrap, topic) = (get("--bootstrap")?, get("--topic")?);
    let took = match get("--client")? {
        "kproducer" => kproducer_setup(bootstrap, topic, &security)?,
        "librdkafka" => rdkafka_setup(bootstrap, topic, &security)?,
        other => bail!("setup-client: {other} is not wired for TLS and SASL"),
    };
    println!(
        "{}",
        serde_json::json!({ "build_to_ack_us": took.as_micros() as u64 })
    );
    Ok(())
}

/// The clients the stall measurement runs.
const STALL_CLIENTS: &[&str] = &["kproducer", "librdkafka"];
/// Java's default `buffer.memory`.
const DEFAULT_BUFFER_MEMORY: usize = 32 << 20;
/// A stall subprocess taking longer than this is killed and reported.
const STALL_CLIENT_TIMEOUT: Duration = Duration::from_secs(150);

struct StallOptions {
    buffer_memory: usize,
    sizes: Vec<usize>,
    clients: Vec<String>,
    modes: Vec<StallMode>,
    sends: Vec<SendStyle>,
    out: PathBuf,
}

impl Default for StallOptions {
    fn default() -> Self {
        StallOptions {
            buffer_memory: DEFAULT_BUFFER_MEMORY,
            sizes: SIZES.to_vec(),
            clients: STALL_CLIENTS.iter().map(|c| c.to_string()).collect(),
            // The harsher case: see `StallMode::NoRead`.
            modes: vec![StallMode::NoRead],
            sends: vec![SendStyle::Callback],
            out: default_out(),
        }
    }
}

/// One client and record size blocked on a stalled broker.
#[derive(Debug, Clone, Serialize)]
struct StallRow {
    stall_mode: String,
    client: String,
    send: String,
    record_size: usize,
    records_buffered: u64,
    baseline_rss_mib: f64,
    current_rss_mib: f64,
    peak_rss_mib: f64,
    buffer_memory_mib: f64,
    peak_rss_minus_buffer_mib: f64,
    target_over_buffer_mib: f64,
    target_met: bool,
    result: StallResult,
}

fn parse_stall(args: &[String]) -> Result<StallOptions> {
    let mut o = StallOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || cli::value(&mut it, a);
        match a.as_str() {
            "--buffer-memory" => {
                o.buffer_memory = value()?.parse().context("--buffer-memory: bytes")?;
                if o.buffer_memory < 1024 {
                    bail!("--buffer-memory: at least 1024 bytes");
                }
            }
            "--sizes" => {
                o.sizes = list(value()?)
                    .iter()
                    .map(|s| s.parse::<usize>().context("--sizes: bytes"))
                    .collect::<Result<_>>()?;
            }
            "--clients" => {
                let asked = list(value()?);
                if let Some(bad) = asked.iter().find(|c| !STALL_CLIENTS.contains(c)) {
                    bail!(
                        "unknown stall client {bad:?} ({})",
                        STALL_CLIENTS.join(", ")
                    );
                }
                o.clients = asked.into_iter().map(String::from).collect();
            }
            "--modes" => {
                o.modes = list(value()?)
                    .iter()
                    .map(|m| StallMode::parse(m))
                    .collect::<Result<_>>()?;
            }
            "--send" => {
                o.sends = list(value()?)
                    .iter()
                    .map(|m| SendStyle::parse(m))
                    .collect::<Result<_>>()?;
            }
            "--out" => o.out = value()?.into(),
            other => bail!("unknown stall option {other:?}\n\n{HELP}"),
        }
    }
    Ok(o)
}

/// `kproducer-bench stall ...`: runs the measurement, prints the table, and sets the `stall`
/// entry of the JSON file (keeping whatever else a main run wrote there).
fn stall_main(args: &[String]) -> Result<()> {
    let o = parse_stall(args)?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful numbers");
    }
    let rows = run_stall(&o)?;
    print_stall_table(&rows);
    let mut doc: serde_json::Value = std::fs::read_to_string(&o.out)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    doc["stall"] = serde_json::to_value(&rows)?;
    cli::write_json(&o.out, &doc)?;
    println!("\nresults written to {} (\"stall\")", o.out.display());
    Ok(())
}

/// Every mode × size × client, each against a fresh stalled sink (a stalled connection is not
/// reusable) and in its own subprocess.
fn run_stall(o: &StallOptions) -> Result<Vec<StallRow>> {
    let mut rows = Vec::new();
    for &mode in &o.modes {
        for &size in &o.sizes {
            // Send styles are kproducer's; librdkafka runs once.
            let runs = o.clients.iter().flat_map(|c| {
                let sends = if c == "kproducer" {
                    &o.sends[..]
                } else {
                    &o.sends[..1]
                };
                sends.iter().map(move |&s| (c, s))
            });
            for (client, send) in runs {
                let sink = AckSink::start_stalled(PARTITIONS, mode)?;
                let mut run = StallRun::new(client, size, o.buffer_memory);
                run.send = send;
                let r = run_stall_client(&sink.bootstrap(), &run)?;
                let unanswered = sink.counters().produce_unanswered.load(Ordering::Relaxed);
                if unanswered == 0 {
                    bail!("{client}: blocked without sending a Produce request");
                }
                let mib = |kib: i64| kib as f64 / 1024.0;
                let row = StallRow {
                    stall_mode: mode.name().into(),
                    client: client.clone(),
                    send: if client == "kproducer" {
                        send.name().into()
                    } else {
                        "-".into()
                    },
                    record_size: size,
                    records_buffered: r.records_buffered,
                    baseline_rss_mib: mib(r.baseline_rss_kib),
                    current_rss_mib: mib(r.current_rss_kib),
                    peak_rss_mib: r.peak_rss_mib(),
                    buffer_memory_mib: o.buffer_memory as f64 / (1024.0 * 1024.0),
                    peak_rss_minus_buffer_mib: r.over_buffer_mib(),
                    target_over_buffer_mib: TARGET_OVER_BUFFER_MIB,
                    target_met: r.target_met(),
                    result: r,
                };
                eprintln!(
                    "stall {} {size}B {client} {}: {} records, peak RSS {:.1} MiB (baseline {:.1})",
                    mode.name(),
                    row.send,
                    row.records_buffered,
                    row.peak_rss_mib,
                    row.baseline_rss_mib
                );
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// Runs `stall-client` in a subprocess and parses its JSON line.
fn run_stall_client(bootstrap: &str, run: &StallRun) -> Result<StallResult> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["stall-client", "--bootstrap", bootstrap])
        .args(["--topic", &unique_name("stall"), "--run"])
        .arg(serde_json::to_string(run)?);
    let line = last_json_line(cmd, &run.client, STALL_CLIENT_TIMEOUT, "block")?;
    Ok(serde_json::from_str(&line)?)
}

/// `kproducer-bench stall-client --bootstrap B --topic T --run JSON`: one stall run; prints one
/// JSON `StallResult` line and exits at once, without closing the producer (the broker is
/// stalled: a graceful close would only wait).
fn stall_client_main(args: &[String]) -> Result<()> {
    let get = |name: &str| required_arg(args, "stall-client", name);
    let run: StallRun = serde_json::from_str(get("--run")?)?;
    let r = run_stalled(get("--bootstrap")?, get("--topic")?, &run)?;
    println!("{}", serde_json::to_string(&r)?);
    std::io::Write::flush(&mut std::io::stdout())?;
    // SAFETY: `_exit` ends the process without running destructors or atexit handlers, which is
    // the point: nothing is left to write and librdkafka's teardown would wait on the broker.
    unsafe { libc::_exit(0) }
}

fn print_stall_table(rows: &[StallRow]) {
    println!(
        "\nblocked on a stalled broker (target: peak RSS - buffer.memory <= {TARGET_OVER_BUFFER_MIB} MiB)\n\
         {:<7} {:<11} {:<14} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>6}",
        "stall",
        "client",
        "send",
        "size",
        "records",
        "base MiB",
        "now MiB",
        "peak MiB",
        "buf MiB",
        "peak-buf",
        "met"
    );
    for r in rows {
        println!(
            "{:<7} {:<11} {:<14} {:>5} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>6}",
            r.stall_mode,
            r.client,
            r.send,
            r.record_size,
            r.records_buffered,
            r.baseline_rss_mib,
            r.current_rss_mib,
            r.peak_rss_mib,
            r.buffer_memory_mib,
            r.peak_rss_minus_buffer_mib,
            if r.target_met { "yes" } else { "no" }
        );
    }
}
