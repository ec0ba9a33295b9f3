//! A private Tansu broker process per test.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tempfile::NamedTempFile;

use crate::metadata::wait_for_topic;
use crate::probe::api_versions_probe;
use crate::spawn::spawn_tied_to_process;

/// How long a fresh broker may take to answer ApiVersions (it usually needs ~0.1 s).
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on `tansu topic create` plus the metadata wait that follows it.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);
/// A port picked free can be taken by someone else before Tansu binds it: retry a few times.
const START_ATTEMPTS: usize = 3;

/// A Tansu broker (single node, in-memory storage) running as a child process.
///
/// Each test starts its own, so tests can run in parallel without sharing topics. The process
/// is killed when the `Broker` is dropped (also while a failing test unwinds), and on Linux
/// also when the test process itself dies, so no broker is left behind.
///
/// The `tansu` binary is looked up in `$TANSU_BIN`, then on `PATH`, then in
/// `$CARGO_HOME/bin` and `~/.cargo/bin`; `scripts/setup.sh` installs it.
///
/// ```no_run
/// let broker = kproducer_testkit::Broker::start()?;
/// broker.create_topic("orders", 3)?;
/// assert!(broker.bootstrap().starts_with("127.0.0.1:"));
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug)]
pub struct Broker {
    child: Child,
    port: u16,
    advertised: String,
    log: NamedTempFile,
}

impl Broker {
    /// Starts a broker on a free loopback port that advertises that same address.
    ///
    /// Returns once the broker answers an ApiVersions request (bounded by 10 s).
    pub fn start() -> anyhow::Result<Broker> {
        Self::start_inner(None)
    }

    /// Starts a broker on a free loopback port that advertises `advertised` ("host:port") in
    /// its metadata instead of its own address.
    ///
    /// Meant for a fault proxy in front of the broker: bind the proxy first, start the broker
    /// advertising the proxy's address, then point the proxy at [`Broker::bootstrap`]. Clients
    /// that bootstrap through the proxy then send every request through it.
    pub fn start_with_advertised(advertised: &str) -> anyhow::Result<Broker> {
        Self::start_inner(Some(advertised))
    }

    fn start_inner(advertised: Option<&str>) -> anyhow::Result<Broker> {
        let bin = tansu_path()?;
        let mut errors = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let adv = advertised
                .map(str::to_owned)
                .unwrap_or_else(|| format!("127.0.0.1:{port}"));
            match Self::spawn_at(&bin, port, adv) {
                Ok(broker) => return Ok(broker),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        bail!(
            "tansu did not start after {START_ATTEMPTS} attempts:\n{}",
            errors.join("\n---\n")
        )
    }

    fn spawn_at(bin: &Path, port: u16, advertised: String) -> anyhow::Result<Broker> {
        let log = tempfile::Builder::new()
            .prefix("tansu-")
            .suffix(".log")
            .tempfile()
            .context("creating the broker log file")?;
        let mut cmd = Command::new(bin);
        cmd.arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://{advertised}"))
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.reopen()?))
            .stderr(Stdio::from(log.reopen()?));
        let child =
            spawn_tied_to_process(cmd).with_context(|| format!("spawning {}", bin.display()))?;
        // From here on Drop kills the child, also on the error paths below.
        let mut broker = Broker {
            child,
            port,
            advertised,
            log,
        };
        broker.wait_ready(READY_TIMEOUT)?;
        Ok(broker)
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = self.bootstrap();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "tansu exited ({status}) before answering on {addr}; log tail:\n{}",
                    self.log_tail()
                );
            }
            let last = match api_versions_probe(&addr, Duration::from_millis(500)) {
                Ok(answer) if answer.error_code == 0 => return Ok(()),
                Ok(answer) => format!("ApiVersions error code {}", answer.error_code),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "tansu did not answer on {addr} within {timeout:?} (last: {last}); log tail:\n{}",
                    self.log_tail()
                );
            }
            // Readiness polling only; no test outcome depends on this delay.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address clients bootstrap from, `"127.0.0.1:PORT"` (the listener, not the advertised address).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `host:port` the broker advertises in metadata (equal to [`Broker::bootstrap`]
    /// unless started with [`Broker::start_with_advertised`]).
    pub fn advertised(&self) -> &str {
        &self.advertised
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the file holding the broker's stdout and stderr (deleted on drop).
    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// The last few KiB of the broker's log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(self.log.path(), 4096)
    }

    /// Creates `name` with `partitions` partitions (replication factor 1) and waits until
    /// metadata shows every partition with a leader.
    ///
    /// Uses `tansu topic create` against the listener. The metadata wait goes through
    /// librdkafka, which follows the advertised address: with [`Broker::start_with_advertised`]
    /// the proxy must already forward to the broker.
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let deadline = Instant::now() + TOPIC_TIMEOUT;
        let out = tempfile::NamedTempFile::new()?;
        let mut cmd = Command::new(tansu_path()?);
        cmd.args(["topic", "create", "--broker"])
            .arg(format!("tcp://{}", self.bootstrap()))
            .arg("--partitions")
            .arg(partitions.to_string())
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.reopen()?))
            .stderr(Stdio::from(out.reopen()?));
        let mut child = spawn_tied_to_process(cmd).context("spawning `tansu topic create`")?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "`tansu topic create {name}` did not finish within {TOPIC_TIMEOUT:?}; output:\n{}",
                    tail(out.path(), 4096)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            bail!(
                "`tansu topic create {name}` failed ({status}); output:\n{}\nbroker log tail:\n{}",
                tail(out.path(), 4096),
                self.log_tail()
            );
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        wait_for_topic(&self.bootstrap(), name, partitions, remaining)
            .map(|_| ())
            .with_context(|| format!("broker log tail:\n{}", self.log_tail()))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Kill, then reap so no zombie stays behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a probe listener")?;
    Ok(listener.local_addr()?.port())
}

fn tail(path: &Path, max: u64) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    read().unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

/// Finds the `tansu` binary, with an error that says how to install it.
fn tansu_path() -> anyhow::Result<PathBuf> {
    find_tansu(
        std::env::var_os("TANSU_BIN"),
        std::env::var_os("PATH"),
        std::env::var_os("CARGO_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
    .ok_or_else(|| {
        anyhow!(
            "the `tansu` broker binary was not found (looked at $TANSU_BIN, PATH, $CARGO_HOME/bin, \
             ~/.cargo/bin); run scripts/setup.sh to build and install Tansu 0.6"
        )
    })
}

fn find_tansu(
    tansu_bin: Option<OsString>,
    path: Option<OsString>,
    cargo_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    if let Some(explicit) = tansu_bin {
        let p = PathBuf::from(explicit);
        return p.is_file().then_some(p);
    }
    let on_path = path
        .iter()
        .flat_map(std::env::split_paths)
        .collect::<Vec<_>>();
    let cargo_dirs = cargo_home
        .map(|c| c.join("bin"))
        .into_iter()
        .chain(home.map(|h| h.join(".cargo").join("bin")));
    on_path
        .into_iter()
        .chain(cargo_dirs)
        .map(|dir| dir.join("tansu"))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_tansu_searches_path_then_cargo_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let cargo_home = dir.path().join("cargo");
        std::fs::create_dir_all(cargo_home.join("bin")).unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();

        // Not anywhere yet.
        let path = std::env::join_paths([&empty]).unwrap();
        assert_eq!(
            find_tansu(None, Some(path.clone()), Some(cargo_home.clone()), None),
            None
        );

        // Found in $CARGO_HOME/bin when PATH lacks it.
        let bin = cargo_home.join("bin").join("tansu");
        std::fs::write(&bin, b"").unwrap();
        assert_eq!(
            find_tansu(None, Some(path), Some(cargo_home.clone()), None),
            Some(bin.clone())
        );

        // Found in ~/.cargo/bin via HOME.
        let home = dir.path().join("home");
        assert_eq!(find_tansu(None, None, None, Some(home.clone())), None);
        std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
        std::fs::write(home.join(".cargo/bin/tansu"), b"").unwrap();
        assert_eq!(
            find_tansu(None, None, None, Some(home.clone())),
            Some(home.join(".cargo/bin/tansu"))
        );

        // $TANSU_BIN wins, and a missing explicit binary is not silently replaced.
        let other = dir.path().join("tansu-explicit");
        std::fs::write(&other, b"").unwrap();
        assert_eq!(
            find_tansu(
                Some(other.clone().into()),
                None,
                Some(cargo_home.clone()),
                None
            ),
            Some(other)
        );
        assert_eq!(
            find_tansu(
                Some(dir.path().join("missing").into()),
                None,
                Some(cargo_home),
                None
            ),
            None
        );
    }

    #[test]
    fn tail_keeps_only_the_end() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, b"0123456789").unwrap();
        assert_eq!(tail(f.path(), 4), "6789");
        assert_eq!(tail(f.path(), 100), "0123456789");
    }
}
