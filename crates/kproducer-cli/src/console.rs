//! `kproducer console`: kafka-console-producer's flags, one record per stdin line.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use kproducer::{Producer, ProducerConfig, ProducerRecord};

const HELP: &str = "\
usage: kproducer console --bootstrap-server HOST:PORT --topic TOPIC [options]

Reads records from standard input, one per line, and sends them to TOPIC.
Exits non-zero, printing the error, if any record failed or a line could not be parsed; every
record read before that is still delivered (also on SIGINT/SIGTERM, as Java's shutdown hook does).

options:
  --bootstrap-server LIST       brokers to bootstrap from (bootstrap.servers)
  --topic TOPIC                 topic to produce to
  --property parse.key=true     split each line into key and value
  --property key.separator=SEP  separator between key and value (default: a tab)
  --property null.marker=STR    a key or value equal to STR is sent as null
  --producer-property K=V       a producer setting, repeatable (Java property names)
  --producer.config FILE        producer settings from a Java .properties file
  --verbose                     print each record's partition and offset
  -h, --help                    this help";

/// Parsed command line.
#[derive(Debug, Default, PartialEq)]
struct Options {
    bootstrap: Option<String>,
    topic: String,
    parse_key: bool,
    key_separator: String,
    null_marker: Option<String>,
    producer_props: BTreeMap<String, String>,
    producer_config: Option<String>,
    verbose: bool,
}

fn split_kv(s: &str, flag: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("{flag} expects KEY=VALUE, got {s:?}"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        key_separator: "\t".into(),
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{name} needs a value"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bootstrap-server" | "--broker-list" => o.bootstrap = Some(value(a)?),
            "--topic" => o.topic = value(a)?,
            "--property" => {
                let (k, v) = split_kv(&value(a)?, "--property")?;
                match k.as_str() {
                    "parse.key" => o.parse_key = v.trim().eq_ignore_ascii_case("true"),
                    "key.separator" => o.key_separator = v,
                    "null.marker" => o.null_marker = Some(v),
                    other => bail!("unsupported --property {other} (supported: parse.key, key.separator, null.marker)"),
                }
            }
            "--producer-property" => {
                let (k, v) = split_kv(&value(a)?, "--producer-property")?;
                o.producer_props.insert(k, v);
            }
            "--producer.config" => o.producer_config = Some(value(a)?),
            "--verbose" => o.verbose = true,
            other => bail!("unknown option {other:?}"),
        }
    }
    if o.topic.is_empty() {
        bail!("--topic is required");
    }
    Ok(Some(o))
}

fn config(o: &Options) -> Result<ProducerConfig> {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = &o.producer_config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        props.extend(
            kproducer::config::properties::parse(&text).map_err(|e| anyhow!("{path}: {e}"))?,
        );
    }
    props.extend(o.producer_props.clone());
    if let Some(b) = &o.bootstrap {
        props.insert("bootstrap.servers".into(), b.clone());
    }
    Ok(ProducerConfig::from_map(props)?)
}

/// Entry point of `kproducer console`.
pub fn main(args: &[String]) -> ExitCode {
    crate::run_command("console", HELP, parse(args), run)
}

/// Sends every stdin line; returns how many records failed.
///
/// What was read is never dropped: a line that cannot be parsed, a closed pipe or SIGINT/SIGTERM
/// all close the producer (which delivers every record already accepted) before exiting, as
/// Java's console producer does from its shutdown hook. A record the producer refuses (too
/// large, say) is reported and the lines after it are still sent.
async fn run(o: Options) -> Result<usize> {
    let cfg = config(&o)?;
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(cfg)?;
    // After the build: a key the producer refused is reported once, as the error.
    crate::print_config_warnings(producer.config());
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let on_signal = tokio::spawn(close_on_signal(producer.clone(), failed.clone()));
    let outcome = send_lines(&o, &producer, &failed, &first_error).await;
    // Whatever happened, deliver what was accepted before reporting it.
    producer.flush().await;
    producer.close(Duration::from_secs(30)).await;
    on_signal.abort();
    if let Some(e) = first_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
        errln!("kproducer console: {e}");
    }
    outcome?;
    Ok(failed.load(Ordering::Relaxed))
}

/// Reads stdin line by line (invalid UTF-8 is kept byte for byte in values, shown with
/// replacement characters in messages) and sends each line.
async fn send_lines(
    o: &Options,
    producer: &Producer<Vec<u8>, Vec<u8>>,
    failed: &Arc<AtomicUsize>,
    first_error: &Arc<Mutex<Option<String>>>,
) -> Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("reading stdin")? == 0 {
            return Ok(());
        }
        line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        let (key, value) = split_line(o, &buf).with_context(|| format!("line {line_no}"))?;
        let mut record = ProducerRecord::empty(o.topic.clone());
        record.key = key;
        record.value = value;
        let (failed_cb, first_cb) = (failed.clone(), first_error.clone());
        let verbose = o.verbose;
        let sent = producer
            .send_with_callback(record, move |r| match r {
                Ok(md) if verbose => errln!("{}-{}@{}", md.topic, md.partition, md.offset),
                Ok(_) => {}
                Err(e) => {
                    failed_cb.fetch_add(1, Ordering::Relaxed);
                    errln!("kproducer console: record failed: {e}");
                    let mut first = first_cb.lock().unwrap_or_else(|e| e.into_inner());
                    if first.is_none() {
                        *first = Some(e.to_string());
                    }
                }
            })
            .await;
        if let Err(e) = sent {
            // Java reports a refused record through the callback and goes on.
            failed.fetch_add(1, Ordering::Relaxed);
            errln!("kproducer console: line {line_no} not sent: {e}");
            if matches!(e, kproducer::SendError::Closed) {
                return Err(anyhow!("{e}"));
            }
        }
    }
}

/// On SIGINT or SIGTERM: close the producer (delivering what it holds) and exit 130 / 143.
async fn close_on_signal(producer: Producer<Vec<u8>, Vec<u8>>, failed: Arc<AtomicUsize>) {
    let code = match crate::stop_signal().await {
        "SIGINT" => 130,
        _ => 143,
    };
    producer.close(Duration::from_secs(30)).await;
    let n = failed.load(Ordering::Relaxed);
    if n > 0 {
        errln!("kproducer console: {n} record(s) failed");
    }
    std::process::exit(code);
}

type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

fn split_line(o: &Options, line: &[u8]) -> Result<KeyValue> {
    let field = |s: &[u8]| -> Option<Vec<u8>> {
        match &o.null_marker {
            Some(m) if m.as_bytes() == s => None,
            _ => Some(s.to_vec()),
        }
    };
    if !o.parse_key {
        return Ok((None, field(line)));
    }
    let sep = o.key_separator.as_bytes();
    let at = (!sep.is_empty())
        .then(|| line.windows(sep.len()).position(|w| w == sep))
        .flatten();
    match at {
        Some(i) => Ok((field(&line[..i]), field(&line[i + sep.len()..]))),
        None => bail!(
            "no key separator {:?} in {:?} (parse.key=true)",
            o.key_separator,
            String::from_utf8_lossy(line)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_console_producer_flags() {
        let o = parse(&args(&[
            "--bootstrap-server",
            "127.0.0.1:9092",
            "--topic",
            "t",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
            "--producer-property",
            "acks=1",
            "--producer-property",
            "linger.ms=0",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.bootstrap.as_deref(), Some("127.0.0.1:9092"));
        assert!(o.parse_key);
        assert_eq!(o.key_separator, ":");
        assert_eq!(o.producer_props.get("acks").map(String::as_str), Some("1"));
        let (k, v) = split_line(&o, b"k1:v:1").unwrap();
        assert_eq!(k.as_deref(), Some(&b"k1"[..]));
        assert_eq!(v.as_deref(), Some(&b"v:1"[..]));
        assert!(split_line(&o, b"no-separator").is_err());
        let (_, v) = split_line(&o, b"k:\xff\xfe").unwrap();
        assert_eq!(
            v.as_deref(),
            Some(&b"\xff\xfe"[..]),
            "invalid UTF-8 kept byte for byte"
        );
        let cfg = config(&o).unwrap();
        assert_eq!(cfg.acks(), kproducer::Acks::Leader);
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(parse(&args(&["--topic"])).is_err());
        assert!(parse(&args(&["--bootstrap-server", "x:1"])).is_err());
        assert!(parse(&args(&["--topic", "t", "--property", "nonsense"])).is_err());
        assert!(parse(&args(&["--topic", "t", "--bogus"])).is_err());
        let o = parse(&args(&[
            "--topic",
            "t",
            "--producer-property",
            "acks=2",
            "--bootstrap-server",
            "h:1",
        ]))
        .unwrap()
        .unwrap();
        let e = config(&o).unwrap_err().to_string();
        assert!(e.contains("acks"), "{e}");
    }
}
