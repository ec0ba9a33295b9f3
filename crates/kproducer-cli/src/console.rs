//! `kproducer console`: Apache Kafka 4.4's `kafka-console-producer` (Java's `ConsoleProducer`
//! with its default `LineMessageReader`): the same flags, the same defaults merged into the
//! producer settings, the same line format (headers, key, value), one record per stdin line.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kproducer::{Header, Producer, ProducerConfig, ProducerRecord};
use regex::bytes::Regex;

/// Java's one reader class; any other `--line-reader` is a Java class we cannot load.
const LINE_READER: &str = "org.apache.kafka.tools.LineMessageReader";
/// The reader properties `LineMessageReader` reads (others are reported, not silently ignored).
const READER_KEYS: &[&str] = &[
    "parse.key",
    "key.separator",
    "parse.headers",
    "headers.delimiter",
    "headers.separator",
    "headers.key.separator",
    "ignore.error",
    "null.marker",
];

/// `kproducer console`'s command line: Kafka 4.4's `kafka-console-producer` flags.
#[derive(Debug, Clone, Default, Args)]
#[command(
    about = "Read records from stdin, one per line, and send them (like kafka-console-producer)",
    long_about = "Reads records from standard input, one per line, and sends them to TOPIC, like \
Apache Kafka 4.4's kafka-console-producer (same flags and defaults; producer settings use Java's \
names). Exits non-zero, printing the error, if any record failed or a line could not be parsed; \
every record read before that is still delivered (also on SIGINT/SIGTERM, as Java's shutdown hook \
does).\n\nLine format (--reader-property): parse.key=false, parse.headers=false, \
ignore.error=false, key.separator=\\t, headers.delimiter=\\t, headers.separator=, \
headers.key.separator=:, null.marker= (fields equal to it are sent as null). With \
parse.headers=true and parse.key=true a line is \"h1:v1,h2:v2...\\tkey\\tvalue\"."
)]
pub struct ConsoleArgs {
    /// The server(s) to connect to: HOST1:PORT1,HOST2:PORT2
    #[arg(long, value_name = "server to connect to")]
    bootstrap_server: Option<String>,
    /// The topic to produce to
    #[arg(long, value_name = "topic")]
    topic: String,
    /// Send each record and wait for its acknowledgement before reading the next line
    #[arg(long)]
    sync: bool,
    /// Compression codec: none, gzip, snappy, lz4 or zstd (gzip when given without a value)
    #[arg(long, value_name = "compression-codec", num_args = 0..=1, default_missing_value = "gzip")]
    compression_codec: Option<String>,
    /// batch.size [default: 16384]
    #[arg(long, value_name = "size")]
    batch_size: Option<i64>,
    /// retries [default: 3]
    #[arg(long, value_name = "Integer", allow_negative_numbers = true)]
    message_send_max_retries: Option<i64>,
    /// retry.backoff.ms [default: 100]
    #[arg(long, value_name = "Long")]
    retry_backoff_ms: Option<i64>,
    /// linger.ms: how long a record may wait for a fuller batch [default: 1000]
    #[arg(long, value_name = "timeout_ms")]
    timeout: Option<i64>,
    /// acks [default: -1]
    #[arg(
        long,
        value_name = "request required acks",
        allow_negative_numbers = true
    )]
    request_required_acks: Option<String>,
    /// request.timeout.ms [default: 1500]
    #[arg(long, value_name = "request timeout ms")]
    request_timeout_ms: Option<i64>,
    /// metadata.max.age.ms [default: 300000]
    #[arg(long, value_name = "metadata expiration interval")]
    metadata_expiry_ms: Option<i64>,
    /// max.block.ms [default: 60000]
    #[arg(long, value_name = "max block on send")]
    max_block_ms: Option<i64>,
    /// buffer.memory [default: 33554432]
    #[arg(long, value_name = "total memory in bytes")]
    max_memory_bytes: Option<i64>,
    /// (Deprecated: use --batch-size) batch.size
    #[arg(long, value_name = "memory in bytes per partition")]
    max_partition_memory_bytes: Option<i64>,
    /// send.buffer.bytes [default: 102400]
    #[arg(long, value_name = "size", allow_negative_numbers = true)]
    socket_buffer_size: Option<i64>,
    /// The line reader (only Java's default, org.apache.kafka.tools.LineMessageReader)
    #[arg(long, value_name = "reader_class")]
    line_reader: Option<String>,
    /// A line-format property KEY=VALUE (see above), repeatable
    #[arg(long, value_name = "prop")]
    reader_property: Vec<String>,
    /// (Deprecated: use --reader-property)
    #[arg(long, value_name = "prop", conflicts_with = "reader_property")]
    property: Vec<String>,
    /// Line-format properties from a .properties file; --reader-property takes precedence
    #[arg(long, value_name = "config file")]
    reader_config: Option<PathBuf>,
    /// A producer setting KEY=VALUE (Java names), repeatable
    #[arg(long, value_name = "producer_prop")]
    command_property: Vec<String>,
    /// (Deprecated: use --command-property)
    #[arg(
        long,
        value_name = "producer_prop",
        conflicts_with = "command_property"
    )]
    producer_property: Vec<String>,
    /// Producer settings from a Java .properties file; --command-property takes precedence
    #[arg(long, value_name = "config file")]
    command_config: Option<PathBuf>,
    /// (Deprecated: use --command-config)
    #[arg(
        long = "producer.config",
        value_name = "config file",
        conflicts_with = "command_config"
    )]
    producer_config: Option<PathBuf>,
    /// Print each record's partition and offset on stderr
    #[arg(long)]
    verbose: bool,
}

/// `LineMessageReader`'s settings.
#[derive(Debug, Clone, PartialEq)]
struct LineFormat {
    parse_key: bool,
    key_separator: String,
    parse_headers: bool,
    headers_delimiter: String,
    /// A regular expression, as in Java (`Pattern.compile`).
    headers_separator: String,
    headers_key_separator: String,
    ignore_error: bool,
    null_marker: Option<String>,
}

impl Default for LineFormat {
    fn default() -> Self {
        LineFormat {
            parse_key: false,
            key_separator: "\t".into(),
            parse_headers: false,
            headers_delimiter: "\t".into(),
            headers_separator: ",".into(),
            headers_key_separator: ":".into(),
            ignore_error: false,
            null_marker: None,
        }
    }
}

/// The validated command line.
#[derive(Debug)]
struct Options {
    topic: String,
    sync: bool,
    verbose: bool,
    format: LineFormat,
    headers_separator: Regex,
    /// The producer settings, merged as Java merges them.
    props: BTreeMap<String, String>,
    /// Deprecation and other notices for stderr.
    notices: Vec<String>,
}

fn read_properties(path: &PathBuf) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    kproducer::config::properties::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn split_kv(s: &str, flag: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("{flag} expects KEY=VALUE, got {s:?}"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// Java's `LineMessageReader.configure`, with its checks and messages.
fn line_format(props: &BTreeMap<String, String>, notices: &mut Vec<String>) -> Result<LineFormat> {
    let mut f = LineFormat::default();
    let flag = |v: &str| v.trim().eq_ignore_ascii_case("true");
    for (k, v) in props {
        match k.as_str() {
            "parse.key" => f.parse_key = flag(v),
            "key.separator" => f.key_separator = v.clone(),
            "parse.headers" => f.parse_headers = flag(v),
            "headers.delimiter" => f.headers_delimiter = v.clone(),
            "headers.separator" => f.headers_separator = v.clone(),
            "headers.key.separator" => f.headers_key_separator = v.clone(),
            "ignore.error" => f.ignore_error = flag(v),
            "null.marker" => f.null_marker = Some(v.clone()),
            "topic" => {}
            other => notices.push(format!(
                "WARN unknown reader property {other:?} ignored (known: {})",
                READER_KEYS.join(", ")
            )),
        }
    }
    let pairs = [
        (
            &f.headers_delimiter,
            &f.headers_separator,
            "headers.delimiter and headers.separator",
        ),
        (
            &f.headers_delimiter,
            &f.headers_key_separator,
            "headers.delimiter and headers.key.separator",
        ),
        (
            &f.headers_separator,
            &f.headers_key_separator,
            "headers.separator and headers.key.separator",
        ),
    ];
    for (a, b, what) in pairs {
        if a == b {
            bail!("{what} may not be equal");
        }
    }
    if let Some(m) = &f.null_marker {
        for (other, what) in [
            (&f.key_separator, "key.separator"),
            (&f.headers_separator, "headers.separator"),
            (&f.headers_delimiter, "headers.delimiter"),
            (&f.headers_key_separator, "headers.key.separator"),
        ] {
            if m == other {
                bail!("null.marker and {what} may not be equal");
            }
        }
    }
    Ok(f)
}

/// Java's `ConsoleProducerOptions`: reader settings (file, then properties) and producer
/// settings (file, properties, `--bootstrap-server`, `--compression-codec`, Java's client id,
/// then each tool option when given, or its default when the settings lack the key).
fn validate(a: ConsoleArgs) -> Result<Options> {
    let mut notices = Vec::new();
    for (used, old, new) in [
        (
            !a.producer_property.is_empty(),
            "--producer-property",
            "--command-property",
        ),
        (
            a.producer_config.is_some(),
            "--producer.config",
            "--command-config",
        ),
        (!a.property.is_empty(), "--property", "--reader-property"),
    ] {
        if used {
            notices.push(format!(
                "Warning: {old} is deprecated and will be removed in a future version. Use {new} instead."
            ));
        }
    }
    if a.max_partition_memory_bytes.is_some() {
        notices.push("Warning: --max-partition-memory-bytes is deprecated and will be removed in Apache Kafka 5.0. Use --batch-size instead.".into());
    }
    if let Some(r) = &a.line_reader {
        if r != LINE_READER {
            bail!("--line-reader {r}: only Java's default {LINE_READER} is built in (no Java classes can be loaded)");
        }
    }

    let mut reader: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = &a.reader_config {
        reader.extend(read_properties(path)?);
    }
    reader.insert("topic".into(), a.topic.clone());
    for p in a.reader_property.iter().chain(&a.property) {
        let (k, v) = split_kv(p, "--reader-property")?;
        reader.insert(k, v);
    }
    let format = line_format(&reader, &mut notices)?;
    let headers_separator = Regex::new(&format.headers_separator)
        .with_context(|| format!("headers.separator {:?}", format.headers_separator))?;

    let mut props: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = a.command_config.as_ref().or(a.producer_config.as_ref()) {
        props.extend(read_properties(path)?);
    }
    for p in a.command_property.iter().chain(&a.producer_property) {
        let (k, v) = split_kv(p, "--command-property")?;
        props.insert(k, v);
    }
    if let Some(b) = a.bootstrap_server {
        props.insert("bootstrap.servers".into(), b);
    }
    // Java sets compression.type from --compression-codec (none without it), over the settings.
    let codec = a.compression_codec.filter(|c| !c.is_empty());
    let codec = codec.unwrap_or_else(|| "none".into());
    if let Some(old) = props.get("compression.type").filter(|old| **old != codec) {
        notices.push(format!(
            "WARN compression.type={old} replaced by {codec}: as Java's console producer, the codec comes from --compression-codec"
        ));
    }
    props.insert("compression.type".into(), codec);
    props
        .entry("client.id".into())
        .or_insert_with(|| "console-producer".into());
    // Java's `maybeMergeOptions`: an option given wins; else its default fills a missing key.
    let batch = a.max_partition_memory_bytes.or(a.batch_size);
    let merges: [(&str, Option<String>, &str); 10] = [
        ("linger.ms", a.timeout.map(|v| v.to_string()), "1000"),
        ("acks", a.request_required_acks, "-1"),
        (
            "request.timeout.ms",
            a.request_timeout_ms.map(|v| v.to_string()),
            "1500",
        ),
        (
            "retries",
            a.message_send_max_retries.map(|v| v.to_string()),
            "3",
        ),
        (
            "retry.backoff.ms",
            a.retry_backoff_ms.map(|v| v.to_string()),
            "100",
        ),
        (
            "send.buffer.bytes",
            a.socket_buffer_size.map(|v| v.to_string()),
            "102400",
        ),
        (
            "buffer.memory",
            a.max_memory_bytes.map(|v| v.to_string()),
            "33554432",
        ),
        ("batch.size", batch.map(|v| v.to_string()), "16384"),
        (
            "metadata.max.age.ms",
            a.metadata_expiry_ms.map(|v| v.to_string()),
            "300000",
        ),
        (
            "max.block.ms",
            a.max_block_ms.map(|v| v.to_string()),
            "60000",
        ),
    ];
    for (key, given, default) in merges {
        match given {
            Some(v) => {
                props.insert(key.into(), v);
            }
            None => {
                props.entry(key.into()).or_insert_with(|| default.into());
            }
        }
    }
    Ok(Options {
        topic: a.topic,
        sync: a.sync,
        verbose: a.verbose,
        format,
        headers_separator,
        props,
        notices,
    })
}

/// Sends every stdin line; returns how many records failed.
///
/// What was read is never dropped: a line that cannot be parsed, a closed pipe or SIGINT/SIGTERM
/// all close the producer (which delivers every record already accepted) before exiting, as
/// Java's console producer does from its shutdown hook. A record the producer refuses (too
/// large, say) is reported and the lines after it are still sent.
pub async fn run(args: ConsoleArgs) -> Result<usize> {
    let o = validate(args).map_err(|e| crate::UsageError(format!("{e:#}")))?;
    for n in &o.notices {
        errln!("{n}");
    }
    let config = ProducerConfig::from_map(o.props.clone())?;
    if config.transactional_id().is_some() {
        // Java's console producer has no transactions either: with a transactional.id every
        // send would be refused (no transaction is open), so say so up front.
        return Err(crate::UsageError(
            "transactional.id: the console producer does not run transactions; remove it              (kproducer perf --transactional-id measures transactional throughput)"
                .into(),
        )
        .into());
    }
    let producer: Producer<Vec<u8>, Vec<u8>> = Producer::new(config)?;
    // After the build: a key the producer refused is reported once, as the error.
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let on_signal = tokio::spawn(close_on_signal(
        crate::StopSignals::install(),
        producer.clone(),
        failed.clone(),
    ));
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

/// Reads stdin line by line (invalid UTF-8 is kept byte for byte in keys and values, shown with
/// replacement characters in messages) and sends each line.
async fn send_lines(
    o: &Options,
    producer: &Producer<Vec<u8>, Vec<u8>>,
    failed: &Arc<AtomicUsize>,
    first_error: &Arc<Mutex<Option<String>>>,
) -> Result<()> {
    let stdin = std::io::stdin();
    // Java prompts with '>' when it runs in a terminal (`System.console() != null`).
    let prompt = stdin.is_terminal() && std::io::stdout().is_terminal();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        if prompt {
            let mut out = std::io::stdout();
            let _ = out.write_all(b">");
            let _ = out.flush();
        }
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
        let parsed = parse_line(&o.format, &o.headers_separator, &buf, line_no)?;
        let mut record = ProducerRecord::empty(o.topic.clone());
        record.key = parsed.key;
        record.value = parsed.value;
        record.headers = parsed.headers;
        if o.sync {
            // Java's `send(record).get()`: a failure ends the run (exit 1).
            let md = match producer.send(record).await {
                Ok(delivery) => delivery.await,
                Err(e) => bail!("line {line_no} not sent: {e}"),
            };
            match md {
                Ok(md) if o.verbose => errln!("{}-{}@{}", md.topic, md.partition, md.offset),
                Ok(_) => {}
                Err(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    bail!("line {line_no} failed: {e}");
                }
            }
            continue;
        }
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
async fn close_on_signal(
    signals: crate::StopSignals,
    producer: Producer<Vec<u8>, Vec<u8>>,
    failed: Arc<AtomicUsize>,
) {
    let code = match signals.recv().await {
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

/// One parsed line.
#[derive(Debug, Default, PartialEq)]
struct Line {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Java's `LineMessageReader`: `[headers<delimiter>][key<separator>]value`.
fn parse_line(
    f: &LineFormat,
    headers_separator: &Regex,
    line: &[u8],
    line_no: usize,
) -> Result<Line> {
    let lossy = || String::from_utf8_lossy(line).into_owned();
    // Java's `parse`: the text before `demarcation` from `start`, or an error (None with
    // ignore.error) when it is missing.
    let part =
        |enabled: bool, start: usize, demarcation: &str, name: &str| -> Result<Option<usize>> {
            if !enabled {
                return Ok(None);
            }
            match find(line, demarcation.as_bytes(), start) {
                Some(i) => Ok(Some(i)),
                None if f.ignore_error => Ok(None),
                None => bail!("No {name} found on line number {line_no}: '{}'", lossy()),
            }
        };
    let is_null = |s: &[u8]| f.null_marker.as_deref().is_some_and(|m| m.as_bytes() == s);
    let field = |s: &[u8]| (!is_null(s)).then(|| s.to_vec());

    let headers_end = part(
        f.parse_headers,
        0,
        &f.headers_delimiter,
        "headers delimiter",
    )?;
    let key_start = headers_end.map_or(0, |i| i + f.headers_delimiter.len());
    let key_end = part(f.parse_key, key_start, &f.key_separator, "key separator")?;
    let value_start = key_end.map_or(key_start, |i| i + f.key_separator.len());

    let mut out = Line {
        key: key_end.and_then(|i| field(&line[key_start..i])),
        value: field(&line[value_start..]),
        headers: Vec::new(),
    };
    if let Some(end) = headers_end {
        let text = &line[..end];
        if !is_null(text) {
            for pair in java_split(headers_separator, text) {
                out.headers.push(header(f, pair, line_no)?);
            }
        }
    }
    Ok(out)
}

/// Java's `String.split(regex)`: the whole input when the pattern never matches, else the pieces
/// without trailing empty ones.
fn java_split<'a>(re: &Regex, text: &'a [u8]) -> Vec<&'a [u8]> {
    if !re.is_match(text) {
        return vec![text];
    }
    let mut pieces: Vec<&[u8]> = re.split(text).collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

fn header(f: &LineFormat, pair: &[u8], line_no: usize) -> Result<Header> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let Some(i) = find(pair, f.headers_key_separator.as_bytes(), 0) else {
        if f.ignore_error {
            return Ok(Header {
                key: text(pair),
                value: None,
            });
        }
        bail!(
            "No header key separator found in pair '{}' on line number {line_no}",
            text(pair)
        );
    };
    let key = text(&pair[..i]);
    if f.null_marker.as_deref() == Some(key.as_str()) {
        bail!("Header keys should not be equal to the null marker '{key}' as they can't be null");
    }
    let value = &pair[i + f.headers_key_separator.len()..];
    let is_null = f
        .null_marker
        .as_deref()
        .is_some_and(|m| m.as_bytes() == value);
    Ok(Header {
        key,
        value: (!is_null).then(|| bytes::Bytes::copy_from_slice(value)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ConsoleArgs,
    }

    fn parse(s: &[&str]) -> Result<Options> {
        let cli = Cli::try_parse_from(std::iter::once("console").chain(s.iter().copied()))?;
        validate(cli.args)
    }

    fn prop<'a>(o: &'a Options, k: &str) -> Option<&'a str> {
        o.props.get(k).map(String::as_str)
    }

    fn line(o: &Options, s: &[u8]) -> Result<Line> {
        parse_line(&o.format, &o.headers_separator, s, 1)
    }

    #[test]
    fn javas_defaults_are_merged_and_given_options_win() {
        let o = parse(&[
            "--bootstrap-server",
            "127.0.0.1:9092",
            "--topic",
            "t",
            "--command-property",
            "acks=1",
            "--command-property",
            "retries=7",
            "--timeout",
            "5",
            "--message-send-max-retries",
            "9",
        ])
        .unwrap();
        assert_eq!(prop(&o, "bootstrap.servers"), Some("127.0.0.1:9092"));
        // Given option > property > Java's default.
        assert_eq!(prop(&o, "linger.ms"), Some("5"));
        assert_eq!(prop(&o, "retries"), Some("9"));
        assert_eq!(prop(&o, "acks"), Some("1"));
        assert_eq!(prop(&o, "request.timeout.ms"), Some("1500"));
        assert_eq!(prop(&o, "batch.size"), Some("16384"));
        assert_eq!(prop(&o, "send.buffer.bytes"), Some("102400"));
        assert_eq!(prop(&o, "compression.type"), Some("none"));
        assert_eq!(prop(&o, "client.id"), Some("console-producer"));
        assert!(o.notices.is_empty(), "{:?}", o.notices);
        let cfg = ProducerConfig::from_map(o.props.clone()).unwrap();
        assert_eq!(cfg.acks(), kproducer::Acks::Leader);
        assert_eq!(cfg.linger(), Duration::from_millis(5));
    }

    #[test]
    fn flag_forms_and_deprecated_names() {
        let o = parse(&[
            "--bootstrap-server=h:1",
            "--topic=t",
            "--request-required-acks",
            "all",
            "--compression-codec",
            "--batch-size=100",
            "--max-partition-memory-bytes",
            "200",
            "--producer-property",
            "compression.type=lz4",
            "--property",
            "parse.key=true",
            "--sync",
        ])
        .unwrap();
        assert_eq!(prop(&o, "acks"), Some("all"));
        assert_eq!(prop(&o, "compression.type"), Some("gzip"), "no value: gzip");
        assert_eq!(
            prop(&o, "batch.size"),
            Some("200"),
            "Java: the deprecated one wins"
        );
        assert!(o.format.parse_key && o.sync);
        let all = o.notices.join("\n");
        for needle in [
            "--producer-property is deprecated",
            "--property is deprecated",
            "--max-partition-memory-bytes is deprecated",
            "compression.type=lz4 replaced by gzip",
        ] {
            assert!(all.contains(needle), "{needle}: {all}");
        }
        let o = parse(&["--topic", "t", "--compression-codec", "zstd"]).unwrap();
        assert_eq!(prop(&o, "compression.type"), Some("zstd"));
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(parse(&["--topic"]).is_err());
        assert!(
            parse(&["--bootstrap-server", "x:1"]).is_err(),
            "--topic is required"
        );
        assert!(parse(&["--topic", "t", "--reader-property", "nonsense"]).is_err());
        assert!(parse(&["--topic", "t", "--bogus"]).is_err());
        assert!(parse(&[
            "--topic",
            "t",
            "--command-property",
            "a=b",
            "--producer-property",
            "c=d"
        ])
        .is_err());
        let e = parse(&["--topic", "t", "--line-reader", "com.example.Reader"]).unwrap_err();
        assert!(e.to_string().contains("LineMessageReader"), "{e}");
        assert!(parse(&["--topic", "t", "--line-reader", LINE_READER]).is_ok());
        let o = parse(&["--topic", "t", "--reader-property", "parse.kye=true"]).unwrap();
        assert!(o.notices[0].contains("parse.kye"), "{:?}", o.notices);
        for (props, msg) in [
            (
                &["headers.delimiter=,"][..],
                "headers.delimiter and headers.separator",
            ),
            (
                &["headers.key.separator=,"][..],
                "headers.separator and headers.key.separator",
            ),
            (&["null.marker=\t"][..], "null.marker and key.separator"),
        ] {
            let mut args = vec!["--topic", "t"];
            for p in props {
                args.extend(["--reader-property", p]);
            }
            let e = parse(&args).unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
        let o = parse(&[
            "--topic",
            "t",
            "--command-property",
            "acks=2",
            "--bootstrap-server",
            "h:1",
        ])
        .unwrap();
        let e = ProducerConfig::from_map(o.props).unwrap_err().to_string();
        assert!(e.contains("acks"), "{e}");
    }

    #[test]
    fn lines_parse_as_javas_line_message_reader() {
        let o = parse(&[
            "--topic",
            "t",
            "--reader-property",
            "parse.key=true",
            "--reader-property",
            "parse.headers=true",
            "--reader-property",
            "null.marker=NULL",
        ])
        .unwrap();
        let l = line(&o, b"h1:v1,h2:NULL\tk1\tv:1").unwrap();
        assert_eq!(l.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(l.value.as_deref(), Some(&b"v:1"[..]));
        assert_eq!(l.headers.len(), 2);
        assert_eq!(
            (l.headers[0].key.as_str(), l.headers[0].value.as_deref()),
            ("h1", Some(&b"v1"[..]))
        );
        assert_eq!(
            (l.headers[1].key.as_str(), l.headers[1].value.as_deref()),
            ("h2", None)
        );
        let l = line(&o, b"NULL\tNULL\tNULL").unwrap();
        assert_eq!(
            l,
            Line::default(),
            "null marker everywhere: no headers, null key and value"
        );
        let l = line(&o, b"h:\xff\tk\t\xfe\xff").unwrap();
        assert_eq!(
            l.value.as_deref(),
            Some(&b"\xfe\xff"[..]),
            "bytes kept as read"
        );
        for (bad, msg) in [
            (
                &b"no-delimiter"[..],
                "No headers delimiter found on line number 1",
            ),
            (&b"h:v\tno-key-separator"[..], "No key separator found"),
            (
                &b"novalue\tk\tv"[..],
                "No header key separator found in pair 'novalue'",
            ),
            (
                &b"NULL:v\tk\tv"[..],
                "Header keys should not be equal to the null marker",
            ),
        ] {
            let e = line(&o, bad).unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }

        // ignore.error: what is missing is null, the rest is the value.
        let o = parse(&[
            "--topic",
            "t",
            "--reader-property",
            "parse.key=true",
            "--reader-property",
            "parse.headers=true",
            "--reader-property",
            "ignore.error=true",
        ])
        .unwrap();
        let l = line(&o, b"plain").unwrap();
        assert_eq!(
            (l.key, l.value.as_deref(), l.headers.len()),
            (None, Some(&b"plain"[..]), 0)
        );
        let l = line(&o, b"lonely\tk\tv").unwrap();
        assert_eq!(l.headers[0].key, "lonely");
        assert_eq!(l.headers[0].value, None);

        // Java's split: trailing empty pieces dropped; the separator is a regular expression.
        let re = Regex::new(",").unwrap();
        assert_eq!(java_split(&re, b"a,b,,"), [&b"a"[..], b"b"]);
        assert_eq!(java_split(&re, b""), [&b""[..]]);
        assert!(java_split(&re, b",").is_empty());
        let o = parse(&[
            "--topic",
            "t",
            "--reader-property",
            "parse.headers=true",
            "--reader-property",
            "headers.separator=[;|]",
        ])
        .unwrap();
        let l = line(&o, b"a:1;b:2|c:3\tv").unwrap();
        assert_eq!(l.headers.len(), 3);
    }
}
