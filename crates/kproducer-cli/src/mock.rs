//! `kproducer mock`: an in-process Kafka cluster (kproducer-mock) for manual use and scripts.
//!
//! The first line on stdout is the bootstrap address, so a script can read it and point any
//! client at it; the cluster serves until stdin closes or SIGINT/SIGTERM arrives, then prints
//! what it was given (records per topic) on stderr.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Args;
use kproducer_mock::{ClusterConfig, MockServer};

/// `kproducer mock`'s command line.
#[derive(Debug, Clone, PartialEq, Args)]
#[command(
    about = "Run an in-process Kafka cluster; prints its bootstrap address first",
    long_about = "Starts an in-process Kafka cluster (kproducer-mock: real protocol on loopback \
TCP, Kafka's idempotence rules, memory only). Prints the bootstrap address as the first line on \
stdout, then serves until stdin closes or SIGINT/SIGTERM arrives."
)]
pub struct MockArgs {
    /// Brokers, node ids 1..=N, each on its own listener
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(1..=1000))]
    brokers: i32,
    /// Broker 1 on port P, broker i on P+i-1 (default: ports chosen by the OS)
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Partitions of auto-created topics (Kafka's num.partitions)
    #[arg(long, value_name = "K", default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(1..=(1 << 20)))]
    partitions: i32,
    /// Create NAME with K partitions at start (repeatable)
    #[arg(long, value_name = "NAME")]
    topic: Vec<String>,
    /// Unknown topics are not created on first use (auto.create.topics.enable=false)
    #[arg(long)]
    no_auto_create: bool,
    /// Ignore stdin; serve until SIGINT/SIGTERM
    #[arg(long)]
    until_signal: bool,
}

/// Checks what clap cannot: the port range of all brokers.
fn validate(o: &MockArgs) -> Result<()> {
    if let Some(port) = o.port {
        if i32::from(port) + o.brokers - 1 > 65535 {
            bail!(
                "--port {port} with --brokers {} goes past port 65535",
                o.brokers
            );
        }
    }
    Ok(())
}

/// Entry point of `kproducer mock`: serves until stopped; returns 0 (no records can fail).
pub async fn run(o: MockArgs) -> Result<u64> {
    validate(&o).map_err(|e| crate::UsageError(format!("{e:#}")))?;
    let port = o.port.unwrap_or(0);
    let cfg = ClusterConfig {
        brokers: o.brokers,
        default_partitions: o.partitions,
        auto_create_topics: !o.no_auto_create,
        ..ClusterConfig::default()
    };
    let server = MockServer::start_at(cfg, port)
        .await
        .with_context(|| match port {
            0 => "binding loopback listeners".to_string(),
            p => format!("binding ports {p}..={}", i32::from(p) + o.brokers - 1),
        })?;
    {
        let cluster = server.cluster();
        let mut cluster = cluster
            .lock()
            .map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?;
        for t in &o.topic {
            cluster
                .create_topic(t, o.partitions)
                .with_context(|| format!("--topic {t}"))?;
        }
    }
    // Handlers first: a script may signal as soon as it has read the address.
    let signals = crate::StopSignals::install();
    // The address first and alone on its line, flushed: scripts read it before anything else.
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server.bootstrap_servers())?;
        out.flush()?;
    }
    errln!(
        "kproducer mock: {} broker(s) serving; {}",
        o.brokers,
        if o.until_signal {
            "stop with SIGINT/SIGTERM"
        } else {
            "stop by closing stdin (Ctrl-D) or with SIGINT/SIGTERM"
        }
    );
    let why = wait_for_stop(signals, o.until_signal).await;
    let summary = {
        let cluster = server.cluster();
        let cluster = cluster
            .lock()
            .map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?;
        cluster
            .topics()
            .iter()
            .map(|t| {
                let n = cluster.partition_count(t).unwrap_or(0);
                let records: i64 = (0..n)
                    .map(|p| cluster.high_watermark(t, p) - cluster.log_start_offset(t, p))
                    .sum();
                format!("{t}: {records} record(s) in {n} partition(s)")
            })
            .collect::<Vec<_>>()
    };
    server.shutdown().await;
    errln!("kproducer mock: stopped ({why})");
    for line in summary {
        errln!("  {line}");
    }
    Ok(0)
}

/// Resolves with the reason to stop: stdin at end (unless `until_signal`), SIGINT or SIGTERM.
async fn wait_for_stop(signals: crate::StopSignals, until_signal: bool) -> &'static str {
    let stdin_closed = async {
        if until_signal {
            return std::future::pending().await;
        }
        // A blocking read on its own thread: tokio's stdin would keep the runtime from exiting.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            loop {
                match std::io::Read::read(&mut stdin, &mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let _ = tx.send(());
        });
        let _ = rx.await;
    };
    tokio::select! {
        _ = stdin_closed => "stdin closed",
        name = signals.recv() => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MockArgs,
    }

    fn parse(s: &str) -> Result<MockArgs> {
        let cli = Cli::try_parse_from(std::iter::once("mock").chain(s.split_whitespace()))?;
        validate(&cli.args)?;
        Ok(cli.args)
    }

    #[test]
    fn parses_the_issue_s_flags() {
        let o = parse("--brokers 3 --port=19092 --partitions 4 --topic a --topic b").unwrap();
        assert_eq!(o.brokers, 3);
        assert_eq!(o.port, Some(19092));
        assert_eq!(o.partitions, 4);
        assert_eq!(o.topic, ["a", "b"]);
        assert!(!o.no_auto_create && !o.until_signal);
    }

    #[test]
    fn refuses_bad_values_by_name() {
        for (a, needle) in [
            ("--brokers 0", "--brokers"),
            ("--brokers x", "--brokers"),
            ("--partitions -1", "--partitions"),
            ("--port 70000", "--port"),
            ("--port 65535 --brokers 2", "65535"),
            ("--bogus", "--bogus"),
            ("--topic", "--topic"),
        ] {
            let e = parse(a).unwrap_err().to_string();
            assert!(e.contains(needle), "{a}: {e}");
        }
    }
}
