//! A real Apache Kafka 4.x cluster (KRaft, combined controller+broker nodes) run from the jars
//! that `scripts/setup.sh` fetches from Maven Central.
//!
//! Layout of the cache (`$KPRODUCER_KAFKA_HOME`, else `~/.cache/kproducer/kafka-<version>`):
//! `lib/*.jar` (the broker, `kafka-clients` and their dependencies, complete when
//! `lib/.complete` exists), `interop/` (the compiled Java interop helper, see
//! [`crate::java_produce`]) and `telemetry-recorder/<source hash>/` (the broker's client
//! telemetry recorder, see [`KafkaOptions::telemetry_recorder`]).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::features::{api_versions_features, FinalizedFeatures, TRANSACTION_VERSION};
use crate::metadata::wait_for_topic;
use crate::spawn::spawn_tied_to_process;
use crate::tls::TlsFiles;

/// The Maven project that pins the Kafka version; the single source of that version.
const POM: &str = include_str!("../kafka/pom.xml");

/// Bound on formatting storage plus starting every node until metadata lists all brokers.
/// A cold JVM start takes 5–15 s on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on one `StorageTool format` run.
const FORMAT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on topic creation plus the metadata wait that follows it.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on registered brokers reporting the finalized feature levels that were asked for.
const FEATURE_TIMEOUT: Duration = Duration::from_secs(15);
/// A port picked free can be taken before Kafka binds it: retry the whole start a few times.
const START_ATTEMPTS: usize = 2;

/// JVM options for every process: small heap, the serial collector (fewer threads and less
/// memory on 2 cores) and C1 only, which halves start-up time at a throughput cost tests
/// don't notice.
const JVM_OPTS: &[&str] = &[
    "-Xmx512m",
    "-Xms64m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
];

const LOG4J2: &str = "\
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.statechange.name=state.change.logger
logger.statechange.level=WARN
logger.request.name=kafka.request.logger
logger.request.level=WARN
";

/// The Kafka version `scripts/setup.sh` fetches (read from `crates/kproducer-testkit/kafka/pom.xml`).
///
/// ```
/// assert!(kproducer_testkit::kafka_version().starts_with('4'));
/// ```
pub fn kafka_version() -> &'static str {
    pom_version(POM).unwrap_or("unknown")
}

fn pom_version(pom: &str) -> Option<&str> {
    let start = pom.find("<kafka.version>")? + "<kafka.version>".len();
    let len = pom[start..].find("</kafka.version>")?;
    Some(pom[start..start + len].trim())
}

/// The environment variable that makes the Apache Kafka tier mandatory (`scripts/test.sh` and CI
/// set it): without it, tests that need Apache Kafka skip themselves when its jars are missing,
/// so that a plain `cargo test` with no set-up runs everything else.
pub const REQUIRE_BROKERS_ENV: &str = "KPRODUCER_REQUIRE_BROKERS";

/// Whether a test that needs Apache Kafka should skip itself: the jars `scripts/setup.sh` fetches
/// are missing and [`REQUIRE_BROKERS_ENV`] is not set. Prints why on stderr when it skips.
///
/// ```
/// if kproducer_testkit::skip_without_kafka("my_test") {
///     return;
/// }
/// // ... start a KafkaCluster ...
/// ```
pub fn skip_without_kafka(test: &str) -> bool {
    if std::env::var_os(REQUIRE_BROKERS_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        return false;
    }
    match kafka_lib() {
        Ok(_) => false,
        Err(e) => {
            eprintln!("SKIPPED {test}: {e:#} (set {REQUIRE_BROKERS_ENV}=1 to make this a failure)");
            true
        }
    }
}

/// The directory holding the fetched jars and the compiled interop helper.
pub(crate) fn kafka_home() -> anyhow::Result<PathBuf> {
    if let Some(explicit) = std::env::var_os("KPRODUCER_KAFKA_HOME") {
        return Ok(PathBuf::from(explicit));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or_else(|| anyhow!("neither KPRODUCER_KAFKA_HOME, XDG_CACHE_HOME nor HOME is set"))?;
    Ok(cache
        .join("kproducer")
        .join(format!("kafka-{}", kafka_version())))
}

/// `<home>/lib`, checked complete.
pub(crate) fn kafka_lib() -> anyhow::Result<PathBuf> {
    let lib = kafka_home()?.join("lib");
    if !lib.join(".complete").is_file() {
        bail!(
            "Apache Kafka {} jars not found in {} (no .complete marker): run scripts/setup.sh, \
             which fetches them with Maven",
            kafka_version(),
            lib.display()
        );
    }
    Ok(lib)
}

/// The `java` binary: `$JAVA_HOME/bin/java`, else `java` on `PATH`.
pub(crate) fn java_bin(tool: &str) -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin").join(tool))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(tool))
}

/// A `java` command that runs one of Apache Kafka's own command-line tools from the fetched
/// kafka-tools jars, e.g. `java_tool("org.apache.kafka.tools.ConsoleProducer")`, so a test can
/// run Java's tool and ours on the same input.
pub fn java_tool(main_class: &str) -> anyhow::Result<std::process::Command> {
    let tools = kafka_home()?.join("tools");
    if !tools.join(".complete").is_file() {
        bail!(
            "Apache Kafka's tools not found in {} (no .complete marker): run scripts/setup.sh",
            tools.display()
        );
    }
    let mut cmd = std::process::Command::new(java_bin("java"));
    cmd.arg("-cp").arg(lib_classpath(&tools)).arg(main_class);
    Ok(cmd)
}

/// A classpath of every jar in `lib` (Java expands the `*`).
pub(crate) fn lib_classpath(lib: &Path) -> String {
    format!("{}/*", lib.display())
}

/// One combined controller+broker node.
#[derive(Debug)]
struct Node {
    id: i32,
    port: u16,
    controller_port: u16,
    /// `(listener name, port)` of the secured listeners ([`SECURED_LISTENERS`] order); empty
    /// without [`KafkaOptions::security`].
    secured: Vec<(&'static str, u16)>,
    dir: PathBuf,
    /// `None` while killed. A lock so a shared cluster can be faulted from any thread.
    child: Mutex<Option<Child>>,
}

impl Node {
    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        // A panic while holding the lock leaves the child handle intact: keep using it.
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn running(&self) -> bool {
        self.child().is_some()
    }
    fn props_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("kafka.log")
    }
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// Where [`KafkaOptions::telemetry_recorder`] appends this broker's pushes (JSON lines).
    fn telemetry_path(&self) -> PathBuf {
        self.dir.join("telemetry.jsonl")
    }
}

/// An Apache Kafka 4.x cluster of `n` combined controller+broker nodes (KRaft) on loopback.
///
/// Node ids are `1..=n`; each node has a broker port (see [`KafkaCluster::bootstrap`]) and a
/// controller port. Settings are the ones tests want: `auto.create.topics.enable=false`,
/// replication factor `min(n, 3)` for internal topics and new topics by default,
/// `min.insync.replicas=2` when `n >= 3`, `group.initial.rebalance.delay.ms=0`, fast broker
/// fencing (`broker.session.timeout.ms=4000`) and small segments.
///
/// Every method takes `&self` (the cluster is `Sync`), so one cluster in a `static` can be
/// shared by the tests of a file and faulted ([`kill`](Self::kill), [`restart`](Self::restart),
/// [`pause`](Self::pause), [`resume`](Self::resume)) from any thread while a producer runs.
///
/// JVMs are killed when the cluster is dropped (also while a failing test unwinds) and, on
/// Linux, when the test process dies. Logs and data live in a temporary directory removed on
/// drop; directories left by killed test processes are removed by the next start.
///
/// Needs `scripts/setup.sh` to have fetched the jars, and Java 17+.
///
/// ```no_run
/// use kproducer_testkit::KafkaCluster;
/// let cluster = KafkaCluster::start(1)?;
/// cluster.create_topic("orders", 3, 1)?;
/// assert!(cluster.bootstrap().starts_with("127.0.0.1:"));
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug)]
pub struct KafkaCluster {
    nodes: Vec<Node>,
    cluster_id: String,
    lib: PathBuf,
    startup: Duration,
    /// With [`KafkaOptions::security`]: the generated certificates and stores.
    tls: Option<TlsFiles>,
    /// With [`KafkaOptions::telemetry_recorder`]: the compiled recorder's classes directory,
    /// put on every JVM's classpath after the Kafka jars.
    recorder_classes: Option<PathBuf>,
    // Last: removed after the JVMs are killed.
    dir: PathBuf,
}

/// Extra options for [`KafkaCluster::start_with`].
#[derive(Debug, Clone, Default)]
pub struct KafkaOptions {
    /// Extra `server.properties` entries, applied after the defaults (they win).
    pub properties: Vec<(String, String)>,
    /// Adds the secured listeners of [`SECURED_LISTENERS`] to every broker (see
    /// [`KafkaCluster::bootstrap_for`]), generates their certificates
    /// ([`KafkaCluster::tls_files`]) and the SASL users of [`crate::sasl`]. `PLAINTEXT` (used
    /// between brokers and by the harness itself) and the controller listener stay as they are.
    pub security: bool,
    /// `connections.max.reauth.ms` (KIP-368): the longest SASL session the brokers grant
    /// before a client must re-authenticate. `None`: Kafka's default (0, no limit). For
    /// OAUTHBEARER the token's own expiry bounds the session too (Java's unsecured tokens
    /// live an hour unless `unsecuredLoginLifetimeSeconds` says otherwise).
    pub reauth_ms: Option<u64>,
    /// Advertise a secured listener at another address (`(listener, host:port)`), e.g. a
    /// [`FaultProxy`](crate::FaultProxy) in front of it, so clients keep going through the proxy
    /// after the bootstrap. Single-broker clusters only (every broker would advertise it).
    pub advertise: Vec<(String, String)>,
    /// Finalize the `transaction.version` feature at this level when the storage is formatted
    /// (`kafka-storage format --feature transaction.version=N`): `0` or `1` is the classic
    /// transaction protocol, `2` is KIP-890 part 2 (`None`: Kafka 4.4's default, 2). The start
    /// fails unless every broker's ApiVersions answer then reports this level
    /// ([`crate::api_versions_features`]). To change it on a running cluster use
    /// [`crate::java_set_features`].
    pub transaction_version: Option<i16>,
    /// Installs the KIP-714 client telemetry recorder on every broker (`metric.reporters`, a
    /// `MetricsReporter` that is also Kafka's client telemetry exporter plug-in; see
    /// `crates/kproducer-testkit/kafka/TelemetryRecorder.java`). Brokers then answer
    /// GetTelemetrySubscriptions with the client-metrics subscriptions
    /// ([`KafkaCluster::set_client_metrics`]) and record every accepted PushTelemetry payload,
    /// read back with [`KafkaCluster::telemetry_pushes`]. Without a plug-in like this one a
    /// broker gives clients no subscription, so they push nothing. A `metric.reporters` entry
    /// in [`properties`](Self::properties) replaces the recorder (list it there too to keep it:
    /// `kproducer.testkit.TelemetryRecorder`).
    pub telemetry_recorder: bool,
}

/// SASL users every secured cluster knows ([`KafkaOptions::security`]). No authorizer is
/// configured, so every authenticated user may do anything.
pub mod sasl {
    /// Mechanisms enabled on `SASL_PLAINTEXT` and `SASL_SSL`.
    pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];
    /// The user known to PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
    pub const USER: &str = "alice";
    /// [`USER`]'s password.
    pub const PASSWORD: &str = "alice-secret";
    /// A second user known to PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
    pub const ADMIN_USER: &str = "admin";
    /// [`ADMIN_USER`]'s password.
    pub const ADMIN_PASSWORD: &str = "admin-secret";

    /// A client's `sasl.jaas.config` for `PLAIN` or a `SCRAM-*` mechanism, as Java writes it.
    pub fn jaas(mechanism: &str, user: &str, password: &str) -> String {
        let module = if mechanism == "PLAIN" {
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        } else {
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        };
        format!("{module} required username=\"{user}\" password=\"{password}\";")
    }
}

/// The listeners [`KafkaOptions::security`] adds to every broker, besides `PLAINTEXT`, by the
/// name [`KafkaCluster::bootstrap_for`] takes:
///
/// | name | protocol | what it serves |
/// |---|---|---|
/// | `SSL` | SSL | [`TlsFiles::server_pem`], no client authentication |
/// | `MTLS` | SSL | [`TlsFiles::server_pem`], `ssl.client.auth=required`, trusting [`TlsFiles::ca_pem`] |
/// | `EXPIRED` | SSL | [`TlsFiles::expired_pem`] (expired on 2021-01-01) |
/// | `WRONGHOST` | SSL | [`TlsFiles::wrong_host_pem`] (names only `wrong-host.example`) |
/// | `SASL_PLAINTEXT` | SASL_PLAINTEXT | mechanisms [`sasl::MECHANISMS`] |
/// | `SASL_SSL` | SASL_SSL | [`TlsFiles::server_pem`], mechanisms [`sasl::MECHANISMS`] |
///
/// SASL users: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 know `alice`/`alice-secret` and
/// `admin`/`admin-secret` ([`sasl`]; SCRAM credentials are written at storage format time,
/// KIP-900). OAUTHBEARER uses Kafka's unsecured validator: any unsigned JWT is accepted (e.g.
/// Java's `OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";`).
pub const SECURED_LISTENERS: &[&str] = &[
    "SSL",
    "MTLS",
    "EXPIRED",
    "WRONGHOST",
    "SASL_PLAINTEXT",
    "SASL_SSL",
];

impl KafkaCluster {
    /// Starts `n` nodes (1 or 3 are the tested sizes) and returns once metadata lists `n`
    /// brokers (bounded by 2 minutes; the error carries each node's log tail).
    pub fn start(n: usize) -> anyhow::Result<KafkaCluster> {
        Self::start_with(n, &KafkaOptions::default())
    }

    /// [`KafkaCluster::start`] with extra broker properties, e.g.
    /// `auto.create.topics.enable=true`.
    pub fn start_with(n: usize, options: &KafkaOptions) -> anyhow::Result<KafkaCluster> {
        if n == 0 {
            bail!("a Kafka cluster needs at least one node");
        }
        let lib = kafka_lib()?;
        let mut errors = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(n, options, &lib) {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        bail!(
            "Apache Kafka ({n} nodes) did not start after {START_ATTEMPTS} attempts:\n{}",
            errors.join("\n---\n")
        )
    }

    fn try_start(n: usize, options: &KafkaOptions, lib: &Path) -> anyhow::Result<KafkaCluster> {
        let started = Instant::now();
        let deadline = started + START_TIMEOUT;
        let dir = make_cluster_dir()?;
        let secured: &[&'static str] = if options.security {
            SECURED_LISTENERS
        } else {
            &[]
        };
        // Hold every listener at once so all the ports are distinct.
        let per_node = 2 + secured.len();
        let ports = free_ports(per_node * n)?;
        let nodes: Vec<Node> = (0..n)
            .map(|i| {
                let ports = &ports[per_node * i..per_node * (i + 1)];
                Node {
                    id: i as i32 + 1,
                    port: ports[0],
                    controller_port: ports[1],
                    secured: secured
                        .iter()
                        .copied()
                        .zip(ports[2..].iter().copied())
                        .collect(),
                    dir: dir.join(format!("node-{}", i + 1)),
                    child: Mutex::new(None),
                }
            })
            .collect();
        let tls = if options.security {
            Some(crate::tls::generate(&dir.join("tls")).context("generating TLS material")?)
        } else {
            None
        };
        let recorder_classes = if options.telemetry_recorder {
            Some(crate::telemetry::recorder_classes()?)
        } else {
            None
        };
        let mut cluster = KafkaCluster {
            nodes,
            cluster_id: random_cluster_id(),
            lib: lib.to_path_buf(),
            startup: Duration::ZERO,
            tls,
            recorder_classes,
            dir,
        };
        fs::write(cluster.dir.join("log4j2.properties"), LOG4J2)?;
        let voters = cluster
            .nodes
            .iter()
            .map(|nd| format!("{}@127.0.0.1:{}", nd.id, nd.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        for node in &cluster.nodes {
            fs::create_dir_all(&node.dir)?;
            let props = server_properties(node, n, &voters, options, cluster.tls.as_ref());
            fs::write(node.props_path(), props)?;
        }
        cluster.format_all(options)?;
        for i in 0..cluster.nodes.len() {
            cluster.spawn_node(i)?;
        }
        cluster.wait_registered(n, deadline)?;
        if let Some(level) = options.transaction_version {
            // Registered brokers have read the metadata log: a wrong level will not change.
            let feature_deadline = deadline.min(Instant::now() + FEATURE_TIMEOUT);
            cluster.wait_feature_level(TRANSACTION_VERSION, level, feature_deadline)?;
        }
        cluster.startup = started.elapsed();
        Ok(cluster)
    }

    /// Formats every node's storage with `kafka.tools.StorageTool` (in parallel: one JVM each),
    /// with the SCRAM users of [`sasl`] when [`KafkaOptions::security`] (KIP-900
    /// `--add-scram`) and the feature levels of `options` (`--feature name=level`).
    fn format_all(&self, options: &KafkaOptions) -> anyhow::Result<()> {
        let mut running = Vec::new();
        for node in &self.nodes {
            let out = node.dir.join("format.log");
            let mut cmd = self.java_cmd(&out)?;
            cmd.arg("kafka.tools.StorageTool")
                .arg("format")
                .arg("-t")
                .arg(&self.cluster_id)
                .arg("-c")
                .arg(node.props_path());
            for (feature, level) in format_features(options) {
                cmd.arg("--feature").arg(format!("{feature}={level}"));
            }
            if options.security {
                for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
                    for (user, password) in [
                        (sasl::USER, sasl::PASSWORD),
                        (sasl::ADMIN_USER, sasl::ADMIN_PASSWORD),
                    ] {
                        cmd.arg("--add-scram")
                            .arg(format!("{mechanism}=[name={user},password={password}]"));
                    }
                }
            }
            let child = spawn_tied_to_process(cmd).context("spawning java (StorageTool)")?;
            running.push((node.id, child, out));
        }
        let deadline = Instant::now() + FORMAT_TIMEOUT;
        for (id, mut child, out) in running {
            match wait_until(&mut child, deadline)? {
                Some(status) if status.success() => {}
                Some(status) => bail!(
                    "StorageTool format of node {id} failed ({status}):\n{}",
                    tail(&out, 2000)
                ),
                None => bail!(
                    "StorageTool format of node {id} did not finish within {FORMAT_TIMEOUT:?}:\n{}",
                    tail(&out, 4096)
                ),
            }
        }
        Ok(())
    }

    fn java_cmd(&self, out: &Path) -> anyhow::Result<Command> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(out)
            .with_context(|| format!("opening {}", out.display()))?;
        let mut classpath = lib_classpath(&self.lib);
        if let Some(classes) = &self.recorder_classes {
            let _ = write!(classpath, ":{}", classes.display());
        }
        let mut cmd = Command::new(java_bin("java"));
        cmd.args(JVM_OPTS)
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(classpath)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        Ok(cmd)
    }

    fn spawn_node(&self, index: usize) -> anyhow::Result<()> {
        let node = &self.nodes[index];
        let mut cmd = self.java_cmd(&node.log_path())?;
        cmd.arg("kafka.Kafka").arg(node.props_path());
        let child = spawn_tied_to_process(cmd)
            .with_context(|| format!("spawning java (kafka.Kafka) for node {}", node.id))?;
        *node.child() = Some(child);
        Ok(())
    }

    /// Waits until metadata (through librdkafka) lists `want` brokers, failing early if a
    /// node's JVM exits.
    fn wait_registered(&self, want: usize, deadline: Instant) -> anyhow::Result<()> {
        let mut consumer: Option<BaseConsumer> = None;
        let mut last = String::from("no answer yet");
        loop {
            for node in &self.nodes {
                let mut slot = node.child();
                if let Some(child) = slot.as_mut() {
                    if let Some(status) = child.try_wait()? {
                        let id = node.id;
                        *slot = None;
                        drop(slot);
                        bail!(
                            "Kafka node {id} exited ({status}) during start-up; log tail:\n{}",
                            tail(&node.log_path(), 6000)
                        );
                    }
                }
            }
            // librdkafka only once a port answers, to keep its connection-refused noise down.
            let any_up = self.nodes.iter().any(|nd| {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], nd.port)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if any_up {
                if consumer.is_none() {
                    consumer = Some(
                        ClientConfig::new()
                            .set("bootstrap.servers", self.bootstrap())
                            .set("log_level", "3")
                            .create()
                            .context("creating a librdkafka metadata client")?,
                    );
                }
                if let Some(c) = &consumer {
                    match c.fetch_metadata(None, Duration::from_secs(2)) {
                        Ok(md) if md.brokers().len() >= want => return Ok(()),
                        Ok(md) => {
                            last = format!(
                                "metadata lists brokers {:?}",
                                md.brokers().iter().map(|b| b.id()).collect::<Vec<_>>()
                            )
                        }
                        Err(e) => last = format!("metadata request failed: {e}"),
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "Kafka cluster did not list {want} brokers in time (last: {last}); {}",
                    self.all_log_tails()
                );
            }
            // Readiness polling only; bounded by the deadline.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every running broker's ApiVersions answer finalizes `feature` at `level`
    /// (they learn it from the metadata log, normally before they register). Fails at
    /// `deadline` with what they report instead.
    fn wait_feature_level(
        &self,
        feature: &str,
        level: i16,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        loop {
            let mut wrong = Vec::new();
            for node in self.nodes.iter().filter(|n| n.running()) {
                let addr = format!("127.0.0.1:{}", node.port);
                match api_versions_features(&addr, Duration::from_secs(5)) {
                    Ok(f) if f.level(feature) == level => {}
                    Ok(f) => wrong.push(format!(
                        "node {}: {feature}={} (epoch {}; all: {:?})",
                        node.id,
                        f.level(feature),
                        f.epoch,
                        f.levels
                    )),
                    Err(e) => wrong.push(format!("node {}: {e:#}", node.id)),
                }
            }
            if wrong.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the brokers do not report {feature}={level} in ApiVersions: {}",
                    wrong.join("; ")
                );
            }
            // Polling the brokers' metadata; bounded by the deadline.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The finalized feature levels (e.g. [`TRANSACTION_VERSION`]) that the first running
    /// broker reports in its ApiVersions answer; see [`api_versions_features`].
    ///
    /// ```no_run
    /// use kproducer_testkit::{KafkaCluster, KafkaOptions, TRANSACTION_VERSION};
    /// let options = KafkaOptions { transaction_version: Some(1), ..KafkaOptions::default() };
    /// let cluster = KafkaCluster::start_with(1, &options)?;
    /// assert_eq!(cluster.finalized_features()?.level(TRANSACTION_VERSION), 1);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn finalized_features(&self) -> anyhow::Result<FinalizedFeatures> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.running())
            .ok_or_else(|| anyhow!("no broker is running"))?;
        api_versions_features(&format!("127.0.0.1:{}", node.port), Duration::from_secs(10))
    }

    /// Comma-separated broker listener addresses of every node (including stopped ones).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Comma-separated addresses (`127.0.0.1:port`) of `listener` on every node: `"PLAINTEXT"`
    /// (the same as [`bootstrap`](Self::bootstrap)) or, on a cluster started with
    /// [`KafkaOptions::security`], one of [`SECURED_LISTENERS`] (`"SSL"`, `"MTLS"`,
    /// `"EXPIRED"`, `"WRONGHOST"`, `"SASL_PLAINTEXT"`, `"SASL_SSL"`; case-insensitive).
    /// Each broker advertises the same listener in metadata, at `127.0.0.1`.
    ///
    /// # Panics
    ///
    /// On any other name, or a secured listener of a cluster started without `security`.
    ///
    /// ```no_run
    /// use kproducer_testkit::{KafkaCluster, KafkaOptions};
    /// let options = KafkaOptions { security: true, ..KafkaOptions::default() };
    /// let cluster = KafkaCluster::start_with(1, &options)?;
    /// let sasl_ssl = cluster.bootstrap_for("SASL_SSL");
    /// let ca = &cluster.tls_files().ca_pem;
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn bootstrap_for(&self, listener: &str) -> String {
        if listener.eq_ignore_ascii_case("PLAINTEXT") {
            return self.bootstrap();
        }
        self.nodes
            .iter()
            .map(|n| {
                let port = n
                    .secured
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(listener))
                    .map(|(_, port)| *port)
                    .unwrap_or_else(|| {
                        panic!(
                            "no listener {listener:?} on this cluster: it has PLAINTEXT{}{}",
                            if n.secured.is_empty() {
                                " only (start it with KafkaOptions { security: true, .. } \
                                 for the secured ones)"
                            } else {
                                ", "
                            },
                            n.secured
                                .iter()
                                .map(|(name, _)| *name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                format!("127.0.0.1:{port}")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The certificates and stores the secured listeners use, generated at start; see
    /// [`TlsFiles`] for each file.
    ///
    /// # Panics
    ///
    /// When the cluster was started without [`KafkaOptions::security`].
    pub fn tls_files(&self) -> &TlsFiles {
        self.tls.as_ref().unwrap_or_else(|| {
            panic!(
                "this cluster has no TLS files: start it with KafkaOptions {{ security: true, .. }}"
            )
        })
    }

    /// The node ids, `1..=n`.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The cluster id the storage was formatted with.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// How long [`KafkaCluster::start`] took: format, JVM start, until all brokers registered.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Resident memory of every running node's JVM, in bytes (from `/proc`; 0 elsewhere).
    pub fn rss_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.child().as_ref().map(Child::id))
            .map(rss_of)
            .sum()
    }

    /// The process id of `broker_id`'s JVM, if running.
    pub fn pid(&self, broker_id: i32) -> Option<u32> {
        self.node(broker_id)
            .ok()
            .and_then(|n| n.child().as_ref().map(Child::id))
    }

    /// The last few KiB of `broker_id`'s log.
    pub fn log_tail(&self, broker_id: i32) -> String {
        match self.node(broker_id) {
            Ok(n) => tail(&n.log_path(), 6000),
            Err(e) => e.to_string(),
        }
    }

    fn all_log_tails(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let _ = write!(
                s,
                "\n== node {} log tail ==\n{}",
                n.id,
                tail(&n.log_path(), 3000)
            );
        }
        s
    }

    /// `(broker id, record file)` of every node's telemetry recorder, or an error when the
    /// cluster was started without [`KafkaOptions::telemetry_recorder`].
    pub(crate) fn telemetry_files(&self) -> anyhow::Result<Vec<(i32, PathBuf)>> {
        if self.recorder_classes.is_none() {
            bail!(
                "this cluster records no client telemetry: start it with \
                 KafkaOptions {{ telemetry_recorder: true, .. }}"
            );
        }
        Ok(self
            .nodes
            .iter()
            .map(|n| (n.id, n.telemetry_path()))
            .collect())
    }

    fn node(&self, broker_id: i32) -> anyhow::Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.id == broker_id)
            .ok_or_else(|| anyhow!("no broker {broker_id} (ids are {:?})", self.broker_ids()))
    }

    fn index(&self, broker_id: i32) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.id == broker_id)
            .ok_or_else(|| anyhow!("no broker {broker_id} (ids are {:?})", self.broker_ids()))
    }

    /// Creates `name` with `partitions` partitions and replication factor `rf` through
    /// librdkafka's AdminClient, then waits until metadata shows every partition with a leader.
    ///
    /// Safe to call from inside a tokio runtime (the admin future runs on its own thread).
    pub fn create_topic(&self, name: &str, partitions: i32, rf: i32) -> anyhow::Result<()> {
        let deadline = Instant::now() + TOPIC_TIMEOUT;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .context("creating the librdkafka AdminClient")?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
        let opts = AdminOptions::new().operation_timeout(Some(TOPIC_TIMEOUT));
        let fut = admin.create_topics([&topic], &opts);
        // A private current-thread runtime on its own thread: the caller may be inside tokio.
        let results = std::thread::scope(|s| {
            s.spawn(|| -> anyhow::Result<_> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async { tokio::time::timeout(TOPIC_TIMEOUT, fut).await })
                    .map_err(|_| anyhow!("CreateTopics for {name:?} timed out"))?
                    .map_err(anyhow::Error::from)
            })
            .join()
            .map_err(|_| anyhow!("the CreateTopics thread panicked"))?
        })?;
        for r in results {
            if let Err((t, code)) = r {
                bail!("creating topic {t:?} (partitions {partitions}, rf {rf}) failed: {code}");
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        wait_for_topic(&self.bootstrap(), name, partitions, remaining)
            .map(|_| ())
            .with_context(|| self.all_log_tails())
    }

    /// Kills `broker_id`'s JVM with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill(&self, broker_id: i32) -> anyhow::Result<()> {
        let mut child = self
            .node(broker_id)?
            .child()
            .take()
            .ok_or_else(|| anyhow!("broker {broker_id} is not running"))?;
        child.kill().context("killing the broker JVM")?;
        child.wait()?;
        Ok(())
    }

    /// Starts a killed `broker_id` again (same ports, same data) and waits until metadata lists
    /// every broker again.
    pub fn restart(&self, broker_id: i32) -> anyhow::Result<()> {
        let i = self.index(broker_id)?;
        if self.nodes[i].running() {
            bail!("broker {broker_id} is still running: kill it first");
        }
        self.spawn_node(i)?;
        let running = self.nodes.iter().filter(|n| n.running()).count();
        self.wait_registered(running, Instant::now() + START_TIMEOUT)
    }

    /// Freezes `broker_id`'s JVM with SIGSTOP: its sockets stay open but nothing answers.
    pub fn pause(&self, broker_id: i32) -> anyhow::Result<()> {
        self.signal(broker_id, libc::SIGSTOP)
    }

    /// Lets a paused `broker_id` run again (SIGCONT).
    pub fn resume(&self, broker_id: i32) -> anyhow::Result<()> {
        self.signal(broker_id, libc::SIGCONT)
    }

    fn signal(&self, broker_id: i32, sig: libc::c_int) -> anyhow::Result<()> {
        let pid = self
            .pid(broker_id)
            .ok_or_else(|| anyhow!("broker {broker_id} is not running"))?;
        let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
        // SAFETY: kill(2) with a pid of our own child; no memory is involved.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("signal {sig} to broker {broker_id}"));
        }
        Ok(())
    }

    /// Waits until metadata lists every running broker (e.g. after [`KafkaCluster::resume`]).
    pub fn wait_all_registered(&self, timeout: Duration) -> anyhow::Result<()> {
        let running = self.nodes.iter().filter(|n| n.running()).count();
        self.wait_registered(running, Instant::now() + timeout)
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            if let Some(mut child) = node.child().take() {
                // SIGKILL also ends a stopped (paused) process.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn server_properties(
    node: &Node,
    n: usize,
    voters: &str,
    options: &KafkaOptions,
    tls: Option<&TlsFiles>,
) -> String {
    let rf = n.min(3);
    let mut listeners = format!(
        "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
        node.port, node.controller_port
    );
    let mut advertised = format!("PLAINTEXT://127.0.0.1:{}", node.port);
    let mut protocols = String::from("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    for (name, port) in &node.secured {
        let _ = write!(listeners, ",{name}://127.0.0.1:{port}");
        match options.advertise.iter().find(|(l, _)| l == name) {
            Some((_, addr)) => {
                let _ = write!(advertised, ",{name}://{addr}");
            }
            None => {
                let _ = write!(advertised, ",{name}://127.0.0.1:{port}");
            }
        }
        let _ = write!(protocols, ",{name}:{}", security_protocol(name));
    }
    let min_isr = if n >= 3 { 2 } else { 1 };
    let mut props: Vec<(String, String)> = [
        ("process.roles", "broker,controller".to_owned()),
        ("node.id", node.id.to_string()),
        ("listeners", listeners),
        ("advertised.listeners", advertised),
        ("controller.listener.names", "CONTROLLER".to_owned()),
        ("inter.broker.listener.name", "PLAINTEXT".to_owned()),
        ("listener.security.protocol.map", protocols),
        ("controller.quorum.voters", voters.to_owned()),
        ("log.dirs", node.data_dir().display().to_string()),
        ("auto.create.topics.enable", "false".to_owned()),
        ("num.partitions", "1".to_owned()),
        ("default.replication.factor", rf.to_string()),
        ("min.insync.replicas", min_isr.to_string()),
        ("offsets.topic.replication.factor", rf.to_string()),
        ("offsets.topic.num.partitions", "3".to_owned()),
        ("transaction.state.log.replication.factor", rf.to_string()),
        ("transaction.state.log.min.isr", min_isr.to_string()),
        ("transaction.state.log.num.partitions", "3".to_owned()),
        // A transaction past its transaction.timeout.ms is aborted within a second (default:
        // checked every 10 s), so tests of hung producers need not wait long.
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "1000".to_owned(),
        ),
        (
            "share.coordinator.state.topic.replication.factor",
            rf.to_string(),
        ),
        ("share.coordinator.state.topic.min.isr", min_isr.to_string()),
        ("group.initial.rebalance.delay.ms", "0".to_owned()),
        // Fence a dead or frozen broker quickly so leadership moves within seconds.
        ("broker.session.timeout.ms", "4000".to_owned()),
        ("broker.heartbeat.interval.ms", "1000".to_owned()),
        ("replica.lag.time.max.ms", "5000".to_owned()),
        // Small and few of everything: tests, not throughput.
        ("log.segment.bytes", "16777216".to_owned()),
        ("log.retention.hours", "1".to_owned()),
        ("num.network.threads", "2".to_owned()),
        ("num.io.threads", "2".to_owned()),
        ("background.threads", "2".to_owned()),
        ("num.recovery.threads.per.data.dir", "1".to_owned()),
        ("log.cleaner.threads", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(tls) = tls {
        props.extend(security_properties(tls));
    }
    if let Some(ms) = options.reauth_ms {
        props.push(("connections.max.reauth.ms".to_owned(), ms.to_string()));
    }
    if options.telemetry_recorder {
        props.push((
            "metric.reporters".to_owned(),
            crate::telemetry::RECORDER_CLASS.to_owned(),
        ));
        props.push((
            crate::telemetry::RECORDER_FILE_CONFIG.to_owned(),
            node.telemetry_path().display().to_string(),
        ));
    }
    for (k, v) in &options.properties {
        props.retain(|(pk, _)| pk != k);
        props.push((k.clone(), v.clone()));
    }
    let mut out = String::from("# Written by kproducer-testkit (KafkaCluster)\n");
    for (k, v) in props {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// The `(feature, level)` pairs `StorageTool format` finalizes besides the release defaults.
fn format_features(options: &KafkaOptions) -> Vec<(&'static str, i16)> {
    options
        .transaction_version
        .map(|level| (TRANSACTION_VERSION, level))
        .into_iter()
        .collect()
}

/// The security protocol of a listener of [`SECURED_LISTENERS`].
fn security_protocol(listener: &str) -> &'static str {
    match listener {
        "SASL_PLAINTEXT" => "SASL_PLAINTEXT",
        "SASL_SSL" => "SASL_SSL",
        _ => "SSL",
    }
}

/// The per-listener (`listener.name.<name>.`) TLS and SASL settings of [`SECURED_LISTENERS`].
fn security_properties(tls: &TlsFiles) -> Vec<(String, String)> {
    let mut props = Vec::new();
    let mut set = |k: String, v: String| props.push((k, v));
    let path = |p: &Path| p.display().to_string();
    for (listener, keystore) in [
        ("ssl", &tls.server_pem),
        ("mtls", &tls.server_pem),
        ("expired", &tls.expired_pem),
        ("wronghost", &tls.wrong_host_pem),
        ("sasl_ssl", &tls.server_pem),
    ] {
        // Key (unencrypted PKCS#8, so no ssl.key.password) and chain in one PEM file.
        set(
            format!("listener.name.{listener}.ssl.keystore.type"),
            "PEM".into(),
        );
        set(
            format!("listener.name.{listener}.ssl.keystore.location"),
            path(keystore),
        );
    }
    set(
        "listener.name.mtls.ssl.truststore.type".into(),
        "PEM".into(),
    );
    set(
        "listener.name.mtls.ssl.truststore.location".into(),
        path(&tls.ca_pem),
    );
    set(
        "listener.name.mtls.ssl.client.auth".into(),
        "required".into(),
    );

    set("sasl.enabled.mechanisms".into(), sasl::MECHANISMS.join(","));
    let plain = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required \
         username=\"{admin}\" password=\"{admin_pw}\" user_{admin}=\"{admin_pw}\" \
         user_{user}=\"{user_pw}\";",
        admin = sasl::ADMIN_USER,
        admin_pw = sasl::ADMIN_PASSWORD,
        user = sasl::USER,
        user_pw = sasl::PASSWORD,
    );
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
    // Kafka's default OAUTHBEARER server callback is the unsecured validator (unsigned JWTs).
    let oauth = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 unsecuredLoginStringClaim_sub=\"admin\";";
    for listener in ["sasl_plaintext", "sasl_ssl"] {
        for (mechanism, jaas) in [
            ("plain", plain.as_str()),
            ("scram-sha-256", scram),
            ("scram-sha-512", scram),
            ("oauthbearer", oauth),
        ] {
            set(
                format!("listener.name.{listener}.{mechanism}.sasl.jaas.config"),
                jaas.into(),
            );
        }
    }
    props
}

/// A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters),
/// the form `kafka-storage random-uuid` prints.
fn random_cluster_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    crate::kafka_interop::base64_encode_with(&bytes, crate::kafka_interop::URL_SAFE, false)
}

/// A fresh cluster directory under `$TMPDIR/kproducer-kafka/`, after removing the ones left
/// behind by test processes that no longer exist (their `Drop` never ran).
fn make_cluster_dir() -> anyhow::Result<PathBuf> {
    let root = std::env::temp_dir().join("kproducer-kafka");
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    if let Ok(entries) = fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .split('-')
                .nth(1)
                .and_then(|p| p.parse::<libc::pid_t>().ok());
            // SAFETY: kill(pid, 0) only checks that the process exists.
            if let Some(pid) = pid {
                let alive = unsafe { libc::kill(pid, 0) } == 0
                    || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
                if !alive {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("cluster-{}-", std::process::id()))
        .tempdir_in(&root)
        .context("creating the cluster directory")?;
    // Removed by KafkaCluster's Drop, after the JVMs are dead.
    Ok(dir.keep())
}

fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding a probe listener"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Waits for `child` until `deadline`; kills it and returns `None` on timeout.
pub(crate) fn wait_until(
    child: &mut Child,
    deadline: Instant,
) -> anyhow::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        // Polling a child process; bounded by the deadline.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_of(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn tail(path: &Path, max: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_the_pom() {
        assert_eq!(
            pom_version("<p><kafka.version> 4.1.0 </kafka.version></p>"),
            Some("4.1.0")
        );
        assert_eq!(pom_version("<p/>"), None);
        assert!(kafka_version().starts_with("4."));
    }

    #[test]
    fn cluster_ids_are_22_url_safe_chars_and_differ() {
        let a = random_cluster_id();
        let b = random_cluster_id();
        assert_eq!(a.len(), 22);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    #[test]
    fn three_node_properties_replicate_and_require_two_in_sync() {
        let node = Node {
            id: 2,
            port: 9092,
            controller_port: 9093,
            secured: Vec::new(),
            dir: PathBuf::from("/tmp/x/node-2"),
            child: Mutex::new(None),
        };
        let voters = "1@127.0.0.1:1,2@127.0.0.1:9093,3@127.0.0.1:3";
        let options = KafkaOptions {
            properties: vec![("auto.create.topics.enable".into(), "true".into())],
            ..KafkaOptions::default()
        };
        let p = server_properties(&node, 3, voters, &options, None);
        for line in [
            "node.id=2",
            "min.insync.replicas=2",
            "offsets.topic.replication.factor=3",
            "default.replication.factor=3",
            "group.initial.rebalance.delay.ms=0",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "transaction.state.log.num.partitions=3",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
            "advertised.listeners=PLAINTEXT://127.0.0.1:9092",
            "controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:9093,3@127.0.0.1:3",
        ] {
            assert!(p.lines().any(|l| l == line), "{line} missing in\n{p}");
        }
        // The override replaced the default instead of adding a second line.
        assert_eq!(p.matches("auto.create.topics.enable").count(), 1);
        assert!(p.contains("auto.create.topics.enable=true"));

        assert!(
            !p.contains("SASL"),
            "no secured listener unless asked:\n{p}"
        );
        assert!(!p.contains("reauth"));

        let single =
            server_properties(&node, 1, "2@127.0.0.1:9093", &KafkaOptions::default(), None);
        assert!(single.lines().any(|l| l == "min.insync.replicas=1"));
        assert!(single
            .lines()
            .any(|l| l == "offsets.topic.replication.factor=1"));
        for line in [
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
        ] {
            assert!(single.lines().any(|l| l == line), "{line} missing");
        }
    }

    #[test]
    fn transaction_version_becomes_a_format_feature() {
        assert!(format_features(&KafkaOptions::default()).is_empty());
        let options = KafkaOptions {
            transaction_version: Some(1),
            ..KafkaOptions::default()
        };
        assert_eq!(format_features(&options), vec![("transaction.version", 1)]);
    }

    #[test]
    fn secured_properties_name_every_listener_and_its_settings() {
        let ports = [9201, 9202, 9203, 9204, 9205, 9206];
        let node = Node {
            id: 1,
            port: 9092,
            controller_port: 9093,
            secured: SECURED_LISTENERS.iter().copied().zip(ports).collect(),
            dir: PathBuf::from("/tmp/x/node-1"),
            child: Mutex::new(None),
        };
        let dir = tempfile::tempdir().unwrap();
        let tls = crate::tls::generate(dir.path()).unwrap();
        let options = KafkaOptions {
            security: true,
            reauth_ms: Some(2500),
            ..KafkaOptions::default()
        };
        let p = server_properties(&node, 1, "1@127.0.0.1:9093", &options, Some(&tls));
        let value = |k: &str| {
            p.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .unwrap_or_else(|| panic!("{k} missing in\n{p}"))
                .to_owned()
        };
        assert_eq!(
            value("listeners"),
            "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SSL://127.0.0.1:9201,\
             MTLS://127.0.0.1:9202,EXPIRED://127.0.0.1:9203,WRONGHOST://127.0.0.1:9204,\
             SASL_PLAINTEXT://127.0.0.1:9205,SASL_SSL://127.0.0.1:9206"
        );
        assert!(!value("advertised.listeners").contains("CONTROLLER"));
        assert_eq!(
            value("listener.security.protocol.map"),
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,MTLS:SSL,EXPIRED:SSL,\
             WRONGHOST:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
        );
        assert_eq!(value("inter.broker.listener.name"), "PLAINTEXT");
        assert_eq!(value("connections.max.reauth.ms"), "2500");
        assert_eq!(value("listener.name.mtls.ssl.client.auth"), "required");
        assert_eq!(
            value("listener.name.expired.ssl.keystore.location"),
            tls.expired_pem.display().to_string()
        );
        assert!(value("listener.name.sasl_ssl.plain.sasl.jaas.config")
            .contains("user_alice=\"alice-secret\""));
        assert_eq!(
            value("sasl.enabled.mechanisms"),
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
        );
    }
}
