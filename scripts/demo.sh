#!/usr/bin/env bash
# The demo: starts a local Tansu broker, sends 100,000 records through kproducer, reads them back
# with librdkafka and prints a summary. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
bash scripts/setup.sh
exec cargo run --quiet --release -p kproducer-testkit --bin kproducer-demo -- "$@"
