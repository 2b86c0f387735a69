#!/usr/bin/env bash
# Records a flamegraph of corepool (or any target of compare-proxies) serving pgbench -S and
# prints the top functions by self time. Every thread of the target is recorded; corepool's
# shard threads (corepool-shard-N) are merged into one tree unless --per-thread is given.
#
#   scripts/flamegraph.sh                       # --duration 20 --clients 16 --mode simple --out perf/flamegraph.svg
#   scripts/flamegraph.sh --target pgbouncer-1.25-transaction --mode prepared --duration 5 --out /tmp/pgb.svg
#   scripts/flamegraph.sh --target pump-epoll --duration 5 --out /tmp/pump.svg
#   scripts/flamegraph.sh --target corepool --corepool-conf pool_mode=transaction --out /tmp/tx.svg
#
# Targets: corepool, pump-epoll, pump-uring, pgbouncer-1.25-transaction, pgbouncer-1.25-session,
# pgbouncer-1.18-transaction, pgbouncer-1.18-session (or pgbouncer), pgdog, pgpool (its whole
# process tree), direct (PostgreSQL's postmaster and backends). The peers' binaries are stripped,
# so their own frames show as [pgbouncer-1.25] / [pgdog]; the kernel's are named.
#
# Needs Linux perf (Debian: linux-perf) and permission to use it; exits with status 2 when perf
# is missing or not permitted (e.g. in a container without CAP_PERFMON).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if ! [ -x /usr/bin/perf ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "flamegraph: installing linux-perf"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
  else
    echo "flamegraph: /usr/bin/perf missing (apt-get install linux-perf)" >&2
    exit 2
  fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "$#" -eq 0 ]; then
  set -- --duration 20 --clients 16 --mode simple --out perf/flamegraph.svg
fi
exec cargo run --release -p corepool-perf -- "$@"
