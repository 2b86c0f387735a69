#!/usr/bin/env bash
# Runs the full proxy comparison: PostgreSQL direct, PgBouncer (session and transaction pooling),
# Pgpool-II and corepool under pgbench -S, 3 interleaved rounds of 10 s per workload and target,
# plus memory per idle client, and writes the tables as markdown.
#
#   scripts/bench-proxies.sh [OUT.md] [more compare-proxies flags, e.g. --only direct,corepool]
#
# OUT.md defaults to $CARGO_TARGET_DIR/bench-proxies.md. Takes about 25 minutes on 2 cores; the
# numbers are only as quiet as the machine, so run it with nothing else busy.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
out="$CARGO_TARGET_DIR/bench-proxies.md"
if [ "$#" -gt 0 ] && [[ "$1" != --* ]]; then
  out="$1"
  shift
fi

echo "== cargo build --release (compare-proxies, corepool)"
cargo build --release -p corepool-bench --bin compare-proxies
# A corepool that does not build is reported as "failed" in the tables; the peers still run.
cargo build --release -p corepool || echo "bench-proxies: corepool did not build; it will show as failed" >&2

echo "== compare-proxies --rounds 3 --duration 10 --markdown $out $*"
"$CARGO_TARGET_DIR/release/compare-proxies" --rounds 3 --duration 10 --no-build \
  --markdown "$out" "$@"
