#!/usr/bin/env bash
# The project's test command: idempotent set-up, then every test of the workspace
# (unit, integration and doc tests). Exits non-zero if anything fails; the last line printed
# is the overall summary.
set -uo pipefail

cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUST_BACKTRACE=1

log() { printf '[test] %s\n' "$*" >&2; }

if ! bash scripts/setup.sh; then
  log "scripts/setup.sh failed"
  exit 1
fi

out="$(mktemp -t kproducer-test.XXXXXX)"
trap 'rm -f "$out"' EXIT
start=$(date +%s)

# The Apache Kafka tier is mandatory here (a plain `cargo test` skips it when the jars are missing).
export KPRODUCER_REQUIRE_BROKERS=1

log "cargo test --workspace --all-targets"
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee -a "$out"
targets=${PIPESTATUS[0]}

# The simulation, many seeds: release build (debug runs only two small seeds above).
sim_seeds="${KPRODUCER_SIM_SEEDS:-64}"
log "simulation: $sim_seeds seeds x 100000 records (release)"
KPRODUCER_SIM_SEEDS="$sim_seeds" cargo test -p kproducer --release --test simulation --no-fail-fast 2>&1 | tee -a "$out"
sim=${PIPESTATUS[0]}

log "cargo test --workspace --doc"
cargo test --workspace --doc --no-fail-fast 2>&1 | tee -a "$out"
docs=${PIPESTATUS[0]}

# Feature `serde` (JsonSerializer): the tests and doctests that need it (their names say json).
log "cargo test -p kproducer --features serde (json tests)"
cargo test -p kproducer --features serde --lib --test api --no-fail-fast -- json 2>&1 | tee -a "$out"
serde_tests=${PIPESTATUS[0]}
cargo test -p kproducer --features serde --doc --no-fail-fast -- Json 2>&1 | tee -a "$out"
serde_docs=${PIPESTATUS[0]}
[ "$serde_tests" -ne 0 ] && targets=$serde_tests
[ "$serde_docs" -ne 0 ] && docs=$serde_docs

# Feature `metrics-export` (the `metrics` facade): its tests and doctests.
log "cargo test -p kproducer --features metrics-export (export tests)"
cargo test -p kproducer --features metrics-export --lib --test metrics_export --no-fail-fast -- export 2>&1 | tee -a "$out"
export_tests=${PIPESTATUS[0]}
cargo test -p kproducer --features metrics-export --doc --no-fail-fast -- export EXPORT metrics/mod.rs 2>&1 | tee -a "$out"
export_docs=${PIPESTATUS[0]}
[ "$export_tests" -ne 0 ] && targets=$export_tests
[ "$export_docs" -ne 0 ] && docs=$export_docs

# MSRV: the library must build with the workspace's rust-version (clippy's incompatible_msrv
# lint catches newer std APIs; this catches newer language features too). The toolchain is
# installed once (minimal profile) and reused.
msrv="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)"
log "MSRV: cargo +$msrv check -p kproducer --features serde"
# A toolchain that cannot be downloaded (no route to rustup's server) skips the check with a
# note, as clippy's lint still covers std APIs; a build that fails with it fails the run.
msrv_ok=1
msrv_word="MSRV $msrv ok"
if ! rustup run "$msrv" rustc --version >/dev/null 2>&1 \
  && ! rustup toolchain install "$msrv" --profile minimal >&2; then
  msrv_word="MSRV $msrv skipped (toolchain not installable here)"
  log "$msrv_word"
else
  cargo "+$msrv" check -p kproducer --features serde 2>&1 | tee -a "$out"
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    msrv_ok=0
    msrv_word="MSRV $msrv FAILED"
  fi
fi

# Every example of the library runs to completion against its own in-process broker and must
# exit 0 (compression_bench is a benchmark: built by --all-targets above, not run).
examples_failed=()
examples_run=0
for f in crates/kproducer/examples/*.rs; do
  ex="$(basename "$f" .rs)"
  [ "$ex" = compression_bench ] && continue
  log "cargo run -p kproducer --features serde --example $ex"
  examples_run=$((examples_run + 1))
  if ! env -u BOOTSTRAP_SERVERS timeout 300 cargo run -q -p kproducer --features serde --example "$ex" </dev/null; then
    examples_failed+=("$ex")
  fi
done
if [ "${#examples_failed[@]}" -gt 0 ]; then
  examples_word="examples FAILED (${examples_failed[*]})"
else
  examples_word="$examples_run examples ok"
fi

# One closing line over every test binary's "test result:" line.
read -r passed failed ignored < <(
  awk '/^test result:/ {
         for (i = 1; i <= NF; i++) {
           if ($(i+1) ~ /^passed/)  p += $i
           if ($(i+1) ~ /^failed/)  f += $i
           if ($(i+1) ~ /^ignored/) g += $i
         }
       } END { printf "%d %d %d\n", p, f, g }' "$out"
)
word() { [ "$1" -eq 0 ] && echo ok || echo FAILED; }
# .ci/run passes the names of steps that failed before the tests (fmt, clippy).
prior="${KPRODUCER_CI_FAILED:-}"
summary="${prior:+earlier CI steps FAILED: $prior; }all targets $(word "$targets"), doctests $(word "$docs"), $examples_word, $msrv_word: $passed passed; $failed failed; $ignored ignored; $(( $(date +%s) - start )) s"
# The last line is the plain "N passed, N failed" form that CI reads.
if [ "$sim" -ne 0 ]; then targets=$sim; fi
if [ "$targets" -ne 0 ] || [ "$docs" -ne 0 ] || [ "${#examples_failed[@]}" -gt 0 ] || [ "$msrv_ok" -ne 1 ] || [ -n "$prior" ]; then
  echo "test summary: FAILED — $summary"
  echo "tests: $passed passed, $(( failed > 0 ? failed : 1 )) failed, $ignored skipped"
  exit 1
fi
echo "test summary: ok — $summary"
echo "tests: $passed passed, $failed failed, $ignored skipped"
