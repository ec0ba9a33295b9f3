//! Command-line plumbing shared by the bench binaries (`kproducer-bench` and `txn`): reading
//! options and their values, a subcommand's `--name VALUE` arguments, running a client
//! subprocess to its JSON result line, and writing the JSON report.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

/// Ends a binary's `main`: success, or the error printed as `program: error` (with its causes)
/// and a failure exit code.
pub fn exit_code(program: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The value of option `name`, the next argument of `it`; the error says `name needs a value`.
pub fn value<'a>(it: &mut std::slice::Iter<'a, String>, name: &str) -> Result<&'a str> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| anyhow!("{name} needs a value"))
}

/// A comma-separated list, each item trimmed.
pub fn list(v: &str) -> Vec<&str> {
    v.split(',').map(str::trim).collect()
}

/// The clients of the comma-separated list `v`, in `all`'s order (kproducer first, so the ratios
/// find it); an unknown one is an error naming them all.
pub fn select_clients(v: &str, all: &[&str]) -> Result<Vec<String>> {
    let asked = list(v);
    if let Some(bad) = asked.iter().find(|c| !all.contains(c)) {
        bail!("unknown client {bad:?} ({})", all.join(", "));
    }
    Ok(all
        .iter()
        .filter(|c| asked.contains(c))
        .map(|c| c.to_string())
        .collect())
}

/// The value after `name` among a subcommand's arguments (`--name VALUE`, in any order).
pub fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// [`arg`], required: the error says `command: name is required`.
pub fn required_arg<'a>(args: &'a [String], command: &str, name: &str) -> Result<&'a str> {
    arg(args, name).ok_or_else(|| anyhow!("{command}: {name} is required"))
}

/// Prints `value` as one JSON line: a client subprocess's result, read by [`last_json_line`].
pub fn print_json_line<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// `bench/<file>` in the workspace's target directory (`CARGO_TARGET_DIR` if set).
pub fn default_out(file: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            manifest
                .parent()
                .and_then(|p| p.parent())
                .map_or_else(|| PathBuf::from("target"), |root| root.join("target"))
        });
    target.join("bench").join(file)
}

/// Writes `report` to `out` as pretty JSON, creating its directory.
pub fn write_json<T: Serialize>(out: &Path, report: &T) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", out.display()))
}

/// [`write_json`], then says where: `results written to <out>`.
pub fn write_report<T: Serialize>(out: &Path, report: &T) -> Result<()> {
    write_json(out, report)?;
    println!("\nresults written to {}", out.display());
    Ok(())
}

/// Runs a client subprocess to its end (killed after `timeout`: "`who` did not `to` within …")
/// and returns the last line it printed that starts with `{` (its JSON result); a failure
/// carries its stderr. Both pipes are read while it runs, so a chatty child cannot block on a
/// full pipe.
pub fn last_json_line(mut cmd: Command, who: &str, timeout: Duration, to: &str) -> Result<String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning the {who} subprocess"))?;
    fn drain<R: Read + Send + 'static>(p: Option<R>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = p {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{who} did not {to} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        bail!("{who} failed ({status}): {stderr}");
    }
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{who} printed no result; stderr: {stderr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn clients_keep_the_canonical_order() {
        let all = ["kproducer", "librdkafka", "java"];
        assert_eq!(
            select_clients("java, kproducer", &all).unwrap(),
            ["kproducer", "java"]
        );
        assert!(select_clients("kafkajs", &all).is_err());
    }

    #[test]
    fn subcommand_arguments() {
        let args = strings(&["--topic", "t", "--records", "5"]);
        assert_eq!(arg(&args, "--records"), Some("5"));
        assert_eq!(arg(&args, "--rate"), None);
        let e = required_arg(&args, "client", "--rate").unwrap_err();
        assert_eq!(e.to_string(), "client: --rate is required");
        let mut it = args[..1].iter();
        it.next();
        assert_eq!(
            value(&mut it, "--topic").unwrap_err().to_string(),
            "--topic needs a value"
        );
    }

    #[test]
    fn the_last_json_line_counts() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo '{\"a\":1}'; echo '{\"a\":2}'; echo done; echo err >&2",
        ]);
        let line = last_json_line(cmd, "sh", Duration::from_secs(30), "finish").unwrap();
        assert_eq!(line, "{\"a\":2}");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo oops >&2; exit 3"]);
        let e = last_json_line(cmd, "sh", Duration::from_secs(30), "finish").unwrap_err();
        assert!(e.to_string().contains("oops"), "{e}");
    }
}
