#!/usr/bin/env bash
# The demo: an in-process 3-broker Kafka cluster, 100,000 records sent through kproducer, read
# back from the cluster's log, a one-screen summary. Needs nothing but cargo.
# Pass `--bootstrap-server HOST:PORT` to produce to a real broker instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
exec cargo run --quiet --release -p kproducer-cli --bin kproducer-demo -- "$@"
