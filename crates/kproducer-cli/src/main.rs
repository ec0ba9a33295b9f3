//! `kproducer`: the command-line tool, thin over the library.
//!
//! ```text
//! kproducer console --bootstrap-server HOST:PORT --topic TOPIC [options]   one record per stdin line
//! kproducer perf --topic TOPIC --num-records N --record-size B --throughput -1 --producer-props K=V...
//! kproducer mock [--brokers N] [--port P] [--partitions K]                  an in-process cluster
//! ```

/// `println!` that never panics: a closed stdout (`kproducer perf ... | head -1`) must not kill
/// a callback on the producer's network thread.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that never panics (a closed stderr).
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod console;
mod mock;
mod perf;

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

const USAGE: &str = "\
usage: kproducer <command> [options]

commands:
  console   read records from stdin, one per line, and send them (like kafka-console-producer)
  perf      send N records and report throughput and latency (like kafka-producer-perf-test)
  mock      run an in-process Kafka cluster; prints its bootstrap address first

run `kproducer <command> --help` for a command's options";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("console") => console::main(&args[1..]),
        Some("perf") => perf::main(&args[1..]),
        Some("mock") => run_command("mock", mock::HELP, mock::parse(&args[1..]), mock::run),
        Some("-h") | Some("--help") | Some("help") => {
            outln!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            errln!("kproducer: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            errln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Resolves on SIGINT or SIGTERM, with the signal's name (never, where neither can be caught).
pub(crate) async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => "SIGINT",
            Err(_) => std::future::pending().await,
        },
        _ = term => "SIGTERM",
    }
}

/// Prints what the configuration accepted but ignores (unknown or unused keys, Java's notices) on
/// stderr: a misspelt `lnger.ms` must not pass unnoticed.
pub(crate) fn print_config_warnings(cfg: &kproducer::ProducerConfig) {
    for w in cfg.warnings() {
        errln!("WARN {w}");
    }
}

/// Runs a subcommand: parse errors exit 2 with the help, `--help` prints it, then `run` on a
/// tokio runtime; any failed record (or error) exits non-zero with the reason on stderr.
fn run_command<O, N, Fut>(
    name: &str,
    help: &str,
    parsed: anyhow::Result<Option<O>>,
    run: impl FnOnce(O) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<N>>,
    N: PartialEq + Default + Display,
{
    let opts = match parsed {
        Ok(Some(o)) => o,
        Ok(None) => {
            outln!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            errln!("kproducer {name}: {e}\n\n{help}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("kproducer {name}: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(opts)) {
        Ok(failed) if failed == N::default() => ExitCode::SUCCESS,
        Ok(failed) => {
            errln!("kproducer {name}: {failed} record(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            errln!("kproducer {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
