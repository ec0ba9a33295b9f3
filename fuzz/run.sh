#!/usr/bin/env bash
# Runs every fuzz target: first its committed regression inputs (regressions/<target>/), then
# fresh fuzzing for FUZZ_SECONDS (default 20) each, or for FUZZ_RUNS executions each when set
# (the long campaign: FUZZ_RUNS=10000000). The corpus (corpus/<target>/, committed, minimized
# with `cargo fuzz cmin`) is where each run starts and what it grows. Exits non-zero if any target crashes,
# panics, times out or runs out of memory (-rss_limit_mb=2048, as a hostile broker's answer
# must not make us allocate gigabytes). New findings land in artifacts/<target>/.
#
# cargo fuzz needs unstable -Z flags (sanitizer, coverage): RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them, so no nightly is required.
set -uo pipefail
cd "$(dirname "$0")"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1
secs="${FUZZ_SECONDS:-20}"
runs="${FUZZ_RUNS:-}"
log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "cargo-fuzz is missing: run scripts/setup.sh"
  exit 1
fi
targets=$(cargo fuzz list) || exit 1
log "building $(echo $targets)"
cargo fuzz build -O || exit 1

failed=()
for t in $targets; do
  mkdir -p "corpus/$t"
  # libFuzzer flags: bounded memory and per-input time.
  flags=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10)
  regressions=(regressions/"$t"/*)
  if [ -e "${regressions[0]}" ]; then
    log "$t: ${#regressions[@]} regression input(s)"
    if ! cargo fuzz run -O "$t" "${regressions[@]}" -- "${flags[@]}" >"/tmp/fuzz-$t-regressions.log" 2>&1; then
      log "$t: a regression input fails:"
      grep -E 'ERROR|panicked|SUMMARY|Running:' "/tmp/fuzz-$t-regressions.log" | head -20 >&2
      failed+=("$t(regressions)")
      continue
    fi
  fi
  if [ -n "$runs" ]; then
    budget=(-runs="$runs")
    log "$t: fuzzing ${runs} executions"
  else
    budget=(-max_total_time="$secs")
    log "$t: fuzzing ${secs} s"
  fi
  start=$(date +%s)
  if cargo fuzz run -O "$t" "corpus/$t" -- "${flags[@]}" "${budget[@]}" >"/tmp/fuzz-$t.log" 2>&1; then
    log "$t: ok in $(($(date +%s) - start)) s ($(grep -E '^Done [0-9]+ runs' "/tmp/fuzz-$t.log" | tail -1))"
    log "$t: ok ($(grep -E '^Done [0-9]+ runs' "/tmp/fuzz-$t.log" | tail -1))"
  else
    log "$t: FAILED; input saved under fuzz/artifacts/$t/:"
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "/tmp/fuzz-$t.log" | head -20 >&2
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all fuzz targets ok"
