//! `kproducer`: the command-line tool, thin over the library.
//!
//! ```text
//! kproducer console --bootstrap-server HOST:PORT --topic TOPIC [options]   one record per stdin line
//! kproducer perf --topic TOPIC --num-records N --record-size B --throughput -1 --bootstrap-server HOST:PORT
//! kproducer mock [--brokers N] [--port P] [--partitions K]                  an in-process cluster
//! ```
//!
//! Arguments are parsed with clap; each tool takes Kafka 4.4's flags (`--flag value` and
//! `--flag=value`), `--help` and `--version`.

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

use clap::{CommandFactory, Parser, Subcommand};

/// The command line: one subcommand per tool.
#[derive(Debug, Parser)]
#[command(
    name = "kproducer",
    version,
    propagate_version = true,
    about = "A pure-Rust Apache Kafka producer: Kafka's console and perf tools, and an in-process cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Debug, Subcommand)]
enum Tool {
    Console(console::ConsoleArgs),
    Perf(perf::PerfArgs),
    Mock(mock::MockArgs),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Java's perf tool prints its help and exits 0 when given no arguments at all.
    if args.len() == 2 && args[1] == "perf" {
        let mut cmd = Cli::command();
        if let Some(perf) = cmd.find_subcommand_mut("perf") {
            outln!("{}", perf.render_help());
        }
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version on stdout with 0; usage errors on stderr with 2. Printing may
            // fail on a closed pipe: nothing to do then.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    install_logging(args.iter().any(|a| a == "--verbose"));
    match cli.command {
        Tool::Console(a) => run_command("console", a, console::run),
        Tool::Perf(a) => run_command("perf", a, perf::run),
        Tool::Mock(a) => run_command("mock", a, mock::run),
    }
}

/// SIGINT and SIGTERM handlers, installed when this is created: a signal that arrives before
/// anyone waits is kept, never the default action that kills the process (the mock prints its
/// address only after installing them, so a script that signals at once is served).
pub(crate) struct StopSignals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Installs the handlers (inside the tokio runtime). One that cannot be installed is never
    /// reported, as before.
    pub(crate) fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Resolves on SIGINT or SIGTERM, with the signal's name (never, where neither is installed).
    pub(crate) async fn recv(mut self) -> &'static str {
        #[cfg(unix)]
        {
            let int = async {
                match self.int.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match self.term.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = int => "SIGINT",
                _ = term => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// Installs the log subscriber: the library's lines on stderr at WARN (a misspelt `lnger.ms`, a
/// broker gone, retries, authentication failures must not pass unnoticed), INFO with `--verbose`
/// (the resolved configuration, connections re-established, leader moves), or what `RUST_LOG`
/// says.
fn install_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs a subcommand on a tokio runtime; any failed record (or error) exits non-zero with the
/// reason on stderr. A mistake in the options (checked after parsing, e.g. Java's own rules)
/// exits 2 like a parse error, with a pointer to `--help`.
fn run_command<A, N, Fut>(name: &str, args: A, run: impl FnOnce(A) -> Fut) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<N>>,
    N: PartialEq + Default + Display,
{
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
    match rt.block_on(run(args)) {
        Ok(failed) if failed == N::default() => ExitCode::SUCCESS,
        Ok(failed) => {
            errln!("kproducer {name}: {failed} record(s) failed");
            ExitCode::FAILURE
        }
        Err(e) if e.is::<UsageError>() => {
            errln!("kproducer {name}: {e}\n\nFor more information, try 'kproducer {name} --help'.");
            ExitCode::from(2)
        }
        Err(e) => {
            errln!("kproducer {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A mistake in a tool's options found after parsing (exit 2, as clap's own errors).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
