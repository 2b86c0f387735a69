#!/usr/bin/env bash
# Installs what corepool's demo, tests and benchmarks need on a fresh Debian machine. Idempotent:
# packages already present are not reinstalled, and nothing is fetched when all are there.
set -euo pipefail

# Debian packages: PostgreSQL 15 server and tools (initdb, pg_basebackup, pgbench, pg_verifybackup,
# pg_amcheck), postgres_fdw (contrib), the peers we compare against (PgBouncer, Pgpool-II with its
# pcp_* tools, pg_md5, pg_enc and the pgpool_adm extension), the clients the integration tests
# drive, headless Chromium for the status page test, OpenSSL's CLI (it decrypts `corepool enc`'s
# output in a test) and binutils' strip for the Debian package.
packages=(
  postgresql-15 postgresql-client-15 postgresql-contrib
  pgbouncer pgpool2 postgresql-15-pgpool2
  python3-psycopg2 libpostgresql-jdbc-java default-jdk-headless
  python3-pip unzip
  chromium openssl binutils
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

# cargo-deb builds the Debian package (scripts/package.sh); a fixed version, built once.
if ! cargo deb --version >/dev/null 2>&1; then
  echo "setup: installing cargo-deb"
  env -u CARGO_TARGET_DIR cargo install --locked --quiet cargo-deb --version 3.8.0
fi

# A second PostgreSQL major for the base-backup tests (Debian 12 ships only 15): the relocatable
# 16.2 binaries of the pgserver wheel on PyPI (no contrib, so no pg_amcheck there). x86_64 only.
PG16_DIR=/opt/corepool-pg16
if [ "$(uname -m)" = x86_64 ] && [ ! -x "$PG16_DIR/pgserver/pginstall/bin/postgres" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: PostgreSQL 16 binaries missing from $PG16_DIR (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing PostgreSQL 16 binaries into $PG16_DIR"
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 -d "$wheels" pgserver==0.1.4
  mkdir -p "$PG16_DIR"
  unzip -qo "$wheels"/pgserver-0.1.4-*.whl -d "$PG16_DIR"
  rm -rf "$wheels"
  # The servers run as an unprivileged user: everything readable, the programs executable.
  chmod -R a+rX "$PG16_DIR"
fi
