#!/usr/bin/env bash
# Records a flamegraph of corepool serving pgbench -S and prints the top functions by self time.
#
#   scripts/flamegraph.sh                       # --duration 20 --clients 16 --mode simple --out perf/flamegraph.svg
#   scripts/flamegraph.sh --target pgbouncer --duration 5 --out /tmp/pgbouncer.svg
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
