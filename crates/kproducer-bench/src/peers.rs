//! The clients that run as programs of their own: Java's producer through Apache Kafka's
//! perf tool (`org.apache.kafka.tools.ProducerPerformance`), our own perf tool (`kproducer perf`,
//! the same flags and output) and franz-go through the small Go program in
//! `crates/kproducer-bench/franz`. `scripts/setup.sh` fetches the one and builds the
//! other into the cache; [`java_tools_dir`] and [`franz_bench_bin`] find them.
//!
//! Call [`run_java`] / [`run_franz`] from a process of its own (the bench's `client` command):
//! CPU time and peak RSS of the peer come from `getrusage(RUSAGE_CHILDREN)` after it exits
//! (Java), or from the Go program's own `getrusage` over the measured phase (franz-go).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use crate::client::{ClientResult, Phase, Settings, Workload};
use crate::usage::children_usage;

/// The per-user cache root: `$XDG_CACHE_HOME`, else `~/.cache`, then `kproducer`.
fn cache_root() -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or_else(|| anyhow!("neither XDG_CACHE_HOME nor HOME is set"))?;
    Ok(cache.join("kproducer"))
}

/// `<kafka cache>/tools`: kafka-tools and its dependencies (the testkit's cache dir,
/// `$KPRODUCER_KAFKA_HOME` or `~/.cache/kproducer/kafka-<version>`), checked complete.
pub fn java_tools_dir() -> Result<PathBuf> {
    let home = match std::env::var_os("KPRODUCER_KAFKA_HOME") {
        Some(h) => PathBuf::from(h),
        None => cache_root()?.join(format!("kafka-{}", kproducer_testkit::kafka_version())),
    };
    let tools = home.join("tools");
    if !tools.join(".complete").is_file() {
        bail!(
            "Apache Kafka's tools (ProducerPerformance) not found in {}: run scripts/setup.sh \
             (needs java 17+ and mvn), or leave Java out with --clients",
            tools.display()
        );
    }
    Ok(tools)
}

/// The franz-go client built by `scripts/setup.sh`: `franz-bench` in `$KPRODUCER_FRANZ_DIR`,
/// else in `~/.cache/kproducer/franz-bench`.
pub fn franz_bench_bin() -> Result<PathBuf> {
    let dir = match std::env::var_os("KPRODUCER_FRANZ_DIR") {
        Some(d) => PathBuf::from(d),
        None => cache_root()?.join("franz-bench"),
    };
    let bin = dir.join("franz-bench");
    if !bin.is_file() {
        bail!(
            "the franz-go client is not built ({} missing): run scripts/setup.sh, which builds it \
             with the Go toolchain (`go` 1.22+ on PATH), or leave franz-go out with --clients",
            bin.display()
        );
    }
    Ok(bin)
}

/// `$JAVA_HOME/bin/java`, else `java` on `PATH`.
fn java_bin() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// Records the JVM sends before the measured (steady state) part: its JIT compiles the hot
/// path meanwhile. Half the measured records, at least 10 000; one second's worth when paced.
pub fn java_warmup_records(phase: Phase) -> u64 {
    match phase.rate {
        Some(rate) => (rate as u64).max(100),
        None => (phase.records / 2).max(10_000),
    }
}

/// Runs `ProducerPerformance` with the workload's settings, the JVM options of Kafka's own
/// `kafka-producer-perf-test.sh`, and every value `'x'` as in the other clients (its default
/// random payload would compress differently). Paced phases use its `--throughput`.
///
/// Peak RSS is the whole JVM's; CPU time is the whole JVM's (start-up and JIT included) times the
/// measured share of the records sent, warm-up ones included. Throughput and latency are from its
/// steady-state summary (after the warm-up records). Latency is its own send-to-callback
/// measurement, whole milliseconds.
pub fn run_java(bootstrap: &str, topic: &str, w: &Workload, phase: Phase) -> Result<ClientResult> {
    run_java_with(bootstrap, topic, w, phase, &PerfOptions::default())
}

/// How a perf tool runs besides the workload ([`run_java_with`], [`run_kproducer_perf_with`]):
/// its producer properties and flags of its own, e.g. for transactions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfOptions {
    /// `--command-property` entries in place of the workload's
    /// ([`Workload::common_settings`], and `buffer.memory` unless at the clients' defaults).
    pub properties: Option<Vec<(String, String)>>,
    /// More flags, e.g. `--transactional-id ID --transaction-duration-ms 100`.
    pub args: Vec<String>,
}

/// [`run_java`] with [`PerfOptions`].
pub fn run_java_with(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
    opts: &PerfOptions,
) -> Result<ClientResult> {
    let tools = java_tools_dir()?;
    let mut cmd = Command::new(java_bin());
    cmd.args(["-Xmx512M", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"])
        .args([
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-Djava.awt.headless=true",
        ])
        .arg("-cp")
        .arg(format!("{}/*", tools.display()))
        .arg("org.apache.kafka.tools.ProducerPerformance");
    run_perf_tool("java", cmd, bootstrap, topic, w, phase, opts)
        .context("running java (a JDK 17+ on PATH or JAVA_HOME)")
}

/// The `kproducer` command-line tool next to this benchmark's binary (the same build profile).
pub fn kproducer_cli_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("no directory for {}", exe.display()))?;
    // `target/<profile>/kproducer-bench`, or `target/<profile>/deps/...` in tests.
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    Ok(dir.join(format!("kproducer{}", std::env::consts::EXE_SUFFIX)))
}

/// Builds the `kproducer` tool in this benchmark's profile (`cargo build -p kproducer-cli`, a
/// no-op when up to date), so the benchmark never measures a stale perf tool. Call it from the
/// parent process: a build inside a client's process would count in its CPU time and RSS.
pub fn build_kproducer_cli() -> Result<PathBuf> {
    let bin = kproducer_cli_bin()?;
    let release = bin
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "kproducer-cli",
            "--bin",
            "kproducer",
        ])
        .arg("--manifest-path")
        .arg(&manifest);
    if release {
        build.arg("--release");
    }
    let built = build
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !built && !bin.is_file() {
        bail!(
            "the kproducer tool is not built ({} missing): run `cargo build --release -p kproducer-cli`",
            bin.display()
        );
    }
    Ok(bin)
}

/// `kproducer perf` (this project's perf tool, Java's flags and output), driven exactly as
/// Java's ProducerPerformance: the perf tool against the library's own loop ([`crate::client`])
/// on the same workload shows what the tool itself costs.
pub fn run_kproducer_perf(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
) -> Result<ClientResult> {
    run_kproducer_perf_with(bootstrap, topic, w, phase, &PerfOptions::default())
}

/// [`run_kproducer_perf`] with [`PerfOptions`].
pub fn run_kproducer_perf_with(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
    opts: &PerfOptions,
) -> Result<ClientResult> {
    let mut cmd = Command::new(kproducer_cli_bin()?);
    cmd.arg("perf");
    run_perf_tool("kproducer-perf", cmd, bootstrap, topic, w, phase, opts)
}

/// Runs a perf tool with `kafka-producer-perf-test`'s flags (Kafka 4.4) and `opts` for one phase
/// after [`java_warmup_records`] records, and reads its steady-state summary. CPU and peak RSS come from
/// `getrusage(RUSAGE_CHILDREN)`; the warm-up's share of the CPU time is taken off.
fn run_perf_tool(
    client: &str,
    mut cmd: Command,
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
    opts: &PerfOptions,
) -> Result<ClientResult> {
    let warmup = java_warmup_records(phase);
    let dir = std::env::temp_dir().join(format!("kproducer-bench-{client}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let payload = dir.join("payload");
    std::fs::write(&payload, payload_file(w))?;
    let throughput = phase
        .rate
        .map_or("-1".to_string(), |r| format!("{:.0}", r.max(1.0)));
    cmd.args(["--topic", topic, "--bootstrap-server", bootstrap])
        .args(["--num-records", &(phase.records + warmup).to_string()])
        .args(["--warmup-records", &warmup.to_string()])
        .args(["--throughput", &throughput])
        .arg("--payload-file")
        .arg(&payload)
        // Longer than any run: its periodic lines are not used.
        .args(["--reporting-interval", "3600000"])
        .args(&opts.args)
        // Last: it takes every argument after it.
        .arg("--command-property");
    match &opts.properties {
        Some(props) => {
            for (k, v) in props {
                cmd.arg(format!("{k}={v}"));
            }
        }
        None => {
            for (k, v) in w.common_settings() {
                cmd.arg(format!("{k}={v}"));
            }
            if w.settings != Settings::Defaults {
                cmd.arg("buffer.memory=33554432");
            }
        }
    }
    let out = cmd.stdin(Stdio::null()).output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.with_context(|| format!("running {client}"))?;
    let usage = children_usage();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "{client} exited with {}:\n{}\n{}",
            out.status,
            tail(&stdout),
            tail(&stderr)
        );
    }
    // Every failed send prints a line (Java: its exception, first line `...Exception: message`).
    let failed = stderr
        .lines()
        .filter(|l| {
            !l.starts_with(char::is_whitespace)
                && (l.contains("Exception") || l.contains("record failed"))
        })
        .count() as u64;
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains("steady state records sent"))
        .ok_or_else(|| anyhow!("no steady-state summary from {client}:\n{}", tail(&stdout)))?;
    let s = parse_summary(summary)?;
    if s.records_per_s <= 0.0 {
        bail!("{client} acknowledged nothing:\n{}", tail(&stderr));
    }
    let ms_to_us = |ms: f64| (ms * 1000.0).round() as u64;
    Ok(ClientResult {
        client: client.into(),
        acked: s.records.saturating_sub(failed),
        failed,
        elapsed_s: s.records as f64 / s.records_per_s,
        // The warm-up records cost CPU too: charge the measured ones their share only.
        cpu_s: usage.cpu.as_secs_f64() * phase.records as f64 / (phase.records + warmup) as f64,
        max_rss_kib: usage.max_rss_kib,
        p50_us: phase.rate.map(|_| ms_to_us(s.p50_ms)),
        p99_us: phase.rate.map(|_| ms_to_us(s.p99_ms)),
    })
}

/// The workload's payloads, one per line, for the perf tools' `--payload-file` and franz-go.
fn payload_file(w: &Workload) -> Vec<u8> {
    crate::payload::json_payloads(w.record_size, crate::payload::PAYLOADS).join(&b'\n')
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// ProducerPerformance's summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfSummary {
    /// Records completed.
    pub records: u64,
    /// Records per second.
    pub records_per_s: f64,
    /// Mean latency, ms.
    pub avg_ms: f64,
    /// Maximum latency, ms.
    pub max_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// Parses `N [steady state ]records sent, R records/sec (M MB/sec), A ms avg latency, X ms max
/// latency, P ms 50th, Q ms 95th, S ms 99th, T ms 99.9th.`
///
/// ```
/// let s = kproducer_bench::peers::parse_summary(
///     "1000 steady state records sent, 5000.5 records/sec (0.48 MB/sec), 3.10 ms avg latency, \
///      40.00 ms max latency, 2 ms 50th, 9 ms 95th, 12 ms 99th, 40 ms 99.9th.",
/// )
/// .unwrap();
/// assert_eq!((s.records, s.p50_ms, s.p99_ms), (1000, 2.0, 12.0));
/// ```
pub fn parse_summary(line: &str) -> Result<PerfSummary> {
    let bad = || anyhow!("unexpected ProducerPerformance summary: {line:?}");
    let mut s = PerfSummary {
        records: line
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?,
        records_per_s: f64::NAN,
        avg_ms: f64::NAN,
        max_ms: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
    };
    for part in line.trim_end_matches('.').split(", ") {
        let mut words = part.split_whitespace();
        let (Some(value), Some(unit)) = (words.next(), words.next()) else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        let slot = match (unit, rest.as_slice()) {
            ("records/sec", _) => &mut s.records_per_s,
            ("ms", ["avg", "latency"]) => &mut s.avg_ms,
            ("ms", ["max", "latency"]) => &mut s.max_ms,
            ("ms", ["50th"]) => &mut s.p50_ms,
            ("ms", ["99th"]) => &mut s.p99_ms,
            _ => continue,
        };
        *slot = value.parse().map_err(|_| bad())?;
    }
    if s.records_per_s.is_nan() || s.p50_ms.is_nan() || s.p99_ms.is_nan() {
        return Err(bad());
    }
    Ok(s)
}

/// Runs the franz-go program, which prints a [`ClientResult`] line itself. Request versions
/// are capped at Apache Kafka 4.0's (`-max-kafka 4.0`): Tansu 0.6 closes the connection on the
/// newer ApiVersions request franz-go would send.
pub fn run_franz(bootstrap: &str, topic: &str, w: &Workload, phase: Phase) -> Result<ClientResult> {
    let bin = franz_bench_bin()?;
    run_franz_at(&bin, bootstrap, topic, w, phase)
}

fn run_franz_at(
    bin: &Path,
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    phase: Phase,
) -> Result<ClientResult> {
    let dir = std::env::temp_dir().join(format!("kproducer-bench-franz-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let payloads = dir.join("payload");
    std::fs::write(&payloads, payload_file(w))?;
    let mut cmd = Command::new(bin);
    cmd.args(["-bootstrap", bootstrap, "-topic", topic])
        .args(["-records", &phase.records.to_string()])
        .args(["-size", &w.record_size.to_string()])
        .arg("-payload-file")
        .arg(&payloads)
        .args(["-acks", &w.acks, "-compression", &w.compression])
        .args(["-linger-ms", &w.linger_ms.to_string()])
        .args(["-batch-size", &w.effective_batch_size().to_string()])
        .args(["-max-kafka", "4.0"]);
    if w.settings == Settings::Defaults {
        cmd.arg("-defaults");
    }
    if let Some(r) = phase.rate {
        cmd.args(["-rate", &format!("{r:.3}")]);
    }
    let out = cmd.stdin(Stdio::null()).output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.with_context(|| format!("running {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "franz-go client exited with {}:\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| {
            anyhow!(
                "no result line from the franz-go client:\n{}",
                tail(&stdout)
            )
        })?;
    serde_json::from_str(line).context("the franz-go client's result line")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary_and_rejects_others() {
        let s = parse_summary(
            "200000 records sent, 123456.789 records/sec (11.77 MB/sec), 12.34 ms avg latency, \
             345.00 ms max latency, 5 ms 50th, 20 ms 95th, 30 ms 99th, 40 ms 99.9th.",
        )
        .unwrap();
        assert_eq!(s.records, 200_000);
        assert!((s.records_per_s - 123_456.789).abs() < 1e-6);
        assert_eq!(
            (s.avg_ms, s.max_ms, s.p50_ms, s.p99_ms),
            (12.34, 345.0, 5.0, 30.0)
        );
        assert!(parse_summary("1000 records sent, 100 records/sec").is_err());
        assert!(parse_summary("hello").is_err());
    }

    #[test]
    fn java_warms_up_longer_than_one_record() {
        let fast = Phase {
            records: 1_000_000,
            rate: None,
        };
        assert_eq!(java_warmup_records(fast), 500_000);
        let paced = Phase {
            records: 5_000,
            rate: Some(1_000.0),
        };
        assert_eq!(java_warmup_records(paced), 1_000);
    }
}
