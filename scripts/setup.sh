#!/usr/bin/env bash
# Idempotent, cached set-up for kproducer's demo and tests on a fresh Debian 12 machine
# that has only the Rust toolchain, gcc and python3.
#
# - system packages the dev-dependency `rdkafka` needs to build librdkafka (C; tests only),
#   OpenSSL's headers included (librdkafka over TLS in the benchmark);
# - Apache Kafka 4.x and Java's kafka-clients (jars from Maven Central, needs java 17+ and mvn),
#   cached in ~/.cache/kproducer/kafka-<version>, plus the Java interop helper compiled there;
# - kafka-tools (Java's ProducerPerformance) there too, and the franz-go client (needs `go`),
#   for the side-by-side benchmark kproducer-bench.
#
# Safe to run again: every step is skipped when already done.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

# 1. System packages for building librdkafka (rdkafka crate; its `ssl` feature, enabled by
#    kproducer-bench for `--targets sink-tls`, links the system OpenSSL found with pkg-config).
need_pkgs=()
for p in g++ make python3 zlib1g-dev pkg-config libssl-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    log "installing system packages: ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    log "missing packages ${need_pkgs[*]} and no apt-get: install them by hand"
    exit 1
  fi
fi

# 3. Apache Kafka 4.x jars (broker + kafka-clients) and the Java interop helper, for the
#    kafka_* tests. The version is the one in crates/kproducer-testkit/kafka/pom.xml.
kafka_dir="$(cd "$(dirname "$0")/.." && pwd)/crates/kproducer-testkit/kafka"
kafka_ver="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$kafka_dir/pom.xml")"
kafka_home="${KPRODUCER_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kproducer/kafka-$kafka_ver}"
for tool in java javac mvn; do
  command -v "$tool" >/dev/null 2>&1 || { log "missing $tool: install a JDK 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)"; exit 1; }
done
if [ -f "$kafka_home/lib/.complete" ]; then
  log "Apache Kafka $kafka_ver jars already in $kafka_home/lib"
else
  log "fetching Apache Kafka $kafka_ver and kafka-clients from Maven Central into $kafka_home/lib"
  start=$(date +%s)
  rm -rf "$kafka_home/lib.partial"
  mkdir -p "$kafka_home"
  mvn_log="$kafka_home/mvn.log"
  if ! mvn -B -Dstyle.color=never -f "$kafka_dir/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$kafka_home/lib.partial" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2
    log "mvn failed (full log: $mvn_log); Maven Central must be reachable"
    exit 1
  fi
  rm -rf "$kafka_home/lib"
  mv "$kafka_home/lib.partial" "$kafka_home/lib"
  touch "$kafka_home/lib/.complete"
  log "Apache Kafka $kafka_ver fetched in $(( $(date +%s) - start )) s ($(ls "$kafka_home/lib" | wc -l) jars)"
fi
# Recompiled whenever Interop.java changes (the copy next to the classes is the stamp).
if cmp -s "$kafka_dir/Interop.java" "$kafka_home/interop/Interop.java"; then
  log "Java interop helper up to date in $kafka_home/interop"
else
  log "compiling the Java interop helper into $kafka_home/interop"
  start=$(date +%s)
  rm -rf "$kafka_home/interop.partial"
  mkdir -p "$kafka_home/interop.partial"
  javac -nowarn -d "$kafka_home/interop.partial" -cp "$kafka_home/lib/*" "$kafka_dir/Interop.java"
  cp "$kafka_dir/Interop.java" "$kafka_home/interop.partial/Interop.java"
  rm -rf "$kafka_home/interop"
  mv "$kafka_home/interop.partial" "$kafka_home/interop"
  log "Java interop helper compiled in $(( $(date +%s) - start )) s"
fi

# 3b. Apache Kafka's tools (ProducerPerformance), for kproducer-bench's Java client, into
#     $kafka_home/tools (the same version; re-fetched whenever the bench's pom changes).
tools_pom="$(cd "$(dirname "$0")/.." && pwd)/crates/kproducer-bench/java/pom.xml"
if [ -f "$kafka_home/tools/.complete" ] && cmp -s "$tools_pom" "$kafka_home/tools/.complete"; then
  log "Apache Kafka $kafka_ver tools already in $kafka_home/tools"
else
  log "fetching kafka-tools $kafka_ver from Maven Central into $kafka_home/tools"
  start=$(date +%s)
  rm -rf "$kafka_home/tools.partial"
  mvn_log="$kafka_home/mvn-tools.log"
  if ! mvn -B -Dstyle.color=never -f "$tools_pom" -Dkafka.version="$kafka_ver" dependency:copy-dependencies \
      -DoutputDirectory="$kafka_home/tools.partial" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2
    log "mvn failed (full log: $mvn_log); Maven Central must be reachable"
    exit 1
  fi
  cp "$tools_pom" "$kafka_home/tools.partial/.complete"
  rm -rf "$kafka_home/tools"
  mv "$kafka_home/tools.partial" "$kafka_home/tools"
  log "kafka-tools fetched in $(( $(date +%s) - start )) s ($(ls "$kafka_home/tools" | wc -l) jars)"
fi

# 3c. The franz-go client of kproducer-bench (crates/kproducer-bench/franz), built with the Go
#     toolchain into ~/.cache/kproducer/franz-bench; rebuilt whenever its sources change. Only
#     the benchmark needs it, so a missing `go` is reported, not fatal.
franz_src="$(cd "$(dirname "$0")/.." && pwd)/crates/kproducer-bench/franz"
franz_dir="${KPRODUCER_FRANZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kproducer/franz-bench}"
franz_stamp="$(cat "$franz_src/main.go" "$franz_src/go.mod" "$franz_src/go.sum" | sha256sum | cut -d' ' -f1)"
if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain (go on PATH): the benchmark's franz-go client is not built;"
  log "  install Go 1.22+ (https://go.dev/dl) and run this script again, or use kproducer-bench --clients without franz-go"
elif [ -x "$franz_dir/franz-bench" ] && [ "$(cat "$franz_dir/stamp" 2>/dev/null)" = "$franz_stamp" ]; then
  log "franz-go bench client up to date in $franz_dir"
else
  log "building the franz-go bench client into $franz_dir (modules from the Go module proxy)"
  start=$(date +%s)
  mkdir -p "$franz_dir"
  (cd "$franz_src" && go build -trimpath -o "$franz_dir/franz-bench.partial" .)
  mv "$franz_dir/franz-bench.partial" "$franz_dir/franz-bench"
  echo "$franz_stamp" >"$franz_dir/stamp"
  log "franz-go bench client built in $(( $(date +%s) - start )) s"
fi

# 4. cargo-fuzz, for fuzz/run.sh (CI runs each fuzz target briefly). Built from crates.io once;
#    it runs on the stable toolchain with RUSTC_BOOTSTRAP=1, so no nightly is needed.
if cargo fuzz --version >/dev/null 2>&1; then
  log "cargo-fuzz already installed: $(cargo fuzz --version)"
else
  log "building cargo-fuzz into $CARGO_BIN (once per machine; about 4 minutes on 2 cores)"
  start=$(date +%s)
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
  log "cargo-fuzz installed in $(( $(date +%s) - start )) s"
fi
