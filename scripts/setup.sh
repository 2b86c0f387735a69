#!/usr/bin/env bash
# Installs what corepool's demo, tests and benchmarks need on a fresh Debian machine. Idempotent:
# packages already present are not reinstalled, and nothing is fetched when all are there.
set -euo pipefail

# Debian packages: PostgreSQL 15 server and tools (initdb, pg_basebackup, pgbench, pg_verifybackup,
# pg_amcheck), postgres_fdw (contrib), the peers we compare against (PgBouncer, Pgpool-II with its
# pcp_* tools and the pgpool_adm extension), and the clients the integration tests drive.
packages=(
  postgresql-15 postgresql-client-15 postgresql-contrib
  pgbouncer pgpool2 postgresql-15-pgpool2
  python3-psycopg2 libpostgresql-jdbc-java default-jdk-headless
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} (run as root, or install them yourself)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's postgresql package would start a cluster on 5432; corepool's tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# Rust components used by the test command.
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
fi
