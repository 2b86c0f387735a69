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

# The Debian package, built from the debug build above (no second compile): dpkg -i, the
# unit's service against a test cluster, reload, stop, dpkg --purge.
echo "== package: build, install, serve, purge"
scripts/test-package.sh

# The proxy's tests again on the other shard runtime (glommio; the default is io_uring).
echo "== cargo test: the proxy on glommio shards"
COREPOOL_RUNTIME=glommio cargo test --workspace --locked --no-fail-fast \
  --test clients --test ddl_proxy --test failover --test metrics --test pcp_tools \
  --test proxy_auth --test proxy_hostile --test proxy_session --test proxy_tls \
  --test reliability --test routing --test serve --test check_secrets --test pcp_client

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
