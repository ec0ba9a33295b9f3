//! `kproducer`: the command-line tool, thin over the library.
//!
//! ```text
//! kproducer console --bootstrap-server HOST:PORT --topic TOPIC [options]   one record per stdin line
//! kproducer perf --topic TOPIC --num-records N --record-size B --throughput -1 --producer-props K=V...
//! ```

mod console;
mod perf;

use std::process::ExitCode;

const USAGE: &str = "\
usage: kproducer <command> [options]

commands:
  console   read records from stdin, one per line, and send them (like kafka-console-producer)
  perf      send N records and report throughput and latency (like kafka-producer-perf-test)

run `kproducer <command> --help` for a command's options";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("console") => console::main(&args[1..]),
        Some("perf") => perf::main(&args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("kproducer: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
