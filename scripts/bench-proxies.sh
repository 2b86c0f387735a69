#!/usr/bin/env bash
# Runs the full proxy comparison (issue 12's shape): PostgreSQL direct, the byte-pump floor
# (epoll and io_uring), PgBouncer 1.25 and 1.18 (transaction and session pooling), PgDog,
# Pgpool-II and corepool under pgbench -S at 1, 16, 64 and 256 clients in simple, extended and
# prepared mode plus -C, 3 interleaved rounds of 10 s per workload and target, with latency
# percentiles, proxy CPU per transaction, and memory per idle client at 1,000 and 10,000; writes
# the report as markdown.
#
#   scripts/bench-proxies.sh [OUT.md] [more compare-proxies flags]
#   scripts/bench-proxies.sh docs/bench-proxies.md
#   scripts/bench-proxies.sh /tmp/tx.md --shape transaction-pooling --corepool-conf pool_mode=transaction
#
# OUT.md defaults to $CARGO_TARGET_DIR/bench-proxies.md. PgBouncer 1.25 and PgDog come from the
# peers directory (--peers-dir, default ../shared/peers beside the repository); absent ones are
# skipped with a line in the report. Takes about 90 minutes on 2 cores (the transaction-pooling
# shape about 30); the numbers are only as quiet as the machine, so run it with nothing else busy.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# PgBouncer 1.25 from the peers directory links libevent and c-ares (Debian's 1.18 pulls them in
# too, but say it): install them when missing, as root.
if ! ldconfig -p | grep -q 'libevent-2.1.so.7' || ! ldconfig -p | grep -q 'libcares.so.2'; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends libevent-2.1-7 libc-ares2 libssl3 >/dev/null
  else
    echo "bench-proxies: libevent-2.1-7 / libc-ares2 missing; PgBouncer 1.25 may not start" >&2
  fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
out="$CARGO_TARGET_DIR/bench-proxies.md"
if [ "$#" -gt 0 ] && [[ "$1" != --* ]]; then
  out="$1"
  shift
fi

echo "== cargo build --release (compare-proxies, pump, corepool)"
cargo build --release -p corepool-bench --bin compare-proxies --bin pump
# A corepool that does not build is reported as "skipped" in the tables; the peers still run.
cargo build --release -p corepool || echo "bench-proxies: corepool did not build; it will show as skipped" >&2

echo "== compare-proxies --rounds 3 --duration 10 --markdown $out $*"
"$CARGO_TARGET_DIR/release/compare-proxies" --rounds 3 --duration 10 --no-build \
  --markdown "$out" "$@"
