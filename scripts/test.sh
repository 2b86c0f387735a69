#!/usr/bin/env bash
# Runs corepool's whole test suite: formatting, clippy, unit, property and integration tests
# (the integration tests start real PostgreSQL primaries and standbys on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== import layers"
python3 scripts/check_layers.py

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast

# The base backup again against PostgreSQL 16 (installed by setup.sh on x86_64): the same
# tests, with every server, pg_verifybackup and pg_basebackup from that installation.
PG16_BIN=/opt/corepool-pg16/pgserver/pginstall/bin
if [ -x "$PG16_BIN/postgres" ]; then
  echo "== cargo test: base backup against PostgreSQL 16"
  # Named targets of the whole workspace: the same build as above, nothing recompiled.
  # (basebackup_tls is left out: that build of PostgreSQL has no SSL.)
  COREPOOL_PG_BINDIR="$PG16_BIN" cargo test --workspace --locked --no-fail-fast \
    --test basebackup_j1 --test basebackup_parallel --test basebackup_tar \
    --test basebackup_races --test basebackup_failures --test pg_verifybackup \
    --test basebackup_cli
elif [ "$(uname -m)" = x86_64 ]; then
  echo "PostgreSQL 16 binaries missing from $PG16_BIN (scripts/setup.sh installs them)" >&2
  exit 1
fi
