#!/usr/bin/env bash
# Idempotent, cached set-up for kproducer's demo and tests on a fresh Debian 12 machine
# that has only the Rust toolchain, gcc and python3.
#
# - system packages the dev-dependency `rdkafka` needs to build librdkafka (C; tests only);
# - the Tansu broker 0.6 (Rust, Apache-2.0), built once into cargo's bin dir.
#
# Safe to run again: every step is skipped when already done.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

# 1. System packages for building librdkafka (rdkafka crate, default features).
need_pkgs=()
for p in g++ make python3 zlib1g-dev pkg-config; do
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

# 2. Tansu 0.6 (memory:// storage needs the dynostore feature).
if tansu --version 2>/dev/null | grep -q ' 0\.6\.'; then
  log "tansu already installed: $(tansu --version)"
else
  log "building tansu 0.6.0 into $CARGO_BIN (once per machine; about 9 minutes on 2 cores)"
  start=$(date +%s)
  cargo install tansu --version 0.6.0 --locked --features dynostore --quiet
  log "tansu installed in $(( $(date +%s) - start )) s: $(tansu --version)"
fi
