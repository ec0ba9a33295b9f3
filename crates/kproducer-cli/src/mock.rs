//! `kproducer mock`: an in-process Kafka cluster (kproducer-mock) for manual use and scripts.
//!
//! The first line on stdout is the bootstrap address, so a script can read it and point any
//! client at it; the cluster serves until stdin closes or SIGINT/SIGTERM arrives, then prints
//! what it was given (records per topic) on stderr.

use std::io::Write;

use anyhow::{bail, Context, Result};
use kproducer_mock::{ClusterConfig, MockServer};

pub const HELP: &str = "\
usage: kproducer mock [--brokers N] [--port P] [--partitions K] [--topic NAME]... [--until-signal]

Starts an in-process Kafka cluster (kproducer-mock: real protocol on loopback TCP, Kafka's
idempotence rules, memory only). Prints the bootstrap address as the first line on stdout, then
serves until stdin closes or SIGINT/SIGTERM arrives.

  --brokers N        brokers, node ids 1..=N, each on its own listener (default 1)
  --port P           broker 1 on port P, broker i on P+i-1 (default: ports chosen by the OS)
  --partitions K     partitions of auto-created topics (Kafka's num.partitions; default 1)
  --topic NAME       create NAME with K partitions at start (repeatable)
  --no-auto-create   unknown topics are not created on first use (auto.create.topics.enable=false)
  --until-signal     ignore stdin; serve until SIGINT/SIGTERM
  -h, --help         this help";

#[derive(Debug, PartialEq)]
pub struct Options {
    brokers: i32,
    port: u16,
    partitions: i32,
    topics: Vec<String>,
    auto_create: bool,
    until_signal: bool,
}

pub fn parse(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        brokers: 1,
        port: 0,
        partitions: 1,
        topics: Vec::new(),
        auto_create: true,
        until_signal: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{name} needs a value"))
        };
        match name {
            "--brokers" => o.brokers = number(name, &value()?, 1, 1000)?,
            "--port" => o.port = number(name, &value()?, 1, 65535)? as u16,
            "--partitions" => o.partitions = number(name, &value()?, 1, 1 << 20)?,
            "--topic" => o.topics.push(value()?),
            "--no-auto-create" => o.auto_create = false,
            "--until-signal" => o.until_signal = true,
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown option {other:?}"),
        }
    }
    if o.port != 0 && i32::from(o.port) + o.brokers - 1 > 65535 {
        bail!(
            "--port {} with --brokers {} goes past port 65535",
            o.port,
            o.brokers
        );
    }
    Ok(Some(o))
}

fn number(name: &str, v: &str, min: i32, max: i32) -> Result<i32> {
    match v.parse::<i32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => bail!("{name}: {v:?} is not a number in {min}..={max}"),
    }
}

pub async fn run(o: Options) -> Result<u64> {
    let cfg = ClusterConfig {
        brokers: o.brokers,
        default_partitions: o.partitions,
        auto_create_topics: o.auto_create,
        ..ClusterConfig::default()
    };
    let server = MockServer::start_at(cfg, o.port)
        .await
        .with_context(|| match o.port {
            0 => "binding loopback listeners".to_string(),
            p => format!("binding ports {p}..={}", i32::from(p) + o.brokers - 1),
        })?;
    {
        let cluster = server.cluster();
        let mut cluster = cluster
            .lock()
            .map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?;
        for t in &o.topics {
            cluster
                .create_topic(t, o.partitions)
                .with_context(|| format!("--topic {t}"))?;
        }
    }
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
    let why = wait_for_stop(o.until_signal).await;
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
async fn wait_for_stop(until_signal: bool) -> &'static str {
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
        name = crate::stop_signal() => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_issue_s_flags() {
        let o = parse(&args(
            "--brokers 3 --port=19092 --partitions 4 --topic a --topic b",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(o.brokers, 3);
        assert_eq!(o.port, 19092);
        assert_eq!(o.partitions, 4);
        assert_eq!(o.topics, ["a", "b"]);
        assert!(o.auto_create && !o.until_signal);
        assert_eq!(parse(&args("--help")).unwrap(), None);
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
            ("--topic", "--topic needs a value"),
        ] {
            let e = parse(&args(a)).unwrap_err().to_string();
            assert!(e.contains(needle), "{a}: {e}");
        }
    }
}
