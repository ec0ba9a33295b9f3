//! `txn`: transactional against non-transactional throughput (issue #17), kproducer next to
//! librdkafka, Java's producer and `kproducer perf`, against one Apache Kafka broker (the
//! testkit's, `scripts/setup.sh`) in one run.
//!
//! ```text
//! cargo run --release -p kproducer-bench --bin txn -- [--quick] [--records N] [--size BYTES]
//!     [--transaction-ms MS] [--clients kproducer,librdkafka,java,kproducer-perf]
//!     [--settings defaults,equal] [--repeat N] [--out FILE]
//! ```
//!
//! One single-node Apache Kafka (`KafkaCluster::start(1)`) serves the whole run; kproducer first
//! sends a quarter of `--records` without and with transactions to warm the broker up (not
//! counted). Then for each
//! settings, client and mode (non-transactional: idempotent, `acks=all`; transactional: a commit
//! every `--transaction-ms`, Java's perf-test loop: begin on the first record, commit once the
//! transaction is that old, commit at the end) the client sends `--records` records of `--size`
//! bytes to a fresh 3-partition topic, in a subprocess of its own (this binary's `client`
//! command) so its CPU time is its own. kproducer and librdkafka run the library loops of
//! `kproducer_bench::txn` (one warm-up record first, in a transaction of its own when
//! transactional); Java's ProducerPerformance and `kproducer perf` run with
//! `--transactional-id ID --transaction-duration-ms MS` and their usual warm-up (half the records
//! again; the steady-state summary counts). After each run a read_committed consumer
//! (`kproducer_testkit::read_all_with`) counts the topic: it must hold every record written,
//! warm-up included.
//!
//! Prints records/s, MB/s and CPU µs per record per run, the txn / non-txn ratio per client, and
//! kproducer / peer ratios per mode; writes JSON (default `target/bench/txn.json`).

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kproducer_bench::cli::{self, required_arg};
use kproducer_bench::client::Settings;
use kproducer_bench::txn::{run_client_txn, TxnResult, TxnRun};
use kproducer_testkit::{read_all_with, unique_name, Isolation, KafkaCluster, ReadOptions};
use serde::Serialize;

/// Every client, kproducer first (every ratio is kproducer / another).
const CLIENTS: &[&str] = &["kproducer", "librdkafka", "java", "kproducer-perf"];
const PARTITIONS: i32 = 3;
/// A client subprocess taking longer than this is killed and reported.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(900);

const HELP: &str = "\
usage: txn [--quick] [--records N] [--size BYTES] [--transaction-ms MS] [--clients LIST]
           [--settings LIST] [--repeat N] [--out FILE]

Transactional against non-transactional (idempotent, acks=all) throughput of kproducer (the
library's loop), librdkafka, Java's producer (ProducerPerformance) and kproducer's perf tool,
against one single-node Apache Kafka started for the run (scripts/setup.sh fetches it), warmed
up first by kproducer sending a quarter of the records without and with transactions.
  --quick              short smoke run (200000 records)
  --records N          records per run, after the warm-up (default 2000000)
  --size BYTES         record value size (default 100)
  --transaction-ms MS  commit a transaction every MS ms, as Java's perf test (default 100)
  --clients LIST       of: kproducer, librdkafka, java, kproducer-perf (default: all; java needs
                       scripts/setup.sh, kproducer-perf builds the kproducer tool first)
  --settings LIST      defaults (each client's own, only acks=all and idempotence set), equal
                       (also linger.ms=5, batch.size=16384, 5 in flight, 32 MiB buffer),
                       equal-1m (equal with batch.size=1 MiB) (default: defaults,equal)
  --repeat N           runs per client and mode, alternating; the fastest counts (default 1)
  --out FILE           JSON results (default: target/bench/txn.json)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("client") => client_main(&args[1..]),
        Some("-h") | Some("--help") => {
            println!("{HELP}");
            Ok(())
        }
        _ => bench_main(&args),
    };
    cli::exit_code("txn", result)
}

/// `txn client --client C --bootstrap B --topic T --run JSON --records N`: one run; prints one
/// JSON [`TxnResult`] line.
fn client_main(args: &[String]) -> Result<()> {
    let get = |name: &str| required_arg(args, "client", name);
    let run: TxnRun = serde_json::from_str(get("--run")?)?;
    let r = run_client_txn(
        get("--client")?,
        get("--bootstrap")?,
        get("--topic")?,
        &run,
        get("--records")?.parse()?,
    )?;
    cli::print_json_line(&r)
}

struct Options {
    records: u64,
    size: usize,
    transaction_ms: u64,
    clients: Vec<String>,
    settings: Vec<Settings>,
    repeat: u32,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        records: 2_000_000,
        size: 100,
        transaction_ms: 100,
        clients: CLIENTS.iter().map(|c| c.to_string()).collect(),
        settings: vec![Settings::Defaults, Settings::Equal],
        repeat: 1,
        out: cli::default_out("txn.json"),
    };
    let mut quick = false;
    let mut records = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || cli::value(&mut it, a);
        match a.as_str() {
            "--quick" => quick = true,
            "--records" => records = Some(value()?.parse::<u64>()?.max(1)),
            "--size" => o.size = value()?.parse::<usize>()?.max(1),
            "--transaction-ms" => o.transaction_ms = value()?.parse::<u64>()?.max(1),
            "--repeat" => o.repeat = value()?.parse::<u32>()?.max(1),
            "--out" => o.out = value()?.into(),
            "--clients" => o.clients = cli::select_clients(value()?, CLIENTS)?,
            "--settings" => o.settings = Settings::parse_list(value()?)?,
            other => bail!("unknown option {other:?}\n\n{HELP}"),
        }
    }
    o.records = records.unwrap_or(if quick { 200_000 } else { 2_000_000 });
    Ok(o)
}

/// The fastest run of one client, settings and mode, and what read_committed counted.
#[derive(Debug, Clone, Serialize)]
struct Row {
    settings: String,
    client: String,
    mode: String,
    records_per_s: f64,
    mb_per_s: f64,
    cpu_us_per_record: f64,
    /// Transactions committed in the measured phase (library loops only).
    transactions: Option<u64>,
    /// Records written (warm-up included) and what a read_committed consumer counted.
    written: u64,
    read_committed: u64,
    run: TxnResult,
}

#[derive(Debug, Clone, Serialize)]
struct Ratio {
    settings: String,
    /// "txn/non-txn" (`mode` is the client), or a mode ("non-txn", "txn") for client ratios.
    what: String,
    /// e.g. "kproducer/librdkafka" or "java".
    of: String,
    throughput: f64,
    cpu_per_record: f64,
}

#[derive(Serialize)]
struct Report {
    kafka_version: String,
    host_cpus: usize,
    loadavg_before: String,
    loadavg_after: String,
    records: u64,
    record_size: usize,
    transaction_ms: u64,
    partitions: i32,
    rows: Vec<Row>,
    ratios: Vec<Ratio>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn bench_main(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful numbers");
    }
    if o.clients.iter().any(|c| c == "java") {
        kproducer_bench::peers::java_tools_dir()?;
    }
    if o.clients.iter().any(|c| c == "kproducer-perf") {
        kproducer_bench::peers::build_kproducer_cli()?;
    }
    let loadavg_before = loadavg();
    eprintln!("load average before: {loadavg_before}");
    let cluster = KafkaCluster::start(1).context("starting Apache Kafka (scripts/setup.sh)")?;
    let bootstrap = cluster.bootstrap();
    eprintln!(
        "Apache Kafka {} (1 node) at {bootstrap}, started in {:?}",
        kproducer_testkit::kafka_version(),
        cluster.startup_time()
    );
    let modes = [None, Some(o.transaction_ms)];
    // The broker's own warm-up (its JIT, the transaction state topic, first segments): without
    // it the first measured run is the slowest whichever client it is.
    let warmup = (o.records / 4).max(1);
    for transaction_ms in modes {
        let run = TxnRun {
            workload: TxnRun::workload(o.size, Settings::Defaults),
            transaction_ms,
            transactional_id: unique_name("txn-bench-warmup"),
        };
        let topic = unique_name(&format!("txn-bench-warmup-{}", run.mode()));
        cluster.create_topic(&topic, PARTITIONS, 1)?;
        let r = run_client("kproducer", &bootstrap, &topic, &run, warmup)?;
        eprintln!(
            "broker warm-up, kproducer {}: {warmup} records, {:.0} records/s (not counted)",
            run.mode(),
            r.result.acked as f64 / r.result.elapsed_s
        );
    }
    let mut rows: Vec<Row> = Vec::new();
    for &settings in &o.settings {
        for _ in 0..o.repeat {
            // Clients alternate (and each one's two modes run back to back), so background
            // load hits all alike.
            for client in &o.clients {
                for transaction_ms in modes {
                    let run = TxnRun {
                        workload: TxnRun::workload(o.size, settings),
                        transaction_ms,
                        transactional_id: unique_name(&format!("txn-bench-{client}")),
                    };
                    let topic = unique_name(&format!("txn-bench-{client}-{}", run.mode()));
                    cluster.create_topic(&topic, PARTITIONS, 1)?;
                    let r = run_client(client, &bootstrap, &topic, &run, o.records)?;
                    let counted = count_committed(&bootstrap, &topic, r.written)?;
                    let rps = r.result.acked as f64 / r.result.elapsed_s;
                    let cpu = r.result.cpu_s * 1e6 / r.result.acked.max(1) as f64;
                    eprintln!(
                        "{} {client} {}: {rps:.0} records/s, {cpu:.2} µs CPU/record, {} \
                         transactions, read_committed {counted}/{} (load {})",
                        settings.name(),
                        run.mode(),
                        r.transactions.map_or("?".into(), |t| t.to_string()),
                        r.written,
                        loadavg()
                    );
                    if counted != r.written {
                        bail!(
                            "{client} {}: read_committed counted {counted} of {} records written",
                            run.mode(),
                            r.written
                        );
                    }
                    let row = Row {
                        settings: settings.name().into(),
                        client: client.clone(),
                        mode: run.mode().into(),
                        records_per_s: rps,
                        mb_per_s: rps * o.size as f64 / (1024.0 * 1024.0),
                        cpu_us_per_record: cpu,
                        transactions: r.transactions,
                        written: r.written,
                        read_committed: counted,
                        run: r,
                    };
                    match rows.iter_mut().find(|x| {
                        x.settings == row.settings && x.client == row.client && x.mode == row.mode
                    }) {
                        Some(best) if best.records_per_s < row.records_per_s => *best = row,
                        Some(_) => {}
                        None => rows.push(row),
                    }
                }
            }
        }
    }
    let loadavg_after = loadavg();
    let ratios = ratios(&rows);
    print_tables(&o, &rows, &ratios, &loadavg_before, &loadavg_after);
    let report = Report {
        kafka_version: kproducer_testkit::kafka_version().into(),
        host_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg_before,
        loadavg_after,
        records: o.records,
        record_size: o.size,
        transaction_ms: o.transaction_ms,
        partitions: PARTITIONS,
        rows,
        ratios,
    };
    cli::write_report(&o.out, &report)
}

/// Runs one client in a subprocess (this binary's `client` command) and checks every record of
/// the measured phase was acknowledged.
fn run_client(
    client: &str,
    bootstrap: &str,
    topic: &str,
    run: &TxnRun,
    records: u64,
) -> Result<TxnResult> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["client", "--client", client, "--bootstrap", bootstrap])
        .args(["--topic", topic, "--run", &serde_json::to_string(run)?])
        .args(["--records", &records.to_string()])
        .stdin(Stdio::null());
    let line = cli::last_json_line(cmd, client, CLIENT_TIMEOUT, "finish")?;
    let r: TxnResult = serde_json::from_str(&line)?;
    if r.result.failed > 0 || r.result.acked != records {
        bail!(
            "{client} {}: {} of {records} records acknowledged, {} failed",
            run.mode(),
            r.result.acked,
            r.result.failed
        );
    }
    Ok(r)
}

/// Records a read_committed consumer sees in `topic` (at least `expected` are waited for).
fn count_committed(bootstrap: &str, topic: &str, expected: u64) -> Result<u64> {
    let records = read_all_with(
        bootstrap,
        topic,
        &ReadOptions {
            expected_total: Some(expected as usize),
            timeout: Duration::from_secs(300),
            isolation: Isolation::ReadCommitted,
        },
    )
    .with_context(|| format!("reading {topic} back (read_committed)"))?;
    Ok(records.len() as u64)
}

fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let find = |settings: &str, client: &str, mode: &str| {
        rows.iter()
            .find(|r| r.settings == settings && r.client == client && r.mode == mode)
    };
    let ratio = |settings: &str, what: &str, of: String, a: &Row, b: &Row| Ratio {
        settings: settings.into(),
        what: what.into(),
        of,
        throughput: a.records_per_s / b.records_per_s,
        cpu_per_record: a.cpu_us_per_record / b.cpu_us_per_record,
    };
    let mut settings: Vec<&str> = Vec::new();
    for r in rows {
        if !settings.contains(&r.settings.as_str()) {
            settings.push(&r.settings);
        }
    }
    let mut out = Vec::new();
    for s in settings {
        for c in CLIENTS {
            if let (Some(t), Some(n)) = (find(s, c, "txn"), find(s, c, "non-txn")) {
                out.push(ratio(s, "txn/non-txn", c.to_string(), t, n));
            }
        }
        for mode in ["non-txn", "txn"] {
            let pairs = [
                ("kproducer", "librdkafka"),
                ("kproducer", "java"),
                ("kproducer", "kproducer-perf"),
                ("kproducer-perf", "java"),
            ];
            for (a, b) in pairs {
                if let (Some(x), Some(y)) = (find(s, a, mode), find(s, b, mode)) {
                    out.push(ratio(s, mode, format!("{a}/{b}"), x, y));
                }
            }
        }
    }
    out
}

fn print_tables(o: &Options, rows: &[Row], ratios: &[Ratio], before: &str, after: &str) {
    println!(
        "\nApache Kafka {}, 1 broker, {PARTITIONS} partitions; {} records of {} B per run, \
         acks=all, idempotent, no compression; txn: a commit every {} ms\n\
         {} CPUs, load average {before} (before) / {after} (after)",
        kproducer_testkit::kafka_version(),
        o.records,
        o.size,
        o.transaction_ms,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "\n{:<9} {:<15} {:<8} {:>11} {:>7} {:>9} {:>6} {:>23}",
        "settings",
        "client",
        "mode",
        "records/s",
        "MB/s",
        "CPU µs/r",
        "txns",
        "read_committed/written"
    );
    for r in rows {
        println!(
            "{:<9} {:<15} {:<8} {:>11.0} {:>7.1} {:>9.2} {:>6} {:>23}",
            r.settings,
            r.client,
            r.mode,
            r.records_per_s,
            r.mb_per_s,
            r.cpu_us_per_record,
            r.transactions.map_or("-".into(), |t| t.to_string()),
            format!("{}/{}", r.read_committed, r.written),
        );
    }
    println!(
        "\n{:<9} {:<12} {:<26} {:>10} {:>10}",
        "settings", "ratio", "of", "throughput", "CPU/record"
    );
    for r in ratios {
        println!(
            "{:<9} {:<12} {:<26} {:>10.2} {:>10.2}",
            r.settings, r.what, r.of, r.throughput, r.cpu_per_record
        );
    }
    println!(
        "\ndefaults: each client's own defaults (only acks=all, enable.idempotence=true and \
         compression.type=none set); equal: also linger.ms={}, batch.size={}, 5 in flight, \
         32 MiB buffer.\nkproducer and librdkafka: the library loops (1 warm-up record); java \
         and kproducer-perf: the perf tools' steady state after {} warm-up records (CPU: the \
         whole process's, times the measured share of records).",
        kproducer_bench::txn::EQUAL_LINGER_MS,
        kproducer_bench::txn::EQUAL_BATCH_SIZE,
        kproducer_bench::peers::java_warmup_records(kproducer_bench::client::Phase {
            records: o.records,
            rate: None
        }),
    );
}
