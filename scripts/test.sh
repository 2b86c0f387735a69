#!/usr/bin/env bash
# Runs corepool's whole test suite: formatting, clippy, unit, property and integration tests
# (the integration tests start real PostgreSQL primaries and standbys on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
