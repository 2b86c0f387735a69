#!/usr/bin/env bash
# Starts a local PostgreSQL primary and a streaming standby in temp dirs, with corepool in front,
# and prints the psql line to connect. Ctrl-C stops everything and removes the temp dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p corepool
exec target/release/corepool demo "$@"
